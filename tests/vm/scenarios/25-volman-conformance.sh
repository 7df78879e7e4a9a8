#!/bin/bash
# Volman conformance: tests/vm/volman-client replays Volman's exact client behaviour (driver
# spec discovery, headerless keep-alive POSTs, empty Activate/List bodies, Activate polled in
# the background, Create before every Mount, <volume_id>_<container_guid> names with '_'
# written as '=', concurrent container starts and stops, SafeError parsing) against iSCSI
# and file volumes. A "rep" killed -9 with containers mounted leaves orphans; the next rep's
# startup purge (List + Unmount of each name) cleans every one of them.
# timeout: 420
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

client=$REPO/tests/vm/volman-client
iqn=iqn.2025-01.io.attachd.test:conformance
lio_target_create "$iqn" --lun 0:64M --lun 1:48M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn"
mkdir -p "$SCRATCH/etc"
echo "{\"file\": {\"dir\": \"$SCRATCH/files\"}}" >"$SCRATCH/etc/attachd.json"
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd

vcargs=(--driver-dir "${ATTACHD_DRIVER_FILE%/*}" --mount-root "$SCRATCH/mnt" --activate-every 1)
iscsi() { echo "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":$1}"; }
file='{"backend":"file","size":"32M"}'
vc() { "$client" "${vcargs[@]}" "$@"; }

# 1. A rep starts two containers on each of two volumes, then dies with them (kill -9):
#    its containers' mounts stay, as on a cell whose rep crashed.
"$client" "${vcargs[@]}" hold conf_iscsi_0 "$(iscsi 0)" app_a-1 app_b-2 >"$SCRATCH/rep1-iscsi.log" 2>&1 &
p1=$!
"$client" "${vcargs[@]}" hold conf_file_0 "$file" app_a-1 app_b-2 >"$SCRATCH/rep1-file.log" 2>&1 &
p2=$!
on_exit "kill -9 $p1 $p2 2>/dev/null || true"
ready() { grep -q '^READY' "$1" || { ! kill -0 "$2" 2>/dev/null && return 0; false; }; }
wait_until 120 "the first rep's containers to start" ready "$SCRATCH/rep1-iscsi.log" "$p1"
wait_until 120 "the first rep's containers to start" ready "$SCRATCH/rep1-file.log" "$p2"
cat "$SCRATCH"/rep1-*.log
grep -q '^READY' "$SCRATCH/rep1-iscsi.log" || fail "first rep (iSCSI) did not start its containers"
grep -q '^READY' "$SCRATCH/rep1-file.log" || fail "first rep (file) did not start its containers"
if grep -h '^FAIL' "$SCRATCH"/rep1-*.log; then fail "first rep: $(grep -h '^FAIL' "$SCRATCH"/rep1-*.log | head -1)"; fi
kill -9 "$p1" "$p2"
wait "$p1" "$p2" 2>/dev/null || true
mps=$(awk '$1 == "MOUNT" {print $3}' "$SCRATCH"/rep1-*.log)
assert_eq "$(wc -l <<<"$mps")" 4 "mountpoints left by the killed rep"
for mp in $mps; do mountpoint -q "$mp" || fail "orphan $mp is not mounted"; done
# Names as Volman encodes them: '_' inside a part is '='.
listed=$(volman VolumeDriver.List)
for n in conf=iscsi=0_app=a-1 conf=iscsi=0_app=b-2 conf=file=0_app=a-1 conf=file=0_app=b-2; do
	assert_contains "$listed" "\"Name\":\"$n\"" "List of the orphans"
done
info "killed rep left 4 orphan mounts on 2 volumes"

# 2. The next rep purges at startup: List, Unmount of each listed name. Nothing remains.
vc purge || fail "purge reported a failure"
for mp in $mps; do ! mountpoint -q "$mp" || fail "$mp still mounted after the purge"; done
assert_contains "$(volman VolumeDriver.List)" '"Volumes":[]' "List after the purge"
check_no_leftovers
info "startup purge cleaned every orphan"

# 3. The whole replay: discovery, purge, concurrent starts of 2 containers on each of three
#    volumes (two LUNs of one target, one file), shared data, List, errors, concurrent stops.
vc conformance --containers 2 --volume "conf_iscsi_0=$(iscsi 0)" \
	--volume "conf_iscsi_1=$(iscsi 1)" --volume "conf_file_1=$file" |
	tee "$ARTIFACTS/conformance.log"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "volman-client conformance: $(grep -m1 '^FAIL' "$ARTIFACTS/conformance.log" || echo "exit $rc")"
check_no_leftovers

# 4. Replies straight from the agent, as Volman reads them.
out=$(volman VolumeDriver.Unmount '{"Name":"nosuch=vol_app=x-1"}')
assert_contains "$out" "not found" "Unmount of an unknown name"
stop_attachd
test ! -e "$ATTACHD_DRIVER_FILE" || fail "driver spec file left after SIGTERM"
check_no_leftovers
