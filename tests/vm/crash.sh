# shellcheck shell=bash
# Helpers for the crash-recovery scenarios (20-22): run attachd with a test crash point
# (ATTACHD_TEST_FAULTS=1 ATTACHD_TEST_CRASH_AT=STEP:WHEN), let it die like kill -9, restart it
# without faults on the same state dir and check what it recovered. Sourced after lib.sh.

# The steps the agent has crash points at, in pipeline order.
CRASH_ATTACH_STEPS=(connect await-device verify dm-map probe-fs mkfs mount bind)
CRASH_DETACH_STEPS=(unbind umount dm-remove disconnect)

# crash_start POINT ARGS...: start attachd that will _exit(137) at POINT.
crash_start() {
	local point=$1
	shift
	export ATTACHD_TEST_FAULTS=1 ATTACHD_TEST_CRASH_AT=$point
	start_attachd "$@"
	unset ATTACHD_TEST_FAULTS ATTACHD_TEST_CRASH_AT
}

# crash_wait POINT: attachd must have died at its crash point with status 137.
crash_wait() {
	local rc=0 i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$ATTACHD_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$ATTACHD_PID" || rc=$?
	ATTACHD_PID=
	# A killed agent leaves its spec file: remove it so start_attachd waits for the new one.
	rm -f "$ATTACHD_DRIVER_FILE"
	echo "=== crashed at $1: exit status $rc" >>"$ARTIFACTS/attachd.log"
	assert_eq "$rc" 137 "attachd exit status at crash point $1"
}

# mount_name NAME: Mount (Create first, as Volman does) and print the mountpoint.
# Needs CREATE_OPTS (the Opts JSON).
mount_name() {
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$CREATE_OPTS}")
	assert_contains "$out" '"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}

unmount_name() {
	assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$1\"}")" '"Err":""' "Unmount $1"
}

# state_check: records are private (dir 0700, files 0600) and, with nothing attached, gone.
state_check() {
	local dir=$SCRATCH/state bad
	assert_eq "$(stat -c %a "$dir")" 700 "state dir mode"
	bad=$(find "$dir" -type f ! -perm 0600)
	[ -z "$bad" ] || fail "state files not 0600: $bad"
	if [ "${1:-}" = empty ]; then
		bad=$(find "$dir" -name '*.json')
		[ -z "$bad" ] || fail "records left with nothing attached: $bad ($(cat $bad))"
	fi
}

# crash_cycle POINT NAME DATAFILE SUM ARGS...: one crash point end to end.
#   attach steps: Create+Mount dies at POINT; restart; Unmount the name as the destroyed
#   container would (it may be unknown now); then a clean Mount (data intact) + Unmount.
#   detach steps: Create+Mount, Unmount dies at POINT; restart; Unmount again (may be
#   unknown now); then the same clean cycle.
#   Ends with check_no_leftovers and no records.
crash_cycle() {
	local point=$1 name=$2 file=$3 sum=$4 step=${1%%:*} mp out
	shift 4
	info "--- crash point $point"
	crash_start "$point" "$@"
	if [[ " ${CRASH_DETACH_STEPS[*]} " == *" $step "* ]]; then
		mp=$(mount_name "$name")
		volman VolumeDriver.Unmount "{\"Name\":\"$name\"}" >/dev/null 2>&1 || true
	else
		volman VolumeDriver.Create "{\"Name\":\"$name\",\"Opts\":$CREATE_OPTS}" >/dev/null
		volman VolumeDriver.Mount "{\"Name\":\"$name\"}" >/dev/null 2>&1 || true
	fi
	crash_wait "$point"
	start_attachd "$@"
	out=$(volman VolumeDriver.Unmount "{\"Name\":\"$name\"}")
	case $out in *'"Err":""'* | *"not found"*) ;; *) fail "Unmount after restart ($point): $out" ;; esac
	check_no_leftovers
	state_check empty
	mp=$(mount_name "$name")
	assert_eq "$(md5sum <"$mp/$file")" "$sum" "data after crash at $point"
	unmount_name "$name"
	stop_attachd
	check_no_leftovers
	state_check empty
}
