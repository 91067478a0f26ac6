#!/bin/bash
# Run every test tier and print one summary line: "N passed, N failed, N skipped".
#
#   tests/run.sh BUILD FUZZBUILD
#
# Tiers: unit (cmocka, TAP output), integration (tests/integration/*.sh,
# TAP lines from tests/lib.sh), fuzz smoke runs (each target, bounded time).
# Every test prints "ok", "not ok" or "ok ... # SKIP why"; this script
# counts them.  A test program that dies without printing its plan counts
# as a failure.  VOUCH_TESTS=pattern runs only matching programs.
set -u
B=${1:-build/asan}
F=${2:-build/fuzz}
export VOUCH_BUILD="$B"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp:print_suppressions=0}"
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
LOGDIR="$B/test-logs"
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
pass=0 fail=0 skip=0
failed_names=()

# count NAME LOGFILE EXITCODE: add the TAP lines of one program
count() {
	local name=$1 log=$2 rc=$3 p f s
	p=$(grep -cE '^ok ' "$log" | tr -d ' ')
	s=$(grep -cE '^ok .*# (SKIP|skip)' "$log" | tr -d ' ')
	f=$(grep -cE '^not ok ' "$log" | tr -d ' ')
	p=$((p - s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# died without reporting a failing case: count it as one
		f=1
		echo "not ok - $name exited with status $rc" >>"$log"
	fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	grep -E '^(not ok|ok .*# (SKIP|skip))' "$log" | sed "s|^|  $name: |"
	[ "$f" -gt 0 ] && failed_names+=("$name")
	printf '%-40s %3d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
}

want() { [ -z "${VOUCH_TESTS:-}" ] || [[ "$1" == *${VOUCH_TESTS}* ]]; }

# Debian's kernel (fetched once into build/cache; the guest tests boot it):
# the kallsyms/BTF unit tests check themselves against its real image.
if [ -z "${VOUCH_VMLINUX:-}" ] && kdir=$(tools/guest/kernel.sh 2>"$LOGDIR/kernel.log"); then
	export VOUCH_VMLINUX="$kdir/vmlinux"
fi
echo "== unit tests (cmocka, ASan+UBSan) =="
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t"); want "$n" || continue
	log="$LOGDIR/$n.log"
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 600 "$t" >"$log" 2>&1; rc=$?
	count "$n" "$log" $rc
	[ $rc -ne 0 ] && tail -n 40 "$log" | sed 's/^/    | /'
done

echo "== integration tests =="
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh); want "$n" || continue
	log="$LOGDIR/$n.log"
	timeout 900 bash "$t" >"$log" 2>&1; rc=$?
	count "$n" "$log" $rc
	[ $rc -ne 0 ] && tail -n 40 "$log" | sed 's/^/    | /'
done

echo "== fuzz smoke runs (${FUZZ_SECONDS}s each) =="
for t in "$F"/fuzz_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t"); want "$n" || continue
	log="$LOGDIR/$n.log"
	corpus="tests/fuzz/corpus/${n#fuzz_}"
	work=$(mktemp -d)
	[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
	"$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$LOGDIR/$n-" \
	    -print_final_stats=1 "$work" >"$log" 2>&1; rc=$?
	rm -rf "$work"
	if [ $rc -eq 0 ]; then echo "ok - $n ran ${FUZZ_SECONDS}s without a crash" >>"$log"
	else echo "not ok - $n crashed (see $log)" >>"$log"; fi
	count "$n" "$log" 0
	[ $rc -ne 0 ] && grep -A30 -m1 'ERROR' "$log" | sed 's/^/    | /'
done

echo
[ ${#failed_names[@]} -gt 0 ] && echo "failing: ${failed_names[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
