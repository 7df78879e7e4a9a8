#!/usr/bin/env bash
# attachd-broker's iscsi pool and file plans, its `pool` subcommand and --check-config:
# each instance gets its own pre-created LUN (CHAP secret from the broker's config, never
# from the user; "size" refused for pool plans); the pool running dry answers 507 naming the
# remedy; deprovision marks the LUN "released" and it is not handed out again until
# `attachd-broker pool clean` (refused for a LUN in use, unknown key named); the state
# survives a broker restart. The bind's volume_id and mount_config of every kind of plan are
# accepted by a real attachd's VolumeDriver.Create (they are exactly its Create options).
source "$(dirname "$0")/lib/broker.sh"
ATTACHD_BIN=${ATTACHD_BIN:-$PWD/bin/attachd}
start_gw
write_config
start_broker
P="{\"service_id\":\"$SVC_ISCSI\",\"plan_id\":\"$PLAN_LUN\",\"organization_guid\":\"o\",\"space_guid\":\"s\"}"
DEL="?service_id=$SVC_ISCSI&plan_id=$PLAN_LUN"
BINDP="{\"service_id\":\"$SVC_ISCSI\",\"plan_id\":\"$PLAN_LUN\",\"bind_resource\":{\"app_guid\":\"app1\"}}"
pool() { "$BROKER_BIN" pool "$@" --config "$CONFIG"; }
state_of() { pool list | awk -v k="$1" '$1 == k {print $3}'; }
K1=iscsi:iqn.2003-01.org.linux-iscsi.t:pool:1 K2=iscsi:iqn.2003-01.org.linux-iscsi.t:pool:2

out=$(pool list) || fail "pool list: exit $?"
[ "$(state_of $K1)" = free ] && [ "$(state_of $K2)" = free ] || fail "pool list: $out"
ok

req PUT /v2/service_instances/p1 "${P%\}},\"parameters\":{\"size\":\"10G\"}}"
expect 400 "size for a pool plan"
grep -q "hands out pre-created LUNs" <<<"$body" || fail "$body"
[ "$(state_of $K1)" = free ] || fail "refused provision claimed a LUN"
req PUT /v2/service_instances/p1 "$P"
expect 201 "provision pool 1"
req PUT /v2/service_instances/p1 "$P"
expect 200 "pool repeat"
req PUT /v2/service_instances/p2 "${P%\}},\"parameters\":{\"fs\":\"xfs\"}}"
expect 201 "provision pool 2"
req PUT /v2/service_instances/p3 "$P"
expect 507 "pool exhausted"
grep -q "no free LUN left" <<<"$body" && grep -q "attachd-broker pool clean" <<<"$body" || fail "$body"
req GET /v2/service_instances/p3
expect 404 "instance of a refused provision"
out=$(pool list)
grep -qE "^$K1 +lun +in_use +p1\$" <<<"$out" && grep -qE "^$K2 +lun +in_use +p2\$" <<<"$out" || fail "pool list: $out"
ok

req PUT /v2/service_instances/p1/service_bindings/pb1 "$BINDP"
expect 201 "bind pool LUN"
MC1=$(jq -c '.volume_mounts[0].device.mount_config' <<<"$body")
jq -e '. == {"backend":"iscsi","portal":"10.0.0.5:3260","iqn":"iqn.2003-01.org.linux-iscsi.t:pool",
	"lun":1,"chap_user":"u1","chap_secret":"chapchapchap1","fs":"ext4"}' <<<"$MC1" >/dev/null ||
	fail "iscsi mount_config: $MC1"
[ "$(jq -r '.volume_mounts[0].device.volume_id' <<<"$body")" = p1 ] || fail "volume_id: $body"
grep -q chapchapchap1 "$tmp/broker.log" && fail "CHAP secret in the broker log"
ok

# A file plan: size default and chosen.
F="{\"service_id\":\"$SVC_FILE\",\"plan_id\":\"$PLAN_FILE\",\"organization_guid\":\"o\",\"space_guid\":\"s\""
req PUT /v2/service_instances/f1 "$F,\"parameters\":{\"size\":\"512M\"}}"
expect 201 "file provision"
req PUT /v2/service_instances/f1/service_bindings/fb1 "{\"service_id\":\"$SVC_FILE\",\"plan_id\":\"$PLAN_FILE\",\"bind_resource\":{\"app_guid\":\"a\"}}"
expect 201 "file bind"
MCF=$(jq -c '.volume_mounts[0].device.mount_config' <<<"$body")
[ "$MCF" = '{"size":"512M","backend":"file","fs":"ext4"}' ] || fail "file mount_config: $MCF"
req PATCH /v2/service_instances/f1 "{\"service_id\":\"$SVC_FILE\",\"parameters\":{\"size\":\"1G\"}}"
expect 400 "resize of a file volume"

# A scaleio binding too; then a real attachd accepts every mount_config in Create.
S="{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"organization_guid\":\"o\",\"space_guid\":\"s\"}"
SI="instance with spaces and/slash"
req PUT "/v2/service_instances/s1" "$S"
expect 201 "scaleio provision"
req PUT /v2/service_instances/s1/service_bindings/sb1 "{\"service_id\":\"$SVC_SIO\",\"plan_id\":\"$PLAN_SMALL\",\"bind_resource\":{\"app_guid\":\"a\"},\"parameters\":{\"readonly\":true}}"
expect 201 "scaleio bind"
MCS=$(jq -c '.volume_mounts[0].device.mount_config' <<<"$body")
[ -x "$ATTACHD_BIN" ] || fail "no attachd binary $ATTACHD_BIN"
{
	a=$tmp/attachd
	mkdir -p "$a"
	"$ATTACHD_BIN" --listen 127.0.0.1:0 --driver-dir "$a/drivers" --driver-name t \
		--mount-root "$a/mnt" --state-dir "$a/state" --admin-socket "$a/admin.sock" \
		>"$a/out" 2>"$a/err" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$a/drivers/t.json" ] && break; sleep 0.1; done
	port=$(sed -nE 's/.*"Addr":"http:\/\/127\.0\.0\.1:([0-9]+)".*/\1/p' "$a/drivers/t.json")
	[ -n "$port" ] || fail "attachd did not start: $(cat "$a/err")"
	for pair in "p1:$MC1" "f1:$MCF" "s1:$MCS"; do
		name=${pair%%:*} mc=${pair#*:}
		r=$(curl -s -X POST --data-binary "{\"Name\":\"$name\",\"Opts\":$mc}" "http://127.0.0.1:$port/VolumeDriver.Create")
		[ "$r" = '{"Err":""}' ] || fail "attachd Create of $name with $mc: $r"
		ok
	done
}

# Deprovision: released, not handed out again until cleaned.
req DELETE "/v2/service_instances/p1$DEL"
expect 200 "deprovision pool 1"
[ "$(state_of $K1)" = released ] || fail "after deprovision: $(pool list)"
req PUT /v2/service_instances/p4 "$P"
expect 507 "a released LUN is not handed out"
out=$(pool clean $K2 2>&1); rc=$?
[ $rc = 1 ] && grep -q "in use by instance p2" <<<"$out" || fail "clean of a LUN in use: exit $rc: $out"
out=$(pool clean iscsi:nope:9 2>&1); rc=$?
[ $rc = 1 ] && grep -q "no pool item 'iscsi:nope:9'" <<<"$out" || fail "clean of an unknown item: $rc: $out"
out=$(pool clean $K1) || fail "pool clean: exit $?"
[ "$(state_of $K1)" = free ] || fail "after clean: $(pool list)"
out=$(pool clean $K1 2>&1); rc=$?
[ $rc = 0 ] && grep -q "already free" <<<"$out" || fail "second clean: $rc: $out"
req PUT /v2/service_instances/p4 "$P"
expect 201 "a cleaned LUN is handed out again"
ok

# Restart: the state is in the database.
stop_broker
start_broker "$tmp/broker2.log"
req GET /v2/service_instances/p4
expect 200 "instance after restart"
req GET /v2/service_instances/p1/service_bindings/pb1
expect 404 "binding of a deprovisioned instance"
[ "$(state_of $K1)" = in_use ] && [ "$(state_of $K2)" = in_use ] || fail "after restart: $(pool list)"

# Usage errors.
out=$("$BROKER_BIN" pool frob --config "$CONFIG" 2>&1); [ $? = 2 ] || fail "pool frob: $out"
out=$("$BROKER_BIN" pool list 2>&1); [ $? = 2 ] && grep -q -- "--config FILE is required" <<<"$out" || fail "$out"
ok
echo "PASS ($checks checks)"
