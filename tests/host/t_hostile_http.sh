#!/usr/bin/env bash
# Hostile HTTP at both listeners of an ASan/UBSan build of attachd (build/asan/attachd,
# built here if missing): truncated requests, huge headers, pipelining, invalid chunked
# encoding, ambiguous lengths, half-closed and reset sockets, random bytes, 10,000 requests
# on one keep-alive connection (tests/host/hostile_http.py, once against the Volman TCP
# listener and once against the admin unix socket, at the same time). Then Volman's and
# attachctl's next requests are served, and after SIGTERM attachd exits 0 with no
# AddressSanitizer, LeakSanitizer or UBSan report; t_tls.sh passes with the ASan binary
# too. Needs root (the admin socket's peer
# check serves root only).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/host
asan=${ATTACHD_ASAN_BIN:-$top/build/asan/attachd}
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v python3 >/dev/null || { echo "python3 is not installed"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
# Up to date with the tree (make is quick when it is).
if [ -z "${ATTACHD_ASAN_BIN:-}" ]; then
	make -s -C "$top" -j"$(nproc)" SAN=1 build/asan/attachd >/dev/null ||
		{ echo "FAIL: cannot build $asan"; exit 1; }
fi
[ -x "$asan" ] || { echo "FAIL: no ASan binary $asan"; exit 1; }

tmp=$(mktemp -d /tmp/t_hostile.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
spec=$tmp/drivers/attachd.json
sock=$tmp/run/admin.sock

# Leaks are reported at exit; every report fails the test through its exit code and text.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99 UBSAN_OPTIONS=print_stacktrace=1 \
	"$asan" --listen 127.0.0.1:0 --driver-dir "$tmp/drivers" --mount-root "$tmp/mnt" \
	--state-dir "$tmp/state" --admin-socket "$sock" >"$tmp/attachd.out" 2>"$tmp/attachd.err" &
pid=$!
for _ in $(seq 300); do
	[ -s "$spec" ] && [ -S "$sock" ] && break
	kill -0 "$pid" 2>/dev/null || fail "attachd exited: $(tail -5 "$tmp/attachd.err")"
	sleep 0.1
done
[ -s "$spec" ] || fail "attachd did not start: $(tail -5 "$tmp/attachd.err")"
port=$(jq -r .Addr "$spec" | sed -E 's/.*:([0-9]+)$/\1/')

python3 "$here/hostile_http.py" --port "$port" --ok-path /VolumeDriver.List >"$tmp/volman.txt" 2>&1 &
v=$!
python3 "$here/hostile_http.py" --unix "$sock" --ok-path /v1/ping >"$tmp/admin.txt" 2>&1 &
ad=$!
wait $v; vrc=$?
wait $ad; arc=$?
sed 's/^/volman: /' "$tmp/volman.txt"
sed 's/^/admin: /' "$tmp/admin.txt"
[ $vrc = 0 ] || fail "Volman listener: hostile_http.py exit $vrc"
[ $arc = 0 ] || fail "admin socket: hostile_http.py exit $arc"
kill -0 "$pid" 2>/dev/null || fail "attachd died: $(tail -20 "$tmp/attachd.err")"

# Volman's next requests, the way it makes them, and attachctl's.
out=$(python3 "$here/tls_client.py" "$port" /Plugin.Activate /VolumeDriver.List --plain) ||
	fail "Volman after the storm: $out"
[ "$(sed -n 2p <<<"$out" | jq -c .)" = '{"Volumes":[],"Err":""}' ] || fail "List after the storm: $out"
if [ -x "${ATTACHCTL_BIN:-$top/bin/attachctl}" ]; then
	"${ATTACHCTL_BIN:-$top/bin/attachctl}" --admin-socket "$sock" ping >/dev/null ||
		fail "attachctl ping after the storm"
fi
echo "ok: Volman and attachctl served after the storm"
# Hundreds of malformed requests a second must not become hundreds of log lines a second.
grep -q '"message":"attachd.http.log-suppressed"' "$tmp/attachd.out" ||
	fail "no attachd.http.log-suppressed line: $(grep -c '"attachd.http.error"' "$tmp/attachd.out") error lines"
echo "ok: log lines about bad clients are rate-limited ($(grep -c '"attachd.http.error"' "$tmp/attachd.out") error lines)"

kill -TERM "$pid"
wait "$pid"; rc=$?
pid=
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/attachd.err"; then
	sed -n '1,60p' "$tmp/attachd.err"
	fail "sanitizer report (exit $rc)"
fi
[ $rc = 0 ] || fail "attachd exited $rc after SIGTERM: $(tail -20 "$tmp/attachd.err")"
grep -q '"message":"attachd.stopped"' "$tmp/attachd.out" || fail "no attachd.stopped line"
echo "ok: SIGTERM -> exit 0, no ASan/LSan/UBSan report"

# The TLS paths (handshake refusals, certificate checks, bad files at start) under ASan:
# t_tls.sh with this binary; a sanitizer report makes attachd exit 99, which it fails on.
ASAN_OPTIONS=detect_leaks=1:exitcode=99 ATTACHD_BIN=$asan bash "$here/t_tls.sh" >"$tmp/tls.txt" 2>&1 ||
	fail "t_tls.sh with the ASan binary: $(tail -5 "$tmp/tls.txt")"
grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/tls.txt" &&
	fail "sanitizer report in t_tls.sh: $(grep -m5 -E 'Sanitizer|runtime error' "$tmp/tls.txt")"
echo "ok: t_tls.sh with the ASan binary: no sanitizer report"
echo "PASS"
