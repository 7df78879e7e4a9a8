#!/usr/bin/env bash
# `make fuzz`: fuzz each target for FUZZ_TIME seconds (default 60), FUZZ_JOBS targets at a
# time (default 1), starting from its seed corpus (tests/fuzz/corpus/<target>, read only)
# and the inputs earlier runs found (build/fuzz/corpus/<target>, where new ones go).
# Prints the executions per target; a crash, sanitizer report, leak or hang fails the run,
# and libFuzzer saves the input that caused it as build/fuzz/crashes/<target>/crash-<sha1>
# (or leak-, timeout-, oom-). Extra libFuzzer flags: FUZZ_ARGS.
# Usage: tests/fuzz/run.sh BUILD_DIR TARGET...
set -u
cd "$(dirname "$0")/../.."
b=$1; shift
time=${FUZZ_TIME:-60} jobs=${FUZZ_JOBS:-1}
log=$b/logs; mkdir -p "$log"

fuzz_one() {
	local t=$1
	mkdir -p "$b/corpus/$t" "$b/crashes/$t"
	# -timeout: one input running this long is a hang; -max_len: the biggest legitimate
	# inputs (records, configs) are a few KB.
	# shellcheck disable=SC2086
	"$b/fuzz_$t" -max_total_time="$time" -print_final_stats=1 -timeout=25 -max_len=16384 \
		-rss_limit_mb=2048 -artifact_prefix="$b/crashes/$t/" ${FUZZ_ARGS:-} \
		"$b/corpus/$t" "tests/fuzz/corpus/$t" >"$log/fuzz-$t.log" 2>&1
	echo $? >"$log/fuzz-$t.rc"
}

echo "fuzz: ${#@} targets, ${time} s each, $jobs at a time; logs in $log/"
for t in "$@"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	fuzz_one "$t" &
done
wait

passed=0 failed=0
for t in "$@"; do
	l=$log/fuzz-$t.log rc=$(cat "$log/fuzz-$t.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$l" | tail -1)
	[ -n "$execs" ] || execs=$(sed -nE 's/^Done ([0-9]+) runs.*/\1/p' "$l" | tail -1)
	# -fork=N prints neither: its last "#N: cov: ..." line counts every worker's runs.
	[ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+): cov: .*/\1/p' "$l" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$l" | tail -1)
	n=$(find "$b/corpus/$t" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		printf 'fuzz: %-15s %10s executions in %s s (%s, %s inputs found so far)\n' \
			"$t" "${execs:-?}" "$time" "${cov:-cov: ?}" "$n"
		passed=$((passed + 1))
	else
		art=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$l" | tail -1)
		printf 'fuzz: %-15s FAILED (exit %s) after %s executions; input: %s; log: %s\n' \
			"$t" "$rc" "${execs:-?}" "${art:-none saved}" "$l"
		grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|^ *#[0-9]+ ' "$l" | head -20
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
