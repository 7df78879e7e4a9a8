#!/usr/bin/env bash
# `make bench`: attach/detach latency of attachd against a baseline measured in the same run
# (see tools/bench/attach-bench.sh), inside the project's VM. Prints a table of medians.
set -u
cd "$(dirname "$0")/.." || exit 2
tools/setup-deps.sh || exit 1
make -s -j"$(nproc)" all || exit 1
VM_SCENARIO_DIR=$PWD/tools/bench tests/vm/run.sh attach-bench >build/bench-vm.log 2>&1
rc=$?
sed -n '/^bench:/,$p' build/vm/out/artifacts/attach-bench/scenario.log 2>/dev/null
grep -E '^vm: (PASS|FAIL)' build/bench-vm.log
exit $rc
