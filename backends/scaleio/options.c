/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Create options of the scaleio backend: system_id and volume_id, the 16-hex-digit ids the
 * gateway and the SDC's udev link (emc-vol-<system>-<volume>) use. The gateway endpoint and
 * credentials are agent config, never options.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

int be_sio_id_is_valid(const char *s)
{
	if (!s || strlen(s) != BE_SIO_ID_LEN)
		return 0;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	return 1;
}

int be_sio_guid_is_valid(const char *s)
{
	static const int groups[] = {8, 4, 4, 4, 12};

	if (!s)
		return 0;
	for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
		for (int i = 0; i < groups[g]; i++, s++)
			if (!isxdigit((unsigned char)*s))
				return 0;
		if (g + 1 < ELEMENTSOF(groups) && *s++ != '-')
			return 0;
	}
	return *s == 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void parse_id(const json_t *opts, const char *key, char *out, struct errlist *el)
{
	const json_t *v = json_object_get(opts, key);
	const char *s;

	if (!v || json_is_null(v)) {
		errlist_add(el, "%s: required (the %s id, 16 hex digits, as the gateway shows it)",
			    key, streq(key, "system_id") ? "PowerFlex system" : "volume");
		return;
	}
	s = json_string_value(v);
	if (!s) {
		errlist_add(el, "%s: must be a string of 16 hex digits", key);
		return;
	}
	if (!be_sio_id_is_valid(s)) {
		errlist_add(el, "%s: '%.40s' is not 16 hex digits (e.g. 14dbbf5617523654)", key, s);
		return;
	}
	memcpy(out, s, BE_SIO_ID_LEN + 1);
	lower(out);
}

static int parse_readonly(const json_t *v)
{
	const char *s;

	if (json_is_true(v))
		return 1;
	if (json_is_integer(v))
		return json_integer_value(v) == 1;
	s = json_string_value(v);
	return s && (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"));
}

int be_sio_parse(const json_t *opts, void **ret_cfg, struct errlist *el)
{
	struct be_sio_cfg *c;
	unsigned before = el->n;

	c = calloc(1, sizeof(*c));
	if (!c) {
		errlist_add(el, "out of memory");
		return -ENOMEM;
	}
	parse_id(opts, "system_id", c->system_id, el);
	parse_id(opts, "volume_id", c->volume_id, el);
	/* Validated by attach/ (a bool); read here because a read-only attach may share the
	 * volume with other SDCs and a read-write one may not. */
	c->readonly = parse_readonly(json_object_get(opts, "readonly"));
	if (el->n > before) {
		free(c);
		return -EINVAL;
	}
	*ret_cfg = c;
	return 0;
}

void be_sio_free_cfg(void *cfg)
{
	free(cfg);
}

int be_sio_describe(const void *cfg, char *buf, size_t n)
{
	const struct be_sio_cfg *c = cfg;
	int r = snprintf(buf, n, "scaleio:%s-%s", c->system_id, c->volume_id);

	return r < 0 || (size_t)r >= n ? -ENOBUFS : 0;
}
