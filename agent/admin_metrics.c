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

const int64_t agent_metrics_step_bucket_usec[AGENT_METRICS_STEP_BUCKETS] = {
    50000,   100000,   250000,	 500000,   1000000,   2500000,
    5000000, 10000000, 30000000, 60000000, 120000000,
};

static const char *const op_labels[_AGENT_METRICS_OP_MAX] = {
    [AGENT_METRICS_ATTACH] = "attach",
    [AGENT_METRICS_DETACH] = "detach",
    [AGENT_METRICS_BIND] = "bind",
    [AGENT_METRICS_UNBIND] = "unbind",
    [AGENT_METRICS_EXPAND] = "expand",
};

static const char *const fence_labels[_AGENT_FENCE_EV_MAX] = {
    [AGENT_FENCE_RESERVED] = "reserved", [AGENT_FENCE_TAKEOVER] = "takeover",
    [AGENT_FENCE_REFUSED] = "refused",	 [AGENT_FENCE_UNSUPPORTED] = "unsupported",
    [AGENT_FENCE_LOST] = "lost",
};

static const char *const path_labels[PATH_EV_QUEUE_ON + 1] = {
    [PATH_EV_FAILED] = "failed",	[PATH_EV_REINSTATED] = "reinstated",
    [PATH_EV_ADDED] = "added",		[PATH_EV_REMOVED] = "removed",
    [PATH_EV_ALL_DOWN] = "all_down",	[PATH_EV_QUEUE_OFF] = "queueing_off",
    [PATH_EV_QUEUE_ON] = "queueing_on",
};

/* The registry's backends take the first slots; the last is "unknown". */
static unsigned registry_size(void)
{
	unsigned n = 0;

	while (backend_registry[n] && n < AGENT_METRICS_MAX_BACKENDS - 1)
		n++;
	return n;
}

unsigned agent_metrics_backend_index(const struct backend_ops *be)
{
	unsigned n = registry_size();

	for (unsigned i = 0; be && i < n; i++)
		if (backend_registry[i] == be)
			return i;
	return AGENT_METRICS_MAX_BACKENDS - 1;
}

const char *agent_metrics_backend_name(unsigned i)
{
	if (i == AGENT_METRICS_MAX_BACKENDS - 1)
		return "unknown";
	return i < registry_size() ? backend_registry[i]->name : NULL;
}

const char *agent_metrics_op_name(enum agent_metrics_op op)
{
	return (unsigned)op < _AGENT_METRICS_OP_MAX ? op_labels[op] : NULL;
}

const char *agent_metrics_fence_event_name(enum agent_fence_event ev)
{
	return (unsigned)ev < _AGENT_FENCE_EV_MAX ? fence_labels[ev] : NULL;
}

const char *agent_metrics_path_event_name(unsigned kind)
{
	return kind <= PATH_EV_QUEUE_ON ? path_labels[kind] : NULL;
}

static void hist_add(struct agent_metrics_hist *h, int64_t usec)
{
	unsigned i = 0;

	if (usec < 0)
		usec = 0;
	while (i < AGENT_METRICS_STEP_BUCKETS && usec > agent_metrics_step_bucket_usec[i])
		i++;
	h->bucket[i]++;
	h->sum_usec += usec;
}

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
	unsigned b = agent_metrics_backend_index(v->opts.be);

	if ((unsigned)op >= _AGENT_METRICS_OP_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	m->d.ops[op]++;
	m->d.be_ops[b][op]++;
	if (rc < 0) {
		m->d.op_failures[op]++;
		m->d.be_op_failures[b][op]++;
	}
	for (unsigned i = first_timing; i < v->n_timings && i < ATTACH_MAX_STEPS; i++) {
		const struct attach_timing *t = &v->timings[i];

		if (t->step <= STEP_NONE || t->step >= _STEP_MAX)
			continue;
		m->d.step_count[t->step]++;
		if (t->result < 0) {
			m->d.step_failures[t->step]++;
			m->d.be_step_failures[b][t->step]++;
		}
		m->d.step_usec[t->step] += t->usec;
		hist_add(&m->d.be_steps[b][t->step], t->usec);
	}
	pthread_mutex_unlock(&m->lock);
}

void agent_metrics_snapshot(struct agent_metrics *m, struct agent_metrics_data *ret)
{
	pthread_mutex_lock(&m->lock);
	*ret = m->d;
	pthread_mutex_unlock(&m->lock);
}

void agent_metrics_fence_event(struct agent_metrics *m, enum agent_fence_event ev)
{
	if ((unsigned)ev >= _AGENT_FENCE_EV_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	m->d.fence_events[ev]++;
	pthread_mutex_unlock(&m->lock);
}

void agent_metrics_path_event(struct agent_metrics *m, const struct attach_path_event *ev)
{
	if ((unsigned)ev->kind > PATH_EV_QUEUE_ON)
		return;
	pthread_mutex_lock(&m->lock);
	m->d.path_events[ev->kind]++;
	if (ev->kind == PATH_EV_FAILED && ev->down_ms > 0) {
		m->d.detect_count++;
		m->d.detect_ms_total += ev->down_ms;
		if (ev->down_ms > m->d.detect_ms_max)
			m->d.detect_ms_max = ev->down_ms;
	}
	if (ev->kind == PATH_EV_REINSTATED && ev->down_ms > 0) {
		m->d.down_ms_total += ev->down_ms;
		if (ev->down_ms > m->d.down_ms_max)
			m->d.down_ms_max = ev->down_ms;
	}
	if ((ev->kind == PATH_EV_QUEUE_ON || ev->kind == PATH_EV_QUEUE_OFF) &&
	    ev->down_ms > m->d.no_path_ms_max)
		m->d.no_path_ms_max = ev->down_ms;
	pthread_mutex_unlock(&m->lock);
}

static json_t *paths_json(const struct agent_metrics *m)
{
	uint64_t re = m->d.path_events[PATH_EV_REINSTATED];

	return json_pack(
	    "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:{s:I,s:I},s:I}", "failures",
	    (json_int_t)m->d.path_events[PATH_EV_FAILED], "reinstatements", (json_int_t)re, "added",
	    (json_int_t)m->d.path_events[PATH_EV_ADDED], "removed",
	    (json_int_t)m->d.path_events[PATH_EV_REMOVED], "all_down",
	    (json_int_t)m->d.path_events[PATH_EV_ALL_DOWN], "queueing_off",
	    (json_int_t)m->d.path_events[PATH_EV_QUEUE_OFF], "queueing_on",
	    (json_int_t)m->d.path_events[PATH_EV_QUEUE_ON], "failover_detect_ms", "count",
	    (json_int_t)m->d.detect_count, "max", (json_int_t)m->d.detect_ms_max, "avg",
	    (json_int_t)(m->d.detect_count ? m->d.detect_ms_total / (int64_t)m->d.detect_count : 0),
	    "path_down_ms", "max", (json_int_t)m->d.down_ms_max, "avg",
	    (json_int_t)(re ? m->d.down_ms_total / (int64_t)re : 0), "no_path_ms_max",
	    (json_int_t)m->d.no_path_ms_max);
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
		json_object_set_new(o, op_names[i][0], json_integer((json_int_t)m->d.ops[i]));
		json_object_set_new(o, op_names[i][1],
				    json_integer((json_int_t)m->d.op_failures[i]));
	}
	for (int s = STEP_NONE + 1; s < _STEP_MAX; s++) {
		if (!m->d.step_count[s])
			continue;
		json_object_set_new(steps, attach_step_name(s),
				    json_pack("{s:I,s:I,s:f}", "count",
					      (json_int_t)m->d.step_count[s], "failures",
					      (json_int_t)m->d.step_failures[s], "total_ms",
					      (double)m->d.step_usec[s] / 1000.0));
	}
	json_object_set_new(o, "paths", paths_json(m));
	{
		json_t *fe = json_object();

		for (int k = 0; fe && k < _AGENT_FENCE_EV_MAX; k++)
			json_object_set_new(fe, fence_labels[k],
					    json_integer((json_int_t)m->d.fence_events[k]));
		json_object_set_new(o, "fencing", fe);
	}
	pthread_mutex_unlock(&m->lock);
	json_object_set_new(o, "steps", steps);
	return o;
}
