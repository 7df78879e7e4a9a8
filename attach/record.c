/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipeline state of a volume as JSON, for the agent's durable records. Only what the
 * pipeline needs to replay or undo its steps after a crash: how far it got, the kernel
 * objects it made (att.objs is the backend's own record), the dm device, the device and
 * identity it verified, and the filesystem. Options (and so secrets) are the agent's.
 */
#include <errno.h>
#include <stdio.h>
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

json_t *attach_volume_to_json(const struct attach_volume *v)
{
	json_t *objs = v->att.objs ? json_deep_copy(v->att.objs) : json_object();

	if (!objs)
		return NULL;
	return json_pack("{s:s,s:s?,s:o,s:s,s:s,s:s,s:{s:s,s:s,s:i,s:i},s:{s:s,s:I},s:s,s:b}",
			 "reached", attach_step_name(v->reached), "doing",
			 v->doing == STEP_NONE ? NULL : attach_step_name(v->doing), "objs", objs,
			 "dm_name", v->dm_name, "dm_device", v->dm_devnode, "staging", v->staging,
			 "device", "sysname", v->dev.sysname, "devnode", v->dev.devnode, "major",
			 (int)v->dev.major, "minor", (int)v->dev.minor, "identity", "wwid",
			 v->ident.wwid, "size_bytes", (json_int_t)v->ident.size_bytes, "fs",
			 v->fs_found, "formatted", v->formatted);
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

static int get_uint(const json_t *j, const char *key, uint64_t max, uint64_t *ret,
		    struct errbuf *e)
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
