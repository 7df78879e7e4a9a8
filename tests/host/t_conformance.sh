#!/usr/bin/env bash
# Volman wire conformance without kernel features: tests/vm/volman-client (Volman's client
# behaviour: headerless keep-alive POSTs, empty Activate/List bodies, background Activate,
# purge, SafeError parsing) runs its `protocol` checks against the real bin/attachd, then
# bad requests sent the same way each get a clear Err. The VM tier
# (tests/vm/scenarios/25-28) replays the rest against real devices.
set -u
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
client=$PWD/tests/vm/volman-client
[ -x "$bin" ] || { echo "FAIL: no attachd binary at $bin"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is not installed"; exit 77; }

tmp=$(mktemp -d /tmp/t_conformance.XXXXXX)
pid=
cleanup() {
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/attachd.log" ] && tail -20 "$tmp/attachd.log"; exit 1; }

"$bin" --listen 127.0.0.1:0 --driver-dir "$tmp/drivers" --mount-root "$tmp/mnt" \
	--state-dir "$tmp/state" --admin-socket "$tmp/admin.sock" >"$tmp/attachd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -e "$tmp/drivers/attachd.json" ] && break
	kill -0 "$pid" 2>/dev/null || fail "attachd exited at start"
	sleep 0.1
done
[ -e "$tmp/drivers/attachd.json" ] || fail "attachd wrote no driver spec within 10 s"

"$client" --driver-dir "$tmp/drivers" --activate-every 0.3 protocol || fail "volman-client protocol"

call() { "$client" --driver-dir "$tmp/drivers" call "$@" || fail "HTTP request $1 failed"; }
expect_err() { # CALL BODY NEEDLE
	local out
	out=$(call "$1" "$2")
	case $out in *'"Err":""'*) fail "$1 $2: accepted: $out" ;; esac
	case $out in *"$3"*) ;; *) fail "$1 $2: Err lacks '$3': $out" ;; esac
	echo "ok: $1 $(head -c 60 <<<"$2") -> $(head -c 160 <<<"$out")"
}
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{' "malformed JSON"
expect_err VolumeDriver.Create '{"Name":5}' "'Name' must be a string"
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":"x"}' "'Opts' must be a JSON object or null"
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{"backend":"file","size":"16M","colour":1}}' colour
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":null}' "invalid options"
# Volman shows the app only Mount's SafeError: the next Mount of x (any container) names the bad option
expect_err VolumeDriver.Create '{"Name":"x_a","Opts":{"backend":"file","size":"16M","colour":1}}' colour
out=$(call VolumeDriver.Mount '{"Name":"x_b"}')
case $out in *'{\"SafeDescription\":\"invalid options for volume '*colour*) ;; *) fail "Mount after a bad Create: $out" ;; esac
echo "ok: Mount after a bad Create -> $(head -c 160 <<<"$out")"
for n in '../x' 'a/b' '..' '\\' 'a_b_c' ''; do
	expect_err VolumeDriver.Mount "{\"Name\":\"$n\"}" "volume name"
done
python3 -c 'import sys; sys.stdout.write("{\"Name\":\"big_a\",\"Opts\":{\"pad\":\"" + "x" * (1 << 20) + "\"}}")' >"$tmp/big.json"
expect_err VolumeDriver.Create "@$tmp/big.json" "too large"
# jansson quotes the token it choked on: a CHAP secret cut short must not come back
secret=Zq8-host-s3cr3t
for b in "{\"Name\":\"c_a\",\"Opts\":{\"backend\":\"iscsi\",\"chap_secret\":\"$secret" \
	"{\"Name\":\"c_a\",\"Opts\":{\"backend\":\"iscsi\",\"chap_secret\":\"$secret\\q\"}}"; do
	out=$(call VolumeDriver.Create "$b")
	case $out in *"$secret"*) fail "the CHAP secret is echoed in: $out" ;; *malformed*) ;; *) fail "not refused: $out" ;; esac
done
out=$(call VolumeDriver.List '')
[ "$out" = '{"Volumes":[],"Err":""}' ] || fail "List after the bad requests: $out"
kill -TERM "$pid"
wait "$pid" || fail "attachd exited with status $? on SIGTERM"
pid=
if grep -qF -- "$secret" "$tmp/attachd.log"; then fail "the CHAP secret is in the agent log"; fi
echo "PASS: t_conformance"
