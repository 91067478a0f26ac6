#!/bin/bash
# vouchd: configuration checks (-n, -nv, file:line errors, the lab fault
# switch refused outside the lab), answering CHALLENGEs over mutual TLS
# with evidence that `vouchctl verify` accepts against the host's AK,
# re-measurement (a changed file appears in the next evidence; an
# unchanged one does not grow the log), crash recovery of the runtime
# log, concurrent challenges, clean SIGTERM (exit 0, no TPM
# handle left).  With a built vouch-tcbd (any build dir next to ours):
# enrolment, epochs, neighbours challenging each other and verdicts.
. "$(dirname "$0")/../lib.sh"

for c in swtpm python3 ss openssl; do
	command -v "$c" >/dev/null || { tap_skip "vouchd" "$c missing"; echo "1..$_tap_n"; exit 0; }
done
VOUCHD="$B/vouchd"
[ -x "$VOUCHD" ] || { echo "Bail out! $VOUCHD not built"; exit 1; }

lab_swtpm_start 2
PKI="$TMP/pki"
"$VOUCHCTL" region init --dir "$PKI/ca" >/dev/null || { echo "Bail out! region init"; exit 1; }
for h in h1 h2 tcbd admin; do
	"$VOUCHCTL" host cert "$h" --ca-dir "$PKI/ca" --out "$PKI" >/dev/null ||
	    { echo "Bail out! host cert $h"; exit 1; }
done

# free_port: a TCP port nobody listens on now
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
P_TCBD=$(free_port); P1=$(free_port); P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done

cat >"$TMP/region.cfg" <<EOF
region = { name = "lab-vouchd";
  tcbd = { name = "tcbd"; addr = "127.0.0.1"; port = $P_TCBD; };
  hosts = ( { name = "h1"; addr = "127.0.0.1"; port = $P1; },
            { name = "h2"; addr = "127.0.0.1"; port = $P2; } ); };
EOF
sed 's/name = "lab-vouchd"/name = "prod-vouchd"/' "$TMP/region.cfg" >"$TMP/prod-region.cfg"

M="$TMP/measured"
mkdir -p "$M"
echo "hypervisor v1" >"$M/xen.gz"
echo "toolstack" >"$M/xl"
sha() { sha256sum "$1" | cut -d' ' -f1; }
write_policy() {	# FILE: reference values = the files as they are now
	cat >"$1" <<EOF
version = 1;
name = "vouchd-test";
attestation = { pcrs = "sha256:0-7,23"; runtime_pcr = 23; ak = "ecc"; };
measure = { files = [ "$M/xen.gz", "$M/xl" ]; interval = 1; };
reference = {
  boot = ( );
  runtime = ( { path = "$M/xen.gz"; digest = "sha256:$(sha "$M/xen.gz")"; },
              { path = "$M/xl"; digest = "sha256:$(sha "$M/xl")"; } );
};
EOF
}
write_policy "$TMP/policy.cfg"
XEN_V1=$(sha "$M/xen.gz")

conf() {	# HOST INDEX [EXTRA [REGION]]: write $TMP/HOST.cfg
	cat >"$TMP/$1.cfg" <<EOF
host = "$1";
tcti = "${TCTI[$2]}";
state_dir = "$TMP/state-$1";
region = "${4:-$TMP/region.cfg}";
policy = "$TMP/policy.cfg";
tls = { cert = "$PKI/$1.pem"; key = "$PKI/$1.key"; ca = "$PKI/ca/ca.pem"; };
interval = 1;
${3:-}
EOF
}
conf h1 0
conf h2 1

# ---- configuration -------------------------------------------------------
check "vouchd -n accepts a good configuration" "$VOUCHD" -n -f "$TMP/h1.cfg"
check_grep "configuration OK" "-n says OK"
check "vouchd -nv prints the effective configuration" "$VOUCHD" -nv -f "$TMP/h1.cfg"
check_grep "^listen = \"127.0.0.1:$P1\";" "-nv: listen defaults to the region's address"
check_grep "runtime_log = \"$TMP/state-h1/runtime_measurements\";" "-nv: runtime log default"
check_grep "lab = \{ enabled = false; lie = \"none\"; \};" "-nv: honest by default"

# golden -nv output (paths of this run substituted)
"$VOUCHD" -nv -f "$TMP/h1.cfg" 2>&1 | sed "s|$TMP|TMP|g; s|port=[0-9]*|port=P|; s|:$P1\";|:P1\";|; s|at 127.0.0.1:$P_TCBD|at 127.0.0.1:PT|" >"$TMP/nv.out"
cat >"$TMP/nv.want" <<'EOF'
# effective configuration of TMP/h1.cfg
host = "h1";
tcti = "swtpm:host=127.0.0.1,port=P";
state_dir = "TMP/state-h1";
listen = "127.0.0.1:P1";
region = "TMP/region.cfg";	# region 'lab-vouchd', 2 hosts, tcbd tcbd at 127.0.0.1:PT
policy = "TMP/policy.cfg";	# policy 'vouchd-test'
tls = { cert = "TMP/pki/h1.pem"; key = "TMP/pki/h1.key"; ca = "TMP/pki/ca/ca.pem"; };
# eventlog: none
runtime_log = "TMP/state-h1/runtime_measurements";
interval = 1;
lab = { enabled = false; lie = "none"; };
EOF
if diff -u "$TMP/nv.want" "$TMP/nv.out" >"$TMP/nv.diff"; then tap_ok "-nv output matches the golden text"
else tap_fail "-nv output matches the golden text"; sed 's/^/    # /' "$TMP/nv.diff"; fi

conf bad 0 'colour = "blue";'
check_exit 2 "unknown key refused" "$VOUCHD" -n -f "$TMP/bad.cfg"
check_grep "bad.cfg:8: colour: unknown key" "error names file:line: field"

conf liar 0 'lab = { lie = "fail"; };'
sed -i 's/^host = "liar";/host = "h1";/' "$TMP/liar.cfg"
check_exit 2 "lab fault switch without lab mode: -n refuses" "$VOUCHD" -n -f "$TMP/liar.cfg"
check_grep "needs lab mode" "the refusal says why"
check_exit 2 "lab fault switch without lab mode: vouchd refuses to start" \
    timeout 10 "$VOUCHD" -f "$TMP/liar.cfg"
check_grep "liar.cfg:8: lab.lie: lie = \"fail\" needs lab mode" "start-up refusal names file:line"

conf prodliar 0 'lab = { enabled = true; lie = "fail"; };' "$TMP/prod-region.cfg"
sed -i 's/^host = "prodliar";/host = "h1";/' "$TMP/prodliar.cfg"
check_exit 2 "lab mode outside a lab region refused" timeout 10 "$VOUCHD" -f "$TMP/prodliar.cfg"
check_grep "refused outside the lab \(region 'prod-vouchd'" "the refusal names the region"
check "no state created by refused starts" test ! -e "$TMP/state-h1"

# ---- running ---------------------------------------------------------------
start_vouchd() {	# HOST: start, wait until it listens; sets PID_<HOST>
	local h=$1 port i pid
	port=$(awk -v h="$h" '$0 ~ "name = \""h"\"" { sub(/.*port = /, ""); sub(/;.*/, ""); print }' "$TMP/region.cfg")
	"$VOUCHD" -d -f "$TMP/$h.cfg" >>"$TMP/$h.log" 2>&1 &
	pid=$!
	at_exit "kill $pid 2>/dev/null; sleep 0.3"
	eval "PID_$h=$pid"
	for ((i = 0; i < 200; i++)); do
		ss -Htln | awk '{print $4}' | grep -q ":$port\$" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
RT1="$TMP/state-h1/runtime_measurements"
NONCE=$(openssl rand -hex 32)
challenge() {	# HOST OUT [NONCE]
	"$VOUCHCTL" challenge "$1" --region "$TMP/region.cfg" --cert "$PKI/admin.pem" \
	    --key "$PKI/admin.key" --ca "$PKI/ca/ca.pem" --nonce "${3:-$NONCE}" \
	    --pcrs sha256:0-7,23 -o "$2"
}
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

if start_vouchd h1; then tap_ok "vouchd h1 starts and listens"
else tap_fail "vouchd h1 starts and listens"; sed 's/^/    # /' "$TMP/h1.log"; echo "1..$_tap_n"; exit 1; fi
check "a new host gets an AK" test -s "$TMP/state-h1/ak.pem"
PRIV_h1=$(pgrep -P "$PID_h1" | head -1)
check "privilege separation: a child process holds the TPM" test -n "$PRIV_h1"
check "... the child is vouchd too" grep -q vouchd "/proc/${PRIV_h1:-0}/cmdline"
# the first interval measures both files
for ((i = 0; i < 600; i++)); do [ "$(lines "$RT1")" -ge 2 ] && break; sleep 0.05; done
check "first interval logs both policy files" test "$(lines "$RT1")" -eq 2

check "vouchctl challenge h1" challenge h1 "$TMP/ev1.json"
check "evidence verifies with h1's AK, the nonce and the policy" \
    "$VOUCHCTL" verify "$TMP/ev1.json" --ak "$TMP/state-h1/ak.pem" --nonce "$NONCE" --policy "$TMP/policy.cfg"
check_grep "^PASS" "verdict PASS"
check_grep "runtime-log +ok" "runtime log replays to the quoted PCR 23"
check_exit 1 "the same evidence with another nonce fails" \
    "$VOUCHCTL" verify "$TMP/ev1.json" --ak "$TMP/state-h1/ak.pem" --nonce "$(openssl rand -hex 32)"
check_grep "nonce +FAIL" "... at the nonce check"
check "evidence names the host" grep -q '"host": *"h1"' "$TMP/ev1.json"

sleep 2.5
check "unchanged files do not grow the log over intervals" test "$(lines "$RT1")" -eq 2

echo "hypervisor v2 (tampered)" >"$M/xen.gz"
for ((i = 0; i < 600; i++)); do [ "$(lines "$RT1")" -ge 3 ] && break; sleep 0.05; done
check "a changed file is re-measured at the next interval" test "$(lines "$RT1")" -eq 3
check "the new entry has the new digest" grep -q "sha256:$(sha "$M/xen.gz") $M/xen.gz" "$RT1"
N2=$(openssl rand -hex 32)
check "challenge after the change" challenge h1 "$TMP/ev2.json" "$N2"
check_exit 1 "the changed file fails appraisal against the reference values" \
    "$VOUCHCTL" verify "$TMP/ev2.json" --ak "$TMP/state-h1/ak.pem" --nonce "$N2" --policy "$TMP/policy.cfg"
check_grep "runtime-log +ok" "... while its log still replays (the change is attested, not hidden)"
check_grep "refvals +FAIL" "... the reference-value check names it"
check_grep "xen.gz" "... naming the file"
check "the evidence carries the new measurement" grep -q "$(sha "$M/xen.gz")" "$TMP/ev2.json"

# several challengers at once: the TPM lock serialises, nobody fails
cpids=()
for k in 1 2 3 4; do challenge h1 "$TMP/evc$k.json" "$N2" >"$TMP/c$k.out" 2>&1 & cpids+=($!); done
wait "${cpids[@]}"
ok=0
for k in 1 2 3 4; do
	"$VOUCHCTL" verify "$TMP/evc$k.json" --ak "$TMP/state-h1/ak.pem" --nonce "$N2" >/dev/null 2>&1 && ok=$((ok + 1))
done
check "4 concurrent challenges all answered with valid quotes" test "$ok" -eq 4

"$VOUCHCTL" region init --dir "$TMP/other" >/dev/null &&
    "$VOUCHCTL" host cert admin --ca-dir "$TMP/other" --out "$TMP/other" >/dev/null
check_exit 1 "a client with another region's certificate is refused" \
    "$VOUCHCTL" challenge h1 --region "$TMP/region.cfg" --cert "$TMP/other/admin.pem" \
    --key "$TMP/other/admin.key" --ca "$TMP/other/ca.pem" --nonce "$NONCE" -o "$TMP/nope.json"
check "... and gets no evidence" test ! -e "$TMP/nope.json"
check "vouchd survives it" kill -0 "$PID_h1"

# SIGKILL of the network side: the privileged child sees EOF, flushes the
# AK and exits (a crashed vouchd leaves no handle behind either).
PRIV_h1=$(pgrep -P "$PID_h1" | head -1)
kill -KILL "$PID_h1"; wait "$PID_h1" 2>/dev/null
for ((i = 0; i < 300; i++)); do kill -0 "$PRIV_h1" 2>/dev/null || break; sleep 0.05; done
check "SIGKILL of vouchd: the privileged child exits by itself" bash -c "! kill -0 $PRIV_h1 2>/dev/null"
check "... leaving no TPM handle" "$VOUCHCTL" tpm handles --tcti "${TCTI[0]}" --json
check_grep '"transient_objects": 0, "sessions": 0' "... 0 objects, 0 sessions"
start_vouchd h1
PRIV_h1=$(pgrep -P "$PID_h1" | head -1)
check "vouchd h1 starts again" kill -0 "$PID_h1"

# SIGTERM: exit 0 (the time it took is reported), no TPM handle left behind
kill -TERM "$PID_h1"
t0=$(date +%s%N); rc=124
for ((i = 0; i < 300; i++)); do
	if ! kill -0 "$PID_h1" 2>/dev/null; then wait "$PID_h1"; rc=$?; break; fi
	sleep 0.05
done
t1=$(date +%s%N)
check "SIGTERM: vouchd exits 0" test "$rc" -eq 0
echo "# SIGTERM to exit: $(( (t1 - t0) / 1000000 )) ms"
check "the privileged child is gone too" bash -c "! kill -0 ${PRIV_h1:-999999} 2>/dev/null"
check "no TPM handle left loaded" "$VOUCHCTL" tpm handles --tcti "${TCTI[0]}" --json
check_grep '"transient_objects": 0, "sessions": 0' "... 0 objects, 0 sessions"
check "the log says it stopped" grep -q "vouchd: info: stopped" "$TMP/h1.log"

# Restart: the log is kept and nothing is re-logged; a line a crash left
# between append and extend is cut.
"$VOUCHCTL" measure --no-extend --log "$RT1" "$M/xl" >/dev/null
check "simulated crash: one log line the TPM does not hold" test "$(lines "$RT1")" -eq 4
: >"$TMP/h1.log"
if start_vouchd h1; then tap_ok "vouchd h1 restarts"; else tap_fail "vouchd h1 restarts"; sed 's/^/    # /' "$TMP/h1.log"; fi
check "start-up cut the trailing line" grep -q "cut 1 trailing runtime log line" "$TMP/h1.log"
sleep 1.5
check "restart re-logs nothing (digests learnt from the log)" test "$(lines "$RT1")" -eq 3
N3=$(openssl rand -hex 32)
check "challenge after restart" challenge h1 "$TMP/ev3.json" "$N3"
check "... its runtime log still replays" bash -c "'$VOUCHCTL' verify '$TMP/ev3.json' --ak '$TMP/state-h1/ak.pem' --nonce $N3 | grep -Eq 'runtime-log +ok'"

# The network side cannot go on without the TPM: if the privileged child
# dies, vouchd stops with status 1 (a supervisor restarts it).
PRIV_h1=$(pgrep -P "$PID_h1" | head -1)
kill -KILL "$PRIV_h1"
rc=124
for ((i = 0; i < 300; i++)); do
	if ! kill -0 "$PID_h1" 2>/dev/null; then wait "$PID_h1"; rc=$?; break; fi
	sleep 0.05
done
check "the privileged child killed: vouchd exits with status 1" test "$rc" -eq 1
check "... saying why" grep -q "privileged (TPM) process has gone away" "$TMP/h1.log"
start_vouchd h1

# ---- with vouch-tcbd: the region conversations ---------------------------
TCBD=""
for d in "$B" "$ROOT"/build-*/asan "$ROOT"/build/asan "$ROOT"/build-*; do
	[ -x "$d/vouch-tcbd" ] && { TCBD="$d/vouch-tcbd"; break; }
done
if [ -z "$TCBD" ]; then
	tap_skip "region conversations with vouch-tcbd" "vouch-tcbd not built yet"
else
	# h1's log holds xen.gz v1 and v2: the region policy knows both
	cat >"$TMP/policy2.cfg" <<EOF
version = 1;
name = "vouchd-test-region";
attestation = { pcrs = "sha256:0-7,23"; runtime_pcr = 23; ak = "ecc"; };
measure = { files = [ "$M/xen.gz", "$M/xl" ]; interval = 1; };
reference = {
  boot = ( );
  runtime = ( { path = "$M/xen.gz"; digest = "sha256:$XEN_V1"; },
              { path = "$M/xen.gz"; digest = "sha256:$(sha "$M/xen.gz")"; },
              { path = "$M/xl"; digest = "sha256:$(sha "$M/xl")"; } );
};
EOF
	mkdir -p "$TMP/tcbd"
	cat >"$TMP/tcbd.cfg" <<EOF
name = "tcbd";
region = "$TMP/region.cfg";
policy = "$TMP/policy2.cfg";
store = "sqlite:$TMP/tcbd/ivt.db";
admin_socket = "$TMP/tcbd/tcbd.sock";
tls = { cert = "$PKI/tcbd.pem"; key = "$PKI/tcbd.key"; ca = "$PKI/ca/ca.pem"; };
ek_ca = "$LAB_DIR/ca/ca.pem";
admins = [ "admin" ];
interval = 1;
freshness = 4;
neighbours = 2;
quorum = 2;
lab = { allow_faults = true; };
EOF
	kill -TERM "$PID_h1" 2>/dev/null; wait "$PID_h1" 2>/dev/null
	for h in h1 h2; do
		sed -i "s|^policy = .*|policy = \"$TMP/policy2.cfg\";|" "$TMP/$h.cfg"
		: >"$TMP/$h.log"
	done
	"$TCBD" -d -f "$TMP/tcbd.cfg" >"$TMP/tcbd.log" 2>&1 &
	PID_tcbd=$!
	at_exit "kill $PID_tcbd 2>/dev/null; sleep 0.3"
	for ((i = 0; i < 200; i++)); do
		ss -Htln | awk '{print $4}' | grep -q ":$P_TCBD\$" && break
		sleep 0.05
	done
	check "vouch-tcbd ($TCBD) listens" kill -0 "$PID_tcbd"
	state_of() {	# HOST
		"$VOUCHCTL" hosts --json --socket "$TMP/tcbd/tcbd.sock" 2>/dev/null |
		    python3 -c '
import json, sys
try:
    for h in json.load(sys.stdin)["hosts"]:
        if h["name"] == sys.argv[1]:
            print(h["state"])
except ValueError:
    pass' "$1"
	}
	wait_state() {	# STATE SECONDS HOST...
		local st=$1 end=$((SECONDS + $2)) h ok
		shift 2
		while [ $SECONDS -lt $end ]; do
			ok=1
			for h in "$@"; do [ "$(state_of "$h")" = "$st" ] || { ok=0; break; }; done
			[ $ok -eq 1 ] && return 0
			sleep 0.2
		done
		return 1
	}
	start_vouchd h1 && start_vouchd h2
	check "both vouchds start next to vouch-tcbd" kill -0 "$PID_h1" "$PID_h2"
	check "h1 and h2 become TRUSTED (enrolment, epochs, challenges, verdicts)" \
	    wait_state TRUSTED 30 h1 h2
	check "h1 enrolled" grep -q "enrolled with vouch-tcbd" "$TMP/h1.log"
	check "h2 enrolled" grep -q "enrolled with vouch-tcbd" "$TMP/h2.log"
	check "h1 appraised h2: PASS" grep -Eq "epoch [0-9]+: h2 PASS" "$TMP/h1.log"
	check "h2 appraised h1: PASS" grep -Eq "epoch [0-9]+: h1 PASS" "$TMP/h2.log"
	check "h1 reported its verdicts" grep -q "reported [0-9]* verdict" "$TMP/h1.log"
	check "h2 answered h1's challenge" grep -q "answered a challenge from h1" "$TMP/h2.log"

	# A liar cannot evict a healthy host: h1 reports FAIL for h2 every
	# epoch; vouch-tcbd re-verifies the forwarded evidence and attests
	# h2 directly.
	kill -TERM "$PID_h1"; wait "$PID_h1" 2>/dev/null
	echo 'lab = { enabled = true; lie = "fail"; };' >>"$TMP/h1.cfg"
	start_vouchd h1
	check "h1 restarts with the lab fault switch" kill -0 "$PID_h1"
	untrusted=0
	for ((k = 0; k < 30; k++)); do
		[ "$(state_of h2)" = UNTRUSTED ] && untrusted=1
		sleep 0.3
	done
	check "h1 lied about h2" grep -Eq "epoch [0-9]+: h2 FAIL \(lab fault switch\)" "$TMP/h1.log"
	check "the lie did not make h2 UNTRUSTED" test "$untrusted" -eq 0
	check "vouch-tcbd attested h2 directly" grep -q "answered a challenge from tcbd" "$TMP/h2.log"
	kill -TERM "$PID_h2" 2>/dev/null; wait "$PID_h2" 2>/dev/null
fi

kill -TERM "$PID_h1" 2>/dev/null; wait "$PID_h1" 2>/dev/null
echo "1..$_tap_n"
