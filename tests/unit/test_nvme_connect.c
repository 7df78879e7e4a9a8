/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvme backend connect / find_device / identify / disconnect against the fake kernel of
 * tests/lib/nvmefake.c. Asserts the exact option string written to /dev/nvme-fabrics, reuse
 * of existing controllers, namespace matching by each id kind, -EAGAIN until the namespace
 * is there, the errors, and the delete rules. Several ports (multipath): test_nvme_paths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "tests/lib/nvmefake.h"

/* A controller attachd makes is recorded (checkpoint) before connect returns, so a crash
 * before the step's end leaves the proof of ownership on disk; a reused one needs none. A
 * failed checkpoint fails the connect with the controller recorded for the rollback. */
static void test_new_controller_checkpointed(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2
			"\",\"uuid\":\"" U1 "\"}");
	struct backend_attachment b =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct cp_seen cp = {.a = &a};
	struct errbuf e = {""};

	f->ctx.checkpoint = fake_cp_record;
	f->ctx.checkpoint_ud = &cp;
	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(cp.calls, 1);
	assert_string_equal(cp.ctrl, "nvme7");
	assert_true(cp.owned);

	cp = (struct cp_seen){.a = &b};
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0); /* reuses nvme0 */
	assert_int_equal(f->n_add, 1);
	assert_int_equal(cp.calls, 0);

	/* the save fails: connect fails, and what it made is in objs for the undo */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	fake_att_done(f, &a);
	a = fake_att(f, "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2
			"\",\"uuid\":\"" U1 "\"}");
	cp = (struct cp_seen){.a = &a, .fail = -ENOSPC};
	f->new_instance = 8;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -ENOSPC);
	EXPECT_MSG(e, "cannot record the new NVMe controller nvme8");
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme8/delete_controller=1\n");
	f->ctx.checkpoint = NULL;
	fake_att_done(f, &a);
	fake_att_done(f, &b);
}

static void test_reuse_live_controller(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct backend_device d;
	struct backend_identity id;
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 0);
	assert_int_equal(f->reach_calls, 0);
	assert_string_equal(fake_objs_str(&a, "ctrl"), "nvme0");
	assert_false(json_is_true(fake_objs_get(&a, "created")));
	assert_string_equal(fake_objs_str(&a, "subnqn"), S1);
	assert_string_equal(fake_objs_str(&a, "traddr"), "10.0.0.5");
	assert_int_equal(json_integer_value(fake_objs_get(&a, "trsvcid")), 4420);

	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme1n1");
	assert_int_equal(d.major, 259);
	assert_int_equal(d.minor, 3);
	assert_true(strstr(d.devnode, "/dev/nvme1n1") != NULL);
	assert_true(strncmp(d.devnode, f->root, strlen(f->root)) == 0);

	assert_int_equal(be_nvme_ops.identify(&f->ctx, &a, &d, &id, &e), 0);
	assert_string_equal(id.wwid, "uuid." U1);
	assert_int_equal(id.size_bytes, 2097152ULL * 512);
	fake_att_done(f, &a);
}

static void test_match_each_id_kind(void **state)
{
	struct fake *f = *state;
	struct {
		const char *json, *want;
	} cases[] = {
	    {"{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nsid\":2}", "nvme1n2"},
	    {"{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nguid\":\"" N1 "\"}", "nvme1n1"},
	    {"{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1
	     "\",\"nguid\":\"1F2E3D4C-5B6A-7980-A1B2-C3D4E5F60718\"}",
	     "nvme1n2"},
	    /* multipath off: the controller's own disk; IPv6 written another way */
	    {"{\"traddr\":\"fd00:0::7\",\"subnqn\":\"" S4 "\",\"nsid\":5}", "nvme4n1"},
	    {"{\"traddr\":\"fd00::7\",\"subnqn\":\"" S4
	     "\",\"uuid\":\"5a5a5a5a-0000-4000-8000-000000000005\"}",
	     "nvme4n1"},
	};

	struct backend_attachment a[sizeof(cases) / sizeof(cases[0])];

	/* all connected at once: each one's detach would delete a controller no one uses */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct backend_device d;
		struct errbuf e = {""};

		a[i] = fake_att(f, cases[i].json);
		assert_int_equal(be_nvme_ops.connect(&f->ctx, &a[i], &e), 0);
		assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a[i], &d, &e), 0);
		assert_string_equal(d.sysname, cases[i].want);
	}
	assert_int_equal(f->n_add, 0);
	assert_string_equal(f->writes, "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_false(json_is_true(fake_objs_get(&a[i], "owned")));
		fake_att_done(f, &a[i]);
	}
	/* the controllers were there before attachd (the admin's): never deleted by it */
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 4), 1);
}

static void test_new_controller_option_string(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2
			"\",\"uuid\":\"" U1 "\"}");
	struct backend_device d;
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->reach_calls, 1);
	assert_int_equal(f->n_add, 1);
	assert_string_equal(f->opts[0],
			    "nqn=" S2 ",transport=tcp,traddr=10.0.0.9,trsvcid=4430,"
			    "hostnqn=" HOSTNQN ",hostid=" HOSTID
			    ",ctrl_loss_tmo=600,reconnect_delay=10,fast_io_fail_tmo=30");
	assert_string_equal(fake_objs_str(&a, "ctrl"), "nvme7");
	assert_true(json_is_true(fake_objs_get(&a, "created")));
	assert_string_equal(fake_objs_str(&a, "hostnqn"), HOSTNQN);

	/* the namespace is not there yet: -EAGAIN with what it waits for */
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
	EXPECT_MSG(e, "waiting for the namespace with uuid " U1 " of " S2 " on nvme7 (live)");
	fake_sh(f, "ns 9 7 1 1 131072 259:9 " U1 " 00000000-0000-0000-0000-000000000000 uuid." U1);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme9n1");

	/* detach: nothing else uses it -> delete_controller, and it is gone */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 0);
	/* replay: nothing to do */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

static void test_host_identity(void **state)
{
	struct fake *f = *state;
	char nqn[256], id[64], p[PATH_MAX];
	struct errbuf e = {""};

	/* config wins; a uuid-form NQN gives its own host ID */
	snprintf(f->host.nvme_hostnqn, sizeof(f->host.nvme_hostnqn),
		 "nqn.2014-08.org.nvmexpress:uuid:AAAAAAAA-2222-4333-8444-555555555555");
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e), 0);
	assert_string_equal(nqn, f->host.nvme_hostnqn);
	assert_string_equal(id, "aaaaaaaa-2222-4333-8444-555555555555");
	/* a non-uuid NQN from config: no host ID (not /etc/nvme/hostid, which pairs with
	 * /etc/nvme/hostnqn) */
	snprintf(f->host.nvme_hostnqn, sizeof(f->host.nvme_hostnqn), "nqn.2024-01.io.example:h1");
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e), 0);
	assert_string_equal(id, "");
	/* bad config */
	snprintf(f->host.nvme_hostnqn, sizeof(f->host.nvme_hostnqn), "host-1");
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e),
			 -EINVAL);
	EXPECT_MSG(e, "\"host-1\" is not an NVMe qualified name");
	/* neither config nor file */
	f->host.nvme_hostnqn[0] = 0;
	snprintf(p, sizeof(p), "%s/etc/nvme/hostnqn", f->root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e),
			 -ENOKEY);
	EXPECT_MSG(e, "no NVMe host NQN");
	EXPECT_MSG(e, "/etc/nvme/hostnqn");
}

static void test_connect_without_hostnqn(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
	struct errbuf e = {""};
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/etc/nvme/hostnqn", f->root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -ENOKEY);
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

static void test_other_host_not_reused(void **state)
{
	struct fake *f = *state;
	/* nvme3 is S3 at the same address but for another host NQN */
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.7\",\"subnqn\":\"" S3 "\",\"nsid\":1}");
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.7 4420 %s live", S3, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 1);
	assert_string_equal(fake_objs_str(&a, "ctrl"), "nvme7");
	fake_att_done(f, &a);
}

static void test_deleting_controller_not_reused(void **state)
{
	struct fake *f = *state;
	/* nvme6 is S1 at 10.0.0.6 but being deleted */
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.6\",\"subnqn\":\"" S1 "\",\"nsid\":1}");
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.6 4420 %s live", S1, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 1);
	assert_string_equal(fake_objs_str(&a, "ctrl"), "nvme7");
	fake_att_done(f, &a);
}

static void test_ealready_reuses(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
	struct errbuf e = {""};

	f->add_errno = -EALREADY;
	f->make_on_ealready = 1;
	f->new_instance = 8;
	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4420 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_string_equal(fake_objs_str(&a, "ctrl"), "nvme8");
	assert_false(json_is_true(fake_objs_get(&a, "created")));
	fake_att_done(f, &a);

	/* EALREADY but no such controller to be seen: an error, not a hang */
	a = fake_att(f, "{\"traddr\":\"10.0.0.10\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
	f->make_on_ealready = 0;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -EALREADY);
	EXPECT_MSG(e, "already connected");
	fake_att_done(f, &a);
}

static void test_connect_errors(void **state)
{
	struct fake *f = *state;
	struct {
		int reach, add;
		const char *needle;
	} cases[] = {
	    {-ECONNREFUSED, 0, "nothing listening at 10.0.0.9 port 4420 (connection refused)"},
	    {-ETIMEDOUT, 0, "no answer from 10.0.0.9 port 4420"},
	    {-EHOSTUNREACH, 0, "cannot reach 10.0.0.9"},
	    {0, -EIO, "subsystem " S2 " not offered by 10.0.0.9:4420"},
	    {0, -EINVAL, "subsystem " S2 " not offered by 10.0.0.9:4420"},
	    {0, -ECONNREFUSED, "nothing listening at 10.0.0.9 port 4420"},
	    {0, -ENOENT, "modprobe nvme-tcp"},
	    {0, -EKEYREJECTED, "requires authentication"},
	    {0, -EBUSY, "connecting to " S2 " at 10.0.0.9:4420 failed"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct backend_attachment a =
		    fake_att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
		struct errbuf e = {""};
		unsigned before = f->n_add;
		int r;

		f->reach_errno = cases[i].reach;
		f->add_errno = cases[i].add;
		r = be_nvme_ops.connect(&f->ctx, &a, &e);
		assert_int_equal(r, cases[i].reach ? cases[i].reach : cases[i].add);
		EXPECT_MSG(e, cases[i].needle);
		/* refused before the kernel connect: no connect write at all */
		assert_int_equal(f->n_add, before + (cases[i].reach ? 0 : 1));
		assert_null(fake_objs_str(&a, "ctrl"));
		/* the rollback finds nothing to undo */
		f->writes[0] = 0;
		assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
		assert_string_equal(f->writes, "");
		fake_att_done(f, &a);
	}
}

static void test_find_device_controller_gone(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nsid\":9}");
	struct backend_device d;
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "not connected");
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN); /* no nsid 9 */
	fake_sh(f, "delete 0");
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "nvme0");
	EXPECT_MSG(e, "is gone");
	/* and its number reused for another subsystem */
	fake_sh(f, "ctrl 0 11 %s 10.0.0.9 4420 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "now belongs to " S2);
	/* disconnect leaves the new owner alone */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

static void test_disconnect_keeps_when_other_ns_held(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	fake_sh(f, "hold nvme1n2 dm-3");
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	fake_att_done(f, &a);
}

static void test_disconnect_keeps_when_other_ns_mounted(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};
	char p[PATH_MAX];
	FILE *m;

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	snprintf(p, sizeof(p), "%s/proc/self/mountinfo", f->root);
	m = fopen(p, "a");
	assert_non_null(m);
	fprintf(m, "40 22 259:5 / /mnt/x rw,relatime shared:9 - ext4 /dev/nvme1n2 rw\n");
	fclose(m);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

#define S2_OPTS(id) "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2 "\"," id "}"

/* Connect a to S2 at 10.0.0.9:4430, which has no controller yet: attachd makes nvme7. */
static void connect_new(struct fake *f, struct backend_attachment *a)
{
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, a, &e), 0);
	assert_string_equal(fake_objs_str(a, "ctrl"), "nvme7");
	assert_true(json_is_true(fake_objs_get(a, "owned")));
}

static void test_disconnect_keeps_for_inflight_volume(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"uuid\":\"" U1 "\""));
	struct backend_attachment b = fake_att(f, S2_OPTS("\"nsid\":2"));
	struct errbuf e = {""};

	/* b connected through a's (attachd's) controller and has no dm device yet */
	connect_new(f, &a);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0);
	assert_false(json_is_true(fake_objs_get(&b, "created")));
	assert_true(json_is_true(fake_objs_get(&b, "owned"))); /* known: a made it */
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	/* b goes too: the last one deletes attachd's controller */
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 0);
	fake_att_done(f, &a);
	fake_att_done(f, &b);
}

/* One namespace named by uuid and by nsid: the same device, the same identity string (the
 * agent dedupes on it). */
static void test_identity_same_namespace(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct backend_attachment b =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nsid\":1}");
	struct backend_identity ia, ib;
	struct backend_device da, db;
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &da, &e), 0);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &b, &db, &e), 0);
	assert_string_equal(da.sysname, db.sysname);
	assert_int_equal(be_nvme_ops.identify(&f->ctx, &a, &da, &ia, &e), 0);
	assert_int_equal(be_nvme_ops.identify(&f->ctx, &b, &db, &ib, &e), 0);
	assert_true(ia.wwid[0] != 0);
	assert_string_equal(ia.wwid, ib.wwid);
	fake_att_done(f, &a);
	fake_att_done(f, &b);
}

/* The admin connected the controller (nvme connect); attachd reused it: attachd's detach
 * leaves it, even with a record claiming ownership of another controller ID. */
static void test_admin_controller_never_deleted(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_string_equal(fake_objs_str(&a, "ctrl"), "nvme0");
	assert_false(json_is_true(fake_objs_get(&a, "created")));
	assert_false(json_is_true(fake_objs_get(&a, "owned")));
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	/* a forged "owned" with another controller ID is not proof */
	json_object_set_new(be_nvme_objs_entry(a.objs, 0), "owned", json_true());
	json_object_set_new(be_nvme_objs_entry(a.objs, 0), "cntlid", json_integer(77));
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

/* attachd's controller deleted behind its back and the number reused by the admin's new
 * one (same target, same controller ID): the sysfs inode tells them apart. */
static void test_reused_instance_not_deleted(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs); /* the record, as a restarted agent reads it */
	{
		char old[PATH_MAX + 32], moved[PATH_MAX + 32];

		/* keep the old directory's inode in use, as kernfs never hands one out twice */
		snprintf(old, sizeof(old), "%s/sys/class/nvme/nvme7", f->root);
		snprintf(moved, sizeof(moved), "%s/nvme7.deleted", f->root);
		assert_int_equal(rename(old, moved), 0);
	}
	fake_sh(f, "ctrl 7 9 %s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	fake_att_done(f, &a);
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 1);
	json_decref(b.objs);
}

/* A record from another boot names nothing live: nothing is deleted. */
static void test_record_from_other_boot(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};
	struct be_nvme_ctrl_ident id;

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs);
	fake_att_done(f, &a); /* deletes nvme7: the kernel state after a reboot */
	fake_sh(f, "ctrl 7 9 %s 10.0.0.9 4430 %s live", S2, HOSTNQN); /* the admin's, this boot */
	fake_sh(f, "boot 99999999-0d2f-4e3a-9b8c-7d6e5f4a3b2c");
	/* even if controller ID and inode matched: the boot differs */
	assert_int_equal(be_nvme_sysfs_ctrl_ident(&f->sys, 7, S2, "10.0.0.9", 4430, HOSTNQN, &id),
			 0);
	json_object_set_new(be_nvme_objs_entry(b.objs, 0), "ctrl_ino",
			    json_integer((json_int_t)id.ino));
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "");
	json_decref(b.objs);
}

/* A restarted agent's record of attachd's own controller: still deleted at detach. */
static void test_restored_record_deletes_own(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs);
	/* forget the in-process users and knowledge, as a restart does: a's user entry goes
	 * (a disconnect that finds no controller recorded) and with it the target's slot */
	{
		struct backend_attachment forget = {.ops = &be_nvme_ops, .cfg = a.cfg};

		forget.objs = json_object();
		assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &forget, &e), 0);
		json_decref(forget.objs);
	}
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	fake_att_done(f, &a);
	json_decref(b.objs);
}

/* The kernel removes the controller a moment after delete_controller returns: the detach
 * waits on the uevent watch armed before the write, re-checks sysfs after each event and
 * returns once the controller is gone (here at the third event), the watch closed. */
static void test_disconnect_waits_for_remove_event(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"nsid\":1"));
	struct errbuf e = {""};
	char gone[PATH_MAX];

	connect_new(f, &a);
	f->delete_late = 3;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_true(f->watch_armed_at_delete);
	assert_int_equal(f->watch_events, 3);
	assert_int_equal(f->watch_open, 1);
	assert_int_equal(f->watch_close, 1);
	snprintf(gone, sizeof(gone), "%s/sys/class/nvme/nvme7", f->root);
	assert_int_equal(access(gone, F_OK), -1);
	fake_att_done(f, &a);
}

/* A controller that does not go: the wait ends at the deadline with an error naming it. */
static void test_disconnect_bounded_wait(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"nsid\":1"));
	struct errbuf e = {""};

	connect_new(f, &a);
	f->delete_sticks = 1;
	f->ctx.timeout_ms = 100;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), -ETIMEDOUT);
	EXPECT_MSG(e, "nvme7");
	EXPECT_MSG(e, "still there");
	assert_int_equal(f->watch_timeouts, 1);
	assert_int_equal(f->watch_close, f->watch_open);
	f->delete_sticks = 0;
	fake_sh(f, "delete 7");
	fake_att_done(f, &a);
}

/* No uevents to wait on: a controller the kernel removed at once is fine; one still there
 * fails the detach with what to do (detach again: it is idempotent), never a blind wait. */
static void test_disconnect_without_watch(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"nsid\":1"));
	struct errbuf e = {""};

	connect_new(f, &a);
	f->watch_errno = -EPROTONOSUPPORT;
	f->delete_late = 1;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), -EAGAIN);
	EXPECT_MSG(e, "nvme7");
	EXPECT_MSG(e, "detach again");
	assert_int_equal(f->watch_events, 0);
	/* the retry: the kernel has removed it meanwhile */
	fake_sh(f, "delete 7");
	f->delete_late = 0;
	e.msg[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	f->watch_errno = 0;
	fake_att_done(f, &a);
}

static void test_disconnect_restored_record(void **state)
{
	struct fake *f = *state;
	/* A record from before a crash between the connect write and "ctrl": nothing proves
	 * the controller the target has now attachd's (it may be the admin's): left alone. */
	struct backend_attachment a = {.ops = &be_nvme_ops};
	struct errbuf e = {""};

	a.objs = json_pack("{s:s, s:s, s:i, s:s, s:n, s:b}", "subnqn", S4, "traddr", "fd00::7",
			   "trsvcid", 4420, "hostnqn", HOSTNQN, "ctrl", "created", 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	/* nothing recorded at all and no options: nothing to do */
	json_decref(a.objs);
	a.objs = NULL;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
}

static void test_disconnect_without_objs_uses_options(void **state)
{
	struct fake *f = *state;
	/* The agent died after the kernel connect, before saving objs: nothing proves the
	 * controller attachd's, so it stays (a leak an admin can see, never a wrong delete). */
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"fd00::7\",\"subnqn\":\"" S4 "\",\"nsid\":5}");
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 4), 1);
	fake_att_done(f, &a);
}

static void test_namespace_not_offered(void **state)
{
	struct fake *f = *state;
	struct {
		const char *json;
		int want;
	} cases[] = {
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":4}", -ENXIO},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":3}", -EAGAIN},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"uuid\":\"" U1 "\"}", -EAGAIN},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2
	     "\",\"uuid\":\"3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d42\"}",
	     -ENXIO},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nguid\":\"" N1 "\"}", -EAGAIN},
	    /* a "uuid" that is the NGUID of a namespace without UUID (sysfs shows it so) */
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2
	     "\",\"uuid\":\"1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718\"}",
	     -EAGAIN},
	    /* but a uuid given as nguid is not an NGUID */
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nguid\":\"" U1 "\"}", -ENXIO},
	};

	f->identify_errno = 0;
	f->t_n = 3;
	f->t_ns[0].nsid = 1;
	f->t_ns[0].uuid = U1;
	f->t_ns[1].nsid = 3;
	f->t_ns[1].nguid = N1;
	f->t_ns[2].nsid = 7;
	f->t_ns[2].nguid = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";
	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4420 %s live", S2, HOSTNQN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct backend_attachment a = fake_att(f, cases[i].json);
		struct backend_device d;
		struct errbuf e = {""};
		unsigned calls;

		assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
		assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), cases[i].want);
		if (cases[i].want == -ENXIO) {
			EXPECT_MSG(e, "subsystem " S2 " at 10.0.0.9:4420 has no namespace with");
			EXPECT_MSG(e, "(it offers namespace IDs: 1, 3, 7)");
		} else {
			/* offered: asked once, then only sysfs is looked at */
			calls = f->identify_calls;
			assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
			assert_int_equal(f->identify_calls, calls);
		}
		fake_att_done(f, &a);
	}
	/* cannot tell (old target, I/O error): keep waiting */
	f->identify_errno = -EIO;
	{
		struct backend_attachment a =
		    fake_att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":4}");
		struct backend_device d;
		struct errbuf e = {""};

		assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
		assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
		fake_att_done(f, &a);
	}
}

static void test_sysfs_lookups(void **state)
{
	struct fake *f = *state;
	char held[64] = "";
	unsigned inst = 99;

	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S1, "10.0.0.5", 4420, HOSTNQN, &inst), 0);
	assert_int_equal(inst, 0);
	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S1, "10.0.0.5", 4421, HOSTNQN, &inst),
			 -ENOENT);
	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S1, "10.0.0.6", 4420, HOSTNQN, &inst),
			 -ENOENT); /* deleting */
	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S3, "10.0.0.7", 4420, HOSTNQN, &inst),
			 -ENOENT); /* another host's */
	/* the PCIe subsystem's disk has a mounted partition */
	assert_int_equal(be_nvme_sysfs_ns_in_use(&f->sys, 2, held, sizeof(held)), 1);
	assert_string_equal(held, "nvme0n1p1");
	assert_int_equal(be_nvme_sysfs_ns_in_use(&f->sys, 0, held, sizeof(held)), 0);
	assert_int_equal(be_nvme_sysfs_ns_in_use(&f->sys, 42, held, sizeof(held)), 0);
}

/* A record written before multipath (one controller, keys at the top level) still undoes
 * what it names after an upgrade and restart. */
static void test_legacy_record_deletes_own(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};
	const char *k;
	json_t *v;

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs);
	json_object_foreach(be_nvme_objs_entry(a.objs, 0), k, v) json_object_set(b.objs, k, v);
	json_object_del(b.objs, "ctrls");
	assert_int_equal(be_nvme_objs_n(b.objs), 1);
	{
		struct backend_attachment forget = {.ops = &be_nvme_ops, .cfg = a.cfg};

		forget.objs = json_object();
		assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &forget, &e), 0);
		json_decref(forget.objs);
	}
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	fake_att_done(f, &a);
	json_decref(b.objs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reuse_live_controller, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_match_each_id_kind, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_new_controller_checkpointed, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_new_controller_option_string, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_host_identity, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_connect_without_hostnqn, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_other_host_not_reused, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_deleting_controller_not_reused, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_ealready_reuses, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_connect_errors, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_find_device_controller_gone, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_keeps_when_other_ns_held, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_keeps_when_other_ns_mounted, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_keeps_for_inflight_volume, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_admin_controller_never_deleted, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_identity_same_namespace, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_reused_instance_not_deleted, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_record_from_other_boot, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_restored_record_deletes_own, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_waits_for_remove_event, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_without_watch, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_bounded_wait, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_restored_record, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_without_objs_uses_options, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_namespace_not_offered, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_sysfs_lookups, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_legacy_record_deletes_own, fake_setup,
					    fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
