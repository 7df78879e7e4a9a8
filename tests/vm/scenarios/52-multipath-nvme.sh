#!/bin/bash
# NVMe/TCP native multipath: an nvmet subsystem on two TCP ports, each behind its own veth
# link into a network namespace (lib.sh mpnet_*); Create with traddr = both addresses
# attaches the kernel's multipath head disk (one controller per port under it). A writer that fsyncs and later
# verifies every block runs while the path carrying I/O loses its packets (netem loss 100%
# both ways, like a dead switch port): no I/O error, the controller on that port goes to
# "connecting" and comes back "live" once packets flow again, all data verifies from the
# device; detach leaves no controller, dm device or mount. (Several traddrs with
# nvme_core.multipath off are refused: unit-tested, as the parameter is read-only at run
# time.)
# timeout: 900
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

nqn=nqn.2025-01.io.attachd.test:mp-nvme
uuid=8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d
[ "$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)" = Y ] ||
	fail "nvme_core.multipath is not Y in this kernel: native NVMe multipath cannot be tested"

# Two paths (veth links into the target namespace, lib.sh mpnet_*); nvmet listens inside
# the namespace (its socket is made in the network namespace of whoever links the
# subsystem to the port: mpnet_nvmet_port does that with nsenter --net).
mpnet_setup 2
a_tgt=$(mpnet_addr 1) b_tgt=$(mpnet_addr 2)
nvmet_subsys_create "$nqn" --ns "1:64M:$uuid" --no-port
on_exit "nvmet_subsys_delete $nqn"
mpnet_nvmet_port "$nqn" 1
mpnet_nvmet_port "$nqn" 2

start_attachd
on_exit stop_attachd

ctrl_of() { # ADDR: our controller for the subsystem at ADDR
	local c
	for c in /sys/class/nvme/nvme*; do
		[ -e "$c" ] && [ "$(cat "$c/subsysnqn")" = "$nqn" ] || continue
		case ",$(cat "$c/address")," in *",traddr=$1,"*) basename "$c"; return 0 ;; esac
	done
	return 1
}
ctrl_state_is() { [ "$(cat "/sys/class/nvme/$1/state" 2>/dev/null)" = "$2" ]; }
ctrl_state_not() { ! ctrl_state_is "$1" "$2"; }
nqn_ctrls() { local n=0 c; for c in /sys/class/nvme/nvme*; do [ -e "$c" ] && [ "$(cat "$c/subsysnqn")" = "$nqn" ] && n=$((n + 1)); done; echo $n; }

opts="{\"backend\":\"nvme\",\"traddr\":[\"$a_tgt\",\"$b_tgt\"],\"subnqn\":\"$nqn\",\"uuid\":\"$uuid\"}"
out=$(volman VolumeDriver.Create "{\"Name\":\"nvmp_app-1\",\"Opts\":$opts}")
assert_contains "$out" '"Err":""' "Create with two traddrs"
t0=$(date +%s%N)
out=$(volman VolumeDriver.Mount '{"Name":"nvmp_app-1"}')
assert_contains "$out" '"Err":""' "Mount over two ports"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
info "mounted at $mp in $((($(date +%s%N) - t0) / 1000000)) ms"

## --- the device is the multipath head, both controllers under it
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp")" /dev/mapper/attachd-nvmp "mount source"
head=$(ls /sys/block/"$(basename "$(readlink -f /dev/mapper/attachd-nvmp)")"/slaves)
[[ $head =~ ^nvme([0-9]+)n([0-9]+)$ ]] || fail "dm device is not on a namespace head disk: $head"
hsub=${BASH_REMATCH[1]} hn=${BASH_REMATCH[2]}
assert_eq "$(cat /sys/block/"$head"/uuid)" "$uuid" "uuid of the head disk"
assert_eq "$(nqn_ctrls)" 2 "controllers of the subsystem"
ca=$(ctrl_of "$a_tgt") || fail "no controller for $a_tgt"
cb=$(ctrl_of "$b_tgt") || fail "no controller for $b_tgt"
# each controller's per-path disk of the namespace: nvme<subsys>c<ctrl>n<head>
for c in "$ca" "$cb"; do
	pd=/sys/class/nvme/$c/nvme${hsub}c${c#nvme}n$hn
	[ -e "$pd" ] || fail "$c has no path $(basename "$pd") to $head: $(ls /sys/class/nvme/"$c")"
	assert_eq "$(cat "$pd/uuid")" "$uuid" "uuid through $c"
	assert_eq "$(cat /sys/class/nvme/"$c"/state)" live "state of $c"
done
info "attachd-nvmp sits on $head, paths $ca ($a_tgt) and $cb ($b_tgt)"
attachctl show nvmp >"$ARTIFACTS/show-before.txt" 2>&1 || fail "attachctl show nvmp failed"
assert_contains "$(cat "$ARTIFACTS/show-before.txt")" "2/2 active" "attachctl show: both controllers active"
assert_contains "$(cat "$ARTIFACTS/show-before.txt")" "tcp $a_tgt" "attachctl show lists the first port"
assert_contains "$(cat "$ARTIFACTS/show-before.txt")" "tcp $b_tgt" "attachctl show lists the second port"

## --- a writer: 256 KiB blocks, each fsynced, content known from its number
block() { head -c 262144 < <(yes "attachd nvme multipath block $1"); }
writer() {
	local i=0
	while [ ! -e "$SCRATCH/stop" ]; do
		i=$((i + 1))
		if ! block "$i" | dd of="$mp/b$i" bs=256k conv=fsync status=none 2>>"$SCRATCH/writer.err"; then
			echo "block $i: write or fsync failed" >>"$SCRATCH/writer.err"
			return 1
		fi
		echo "$i" >"$SCRATCH/written"
	done
}
written() { cat "$SCRATCH/written" 2>/dev/null || echo 0; }
written_at_least() { [ "$(written)" -ge "$1" ]; }
: >"$SCRATCH/writer.err"
dmesg_at=$(dmesg | wc -l)
writer &
wpid=$!
wait_until 60 "the writer's first blocks" written_at_least 5 || fail "the writer does not write"

## --- the path carrying I/O (the first: iopolicy numa prefers it) loses its packets
info "iopolicy $(cat /sys/class/nvme-subsystem/*/iopolicy 2>/dev/null | head -1); dropping $a_tgt ($ca)"
mpnet_drop 1
t_drop=$(date +%s%N)
wait_until 60 "$ca to leave the live state" ctrl_state_not "$ca" live
info "$ca $(cat /sys/class/nvme/"$ca"/state) after $((($(date +%s%N) - t_drop) / 1000000)) ms"
n=$(written)
wait_until 120 "writes to go on over $cb" written_at_least $((n + 10)) ||
	fail "the writer stalled with $a_tgt down: $(cat "$SCRATCH/writer.err")"
kill -0 $wpid 2>/dev/null || fail "the writer died: $(cat "$SCRATCH/writer.err")"
info "$(( $(written) - n )) blocks written over $cb while $a_tgt was down"
show_one_down() { attachctl show nvmp 2>&1 | grep -q "1/2 active"; }
wait_until 30 "attachctl show to report $ca down" show_one_down
attachctl show nvmp >"$ARTIFACTS/show-down.txt" 2>&1 || true

## --- it returns: the kernel reconnects (reconnect_delay 2 s), the path is live again
mpnet_restore 1
wait_until 90 "$ca live again" ctrl_state_is "$ca" live
n=$(written)
wait_until 60 "more writes" written_at_least $((n + 5))
touch "$SCRATCH/stop"
wait $wpid || fail "the writer failed: $(cat "$SCRATCH/writer.err")"
assert_eq "$(cat "$SCRATCH/writer.err")" "" "writer errors"
total=$(written)

## --- every block verifies, read back from the device (caches dropped)
sync
echo 3 >/proc/sys/vm/drop_caches
bad=0
for ((i = 1; i <= total; i++)); do
	cmp -s <(block "$i") "$mp/b$i" || { echo "block $i differs" >&2; bad=$((bad + 1)); }
done
assert_eq "$bad" 0 "blocks that do not verify (of $total)"
info "$total blocks verified"
dmesg | tail -n +"$((dmesg_at + 1))" >"$ARTIFACTS/kernel-during.txt" || true
info "kernel, while the path was lost: $(grep -cE 'nvme|I/O' "$ARTIFACTS/kernel-during.txt") nvme lines (kernel-during.txt)"

## --- detach: both controllers go
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"nvmp_app-1"}')" '"Err":""' "Unmount"
assert_eq "$(nqn_ctrls)" 0 "controllers left after detach"
check_no_leftovers

## --- a port that is silent at attach time does not fail the attach: it goes on the other
## (after the reach probe's connect timeout on the silent one); detach leaves nothing.
## (The missing port joining later is add_paths, driven by the path checker.)
mpnet_drop 2
out=$(volman VolumeDriver.Create "{\"Name\":\"nvmp_app-2\",\"Opts\":$opts}")
assert_contains "$out" '"Err":""' "Create (second attach)"
t0=$(date +%s%N)
out=$(volman VolumeDriver.Mount '{"Name":"nvmp_app-2"}')
assert_contains "$out" '"Err":""' "Mount with $b_tgt silent"
info "mounted with $b_tgt silent in $((($(date +%s%N) - t0) / 1000000)) ms"
mp=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
assert_eq "$(nqn_ctrls)" 1 "controllers with $b_tgt silent"
ctrl_of "$a_tgt" >/dev/null || fail "no controller for $a_tgt"
assert_eq "$(cat "$mp/b1" | md5sum)" "$(block 1 | md5sum)" "data through $a_tgt alone"
mpnet_restore 2
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"nvmp_app-2"}')" '"Err":""' "Unmount (second)"
assert_eq "$(nqn_ctrls)" 0 "controllers left after the second detach"
check_no_leftovers

stop_attachd
check_no_leftovers
info "clean"
