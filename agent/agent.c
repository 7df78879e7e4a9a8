/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/admin.h"
#include "attach/identity.h"
#include "agent/pathcheck.h"
#include "agent/progress.h"
#include "agent/agent.h"
#include "agent/http.h"
#include "agent/log.h"
#include "agent/prom.h"
#include "agent/state.h"
#include "agent/volman.h"
#include "agent/volumes_internal.h"
#include "lib/fileio.h"
#include "lib/macro.h"

/* Deadlines for one pipeline run. Older Diego cells cancel a Mount after 10 s; a login or a
 * device that takes longer than this is broken, and the error is more useful than a hang. */
#define AGENT_CONNECT_TIMEOUT_MS 15000
#define AGENT_DEVICE_TIMEOUT_MS 15000
#define AGENT_MKFS_TIMEOUT_MS 120000
/* The path checker's TEST UNIT READY: a path that takes longer to answer is failed. */
#define AGENT_TUR_TIMEOUT_MS 5000

struct agent {
	struct agent_config cfg;
	char host[256];
	unsigned want_port;
	struct attach_env env;
	const struct agent_driver_ops *ops;
	struct agent_volumes *vols;
	struct agent_http *http;
	struct agent_http_tls *tls; /* mutual TLS material, NULL = plain HTTP on loopback */
	char spec_path[AGENT_PATH_MAX + AGENT_DRIVER_NAME_MAX + 8];
	int spec_written;
	struct agent_test_settings test;
	struct agent_state *state;
	struct agent_metrics metrics;
	struct agent_admin_ctx admin_ctx;
	struct agent_admin *admin;
	struct agent_pathcheck *pathcheck;
	struct agent_prom_server *prom; /* --metrics-listen, NULL: off */
	struct agent_progress *progress; /* operations in flight (attachctl ls, watch) */
	int draining;			/* atomic: set by drain, refuses new Create/Mount */
};

/* The registry runs the pipeline through these, which count every call and its step
 * timings for attachctl metrics and pass it on to the agent's ops. env is the agent's own
 * (a->env), which leads back to the agent. */
#define AGENT_OF(env) ((struct agent *)((char *)(env)-offsetof(struct agent, env)))

static int metered_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	struct agent *a = AGENT_OF(env);
	int r;

	agent_progress_op_begin(a->progress, v->key, "attach");
	r = a->ops->up(env, v, e);
	agent_progress_op_end(a->progress, v->key, r, e->msg);
	agent_metrics_record(&a->metrics, AGENT_METRICS_ATTACH, v, 0, r);
	/* A takeover (reservation preempted, or the backend unmapped the other host) is logged
	 * and counted once, by agent_volume_fence_after_up (agent/volumes_fence.c). */
	return r;
}

static int metered_down(struct attach_env *env, struct attach_volume *v, int force,
			struct errbuf *e)
{
	struct agent *a = AGENT_OF(env);
	int r;

	agent_progress_op_begin(a->progress, v->key, "detach");
	r = a->ops->down(env, v, force, e);
	agent_progress_op_end(a->progress, v->key, r, e->msg);
	agent_metrics_record(&a->metrics, AGENT_METRICS_DETACH, v, 0, r);
	return r;
}

static int metered_bind(struct attach_env *env, struct attach_volume *v, const char *container,
			char *ret_path, size_t n, struct errbuf *e)
{
	struct agent *a = AGENT_OF(env);
	unsigned first = v->n_timings;
	int r;

	agent_progress_op_begin(a->progress, v->key, "bind");
	r = a->ops->bind(env, v, container, ret_path, n, e);
	agent_progress_op_end(a->progress, v->key, r, e->msg);
	agent_metrics_record(&a->metrics, AGENT_METRICS_BIND, v, first, r);
	return r;
}

static int metered_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
			  struct errbuf *e)
{
	struct agent *a = AGENT_OF(env);
	unsigned first = v->n_timings;
	int r;

	agent_progress_op_begin(a->progress, v->key, "unbind");
	r = a->ops->unbind(env, v, container, e);
	agent_progress_op_end(a->progress, v->key, r, e->msg);
	agent_metrics_record(&a->metrics, AGENT_METRICS_UNBIND, v, first, r);
	return r;
}

static int metered_rollback(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	struct agent *a = AGENT_OF(env);
	int r;

	agent_progress_op_begin(a->progress, v->key, "rollback");
	r = a->ops->rollback ? a->ops->rollback(env, v, e) : a->ops->down(env, v, 0, e);
	agent_progress_op_end(a->progress, v->key, r, e->msg);
	agent_metrics_record(&a->metrics, AGENT_METRICS_DETACH, v, 0, r);
	return r;
}

static int metered_expand(struct attach_env *env, struct attach_volume *v, int wait_ms,
			  struct attach_expand_result *res, struct errbuf *e)
{
	struct agent *a = AGENT_OF(env);
	unsigned first = v->n_timings;
	int r;

	if (!a->ops->expand)
		return errbuf_set(e, -EOPNOTSUPP, "this agent's driver cannot grow volumes");
	r = a->ops->expand(env, v, wait_ms, res, e);
	/* Counted when it grew something or failed: every Mount checks, and a check that
	 * finds nothing to grow is not an expand. */
	if (r < 0 || res->grew_dm || res->grew_fs)
		agent_metrics_record(&a->metrics, AGENT_METRICS_EXPAND, v, first, r);
	return r;
}

static int passed_check(struct attach_env *env, struct errbuf *e)
{
	struct agent *a = AGENT_OF(env);

	return a->ops->check ? a->ops->check(env, e) : 0;
}

static const struct agent_driver_ops metered_ops = {
    .up = metered_up,
    .down = metered_down,
    .bind = metered_bind,
    .unbind = metered_unbind,
    .rollback = metered_rollback,
    .check = passed_check,
    .expand = metered_expand,
};

static int remove_spec(struct agent *a)
{
	if (!a->spec_written)
		return 0;
	a->spec_written = 0;
	if (unlink(a->spec_path) < 0 && errno != ENOENT) {
		int r = negative_errno();

		agent_log(AGENT_LOG_ERROR, "attachd.driver-server.spec-remove-failed",
			  json_pack("{s:s,s:s}", "spec", a->spec_path, "error", strerror(-r)));
		return r;
	}
	return 1;
}

static int drain_begin(void *userdata, struct errbuf *e)
{
	struct agent *a = userdata;
	int r;

	__atomic_store_n(&a->draining, 1, __ATOMIC_SEQ_CST);
	r = remove_spec(a);
	if (r < 0)
		return errbuf_set(e, r, "cannot remove the driver spec %s: %s", a->spec_path,
				  strerror(-r));
	return r;
}

static int is_draining(void *userdata)
{
	struct agent *a = userdata;

	return __atomic_load_n(&a->draining, __ATOMIC_SEQ_CST);
}

int agent_new(const struct agent_config *cfg, const struct agent_driver_ops *ops,
	      struct agent **ret, struct errbuf *e)
{
	struct agent *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return errbuf_set(e, -ENOMEM, "out of memory");
	a->cfg = *cfg;
	a->ops = ops;
	if (agent_listen_parse(cfg->listen, a->host, sizeof(a->host), &a->want_port) < 0) {
		free(a);
		return errbuf_set(e, -EINVAL, "listen: '%s' is not HOST:PORT", cfg->listen);
	}
	r = snprintf(a->spec_path, sizeof(a->spec_path), "%s/%s.json", cfg->driver_dir,
		     cfg->driver_name);
	if (r < 0 || (size_t)r >= sizeof(a->spec_path)) {
		free(a);
		return errbuf_set(e, -ENAMETOOLONG, "driver_dir: path too long");
	}

	if (agent_config_has_tls(cfg)) {
		r = agent_http_tls_load(cfg->tls.ca_file, cfg->tls.cert_file, cfg->tls.key_file,
					&a->tls, e);
		if (r >= 0)
			r = agent_http_tls_check_client(a->tls, cfg->tls.client_cert_file,
							cfg->tls.client_key_file, e);
		if (r > 0) {
			/* Expired: Volman cannot call until it is renewed, but attachd still
			 * serves the admin API (drain) and recovers its volumes. */
			agent_log(AGENT_LOG_ERROR, "attachd.tls.client-cert-invalid",
				  json_pack("{s:o}", "error", agent_json_string(e->msg)));
			errbuf_clear(e);
		}
		if (r < 0) {
			agent_http_tls_free(a->tls);
			free(a);
			return r;
		}
	}

	sys_init_real(&a->env.sys);
	snprintf(a->env.host.iscsi_initiator_name, sizeof(a->env.host.iscsi_initiator_name), "%s",
		 cfg->iscsi_initiator_name);
	snprintf(a->env.host.iscsi_iface, sizeof(a->env.host.iscsi_iface), "%s", cfg->iscsi_iface);
	snprintf(a->env.host.nvme_hostnqn, sizeof(a->env.host.nvme_hostnqn), "%s",
		 cfg->nvme_hostnqn);
	snprintf(a->env.host.file_dir, sizeof(a->env.host.file_dir), "%s", cfg->file_dir);
	{
		struct backend_scaleio_host *sio = &a->env.host.scaleio;
		const struct agent_scaleio_config *c = &cfg->scaleio;

		snprintf(sio->gateway, sizeof(sio->gateway), "%s", c->gateway);
		snprintf(sio->username, sizeof(sio->username), "%s", c->username);
		snprintf(sio->ca_file, sizeof(sio->ca_file), "%s", c->ca_file);
		sio->insecure_skip_verify = c->insecure_skip_verify;
		snprintf(sio->sdc_guid, sizeof(sio->sdc_guid), "%s", c->sdc_guid);
		snprintf(sio->drv_cfg, sizeof(sio->drv_cfg), "%s", c->drv_cfg);
		if (c->password_file[0]) {
			_cleanup_free_ char *pw = NULL;
			size_t l;

			r = read_full_file(c->password_file, &pw, &l, sizeof(sio->password));
			if (r < 0) {
				agent_http_tls_free(a->tls);
				free(a);
				return errbuf_set(e, r, "scaleio.password_file: cannot read %s: %s",
						  c->password_file, strerror(-r));
			}
			/* One line; a trailing newline is not part of the password. */
			while (l > 0 && (pw[l - 1] == '\n' || pw[l - 1] == '\r'))
				pw[--l] = 0;
			if (l == 0 || l >= sizeof(sio->password) || strlen(pw) != l) {
				explicit_bzero(pw, l);
				agent_http_tls_free(a->tls);
				free(a);
				return errbuf_set(e, -EINVAL, "scaleio.password_file: %s must hold the "
						  "password on one line (1-255 bytes)", c->password_file);
			}
			memcpy(sio->password, pw, l + 1);
			explicit_bzero(pw, l);
		}
	}
	snprintf(a->env.mount_root, sizeof(a->env.mount_root), "%s", cfg->mount_root);
	a->env.connect_timeout_ms = AGENT_CONNECT_TIMEOUT_MS;
	a->env.device_timeout_ms = AGENT_DEVICE_TIMEOUT_MS;
	a->env.mkfs_timeout_ms = AGENT_MKFS_TIMEOUT_MS;
	a->env.tur_timeout_ms = AGENT_TUR_TIMEOUT_MS;
	a->env.no_path_queue_ms = (int)cfg->multipath.no_path_queue_s * 1000;
	/* 0 when there is nothing to derive it from: read-write attaches that must fence are
	 * then refused, naming fencing.key (attachctl identity says the same). */
	if (attach_fencing_key_resolve(&a->env.sys, &a->env.host, cfg->fencing_key,
				       &a->env.fencing_key) < 0)
		a->env.fencing_key = 0;

	agent_metrics_init(&a->metrics);
	a->admin_ctx = (struct agent_admin_ctx){
	    .metrics = &a->metrics,
	    .driver_name = a->cfg.driver_name,
	    .sys = &a->env.sys,
	    .host = &a->env.host,
	    .fencing_key = a->cfg.fencing_key,
	    .drain_begin = drain_begin,
	    .is_draining = is_draining,
	    .userdata = a,
	};
	a->vols = agent_volumes_new(&a->env, &metered_ops);
	a->admin_ctx.vols = a->vols;
	a->progress = agent_progress_new(NULL);
	if (a->vols)
		a->vols->progress = a->progress; /* Mount and Unmount as one operation each */
	a->env.progress = agent_progress_hook;
	a->env.progress_userdata = a->progress;
	a->admin_ctx.progress = a->progress;
	a->admin_ctx.env = &a->env;
	if (!a->vols || !a->progress) {
		agent_volumes_free(a->vols);
		agent_progress_free(a->progress);
		agent_http_tls_free(a->tls);
		free(a);
		return errbuf_set(e, -ENOMEM, "out of memory");
	}
	agent_volumes_set_limits(a->vols, cfg->limits.max_pipelines, cfg->limits.lock_wait_s);
	agent_volumes_set_metrics(a->vols, &a->metrics);
	*ret = a;
	return 0;
}

void agent_set_test_settings(struct agent *a, const struct agent_test_settings *t)
{
	a->test = *t;
}

struct attach_env *agent_env(struct agent *a)
{
	return &a->env;
}

struct agent_volumes *agent_volumes(struct agent *a)
{
	return a->vols;
}

unsigned agent_port(const struct agent *a)
{
	return a->http ? agent_http_port(a->http) : 0;
}

const char *agent_spec_path(const struct agent *a)
{
	return a->spec_path;
}

char *agent_spec_json(const char *driver_name, const char *listen_host, unsigned port,
		      const struct agent_tls_config *tls)
{
	char addr[300];
	const char *h = listen_host;
	json_t *spec;
	char *text;

	/* Volman dials Addr from this host: "any" is not an address it can dial. */
	if (streq(h, "0.0.0.0") || !*h)
		h = "127.0.0.1";
	else if (streq(h, "::"))
		h = "::1";
	snprintf(addr, sizeof(addr), strchr(h, ':') ? "%s://[%s]:%u" : "%s://%s:%u",
		 tls ? "https" : "http", h, port);
	/* Volman's dockerdriver.DriverSpec (volman-protocol.md §2.2): with TLSConfig the rep
	 * dials https with that client identity and verifies us against CAFile. */
	spec = json_pack("{s:s,s:s,s:o,s:b}", "Name", driver_name, "Addr", addr, "TLSConfig",
			 tls ? json_pack("{s:b,s:s,s:s,s:s}", "InsecureSkipVerify", 0, "CAFile",
					 tls->ca_file, "CertFile", tls->client_cert_file, "KeyFile",
					 tls->client_key_file)
			     : json_null(),
			 "UniqueVolumeIds", 1);
	if (!spec)
		return NULL;
	text = json_dumps(spec, JSON_COMPACT);
	json_decref(spec);
	return text;
}

static char *handle(void *userdata, const char *method, const char *url, const char *body,
		    size_t len)
{
	struct agent *a = userdata;

	/* Draining: the spec file is gone and the volumes are being detached; a Create or
	 * Mount still in Volman's pipe must not attach them again. */
	if (is_draining(a) &&
	    (streq(url, "/VolumeDriver.Mount") || streq(url, "/VolumeDriver.Create")))
		return agent_volman_error_response("attachd is draining (the cell is shutting "
						   "down); no new mounts");
	return agent_volman_handle(a->vols, method, url, body, len);
}

static char *error_response(int r, const char *msg)
{
	return agent_volman_error_response(msg);
}

static int write_spec(struct agent *a, struct errbuf *e)
{
	_cleanup_free_ char *text = agent_spec_json(a->cfg.driver_name, a->host, agent_port(a),
						    a->tls ? &a->cfg.tls : NULL);
	int r;

	if (!text)
		return errbuf_set(e, -ENOMEM, "out of memory");
	r = mkdir_p(a->cfg.driver_dir, 0755);
	if (r < 0)
		return errbuf_set(e, r, "cannot create driver_dir %s: %s", a->cfg.driver_dir,
				  strerror(-r));
	/* 0644: the rep reads it as vcap through a read-only BPM mount. */
	r = write_file_atomic(a->spec_path, text, strlen(text), 0644);
	if (r < 0)
		return errbuf_set(e, r, "cannot write driver spec %s: %s", a->spec_path,
				  strerror(-r));
	a->spec_written = 1;
	return 0;
}

/* Not fatal, like the admin socket: volumes matter more than their metrics (the scrape
 * fails, and the log says why). */
static void start_metrics(struct agent *a)
{
	struct agent_prom_sources src = {.metrics = &a->metrics, .vols = a->vols};
	struct errbuf pe = {{0}};
	char host[256], addr[300];
	unsigned port;
	int r;

	if (agent_listen_parse(a->cfg.metrics_listen, host, sizeof(host), &port) < 0)
		r = errbuf_set(&pe, -EINVAL, "metrics_listen: '%s' is not HOST:PORT",
			       a->cfg.metrics_listen);
	else
		r = agent_prom_start(host, port, a->tls, &src, &a->prom, &pe);
	if (r < 0) {
		agent_log(AGENT_LOG_ERROR, "attachd.metrics-server.failed",
			  json_pack("{s:s,s:o}", "address", a->cfg.metrics_listen, "error",
				    agent_json_string(pe.msg)));
		return;
	}
	snprintf(addr, sizeof(addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
		 agent_prom_port(a->prom));
	agent_log(AGENT_LOG_INFO, "attachd.metrics-server.started",
		  json_pack("{s:s,s:s,s:b}", "address", addr, "path", "/metrics", "mutual_tls",
			    a->tls != NULL));
}

int agent_start(struct agent *a, struct errbuf *e)
{
	struct agent_http_options o = {
	    .host = a->host,
	    .port = a->want_port,
	    .log_name = "attachd.http",
	    .tls = a->tls,
	    .error = error_response,
	};
	char addr[300];
	int r;

	/* file.dir, like the state directory: a file volume must not depend on a BOSH
	 * pre-start having made it (DESIGN.md: created 0700 at start). Not fatal: a host
	 * without file volumes must still serve the others (a file Mount then says why).
	 * Fakes attach nothing. */
	if (a->ops == &agent_driver_ops_real) {
		const char *fdir = a->env.host.file_dir[0] ? a->env.host.file_dir
							   : ATTACH_DEFAULT_FILE_DIR;

		r = mkdir_p(fdir, 0700);
		if (r < 0)
			agent_log(AGENT_LOG_ERROR, "attachd.file-dir.failed",
				  json_pack("{s:s,s:s}", "dir", fdir, "error", strerror(-r)));
	}
	/* Records first: what a previous run left must match the kernel before Volman (whose
	 * start-up purge lists and unmounts) gets an answer. */
	if (!a->state) {
		r = agent_state_open(a->cfg.state_dir, &a->env.sys,
				     a->test.boot_id_file[0] ? a->test.boot_id_file : NULL,
				     &a->state, e);
		if (r < 0)
			return r;
		agent_volumes_set_state(a->vols, a->state, &a->test);
		/* Only the real pipeline owns dm devices: fakes must not touch the kernel's. */
		r = agent_volumes_recover(a->vols, a->ops == &agent_driver_ops_real, e);
		if (r < 0)
			return r;
	}
	if (a->ops->check) {
		struct errbuf ce = {{0}};

		/* Not fatal: volumes already attached still need Unmount and attachctl; Mounts
		 * that need an attach are answered with this message (checked again then). */
		r = a->ops->check(&a->env, &ce);
		if (r != 0)
			agent_log(r < 0 ? AGENT_LOG_ERROR : AGENT_LOG_INFO,
				  r < 0 ? "attachd.preflight.missing" : "attachd.preflight.degraded",
				  json_pack("{s:o}", "error", agent_json_string(ce.msg)));
	}
	if (a->cfg.admin_socket[0]) {
		struct errbuf ae = {{0}};

		/* Not fatal: Volman's containers matter more than attachctl. Without the
		 * socket, attachctl (and so BOSH drain) reports that it cannot connect. */
		r = agent_admin_start(a->cfg.admin_socket, &a->admin_ctx, &a->admin, &ae);
		if (r < 0)
			agent_log(AGENT_LOG_ERROR, "attachd.admin-server.failed",
				  json_pack("{s:s,s:o}", "socket", a->cfg.admin_socket, "error",
					    agent_json_string(ae.msg)));
	}
	/* Only the real pipeline has paths to check. Not fatal: without the checker the
	 * kernel still fails paths on I/O errors; they are just never reinstated. */
	if (a->ops == &agent_driver_ops_real && !a->pathcheck) {
		struct errbuf pe = {{0}};

		r = agent_pathcheck_start(a->vols, &a->metrics, a->cfg.multipath.check_interval_s,
					  &a->pathcheck, &pe);
		if (r < 0)
			agent_log(AGENT_LOG_ERROR, "attachd.path-check.not-started",
				  json_pack("{s:o}", "error", agent_json_string(pe.msg)));
	}
	if (a->cfg.metrics_listen[0] && !a->prom)
		start_metrics(a);
	r = agent_http_start(&o, handle, a, &a->http, e);
	if (r < 0) {
		a->prom = agent_prom_stop(a->prom);
		a->pathcheck = agent_pathcheck_stop(a->pathcheck);
		a->admin = agent_admin_stop(a->admin);
		return r;
	}
	/* Only now: a spec file before the listener makes Volman's Activate fail and drop
	 * the driver for a whole 30 s discovery round. */
	r = write_spec(a, e);
	if (r < 0) {
		a->http = agent_http_stop(a->http);
		a->prom = agent_prom_stop(a->prom);
		a->pathcheck = agent_pathcheck_stop(a->pathcheck);
		a->admin = agent_admin_stop(a->admin);
		return r;
	}
	snprintf(addr, sizeof(addr), strchr(a->host, ':') ? "[%s]:%u" : "%s:%u", a->host,
		 agent_port(a));
	agent_log(AGENT_LOG_INFO, "attachd.driver-server.started",
		  json_pack("{s:s,s:s,s:s,s:b}", "address", addr, "spec", a->spec_path,
			    "mount_root", a->cfg.mount_root, "mutual_tls", a->tls != NULL));
	return 0;
}

void agent_stop(struct agent *a)
{
	if (!a)
		return;
	(void)remove_spec(a);
	if (a->http) {
		a->http = agent_http_stop(a->http);
		agent_log(AGENT_LOG_INFO, "attachd.driver-server.stopped", NULL);
	}
	a->prom = agent_prom_stop(a->prom);
	a->pathcheck = agent_pathcheck_stop(a->pathcheck);
	a->admin = agent_admin_stop(a->admin);
}

unsigned agent_metrics_port(const struct agent *a)
{
	return agent_prom_port(a->prom);
}

struct agent *agent_free(struct agent *a)
{
	if (!a)
		return NULL;
	agent_stop(a);
	agent_volumes_free(a->vols);
	agent_progress_free(a->progress);
	agent_metrics_done(&a->metrics);
	agent_state_free(a->state);
	agent_http_tls_free(a->tls);
	free(a);
	return NULL;
}
