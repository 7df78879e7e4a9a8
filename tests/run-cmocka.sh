#!/usr/bin/env bash
# Runs cmocka test binaries and prints "<tier>: N passed, N failed" from their own counts.
# A binary that crashes or prints no summary counts as one failure.
set -u
tier=$1; shift
passed=0 failed=0
for t in "$@"; do
	out=$(CMOCKA_MESSAGE_OUTPUT=stdout timeout -k 5 "${CMOCKA_TIMEOUT:-300}" "$t" 2>&1); rc=$?
	[ $rc = 124 ] && out+=$'\n'"(killed after ${CMOCKA_TIMEOUT:-300} s)"
	printf '%s\n' "$out" | grep -E '^\[  (FAILED|  ERROR)|^\[  FAILED  \]' || true
	p=$(printf '%s\n' "$out" | sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' | tail -1)
	f=$(printf '%s\n' "$out" | sed -nE 's/^\[  FAILED  \] ([0-9]+) test\(s\), listed below.*/\1/p' | tail -1)
	if [ -z "$p" ]; then
		echo "$tier: $(basename "$t") produced no cmocka summary (exit $rc):"
		printf '%s\n' "$out" | tail -20
		failed=$((failed + 1)); continue
	fi
	passed=$((passed + p)); failed=$((failed + ${f:-0}))
	if [ $rc -ne 0 ] && [ "${f:-0}" = 0 ]; then
		echo "$tier: $(basename "$t") exited $rc"; printf '%s\n' "$out" | tail -20; failed=$((failed + 1))
	fi
done
echo "$tier: $passed passed, $failed failed"
[ $failed -eq 0 ]
