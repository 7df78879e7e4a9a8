#!/bin/bash
# Harness smoke test (keep it): a LIO iSCSI target with two LUNs on two portals (127.0.0.1
# and 127.0.0.2: the whole 127/8 is local), open-iscsi discovery and login through both
# (two paths to each LUN, same WWID), udev's by-path links, a dm linear map over one LUN,
# mkfs.ext4, mount, write and read back, then a full teardown and check_no_leftovers.
# timeout: 180
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

iqn=iqn.2025-01.io.attachd.test:smoke-iscsi
portal=127.0.0.1:3260 portal2=127.0.0.2:3260

lio_target_create "$iqn" --lun 0:64M --lun 1:32M --portal "$portal" --portal "$portal2"
info "target created"

out=$(iscsiadm -m discovery -t sendtargets -p "$portal")
assert_contains "$out" "$portal,1 $iqn" "sendtargets discovery"
assert_contains "$out" "$portal2,1 $iqn" "sendtargets discovery"
for p in "$portal" "$portal2"; do
	iscsiadm -m node -T "$iqn" -p "$p" -o update -n node.startup -v manual
	iscsiadm -m node -T "$iqn" -p "$p" --login
done
info "logged in through both portals"

d0=$(iscsi_wait_disk "$portal" "$iqn" 0)
d1=$(iscsi_wait_disk "$portal" "$iqn" 1)
info "LUN 0 is $d0, LUN 1 is $d1"
assert_eq "$(blockdev --getsize64 "$d0")" $((64 << 20)) "LUN 0 size"
assert_eq "$(blockdev --getsize64 "$d1")" $((32 << 20)) "LUN 1 size"
serial=$(tr -dc '[:print:]' <"/sys/block/${d0#/dev/}/device/vpd_pg80")
assert_contains "$serial" "$(lio_lun_serial "$iqn" 0)" "LUN 0 unit serial (VPD 0x80)"
wwid=$(cat "/sys/block/${d0#/dev/}/device/wwid")
info "LUN 0 wwid: $wwid"
d0b=$(iscsi_wait_disk "$portal2" "$iqn" 0)
[ "$d0b" != "$d0" ] || fail "one disk for two paths"
assert_eq "$(cat "/sys/block/${d0b#/dev/}/device/wwid")" "$wwid" "WWID of LUN 0 through $portal2"
iscsiadm -m node -T "$iqn" -p "$portal2" --logout
wait_until 30 "$d0b to go away" test ! -e "$d0b"

dmsetup create smoke-linear --table "0 $(blockdev --getsz "$d0") linear $d0 0"
wait_for_path /dev/mapper/smoke-linear
mkfs.ext4 -q -E nodiscard,lazy_itable_init=1 /dev/mapper/smoke-linear
mkdir -p "$SCRATCH/mnt"
mount /dev/mapper/smoke-linear "$SCRATCH/mnt"
echo "hello from $VM_SCENARIO" >"$SCRATCH/mnt/hello"
dd if=/dev/urandom of="$SCRATCH/mnt/blob" bs=1M count=8 oflag=direct status=none
sum=$(md5sum <"$SCRATCH/mnt/blob")
umount "$SCRATCH/mnt"
echo 3 >/proc/sys/vm/drop_caches
mount -o ro /dev/mapper/smoke-linear "$SCRATCH/mnt"
assert_eq "$(cat "$SCRATCH/mnt/hello")" "hello from $VM_SCENARIO" "file read back"
assert_eq "$(md5sum <"$SCRATCH/mnt/blob")" "$sum" "8 MiB blob read back"
umount "$SCRATCH/mnt"
info "filesystem written and read back"

dmsetup remove smoke-linear
iscsiadm -m node -T "$iqn" -p "$portal" --logout
iscsiadm -m node -T "$iqn" -o delete
iscsiadm -m discoverydb -t sendtargets -p "$portal" -o delete
# what the initiator wrote went through LIO into the backing file
assert_eq "$(blkid -p -o value -s TYPE "$(lio_lun_file "$iqn" 0)")" ext4 "filesystem on the backing file"
lio_target_delete "$iqn"
check_no_leftovers
info "clean"
