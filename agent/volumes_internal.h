/* SPDX-License-Identifier: Apache-2.0 */
/* agent/-private: the registry's structures and per-volume locking, shared by the files
 * that implement volume operations (volumes.c; state, admin and recovery code). */
#pragma once

#include <pthread.h>

#include "agent/progress.h"
#include "agent/admin_metrics.h"
#include "agent/state.h"
#include "agent/volumes.h"

/* One wire name that has the volume mounted. */
struct agent_mount {
	char name[AGENT_NAME_MAX + 1];
	char container[ATTACH_KEY_MAX + 1];
	char *path; /* malloc'd: most are short, and 256 volumes x PATH_MAX was 1 MiB of RSS */
	unsigned count;
};
#define AGENT_MOUNT_PATH_MAX 4096

struct agent_volume {
	char key[ATTACH_KEY_MAX + 1];
	unsigned nref; /* registry lock */
	pthread_mutex_t op_lock;
	pthread_mutex_t data_lock;
	/* Written with op_lock and data_lock held; read with either. */
	int removed;
	int attached;
	int attaching; /* set under the registry lock too: closes the dedupe race */
	/* Registry lock: the kernel device this volume's attachment uses (agent_volumes_claim),
	 * from the moment it is found until it is detached or rolled back completely. */
	int claimed;
	unsigned dev_major, dev_minor;
	char dev_ident[256];
	json_t *opts;	    /* as created (raw, may hold secrets: never logged as is) */
	char identity[512]; /* the backend's description of the device, for dedupe */
	struct agent_mount *mounts;
	size_t n_mounts;
	enum agent_op op; /* op_lock: what the record says is in flight */
	/* data_lock: what the holder of op_lock is doing, for a request that gives up waiting
	 * ("busy: ... has run for N s (step S)"). */
	int64_t busy_since_ms; /* CLOCK_MONOTONIC when op_lock was taken */
	char busy_step[48];    /* "queued", "attach", a pipeline step name, ... */
	/* op_lock only: the pipeline's view of the volume. */
	struct attach_volume av;
	/* data_lock: av's paths as the last pipeline call or checker round left them, for
	 * listings while an operation holds op_lock (agent_volume_paths_publish); checking:
	 * the op_lock holder is the path checker, which changes nothing else of av. */
	int checking;
	int mp_published; /* agent_volume_paths_publish ran at least once */
	int mp_multipath, mp_queueing;
	int mp_dm_multipath; /* the map is dm-multipath (not NVMe native): bound while busy */
	char mp_error[160]; /* the checker's last error text, logged once per change */
	char mp_dm_name[160];
	int64_t mp_all_down_since; /* CLOCK_REALTIME ms, 0: some path up */
	unsigned mp_n_paths;
	/* malloc'd (BACKEND_MAX_PATHS entries) at the first publish with a path: most volumes
	 * have none, and 7.5 KiB per volume was 2 MiB of RSS with 256 attached. */
	struct attach_path *mp_paths;
	/* data_lock: av's fence state as the last operation left it (published with the
	 * paths), for attachctl show while an operation runs. */
	enum attach_fence_status fence_status;
	uint64_t fence_key;
	char fence_detail[480];
};

struct agent_volumes {
	pthread_mutex_t lock;
	struct agent_volume **vols;
	size_t n, cap;
	struct attach_env *env;
	const struct agent_driver_ops *ops;
	struct agent_state *state;		  /* NULL: no records */
	/* Bounded resources (agent_volumes_set_limits). */
	unsigned max_pipelines, lock_wait_s;
	pthread_mutex_t slot_lock;
	pthread_cond_t slot_cond;
	unsigned running; /* slot_lock: pipelines running now */
	const struct agent_test_settings *test; /* NULL: no crash points */
	struct agent_progress *progress;	/* NULL: none (agent/progress.h) */
	struct agent_metrics *metrics;		  /* NULL: fencing events not counted */
	/* Registry lock: called (with it held; must not block) when a volume's published
	 * paths make it a multipath volume: the path checker, idle without one, wakes up
	 * (agent/pathcheck.c). NULL: nobody listens. */
	void (*on_multipath)(void *ud);
	void *on_multipath_ud;
};

/* Take the operation lock of key's volume (a reference is held until unlock): 0 and *ret;
 * -ENOENT (e untouched) if unknown or removed meanwhile; -EBUSY with e saying "busy: another
 * operation on this volume has run for N s (step S)" after waiting lock_wait_s for it. */
int agent_volume_lock(struct agent_volumes *r, const char *key, struct agent_volume **ret,
		      struct errbuf *e);
/* env->claim: refuse a device another volume already uses (same major:minor or identity);
 * else record it as v's. */
int agent_volumes_claim(struct attach_env *env, struct attach_volume *av, int *ret_same_dev,
			struct errbuf *e);
/* v's attachment is gone (detached or rolled back completely): its device is free. */
void agent_volume_unclaim(struct agent_volumes *r, struct agent_volume *v);
/* Recovery: v's restored record says it uses its recorded device (registry lock taken). */
void agent_volume_claim_restored(struct agent_volumes *r, struct agent_volume *v);
/* Operation lock held: say what the operation is doing now (for busy messages). */
void agent_volume_set_step(struct agent_volume *v, const char *step);
void agent_volume_unlock(struct agent_volumes *r, struct agent_volume *v);
/* Take key's operation lock only if no operation holds it: 0 and *ret, -EBUSY, or -ENOENT
 * (unknown or removed). Release with agent_volume_unlock. */
int agent_volume_trylock(struct agent_volumes *r, const char *key, struct agent_volume **ret);
/* A NAME from attachctl: an exact volume key first (keys may contain '_', which a wire
 * name would split), else a wire name's key. -ENOENT / -EINVAL with e. */
int agent_volumes_resolve(struct agent_volumes *r, const char *name, char *key, size_t n,
			  struct errbuf *e);
/* agent_volumes_resolve, then agent_volume_lock: 0 with *ret locked, -ENOENT ("no volume
 * 'NAME' on this host") or another negative errno, e set. */
int agent_volumes_lock_name(struct agent_volumes *r, const char *name, struct agent_volume **ret,
			    struct errbuf *e);
/* Operation lock held, v attached: grow it online at a Mount, before the bind. Never fails
 * the Mount: what could not be grown is logged (with why) and the volume is used as it is. */
void agent_volume_expand_at_mount(struct agent_volumes *r, struct agent_volume *v);
/* Every volume key now, NULL-terminated, malloc'ed (free with agent_state_keys_free). */
int agent_volumes_keys(struct agent_volumes *r, char ***ret);
/* Operation lock held: copy av's multipath state for listings (data_lock taken here); a
 * volume that becomes multipath calls r->on_multipath. */
void agent_volume_paths_publish(struct agent_volumes *r, struct agent_volume *v);
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
/* volumes_fence.c. Operation lock held: copy av's fence state for listings (takes
 * data_lock). */
void agent_volume_fence_publish(struct agent_volume *v);
/* After agent_volume_up (rc its result, t its log object): count the
 * fencing outcome, log a takeover loudly (attachd.fence.takeover, naming the previous
 * holder), add "fencing" to t. */
void agent_volume_fence_after_up(struct agent_volumes *r, struct agent_volume *v, int rc,
				 json_t *t);
/* Recovery, operation lock held, volume staged: do we still hold what the record says?
 * A lost reservation is logged (attachd.fence.lost), counted, recorded, shown. */
void agent_volume_fence_recheck(struct agent_volumes *r, struct agent_volume *v);
/* data_lock held: {"status","key","detail"} for attachctl show, NULL when there is
 * nothing to say (not attached, backend without reservations). */
json_t *agent_volume_fence_json(const struct agent_volume *v);
/* Operation lock held: attachctl takeover (see agent_volumes_admin_takeover). */
int agent_volume_fence_takeover(struct agent_volumes *r, struct agent_volume *v,
				json_t **ret, struct errbuf *e);

/* Register a volume definition restored from a record (as Create would); its operation lock
 * is taken (agent_volume_unlock). */
int agent_volume_restore(struct agent_volumes *r, const char *key, const json_t *opts,
			 struct agent_volume **ret, struct errbuf *e);
/* Operation lock held: the entry of a wire name, or NULL; how many names use container. */
struct agent_mount *agent_volume_find_mount(struct agent_volume *v, const char *name);
/* data_lock held: forget v->mounts[i] (the last one takes its place; the array is freed
 * with the last name). */
void agent_volume_drop_mount(struct agent_volume *v, size_t i);
unsigned agent_volume_container_users(const struct agent_volume *v, const char *container);
