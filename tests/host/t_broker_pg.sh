#!/usr/bin/env bash
# attachd-broker on PostgreSQL (Debian's postgresql; initdb + pg_ctl in a temporary
# directory, unix socket only, password auth with the password from
# database_password_file): the OSB surface (t_broker_osb.sh), the iscsi pool
# (t_broker_pool.sh), the asynchronous operations (t_broker_async.sh) and no orphan
# after a kill plus two brokers provisioning one id at once yielding one volume
# (t_broker_crash.sh), each against its own fresh cluster.
cd "$(dirname "$0")/../.." || exit 1
for t in osb pool crash async; do
	out=$(BROKER_DB=pg bash tests/host/t_broker_$t.sh 2>&1); rc=$?
	echo "$out" | tail -3
	[ $rc = 0 ] || { echo "FAIL: t_broker_$t on PostgreSQL (exit $rc)"; exit $rc; }
done
echo PASS
