#!/bin/bash
# tools/guest/labguest.sh - a small Linux guest under QEMU (TCG) whose RAM
# is a file in /dev/shm, for VM-introspection and migration tests.
#
#   labguest.sh build
#	Build (cached under build/cache, rebuilt when this script or busybox
#	changes) the busybox initramfs; prints two lines: the kernel
#	directory (tools/guest/kernel.sh: vmlinuz, vmlinux, config,
#	System.map) and the initrd path.
#   labguest.sh start DIR [--vmlinux|--bzimage] [--kaslr|--nokaslr]
#			  [--mem MB] [--smp N] [--incoming]
#			  [--guard-of TARGETDIR [--window-off]]
#	Boot a guest whose state lives in DIR (one guest per DIR; several
#	DIRs may run at once) and wait for it to be up; prints "boot: S s".
#	--vmlinux (default) boots the ELF through its PVH entry (~2 s, no
#	physical/virtual KASLR: the decompressor does that; the memory-region
#	randomisation still happens); --bzimage boots vmlinuz (~5 s, full
#	KASLR).  --nokaslr appends nokaslr.  --mem (default 128) MiB of RAM,
#	--smp (default 1) CPUs.  --incoming starts a migration destination
#	(-S -incoming defer, paused, no wait): give it the same options as
#	the source.
#	--guard-of TARGETDIR makes a guard VM for the lab guest in
#	TARGETDIR: its initramfs also holds /bin/vouch-guard (static:
#	$VOUCH_GUARD_BIN, default build/static/vouch-guard) and a guard
#	policy for the target (memory "ivshmem:", period_ms
#	$LABGUEST_GUARD_PERIOD_MS (1000), repair off, state
#	/var/lib/vouch/guard.json); a pcie-root-port "rp-win" (ACPI
#	hotplug: device_del completes in ~0.07 s, native PCIe hotplug
#	waits ~6 s) holds the window, an ivshmem-plain "win" on the
#	target's RAM file, attached at boot unless --window-off (a guard
#	migration destination: the window is plugged in after).  Init
#	runs vouch-guard (findings and events also on the console as
#	"VOUCH-FINDING {json}" / "VOUCH-GUARD EVENT"); without a window
#	it starts detached.
#   labguest.sh window-detach GUARDDIR
#	guard-detach on the channel (if the guard runs), then device_del
#	of the window, wait for DEVICE_DELETED, object-del its memory.
#	Prints "detach: S s".
#   labguest.sh window-attach GUARDDIR TARGET_RAM_PATH
#	object-add a memory-backend-file on TARGET_RAM_PATH (share=on) and
#	device_add an ivshmem-plain on it into the guard (running or
#	paused); if the guard runs, guard-attach and print its answer.
#	Prints "attach: S s".
#   labguest.sh cmd DIR COMMAND...
#	Run COMMAND in the guest over its command channel; prints its output,
#	exits with its exit code (124: no answer within LABGUEST_CMD_TIMEOUT,
#	default 30 s).  Commands: ps (ps -o pid,comm), echo WORDS, uname
#	(uname -a), cat PATH..., spin SECONDS (busy C loop, /bin/spin; prints
#	"iterations=N centiseconds=C", C from the guest's monotonic clock),
#	sh SHELL-COMMAND (the rest of the line, run by the guest's sh -c).
#	Guard VMs: guard-status (the status file of vouch-guard: seq,
#	event, state, "guard ... check_ms", "finding {json}", "ps PID
#	COMM"), guard-detach (SIGUSR1), guard-attach (SIGUSR2): each waits
#	(bounded) for vouch-guard's answer, prints it ("DETACHED",
#	"ATTACHED OK ...", "ATTACHED FAIL reason"), exit 1 on FAIL.
#	Commands run in a subshell of the guest's init: a failure or a
#	crash leaves the channel and the ticker running.
#   labguest.sh guard GUARDDIR attach|detach|status
#	The same through vouch-guard's own control port (guard.sock, the guard
#	VM's ttyS2): no shell, no polling; prints the answer ("ATTACHED OK
#	...", "DETACHED", "state ATTACHED seq N"), exit 1 on FAIL or ERROR.
#   labguest.sh qmp DIR JSON
#	QMP handshake and one command (a JSON object or just its name);
#	prints the "return" JSON, or the error on stderr and exits 1.
#   labguest.sh stop DIR
#	QMP quit (kill if that fails), wait, remove the RAM file.  Idempotent.
#
# DIR after start:
#	qemu.pid	QEMU's pid (daemonized)
#	qmp.sock	QMP (unix socket server, one client at a time)
#	qmp-mon.sock	a second QMP socket (e.g. an invariant monitor
#			polling query-status while a driver holds qmp.sock)
#	ctl.sock	the command channel: the guest's ttyS1 (raw)
#	console.log	the guest's console, ttyS0: kernel messages,
#			"VOUCH-GUEST-READY", "VOUCH-TICK N" once a second (N
#			counts from 1 in a guest shell variable: it goes on
#			across a migration)
#	ram.path	the guest RAM file, /dev/shm/vouch-guest-*
#			(memory-backend-file, share=on: mmap it read-only)
#	kernel.dir	the kernel directory (vmlinuz carries the BTF)
#	cmdline		the kernel command line; boot.mode vmlinux|bzimage
#	mem.mb		the guest's RAM in MiB (a migration destination needs the same)
#	qemu.err	QEMU's stderr
#	guard.of	(guard VMs) the target's DIR; window.path the RAM
#			file the window shows now, window.id its object;
#			guard.sock vouch-guard's control port (ttyS2)
#
# The command channel protocol (tools/guest/guestctl.py): one line in; the
# guest answers "VOUCH-BEGIN LINE", the output, "VOUCH-END LINE RC".
# Environment: LABGUEST_BOOT_TIMEOUT (120 s), LABGUEST_CMD_TIMEOUT (30 s),
# LABGUEST_CPU (max), LABGUEST_APPEND (more kernel arguments), VOUCH_CACHE
# (build/cache), VOUCH_GUARD_BIN, LABGUEST_GUARD_PERIOD_MS (1000),
# LABGUEST_GUARD_TIMEOUT (90 s: guard-attach rebuilds a profile in TCG).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VOUCH_CACHE:-$ROOT/build/cache}
case "$CACHE" in /*) ;; *) CACHE="$PWD/$CACHE" ;; esac
GUESTCTL="$ROOT/tools/guest/guestctl.py"
BUSYBOX=/bin/busybox
BOOT_TIMEOUT=${LABGUEST_BOOT_TIMEOUT:-120}
CMD_TIMEOUT=${LABGUEST_CMD_TIMEOUT:-30}
CPU=${LABGUEST_CPU:-max}
GUARD_TIMEOUT=${LABGUEST_GUARD_TIMEOUT:-90}

die() { echo "labguest.sh: $*" >&2; exit 1; }
# Interrupted: exit so the EXIT trap (a failed start's cleanup) runs.
trap 'exit 130' INT TERM
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

# abs DIR: DIR as an absolute path (DIR need not exist)
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

# --- initramfs ------------------------------------------------------------
# build: sets KDIR and INITRD
build() {
	local stamp r tmp
	[ -f "$BUSYBOX" ] || die "$BUSYBOX missing (busybox-static)"
	command -v cpio >/dev/null || die "cpio missing"
	KDIR=$("$ROOT/tools/guest/kernel.sh" "$CACHE") || die "kernel fetch failed"
	[ -f "$KDIR/vmlinux" ] || die "$KDIR has no vmlinux"
	INITRD="$CACHE/labguest-initrd.cpio.gz"
	# Rebuilt when this script or busybox changes (the /init text lives here).
	stamp=$(cat "$0" "$BUSYBOX" "$ROOT/tools/guest/spin.c" | sha256sum | cut -c1-16)
	if [ -f "$INITRD" ] && [ "$(cat "$INITRD.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	mkdir -p "$CACHE"
	tmp=$(mktemp -d "$CACHE/.labguest.XXXXXX")
	r="$tmp/rootfs"
	mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev"
	cp "$BUSYBOX" "$r/bin/busybox"
	# The CPU loop for slowdown measurements: static C, stable under TCG
	# (a shell loop's rate wanders by tens of percent between runs).
	${CC:-cc} -static -O2 -o "$r/bin/spin" "$ROOT/tools/guest/spin.c" ||
	    die "cannot build a static tools/guest/spin.c (libc6-dev)"
	# One real loadable module (Debian's dummy.ko, no dependencies), so
	# the module cross-view has a module to compare.
	mkdir -p "$r/lib/modules"
	ko=$(find "$KDIR/pkg/lib/modules" -path '*/drivers/net/dummy.ko' 2>/dev/null | head -n1)
	[ -n "$ko" ] || die "$KDIR/pkg has no drivers/net/dummy.ko"
	cp "$ko" "$r/lib/modules/dummy.ko"
	cat >"$r/init" <<'EOF'
#!/bin/busybox sh
# The lab guest's init (tools/guest/labguest.sh).  PID 1 ends up serving
# the command channel; it must never exit (a kernel panic).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /tmp /var/log /var/spool/cron/crontabs /www
hostname vouch-guest
ip link set lo up
echo vouch >/www/index.html
insmod /lib/modules/dummy.ko numdummies=1 2>/dev/null

# Long-running daemons with distinct comm names, for the introspection.
syslogd -n </dev/null &
crond -f -c /var/spool/cron/crontabs </dev/null &
httpd -f -p 8080 -h /www </dev/null &
sleep 1000000 </dev/null &

# The ticker: its counter lives in this subshell's variable, so after a
# migration it continues where it was.
(
	n=0
	while :; do
		n=$((n + 1))
		echo "VOUCH-TICK $n"
		sleep 1
	done
) </dev/null >/dev/ttyS0 2>&1 &

# A guard VM (labguest.sh start --guard-of): run vouch-guard on the
# ivshmem window; detached if no window is plugged in yet.
gstat=/run/vouch-guard.status
if [ -x /bin/vouch-guard ] && [ -f /etc/vouch/guards.cfg ]; then
	mkdir -p /run /var/lib/vouch
	gdet=--detached
	for f in /sys/bus/pci/devices/*/device; do
		[ "$(cat "$f" 2>/dev/null)" = 0x1110 ] && gdet=
	done
	/bin/vouch-guard --policy /etc/vouch/guards.cfg --memory ivshmem: \
	    --status $gstat --console /dev/ttyS0 --control /dev/ttyS2 \
	    --json-log /var/log/vouch-findings.jsonl $gdet \
	    </dev/null >/dev/ttyS0 2>&1 &
	echo $! >/run/vouch-guard.pid
fi

# centi: /proc/uptime in centiseconds, no fork ("1" prefix: no octal)
centi() {
	read u _ </proc/uptime
	c=$((${u%.*} * 100 + 1${u#*.} - 100))
}
spin() {
	case ${1:-} in ''|*[!0-9]*) echo "usage: spin SECONDS" >&2; return 2 ;; esac
	centi; t0=$c; end=$((t0 + $1 * 100)); i=0
	while [ $c -lt $end ]; do
		j=0
		while [ $j -lt 100 ]; do j=$((j + 1)); done
		i=$((i + 100))
		centi
	done
	echo "iterations=$i centiseconds=$((c - t0))"
}
# guard_ctl SIGNAL: signal vouch-guard, wait for its next event (the
# status file's seq moves), print it; 1 on "FAIL", 124 on no answer.
guard_ctl() {
	gpid=$(cat /run/vouch-guard.pid 2>/dev/null) ||
	    { echo "not a guard VM" >&2; return 3; }
	old=$(sed -n 's/^seq //p' $gstat 2>/dev/null)
	kill -"$1" "$gpid" || { echo "vouch-guard is not running" >&2; return 3; }
	centi; end=$((c + ${2:-9000}))
	while [ $c -lt $end ]; do
		new=$(sed -n 's/^seq //p' $gstat 2>/dev/null)
		if [ -n "$new" ] && [ "$new" != "$old" ]; then
			ev=$(sed -n 's/^event //p' $gstat)
			echo "$ev"
			case $ev in *FAIL*) return 1 ;; esac
			return 0
		fi
		sleep 0.1
		centi
	done
	echo "no answer from vouch-guard" >&2
	return 124
}
run() {
	cmd=${1:-}; shift
	case $cmd in
	ps) ps -o pid,comm ;;
	echo) echo "$@" ;;
	uname) uname -a ;;
	cat) [ $# -gt 0 ] || { echo "usage: cat PATH" >&2; return 2; }; cat "$@" ;;
	spin) if [ -x /bin/spin ]; then /bin/spin "$@"; else spin "$@"; fi ;;
	guard-status)
		[ -f $gstat ] || { echo "no guard status" >&2; return 3; }
		cat $gstat ;;
	guard-detach) guard_ctl USR1 ;;
	guard-attach) guard_ctl USR2 ;;
	*) echo "unknown command: $cmd" >&2; return 127 ;;
	esac
}

ctl=/dev/ttyS1
stty -F $ctl raw -echo
exec 3<>$ctl
cr=$(printf '\r')
echo VOUCH-GUEST-READY
set -f
while :; do
	line=
	IFS= read -r line <&3 || { sleep 1; continue; }
	line=${line%"$cr"}
	[ -n "$line" ] || continue
	echo "VOUCH-BEGIN $line" >&3
	# A subshell: whatever the command does, this loop goes on.  "sh"
	# gets the rest of the line as it came (quotes, spacing).
	case $line in
	"sh "*) ( sh -c "${line#sh }" ) </dev/null >&3 2>&1 ;;
	*) ( run $line ) </dev/null >&3 2>&1 ;;
	esac
	echo "VOUCH-END $line $?" >&3
done
EOF
	chmod 755 "$r/init"
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd" ||
	    { rm -rf "$tmp"; die "cpio failed"; }
	mv "$tmp/initrd" "$INITRD"
	echo "$stamp" >"$INITRD.stamp"
	rm -rf "$tmp"
}

# --- process helpers ------------------------------------------------------
# ours PID DIR: PID is a live QEMU of DIR (not a zombie, not a reused pid)
ours() {
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "unix:$2/qmp.sock,"
}
# wait_gone PID DIR TENTHS: wait until PID is no longer ours
wait_gone() {
	local n
	for ((n = 0; n < $3; n++)); do ours "$1" "$2" || return 0; sleep 0.1; done
	! ours "$1" "$2"
}

# teardown DIR: stop DIR's QEMU however it can, remove its RAM file
teardown() {
	local d=$1 pid ram
	pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
	if ours "$pid" "$d"; then
		python3 "$GUESTCTL" qmp "$d/qmp.sock" quit 5 >/dev/null 2>&1 || true
		if ! wait_gone "$pid" "$d" 100; then
			kill -TERM "$pid" 2>/dev/null || true
			wait_gone "$pid" "$d" 30 || { kill -KILL "$pid" 2>/dev/null || true
				wait_gone "$pid" "$d" 50 || die "pid $pid ($d) does not die"; }
		fi
	fi
	ram=$(cat "$d/ram.path" 2>/dev/null || true)
	case "$ram" in /dev/shm/vouch-guest-*) rm -f "$ram" ;; esac
	rm -f "$d/qemu.pid" "$d/qmp.sock" "$d/qmp-mon.sock" "$d/ctl.sock" "$d/guard.sock" \
	    "$d/ram.path" "$d/window.path" "$d/window.id"
}

# guard_initrd DIR TARGETDIR: DIR/guard-initrd.cpio.gz = the lab initrd
# followed by a second archive (the kernel unpacks both) with the static
# vouch-guard and a guard policy for the target.
guard_initrd() {
	local d=$1 t=$2 bin name tmp r
	bin=${VOUCH_GUARD_BIN:-$ROOT/build/static/vouch-guard}
	[ -x "$bin" ] || die "$bin missing (make build/static/vouch-guard)"
	! ldd "$bin" >/dev/null 2>&1 || die "$bin is not statically linked"
	name=$(basename "$t" | tr -c 'A-Za-z0-9._\n-' '_' | cut -c1-63)
	tmp=$(mktemp -d "$d/.ginitrd.XXXXXX")
	r="$tmp/rootfs"
	mkdir -p "$r/bin" "$r/etc/vouch" "$r/var/lib/vouch"
	cp "$bin" "$r/bin/vouch-guard"
	# memory: guard_conf only takes qemu-file:/dump:/xen: specs; the
	# real one, "ivshmem:", is vouch-guard's --memory (init).
	printf '%s\n' 'version = 1;' 'guards = (' \
	    "  { target = \"$name\";" \
	    '    memory = "qemu-file:/dev/vouch-window";' \
	    "    period_ms = ${LABGUEST_GUARD_PERIOD_MS:-1000};" \
	    '    repair = false;' \
	    '    state = "/var/lib/vouch/guard.json"; } );' \
	    >"$r/etc/vouch/guards.cfg"
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/extra" ||
	    { rm -rf "$tmp"; die "cpio failed"; }
	cat "$INITRD" "$tmp/extra" >"$d/guard-initrd.cpio.gz"
	rm -rf "$tmp"
}

# --- subcommands ----------------------------------------------------------
cmd_start() {
	[ $# -ge 1 ] || usage
	local d mode=vmlinux kaslr=1 mem=128 smp=1 incoming=0 kernel append ram
	local t0 t1 pid n guard_of= window=1 initrd tram= tsize=
	d=$(abs "$1"); shift
	while [ $# -gt 0 ]; do
		case $1 in
		--vmlinux) mode=vmlinux ;;
		--bzimage) mode=bzimage ;;
		--kaslr) kaslr=1 ;;
		--nokaslr) kaslr=0 ;;
		--mem) mem=${2:?--mem MB}; shift ;;
		--smp) smp=${2:?--smp N}; shift ;;
		--incoming) incoming=1 ;;
		--guard-of) guard_of=$(abs "${2:?--guard-of TARGETDIR}"); shift ;;
		--window-off) window=0 ;;
		*) usage ;;
		esac
		shift
	done
	case "$mem$smp" in *[!0-9]*) die "--mem and --smp take numbers" ;; esac
	[ -n "$guard_of" ] || [ $window -eq 1 ] || die "--window-off needs --guard-of"
	if [ -n "$guard_of" ] && [ $window -eq 1 ]; then
		tram=$(cat "$guard_of/ram.path" 2>/dev/null) && [ -f "$tram" ] ||
		    die "$guard_of: no running lab guest (ram.path)"
		tsize=$(stat -c %s "$tram")
	fi
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
	[ ${#d} -le 96 ] || die "$d: too long for unix socket paths"
	mkdir -p "$d"
	pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
	! ours "$pid" "$d" || die "$d: guest already running (pid $pid)"
	teardown "$d"
	build
	case $mode in vmlinux) kernel=$KDIR/vmlinux ;; bzimage) kernel=$KDIR/vmlinuz ;; esac
	initrd=$INITRD
	if [ -n "$guard_of" ]; then
		guard_initrd "$d" "$guard_of"
		initrd="$d/guard-initrd.cpio.gz"
	fi
	append="console=ttyS0 loglevel=4 panic=-1"
	[ $kaslr -eq 1 ] || append="$append nokaslr"
	append="$append${LABGUEST_APPEND:+ $LABGUEST_APPEND}"
	rm -f "$d/console.log" "$d/qemu.err"
	ram=$(mktemp /dev/shm/vouch-guest-XXXXXXXX)
	echo "$ram" >"$d/ram.path"
	echo "$KDIR" >"$d/kernel.dir"
	echo "$append" >"$d/cmdline"
	echo "$mem" >"$d/mem.mb"
	echo "$mode" >"$d/boot.mode"
	# From here on a failure must leave nothing behind.
	trap 'teardown "$d" 2>/dev/null || true' EXIT
	local -a extra=()
	[ $incoming -eq 0 ] || extra=(-S -incoming defer)
	rm -f "$d/guard.of" "$d/window.path" "$d/window.id" "$d/window.n"
	if [ -n "$guard_of" ]; then
		# The window's slot: a root port with ACPI hotplug (q35's
		# default in QEMU 7.2), room for a 64-bit BAR of up to 1 GiB.
		extra+=(-device pcie-root-port,id=rp-win,chassis=1,slot=1,pref64-reserve=1G)
		# ttyS2: vouch-guard's own control port (labguest.sh guard)
		extra+=(-chardev socket,id=gctl,path="$d/guard.sock",server=on,wait=off
		    -serial chardev:gctl)
		echo "$guard_of" >"$d/guard.of"
		if [ $window -eq 1 ]; then
			extra+=(-object memory-backend-file,id=winmem0,mem-path="$tram",size="$tsize",share=on
			    -device ivshmem-plain,memdev=winmem0,id=win,bus=rp-win)
			echo "$tram" >"$d/window.path"
			echo winmem0 >"$d/window.id"
		fi
	fi
	t0=$(date +%s.%N)
	qemu-system-x86_64 -accel tcg -machine q35,memory-backend=ram -cpu "$CPU" \
	    -smp "$smp" -m "${mem}M" \
	    -object memory-backend-file,id=ram,size="${mem}M",mem-path="$ram",share=on \
	    -nodefaults -display none -no-reboot \
	    -kernel "$kernel" -initrd "$initrd" -append "$append" \
	    -chardev file,id=con,path="$d/console.log" -serial chardev:con \
	    -chardev socket,id=ctl,path="$d/ctl.sock",server=on,wait=off \
	    -serial chardev:ctl \
	    -qmp unix:"$d/qmp.sock",server=on,wait=off \
	    -qmp unix:"$d/qmp-mon.sock",server=on,wait=off \
	    "${extra[@]}" -daemonize -pidfile "$d/qemu.pid" \
	    </dev/null >/dev/null 2>"$d/qemu.err" ||
	    { cat "$d/qemu.err" >&2; die "qemu did not start"; }
	pid=$(cat "$d/qemu.pid")
	if [ $incoming -eq 1 ]; then
		trap - EXIT
		echo "incoming: $d (paused; migrate-incoming, then cont)"
		return 0
	fi
	n=$(awk -v t="$BOOT_TIMEOUT" 'BEGIN { print t * 20 }')
	while :; do
		grep -qa '^VOUCH-GUEST-READY' "$d/console.log" 2>/dev/null && break
		if ! ours "$pid" "$d"; then
			tail -n 20 "$d/console.log" >&2 2>/dev/null || true
			cat "$d/qemu.err" >&2
			die "qemu exited before the guest was ready"
		fi
		n=$((n - 1))
		if [ $n -le 0 ]; then
			tail -n 20 "$d/console.log" >&2 2>/dev/null || true
			die "no VOUCH-GUEST-READY within ${BOOT_TIMEOUT}s"
		fi
		sleep 0.05
	done
	t1=$(date +%s.%N)
	trap - EXIT
	awk -v s="$t0" -v e="$t1" 'BEGIN { printf "boot: %.2f s\n", e - s }'
}

cmd_cmd() {
	[ $# -ge 2 ] || usage
	local d; d=$(abs "$1"); shift
	[ -S "$d/ctl.sock" ] || die "$d: no ctl.sock (guest not started?)"
	local rc=0 t=$CMD_TIMEOUT
	case $1 in guard-*) [ "$t" -ge "$GUARD_TIMEOUT" ] || t=$GUARD_TIMEOUT ;; esac
	python3 "$GUESTCTL" cmd "$d/ctl.sock" "$*" "$t" || rc=$?
	return $rc
}

# guard DIR attach|detach|status: vouch-guard's control port (ttyS2 of a
# guard VM), no shell in between; prints the answer, exit 1 on FAIL/ERROR.
cmd_guard() {
	[ $# -eq 2 ] || usage
	local d; d=$(abs "$1")
	case $2 in attach|detach|status) ;; *) usage ;; esac
	[ -S "$d/guard.sock" ] || die "$d: no guard.sock (not a guard VM?)"
	python3 "$GUESTCTL" line "$d/guard.sock" "$2" "$GUARD_TIMEOUT"
}

# qmp DIR JSON: one QMP command, its "return" on stdout
qmp1() { python3 "$GUESTCTL" qmp "$1/qmp.sock" "$2" "$CMD_TIMEOUT"; }
# qmp_status DIR: the guest's run state (running, paused, ...)
qmp_status() { qmp1 "$1" query-status | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p'; }

cmd_window_detach() {
	[ $# -eq 1 ] || usage
	local d id t0 t1 tg rc=0
	d=$(abs "$1")
	[ -f "$d/guard.of" ] || die "$d: not a guard VM"
	[ -S "$d/qmp.sock" ] || die "$d: no qmp.sock (guest not started?)"
	t0=$(date +%s.%N)
	# The guard stops reading first: the BAR must not vanish under it.
	if [ "$(qmp_status "$d")" = running ]; then
		cmd_guard "$d" detach || rc=$?
		[ $rc -eq 0 ] || die "guard-detach failed ($rc)"
	fi
	tg=$(date +%s.%N)
	if [ -f "$d/window.id" ]; then
		python3 "$GUESTCTL" qmp-then-event "$d/qmp.sock" \
		    '{"execute": "device_del", "arguments": {"id": "win"}}' \
		    DEVICE_DELETED "$CMD_TIMEOUT" device=win >/dev/null ||
		    die "device_del win: no DEVICE_DELETED"
		id=$(cat "$d/window.id")
		qmp1 "$d" "{\"execute\": \"object-del\", \"arguments\": {\"id\": \"$id\"}}" \
		    >/dev/null || die "object-del $id failed"
		rm -f "$d/window.id" "$d/window.path"
	fi
	t1=$(date +%s.%N)
	awk -v s="$t0" -v g="$tg" -v e="$t1" 'BEGIN {
	    printf "detach: %.3f s (guard-detach %.3f s, device_del %.3f s)\n",
	    e - s, g - s, e - g }'
}

cmd_window_attach() {
	[ $# -eq 2 ] || usage
	local d ram size id n t0 t1 tp rc=0
	d=$(abs "$1"); ram=$2
	[ -f "$d/guard.of" ] || die "$d: not a guard VM"
	[ -S "$d/qmp.sock" ] || die "$d: no qmp.sock (guest not started?)"
	[ -f "$ram" ] || die "$ram: no such RAM file"
	[ ! -f "$d/window.id" ] || die "$d: a window is attached (window-detach first)"
	size=$(stat -c %s "$ram")
	# A fresh object id each time: the old one may still be going away.
	n=$(cat "$d/window.n" 2>/dev/null || echo 0); n=$((n + 1))
	echo "$n" >"$d/window.n"
	id="winmem$n"
	t0=$(date +%s.%N)
	qmp1 "$d" "{\"execute\": \"object-add\", \"arguments\": {\"qom-type\": \"memory-backend-file\", \"id\": \"$id\", \"mem-path\": \"$ram\", \"size\": $size, \"share\": true}}" \
	    >/dev/null || die "object-add $id failed"
	if ! qmp1 "$d" "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"ivshmem-plain\", \"memdev\": \"$id\", \"id\": \"win\", \"bus\": \"rp-win\"}}" >/dev/null; then
		qmp1 "$d" "{\"execute\": \"object-del\", \"arguments\": {\"id\": \"$id\"}}" >/dev/null 2>&1 || true
		die "device_add win failed"
	fi
	echo "$id" >"$d/window.id"
	echo "$ram" >"$d/window.path"
	tp=$(date +%s.%N)
	if [ "$(qmp_status "$d")" = running ]; then
		cmd_guard "$d" attach || rc=$?
	else
		echo "guard paused: cont, then 'labguest.sh guard $d attach'"
	fi
	t1=$(date +%s.%N)
	awk -v s="$t0" -v p="$tp" -v e="$t1" 'BEGIN {
	    printf "attach: %.3f s (object-add + device_add %.3f s, guard-attach %.3f s)\n",
	    e - s, p - s, e - p }'
	return $rc
}

cmd_qmp() {
	[ $# -eq 2 ] || usage
	local d; d=$(abs "$1")
	[ -S "$d/qmp.sock" ] || die "$d: no qmp.sock (guest not started?)"
	python3 "$GUESTCTL" qmp "$d/qmp.sock" "$2" "$CMD_TIMEOUT"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	local d; d=$(abs "$1")
	[ -d "$d" ] || return 0
	teardown "$d"
}

[ $# -ge 1 ] || usage
sub=$1; shift
case $sub in
build) build; echo "$KDIR"; echo "$INITRD" ;;
start) cmd_start "$@" ;;
cmd) cmd_cmd "$@" ;;
guard) cmd_guard "$@" ;;
qmp) cmd_qmp "$@" ;;
stop) cmd_stop "$@" ;;
window-detach) cmd_window_detach "$@" ;;
window-attach) cmd_window_attach "$@" ;;
-h|--help|help) usage ;;
*) usage ;;
esac
