/* SPDX-License-Identifier: Apache-2.0 */
/* Create options: generic keys here, backend keys through the backend's parse(). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "attach/fence.h"
#include "attach/internal.h"

static const char *const generic_keys[] = {
	"backend", "fs", "format", "readonly", "mount_options", "fencing", "takeover", NULL,
};

static int key_in(const char *key, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strcmp(list[i], key) == 0)
			return 1;
	return 0;
}

int attach_json_bool(const json_t *v, int *ret)
{
	const char *s;

	if (json_is_boolean(v)) {
		*ret = json_is_true(v);
		return 0;
	}
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
		*ret = (int)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	s = json_string_value(v);
	if (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes")) {
		*ret = 1;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcmp(s, "0") || !strcasecmp(s, "no")) {
		*ret = 0;
		return 0;
	}
	return -EINVAL;
}

int attach_json_uint(const json_t *v, uint64_t max, uint64_t *ret)
{
	uint64_t x;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -EINVAL;
		x = (uint64_t)json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);

		/* Volman sends numbers as floats: accept integral ones. */
		if (d < 0 || d != (double)(uint64_t)d)
			return -EINVAL;
		x = (uint64_t)d;
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (!*s || !isdigit((unsigned char)*s))
			return -EINVAL;
		errno = 0;
		x = strtoull(s, &end, 10);
		if (errno || *end)
			return -EINVAL;
	} else
		return -EINVAL;
	if (x > max)
		return -ERANGE;
	*ret = x;
	return 0;
}

/* Options a container-facing mount may carry. Anything that changes ownership or security
 * (suid, dev, context=) stays out. */
static const struct {
	const char *name;
	unsigned long flag; /* 0: passed as fs data */
} mount_allow[] = {
	{ "noatime", MS_NOATIME },   { "nodiratime", MS_NODIRATIME }, { "relatime", MS_RELATIME },
	{ "strictatime", MS_STRICTATIME }, { "lazytime", MS_LAZYTIME }, { "sync", MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC },   { "noexec", MS_NOEXEC },         { "discard", 0 },
	{ "nodiscard", 0 },          { "nobarrier", 0 },              { "data=ordered", 0 },
	{ "data=writeback", 0 },     { "data=journal", 0 },           { "inode64", 0 },
	{ "largeio", 0 },
};

static int mount_option_lookup(const char *o, size_t len)
{
	for (size_t i = 0; i < ELEMENTSOF(mount_allow); i++)
		if (strlen(mount_allow[i].name) == len && !strncmp(mount_allow[i].name, o, len))
			return (int)i;
	return -1;
}

int attach_mount_options_check(const char *opts, struct errlist *el)
{
	const char *p = opts;
	int bad = 0;

	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == 0 || mount_option_lookup(p, len) < 0) {
			errlist_add(el, "mount_options: '%.*s' is not allowed (allowed: noatime, "
				    "nodiratime, relatime, strictatime, lazytime, sync, dirsync, "
				    "noexec, discard, nodiscard, nobarrier, data=ordered|writeback|journal, "
				    "inode64, largeio)",
				    (int)len, p);
			bad = 1;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return bad ? -EINVAL : 0;
}

int attach_mount_options_split(const char *opts, unsigned long *ret_flags, char *ret_data, size_t n)
{
	unsigned long flags = 0;
	size_t used = 0;
	const char *p = opts;

	if (n == 0)
		return -ENOBUFS;
	ret_data[0] = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		int i = mount_option_lookup(p, len);

		if (i < 0)
			return -EINVAL;
		if (mount_allow[i].flag)
			flags |= mount_allow[i].flag;
		else {
			if (used + len + 2 > n)
				return -ENOBUFS;
			if (used)
				ret_data[used++] = ',';
			memcpy(ret_data + used, p, len);
			used += len;
			ret_data[used] = 0;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	*ret_flags = flags;
	return 0;
}

int attach_key_is_valid(const char *key)
{
	size_t len;

	if (!key)
		return 0;
	len = strlen(key);
	/* No leading '.': keys are directory names next to <mount_root>/.staging. */
	if (len == 0 || len > ATTACH_KEY_MAX || key[0] == '.')
		return 0;
	for (const char *p = key; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return 0;
	return 1;
}

static void parse_generic(const json_t *opts, struct attach_opts *o, struct errlist *el)
{
	const json_t *v;
	int b;

	v = json_object_get(opts, "fs");
	if (v) {
		const char *s = json_string_value(v);

		if (!s || (strcmp(s, "ext4") && strcmp(s, "xfs")))
			errlist_add(el, "fs: must be \"ext4\" or \"xfs\"");
		else
			snprintf(o->fs, sizeof(o->fs), "%s", s);
	}
	v = json_object_get(opts, "format");
	if (v) {
		const char *s = json_string_value(v);

		if (s && !strcmp(s, "auto"))
			o->format_never = 0;
		else if (s && !strcmp(s, "never"))
			o->format_never = 1;
		else
			errlist_add(el, "format: must be \"auto\" (format a blank device) or \"never\"");
	}
	v = json_object_get(opts, "readonly");
	if (v && !json_is_null(v)) {
		if (attach_json_bool(v, &b) < 0)
			errlist_add(el, "readonly: must be true or false");
		else
			o->readonly = b;
	}
	v = json_object_get(opts, "mount_options");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);

		if (!s)
			errlist_add(el, "mount_options: must be a comma-separated string");
		else if (strlen(s) >= sizeof(o->mount_options))
			errlist_add(el, "mount_options: too long");
		else if (attach_mount_options_check(s, el) == 0)
			snprintf(o->mount_options, sizeof(o->mount_options), "%s", s);
	}
	v = json_object_get(opts, "fencing");
	if (v && !json_is_null(v)) {
		const char *s = json_string_value(v);

		if (s && !strcmp(s, "auto"))
			o->fencing = ATTACH_FENCING_AUTO;
		else if (s && !strcmp(s, "required"))
			o->fencing = ATTACH_FENCING_REQUIRED;
		else if (s && !strcmp(s, "off"))
			o->fencing = ATTACH_FENCING_OFF;
		else
			errlist_add(el, "fencing: must be \"auto\" (the default: reserve when the "
					"target supports persistent reservations), \"required\" "
					"(refuse a read-write attach the target cannot fence) or "
					"\"off\" (register nothing)");
	}
	v = json_object_get(opts, "takeover");
	if (v && !json_is_null(v)) {
		if (attach_json_bool(v, &b) < 0)
			errlist_add(el, "takeover: must be true (take the volume over from another "
					"host, fencing its writes) or false");
		else
			o->takeover = b;
	}
}

int attach_opts_parse(const json_t *opts, struct attach_opts *ret, struct errlist *el)
{
	struct attach_opts o = { .fs = "ext4" };
	const struct backend_ops *be = NULL;
	const char *bename = "file";
	const char *key;
	const json_t *v;
	unsigned before = el->n;

	if (opts && !json_is_null(opts) && !json_is_object(opts)) {
		errlist_add(el, "Opts: must be a JSON object");
		return -EINVAL;
	}
	v = opts ? json_object_get(opts, "backend") : NULL;
	if (v) {
		bename = json_string_value(v);
		if (!bename) {
			errlist_add(el, "backend: must be a string (iscsi, nvme, scaleio or file)");
			bename = NULL;
		}
	}
	if (bename) {
		be = backend_find(bename);
		if (!be)
			errlist_add(el, "backend: unknown backend '%.64s' (supported: iscsi, nvme, scaleio, file)",
				    bename);
	}
	json_object_foreach((json_t *)opts, key, v)
	{
		if (key_in(key, generic_keys) || (be && key_in(key, be->keys)))
			continue;
		if (be)
			errlist_add(el, "unknown option '%.64s' for backend %s", key, be->name);
	}
	if (opts && json_is_object(opts))
		parse_generic(opts, &o, el);
	if (be) {
		json_t *empty = NULL;
		const json_t *src = opts && json_is_object(opts) ? opts : (empty = json_object());
		int r = be->parse(src, &o.be_cfg, el);

		json_decref(empty);
		if (r < 0 && el->n == before)
			errlist_add(el, "backend %s: invalid options", be->name);
	}
	if (el->n > before) {
		if (be && o.be_cfg)
			be->free_cfg(o.be_cfg);
		return -EINVAL;
	}
	o.be = be;
	*ret = o;
	return 0;
}

void attach_opts_done(struct attach_opts *o)
{
	if (o->be && o->be_cfg)
		o->be->free_cfg(o->be_cfg);
	o->be_cfg = NULL;
}

/* A key whose value may be shown: a known option that is not a secret. Anything else
 * (a misspelt "chap_secert", a key of a future backend) may hold a secret. */
static int key_is_public(const char *key)
{
	if (strstr(key, "secret") || strstr(key, "password") || strstr(key, "token"))
		return 0;
	if (key_in(key, generic_keys))
		return 1;
	for (size_t i = 0; backend_registry[i]; i++)
		if (key_in(key, backend_registry[i]->keys) &&
		    !key_in(key, backend_registry[i]->secret_keys))
			return 1;
	return 0;
}

json_t *attach_opts_redacted(const json_t *opts)
{
	json_t *copy;
	const char *key;
	json_t *v;

	if (!opts || !json_is_object(opts))
		return opts && !json_is_null(opts) ? json_string("REDACTED") : json_null();
	copy = json_deep_copy(opts);
	if (!copy)
		return NULL;
	json_object_foreach(copy, key, v)
	{
		/* Known keys keep scalar values; nested values are never options we define. */
		if (!key_is_public(key) || json_is_object(v) ||
		    (json_is_array(v) && strcmp(key, "portals") != 0 && strcmp(key, "traddr") != 0))
			json_object_set_new(copy, key, json_string("REDACTED"));
	}
	return copy;
}
