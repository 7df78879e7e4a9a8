#!/bin/bash
# Crash recovery on the file backend: attachd is killed (test crash point, _exit(137) like
# kill -9) before and after every attach and detach step; a restarted attachd (same boot,
# same state dir) must leave the kernel matching its records: the Unmount that Volman sends
# for the destroyed container works or says not found, nothing leaks (dm, loop, mounts),
# the data written first is intact, the volume is never formatted again, and records are
# private (0600 in a 0700 dir) and gone once nothing is attached. Also: the crash-point
# setting is refused without ATTACHD_TEST_FAULTS=1.
# timeout: 1500
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/crash.sh"

mkdir -p "$SCRATCH/etc"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"}}
JSON
cfg=(--config "$SCRATCH/etc/attachd.json")
on_exit stop_attachd

# Test-only settings need the explicit switch.
rc=0
ATTACHD_TEST_CRASH_AT=connect "${ATTACHD_BIN:-$REPO/bin/attachd}" "${cfg[@]}" \
	--state-dir "$SCRATCH/state" --mount-root "$SCRATCH/mnt" --driver-dir "$SCRATCH/drivers" \
	>"$SCRATCH/refused.log" 2>&1 || rc=$?
assert_eq "$rc" 2 "exit status with ATTACHD_TEST_CRASH_AT but no ATTACHD_TEST_FAULTS"
assert_contains "$(cat "$SCRATCH/refused.log")" "ATTACHD_TEST_FAULTS=1" "refusal message"

CREATE_OPTS='{"backend":"file","size":"64M"}'
name=vol1_app-1
start_attachd "${cfg[@]}"
mp=$(mount_name "$name")
dd if=/dev/urandom of="$mp/blob" bs=1M count=2 status=none
sum=$(md5sum <"$mp/blob")
sync
state_check
grep -q '"mounts":\[{"container":"app-1"' "$SCRATCH/state/vol1.json" || fail "record lacks the mount: $(cat "$SCRATCH/state/vol1.json")"
unmount_name "$name"
stop_attachd
check_no_leftovers
state_check empty

for step in "${CRASH_ATTACH_STEPS[@]}" "${CRASH_DETACH_STEPS[@]}"; do
	for when in before after; do
		crash_cycle "$step:$when" "$name" blob "$sum" "${cfg[@]}"
	done
done

n=$(grep '"formatted":true' "$ARTIFACTS/attachd.log" | grep -c '"volume":"vol1"' || true)
assert_eq "$n" 1 "attaches of vol1 that ran mkfs"

# mkfs on a blank volume interrupted before and after: the next attach ends with ext4 and
# nothing leaks; after a completed mkfs it is not formatted again.
CREATE_OPTS='{"backend":"file","size":"32M"}'
for when in before after; do
	crash_start "mkfs:$when" "${cfg[@]}"
	volman VolumeDriver.Create "{\"Name\":\"blank$when\",\"Opts\":$CREATE_OPTS}" >/dev/null
	volman VolumeDriver.Mount "{\"Name\":\"blank$when\"}" >/dev/null 2>&1 || true
	crash_wait "mkfs:$when"
	start_attachd "${cfg[@]}"
	check_no_leftovers
	mp=$(mount_name "blank$when")
	assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp")" ext4 "filesystem after mkfs:$when"
	unmount_name "blank$when"
	stop_attachd
	check_no_leftovers
	state_check empty
done
# The crash came right after mkfs (before its log line): the recovered volume holds ext4
# and no later attach formats it again.
n=$(grep '"formatted":true' "$ARTIFACTS/attachd.log" | grep -c '"volume":"blankafter"' || true)
assert_eq "$n" 0 "later attaches of blankafter that ran mkfs"
n=$(grep '"formatted":true' "$ARTIFACTS/attachd.log" | grep -c '"volume":"blankbefore"' || true)
assert_eq "$n" 1 "attaches of blankbefore that ran mkfs"
