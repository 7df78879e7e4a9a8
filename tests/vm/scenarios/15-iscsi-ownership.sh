#!/bin/bash
# iSCSI ownership (issue 7 §1): an admin's disk is never attachd's to delete. An admin logs
# in to target B with plain iscsiadm on iface default (LUN 0: the admin's disk). attachd's
# volume on target A gets a record whose H:C:T:L (and session, host) is rewritten to name
# the admin's LUN, then replayed: (a) a detach cut by kill -9 and finished by the restarted
# attachd, (b) after a faked reboot (new boot ID) with the volume mounted. Each time the
# admin's disk and session survive and attachd's own session, node record and dm device
# are gone. (c) A volume on target B itself (LUN 1) gets a second session on iface attachd
# beside the admin's, and its detach leaves the admin's session and disk alone.
# timeout: 900
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/crash.sh"

portal=127.0.0.1:3260
A=iqn.2025-01.io.attachd.test:own-a
B=iqn.2025-01.io.attachd.test:own-b
lio_target_create "$A" --lun 0:32M --portal "$portal"
on_exit "lio_target_delete $A"
lio_target_create "$B" --lun 0:16M --lun 1:32M --portal "$portal"
on_exit "lio_target_delete $B"
on_exit stop_attachd

# sessions IFACE IQN: the session numbers of IQN on that iface
sessions() {
	local s
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s" ] || continue
		[ "$(cat "$s/ifacename")" = "$1" ] && [ "$(cat "$s/targetname")" = "$2" ] &&
			echo "${s##*session}"
	done
	return 0
}

# --- the admin: plain iscsiadm on iface default, a record with a portal group tag (as
# discovery makes it), manual scan of LUN 0 only
admin() { iscsiadm -m node -T "$B" -p "$portal" -I default "$@"; }
iscsiadm -m node -T "$B" -p "$portal,1" -I default -o new >/dev/null
admin -o update -n node.startup -v manual
admin -o update -n node.session.scan -v manual
admin --login >/dev/null
on_exit "iscsiadm -m node -T $B -p $portal -I default --logout >/dev/null 2>&1 || true; iscsiadm -m node -T $B -p $portal -I default -o delete >/dev/null 2>&1 || true"
asid=$(sessions default "$B")
[ -n "$asid" ] || fail "the admin's session to $B is missing"
ahost=$(basename "$(dirname "$(readlink -f "/sys/class/iscsi_session/session$asid/device")")")
ahost=${ahost#host}
echo "0 0 0" >"/sys/class/scsi_host/host$ahost/scan"
ahctl=$ahost:0:0:0
wait_until 30 "the admin's disk" ls "/sys/class/scsi_device/$ahctl/device/block/"
adisk=$(ls "/sys/class/scsi_device/$ahctl/device/block/")
awwid=$(cat "/sys/block/$adisk/device/wwid")
info "admin: session $asid on host $ahost, disk $adisk ($ahctl, $awwid)"

admin_survives() { # WHAT
	[ -e "/sys/block/$adisk" ] || fail "$1: the admin's disk $adisk is gone"
	[ -e "/sys/class/scsi_device/$ahctl" ] || fail "$1: the admin's SCSI device $ahctl is gone"
	assert_eq "$(cat "/sys/block/$adisk/device/wwid")" "$awwid" "$1: WWID of the admin's disk"
	assert_eq "$(sessions default "$B")" "$asid" "$1: the admin's session"
	iscsiadm -m session | grep -q "\[$asid\] .*$B" || fail "$1: iscsiadm no longer lists session $asid"
	dd if="/dev/$adisk" of=/dev/null bs=4k count=1 iflag=direct status=none ||
		fail "$1: the admin's disk does not answer"
	[ -e "/etc/iscsi/nodes/$B/127.0.0.1,3260,1/default" ] || fail "$1: the admin's node record is gone"
}

ours_gone() { # WHAT: nothing of attachd's left (its iface, its dm devices)
	local s f
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s" ] || continue
		[ "$(cat "$s/ifacename")" != attachd ] || fail "$1: attachd's session ${s##*/} ($(cat "$s/targetname")) is left"
	done
	f=$(find /etc/iscsi/nodes -path '*/attachd' -o -name '*,3260' -type f 2>/dev/null | grep -v "/$B/" || true)
	[ -z "$f" ] || fail "$1: attachd's node record(s) left: $f"
	[ ! -e "/etc/iscsi/nodes/$B/127.0.0.1,3260,1/attachd" ] || fail "$1: attachd's node record for $B is left"
	[ -z "$(dmsetup ls | grep '^attachd-' || true)" ] || fail "$1: attachd's dm device is left: $(dmsetup ls)"
}

# point_at_admin KEY: rewrite KEY's record (attachd stopped) so that its H:C:T:L, host and
# session name the admin's LUN
point_at_admin() {
	local f=$SCRATCH/state/$1.json
	[ -e "$f" ] || fail "no record $f"
	jq --arg h "$ahctl" --argjson host "$ahost" --argjson s "$asid" \
		'.volume.objs.paths[0].hctl = $h | .volume.objs.paths[0].host = $host | .volume.objs.paths[0].session = $s' \
		"$f" >"$f.new"
	cat "$f.new" >"$f" && rm -f "$f.new"
	assert_eq "$(jq -r '.volume.objs.paths[0].hctl' "$f")" "$ahctl" "crafted record"
	info "record $1 now names $ahctl: $(jq -c '.volume.objs' "$f")"
}

CREATE_OPTS="{\"backend\":\"iscsi\",\"portal\":\"$portal\",\"iqn\":\"$A\",\"lun\":0}"

# --- (a) kill -9 during the detach, record crafted, the restarted attachd finishes it
crash_start disconnect:before
mp=$(mount_name avol_app-1)
echo data >"$mp/f"
[ -n "$(sessions attachd "$A")" ] || fail "attachd has no session to $A"
grep -q '"wwid":"naa\.' "$SCRATCH/state/avol.json" || fail "the record has no WWID: $(cat "$SCRATCH/state/avol.json")"
volman VolumeDriver.Unmount '{"Name":"avol_app-1"}' >/dev/null 2>&1 || true
crash_wait disconnect:before
point_at_admin avol
start_attachd
grep -q '"action":"detach"' "$ARTIFACTS/attachd.log" || fail "the restarted attachd did not replay the detach"
admin_survives "after kill -9 and restart"
ours_gone "after kill -9 and restart"
state_check empty
stop_attachd

# --- (b) a faked reboot with the volume mounted: the new boot cleans up from the record
echo "11111111-2222-3333-4444-555555555555" >"$SCRATCH/boot_id"
export ATTACHD_TEST_FAULTS=1 ATTACHD_TEST_BOOT_ID_FILE=$SCRATCH/boot_id
start_attachd
mp=$(mount_name avol_app-2)
cat "$mp/f" >/dev/null
kill -KILL "$ATTACHD_PID"
wait "$ATTACHD_PID" 2>/dev/null || true
ATTACHD_PID=
rm -f "$ATTACHD_DRIVER_FILE"
point_at_admin avol
echo "66666666-7777-8888-9999-000000000000" >"$SCRATCH/boot_id"
start_attachd
grep -q '"action":"cleanup"' "$ARTIFACTS/attachd.log" || fail "the new boot did not clean up"
admin_survives "after the faked reboot"
ours_gone "after the faked reboot"
state_check empty
stop_attachd
unset ATTACHD_TEST_FAULTS ATTACHD_TEST_BOOT_ID_FILE

# --- (c) a volume on the admin's target: its own session beside the admin's
start_attachd
CREATE_OPTS="{\"backend\":\"iscsi\",\"portal\":\"$portal\",\"iqn\":\"$B\",\"lun\":1}"
mp=$(mount_name bvol_app-1)
echo b >"$mp/f"
osid=$(sessions attachd "$B")
[ -n "$osid" ] || fail "attachd reused the admin's session instead of making its own"
[ "$osid" != "$asid" ] || fail "attachd's session is the admin's"
assert_eq "$(iscsiadm -m session | grep -c "$B")" 2 "sessions to $B (the admin's and attachd's)"
[ -e "/etc/iscsi/nodes/$B/127.0.0.1,3260,1/attachd" ] || fail "attachd's record for $B is not beside the admin's: $(find /etc/iscsi/nodes)"
unmount_name bvol_app-1
admin_survives "after a detach from the admin's target"
ours_gone "after a detach from the admin's target"
state_check empty
stop_attachd

# --- the admin leaves; nothing else is left
admin --logout >/dev/null
admin -o delete
check_no_leftovers
