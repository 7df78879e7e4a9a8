#!/bin/bash
# Prometheus /metrics with the real pipeline: --metrics-listen 127.0.0.1:9610 serves text
# that `promtool check metrics` accepts before, during and after a file volume attaches
# through Volman calls; a Mount moves the file attach and bind counters by one, the volumes
# and container mounts gauges to 1 and each attach step's histogram count by one (mkfs
# included: a blank volume); the Unmount moves detach and unbind by one and the gauges
# back to 0; `attachctl metrics` agrees.
# timeout: 360
set -eu -o pipefail
. "$REPO/tests/vm/lib.sh"
command -v promtool >/dev/null || skip "promtool is not installed (Debian package prometheus)"
command -v jq >/dev/null || skip "jq is not installed"

mkdir -p "$SCRATCH/etc"
cat >"$SCRATCH/etc/attachd.json" <<JSON
{"file": {"dir": "$SCRATCH/files"}, "metrics_listen": "127.0.0.1:9610"}
JSON
start_attachd --config "$SCRATCH/etc/attachd.json"
on_exit stop_attachd

n=0
# scrape: GET /metrics into $SCRATCH/scrape-N.txt (N counts up), checked by promtool.
scrape() {
	n=$((n + 1))
	local f=$SCRATCH/scrape-$n.txt
	curl -sS --max-time 30 -D "$SCRATCH/headers-$n" -o "$f" http://127.0.0.1:9610/metrics ||
		fail "scrape $n failed"
	grep -qix $'content-type: text/plain; version=0.0.4; charset=utf-8\r' "$SCRATCH/headers-$n" ||
		fail "scrape $n: Content-Type $(grep -i content-type "$SCRATCH/headers-$n")"
	promtool check metrics <"$f" >"$SCRATCH/promtool-$n.txt" 2>&1 ||
		fail "promtool check metrics refused scrape $n: $(cat "$SCRATCH/promtool-$n.txt")"
	cp "$f" "$ARTIFACTS/"
}
# val N SERIES: the value of SERIES in scrape N ("absent" when it is not there).
val() {
	local v
	v=$(grep -F "$2 " "$SCRATCH/scrape-$1.txt" | awk -v s="$2" '$1 == s {print $2}')
	echo "${v:-absent}"
}
op() { echo "attachd_operations_total{op=\"$1\",backend=\"file\",result=\"$2\"}"; }
stepn() { echo "attachd_attach_step_duration_seconds_count{backend=\"file\",step=\"$1\"}"; }

scrape
assert_eq "$(val 1 "$(op attach success)")" 0 "attaches before"
assert_eq "$(val 1 'attachd_volumes_attached{backend="file"}')" 0 "volumes before"
assert_eq "$(val 1 "$(stepn mkfs)")" absent "mkfs histogram before any attach"
grep -q '^process_open_fds ' "$SCRATCH/scrape-1.txt" || fail "no process_open_fds"
info "scrape 1: valid, nothing attached"

create='{"Name":"vol=m_app-1","Opts":{"backend":"file","size":"64M"}}'
assert_contains "$(volman VolumeDriver.Create "$create")" '"Err":""' "Create"
out=$(volman VolumeDriver.Mount '{"Name":"vol=m_app-1"}')
assert_contains "$out" '"Err":""' "Mount"
scrape
assert_eq "$(val 2 "$(op attach success)")" 1 "attaches after the Mount"
assert_eq "$(val 2 "$(op attach failure)")" 0 "failed attaches"
assert_eq "$(val 2 "$(op bind success)")" 1 "binds after the Mount"
assert_eq "$(val 2 'attachd_volumes_attached{backend="file"}')" 1 "volumes attached"
assert_eq "$(val 2 attachd_container_mounts)" 1 "container mounts"
assert_eq "$(val 2 attachd_operations_in_flight)" 0 "operations in flight"
for s in connect await-device mkfs mount bind; do
	assert_eq "$(val 2 "$(stepn "$s")")" 1 "histogram count of step $s"
	assert_eq "$(val 2 "attachd_attach_step_duration_seconds_bucket{backend=\"file\",step=\"$s\",le=\"+Inf\"}")" 1 \
		"+Inf bucket of step $s"
done
mkfs_sum=$(val 2 'attachd_attach_step_duration_seconds_sum{backend="file",step="mkfs"}')
awk -v s="$mkfs_sum" 'BEGIN { exit !(s > 0 && s < 120) }' || fail "mkfs duration sum $mkfs_sum"
info "scrape 2: attach +1, bind +1, 1 volume, 1 container mount, mkfs took $mkfs_sum s"

assert_contains "$(volman VolumeDriver.Unmount '{"Name":"vol=m_app-1"}')" '"Err":""' "Unmount"
scrape
assert_eq "$(val 3 "$(op detach success)")" 1 "detaches after the Unmount"
assert_eq "$(val 3 "$(op unbind success)")" 1 "unbinds after the Unmount"
assert_eq "$(val 3 "$(op attach success)")" 1 "attaches after the Unmount"
assert_eq "$(val 3 'attachd_volumes_attached{backend="file"}')" 0 "volumes after the Unmount"
assert_eq "$(val 3 attachd_container_mounts)" 0 "container mounts after the Unmount"
for s in umount dm-remove disconnect; do
	assert_eq "$(val 3 "$(stepn "$s")")" 1 "histogram count of step $s"
done
info "scrape 3: detach +1, unbind +1, gauges back to 0"

out=$(attachctl --json metrics)
assert_eq "$(jq -c '.metrics | [.attaches, .detaches, .binds, .unbinds]' <<<"$out")" "[1,1,1,1]" "attachctl metrics"
stop_attachd
check_no_leftovers
