#!/bin/bash
# A real UEFI event log (QEMU + OVMF + swtpm, tools/guest/fwlog.sh), read
# by vouchctl and by the reference tpm2_eventlog:
#   (a) vouchctl's replay equals tpm2_eventlog's for every bank and PCR
#   (b) the sha256 replay equals what the TPM held, for every PCR the log
#       covers, and the initial values (0 / ff..ff for 17-22) elsewhere
#   (c) eventlog show lists as many events as tpm2_eventlog
#   (d) a truncated copy and garbage exit 2 with a message naming them
# Always boots (~15-20 s under TCG) so the boot path is tested every run.
. "$(dirname "$0")/../lib.sh"

for c in qemu-system-x86_64 swtpm tpm2_eventlog jq; do
	command -v "$c" >/dev/null || { tap_skip "eventlog_ovmf" "$c missing"; exit 0; }
done
OUT="$TMP/fw"
t0=$(date +%s)
if ! "$ROOT/tools/guest/fwlog.sh" "$OUT" >"$TMP/fwlog.out" 2>&1; then
	tap_fail "fwlog.sh boots QEMU+OVMF+swtpm and captures the log"
	sed 's/^/    # /' "$TMP/fwlog.out" | tail -30
	exit 1
fi
tap_ok "fwlog.sh captured a firmware log in $(( $(date +%s) - t0 )) s"
LOG="$OUT/binary_bios_measurements"
# Keep the latest real log for inspection (the test never reads it back).
mkdir -p "$ROOT/build/cache" && cp "$LOG" "$OUT/pcrs.txt" "$ROOT/build/cache/" 2>/dev/null

# --- (a) replay vs tpm2_eventlog ------------------------------------------
check "tpm2_eventlog reads the log" tpm2_eventlog "$LOG"
cp "$TMP/last.out" "$TMP/ref.yaml"
# "bank pcr hex" lines from tpm2_eventlog's pcrs: section
awk '/^pcrs:/ { in_p = 1; next }
     in_p && /^[^ ]/ { in_p = 0 }
     in_p && /^  [a-z0-9_]+:$/ { bank = $1; sub(":", "", bank); next }
     in_p && /^    [0-9]+ *: 0x/ { v = $3; sub("0x", "", v); print bank, $1, tolower(v) }' \
    "$TMP/ref.yaml" | sort >"$TMP/ref.pcrs"
check "vouchctl eventlog replay --json" "$VOUCHCTL" eventlog replay "$LOG" --json
jq -r 'to_entries[] | .key as $b | .value | to_entries[] | "\($b) \(.key) \(.value)"' \
    "$TMP/last.out" | sort >"$TMP/our.pcrs"
if [ -s "$TMP/ref.pcrs" ] && diff -u "$TMP/ref.pcrs" "$TMP/our.pcrs" >"$TMP/diff"; then
	tap_ok "replay equals tpm2_eventlog: $(wc -l <"$TMP/our.pcrs") PCR values in $(cut -d' ' -f1 "$TMP/our.pcrs" | sort -u | tr '\n' ' ')"
else
	tap_fail "replay equals tpm2_eventlog"; sed 's/^/    # /' "$TMP/diff" | head -30
fi

# --- (b) replay vs the TPM's own sha256 PCRs -------------------------------
bad=0 covered=0
while read -r bank pcr hex; do
	[ "$bank" = sha256 ] || continue
	covered=$((covered + 1))
	tpm=$(awk -v p="$pcr" '$1 == p { print $2 }' "$OUT/pcrs.txt")
	[ "$tpm" = "$hex" ] || { bad=1; echo "    # PCR $pcr: log $hex, TPM $tpm"; }
done <"$TMP/our.pcrs"
if [ $bad -eq 0 ] && [ $covered -gt 0 ]; then
	tap_ok "replay equals the TPM's sha256 value for all $covered PCRs the log covers"
else
	tap_fail "replay equals the TPM's sha256 PCRs"
fi
# PCRs the firmware log does not cover hold their reset values, except
# PCR 10, which the kernel's IMA extends with boot_aggregate.
"$VOUCHCTL" eventlog replay "$LOG" --json --pcrs sha256:0-23 >"$TMP/all.json" 2>&1
bad=0
for p in $(seq 0 23); do
	[ "$p" = 10 ] && continue
	want=$(jq -r --arg p "$p" '.sha256[$p]' "$TMP/all.json")
	tpm=$(awk -v p="$p" '$1 == p { print $2 }' "$OUT/pcrs.txt")
	[ "$want" = "$tpm" ] || { bad=1; echo "    # PCR $p: replay $want, TPM $tpm"; }
done
if [ $bad -eq 0 ]; then tap_ok "--pcrs sha256:0-23 equals the TPM for all 23 non-IMA PCRs (17-22 start ff..ff)"
else tap_fail "--pcrs sha256:0-23 equals the TPM"; fi

# --- (c) show lists every event ---------------------------------------------
ref_n=$(grep -c '^- EventNum:' "$TMP/ref.yaml")
check "vouchctl eventlog show" "$VOUCHCTL" eventlog show "$LOG"
text_n=$(wc -l <"$TMP/last.out")
json_n=$("$VOUCHCTL" eventlog show "$LOG" --json | jq length)
if [ "$ref_n" -gt 0 ] && [ "$ref_n" = "$text_n" ] && [ "$ref_n" = "$json_n" ]; then
	tap_ok "show lists all $ref_n events tpm2_eventlog lists"
else
	tap_fail "show lists every event" "tpm2_eventlog $ref_n, show $text_n, --json $json_n"
fi
if LC_ALL=C grep -q '[^[:print:]]' "$TMP/last.out"; then
	tap_fail "show prints only printable text"
else
	tap_ok "show prints only printable text"
fi
check_grep 'EV_EFI_VARIABLE_DRIVER_CONFIG .* SecureBoot$' "show names EFI variables"
# The kernel's EFI stub measured the initrd into PCR 9 (final events table).
"$VOUCHCTL" eventlog show "$LOG" --json >"$TMP/show.json"
if jqe '[.[] | select(.pcr == 0 and .type == "EV_NO_ACTION")] | length == 1' \
    "$TMP/show.json" >/dev/null && jqe '.[0].digests.sha1 == "0000000000000000000000000000000000000000"' \
    "$TMP/show.json" >/dev/null; then
	tap_ok "show --json: header event 0 with a zero SHA-1 digest"
else
	tap_fail "show --json: header event"
fi

# --- (d) damaged input ------------------------------------------------------
size=$(stat -c %s "$LOG")
head -c $((size - 7)) "$LOG" >"$TMP/truncated.bin"
check_exit 2 "truncated log exits 2" "$VOUCHCTL" eventlog replay "$TMP/truncated.bin"
check_grep 'truncated\.bin: event [0-9]+ at offset [0-9]+: truncated' "truncation message names file, event and offset"
head -c 4096 /dev/urandom >"$TMP/garbage.bin"
check_exit 2 "garbage exits 2" "$VOUCHCTL" eventlog show "$TMP/garbage.bin"
check_grep 'garbage\.bin: event 0 at offset 0' "garbage message names file and offset"
check_exit 2 "missing file exits 2" "$VOUCHCTL" eventlog show "$TMP/nonexistent"
check_exit 2 "unknown bank in --pcrs exits 2" "$VOUCHCTL" eventlog replay "$LOG" --pcrs sm3_256:0
check_exit 0 "eventlog replay --help" "$VOUCHCTL" eventlog replay --help
check_exit 0 "eventlog show -h" "$VOUCHCTL" eventlog show -h
check_exit 2 "eventlog without a subcommand exits 2" "$VOUCHCTL" eventlog
