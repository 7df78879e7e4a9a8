/* SPDX-License-Identifier: Apache-2.0 */
/* host:port parsing and validation (see hostport.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostport.h"

int hostport_hostname_is_valid(const char *h)
{
	size_t len = strlen(h), label = 0;

	if (len == 0 || len > HOSTPORT_HOST_MAX)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		char c = h[i];

		if (c == '.' || c == 0) {
			if (label == 0 || label > 63 || h[i - 1] == '-' || h[i - label] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return 0;
		label++;
	}
	return 1;
}

enum hostport_kind hostport_host_kind(const char *host)
{
	if (strchr(host, ':'))
		return HOSTPORT_IPV6;
	if (strspn(host, "0123456789.") == strlen(host))
		return HOSTPORT_IPV4;
	return HOSTPORT_NAME;
}

int hostport_host_is_valid(const char *host)
{
	unsigned char a[16];

	switch (hostport_host_kind(host)) {
	case HOSTPORT_IPV6:
		return inet_pton(AF_INET6, host, a) == 1;
	case HOSTPORT_IPV4:
		return inet_pton(AF_INET, host, a) == 1;
	case HOSTPORT_NAME:
		return hostport_hostname_is_valid(host);
	}
	return 0;
}

int hostport_port_parse(const char *s, unsigned *ret)
{
	size_t len = strlen(s);
	char *end;
	unsigned long v;

	if (len == 0 || len > 5 || strspn(s, "0123456789") != len)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int _printf_(3, 4) why_set(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (why && n) {
		va_start(ap, fmt);
		vsnprintf(why, n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int hostport_parse(const char *s, unsigned default_port, struct hostport *ret, char *why, size_t n)
{
	struct hostport p = {.port = default_port};
	const char *host, *port = NULL;
	size_t hlen;

	if (!s || !*s)
		return why_set(why, n, "is empty");
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close)
			return why_set(why, n, "has '[' without ']' (write IPv6 as [fd00::1]:%u)",
				       default_port);
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1])
			return why_set(why, n, "has text after ']' that is not ':port'");
		if (hlen == 0 || hlen > HOSTPORT_HOST_MAX)
			return why_set(why, n, "has an empty or too long address in brackets");
		memcpy(p.host, host, hlen);
		p.host[hlen] = 0;
		if (hostport_host_kind(p.host) != HOSTPORT_IPV6 || !hostport_host_is_valid(p.host))
			return why_set(why, n, "has an invalid IPv6 address in brackets");
		p.is_ipv6 = 1;
	} else {
		const char *colon = strchr(s, ':');

		if (colon && strchr(colon + 1, ':'))
			return why_set(why, n,
				       "looks like an IPv6 address: write it in brackets, e.g. "
				       "[fd00::1]:%u",
				       default_port);
		host = s;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		if (colon)
			port = colon + 1;
		if (hlen == 0)
			return why_set(why, n, "has no host before ':'");
		if (hlen > HOSTPORT_HOST_MAX)
			return why_set(why, n, "has a host name longer than 253 characters");
		memcpy(p.host, host, hlen);
		p.host[hlen] = 0;
		if (!hostport_host_is_valid(p.host))
			return why_set(why, n,
				       hostport_host_kind(p.host) == HOSTPORT_IPV4
					   ? "has an invalid IPv4 address"
					   : "has an invalid host name (letters, digits, '-' and "
					     "'.' only)");
	}
	if (port && hostport_port_parse(port, &p.port) < 0)
		return why_set(why, n, "has an invalid port (must be 1-65535)");
	*ret = p;
	return 0;
}
