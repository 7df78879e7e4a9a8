#!/bin/bash
# attachd's path checker on a LIO target reachable on two portals in a network namespace
# (issue 8), path failures made by dropping packets (no clean logout):
# - one path's packets dropped while a writer writes numbered blocks (O_DIRECT + O_DSYNC):
#   no write fails, `attachctl show` reports the path failed, every block verifies;
# - the path returns: active again without anyone acting;
# - all paths down for less than no_path_queue_s: writes wait, then go on without error;
# - all paths down past the bound: the writer gets errors (no hang), `attachctl detach
#   --force` ends within 15 s leaving no session, map or mount, while a volume on a healthy
#   target attaches and detaches meanwhile; the same for Volman's Unmount;
# - a path whose portal is down at attach time joins when it comes up.
# Prints the failover figure (longest write stall after a path's loss) for the README.
# timeout: 1500
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

IQN=iqn.2025-01.io.attachd.test:fo
HEALTHY=iqn.2025-01.io.attachd.test:fo-healthy
mpnet_setup 2
mpnet_lio_target "$IQN" --lun 0:64M --paths "1 2"
on_exit "lio_target_delete $IQN"
lio_target_create "$HEALTHY" --lun 0:32M --portal 127.0.0.1:3260
on_exit "lio_target_delete $HEALTHY"
P1=$(mpnet_addr 1):3260 P2=$(mpnet_addr 2):3260
BOUND=25 # no_path_queue_s: longer than iscsid takes to log in again after a drop ends

mkdir -p "$SCRATCH/etc"
echo "{\"multipath\":{\"check_interval_s\":2,\"no_path_queue_s\":$BOUND}}" >"$SCRATCH/etc/attachd.json"
start_attachd --config "$SCRATCH/etc/attachd.json" --admin-socket "$SCRATCH/run/attachd.sock"
on_exit stop_attachd

OPTS="{\"backend\":\"iscsi\",\"portals\":[\"$P1\",\"$P2\"],\"iqn\":\"$IQN\",\"lun\":0}"
mount_vol() { # NAME OPTS -> mountpoint
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}")
	assert_contains "$out" '"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}

# path_state KEY PORTAL: "active" / "failed" as attachctl reports the path via PORTAL
path_state() {
	attachctl --json show "$1" |
		jq -r --arg p "$2 " '.volume.paths[] | select(.where | startswith($p)) | .state'
}
path_is() { [ "$(path_state "$1" "$2")" = "$3" ]; }
paths_col() { # KEY: the PATHS column of attachctl ls
	attachctl ls | awk -v k="$1" 'NR == 1 { c = index($0, "PATHS") } NR > 1 && $1 == k {
		s = substr($0, c); sub(/ .*/, "", s); print s }'
}
queueing_is() { [ "$(attachctl --json show "$1" | jq -r .volume.queueing)" = "$2" ]; }

# The writer: block n of FILE holds "block n", written with O_DIRECT|O_DSYNC; LOG gets
# "<ns> <n>" per completed write and "ERR <ns> <n>" per failed one. Stops at STOP.
writer() { # FILE LOG STOP
	local n=0
	while [ ! -e "$3" ] && [ $n -lt 12000 ]; do
		if printf '%-4095s\n' "block $n" |
			dd of="$1" bs=4096 seek=$n count=1 oflag=direct,dsync conv=notrunc status=none 2>>"$2.err"; then
			echo "$(date +%s%N) $n" >>"$2"
			n=$((n + 1))
		else
			echo "ERR $(date +%s%N) $n" >>"$2"
			[ -z "${WRITER_STOP_ON_ERROR:-}" ] || return 0
		fi
		sleep 0.02
	done
}
# session_state ADDR: the state of our iSCSI session to ADDR ("" if none)
session_state() {
	local s sid
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s" ] || continue
		sid=${s##*session}
		if [ "$(cat "/sys/class/iscsi_connection/connection$sid:0/persistent_address" 2>/dev/null)" = "$1" ]; then
			cat "$s/state"
			return
		fi
	done
}
session_is() { [ "$(session_state "$1")" = "$2" ]; }
no_session_to() { # ADDR...
	local a
	for a in "$@"; do [ -z "$(session_state "$a")" ] || return 1; done
}
writes() { if [ -e "$1" ]; then grep -vc '^ERR' "$1" || true; else echo 0; fi; }
errors() { if [ -e "$1" ]; then grep -c '^ERR' "$1" || true; else echo 0; fi; }
writes_over() { [ "$(writes "$1")" -gt "$2" ]; }
verify() { # FILE N: blocks 0..N-1 read back as written (page cache dropped first)
	local i
	for ((i = 0; i < $2; i++)); do printf '%-4095s\n' "block $i"; done >"$SCRATCH/expect"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	cmp -n $(($2 * 4096)) "$SCRATCH/expect" "$1" || fail "data written through the map differs from what was written"
}
# longest gap between completed writes from ns T0 on, in ms (the failover figure)
longest_stall() { # LOG T0
	awk -v t0="$2" '!/^ERR/ && $1 >= t0 { if (p) { g = ($1 - p) / 1e6; if (g > m) m = g } p = $1 }
		END { printf "%d", m }' "$1"
}

# ---------------------------------------------------------------- one path fails
mp=$(mount_vol fo_app-1 "$OPTS")
# a path that shows up after the attach's grace joins on the checker's next round
wait_until 30 "attachctl ls to show 2/2 paths" eval '[ "$(paths_col fo)" = 2/2 ]'
wait_until 15 "a first checker round on fo" eval 'attachctl show fo | grep -q "TUR ok"'
out=$(attachctl show fo)
info "$out"
assert_contains "$out" "paths:      2/2 active" "attachctl show paths line"
assert_contains "$out" "$P1 $IQN" "attachctl show lists path 1"
assert_contains "$out" "$P2 $IQN" "attachctl show lists path 2"
assert_contains "$out" "TUR ok" "attachctl show last checker result"

W=$SCRATCH/w1.log
writer "$mp/data" "$W" "$SCRATCH/stop1" &
wpid=$!
wait_until 60 "the writer to get going" writes_over "$W" 20
t_drop=$(date +%s%N)
mpnet_drop 1
info "path 1 ($P1): packets dropped"
wait_until 10 "attachctl to show path 1 failed" path_is fo "$P1" failed
assert_eq "$(path_state fo "$P2")" active "path 2 while path 1 is down"
assert_eq "$(paths_col fo)" 1/2 "attachctl ls with one path down"
n=$(writes "$W")
wait_until 60 "writes to complete with path 1 down" writes_over "$W" $((n + 20))
assert_eq "$(errors "$W")" 0 "write errors while one path was down"
stall=$(longest_stall "$W" "$t_drop")
info "BENCH multipath failover (longest write stall after a path's packets were dropped): $stall ms"
grep -q '"attachd.path.failed"' "$ARTIFACTS/attachd.log" || fail "no attachd.path.failed log line"

# ---------------------------------------------------------------- the path returns
mpnet_restore 1
t_back=$(date +%s)
# iscsid logs in again on its own, on its retry schedule; from then on it is the checker's
wait_until 90 "iscsid to log in again over path 1" session_is "$(mpnet_addr 1)" LOGGED_IN
info "path 1 session logged in again $(($(date +%s) - t_back)) s after the packets flowed"
wait_until 10 "attachctl to show path 1 active again" path_is fo "$P1" active
info "path 1 active again $(($(date +%s) - t_back)) s after the packets flowed"
assert_eq "$(paths_col fo)" 2/2 "attachctl ls with both paths back"
grep -q '"attachd.path.reinstated"' "$ARTIFACTS/attachd.log" || fail "no attachd.path.reinstated log line"
assert_contains "$(dmsetup status attachd-fo)" " A " "a path active in the map"
n=$(writes "$W")
wait_until 60 "writes with both paths back" writes_over "$W" $((n + 10))

# ---------------------------------------------------------------- all down, shorter than the bound
mpnet_drop 1
mpnet_drop 2
info "both paths dropped"
wait_until 30 "attachctl to show both paths failed" eval 'path_is fo "$P1" failed && path_is fo "$P2" failed'
t_down=$(date +%s)
queueing_is fo true || fail "I/O does not queue with no path left (within the bound)"
assert_eq "$(paths_col fo)" 0/2 "attachctl ls with no path"
mpnet_restore 1
mpnet_restore 2
info "both paths back after $(($(date +%s) - t_down)) s of no path (bound $BOUND s)"
wait_until $((BOUND + 60)) "a path active again" eval 'path_is fo "$P1" active || path_is fo "$P2" active'
n=$(writes "$W")
wait_until 60 "writes to go on after all paths were down" writes_over "$W" $((n + 10))
assert_eq "$(errors "$W")" 0 "write errors after all paths were down for less than the bound"
queueing_is fo true || fail "queueing is off after paths returned"
wait_until 90 "both paths active" eval 'path_is fo "$P1" active && path_is fo "$P2" active'
touch "$SCRATCH/stop1"
wait "$wpid"
n=$(writes "$W")
assert_eq "$(errors "$W")" 0 "write errors over the whole run"
verify "$mp/data" "$n"
info "$n blocks written across a path failure, its return and a short outage of both: all verify"

# ---------------------------------------------------------------- all down past the bound
# healthy_cycle NAME: a volume on a healthy target attaches, is written and detaches
healthy_cycle() {
	local m
	m=$(mount_vol "$1" "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$HEALTHY\",\"lun\":0}")
	echo healthy >"$m/f"
	sync
	assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$1\"}")" '"Err":""' "Unmount $1"
}

W=$SCRATCH/w2.log
WRITER_STOP_ON_ERROR=1 writer "$mp/data2" "$W" "$SCRATCH/stop2" &
wpid=$!
wait_until 60 "the writer to get going" writes_over "$W" 5
mpnet_drop 1
mpnet_drop 2
info "both paths dropped, bound $BOUND s"
t_down=$(date +%s)
# meanwhile a healthy volume attaches and detaches normally
healthy_cycle hv_app-1
info "healthy volume attached and detached while every path of fo was down"
wait_until $((BOUND + 60)) "the writer to get an I/O error (queueing off past the bound)" \
	eval '[ "$(errors "$W")" -gt 0 ]'
info "writer got an I/O error $(($(date +%s) - t_down)) s after all paths went"
wait_until 30 "the writer to exit after its I/O error" eval '! kill -0 $wpid 2>/dev/null'
wait "$wpid" || true
queueing_is fo false || fail "attachctl says I/O still queues past the bound"
grep -q '"attachd.paths.queueing-off"' "$ARTIFACTS/attachd.log" || fail "no attachd.paths.queueing-off log line"

t0=$(date +%s)
healthy_cycle hv_app-2 &
hpid=$!
timeout 15 "${ATTACHCTL_BIN:-$REPO/bin/attachctl}" --admin-socket "$ATTACHD_ADMIN_SOCKET" detach fo --force ||
	fail "attachctl detach --force of a volume with every path dead did not finish within 15 s"
info "detach --force with every path dead: $(($(date +%s) - t0)) s"
wait "$hpid" || fail "the healthy volume's attach/detach failed during the dead volume's detach"
[ ! -e /dev/mapper/attachd-fo ] || fail "attachd-fo is left after detach --force"
no_session_to "$(mpnet_addr 1)" "$(mpnet_addr 2)" || fail "a session to the dead target is left"
findmnt -rn -S /dev/mapper/attachd-fo >/dev/null && fail "a mount of attachd-fo is left"
volman VolumeDriver.Unmount '{"Name":"fo_app-1"}' >/dev/null || true

# the same with Volman's Unmount (its umount syncs through the map: the bound makes it end)
mpnet_restore 1
mpnet_restore 2
mp=$(mount_vol fu_app-1 "$OPTS")
assert_eq "$(paths_col fu)" 2/2 "second volume: both paths"
echo before >"$mp/f"
sync
mpnet_drop 1
mpnet_drop 2
wait_until $((BOUND + 60)) "queueing off on fu past the bound" queueing_is fu false
echo dirty >"$mp/g" # dirty data the Unmount's umount has to fail to write
t0=$(date +%s)
out=$(VOLMAN_TIMEOUT=15 volman VolumeDriver.Unmount '{"Name":"fu_app-1"}') ||
	fail "Unmount of a volume with every path dead did not answer within 15 s"
assert_contains "$out" '"Err":""' "Unmount with every path dead"
info "Volman Unmount with every path dead: $(($(date +%s) - t0)) s"
[ ! -e /dev/mapper/attachd-fu ] || fail "attachd-fu is left after Unmount"
no_session_to "$(mpnet_addr 1)" "$(mpnet_addr 2)" || fail "a session to the dead target is left after Unmount"
mpnet_restore 1
mpnet_restore 2

# ---------------------------------------------------------------- a path down at attach time joins
mpnet_linkdown 1
mp=$(mount_vol fj_app-1 "$OPTS")
assert_eq "$(paths_col fj)" 1/1 "attach with path 1's portal down"
mpnet_linkup 1
wait_until 90 "path 1 to join once its portal is up" eval '[ "$(paths_col fj)" = 2/2 ]'
grep -q '"attachd.path.added"' "$ARTIFACTS/attachd.log" || fail "no attachd.path.added log line"
assert_eq "$(ls "/sys/block/$(basename "$(readlink -f /dev/mapper/attachd-fj)")/slaves" | wc -w)" 2 "paths under attachd-fj"
echo joined >"$mp/f"
sync
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"fj_app-1"}')" '"Err":""' "Unmount fj"

out=$(attachctl metrics)
info "$out"
assert_contains "$out" "reinstated" "attachctl metrics paths line"

stop_attachd
check_no_leftovers
