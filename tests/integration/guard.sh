#!/bin/bash
# Guards against real running Linux guests (QEMU TCG, Debian's 6.1 kernel,
# RAM in /dev/shm).  Everything is read from outside the guest; the
# attacker is tests/tools/vmi_tamper, writing guest kernel memory from
# outside the way a rootkit would from inside.
#
#   1. a guest booted from the bzImage (physical + virtual KASLR): the
#      profile's slide equals the guest's own /proc/kallsyms; the process
#      list read from outside equals the guest's own ps; a guard (period
#      100 ms, repair off) finds a hidden process, a hooked syscall-table
#      entry within a period, a changed kernel text byte, a module
#      unlinked from the module list, a task given pid 1's cred and an
#      IDT gate pointed elsewhere; guest memory was never written by the
#      guard (its findings stay).
#   2. repair on: a hooked entry is restored by the guard, the guest keeps
#      running and its syscalls keep working.
#   3. a guest booted with nokaslr: same profile, slide 0, process lists
#      equal, a full check is clean.
. "$(dirname "$0")/../lib.sh"

LG="$ROOT/tools/guest/labguest.sh"
TAMPER="$B/tests/tools/vmi_tamper"
GUARD="$B/vouch-guard"
for f in "$TAMPER" "$GUARD" "$VOUCHCTL"; do
	[ -x "$f" ] || { tap_fail "binaries built" "$f missing"; exit 1; }
done

g1="$TMP/g1"
if ! out=$("$LG" start "$g1" --bzimage 2>&1); then
	tap_fail "lab guest boots (bzImage, KASLR)" "$out"; exit 1
fi
at_exit "\"$LG\" stop \"$g1\""
tap_ok "lab guest boots (bzImage, KASLR): $out"
M1="qemu-file:$(cat "$g1/ram.path")"

# --- profile vs the guest's own view ------------------------------------
"$VOUCHCTL" guest info --memory "$M1" --json >"$TMP/info.json" 2>"$TMP/info.err"
check "guest info finds the kernel from memory alone" test -s "$TMP/info.json"
slide=$(jq -r .slide "$TMP/info.json" 2>/dev/null)
release=$(jq -r .release "$TMP/info.json" 2>/dev/null)
guest_release=$("$LG" cmd "$g1" sh "uname -r" | tr -d '\r')
check "release read from memory equals the guest's uname -r ($guest_release)" \
    test "$release" = "$guest_release"
# The guest's own /proc/kallsyms: init_task's running address.
kall=$("$LG" cmd "$g1" sh "grep ' init_task\$' /proc/kallsyms" | awk '{print $1}')
ours=$("$VOUCHCTL" guest info --memory "$M1" --symbol init_task 2>/dev/null)
check "init_task from memory ($ours) equals the guest's /proc/kallsyms ($kall)" \
    test -n "$kall" -a "0x$kall" = "$ours"
check "KASLR is on in this guest (slide $slide)" test "$slide" != "0x0" -a -n "$slide"

# --- process list from outside == the guest's ps ------------------------
# ps_equal G SPEC: the guest's ps (twice) around the outside view; the
# processes on both guest listings (PID, comm) must be exactly the
# outside view minus pid 0 and minus processes that exist on only one
# guest listing (the ps itself and the ticker's sleep come and go).
# The kernel's /proc shows a kworker as "kworker/0:1-<workqueue>" (the
# work it runs now, cut to 15 bytes); task->comm is "kworker/0:1".
guest_ps() {
	"$LG" cmd "$1" ps | awk 'NR > 1 { print $1, $2 }' |
	    sed -E 's|^([0-9]+ kworker/[^-]*)-.*$|\1|' | sort
}
ps_equal() {
	local g=$1 spec=$2
	guest_ps "$g" >"$TMP/ps.a"
	"$VOUCHCTL" guest ps --memory "$spec" --json |
	    jq -r '.processes[] | select(.pid != 0) | "\(.pid) \(.comm)"' | sort >"$TMP/ps.out"
	guest_ps "$g" >"$TMP/ps.b"
	comm -12 "$TMP/ps.a" "$TMP/ps.b" >"$TMP/ps.stable"
	# every stable guest process is seen from outside ...
	comm -23 "$TMP/ps.stable" "$TMP/ps.out" >"$TMP/ps.missing"
	# ... and everything seen from outside is on one of the guest lists
	sort -u "$TMP/ps.a" "$TMP/ps.b" | comm -13 - "$TMP/ps.out" >"$TMP/ps.extra"
	[ -s "$TMP/ps.stable" ] && [ ! -s "$TMP/ps.missing" ] && [ ! -s "$TMP/ps.extra" ]
}
if ps_equal "$g1" "$M1"; then
	tap_ok "process list from outside equals the guest's ps ($(wc -l <"$TMP/ps.stable") processes)"
else
	tap_fail "process list from outside equals the guest's ps" \
	    "missing: $(tr '\n' ',' <"$TMP/ps.missing") extra: $(tr '\n' ',' <"$TMP/ps.extra")"
fi
check "the lab's long-running daemons are seen from outside" grep -q " httpd$" "$TMP/ps.out"

# --- a guard, repair off ------------------------------------------------
cat >"$TMP/guards.cfg" <<EOF
version = 1;
guards = (
  { target = "g1"; memory = "$M1"; period_ms = 100; repair = false;
    state = "$TMP/g1.state.json"; }
);
EOF
"$GUARD" --policy "$TMP/guards.cfg" --target g1 --json-log "$TMP/find.jsonl" \
    >"$TMP/guard.out" 2>&1 &
gpid=$!
at_exit "kill $gpid"
for _ in $(seq 200); do [ -s "$TMP/g1.state.json" ] && break; sleep 0.1; done
check "guard paired: baseline state written" test -s "$TMP/g1.state.json"
sleep 1
check "a clean guest gives no findings" test ! -s "$TMP/find.jsonl"

# wait_finding TYPE [JQ-FILTER] [TIMEOUT_S]: wait for a finding in the log
wait_finding() {
	local type=$1 filt=${2:-true} t=${3:-10} i
	for i in $(seq $((t * 20))); do
		[ -s "$TMP/find.jsonl" ] && jqe -s --arg t "$type" \
		    "map(select(.type == \$t and ($filt))) | length > 0" \
		    "$TMP/find.jsonl" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

# hide a process (guest paused while the list is rewritten)
# the long-running "sleep 1000000" (a child of init), not the ticker's
# short "sleep 1", which may exit before the check
hpid=$("$VOUCHCTL" guest ps --memory "$M1" --json |
    jq -r '[.processes[] | select(.comm == "sleep" and .ppid == 1)][0].pid')
"$LG" qmp "$g1" stop >/dev/null
"$TAMPER" "$M1" hide-pid "$hpid" >"$TMP/tamper.out" 2>&1
"$LG" qmp "$g1" cont >/dev/null
check "the guest still lists the hidden pid $hpid itself" \
    sh -c "\"$LG\" cmd \"$g1\" ps | awk '\$1 == $hpid' | grep -q ."
if wait_finding hidden_process ".pid == $hpid"; then
	tap_ok "hidden process $hpid reported by the guard"
else
	tap_fail "hidden process $hpid reported by the guard" "$(cat "$TMP/find.jsonl" "$TMP/guard.out" | tail -5)"
fi
"$VOUCHCTL" guest ps --memory "$M1" --json | jq -r '.processes[].pid' >"$TMP/ps.after"
check "the outside task-list view no longer has pid $hpid" sh -c "! grep -qx $hpid $TMP/ps.after"

# hook getppid (110) with getpid (39): time to the finding
"$TAMPER" "$M1" hook-syscall 110 39 >"$TMP/tamper.out" 2>&1
t0=$(date +%s%N)
if wait_finding syscall_hook ".index == 110"; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	tap_ok "hooked sys_call_table[110] reported in ${ms} ms (period 100 ms)"
	echo "# hook to finding: ${ms} ms"
else
	tap_fail "hooked sys_call_table[110] reported" "$(tail -3 "$TMP/find.jsonl")"
fi
check "the finding names both handlers" \
    jqe -s 'map(select(.type == "syscall_hook"))[0] | (.expected_sym | test("getppid")) and (.actual_sym | test("getpid"))' "$TMP/find.jsonl"
sleep 0.5
check "repair off: the hooked entry stays (the guard never writes)" \
    bash -c "\"$VOUCHCTL\" guard check g1 --policy \"$TMP/guards.cfg\" --json | jqe -s 'map(select(.type == \"syscall_hook\" and .index == 110)) | length == 1' >/dev/null"

# one changed byte of kernel text
"$TAMPER" "$M1" text-byte >"$TMP/tamper.out" 2>&1
if wait_finding text_modified; then tap_ok "changed kernel text byte reported ($(cat "$TMP/tamper.out"))"
else tap_fail "changed kernel text byte reported" "$(tail -3 "$TMP/find.jsonl")"; fi
# a loaded module (Debian's dummy.ko) unlinked from the module list
"$TAMPER" "$M1" hide-module dummy >"$TMP/tamper.out" 2>&1
if wait_finding hidden_module; then tap_ok "module unlinked from the module list reported (still in /sys/module)"
else tap_fail "hidden module reported" "$(cat "$TMP/tamper.out"; tail -3 "$TMP/find.jsonl")"; fi
# a process given pid 1's cred by pointer
cpid=$(awk '$2 == "crond" { print $1 }' "$TMP/ps.stable" | head -n1)
"$TAMPER" "$M1" share-cred "$cpid" >"$TMP/tamper.out" 2>&1
if wait_finding shared_cred ".detail | test(\"pid $cpid \\\\(\")"; then
	tap_ok "crond ($cpid) sharing pid 1's cred reported"
else tap_fail "shared cred reported" "$(cat "$TMP/tamper.out"; tail -3 "$TMP/find.jsonl")"; fi
# the 32-bit syscall gate pointed at the breakpoint handler
"$TAMPER" "$M1" hook-idt 128 3 >"$TMP/tamper.out" 2>&1
if wait_finding idt_hook ".index == 128"; then tap_ok "IDT vector 128 hook reported"
else tap_fail "IDT hook reported" "$(cat "$TMP/tamper.out"; tail -3 "$TMP/find.jsonl")"; fi
ticks=$(grep -c VOUCH-TICK "$g1/console.log"); sleep 1.5
check "the guest keeps running (ticks go on)" test "$(grep -c VOUCH-TICK "$g1/console.log")" -gt "$ticks"
kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null
check "the guard's state holds the last findings" \
    jqe '.last_findings | length > 0' "$TMP/g1.state.json"

# --- repair on ----------------------------------------------------------
# The same guest, a new guard with repair: its state file is reused (the
# baseline from before the tampering), so the hooked entry is repaired
# at the first run; hook another entry while it runs.
sed 's/repair = false/repair = true/' "$TMP/guards.cfg" >"$TMP/guards-repair.cfg"
: >"$TMP/find.jsonl"
"$GUARD" --policy "$TMP/guards-repair.cfg" --target g1 --json-log "$TMP/find.jsonl" \
    >"$TMP/guard.out" 2>&1 &
gpid=$!
at_exit "kill $gpid"
if wait_finding repaired ".index == 110"; then tap_ok "repair on: sys_call_table[110] restored from the baseline"
else tap_fail "repair on: sys_call_table[110] restored" "$(cat "$TMP/find.jsonl" "$TMP/guard.out" | tail -5)"; fi
"$TAMPER" "$M1" hook-syscall 39 110 >"$TMP/tamper.out" 2>&1
if wait_finding repaired ".index == 39"; then tap_ok "repair on: a new hook (getpid) restored while running"
else tap_fail "repair on: a new hook restored" "$(tail -3 "$TMP/find.jsonl")"; fi
sleep 0.3
"$VOUCHCTL" guard check g1 --policy "$TMP/guards-repair.cfg" --json >"$TMP/check.jsonl" 2>&1
check "after repair no syscall finding remains" \
    jqe -s 'map(select(.type == "syscall_hook" or .type == "syscall_outside_text")) | length == 0' "$TMP/check.jsonl"
check "the guest's syscalls still work (a command runs)" "$LG" cmd "$g1" echo still-alive
ppid_out=$("$LG" cmd "$g1" sh 'echo $PPID' 2>/dev/null | tr -d '\r')
check "getppid answers again after repair (PPID=$ppid_out)" test -n "$ppid_out"
kill "$gpid" 2>/dev/null; wait "$gpid" 2>/dev/null

# --- nokaslr ------------------------------------------------------------
"$LG" stop "$g1" >/dev/null 2>&1
g2="$TMP/g2"
if ! out=$("$LG" start "$g2" --vmlinux --nokaslr 2>&1); then
	tap_fail "lab guest boots (vmlinux, nokaslr)" "$out"; exit 1
fi
at_exit "\"$LG\" stop \"$g2\""
tap_ok "lab guest boots (vmlinux, nokaslr): $out"
M2="qemu-file:$(cat "$g2/ram.path")"
slide=$("$VOUCHCTL" guest info --memory "$M2" --json | jq -r .slide)
check "nokaslr: slide is 0 ($slide)" test "$slide" = "0x0"
if ps_equal "$g2" "$M2"; then tap_ok "nokaslr: process list from outside equals the guest's ps"
else tap_fail "nokaslr: process lists equal" "missing: $(tr '\n' ',' <"$TMP/ps.missing") extra: $(tr '\n' ',' <"$TMP/ps.extra")"; fi
"$VOUCHCTL" guard check --memory "$M2" --json >"$TMP/check2.jsonl" 2>"$TMP/check2.err"
rc=$?
check "nokaslr: a full check of a clean guest passes (exit $rc)" test "$rc" -eq 0
