/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OSB operations. Each one reads and writes the store in single transactions (db.h); the
 * only multi-step operations are the scaleio ones, which write an intent first ("creating"
 * / "deleting") so that a crash between the gateway call and the commit is finished or
 * undone later (osb_recover, at start and periodically, by any broker sharing the
 * database) instead of leaving an orphan volume.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "broker/log.h"
#include "broker/osb_internal.h"
#include "lib/jsonx.h"
#include "lib/macro.h"

struct ctx {
	struct broker *b;
	const struct osb_request *rq;
	struct osb_response *res;
	json_t *body; /* the parsed request body */
};

static void answer(struct ctx *x, int status, json_t *body)
{
	x->res->status = status;
	x->res->body = body ? body : json_object();
}

/* {"error": code, "description": text}; code may be NULL (description only). */
static void _printf_(4, 5) fail(struct ctx *x, int status, const char *code, const char *fmt, ...)
{
	char text[4 * ERRBUF_MAX + 128];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	j = json_pack("{s:s}", "description", text);
	if (code)
		json_object_set_new(j, "error", json_string(code));
	broker_log(
	    status >= 500 ? BROKER_LOG_ERROR : BROKER_LOG_INFO, "attachd-broker.request.failed",
	    json_pack("{s:s, s:s, s:i, s:s, s:s}", "method", x->rq->method, "path", x->rq->path,
		      "status", status, "error", code ? code : "", "description", text));
	answer(x, status, j);
}

static const char *q(struct ctx *x, const char *key)
{
	return x->rq->query ? x->rq->query(x->rq->query_ud, key) : NULL;
}

static void concurrency(struct ctx *x, const char *id, const char *state)
{
	if (streq(state, "failed"))
		return fail(x, 422, "ConcurrencyError",
			    "instance %s failed to be created (see its last operation); delete it",
			    id);
	fail(x, 422, "ConcurrencyError",
	     "instance %s is being %s by another request; try again when it is done", id,
	     streq(state, "creating")	? "created"
	     : streq(state, "deleting") ? "deleted"
	     : streq(state, "updating") ? "updated"
					: "changed");
}

static int accepts_incomplete(struct ctx *x)
{
	const char *v = q(x, "accepts_incomplete");

	return v && streq(v, "true");
}

/* 1: run asynchronously; 0: synchronously; -1: refused, answered (422 AsyncRequired). */
static int async_mode(struct ctx *x, const struct broker_plan *p)
{
	if (!p || p->backend != BROKER_BE_SCALEIO || p->async == BROKER_ASYNC_OFF)
		return 0;
	if (accepts_incomplete(x))
		return 1;
	if (p->async == BROKER_ASYNC_REQUIRED) {
		fail(x, 422, "AsyncRequired",
		     "plan %s works asynchronously only: send accepts_incomplete=true and poll "
		     "last_operation",
		     p->name);
		return -1;
	}
	return 0;
}

static void answer_accepted(struct ctx *x, const struct broker_instance *inst)
{
	struct broker_op o;

	if (broker_op_parse(inst->op, &o) < 0)
		return fail(x, 500, NULL, "instance %s: its operation record is unreadable",
			    inst->id);
	answer(x, 202, json_pack("{s:s}", "operation", o.id));
}

/* An asynchronous deprovision or update: inst (its operation begun) moves from "ready" to
 * state in the database, then a worker runs it; 202 with the operation, 422 when another
 * request changed the instance meanwhile. */
static void accept_change(struct ctx *x, const char *id, struct broker_instance *inst,
			  const char *state, const char *event)
{
	struct errbuf e = {{0}};
	int r;

	snprintf(inst->state, sizeof(inst->state), "%s", state);
	r = x->b->dbo->instance_update(x->b->db, inst, "ready", &e);
	if (r == -ESTALE)
		return concurrency(x, id, "changing");
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
	broker_log(BROKER_LOG_INFO, event,
		   json_pack("{s:s, s:s, s:s}", "instance", id, "operation", inst->op,
			     "request_id", x->rq->request_id));
	broker_job_start(x->b, id);
	answer_accepted(x, inst);
}

/* Parse the body as a JSON object; 400 and -EINVAL when it is not one. */
static int parse_body(struct ctx *x)
{
	json_error_t jerr;

	if (!x->rq->body || x->rq->body_len == 0) {
		fail(x, 400, "BadRequest", "the request needs a JSON object body");
		return -EINVAL;
	}
	x->body = json_loadb(x->rq->body, x->rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!x->body) {
		fail(x, 400, "BadRequest", "the body is not valid JSON: %s (at character %d)",
		     jerr.text, jerr.position);
		return -EINVAL;
	}
	if (!json_is_object(x->body)) {
		fail(x, 400, "BadRequest", "the body must be a JSON object, not %s",
		     jsonx_type_name(x->body));
		return -EINVAL;
	}
	return 0;
}

/* A string field of the body: required ones answer 400 when absent. */
static int body_str(struct ctx *x, const char *key, int required, const char **ret)
{
	const json_t *v = json_object_get(x->body, key);

	*ret = "";
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		fail(x, 400, "BadRequest", "%s: required", key);
		return -EINVAL;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) > BROKER_ID_MAX) {
		fail(x, 400, "BadRequest", "%s: must be a string of at most %d characters", key,
		     BROKER_ID_MAX);
		return -EINVAL;
	}
	*ret = json_string_value(v);
	return 0;
}

/* The service and plan a request names, checked against the catalog. */
static const struct broker_plan *plan_of(struct ctx *x, const char *service_id, const char *plan_id)
{
	const struct broker_service *s = broker_config_service(x->b->cfg, service_id);
	const struct broker_plan *p = broker_config_plan(x->b->cfg, plan_id);

	if (!s) {
		fail(x, 400, "BadRequest",
		     "service_id: '%s' is not a service of this broker's catalog", service_id);
		return NULL;
	}
	if (!p || &x->b->cfg->services[p->service] != s) {
		fail(x, 400, "BadRequest", "plan_id: '%s' is not a plan of service %s", plan_id,
		     s->name);
		return NULL;
	}
	return p;
}

static char *canonical(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

	json_decref(j);
	return s;
}

static json_t *instance_attrs(const struct broker_instance *inst)
{
	char sz[32];

	broker_size_format(inst->size, sz, sizeof(sz));
	if (!inst->size)
		return json_pack("{s:s}", "fs", inst->fs);
	return json_pack("{s:s, s:s}", "size", sz, "fs", inst->fs);
}

/* The catalog has no maintenance_info, so a request that names one asks for something
 * this broker does not offer (spec: 422 MaintenanceInfoConflict). */
static int maintenance_info_refused(struct ctx *x)
{
	const json_t *m = json_object_get(x->body, "maintenance_info");

	if (!m || json_is_null(m))
		return 0;
	fail(x, 422, "MaintenanceInfoConflict",
	     "maintenance_info: this broker's catalog has none; send the request without it");
	return 1;
}

/* ---- provision ---- */

static void provision_existing(struct ctx *x, const struct broker_instance *have,
			       const char *request)
{
	struct broker_op o;

	/* The platform asking again for an asynchronous provision it started. */
	if (streq(have->state, "creating") && streq(have->request, request) &&
	    accepts_incomplete(x) && broker_op_parse(have->op, &o) == 0 &&
	    streq(o.kind, "provision"))
		return answer(x, 202, json_pack("{s:s}", "operation", o.id));
	if (!streq(have->state, "ready"))
		return concurrency(x, have->id, have->state);
	if (streq(have->request, request))
		return answer(
		    x, 200, json_pack("{s:{s:o}}", "metadata", "attributes", instance_attrs(have)));
	fail(x, 409, NULL,
	     "instance %s exists with other attributes (service, plan, organization, space or "
	     "parameters); use another instance id or update the existing one",
	     have->id);
}

static void provision(struct ctx *x, const char *id)
{
	const struct broker_db_ops *db = x->b->dbo;
	const char *service_id, *plan_id, *org, *space;
	_cleanup_free_ char *request = NULL;
	struct broker_instance inst = {0}, have;
	struct broker_vol_params vp;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	const struct broker_plan *p;
	json_t *params, *meta;
	int r, async;

	if (parse_body(x) < 0 || body_str(x, "service_id", 1, &service_id) < 0 ||
	    body_str(x, "plan_id", 1, &plan_id) < 0 ||
	    body_str(x, "organization_guid", 0, &org) < 0 ||
	    body_str(x, "space_guid", 0, &space) < 0)
		return;
	p = plan_of(x, service_id, plan_id);
	if (!p)
		return;
	if (maintenance_info_refused(x))
		return;
	async = async_mode(x, p);
	if (async < 0)
		return;
	params = json_object_get(x->body, "parameters");
	if (broker_provision_params(p, params, &vp, &el) < 0)
		return fail(x, 400, "BadRequest", "parameters of plan %s: %s", p->name, el.msg);
	request = canonical(
	    json_pack("{s:s, s:s, s:s, s:s, s:o}", "service_id", service_id, "plan_id", plan_id,
		      "org", org, "space", space, "parameters",
		      params && !json_is_null(params) ? json_incref(params) : json_object()));
	if (!request || strlen(request) >= sizeof(inst.request))
		return fail(x, 400, "BadRequest", "parameters: too large");

	snprintf(inst.id, sizeof(inst.id), "%s", id);
	snprintf(inst.service_id, sizeof(inst.service_id), "%s", service_id);
	snprintf(inst.plan_id, sizeof(inst.plan_id), "%s", plan_id);
	snprintf(inst.org, sizeof(inst.org), "%s", org);
	snprintf(inst.space, sizeof(inst.space), "%s", space);
	snprintf(inst.request, sizeof(inst.request), "%s", request);
	snprintf(inst.fs, sizeof(inst.fs), "%s", vp.fs);
	inst.size = vp.size;
	snprintf(inst.state, sizeof(inst.state), "%s",
		 p->backend == BROKER_BE_SCALEIO ? "creating" : "ready");
	if (p->backend == BROKER_BE_SCALEIO)
		broker_sio_volume_name(id, inst.volume_name, sizeof(inst.volume_name));
	if (async) {
		char sz[32], desc[256];

		broker_size_format(inst.size, sz, sizeof(sz));
		snprintf(desc, sizeof(desc),
			 "creating a %s volume (%s) on the PowerFlex gateway%s%s", sz,
			 p->thick ? "thick" : "thin", vp.note[0] ? "; " : "", vp.note);
		broker_op_begin(&inst, "provision", 0, NULL, desc);
	}

	r = db->instance_insert(x->b->db, &inst, broker_backend_is_pool(p->backend) ? p->id : NULL,
				&e);
	if (r == -EEXIST) {
		/* Someone (this request's earlier try, or another broker) has the id. */
		if (db->instance_get(x->b->db, id, &have, &e) < 0)
			return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
		return provision_existing(x, &have, request);
	}
	if (r == -ENOSPC)
		return fail(x, 507, NULL,
			    "plan %s has no free %s left: ask the operator to add some to the "
			    "config or to clean released ones (attachd-broker pool clean)",
			    p->name, p->backend == BROKER_BE_ISCSI ? "LUN" : "namespace");
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);

	if (async) {
		broker_log(BROKER_LOG_INFO, "attachd-broker.provision.accepted",
			   json_pack("{s:s, s:s, s:s, s:s}", "instance", id, "plan", p->name,
				     "operation", inst.op, "request_id", x->rq->request_id));
		broker_job_start(x->b, id);
		return answer_accepted(x, &inst);
	}
	if (p->backend == BROKER_BE_SCALEIO) {
		r = broker_sio_create_or_find(x->b->cfg, p, &inst, &e);
		if (r < 0) {
			struct errbuf e2 = {{0}};

			(void)db->instance_delete(x->b->db, id, &e2);
			return fail(x, 502, NULL, "creating the volume of instance %s failed: %s",
				    id, e.msg);
		}
		snprintf(inst.state, sizeof(inst.state), "ready");
		r = db->instance_update(x->b->db, &inst, "creating", &e);
		if (r < 0) {
			struct errbuf e2 = {{0}};

			/* No orphan: the volume goes, then the intent. If either fails, the
			 * row stays "creating" and the next start removes both. */
			if (broker_sio_remove(x->b->cfg, inst.backend_ref, &e2) == 0)
				(void)db->instance_delete(x->b->db, id, &e2);
			return fail(x, 500, NULL,
				    "instance %s: recording volume %s failed (%s); the volume was "
				    "removed again",
				    id, inst.backend_ref, e.msg);
		}
	}
	meta = instance_attrs(&inst);
	if (vp.note[0])
		json_object_set_new(meta, "size_note", json_string(vp.note));
	broker_log(BROKER_LOG_INFO, "attachd-broker.provision.done",
		   json_pack("{s:s, s:s, s:s, s:s, s:O, s:s}", "instance", id, "plan", p->name,
			     "backend", broker_backend_name(p->backend), "volume", inst.backend_ref,
			     "attributes", meta, "request_id", x->rq->request_id));
	answer(x, 201, json_pack("{s:{s:o}}", "metadata", "attributes", meta));
}

/* ---- deprovision ---- */

static int require_ids(struct ctx *x)
{
	if (!q(x, "service_id") || !q(x, "plan_id")) {
		fail(x, 400, "BadRequest",
		     "the query parameters service_id and plan_id are required");
		return -EINVAL;
	}
	return 0;
}

static void deprovision(struct ctx *x, const char *id)
{
	const struct broker_db_ops *db = x->b->dbo;
	struct broker_instance inst;
	struct errbuf e = {{0}};
	const struct broker_plan *p;
	struct broker_op o;
	int r, async;

	if (require_ids(x) < 0)
		return;
	r = db->instance_get(x->b->db, id, &inst, &e);
	if (r == -ENOENT)
		return answer(x, 410, NULL);
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
	p = broker_config_plan(x->b->cfg, inst.plan_id);
	if (streq(inst.state, "deleting") && accepts_incomplete(x) &&
	    broker_op_parse(inst.op, &o) == 0 && streq(o.kind, "deprovision") &&
	    streq(o.state, "in progress"))
		return answer(x, 202, json_pack("{s:s}", "operation", o.id));
	/* A failed asynchronous provision left a row and no volume: the platform cleans up. */
	if (!streq(inst.state, "ready") && !streq(inst.state, "failed"))
		return concurrency(x, id, inst.state);
	async = streq(inst.state, "ready") && inst.backend_ref[0] ? async_mode(x, p) : 0;
	if (async < 0)
		return;
	if (async) {
		char desc[128];

		snprintf(desc, sizeof(desc), "removing volume %s from the PowerFlex gateway",
			 inst.backend_ref);
		broker_op_begin(&inst, "deprovision", 0, NULL, desc);
		return accept_change(x, id, &inst, "deleting", "attachd-broker.deprovision.accepted");
	}
	if (p && p->backend == BROKER_BE_SCALEIO && inst.backend_ref[0] &&
	    streq(inst.state, "ready")) {
		snprintf(inst.state, sizeof(inst.state), "deleting");
		r = db->instance_update(x->b->db, &inst, "ready", &e);
		if (r == -ESTALE)
			return concurrency(x, id, "changing");
		if (r < 0)
			return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
		r = broker_sio_remove(x->b->cfg, inst.backend_ref, &e);
		if (r < 0) {
			struct errbuf e2 = {{0}};

			snprintf(inst.state, sizeof(inst.state), "ready");
			(void)db->instance_update(x->b->db, &inst, "deleting", &e2);
			if (r == -EBUSY)
				return fail(x, 409, "VolumeInUse", "%s", e.msg);
			return fail(x, 502, NULL, "removing volume %s of instance %s failed: %s",
				    inst.backend_ref, id, e.msg);
		}
	}
	r = db->instance_delete(x->b->db, id, &e);
	if (r == -ENOENT)
		return answer(x, 410, NULL);
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
	broker_log(BROKER_LOG_INFO, "attachd-broker.deprovision.done",
		   json_pack("{s:s, s:s, s:s, s:s}", "instance", id, "volume", inst.backend_ref,
			     "pool_item", p && broker_backend_is_pool(p->backend) ? "released" : "",
			     "request_id", x->rq->request_id));
	answer(x, 200, NULL);
}

/* ---- update ---- */

static void update(struct ctx *x, const char *id)
{
	const struct broker_db_ops *db = x->b->dbo;
	const char *service_id, *plan_id;
	struct broker_instance inst, now;
	struct broker_vol_params vp;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	const struct broker_plan *p, *np;
	char a[32], b[32];
	int r, async;

	if (parse_body(x) < 0 || body_str(x, "service_id", 1, &service_id) < 0 ||
	    body_str(x, "plan_id", 0, &plan_id) < 0 || maintenance_info_refused(x))
		return;
	r = db->instance_get(x->b->db, id, &inst, &e);
	if (r == -ENOENT)
		return fail(x, 404, NULL, "instance %s does not exist", id);
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
	if (!streq(inst.state, "ready"))
		return concurrency(x, id, inst.state);
	if (!streq(service_id, inst.service_id))
		return fail(x, 400, "BadRequest", "service_id: instance %s belongs to service %s",
			    id, inst.service_id);
	p = broker_config_plan(x->b->cfg, inst.plan_id);
	if (!p)
		return fail(x, 500, NULL, "instance %s: its plan %s is no longer in the config", id,
			    inst.plan_id);
	np = p;
	if (plan_id[0] && !streq(plan_id, inst.plan_id)) {
		np = plan_of(x, service_id, plan_id);
		if (!np)
			return;
		if (p->backend != BROKER_BE_SCALEIO || np->backend != BROKER_BE_SCALEIO ||
		    !streq(p->storage_pool_id, np->storage_pool_id) ||
		    !streq(p->storage_pool, np->storage_pool) ||
		    !streq(p->protection_domain, np->protection_domain) || p->thick != np->thick)
			return fail(
			    x, 400, "BadRequest",
			    "plan_id: instance %s cannot move from plan %s to plan %s (only "
			    "between scaleio plans of one storage pool and provisioning)",
			    id, p->name, np->name);
	}
	if (broker_update_params(np, inst.size, inst.fs, json_object_get(x->body, "parameters"),
				 &vp, &el) < 0)
		return fail(x, 400, "BadRequest", "parameters: %s", el.msg);
	if (np->max_size && vp.size > np->max_size)
		return fail(x, 400, "BadRequest", "size: plan %s allows at most %s", np->name,
			    (broker_size_format(np->max_size, a, sizeof(a)), a));
	async = async_mode(x, np);
	if (async < 0)
		return;
	if (async && vp.size > inst.size) {
		char desc[256];

		now = inst;
		broker_size_format(inst.size, a, sizeof(a));
		broker_size_format(vp.size, b, sizeof(b));
		snprintf(desc, sizeof(desc), "growing volume %s from %s to %s%s%s",
			 inst.backend_ref, a, b, vp.note[0] ? "; " : "", vp.note);
		broker_op_begin(&now, "update", vp.size, np->id, desc);
		return accept_change(x, id, &now, "updating", "attachd-broker.update.accepted");
	}
	if (vp.size > inst.size) {
		r = broker_sio_resize(x->b->cfg, inst.backend_ref, vp.size, &e);
		if (r < 0)
			return fail(x, 502, NULL, "growing volume %s of instance %s failed: %s",
				    inst.backend_ref, id, e.msg);
	}
	now = inst;
	now.size = vp.size;
	snprintf(now.plan_id, sizeof(now.plan_id), "%s", np->id);
	r = db->instance_update(x->b->db, &now, "ready", &e);
	if (r == -ESTALE)
		return concurrency(x, id, "changing");
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
	broker_size_format(inst.size, a, sizeof(a));
	broker_size_format(now.size, b, sizeof(b));
	broker_log(BROKER_LOG_INFO, "attachd-broker.update.done",
		   json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "instance", id, "plan", np->name,
			     "size_before", a, "size", b, "size_note", vp.note, "request_id",
			     x->rq->request_id));
	json_t *meta = instance_attrs(&now);

	if (vp.note[0])
		json_object_set_new(meta, "size_note", json_string(vp.note));
	answer(x, 200, json_pack("{s:{s:o}}", "metadata", "attributes", meta));
}

static void fetch_instance(struct ctx *x, const char *id)
{
	struct broker_instance inst;
	struct errbuf e = {{0}};
	int r = x->b->dbo->instance_get(x->b->db, id, &inst, &e);

	if (r == -ENOENT ||
	    (r == 0 && (streq(inst.state, "creating") || streq(inst.state, "failed"))))
		return fail(x, 404, NULL, "instance %s does not exist", id);
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
	if (!streq(inst.state, "ready"))
		return concurrency(x, id, inst.state);
	answer(x, 200,
	       json_pack("{s:s, s:s, s:o, s:{s:o}}", "service_id", inst.service_id, "plan_id",
			 inst.plan_id, "parameters", instance_attrs(&inst), "metadata",
			 "attributes", instance_attrs(&inst)));
}

/* ---- bindings ---- */

json_t *osb_binding_body(const struct broker_config *c, const struct broker_instance *inst,
			 const struct broker_binding *bd, struct errbuf *e)
{
	const struct broker_plan *p = broker_config_plan(c, inst->plan_id);
	char key[128], sz[32];
	json_t *mc;

	if (!p) {
		errbuf_set(e, -ENOENT, "plan %s of instance %s is no longer in the config",
			   inst->plan_id, inst->id);
		return NULL;
	}
	if (broker_volume_key(inst->id, key, sizeof(key)) < 0) {
		errbuf_set(e, -ENOBUFS, "instance id too long");
		return NULL;
	}
	if (broker_backend_is_pool(p->backend)) {
		const json_t *item = NULL;

		for (size_t i = 0; i < p->n_items; i++)
			if (streq(p->keys[i], inst->backend_ref))
				item = json_array_get(p->items, i);
		if (!item) {
			errbuf_set(
			    e, -ENOENT,
			    "%s of instance %s is no longer in plan %s's items in the config",
			    inst->backend_ref, inst->id, p->name);
			return NULL;
		}
		mc = json_deep_copy(item);
	} else if (p->backend == BROKER_BE_SCALEIO) {
		mc = json_pack("{s:s, s:s}", "system_id",
			       p->system_id[0] ? p->system_id : c->sio_system_id, "volume_id",
			       inst->backend_ref);
	} else {
		broker_size_format(inst->size, sz, sizeof(sz));
		mc = json_pack("{s:s}", "size", sz);
	}
	json_object_set_new(mc, "backend", json_string(broker_backend_name(p->backend)));
	json_object_set_new(mc, "fs", json_string(inst->fs));
	if (bd->readonly)
		json_object_set_new(mc, "readonly", json_true());
	/* The plan's fencing policy (attachd's Create options; unset: attachd's defaults). */
	if (p->fencing[0])
		json_object_set_new(mc, "fencing", json_string(p->fencing));
	if (p->takeover >= 0)
		json_object_set_new(mc, "takeover", json_boolean(p->takeover));
	return json_pack("{s:{}, s:[{s:s, s:s, s:s, s:s, s:{s:s, s:o}}]}", "credentials",
			 "volume_mounts", "driver", c->driver[0] ? c->driver : "attachd",
			 "container_dir", bd->container_dir, "mode", bd->readonly ? "r" : "rw",
			 "device_type", "shared", "device", "volume_id", key, "mount_config", mc);
}

static void bind(struct ctx *x, const char *id, const char *bid)
{
	const struct broker_db_ops *db = x->b->dbo;
	const char *service_id, *plan_id, *app = "";
	_cleanup_free_ char *request = NULL;
	struct broker_binding bd = {0}, have;
	struct broker_bind_params bp;
	struct broker_instance inst;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	const json_t *br, *params;
	json_t *out;
	int r;

	if (parse_body(x) < 0 || body_str(x, "service_id", 1, &service_id) < 0 ||
	    body_str(x, "plan_id", 1, &plan_id) < 0)
		return;
	if (!plan_of(x, service_id, plan_id))
		return;
	br = json_object_get(x->body, "bind_resource");
	if (json_is_string(json_object_get(br, "app_guid")))
		app = json_string_value(json_object_get(br, "app_guid"));
	else if (json_is_string(json_object_get(x->body, "app_guid")))
		app = json_string_value(json_object_get(x->body, "app_guid"));
	if (!app[0] || strlen(app) > BROKER_ID_MAX)
		return fail(x, 422, "RequiresApp",
			    "a volume is mounted into an app: bind it to an app (cf bind-service), "
			    "service keys are not supported");
	r = db->instance_get(x->b->db, id, &inst, &e);
	if (r == -ENOENT)
		return fail(x, 400, "BadRequest", "instance %s does not exist", id);
	if (r < 0)
		return fail(x, 500, NULL, "instance %s: %s", id, e.msg);
	if (!streq(inst.state, "ready"))
		return concurrency(x, id, inst.state);
	if (!streq(inst.service_id, service_id) || !streq(inst.plan_id, plan_id))
		return fail(x, 400, "BadRequest", "instance %s is of service %s plan %s, not %s %s",
			    id, inst.service_id, inst.plan_id, service_id, plan_id);
	params = json_object_get(x->body, "parameters");
	if (broker_bind_params(x->b->cfg->container_root, id, params, &bp, &el) < 0)
		return fail(x, 400, "BadRequest", "parameters: %s", el.msg);
	request = canonical(json_pack(
	    "{s:s, s:s, s:o}", "instance", id, "app_guid", app, "parameters",
	    params && !json_is_null(params) ? json_incref((json_t *)params) : json_object()));
	if (!request || strlen(request) >= sizeof(bd.request))
		return fail(x, 400, "BadRequest", "parameters: too large");
	snprintf(bd.id, sizeof(bd.id), "%s", bid);
	snprintf(bd.instance_id, sizeof(bd.instance_id), "%s", id);
	snprintf(bd.app_guid, sizeof(bd.app_guid), "%s", app);
	snprintf(bd.request, sizeof(bd.request), "%s", request);
	snprintf(bd.container_dir, sizeof(bd.container_dir), "%s", bp.container_dir);
	bd.readonly = bp.readonly;
	out = osb_binding_body(x->b->cfg, &inst, &bd, &e);
	if (!out)
		return fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
	r = db->binding_insert(x->b->db, &bd, &e);
	if (r == -EEXIST) {
		json_decref(out);
		if (db->binding_get(x->b->db, bid, &have, &e) < 0)
			return fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
		if (!streq(have.request, bd.request))
			return fail(x, 409, NULL,
				    "binding %s exists with other attributes (instance, app or "
				    "parameters)",
				    bid);
		out = osb_binding_body(x->b->cfg, &inst, &have, &e);
		return out ? answer(x, 200, out) : fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
	}
	if (r == -ENOENT || r == -EBUSY) {
		json_decref(out);
		return concurrency(x, id, "changing");
	}
	if (r < 0) {
		json_decref(out);
		return fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
	}
	broker_log(BROKER_LOG_INFO, "attachd-broker.bind.done",
		   json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "instance", id, "binding", bid,
			     "app_guid", app, "container_dir", bd.container_dir, "readonly",
			     bd.readonly, "request_id", x->rq->request_id));
	answer(x, 201, out);
}

static void unbind(struct ctx *x, const char *id, const char *bid)
{
	struct broker_binding bd;
	struct errbuf e = {{0}};
	int r;

	if (require_ids(x) < 0)
		return;
	r = x->b->dbo->binding_get(x->b->db, bid, &bd, &e);
	if (r == -ENOENT || (r == 0 && !streq(bd.instance_id, id)))
		return answer(x, 410, NULL);
	if (r < 0)
		return fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
	r = x->b->dbo->binding_delete(x->b->db, bid, &e);
	if (r == -ENOENT)
		return answer(x, 410, NULL);
	if (r < 0)
		return fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
	broker_log(BROKER_LOG_INFO, "attachd-broker.unbind.done",
		   json_pack("{s:s, s:s, s:s}", "instance", id, "binding", bid, "request_id",
			     x->rq->request_id));
	answer(x, 200, NULL);
}

static void fetch_binding(struct ctx *x, const char *id, const char *bid)
{
	struct broker_instance inst;
	struct broker_binding bd;
	struct errbuf e = {{0}};
	json_t *out;
	int r;

	r = x->b->dbo->binding_get(x->b->db, bid, &bd, &e);
	if (r == -ENOENT || (r == 0 && !streq(bd.instance_id, id)))
		return fail(x, 404, NULL, "binding %s of instance %s does not exist", bid, id);
	if (r == 0)
		r = x->b->dbo->instance_get(x->b->db, id, &inst, &e);
	if (r < 0)
		return fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
	out = osb_binding_body(x->b->cfg, &inst, &bd, &e);
	if (!out)
		return fail(x, 500, NULL, "binding %s: %s", bid, e.msg);
	/* parameters: what the user gave (inside our canonical request). */
	json_t *req = json_loads(bd.request, 0, NULL);

	json_object_set(out, "parameters", json_object_get(req, "parameters"));
	json_decref(req);
	answer(x, 200, out);
}

/* last_operation. Bindings are synchronous: one that exists has succeeded. An instance's
 * asynchronous operation is in its row; when the row is gone the deprovision is done
 * (410: the platform counts that as success for a delete). */
static void last_operation(struct ctx *x, const char *id, const char *bid)
{
	struct broker_instance inst;
	struct broker_binding bd;
	struct errbuf e = {{0}};
	struct broker_op o;
	json_t *out;
	int r = bid ? x->b->dbo->binding_get(x->b->db, bid, &bd, &e)
		    : x->b->dbo->instance_get(x->b->db, id, &inst, &e);

	if (r == -ENOENT)
		return answer(x, 410, NULL);
	if (r < 0)
		return fail(x, 500, NULL, "%s", e.msg);
	if (bid)
		return answer(x, 200, json_pack("{s:s}", "state", "succeeded"));
	if (broker_op_parse(inst.op, &o) < 0) {
		/* Never asynchronous: a synchronous request still running in some broker. */
		return answer(x, 200,
			      json_pack("{s:s}", "state",
					streq(inst.state, "ready") ? "succeeded" : "in progress"));
	}
	out = json_pack("{s:s, s:s}", "state", o.state, "description", o.description);
	if (streq(o.state, "failed") && !streq(o.kind, "provision")) {
		/* A failed resize or removal leaves the volume as it was, usable. */
		json_object_set_new(out, "instance_usable", json_true());
		if (streq(o.kind, "update"))
			json_object_set_new(out, "update_repeatable", json_true());
	}
	answer(x, 200, out);
}

/* ---- catalog ---- */

json_t *osb_catalog(const struct broker_config *c)
{
	json_t *services = json_array();

	for (size_t i = 0; i < c->n_services; i++) {
		const struct broker_service *s = &c->services[i];
		json_t *plans = json_array();

		for (size_t k = 0; k < c->n_plans; k++) {
			const struct broker_plan *p = &c->plans[k];
			json_t *props;
			char sz[32];

			if (p->service != i)
				continue;
			props = json_pack("{s:{s:s, s:[ss], s:s}}", "fs", "type", "string", "enum",
					  "ext4", "xfs", "description",
					  "filesystem made on first use (default: the plan's)");
			if (!broker_backend_is_pool(p->backend)) {
				broker_size_format(p->size, sz, sizeof(sz));
				json_object_set_new(
				    props, "size",
				    json_pack("{s:s, s:s, s:s}", "type", "string", "pattern",
					      "^[0-9]+([KMGT]|[KMGT]iB)?$", "description",
					      p->backend == BROKER_BE_SCALEIO
						  ? "size, e.g. 20G (rounded up to 8G units)"
						  : "size, e.g. 20G"));
			}
			json_array_append_new(
			    plans,
			    json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:{s:{s:{s:{s:s, s:s, s:o, "
				      "s:b}}}}}",
				      "id", p->id, "name", p->name, "description", p->description,
				      "free", 1, "bindable", 1, "plan_updateable",
				      p->backend == BROKER_BE_SCALEIO, "schemas",
				      "service_instance", "create", "parameters", "$schema",
				      "http://json-schema.org/draft-04/schema#", "type", "object",
				      "properties", props, "additionalProperties", 0));
		}
		json_array_append_new(
		    services,
		    json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b, s:[s], s:[ss], s:o}", "id",
			      s->id, "name", s->name, "description", s->description, "bindable", 1,
			      "instances_retrievable", 1, "bindings_retrievable", 1,
			      "plan_updateable", s->plan_updateable, "requires", "volume_mount",
			      "tags", "attachd", "block", "plans", plans));
	}
	return json_pack("{s:o}", "services", services);
}

/* ---- routing ---- */

/* The next path segment after *p (which starts at a '/'): [ret, len]. */
static int segment(const char **p, char *ret, size_t n)
{
	const char *s = *p, *end;
	size_t len;

	if (*s != '/')
		return -EINVAL;
	s++;
	end = strchrnul(s, '/');
	len = (size_t)(end - s);
	if (len == 0 || len >= n)
		return -EINVAL;
	/* Ids are printable ASCII (CC sends GUIDs); anything else would only reach logs
	 * and messages as mojibake. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return -EINVAL;
	memcpy(ret, s, len);
	ret[len] = 0;
	*p = end;
	return 0;
}

void osb_handle(struct broker *b, const struct osb_request *rq, struct osb_response *ret)
{
	struct ctx x = {.b = b, .rq = rq, .res = ret};
	const char *m = rq->method, *p = rq->path;
	char id[BROKER_ID_MAX + 1], bid[BROKER_ID_MAX + 1], what[32];

	ret->status = 0;
	ret->body = NULL;
	if (streq(p, "/v2/catalog")) {
		if (!streq(m, "GET"))
			return fail(&x, 405, NULL, "use GET /v2/catalog");
		return answer(&x, 200, osb_catalog(b->cfg));
	}
	if (!startswith(p, "/v2/service_instances/")) {
		fail(&x, 404, NULL, "no such endpoint: %s (see the Open Service Broker API 2.17)",
		     p);
		goto out;
	}
	p += strlen("/v2/service_instances");
	if (segment(&p, id, sizeof(id)) < 0) {
		fail(&x, 400, "BadRequest", "instance id: must be 1-%d printable ASCII characters",
		     BROKER_ID_MAX);
		goto out;
	}
	if (!*p) {
		if (streq(m, "PUT"))
			provision(&x, id);
		else if (streq(m, "PATCH"))
			update(&x, id);
		else if (streq(m, "DELETE"))
			deprovision(&x, id);
		else if (streq(m, "GET"))
			fetch_instance(&x, id);
		else
			fail(&x, 405, NULL, "method %s not allowed on a service instance", m);
		goto out;
	}
	if (segment(&p, what, sizeof(what)) == 0 && streq(what, "last_operation") && !*p &&
	    streq(m, "GET")) {
		last_operation(&x, id, NULL);
		goto out;
	}
	if (!streq(what, "service_bindings") || segment(&p, bid, sizeof(bid)) < 0) {
		fail(&x, 404, NULL, "no such endpoint: %s", rq->path);
		goto out;
	}
	if (!*p) {
		if (streq(m, "PUT"))
			bind(&x, id, bid);
		else if (streq(m, "DELETE"))
			unbind(&x, id, bid);
		else if (streq(m, "GET"))
			fetch_binding(&x, id, bid);
		else
			fail(&x, 405, NULL, "method %s not allowed on a service binding", m);
	} else if (streq(p, "/last_operation") && streq(m, "GET"))
		last_operation(&x, id, bid);
	else
		fail(&x, 404, NULL, "no such endpoint: %s", rq->path);
out:
	json_decref(x.body);
	if (!ret->body)
		answer(&x, ret->status ? ret->status : 500, NULL);
}
