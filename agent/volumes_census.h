/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How many volumes, container mounts, operations and paths this agent has right now, for
 * the Prometheus endpoint (agent/prom.h). Never waits for an operation in flight.
 */
#pragma once

#include "agent/admin_metrics.h"
#include "agent/volumes.h"

struct agent_volumes_census {
	/* attached volumes by backend, indexed as agent_metrics_backend_index() */
	unsigned attached[AGENT_METRICS_MAX_BACKENDS];
	unsigned container_mounts; /* bind mounts: one per container of each volume */
	unsigned in_flight;	   /* volumes with an operation running (or queued for a slot) */
	unsigned paths_active, paths_failed; /* paths of attached multipath volumes */
};

/* Count now. Takes the registry lock and each volume's data lock briefly; only tries each
 * operation lock (held: the operation is counted in flight). */
void agent_volumes_census(struct agent_volumes *r, struct agent_volumes_census *ret);
