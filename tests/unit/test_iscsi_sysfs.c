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

	/* session1 and session4 are on iface default (an admin's), session7 on attachd's */
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, "default", &sid), 0);
	assert_int_equal(sid, 1);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.6", 3260, "attachd", &sid), 0);
	assert_int_equal(sid, 7);
	/* addresses compare as addresses; connection4:1 (cid 1) is found too */
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T2, "fd00::5", 3260, "default", &sid), 0);
	assert_int_equal(sid, 4);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3261, "default", &sid),
			 -ENOENT);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T2, "10.0.0.5", 3260, "default", &sid),
			 -ENOENT);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T9, "10.0.0.9", 3260, "default", &sid),
			 -ENOENT);
	/* the admin's sessions are invisible to attachd's iface, and the other way round */
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, "attachd", &sid),
			 -ENOENT);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T2, "fd00::5", 3260, "attachd", &sid),
			 -ENOENT);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.6", 3260, "default", &sid),
			 -ENOENT);

	/* no iSCSI transport at all (no class directory) */
	s.sysfs_root = "/nonexistent-attachd-root";
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, "default", &sid),
			 -ENOENT);
}

/* Two sessions to one target and portal, an admin's and ours: each iface sees its own. */
static void test_find_session_by_iface(void **state)
{
	struct sys s = fixture_sys();
	char root[] = "/tmp/attachd-iscsi-XXXXXX", cmd[1024];
	unsigned sid = 0;

	assert_non_null(mkdtemp(root));
	snprintf(cmd, sizeof(cmd),
		 "cp -a '%s'/. %s && K='%s/tests/fixtures/iscsi/fake-kernel.sh' && "
		 "$K %s host 8 && $K %s session 8 3 0 " T1 " 10.0.0.5 3260 default && "
		 "$K %s host 6 && $K %s session 6 9 0 " T1 " 10.0.0.5 3260 attachd && "
		 "$K %s host 7 && $K %s session 7 5 0 " T1 " 10.0.0.5 3260 && "
		 "rm %s/sys/class/iscsi_session/session5/ifacename",
		 fixture, root, srcdir, root, root, root, root, root, root, root);
	assert_int_equal(system(cmd), 0);
	s.sysfs_root = root;
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, "attachd", &sid), 0);
	assert_int_equal(sid, 9);
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, "default", &sid), 0);
	assert_int_equal(sid, 1); /* lowest of the admin's */
	snprintf(cmd, sizeof(cmd), "'%s/tests/fixtures/iscsi/fake-kernel.sh' %s rmsession 6 9",
		 srcdir, root);
	assert_int_equal(system(cmd), 0);
	/* ours gone: the admin's (and one whose iface cannot be read) are not ours */
	assert_int_equal(be_iscsi_sysfs_find_session(&s, T1, "10.0.0.5", 3260, "attachd", &sid),
			 -ENOENT);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

/* A record's H:C:T:L is taken apart strictly before it names a path. */
static void test_hctl_parse(void **state)
{
	static const char *const bad[] = {
	    "",		  "1:2:3",	     "1:2:3:4:5",	 "1:2:3:x",
	    "-1:0:0:1",	  "+1:0:0:1",	     " 1:0:0:1",	 "1:0:0:1 ",
	    "1:0:0:1\n",  "1::0:1",	     "a:b:c:d",		 "1:0:0:99999999999",
	    "../1:0:0:1", "1:0:0:1/../../x", "1:0:0:4294967296",
	};
	unsigned h = 0, c = 0, t = 0, l = 0;

	assert_int_equal(be_iscsi_hctl_parse("12:0:3:16384", &h, &c, &t, &l), 0);
	assert_int_equal(h, 12);
	assert_int_equal(c, 0);
	assert_int_equal(t, 3);
	assert_int_equal(l, 16384);
	assert_int_equal(be_iscsi_hctl_parse("0:0:0:4294967295", NULL, NULL, NULL, &l), 0);
	assert_int_equal(l, 4294967295u);
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (be_iscsi_hctl_parse(bad[i], &h, &c, &t, &l) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(be_iscsi_hctl_parse(NULL, NULL, NULL, NULL, NULL), -EINVAL);
}

/* A session's devices by LUN, and their WWIDs read through the session only. */
static void test_session_lun_and_wwid(void **state)
{
	struct sys s = fixture_sys();
	char hctl[64], w[256];

	assert_int_equal(be_iscsi_sysfs_session_lun(&s, 1, 1, hctl, sizeof(hctl)), 0);
	assert_string_equal(hctl, "2:0:0:1");
	assert_int_equal(be_iscsi_sysfs_session_lun(&s, 1, 2, hctl, sizeof(hctl)), 0);
	assert_string_equal(hctl, "2:0:0:2");
	assert_int_equal(be_iscsi_sysfs_session_lun(&s, 7, 1, hctl, sizeof(hctl)), 0);
	assert_string_equal(hctl, "5:0:0:1");
	assert_int_equal(be_iscsi_sysfs_session_lun(&s, 1, 3, hctl, sizeof(hctl)), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_session_lun(&s, 4, 0, hctl, sizeof(hctl)), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_session_lun(&s, 99, 0, hctl, sizeof(hctl)), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_session_lun(&s, 1, 1, hctl, 4), -ENOBUFS);

	assert_int_equal(be_iscsi_sysfs_session_lun_wwid(&s, 1, "2:0:0:1", w, sizeof(w)), 0);
	assert_string_equal(w, "naa.6001405abcdef0123456789abcdef012");
	assert_int_equal(be_iscsi_sysfs_session_lun_wwid(&s, 7, "5:0:0:1", w, sizeof(w)), 0);
	assert_string_equal(w, "t10.IET     VIRTUAL-DISK    beaf11");
	/* 5:0:0:1 is not on session1, 2:0:0:1 not on session7: neither answers */
	assert_int_equal(be_iscsi_sysfs_session_lun_wwid(&s, 1, "5:0:0:1", w, sizeof(w)), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_session_lun_wwid(&s, 7, "2:0:0:1", w, sizeof(w)), -ENOENT);
	/* a device without VPD 0x83 (no wwid attribute here) */
	assert_int_equal(be_iscsi_sysfs_session_lun_wwid(&s, 1, "2:0:0:2", w, sizeof(w)), -ENOENT);
	assert_int_equal(be_iscsi_sysfs_session_lun_wwid(&s, 1, "2:0:0:1/../x", w, sizeof(w)),
			 -EINVAL);
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
	    cmocka_unit_test(test_find_session_by_iface),
	    cmocka_unit_test(test_hctl_parse),
	    cmocka_unit_test(test_session_lun_and_wwid),
	    cmocka_unit_test(test_session_host_and_devices),
	    cmocka_unit_test(test_device_lookup),
	    cmocka_unit_test(test_initiator_name),
	    cmocka_unit_test(test_target_lock_excludes),
	};

	if (find_srcdir() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
