/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/admin_live.h"
#include "agent/log.h"
#include "agent/volumes_admin.h"
#include "agent/volumes_internal.h"
#include "backends/scaleio/gateway.h"
#include "lib/macro.h"

/* ---- watch ---- */

static int send_line(struct agent_http_stream *st, const char *line)
{
	int r = agent_http_stream_write(st, line, strlen(line));

	return r < 0 ? r : agent_http_stream_write(st, "\n", 1);
}

/* A stream that is only an error line. */
static int stream_err(struct agent_http_stream *st, int r, const char *msg)
{
	json_t *o = json_pack("{s:o,s:s}", "Err", agent_json_string(msg), "errno",
			      strerrorname_np(-r) ?: "EIO");
	char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (agent_http_stream_begin(st, "application/x-ndjson") == 0 && line)
		(void)send_line(st, line);
	free(line);
	return 1;
}

int agent_admin_stream(const struct agent_admin_ctx *c, const char *method, const char *url,
		       const char *body, size_t len, struct agent_http_stream *st)
{
	_cleanup_(json_decrefp) json_t *args = NULL;
	struct agent_progress_watcher *w = NULL;
	char key[ATTACH_KEY_MAX + 1] = "";
	struct errbuf e = {{0}};
	const json_t *name;
	int r;

	if (!streq(url, "/v1/watch"))
		return 0;
	if (len > 0) {
		json_error_t je;

		args = json_loadb(body, len, 0, &je);
		if (!json_is_object(args))
			return stream_err(st, -EINVAL, "the body must be a JSON object");
	}
	if (!c->progress)
		return stream_err(st, -EOPNOTSUPP, "watch is not available in this agent");
	name = json_object_get(args, "name");
	if (name && !json_is_null(name)) {
		if (!json_is_string(name))
			return stream_err(st, -EINVAL, "watch: \"name\" must be a string");
		r = agent_volumes_admin_resolve(c->vols, json_string_value(name), key, sizeof(key),
						&e);
		if (r < 0)
			return stream_err(st, r, e.msg);
	}
	r = agent_progress_watch(c->progress, key[0] ? key : NULL, &w);
	if (r < 0)
		return stream_err(st, r, "cannot follow the operations: out of resources");
	r = agent_http_stream_begin(st, "application/x-ndjson");
	if (r == 0)
		r = send_line(st, "{\"Err\":\"\"}");
	while (r == 0) {
		char *line;
		int last = 0;

		while (r == 0 && (line = agent_progress_watcher_next(c->progress, w, &last))) {
			r = send_line(st, line);
			free(line);
			if (last)
				r = -ENOBUFS;
		}
		if (r == 0)
			r = agent_http_stream_wait(st, agent_progress_watcher_fd(w));
	}
	agent_progress_unwatch(c->progress, w);
	return 1;
}

/* ---- ls/show ---- */

static void add_one(const struct agent_admin_ctx *c, json_t *v)
{
	const char *key = json_string_value(json_object_get(v, "volume"));
	json_t *p = key ? agent_progress_get(c->progress, key) : NULL;

	if (p)
		json_object_set_new(v, "progress", p);
}

void agent_admin_add_progress(const struct agent_admin_ctx *c, json_t *volumes)
{
	size_t i;
	json_t *v;

	if (!c->progress || !volumes)
		return;
	if (json_is_object(volumes)) {
		add_one(c, volumes);
		return;
	}
	json_array_foreach(volumes, i, v) add_one(c, v);
}

/* ---- probe ---- */

/* A volume of this agent attached (or attaching) on the device opts name: probing would
 * connect and disconnect under it. Its key in ret, else "". */
static void user_of(struct agent_volumes *r, const char *identity, char *ret, size_t n)
{
	ret[0] = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !ret[0]; i++) {
		struct agent_volume *v = r->vols[i];

		pthread_mutex_lock(&v->data_lock);
		if (streq(v->identity, identity) && (v->attached || v->attaching))
			snprintf(ret, n, "%s", v->key);
		pthread_mutex_unlock(&v->data_lock);
	}
	pthread_mutex_unlock(&r->lock);
}

static int probe_nvme(const struct agent_admin_ctx *c, const json_t *opts, json_t **ret,
		      struct errbuf *e)
{
	struct attach_probe_info info;
	struct errlist el = {.n = 0};
	struct attach_opts o;
	char identity[512] = "", user[ATTACH_KEY_MAX + 1];
	int r;

	/* Validated here too, for the describe below; attach_probe parses again. */
	if (attach_opts_parse(opts, &o, &el) < 0)
		return errbuf_set(e, -EINVAL, "%s", el.n ? el.msg : "invalid options");
	if (o.be->describe)
		(void)o.be->describe(o.be_cfg, identity, sizeof(identity));
	attach_opts_done(&o);
	user_of(c->vols, identity, user, sizeof(user));
	if (user[0])
		return errbuf_set(e, -EBUSY,
				  "volume '%s' on this host uses this namespace: probing would "
				  "connect and disconnect under it; see `attachctl show %s`",
				  user, user);
	r = attach_probe(c->env, opts, &info, e);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s,s:I,s:s,s:s,s:b}", "backend", "nvme", "size_bytes",
			 (json_int_t)info.ident.size_bytes, "identity", info.ident.wwid, "device",
			 info.dev.sysname, "connected", info.connected);
	return *ret ? 0 : errbuf_set(e, -ENOMEM, "out of memory");
}

static int probe_scaleio(const struct agent_admin_ctx *c, const json_t *opts, json_t **ret,
			 struct errbuf *e)
{
	const char *sys = json_string_value(json_object_get(opts, "system_id"));
	const char *vol = json_string_value(json_object_get(opts, "volume_id"));
	struct be_sio_volume v;
	char ident[64];
	json_t *maps;
	int r;

	if (!sys || !vol || !be_sio_id_is_valid(sys) || !be_sio_id_is_valid(vol))
		return errbuf_set(e, -EINVAL,
				  "scaleio probe needs system_id and volume_id, 16 "
				  "hex digits each");
	r = be_sio_probe_volume(&c->env->host.scaleio, c->env->connect_timeout_ms, sys, vol, &v, e);
	if (r < 0)
		return r;
	snprintf(ident, sizeof(ident), "emc-vol-%s-%s", sys, v.id);
	maps = json_array();
	for (unsigned i = 0; maps && i < v.n_mapped; i++)
		json_array_append_new(
		    maps, json_pack("{s:s,s:o,s:o,s:o}", "sdc_id", v.mapped[i].sdc_id, "sdc_name",
				    agent_json_string(v.mapped[i].sdc_name), "sdc_ip",
				    agent_json_string(v.mapped[i].sdc_ip), "access_mode",
				    agent_json_string(v.mapped[i].access_mode)));
	*ret = json_pack("{s:s,s:s,s:s,s:o,s:I,s:s,s:b,s:o}", "backend", "scaleio", "system_id",
			 sys, "volume_id", v.id, "volume_name", agent_json_string(v.name),
			 "size_bytes", (json_int_t)v.size_bytes, "identity", ident, "all_sdcs",
			 v.all_sdcs, "mappings", maps);
	return *ret ? 0 : errbuf_set(e, -ENOMEM, "out of memory");
}

int agent_admin_probe(const struct agent_admin_ctx *c, const json_t *body, json_t **ret,
		      struct errbuf *e)
{
	const json_t *opts = json_object_get(body, "options");
	const char *be = json_string_value(json_object_get(opts, "backend"));

	if (!c->env)
		return errbuf_set(e, -EOPNOTSUPP, "probe is not available in this agent");
	if (!json_is_object(opts) || !be)
		return errbuf_set(e, -EINVAL,
				  "probe needs \"options\": an object with \"backend\" and the "
				  "backend's Create options");
	if (streq(be, "nvme"))
		return probe_nvme(c, opts, ret, e);
	if (streq(be, "scaleio"))
		return probe_scaleio(c, opts, ret, e);
	return errbuf_set(e, -EINVAL,
			  "probe through the agent takes backend nvme or scaleio, not '%.32s' "
			  "(attachctl probes iscsi:// itself)",
			  be);
}
