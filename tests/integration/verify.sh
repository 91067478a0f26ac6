#!/bin/bash
# Integration: vouchctl verify against real swtpm quotes.
#
# A simulated host: a firmware event log (built here, its events really
# extended into the swtpm's PCRs), a runtime log from `vouchctl measure`,
# reference values from `vouchctl policy refvals`, a quote from
# `vouchctl tpm quote`.  Then PASS, and every FAIL with its own reason:
# wrong nonce, wrong AK, a flipped byte in the quote and in the signature,
# a changed PCR value, log entries not in the reference values, log replay
# mismatches (the TPM extended with something no log explains), a replayed
# quote and a reboot without the boot log (--history); and malformed
# input files exit 2 with a clear message and no sanitizer report.
. "$(dirname "$0")/../lib.sh"

for c in swtpm swtpm_setup tpm2_pcrextend jq python3 openssl; do
	command -v "$c" >/dev/null || { echo "1..0 # SKIP $c not installed"; exit 0; }
done
[ -x "$VOUCHCTL" ] || { echo "Bail out! $VOUCHCTL not built"; exit 1; }

lab_swtpm_start 1
V=$VOUCHCTL
T=${TCTI[0]}
S=$TMP/state
NONCE=00112233445566778899aabbccddeeff0011223344556677
export TPM2TOOLS_TCTI=$T
unset VOUCH_TCTI

# no_asan: the last command's output has no sanitizer report
no_asan() {
	if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$TMP/last.out"; then
		tap_fail "$1" "sanitizer report"; sed 's/^/    # /' "$TMP/last.out" | head -20
	else tap_ok "$1"; fi
}

# b64_flip FILE JQPATH OFFSET: xor one byte of a base64 field in place
b64_flip() {
	local v
	v=$(jq -r "$2" "$1" | python3 -c '
import base64, sys
b = bytearray(base64.b64decode(sys.stdin.read().strip()))
b[int(sys.argv[1])] ^= 0x01
print(base64.b64encode(bytes(b)).decode())' "$3") || return 1
	jq --arg v "$v" "$2 = \$v" "$1" >"$1.new" && mv "$1.new" "$1"
}

# --- a host: event log, TPM extends, runtime log ---------------------------
# The event log: Spec ID header (SHA-1 format), then TCG_PCR_EVENT2 events
# with one sha256 digest each.  Each event's digest is really extended
# into the swtpm, as firmware would.
python3 - "$TMP/eventlog.bin" "$TMP/extends" <<'EOF'
import hashlib, struct, sys
events = [(0, 0x08, b"crtm-version-1"), (0, 0x01, b"post-code"),
          (1, 0x0A, b"platform-flags"), (4, 0x80000003, b"grubx64.efi"),
          (4, 0x0D, b"xen.gz"), (7, 0x800000E0, b"db-cert")]
events += [(p, 0x04, b"\0\0\0\0") for p in range(8)]
spec = (b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1) +
        struct.pack("<HH", 0x000B, 32) + b"\0")
out = struct.pack("<II", 0, 3) + b"\0" * 20 + struct.pack("<I", len(spec)) + spec
ext = []
for pcr, typ, data in events:
    d = hashlib.sha256(data).digest()
    out += struct.pack("<IIIH", pcr, typ, 1, 0x000B) + d
    out += struct.pack("<I", len(data)) + data
    ext.append("%d:sha256=%s" % (pcr, d.hex()))
open(sys.argv[1], "wb").write(out)
open(sys.argv[2], "w").write("\n".join(ext) + "\n")
EOF
ok=1
while read -r x; do tpm2_pcrextend "$x" >/dev/null 2>&1 || ok=0; done <"$TMP/extends"
[ $ok = 1 ] && tap_ok "firmware events extended into the swtpm" ||
    tap_fail "firmware events extended into the swtpm"

mkdir -p "$TMP/files"
for f in xen.gz xl qemu; do echo "contents of $f" >"$TMP/files/$f"; done
check "measure: runtime log" $V measure --tcti "$T" --log "$TMP/rt.log" \
    "$TMP/files/xen.gz" "$TMP/files/xl" "$TMP/files/qemu"

check "tpm init" $V tpm init --state "$S" --tcti "$T"
check "second AK (another host)" $V tpm init --state "$TMP/other" --tcti "$T"

cat >"$TMP/template.cfg" <<'EOF'
version = 1;
name = "verify-it";
attestation = { pcrs = "sha256:0-7,23"; runtime_pcr = 23; ak = "ecc"; };
EOF
check "policy refvals from the known-good host" $V policy refvals \
    --template "$TMP/template.cfg" --eventlog "$TMP/eventlog.bin" \
    --runtime-log "$TMP/rt.log" -o "$TMP/policy.cfg"

# quote OUT: a fresh quote of this host into OUT (evidence JSON)
quote() {
	$V tpm quote --state "$S" --tcti "$T" --nonce "$NONCE" \
	    --pcrs sha256:0-7,23 --eventlog "$TMP/eventlog.bin" \
	    --runtime-log "$TMP/rt.log" -o "$1"
}
check "tpm quote" quote "$TMP/ev.json"
EV=$TMP/ev.json
AK=$S/ak.pem

# --- PASS --------------------------------------------------------------------
check "verify PASS" $V verify "$EV" --ak "$AK" --nonce "$NONCE" --policy "$TMP/policy.cfg"
check_grep '^PASS$' "verdict line PASS"
check_grep '^  signature +ok$' "signature ok"
check_grep '^  refvals +ok$' "refvals ok (with policy)"
check_grep '^  counters +skipped \(' "counters skipped without history"
check "verify PASS --json" $V verify "$EV" --ak "$AK" --nonce "$NONCE" --policy "$TMP/policy.cfg" --json
if jqe '.result == "PASS" and (.checks | length) == 9 and
    ([.checks[] | select(.status == "fail")] | length) == 0' "$TMP/last.out" >/dev/null; then
	tap_ok "--json: result PASS, 9 checks, none failing"
else tap_fail "--json: result PASS, 9 checks, none failing"; head -20 "$TMP/last.out" | sed 's/^/    # /'; fi
check "verify PASS without policy" $V verify "$EV" --ak "$AK" --nonce "$NONCE"
check_grep '^  refvals +skipped \(no policy\)' "refvals skipped without policy"
check "verify PASS from stdin" sh -c "'$V' verify - --ak '$AK' --nonce '$NONCE' <'$EV'"

# --- FAIL, one reason each -----------------------------------------------------
check_exit 1 "wrong nonce: FAIL" $V verify "$EV" --ak "$AK" --nonce "${NONCE%??}00"
check_grep '^  nonce +FAIL$' "wrong nonce: the nonce check fails"
check_grep 'quote extraData .* is not the expected nonce' "wrong nonce: reason"

check_exit 1 "wrong AK: FAIL" $V verify "$EV" --ak "$TMP/other/ak.pem" --nonce "$NONCE"
check_grep 'ECDSA-SHA256 signature does not verify with the AK' "wrong AK: reason"

cp "$EV" "$TMP/flip-attest.json"
b64_flip "$TMP/flip-attest.json" .quote.attest 40
check_exit 1 "flipped byte in the quote: FAIL" $V verify "$TMP/flip-attest.json" --ak "$AK" --nonce "$NONCE"
check_grep '^  signature +FAIL$' "flipped quote: the signature check fails"

cp "$EV" "$TMP/flip-sig.json"
b64_flip "$TMP/flip-sig.json" .quote.signature 20
check_exit 1 "flipped byte in the signature: FAIL" $V verify "$TMP/flip-sig.json" --ak "$AK" --nonce "$NONCE"
check_grep 'signature does not verify' "flipped signature: reason"

jq '.pcrs.sha256["4"] = "1111111111111111111111111111111111111111111111111111111111111111"' \
    "$EV" >"$TMP/pcr.json"
check_exit 1 "PCR value changed: FAIL" $V verify "$TMP/pcr.json" --ak "$AK" --nonce "$NONCE"
check_grep 'pcr-digest +FAIL' "PCR value changed: the pcr-digest check fails"
check_grep 'a PCR value in the evidence is not the quoted one' "PCR value changed: reason"
check_grep 'sha256 PCR 4: event log replays to' "PCR value changed: the log no longer explains it"

# Reference values without one runtime file and one boot event.
xl=$(sha256sum "$TMP/files/xl" | cut -c1-64)
grub=$(python3 -c 'import hashlib; print(hashlib.sha256(b"grubx64.efi").hexdigest())')
grep -v -e "$xl" -e "$grub" "$TMP/policy.cfg" >"$TMP/policy-less.cfg"
if cmp -s "$TMP/policy.cfg" "$TMP/policy-less.cfg"; then
	tap_fail "policy without xl and grub differs" "digests not found in $TMP/policy.cfg"
else tap_ok "policy without xl and grub differs"; fi
check_exit 1 "log entries not in the reference values: FAIL" $V verify "$EV" \
    --ak "$AK" --nonce "$NONCE" --policy "$TMP/policy-less.cfg"
check_grep "runtime log line 2: .*/files/xl is not in the reference values" \
    "runtime entry not in the reference values: reason names line and path"
check_grep 'event log entry 4 \(PCR 4, EV_EFI_BOOT_SERVICES_APPLICATION' \
    "boot event not in the reference values: reason names the entry"
check_grep '^  signature +ok$' "...while the quote itself is fine"

# A garbage event log inside otherwise valid evidence: a FAIL verdict.
jq '.event_log = "AAAAAAAA"' "$EV" >"$TMP/badlog.json"
check_exit 1 "evidence with a garbage event log: FAIL" $V verify "$TMP/badlog.json" --ak "$AK" --nonce "$NONCE"
check_grep 'event log malformed' "garbage event log: reason"

# --- replay protection -------------------------------------------------------
H=$TMP/history
check "history: first quote accepted" $V verify "$EV" --ak "$AK" --nonce "$NONCE" --history "$H"
check_grep '^  counters +ok$' "history: counters checked"
[ -s "$H" ] && tap_ok "history file written" || tap_fail "history file written"
check_exit 1 "history: the same quote again is refused" $V verify "$EV" --ak "$AK" --nonce "$NONCE" --history "$H"
check_grep 'quote not newer than the last accepted \(replayed\?\)' "replayed quote: reason"
check "history: a fresh quote" quote "$TMP/ev2.json"
check "history: the fresh quote is accepted" $V verify "$TMP/ev2.json" --ak "$AK" --nonce "$NONCE" --history "$H"
check_exit 1 "history: the older quote is refused now" $V verify "$EV" --ak "$AK" --nonce "$NONCE" --history "$H"
echo "garbage" >"$TMP/badhist"
check_exit 2 "malformed history file: exit 2" $V verify "$EV" --ak "$AK" --nonce "$NONCE" --history "$TMP/badhist"
check_grep 'badhist:1: ' "malformed history: file:line"

# --- tampering the TPM sees: logs no longer replay ---------------------------
tpm2_pcrextend "23:sha256=$(printf unlogged | sha256sum | cut -c1-64)" >/dev/null 2>&1
tpm2_pcrextend "4:sha256=$(printf evil | sha256sum | cut -c1-64)" >/dev/null 2>&1
check "quote after tampering" quote "$TMP/tampered.json"
check_exit 1 "tampered host: FAIL" $V verify "$TMP/tampered.json" --ak "$AK" --nonce "$NONCE" --policy "$TMP/policy.cfg"
check_grep 'sha256 PCR 23: runtime log \(3 entries\) replays to' "runtime log replay mismatch: reason"
check_grep 'sha256 PCR 4: event log replays to' "event log replay mismatch: reason"
check_grep '^  pcr-digest +ok$' "...while the quote matches its PCR values"

# --- a reboot demands the full boot log ---------------------------------------
"$ROOT/tools/lab/swtpm.sh" reset "$LAB_DIR" 0 >/dev/null 2>&1
check "quote after a reboot (no logs yet)" $V tpm quote --state "$S" --tcti "$T" \
    --nonce "$NONCE" --pcrs sha256:0-7 -o "$TMP/reboot.json"
check_exit 1 "reboot without the event log: FAIL" $V verify "$TMP/reboot.json" --ak "$AK" --nonce "$NONCE" --history "$H"
check_grep 'a reboot demands the full boot log' "reboot: reason"

# --- malformed input: exit 2, a clear message, no sanitizer report ------------
head -c 300 "$EV" >"$TMP/trunc.json"
check_exit 2 "truncated evidence: exit 2" $V verify "$TMP/trunc.json" --ak "$AK" --nonce "$NONCE"
check_grep 'trunc.json: .*(truncated|ends early)' "truncated evidence: message names the file"
no_asan "truncated evidence: no sanitizer report"
head -c 4096 /dev/urandom >"$TMP/garbage.json"
check_exit 2 "garbage evidence: exit 2" $V verify "$TMP/garbage.json" --ak "$AK" --nonce "$NONCE"
check_grep 'garbage.json: ' "garbage evidence: message names the file"
no_asan "garbage evidence: no sanitizer report"
jq '.surprise = 1' "$EV" >"$TMP/unknown.json"
check_exit 2 "unknown key in evidence: exit 2" $V verify "$TMP/unknown.json" --ak "$AK" --nonce "$NONCE"
check_grep "unknown key 'surprise'" "unknown key: message names it"
jq '.pcrs.sha256["4"] = "00"' "$EV" >"$TMP/short.json"
check_exit 2 "short PCR value: exit 2" $V verify "$TMP/short.json" --ak "$AK" --nonce "$NONCE"
check_grep 'pcrs.sha256.4: 1 bytes, a sha256 PCR holds 32' "short PCR value: message names the field"
check_exit 2 "missing evidence file: exit 2" $V verify "$TMP/nope.json" --ak "$AK" --nonce "$NONCE"
check_exit 2 "bad nonce hex: exit 2" $V verify "$EV" --ak "$AK" --nonce xyz
check_grep 'verify: --nonce: ' "bad nonce: message names the option"
check_exit 2 "AK not a key: exit 2" $V verify "$EV" --ak "$TMP/garbage.json" --nonce "$NONCE"
check_grep 'not a PEM public key' "bad AK: message"
check_exit 2 "no arguments: exit 2" $V verify
check "verify --help" $V verify --help
check_grep 'Exit status: 0 PASS, 1 FAIL, 2' "help lists the exit codes"
head -c 200 "$TMP/eventlog.bin" >"$TMP/trunc.bin"
check_exit 2 "truncated event log file: exit 2" $V eventlog show "$TMP/trunc.bin"
no_asan "truncated event log file: no sanitizer report"
check_exit 2 "garbage event log file: exit 2" $V eventlog show "$TMP/garbage.json"
no_asan "garbage event log file: no sanitizer report"

echo "1..$_tap_n"
