#!/bin/bash
# Crash recovery on iSCSI (LIO target): attachd killed before and after the steps that make
# or undo kernel objects (connect, dm-map, mkfs, mount, bind; unbind, umount, dm-remove,
# disconnect); a restarted attachd converges: no session, node record, SCSI device, dm
# device or mount left after the final Unmount, data intact, no reformat.
# timeout: 2400
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/crash.sh"

iqn=iqn.2025-01.io.attachd.test:crash
lio_target_create "$iqn" --lun 0:64M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn"
on_exit stop_attachd

CREATE_OPTS="{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":0}"
name=ivol_app-1
start_attachd
mp=$(mount_name "$name")
dd if=/dev/urandom of="$mp/blob" bs=1M count=2 status=none
sum=$(md5sum <"$mp/blob")
sync
state_check
unmount_name "$name"
stop_attachd
check_no_leftovers
state_check empty

for step in connect dm-map mkfs mount bind unbind umount dm-remove disconnect; do
	for when in before after; do
		crash_cycle "$step:$when" "$name" blob "$sum"
	done
done
n=$(grep '"formatted":true' "$ARTIFACTS/attachd.log" | grep -c '"volume":"ivol"' || true)
assert_eq "$n" 1 "attaches of ivol that ran mkfs"
state_check empty
