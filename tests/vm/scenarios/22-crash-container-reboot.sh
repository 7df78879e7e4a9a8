#!/bin/bash
# kill -9 while a "running container" (a process with its cwd and an open file in the bind
# mount) uses a volume: the restarted attachd adopts it without touching the mount (still
# mounted, same inode, the process still writes), List shows the name, and Unmount (after
# the container is gone) cleans up everything. Then a reboot: kill -9 with file and iSCSI
# volumes mounted, a new boot ID (test-only ATTACHD_TEST_BOOT_ID_FILE), the bind mounts left
# in place: the new attachd cleans every leftover and forgets the records before serving.
# timeout: 600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/crash.sh"

mkdir -p "$SCRATCH/etc"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"}}
JSON
cfg=(--config "$SCRATCH/etc/attachd.json")
on_exit stop_attachd
iqn=iqn.2025-01.io.attachd.test:reboot
lio_target_create "$iqn" --lun 0:64M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn"

# --- kill -9 under a running container
CREATE_OPTS='{"backend":"file","size":"64M"}'
start_attachd "${cfg[@]}"
mp=$(mount_name cvol_app-1)
echo hello >"$mp/before.txt"
( cd "$mp" && exec bash -c 'exec 3>>log.txt; while :; do echo tick >&3; sleep 0.2; done' ) &
container=$!
on_exit "kill $container 2>/dev/null || true"
sleep 1
ino=$(stat -c %i "$mp")
kill -KILL "$ATTACHD_PID"
wait "$ATTACHD_PID" 2>/dev/null || true
ATTACHD_PID=
rm -f "$ATTACHD_DRIVER_FILE"
start_attachd "${cfg[@]}"
grep -q '"action":"adopt"' "$ARTIFACTS/attachd.log" || fail "attachd did not adopt the volume"
mountpoint -q "$mp" || fail "the container's mount is gone after the restart"
assert_eq "$(stat -c %i "$mp")" "$ino" "bind mount inode after the restart"
kill -0 "$container" || fail "the container process died"
n1=$(wc -l <"$mp/log.txt"); sleep 1; n2=$(wc -l <"$mp/log.txt")
[ "$n2" -gt "$n1" ] || fail "the container can no longer write to its volume"
assert_eq "$(cat "$mp/before.txt")" hello "data in the container's mount"
assert_contains "$(volman VolumeDriver.List)" '"Name":"cvol_app-1"' "List after restart"
# Create again is idempotent for an adopted volume (same options as recorded).
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"cvol_app-1\",\"Opts\":$CREATE_OPTS}")" '"Err":""' "Create of the adopted volume"
kill "$container"; wait "$container" 2>/dev/null || true
unmount_name cvol_app-1
stop_attachd
check_no_leftovers
state_check empty

# --- reboot: leftovers from another boot are cleaned, records forgotten
echo "11111111-2222-3333-4444-555555555555" >"$SCRATCH/boot_id"
export ATTACHD_TEST_FAULTS=1 ATTACHD_TEST_BOOT_ID_FILE=$SCRATCH/boot_id
start_attachd "${cfg[@]}"
mp1=$(mount_name rvol_app-1)
CREATE_OPTS="{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":0}"
mp2=$(mount_name rivol_app-2)
echo data >"$mp2/x"
sync
kill -KILL "$ATTACHD_PID"
wait "$ATTACHD_PID" 2>/dev/null || true
ATTACHD_PID=
rm -f "$ATTACHD_DRIVER_FILE"
ls "$SCRATCH/state"/rvol.json "$SCRATCH/state"/rivol.json >/dev/null
echo "66666666-7777-8888-9999-000000000000" >"$SCRATCH/boot_id"
start_attachd "${cfg[@]}"
assert_eq "$(grep -c '"action":"cleanup"' "$ARTIFACTS/attachd.log")" 2 "volumes cleaned up after the reboot"
assert_not_contains "$(volman VolumeDriver.List)" 'vol_app' "List after the reboot"
check_no_leftovers
state_check empty
# The volumes work again in the new boot.
mp2=$(mount_name rivol_app-2)
assert_eq "$(cat "$mp2/x")" data "iSCSI data after the reboot"
unmount_name rivol_app-2
stop_attachd
unset ATTACHD_TEST_FAULTS ATTACHD_TEST_BOOT_ID_FILE
check_no_leftovers
state_check empty
