#!/bin/bash
# Online expand, never shrink. A file volume whose sparse file grew is grown by `attachctl
# expand` (loop set-capacity, dm map, resize2fs): df in the container's mount shows the new
# size, the data is intact, the output names old and new sizes; a second expand has nothing
# to do; a file cut below the filesystem is refused and changes nothing. An iSCSI LUN (LIO
# fileio backstore) grown on the target is grown by `attachctl expand` while a writer keeps
# writing (SCSI rescan, dm map, resize2fs online). An XFS volume whose LUN grew is grown at
# the next Mount (a second container), before the bind. `attachctl watch NAME`, started
# before the Mount of a large sparse LUN, prints that attach's steps in order in their exact
# formats, mkfs's start and end included, then the total; `attachctl ls` shows the mkfs in
# flight.
# timeout: 1080
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

mib() { echo $(($1 * 1024 * 1024)); }
df_size() { df -B1 --output=size "$1" | tail -1 | tr -d ' '; }
dev_size() { blockdev --getsize64 "$1"; }
mountpoint_of() { sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$1"; }
mount_vol() { # NAME OPTS -> mountpoint
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}")
	assert_contains "$out" '"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	mountpoint_of "$out"
}
unmount_vol() {
	assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$1\"}")" '"Err":""' "Unmount $1"
}

iqn=iqn.2025-01.io.attachd.test:expand
lio_target_create "$iqn" --lun 0:64M --lun 1:320M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn"
# lio_grow LUN SIZE: grow the LUN's backing file and tell LIO its new size.
lio_grow() {
	local file bs bytes
	file=$(lio_lun_file "$iqn" "$1")
	bs=$VM_LIO/core/fileio_0/$(vm_tag "$iqn")_$1
	bytes=$(vm_bytes "$2")
	truncate -s "$bytes" "$file"
	echo "fd_dev_size=$bytes" >"$bs/control" || fail "LIO refused the new size of LUN $1"
}

mkdir -p "$SCRATCH/etc"
echo "{\"file\": {\"dir\": \"$SCRATCH/files\"}}" >"$SCRATCH/etc/attachd.json"
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd

## ---- file backend: grow the sparse file, attachctl expand
mp=$(mount_vol fvol_app-1 '{"backend":"file","size":"64M"}')
dd if=/dev/urandom of="$mp/blob" bs=1M count=8 status=none
sum=$(md5sum <"$mp/blob")
sync
before=$(df_size "$mp")
[ "$before" -lt "$(mib 64)" ] || fail "df of a 64 MiB volume says $before"
img=$SCRATCH/files/fvol.img
test -f "$img" || fail "backing file $img missing"

truncate -s 128M "$img"
out=$(attachctl expand fvol) || fail "attachctl expand fvol failed: $out"
info "$out"
assert_contains "$out" "volume fvol: grown online" "expand output"
assert_contains "$out" "device      64.0 MiB -> 128.0 MiB ($(mib 64) -> $(mib 128) bytes)" "device sizes"
assert_contains "$out" "ext4" "filesystem line"
after=$(df_size "$mp")
info "df: $before -> $after bytes"
[ "$after" -gt "$(mib 100)" ] || fail "df in the container mount still says $after bytes after the expand"
assert_eq "$(dev_size /dev/mapper/attachd-fvol)" "$(mib 128)" "dm device size"
assert_eq "$(md5sum <"$mp/blob")" "$sum" "data after the expand"
echo more >"$mp/after-expand" && sync
assert_contains "$(grep '"attachd.expand.done"' "$ARTIFACTS/attachd.log")" '"map_after":134217728' "expand event sizes"
assert_contains "$(attachctl trace fvol)" "expand" "trace shows the expand step"
assert_contains "$(attachctl metrics)" "expands   1 (0 failed)" "metrics count the expand"

# Again: nothing to grow, nothing changes.
out=$(attachctl expand fvol) || fail "a second expand failed: $out"
assert_contains "$out" "nothing to grow" "second expand"
assert_eq "$(df_size "$mp")" "$after" "df after a no-op expand"

# Shrink: the file cut below the filesystem (only free space at its end) is refused.
truncate -s 120M "$img"
rc=0
out=$(attachctl expand fvol 2>&1) || rc=$?
assert_eq "$rc" 1 "exit status of an expand over a shrunk file"
assert_contains "$out" "never shrinks" "shrink refusal"
info "refused: $out"
assert_eq "$(dev_size /dev/mapper/attachd-fvol)" "$(mib 128)" "dm device size after the refused shrink"
loopdev=$(losetup -j "$img" -O NAME -n | head -1)
assert_eq "$(dev_size "$loopdev")" "$(mib 128)" "loop device size after the refused shrink"
assert_eq "$(df_size "$mp")" "$after" "df after the refused shrink"
truncate -s 128M "$img"
assert_eq "$(md5sum <"$mp/blob")" "$sum" "data after the refused shrink"
unmount_vol fvol_app-1
info "file volume: grown 64 -> 128 MiB online, shrink refused"

## ---- iSCSI, ext4: grow the LUN on the target, attachctl expand under a writer
mp=$(mount_vol ivol_app-1 "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":0}")
before=$(df_size "$mp")
touch "$SCRATCH/writing"
(
	i=0
	while [ -e "$SCRATCH/writing" ]; do
		echo "line $i" >>"$mp/log" || exit 1
		i=$((i + 1))
		[ $((i % 50)) -ne 0 ] || sync "$mp/log" || exit 1
	done
	sync "$mp/log"
) &
writer=$!
log_lines() { [ -e "$mp/log" ] && wc -l <"$mp/log" || echo 0; }
more_lines_than() { [ "$(log_lines)" -gt "$1" ]; }
wait_until 60 "the writer's first lines" more_lines_than 10 || fail "the writer did not start"
lio_grow 0 160M
out=$(attachctl expand ivol) || fail "attachctl expand ivol failed: $out"
info "$out"
assert_contains "$out" "64.0 MiB -> 160.0 MiB" "iSCSI device sizes"
after=$(df_size "$mp")
[ "$after" -gt "$(mib 140)" ] || fail "df says $after bytes after growing the LUN to 160 MiB"
wait_until 60 "the writer to go on" more_lines_than $(($(log_lines) + 20)) ||
	fail "the writer stopped after the expand"
rm -f "$SCRATCH/writing"
wait "$writer" || fail "the writer failed during the expand"
n=$(wc -l <"$mp/log")
assert_eq "$(tail -1 "$mp/log")" "line $((n - 1))" "writer's log is whole ($n lines)"
unmount_vol ivol_app-1
info "iSCSI volume: grown 64 -> 160 MiB online under a writer ($n lines written)"

## ---- iSCSI, XFS: the LUN grows; the next Mount (a second container) grows it before the bind
xopts="{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":1,\"fs\":\"xfs\"}"
mp1=$(mount_vol xvol_app-1 "$xopts")
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp1")" xfs "filesystem"
echo "xfs data" >"$mp1/data" && sync
before=$(df_size "$mp1")
lio_grow 1 480M
mp2=$(mount_vol xvol_app-2 "$xopts")
after=$(df_size "$mp2")
info "XFS df: $before -> $after bytes (second container's mount)"
# XFS' df leaves out its log and metadata: the growth is what must show (160 MiB)
[ "$after" -ge $((before + $(mib 150))) ] || fail "df in the second container's mount says $after bytes, $before before the LUN grew by 160 MiB"
assert_eq "$(df_size "$mp1")" "$after" "first container sees the grown filesystem too"
assert_eq "$(cat "$mp2/data")" "xfs data" "data in the grown XFS"
assert_contains "$(grep '"attachd.expand.done"' "$ARTIFACTS/attachd.log" | grep '"trigger":"mount"')" '"volume":"xvol"' "expand event at Mount"
unmount_vol xvol_app-2
unmount_vol xvol_app-1

## ---- attachctl watch and ls follow a slow mkfs: a large sparse LUN
# 30 GiB: mke2fs writes ~130 MiB (its journal) to the LUN's file on the VM's tmpfs; a
# larger LUN's journal (1 GiB from 128 GiB) would not fit the VM's memory.
wiqn=iqn.2025-01.io.attachd.test:watch
lio_target_create "$wiqn" --lun 0:30G --portal 127.0.0.1:3260
on_exit "lio_target_delete $wiqn"
wopts="{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$wiqn\",\"lun\":0}"
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"wvol_app-1\",\"Opts\":$wopts}")" '"Err":""' "Create wvol_app-1"
attachctl watch wvol >"$ARTIFACTS/watch-wvol.out" 2>"$ARTIFACTS/watch-wvol.err" &
watcher=$!
wait_until 30 "the watch to subscribe" grep -q '^watching wvol: ' "$ARTIFACTS/watch-wvol.err" ||
	fail "attachctl watch wvol did not subscribe: $(cat "$ARTIFACTS/watch-wvol.err")"
assert_eq "$(cat "$ARTIFACTS/watch-wvol.err")" "watching wvol: 0 operations in flight" "watch's first line"
volman VolumeDriver.Mount '{"Name":"wvol_app-1"}' >"$SCRATCH/wvol-mount.out" &
mounter=$!
# ls while the Mount runs: the mkfs in flight (unless it was over before a poll saw it).
ls_mkfs=
while kill -0 "$mounter" 2>/dev/null; do
	ls_mkfs=$(attachctl ls 2>/dev/null | grep -E 'attaching: mkfs [0-9]+\.[0-9] m?s' || true)
	[ -z "$ls_mkfs" ] || break
	sleep 0.1
done
wait "$mounter" || fail "the Mount of wvol_app-1 failed: $(cat "$SCRATCH/wvol-mount.out")"
assert_contains "$(cat "$SCRATCH/wvol-mount.out")" '"Err":""' "Mount wvol_app-1"
wmp=$(mountpoint_of "$(cat "$SCRATCH/wvol-mount.out")")
wait "$watcher" || fail "attachctl watch wvol exited $?: $(cat "$ARTIFACTS/watch-wvol.out" "$ARTIFACTS/watch-wvol.err")"
info "watch printed:"$'\n'"$(cat "$ARTIFACTS/watch-wvol.out")"
# Exact lines, the durations as T: N.NN s (from 1 s) or N.N ms.
T='([0-9]+\.[0-9]{2} s|[0-9]+\.[0-9] ms)'
got=$(sed -E "s/ $T ok\$/ T ok/; s/ total $T\$/ total T/" "$ARTIFACTS/watch-wvol.out")
want=$(
	echo "wvol: attach started"
	for st in plan connect await-device verify dm-map fence probe-fs mkfs mount bind; do
		echo "wvol: attach: $st ..."
		echo "wvol: attach: $st T ok"
	done
	echo "wvol: attach ok, total T"
)
assert_eq "$got" "$want" "attachctl watch wvol's output"
mkfs_line=$(grep -E '^wvol: attach: mkfs .* ok$' "$ARTIFACTS/watch-wvol.out")
if [ -n "$ls_mkfs" ]; then
	info "ls during the mkfs: $ls_mkfs"
elif [[ $mkfs_line =~ \ [0-9]+\.[0-9]{2}\ s\ ok$ ]]; then
	fail "attachctl ls never showed 'attaching: mkfs' during a mkfs that took over a second ($mkfs_line)"
else
	info "mkfs was over before ls could see it ($mkfs_line)"
fi
mountpoint -q "$wmp" || fail "$wmp is not a mountpoint"
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$wmp")" ext4 "filesystem of the large LUN"
unmount_vol wvol_app-1
lio_target_delete "$wiqn"
rm -f "$(lio_lun_file "$wiqn" 0)"

stop_attachd
lio_target_delete "$iqn"
check_no_leftovers
