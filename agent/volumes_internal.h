/* SPDX-License-Identifier: Apache-2.0 */
/* agent/-private: the registry's structures and per-volume locking, shared by the files
 * that implement volume operations (volumes.c; state, admin and recovery code). */
#pragma once

#include <pthread.h>

#include "agent/state.h"
#include "agent/volumes.h"

/* One wire name that has the volume mounted. */
struct agent_mount {
	char name[AGENT_NAME_MAX + 1];
	char container[ATTACH_KEY_MAX + 1];
	char path[4096];
	unsigned count;
};

struct agent_volume {
	char key[ATTACH_KEY_MAX + 1];
	unsigned nref; /* registry lock */
	pthread_mutex_t op_lock;
	pthread_mutex_t data_lock;
	/* Written with op_lock and data_lock held; read with either. */
	int removed;
	int attached;
	int attaching; /* set under the registry lock too: closes the dedupe race */
	json_t *opts;	    /* as created (raw, may hold secrets: never logged as is) */
	char identity[512]; /* the backend's description of the device, for dedupe */
	struct agent_mount *mounts;
	size_t n_mounts;
	enum agent_op op; /* op_lock: what the record says is in flight */
	/* op_lock only: the pipeline's view of the volume. */
	struct attach_volume av;
};

struct agent_volumes {
	pthread_mutex_t lock;
	struct agent_volume **vols;
	size_t n, cap;
	struct attach_env *env;
	const struct agent_driver_ops *ops;
	struct agent_state *state;		  /* NULL: no records */
	const struct agent_test_settings *test; /* NULL: no crash points */
};

/* Take the operation lock of key's volume (a reference is held until unlock). NULL if
 * unknown. May block behind another operation on the same volume. */
struct agent_volume *agent_volume_lock(struct agent_volumes *r, const char *key);
void agent_volume_unlock(struct agent_volumes *r, struct agent_volume *v);
/* Operation lock held: run the pipeline and log the attach/detach with its step timings. */
int agent_volume_up(struct agent_volumes *r, struct agent_volume *v, struct errbuf *e);
int agent_volume_down(struct agent_volumes *r, struct agent_volume *v, int force,
		      struct errbuf *e);
/* Operation lock held: write v's record (with pending, when not NULL, counted as one more
 * mount of its name: recorded before its bind is attempted); agent_volume_forget removes
 * it. 0 without a state store. Failures are logged here. */
int agent_volume_save(struct agent_volumes *r, struct agent_volume *v,
		      const struct agent_mount *pending);
int agent_volume_forget(struct agent_volumes *r, struct agent_volume *v);
/* Register a volume definition restored from a record (as Create would); its operation lock
 * is taken (agent_volume_unlock). */
int agent_volume_restore(struct agent_volumes *r, const char *key, const json_t *opts,
			 struct agent_volume **ret, struct errbuf *e);
/* Operation lock held: the entry of a wire name, or NULL; how many names use container. */
struct agent_mount *agent_volume_find_mount(struct agent_volume *v, const char *name);
unsigned agent_volume_container_users(const struct agent_volume *v, const char *container);
