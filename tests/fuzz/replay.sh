#!/usr/bin/env bash
# `make check-fuzz`: run every fuzz target once over each file of its corpus
# (tests/fuzz/corpus/<target>/: seeds and every crash ever found), without fuzzing. A crash,
# a sanitizer report, a leak or a hang fails that target. Prints one line per target and
# "fuzz: N passed, N failed" (targets).
# Usage: tests/fuzz/replay.sh BUILD_DIR TARGET...
set -u
cd "$(dirname "$0")/../.."
b=$1; shift
log=$b/logs; mkdir -p "$log"
passed=0 failed=0
for t in "$@"; do
	files=(tests/fuzz/corpus/"$t"/*)
	if [ ! -e "${files[0]}" ]; then
		echo "fuzz: $t has no corpus in tests/fuzz/corpus/$t"; failed=$((failed + 1)); continue
	fi
	# Files given by name are each run once; -timeout turns a hang into a failure.
	timeout -k 5 300 "$b/fuzz_$t" -timeout=25 -rss_limit_mb=2048 "${files[@]}" >"$log/replay-$t.log" 2>&1
	rc=$?
	ran=$(grep -c '^Executed ' "$log/replay-$t.log")
	if [ $rc -eq 0 ] && [ "$ran" -eq "${#files[@]}" ]; then
		echo "fuzz: $t: ${#files[@]} corpus inputs replayed"
		passed=$((passed + 1))
	else
		bad=$(grep -m1 '^Running: ' <(tac "$log/replay-$t.log") | sed 's/^Running: //')
		echo "fuzz: $t FAILED (exit $rc, $ran of ${#files[@]} inputs done${bad:+, on $bad}); log $log/replay-$t.log:"
		grep -E 'ERROR|SUMMARY|runtime error|^ *#[0-9]+ ' "$log/replay-$t.log" | head -25
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
