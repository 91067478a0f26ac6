#!/bin/bash
# region.sh - a whole region on one machine: N simulated hosts (each its
# own swtpm, state dir, measured "hypervisor" files and vouchd) and one
# vouch-tcbd, all on loopback ports.
#
#   region.sh start N DIR [--interval S] [--migration-hook HOOK
#             [--hook-arg ARG]... [--stream-timeout S]]
#                                         build everything under DIR, start
#                                         it, wait until every host is TRUSTED;
#                                         with --migration-hook every vouchd
#                                         gets a migration section (executes
#                                         MIG_ORDERs with that site hook,
#                                         e.g. tools/lab/vmhook.sh)
#   region.sh stop DIR                    stop every process of DIR
#   region.sh tamper DIR I                change host I's measured file
#   region.sh kill-host DIR I             SIGKILL host I's vouchd
#   region.sh start-host DIR I [LIE]      (re)start host I's vouchd
#                                         (LIE: fail|pass, the lab fault switch)
#   region.sh reboot-host DIR I           stop vouchd I, reset its TPM
#                                         (swtpm.sh reset), start vouchd I
#   region.sh kill-tcbd DIR               SIGKILL vouch-tcbd
#   region.sh start-tcbd DIR              (re)start vouch-tcbd
#   region.sh wait DIR STATE I... [--timeout S]
#                                         wait until hosts I... are in STATE
#   region.sh ctl DIR ARGS...             vouchctl ARGS with DIR's admin socket
#   region.sh vm-hosts DIR VMDIR          lay out VMDIR/hI for vmhook.sh: name,
#                                         tls-src/ and tls-dst/ (QEMU x509 files
#                                         from hI's region certificate)
#
# Layout of DIR (every path absolute):
#	tpm/                 swtpm.sh's lab (tpm/tpmI, EK CA tpm/ca/ca.pem)
#	pki/ca/              region CA; pki/NAME.pem|key for hI, tcbd, admin
#	hI/xen.gz, hI/xl     host I's measured files (I = 1..N)
#	state-hI/            host I's AK (vouchctl tpm init) and runtime log
#	eventlog.bin         a firmware event log with only the Spec ID header:
#	                     swtpm has no firmware, so its PCRs 0-7 stay zero,
#	                     and this log replays to exactly that; it lets a
#	                     reboot be re-appraised with "the full boot log"
#	policy.cfg           the region policy (vouch-tcbd): reference values
#	                     of every host's files (vouchctl policy refvals)
#	policy-hI.cfg        host I's policy: the same reference values, its
#	                     own files to measure
#	region.cfg, tcbd.cfg, hI.cfg
#	tcbd/                store (ivt.db), admin socket, hook output
#	log/                 tcbd.log, hI.log;  pid/ tcbd.pid, hI.pid
#
# Binaries: $VOUCH_BUILD (default: build/) must hold vouchctl, vouchd and
# vouch-tcbd.  The region's name starts with "lab", which the vouchd
# fault switch requires.
set -u
prog=${0##*/}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${VOUCH_BUILD:-$ROOT/build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
VOUCHCTL=$B/vouchctl
VOUCHD=$B/vouchd
TCBD=$B/vouch-tcbd

die() { echo "$prog: $*" >&2; exit 1; }
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$PWD" "$1" ;; esac; }

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }

# free_port: a loopback TCP port nobody listens on, below the ephemeral
# range (so no outgoing connection holds it) and not reserved by DIR yet
free_port() {
	local p i
	for ((i = 0; i < 500; i++)); do
		p=$((20000 + RANDOM % 12000))
		grep -qx "$p" "$D/.ports" 2>/dev/null && continue
		ss -Htln | awk '{print $4}' | grep -qE "[:.]$p\$" && continue
		echo "$p" >>"$D/.ports"
		echo "$p"
		return 0
	done
	return 1
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# our_pid NAME: the pid of DIR's process NAME if it still runs
our_pid() {
	local pid
	pid=$(cat "$D/pid/$1.pid" 2>/dev/null) || return 1
	alive "$pid" && grep -qa -- "$D/$1.cfg" "/proc/$pid/cmdline" 2>/dev/null &&
	    echo "$pid"
}

stop_proc() {	# NAME [SIGNAL]
	local pid i
	pid=$(our_pid "$1") || { rm -f "$D/pid/$1.pid"; return 0; }
	kill "-${2:-TERM}" "$pid" 2>/dev/null
	for ((i = 0; i < 150; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	alive "$pid" && kill -KILL "$pid" 2>/dev/null
	rm -f "$D/pid/$1.pid"
}

start_tcbd() {
	local i
	our_pid tcbd >/dev/null && return 0
	"$TCBD" -d -f "$D/tcbd.cfg" >>"$D/log/tcbd.log" 2>&1 &
	echo $! >"$D/pid/tcbd.pid"
	# Up to 60 s: an ASan build on 2 loaded cores can take seconds to
	# open its store; a test must not read a half-started lab.
	for ((i = 0; i < 1200; i++)); do
		[ -S "$D/tcbd/tcbd.sock" ] && "$VOUCHCTL" status --socket \
		    "$D/tcbd/tcbd.sock" >/dev/null 2>&1 && return 0
		# alive, not our_pid: until the child has exec'd, its cmdline
		# is still this script's
		alive "$(cat "$D/pid/tcbd.pid")" || break
		sleep 0.05
	done
	echo "$prog: vouch-tcbd did not start:" >&2
	tail -20 "$D/log/tcbd.log" >&2
	return 1
}

start_host() {	# I [LIE]
	local i=$1 lie=${2:-none} port k
	our_pid "h$i" >/dev/null && stop_proc "h$i"
	sed -i "s/^lab = .*/lab = { enabled = true; lie = \"$lie\"; };/" "$D/h$i.cfg"
	"$VOUCHD" -d -f "$D/h$i.cfg" >>"$D/log/h$i.log" 2>&1 &
	echo $! >"$D/pid/h$i.pid"
	port=$(cat "$D/.port-h$i")
	for ((k = 0; k < 1200; k++)); do	# up to 60 s, as start_tcbd
		ss -Htln | awk '{print $4}' | grep -q ":$port\$" && return 0
		alive "$(cat "$D/pid/h$i.pid")" || break	# as in start_tcbd
		sleep 0.05
	done
	echo "$prog: vouchd h$i did not start:" >&2
	tail -20 "$D/log/h$i.log" >&2
	return 1
}

ctl() { "$VOUCHCTL" "$@" --socket "$D/tcbd/tcbd.sock"; }

# state_of I: host hI's state in the IVT
state_of() {
	ctl hosts --json 2>/dev/null | python3 -c '
import json, sys
want = sys.argv[1]
for h in json.load(sys.stdin)["hosts"]:
    if h["name"] == want:
        print(h["state"])' "h$1"
}

# wait_state STATE TIMEOUT I...
wait_state() {
	local st=$1 t=$2 end i ok
	shift 2
	end=$((SECONDS + t))
	while [ $SECONDS -lt $end ]; do
		ok=1
		for i in "$@"; do
			[ "$(state_of "$i")" = "$st" ] || { ok=0; break; }
		done
		[ $ok -eq 1 ] && return 0
		sleep 0.2
	done
	return 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

cmd_start() {
	local n=$1 interval=$2 i tcti fresh port
	[ -x "$VOUCHCTL" ] && [ -x "$VOUCHD" ] && [ -x "$TCBD" ] ||
	    die "need $VOUCHCTL, $VOUCHD and $TCBD (set VOUCH_BUILD)"
	for c in swtpm ss python3 sha256sum; do
		command -v "$c" >/dev/null || die "'$c' not found (make deps)"
	done
	mkdir -p "$D" || die "cannot create $D"
	cmd_stop 2>/dev/null
	rm -rf "$D"/pki "$D"/state-h* "$D"/h[0-9]* "$D"/tcbd "$D"/log "$D"/pid \
	    "$D"/*.cfg "$D"/.port* "$D"/eventlog.bin "$D"/all-runtime.log
	mkdir -p "$D/log" "$D/pid" "$D/tcbd"
	"$ROOT/tools/lab/swtpm.sh" start "$n" "$D/tpm" >"$D/log/swtpm.log" 2>&1 ||
	    { cat "$D/log/swtpm.log" >&2; die "swtpm did not start"; }

	"$VOUCHCTL" region init --dir "$D/pki/ca" >/dev/null || die "region init"
	for i in $(seq 1 "$n") tcbd admin; do
		case $i in tcbd|admin) h=$i ;; *) h=h$i ;; esac
		"$VOUCHCTL" host cert "$h" --ca-dir "$D/pki/ca" --ip 127.0.0.1 \
		    --out "$D/pki" >/dev/null || die "host cert $h"
	done

	# Spec ID header only: TCG_PCR_EVENT{pcr 0, EV_NO_ACTION, sha1 0,
	# TCG_EfiSpecIDEvent{"Spec ID Event03", 2.0, uintn 2, 1 alg:
	# sha256/32, no vendor info}} (little endian)
	python3 -c '
import struct, sys
ev = (b"Spec ID Event03\0" + struct.pack("<IBBBB", 0, 0, 2, 0, 2) +
      struct.pack("<IHH", 1, 0x000b, 32) + b"\0")
sys.stdout.buffer.write(struct.pack("<II", 0, 3) + bytes(20) +
                        struct.pack("<I", len(ev)) + ev)' >"$D/eventlog.bin"
	"$VOUCHCTL" eventlog show "$D/eventlog.bin" >/dev/null ||
	    die "the lab event log does not parse"

	: >"$D/all-runtime.log"
	for i in $(seq 1 "$n"); do
		tcti=$(cat "$D/tpm/tpm$((i - 1))/tcti")
		mkdir -p "$D/h$i"
		echo "xen hypervisor build 4.17 of host h$i" >"$D/h$i/xen.gz"
		echo "xl toolstack of host h$i" >"$D/h$i/xl"
		"$VOUCHCTL" tpm init --state "$D/state-h$i" --tcti "$tcti" --ak ecc \
		    >/dev/null || die "tpm init h$i"
		"$VOUCHCTL" measure --tcti "$tcti" --log "$D/state-h$i/runtime_measurements" \
		    "$D/h$i/xen.gz" "$D/h$i/xl" >/dev/null || die "measure h$i"
		cat "$D/state-h$i/runtime_measurements" >>"$D/all-runtime.log"
	done

	# the region policy and one per host (same reference values)
	cat >"$D/policy-template.cfg" <<EOF
version = 1;
name = "lab-region";
attestation = { pcrs = "sha256:0-7,23"; runtime_pcr = 23; ak = "ecc"; };
measure = { files = [ ]; interval = $interval; };
EOF
	"$VOUCHCTL" policy refvals --template "$D/policy-template.cfg" \
	    --eventlog "$D/eventlog.bin" --runtime-log "$D/all-runtime.log" \
	    -o "$D/policy.cfg" >/dev/null 2>"$D/log/refvals.log" || die "policy refvals"
	for i in $(seq 1 "$n"); do
		sed "s|^measure = .*|measure = { files = [ \"$D/h$i/xen.gz\", \"$D/h$i/xl\" ]; interval = $interval; };|" \
		    "$D/policy-template.cfg" >"$D/policy-template-h$i.cfg"
		"$VOUCHCTL" policy refvals --template "$D/policy-template-h$i.cfg" \
		    --eventlog "$D/eventlog.bin" --runtime-log "$D/all-runtime.log" \
		    -o "$D/policy-h$i.cfg" >/dev/null 2>>"$D/log/refvals.log" || die "policy refvals h$i"
	done

	port=$(free_port) || die "no free port"
	{
		echo "region = { name = \"lab-region\";"
		echo "  tcbd = { name = \"tcbd\"; addr = \"127.0.0.1\"; port = $port; };"
		echo "  hosts = ("
		for i in $(seq 1 "$n"); do
			port=$(free_port) || die "no free port"
			echo "$port" >"$D/.port-h$i"
			echo "    { name = \"h$i\"; addr = \"127.0.0.1\"; port = $port; }$([ "$i" -lt "$n" ] && echo ,)"
		done
		echo "  ); };"
	} >"$D/region.cfg"

	# freshness: three intervals, so one late verdict does not cost trust
	cat >"$D/hook.sh" <<EOF
#!/bin/sh
# on_untrusted hook of the lab: one line per event
echo "\$(date +%s) \$1 \$2" >>"$D/tcbd/untrusted.log"
EOF
	chmod 755 "$D/hook.sh"
	cat >"$D/tcbd.cfg" <<EOF
name = "tcbd";
region = "$D/region.cfg";
policy = "$D/policy.cfg";
store = "sqlite:$D/tcbd/ivt.db";
admin_socket = "$D/tcbd/tcbd.sock";
tls = { cert = "$D/pki/tcbd.pem"; key = "$D/pki/tcbd.key"; ca = "$D/pki/ca/ca.pem"; };
ek_ca = "$D/tpm/ca/ca.pem";
admins = [ "admin" ];
interval = $interval;
freshness = $((interval * 3 + 1));
neighbours = 2;
quorum = 2;
on_untrusted = "$D/hook.sh";
lab = { allow_faults = true; };
EOF
	for i in $(seq 1 "$n"); do
		cat >"$D/h$i.cfg" <<EOF
host = "h$i";
tcti = "$(cat "$D/tpm/tpm$((i - 1))/tcti")";
state_dir = "$D/state-h$i";
region = "$D/region.cfg";
policy = "$D/policy-h$i.cfg";
tls = { cert = "$D/pki/h$i.pem"; key = "$D/pki/h$i.key"; ca = "$D/pki/ca/ca.pem"; };
eventlog = "$D/eventlog.bin";
interval = $interval;
lab = { enabled = true; lie = "none"; };
EOF
		if [ -n "$MIG_HOOK" ]; then
			{
				echo "migration = {"
				echo "  hook = \"$MIG_HOOK\";"
				printf '  hook_args = [ '
				local a sep=
				for a in ${MIG_ARGS[@]+"${MIG_ARGS[@]}"}; do
					printf '%s"%s"' "$sep" "$a"; sep=", "
				done
				echo " ];"
				echo "  stream_timeout = $MIG_STREAM_TIMEOUT;"
				echo "};"
			} >>"$D/h$i.cfg"
		fi
	done
	echo "$n" >"$D/.n"

	start_tcbd || die "vouch-tcbd failed"
	for i in $(seq 1 "$n"); do start_host "$i" || die "vouchd h$i failed"; done
	if ! wait_state TRUSTED $((20 + 10 * interval)) $(seq 1 "$n"); then
		ctl hosts >&2
		die "not every host became TRUSTED (logs in $D/log)"
	fi
	echo "$prog: $n hosts TRUSTED under $D (admin socket $D/tcbd/tcbd.sock)"
}

cmd_stop() {
	local f
	for f in "$D"/pid/h*.pid; do
		[ -f "$f" ] || continue
		f=${f##*/}
		stop_proc "${f%.pid}"
	done
	stop_proc tcbd
	"$ROOT/tools/lab/swtpm.sh" stop "$D/tpm" >/dev/null 2>&1
	return 0
}

need_dir() { [ -f "$D/region.cfg" ] || die "$D: no lab region (region.sh start first)"; }
need_i() { case "$1" in ''|*[!0-9]*) die "I must be a number" ;; esac
	[ -f "$D/h$1.cfg" ] || die "no host h$1 in $D"; }

case "${1:-}" in
start)
	[ $# -ge 3 ] || { usage >&2; exit 2; }
	N=$2; D=$(abs "$3"); INTERVAL=2; shift 3
	MIG_HOOK=; MIG_ARGS=(); MIG_STREAM_TIMEOUT=600
	while [ $# -gt 0 ]; do
		case "$1" in
		--interval) INTERVAL=${2:?}; shift 2 ;;
		--migration-hook) MIG_HOOK=$(abs "${2:?}"); shift 2 ;;
		--hook-arg) MIG_ARGS+=("${2:?}"); shift 2 ;;
		--stream-timeout) MIG_STREAM_TIMEOUT=${2:?}; shift 2 ;;
		*) usage >&2; exit 2 ;;
		esac
	done
	case "$N" in ''|*[!0-9]*) die "N must be a number" ;; esac
	[ "$N" -ge 1 ] && [ "$N" -le 64 ] || die "N must be 1..64"
	cmd_start "$N" "$INTERVAL" ;;
stop)	[ $# -eq 2 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); cmd_stop ;;
tamper)	[ $# -eq 3 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; need_i "$3"
	echo "backdoor $(date +%s%N)" >>"$D/h$3/xen.gz" ;;
kill-host) [ $# -eq 3 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; need_i "$3"; stop_proc "h$3" KILL ;;
start-host) [ $# -ge 3 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; need_i "$3"; start_host "$3" "${4:-none}" ;;
reboot-host) [ $# -eq 3 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; need_i "$3"
	stop_proc "h$3"
	"$ROOT/tools/lab/swtpm.sh" reset "$D/tpm" "$(($3 - 1))" || die "TPM reset failed"
	start_host "$3" ;;
kill-tcbd) [ $# -eq 2 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; stop_proc tcbd KILL ;;
start-tcbd) [ $# -eq 2 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; start_tcbd ;;
wait)	[ $# -ge 4 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; ST=$3; shift 3; T=60; HOSTS=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--timeout) T=${2:?}; shift 2 ;;
		*) need_i "$1"; HOSTS+=("$1"); shift ;;
		esac
	done
	wait_state "$ST" "$T" "${HOSTS[@]}" ;;
ctl)	[ $# -ge 3 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; shift 2; ctl "$@" ;;
vm-hosts) [ $# -eq 3 ] || { usage >&2; exit 2; }
	D=$(abs "$2"); need_dir; V=$(abs "$3")
	for ((k = 1; k <= $(cat "$D/.n"); k++)); do
		h=h$k
		mkdir -p "$V/$h/tls-src" "$V/$h/tls-dst" || die "cannot create $V/$h"
		echo "$h" >"$V/$h/name"
		for side in src:client dst:server; do
			t="$V/$h/tls-${side%%:*}" r=${side##*:}
			cp "$D/pki/ca/ca.pem" "$t/ca-cert.pem"
			cp "$D/pki/$h.pem" "$t/$r-cert.pem"
			cp "$D/pki/$h.key" "$t/$r-key.pem"
		done
	done ;;
-h|--help|help) usage ;;
*)	usage >&2; exit 2 ;;
esac
