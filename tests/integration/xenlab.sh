#!/bin/bash
# The Xen lab (tools/xenlab/xenlab.sh): a real Xen 4.17 under QEMU (TCG).
#   (a) build from Debian packages; start boots Xen + dom0 and xl list
#       answers; --bin puts a host binary and its libraries into dom0
#   (b) the control channel: output, exit status, still working after a
#       failure
#   (c) xl info: xen_major 4, xen_minor 17
#   (d) xl create of the PVH lab domU: its VOUCH-TICK counter (console
#       log written by xenconsoled) advances
#   (e) tests/tools/xen_vmi (ids/mem_xen.c, ids/linux.c) run in dom0
#       reads the domU's RAM and finds its linux_banner (skipped if the
#       build under test has no xen_vmi)
#   (e2) the guard's checks (ids/checks.c) from dom0 over the xen:
#       backend, as on QEMU (tests/integration/guard.sh): vouchctl guest
#       ps equals the domU's own ps (through its console command
#       channel, xenlab.sh domu-cmd); a clean domU's full check passes;
#       sys_call_table[110] overwritten from dom0 (vmi_tamper) makes
#       vouchctl guard check exit 1 with a syscall_hook finding naming
#       both handlers; vouch-guard --once with repair = true restores it
#       and the check is clean again (skipped if the build lacks
#       vouchctl, vouch-guard or vmi_tamper)
#   (f) xl pause stops the counter, xl unpause resumes it; xl destroy
#   (g) stop ends QEMU; a second stop is harmless
# Times go out as "# boot: ..." comments.  ~2-3 min under TCG.
. "$(dirname "$0")/../lib.sh"

XL="$ROOT/tools/xenlab/xenlab.sh"
for c in qemu-system-x86_64 python3 cpio gzip apt-get dpkg; do
	command -v "$c" >/dev/null || { tap_skip "xenlab" "$c missing"; exit 0; }
done
[ -x /bin/busybox ] || { tap_skip "xenlab" "busybox-static missing"; exit 0; }
t_all=$(date +%s)

if ! "$XL" build >"$TMP/build.out" 2>&1; then
	# Only a missing network with an empty cache is a reason to skip.
	if grep -q 'apt-get download.*failed\|apt-get update failed' "$TMP/build.out"; then
		tap_skip "xenlab" "cannot fetch the Debian packages (no network, no cache): $(tail -n1 "$TMP/build.out")"
		exit 0
	fi
	tap_fail "xenlab.sh build"; sed 's/^/    # /' "$TMP/build.out" | tail -20
	exit 1
fi
tap_ok "xenlab.sh build"
echo "# build: $(( $(date +%s) - t_all )) s (cached after the first run)"

# --- (a) start ------------------------------------------------------------
D="$TMP/x"
at_exit "'$XL' stop '$D'"
BIN=$(command -v jq || true)
binopt=()
[ -z "$BIN" ] || binopt=(--bin "$BIN")
# The Xen VMI test tool (tests/tools/xen_vmi.c) of the build under test.
VMI=${VOUCH_XEN_VMI:-$B/tests/tools/xen_vmi}
[ ! -x "$VMI" ] || binopt+=(--bin "$VMI")
# The guard's own code for (e2): vouchctl, vouch-guard and the attacker.
TAMPER="$B/tests/tools/vmi_tamper"
GUARD="$B/vouch-guard"
have_guard=1
for f in "$VOUCHCTL" "$GUARD" "$TAMPER"; do
	[ -x "$f" ] || have_guard=0
done
[ $have_guard = 0 ] || binopt+=(--bin "$VOUCHCTL" --bin "$GUARD" --bin "$TAMPER")

# xl_ ARGS...: xl ARGS in dom0.  Without Xen's xsave=0 (xenlab.sh sets
# it) about one xl run in a hundred aborted in its first
# pthread_mutex_lock ("Assertion `!r' failed", exit 134) before doing
# anything: should that recur, retry once, visibly.
exec 9>&1	# the test's own stdout, also inside check's redirections
xl_() {
	local rc=0
	"$XL" cmd "$D" "xl $*" >"$TMP/xl.out" 2>&1 || rc=$?
	if [ $rc -eq 134 ] && grep -q 'Assertion' "$TMP/xl.out"; then
		echo "# xl $* aborted ($(grep -m1 Assertion "$TMP/xl.out")): retried" >&9
		rc=0; "$XL" cmd "$D" "xl $*" >"$TMP/xl.out" 2>&1 || rc=$?
	fi
	cat "$TMP/xl.out"
	return $rc
}
t0=$(date +%s)
if "$XL" start "$D" "${binopt[@]}" >"$TMP/start.out" 2>&1; then
	tap_ok "start: Xen and dom0 up, xl list answers"
	echo "# $(grep '^boot:' "$TMP/start.out") [wall $(( $(date +%s) - t0 )) s]"
else
	tap_fail "start: Xen and dom0 up, xl list answers"
	sed 's/^/    # /' "$TMP/start.out" | tail -30
	exit 1
fi
if tr -d '\r' <"$D/console.log" | grep -q '^(XEN) Xen version 4\.17'; then
	tap_ok "the console shows Xen 4.17 booting"
else tap_fail "the console shows Xen 4.17 booting"; fi
if [ -n "$BIN" ]; then
	check "--bin: jq runs in dom0 with its libraries" \
	    "$XL" cmd "$D" "echo '{\"a\": 41}' | /vouch/bin/jq -M '.a + 1'"
	check_grep '^42$' "--bin: jq computes in dom0"
else
	tap_skip "--bin: a host binary runs in dom0" "jq missing"
fi

# --- (b) control channel --------------------------------------------------
check "cmd: echo" "$XL" cmd "$D" echo hello xen
if [ "$(cat "$TMP/last.out")" = "hello xen" ]; then tap_ok "echo answers exactly"
else tap_fail "echo answers exactly" "got '$(head -c 200 "$TMP/last.out")'"; fi
check_exit 3 "cmd: the exit status comes back" "$XL" cmd "$D" 'echo out; exit 3'
check_grep '^out$' "cmd: output before a failure"
check "cmd: output without a final newline" "$XL" cmd "$D" 'printf abc'
if [ "$(cat "$TMP/last.out")" = abc ]; then tap_ok "cmd: the answer ends after 'abc'"
else tap_fail "cmd: the answer ends after 'abc'" "got '$(head -c 200 "$TMP/last.out")'"; fi
check "cmd: the channel works after a failure" "$XL" cmd "$D" 'cat /proc/xen/capabilities'
check_grep '^control_d$' "dom0 is the control domain (xenfs mounted)"

# --- (c) xl info ----------------------------------------------------------
check "xl info" xl_ info
check_grep '^xen_major +: 4$' "xl info: xen_major 4"
check_grep '^xen_minor +: 17$' "xl info: xen_minor 17"

# --- (d) domU -------------------------------------------------------------
LOG=/var/log/xen/console/guest-lab.log
# tick: the domU's last VOUCH-TICK (empty if none)
tick() { "$XL" cmd "$D" "tr -d '\\r' <$LOG | sed -n 's/^VOUCH-TICK \\([0-9]*\\)\$/\\1/p' | tail -n1" 2>/dev/null; }
# wait_tick_above N SECONDS: poll until the tick exceeds N; prints it
wait_tick_above() {
	local end=$(( $(date +%s) + $2 )) t
	while [ "$(date +%s)" -lt "$end" ]; do
		t=$(tick)
		if [ -n "$t" ] && [ "$t" -gt "$1" ]; then echo "$t"; return 0; fi
		sleep 0.5
	done
	echo "${t:-none}"; return 1
}
t0=$(date +%s)
if "$XL" domu-start "$D" >"$TMP/domu.out" 2>&1; then
	tap_ok "xl create: the PVH domU prints VOUCH-TICK"
	echo "# $(grep '^domU:' "$TMP/domu.out") [wall $(( $(date +%s) - t0 )) s]"
	grep -i 'retried' "$TMP/domu.out" | sed 's/^/# /'
else
	tap_fail "xl create: the PVH domU prints VOUCH-TICK"
	sed 's/^/    # /' "$TMP/domu.out" | tail -30
	exit 1
fi
check "xl list lab" xl_ list lab
check_grep '^lab +[0-9]+ +128 ' "xl list shows lab with 128 MiB"
t1=$(tick)
if t2=$(wait_tick_above "${t1:-0}" 60); then tap_ok "the domU's ticker advances ($t1 -> $t2)"
else tap_fail "the domU's ticker advances" "'$t1' -> '$t2'"; fi

# --- (e) VMI from dom0 ------------------------------------------------------
if [ -x "$VMI" ]; then
	domid=$(xl_ domid lab 2>/dev/null | tr -d '\r')
	# 128 MiB = 32768 frames; ASan's leak check has no place in dom0.
	check "xen_vmi: the domU's memory through libxenforeignmemory" \
	    "$XL" cmd "$D" --timeout 240 "ASAN_OPTIONS=detect_leaks=0 xen_vmi $domid 32768"
	sed 's/^/    # /' "$TMP/last.out"
	check_grep '^page 0x1000000 sha256 [0-9a-f]{64} nonzero [1-9]' "xen_vmi: a page of the domU's RAM, hashed"
	check_grep '^linux_banner Linux version 6\.1\.' "xen_vmi: linux_banner from the domU's kernel"
	# dom0 and the domU boot the same kernel: the banner names it.
	rel=$("$XL" cmd "$D" uname -r 2>/dev/null | tr -d '\r')
	check_grep "^release ${rel//./\\.}\$" "xen_vmi: the profile's release is the booted kernel's ($rel)"
else
	tap_skip "xen_vmi in dom0" "$VMI not built (make O=... tests/tools/xen_vmi)"
fi

# --- (e2) the guard's checks on Xen ---------------------------------------
# vouchctl, vouch-guard and vmi_tamper in dom0 over "xen:DOMID,pages=N"
# (ids/mem_xen.c: libxenforeignmemory, batches of frames below N, the
# domU's RAM), against the domU's own view through its console command
# channel (xenlab.sh domu-cmd).  ASan's leak check has no place in dom0.
dcmd() { "$XL" domu-cmd "$D" "$@"; }
vcmd() { "$XL" cmd "$D" --timeout 240 "export ASAN_OPTIONS=detect_leaks=0; $*"; }
if [ $have_guard = 1 ] && command -v jq >/dev/null; then
	t_vmi=$(date +%s)
	domid=$(xl_ domid lab 2>/dev/null | tr -d '\r')
	mib=$(xl_ list lab 2>/dev/null | awk '$1 == "lab" { print $3 }')
	SPEC="xen:$domid,pages=$(( ${mib:-0} * 256 ))"
	echo "# memory spec $SPEC"
	check "domu-cmd: the domU answers over its console" dcmd 'echo domU $(hostname)'
	check_grep '^domU vouch-domu$' "domu-cmd: the domU's own output"
	check_exit 4 "domu-cmd: the domU's exit status comes back" dcmd 'exit 4'

	# The domU's ps (twice) around the outside view: the processes on
	# both inside listings must be exactly the outside view minus pid 0
	# and minus processes on only one inside listing (ps itself and the
	# command channel's shells; the ticker forks nothing).  /proc shows a
	# kworker as "kworker/0:1-<workqueue>" (cut to 15 bytes), task->comm
	# is "kworker/0:1" (tests/integration/guard.sh).
	domu_ps() {
		dcmd 'ps -o pid,comm' | tr -d '\r' | awk 'NR > 1 { print $1, $2 }' |
		    sed -E 's|^([0-9]+ kworker/[^-]*)-.*$|\1|' | sort
	}
	domu_ps >"$TMP/ps.a"
	vcmd "vouchctl guest ps --memory $SPEC --json" >"$TMP/ps.json" 2>&1
	jq -r '.processes[] | select(.pid != 0) | "\(.pid) \(.comm)"' "$TMP/ps.json" |
	    sort >"$TMP/ps.out"
	domu_ps >"$TMP/ps.b"
	comm -12 "$TMP/ps.a" "$TMP/ps.b" >"$TMP/ps.stable"
	comm -23 "$TMP/ps.stable" "$TMP/ps.out" >"$TMP/ps.missing"
	sort -u "$TMP/ps.a" "$TMP/ps.b" | comm -13 - "$TMP/ps.out" >"$TMP/ps.extra"
	if [ -s "$TMP/ps.stable" ] && [ ! -s "$TMP/ps.missing" ] && [ ! -s "$TMP/ps.extra" ]; then
		tap_ok "vouchctl guest ps over $SPEC equals the domU's ps ($(wc -l <"$TMP/ps.stable") processes)"
	else
		tap_fail "vouchctl guest ps over $SPEC equals the domU's ps" \
		    "missing: $(tr '\n' ',' <"$TMP/ps.missing") extra: $(tr '\n' ',' <"$TMP/ps.extra")"
		sed 's/^/    # /' "$TMP/ps.json" | head -5
	fi
	check "the domU's long-running processes are seen from dom0 (syslogd, sleep)" \
	    sh -c "grep -q ' syslogd\$' '$TMP/ps.out' && grep -q ' sleep\$' '$TMP/ps.out'"

	# A clean domU: a full check passes; its baseline is saved for the
	# guard (target "lab", as in the policy below).
	S=/tmp/lab.state.json
	check "guard check of the clean domU over $SPEC: clean, baseline saved" \
	    vcmd "vouchctl guard check lab --memory $SPEC --state $S --save --json"
	sed 's/^/    # /' "$TMP/last.out" | tail -n1
	check_grep '"findings":0' "guard check: no findings on the clean domU"

	# The attacker in dom0 writes the domU's sys_call_table[110] (getppid)
	# through the same backend, opened for writing.
	check "vmi_tamper in dom0: sys_call_table[110] = sys_call_table[39]" \
	    vcmd "vmi_tamper $SPEC hook-syscall 110 39"
	sed 's/^/    # /' "$TMP/last.out"
	vcmd "vouchctl guard check lab --memory $SPEC --state $S --json" \
	    >"$TMP/check.jsonl" 2>"$TMP/check.err"
	rc=$?
	if [ $rc -eq 1 ]; then tap_ok "guard check over $SPEC: exit 1 on the hooked table"
	else tap_fail "guard check over $SPEC: exit 1 on the hooked table" "exit $rc"
		sed 's/^/    # /' "$TMP/check.jsonl" "$TMP/check.err" | tail -5; fi
	check "the syscall_hook finding names both handlers (getppid expected, getpid found)" \
	    jqe -s 'map(select(.type? == "syscall_hook" and .index == 110))[0] |
	        (.expected_sym | test("getppid")) and (.actual_sym | test("getpid"))' \
	    "$TMP/check.jsonl"

	# vouch-guard --once in dom0, repair on, from the saved baseline.
	vcmd "printf '%s\n' 'version = 1;' 'guards = ( { target = \"lab\"; memory = \"$SPEC\"; period_ms = 1000; repair = true; state = \"$S\"; } );' >/tmp/guards.cfg" \
	    >/dev/null 2>&1
	check "vouch-guard --once (repair = true) in dom0" \
	    vcmd "vouch-guard --policy /tmp/guards.cfg --target lab --once --json-log /tmp/find.jsonl"
	"$XL" cmd "$D" 'cat /tmp/find.jsonl' | tr -d '\r' >"$TMP/find.jsonl" 2>&1
	check "vouch-guard repaired sys_call_table[110] to the baseline's handler" \
	    jqe -s 'map(select(.type? == "repaired" and .index == 110 and
	        (.expected_sym | test("getppid")))) | length == 1' "$TMP/find.jsonl"
	check "guard check over $SPEC after the repair: clean again (exit 0)" \
	    vcmd "vouchctl guard check lab --memory $SPEC --state $S --json"
	check_grep '"findings":0' "guard check after the repair: no findings"
	check "the domU still answers after the repair" dcmd 'echo alive'
	check_grep '^alive$' "the domU's answer after the repair"
	echo "# VMI on Xen (ps, check, tamper, check, guard, check): $(( $(date +%s) - t_vmi )) s"
else
	tap_skip "the guard's checks on Xen" "vouchctl, vouch-guard, vmi_tamper or jq missing"
fi

# --- (f) pause / unpause --------------------------------------------------
check "xl pause lab" xl_ pause lab
xl_ list lab >"$TMP/last.out" 2>&1
check_grep '^lab .* --p--- ' "xl list: lab paused"
p1=$(tick)
# Absence needs a window: 3 s is three ticks of a running domU.
sleep 3
p2=$(tick)
if [ -n "$p1" ] && [ "$p1" = "$p2" ]; then tap_ok "no ticks while paused ($p1)"
else tap_fail "no ticks while paused" "'$p1' -> '$p2'"; fi
check "xl unpause lab" xl_ unpause lab
if p3=$(wait_tick_above "${p2:-0}" 60); then tap_ok "the ticker resumes after unpause ($p2 -> $p3)"
else tap_fail "the ticker resumes after unpause" "'$p2' -> '$p3'"; fi
check "xl destroy lab" xl_ destroy lab
xl_ list >"$TMP/last.out" 2>&1
if grep -q '^Domain-0 ' "$TMP/last.out" && ! grep -q '^lab ' "$TMP/last.out"; then
	tap_ok "after destroy only Domain-0 is left"
else tap_fail "after destroy only Domain-0 is left"; sed 's/^/    # /' "$TMP/last.out"; fi

# --- (g) stop -------------------------------------------------------------
pid=$(cat "$D/qemu.pid")
check "xenlab.sh stop" "$XL" stop "$D"
if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q qemu; then
	tap_fail "QEMU (pid $pid) is gone"
else tap_ok "QEMU (pid $pid) is gone"; fi
check "a second stop is harmless" "$XL" stop "$D"
echo "# total: $(( $(date +%s) - t_all )) s"
