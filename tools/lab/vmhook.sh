#!/bin/bash
# tools/lab/vmhook.sh - vouchd's site hook (migration.hook, docs/evacuation.md)
# for lab hosts whose VMs are lab guests (tools/guest/labguest.sh).
#
#   vmhook.sh BASE locate VM
#   vmhook.sh BASE prepare DEST TARGET GUARD plain|standby
#   vmhook.sh BASE guard HOST GUARD detach|attach
#   vmhook.sh BASE abandon DEST TARGET GUARD plain|standby
#
# BASE (the first hook_arg) holds one directory per host name, laid out
# as tests/tools/comig_lab.c expects:
#	BASE/HOST/target, BASE/HOST/guard   labguest directories
#	BASE/HOST/name                      the host's certificate name
#	                                    (default: HOST)
#	BASE/HOST/tls-src, tls-dst          optional stream credentials
#	                                    (QEMU's x509 layout)
# A VM's name is in DIR/vm.name (the test writes it at the source;
# prepare writes it at the destination).  VOUCH_HOST (set by vouchd) is
# the host running the hook.  Outputs one JSON line on success; errors on
# stderr with a non-zero exit.  A destination target gets the source
# target's RAM size (its mem.mb; else VMHOOK_MEM, default 128 MiB).
# Environment: VOUCH_LABGUEST (labguest.sh), VOUCH_GUARD_BIN (the
# static vouch-guard for a guard destination).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LG=${VOUCH_LABGUEST:-$ROOT/tools/guest/labguest.sh}
MEM=${VMHOOK_MEM:-128}

die() { echo "vmhook: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: vmhook.sh BASE VERB ARGS..."
BASE=$1 VERB=$2
shift 2
case "$BASE" in /*) ;; *) die "BASE must be absolute" ;; esac
ME=${VOUCH_HOST:?VOUCH_HOST not set}

# host names are DNS labels; VM names [A-Za-z0-9._-]: nothing else reaches a path
name_ok() { [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]]; }
hostdir() { name_ok "$1" || die "bad host name '$1'"; echo "$BASE/$1"; }

# vmdir HOSTDIR VM: the labguest directory holding VM
vmdir() {
	local d
	name_ok "$2" || die "bad VM name '$2'"
	for d in "$1/target" "$1/guard"; do
		[ "$(cat "$d/vm.name" 2>/dev/null)" = "$2" ] && { echo "$d"; return 0; }
	done
	return 1
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# JSON string (the values are paths and names: no quotes or controls)
UNSAFE='["\\[:cntrl:]]'
js() { [[ "$1" =~ $UNSAFE ]] && die "unsafe value '$1'"; printf '"%s"' "$1"; }

case "$VERB" in
locate)
	[ $# -eq 1 ] || die "usage: locate VM"
	hd=$(hostdir "$ME")
	d=$(vmdir "$hd" "$1") || die "no VM '$1' on $ME"
	[ -S "$d/qmp.sock" ] && [ -f "$d/ram.path" ] || die "VM '$1' is not running"
	if [ "$d" = "$hd/guard" ]; then
		printf '{"qmp": %s, "mem": %s, "window": "win"}\n' "$(js "$d/qmp.sock")" \
		    "$(js "$(cat "$d/ram.path")")"
	else
		printf '{"qmp": %s, "mem": %s}\n' "$(js "$d/qmp.sock")" "$(js "$(cat "$d/ram.path")")"
	fi ;;
prepare)
	[ $# -eq 4 ] || die "usage: prepare DEST TARGET GUARD STRATEGY"
	dest=$1 target=$2 guard=$3 strategy=$4
	name_ok "$target" && name_ok "$guard" || die "bad VM names"
	dd=$(hostdir "$dest")
	[ -d "$dd" ] || die "no lab host directory $dd"
	[ "$dest" != "$ME" ] || die "$dest is this host"
	mkdir -p "$dd/target" "$dd/guard"
	# the destination gets the source target's RAM size
	src=$(vmdir "$(hostdir "$ME")" "$target") && [ -s "$src/mem.mb" ] && MEM=$(cat "$src/mem.mb")
	"$LG" start "$dd/target" --incoming --mem "$MEM" >"$dd/target.prepare.log" 2>&1 ||
	    die "target destination on $dest: $(tail -1 "$dd/target.prepare.log")"
	echo "$target" >"$dd/target/vm.name"
	case "$strategy" in
	plain)
		"$LG" start "$dd/guard" --incoming --guard-of "$dd/target" --window-off \
		    >"$dd/guard.prepare.log" 2>&1 || {
			"$LG" stop "$dd/target" >/dev/null 2>&1
			die "guard destination on $dest: $(tail -1 "$dd/guard.prepare.log")"
		}
		echo "$guard" >"$dd/guard/vm.name" ;;
	standby)
		[ "$(cat "$dd/guard/vm.name" 2>/dev/null)" = "$guard" ] && [ -S "$dd/guard/qmp.sock" ] || {
			"$LG" stop "$dd/target" >/dev/null 2>&1
			die "no standby guard '$guard' running on $dest"
		} ;;
	*) die "strategy '$strategy': want plain or standby" ;;
	esac
	peer=$(cat "$dd/name" 2>/dev/null || echo "$dest")
	tls_src= tls_dst=
	if [ -d "$dd/tls-dst" ]; then
		tls_dst=$dd/tls-dst
		tls_src=$(hostdir "$ME")/tls-src
	fi
	printf '{"target_qmp": %s, "guard_qmp": %s, "target_uri": "tcp:127.0.0.1:%s", "guard_uri": "tcp:127.0.0.1:%s", "target_mem": %s, "peer": %s, "tls_src": %s, "tls_dst": %s}\n' \
	    "$(js "$dd/target/qmp.sock")" "$(js "$dd/guard/qmp.sock")" "$(free_port)" "$(free_port)" \
	    "$(js "$(cat "$dd/target/ram.path")")" "$(js "$peer")" "$(js "$tls_src")" "$(js "$tls_dst")" ;;
guard)
	[ $# -eq 3 ] || die "usage: guard HOST GUARD detach|attach"
	hd=$(hostdir "$1")
	d=$(vmdir "$hd" "$2") || die "no guard '$2' on $1"
	case "$3" in
	# straight to vouch-guard's control port (labguest.sh guard, minus a shell)
	detach) out=$(python3 "$ROOT/tools/guest/guestctl.py" line "$d/guard.sock" detach 90 2>&1); want=DETACHED ;;
	attach) out=$(python3 "$ROOT/tools/guest/guestctl.py" line "$d/guard.sock" attach 90 2>&1); want="ATTACHED OK" ;;
	*) die "guard: want detach or attach" ;;
	esac
	case "$out" in *"$want"*) echo "{}" ;; *) die "guard $3 on $1: ${out:-no answer}" ;; esac ;;
abandon)
	[ $# -eq 4 ] || die "usage: abandon DEST TARGET GUARD STRATEGY"
	dd=$(hostdir "$1")
	"$LG" stop "$dd/target" >/dev/null 2>&1
	rm -f "$dd/target/vm.name"
	if [ "$4" = plain ]; then
		"$LG" stop "$dd/guard" >/dev/null 2>&1
		rm -f "$dd/guard/vm.name"
	fi
	echo "{}" ;;
*) die "unknown verb '$VERB'" ;;
esac
