/* SPDX-License-Identifier: Apache-2.0 */
/* Pure parts of durable state: the pipeline record round trip, the recovery decision (every
 * branch) and the test-only settings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/state.h"
#include "attach/attach.h"

static void init_file_volume(struct attach_volume *v, const char *key)
{
	json_t *opts = json_pack("{s:s,s:s}", "backend", "file", "size", "64M");
	struct attach_opts o;
	struct errlist el = {.n = 0};

	assert_int_equal(attach_opts_parse(opts, &o, &el), 0);
	assert_int_equal(attach_volume_init(v, key, &o), 0);
	attach_opts_done(&o);
	json_decref(opts);
}

static void test_record_round_trip(void **state)
{
	struct attach_volume a, b;
	struct errbuf e = {{0}};
	json_t *j;

	init_file_volume(&a, "vol1");
	a.reached = STEP_DM;
	a.doing = STEP_PROBE;
	json_object_set_new(a.att.objs, "loop", json_string("loop3"));
	json_object_set_new(a.att.objs, "file", json_string("/var/f/vol1.img"));
	snprintf(a.staging, sizeof(a.staging), "/mnt/.staging/vol1");
	snprintf(a.dev.sysname, sizeof(a.dev.sysname), "loop3");
	snprintf(a.dev.devnode, sizeof(a.dev.devnode), "/dev/loop3");
	a.dev.major = 7;
	a.dev.minor = 3;
	snprintf(a.ident.wwid, sizeof(a.ident.wwid), "file:/var/f/vol1.img");
	a.ident.size_bytes = 64ULL << 20;
	snprintf(a.fs_found, sizeof(a.fs_found), "ext4");
	a.formatted = 1;

	j = attach_volume_to_json(&a);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "reached")), "dm-map");
	assert_string_equal(json_string_value(json_object_get(j, "doing")), "probe-fs");
	assert_string_equal(json_string_value(json_object_get(j, "dm_name")), "attachd-vol1");

	init_file_volume(&b, "vol1");
	assert_int_equal(attach_volume_from_json(j, &b, &e), 0);
	assert_int_equal(b.reached, STEP_DM);
	assert_int_equal(b.doing, STEP_PROBE);
	assert_true(json_equal(a.att.objs, b.att.objs));
	assert_string_equal(b.staging, a.staging);
	assert_string_equal(b.dev.devnode, "/dev/loop3");
	assert_int_equal(b.dev.major, 7);
	assert_int_equal(b.dev.minor, 3);
	assert_string_equal(b.ident.wwid, a.ident.wwid);
	assert_true(b.ident.size_bytes == 64ULL << 20);
	assert_string_equal(b.fs_found, "ext4");
	assert_int_equal(b.formatted, 1);
	/* The options stay the ones b was made with: the record carries no secrets. */
	assert_ptr_equal(b.opts.be, a.opts.be);
	assert_null(json_object_get(j, "opts"));
	json_decref(j);

	/* No step in progress is written as null and read back as none. */
	b.doing = STEP_NONE;
	j = attach_volume_to_json(&b);
	assert_true(json_is_null(json_object_get(j, "doing")) || !json_object_get(j, "doing"));
	b.doing = STEP_MKFS;
	assert_int_equal(attach_volume_from_json(j, &b, &e), 0);
	assert_int_equal(b.doing, STEP_NONE);
	json_decref(j);
	attach_volume_done(&a);
	attach_volume_done(&b);
}

static void expect_bad(struct attach_volume *v, const char *text, const char *msg)
{
	struct errbuf e = {{0}};
	json_t *j = json_loads(text, 0, NULL);
	enum attach_step before = v->reached;

	assert_non_null(j);
	assert_int_equal(attach_volume_from_json(j, v, &e), -EINVAL);
	assert_non_null(strstr(e.msg, msg));
	assert_int_equal(v->reached, before); /* untouched on error */
	json_decref(j);
}

static void test_record_rejects(void **state)
{
	struct attach_volume v;
	struct errbuf e = {{0}};

	init_file_volume(&v, "vol1");
	v.reached = STEP_CONNECT;
	assert_int_equal(attach_volume_from_json(json_null(), &v, &e), -EINVAL);
	expect_bad(&v, "{\"dm_name\":\"attachd-other\",\"reached\":\"mount\"}", "does not belong");
	expect_bad(&v, "{\"dm_name\":\"attachd-vol1\",\"reached\":\"flying\"}", "step name");
	expect_bad(&v, "{\"dm_name\":\"attachd-vol1\",\"reached\":\"umount\"}", "attach step");
	expect_bad(&v, "{\"dm_name\":\"attachd-vol1\",\"objs\":[]}", "objs");
	expect_bad(&v, "{\"dm_name\":\"attachd-vol1\",\"device\":{\"major\":-1}}", "major");
	expect_bad(&v, "{\"reached\":\"mount\"}", "dm_name");
	attach_volume_done(&v);
}

static void test_step_names(void **state)
{
	enum attach_step s;

	for (int i = STEP_NONE; i < _STEP_MAX; i++) {
		assert_int_equal(attach_step_from_name(attach_step_name(i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(attach_step_from_name("unknown", &s), -EINVAL);
	assert_int_equal(attach_step_from_name(NULL, &s), -EINVAL);
}

#define DECIDE(...) agent_recovery_decide(&(struct agent_recovery_input){__VA_ARGS__})

static void test_decide_every_branch(void **state)
{
	/* Another boot: always clean up, whatever the record says. */
	assert_int_equal(DECIDE(.same_boot = 0, .reached = STEP_MOUNT, .mounts_recorded = 1,
				.mounts_live = 1),
			 AGENT_RECOVER_CLEANUP);
	assert_int_equal(DECIDE(.same_boot = 0), AGENT_RECOVER_CLEANUP);
	/* Up with live container mounts: adopt, never touch. */
	assert_int_equal(DECIDE(.same_boot = 1, .reached = STEP_MOUNT, .mounts_recorded = 2,
				.mounts_live = 1),
			 AGENT_RECOVER_ADOPT);
	/* Live container mounts but the record is mid-attach (a re-attach under a stale bind,
	 * or a crash between steps): finish the attach rather than undo it under them. */
	assert_int_equal(DECIDE(.same_boot = 1, .op = AGENT_OP_ATTACH, .reached = STEP_DM,
				.doing = STEP_PROBE, .mounts_recorded = 1, .mounts_live = 1),
			 AGENT_RECOVER_COMPLETE_UP);
	assert_int_equal(DECIDE(.same_boot = 1, .op = AGENT_OP_ATTACH, .reached = STEP_MOUNT,
				.mounts_recorded = 1, .mounts_live = 1),
			 AGENT_RECOVER_COMPLETE_UP);
	/* Interrupted detach: finish it. */
	assert_int_equal(DECIDE(.same_boot = 1, .op = AGENT_OP_DETACH, .reached = STEP_DM,
				.doing = STEP_DM_REMOVE),
			 AGENT_RECOVER_DETACH);
	/* Nothing was ever made. */
	assert_int_equal(DECIDE(.same_boot = 1, .op = AGENT_OP_IDLE), AGENT_RECOVER_FORGET);
	/* Interrupted attach, no container: roll back (incl. "connect may have started" with
	 * nothing reached yet). */
	assert_int_equal(DECIDE(.same_boot = 1, .op = AGENT_OP_ATTACH, .doing = STEP_CONNECT),
			 AGENT_RECOVER_ROLLBACK);
	assert_int_equal(DECIDE(.same_boot = 1, .op = AGENT_OP_ATTACH, .reached = STEP_MOUNT),
			 AGENT_RECOVER_ROLLBACK);
	/* A failed attach that could not roll back fully (idle, part way). */
	assert_int_equal(DECIDE(.same_boot = 1, .op = AGENT_OP_IDLE, .reached = STEP_DM),
			 AGENT_RECOVER_ROLLBACK);
	/* Up, recorded mounts all gone (Unmount cut short), or none recorded: detach. */
	assert_int_equal(DECIDE(.same_boot = 1, .reached = STEP_MOUNT, .mounts_recorded = 1),
			 AGENT_RECOVER_DETACH);
	assert_int_equal(DECIDE(.same_boot = 1, .reached = STEP_MOUNT), AGENT_RECOVER_DETACH);
	for (int a = AGENT_RECOVER_FORGET; a <= AGENT_RECOVER_CLEANUP; a++)
		assert_string_not_equal(agent_recovery_name(a), "unknown");
}

static void test_test_settings(void **state)
{
	struct agent_test_settings t;
	struct errbuf e = {{0}};

	assert_int_equal(agent_test_settings_parse(NULL, NULL, NULL, &t, &e), 0);
	assert_int_equal(t.crash_enabled, 0);
	assert_string_equal(t.boot_id_file, "");
	/* Refused without the switch. */
	assert_int_equal(agent_test_settings_parse(NULL, "connect:after", NULL, &t, &e), -EPERM);
	assert_non_null(strstr(e.msg, "ATTACHD_TEST_FAULTS=1"));
	assert_int_equal(agent_test_settings_parse("", NULL, "/tmp/b", &t, &e), -EPERM);
	assert_int_equal(agent_test_settings_parse("yes", "connect", NULL, &t, &e), -EINVAL);

	assert_int_equal(agent_test_settings_parse("1", "connect:after", NULL, &t, &e), 0);
	assert_int_equal(t.crash_enabled, 1);
	assert_int_equal(t.crash_step, STEP_CONNECT);
	assert_int_equal(t.crash_after, 1);
	assert_int_equal(agent_test_settings_parse("1", "dm-remove", "/run/b", &t, &e), 0);
	assert_int_equal(t.crash_step, STEP_DM_REMOVE);
	assert_int_equal(t.crash_after, 0);
	assert_string_equal(t.boot_id_file, "/run/b");
	assert_int_equal(agent_test_settings_parse("1", "mount:before", NULL, &t, &e), 0);
	assert_int_equal(t.crash_after, 0);

	assert_int_equal(agent_test_settings_parse("1", "teleport", NULL, &t, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "unknown step 'teleport'"));
	assert_int_equal(agent_test_settings_parse("1", "none", NULL, &t, &e), -EINVAL);
	assert_int_equal(agent_test_settings_parse("1", "mkfs:during", NULL, &t, &e), -EINVAL);
	assert_int_equal(agent_test_settings_parse("1", NULL, "relative", &t, &e), -EINVAL);
	/* Never fires for another point (it would _exit the test). */
	assert_int_equal(agent_test_settings_parse("1", "mkfs:after", NULL, &t, &e), 0);
	agent_test_crash_point(&t, STEP_MKFS, 0);
	agent_test_crash_point(&t, STEP_MOUNT, 1);
	agent_test_crash_point(NULL, STEP_MKFS, 1);
}

static void test_op_names(void **state)
{
	enum agent_op op;

	for (int i = AGENT_OP_IDLE; i <= AGENT_OP_DETACH; i++) {
		assert_int_equal(agent_op_from_name(agent_op_name(i), &op), 0);
		assert_int_equal(op, i);
	}
	assert_int_equal(agent_op_from_name("dance", &op), -EINVAL);
	assert_int_equal(agent_op_from_name(NULL, &op), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_round_trip), cmocka_unit_test(test_record_rejects),
	    cmocka_unit_test(test_step_names),	      cmocka_unit_test(test_decide_every_branch),
	    cmocka_unit_test(test_test_settings),     cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
