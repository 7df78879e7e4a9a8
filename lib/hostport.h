/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network addresses as users write them: "host:port", "[v6]:port", or a bare host with a
 * default port. A host is an IPv4 address (anything of only digits and dots is meant as
 * one), an IPv6 address (in brackets when a port may follow), or an RFC 1123 host name.
 */
#pragma once

#include <stddef.h>

#include "macro.h"

#define HOSTPORT_HOST_MAX 253 /* DNS name limit; also fits any IPv6 literal */

struct hostport {
	char host[HOSTPORT_HOST_MAX + 1]; /* IPv4, host name, or IPv6 without brackets */
	unsigned port;
	int is_ipv6;
};

enum hostport_kind {
	HOSTPORT_NAME,
	HOSTPORT_IPV4,
	HOSTPORT_IPV6,
};

/* What a host (no brackets, no port) is meant as: IPv6 if it has a ':', IPv4 if it is all
 * digits and dots, else a host name. */
enum hostport_kind hostport_host_kind(const char *host);
/* 1 if host (no brackets, no port) is a valid instance of its kind, else 0. */
int hostport_host_is_valid(const char *host);
/* RFC 1123 host name: dot-separated labels of letters, digits and '-', 1-63 each. */
int hostport_hostname_is_valid(const char *h);
/* Decimal TCP port 1-65535 (digits only) -> 0, else -EINVAL. */
int hostport_port_parse(const char *s, unsigned *ret);
/* "host[:port]" / "[v6][:port]" -> ret (port default_port when none is given). On -EINVAL,
 * why (may be NULL) says what is wrong, e.g. "has an invalid port (must be 1-65535)". */
int hostport_parse(const char *s, unsigned default_port, struct hostport *ret, char *why, size_t n);
