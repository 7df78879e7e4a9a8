#!/bin/bash
# Benchmark section "conc32": 32 LUNs of one LIO target, all Created first, then 32 Mounts
# sent at once (one connection each), against one Mount alone (the session logged in by
# it); then 32 concurrent Unmounts against one (the last logs out). Wall time (median of
# BENCH_ROUNDS), the ratio (goal <= 3x), CPU-s per attach/detach in those windows, attachd's
# RSS and threads idle and with 32 attached, and attachctl metrics' average step durations
# in the single and the concurrent windows (where the time goes).
# timeout: 2400
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tools/bench/lib/bench.bash"

N=$BENCH_ROUNDS
P=32
iqn=iqn.2025-01.io.attachd.bench:conc32
portal=127.0.0.1:3260
luns=() files=()
for ((i = 0; i < P; i++)); do
	luns+=(--lun "$i:32M")
	files+=("$(lio_lun_file "$iqn" "$i")")
done
lio_target_create "$iqn" "${luns[@]}"
on_exit "lio_target_delete $iqn"
bench_mkfs_formatted "${files[@]}"
bench_calibrate

start_attachd
on_exit stop_attachd
ad_status rss_idle thr_idle
fds_idle=$(ad_fds)
for ((i = 0; i < P; i++)); do ad_create "c$i" "$(iscsi_opts "$portal" "$iqn" "$i")"; done

# the harness's own cost of 32 background requests: forking 32 subshells
bench_start
pids=()
for ((i = 0; i < P; i++)); do (:) & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
bench_stop fork32 "$P"

# mount_all ad_mount|ad_unmount: the call for every volume at once. A failed call (attachd's
# own deadlines can fire on an overloaded machine) is counted in FAILS[call], its error is in
# the log, and the section goes on: the table says how many failed.
declare -A FAILS=([ad_mount]=0 [ad_unmount]=0)
mount_all() {
	local i p pids=()
	for ((i = 0; i < P; i++)); do "$1" "c$i" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || FAILS[$1]=$((FAILS[$1] + 1)); done # not a bare wait: attachd is our child
	return 0
}

m=$SCRATCH/m
# round 0 warms the page cache and is not counted
for ((r = 0; r <= N; r++)); do
	bench_metrics_snap "$m.0"
	bench_start; ad_mount c0; bench_stop one_att
	bench_start; ad_unmount c0; bench_stop one_det
	bench_metrics_snap "$m.1"
	check_no_leftovers
	bench_start; mount_all ad_mount; bench_stop c32_att "$P"
	ad_status rss_32 thr_32
	fds_32=$(ad_fds)
	bench_start; mount_all ad_unmount; bench_stop c32_det "$P"
	bench_metrics_snap "$m.2"
	check_no_leftovers
	if [ $r = 0 ]; then
		BENCH_MS=() BENCH_TICKS=() BENCH_OPS=() BENCH_STEAL=()
		info "warm-up round done"
		continue
	fi
	bench_metrics_delta "$m.0" "$m.1" one
	bench_metrics_delta "$m.1" "$m.2" c32
	info "round $r/$N: one Mount $(bench_median one_att) ms, 32 Mounts $(bench_median c32_att) ms; one Unmount $(bench_median one_det) ms, 32 Unmounts $(bench_median c32_det) ms (medians so far)"
done
ad_status rss_after thr_after
stop_attachd

bench_header "32 concurrent Mounts and Unmounts (32 LUNs of one LIO target, ext4, 32 MiB each)"
bench_md "| figure | one | 32 at once | 32 at once / one (goal <= 3x) |" "| --- | ---: | ---: | ---: |"
bench_md "| Mount (the session logged in by it), s (median) | $(bench_secs "$(bench_median one_att)") | $(bench_secs "$(bench_median c32_att)") | $(bench_ratio "$(bench_median c32_att)" "$(bench_median one_att)") |"
bench_md "| Unmount (the last logs out), s (median) | $(bench_secs "$(bench_median one_det)") | $(bench_secs "$(bench_median c32_det)") | $(bench_ratio "$(bench_median c32_det)" "$(bench_median one_det)") |"
bench_md "| CPU-s per attach | $(bench_cpu_per_op one_att) | $(bench_cpu_per_op c32_att) | $(bench_ratio "$(bench_cpu_per_op c32_att)" "$(bench_cpu_per_op one_att)") |"
bench_md "| CPU-s per detach | $(bench_cpu_per_op one_det) | $(bench_cpu_per_op c32_det) | $(bench_ratio "$(bench_cpu_per_op c32_det)" "$(bench_cpu_per_op one_det)") |"
bench_md "| failed calls among the 32 at once (all rounds, warm-up included; errors in scenario.log) | - | Mount ${FAILS[ad_mount]}, Unmount ${FAILS[ad_unmount]} | |"
bench_md "" "| attachd process | idle (after start) | 32 attached | after the last detach |" "| --- | ---: | ---: | ---: |"
bench_md "| RSS, MiB (VmRSS) | $(mib "$rss_idle") | $(mib "$rss_32") | $(mib "$rss_after") |"
bench_md "| threads | $thr_idle | $thr_32 | $thr_after |"
bench_md "| open fds | $fds_idle | $fds_32 | - |"
bench_metrics_table one "one Mount/Unmount" c32 "32 at once"
bench_md "" "_The harness's own share of the 32-at-once CPU: forking 32 background subshells costs $(bench_cpu_per_op fork32) CPU-s each (counted in the figures above; requests go over bash /dev/tcp, no client process)._"
bench_steal_note one_att one_det c32_att c32_det
