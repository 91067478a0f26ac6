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
#	Boot a guest whose state lives in DIR (one guest per DIR; several
#	DIRs may run at once) and wait for it to be up; prints "boot: S s".
#	--vmlinux (default) boots the ELF through its PVH entry (~2 s, no
#	physical/virtual KASLR: the decompressor does that; the memory-region
#	randomisation still happens); --bzimage boots vmlinuz (~5 s, full
#	KASLR).  --nokaslr appends nokaslr.  --mem (default 128) MiB of RAM,
#	--smp (default 1) CPUs.  --incoming starts a migration destination
#	(-S -incoming defer, paused, no wait): give it the same options as
#	the source.
#   labguest.sh cmd DIR COMMAND...
#	Run COMMAND in the guest over its command channel; prints its output,
#	exits with its exit code (124: no answer within LABGUEST_CMD_TIMEOUT,
#	default 30 s).  Commands: ps (ps -o pid,comm), echo WORDS, uname
#	(uname -a), cat PATH..., spin SECONDS (busy C loop, /bin/spin; prints
#	"iterations=N centiseconds=C", C from the guest's monotonic clock),
#	sh SHELL-COMMAND (the rest of the line, run by the guest's sh -c).
#	Commands run in a subshell of the guest's init: a failure or a
#	crash leaves the channel and the ticker running.
#   labguest.sh qmp DIR JSON
#	QMP handshake and one command (a JSON object or just its name);
#	prints the "return" JSON, or the error on stderr and exits 1.
#   labguest.sh stop DIR
#	QMP quit (kill if that fails), wait, remove the RAM file.  Idempotent.
#
# DIR after start:
#	qemu.pid	QEMU's pid (daemonized)
#	qmp.sock	QMP (unix socket server, one client at a time)
#	ctl.sock	the command channel: the guest's ttyS1 (raw)
#	console.log	the guest's console, ttyS0: kernel messages,
#			"VOUCH-GUEST-READY", "VOUCH-TICK N" once a second (N
#			counts from 1 in a guest shell variable: it goes on
#			across a migration)
#	ram.path	the guest RAM file, /dev/shm/vouch-guest-*
#			(memory-backend-file, share=on: mmap it read-only)
#	kernel.dir	the kernel directory (vmlinuz carries the BTF)
#	cmdline		the kernel command line; boot.mode vmlinux|bzimage
#	qemu.err	QEMU's stderr
#
# The command channel protocol (tools/guest/guestctl.py): one line in; the
# guest answers "VOUCH-BEGIN LINE", the output, "VOUCH-END LINE RC".
# Environment: LABGUEST_BOOT_TIMEOUT (120 s), LABGUEST_CMD_TIMEOUT (30 s),
# LABGUEST_CPU (max), LABGUEST_APPEND (more kernel arguments), VOUCH_CACHE
# (build/cache).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VOUCH_CACHE:-$ROOT/build/cache}
case "$CACHE" in /*) ;; *) CACHE="$PWD/$CACHE" ;; esac
GUESTCTL="$ROOT/tools/guest/guestctl.py"
BUSYBOX=/bin/busybox
BOOT_TIMEOUT=${LABGUEST_BOOT_TIMEOUT:-120}
CMD_TIMEOUT=${LABGUEST_CMD_TIMEOUT:-30}
CPU=${LABGUEST_CPU:-max}

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
run() {
	cmd=${1:-}; shift
	case $cmd in
	ps) ps -o pid,comm ;;
	echo) echo "$@" ;;
	uname) uname -a ;;
	cat) [ $# -gt 0 ] || { echo "usage: cat PATH" >&2; return 2; }; cat "$@" ;;
	spin) if [ -x /bin/spin ]; then /bin/spin "$@"; else spin "$@"; fi ;;
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
	rm -f "$d/qemu.pid" "$d/qmp.sock" "$d/ctl.sock" "$d/ram.path"
}

# --- subcommands ----------------------------------------------------------
cmd_start() {
	[ $# -ge 1 ] || usage
	local d mode=vmlinux kaslr=1 mem=128 smp=1 incoming=0 kernel append ram
	local t0 t1 pid n
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
		*) usage ;;
		esac
		shift
	done
	case "$mem$smp" in *[!0-9]*) die "--mem and --smp take numbers" ;; esac
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
	[ ${#d} -le 96 ] || die "$d: too long for unix socket paths"
	mkdir -p "$d"
	pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
	! ours "$pid" "$d" || die "$d: guest already running (pid $pid)"
	teardown "$d"
	build
	case $mode in vmlinux) kernel=$KDIR/vmlinux ;; bzimage) kernel=$KDIR/vmlinuz ;; esac
	append="console=ttyS0 loglevel=4 panic=-1"
	[ $kaslr -eq 1 ] || append="$append nokaslr"
	append="$append${LABGUEST_APPEND:+ $LABGUEST_APPEND}"
	rm -f "$d/console.log" "$d/qemu.err"
	ram=$(mktemp /dev/shm/vouch-guest-XXXXXXXX)
	echo "$ram" >"$d/ram.path"
	echo "$KDIR" >"$d/kernel.dir"
	echo "$append" >"$d/cmdline"
	echo "$mode" >"$d/boot.mode"
	# From here on a failure must leave nothing behind.
	trap 'teardown "$d" 2>/dev/null || true' EXIT
	local -a extra=()
	[ $incoming -eq 0 ] || extra=(-S -incoming defer)
	t0=$(date +%s.%N)
	qemu-system-x86_64 -accel tcg -machine q35,memory-backend=ram -cpu "$CPU" \
	    -smp "$smp" -m "${mem}M" \
	    -object memory-backend-file,id=ram,size="${mem}M",mem-path="$ram",share=on \
	    -nodefaults -display none -no-reboot \
	    -kernel "$kernel" -initrd "$INITRD" -append "$append" \
	    -chardev file,id=con,path="$d/console.log" -serial chardev:con \
	    -chardev socket,id=ctl,path="$d/ctl.sock",server=on,wait=off \
	    -serial chardev:ctl \
	    -qmp unix:"$d/qmp.sock",server=on,wait=off \
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
	local rc=0
	python3 "$GUESTCTL" cmd "$d/ctl.sock" "$*" "$CMD_TIMEOUT" || rc=$?
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
qmp) cmd_qmp "$@" ;;
stop) cmd_stop "$@" ;;
-h|--help|help) usage ;;
*) usage ;;
esac
