#!/bin/bash
# Integration: vouchctl tpm (init, quote, pcrread, handles) against swtpm,
# interop with tpm2-tools 5.4 both ways, real (not obfuscated) reset
# counters, and no handle leaks across 10,000 quotes.
. "$(dirname "$0")/../lib.sh"

for c in swtpm swtpm_setup tpm2_checkquote tpm2_print tpm2_pcrextend \
    tpm2_getcap jq openssl; do
	command -v "$c" >/dev/null || { echo "1..0 # SKIP $c not installed"; exit 0; }
done
[ -x "$VOUCHCTL" ] || { echo "Bail out! $VOUCHCTL not built"; exit 1; }

lab_swtpm_start 2
V=$VOUCHCTL
E=$TMP/ecc R=$TMP/rsa
NONCE=0123456789abcdef0123456789abcdef
export TPM2TOOLS_TCTI=${TCTI[0]}
unset VOUCH_TCTI

# reset_count MSG: resetCount of the TPMS_ATTEST in MSG
reset_count() { tpm2_print -t TPMS_ATTEST "$1" | awk '$1 == "resetCount:" { print $2 }'; }
# flip FILE OFFSET: xor one byte
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x5a)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# --- init -----------------------------------------------------------------
check "init ecc" $V tpm init --state "$E" --tcti "${TCTI[0]}"
check_grep "ak.pem" "init says where ak.pem is"
ok=1
for f in ak.pub ak.priv ak.pem ak.name ek.pem ek-cert.der; do
	[ -s "$E/$f" ] || { ok=0; echo "# missing $E/$f"; }
done
[ $ok = 1 ] && tap_ok "init ecc writes the state files" ||
    tap_fail "init ecc writes the state files"
check "ecc ak.pem parses" openssl pkey -pubin -in "$E/ak.pem" -noout
openssl pkey -pubin -in "$E/ak.pem" -noout -text >"$TMP/akt" 2>&1
grep -q "prime256v1" "$TMP/akt" && tap_ok "ecc AK is P-256" ||
    tap_fail "ecc AK is P-256" "$(head -3 "$TMP/akt")"
[ "$(stat -c %a "$E")" = 700 ] && tap_ok "state dir mode 0700" ||
    tap_fail "state dir mode 0700" "$(stat -c %a "$E")"
grep -qE '^000b[0-9a-f]{64}$' "$E/ak.name" && tap_ok "ak.name is a sha256 name" ||
    tap_fail "ak.name is a sha256 name" "$(cat "$E/ak.name")"
# the EK certificate certifies the re-created EK and chains to the lab CA
openssl x509 -inform der -in "$E/ek-cert.der" -out "$TMP/ekc.pem" 2>/dev/null
check "ecc EK certificate chains to the lab CA" \
    openssl verify -CAfile "$LAB_DIR/ca/ca.pem" "$TMP/ekc.pem"
if cmp -s <(openssl x509 -in "$TMP/ekc.pem" -pubkey -noout) "$E/ek.pem"; then
	tap_ok "ecc EK certificate is for ek.pem"
else tap_fail "ecc EK certificate is for ek.pem"; fi
check_exit 2 "init refuses to replace an AK" $V tpm init --state "$E" --tcti "${TCTI[0]}"
check_grep "exists" "refusal says the AK exists"

t0=$(date +%s%N)
check "init rsa" $V tpm init --state "$R" --ak rsa --tcti "${TCTI[1]}"
echo "# RSA-2048 AK init: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
check "rsa ak.pem parses" openssl pkey -pubin -in "$R/ak.pem" -noout
openssl pkey -pubin -in "$R/ak.pem" -noout -text 2>&1 | grep -q "2048 bit" &&
    tap_ok "rsa AK is 2048 bit" || tap_fail "rsa AK is 2048 bit"
openssl x509 -inform der -in "$R/ek-cert.der" -pubkey -noout 2>/dev/null |
    cmp -s - "$R/ek.pem" && tap_ok "rsa EK certificate is for ek.pem" ||
    tap_fail "rsa EK certificate is for ek.pem"

# --force makes a new AK: a new name
old=$(cat "$R/ak.name")
check "init --force replaces the AK" $V tpm init --state "$R" --ak rsa --force --tcti "${TCTI[1]}"
[ "$(cat "$R/ak.name")" != "$old" ] && tap_ok "forced init made a new AK" ||
    tap_fail "forced init made a new AK"

# --- usage errors -----------------------------------------------------------
check_exit 2 "quote without --nonce" $V tpm quote --state "$E" --pcrs sha256:0 --tcti "${TCTI[0]}"
check_exit 2 "quote with a bad nonce" $V tpm quote --state "$E" --nonce 0g --pcrs sha256:0 --tcti "${TCTI[0]}"
check_exit 2 "quote with a 65-byte nonce" $V tpm quote --state "$E" \
    --nonce "$(printf '%0130d' 0)" --pcrs sha256:0 --tcti "${TCTI[0]}"
check_exit 2 "quote with a bad selection" $V tpm quote --state "$E" --nonce 00 --pcrs sha256:24 --tcti "${TCTI[0]}"
check_exit 2 "quote with a missing state dir" $V tpm quote --state "$TMP/nope" --nonce 00 --pcrs sha256:0 --tcti "${TCTI[0]}"
check_exit 2 "quote of an unallocated bank" $V tpm quote --state "$E" --nonce 00 --pcrs sha1:0 --tcti "${TCTI[0]}"
check_grep "sha1" "unallocated bank error names the bank"
check_exit 2 "init --ak dsa" $V tpm init --state "$TMP/x" --ak dsa
check_exit 2 "unknown subcommand" $V tpm frobnicate
check "tpm --help" $V tpm --help
check "tpm quote --help" $V tpm quote --help
check_exit 1 "unreachable TPM via \$VOUCH_TCTI" \
    env VOUCH_TCTI="swtpm:host=127.0.0.1,port=1" $V tpm handles
check_grep "port=1" "TPM error names the TCTI"

# --- quote -------------------------------------------------------------------
tpm2_pcrextend -T "${TCTI[0]}" 23:sha256=$(printf abc | sha256sum | cut -c1-64) >/dev/null
check "quote ecc" $V tpm quote --state "$E" --nonce $NONCE --pcrs sha256:0-7,23 \
    --tcti "${TCTI[0]}" --host hostA -o "$TMP/ev.json" --tpm2-tools "$TMP/q"
if [ "$(jq -r '.format + " " + .nonce + " " + .pcr_selection + " " + .host' "$TMP/ev.json" 2>&1)" = \
    "vouch-evidence $NONCE sha256:0-7,23 hostA" ]; then
	tap_ok "evidence JSON reads with jq"
else tap_fail "evidence JSON reads with jq" "$(head -c 300 "$TMP/ev.json")"; fi
want=$($V tpm pcrread --tcti "${TCTI[0]}" --json sha256:23 | jq -r '.sha256."23"')
[ "$want" = 589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d ] &&
    tap_ok "pcrread shows the extended PCR 23" || tap_fail "pcrread shows the extended PCR 23" "$want"
[ "$(jq -r '.pcrs.sha256."23"' "$TMP/ev.json")" = "$want" ] &&
    tap_ok "evidence carries PCR 23" || tap_fail "evidence carries PCR 23"
# the .msg is the evidence's attest, byte for byte
[ "$(jq -r .quote.attest "$TMP/ev.json")" = "$(base64 -w0 "$TMP/q.msg")" ] &&
    tap_ok "PREFIX.msg equals the evidence's attest" || tap_fail "PREFIX.msg equals the evidence's attest"
$V tpm quote --state "$E" --nonce $NONCE --pcrs sha256:0 --tcti "${TCTI[0]}" >"$TMP/stdout.json" 2>"$TMP/err"
jqe '.quote.signature' "$TMP/stdout.json" >/dev/null && tap_ok "quote writes to stdout by default" ||
    tap_fail "quote writes to stdout by default" "$(cat "$TMP/err")"

check "tpm2_checkquote accepts the ecc quote" tpm2_checkquote -u "$E/ak.pem" \
    -m "$TMP/q.msg" -s "$TMP/q.sig" -f "$TMP/q.pcrs" -g sha256 -q $NONCE
check_exit 1 "tpm2_checkquote rejects another nonce" tpm2_checkquote -u "$E/ak.pem" \
    -m "$TMP/q.msg" -s "$TMP/q.sig" -f "$TMP/q.pcrs" -g sha256 -q ${NONCE%??}00
cp "$TMP/q.msg" "$TMP/m.msg"; cp "$TMP/q.sig" "$TMP/m.sig"; cp "$TMP/q.pcrs" "$TMP/m.pcrs"
flip "$TMP/m.msg" 60
check_exit 1 "tpm2_checkquote rejects a flipped byte in .msg" tpm2_checkquote -u "$E/ak.pem" \
    -m "$TMP/m.msg" -s "$TMP/q.sig" -f "$TMP/q.pcrs" -g sha256 -q $NONCE
flip "$TMP/m.sig" 20
check_exit 1 "tpm2_checkquote rejects a flipped byte in .sig" tpm2_checkquote -u "$E/ak.pem" \
    -m "$TMP/q.msg" -s "$TMP/m.sig" -f "$TMP/q.pcrs" -g sha256 -q $NONCE
flip "$TMP/m.pcrs" 700
check_exit 1 "tpm2_checkquote rejects a flipped PCR value" tpm2_checkquote -u "$E/ak.pem" \
    -m "$TMP/q.msg" -s "$TMP/q.sig" -f "$TMP/m.pcrs" -g sha256 -q $NONCE

# RSA, all 24 PCRs: three PCR_Read calls, three digest lists
check "quote rsa, 24 PCRs" $V tpm quote --state "$R" --nonce $NONCE --pcrs sha256:all \
    --tcti "${TCTI[1]}" -o "$TMP/evr.json" --tpm2-tools "$TMP/r"
check "tpm2_checkquote accepts the rsa 24-PCR quote" tpm2_checkquote -u "$R/ak.pem" \
    -m "$TMP/r.msg" -s "$TMP/r.sig" -f "$TMP/r.pcrs" -g sha256 -q $NONCE
flip "$TMP/r.sig" 100
check_exit 1 "tpm2_checkquote rejects a flipped byte in the rsa .sig" tpm2_checkquote \
    -u "$R/ak.pem" -m "$TMP/r.msg" -s "$TMP/r.sig" -f "$TMP/r.pcrs" -g sha256 -q $NONCE

# --- counters are real: a reboot shows as resetCount + 1 ----------------------
rc0=$(reset_count "$TMP/q.msg")
if "$ROOT/tools/lab/swtpm.sh" reset "$LAB_DIR" 0 >"$TMP/reset.log" 2>&1; then
	tap_ok "swtpm.sh reset"
else tap_fail "swtpm.sh reset" "$(cat "$TMP/reset.log")"; fi
check "quote after the reboot" $V tpm quote --state "$E" --nonce $NONCE --pcrs sha256:0-7,23 \
    --tcti "${TCTI[0]}" -o /dev/null --tpm2-tools "$TMP/q2"
rc1=$(reset_count "$TMP/q2.msg")
if [ -n "$rc0" ] && [ -n "$rc1" ] && [ "$rc1" -eq $((rc0 + 1)) ]; then
	tap_ok "resetCount $rc0 -> $rc1 across a reboot (not obfuscated)"
else tap_fail "resetCount +1 across a reboot" "before '$rc0' after '$rc1'"; fi
[ "$(jq -r '.pcrs.sha256."23"' <($V tpm quote --state "$E" --nonce 00 --pcrs sha256:23 --tcti "${TCTI[0]}"))" = \
    0000000000000000000000000000000000000000000000000000000000000000 ] &&
    tap_ok "the reboot reset PCR 23" || tap_fail "the reboot reset PCR 23"

# --- PCRs extended while quoting: every quote matches the values read --------
( while :; do tpm2_pcrextend -T "${TCTI[0]}" 16:sha256=$(printf '%064d' $RANDOM) >/dev/null 2>&1; done ) &
ext=$!
at_exit "kill $ext"
check "300 quotes while PCR 16 is being extended" $V tpm quote --state "$E" --nonce $NONCE \
    --pcrs sha256:16 --count 300 --tcti "${TCTI[0]}" -o /dev/null --tpm2-tools "$TMP/race"
kill $ext; wait $ext 2>/dev/null
check "tpm2_checkquote accepts the last of them" tpm2_checkquote -u "$E/ak.pem" \
    -m "$TMP/race.msg" -s "$TMP/race.sig" -f "$TMP/race.pcrs" -g sha256 -q $NONCE

# --- no handle leaks ----------------------------------------------------------
t0=$(date +%s%N)
check "10,000 quotes with one AK" $V tpm quote --state "$E" --nonce $NONCE \
    --pcrs sha256:0-7,23 --count 10000 --tcti "${TCTI[0]}" -o /dev/null
echo "# $(grep -o '[0-9]* quotes in .*' "$TMP/last.out")"
check "vouchctl tpm handles" $V tpm handles --tcti "${TCTI[0]}" --json
if [ "$(jq -c . "$TMP/last.out")" = '{"transient_objects":0,"sessions":0}' ]; then
	tap_ok "0 transient objects and 0 sessions after 10,000 quotes"
else tap_fail "0 transient objects and 0 sessions" "$(cat "$TMP/last.out")"; fi
n=$(tpm2_getcap -T "${TCTI[0]}" handles-transient | grep -c 0x)
s=$(tpm2_getcap -T "${TCTI[0]}" handles-loaded-session | grep -c 0x)
[ "$n" = 0 ] && [ "$s" = 0 ] && tap_ok "tpm2_getcap agrees: no transient handles, no sessions" ||
    tap_fail "tpm2_getcap agrees" "$n transient, $s sessions"
$V tpm handles --tcti "${TCTI[1]}" >"$TMP/h1"
grep -q "transient objects: 0" "$TMP/h1" && grep -q "sessions: 0" "$TMP/h1" &&
    tap_ok "no leaks on the rsa TPM either (init, errors, quotes)" ||
    tap_fail "no leaks on the rsa TPM" "$(cat "$TMP/h1")"
# a leak is visible: tpm2-tools leave an object loaded, and handles says so
tpm2_createprimary -T "${TCTI[1]}" -C o -c "$TMP/p.ctx" >/dev/null 2>&1
$V tpm handles --tcti "${TCTI[1]}" >"$TMP/h2"
grep -q "transient objects: 1" "$TMP/h2" && tap_ok "handles counts a loaded object" ||
    tap_fail "handles counts a loaded object" "$(cat "$TMP/h2")"

echo "1..$_tap_n"
