#!/usr/bin/env bash
# attachd-broker's Open Service Broker API 2.17 surface with the headers Cloud Controller
# sends, against the PowerFlex gateway emulator and a real SQLite file: catalog; basic auth
# (wrong password, none: 401) and X-Broker-API-Version (missing, 2.12: 412); provision
# (201, identical repeat 200, conflicting repeat 409, bad parameters 400 naming them,
# unknown plan 400, sizes rounded up to 8G and said so); the volume on the gateway has the
# name, pool, type and size; fetch (200/404); bind (201, repeat 200, conflict 409, no app
# 422 RequiresApp, bad mount 400) with volume_mounts whose mount_config is attachd's
# Create options; update grows (setVolumeSize), shrink refused 400; deprovision refused
# while mapped (naming the SDC), then 200 and the volume gone; 410 for what is gone;
# identity headers logged; no secret in the log.
source "$(dirname "$0")/lib/broker.sh"
start_gw
write_config
start_broker
I=7f3c1c2e-0000-4000-8000-000000000001 B=b1d1-0001
PROV="{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"organization_guid\":\"org1\",\"space_guid\":\"space1\",\"context\":{\"platform\":\"cloudfoundry\"},\"parameters\":{\"size\":\"20G\",\"fs\":\"xfs\"}}"
DEL="?service_id=$SVC_SIO&plan_id=$PLAN_SMALL"

# ---- auth and version ----
AUTH=cc:wrong req GET /v2/catalog
expect 401 "wrong password"
[ "$(jq -r .description <<<"$body")" != null ] || fail "401 without description"
AUTH=nobody:s3cr3t-broker req GET /v2/catalog
expect 401 "wrong user"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Broker-API-Version: 2.17" "$URL/v2/catalog")
[ "$code" = 401 ] || fail "no credentials: HTTP $code"; ok
VERSION="" req GET /v2/catalog
expect 412 "missing X-Broker-API-Version"
grep -q "missing" <<<"$body" || fail "412 does not say the header is missing: $body"
VERSION=2.12 req GET /v2/catalog
expect 412 "version 2.12"
VERSION=2.13 req GET /v2/catalog
expect 200 "version 2.13"

# ---- catalog ----
req GET /v2/catalog
expect 200 catalog
jq -e '.services | length == 3' <<<"$body" >/dev/null || fail "catalog: $body"
jq -e '.services[] | select(.id == "svc-scaleio") | .requires == ["volume_mount"] and .bindable
	and .plan_updateable and .instances_retrievable and .bindings_retrievable' <<<"$body" \
	>/dev/null || fail "scaleio service flags: $body"
jq -e '.services[] | select(.id == "svc-iscsi") | .plan_updateable == false and .requires == ["volume_mount"]' \
	<<<"$body" >/dev/null || fail "iscsi service flags: $body"
jq -e '[.services[].plans[].id] | sort == ["plan-file","plan-iscsi-lun","plan-sio-big","plan-sio-named","plan-sio-small"]' \
	<<<"$body" >/dev/null || fail "catalog plans: $body"
ok

# ---- provision ----
req PUT "/v2/service_instances/$I" "$PROV"
expect 201 provision
[ "$(jq -r .metadata.attributes.size <<<"$body")" = 24G ] || fail "provision size: $body"
jq -r .metadata.attributes.size_note <<<"$body" | grep -q "20G rounded up to 24G" ||
	fail "rounding not said: $body"
vols=$(gw_state | jq '.volumes | length')
[ "$vols" = 1 ] || fail "gateway has $vols volumes after one provision"
vol=$(gw_state | jq -c '.volumes[]')
[ "$(jq -r .sizeInKb <<<"$vol")" = $((24 * 1024 * 1024)) ] || fail "gateway volume size: $vol"
[ "$(jq -r .storagePoolId <<<"$vol")" = e65f9c2700000000 ] || fail "pool: $vol"
[ "$(jq -r .volumeType <<<"$vol")" = ThinProvisioned ] || fail "type: $vol"
jq -r .name <<<"$vol" | grep -qE '^osb-[0-9a-f]{26}$' || fail "name: $vol"
VID=$(jq -r .id <<<"$vol")
ok
req PUT "/v2/service_instances/$I" "$PROV"
expect 200 "identical repeat"
[ "$(gw_state | jq '.volumes | length')" = 1 ] || fail "repeat made another volume"
req PUT "/v2/service_instances/$I" "${PROV/20G/30G}"
expect 409 "conflicting repeat (size)"
req PUT "/v2/service_instances/$I" "${PROV/space1/space2}"
expect 409 "conflicting repeat (space)"
[ "$(gw_state | jq '.volumes | length')" = 1 ] || fail "conflict made another volume"

# bad input: every problem named, nothing created
J="{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"organization_guid\":\"o\",\"space_guid\":\"s\""
req PUT /v2/service_instances/bad1 "$J,\"parameters\":{\"size\":\"20GB\",\"fs\":\"btrfs\",\"color\":\"red\"}}"
expect 400 "bad parameters"
for want in "size: '20GB' has an ambiguous unit" "fs: 'btrfs' is not supported" "unknown parameter 'color'"; do
	grep -qF "$want" <<<"$body" || fail "400 lacks '$want': $body"
done
[ "$(jq -r .error <<<"$body")" = BadRequest ] || fail "400 error field: $body"
req PUT /v2/service_instances/bad2 "$J,\"parameters\":{\"size\":\"100G\"}}"
expect 400 "size above max_size"
grep -q "at most 64G" <<<"$body" || fail "max_size not named: $body"
req PUT /v2/service_instances/bad3 "$J,\"parameters\":{\"size\":20}}"
expect 400 "numeric size"
grep -q "must be a string such as" <<<"$body" || fail "$body"
req PUT /v2/service_instances/bad4 "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"nope\"}"
expect 400 "unknown plan"
grep -q "plan_id: 'nope' is not a plan of service scaleio" <<<"$body" || fail "$body"
req PUT /v2/service_instances/bad5 "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_LUN\"}"
expect 400 "plan of another service"
req PUT /v2/service_instances/bad6 '{"plan_id":"x"'
expect 400 "broken JSON"
grep -q "not valid JSON" <<<"$body" || fail "$body"
req PUT /v2/service_instances/bad7 "{\"plan_id\":\"$PLAN_SMALL\"}"
expect 400 "no service_id"
grep -q "service_id: required" <<<"$body" || fail "$body"
[ "$(gw_state | jq '.volumes | length')" = 1 ] || fail "bad requests made volumes"
for i in 1 2 3 4 5 6 7 8; do
	req GET /v2/service_instances/bad$i
	expect 404 "bad$i exists after a refused provision"
done

req PUT /v2/service_instances/bad8 "$J,\"maintenance_info\":{\"version\":\"1.0.0\"}}"
expect 422 "maintenance_info the catalog does not have"
[ "$(jq -r .error <<<"$body")" = MaintenanceInfoConflict ] || fail "$body"

# named pool (protection domain + pool names), thick
req PUT /v2/service_instances/named1 "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_NAMED\",\"organization_guid\":\"o\",\"space_guid\":\"s\"}"
expect 201 "provision by pool name"
gw_state | jq -e '.volumes[] | select(.storagePoolId == "e65f9c2800000000" and .volumeType == "ThickProvisioned" and .sizeInKb == 8388608)' >/dev/null ||
	fail "named-pool volume: $(gw_state | jq -c .volumes)"
ok

# ---- fetch ----
req GET "/v2/service_instances/$I"
expect 200 "fetch instance"
jq -e ".service_id == \"$SVC_SIO\" and .plan_id == \"$PLAN_SMALL\" and .parameters.size == \"24G\" and .parameters.fs == \"xfs\"" \
	<<<"$body" >/dev/null || fail "fetch: $body"
req GET /v2/service_instances/none
expect 404 "fetch missing instance"

# ---- bind ----
BIND="{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"app_guid\":\"app1\",\"bind_resource\":{\"app_guid\":\"app1\"}}"
req PUT "/v2/service_instances/$I/service_bindings/$B?accepts_incomplete=true" "$BIND"
expect 201 bind
jq -e ".credentials == {} and (.volume_mounts | length) == 1" <<<"$body" >/dev/null || fail "bind: $body"
vm=$(jq -c '.volume_mounts[0]' <<<"$body")
jq -e ".driver == \"attachd\" and .container_dir == \"/var/vcap/data/$I\" and .mode == \"rw\"
	and .device_type == \"shared\" and .device.volume_id == \"$I\"" <<<"$vm" >/dev/null || fail "volume_mount: $vm"
jq -e ".device.mount_config == {\"backend\":\"scaleio\",\"system_id\":\"14dbbf5617523654\",\"volume_id\":\"$VID\",\"fs\":\"xfs\"}" \
	<<<"$vm" >/dev/null || fail "mount_config: $vm"
ok
req PUT "/v2/service_instances/$I/service_bindings/$B" "$BIND"
expect 200 "identical bind repeat"
[ "$(jq -c '.volume_mounts[0]' <<<"$body")" = "$vm" ] || fail "repeat answers differently: $body"
req PUT "/v2/service_instances/$I/service_bindings/$B" "${BIND//app1/app2}"
expect 409 "conflicting bind repeat"
req PUT "/v2/service_instances/$I/service_bindings/key1" "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\"}"
expect 422 "service key (no app)"
[ "$(jq -r .error <<<"$body")" = RequiresApp ] || fail "422 error: $body"
req PUT "/v2/service_instances/$I/service_bindings/b-ro" \
	"{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"bind_resource\":{\"app_guid\":\"app3\"},\"parameters\":{\"mount\":\"/data/shared\",\"readonly\":true}}"
expect 201 "read-only bind"
jq -e ".volume_mounts[0] | .mode == \"r\" and .container_dir == \"/data/shared\" and .device.volume_id == \"$I\"
	and .device.mount_config.readonly == true" <<<"$body" >/dev/null || fail "read-only bind: $body"
req PUT "/v2/service_instances/$I/service_bindings/b-bad" \
	"{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"bind_resource\":{\"app_guid\":\"app3\"},\"parameters\":{\"mount\":\"data/../x\",\"readonly\":\"yes\",\"chap_secret\":\"x\"}}"
expect 400 "bad bind parameters"
for want in "mount: 'data/../x' must be an absolute path" "readonly: must be true or false" "unknown parameter 'chap_secret'"; do
	grep -qF "$want" <<<"$body" || fail "400 lacks '$want': $body"
done
req GET "/v2/service_instances/$I/service_bindings/b-bad"
expect 404 "refused binding exists"
req PUT "/v2/service_instances/nope/service_bindings/b9" "$BIND"
expect 400 "bind to a missing instance"
req GET "/v2/service_instances/$I/service_bindings/$B"
expect 200 "fetch binding"
[ "$(jq -c '.volume_mounts[0]' <<<"$body")" = "$vm" ] || fail "fetched binding differs: $body"
req GET "/v2/service_instances/$I/service_bindings/$B/last_operation"
expect 200 "binding last_operation"
req GET "/v2/service_instances/$I/last_operation"
expect 200 "instance last_operation"
[ "$(jq -r .state <<<"$body")" = succeeded ] || fail "last_operation: $body"

# ---- update ----
req PATCH "/v2/service_instances/$I" "{\"service_id\":\"$SVC_SIO\",\"parameters\":{\"size\":\"40G\"}}"
expect 200 "grow"
[ "$(gw_state | jq ".volumes[\"$VID\"].sizeInKb")" = $((40 * 1024 * 1024)) ] || fail "not grown on the gateway"
req PATCH "/v2/service_instances/$I" "{\"service_id\":\"$SVC_SIO\",\"parameters\":{\"size\":\"41G\"}}"
expect 200 "grow with rounding"
jq -r .metadata.attributes.size_note <<<"$body" | grep -q "41G rounded up to 48G" || fail "$body"
req PATCH "/v2/service_instances/$I" "{\"service_id\":\"$SVC_SIO\",\"parameters\":{\"size\":\"16G\"}}"
expect 400 "shrink"
grep -q "shrinking is not supported" <<<"$body" || fail "$body"
[ "$(gw_state | jq ".volumes[\"$VID\"].sizeInKb")" = $((48 * 1024 * 1024)) ] || fail "shrink changed the volume"
req PATCH "/v2/service_instances/$I" "{\"service_id\":\"$SVC_SIO\",\"parameters\":{\"fs\":\"ext4\"}}"
expect 400 "fs change"
req PATCH "/v2/service_instances/$I" "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_NAMED\"}"
expect 400 "plan change to another pool"
req PATCH "/v2/service_instances/$I" "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_BIG\"}"
expect 200 "plan change within the pool"
req GET "/v2/service_instances/$I"
[ "$(jq -r .plan_id <<<"$body")" = "$PLAN_BIG" ] || fail "plan not changed: $body"
req PATCH /v2/service_instances/none "{\"service_id\":\"$SVC_SIO\"}"
expect 404 "update of a missing instance"

# ---- deprovision refused while mapped ----
curl -s -X POST -d '{"id":"d0f055a700000000","guid":"11111111-2222-3333-4444-555555555555","ip":"10.0.0.6","name":"cell-7"}' "$GW/emu/sdc" >/dev/null
curl -s -X POST -d "{\"volumeId\":\"$VID\",\"sdcId\":\"d0f055a700000000\"}" "$GW/emu/map" >/dev/null
req DELETE "/v2/service_instances/$I?service_id=$SVC_SIO&plan_id=$PLAN_BIG"
expect 409 "deprovision while mapped"
grep -q "d0f055a700000000 (cell-7, 10.0.0.6)" <<<"$body" || fail "SDC not named: $body"
[ "$(gw_state | jq ".volumes[\"$VID\"] != null")" = true ] || fail "mapped volume removed"
req GET "/v2/service_instances/$I"
expect 200 "instance after a refused deprovision"

# ---- unbind, deprovision ----
req DELETE "/v2/service_instances/$I/service_bindings/$B$DEL"
expect 200 unbind
req DELETE "/v2/service_instances/$I/service_bindings/$B$DEL"
expect 410 "unbind again"
req DELETE "/v2/service_instances/$I/service_bindings/b-ro"
expect 400 "unbind without service_id/plan_id"
req DELETE "/v2/service_instances/$I/service_bindings/b-ro$DEL"
expect 200 "unbind read-only"
# The app's cell unmaps it (what attachd does at Unmount), through the gateway's API.
AUTH_GW=$(printf admin:gwpass | base64 -w0)
tok=$(curl -s -H "Authorization: Basic $AUTH_GW" "$GW/api/login" | tr -d '"')
curl -s -u "admin:$tok" -H 'Content-Type: application/json' -X POST \
	-d '{"sdcId":"d0f055a700000000"}' "$GW/api/instances/Volume::$VID/action/removeMappedSdc" >/dev/null
req DELETE "/v2/service_instances/$I?service_id=$SVC_SIO&plan_id=$PLAN_BIG"
expect 200 deprovision
[ "$(gw_state | jq ".volumes[\"$VID\"]")" = null ] || fail "volume left on the gateway"
req DELETE "/v2/service_instances/$I?service_id=$SVC_SIO&plan_id=$PLAN_BIG"
expect 410 "deprovision again"
req GET "/v2/service_instances/$I"
expect 404 "fetch after deprovision"
req GET "/v2/service_instances/$I/last_operation"
expect 410 "last_operation after deprovision"
req DELETE "/v2/service_instances/$I"
expect 400 "deprovision without service_id/plan_id"

# ---- logs ----
log=$tmp/broker.log
log_has "$log" '.message == "attachd-broker.request" and .data.originating_identity.platform == "cloudfoundry"
	and .data.originating_identity.value.user_id == "683ea748-3092-4ff4-b656-39cacc4d5360"
	and (.data.request_id | startswith("req-"))' || fail "identity headers not logged"
jq -s -e 'all(.source == "attachd-broker" and (.timestamp | test("Z$")) and .log_level != null)' "$log" \
	>/dev/null || fail "log shape"
log_has "$log" '.message == "attachd-broker.request" and .data.status == 412' || fail "412 not logged"
for secret in s3cr3t-broker gwpass chapchapchap1; do
	grep -q "$secret" "$log" && fail "secret '$secret' in the log"
done
ok
echo "PASS ($checks checks)"
