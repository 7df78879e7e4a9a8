#!/bin/bash
# File volumes confined beneath file.dir, and loop devices attachd did not create (issue 7
# §1, §3), through the Volman API:
#  - attachd makes file.dir (0700, parents too) at start: a file volume works on a fresh
#    host without the BOSH pre-start;
#  - `path` outside file.dir (absolute, "..") is refused at Create; through a symbolic link
#    (to a file, or a directory on the way) refused at Mount; nothing changes: no loop or
#    dm device, the link's target untouched, nothing created outside;
#  - two volume ids naming one image (default path vs explicit relative path): the second
#    shares the attachment or is refused, never two loop devices nor two dm devices on one
#    image; both get the same identity ("file:<st_dev>:<st_ino>", the state record's
#    identity.wwid);
#  - a loop device someone else bound to the image (losetup) is not reused (the Mount is
#    refused naming it) and survives attachd's detach.
# timeout: 600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

fdir=$SCRATCH/fresh/store/files
mkdir -p "$SCRATCH/etc"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$fdir"}}
JSON
test ! -e "$SCRATCH/fresh" || fail "$SCRATCH/fresh exists before the start"
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd
test -d "$fdir" || fail "attachd did not create file.dir $fdir at start"
assert_eq "$(stat -c %a "$fdir")" 700 "file.dir mode"

create() { volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}"; }
mount_vol() { # NAME -> mountpoint
	local out
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}
unmount() { assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$1\"}")" '"Err":""' "Unmount $1"; }
loops_on() { # FILE: the loop devices whose backing file is FILE
	local f
	for f in /sys/block/loop*/loop/backing_file; do
		[ -e "$f" ] && [ "$(cat "$f")" = "$1" ] && basename "$(dirname "$(dirname "$f")")"
	done
	return 0
}
holders_of() { ls "/sys/block/$1/holders" 2>/dev/null | wc -l; }
wwid_of() { jq -r '.volume.identity.wwid' "$SCRATCH/state/$1.json"; }
attachd_dms() { dmsetup ls 2>/dev/null | awk '$1 ~ /^attachd-/ {print $1}' | sort | tr '\n' ' '; }

# 1. A fresh host: the default path beneath the file.dir attachd just made.
assert_contains "$(create fa_c1 '{"backend":"file","size":"32M"}')" '"Err":""' "Create fa"
mpa=$(mount_vol fa_c1)
test -f "$fdir/fa.img" || fail "no $fdir/fa.img"
echo "fa data" >"$mpa/data.txt"
sync
info "file volume on a fresh host: mounted at $mpa"

# 2. Outside file.dir: refused at Create, nothing made.
dms_before=$(attachd_dms)
out=$(create fb_c1 '{"backend":"file","size":"32M","path":"/etc/passwd"}')
assert_contains "$out" "is absolute; give a path relative to the agent's file.dir" "absolute path"
out=$(create fb_c1 '{"backend":"file","size":"32M","path":"../escape.img"}')
assert_contains "$out" "must not contain '..'" "path with .."
test ! -e "$SCRATCH/fresh/store/escape.img" || fail "a file was made outside file.dir"

# 3. Symbolic links beneath file.dir: refused at Mount, nothing touched.
outside=$SCRATCH/outside
mkdir -p "$outside"
truncate -s 32M "$outside/victim.img"
echo "not attachd's" | dd of="$outside/victim.img" conv=notrunc status=none
sum=$(md5sum <"$outside/victim.img")
ln -s "$outside/victim.img" "$fdir/link.img"
ln -s "$outside" "$fdir/linkdir"
i=0
for p in link.img linkdir/victim.img linkdir/new.img; do
	i=$((i + 1))
	assert_contains "$(create "fl$i"_c1 "{\"backend\":\"file\",\"size\":\"32M\",\"path\":\"$p\"}")" \
		'"Err":""' "Create with path $p (syntax is fine)"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"fl${i}_c1\"}")
	assert_contains "$out" "goes through a symbolic link" "Mount through the link $p"
done
assert_eq "$(md5sum <"$outside/victim.img")" "$sum" "the link's target"
test ! -e "$outside/new.img" || fail "a file was made through a directory link"
assert_eq "$(loops_on "$outside/victim.img")" "" "loop devices on the link's target"
assert_eq "$(attachd_dms)" "$dms_before" "attachd dm devices after the refusals"
info "outside paths and links refused, nothing changed"

# 4. One image, two volume ids: default path of fa vs explicit "fa.img" of fc.
fa_wwid=$(wwid_of fa)
st=$(stat -c '%d:%i' "$fdir/fa.img")
assert_eq "$fa_wwid" "file:$st" "identity of fa's image"
out=$(create fc_c1 '{"backend":"file","path":"fa.img"}')
if [[ $out == *'"Err":""'* ]]; then
	out=$(volman VolumeDriver.Mount '{"Name":"fc_c1"}')
fi
if [[ $out == *'"Err":""'* ]]; then
	mpc=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
	info "fc shares fa's attachment: $mpc"
	assert_eq "$(cat "$mpc/data.txt")" "fa data" "fc sees fa's data"
	unmount fc_c1
else
	info "fc refused: $out"
	assert_contains "$out" "'fa'" "the refusal names the volume holding the image"
fi
loops=$(loops_on "$fdir/fa.img")
assert_eq "$(wc -w <<<"$loops")" 1 "loop devices on fa.img (never two)"
assert_eq "$(holders_of "$loops")" 1 "dm devices on fa.img's loop device (never two)"
unmount fa_c1
assert_eq "$(loops_on "$fdir/fa.img")" "" "loop devices on fa.img after the detach"
# fc alone now: the same image, the same identity.
assert_contains "$(create fc_c1 '{"backend":"file","path":"fa.img"}')" '"Err":""' "Create fc alone"
mpc=$(mount_vol fc_c1)
assert_eq "$(cat "$mpc/data.txt")" "fa data" "fc on fa's image"
assert_eq "$(wwid_of fc)" "$fa_wwid" "identity of the image named by path"
unmount fc_c1
info "one image, one identity; never two loop or dm devices on it"

# 5. A loop device someone else bound to the image.
theirs=$(losetup -f --show "$fdir/fa.img")
on_exit "losetup -d $theirs 2>/dev/null || true"
assert_contains "$(create fa_c1 '{"backend":"file","size":"32M"}')" '"Err":""' "Create fa again"
out=$(volman VolumeDriver.Mount '{"Name":"fa_c1"}')
assert_contains "$out" "already bound to $theirs, which attachd did not create" "Mount beside a foreign loop device"
assert_eq "$(loops_on "$fdir/fa.img")" "${theirs#/dev/}" "loop devices on fa.img: only theirs"
losetup -d "$theirs"
mpa=$(mount_vol fa_c1)
mine=$(loops_on "$fdir/fa.img")
theirs=$(losetup -f --show "$fdir/fa.img") # bound after attachd's attach
unmount fa_c1
assert_eq "$(loops_on "$fdir/fa.img")" "${theirs#/dev/}" "after attachd's detach: its own ($mine) gone, theirs kept"
losetup -d "$theirs"
info "a foreign loop device is neither reused nor cleared"

stop_attachd
check_no_leftovers
