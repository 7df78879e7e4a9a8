#!/usr/bin/env bash
# `make soak`: 1,000 Volman Create/Mount/Unmount cycles over file, iSCSI and NVMe/TCP volumes
# with 1-8 containers each, several at a time, attachd killed (SIGKILL) and restarted every
# 100 cycles; a checkpoint every 50 records the agent's fds/threads/RSS and the kernel objects
# and fails on any growth (tools/soak/soak.py says exactly what it compares). Runs in the
# project's VM; prints the checkpoint table and the wall time. Not part of `make check`.
# Knobs: SOAK_CYCLES (1000), SOAK_EVERY (50), SOAK_KILL_EVERY (100), SOAK_LANES (4),
# SOAK_SEED (random; printed, to repeat a run), SOAK_RSS_TOLERANCE_KIB (1024),
# SOAK_MAX_ERRORS (failed Mounts allowed; default 1% of the cycles).
set -u
cd "$(dirname "$0")/.." || exit 2
tools/setup-deps.sh || exit 1
make -s -j"$(nproc)" all || exit 1
for k in CYCLES EVERY KILL_EVERY LANES SEED RSS_TOLERANCE_KIB MAX_ERRORS; do
	v=SOAK_$k
	[ -z "${!v:-}" ] || export "VMTEST_SOAK_$k=${!v}" # only VMTEST_* reach the guest
done
t0=$(date +%s)
VM_TIMEOUT=${VM_TIMEOUT:-6000} VM_SCENARIO_DIR=$PWD/tools/soak tests/vm/run.sh attach-soak >build/soak-vm.log 2>&1
rc=$?
log=build/vm/out/artifacts/attach-soak/scenario.log
if [ -s build/vm/out/artifacts/attach-soak/soak-table.txt ]; then
	cat build/vm/out/artifacts/attach-soak/soak-table.txt
else
	grep -E 'FAIL|row:|kill -9' "$log" 2>/dev/null | tail -40
fi
grep -E '^vm: (PASS|FAIL)' build/soak-vm.log
echo "soak: make soak took $(($(date +%s) - t0)) s wall (VM boot included); log: $log"
exit $rc
