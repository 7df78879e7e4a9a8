#!/bin/bash
# Attach/detach benchmark, run in the VM by tools/bench.sh. Measures attachd's Volman
# Create+Mount and Unmount of iSCSI LUNs against a baseline measured in the same run: the
# way the common node-side tools do it with open-iscsi's CLI (sendtargets discovery through
# iscsiadm, login with automatic LUN scan, polling /dev/disk/by-path once a second like
# os-brick and csi-lib-iscsi, `udevadm settle`, blkid, mount; teardown: umount, logout,
# delete the node record), serialised the way os-brick's connect_volume lock serialises it.
# Prints medians and ratios; no assertion on time (the machine is shared and noisy).
# timeout: 900
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

N=${BENCH_ROUNDS:-5}
P=4 # LUNs attached at once in the parallel round
iqn=iqn.2025-01.io.attachd.bench:t1
luns=()
for ((i = 0; i < P; i++)); do luns+=(--lun "$i:64M"); done
lio_target_create "$iqn" "${luns[@]}"
on_exit "lio_target_delete $iqn"
portal=127.0.0.1:3260
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# Format every LUN once so both sides measure attach, not mkfs.
for ((i = 0; i < P; i++)); do mkfs.ext4 -q -F "$(lio_lun_file "$iqn" "$i")"; done

## baseline -------------------------------------------------------------------------
base_attach() { # LUN MOUNTPOINT
	local link=/dev/disk/by-path/ip-$portal-iscsi-$iqn-lun-$1 tries=0
	iscsiadm -m discovery -t sendtargets -p "$portal" >/dev/null
	iscsiadm -m node -T "$iqn" -p "$portal" --login >/dev/null 2>&1 || true # exit 15: already
	until [ -e "$link" ]; do
		tries=$((tries + 1))
		[ $tries -le 30 ] || { echo "baseline: $link never appeared" >&2; return 1; }
		sleep 1
	done
	udevadm settle
	blkid -p "$link" >/dev/null
	mkdir -p "$2"
	mount "$link" "$2"
}
base_detach() { # LUN MOUNTPOINT LAST
	umount "$2"
	if [ "$3" = 1 ]; then
		iscsiadm -m node -T "$iqn" -p "$portal" --logout >/dev/null
		iscsiadm -m node -T "$iqn" -p "$portal" -o delete
		iscsiadm -m discoverydb -t sendtargets -p "$portal" -o delete
	fi
}

## attachd --------------------------------------------------------------------------
start_attachd
on_exit stop_attachd
opts() { echo "{\"backend\":\"iscsi\",\"portal\":\"$portal\",\"iqn\":\"$iqn\",\"lun\":$1}"; }
ad_attach() { # LUN ROUND
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"b$1_r$2\",\"Opts\":$(opts "$1")}")
	[[ $out == *'"Err":""'* ]] || { echo "Create: $out" >&2; return 1; }
	out=$(volman VolumeDriver.Mount "{\"Name\":\"b$1_r$2\"}")
	[[ $out == *'"Err":""'* ]] || { echo "Mount: $out" >&2; return 1; }
}
ad_detach() {
	local out
	out=$(volman VolumeDriver.Unmount "{\"Name\":\"b$1_r$2\"}")
	[[ $out == *'"Err":""'* ]] || { echo "Unmount: $out" >&2; return 1; }
}

declare -A t
for ((r = 0; r < N; r++)); do
	# one LUN, sequential
	a=$(now); base_attach 0 "$SCRATCH/base0"; b=$(now); base_detach 0 "$SCRATCH/base0" 1; c=$(now)
	t[base_att]+="$(ms "$a" "$b") " t[base_det]+="$(ms "$b" "$c") "
	a=$(now); ad_attach 0 "$r"; b=$(now); ad_detach 0 "$r"; c=$(now)
	t[ad_att]+="$(ms "$a" "$b") " t[ad_det]+="$(ms "$b" "$c") "
	check_no_leftovers
	# P LUNs: the baseline serialised (one host-wide lock), attachd in parallel
	a=$(now)
	for ((i = 0; i < P; i++)); do base_attach "$i" "$SCRATCH/base$i"; done
	b=$(now)
	for ((i = 0; i < P; i++)); do base_detach "$i" "$SCRATCH/base$i" $((i == P - 1)); done
	t[base_patt]+="$(ms "$a" "$b") "
	a=$(now)
	pids=()
	for ((i = 0; i < P; i++)); do ad_attach "$i" "p$r" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p"; done # not a bare wait: attachd is our child too
	b=$(now)
	pids=()
	for ((i = 0; i < P; i++)); do ad_detach "$i" "p$r" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p"; done
	t[ad_patt]+="$(ms "$a" "$b") "
	check_no_leftovers
	info "round $((r + 1))/$N done"
done
stop_attachd

row() { # LABEL BASEKEY ADKEY
	local bm am
	bm=$(tr ' ' '\n' <<<"${t[$2]}" | grep . | median)
	am=$(tr ' ' '\n' <<<"${t[$3]}" | grep . | median)
	printf '%-34s %10s %10s %8s\n' "$1" "$bm" "$am" "$(awk -v b="$bm" -v a="$am" 'BEGIN{printf "%.1fx", b/a}')"
}
echo
echo "bench: medians of $N rounds, milliseconds, Debian $(uname -r) under qemu TCG"
printf '%-34s %10s %10s %8s\n' "operation" "baseline" "attachd" "speedup"
row "attach 1 LUN (to a mounted fs)" base_att ad_att
row "detach 1 LUN (session logged out)" base_det ad_det
row "attach $P LUNs of one target" base_patt ad_patt
