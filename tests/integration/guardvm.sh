#!/bin/bash
# The guard as a VM (lab): a guard VM (the lab image + a static
# vouch-guard) reads its target's RAM through an ivshmem window on a
# hot-pluggable root port, and the window is detached and re-attached the
# way the co-migration does it (docs/guards.md "The guard as a VM").
#
#   1. target and guard VM boot; the guard VM's vouch-guard attaches,
#      pairs (baseline), runs with no findings on the clean target; its
#      process list (guard-status) holds the target's httpd
#   2. a hooked syscall-table entry (tests/tools/vmi_tamper, from the
#      host) shows up as "VOUCH-FINDING ... syscall_hook" on the guard
#      VM's console within a few periods
#   3. window-detach: the guard says DETACHED, the window leaves the
#      guard VM's PCI bus, the guard VM keeps running
#   4. window-attach: ATTACHED OK (verified against its baseline), the
#      hook (still there) is reported again
#   5. the control port (vouch-guard --control on ttyS2, labguest.sh
#      guard): status, detach, attach; unknown and overlong lines refused
# TAP comments: guard VM boot, one full check inside the guard VM (its
# own statistics), detach and attach latencies.  ~1-2 min under TCG.
#
# The guard VM needs the static release vouch-guard: $VOUCH_STATIC, or
# built here with "make -s build/static/vouch-guard".
. "$(dirname "$0")/../lib.sh"

LG="$ROOT/tools/guest/labguest.sh"
TAMPER="$B/tests/tools/vmi_tamper"
for c in qemu-system-x86_64 python3 cpio; do
	command -v "$c" >/dev/null || { tap_skip "guardvm" "$c missing"; exit 0; }
done
[ -x "$TAMPER" ] || { tap_fail "binaries built" "$TAMPER missing"; exit 1; }
STATIC=${VOUCH_STATIC:-$ROOT/build/static/vouch-guard}
case "$STATIC" in /*) ;; *) STATIC="$ROOT/$STATIC" ;; esac
if [ -z "${VOUCH_STATIC:-}" ] &&
    ! (cd "$ROOT" && make -s build/static/vouch-guard) >"$TMP/make.out" 2>&1; then
	tap_fail "static vouch-guard builds"; sed 's/^/    # /' "$TMP/make.out" | tail -20
	exit 1
fi
if [ -x "$STATIC" ] && ! ldd "$STATIC" >/dev/null 2>&1; then
	tap_ok "static vouch-guard ($STATIC): not a dynamic executable"
else
	tap_fail "static vouch-guard" "$STATIC missing or dynamic"; exit 1
fi
export VOUCH_GUARD_BIN="$STATIC"

# wait_console DIR REGEX SECONDS: a console line matching REGEX appears
wait_console() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		tr -d '\r' <"$1/console.log" | grep -qE -- "$2" && return 0
		sleep 0.1
	done
	return 1
}
count_console() { tr -d '\r' <"$1/console.log" | grep -cE -- "$2"; }
last_tick() { tr -d '\r' <"$1/console.log" | sed -n 's/^VOUCH-TICK \([0-9]*\)$/\1/p' | tail -n1; }
# status G KEY: a field of the guard line ("runs", "findings", "check_ms")
status_field() {
	"$LG" cmd "$1" guard-status 2>/dev/null | tr -d '\r' |
	    awk -v k="$2" '$1 == "guard" { for (i = 2; i < NF; i++) if ($i == k) print $(i + 1) }'
}

# --- 1. boot, attach, clean -----------------------------------------------
T="$TMP/target"
G="$TMP/guard"
at_exit "'$LG' stop '$T'"
at_exit "'$LG' stop '$G'"
if ! out=$("$LG" start "$T" 2>&1); then
	tap_fail "target boots" "$out"; exit 1
fi
tap_ok "target boots: $out"
RAM=$(cat "$T/ram.path")
t0=$(date +%s%N)
if ! out=$("$LG" start "$G" --guard-of "$T" 2>&1); then
	tap_fail "guard VM boots" "$out"; exit 1
fi
tap_ok "guard VM boots: $out"
echo "# guard VM boot: $(echo "$out" | sed -n 's/^boot: //p')"
if wait_console "$G" '^VOUCH-GUARD ATTACHED OK' 90; then
	tap_ok "the guard VM's vouch-guard attached to the window and paired"
	echo "# guard VM start to ATTACHED OK: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
else
	tap_fail "the guard VM's vouch-guard attached" "$(tr -d '\r' <"$G/console.log" | grep -v TICK | tail -5)"
	exit 1
fi
check "qmp-mon.sock: a second QMP monitor answers query-status" \
    python3 "$ROOT/tools/guest/guestctl.py" qmp "$G/qmp-mon.sock" query-status 10
for _ in $(seq 60); do
	r=$(status_field "$G" runs); [ "${r:-0}" -ge 3 ] && break; sleep 1
done
"$LG" cmd "$G" guard-status >"$TMP/status1" 2>&1
check "guard-status: ATTACHED, runs go on (${r:-?} runs)" \
    grep -qx 'state ATTACHED' "$TMP/status1"
check "a clean target: no findings in the guard's status" \
    grep -q ' findings 0 ' "$TMP/status1"
check "a clean target: no VOUCH-FINDING on the guard VM's console" \
    test "$(count_console "$G" '^VOUCH-FINDING ')" -eq 0
echo "# one full check inside the guard VM: $(status_field "$G" check_ms) ms ($(status_field "$G" tasks) tasks)"
check "the guard VM's process list of the target holds httpd" \
    grep -qE '^ps [0-9]+ httpd$' "$TMP/status1"
tpid=$("$LG" cmd "$T" ps | awk '$2 == "httpd" { print $1 }')
check "... with the pid the target itself gives ($tpid)" \
    grep -qx "ps $tpid httpd" "$TMP/status1"

# --- 2. a hooked syscall -------------------------------------------------
"$TAMPER" "qemu-file:$RAM" hook-syscall 110 39 >"$TMP/tamper.out" 2>&1
t0=$(date +%s%N)
HOOK='^VOUCH-FINDING .*"type":"syscall_hook".*"index":110,'
if wait_console "$G" "$HOOK" 15; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	tap_ok "hooked sys_call_table[110]: VOUCH-FINDING syscall_hook on the guard VM's console in ${ms} ms"
	echo "# hook to finding (guard VM, period 1000 ms): ${ms} ms"
else
	tap_fail "VOUCH-FINDING syscall_hook on the guard VM's console" \
	    "$(tr -d '\r' <"$G/console.log" | grep -v TICK | tail -5)"
fi
check "the finding names both handlers" \
    sh -c "tr -d '\r' <'$G/console.log' | grep -E '$HOOK' | grep -q 'getppid.*getpid'"

# --- 3. detach ------------------------------------------------------------
if "$LG" window-detach "$G" >"$TMP/detach.out" 2>&1 && grep -qx DETACHED "$TMP/detach.out"; then
	tap_ok "window-detach: the guard reports DETACHED"
	echo "# $(grep '^detach:' "$TMP/detach.out")"
else
	tap_fail "window-detach: DETACHED" "$(tail -5 "$TMP/detach.out")"
fi
"$LG" cmd "$G" guard-status >"$TMP/status2" 2>&1
check "guard-status: DETACHED" grep -qx 'state DETACHED' "$TMP/status2"
check "the window left the guard VM's PCI bus" \
    sh -c "! '$LG' cmd '$G' sh 'cat /sys/bus/pci/devices/*/device' | grep -q 0x1110"
t1=$(last_tick "$G"); sleep 2.2; t2=$(last_tick "$G")
check "the guard VM keeps running (ticks $t1 -> $t2)" test "${t2:-0}" -gt "${t1:-0}"
check "the guard VM keeps answering" "$LG" cmd "$G" echo alive
check "the guard VM's vouch-guard keeps running" \
    "$LG" cmd "$G" sh 'kill -0 $(cat /run/vouch-guard.pid)'

# --- 4. attach again ------------------------------------------------------
nhook=$(count_console "$G" "$HOOK")
if "$LG" window-attach "$G" "$RAM" >"$TMP/attach.out" 2>&1 &&
    grep -q '^ATTACHED OK' "$TMP/attach.out"; then
	tap_ok "window-attach: ATTACHED OK (verified against the baseline)"
	echo "# $(grep '^attach:' "$TMP/attach.out")"
else
	tap_fail "window-attach: ATTACHED OK" "$(tail -5 "$TMP/attach.out")"
fi
if wait_console "$G" '^VOUCH-FINDING .*"type":"rodata_modified"' 1 &&
    [ "$(count_console "$G" '"type":"rodata_modified"')" -ge 2 ]; then
	tap_ok "the verification at attach reports the changed .rodata page again"
else tap_fail "the verification at attach reports the changed .rodata page"; fi
for _ in $(seq 150); do
	[ "$(count_console "$G" "$HOOK")" -gt "$nhook" ] && break; sleep 0.1
done
check "the hook, still there, is reported again after attach" \
    test "$(count_console "$G" "$HOOK")" -gt "$nhook"
"$LG" cmd "$G" guard-status >"$TMP/status3" 2>&1
check "guard-status: ATTACHED again" grep -qx 'state ATTACHED' "$TMP/status3"
check "a second detach/attach round works" sh -c \
    "'$LG' window-detach '$G' | grep -qx DETACHED && '$LG' window-attach '$G' '$RAM' | grep -q '^ATTACHED OK'"

# --- the control port (vouch-guard --control: the guard VM's ttyS2) -------
check "control port: status" sh -c "'$LG' guard '$G' status | grep -q '^state ATTACHED seq [0-9]'"
check "control port: detach answers DETACHED" sh -c "'$LG' guard '$G' detach | grep -qx DETACHED"
check "... and the status file (shell channel) agrees" \
    sh -c "'$LG' cmd '$G' guard-status | grep -qx 'state DETACHED'"
check "control port: attach answers ATTACHED OK" sh -c "'$LG' guard '$G' attach | grep -q '^ATTACHED OK'"
check_exit 1 "control port: an unknown command is refused" \
    python3 "$ROOT/tools/guest/guestctl.py" line "$G/guard.sock" bogus 20
check_grep "ERROR unknown command" "... saying so"
check "control port: an overlong line is dropped whole, the next command answered" python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect('$G/guard.sock'); s.settimeout(30)
s.sendall(b'x' * 5000 + b' tok\n' + b'status t1\n')
buf = b''
while b'\n' not in buf:
    buf += s.recv(4096)
sys.exit(0 if buf.split(b'\n')[0].decode().startswith('t1 state ATTACHED') else 1)"
