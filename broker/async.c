/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Asynchronous operations and recovery. The operation lives in the instance row (db.h:
 * state + op), never only in memory: a worker thread runs it, and whoever finds it
 * unfinished after recover_after_s (a restarted broker, or another broker's janitor) runs
 * it again. Every step is idempotent (the volume name is derived from the instance id;
 * setVolumeSize and removeVolume reach the same end twice) and every write is conditional
 * on the state it expects.
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
#include "lib/macro.h"

int broker_op_parse(const char *s, struct broker_op *ret)
{
	json_t *j = s && s[0] ? json_loads(s, 0, NULL) : NULL;
	struct broker_op o = {.size = 0};
	json_int_t size = 0;
	const char *id = "", *kind = "", *state = "", *desc = "", *plan = "";

	if (!j)
		return -ENOENT;
	if (json_unpack(j, "{s:s, s:s, s:s, s?s, s?I, s?s}", "id", &id, "kind", &kind, "state",
			&state, "description", &desc, "size", &size, "plan_id", &plan) < 0) {
		json_decref(j);
		return -EINVAL;
	}
	snprintf(o.id, sizeof(o.id), "%s", id);
	snprintf(o.kind, sizeof(o.kind), "%s", kind);
	snprintf(o.state, sizeof(o.state), "%s", state);
	snprintf(o.description, sizeof(o.description), "%s", desc);
	snprintf(o.plan_id, sizeof(o.plan_id), "%s", plan);
	o.size = (uint64_t)size;
	json_decref(j);
	*ret = o;
	return 0;
}

/* Write o into inst->op (descriptions are cut to fit). */
void broker_op_store(struct broker_instance *inst, const struct broker_op *o)
{
	char desc[sizeof(o->description)];
	json_t *j;
	char *s;

	snprintf(desc, sizeof(desc), "%s", o->description);
	for (size_t cut = sizeof(desc);; cut -= 64) {
		desc[cut - 1] = 0;
		j = json_pack("{s:s, s:s, s:s, s:s}", "id", o->id, "kind", o->kind, "state",
			      o->state, "description", desc);
		if (o->size)
			json_object_set_new(j, "size", json_integer((json_int_t)o->size));
		if (o->plan_id[0])
			json_object_set_new(j, "plan_id", json_string(o->plan_id));
		s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(j);
		if (s && strlen(s) < sizeof(inst->op)) {
			snprintf(inst->op, sizeof(inst->op), "%s", s);
			free(s);
			return;
		}
		free(s);
		if (cut <= 64)
			break;
	}
	inst->op[0] = 0;
}

void broker_op_finish(struct broker_instance *inst, const char *state, const char *fmt, ...)
{
	struct broker_op o;
	va_list ap;

	if (broker_op_parse(inst->op, &o) < 0)
		return;
	snprintf(o.state, sizeof(o.state), "%s", state);
	va_start(ap, fmt);
	vsnprintf(o.description, sizeof(o.description), fmt, ap);
	va_end(ap);
	broker_op_store(inst, &o);
}

void broker_op_begin(struct broker_instance *inst, const char *kind, uint64_t size,
		     const char *plan_id, const char *desc)
{
	struct broker_op o = {.size = size};
	uint8_t rnd[8] = {0};

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		/* Unique enough for telling operations apart in logs. */
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)inst;

		memcpy(rnd, &t, sizeof(rnd));
	}
	snprintf(o.id, sizeof(o.id), "%s-%02x%02x%02x%02x%02x%02x%02x%02x", kind, rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	snprintf(o.kind, sizeof(o.kind), "%s", kind);
	snprintf(o.state, sizeof(o.state), "in progress");
	snprintf(o.description, sizeof(o.description), "%s", desc);
	snprintf(o.plan_id, sizeof(o.plan_id), "%s", plan_id ? plan_id : "");
	broker_op_store(inst, &o);
}

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static unsigned jobs_running;

struct job {
	struct broker *b;
	char id[BROKER_ID_MAX + 1];
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	struct errbuf e = {{0}};

	(void)osb_operation_run(j->b, j->id, &e);
	free(j);
	pthread_mutex_lock(&jobs_lock);
	jobs_running--;
	pthread_cond_broadcast(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
	return NULL;
}

/* Run the instance's operation in a worker thread; inline when no thread can be made
 * (the answer is 202 either way: the outcome is in the store). */
void broker_job_start(struct broker *b, const char *id)
{
	struct job *j = calloc(1, sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int r = -ENOMEM;

	if (j) {
		j->b = b;
		snprintf(j->id, sizeof(j->id), "%s", id);
		pthread_mutex_lock(&jobs_lock);
		jobs_running++;
		pthread_mutex_unlock(&jobs_lock);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		r = -pthread_create(&t, &attr, job_run, j);
		pthread_attr_destroy(&attr);
		if (r == 0)
			return;
		pthread_mutex_lock(&jobs_lock);
		jobs_running--;
		pthread_mutex_unlock(&jobs_lock);
		free(j);
	}
	struct errbuf e = {{0}};

	(void)osb_operation_run(b, id, &e);
}

void osb_jobs_wait(void)
{
	pthread_mutex_lock(&jobs_lock);
	while (jobs_running)
		pthread_cond_wait(&jobs_cond, &jobs_lock);
	pthread_mutex_unlock(&jobs_lock);
}

int broker_sio_create_or_find(const struct broker_config *c, const struct broker_plan *p,
			      struct broker_instance *inst, struct errbuf *e)
{
	char id[32];
	int r;

	r = broker_sio_create(c, p, inst->volume_name, inst->size, id, sizeof(id), e);
	if (r < 0) {
		struct errbuf e2 = {{0}};

		/* The name is ours (derived from the instance id, and we hold its row): a
		 * volume by that name is one an earlier attempt created. */
		if (broker_sio_find(c, inst->volume_name, id, sizeof(id), &e2) < 0)
			return r;
		errbuf_clear(e);
	}
	snprintf(inst->backend_ref, sizeof(inst->backend_ref), "%s", id);
	return 0;
}

/* Run (or resume) the instance's asynchronous operation to its end. Blocking: the gateway
 * and the database. */
int osb_operation_run(struct broker *b, const char *id, struct errbuf *e)
{
	const struct broker_db_ops *db = b->dbo;
	struct broker_instance inst, now;
	const struct broker_plan *p, *np;
	struct errbuf ge = {{0}};
	char a[32], sz[32];
	struct broker_op o;
	int r;

	r = db->instance_get(b->db, id, &inst, e);
	if (r < 0)
		return r;
	if (broker_op_parse(inst.op, &o) < 0 || !streq(o.state, "in progress"))
		return 0;
	p = broker_config_plan(b->cfg, inst.plan_id);
	now = inst;
	if (streq(inst.state, "creating")) {
		if (!p)
			r = errbuf_set(&ge, -ENOENT, "plan %s is no longer in the config",
				       inst.plan_id);
		else
			r = broker_sio_create_or_find(b->cfg, p, &now, &ge);
		broker_size_format(inst.size, sz, sizeof(sz));
		if (r == 0) {
			snprintf(now.state, sizeof(now.state), "ready");
			broker_op_finish(&now, "succeeded", "created volume %s (%s)",
					 now.backend_ref, sz);
		} else {
			snprintf(now.state, sizeof(now.state), "failed");
			broker_op_finish(&now, "failed", "creating the %s volume failed: %s", sz,
					 ge.msg);
		}
		r = db->instance_update(b->db, &now, "creating", e);
		if (r < 0 && now.backend_ref[0] && streq(now.state, "ready")) {
			struct errbuf e2 = {{0}};

			/* No orphan: the same undo as the synchronous path (the row stays
			 * "creating" when this fails too, and the janitor runs it again). */
			if (broker_sio_remove(b->cfg, now.backend_ref, &e2) == 0) {
				snprintf(now.state, sizeof(now.state), "failed");
				now.backend_ref[0] = 0;
				broker_op_finish(
				    &now, "failed",
				    "recording the volume failed (%s); it was removed again",
				    e->msg);
				(void)db->instance_update(b->db, &now, "creating", &e2);
			}
		}
	} else if (streq(inst.state, "updating")) {
		np = broker_config_plan(b->cfg, o.plan_id);
		broker_size_format(inst.size, a, sizeof(a));
		broker_size_format(o.size, sz, sizeof(sz));
		r = np ? broker_sio_resize(b->cfg, inst.backend_ref, o.size, &ge)
		       : errbuf_set(&ge, -ENOENT, "plan %s is no longer in the config", o.plan_id);
		snprintf(now.state, sizeof(now.state), "ready");
		if (r == 0) {
			now.size = o.size;
			snprintf(now.plan_id, sizeof(now.plan_id), "%s", np->id);
			broker_op_finish(&now, "succeeded", "volume %s grew from %s to %s",
					 inst.backend_ref, a, sz);
		} else
			broker_op_finish(&now, "failed",
					 "growing volume %s to %s failed (it is still %s): %s",
					 inst.backend_ref, sz, a, ge.msg);
		r = db->instance_update(b->db, &now, "updating", e);
	} else if (streq(inst.state, "deleting")) {
		r = broker_sio_remove(b->cfg, inst.backend_ref, &ge);
		if (r == 0) {
			r = db->instance_delete(b->db, id, e);
			if (r == -ENOENT)
				r = 0;
		} else {
			snprintf(now.state, sizeof(now.state), "ready");
			broker_op_finish(&now, "failed", "%s", ge.msg);
			r = db->instance_update(b->db, &now, "deleting", e);
		}
	} else
		return 0;
	broker_log(r < 0 ? BROKER_LOG_ERROR : BROKER_LOG_INFO, "attachd-broker.operation.done",
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "instance", id, "operation", o.id, "kind",
			     o.kind, "state",
			     r < 0	 ? "unrecorded"
			     : now.op[0] ? now.state
					 : "deleted",
			     "error", r < 0 ? e->msg : ge.msg));
	return r;
}

/* ---- recovery ---- */

struct rec {
	struct broker *b;
	int n;
	int failed;
	struct errbuf *e;
};

static int recover_one(const struct broker_instance *inst, void *ud)
{
	struct rec *r = ud;
	struct broker *b = r->b;
	struct errbuf e = {{0}};
	char id[32] = "";
	struct broker_op o;
	int k = 0;

	/* An asynchronous operation whose broker stopped: run it again (resume). */
	if (broker_op_parse(inst->op, &o) == 0 && streq(o.state, "in progress")) {
		k = osb_operation_run(b, inst->id, &e);
		broker_log(k < 0 ? BROKER_LOG_ERROR : BROKER_LOG_INFO,
			   "attachd-broker.recover.instance",
			   json_pack("{s:s, s:s, s:s, s:s, s:s}", "instance", inst->id, "state",
				     inst->state, "operation", o.id, "result",
				     k < 0 ? "failed" : "resumed", "error", e.msg));
		if (k < 0) {
			r->failed++;
			errbuf_set(r->e, k, "instance %s (%s): %s", inst->id, inst->state, e.msg);
		} else
			r->n++;
		return 0;
	}
	if (inst->backend_ref[0])
		snprintf(id, sizeof(id), "%s", inst->backend_ref);
	else if (inst->volume_name[0]) {
		k = broker_sio_find(b->cfg, inst->volume_name, id, sizeof(id), &e);
		if (k == -ENOENT)
			k = 0;
	}
	if (k == 0 && id[0])
		k = broker_sio_remove(b->cfg, id, &e);
	if (k == 0) {
		k = b->dbo->instance_delete(b->db, inst->id, &e);
		if (k == -ENOENT) /* another broker's janitor was quicker */
			k = 0;
	}
	broker_log(k < 0 ? BROKER_LOG_ERROR : BROKER_LOG_INFO, "attachd-broker.recover.instance",
		   json_pack("{s:s, s:s, s:s, s:s, s:s}", "instance", inst->id, "state",
			     inst->state, "volume", id, "result", k < 0 ? "failed" : "removed",
			     "error", e.msg));
	if (k < 0) {
		r->failed++;
		errbuf_set(r->e, k, "instance %s (%s): %s", inst->id, inst->state, e.msg);
	} else
		r->n++;
	return 0;
}

int osb_recover(struct broker *b, struct errbuf *e)
{
	struct rec r = {.b = b, .e = e};
	int k;

	k = b->dbo->instance_list(b->db, "creating", b->cfg->recover_after_s, recover_one, &r, e);
	if (k == 0)
		k = b->dbo->instance_list(b->db, "deleting", b->cfg->recover_after_s, recover_one,
					  &r, e);
	if (k == 0)
		k = b->dbo->instance_list(b->db, "updating", b->cfg->recover_after_s, recover_one,
					  &r, e);
	if (k < 0)
		return k;
	return r.failed ? -EIO : r.n;
}
