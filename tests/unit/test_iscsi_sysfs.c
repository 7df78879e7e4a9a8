/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iscsi backend sysfs lookups on a fixture tree (tests/fixtures/iscsi/sysfs, see
 * make-sysfs.sh): sessions by target + portal, SCSI hosts, devices, disks, WWIDs, the
 * initiator name; and the target locks. The connect/disconnect flows against a fake
 * kernel are in test_iscsi_connect.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/iscsi/internal.h"
#include "lib/macro.h"

#define T1 "iqn.2003-01.org.example:t1"
#define T2 "iqn.2003-01.org.example:t2"
#define T9 "iqn.2003-01.org.example:t9"

static char srcdir[PATH_MAX];
static char fixture[PATH_MAX];

/* Tests run from the repository root; SRCDIR points elsewhere when they do not. */
static int find_srcdir(void)
{
	const char *s = getenv("SRCDIR");

	snprintf(srcdir, sizeof(srcdir), "%s", s && *s ? s : ".");
	snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/iscsi/sysfs", srcdir);
	if (access(fixture, F_OK) == 0)
		return 0;
	fprintf(stderr, "fixture %s missing: run from the repository root or set SRCDIR\n",
		fixture);
	return -1;
}

/* ---------------------------------------------------------------- fixture lookups */

static struct sys fixture_sys(void)
{
	struct sys s;

	sys_init_real(&s);
	s.sysfs_root = fixture;
	s.etc_root = fixture;
	s.dev_root = "/fakedev";
	return s;
}

static void test_find_session(void **state)
{
	struct sys s = fixture_sys();
	unsigned sid = 0;

	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, &sid), 0);
	assert_int_equal(sid, 1);
	/* same target, other portal: its own session */
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.6", 3260, &sid), 0);
	assert_int_equal(sid, 7);
	/* addresses compare as addresses; connection4:1 (cid 1) is found too */
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T2, "fd00::5", 3260, &sid), 0);
	assert_int_equal(sid, 4);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3261, &sid), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T2, "10.0.0.5", 3260, &sid), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T9, "10.0.0.9", 3260, &sid), -ENOENT);

	/* no iSCSI transport at all (no class directory) */
	s.sysfs_root = "/nonexistent-attachd-root";
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, &sid), -ENOENT);
}

/* Sessions of attachd's iface win over others for the same target and portal. */
static void test_find_session_prefers_ours(void **state)
{
	struct sys s = fixture_sys();
	char root[] = "/tmp/attachd-iscsi-XXXXXX", cmd[1024];
	unsigned sid = 0;

	assert_non_null(mkdtemp(root));
	snprintf(cmd, sizeof(cmd),
		 "cp -a '%s'/. %s && K='%s/tests/fixtures/iscsi/fake-kernel.sh' && "
		 "$K %s host 8 && $K %s session 8 3 0 " T1 " 10.0.0.5 3260 default && "
		 "$K %s host 6 && $K %s session 6 9 0 " T1 " 10.0.0.5 3260 attachd",
		 fixture, root, srcdir, root, root, root, root);
	assert_int_equal(system(cmd), 0);
	s.sysfs_root = root;
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, &sid), 0);
	assert_int_equal(sid, 9);
	snprintf(cmd, sizeof(cmd), "'%s/tests/fixtures/iscsi/fake-kernel.sh' %s rmsession 6 9",
		 srcdir, root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, &sid), 0);
	assert_int_equal(sid, 1); /* lowest of the others */
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static void test_session_host_and_devices(void **state)
{
	struct sys s = fixture_sys();
	unsigned h = 0, tid = 9, n = 9;

	assert_int_equal(be_iscsi_sysfs_session_host(&s, 1, &h), 0);
	assert_int_equal(h, 2);
	assert_int_equal(be_iscsi_sysfs_session_host(&s, 4, &h), 0);
	assert_int_equal(h, 3);
	assert_int_equal(be_iscsi_sysfs_session_host(&s, 7, &h), 0);
	assert_int_equal(h, 5);
	assert_int_equal(be_iscsi_sysfs_session_host(&s, 99, &h), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_session_target_id(&s, 1, &tid), 0);
	assert_int_equal(tid, 0);

	assert_int_equal(be_iscsi_sysfs_session_count_devices(&s, 1, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(be_iscsi_sysfs_session_count_devices(&s, 4, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(be_iscsi_sysfs_session_count_devices(&s, 7, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(be_iscsi_sysfs_session_count_devices(&s, 99, &n), -ENOENT);
}

static void test_device_lookup(void **state)
{
	struct sys s = fixture_sys();
	struct backend_identity id;
	char name[32];
	unsigned ma = 0, mi = 0;

	assert_int_equal(be_iscsi_sysfs_hctl_exists(&s, "2:0:0:1"), 1);
	assert_int_equal(be_iscsi_sysfs_hctl_exists(&s, "2:0:0:9"), 0);
	assert_int_equal(be_iscsi_sysfs_hctl_block(&s, "2:0:0:1", name, sizeof(name)), 0);
	assert_string_equal(name, "sdb");
	/* SCSI device there, disk not yet: wait */
	assert_int_equal(be_iscsi_sysfs_hctl_block(&s, "2:0:0:2", name, sizeof(name)), -EAGAIN);
	assert_int_equal(be_iscsi_sysfs_hctl_block(&s, "2:0:0:3", name, sizeof(name)), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_hctl_block(&s, "2:0:0:1", name, 3), -ENOBUFS);

	assert_int_equal(be_iscsi_sysfs_block_devnum(&s, "sdb", &ma, &mi), 0);
	assert_int_equal(ma, 8);
	assert_int_equal(mi, 16);
	assert_int_equal(be_iscsi_sysfs_block_devnum(&s, "sdz", &ma, &mi), -ENOENT);

	assert_int_equal(be_iscsi_sysfs_block_identity(&s, "sdb", &id), 0);
	assert_string_equal(id.wwid, "naa.6001405abcdef0123456789abcdef012");
	assert_int_equal(id.size_bytes, 4194304ull * 512);
	/* T10: inner spaces kept, padding and newline dropped, like the probe's string */
	assert_int_equal(be_iscsi_sysfs_block_identity(&s, "sdc", &id), 0);
	assert_string_equal(id.wwid, "t10.IET     VIRTUAL-DISK    beaf11");
	assert_int_equal(id.size_bytes, 2048 * 512);
	assert_int_equal(be_iscsi_sysfs_block_identity(&s, "sdz", &id), -ENOENT);
}

static void test_initiator_name(void **state)
{
	struct sys s = fixture_sys();
	struct backend_host_config host = {.iscsi_initiator_name = ""};
	struct backend_ctx ctx = {.sys = &s, .host = &host, .timeout_ms = 1000};
	struct errbuf e = {""};
	char n[224];

	assert_int_equal(be_iscsi_initiator_name(&ctx, n, sizeof(n), &e), 0);
	assert_string_equal(n, "iqn.1993-08.org.debian:01:fixture");
	snprintf(host.iscsi_initiator_name, sizeof(host.iscsi_initiator_name), "iqn.2000-01.x:cfg");
	assert_int_equal(be_iscsi_initiator_name(&ctx, n, sizeof(n), &e), 0);
	assert_string_equal(n, "iqn.2000-01.x:cfg");
	host.iscsi_initiator_name[0] = 0;
	s.etc_root = "/nonexistent-attachd-root";
	assert_int_equal(be_iscsi_initiator_name(&ctx, n, sizeof(n), &e), -ENOENT);
	assert_non_null(strstr(e.msg, "iscsi.initiator_name"));
}
/* ---------------------------------------------------------------- locks */

static long counter;

static void *hammer(void *arg)
{
	const char *iqn = arg;

	for (int i = 0; i < 20000; i++) {
		struct be_iscsi_target_lock *l = be_iscsi_target_lock("10.0.0.1:3260", iqn);
		long v = counter;

		counter = v + 1;
		be_iscsi_target_unlock(l);
	}
	return NULL;
}

static void test_target_lock_excludes(void **state)
{
	pthread_t t[4];
	struct be_iscsi_target_lock *a, *b;

	counter = 0;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, (void *)T1), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(counter, 80000);

	/* different targets do not wait for each other */
	a = be_iscsi_target_lock("10.0.0.1:3260", T1);
	b = be_iscsi_target_lock("10.0.0.1:3260", T2);
	assert_ptr_not_equal(a, b);
	be_iscsi_target_unlock(b);
	be_iscsi_target_unlock(a);
	be_iscsi_target_unlock(NULL);
	be_iscsi_db_lock();
	be_iscsi_db_unlock();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find_session),
	    cmocka_unit_test(test_find_session_prefers_ours),
	    cmocka_unit_test(test_session_host_and_devices),
	    cmocka_unit_test(test_device_lookup),
	    cmocka_unit_test(test_initiator_name),
	    cmocka_unit_test(test_target_lock_excludes),
	};

	if (find_srcdir() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
