#!/bin/bash
# Harness smoke test (keep it): an nvmet-tcp subsystem with two namespaces, a connect by
# writing the option string to /dev/nvme-fabrics (as attachd does), the namespaces appear
# (matched by uuid and nsid), I/O, disconnect through delete_controller, check_no_leftovers.
# timeout: 180
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

nqn=nqn.2025-01.io.attachd.test:smoke-nvme
uuid=5f1d9a4e-3c2b-4e8f-9a71-0c6b2d4e8f10
nvmet_subsys_create "$nqn" --ns "1:64M:$uuid" --ns 2:32M --port 127.0.0.1:4420
info "subsystem created"

hostnqn=$(cat /etc/nvme/hostnqn)
exec {fab}<>/dev/nvme-fabrics
printf '%s' "nqn=$nqn,transport=tcp,traddr=127.0.0.1,trsvcid=4420,hostnqn=$hostnqn" >&"$fab"
IFS= read -r reply <&"$fab"
exec {fab}>&-
info "/dev/nvme-fabrics answered: $reply"
[[ $reply =~ ^instance=([0-9]+),cntlid=([0-9]+)$ ]] || fail "unexpected reply from /dev/nvme-fabrics: '$reply'"
ctrl=/sys/class/nvme/nvme${BASH_REMATCH[1]}
assert_eq "$(cat "$ctrl/subsysnqn")" "$nqn" "controller's subsysnqn"
wait_until 30 "controller to be live" grep -qx live "$ctrl/state"

# With native multipath the block device is nvme<subsys>n<nsid>; find it by uuid / nsid.
ns_by() { # ATTR VALUE: print /dev/NAME of the namespace block device with that attribute
	local f
	for f in /sys/block/nvme*n*/"$1"; do
		# nvmeXcYnZ are the hidden per-path disks under the multipath head (no /dev node)
		[[ $f != /sys/block/nvme*c*n*/* ]] && [ -e "$f" ] && [ "$(cat "$f")" = "$2" ] && { f=${f%/*}; echo "/dev/${f##*/}"; return 0; }
	done
	return 1
}
wait_until 30 "namespace with uuid $uuid" ns_by uuid "$uuid" >/dev/null
ns1=$(ns_by uuid "$uuid")
wait_until 30 "namespace 2" ns_by nsid 2 >/dev/null
ns2=$(ns_by nsid 2)
info "namespace 1 is $ns1, namespace 2 is $ns2"
assert_eq "$(blockdev --getsize64 "$ns1")" $((64 << 20)) "namespace 1 size"
assert_eq "$(blockdev --getsize64 "$ns2")" $((32 << 20)) "namespace 2 size"
wait_for_path "/dev/disk/by-id/nvme-uuid.$uuid"
assert_eq "$(readlink -f "/dev/disk/by-id/nvme-uuid.$uuid")" "$ns1" "udev by-id link"

dd if=/dev/urandom of="$SCRATCH/blob" bs=1M count=4 status=none
dd if="$SCRATCH/blob" of="$ns1" bs=1M oflag=direct status=none
assert_eq "$(dd if="$ns1" bs=1M count=4 iflag=direct status=none | md5sum)" "$(md5sum <"$SCRATCH/blob")" "data read back"
assert_eq "$(head -c 4M "$(nvmet_ns_file "$nqn" 1)" | md5sum)" "$(md5sum <"$SCRATCH/blob")" "data in the backing file"

echo 1 >"$ctrl/delete_controller"
wait_until 30 "the controller to go away" test ! -e "$ctrl"
wait_until 30 "$ns1 to go away" test ! -e "$ns1"
nvmet_subsys_delete "$nqn"
check_no_leftovers
info "clean"
