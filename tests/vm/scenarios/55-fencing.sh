#!/bin/bash
# One writer per volume (issue 9): two attachd instances A and B in one VM act as two hosts
# (own iscsi.iface, iscsi.initiator_name, fencing.key, state/mount/driver dirs, ports, admin
# sockets) on one LIO LUN whose ACLs admit both initiators (LIO does SPC-3 PR). A holds it
# read-write (Write Exclusive - Registrants Only, through its dm map); B's read-write Mount
# is refused naming A's IQN and leaves nothing behind; B's read-only Mount reads A's data.
# attachctl takeover on B (and, separately, Create takeover:true): B mounts read-write, A's
# next writes fail with EIO and never reach the LUN (the LUN's checksum is B's content),
# A's Unmount still cleans up. A normal detach leaves no keys (READ KEYS) and the other
# agent attaches without takeover. kill -9 + restart of the holder: still held, and says so
# (and the host that lost it says LOST);
# a faked reboot (agent killed, mounts/dm/session gone by hand, new boot ID): the stale
# registration does not block re-attaching. nvmet (no PR on 6.1): attach works unfenced
# with the note; fencing: required is refused and leaves nothing.
# timeout: 1500
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

IQN=iqn.2025-01.io.attachd.test:fence
PORTAL=127.0.0.1:3260
INI_A=iqn.2025-01.io.attachd:host-a
INI_B=iqn.2025-01.io.attachd:host-b
KEY_A=aaaaaaaaaaaaaaa1
KEY_B=bbbbbbbbbbbbbbb2
NQN=nqn.2025-01.io.attachd.test:fence-nopr

# The kernel's PR ioctls register with APTPL set (sd.c), and LIO then writes the
# registrations under its db_root (/var/target/pr): it must exist, or REGISTER fails.
if [ ! -d /var/target/pr ]; then
	mkdir -p /var/target/pr
	on_exit "rm -rf /var/target"
fi
lio_target_create "$IQN" --lun 0:64M --portal "$PORTAL" --acl "$INI_A"
on_exit "lio_target_delete $IQN"
# B's ACL on the same LUN
tpg=$VM_LIO/iscsi/$IQN/tpgt_1
mkdir -p "$tpg/acls/$INI_B/lun_0"
ln -s "$tpg/lun/lun_0" "$tpg/acls/$INI_B/lun_0/map"
echo 0 >"$tpg/acls/$INI_B/lun_0/write_protect"
LUN_FILE=$(lio_lun_file "$IQN" 0)

# --- the two agents
declare -A PID LISTEN SOCK DRV
for h in A B; do
	d=$SCRATCH/host-$h
	mkdir -p "$d/etc"
	ini=INI_$h key=KEY_$h
	lower=$(tr A-Z a-z <<<"$h")
	cat >"$d/etc/attachd.json" <<JSON
{"iscsi": {"iface": "attachd-$lower", "initiator_name": "${!ini}"},
 "fencing": {"key": "${!key}"}}
JSON
done
LISTEN[A]=127.0.0.1:7611 LISTEN[B]=127.0.0.1:7612

start_host() { # A|B [extra env is the caller's]
	local h=$1 d=$SCRATCH/host-$1
	ATTACHD_PID=
	start_attachd --config "$d/etc/attachd.json" --listen "${LISTEN[$h]}" \
		--admin-socket "$d/admin.sock" --state-dir "$d/state" --mount-root "$d/mnt" \
		--driver-dir "$d/drivers" --driver-name "attachd-$h"
	PID[$h]=$ATTACHD_PID SOCK[$h]=$ATTACHD_ADMIN_SOCKET DRV[$h]=$ATTACHD_DRIVER_FILE
}
use() { # A|B: volman/attachctl/stop_attachd talk to that agent
	ATTACHD_PID=${PID[$1]} ATTACHD_LISTEN=${LISTEN[$1]} ATTACHD_ADMIN_SOCKET=${SOCK[$1]}
	ATTACHD_DRIVER_FILE=${DRV[$1]}
}
stop_host() { use "$1"; stop_attachd; PID[$1]=; }
kill9_host() {
	use "$1"
	kill -KILL "$ATTACHD_PID"
	wait "$ATTACHD_PID" 2>/dev/null || true
	ATTACHD_PID= PID[$1]=
	rm -f "${DRV[$1]}"
}
on_exit 'for h in A B; do [ -z "${PID[$h]:-}" ] || { use $h; stop_attachd || true; }; done'
start_host A
start_host B

iscsi_opts() { # [EXTRA_JSON_MEMBERS]
	printf '{"backend":"iscsi","portal":"%s","iqn":"%s","lun":0%s}' "$PORTAL" "$IQN" "${1:+,$1}"
}
create() { # NAME OPTS
	assert_contains "$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}")" '"Err":""' "Create $1 on $H"
}
mount_ok() { # NAME -> mountpoint
	local out
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1 on $H"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}
unmount_ok() {
	assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$1\"}")" '"Err":""' "Unmount $1 on $H"
}
on() { H=$1; use "$1"; }

# sessions IFACE: our sessions to the target on that iface
sessions() {
	local s
	for s in /sys/class/iscsi_session/session*; do
		[ -e "$s" ] || continue
		[ "$(cat "$s/ifacename")" = "$1" ] && [ "$(cat "$s/targetname")" = "$IQN" ] &&
			echo "${s##*session}"
	done
	return 0
}
# disk_of DM: the SCSI disk under a dm device
disk_of() { echo "/dev/$(ls "/sys/block/$(basename "$(readlink -f "/dev/mapper/$1")")/slaves")"; }
pr_keys() { sg_persist -n -i -k -d "$1" 2>&1; }
pr_resv() { sg_persist -n -i -r -d "$1" 2>&1; }
pr_full() { sg_persist -n -i -s -d "$1" 2>&1; }
# host_clean H VOLKEY: nothing of that volume is left on that agent
host_clean() {
	local h=$1 lower
	lower=$(tr A-Z a-z <<<"$h")
	! dmsetup info "attachd-$2" >/dev/null 2>&1 || fail "$h: dm device attachd-$2 is left"
	[ -z "$(sessions "attachd-$lower")" ] || fail "$h: a session on iface attachd-$lower is left"
	[ -z "$(vm_mounts_under "$SCRATCH/host-$h/mnt")" ] || fail "$h: mounts left: $(vm_mounts_under "$SCRATCH/host-$h/mnt")"
	[ ! -e "$SCRATCH/host-$h/state/$2.json" ] || fail "$h: record of $2 is left"
}

# === A attaches read-write and writes
on A
create vA "$(iscsi_opts)"
mpA=$(mount_ok vA_app-a)
head -c 1M /dev/urandom >"$mpA/a.dat"
sum_a=$(sha256sum <"$mpA/a.dat")
# checkpoint the journal so a reader that never replays it (noload) sees the file
sync; fsfreeze -f "$mpA"; fsfreeze -u "$mpA"
show=$(attachctl show vA)
info "A show: $show"
assert_contains "$show" "fencing:    held with key 0x$KEY_A" "A's show"
assert_eq "$(attachctl --json show vA | jq -r '.volume.fencing | "\(.status) \(.key)"')" \
	"held 0x$KEY_A" "A's show --json"
assert_contains "$(attachctl trace vA)" "fence" "A's trace names the fence step"
diskA=$(disk_of attachd-vA)
# PR IN works through the dm map (SG_IO passed down by dm-linear), and the target agrees
assert_contains "$(pr_keys /dev/mapper/attachd-vA)" "0x$KEY_A" "READ KEYS through A's dm map"
resv=$(pr_resv "$diskA")
info "reservation: $resv"
assert_contains "$resv" "Key=0x$KEY_A" "A holds the reservation"
assert_contains "$resv" "Write Exclusive, registrants only" "reservation type"

# === B: read-write refused naming A's initiator, nothing left behind
on B
create vB "$(iscsi_opts)"
out=$(volman VolumeDriver.Mount '{"Name":"vB_app-b"}')
info "B's refused Mount: $out"
assert_contains "$out" "SafeDescription" "the refusal is a SafeError (for the app developer)"
assert_contains "$out" "$INI_A" "the refusal names A's initiator"
assert_contains "$out" "attachctl takeover vB" "the refusal says how to take over"
host_clean B vB
assert_contains "$(pr_resv "$diskA")" "Key=0x$KEY_A" "A still holds after B's refusal"
assert_not_contains "$(pr_keys "$diskA")" "0x$KEY_B" "B left no registration"
grep -q '"attachd.attach.failed"' "$ARTIFACTS/attachd.log" || fail "B's refused attach is not logged"

# === B: read-only works and reads A's data; registers nothing
create vBro "$(iscsi_opts '"readonly":true')"
mpR=$(mount_ok vBro_app-r)
assert_eq "$(sha256sum <"$mpR/a.dat")" "$sum_a" "B reads A's data read-only"
assert_contains "$(attachctl show vBro)" "fencing:    read-only" "B's read-only show"
assert_not_contains "$(pr_keys "$diskA")" "0x$KEY_B" "a reader registers nothing"
unmount_ok vBro_app-r
host_clean B vBro

# === takeover through attachctl on B
echo "attachd-vm: 55-fencing takeover of vB" >/dev/kmsg # the kernel's lines after it are about the takeover
out=$(attachctl takeover vB)
info "takeover: $out"
assert_contains "$out" "armed" "attachctl takeover on a volume not attached here"
mpB=$(mount_ok vB_app-b)
grep '"attachd.fence.takeover"' "$ARTIFACTS/attachd.log" | grep -q "$INI_A" ||
	fail "no loud takeover event naming A's initiator in the log"
assert_contains "$(attachctl show vB)" "fencing:    held with key 0x$KEY_B" "B's show after the takeover"
diskB=$(disk_of attachd-vB)
keys=$(pr_keys "$diskB")
assert_contains "$keys" "0x$KEY_B" "B registered"
assert_not_contains "$keys" "0x$KEY_A" "A's registration was preempted"
assert_contains "$(pr_resv "$diskB")" "Key=0x$KEY_B" "B holds the reservation"
head -c 1M /dev/urandom >"$mpB/b.dat"
sum_b=$(sha256sum <"$mpB/b.dat")
sync
# hold B's filesystem still (no lazy init, no journal) while A tries to write
fsfreeze -f "$mpB"
on_exit "fsfreeze -u $mpB 2>/dev/null || true"
lun_before=$(sha256sum <"$LUN_FILE")

on A
rc=0
out=$(yes A-LATE-WRITE-7f3c | head -c 256K | dd of="$mpA/late.txt" bs=64k conv=fsync 2>&1) || rc=$?
info "A's late write: rc=$rc $out"
[ "$rc" -ne 0 ] || fail "A's write after the takeover succeeded"
# The write fails with EIO, or, when A's own journal commit hit the fence first (jbd2 writes
# back A's earlier metadata every few seconds), ext4 has aborted and A's filesystem is
# read-only already. Either way the kernel must say why: the target refused A's writes.
case "$out" in
*"Input/output error"*) ;;
*"Read-only file system"*)
	dmA=$(basename "$(readlink -f /dev/mapper/attachd-vA)")
	kern=$(dmesg | sed -n '/attachd-vm: 55-fencing takeover of vB/,$p')
	ext4A=$(grep -E "EXT4-fs.*[( ]$dmA\)|Aborting journal on device $dmA-" <<<"$kern" |
		grep -Ei "error|abort|read-only" || true)
	info "A's filesystem was read-only already; kernel: $(grep "reservation conflict" <<<"$kern" | tail -2) $ext4A"
	assert_contains "$kern" "reservation conflict" "the kernel log after A's write was refused"
	[ -n "$ext4A" ] || fail "A's filesystem is read-only but the kernel logged no ext4 error or abort on $dmA"
	;;
*) fail "A's late write fails with EIO (or EROFS after ext4 aborted on the fence); it is: $out" ;;
esac
rc=0
out=$(yes A-RAW-WRITE-91ab | head -c 4096 | dd of=/dev/mapper/attachd-vA bs=4096 seek=15000 count=1 oflag=direct 2>&1) || rc=$?
info "A's raw write: rc=$rc $out"
[ "$rc" -ne 0 ] || fail "A's raw write to its dm device after the takeover succeeded"
unmount_ok vA_app-a
host_clean A vA
lun_after=$(sha256sum <"$LUN_FILE")
assert_eq "$lun_after" "$lun_before" "the LUN after A's attempts (B's content)"
! grep -q -a 'A-LATE-WRITE-7f3c\|A-RAW-WRITE-91ab' "$LUN_FILE" || fail "A's late writes reached the LUN"
on B
fsfreeze -u "$mpB"
assert_eq "$(sha256sum <"$mpB/b.dat")" "$sum_b" "B's data"

# === B detaches normally: no keys, no reservation; A attaches read-write without takeover
unmount_ok vB_app-b
host_clean B vB
on A
create vAro "$(iscsi_opts '"readonly":true')"
mount_ok vAro_app-r >/dev/null
d=$(disk_of attachd-vAro)
assert_contains "$(pr_keys "$d")" "NO registered reservation keys" "READ KEYS after B's detach"
assert_contains "$(pr_resv "$d")" "NO reservation" "READ RESERVATION after B's detach"
unmount_ok vAro_app-r
mpA=$(mount_ok vA_app-a)
assert_eq "$(sha256sum <"$mpA/b.dat")" "$sum_b" "A reads B's data after attaching without takeover"
echo a2 >"$mpA/a2.txt"; sync
assert_contains "$(attachctl show vA)" "fencing:    held with key 0x$KEY_A" "A holds again"

# === Create takeover:true on B
on B
create vBt "$(iscsi_opts '"takeover":true')"
mpB=$(mount_ok vBt_app-t)
grep '"attachd.fence.takeover"' "$ARTIFACTS/attachd.log" | grep '"vBt"' | grep -q "Create option takeover" ||
	fail "no takeover event for the Create option"
assert_contains "$(pr_resv "$(disk_of attachd-vBt)")" "Key=0x$KEY_B" "B holds after Create takeover:true"
n=$(attachctl --json metrics | jq .metrics.fencing.takeover)
[ "$n" -ge 1 ] 2>/dev/null || fail "B's attachctl metrics count no takeover: $n"
assert_contains "$(attachctl metrics)" "taken over" "B's attachctl metrics fencing line"
# A, restarted now (kill -9), re-checks what its record says: the reservation is lost
kill9_host A
start_host A
on A
grep '"attachd.fence.lost"' "$ARTIFACTS/attachd.log" | grep '"vA"' | grep -q "$INI_B" ||
	fail "the restarted A did not report its lost reservation (naming B)"
show=$(attachctl show vA)
info "A show after losing it: $show"
assert_contains "$show" "fencing:    LOST (key 0x$KEY_A)" "A's show after the takeover"
assert_eq "$(attachctl --json show vA | jq -r .volume.fencing.status)" lost "A's show --json after the takeover"
assert_eq "$(attachctl --json metrics | jq .metrics.fencing.lost)" 1 "A's metrics count the lost reservation"
rc=0
out=$(echo late >"$mpA/late2.txt" && sync -f "$mpA/late2.txt" 2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "A's write after the second takeover succeeded"
unmount_ok vA_app-a
host_clean A vA

# === kill -9 of the holder (B) and restart: still held, and says so
kill9_host B
start_host B
on B
grep '"attachd.fence.held"' "$ARTIFACTS/attachd.log" | grep -q '"vBt"' ||
	fail "the restarted holder did not re-check its reservation"
assert_contains "$(attachctl show vBt)" "fencing:    held with key 0x$KEY_B" "B's show after kill -9 and restart"
[ -f "$mpB/b.dat" ] || fail "B's mount is gone after the restart"

# === faked reboot of B: agent killed, mounts, dm and session gone by hand, new boot ID
kill9_host B
umount -l "$mpB"
umount "$SCRATCH/host-B/mnt/.staging/vBt"
dmsetup remove attachd-vBt
iscsiadm -m node -T "$IQN" -p "$PORTAL" -I attachd-b -u >/dev/null
echo "55555555-aaaa-bbbb-cccc-000000000055" >"$SCRATCH/boot_id"
ATTACHD_TEST_FAULTS=1 ATTACHD_TEST_BOOT_ID_FILE=$SCRATCH/boot_id start_host B
grep '"attachd.recover.volume"' "$ARTIFACTS/attachd.log" | grep '"vBt"' | grep -q '"action":"cleanup"' ||
	fail "the restarted B did not clean up after the faked reboot"
# B's reservation (through its old session) is still on the target: A is refused
on A
# (A was restarted since: definitions of volumes not attached then are Created again, as
# Volman does before every Mount)
create vA "$(iscsi_opts)"
out=$(volman VolumeDriver.Mount '{"Name":"vA_app-a"}')
assert_contains "$out" "$INI_B" "A refused while B's stale reservation holds"
host_clean A vA
create vAro "$(iscsi_opts '"readonly":true')"
mount_ok vAro_app-r >/dev/null
d=$(disk_of attachd-vAro)
assert_contains "$(pr_resv "$d")" "Key=0x$KEY_B" "B's reservation survived its faked reboot"
on B
create vB "$(iscsi_opts)"
mpB=$(mount_ok vB_app-b)
assert_eq "$(sha256sum <"$mpB/b.dat")" "$sum_b" "B re-attached its own volume after the reboot"
assert_contains "$(attachctl show vB)" "fencing:    held with key 0x$KEY_B" "B holds after the reboot"
unmount_ok vB_app-b
host_clean B vB
on A
d=$(disk_of attachd-vAro)
assert_contains "$(pr_keys "$d")" "NO registered reservation keys" "no stale keys after B's detach"
assert_contains "$(pr_resv "$d")" "NO reservation" "no stale reservation after B's detach"
unmount_ok vAro_app-r
host_clean A vAro

# === a target without persistent reservations (nvmet on 6.1)
nvmet_subsys_create "$NQN" --ns 1:64M --port 127.0.0.1:4420
on_exit "nvmet_subsys_delete $NQN"
on A
create vN "{\"backend\":\"nvme\",\"traddr\":\"127.0.0.1\",\"subnqn\":\"$NQN\",\"nsid\":1}"
mpN=$(mount_ok vN_app-n)
echo x >"$mpN/x"; sync
assert_contains "$(attachctl show vN)" "fencing:    unsupported by target" "show for a target without PR"
grep '"attachd.attach.finish"' "$ARTIFACTS/attachd.log" | grep '"vN"' | grep -q "fencing: unsupported by target" ||
	fail "the attach log does not carry the unfenced note"
unmount_ok vN_app-n
create vNr "{\"backend\":\"nvme\",\"traddr\":\"127.0.0.1\",\"subnqn\":\"$NQN\",\"nsid\":1,\"fencing\":\"required\"}"
out=$(volman VolumeDriver.Mount '{"Name":"vNr_app-n"}')
info "fencing: required on nvmet: $out"
assert_contains "$out" "fencing is required" "fencing: required refused"
! dmsetup info attachd-vNr >/dev/null 2>&1 || fail "dm device left after the refusal"
[ -z "$(ls /sys/class/nvme 2>/dev/null)" ] || fail "NVMe controller left after the refusal: $(ls /sys/class/nvme)"

stop_host A
stop_host B
check_no_leftovers
