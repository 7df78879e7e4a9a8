/* SPDX-License-Identifier: Apache-2.0 */
/* Create option parsing: generic keys, JSON types, every problem reported at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "attach/attach.h"
#include "attach/fence.h"
#include "attach/internal.h"

static int parse(const char *json, struct attach_opts *o, struct errlist *el)
{
	json_error_t jerr;
	json_t *j = json_loads(json, JSON_DECODE_ANY, &jerr);
	int r;

	assert_non_null(j);
	memset(el, 0, sizeof(*el));
	r = attach_opts_parse(j, o, el);
	json_decref(j);
	return r;
}

static void test_file_defaults(void **state)
{
	struct attach_opts o;
	struct errlist el;

	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\"}", &o, &el), 0);
	assert_ptr_equal(o.be, &be_file_ops);
	assert_string_equal(o.fs, "ext4");
	assert_int_equal(o.format_never, 0);
	assert_int_equal(o.readonly, 0);
	assert_string_equal(o.mount_options, "");
	attach_opts_done(&o);
}

static void test_backend_defaults_to_file(void **state)
{
	struct attach_opts o;
	struct errlist el;

	assert_int_equal(parse("{\"size\":\"64M\"}", &o, &el), 0);
	assert_ptr_equal(o.be, &be_file_ops);
	attach_opts_done(&o);
}

static void test_native_and_string_types(void **state)
{
	struct attach_opts o;
	struct errlist el;

	assert_int_equal(parse("{\"backend\":\"file\",\"size\":67108864,\"readonly\":\"true\","
			       "\"fs\":\"xfs\",\"format\":\"never\",\"mount_options\":\"noatime,discard\"}",
			       &o, &el),
			 0);
	assert_int_equal(o.readonly, 1);
	assert_string_equal(o.fs, "xfs");
	assert_int_equal(o.format_never, 1);
	assert_string_equal(o.mount_options, "noatime,discard");
	attach_opts_done(&o);
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"64M\",\"readonly\":false}", &o, &el), 0);
	assert_int_equal(o.readonly, 0);
	attach_opts_done(&o);
}

static void test_every_problem_reported(void **state)
{
	struct attach_opts o;
	struct errlist el;

	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"64M\",\"fs\":\"btrfs\","
			       "\"readonly\":\"maybe\",\"colour\":\"blue\",\"mount_options\":\"suid\"}",
			       &o, &el),
			 -EINVAL);
	assert_true(el.n >= 4);
	assert_non_null(strstr(el.msg, "fs:"));
	assert_non_null(strstr(el.msg, "readonly"));
	assert_non_null(strstr(el.msg, "unknown option 'colour'"));
	assert_non_null(strstr(el.msg, "'suid' is not allowed"));
}

static void test_unknown_backend(void **state)
{
	struct attach_opts o;
	struct errlist el;

	assert_int_equal(parse("{\"backend\":\"ceph\"}", &o, &el), -EINVAL);
	assert_non_null(strstr(el.msg, "unknown backend 'ceph'"));
	assert_int_equal(parse("{\"backend\":7}", &o, &el), -EINVAL);
	assert_non_null(strstr(el.msg, "backend: must be a string"));
}

static void test_opts_not_object(void **state)
{
	struct attach_opts o;
	struct errlist el;

	assert_int_equal(parse("[1,2]", &o, &el), -EINVAL);
	assert_non_null(strstr(el.msg, "Opts: must be a JSON object"));
}

static void test_null_opts_reports_missing(void **state)
{
	struct attach_opts o;
	struct errlist el = { 0 };

	/* Volman may send "Opts": null; the file backend then misses its size. */
	assert_int_equal(attach_opts_parse(NULL, &o, &el), -EINVAL);
	assert_true(el.n >= 1);
}

static void test_redaction(void **state)
{
	json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "backend", "iscsi", "chap_user", "u",
			      "chap_secret", "hunter2hunter2", "iqn", "iqn.2020-01.x:y");
	json_t *red = attach_opts_redacted(j);
	char *s = json_dumps(red, 0);

	assert_null(strstr(s, "hunter2"));
	assert_non_null(strstr(s, "REDACTED"));
	assert_non_null(strstr(s, "\"chap_user\": \"u\""));
	assert_non_null(strstr(s, "\"iqn\": \"iqn.2020-01.x:y\""));
	free(s);
	json_decref(red);
	json_decref(j);
	/* A misspelt or unknown key may hold a secret: its value is never shown. */
	j = json_pack("{s:s,s:s,s:{s:s},s:[s]}", "backend", "iscsi", "chap_secert", "hunter2",
		      "nested", "x", "hunter2", "portals", "127.0.0.1:3260");
	red = attach_opts_redacted(j);
	s = json_dumps(red, 0);
	assert_null(strstr(s, "hunter2"));
	assert_non_null(strstr(s, "\"chap_secert\": \"REDACTED\""));
	assert_non_null(strstr(s, "127.0.0.1:3260"));
	free(s);
	json_decref(red);
	json_decref(j);
}

static void test_json_coercion(void **state)
{
	uint64_t u;
	int b;
	json_t *v;

	v = json_real(3.0);
	assert_int_equal(attach_json_uint(v, 10, &u), 0);
	assert_int_equal(u, 3);
	json_decref(v);
	v = json_real(3.5);
	assert_int_equal(attach_json_uint(v, 10, &u), -EINVAL);
	json_decref(v);
	v = json_string("11");
	assert_int_equal(attach_json_uint(v, 10, &u), -ERANGE);
	json_decref(v);
	v = json_string("-1");
	assert_int_equal(attach_json_uint(v, 10, &u), -EINVAL);
	json_decref(v);
	v = json_string("no");
	assert_int_equal(attach_json_bool(v, &b), 0);
	assert_int_equal(b, 0);
	json_decref(v);
	v = json_integer(2);
	assert_int_equal(attach_json_bool(v, &b), -EINVAL);
	json_decref(v);
}

static void test_key_validation(void **state)
{
	char big[ATTACH_KEY_MAX + 2];

	assert_true(attach_key_is_valid("vol-1.a_b"));
	assert_false(attach_key_is_valid(""));
	assert_false(attach_key_is_valid(".."));
	assert_false(attach_key_is_valid("."));
	assert_false(attach_key_is_valid(".staging"));
	assert_false(attach_key_is_valid("a/b"));
	assert_false(attach_key_is_valid("a\\b"));
	assert_false(attach_key_is_valid("a b"));
	assert_false(attach_key_is_valid(NULL));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_false(attach_key_is_valid(big));
	big[ATTACH_KEY_MAX] = 0;
	assert_true(attach_key_is_valid(big));
}

static void test_fencing_and_takeover(void **state)
{
	struct attach_opts o;
	struct errlist el;

	/* defaults: auto, no takeover */
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\"}", &o, &el), 0);
	assert_int_equal(o.fencing, ATTACH_FENCING_AUTO);
	assert_int_equal(o.takeover, 0);
	attach_opts_done(&o);
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\",\"fencing\":\"required\","
			       "\"takeover\":true}",
			       &o, &el),
			 0);
	assert_int_equal(o.fencing, ATTACH_FENCING_REQUIRED);
	assert_int_equal(o.takeover, 1);
	attach_opts_done(&o);
	/* Volman passes strings */
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\",\"fencing\":\"off\","
			       "\"takeover\":\"false\"}",
			       &o, &el),
			 0);
	assert_int_equal(o.fencing, ATTACH_FENCING_OFF);
	assert_int_equal(o.takeover, 0);
	attach_opts_done(&o);
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\",\"fencing\":\"auto\"}", &o, &el), 0);
	assert_int_equal(o.fencing, ATTACH_FENCING_AUTO);
	attach_opts_done(&o);
	/* both wrong: both reported, each saying what is allowed */
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\",\"fencing\":\"yes\","
			       "\"takeover\":\"now\"}",
			       &o, &el),
			 -EINVAL);
	assert_int_equal(el.n, 2);
	assert_non_null(strstr(el.msg, "fencing: must be \"auto\" (the default"));
	assert_non_null(strstr(el.msg, "\"required\" (refuse"));
	assert_non_null(strstr(el.msg, "\"off\" (register nothing)"));
	assert_non_null(strstr(el.msg, "takeover: must be true"));
	/* the old spelling is not accepted */
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\",\"fencing\":\"best-effort\"}", &o, &el),
			 -EINVAL);
	assert_int_equal(parse("{\"backend\":\"file\",\"size\":\"1G\",\"fencing\":true}", &o, &el),
			 -EINVAL);
	assert_non_null(strstr(el.msg, "fencing: must be"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_defaults),
		cmocka_unit_test(test_backend_defaults_to_file),
		cmocka_unit_test(test_native_and_string_types),
		cmocka_unit_test(test_every_problem_reported),
		cmocka_unit_test(test_unknown_backend),
		cmocka_unit_test(test_opts_not_object),
		cmocka_unit_test(test_null_opts_reports_missing),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_json_coercion),
		cmocka_unit_test(test_key_validation),
		cmocka_unit_test(test_fencing_and_takeover),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
