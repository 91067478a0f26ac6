#!/bin/bash
# tools/guest/fwlog.sh - capture a real UEFI firmware event log.
#
#   tools/guest/fwlog.sh OUTDIR
#
# Boots Debian's kernel under QEMU (TCG) with OVMF and a fresh swtpm, and
# a tiny busybox initramfs that prints the kernel's
# binary_bios_measurements and the sha256 PCR values, then powers off.
# Writes:
#	OUTDIR/binary_bios_measurements	the firmware log, as the kernel saw it
#	OUTDIR/pcrs.txt			"N hex" for sha256 PCRs 0..23
#	OUTDIR/ascii_runtime_measurements	the kernel's IMA log (PCR 10:
#					boot_aggregate), if the guest has one
#	OUTDIR/console.log		the guest's console (for debugging)
#
# Only Debian packages: ovmf, qemu-system-x86, swtpm, busybox-static and
# the kernel from tools/guest/kernel.sh.  The guest writes its results to
# a second serial port (ttyS1) so kernel messages on the console
# (ttyS0) can never interleave with the data.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:?usage: fwlog.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CACHE=${VOUCH_CACHE:-$ROOT/build/cache}
BOOT_TIMEOUT=${FWLOG_TIMEOUT:-180}
OVMF=/usr/share/ovmf/OVMF.fd
BUSYBOX=/bin/busybox

die() { echo "fwlog.sh: $*" >&2; exit 1; }
for f in "$OVMF" "$BUSYBOX"; do [ -f "$f" ] || die "$f missing (make deps)"; done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing"
command -v swtpm >/dev/null || die "swtpm missing"
command -v cpio >/dev/null || die "cpio missing"

kdir=$("$ROOT/tools/guest/kernel.sh" "$CACHE") || die "kernel fetch failed"

# swtpm's state path must be absolute: it may chdir.
work=$(mktemp -d /tmp/vouch-fwlog.XXXXXX)
swtpm_pid=
cleanup() {
	[ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null && wait "$swtpm_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# --- initramfs ----------------------------------------------------------
initrd="$CACHE/fwlog-initrd.cpio.gz"
# Rebuilt when this script or busybox changes (the /init text lives here).
stamp=$(cat "$0" "$BUSYBOX" | sha256sum | cut -c1-16)
if [ ! -f "$initrd" ] || [ "$(cat "$initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
	r="$work/rootfs"
	mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev"
	cp "$BUSYBOX" "$r/bin/busybox"
	cat >"$r/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t securityfs securityfs /sys/kernel/security
out=/dev/ttyS1
log=/sys/kernel/security/tpm0/binary_bios_measurements
{
	if [ -r "$log" ]; then
		echo "VOUCH-EVENTLOG-BEGIN"
		base64 "$log"
		echo "VOUCH-EVENTLOG-END"
	else
		echo "VOUCH-ERROR no $log"
	fi
	ima=/sys/kernel/security/ima/ascii_runtime_measurements
	if [ -r "$ima" ]; then
		echo "VOUCH-IMALOG-BEGIN"
		base64 "$ima"
		echo "VOUCH-IMALOG-END"
	fi
	echo "VOUCH-PCRS-BEGIN"
	n=0
	while [ $n -lt 24 ]; do
		f=/sys/class/tpm/tpm0/pcr-sha256/$n
		[ -r $f ] && echo "$n $(cat $f)"
		n=$((n + 1))
	done
	echo "VOUCH-PCRS-END"
} >$out 2>&1
sync
poweroff -f
EOF
	chmod 755 "$r/init"
	(cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	echo "$stamp" >"$initrd.stamp"
fi

# --- swtpm (fresh state per boot: PCRs start at reset values) ------------
mkdir -p "$work/tpm"
sock="$work/tpm/ctrl.sock"
swtpm socket --tpm2 --tpmstate dir="$work/tpm" \
    --ctrl type=unixio,path="$sock" --log file="$work/swtpm.log" \
    --terminate &
swtpm_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || die "swtpm did not create $sock"

# --- boot ---------------------------------------------------------------
start=$(date +%s.%N)
rc=0
timeout "$BOOT_TIMEOUT" qemu-system-x86_64 -accel tcg -machine q35 -m 512 \
    -bios "$OVMF" -display none -monitor none -no-reboot \
    -chardev socket,id=chrtpm,path="$sock" \
    -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
    -kernel "$kdir/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 loglevel=4 panic=-1" \
    -serial file:"$OUT/console.log" -serial file:"$work/data.log" \
    </dev/null >"$work/qemu.out" 2>&1 || rc=$?
end=$(date +%s.%N)
[ $rc -eq 0 ] || { cat "$work/qemu.out" >&2; tail -n 20 "$OUT/console.log" >&2
	die "qemu exited with $rc (124 = timeout after ${BOOT_TIMEOUT}s)"; }

data="$work/data.log"
tr -d '\r' <"$data" >"$data.clean"
grep -q '^VOUCH-EVENTLOG-END' "$data.clean" || {
	tail -n 20 "$OUT/console.log" >&2; cat "$data.clean" >&2
	die "the guest printed no event log"; }
sed -n '/^VOUCH-EVENTLOG-BEGIN/,/^VOUCH-EVENTLOG-END/p' "$data.clean" |
    sed '1d;$d' | tr -d '\n' | base64 -d >"$OUT/binary_bios_measurements.tmp"
sed -n '/^VOUCH-PCRS-BEGIN/,/^VOUCH-PCRS-END/p' "$data.clean" | sed '1d;$d' |
    tr 'A-F' 'a-f' >"$OUT/pcrs.txt.tmp"
if grep -q '^VOUCH-IMALOG-END' "$data.clean"; then
	sed -n '/^VOUCH-IMALOG-BEGIN/,/^VOUCH-IMALOG-END/p' "$data.clean" |
	    sed '1d;$d' | tr -d '\n' | base64 -d >"$OUT/ascii_runtime_measurements"
fi
[ -s "$OUT/binary_bios_measurements.tmp" ] || die "empty event log"
[ "$(wc -l <"$OUT/pcrs.txt.tmp")" -eq 24 ] || die "expected 24 PCR values"
mv "$OUT/binary_bios_measurements.tmp" "$OUT/binary_bios_measurements"
mv "$OUT/pcrs.txt.tmp" "$OUT/pcrs.txt"
awk -v s="$start" -v e="$end" -v n="$(stat -c %s "$OUT/binary_bios_measurements")" \
    'BEGIN { printf "fwlog.sh: %d-byte event log, boot took %.1f s\n", n, e - s }' >&2
