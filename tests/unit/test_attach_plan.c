/* SPDX-License-Identifier: Apache-2.0 */
/* Step plans, mountinfo parsing and mount option splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/mount.h>

#include "attach/internal.h"

static void test_plan_up_fresh(void **state)
{
	enum attach_step s[16];
	size_t n = attach_plan_up(STEP_NONE, 1, s, 16);

	assert_int_equal(n, 9);
	assert_int_equal(s[0], STEP_PLAN);
	assert_int_equal(s[1], STEP_CONNECT);
	assert_int_equal(s[2], STEP_AWAIT);
	assert_int_equal(s[3], STEP_VERIFY);
	assert_int_equal(s[4], STEP_DM);
	assert_int_equal(s[5], STEP_FENCE);
	assert_int_equal(s[6], STEP_PROBE);
	assert_int_equal(s[7], STEP_MKFS);
	assert_int_equal(s[8], STEP_MOUNT);
}

static void test_plan_up_no_probe_and_resume(void **state)
{
	enum attach_step s[16];
	size_t n;

	n = attach_plan_up(STEP_NONE, 0, s, 16);
	assert_int_equal(n, 8);
	assert_int_equal(s[0], STEP_CONNECT);
	/* Resuming after the fence step only runs what is left. */
	n = attach_plan_up(STEP_FENCE, 1, s, 16);
	assert_int_equal(n, 3);
	assert_int_equal(s[0], STEP_PROBE);
	assert_int_equal(attach_plan_up(STEP_MOUNT, 1, s, 16), 0);
	/* Never overflows the caller's array. */
	assert_int_equal(attach_plan_up(STEP_NONE, 1, s, 2), 2);
}

static void test_plan_down(void **state)
{
	enum attach_step s[8];

	assert_int_equal(attach_plan_down(STEP_MOUNT, s, 8), 4);
	assert_int_equal(s[0], STEP_UMOUNT);
	assert_int_equal(s[1], STEP_UNFENCE); /* after the unmount flushed, before the map goes */
	assert_int_equal(s[2], STEP_DM_REMOVE);
	assert_int_equal(s[3], STEP_DISCONNECT);
	/* A failure inside the fence step may have left our registration. */
	assert_int_equal(attach_plan_down(STEP_FENCE, s, 8), 3);
	assert_int_equal(s[0], STEP_UNFENCE);
	assert_int_equal(s[1], STEP_DM_REMOVE);
	/* A failure inside the dm step may have left a half-made device. */
	assert_int_equal(attach_plan_down(STEP_DM, s, 8), 2);
	assert_int_equal(s[0], STEP_DM_REMOVE);
	/* A failure in connect may have left a session. */
	assert_int_equal(attach_plan_down(STEP_CONNECT, s, 8), 1);
	assert_int_equal(s[0], STEP_DISCONNECT);
	assert_int_equal(attach_plan_down(STEP_NONE, s, 8), 0);
}

static const char mountinfo[] =
	"22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw\n"
	"35 22 253:0 / /var/vcap/data/volumes/attachd/.staging/v1 rw,nosuid,nodev,relatime "
	"shared:5 - ext4 /dev/mapper/attachd-v1 rw\n"
	"36 22 253:0 / /var/vcap/data/volumes/attachd/v1/c\\0401 ro,nosuid,nodev shared:5 - "
	"ext4 /dev/mapper/attachd-v1 rw\n"
	"37 22 253:1 / /mnt/x rw - xfs /dev/mapper/attachd-v2 rw\n"
	"38 22 253:4 / /mnt/x rw - xfs /dev/mapper/attachd-v3 rw\n"
	"garbage line\n";

static void test_mountinfo(void **state)
{
	struct attach_mnt m;

	assert_int_equal(attach_mountinfo_find(mountinfo,
					       "/var/vcap/data/volumes/attachd/.staging/v1", &m),
			 0);
	assert_int_equal(m.major, 253);
	assert_int_equal(m.minor, 0);
	assert_string_equal(m.fstype, "ext4");
	assert_string_equal(m.source, "/dev/mapper/attachd-v1");
	assert_int_equal(m.readonly, 0);
	/* Escaped space in the path; per-mount ro. */
	assert_int_equal(attach_mountinfo_find(mountinfo, "/var/vcap/data/volumes/attachd/v1/c 1", &m), 0);
	assert_int_equal(m.readonly, 1);
	/* Over-mounted path: the topmost (last) mount wins. */
	assert_int_equal(attach_mountinfo_find(mountinfo, "/mnt/x", &m), 0);
	assert_int_equal(m.minor, 4);
	assert_int_equal(attach_mountinfo_find(mountinfo, "/nope", &m), -ENOENT);
	assert_int_equal(attach_mountinfo_find("", "/", &m), -ENOENT);
}

static void test_mount_options(void **state)
{
	struct errlist el = { 0 };
	unsigned long flags;
	char data[64];

	assert_int_equal(attach_mount_options_check("noatime,discard", &el), 0);
	assert_int_equal(attach_mount_options_split("noatime,discard,data=journal", &flags, data,
						    sizeof(data)),
			 0);
	assert_true(flags & MS_NOATIME);
	assert_string_equal(data, "discard,data=journal");
	assert_int_equal(attach_mount_options_split("", &flags, data, sizeof(data)), 0);
	assert_int_equal(flags, 0);
	assert_string_equal(data, "");
	assert_int_equal(attach_mount_options_check("suid,,dev", &el), -EINVAL);
	assert_int_equal(el.n, 3);
	assert_int_equal(attach_mount_options_split("suid", &flags, data, sizeof(data)), -EINVAL);
	assert_int_equal(attach_mount_options_split("discard", &flags, data, 4), -ENOBUFS);
}

static void test_step_names(void **state)
{
	assert_string_equal(attach_step_name(STEP_AWAIT), "await-device");
	assert_string_equal(attach_step_name(STEP_DISCONNECT), "disconnect");
	assert_string_equal(attach_step_name((enum attach_step)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_up_fresh),   cmocka_unit_test(test_plan_up_no_probe_and_resume),
		cmocka_unit_test(test_plan_down),       cmocka_unit_test(test_mountinfo),
		cmocka_unit_test(test_mount_options),   cmocka_unit_test(test_step_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
