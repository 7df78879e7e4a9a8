#!/bin/bash
# Crash recovery on NVMe/TCP (nvmet-tcp): attachd killed before and after the steps that make
# or undo kernel objects (connect, dm-map, mkfs, mount, bind; unbind, umount, dm-remove,
# disconnect); a restarted attachd converges: no NVMe controller, dm device or mount left
# after the final Unmount, data intact, no reformat.
# timeout: 1200
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"
# shellcheck source=SCRIPTDIR/../crash.sh
. "$REPO/tests/vm/crash.sh"

nqn=nqn.2025-01.io.attachd.test:crash-nvme
uuid=6d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6
nvmet_subsys_create "$nqn" --ns "1:64M:$uuid" --port 127.0.0.1:4420
on_exit "nvmet_subsys_delete $nqn"
on_exit stop_attachd

CREATE_OPTS="{\"backend\":\"nvme\",\"traddr\":\"127.0.0.1\",\"subnqn\":\"$nqn\",\"uuid\":\"$uuid\"}"
name=nvol_app-1
start_attachd
mp=$(mount_name "$name")
dd if=/dev/urandom of="$mp/blob" bs=1M count=2 status=none
sum=$(md5sum <"$mp/blob")
sync
state_check
unmount_name "$name"
stop_attachd
check_no_leftovers
state_check empty

for step in connect dm-map mkfs mount bind unbind umount dm-remove disconnect; do
	for when in before after; do
		crash_cycle "$step:$when" "$name" blob "$sum"
	done
done
n=$(grep '"formatted":true' "$ARTIFACTS/attachd.log" | grep -c '"volume":"nvol"' || true)
assert_eq "$n" 1 "attaches of nvol that ran mkfs"
state_check empty
