/* SPDX-License-Identifier: Apache-2.0 */
/* dm/ pure helpers: names, uuids, tables, table lines, table comparison; and the parts of
 * the kernel API that must fail cleanly before touching libdevmapper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm/dmap.h"
#include "dm/internal.h"

static void fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = 0;
}

static void test_name_uuid(void **state)
{
	char buf[200];

	assert_int_equal(dmap_name_for("vol-1_a.b", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "attachd-vol-1_a.b");
	assert_int_equal(dmap_uuid_for("vol-1_a.b", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "ATTACHD-vol-1_a.b");
	/* exact fit of the buffer */
	assert_int_equal(dmap_name_for("abc", buf, strlen("attachd-abc") + 1), 0);
	assert_string_equal(buf, "attachd-abc");
}

static void test_name_bad_keys(void **state)
{
	static const char *const bad[] = {
	    "", ".", "..", "a/b", "a b", "a\nb", "a:b", "a\\x2fb", "é", "a$", "a=b", "a*",
	};
	char buf[200];

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		strcpy(buf, "untouched");
		assert_int_equal(dmap_name_for(bad[i], buf, sizeof(buf)), -EINVAL);
		assert_int_equal(dmap_uuid_for(bad[i], buf, sizeof(buf)), -EINVAL);
		assert_string_equal(buf, "untouched"); /* ret_* written only on success */
	}
	assert_int_equal(dmap_name_for(NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(dmap_key_is_valid("..."), 1);
	assert_int_equal(dmap_key_is_valid(".hidden"), 1);
}

static void test_name_lengths(void **state)
{
	char key[200], buf[300];
	size_t np = strlen(DMAP_NAME_PREFIX), up = strlen(DMAP_UUID_PREFIX);

	/* Names: at most 127 chars (DM_NAME_LEN 128 with the NUL). */
	fill(key, 'k', DMAP_NAME_MAX - np);
	assert_int_equal(dmap_name_for(key, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 127);
	fill(key, 'k', DMAP_NAME_MAX - np + 1);
	assert_int_equal(dmap_name_for(key, buf, sizeof(buf)), -ENAMETOOLONG);
	/* The same key still fits a uuid (128). */
	assert_int_equal(dmap_uuid_for(key, buf, sizeof(buf)), 0);
	fill(key, 'k', DMAP_UUID_MAX - up);
	assert_int_equal(dmap_uuid_for(key, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 128);
	fill(key, 'k', DMAP_UUID_MAX - up + 1);
	assert_int_equal(dmap_uuid_for(key, buf, sizeof(buf)), -ENAMETOOLONG);
	/* Caller's buffer too small is not the key's fault. */
	assert_int_equal(dmap_name_for("abc", buf, strlen("attachd-abc")), -ENOBUFS);
	assert_int_equal(dmap_name_for("abc", NULL, 0), -ENOBUFS);
}

static void test_linear(void **state)
{
	struct dmap_target t;
	char line[200];

	assert_int_equal(dmap_table_linear(1073741824, 8, 16, &t), 0);
	assert_int_equal(t.start, 0);
	assert_int_equal(t.len, 2097152);
	assert_string_equal(t.type, "linear");
	assert_string_equal(t.params, "8:16 0");
	assert_int_equal(dmap_target_format(&t, line, sizeof(line)), 0);
	assert_string_equal(line, "0 2097152 linear 8:16 0");
	assert_int_equal(dmap_table_linear(512, 259, 1048575, &t), 0);
	assert_int_equal(t.len, 1);
	assert_string_equal(t.params, "259:1048575 0");
}

static void test_linear_errors(void **state)
{
	struct dmap_target t = {.len = 42};

	assert_int_equal(dmap_table_linear(0, 8, 16, &t), -EINVAL);
	assert_int_equal(dmap_table_linear(1000, 8, 16, &t), -EINVAL);
	assert_int_equal(dmap_table_linear(1073741825, 8, 16, &t), -EINVAL);
	assert_int_equal(dmap_table_linear(511, 8, 16, &t), -EINVAL);
	assert_int_equal(dmap_table_linear(1 << 20, 0, 16, &t), -EINVAL); /* major 0 */
	assert_int_equal(dmap_table_linear(1 << 20, 4096, 0, &t), -EINVAL);
	assert_int_equal(dmap_table_linear(1 << 20, 8, 1048576, &t), -EINVAL);
	assert_int_equal(t.len, 42); /* untouched */
}

static void test_multipath(void **state)
{
	const char *paths[] = {"8:16", "8:32", "65:0"};
	struct dmap_target t;

	assert_int_equal(dmap_table_multipath(1 << 30, paths, 3, &t), 0);
	assert_int_equal(t.start, 0);
	assert_int_equal(t.len, 2097152);
	assert_string_equal(t.type, "multipath");
	assert_string_equal(t.params, "0 0 1 1 round-robin 0 3 1 8:16 1 8:32 1 65:0 1");
	assert_int_equal(dmap_table_multipath(1 << 30, paths, 1, &t), 0);
	assert_string_equal(t.params, "0 0 1 1 round-robin 0 1 1 8:16 1");
}

static void test_multipath_errors(void **state)
{
	const char *dup[] = {"8:16", "8:16"};
	const char *badp[][1] = {{"8:"},    {":16"},	{"sdb"}, {"0:16"}, {"8:16 "},
				 {"-8:16"}, {"8:0x10"}, {""},	 {NULL}};
	const char *many[DMAP_MULTIPATH_MAX_PATHS + 1];
	char names[DMAP_MULTIPATH_MAX_PATHS + 1][16];
	struct dmap_target t = {.len = 7};

	assert_int_equal(dmap_table_multipath(1 << 30, NULL, 0, &t), -EINVAL);
	assert_int_equal(dmap_table_multipath(1 << 30, dup, 0, &t), -EINVAL);
	assert_int_equal(dmap_table_multipath(0, dup, 1, &t), -EINVAL);
	assert_int_equal(dmap_table_multipath(1000, dup, 1, &t), -EINVAL);
	assert_int_equal(dmap_table_multipath(1 << 30, dup, 2, &t), -EINVAL);
	for (size_t i = 0; i < ELEMENTSOF(badp); i++)
		assert_int_equal(dmap_table_multipath(1 << 30, badp[i], 1, &t), -EINVAL);
	for (size_t i = 0; i < ELEMENTSOF(many); i++) {
		snprintf(names[i], sizeof(names[i]), "8:%zu", i * 16);
		many[i] = names[i];
	}
	assert_int_equal(dmap_table_multipath(1 << 30, many, DMAP_MULTIPATH_MAX_PATHS + 1, &t),
			 -E2BIG);
	assert_int_equal(t.len, 7);
	/* The maximum fits the params buffer even with the widest device numbers. */
	for (size_t i = 0; i < DMAP_MULTIPATH_MAX_PATHS; i++) {
		snprintf(names[i], sizeof(names[i]), "4095:%zu", 1048575 - i);
		many[i] = names[i];
	}
	assert_int_equal(dmap_table_multipath(1 << 30, many, DMAP_MULTIPATH_MAX_PATHS, &t), 0);
}

static void test_devno(void **state)
{
	unsigned ma = 0, mi = 0;

	assert_true(dmap_devno_parse("253:0", &ma, &mi));
	assert_int_equal(ma, 253);
	assert_int_equal(mi, 0);
	assert_false(dmap_devno_parse("253", NULL, NULL));
	assert_false(dmap_devno_parse("253:0:1", NULL, NULL));
	assert_false(dmap_devno_parse("+1:0", NULL, NULL));
	assert_false(dmap_devno_parse("99999999999999999999999:0", NULL, NULL));
	assert_false(dmap_devno_parse(NULL, NULL, NULL));
}

static void test_parse_line(void **state)
{
	struct dmap_target t;

	assert_int_equal(dmap_parse_table_line("0 2048 linear 8:16 0", &t), 0);
	assert_int_equal(t.start, 0);
	assert_int_equal(t.len, 2048);
	assert_string_equal(t.type, "linear");
	assert_string_equal(t.params, "8:16 0");
	assert_int_equal(dmap_parse_table_line("0 2097152 error\n", &t), 0);
	assert_string_equal(t.type, "error");
	assert_string_equal(t.params, "");
	assert_int_equal(dmap_parse_table_line(
			     "  2048  4096\tmultipath 0 0 1 1 round-robin 0 1 1 8:16 1  \n", &t),
			 0);
	assert_int_equal(t.start, 2048);
	assert_int_equal(t.len, 4096);
	assert_string_equal(t.params, "0 0 1 1 round-robin 0 1 1 8:16 1");
	assert_int_equal(dmap_parse_table_line("0 18446744073709551615 error", &t), 0);
}

static void test_parse_line_errors(void **state)
{
	static const char *const bad[] = {
	    "",
	    "   ",
	    "0",
	    "0 2048",
	    "0 2048 ",
	    "x 2048 linear 8:16 0",
	    "0 x linear 8:16 0",
	    "-1 2048 linear 8:16 0",
	    "0 -2048 linear 8:16 0",
	    "0 0 linear 8:16 0", /* zero length */
	    "0 2048.5 linear 8:16 0",
	    "0x10 2048 linear 8:16 0",
	    "99999999999999999999 1 error",    /* overflow */
	    "1 18446744073709551615 error",    /* start + len overflows */
	    "0 2048 linear 8:16 0\n0 1 error", /* two lines */
	};
	struct dmap_target t = {.len = 99};
	char line[2048];

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int r = dmap_parse_table_line(bad[i], &t);

		if (r != -EINVAL)
			fail_msg("'%s' gave %d", bad[i], r);
	}
	assert_int_equal(dmap_parse_table_line(NULL, &t), -EINVAL);
	/* overlong type and params */
	snprintf(line, sizeof(line), "0 1 %0*d x", 40, 0);
	assert_int_equal(dmap_parse_table_line(line, &t), -E2BIG);
	memset(line, 'p', sizeof(line) - 1);
	line[sizeof(line) - 1] = 0;
	memcpy(line, "0 1 linear ", 11);
	assert_int_equal(dmap_parse_table_line(line, &t), -E2BIG);
	assert_int_equal(t.len, 99);
}

static void test_format_roundtrip(void **state)
{
	const char *lines[] = {"0 2048 linear 8:16 0", "0 8 error",
			       "0 2097152 multipath 0 0 1 1 round-robin 0 1 1 8:16 1"};
	struct dmap_target t;
	char out[1200], tiny[8];

	for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
		assert_int_equal(dmap_parse_table_line(lines[i], &t), 0);
		assert_int_equal(dmap_target_format(&t, out, sizeof(out)), 0);
		assert_string_equal(out, lines[i]);
	}
	assert_int_equal(dmap_target_format(&t, tiny, sizeof(tiny)), -ENOBUFS);
}

static void test_targets_check(void **state)
{
	struct dmap_target t[3];
	struct errbuf e = {{0}};

	assert_int_equal(dmap_parse_table_line("0 100 linear 8:16 0", &t[0]), 0);
	assert_int_equal(dmap_parse_table_line("100 50 error", &t[1]), 0);
	assert_int_equal(dmap_targets_check(t, 2, &e), 0);
	assert_int_equal(dmap_targets_check(t, 0, &e), -EINVAL);
	assert_int_equal(dmap_targets_check(NULL, 1, &e), -EINVAL);
	t[1].start = 101;
	assert_int_equal(dmap_targets_check(t, 2, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "contiguous"));
	t[1].start = 100;
	t[1].len = 0;
	assert_int_equal(dmap_targets_check(t, 2, &e), -EINVAL);
	t[1].len = 50;
	t[0].start = 1;
	assert_int_equal(dmap_targets_check(t, 1, &e), -EINVAL);
	t[0].start = 0;
	t[0].type[0] = 0;
	assert_int_equal(dmap_targets_check(t, 1, &e), -EINVAL);
	memset(t[0].params, 'x', sizeof(t[0].params)); /* not NUL-terminated */
	strcpy(t[0].type, "linear");
	assert_int_equal(dmap_targets_check(t, 1, &e), -EINVAL);
}

static void test_targets_size(void **state)
{
	struct dmap_target t[2] = {{.start = 0, .len = 100}, {.start = 100, .len = 28}};
	uint64_t b = 1;

	assert_int_equal(dmap_targets_size(t, 2, &b), 0);
	assert_int_equal(b, 128 * 512);
	assert_int_equal(dmap_targets_size(t, 0, &b), 0);
	assert_int_equal(b, 0);
	t[0].len = UINT64_MAX / 512 + 1;
	assert_int_equal(dmap_targets_size(t, 1, &b), -EOVERFLOW);
	t[0].len = UINT64_MAX;
	assert_int_equal(dmap_targets_size(t, 2, &b), -EOVERFLOW);
}

static void test_equivalent(void **state)
{
	const char *paths[] = {"8:16", "8:32"};
	struct dmap_target want, have, two[2];

	assert_int_equal(dmap_table_linear(1 << 30, 8, 16, &want), 0);
	assert_int_equal(dmap_parse_table_line("0 2097152 linear 8:16 0", &have), 0);
	assert_true(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_int_equal(dmap_parse_table_line("0 2097152 linear  8:16   0", &have), 0);
	assert_true(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_int_equal(dmap_parse_table_line("0 2097152 linear 8:32 0", &have), 0);
	assert_false(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_int_equal(dmap_parse_table_line("0 2097152 linear 8:16 8", &have), 0);
	assert_false(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_int_equal(dmap_parse_table_line("0 2097151 linear 8:16 0", &have), 0);
	assert_false(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_int_equal(dmap_parse_table_line("0 2097152 error", &have), 0);
	assert_false(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_false(dmap_targets_equivalent(&want, 1, &have, 0));
	two[0] = want;
	two[1] = want;
	assert_false(dmap_targets_equivalent(&want, 1, two, 2));

	/* Multipath: the kernel's echo adds features and an attached hw handler. */
	assert_int_equal(dmap_table_multipath(1 << 30, paths, 2, &want), 0);
	assert_int_equal(
	    dmap_parse_table_line("0 2097152 multipath 1 retain_attached_hw_handler 1 alua "
				  "1 1 round-robin 0 2 1 8:16 1 8:32 1",
				  &have),
	    0);
	assert_true(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_int_equal(dmap_parse_table_line(
			     "0 2097152 multipath 0 0 1 1 round-robin 0 2 1 8:32 1 8:16 1", &have),
			 0);
	assert_false(dmap_targets_equivalent(&want, 1, &have, 1)); /* order matters */
	assert_int_equal(
	    dmap_parse_table_line("0 2097152 multipath 0 0 1 1 round-robin 0 1 1 8:16 1", &have),
	    0);
	assert_false(dmap_targets_equivalent(&want, 1, &have, 1)); /* a path missing */
}

static void test_misc(void **state)
{
	assert_true(dmap_misc_has_dm(" 57 device-mapper\n237 loop-control\n"));
	assert_true(dmap_misc_has_dm("237 loop-control\n236 device-mapper"));
	assert_false(dmap_misc_has_dm("237 loop-control\n229 fuse\n"));
	assert_false(dmap_misc_has_dm("236 device-mapper-x\n"));
	assert_false(dmap_misc_has_dm("236 xdevice-mapper\n"));
	assert_false(dmap_misc_has_dm(""));
	assert_false(dmap_misc_has_dm(NULL));
}

/* Argument errors are reported before libdevmapper is touched (works on any host). */
/* attachd's minors: a range of their own below the kernel's 2^20, round robin, wrapping
 * inside the range; the kernel's low dynamic minors (foreign devices) are never ours. */
static void test_minor_range(void **state)
{
	assert_true(DMAP_MINOR_BASE > 0);
	assert_true((uint64_t)DMAP_MINOR_BASE + DMAP_MINOR_SPAN <= (1u << 20));
	assert_int_equal(dmap_minor_pick(0), DMAP_MINOR_BASE);
	assert_int_equal(dmap_minor_pick(1), DMAP_MINOR_BASE + 1);
	assert_int_equal(dmap_minor_pick(DMAP_MINOR_SPAN - 1),
			 DMAP_MINOR_BASE + DMAP_MINOR_SPAN - 1);
	assert_int_equal(dmap_minor_pick(DMAP_MINOR_SPAN), DMAP_MINOR_BASE);
	assert_true(dmap_minor_is_ours(dmap_minor_pick(UINT32_MAX)));
	assert_true(dmap_minor_is_ours(DMAP_MINOR_BASE));
	assert_true(dmap_minor_is_ours(DMAP_MINOR_BASE + DMAP_MINOR_SPAN - 1));
	assert_false(dmap_minor_is_ours(DMAP_MINOR_BASE + DMAP_MINOR_SPAN));
	assert_false(dmap_minor_is_ours(DMAP_MINOR_BASE - 1));
	assert_false(dmap_minor_is_ours(0));
}

static void test_kernel_arg_errors(void **state)
{
	struct dmap_target t;
	struct errbuf e = {{0}};
	char longname[200];

	assert_int_equal(dmap_table_linear(1 << 30, 8, 16, &t), 0);
	assert_int_equal(dmap_create("", "ATTACHD-x", &t, 1, 1000, &e), -EINVAL);
	assert_int_equal(dmap_create("a/b", "ATTACHD-x", &t, 1, 1000, &e), -EINVAL);
	fill(longname, 'n', 128);
	assert_int_equal(dmap_create(longname, "ATTACHD-x", &t, 1, 1000, &e), -EINVAL);
	assert_int_equal(dmap_create("attachd-x", "", &t, 1, 1000, &e), -EINVAL);
	assert_int_equal(dmap_create("attachd-x", "ATTACHD-x", &t, 0, 1000, &e), -EINVAL);
	assert_int_equal(dmap_create("attachd-x", "ATTACHD-x", &t, 1, 0, &e), -EINVAL);
	t.start = 5;
	assert_int_equal(dmap_create("attachd-x", "ATTACHD-x", &t, 1, 1000, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "contiguous"));
	assert_int_equal(dmap_remove(NULL, 1000, &e), -EINVAL);
	assert_int_equal(dmap_error_swap("", 1000, &e), -EINVAL);
}

/* On a host without device-mapper (this CI host) init says exactly what to do and
 * leaves /dev alone. Skipped where dm exists (the VM tier covers that). */
static void test_init_without_dm(void **state)
{
	struct errbuf e = {{0}};
	struct dmap_info info;
	char **names = NULL;
	struct stat st;

	if (access("/dev/mapper/control", F_OK) == 0) {
		skip();
		return;
	}
	{
		FILE *f = fopen("/proc/misc", "re");
		char line[128];

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "device-mapper")) {
				fclose(f);
				skip();
				return;
			}
		if (f)
			fclose(f);
	}
	assert_int_equal(dmap_init(&e), -ENODEV);
	assert_non_null(strstr(e.msg, "device-mapper not available: load dm-mod"));
	assert_int_equal(stat("/dev/mapper/control", &st), -1);
	assert_int_equal(dmap_get_info("attachd-x", &info), -ENODEV);
	assert_int_equal(dmap_list_owned(&names), -ENODEV);
	assert_null(names);
	errbuf_clear(&e);
	assert_int_equal(dmap_remove("attachd-x", 1000, &e), -ENODEV);
	assert_non_null(strstr(e.msg, "load dm-mod"));
}

/* attachd touches only devices whose DM UUID it gave them. */
static void test_owned(void **state)
{
	struct errbuf e = {{0}};

	(void)state;
	assert_true(dmap_uuid_is_owned("ATTACHD-vol1"));
	assert_false(dmap_uuid_is_owned("ATTACHD-"));
	assert_false(dmap_uuid_is_owned(""));
	assert_false(dmap_uuid_is_owned(NULL));
	assert_false(dmap_uuid_is_owned("attachd-vol1")); /* the name's prefix is not the mark */
	assert_false(dmap_uuid_is_owned("mpath-3600140512"));
	assert_false(dmap_uuid_is_owned("LVM-abc"));
	assert_false(dmap_uuid_is_owned("XATTACHD-vol1"));

	assert_int_equal(dmap_check_owned("attachd-x", "ATTACHD-x", "removing", &e), 0);
	assert_string_equal(e.msg, "");
	assert_int_equal(dmap_check_owned("attachd-x", "CRYPT-LUKS2-1234", "removing", &e), -EPERM);
	assert_non_null(strstr(e.msg, "not removing dm device attachd-x"));
	assert_non_null(strstr(e.msg, "'CRYPT-LUKS2-1234'"));
	assert_non_null(strstr(e.msg, "ATTACHD-"));
	assert_non_null(strstr(e.msg, "dmsetup remove attachd-x"));
	errbuf_clear(&e);
	assert_int_equal(dmap_check_owned("attachd-y", "", "replacing the table of", &e), -EPERM);
	assert_non_null(strstr(e.msg, "not replacing the table of dm device attachd-y"));
	assert_non_null(strstr(e.msg, "DM UUID is ''"));
}

static void test_mpath_table(void **state)
{
	const char *paths[] = {"8:16", "8:32", "65:0"};
	const unsigned group[] = {1, 0, 1};
	struct dmap_mpath_spec spec = {.paths = paths, .n = 3, .queue_if_no_path = 1};
	struct dmap_target t;

	(void)state;
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), 0);
	assert_int_equal(t.start, 0);
	assert_int_equal(t.len, 2097152);
	assert_string_equal(t.type, "multipath");
	assert_string_equal(t.params, "2 queue_if_no_path retain_attached_hw_handler 0 1 1 "
				      "service-time 0 3 1 8:16 1 8:32 1 65:0 1");
	/* ALUA: groups ascending (optimized first), the handler named. */
	spec.group = group;
	spec.hw_handler = "alua";
	spec.queue_if_no_path = 0;
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), 0);
	assert_string_equal(t.params, "1 retain_attached_hw_handler 1 alua 2 1 "
				      "service-time 0 1 1 8:32 1 service-time 0 2 1 8:16 1 65:0 1");
	/* One path is a valid map (a volume whose other portal was down at attach). */
	spec.n = 1;
	spec.group = NULL;
	spec.hw_handler = "";
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), 0);
	assert_string_equal(t.params,
			    "1 retain_attached_hw_handler 0 1 1 service-time 0 1 1 8:16 1");
}

static void test_mpath_table_errors(void **state)
{
	const char *dup[] = {"8:16", "8:16"};
	const char *bad[] = {"sdb"};
	struct dmap_mpath_spec spec = {.paths = dup, .n = 2};
	struct dmap_target t = {.len = 42};

	(void)state;
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), -EINVAL);
	spec.n = 0;
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), -EINVAL);
	spec.n = 1;
	assert_int_equal(dmap_table_mpath(1000, &spec, &t), -EINVAL);
	assert_int_equal(dmap_table_mpath(1 << 30, NULL, &t), -EINVAL);
	spec.hw_handler = "al ua";
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), -EINVAL);
	spec.hw_handler = NULL;
	spec.paths = bad;
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), -EINVAL);
	spec.n = DMAP_MULTIPATH_MAX_PATHS + 1;
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &t), -E2BIG);
	assert_int_equal(t.len, 42); /* untouched */
}

static void test_mpath_equivalent(void **state)
{
	const char *paths[] = {"8:16", "8:32"};
	struct dmap_mpath_spec spec = {.paths = paths, .n = 2, .queue_if_no_path = 1};
	struct dmap_target want, have;

	(void)state;
	assert_int_equal(dmap_table_mpath(1 << 30, &spec, &want), 0);
	/* The kernel's echo: path args as "<repeat_count> <relative_throughput>", the
	 * handler it attached named, and queue_if_no_path gone after fail_if_no_path. */
	assert_int_equal(dmap_parse_table_line("0 2097152 multipath 1 retain_attached_hw_handler "
					       "1 alua 1 1 service-time 0 2 2 8:16 1 1 8:32 1 1",
					       &have),
			 0);
	assert_true(dmap_targets_equivalent(&want, 1, &have, 1));
	assert_int_equal(dmap_parse_table_line("0 2097152 multipath 2 queue_if_no_path "
					       "retain_attached_hw_handler 0 1 1 service-time 0 1 "
					       "2 8:16 1 1",
					       &have),
			 0);
	assert_false(dmap_targets_equivalent(&want, 1, &have, 1)); /* a path missing */
}

static void test_mpath_status(void **state)
{
	struct dmap_mpath_status st;

	(void)state;
	/* Two groups (ALUA), the second path of the first failed twice, I/O queued. */
	assert_int_equal(dmap_mpath_status_parse("2 1 0 0 2 1 A 0 2 2 8:16 A 0 0 1 8:32 F 2 0 1 "
						 "E 0 1 2 65:0 A 0 0 1 ",
						 &st),
			 0);
	assert_int_equal(st.queue_if_no_path, 1);
	assert_int_equal(st.n, 3);
	assert_string_equal(st.paths[0].devno, "8:16");
	assert_int_equal(st.paths[0].active, 1);
	assert_int_equal(st.paths[0].group, 0);
	assert_string_equal(st.paths[1].devno, "8:32");
	assert_int_equal(st.paths[1].active, 0);
	assert_int_equal(st.paths[1].fail_count, 2);
	assert_string_equal(st.paths[2].devno, "65:0");
	assert_int_equal(st.paths[2].group, 1);
	/* round-robin (no path info args) and no queueing */
	assert_int_equal(dmap_mpath_status_parse("2 0 0 0 1 1 A 0 1 0 8:16 A 0", &st), 0);
	assert_int_equal(st.queue_if_no_path, 0);
	assert_int_equal(st.n, 1);

	assert_int_equal(dmap_mpath_status_parse("", &st), -EINVAL);
	assert_int_equal(dmap_mpath_status_parse(NULL, &st), -EINVAL);
	assert_int_equal(dmap_mpath_status_parse("2 0 0 0 1 1 A 0 1 0 8:16 X 0", &st), -EINVAL);
	assert_int_equal(dmap_mpath_status_parse("2 0 0 0 1 1 A 0 2 0 8:16 A 0", &st), -EINVAL);
	assert_int_equal(dmap_mpath_status_parse("2 0 0 0 1 1 Q 0 1 0 8:16 A 0", &st), -EINVAL);
	assert_int_equal(dmap_mpath_status_parse("2 0 0 0 1 1 A 0 1 0 sdb A 0", &st), -EINVAL);
	assert_int_equal(dmap_mpath_status_parse("2 0 0 0 1 1 A 0 1 0 8:16 A 0 junk", &st),
			 -EINVAL);

	assert_int_equal(dmap_mpath_table_queueing("2 queue_if_no_path retain_attached_hw_handler "
						   "0 1 1 service-time 0 1 2 8:16 1 1"),
			 1);
	assert_int_equal(dmap_mpath_table_queueing("1 retain_attached_hw_handler 0 1 1 "
						   "service-time 0 1 2 8:16 1 1"),
			 0);
	assert_int_equal(dmap_mpath_table_queueing("x"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_uuid),
	    cmocka_unit_test(test_name_bad_keys),
	    cmocka_unit_test(test_name_lengths),
	    cmocka_unit_test(test_linear),
	    cmocka_unit_test(test_linear_errors),
	    cmocka_unit_test(test_multipath),
	    cmocka_unit_test(test_multipath_errors),
	    cmocka_unit_test(test_devno),
	    cmocka_unit_test(test_parse_line),
	    cmocka_unit_test(test_parse_line_errors),
	    cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_targets_check),
	    cmocka_unit_test(test_targets_size),
	    cmocka_unit_test(test_equivalent),
	    cmocka_unit_test(test_misc),
	    cmocka_unit_test(test_minor_range),
	    cmocka_unit_test(test_kernel_arg_errors),
	    cmocka_unit_test(test_init_without_dm),
	    cmocka_unit_test(test_owned),
	    cmocka_unit_test(test_mpath_table),
	    cmocka_unit_test(test_mpath_table_errors),
	    cmocka_unit_test(test_mpath_equivalent),
	    cmocka_unit_test(test_mpath_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
