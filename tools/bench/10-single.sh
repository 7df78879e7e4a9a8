#!/bin/bash
# Benchmark section "single": attach (Create+Mount of a formatted LUN) and detach (Unmount,
# the last user: the session is logged out) of one iSCSI LUN, three ways, in the same VM:
#
#  - manual: what a careful operator types, no sleeps: a node record with
#    node.session.scan=manual (created and set inside the timed part, like attachd's own
#    record), iscsiadm --login, a targeted scan through sysfs
#    (echo "0 TID LUN" > /sys/class/scsi_host/hostH/scan, H and TID from
#    /sys/class/iscsi_session), `udevadm wait` for the /dev/disk/by-path link (event-driven),
#    dmsetup create (a linear table over the whole disk), mount. Detach: umount, dmsetup
#    remove, delete the SCSI device through sysfs, iscsiadm --logout, delete the record.
#  - os-brick-style: the way the common node-side tools do it with open-iscsi's CLI:
#    sendtargets discovery, login with the automatic LUN scan, polling /dev/disk/by-path
#    once a second (os-brick, csi-lib-iscsi), udevadm settle, blkid, mount. Detach: umount,
#    logout, delete the node and discovery records.
#  - attachd: Volman Create + Mount, then Unmount, over HTTP (bash /dev/tcp, no client
#    process).
# Wall time (median of BENCH_ROUNDS) and CPU-s per operation (tools/bench/lib/bench.bash).
# No assertion on time: the figures are printed, the machine may be shared and noisy.
# timeout: 1500
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tools/bench/lib/bench.bash"

N=$BENCH_ROUNDS
iqn=iqn.2025-01.io.attachd.bench:single
portal=127.0.0.1:3260
lun=0
lio_target_create "$iqn" --lun "$lun:64M"
on_exit "lio_target_delete $iqn"
bench_mkfs_formatted "$(lio_lun_file "$iqn" "$lun")"
link=$(iscsi_by_path "$portal" "$iqn" "$lun")
mkdir -p "$SCRATCH/man" "$SCRATCH/base"
bench_calibrate

## manual ----------------------------------------------------------------------------
man_dev=
man_attach() {
	local s t sid h tid d sz
	iscsiadm -m node -o new -T "$iqn" -p "$portal" -I default >/dev/null
	iscsiadm -m node -T "$iqn" -p "$portal" -I default -o update -n node.session.scan -v manual
	iscsiadm -m node -T "$iqn" -p "$portal" -I default --login >/dev/null
	sid=
	for s in /sys/class/iscsi_session/session*; do
		read -r t <"$s/targetname"
		[ "$t" = "$iqn" ] && sid=${s##*session}
	done
	[ -n "$sid" ] || { echo "manual: no session for $iqn" >&2; return 1; }
	read -r tid <"/sys/class/iscsi_session/session$sid/target_id"
	for h in /sys/class/scsi_host/host*/device/session"$sid"; do h=${h#/sys/class/scsi_host/host}; h=${h%%/*}; done
	echo "0 $tid $lun" >"/sys/class/scsi_host/host$h/scan"
	udevadm wait --timeout=30 "$link"
	for d in /sys/class/scsi_host/host"$h"/device/session"$sid"/target"$h":0:"$tid"/"$h":0:"$tid":"$lun"/block/*; do man_dev=${d##*/}; done
	read -r sz <"/sys/class/block/$man_dev/size"
	dmsetup create bench-man --table "0 $sz linear $link 0"
	mount /dev/mapper/bench-man "$SCRATCH/man"
}
man_detach() {
	umount "$SCRATCH/man"
	dmsetup remove bench-man
	echo 1 >"/sys/class/block/$man_dev/device/delete"
	iscsiadm -m node -T "$iqn" -p "$portal" -I default --logout >/dev/null
	iscsiadm -m node -T "$iqn" -p "$portal" -I default -o delete
}

## os-brick-style --------------------------------------------------------------------
base_attach() {
	local tries=0
	iscsiadm -m discovery -t sendtargets -p "$portal" -I default >/dev/null
	iscsiadm -m node -T "$iqn" -p "$portal" -I default --login >/dev/null 2>&1 || true # exit 15: already
	until [ -e "$link" ]; do
		tries=$((tries + 1))
		[ $tries -le 30 ] || { echo "baseline: $link never appeared" >&2; return 1; }
		sleep 1
	done
	udevadm settle
	blkid -p "$link" >/dev/null
	mount "$link" "$SCRATCH/base"
}
base_detach() {
	umount "$SCRATCH/base"
	iscsiadm -m node -T "$iqn" -p "$portal" -I default --logout >/dev/null
	iscsiadm -m node -T "$iqn" -p "$portal" -I default -o delete
	iscsiadm -m discoverydb -t sendtargets -p "$portal" -o delete
}

## attachd ---------------------------------------------------------------------------
start_attachd
on_exit stop_attachd
opts=$(iscsi_opts "$portal" "$iqn" "$lun")

# round 0 warms the page cache (binaries come over 9p from the host) and is not counted
for ((r = 0; r <= N; r++)); do
	# the order rotates so that no method always runs right after the same other one
	for m in $(case $((r % 3)) in 1) echo man base ad ;; 2) echo base ad man ;; *) echo ad man base ;; esac); do
		case $m in
		man)
			bench_start; man_attach; bench_stop man_att
			bench_start; man_detach; bench_stop man_det ;;
		base)
			bench_start; base_attach; bench_stop base_att
			bench_start; base_detach; bench_stop base_det ;;
		ad)
			bench_start; ad_create "s_r$r" "$opts"; ad_mount "s_r$r"; bench_stop ad_att
			bench_start; ad_unmount "s_r$r"; bench_stop ad_det
			ad_remove "s_r$r" ;;
		esac
		check_no_leftovers
	done
	if [ $r = 0 ]; then
		BENCH_MS=() BENCH_TICKS=() BENCH_OPS=() BENCH_STEAL=()
		info "warm-up round done"
		continue
	fi
	info "round $r/$N: manual $(bench_median man_att)/$(bench_median man_det) ms, os-brick $(bench_median base_att)/$(bench_median base_det) ms, attachd $(bench_median ad_att)/$(bench_median ad_det) ms (attach/detach medians so far)"
done
stop_attachd

row() { # LABEL UNIT MAN BASE AD
	bench_md "| $1 | $3 | $4 | $5 | $(bench_ratio "$5" "$3") | $(bench_ratio "$5" "$4") |"
}
bench_header "Single attach/detach of one iSCSI LUN (ext4, 64 MiB, one LIO target on 127.0.0.1)"
bench_md "| figure | manual | os-brick-style | attachd | attachd / manual | attachd / os-brick |" \
	"| --- | ---: | ---: | ---: | ---: | ---: |"
row "attach: Create+Mount, s (median)" s "$(bench_secs "$(bench_median man_att)")" "$(bench_secs "$(bench_median base_att)")" "$(bench_secs "$(bench_median ad_att)")"
row "detach: Unmount + logout, s (median)" s "$(bench_secs "$(bench_median man_det)")" "$(bench_secs "$(bench_median base_det)")" "$(bench_secs "$(bench_median ad_det)")"
row "CPU-s per attach" cpu "$(bench_cpu_per_op man_att)" "$(bench_cpu_per_op base_att)" "$(bench_cpu_per_op ad_att)"
row "CPU-s per detach" cpu "$(bench_cpu_per_op man_det)" "$(bench_cpu_per_op base_det)" "$(bench_cpu_per_op ad_det)"
bench_steal_note man_att man_det base_att base_det ad_att ad_det
