#!/bin/bash
# The demo attachd runs in the VM (see tools/demo.sh): a file volume and an iSCSI volume,
# each attached, written, detached, re-attached and read back through the Volman API; then
# attachd-broker provisions and binds a file volume and a pooled iSCSI LUN, attachd mounts
# each with the bind's mount_config, and unbind/deprovision release them; and a ScaleIO
# volume the broker creates on the PowerFlex gateway emulator (8 GiB units), mounts, writes,
# and deletes from the gateway at deprovision.
# timeout: 900
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

say "Starting a PowerFlex (ScaleIO) gateway emulator (the broker part at the end uses it)"
# tests/emulator/pfgw.py speaks the gateway's REST API; its SDC emulation backs each volume
# mapped to this host with a loop device, and a test-only udev rule names it the way the
# real SDC (scini) does: /dev/disk/by-id/emc-vol-<system>-<volume>.
mkdir -p "$SCRATCH/etc" "$SCRATCH/pfgw"
SDC_GUID=9E56672F-2F4B-4A42-BFF4-88B6846FBFDA
printf 'Demo-Gw-Passw0rd\n' >"$SCRATCH/etc/gateway.pw"
python3 "$REPO/tests/emulator/pfgw.py" --state-dir "$SCRATCH/pfgw/state" \
	--password-file "$SCRATCH/etc/gateway.pw" --port-file "$SCRATCH/pfgw/port" \
	--local-sdc-guid "$SDC_GUID" --sdc loop --device-delay 0.3 >>"$ARTIFACTS/pfgw.log" 2>&1 &
pfgw_pid=$!
on_exit "kill $pfgw_pid 2>/dev/null || true"
wait_for_path "$SCRATCH/pfgw/port" 120 || fail "the gateway emulator did not start: $(tail -5 "$ARTIFACTS/pfgw.log")"
GW=http://127.0.0.1:$(cat "$SCRATCH/pfgw/port")
mkdir -p /run/udev/rules.d
cp "$REPO/tests/emulator/99-fake-scini.rules" /run/udev/rules.d/99-fake-scini.rules
udevadm control --reload
on_exit "rm -f /run/udev/rules.d/99-fake-scini.rules; udevadm control --reload"
echo "  gateway at $GW; this host is SDC $SDC_GUID"

say "Starting attachd (Volman driver API on 127.0.0.1:7610)"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"},
 "scaleio": {"gateway": "$GW", "username": "admin", "password_file": "$SCRATCH/etc/gateway.pw",
             "sdc_guid": "$SDC_GUID"}}
JSON
show cat "$SCRATCH/etc/attachd.json"
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
# The Open Service Broker with three plans: file volumes, a pool of pre-created iSCSI LUNs
# (LUN 0 of a LIO target), and ScaleIO volumes the broker creates on the gateway (emulator).
# Volman's part is played here: the bind's volume_id and mount_config go to attachd's
# Create and Mount unchanged.
biqn=iqn.2025-01.io.attachd.demo:pool
lio_target_create "$biqn" --lun 0:256M
on_exit "lio_target_delete $biqn"
printf 'demo-broker-pw\n' >"$SCRATCH/etc/broker.pw"
cat >"$SCRATCH/etc/broker.json" <<JSON
{"username": "cc", "password_file": "$SCRATCH/etc/broker.pw", "database": "sqlite:$SCRATCH/broker.db",
 "scaleio": {"gateway": "$GW", "username": "admin", "password_file": "$SCRATCH/etc/gateway.pw",
             "system_id": "14dbbf5617523654"},
 "services": [{"id": "svc-block", "name": "block", "description": "attachd volumes", "plans": [
   {"id": "plan-file", "name": "local", "backend": "file", "size": "256M"},
   {"id": "plan-lun", "name": "lun-pool", "backend": "iscsi",
    "pool": [{"portal": "127.0.0.1:3260", "iqn": "$biqn", "lun": 0}]},
   {"id": "plan-sio", "name": "scaleio-thin", "backend": "scaleio",
    "storage_pool_id": "e65f9c2700000000", "size": "8G"}]}]}
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
last_op() { # INSTANCE PLAN: poll last_operation (as Cloud Controller does) until it is over
	local q="/v2/service_instances/$1/last_operation?service_id=svc-block&plan_id=$2" i
	for ((i = 0; i < 600; i++)); do
		osb GET "$q" >/dev/null
		case $OSB_BODY in *'"in progress"'*) sleep 0.1 ;; *) break ;; esac
	done
	printf '> GET %s  (polled until the operation is over)\n< %s %s\n' "$q" "$OSB_STATUS" "$OSB_BODY"
}
gateway() { # what the PowerFlex gateway holds, asked from the emulator
	curl -sS --max-time 20 "$GW/emu/state" | jq -r '. as $s | if (.volumes | length) == 0
		then "  gateway: no volumes" else .volumes[] | "  gateway: volume \(.id) \"\(.name)\", \(.sizeInKb / 1048576) GiB \(.volumeType) in storage pool \($s.pools[.storagePoolId].name // .storagePoolId), mapped to \(if (.mappings | length) == 0 then "no SDC" else "SDC " + ([.mappings[].sdcId] | join(", ")) end)" end'
}
for plan in plan-file plan-lun plan-sio; do
	inst=demo-broker-${plan#plan-}
	ids="\"service_id\":\"svc-block\",\"plan_id\":\"$plan\""
	say "broker ($plan): cf create-service, cf bind-service"
	if [ $plan = plan-sio ]; then
		# Synchronous here (no accepts_incomplete) so that the answer shows the rounding;
		# Cloud Controller's asynchronous form is shown by the deprovision below.
		osb PUT "/v2/service_instances/$inst" "{$ids,\"organization_guid\":\"org\",\"space_guid\":\"space\",\"parameters\":{\"size\":\"10G\"}}"
		assert_eq "$OSB_STATUS" 201 "provision $inst"
		assert_contains "$OSB_BODY" "rounded up to 16G" "the broker's note on the size"
		gateway
		assert_eq "$(curl -sS --max-time 20 "$GW/emu/state" | jq '[.volumes[].sizeInKb] | add / 1048576')" 16 "GiB on the gateway"
	else
		osb PUT "/v2/service_instances/$inst?accepts_incomplete=true" "{$ids,\"organization_guid\":\"org\",\"space_guid\":\"space\"}"
		assert_eq "$OSB_STATUS" 201 "provision $inst"
	fi
	osb PUT "/v2/service_instances/$inst/service_bindings/bind-1" "{$ids,\"bind_resource\":{\"app_guid\":\"app-1\"}}"
	assert_eq "$OSB_STATUS" 201 "bind $inst"
	key=$(jq -r '.volume_mounts[0].device.volume_id' <<<"$OSB_BODY")
	mc=$(jq -c '.volume_mounts[0].device.mount_config' <<<"$OSB_BODY")
	say "broker ($plan): Volman hands volume_id and mount_config to attachd"
	call VolumeDriver.Create "{\"Name\":\"${key}_app-1\",\"Opts\":$mc}"
	call VolumeDriver.Mount "{\"Name\":\"${key}_app-1\"}"
	mp=$(mountpoint_of "$REPLY")
	steps "$key"
	[ $plan = plan-sio ] && { show findmnt -o TARGET,SOURCE,FSTYPE,SIZE --mountpoint "$mp"; gateway; }
	echo "written through the broker's binding" >"$mp/hello.txt"
	show cat "$mp/hello.txt"
	call VolumeDriver.Unmount "{\"Name\":\"${key}_app-1\"}"
	[ $plan = plan-sio ] && gateway
	check_no_leftovers
	echo "  no mount, dm device, loop device or iSCSI session left on this cell"
	say "broker ($plan): cf unbind-service, cf delete-service"
	osb DELETE "/v2/service_instances/$inst/service_bindings/bind-1?service_id=svc-block&plan_id=$plan"
	assert_eq "$OSB_STATUS" 200 "unbind $inst"
	osb DELETE "/v2/service_instances/$inst?service_id=svc-block&plan_id=$plan&accepts_incomplete=true"
	if [ $plan = plan-sio ]; then
		assert_eq "$OSB_STATUS" 202 "asynchronous deprovision of $inst"
		last_op "$inst" "$plan"
		assert_eq "$OSB_STATUS" 410 "deprovision's last_operation (gone)"
		gateway
		assert_eq "$(curl -sS --max-time 20 "$GW/emu/state" | jq '.volumes | length')" 0 "volumes on the gateway"
	else
		assert_eq "$OSB_STATUS" 200 "deprovision $inst"
	fi
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
