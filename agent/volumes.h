/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The volume registry: volume definitions (from Create), who has each volume mounted
 * (one entry per wire name, with its mount count) and the per-volume locking.
 *
 * Locking: a short registry lock guards the table and reference counts only. Each volume
 * has an operation lock, held across a whole Create/Mount/Unmount/Remove (which may block
 * in the kernel for seconds), so operations on one volume are serialised while different
 * volumes proceed in parallel; and a data lock, held only while copying or changing its
 * fields, so List/Get/Path never wait behind a slow attach. Order: registry -> data; the
 * operation lock is never taken with the registry lock held.
 *
 * With a state store attached (agent_volumes_set_state), every change is written to the
 * volume's record (agent/state.h) and agent_volumes_recover() rebuilds the registry at start.
 */
#pragma once

#include <jansson.h>

#include "agent/names.h"
#include "attach/attach.h"
#include "lib/err.h"

/*
 * The pipeline as the agent calls it. Defaults: agent_driver_ops_real (attach_volume_up,
 * attach_volume_down, attach_bind, attach_unbind). Host tests pass fakes that make
 * directories instead of devices. Same contracts as the attach_* functions.
 */
struct agent_driver_ops {
	int (*up)(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
	int (*down)(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e);
	int (*bind)(struct attach_env *env, struct attach_volume *v, const char *container,
		    char *ret_path, size_t n, struct errbuf *e);
	int (*unbind)(struct attach_env *env, struct attach_volume *v, const char *container,
		      struct errbuf *e);
	/* Optional (NULL: down with force=0): undo a half-done attach restored from a record
	 * (attach_volume_rollback). */
	int (*rollback)(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
	/* Optional (NULL: nothing to check): can this host attach at all? 0; 1 with e set for
	 * something degraded but usable (logged); a negative errno with e naming what is
	 * missing (Mounts that need an attach are refused with it). Cheap; run at start and
	 * before each attach (so loading a module later is picked up). */
	int (*check)(struct attach_env *env, struct errbuf *e);
	/* Optional (NULL: volumes are never grown): grow an attached volume online
	 * (attach_volume_expand). */
	int (*expand)(struct attach_env *env, struct attach_volume *v, int wait_ms,
		      struct attach_expand_result *res, struct errbuf *e);
};
extern const struct agent_driver_ops agent_driver_ops_real;

struct agent_volumes;

/* env and ops are borrowed and must outlive the registry. NULL on ENOMEM. */
struct agent_volumes *agent_volumes_new(struct attach_env *env, const struct agent_driver_ops *ops);
/* At most max_pipelines attach/detach pipelines run at once (the rest wait their turn); a
 * request waits at most lock_wait_s for a volume's operation lock, then gets "busy: ...".
 * Defaults 8 and 60 (AGENT_DEFAULT_*). Call before any request. */
void agent_volumes_set_limits(struct agent_volumes *r, unsigned max_pipelines,
			      unsigned lock_wait_s);
struct agent_metrics;
/* Count fencing outcomes in m (borrowed; NULL: not counted). Call before any request. */
void agent_volumes_set_metrics(struct agent_volumes *r, struct agent_metrics *m);
/* Forgets every definition; does not detach anything (volumes stay attached for a restarted
 * agent to adopt). No request may be running. Returns NULL. */
struct agent_volumes *agent_volumes_free(struct agent_volumes *r);

/*
 * Create: validate opts (NULL = JSON null) and store the definition under the name's volume
 * key. Idempotent for identical opts (Volman sends Create before every Mount). Different
 * opts replace the definition while the volume is not attached, else -EBUSY. A second key
 * claiming the same device as an existing volume is refused (-EEXIST). On -EINVAL, e holds
 * every problem ("invalid options for volume 'k': a; b"). May block behind an operation on
 * the same volume.
 */
int agent_volumes_create(struct agent_volumes *r, const struct agent_name *n, const char *name,
			 const json_t *opts, struct errbuf *e);

/*
 * Mount: attach the volume if this host does not have it yet (ops->up), bind it for the
 * name's container (ops->bind: idempotent, repairs a stale bind) and count the name once
 * more. ret_path (size n) gets the container's mount point. -ENOENT if the volume was never
 * created. Blocks for the attach.
 */
int agent_volumes_mount(struct agent_volumes *r, const struct agent_name *n, const char *name,
			char *ret_path, size_t len, struct errbuf *e);

/*
 * Unmount: count the name once less; at zero unbind its container (when no other name
 * uses it) and, when no container is left, detach the volume (ops->down). -ENOENT with
 * "Volume '<name>' not found" for a name that is not mounted. If the unbind fails the
 * count is kept, so List still shows the name and a later Unmount can retry.
 */
int agent_volumes_unmount(struct agent_volumes *r, const struct agent_name *n, const char *name,
			  struct errbuf *e);

/* Remove the definition; -EBUSY while any name has it mounted, -ENOENT if unknown. Detaches
 * a volume left attached without containers. */
int agent_volumes_remove(struct agent_volumes *r, const struct agent_name *n, const char *name,
			 struct errbuf *e);

struct agent_state;
struct agent_test_settings;
/* Persist to st from now on (borrowed; NULL: in memory only) and run the test crash points
 * in t (borrowed; NULL: none). Sets env->step_hook. Call before any request. */
void agent_volumes_set_state(struct agent_volumes *r, struct agent_state *st,
			     const struct agent_test_settings *t);
/*
 * At start, before serving: read every record, compare it with the kernel (staging and
 * container mounts in mountinfo) and adopt, finish or undo it (agent_recovery_decide); then,
 * with sweep_dm (the real pipeline: fakes must not touch the kernel's devices), remove
 * attachd-owned dm devices that no record claims and nothing holds open. Logs each
 * decision. Returns 0, or a negative errno only when the state directory cannot be read
 * (records that cannot be recovered are logged and kept for the next start).
 */
int agent_volumes_recover(struct agent_volumes *r, int sweep_dm, struct errbuf *e);

/* One wire name's view. */
struct agent_mount_info {
	char name[AGENT_NAME_MAX + 1];
	char mountpoint[4096]; /* "" when the name is not mounted */
	unsigned count;
};

/* Get/Path: the name's entry. A created volume with the name not mounted gives count 0 and
 * an empty mountpoint; -ENOENT if the volume key is unknown. Never waits for operations. */
int agent_volumes_get(struct agent_volumes *r, const struct agent_name *n, const char *name,
		      struct agent_mount_info *ret, struct errbuf *e);

/* List: every mounted name (count > 0), as Volman sent it, sorted by name. *ret is
 * malloc'ed (free()), *ret_n its length. Never waits for operations. */
int agent_volumes_list(struct agent_volumes *r, struct agent_mount_info **ret, size_t *ret_n);
