/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvme backend, the pure parts: Create options (valid forms, JSON types, every problem
 * named with its key), NQN/UUID validation, the /dev/nvme-fabrics option string and reply,
 * sysfs address parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "backends/nvme/internal.h"

#define NQN "nqn.2024-01.io.example:vol1"
#define U1 "3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d41"

static int parse(const char *json, struct be_nvme_cfg **ret, struct errlist *el)
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
	r = be_nvme_ops.parse(j, &cfg, el);
	json_decref(j);
	if (r == 0) {
		assert_int_equal(el->n, 0);
		*ret = cfg;
	} else {
		assert_int_equal(r, -EINVAL);
		assert_null(cfg);
		assert_true(el->n > 0);
	}
	return r;
}

static void expect_bad(const char *json, unsigned n_problems, const char *needle1,
		       const char *needle2)
{
	struct be_nvme_cfg *c = NULL;
	struct errlist el;

	assert_int_equal(parse(json, &c, &el), -EINVAL);
	if (n_problems)
		assert_int_equal(el.n, n_problems);
	if (needle1 && !strstr(el.msg, needle1))
		fail_msg("'%s' not in: %s", needle1, el.msg);
	if (needle2 && !strstr(el.msg, needle2))
		fail_msg("'%s' not in: %s", needle2, el.msg);
}

static struct be_nvme_cfg *expect_ok(const char *json)
{
	struct be_nvme_cfg *c = NULL;
	struct errlist el;

	if (parse(json, &c, &el) != 0)
		fail_msg("refused: %s", el.msg);
	return c;
}

static void test_valid_forms(void **state)
{
	struct be_nvme_cfg *c;
	char d[512];

	c = expect_ok("{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" NQN "\",\"uuid\":\"" U1 "\"}");
	assert_string_equal(c->traddr[0], "10.0.0.5");
	assert_int_equal(c->trsvcid, 4420);
	assert_string_equal(c->subnqn, NQN);
	assert_int_equal(c->id_kind, BE_NVME_ID_UUID);
	assert_string_equal(c->id, U1);
	assert_ptr_equal(c->fabrics, &be_nvme_fabrics_real);
	assert_int_equal(be_nvme_ops.describe(c, d, sizeof(d)), 0);
	assert_string_equal(d, "nvme:" NQN ":" U1);
	be_nvme_ops.free_cfg(c);

	/* upper-case uuid normalised; port as a string */
	c = expect_ok("{\"traddr\":\"fd00::5\",\"trsvcid\":\"4421\",\"subnqn\":\"" NQN
		      "\",\"uuid\":\"3B0C8D2E-6F4A-4C1E-9D7B-2A5E8F1C0D41\"}");
	assert_string_equal(c->traddr[0], "fd00::5");
	assert_int_equal(c->trsvcid, 4421);
	assert_string_equal(c->id, U1);
	be_nvme_ops.free_cfg(c);

	/* [v6] brackets dropped, port as a number, nguid plain -> dashed lower case */
	c = expect_ok("{\"traddr\":\"[fd00::5]\",\"trsvcid\":4430,\"subnqn\":\"" NQN
		      "\",\"nguid\":\"0A1B2C3D4E5F60718293A4B5C6D7E8F9\"}");
	assert_string_equal(c->traddr[0], "fd00::5");
	assert_int_equal(c->trsvcid, 4430);
	assert_int_equal(c->id_kind, BE_NVME_ID_NGUID);
	assert_string_equal(c->id, "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
	be_nvme_ops.free_cfg(c);

	/* host name, nsid as number and as string, the uuid form of NQN */
	c = expect_ok("{\"traddr\":\"array-1.example.com\",\"subnqn\":"
		      "\"nqn.2014-08.org.nvmexpress:uuid:" U1 "\",\"nsid\":7}");
	assert_string_equal(c->traddr[0], "array-1.example.com");
	assert_int_equal(c->id_kind, BE_NVME_ID_NSID);
	assert_int_equal(c->nsid, 7);
	assert_int_equal(be_nvme_ops.describe(c, d, sizeof(d)), 0);
	assert_string_equal(d, "nvme:nqn.2014-08.org.nvmexpress:uuid:" U1 ":7");
	be_nvme_ops.free_cfg(c);
	c = expect_ok("{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" NQN "\",\"nsid\":\"4294967294\"}");
	assert_int_equal(c->nsid, 4294967294u);
	assert_int_equal(c->n_traddr, 1);
	be_nvme_ops.free_cfg(c);
}

/* Several ports of one subsystem: a JSON list or a comma list, trsvcid for each; the
 * volume's identity (describe) is the namespace's, whichever ports reach it. */
static void test_traddr_list(void **state)
{
	struct be_nvme_cfg *c;
	char d[512];

	c = expect_ok("{\"traddr\":[\"10.0.0.5\",\"[fd00::6]\",\"array-b.example.com\"],"
		      "\"trsvcid\":4430,\"subnqn\":\"" NQN "\",\"uuid\":\"" U1 "\"}");
	assert_int_equal(c->n_traddr, 3);
	assert_string_equal(c->traddr[0], "10.0.0.5");
	assert_string_equal(c->traddr[1], "fd00::6");
	assert_string_equal(c->traddr[2], "array-b.example.com");
	assert_int_equal(c->trsvcid, 4430);
	assert_int_equal(be_nvme_ops.describe(c, d, sizeof(d)), 0);
	assert_string_equal(d, "nvme:" NQN ":" U1);
	assert_int_equal(be_nvme_ops.paths_configured(c), 3);
	be_nvme_ops.free_cfg(c);

	c = expect_ok("{\"traddr\":\"10.0.0.5, 10.0.1.5\",\"subnqn\":\"" NQN "\",\"nsid\":1}");
	assert_int_equal(c->n_traddr, 2);
	assert_string_equal(c->traddr[0], "10.0.0.5");
	assert_string_equal(c->traddr[1], "10.0.1.5");
	assert_int_equal(c->trsvcid, 4420);
	be_nvme_ops.free_cfg(c);

	/* a list of one is one address */
	c = expect_ok("{\"traddr\":[\"10.0.0.5\"],\"subnqn\":\"" NQN "\",\"nsid\":1}");
	assert_int_equal(c->n_traddr, 1);
	assert_int_equal(be_nvme_ops.paths_configured(c), 1);
	be_nvme_ops.free_cfg(c);

	/* eight is the most */
	c = expect_ok("{\"traddr\":\"10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,"
		      "10.0.0.7,10.0.0.8\",\"subnqn\":\"" NQN "\",\"nsid\":1}");
	assert_int_equal(c->n_traddr, 8);
	be_nvme_ops.free_cfg(c);
}

static void test_traddr_list_bad(void **state)
{
	expect_bad("{\"traddr\":[],\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "'traddr' is an empty list", NULL);
	expect_bad("{\"traddr\":[\"10.0.0.5\",7],\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "'traddr' entry 2 must be a string", NULL);
	expect_bad("{\"traddr\":\"10.0.0.5,,10.0.0.6\",\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "an entry of 'traddr' must be", "not empty");
	expect_bad("{\"traddr\":\"10.0.0.5,\",\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "an entry of 'traddr' must be", NULL);
	expect_bad("{\"traddr\":[\"10.0.0.5\",\"10.0.0.999\"],\"subnqn\":\"" NQN "\",\"nsid\":1}",
		   1, "'traddr' \"10.0.0.999\" is not a valid IPv4 address", NULL);
	/* the same port twice (IPv6 written two ways) */
	expect_bad("{\"traddr\":[\"fd00::5\",\"fd00:0::5\"],\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "'traddr' lists fd00:0::5 twice", NULL);
	expect_bad("{\"traddr\":\"10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,"
		   "10.0.0.7,10.0.0.8,10.0.0.9\",\"subnqn\":\"" NQN "\",\"nsid\":1}",
		   1, "'traddr' lists 9 addresses; at most 8 paths per volume", NULL);
	expect_bad("{\"traddr\":{\"a\":1},\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "'traddr' must be a string", "or a list of them");
	/* a port per address is not an option: trsvcid is for all */
	expect_bad("{\"traddr\":[\"10.0.0.5:4420\",\"10.0.0.6\"],\"subnqn\":\"" NQN
		   "\",\"nsid\":1}",
		   1, "'traddr' \"10.0.0.5:4420\"", NULL);
}

static void test_every_problem_named(void **state)
{
	/* nothing at all: every required key named */
	expect_bad("{}", 3, "'traddr' is required", "'subnqn' is required");
	expect_bad("{}", 3, "one of 'uuid', 'nguid' or 'nsid' is required", NULL);
	expect_bad(NULL, 3, "'traddr' is required", NULL);
	/* all wrong at once */
	expect_bad("{\"traddr\":5,\"trsvcid\":0,\"subnqn\":\"iqn.2003-01.x:y\",\"nsid\":0}", 4,
		   "'traddr' must be a string", "'trsvcid' must be a TCP port");
	expect_bad("{\"traddr\":5,\"trsvcid\":0,\"subnqn\":\"iqn.2003-01.x:y\",\"nsid\":0}", 4,
		   "'subnqn' \"iqn.2003-01.x:y\" is not an NVMe qualified name", "'nsid' must be");
}

#define OK_BASE "\"traddr\":\"10.0.0.5\",\"subnqn\":\"" NQN "\""

static void test_bad_values(void **state)
{
	expect_bad("{\"traddr\":\"10.0.0.999\",\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "'traddr' \"10.0.0.999\" is not a valid IPv4 address", NULL);
	expect_bad("{\"traddr\":\"10.0.0.5:4420\",\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "'traddr'", NULL);
	expect_bad("{\"traddr\":\"a_b\",\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "'traddr' \"a_b\" is not an address or a host name", NULL);
	expect_bad("{\"traddr\":\"fd00::zz\",\"subnqn\":\"" NQN "\",\"nsid\":1}", 1,
		   "not a valid IPv6 address", NULL);
	expect_bad("{\"traddr\":\"\",\"subnqn\":\"" NQN "\",\"nsid\":1}", 1, "'traddr' must be",
		   NULL);
	expect_bad("{" OK_BASE ",\"trsvcid\":70000,\"nsid\":1}", 1, "'trsvcid' must be a TCP port",
		   NULL);
	expect_bad("{" OK_BASE ",\"trsvcid\":\"http\",\"nsid\":1}", 1, "'trsvcid'", NULL);
	expect_bad("{" OK_BASE ",\"trsvcid\":true,\"nsid\":1}", 1, "'trsvcid'", NULL);
	/* subnqn */
	expect_bad("{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2014-08.org.nvmexpress.discovery\","
		   "\"nsid\":1}",
		   1, "'subnqn' is the discovery NQN", NULL);
	expect_bad("{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2024-01.io.x:a,traddr=1.2.3.4\","
		   "\"nsid\":1}",
		   1, "no ',' '=' or blanks", NULL);
	expect_bad("{\"traddr\":\"10.0.0.5\",\"subnqn\":7,\"nsid\":1}", 1,
		   "'subnqn' must be a string", NULL);
	/* ids */
	expect_bad("{" OK_BASE ",\"uuid\":\"" U1 "\",\"nsid\":1}", 1,
		   "give exactly one of 'uuid', 'nguid' or 'nsid', not 'uuid' and 'nsid'", NULL);
	expect_bad("{" OK_BASE ",\"uuid\":\"" U1
		   "\",\"nguid\":\"0a1b2c3d4e5f60718293a4b5c6d7e8f9\","
		   "\"nsid\":1}",
		   1, "not all three", NULL);
	expect_bad("{" OK_BASE ",\"uuid\":\"3b0c8d2e6f4a4c1e9d7b2a5e8f1c0d41\"}", 1,
		   "'uuid' must be the namespace UUID", NULL);
	expect_bad("{" OK_BASE ",\"uuid\":\"00000000-0000-0000-0000-000000000000\"}", 1,
		   "'uuid' must be", NULL);
	expect_bad("{" OK_BASE ",\"uuid\":5}", 1, "'uuid' must be", NULL);
	expect_bad("{" OK_BASE ",\"nguid\":\"0a1b2c3d4e5f60718293a4b5c6d7e8\"}", 1,
		   "'nguid' must be the namespace's NGUID", NULL);
	expect_bad("{" OK_BASE ",\"nguid\":\"00000000000000000000000000000000\"}", 1, "'nguid'",
		   NULL);
	expect_bad("{" OK_BASE ",\"nsid\":0}", 1, "'nsid' must be a namespace ID 1-4294967294",
		   NULL);
	expect_bad("{" OK_BASE ",\"nsid\":4294967295}", 1, "'nsid'", NULL);
	expect_bad("{" OK_BASE ",\"nsid\":-1}", 1, "'nsid'", NULL);
	expect_bad("{" OK_BASE ",\"nsid\":\"1a\"}", 1, "'nsid'", NULL);
	expect_bad("{" OK_BASE ",\"nsid\":1.5}", 1, "'nsid'", NULL);
}

static void test_nqn_validation(void **state)
{
	char longnqn[300];

	assert_true(be_nvme_nqn_is_valid(NQN));
	assert_true(be_nvme_nqn_is_valid("nqn.1992-05.com.example:array:sn.1234"));
	assert_true(be_nvme_nqn_is_valid("nqn.2014-08.org.nvmexpress:uuid:" U1));
	assert_false(be_nvme_nqn_is_valid("nqn.2014-08.org.nvmexpress:uuid:not-a-uuid"));
	assert_false(be_nvme_nqn_is_valid("nqn.2014-08.org.nvmexpress.discovery"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-13.io.example:x"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-1.io.example:x"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-01.io.example"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-01.io.example:"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-01.:x"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-01.io..example:x"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-01.io.example:a b"));
	assert_false(be_nvme_nqn_is_valid("nqn.2024-01.io.example:a=b"));
	assert_false(be_nvme_nqn_is_valid("iqn.2024-01.io.example:x"));
	assert_false(be_nvme_nqn_is_valid(""));
	assert_false(be_nvme_nqn_is_valid(NULL));
	/* 223 bytes is the limit */
	memset(longnqn, 'a', sizeof(longnqn));
	memcpy(longnqn, "nqn.2024-01.io.example:", 23);
	longnqn[223] = 0;
	assert_true(be_nvme_nqn_is_valid(longnqn));
	longnqn[223] = 'a';
	longnqn[224] = 0;
	assert_false(be_nvme_nqn_is_valid(longnqn));
}

static void test_uuid_normalize(void **state)
{
	char b[40];

	assert_int_equal(
	    be_nvme_uuid_normalize("3B0C8D2E-6F4A-4C1E-9D7B-2A5E8F1C0D41", 0, b, sizeof(b)), 0);
	assert_string_equal(b, U1);
	assert_int_equal(
	    be_nvme_uuid_normalize("3b0c8d2e6f4a4c1e9d7b2a5e8f1c0d41", 0, b, sizeof(b)), -EINVAL);
	assert_int_equal(
	    be_nvme_uuid_normalize("3b0c8d2e6f4a4c1e9d7b2a5e8f1c0d41", 1, b, sizeof(b)), 0);
	assert_string_equal(b, U1);
	assert_int_equal(
	    be_nvme_uuid_normalize("3b0c8d2e-6f4a-4c1e-9d7b_2a5e8f1c0d41", 0, b, sizeof(b)),
	    -EINVAL);
	assert_int_equal(be_nvme_uuid_normalize(U1, 0, b, 10), -EINVAL);
}

static void test_fabrics_options(void **state)
{
	char b[1024];

	assert_int_equal(be_nvme_fabrics_options(NQN, "10.0.0.5", 4420,
						 "nqn.2014-08.org.nvmexpress:uuid:" U1, U1, 0, b,
						 sizeof(b)),
			 0);
	assert_string_equal(b, "nqn=" NQN ",transport=tcp,traddr=10.0.0.5,trsvcid=4420,"
			       "hostnqn=nqn.2014-08.org.nvmexpress:uuid:" U1 ",hostid=" U1
			       ",ctrl_loss_tmo=600,reconnect_delay=10,fast_io_fail_tmo=30");
	assert_int_equal(be_nvme_fabrics_options(NQN, "fd00::5", 4421, "nqn.2024-01.io.h:me", "", 0,
						 b, sizeof(b)),
			 0);
	assert_string_equal(b, "nqn=" NQN ",transport=tcp,traddr=fd00::5,trsvcid=4421,"
			       "hostnqn=nqn.2024-01.io.h:me,ctrl_loss_tmo=600,reconnect_delay=10,"
			       "fast_io_fail_tmo=30");
	/* one port of several: reconnect sooner, so a returning port carries I/O again */
	assert_int_equal(be_nvme_fabrics_options(NQN, "10.0.1.5", 4420, "nqn.2024-01.io.h:me", "",
						 1, b, sizeof(b)),
			 0);
	assert_string_equal(b, "nqn=" NQN ",transport=tcp,traddr=10.0.1.5,trsvcid=4420,"
			       "hostnqn=nqn.2024-01.io.h:me,ctrl_loss_tmo=600,reconnect_delay=2,"
			       "fast_io_fail_tmo=30");
	assert_int_equal(
	    be_nvme_fabrics_options(NQN, "10.0.0.5", 4420, "nqn.2024-01.io.h:me", NULL, 0, b, 40),
	    -ENOBUFS);
}

static void test_fabrics_reply(void **state)
{
	unsigned n = 99;

	assert_int_equal(be_nvme_fabrics_reply_parse("instance=0,cntlid=1\n", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(be_nvme_fabrics_reply_parse("instance=17,cntlid=3", &n), 0);
	assert_int_equal(n, 17);
	assert_int_equal(be_nvme_fabrics_reply_parse("cntlid=3,instance=4\n", &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(be_nvme_fabrics_reply_parse("instance=x,cntlid=3", &n), -EBADMSG);
	assert_int_equal(be_nvme_fabrics_reply_parse("instance=5x", &n), -EBADMSG);
	assert_int_equal(be_nvme_fabrics_reply_parse("cntlid=3\n", &n), -EBADMSG);
	assert_int_equal(be_nvme_fabrics_reply_parse("", &n), -EBADMSG);
	assert_int_equal(be_nvme_fabrics_reply_parse(NULL, &n), -EBADMSG);
	assert_int_equal(n, 4);
}

static void test_address(void **state)
{
	char b[64];

	assert_int_equal(be_nvme_address_get("traddr=10.0.0.5,trsvcid=4420,src_addr=10.0.0.1\n",
					     "trsvcid", b, sizeof(b)),
			 0);
	assert_string_equal(b, "4420");
	assert_int_equal(be_nvme_address_get("trsvcid=4420,traddr=fd00::5", "traddr", b, sizeof(b)),
			 0);
	assert_string_equal(b, "fd00::5");
	assert_int_equal(be_nvme_address_get("traddr=10.0.0.5", "trsvcid", b, sizeof(b)), -ENOENT);
	assert_int_equal(be_nvme_address_get("host_traddr=1.2.3.4", "traddr", b, sizeof(b)),
			 -ENOENT);
	assert_true(be_nvme_addr_equal("fd00::5", "fd00:0:0::5"));
	assert_true(be_nvme_addr_equal("10.0.0.5", "10.0.0.5"));
	assert_false(be_nvme_addr_equal("10.0.0.5", "10.0.0.50"));
	assert_false(be_nvme_addr_equal("10.0.0.5", "fd00::5"));
}

static void test_ops_table(void **state)
{
	const char *const *k = be_nvme_ops.keys;
	const char *want[] = {"traddr", "trsvcid", "subnqn", "uuid", "nguid", "nsid"};

	assert_string_equal(be_nvme_ops.name, "nvme");
	assert_ptr_equal(backend_find("nvme"), &be_nvme_ops);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int found = 0;

		for (size_t j = 0; k[j]; j++)
			found |= strcmp(k[j], want[i]) == 0;
		assert_true(found);
	}
	assert_null(be_nvme_ops.secret_keys[0]);
	assert_null(be_nvme_ops.probe);
	assert_non_null(be_nvme_ops.connect);
	assert_non_null(be_nvme_ops.find_device);
	assert_non_null(be_nvme_ops.identify);
	assert_non_null(be_nvme_ops.disconnect);
	/* native multipath: the kernel's head disk is the device, the controllers its paths */
	assert_int_equal(be_nvme_ops.native_multipath, 1);
	assert_non_null(be_nvme_ops.paths_configured);
	assert_non_null(be_nvme_ops.find_paths);
	assert_non_null(be_nvme_ops.path_transport);
	assert_non_null(be_nvme_ops.add_paths);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_forms),	    cmocka_unit_test(test_traddr_list),
	    cmocka_unit_test(test_traddr_list_bad), cmocka_unit_test(test_every_problem_named),
	    cmocka_unit_test(test_bad_values),	    cmocka_unit_test(test_nqn_validation),
	    cmocka_unit_test(test_uuid_normalize),  cmocka_unit_test(test_fabrics_options),
	    cmocka_unit_test(test_fabrics_reply),   cmocka_unit_test(test_address),
	    cmocka_unit_test(test_ops_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
