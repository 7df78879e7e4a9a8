/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachd's path checker: every interval_s, and right away when the kernel reports a path
 * device removed or changed or an iSCSI session changed (uevents), one checker round
 * (attach_paths_check) on every staged multipath volume, each on a thread of its own so
 * a slow one (a login to a portal that came back) never holds up the others. A volume
 * whose operation lock is taken (attach, detach, Unmount in flight) is skipped for that
 * round: the checker never makes a request wait. Events are logged (attachd.path.*,
 * attachd.paths.*), counted in the metrics, and the volume's record is saved when its
 * paths changed.
 */
#pragma once

#include "agent/admin_metrics.h"
#include "agent/volumes.h"
#include "lib/err.h"

struct agent_pathcheck;

/* Start the checker thread (interval_s 1..60). m may be NULL (no counting). */
int agent_pathcheck_start(struct agent_volumes *r, struct agent_metrics *m, unsigned interval_s,
			  struct agent_pathcheck **ret, struct errbuf *e);
/* Stop it and wait for the rounds in flight (bounded by their deadlines). NULL-safe;
 * returns NULL. */
struct agent_pathcheck *agent_pathcheck_stop(struct agent_pathcheck *pc);

/* One round on key's volume, on the calling thread: 0 (also when it is not a staged
 * multipath volume), -EBUSY when an operation holds it (skipped), -ENOENT unknown, or
 * the round's error (logged). */
int agent_pathcheck_volume(struct agent_volumes *r, struct agent_metrics *m, const char *key);
