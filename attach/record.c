/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipeline state of a volume as JSON, for the agent's durable records. Only what the
 * pipeline needs to replay or undo its steps after a crash: how far it got, the kernel
 * objects it made (att.objs is the backend's own record), the dm device, the device and
 * identity it verified, and the filesystem. Options (and so secrets) are the agent's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/internal.h"
#include "lib/macro.h"

int attach_step_from_name(const char *name, enum attach_step *ret)
{
	for (int s = STEP_NONE; s < _STEP_MAX; s++)
		if (streq(attach_step_name(s), name)) {
			*ret = s;
			return 0;
		}
	return -EINVAL;
}

/* The multipath part: {"multipath": true, "queueing": b, "paths": [{id, devno, sysname,
 * devnode, where, wwid, failed, group}]}; nothing for a volume without paths. */
static int paths_to_json(const struct attach_volume *v, json_t *j)
{
	json_t *paths;

	if (!v->multipath && v->n_paths == 0)
		return 0;
	paths = json_array();
	if (!paths || json_object_set_new(j, "paths", paths) < 0)
		return -ENOMEM;
	for (unsigned i = 0; i < v->n_paths && i < BACKEND_MAX_PATHS; i++) {
		const struct attach_path *p = &v->paths[i];
		char devno[32];

		snprintf(devno, sizeof(devno), "%u:%u", p->bp.dev.major, p->bp.dev.minor);
		if (json_array_append_new(
			paths, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:i}", "id", p->bp.id,
					 "devno", devno, "sysname", p->bp.dev.sysname, "devnode",
					 p->bp.dev.devnode, "where", p->bp.where, "wwid",
					 p->bp.wwid, "failed", p->failed, "group", (int)p->group)) <
		    0)
			return -ENOMEM;
	}
	if (json_object_set_new(j, "multipath", json_boolean(v->multipath)) < 0 ||
	    json_object_set_new(j, "queueing", json_boolean(v->queueing)) < 0)
		return -ENOMEM;
	return 0;
}

json_t *attach_volume_to_json(const struct attach_volume *v)
{
	json_t *objs = v->att.objs ? json_deep_copy(v->att.objs) : json_object();
	json_t *j;

	if (!objs)
		return NULL;
	j = json_pack("{s:s,s:s?,s:o,s:s,s:s,s:s,s:{s:s,s:s,s:i,s:i},s:{s:s,s:I},s:s,s:b}",
		      "reached", attach_step_name(v->reached), "doing",
		      v->doing == STEP_NONE ? NULL : attach_step_name(v->doing), "objs", objs,
		      "dm_name", v->dm_name, "dm_device", v->dm_devnode, "staging", v->staging,
		      "device", "sysname", v->dev.sysname, "devnode", v->dev.devnode, "major",
		      (int)v->dev.major, "minor", (int)v->dev.minor, "identity", "wwid",
		      v->ident.wwid, "size_bytes", (json_int_t)v->ident.size_bytes, "fs",
		      v->fs_found, "formatted", v->formatted);
	if (j && v->fence_status != ATTACH_FENCE_ST_NONE) {
		char key[24];

		snprintf(key, sizeof(key), "0x%016llx", (unsigned long long)v->fence_key);
		if (json_object_set_new(j, "fence",
					json_pack("{s:s,s:s,s:s}", "status",
						  attach_fence_status_name(v->fence_status), "key",
						  key, "detail", v->fence_detail)) < 0) {
			json_decref(j);
			return NULL;
		}
	}
	if (j && paths_to_json(v, j) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int get_str(const json_t *j, const char *key, char *buf, size_t n, int required,
		   struct errbuf *e)
{
	const json_t *v = json_object_get(j, key);

	if (!v && !required) {
		buf[0] = 0;
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= n)
		return errbuf_set(e, -EINVAL, "record: '%s' must be a string shorter than %zu", key,
				  n);
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int get_step(const json_t *j, const char *key, enum attach_step *ret, struct errbuf *e)
{
	const json_t *v = json_object_get(j, key);

	if (!v || json_is_null(v)) {
		*ret = STEP_NONE;
		return 0;
	}
	if (!json_is_string(v) || attach_step_from_name(json_string_value(v), ret) < 0)
		return errbuf_set(e, -EINVAL, "record: '%s' is not a step name", key);
	return 0;
}

static int get_uint(const json_t *j, const char *key, uint64_t max, uint64_t *ret, struct errbuf *e)
{
	const json_t *v = json_object_get(j, key);

	if (!v) {
		*ret = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return errbuf_set(e, -EINVAL, "record: '%s' must be an integer 0-%llu", key,
				  (unsigned long long)max);
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

static int devno_parse(const char *s, unsigned *ret_major, unsigned *ret_minor)
{
	unsigned ma, mi;
	char end;

	if (!s || sscanf(s, "%u:%u%c", &ma, &mi, &end) != 2 || ma == 0 || ma > 0xfff ||
	    mi > 0xfffff)
		return -EINVAL;
	*ret_major = ma;
	*ret_minor = mi;
	return 0;
}

/* Records written before multipath have none of these keys: a linear volume. */
static int paths_from_json(const json_t *j, struct attach_volume *t, struct errbuf *e)
{
	const json_t *paths = json_object_get(j, "paths"), *p;
	size_t i;

	t->multipath = json_is_true(json_object_get(j, "multipath"));
	t->queueing = json_is_true(json_object_get(j, "queueing"));
	t->n_paths = 0;
	memset(t->paths, 0, sizeof(t->paths));
	if (!paths)
		return 0;
	if (!json_is_array(paths) || json_array_size(paths) > BACKEND_MAX_PATHS)
		return errbuf_set(e, -EINVAL, "record: 'paths' must be a list of at most %d paths",
				  BACKEND_MAX_PATHS);
	json_array_foreach(paths, i, p)
	{
		struct attach_path *ap = &t->paths[i];
		char devno[32];
		uint64_t g;
		int r;

		if (!json_is_object(p))
			return errbuf_set(e, -EINVAL, "record: path %zu is not an object", i);
		r = get_str(p, "id", ap->bp.id, sizeof(ap->bp.id), 1, e);
		if (r >= 0)
			r = get_str(p, "devno", devno, sizeof(devno), 1, e);
		if (r >= 0 && devno_parse(devno, &ap->bp.dev.major, &ap->bp.dev.minor) < 0)
			r = errbuf_set(e, -EINVAL, "record: path %zu: 'devno' is not MAJ:MIN", i);
		if (r >= 0)
			r = get_str(p, "sysname", ap->bp.dev.sysname, sizeof(ap->bp.dev.sysname), 0,
				    e);
		if (r >= 0)
			r = get_str(p, "devnode", ap->bp.dev.devnode, sizeof(ap->bp.dev.devnode), 0,
				    e);
		if (r >= 0)
			r = get_str(p, "where", ap->bp.where, sizeof(ap->bp.where), 0, e);
		if (r >= 0)
			r = get_str(p, "wwid", ap->bp.wwid, sizeof(ap->bp.wwid), 0, e);
		if (r >= 0)
			r = get_uint(p, "group", BACKEND_MAX_PATHS, &g, e);
		if (r < 0)
			return r;
		ap->group = (unsigned)g;
		ap->failed = json_is_true(json_object_get(p, "failed"));
		t->n_paths++;
	}
	return 0;
}

/* {"fence": {"status", "key", "detail"}}; none: ATTACH_FENCE_ST_NONE (older records). */
static int fence_from_json(const json_t *j, struct attach_volume *t, struct errbuf *e)
{
	const json_t *f = json_object_get(j, "fence");
	const char *st, *key, *detail;
	unsigned long long k;
	char *end;
	int s;

	t->fence_status = ATTACH_FENCE_ST_NONE;
	t->fence_key = 0;
	t->fence_detail[0] = 0;
	if (!f)
		return 0;
	st = json_string_value(json_object_get(f, "status"));
	key = json_string_value(json_object_get(f, "key"));
	detail = json_string_value(json_object_get(f, "detail"));
	if (!json_is_object(f) || !st || !key)
		return errbuf_set(e, -EINVAL, "record: 'fence' must be {status, key, detail}");
	for (s = ATTACH_FENCE_ST_HELD; s <= ATTACH_FENCE_ST_LOST; s++)
		if (streq(st, attach_fence_status_name(s)))
			break;
	if (s > ATTACH_FENCE_ST_LOST)
		return errbuf_set(e, -EINVAL, "record: unknown fence status '%s'", st);
	errno = 0;
	k = strtoull(key, &end, 16);
	if (errno || *end || strncmp(key, "0x", 2))
		return errbuf_set(e, -EINVAL, "record: fence key '%s' is not 0x and 16 hex digits",
				  key);
	t->fence_status = s;
	t->fence_key = k;
	snprintf(t->fence_detail, sizeof(t->fence_detail), "%s", detail ? detail : "");
	return 0;
}

int attach_volume_from_json(const json_t *j, struct attach_volume *v, struct errbuf *e)
{
	struct attach_volume t;
	const json_t *objs, *dev, *id;
	char dm_name[sizeof(v->dm_name)];
	uint64_t u;
	int r;

	if (!json_is_object(j))
		return errbuf_set(e, -EINVAL, "record: the volume state is not an object");
	/* Fill a copy, so v is untouched on error. */
	t = *v;
	r = get_step(j, "reached", &t.reached, e);
	if (r >= 0)
		r = get_step(j, "doing", &t.doing, e);
	if (r >= 0)
		r = get_str(j, "dm_name", dm_name, sizeof(dm_name), 1, e);
	if (r >= 0 && !streq(dm_name, v->dm_name))
		r = errbuf_set(e, -EINVAL, "record: dm device %s does not belong to volume %s",
			       dm_name, v->key);
	if (r >= 0)
		r = get_str(j, "staging", t.staging, sizeof(t.staging), 0, e);
	if (r >= 0)
		r = get_str(j, "fs", t.fs_found, sizeof(t.fs_found), 0, e);
	if (r < 0)
		return r;
	if (t.reached > STEP_MOUNT)
		return errbuf_set(e, -EINVAL, "record: 'reached' is not an attach step");
	t.formatted = json_is_true(json_object_get(j, "formatted"));

	dev = json_object_get(j, "device");
	if (dev) {
		if (!json_is_object(dev))
			return errbuf_set(e, -EINVAL, "record: 'device' must be an object");
		r = get_str(dev, "sysname", t.dev.sysname, sizeof(t.dev.sysname), 0, e);
		if (r >= 0)
			r = get_str(dev, "devnode", t.dev.devnode, sizeof(t.dev.devnode), 0, e);
		if (r >= 0)
			r = get_uint(dev, "major", 0xfff, &u, e);
		if (r < 0)
			return r;
		t.dev.major = (unsigned)u;
		r = get_uint(dev, "minor", 0xfffff, &u, e);
		if (r < 0)
			return r;
		t.dev.minor = (unsigned)u;
	}
	id = json_object_get(j, "identity");
	if (id) {
		if (!json_is_object(id))
			return errbuf_set(e, -EINVAL, "record: 'identity' must be an object");
		r = get_str(id, "wwid", t.ident.wwid, sizeof(t.ident.wwid), 0, e);
		if (r >= 0)
			r = get_uint(id, "size_bytes", INT64_MAX, &t.ident.size_bytes, e);
		if (r < 0)
			return r;
	}
	r = paths_from_json(j, &t, e);
	if (r < 0)
		return r;
	r = fence_from_json(j, &t, e);
	if (r < 0)
		return r;
	objs = json_object_get(j, "objs");
	if (objs && !json_is_object(objs))
		return errbuf_set(e, -EINVAL, "record: 'objs' must be an object");
	objs = objs ? json_deep_copy(objs) : json_object();
	if (!objs)
		return errbuf_set(e, -ENOMEM, "out of memory");
	json_decref(v->att.objs);
	*v = t;
	v->att.objs = (json_t *)objs;
	return 0;
}
