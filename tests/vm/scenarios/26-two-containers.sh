#!/bin/bash
# Two container names for one iSCSI volume: two live mountpoints on ONE dm device over ONE
# iSCSI session; a file written by one container is read by the other; the first Unmount
# keeps the second mount working (I/O still reaches the device); the second detaches
# everything. A readonly volume gives read-only container mounts (writes fail with EROFS).
# timeout: 600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

client=$REPO/tests/vm/volman-client
iqn=iqn.2025-01.io.attachd.test:twocont
lio_target_create "$iqn" --lun 0:64M --lun 1:48M --portal 127.0.0.1:3260
on_exit "lio_target_delete $iqn"
start_attachd
on_exit stop_attachd

vc() { "$client" --driver-dir "${ATTACHD_DRIVER_FILE%/*}" --mount-root "$SCRATCH/mnt" "$@"; }
iscsi() { echo "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"$iqn\",\"lun\":$1${2-}}"; }
start() { # VOLUME_ID OPTS CONTAINER... -> "NAME MOUNTPOINT" lines
	local out
	out=$(vc start "$@") || fail "container start failed: $(grep -m1 '^FAIL' <<<"$out")"
	awk '$1 == "MOUNT" {print $2, $3}' <<<"$out"
}
stop() { # VOLUME_ID CONTAINER...
	local out
	out=$(vc stop "$@") || fail "container stop failed: $(grep -m1 '^FAIL' <<<"$out")"
}
mp_of() { awk -v n="$1" '$1 == n {print $2}' <<<"$2"; }
dms() { dmsetup ls --target linear 2>/dev/null | awk '$1 ~ /^attachd-/ {print $1}' | sort; }
sessions() { ls /sys/class/iscsi_session | wc -l; }

# --- two containers, one volume
m=$(start two_vol "$(iscsi 0)" web_1 worker_2)
mp1=$(mp_of two=vol_web=1 "$m")
mp2=$(mp_of two=vol_worker=2 "$m")
info "mounted at $mp1 and $mp2"
[ -n "$mp1" ] && [ -n "$mp2" ] && [ "$mp1" != "$mp2" ] || fail "expected two distinct mountpoints, got: $m"
mountpoint -q "$mp1" || fail "$mp1 is not a mountpoint"
mountpoint -q "$mp2" || fail "$mp2 is not a mountpoint"
assert_eq "$(dms)" attachd-two_vol "dm devices"
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp1")" /dev/mapper/attachd-two_vol "source of $mp1"
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp2")" /dev/mapper/attachd-two_vol "source of $mp2"
assert_eq "$(sessions)" 1 "iSCSI sessions"
assert_eq "$(grep -c '"message":"attachd.attach.finish"' "$ARTIFACTS/attachd.log")" 1 "attaches"

echo "from web" >"$mp1/shared.txt"
sync -f "$mp1/shared.txt"
assert_eq "$(cat "$mp2/shared.txt")" "from web" "file written by container 1, read by container 2"
echo "from worker" >"$mp2/back.txt"
assert_eq "$(cat "$mp1/back.txt")" "from worker" "file written by container 2, read by container 1"

# The first container stops: the second keeps a working mount on the same device.
stop two_vol web_1
! mountpoint -q "$mp1" || fail "$mp1 still mounted after its Unmount"
test ! -e "$mp1" || fail "$mp1 left behind"
mountpoint -q "$mp2" || fail "$mp2 lost when the other container stopped"
assert_eq "$(dms)" attachd-two_vol "dm device kept for the second container"
assert_eq "$(sessions)" 1 "session kept for the second container"
dd if=/dev/urandom of="$mp2/after.bin" bs=64K count=16 status=none conv=fsync
echo 3 >/proc/sys/vm/drop_caches
sum=$(md5sum <"$mp2/after.bin")
assert_eq "$(cat "$mp2/shared.txt")" "from web" "data in the second container after the first stopped"
assert_contains "$(volman VolumeDriver.List)" '"Name":"two=vol_worker=2"' "List"
assert_not_contains "$(volman VolumeDriver.List)" 'web=1' "List after the first Unmount"

# The second stops: everything goes.
stop two_vol worker_2
assert_eq "$(grep -c '"message":"attachd.detach.finish"' "$ARTIFACTS/attachd.log")" 1 "detaches"
check_no_leftovers
info "second Unmount detached everything"

# Data survives (a new container on the same volume sees it).
m=$(start two_vol "$(iscsi 0)" web_3)
mp3=$(mp_of two=vol_web=3 "$m")
assert_eq "$(md5sum <"$mp3/after.bin")" "$sum" "data after re-attach"
stop two_vol web_3
check_no_leftovers

# --- readonly: LUN 1 gets a filesystem and a file read-write first (a blank device is never
#     formatted read-only), then two containers mount it with readonly (bool and string).
m=$(start ro_vol "$(iscsi 1)" setup_0)
echo "written before readonly" >"$(mp_of ro=vol_setup=0 "$m")/ro.txt"
stop ro_vol setup_0
m=$(start ro_vol "$(iscsi 1 ',"readonly":true')" reader_1 reader_2)
for n in ro=vol_reader=1 ro=vol_reader=2; do
	mp=$(mp_of "$n" "$m")
	mountpoint -q "$mp" || fail "$mp is not a mountpoint"
	assert_contains ",$(findmnt -n -o OPTIONS --mountpoint "$mp")," ",ro," "options of $mp"
	assert_eq "$(cat "$mp/ro.txt")" "written before readonly" "readonly data in $mp"
	if err=$(touch "$mp/new" 2>&1); then fail "write to readonly $mp succeeded"; fi
	assert_contains "$err" "Read-only file system" "write to readonly $mp"
done
# readonly is a property of the volume: its staging mount is read-only too.
assert_contains ",$(findmnt -n -o OPTIONS --mountpoint "$SCRATCH/mnt/.staging/ro_vol")," ",ro," "staging mount options"
stop ro_vol reader_1 reader_2
check_no_leftovers
# The string form ("readonly":"true", as real bindings send it) means the same.
m=$(start ro_vol "$(iscsi 1 ',"readonly":"true"')" reader_3)
mp=$(mp_of ro=vol_reader=3 "$m")
if touch "$mp/new" 2>/dev/null; then fail "write to readonly (\"true\") $mp succeeded"; fi
stop ro_vol reader_3

stop_attachd
check_no_leftovers
