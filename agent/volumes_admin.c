/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/log.h"
#include "agent/names.h"
#include "agent/trace.h"
#include "agent/volumes_admin.h"
#include "agent/volumes_internal.h"
#include "lib/macro.h"

int agent_volumes_resolve(struct agent_volumes *r, const char *name, char *key, size_t n,
			  struct errbuf *e)
{
	struct agent_name an;
	int found = 0;

	if (!name || !*name)
		return errbuf_set(e, -EINVAL, "a volume name is required");
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !found; i++)
		found = streq(r->vols[i]->key, name);
	pthread_mutex_unlock(&r->lock);
	if (found) {
		snprintf(key, n, "%s", name);
		return 0;
	}
	if (agent_name_decode(name, &an, e) < 0 || !an.unique)
		return errbuf_set(e, -ENOENT, "no volume '%s' on this host", name);
	snprintf(key, n, "%s", an.key);
	return 0;
}

int agent_volumes_keys(struct agent_volumes *r, char ***ret)
{
	char **keys;
	int oom = 0;

	pthread_mutex_lock(&r->lock);
	keys = calloc(r->n + 1, sizeof(*keys));
	for (size_t i = 0; keys && i < r->n && !oom; i++) {
		keys[i] = strdup(r->vols[i]->key);
		oom = !keys[i];
	}
	pthread_mutex_unlock(&r->lock);
	if (!keys || oom) {
		for (size_t i = 0; keys && keys[i]; i++)
			free(keys[i]);
		free(keys);
		return -ENOMEM;
	}
	*ret = keys;
	return 0;
}

int agent_volumes_lock_name(struct agent_volumes *r, const char *name, struct agent_volume **ret,
			    struct errbuf *e)
{
	char key[ATTACH_KEY_MAX + 1];
	int rc;

	rc = agent_volumes_resolve(r, name, key, sizeof(key), e);
	if (rc < 0)
		return rc;
	rc = agent_volume_lock(r, key, ret, e);
	if (rc == -ENOENT)
		return errbuf_set(e, -ENOENT, "no volume '%s' on this host", name);
	return rc;
}

int agent_volumes_admin_resolve(struct agent_volumes *r, const char *name, char *ret, size_t n,
				struct errbuf *e)
{
	char key[ATTACH_KEY_MAX + 1];
	int found = 0, rc;

	rc = agent_volumes_resolve(r, name, key, sizeof(key), e);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !found; i++)
		found = streq(r->vols[i]->key, key);
	pthread_mutex_unlock(&r->lock);
	if (!found)
		return errbuf_set(e, -ENOENT, "no volume '%s' on this host", name);
	snprintf(ret, n, "%s", key);
	return 0;
}

static json_t *mounts_json(const struct agent_volume *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < v->n_mounts; i++) {
		const struct agent_mount *m = &v->mounts[i];

		json_array_append_new(
		    a, json_pack("{s:o,s:o,s:o,s:i}", "name", agent_json_string(m->name),
				 "container", agent_json_string(m->container), "path",
				 agent_json_string(m->path), "count", (json_int_t)m->count));
	}
	return a;
}

static json_t *time_json(int64_t ms)
{
	char buf[40];
	struct tm tm;
	time_t t = (time_t)(ms / 1000);

	if (ms <= 0 || !gmtime_r(&t, &tm))
		return json_null();
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

/* data_lock held (or the operation lock: then av's own paths are current). */
static json_t *paths_json(const struct attach_path *paths, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++) {
		const struct attach_path *p = &paths[i];
		char devno[24];

		snprintf(devno, sizeof(devno), "%u:%u", p->bp.dev.major, p->bp.dev.minor);
		json_array_append_new(
		    a, json_pack("{s:o,s:o,s:s,s:o,s:s,s:o,s:o,s:i,s:o,s:i,s:i}", "id",
				 agent_json_string(p->bp.id), "device",
				 agent_json_string(p->bp.dev.sysname), "devno", devno, "where",
				 agent_json_string(p->bp.where), "state",
				 p->failed ? "failed" : "active", "last_check",
				 time_json(p->checked_ms), "last_result",
				 agent_json_string(p->last_detail), "last_errno",
				 (json_int_t)-p->last_result, "changed", time_json(p->changed_ms),
				 "failures", (json_int_t)p->failures, "group", (json_int_t)p->group));
	}
	return a;
}

/*
 * Registry lock held. The operation lock is only tried, never waited for (which is what
 * makes taking it under the registry lock safe): the pipeline's fields (device, dm,
 * staging) are only read while no operation runs. NULL for a removed volume.
 */
static json_t *describe_locked(struct agent_volume *v, int with_trace)
{
	int have_op = pthread_mutex_trylock(&v->op_lock) == 0;
	const struct attach_volume *av = &v->av;
	json_t *o = NULL;

	pthread_mutex_lock(&v->data_lock);
	if (!v->removed) {
		/* The path checker holds the operation lock for a round but changes only the
		 * paths (published under data_lock): device, dm and staging stay valid. */
		int checking = !have_op && v->checking;
		int live = (have_op || checking) && v->attached;
		int mp = have_op ? attach_volume_has_paths(av) : v->mp_multipath;

		o = json_pack("{s:o,s:s,s:s,s:b,s:s,s:b,s:o,s:o,s:s,s:s,s:s,s:o,s:o}", "volume",
			      agent_json_string(v->key), "backend",
			      av->opts.be ? av->opts.be->name : "", "state",
			      v->attaching  ? "attaching"
			      : v->attached ? "attached"
					    : "detached",
			      "busy", !have_op && !checking, "fs", av->opts.fs, "readonly", av->opts.readonly,
			      "identity", agent_json_string(v->identity), "device",
			      agent_json_string(live ? av->dev.devnode : ""), "dm",
			      live ? av->dm_name : "", "dm_devnode", live ? av->dm_devnode : "",
			      "staging", live ? av->staging : "", "mounts", mounts_json(v),
			      "options", attach_opts_redacted(v->opts));
		if (o && mp && v->attached) {
			json_object_set_new(o, "queueing",
					    json_boolean(have_op ? av->queueing : v->mp_queueing));
			json_object_set_new(o, "paths",
					    have_op ? paths_json(av->paths, av->n_paths)
						    : paths_json(v->mp_paths, v->mp_n_paths));
		}
		if (o) {
			json_t *f = agent_volume_fence_json(v);

			if (f)
				json_object_set_new(o, "fencing", f);
		}
		if (o && with_trace && have_op)
			json_object_set_new(o, "trace", agent_trace_json(av));
	}
	pthread_mutex_unlock(&v->data_lock);
	if (have_op)
		pthread_mutex_unlock(&v->op_lock);
	return o;
}

/* ---- attachctl ls's table, as text ---- */

/* A growing text buffer; oom sticks once an append failed. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static int buf_room(struct buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *np;

	if (b->oom)
		return 0;
	if (b->len + n + 1 <= b->cap)
		return 1;
	while (cap < b->len + n + 1)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->oom = 1;
		return 0;
	}
	b->p = np;
	b->cap = cap;
	return 1;
}

static void buf_put(struct buf *b, const char *s, size_t n)
{
	if (!buf_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* s as a JSON string: '"' and '\\' escaped, control characters as \u00XX, bytes outside
 * ASCII as '?' (keys, device and dm names, backend and fs names are ASCII). */
static void buf_str(struct buf *b, const char *s)
{
	buf_put(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		char esc[8];

		if (*p == '"' || *p == '\\')
			buf_put(b, (const char[]){'\\', (char)*p}, 2);
		else if (*p < 0x20)
			buf_put(b, esc, (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p));
		else
			buf_put(b, *p < 0x80 ? (const char *)p : "?", 1);
	}
	buf_put(b, "\"", 1);
}

struct brief_row {
	const char *key; /* the volume's (registry lock held) */
	struct agent_volume *v;
	char k[ATTACH_KEY_MAX + 1]; /* a copy, for after the lock */
	size_t start, end;	    /* the row without its closing bracket, in rows */
	int has_paths;
};

/* One row into b, the way describe_locked sees the volume (registry lock held): 0 for a
 * removed volume, 1 without paths, 2 with. */
static int brief_row_locked(struct agent_volume *v, struct buf *b)
{
	int have_op = pthread_mutex_trylock(&v->op_lock) == 0;
	const struct attach_volume *av = &v->av;
	int done = 0;
	char num[32];

	pthread_mutex_lock(&v->data_lock);
	if (!v->removed) {
		int checking = !have_op && v->checking;
		int live = (have_op || checking) && v->attached;
		int mp = have_op ? attach_volume_has_paths(av) : v->mp_multipath;

		buf_puts(b, "[");
		buf_str(b, v->key);
		buf_puts(b, ",");
		buf_str(b, av->opts.be ? av->opts.be->name : "");
		buf_puts(b, v->attaching  ? ",\"attaching\","
			    : v->attached ? ",\"attached\","
					  : ",\"detached\",");
		buf_puts(b, !have_op && !checking ? "true," : "false,");
		buf_str(b, av->opts.fs);
		buf_puts(b, ",");
		buf_str(b, live ? av->dev.devnode : "");
		buf_puts(b, ",");
		buf_str(b, live ? av->dm_name : "");
		buf_put(b, num, (size_t)snprintf(num, sizeof(num), ",%zu", v->n_mounts));
		done = 1;
		if (mp && v->attached) {
			const struct attach_path *p = have_op ? av->paths : v->mp_paths;
			unsigned n = have_op ? av->n_paths : v->mp_n_paths;

			buf_puts(b, ",[");
			for (unsigned i = 0; i < n; i++) {
				buf_puts(b, i ? "," : "");
				buf_puts(b, p[i].failed ? "\"failed\"" : "\"active\"");
			}
			buf_puts(b, "]");
			done = 2;
		}
	}
	pthread_mutex_unlock(&v->data_lock);
	if (have_op)
		pthread_mutex_unlock(&v->op_lock);
	return done;
}

static int by_row_key(const void *a, const void *b)
{
	return strcmp(((const struct brief_row *)a)->key, ((const struct brief_row *)b)->key);
}

char *agent_volumes_admin_list_brief(struct agent_volumes *r,
				     json_t *(*extra)(void *userdata, const char *key),
				     void *userdata)
{
	struct buf rows = {0}, out = {0};
	struct brief_row *row;
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	row = calloc(r->n + 1, sizeof(*row));
	for (size_t i = 0; row && i < r->n; i++)
		row[i] = (struct brief_row){.key = r->vols[i]->key, .v = r->vols[i]};
	if (row)
		qsort(row, r->n, sizeof(*row), by_row_key);
	for (size_t i = 0; row && i < r->n; i++) {
		size_t start = rows.len;
		int done = brief_row_locked(row[i].v, &rows);

		if (!done)
			continue;
		snprintf(row[n].k, sizeof(row[n].k), "%s", row[i].key);
		row[n].start = start;
		row[n].has_paths = done == 2;
		row[n++].end = rows.len;
	}
	pthread_mutex_unlock(&r->lock);
	if (!row || rows.oom) {
		free(row);
		free(rows.p);
		return NULL;
	}
	buf_puts(&out, "[");
	/* Outside the registry lock: extra takes its own locks. */
	for (size_t i = 0; i < n; i++) {
		json_t *x = extra ? extra(userdata, row[i].k) : NULL;
		char *xt = x ? json_dumps(x, JSON_COMPACT) : NULL;

		if (i)
			buf_puts(&out, ",");
		buf_put(&out, rows.p + row[i].start, row[i].end - row[i].start);
		if (xt) {
			buf_puts(&out, row[i].has_paths ? "," : ",null,");
			buf_puts(&out, xt);
		}
		out.oom |= x && !xt;
		buf_puts(&out, "]");
		free(xt);
		json_decref(x);
	}
	buf_puts(&out, "]");
	free(row);
	free(rows.p);
	if (out.oom) {
		free(out.p);
		return NULL;
	}
	return out.p;
}

static int by_volume(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "volume")),
		      json_string_value(json_object_get(*(json_t *const *)b, "volume")));
}

json_t *agent_volumes_admin_list(struct agent_volumes *r)
{
	json_t **items, *out;
	size_t n = 0;

	pthread_mutex_lock(&r->lock);
	items = calloc(r->n + 1, sizeof(*items));
	for (size_t i = 0; items && i < r->n; i++) {
		json_t *o = describe_locked(r->vols[i], 0);

		if (o)
			items[n++] = o;
	}
	pthread_mutex_unlock(&r->lock);
	if (!items)
		return NULL;
	qsort(items, n, sizeof(*items), by_volume);
	out = json_array();
	for (size_t i = 0; i < n; i++) {
		if (out)
			json_array_append(out, items[i]);
		json_decref(items[i]);
	}
	free(items);
	return out;
}

int agent_volumes_admin_show(struct agent_volumes *r, const char *name, json_t **ret,
			     struct errbuf *e)
{
	char key[ATTACH_KEY_MAX + 1];
	json_t *o = NULL;
	int rc;

	rc = agent_volumes_resolve(r, name, key, sizeof(key), e);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (streq(r->vols[i]->key, key)) {
			o = describe_locked(r->vols[i], 1);
			break;
		}
	pthread_mutex_unlock(&r->lock);
	if (!o)
		return errbuf_set(e, -ENOENT, "no volume '%s' on this host", name);
	*ret = o;
	return 0;
}

int agent_volumes_admin_trace(struct agent_volumes *r, const char *name, json_t **ret,
			      struct errbuf *e)
{
	struct agent_volume *v;
	json_t *t;
	int rc;

	rc = agent_volumes_lock_name(r, name, &v, e);
	if (rc < 0)
		return rc;
	t = agent_trace_json(&v->av);
	agent_volume_unlock(r, v);
	if (!t)
		return errbuf_set(e, -ENOMEM, "out of memory");
	*ret = t;
	return 0;
}

/* Operation lock held: unbind every container of v (each once) and forget the names.
 * Stops at the first failure, keeping the names of what is still bound. */
static int unbind_all(struct agent_volumes *r, struct agent_volume *v, struct errbuf *e)
{
	while (v->n_mounts > 0) {
		struct agent_mount *m = &v->mounts[v->n_mounts - 1];
		char container[sizeof(m->container)];
		int rc;

		snprintf(container, sizeof(container), "%s", m->container);
		rc = r->ops->unbind(r->env, &v->av, container, e);
		if (rc < 0)
			return errbuf_prefix(e, rc,
					     "unmounting volume '%s' for container '%s' failed",
					     v->key, container);
		agent_log(AGENT_LOG_INFO, "attachd.admin.unbound",
			  json_pack("{s:s,s:s}", "volume", v->key, "container", container));
		/* Drop every name of that container. */
		pthread_mutex_lock(&v->data_lock);
		for (size_t i = 0; i < v->n_mounts;)
			if (streq(v->mounts[i].container, container))
				agent_volume_drop_mount(v, i);
			else
				i++;
		pthread_mutex_unlock(&v->data_lock);
		/* Keep the durable record in step, as Unmount does. */
		if (v->n_mounts > 0 || v->attached)
			agent_volume_save(r, v, NULL);
		else
			agent_volume_forget(r, v);
	}
	return 0;
}

static void set_detached(struct agent_volume *v)
{
	pthread_mutex_lock(&v->data_lock);
	v->attached = 0;
	pthread_mutex_unlock(&v->data_lock);
}

int agent_volumes_admin_detach(struct agent_volumes *r, const char *name, int force,
			       struct errbuf *e)
{
	char names[512] = "";
	struct agent_volume *v;
	int rc;

	rc = agent_volumes_lock_name(r, name, &v, e);
	if (rc < 0)
		return rc;
	if (v->n_mounts > 0 && !force) {
		for (size_t i = 0; i < v->n_mounts; i++) {
			size_t l = strlen(names);

			snprintf(names + l, sizeof(names) - l, "%s%s", i ? ", " : "",
				 v->mounts[i].name);
		}
		rc = errbuf_set(e, -EBUSY,
				"volume '%s' is still mounted for %zu container name%s (%s); "
				"unmount %s through Volman first, or use detach --force",
				v->key, v->n_mounts, v->n_mounts == 1 ? "" : "s", names,
				v->n_mounts == 1 ? "it" : "them");
		goto out;
	}
	rc = unbind_all(r, v, e);
	if (rc < 0)
		goto out;
	/* Leftovers of an attach whose rollback failed count as attached: detach cleans
	 * them up. */
	if (!v->attached && v->av.reached == STEP_NONE && v->av.doing == STEP_NONE) {
		rc = 0;
		goto out;
	}
	rc = agent_volume_down(r, v, force, e);
	if (rc < 0) {
		errbuf_prefix(e, rc, "detaching volume '%s' failed", v->key);
		goto out;
	}
	set_detached(v);
	agent_log(AGENT_LOG_INFO, "attachd.admin.detached",
		  json_pack("{s:s,s:b}", "volume", v->key, "force", force));
	rc = 1;
out:
	agent_volume_unlock(r, v);
	return rc;
}

static json_t *drain_one(struct agent_volumes *r, const char *key, int *ret_failed)
{
	struct agent_volume *v = NULL;
	struct errbuf e = {{0}}, e2 = {{0}};
	const char *result;
	int rc;

	*ret_failed = 0;
	rc = agent_volume_lock(r, key, &v, &e);
	if (rc == -ENOENT)
		return NULL; /* removed meanwhile */
	if (rc < 0) {
		*ret_failed = 1;
		return json_pack("{s:s,s:s,s:o}", "volume", key, "result", "failed", "error",
				 agent_json_string(e.msg));
	}
	rc = unbind_all(r, v, &e);
	if (rc < 0) {
		result = "failed";
	} else if (!v->attached && v->av.reached == STEP_NONE && v->av.doing == STEP_NONE) {
		result = "not-attached";
	} else if (agent_volume_down(r, v, 0, &e) >= 0) {
		set_detached(v);
		result = "detached";
	} else if (agent_volume_down(r, v, 1, &e2) >= 0) {
		/* Containers are gone at drain time: a filesystem still busy is a leftover
		 * that must not keep the cell from shutting down. */
		set_detached(v);
		result = "forced";
	} else {
		result = "failed";
		errbuf_prefix(&e, -EIO, "%.400s; forced: %.400s", e.msg, e2.msg);
	}
	agent_volume_unlock(r, v);
	*ret_failed = streq(result, "failed");
	agent_log(*ret_failed ? AGENT_LOG_ERROR : AGENT_LOG_INFO, "attachd.drain.volume",
		  json_pack("{s:s,s:s,s:o}", "volume", key, "result", result, "error",
			    agent_json_string(e.msg)));
	return json_pack("{s:s,s:s,s:o}", "volume", key, "result", result, "error",
			 agent_json_string(e.msg));
}

json_t *agent_volumes_admin_drain(struct agent_volumes *r, unsigned *ret_failed)
{
	char(*keys)[ATTACH_KEY_MAX + 1] = NULL;
	size_t n = 0;
	json_t *out = json_array();
	unsigned failed = 0;
	int oom = 0;

	if (!out)
		return NULL;
	pthread_mutex_lock(&r->lock);
	if (r->n) {
		keys = calloc(r->n, sizeof(*keys));
		oom = !keys;
	}
	for (size_t i = 0; keys && i < r->n; i++)
		snprintf(keys[n++], sizeof(keys[0]), "%s", r->vols[i]->key);
	pthread_mutex_unlock(&r->lock);
	if (oom) {
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int f;
		json_t *o = drain_one(r, keys[i], &f);

		failed += f;
		if (o)
			json_array_append_new(out, o);
	}
	free(keys);
	*ret_failed = failed;
	return out;
}

int agent_volumes_admin_takeover(struct agent_volumes *r, const char *name, json_t **ret,
				 struct errbuf *e)
{
	struct agent_volume *v;
	int rc;

	rc = agent_volumes_lock_name(r, name, &v, e);
	if (rc == -ENOENT)
		return errbuf_set(e, -ENOENT,
				  "no volume '%s' on this host (Create it here first: a takeover "
				  "is done by the host that wants the volume)",
				  name);
	if (rc < 0)
		return rc;
	agent_volume_set_step(v, "takeover");
	rc = agent_volume_fence_takeover(r, v, ret, e);
	agent_volume_unlock(r, v);
	return rc;
}

void agent_volume_drop_mount(struct agent_volume *v, size_t i)
{
	free(v->mounts[i].path);
	v->mounts[i] = v->mounts[--v->n_mounts];
	if (v->n_mounts == 0) {
		free(v->mounts);
		v->mounts = NULL;
	}
}

struct agent_mount *agent_volume_find_mount(struct agent_volume *v, const char *name)
{
	for (size_t i = 0; i < v->n_mounts; i++)
		if (streq(v->mounts[i].name, name))
			return &v->mounts[i];
	return NULL;
}

unsigned agent_volume_container_users(const struct agent_volume *v, const char *container)
{
	unsigned users = 0;

	for (size_t i = 0; i < v->n_mounts; i++)
		if (streq(v->mounts[i].container, container))
			users++;
	return users;
}
