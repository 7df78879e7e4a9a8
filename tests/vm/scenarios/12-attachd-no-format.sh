#!/bin/bash
# A LUN that already holds another filesystem or any signature is never formatted: Mount
# fails with an Err that says what was found, the data is intact, and nothing is left.
# timeout: 240
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

iqn=iqn.2025-01.io.attachd.test:noformat
# LUN 0 holds ext2 with a file; LUN 1 holds only an MBR partition table.
f0=$(lio_lun_file "$iqn" 0)
f1=$(lio_lun_file "$iqn" 1)
mkdir -p "${f0%/*}"
truncate -s 64M "$f0" "$f1"
mkfs.ext2 -q -F "$f0"
printf 'label: dos\n,32M,L\n' | sfdisk -q "$f1"
sum0=$(md5sum <"$f0")
sum1=$(md5sum <"$f1")
lio_target_create "$iqn" --lun 0:64M --lun 1:64M
on_exit "lio_target_delete $iqn"
mkdir -p "$SCRATCH/etc"
echo "{\"file\": {\"dir\": \"$SCRATCH/files\"}}" >"$SCRATCH/etc/attachd.json"
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd

try_mount() { # NAME LUN -> Mount response
	local o="{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":$2}"
	assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$o}")" '"Err":""' "Create $1"
	volman VolumeDriver.Mount "{\"Name\":\"$1\"}"
}

out=$(try_mount ext2vol_app-1 0)
info "Mount over ext2: $out"
assert_contains "$out" "ext2" "error naming the filesystem found"
assert_contains "$out" "SafeDescription" "app-facing error"
assert_not_contains "$out" '"Err":""' "Mount must fail"
check_no_leftovers

out=$(try_mount ptvol_app-1 1)
info "Mount over a partition table: $out"
assert_contains "$out" "partition table" "error naming the signature found"
check_no_leftovers

# A file volume the user pre-filled with xfs and asked for ext4: same refusal.
mkdir -p "$SCRATCH/files"
truncate -s 320M "$SCRATCH/files/x.img"
mkfs.xfs -q "$SCRATCH/files/x.img"
sumx=$(md5sum <"$SCRATCH/files/x.img")
o='{"backend":"file","path":"x.img"}' # relative to file.dir
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"xfsvol_app-1\",\"Opts\":$o}")" '"Err":""' "Create xfsvol"
out=$(volman VolumeDriver.Mount '{"Name":"xfsvol_app-1"}')
assert_contains "$out" "xfs" "error naming xfs"
stop_attachd
check_no_leftovers

assert_eq "$(md5sum <"$f0")" "$sum0" "ext2 LUN content"
assert_eq "$(md5sum <"$f1")" "$sum1" "partitioned LUN content"
assert_eq "$(md5sum <"$SCRATCH/files/x.img")" "$sumx" "xfs file content"
info "nothing was formatted"
