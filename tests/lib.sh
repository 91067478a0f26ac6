# tests/lib.sh - shared helpers for integration tests (bash).
#
#   . tests/lib.sh
#   tap_ok "name"; tap_fail "name" "why"; tap_skip "name" "why"
#   check "name" cmd args...        ok if cmd exits 0
#   check_exit N "name" cmd args... ok if cmd exits N
#   lab_swtpm_start N               N swtpm instances; sets LAB_DIR, TCTI[i]
#
# Each test script prints TAP lines; tests/run.sh counts them.  Every
# process a script starts is stopped by the EXIT trap.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${VOUCH_BUILD:-$ROOT/build/asan}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
VOUCHCTL="$B/vouchctl"
TMP=$(mktemp -d /tmp/vouch-test.XXXXXX)
_tap_n=0
_cleanups=()

at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

tap_ok()   { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1"; }
tap_fail() { _tap_n=$((_tap_n + 1)); echo "not ok $_tap_n - $1${2:+: $2}"; }
tap_skip() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $1 # SKIP $2"; }

# check NAME CMD...: run CMD, ok on exit 0; its output goes to $TMP/last.out
check() {
	local name=$1; shift
	if "$@" >"$TMP/last.out" 2>&1; then tap_ok "$name"
	else tap_fail "$name" "exit $? from: $*"; sed 's/^/    # /' "$TMP/last.out" | head -20; fi
}
# check_exit N NAME CMD...: ok if CMD exits with N
check_exit() {
	local want=$1 name=$2 rc; shift 2
	"$@" >"$TMP/last.out" 2>&1; rc=$?
	if [ "$rc" -eq "$want" ]; then tap_ok "$name"
	else tap_fail "$name" "exit $rc (want $want) from: $*"; sed 's/^/    # /' "$TMP/last.out" | head -20; fi
}
# jqe ARGS...: jq -e that also fails when jq printed nothing (jq 1.6's -e
# exits 0 on empty input: an empty file or reply would pass any filter)
jqe() { local out; out=$(jq -e "$@") || return 1; [ -n "$out" ] && printf '%s\n' "$out"; }
export -f jqe

# check_grep PATTERN NAME: ok if the last check's output matches PATTERN
check_grep() {
	if grep -qE -- "$1" "$TMP/last.out"; then tap_ok "$2"
	else tap_fail "$2" "output lacks /$1/"; sed 's/^/    # /' "$TMP/last.out" | head -20; fi
}

# lab_swtpm_start N: start N fresh swtpm instances (tools/lab/swtpm.sh)
lab_swtpm_start() {
	LAB_DIR="$TMP/lab"
	"$ROOT/tools/lab/swtpm.sh" start "$1" "$LAB_DIR" >"$TMP/swtpm-start.log" 2>&1 || {
		cat "$TMP/swtpm-start.log" >&2; echo "Bail out! swtpm did not start"; exit 1; }
	at_exit "'$ROOT/tools/lab/swtpm.sh' stop '$LAB_DIR'"
	TCTI=()
	local i
	for ((i = 0; i < $1; i++)); do TCTI[$i]=$(cat "$LAB_DIR/tpm$i/tcti"); done
}
