/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API: HTTP/1.1 + JSON over a unix socket (--admin-socket), for attachctl and
 * the BOSH hooks. The socket is 0600 and owned by the agent's user (root), its directory
 * is created 0700, and every request's peer credentials (SO_PEERCRED) are checked: only
 * uid 0 (or the agent's own uid when it runs unprivileged, for development) is served;
 * anyone else gets Err "permission denied: ...".
 *
 * Protocol. Every call is `POST /v1/<call>` (GET also accepted) with an optional JSON
 * object body; every answer is HTTP 200 with a JSON object carrying "Err" ("" on success,
 * else a sentence for people) like the Volman API:
 *   ping                  {"Err","pid","driver_name","draining"}
 *   ls     {"brief"}      {"Err","volumes":[<volume>...]}      (agent/volumes_admin.h;
 *                         brief: {"Err","columns":[...],"volumes":[[...]...]}, the
 *                         columns of attachctl ls's table, one array per volume)
 *   show   {"name"}       {"Err","volume":<volume + "trace">}
 *   detach {"name","force"} {"Err","volume","result":"detached"|"not-attached"}
 *   drain                 {"Err","spec_removed","results":[{"volume","result","error"}]}
 *   trace  {"name"}       {"Err","trace":<agent/trace.h JSON>}
 *   metrics               {"Err","metrics":<agent/admin_metrics.h JSON>}
 *   identity              {"Err","identity":<attach/identity.h object>} (Err also when an
 *                         entry could not be read; the others are still there)
 *   watch, probe          agent/admin_live.h; ls and show add "progress" to a volume
 *                         with an operation in flight
 * "errno" carries the error's name ("ENOENT", "EBUSY"...) when Err is not empty.
 */
#pragma once

#include <stddef.h>

#include "agent/admin_metrics.h"
#include "agent/progress.h"
#include "agent/volumes.h"
#include "lib/err.h"

/* What the admin calls act on; all borrowed. */
struct agent_admin_ctx {
	struct agent_volumes *vols;
	struct agent_metrics *metrics;
	const char *driver_name;
	/* For identity (NULL sys: the call answers Err): the agent's host config and
	 * fencing.key ("" = derived). */
	const struct sys *sys;
	const struct backend_host_config *host;
	const char *fencing_key;
	/* Operations in flight (attachctl ls, watch; NULL: no progress) and the pipeline's
	 * environment (probe; NULL: probe answers Err). */
	struct agent_progress *progress;
	struct attach_env *env;
	/* drain's first step: remove the driver spec file and refuse new mounts. Returns
	 * 1 if the spec file was removed now, 0 if it was already gone, or a negative errno
	 * with e set. */
	int (*drain_begin)(void *userdata, struct errbuf *e);
	int (*is_draining)(void *userdata);
	void *userdata;
};

struct agent_admin;

/* Route one request (transport-free, for tests). Returns malloc'ed JSON text; NULL only
 * on ENOMEM. Blocks as long as the call (detach, drain) does. Thread-safe. */
char *agent_admin_handle(const struct agent_admin_ctx *c, const char *method, const char *url,
			 const char *body, size_t len);

/*
 * Create path's directory (0700) if missing, replace a stale socket (one nobody answers
 * on; a live one is -EADDRINUSE), bind, chmod 0600 and serve. ctx is borrowed until
 * agent_admin_stop().
 */
int agent_admin_start(const char *path, const struct agent_admin_ctx *ctx, struct agent_admin **ret,
		      struct errbuf *e);
/* Stop serving (waiting for calls in flight) and remove the socket. NULL-safe; NULL. */
struct agent_admin *agent_admin_stop(struct agent_admin *s);

/* 1 if a peer with uid may use the admin API (uid 0, or our own effective uid). */
int agent_admin_uid_is_allowed(unsigned uid);
