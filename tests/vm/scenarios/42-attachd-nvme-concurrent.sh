#!/bin/bash
# NVMe/TCP under concurrency and access control: four namespaces of one subsystem mounted in
# parallel share ONE controller (no duplicate connect, no EALREADY failure); unmounted in
# parallel, the last one deletes it. A subsystem that only admits another host fails with
# an error naming the subsystem and this host, and leaves nothing.
# timeout: 420
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

nqn=nqn.2025-01.io.attachd.test:conc-nvme
nvmet_subsys_create "$nqn" --ns 1:32M --ns 2:32M --ns 3:32M --ns 4:32M --port 127.0.0.1:4420
on_exit "nvmet_subsys_delete $nqn"
locked=nqn.2025-01.io.attachd.test:locked-nvme
other_host=nqn.2014-08.org.nvmexpress:uuid:00000000-1111-4222-8333-444444444444
# nvmet_subsys_delete unlinks allowed hosts but keeps the host entry: remove it after.
on_exit "rmdir $VM_NVMET/hosts/$other_host"
nvmet_subsys_create "$locked" --ns 1:32M --port 127.0.0.1:4420 --host "$other_host"
on_exit "nvmet_subsys_delete $locked"
start_attachd
on_exit stop_attachd

ctrls() { local n=0 d; for d in /sys/class/nvme/nvme*; do [ -e "$d" ] && n=$((n + 1)); done; echo $n; }
opts() { printf '{"backend":"nvme","traddr":"127.0.0.1","subnqn":"%s","nsid":%s}' "$1" "$2"; }

create() { # NAME NSID_OR_SUBNQN... : Create as Volman does before each Mount
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$(opts "$2" "$3")}")
	assert_contains "$out" '"Err":""' "Create $1"
}
for i in 1 2 3 4; do
	create "c${i}_app-$i" "$nqn" $i
done
t0=$(date +%s%N)
# `wait` alone would wait for attachd too: wait for the requests only.
pids=()
for i in 1 2 3 4; do
	volman VolumeDriver.Mount "{\"Name\":\"c${i}_app-$i\"}" >"$SCRATCH/mount$i.out" &
	pids+=($!)
done
wait "${pids[@]}"
info "four parallel Mounts in $((($(date +%s%N) - t0) / 1000000)) ms"
for i in 1 2 3 4; do
	out=$(cat "$SCRATCH/mount$i.out")
	assert_contains "$out" '"Err":""' "Mount c$i"
	mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
	assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp")" "/dev/mapper/attachd-c$i" "source of c$i"
	echo "c$i" >"$mp/id"
done
assert_eq "$(ctrls)" 1 "controllers for four namespaces of one subsystem"

pids=()
for i in 1 2 3 4; do
	volman VolumeDriver.Unmount "{\"Name\":\"c${i}_app-$i\"}" >"$SCRATCH/umount$i.out" &
	pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4; do
	assert_contains "$(cat "$SCRATCH/umount$i.out")" '"Err":""' "Unmount c$i"
done
check_no_leftovers
info "parallel detach: nothing left"

# Half the volumes up, then a parallel mix of attach and detach on the same controller.
for i in 1 2 3 4; do
	create "c${i}_app-$((i + 10))" "$nqn" $i
done
for i in 1 2; do
	assert_contains "$(volman VolumeDriver.Mount "{\"Name\":\"c${i}_app-$((i + 10))\"}")" '"Err":""' "Mount c$i again"
done
pids=()
volman VolumeDriver.Unmount '{"Name":"c1_app-11"}' >"$SCRATCH/u1.out" &
pids+=($!)
volman VolumeDriver.Mount '{"Name":"c3_app-13"}' >"$SCRATCH/m3.out" &
pids+=($!)
volman VolumeDriver.Unmount '{"Name":"c2_app-12"}' >"$SCRATCH/u2.out" &
pids+=($!)
volman VolumeDriver.Mount '{"Name":"c4_app-14"}' >"$SCRATCH/m4.out" &
pids+=($!)
wait "${pids[@]}"
for f in u1 m3 u2 m4; do
	assert_contains "$(cat "$SCRATCH/$f.out")" '"Err":""' "$f"
done
assert_eq "$(ctrls)" 1 "controller kept for c3 and c4"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' "$SCRATCH/m4.out")
assert_eq "$(cat "$mp/id")" c4 "c4 data"
for i in 3 4; do
	assert_contains "$(volman VolumeDriver.Unmount "{\"Name\":\"c${i}_app-$((i + 10))\"}")" '"Err":""' "Unmount c$i"
done
check_no_leftovers

# Access control: the subsystem admits another host only.
create lk_app-1 "$locked" 1
out=$(volman VolumeDriver.Mount '{"Name":"lk_app-1"}')
info "host not allowed: $out"
assert_contains "$out" "subsystem $locked not offered by 127.0.0.1:4420" "Mount of a subsystem for another host"
assert_contains "$out" "$(cat /etc/nvme/hostnqn)" "the error names this host"
check_no_leftovers

stop_attachd
check_no_leftovers
info "clean"
