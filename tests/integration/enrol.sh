#!/bin/bash
# Integration: credential activation (vouchctl enrol challenge/activate/
# check, attest/enrol.h) against two swtpm "hosts": ECC and RSA AKs enrol
# with the lab EK CA; a credential only activates in the TPM holding both
# the EK and the AK it was made for; damaged blobs and foreign EK
# certificates are refused; a tpm2_makecredential credential activates
# with ours; no handles are left behind.
. "$(dirname "$0")/../lib.sh"

for c in swtpm swtpm_setup tpm2_createek tpm2_makecredential tpm2_flushcontext \
    openssl jq od cmp; do
	command -v "$c" >/dev/null || { echo "1..0 # SKIP $c not installed"; exit 0; }
done
[ -x "$VOUCHCTL" ] || { echo "Bail out! $VOUCHCTL not built"; exit 1; }

lab_swtpm_start 2
V=$VOUCHCTL
CA=$LAB_DIR/ca/ca.pem
unset VOUCH_TCTI
W=$TMP/w
mkdir -p "$W"

# now_ms: wall clock in milliseconds
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# flip FILE OFFSET: xor one byte
flip() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 0x5a)))" |
	    dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# request DIR EKFROM AKFROM: a request with the EK (and its certificate)
# of one state directory and the AK of another
request() {
	mkdir -p "$1"
	cp "$2/ek.pem" "$1/"
	[ -f "$2/ek-cert.der" ] && cp "$2/ek-cert.der" "$1/"
	cp "$3/ak.pub" "$3/ak.name" "$1/"
}

# --- hosts: ECC and RSA AKs on TPM 0, an ECC AK on TPM 1 --------------------
check "init ecc AK on TPM 0" $V tpm init --state "$W/e0" --tcti "${TCTI[0]}"
check "init rsa AK on TPM 0" $V tpm init --state "$W/r0" --ak rsa --tcti "${TCTI[0]}"
check "init ecc AK on TPM 1" $V tpm init --state "$W/e1" --tcti "${TCTI[1]}"
check "second ecc AK on TPM 0" $V tpm init --state "$W/e0b" --tcti "${TCTI[0]}"

# --- the good path, both key types ------------------------------------------
for k in e0 r0; do
	t0=$(now_ms)
	check "$k: challenge with the lab EK CA" $V enrol challenge --request "$W/$k" \
	    --ek-ca "$CA" -o "$W/c_$k"
	t1=$(now_ms)
	ok=1
	for f in credential.bin secret.enc expected.secret; do
		[ -s "$W/c_$k/$f" ] || ok=0
	done
	[ $ok = 1 ] && [ "$(stat -c %a "$W/c_$k/expected.secret")" = 600 ] &&
	    tap_ok "$k: challenge files written, expected.secret mode 0600" ||
	    tap_fail "$k: challenge files written, expected.secret mode 0600"
	check "$k: activate on TPM 0" $V enrol activate --state "$W/$k" \
	    --challenge "$W/c_$k" -o "$W/p_$k" --tcti "${TCTI[0]}"
	t2=$(now_ms)
	echo "# $k: challenge $((t1 - t0)) ms, activate $((t2 - t1)) ms (vouchctl under ASan)"
	check "$k: the proof matches" $V enrol check --challenge "$W/c_$k" --proof "$W/p_$k"
	check_grep "^PASS" "$k: check says PASS"
done
# the encrypted secret has the EK's type: RSA-OAEP ciphertext or an ECC point
[ "$(stat -c %s "$W/c_r0/secret.enc")" = 258 ] && [ "$(stat -c %s "$W/c_e0/secret.enc")" = 70 ] &&
    tap_ok "secret.enc: 2+256 bytes for the RSA EK, 2+68 for the ECC EK" ||
    tap_fail "secret.enc sizes" "$(stat -c %s "$W/c_r0/secret.enc" "$W/c_e0/secret.enc")"
check_exit 1 "a proof from another challenge fails the check" \
    $V enrol check --challenge "$W/c_e0" --proof "$W/p_r0"
check_grep "^FAIL" "check says FAIL"
head -c 31 "$W/p_e0" >"$W/p_short"
check_exit 1 "a truncated proof fails the check" \
    $V enrol check --challenge "$W/c_e0" --proof "$W/p_short"

# a second challenge for the same AK: a fresh secret
check "second challenge for e0" $V enrol challenge --request "$W/e0" --ek-ca "$CA" -o "$W/c_e0x"
cmp -s "$W/c_e0/expected.secret" "$W/c_e0x/expected.secret" &&
    tap_fail "every challenge has a fresh secret" || tap_ok "every challenge has a fresh secret"

# --- only the TPM with both the EK and the AK can activate ------------------
# The registrar cannot tell (the request is well formed, the EK certificate
# is genuine), but the TPM can: this is what enrolment proves.
request "$W/mix" "$W/e0" "$W/e1"	# TPM 0's EK, TPM 1's AK
check "challenge for TPM 0's EK with TPM 1's AK (registrar cannot tell)" \
    $V enrol challenge --request "$W/mix" --ek-ca "$CA" -o "$W/c_mix"
check_exit 1 "TPM 1 cannot activate a credential made for TPM 0's EK" \
    $V enrol activate --state "$W/e1" --challenge "$W/c_mix" -o "$W/p_mix" --tcti "${TCTI[1]}"
check_grep "ActivateCredential" "the refusal names ActivateCredential"
check_exit 1 "TPM 0 cannot activate it either: the AK belongs to TPM 1" \
    $V enrol activate --state "$W/e1" --challenge "$W/c_mix" -o "$W/p_mix" --tcti "${TCTI[0]}"
check_grep "Load" "the refusal is at loading the foreign AK"
[ -e "$W/p_mix" ] && tap_fail "no proof written on failure" || tap_ok "no proof written on failure"
# the credential is bound to the AK's name: another AK of the same TPM fails
check_exit 1 "another AK on the same TPM cannot activate e0's credential" \
    $V enrol activate --state "$W/e0b" --challenge "$W/c_e0x" -o "$W/p_x" --tcti "${TCTI[0]}"
check "e0 itself still activates it" $V enrol activate --state "$W/e0" \
    --challenge "$W/c_e0x" -o "$W/p_e0x" --tcti "${TCTI[0]}"

# --- damaged blobs ------------------------------------------------------------
# credential.bin: size(2) | hmac size(2) | HMAC(32) | encIdentity(34)
for off in 10 50 69; do
	rm -rf "$W/c_t"; cp -r "$W/c_e0x" "$W/c_t"
	flip "$W/c_t/credential.bin" $off
	check_exit 1 "credential with byte $off flipped is refused (integrity HMAC)" \
	    $V enrol activate --state "$W/e0" --challenge "$W/c_t" -o "$W/p_t" --tcti "${TCTI[0]}"
done
rm -rf "$W/c_t"; cp -r "$W/c_e0x" "$W/c_t"
flip "$W/c_t/secret.enc" 20
check_exit 1 "encrypted secret with a flipped byte is refused" \
    $V enrol activate --state "$W/e0" --challenge "$W/c_t" -o "$W/p_t" --tcti "${TCTI[0]}"
rm -rf "$W/c_t"; cp -r "$W/c_e0x" "$W/c_t"
head -c 40 "$W/c_e0x/credential.bin" >"$W/c_t/credential.bin"
check_exit 2 "a truncated credential is an input error" \
    $V enrol activate --state "$W/e0" --challenge "$W/c_t" -o "$W/p_t" --tcti "${TCTI[0]}"

# --- EK certificates checked at challenge time ---------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/oca.key" -out "$W/oca.pem" -subj /CN=other-ek-ca -days 30 >/dev/null 2>&1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/d.key" -subj /CN=fake-ek -out "$W/d.csr" >/dev/null 2>&1
# a certificate for TPM 0's real EK key, issued by the other CA
openssl x509 -req -in "$W/d.csr" -CA "$W/oca.pem" -CAkey "$W/oca.key" \
    -CAcreateserial -force_pubkey "$W/e0/ek.pem" -days 30 -outform der \
    -out "$W/other.der" >/dev/null 2>&1
request "$W/oreq" "$W/e0" "$W/e0"
cp "$W/other.der" "$W/oreq/ek-cert.der"
check_exit 1 "EK certificate from another CA is refused" \
    $V enrol challenge --request "$W/oreq" --ek-ca "$CA" -o "$W/c_o"
check_grep "does not chain" "the refusal says it does not chain"
[ -e "$W/c_o" ] && tap_fail "no challenge written on refusal" || tap_ok "no challenge written on refusal"
check "the same request passes with that other CA (the test is fair)" \
    $V enrol challenge --request "$W/oreq" --ek-ca "$W/oca.pem" -o "$W/c_o2"
check_exit 1 "the lab EK certificate is refused under the other CA" \
    $V enrol challenge --request "$W/e0" --ek-ca "$W/oca.pem" -o "$W/c_o3"
# TPM 1's genuine certificate beside TPM 0's EK
request "$W/kreq" "$W/e0" "$W/e0"
cp "$W/e1/ek-cert.der" "$W/kreq/ek-cert.der"
check_exit 1 "EK certificate for another key is refused" \
    $V enrol challenge --request "$W/kreq" --ek-ca "$CA" -o "$W/c_k"
check_grep "another key" "the refusal says it certifies another key"
request "$W/nreq" "$W/e0" "$W/e0"
rm -f "$W/nreq/ek-cert.der"
check_exit 1 "no EK certificate but an EK CA required: refused" \
    $V enrol challenge --request "$W/nreq" --ek-ca "$CA" -o "$W/c_n"
check "--no-ek-ca accepts it (lab only)" \
    $V enrol challenge --request "$W/nreq" --no-ek-ca -o "$W/c_n"
check_grep "WARNING" "--no-ek-ca warns"
check_exit 2 "neither --ek-ca nor --no-ek-ca is a usage error" \
    $V enrol challenge --request "$W/e0" -o "$W/c_u"

# --- AK checks at challenge time ------------------------------------------------
request "$W/areq" "$W/e0" "$W/e0"
cp "$W/e0b/ak.name" "$W/areq/ak.name"
check_exit 1 "an AK name that is not the AK's is refused" \
    $V enrol challenge --request "$W/areq" --ek-ca "$CA" -o "$W/c_a"
check_grep "name does not match" "the refusal names the name mismatch"
# ak.pub: size(2) type(2) nameAlg(2) objectAttributes(4): clear fixedTPM (bit 1)
request "$W/freq" "$W/e0" "$W/e0"
b=$(od -An -tu1 -j 9 -N1 "$W/freq/ak.pub" | tr -d ' ')
printf "$(printf '\\%03o' $((b & ~0x02)))" |
    dd of="$W/freq/ak.pub" bs=1 seek=9 conv=notrunc status=none
check_exit 1 "an AK without fixedTPM is refused" \
    $V enrol challenge --request "$W/freq" --ek-ca "$CA" -o "$W/c_f"
check_grep "fixedTPM" "the refusal names fixedTPM"

# --- interop: tpm2_makecredential (software, -T none) -> our activation ----------
tpm2_createek -T "${TCTI[0]}" -G ecc -c "$W/ek.ctx" -u "$W/ek.pub" >/dev/null 2>&1 &&
    tpm2_flushcontext -T "${TCTI[0]}" -t >/dev/null 2>&1
head -c 32 /dev/urandom >"$W/t2t.secret"
check "tpm2_makecredential -T none for e0's AK" tpm2_makecredential -T none \
    -e "$W/ek.pub" -s "$W/t2t.secret" -n "$(cat "$W/e0/ak.name")" -o "$W/mc.out"
# mc.out: magic(4) version(4) | TPM2B_ID_OBJECT | TPM2B_ENCRYPTED_SECRET
mkdir -p "$W/c_t2t"
n=$(od -An -tu2 --endian=big -j 8 -N 2 "$W/mc.out" | tr -d ' ')
tail -c +9 "$W/mc.out" | head -c $((n + 2)) >"$W/c_t2t/credential.bin"
tail -c +$((9 + n + 2)) "$W/mc.out" >"$W/c_t2t/secret.enc"
cp "$W/t2t.secret" "$W/c_t2t/expected.secret"
check "our activation of the tpm2-tools credential" $V enrol activate --state "$W/e0" \
    --challenge "$W/c_t2t" -o "$W/p_t2t" --tcti "${TCTI[0]}"
cmp -s "$W/p_t2t" "$W/t2t.secret" && tap_ok "it recovers tpm2-tools' secret" ||
    tap_fail "it recovers tpm2-tools' secret"
# and the credential layouts agree: same sizes as ours
[ "$(stat -c %s "$W/c_t2t/credential.bin")" = "$(stat -c %s "$W/c_e0/credential.bin")" ] &&
    [ "$(stat -c %s "$W/c_t2t/secret.enc")" = "$(stat -c %s "$W/c_e0/secret.enc")" ] &&
    tap_ok "tpm2-tools' blobs have our sizes" || tap_fail "tpm2-tools' blobs have our sizes"

# --- no handle leaks, on either TPM, after successes and failures -------------
for i in 0 1; do
	check "handles on TPM $i" $V tpm handles --tcti "${TCTI[$i]}" --json
	if [ "$(jq -c . "$TMP/last.out")" = '{"transient_objects":0,"sessions":0}' ]; then
		tap_ok "TPM $i: 0 transient objects, 0 sessions"
	else tap_fail "TPM $i: 0 transient objects, 0 sessions" "$(cat "$TMP/last.out")"; fi
done

echo "1..$_tap_n"
