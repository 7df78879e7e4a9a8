#!/bin/bash
# The demo attachd runs in the VM (see tools/demo.sh): a file volume and an iSCSI volume,
# each attached, written, detached, re-attached and read back through the Volman API.
# timeout: 600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /'; }
mountpoint_of() { sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$1"; }
call() { # CALL JSON: show the request and the reply, fail on a non-empty Err
	local out
	printf '> POST /%s %s\n' "$1" "${2-}"
	out=$(volman "$1" "${2-}")
	printf '< %s\n' "$out"
	case $out in *'"Err":""'*) ;; *) fail "$1 failed: $out" ;; esac
	REPLY=$out
}
steps() { # the step timings of the last attach/detach of VOLUME, from the agent's log
	grep -E "\"message\":\"attachd\\.(attach|detach)\\.finish\".*\"volume\":\"$1\"" "$ARTIFACTS/attachd.log" |
		tail -"${2:-1}" | jq -r '.message as $m | .data | "  \($m | sub("attachd\\.";"")) \(.volume) (\(.backend)) total \(.total_ms | floor) ms, formatted=\(.formatted):",
			(.steps[] | "    \(.step | . + "               " | .[0:14]) \(.ms * 10 | floor / 10) ms  \(.result)")'
}

say "Starting attachd (Volman driver API on 127.0.0.1:7610)"
mkdir -p "$SCRATCH/etc"
echo "{\"file\": {\"dir\": \"$SCRATCH/files\"}}" >"$SCRATCH/etc/attachd.json"
start_attachd --config "$SCRATCH/etc/attachd.json" --admin-socket "$SCRATCH/run/attachd.sock"
on_exit stop_attachd
show cat "$ATTACHD_DRIVER_FILE"
call Plugin.Activate

for kind in file iscsi; do
	if [ $kind = file ]; then
		vol=demo-file opts='{"backend":"file","size":"256M"}'
		say "File volume: a 256 MiB sparse file on a loop device"
	else
		iqn=iqn.2025-01.io.attachd.demo:array1
		say "iSCSI volume: LUN 0 of a LIO target at 127.0.0.1:3260 ($iqn)"
		lio_target_create "$iqn" --lun 0:256M
		on_exit "lio_target_delete $iqn"
		vol=demo-iscsi opts="{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":0}"
	fi
	name="${vol}_app-instance-1"
	say "$kind: Create + Mount (as Volman does when an app instance starts)"
	call VolumeDriver.Create "{\"Name\":\"$name\",\"Opts\":$opts}"
	call VolumeDriver.Mount "{\"Name\":\"$name\"}"
	mp=$(mountpoint_of "$REPLY")
	steps "$vol"
	show findmnt -o TARGET,SOURCE,FSTYPE,OPTIONS --mountpoint "$mp"
	show dmsetup table "attachd-$vol"
	[ $kind = iscsi ] && show iscsiadm -m session
	say "$kind: write data"
	echo "written by the demo at $(date -u +%FT%TZ)" >"$mp/hello.txt"
	dd if=/dev/urandom of="$mp/blob" bs=1M count=16 status=none
	sum=$(md5sum <"$mp/blob")
	show ls -l "$mp"
	say "$kind: Unmount (the app instance stops): everything is undone"
	call VolumeDriver.Unmount "{\"Name\":\"$name\"}"
	steps "$vol"
	check_no_leftovers
	echo "  no mount, dm device, loop device or iSCSI session left"
	say "$kind: Create + Mount again (a new instance): no reformat, the data is back"
	name="${vol}_app-instance-2"
	call VolumeDriver.Create "{\"Name\":\"$name\",\"Opts\":$opts}"
	call VolumeDriver.Mount "{\"Name\":\"$name\"}"
	mp=$(mountpoint_of "$REPLY")
	steps "$vol"
	show cat "$mp/hello.txt"
	assert_eq "$(md5sum <"$mp/blob")" "$sum" "16 MiB blob after re-attach"
	echo "  16 MiB blob read back: checksum matches"
	call VolumeDriver.List
	say "$kind: what an SRE sees"
	show attachctl ls
	show attachctl trace "$vol"
	call VolumeDriver.Unmount "{\"Name\":\"$name\"}"
done

say "A LUN holding data attachd did not expect is never formatted"
iqn2=iqn.2025-01.io.attachd.demo:array2
f=$(lio_lun_file "$iqn2" 0)
mkdir -p "${f%/*}"
truncate -s 320M "$f"
mkfs.xfs -q -f "$f"
lio_target_create "$iqn2" --lun 0:320M
on_exit "lio_target_delete $iqn2"
printf '> POST /VolumeDriver.Mount (fs=ext4 asked, the LUN holds %s)\n' "$(blkid -p -o value -s TYPE "$f")"
volman VolumeDriver.Create "{\"Name\":\"demo-other_app-1\",\"Opts\":{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn2\",\"lun\":0}}" >/dev/null
out=$(volman VolumeDriver.Mount '{"Name":"demo-other_app-1"}')
printf '< %s\n' "$out"
assert_contains "$out" "never formats" "refusal"

say "Stopping attachd (SIGTERM removes the driver spec file)"
stop_attachd
test ! -e "$ATTACHD_DRIVER_FILE" && echo "  $ATTACHD_DRIVER_FILE removed"
check_no_leftovers
say "Demo finished: every step above succeeded"
