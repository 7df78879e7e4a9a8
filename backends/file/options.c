/* SPDX-License-Identifier: Apache-2.0 */
/* File backend options: size and path parsing (pure), describe, default path. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backends/file/internal.h"

/* A user-given path longer than this is a mistake; the resolved one may be longer. */
#define USER_PATH_MAX 1024

static const struct unit {
	const char *suffix;
	unsigned shift;
} units[] = {
    {"", 0},	 {"K", 10},   {"M", 20},   {"G", 30},	{"T", 40},
    {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
};

int be_file_size_parse(const char *s, uint64_t *ret_bytes, const char **why)
{
	uint64_t v = 0;
	const char *p = s;
	const char *dummy;

	if (!why)
		why = &dummy;
	if (!s || !*s) {
		*why = "is empty";
		return -EINVAL;
	}
	if (*p < '0' || *p > '9') {
		*why = "must start with a digit (a whole number of bytes, or with K, M, G, T)";
		return -EINVAL;
	}
	for (; *p >= '0' && *p <= '9'; p++) {
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
		/* Unit letters in either case ("1g" is common); nothing else may follow. */
		if (strcasecmp(p, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift)) {
			*why = "is too large";
			return -ERANGE;
		}
		*ret_bytes = v << units[i].shift;
		return 0;
	}
	if (strlen(p) == 2 && strchr("KkMmGgTt", p[0]) && (p[1] == 'B' || p[1] == 'b')) {
		/* "1GB" means 10^9 to some people and 2^30 to others: make them say which. */
		*why = "has an ambiguous unit: use G or GiB (binary, 2^30), or a number of bytes";
		return -EINVAL;
	}
	*why = "has an unknown unit (use K, M, G, T or KiB, MiB, GiB, TiB)";
	return -EINVAL;
}

int be_file_size_check(uint64_t bytes, const char **why)
{
	const char *dummy;

	if (!why)
		why = &dummy;
	if (bytes == 0) {
		*why = "must be greater than 0";
		return -EINVAL;
	}
	if (bytes % 512) {
		*why = "must be a multiple of 512 bytes";
		return -EINVAL;
	}
	if (bytes < BE_FILE_SIZE_MIN) {
		*why = "is below the minimum of 16 MiB";
		return -EINVAL;
	}
	if (bytes > BE_FILE_SIZE_MAX) {
		*why = "is above the maximum of 64 TiB";
		return -EINVAL;
	}
	return 0;
}

static int parse_size(const json_t *v, uint64_t *ret, struct errlist *el)
{
	const char *why = NULL;
	uint64_t bytes = 0;
	char shown[64];
	int r;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i <= 0) {
			errlist_add(el, "size: must be greater than 0");
			return -EINVAL;
		}
		bytes = (uint64_t)i;
		snprintf(shown, sizeof(shown), "%" PRIu64, bytes);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strlen(s) != json_string_length(v)) {
			errlist_add(el, "size: must not contain NUL characters");
			return -EINVAL;
		}
		r = be_file_size_parse(s, &bytes, &why);
		if (r < 0) {
			errlist_add(el, "size: '%.40s' %s", s, why);
			return -EINVAL;
		}
		snprintf(shown, sizeof(shown), "'%.40s'", s);
	} else {
		errlist_add(el, "size: must be a string like \"1G\" or a whole number of bytes");
		return -EINVAL;
	}
	r = be_file_size_check(bytes, &why);
	if (r < 0) {
		errlist_add(el, "size: %s %s", shown, why);
		return r;
	}
	*ret = bytes;
	return 0;
}

int be_file_path_normalize(const char *in, char *out, size_t n)
{
	size_t used = 0;
	const char *p = in;
	int segs = 0;

	if (!in || !*in || n == 0)
		return -EINVAL;
	if (*p == '/') {
		if (n < 2)
			return -ENAMETOOLONG;
		out[used++] = '/';
	}
	while (*p) {
		size_t l;

		while (*p == '/')
			p++;
		l = strcspn(p, "/");
		if (l == 0)
			break;
		if (l == 2 && p[0] == '.' && p[1] == '.')
			return -EINVAL;
		if (!(l == 1 && p[0] == '.')) {
			if (segs > 0) {
				if (used + 1 >= n)
					return -ENAMETOOLONG;
				out[used++] = '/';
			}
			if (used + l >= n)
				return -ENAMETOOLONG;
			memcpy(out + used, p, l);
			used += l;
			segs++;
		}
		p += l;
	}
	if (segs == 0)
		return -EINVAL; /* "/", ".", "./" name no file */
	out[used] = 0;
	return 0;
}

static int parse_path(const json_t *v, char *ret, size_t n, struct errlist *el)
{
	const char *s;
	size_t len;
	int r;

	if (!json_is_string(v)) {
		errlist_add(el, "path: must be a string");
		return -EINVAL;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0) {
		errlist_add(el, "path: must not be empty");
		return -EINVAL;
	}
	if (strlen(s) != len) {
		errlist_add(el, "path: must not contain NUL characters");
		return -EINVAL;
	}
	if (len > USER_PATH_MAX) {
		errlist_add(el, "path: longer than %d characters", USER_PATH_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		/* The kernel prints backing_file as one line; a newline would make the loop
		 * device unidentifiable, and control characters have no place in logs. */
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			errlist_add(el, "path: must not contain control characters");
			return -EINVAL;
		}
	if (s[0] == ' ' || s[len - 1] == ' ') {
		errlist_add(el, "path: must not start or end with a space");
		return -EINVAL;
	}
	if (s[len - 1] == '/' || streq(s, ".") ||
	    (len >= 2 && s[len - 1] == '.' && s[len - 2] == '/')) {
		errlist_add(el, "path: '%.200s' names a directory; give a file name", s);
		return -EINVAL;
	}
	/* Confined beneath file.dir (DESIGN.md): an absolute path could name any file on the
	 * host, including another volume's image or the root disk's. */
	if (s[0] == '/') {
		errlist_add(el,
			    "path: '%.200s' is absolute; give a path relative to the agent's "
			    "file.dir (e.g. \"db/data.img\"), or leave path out for "
			    "<file.dir>/<volume id>.img",
			    s);
		return -EINVAL;
	}
	r = be_file_path_normalize(s, ret, n);
	if (r == -EINVAL) {
		errlist_add(el,
			    "path: '%.200s' must not contain '..' (it must stay beneath "
			    "file.dir) and must name a file",
			    s);
		return r;
	}
	if (r < 0) {
		errlist_add(el, "path: too long");
		return r;
	}
	return 0;
}

static int file_parse(const json_t *opts, void **ret_cfg, struct errlist *el)
{
	_cleanup_free_ struct be_file_cfg *cfg = NULL;
	const json_t *size, *path;
	unsigned before = el->n;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	cfg->loop = &be_file_loop_real;
	size = opts ? json_object_get(opts, "size") : NULL;
	path = opts ? json_object_get(opts, "path") : NULL;
	if (size && !json_is_null(size))
		(void)parse_size(size, &cfg->size, el);
	if (path && !json_is_null(path))
		(void)parse_path(path, cfg->rel, sizeof(cfg->rel), el);
	/* Without a path the file is new (default name): it needs a size. With a path the
	 * file may exist; connect checks. */
	if (!cfg->size && !(path && !json_is_null(path)) && el->n == before)
		errlist_add(el, "size: missing (e.g. \"1G\"; required unless path names an "
				"existing file)");
	if (el->n > before)
		return -EINVAL;
	*ret_cfg = TAKE_PTR(cfg);
	return 0;
}

static void file_free_cfg(void *cfg)
{
	free(cfg);
}

static int key_is_valid(const char *key)
{
	size_t l = key ? strlen(key) : 0;

	if (l == 0 || l > 128 || streq(key, ".") || streq(key, ".."))
		return 0;
	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return 1;
}

int be_file_set_default_path(void *p, const char *dir, const char *key)
{
	struct be_file_cfg *cfg = p;
	char d[BE_FILE_PATH_MAX], rel[BE_FILE_PATH_MAX], joined[BE_FILE_PATH_MAX + 256];
	char norm[BE_FILE_PATH_MAX];
	int r, k;

	if (!cfg)
		return -EINVAL;
	if (!dir || dir[0] != '/' || !key_is_valid(key))
		return -EINVAL;
	r = be_file_path_normalize(dir, d, sizeof(d));
	if (r == -EINVAL && streq(dir, "/"))
		snprintf(d, sizeof(d), "/"); /* "/" alone normalises to nothing */
	else if (r < 0)
		return r;
	if (cfg->rel[0])
		k = snprintf(rel, sizeof(rel), "%s", cfg->rel);
	else
		k = snprintf(rel, sizeof(rel), "%s.img", key);
	if (k < 0 || (size_t)k >= sizeof(rel))
		return -ENAMETOOLONG;
	k = snprintf(joined, sizeof(joined), "%s/%s", d, rel);
	if (k < 0 || (size_t)k >= sizeof(joined))
		return -ENAMETOOLONG;
	r = be_file_path_normalize(joined, norm, sizeof(norm));
	if (r < 0)
		return r;
	memcpy(cfg->dir, d, strlen(d) + 1);
	memcpy(cfg->path, norm, strlen(norm) + 1);
	memcpy(cfg->resolved_rel, rel, strlen(rel) + 1);
	snprintf(cfg->key, sizeof(cfg->key), "%s", key);
	return 0;
}

const char *be_file_cfg_path(const void *p)
{
	const struct be_file_cfg *cfg = p;

	return cfg && cfg->path[0] == '/' ? cfg->path : "";
}

void be_file_cfg_set_loop_ops(void *p, const struct be_file_loop_ops *ops, void *ud)
{
	struct be_file_cfg *cfg = p;

	cfg->loop = ops ? ops : &be_file_loop_real;
	cfg->loop_ud = ud;
}

static int file_describe(const void *p, char *buf, size_t n)
{
	const struct be_file_cfg *cfg = p;
	const char *rel;
	int k;

	/* The path beneath file.dir (one agent, one file.dir): the same before and after
	 * resolution when `path` was given; without it the name needs the volume key, so
	 * it is known only once be_file_set_default_path ran. The kernel-level identity of
	 * the image is identify()'s "file:<dev>:<ino>". */
	if (!cfg)
		return -EINVAL;
	rel = cfg->resolved_rel[0] ? cfg->resolved_rel : cfg->rel;
	if (!rel[0])
		return -EINVAL;
	k = snprintf(buf, n, "file:%s", rel);
	return k < 0 || (size_t)k >= n ? -ENOBUFS : 0;
}

static const char *const file_keys[] = {"size", "path", NULL};
static const char *const file_secret_keys[] = {NULL};

const struct backend_ops be_file_ops = {
    .name = "file",
    .keys = file_keys,
    .secret_keys = file_secret_keys,
    .parse = file_parse,
    .free_cfg = file_free_cfg,
    .describe = file_describe,
    .probe = NULL,
    .connect = be_file_connect,
    .find_device = be_file_find_device,
    .identify = be_file_identify,
    .disconnect = be_file_disconnect,
    .rescan = be_file_rescan,
};
