#!/bin/bash
# attachd end to end on iSCSI against a LIO target: Create (backend iscsi, portal, iqn, lun)
# + Mount returns a live mountpoint backed by /dev/mapper/attachd-* holding ext4; data
# survives Unmount + a new Create/Mount (no reformat); two LUNs of one target share one
# session; after the last Unmount no session, node record, SCSI device, dm device or mount
# is left.
# timeout: 300
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

iqn=iqn.2025-01.io.attachd.test:e2e
lio_target_create "$iqn" --lun 0:64M --lun 1:48M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn"
start_attachd
on_exit stop_attachd

opts() { echo "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":$1}"; }
mount_vol() { # NAME LUN -> mountpoint
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$(opts "$2")}")
	assert_contains "$out" '"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}

t0=$(date +%s%N)
mp=$(mount_vol lun0vol_app-1 0)
info "LUN 0 attached and mounted at $mp in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
mountpoint -q "$mp" || fail "$mp is not a mountpoint"
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp")" /dev/mapper/attachd-lun0vol "mount source"
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp")" ext4 "filesystem"
# The dm device sits on the LUN's SCSI disk, whose WWID LIO derived from the serial.
slave=$(ls /sys/block/"$(basename "$(readlink -f /dev/mapper/attachd-lun0vol)")"/slaves)
info "dm device over $slave ($(cat /sys/block/"$slave"/device/wwid))"
assert_contains "$(cat /sys/block/"$slave"/device/wwid)" "$(lio_lun_serial "$iqn" 0 | tr -d - | cut -c1-12)" "WWID of the disk under the dm device"
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 1 "iSCSI sessions"
# manual startup node record: a reboot must not log in behind attachd's back
assert_contains "$(iscsiadm -m node -T "$iqn" -p 127.0.0.1:3260 | grep node.startup)" manual "node.startup"

echo "iscsi payload" >"$mp/data.txt"
sync

# A second LUN of the same target shares the session.
mp1=$(mount_vol lun1vol_app-2 1)
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 1 "sessions with two LUNs attached"
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp1")" ext4 "LUN 1 filesystem"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"lun1vol_app-2"}')" '"Err":""' "Unmount LUN 1"
# LUN 0 still works after LUN 1's SCSI device went.
assert_eq "$(cat "$mp/data.txt")" "iscsi payload" "LUN 0 data while LUN 1 detaches"
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 1 "session kept for LUN 0"
test ! -e /dev/mapper/attachd-lun1vol || fail "LUN 1's dm device left"

assert_contains "$(volman VolumeDriver.Unmount '{"Name":"lun0vol_app-1"}')" '"Err":""' "Unmount LUN 0"
check_no_leftovers
info "all detached, nothing left"

mp=$(mount_vol lun0vol_app-3 0)
assert_eq "$(cat "$mp/data.txt")" "iscsi payload" "data after re-attach"
n=$(grep -c '"formatted":true' "$ARTIFACTS/attachd.log" || true)
assert_eq "$n" 2 "attaches that ran mkfs (LUN 0 once, LUN 1 once)"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"lun0vol_app-3"}')" '"Err":""' "final Unmount"
stop_attachd
check_no_leftovers
