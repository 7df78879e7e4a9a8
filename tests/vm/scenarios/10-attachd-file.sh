#!/bin/bash
# attachd end to end on the file backend, driven exactly like Volman: Create + Mount gives a
# live mountpoint backed by /dev/mapper/attachd-* holding ext4; data survives Unmount and a
# new Create/Mount (no reformat); after the last Unmount nothing is left.
# timeout: 240
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

mkdir -p "$SCRATCH/etc"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"}}
JSON
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd

out=$(volman Plugin.Activate)
assert_contains "$out" '"Implements":["VolumeDriver"]' "Activate"
assert_contains "$(cat "$ATTACHD_DRIVER_FILE")" '"UniqueVolumeIds":true' "driver spec"

create='{"Name":"vol=1_app-1","Opts":{"backend":"file","size":"64M"}}'
out=$(volman VolumeDriver.Create "$create")
assert_contains "$out" '"Err":""' "Create"
out=$(volman VolumeDriver.Mount '{"Name":"vol=1_app-1"}')
assert_contains "$out" '"Err":""' "Mount"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
info "mounted at $mp"
case $mp in "$SCRATCH/mnt/"*) ;; *) fail "Mountpoint $mp is not under the mount root $SCRATCH/mnt" ;; esac
mountpoint -q "$mp" || fail "$mp is not a mountpoint"
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp")" /dev/mapper/attachd-vol_1 "mount source"
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp")" ext4 "filesystem"
assert_contains "$(findmnt -n -o OPTIONS --mountpoint "$mp")" nosuid "container mount options"
assert_eq "$(dmsetup info -c --noheadings -o uuid attachd-vol_1)" ATTACHD-vol_1 "dm uuid"
assert_contains "$(dmsetup table attachd-vol_1)" linear "dm table"
test -f "$SCRATCH/files/vol_1.img" || fail "backing file $SCRATCH/files/vol_1.img missing"

echo "payload $VM_SCENARIO" >"$mp/data.txt"
dd if=/dev/urandom of="$mp/blob" bs=1M count=4 status=none
sum=$(md5sum <"$mp/blob")
sync

out=$(volman VolumeDriver.List)
assert_contains "$out" '"Name":"vol=1_app-1"' "List"

out=$(volman VolumeDriver.Unmount '{"Name":"vol=1_app-1"}')
assert_contains "$out" '"Err":""' "Unmount"
check_no_leftovers
info "detached, nothing left"

# Volman sends Create before every Mount.
assert_contains "$(volman VolumeDriver.Create "$create")" '"Err":""' "second Create"
out=$(volman VolumeDriver.Mount '{"Name":"vol=1_app-1"}')
assert_contains "$out" '"Err":""' "second Mount"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
assert_eq "$(cat "$mp/data.txt")" "payload $VM_SCENARIO" "data after re-attach"
assert_eq "$(md5sum <"$mp/blob")" "$sum" "blob after re-attach"
info "data survived detach + re-attach"

# The agent must not have formatted twice.
n=$(grep -c '"formatted":true' "$ARTIFACTS/attachd.log" || true)
assert_eq "$n" 1 "number of attaches that ran mkfs"

assert_contains "$(volman VolumeDriver.Unmount '{"Name":"vol=1_app-1"}')" '"Err":""' "last Unmount"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"vol=1_app-1"}')" "not found" "Unmount of a gone volume"
stop_attachd
test ! -e "$ATTACHD_DRIVER_FILE" || fail "driver spec file left after SIGTERM"
check_no_leftovers
