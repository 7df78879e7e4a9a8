#!/bin/bash
# Wrong IQN, missing LUN, unreachable portal and bad CHAP each fail with an Err naming the
# problem, within 30 s, leaving no session, node record, dm device or mount behind. The
# CHAP secret never appears in the agent's log or replies.
# timeout: 600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

iqn=iqn.2025-01.io.attachd.test:errors
lio_target_create "$iqn" --lun 0:64M --lun 1:64M --chap alice s3cret-alice-42 --acl
on_exit "lio_target_delete $iqn"
start_attachd
on_exit stop_attachd

attempt() { # NAME OPTS EXPECT...: Create+Mount must fail naming EXPECT within 30 s
	local name=$1 o=$2 out t0 ms
	shift 2
	t0=$(date +%s%N)
	out=$(volman VolumeDriver.Create "{\"Name\":\"$name\",\"Opts\":$o}")
	if [[ $out == *'"Err":""'* ]]; then
		out=$(volman VolumeDriver.Mount "{\"Name\":\"$name\"}")
	fi
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	info "$name: ${ms} ms: $out"
	assert_not_contains "$out" '"Err":""' "$name must fail"
	for e in "$@"; do assert_contains "$out" "$e" "$name error"; done
	assert_not_contains "$out" "s3cret" "$name reply"
	[ "$ms" -lt 30000 ] || fail "$name took ${ms} ms (limit 30 s)"
	check_no_leftovers
}

good='"backend":"iscsi","portal":"127.0.0.1:3260","chap_user":"alice","chap_secret":"s3cret-alice-42"'
attempt wrongiqn_a "{$good,\"iqn\":\"iqn.2025-01.io.attachd.test:nosuch\",\"lun\":0}" "iqn.2025-01.io.attachd.test:nosuch"
attempt nolun_a "{$good,\"iqn\":\"$iqn\",\"lun\":7}" "LUN 7"
attempt noportal_a "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3999\",\"iqn\":\"$iqn\",\"lun\":0}" "127.0.0.1:3999"
attempt badchap_a "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":0,\"chap_user\":\"alice\",\"chap_secret\":\"wrong-secret-1\"}" "CHAP"
attempt nochap_a "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":0}" "auth"

# Invalid options are refused at Create, all problems in one message, nothing touched.
out=$(volman VolumeDriver.Create '{"Name":"bad_a","Opts":{"backend":"iscsi","iqn":"not-an-iqn","lun":"x","colour":1}}')
info "bad options: $out"
assert_contains "$out" "iqn" "bad iqn named"
assert_contains "$out" "lun" "bad lun named"
assert_contains "$out" "colour" "unknown key named"

# The good credentials work, and the secret stays out of the log.
out=$(volman VolumeDriver.Create "{\"Name\":\"chapok_a\",\"Opts\":{$good,\"iqn\":\"$iqn\",\"lun\":1}}")
assert_contains "$out" '"Err":""' "Create with CHAP"
out=$(volman VolumeDriver.Mount '{"Name":"chapok_a"}')
assert_contains "$out" '"Err":""' "Mount with CHAP"

# attachd's session to the target is logged in now, with these credentials: another LUN of
# it mounts without any iSCSI login (no libiscsi probe, no kernel login), as the target
# counts them; its device still shows the LU's WWID.
logins() { cat "$VM_CONFIGFS/target/iscsi/$iqn/fabric_statistics/iscsi_login_stats/accepts"; }
l0=$(logins)
out=$(volman VolumeDriver.Create "{\"Name\":\"chapokb_a\",\"Opts\":{$good,\"iqn\":\"$iqn\",\"lun\":0}}")
assert_contains "$out" '"Err":""' "Create of a second LUN"
out=$(volman VolumeDriver.Mount '{"Name":"chapokb_a"}')
assert_contains "$out" '"Err":""' "Mount of a second LUN on the logged-in session"
l1=$(logins)
info "iSCSI logins accepted by the target for the second LUN: $((l1 - l0))"
[ "$l1" -eq "$l0" ] || fail "the second LUN of a logged-in target cost $((l1 - l0)) iSCSI logins (expected none)"

# With that session there, a volume it does not prove still gets the probe and its errors
# (other credentials, none, a LUN the target lacks), and leaves no SCSI device or session.
nsdev=$(ls /sys/class/scsi_device | wc -l)
nsess=$(ls /sys/class/iscsi_session | wc -l)
session_attempt() { # NAME OPTS EXPECT...
	local name=$1 o=$2 out
	shift 2
	out=$(volman VolumeDriver.Create "{\"Name\":\"$name\",\"Opts\":$o}")
	[[ $out != *'"Err":""'* ]] || out=$(volman VolumeDriver.Mount "{\"Name\":\"$name\"}")
	info "$name (session logged in): $out"
	assert_not_contains "$out" '"Err":""' "$name must fail"
	for e in "$@"; do assert_contains "$out" "$e" "$name error"; done
	assert_not_contains "$out" "s3cret" "$name reply"
	[ "$(ls /sys/class/scsi_device | wc -l)" -eq "$nsdev" ] || fail "$name left a SCSI device"
	[ "$(ls /sys/class/iscsi_session | wc -l)" -eq "$nsess" ] || fail "$name changed the sessions"
}
session_attempt nolunb_a "{$good,\"iqn\":\"$iqn\",\"lun\":7}" "LUN 7 not found" "target reports LUNs"
session_attempt badchapb_a "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":7,\"chap_user\":\"alice\",\"chap_secret\":\"wrong-secret-1\"}" "CHAP"
session_attempt nochapb_a "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":7}" "auth"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"chapokb_a"}')" '"Err":""' "Unmount of the second LUN"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"chapok_a"}')" '"Err":""' "Unmount with CHAP"

# udevd stuck (SIGSTOP) while a LUN attaches: the kernel presents the new SCSI disk, udev
# never finishes with it. The Mount fails at the device deadline saying that (not "the
# kernel did not present it") and where to look, and leaves nothing once udevd runs again.
out=$(volman VolumeDriver.Create "{\"Name\":\"stuck_a\",\"Opts\":{$good,\"iqn\":\"$iqn\",\"lun\":0}}")
assert_contains "$out" '"Err":""' "Create stuck_a"
pkill -STOP -x systemd-udevd
on_exit "pkill -CONT -x systemd-udevd || true"
out=$(volman VolumeDriver.Mount '{"Name":"stuck_a"}')
pkill -CONT -x systemd-udevd
info "Mount with udevd stopped: $out"
assert_contains "$out" "but udev had not finished with it within" "Mount with udevd stuck"
assert_contains "$out" "systemd-udevd's journal" "Mount with udevd stuck says where to look"
assert_not_contains "$out" "did not present" "Mount with udevd stuck"
udevadm settle -t 60 || true # udevd catches up before the objects are counted
check_no_leftovers
stop_attachd
if grep -q "s3cret-alice-42" "$ARTIFACTS/attachd.log"; then fail "CHAP secret found in the agent log"; fi
check_no_leftovers
