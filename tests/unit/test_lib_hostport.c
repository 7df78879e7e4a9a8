/* SPDX-License-Identifier: Apache-2.0 */
/* lib/hostport: the host:port forms users write, every bad form named, nothing changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "lib/hostport.h"

static void parses(const char *s, const char *host, unsigned port, int v6)
{
	struct hostport p;
	char why[128] = "";

	assert_int_equal(hostport_parse(s, 3260, &p, why, sizeof(why)), 0);
	assert_string_equal(p.host, host);
	assert_int_equal(p.port, port);
	assert_int_equal(p.is_ipv6, v6);
	assert_string_equal(why, "");
}

static void refuses(const char *s, const char *why_expected)
{
	struct hostport p = {.host = "untouched", .port = 7};
	char why[128] = "";

	assert_int_equal(hostport_parse(s, 3260, &p, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, why_expected);
	assert_string_equal(p.host, "untouched");
	assert_int_equal(p.port, 7);
}

static void test_valid_forms(void **state)
{
	parses("10.0.0.5", "10.0.0.5", 3260, 0);
	parses("10.0.0.5:3261", "10.0.0.5", 3261, 0);
	parses("array-b.example.com:65535", "array-b.example.com", 65535, 0);
	parses("localhost", "localhost", 3260, 0);
	parses("[fd00::5]:1", "fd00::5", 1, 1);
	parses("[::1]", "::1", 3260, 1);
	parses("[::ffff:10.0.0.1]:4420", "::ffff:10.0.0.1", 4420, 1);
}

static void test_default_port_is_the_callers(void **state)
{
	struct hostport p;
	char why[128];

	assert_int_equal(hostport_parse("nvme-a", 4420, &p, NULL, 0), 0);
	assert_int_equal(p.port, 4420);
	assert_int_equal(hostport_parse("fd00::1", 4420, &p, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "looks like an IPv6 address: write it in brackets, e.g. "
				 "[fd00::1]:4420");
}

static void test_bad_forms_named(void **state)
{
	refuses("", "is empty");
	refuses(NULL, "is empty");
	refuses("[fd00::1", "has '[' without ']' (write IPv6 as [fd00::1]:3260)");
	refuses("[fd00::1]x", "has text after ']' that is not ':port'");
	refuses("[]:3260", "has an empty or too long address in brackets");
	refuses("[10.0.0.1]:3260", "has an invalid IPv6 address in brackets");
	refuses("[fd00::zz]", "has an invalid IPv6 address in brackets");
	refuses("fd00::1", "looks like an IPv6 address: write it in brackets, e.g. "
			   "[fd00::1]:3260");
	refuses(":3260", "has no host before ':'");
	refuses("10.0.0.256", "has an invalid IPv4 address");
	refuses("10.0.0", "has an invalid IPv4 address");
	refuses("bad_host:3260", "has an invalid host name (letters, digits, '-' and '.' only)");
	refuses("-a.example", "has an invalid host name (letters, digits, '-' and '.' only)");
	refuses("a-.example", "has an invalid host name (letters, digits, '-' and '.' only)");
	refuses("a..example", "has an invalid host name (letters, digits, '-' and '.' only)");
	refuses("h:0", "has an invalid port (must be 1-65535)");
	refuses("h:65536", "has an invalid port (must be 1-65535)");
	refuses("h:", "has an invalid port (must be 1-65535)");
	refuses("h:+1", "has an invalid port (must be 1-65535)");
	refuses("h:3260x", "has an invalid port (must be 1-65535)");
	refuses("[::1]:99999", "has an invalid port (must be 1-65535)");
}

static void test_host_name_limits(void **state)
{
	char label64[65], name254[255];
	char why[128];
	struct hostport p;

	memset(label64, 'a', 64);
	label64[64] = 0;
	assert_false(hostport_hostname_is_valid(label64));
	label64[63] = 0;
	assert_true(hostport_hostname_is_valid(label64));

	/* 253 characters is the longest name; one more is refused by its length. */
	memset(name254, 'a', 254);
	for (size_t i = 50; i < 254; i += 51)
		name254[i] = '.';
	name254[254] = 0;
	assert_int_equal(hostport_parse(name254, 3260, &p, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "has a host name longer than 253 characters");
	name254[253] = 0;
	assert_int_equal(hostport_parse(name254, 3260, &p, why, sizeof(why)), 0);
	assert_int_equal(strlen(p.host), 253);
}

static void test_host_kinds(void **state)
{
	assert_int_equal(hostport_host_kind("10.0.0.1"), HOSTPORT_IPV4);
	assert_int_equal(hostport_host_kind("999.1"), HOSTPORT_IPV4);
	assert_int_equal(hostport_host_kind("fd00::1"), HOSTPORT_IPV6);
	assert_int_equal(hostport_host_kind("10a.example"), HOSTPORT_NAME);
	assert_false(hostport_host_is_valid("999.1"));
	assert_true(hostport_host_is_valid("fd00::1"));
	assert_false(hostport_host_is_valid("fd00:::1"));
	assert_true(hostport_host_is_valid("10a.example"));
	assert_false(hostport_host_is_valid(""));
}

static void test_port_parse(void **state)
{
	unsigned port = 42;

	assert_int_equal(hostport_port_parse("1", &port), 0);
	assert_int_equal(port, 1);
	assert_int_equal(hostport_port_parse("65535", &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(hostport_port_parse("065535", &port), -EINVAL);
	assert_int_equal(hostport_port_parse("0", &port), -EINVAL);
	assert_int_equal(hostport_port_parse("-1", &port), -EINVAL);
	assert_int_equal(hostport_port_parse(" 1", &port), -EINVAL);
	assert_int_equal(hostport_port_parse("", &port), -EINVAL);
	assert_int_equal(port, 65535);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_forms),
	    cmocka_unit_test(test_default_port_is_the_callers),
	    cmocka_unit_test(test_bad_forms_named),
	    cmocka_unit_test(test_host_name_limits),
	    cmocka_unit_test(test_host_kinds),
	    cmocka_unit_test(test_port_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
