#!/usr/bin/env bash
# The real bin/attachd: flag and config errors (exit 2, message naming the problem),
# start-up (spec file after listen, driver-server.started on stdout), Activate/List over
# curl with no Content-Type, a second instance on a busy port (exit 1), and a clean stop
# on SIGTERM/SIGINT (exit 0, spec file gone). Needs no root and no kernel features.
set -u
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
[ -x "$bin" ] || { echo "FAIL: no attachd binary at $bin"; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed"; exit 77; }

tmp=$(mktemp -d /tmp/t_api_cli.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# expect_usage NEEDLE ARGS...: exit 2 and NEEDLE on stderr, nothing started.
expect_usage() {
	local needle=$1 out rc
	shift
	out=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
	[ "$rc" = 2 ] || fail "attachd $*: exit $rc, want 2 (stderr: $out)"
	grep -qF -- "$needle" <<<"$out" || fail "attachd $*: stderr lacks '$needle': $out"
	echo "ok: attachd $* -> exit 2: $(head -1 <<<"$out")"
}

# --- usage and configuration errors ---
out=$("$bin" --help) || fail "--help exited $?"
grep -q -- '--listen HOST:PORT' <<<"$out" || fail "--help lacks --listen: $out"
expect_usage "unknown flag '--bogus'" --bogus
expect_usage "unexpected argument 'serve'" serve
expect_usage "--listen: needs a value" --listen
expect_usage "listen: 'nonsense' is not HOST:PORT" --listen nonsense
expect_usage "not a loopback address" --listen 10.1.2.3:7610
expect_usage "state_dir: 'rel' must be an absolute path" --state-dir rel
expect_usage "driver_name: 'a/b' must use only" --driver-name a/b
expect_usage "cannot read" --config "$tmp/missing.json"
echo '{"listen":"127.0.0.1:0","colour":"red"}' >"$tmp/unknown.json"
expect_usage "unknown key 'colour'" --config "$tmp/unknown.json"
echo '{"scaleio":{"gateway":"https://gw","bogus":1}}' >"$tmp/nested.json"
expect_usage "unknown key 'scaleio.bogus'" --config "$tmp/nested.json"
echo '{"listen":7610}' >"$tmp/type.json"
expect_usage "'listen' must be a string, not a number" --config "$tmp/type.json"
echo '{"listen":' >"$tmp/syntax.json"
expect_usage "invalid JSON" --config "$tmp/syntax.json"
echo '{"tls":{"ca_file":"/ca","cert_file":"/c","key_file":"/k"}}' >"$tmp/tls.json"
expect_usage "tls: ca_file, cert_file, key_file, client_cert_file and client_key_file are all required" --config "$tmp/tls.json"
[ -z "$(ls -A "$tmp" | grep -v '\.json$')" ] || fail "a refused start left files: $(ls "$tmp")"

# --- start, serve, stop ---
# start NAME SIGNAL-TO-STOP-WITH: runs attachd with its own driver dir; sets pid, port, spec.
start() {
	local name=$1 i
	spec="$tmp/$name/drivers/$name.json"
	"$bin" --listen 127.0.0.1:0 --driver-dir "$tmp/$name/drivers" --driver-name "$name" \
		--mount-root "$tmp/$name/mnt" --state-dir "$tmp/$name/state" \
		--admin-socket "$tmp/$name/admin.sock" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	pids+=("$pid")
	for i in $(seq 100); do
		[ -s "$spec" ] && break
		kill -0 "$pid" 2>/dev/null || fail "attachd exited early: $(cat "$tmp/$name.err")"
		sleep 0.1
	done
	[ -s "$spec" ] || fail "no spec file $spec after 10 s"
	port=$(sed -nE 's/.*"Addr":"http:\/\/127\.0\.0\.1:([0-9]+)".*/\1/p' "$spec")
	[ -n "$port" ] || fail "spec has no http://127.0.0.1:PORT Addr: $(cat "$spec")"
}

mkdir -p "$tmp/one"
start one
want="{\"Name\":\"one\",\"Addr\":\"http://127.0.0.1:$port\",\"TLSConfig\":null,\"UniqueVolumeIds\":true}"
[ "$(cat "$spec")" = "$want" ] || fail "spec is $(cat "$spec"), want $want"
[ "$(stat -c %a "$spec")" = 644 ] || fail "spec mode $(stat -c %a "$spec"), want 644"
[ -z "$(ls "$tmp/one/drivers" | grep -v '^one\.json$')" ] || fail "stray files: $(ls "$tmp/one/drivers")"
grep -q '"message":"attachd.driver-server.started"' "$tmp/one.out" ||
	fail "no driver-server.started line: $(cat "$tmp/one.out")"
grep -q "\"address\":\"127.0.0.1:$port\"" "$tmp/one.out" || fail "started line lacks the address"
echo "ok: listening on $port, spec file written"

# post PATH [BODY]: as Volman sends it: POST, Content-Length, no Content-Type, no Accept.
post() {
	curl -sS --max-time 10 -D "$tmp/headers" -X POST -H 'Content-Type:' -H 'Accept:' \
		-H 'User-Agent: Go-http-client/1.1' --data-binary "${2:-}" \
		"http://127.0.0.1:$port$1"
}
body=$(post /Plugin.Activate) || fail "Activate: curl failed"
[ "$body" = '{"Implements":["VolumeDriver"],"Err":""}' ] || fail "Activate answered $body"
grep -qi '^content-type: application/json' "$tmp/headers" || fail "no JSON Content-Type: $(cat "$tmp/headers")"
grep -q '^HTTP/1.1 200' "$tmp/headers" || fail "status: $(head -1 "$tmp/headers")"
body=$(post /VolumeDriver.List) || fail "List: curl failed"
[ "$body" = '{"Volumes":[],"Err":""}' ] || fail "List answered $body"
body=$(post /VolumeDriver.Create '{"Name":"v_c","Opts":{"backend":"file","bogus":1}}')
grep -q "unknown option 'bogus'" <<<"$body" || fail "Create with a bad option answered $body"
body=$(post /VolumeDriver.Unmount '{"Name":"nothere_c"}')
grep -q "Volume 'nothere_c' not found" <<<"$body" || fail "Unmount of an unknown name answered $body"
body=$(post /VolumeDriver.Nope)
grep -q "unknown call '/VolumeDriver.Nope'" <<<"$body" || fail "unknown route answered $body"
echo "ok: Activate, List, Create, Unmount, unknown call over curl"

# A second agent on the same port: a runtime failure (exit 1) that names the problem
# and leaves no spec file behind.
"$bin" --listen "127.0.0.1:$port" --driver-dir "$tmp/dup" --driver-name dup \
	--mount-root "$tmp/dup/mnt" >"$tmp/dup.out" 2>"$tmp/dup.err"
rc=$?
[ "$rc" = 1 ] || fail "second instance on port $port exited $rc, want 1"
grep -q "Address already in use" "$tmp/dup.err" || fail "second instance stderr: $(cat "$tmp/dup.err")"
[ ! -e "$tmp/dup/dup.json" ] || fail "second instance left a spec file"
echo "ok: busy port -> exit 1: $(cat "$tmp/dup.err")"

kill -TERM "$pid"
wait "$pid"; rc=$?
[ "$rc" = 0 ] || fail "exit $rc after SIGTERM, want 0 (stderr: $(cat "$tmp/one.err"))"
[ ! -e "$spec" ] || fail "spec file still there after SIGTERM"
grep -q '"message":"attachd.stopped"' "$tmp/one.out" || fail "no attachd.stopped line"
curl -s --max-time 2 -X POST "http://127.0.0.1:$port/Plugin.Activate" >/dev/null &&
	fail "still answering after stop"
echo "ok: SIGTERM -> exit 0, spec file removed"

# Every stdout line is one JSON object in the CF shape.
if command -v python3 >/dev/null; then
	python3 - "$tmp/one.out" <<'EOF' || fail "log lines are not all CF-shaped JSON"
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    o = json.loads(line)
    assert set(o) == {"timestamp", "source", "message", "log_level", "data"}, (n, o)
    assert o["source"] == "attachd" and o["message"].startswith("attachd."), (n, o)
    assert o["log_level"] in ("debug", "info", "error", "fatal"), (n, o)
    assert isinstance(o["data"], dict), (n, o)
EOF
	echo "ok: $(wc -l <"$tmp/one.out") log lines, all JSON in the CF shape"
fi

mkdir -p "$tmp/two"
start two
kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" = 0 ] || fail "exit $rc after SIGINT, want 0"
[ ! -e "$spec" ] || fail "spec file still there after SIGINT"
echo "ok: SIGINT -> exit 0, spec file removed"
echo "PASS"
