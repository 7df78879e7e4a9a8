#!/usr/bin/env bash
# The admin socket and attachctl with the real binaries (no kernel features needed):
# socket 0600 root-owned in a 0700 directory; a non-root peer is refused by the socket mode
# and, with the mode opened up, by the SO_PEERCRED check; ls/show/metrics/ping on an empty
# agent (table and --json); usage errors exit 2 with usage text; drain removes the spec
# file and keeps the agent running; a stale socket is replaced; stop removes the socket;
# preflight's output shape. Needs root (skips otherwise).
set -u
bin=${ATTACHD_BIN:-$PWD/bin/attachd}
ctl=${ATTACHCTL_BIN:-$PWD/bin/attachctl}
[ -x "$bin" ] && [ -x "$ctl" ] || { echo "FAIL: no binaries ($bin, $ctl)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v jq >/dev/null || { echo "jq is not installed"; exit 77; }
command -v setpriv >/dev/null || { echo "setpriv is not installed"; exit 77; }

tmp=$(mktemp -d /tmp/t_admin.XXXXXX)
chmod 755 "$tmp"
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
sock=$tmp/run/attachd/admin.sock
spec=$tmp/drivers/attachd.json

start() {
	"$bin" --listen 127.0.0.1:0 --driver-dir "$tmp/drivers" --mount-root "$tmp/mnt" \
		--state-dir "$tmp/state" --admin-socket "$sock" >>"$tmp/attachd.out" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		[ -s "$spec" ] && [ -S "$sock" ] && return 0
		kill -0 "$pid" 2>/dev/null || fail "attachd exited: $(tail -5 "$tmp/attachd.out")"
		sleep 0.1
	done
	fail "attachd did not start: $(tail -5 "$tmp/attachd.out")"
}
c() { "$ctl" --admin-socket "$sock" "$@"; }

start
[ "$(stat -c '%a %u %F' "$sock")" = "600 0 socket" ] || fail "socket: $(stat -c '%a %u %F' "$sock")"
[ "$(stat -c '%a' "$(dirname "$sock")")" = 700 ] || fail "socket dir mode $(stat -c '%a' "$(dirname "$sock")")"
grep -q '"message":"attachd.admin-server.started"' "$tmp/attachd.out" || fail "no admin-server.started line"
echo "ok: socket 0600 root in a 0700 directory"

out=$(c ping) || fail "ping: $out"
[[ $out == "attachd (pid $pid) answers" ]] || fail "ping said: $out"
out=$(c ls) || fail "ls: $out"
[ "$out" = "no volumes" ] || fail "ls on an empty agent: $out"
out=$(c --json ls) || fail "ls --json: $out"
[ "$(jq -c . <<<"$out")" = '{"Err":"","volumes":[]}' ] || fail "ls --json: $out"
out=$(c show nothere 2>&1); rc=$?
[ $rc = 1 ] || fail "show of an unknown volume: exit $rc"
grep -q "no volume 'nothere'" <<<"$out" || fail "show of an unknown volume: $out"
out=$(c --json show nothere 2>/dev/null)
[ "$(jq -r .errno <<<"$out")" = ENOENT ] || fail "show --json errno: $out"
out=$(c metrics) || fail "metrics: $out"
grep -q '^attaches  0 (0 failed)$' <<<"$out" || fail "metrics: $out"
[ "$(c --json metrics | jq .metrics.detaches)" = 0 ] || fail "metrics --json"
c trace nothere >/dev/null 2>&1 && fail "trace of an unknown volume succeeded"
c detach nothere --force >/dev/null 2>&1 && fail "detach of an unknown volume succeeded"
echo "ok: ping, ls, show, metrics, trace, detach on an empty agent"

# Usage errors: exit 2 with the usage text, nothing sent.
for args in "" "frob" "show" "ls extra" "--bogus ls" "drain --force" "probe" "--admin-socket rel ls"; do
	# shellcheck disable=SC2086
	out=$("$ctl" $args 2>&1 >/dev/null); rc=$?
	[ $rc = 2 ] || fail "attachctl $args: exit $rc, want 2"
	grep -q '^Usage: attachctl' <<<"$out" || fail "attachctl $args: no usage text: $out"
done
out=$("$ctl" --help) || fail "--help exited $?"
grep -q 'detach NAME \[--force\]' <<<"$out" || fail "--help: $out"
out=$("$ctl" probe http://x/y/0 2>&1); rc=$?
[ $rc = 2 ] || fail "probe of a bad URL: exit $rc ($out)"
echo "ok: usage errors exit 2"

# Non-root: the socket's mode refuses the connection...
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" --admin-socket "$sock" ls 2>&1); rc=$?
[ $rc = 1 ] || fail "non-root ls: exit $rc"
grep -q "Permission denied (attachctl must run as root)" <<<"$out" || fail "non-root ls: $out"
# ...and with the mode opened up, the peer credential check still does.
chmod 711 "$tmp/run" "$(dirname "$sock")"
chmod 666 "$sock"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" --admin-socket "$sock" ls 2>&1); rc=$?
chmod 600 "$sock"
chmod 700 "$tmp/run" "$(dirname "$sock")"
[ $rc = 1 ] || fail "non-root ls through an open socket: exit $rc"
grep -q "permission denied: attachd's admin API serves root only (peer uid 65534)" <<<"$out" ||
	fail "non-root ls through an open socket: $out"
grep -q '"message":"attachd.admin.denied"' "$tmp/attachd.out" || fail "no admin.denied log line"
echo "ok: non-root refused ($out)"

# drain: spec file gone, agent still answering, Mount refused.
out=$(c drain) || fail "drain: $out"
grep -q "driver spec: removed" <<<"$out" || fail "drain: $out"
[ ! -e "$spec" ] || fail "spec file still there after drain"
kill -0 "$pid" || fail "attachd exited on drain"
out=$(c ping)
grep -q draining <<<"$out" || fail "ping after drain: $out"
port=$(sed -nE 's/.*"address":"127\.0\.0\.1:([0-9]+)".*/\1/p' "$tmp/attachd.out" | head -1)
out=$(curl -sS -X POST --data-binary '{"Name":"v_c"}' "http://127.0.0.1:$port/VolumeDriver.Mount")
grep -q "attachd is draining" <<<"$out" || fail "Mount while draining: $out"
echo "ok: drain removed the spec file; Mount refused while draining"

# stop removes the socket; a stale socket (kill -9) is replaced on the next start.
kill -TERM "$pid"; wait "$pid"; pid=
[ ! -e "$sock" ] || fail "socket left after SIGTERM"
start
kill -KILL "$pid"; wait "$pid" 2>/dev/null; pid=
[ -S "$sock" ] || fail "expected a stale socket after kill -9"
out=$(c ls 2>&1) && fail "ls against a dead agent succeeded"
grep -q "Connection refused" <<<"$out" || fail "ls against a dead agent: $out"
rm -f "$spec"
start
c ping >/dev/null || fail "ping after replacing a stale socket"
# a second agent on the same socket does not steal it
"$bin" --listen 127.0.0.1:0 --driver-dir "$tmp/drivers2" --mount-root "$tmp/mnt2" \
	--admin-socket "$sock" >"$tmp/second.out" 2>&1 &
p2=$!
for _ in $(seq 50); do [ -s "$tmp/drivers2/attachd.json" ] && break; sleep 0.1; done
kill -TERM "$p2"; wait "$p2"
grep -q "another attachd is serving it" "$tmp/second.out" || fail "second agent: $(cat "$tmp/second.out")"
c ping >/dev/null || fail "first agent lost its socket to the second"
kill -TERM "$pid"; wait "$pid"; pid=
echo "ok: stale socket replaced, live one kept"

# preflight: a table (CHECK STATUS DETAIL), one row per module and daemon; exit 0 or 1.
out=$("$ctl" preflight); rc=$?
[ $rc = 0 ] || [ $rc = 1 ] || fail "preflight: exit $rc"
[ "$(head -1 <<<"$out" | tr -s ' ')" = "CHECK STATUS DETAIL" ] || fail "preflight header: $out"
for row in "module dm-mod" "module dm-multipath" "module iscsi_tcp" "module nvme-tcp" "module loop" \
	"/dev/mapper/control" udevd iscsid iscsiadm "initiator name"; do
	grep -Eq "^$row +(ok|MISSING) " <<<"$out" || fail "preflight lacks a '$row' row: $out"
done
if [ $rc = 1 ]; then grep -Eq '^preflight: [0-9]+ problems?$' <<<"$out" || fail "preflight summary: $out"; fi
js=$("$ctl" --json preflight)
[ "$(jq '.checks | length' <<<"$js")" = 10 ] || fail "preflight --json: $js"
[ "$(jq -r '.ok' <<<"$js")" = "$([ $rc = 0 ] && echo true || echo false)" ] || fail "preflight --json ok: $js"
echo "ok: preflight (exit $rc): $(tail -1 <<<"$out")"
echo PASS
