#!/usr/bin/env bash
# attachd-broker's command line and config: --check-config prints "config F: valid" (exit 0)
# or every problem on its own line naming the key (exit 2); a missing file or broken JSON is
# named; a start without --config, with an unknown flag or a bad --listen exits 2 (or 1 when
# the listen address cannot be had) and creates no database; SIGTERM stops it (exit 0);
# DESIGN.md §2's example config is valid as written.
source "$(dirname "$0")/lib/broker.sh"
GW=http://127.0.0.1:9
write_config

out=$("$BROKER_BIN" --check-config "$CONFIG" 2>"$tmp/err"); rc=$?
[ $rc = 0 ] && [ "$out" = "config $CONFIG: valid" ] && [ ! -s "$tmp/err" ] ||
	fail "valid config: exit $rc, out '$out', err $(cat "$tmp/err")"
[ -e "$tmp/broker.db" ] && fail "--check-config created the database"
ok

# DESIGN.md §2's example config, key for key (paths made real): valid.
cat >"$tmp/design.json" <<JSON
{"username": "broker", "password_file": "$tmp/broker.pw",
 "database": "sqlite:/var/vcap/store/attachd-broker/broker.db",
 "database_password_file": "$tmp/broker.pw",
 "driver": "attachd",
 "scaleio": {"gateway": "https://gw.example.com", "username": "admin", "password_file": "$tmp/gw.pw",
             "ca_file": "$tmp/gw.pw", "insecure_skip_verify": false},
 "services": [{"id": "svc", "name": "block", "description": "d", "plans": [
   {"id": "p1", "name": "scaleio-thin", "description": "d", "backend": "scaleio",
    "system_id": "14DBBF5617523654", "storage_pool_id": "e65f9c2700000000", "thin": true,
    "size": "8G", "fs": "ext4", "takeover": false},
   {"id": "p2", "name": "lun-pool", "description": "d", "backend": "iscsi",
    "pool": [{"portal": "10.0.0.5:3260", "iqn": "iqn.2003-01.org.x:t", "lun": 0}], "fs": "ext4"},
   {"id": "p3", "name": "local", "description": "d", "backend": "file", "size": "1G"}]}]}
JSON
"$BROKER_BIN" --check-config "$tmp/design.json" >/dev/null 2>"$tmp/err" || fail "DESIGN.md's example: $(cat "$tmp/err")"
ok

# PostgreSQL URLs: accepted; a password in the URL refused (it belongs in a file).
jq '.database = "postgresql://broker@db.example.com:5432/broker"' "$CONFIG" >"$tmp/pg.json"
"$BROKER_BIN" --check-config "$tmp/pg.json" >/dev/null 2>"$tmp/err" || fail "postgresql URL: $(cat "$tmp/err")"
jq '.database = "postgresql://broker:hunter2@db/broker"' "$CONFIG" >"$tmp/pgpw.json"
"$BROKER_BIN" --check-config "$tmp/pgpw.json" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "put the password in database_password_file, not in the URL" "$tmp/err" ||
	fail "password in the URL: $rc $(cat "$tmp/err")"
grep -q hunter2 "$tmp/err" && fail "the refusal repeats the password"
ok

jq '.services[0].plans[0].size = "8GB" | .services[0].plans[1].backend = "tape"
	| .services[1].plans[0].items[1].color = 1 | .database = "mysql://x" | .bogus = 1
	| .scaleio.system_id = "xyz"' "$CONFIG" >"$tmp/bad.json"
"$BROKER_BIN" --check-config "$tmp/bad.json" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc = 2 ] || fail "invalid config: exit $rc"
[ -s "$tmp/out" ] && fail "invalid config printed on stdout: $(cat "$tmp/out")"
for want in "unknown key 'bogus'" "services[0].plans[0].size: '8GB' has an ambiguous unit" \
	"services[0].plans[1].backend: 'tape' is not one of scaleio, iscsi, nvme, file" \
	"services[1].plans[0].items[1]: 'color' is not a iscsi option of attachd" \
	"database: 'mysql://x' is not supported (use sqlite:/absolute/path or postgresql://user@host/dbname)" \
	"scaleio.system_id: 'xyz' is not 16 hex digits" "invalid (6 problems)"; do
	[ "$(grep -cF -- "$want" "$tmp/err")" = 1 ] || fail "stderr lacks one line with '$want': $(cat "$tmp/err")"
done
[ "$(wc -l <"$tmp/err")" = 7 ] || fail "want 6 problems and a summary: $(cat "$tmp/err")"
ok

echo '{"username":' >"$tmp/broken.json"
"$BROKER_BIN" --check-config "$tmp/broken.json" 2>"$tmp/err" >/dev/null; rc=$?
[ $rc = 2 ] && grep -q "invalid JSON at line" "$tmp/err" || fail "broken JSON: $rc $(cat "$tmp/err")"
"$BROKER_BIN" --check-config "$tmp/none.json" 2>"$tmp/err" >/dev/null; rc=$?
[ $rc = 2 ] && grep -q "config $tmp/none.json: cannot read" "$tmp/err" || fail "missing: $rc $(cat "$tmp/err")"
rm "$tmp/broker.pw"
"$BROKER_BIN" --check-config "$CONFIG" 2>"$tmp/err" >/dev/null; rc=$?
[ $rc = 2 ] && grep -q "password_file: cannot read $tmp/broker.pw" "$tmp/err" || fail "no password file: $rc $(cat "$tmp/err")"
echo "s3cr3t-broker" >"$tmp/broker.pw"
ok

"$BROKER_BIN" 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q -- "--config FILE is required" "$tmp/err" || fail "no --config: $rc"
"$BROKER_BIN" --bogus 2>/dev/null; [ $? = 2 ] || fail "unknown flag"
"$BROKER_BIN" --config "$CONFIG" --listen nonsense:port >"$tmp/o" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "listen 'nonsense:port' has an invalid port" "$tmp/o" || fail "bad --listen: $rc $(cat "$tmp/o")"
[ -e "$tmp/broker.db" ] && fail "a refused start created the database"
# An address nobody can have: a runtime failure (exit 1), named.
"$BROKER_BIN" --config "$CONFIG" --listen 192.0.2.1:7620 >"$tmp/o" 2>&1; rc=$?
[ $rc = 1 ] && grep -q '"attachd-broker.listen.failed"' "$tmp/o" || fail "unavailable address: $rc $(cat "$tmp/o")"
ok

start_broker
kill -TERM "$BROKER_PID"
wait "$BROKER_PID"; rc=$?
[ $rc = 0 ] || fail "exit $rc after SIGTERM"
grep -q '"attachd-broker.stopping"' "$tmp/broker.log" || fail "no stopping line"
ok
echo "PASS ($checks checks)"
