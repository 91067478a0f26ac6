#!/bin/bash
# Co-migration of a target VM and its guard VM between lab hosts, with an
# invariant monitor sampling both VMs' run states and the guard's window
# through the whole migration (tests/integration/invmon.py).
#
# Hosts are directories (tests/tools/comig_lab.c): A runs the target and
# its guard VM (vouch-guard inside, reading the target through an
# ivshmem window); B and C are destinations whose "attest" command is
# their fresh attestation (here: a real TPM quote from the host's own
# swtpm with a fresh nonce, verified with vouchctl against the policy).
#
#   1. A -> [C, D, B]: C fails its fresh attestation; D attests but its
#      migration endpoint presents another host's certificate, so the TLS
#      stream is refused; the pair lands on B (streams in mutual TLS bound
#      to the attested host's certificate name); the monitor saw no instant with the target running and its
#      guard not running+attached on the same host, and missed no
#      samples; the guest's tick counter continues; the guard at B still
#      finds a syscall hook written after the move.
#   2. B -> [E, A]: E's incoming target is killed mid-stream; the source
#      keeps running with its guard and the pair lands on A; invariant
#      and counter as above.
#   3. A -> [C] as an evacuation: no trusted destination, so the target
#      is left paused at A with its guard attached, and an alert raised.
# The other failure paths (guard verification refused, failures after the
# switchover, manual rollback) are covered over a fake driver in
# tests/unit/test_comigrate.c.
. "$(dirname "$0")/../lib.sh"

LG="$ROOT/tools/guest/labguest.sh"
COMIG="$B/tests/tools/comig_lab"
TAMPER="$B/tests/tools/vmi_tamper"
STATIC=${VOUCH_STATIC:-$ROOT/build/static/vouch-guard}
for f in "$COMIG" "$TAMPER"; do
	[ -x "$f" ] || { tap_fail "binaries built" "$f missing"; exit 1; }
done
if [ ! -x "$STATIC" ]; then
	make -s -C "$ROOT" build/static/vouch-guard >"$TMP/static.log" 2>&1 ||
	    { tap_fail "static vouch-guard builds" "$(tail -3 "$TMP/static.log")"; exit 1; }
fi
export VOUCH_GUARD_BIN="$STATIC"

H="$TMP/h"
mkdir -p "$H/A" "$H/B" "$H/C" "$H/D" "$H/E"
for h in A B C D E; do echo "h$h" | tr 'A-E' 'a-e' >"$H/$h/name"; done

# Streams in mutual TLS with the region's host certificates (QEMU's x509
# layout): the source sends as "ha"; each destination listens with its
# own certificate and the source checks it names the attested host.
# D answers with hb's certificate although it is "hd": refused.
PKI="$TMP/pki"
if "$VOUCHCTL" region init --dir "$PKI/ca" >"$TMP/pki.out" 2>&1 &&
    for n in ha hb hc he; do "$VOUCHCTL" host cert $n --ca-dir "$PKI/ca" --out "$PKI/hosts" || exit 1; done >>"$TMP/pki.out" 2>&1; then
	tap_ok "region PKI: CA and host certificates ha, hb, hc, he"
else tap_fail "region PKI" "$(cat "$TMP/pki.out")"; exit 1; fi
for h in A B; do	# sources: A first, B in the fault cases
	n=$(cat "$H/$h/name")
	mkdir -p "$H/$h/tls-src"
	cp "$PKI/ca/ca.pem" "$H/$h/tls-src/ca-cert.pem"
	cp "$PKI/hosts/$n.pem" "$H/$h/tls-src/client-cert.pem"
	cp "$PKI/hosts/$n.key" "$H/$h/tls-src/client-key.pem"
done
for h in A B C D E; do
	n=$(cat "$H/$h/name"); [ "$h" = D ] && n=hb
	mkdir -p "$H/$h/tls-dst"
	cp "$PKI/ca/ca.pem" "$H/$h/tls-dst/ca-cert.pem"
	cp "$PKI/hosts/$n.pem" "$H/$h/tls-dst/server-cert.pem"
	cp "$PKI/hosts/$n.key" "$H/$h/tls-dst/server-key.pem"
done
stop_all() { for d in "$H"/*/target "$H"/*/guard; do "$LG" stop "$d" >/dev/null 2>&1; done; }
at_exit stop_all

# Fresh attestation of a destination: a quote with a fresh nonce from the
# host's own swtpm, verified against the policy with the host's AK.
lab_swtpm_start 2
cat >"$TMP/template.cfg" <<CFG
version = 1;
name = "comig";
attestation = { pcrs = "sha256:23"; runtime_pcr = 23; };
CFG
for i in 0 1; do
	h=$([ $i -eq 0 ] && echo B || echo C)
	VOUCH_TCTI=${TCTI[$i]} "$VOUCHCTL" tpm init --state "$H/$h/tpm" >/dev/null 2>&1
	VOUCH_TCTI=${TCTI[$i]} "$VOUCHCTL" measure --log "$H/$h/rt.log" "$LG" >/dev/null 2>&1
	"$VOUCHCTL" policy refvals --template "$TMP/template.cfg" --runtime-log "$H/$h/rt.log" \
	    -o "$H/$h/policy.cfg" >/dev/null 2>&1
	cat >"$H/$h/attest" <<SH
#!/bin/bash
nonce=\$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
VOUCH_TCTI=${TCTI[$i]} "$VOUCHCTL" tpm quote --state "$H/$h/tpm" --nonce \$nonce --pcrs sha256:23 \
    --runtime-log "$H/$h/rt.log" -o "$H/$h/ev.json" >/dev/null 2>&1 || { echo "quote failed"; exit 1; }
"$VOUCHCTL" verify "$H/$h/ev.json" --ak "$H/$h/tpm/ak.pem" --nonce \$nonce --policy "$H/$h/policy.cfg" \
    >"$H/$h/verify.out" 2>&1 || { grep -m1 -i fail "$H/$h/verify.out" || tail -1 "$H/$h/verify.out"; exit 1; }
SH
	chmod +x "$H/$h/attest"
done
# D passes its attestation (B's TPM stands in for it): its fault is the
# certificate its migration endpoint presents.  A and E (destinations in
# the fault cases) pass it the same way.
for h in A D E; do cp "$H/B/attest" "$H/$h/attest"; done
check "destination B attests (fresh quote verifies)" "$H/B/attest"
# C runs a hypervisor file its policy does not know (measured into its
# runtime log and PCR 23 like any file vouchd measures).
echo "not the hypervisor" >"$TMP/evil"
VOUCH_TCTI=${TCTI[1]} "$VOUCHCTL" measure --log "$H/C/rt.log" "$TMP/evil" >/dev/null 2>&1
check_exit 1 "destination C fails its fresh attestation" "$H/C/attest"

# --- the protected pair on A ----------------------------------------------
if ! out=$("$LG" start "$H/A/target" 2>&1); then tap_fail "target boots on A" "$out"; exit 1; fi
tap_ok "target boots on A ($out)"
if ! out=$("$LG" start "$H/A/guard" --guard-of "$H/A/target" 2>&1); then
	tap_fail "guard VM boots on A" "$out"; exit 1
fi
tap_ok "guard VM boots on A ($out)"
ok=0
for _ in $(seq 120); do
	"$LG" cmd "$H/A/guard" guard-status 2>/dev/null | grep -q '^state ATTACHED' && { ok=1; break; }
	sleep 1
done
check "the guard VM is attached to its target" test $ok -eq 1

tick_before=$(grep -o 'VOUCH-TICK [0-9]*' "$H/A/target/console.log" | tail -1 | awk '{print $2}')
python3 "$ROOT/tests/integration/invmon.py" "$TMP/inv.json" \
    "A=$H/A/target,$H/A/guard" "B=$H/B/target,$H/B/guard" "C=$H/C/target,$H/C/guard" \
    "D=$H/D/target,$H/D/guard" &
mon=$!
at_exit "kill $mon"
sleep 1
"$COMIG" "$H/A" "$H/C" "$H/D" "$H/B" >"$TMP/comig.json" 2>"$TMP/comig.err"
rc=$?
sleep 1
kill -TERM "$mon"; wait "$mon"
sed 's/^/    /' "$TMP/comig.err" | grep -E 'ALERT|done|attest' | head -20
if [ $rc -eq 0 ]; then tap_ok "co-migration A -> B completed: $(cat "$TMP/comig.json")"
else tap_fail "co-migration A -> B" "$(cat "$TMP/comig.json"; tail -5 "$TMP/comig.err")"; fi
check "C was refused by its fresh attestation, B was used" \
    jqe '.host | endswith("/B")' "$TMP/comig.json"
check "three destinations were tried (C: attestation, D: certificate, B)" \
    jqe '.tries == 3' "$TMP/comig.json"
check "D's stream was refused: its certificate does not name the attested host" \
    grep -q 'target.*/D.*[Cc]ertificate' "$TMP/comig.err"
check "invariant: never a running target without its running, attached guard" \
    jqe '.violation_count == 0' "$TMP/inv.json"
check "the monitor saw the target running on A and on B" \
    jqe '.running_target_rounds > 10 and (.hosts_seen | index("A") != null and index("B") != null)' "$TMP/inv.json"
check "the monitor missed no samples (no round with a running or unanswering target and an unknown guard; rounds every few ms)" \
    jqe '.missed == 0 and .rounds > 200 and .max_gap_ms < 1000' "$TMP/inv.json"
echo "# monitor: $(jq -c '{rounds, max_gap_ms, violation_count, running_target_rounds, unknown_target_samples, missed}' "$TMP/inv.json")"
sleep 2
tick_after=$(grep -o 'VOUCH-TICK [0-9]*' "$H/B/target/console.log" | tail -1 | awk '{print $2}')
check "the guest's counter continues at B ($tick_before -> $tick_after)" \
    test -n "$tick_after" -a "${tick_after:-0}" -gt "${tick_before:-0}"
check "the source copies are gone" sh -c "! test -S $H/A/target/qmp.sock || ! \"$LG\" qmp $H/A/target query-status >/dev/null 2>&1"
# the guard's findings continue at the destination
"$TAMPER" "qemu-file:$(cat "$H/B/target/ram.path")" hook-syscall 110 39 >"$TMP/tamper.out" 2>&1
ok=0
for _ in $(seq 60); do
	grep -q 'VOUCH-FINDING.*syscall_hook' "$H/B/guard/console.log" && { ok=1; break; }
	sleep 0.5
done
check "the guard at B reports a hook written after the move" test $ok -eq 1

# The monitor itself can fail: with the guard's window unplugged while the
# target runs (what the engine never does), it must report violations.
# (The guard stops reading first, as before any unplug.)
python3 "$ROOT/tests/integration/invmon.py" "$TMP/inv-neg.json" "B=$H/B/target,$H/B/guard" &
mon=$!
at_exit "kill $mon"
sleep 0.5
"$LG" cmd "$H/B/guard" guard-detach >/dev/null 2>&1
"$B/tests/tools/mig_tool" detach "$H/B/guard/qmp.sock" win >"$TMP/detach.out" 2>&1 ||
    sed 's/^/# detach: /' "$TMP/detach.out"
sleep 1
kill -TERM "$mon"; wait "$mon"
check "self-test: the monitor reports a running target whose guard lost its window" \
    jqe '.violation_count > 0' "$TMP/inv-neg.json"

# --- faults on the real lab -------------------------------------------------
# The pair is on B again: its guard gets its window back.
out=$("$LG" window-attach "$H/B/guard" "$(cat "$H/B/target/ram.path")" 2>&1)
ok=0
for _ in $(seq 120); do
	"$LG" cmd "$H/B/guard" guard-status 2>/dev/null | grep -q '^state ATTACHED' && { ok=1; break; }
	sleep 1
done
check "the guard at B has its window back and is attached (${out//$'\n'/ })" test $ok -eq 1

# 1. A destination dies mid-stream: E's incoming target is killed while the
# target streams to it (capped at 16 MiB/s so the stream lasts seconds);
# the source keeps running with its guard, the engine abandons E and uses
# A, the next destination.
python3 "$ROOT/tests/integration/invmon.py" "$TMP/inv2.json" \
    "B=$H/B/target,$H/B/guard" "E=$H/E/target,$H/E/guard" "A=$H/A/target,$H/A/guard" &
mon=$!
at_exit "kill $mon"
tick_before=$(grep -o 'VOUCH-TICK [0-9]*' "$H/B/target/console.log" | tail -1 | awk '{print $2}')
: >"$TMP/comig2.err"
(	# the killer: once the target stream to E has run for a second
	seen=0
	for _ in $(seq 1200); do
		grep -Eq "target +start +.*/E\$" "$TMP/comig2.err" && { seen=1; break; }
		sleep 0.05
	done
	sleep 1
	[ $seen -eq 1 ] && ! grep -Eq "target +done +.*/E" "$TMP/comig2.err" &&
	    kill -KILL "$(cat "$H/E/target/qemu.pid")" && echo killed >"$TMP/killed"
) &
killer=$!
"$COMIG" --max-bw 16777216 "$H/B" "$H/E" "$H/A" >"$TMP/comig2.json" 2>"$TMP/comig2.err"
rc=$?
wait "$killer"
sleep 1
kill -TERM "$mon"; wait "$mon"
sed 's/^/    /' "$TMP/comig2.err" | grep -E 'ALERT|target|done' | head -12
check "E's target was killed a second into its stream" test -f "$TMP/killed"
if [ $rc -eq 0 ]; then tap_ok "co-migration B -> [E killed, A] completed: $(cat "$TMP/comig2.json")"
else tap_fail "co-migration B -> [E killed, A]" "$(cat "$TMP/comig2.json"; tail -5 "$TMP/comig2.err")"; fi
check "... E's stream failed and A, the next destination, was used (2 tries)" \
    jqe '(.host | endswith("/A")) and .tries == 2 and .target_paused == false' "$TMP/comig2.json"
check "... the failure was E's target stream" grep -Eq "target +done +.*/E: " "$TMP/comig2.err"
check "invariant through the failure: never a running target without its running, attached guard" \
    jqe '.violation_count == 0 and .missed == 0' "$TMP/inv2.json"
check "... the monitor saw the target running on B and on A" \
    jqe '.hosts_seen | index("B") != null and index("A") != null' "$TMP/inv2.json"
sleep 2
tick_after=$(grep -o 'VOUCH-TICK [0-9]*' "$H/A/target/console.log" | tail -1 | awk '{print $2}')
check "the guest's counter continues at A ($tick_before -> $tick_after)" \
    test -n "$tick_after" -a "${tick_after:-0}" -gt "${tick_before:-0}"

# 2. No trusted destination: an evacuation of A whose only destination (C)
# fails its fresh attestation.  The target is stopped where it is, its
# guard keeps watching it, and an alert is raised.
python3 "$ROOT/tests/integration/invmon.py" "$TMP/inv3.json" \
    "A=$H/A/target,$H/A/guard" "C=$H/C/target,$H/C/guard" &
mon=$!
at_exit "kill $mon"
"$COMIG" "$H/A" "$H/C" >"$TMP/comig3.json" 2>"$TMP/comig3.err"
rc=$?
sleep 1
kill -TERM "$mon"; wait "$mon"
check "an evacuation with no trusted destination fails (exit $rc)" test $rc -eq 1
check "... the target is left paused" jqe '.target_paused == true and .tries == 1' "$TMP/comig3.json"
check "... and an alert says so" grep -q "ALERT no trusted destination took target.*paused at the source" "$TMP/comig3.err"
check "... the target at A is paused (QMP)" sh -c "\"$LG\" qmp \"$H/A/target\" query-status | grep -q '\"status\": *\"paused\"'"
check "... its guard still runs attached" sh -c "\"$LG\" cmd \"$H/A/guard\" guard-status | grep -q '^state ATTACHED'"
check "... and the invariant held" jqe '.violation_count == 0' "$TMP/inv3.json"
