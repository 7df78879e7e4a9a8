#!/bin/bash
# Ownership of dm devices and NVMe controllers, and no process-wide lock across a stuck
# device ioctl (issue 7 §1, §6):
#  - dm/ against the real kernel (tests/unit/test_dmap_kernel.c): a device named attachd-*
#    without the ATTACHD- uuid is never removed nor error-swapped; a resume stuck on one
#    device (the device below it suspended, a write in flight) does not hold up another
#    device's create and remove.
#  - attachd's orphan sweep at start leaves a dm device named attachd-x without the
#    ATTACHD- uuid prefix.
#  - an NVMe controller the admin connected (a write to /dev/nvme-fabrics, as nvme connect
#    does) and attachd reused for a volume survives attachd's detach of that volume.
#  - through Volman: volume A's dm device stuck (the device under it suspended, a writer
#    in D state, attachctl detach --force waiting in A's error-swap resume); meanwhile
#    volume B on a healthy backend attaches and detaches; A's operation is still stuck
#    when B is done.
# timeout: 1200
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"

export CMOCKA_MESSAGE_OUTPUT=stdout
bin=$REPO/build/rel/tests/unit/test_dmap_kernel
[ -x "$bin" ] || fail "$bin not built (make tests)"
stdbuf -oL "$bin" 2>&1 | tee "$ARTIFACTS/dmap-kernel.log" || true
# 11 tests; the udev-timeout one is opt-in (DMAP_TEST_SLOW_NAME) and skips here.
grep -q 'PASSED  ] 10 test' "$ARTIFACTS/dmap-kernel.log" && ! grep -q FAILED "$ARTIFACTS/dmap-kernel.log" ||
	fail "dm kernel tests failed (see dmap-kernel.log)"
info "dm kernel tests passed"

# --- a foreign dm device named like attachd's survives the orphan sweep -----------------
truncate -s 16M "$SCRATCH/foreign.img"
floop=$(losetup -f --show "$SCRATCH/foreign.img")
on_exit "losetup -d $floop 2>/dev/null || true"
dmsetup create attachd-x --uuid FOREIGN-x --table "0 32768 linear $floop 0"
on_exit "dmsetup remove attachd-x 2>/dev/null || true"
mkdir -p "$SCRATCH/etc"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"}}
JSON
start_attachd --config "$SCRATCH/etc/attachd.json" --admin-socket "$SCRATCH/admin.sock"
on_exit stop_attachd
grep -q '"attachd.recover.finish"' "$ARTIFACTS/attachd.log" || fail "no recovery in the log"
dmsetup info attachd-x >/dev/null || fail "the orphan sweep removed attachd-x (uuid FOREIGN-x)"
assert_eq "$(dmsetup info -c --noheadings -o uuid attachd-x)" FOREIGN-x "attachd-x's uuid"
dmsetup remove attachd-x
losetup -d "$floop"
info "foreign attachd-x left alone by the sweep"

# --- an admin's NVMe controller survives attachd's detach --------------------------------
nqn=nqn.2025-01.io.attachd.test:admin-ctrl
u1=5c2b7d1e-8f3a-4b6c-9d0e-1f2a3b4c5d61
nvmet_subsys_create "$nqn" --ns "1:48M:$u1" --port 127.0.0.1:4420
on_exit "nvmet_subsys_delete $nqn"
exec 3<>/dev/nvme-fabrics
printf 'nqn=%s,transport=tcp,traddr=127.0.0.1,trsvcid=4420,hostnqn=%s' "$nqn" \
	"$(cat /etc/nvme/hostnqn)" >&3
read -r reply <&3
exec 3>&-
admin_ctrl=nvme$(sed -E 's/.*instance=([0-9]+).*/\1/' <<<"$reply")
info "admin connected $admin_ctrl ($reply)"
on_exit "[ ! -e /sys/class/nvme/$admin_ctrl ] || echo 1 >/sys/class/nvme/$admin_ctrl/delete_controller"
ino=$(stat -L -c %i "/sys/class/nvme/$admin_ctrl")
out=$(volman VolumeDriver.Create "{\"Name\":\"na_c1\",\"Opts\":{\"backend\":\"nvme\",\"traddr\":\"127.0.0.1\",\"subnqn\":\"$nqn\",\"uuid\":\"$u1\"}}")
assert_contains "$out" '"Err":""' "Create nvme volume"
out=$(volman VolumeDriver.Mount '{"Name":"na_c1"}')
assert_contains "$out" '"Err":""' "Mount nvme volume through the admin's controller"
assert_eq "$(ls -d /sys/class/nvme/nvme* | wc -l)" 1 "NVMe controllers (the admin's, reused)"
assert_contains "$(volman VolumeDriver.Unmount '{"Name":"na_c1"}')" '"Err":""' "Unmount"
test -e "/sys/class/nvme/$admin_ctrl" || fail "attachd deleted the admin's controller $admin_ctrl"
assert_eq "$(stat -L -c %i "/sys/class/nvme/$admin_ctrl")" "$ino" "the admin's controller (same one)"
echo 1 >"/sys/class/nvme/$admin_ctrl/delete_controller"
info "the admin's controller survived attachd's detach"

# --- volume A stuck in the kernel does not delay volume B --------------------------------
create() { volman VolumeDriver.Create "{\"Name\":\"$1\",\"Opts\":$2}"; }
assert_contains "$(create sa_c1 '{"backend":"file","size":"32M"}')" '"Err":""' "Create A"
out=$(volman VolumeDriver.Mount '{"Name":"sa_c1"}')
assert_contains "$out" '"Err":""' "Mount A"
mpa=$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")
# Put a device of the test's under A's table (same blocks), then suspend it: A's I/O waits.
sectors=$(blockdev --getsz /dev/mapper/attachd-sa)
slave=$(ls /sys/block/"$(basename "$(readlink -f /dev/mapper/attachd-sa)")"/slaves)
dmsetup create sa-below --table "0 $sectors linear /dev/$slave 0"
on_exit "dmsetup resume sa-below 2>/dev/null; dmsetup remove sa-below 2>/dev/null || true"
dmsetup reload attachd-sa --table "0 $sectors linear /dev/mapper/sa-below 0"
dmsetup resume attachd-sa
dmsetup suspend sa-below
dd if=/dev/zero of="$mpa/stuck" bs=4k count=1 oflag=direct status=none 2>/dev/null &
writer=$!
in_d_state() { [ "$(ps -o stat= -p "$1" | cut -c1)" = D ]; }
# attachd's thread in A's resume: the kernel suspends A first and waits for its I/O.
a_resume_pending() { grep -qx dm_wait_for_completion /proc/"$ATTACHD_PID"/task/*/wchan 2>/dev/null; }
wait_until 60 "the writer on A in D state" in_d_state "$writer" || fail "the writer on A is not stuck"
attachctl detach sa --force >"$ARTIFACTS/detach-a.log" 2>&1 &
detach_a=$!
wait_until 120 "attachd waiting in A's resume" a_resume_pending ||
	fail "attachd never got stuck in A's resume"
info "A is stuck: writer $writer in D state, A's error-swap resume pending"

t0=$(date +%s)
assert_contains "$(create sb_c1 '{"backend":"file","size":"32M"}')" '"Err":""' "Create B"
out=$(VOLMAN_TIMEOUT=300 volman VolumeDriver.Mount '{"Name":"sb_c1"}')
assert_contains "$out" '"Err":""' "Mount B while A is stuck"
echo "b ok" >"$(sed -E 's/.*"Mountpoint":"([^"]*)".*/\1/' <<<"$out")/b.txt"
assert_contains "$(VOLMAN_TIMEOUT=300 volman VolumeDriver.Unmount '{"Name":"sb_c1"}')" '"Err":""' \
	"Unmount B while A is stuck"
info "B attached and detached in $(($(date +%s) - t0)) s while A was stuck"
kill -0 "$detach_a" 2>/dev/null || fail "A's detach finished: it was not stuck while B ran"
a_resume_pending || fail "A's resume is no longer pending"

# Let A go: resume the device below; A's resume completes, its I/O fails, it detaches.
dmsetup resume sa-below
wait "$detach_a" || info "A's first detach: $(cat "$ARTIFACTS/detach-a.log")"
wait "$writer" || true
dmsetup remove sa-below
for i in 1 2 3; do
	attachctl detach sa --force >>"$ARTIFACTS/detach-a.log" 2>&1 && break
	sleep 1
done
test ! -e /dev/mapper/attachd-sa || fail "A not detached: $(cat "$ARTIFACTS/detach-a.log")"

stop_attachd
check_no_leftovers
