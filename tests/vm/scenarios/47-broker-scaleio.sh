#!/bin/bash
# attachd-broker end to end with attachd on a real kernel, against the PowerFlex gateway
# emulator (SDC emulation: a loop device per mapped volume): provision (an 8G volume created
# on the gateway) -> bind -> Volman Create/Mount on attachd with the bind's volume_id and
# mount_config -> write -> Unmount -> bind a second app read-only -> Create/Mount with that
# binding's mount_config -> the data is there, the mount read-only -> Unmount -> unbind both
# -> deprovision: the volume is gone from the gateway and nothing is left on the cell.
# Provision and deprovision are asynchronous, as Cloud Controller asks (accepts_incomplete:
# 202, then last_operation until "succeeded"; the deprovision's end is 410).
# The same flow with an iSCSI pool LUN (LUN 0 of a LIO target): the bind's mount_config is
# the pool item's, the second app reads the data read-only, and after deprovision the LUN
# is "released" in the broker's pool and nothing is left on the cell.
# timeout: 420
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

command -v python3 >/dev/null || skip "python3 not installed"
BROKER=$REPO/bin/attachd-broker
[ -x "$BROKER" ] || fail "no $BROKER (run make)"

GUID=9E56672F-2F4B-4A42-BFF4-88B6846FBFDA
emu_dir=$SCRATCH/pfgw
mkdir -p "$emu_dir"
printf 'Broker-Gw-Passw0rd\n' >"$emu_dir/password"
printf 'cc-secret-1\n' >"$SCRATCH/broker.pw"

python3 "$REPO/tests/emulator/pfgw.py" --state-dir "$emu_dir/state" \
	--password-file "$emu_dir/password" --port-file "$emu_dir/port" \
	--local-sdc-guid "$GUID" --sdc loop --device-delay 0.3 >>"$ARTIFACTS/pfgw.log" 2>&1 &
EMU_PID=$!
on_exit "kill $EMU_PID 2>/dev/null || true"
wait_for_path "$emu_dir/port" 120 || fail "the gateway emulator did not start"
GW=http://127.0.0.1:$(cat "$emu_dir/port")
gw_volumes() {
	curl -sS --max-time 20 "$GW/emu/state" |
		python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin)["volumes"])))'
}

mkdir -p /run/udev/rules.d
cp "$REPO/tests/emulator/99-fake-scini.rules" /run/udev/rules.d/99-fake-scini.rules
udevadm control --reload
on_exit "rm -f /run/udev/rules.d/99-fake-scini.rules; udevadm control --reload"

LUN_IQN=iqn.2025-01.io.attachd.test:broker-pool
lio_target_create "$LUN_IQN" --lun 0:128M
on_exit "lio_target_delete $LUN_IQN"
cat >"$SCRATCH/broker.json" <<JSON
{"username": "cc", "password_file": "$SCRATCH/broker.pw", "database": "sqlite:$SCRATCH/broker.db",
 "scaleio": {"gateway": "$GW", "username": "admin", "password_file": "$emu_dir/password",
             "system_id": "14dbbf5617523654"},
 "services": [{"id": "svc-sio", "name": "scaleio", "plans": [
   {"id": "plan-small", "name": "small", "backend": "scaleio",
    "storage_pool_id": "e65f9c2700000000", "size": "8G"}]},
  {"id": "svc-lun", "name": "lun", "plans": [
   {"id": "plan-lun", "name": "lun-pool", "backend": "iscsi",
    "pool": [{"portal": "127.0.0.1:3260", "iqn": "$LUN_IQN", "lun": 0}]}]}]}
JSON
"$BROKER" --listen 127.0.0.1:7620 --config "$SCRATCH/broker.json" >>"$ARTIFACTS/broker.log" 2>&1 &
BROKER_PID=$!
on_exit "kill $BROKER_PID 2>/dev/null || true"
wait_until 30 "the broker" curl -sf -o /dev/null -u cc:cc-secret-1 -H 'X-Broker-API-Version: 2.17' \
	http://127.0.0.1:7620/v2/catalog || fail "the broker did not start: $(tail -5 "$ARTIFACTS/broker.log")"
osb() { # METHOD PATH [BODY]: prints "STATUS BODY"
	local data=()
	[ $# -gt 2 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
	curl -sS --max-time 60 -o "$SCRATCH/osb.out" -w '%{http_code}' -X "$1" -u cc:cc-secret-1 \
		-H 'X-Broker-API-Version: 2.17' "${data[@]}" "http://127.0.0.1:7620$2"
	printf ' %s' "$(cat "$SCRATCH/osb.out")"
}
vm0() { # ANSWER FIELD: a field of the answer's first volume_mount (JSON for objects)
	python3 -c 'import json,sys
d = json.loads(sys.argv[1].split(" ", 1)[1])["volume_mounts"][0]
v = d["device"][sys.argv[2]] if sys.argv[2] in ("volume_id", "mount_config") else d[sys.argv[2]]
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2"
}

I=0c1e5a8e-47aa-4a1b-9d77-000000000047
S='"service_id":"svc-sio","plan_id":"plan-small"'
# last_op INSTANCE: wait (generous deadline) until the asynchronous operation is over;
# prints the final "STATUS BODY".
last_op() {
	local out
	for _ in $(seq 600); do
		out=$(osb GET "/v2/service_instances/$1/last_operation?$2")
		case $out in *'"in progress"'*) sleep 0.1 ;; *) echo "$out"; return 0 ;; esac
	done
	fail "last_operation of $1 still in progress: $out"
}
out=$(osb PUT "/v2/service_instances/$I?accepts_incomplete=true" "{$S,\"organization_guid\":\"o\",\"space_guid\":\"s\",\"parameters\":{\"fs\":\"ext4\"}}")
assert_eq "${out%% *}" 202 "asynchronous provision: $out"
out=$(last_op "$I" "service_id=svc-sio&plan_id=plan-small")
assert_contains "$out" '"state":"succeeded"' "provision's last_operation"
vol=$(gw_volumes)
[ -n "$vol" ] || fail "no volume on the gateway after provision"
info "provisioned volume $vol"

bind() { osb PUT "/v2/service_instances/$I/service_bindings/$1" "{$S,\"bind_resource\":{\"app_guid\":\"$2\"}$3}"; }
out=$(bind b-rw app-1 "")
assert_eq "${out%% *}" 201 "bind rw: $out"
key=$(vm0 "$out" volume_id)
mc=$(vm0 "$out" mount_config)
assert_eq "$(vm0 "$out" mode)" rw "bind mode"
info "volume_id $key mount_config $mc"

cat >"$SCRATCH/attachd.json" <<JSON
{"scaleio": {"gateway": "$GW", "username": "admin", "password_file": "$emu_dir/password",
             "sdc_guid": "$GUID"}}
JSON
start_attachd --config "$SCRATCH/attachd.json"
on_exit stop_attachd

assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$key\",\"Opts\":$mc}")" '"Err":""' "Create with the bind's mount_config"
out=$(volman VolumeDriver.Mount "{\"Name\":\"$key\",\"ID\":\"c1\"}")
assert_contains "$out" '"Err":""' "Mount"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
[ -n "$mp" ] && [ -d "$mp" ] || fail "no mountpoint in $out"
echo "written through the broker's binding" >"$mp/data.txt"
sync
assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$key\",\"ID\":\"c1\"}")" '"Err":""' "Unmount"
volman VolumeDriver.Remove "{\"Name\":\"$key\"}" >/dev/null

out=$(bind b-ro app-2 ',"parameters":{"readonly":true}')
assert_eq "${out%% *}" 201 "bind ro: $out"
assert_eq "$(vm0 "$out" volume_id)" "$key" "same volume_id for every binding"
assert_eq "$(vm0 "$out" mode)" r "read-only bind mode"
mc_ro=$(vm0 "$out" mount_config)
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$key\",\"Opts\":$mc_ro}")" '"Err":""' "Create read-only"
out=$(volman VolumeDriver.Mount "{\"Name\":\"$key\",\"ID\":\"c2\"}")
assert_contains "$out" '"Err":""' "Mount read-only"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
[ -n "$mp" ] && [ -d "$mp" ] || fail "no mountpoint in $out"
assert_eq "$(cat "$mp/data.txt")" "written through the broker's binding" "data read by the second app"
if touch "$mp/new" 2>/dev/null; then fail "the read-only binding's mount was writable"; fi
assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$key\",\"ID\":\"c2\"}")" '"Err":""' "Unmount read-only"
volman VolumeDriver.Remove "{\"Name\":\"$key\"}" >/dev/null

D="?service_id=svc-sio&plan_id=plan-small"
for b in b-rw b-ro; do
	out=$(osb DELETE "/v2/service_instances/$I/service_bindings/$b$D")
	assert_eq "${out%% *}" 200 "unbind $b: $out"
done
out=$(osb DELETE "/v2/service_instances/$I$D&accepts_incomplete=true")
assert_eq "${out%% *}" 202 "asynchronous deprovision: $out"
out=$(last_op "$I" "service_id=svc-sio&plan_id=plan-small")
assert_eq "${out%% *}" 410 "deprovision's last_operation (gone): $out"
assert_eq "$(gw_volumes)" "" "volumes on the gateway after deprovision"

# ---- the same with an iSCSI pool LUN on LIO ----
I=0c1e5a8e-47aa-4a1b-9d77-0000000004a1
S='"service_id":"svc-lun","plan_id":"plan-lun"'
out=$(osb PUT "/v2/service_instances/$I?accepts_incomplete=true" "{$S,\"organization_guid\":\"o\",\"space_guid\":\"s\"}")
assert_eq "${out%% *}" 201 "provision from the LUN pool: $out"
out=$(bind l-rw app-1 "")
assert_eq "${out%% *}" 201 "bind the LUN rw: $out"
key=$(vm0 "$out" volume_id)
mc=$(vm0 "$out" mount_config)
assert_contains "$mc" "\"iqn\": \"$LUN_IQN\"" "the pool item in mount_config"
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$key\",\"Opts\":$mc}")" '"Err":""' "Create the LUN"
out=$(volman VolumeDriver.Mount "{\"Name\":\"$key\",\"ID\":\"c1\"}")
assert_contains "$out" '"Err":""' "Mount the LUN"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
echo "written to the pool LUN" >"$mp/data.txt"
sync
assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$key\",\"ID\":\"c1\"}")" '"Err":""' "Unmount the LUN"
volman VolumeDriver.Remove "{\"Name\":\"$key\"}" >/dev/null
out=$(bind l-ro app-2 ',"parameters":{"readonly":true}')
assert_eq "${out%% *}" 201 "bind the LUN ro: $out"
mc_ro=$(vm0 "$out" mount_config)
assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$key\",\"Opts\":$mc_ro}")" '"Err":""' "Create the LUN read-only"
out=$(volman VolumeDriver.Mount "{\"Name\":\"$key\",\"ID\":\"c2\"}")
assert_contains "$out" '"Err":""' "Mount the LUN read-only"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
assert_eq "$(cat "$mp/data.txt")" "written to the pool LUN" "pool LUN data read by the second app"
if touch "$mp/new" 2>/dev/null; then fail "the read-only binding's mount of the LUN was writable"; fi
assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$key\",\"ID\":\"c2\"}")" '"Err":""' "Unmount the LUN read-only"
volman VolumeDriver.Remove "{\"Name\":\"$key\"}" >/dev/null
D="?service_id=svc-lun&plan_id=plan-lun"
for b in l-rw l-ro; do
	out=$(osb DELETE "/v2/service_instances/$I/service_bindings/$b$D")
	assert_eq "${out%% *}" 200 "unbind $b: $out"
done
out=$(osb DELETE "/v2/service_instances/$I$D&accepts_incomplete=true")
assert_eq "${out%% *}" 200 "deprovision the LUN instance: $out"
assert_eq "$("$BROKER" pool list --config "$SCRATCH/broker.json" | awk -v k="iscsi:$LUN_IQN:0" '$1 == k {print $3}')" \
	released "the LUN's state in the broker's pool after deprovision"
stop_attachd
check_no_leftovers
