#!/usr/bin/env bash
# attachd-broker's asynchronous operations (OSB 2.17), as Cloud Controller drives them
# (accepts_incomplete=true, then GET .../last_operation?operation=... until it is done),
# against the PowerFlex gateway emulator held slow so the operations are seen in flight:
# provision answers 202 + operation, last_operation says "in progress" with a
# description, then "succeeded"; a second request on the busy instance answers 422
# ConcurrencyError; the identical repeat answers 202 with the same operation; update (grow)
# and deprovision likewise (the row is gone at the end: 410); a failed removal (volume
# still mapped) is reported "failed" with the SDC named and the instance usable; a plan with
# "async": "required" answers 422 AsyncRequired without accepts_incomplete; a failed
# create (gateway 503) is "failed" and the platform's delete then answers 200; a broker
# killed while its worker waits on the gateway leaves the operation in the database and
# the next broker resumes it (the volume exists once, last_operation "succeeded").
# On SQLite, first: a database of the previous schema (v1) is migrated at start, its
# instance and binding kept. BROKER_DB=pg runs it on PostgreSQL.
source "$(dirname "$0")/lib/broker.sh"
start_gw
write_config
# plan-sio-small requires asynchronous operations; recover_after_s 2 resumes fast.
jq '.recover_after_s = 2 | (.services[0].plans[0].async) = "required"' "$CONFIG" >"$tmp/c2.json"
CONFIG=$tmp/c2.json

# ---- a schema v1 database (the synchronous broker's) is migrated ----
if [ "${BROKER_DB:-}" != pg ]; then
	sqlite3 "$tmp/broker.db" "CREATE TABLE instances (id TEXT PRIMARY KEY NOT NULL, service_id TEXT NOT NULL,
		plan_id TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('creating','ready','deleting')),
		org TEXT NOT NULL, space TEXT NOT NULL, request TEXT NOT NULL, size INTEGER NOT NULL, fs TEXT NOT NULL,
		volume_name TEXT NOT NULL, backend_ref TEXT NOT NULL, updated INTEGER NOT NULL);
	CREATE TABLE bindings (id TEXT PRIMARY KEY NOT NULL,
		instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE, app_guid TEXT NOT NULL,
		request TEXT NOT NULL, container_dir TEXT NOT NULL, readonly INTEGER NOT NULL);
	CREATE TABLE pool_items (key TEXT PRIMARY KEY NOT NULL, plan_id TEXT NOT NULL,
		state TEXT NOT NULL CHECK (state IN ('free','in_use','released')), instance_id TEXT UNIQUE,
		CHECK ((state = 'in_use') = (instance_id IS NOT NULL)));
	INSERT INTO instances VALUES ('old1','$SVC_FILE','$PLAN_FILE','ready','o','s','{}',1073741824,'ext4','','',0);
	INSERT INTO bindings VALUES ('oldb','old1','app0','{}','/var/vcap/data/old1',0);
	PRAGMA user_version = 1;" || fail "making a v1 database"
	start_broker "$tmp/broker-v1.log"
	[ "$(db_query 'PRAGMA user_version')" = 2 ] || fail "schema not migrated: $(db_query 'PRAGMA user_version')"
	req GET /v2/service_instances/old1/service_bindings/oldb
	expect 200 "a v1 binding after the migration"
	[ "$(jq -r '.volume_mounts[0].device.mount_config.size' <<<"$body")" = 1G ] || fail "v1 binding: $body"
	stop_broker
fi
start_broker
P="{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_BIG\",\"organization_guid\":\"o\",\"space_guid\":\"s\"}"
DEL="?service_id=$SVC_SIO&plan_id=$PLAN_BIG&accepts_incomplete=true"
nvols() { gw_state | jq '.volumes | length'; }
wait_for() { # wait_for WHAT 'SHELL CONDITION' (generous deadline: 60 s)
	local what=$1
	for _ in $(seq 600); do eval "$2" && return 0; sleep 0.1; done
	fail "timed out waiting for $what"
}
# last_op ID [OP] -> $status, $body, $lstate
last_op() {
	req GET "/v2/service_instances/$1/last_operation?service_id=$SVC_SIO&plan_id=$PLAN_BIG${2:+&operation=$2}"
	lstate=$(jq -r .state <<<"$body" 2>/dev/null)
}

# ---- provision ----
gw_fault '{"slow": 2}'
req PUT "/v2/service_instances/a1?accepts_incomplete=true" "$P"
expect 202 "asynchronous provision"
OP=$(jq -r .operation <<<"$body")
[[ "$OP" == provision-* ]] || fail "no operation in 202: $body"
last_op a1 "$OP"
expect 200 "last_operation in flight"
[ "$lstate" = "in progress" ] || fail "provision in flight: $body"
jq -r .description <<<"$body" | grep -q "creating a 32G volume" || fail "no description: $body"
req PUT "/v2/service_instances/a1?accepts_incomplete=true" "$P"
expect 202 "identical repeat while in flight"
[ "$(jq -r .operation <<<"$body")" = "$OP" ] || fail "repeat: another operation: $body"
req PATCH "/v2/service_instances/a1?accepts_incomplete=true" "{\"service_id\":\"$SVC_SIO\",\"parameters\":{\"size\":\"40G\"}}"
expect 422 "update during the provision"
[ "$(jq -r .error <<<"$body")" = ConcurrencyError ] || fail "not ConcurrencyError: $body"
req DELETE "/v2/service_instances/a1$DEL"
expect 422 "delete during the provision"
req PUT "/v2/service_instances/a1/service_bindings/b1" "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_BIG\",\"bind_resource\":{\"app_guid\":\"app1\"}}"
expect 422 "bind during the provision"
wait_for "the provision to succeed" 'last_op a1 "$OP"; [ "$lstate" = succeeded ]'
jq -r .description <<<"$body" | grep -qE "created volume [0-9a-f]{16} \(32G\)" || fail "done: $body"
[ "$(nvols)" = 1 ] || fail "$(nvols) volumes after one provision"
req GET /v2/service_instances/a1
expect 200 "fetch after the provision"
req PUT "/v2/service_instances/a1?accepts_incomplete=true" "$P"
expect 200 "identical repeat when done"

# ---- update (grow) ----
req PATCH "/v2/service_instances/a1?accepts_incomplete=true" "{\"service_id\":\"$SVC_SIO\",\"parameters\":{\"size\":\"40G\"}}"
expect 202 "asynchronous update"
OP=$(jq -r .operation <<<"$body")
[[ "$OP" == update-* ]] || fail "update operation: $body"
last_op a1 "$OP"
[ "$lstate" = "in progress" ] || fail "update in flight: $body"
wait_for "the update" 'last_op a1 "$OP"; [ "$lstate" = succeeded ]'
jq -r .description <<<"$body" | grep -q "grew from 32G to 40G" || fail "update done: $body"
[ "$(gw_state | jq '[.volumes[].sizeInKb] == [41943040]')" = true ] || fail "size: $(gw_state | jq -c '.volumes')"
req GET /v2/service_instances/a1
[ "$(jq -r .metadata.attributes.size <<<"$body")" = 40G ] || fail "fetch after grow: $body"

# ---- deprovision refused by the gateway: failed, usable ----
VID=$(gw_state | jq -r '.volumes[].id')
curl -s -X POST -d '{"id":"d0f055a700000000","guid":"11111111-2222-3333-4444-555555555555","ip":"10.0.0.6","name":"cell-7"}' "$GW/emu/sdc" >/dev/null
curl -s -X POST -d "{\"volumeId\":\"$VID\",\"sdcId\":\"d0f055a700000000\"}" "$GW/emu/map" >/dev/null
req DELETE "/v2/service_instances/a1$DEL"
expect 202 "asynchronous deprovision (mapped)"
OP=$(jq -r .operation <<<"$body")
wait_for "the deprovision to fail" 'last_op a1 "$OP"; [ "$lstate" = failed ]'
grep -q "cell-7" <<<"$body" || fail "failed deprovision does not name the SDC: $body"
[ "$(jq -r .instance_usable <<<"$body")" = true ] || fail "instance_usable: $body"
[ "$(nvols)" = 1 ] || fail "mapped volume removed"
# The app's cell unmaps it (what attachd does at Unmount), through the gateway's API.
tok=$(curl -s -H "Authorization: Basic $(printf admin:gwpass | base64 -w0)" "$GW/api/login" | tr -d '"')
curl -s -u "admin:$tok" -H 'Content-Type: application/json' -X POST \
	-d '{"sdcId":"d0f055a700000000"}' "$GW/api/instances/Volume::$VID/action/removeMappedSdc" >/dev/null

# ---- deprovision ----
req DELETE "/v2/service_instances/a1$DEL"
expect 202 "asynchronous deprovision"
OP=$(jq -r .operation <<<"$body")
[[ "$OP" == deprovision-* ]] || fail "deprovision operation: $body"
req DELETE "/v2/service_instances/a1$DEL"
expect 202 "repeat while deleting"
wait_for "the deprovision" 'last_op a1 "$OP"; [ "$status" = 410 ]'
[ "$(nvols)" = 0 ] || fail "volume left after deprovision"
req DELETE "/v2/service_instances/a1$DEL"
expect 410 "delete what is gone"

# ---- AsyncRequired ----
PS="{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"organization_guid\":\"o\",\"space_guid\":\"s\"}"
req PUT /v2/service_instances/a2 "$PS"
expect 422 "async-only plan without accepts_incomplete"
[ "$(jq -r .error <<<"$body")" = AsyncRequired ] || fail "not AsyncRequired: $body"
grep -q "accepts_incomplete=true" <<<"$body" || fail "AsyncRequired does not say what to do: $body"
[ "$(nvols)" = 0 ] || fail "AsyncRequired created a volume"

# ---- a failed create ----
gw_fault '{"status": 503}'
req PUT "/v2/service_instances/a3?accepts_incomplete=true" "$P"
expect 202 "provision (gateway down)"
OP=$(jq -r .operation <<<"$body")
wait_for "the provision to fail" 'last_op a3 "$OP"; [ "$lstate" = failed ]'
grep -q "503\|Service Unavailable" <<<"$body" || fail "failed provision without the cause: $body"
gw_fault '{}'
req GET /v2/service_instances/a3
expect 404 "fetch a failed instance"
req DELETE "/v2/service_instances/a3$DEL"
expect 200 "the platform deletes the failed instance"
[ "$(nvols)" = 0 ] || fail "volume left by the failed create"

# ---- killed while the worker waits on the gateway: resumed ----
gw_fault '{"slow_after": 30}'
req PUT "/v2/service_instances/a4?accepts_incomplete=true" "$P"
expect 202 "provision before the kill"
OP=$(jq -r .operation <<<"$body")
wait_for "the volume on the gateway" '[ "$(nvols)" = 1 ]'
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
gw_fault '{}'
[ "$(db_query "SELECT state FROM instances WHERE id = 'a4'")" = creating ] ||
	fail "precondition: a4 should be 'creating'"
start_broker "$tmp/broker2.log"
wait_for "the provision resumed" 'last_op a4 "$OP"; [ "$lstate" = succeeded ]'
log_has "$tmp/broker2.log" '.message == "attachd-broker.recover.instance" and .data.instance == "a4" and .data.result == "resumed"' ||
	fail "resume not logged"
[ "$(nvols)" = 1 ] || fail "after the resume: $(nvols) volumes"
req GET /v2/service_instances/a4
expect 200 "the resumed instance"
echo "PASS ($checks checks)"
