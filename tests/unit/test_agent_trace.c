/* SPDX-License-Identifier: Apache-2.0 */
/* The step trace attachd logs after each attach/detach (and attachctl trace shows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "agent/trace.h"

static void test_trace_shape(void **state)
{
	struct attach_volume v;
	json_t *t, *steps;

	memset(&v, 0, sizeof(v));
	strcpy(v.key, "vol1");
	strcpy(v.dev.devnode, "/dev/sdb");
	strcpy(v.dm_devnode, "/dev/mapper/attachd-vol1");
	strcpy(v.fs_found, "ext4");
	v.opts.be = &be_iscsi_ops;
	v.formatted = 1;
	v.timings[0] = (struct attach_timing){ .step = STEP_CONNECT, .usec = 1500, .result = 0 };
	v.timings[1] = (struct attach_timing){ .step = STEP_AWAIT, .usec = 2500, .result = -ETIMEDOUT };
	v.n_timings = 2;
	t = agent_trace_json(&v);
	assert_non_null(t);
	assert_string_equal(json_string_value(json_object_get(t, "volume")), "vol1");
	assert_string_equal(json_string_value(json_object_get(t, "backend")), "iscsi");
	assert_true(json_is_true(json_object_get(t, "formatted")));
	assert_true(json_real_value(json_object_get(t, "total_ms")) > 3.9);
	assert_true(json_real_value(json_object_get(t, "total_ms")) < 4.1);
	steps = json_object_get(t, "steps");
	assert_int_equal(json_array_size(steps), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "step")),
			    "connect");
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 0), "result")),
			    "ok");
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "step")),
			    "await-device");
	assert_string_equal(json_string_value(json_object_get(json_array_get(steps, 1), "result")),
			    "ETIMEDOUT");
	json_decref(t);
}

static void test_trace_empty(void **state)
{
	struct attach_volume v;
	json_t *t;

	memset(&v, 0, sizeof(v));
	strcpy(v.key, "v");
	t = agent_trace_json(&v);
	assert_non_null(t);
	assert_int_equal(json_array_size(json_object_get(t, "steps")), 0);
	assert_string_equal(json_string_value(json_object_get(t, "backend")), "");
	json_decref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_shape),
		cmocka_unit_test(test_trace_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
