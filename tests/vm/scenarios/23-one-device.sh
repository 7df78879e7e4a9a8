#!/bin/bash
# One device, one owner: two volume ids whose options differ (two iSCSI targets exporting the
# same LIO backstore, so the same WWID behind two IQNs) resolve to one device. While the first
# is mounted, the second's Mount is refused with an Err naming the first, and its rollback
# undoes only what it made: the first volume's session, SCSI disk, dm device and mount stay and
# keep working. Once the first is unmounted, the second may have the device.
# timeout: 300
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

iqna=iqn.2025-01.io.attachd.test:one-a
iqnb=iqn.2025-01.io.attachd.test:one-b
lio_target_create "$iqna" --lun 0:64M
on_exit "lio_target_delete $iqna"
lio_target_create "$iqnb" --lun 0:64M
on_exit "lio_target_delete $iqnb"
# Point target B's LUN 0 at target A's backstore: one disk, one WWID, two IQNs.
lunb=$VM_LIO/iscsi/$iqnb/tpgt_1/lun/lun_0
find "$lunb" -maxdepth 1 -type l -delete
ln -s "$VM_LIO/core/fileio_0/$(vm_tag "$iqna")_0" "$lunb/shared"

start_attachd
on_exit stop_attachd

create() { # NAME IQN
	local o="{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$2\",\"lun\":0}"
	assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$o}")" '"Err":""' "Create $1"
}
mountpoint_of() { sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$1"; }

create vola_app-1 "$iqna"
create volb_app-2 "$iqnb"
out=$(volman VolumeDriver.Mount '{"Name":"vola_app-1"}')
assert_contains "$out" '"Err":""' "Mount vola"
mp=$(mountpoint_of "$out")
echo "written through vola" >"$mp/data.txt"
sync
before=$(vm_objects | grep -v '^mount' | sort)
info "vola attached: $(grep -c . <<<"$before") kernel objects"

out=$(volman VolumeDriver.Mount '{"Name":"volb_app-2"}')
info "Mount of volb: $out"
assert_not_contains "$out" '"Err":""' "volb must be refused while vola has the device"
assert_contains "$out" "resolves to the device volume 'vola' already uses" "Err names the other volume"
# Only what volb made is gone: vola's objects are exactly as before, and it still works.
assert_eq "$(vm_objects | grep -v '^mount' | sort)" "$before" "kernel objects after the refusal"
assert_eq "$(cat "$mp/data.txt")" "written through vola" "vola's data"
echo "still writable" >>"$mp/data.txt"
sync
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 1 "only vola's session"
test ! -e /dev/mapper/attachd-volb || fail "volb's dm device exists"

assert_contains "$(volman VolumeDriver.Unmount '{"Name":"vola_app-1"}')" '"Err":""' "Unmount vola"
check_no_leftovers
# The device is free: volb may have it now, and sees vola's data (same disk).
out=$(volman VolumeDriver.Mount '{"Name":"volb_app-2"}')
assert_contains "$out" '"Err":""' "Mount volb once vola is gone"
assert_eq "$(tail -1 "$(mountpoint_of "$out")/data.txt")" "still writable" "same disk through volb"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"volb_app-2"}')" '"Err":""' "Unmount volb"
stop_attachd
check_no_leftovers
info "one device, one owner"
