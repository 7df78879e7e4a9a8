#!/usr/bin/env bash
# Real-kernel (VM) test tier: `make check-vm`, or directly:
#
#   tests/vm/run.sh                      every scenario in tests/vm/scenarios/*.sh (sorted)
#   tests/vm/run.sh 01-smoke-nvme '0[12]*' chap
#                                        a subset: names (with or without .sh), globs, or a
#                                        word contained in the names
#   tests/vm/run.sh --list [NAME...]     the (selected) scenarios and their timeouts
#   tests/vm/run.sh --shell [NAME...]    run NAMEs (if any), then a root shell on the console
#
# How it works: one qemu VM (TCG: KVM does not work on these hosts; -smp 2, 2 GiB) boots
# Debian's stock kernel (build/vmkernel, from tools/setup-deps.sh) with a tiny cached
# initramfs (build/vm/initramfs.cpio.gz: busybox-static + virtio/9p/overlay modules +
# tests/vm/initramfs-init) that mounts the host's / read-only over virtio-9p, puts a tmpfs
# overlay on top and runs tests/vm/guest.sh as PID 1. The guest sets up modules, configfs,
# udevd and iscsid, then runs each planned scenario with its own timeout (default 300 s,
# or a `# timeout: N` line in the scenario), in its own cgroup and tmpfs ($SCRATCH), and
# afterwards kills leftover processes and tears down leftover mounts, dm and loop devices,
# iSCSI sessions/records, NVMe controllers and LIO/nvmet objects; a leak fails the scenario.
#
# Host <-> guest: build/vm/out is a second, writable 9p share. The host writes plan.tsv
# (name, timeout, path); the guest writes booted, results/NAME.start, results/NAME.result
# (status, rc, ms, reason), artifacts/NAME/ (scenario.log, leaks.txt, dmesg.txt, whatever
# the scenario put in $ARTIFACTS, e.g. attachd.log), guest-BOOT.log, daemons/*.log, done.
# The console goes to build/vm/out/console-BOOT.log. For every failed scenario all of it is
# copied to build/vm/fail/NAME/. If the VM dies or hangs during a scenario (the host kills
# it after the scenario's timeout + VM_HANG_GRACE), that scenario fails and a new VM runs
# the rest; likewise when a teardown could not remove everything. If the VM does not boot,
# every planned scenario fails with the reason.
#
# Prints "vm: PASS|FAIL|SKIP NAME (SECONDS s)[: reason]" per scenario and finally
# "vm: N passed, N failed". Exit status 0 only if no scenario failed.
# Knobs (environment): VM_TIMEOUT (whole run, default 2400 s), VM_BOOT_TIMEOUT (180 s),
# VM_HANG_GRACE (180 s), VM_MEM (2048 MiB), VM_SMP (2), VM_MAX_CRASHES (3: VMs that may die
# or hang in a scenario before the rest are given up).
# Host variables named ATTACHD_*, ATTACHCTL_*, VOLMAN_* and VMTEST_* are passed to the
# scenarios (e.g. ATTACHD_BIN=$PWD/build/x/attachd tests/vm/run.sh 10).
set -u
cd "$(dirname "$0")/../.." || exit 2
REPO=$PWD
VM=$REPO/build/vm
OUT=$VM/out
KDIR=$REPO/build/vmkernel
SCEN_DIR=${VM_SCENARIO_DIR:-$REPO/tests/vm/scenarios} # the demo points it elsewhere
VM_TIMEOUT=${VM_TIMEOUT:-2400}
VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-180}
VM_HANG_GRACE=${VM_HANG_GRACE:-180}
VM_MEM=${VM_MEM:-2048}
VM_SMP=${VM_SMP:-2}
VM_MAX_CRASHES=${VM_MAX_CRASHES:-3}

say() { echo "vm: $*"; }
die() {
	say "$*"
	exit 2
}

## ------------------------------------------------------------ arguments and plan
shell=0 list=0 pats=()
for a in "$@"; do
	case $a in
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	--shell) shell=1 ;;
	--list) list=1 ;;
	-*) die "unknown option $a (see --help)" ;;
	*) pats+=("$a") ;;
	esac
done

scenario_timeout() {
	local t
	t=$(sed -n 's/^# timeout: *\([0-9][0-9]*\).*/\1/p' "$1" | head -1)
	echo "${t:-300}"
}

all=()
for f in "$SCEN_DIR"/*.sh; do
	[ -e "$f" ] && all+=("$(basename "$f" .sh)")
done
names=()
if [ ${#pats[@]} -eq 0 ]; then
	[ $shell = 1 ] || names=("${all[@]}")
else
	for p in "${pats[@]}"; do
		p=$(basename "$p" .sh) hit=0 arg=$p
		for pass in exact substring; do
			# a plain word that is no scenario's name selects the names containing it
			if [ $pass = substring ]; then
				[ $hit = 0 ] && [[ $p != *[][*?]* ]] || break
				p="*$p*"
			fi
			for n in "${all[@]}"; do
				# shellcheck disable=SC2053 # the pattern is a glob on purpose
				if [[ $n == $p ]]; then
					hit=1
					[[ " ${names[*]} " == *" $n "* ]] || names+=("$n")
				fi
			done
		done
		[ $hit = 1 ] || die "no scenario matches '$arg' (have: ${all[*]:-none})"
	done
	# keep the sorted order whatever the order of the arguments
	mapfile -t names < <(printf '%s\n' "${names[@]}" | sort)
fi
if [ $list = 1 ]; then
	[ ${#pats[@]} -gt 0 ] || names=("${all[@]}")
	for n in "${names[@]}"; do echo "$n $(scenario_timeout "$SCEN_DIR/$n.sh")s"; done
	exit 0
fi
if [ ${#names[@]} -eq 0 ] && [ $shell = 0 ]; then
	say "no scenarios in $SCEN_DIR"
	say "0 passed, 1 failed"
	exit 1
fi

## ------------------------------------------------------------ prerequisites, lock
[ -f "$KDIR/version" ] && [ -e "$KDIR/vmlinuz" ] ||
	die "guest kernel missing in $KDIR: run tools/setup-deps.sh (make deps)"
KVER=$(cat "$KDIR/version")
MODROOT=$KDIR/root
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run tools/setup-deps.sh"
[ -x /bin/busybox ] || die "/bin/busybox (busybox-static) missing: run tools/setup-deps.sh"
mkdir -p "$VM"
exec 9>"$VM/.lock"
if ! flock -n 9; then
	say "another VM run holds $VM/.lock; waiting for it"
	flock 9
fi

## ------------------------------------------------------------ initramfs (cached)
build_initramfs() {
	local img=$VM/initramfs.cpio.gz mods key stage m
	mods=$(for m in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe -d "$MODROOT" -S "$KVER" --show-depends "$m" || exit 1
	done | awk '$1 == "insmod" && !seen[$2]++ {print $2}') || {
		say "cannot resolve the initramfs modules in $MODROOT (modprobe --show-depends)"
		return 1
	}
	key=$({
		sha256sum "$REPO/tests/vm/initramfs-init" /bin/busybox
		echo "$KVER"
		# shellcheck disable=SC2086 # one path per word
		sha256sum $mods
	} | sha256sum | cut -d' ' -f1)
	if [ -f "$img" ] && [ "$(cat "$VM/initramfs.key" 2>/dev/null)" = "$key" ]; then
		return 0
	fi
	stage=$(mktemp -d "$VM/initramfs.XXXXXX") || return 1
	mkdir -p "$stage/bin" "$stage/modules" "$stage/dev"
	cp /bin/busybox "$stage/bin/busybox"
	install -m 0755 "$REPO/tests/vm/initramfs-init" "$stage/init"
	for m in $mods; do
		cp "$m" "$stage/modules/" && basename "$m" >>"$stage/modules/order"
	done
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$img.tmp" &&
		mv "$img.tmp" "$img" && echo "$key" >"$VM/initramfs.key"
	local rc=$?
	rm -rf "$stage"
	[ $rc = 0 ] && say "built $img"
	return $rc
}
build_initramfs || die "building the initramfs failed"

## ------------------------------------------------------------ run
rm -rf "$OUT" "$VM/fail"
mkdir -p "$OUT/results"
# Host variables handed to the scenarios (e.g. ATTACHD_BIN=/path/to/other/attachd).
: >"$OUT/env"
for v in $(compgen -v | grep -E '^(ATTACHD_|ATTACHCTL_|VOLMAN_|VMTEST_)'); do
	printf 'export %s=%q\n' "$v" "${!v}" >>"$OUT/env"
done
declare -A tmo_of=() reported=() seen_start=()
for n in "${names[@]}"; do tmo_of[$n]=$(scenario_timeout "$SCEN_DIR/$n.sh"); done
passed=0 failed=0 skipped=0
t_start=$(date +%s)

write_plan() {
	local n
	: >"$OUT/plan.tsv"
	for n in "$@"; do
		printf '%s\t%s\t%s\n' "$n" "${tmo_of[$n]}" "$SCEN_DIR/$n.sh" >>"$OUT/plan.tsv"
	done
}

field() { sed -n "s/^$1=//p" "$2" | head -1; }

save_failure() { # NAME BOOT
	local d=$VM/fail/$1
	mkdir -p "$d"
	[ -d "$OUT/artifacts/$1" ] && cp -a "$OUT/artifacts/$1/." "$d/"
	[ -f "$OUT/console-$2.log" ] && cp "$OUT/console-$2.log" "$d/console.log"
	if [ -f "$OUT/guest-$2.log" ]; then cp "$OUT/guest-$2.log" "$d/guest.log"
	elif [ -f "$OUT/guest.log" ]; then cp "$OUT/guest.log" "$d/guest.log"; fi
	[ -d "$OUT/daemons" ] && cp -a "$OUT/daemons" "$d/"
}

report() { # NAME STATUS MS REASON BOOT
	local n=$1 st=$2 ms=$3 why=$4 secs
	secs=$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }')
	reported[$n]=1
	case $st in
	PASS) passed=$((passed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	*) st=FAIL failed=$((failed + 1)); save_failure "$n" "$5" ;;
	esac
	[ ${#why} -le 400 ] || why="${why:0:400}..."
	say "$st $n (${secs}s)${why:+: $why}"
	if [ "$st" = FAIL ]; then
		say "  logs: build/vm/fail/$n/ ($(find "$VM/fail/$n" -mindepth 1 -maxdepth 1 -printf "%f\n" | sort | paste -sd" " -))"
		[ -f "$OUT/artifacts/$n/scenario.log" ] && tail -15 "$OUT/artifacts/$n/scenario.log" | sed 's/^/      /'
	fi
}

collect() { # BOOT: report every result file not reported yet
	local n
	for n in "${names[@]}"; do
		[ -z "${reported[$n]:-}" ] && [ -f "$OUT/results/$n.result" ] || continue
		report "$n" "$(field status "$OUT/results/$n.result")" "$(field ms "$OUT/results/$n.result")" \
			"$(field reason "$OUT/results/$n.result")" "$1"
	done
}

# hmp CMD: one qemu human monitor command (e.g. a sysrq key) through the monitor socket.
hmp() {
	local py=python3
	[ -x /usr/bin/python3 ] && py=/usr/bin/python3
	timeout 10 "$py" - "$OUT/monitor.sock" "$1" <<'PY' >/dev/null 2>&1
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
time.sleep(0.3)
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.5)
s.close()
PY
}

qemu_pid=
on_signal() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	say "interrupted"
	exit 130
}
trap on_signal INT TERM

boot=0 crashes=0
while :; do
	remaining=()
	for n in "${names[@]}"; do [ -n "${reported[$n]:-}" ] || remaining+=("$n"); done
	[ ${#remaining[@]} -gt 0 ] || [ $shell = 1 ] || break
	boot=$((boot + 1))
	write_plan "${remaining[@]}"
	rm -f "$OUT/booted" "$OUT/done" "$OUT/setup-failed" "$OUT/dirty" "$OUT/guest.log"
	console=$OUT/console-$boot.log
	append="console=ttyS0 panic=-1 loglevel=4 vm_guest=$REPO/tests/vm/guest.sh"
	[ $shell = 1 ] && append="$append vm_shell=1"
	# shellcheck disable=SC2054 # the commas belong to qemu's option values
	qemu=(qemu-system-x86_64 -accel tcg -machine pc -cpu max -smp "$VM_SMP" -m "$VM_MEM"
		-nodefaults -display none -no-reboot
		-kernel "$KDIR/vmlinuz" -initrd "$VM/initramfs.cpio.gz" -append "$append"
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
		-fsdev "local,id=vmout,path=$OUT,security_model=none"
		-device virtio-9p-pci,fsdev=vmout,mount_tag=vmout
		-monitor "unix:$OUT/monitor.sock,server=on,wait=off")
	if [ $shell = 1 ]; then
		say "boot with a shell on this terminal (exit the shell to power off)"
		"${qemu[@]}" -serial mon:stdio
		collect "$boot"
		break
	fi
	"${qemu[@]}" -serial "file:$console" >"$OUT/qemu-$boot.log" 2>&1 &
	qemu_pid=$!
	t_boot=$(date +%s) killed=
	while kill -0 "$qemu_pid" 2>/dev/null; do
		sleep 0.5
		collect "$boot"
		now=$(date +%s)
		if [ $((now - t_start)) -ge "$VM_TIMEOUT" ]; then
			killed="the whole VM run exceeded VM_TIMEOUT=${VM_TIMEOUT}s"
		elif [ ! -e "$OUT/booted" ] && [ ! -e "$OUT/setup-failed" ] &&
			[ $((now - t_boot)) -ge "$VM_BOOT_TIMEOUT" ]; then
			killed="the VM did not finish booting within VM_BOOT_TIMEOUT=${VM_BOOT_TIMEOUT}s"
		else
			for n in "${remaining[@]}"; do
				[ -z "${reported[$n]:-}" ] && [ -f "$OUT/results/$n.start" ] || continue
				# host time when the start was first seen: no trust in the guest's clock
				[ -n "${seen_start[$n]:-}" ] || seen_start[$n]=$now
				if [ $((now - seen_start[$n])) -ge $((tmo_of[$n] + VM_HANG_GRACE)) ]; then
					killed="the VM was still in $n ${VM_HANG_GRACE}s after its ${tmo_of[$n]}s timeout"
				fi
			done
		fi
		if [ -n "$killed" ]; then
			if [ -e "$OUT/booted" ]; then
				# blocked tasks' stacks into the console log, for the post-mortem
				hmp 'sendkey alt-sysrq-w'
				sleep 3
			fi
			say "killing qemu: $killed"
			kill "$qemu_pid" 2>/dev/null
			sleep 2
			kill -KILL "$qemu_pid" 2>/dev/null
			break
		fi
	done
	wait "$qemu_pid" 2>/dev/null
	qemu_rc=$?
	qemu_pid=
	[ -f "$OUT/guest.log" ] && mv "$OUT/guest.log" "$OUT/guest-$boot.log"
	collect "$boot"

	# Whatever is left was not finished by this boot: say why.
	left=()
	for n in "${remaining[@]}"; do [ -n "${reported[$n]:-}" ] || left+=("$n"); done
	[ ${#left[@]} -gt 0 ] || break
	if [ ! -e "$OUT/booted" ]; then
		if [ -e "$OUT/setup-failed" ]; then
			why="guest setup failed: $(cat "$OUT/setup-failed")"
		else
			why=${killed:-"the VM did not boot (qemu exit status $qemu_rc)"}
		fi
		say "$why; last console lines ($console):"
		tail -25 "$console" 2>/dev/null | sed 's/^/    /'
		tail -5 "$OUT/qemu-$boot.log" 2>/dev/null | sed 's/^/    qemu: /'
		for n in "${left[@]}"; do report "$n" FAIL 0 "not run: $why" "$boot"; done
		break
	fi
	if [ -e "$OUT/dirty" ] && [ -z "$killed" ]; then
		say "restarting the VM for the remaining scenarios: $(cat "$OUT/dirty")"
		continue
	fi
	# The scenario that was running when the VM died or was killed fails; the rest get a new VM.
	crashes=$((crashes + 1))
	cur=
	for n in "${left[@]}"; do [ -f "$OUT/results/$n.start" ] && cur=$n; done
	if [ -n "$cur" ]; then
		ms=$((($(date +%s%N) - $(cat "$OUT/results/$cur.start")) / 1000000))
		report "$cur" FAIL "$ms" "${killed:-"the VM died during the scenario (qemu exit status $qemu_rc)"}; see console.log" "$boot"
	fi
	if [ -n "$killed" ] && [ $((($(date +%s)) - t_start)) -ge "$VM_TIMEOUT" ] || [ $crashes -ge "$VM_MAX_CRASHES" ]; then
		for n in "${left[@]}"; do
			[ -n "${reported[$n]:-}" ] || report "$n" FAIL 0 "not run: ${killed:-"the VM died $crashes times (VM_MAX_CRASHES)"}" "$boot"
		done
		break
	fi
	say "restarting the VM for the remaining scenarios"
done

[ $skipped = 0 ] || say "$skipped skipped"
say "total $(($(date +%s) - t_start))s, $boot boot(s)"
say "$passed passed, $failed failed"
[ $failed = 0 ]
