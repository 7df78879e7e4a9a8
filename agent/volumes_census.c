/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <string.h>

#include "agent/volumes_census.h"
#include "agent/volumes_internal.h"
#include "lib/macro.h"

/* Containers with at least one mounted name (names of one container share its bind). */
static unsigned containers(const struct agent_volume *v)
{
	unsigned n = 0;

	for (size_t i = 0; i < v->n_mounts; i++) {
		int seen = 0;

		if (!v->mounts[i].count)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = v->mounts[j].count &&
			       streq(v->mounts[j].container, v->mounts[i].container);
		n += !seen;
	}
	return n;
}

static void count_paths(const struct attach_path *p, unsigned n, struct agent_volumes_census *c)
{
	for (unsigned i = 0; i < n; i++) {
		if (p[i].failed)
			c->paths_failed++;
		else
			c->paths_active++;
	}
}

/* Registry lock held. Like volumes_admin.c's describe_locked: the operation lock is only
 * tried; without it, the paths come from what the last operation or checker published. */
static void count_volume(struct agent_volume *v, struct agent_volumes_census *c)
{
	int have_op = pthread_mutex_trylock(&v->op_lock) == 0;
	const struct attach_volume *av = &v->av;

	pthread_mutex_lock(&v->data_lock);
	if (!v->removed) {
		/* The path checker's round is not an operation. */
		if (!have_op && !v->checking)
			c->in_flight++;
		if (v->attached) {
			int mp = have_op ? attach_volume_has_paths(av) : v->mp_multipath;

			c->attached[agent_metrics_backend_index(av->opts.be)]++;
			if (mp && have_op)
				count_paths(av->paths, av->n_paths, c);
			else if (mp)
				count_paths(v->mp_paths, v->mp_n_paths, c);
		}
		c->container_mounts += containers(v);
	}
	pthread_mutex_unlock(&v->data_lock);
	if (have_op)
		pthread_mutex_unlock(&v->op_lock);
}

void agent_volumes_census(struct agent_volumes *r, struct agent_volumes_census *ret)
{
	struct agent_volumes_census c;

	memset(&c, 0, sizeof(c));
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		count_volume(r->vols[i], &c);
	pthread_mutex_unlock(&r->lock);
	*ret = c;
}
