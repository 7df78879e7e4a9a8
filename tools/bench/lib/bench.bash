# shellcheck shell=bash
# Helpers for the benchmark sections (tools/bench/NN-*.sh, run in the VM by tools/bench.sh).
# Source after tests/vm/lib.sh:  . "$REPO/tools/bench/lib/bench.bash"
#
# Measuring must not change what is measured, so the harness itself forks as little as it
# can while a window is open: clocks come from $EPOCHREALTIME, CPU from /proc/stat read with
# `read`, and Volman calls go over bash's /dev/tcp (no curl): a few ms of CPU per call under
# TCG that would otherwise be counted against attachd.
#
# A measurement window:  bench_start; <operation>; bench_stop KEY [OPS]
#  - wall time: from bench_start to the end of the operation (bench_stop's first line);
#  - CPU: /proc/stat busy ticks (user+nice+system+irq+softirq of all CPUs, i.e. every
#    process and the kernel; not idle, iowait or steal) from bench_start until udev's queue
#    is empty after the operation (so the udev work the operation triggered is counted),
#    minus the cost of that one `udevadm settle` and minus the idle VM's own busy rate times
#    the window's length (both measured at the section's start, bench_calibrate);
#    bench_start settles first, so the previous operation's udev tail is not counted here.
# Results accumulate per KEY: BENCH_MS[KEY] ("ms ms ..."), BENCH_TICKS[KEY] (sum),
# BENCH_OPS[KEY] (operations counted), BENCH_STEAL[KEY] (steal ticks, sum).

BENCH_ROUNDS=${VMTEST_BENCH_ROUNDS:-${BENCH_ROUNDS:-5}}
BENCH_HZ=$(getconf CLK_TCK)
BENCH_OUT=$ARTIFACTS/bench.md # the section's tables; tools/bench.sh prints them at the end
declare -gA BENCH_MS=() BENCH_TICKS=() BENCH_OPS=() BENCH_STEAL=()
_b_t0=0 _b_c0=0 _b_s0=0 BENCH_SETTLE_MTICKS=0 BENCH_IDLE_MTPS=0 BENCH_IDLE=

# bench_cpu BUSYVAR STEALVAR: system-wide busy and steal ticks now (no fork).
bench_cpu() {
	local l
	read -r -a l </proc/stat # cpu user nice system idle iowait irq softirq steal ...
	printf -v "$1" '%s' $((l[1] + l[2] + l[3] + l[6] + l[7]))
	printf -v "$2" '%s' $((l[8]))
}

bench_now_us() { printf -v "$1" '%s' "${EPOCHREALTIME/./}"; }

# Calibration, at the start of a section: the CPU cost of one `udevadm settle` on an idle
# system (BENCH_SETTLE_MTICKS, milli-ticks) and the idle VM's own busy rate (idle kernel,
# udevd, iscsid; under TCG on a loaded host the guest's timer work alone shows up here):
# BENCH_IDLE_MTPS, milli-ticks per second. bench_stop subtracts both from each window.
bench_calibrate() {
	local i c0 c1 s t0 t1
	udevadm settle
	bench_now_us t0
	bench_cpu c0 s
	sleep 5
	bench_cpu c1 s
	bench_now_us t1
	BENCH_IDLE_MTPS=$(((c1 - c0) * 1000 * 1000000 / (t1 - t0)))
	BENCH_IDLE=$(bench_fmt_cpu "$BENCH_IDLE_MTPS" 1)
	bench_now_us t0
	bench_cpu c0 s
	for ((i = 0; i < 10; i++)); do udevadm settle; done
	bench_cpu c1 s
	bench_now_us t1
	BENCH_SETTLE_MTICKS=$((((c1 - c0) * 1000 - BENCH_IDLE_MTPS * (t1 - t0) / 1000000) / 10))
	[ "$BENCH_SETTLE_MTICKS" -gt 0 ] || BENCH_SETTLE_MTICKS=0
	info "calibration: the idle VM $BENCH_IDLE CPU-s per second; udevadm settle costs $(bench_fmt_cpu "$BENCH_SETTLE_MTICKS" 1) CPU-s beyond that"
}

bench_start() {
	udevadm settle
	bench_cpu _b_c0 _b_s0
	bench_now_us _b_t0
}

# bench_stop KEY [OPS=1]: close the window; OPS operations happened in it.
bench_stop() {
	local t1 t2 c1 s1 ms
	bench_now_us t1
	udevadm settle
	bench_cpu c1 s1
	bench_now_us t2
	ms=$(((t1 - _b_t0) / 1000))
	BENCH_MS[$1]+="$ms "
	BENCH_TICKS[$1]=$((${BENCH_TICKS[$1]:-0} + (c1 - _b_c0) * 1000 - BENCH_SETTLE_MTICKS - BENCH_IDLE_MTPS * (t2 - _b_t0) / 1000000))
	BENCH_OPS[$1]=$((${BENCH_OPS[$1]:-0} + ${2:-1}))
	BENCH_STEAL[$1]=$((${BENCH_STEAL[$1]:-0} + s1 - _b_s0))
	BENCH_LAST_MS=$ms
}

# bench_median KEY: median of BENCH_MS[KEY] in ms ("-" if none).
bench_median() {
	local v
	v=${BENCH_MS[$1]:-}
	[ -n "${v// /}" ] || { echo -; return; }
	tr ' ' '\n' <<<"$v" | grep . | sort -n |
		awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'
}

# bench_fmt_cpu MTICKS OPS: CPU-seconds per operation, from milli-ticks.
bench_fmt_cpu() {
	awk -v t="$1" -v n="$2" -v hz="$BENCH_HZ" 'BEGIN { v = t / 1000 / hz / n; if (v < 0) v = 0; printf "%.3f", v }'
}

# bench_cpu_per_op KEY: CPU-s per operation of KEY ("-" if none).
bench_cpu_per_op() {
	[ -n "${BENCH_OPS[$1]:-}" ] || { echo -; return; }
	bench_fmt_cpu "${BENCH_TICKS[$1]}" "${BENCH_OPS[$1]}"
}

# bench_secs MS: "1.234 s"-style seconds from ms (or "-").
bench_secs() {
	[ "$1" != - ] || { echo -; return; }
	awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }'
}

# bench_ratio A B: A/B with two decimals and an x ("-" if either is missing or B is 0).
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

# bench_md LINE...: a line of the section's output (scenario log and $BENCH_OUT).
bench_md() {
	printf '%s\n' "$@" | tee -a "$BENCH_OUT"
}

# bench_header TITLE: the section's title line with the machine it ran on.
bench_header() {
	local ncpu
	ncpu=$(nproc)
	bench_md "" "### $1" "" \
		"_$(uname -r), ${ncpu} vCPUs, $(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo), qemu TCG; ${BENCH_ROUNDS} rounds; wall: median; CPU-s: all processes and the kernel from /proc/stat, per operation, beyond the idle VM's ${BENCH_IDLE:-?} CPU-s per second_" ""
}

# bench_steal_note KEY...: a note if any steal time was seen in these windows.
bench_steal_note() {
	local k s=0
	for k in "$@"; do s=$((s + ${BENCH_STEAL[$k]:-0})); done
	[ "$s" = 0 ] || bench_md "" "_steal time seen in these windows: $(awk -v t="$s" -v hz="$BENCH_HZ" 'BEGIN{printf "%.2f", t/hz}') s (not counted as CPU)_"
}

## ---------------------------------------------------------------- Volman over /dev/tcp

# vcall CALL JSON: one Volman request over a fresh connection, no fork, the answer read to
# the end of the connection in bulk; the reply body is in VREPLY. Returns 1 (and says so) if the connection fails or Err is not empty.
vcall() {
	local fd r body=$2
	exec {fd}<>"/dev/tcp/${ATTACHD_LISTEN%:*}/${ATTACHD_LISTEN##*:}" || {
		echo "vcall $1: cannot connect to $ATTACHD_LISTEN" >&2
		return 1
	}
	printf 'POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
		"$1" "$ATTACHD_LISTEN" "${#body}" "$body" >&"$fd"
	# -N reads in bulk; `read -d ''` would read a socket one byte per read(2), which under
	# TCG costs more than the answer itself (~10 ms per KiB) and was what a 256-volume
	# List used to measure.
	IFS= read -r -N 268435456 -t 900 r <&"$fd" || true
	exec {fd}>&-
	VREPLY=${r#*$'\r\n\r\n'}
	case $VREPLY in
	*'"Err":""'*) return 0 ;;
	esac
	echo "vcall $1 $2: ${VREPLY:0:600}" >&2
	return 1
}

# iscsi_opts PORTAL IQN LUN: Create's Opts for an iSCSI LUN.
iscsi_opts() {
	echo "{\"backend\":\"iscsi\",\"portal\":\"$1\",\"iqn\":\"$2\",\"lun\":$3}"
}

# ad_create NAME OPTS / ad_mount NAME / ad_unmount NAME / ad_remove NAME
ad_create() { vcall VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}"; }
ad_mount() { vcall VolumeDriver.Mount "{\"Name\":\"$1\"}"; }
ad_unmount() { vcall VolumeDriver.Unmount "{\"Name\":\"$1\"}"; }
ad_remove() { vcall VolumeDriver.Remove "{\"Name\":\"$1\"}"; }

# ad_status VAR_RSS VAR_THREADS: attachd's VmRSS (KiB) and thread count now.
ad_status() {
	local k v _u rss=0 thr=0
	while read -r k v _u; do
		case $k in
		VmRSS:) rss=$v ;;
		Threads:) thr=$v ;;
		esac
	done <"/proc/$ATTACHD_PID/status"
	printf -v "$1" '%s' "$rss"
	printf -v "$2" '%s' "$thr"
}

# ad_mem VAR_ANON VAR_FILE LABEL: attachd's resident anonymous memory (heap, stacks) and
# file pages (its code and its libraries') in KiB, from /proc/PID/smaps_rollup; the
# mappings that hold the most go to $ARTIFACTS/mem-LABEL.txt.
ad_mem() {
	local k v _u anon=0 file=0
	while read -r k v _u; do
		case $k in
		Rss:) file=$v ;;
		Anonymous:) anon=$v ;;
		esac
	done <"/proc/$ATTACHD_PID/smaps_rollup"
	printf -v "$1" '%s' "$anon"
	printf -v "$2" '%s' $((file - anon))
	{
		cat "/proc/$ATTACHD_PID/smaps_rollup"
		echo "--- mappings by Rss (KiB): rss anon size perms name"
		awk '/^[0-9a-f]+-[0-9a-f]+ / { if (n) print rss, an, sz, pm, nm; n = $6; if (n == "") n = "[anon]"; pm = $2; nm = n; rss = an = sz = 0; next }
			$1 == "Size:" { sz = $2 } $1 == "Rss:" { rss = $2 } $1 == "Anonymous:" { an = $2 }
			END { print rss, an, sz, pm, nm }' "/proc/$ATTACHD_PID/smaps" | sort -rn | head -60
	} >"$ARTIFACTS/mem-$3.txt" 2>&1 || true
}

# ad_cputicks VAR: attachd's utime+stime in ticks (all threads).
ad_cputicks() {
	local s
	read -r s <"/proc/$ATTACHD_PID/stat"
	s=${s##*) } # fields after the comm; field 14 (utime) is the 12th from here
	read -r -a s <<<"$s"
	printf -v "$1" '%s' $((s[11] + s[12]))
}

# ad_fds: attachd's open file descriptors.
ad_fds() {
	local f=("/proc/$ATTACHD_PID/fd"/*)
	echo "${#f[@]}"
}

# mib KIB: "12.3" MiB
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# bench_mkfs_formatted FILE...: ext4 on each LUN file with every table written now, so a
# later mount starts no lazy init in the background (that would add kernel CPU to whatever
# is measured next).
bench_mkfs_formatted() {
	local f
	for f in "$@"; do
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$f"
	done
}

## ---------------------------------------------------------------- attachctl metrics deltas

# bench_metrics_snap FILE: attachd's metrics now (attachctl --json metrics), outside windows.
bench_metrics_snap() {
	attachctl --json metrics >"$1"
}

# bench_metrics_delta BEFORE AFTER TAG: append "TAG STEP COUNT TOTAL_MS" lines (the steps
# that ran between the two snapshots) to $SCRATCH/metrics.delta.
bench_metrics_delta() {
	jq -r -n --slurpfile a "$1" --slurpfile b "$2" --arg tag "$3" '
		($a[0] | .metrics.steps // .steps // {}) as $A |
		($b[0] | .metrics.steps // .steps // {}) |
		to_entries[] |
		[$tag, .key, (.value.count - ($A[.key].count // 0)), (.value.total_ms - ($A[.key].total_ms // 0))] |
		select(.[2] > 0) | @tsv' >>"$SCRATCH/metrics.delta"
}

# bench_metrics_table TAG_A LABEL_A TAG_B LABEL_B: a table of the average step durations in
# the windows tagged TAG_A and TAG_B (from bench_metrics_delta).
bench_metrics_table() {
	[ -s "$SCRATCH/metrics.delta" ] || return 0
	bench_md "" "| attachd step (attachctl metrics) | $2: average | $4: average |" "| --- | ---: | ---: |"
	awk -F'\t' -v a="$1" -v b="$3" '
		{ n[$1 SUBSEP $2] += $3; t[$1 SUBSEP $2] += $4; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
		function avg(tag, s) { return (n[tag SUBSEP s] > 0) ? sprintf("%.0f ms", t[tag SUBSEP s] / n[tag SUBSEP s]) : "-" }
		END { for (i = 1; i <= k; i++) printf "| %s | %s | %s |\n", order[i], avg(a, order[i]), avg(b, order[i]) }
	' "$SCRATCH/metrics.delta" | tee -a "$BENCH_OUT"
}
