/* SPDX-License-Identifier: Apache-2.0 */
/* Pure parts of the broker: sizes, user parameters, names derived from instance ids. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "broker/broker.h"
#include "lib/jsonx.h"
#include "lib/macro.h"

const char *broker_backend_name(enum broker_backend b)
{
	switch (b) {
	case BROKER_BE_SCALEIO:
		return "scaleio";
	case BROKER_BE_ISCSI:
		return "iscsi";
	case BROKER_BE_NVME:
		return "nvme";
	case BROKER_BE_FILE:
		return "file";
	}
	return "?";
}

static const struct {
	const char *suffix;
	unsigned shift;
} units[] = {
    {"", 0},	 {"K", 10},   {"M", 20},   {"G", 30},	{"T", 40},
    {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
};

int broker_size_parse(const char *s, uint64_t *ret, const char **why)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || !*s) {
		*why = "is empty";
		return -EINVAL;
	}
	if (!isdigit((unsigned char)*p)) {
		*why = "must be a whole number with a unit, such as \"20G\" or \"512M\"";
		return -EINVAL;
	}
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10) {
			*why = "is too large";
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	if (*p == '.') {
		*why = "must be a whole number (write 1536M, not 1.5G)";
		return -EINVAL;
	}
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (strcasecmp(p, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift)) {
			*why = "is too large";
			return -ERANGE;
		}
		if (v == 0) {
			*why = "must be greater than 0";
			return -EINVAL;
		}
		*ret = v << units[i].shift;
		return 0;
	}
	if (strlen(p) == 2 && strchr("KkMmGgTt", p[0]) && (p[1] == 'B' || p[1] == 'b')) {
		*why = "has an ambiguous unit: use G or GiB (binary, 2^30)";
		return -EINVAL;
	}
	*why = "has an unknown unit (use K, M, G, T or KiB, MiB, GiB, TiB)";
	return -EINVAL;
}

void broker_size_format(uint64_t bytes, char *buf, size_t n)
{
	static const struct {
		char c;
		unsigned shift;
	} u[] = {{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}};

	for (size_t i = 0; i < ELEMENTSOF(u); i++)
		if (bytes && bytes % (1ull << u[i].shift) == 0) {
			snprintf(buf, n, "%" PRIu64 "%c", bytes >> u[i].shift, u[i].c);
			return;
		}
	snprintf(buf, n, "%" PRIu64, bytes);
}

uint64_t broker_round_up(uint64_t v, uint64_t unit)
{
	uint64_t r = v % unit;

	if (r == 0)
		return v;
	if (v > UINT64_MAX - (unit - r))
		return UINT64_MAX;
	return v + (unit - r);
}

static int parse_fs(const json_t *v, char *out, size_t n, struct errlist *el)
{
	const char *s = json_string_value(v);

	if (!s || (!streq(s, "ext4") && !streq(s, "xfs"))) {
		if (s)
			errlist_add(el, "fs: '%.32s' is not supported (use \"ext4\" or \"xfs\")",
				    s);
		else
			errlist_add(el, "fs: must be a string, \"ext4\" or \"xfs\", not %s",
				    jsonx_type_name(v));
		return -EINVAL;
	}
	snprintf(out, n, "%s", s);
	return 0;
}

/* The size a user asked for, rounded as the backend allocates; 0 when absent. */
static int parse_size(const struct broker_plan *p, const json_t *v, struct broker_vol_params *o,
		      struct errlist *el)
{
	const char *s = json_string_value(v), *why = "";
	char a[32], b[32], m[32];
	uint64_t x;

	if (!s) {
		errlist_add(el, "size: must be a string such as \"20G\", not %s",
			    jsonx_type_name(v));
		return -EINVAL;
	}
	if (broker_size_parse(s, &x, &why) < 0) {
		errlist_add(el, "size: '%.32s' %s", s, why);
		return -EINVAL;
	}
	o->asked = x;
	if (p->backend == BROKER_BE_SCALEIO) {
		o->size = broker_round_up(x, BROKER_SIO_UNIT);
		if (o->size != x) {
			broker_size_format(x, a, sizeof(a));
			broker_size_format(o->size, b, sizeof(b));
			snprintf(o->note, sizeof(o->note),
				 "size %s rounded up to %s: PowerFlex allocates in 8G units", a, b);
		}
	} else
		o->size = x;
	if (p->max_size && o->size > p->max_size) {
		broker_size_format(p->max_size, m, sizeof(m));
		errlist_add(el, "size: '%.32s' is larger than plan %s allows (at most %s)", s,
			    p->name, m);
		return -EINVAL;
	}
	return 0;
}

static int check_keys(const json_t *params, const char *const *allowed, const char *what,
		      struct errlist *el)
{
	const char *key;
	json_t *v;
	int bad = 0;

	json_object_foreach((json_t *)params, key, v)
	{
		int ok = 0;

		for (size_t i = 0; allowed[i]; i++)
			ok |= streq(key, allowed[i]);
		if (!ok) {
			errlist_add(el, "unknown parameter '%.64s' (%s)", key, what);
			bad = 1;
		}
	}
	return bad ? -EINVAL : 0;
}

int broker_provision_params(const struct broker_plan *p, const json_t *params,
			    struct broker_vol_params *ret, struct errlist *el)
{
	static const char *const sized[] = {"size", "fs", NULL};
	static const char *const pooled[] = {"fs", NULL};
	struct broker_vol_params o = {.size = p->size};
	unsigned before = el->n;
	const json_t *v;

	snprintf(o.fs, sizeof(o.fs), "%s", p->fs);
	if (params && !json_is_null(params)) {
		if (!json_is_object(params)) {
			errlist_add(el, "parameters: must be a JSON object, not %s",
				    jsonx_type_name(params));
			return -EINVAL;
		}
		if (broker_backend_is_pool(p->backend)) {
			if (json_object_get(params, "size"))
				errlist_add(el,
					    "size: plan %s hands out pre-created %s; their size "
					    "cannot be chosen",
					    p->name,
					    p->backend == BROKER_BE_ISCSI ? "LUNs" : "namespaces");
			check_keys(params, json_object_get(params, "size") ? sized : pooled,
				   "allowed: fs", el);
		} else
			check_keys(params, sized, "allowed: size, fs", el);
		v = json_object_get(params, "size");
		if (v && !broker_backend_is_pool(p->backend))
			parse_size(p, v, &o, el);
		v = json_object_get(params, "fs");
		if (v)
			parse_fs(v, o.fs, sizeof(o.fs), el);
	}
	if (el->n > before)
		return -EINVAL;
	*ret = o;
	return 0;
}

int broker_update_params(const struct broker_plan *p, uint64_t cur, const char *cur_fs,
			 const json_t *params, struct broker_vol_params *ret, struct errlist *el)
{
	static const char *const keys[] = {"size", "fs", NULL};
	struct broker_vol_params o = {.size = cur};
	unsigned before = el->n;
	const json_t *v;
	char a[32], b[32];

	snprintf(o.fs, sizeof(o.fs), "%s", cur_fs);
	if (!params || json_is_null(params)) {
		*ret = o;
		return 0;
	}
	if (!json_is_object(params)) {
		errlist_add(el, "parameters: must be a JSON object, not %s",
			    jsonx_type_name(params));
		return -EINVAL;
	}
	check_keys(params, keys, "allowed: size", el);
	v = json_object_get(params, "fs");
	if (v && !(json_is_string(v) && streq(json_string_value(v), cur_fs)))
		errlist_add(el, "fs: the filesystem of an existing volume cannot change (it is %s)",
			    cur_fs);
	v = json_object_get(params, "size");
	if (v) {
		if (p->backend != BROKER_BE_SCALEIO)
			errlist_add(el, "size: volumes of plan %s (backend %s) cannot be resized",
				    p->name, broker_backend_name(p->backend));
		else if (parse_size(p, v, &o, el) == 0 && o.size < cur) {
			broker_size_format(o.asked, a, sizeof(a));
			broker_size_format(cur, b, sizeof(b));
			errlist_add(el,
				    "size: %s is smaller than the volume (%s): shrinking is not "
				    "supported",
				    a, b);
		}
	}
	if (el->n > before)
		return -EINVAL;
	*ret = o;
	return 0;
}

int broker_bind_params(const char *container_root, const char *instance_id, const json_t *params,
		       struct broker_bind_params *ret, struct errlist *el)
{
	static const char *const keys[] = {"mount", "readonly", NULL};
	struct broker_bind_params o = {0};
	unsigned before = el->n;
	const json_t *v;
	int r;

	r = snprintf(o.container_dir, sizeof(o.container_dir), "%s/%s", container_root,
		     instance_id);
	if (r < 0 || (size_t)r >= sizeof(o.container_dir))
		errlist_add(el, "instance id too long for a container_dir");
	if (params && !json_is_null(params)) {
		if (!json_is_object(params)) {
			errlist_add(el, "parameters: must be a JSON object, not %s",
				    jsonx_type_name(params));
			return -EINVAL;
		}
		check_keys(params, keys, "allowed: mount, readonly", el);
		v = json_object_get(params, "mount");
		if (v) {
			const char *s = json_string_value(v);

			if (!s)
				errlist_add(el, "mount: must be a string, an absolute path");
			else if (s[0] != '/' || strstr(s, "/../") || strstr(s, "/./") ||
				 (strlen(s) >= 3 && streq(s + strlen(s) - 3, "/..")) ||
				 strlen(s) >= sizeof(o.container_dir) || streq(s, "/"))
				errlist_add(el,
					    "mount: '%.128s' must be an absolute path other "
					    "than / without . or .. components",
					    s);
			else
				snprintf(o.container_dir, sizeof(o.container_dir), "%s", s);
		}
		v = json_object_get(params, "readonly");
		if (v) {
			if (!json_is_boolean(v))
				errlist_add(el, "readonly: must be true or false, not %s",
					    jsonx_type_name(v));
			else
				o.readonly = json_is_true(v);
		}
	}
	if (el->n > before)
		return -EINVAL;
	*ret = o;
	return 0;
}

/* Two FNV-1a 64-bit hashes with different offsets: stable names, not security. */
static void hash128(const char *s, uint64_t h[2])
{
	h[0] = 0xcbf29ce484222325ull;
	h[1] = 0x84222325cbf29ce4ull;
	for (; *s; s++)
		for (int i = 0; i < 2; i++) {
			h[i] ^= (unsigned char)*s;
			h[i] *= 0x100000001b3ull;
		}
}

int broker_volume_key(const char *instance_id, char *buf, size_t n)
{
	size_t len = strlen(instance_id);
	int ok = len > 0 && len <= 119 && instance_id[0] != '.';
	uint64_t h[2];

	for (const char *p = instance_id; ok && *p; p++)
		ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
	if (ok) {
		if (len >= n)
			return -ENOBUFS;
		memcpy(buf, instance_id, len + 1);
		return 0;
	}
	hash128(instance_id, h);
	if (n < 37)
		return -ENOBUFS;
	snprintf(buf, n, "osb-%016" PRIx64 "%016" PRIx64, h[0], h[1]);
	return 0;
}

void broker_sio_volume_name(const char *instance_id, char *buf, size_t n)
{
	char hex[33];
	uint64_t h[2];

	hash128(instance_id, h);
	snprintf(hex, sizeof(hex), "%016" PRIx64 "%016" PRIx64, h[0], h[1]);
	snprintf(buf, n, "osb-%.26s", hex);
}
