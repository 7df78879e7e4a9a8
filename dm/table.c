/* SPDX-License-Identifier: Apache-2.0 */
/* Pure dm helpers: names, tables, table lines. No libdevmapper calls here. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dm/internal.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
	       c == '_' || c == '-';
}

int dmap_key_is_valid(const char *key)
{
	if (!key || !key[0] || streq(key, ".") || streq(key, ".."))
		return 0;
	/* udev mangles anything outside its whitelist into \xNN in /dev/mapper names, and
	 * '/' is refused by the kernel: keep to a set that survives both unchanged. */
	for (const char *p = key; *p; p++)
		if (!key_char_ok(*p))
			return 0;
	return 1;
}

static int build_id(const char *prefix, const char *key, size_t limit, char *ret, size_t n)
{
	size_t len;

	if (!dmap_key_is_valid(key))
		return -EINVAL;
	len = strlen(prefix) + strlen(key);
	if (len > limit)
		return -ENAMETOOLONG;
	if (!ret || len + 1 > n)
		return -ENOBUFS;
	snprintf(ret, n, "%s%s", prefix, key);
	return 0;
}

int dmap_name_for(const char *key, char *ret_name, size_t n)
{
	return build_id(DMAP_NAME_PREFIX, key, DMAP_NAME_MAX, ret_name, n);
}

int dmap_uuid_for(const char *key, char *ret_uuid, size_t n)
{
	return build_id(DMAP_UUID_PREFIX, key, DMAP_UUID_MAX, ret_uuid, n);
}

/* Strict unsigned decimal: digits only (no sign, no spaces, no hex), no overflow. */
static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (!is_digit(s[i]))
			return -EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

int dmap_devno_parse(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	const char *colon;
	uint64_t ma, mi;

	if (!s)
		return 0;
	colon = strchr(s, ':');
	if (!colon)
		return 0;
	if (parse_u64(s, (size_t)(colon - s), &ma) < 0 ||
	    parse_u64(colon + 1, strlen(colon + 1), &mi) < 0)
		return 0;
	/* Linux dev_t: 12-bit major, 20-bit minor; major 0 is never a block device. */
	if (ma == 0 || ma > 4095 || mi > 1048575)
		return 0;
	if (ret_major)
		*ret_major = (unsigned)ma;
	if (ret_minor)
		*ret_minor = (unsigned)mi;
	return 1;
}

static int size_to_sectors(uint64_t size_bytes, uint64_t *ret)
{
	if (size_bytes == 0 || size_bytes % 512)
		return -EINVAL;
	*ret = size_bytes / 512;
	return 0;
}

int dmap_table_linear(uint64_t size_bytes, unsigned major, unsigned minor, struct dmap_target *ret)
{
	struct dmap_target t = {0};
	int r;

	r = size_to_sectors(size_bytes, &t.len);
	if (r < 0)
		return r;
	if (major == 0 || major > 4095 || minor > 1048575)
		return -EINVAL;
	snprintf(t.type, sizeof(t.type), "linear");
	snprintf(t.params, sizeof(t.params), "%u:%u 0", major, minor);
	*ret = t;
	return 0;
}

static int check_paths(const char *const *paths, size_t n);

int dmap_table_multipath(uint64_t size_bytes, const char *const *paths, size_t n,
			 struct dmap_target *ret)
{
	struct dmap_target t = {0};
	size_t used;
	int r, k;

	r = size_to_sectors(size_bytes, &t.len);
	if (r < 0)
		return r;
	r = check_paths(paths, n);
	if (r < 0)
		return r;
	snprintf(t.type, sizeof(t.type), "multipath");
	/* No features (no queue_if_no_path: I/O fails fast when every path is down and
	 * attachd's checker reinstates), no hardware handler, one priority group, start in
	 * group 1, round-robin with no selector args, n paths with one arg (repeat_count). */
	k = snprintf(t.params, sizeof(t.params), "0 0 1 1 round-robin 0 %zu 1", n);
	used = (size_t)k;
	for (size_t i = 0; i < n; i++) {
		k = snprintf(t.params + used, sizeof(t.params) - used, " %s 1", paths[i]);
		if (k < 0 || (size_t)k >= sizeof(t.params) - used)
			return -ENOBUFS;
		used += (size_t)k;
	}
	*ret = t;
	return 0;
}

static int check_paths(const char *const *paths, size_t n)
{
	if (!paths || n == 0)
		return -EINVAL;
	if (n > DMAP_MULTIPATH_MAX_PATHS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (!dmap_devno_parse(paths[i], NULL, NULL))
			return -EINVAL;
		/* The kernel refuses a device twice in one table; say so before it does. */
		for (size_t j = 0; j < i; j++)
			if (streq(paths[i], paths[j]))
				return -EINVAL;
	}
	return 0;
}

static int emit(char *buf, size_t n, size_t *used, const char *f, ...)
    __attribute__((format(printf, 4, 5)));
static int emit(char *buf, size_t n, size_t *used, const char *f, ...)
{
	va_list ap;
	int k;

	va_start(ap, f);
	k = vsnprintf(buf + *used, n - *used, f, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= n - *used)
		return -ENOBUFS;
	*used += (size_t)k;
	return 0;
}

int dmap_table_mpath(uint64_t size_bytes, const struct dmap_mpath_spec *spec,
		     struct dmap_target *ret)
{
	struct dmap_target t = {0};
	unsigned groups[DMAP_MULTIPATH_MAX_PATHS];
	size_t ng = 0, used = 0;
	const char *hw;
	int r;

	r = size_to_sectors(size_bytes, &t.len);
	if (r < 0)
		return r;
	if (!spec)
		return -EINVAL;
	r = check_paths(spec->paths, spec->n);
	if (r < 0)
		return r;
	hw = spec->hw_handler && spec->hw_handler[0] ? spec->hw_handler : NULL;
	if (hw && (strchr(hw, ' ') || strlen(hw) > 32))
		return -EINVAL;
	/* The distinct group numbers, ascending: the kernel tries priority groups in table
	 * order, so the lowest (ALUA active/optimized) is the one used first. */
	for (size_t i = 0; i < spec->n; i++) {
		unsigned g = spec->group ? spec->group[i] : 0;
		size_t k = 0;

		while (k < ng && groups[k] < g)
			k++;
		if (k < ng && groups[k] == g)
			continue;
		memmove(&groups[k + 1], &groups[k], (ng - k) * sizeof(groups[0]));
		groups[k] = g;
		ng++;
	}
	snprintf(t.type, sizeof(t.type), "multipath");
	/* retain_attached_hw_handler: keep a handler the kernel attached at scan time
	 * (scsi_dh_alua for an ALUA target) instead of detaching it on load. */
	r = spec->queue_if_no_path
		? emit(t.params, sizeof(t.params), &used,
		       "2 queue_if_no_path retain_attached_hw_handler")
		: emit(t.params, sizeof(t.params), &used, "1 retain_attached_hw_handler");
	if (r == 0)
		r = hw ? emit(t.params, sizeof(t.params), &used, " 1 %s", hw)
		       : emit(t.params, sizeof(t.params), &used, " 0");
	if (r == 0)
		r = emit(t.params, sizeof(t.params), &used, " %zu 1", ng);
	for (size_t k = 0; r == 0 && k < ng; k++) {
		size_t np = 0;

		for (size_t i = 0; i < spec->n; i++)
			np += (spec->group ? spec->group[i] : 0) == groups[k];
		/* service-time, no selector args; one path arg (repeat_count 1). */
		r = emit(t.params, sizeof(t.params), &used, " service-time 0 %zu 1", np);
		for (size_t i = 0; r == 0 && i < spec->n; i++)
			if ((spec->group ? spec->group[i] : 0) == groups[k])
				r = emit(t.params, sizeof(t.params), &used, " %s 1",
					 spec->paths[i]);
	}
	if (r < 0)
		return r;
	*ret = t;
	return 0;
}

static const char *skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t token_len(const char *p)
{
	size_t l = 0;

	while (p[l] && p[l] != ' ' && p[l] != '\t' && p[l] != '\n')
		l++;
	return l;
}

int dmap_parse_table_line(const char *line, struct dmap_target *ret)
{
	struct dmap_target t = {0};
	const char *p;
	size_t l, plen;
	int r;

	if (!line)
		return -EINVAL;
	p = skip_spaces(line);
	l = token_len(p);
	r = parse_u64(p, l, &t.start);
	if (r < 0)
		return -EINVAL;
	p = skip_spaces(p + l);
	l = token_len(p);
	r = parse_u64(p, l, &t.len);
	if (r < 0 || t.len == 0)
		return -EINVAL;
	if (t.start > UINT64_MAX - t.len)
		return -EINVAL;
	p = skip_spaces(p + l);
	l = token_len(p);
	if (l == 0)
		return -EINVAL;
	if (l >= sizeof(t.type))
		return -E2BIG;
	memcpy(t.type, p, l);
	p = skip_spaces(p + l);
	/* The rest is the params, as is apart from trailing whitespace; "error" has none. */
	plen = strlen(p);
	while (plen > 0 && (p[plen - 1] == '\n' || p[plen - 1] == ' ' || p[plen - 1] == '\t'))
		plen--;
	if (memchr(p, '\n', plen))
		return -EINVAL; /* one line only */
	if (plen >= sizeof(t.params))
		return -E2BIG;
	memcpy(t.params, p, plen);
	*ret = t;
	return 0;
}

int dmap_target_format(const struct dmap_target *t, char *buf, size_t n)
{
	int k;

	k = snprintf(buf, n, "%" PRIu64 " %" PRIu64 " %s%s%s", t->start, t->len, t->type,
		     t->params[0] ? " " : "", t->params);
	return k < 0 || (size_t)k >= n ? -ENOBUFS : 0;
}

int dmap_targets_check(const struct dmap_target *t, size_t n, struct errbuf *e)
{
	uint64_t next = 0;

	if (!t || n == 0)
		return errbuf_set(e, -EINVAL, "a dm table needs at least one target");
	for (size_t i = 0; i < n; i++) {
		if (!memchr(t[i].type, 0, sizeof(t[i].type)) || !t[i].type[0] ||
		    !memchr(t[i].params, 0, sizeof(t[i].params)))
			return errbuf_set(e, -EINVAL, "dm target %zu has a bad type or params", i);
		if (t[i].len == 0)
			return errbuf_set(e, -EINVAL, "dm target %zu has length 0", i);
		if (t[i].start != next)
			return errbuf_set(e, -EINVAL,
					  "dm target %zu starts at sector %" PRIu64
					  ", expected %" PRIu64 " (targets must be contiguous)",
					  i, t[i].start, next);
		if (t[i].len > UINT64_MAX - next)
			return errbuf_set(e, -EINVAL, "dm table too large");
		next += t[i].len;
	}
	return 0;
}

int dmap_targets_size(const struct dmap_target *t, size_t n, uint64_t *ret_bytes)
{
	uint64_t sectors = 0;

	for (size_t i = 0; i < n; i++) {
		if (t[i].len > UINT64_MAX - sectors)
			return -EOVERFLOW;
		sectors += t[i].len;
	}
	if (sectors > UINT64_MAX / 512)
		return -EOVERFLOW;
	*ret_bytes = sectors * 512;
	return 0;
}

/* Compare two strings token by token (any run of blanks equals one space). */
static int tokens_equal(const char *a, const char *b)
{
	for (;;) {
		size_t la, lb;

		a = skip_spaces(a);
		b = skip_spaces(b);
		la = token_len(a);
		lb = token_len(b);
		if (la != lb || strncmp(a, b, la) != 0)
			return 0;
		if (la == 0)
			return 1; /* both at the end */
		a += la;
		b += lb;
	}
}

/* Next "maj:min" token at or after *p, advancing *p past it; 0 when none is left. */
static int next_devno(const char **p, char *buf, size_t n)
{
	for (;;) {
		size_t l;

		*p = skip_spaces(*p);
		l = token_len(*p);
		if (l == 0)
			return 0;
		if (l < n) {
			memcpy(buf, *p, l);
			buf[l] = 0;
			if (dmap_devno_parse(buf, NULL, NULL)) {
				*p += l;
				return 1;
			}
		}
		*p += l;
	}
}

static int multipath_paths_equal(const char *a, const char *b)
{
	char da[32], db[32];

	for (;;) {
		int ha = next_devno(&a, da, sizeof(da));
		int hb = next_devno(&b, db, sizeof(db));

		if (ha != hb)
			return 0;
		if (!ha)
			return 1;
		if (!streq(da, db))
			return 0;
	}
}

int dmap_targets_equivalent(const struct dmap_target *want, size_t nw,
			    const struct dmap_target *have, size_t nh)
{
	if (nw != nh)
		return 0;
	for (size_t i = 0; i < nw; i++) {
		if (want[i].start != have[i].start || want[i].len != have[i].len ||
		    !streq(want[i].type, have[i].type))
			return 0;
		if (streq(want[i].type, "multipath")) {
			if (!multipath_paths_equal(want[i].params, have[i].params))
				return 0;
		} else if (!tokens_equal(want[i].params, have[i].params))
			return 0;
	}
	return 1;
}

int dmap_misc_has_dm(const char *proc_misc)
{
	const char *p = proc_misc;

	/* Lines are "%3i %s\n": minor, then the name. */
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *name = p;

		while (name < p + len && (*name == ' ' || is_digit(*name)))
			name++;
		if ((size_t)(p + len - name) == strlen("device-mapper") &&
		    strncmp(name, "device-mapper", len - (size_t)(name - p)) == 0)
			return 1;
		p = nl ? nl + 1 : p + len;
	}
	return 0;
}

unsigned dmap_minor_pick(unsigned seq)
{
	return DMAP_MINOR_BASE + seq % DMAP_MINOR_SPAN;
}

int dmap_minor_is_ours(unsigned minor)
{
	return minor >= DMAP_MINOR_BASE && minor - DMAP_MINOR_BASE < DMAP_MINOR_SPAN;
}

int dmap_uuid_is_owned(const char *uuid)
{
	return uuid && startswith(uuid, DMAP_UUID_PREFIX) && uuid[strlen(DMAP_UUID_PREFIX)];
}

int dmap_check_owned(const char *name, const char *uuid, const char *action, struct errbuf *e)
{
	if (dmap_uuid_is_owned(uuid))
		return 0;
	return errbuf_set(e, -EPERM,
			  "not %s dm device %s: its DM UUID is '%.128s', not attachd's (%s...), so "
			  "attachd did not create it; remove it yourself (dmsetup remove %s) if it "
			  "is really stale",
			  action, name, uuid ? uuid : "", DMAP_UUID_PREFIX, name);
}

/* Token reader for status lines: next blank-separated token into buf, 0 at the end. */
struct toks {
	const char *p;
};

static int tok_next(struct toks *t, char *buf, size_t n)
{
	size_t l;

	t->p = skip_spaces(t->p);
	l = token_len(t->p);
	if (l == 0 || l >= n)
		return l == 0 ? 0 : -E2BIG;
	memcpy(buf, t->p, l);
	buf[l] = 0;
	t->p += l;
	return 1;
}

static int tok_u(struct toks *t, unsigned *ret)
{
	char buf[24];
	uint64_t v;

	if (tok_next(t, buf, sizeof(buf)) != 1 || parse_u64(buf, strlen(buf), &v) < 0 ||
	    v > 0xffffffffu)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* Skip "<count> <count tokens>" (features, hw handler, selector status). */
static int tok_skip_counted(struct toks *t, unsigned *ret_first)
{
	char buf[160];
	unsigned c;

	if (tok_u(t, &c) < 0 || c > 64)
		return -EINVAL;
	for (unsigned i = 0; i < c; i++) {
		if (tok_next(t, buf, sizeof(buf)) != 1)
			return -EINVAL;
		if (i == 0 && ret_first) {
			uint64_t v = 0;

			*ret_first = parse_u64(buf, strlen(buf), &v) == 0 && v > 0;
		}
	}
	return 0;
}

int dmap_mpath_status_parse(const char *params, struct dmap_mpath_status *ret)
{
	struct dmap_mpath_status st = {0};
	struct toks t = {params};
	unsigned queue = 0, npg, cur;
	char buf[64];

	if (!params)
		return -EINVAL;
	/* "<#features> <queue_io> <pg_init_count> <#hw args> <#pgs> <next pg>" then per group
	 * "<A|E|D> <selector status> <#paths> <#path info args>" and per path
	 * "<maj:min> <A|F> <fail count> <path info args>" (dm-mpath.c multipath_status). */
	if (tok_skip_counted(&t, &queue) < 0 || tok_skip_counted(&t, NULL) < 0 ||
	    tok_u(&t, &npg) < 0 || tok_u(&t, &cur) < 0)
		return -EINVAL;
	st.queue_if_no_path = (int)queue;
	for (unsigned g = 0; g < npg; g++) {
		unsigned np, nargs;

		if (tok_next(&t, buf, sizeof(buf)) != 1 || strlen(buf) != 1 ||
		    !strchr("AED", buf[0]))
			return -EINVAL;
		if (tok_skip_counted(&t, NULL) < 0 || tok_u(&t, &np) < 0 || tok_u(&t, &nargs) < 0 ||
		    nargs > 16)
			return -EINVAL;
		for (unsigned i = 0; i < np; i++) {
			struct dmap_mpath_path_status *ps;

			if (st.n >= sizeof(st.paths) / sizeof(st.paths[0]))
				return -E2BIG;
			ps = &st.paths[st.n];
			if (tok_next(&t, buf, sizeof(buf)) != 1 ||
			    !dmap_devno_parse(buf, NULL, NULL) || strlen(buf) >= sizeof(ps->devno))
				return -EINVAL;
			snprintf(ps->devno, sizeof(ps->devno), "%s", buf);
			if (tok_next(&t, buf, sizeof(buf)) != 1 ||
			    (!streq(buf, "A") && !streq(buf, "F")))
				return -EINVAL;
			ps->active = buf[0] == 'A';
			if (tok_u(&t, &ps->fail_count) < 0)
				return -EINVAL;
			ps->group = g;
			for (unsigned a = 0; a < nargs; a++)
				if (tok_next(&t, buf, sizeof(buf)) != 1)
					return -EINVAL;
			st.n++;
		}
	}
	if (tok_next(&t, buf, sizeof(buf)) != 0)
		return -EINVAL; /* trailing garbage */
	*ret = st;
	return 0;
}

int dmap_mpath_table_queueing(const char *params)
{
	struct toks t = {params};
	char buf[160];
	unsigned c;

	if (!params || tok_u(&t, &c) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < c; i++) {
		if (tok_next(&t, buf, sizeof(buf)) != 1)
			return -EINVAL;
		if (streq(buf, "queue_if_no_path"))
			return 1;
	}
	return 0;
}
