#!/bin/bash
# Soak, run in the VM by tools/soak.sh (`make soak`): VMTEST_SOAK_CYCLES (default 1000)
# Volman Create/Mount/Unmount cycles of 1-8 containers each over file, iSCSI (LIO) and
# NVMe/TCP (nvmet) volumes, VMTEST_SOAK_LANES (4) cycles at a time, attachd killed with
# SIGKILL and restarted every VMTEST_SOAK_KILL_EVERY (100) cycles with requests in flight,
# a checkpoint every VMTEST_SOAK_EVERY (50) cycles. Fails naming what grew; the driver and
# its rules are tools/soak/soak.py. Figures, not part of `make check`.
# timeout: 5400
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

lanes=${VMTEST_SOAK_LANES:-4}
iqn=iqn.2025-01.io.attachd.soak:t1
nqn=nqn.2025-01.io.attachd.soak:s1
luns=() nss=()
for ((i = 0; i < lanes; i++)); do luns+=(--lun "$i:32M") nss+=(--ns "$((i + 1)):32M"); done
lio_target_create "$iqn" "${luns[@]}"
on_exit "lio_target_delete $iqn"
nvmet_subsys_create "$nqn" "${nss[@]}" --port 127.0.0.1:4420
on_exit "nvmet_subsys_delete $nqn"

mkdir -p "$SCRATCH/etc" "$SCRATCH/drivers"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"}}
JSON
rc=0
python3 "$REPO/tools/soak/soak.py" \
	--cycles "${VMTEST_SOAK_CYCLES:-1000}" --every "${VMTEST_SOAK_EVERY:-50}" \
	--kill-every "${VMTEST_SOAK_KILL_EVERY:-100}" --lanes "$lanes" \
	--seed "${VMTEST_SOAK_SEED:-0}" --rss-tolerance "${VMTEST_SOAK_RSS_TOLERANCE_KIB:-1024}" \
	--max-errors "${VMTEST_SOAK_MAX_ERRORS:--1}" \
	--iqn "$iqn" --nqn "$nqn" --state-dir "$SCRATCH/state" --mount-root "$SCRATCH/mnt" \
	--driver-file "$SCRATCH/drivers/attachd.json" --log "$ARTIFACTS/attachd.log" \
	--table "$ARTIFACTS/soak-table.txt" -- \
	"${ATTACHD_BIN:-$REPO/bin/attachd}" --config "$SCRATCH/etc/attachd.json" \
	--state-dir "$SCRATCH/state" --mount-root "$SCRATCH/mnt" --driver-dir "$SCRATCH/drivers" \
	--admin-socket "$SCRATCH/admin.sock" || rc=$?
[ $rc = 0 ] || { _vm_failed=1; exit $rc; }
check_no_leftovers
