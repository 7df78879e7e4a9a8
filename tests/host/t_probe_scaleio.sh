#!/usr/bin/env bash
# attachctl probe scaleio://SYSTEM/VOLUME through the agent's gateway (the PowerFlex gateway
# emulator): size, identity and the volume's SDC mappings (table and --json), unmapped,
# unknown volume, unknown system, bad URLs (exit 2, nothing asked), no gateway configured.
# Needs root (the admin socket serves root), python3, curl and jq (skips otherwise).
set -u
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
ctl=${ATTACHCTL_BIN:-$PWD/bin/attachctl}
[ -x "$bin" ] && [ -x "$ctl" ] || { echo "FAIL: no binaries ($bin, $ctl)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
for c in python3 curl jq; do command -v $c >/dev/null || { echo "$c is not installed"; exit 77; }; done

tmp=$(mktemp -d /tmp/t_probe_scaleio.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/gw"
echo gwpass >"$tmp/gw.pw"
python3 tests/emulator/pfgw.py --state-dir "$tmp/gw" --password-file "$tmp/gw.pw" \
	--port-file "$tmp/gw.port" --listen 127.0.0.1:0 2>"$tmp/gw.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/gw.port" ] && break; sleep 0.1; done
[ -s "$tmp/gw.port" ] || fail "gateway emulator did not start: $(cat "$tmp/gw.err")"
GW=http://127.0.0.1:$(cat "$tmp/gw.port")
emu() { curl -sf -X POST -d "$2" "$GW/emu/$1" >/dev/null || fail "emulator $1 $2"; }

SYS=14dbbf5617523654
emu sdc '{"id":"1a2b3c4d00000001","guid":"11111111-2222-3333-4444-555555555555","ip":"10.0.0.7","name":"cell-7"}'
emu sdc '{"id":"1a2b3c4d00000002","guid":"11111111-2222-3333-4444-666666666666","ip":"10.0.0.8","name":"cell-8"}'
emu volume '{"id":"e65f9c2700000101","name":"data-1","sizeInKb":8388608}'
emu volume '{"id":"e65f9c2700000102","name":"data-2","sizeInKb":16777216}'
emu map '{"volumeId":"e65f9c2700000101","sdcId":"1a2b3c4d00000001"}'
emu map '{"volumeId":"e65f9c2700000101","sdcId":"1a2b3c4d00000002"}'

sock=$tmp/run/admin.sock
start() { # $1: config file
	"$bin" --config "$1" >>"$tmp/attachd.out" 2>&1 &
	pid=$!
	pids+=($pid)
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "attachd exited: $(tail -5 "$tmp/attachd.out")"
		sleep 0.1
	done
	fail "attachd did not start: $(tail -5 "$tmp/attachd.out")"
}
cat >"$tmp/attachd.json" <<JSON
{"listen": "127.0.0.1:0", "admin_socket": "$sock", "state_dir": "$tmp/state",
 "mount_root": "$tmp/mnt", "driver_dir": "$tmp/drivers",
 "scaleio": {"gateway": "$GW", "username": "admin", "password_file": "$tmp/gw.pw",
             "sdc_guid": "11111111-2222-3333-4444-555555555555"}}
JSON
start "$tmp/attachd.json"
c() { "$ctl" --admin-socket "$sock" "$@"; }

out=$(c probe scaleio://$SYS/e65f9c2700000101) || fail "probe: $out"
want="url:       scaleio://$SYS/e65f9c2700000101
volume:    e65f9c2700000101 (data-1)
size:      8.0 GiB (8589934592 bytes)
identity:  emc-vol-$SYS-e65f9c2700000101
mappings:  2
SDC ID            NAME    IP        ACCESS
1a2b3c4d00000001  cell-7  10.0.0.7  ReadWrite
1a2b3c4d00000002  cell-8  10.0.0.8  ReadWrite"
[ "$out" = "$want" ] || fail "probe of a mapped volume:
$out
want:
$want"
echo "ok: probe shows size, identity and both SDC mappings"

# attachctl identity: the gateway's id for this host's SDC (found by its GUID).
out=$(c --json identity) || fail "identity: $out"
got=$(jq -r '.identity.scaleio_sdc_id | [.value, .source, .error] | join("|")' <<<"$out")
[ "$got" = "1a2b3c4d00000001|gateway $GW (SDC name 'cell-7', IP 10.0.0.7)|" ] || fail "identity sdc id: $got"
c identity | grep -q "^scaleio_sdc_id  *1a2b3c4d00000001  *gateway $GW" || fail "identity table: $(c identity)"
echo "ok: attachctl identity shows the SDC id from the gateway"

out=$(c --json probe scaleio://$SYS/E65F9C2700000102) || fail "probe --json: $out"
[ "$(jq -c '{backend,size_bytes,identity,volume_name,mappings,url}' <<<"$out")" = \
  "{\"backend\":\"scaleio\",\"size_bytes\":17179869184,\"identity\":\"emc-vol-$SYS-e65f9c2700000102\",\"volume_name\":\"data-2\",\"mappings\":[],\"url\":\"scaleio://$SYS/E65F9C2700000102\"}" ] ||
	fail "probe --json of an unmapped volume: $out"
out=$(c probe scaleio://$SYS/e65f9c2700000102) || fail "probe: $out"
grep -qx 'mappings:  0' <<<"$out" || fail "unmapped volume: $out"
echo "ok: an unmapped volume (--json and table)"

out=$(c probe scaleio://$SYS/e65f9c27000009ff 2>&1); rc=$?
[ $rc = 1 ] || fail "unknown volume: exit $rc ($out)"
[ "$out" = "attachctl: probe scaleio://$SYS/e65f9c27000009ff: PowerFlex volume e65f9c27000009ff does not exist" ] ||
	fail "unknown volume: $out"
out=$(c probe scaleio://0000000000000001/e65f9c2700000101 2>&1); rc=$?
[ $rc = 1 ] || fail "unknown system: exit $rc ($out)"
grep -q "PowerFlex system 0000000000000001 is not known to the gateway $GW" <<<"$out" ||
	fail "unknown system: $out"
echo "ok: unknown volume and unknown system are named"

before=$(curl -s "$GW/emu/state" | jq .counters.requests)
for url in "scaleio://$SYS" "scaleio://$SYS/xyz" "scaleio://12/e65f9c2700000101" "scaleio:/$SYS/e65f9c2700000101"; do
	out=$(c probe "$url" 2>&1); rc=$?
	[ $rc = 2 ] || fail "probe $url: exit $rc, want 2 ($out)"
	grep -q "^attachctl: probe: '$url'" <<<"$out" || fail "probe $url: $out"
done
after=$(curl -s "$GW/emu/state" | jq .counters.requests)
[ "$before" = "$after" ] || fail "bad URLs reached the gateway ($before -> $after requests)"
echo "ok: bad URLs exit 2 naming the problem, nothing asked"

# An agent without a gateway says so.
kill "$pid"; wait "$pid" 2>/dev/null
cat >"$tmp/attachd2.json" <<JSON
{"listen": "127.0.0.1:0", "admin_socket": "$sock", "state_dir": "$tmp/state",
 "mount_root": "$tmp/mnt", "driver_dir": "$tmp/drivers"}
JSON
start "$tmp/attachd2.json"
out=$(c probe scaleio://$SYS/e65f9c2700000101 2>&1); rc=$?
[ $rc = 1 ] || fail "no gateway: exit $rc ($out)"
grep -qi "gateway" <<<"$out" || fail "no gateway: $out"
echo "ok: no gateway configured: $out"
got=$(c --json identity | jq -r '.identity.scaleio_sdc_id | [.value, .source, .error] | join("|")')
[ "$got" = "|no scaleio.gateway configured|" ] || fail "identity without a gateway: $got"
