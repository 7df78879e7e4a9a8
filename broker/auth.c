/* SPDX-License-Identifier: Apache-2.0 */
/* Basic auth and the API version header (pure, tested in tests/unit/test_broker.c). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker/broker.h"
#include "lib/macro.h"

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int broker_base64_decode(const char *in, char *out, size_t n, size_t *ret_len)
{
	size_t len = strlen(in), o = 0;

	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -EINVAL;
			v[k] = b64val((unsigned char)in[i + k]);
			if (v[k] < 0)
				return -EINVAL;
		}
		unsigned x = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);

		for (int k = 0; k < 3 - pad; k++) {
			if (o + 1 >= n)
				return -ENOBUFS;
			out[o++] = (char)(x >> (16 - 8 * k) & 0xff);
		}
	}
	out[o] = 0;
	*ret_len = o;
	return 0;
}

int broker_secret_equal(const char *a, const char *want)
{
	size_t la = strlen(a), lw = strlen(want);
	unsigned char diff = la != lw;

	for (size_t i = 0; i < lw; i++)
		diff |= (unsigned char)((i < la ? a[i] : 0) ^ want[i]);
	return diff == 0;
}

int broker_auth_check(const char *header, const char *user, const char *password)
{
	char buf[1024], *colon;
	size_t len;
	int ok;

	if (!header || strncasecmp(header, "Basic ", 6) != 0)
		return -EACCES;
	header += 6;
	while (*header == ' ')
		header++;
	if (broker_base64_decode(header, buf, sizeof(buf), &len) < 0 || strlen(buf) != len)
		return -EACCES;
	colon = strchr(buf, ':');
	if (!colon) {
		explicit_bzero(buf, sizeof(buf));
		return -EACCES;
	}
	*colon = 0;
	/* Both compared every time, so the answer's timing does not tell which was wrong. */
	ok = broker_secret_equal(buf, user) & broker_secret_equal(colon + 1, password);
	explicit_bzero(buf, sizeof(buf));
	return ok ? 0 : -EACCES;
}

int broker_api_version_parse(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	unsigned long a, b;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	a = strtoul(s, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -EINVAL;
	b = strtoul(end + 1, &end, 10);
	if (*end || a > 1000 || b > 1000)
		return -EINVAL;
	*ret_major = (unsigned)a;
	*ret_minor = (unsigned)b;
	return 0;
}
