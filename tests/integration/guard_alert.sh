#!/bin/bash
# guard_alert: guard findings reach vouch-tcbd as alerts (ALERT,
# docs/protocol.md conversation 8).  A lab region of 2 hosts
# (tools/lab/region.sh) and a lab guest; vouch-guard with host h1's
# credentials (vouchd's config, --vouchd-conf) guards the guest with a
# 200 ms period; a hooked sys_call_table entry (tests/tools/vmi_tamper)
# must show up in `vouchctl alerts` as a syscall_hook alert from h1 for
# that target within a few seconds.  A second vouch-guard whose
# certificate is not the region's (its own CA, claiming to be h1) is
# refused in the TLS handshake: its alerts never appear, it logs the
# refusal and keeps checking.
. "$(dirname "$0")/../lib.sh"

for c in swtpm python3 ss openssl qemu-system-x86_64; do
	command -v "$c" >/dev/null || { tap_skip "guard_alert" "$c missing"; echo "1..$_tap_n"; exit 0; }
done
for b in vouchd vouch-tcbd vouchctl vouch-guard tests/tools/vmi_tamper; do
	[ -x "$B/$b" ] || { echo "Bail out! $B/$b not built"; exit 1; }
done
export VOUCH_BUILD="$B"
LAB="$ROOT/tools/lab/region.sh"
LG="$ROOT/tools/guest/labguest.sh"
TAMPER="$B/tests/tools/vmi_tamper"
GUARD="$B/vouch-guard"
D="$TMP/lab"
G="$TMP/guest"

py() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
ctl() { "$LAB" ctl "$D" "$@"; }

at_exit "'$LAB' stop '$D'"
if "$LAB" start 2 "$D" --interval 2 >"$TMP/start.log" 2>&1; then
	tap_ok "lab region of 2 hosts up"
else
	tap_fail "lab region of 2 hosts up"
	sed 's/^/    # /' "$TMP/start.log" | tail -20
	echo "1..$_tap_n"; exit 1
fi
if ! out=$("$LG" start "$G" 2>&1); then
	tap_fail "lab guest boots" "$out"; echo "1..$_tap_n"; exit 1
fi
at_exit "'$LG' stop '$G'"
tap_ok "lab guest boots: $out"
M="qemu-file:$(cat "$G/ram.path")"

# two guards of the same guest: g1 (h1's) and rogue (the intruder's)
cat >"$TMP/guards.cfg" <<EOF2
version = 1;
guards = (
  { target = "g1"; memory = "$M"; period_ms = 200; repair = false;
    state = "$TMP/g1.state.json"; },
  { target = "rogue-g1"; memory = "$M"; period_ms = 200; repair = false;
    state = "$TMP/rogue.state.json"; }
);
EOF2

# A certificate for "h1" from another CA: not the region's.  The guard's CA
# file holds both CAs, so its own certificate loads and it can verify
# vouch-tcbd; vouch-tcbd, trusting the region CA only, refuses it.
mkdir -p "$TMP/rogue"
"$VOUCHCTL" region init --dir "$TMP/rogue/ca" >/dev/null 2>&1 &&
"$VOUCHCTL" host cert h1 --ca-dir "$TMP/rogue/ca" --ip 127.0.0.1 \
    --out "$TMP/rogue" >/dev/null 2>&1
check "a non-region certificate for h1 made" test -s "$TMP/rogue/h1.pem"
cat "$TMP/rogue/ca/ca.pem" "$D/pki/ca/ca.pem" >"$TMP/rogue/both-ca.pem"

"$GUARD" --policy "$TMP/guards.cfg" --target g1 --json-log "$TMP/g1.jsonl" \
    --vouchd-conf "$D/h1.cfg" >"$TMP/guard.log" 2>&1 &
gpid=$!
at_exit "kill $gpid"
"$GUARD" --policy "$TMP/guards.cfg" --target rogue-g1 \
    --json-log "$TMP/rogue.jsonl" --region "$D/region.cfg" --host h1 \
    --cert "$TMP/rogue/h1.pem" --key "$TMP/rogue/h1.key" \
    --ca "$TMP/rogue/both-ca.pem" >"$TMP/rogue.log" 2>&1 &
rpid=$!
at_exit "kill $rpid"
for _ in $(seq 300); do
	[ -s "$TMP/g1.state.json" ] && [ -s "$TMP/rogue.state.json" ] && break
	sleep 0.1
done
check "both guards paired (baseline states written)" \
    test -s "$TMP/g1.state.json" -a -s "$TMP/rogue.state.json"
ctl alerts --json >"$TMP/alerts0.json" 2>&1
check "no alerts before the attack" \
    sh -c "python3 -c 'import json,sys; j=json.load(open(\"$TMP/alerts0.json\")); sys.exit(len(j[\"alerts\"]) != 0)'"

# hook getppid (110) with getpid (39)
"$TAMPER" "$M" hook-syscall 110 39 >"$TMP/tamper.out" 2>&1
t0=$(date +%s%N)
got=
for _ in $(seq 100); do
	if ctl alerts --json >"$TMP/alerts.json" 2>/dev/null &&
	    py "any(a['host']=='h1' and a['target']=='g1' and a['type']=='syscall_hook' and a['critical'] and a['finding'].get('index')==110 for a in j['alerts'])" \
	    <"$TMP/alerts.json" | grep -qx True; then
		got=1; break
	fi
	sleep 0.1
done
if [ -n "$got" ]; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	tap_ok "syscall_hook alert from h1 for g1 in vouchctl alerts within ${ms} ms"
	echo "# hook to stored alert: ${ms} ms"
else
	tap_fail "syscall_hook alert from h1 for g1 in vouchctl alerts" \
	    "$(tail -c 600 "$TMP/alerts.json"; tail -5 "$TMP/guard.log")"
fi
ctl alerts --host h1 --target g1 >"$TMP/last.out" 2>&1
check_grep "syscall_hook +yes" "vouchctl alerts (table) filtered by host and target shows it"
check "vouch-tcbd logged the alert" grep -q "alert #[0-9]* from h1: g1 syscall_hook (critical)" "$D/log/tcbd.log"

# the intruder: it saw the hook, its alerts never arrive, it keeps going
for _ in $(seq 50); do
	grep -q '"syscall_hook"' "$TMP/rogue.jsonl" 2>/dev/null && break; sleep 0.1
done
check "the non-region guard found the hook too (it keeps checking)" \
    grep -q '"syscall_hook"' "$TMP/rogue.jsonl"
for _ in $(seq 50); do
	grep -q "cannot deliver to vouch-tcbd" "$TMP/rogue.log" && break; sleep 0.1
done
check "the non-region guard logs the refusal" grep -q "cannot deliver to vouch-tcbd" "$TMP/rogue.log"
sleep 2
ctl alerts --json >"$TMP/alerts2.json" 2>&1
check "no alert of the non-region guard was stored" \
    sh -c "python3 -c 'import json,sys; j=json.load(open(\"$TMP/alerts2.json\")); sys.exit(any(a[\"target\"]==\"rogue-g1\" for a in j[\"alerts\"]))'"
check "the non-region guard still runs" kill -0 "$rpid"
check "the h1 guard sent each new finding once (no repeats)" \
    sh -c "test \"\$(python3 -c 'import json; j=json.load(open(\"$TMP/alerts2.json\")); print(sum(1 for a in j[\"alerts\"] if a[\"target\"]==\"g1\" and a[\"type\"]==\"syscall_hook\"))')\" = 1"
ctl status --json >"$TMP/status.json" 2>&1
check "status counts stored alerts" grep -q '"alerts_stored"' "$TMP/status.json"

echo "1..$_tap_n"
