/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state store (atomic 0600 records in a 0700 dir, boot ID through the sys seam) and
 * start-up recovery on the fake pipeline: mountinfo and boot_id come from a fixture /proc.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/log.h"
#include "agent/names.h"
#include "agent/state.h"
#include "agent/volumes.h"
#include "lib/fileio.h"
#include "tests/lib/fakedriver.h"

static char root[] = "/tmp/test_state_recover.XXXXXX";
static char proc[300], statedir[300], logpath[300];
static struct attach_env env;
static int logfd = -1;

static void put(const char *rel, const char *text)
{
	char p[600], dir[600];

	snprintf(p, sizeof(p), "%s%s", proc, rel);
	snprintf(dir, sizeof(dir), "%s", p);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

static void set_boot(const char *id)
{
	put("/proc/sys/kernel/random/boot_id", id);
}

/* The fixture mountinfo shows exactly these mount points. */
static void set_mounts(const char *a, const char *b)
{
	char text[4000] = "";
	const char *pts[] = {a, b};

	for (int i = 0; i < 2; i++)
		if (pts[i])
			snprintf(text + strlen(text), sizeof(text) - strlen(text),
				 "%d 1 253:0 / %s rw,nosuid - ext4 /dev/mapper/x rw\n", 100 + i,
				 pts[i]);
	put("/proc/self/mountinfo", text);
}

static int setup(void **state)
{
	if (!mkdtemp(root))
		return -1;
	snprintf(proc, sizeof(proc), "%s/fix", root);
	snprintf(statedir, sizeof(statedir), "%s/state", root);
	snprintf(logpath, sizeof(logpath), "%s.log", root);
	logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return -1;
	agent_log_set_fd(logfd);
	sys_init_real(&env.sys);
	env.sys.proc_root = proc;
	snprintf(env.mount_root, sizeof(env.mount_root), "%s/mnt", root);
	return 0;
}

static int teardown(void **state)
{
	char cmd[700];

	agent_log_set_fd(STDOUT_FILENO);
	close(logfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, logpath);
	return system(cmd) == 0 ? 0 : -1;
}

static int each_setup(void **state)
{
	char cmd[700];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s/mnt'", statedir, root);
	fakedriver_reset();
	set_boot("boot-A\n");
	set_mounts(NULL, NULL);
	return system(cmd) == 0 ? 0 : -1;
}

/* A registry backed by the state dir, as attachd builds it. */
struct agentlet {
	struct agent_state *st;
	struct agent_volumes *reg;
};

static void open_agent(struct agentlet *a, int recover)
{
	struct errbuf e = {{0}};

	assert_int_equal(agent_state_open(statedir, &env.sys, NULL, &a->st, &e), 0);
	a->reg = agent_volumes_new(&env, &fakedriver_ops);
	assert_non_null(a->reg);
	agent_volumes_set_state(a->reg, a->st, NULL);
	if (recover)
		assert_int_equal(agent_volumes_recover(a->reg, 0, &e), 0);
}

static void close_agent(struct agentlet *a)
{
	a->reg = agent_volumes_free(a->reg);
	a->st = agent_state_free(a->st);
	env.step_hook = NULL;
}

static void mount_name(struct agentlet *a, const char *name, const char *opts, char *mp)
{
	struct agent_name n;
	struct errbuf e = {{0}};
	json_t *o = json_loads(opts, 0, NULL);

	assert_int_equal(agent_name_decode(name, &n, &e), 0);
	assert_int_equal(agent_volumes_create(a->reg, &n, name, o, &e), 0);
	assert_int_equal(agent_volumes_mount(a->reg, &n, name, mp, 4096, &e), 0);
	json_decref(o);
}

static int record_exists(const char *key)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/%s.json", statedir, key);
	return access(p, F_OK) == 0;
}

static size_t listed(struct agentlet *a)
{
	struct agent_mount_info *l = NULL;
	size_t n = 0;

	assert_int_equal(agent_volumes_list(a->reg, &l, &n), 0);
	free(l);
	return n;
}

#define FILE_OPTS "{\"backend\":\"file\",\"size\":\"16M\"}"

static void test_store_atomic_private(void **state)
{
	struct agent_state *st;
	struct errbuf e = {{0}};
	json_t *rec = json_pack("{s:i}", "version", 1), *back = NULL;
	char p[600], **keys = NULL;
	struct stat sb;

	assert_int_equal(mkdir_p(statedir, 0755), 0); /* a too-open existing dir is fixed */
	assert_int_equal(agent_state_open(statedir, &env.sys, NULL, &st, &e), 0);
	assert_string_equal(agent_state_boot_id(st), "boot-A");
	assert_int_equal(stat(statedir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);

	assert_int_equal(agent_state_write(st, "vol1", rec), 0);
	snprintf(p, sizeof(p), "%s/vol1.json", statedir);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(agent_state_read(st, "vol1", &back, &e), 0);
	assert_true(json_equal(rec, back));
	json_decref(back);
	/* An interrupted write (temp file left) and foreign files are not records. */
	snprintf(p, sizeof(p), "%s/vol2.json.tmp", statedir);
	assert_int_equal(write_file_atomic(p, "{", 1, 0600), 0);
	snprintf(p, sizeof(p), "%s/notes.txt", statedir);
	assert_int_equal(write_file_atomic(p, "x", 1, 0600), 0);
	snprintf(p, sizeof(p), "%s/bad.json", statedir);
	assert_int_equal(write_file_atomic(p, "[1]", 3, 0600), 0);
	assert_int_equal(agent_state_keys(st, &keys), 0);
	assert_string_equal(keys[0], "bad");
	assert_string_equal(keys[1], "vol1");
	assert_null(keys[2]);
	agent_state_keys_free(keys);
	assert_int_equal(agent_state_read(st, "bad", &back, &e), -EINVAL);
	assert_int_equal(agent_state_read(st, "nope", &back, &e), -ENOENT);
	assert_int_equal(agent_state_write(st, "../escape", rec), -EINVAL);

	assert_int_equal(agent_state_remove(st, "vol1"), 0);
	assert_int_equal(agent_state_remove(st, "vol1"), 0); /* idempotent */
	assert_false(record_exists("vol1"));
	agent_state_free(st);
	json_decref(rec);

	/* The boot ID must be readable and non-empty. */
	set_boot("\n");
	assert_int_equal(agent_state_open(statedir, &env.sys, NULL, &st, &e), -EINVAL);
	assert_int_equal(agent_state_open("relative", &env.sys, NULL, &st, &e), -EINVAL);
}

static void test_secret_only_in_private_record(void **state)
{
	struct agentlet a;
	char mp[4096], p[600], *text = NULL;
	struct stat sb;

	open_agent(&a, 1);
	mount_name(&a, "ivol_c1",
		   "{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"iqn.2026-01.t:x\","
		   "\"lun\":0,\"chap_user\":\"u\",\"chap_secret\":\"s3cr3t-value-12\"}",
		   mp);
	snprintf(p, sizeof(p), "%s/ivol.json", statedir);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(read_full_file(p, &text, NULL, 1 << 20), 0);
	/* Kept (a replayed login needs it), but only here, in a 0600 file in a 0700 dir. */
	assert_non_null(strstr(text, "s3cr3t-value-12"));
	free(text);
	assert_int_equal(read_full_file(logpath, &text, NULL, 64 << 20), 0);
	assert_null(strstr(text, "s3cr3t-value-12"));
	free(text);
	close_agent(&a);
}

static void test_adopt_live_container(void **state)
{
	struct agentlet a;
	struct agent_name n;
	struct errbuf e = {{0}};
	char mp[4096];
	json_t *o = json_loads(FILE_OPTS, 0, NULL);

	open_agent(&a, 1);
	mount_name(&a, "vol1_c1", FILE_OPTS, mp);
	assert_true(record_exists("vol1"));
	close_agent(&a); /* like kill -9: nothing is undone */

	set_mounts(mp, NULL);
	open_agent(&a, 1);
	assert_int_equal(listed(&a), 1);
	assert_int_equal(fakedriver_get().down, 0);
	assert_int_equal(fakedriver_get().unbind, 0);
	assert_true(record_exists("vol1"));
	/* Volman's Create before the next Mount is idempotent against the recorded options. */
	assert_int_equal(agent_name_decode("vol1_c1", &n, &e), 0);
	assert_int_equal(agent_volumes_create(a.reg, &n, "vol1_c1", o, &e), 0);
	assert_int_equal(agent_volumes_unmount(a.reg, &n, "vol1_c1", &e), 0);
	assert_int_equal(fakedriver_get().down, 1);
	assert_false(record_exists("vol1"));
	close_agent(&a);
	json_decref(o);
}

static void test_detach_when_mounts_gone(void **state)
{
	struct agentlet a;
	char mp[4096];

	open_agent(&a, 1);
	mount_name(&a, "vol1_c1", FILE_OPTS, mp);
	mount_name(&a, "vol2_c1", FILE_OPTS, mp);
	close_agent(&a);
	set_mounts(NULL, NULL); /* the containers' mounts are gone */
	open_agent(&a, 1);
	assert_int_equal(listed(&a), 0);
	assert_int_equal(fakedriver_get().down, 2);
	assert_false(record_exists("vol1"));
	assert_false(record_exists("vol2"));
	close_agent(&a);
}

static void test_new_boot_cleans_up(void **state)
{
	struct agentlet a;
	char mp[4096];

	open_agent(&a, 1);
	mount_name(&a, "vol1_c1", FILE_OPTS, mp);
	close_agent(&a);
	set_mounts(mp, NULL); /* still mounted (a simulated reboot) */
	set_boot("boot-B\n");
	open_agent(&a, 1);
	assert_int_equal(listed(&a), 0);
	assert_int_equal(fakedriver_get().unbind, 1);
	assert_int_equal(fakedriver_get().down, 1);
	assert_false(record_exists("vol1"));
	close_agent(&a);
}

static void write_record(const char *key, const char *boot, const char *op, const char *vol)
{
	char p[600], text[2000];

	snprintf(p, sizeof(p), "%s/%s.json", statedir, key);
	snprintf(text, sizeof(text),
		 "{\"version\":1,\"key\":\"%s\",\"boot_id\":\"%s\",\"op\":\"%s\",\"opts\":" FILE_OPTS
		 ",\"mounts\":[],\"volume\":%s}",
		 key, boot, op, vol);
	assert_int_equal(mkdir_p(statedir, 0700), 0);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0600), 0);
}

static void test_rollback_and_forget(void **state)
{
	struct agentlet a;

	/* Crash with "connect may have started": rolled back (down) and forgotten. */
	write_record("half", "boot-A", "attach",
		     "{\"dm_name\":\"attachd-half\",\"reached\":\"none\",\"doing\":\"connect\"}");
	/* Detach interrupted after umount: completed. */
	write_record("det", "boot-A", "detach",
		     "{\"dm_name\":\"attachd-det\",\"reached\":\"dm-map\",\"doing\":\"dm-remove\"}");
	/* Nothing made: just forgotten. */
	write_record("idle", "boot-A", "idle", "{\"dm_name\":\"attachd-idle\",\"reached\":\"none\"}");
	/* Unreadable: kept for a person, the others still recovered. */
	write_record("junk", "boot-A", "idle", "{\"dm_name\":\"attachd-other\"}");
	open_agent(&a, 1);
	assert_int_equal(fakedriver_get().down, 2);
	assert_false(record_exists("half"));
	assert_false(record_exists("det"));
	assert_false(record_exists("idle"));
	assert_true(record_exists("junk"));
	assert_int_equal(listed(&a), 0);
	close_agent(&a);
}

static void test_failed_detach_keeps_record(void **state)
{
	struct agentlet a;

	write_record("stuck", "boot-A", "detach",
		     "{\"dm_name\":\"attachd-stuck\",\"reached\":\"mount\",\"doing\":\"umount\"}");
	fakedriver_set(0, 0, 0, -EBUSY, 0);
	open_agent(&a, 1);
	assert_int_equal(fakedriver_get().down, 1);
	/* Kept, now idle: the next start (or Remove, attachctl) tries again. */
	assert_true(record_exists("stuck"));
	close_agent(&a);
	fakedriver_set(0, 0, 0, 0, 0);
	open_agent(&a, 1);
	assert_false(record_exists("stuck"));
	close_agent(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_store_atomic_private, each_setup),
	    cmocka_unit_test_setup(test_secret_only_in_private_record, each_setup),
	    cmocka_unit_test_setup(test_adopt_live_container, each_setup),
	    cmocka_unit_test_setup(test_detach_when_mounts_gone, each_setup),
	    cmocka_unit_test_setup(test_new_boot_cleans_up, each_setup),
	    cmocka_unit_test_setup(test_rollback_and_forget, each_setup),
	    cmocka_unit_test_setup(test_failed_detach_keeps_record, each_setup),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
