#!/bin/bash
# make demo: one simulated host, end to end, against a real TPM 2.0 (swtpm).
#
#   tools/demo.sh [BUILD]
#
# Starts a swtpm, creates the EK and an AK under it, measures the host's
# hypervisor files into the runtime PCR (23) and an ima-ng log, writes a
# policy from that known-good state, quotes and verifies (PASS); then
# changes one measured file, re-measures, quotes and verifies again (FAIL,
# naming the file).  Then a guest VM (Debian's kernel under QEMU, KASLR
# on) is read from outside: its kernel profile and process list, a guard
# baseline, and a syscall-table hook written from outside that the next
# check reports.  Everything it starts is stopped on exit or Ctrl-C.
set -eu
B=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
V="$B/vouchctl"
W=$(mktemp -d /tmp/vouch-demo.XXXXXX)
cleanup() {
	"$ROOT/tools/guest/labguest.sh" stop "$W/guest" >/dev/null 2>&1 || true
	"$ROOT/tools/lab/swtpm.sh" stop "$W/lab" >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. a host with its own TPM (swtpm on loopback, EK certificate from a lab CA)"
"$ROOT/tools/lab/swtpm.sh" start 1 "$W/lab"
export VOUCH_TCTI=$(cat "$W/lab/tpm0/tcti")
echo "VOUCH_TCTI=$VOUCH_TCTI"

step "2. endorsement key + attestation key (ECC P-256, under the EK)"
run "$V" tpm init --state "$W/state"

step "3. the host's hypervisor files, measured into PCR 23 and an ima-ng log"
mkdir -p "$W/host/boot" "$W/host/usr/sbin" "$W/host/etc/xen"
cp /usr/bin/qemu-system-x86_64 "$W/host/usr/sbin/qemu-system-x86_64"
head -c 200000 /dev/urandom >"$W/host/boot/xen.gz"
printf 'autoballoon="off"\n' >"$W/host/etc/xen/xl.conf"
FILES=("$W/host/boot/xen.gz" "$W/host/usr/sbin/qemu-system-x86_64" "$W/host/etc/xen/xl.conf")
run "$V" measure --log "$W/runtime.log" "${FILES[@]}"

step "4. a policy with reference values taken from this known-good state"
cat >"$W/template.cfg" <<CFG
version = 1;
name = "demo-host";
attestation = { pcrs = "sha256:0-7,23"; runtime_pcr = 23; };
measure = { files = [ "${FILES[0]}", "${FILES[1]}", "${FILES[2]}" ]; };
CFG
run "$V" policy refvals --template "$W/template.cfg" --runtime-log "$W/runtime.log" -o "$W/policy.cfg"
run "$V" policy check "$W/policy.cfg"

step "5. a verifier's challenge: quote PCRs 0-7,23 with a fresh nonce, then verify"
NONCE=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
run "$V" tpm quote --state "$W/state" --nonce "$NONCE" --pcrs sha256:0-7,23 \
    --runtime-log "$W/runtime.log" --host demo-host -o "$W/evidence.json"
jq '{nonce, pcr_selection, pcrs: .pcrs.sha256 | with_entries(select(.key == "23"))}' "$W/evidence.json"
run "$V" verify "$W/evidence.json" --ak "$W/state/ak.pem" --nonce "$NONCE" \
    --policy "$W/policy.cfg" --history "$W/history"
cp "$W/evidence.json" "$W/evidence-good.json"; GOOD_NONCE=$NONCE

step "6. tamper: one byte of the hypervisor binary changes; the host re-measures"
printf '\x90' | dd of="$W/host/usr/sbin/qemu-system-x86_64" bs=1 seek=4096 conv=notrunc status=none
run "$V" measure --log "$W/runtime.log" "${FILES[@]}"

step "7. the next challenge: quote and verify again"
NONCE=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
run "$V" tpm quote --state "$W/state" --nonce "$NONCE" --pcrs sha256:0-7,23 \
    --runtime-log "$W/runtime.log" --host demo-host -o "$W/evidence.json"
set +e
run "$V" verify "$W/evidence.json" --ak "$W/state/ak.pem" --nonce "$NONCE" \
    --policy "$W/policy.cfg" --history "$W/history"
rc=$?
set -e
echo "(exit status $rc: 1 = FAIL)"

step "8. an attacker replays the old, genuine PASS evidence (with its own nonce)"
set +e
run "$V" verify "$W/evidence-good.json" --ak "$W/state/ak.pem" --nonce "$GOOD_NONCE" \
    --policy "$W/policy.cfg" --history "$W/history"
echo "(exit status $?: the TPM clock in the quote is older than the last accepted one)"
set -e

step "9. a guest VM (Debian 6.1 under QEMU/TCG, KASLR on, RAM in /dev/shm)"
run "$ROOT/tools/guest/labguest.sh" start "$W/guest" --bzimage
M="qemu-file:$(cat "$W/guest/ram.path")"

step "10. its kernel and processes, read from outside (no agent in the guest)"
run "$V" guest info --memory "$M"
run "$V" guest ps --memory "$M" | awk 'NR == 1 || $2 != 2'   # without kernel threads

step "11. a guard's baseline, then a rootkit-style hook of getppid written from outside"
run "$V" guard check --memory "$M" --state "$W/guard.json" --save
run "$B/tests/tools/vmi_tamper" "$M" hook-syscall 110 39
set +e
run "$V" guard check --memory "$M" --state "$W/guard.json"
echo "(exit status $?: 1 = findings)"
set -e
echo
echo "demo: done; stopping the guest and the swtpm"
