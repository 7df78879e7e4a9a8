#!/bin/bash
# Concurrency, as a cell starting many app instances at once: 8 concurrent Create+Mount of
# one iSCSI volume (8 container names) give 8 live mounts from exactly 1 attach (one dm
# device, one session); 8 concurrent Unmounts leave nothing. Then 4 different volumes
# (LUNs on two targets, sharing sessions) attach in parallel and detach in parallel.
# timeout: 360
# shellcheck disable=SC2086 # the vols entries are split into words on purpose
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

client=$REPO/tests/vm/volman-client
iqn=iqn.2025-01.io.attachd.test:conc-a
iqn2=iqn.2025-01.io.attachd.test:conc-b
lio_target_create "$iqn" --lun 0:64M --lun 1:32M --lun 2:32M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn"
lio_target_create "$iqn2" --lun 0:32M --lun 1:32M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn2"
start_attachd
on_exit stop_attachd

vc() { "$client" --driver-dir "${ATTACHD_DRIVER_FILE%/*}" --mount-root "$SCRATCH/mnt" "$@"; }
opts() { echo "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$1\",\"lun\":$2}"; }
count() { grep -c "\"message\":\"$1\"" "$ARTIFACTS/attachd.log" || true; }
dms() { dmsetup ls --target linear 2>/dev/null | awk '$1 ~ /^attachd-/ {print $1}' | sort; }

# --- 8 containers, one volume, all at once
containers=(c_1 c_2 c_3 c_4 c_5 c_6 c_7 c_8)
t0=$(date +%s%N)
out=$(vc start many_vol "$(opts "$iqn" 0)" "${containers[@]}") ||
	fail "concurrent starts: $(grep -m1 '^FAIL' <<<"$out")"
info "8 concurrent Create+Mount in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
mps=$(awk '$1 == "MOUNT" {print $3}' <<<"$out")
assert_eq "$(wc -l <<<"$mps")" 8 "mountpoints"
assert_eq "$(sort -u <<<"$mps" | wc -l)" 8 "distinct mountpoints"
for mp in $mps; do
	mountpoint -q "$mp" || fail "$mp is not a mountpoint"
	assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp")" /dev/mapper/attachd-many_vol "source of $mp"
done
assert_eq "$(count attachd.attach.finish)" 1 "attaches (attachd.attach.finish lines)"
assert_eq "$(count attachd.attach.failed)" 0 "failed attaches"
assert_eq "$(dms)" attachd-many_vol "dm devices"
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 1 "iSCSI sessions"
assert_eq "$(grep -o '"Name":"many=vol_c=[0-9]"' <<<"$(volman VolumeDriver.List)" | wc -l)" 8 "names listed"
# every container sees the same filesystem
first=$(head -1 <<<"$mps")
echo shared >"$first/x"
for mp in $mps; do assert_eq "$(cat "$mp/x")" shared "data seen in $mp"; done

t0=$(date +%s%N)
out=$(vc stop many_vol "${containers[@]}") || fail "concurrent stops: $(grep -m1 '^FAIL' <<<"$out")"
info "8 concurrent Unmount in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
assert_eq "$(count attachd.detach.finish)" 1 "detaches"
assert_contains "$(volman VolumeDriver.List)" '"Volumes":[]' "List after the stops"
check_no_leftovers
info "8 mounts from 1 attach; 8 concurrent Unmounts left nothing"

# --- 4 volumes at once: LUNs 1 and 2 of target A (one session shared by concurrent
#     attaches), LUNs 0 and 1 of target B (a second session).
vols=("par_a1 $iqn 1" "par_a2 $iqn 2" "par_b0 $iqn2 0" "par_b1 $iqn2 1")
pids=()
t0=$(date +%s%N)
for v in "${vols[@]}"; do
	set -- $v
	vc start "$1" "$(opts "$2" "$3")" app_1 >"$SCRATCH/$1.out" 2>&1 &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
wall=$(( ($(date +%s%N) - t0) / 1000000 ))
for v in "${vols[@]}"; do
	set -- $v
	if grep -q '^FAIL' "$SCRATCH/$1.out"; then fail "parallel start of $1: $(grep -m1 '^FAIL' "$SCRATCH/$1.out")"; fi
done
[ $rc = 0 ] || fail "a parallel start failed: $(cat "$SCRATCH"/par_*.out)"
assert_eq "$(dms | tr '\n' ' ')" "attachd-par_a1 attachd-par_a2 attachd-par_b0 attachd-par_b1 " "dm devices"
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 2 "iSCSI sessions (one per target)"
for v in "${vols[@]}"; do
	set -- $v
	mp=$(awk '$1 == "MOUNT" {print $3}' "$SCRATCH/$1.out")
	mountpoint -q "$mp" || fail "$mp is not a mountpoint"
	echo "$1" >"$mp/who"
done
# Parallel, not serialised: the attaches overlap, so the wall time is below their sum.
sum=$(grep '"message":"attachd.attach.finish"' "$ARTIFACTS/attachd.log" | grep '"volume":"par_' |
	sed -E 's/.*"total_ms":([0-9.]+).*/\1/' | awk '{s += $1} END {printf "%d", s}')
info "4 parallel attaches: wall ${wall} ms, sum of attach times ${sum} ms"
[ "$wall" -lt "$sum" ] || fail "4 attaches took ${wall} ms wall, not less than their sum ${sum} ms: not parallel"

pids=()
for v in "${vols[@]}"; do
	set -- $v
	vc stop "$1" app_1 >"$SCRATCH/$1.stop" 2>&1 &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc = 0 ] || fail "a parallel stop failed: $(grep -h '^FAIL' "$SCRATCH"/par_*.stop | head -3)"
assert_contains "$(volman VolumeDriver.List)" '"Volumes":[]' "List after the parallel stops"
check_no_leftovers
stop_attachd
check_no_leftovers
