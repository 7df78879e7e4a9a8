/* SPDX-License-Identifier: Apache-2.0 */
/* agent/names.c: Volman's UniqueVolumeIds encoding and the checks on both parts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/names.h"

static void ok(const char *name, const char *key, const char *container, int unique)
{
	struct agent_name n;
	struct errbuf e = {{0}};

	if (agent_name_decode(name, &n, &e) < 0)
		fail_msg("'%s' refused: %s", name, e.msg);
	assert_string_equal(n.key, key);
	assert_string_equal(n.container, container);
	assert_int_equal(n.unique, unique);
}

static void bad(const char *name, const char *needle)
{
	struct agent_name n;
	struct errbuf e = {{0}};

	memset(&n, 0x5a, sizeof(n));
	assert_int_equal(agent_name_decode(name, &n, &e), -EINVAL);
	if (!strstr(e.msg, needle))
		fail_msg("'%s': '%s' not in '%s'", name ? name : "(null)", needle, e.msg);
	assert_int_equal((unsigned char)n.key[0], 0x5a); /* ret untouched on failure */
}

static void test_unique(void **state)
{
	/* The example Volman itself produces (volman-protocol.md §3.3). */
	ok("inst=1-abc_container-guid-1", "inst_1-abc", "container-guid-1", 1);
	ok("v_c", "v", "c", 1);
	ok("a=b=c_d=e", "a_b_c", "d_e", 1);
	ok("vol.1_6f1e2a3b-0000-4c1d-9e8f-0123456789ab", "vol.1",
	   "6f1e2a3b-0000-4c1d-9e8f-0123456789ab", 1);
}

static void test_plain(void **state)
{
	ok("myvolume", "myvolume", AGENT_SHARED_CONTAINER, 0);
	ok("inst=1", "inst_1", AGENT_SHARED_CONTAINER, 0);
	ok("a.b-c", "a.b-c", AGENT_SHARED_CONTAINER, 0);
}

static void test_bad(void **state)
{
	char longpart[ATTACH_KEY_MAX + 8];

	bad(NULL, "missing volume name");
	bad("", "missing volume name");
	bad("a/b", "'/' is not allowed");
	bad("../etc_c", "'/' is not allowed");
	bad("..", "must not start with '.'");
	bad("a..b", "'..' is not allowed");
	bad("v_a..b", "'..' is not allowed");
	bad("a\\b", "'\\' is not allowed");
	bad(".staging", "must not start with '.'");
	bad("v_.c", "container id must not start with '.'");
	bad("_c", "empty volume id");
	bad("v_", "empty container id");
	bad("_", "empty volume id");
	bad("a_b_c", "more than one '_'");
	bad("a b", "character \\x20 is not allowed");
	bad("a\nb", "character \\x0a is not allowed");
	bad("caf\xc3\xa9", "is not allowed");
	bad("a:b", "is not allowed");
	memset(longpart, 'x', ATTACH_KEY_MAX + 1);
	longpart[ATTACH_KEY_MAX + 1] = 0;
	bad(longpart, "longer than 119 characters");
	longpart[ATTACH_KEY_MAX] = 0; /* exactly ATTACH_KEY_MAX: fine */
	ok(longpart, longpart, AGENT_SHARED_CONTAINER, 0);
}

static void test_message_is_printable(void **state)
{
	struct agent_name n;
	struct errbuf e = {{0}};

	assert_int_equal(agent_name_decode("bad\x01name\x7f", &n, &e), -EINVAL);
	for (const char *p = e.msg; *p; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_non_null(strstr(e.msg, "bad\\x01name\\x7f"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unique),
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_message_is_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
