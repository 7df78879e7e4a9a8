/* SPDX-License-Identifier: Apache-2.0 */
/* iscsi backend Create options: valid forms, JSON types, every problem named, no secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "backends/iscsi/internal.h"

#define SECRET "s3cr3t-Passw0rd"

static int parse(const char *json, struct be_iscsi_cfg **ret, struct errlist *el)
{
	json_error_t jerr;
	json_t *j = NULL;
	void *cfg = NULL;
	int r;

	if (json) {
		j = json_loads(json, JSON_DECODE_ANY, &jerr);
		assert_non_null(j);
	}
	memset(el, 0, sizeof(*el));
	r = be_iscsi_ops.parse(j, &cfg, el);
	json_decref(j);
	if (r == 0) {
		assert_int_equal(el->n, 0);
		*ret = cfg;
	} else {
		assert_int_equal(r, -EINVAL);
		assert_null(cfg);
		assert_true(el->n > 0);
		/* Whatever went wrong, the secret is never quoted back. */
		assert_null(strstr(el->msg, SECRET));
	}
	return r;
}

/* Expect failure whose message contains every needle. */
static void expect_bad(const char *json, unsigned n_problems, const char *needle1,
		       const char *needle2)
{
	struct be_iscsi_cfg *c = NULL;
	struct errlist el;

	assert_int_equal(parse(json, &c, &el), -EINVAL);
	if (n_problems)
		assert_int_equal(el.n, n_problems);
	if (needle1 && !strstr(el.msg, needle1))
		fail_msg("'%s' not in: %s", needle1, el.msg);
	if (needle2 && !strstr(el.msg, needle2))
		fail_msg("'%s' not in: %s", needle2, el.msg);
}

static void test_full_valid(void **state)
{
	struct be_iscsi_cfg *c;
	struct errlist el;
	char d[64];

	assert_int_equal(parse("{\"backend\":\"iscsi\",\"portals\":[\"10.0.0.5:3260\","
			       "\"array-b.example.com:3261\",\"[fd00::5]:3262\"],"
			       "\"iqn\":\"iqn.2003-01.org.example:vol1\",\"lun\":3,"
			       "\"wwid\":\"36001405ABCDEF0123456789abcdef012\","
			       "\"chap_user\":\"alice\",\"chap_secret\":\"" SECRET "\"}",
			       &c, &el),
			 0);
	assert_int_equal(c->n_portals, 3);
	assert_string_equal(c->portals[0].host, "10.0.0.5");
	assert_int_equal(c->portals[0].port, 3260);
	assert_false(c->portals[0].is_ipv6);
	assert_string_equal(c->portals[1].host, "array-b.example.com");
	assert_int_equal(c->portals[1].port, 3261);
	assert_string_equal(c->portals[2].host, "fd00::5");
	assert_int_equal(c->portals[2].port, 3262);
	assert_true(c->portals[2].is_ipv6);
	assert_string_equal(c->iqn, "iqn.2003-01.org.example:vol1");
	assert_int_equal(c->lun, 3);
	/* udev's numeric form is stored the way the kernel writes it */
	assert_string_equal(c->wwid, "naa.6001405abcdef0123456789abcdef012");
	assert_string_equal(c->chap_user, "alice");
	assert_string_equal(c->chap_secret, SECRET);
	assert_int_equal(be_iscsi_ops.describe(c, d, sizeof(d)), 0);
	assert_string_equal(d, "iscsi:iqn.2003-01.org.example:vol1:3");
	assert_int_equal(be_iscsi_ops.describe(c, d, 8), -ENOBUFS);
	be_iscsi_ops.free_cfg(c);
}

static void test_portal_forms(void **state)
{
	struct be_iscsi_cfg *c;
	struct errlist el;

	/* one portal, default port, lun as a string */
	assert_int_equal(parse("{\"portal\":\"192.168.1.9\",\"iqn\":\"eui.02004567A425678D\","
			       "\"lun\":\"0\"}",
			       &c, &el),
			 0);
	assert_int_equal(c->n_portals, 1);
	assert_string_equal(c->portals[0].host, "192.168.1.9");
	assert_int_equal(c->portals[0].port, 3260);
	assert_int_equal(c->lun, 0);
	assert_string_equal(c->wwid, "");
	assert_string_equal(c->chap_user, "");
	be_iscsi_ops.free_cfg(c);

	/* comma-separated string, blanks ignored, IPv6 without port */
	assert_int_equal(parse("{\"portals\":\" 10.0.0.1:3260 ,10.0.0.2, [::1]\","
			       "\"iqn\":\"naa.6001405abcdef012\",\"lun\":16383}",
			       &c, &el),
			 0);
	assert_int_equal(c->n_portals, 3);
	assert_string_equal(c->portals[1].host, "10.0.0.2");
	assert_int_equal(c->portals[1].port, 3260);
	assert_string_equal(c->portals[2].host, "::1");
	assert_int_equal(c->portals[2].port, 3260);
	assert_int_equal(c->lun, 16383);
	be_iscsi_ops.free_cfg(c);
}

static void test_everything_missing(void **state)
{
	struct be_iscsi_cfg *c;
	struct errlist el;

	/* NULL, null and {} all lack the three required keys; each is named once */
	assert_int_equal(parse(NULL, &c, &el), -EINVAL);
	assert_int_equal(el.n, 3);
	assert_non_null(strstr(el.msg, "'portals' is required"));
	assert_non_null(strstr(el.msg, "'iqn' is required"));
	assert_non_null(strstr(el.msg, "'lun' is required"));
	expect_bad("null", 3, "'portals' is required", "'lun' is required");
	expect_bad("{}", 3, "'iqn' is required", NULL);
	expect_bad("[1,2]", 3, NULL, NULL);
}

static void test_all_problems_at_once(void **state)
{
	expect_bad("{\"portals\":[\"10.0.0.1:0\",\"fd00::1\"],\"iqn\":\"IQN.bad\",\"lun\":-1,"
		   "\"wwid\":\"xyz\",\"chap_user\":\"u\"}",
		   6, "invalid port", "brackets");
	expect_bad("{\"portals\":[\"10.0.0.1:0\",\"fd00::1\"],\"iqn\":\"IQN.bad\",\"lun\":-1,"
		   "\"wwid\":\"xyz\",\"chap_user\":\"u\"}",
		   6, "'iqn' \"IQN.bad\" is not an iSCSI name", "'lun' must be an integer 0-16383");
	expect_bad("{\"portals\":[\"10.0.0.1:0\",\"fd00::1\"],\"iqn\":\"IQN.bad\",\"lun\":-1,"
		   "\"wwid\":\"xyz\",\"chap_user\":\"u\"}",
		   6, "'wwid' must be", "give both or neither");
}

static void test_bad_portals(void **state)
{
#define OK_REST ",\"iqn\":\"iqn.2003-01.org.example:a\",\"lun\":1}"
	expect_bad("{\"portals\":\"\"" OK_REST, 1, "'portals' is empty", NULL);
	expect_bad("{\"portals\":[]" OK_REST, 1, "'portals' is empty", NULL);
	expect_bad("{\"portals\":42" OK_REST, 1, "must be a list", NULL);
	expect_bad("{\"portals\":[42]" OK_REST, 1, "entry 0 must be a string", NULL);
	expect_bad("{\"portal\":[\"1.2.3.4\"]" OK_REST, 1, "'portal' must be a string", NULL);
	expect_bad("{\"portal\":\"1.2.3.4\",\"portals\":[\"1.2.3.5\"]" OK_REST, 1, "not both",
		   NULL);
	expect_bad("{\"portals\":\"a:1,,b:2\"" OK_REST, 1, "empty entry", NULL);
	expect_bad("{\"portal\":\":3260\"" OK_REST, 1, "no host", NULL);
	expect_bad("{\"portal\":\"1.2.3.4:65536\"" OK_REST, 1, "invalid port", NULL);
	expect_bad("{\"portal\":\"1.2.3.4:32a\"" OK_REST, 1, "invalid port", NULL);
	expect_bad("{\"portal\":\"1.2.3.4:\"" OK_REST, 1, "invalid port", NULL);
	expect_bad("{\"portal\":\"999.1.1.1\"" OK_REST, 1, "invalid IPv4", NULL);
	expect_bad("{\"portal\":\"host_name:3260\"" OK_REST, 1, "invalid host name", NULL);
	expect_bad("{\"portal\":\"-bad.example\"" OK_REST, 1, "invalid host name", NULL);
	expect_bad("{\"portal\":\"a..b\"" OK_REST, 1, "invalid host name", NULL);
	expect_bad("{\"portal\":\"fd00::1:3260\"" OK_REST, 1, "[fd00::1]:3260", NULL);
	expect_bad("{\"portal\":\"[fd00::zz]:3260\"" OK_REST, 1, "invalid IPv6", NULL);
	expect_bad("{\"portal\":\"[fd00::1\"" OK_REST, 1, "without ']'", NULL);
	expect_bad("{\"portal\":\"[fd00::1]x\"" OK_REST, 1, "after ']'", NULL);
	expect_bad("{\"portals\":[\"1.2.3.4\",\"1.2.3.4:3260\"]" OK_REST, 1, "twice", NULL);
	expect_bad("{\"portals\":\"1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,"
		   "1.1.1.8,1.1.1.9\"" OK_REST,
		   1, "more than 8", NULL);
#undef OK_REST
}

static void test_bad_iqn_and_lun(void **state)
{
#define P "{\"portal\":\"10.0.0.1\","
	expect_bad(P "\"iqn\":5,\"lun\":1}", 1, "'iqn' must be a string", NULL);
	expect_bad(P "\"iqn\":\"iqn.2003-13.org.example\",\"lun\":1}", 1, "not an iSCSI name",
		   NULL);
	expect_bad(P "\"iqn\":\"iqn.2003-1.org.example\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"iqn.2003-01.\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"iqn.2003-01.org.example:\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"iqn.2003-01.Org.example\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"iqn.2003-01.org.example:a b\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"eui.0123\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"naa.0123456789abcdeg\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"target1\",\"lun\":1}", 1, NULL, NULL);
	expect_bad(P "\"iqn\":\"eui.0123456789abcdef\",\"lun\":16384}", 1, "0-16383", NULL);
	expect_bad(P "\"iqn\":\"eui.0123456789abcdef\",\"lun\":1.5}", 1, "integer", NULL);
	expect_bad(P "\"iqn\":\"eui.0123456789abcdef\",\"lun\":true}", 1, "integer", NULL);
	expect_bad(P "\"iqn\":\"eui.0123456789abcdef\",\"lun\":\"0x3\"}", 1, "got \"0x3\"", NULL);
	expect_bad(P "\"iqn\":\"eui.0123456789abcdef\",\"lun\":\"\"}", 1, "integer", NULL);
	expect_bad(P "\"iqn\":\"eui.0123456789abcdef\",\"lun\":\"-1\"}", 1, "integer", NULL);
#undef P
}

static void test_chap(void **state)
{
	char long_secret[300];

#define P "{\"portal\":\"10.0.0.1\",\"iqn\":\"eui.0123456789abcdef\",\"lun\":1,"
	expect_bad(P "\"chap_secret\":\"" SECRET "\"}", 1, "give both or neither", NULL);
	expect_bad(P "\"chap_user\":7,\"chap_secret\":\"" SECRET "\"}", 1, "'chap_user' must be",
		   NULL);
	expect_bad(P "\"chap_user\":\"u\",\"chap_secret\":\"\"}", 1, "'chap_secret' must be", NULL);
	expect_bad(P "\"chap_user\":\"u\",\"chap_secret\":\"" SECRET "\\n\"}", 1,
		   "'chap_secret' must be", NULL);
	expect_bad(P "\"chap_user\":\"u\",\"chap_secret\":[\"" SECRET "\"]}", 1,
		   "'chap_secret' must be", NULL);
	/* open-iscsi's record reader strips spaces at either end: refused, not changed */
	expect_bad(P "\"chap_user\":\"u\",\"chap_secret\":\" " SECRET "\"}", 1,
		   "not starting or ending with a space", NULL);
	expect_bad(P "\"chap_user\":\"u\",\"chap_secret\":\"" SECRET " \"}", 1,
		   "not starting or ending with a space", NULL);
	expect_bad(P "\"chap_user\":\"u \",\"chap_secret\":\"" SECRET "\"}", 1,
		   "'chap_user' must be", NULL);
	memset(long_secret, 'x', sizeof(long_secret));
	memcpy(long_secret, SECRET, strlen(SECRET));
	long_secret[sizeof(long_secret) - 1] = 0;
	{
		char json[512];

		snprintf(json, sizeof(json), P "\"chap_user\":\"u\",\"chap_secret\":\"%s\"}",
			 long_secret);
		expect_bad(json, 1, "1-255", NULL);
	}
#undef P
}

static void test_wwid_forms(void **state)
{
	struct be_iscsi_cfg *c;
	struct errlist el;

#define P "{\"portal\":\"10.0.0.1\",\"iqn\":\"eui.0123456789abcdef\",\"lun\":1,"
	assert_int_equal(parse(P "\"wwid\":\"NAA.600140511111111122222222AAAAAAAA\"}", &c, &el), 0);
	assert_string_equal(c->wwid, "naa.600140511111111122222222aaaaaaaa");
	be_iscsi_ops.free_cfg(c);
	assert_int_equal(parse(P "\"wwid\":\"t10.IET     VIRTUAL-DISK    beaf11\\n\"}", &c, &el),
			 0);
	assert_string_equal(c->wwid, "t10.IET     VIRTUAL-DISK    beaf11");
	be_iscsi_ops.free_cfg(c);
	assert_int_equal(parse(P "\"wwid\":\"20123456789abcdef\"}", &c, &el), 0);
	assert_string_equal(c->wwid, "eui.0123456789abcdef");
	be_iscsi_ops.free_cfg(c);
	expect_bad(P "\"wwid\":\"naa.12\"}", 1, "'wwid' must be", NULL);
	expect_bad(P "\"wwid\":\"\"}", 1, "'wwid' must be", NULL);
	expect_bad(P "\"wwid\":42}", 1, "'wwid' must be", NULL);
	expect_bad(P "\"wwid\":\"scsi-0123\"}", 1, "'wwid' must be", NULL);
#undef P
}

static void test_names_and_portals_pure(void **state)
{
	struct be_iscsi_portal p;
	char buf[300], why[128];

	assert_true(be_iscsi_name_is_valid("iqn.2003-01.org.example"));
	assert_true(be_iscsi_name_is_valid("iqn.1992-08.com.netapp:sn.123:vs.3"));
	assert_true(be_iscsi_name_is_valid("iqn.1993-08.org.debian:01:abc_DEF"));
	assert_true(be_iscsi_name_is_valid("eui.02004567A425678D"));
	assert_true(be_iscsi_name_is_valid("naa.52004567BA64678D0123456789ABCDEF"));
	assert_false(be_iscsi_name_is_valid(""));
	assert_false(be_iscsi_name_is_valid(NULL));
	assert_false(be_iscsi_name_is_valid("iqn.2003-00.org.example"));
	assert_false(be_iscsi_name_is_valid("iqn.03-01.org.example"));
	assert_false(be_iscsi_name_is_valid("iqn.2003-01org.example"));
	assert_false(be_iscsi_name_is_valid("iqn.2003-01.org..example"));
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "iqn.2003-01.org.example:", 24);
	buf[224] = 0; /* 224 > 223 bytes */
	assert_false(be_iscsi_name_is_valid(buf));
	buf[223] = 0;
	assert_true(be_iscsi_name_is_valid(buf));

	assert_int_equal(be_iscsi_portal_parse("[fd00::1]:3261", &p, why, sizeof(why)), 0);
	assert_int_equal(be_iscsi_portal_format(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[fd00::1]:3261");
	assert_int_equal(be_iscsi_portal_parse("10.1.2.3", &p, why, sizeof(why)), 0);
	assert_int_equal(be_iscsi_portal_format(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.1.2.3:3260");
	assert_int_equal(be_iscsi_portal_format(&p, buf, 5), -ENOBUFS);
	assert_int_equal(be_iscsi_portal_parse("", &p, NULL, 0), -EINVAL);
}

static void test_keys_and_secrets_listed(void **state)
{
	const char *const want[] = {"portals", "portal", "iqn",	      "targets",
				    "lun",     "wwid",	 "chap_user", "chap_secret"};
	size_t n = 0;

	assert_string_equal(be_iscsi_ops.name, "iscsi");
	for (; be_iscsi_ops.keys[n]; n++)
		;
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(be_iscsi_ops.keys[i], want[i]);
	assert_string_equal(be_iscsi_ops.secret_keys[0], "chap_secret");
	assert_null(be_iscsi_ops.secret_keys[1]);
	assert_non_null(be_iscsi_ops.probe);
	assert_non_null(be_iscsi_ops.connect);
	assert_non_null(be_iscsi_ops.find_device);
	assert_non_null(be_iscsi_ops.identify);
	assert_non_null(be_iscsi_ops.disconnect);
	be_iscsi_ops.free_cfg(NULL);
}

#define T1 "iqn.2003-01.org.example:a"
#define T2 "iqn.2003-01.org.example:b"

static void test_targets(void **state)
{
	struct be_iscsi_cfg *c = NULL, *c2 = NULL, pc;
	struct errlist el;
	char d1[300], d2[300];

	(void)state;
	/* One IQN per port: every entry is a path; the identity is the lowest name. */
	assert_int_equal(parse("{\"targets\": [{\"portal\": \"10.0.0.5:3260\", \"iqn\": \"" T2
			       "\"}, {\"portal\": \"10.0.0.6\", \"iqn\": \"" T1 "\"}], \"lun\": 1}",
			       &c, &el),
			 0);
	assert_true(c->has_targets);
	assert_int_equal(c->n_paths, 2);
	assert_string_equal(c->paths[0].iqn, T2);
	assert_string_equal(c->paths[0].portal.host, "10.0.0.5");
	assert_string_equal(c->paths[1].portal.host, "10.0.0.6");
	assert_int_equal(c->paths[1].portal.port, 3260);
	assert_string_equal(c->iqn, T1);
	be_iscsi_cfg_for_path(c, 0, &pc);
	assert_string_equal(pc.iqn, T2);
	assert_int_equal(be_iscsi_ops.paths_configured(c), 2);
	/* describe() (dedupe) does not depend on the order of the entries */
	assert_int_equal(parse("{\"targets\": [{\"portal\": \"10.0.0.6\", \"iqn\": \"" T1
			       "\"}, {\"portal\": \"10.0.0.5:3260\", \"iqn\": \"" T2
			       "\"}], \"lun\": 1}",
			       &c2, &el),
			 0);
	assert_int_equal(be_iscsi_describe(c, d1, sizeof(d1)), 0);
	assert_int_equal(be_iscsi_describe(c2, d2, sizeof(d2)), 0);
	assert_string_equal(d1, d2);
	be_iscsi_ops.free_cfg(c);
	be_iscsi_ops.free_cfg(c2);

	/* 'portals': one IQN on each portal, a path per portal; one portal, one path */
	assert_int_equal(parse("{\"portals\": [\"10.0.0.5\", \"10.0.0.6\"], \"iqn\": \"" T1
			       "\", \"lun\": 0}",
			       &c, &el),
			 0);
	assert_false(c->has_targets);
	assert_int_equal(c->n_paths, 2);
	assert_string_equal(c->paths[1].iqn, T1);
	assert_string_equal(c->paths[1].portal.host, "10.0.0.6");
	assert_int_equal(be_iscsi_ops.paths_configured(c), 2);
	be_iscsi_ops.free_cfg(c);
	assert_int_equal(
	    parse("{\"portal\": \"10.0.0.5\", \"iqn\": \"" T1 "\", \"lun\": 0}", &c, &el), 0);
	assert_int_equal(be_iscsi_ops.paths_configured(c), 1);
	be_iscsi_ops.free_cfg(c);
}

static void test_targets_bad(void **state)
{
	(void)state;
	expect_bad("{\"targets\": [{\"portal\": \"10.0.0.5\", \"iqn\": \"" T1 "\"}], \"iqn\": \"" T1
		   "\", \"lun\": 0}",
		   1, "either 'targets'", "not both");
	expect_bad("{\"targets\": [{\"portal\": \"10.0.0.5\", \"iqn\": \"" T1
		   "\"}], \"portals\": [\"10.0.0.6\"], \"lun\": 0}",
		   1, "either 'targets'", NULL);
	expect_bad("{\"targets\": [], \"lun\": 0}", 1, "'targets' must be a non-empty list", NULL);
	expect_bad("{\"targets\": \"10.0.0.5\", \"lun\": 0}", 1, "'targets' must be", NULL);
	expect_bad("{\"targets\": [\"10.0.0.5\"], \"lun\": 0}", 1,
		   "'targets' entry 0 must be an object", NULL);
	/* every bad entry is named, with what is wrong in it */
	expect_bad("{\"targets\": [{\"portal\": \"10.0.0.5\", \"iqn\": \"" T1
		   "\"}, {\"portal\": \"10.0.0.5:99999\", \"iqn\": \"" T2 "\"}, "
		   "{\"portal\": \"10.0.0.7\", \"iqn\": \"nope\"}, {\"iqn\": \"" T2 "\"}, "
		   "{\"portal\": \"10.0.0.8\", \"iqn\": \"" T2 "\", \"lun\": 3}], \"lun\": 0}",
		   4, "'targets' entry 1: portal \"10.0.0.5:99999\"",
		   "'targets' entry 2: iqn \"nope\"");
	expect_bad("{\"targets\": [{\"iqn\": \"" T2 "\"}], \"lun\": 0}", 1,
		   "'targets' entry 0 needs 'portal'", NULL);
	expect_bad("{\"targets\": [{\"portal\": \"10.0.0.8\", \"iqn\": \"" T2
		   "\", \"lun\": 3}], \"lun\": 0}",
		   1, "'targets' entry 0 has unknown key 'lun'", NULL);
	expect_bad("{\"targets\": [{\"portal\": \"10.0.0.8\"}], \"lun\": 0}", 1,
		   "'targets' entry 0 needs 'iqn'", NULL);
	expect_bad("{\"targets\": [{\"portal\": \"10.0.0.5\", \"iqn\": \"" T1 "\"}, "
		   "{\"portal\": \"10.0.0.5:3260\", \"iqn\": \"" T1 "\"}], \"lun\": 0}",
		   1, "'targets' entry 1", "repeats entry 0");
	expect_bad("{\"targets\": [{\"portal\": \"a1\", \"iqn\": \"" T1 "\"}, {\"portal\": \"a2\", "
		   "\"iqn\": \"" T1 "\"}, {\"portal\": \"a3\", \"iqn\": \"" T1 "\"}, {\"portal\": "
		   "\"a4\", \"iqn\": \"" T1 "\"}, {\"portal\": \"a5\", \"iqn\": \"" T1 "\"}, "
		   "{\"portal\": \"a6\", \"iqn\": \"" T1 "\"}, {\"portal\": \"a7\", \"iqn\": \"" T1
		   "\"}, {\"portal\": \"a8\", \"iqn\": \"" T1
		   "\"}, {\"portal\": \"a9\", \"iqn\": \"" T1 "\"}], \"lun\": 0}",
		   1, "'targets' has 9 entries; a volume has at most 8 paths", NULL);
	/* the lun is still required */
	expect_bad("{\"targets\": [{\"portal\": \"10.0.0.5\", \"iqn\": \"" T1 "\"}]}", 1,
		   "'lun' is required", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_valid),
	    cmocka_unit_test(test_portal_forms),
	    cmocka_unit_test(test_everything_missing),
	    cmocka_unit_test(test_all_problems_at_once),
	    cmocka_unit_test(test_bad_portals),
	    cmocka_unit_test(test_bad_iqn_and_lun),
	    cmocka_unit_test(test_chap),
	    cmocka_unit_test(test_wwid_forms),
	    cmocka_unit_test(test_names_and_portals_pure),
	    cmocka_unit_test(test_keys_and_secrets_listed),
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_targets_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
