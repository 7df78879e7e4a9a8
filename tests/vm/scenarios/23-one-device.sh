#!/bin/bash
# One device, one owner: two volume ids whose options differ (two iSCSI targets exporting the
# same LIO backstore, so the same WWID behind two IQNs) resolve to one device. While the first
# is mounted, the second's Mount is refused with an Err naming the first, and its rollback
# undoes only what it made: the first volume's session, SCSI disk, dm device and mount stay and
# keep working. Once the first is unmounted, the second may have the device. The same for one
# NVMe namespace named by uuid and by nsid: never two dm devices on one disk.
# timeout: 420
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

# NVMe: namespace 1 by uuid (nva) and by nsid (nvb) is one disk.
nqn=nqn.2025-01.io.attachd.test:one-nvme
u1=5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f
nvmet_subsys_create "$nqn" --ns "1:64M:$u1" --port 127.0.0.1:4420
on_exit "nvmet_subsys_delete $nqn"
nvme_create() { # NAME KEY VALUE
	local o="{\"backend\":\"nvme\",\"traddr\":\"127.0.0.1\",\"subnqn\":\"$nqn\",\"$2\":$3}"
	assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$o}")" '"Err":""' "Create $1"
}
nvme_create nva_app-1 uuid "\"$u1\""
nvme_create nvb_app-2 nsid 1
out=$(volman VolumeDriver.Mount '{"Name":"nva_app-1"}')
assert_contains "$out" '"Err":""' "Mount nva"
mp=$(mountpoint_of "$out")
echo "written through nva" >"$mp/data.txt"
sync
before=$(vm_objects | grep -v '^mount' | sort)
out=$(volman VolumeDriver.Mount '{"Name":"nvb_app-2"}')
info "Mount of nvb: $out"
assert_contains "$out" "resolves to the device volume 'nva' already uses" "nvb (nsid) refused naming nva (uuid)"
assert_eq "$(vm_objects | grep -v '^mount' | sort)" "$before" "kernel objects after the nvme refusal"
test ! -e /dev/mapper/attachd-nvb || fail "two dm devices on one namespace"
assert_eq "$(cat "$mp/data.txt")" "written through nva" "nva's data"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"nva_app-1"}')" '"Err":""' "Unmount nva"
check_no_leftovers

stop_attachd
check_no_leftovers
info "one device, one owner"
