/* SPDX-License-Identifier: Apache-2.0 */
/* lib/sys: what a TEST UNIT READY outcome means to the path checker (SG_IO decoding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "lib/sys.h"

static void test_good(void **state)
{
	int key = 99;

	assert_int_equal(sys_sg_io_decode(0, 0, 0, NULL, 0, &key), 0);
	assert_int_equal(key, 99); /* untouched on success */
}

static void test_check_condition_fixed_sense(void **state)
{
	/* fixed format, NOT READY, ASC 04/0b (ALUA standby) */
	unsigned char s[18] = {0x70, 0, 0x02, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x04, 0x0b};
	int key = -5;

	assert_int_equal(sys_sg_io_decode(0x02, 0, 0x08, s, sizeof(s), &key), -EIO);
	assert_int_equal(key, 2);
	/* deferred error, UNIT ATTENTION */
	s[0] = 0x71;
	s[2] = 0x06;
	assert_int_equal(sys_sg_io_decode(0x02, 0, 0, s, sizeof(s), &key), -EIO);
	assert_int_equal(key, 6);
}

static void test_check_condition_descriptor_sense(void **state)
{
	unsigned char s[8] = {0x72, 0x06, 0x29, 0x00};
	int key = -5;

	assert_int_equal(sys_sg_io_decode(0x02, 0, 0x08, s, sizeof(s), &key), -EIO);
	assert_int_equal(key, 6);
}

static void test_check_condition_without_sense(void **state)
{
	unsigned char junk[4] = {0x00, 0x00, 0x05, 0};
	int key = 7;

	assert_int_equal(sys_sg_io_decode(0x02, 0, 0, NULL, 0, &key), -EIO);
	assert_int_equal(key, -1);
	key = 7;
	assert_int_equal(sys_sg_io_decode(0x02, 0, 0, junk, sizeof(junk), &key), -EIO);
	assert_int_equal(key, -1);
	/* driver says sense, status byte lost: still a check condition */
	assert_int_equal(sys_sg_io_decode(0, 0, 0x08, junk, 0, &key), -EIO);
}

static void test_transport_and_timeouts(void **state)
{
	int key = 42;

	assert_int_equal(sys_sg_io_decode(0, 0x01, 0, NULL, 0, &key), -EHOSTDOWN); /* no connect */
	assert_int_equal(sys_sg_io_decode(0, 0x0e, 0, NULL, 0, &key), -EHOSTDOWN); /* disrupted */
	assert_int_equal(sys_sg_io_decode(0, 0x0f, 0, NULL, 0, &key), -EHOSTDOWN); /* failfast */
	assert_int_equal(sys_sg_io_decode(0, 0x05, 0, NULL, 0, &key), -EHOSTDOWN); /* abort */
	assert_int_equal(sys_sg_io_decode(0, 0x03, 0, NULL, 0, &key), -ETIMEDOUT);
	assert_int_equal(sys_sg_io_decode(0, 0, 0x06, NULL, 0, &key), -ETIMEDOUT);
	assert_int_equal(sys_sg_io_decode(0, 0x04, 0, NULL, 0, &key), -ENXIO);
	/* host byte wins over a check condition: the path failed, not the LU */
	assert_int_equal(sys_sg_io_decode(0x02, 0x01, 0x08, NULL, 0, &key), -EHOSTDOWN);
	assert_int_equal(key, 42);
}

static void test_busy_and_other_status(void **state)
{
	assert_int_equal(sys_sg_io_decode(0x08, 0, 0, NULL, 0, NULL), -EBUSY);
	assert_int_equal(sys_sg_io_decode(0x28, 0, 0, NULL, 0, NULL), -EBUSY);
	assert_int_equal(sys_sg_io_decode(0x18, 0, 0, NULL, 0, NULL),
			 -EIO); /* reservation conflict */
}

static void test_sense_key_forms(void **state)
{
	unsigned char fixed[3] = {0xf0, 0, 0x23}; /* valid bit set; key is the low nibble */
	unsigned char desc[2] = {0x73, 0x1b};

	assert_int_equal(sys_sense_key(fixed, sizeof(fixed)), 3);
	assert_int_equal(sys_sense_key(fixed, 2), -1); /* truncated */
	assert_int_equal(sys_sense_key(desc, sizeof(desc)), 0x0b);
	assert_int_equal(sys_sense_key(desc, 1), -1);
}

static void test_real_tur_on_a_missing_device(void **state)
{
	struct sys s;
	int key = 0;

	sys_init_real(&s);
	assert_non_null(s.ops->scsi_tur);
	assert_int_equal(s.ops->scsi_tur(&s, "/nonexistent/sdzz", 100, &key), -ENXIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_check_condition_fixed_sense),
	    cmocka_unit_test(test_check_condition_descriptor_sense),
	    cmocka_unit_test(test_check_condition_without_sense),
	    cmocka_unit_test(test_transport_and_timeouts),
	    cmocka_unit_test(test_busy_and_other_status),
	    cmocka_unit_test(test_sense_key_forms),
	    cmocka_unit_test(test_real_tur_on_a_missing_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
