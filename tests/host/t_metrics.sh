#!/usr/bin/env bash
# The Prometheus endpoint of the real bin/attachd (no kernel features needed): off by
# default; --metrics-listen 127.0.0.1:PORT serves GET /metrics with the text format's
# Content-Type, and `promtool check metrics` (Debian package prometheus) accepts it;
# `attachctl metrics` answers as before; a non-loopback --metrics-listen (or metrics_listen
# in the config) without tls exits 2 naming the fix and starts nothing; with the agent's
# tls it is served over the same mutual TLS (no client certificate: refused); a busy
# metrics port is logged and attachd still serves Volman. The values moving as volumes
# attach: tests/host/test_metrics.c (fake pipeline, same server code).
set -u
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
ctl=${ATTACHCTL_BIN:-$PWD/bin/attachctl}
[ -x "$bin" ] && [ -x "$ctl" ] || { echo "FAIL: no binaries ($bin, $ctl)"; exit 1; }
for t in curl jq openssl python3 promtool; do
	command -v $t >/dev/null || { echo "$t is not installed (tools/setup-deps.sh installs it)"; exit 77; }
done

tmp=$(mktemp -d /tmp/t_metrics.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start NAME ARGS...: attachd with its own directories; sets pid, out (its stdout).
start() {
	local name=$1
	shift
	out=$tmp/$name.out
	"$bin" --listen 127.0.0.1:0 --driver-dir "$tmp/$name/drivers" --mount-root "$tmp/$name/mnt" \
		--state-dir "$tmp/$name/state" --admin-socket "$tmp/$name/admin.sock" "$@" >"$out" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 200); do
		[ -s "$tmp/$name/drivers/attachd.json" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "attachd $name exited: $(tail -5 "$out")"
		sleep 0.1
	done
	fail "attachd $name did not start: $(tail -5 "$out")"
}
stop() {
	kill -TERM "$pid"
	wait "$pid"
	local rc=$?
	[ $rc = 0 ] || fail "attachd exited $rc on SIGTERM"
}
# The address of the metrics-server.started line.
metrics_addr() { grep '"message":"attachd.metrics-server.started"' "$out" | jq -r .data.address; }

# ---- refused configurations: exit 2, the fix named, nothing started ----
expect_usage() { # needle args...
	local needle=$1 o rc
	shift
	o=$("$bin" --driver-dir "$tmp/refused/drivers" --state-dir "$tmp/refused/state" \
		--mount-root "$tmp/refused/mnt" --admin-socket "$tmp/refused/admin.sock" "$@" 2>&1 >/dev/null); rc=$?
	[ $rc = 2 ] || fail "attachd $*: exit $rc, want 2 ($o)"
	grep -qF -- "$needle" <<<"$o" || fail "attachd $*: stderr lacks '$needle': $o"
	[ ! -e "$tmp/refused" ] || fail "attachd $*: a refused start created $(ls -R "$tmp/refused")"
	echo "ok: attachd $* -> exit 2: $(head -1 <<<"$o")"
}
expect_usage "metrics_listen: 10.0.0.5:9610 is not a loopback address: off loopback /metrics is served only with the agent's mutual TLS (the tls section; Prometheus then needs a client certificate from tls.ca_file), or listen on 127.0.0.1" \
	--metrics-listen 10.0.0.5:9610
expect_usage "metrics_listen: 0.0.0.0:9610 is not a loopback address" --metrics-listen 0.0.0.0:9610
expect_usage "metrics_listen: 'nonsense' is not HOST:PORT" --metrics-listen nonsense
echo '{"metrics_listen":"[2001:db8::1]:9610"}' >"$tmp/offlo.json"
expect_usage "metrics_listen: [2001:db8::1]:9610 is not a loopback address" --config "$tmp/offlo.json"
o=$("$bin" --check-config "$tmp/offlo.json" 2>&1); rc=$?
[ $rc = 2 ] || fail "--check-config with an off-loopback metrics_listen: exit $rc ($o)"
grep -q "is not a loopback address" <<<"$o" || fail "--check-config: $o"
echo "ok: --check-config refuses it too (exit 2)"
o=$("$bin" --help)
grep -q -- '--metrics-listen HOST:PORT' <<<"$o" || fail "--help lacks --metrics-listen"

# ---- off by default ----
start plain
grep -q 'metrics-server' "$out" && fail "metrics served without --metrics-listen: $(grep metrics-server "$out")"
stop
echo "ok: no metrics server by default"

# ---- plain HTTP on loopback ----
mport=$(free_port)
start lo --metrics-listen "127.0.0.1:$mport"
[ "$(metrics_addr)" = "127.0.0.1:$mport" ] || fail "metrics-server.started: $(grep metrics-server "$out")"
curl -sS -D "$tmp/headers" -o "$tmp/scrape.txt" "http://127.0.0.1:$mport/metrics" || fail "scrape failed"
head -1 "$tmp/headers" | grep -q '^HTTP/1.1 200' || fail "status: $(head -1 "$tmp/headers")"
grep -qix $'content-type: text/plain; version=0.0.4; charset=utf-8\r' "$tmp/headers" ||
	fail "Content-Type: $(grep -i content-type "$tmp/headers")"
promtool check metrics <"$tmp/scrape.txt" || fail "promtool check metrics refused the scrape"
for fam in attachd_operations_total attachd_attach_step_duration_seconds attachd_volumes_attached \
	attachd_container_mounts attachd_operations_in_flight attachd_paths attachd_path_events_total \
	attachd_fencing_events_total attachd_gateway_requests_total \
	attachd_gateway_request_duration_seconds process_open_fds process_resident_memory_bytes \
	process_threads process_start_time_seconds process_cpu_seconds_total; do
	grep -q "^# HELP $fam " "$tmp/scrape.txt" || fail "no HELP for $fam"
	grep -q "^# TYPE $fam " "$tmp/scrape.txt" || fail "no TYPE for $fam"
done
grep -qx 'attachd_operations_total{op="attach",backend="file",result="success"} 0' "$tmp/scrape.txt" ||
	fail "attach counter: $(grep 'op="attach",backend="file"' "$tmp/scrape.txt")"
grep -qx 'attachd_volumes_attached{backend="scaleio"} 0' "$tmp/scrape.txt" || fail "volumes gauge"
grep -qx 'attachd_gateway_requests_total{backend="scaleio",result="success"} 0' "$tmp/scrape.txt" ||
	fail "gateway counter"
# process_start_time_seconds is this process's: within a minute of now.
st=$(sed -n 's/^process_start_time_seconds //p' "$tmp/scrape.txt")
python3 -c "import sys,time; sys.exit(0 if abs(time.time()-float('$st')) < 60 else 1)" ||
	fail "process_start_time_seconds $st is not about now"
echo "ok: GET /metrics: 200, text format 0.0.4, promtool check metrics passes"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/")
[ "$code" = 404 ] || fail "GET /: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$mport/metrics")
[ "$code" = 405 ] || fail "POST /metrics: $code"
echo "ok: other paths 404, other methods 405"
# attachctl metrics: unchanged.
o=$("$ctl" --admin-socket "$tmp/lo/admin.sock" metrics) || fail "attachctl metrics: $o"
grep -q '^attaches  0 (0 failed)$' <<<"$o" || fail "attachctl metrics: $o"
[ "$("$ctl" --admin-socket "$tmp/lo/admin.sock" --json metrics | jq -c '.metrics | [.attaches, .detaches, .binds, .unbinds]')" = "[0,0,0,0]" ] ||
	fail "attachctl --json metrics"
echo "ok: attachctl metrics unchanged"

# A busy metrics port: logged, and attachd still serves Volman.
start busy --metrics-listen "127.0.0.1:$mport"
grep -q '"message":"attachd.metrics-server.failed".*Address already in use' "$out" ||
	fail "busy port: $(grep metrics-server "$out")"
curl -sf -X POST "$(jq -r .Addr "$tmp/busy/drivers/attachd.json")/Plugin.Activate" >/dev/null ||
	fail "Volman API after a metrics port failure"
stop
echo "ok: busy metrics port logged (attachd.metrics-server.failed), Volman still served"
pid=${pids[1]}
stop

# ---- with the agent's mutual TLS, off loopback too ----
c=$tmp/certs
mkdir -p "$c"
ossl() { openssl "$@" 2>>"$tmp/openssl.log" || fail "openssl $*: $(tail -3 "$tmp/openssl.log")"; }
ossl req -x509 -newkey rsa:2048 -nodes -keyout "$c/ca.key" -out "$c/ca.crt" -subj "/CN=ca" -days 2
leaf() { # name ext
	ossl req -newkey rsa:2048 -nodes -keyout "$c/$1.key" -out "$c/$1.csr" -subj "/CN=$1"
	printf '%s\n' "$2" >"$c/$1.ext"
	ossl x509 -req -in "$c/$1.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial \
		-out "$c/$1.crt" -days 2 -extfile "$c/$1.ext"
}
leaf server "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client "extendedKeyUsage=clientAuth"
chmod 600 "$c"/*.key
cat >"$tmp/tls.json" <<EOF
{"metrics_listen":"0.0.0.0:0",
 "tls":{"ca_file":"$c/ca.crt","cert_file":"$c/server.crt","key_file":"$c/server.key",
        "client_cert_file":"$c/client.crt","client_key_file":"$c/client.key"}}
EOF
start tls --config "$tmp/tls.json"
grep -q '"message":"attachd.metrics-server.started".*"mutual_tls":true' "$out" ||
	fail "no metrics-server.started with mutual_tls: $(grep metrics-server "$out")"
tport=$(metrics_addr | sed -E 's/.*:([0-9]+)$/\1/')
curl -sS --cacert "$c/ca.crt" --cert "$c/client.crt" --key "$c/client.key" \
	-o "$tmp/tls-scrape.txt" "https://127.0.0.1:$tport/metrics" || fail "mutual TLS scrape failed"
promtool check metrics <"$tmp/tls-scrape.txt" || fail "promtool check metrics refused the TLS scrape"
echo "ok: metrics_listen 0.0.0.0 with tls: served over mutual TLS, promtool passes"
curl -s --cacert "$c/ca.crt" -o /dev/null "https://127.0.0.1:$tport/metrics" &&
	fail "a scrape without a client certificate was served"
curl -s -o /dev/null "http://127.0.0.1:$tport/metrics" && fail "plain HTTP was served"
echo "ok: no client certificate, or plain HTTP: refused"
stop
echo "PASS"
