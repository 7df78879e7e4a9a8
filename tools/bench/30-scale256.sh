#!/bin/bash
# Benchmark section "scale256": 256 volumes on one host (256 LUNs of one LIO target, sparse
# fileio backstores, ext4 16 MiB each). Created, then Mounted one after the other: the time
# and CPU of the first 8 attaches against the last 8 (the 256th should cost no more than
# the first); with all 256 attached: VolumeDriver.List and `attachctl ls` latency (median
# of 5; goal < 50 ms), attachd's RSS (goal <= 16 MiB; idle <= 8 MiB) and threads, and its
# CPU over 10 s of idling (utime+stime from /proc/PID/stat; goal 0); then every volume
# Unmounted one after the other (first 8 against last 8 again) and nothing may be left.
# BENCH_SCALE (default 256) sets the number of volumes.
# timeout: 10800
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
. "$REPO/tools/bench/lib/bench.bash"

V=${VMTEST_BENCH_SCALE:-256}
K=8 # first K against last K
[ "$V" -ge $((2 * K)) ] || fail "BENCH_SCALE must be at least $((2 * K)), got $V"
iqn=iqn.2025-01.io.attachd.bench:scale
portal=127.0.0.1:3260
luns=() files=()
for ((i = 0; i < V; i++)); do
	luns+=(--lun "$i:16M")
	files+=("$(lio_lun_file "$iqn" "$i")")
done
info "creating the target with $V LUNs"
lio_target_create "$iqn" "${luns[@]}"
on_exit "lio_target_delete $iqn"
# a second target for the warm-up, so that the first measured attach still logs in
wiqn=iqn.2025-01.io.attachd.bench:scale-warm
lio_target_create "$wiqn" --lun 0:16M
on_exit "lio_target_delete $wiqn"
info "formatting $V LUNs"
bench_mkfs_formatted "${files[@]}" "$(lio_lun_file "$wiqn" 0)"
bench_calibrate

start_attachd
on_exit stop_attachd
ad_status rss_idle thr_idle
ad_mem anon_idle file_idle idle
fds_idle=$(ad_fds)
# warm-up (not counted): the tools' pages come over 9p from the host
ad_create warm "$(iscsi_opts "$portal" "$wiqn" 0)"
ad_mount warm
ad_unmount warm
ad_remove warm
check_no_leftovers
opts=()
for ((i = 0; i < V; i++)); do opts+=("$(iscsi_opts "$portal" "$iqn" "$i")"); done

bucket() { # I: first, mid or last
	if [ "$1" -lt $K ]; then echo first; elif [ "$1" -ge $((V - K)) ]; then echo last; else echo mid; fi
}

# A failed Mount (attachd's own deadlines can fire on an overloaded machine) is counted and
# shown, its error is in the log, and the section goes on; its time stays in the figures.
att_fail=0 det_fail=0 attached=()
declare -A is_att=()
t0=$EPOCHREALTIME
for ((i = 0; i < V; i++)); do
	b=$(bucket "$i")
	ok=1
	bench_start; ad_create "v$i" "${opts[i]}" && ad_mount "v$i" || ok=0; bench_stop "att_$b"
	if [ $ok = 1 ]; then attached+=("$i") is_att[$i]=1; else att_fail=$((att_fail + 1)); fi
	[ $i = 0 ] && att_1st=$BENCH_LAST_MS
	[ $((i % 32)) != 31 ] || info "$((i + 1)) attached (last $BENCH_LAST_MS ms)"
done
att_last1=$BENCH_LAST_MS
att_total=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')

ad_status rss_full thr_full
ad_mem anon_full file_full full
fds_full=$(ad_fds)
n_mounts=$(grep -c " $SCRATCH/mnt/" /proc/self/mountinfo || true)
info "$V attached: RSS $(mib "$rss_full") MiB, $thr_full threads, $fds_full fds, $n_mounts mounts under the mount root"

# List and attachctl ls with everything attached (median of 5). List is read the way a
# client reads (vcall: in bulk, no process start); `attachctl ls` and `attachctl ping` are
# what an SRE waits for, process start included; ping shows what a process start and a
# connection alone cost under this emulation. The agent's own answer time (curl's
# time_total: connect to last byte, its process start not counted) is shown beside them.
list_ms=() ls_ms=() ping_ms=() list_ans=() ls_ans=() lsb_ans=()
ctl_sock=${ATTACHD_ADMIN_SOCKET:-/var/vcap/sys/run/attachd/attachd.sock}
ans_ms() { # URL BODY [curl args]: the answer time in ms
	local u=$1 body=$2
	shift 2
	curl -s -o /dev/null -X POST -d "$body" -w '%{time_total}' "$@" "$u" | awk '{ printf "%d", $1 * 1000 }'
}
for ((j = 0; j < 5; j++)); do
	a=${EPOCHREALTIME/./}; vcall VolumeDriver.List ""; b=${EPOCHREALTIME/./}
	list_ms+=($(((b - a) / 1000)))
	a=${EPOCHREALTIME/./}; attachctl ls >"$SCRATCH/ls.out"; b=${EPOCHREALTIME/./}
	ls_ms+=($(((b - a) / 1000)))
	a=${EPOCHREALTIME/./}; attachctl ping >/dev/null; b=${EPOCHREALTIME/./}
	ping_ms+=($(((b - a) / 1000)))
	list_ans+=("$(ans_ms "http://$ATTACHD_LISTEN/VolumeDriver.List" '')")
	ls_ans+=("$(ans_ms http://attachd/v1/ls '' --unix-socket "$ctl_sock")")
	lsb_ans+=("$(ans_ms http://attachd/v1/ls '{"brief":true}' --unix-socket "$ctl_sock")")
done
info "List ms: ${list_ms[*]} (agent: ${list_ans[*]}); ls ms: ${ls_ms[*]} (agent, full / brief: ${ls_ans[*]} / ${lsb_ans[*]}); ping ms: ${ping_ms[*]}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# idle: the agent's own CPU and the whole VM's over 10 s with everything attached
ad_cputicks a0
bench_cpu c0 s0
sleep 10
ad_cputicks a1
bench_cpu c1 s1
idle_agent=$(awk -v t=$((a1 - a0)) -v hz="$BENCH_HZ" 'BEGIN { printf "%.2f", t / hz }')
idle_vm=$(awk -v t=$((c1 - c0)) -v hz="$BENCH_HZ" 'BEGIN { printf "%.2f", t / hz }')
ad_status rss_full2 thr_full2
ad_mem anon_full2 file_full2 full-idle

t0=$EPOCHREALTIME
for ((i = 0; i < V; i++)); do
	[ -n "${is_att[$i]:-}" ] || continue
	b=$(bucket "$i")
	ok=1
	bench_start; ad_unmount "v$i" || ok=0; bench_stop "det_$b"
	[ $ok = 1 ] || det_fail=$((det_fail + 1))
	[ $((i % 32)) != 31 ] || info "$((i + 1)) detached (last $BENCH_LAST_MS ms)"
done
det_total=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
check_no_leftovers
ad_status rss_after thr_after
ad_mem anon_after file_after after
for ((i = 0; i < V; i++)); do ad_remove "v$i" || true; done
stop_attachd

bench_header "$V volumes on one host ($V LUNs of one LIO target, ext4, 16 MiB each, attached one after the other)"
bench_md "| figure | first $K | last $K | last / first |" "| --- | ---: | ---: | ---: |"
bench_md "| attach (Create+Mount), s (median) | $(bench_secs "$(bench_median att_first)") | $(bench_secs "$(bench_median att_last)") | $(bench_ratio "$(bench_median att_last)" "$(bench_median att_first)") |"
bench_md "| CPU-s per attach | $(bench_cpu_per_op att_first) | $(bench_cpu_per_op att_last) | $(bench_ratio "$(bench_cpu_per_op att_last)" "$(bench_cpu_per_op att_first)") |"
bench_md "| detach (Unmount), s (median) | $(bench_secs "$(bench_median det_first)") | $(bench_secs "$(bench_median det_last)") | $(bench_ratio "$(bench_median det_last)" "$(bench_median det_first)") |"
bench_md "| CPU-s per detach | $(bench_cpu_per_op det_first) | $(bench_cpu_per_op det_last) | $(bench_ratio "$(bench_cpu_per_op det_last)" "$(bench_cpu_per_op det_first)") |"
bench_md "" "| figure | value | goal |" "| --- | ---: | ---: |"
bench_md "| the 1st attach / the ${V}th, s | $(bench_secs "$att_1st") / $(bench_secs "$att_last1") | |"
bench_md "| all $V attached one after the other, s | $(bench_secs "$att_total") | |"
bench_md "| all $V detached one after the other, s | $(bench_secs "$det_total") | |"
bench_md "| VolumeDriver.List with $V attached, ms (median of 5) | $(med "${list_ms[@]}") | < 50 |"
bench_md "| \`attachctl ls\` with $V attached, process start included, ms (median of 5) | $(med "${ls_ms[@]}") | < 50 |"
bench_md "| \`attachctl ping\` (process start + connect only), ms (median of 5) | $(med "${ping_ms[@]}") | |"
bench_md "| the agent's answer alone (curl time_total): List / admin ls (--json's full answer) / admin ls brief (the table's), ms (median of 5) | $(med "${list_ans[@]}") / $(med "${ls_ans[@]}") / $(med "${lsb_ans[@]}") | |"
bench_md "| attachd RSS idle (after start), MiB | $(mib "$rss_idle") | <= 8 |"
bench_md "| attachd RSS with $V attached, MiB | $(mib "$rss_full") (after 10 s idle: $(mib "$rss_full2")) | <= 16 |"
bench_md "| attachd RSS after detaching all, MiB | $(mib "$rss_after") | |"
bench_md "| of which anonymous (heap, stacks) / file pages (code), MiB: idle; $V attached; after 10 s; after detaching | $(mib "$anon_idle") / $(mib "$file_idle"); $(mib "$anon_full") / $(mib "$file_full"); $(mib "$anon_full2") / $(mib "$file_full2"); $(mib "$anon_after") / $(mib "$file_after") | |"
bench_md "| attachd threads idle / $V attached / after | $thr_idle / $thr_full / $thr_after | |"
bench_md "| attachd open fds idle / $V attached | $fds_idle / $fds_full | |"
bench_md "| attachd CPU-s over 10 s idle with $V attached (utime+stime) | $idle_agent | 0 |"
bench_md "| whole VM CPU-s over those 10 s (/proc/stat) | $idle_vm | |"
bench_md "| failed Mounts / Unmounts (errors in scenario.log) | $att_fail / $det_fail | 0 / 0 |"
bench_md "| left after detaching all (mounts, dm, sessions, records) | none | none |"
bench_steal_note att_first att_last det_first det_last
