/* SPDX-License-Identifier: Apache-2.0 */
/* File backend options: size strings and numbers, path rules, default path, describe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backends/file/file.h"
#include "backends/file/internal.h"

/* Parse a JSON opts text; returns parse()'s result, the cfg in *cfg (or NULL). */
static int parse(const char *json, void **cfg, struct errlist *el)
{
	json_error_t jerr;
	json_t *j = json_loads(json, JSON_ALLOW_NUL, &jerr);
	int r;

	if (!j)
		fail_msg("bad test JSON %s: %s", json, jerr.text);
	memset(el, 0, sizeof(*el));
	*cfg = NULL;
	r = be_file_ops.parse(j, cfg, el);
	json_decref(j);
	return r;
}

static void expect_error(const char *json, const char *needle)
{
	struct errlist el;
	void *cfg = (void *)0x1;

	if (parse(json, &cfg, &el) != -EINVAL)
		fail_msg("%s was accepted", json);
	assert_null(cfg); /* ret_cfg written only on success */
	if (!strstr(el.msg, needle))
		fail_msg("%s: message '%s' lacks '%s'", json, el.msg, needle);
}

static uint64_t size_of(const char *json)
{
	struct errlist el;
	void *cfg;
	uint64_t s;

	if (parse(json, &cfg, &el) != 0)
		fail_msg("%s refused: %s", json, el.msg);
	s = ((struct be_file_cfg *)cfg)->size;
	be_file_ops.free_cfg(cfg);
	return s;
}

static void test_size_forms(void **state)
{
	assert_int_equal(size_of("{\"size\":\"1G\"}"), 1ULL << 30);
	assert_int_equal(size_of("{\"size\":\"1g\"}"), 1ULL << 30);
	assert_int_equal(size_of("{\"size\":\"1GiB\"}"), 1ULL << 30);
	assert_int_equal(size_of("{\"size\":\"512M\"}"), 512ULL << 20);
	assert_int_equal(size_of("{\"size\":\"512MiB\"}"), 512ULL << 20);
	assert_int_equal(size_of("{\"size\":\"16384K\"}"), 16ULL << 20);
	assert_int_equal(size_of("{\"size\":\"16384KiB\"}"), 16ULL << 20);
	assert_int_equal(size_of("{\"size\":\"2T\"}"), 2ULL << 40);
	assert_int_equal(size_of("{\"size\":\"64TiB\"}"), 64ULL << 40);
	assert_int_equal(size_of("{\"size\":\"10737418240\"}"), 10737418240ULL);
	assert_int_equal(size_of("{\"size\":10737418240}"), 10737418240ULL);
	assert_int_equal(size_of("{\"size\":16777216}"), 16ULL << 20); /* exactly the minimum */
	assert_int_equal(size_of("{\"size\":\"16M\"}"), 16ULL << 20);
	assert_int_equal(size_of("{\"size\":\"0001G\"}"), 1ULL << 30);
}

static void test_size_errors(void **state)
{
	expect_error("{\"size\":\"\"}", "size: '' is empty");
	expect_error("{\"size\":\"abc\"}", "must start with a digit");
	expect_error("{\"size\":\"-1G\"}", "must start with a digit");
	expect_error("{\"size\":\"+1G\"}", "must start with a digit");
	expect_error("{\"size\":\" 1G\"}", "must start with a digit");
	expect_error("{\"size\":\"1G \"}", "unknown unit");
	expect_error("{\"size\":\"1X\"}", "unknown unit");
	expect_error("{\"size\":\"1Gi\"}", "unknown unit");
	expect_error("{\"size\":\"1P\"}", "unknown unit");
	expect_error("{\"size\":\"G\"}", "must start with a digit");
	expect_error("{\"size\":\"1GB\"}", "ambiguous unit");
	expect_error("{\"size\":\"1mb\"}", "ambiguous unit");
	expect_error("{\"size\":\"1.5G\"}", "whole number");
	expect_error("{\"size\":\"99999999999999999999\"}", "too large");
	expect_error("{\"size\":\"16777216T\"}", "too large"); /* overflows in the shift */
	expect_error("{\"size\":\"0\"}", "greater than 0");
	expect_error("{\"size\":\"0G\"}", "greater than 0");
	expect_error("{\"size\":\"16777217\"}", "multiple of 512");
	expect_error("{\"size\":\"1000\"}", "multiple of 512");
	expect_error("{\"size\":\"1M\"}", "below the minimum of 16 MiB");
	expect_error("{\"size\":16776704}", "below the minimum");
	expect_error("{\"size\":\"65T\"}", "above the maximum of 64 TiB");
	expect_error("{\"size\":\"1000000G\"}", "above the maximum");
	expect_error("{\"size\":0}", "greater than 0");
	expect_error("{\"size\":-1073741824}", "greater than 0");
	expect_error("{\"size\":1.5}", "must be a string like");
	expect_error("{\"size\":1073741824.0}", "must be a string like");
	expect_error("{\"size\":true}", "must be a string like");
	expect_error("{\"size\":[1]}", "must be a string like");
	expect_error("{\"size\":{}}", "must be a string like");
	expect_error("{\"size\":\"1G\\u0000x\"}", "NUL");
}

static void test_size_missing(void **state)
{
	expect_error("{}", "size: missing");
	expect_error("{\"size\":null}", "size: missing");
	expect_error("{\"backend\":\"file\",\"fs\":\"xfs\"}", "size: missing");
}

static void test_size_helpers(void **state)
{
	const char *why = NULL;
	uint64_t b = 7;

	assert_int_equal(be_file_size_parse("4K", &b, &why), 0);
	assert_int_equal(b, 4096);
	b = 7;
	assert_int_equal(be_file_size_parse("18446744073709551616", &b, &why), -ERANGE);
	assert_int_equal(be_file_size_parse("17179869184G", &b, &why), -ERANGE);
	assert_int_equal(be_file_size_parse(NULL, &b, NULL), -EINVAL);
	assert_int_equal(b, 7);
	assert_int_equal(be_file_size_parse("18446744073709551615", &b, NULL), 0);
	assert_int_equal(be_file_size_check(b, &why), -EINVAL);
	assert_int_equal(be_file_size_check(BE_FILE_SIZE_MAX, &why), 0);
	assert_int_equal(be_file_size_check(BE_FILE_SIZE_MAX + 512, &why), -EINVAL);
	assert_int_equal(be_file_size_check(BE_FILE_SIZE_MIN - 512, NULL), -EINVAL);
}

static void test_path_ok(void **state)
{
	struct errlist el;
	void *cfg;

	assert_int_equal(parse("{\"path\":\"vol.img\"}", &cfg, &el), 0);
	assert_string_equal(be_file_cfg_path(cfg), ""); /* resolved against file.dir later */
	assert_string_equal(((struct be_file_cfg *)cfg)->rel, "vol.img");
	assert_int_equal(((struct be_file_cfg *)cfg)->size, 0); /* size from the file */
	be_file_ops.free_cfg(cfg);
	/* normalised */
	assert_int_equal(parse("{\"path\":\"sub//./vol a.img\",\"size\":\"1G\"}", &cfg, &el), 0);
	assert_string_equal(((struct be_file_cfg *)cfg)->rel, "sub/vol a.img");
	be_file_ops.free_cfg(cfg);
	assert_int_equal(parse("{\"path\":\"./x.img\",\"size\":\"1G\"}", &cfg, &el), 0);
	assert_string_equal(((struct be_file_cfg *)cfg)->rel, "x.img");
	be_file_ops.free_cfg(cfg);
	assert_int_equal(parse("{\"path\":\"..x/y..\",\"size\":\"1G\"}", &cfg, &el), 0);
	be_file_ops.free_cfg(cfg);
}

static void test_path_errors(void **state)
{
	char json[2200];

	expect_error("{\"path\":\"\",\"size\":\"1G\"}", "path: must not be empty");
	/* confined beneath file.dir: no absolute path, no ".." */
	expect_error("{\"path\":\"/var/lib/x/vol.img\",\"size\":\"1G\"}",
		     "is absolute; give a path relative to the agent's file.dir");
	expect_error("{\"path\":\"/a/../b\",\"size\":\"1G\"}", "is absolute");
	expect_error("{\"path\":\"/proc/self/mem\",\"size\":\"1G\"}", "is absolute");
	expect_error("{\"path\":\"//dev//sda\"}", "is absolute");
	expect_error("{\"path\":\"../b\",\"size\":\"1G\"}", "'..'");
	expect_error("{\"path\":\"a/../../etc/shadow\",\"size\":\"1G\"}", "beneath file.dir");
	expect_error("{\"path\":\"a/..\",\"size\":\"1G\"}", "'..'");
	expect_error("{\"path\":\"/\",\"size\":\"1G\"}", "names a directory");
	expect_error("{\"path\":\".\",\"size\":\"1G\"}", "names a directory");
	expect_error("{\"path\":\"a/.\",\"size\":\"1G\"}", "names a directory");
	expect_error("{\"path\":\"./.\",\"size\":\"1G\"}", "names a directory");
	expect_error("{\"path\":\"lib/\",\"size\":\"1G\"}", "names a directory");
	expect_error("{\"path\":\"a\\nb\",\"size\":\"1G\"}", "control characters");
	expect_error("{\"path\":\"a\\tb\",\"size\":\"1G\"}", "control characters");
	expect_error("{\"path\":\"a\\u0000b\",\"size\":\"1G\"}", "NUL");
	expect_error("{\"path\":\" a\",\"size\":\"1G\"}", "space");
	expect_error("{\"path\":\"a \",\"size\":\"1G\"}", "space");
	expect_error("{\"path\":42,\"size\":\"1G\"}", "path: must be a string");
	expect_error("{\"path\":[\"a\"],\"size\":\"1G\"}", "path: must be a string");
	snprintf(json, sizeof(json), "{\"path\":\"%01100d\",\"size\":\"1G\"}", 0);
	expect_error(json, "longer than");
}

static void test_every_problem_reported(void **state)
{
	struct errlist el;
	void *cfg;

	assert_int_equal(parse("{\"size\":\"1X\",\"path\":\"/a/../b\"}", &cfg, &el), -EINVAL);
	assert_int_equal(el.n, 2);
	assert_non_null(strstr(el.msg, "size:"));
	assert_non_null(strstr(el.msg, "path:"));
	/* parse tolerates opts it does not own (attach/ checks unknown keys) */
	assert_int_equal(parse("{\"size\":\"1G\",\"fs\":\"xfs\",\"readonly\":true}", &cfg, &el), 0);
	be_file_ops.free_cfg(cfg);
}

static void test_default_path(void **state)
{
	struct errlist el;
	void *cfg;
	char dir[5000];

	assert_int_equal(parse("{\"size\":\"1G\"}", &cfg, &el), 0);
	assert_string_equal(be_file_cfg_path(cfg), "");
	assert_int_equal(be_file_set_default_path(cfg, "relative", "vol1"), -EINVAL);
	assert_int_equal(be_file_set_default_path(cfg, "", "vol1"), -EINVAL);
	assert_int_equal(be_file_set_default_path(cfg, NULL, "vol1"), -EINVAL);
	assert_int_equal(be_file_set_default_path(cfg, "/var/vcap/data/attachd", "a/b"), -EINVAL);
	assert_int_equal(be_file_set_default_path(cfg, "/var/vcap/data/attachd", ".."), -EINVAL);
	assert_int_equal(be_file_set_default_path(cfg, "/var/vcap/data/attachd", ""), -EINVAL);
	assert_int_equal(be_file_set_default_path(cfg, "/var/vcap/data/attachd", NULL), -EINVAL);
	assert_string_equal(be_file_cfg_path(cfg), ""); /* failures change nothing */
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = 0;
	assert_int_equal(be_file_set_default_path(cfg, dir, "vol1"), -ENAMETOOLONG);
	assert_int_equal(be_file_set_default_path(cfg, "/var/vcap/data/attachd/", "vol-1_x.y"), 0);
	assert_string_equal(be_file_cfg_path(cfg), "/var/vcap/data/attachd/vol-1_x.y.img");
	/* idempotent */
	assert_int_equal(be_file_set_default_path(cfg, "/var/vcap/data/attachd/", "vol-1_x.y"), 0);
	assert_string_equal(be_file_cfg_path(cfg), "/var/vcap/data/attachd/vol-1_x.y.img");
	be_file_ops.free_cfg(cfg);

	assert_int_equal(parse("{\"size\":\"1G\",\"path\":\"sub/v.img\"}", &cfg, &el), 0);
	assert_int_equal(be_file_set_default_path(cfg, "/srv/files", "ignored-key"), 0);
	assert_string_equal(be_file_cfg_path(cfg), "/srv/files/sub/v.img");
	be_file_ops.free_cfg(cfg);

	/* the path given is beneath file.dir, never elsewhere */
	assert_int_equal(parse("{\"size\":\"1G\",\"path\":\"v.img\"}", &cfg, &el), 0);
	assert_int_equal(be_file_set_default_path(cfg, "relative-dir", "k"), -EINVAL);
	assert_string_equal(be_file_cfg_path(cfg), "");
	be_file_ops.free_cfg(cfg);

	assert_int_equal(parse("{\"size\":\"1G\"}", &cfg, &el), 0);
	assert_int_equal(be_file_set_default_path(cfg, "/", "k"), 0);
	assert_string_equal(be_file_cfg_path(cfg), "/k.img");
	be_file_ops.free_cfg(cfg);
	assert_int_equal(be_file_set_default_path(NULL, "/x", "k"), -EINVAL);
}

static void test_describe(void **state)
{
	struct errlist el;
	char buf[128], tiny[8];
	void *cfg;

	assert_int_equal(parse("{\"size\":\"1G\"}", &cfg, &el), 0);
	strcpy(buf, "untouched");
	assert_int_equal(be_file_ops.describe(cfg, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(buf, "untouched");
	assert_int_equal(be_file_set_default_path(cfg, "/files", "vol1"), 0);
	assert_int_equal(be_file_ops.describe(cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "file:vol1.img");
	assert_int_equal(be_file_ops.describe(cfg, tiny, sizeof(tiny)), -ENOBUFS);
	be_file_ops.free_cfg(cfg);
	/* a given path: known at Create already, the same once resolved */
	assert_int_equal(parse("{\"size\":\"1G\",\"path\":\"./d//x.img\"}", &cfg, &el), 0);
	assert_int_equal(be_file_ops.describe(cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "file:d/x.img");
	assert_int_equal(be_file_set_default_path(cfg, "/files", "vol1"), 0);
	assert_int_equal(be_file_ops.describe(cfg, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "file:d/x.img");
	be_file_ops.free_cfg(cfg);
	assert_int_equal(be_file_ops.describe(NULL, buf, sizeof(buf)), -EINVAL);
}

static void test_ops_table(void **state)
{
	size_t n = 0;

	assert_string_equal(be_file_ops.name, "file");
	for (; be_file_ops.keys[n]; n++)
		assert_true(streq(be_file_ops.keys[n], "size") || streq(be_file_ops.keys[n], "path"));
	assert_int_equal(n, 2);
	assert_null(be_file_ops.secret_keys[0]);
	assert_null(be_file_ops.probe);
	assert_non_null(be_file_ops.connect);
	assert_non_null(be_file_ops.find_device);
	assert_non_null(be_file_ops.identify);
	assert_non_null(be_file_ops.disconnect);
	assert_ptr_equal(backend_find("file"), &be_file_ops);
}

static void test_normalize(void **state)
{
	char out[32];

	assert_int_equal(be_file_path_normalize("/a//b/./c", out, sizeof(out)), 0);
	assert_string_equal(out, "/a/b/c");
	assert_int_equal(be_file_path_normalize("./a/", out, sizeof(out)), 0);
	assert_string_equal(out, "a");
	assert_int_equal(be_file_path_normalize("a/../b", out, sizeof(out)), -EINVAL);
	assert_int_equal(be_file_path_normalize("/", out, sizeof(out)), -EINVAL);
	assert_int_equal(be_file_path_normalize("", out, sizeof(out)), -EINVAL);
	assert_int_equal(be_file_path_normalize("/abcdef", out, 7), -ENAMETOOLONG);
	assert_int_equal(be_file_path_normalize("/abcdef", out, 8), 0);
	assert_int_equal(be_file_path_normalize("/a/b", out, 4), -ENAMETOOLONG);
}

static void test_loop_name(void **state)
{
	unsigned nr = 99;

	assert_int_equal(be_file_loop_name_parse("loop0", &nr), 0);
	assert_int_equal(nr, 0);
	assert_int_equal(be_file_loop_name_parse("loop123", &nr), 0);
	assert_int_equal(nr, 123);
	assert_int_equal(be_file_loop_name_parse("loop", &nr), -EINVAL);
	assert_int_equal(be_file_loop_name_parse("loop01", &nr), -EINVAL);
	assert_int_equal(be_file_loop_name_parse("loop-control", &nr), -EINVAL);
	assert_int_equal(be_file_loop_name_parse("loop1p1", &nr), -EINVAL);
	assert_int_equal(be_file_loop_name_parse("sda", &nr), -EINVAL);
	assert_int_equal(be_file_loop_name_parse("loop123456789", &nr), -EINVAL);
	assert_int_equal(nr, 123);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_forms),
		cmocka_unit_test(test_size_errors),
		cmocka_unit_test(test_size_missing),
		cmocka_unit_test(test_size_helpers),
		cmocka_unit_test(test_path_ok),
		cmocka_unit_test(test_path_errors),
		cmocka_unit_test(test_every_problem_reported),
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_ops_table),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_loop_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
