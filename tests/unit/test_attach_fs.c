/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Format safety on real data (regular files stand in for devices: libblkid and mkfs
 * treat them alike, no root needed): only a provably blank device may be formatted (no
 * signature of any kind, bad checksums included, and the first and last MiB all zeroes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The superblock read gives what the filesystem's own tool prints (the expand check uses
 * either). */
static void expect_sb_size_matches_tool(const char *path, const char *fs)
{
	char *dump[] = {"dumpe2fs", "-h", (char *)path, NULL};
	char *db[] = {"xfs_db",	    "-r", "-c", "sb 0", "-c", "print dblocks blocksize",
		      (char *)path, NULL};
	uint64_t b = 0, bs = 0, tb = 0, tbs = 0;
	char *out = NULL;
	struct sys s;

	sys_init_real(&s);
	assert_int_equal(attach_fs_sb_size(path, fs, &b, &bs), 0);
	assert_int_equal(sys_run(&s, strcmp(fs, "xfs") ? dump : db, 60000, &out), 0);
	if (!strcmp(fs, "xfs")) {
		unsigned long long d = 0, k = 0;
		const char *p = strstr(out, "dblocks = "), *q = strstr(out, "blocksize = ");

		assert_non_null(p);
		assert_non_null(q);
		d = strtoull(p + 10, NULL, 10);
		k = strtoull(q + 12, NULL, 10);
		tb = d * k;
		tbs = k;
	} else
		assert_int_equal(attach_fs_size_parse(fs, out, &tb, &tbs), 0);
	free(out);
	assert_true(b > 0);
	assert_int_equal(b, tb);
	assert_int_equal(bs, tbs);
	/* the other filesystem's superblock is not there */
	assert_int_equal(attach_fs_sb_size(path, strcmp(fs, "xfs") ? "xfs" : "ext4", &b, &bs),
			 -EMEDIUMTYPE);
}

static void test_blank_then_ext4(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	struct sys s;
	char what[64] = "";

	sys_init_real(&s);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_BLANK);
	assert_int_equal(attach_fs_mkfs(&s, "ext4", f->path, 60000, &e), 0);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "ext4");
	expect_sb_size_matches_tool(f->path, "ext4");
}

static void test_xfs_found(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
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
	expect_sb_size_matches_tool(f->path, "xfs");
}

/* ext4 beyond 2^32 blocks: the high half counts only with the 64bit feature. */
static void test_sb_parse_ext4_64bit(void **state)
{
	unsigned char sb[2048] = {0};
	uint64_t b = 0, bs = 0;

	sb[1024 + 0x38] = 0x53, sb[1024 + 0x39] = 0xef;
	sb[1024 + 0x18] = 2;	/* 4096-byte blocks */
	sb[1024 + 0x04] = 0x10; /* lo = 16 */
	sb[1024 + 0x150] = 1;	/* hi = 1 */
	assert_int_equal(attach_fs_sb_parse(sb, sizeof(sb), "ext4", &b, &bs), 0);
	assert_int_equal(b, 16ull * 4096);
	assert_int_equal(bs, 4096);
	sb[1024 + 0x60] = 0x80; /* INCOMPAT_64BIT */
	assert_int_equal(attach_fs_sb_parse(sb, sizeof(sb), "ext4", &b, &bs), 0);
	assert_int_equal(b, ((1ull << 32) + 16) * 4096);
	sb[1024 + 0x18] = 40; /* nonsense block size */
	assert_int_equal(attach_fs_sb_parse(sb, sizeof(sb), "ext4", &b, &bs), -EMEDIUMTYPE);
	assert_int_equal(attach_fs_sb_parse(sb, sizeof(sb), "btrfs", &b, &bs), -EOPNOTSUPP);
}

static void test_partition_table_is_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	unsigned char mbr[512] = {0};
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
	struct errbuf e = {{0}};
	/* LUKS1 magic + version 1. */
	const unsigned char luks[] = {'L', 'U', 'K', 'S', 0xba, 0xbe, 0x00, 0x01};
	char what[64] = "";

	write_at(f->path, 0, luks, sizeof(luks));
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "crypto_LUKS");
}

static void resize(const char *path, off_t size)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void flip_byte(const char *path, off_t off)
{
	unsigned char b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x5a;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* A damaged superblock that e2fsck -b could repair is data, never "nothing found". */
static void test_ext4_bad_checksum_is_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	struct sys s;
	char what[128] = "";

	sys_init_real(&s);
	assert_int_equal(attach_fs_mkfs(&s, "ext4", f->path, 60000, &e), 0);
	/* s_checksum: the last 4 bytes of the superblock at 1024 (metadata_csum is on). */
	flip_byte(f->path, 1024 + 0x3fc);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "ext4 (bad checksum)");
}

static void test_xfs_bad_checksum_is_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	struct sys s;
	char what[128] = "";

	resize(f->path, 320 << 20);
	sys_init_real(&s);
	assert_int_equal(attach_fs_mkfs(&s, "xfs", f->path, 60000, &e), 0);
	/* sb_crc at offset 224 of the v5 superblock. */
	flip_byte(f->path, 224);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "xfs (bad checksum)");
}

static void test_sfdisk_gpt_is_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	char cmd[160], what[128] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "sfdisk -q %s >/dev/null 2>&1", f->path);
	p = popen(cmd, "w");
	assert_non_null(p);
	fputs("label: gpt\n,,L\n", p);
	assert_int_equal(pclose(p), 0);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_FOUND);
	assert_string_equal(what, "gpt partition table");
}

/* Raw data without any signature (a database device, a volume mapped by mistake). */
static void test_random_bytes_are_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	unsigned char buf[65536];
	uint32_t x = 2463534242u;
	char what[128] = "";

	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (unsigned char)x;
	}
	buf[0] = 0; /* the first non-zero byte is then at offset 1 */
	buf[1] |= 1;
	write_at(f->path, 0, buf, sizeof(buf));
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_DATA);
	assert_string_equal(what, "non-zero data at offset 1 and no known signature");
}

static void test_last_mib_only_is_data(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	const char one = 1;
	char what[128] = "", want[128];
	off_t at = (64 << 20) - 100;

	write_at(f->path, at, &one, 1);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_DATA);
	snprintf(want, sizeof(want), "non-zero data at offset %lld and no known signature",
		 (long long)at);
	assert_string_equal(what, want);
}

/* The rule reads the first and last MiB only: data in between does not make it "used". */
static void test_small_device_whole_read(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	const char one = 1;
	char what[128] = "";

	resize(f->path, 1536 << 10); /* 1.5 MiB: the two spans overlap */
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_BLANK);
	write_at(f->path, 1 << 20, &one, 1);
	assert_int_equal(attach_fs_probe(f->path, what, sizeof(what), &e), PROBE_DATA);
	assert_non_null(strstr(what, "offset 1048576"));
}

/* A short read (the device is smaller than it claims) is a refusal, never a format. */
static void test_short_read_is_error(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	uint64_t at = 0;

	assert_int_equal(attach_fs_zero_check(f->path, 128 << 20, &at, &e), -EIO);
	assert_non_null(strstr(e.msg, "refusing to format"));
	assert_int_equal(attach_fs_zero_check(f->path, 64 << 20, &at, &e), 1);
}

static void put(const char *root, const char *rel, const char *content)
{
	char p[512], *slash;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	for (slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		(void)mkdir(p, 0755);
		*slash = '/';
	}
	if (content) {
		FILE *fp = fopen(p, "w");

		assert_non_null(fp);
		fputs(content, fp);
		fclose(fp);
	} else
		assert_int_equal(mkdir(p, 0755), 0);
}

static void test_holders(void **state)
{
	struct errbuf e = {{0}};
	char root[] = "/tmp/attachd-holders-XXXXXX", cmd[128];
	struct sys s;

	assert_non_null(mkdtemp(root));
	sys_init_real(&s);
	s.sysfs_root = root;
	/* No holders directory, an empty one: free. */
	assert_int_equal(attach_dev_holders_check(&s, 7, 0, "/dev/loop0", NULL, &e), 0);
	put(root, "/sys/dev/block/7:0/holders", NULL);
	assert_int_equal(attach_dev_holders_check(&s, 7, 0, "/dev/loop0", NULL, &e), 0);
	/* Our own map holds it: allowed only when named. */
	put(root, "/sys/dev/block/7:0/holders/dm-3", "");
	put(root, "/sys/class/block/dm-3/dm/name", "attachd-v1\n");
	assert_int_equal(attach_dev_holders_check(&s, 7, 0, "/dev/loop0", "attachd-v1", &e), 0);
	assert_int_equal(attach_dev_holders_check(&s, 7, 0, "/dev/loop0", NULL, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "held by dm-3"));
	assert_int_equal(attach_dev_holders_check(&s, 7, 0, "/dev/loop0", "attachd-v2", &e),
			 -EBUSY);
	/* Somebody else's (an md array): refused even next to ours. */
	put(root, "/sys/dev/block/7:0/holders/md0", "");
	assert_int_equal(attach_dev_holders_check(&s, 7, 0, "/dev/loop0", "attachd-v1", &e),
			 -EBUSY);
	assert_non_null(strstr(e.msg, "held by md0"));
	/* multipathd's map (uuid mpath-...): the message names it and says what to do */
	put(root, "/sys/dev/block/8:16/holders/dm-4", "");
	put(root, "/sys/class/block/dm-4/dm/name", "mpatha\n");
	put(root, "/sys/class/block/dm-4/dm/uuid", "mpath-36001405abc\n");
	assert_int_equal(attach_dev_holders_check(&s, 8, 16, "/dev/sdb", "attachd-v1", &e), -EBUSY);
	assert_non_null(strstr(e.msg, "/dev/sdb (8:16) is held by multipath map mpatha (dm-4), "
				      "which multipathd built"));
	assert_non_null(strstr(e.msg, "/etc/multipath/conf.d/attachd.conf"));
	assert_non_null(strstr(e.msg, "`multipathd reconfigure`"));
	assert_non_null(strstr(e.msg, "`multipath -f mpatha`"));
	/* another kind of dm map keeps the generic message */
	put(root, "/sys/class/block/dm-4/dm/uuid", "LVM-abc\n");
	assert_int_equal(attach_dev_holders_check(&s, 8, 16, "/dev/sdb", "attachd-v1", &e), -EBUSY);
	assert_non_null(strstr(e.msg, "held by dm-4, which attachd did not create"));
	assert_null(strstr(e.msg, "multipathd"));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static void test_mountinfo_has_dev(void **state)
{
	const char *mi =
	    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
	    "40 22 253:3 / /var/vcap/data/x rw,nosuid - xfs /dev/mapper/attachd-v rw\n";

	assert_int_equal(attach_mountinfo_has_dev(mi, 253, 3), 1);
	assert_int_equal(attach_mountinfo_has_dev(mi, 8, 1), 1);
	assert_int_equal(attach_mountinfo_has_dev(mi, 253, 4), 0);
	assert_int_equal(attach_mountinfo_has_dev("", 8, 1), 0);
}

static void test_check_unused_image_file(void **state)
{
	struct fixture *f = *state;
	struct errbuf e = {{0}};
	struct sys s;

	sys_init_real(&s);
	assert_int_equal(attach_fs_check_unused(&s, f->path, &e), 0);
	assert_true(attach_fs_check_unused(&s, "/nonexistent/dev", &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/dev"));
}

static void test_unreadable_is_error(void **state)
{
	struct errbuf e = {{0}};
	char what[64] = "";

	assert_true(attach_fs_probe("/nonexistent/dev", what, sizeof(what), &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/dev"));
}

static void test_mkfs_failure_reported(void **state)
{
	struct errbuf e = {{0}};
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
	    cmocka_unit_test(test_sb_parse_ext4_64bit),
	    cmocka_unit_test_setup_teardown(test_partition_table_is_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_luks_is_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ext4_bad_checksum_is_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_xfs_bad_checksum_is_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sfdisk_gpt_is_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_bytes_are_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_last_mib_only_is_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_device_whole_read, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_read_is_error, setup, teardown),
	    cmocka_unit_test(test_holders),
	    cmocka_unit_test(test_mountinfo_has_dev),
	    cmocka_unit_test_setup_teardown(test_check_unused_image_file, setup, teardown),
	    cmocka_unit_test(test_unreadable_is_error),
	    cmocka_unit_test(test_mkfs_failure_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
