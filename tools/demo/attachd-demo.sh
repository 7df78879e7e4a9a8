#!/bin/bash
# The demo attachd runs in the VM (see tools/demo.sh): a file volume and an iSCSI volume,
# each attached, written, detached, re-attached and read back through the Volman API; then
# attachd-broker provisions and binds a file volume and a pooled iSCSI LUN, attachd mounts
# each with the bind's mount_config, and unbind/deprovision release them.
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

say "attachd-broker: what cf create-service / bind-service / delete-service do"
# The Open Service Broker with two plans: file volumes, and a pool of pre-created iSCSI LUNs
# (LUN 0 of a LIO target). Volman's part is played here: the bind's volume_id and
# mount_config go to attachd's Create and Mount unchanged.
biqn=iqn.2025-01.io.attachd.demo:pool
lio_target_create "$biqn" --lun 0:256M
on_exit "lio_target_delete $biqn"
printf 'demo-broker-pw\n' >"$SCRATCH/etc/broker.pw"
cat >"$SCRATCH/etc/broker.json" <<JSON
{"username": "cc", "password_file": "$SCRATCH/etc/broker.pw", "database": "sqlite:$SCRATCH/broker.db",
 "services": [{"id": "svc-block", "name": "block", "description": "attachd volumes", "plans": [
   {"id": "plan-file", "name": "local", "backend": "file", "size": "256M"},
   {"id": "plan-lun", "name": "lun-pool", "backend": "iscsi",
    "pool": [{"portal": "127.0.0.1:3260", "iqn": "$biqn", "lun": 0}]}]}]}
JSON
show cat "$SCRATCH/etc/broker.json"
"$REPO/bin/attachd-broker" --listen 127.0.0.1:7620 --config "$SCRATCH/etc/broker.json" >>"$ARTIFACTS/broker.log" 2>&1 &
broker_pid=$!
on_exit "kill $broker_pid 2>/dev/null || true"
wait_until 30 "the broker" curl -sf -o /dev/null -u cc:demo-broker-pw -H 'X-Broker-API-Version: 2.17' \
	http://127.0.0.1:7620/v2/catalog || fail "the broker did not start: $(tail -5 "$ARTIFACTS/broker.log")"
osb() { # METHOD PATH [BODY]: show the call and the answer; $OSB_STATUS, $OSB_BODY
	local data=()
	[ $# -gt 2 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
	printf '> %s %s %s\n' "$1" "$2" "${3-}"
	OSB_STATUS=$(curl -sS --max-time 60 -o "$SCRATCH/osb.out" -w '%{http_code}' -X "$1" -u cc:demo-broker-pw \
		-H 'X-Broker-API-Version: 2.17' "${data[@]}" "http://127.0.0.1:7620$2")
	OSB_BODY=$(cat "$SCRATCH/osb.out")
	printf '< %s %s\n' "$OSB_STATUS" "$OSB_BODY"
}
for plan in plan-file plan-lun; do
	inst=demo-broker-${plan#plan-}
	ids="\"service_id\":\"svc-block\",\"plan_id\":\"$plan\""
	say "broker ($plan): cf create-service, cf bind-service"
	osb PUT "/v2/service_instances/$inst?accepts_incomplete=true" "{$ids,\"organization_guid\":\"org\",\"space_guid\":\"space\"}"
	assert_eq "$OSB_STATUS" 201 "provision $inst"
	osb PUT "/v2/service_instances/$inst/service_bindings/bind-1" "{$ids,\"bind_resource\":{\"app_guid\":\"app-1\"}}"
	assert_eq "$OSB_STATUS" 201 "bind $inst"
	key=$(jq -r '.volume_mounts[0].device.volume_id' <<<"$OSB_BODY")
	mc=$(jq -c '.volume_mounts[0].device.mount_config' <<<"$OSB_BODY")
	say "broker ($plan): Volman hands volume_id and mount_config to attachd"
	call VolumeDriver.Create "{\"Name\":\"${key}_app-1\",\"Opts\":$mc}"
	call VolumeDriver.Mount "{\"Name\":\"${key}_app-1\"}"
	mp=$(mountpoint_of "$REPLY")
	echo "written through the broker's binding" >"$mp/hello.txt"
	show cat "$mp/hello.txt"
	call VolumeDriver.Unmount "{\"Name\":\"${key}_app-1\"}"
	check_no_leftovers
	say "broker ($plan): cf unbind-service, cf delete-service"
	osb DELETE "/v2/service_instances/$inst/service_bindings/bind-1?service_id=svc-block&plan_id=$plan"
	assert_eq "$OSB_STATUS" 200 "unbind $inst"
	osb DELETE "/v2/service_instances/$inst?service_id=svc-block&plan_id=$plan&accepts_incomplete=true"
	assert_eq "$OSB_STATUS" 200 "deprovision $inst"
done
say "broker: the LUN is released, not handed out again until an operator cleans it"
show "$REPO/bin/attachd-broker" pool list --config "$SCRATCH/etc/broker.json"
kill "$broker_pid"
wait "$broker_pid" 2>/dev/null || true

say "Stopping attachd (SIGTERM removes the driver spec file)"
stop_attachd
test ! -e "$ATTACHD_DRIVER_FILE" && echo "  $ATTACHD_DRIVER_FILE removed"
check_no_leftovers
say "Demo finished: every step above succeeded"
