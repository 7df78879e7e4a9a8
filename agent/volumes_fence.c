/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fencing as the agent sees it: the outcome of each read-write attach counted and logged
 * (a takeover loudly), recovery's re-check that this host still holds what its records
 * say, and attachctl takeover.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/log.h"
#include "agent/volumes_internal.h"
#include "lib/macro.h"

void agent_volumes_set_metrics(struct agent_volumes *r, struct agent_metrics *m)
{
	r->metrics = m;
}

static void count(struct agent_volumes *r, enum agent_fence_event ev)
{
	if (r->metrics)
		agent_metrics_fence_event(r->metrics, ev);
}

static void key_str(uint64_t k, char *buf, size_t n)
{
	snprintf(buf, n, "0x%016" PRIx64, k);
}

void agent_volume_fence_publish(struct agent_volume *v)
{
	pthread_mutex_lock(&v->data_lock);
	v->fence_status = v->av.fence_status;
	v->fence_key = v->av.fence_key;
	snprintf(v->fence_detail, sizeof(v->fence_detail), "%s", v->av.fence_detail);
	pthread_mutex_unlock(&v->data_lock);
}

json_t *agent_volume_fence_json(const struct agent_volume *v)
{
	char k[24];

	if (v->fence_status == ATTACH_FENCE_ST_NONE || !v->attached)
		return NULL;
	key_str(v->fence_key, k, sizeof(k));
	return json_pack(
	    "{s:s,s:s?,s:s}", "status", attach_fence_status_name(v->fence_status), "key",
	    v->fence_status == ATTACH_FENCE_ST_HELD || v->fence_status == ATTACH_FENCE_ST_LOST
		? k
		: NULL,
	    "detail", v->fence_detail);
}

/* The loud event: another host's writes are cut off from now on. */
static void log_takeover(struct agent_volumes *r, struct agent_volume *v, const char *how)
{
	char k[24];

	key_str(v->av.fence_key, k, sizeof(k));
	count(r, AGENT_FENCE_TAKEOVER);
	agent_log(AGENT_LOG_ERROR, "attachd.fence.takeover",
		  json_pack("{s:s,s:s,s:s,s:o,s:s?,s:s}", "volume", v->key, "backend",
			    v->av.opts.be ? v->av.opts.be->name : "", "how", how, "previous_holder",
			    agent_json_string(v->av.took_over_from), "key",
			    v->av.fence_status == ATTACH_FENCE_ST_HELD ? k : NULL, "message",
			    "volume taken over from another host: that host's writes are fenced "
			    "off (they fail with I/O errors)"));
}

void agent_volume_fence_after_up(struct agent_volumes *r, struct agent_volume *v, int rc, json_t *t)
{
	const struct attach_volume *av = &v->av;
	const struct attach_timing *last = av->n_timings ? &av->timings[av->n_timings - 1] : NULL;

	agent_volume_fence_publish(v);
	if (rc < 0) {
		if (last && last->step == STEP_FENCE && (rc == -EBUSY || rc == -EEXIST))
			count(r, AGENT_FENCE_REFUSED);
		return;
	}
	if (av->took_over_from[0])
		log_takeover(r, v,
			     av->opts.takeover ? "Create option takeover" : "attachctl takeover");
	else if (av->fence_status == ATTACH_FENCE_ST_HELD)
		count(r, AGENT_FENCE_RESERVED);
	else if (av->fence_status == ATTACH_FENCE_ST_UNSUPPORTED)
		count(r, AGENT_FENCE_UNSUPPORTED);
	if (t && av->fence_status != ATTACH_FENCE_ST_NONE)
		json_object_set_new(t, "fencing",
				    json_string(attach_fence_status_name(av->fence_status)));
}

static void log_lost(struct agent_volumes *r, struct agent_volume *v)
{
	char k[24];

	key_str(v->av.fence_key, k, sizeof(k));
	count(r, AGENT_FENCE_LOST);
	agent_log(AGENT_LOG_ERROR, "attachd.fence.lost",
		  json_pack("{s:s,s:s,s:o,s:s}", "volume", v->key, "key", k, "detail",
			    agent_json_string(v->av.fence_detail), "message",
			    "this host no longer holds the volume's reservation: another host "
			    "took it over, and writes from here fail; unmount it here, or take it "
			    "back with attachctl takeover"));
}

void agent_volume_fence_recheck(struct agent_volumes *r, struct agent_volume *v)
{
	struct errbuf e = {{0}};
	char k[24];
	int rc;

	if (v->av.reached < STEP_FENCE || v->av.fence_status != ATTACH_FENCE_ST_HELD) {
		agent_volume_fence_publish(v);
		return;
	}
	rc = attach_volume_fence_check(r->env, &v->av, &e);
	key_str(v->av.fence_key, k, sizeof(k));
	if (rc == 0) {
		agent_volume_save(r, v, NULL);
		log_lost(r, v);
	} else if (rc < 0)
		agent_log(AGENT_LOG_ERROR, "attachd.fence.check-failed",
			  json_pack("{s:s,s:s,s:o}", "volume", v->key, "key", k, "error",
				    agent_json_string(e.msg)));
	else
		agent_log(AGENT_LOG_INFO, "attachd.fence.held",
			  json_pack("{s:s,s:s}", "volume", v->key, "key", k));
	agent_volume_fence_publish(v);
}

int agent_volume_fence_takeover(struct agent_volumes *r, struct agent_volume *v, json_t **ret,
				struct errbuf *e)
{
	char k[24];
	int rc;

	if (!v->av.opts.be || !v->av.opts.be->fence_by_reservation) {
		/* scaleio: the backend unmaps the other SDC when it maps ours */
		if (!v->attached) {
			v->av.takeover_once = 1;
			*ret = json_pack(
			    "{s:s,s:s,s:s}", "volume", v->key, "result", "armed", "message",
			    "the next Mount of this volume takes it over from the host "
			    "that has it now");
			return 0;
		}
		return errbuf_set(e, -EOPNOTSUPP,
				  "volume '%s' is attached here and its %s backend does not fence "
				  "by persistent reservations: there is nothing to take over",
				  v->key, v->av.opts.be ? v->av.opts.be->name : "?");
	}
	if (!v->attached || v->av.reached < STEP_FENCE) {
		if (v->av.opts.readonly)
			return errbuf_set(e, -EINVAL,
					  "volume '%s' was created readonly: a read-only attach "
					  "holds nothing and needs no takeover",
					  v->key);
		v->av.takeover_once = 1;
		agent_log(AGENT_LOG_INFO, "attachd.fence.takeover-armed",
			  json_pack("{s:s}", "volume", v->key));
		*ret = json_pack("{s:s,s:s,s:s}", "volume", v->key, "result", "armed", "message",
				 "the next Mount of this volume preempts the host that holds its "
				 "reservation now (its writes then fail) and attaches it here");
		return 0;
	}
	if (v->av.fence_status == ATTACH_FENCE_ST_HELD) {
		struct errbuf ce = {{0}};

		rc = attach_volume_fence_check(r->env, &v->av, &ce);
		if (rc == 1) {
			key_str(v->av.fence_key, k, sizeof(k));
			agent_volume_fence_publish(v);
			*ret = json_pack("{s:s,s:s,s:s,s:s}", "volume", v->key, "result",
					 "already-held", "key", k, "message",
					 "this host already holds the volume's reservation");
			return 0;
		}
		if (rc == 0) {
			agent_volume_save(r, v, NULL);
			log_lost(r, v);
		}
	}
	rc = attach_volume_fence_takeover(r->env, &v->av, e);
	if (rc < 0) {
		agent_volume_fence_publish(v);
		return errbuf_prefix(e, rc, "taking volume '%s' over failed", v->key);
	}
	agent_volume_save(r, v, NULL);
	agent_volume_fence_publish(v);
	key_str(v->av.fence_key, k, sizeof(k));
	if (v->av.took_over_from[0])
		log_takeover(r, v, "attachctl takeover");
	*ret = json_pack("{s:s,s:s,s:s,s:o}", "volume", v->key, "result", "taken-over", "key", k,
			 "previous_holder", agent_json_string(v->av.took_over_from));
	return 0;
}
