/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/admin.h"
#include "agent/admin_live.h"
#include "agent/http.h"
#include "agent/log.h"
#include "agent/volumes_admin.h"
#include "attach/identity.h"
#include "backends/scaleio/gateway.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define ADMIN_MAX_BODY (64 * 1024)
/* attachctl and the BOSH hooks make one call at a time. */
#define ADMIN_MAX_CONNECTIONS 128

struct agent_admin {
	struct agent_http *http;
	const struct agent_admin_ctx *ctx;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev; /* the socket file we made, so stop never removes another agent's */
	ino_t ino;
};

int agent_admin_uid_is_allowed(unsigned uid)
{
	return uid == 0 || uid == (unsigned)geteuid();
}

/* ---- calls ---- */

static char *answer(json_t *o)
{
	char *text;

	if (!o)
		return NULL;
	if (!json_object_get(o, "Err"))
		json_object_set_new(o, "Err", json_string(""));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static char *answer_err(int r, const char *msg)
{
	return answer(json_pack("{s:o,s:s}", "Err", agent_json_string(msg), "errno",
				strerrorname_np(-r) ?: "EIO"));
}

static const char *arg_name(const json_t *body)
{
	return json_string_value(json_object_get(body, "name"));
}

static json_t *progress_of(void *userdata, const char *key)
{
	const struct agent_admin_ctx *c = userdata;

	return c->progress ? agent_progress_get(c->progress, key) : NULL;
}

static char *call_ls(const struct agent_admin_ctx *c, const json_t *body)
{
	json_t *l;

	if (json_is_true(json_object_get(body, "brief"))) {
		char *rows = agent_volumes_admin_list_brief(c->vols, progress_of, (void *)c), *text;

		if (!rows || asprintf(&text, "{\"columns\":%s,\"volumes\":%s,\"Err\":\"\"}",
				      AGENT_LS_BRIEF_COLUMNS, rows) < 0)
			text = NULL;
		free(rows);
		return text;
	}
	l = agent_volumes_admin_list(c->vols);

	agent_admin_add_progress(c, l);
	return l ? answer(json_pack("{s:o}", "volumes", l)) : NULL;
}

static char *call_show(const struct agent_admin_ctx *c, const json_t *body)
{
	struct errbuf e = {{0}};
	json_t *v;
	int r = agent_volumes_admin_show(c->vols, arg_name(body), &v, &e);

	if (r == 0)
		agent_admin_add_progress(c, v);
	return r < 0 ? answer_err(r, e.msg) : answer(json_pack("{s:o}", "volume", v));
}

static char *call_trace(const struct agent_admin_ctx *c, const json_t *body)
{
	struct errbuf e = {{0}};
	json_t *t;
	int r = agent_volumes_admin_trace(c->vols, arg_name(body), &t, &e);

	return r < 0 ? answer_err(r, e.msg) : answer(json_pack("{s:o}", "trace", t));
}

static char *call_detach(const struct agent_admin_ctx *c, const json_t *body)
{
	struct errbuf e = {{0}};
	const char *name = arg_name(body);
	int force = json_is_true(json_object_get(body, "force"));
	int r;

	agent_log(
	    AGENT_LOG_INFO, "attachd.admin.detach.start",
	    json_pack("{s:o,s:b}", "name", agent_json_string(name ? name : ""), "force", force));
	r = agent_volumes_admin_detach(c->vols, name, force, &e);
	if (r < 0) {
		agent_log(AGENT_LOG_ERROR, "attachd.admin.detach.failed",
			  json_pack("{s:o,s:o}", "name", agent_json_string(name ? name : ""),
				    "error", agent_json_string(e.msg)));
		return answer_err(r, e.msg);
	}
	return answer(json_pack("{s:o,s:s}", "volume", agent_json_string(name), "result",
				r > 0 ? "detached" : "not-attached"));
}

static char *call_expand(const struct agent_admin_ctx *c, const json_t *body)
{
	struct errbuf e = {{0}};
	const char *name = arg_name(body);
	json_t *o = NULL;
	int r;

	agent_log(AGENT_LOG_INFO, "attachd.admin.expand.start",
		  json_pack("{s:o}", "name", agent_json_string(name ? name : "")));
	r = agent_volumes_admin_expand(c->vols, name, &o, &e);
	return r < 0 ? answer_err(r, e.msg) : answer(json_pack("{s:o}", "expand", o));
}

static char *call_takeover(const struct agent_admin_ctx *c, const json_t *body)
{
	struct errbuf e = {{0}};
	const char *name = arg_name(body);
	json_t *res = NULL;
	int r;

	agent_log(AGENT_LOG_INFO, "attachd.admin.takeover.start",
		  json_pack("{s:o}", "name", agent_json_string(name ? name : "")));
	r = agent_volumes_admin_takeover(c->vols, name, &res, &e);
	if (r < 0) {
		agent_log(AGENT_LOG_ERROR, "attachd.admin.takeover.failed",
			  json_pack("{s:o,s:o}", "name", agent_json_string(name ? name : ""),
				    "error", agent_json_string(e.msg)));
		return answer_err(r, e.msg);
	}
	return res ? answer(json_pack("{s:o}", "takeover", res)) : NULL;
}

static char *call_drain(const struct agent_admin_ctx *c, const json_t *body)
{
	struct errbuf e = {{0}};
	unsigned failed = 0;
	json_t *res, *o;
	int r;

	agent_log(AGENT_LOG_INFO, "attachd.drain.start", NULL);
	r = c->drain_begin ? c->drain_begin(c->userdata, &e) : 0;
	if (r < 0) {
		agent_log(AGENT_LOG_ERROR, "attachd.drain.failed",
			  json_pack("{s:o}", "error", agent_json_string(e.msg)));
		return answer_err(r, e.msg);
	}
	res = agent_volumes_admin_drain(c->vols, &failed);
	if (!res)
		return NULL;
	o = json_pack("{s:b,s:o}", "spec_removed", r > 0, "results", res);
	if (o && failed) {
		char msg[128];

		snprintf(msg, sizeof(msg), "%u of %zu volume%s could not be detached", failed,
			 json_array_size(res), json_array_size(res) == 1 ? "" : "s");
		json_object_set_new(o, "Err", json_string(msg));
		json_object_set_new(o, "errno", json_string("EIO"));
	}
	agent_log(failed ? AGENT_LOG_ERROR : AGENT_LOG_INFO, "attachd.drain.finish",
		  json_pack("{s:I,s:I}", "volumes", (json_int_t)json_array_size(res), "failed",
			    (json_int_t)failed));
	return answer(o);
}

static char *call_metrics(const struct agent_admin_ctx *c, const json_t *body)
{
	json_t *m = c->metrics ? agent_metrics_json(c->metrics) : json_object();

	return m ? answer(json_pack("{s:o}", "metrics", m)) : NULL;
}

/* The gateway's id for this host's SDC (what an array admin maps volumes to). 1 when it
 * could not be read (the entry says why), else 0. */
static int identity_sdc_id(const struct agent_admin_ctx *c, json_t *id)
{
	const char *guid = json_string_value(
	    json_object_get(json_object_get(id, "scaleio_sdc_guid"), "value"));
	struct be_sio_sdc_info sdc = {0};
	struct errbuf e = {{0}};
	char source[1400];
	int r;

	if (!c->host || !c->host->scaleio.gateway[0])
		return attach_identity_set_sdc_id(id, "", "no scaleio.gateway configured", NULL) ==
		       1;
	if (!guid || !*guid)
		return attach_identity_set_sdc_id(id, "", "no SDC GUID to look up", NULL) == 1;
	snprintf(source, sizeof(source), "gateway %s", c->host->scaleio.gateway);
	r = be_sio_sdc_by_guid(&c->host->scaleio, ATTACH_IDENTITY_GATEWAY_TIMEOUT_MS, guid, &sdc,
			       &e);
	if (r < 0)
		return attach_identity_set_sdc_id(id, "", source, e.msg) == 1;
	snprintf(source, sizeof(source), "gateway %s (SDC name '%s', IP %s)",
		 c->host->scaleio.gateway, sdc.name, sdc.ip);
	return attach_identity_set_sdc_id(id, sdc.id, source, NULL) == 1;
}

static char *call_identity(const struct agent_admin_ctx *c, const json_t *body)
{
	json_t *id = NULL;
	int r;

	if (!c->sys)
		return answer_err(-EOPNOTSUPP, "identity is not available in this agent");
	r = attach_identity_collect(c->sys, c->host, c->fencing_key, &id);
	if (r < 0)
		return NULL;
	r += identity_sdc_id(c, id);
	return answer(json_pack("{s:o,s:s}", "identity", id, "Err",
				r ? "some of this host's identity could not be read (see each "
				    "entry's error)"
				  : ""));
}

static char *call_probe(const struct agent_admin_ctx *c, const json_t *body)
{
	struct errbuf e = {{0}};
	json_t *p = NULL;
	int r = agent_admin_probe(c, body, &p, &e);

	return r < 0 ? answer_err(r, e.msg) : answer(json_pack("{s:o}", "probe", p));
}

static char *call_ping(const struct agent_admin_ctx *c, const json_t *body)
{
	return answer(json_pack("{s:I,s:s,s:b}", "pid", (json_int_t)getpid(), "driver_name",
				c->driver_name ? c->driver_name : "", "draining",
				c->is_draining ? c->is_draining(c->userdata) : 0));
}

static const struct {
	const char *name;
	char *(*fn)(const struct agent_admin_ctx *c, const json_t *body);
	int needs_name;
} calls[] = {
    {"ping", call_ping, 0},	  {"ls", call_ls, 0},	    {"show", call_show, 1},
    {"detach", call_detach, 1},	  {"drain", call_drain, 0}, {"trace", call_trace, 1},
    {"metrics", call_metrics, 0}, {"identity", call_identity, 0},
    {"probe", call_probe, 0}, {"expand", call_expand, 1},
    {"takeover", call_takeover, 1},
};

char *agent_admin_handle(const struct agent_admin_ctx *c, const char *method, const char *url,
			 const char *body, size_t len)
{
	_cleanup_(json_decrefp) json_t *args = NULL;
	json_error_t je;
	char msg[256];

	if (!streq(method, "POST") && !streq(method, "GET"))
		return answer_err(-EINVAL, "use POST");
	if (!startswith(url, "/v1/"))
		return answer_err(-ENOENT, "unknown path (calls are POST /v1/<call>)");
	if (len > 0) {
		args = json_loadb(body, len, 0, &je);
		if (!args || !json_is_object(args)) {
			snprintf(msg, sizeof(msg), "the body must be a JSON object: %s",
				 args ? "not an object" : je.text);
			return answer_err(-EINVAL, msg);
		}
	} else {
		args = json_object();
		if (!args)
			return NULL;
	}
	for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
		if (!streq(url + 4, calls[i].name))
			continue;
		if (calls[i].needs_name && !json_is_string(json_object_get(args, "name"))) {
			snprintf(msg, sizeof(msg), "%s needs a \"name\" string", calls[i].name);
			return answer_err(-EINVAL, msg);
		}
		return calls[i].fn(c, args);
	}
	snprintf(msg, sizeof(msg),
		 "unknown call '%.64s' (ping, ls, show, detach, drain, trace, "
		 "metrics, identity, probe, watch, expand, takeover)",
		 url + 4);
	return answer_err(-ENOENT, msg);
}

/* ---- transport ---- */

/* The peer's uid from the kernel (SO_PEERCRED: credentials at connect time). */
static int peer_uid(int fd, unsigned *ret)
{
	struct ucred cred;
	socklen_t l = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) < 0)
		return negative_errno();
	*ret = (unsigned)cred.uid;
	return 0;
}

static char *gate(void *userdata, int fd, const char *method, const char *url)
{
	unsigned uid = (unsigned)-1;
	char msg[256];

	if (peer_uid(fd, &uid) == 0 && agent_admin_uid_is_allowed(uid))
		return NULL;
	snprintf(msg, sizeof(msg),
		 "permission denied: attachd's admin API serves root only (peer uid %d)", (int)uid);
	agent_log(AGENT_LOG_ERROR, "attachd.admin.denied",
		  json_pack("{s:i,s:o}", "uid", (int)uid, "path", agent_json_string(url)));
	return answer_err(-EACCES, msg);
}

static char *handle(void *userdata, const char *method, const char *url, const char *body,
		    size_t len)
{
	const struct agent_admin *s = userdata;

	return agent_admin_handle(s->ctx, method, url, body, len);
}

static int stream(void *userdata, const char *method, const char *url, const char *body,
		  size_t len, struct agent_http_stream *st)
{
	const struct agent_admin *s = userdata;

	return agent_admin_stream(s->ctx, method, url, body, len, st);
}

/* A socket file nobody answers on is a leftover of a killed agent: replace it. A live one
 * means another agent: refuse. Anything else at path is not ours to delete. */
static int clear_stale(const struct sockaddr_un *sa, struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0
				       : errbuf_set(e, negative_errno(), "admin socket %s: %s",
						    sa->sun_path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return errbuf_set(e, -EEXIST, "admin socket %s: exists and is not a socket",
				  sa->sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errbuf_set(e, negative_errno(), "socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return errbuf_set(e, -EADDRINUSE, "admin socket %s: another attachd is serving it",
				  sa->sun_path);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return errbuf_set(e, negative_errno(), "cannot remove stale admin socket %s: %s",
				  sa->sun_path, strerror(errno));
	return 0;
}

static int listen_unix(const char *path, int *ret_fd, struct errbuf *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -EBADF;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int r;

	if (!path[0] || path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
		return errbuf_set(e, -EINVAL,
				  "admin socket: '%s' must be an absolute path "
				  "shorter than %zu bytes",
				  path, sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		r = mkdir_p(dir, 0700);
		if (r < 0)
			return errbuf_set(e, r, "cannot create the admin socket's directory %s: %s",
					  dir, strerror(-r));
	}
	r = clear_stale(&sa, e);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errbuf_set(e, negative_errno(), "socket: %s", strerror(errno));
	/* Nobody can connect before listen(), so tightening the mode after bind is safe. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errbuf_set(e, negative_errno(), "cannot bind the admin socket %s: %s", path,
				  strerror(errno));
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		r = negative_errno();
		unlink(path);
		return errbuf_set(e, r, "cannot listen on the admin socket %s: %s", path,
				  strerror(-r));
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int agent_admin_start(const char *path, const struct agent_admin_ctx *ctx, struct agent_admin **ret,
		      struct errbuf *e)
{
	struct agent_http_options o = {
	    .log_name = "attachd.admin",
	    .max_body = ADMIN_MAX_BODY,
	    .max_connections = ADMIN_MAX_CONNECTIONS,
	    .gate = gate,
	    .error = answer_err,
	    .stream = stream,
	};
	struct agent_admin *s;
	int fd = -EBADF, r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return errbuf_set(e, -ENOMEM, "out of memory");
	s->ctx = ctx;
	r = listen_unix(path, &fd, e);
	if (r < 0) {
		free(s);
		return r;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	{
		struct stat st;

		if (stat(path, &st) == 0) {
			s->dev = st.st_dev;
			s->ino = st.st_ino;
		}
	}
	r = agent_http_serve(fd, &o, handle, s, &s->http, e);
	if (r < 0) {
		unlink(path);
		free(s);
		return errbuf_prefix(e, r, "admin socket %s: ", path);
	}
	agent_log(AGENT_LOG_INFO, "attachd.admin-server.started",
		  json_pack("{s:s}", "socket", path));
	*ret = s;
	return 0;
}

struct agent_admin *agent_admin_stop(struct agent_admin *s)
{
	struct stat st;

	if (!s)
		return NULL;
	s->http = agent_http_stop(s->http);
	if (lstat(s->path, &st) < 0 || st.st_dev != s->dev || st.st_ino != s->ino)
		; /* gone, or replaced by another agent's: not ours to remove */
	else if (unlink(s->path) < 0 && errno != ENOENT)
		agent_log(AGENT_LOG_ERROR, "attachd.admin-server.remove-failed",
			  json_pack("{s:s,s:s}", "socket", s->path, "error", strerror(errno)));
	free(s);
	return NULL;
}
