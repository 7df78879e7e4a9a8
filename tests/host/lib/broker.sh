# Helpers for the attachd-broker host tests (sourced by tests/host/t_broker*.sh): a temp
# dir, the PowerFlex gateway emulator, a broker config, starting/stopping the broker, and
# OSB requests with the headers Cloud Controller sends.
# shellcheck shell=bash
set -u
BROKER_BIN=${BROKER_BIN:-$PWD/bin/attachd-broker}
[ -x "$BROKER_BIN" ] || { echo "FAIL: no binary $BROKER_BIN"; exit 1; }
command -v python3 >/dev/null && command -v curl >/dev/null && command -v jq >/dev/null ||
	{ echo "python3, curl and jq are needed"; exit 77; }

tmp=$(mktemp -d /tmp/t_broker.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${PGBIN:-}" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/pg/data" -m immediate \
		stop >/dev/null 2>&1
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
checks=0
ok() { checks=$((checks + 1)); }

# The gateway emulator on a free port: $GW (URL), $GW_STATE.
start_gw() {
	GW_STATE=$tmp/gw
	mkdir -p "$GW_STATE"
	echo gwpass >"$tmp/gw.pw"
	python3 tests/emulator/pfgw.py --state-dir "$GW_STATE" --password-file "$tmp/gw.pw" \
		--port-file "$tmp/gw.port" --listen 127.0.0.1:0 2>"$tmp/gw.err" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$tmp/gw.port" ] && break; sleep 0.1; done
	[ -s "$tmp/gw.port" ] || fail "gateway emulator did not start: $(cat "$tmp/gw.err")"
	GW=http://127.0.0.1:$(cat "$tmp/gw.port")
}
gw_state() { curl -s "$GW/emu/state"; }
gw_fault() { curl -s -X POST -d "$1" "$GW/emu/fault" >/dev/null; }

# BROKER_DB=pg: the broker's state in a PostgreSQL started here (initdb + pg_ctl in $tmp,
# unix socket only, scram password). Sets $DB_URL and $DB_EXTRA (the config's keys).
start_pg() {
	[ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 || { echo "PostgreSQL tests need root and the postgres user"; exit 77; }
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	[ -x "$PGBIN/initdb" ] || { echo "postgresql is not installed"; exit 77; }
	chmod 711 "$tmp"
	mkdir -p "$tmp/pg"
	echo "pg-pass-1" >"$tmp/pg/pw"
	chown -R postgres "$tmp/pg"
	runuser -u postgres -- "$PGBIN/initdb" -D "$tmp/pg/data" -U postgres --auth=scram-sha-256 \
		--pwfile="$tmp/pg/pw" --no-sync >"$tmp/pg.init.log" 2>&1 || fail "initdb: $(tail -3 "$tmp/pg.init.log")"
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/log" -w \
		-o "-k $tmp/pg -c listen_addresses='' -c fsync=off" start >/dev/null || fail "pg_ctl start: $(tail -3 "$tmp/pg/log")"
	PGPASSWORD=pg-pass-1 "$PGBIN/createdb" -h "$tmp/pg" -U postgres broker || fail "createdb"
	DB_URL="postgresql:///broker?host=$tmp/pg&user=postgres"
	DB_EXTRA="\"database_password_file\": \"$tmp/pg/pw\","
}
# db_query SQL: one value per line, from whichever database the broker uses.
db_query() {
	if [ -n "${PGBIN:-}" ]; then
		PGPASSWORD=pg-pass-1 "$PGBIN/psql" -h "$tmp/pg" -U postgres -d broker -At -c "$1"
	else
		sqlite3 "$tmp/broker.db" "$1"
	fi
}

SVC_SIO=svc-scaleio PLAN_SMALL=plan-sio-small PLAN_BIG=plan-sio-big PLAN_NAMED=plan-sio-named
SVC_ISCSI=svc-iscsi PLAN_LUN=plan-iscsi-lun SVC_FILE=svc-file PLAN_FILE=plan-file

# A config with every kind of plan: $CONFIG.
write_config() {
	echo "s3cr3t-broker" >"$tmp/broker.pw"
	echo "chapchapchap1" >"$tmp/chap.pw"
	echo gwpass >"$tmp/gw.pw"
	CONFIG=$tmp/broker.json
	DB_URL=sqlite:$tmp/broker.db DB_EXTRA=""
	[ "${BROKER_DB:-}" = pg ] && start_pg
	cat >"$CONFIG" <<JSON
{"username": "cc", "password_file": "$tmp/broker.pw", "database": "$DB_URL", $DB_EXTRA
 "scaleio": {"gateway": "$GW", "username": "admin", "password_file": "$tmp/gw.pw",
             "system_id": "14DBBF5617523654", "timeout_ms": 20000},
 "services": [
  {"id": "$SVC_SIO", "name": "scaleio", "description": "PowerFlex volumes", "plans": [
    {"id": "$PLAN_SMALL", "name": "small", "backend": "scaleio",
     "storage_pool_id": "e65f9c2700000000", "size": "8G", "max_size": "64G"},
    {"id": "$PLAN_BIG", "name": "big", "backend": "scaleio",
     "storage_pool_id": "e65f9c2700000000", "size": "32G", "fs": "xfs"},
    {"id": "$PLAN_NAMED", "name": "thick", "backend": "scaleio", "protection_domain": "pd1",
     "storage_pool": "sp2", "provisioning": "thick", "size": "8G"}]},
  {"id": "$SVC_ISCSI", "name": "iscsi-pool", "plans": [
    {"id": "$PLAN_LUN", "name": "lun", "backend": "iscsi",
     "options": {"portal": "10.0.0.5:3260", "iqn": "iqn.2003-01.org.linux-iscsi.t:pool",
                 "chap_user": "u1", "chap_secret_file": "$tmp/chap.pw"},
     "items": [{"lun": 1}, {"lun": 2}]}]},
  {"id": "$SVC_FILE", "name": "file", "plans": [
    {"id": "$PLAN_FILE", "name": "dev", "backend": "file", "size": "1G"}]}]}
JSON
}

# Start the broker on a free port: $URL, $BROKER_PID, log in $tmp/broker.log.
start_broker() {
	local log=${1:-$tmp/broker.log}
	"$BROKER_BIN" --listen 127.0.0.1:0 --config "$CONFIG" >>"$log" 2>&1 &
	BROKER_PID=$!
	pids+=($BROKER_PID)
	local port=""
	for _ in $(seq 100); do
		port=$(grep '"attachd-broker.started"' "$log" 2>/dev/null | tail -1 | jq -r .data.port)
		[ -n "$port" ] && [ "$port" != null ] && break
		kill -0 $BROKER_PID 2>/dev/null || fail "broker exited: $(tail -5 "$log")"
		sleep 0.1
	done
	[ -n "$port" ] && [ "$port" != null ] || fail "broker did not start: $(tail -5 "$log")"
	URL=http://127.0.0.1:$port
	# Restarted brokers append: remember where this one's lines start.
}
stop_broker() { kill "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null; }

# What Cloud Controller sends: basic auth, version, originating and request identity.
ORIG="cloudfoundry $(printf '{"user_id":"683ea748-3092-4ff4-b656-39cacc4d5360"}' | base64 -w0)"
# req METHOD PATH [BODY] -> sets $status and $body. CURL_EXTRA / AUTH / VERSION override.
req() {
	local method=$1 path=$2 data=${3:-} args=()
	[ -n "$data" ] && args=(-H "Content-Type: application/json" --data-binary "$data")
	local hv=(-H "X-Broker-API-Version: ${VERSION-2.17}")
	[ "${VERSION-x}" = "" ] && hv=()
	local out
	local resp=$tmp/resp.$BASHPID
	out=$(curl -s -o "$resp" -w '%{http_code}' -X "$method" -u "${AUTH:-cc:s3cr3t-broker}" \
		"${hv[@]}" -H "X-Broker-API-Originating-Identity: $ORIG" \
		-H "X-Broker-API-Request-Identity: req-$RANDOM" "${args[@]}" "$URL$path")
	status=$out
	body=$(cat "$resp" 2>/dev/null)
	rm -f "$resp"
}
# log_has FILE FILTER: some line of the JSON log FILE makes FILTER true.
log_has() { jq -s -e "[.[] | $2] | any" "$1" >/dev/null; }
expect() { # expect STATUS WHAT
	[ "$status" = "$1" ] || fail "$2: HTTP $status (want $1): $body"
	ok
}
