/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Create options of the nvme backend: pure parsing and validation. Every problem goes into
 * the errlist with the key it concerns and what to write instead.
 *
 * The subsystem NQN and the address end up inside the comma-separated option string the
 * kernel parses (drivers/nvme/host/fabrics.c, nvmf_parse_options): a ',' or '=' in them
 * would inject options, so the validators refuse them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lib/hostport.h"
#include "lib/macro.h"

_Static_assert(BE_NVME_HOST_MAX == HOSTPORT_HOST_MAX, "host names are validated by lib/hostport");

#define UUID_NQN_PREFIX "nqn.2014-08.org.nvmexpress:uuid:"
#define DISCOVERY_NQN "nqn.2014-08.org.nvmexpress.discovery"

static const struct be_nvme_fabrics_ops *default_fabrics(void)
{
	return &be_nvme_fabrics_real;
}

void be_nvme_cfg_set_fabrics_ops(void *cfg, const struct be_nvme_fabrics_ops *ops, void *ud)
{
	struct be_nvme_cfg *c = cfg;

	c->fabrics = ops ? ops : default_fabrics();
	c->fabrics_ud = ud;
}

const char *be_nvme_id_kind_name(enum be_nvme_id_kind k)
{
	switch (k) {
	case BE_NVME_ID_UUID:
		return "uuid";
	case BE_NVME_ID_NGUID:
		return "nguid";
	case BE_NVME_ID_NSID:
		return "nsid";
	}
	return "?";
}

int be_nvme_uuid_normalize(const char *in, int allow_plain, char *buf, size_t n)
{
	char hex[33];
	size_t len, k = 0;

	if (!in || n < BE_NVME_UUID_STR + 1)
		return -EINVAL;
	len = strlen(in);
	if (len == BE_NVME_UUID_STR) {
		for (size_t i = 0; i < len; i++) {
			int dash = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash ? in[i] != '-' : !isxdigit((unsigned char)in[i]))
				return -EINVAL;
			if (!dash)
				hex[k++] = (char)tolower((unsigned char)in[i]);
		}
	} else if (allow_plain && len == 32) {
		for (size_t i = 0; i < len; i++) {
			if (!isxdigit((unsigned char)in[i]))
				return -EINVAL;
			hex[k++] = (char)tolower((unsigned char)in[i]);
		}
	} else {
		return -EINVAL;
	}
	hex[32] = 0;
	snprintf(buf, n, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return 0;
}

static int is_zero_uuid(const char *u)
{
	return strspn(u, "0-") == strlen(u);
}

int be_nvme_nqn_is_valid(const char *s)
{
	const char *d, *dom, *colon;
	size_t len, domlen, label = 0;
	int month;

	if (!s)
		return 0;
	len = strlen(s);
	if (len < 4 || len > BE_NVME_NQN_MAX || !startswith(s, "nqn."))
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == ',' || *p == '=')
			return 0;
	if (startswith(s, UUID_NQN_PREFIX)) {
		char u[BE_NVME_UUID_STR + 1];

		return be_nvme_uuid_normalize(s + strlen(UUID_NQN_PREFIX), 0, u, sizeof(u)) == 0;
	}
	if (streq(s, DISCOVERY_NQN))
		return 0; /* the discovery controller has no namespaces to attach */
	/* nqn.YYYY-MM.reverse.domain:name (NVMe base spec 4.5, "NVMe Qualified Names") */
	d = s + 4;
	if (strlen(d) < 8 || strspn(d, "0123456789") != 4 || d[4] != '-' ||
	    !isdigit((unsigned char)d[5]) || !isdigit((unsigned char)d[6]) || d[7] != '.')
		return 0;
	month = (d[5] - '0') * 10 + (d[6] - '0');
	if (month < 1 || month > 12)
		return 0;
	dom = d + 8;
	colon = strchr(dom, ':');
	if (!colon || !colon[1])
		return 0;
	domlen = (size_t)(colon - dom);
	if (domlen == 0)
		return 0;
	for (size_t i = 0; i <= domlen; i++) {
		if (i == domlen || dom[i] == '.') {
			if (label == 0 || label > 63)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)dom[i]) || dom[i] == '-') {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

/* One address of 'traddr' (a list entry when given several): "10.0.0.5", "fd00::5",
 * "[fd00::5]" or a host name; the port is 'trsvcid', for every address. */
static int parse_one_traddr(const char *s, size_t len, int listed, char *out, struct errlist *el)
{
	const char *what = listed ? "an entry of 'traddr'" : "'traddr'";
	char host[BE_NVME_HOST_MAX + 1];

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len > BE_NVME_HOST_MAX) {
		errlist_add(el,
			    "%s must be an IPv4 or IPv6 address or a host name (1-%d "
			    "characters)%s",
			    what, BE_NVME_HOST_MAX, listed ? ", not empty" : "");
		return -EINVAL;
	}
	memcpy(host, s, len);
	host[len] = 0;
	if (!hostport_host_is_valid(host)) {
		switch (hostport_host_kind(host)) {
		case HOSTPORT_IPV6:
			errlist_add(el, "'traddr' \"%.80s\" is not a valid IPv6 address", host);
			break;
		case HOSTPORT_IPV4:
			errlist_add(el, "'traddr' \"%.80s\" is not a valid IPv4 address", host);
			break;
		case HOSTPORT_NAME:
			errlist_add(el,
				    "'traddr' \"%.80s\" is not an address or a host name (letters, "
				    "digits, '-' and '.' only); the port goes in 'trsvcid'",
				    host);
			break;
		}
		return -EINVAL;
	}
	memcpy(out, host, len + 1);
	return 0;
}

static void add_traddr(struct be_nvme_cfg *c, const char *s, size_t len, int listed,
		       struct errlist *el, int *bad)
{
	char host[BE_NVME_HOST_MAX + 1];

	if (parse_one_traddr(s, len, listed, host, el) < 0) {
		*bad = 1;
		return;
	}
	for (unsigned i = 0; i < c->n_traddr; i++)
		if (be_nvme_addr_equal(c->traddr[i], host)) {
			errlist_add(el,
				    "'traddr' lists %.80s twice: give each port of the subsystem "
				    "once",
				    host);
			*bad = 1;
			return;
		}
	if (c->n_traddr >= BACKEND_MAX_PATHS) {
		*bad = 1; /* counted and reported by the caller */
		c->n_traddr++;
		return;
	}
	memcpy(c->traddr[c->n_traddr++], host, strlen(host) + 1);
}

/*
 * 'traddr': one address, or several ports of the one subsystem (native NVMe multipath) as
 * a JSON array of strings or a comma-separated string ("10.0.0.5,10.0.0.6"). trsvcid
 * applies to each.
 */
static void parse_traddr(const json_t *v, struct be_nvme_cfg *c, struct errlist *el, int *bad)
{
	unsigned given = 0;

	if (!v) {
		errlist_add(el,
			    "'traddr' is required: the NVMe/TCP target's address, e.g. 10.0.0.5 "
			    "(or several ports of the subsystem: [\"10.0.0.5\", \"10.0.1.5\"])");
		*bad = 1;
		return;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *x;

		if (json_array_size(v) == 0) {
			errlist_add(el, "'traddr' is an empty list: give at least one address");
			*bad = 1;
			return;
		}
		json_array_foreach(v, i, x)
		{
			if (!json_is_string(x)) {
				errlist_add(el,
					    "'traddr' entry %zu must be a string: an IPv4 or "
					    "IPv6 address or a host name",
					    i + 1);
				*bad = 1;
				continue;
			}
			add_traddr(c, json_string_value(x), strlen(json_string_value(x)), 1, el,
				   bad);
		}
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		int listed = strchr(s, ',') != NULL;

		for (;;) {
			size_t len = strcspn(s, ",");

			add_traddr(c, s, len, listed, el, bad);
			if (!s[len])
				break;
			s += len + 1;
		}
	} else {
		errlist_add(el, "'traddr' must be a string (an IPv4 or IPv6 address or a host "
				"name) or a list of them");
		*bad = 1;
		return;
	}
	given = c->n_traddr;
	if (given > BACKEND_MAX_PATHS) {
		errlist_add(el, "'traddr' lists %u addresses; at most %d paths per volume", given,
			    BACKEND_MAX_PATHS);
		c->n_traddr = BACKEND_MAX_PATHS;
	}
}

static void parse_trsvcid(const json_t *v, struct be_nvme_cfg *c, struct errlist *el, int *bad)
{
	long long p = -1;

	if (!v) {
		c->trsvcid = BE_NVME_DEFAULT_PORT;
		return;
	}
	if (json_is_integer(v)) {
		p = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = strlen(s);

		if (len > 0 && len <= 5 && strspn(s, "0123456789") == len)
			p = strtoll(s, NULL, 10);
	}
	if (p < 1 || p > 65535) {
		errlist_add(el, "'trsvcid' must be a TCP port 1-65535 (default %d)",
			    BE_NVME_DEFAULT_PORT);
		*bad = 1;
		return;
	}
	c->trsvcid = (unsigned)p;
}

static void parse_subnqn(const json_t *v, struct be_nvme_cfg *c, struct errlist *el, int *bad)
{
	if (!v) {
		errlist_add(el, "'subnqn' is required: the NVMe subsystem's NQN, e.g. "
				"nqn.2024-01.com.example:vol1");
		*bad = 1;
		return;
	}
	if (!json_is_string(v) || !be_nvme_nqn_is_valid(json_string_value(v))) {
		if (json_is_string(v) && streq(json_string_value(v), DISCOVERY_NQN))
			errlist_add(el, "'subnqn' is the discovery NQN; give the NQN of the "
					"subsystem that holds the namespace");
		else if (json_is_string(v))
			errlist_add(
			    el,
			    "'subnqn' \"%.80s\" is not an NVMe qualified name: write "
			    "nqn.YYYY-MM.reverse.domain:name (e.g. "
			    "nqn.2024-01.com.example:vol1) or "
			    "nqn.2014-08.org.nvmexpress:uuid:<uuid>, at most %d characters, "
			    "no ',' '=' or blanks",
			    json_string_value(v), BE_NVME_NQN_MAX);
		else
			errlist_add(el,
				    "'subnqn' must be a string, e.g. nqn.2024-01.com.example:vol1");
		*bad = 1;
		return;
	}
	snprintf(c->subnqn, sizeof(c->subnqn), "%s", json_string_value(v));
}

static void parse_id(const json_t *opts, struct be_nvme_cfg *c, struct errlist *el, int *bad)
{
	const json_t *u = json_object_get(opts, "uuid");
	const json_t *g = json_object_get(opts, "nguid");
	const json_t *n = json_object_get(opts, "nsid");
	int given = !!u + !!g + !!n;

	if (given == 0) {
		errlist_add(el, "one of 'uuid', 'nguid' or 'nsid' is required: which namespace of "
				"the subsystem to attach");
		*bad = 1;
		return;
	}
	if (given > 1) {
		errlist_add(el, "give exactly one of 'uuid', 'nguid' or 'nsid', not %s",
			    u && g && n ? "all three"
			    : u && g	? "'uuid' and 'nguid'"
			    : u		? "'uuid' and 'nsid'"
					: "'nguid' and 'nsid'");
		*bad = 1;
	}
	if (u) {
		if (!json_is_string(u) ||
		    be_nvme_uuid_normalize(json_string_value(u), 0, c->id, sizeof(c->id)) < 0 ||
		    is_zero_uuid(c->id)) {
			errlist_add(el,
				    "'uuid' must be the namespace UUID as 8-4-4-4-12 hex digits, "
				    "e.g. 5f1d9a4e-3c2b-4e8f-9a71-0c6b2d4e8f10 (not all zero)");
			*bad = 1;
		}
		c->id_kind = BE_NVME_ID_UUID;
	}
	if (g) {
		if (!json_is_string(g) ||
		    be_nvme_uuid_normalize(json_string_value(g), 1, c->id, sizeof(c->id)) < 0 ||
		    is_zero_uuid(c->id)) {
			errlist_add(
			    el, "'nguid' must be the namespace's NGUID: 32 hex digits, plain or "
				"written 8-4-4-4-12 (not all zero)");
			*bad = 1;
		}
		c->id_kind = BE_NVME_ID_NGUID;
	}
	if (n) {
		long long v = -1;

		if (json_is_integer(n)) {
			v = json_integer_value(n);
		} else if (json_is_string(n)) {
			const char *s = json_string_value(n);
			size_t len = strlen(s);

			if (len > 0 && len <= 10 && strspn(s, "0123456789") == len)
				v = strtoll(s, NULL, 10);
		}
		/* 0 is no namespace and 0xffffffff means "all namespaces" (broadcast). */
		if (v < 1 || v > 0xfffffffeLL) {
			errlist_add(el, "'nsid' must be a namespace ID 1-4294967294");
			*bad = 1;
		} else {
			c->nsid = (uint32_t)v;
			snprintf(c->id, sizeof(c->id), "%u", c->nsid);
		}
		c->id_kind = BE_NVME_ID_NSID;
	}
}

int be_nvme_parse(const json_t *opts, void **ret_cfg, struct errlist *el)
{
	_cleanup_free_ struct be_nvme_cfg *c = calloc(1, sizeof(*c));
	int bad = 0;

	if (!c) {
		errlist_add(el, "out of memory");
		return -ENOMEM;
	}
	if (!opts || !json_is_object(opts))
		opts = NULL; /* json_object_get(NULL, ...) is NULL: every key is missing */

	parse_traddr(json_object_get(opts, "traddr"), c, el, &bad);
	parse_trsvcid(json_object_get(opts, "trsvcid"), c, el, &bad);
	parse_subnqn(json_object_get(opts, "subnqn"), c, el, &bad);
	parse_id(opts, c, el, &bad);
	if (bad)
		return -EINVAL;
	c->fabrics = default_fabrics();
	*ret_cfg = TAKE_PTR(c);
	return 0;
}

void be_nvme_free_cfg(void *cfg)
{
	free(cfg);
}

int be_nvme_describe(const void *cfg, char *buf, size_t n)
{
	const struct be_nvme_cfg *c = cfg;
	int r = snprintf(buf, n, "nvme:%s:%s", c->subnqn, c->id);

	return r < 0 || (size_t)r >= n ? -ENOBUFS : 0;
}
