/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters for attachctl metrics and the Prometheus endpoint (agent/prom.h): attaches,
 * detaches, binds, unbinds (each with failures, in total and by backend) and, per pipeline
 * step, how often it ran, how often it failed and its total duration (and by backend, a
 * duration histogram). Fed from the step timings each pipeline call leaves in struct
 * attach_volume (the backend from its opts.be). Path checker and fencing events. Thread-safe.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "attach/attach.h"

enum agent_metrics_op {
	AGENT_METRICS_ATTACH,
	AGENT_METRICS_DETACH,
	AGENT_METRICS_BIND,
	AGENT_METRICS_UNBIND,
	AGENT_METRICS_EXPAND,
	_AGENT_METRICS_OP_MAX,
};

/* Fencing outcomes of read-write attaches (issue 9). */
enum agent_fence_event {
	AGENT_FENCE_RESERVED,    /* we took a free reservation (or found ours) */
	AGENT_FENCE_TAKEOVER,    /* we preempted another host (or unmapped its SDC) */
	AGENT_FENCE_REFUSED,     /* another host holds it: the attach was refused */
	AGENT_FENCE_UNSUPPORTED, /* the target has no reservations: attached unfenced */
	AGENT_FENCE_LOST,        /* recovery found our reservation gone */
	_AGENT_FENCE_EV_MAX,
};

/* Pipeline operations and steps are counted by backend too: index i < n is
 * backend_registry[i], the last slot a volume without a known backend. */
#define AGENT_METRICS_MAX_BACKENDS 8
/* Step durations: 0.05 s .. 120 s (a udev event is milliseconds, a login or a mapping a
 * second or more, an mkfs of a large volume minutes; 120 s is the mkfs deadline). */
#define AGENT_METRICS_STEP_BUCKETS 11
extern const int64_t agent_metrics_step_bucket_usec[AGENT_METRICS_STEP_BUCKETS];

/* bucket[i]: observations of at most bound[i] and more than bound[i-1] (non-cumulative);
 * the last, more than every bound. Its count is the sum of the buckets. */
struct agent_metrics_hist {
	uint64_t bucket[AGENT_METRICS_STEP_BUCKETS + 1];
	int64_t sum_usec;
};

/* Everything counted, copied whole by agent_metrics_snapshot. */
struct agent_metrics_data {
	uint64_t ops[_AGENT_METRICS_OP_MAX];
	uint64_t op_failures[_AGENT_METRICS_OP_MAX];
	uint64_t step_count[_STEP_MAX];
	uint64_t step_failures[_STEP_MAX];
	int64_t step_usec[_STEP_MAX];
	/* per backend (index as above) */
	uint64_t be_ops[AGENT_METRICS_MAX_BACKENDS][_AGENT_METRICS_OP_MAX];
	uint64_t be_op_failures[AGENT_METRICS_MAX_BACKENDS][_AGENT_METRICS_OP_MAX];
	struct agent_metrics_hist be_steps[AGENT_METRICS_MAX_BACKENDS][_STEP_MAX];
	uint64_t be_step_failures[AGENT_METRICS_MAX_BACKENDS][_STEP_MAX];
	/* path checker (agent_metrics_path_event) */
	uint64_t path_events[PATH_EV_QUEUE_ON + 1];
	uint64_t detect_count;		      /* failures with a previous good check */
	int64_t detect_ms_total, detect_ms_max; /* last good check -> failed in the map */
	int64_t down_ms_total, down_ms_max;     /* failed -> reinstated */
	int64_t no_path_ms_max;		      /* longest time with no path at all */
	/* fencing (agent_metrics_fence_event) */
	uint64_t fence_events[_AGENT_FENCE_EV_MAX];
};

struct agent_metrics {
	pthread_mutex_t lock;
	struct agent_metrics_data d;
};

void agent_metrics_init(struct agent_metrics *m);
void agent_metrics_done(struct agent_metrics *m);
/*
 * Count one pipeline call (rc: its result) and the step timings v holds from index
 * first_timing on (the steps this call recorded).
 */
void agent_metrics_record(struct agent_metrics *m, enum agent_metrics_op op,
			  const struct attach_volume *v, unsigned first_timing, int rc);
/* Copy every counter (taken under the lock). */
void agent_metrics_snapshot(struct agent_metrics *m, struct agent_metrics_data *ret);
/* The slot of backend be (NULL or not in the registry: the last, "unknown"). */
unsigned agent_metrics_backend_index(const struct backend_ops *be);
/* The label of slot i: the backend's name, "unknown" for the last; NULL past it or for an
 * unused slot. */
const char *agent_metrics_backend_name(unsigned i);
/* The label of an op: "attach", "detach", "bind", "unbind". */
const char *agent_metrics_op_name(enum agent_metrics_op op);
/* The label of a fencing event: "reserved", "takeover", "refused", "unsupported", "lost". */
const char *agent_metrics_fence_event_name(enum agent_fence_event ev);
/* The label of a path event: "failed", "reinstated", "added", "removed", "all_down",
 * "queueing_off", "queueing_on" (as in agent_metrics_json). */
const char *agent_metrics_path_event_name(unsigned kind);
/* Count one fencing outcome. */
void agent_metrics_fence_event(struct agent_metrics *m, enum agent_fence_event ev);
/* Count one path checker event (attach/attach.h struct attach_path_event). */
void agent_metrics_path_event(struct agent_metrics *m, const struct attach_path_event *ev);
/*
 * {"attaches","attach_failures","detaches","detach_failures","binds","bind_failures",
 *  "unbinds","unbind_failures","steps":{"connect":{"count","failures","total_ms"},...},
 *  "paths":{"failures","reinstatements","added","removed","all_down","queueing_off",
 *           "queueing_on","failover_detect_ms":{"count","max","avg"},
 *           "path_down_ms":{"max","avg"},"no_path_ms_max"}}
 * Steps that never ran are left out. New reference, NULL on ENOMEM.
 */
json_t *agent_metrics_json(struct agent_metrics *m);
