#!/bin/bash
# PID 1 of the VM tier's guest, started by the initramfs (tests/vm/initramfs-init) after it
# switch_roots into the host's / (read-only 9p + tmpfs overlay). Sets the guest up (mounts,
# modules, udevd, iscsid), runs the scenarios listed in the plan on the rw share, one by one
# with a timeout, a leak check and a teardown after each, writes one result file per
# scenario, and powers off. See tests/vm/run.sh for the protocol with the host.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
here=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$here/../.." && pwd)
export REPO
OUT=/run/vm/out   # the host's build/vm/out (virtio-9p tag vmout), read-write
RES=$OUT/results

con() { echo "vm-guest: $*" >/dev/console; }

poweroff_now() {
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}

# If this script dies, PID 1 exits and the kernel panics; panic=-1 + -no-reboot ends qemu.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
# devtmpfs lacks these; bash's process substitution needs /dev/fd
ln -sfn /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o gid=5,mode=620,ptmxmode=000 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/lock /run/vm/out /run/vm/scratch /run/vm/state
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmout "$OUT"; then
	con "FATAL: cannot mount the results share (9p tag vmout)"
	poweroff_now
fi
mkdir -p "$RES" "$OUT/artifacts" "$OUT/daemons"
LOG=$OUT/guest.log
: >"$LOG"
log() {
	local up
	read -r up _ </proc/uptime
	echo "[$up] $*" >>"$LOG"
	echo "vm-guest: $*" >/dev/console
}
setup_failed() {
	log "SETUP FAILED: $*"
	printf '%s\n' "$*" >"$OUT/setup-failed"
	poweroff_now
}
log "guest up, kernel $(uname -r), repo $REPO"
# shellcheck source=lib.sh
VM_LIB_NO_TRAPS=1 . "$REPO/tests/vm/lib.sh"

# Modules: the unpacked Debian kernel's tree (depmod already run) becomes /lib/modules/<ver>.
kver=$(uname -r)
mods=$REPO/build/vmkernel/root/lib/modules/$kver
[ -d "$mods" ] || setup_failed "kernel modules for $kver not found at $mods"
mkdir -p "/lib/modules/$kver"
mount --bind "$mods" "/lib/modules/$kver" || setup_failed "cannot bind-mount $mods"
# The ones the harness cannot work without, then the ones scenarios commonly need (one
# modprobe each: every call re-reads the index over 9p).
need=(configfs loop dm_mod scsi_mod sd_mod iscsi_tcp target_core_mod target_core_file
	target_core_iblock iscsi_target_mod nvme_tcp nvmet nvmet_tcp ext4)
want=(dm_multipath dm_round_robin dm_service_time dm_queue_length dm_flakey dm_delay xfs sg
	veth sch_netem scsi_dh_alua)
if ! modprobe -a "${need[@]}" >>"$LOG" 2>&1; then
	for m in "${need[@]}"; do
		modprobe "$m" >>"$LOG" 2>&1 || setup_failed "modprobe $m failed (see guest.log)"
	done
fi
modprobe -a "${want[@]}" >>"$LOG" 2>&1 || log "warning: modprobe -a ${want[*]} failed (see guest.log)"
log "modules loaded"
mount -t configfs configfs /sys/kernel/config || setup_failed "cannot mount configfs"
[ -d /sys/kernel/config/target ] || setup_failed "no LIO in configfs"
# LIO's iSCSI fabric appears on its first mkdir
mkdir -p /sys/kernel/config/target/iscsi || setup_failed "cannot register LIO's iSCSI fabric"
[ -d /sys/kernel/config/nvmet ] || setup_failed "no nvmet in configfs"
mount -t cgroup2 cgroup2 /sys/fs/cgroup || setup_failed "cannot mount cgroup2"
mkdir -p /sys/fs/cgroup/vm

hostname attachd-vm
# all sysrq functions: the host sends alt-sysrq-w (blocked tasks) before killing a hung VM
echo 1 >/proc/sys/kernel/sysrq
ip link set lo up || setup_failed "cannot bring lo up"
# `ip netns add` makes /run/netns a shared bind mount on first use, which would stay behind
# as a new mount of the first scenario using a namespace (mpnet_setup): make it now.
ip netns add vm-probe && ip netns del vm-probe || setup_failed "cannot create a network namespace"

# /etc is the overlay's: writable, starts as the host's. Clean iSCSI/NVMe identity and DBs.
mkdir -p /etc/iscsi /etc/nvme
rm -rf /etc/iscsi/nodes /etc/iscsi/send_targets /etc/iscsi/ifaces /var/lib/iscsi
# the record directories iscsiadm would create on first use, so creating them is no change
mkdir -p /etc/iscsi/{nodes,send_targets,ifaces,static,isns,slp,fw}
echo "InitiatorName=iqn.2025-01.io.attachd:vm-guest" >/etc/iscsi/initiatorname.iscsi
# iscsiadm would run this to start iscsid if it were not running; we start it ourselves.
sed -i 's|^iscsid.startup = .*|iscsid.startup = /bin/true|' /etc/iscsi/iscsid.conf
echo "nqn.2014-08.org.nvmexpress:uuid:$(cat /proc/sys/kernel/random/uuid)" >/etc/nvme/hostnqn
cat /proc/sys/kernel/random/uuid >/etc/nvme/hostid

# udev: the daemon, then one coldplug so /dev/disk/* exist for what is already there.
vm_udevd_start >>"$LOG" 2>&1 || setup_failed "systemd-udevd did not start (see daemons/udevd.log)"
# Block devices only: a full coldplug makes udev load kvm, floppy, ata... for nothing.
udevadm trigger --action=add --subsystem-match=block >>"$LOG" 2>&1
udevadm settle --timeout=120 >>"$LOG" 2>&1 || log "warning: udevadm settle timed out"
log "udevd up"

vm_iscsid_start >>"$LOG" 2>&1 || setup_failed "iscsid did not start (see daemons/iscsid.log)"

daemons_ok() {
	pgrep -x iscsid >/dev/null || { echo "iscsid is not running"; return 1; }
	pgrep -x systemd-udevd >/dev/null || { echo "systemd-udevd is not running"; return 1; }
}

vm_objects >/run/vm/state/boot-objects
# /etc/iscsi (but its node DB, which the teardown handles) and /etc/nvme as every scenario
# should find them; restored after each one.
mkdir -p /run/vm/state/etc
cp -a /etc/iscsi /etc/nvme /run/vm/state/etc/
log "setup done"
: >"$OUT/booted"

# Variables the host passed through (ATTACHD_BIN...), for the scenarios.
if [ -s "$OUT/env" ]; then
	# shellcheck disable=SC1091
	. "$OUT/env"
	log "from the host: $(sed 's/^export //' "$OUT/env" | paste -sd' ' -)"
fi

now_ns() { date +%s%N; }
cg_empty() { [ -z "$(<"$1/cgroup.procs")" ]; }

# run_one NAME TIMEOUT PATH: run a scenario, check/clean leftovers, write results/NAME.result
run_one() {
	local name=$1 tmo=$2 path=$3 art=$OUT/artifacts/$1 scratch=/run/vm/scratch/$1
	local cg=/sys/fs/cgroup/vm/$1 base=/run/vm/state/$1.base t0 t1 rc status reason='' dmesg0 procs
	rm -rf "$art"
	mkdir -p "$art" "$scratch" "$cg"
	mount -t tmpfs -o mode=0755 tmpfs "$scratch"
	vm_objects >"$base"
	dmesg0=$(dmesg | wc -l)
	t0=$(now_ns)
	echo "$t0" >"$RES/$name.start"
	log "scenario $name: start (timeout ${tmo}s)"
	(
		echo "$BASHPID" >"$cg/cgroup.procs"
		cd "$scratch" || exit 1
		exec env REPO="$REPO" ARTIFACTS="$art" SCRATCH="$scratch" VM_SCENARIO="$name" \
			timeout -k 10 "$tmo" bash "$path"
	) </dev/null >"$art/scenario.log" 2>&1
	rc=$?
	t1=$(now_ns)
	case $rc in
	0) status=PASS ;;
	77) status=SKIP reason="skipped: $(grep '^SKIP: ' "$art/scenario.log" | tail -1 | cut -c7-)" ;;
	124 | 137)
		if [ $(((t1 - t0) / 1000000000)) -ge "$tmo" ]; then
			status=FAIL reason="timed out after ${tmo}s"
		else
			status=FAIL reason="exit status $rc"
		fi ;;
	*) status=FAIL reason="exit status $rc" ;;
	esac
	if [ $status = FAIL ]; then
		local why
		why=$(grep -E '^FAIL: ' "$art/scenario.log" | head -1 | cut -c7-)
		[ -z "$why" ] || reason="$reason: $why"
	fi

	# Leftover processes: anything still in the scenario's cgroup (attachd, a daemon...).
	# One stuck in D state on a dead device dies only once the teardown fails its I/O.
	local p td0
	td0=$(now_ns)
	procs=$(cat "$cg/cgroup.procs")
	if [ -n "$procs" ]; then
		for p in $procs; do
			echo "leak: process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
		done >>"$art/leaks.txt"
		echo 1 >"$cg/cgroup.kill"
		wait_until 3 "scenario processes to die" cg_empty "$cg" 2>/dev/null
	fi
	vm_teardown "$base" >>"$art/leaks.txt" 2>&1
	if [ -n "$(cat "$cg/cgroup.procs")" ]; then
		echo 1 >"$cg/cgroup.kill"
		if ! wait_until 20 "scenario processes to die" cg_empty "$cg" 2>/dev/null; then
			for p in $(<"$cg/cgroup.procs"); do
				echo "cleanup failed: process $p unkillable: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
			done >>"$art/leaks.txt"
		fi
	fi
	rmdir "$cg" 2>/dev/null
	local e changed
	for e in iscsi nvme; do
		changed=$(diff -rq -x nodes -x send_targets "/run/vm/state/etc/$e" "/etc/$e" 2>&1)
		[ -n "$changed" ] || continue
		printf '%s\n' "$changed" >>"$art/etc-restored.txt"
		find "/etc/$e" -mindepth 1 -maxdepth 1 ! -name nodes ! -name send_targets -exec rm -rf {} +
		cp -a "/run/vm/state/etc/$e/." "/etc/$e/"
	done
	umount "$scratch" 2>/dev/null || umount -l "$scratch" 2>/dev/null ||
		echo "cleanup failed: cannot unmount $scratch" >>"$art/leaks.txt"
	rmdir "$scratch" 2>/dev/null
	local dres
	if ! dres=$(daemons_ok); then
		echo "leak: $dres (died or was stopped during the scenario, restarted)" >>"$art/leaks.txt"
		vm_iscsid_start >>"$LOG" 2>&1
		vm_udevd_start >>"$LOG" 2>&1
	fi
	dmesg | tail -n +"$((dmesg0 + 1))" >"$art/dmesg.txt"
	log "scenario $name: cleanup took $((($(now_ns) - td0) / 1000000)) ms"
	if grep -q '^cleanup failed' "$art/leaks.txt" 2>/dev/null; then
		# Not clean any more: the host boots a fresh VM for the remaining scenarios.
		echo "$name left objects the teardown could not remove" >/run/vm/state/dirty
	fi
	if [ -s "$art/leaks.txt" ]; then
		local nl
		nl=$(grep -c '^leak: ' "$art/leaks.txt")
		status=FAIL
		reason="${reason:+$reason; }leaked $nl object(s): $(grep -E '^(leak|cleanup failed): ' "$art/leaks.txt" | sed 's/^leak: //' | head -5 | cut -c1-120 | paste -sd';' - | sed 's/;/; /g')"
	else
		rm -f "$art/leaks.txt"
	fi
	log "scenario $name: $status ($(((t1 - t0) / 1000000)) ms) $reason"
	printf 'status=%s\nrc=%s\nms=%s\nreason=%s\n' "$status" "$rc" "$(((t1 - t0) / 1000000))" "$reason" \
		>"$RES/$name.result.tmp"
	sync
	mv "$RES/$name.result.tmp" "$RES/$name.result"
}

while IFS=$'\t' read -r name tmo path; do
	[ -n "$name" ] || continue
	run_one "$name" "$tmo" "$path"
	if [ -e /run/vm/state/dirty ]; then
		log "rebooting: $(cat /run/vm/state/dirty)"
		cp /run/vm/state/dirty "$OUT/dirty"
		poweroff_now
	fi
done <"$OUT/plan.tsv"
log "all scenarios done"
: >"$OUT/done"
if grep -qw vm_shell=1 /proc/cmdline; then
	log "interactive shell on the console; lib.sh is sourced; exit to power off"
	cd /root 2>/dev/null || cd /
	SCRATCH=/tmp ARTIFACTS=/tmp setsid -c bash --rcfile <(echo ". /etc/bash.bashrc 2>/dev/null; . '$REPO/tests/vm/lib.sh'; PS1='vm# '") -i \
		</dev/ttyS0 >/dev/ttyS0 2>&1
fi
poweroff_now
