#!/bin/bash
# Only a provably blank device is formatted: an ext4 and an XFS whose superblock checksum is
# corrupted, a partition table alone, a LUKS header, random bytes without any signature and
# non-zero data in the last MiB only are each refused at Mount through attachd, with an Err
# naming what was found and how to zero a truly new volume; their bytes are unchanged
# (sha256 before and after) and nothing is left behind. A zeroed device is formatted.
# timeout: 420
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

files=$SCRATCH/files
mkdir -p "$files" "$SCRATCH/etc"
printf '{"file":{"dir":"%s"}}\n' "$files" >"$SCRATCH/etc/attachd.json"

# flip_byte FILE OFFSET: xor one byte with 0x5a, in place.
flip_byte() {
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 0x5a)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ext4 with metadata_csum: s_checksum is the last 4 bytes of the superblock at 1024.
truncate -s 64M "$files/ext4bad.img"
mkfs.ext4 -q -F "$files/ext4bad.img"
flip_byte "$files/ext4bad.img" $((1024 + 0x3fc))
# XFS v5: sb_crc at offset 224. mkfs.xfs wants 300 MiB.
truncate -s 320M "$files/xfsbad.img"
mkfs.xfs -q "$files/xfsbad.img"
flip_byte "$files/xfsbad.img" 224
# A partition table and nothing else.
truncate -s 64M "$files/pt.img"
printf 'label: dos\n,32M,L\n' | sfdisk -q "$files/pt.img"
# A LUKS1 header (magic and version; cryptsetup is not needed to be recognised).
truncate -s 64M "$files/luks.img"
printf 'LUKS\xba\xbe\x00\x01' | dd of="$files/luks.img" conv=notrunc status=none
# Random bytes without any signature (a raw database device, a volume mapped by mistake).
truncate -s 64M "$files/random.img"
{ printf '\xff'; head -c $((1024 * 1024 - 1)) /dev/urandom; } |
	dd of="$files/random.img" conv=notrunc status=none
# Zeroes except in the last MiB.
truncate -s 64M "$files/tail.img"
printf '\xff' | dd of="$files/tail.img" bs=1 seek=$((64 * 1024 * 1024 - 100)) conv=notrunc status=none
# All zeroes: the only one that may be formatted.
truncate -s 64M "$files/zero.img"

declare -A sum
for f in ext4bad xfsbad pt luks random tail; do
	sum[$f]=$(sha256sum <"$files/$f.img")
done

start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd

# refused NAME FS EXPECTED: Create a file volume on NAME.img, Mount it, expect a refusal
# whose Err contains EXPECTED and the zeroing hint; the device must be untouched.
refused() {
	local o="{\"backend\":\"file\",\"path\":\"$1.img\",\"fs\":\"$2\"}" out
	assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$1_app-1\",\"Opts\":$o}")" \
		'"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1_app-1\"}")
	info "Mount of $1: $out"
	assert_not_contains "$out" '"Err":""' "Mount of $1 must be refused"
	assert_contains "$out" "$3" "Err for $1 names what was found"
	assert_contains "$out" "blkdiscard -z" "Err for $1 says how to zero a truly new volume"
	check_no_leftovers
	assert_eq "$(sha256sum <"$files/$1.img")" "${sum[$1]}" "$1: bytes unchanged"
}

refused ext4bad ext4 "ext4 (bad checksum)"
refused xfsbad xfs "xfs (bad checksum)"
refused pt ext4 "dos partition table"
refused luks ext4 "crypto_LUKS"
refused random ext4 "non-zero data at offset 0 and no known signature"
refused tail ext4 "non-zero data at offset $((64 * 1024 * 1024 - 100)) and no known signature"

# format=never still refuses a blank device (and formats nothing).
o='{"backend":"file","path":"zero.img","format":"never"}'
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"never_app-1\",\"Opts\":$o}")" '"Err":""' "Create never"
out=$(volman VolumeDriver.Mount '{"Name":"never_app-1"}')
assert_contains "$out" "format=never" "format=never refusal"
check_no_leftovers
assert_eq "$(head -c 1048576 "$files/zero.img" | tr -d '\0' | wc -c)" 0 "format=never wrote nothing"

# The zeroed device is formatted and mounted.
o='{"backend":"file","path":"zero.img"}'
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"zero_app-1\",\"Opts\":$o}")" '"Err":""' "Create zero"
out=$(volman VolumeDriver.Mount '{"Name":"zero_app-1"}')
assert_contains "$out" '"Err":""' "Mount of the zeroed device"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"zero_app-1"}')" '"Err":""' "Unmount zero"
stop_attachd
check_no_leftovers
assert_eq "$(blkid -p -o value -s TYPE "$files/zero.img")" "ext4" "the zeroed device was formatted"
for f in ext4bad xfsbad pt luks random tail; do
	assert_eq "$(sha256sum <"$files/$f.img")" "${sum[$f]}" "$f: bytes unchanged after stop"
done
info "only the zeroed device was formatted"
