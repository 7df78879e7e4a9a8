# shellcheck shell=bash
# Helpers for the VM tier's scenarios (tests/vm/scenarios/*.sh) and for the guest runner.
# Source it:  . "$REPO/tests/vm/lib.sh"
#
# Environment given to every scenario by the runner:
#   REPO       the repository root as seen in the guest (same path as on the host)
#   ARTIFACTS  writable per-scenario directory on the host share (build/vm/out/artifacts/NAME);
#              copied to build/vm/fail/NAME/ when the scenario fails
#   SCRATCH    a fresh tmpfs, unmounted (with everything under it) after the scenario
#   VM_SCENARIO  the scenario's name
#
# Sections: assertions, waiting, LIO iSCSI targets, nvmet targets, iSCSI initiator helpers,
# attachd + Volman, leftover listing/teardown (also used by the runner between scenarios).
# Functions print what went wrong on stderr; `fail` exits the scenario.

: "${REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${SCRATCH:=/tmp}"
: "${ARTIFACTS:=/tmp}"

VM_CONFIGFS=/sys/kernel/config
VM_LIO=$VM_CONFIGFS/target
VM_NVMET=$VM_CONFIGFS/nvmet

# On a non-zero exit that did not come through `fail` (e.g. a command failing under
# `set -e`), say which command failed last, as "FAIL: FILE:LINE: exit status N: COMMAND",
# so the runner can show why. Scenarios register their own exit actions with on_exit
# instead of replacing the EXIT trap.
_vm_failed=0 _vm_last_err='' _vm_last_rc='' _vm_on_exit=()
_vm_err() {
	_vm_last_rc=$1 _vm_last_err="${BASH_SOURCE[1]##*/}:$2: $3 (exit status $1)"
}
_vm_exit() {
	local rc=$? i
	for ((i = ${#_vm_on_exit[@]} - 1; i >= 0; i--)); do
		eval "${_vm_on_exit[i]}" || echo "on_exit: '${_vm_on_exit[i]}' failed" >&2
	done
	if [ $rc != 0 ] && [ $rc != 77 ] && [ $_vm_failed = 0 ]; then
		if [ "$_vm_last_rc" = $rc ]; then
			echo "FAIL: $_vm_last_err" >&2
		else
			echo "FAIL: exit status $rc" >&2
		fi
	fi
	exit $rc
}
# Not for the guest runner (VM_LIB_NO_TRAPS=1) nor an interactive shell.
if [ -z "${VM_LIB_NO_TRAPS:-}" ] && [[ $- != *i* ]]; then
	set -E
	trap '_vm_err $? "$LINENO" "$BASH_COMMAND"' ERR
	trap _vm_exit EXIT
fi

# on_exit CMD: run CMD (eval'd) when the scenario exits, last registered first.
on_exit() {
	_vm_on_exit+=("$1")
}

## ---------------------------------------------------------------- assertions


# fail MSG...: print "FAIL: MSG" and exit the scenario with status 1.
fail() {
	echo "FAIL: $*" >&2
	_vm_failed=1
	[[ $- == *i* ]] && return 1 # interactive (run.sh --shell): do not end the shell
	exit 1
}

# skip REASON...: end the scenario as skipped (exit 77); the reason is shown by run.sh.
skip() {
	echo "SKIP: $*"
	exit 77
}

# info MSG...: a progress line in the scenario log, with the guest's uptime.
info() {
	local up
	read -r up _ </proc/uptime
	echo "[$up] $*"
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
	[ "$1" = "$2" ] && return 0
	fail "${3:-values differ}: expected '$2', got '$1'"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
	case $1 in *"$2"*) return 0 ;; esac
	fail "${3:-text} does not contain '$2'; it is: $(printf '%s' "$1" | head -c 2000)"
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
	case $1 in *"$2"*) fail "${3:-text} contains '$2'; it is: $(printf '%s' "$1" | head -c 2000)" ;; esac
	return 0
}

## ---------------------------------------------------------------- waiting

# wait_until SECONDS WHAT CMD [ARGS...]: poll CMD (every 0.1 s) until it succeeds.
# Returns 1 with a message naming WHAT after SECONDS.
wait_until() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) + secs * 1000000000))
	until "$@"; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			echo "timed out after ${secs}s waiting for $what" >&2
			return 1
		fi
		sleep 0.1
	done
}

# wait_for_path PATH [SECONDS=30]: wait until PATH exists (a device node, a symlink...).
wait_for_path() {
	wait_until "${2:-30}" "$1 to exist" test -e "$1"
}

## ---------------------------------------------------------------- sizes and names

# vm_bytes SIZE: 64M -> 67108864 (IEC suffixes K M G T; plain numbers are bytes).
vm_bytes() {
	numfmt --from=iec "$1" 2>/dev/null || {
		echo "bad size '$1' (use e.g. 64M, 1G, or bytes)" >&2
		return 1
	}
}

# vm_tag TEXT: a short stable identifier derived from TEXT (for configfs names, files).
vm_tag() {
	printf '%s' "$1" | md5sum | cut -c1-10
}

## ---------------------------------------------------------------- LIO iSCSI targets

# lio_lun_file IQN LUN: the backing file of LUN LUN of target IQN (fileio on tmpfs, under
# $SCRATCH/lio). Deterministic, so a test may create and fill it before lio_target_create,
# which then keeps its content (growing it to the LUN's size if it is smaller).
lio_lun_file() {
	echo "$SCRATCH/lio/$(vm_tag "$1")/lun$2.img"
}

# lio_lun_serial IQN LUN: the VPD 0x80 unit serial lio_target_create gives that LUN.
# (LIO derives the VPD 0x83 NAA identifier, i.e. the WWID, from it.)
lio_lun_serial() {
	local h
	h=$(printf '%s/%s' "$1" "$2" | md5sum | cut -c1-32)
	echo "${h:0:8}-${h:8:4}-${h:12:4}-${h:16:4}-${h:20:12}"
}

# The guest's iSCSI initiator name (from /etc/iscsi/initiatorname.iscsi).
vm_initiator_name() {
	sed -n 's/^InitiatorName=//p' /etc/iscsi/initiatorname.iscsi
}

# lio_target_create IQN [--lun N:SIZE]... [--portal IP:PORT]... [--chap USER SECRET]
#                   [--mutual-chap USER SECRET] [--acl [INITIATOR_IQN]] [--readonly]
# Creates a LIO iSCSI target (one TPG, tpgt_1) through configfs:
#  - each --lun N:SIZE is a fileio backstore on the file `lio_lun_file IQN N` (sparse),
#    with a deterministic unit serial (lio_lun_serial); default: one LUN 0 of 64M;
#  - each --portal is a network portal (default 127.0.0.1:3260; any 127.x.y.z works);
#    with --portal-netns NS the portals are created (and listen) in network namespace NS
#    (LIO opens a portal's socket in the netns of the process that creates it; see mpnet_*);
#  - without --acl the TPG is in demo mode (generate_node_acls=1, any initiator, writable);
#    --acl adds an ACL for INITIATOR_IQN (default: this guest's initiator name) mapping every
#    LUN, and switches demo mode off;
#  - --chap sets CHAP (on the ACL with --acl, else on the TPG) and turns authentication on;
#    --mutual-chap adds the target's credentials for mutual CHAP.
lio_target_create() {
	local iqn=$1
	shift
	local luns=() portals=() chap_user='' chap_secret='' mchap_user='' mchap_secret='' acl='' ro=0
	local in_ns=()
	while [ $# -gt 0 ]; do
		case $1 in
		--lun) luns+=("$2"); shift 2 ;;
		--portal) portals+=("$2"); shift 2 ;;
		--portal-netns) in_ns=(nsenter "--net=/run/netns/$2"); shift 2 ;;
		--chap) chap_user=$2 chap_secret=$3; shift 3 ;;
		--mutual-chap) mchap_user=$2 mchap_secret=$3; shift 3 ;;
		--acl)
			if [ $# -ge 2 ] && [ "${2#--}" = "$2" ]; then acl=$2; shift 2; else acl=$(vm_initiator_name); shift; fi ;;
		--readonly) ro=1; shift ;;
		*) echo "lio_target_create: unknown argument '$1'" >&2; return 2 ;;
		esac
	done
	[ ${#luns[@]} -gt 0 ] || luns=(0:64M)
	[ ${#portals[@]} -gt 0 ] || portals=(127.0.0.1:3260)
	# the iSCSI fabric registers on its first mkdir
	[ -d "$VM_LIO/iscsi" ] || mkdir "$VM_LIO/iscsi" ||
		{ echo "lio_target_create: cannot create $VM_LIO/iscsi (iscsi_target_mod not loaded?)" >&2; return 1; }
	local tpg=$VM_LIO/iscsi/$iqn/tpgt_1 hba=$VM_LIO/core/fileio_0 spec n size bytes file bs
	if [ -e "$VM_LIO/iscsi/$iqn" ]; then
		echo "lio_target_create: target $iqn already exists" >&2
		return 1
	fi
	mkdir -p "$tpg" || return 1
	for spec in "${luns[@]}"; do
		n=${spec%%:*} size=${spec#*:}
		[ "$n" != "$spec" ] || { echo "lio_target_create: --lun wants N:SIZE, got '$spec'" >&2; return 2; }
		bytes=$(vm_bytes "$size") || return 2
		file=$(lio_lun_file "$iqn" "$n")
		mkdir -p "${file%/*}"
		if [ ! -e "$file" ] || [ "$(stat -c %s "$file")" -lt "$bytes" ]; then
			truncate -s "$bytes" "$file" || return 1
		fi
		bs=$hba/$(vm_tag "$iqn")_$n
		mkdir -p "$bs" || return 1
		echo "fd_dev_name=$file,fd_dev_size=$bytes" >"$bs/control" || return 1
		lio_lun_serial "$iqn" "$n" >"$bs/wwn/vpd_unit_serial" || return 1
		echo 1 >"$bs/enable" || { echo "lio_target_create: enabling backstore $bs failed" >&2; return 1; }
		mkdir "$tpg/lun/lun_$n" || return 1
		ln -s "$bs" "$tpg/lun/lun_$n/$(vm_tag "$iqn")_$n" || return 1
	done
	for spec in "${portals[@]}"; do
		"${in_ns[@]}" mkdir "$tpg/np/$spec" || { echo "lio_target_create: cannot create portal $spec" >&2; return 1; }
	done
	if [ -n "$acl" ]; then
		local a=$tpg/acls/$acl
		echo 0 >"$tpg/attrib/generate_node_acls"
		mkdir -p "$a" || return 1
		for spec in "${luns[@]}"; do
			n=${spec%%:*}
			mkdir "$a/lun_$n" || return 1
			ln -s "$tpg/lun/lun_$n" "$a/lun_$n/map" || return 1
			echo "$ro" >"$a/lun_$n/write_protect"
		done
		if [ -n "$chap_user" ]; then
			echo -n "$chap_user" >"$a/auth/userid"
			echo -n "$chap_secret" >"$a/auth/password"
		fi
		if [ -n "$mchap_user" ]; then
			echo -n "$mchap_user" >"$a/auth/userid_mutual"
			echo -n "$mchap_secret" >"$a/auth/password_mutual"
		fi
	else
		echo 1 >"$tpg/attrib/generate_node_acls"
		echo 1 >"$tpg/attrib/cache_dynamic_acls"
		echo "$ro" >"$tpg/attrib/demo_mode_write_protect"
		if [ -n "$chap_user" ]; then
			echo -n "$chap_user" >"$tpg/auth/userid"
			echo -n "$chap_secret" >"$tpg/auth/password"
		fi
		if [ -n "$mchap_user" ]; then
			echo -n "$mchap_user" >"$tpg/auth/userid_mutual"
			echo -n "$mchap_secret" >"$tpg/auth/password_mutual"
		fi
	fi
	if [ -n "$chap_user" ]; then
		echo 1 >"$tpg/attrib/authentication"
	else
		echo 0 >"$tpg/attrib/authentication"
	fi
	echo 1 >"$tpg/enable" || { echo "lio_target_create: enabling $tpg failed" >&2; return 1; }
}

# lio_tpg_delete TPGDIR: remove one TPG and everything in it (mapped LUNs, ACLs, LUNs,
# portals). Idempotent.
lio_tpg_delete() {
	local tpg=$1 d l
	[ -d "$tpg" ] || return 0
	[ -e "$tpg/enable" ] && echo 0 >"$tpg/enable" 2>/dev/null
	for d in "$tpg"/acls/*/; do
		[ -d "$d" ] || continue
		for l in "$d"lun_*/; do
			[ -d "$l" ] || continue
			find "$l" -maxdepth 1 -type l -delete
			rmdir "$l"
		done
		rmdir "$d"
	done
	for d in "$tpg"/lun/lun_*/; do
		[ -d "$d" ] || continue
		find "$d" -maxdepth 1 -type l -delete
		rmdir "$d"
	done
	for d in "$tpg"/np/*/; do
		[ -d "$d" ] && rmdir "$d"
	done
	rmdir "$tpg"
}

# lio_target_delete IQN: remove the target and the backstores lio_target_create made for it.
# The backing files stay (they vanish with $SCRATCH), so a test can re-create the target
# over the same data. Idempotent.
lio_target_delete() {
	local iqn=$1 w=$VM_LIO/iscsi/$1 t bs rc=0
	if [ -d "$w" ]; then
		for t in "$w"/tpgt_*/; do
			[ -d "$t" ] && { lio_tpg_delete "${t%/}" || rc=1; }
		done
		rmdir "$w" || rc=1
	fi
	for bs in "$VM_LIO"/core/fileio_0/"$(vm_tag "$iqn")"_*/; do
		[ -d "$bs" ] && { rmdir "$bs" || rc=1; }
	done
	return $rc
}

## ---------------------------------------------------------------- nvmet (NVMe/TCP target)

# nvmet_ns_file NQN NSID: the backing file of namespace NSID of subsystem NQN.
nvmet_ns_file() {
	echo "$SCRATCH/nvmet/$(vm_tag "$1")/ns$2.img"
}

# nvmet_subsys_create NQN [--ns NSID:SIZE[:UUID]]... [--port IP:PORT]... [--no-port]
#                     [--host HOSTNQN]...
# Creates an nvmet subsystem with file-backed namespaces (buffered_io=1: tmpfs has no
# O_DIRECT), exported on NVMe/TCP ports (default 127.0.0.1:4420; a port with the same
# address is shared with other subsystems; --no-port: none, e.g. for mpnet_nvmet_port).
# Without --host any host may connect.
# Default: one namespace 1 of 64M. Backing files keep existing content (see lio_lun_file).
nvmet_subsys_create() {
	local nqn=$1
	shift
	local nss=() ports=() hosts=() spec noport=0
	while [ $# -gt 0 ]; do
		case $1 in
		--ns) nss+=("$2"); shift 2 ;;
		--port) ports+=("$2"); shift 2 ;;
		--no-port) noport=1; shift ;;
		--host) hosts+=("$2"); shift 2 ;;
		*) echo "nvmet_subsys_create: unknown argument '$1'" >&2; return 2 ;;
		esac
	done
	[ ${#nss[@]} -gt 0 ] || nss=(1:64M)
	[ ${#ports[@]} -gt 0 ] || [ $noport = 1 ] || ports=(127.0.0.1:4420)
	[ -d "$VM_NVMET" ] || { echo "nvmet_subsys_create: $VM_NVMET missing (nvmet not loaded?)" >&2; return 1; }
	local s=$VM_NVMET/subsystems/$nqn nsid size uuid bytes file rest h p
	[ ! -e "$s" ] || { echo "nvmet_subsys_create: subsystem $nqn already exists" >&2; return 1; }
	mkdir "$s" || return 1
	if [ ${#hosts[@]} -eq 0 ]; then
		echo 1 >"$s/attr_allow_any_host"
	else
		echo 0 >"$s/attr_allow_any_host"
		for h in "${hosts[@]}"; do
			[ -d "$VM_NVMET/hosts/$h" ] || mkdir "$VM_NVMET/hosts/$h" || return 1
			ln -s "$VM_NVMET/hosts/$h" "$s/allowed_hosts/$h" || return 1
		done
	fi
	for spec in "${nss[@]}"; do
		nsid=${spec%%:*} rest=${spec#*:}
		[ "$nsid" != "$spec" ] || { echo "nvmet_subsys_create: --ns wants NSID:SIZE[:UUID], got '$spec'" >&2; return 2; }
		size=${rest%%:*} uuid=
		[ "$size" = "$rest" ] || uuid=${rest#*:}
		bytes=$(vm_bytes "$size") || return 2
		file=$(nvmet_ns_file "$nqn" "$nsid")
		mkdir -p "${file%/*}"
		if [ ! -e "$file" ] || [ "$(stat -c %s "$file")" -lt "$bytes" ]; then
			truncate -s "$bytes" "$file" || return 1
		fi
		mkdir "$s/namespaces/$nsid" || return 1
		echo -n "$file" >"$s/namespaces/$nsid/device_path" || return 1
		echo 1 >"$s/namespaces/$nsid/buffered_io" || return 1
		if [ -n "$uuid" ]; then
			echo "$uuid" >"$s/namespaces/$nsid/device_uuid" || return 1
		fi
		echo 1 >"$s/namespaces/$nsid/enable" || { echo "nvmet_subsys_create: enabling namespace $nsid failed" >&2; return 1; }
	done
	for spec in "${ports[@]}"; do
		p=$(nvmet_port_get "$spec") || return 1
		ln -s "$s" "$VM_NVMET/ports/$p/subsystems/$nqn" || return 1
	done
}

# nvmet_port_get IP:PORT: print the id of the nvmet TCP port with that address, creating it.
nvmet_port_get() {
	local addr=${1%:*} svc=${1##*:} d id=1
	for d in "$VM_NVMET"/ports/*/; do
		[ -d "$d" ] || continue
		if [ "$(<"$d/addr_traddr")" = "$addr" ] && [ "$(<"$d/addr_trsvcid")" = "$svc" ]; then
			basename "$d"
			return 0
		fi
	done
	while [ -e "$VM_NVMET/ports/$id" ]; do id=$((id + 1)); done
	d=$VM_NVMET/ports/$id
	mkdir "$d" || return 1
	echo tcp >"$d/addr_trtype" && echo ipv4 >"$d/addr_adrfam" &&
		echo "$addr" >"$d/addr_traddr" && echo "$svc" >"$d/addr_trsvcid" || return 1
	echo "$id"
}

# nvmet_subsys_delete NQN: unexport and remove the subsystem; ports left without any
# subsystem are removed too. Idempotent.
nvmet_subsys_delete() {
	local nqn=$1 s=$VM_NVMET/subsystems/$1 p ns h rc=0
	for p in "$VM_NVMET"/ports/*/; do
		[ -d "$p" ] || continue
		[ -L "$p/subsystems/$nqn" ] && { rm "$p/subsystems/$nqn" || rc=1; }
		if [ -z "$(ls -A "$p/subsystems")" ] && [ -z "$(ls -A "$p/referrals" 2>/dev/null)" ]; then
			rmdir "$p" || rc=1
		fi
	done
	if [ -d "$s" ]; then
		for h in "$s"/allowed_hosts/*; do
			[ -L "$h" ] && rm "$h"
		done
		for ns in "$s"/namespaces/*/; do
			[ -d "$ns" ] || continue
			echo 0 >"$ns/enable"
			rmdir "$ns" || rc=1
		done
		rmdir "$s" || rc=1
	fi
	return $rc
}

## ---------------------------------------------------------------- path failure (mpnet)

# Targets reachable over N network paths whose failure looks like a network failure
# (packets dropped, or a link down), not a clean logout. The targets live in the network
# namespace MPNET_NS; path I is a veth pair: host side mpnI_h (10.77.I.1/24, in the guest's
# namespace, where the initiator is) and target side mpnI_t (10.77.I.2/24, in MPNET_NS).
# LIO and nvmet-tcp open a portal's listening socket in the network namespace of the
# process that creates it in configfs, so the helpers below create portals under
# `nsenter --net` (not `ip netns exec`: it remounts /sys, hiding configfs).
#
#   mpnet_setup 2                       # namespace + 2 paths; teardown via on_exit
#   mpnet_lio_target IQN --lun 0:64M --paths "1 2"
#   mpnet_nvmet_port NQN 1              # after nvmet_subsys_create NQN --no-port
#   mpnet_drop 1; ...; mpnet_restore 1  # path 1 silently drops every packet, both ways
#   mpnet_linkdown 2; ...; mpnet_linkup 2
MPNET_NS=attachd-tgt

# mpnet_addr I: the target-side address of path I (1-based), e.g. 10.77.1.2.
mpnet_addr() {
	echo "10.77.$1.2"
}

# mpnet_host_if I / mpnet_tgt_if I: the host-side / target-side interface of path I.
mpnet_host_if() { echo "mpn$1_h"; }
mpnet_tgt_if() { echo "mpn$1_t"; }

# mpnet_ns CMD...: run CMD in the target namespace (network namespace only).
mpnet_ns() {
	nsenter "--net=/run/netns/$MPNET_NS" "$@"
}

# mpnet_setup N: create the namespace and N paths (N <= 8); registers mpnet_teardown.
mpnet_setup() {
	local n=$1 i h t
	[ "$n" -ge 1 ] && [ "$n" -le 8 ] || { echo "mpnet_setup: want 1..8 paths, got '$n'" >&2; return 2; }
	[ ! -e "/run/netns/$MPNET_NS" ] || { echo "mpnet_setup: /run/netns/$MPNET_NS exists" >&2; return 1; }
	ip netns add "$MPNET_NS" || return 1
	on_exit mpnet_teardown
	mpnet_ns ip link set lo up || return 1
	for ((i = 1; i <= n; i++)); do
		h=$(mpnet_host_if $i) t=$(mpnet_tgt_if $i)
		ip link add "$h" type veth peer name "$t" netns "$MPNET_NS" || return 1
		ip addr add "10.77.$i.1/24" dev "$h" || return 1
		mpnet_ns ip addr add "$(mpnet_addr $i)/24" dev "$t" || return 1
		ip link set "$h" up || return 1
		mpnet_ns ip link set "$t" up || return 1
	done
	# IPv4 addresses are usable at once (no DAD); wait for the carriers all the same
	for ((i = 1; i <= n; i++)); do
		wait_until 10 "path $i to come up" _mpnet_carrier "$(mpnet_host_if $i)" || return 1
	done
}
_mpnet_carrier() { [ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = 1 ]; }

# mpnet_teardown: remove the paths and the namespace. Delete the targets first (on_exit
# runs last-registered first, so create them after mpnet_setup): a portal's socket keeps
# the namespace alive. Idempotent.
mpnet_teardown() {
	local i rc=0
	for ((i = 1; i <= 8; i++)); do
		[ -e "/sys/class/net/$(mpnet_host_if $i)" ] || continue
		ip link del "$(mpnet_host_if $i)" || rc=1
	done
	if [ -e "/run/netns/$MPNET_NS" ]; then
		ip netns del "$MPNET_NS" || rc=1
	fi
	return $rc
}

# mpnet_lio_target IQN --paths "I..." [lio_target_create ARGS...]: a LIO target with one
# portal (port 3260) per listed path, listening in the target namespace.
mpnet_lio_target() {
	local iqn=$1 args=() paths='' i
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--paths) paths=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	[ -n "$paths" ] || { echo "mpnet_lio_target: --paths \"I...\" is required" >&2; return 2; }
	for i in $paths; do
		args+=(--portal "$(mpnet_addr "$i"):3260")
	done
	lio_target_create "$iqn" --portal-netns "$MPNET_NS" "${args[@]}"
}

# mpnet_nvmet_port NQN I [SVC=4420]: export subsystem NQN (nvmet_subsys_create NQN --no-port)
# on an NVMe/TCP port at path I's address, listening in the target namespace.
mpnet_nvmet_port() {
	local nqn=$1 addr svc=${3:-4420} p
	addr=$(mpnet_addr "$2")
	[ -d "$VM_NVMET/subsystems/$nqn" ] || { echo "mpnet_nvmet_port: no subsystem $nqn" >&2; return 1; }
	p=$(nvmet_port_get "$addr:$svc") || return 1
	# the port is enabled (its socket created) when the first subsystem is linked to it
	mpnet_ns ln -s "$VM_NVMET/subsystems/$nqn" "$VM_NVMET/ports/$p/subsystems/$nqn" || return 1
}

# mpnet_drop I: every packet of path I is dropped, both ways, silently (netem loss 100%:
# no RST, no ICMP, the sender's stack sees nothing): connections stall as if a cable or
# switch died. mpnet_restore I: packets flow again (the same connections may resume).
mpnet_drop() {
	tc qdisc replace dev "$(mpnet_host_if "$1")" root netem loss 100% || return 1
	mpnet_ns tc qdisc replace dev "$(mpnet_tgt_if "$1")" root netem loss 100% || return 1
}
mpnet_restore() {
	local rc=0
	tc qdisc del dev "$(mpnet_host_if "$1")" root 2>/dev/null || _mpnet_no_netem "$(mpnet_host_if "$1")" || rc=1
	mpnet_ns tc qdisc del dev "$(mpnet_tgt_if "$1")" root 2>/dev/null ||
		mpnet_ns bash -c "$(declare -f _mpnet_no_netem); _mpnet_no_netem $(mpnet_tgt_if "$1")" || rc=1
	return $rc
}
_mpnet_no_netem() { ! tc qdisc show dev "$1" | grep -q netem; }

# mpnet_linkdown I / mpnet_linkup I: set the target side of path I down / up (the host side
# loses its carrier: packets to path I's address go nowhere).
mpnet_linkdown() {
	mpnet_ns ip link set "$(mpnet_tgt_if "$1")" down
}
mpnet_linkup() {
	mpnet_ns ip link set "$(mpnet_tgt_if "$1")" up &&
		wait_until 10 "path $1 carrier" _mpnet_carrier "$(mpnet_host_if "$1")"
}

## ---------------------------------------------------------------- initiator helpers

# iscsi_by_path PORTAL IQN LUN: the udev by-path link for that LUN.
iscsi_by_path() {
	echo "/dev/disk/by-path/ip-$1-iscsi-$2-lun-$3"
}

# iscsi_wait_disk PORTAL IQN LUN [SECONDS=30]: wait for udev's by-path link of an iSCSI LUN
# and print the kernel device it points to (e.g. /dev/sdb).
iscsi_wait_disk() {
	local link
	link=$(iscsi_by_path "$1" "$2" "$3")
	wait_for_path "$link" "${4:-30}" || return 1
	readlink -f "$link"
}

## ---------------------------------------------------------------- guest daemons

# iscsid and systemd-udevd run for the whole VM. A scenario may stop them (to test the
# agent without them) but must start them again: the runner counts a dead daemon as a
# leak. Started here, they run outside the scenario's cgroup, so they survive its cleanup.
VM_DAEMON_LOGS=/run/vm/out/daemons

_vm_outside() { # CMD...: run CMD in the root cgroup and its own session, in the background
	(
		echo "$BASHPID" >/sys/fs/cgroup/cgroup.procs 2>/dev/null
		exec setsid "$@" </dev/null
	) &
}
_vm_iscsid_answers() {
	iscsiadm -m session >/dev/null 2>&1
	case $? in 0 | 21) return 0 ;; esac # 21: no sessions, but iscsid answered
	return 1
}
_vm_udevd_answers() { udevadm control --ping >/dev/null 2>&1; }
_vm_not_running() { ! pgrep -x "$1" >/dev/null; }

# vm_iscsid_start / vm_iscsid_stop: (re)start iscsid and wait until it answers / stop it.
vm_iscsid_start() {
	pgrep -x iscsid >/dev/null && return 0
	mkdir -p "$VM_DAEMON_LOGS"
	_vm_outside iscsid -f >>"$VM_DAEMON_LOGS/iscsid.log" 2>&1
	wait_until 10 "iscsid to answer" _vm_iscsid_answers
}
vm_iscsid_stop() {
	pkill -x iscsid
	wait_until 10 "iscsid to exit" _vm_not_running iscsid
}

# vm_udevd_start / vm_udevd_stop: (re)start systemd-udevd / stop it (udevadm control --exit).
vm_udevd_start() {
	pgrep -x systemd-udevd >/dev/null && return 0
	mkdir -p "$VM_DAEMON_LOGS"
	_vm_outside /lib/systemd/systemd-udevd >>"$VM_DAEMON_LOGS/udevd.log" 2>&1
	wait_until 10 "udevd to answer" _vm_udevd_answers
}
vm_udevd_stop() {
	udevadm control --exit
	wait_until 10 "systemd-udevd to exit" _vm_not_running systemd-udevd
}

## ---------------------------------------------------------------- attachd and Volman

ATTACHD_PID=
ATTACHD_LISTEN=127.0.0.1:7610
ATTACHD_ADMIN_SOCKET=
ATTACHD_DRIVER_FILE=

# start_attachd [ARGS...]: run $ATTACHD_BIN (default $REPO/bin/attachd) with ARGS, logging to
# $ARTIFACTS/attachd.log, and wait (ATTACHD_START_TIMEOUT, default 30 s) until it has
# written <driver-dir>/<driver-name>.json. Defaults are added for flags not given:
# --state-dir $SCRATCH/state --mount-root $SCRATCH/mnt --driver-dir $SCRATCH/drivers.
# Sets ATTACHD_PID, ATTACHD_LISTEN (for volman), ATTACHD_ADMIN_SOCKET, ATTACHD_DRIVER_FILE.
start_attachd() {
	local bin=${ATTACHD_BIN:-$REPO/bin/attachd} args=("$@") driver_dir='' name=attachd
	local have_state=0 have_mnt=0 i a
	[ -x "$bin" ] || fail "attachd binary $bin is missing (run make)"
	[ -z "$ATTACHD_PID" ] || fail "start_attachd: attachd already running (pid $ATTACHD_PID)"
	ATTACHD_LISTEN=127.0.0.1:7610 ATTACHD_ADMIN_SOCKET=
	for ((i = 0; i < ${#args[@]}; i++)); do
		a=${args[i]}
		case $a in
		--listen | --driver-dir | --driver-name | --admin-socket | --state-dir | --mount-root)
			set -- "$a" "${args[i + 1]:-}"
			i=$((i + 1)) ;;
		--*=*) set -- "${a%%=*}" "${a#*=}" ;;
		*) continue ;;
		esac
		case $1 in
		--listen) ATTACHD_LISTEN=$2 ;;
		--driver-dir) driver_dir=$2 ;;
		--driver-name) name=$2 ;;
		--admin-socket) ATTACHD_ADMIN_SOCKET=$2 ;;
		--state-dir) have_state=1 ;;
		--mount-root) have_mnt=1 ;;
		esac
	done
	[ $have_state = 1 ] || args+=(--state-dir "$SCRATCH/state")
	[ $have_mnt = 1 ] || args+=(--mount-root "$SCRATCH/mnt")
	[ -n "$driver_dir" ] || { driver_dir=$SCRATCH/drivers; args+=(--driver-dir "$driver_dir"); }
	mkdir -p "$driver_dir"
	ATTACHD_DRIVER_FILE=$driver_dir/$name.json
	echo "=== start_attachd: $bin ${args[*]}" >>"$ARTIFACTS/attachd.log"
	"$bin" "${args[@]}" >>"$ARTIFACTS/attachd.log" 2>&1 &
	ATTACHD_PID=$!
	local deadline=$(($(date +%s) + ${ATTACHD_START_TIMEOUT:-30}))
	until [ -e "$ATTACHD_DRIVER_FILE" ]; do
		if ! kill -0 "$ATTACHD_PID" 2>/dev/null; then
			wait "$ATTACHD_PID"
			local rc=$?
			ATTACHD_PID=
			tail -20 "$ARTIFACTS/attachd.log" >&2
			fail "attachd exited (status $rc) before writing $ATTACHD_DRIVER_FILE"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			tail -20 "$ARTIFACTS/attachd.log" >&2
			fail "attachd did not write $ATTACHD_DRIVER_FILE within ${ATTACHD_START_TIMEOUT:-30}s"
		fi
		sleep 0.1
	done
	info "attachd running (pid $ATTACHD_PID, listen $ATTACHD_LISTEN)"
}

# stop_attachd [SIGNAL=TERM] [SECONDS=30]: signal attachd and wait for it to exit. Returns its
# exit status; if it does not exit in time it is killed and stop_attachd fails the scenario.
stop_attachd() {
	local sig=${1:-TERM} secs=${2:-30} rc
	[ -n "$ATTACHD_PID" ] || return 0
	kill "-$sig" "$ATTACHD_PID" 2>/dev/null
	local deadline=$(($(date +%s) + secs))
	while kill -0 "$ATTACHD_PID" 2>/dev/null; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			kill -KILL "$ATTACHD_PID" 2>/dev/null
			wait "$ATTACHD_PID" 2>/dev/null
			ATTACHD_PID=
			fail "attachd did not exit within ${secs}s of SIG$sig (killed)"
		fi
		sleep 0.1
	done
	wait "$ATTACHD_PID"
	rc=$?
	ATTACHD_PID=
	echo "=== stop_attachd: exit status $rc" >>"$ARTIFACTS/attachd.log"
	return $rc
}

# volman CALL [JSON]: POST JSON to http://$ATTACHD_LISTEN/CALL the way Volman does (no
# Content-Type, empty body allowed) and print the response body. Fails if the HTTP request
# itself fails (connection refused, timeout: VOLMAN_TIMEOUT, default 120 s).
volman() {
	curl -sS --max-time "${VOLMAN_TIMEOUT:-120}" -X POST --data-binary "${2-}" -H 'Content-Type:' \
		"http://$ATTACHD_LISTEN/$1"
}

# attachctl ARGS...: run $REPO/bin/attachctl against the agent start_attachd started.
attachctl() {
	local bin=${ATTACHCTL_BIN:-$REPO/bin/attachctl}
	if [ -n "$ATTACHD_ADMIN_SOCKET" ]; then
		"$bin" --admin-socket "$ATTACHD_ADMIN_SOCKET" "$@"
	else
		"$bin" "$@"
	fi
}

## ---------------------------------------------------------------- leftovers

# vm_objects: list the kernel objects tests create, one per line, "KIND<TAB>ID<TAB>WHAT".
# KIND: mount dm loop iscsi-session iscsi-node iscsi-discovery nvme-ctrl nvmet-subsys
# nvmet-port nvmet-host lio-target lio-backstore lio-discovery-auth netns netif.
# IDs are stable while the object lives, so two listings can be compared.
vm_objects() {
	local l d f t id a b c
	# No forks in here: it runs twice per scenario, and a fork costs milliseconds under TCG.
	# mounts: mount id, mount point, fstype and source (mountinfo's octal escapes kept)
	while read -r id _ _ _ t _ l; do
		l=" $l"
		l=${l#* - }
		printf 'mount\t%s\t%s (%s)\n' "$id" "$t" "${l% *}"
	done </proc/self/mountinfo
	for d in /sys/class/block/dm-*; do
		[ -e "$d/dm/name" ] || continue
		_vm_rd a "$d/dm/name"
		_vm_rd b "$d/dm/uuid"
		printf 'dm\t%s\t%s uuid=%s\n' "$a" "${d##*/}" "$b"
	done
	for d in /sys/class/block/loop*; do
		[ -e "$d/loop/backing_file" ] || continue
		_vm_rd a "$d/loop/backing_file"
		printf 'loop\t/dev/%s\t%s\n' "${d##*/}" "$a"
	done
	for d in /sys/class/iscsi_session/session*; do
		[ -e "$d" ] || continue
		_vm_rd a "$d/targetname"
		printf 'iscsi-session\t%s\t%s\n' "${d##*/session}" "$a"
	done
	for d in /etc/iscsi/nodes/*/*; do
		[ -e "$d" ] || continue
		t=${d#/etc/iscsi/nodes/}
		printf 'iscsi-node\t%s\t%s\n' "$t" "$t"
	done
	for d in /etc/iscsi/send_targets/*; do
		[ -e "$d" ] || continue
		printf 'iscsi-discovery\t%s\t%s\n' "${d##*/}" "${d##*/}"
	done
	for d in /sys/class/nvme/nvme*; do
		[ -e "$d" ] || continue
		_vm_rd a "$d/transport"
		_vm_rd b "$d/subsysnqn"
		_vm_rd c "$d/address"
		printf 'nvme-ctrl\t%s\t%s %s %s\n' "${d##*/}" "$a" "$b" "$c"
	done
	if [ -d "$VM_NVMET" ]; then
		for d in "$VM_NVMET"/subsystems/*; do
			[ -d "$d" ] && printf 'nvmet-subsys\t%s\t%s\n' "${d##*/}" "${d##*/}"
		done
		for d in "$VM_NVMET"/ports/*; do
			[ -d "$d" ] || continue
			_vm_rd a "$d/addr_traddr"
			_vm_rd b "$d/addr_trsvcid"
			printf 'nvmet-port\t%s\t%s:%s\n' "${d##*/}" "$a" "$b"
		done
		for d in "$VM_NVMET"/hosts/*; do
			[ -d "$d" ] && printf 'nvmet-host\t%s\t%s\n' "${d##*/}" "${d##*/}"
		done
	fi
	# network namespaces (ip netns) and the guest's network interfaces (mpnet_setup)
	for d in /run/netns/*; do
		[ -e "$d" ] && printf 'netns\t%s\t%s\n' "${d##*/}" "$d"
	done
	for d in /sys/class/net/*; do
		[ -e "$d/ifindex" ] || continue
		_vm_rd a "$d/ifindex"
		printf 'netif\t%s\t%s ifindex %s\n' "${d##*/}" "${d##*/}" "$a"
	done
	if [ -d "$VM_LIO" ]; then
		for f in "$VM_LIO"/*/; do
			f=${f%/}
			case ${f##*/} in core) continue ;; esac
			for d in "$f"/*/; do
				d=${d%/}
				case ${d##*/} in discovery_auth | "*") continue ;; esac
				printf 'lio-target\t%s/%s\t%s target %s\n' "${f##*/}" "${d##*/}" "${f##*/}" "${d##*/}"
			done
		done
		for d in "$VM_LIO"/core/*/*/; do
			d=${d%/}
			case $d in "$VM_LIO"/core/alua/*) continue ;; esac
			[ -e "$d/udev_path" ] || continue
			a=
			while read -r l; do
				case $l in *"File: "*) l=${l#*File: } a=${l%% *} ;; esac
			done <"$d/info"
			printf 'lio-backstore\t%s\t%s\n' "${d#"$VM_LIO"/core/}" "$a"
		done
		f=$VM_LIO/iscsi/discovery_auth/enforce_discovery_auth
		if [ -e "$f" ] && _vm_rd a "$f" && [ "$a" != 0 ]; then
			printf 'lio-discovery-auth\tenforce\tenforce_discovery_auth=1\n'
		fi
	fi
	return 0
}

# _vm_rd VAR FILE: VAR = FILE's first line ("" if unreadable), without a fork.
_vm_rd() {
	local _l=
	{ IFS= read -r _l <"$2" || true; } 2>/dev/null
	printf -v "$1" '%s' "$_l"
	return 0
}

# vm_objects_new BASELINE_FILE: the objects listed now and not in BASELINE_FILE.
vm_objects_new() {
	local now
	now=$(vm_objects)
	[ -n "$now" ] || return 0
	grep -vxF -f "$1" <<<"$now" || true
}

# vm_mounts_under ROOT: mount points at or below ROOT, deepest (most recent) first.
vm_mounts_under() {
	local root=${1%/} mp
	awk '{print $5}' /proc/self/mountinfo | tac | while read -r mp; do
		mp=$(printf '%b' "${mp//\\/\\0}")
		case $mp in "$root" | "$root"/*) echo "$mp" ;; esac
	done
}

# check_no_leftovers [--keep-dm NAME]... [--keep-loop DEV]... [ROOT=$SCRATCH]
# Fails unless the guest is clean: no dm devices (attachd-* or any other not kept), no loop
# devices (not kept), no iSCSI sessions, node records or discovery records, no NVMe
# controllers, no mounts at or below ROOT. Prints every leftover, then fails the scenario.
check_no_leftovers() {
	local keep_dm=() keep_loop=() root=$SCRATCH left=() k kind id what skipit
	while [ $# -gt 0 ]; do
		case $1 in
		--keep-dm) keep_dm+=("$2"); shift 2 ;;
		--keep-loop) keep_loop+=("$2"); shift 2 ;;
		*) root=$1; shift ;;
		esac
	done
	while IFS=$'\t' read -r kind id what; do
		skipit=0
		case $kind in
		dm) for k in "${keep_dm[@]}"; do [ "$k" = "$id" ] && skipit=1; done ;;
		loop) for k in "${keep_loop[@]}"; do [ "$k" = "$id" ] && skipit=1; done ;;
		iscsi-session | iscsi-node | iscsi-discovery | nvme-ctrl) ;;
		*) skipit=1 ;;
		esac
		[ $skipit = 1 ] || { left+=("$kind $id"); echo "leftover: $kind $id: $what" >&2; }
	done < <(vm_objects)
	while read -r k; do
		[ -n "$k" ] && [ "$k" != "${SCRATCH%/}" ] || continue
		left+=("mount $k")
		echo "leftover: mount $k" >&2
	done < <(vm_mounts_under "$root")
	[ ${#left[@]} -eq 0 ] && return 0
	local all
	all=$(printf '%s, ' "${left[@]}")
	fail "check_no_leftovers: ${#left[@]} leftover(s): ${all%, }"
}

# vm_teardown BASELINE_FILE: remove every object listed now but not in BASELINE_FILE (a
# vm_objects listing taken earlier), in dependency order, each step bounded in time.
# Prints "leak: KIND ID: WHAT" for each such object and "cleanup failed: ..." for each one
# still present afterwards. Returns 0 if nothing leaked, 1 if something leaked but was
# cleaned, 2 if something could not be removed.
vm_teardown() {
	local base=$1 new kind id what pass n rc=0 d
	new=$(vm_objects_new "$base")
	[ -n "$new" ] || return 0
	while IFS=$'\t' read -r kind id what; do
		echo "leak: $kind $id: $what"
	done <<<"$new"
	rc=1
	_td() { timeout -k 2 "$1" "${@:2}" >/dev/null 2>&1; } # SECS CMD...: bounded, quiet
	# shellcheck disable=SC2016 # $1 and $2 are the inner shell's
	_td_write() { _td "$1" bash -c 'echo "$2" >"$1"' _ "$2" "$3"; } # SECS FILE VALUE
	_td_new() { vm_objects_new "$base" | awk -F'\t' -v k="$1" '$1 == k {print $2}'; }
	_td_umount() { # SECS [-l]: unmount the new mounts, most recent first
		local ids id mp
		ids=$(_td_new mount)
		[ -n "$ids" ] || return 0
		awk '{print $1, $5}' /proc/self/mountinfo | tac | while read -r id mp; do
			grep -qx "$id" <<<"$ids" || continue
			mp=$(printf '%b' "${mp//\\/\\0}")
			_td "$1" umount ${2:+"$2"} "$mp"
		done
	}
	# 1. multipath maps must fail I/O, not queue it forever, once their paths go
	for d in $(_td_new dm); do
		dmsetup table "$d" 2>/dev/null | grep -q ' multipath ' && _td 5 dmsetup message "$d" 0 fail_if_no_path
	done
	# 2. Unmount, politely, unless a path is dead: then step 3 first, or umount would wait
	#    for I/O queued on a session in recovery (replacement_timeout, 120 s).
	local st dead=0 pids=()
	for d in $(_td_new iscsi-session); do
		_vm_rd st "/sys/class/iscsi_session/session$d/state"
		[ "$st" = LOGGED_IN ] || dead=1
	done
	for d in $(_td_new nvme-ctrl); do
		_vm_rd st "/sys/class/nvme/$d/state"
		[ "$st" = live ] || dead=1
	done
	[ $dead = 1 ] || _td_umount 10
	# 3. Still mounted: take the initiator side down so stuck I/O fails (in parallel: a
	#    logout from a dead session waits for its logout_timeout, 15 s), error the dm
	#    tables, unmount again, lazily at last.
	if [ -n "$(_td_new mount)" ]; then
		for d in $(_td_new iscsi-session); do
			_td 60 iscsiadm -m session -r "$d" -u &
			pids+=($!)
		done
		for d in $(_td_new nvme-ctrl); do
			_td_write 30 "/sys/class/nvme/$d/delete_controller" 1 &
			pids+=($!)
		done
		[ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
		for d in $(_td_new dm); do
			_td 10 dmsetup wipe_table --noflush "$d"
		done
		_td_umount 10
		_td_umount 5 -l
	fi
	# 4. dm devices: several passes (stacked devices), then force
	for pass in 1 2 3 4 5; do
		n=0
		for d in $(_td_new dm); do
			n=$((n + 1))
			# --retry: udev's blkid may hold a just-closed device open for a moment
			if [ $pass -lt 5 ]; then _td 10 dmsetup remove --retry "$d"; else _td 10 dmsetup remove --force --retry "$d"; fi
		done
		[ $n -gt 0 ] || break
	done
	# 5. NVMe host controllers (before their targets, or delete waits for reconnects)
	for d in $(_td_new nvme-ctrl); do
		_td_write 20 "/sys/class/nvme/$d/delete_controller" 1
	done
	# 6. iSCSI sessions, node and discovery records
	for d in $(_td_new iscsi-session); do
		_td 30 iscsiadm -m session -r "$d" -u
	done
	if vm_objects_new "$base" | grep -q '^iscsi-\(node\|discovery\)'; then
		_td 30 iscsiadm -m node -o delete
		_td 30 iscsiadm -m discoverydb -o delete
		if ! vm_objects | grep -q '^iscsi-session'; then
			rm -rf /etc/iscsi/nodes/* /etc/iscsi/send_targets/*
		fi
	fi
	# 7. loop devices
	for d in $(_td_new loop); do
		_td 10 losetup -d "$d"
	done
	# 8. nvmet
	if [ -d "$VM_NVMET" ]; then
		for d in "$VM_NVMET"/subsystems/*/; do
			[ -d "$d" ] && nvmet_subsys_delete "$(basename "$d")" 2>/dev/null
		done
		for d in "$VM_NVMET"/ports/*/; do
			[ -d "$d" ] || continue
			find "$d/subsystems" "$d/referrals" -mindepth 1 -maxdepth 1 -type l -delete 2>/dev/null
			rmdir "$d"/referrals/* 2>/dev/null
			rmdir "$d" 2>/dev/null
		done
		for d in "$VM_NVMET"/hosts/*/; do
			[ -d "$d" ] && rmdir "$d" 2>/dev/null
		done
	fi
	# 9. LIO: fabric targets, then backstores and their HBAs
	if [ -d "$VM_LIO" ]; then
		local f t
		for f in "$VM_LIO"/*/; do
			case $(basename "$f") in core) continue ;; esac
			for d in "$f"*/; do
				case $(basename "$d") in discovery_auth) continue ;; esac
				for t in "$d"tpgt_*/; do
					[ -d "$t" ] && lio_tpg_delete "${t%/}" 2>/dev/null
				done
				rmdir "$d" 2>/dev/null
			done
		done
		for d in "$VM_LIO"/core/*/*/; do
			case $d in "$VM_LIO"/core/alua/*) continue ;; esac
			[ -e "$d/udev_path" ] && rmdir "$d" 2>/dev/null
		done
		for d in "$VM_LIO"/core/*/; do
			case $(basename "$d") in alua) continue ;; esac
			rmdir "$d" 2>/dev/null
		done
		d=$VM_LIO/iscsi/discovery_auth
		[ -e "$d/enforce_discovery_auth" ] && echo 0 >"$d/enforce_discovery_auth" 2>/dev/null
	fi
	# 10. network interfaces, then namespaces (after the targets: their portals' sockets
	#     keep a namespace alive)
	for d in $(_td_new netif); do
		_td 10 ip link del "$d"
	done
	for d in $(_td_new netns); do
		_td 10 ip netns del "$d"
	done
	unset -f _td _td_write _td_new _td_umount
	new=$(vm_objects_new "$base")
	if [ -n "$new" ]; then
		while IFS=$'\t' read -r kind id what; do
			echo "cleanup failed: $kind $id: $what"
		done <<<"$new"
		rc=2
	fi
	return $rc
}
