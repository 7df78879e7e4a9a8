/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/jsonx.h"
#include "agent/log.h"
#include "agent/volman.h"
#include "lib/macro.h"

/* Older Volman clients give up on a Mount after 10 s. */
#define AGENT_MOUNT_SLOW_MS 8000

struct request {
	struct agent_volumes *r;
	const char *op; /* "mount", for log messages */
	json_t *body;	/* parsed object, or NULL for an empty body */
	const char *name;
	struct agent_name n;
	json_t *resp; /* built by the handler; "Err" is added last */
};

typedef int (*route_fn)(struct request *q, struct errbuf *e);

struct route {
	const char *path;
	const char *op;
	route_fn fn;
	json_t *(*shape)(void); /* the response's fields with empty values */
	int needs_name;
	int safe_errors; /* wrap Err as SafeError (app-facing) */
	int quiet;	 /* polled calls: log at debug */
};

static json_t *shape_err_only(void)
{
	return json_object();
}

static json_t *shape_activate(void)
{
	return json_pack("{s:[s]}", "Implements", "VolumeDriver");
}

static json_t *shape_mountpoint(void)
{
	return json_pack("{s:s}", "Mountpoint", "");
}

static json_t *volume_info(const char *name, const char *mountpoint, unsigned count)
{
	return json_pack("{s:o,s:o,s:I}", "Name", agent_json_string(name), "Mountpoint",
			 agent_json_string(mountpoint), "MountCount", (json_int_t)count);
}

static json_t *shape_get(void)
{
	return json_pack("{s:o}", "Volume", volume_info("", "", 0));
}

static json_t *shape_list(void)
{
	return json_pack("{s:[]}", "Volumes");
}

static json_t *shape_capabilities(void)
{
	return json_pack("{s:{s:s}}", "Capabilities", "Scope", "local");
}

char *agent_volman_safe_error(const char *msg)
{
	json_t *o = json_pack("{s:o}", "SafeDescription", agent_json_string(msg));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

/* Volman shows only Mount's SafeError to the app: a Create rejected for its options is
 * remembered per volume id (bounded, expiring: Volman may never call Mount) and answered
 * at the next Mount of any container name of it. The text is the redacted Create error. */
#define PROBLEMS_MAX 64
#define PROBLEM_TTL_MS (10 * 60 * 1000)
static struct {
	char key[ATTACH_KEY_MAX + 1];
	char msg[ERRBUF_MAX];
	int64_t at;   /* for the expiry */
	uint64_t seq; /* for "the oldest": milliseconds tie when Creates come fast */
} problems[PROBLEMS_MAX];
static uint64_t problems_seq;
static pthread_mutex_t problems_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t now_ms(void);

static void problem_set(const char *key, const char *msg)
{
	int64_t now = now_ms();
	size_t slot = PROBLEMS_MAX, free_slot = PROBLEMS_MAX, oldest = 0;

	pthread_mutex_lock(&problems_lock);
	for (size_t i = 0; i < PROBLEMS_MAX && slot == PROBLEMS_MAX; i++) {
		if (!problems[i].key[0]) {
			if (free_slot == PROBLEMS_MAX)
				free_slot = i;
		} else if (streq(problems[i].key, key)) {
			slot = i; /* this volume's: replaced */
		} else if (problems[i].seq < problems[oldest].seq || !problems[oldest].key[0]) {
			oldest = i;
		}
	}
	if (slot == PROBLEMS_MAX)
		slot = free_slot != PROBLEMS_MAX ? free_slot : oldest;
	snprintf(problems[slot].key, sizeof(problems[slot].key), "%s", key);
	snprintf(problems[slot].msg, sizeof(problems[slot].msg), "%s", msg);
	problems[slot].at = now;
	problems[slot].seq = ++problems_seq;
	pthread_mutex_unlock(&problems_lock);
}

static void problem_clear(const char *key)
{
	pthread_mutex_lock(&problems_lock);
	for (size_t i = 0; i < PROBLEMS_MAX; i++)
		if (streq(problems[i].key, key))
			problems[i].key[0] = 0;
	pthread_mutex_unlock(&problems_lock);
}

static int problem_get(const char *key, struct errbuf *e)
{
	int64_t now = now_ms();
	int r = 0;

	pthread_mutex_lock(&problems_lock);
	for (size_t i = 0; i < PROBLEMS_MAX; i++) {
		if (!problems[i].key[0] || !streq(problems[i].key, key))
			continue;
		if (now - problems[i].at > PROBLEM_TTL_MS)
			problems[i].key[0] = 0;
		else
			r = errbuf_set(e, -EINVAL,
				       "%s; fix the service's mount_config (rebind or update the "
				       "service) and restart the app",
				       problems[i].msg);
	}
	pthread_mutex_unlock(&problems_lock);
	return r;
}

static int h_activate(struct request *q, struct errbuf *e)
{
	return 0;
}

static int h_capabilities(struct request *q, struct errbuf *e)
{
	return 0;
}

static int h_create(struct request *q, struct errbuf *e)
{
	json_t *opts = json_object_get(q->body, "Opts");
	int r;

	if (opts && !json_is_null(opts) && !json_is_object(opts))
		return errbuf_set(e, -EINVAL, "'Opts' must be a JSON object or null");
	if (json_is_null(opts))
		opts = NULL;
	agent_log(AGENT_LOG_INFO, "attachd.create.start",
		  json_pack("{s:o,s:s,s:s,s:o}", "name", agent_json_string(q->name), "volume",
			    q->n.key, "container", q->n.container, "opts",
			    opts ? attach_opts_redacted(opts) : json_null()));
	r = agent_volumes_create(q->r, &q->n, q->name, opts, e);
	if (r == -EINVAL && errbuf_is_set(e) && !strncmp(e->msg, "invalid options", 15))
		problem_set(q->n.key, e->msg);
	else if (r >= 0)
		problem_clear(q->n.key);
	return r;
}

static int h_mount(struct request *q, struct errbuf *e)
{
	char path[4096];
	int r;

	agent_log(AGENT_LOG_INFO, "attachd.mount.start",
		  json_pack("{s:o,s:s,s:s}", "name", agent_json_string(q->name), "volume", q->n.key,
			    "container", q->n.container));
	r = problem_get(q->n.key, e);
	if (r < 0)
		return r;
	r = agent_volumes_mount(q->r, &q->n, q->name, path, sizeof(path), e);
	if (r < 0)
		return r;
	return json_object_set_new(q->resp, "Mountpoint", agent_json_string(path));
}

static int h_unmount(struct request *q, struct errbuf *e)
{
	agent_log(AGENT_LOG_INFO, "attachd.unmount.start",
		  json_pack("{s:o,s:s,s:s}", "name", agent_json_string(q->name), "volume", q->n.key,
			    "container", q->n.container));
	return agent_volumes_unmount(q->r, &q->n, q->name, e);
}

static int h_remove(struct request *q, struct errbuf *e)
{
	agent_log(AGENT_LOG_INFO, "attachd.remove.start",
		  json_pack("{s:o,s:s}", "name", agent_json_string(q->name), "volume", q->n.key));
	problem_clear(q->n.key);
	return agent_volumes_remove(q->r, &q->n, q->name, e);
}

static int h_get(struct request *q, struct errbuf *e)
{
	struct agent_mount_info info;
	int r = agent_volumes_get(q->r, &q->n, q->name, &info, e);

	if (r < 0)
		return r;
	return json_object_set_new(q->resp, "Volume",
				   volume_info(info.name, info.mountpoint, info.count));
}

static int h_path(struct request *q, struct errbuf *e)
{
	struct agent_mount_info info;
	int r = agent_volumes_get(q->r, &q->n, q->name, &info, e);

	if (r < 0)
		return r;
	return json_object_set_new(q->resp, "Mountpoint", agent_json_string(info.mountpoint));
}

static int h_list(struct request *q, struct errbuf *e)
{
	_cleanup_free_ struct agent_mount_info *infos = NULL;
	json_t *arr = json_object_get(q->resp, "Volumes");
	size_t n;
	int r;

	r = agent_volumes_list(q->r, &infos, &n);
	if (r < 0)
		return errbuf_set(e, r, "cannot list volumes: %s", strerror(-r));
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(
			arr, volume_info(infos[i].name, infos[i].mountpoint, infos[i].count)) < 0)
			return errbuf_set(e, -ENOMEM, "out of memory");
	return 0;
}

static const struct route routes[] = {
    {"/Plugin.Activate", "activate", h_activate, shape_activate, 0, 0, 1},
    {"/VolumeDriver.Create", "create", h_create, shape_err_only, 1, 0, 0},
    {"/VolumeDriver.Mount", "mount", h_mount, shape_mountpoint, 1, 1, 0},
    {"/VolumeDriver.Unmount", "unmount", h_unmount, shape_err_only, 1, 0, 0},
    {"/VolumeDriver.List", "list", h_list, shape_list, 0, 0, 1},
    {"/VolumeDriver.Get", "get", h_get, shape_get, 1, 0, 1},
    {"/VolumeDriver.Path", "path", h_path, shape_mountpoint, 1, 0, 1},
    {"/VolumeDriver.Remove", "remove", h_remove, shape_err_only, 1, 0, 0},
    {"/VolumeDriver.Capabilities", "capabilities", h_capabilities, shape_capabilities, 0, 0, 1},
};

/* Go's encoding/json matches field names case-insensitively; so do we, preferring the
 * exact spelling. */
static json_t *field(json_t *obj, const char *name)
{
	const char *key;
	json_t *v = json_object_get(obj, name);

	if (v)
		return v;
	json_object_foreach(obj, key, v)
	{
		if (!strcasecmp(key, name))
			return v;
	}
	return NULL;
}

/* Parse the body and the Name. e says what is wrong; the state is untouched. */
static int decode_request(struct request *q, const struct route *rt, const char *body, size_t len,
			  struct errbuf *e)
{
	json_error_t jerr;
	json_t *name;

	if (!rt->needs_name)
		return 0; /* Activate/List/Capabilities: Volman sends nothing, Docker sends {} */
	if (len == 0)
		return errbuf_set(e, -EINVAL, "empty request body: %s needs {\"Name\":\"...\"}",
				  rt->path);
	q->body = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!q->body) {
		/* jansson quotes the offending token ("... near '\"s3cret'"): that may be a
		 * CHAP secret cut short or with a bad escape, and this text goes to the log and
		 * the reply. Keep the reason and the position only. */
		char *near = strstr(jerr.text, " near ");

		if (near)
			*near = 0;
		return errbuf_set(e, -EINVAL,
				  "malformed JSON request body: %s (line %d, column %d)", jerr.text,
				  jerr.line, jerr.column);
	}
	if (!json_is_object(q->body))
		return errbuf_set(e, -EINVAL, "request body must be a JSON object, not %s",
				  jsonx_type_name(q->body));
	name = field(q->body, "Name");
	if (!name)
		return errbuf_set(e, -EINVAL, "missing volume name ('Name')");
	if (!json_is_string(name))
		return errbuf_set(e, -EINVAL, "'Name' must be a string, not %s",
				  jsonx_type_name(name));
	q->name = json_string_value(name);
	if (strlen(q->name) != json_string_length(name))
		return errbuf_set(e, -EINVAL, "invalid volume name: contains a NUL character");
	if (rt->fn == h_create) {
		/* Normalise the spelling so h_create finds it. */
		json_t *opts = field(q->body, "Opts");

		if (opts && !json_object_get(q->body, "Opts"))
			json_object_set(q->body, "Opts", opts);
	}
	return agent_name_decode(q->name, &q->n, e);
}

static char *dump(json_t *resp)
{
	char *s = resp ? json_dumps(resp, JSON_COMPACT) : NULL;

	json_decref(resp);
	return s ? s : strdup("{\"Err\":\"out of memory\"}");
}

char *agent_volman_error_response(const char *err)
{
	return dump(json_pack("{s:o}", "Err", agent_json_string(err)));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *agent_volman_handle(struct agent_volumes *r, const char *method, const char *url,
			  const char *body, size_t len)
{
	const struct route *rt = NULL;
	struct request q = {.r = r};
	struct errbuf e = {{0}};
	int64_t t0 = now_ms();
	char msg[64];
	int rc;

	for (size_t i = 0; i < ELEMENTSOF(routes); i++)
		if (streq(routes[i].path, url))
			rt = &routes[i];
	if (!rt) {
		char err[ERRBUF_MAX];

		snprintf(err, sizeof(err),
			 "unknown call '%.200s'; attachd serves POST " AGENT_VOLMAN_ROUTES,
			 url ? url : "");
		agent_log(AGENT_LOG_INFO, "attachd.request.unknown-call",
			  json_pack("{s:o,s:o}", "method", agent_json_string(method), "url",
				    agent_json_string(url)));
		return agent_volman_error_response(err);
	}
	q.op = rt->op;
	q.resp = rt->shape();
	if (!q.resp)
		return dump(NULL);

	if (!streq(method, "POST"))
		rc = errbuf_set(&e, -EINVAL, "method %.16s not allowed: Volman calls are POST",
				method ? method : "");
	else {
		rc = decode_request(&q, rt, body, len, &e);
		if (rc >= 0)
			rc = rt->fn(&q, &e);
	}

	if (rc < 0) {
		_cleanup_free_ char *safe = NULL;
		const char *err = errbuf_is_set(&e) ? e.msg : strerror(-rc);

		if (rt->safe_errors)
			safe = agent_volman_safe_error(err);
		json_object_set_new(q.resp, "Err", agent_json_string(safe ? safe : err));
		if (!rt->quiet || rc != -ENOENT) {
			snprintf(msg, sizeof(msg), "attachd.%s.failed", rt->op);
			agent_log(AGENT_LOG_ERROR, msg,
				  json_pack("{s:o,s:o,s:I}", "name", agent_json_string(q.name),
					    "error", agent_json_string(err), "duration_ms",
					    (json_int_t)(now_ms() - t0)));
		}
	} else {
		json_t *mp = json_object_get(q.resp, "Mountpoint");
		json_t *data = json_pack("{s:I}", "duration_ms", (json_int_t)(now_ms() - t0));

		json_object_set_new(q.resp, "Err", json_string(""));
		if (data && q.name)
			json_object_set_new(data, "name", agent_json_string(q.name));
		if (data && json_string_length(mp) > 0)
			json_object_set(data, "mountpoint", mp);
		snprintf(msg, sizeof(msg), "attachd.%s.finish", rt->op);
		agent_log(rt->quiet ? AGENT_LOG_DEBUG : AGENT_LOG_INFO, msg, data);
		/* Diego cells before 2024-05 cancel a Mount after 10 s; say so before it bites
		 * (the CF reference drivers warn at 8 s too). */
		if (rt->fn == h_mount && now_ms() - t0 > AGENT_MOUNT_SLOW_MS)
			agent_log(AGENT_LOG_INFO, "attachd.mount.duration-too-high",
				  json_pack("{s:o,s:I,s:i}", "name", agent_json_string(q.name),
					    "duration_ms", (json_int_t)(now_ms() - t0), "limit_ms",
					    AGENT_MOUNT_SLOW_MS));
	}
	json_decref(q.body);
	return dump(q.resp);
}
