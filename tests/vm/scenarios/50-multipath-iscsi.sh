#!/bin/bash
# Multipath on iSCSI (issue 8): a LIO target on two portals, attached with 'portals' over
# both, is one dm-multipath map (service-time, queue_if_no_path) over both SCSI disks, both
# paths active, mounted, data written and read back; detach leaves nothing. The same with
# 'targets' (two IQNs exporting one backstore, one per portal). A portal down at attach time
# (nothing listening): the attach succeeds on the other path and the map is multipath with
# one path. A 'targets' entry whose LUN is another backstore (another WWID) is refused as a
# path, and the attach log names it; its disk and session are gone after the detach. With
# scsi_dh_alua loaded, ALUA: the map names the handler and groups the active/optimized path
# first.
# timeout: 900
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

A=iqn.2025-01.io.attachd.test:mp-a
B=iqn.2025-01.io.attachd.test:mp-b
C=iqn.2025-01.io.attachd.test:mp-c
P1=127.0.0.1:3260 P2=127.0.0.2:3260 DEAD=127.0.0.3:3260

lio_target_create "$A" --lun 0:64M --portal "$P1" --portal "$P2"
on_exit "lio_target_delete $A"
# C: another LU (its own backstore, so another WWID) as LUN 0 on the second portal
lio_target_create "$C" --lun 0:64M --portal "$P2"
on_exit "lio_target_delete $C"

# B exports A's backstore (same LU, same WWID) under its own name on the second portal:
# an array that gives every target port its own IQN.
lio_target_share() { # IQN BACKSTORE PORTAL
	local tpg=$VM_LIO/iscsi/$1/tpgt_1
	mkdir -p "$tpg/lun/lun_0"
	ln -s "$2" "$tpg/lun/lun_0/shared_0"
	mkdir "$tpg/np/$3"
	echo 1 >"$tpg/attrib/generate_node_acls"
	echo 1 >"$tpg/attrib/cache_dynamic_acls"
	echo 0 >"$tpg/attrib/demo_mode_write_protect"
	echo 0 >"$tpg/attrib/authentication"
	echo 1 >"$tpg/enable"
}
# deleted before A (on_exit runs last registered first): its LUN links A's backstore (and
# may be in the ALUA group made below, which goes before the backstore can)
bs_a=$VM_LIO/core/fileio_0/$(vm_tag "$A")_0
lio_target_share "$B" "$bs_a" "$P2"
on_exit "lio_target_delete $B; rmdir $bs_a/alua/nonopt 2>/dev/null; true"

start_attachd
on_exit stop_attachd

wwid_a=$(lio_lun_serial "$A" 0 | tr -d - | cut -c1-12)

mount_vol() { # NAME OPTS -> mountpoint
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}")
	assert_contains "$out" '"Err":""' "Create $1"
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}
unmount_vol() { # NAME
	assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"$1\"}")" '"Err":""' "Unmount $1"
}

# check_map KEY NPATHS: the volume's dm device is a multipath map over NPATHS SCSI disks of
# LU A, service-time, queueing when no path is left, every path active.
check_map() {
	local dm=attachd-$1 n=$2 table status slaves s devno
	table=$(dmsetup table "$dm")
	status=$(dmsetup status "$dm")
	info "$dm: table: $table"
	info "$dm: status: $status"
	assert_contains "$table" " multipath " "$dm is a multipath map"
	assert_contains "$table" "queue_if_no_path" "$dm queues while no path is left"
	assert_contains "$table" "service-time" "$dm path selector"
	slaves=$(ls "/sys/block/$(basename "$(readlink -f "/dev/mapper/$dm")")/slaves")
	assert_eq "$(wc -w <<<"$slaves")" "$n" "paths under $dm"
	for s in $slaves; do
		case $s in sd*) ;; *) fail "path $s of $dm is not a SCSI disk" ;; esac
		assert_contains "$(cat "/sys/block/$s/device/wwid")" "$wwid_a" "WWID of path $s"
		devno=$(cat "/sys/block/$s/dev")
		assert_contains "$table" " $devno " "path $s ($devno) in the table of $dm"
		assert_contains "$status" " $devno A " "path $s ($devno) active in $dm"
	done
}

write_read() { # MOUNTPOINT
	dd if=/dev/urandom of="$SCRATCH/payload" bs=1M count=8 status=none
	cp "$SCRATCH/payload" "$1/payload"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	cmp "$SCRATCH/payload" "$1/payload" || fail "data read back through the map differs"
}

# --- 'portals': one IQN on two portals
opts="{\"backend\":\"iscsi\",\"portals\":[\"$P1\",\"$P2\"],\"iqn\":\"$A\",\"lun\":0}"
mp=$(mount_vol mpp_app-1 "$opts")
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp")" /dev/mapper/attachd-mpp "mount source"
check_map mpp 2
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 2 "one session per portal"
# multipathed sessions fail over fast: 5 s replacement timeout on both records
for p in "$P1" "$P2"; do
	assert_contains "$(iscsiadm -m node -T "$A" -p "$p" -I attachd)" \
		"node.session.timeo.replacement_timeout = 5" "replacement timeout on $p"
done
write_read "$mp"
unmount_vol mpp_app-1
check_no_leftovers
info "portals: multipath over 2 paths, detached clean"

# --- 'targets': one IQN per portal, one LU
opts="{\"backend\":\"iscsi\",\"targets\":[{\"portal\":\"$P1\",\"iqn\":\"$A\"},{\"portal\":\"$P2\",\"iqn\":\"$B\"}],\"lun\":0}"
mp=$(mount_vol mpt_app-1 "$opts")
check_map mpt 2
assert_eq "$(cat "$mp/payload" | cmp - "$SCRATCH/payload" && echo same)" same \
	"data written through 'portals' read through 'targets'"
write_read "$mp"
unmount_vol mpt_app-1
check_no_leftovers
info "targets: multipath over 2 paths, detached clean"

# --- a portal down at attach time: nothing listens on $DEAD
opts="{\"backend\":\"iscsi\",\"portals\":[\"$P1\",\"$DEAD\"],\"iqn\":\"$A\",\"lun\":0}"
mp=$(mount_vol mpd_app-1 "$opts")
check_map mpd 1
assert_eq "$(ls /sys/class/iscsi_session | wc -l)" 1 "sessions with one portal down"
write_read "$mp"
unmount_vol mpd_app-1
check_no_leftovers
info "portal down at attach: multipath over the 1 path there, detached clean"

# --- a path whose LUN is another LU: refused and named, the volume uses the other
opts="{\"backend\":\"iscsi\",\"targets\":[{\"portal\":\"$P1\",\"iqn\":\"$A\"},{\"portal\":\"$P2\",\"iqn\":\"$C\"}],\"lun\":0}"
mp=$(mount_vol mpw_app-1 "$opts")
check_map mpw 1
note=$(grep '"attachd.attach.finish"' "$ARTIFACTS/attachd.log" | grep '"mpw"' | tail -1)
assert_contains "$note" "refused" "the attach log says a path was refused"
assert_contains "$note" "$C" "the attach log names the refused path's target"
assert_contains "$note" "$P2" "the attach log names the refused path's portal"
cmp "$SCRATCH/payload" "$mp/payload" || fail "volume data through the remaining path"
unmount_vol mpw_app-1
check_no_leftovers
info "WWID mismatch: path refused and named, its disk and session removed at detach"

# --- ALUA: with scsi_dh_alua attached the map names the handler and puts the paths in
# priority groups, active/optimized first. B's port of the LU is made active/non-optimized.
modprobe scsi_dh_alua || skip "no scsi_dh_alua module"
on_exit "modprobe -r scsi_dh_alua 2>/dev/null; true"
mkdir "$bs_a/alua/nonopt"
echo 2 >"$bs_a/alua/nonopt/tg_pt_gp_id"
echo 1 >"$bs_a/alua/nonopt/alua_access_state"
echo nonopt >"$VM_LIO/iscsi/$B/tpgt_1/lun/lun_0/alua_tg_pt_gp"
opts="{\"backend\":\"iscsi\",\"targets\":[{\"portal\":\"$P2\",\"iqn\":\"$B\"},{\"portal\":\"$P1\",\"iqn\":\"$A\"}],\"lun\":0}"
mp=$(mount_vol mpa_app-1 "$opts")
check_map mpa 2
table=$(dmsetup table attachd-mpa)
for s in $(ls "/sys/block/$(basename "$(readlink -f /dev/mapper/attachd-mpa)")/slaves"); do
	info "path $s: $(cat "/sys/block/$s/device/dh_state") $(cat "/sys/block/$s/device/access_state")"
	case $(cat "/sys/block/$s/device/access_state") in
	active/optimized) opt=$(cat "/sys/block/$s/dev") ;;
	active/non-optimized) nonopt=$(cat "/sys/block/$s/dev") ;;
	esac
done
[ -n "${opt:-}" ] && [ -n "${nonopt:-}" ] || fail "the paths do not show the two ALUA states"
assert_contains "$table" " 1 alua 2 1 service-time 0 1 2 $opt 1 1 service-time 0 1 2 $nonopt 1 1" \
	"ALUA handler, optimized path's group first"
cmp "$SCRATCH/payload" "$mp/payload" || fail "volume data through the ALUA map"
unmount_vol mpa_app-1
check_no_leftovers
echo default_tg_pt_gp >"$VM_LIO/iscsi/$B/tpgt_1/lun/lun_0/alua_tg_pt_gp"
rmdir "$bs_a/alua/nonopt"
info "ALUA: handler named, active/optimized group first"

stop_attachd
check_no_leftovers
