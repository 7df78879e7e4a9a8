#!/usr/bin/env bash
# attachd-broker leaves no orphan volume: killed (SIGKILL) after the gateway created the
# volume but before the broker recorded it, the broker that runs next removes that volume
# and the intent once the intent is older than recover_after_s (at its start or by its
# periodic janitor; the instance is then unknown: 404, a delete answers 410, and
# provisioning the id again works and makes one volume); killed after the gateway removed a
# volume during deprovision, the deprovision is finished the same way. A broker starting
# while another is half way through a provision leaves that provision alone (it completes:
# 201, one volume). Two broker processes sharing one database, asked at the same time to
# provision the same instance id, make exactly one volume (one answers 201, the other 422
# ConcurrencyError or 200). BROKER_DB=pg runs it all on PostgreSQL (t_broker_pg.sh).
source "$(dirname "$0")/lib/broker.sh"
start_gw
write_config
FAST=$tmp/fast.json # the same, with intents of dead brokers undone after 1 s
jq '.recover_after_s = 1' "$CONFIG" >"$FAST"
SLOW=$CONFIG
start_broker
P="{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"organization_guid\":\"o\",\"space_guid\":\"s\"}"
DEL="?service_id=$SVC_SIO&plan_id=$PLAN_SMALL"
nvols() { gw_state | jq '.volumes | length'; }
wait_for() { # wait_for WHAT 'SHELL CONDITION' (generous deadline: 30 s)
	local what=$1
	for _ in $(seq 300); do eval "$2" && return 0; sleep 0.1; done
	fail "timed out waiting for $what"
}

# ---- killed between the gateway's create and the commit ----
gw_fault '{"slow_after": 30}'
req PUT /v2/service_instances/c1 "$P" &
reqpid=$!
wait_for "the volume on the gateway" '[ "$(nvols)" = 1 ]'
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
wait $reqpid 2>/dev/null
gw_fault '{}'
[ "$(nvols)" = 1 ] || fail "precondition: the gateway should hold the half-made volume"
db_query "SELECT state FROM instances WHERE id = 'c1'" | grep -qx creating ||
	fail "precondition: the intent row should be 'creating'"
CONFIG=$FAST start_broker "$tmp/broker2.log"
wait_for "the orphan removed" '[ "$(nvols)" = 0 ]'
wait_for "the recovery logged" "log_has '$tmp/broker2.log' '.message == \"attachd-broker.recover.instance\" and .data.instance == \"c1\" and .data.result == \"removed\"'"
req GET /v2/service_instances/c1
expect 404 "instance of the crashed provision"
req DELETE "/v2/service_instances/c1$DEL"
expect 410 "orphan mitigation delete"
stop_broker
CONFIG=$SLOW start_broker "$tmp/broker2b.log"
req PUT /v2/service_instances/c1 "$P"
expect 201 "provision again"
[ "$(nvols)" = 1 ] || fail "provision again: $(nvols) volumes"

# ---- killed after the gateway removed the volume, before the commit ----
gw_fault '{"slow_after": 30}'
req DELETE "/v2/service_instances/c1$DEL" &
reqpid=$!
wait_for "the volume removed" '[ "$(nvols)" = 0 ]'
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
wait $reqpid 2>/dev/null
gw_fault '{}'
db_query "SELECT state FROM instances WHERE id = 'c1'" | grep -qx deleting ||
	fail "precondition: the row should be 'deleting': $(db_query 'SELECT * FROM instances') $(tail -4 "$tmp/broker2.log")"
CONFIG=$FAST start_broker "$tmp/broker3.log"
wait_for "the deprovision finished" 'req GET /v2/service_instances/c1; [ "$status" = 404 ]'
req DELETE "/v2/service_instances/c1$DEL"
expect 410 "delete again"
stop_broker
CONFIG=$SLOW start_broker "$tmp/broker3b.log"

# ---- a broker starting while another is half way ----
URL_A=$URL
gw_fault '{"slow_after": 3}'
(URL=$URL_A req PUT /v2/service_instances/m1 "$P" && echo "$status" >"$tmp/m1") &
reqpid=$!
wait_for "m1's volume on the gateway" '[ "$(nvols)" = 1 ]'
CONFIG=$SLOW start_broker "$tmp/broker3c.log"
wait $reqpid
gw_fault '{}'
[ "$(cat "$tmp/m1")" = 201 ] || fail "provision during another broker's start: $(cat "$tmp/m1")"
[ "$(nvols)" = 1 ] || fail "after m1: $(nvols) volumes"
log_has "$tmp/broker3c.log" '.message == "attachd-broker.recover.instance"' &&
	fail "the starting broker touched an operation in flight"
ok
stop_broker
URL=$URL_A
req DELETE "/v2/service_instances/m1$DEL"
expect 200 "deprovision m1"

# ---- two brokers, one database, one instance id ----
URL1=$URL_A
start_broker "$tmp/broker4.log"
URL2=$URL
gw_fault '{"slow_after": 1}'
for n in 1 2 3; do
	id=race$n
	URL=$URL1 req PUT /v2/service_instances/$id "$P" && echo "$status $body" >"$tmp/r1" &
	a=$!
	URL=$URL2 req PUT /v2/service_instances/$id "$P" && echo "$status $body" >"$tmp/r2" &
	b=$!
	wait $a $b
	codes=$(cat "$tmp/r1" "$tmp/r2" | cut -d' ' -f1 | sort | tr '\n' ' ')
	case "$codes" in
	"201 422 " | "200 201 ") ;;
	*) fail "$id: answers $(cat "$tmp/r1" "$tmp/r2")" ;;
	esac
	grep -h '^422' "$tmp/r1" "$tmp/r2" | grep -q ConcurrencyError || [ "$codes" = "200 201 " ] ||
		fail "$id: 422 without ConcurrencyError"
	ok
done
gw_fault '{}'
[ "$(nvols)" = 3 ] || fail "three ids provisioned by two brokers made $(nvols) volumes"
[ "$(db_query "SELECT count(*) FROM instances WHERE id LIKE 'race%' AND state = 'ready'")" = 3 ] ||
	fail "instances: $(db_query 'SELECT id, state FROM instances')"
ok
echo "PASS ($checks checks)"
