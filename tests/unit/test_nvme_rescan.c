/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvme backend rescan (online expand) against the fake kernel of tests/lib/nvmefake.c: the
 * namespace rescan goes to the volume's own controller, is reported as finishing later (the
 * kernel queues it), and a volume whose controller is gone gets a clear error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "tests/lib/nvmefake.h"

static void test_rescan_own_controller(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    fake_att(f, "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2
			"\",\"uuid\":\"" U1 "\"}");
	struct backend_device d = {.sysname = "nvme7n1"};
	struct errbuf e = {""};
	char p[PATH_MAX];
	int fd;

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_string_equal(fake_objs_str(&a, "ctrl"), "nvme7");
	snprintf(p, sizeof(p), "%s/sys/class/nvme/nvme7/rescan_controller", f->root);
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0200);
	assert_true(fd >= 0);
	close(fd);

	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.rescan(&f->ctx, &a, &d, &e), 1);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/rescan_controller=1\n");

	/* the controller is gone: nothing to rescan, said so */
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.rescan(&f->ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "no live controller");
	assert_string_equal(f->writes, "");
	fake_att_done(f, &a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rescan_own_controller, fake_setup, fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
