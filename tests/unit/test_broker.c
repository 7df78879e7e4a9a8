/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broker/ pure parts: sizes and 8 GiB rounding, provision/update/bind parameters (every
 * problem named, nothing returned on refusal), attachd volume keys and PowerFlex names
 * from instance ids, basic auth and the API version header, the config's plan validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/osb.h"

#define G (1ull << 30)

static void test_size_parse(void **state)
{
	const char *why = "";
	uint64_t v = 7;

	assert_int_equal(broker_size_parse("20G", &v, &why), 0);
	assert_true(v == 20 * G);
	assert_int_equal(broker_size_parse("20GiB", &v, &why), 0);
	assert_true(v == 20 * G);
	assert_int_equal(broker_size_parse("512m", &v, &why), 0);
	assert_true(v == 512ull << 20);
	assert_int_equal(broker_size_parse("1T", &v, &why), 0);
	assert_true(v == 1ull << 40);
	assert_int_equal(broker_size_parse("4096", &v, &why), 0);
	assert_true(v == 4096);

	v = 7;
	assert_int_equal(broker_size_parse("20GB", &v, &why), -EINVAL);
	assert_string_equal(why, "has an ambiguous unit: use G or GiB (binary, 2^30)");
	assert_int_equal(broker_size_parse("1.5G", &v, &why), -EINVAL);
	assert_string_equal(why, "must be a whole number (write 1536M, not 1.5G)");
	assert_int_equal(broker_size_parse("0G", &v, &why), -EINVAL);
	assert_string_equal(why, "must be greater than 0");
	assert_int_equal(broker_size_parse("G", &v, &why), -EINVAL);
	assert_int_equal(broker_size_parse("", &v, &why), -EINVAL);
	assert_string_equal(why, "is empty");
	assert_int_equal(broker_size_parse("20X", &v, &why), -EINVAL);
	assert_string_equal(why, "has an unknown unit (use K, M, G, T or KiB, MiB, GiB, TiB)");
	assert_int_equal(broker_size_parse("99999999999T", &v, &why), -ERANGE);
	assert_int_equal(broker_size_parse("99999999999999999999999", &v, &why), -ERANGE);
	assert_true(v == 7);
}

static void test_size_format_and_rounding(void **state)
{
	char b[32];

	broker_size_format(24 * G, b, sizeof(b));
	assert_string_equal(b, "24G");
	broker_size_format(1536ull << 20, b, sizeof(b));
	assert_string_equal(b, "1536M");
	broker_size_format(2ull << 40, b, sizeof(b));
	assert_string_equal(b, "2T");
	broker_size_format(1000, b, sizeof(b));
	assert_string_equal(b, "1000");

	assert_true(broker_round_up(20 * G, BROKER_SIO_UNIT) == 24 * G);
	assert_true(broker_round_up(24 * G, BROKER_SIO_UNIT) == 24 * G);
	assert_true(broker_round_up(1, BROKER_SIO_UNIT) == 8 * G);
	assert_true(broker_round_up(UINT64_MAX - 5, BROKER_SIO_UNIT) == UINT64_MAX);
}

static struct broker_plan sio_plan(void)
{
	struct broker_plan p = {.name = "small",
				.backend = BROKER_BE_SCALEIO,
				.fs = "ext4",
				.size = 8 * G,
				.max_size = 64 * G};

	return p;
}

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	assert_non_null(j);
	return j;
}

static void test_provision_params(void **state)
{
	struct broker_plan p = sio_plan(),
			   pool = {.name = "lun", .backend = BROKER_BE_ISCSI, .fs = "xfs"};
	struct broker_vol_params v;
	struct errlist el = {.n = 0};
	json_t *j;

	/* Defaults. */
	assert_int_equal(broker_provision_params(&p, NULL, &v, &el), 0);
	assert_true(v.size == 8 * G);
	assert_string_equal(v.fs, "ext4");
	assert_string_equal(v.note, "");

	/* Rounded up, and said so. */
	j = J("{\"size\":\"20G\",\"fs\":\"xfs\"}");
	assert_int_equal(broker_provision_params(&p, j, &v, &el), 0);
	json_decref(j);
	assert_true(v.size == 24 * G);
	assert_true(v.asked == 20 * G);
	assert_string_equal(v.fs, "xfs");
	assert_string_equal(v.note, "size 20G rounded up to 24G: PowerFlex allocates in 8G units");

	/* Every problem named, nothing written. */
	memset(&v, 0x5a, sizeof(v));
	j = J("{\"size\":\"100G\",\"fs\":\"btrfs\",\"color\":1}");
	assert_int_equal(broker_provision_params(&p, j, &v, &el), -EINVAL);
	json_decref(j);
	assert_int_equal(el.n, 3);
	assert_non_null(strstr(el.msg, "unknown parameter 'color' (allowed: size, fs)"));
	assert_non_null(
	    strstr(el.msg, "size: '100G' is larger than plan small allows (at most 64G)"));
	assert_non_null(strstr(el.msg, "fs: 'btrfs' is not supported (use \"ext4\" or \"xfs\")"));
	assert_int_equal(((unsigned char *)&v)[0], 0x5a);

	el = (struct errlist){.n = 0};
	j = J("{\"size\":20}");
	assert_int_equal(broker_provision_params(&p, j, &v, &el), -EINVAL);
	json_decref(j);
	assert_string_equal(el.msg, "size: must be a string such as \"20G\", not a number");

	el = (struct errlist){.n = 0};
	j = J("[1]");
	assert_int_equal(broker_provision_params(&p, j, &v, &el), -EINVAL);
	json_decref(j);
	assert_string_equal(el.msg, "parameters: must be a JSON object, not an array");

	/* Pool plans: the LUN's size is what it is. */
	el = (struct errlist){.n = 0};
	j = J("{\"size\":\"1G\"}");
	assert_int_equal(broker_provision_params(&pool, j, &v, &el), -EINVAL);
	json_decref(j);
	assert_string_equal(
	    el.msg, "size: plan lun hands out pre-created LUNs; their size cannot be chosen");
	j = J("{\"fs\":\"ext4\"}");
	assert_int_equal(broker_provision_params(&pool, j, &v, &el), 0);
	json_decref(j);
	assert_string_equal(v.fs, "ext4");
	assert_true(v.size == 0);
}

static void test_update_params(void **state)
{
	struct broker_plan p = sio_plan(), f = {.name = "dev", .backend = BROKER_BE_FILE};
	struct broker_vol_params v;
	struct errlist el = {.n = 0};
	json_t *j;

	j = J("{\"size\":\"40G\"}");
	assert_int_equal(broker_update_params(&p, 24 * G, "ext4", j, &v, &el), 0);
	json_decref(j);
	assert_true(v.size == 40 * G);

	j = J("{\"size\":\"16G\"}");
	assert_int_equal(broker_update_params(&p, 24 * G, "ext4", j, &v, &el), -EINVAL);
	json_decref(j);
	assert_string_equal(
	    el.msg, "size: 16G is smaller than the volume (24G): shrinking is not supported");

	el = (struct errlist){.n = 0};
	j = J("{\"fs\":\"xfs\"}");
	assert_int_equal(broker_update_params(&p, 24 * G, "ext4", j, &v, &el), -EINVAL);
	json_decref(j);
	assert_string_equal(el.msg,
			    "fs: the filesystem of an existing volume cannot change (it is ext4)");

	el = (struct errlist){.n = 0};
	j = J("{\"size\":\"2G\"}");
	assert_int_equal(broker_update_params(&f, G, "ext4", j, &v, &el), -EINVAL);
	json_decref(j);
	assert_string_equal(el.msg, "size: volumes of plan dev (backend file) cannot be resized");

	/* Nothing asked: unchanged. */
	assert_int_equal(broker_update_params(&p, 24 * G, "ext4", NULL, &v, &el), 0);
	assert_true(v.size == 24 * G);
}

static void test_bind_params(void **state)
{
	struct broker_bind_params b;
	struct errlist el = {.n = 0};
	json_t *j;

	assert_int_equal(broker_bind_params("/var/vcap/data", "inst-1", NULL, &b, &el), 0);
	assert_string_equal(b.container_dir, "/var/vcap/data/inst-1");
	assert_int_equal(b.readonly, 0);

	j = J("{\"mount\":\"/data/x\",\"readonly\":true}");
	assert_int_equal(broker_bind_params("/var/vcap/data", "i", j, &b, &el), 0);
	json_decref(j);
	assert_string_equal(b.container_dir, "/data/x");
	assert_int_equal(b.readonly, 1);

	const char *bad[] = {"\"rel/x\"", "\"/\"", "\"/a/../b\"", "\"/a/..\"", "\"/a/./b\"", "5"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char s[64];

		el = (struct errlist){.n = 0};
		snprintf(s, sizeof(s), "{\"mount\":%s}", bad[i]);
		j = J(s);
		assert_int_equal(broker_bind_params("/var/vcap/data", "i", j, &b, &el), -EINVAL);
		json_decref(j);
		assert_non_null(strstr(el.msg, "mount: "));
	}
	el = (struct errlist){.n = 0};
	j = J("{\"readonly\":\"yes\",\"chap_secret\":\"x\"}");
	assert_int_equal(broker_bind_params("/var/vcap/data", "i", j, &b, &el), -EINVAL);
	json_decref(j);
	assert_int_equal(el.n, 2);
	assert_non_null(
	    strstr(el.msg, "unknown parameter 'chap_secret' (allowed: mount, readonly)"));
	assert_non_null(strstr(el.msg, "readonly: must be true or false, not a string"));
}

static void test_names(void **state)
{
	char k[128], k2[128], n[32], n2[32];

	assert_int_equal(broker_volume_key("7f3c1c2e-0000-4000-8000-000000000001", k, sizeof(k)),
			 0);
	assert_string_equal(k, "7f3c1c2e-0000-4000-8000-000000000001");
	/* Not a valid attachd key: a stable hash of it. */
	assert_int_equal(broker_volume_key("with space/slash", k, sizeof(k)), 0);
	assert_int_equal(broker_volume_key("with space/slash", k2, sizeof(k2)), 0);
	assert_string_equal(k, k2);
	assert_int_equal(strlen(k), 36);
	assert_memory_equal(k, "osb-", 4);
	assert_int_equal(broker_volume_key(".hidden", k2, sizeof(k2)), 0);
	assert_memory_equal(k2, "osb-", 4);
	assert_string_not_equal(k, k2);

	broker_sio_volume_name("7f3c1c2e-0000-4000-8000-000000000001", n, sizeof(n));
	broker_sio_volume_name("7f3c1c2e-0000-4000-8000-000000000002", n2, sizeof(n2));
	assert_int_equal(strlen(n), 30); /* PowerFlex names: at most 31 characters */
	assert_memory_equal(n, "osb-", 4);
	assert_string_not_equal(n, n2);
}

static void test_auth(void **state)
{
	/* cc:s3cret / cc:s3cre / cc:s3cretx / cx:s3cret */
	assert_int_equal(broker_auth_check("Basic Y2M6czNjcmV0", "cc", "s3cret"), 0);
	assert_int_equal(broker_auth_check("basic  Y2M6czNjcmV0", "cc", "s3cret"), 0);
	assert_int_equal(broker_auth_check("Basic Y2M6czNjcmU=", "cc", "s3cret"), -EACCES);
	assert_int_equal(broker_auth_check("Basic Y2M6czNjcmV0eA==", "cc", "s3cret"), -EACCES);
	assert_int_equal(broker_auth_check("Basic Y3g6czNjcmV0", "cc", "s3cret"), -EACCES);
	assert_int_equal(broker_auth_check("Bearer Y2M6czNjcmV0", "cc", "s3cret"), -EACCES);
	assert_int_equal(broker_auth_check("Basic !!!!", "cc", "s3cret"), -EACCES);
	assert_int_equal(broker_auth_check("Basic Y2M=", "cc", "s3cret"), -EACCES); /* no ':' */
	assert_int_equal(broker_auth_check(NULL, "cc", "s3cret"), -EACCES);
	assert_true(broker_secret_equal("abc", "abc"));
	assert_false(broker_secret_equal("abd", "abc"));
	assert_false(broker_secret_equal("ab", "abc"));
	assert_false(broker_secret_equal("abcd", "abc"));
	assert_false(broker_secret_equal("", "abc"));

	unsigned a, b;

	assert_int_equal(broker_api_version_parse("2.17", &a, &b), 0);
	assert_int_equal(a, 2);
	assert_int_equal(b, 17);
	assert_int_equal(broker_api_version_parse("2.", &a, &b), -EINVAL);
	assert_int_equal(broker_api_version_parse("2.13.1", &a, &b), -EINVAL);
	assert_int_equal(broker_api_version_parse("v2.13", &a, &b), -EINVAL);
	assert_int_equal(broker_api_version_parse("", &a, &b), -EINVAL);
}

static char pwfile[] = "/tmp/test_broker_pw.XXXXXX";

static int config_with(const char *services, struct broker_config *c, struct errlist *el)
{
	char buf[4096];
	json_t *j;
	int r;

	snprintf(buf, sizeof(buf),
		 "{\"username\":\"cc\",\"password_file\":\"%s\",\"database\":\"sqlite:/x.db\","
		 "\"scaleio\":{\"gateway\":\"https://gw\",\"username\":\"a\",\"password_file\":"
		 "\"%s\",\"system_id\":\"14DBBF5617523654\"},\"services\":%s}",
		 pwfile, pwfile, services);
	j = json_loads(buf, 0, NULL);
	assert_non_null(j);
	r = broker_config_parse(j, c, el);
	json_decref(j);
	return r;
}

static void test_config_plans(void **state)
{
	struct broker_config c;
	struct errlist el = {.n = 0};
	int fd = mkstemp(pwfile);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "pw\n", 3), 3);
	close(fd);

	assert_int_equal(
	    config_with(
		"[{\"name\":\"scaleio\",\"plans\":[{\"name\":\"s\",\"backend\":\"scaleio\","
		"\"storage_pool_id\":\"e65f9c2700000000\",\"size\":\"20G\"},"
		"{\"name\":\"l\",\"backend\":\"iscsi\",\"options\":{\"portal\":\"10.0.0.5\","
		"\"iqn\":\"iqn.2003-01.org.x:t\"},\"items\":[{\"lun\":1},{\"lun\":2}]}]}]",
		&c, &el),
	    0);
	assert_int_equal(c.n_plans, 2);
	assert_string_equal(c.plans[0].id, "attachd-scaleio-s");
	assert_true(c.plans[0].size == 24 * G); /* the default size rounded up too */
	assert_string_equal(c.password, "pw");
	assert_string_equal(c.sio_system_id, "14dbbf5617523654");
	assert_int_equal(c.services[0].plan_updateable, 1);
	assert_int_equal(c.plans[1].n_items, 2);
	assert_string_equal(c.plans[1].keys[1], "iscsi:iqn.2003-01.org.x:t:2");
	broker_config_done(&c);

	/* Every problem, named with its place. */
	assert_int_equal(
	    config_with(
		"[{\"name\":\"x\",\"plans\":[{\"name\":\"s\",\"backend\":\"scaleio\","
		"\"size\":\"8G\",\"provisioning\":\"fat\",\"max_size\":\"20G\"},"
		"{\"name\":\"l\",\"backend\":\"iscsi\",\"size\":\"1G\",\"options\":"
		"{\"iqn\":\"iqn.2003-01.org.x:t\",\"chap_secret\":\"x\"},\"items\":[{\"lun\":1},"
		"{\"lun\":1,\"color\":2}]},{\"name\":\"f\",\"backend\":\"tape\"}]}]",
		&c, &el),
	    -EINVAL);
	const char *want[] = {
	    "services[0].plans[0].: a scaleio plan needs storage_pool_id, or protection_domain "
	    "and storage_pool (names)",
	    "services[0].plans[0].provisioning: must be \"thin\" or \"thick\"",
	    "services[0].plans[0].max_size: must be a multiple of 8G",
	    "services[0].plans[1].size: not a setting of iscsi plans",
	    "services[0].plans[1].items[0]: give chap_secret_file (a path), not chap_secret",
	    "services[0].plans[1].items[1]: 'color' is not a iscsi option of attachd",
	    "services[0].plans[2].backend: 'tape' is not one of scaleio, iscsi, nvme, file",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(el.msg, want[i]))
			fail_msg("missing '%s' in: %s", want[i], el.msg);

	/* Missing basics. */
	el = (struct errlist){.n = 0};
	json_t *j = json_loads("{\"services\":[],\"colour\":1}", 0, NULL);

	assert_int_equal(broker_config_parse(j, &c, &el), -EINVAL);
	json_decref(j);
	assert_non_null(strstr(el.msg, "unknown key 'colour'"));
	assert_non_null(strstr(el.msg, "username: required"));
	assert_non_null(strstr(el.msg, "password_file: required"));
	assert_non_null(strstr(el.msg, "database: required"));
	assert_non_null(strstr(el.msg, "services: required"));
	unlink(pwfile);
}

/* DESIGN.md's config forms (thin, plan system_id, pool, driver), the plan's fencing policy
 * and async setting, and what the bind's mount_config carries from them. */
static void test_config_policy(void **state)
{
	struct broker_config c;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	FILE *f = fopen(pwfile, "w");

	assert_non_null(f);
	fputs("pw\n", f);
	fclose(f);
	assert_int_equal(
	    config_with(
		"[{\"name\":\"b\",\"plans\":[{\"name\":\"s\",\"backend\":\"scaleio\","
		"\"system_id\":\"AAAABBBBCCCCDDDD\",\"storage_pool_id\":\"e65f9c2700000000\","
		"\"thin\":false,\"size\":\"8G\",\"takeover\":true,\"fencing\":\"required\","
		"\"async\":\"required\"},"
		"{\"name\":\"l\",\"backend\":\"iscsi\",\"fencing\":\"off\",\"pool\":"
		"[{\"portal\":\"10.0.0.5:3260\",\"iqn\":\"iqn.2003-01.org.x:t\",\"lun\":0}]}]}],"
		"\"driver\":\"attachd2\"",
		&c, &el),
	    0);
	assert_string_equal(c.driver, "attachd2");
	assert_int_equal(c.plans[0].thick, 1);
	assert_string_equal(c.plans[0].system_id, "aaaabbbbccccdddd");
	assert_int_equal(c.plans[0].takeover, 1);
	assert_string_equal(c.plans[0].fencing, "required");
	assert_int_equal(c.plans[0].async, BROKER_ASYNC_REQUIRED);
	assert_int_equal(c.plans[1].n_items, 1);
	assert_int_equal(c.plans[1].takeover, -1);

	struct broker_instance inst = {.size = 8 * G};
	struct broker_binding bd = {.readonly = 0};

	snprintf(inst.id, sizeof(inst.id), "i1");
	snprintf(inst.plan_id, sizeof(inst.plan_id), "%s", c.plans[0].id);
	snprintf(inst.fs, sizeof(inst.fs), "ext4");
	snprintf(inst.backend_ref, sizeof(inst.backend_ref), "0123456789abcdef");
	snprintf(bd.container_dir, sizeof(bd.container_dir), "/var/vcap/data/i1");
	json_t *out = osb_binding_body(&c, &inst, &bd, &e);
	json_t *vm = json_array_get(json_object_get(out, "volume_mounts"), 0);
	json_t *mc = json_object_get(json_object_get(vm, "device"), "mount_config");

	assert_non_null(mc);
	assert_string_equal(json_string_value(json_object_get(vm, "driver")), "attachd2");
	assert_string_equal(json_string_value(json_object_get(mc, "system_id")),
			    "aaaabbbbccccdddd");
	assert_string_equal(json_string_value(json_object_get(mc, "fencing")), "required");
	assert_true(json_is_true(json_object_get(mc, "takeover")));
	json_decref(out);

	/* The pool plan: fencing "off" copied, takeover left to attachd. */
	snprintf(inst.plan_id, sizeof(inst.plan_id), "%s", c.plans[1].id);
	snprintf(inst.backend_ref, sizeof(inst.backend_ref), "%s", c.plans[1].keys[0]);
	out = osb_binding_body(&c, &inst, &bd, &e);
	mc = json_object_get(
	    json_object_get(json_array_get(json_object_get(out, "volume_mounts"), 0), "device"),
	    "mount_config");
	assert_string_equal(json_string_value(json_object_get(mc, "fencing")), "off");
	assert_null(json_object_get(mc, "takeover"));
	assert_int_equal(json_integer_value(json_object_get(mc, "lun")), 0);
	json_decref(out);
	broker_config_done(&c);

	/* Bad values: each named with what to write instead. */
	el = (struct errlist){.n = 0};
	assert_int_equal(
	    config_with(
		"[{\"name\":\"b\",\"plans\":[{\"name\":\"s\",\"backend\":\"scaleio\","
		"\"storage_pool_id\":\"e65f9c2700000000\",\"size\":\"8G\",\"takeover\":\"yes\","
		"\"fencing\":\"best-effort\",\"async\":\"always\",\"thin\":1,\"system_id\":"
		"\"xyz\"},{\"name\":\"f\",\"backend\":\"file\",\"size\":\"1G\",\"async\":"
		"\"auto\"}]}],\"driver\":\"a/b\",\"tls\":{\"cert_file\":\"/nonexistent.pem\"}",
		&c, &el),
	    -EINVAL);
	const char *want[] = {
	    "services[0].plans[0].takeover: must be true",
	    "services[0].plans[0].fencing: 'best-effort' must be \"auto\"",
	    "services[0].plans[0].async: 'always' must be \"auto\"",
	    "services[0].plans[0].thin: must be true (thin provisioning) or false (thick)",
	    "services[0].plans[0].system_id: 'xyz' is not 16 hex digits",
	    "services[0].plans[1].: storage pools, provisioning, thin, system_id and async are "
	    "scaleio settings",
	    "driver: 'a/b' must be attachd's --driver-name",
	    "tls.cert_file: cannot read /nonexistent.pem",
	    "tls: cert_file and key_file are needed together",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(el.msg, want[i]))
			fail_msg("missing '%s' in: %s", want[i], el.msg);
	unlink(pwfile);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_parse),
	    cmocka_unit_test(test_size_format_and_rounding),
	    cmocka_unit_test(test_provision_params),
	    cmocka_unit_test(test_update_params),
	    cmocka_unit_test(test_bind_params),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_config_plans),
	    cmocka_unit_test(test_config_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
