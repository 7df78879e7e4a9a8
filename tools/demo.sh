#!/usr/bin/env bash
# `make demo`: the main job, for real. Installs what is missing, builds, then attaches a file
# volume and an iSCSI volume (from a LIO target), writes data, detaches, re-attaches and shows
# the data back, with the agent's step timings; then attachd-broker provisions, binds,
# unbinds and deprovisions a file volume, a pooled iSCSI LUN and a ScaleIO volume (on the
# PowerFlex gateway emulator), attachd mounting each with the bind's mount_config; and it
# tears everything down.
# This host's kernel has no device-mapper and no iSCSI initiator, so the demo runs inside the
# project's VM (Debian's stock kernel under qemu, this host's userland shared read-only).
# Exits non-zero if anything it shows failed.
set -u
cd "$(dirname "$0")/.." || exit 2
tools/setup-deps.sh || exit 1
make -s -j"$(nproc)" all || exit 1
echo "demo: this host's kernel ($(uname -r)) has no device-mapper or iSCSI initiator;"
echo "demo: running inside the project's VM with Debian's kernel $(cat build/vmkernel/version) (about a minute to boot under TCG)"
log=build/vm/out/artifacts/attachd-demo/scenario.log
rm -f "$log"
# Show the demo's output live while the VM runs it.
( while [ ! -e "$log" ]; do sleep 0.5; done; exec tail -n +1 -F "$log" 2>/dev/null ) &
tailer=$!
VM_SCENARIO_DIR=$PWD/tools/demo tests/vm/run.sh attachd-demo >build/demo-vm.log 2>&1
rc=$?
sleep 1
kill "$tailer" 2>/dev/null
wait "$tailer" 2>/dev/null
echo
grep -E '^vm: (PASS|FAIL)' build/demo-vm.log
if [ $rc -eq 0 ]; then
	echo "demo: OK"
else
	echo "demo: FAILED (exit $rc); logs: build/demo-vm.log, build/vm/fail/attachd-demo/"
	tail -5 build/demo-vm.log
fi
exit $rc
