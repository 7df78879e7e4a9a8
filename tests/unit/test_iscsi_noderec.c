/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open-iscsi node record files (backends/iscsi/noderec.c): reading and editing record
 * text the way idbm reads it, the whole record attachd writes (iscsid.conf's and the iface's
 * settings, then its own) in a scratch tree (atomic, 0600, only our iface's files), the
 * flat-layout check, and open-iscsi's link() lock.
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
#include <sys/stat.h>
#include <unistd.h>

#include "backends/iscsi/internal.h"
#include "lib/macro.h"

#define T9 "iqn.2003-01.org.example:t9"
#define SECRET "Sup3r-S3cret!"

static const char rec_text[] = "# BEGIN RECORD 2.1.8\n"
			       "node.name = " T9 "\n"
			       "iface.iscsi_ifacename = attachd\n"
			       "node.session.auth.authmethod = None\n"
			       "  node.session.auth.username\t=   bob  \n"
			       "node.session.auth.chap_algs = MD5\n"
			       "node.conn[0].address = 10.0.0.9\n"
			       "node.conn[0].port = 3260\n"
			       "# END RECORD\n";

static void test_get(void **state)
{
	char v[64];

	assert_int_equal(be_iscsi_noderec_get(rec_text, "node.name", v, sizeof(v)), 0);
	assert_string_equal(v, T9);
	/* spaces and tabs around the name, '=' and the value go, as in idbm_recinfo_config */
	assert_int_equal(be_iscsi_noderec_get(rec_text, "node.session.auth.username", v, sizeof(v)),
			 0);
	assert_string_equal(v, "bob");
	assert_int_equal(be_iscsi_noderec_get(rec_text, "node.session.auth", v, sizeof(v)),
			 -ENOENT);
	assert_int_equal(be_iscsi_noderec_get(rec_text, "node.session.auth.password", v, sizeof(v)),
			 -ENOENT);
	assert_int_equal(be_iscsi_noderec_get(rec_text, "node.name", v, 4), -ENOBUFS);
	/* the last line wins; comments are not settings */
	assert_int_equal(be_iscsi_noderec_get("a = 1\n# a = 3\na = 2", "a", v, sizeof(v)), 0);
	assert_string_equal(v, "2");
}

static void test_edit(void **state)
{
	const struct be_iscsi_noderec_kv set[] = {
	    {"node.session.auth.authmethod", "CHAP"},
	    {"node.session.auth.username", "alice"},
	    {"node.session.auth.password", SECRET},
	};
	char *out = NULL, *again = NULL, v[64];

	assert_int_equal(be_iscsi_noderec_edit(rec_text, set, ELEMENTSOF(set), &out), 0);
	/* old lines of those keys gone, new ones just before the end marker, rest kept */
	assert_string_equal(out, "# BEGIN RECORD 2.1.8\n"
				 "node.name = " T9 "\n"
				 "iface.iscsi_ifacename = attachd\n"
				 "node.session.auth.chap_algs = MD5\n"
				 "node.conn[0].address = 10.0.0.9\n"
				 "node.conn[0].port = 3260\n"
				 "node.session.auth.authmethod = CHAP\n"
				 "node.session.auth.username = alice\n"
				 "node.session.auth.password = " SECRET "\n"
				 "# END RECORD\n");
	/* editing again changes nothing */
	assert_int_equal(be_iscsi_noderec_edit(out, set, ELEMENTSOF(set), &again), 0);
	assert_string_equal(again, out);
	free(again);
	free(out);
	/* no end marker, no final newline: appended */
	assert_int_equal(be_iscsi_noderec_edit("node.name = x", set, 1, &out), 0);
	assert_string_equal(out, "node.name = x\nnode.session.auth.authmethod = CHAP\n");
	assert_int_equal(be_iscsi_noderec_get(out, "node.session.auth.authmethod", v, sizeof(v)),
			 0);
	free(out);
}

/* ---------------------------------------------------------------- files in a scratch tree */

struct tree {
	char root[64];
	struct sys sys;
	struct backend_ctx ctx;
};

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	char cmd[256];

	assert_non_null(t);
	snprintf(t->root, sizeof(t->root), "/tmp/attachd-noderec-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/etc/iscsi/nodes/%s/10.0.0.9,3260,1", t->root, T9);
	assert_int_equal(system(cmd), 0);
	sys_init_real(&t->sys);
	t->sys.etc_root = t->root;
	t->sys.sysfs_root = t->root;
	t->ctx = (struct backend_ctx){.sys = &t->sys, .timeout_ms = 30000};
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->root);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static void put(struct tree *t, const char *rel, const char *text, mode_t mode)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/iscsi/nodes/%s/%s", t->root, T9, rel);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static char *get(struct tree *t, const char *rel, mode_t *ret_mode)
{
	char path[512];
	struct stat st;
	char *buf = calloc(1, 65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/iscsi/nodes/%s/%s", t->root, T9, rel);
	f = fopen(path, "re");
	assert_non_null(f);
	assert_non_null(buf);
	if (fread(buf, 1, 65535, f) == 0)
		buf[0] = 0;
	fclose(f);
	assert_int_equal(stat(path, &st), 0);
	if (ret_mode)
		*ret_mode = st.st_mode & 07777;
	return buf;
}

static const char admin_text[] = "# BEGIN RECORD 2.1.8\nnode.name = " T9 "\n"
				 "iface.iscsi_ifacename = default\n"
				 "node.session.auth.password = admins-own\n"
				 "node.conn[0].address = 10.0.0.9\nnode.conn[0].port = 3260\n"
				 "# END RECORD\n";

/* The record text: iscsid.conf's node.* lines and the iface's iface.* lines in their order
 * (nothing else of either file), then the set, which replaces any line of its keys. */
static void test_build(void **state)
{
	const struct be_iscsi_noderec_kv set[] = {
	    {"node.name", T9},
	    {"node.startup", "manual"},
	    {"node.session.auth.password", SECRET},
	};
	char *out = NULL;

	assert_int_equal(
	    be_iscsi_noderec_build("iscsid.startup = x\n# node.startup = automatic\n"
				   "node.startup = automatic\n"
				   "node.session.queue_depth = 32\n"
				   "discovery.sendtargets.use_discoveryd = No\n"
				   "node.session.auth.password = global",
				   "# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = attachd\n"
				   "iface.transport_name = tcp\nnode.name = bogus\n"
				   "# END RECORD\n",
				   set, ELEMENTSOF(set), &out),
	    0);
	assert_string_equal(out, "# BEGIN RECORD attachd\n"
				 "node.session.queue_depth = 32\n"
				 "iface.iscsi_ifacename = attachd\n"
				 "iface.transport_name = tcp\n"
				 "node.name = " T9 "\n"
				 "node.startup = manual\n"
				 "node.session.auth.password = " SECRET "\n"
				 "# END RECORD\n");
	free(out);
	/* no iscsid.conf (compiled defaults), nothing set */
	assert_int_equal(be_iscsi_noderec_build(NULL, "", NULL, 0, &out), 0);
	assert_string_equal(out, "# BEGIN RECORD attachd\n# END RECORD\n");
	free(out);
}

static void put_etc(struct tree *t, const char *rel, const char *text)
{
	char path[512], cmd[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/etc/iscsi/%s", t->root, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	assert_int_equal(system(cmd), 0);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char iface_text[] = "# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = attachd\n"
				 "iface.transport_name = tcp\n# END RECORD\n";

/* Our record is written whole, 0600, read back; an admin's record beside it keeps its
 * bytes; an earlier attachd's records of the same target and portal in other files (flat,
 * another tag) go; no
 * temporary file stays behind; the lock is released. */
static void test_write_only_ours(void **state)
{
	struct tree *t = *state;
	const struct be_iscsi_noderec_kv set[] = {
	    {"node.name", T9},
	    {"iface.iscsi_ifacename", "attachd"},
	    {"node.conn[0].address", "10.0.0.9"},
	    {"node.conn[0].port", "3260"},
	    {"node.session.auth.password", SECRET},
	};
	struct errbuf e = {""};
	char *text, cmd[256], lockw[256];
	int created = -1;
	mode_t mode;

	put_etc(t, "ifaces/attachd", iface_text);
	put_etc(t, "iscsid.conf", "node.session.cmds_max = 64\n");
	put(t, "10.0.0.9,3260,1/default", admin_text, 0600);
	put(t, "10.0.0.9,3260", rec_text, 0600); /* flat, iface attachd: an earlier attachd's */
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/etc/iscsi/nodes/%s/10.0.0.9,3260,7", t->root, T9);
	assert_int_equal(system(cmd), 0);
	put(t, "10.0.0.9,3260,7/attachd", rec_text, 0600);

	assert_int_equal(be_iscsi_noderec_write(&t->ctx, T9, "10.0.0.9", 3260, set, ELEMENTSOF(set),
						&created, &e),
			 0);
	assert_int_equal(created, 1);
	text = get(t, "10.0.0.9,3260,1/attachd", &mode);
	assert_int_equal(mode, 0600);
	assert_string_equal(text,
			    "# BEGIN RECORD attachd\nnode.session.cmds_max = 64\n"
			    "iface.transport_name = tcp\nnode.name = " T9 "\n"
			    "iface.iscsi_ifacename = attachd\nnode.conn[0].address = 10.0.0.9\n"
			    "node.conn[0].port = 3260\n"
			    "node.session.auth.password = " SECRET "\n# END RECORD\n");
	free(text);
	text = get(t, "10.0.0.9,3260,1/default", NULL);
	assert_string_equal(text, admin_text);
	free(text);
	/* only the admin's and ours are left: no flat file, no tag 7, no temporary file */
	snprintf(cmd, sizeof(cmd), "test \"$(ls -A %s/etc/iscsi/nodes/%s)\" = 10.0.0.9,3260,1",
		 t->root, T9);
	assert_int_equal(system(cmd), 0);
	snprintf(lockw, sizeof(lockw), "%s/run/lock/iscsi/lock.write", t->root);
	assert_int_equal(access(lockw, F_OK), -1);

	/* again: the same file, replaced */
	assert_int_equal(be_iscsi_noderec_write(&t->ctx, T9, "10.0.0.9", 3260, set, ELEMENTSOF(set),
						&created, &e),
			 0);
	assert_int_equal(created, 0);

	/* remove: ours goes, the admin's stays */
	assert_int_equal(be_iscsi_noderec_remove(&t->ctx, T9, "10.0.0.9", 3260, &e), 0);
	snprintf(cmd, sizeof(cmd),
		 "test \"$(ls -A %s/etc/iscsi/nodes/%s/10.0.0.9,3260,1)\" = default", t->root, T9);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(access(lockw, F_OK), -1);
}

/* Without our iface's file there is nothing to copy the iface settings from: a clear error,
 * nothing written, no secret in it. */
static void test_write_needs_iface(void **state)
{
	struct tree *t = *state;
	const struct be_iscsi_noderec_kv set[] = {{"node.session.auth.password", SECRET}};
	struct errbuf e = {""};
	char cmd[256];
	int created = -1;

	assert_int_equal(
	    be_iscsi_noderec_write(&t->ctx, T9, "10.0.0.9", 3260, set, 1, &created, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "iface attachd"));
	assert_null(strstr(e.msg, SECRET));
	assert_int_equal(created, -1);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s/etc/iscsi/nodes/%s/10.0.0.9,3260,1)\"",
		 t->root, T9);
	assert_int_equal(system(cmd), 0);
}

/* The flat layout: a file per (target, portal) whatever the iface. */
static void test_flat_iface(void **state)
{
	struct tree *t = *state;
	char iface[64];

	assert_int_equal(
	    be_iscsi_noderec_flat_iface(&t->sys, T9, "10.0.0.9", 3260, iface, sizeof(iface)), 0);
	assert_int_equal(be_iscsi_noderec_flat_iface(&t->sys, "iqn.2003-01.org.example:none",
						     "10.0.0.9", 3260, iface, sizeof(iface)),
			 0);
	put(t, "10.0.0.9,3260", admin_text, 0600);
	assert_int_equal(
	    be_iscsi_noderec_flat_iface(&t->sys, T9, "10.0.0.9", 3260, iface, sizeof(iface)), 1);
	assert_string_equal(iface, "default");
	put(t, "10.0.0.9,3260", rec_text, 0600);
	assert_int_equal(
	    be_iscsi_noderec_flat_iface(&t->sys, T9, "10.0.0.9", 3260, iface, sizeof(iface)), 1);
	assert_string_equal(iface, "attachd");
	assert_int_equal(
	    be_iscsi_noderec_flat_iface(&t->sys, "../x", "10.0.0.9", 3260, iface, sizeof(iface)),
	    -EINVAL);
}

struct locker {
	struct sys *sys;
	int r, done;
};

static void *take_lock(void *arg)
{
	struct locker *l = arg;
	struct errbuf e = {""};

	l->r = be_iscsi_noderec_lock(l->sys, 60000, &e);
	__atomic_store_n(&l->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* iscsiadm holds the lock (lock.write exists): we wait for its removal, then take it. */
static void test_lock_waits_for_holder(void **state)
{
	struct tree *t = *state;
	struct locker l = {.sys = &t->sys, .r = 1};
	struct errbuf e = {""};
	char lock[256], lockw[256];
	pthread_t th;

	assert_int_equal(be_iscsi_noderec_lock(&t->sys, 1000, &e), 0);
	snprintf(lock, sizeof(lock), "%s/run/lock/iscsi/lock", t->root);
	snprintf(lockw, sizeof(lockw), "%s/run/lock/iscsi/lock.write", t->root);
	assert_int_equal(access(lockw, F_OK), 0);
	/* held: a second taker gives up at its deadline, with what to check */
	assert_int_equal(be_iscsi_noderec_lock(&t->sys, 200, &e), -ETIMEDOUT);
	assert_non_null(strstr(e.msg, "lock.write"));
	assert_non_null(strstr(e.msg, "stale"));

	assert_int_equal(pthread_create(&th, NULL, take_lock, &l), 0);
	assert_int_equal(__atomic_load_n(&l.done, __ATOMIC_SEQ_CST), 0);
	be_iscsi_noderec_unlock(&t->sys); /* what iscsiadm's idbm_unlock() does */
	pthread_join(th, NULL);
	assert_int_equal(l.r, 0);
	assert_int_equal(access(lockw, F_OK), 0); /* now the thread's */
	be_iscsi_noderec_unlock(&t->sys);
	assert_int_equal(access(lockw, F_OK), -1);
	assert_int_equal(access(lock, F_OK), 0);
}

#define TREE_TEST(x) cmocka_unit_test_setup_teardown(x, tree_setup, tree_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_edit),
	    cmocka_unit_test(test_build),
	    TREE_TEST(test_write_only_ours),
	    TREE_TEST(test_write_needs_iface),
	    TREE_TEST(test_flat_iface),
	    TREE_TEST(test_lock_waits_for_holder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
