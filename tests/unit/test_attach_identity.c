/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "attach/identity.h"

#define KEY_IQN_X 0x1b6b11ffba42e6e7ULL

/* Expected values: printf 'attachd-fencing:abc' | sha256sum | cut -c1-16 */
static void derive_from_machine_id(void **state)
{
	uint64_t k = 0;

	assert_int_equal(attach_fencing_key_derive("abc", "iqn.x", &k), 0);
	assert_true(k == 0x616c3b7211882519ULL);
	/* stable: the same input gives the same key */
	assert_int_equal(attach_fencing_key_derive("abc", NULL, &k), 0);
	assert_true(k == 0x616c3b7211882519ULL);
}

static void derive_falls_back_to_initiator(void **state)
{
	uint64_t k = 0;

	assert_int_equal(attach_fencing_key_derive("", "iqn.x", &k), 0);
	assert_true(k == KEY_IQN_X);
	assert_int_equal(attach_fencing_key_derive(NULL, "iqn.x", &k), 0);
	assert_true(k == KEY_IQN_X);
	assert_int_equal(attach_fencing_key_derive(NULL, "", &k), -EINVAL);
	assert_int_equal(attach_fencing_key_derive(NULL, NULL, &k), -EINVAL);
}

static void key_validity(void **state)
{
	assert_true(attach_fencing_key_is_valid("0123456789abcdef"));
	assert_true(attach_fencing_key_is_valid("0123456789ABCDEF"));
	assert_false(attach_fencing_key_is_valid("0000000000000000"));
	assert_false(attach_fencing_key_is_valid("0123456789abcde"));
	assert_false(attach_fencing_key_is_valid("0123456789abcdef0"));
	assert_false(attach_fencing_key_is_valid("0123456789abcdeg"));
	assert_false(attach_fencing_key_is_valid(""));
}

static void guid_parse(void **state)
{
	char buf[40];

	assert_int_equal(attach_drv_cfg_guid_parse("Retrieved GUID is "
						   "3f2a1b0c-1111-2222-3333-444455556666.\n",
						   buf, sizeof(buf)),
			 0);
	assert_string_equal(buf, "3f2a1b0c-1111-2222-3333-444455556666");
	assert_int_equal(attach_drv_cfg_guid_parse("no guid here\n", buf, sizeof(buf)), -ENOENT);
	/* too short a last group, or part of a longer token */
	assert_int_equal(
	    attach_drv_cfg_guid_parse("3f2a1b0c-1111-2222-3333-44445555666", buf, sizeof(buf)),
	    -ENOENT);
	assert_int_equal(
	    attach_drv_cfg_guid_parse("a3f2a1b0c-1111-2222-3333-444455556666", buf, sizeof(buf)),
	    -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(derive_from_machine_id),
	    cmocka_unit_test(derive_falls_back_to_initiator),
	    cmocka_unit_test(key_validity),
	    cmocka_unit_test(guid_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
