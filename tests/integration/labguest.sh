#!/bin/bash
# The lab guest (tools/guest/labguest.sh): boot, command channel, QMP.
#   (a) --vmlinux boots to VOUCH-GUEST-READY; the console ticker advances
#   (b) cmd: ps lists the daemons with PIDs, echo answers, a failing
#       command returns its exit code and the channel keeps working
#   (c) QMP: query-status running; stop -> paused; cont -> running, the
#       ticker goes on
#   (d) the RAM file is /dev/shm/vouch-guest-*, 128 MiB; stop removes it
#       and the QEMU, and a second stop is harmless
#   (e) --bzimage boots too
# Boot times go out as "# boot: N s" comments.  ~25-35 s under TCG.
. "$(dirname "$0")/../lib.sh"

LG="$ROOT/tools/guest/labguest.sh"
for c in qemu-system-x86_64 python3 cpio; do
	command -v "$c" >/dev/null || { tap_skip "labguest" "$c missing"; exit 0; }
done
[ -x /bin/busybox ] || { tap_skip "labguest" "busybox-static missing"; exit 0; }
if ! "$LG" build >"$TMP/build.out" 2>&1; then
	tap_fail "labguest.sh build"; sed 's/^/    # /' "$TMP/build.out" | tail -20
	exit 1
fi
kdir=$(sed -n 1p "$TMP/build.out")
if [ -f "$kdir/vmlinux" ] && [ "$(head -c4 "$kdir/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
	tap_ok "kernel.sh extracted vmlinux (ELF) next to vmlinuz"
else tap_fail "kernel.sh extracted vmlinux (ELF) next to vmlinuz"; fi

# last_tick DIR: the highest VOUCH-TICK on DIR's console
last_tick() { tr -d '\r' <"$1/console.log" | sed -n 's/^VOUCH-TICK \([0-9]*\)$/\1/p' | tail -n1; }
# boot NAME DIR OPTS...: start a guest, print its boot time as a comment
boot() {
	local name=$1 d=$2; shift 2
	at_exit "'$LG' stop '$d'"
	if "$LG" start "$d" "$@" >"$TMP/start.out" 2>&1 &&
	    grep -q '^VOUCH-GUEST-READY' "$d/console.log"; then
		tap_ok "$name: VOUCH-GUEST-READY"
		echo "# boot: $(sed -n 's/^boot: \([0-9.]*\) s$/\1/p' "$TMP/start.out") s ($*)"
		return 0
	fi
	tap_fail "$name: VOUCH-GUEST-READY"; sed 's/^/    # /' "$TMP/start.out" | tail -20
	return 1
}

# --- (a) boot, ticker -----------------------------------------------------
G="$TMP/g1"
boot "start --vmlinux" "$G" --vmlinux || exit 1
t1=$(last_tick "$G"); sleep 2.2; t2=$(last_tick "$G")
if [ -n "$t1" ] && [ -n "$t2" ] && [ "$t2" -gt "$t1" ]; then
	tap_ok "the ticker advances ($t1 -> $t2)"
else tap_fail "the ticker advances" "'$t1' -> '$t2'"; fi

# --- (b) command channel --------------------------------------------------
check "cmd ps" "$LG" cmd "$G" ps
for p in syslogd crond httpd sleep; do
	check_grep "^ *[0-9]+ $p\$" "ps lists $p with its PID"
done
check "cmd echo hi" "$LG" cmd "$G" echo hi
if [ "$(cat "$TMP/last.out")" = hi ]; then tap_ok "echo answers exactly 'hi'"
else tap_fail "echo answers exactly 'hi'" "got '$(head -c 200 "$TMP/last.out")'"; fi
check_exit 1 "a failing command (cat of a missing file) exits 1" \
    "$LG" cmd "$G" cat /nonexistent
check_exit 127 "an unknown command exits 127" "$LG" cmd "$G" frobnicate
check "the channel still works after failures" "$LG" cmd "$G" uname
check_grep '^Linux vouch-guest 6\.1\.' "uname names the guest kernel"
check "cmd spin 1" "$LG" cmd "$G" spin 1
check_grep '^iterations=[0-9]+ centiseconds=[0-9]+$' "spin reports iterations and centiseconds"

# --- (c) QMP --------------------------------------------------------------
check "qmp query-status" "$LG" qmp "$G" query-status
check_grep '"status": "running"' "query-status: running"
check "qmp stop" "$LG" qmp "$G" '{"execute": "stop"}'
"$LG" qmp "$G" query-status >"$TMP/last.out" 2>&1
check_grep '"status": "paused"' "after stop: paused"
p1=$(last_tick "$G"); sleep 1.5; p2=$(last_tick "$G")
if [ "$p1" = "$p2" ]; then tap_ok "no ticks while paused ($p1)"
else tap_fail "no ticks while paused" "$p1 -> $p2"; fi
check "qmp cont" "$LG" qmp "$G" cont
"$LG" qmp "$G" query-status >"$TMP/last.out" 2>&1
check_grep '"status": "running"' "after cont: running"
check_exit 1 "a bad QMP command exits 1" "$LG" qmp "$G" no-such-command
check_grep 'CommandNotFound' "the QMP error is reported"
sleep 1.5; p3=$(last_tick "$G")
if [ -n "$p3" ] && [ "$p3" -gt "$p2" ]; then tap_ok "the ticker goes on after cont ($p2 -> $p3)"
else tap_fail "the ticker goes on after cont" "'$p2' -> '$p3'"; fi

# --- (d) RAM file, stop ---------------------------------------------------
ram=$(cat "$G/ram.path" 2>/dev/null)
case "$ram" in /dev/shm/vouch-guest-*) tap_ok "ram.path names $ram" ;;
*) tap_fail "ram.path names /dev/shm/vouch-guest-*" "'$ram'" ;; esac
sz=$(stat -c %s "$ram" 2>/dev/null)
if [ "$sz" = $((128 << 20)) ]; then tap_ok "the RAM file has 128 MiB"
else tap_fail "the RAM file has 128 MiB" "size '$sz'"; fi
pid=$(cat "$G/qemu.pid")
check "labguest.sh stop" "$LG" stop "$G"
if [ ! -e "$ram" ]; then tap_ok "stop removed the RAM file"; else tap_fail "stop removed the RAM file"; fi
if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q qemu; then
	tap_fail "QEMU (pid $pid) is gone"
else tap_ok "QEMU (pid $pid) is gone"; fi
check "a second stop is harmless" "$LG" stop "$G"

# --- (e) bzImage ----------------------------------------------------------
G2="$TMP/g2"
if boot "start --bzimage" "$G2" --bzimage; then
	ram=$(cat "$G2/ram.path")
	check "stop the bzImage guest" "$LG" stop "$G2"
	[ ! -e "$ram" ] && tap_ok "its RAM file is gone" || tap_fail "its RAM file is gone"
fi
