#!/bin/bash
# vouchctl measure against a swtpm with two PCR banks (sha1, sha256):
# every log line's template hash and file digest check out (recomputed
# independently in python3), the log replays to tpm2_pcrread's PCR 23 in
# both banks, a changed file gives a different entry, and refused input
# touches neither the log nor the TPM.
. "$(dirname "$0")/../lib.sh"

for c in swtpm tpm2_pcrread python3; do
	command -v "$c" >/dev/null || { tap_skip "measure" "$c missing"; exit 0; }
done
SWTPM_PCR_BANKS=sha1,sha256 lab_swtpm_start 1
T=${TCTI[0]}
RM="$TMP/state/runtime_measurements"	# directory created by measure

# Independent check of an ima-ng log: template hash of each line, and
# the replay of PCR 23 in sha1 and sha256 ("sha1 HEX" / "sha256 HEX").
cat >"$TMP/replay.py" <<'EOF'
import hashlib, struct, sys
pcr = {"sha1": b"\0" * 20, "sha256": b"\0" * 32}
for n, line in enumerate(open(sys.argv[1], "rb").read().split(b"\n")[:-1], 1):
    idx, th, name, dig, path = line.decode().split(" ")
    assert idx == "23" and name == "ima-ng", "line %d: %s" % (n, line)
    alg, hexd = dig.split(":")
    d = alg.encode() + b":\0" + bytes.fromhex(hexd)
    td = struct.pack("<I", len(d)) + d + struct.pack("<I", len(path) + 1) + path.encode() + b"\0"
    assert hashlib.sha1(td).hexdigest() == th, "line %d: template hash" % n
    for a in pcr:
        pcr[a] = hashlib.new(a, pcr[a] + hashlib.new(a, td).digest()).digest()
for a in sorted(pcr):
    print(a, pcr[a].hex())
EOF
tpm_pcr23() {
	tpm2_pcrread -T "$T" sha1:23+sha256:23 | awk '
	    /^ *sha1:/ { b = "sha1" } /^ *sha256:/ { b = "sha256" }
	    /^ *23 *:/ { v = $NF; sub("0x", "", v); print b, tolower(v) }' | sort
}
replay_matches() {	# NAME
	python3 "$TMP/replay.py" "$RM" >"$TMP/replay.out" 2>&1 || {
		tap_fail "$1" "log check failed"; sed 's/^/    # /' "$TMP/replay.out"; return; }
	tpm_pcr23 >"$TMP/tpm.out"
	if [ -s "$TMP/tpm.out" ] && diff -u "$TMP/replay.out" "$TMP/tpm.out" >"$TMP/diff"; then
		tap_ok "$1"
	else
		tap_fail "$1"; sed 's/^/    # /' "$TMP/diff" "$TMP/tpm.out" | head -20
	fi
}

for i in 1 2 3; do echo "file $i $RANDOM" >"$TMP/f$i"; done
check "measure 3 files" "$VOUCHCTL" measure --tcti "$T" --log "$RM" \
    "$TMP/f1" "$TMP/f2" "$TMP/f3"
check_exit 0 "log has 3 lines" test "$(wc -l <"$RM")" -eq 3
ok=1
for i in 1 2 3; do
	want=$(sha256sum "$TMP/f$i" | cut -d' ' -f1)
	grep -q "^23 [0-9a-f]\{40\} ima-ng sha256:$want $(realpath "$TMP/f$i")\$" "$RM" || ok=0
done
if [ $ok = 1 ]; then tap_ok "each line carries the file's sha256 and canonical path"
else tap_fail "lines carry sha256 and path"; sed 's/^/    # /' "$RM"; fi
replay_matches "template hashes verify; replay equals tpm2_pcrread sha1:23 and sha256:23"

echo "changed" >>"$TMP/f1"
check "measure a changed file" "$VOUCHCTL" measure --tcti "$T" --log "$RM" "$TMP/f1"
l1=$(sed -n 1p "$RM"); l4=$(sed -n 4p "$RM")
if [ "${l1%% /*}" != "${l4%% /*}" ] && [ "${l1##* }" = "${l4##* }" ]; then
	tap_ok "a changed file gives a different entry (same path)"
else
	tap_fail "changed file gives a different entry" "$l1 / $l4"
fi
replay_matches "replay still equals the TPM after 4 entries"

# --pcr and --alg: a sha1 file digest into PCR 16 (resettable, debug)
check "measure --pcr 16 --alg sha1 --no-extend" "$VOUCHCTL" measure --pcr 16 \
    --alg sha1 --no-extend --log "$TMP/other.log" "$TMP/f2"
check_grep "^16 [0-9a-f]{40} ima-ng sha1:$(sha1sum "$TMP/f2" | cut -d' ' -f1) " \
    "--alg sha1 logs a sha1 file digest on PCR 16"

# Refusals: neither the log nor the TPM may change.
before=$(tpm_pcr23); lines=$(wc -l <"$RM")
mkdir -p "$TMP/dir with space"; echo x >"$TMP/dir with space/f"
check_exit 2 "a path with a space is refused" "$VOUCHCTL" measure --tcti "$T" \
    --log "$RM" "$TMP/dir with space/f"
check_exit 2 "a missing file exits 2" "$VOUCHCTL" measure --tcti "$T" --log "$RM" \
    "$TMP/nonexistent"
check_grep "nonexistent" "the error names the file"
check_exit 2 "a directory is refused" "$VOUCHCTL" measure --tcti "$T" --log "$RM" "$TMP"
check_exit 0 "--no-extend leaves the TPM alone" "$VOUCHCTL" measure --no-extend \
    --log "$TMP/noext.log" "$TMP/f3"
if [ "$(tpm_pcr23)" = "$before" ] && [ "$(wc -l <"$RM")" = "$lines" ]; then
	tap_ok "refused input changed neither the log nor PCR 23"
else
	tap_fail "refused input changed the log or PCR 23"
fi
check_exit 2 "an unreachable TPM exits 2" "$VOUCHCTL" measure \
    --tcti "swtpm:host=127.0.0.1,port=1" --log "$TMP/x.log" "$TMP/f1"
check_exit 2 "--pcr 24 is refused" "$VOUCHCTL" measure --pcr 24 --no-extend \
    --log "$TMP/x.log" "$TMP/f1"
check_exit 2 "no PATH exits 2" "$VOUCHCTL" measure --no-extend
check_exit 0 "measure --help" "$VOUCHCTL" measure --help
