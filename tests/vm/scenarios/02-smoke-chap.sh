#!/bin/bash
# Harness smoke test (keep it): CHAP on LIO targets, both ways lio_target_create sets it up
# (TPG-level in demo mode, and per-ACL for this guest's initiator): a login without
# credentials and one with a wrong secret are refused, the right credentials log in.
# timeout: 240
set -eu -o pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$REPO/tests/vm/lib.sh"

portal=127.0.0.1:3260
user=smokeuser secret=smoke-secret-0123

node() { iscsiadm -m node -T "$1" -p "$portal" "${@:2}"; }
set_chap() { # IQN USER SECRET ("" "" for none)
	if [ -n "$2" ]; then
		node "$1" -o update -n node.session.auth.authmethod -v CHAP
		node "$1" -o update -n node.session.auth.username -v "$2"
		node "$1" -o update -n node.session.auth.password -v "$3"
	else
		node "$1" -o update -n node.session.auth.authmethod -v None
	fi
}
try_login() { # IQN: print iscsiadm's exit status
	local rc=0
	node "$1" --login >>"$ARTIFACTS/logins.log" 2>&1 || rc=$?
	echo "$rc"
}

check_target() { # IQN
	local iqn=$1 rc
	node "$iqn" -o new >/dev/null
	node "$iqn" -o update -n node.startup -v manual
	node "$iqn" -o update -n node.session.initial_login_retry_max -v 1

	set_chap "$iqn" "" ""
	rc=$(try_login "$iqn")
	[ "$rc" != 0 ] || fail "$iqn: login without CHAP credentials succeeded"
	info "$iqn: login without credentials refused (iscsiadm exit $rc)"

	set_chap "$iqn" "$user" wrong-secret-0000
	rc=$(try_login "$iqn")
	[ "$rc" != 0 ] || fail "$iqn: login with a wrong CHAP secret succeeded"
	info "$iqn: login with a wrong secret refused (iscsiadm exit $rc)"
	[ -z "$(ls /sys/class/iscsi_session/)" ] || fail "$iqn: a session exists after refused logins"

	set_chap "$iqn" "$user" "$secret"
	rc=$(try_login "$iqn")
	[ "$rc" = 0 ] || fail "$iqn: login with the right CHAP credentials failed (exit $rc, see logins.log)"
	iscsi_wait_disk "$portal" "$iqn" 0 >/dev/null
	info "$iqn: login with credentials accepted"
	node "$iqn" --logout >/dev/null
	node "$iqn" -o delete
}

tpg_iqn=iqn.2025-01.io.attachd.test:smoke-chap-tpg
acl_iqn=iqn.2025-01.io.attachd.test:smoke-chap-acl
lio_target_create "$tpg_iqn" --lun 0:16M --portal "$portal" --chap "$user" "$secret"
lio_target_create "$acl_iqn" --lun 0:16M --portal "$portal" --acl --chap "$user" "$secret"
check_target "$tpg_iqn"
check_target "$acl_iqn"
lio_target_delete "$tpg_iqn"
lio_target_delete "$acl_iqn"
check_no_leftovers
info "clean"
