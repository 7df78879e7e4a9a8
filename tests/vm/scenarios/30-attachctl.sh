#!/bin/bash
# attachctl against a live agent with file and iSCSI (CHAP) volumes attached through Volman
# calls: preflight, admin socket perms, ls (table and --json), show, trace with step
# durations, detach refused while mounted, detach --force, metrics, doctor, then the BOSH
# drain hook (attachctl drain: spec file removed, the rest detached, new Mounts refused),
# nothing left; the CHAP secret never in attachctl output nor the agent log.
# timeout: 600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

iqn=iqn.2025-01.io.attachd.test:ctl
secret=ctl-s3cret-77x
lio_target_create "$iqn" --lun 0:64M --lun 1:48M --portal 127.0.0.1:3260 --chap ctluser "$secret" --acl
on_exit "lio_target_delete $iqn"

out=$(attachctl preflight) || fail "preflight failed in the VM: $out"
assert_contains "$out" "module dm-mod" "preflight"
assert_eq "$(attachctl --json preflight | jq -r '.ok')" true "preflight --json ok"
info "preflight: all good"

# BOSH pre-start: directories (private ones 0700), then preflight
ATTACHCTL=${ATTACHCTL_BIN:-$REPO/bin/attachctl} ATTACHD_RUN_DIR=$SCRATCH/bosh/run \
	ATTACHD_LOG_DIR=$SCRATCH/bosh/log ATTACHD_STATE_DIR=$SCRATCH/bosh/state \
	ATTACHD_MOUNT_ROOT=$SCRATCH/bosh/mnt ATTACHD_DRIVER_DIR=$SCRATCH/bosh/drivers \
	ATTACHD_FILE_DIR=$SCRATCH/bosh/files "$REPO/tools/bosh/pre-start" >"$SCRATCH/prestart.out" 2>&1 ||
	fail "BOSH pre-start failed: $(cat "$SCRATCH/prestart.out")"
assert_eq "$(stat -c %a "$SCRATCH/bosh/run") $(stat -c %a "$SCRATCH/bosh/state")" "700 700" "pre-start dir modes"

# probe: no agent needed; CHAP from the environment, never printed
url=iscsi://127.0.0.1:3260/$iqn/0
out=$(ATTACHCTL_CHAP_USER=ctluser ATTACHCTL_CHAP_SECRET=$secret attachctl probe "$url" 2>&1) ||
	fail "probe $url: $out"
echo "$out" | tee -a "$SCRATCH/probe.out"
assert_contains "$out" "64.0 MiB (67108864 bytes)" "probe size"
assert_contains "$out" "wwid:  naa." "probe wwid"
js=$(ATTACHCTL_CHAP_USER=ctluser ATTACHCTL_CHAP_SECRET=$secret attachctl --json probe "$url")
assert_eq "$(jq .size_bytes <<<"$js")" 67108864 "probe --json size"
rc=0
out=$(ATTACHCTL_CHAP_USER=ctluser ATTACHCTL_CHAP_SECRET=$secret attachctl probe "iscsi://127.0.0.1:3260/$iqn/7" 2>&1) || rc=$?
echo "$out" | tee -a "$SCRATCH/probe.out"
assert_eq "$rc" 1 "probe of a missing LUN: exit status"
rc=0
out=$(ATTACHCTL_CHAP_USER=ctluser ATTACHCTL_CHAP_SECRET=wrong-secret-1 attachctl probe "$url" 2>&1) || rc=$?
echo "$out" | tee -a "$SCRATCH/probe.out"
assert_eq "$rc" 1 "probe with a wrong CHAP secret: exit status"

mkdir -p "$SCRATCH/etc"
echo "{\"file\": {\"dir\": \"$SCRATCH/files\"}}" >"$SCRATCH/etc/attachd.json"
sock=$SCRATCH/run/admin/attachd.sock
start_attachd --config "$SCRATCH/etc/attachd.json" --admin-socket "$sock"
on_exit stop_attachd
assert_eq "$(stat -c '%a %U %F' "$sock")" "600 root socket" "admin socket mode/owner"
assert_eq "$(stat -c '%a' "$(dirname "$sock")")" 700 "admin socket directory mode"

ALL_OUT=$SCRATCH/attachctl-output.txt
ctl() { # attachctl, output kept for the secret check
	local rc=0
	attachctl "$@" >"$SCRATCH/ctl.out" 2>&1 || rc=$?
	cat "$SCRATCH/ctl.out" >>"$ALL_OUT"
	cat "$SCRATCH/ctl.out"
	return $rc
}
mount_vol() { # NAME OPTS -> mountpoint
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}")
	assert_contains "$out" '"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}
iscsi_opts() {
	echo "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":$1,\"chap_user\":\"ctluser\",\"chap_secret\":\"$secret\"}"
}

fmp=$(mount_vol fvol_app-1 '{"backend":"file","size":"64M"}')
imp=$(mount_vol ivol_app-2 "$(iscsi_opts 0)")
imp3=$(mount_vol ivol_app-3 "$(iscsi_opts 0)")
smp=$(mount_vol spare_app-4 "$(iscsi_opts 1)")
info "4 mounts: $fmp $imp $imp3 $smp"

# ls: table for people
out=$(ctl ls)
echo "$out"
assert_contains "$(head -1 <<<"$out")" "VOLUME" "ls header"
for col in BACKEND STATE DEVICE DM PATHS MOUNTS; do assert_contains "$(head -1 <<<"$out")" "$col" "ls header"; done
assert_eq "$(grep -c attached <<<"$out")" 3 "attached rows in ls"
grep -Eq '^ivol +iscsi +attached +ext4 +/dev/sd[a-z]+ +attachd-ivol +- +2$' <<<"$out" || fail "ls row of ivol: $out"
grep -Eq '^fvol +file +attached +ext4 +/dev/loop[0-9]+ +attachd-fvol +- +1$' <<<"$out" || fail "ls row of fvol: $out"
# ls --json for programs
js=$(ctl --json ls)
assert_eq "$(jq -r '.Err' <<<"$js")" "" "ls --json Err"
assert_eq "$(jq '.volumes | length' <<<"$js")" 3 "volumes in ls --json"
assert_eq "$(jq -r '.volumes[] | select(.volume == "ivol") | .dm' <<<"$js")" attachd-ivol "ivol dm"
assert_eq "$(jq -r '.volumes[] | select(.volume == "ivol") | .mounts | map(.name) | sort | join(",")' <<<"$js")" \
	"ivol_app-2,ivol_app-3" "ivol mount names"
assert_eq "$(jq -r '.volumes[] | select(.volume == "fvol") | .mounts[0].path' <<<"$js")" "$fmp" "fvol mount path"

# show, by key and by wire name
out=$(ctl show ivol)
assert_contains "$out" "backend:    iscsi" "show"
assert_contains "$out" "ivol_app-3" "show mounts"
assert_contains "$out" '"chap_secret":"REDACTED"' "show options"
out=$(ctl show spare_app-4)
assert_contains "$out" "volume:     spare" "show by wire name"
ctl show nothere >/dev/null && fail "show of an unknown volume succeeded"

# trace: the attach's steps with durations
out=$(ctl trace fvol)
echo "$out"
for step in connect dm-map mkfs mount bind total; do
	grep -Eq "^$step +[0-9.]+ (ms|s) " <<<"$out" || grep -Eq "^$step +[0-9.]+ (ms|s)" <<<"$out" || fail "trace lacks $step: $out"
done
assert_contains "$out" "formatted now" "trace of a fresh volume"
js=$(ctl --json trace ivol)
[ "$(jq '[.trace.steps[] | select(.ms >= 0)] | length' <<<"$js")" -ge 5 ] || fail "trace --json steps: $js"
assert_eq "$(jq -r '.trace.steps[] | select(.step == "connect") | .result' <<<"$js")" ok "connect result"

# detach refused while containers have it mounted
rc=0
out=$(ctl detach ivol) || rc=$?
assert_eq "$rc" 1 "detach of a mounted volume: exit status"
assert_contains "$out" "still mounted" "detach refusal"
mountpoint -q "$imp" || fail "$imp went away after a refused detach"
echo data >"$imp/still-there"

# detach --force
out=$(ctl detach ivol --force) || fail "detach --force: $out"
assert_contains "$out" "detached" "detach --force"
mountpoint -q "$imp" && fail "$imp still mounted after detach --force"
mountpoint -q "$imp3" && fail "$imp3 still mounted after detach --force"
test ! -e /dev/mapper/attachd-ivol || fail "attachd-ivol still there after detach --force"
assert_eq "$(ctl --json show ivol | jq -r '.volume.state')" detached "ivol state"
out=$(ctl detach ivol) || fail "detach of a detached volume: $out"
assert_contains "$out" "was not attached" "second detach"
assert_eq "$(find /sys/class/iscsi_session -mindepth 1 -maxdepth 1 | wc -l)" 1 "iSCSI session kept for spare (LUN 1)"

# metrics and doctor
out=$(ctl metrics)
echo "$out"
assert_contains "$out" "attaches  3 (0 failed)" "metrics attaches"
assert_contains "$out" "detaches  1 (0 failed)" "metrics detaches"
assert_eq "$(ctl --json metrics | jq '.metrics.steps.connect.count')" 3 "metrics connect count"
out=$(ctl doctor) || fail "doctor found problems: $out"
assert_contains "$out" "staging mount" "doctor"
# a container mount gone behind the agent's back: doctor names it and exits 1
umount "$smp"
rc=0
out=$(ctl doctor) || rc=$?
echo "$out"
assert_eq "$rc" 1 "doctor with a missing container mount: exit status"
assert_contains "$out" "container mount of spare_app-4 at $smp is missing" "doctor"
assert_contains "$out" "doctor: 1 problem" "doctor summary"

# drain through the BOSH hook: stdout is exactly "0"; the spec file goes; all detached
drain_out=$(ATTACHCTL=${ATTACHCTL_BIN:-$REPO/bin/attachctl} ATTACHD_ADMIN_SOCKET=$sock \
	ATTACHD_LOG_DIR=$SCRATCH/log "$REPO/tools/bosh/drain")
tee -a "$ALL_OUT" <"$SCRATCH/log/drain.log"
assert_eq "$drain_out" 0 "BOSH drain stdout"
test ! -e "$ATTACHD_DRIVER_FILE" || fail "driver spec file still there after drain"
assert_contains "$(cat "$SCRATCH/log/drain.log")" "fvol" "drain log"
for mp in "$fmp" "$smp"; do mountpoint -q "$mp" && fail "$mp still mounted after drain"; done
js=$(ctl --json ls)
assert_eq "$(jq '[.volumes[] | select(.state != "detached")] | length' <<<"$js")" 0 "volumes attached after drain"
kill -0 "$ATTACHD_PID" || fail "attachd exited on drain"
assert_contains "$(ctl ping)" "draining" "ping after drain"
out=$(volman VolumeDriver.Mount '{"Name":"fvol_app-9"}')
assert_contains "$out" "draining" "Mount while draining"
out=$(ctl --json drain) || fail "second drain: $out"
assert_eq "$(jq -r '[.results[].result] | unique | join(",")' <<<"$out")" not-attached "second drain results"
check_no_leftovers

# secrets
assert_not_contains "$(cat "$ALL_OUT" "$SCRATCH/probe.out")" "$secret" "attachctl output"
assert_not_contains "$(cat "$ARTIFACTS/attachd.log")" "$secret" "attachd log"

stop_attachd
test ! -e "$sock" || fail "admin socket left after stop"
check_no_leftovers
