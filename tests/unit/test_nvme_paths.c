/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvme backend, several ports of one subsystem (the kernel's native multipath), against the
 * fake kernel of tests/lib/nvmefake.c: one controller per port under one head disk, each
 * with its own proof of ownership; the controllers as paths (find_paths, path_transport);
 * a port down at attach time joining later (add_paths); several traddrs refused without
 * nvme_core.multipath.
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

#define MP_OPTS(id) "{\"traddr\":[\"10.0.0.9\",\"10.0.1.9\"],\"subnqn\":\"" S2 "\"," id "}"
#define MP_NS(ctrl)                                                                                \
	"ns 9 " #ctrl " 1 1 131072 259:9 " U1 " 00000000-0000-0000-0000-000000000000 uuid." U1

/* Two ports of S2, neither connected yet: attachd makes nvme7 and nvme8 under one head. */
static void mp_connect(struct fake *f, struct backend_attachment *a)
{
	struct errbuf e = {""};

	fake_sh(f, "multipath Y");
	f->auto_ctrl = 1;
	f->new_subsys = 9;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, a, &e), 0);
}

static size_t paths(struct fake *f, struct backend_attachment *a, struct backend_path *p, int want)
{
	struct errbuf e = {""};
	size_t n = 0;

	assert_int_equal(be_nvme_ops.find_paths(&f->ctx, a, p, BACKEND_MAX_PATHS, &n, &e), want);
	return want == 0 ? n : 0;
}

/* Several traddrs: one controller per port, each recorded (and checkpointed) with its own
 * proof of ownership; the device is the subsystem's head disk; each controller is a path
 * with its state; detach deletes both. */
static void test_multipath_two_ports(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, MP_OPTS("\"uuid\":\"" U1 "\""));
	struct backend_path p[BACKEND_MAX_PATHS];
	struct backend_device d;
	struct cp_seen cp = {.a = &a};
	struct errbuf e = {""};
	char detail[64];
	json_t *ctrls;

	f->ctx.checkpoint = fake_cp_record;
	f->ctx.checkpoint_ud = &cp;
	mp_connect(f, &a);
	assert_int_equal(f->n_add, 2);
	assert_int_equal(cp.calls, 2);
	assert_string_equal(f->opts[0], "nqn=" S2 ",transport=tcp,traddr=10.0.0.9,trsvcid=4420,"
					"hostnqn=" HOSTNQN ",hostid=" HOSTID
					",ctrl_loss_tmo=600,reconnect_delay=2,fast_io_fail_tmo=30");
	assert_string_equal(f->opts[1], "nqn=" S2 ",transport=tcp,traddr=10.0.1.9,trsvcid=4420,"
					"hostnqn=" HOSTNQN ",hostid=" HOSTID
					",ctrl_loss_tmo=600,reconnect_delay=2,fast_io_fail_tmo=30");
	ctrls = json_object_get(a.objs, "ctrls");
	assert_int_equal(json_array_size(ctrls), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *ent = json_array_get(ctrls, i);

		assert_string_equal(json_string_value(json_object_get(ent, "ctrl")),
				    i == 0 ? "nvme7" : "nvme8");
		assert_string_equal(json_string_value(json_object_get(ent, "traddr")),
				    i == 0 ? "10.0.0.9" : "10.0.1.9");
		assert_true(json_is_true(json_object_get(ent, "owned")));
		assert_true(json_integer_value(json_object_get(ent, "ctrl_ino")) != 0);
	}

	/* the head disk, with both controllers under it */
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
	fake_sh(f, MP_NS(7));
	fake_sh(f, MP_NS(8));
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme9n1");

	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[0].id, "nvme7");
	assert_string_equal(p[0].where, "tcp 10.0.0.9:4420 " S2);
	assert_string_equal(p[0].wwid, "uuid." U1);
	assert_string_equal(p[0].dev.sysname, "nvme7");
	assert_string_equal(p[1].id, "nvme8");
	assert_string_equal(p[1].where, "tcp 10.0.1.9:4420 " S2);
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[0], detail, sizeof(detail)),
			 BACKEND_PATH_UP);
	assert_string_equal(detail, "nvme7 live");

	/* one port loses its connection: the kernel reconnects; the path is down, not gone */
	fake_sh(f, "state 8 connecting");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], detail, sizeof(detail)),
			 BACKEND_PATH_DOWN);
	assert_string_equal(detail, "nvme8 connecting");
	fake_sh(f, "state 8 resetting");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], NULL, 0),
			 BACKEND_PATH_DOWN);
	fake_sh(f, "state 8 deleting");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], NULL, 0),
			 BACKEND_PATH_GONE);
	fake_sh(f, "state 8 live");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], NULL, 0), BACKEND_PATH_UP);
	/* the device is still found while one controller is down */
	fake_sh(f, "state 7 connecting");
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme9n1");
	fake_sh(f, "state 7 live");

	/* detach: both controllers of ours go */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n"
				       "/sys/class/nvme/nvme8/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 0);
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 8), 0);
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0); /* replay */
	assert_string_equal(f->writes, "");
	f->ctx.checkpoint = NULL;
	fake_att_done(f, &a);
}

/* A port that does not answer at attach time does not fail the attach; add_paths connects
 * it once it answers, and connects again a port whose controller the kernel gave up. */
static void test_multipath_port_down_then_joins(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, MP_OPTS("\"nsid\":1"));
	struct backend_path p[BACKEND_MAX_PATHS];
	struct errbuf e = {""};

	snprintf(f->down[0], sizeof(f->down[0]), "10.0.1.9");
	mp_connect(f, &a);
	assert_int_equal(f->n_add, 1);
	assert_int_equal(paths(f, &a, p, 0), 1);
	assert_string_equal(p[0].id, "nvme7");

	/* still down: named, with why; nothing else touched */
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), -EHOSTDOWN);
	EXPECT_MSG(e, "10.0.1.9: no answer from 10.0.1.9 port 4420");
	assert_int_equal(f->n_add, 1);
	/* it answers: connected and recorded; the path already there is left alone */
	f->down[0][0] = 0;
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 2);
	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[1].id, "nvme8");
	assert_true(json_is_true(
	    json_object_get(json_array_get(json_object_get(a.objs, "ctrls"), 1), "owned")));
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 2);

	/* the kernel deleted nvme7 (ctrl_loss_tmo): gone; add_paths makes a new one */
	fake_sh(f, "delete 7");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[0], NULL, 0),
			 BACKEND_PATH_GONE);
	assert_int_equal(paths(f, &a, p, 0), 1);
	assert_string_equal(p[0].id, "nvme8");
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[0].id, "nvme9");

	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme9/delete_controller=1\n"
				       "/sys/class/nvme/nvme8/delete_controller=1\n");
	assert_int_equal(paths(f, &a, p, -EAGAIN), 0);
	fake_att_done(f, &a);
}

/* No port answers: the attach fails naming each, and leaves nothing. */
static void test_multipath_all_ports_down(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, MP_OPTS("\"nsid\":1"));
	struct errbuf e = {""};

	fake_sh(f, "multipath Y");
	snprintf(f->down[0], sizeof(f->down[0]), "10.0.0.9");
	snprintf(f->down[1], sizeof(f->down[1]), "10.0.1.9");
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -ETIMEDOUT);
	EXPECT_MSG(e, "no port of " S2 " could be connected");
	EXPECT_MSG(e, "10.0.0.9: no answer from 10.0.0.9 port 4420");
	EXPECT_MSG(e, "10.0.1.9: no answer from 10.0.1.9 port 4420");
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

/* Several traddrs without the kernel's native multipath: refused before anything is
 * connected, saying what to do; one traddr does not need it. */
static void test_multipath_off_refused(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(f, MP_OPTS("\"nsid\":1"));
	struct backend_attachment b =
	    fake_att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};

	fake_sh(f, "multipath N");
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -EOPNOTSUPP);
	EXPECT_MSG(e, "nvme_core.multipath=Y");
	EXPECT_MSG(e, "or give one traddr");
	assert_int_equal(f->reach_calls, 0);
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0); /* one port: fine */
	fake_att_done(f, &b);
	/* a kernel without native multipath at all */
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/sys/module/nvme_core/parameters/multipath", f->root);
		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -EOPNOTSUPP);
	EXPECT_MSG(e, "CONFIG_NVME_MULTIPATH");
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

/* One port reuses the admin's controller, the other gets attachd's: ownership is per
 * controller, so detach deletes only attachd's, and both are paths of the volume. */
static void test_multipath_ownership_per_controller(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = fake_att(
	    f, "{\"traddr\":\"10.0.0.5,10.0.1.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct backend_path p[BACKEND_MAX_PATHS];
	struct backend_device d;
	struct errbuf e = {""};
	json_t *ctrls;

	fake_sh(f, "multipath Y");
	f->auto_ctrl = 1;
	f->new_subsys = 1;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 1);
	ctrls = json_object_get(a.objs, "ctrls");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ctrls, 0), "ctrl")),
			    "nvme0");
	assert_false(json_is_true(json_object_get(json_array_get(ctrls, 0), "owned")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(ctrls, 1), "ctrl")),
			    "nvme7");
	assert_true(json_is_true(json_object_get(json_array_get(ctrls, 1), "owned")));
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme1n1");
	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[0].wwid, "uuid." U1); /* nvme1c0n1 */
	assert_string_equal(p[1].wwid, "");	    /* nvme7 has not scanned it yet */

	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	fake_att_done(f, &a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_multipath_two_ports, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_port_down_then_joins, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_all_ports_down, fake_setup,
					    fake_teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_off_refused, fake_setup, fake_teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_ownership_per_controller, fake_setup,
					    fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
