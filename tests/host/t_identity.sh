#!/usr/bin/env bash
# attachctl identity with the real binaries (no kernel features needed): from a running agent
# configured with known values (exact table and --json), the SDC GUID from a fake drv_cfg,
# "not installed" without drv_cfg, a derived fencing key = SHA-256("attachd-fencing:" +
# machine-id)[0:8]; without an agent it reads this host's files with a note; a bad
# fencing.key is refused by --check-config naming the key.
set -u
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
ctl=${ATTACHCTL_BIN:-$PWD/bin/attachctl}
[ -x "$bin" ] && [ -x "$ctl" ] || { echo "FAIL: no binaries"; exit 1; }
tmp=$(mktemp -d /tmp/t_identity.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
sock=$tmp/run/admin.sock
nqn=nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555

start() { # config file
	"$bin" --config "$1" >>"$tmp/attachd.out" 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do
		[ -S "$sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "attachd exited: $(tail -5 "$tmp/attachd.out")"
		sleep 0.1
	done
	fail "no admin socket after 20 s"
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=; rm -f "$sock"; }
conf() { # extra json members
	cat <<JSON
{"listen": "127.0.0.1:0", "admin_socket": "$sock", "state_dir": "$tmp/state",
 "mount_root": "$tmp/mnt", "driver_dir": "$tmp/drv", "file": {"dir": "$tmp/files"},
 "iscsi": {"initiator_name": "iqn.2026-12.test:host1", "iface": "attachd2"},
 "nvme": {"hostnqn": "$nqn"}, $1}
JSON
}

# 1. Every value from the agent's config.
conf '"scaleio": {"sdc_guid": "3f2a1b0c-1111-2222-3333-444455556666"}, "fencing": {"key": "0123456789ABCDEF"}' >"$tmp/a.json"
start "$tmp/a.json"
out=$("$ctl" --admin-socket "$sock" identity 2>"$tmp/err"); rc=$?
[ $rc -eq 0 ] || fail "identity: exit $rc: $(cat "$tmp/err")"
[ -s "$tmp/err" ] && fail "identity: stderr: $(cat "$tmp/err")"
want="FIELD                 VALUE                                                                 SOURCE
iscsi_initiator_name  iqn.2026-12.test:host1                                                config
iscsi_iface           attachd2                                                              config
nvme_hostnqn          $nqn  config
nvme_hostid           11111111-2222-3333-4444-555555555555                                  from nvme_hostnqn
scaleio_sdc_guid      3f2a1b0c-1111-2222-3333-444455556666                                  config
scaleio_sdc_id        -                                                                     no scaleio.gateway configured
fencing_key           0123456789abcdef                                                      config"
[ "$out" = "$want" ] || fail "identity table:
$out
want:
$want"
out=$("$ctl" --admin-socket "$sock" --json identity); rc=$?
[ $rc -eq 0 ] || fail "identity --json: exit $rc"
got=$(jq -c '[.Err, .agent, (.identity | to_entries | map([.key, .value.value, .value.source, .value.error]))]' <<<"$out")
want='["",true,[["fencing_key","0123456789abcdef","config",""],["iscsi_iface","attachd2","config",""],["iscsi_initiator_name","iqn.2026-12.test:host1","config",""],["nvme_hostid","11111111-2222-3333-4444-555555555555","from nvme_hostnqn",""],["nvme_hostnqn","'$nqn'","config",""],["scaleio_sdc_guid","3f2a1b0c-1111-2222-3333-444455556666","config",""],["scaleio_sdc_id","","no scaleio.gateway configured",""]]]'
[ "$got" = "$want" ] || fail "identity --json: $got"
stop
echo "ok: identity from the agent's config, table and --json"

# 2. GUID from drv_cfg; fencing key derived from /etc/machine-id.
[ -s /etc/machine-id ] || fail "this test needs /etc/machine-id"
derived=$(printf 'attachd-fencing:%s' "$(head -1 /etc/machine-id)" | sha256sum | cut -c1-16)
printf '#!/bin/sh\n[ "$1" = --query_guid ] || exit 3\necho "Retrieved GUID is 0a0b0c0d-aaaa-bbbb-cccc-000011112222."\n' >"$tmp/drv_cfg"
chmod +x "$tmp/drv_cfg"
conf '"scaleio": {"drv_cfg": "'"$tmp/drv_cfg"'"}' >"$tmp/b.json"
start "$tmp/b.json"
out=$("$ctl" --admin-socket "$sock" --json identity) || fail "identity (drv_cfg): exit $?"
got=$(jq -r '[.identity.scaleio_sdc_guid.value, .identity.scaleio_sdc_guid.source, .identity.fencing_key.value, .identity.fencing_key.source] | join("|")' <<<"$out")
[ "$got" = "0a0b0c0d-aaaa-bbbb-cccc-000011112222|drv_cfg|$derived|derived from /etc/machine-id" ] || fail "drv_cfg/derived: $got"
# the key is stable across restarts
stop
start "$tmp/b.json"
got=$("$ctl" --admin-socket "$sock" --json identity | jq -r .identity.fencing_key.value)
[ "$got" = "$derived" ] || fail "fencing key after restart: $got (want $derived)"
stop
echo "ok: SDC GUID from drv_cfg, fencing key derived from machine-id, stable across restarts"

# 3. drv_cfg absent: "not installed", not an error.
conf '"scaleio": {"drv_cfg": "'"$tmp/no-drv_cfg"'"}' >"$tmp/c.json"
start "$tmp/c.json"
out=$("$ctl" --admin-socket "$sock" identity 2>"$tmp/err"); rc=$?
[ $rc -eq 0 ] || fail "identity without drv_cfg: exit $rc: $(cat "$tmp/err")"
grep -qx 'scaleio_sdc_guid      -  *not installed' <<<"$out" || fail "no drv_cfg: $out"
# 4. drv_cfg that fails: exit 1 naming it, the rest still printed.
printf '#!/bin/sh\necho "SDC not running" ; exit 4\n' >"$tmp/no-drv_cfg"; chmod +x "$tmp/no-drv_cfg"
out=$("$ctl" --admin-socket "$sock" identity 2>"$tmp/err"); rc=$?
[ $rc -eq 1 ] || fail "failing drv_cfg: exit $rc"
[ "$(cat "$tmp/err")" = "attachctl: identity: scaleio_sdc_guid: $tmp/no-drv_cfg --query_guid exited 4: SDC not running" ] || fail "failing drv_cfg stderr: $(cat "$tmp/err")"
grep -q '^iscsi_initiator_name  iqn.2026-12.test:host1 ' <<<"$out" || fail "failing drv_cfg: the rest not printed: $out"
stop
echo "ok: drv_cfg absent is 'not installed'; a failing drv_cfg exits 1 and names it"

# 5. No agent: this host's files, with a note.
out=$("$ctl" --admin-socket "$sock" --json identity 2>"$tmp/err"); rc=$?
grep -q "^attachctl: note: cannot connect to attachd's admin socket $sock: No such file or directory" "$tmp/err" || fail "no agent: note: $(cat "$tmp/err")"
[ "$(jq -r '[.agent, .identity.fencing_key.value, .identity.iscsi_iface.source] | join("|")' <<<"$out")" = "false|$derived|default" ] || fail "no agent: $out"
if [ -r /etc/iscsi/initiatorname.iscsi ]; then
	want=$(sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi | head -1)
	[ "$(jq -r .identity.iscsi_initiator_name.value <<<"$out")" = "$want" ] || fail "no agent: initiator: $out"
fi
echo "ok: without an agent, this host's files with a note (exit $rc)"

# 6. --check-config refuses a bad fencing.key.
for k in 0123 0000000000000000 0123456789abcdeg; do
	conf '"fencing": {"key": "'$k'"}' >"$tmp/d.json"
	"$bin" --check-config "$tmp/d.json" >/dev/null 2>"$tmp/err"; rc=$?
	[ $rc -eq 2 ] || fail "fencing.key $k: exit $rc"
	grep -qF "fencing.key: '$k' must be exactly 16 hex digits and not all zero" "$tmp/err" || fail "fencing.key $k: $(cat "$tmp/err")"
done
echo "ok: --check-config refuses a bad fencing.key"
