/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Format safety on real data (regular files stand in for devices: libblkid and mkfs
 * treat them alike, no root needed): only a blank device may be formatted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/internal.h"

struct fixture {
	char path[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	snprintf(f->path, sizeof(f->path), "/tmp/attachd-fs-XXXXXX");
	fd = mkstemp(f->path);
	if (fd < 0 || ftruncate(fd, 64 << 20) < 0)
		return -1;
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	free(f);
	return 0;
}

static void write_at(const char *path, off_t off, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, n, off), (ssize_t)n);
	close(fd);
}

static void test_blank_then_ext4(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = { { 0 } };
	struct sys s;
	char what[64] = "";

	sys_init_real(&s);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_BLANK);
	assert_int_equal(attach_fs_mkfs(&s, "ext4", f->path, 60000, &e), 0);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "ext4");
}

static void test_xfs_found(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = { { 0 } };
	struct sys s;
	char what[64] = "";
	int fd;

	/* mkfs.xfs wants at least 300 MiB. */
	fd = open(f->path, O_WRONLY);
	assert_int_equal(ftruncate(fd, 320 << 20), 0);
	close(fd);
	sys_init_real(&s);
	assert_int_equal(attach_fs_mkfs(&s, "xfs", f->path, 60000, &e), 0);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "xfs");
}

static void test_partition_table_is_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = { { 0 } };
	unsigned char mbr[512] = { 0 };
	char what[64] = "";

	/* One Linux partition, MBR signature: never "blank". */
	mbr[446 + 4] = 0x83;
	mbr[446 + 8] = 0x00;
	mbr[446 + 9] = 0x08;
	mbr[446 + 12] = 0x00;
	mbr[446 + 13] = 0x10;
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	write_at(f->path, 0, mbr, sizeof(mbr));
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_non_null(strstr(what, "partition table"));
}

static void test_luks_is_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = { { 0 } };
	/* LUKS1 magic + version 1. */
	const unsigned char luks[] = { 'L', 'U', 'K', 'S', 0xba, 0xbe, 0x00, 0x01 };
	char what[64] = "";

	write_at(f->path, 0, luks, sizeof(luks));
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "crypto_LUKS");
}

static void test_unreadable_is_error(void **state)
{
	struct errbuf e = { { 0 } };
	char what[64] = "";

	assert_true(attach_fs_probe("/nonexistent/dev", what, sizeof(what), &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/dev"));
}

static void test_mkfs_failure_reported(void **state)
{
	struct errbuf e = { { 0 } };
	struct sys s;

	sys_init_real(&s);
	assert_int_equal(attach_fs_mkfs(&s, "ext4", "/nonexistent/dev", 60000, &e), -EIO);
	assert_non_null(strstr(e.msg, "mkfs.ext4 /nonexistent/dev failed"));
	assert_int_equal(attach_fs_mkfs(&s, "btrfs", "/nonexistent/dev", 60000, &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blank_then_ext4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xfs_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partition_table_is_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_luks_is_data, setup, teardown),
		cmocka_unit_test(test_unreadable_is_error),
		cmocka_unit_test(test_mkfs_failure_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
