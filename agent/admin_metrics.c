/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "agent/admin_metrics.h"

static const char *const op_names[_AGENT_METRICS_OP_MAX][2] = {
    [AGENT_METRICS_ATTACH] = {"attaches", "attach_failures"},
    [AGENT_METRICS_DETACH] = {"detaches", "detach_failures"},
    [AGENT_METRICS_BIND] = {"binds", "bind_failures"},
    [AGENT_METRICS_UNBIND] = {"unbinds", "unbind_failures"},
    [AGENT_METRICS_EXPAND] = {"expands", "expand_failures"},
};

void agent_metrics_init(struct agent_metrics *m)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
}

void agent_metrics_done(struct agent_metrics *m)
{
	pthread_mutex_destroy(&m->lock);
}

void agent_metrics_record(struct agent_metrics *m, enum agent_metrics_op op,
			  const struct attach_volume *v, unsigned first_timing, int rc)
{
	pthread_mutex_lock(&m->lock);
	m->ops[op]++;
	if (rc < 0)
		m->op_failures[op]++;
	for (unsigned i = first_timing; i < v->n_timings && i < ATTACH_MAX_STEPS; i++) {
		const struct attach_timing *t = &v->timings[i];

		if (t->step <= STEP_NONE || t->step >= _STEP_MAX)
			continue;
		m->step_count[t->step]++;
		if (t->result < 0)
			m->step_failures[t->step]++;
		m->step_usec[t->step] += t->usec;
	}
	pthread_mutex_unlock(&m->lock);
}

void agent_metrics_fence_event(struct agent_metrics *m, enum agent_fence_event ev)
{
	if ((unsigned)ev >= _AGENT_FENCE_EV_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	m->fence_events[ev]++;
	pthread_mutex_unlock(&m->lock);
}

void agent_metrics_path_event(struct agent_metrics *m, const struct attach_path_event *ev)
{
	if ((unsigned)ev->kind > PATH_EV_QUEUE_ON)
		return;
	pthread_mutex_lock(&m->lock);
	m->path_events[ev->kind]++;
	if (ev->kind == PATH_EV_FAILED && ev->down_ms > 0) {
		m->detect_count++;
		m->detect_ms_total += ev->down_ms;
		if (ev->down_ms > m->detect_ms_max)
			m->detect_ms_max = ev->down_ms;
	}
	if (ev->kind == PATH_EV_REINSTATED && ev->down_ms > 0) {
		m->down_ms_total += ev->down_ms;
		if (ev->down_ms > m->down_ms_max)
			m->down_ms_max = ev->down_ms;
	}
	if ((ev->kind == PATH_EV_QUEUE_ON || ev->kind == PATH_EV_QUEUE_OFF) &&
	    ev->down_ms > m->no_path_ms_max)
		m->no_path_ms_max = ev->down_ms;
	pthread_mutex_unlock(&m->lock);
}

static json_t *paths_json(const struct agent_metrics *m)
{
	uint64_t re = m->path_events[PATH_EV_REINSTATED];

	return json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:{s:I,s:I},s:I}", "failures",
	    (json_int_t)m->path_events[PATH_EV_FAILED], "reinstatements", (json_int_t)re, "added",
	    (json_int_t)m->path_events[PATH_EV_ADDED], "removed",
	    (json_int_t)m->path_events[PATH_EV_REMOVED], "all_down",
	    (json_int_t)m->path_events[PATH_EV_ALL_DOWN], "queueing_off",
	    (json_int_t)m->path_events[PATH_EV_QUEUE_OFF], "queueing_on",
	    (json_int_t)m->path_events[PATH_EV_QUEUE_ON], "failover_detect_ms", "count",
	    (json_int_t)m->detect_count, "max", (json_int_t)m->detect_ms_max, "avg",
	    (json_int_t)(m->detect_count ? m->detect_ms_total / (int64_t)m->detect_count : 0),
	    "path_down_ms", "max", (json_int_t)m->down_ms_max, "avg",
	    (json_int_t)(re ? m->down_ms_total / (int64_t)re : 0), "no_path_ms_max",
	    (json_int_t)m->no_path_ms_max);
}

json_t *agent_metrics_json(struct agent_metrics *m)
{
	json_t *o = json_object(), *steps = json_object();

	if (!o || !steps) {
		json_decref(o);
		json_decref(steps);
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < _AGENT_METRICS_OP_MAX; i++) {
		json_object_set_new(o, op_names[i][0], json_integer((json_int_t)m->ops[i]));
		json_object_set_new(o, op_names[i][1], json_integer((json_int_t)m->op_failures[i]));
	}
	for (int s = STEP_NONE + 1; s < _STEP_MAX; s++) {
		if (!m->step_count[s])
			continue;
		json_object_set_new(steps, attach_step_name(s),
				    json_pack("{s:I,s:I,s:f}", "count",
					      (json_int_t)m->step_count[s], "failures",
					      (json_int_t)m->step_failures[s], "total_ms",
					      (double)m->step_usec[s] / 1000.0));
	}
	json_object_set_new(o, "paths", paths_json(m));
	pthread_mutex_unlock(&m->lock);
	json_object_set_new(o, "steps", steps);
	return o;
}
