#!/bin/bash
# The path-failure helpers of lib.sh (mpnet_*): a LIO target and an nvmet-tcp port listen
# in a network namespace behind two veth paths; a plain iscsiadm session over path 1 stalls
# when its packets are dropped (the session goes to recovery, no clean logout) and logs in
# again when they flow; the same with the link set down; nvme-tcp connects over path 2.
# timeout: 240
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

iqn=iqn.2025-01.io.attachd.test:mpnet
nqn=nqn.2025-01.io.attachd.test:mpnet
mpnet_setup 2
mpnet_lio_target "$iqn" --lun 0:16M --paths "1 2"
on_exit "lio_target_delete $iqn"
nvmet_subsys_create "$nqn" --ns 1:16M --no-port
on_exit "nvmet_subsys_delete $nqn"
mpnet_nvmet_port "$nqn" 2
p1=$(mpnet_addr 1):3260

# the portals listen in the namespace only
out=$(mpnet_ns ss -Hltn)
assert_contains "$out" "$p1" "listening sockets in $MPNET_NS"
assert_contains "$out" "$(mpnet_addr 2):4420" "listening sockets in $MPNET_NS"
assert_not_contains "$(ss -Hltn)" "$p1" "listening sockets in the guest's namespace"

sess_state() { cat /sys/class/iscsi_session/session*/state; }
sess_is() { [ "$(sess_state)" = "$1" ]; }
iscsiadm -m node -T "$iqn" -p "$p1" -o new >/dev/null
iscsiadm -m node -T "$iqn" -p "$p1" -o update -n node.startup -v manual
iscsiadm -m node -T "$iqn" -p "$p1" --login >/dev/null
dev=$(iscsi_wait_disk "$p1" "$iqn" 0)
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none
info "logged in over path 1: $dev"

mpnet_drop 1
# default noop_out interval 5 s + timeout 5 s: the connection fails, the session recovers
wait_until 60 "the session to enter recovery after mpnet_drop" sess_is FAILED
info "path 1 dropped: session $(sess_state)"
mpnet_restore 1
wait_until 90 "the session to log in again after mpnet_restore" sess_is LOGGED_IN
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none
info "path 1 restored: session $(sess_state)"

mpnet_linkdown 1
wait_until 60 "the session to enter recovery after mpnet_linkdown" sess_is FAILED
mpnet_linkup 1
wait_until 90 "the session to log in again after mpnet_linkup" sess_is LOGGED_IN
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none
info "path 1 link down and up: session $(sess_state)"

iscsiadm -m node -T "$iqn" -p "$p1" --logout >/dev/null
iscsiadm -m node -T "$iqn" -o delete

nvme connect -t tcp -a "$(mpnet_addr 2)" -s 4420 -n "$nqn" >/dev/null
nvme_on_path2() { grep -qs "traddr=$(mpnet_addr 2)," /sys/class/nvme/nvme*/address; }
wait_until 30 "an NVMe controller over path 2" nvme_on_path2
nvme disconnect -n "$nqn" >/dev/null
check_no_leftovers
info "clean"
