#!/bin/bash
# tools/xenlab/xenlab.sh - a real Xen 4.17 host inside QEMU (TCG), for the
# Xen code paths (libxl, libxenforeignmemory) of vouch.
#
#   xenlab.sh build
#	Assemble (cached under build/cache/xenlab, rebuilt when this script,
#	busybox or the packages change) from Debian packages only
#	(apt-get download + dpkg -x; nothing is installed on the host):
#	the hypervisor (xen-hypervisor-4.17-amd64's xen.gz, gunzipped for
#	QEMU's multiboot -kernel), the dom0 kernel (Debian's linux-image,
#	tools/guest/kernel.sh), the dom0 initramfs (busybox, xl, xenstored,
#	xenconsoled, xenstore-*, the libraries ldd finds for them plus
#	libgcc_s.so.1, the modules xen-evtchn, xen-gntdev, xen-gntalloc,
#	xen-privcmd, xenfs) and the lab domU (PVH: the same kernel, a
#	busybox initramfs printing "VOUCH-TICK N" on hvc0 once a second
#	and running commands for domu-cmd,
#	/etc/xen/lab.cfg in dom0).  Prints the cache directory.
#   xenlab.sh start DIR [--mem MB] [--dom0-mem MB] [--smp N] [--bin PATH]...
#	Boot Xen under qemu-system-x86_64 -cpu max (TCG) with its state in
#	DIR (one lab per DIR) and wait until dom0's toolstack answers
#	(xl list); prints "boot: S s (dom0 init at S s of dom0 uptime)".
#	Xen runs with console=com1 dom0_mem=... smap=0 smep=0 xsave=0 (why:
#	at the QEMU command line below).  --mem (default
#	1024) MiB for the whole machine, --dom0-mem (default 512) MiB for
#	dom0, --smp (default 1) CPUs.  Each --bin PATH puts PATH into dom0
#	as /vouch/bin/NAME, with the shared libraries the host's ldd
#	resolves for it (dom0's userland is the host's Debian 12 glibc: same
#	ABI) at their host paths.  On failure prints the console's tail and
#	leaves nothing running.
#   xenlab.sh cmd DIR [--timeout S] SHELL-COMMAND
#	Run SHELL-COMMAND (one line, given to dom0's sh -c; PATH holds
#	/vouch/bin and Xen's tools) in dom0 over the control channel; prints
#	its output (stdout and stderr; dom0 adds a final newline if it
#	lacks one), exits with its status (124: no
#	answer within S seconds, default XENLAB_CMD_TIMEOUT or 60).
#   xenlab.sh domu-start DIR
#	xl create /etc/xen/lab.cfg (domain "lab") and wait until its
#	console log shows a VOUCH-TICK; prints "domU: S s".  The domU is
#	the caller's from then on (xl pause/unpause/destroy lab via cmd).
#   xenlab.sh domu-cmd DIR [--timeout S] SHELL-COMMAND
#	Run SHELL-COMMAND in the domU (its init's sh -c) over its console:
#	dom0's xenlab-domu writes "VOUCH-CMD ID BASE64" into the pty
#	xenconsoled holds for the domU's hvc0 (xenstore console/tty) and
#	waits for "VOUCH-DOMU-END ID RC" in the console log.  Prints the
#	output, exits with its status (124: no answer within S seconds,
#	default XENLAB_CMD_TIMEOUT or 60; 125: no domU "lab").
#   xenlab.sh stop DIR
#	QMP quit (kill if that fails), wait.  Idempotent.
#
# DIR after start:
#	qemu.pid	QEMU's pid (daemonized)
#	qmp.sock	QMP (unix socket server)
#	ctl.sock	the control channel: QEMU's second UART (COM2), which is
#			dom0's /dev/ttyS1 (Xen itself only drives COM1)
#	console.log	COM1: Xen's console and, through it, dom0's hvc0
#			(kernel messages, "VOUCH-XEN-DOM0-READY")
#	dom0-initrd.cpio.gz  the initramfs booted (with --bin files)
#	qemu.err	QEMU's stderr
#
# In dom0: the toolstack under /usr/lib/xen-4.17/bin (on PATH), xenstored
# and xenconsoled running (xenconsoled logs every guest console to
# /var/log/xen/console/guest-NAME.log), the domU files under /xenlab
# (vmlinux.gz, domu-initrd.cpio.gz), /etc/xen/lab.cfg (PVH, memory=128,
# tsc_mode="native", cpuid="host,rdtscp=0": see shared/LAB-NOTES.md).
#
# The control channel speaks tools/guest/guestctl.py's protocol: one line
# in; dom0 answers "VOUCH-BEGIN LINE", the output, "VOUCH-END LINE RC".
# Environment: XENLAB_BOOT_TIMEOUT (240 s), XENLAB_CMD_TIMEOUT (60 s),
# XENLAB_DOMU_TIMEOUT (180 s), XENLAB_CPU (max: TCG emulates SVM, which
# the PVH domU needs), XENLAB_XEN_ARGS (more Xen arguments),
# XENLAB_DOM0_ARGS (more dom0 kernel arguments), VOUCH_CACHE (build/cache).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${VOUCH_CACHE:-$ROOT/build/cache}
case "$CACHE" in /*) ;; *) CACHE="$PWD/$CACHE" ;; esac
XC="$CACHE/xenlab"
GUESTCTL="$ROOT/tools/guest/guestctl.py"
BUSYBOX=/bin/busybox
BOOT_TIMEOUT=${XENLAB_BOOT_TIMEOUT:-240}
CMD_TIMEOUT=${XENLAB_CMD_TIMEOUT:-60}
DOMU_TIMEOUT=${XENLAB_DOMU_TIMEOUT:-180}
CPU=${XENLAB_CPU:-max}
XENVER=4.17
# What dom0 needs; apt resolves each name to the candidate version.
PKGS="xen-hypervisor-$XENVER-amd64 xen-utils-$XENVER xen-utils-common
xenstore-utils libxencall1 libxendevicemodel1 libxenevtchn1
libxenforeignmemory1 libxengnttab1 libxenhypfs1 libxenmisc$XENVER
libxenstore4 libxentoolcore1 libxentoollog1 libyajl2"
# Binaries of the extracted tree that go into dom0.
XBIN=/usr/lib/xen-$XENVER/bin
DOM0_BINS="$XBIN/xl $XBIN/xenstored $XBIN/xenconsoled $XBIN/xen-init-dom0
$XBIN/xenstore-control $XBIN/libxl-save-helper $XBIN/xenconsole
/usr/bin/xenstore-read /usr/bin/xenstore-write /usr/bin/xenstore-ls
/usr/bin/xenstore-list /usr/bin/xenstore-rm /usr/bin/xenstore-exists"
MODULES="xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs"

die() { echo "xenlab.sh: $*" >&2; exit 1; }
trap 'exit 130' INT TERM
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

# --- packages -------------------------------------------------------------
# fetch_debs: $XC/debs holds one .deb per package of PKGS; sets DEBS
fetch_debs() {
	local p missing='' tmp
	mkdir -p "$XC/debs"
	for p in $PKGS; do
		ls "$XC/debs/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		tmp=$(mktemp -d "$XC/.debs.XXXXXX")
		# A failure is most often missing or stale lists: update once.
		# shellcheck disable=SC2086
		if ! (cd "$tmp" && apt-get download -q $missing >&2); then
			apt-get update -qq >&2 || { rm -rf "$tmp"; die "apt-get update failed"; }
			(cd "$tmp" && apt-get download -q $missing >&2) ||
			    { rm -rf "$tmp"; die "apt-get download$missing failed (no network and no cache?)"; }
		fi
		mv "$tmp"/*.deb "$XC/debs/"
		rm -rf "$tmp"
	fi
}

# tree: $XC/tree = every .deb of $XC/debs unpacked (dpkg -x)
tree() {
	local sum tmp d
	sum=$(ls "$XC/debs" | sha256sum | cut -c1-16)
	[ -d "$XC/tree" ] && [ "$(cat "$XC/tree.stamp" 2>/dev/null)" = "$sum" ] && return 0
	tmp=$(mktemp -d "$XC/.tree.XXXXXX")
	for d in "$XC"/debs/*.deb; do dpkg -x "$d" "$tmp" || { rm -rf "$tmp"; die "dpkg -x $d"; }; done
	rm -rf "$XC/tree"
	mv "$tmp" "$XC/tree"
	echo "$sum" >"$XC/tree.stamp"
}

# copy_libs ROOTFS LIBPATH BIN...: the shared libraries ldd resolves for
# each BIN (LD_LIBRARY_PATH=LIBPATH first), copied into ROOTFS at the
# path ldd gave minus the extracted tree's prefix.
copy_libs() {
	local r=$1 lp=$2 b l dst; shift 2
	for b in "$@"; do
		# "not a dynamic executable": a static binary, nothing to copy.
		LD_LIBRARY_PATH=$lp ldd "$b" 2>/dev/null | awk '
		    $2 == "=>" && $3 ~ /^\// { print $3 }
		    $1 ~ /^\// { print $1 }
		    $2 == "=>" && $3 == "not" { print "MISSING " $1 }' || true
	done | sort -u | while read -r l; do
		case $l in MISSING*) die "ldd: ${l#MISSING } not found (for $*)" ;; esac
		dst=${l#"$XC/tree"}
		mkdir -p "$r$(dirname "$dst")"
		cp -L "$l" "$r$dst"
	done
}

# mod_path NAME: the .ko of module NAME (- and _ are the same) under $MODDIR
mod_path() {
	local n=${1//_/-} f
	f=$(find "$MODDIR" \( -name "$n.ko" -o -name "${n//-/_}.ko" \) | head -n1)
	[ -n "$f" ] || die "module $1 not found under $MODDIR"
	echo "$f"
}
# mod_deps NAME...: NAME and its dependencies, dependencies first
mod_deps() {
	local m f d
	for m in "$@"; do
		f=$(mod_path "$m")
		d=$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' ')
		[ -z "$d" ] || mod_deps $d
		echo "${m//_/-}"
	done
}

# --- build ----------------------------------------------------------------
# build: sets KDIR, XEN, DOM0_INITRD
build() {
	local stamp r u tmp b m f
	[ -f "$BUSYBOX" ] || die "$BUSYBOX missing (busybox-static)"
	for b in cpio gzip ldd apt-get dpkg; do
		command -v $b >/dev/null || die "$b missing"
	done
	KDIR=$("$ROOT/tools/guest/kernel.sh" "$CACHE") || die "kernel fetch failed"
	mkdir -p "$XC"
	fetch_debs
	tree
	XEN="$XC/xen"
	DOM0_INITRD="$XC/dom0-initrd.cpio.gz"
	stamp=$( (cat "$0" "$BUSYBOX" "$KDIR/vmlinuz"; ls "$XC/debs") | sha256sum | cut -c1-16)
	if [ -f "$DOM0_INITRD" ] && [ -f "$XEN" ] &&
	    [ "$(cat "$XC/build.stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	tmp=$(mktemp -d "$XC/.build.XXXXXX")
	f=$(ls "$XC"/tree/boot/xen-$XENVER-amd64.gz 2>/dev/null | head -n1)
	[ -n "$f" ] || { rm -rf "$tmp"; die "no /boot/xen-$XENVER-amd64.gz in the hypervisor package"; }
	gzip -dc "$f" >"$tmp/xen"

	# The domU: busybox and a ticker on hvc0 (its Xen console, which
	# xenconsoled logs in dom0).
	u="$tmp/domu"
	mkdir -p "$u/bin" "$u/proc" "$u/sys" "$u/dev"
	cp "$BUSYBOX" "$u/bin/busybox"
	cat >"$u/init" <<'EOF'
#!/bin/busybox sh
# The Xen lab domU's init (tools/xenlab/xenlab.sh).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
hostname vouch-domu
mkdir -p /tmp
syslogd -n </dev/null &
sleep 1000000 </dev/null &
# The command channel: dom0 writes "VOUCH-CMD ID BASE64" into this
# console's pty (xenlab-domu in dom0); the answer comes back on hvc0,
# which xenconsoled logs in dom0: "VOUCH-DOMU-BEGIN ID", the output,
# "VOUCH-DOMU-END ID RC".  Each answer is written with one cat, so the
# ticker's lines cannot land inside it (a tty write is atomic).
(
	exec </dev/hvc0
	stty -echo 2>/dev/null
	while :; do
		IFS=' ' read -r tag id b64 || { sleep 1; continue; }
		[ "$tag" = VOUCH-CMD ] && [ -n "$id" ] || continue
		c=$(echo "$b64" | base64 -d 2>/dev/null)
		{
			echo "VOUCH-DOMU-BEGIN $id"
			( sh -c "$c" ) </dev/null >/tmp/cmd.out 2>&1
			rc=$?
			cat /tmp/cmd.out
			[ -z "$(tail -c1 /tmp/cmd.out)" ] || echo
			echo "VOUCH-DOMU-END $id $rc"
		} >/tmp/cmd.ans 2>&1
		cat /tmp/cmd.ans
	done
) &
echo VOUCH-DOMU-READY
# The ticker waits on a fifo nobody writes ("read -t 1") instead of
# forking a "sleep 1" each second: the domU's process list stays the
# same while nothing runs through the command channel, so a listing
# read from outside can be compared with the domU's own ps.
mkfifo /tmp/tick
exec 4<>/tmp/tick
n=0
while :; do
	n=$((n + 1))
	echo "VOUCH-TICK $n"
	read -t 1 _ <&4
done
EOF
	chmod 755 "$u/init"
	(cd "$u" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/domu-initrd.cpio.gz"

	# dom0
	r="$tmp/rootfs"
	mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/xenlab" "$r/lib/modules" \
	    "$r/etc/xen" "$r/vouch/bin" "$r/usr/bin" "$r$XBIN"
	cp "$BUSYBOX" "$r/bin/busybox"
	local lp="$XC/tree/usr/lib/x86_64-linux-gnu:$XC/tree/lib/x86_64-linux-gnu"
	local -a bins=()
	for b in $DOM0_BINS; do
		[ -f "$XC/tree$b" ] || { rm -rf "$tmp"; die "$b not in the packages"; }
		cp "$XC/tree$b" "$r$b"
		bins+=("$XC/tree$b")
	done
	copy_libs "$r" "$lp" "${bins[@]}"
	# xl aborts without libgcc_s (glibc dlopens it for pthread_cancel
	# and backtraces; ldd does not list it).
	f=$(ls /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 \
	    2>/dev/null | head -n1)
	[ -n "$f" ] || { rm -rf "$tmp"; die "libgcc_s.so.1 not found on the host"; }
	mkdir -p "$r/lib/x86_64-linux-gnu"
	cp -L "$f" "$r/lib/x86_64-linux-gnu/libgcc_s.so.1"
	[ ! -f "$XC/tree/etc/xen/xl.conf" ] || cp "$XC/tree/etc/xen/xl.conf" "$r/etc/xen/"
	MODDIR=$(ls -d "$KDIR"/pkg/lib/modules/*/kernel | head -n1)
	[ -d "$MODDIR" ] || { rm -rf "$tmp"; die "$KDIR/pkg has no modules"; }
	: >"$r/lib/modules/order"
	for m in $(mod_deps $MODULES | awk '!seen[$0]++'); do
		cp "$(mod_path "$m")" "$r/lib/modules/$m.ko"
		echo "$m" >>"$r/lib/modules/order"
	done
	# The domU boots the ELF vmlinux, gzipped: libxenguest inflates
	# gzip in ~2 s in dom0, where the bzImage's xz took ~12 s (TCG).
	gzip -1 -c "$KDIR/vmlinux" >"$r/xenlab/vmlinux.gz"
	cp "$tmp/domu-initrd.cpio.gz" "$r/xenlab/domu-initrd.cpio.gz"
	cat >"$r/etc/xen/lab.cfg" <<'EOF'
# The lab domU (tools/xenlab/xenlab.sh): PVH, Debian's kernel, a ticker.
name = "lab"
type = "pvh"
kernel = "/xenlab/vmlinux.gz"
ramdisk = "/xenlab/domu-initrd.cpio.gz"
cmdline = "console=hvc0 loglevel=4"
memory = 128
vcpus = 1
# PVH under Xen under TCG: 64 MiB fails; the TSC must not be emulated.
tsc_mode = "native"
cpuid = "host,rdtscp=0"
on_crash = "preserve"
EOF
	# dom0's side of the domU's command channel (xenlab.sh domu-cmd).
	cat >"$r/usr/bin/xenlab-domu" <<'EOF'
#!/bin/busybox sh
# xenlab-domu TIMEOUT NAME BASE64: run the base64-encoded shell command in
# domU NAME through its console (tools/xenlab/xenlab.sh: the domU's init
# reads "VOUCH-CMD ID BASE64" lines on hvc0).  Prints the output, exits
# with the command's status; 124 if no answer within TIMEOUT seconds,
# 125 if the domain or its console is not found.
t=$1 name=$2 b64=$3
log=/var/log/xen/console/guest-$name.log
dom=
for d in $(xenstore-list /local/domain 2>/dev/null); do
	[ "$(xenstore-read /local/domain/$d/name 2>/dev/null)" = "$name" ] && dom=$d
done
[ -n "$dom" ] || { echo "xenlab-domu: no domain $name" >&2; exit 125; }
tty=$(xenstore-read /local/domain/$dom/console/tty 2>/dev/null)
[ -c "$tty" ] || { echo "xenlab-domu: $name: no console pty ($tty)" >&2; exit 125; }
id=$(cut -c1-8 /proc/sys/kernel/random/uuid)
printf 'VOUCH-CMD %s %s\n' "$id" "$b64" >"$tty"
n=$((t * 10))
while ! grep -q "^VOUCH-DOMU-END $id " "$log" 2>/dev/null; do
	n=$((n - 1))
	[ $n -gt 0 ] || { echo "xenlab-domu: no answer from $name within ${t}s" >&2; exit 124; }
	sleep 0.1
done
tr -d '\r' <"$log" | sed -n "/^VOUCH-DOMU-BEGIN $id\$/,/^VOUCH-DOMU-END $id /p" >/tmp/domu.$id
rc=$(sed -n "s/^VOUCH-DOMU-END $id \([0-9]*\)\$/\1/p" /tmp/domu.$id)
sed '1d;$d' /tmp/domu.$id
rm -f /tmp/domu.$id
exit "${rc:-125}"
EOF
	chmod 755 "$r/usr/bin/xenlab-domu"
	cat >"$r/init" <<EOF
#!/bin/busybox sh
# dom0's init (tools/xenlab/xenlab.sh).  PID 1 ends up serving the control
# channel on ttyS1; it must never exit (a kernel panic).
/bin/busybox --install -s /bin
export PATH=/vouch/bin:$XBIN:/bin:/usr/bin
EOF
	cat >>"$r/init" <<'EOF'
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
# xenconsoled gives each guest console a pty: without devpts xl create
# times out waiting for console/tty.
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mkdir -p /tmp /run /var/run /var/lock /run/lock /var/log/xen/console \
    /var/lib/xen /var/lib/xenstored /run/xen /run/xenstored /var/run/xen
hostname xenlab-dom0
ip link set lo up
t0=$(cut -d' ' -f1 /proc/uptime)
while read -r m; do
	insmod /lib/modules/$m.ko || echo "VOUCH-XEN-WARN insmod $m failed"
done </lib/modules/order
mount -t xenfs xenfs /proc/xen || echo "VOUCH-XEN-WARN mount xenfs failed"
xenstored --pid-file /run/xenstored.pid </dev/null >/var/log/xen/xenstored.out 2>&1
# xen-init-dom0: Domain-0's entries in xenstore (name, memory, ...).
xen-init-dom0 >/var/log/xen/init-dom0.log 2>&1 || echo "VOUCH-XEN-WARN xen-init-dom0 failed"
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest \
    --log-dir=/var/log/xen/console </dev/null >/var/log/xen/xenconsoled.out 2>&1
echo "VOUCH-XEN-DOM0-READY uptime $t0 $(cut -d' ' -f1 /proc/uptime)"

ctl=/dev/ttyS1
stty -F $ctl raw -echo
exec 3<>$ctl
cr=$(printf '\r')
set -f
while :; do
	line=
	IFS= read -r line <&3 || { sleep 1; continue; }
	line=${line%"$cr"}
	[ -n "$line" ] || continue
	echo "VOUCH-BEGIN $line" >&3
	# Through a file: output that does not end in a newline gets one,
	# or the end marker would not start a line.
	( sh -c "$line" ) </dev/null >/run/ctl.out 2>&1
	rc=$?
	cat /run/ctl.out >&3
	[ -z "$(tail -c1 /run/ctl.out)" ] || echo >&3
	echo "VOUCH-END $line $rc" >&3
done
EOF
	chmod 755 "$r/init"
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/dom0-initrd.cpio.gz" ||
	    { rm -rf "$tmp"; die "cpio failed"; }
	mv "$tmp/xen" "$XEN"
	mv "$tmp/dom0-initrd.cpio.gz" "$DOM0_INITRD"
	mv "$tmp/domu-initrd.cpio.gz" "$XC/domu-initrd.cpio.gz"
	echo "$stamp" >"$XC/build.stamp"
	rm -rf "$tmp"
}

# bin_initrd DIR PATH...: DIR/dom0-initrd.cpio.gz = the cached initrd and a
# second archive (the kernel unpacks both) with PATH... in /vouch/bin and
# their shared libraries at their host paths.
bin_initrd() {
	local d=$1 tmp r b; shift
	tmp=$(mktemp -d "$d/.bin.XXXXXX")
	r="$tmp/rootfs"
	mkdir -p "$r/vouch/bin"
	for b in "$@"; do
		[ -f "$b" ] && [ -x "$b" ] || { rm -rf "$tmp"; die "--bin $b: not an executable file"; }
		cp -L "$b" "$r/vouch/bin/$(basename "$b")"
	done
	(XC=/nonexistent copy_libs "$r" "" "$@") || { rm -rf "$tmp"; die "--bin: libraries"; }
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/extra" ||
	    { rm -rf "$tmp"; die "cpio failed"; }
	cat "$DOM0_INITRD" "$tmp/extra" >"$d/dom0-initrd.cpio.gz"
	rm -rf "$tmp"
}

# --- process helpers ------------------------------------------------------
ours() {
	[ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "unix:$2/qmp.sock,"
}
wait_gone() {
	local n
	for ((n = 0; n < $3; n++)); do ours "$1" "$2" || return 0; sleep 0.1; done
	! ours "$1" "$2"
}
teardown() {
	local d=$1 pid
	pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
	if ours "$pid" "$d"; then
		python3 "$GUESTCTL" qmp "$d/qmp.sock" quit 5 >/dev/null 2>&1 || true
		if ! wait_gone "$pid" "$d" 100; then
			kill -TERM "$pid" 2>/dev/null || true
			wait_gone "$pid" "$d" 30 || { kill -KILL "$pid" 2>/dev/null || true
				wait_gone "$pid" "$d" 50 || die "pid $pid ($d) does not die"; }
		fi
	fi
	rm -f "$d/qemu.pid" "$d/qmp.sock" "$d/ctl.sock"
}
# console_tail DIR: the last lines of the console, on stderr
console_tail() {
	tr -d '\r' <"$1/console.log" 2>/dev/null | tail -n "${2:-30}" | sed 's/^/console: /' >&2 || true
	[ ! -s "$1/qemu.err" ] || sed 's/^/qemu: /' "$1/qemu.err" >&2
}
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.2f", e - s }'; }

# --- subcommands ----------------------------------------------------------
cmd_start() {
	[ $# -ge 1 ] || usage
	local d mem=1024 dom0mem=512 smp=1 initrd pid n t0 t1 up
	local -a bins=()
	d=$(abs "$1"); shift
	while [ $# -gt 0 ]; do
		case $1 in
		--mem) mem=${2:?--mem MB}; shift ;;
		--dom0-mem) dom0mem=${2:?--dom0-mem MB}; shift ;;
		--smp) smp=${2:?--smp N}; shift ;;
		--bin) bins+=("$(abs "${2:?--bin PATH}")"); shift ;;
		*) usage ;;
		esac
		shift
	done
	case "$mem$dom0mem$smp" in *[!0-9]*) die "--mem, --dom0-mem and --smp take numbers" ;; esac
	[ "$dom0mem" -lt "$mem" ] || die "--dom0-mem must be below --mem"
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
	command -v python3 >/dev/null || die "python3 missing"
	[ ${#d} -le 96 ] || die "$d: too long for unix socket paths"
	case $d in *[,\ ]*) die "$d: no commas or spaces (QEMU's multiboot -initrd list)" ;; esac
	mkdir -p "$d"
	pid=$(cat "$d/qemu.pid" 2>/dev/null || true)
	! ours "$pid" "$d" || die "$d: lab already running (pid $pid)"
	teardown "$d"
	build
	initrd="$d/dom0-initrd.cpio.gz"
	if [ ${#bins[@]} -gt 0 ]; then
		bin_initrd "$d" "${bins[@]}"
	else
		cp "$DOM0_INITRD" "$initrd"
	fi
	case "$KDIR$XEN" in *[,\ ]*) die "$KDIR: no commas or spaces" ;; esac
	rm -f "$d/console.log" "$d/qemu.err"
	trap 'teardown "$d" 2>/dev/null || true' EXIT
	t0=$(now)
	# Xen: COM1 is its console (dom0's hvc0 goes through it); without
	# smap=0 smep=0 dom0 dies at its first exception under TCG.  xsave=0:
	# with XSAVE about one dom0 process in a hundred saw corrupted
	# memory or registers (xl aborting in pthread_mutex_lock, segfaults
	# in __cxa_finalize: 4 in ~600 xl runs); with xsave=0, none in 600,
	# and the lab runs faster (docs/xenlab.md).
	qemu-system-x86_64 -accel tcg -machine pc -cpu "$CPU" -smp "$smp" -m "${mem}M" \
	    -nodefaults -display none -no-reboot \
	    -kernel "$XEN" \
	    -append "console=com1 com1=115200,8n1 dom0_mem=${dom0mem}M,max:${dom0mem}M smap=0 smep=0 xsave=0${XENLAB_XEN_ARGS:+ $XENLAB_XEN_ARGS}" \
	    -initrd "$KDIR/vmlinuz console=hvc0 earlyprintk=xen loglevel=4${XENLAB_DOM0_ARGS:+ $XENLAB_DOM0_ARGS},$initrd" \
	    -chardev file,id=con,path="$d/console.log" -serial chardev:con \
	    -chardev socket,id=ctl,path="$d/ctl.sock",server=on,wait=off \
	    -serial chardev:ctl \
	    -qmp unix:"$d/qmp.sock",server=on,wait=off \
	    -daemonize -pidfile "$d/qemu.pid" \
	    </dev/null >/dev/null 2>"$d/qemu.err" ||
	    { cat "$d/qemu.err" >&2; die "qemu did not start"; }
	pid=$(cat "$d/qemu.pid")
	n=$(awk -v t="$BOOT_TIMEOUT" 'BEGIN { print t * 10 }')
	while :; do
		tr -d '\r' <"$d/console.log" 2>/dev/null | grep -qa '^VOUCH-XEN-DOM0-READY' && break
		if ! ours "$pid" "$d"; then
			console_tail "$d"; die "qemu exited before dom0 was ready"
		fi
		n=$((n - 1))
		[ $n -gt 0 ] || { console_tail "$d"; die "no VOUCH-XEN-DOM0-READY within ${BOOT_TIMEOUT}s"; }
		sleep 0.1
	done
	up=$(tr -d '\r' <"$d/console.log" | sed -n 's/^VOUCH-XEN-DOM0-READY uptime \([0-9.]*\) .*/\1/p' | head -n1)
	if ! python3 "$GUESTCTL" cmd "$d/ctl.sock" "xl list" "$CMD_TIMEOUT" >"$d/xl-list.out" 2>&1; then
		cat "$d/xl-list.out" >&2
		console_tail "$d"; die "xl list does not answer in dom0"
	fi
	grep -q '^Domain-0 ' "$d/xl-list.out" || { cat "$d/xl-list.out" >&2; die "xl list lacks Domain-0"; }
	t1=$(elapsed "$t0")
	trap - EXIT
	echo "boot: $t1 s (dom0 init at ${up:-?} s of dom0 uptime)"
}

cmd_cmd() {
	[ $# -ge 2 ] || usage
	local d t=$CMD_TIMEOUT rc=0
	d=$(abs "$1"); shift
	if [ "$1" = --timeout ]; then t=${2:?--timeout S}; shift 2; fi
	[ $# -ge 1 ] || usage
	[ -S "$d/ctl.sock" ] || die "$d: no ctl.sock (lab not started?)"
	python3 "$GUESTCTL" cmd "$d/ctl.sock" "$*" "$t" || rc=$?
	return $rc
}

cmd_domu_start() {
	[ $# -eq 1 ] || usage
	local d t0 end rc=0
	d=$(abs "$1")
	t0=$(now)
	cmd_cmd "$d" xl create /etc/xen/lab.cfg >"$d/xl-create.out" 2>&1 || rc=$?
	# Before xsave=0, about one xl run in a hundred aborted in its first
	# pthread_mutex_lock ("Assertion `!r' failed", 134) before doing
	# anything (docs/xenlab.md): should it recur, retry once and say so.
	if [ $rc -eq 134 ] && grep -q Assertion "$d/xl-create.out" &&
	    ! cmd_cmd "$d" xl domid lab >/dev/null 2>&1; then
		echo "xenlab.sh: xl create aborted ($(grep -m1 Assertion "$d/xl-create.out")): retried" >&2
		rc=0
		cmd_cmd "$d" xl create /etc/xen/lab.cfg >"$d/xl-create.out" 2>&1 || rc=$?
	fi
	cat "$d/xl-create.out"
	[ $rc -eq 0 ] || die "xl create failed ($rc)"
	end=$(awk -v t="$t0" -v n="$DOMU_TIMEOUT" 'BEGIN { printf "%d", t + n }')
	while :; do
		rc=0
		cmd_cmd "$d" --timeout 30 "grep -q '^VOUCH-TICK' /var/log/xen/console/guest-lab.log" \
		    >/dev/null 2>&1 || rc=$?
		[ $rc -ne 0 ] || break
		if [ "$(date +%s)" -ge "$end" ]; then
			cmd_cmd "$d" "xl list; tail -n 20 /var/log/xen/console/guest-lab.log" >&2 || true
			die "no VOUCH-TICK from the domU within ${DOMU_TIMEOUT}s"
		fi
		sleep 1
	done
	echo "domU: $(elapsed "$t0") s"
}

cmd_domu_cmd() {
	[ $# -ge 2 ] || usage
	local d t=$CMD_TIMEOUT b64
	d=$(abs "$1"); shift
	if [ "$1" = --timeout ]; then t=${2:?--timeout S}; shift 2; fi
	[ $# -ge 1 ] || usage
	case $t in *[!0-9]*|'') die "--timeout takes whole seconds" ;; esac
	b64=$(printf '%s' "$*" | base64 -w0)
	cmd_cmd "$d" --timeout $((t + 10)) "xenlab-domu $t lab $b64"
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
build) build; echo "$XC" ;;
start) cmd_start "$@" ;;
cmd) cmd_cmd "$@" ;;
domu-start) cmd_domu_start "$@" ;;
domu-cmd) cmd_domu_cmd "$@" ;;
stop) cmd_stop "$@" ;;
-h|--help|help) usage ;;
*) usage ;;
esac
