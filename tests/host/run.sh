#!/usr/bin/env bash
# Host integration tier (root, no kernel features beyond loop/mount/netns).
# Runs the cmocka binaries built from tests/host/test_*.c and the scripts
# tests/host/t_*.sh (exit 0 = pass, 77 = skipped with a reason, else fail).
# Prints "host: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
B=${1:-build/rel}
export ATTACHD_BIN=${ATTACHD_BIN:-$PWD/bin/attachd} ATTACHCTL_BIN=${ATTACHCTL_BIN:-$PWD/bin/attachctl}
passed=0 failed=0 skipped=0
bins=$(ls "$B"/tests/host/test_* 2>/dev/null | grep -v '\.d$' || true)
if [ -n "$bins" ]; then
	out=$(tests/run-cmocka.sh host-cmocka $bins); echo "$out" | grep -v '^host-cmocka: [0-9]* passed'
	line=$(echo "$out" | tail -1)
	passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
	failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
fi
mkdir -p build/host
for t in tests/host/t_*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	timeout 600 bash "$t" >"build/host/$name.log" 2>&1; rc=$?
	case $rc in
	0) passed=$((passed + 1)); echo "host: PASS $name" ;;
	77) skipped=$((skipped + 1)); echo "host: SKIP $name: $(tail -1 "build/host/$name.log")" ;;
	*) failed=$((failed + 1)); echo "host: FAIL $name (exit $rc), last lines of build/host/$name.log:"; tail -30 "build/host/$name.log" | sed 's/^/    /' ;;
	esac
done
echo "host: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
