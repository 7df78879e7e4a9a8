#!/usr/bin/env bash
# `make bench`: attachd's attach/detach figures against baselines measured in the same VM
# run (tools/bench/NN-SECTION.sh, run as VM scenarios; helpers in tools/bench/lib/). Prints
# one markdown table per section at the end, and how long the whole bench took.
#
#   BENCH_ONLY=single,conc32,scale256,mkfs   the sections to run (default: all)
#   BENCH_ROUNDS=5                            rounds per figure (medians)
#   VM_MEM=6144                               the VM's memory in MiB (256 mounts, 1 TiB mkfs)
#   ATTACHD_BIN=/path/to/attachd              measure another build (see tests/vm/run.sh)
set -u
cd "$(dirname "$0")/.." || exit 2
t_start=$(date +%s)
all=(single conc32 scale256 mkfs)
only=${BENCH_ONLY:-all}
[ "$only" != all ] || only=$(
	IFS=,
	echo "${all[*]}"
)
names=()
IFS=, read -r -a want <<<"$only"
for w in "${want[@]}"; do
	f=$(find tools/bench -maxdepth 1 -name "[0-9][0-9]-$w.sh" -printf '%f\n' | head -1)
	[ -n "$f" ] || {
		echo "bench: unknown section '$w' in BENCH_ONLY (have: ${all[*]})" >&2
		exit 2
	}
	names+=("${f%.sh}")
done
case ${BENCH_ROUNDS:-5} in '' | *[!0-9]* | 0)
	echo "bench: BENCH_ROUNDS must be a positive number, got '${BENCH_ROUNDS}'" >&2
	exit 2 ;;
esac
tools/setup-deps.sh || exit 1
make -s -j"$(nproc)" all || exit 1
export VMTEST_BENCH_ROUNDS=${BENCH_ROUNDS:-5}
export VM_MEM=${VM_MEM:-6144} VM_TIMEOUT=${VM_TIMEOUT:-7200}
echo "bench: sections ${names[*]}, ${VMTEST_BENCH_ROUNDS} rounds, VM ${VM_MEM} MiB (log: build/bench-vm.log)"
VM_SCENARIO_DIR=$PWD/tools/bench tests/vm/run.sh "${names[@]}" >build/bench-vm.log 2>&1
rc=$?
for n in "${names[@]}"; do
	f=build/vm/out/artifacts/$n/bench.md
	if [ -s "$f" ]; then
		cat "$f"
	else
		printf '\n### %s\n\n(no figures: the section failed; see build/vm/fail/%s/scenario.log)\n' "$n" "$n"
	fi
done
echo
grep -E '^vm: (PASS|FAIL|SKIP|total)' build/bench-vm.log
t=$(($(date +%s) - t_start))
echo "bench: whole run took $((t / 60)) min $((t % 60)) s (build, VM boot and sections)"
exit $rc
