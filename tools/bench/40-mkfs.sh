#!/bin/bash
# Benchmark section "mkfs": first use of a big volume. A 1 TiB thin LUN (sparse LIO fileio
# backstore, blank): attachd's Create+Mount, which formats it (the mkfs step's own time from
# `attachctl trace`, and the whole Create+Mount), against `mkfs.ext4 -E
# lazy_itable_init=1,nodiscard` alone on the same raw device (logged in by hand, outside
# the timed part). After each round the backing file is emptied again (truncated to 0 and
# back to 1 TiB). BENCH_MKFS_SIZE (default 1T) sets the LUN's size.
# timeout: 3600
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tools/bench/lib/bench.bash"

N=$BENCH_ROUNDS
SIZE=${VMTEST_BENCH_MKFS_SIZE:-1T}
iqn=iqn.2025-01.io.attachd.bench:mkfs
portal=127.0.0.1:3260
lio_target_create "$iqn" --lun "0:$SIZE" --lun 1:32M
on_exit "lio_target_delete $iqn"
big=$(lio_lun_file "$iqn" 0)
link=$(iscsi_by_path "$portal" "$iqn" 0)
bench_mkfs_formatted "$(lio_lun_file "$iqn" 1)"
bench_calibrate
start_attachd
on_exit stop_attachd

wipe() {
	truncate -s 0 "$big"
	truncate -s "$SIZE" "$big"
}

# warm-up (not counted): attachd's and the tools' pages come over 9p from the host
ad_create warm "$(iscsi_opts "$portal" "$iqn" 1)"
ad_mount warm
ad_unmount warm
ad_remove warm
mkfs.ext4 -V >/dev/null 2>&1
check_no_leftovers

opts=$(iscsi_opts "$portal" "$iqn" 0)
mkfs_step=()
for ((r = 1; r <= N; r++)); do
	# attachd: Create + Mount of the blank LUN (it runs mkfs), then Unmount
	bench_start; ad_create "big_r$r" "$opts"; ad_mount "big_r$r"; bench_stop ad_mount
	ad_ms=$BENCH_LAST_MS
	ms=$(attachctl --json trace "big_r$r" | jq -r '[.. | objects | select(.step? == "mkfs") | .ms][0] // empty')
	[ -n "$ms" ] || fail "attachctl trace big_r$r shows no mkfs step"
	mkfs_step+=("$ms")
	ad_unmount "big_r$r"
	ad_remove "big_r$r"
	check_no_leftovers
	wipe
	# by hand: log in (automatic scan), wait for the disk, then only mkfs is timed
	iscsiadm -m discovery -t sendtargets -p "$portal" -I default >/dev/null
	iscsiadm -m node -T "$iqn" -p "$portal" -I default --login >/dev/null
	udevadm wait --timeout=60 "$link"
	bench_start; mkfs.ext4 -q -F -E lazy_itable_init=1,nodiscard "$link"; bench_stop raw_mkfs
	blkid -p "$link" | grep -q 'TYPE="ext4"' || fail "no ext4 on $link after mkfs.ext4"
	iscsiadm -m node -T "$iqn" -p "$portal" -I default --logout >/dev/null
	iscsiadm -m node -o delete -T "$iqn" -p "$portal" -I default
	iscsiadm -m discoverydb -t sendtargets -p "$portal" -o delete
	check_no_leftovers
	wipe
	info "round $r/$N: attachd Create+Mount $ad_ms ms (mkfs step ${ms} ms); mkfs.ext4 alone $BENCH_LAST_MS ms"
done
stop_attachd

step_med=$(printf '%s\n' "${mkfs_step[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]}')
bench_header "First use of a $SIZE thin LUN (sparse LIO fileio backstore, blank): mkfs"
bench_md "| figure | \`mkfs.ext4 -E lazy_itable_init=1,nodiscard\` alone | attachd | attachd / mkfs alone |" "| --- | ---: | ---: | ---: |"
bench_md "| mkfs, s (median; attachd: its mkfs step from \`attachctl trace\`) | $(bench_secs "$(bench_median raw_mkfs)") | $(bench_secs "$step_med") | $(bench_ratio "$step_med" "$(bench_median raw_mkfs)") |"
bench_md "| whole Create+Mount (login, scan, dm, probe, mkfs, mount), s (median) | - | $(bench_secs "$(bench_median ad_mount)") | $(bench_ratio "$(bench_median ad_mount)" "$(bench_median raw_mkfs)") |"
bench_md "| CPU-s (mkfs alone / attachd's whole Create+Mount) | $(bench_cpu_per_op raw_mkfs) | $(bench_cpu_per_op ad_mount) | $(bench_ratio "$(bench_cpu_per_op ad_mount)" "$(bench_cpu_per_op raw_mkfs)") |"
bench_steal_note raw_mkfs ad_mount
