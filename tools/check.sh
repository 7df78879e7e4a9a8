#!/usr/bin/env bash
# `make check`: install what is missing, build, run unit (plain and ASan/UBSan), fuzz
# corpus replay, host integration and real-kernel (VM) tiers. Prints one "N passed, N failed"
# line per tier and a total; exits non-zero if any tier failed.
set -u
cd "$(dirname "$0")/.."
tools/setup-deps.sh || { echo "check: installing dependencies failed"; exit 1; }
jobs=$(nproc)
make -s -j"$jobs" all tests || { echo "check: build failed"; echo "total: 0 passed, 1 failed"; exit 1; }

log=build/check; mkdir -p "$log"
rc=0
run_tier() {
	local name=$1; shift
	echo "=== tier: $name"
	"$@" 2>&1 | tee "$log/$name.log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
}
run_tier unit make -s --no-print-directory check-unit
run_tier unit-asan make -s -j"$jobs" --no-print-directory check-asan
# Every fuzz target over its corpus once (seeds and every crash ever found), built by clang
# into build/fuzz: a minute to build, seconds to run.
run_tier fuzz make -s -j"$jobs" --no-print-directory check-fuzz
run_tier host make -s --no-print-directory check-host
# The VM tier boots once and runs every scenario; crash-point loops make it the longest
# tier (~10 min on an idle 2-core machine, 2-3x that when shared). Bound it well inside
# CI's 90 minutes.
export VM_TIMEOUT=${VM_TIMEOUT:-4200}
run_tier vm make -s --no-print-directory check-vm

tp=0 tf=0
for f in "$log"/{unit,unit-asan,fuzz,host,vm}.log; do
	line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$f" | tail -1)
	if [ -z "$line" ]; then
		echo "check: $(basename "$f" .log) printed no result line"; tf=$((tf + 1)); rc=1; continue
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); fl=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	tp=$((tp + p)); tf=$((tf + fl))
done
echo "=== summary"
grep -hE '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log"/{unit,unit-asan,fuzz,host,vm}.log
echo "total: $tp passed, $tf failed"
exit $rc
