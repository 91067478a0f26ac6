#!/bin/bash
# The QEMU migration driver (migrate/drv_qemu.c over QMP) against real
# lab guests, driven only through the driver API (tests/tools/mig_tool).
#
#   1. state/pause/resume: running -> paused -> running; a destination
#      started with --incoming is "inmigrate"
#   2. plain tcp, uncapped: completed; the destination runs, the source
#      is gone (destroyed after success); VOUCH-TICK goes on at the
#      destination from where it was
#   3. capped at QEMU's default 128 MiB/s: completed, small downtime
#   4. TLS with the region PKI (vouchctl region init, host certs h1, h2):
#      source client cert h1, destination server cert h2, peer h2 -> ok
#   5. TLS, peer h3 (not the name in h2's certificate) -> refused; the
#      source still runs, the destination does not
#   6. the destination killed mid-stream (capped at 4 MiB/s): FAILED,
#      the source keeps running and ticking
# The numbers go out as "# migrate: ..." comments.  ~1 min under TCG.
. "$(dirname "$0")/../lib.sh"

LG="$ROOT/tools/guest/labguest.sh"
MT="$B/tests/tools/mig_tool"
for c in qemu-system-x86_64 python3 cpio; do
	command -v "$c" >/dev/null || { tap_skip "migrate_qemu" "$c missing"; exit 0; }
done
[ -x /bin/busybox ] || { tap_skip "migrate_qemu" "busybox-static missing"; exit 0; }
for f in "$MT" "$VOUCHCTL"; do
	[ -x "$f" ] || { tap_fail "binaries built" "$f missing"; exit 1; }
done

# free_port: a TCP port nobody listens on now
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
last_tick() { tr -d '\r' <"$1/console.log" 2>/dev/null | sed -n 's/^VOUCH-TICK \([0-9]*\)$/\1/p' | tail -n1; }
first_tick() { tr -d '\r' <"$1/console.log" 2>/dev/null | sed -n 's/^VOUCH-TICK \([0-9]*\)$/\1/p' | head -n1; }
state() { "$MT" state "$1/qmp.sock" 2>&1; }
# expect_state NAME DIR STATE...: ok if DIR's VM is in one of STATEs
expect_state() {
	local name=$1 d=$2 s w; shift 2
	s=$(state "$d")
	for w in "$@"; do
		[ "$s" = "$w" ] && { tap_ok "$name ($s)"; return 0; }
	done
	tap_fail "$name" "state '$s', want $*"
}
# boot DIR [--incoming]: a lab guest, stopped by the EXIT trap
boot() {
	local d=$1; shift
	at_exit "'$LG' stop '$d'"
	"$LG" start "$d" "$@" >"$TMP/start.out" 2>&1 ||
	    { sed 's/^/    # /' "$TMP/start.out" | tail -20; return 1; }
}
# migrate NAME SRC DST [mig_tool options]: run mig_tool migrate, keep its
# JSON line in $TMP/mig.json and its exit code in $mig_rc
migrate() {
	local name=$1 s=$2 d=$3; shift 3
	"$MT" migrate "$s/qmp.sock" "$d/qmp.sock" "tcp:127.0.0.1:$(free_port)" \
	    "$@" >"$TMP/mig.json" 2>"$TMP/mig.err"
	mig_rc=$?
	echo "# migrate ($name): $(cat "$TMP/mig.json")"
}
jfield() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/mig.json" "$1" 2>/dev/null; }

A="$TMP/a" Bd="$TMP/b"
boot "$A" || { tap_fail "source guest boots"; exit 1; }
tap_ok "source guest boots"

# --- 1. state, pause, resume --------------------------------------------
expect_state "state of a booted guest" "$A" running
check "pause" "$MT" pause "$A/qmp.sock"
expect_state "after pause" "$A" paused
check "resume" "$MT" resume "$A/qmp.sock"
expect_state "after resume" "$A" running
expect_state "state of a VM that never was" "$TMP/none" gone
boot "$Bd" --incoming || { tap_fail "destination starts"; exit 1; }
expect_state "a destination waits" "$Bd" inmigrate

# --- 2. plain, uncapped ---------------------------------------------------
sleep 1.5
migrate "tcp, uncapped" "$A" "$Bd"
t_src=$(last_tick "$A")
if [ "$mig_rc" -eq 0 ] && [ "$(jfield status)" = completed ]; then
	tap_ok "tcp, uncapped: completed in $(jfield total_time_ms) ms, downtime $(jfield downtime_ms) ms"
else tap_fail "tcp, uncapped: completed" "rc $mig_rc: $(cat "$TMP/mig.json" "$TMP/mig.err")"; fi
expect_state "the destination runs" "$Bd" running
expect_state "the source is gone" "$A" gone postmigrate
sleep 2.2
t_dst1=$(first_tick "$Bd") t_dst2=$(last_tick "$Bd")
if [ -n "$t_src" ] && [ -n "$t_dst1" ] && [ -n "$t_dst2" ] &&
    [ "$t_dst1" -ge "$t_src" ] && [ "$t_dst1" -le $((t_src + 2)) ] &&
    [ "$t_dst2" -gt "$t_dst1" ]; then
	tap_ok "the ticker goes on at the destination (source $t_src, destination $t_dst1 -> $t_dst2)"
else tap_fail "the ticker goes on at the destination" "source '$t_src', destination '$t_dst1' -> '$t_dst2'"; fi

# --- 3. capped at 128 MiB/s -----------------------------------------------
boot "$A" --incoming || { tap_fail "destination starts"; exit 1; }
migrate "tcp, 128 MiB/s" "$Bd" "$A" --max-bw $((128 << 20))
if [ "$mig_rc" -eq 0 ] && [ "$(jfield status)" = completed ]; then
	tap_ok "tcp, 128 MiB/s: completed in $(jfield total_time_ms) ms, downtime $(jfield downtime_ms) ms"
else tap_fail "tcp, 128 MiB/s: completed" "rc $mig_rc: $(cat "$TMP/mig.json" "$TMP/mig.err")"; fi
expect_state "the destination runs" "$A" running

# --- 4. TLS with the region PKI --------------------------------------------
PKI="$TMP/pki"
if "$VOUCHCTL" region init --dir "$PKI/ca" >"$TMP/pki.out" 2>&1 &&
    "$VOUCHCTL" host cert h1 --ca-dir "$PKI/ca" --out "$PKI/hosts" >>"$TMP/pki.out" 2>&1 &&
    "$VOUCHCTL" host cert h2 --ca-dir "$PKI/ca" --out "$PKI/hosts" >>"$TMP/pki.out" 2>&1; then
	tap_ok "region PKI: CA and host certificates h1, h2"
else tap_fail "region PKI" "$(cat "$TMP/pki.out")"; exit 1; fi
# QEMU's x509 directory layout: the sender holds h1 as a client, the
# receiver h2 as a server; both trust the region CA.
mkdir -p "$PKI/src" "$PKI/dst"
cp "$PKI/ca/ca.pem" "$PKI/src/ca-cert.pem"
cp "$PKI/ca/ca.pem" "$PKI/dst/ca-cert.pem"
cp "$PKI/hosts/h1.pem" "$PKI/src/client-cert.pem"
cp "$PKI/hosts/h1.key" "$PKI/src/client-key.pem"
cp "$PKI/hosts/h2.pem" "$PKI/dst/server-cert.pem"
cp "$PKI/hosts/h2.key" "$PKI/dst/server-key.pem"

boot "$Bd" --incoming || { tap_fail "destination starts"; exit 1; }
migrate "TLS, peer h2" "$A" "$Bd" --tls-src "$PKI/src" --tls-dst "$PKI/dst" --peer h2
if [ "$mig_rc" -eq 0 ] && [ "$(jfield status)" = completed ]; then
	tap_ok "TLS, peer h2: completed in $(jfield total_time_ms) ms"
else tap_fail "TLS, peer h2: completed" "rc $mig_rc: $(cat "$TMP/mig.json" "$TMP/mig.err")"; fi
expect_state "the destination runs" "$Bd" running
expect_state "the source is gone" "$A" gone postmigrate

# --- 5. TLS, wrong peer name ------------------------------------------------
boot "$A" --incoming || { tap_fail "destination starts"; exit 1; }
migrate "TLS, peer h3" "$Bd" "$A" --tls-src "$PKI/src" --tls-dst "$PKI/dst" --peer h3
if [ "$mig_rc" -ne 0 ] && [ "$(jfield status)" = failed ]; then
	tap_ok "TLS, peer h3: refused ($(jfield error))"
else tap_fail "TLS, peer h3: refused" "rc $mig_rc: $(cat "$TMP/mig.json" "$TMP/mig.err")"; fi
expect_state "the source still runs" "$Bd" running
expect_state "the destination does not run" "$A" gone inmigrate paused

# --- 6. destination killed mid-stream ----------------------------------------
boot "$A" --incoming || { tap_fail "destination starts"; exit 1; }
t0=$(last_tick "$Bd")
"$MT" migrate "$Bd/qmp.sock" "$A/qmp.sock" "tcp:127.0.0.1:$(free_port)" \
    --max-bw $((4 << 20)) >"$TMP/mig.json" 2>"$TMP/mig.err" &
mpid=$!
at_exit "kill $mpid"
sleep 2
kill -KILL "$(cat "$A/qemu.pid")"
wait "$mpid"; mig_rc=$?
echo "# migrate (destination killed): $(cat "$TMP/mig.json")"
if [ "$mig_rc" -ne 0 ] && [ "$(jfield status)" = failed ]; then
	tap_ok "destination killed mid-stream: FAILED ($(jfield error))"
else tap_fail "destination killed mid-stream: FAILED" "rc $mig_rc: $(cat "$TMP/mig.json" "$TMP/mig.err")"; fi
expect_state "the source keeps running" "$Bd" running
sleep 2.2
t1=$(last_tick "$Bd")
if [ -n "$t0" ] && [ -n "$t1" ] && [ "$t1" -gt "$t0" ]; then
	tap_ok "the source's ticker goes on ($t0 -> $t1)"
else tap_fail "the source's ticker goes on" "'$t0' -> '$t1'"; fi

check "destroy" "$MT" destroy "$Bd/qmp.sock"
expect_state "after destroy" "$Bd" gone
