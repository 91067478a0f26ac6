#!/bin/bash
# region: the end-to-end proofs of issue 3 on a lab region of 4 hosts
# (tools/lab/region.sh: one swtpm + vouchd per host, one vouch-tcbd,
# 2-second attestation interval: 1 s is too tight for ASan builds on 2 cores).  Each claim is its own TAP line:
# start-up to TRUSTED; the admin CLI; mutual TLS for admins and refusal of
# a self-signed client; hostile frames; evidence of an unenrolled AK; a
# replayed VERDICT and a replayed EVIDENCE; tampering to UNTRUSTED within
# two intervals with a reason naming the file; a lying neighbour that
# cannot evict anyone; a dead vouchd is UNREACHABLE, not UNTRUSTED;
# kill -9 of vouch-tcbd loses nothing acknowledged; a host reboot is
# re-appraised.  Writes the measured tamper latency to
# $VOUCH_BUILD/region-figures.txt for tests/bench/run.sh.
. "$(dirname "$0")/../lib.sh"

for c in swtpm python3 ss openssl sha256sum; do
	command -v "$c" >/dev/null || { tap_skip "region" "$c missing"; echo "1..$_tap_n"; exit 0; }
done
for b in vouchd vouch-tcbd vouchctl; do
	[ -x "$B/$b" ] || { echo "Bail out! $B/$b not built"; exit 1; }
done
export VOUCH_BUILD="$B"
LAB="$ROOT/tools/lab/region.sh"
PEER="$ROOT/tests/integration/tcbd_peer.py"
D="$TMP/lab"
IV=2

at_exit "'$LAB' stop '$D'"
t0=$(date +%s%N)
if "$LAB" start 4 "$D" --interval $IV >"$TMP/start.log" 2>&1; then
	tap_ok "all 4 hosts TRUSTED after start-up ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
else
	tap_fail "all 4 hosts TRUSTED after start-up"
	sed 's/^/    # /' "$TMP/start.log" | tail -30
	tail -30 "$D/log/tcbd.log" 2>/dev/null | sed 's/^/    # /'
	echo "1..$_tap_n"; exit 1
fi

ctl() { "$LAB" ctl "$D" "$@"; }
TCBD_PID=$(cat "$D/pid/tcbd.pid")
PORT=$(awk '/tcbd = /{ sub(/.*port = /, ""); sub(/;.*/, ""); print; exit }' "$D/region.cfg")
peer() {	# AS ARGS...: tcbd_peer.py with AS's certificate
	python3 "$PEER" --port "$PORT" --cert "$D/pki/$1.pem" --key "$D/pki/$1.key" \
	    --ca "$D/pki/ca/ca.pem" --me "$1" "${@:2}"
}
# jq-like field access without jq: py EXPR (stdin JSON bound to j)
py() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
state() { ctl hosts --json | py "[h['state'] for h in j['hosts'] if h['name']=='$1'][0]"; }
states() { ctl hosts --json | py "' '.join(h['name']+'='+h['state'] for h in j['hosts'])"; }
verifiers_of() { ctl hosts --json | py "' '.join([h for h in j['hosts'] if h['name']=='$1'][0]['verifiers'])"; }
tcbd_alive() { kill -0 "$TCBD_PID" 2>/dev/null; }
events() { ctl watch --from-start --json --timeout 1; }

# ---- configuration ---------------------------------------------------------
check "vouch-tcbd -n accepts the lab configuration" "$B/vouch-tcbd" -n -f "$D/tcbd.cfg"
check_grep "configuration OK" "... and says so"
check "vouch-tcbd -nv prints the effective configuration" "$B/vouch-tcbd" -n -v -f "$D/tcbd.cfg"
check_grep "^freshness = $((IV * 3 + 1));" "... with the values in force"
sed 's/^interval = .*/&\ncolour = "blue";/' "$D/tcbd.cfg" >"$TMP/bad.cfg"
check_exit 1 "an unknown key is refused" "$B/vouch-tcbd" -n -f "$TMP/bad.cfg"
check_grep "bad.cfg:[0-9]+: colour: unknown key" "... naming file:line: field"

# ---- the admin CLI ---------------------------------------------------------
check "vouchctl status" ctl status
check_grep "TRUSTED 4" "status counts 4 TRUSTED hosts"
check "vouchctl hosts --json" ctl hosts --json
check "hosts --json is JSON with 4 hosts" bash -c "'$LAB' ctl '$D' hosts --json | python3 -c 'import json,sys; assert len(json.load(sys.stdin)[\"hosts\"]) == 4'"
check "vouchctl ivt" ctl ivt
check_grep "^h4 +TRUSTED +2/2" "ivt shows h4 TRUSTED with 2 of 2 fresh PASSes"
check "vouchctl rank --vcpus 0" ctl rank
check_grep "^1 +h[1-4] " "rank lists a TRUSTED destination first"
check "vouchctl host show h1" ctl host show h1
check_grep "last verdict: PASS by h[234].*re-verified PASS" "host show: last verdict re-verified by the RC-TCB"
check_exit 1 "host show of an unknown host fails" ctl host show h9

# ---- transport: mutual TLS, admins, self-signed clients -------------------
check "status over mutual TLS with the admin certificate" "$B/vouchctl" status \
    --connect "127.0.0.1:$PORT" --name tcbd --cert "$D/pki/admin.pem" \
    --key "$D/pki/admin.key" --ca "$D/pki/ca/ca.pem"
check_grep "TRUSTED 4" "... answers the same"
check_exit 2 "a host certificate is not an admin" "$B/vouchctl" status \
    --connect "127.0.0.1:$PORT" --name tcbd --cert "$D/pki/h1.pem" \
    --key "$D/pki/h1.key" --ca "$D/pki/ca/ca.pem"
check_grep "not an admin" "... the refusal says why"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=h1 -addext "subjectAltName=DNS:h1" -keyout "$TMP/self.key" \
    -out "$TMP/self.pem" >/dev/null 2>&1
# vouchctl would not even load a certificate its CA did not sign: present
# it with the Python peer, which does not care
out=$(timeout 30 python3 "$PEER" --port "$PORT" --cert "$TMP/self.pem" --key "$TMP/self.key" \
    --ca "$D/pki/ca/ca.pem" --me h1 epoch 2>&1)
check "a client with a self-signed certificate is refused (${out:0:60})" \
    bash -c "! echo '$out' | grep -q '\"epoch\"'"
# the server logs after the client learnt of the refusal: allow it a moment
wait_grep() { local i; for ((i = 0; i < 400; i++)); do grep -qE "$1" "$2" && return 0; sleep 0.05; done; return 1; }
check "... in the handshake, before any frame (the RC-TCB logs why)" \
    wait_grep "handshake \(accept\): peer certificate refused: self-signed" "$D/log/tcbd.log"
check "vouch-tcbd still runs" tcbd_alive

# ---- hostile frames (ASan build: a crash would end the daemon) -----------
for k in bad-magic bad-version oversize trailing-garbage unknown-tag zero-type no-hello; do
	out=$(timeout 30 python3 "$PEER" --port "$PORT" --cert "$D/pki/h1.pem" \
	    --key "$D/pki/h1.key" --ca "$D/pki/ca/ca.pem" --me h1 raw "$k" 2>&1)
	if [[ "$out" == "ERROR 10"* ]]; then tap_ok "$k frame rejected with ERROR 1000+reason (${out:0:60})"
	else tap_fail "$k frame rejected with ERROR 1000+reason" "$out"; fi
done
out=$(timeout 30 python3 "$PEER" --port "$PORT" --cert "$D/pki/h1.pem" \
    --key "$D/pki/h1.key" --ca "$D/pki/ca/ca.pem" --me h1 raw truncated 2>&1)
check "a truncated frame ends the connection at the frame deadline ($out)" \
    test "$out" = CLOSED
check "vouch-tcbd survives every hostile frame" tcbd_alive
check "... and keeps serving" ctl status
check_grep "TRUSTED 4" "... with every host still TRUSTED"

# ---- evidence of an unenrolled AK ------------------------------------------
# A genuine TPM (h4's), a genuine quote with the right nonce, but by an AK
# that was never enrolled: the RC-TCB's re-verification fails on the
# signature, so the PASS never counts.
TCTI4=$(cat "$D/tpm/tpm3/tcti")
"$B/vouchctl" tpm init --state "$TMP/rogue" --tcti "$TCTI4" --ak ecc >/dev/null 2>&1
V4=$(verifiers_of h4)
A4=${V4%% *}		# an assigned verifier of h4
quote4() {	# STATE NONCE OUT
	"$B/vouchctl" tpm quote --state "$1" --tcti "$TCTI4" --nonce "$2" \
	    --pcrs sha256:0-7,23 --eventlog "$D/eventlog.bin" \
	    --runtime-log "$D/state-h4/runtime_measurements" --host h4 -o "$3" >/dev/null 2>&1
}
# an epoch lasts one second: retry if the scripted steps straddled two
for try in 1 2 3 4 5; do
	ep=$(peer "$A4" epoch)
	E=$(echo "$ep" | py "j['epoch']"); R=$(echo "$ep" | py "j['random']")
	N=$(python3 "$PEER" nonce "$R" "$E" "$A4" h4)
	quote4 "$TMP/rogue" "$N" "$TMP/rogue.json"
	out=$(peer "$A4" verdict --subject h4 --result pass --evidence "$TMP/rogue.json" --epoch "$E" --seq $try)
	[[ "$out" == *stale* ]] || break
done
check "a quote by the unenrolled AK (h4's TPM, right nonce) is taken for appraisal ($out)" test "$out" = "ACK $try"
# the audit log keeps what the IVT was fed (the real neighbours keep
# sending, so "last verdict" may already be theirs)
accused_for() {	# PATTERN: h4 was accused with a reason matching PATTERN
	local i
	for ((i = 0; i < 150; i++)); do	# generous: ASan on loaded cores
		events | grep '"kind": *"ATTEST_DIRECTLY"' | grep '"host": *"h4"' |
		    grep -q "$1" && return 0
		sleep 0.1
	done
	return 1
}
check "evidence signed by an unenrolled AK is refused: the PASS is fed as FAIL, at the signature check" \
    accused_for "$A4: tcbd re-verification: signature"
"$LAB" wait "$D" TRUSTED 4 --timeout 90
check "... and h4 is TRUSTED again after the RC-TCB's own attestation ($(state h4))" test "$(state h4)" = TRUSTED
check "... never UNTRUSTED" bash -c "! ( '$LAB' ctl '$D' watch --from-start --json --timeout 1 | grep -q '\"to\": *\"UNTRUSTED\"' )"

# ---- replays ---------------------------------------------------------------
# an epoch lasts one second: retry if the scripted steps straddled two
for try in 1 2 3 4 5; do
	ep=$(peer "$A4" epoch)
	E=$(echo "$ep" | py "j['epoch']"); R=$(echo "$ep" | py "j['random']")
	N=$(python3 "$PEER" nonce "$R" "$E" "$A4" h4)
	quote4 "$D/state-h4" "$N" "$TMP/genuine.json"
	out=$(peer "$A4" verdict --subject h4 --result pass --evidence "$TMP/genuine.json" \
	    --epoch "$E" --seq $((100 * try)) --save "$TMP/verdict.frame" --twice)
	[[ "$out" == *stale* ]] || break
done
SEQ=$((100 * try))
check "a genuine VERDICT is acknowledged (${out%%$'\n'*})" test "${out%%$'\n'*}" = "ACK $SEQ"
check "the same VERDICT re-sent at once is ACKed as a duplicate (${out##*$'\n'})" \
    test "${out##*$'\n'}" = "ACK $SEQ"
sleep $((IV * 2 + 1))
out=$(peer "$A4" send "$TMP/verdict.frame")
check "the recorded VERDICT replayed two epochs later is refused" bash -c "[[ '$out' == ERROR*stale* ]]"
E2=$(peer "$A4" epoch | py "j['epoch']")
out=$(peer "$A4" verdict --subject h4 --result pass --evidence "$TMP/genuine.json" --epoch "$E2" --seq 101)
check "recorded EVIDENCE in a new VERDICT is refused: fed as FAIL at the nonce check ($out)" \
    accused_for "$A4: tcbd re-verification: nonce"
"$LAB" wait "$D" TRUSTED 1 2 3 4 --timeout 90
check "every host TRUSTED again ($(states))" "$LAB" wait "$D" TRUSTED 1 2 3 4 --timeout 1

# ---- tampering -------------------------------------------------------------
t0=$(date +%s%N)
"$LAB" tamper "$D" 2
until [ "$(state h2)" = UNTRUSTED ]; do
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 20000 ] && break
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "tamper to UNTRUSTED: $(awk -v m="$ms" 'BEGIN { printf "%.2f", m / 1000 }') s" >"$B/region-figures.txt"
check "tampered h2 is UNTRUSTED ($ms ms)" test "$(state h2)" = UNTRUSTED
# The latency bound (2 intervals) is a speed goal: `make bench` measures it
# on a release build; here, under ASan on shared cores, it is only reported.
echo "# tamper to UNTRUSTED: $ms ms (goal: <= $((2000 * IV)) ms + processing; see make bench)"
ctl host show h2 >"$TMP/h2.txt" 2>&1
check "... with a reason naming the offending file" grep -q "h2/xen.gz" "$TMP/h2.txt"
check "... the on_untrusted hook ran with host and reason" grep -q "h2 .*h2/xen.gz" "$D/tcbd/untrusted.log"
check "... and the log line was written" grep -q "UNTRUSTED host h2:.*xen.gz" "$D/log/tcbd.log"
"$LAB" wait "$D" TRUSTED 1 3 4 --timeout 90
check "the other hosts are TRUSTED ($(states))" "$LAB" wait "$D" TRUSTED 1 3 4 --timeout 1
check "... and none of them was ever UNTRUSTED" bash -c "! ( '$LAB' ctl '$D' watch --from-start --json --timeout 1 | grep '\"to\": *\"UNTRUSTED\"' | grep -qv '\"host\": *\"h2\"' )"

# ---- a lying neighbour -----------------------------------------------------
"$LAB" start-host "$D" 3 fail >/dev/null
sleep $((IV * 5))
ev=$(events)
check "the liar h3 accused its neighbours" bash -c "echo '$ev' | grep -q '\"kind\": *\"DISPROVED\".*\"verifier\": *\"h3\"'"
check "a lying neighbour cannot evict a healthy host (nobody but h2 UNTRUSTED: $(states))" \
    bash -c "! ( echo '$ev' | grep '\"to\": *\"UNTRUSTED\"' | grep -qv '\"host\": *\"h2\"' )"
check "its lies are counted (h3 disproved > 0)" bash -c "'$LAB' ctl '$D' ivt --json | python3 -c 'import json,sys; assert [h for h in json.load(sys.stdin)[\"hosts\"] if h[\"name\"]==\"h3\"][0][\"disproved\"] > 0'"
"$LAB" start-host "$D" 3 >/dev/null
"$LAB" wait "$D" TRUSTED 1 3 4 --timeout 90
check "honest again: TRUSTED ($(states))" "$LAB" wait "$D" TRUSTED 1 3 4 --timeout 1

# ---- a dead vouchd ---------------------------------------------------------
"$LAB" kill-host "$D" 4
"$LAB" wait "$D" UNREACHABLE 4 --timeout 90
check "killing h4's vouchd makes it UNREACHABLE ($(state h4))" test "$(state h4)" = UNREACHABLE
check "... not UNTRUSTED" bash -c "! ( '$LAB' ctl '$D' watch --from-start --json --timeout 1 | grep '\"to\": *\"UNTRUSTED\"' | grep -q '\"host\": *\"h4\"' )"
"$LAB" start-host "$D" 4 >/dev/null
"$LAB" wait "$D" TRUSTED 1 3 4 --timeout 90
check "h4 back: TRUSTED ($(states))" "$LAB" wait "$D" TRUSTED 4 --timeout 1

# ---- kill -9 of vouch-tcbd -------------------------------------------------
ctl ivt --json >"$TMP/before.json"
"$LAB" kill-tcbd "$D"
check "vouch-tcbd killed with SIGKILL" bash -c "! kill -0 $TCBD_PID 2>/dev/null"
check "vouch-tcbd restarted on the same store" "$LAB" start-tcbd "$D"
TCBD_PID=$(cat "$D/pid/tcbd.pid")
ctl ivt --json >"$TMP/after.json"
check "restart: every host is still there, none lost an acknowledged verdict" python3 -c "
import json
b = {h['name']: h for h in json.load(open('$TMP/before.json'))['hosts']}
a = {h['name']: h for h in json.load(open('$TMP/after.json'))['hosts']}
assert set(a) == set(b), (set(a), set(b))
for n in b:
    assert a[n]['passes'] >= b[n]['passes'] and a[n]['fails'] >= b[n]['fails'], n
assert a['h2']['state'] == 'UNTRUSTED'
"
"$LAB" wait "$D" TRUSTED 1 3 4 --timeout 90
check "after the restart the hosts are TRUSTED again ($(states))" "$LAB" wait "$D" TRUSTED 1 3 4 --timeout 1

# ---- a host reboot ---------------------------------------------------------
r0=$(ctl ivt --json | py "[h for h in j['hosts'] if h['name']=='h3'][0]['reset_count']")
"$LAB" reboot-host "$D" 3 >/dev/null
"$LAB" wait "$D" TRUSTED 1 3 4 --timeout 90
r1=$(ctl ivt --json | py "[h for h in j['hosts'] if h['name']=='h3'][0]['reset_count']")
check "the reboot is seen in the reset counter ($r0 -> $r1)" test "$r1" -gt "$r0"
check "... and answered by a full re-appraisal (REAPPRAISE event)" bash -c "'$LAB' ctl '$D' watch --from-start --json --timeout 1 | grep -q '\"kind\": *\"REAPPRAISE\".*\"host\": *\"h3\"'"
check "... after which h3 is TRUSTED ($(states))" test "$(state h3)" = TRUSTED
if [ "$(state h3)" != TRUSTED ]; then	# what the next reader needs
	ctl ivt --json | sed 's/^/    # /' | head -60
	for f in tcbd h1 h3 h4; do tail -15 "$D/log/$f.log" | sed "s/^/    # $f: /"; done
	[ -n "${VOUCH_KEEP_FAILED:-}" ] && cp -r "$D" "$VOUCH_KEEP_FAILED"
fi
check "vouch-tcbd ran under ASan/UBSan without a report" bash -c "! grep -qE 'ERROR: AddressSanitizer|runtime error:' '$D/log/tcbd.log'"

# ---- clean stop --------------------------------------------------------------
kill -TERM "$TCBD_PID"
for ((i = 0; i < 100; i++)); do kill -0 "$TCBD_PID" 2>/dev/null || break; sleep 0.05; done
check "SIGTERM: vouch-tcbd exits" bash -c "! kill -0 $TCBD_PID 2>/dev/null"
check "... cleanly (shutting down logged, no leak report)" bash -c "grep -q 'shutting down' '$D/log/tcbd.log' && ! grep -q 'LeakSanitizer' '$D/log/tcbd.log'"
echo "1..$_tap_n"
