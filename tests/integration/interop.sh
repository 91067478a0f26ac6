#!/bin/bash
# Integration: the verifier interoperates with tpm2-tools 5.4 both ways.
#
#   vouchctl tpm quote --tpm2-tools P  ->  tpm2_checkquote accepts it
#                                          (and vouchctl verify --tpm2-tools)
#   tpm2_quote (tpm2-tools' own AK)    ->  vouchctl verify --tpm2-tools PASS
#   one flipped byte in .msg or .sig   ->  BOTH tools reject it
#
# Every quote comes from a real swtpm; nothing is faked.
. "$(dirname "$0")/../lib.sh"

for c in swtpm swtpm_setup tpm2_checkquote tpm2_quote tpm2_createek \
    tpm2_createak tpm2_flushcontext openssl; do
	command -v "$c" >/dev/null || { echo "1..0 # SKIP $c not installed"; exit 0; }
done
[ -x "$VOUCHCTL" ] || { echo "Bail out! $VOUCHCTL not built"; exit 1; }

lab_swtpm_start 2
V=$VOUCHCTL
NONCE=5eed0123456789abcdef0123456789abcdef
export TPM2TOOLS_TCTI=${TCTI[1]}
unset VOUCH_TCTI

# flip FILE OFFSET OUT: OUT = FILE with one byte xor'ed
flip() {
	local b
	cp "$1" "$3"
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x01)))" |
	    dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}

# tampered NAME PREFIX AK: a flipped byte in PREFIX.msg, then in PREFIX.sig,
# must make tpm2_checkquote and vouchctl verify both fail.
tampered() {
	local name=$1 p=$2 ak=$3 part off
	for part in msg sig; do
		off=30; [ $part = sig ] && off=12
		cp "$p.pcrs" "$TMP/t.pcrs"
		cp "$p.$([ $part = msg ] && echo sig || echo msg)" \
		    "$TMP/t.$([ $part = msg ] && echo sig || echo msg)"
		flip "$p.$part" $off "$TMP/t.$part"
		check_exit 1 "$name: flipped .$part: tpm2_checkquote rejects" \
		    tpm2_checkquote -u "$ak" -m "$TMP/t.msg" -s "$TMP/t.sig" \
		    -f "$TMP/t.pcrs" -g sha256 -q "$NONCE"
		check_exit 1 "$name: flipped .$part: vouchctl verify rejects" \
		    $V verify --tpm2-tools "$TMP/t" --ak "$ak" --nonce "$NONCE"
		check_grep '^  signature +FAIL$' "$name: flipped .$part: by the signature check"
	done
}

# --- vouchctl quotes, tpm2_checkquote verifies --------------------------------
for type in ecc rsa; do
	S=$TMP/state-$type
	P=$TMP/vq-$type
	check "vouchctl tpm init --ak $type" $V tpm init --state "$S" --ak $type --tcti "${TCTI[0]}"
	check "vouchctl tpm quote --tpm2-tools ($type)" $V tpm quote --state "$S" \
	    --tcti "${TCTI[0]}" --nonce "$NONCE" --pcrs sha256:0-7,23 \
	    --tpm2-tools "$P" -o "$TMP/ev-$type.json"
	check "tpm2_checkquote accepts the vouchctl quote ($type)" \
	    tpm2_checkquote -u "$S/ak.pem" -m "$P.msg" -s "$P.sig" -f "$P.pcrs" \
	    -g sha256 -q "$NONCE"
	check "vouchctl verify --tpm2-tools accepts it too ($type)" \
	    $V verify --tpm2-tools "$P" --ak "$S/ak.pem" --nonce "$NONCE"
	check_grep '^PASS$' "vouchctl verify --tpm2-tools PASS ($type)"
	check "the same quote as evidence JSON ($type)" \
	    $V verify "$TMP/ev-$type.json" --ak "$S/ak.pem" --nonce "$NONCE"
	check_exit 1 "tpm2_checkquote rejects a wrong nonce ($type)" \
	    tpm2_checkquote -u "$S/ak.pem" -m "$P.msg" -s "$P.sig" -f "$P.pcrs" \
	    -g sha256 -q "${NONCE%??}00"
	check_exit 1 "vouchctl rejects a wrong nonce ($type)" \
	    $V verify --tpm2-tools "$P" --ak "$S/ak.pem" --nonce "${NONCE%??}00"
	tampered "vouchctl quote ($type)" "$P" "$S/ak.pem"
done

# --- tpm2-tools quotes, vouchctl verifies --------------------------------------
# No resource manager: flush transient objects and sessions after every
# command, or swtpm runs out of object slots (LAB-NOTES).
flush() { tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1; }
cd "$TMP" || exit 1
flush
check "tpm2_createek -G ecc" tpm2_createek -G ecc -c ek.ctx -u ek.pub
flush
check "tpm2_createak -G ecc -s ecdsa -f pem" tpm2_createak -C ek.ctx -c ak.ctx \
    -G ecc -g sha256 -s ecdsa -u ak.pem -f pem -n ak.name
flush
# The quoted PCRs stay at their initial values: a tpm2-tools quote carries
# no logs, and the verifier demands that every quoted PCR be explained.
check "tpm2_quote -m -s -o -g sha256" tpm2_quote -c ak.ctx \
    -l sha256:0,1,2,3,4,5,6,7,23 -q "$NONCE" -m tq.msg -s tq.sig -o tq.pcrs -g sha256
flush
check "tpm2_checkquote accepts its own quote" tpm2_checkquote -u ak.pem \
    -m tq.msg -s tq.sig -f tq.pcrs -g sha256 -q "$NONCE"
check "vouchctl verify --tpm2-tools accepts the tpm2_quote quote" \
    $V verify --tpm2-tools "$TMP/tq" --ak "$TMP/ak.pem" --nonce "$NONCE"
check_grep '^PASS$' "tpm2_quote quote: PASS"
check_grep '^  pcr-digest +ok$' "tpm2_quote quote: PCR digest matches the .pcrs values"
check "vouchctl verify --tpm2-tools --json" \
    $V verify --tpm2-tools "$TMP/tq" --ak "$TMP/ak.pem" --nonce "$NONCE" --json
check_grep '"result": "PASS"' "tpm2_quote quote: --json PASS"
check_exit 1 "vouchctl rejects the tpm2_quote quote under another AK" \
    $V verify --tpm2-tools "$TMP/tq" --ak "$TMP/state-ecc/ak.pem" --nonce "$NONCE"
tampered "tpm2_quote quote" "$TMP/tq" "$TMP/ak.pem"

# Malformed tpm2-tools files: exit 2 with a message, never a crash.
head -c 20 tq.msg >bad.msg; cp tq.sig bad.sig; cp tq.pcrs bad.pcrs
check_exit 2 "truncated .msg: exit 2" \
    $V verify --tpm2-tools "$TMP/bad" --ak "$TMP/ak.pem" --nonce "$NONCE"
check_grep 'bad.msg' "truncated .msg: message names the file"
cp tq.msg bad.msg
head -c 7 tq.pcrs >bad.pcrs
check_exit 2 "truncated .pcrs: exit 2" \
    $V verify --tpm2-tools "$TMP/bad" --ak "$TMP/ak.pem" --nonce "$NONCE"
check_grep 'bad.pcrs' "truncated .pcrs: message names the file"
check_exit 2 "missing files: exit 2" \
    $V verify --tpm2-tools "$TMP/none" --ak "$TMP/ak.pem" --nonce "$NONCE"

echo "1..$_tap_n"
