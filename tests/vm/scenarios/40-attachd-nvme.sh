#!/bin/bash
# attachd end to end on NVMe/TCP against nvmet-tcp: Create (backend nvme, traddr, subnqn,
# uuid) + Mount returns a live mountpoint backed by /dev/mapper/attachd-* holding ext4 on
# the namespace's head disk; namespaces found by uuid, nsid and nguid share one controller;
# the controller stays while any of them is attached and is deleted with the last; data
# survives detach + re-attach (no reformat); an unknown subsystem, a namespace the subsystem
# does not have and a port with nothing listening fail clearly, fast, and leave nothing
# behind. attachctl watch follows an attach's real steps in order with the total;
# attachctl probe nvme:// reads a namespace's size and identity (connect, identify,
# disconnect: a controller it made is deleted again, one in use is kept), refuses a
# namespace a volume uses, and names an unknown subsystem.
# timeout: 480
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

nqn=nqn.2025-01.io.attachd.test:e2e-nvme
u1=3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d41
u2=7e2f4a6c-1b3d-4e5f-8a9b-0c1d2e3f4a52
nguid=0a1b2c3d4e5f60718293a4b5c6d7e8f9
nvmet_subsys_create "$nqn" --ns "1:64M:$u1" --ns "2:48M:$u2" --port 127.0.0.1:4420
on_exit "nvmet_subsys_delete $nqn"
# Namespace 3 with an NGUID (nvmet takes it only before the namespace is enabled).
ns3=$VM_NVMET/subsystems/$nqn/namespaces/3
f3=$(nvmet_ns_file "$nqn" 3)
truncate -s 40M "$f3"
mkdir "$ns3"
echo -n "$f3" >"$ns3/device_path"
echo 1 >"$ns3/buffered_io"
echo "${nguid:0:8}-${nguid:8:4}-${nguid:12:4}-${nguid:16:4}-${nguid:20:12}" >"$ns3/device_nguid"
echo 1 >"$ns3/enable"

start_attachd
on_exit stop_attachd

nvme_opts() { # KEY VALUE [SUBNQN [PORT]]
	printf '{"backend":"nvme","traddr":"127.0.0.1","trsvcid":"%s","subnqn":"%s","%s":%s}' \
		"${4:-4420}" "${3:-$nqn}" "$1" "$2"
}
create() { # NAME OPTS
	local out
	out=$(volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}")
	assert_contains "$out" '"Err":""' "Create $1"
}
mount_vol() { # NAME -> mountpoint
	local out
	out=$(volman VolumeDriver.Mount "{\"Name\":\"$1\"}")
	assert_contains "$out" '"Err":""' "Mount $1"
	sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out"
}
ctrls() { local n=0 d; for d in /sys/class/nvme/nvme*; do [ -e "$d" ] && n=$((n + 1)); done; echo $n; }
slave_of() { ls /sys/block/"$(basename "$(readlink -f "/dev/mapper/attachd-$1")")"/slaves; }

# 1. by uuid
t0=$(date +%s%N)
create nv1_app-1 "$(nvme_opts uuid "\"$u1\"")"
mp1=$(mount_vol nv1_app-1)
info "namespace 1 (uuid) mounted at $mp1 in $((($(date +%s%N) - t0) / 1000000)) ms"
mountpoint -q "$mp1" || fail "$mp1 is not a mountpoint"
assert_eq "$(findmnt -n -o SOURCE --mountpoint "$mp1")" /dev/mapper/attachd-nv1 "mount source"
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp1")" ext4 "filesystem"
s1=$(slave_of nv1)
info "attachd-nv1 sits on $s1 (uuid $(cat /sys/block/"$s1"/uuid), wwid $(cat /sys/block/"$s1"/wwid))"
[[ $s1 =~ ^nvme[0-9]+n[0-9]+$ ]] || fail "dm device is not on a namespace head disk: $s1"
assert_eq "$(cat /sys/block/"$s1"/uuid)" "$u1" "uuid of the disk under attachd-nv1"
assert_eq "$(ctrls)" 1 "NVMe controllers"
ctrl=$(basename /sys/class/nvme/nvme*)
assert_eq "$(cat /sys/class/nvme/"$ctrl"/subsysnqn)" "$nqn" "controller's subsystem"
assert_contains "$(cat /sys/class/nvme/"$ctrl"/address)" "traddr=127.0.0.1" "controller address"
echo "nvme payload" >"$mp1/data.txt"
sync

# 2. by nsid and 3. by nguid: same subsystem, same controller
create nv2_app-2 "$(nvme_opts nsid 2)"
# attachctl watch follows the Mount: the pipeline's own steps, in order, then the total.
attachctl --json watch nv2 >"$ARTIFACTS/watch-nv2.json" 2>&1 &
watcher=$!
wait_until 30 "the watch to subscribe" grep -q '"event":"watching"' "$ARTIFACTS/watch-nv2.json"
mp2=$(mount_vol nv2_app-2)
wait "$watcher" || fail "attachctl watch nv2 exited $?: $(cat "$ARTIFACTS/watch-nv2.json")"
steps=$(jq -r 'select(.event == "step") | .step' "$ARTIFACTS/watch-nv2.json" | tr '\n' ' ')
info "watch saw: $steps"
[[ " $steps" =~ \ connect\ (.+\ )?await-device\ (.+\ )?verify\ (.+\ )?dm-map\ (.+\ )?probe-fs\ (.+\ )?mkfs\ (.+\ )?mount\ (.+\ )?bind\ $ ]] ||
	fail "watch steps out of order: $steps"
assert_eq "$(jq -r 'select(.event == "end") | "\(.op) \(.result)"' "$ARTIFACTS/watch-nv2.json")" \
	"attach ok" "watch's end line"
assert_eq "$(cat /sys/block/"$(slave_of nv2)"/nsid)" 2 "nsid of the disk under attachd-nv2"
create nv3_app-3 "$(nvme_opts nguid "\"$nguid\"")"
mp3=$(mount_vol nv3_app-3)
assert_eq "$(cat /sys/block/"$(slave_of nv3)"/nsid)" 3 "nsid of the disk under attachd-nv3 (by nguid)"
assert_eq "$(ctrls)" 1 "controllers with three namespaces attached"
assert_eq "$(basename /sys/class/nvme/nvme*)" "$ctrl" "the shared controller"
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp2")" ext4 "namespace 2 filesystem"
assert_eq "$(findmnt -n -o FSTYPE --mountpoint "$mp3")" ext4 "namespace 3 filesystem"

# probe: namespace 2 is attached (as nv2): refused, naming the volume; namespace 1 too.
out=$(attachctl probe "nvme://127.0.0.1/$nqn/2" 2>&1) && fail "probe of an attached namespace: $out"
assert_contains "$out" "volume 'nv2' on this host uses this namespace" "probe of an attached namespace"
assert_eq "$(ctrls)" 1 "controllers after a refused probe"

assert_contains "$(volman VolumeDriver.Unmount '{"Name":"nv2_app-2"}')" '"Err":""' "Unmount nv2"
# Namespace 2 is free again: probed through the controller nv1 uses, which stays.
out=$(attachctl probe "nvme://127.0.0.1:4420/$nqn/$u2") || fail "probe nvme namespace 2: $out"
info "probe: $out"
assert_contains "$out" "size:      48.0 MiB (50331648 bytes)" "probe size"
assert_contains "$out" "$u2" "probe identity"
assert_eq "$(ctrls)" 1 "controllers after probing next to an attached volume"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"nv3_app-3"}')" '"Err":""' "Unmount nv3"
assert_eq "$(ctrls)" 1 "controller kept while namespace 1 is attached"
assert_eq "$(cat "$mp1/data.txt")" "nvme payload" "namespace 1 data while the others detach"
test ! -e /dev/mapper/attachd-nv2 || fail "attachd-nv2 left"

assert_contains "$(volman VolumeDriver.Unmount '{"Name":"nv1_app-1"}')" '"Err":""' "Unmount nv1"
check_no_leftovers
info "all detached, no controller left"

# Re-attach: data intact, no reformat.
create nv1_app-4 "$(nvme_opts uuid "\"$u1\"")"
mp1=$(mount_vol nv1_app-4)
assert_eq "$(cat "$mp1/data.txt")" "nvme payload" "data after re-attach"
n=$(grep 'attachd.attach.finish' "$ARTIFACTS/attachd.log" | grep -c '"formatted":true' || true)
assert_eq "$n" 3 "attaches that ran mkfs (namespaces 1, 2, 3 once each)"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"nv1_app-4"}')" '"Err":""' "final Unmount"
check_no_leftovers

# probe with nothing attached: the controller it makes is deleted again.
out=$(attachctl --json probe "nvme://127.0.0.1/$nqn") || fail "probe nvme (nsid 1): $out"
assert_eq "$(jq -r '"\(.size_bytes) \(.connected)"' <<<"$out")" "67108864 true" "probe --json of nsid 1"
assert_eq "$(ctrls)" 0 "controllers after a probe with nothing attached"
out=$(attachctl probe "nvme://127.0.0.1/nqn.2025-01.io.attachd.test:no-such-subsys/1" 2>&1) &&
	fail "probe of an unknown subsystem: $out"
assert_contains "$out" "not offered by 127.0.0.1:4420" "probe of an unknown subsystem"
rc=0
out=$(attachctl probe "nvme://127.0.0.1/$nqn/0" 2>&1) || rc=$?
assert_eq "$rc" 2 "probe of a bad namespace id: exit"
check_no_leftovers

# Unknown subsystem: a clear error naming it, fast, nothing left.
bad=nqn.2025-01.io.attachd.test:no-such-subsys
create nvbad_app-5 "$(nvme_opts nsid 1 "$bad")"
t0=$(date +%s)
out=$(volman VolumeDriver.Mount '{"Name":"nvbad_app-5"}')
dt=$(($(date +%s) - t0))
info "unknown subsystem: $out (${dt} s)"
assert_contains "$out" "subsystem $bad not offered by 127.0.0.1:4420" "Mount of an unknown subsystem"
[ "$dt" -lt 30 ] || fail "the unknown subsystem took ${dt} s to fail"
check_no_leftovers

# A namespace the subsystem does not have: named, with what the target offers, fast.
create nvnons_app-7 "$(nvme_opts nsid 9)"
t0=$(date +%s)
out=$(volman VolumeDriver.Mount '{"Name":"nvnons_app-7"}')
dt=$(($(date +%s) - t0))
info "missing namespace: $out (${dt} s)"
assert_contains "$out" "has no namespace with nsid 9 (it offers namespace IDs: 1, 2, 3)" "Mount of a missing namespace"
[ "$dt" -lt 20 ] || fail "the missing namespace took ${dt} s to fail"
check_no_leftovers

# Nothing listening on the port.
create nvnolisten_app-6 "$(nvme_opts uuid "\"$u1\"" "$nqn" 4421)"
t0=$(date +%s)
out=$(volman VolumeDriver.Mount '{"Name":"nvnolisten_app-6"}')
dt=$(($(date +%s) - t0))
info "nothing listening: $out (${dt} s)"
assert_contains "$out" "nothing listening at 127.0.0.1 port 4421" "Mount with nothing listening"
[ "$dt" -lt 30 ] || fail "the refused connection took ${dt} s to fail"
check_no_leftovers

stop_attachd
check_no_leftovers
info "clean"
