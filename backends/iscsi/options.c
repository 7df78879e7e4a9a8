/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Create options of the iscsi backend: pure parsing and validation. Every problem goes
 * into the errlist with the key it concerns and what to write instead; the CHAP secret's
 * value is never quoted back.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lib/hostport.h"
#include "lib/macro.h"

_Static_assert(BE_ISCSI_HOST_MAX == HOSTPORT_HOST_MAX, "host names are validated by lib/hostport");

static int is_all(const char *s, size_t n, int (*pred)(int))
{
	for (size_t i = 0; i < n; i++)
		if (!pred((unsigned char)s[i]))
			return 0;
	return 1;
}

static int is_printable_token(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int be_iscsi_portal_parse(const char *s, struct be_iscsi_portal *ret, char *why, size_t n)
{
	struct hostport hp;
	int r = hostport_parse(s, BE_ISCSI_DEFAULT_PORT, &hp, why, n);

	if (r < 0)
		return r;
	snprintf(ret->host, sizeof(ret->host), "%s", hp.host);
	ret->port = hp.port;
	ret->is_ipv6 = hp.is_ipv6;
	return 0;
}

int be_iscsi_portal_format(const struct be_iscsi_portal *p, char *buf, size_t n)
{
	int r = snprintf(buf, n, p->is_ipv6 ? "[%s]:%u" : "%s:%u", p->host, p->port);

	return r < 0 || (size_t)r >= n ? -ENOBUFS : 0;
}

static int is_lower_or_digit(int c)
{
	return islower(c) || isdigit(c);
}

static int is_iqn_suffix_char(int c)
{
	return isalnum(c) || c == '.' || c == ':' || c == '-' || c == '_';
}

int be_iscsi_name_is_valid(const char *s)
{
	size_t len;

	if (!s)
		return 0;
	len = strlen(s);
	if (len == 0 || len > BE_ISCSI_NAME_MAX)
		return 0;
	if (startswith(s, "eui."))
		return len == 4 + 16 && is_all(s + 4, 16, isxdigit);
	if (startswith(s, "naa."))
		return (len == 4 + 16 || len == 4 + 32) && is_all(s + 4, len - 4, isxdigit);
	if (startswith(s, "iqn.")) {
		/* iqn.YYYY-MM.reverse.domain[:anything] (RFC 3720 §3.2.6.3.1) */
		const char *d = s + 4, *dom, *colon;
		size_t domlen, label = 0;
		int month;

		if (strlen(d) < 8 || !is_all(d, 4, isdigit) || d[4] != '-' ||
		    !is_all(d + 5, 2, isdigit) || d[7] != '.')
			return 0;
		month = (d[5] - '0') * 10 + (d[6] - '0');
		if (month < 1 || month > 12)
			return 0;
		dom = d + 8;
		colon = strchr(dom, ':');
		domlen = colon ? (size_t)(colon - dom) : strlen(dom);
		if (domlen == 0)
			return 0;
		for (size_t i = 0; i <= domlen; i++) {
			if (i == domlen || dom[i] == '.') {
				if (label == 0)
					return 0;
				label = 0;
			} else if (is_lower_or_digit((unsigned char)dom[i]) || dom[i] == '-') {
				label++;
			} else {
				return 0;
			}
		}
		if (colon) {
			if (!colon[1])
				return 0;
			if (!is_all(colon + 1, strlen(colon + 1), is_iqn_suffix_char))
				return 0;
		}
		return 1;
	}
	return 0;
}

int be_iscsi_wwid_is_valid(const char *w)
{
	size_t len = w ? strlen(w) : 0;

	if (len < 5)
		return 0;
	if (startswith(w, "naa.") || startswith(w, "eui.")) {
		size_t h = len - 4;

		/* EUI-64 ids are 8/12/16 bytes, NAA 8/16; a SCSI name string may hold either. */
		return (h == 16 || h == 24 || h == 32) && is_all(w + 4, h, isxdigit);
	}
	if (startswith(w, "t10."))
		return 1; /* vendor id + vendor text: any printable bytes, spaces included */
	if (startswith(w, "iqn."))
		return is_printable_token(w);
	return 0;
}

static void add_portal(struct be_iscsi_cfg *c, const char *key, const char *text,
		       struct errlist *el, int *bad)
{
	struct be_iscsi_portal p;
	char why[128];

	if (be_iscsi_portal_parse(text, &p, why, sizeof(why)) < 0) {
		errlist_add(el, "'%s' entry \"%.80s\" %s; write host:port, e.g. 10.0.0.5:3260", key,
			    text, why);
		*bad = 1;
		return;
	}
	for (unsigned i = 0; i < c->n_portals; i++)
		if (streq(c->portals[i].host, p.host) && c->portals[i].port == p.port) {
			errlist_add(el, "'%s' lists %.80s twice; give each portal once", key, text);
			*bad = 1;
			return;
		}
	if (c->n_portals >= BE_ISCSI_MAX_PORTALS) {
		errlist_add(el, "'%s' has more than %d portals; list at most %d", key,
			    BE_ISCSI_MAX_PORTALS, BE_ISCSI_MAX_PORTALS);
		*bad = 1;
		return;
	}
	c->portals[c->n_portals++] = p;
}

/* A comma-separated string: "a:3260, b:3260" (blanks around entries are ignored). */
static void add_portal_list(struct be_iscsi_cfg *c, const char *key, const char *text,
			    struct errlist *el, int *bad)
{
	_cleanup_free_ char *copy = strdup(text);
	char *rest = copy, *tok;

	if (!copy) {
		errlist_add(el, "'%s': out of memory", key);
		*bad = 1;
		return;
	}
	if (!*copy) {
		errlist_add(el, "'%s' is empty; give at least one host:port", key);
		*bad = 1;
		return;
	}
	/* strsep, not strtok: "a,,b" must be reported, not silently read as "a,b". */
	while ((tok = strsep(&rest, ","))) {
		char *end;

		while (isspace((unsigned char)*tok))
			tok++;
		end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = 0;
		if (!*tok) {
			errlist_add(el,
				    "'%s' has an empty entry; separate portals with single commas",
				    key);
			*bad = 1;
			continue;
		}
		add_portal(c, key, tok, el, bad);
	}
}

static void parse_portals(const json_t *opts, struct be_iscsi_cfg *c, struct errlist *el, int *bad)
{
	const json_t *many = json_object_get(opts, "portals");
	const json_t *one = json_object_get(opts, "portal");

	if (many && one) {
		errlist_add(el, "give either 'portal' or 'portals', not both");
		*bad = 1;
		return;
	}
	if (!many && !one) {
		errlist_add(el, "'portals' is required: the target's portals as a list of "
				"\"host:port\" (or 'portal' for one)");
		*bad = 1;
		return;
	}
	if (one) {
		if (!json_is_string(one)) {
			errlist_add(el, "'portal' must be a string \"host:port\"");
			*bad = 1;
			return;
		}
		add_portal(c, "portal", json_string_value(one), el, bad);
		return;
	}
	if (json_is_string(many)) {
		add_portal_list(c, "portals", json_string_value(many), el, bad);
		return;
	}
	if (!json_is_array(many)) {
		errlist_add(el, "'portals' must be a list of \"host:port\" strings or a "
				"comma-separated string");
		*bad = 1;
		return;
	}
	if (json_array_size(many) == 0) {
		errlist_add(el, "'portals' is empty; give at least one host:port");
		*bad = 1;
		return;
	}
	for (size_t i = 0; i < json_array_size(many); i++) {
		const json_t *v = json_array_get(many, i);

		if (!json_is_string(v)) {
			errlist_add(el, "'portals' entry %zu must be a string \"host:port\"", i);
			*bad = 1;
			continue;
		}
		add_portal(c, "portals", json_string_value(v), el, bad);
	}
}

static const char *const target_keys[] = {"portal", "iqn", NULL};

/* 'targets': [{"portal": "host:port", "iqn": "iqn..."}, ...], one entry per path for arrays
 * that give each target port its own name. */
static void parse_targets(const json_t *many, struct be_iscsi_cfg *c, struct errlist *el, int *bad)
{
	if (!json_is_array(many) || json_array_size(many) == 0) {
		errlist_add(el, "'targets' must be a non-empty list of {\"portal\": \"host:port\", "
				"\"iqn\": \"iqn...\"} objects, one per path");
		*bad = 1;
		return;
	}
	if (json_array_size(many) > BE_ISCSI_MAX_PORTALS) {
		errlist_add(el, "'targets' has %zu entries; a volume has at most %d paths",
			    json_array_size(many), BE_ISCSI_MAX_PORTALS);
		*bad = 1;
		return;
	}
	for (size_t i = 0; i < json_array_size(many); i++) {
		const json_t *t = json_array_get(many, i);
		const json_t *portal = json_object_get(t, "portal"),
			     *iqn = json_object_get(t, "iqn");
		struct be_iscsi_target tg = {0};
		const char *key, *pt = json_string_value(portal);
		char why[128];
		json_t *v;
		int ok = 1;

		if (!json_is_object(t)) {
			errlist_add(el,
				    "'targets' entry %zu must be an object {\"portal\": "
				    "\"host:port\", \"iqn\": \"iqn...\"}",
				    i);
			*bad = 1;
			continue;
		}
		json_object_foreach((json_t *)t, key, v)
		{
			int known = 0;

			for (const char *const *k = target_keys; *k; k++)
				known |= streq(*k, key);
			if (!known) {
				errlist_add(el,
					    "'targets' entry %zu has unknown key '%.40s'; an entry "
					    "has only 'portal' and 'iqn'",
					    i, key);
				ok = 0;
			}
		}
		if (!pt) {
			errlist_add(
			    el, "'targets' entry %zu needs 'portal', a string \"host:port\"", i);
			ok = 0;
		} else if (be_iscsi_portal_parse(pt, &tg.portal, why, sizeof(why)) < 0) {
			errlist_add(el,
				    "'targets' entry %zu: portal \"%.80s\" %s; write host:port, "
				    "e.g. 10.0.0.5:3260",
				    i, pt, why);
			ok = 0;
		}
		if (!json_is_string(iqn) || !be_iscsi_name_is_valid(json_string_value(iqn))) {
			if (json_is_string(iqn))
				errlist_add(el,
					    "'targets' entry %zu: iqn \"%.80s\" is not an iSCSI "
					    "name; write iqn.YYYY-MM.reverse.domain[:name] or "
					    "eui.<16 hex digits>",
					    i, json_string_value(iqn));
			else
				errlist_add(el,
					    "'targets' entry %zu needs 'iqn', the target's iSCSI "
					    "name as a string",
					    i);
			ok = 0;
		} else {
			snprintf(tg.iqn, sizeof(tg.iqn), "%s", json_string_value(iqn));
		}
		for (unsigned j = 0; ok && j < c->n_paths; j++)
			if (streq(c->paths[j].iqn, tg.iqn) &&
			    streq(c->paths[j].portal.host, tg.portal.host) &&
			    c->paths[j].portal.port == tg.portal.port) {
				errlist_add(
				    el,
				    "'targets' entry %zu (%.80s at %.80s) repeats entry %u; "
				    "give each path once",
				    i, tg.iqn, pt, j);
				ok = 0;
			}
		if (!ok) {
			*bad = 1;
			continue;
		}
		c->paths[c->n_paths++] = tg;
	}
	/* The volume's name for dedupe and messages: the same whatever the entries' order. */
	for (unsigned j = 0; j < c->n_paths; j++)
		if (!c->iqn[0] || strcmp(c->paths[j].iqn, c->iqn) < 0)
			snprintf(c->iqn, sizeof(c->iqn), "%s", c->paths[j].iqn);
}

void be_iscsi_cfg_for_path(const struct be_iscsi_cfg *c, unsigned i, struct be_iscsi_cfg *ret)
{
	*ret = *c;
	if (i < c->n_paths)
		snprintf(ret->iqn, sizeof(ret->iqn), "%s", c->paths[i].iqn);
}

static void parse_iqn(const json_t *v, struct be_iscsi_cfg *c, struct errlist *el, int *bad)
{
	if (!v) {
		errlist_add(el, "'iqn' is required: the target's iSCSI name, e.g. "
				"iqn.2003-01.org.example:vol1 (or 'targets' for one name per "
				"portal)");
		*bad = 1;
	} else if (!json_is_string(v) || !be_iscsi_name_is_valid(json_string_value(v))) {
		if (json_is_string(v))
			errlist_add(el,
				    "'iqn' \"%.80s\" is not an iSCSI name: write "
				    "iqn.YYYY-MM.reverse.domain[:name] (e.g. "
				    "iqn.2003-01.org.example:vol1) or eui.<16 hex digits>",
				    json_string_value(v));
		else
			errlist_add(el,
				    "'iqn' must be a string, e.g. iqn.2003-01.org.example:vol1");
		*bad = 1;
	} else {
		snprintf(c->iqn, sizeof(c->iqn), "%s", json_string_value(v));
	}
}

static void parse_lun(const json_t *v, struct be_iscsi_cfg *c, struct errlist *el, int *bad)
{
	long long n = -1;

	if (!v) {
		errlist_add(el, "'lun' is required: the LUN number on the target (0-%d)",
			    BE_ISCSI_LUN_MAX);
		*bad = 1;
		return;
	}
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = strlen(s);

		if (len > 0 && len <= 5 && is_all(s, len, isdigit))
			n = strtoll(s, NULL, 10);
	}
	if (n < 0 || n > BE_ISCSI_LUN_MAX) {
		if (json_is_string(v))
			errlist_add(el, "'lun' must be an integer 0-%d (got \"%.40s\")",
				    BE_ISCSI_LUN_MAX, json_string_value(v));
		else
			errlist_add(el, "'lun' must be an integer 0-%d", BE_ISCSI_LUN_MAX);
		*bad = 1;
		return;
	}
	c->lun = (unsigned)n;
}

static int chap_text_is_valid(const char *s)
{
	size_t len = strlen(s);

	/* Goes into open-iscsi's line-based node record: no control bytes, and no space at
	 * either end (idbm strips them when it reads the record: the login would use another
	 * value than the one given). */
	if (len == 0 || len > BE_ISCSI_CHAP_MAX || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

static void parse_chap(const json_t *opts, struct be_iscsi_cfg *c, struct errlist *el, int *bad)
{
	const json_t *u = json_object_get(opts, "chap_user");
	const json_t *p = json_object_get(opts, "chap_secret");

	if (!u && !p)
		return;
	if (!u || !p) {
		errlist_add(el, "'chap_user' and 'chap_secret' go together: give both or neither");
		*bad = 1;
	}
	if (u) {
		if (!json_is_string(u) || !chap_text_is_valid(json_string_value(u))) {
			errlist_add(el,
				    "'chap_user' must be a string of 1-%d printable characters, "
				    "not starting or ending with a space",
				    BE_ISCSI_CHAP_MAX);
			*bad = 1;
		} else {
			snprintf(c->chap_user, sizeof(c->chap_user), "%s", json_string_value(u));
		}
	}
	if (p) {
		/* Never quote the value back. */
		if (!json_is_string(p) || !chap_text_is_valid(json_string_value(p))) {
			errlist_add(el,
				    "'chap_secret' must be a string of 1-%d printable characters, "
				    "not starting or ending with a space",
				    BE_ISCSI_CHAP_MAX);
			*bad = 1;
		} else {
			snprintf(c->chap_secret, sizeof(c->chap_secret), "%s",
				 json_string_value(p));
		}
	}
}

int be_iscsi_parse(const json_t *opts, void **ret_cfg, struct errlist *el)
{
	_cleanup_free_ struct be_iscsi_cfg *c = calloc(1, sizeof(*c));
	const json_t *v;
	int bad = 0;

	if (!c) {
		errlist_add(el, "out of memory");
		return -ENOMEM;
	}
	if (!opts || !json_is_object(opts))
		opts = NULL; /* json_object_get(NULL, ...) is NULL: every key is missing */

	v = json_object_get(opts, "targets");
	if (v) {
		if (json_object_get(opts, "portal") || json_object_get(opts, "portals") ||
		    json_object_get(opts, "iqn")) {
			errlist_add(el, "give either 'targets' (a portal and an iqn per path) or "
					"'portals' with one 'iqn', not both");
			bad = 1;
		} else {
			c->has_targets = 1;
			parse_targets(v, c, el, &bad);
		}
	} else {
		parse_portals(opts, c, el, &bad);
		parse_iqn(json_object_get(opts, "iqn"), c, el, &bad);
		for (unsigned i = 0; i < c->n_portals; i++) {
			c->paths[i].portal = c->portals[i];
			snprintf(c->paths[i].iqn, sizeof(c->paths[i].iqn), "%s", c->iqn);
		}
		c->n_paths = c->n_portals;
	}

	parse_lun(json_object_get(opts, "lun"), c, el, &bad);

	v = json_object_get(opts, "wwid");
	if (v) {
		if (!json_is_string(v) ||
		    be_iscsi_wwid_normalize(json_string_value(v), c->wwid, sizeof(c->wwid)) < 0 ||
		    !be_iscsi_wwid_is_valid(c->wwid)) {
			errlist_add(el,
				    "'wwid' must be the LUN's WWID as Linux shows it in "
				    "/sys/block/sdX/device/wwid (naa.<hex>, eui.<hex>, t10.<text>) "
				    "or udev's form (3<hex> for NAA)");
			c->wwid[0] = 0;
			bad = 1;
		}
	}

	parse_chap(opts, c, el, &bad);

	if (bad) {
		explicit_bzero(c->chap_secret, sizeof(c->chap_secret));
		return -EINVAL;
	}
	*ret_cfg = TAKE_PTR(c);
	return 0;
}

void be_iscsi_free_cfg(void *cfg)
{
	struct be_iscsi_cfg *c = cfg;

	if (!c)
		return;
	explicit_bzero(c->chap_secret, sizeof(c->chap_secret));
	free(c);
}

int be_iscsi_describe(const void *cfg, char *buf, size_t n)
{
	const struct be_iscsi_cfg *c = cfg;
	int r = snprintf(buf, n, "iscsi:%s:%u", c->iqn, c->lun);

	return r < 0 || (size_t)r >= n ? -ENOBUFS : 0;
}
