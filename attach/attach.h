/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attach pipeline:
 *   plan -> connect -> await device -> verify identity -> dm map -> fence (persistent
 *   reservation, read-write iscsi/nvme) -> probe fs -> mkfs (blank only) -> staging mount
 * and per container: bind mount. Detach runs the exact reverse; every undo step is
 * idempotent, so a record restored after a crash can be replayed.
 *
 * Thread-safety: one struct attach_volume must be used by one thread at a time (the
 * agent serialises per volume); different volumes may be attached in parallel.
 * Everything here may block up to the configured deadlines.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "lib/err.h"
#include "lib/sys.h"

#define ATTACH_KEY_MAX 119 /* "attachd-" + key fits a dm name (127) */
#define ATTACH_MAX_STEPS 16
/* Where file-backend volumes without a `path` live: BOSH's persistent disk. */
#define ATTACH_DEFAULT_FILE_DIR "/var/vcap/store/attachd/files"

/* Parsed Create options (generic part + the backend's own cfg). */
struct attach_opts {
	const struct backend_ops *be;
	void *be_cfg;          /* owned */
	char fs[8];            /* "ext4" | "xfs" */
	int format_never;      /* format=never */
	int readonly;          /* container mounts read-only */
	char mount_options[256]; /* validated comma list, "" if none */
	int fencing;           /* enum attach_fencing (attach/fence.h): auto (0), required, off */
	int takeover;          /* takeover: true: preempt another host's reservation */
};

/*
 * Validate a Create opts object (may be NULL/json null: then every required key is
 * missing). Every problem goes into el (unknown keys by name, bad types, bad values).
 * Values may be strings or native JSON types where the meaning is clear.
 * Returns 0 and fills *ret, or -EINVAL.
 */
int attach_opts_parse(const json_t *opts, struct attach_opts *ret, struct errlist *el);
void attach_opts_done(struct attach_opts *o);
/* A copy of opts with every secret value replaced by "REDACTED" (for logs/listings). */
json_t *attach_opts_redacted(const json_t *opts);

/* Volume keys become dm names, directory names and state file names: [A-Za-z0-9._-],
 * 1..ATTACH_KEY_MAX, not starting with '.'. */
int attach_key_is_valid(const char *key);

enum attach_step {
	STEP_NONE = 0,
	STEP_PLAN,
	STEP_CONNECT,
	STEP_AWAIT,
	STEP_VERIFY,
	STEP_DM,
	STEP_FENCE, /* backends with fence_by_reservation, read-write: register + reserve */
	STEP_PROBE,
	STEP_MKFS,
	STEP_MOUNT,
	STEP_BIND,
	/* reverse */
	STEP_UNBIND,
	STEP_UMOUNT,
	STEP_UNFENCE, /* release + unregister (after the unmount flushed) */
	STEP_DM_REMOVE,
	STEP_DISCONNECT,
	/* online (attachctl expand, or a Mount of a volume the array grew) */
	STEP_EXPAND,
	_STEP_MAX,
};
const char *attach_step_name(enum attach_step s);

struct attach_timing {
	enum attach_step step;
	int64_t usec;
	int result; /* 0 or negative errno */
};

struct attach_env;
struct attach_volume;

/*
 * env->step_hook is called around every step of attach_volume_up/_down (and rollbacks):
 * done=0 after v->doing was set to step and before the step is attempted; done=1 after it
 * completed (v->reached updated, v->doing back to STEP_NONE). The agent persists its record
 * here (so a crash inside a step leaves a record saying the step may have started) and runs
 * its test crash points. A negative return before an attach step aborts the attach (rolled
 * back as a failure of that step); it is ignored in the reverse direction (a stale record
 * that claims more than exists is safe: every undo is idempotent).
 */

/* Deadlines (ms) and host settings shared by every volume. */
struct attach_env {
	struct sys sys;
	struct backend_host_config host;
	/* This host's persistent reservation key (config fencing.key, else derived from the
	 * host identity); 0: none known (a read-write attach that must fence is refused,
	 * naming fencing.key). */
	uint64_t fencing_key;
	char mount_root[4096]; /* staging at <root>/.staging/<key>, containers at <root>/<key>/<container> */
	int connect_timeout_ms; /* login/probe/losetup */
	int device_timeout_ms;  /* await device and dm udev */
	int mkfs_timeout_ms;
	int tur_timeout_ms;    /* path checker TUR deadline (default 5 s) */
	int no_path_queue_ms;  /* all paths down: queue I/O this long, then fail it (30 s) */
	/* Test seam for the udev wait: NULL = libudev monitor. */
	void *udev; /* struct udev *, owned by the caller */
	/* See above; NULL: none. */
	int (*step_hook)(struct attach_env *env, struct attach_volume *v, enum attach_step step,
			 int done);
	/* Persist v's record now, in the middle of a step (see backend_ctx.checkpoint); NULL:
	 * nothing is persisted mid-step. */
	int (*checkpoint)(struct attach_env *env, struct attach_volume *v);
	void *hook_userdata;
	/* Called once the device is found and identified (v->dev, v->ident), before anything is
	 * built on it: the agent's dedupe across volumes. A negative return (e set) refuses the
	 * attach; *ret_same_dev = 1 says the device is the very one another volume uses (its
	 * connection was reused, not made), so the rollback must leave the connection alone.
	 * NULL: no check. */
	int (*claim)(struct attach_env *env, struct attach_volume *v, int *ret_same_dev,
		     struct errbuf *e);
	void *claim_userdata;
	/* Live progress (NULL: none). Called on the thread running the step: at its start
	 * with t NULL, and at its end with t, the timing just recorded in v->timings (a step
	 * that is skipped, like mkfs of a formatted device, is not reported at all). Steps of
	 * attach_volume_up/_down/_rollback, attach_bind and attach_unbind. It must not block
	 * and may only read v->key; several volumes' steps call it at once. */
	void (*progress)(struct attach_env *env, const struct attach_volume *v,
			 enum attach_step step, const struct attach_timing *t);
	void *progress_userdata;
};

/* One path of a multipathed volume, as attachd manages it. */
struct attach_path {
	struct backend_path bp;
	int failed;             /* attachd (or the kernel, seen in the map status) failed it */
	int last_result;        /* last check: 0 ok, negative errno */
	char last_detail[128];  /* "TUR ok", "session 3 FAILED", "TUR: sense key 2" */
	int64_t checked_ms;     /* CLOCK_REALTIME ms of the last check (0 = never) */
	int64_t changed_ms;     /* CLOCK_REALTIME ms of the last active<->failed change */
	unsigned failures;      /* times it went failed since attach */
	unsigned group;         /* priority group in the map (ALUA) */
};

/* What fencing this volume's attachment has (attachctl show's `fencing:` line). */
enum attach_fence_status {
	ATTACH_FENCE_ST_NONE = 0,    /* not attached, or the backend fences otherwise */
	ATTACH_FENCE_ST_HELD,        /* we hold the reservation with fence_key */
	ATTACH_FENCE_ST_UNSUPPORTED, /* read-write, unfenced: the target has no PR */
	ATTACH_FENCE_ST_OFF,         /* read-write, unfenced: Create option fencing: off */
	ATTACH_FENCE_ST_READONLY,    /* read-only attach: nothing registered */
	ATTACH_FENCE_ST_LOST,        /* we held it and another host took it (fence_detail) */
};
/* "held", "unsupported by target", "off", "read-only", "lost", "" for NONE. */
const char *attach_fence_status_name(enum attach_fence_status s);

/* One volume on this host. */
struct attach_volume {
	char key[ATTACH_KEY_MAX + 1];
	struct attach_opts opts;
	struct backend_attachment att; /* att.objs records kernel objects */
	enum attach_step reached;      /* last step completed (STEP_MOUNT = staged) */
	enum attach_step doing;        /* step started and not completed (STEP_NONE: none) */
	char dm_name[160];
	char dm_devnode[192];
	char staging[4096];
	struct backend_device dev;
	struct backend_identity ident;
	char fs_found[96]; /* what the probe found ("ext4", "" for blank) */
	int formatted;     /* we ran mkfs in this attach */
	/* The filesystem's size (bytes, block size) as last read: from its superblock by the
	 * probe or after mkfs, from the filesystem's tools by an expand check; 0 = unknown
	 * (a recovered volume). Lets the expand check at each Mount skip the tools while the
	 * device has not grown. Not recorded. */
	uint64_t fs_bytes, fs_block;
	struct attach_timing timings[ATTACH_MAX_STEPS];
	unsigned n_timings;
	/* multipath (the backend has find_paths and the volume > 1 configured path) */
	int multipath;            /* v->dm_name is a dm-multipath map */
	struct attach_path paths[BACKEND_MAX_PATHS];
	unsigned n_paths;
	int queueing;             /* the map queues I/O when no path is left */
	int64_t all_down_since_ms; /* CLOCK_REALTIME ms all paths went failed, 0 = some path up */
	int64_t add_paths_after_ms; /* checker: no add_paths try before (CLOCK_MONOTONIC ms) */
	/* fencing (pipeline_fence.c; recorded) */
	enum attach_fence_status fence_status;
	uint64_t fence_key;      /* HELD/LOST: the key we registered */
	char fence_detail[480];  /* LOST: who holds it now; PREEMPT: whom we took it from */
	/* In: take the volume over on the next attach (attachctl takeover), besides the
	 * Create option; cleared by attach_volume_up. Not recorded. */
	int takeover_once;
	/* Out of the last attach_volume_up: the host it took the volume from ("" none):
	 * the previous reservation holder, or what the backend named (att.took_over_from). */
	char took_over_from[480];
};

/* Does the path checker follow this volume: a dm-multipath map (v->multipath), or a
 * native-multipath backend (NVMe) with more than one configured path. */
static inline int attach_volume_has_paths(const struct attach_volume *v)
{
	const struct backend_ops *be = v->opts.be;

	return v->multipath || (be && be->native_multipath && be->paths_configured &&
				v->att.cfg && be->paths_configured(v->att.cfg) > 1);
}

/* What one checker round did to a volume (for the agent's log and metrics). */
struct attach_path_event {
	enum {
		PATH_EV_FAILED,     /* path failed in the map (checker or kernel) */
		PATH_EV_REINSTATED, /* path active again */
		PATH_EV_ADDED,      /* a path that was missing joined the map (table reload) */
		PATH_EV_REMOVED,    /* a path whose device is gone left the map */
		PATH_EV_ALL_DOWN,   /* no path left: I/O queues (bounded) */
		PATH_EV_QUEUE_OFF,  /* no path for longer than the bound: fail_if_no_path */
		PATH_EV_QUEUE_ON,   /* a path returned: queueing again */
	} kind;
	char path_id[64];
	char detail[160];
	int64_t down_ms; /* REINSTATED/QUEUE_ON/QUEUE_OFF: how long it (or every path) was
			  * down; FAILED: since the last check that found it good (0: none) */
};
#define ATTACH_MAX_PATH_EVENTS 32

/*
 * One path-checker round for a staged multipath volume (paths.c): per path, the backend's
 * transport state (sysfs), then a TUR (env->sys.ops->scsi_tur, deadline
 * env->tur_timeout_ms) when the transport is up; the map's own status; fail_path /
 * reinstate_path messages so the map matches; missing configured paths added
 * (backend add_paths, find_paths, table reload); the all-paths-down bound
 * (env->no_path_queue_ms) switches the map to fail_if_no_path and back. Events go to ev
 * (at most ATTACH_MAX_PATH_EVENTS). The caller holds v (one thread per volume at a time).
 */
int attach_paths_check(struct attach_env *env, struct attach_volume *v,
		       struct attach_path_event *ev, unsigned *ret_n_ev, struct errbuf *e);

/*
 * The all-paths-down bound alone, for a multipath volume whose operation lock someone else
 * holds (an Unmount whose umount waits behind I/O the map queues: attach_paths_check
 * cannot run then, and without this the umount would wait forever). Reads the map's status
 * only; with no active path, *since_ms (CLOCK_REALTIME ms, 0 = not down yet) starts the
 * clock, and past env->no_path_queue_ms the map is told fail_if_no_path: 1 then (queued
 * I/O fails, the operation goes on), else 0 (a path is active again: *since_ms = 0), or a
 * negative errno (-ENXIO: the map is gone). Only a dm status and a message: safe while the
 * operation runs on another thread.
 */
int attach_paths_bound(struct attach_env *env, const char *dm_name, int64_t *since_ms,
		       struct errbuf *e);

/* Initialise v for key with parsed opts (ownership of opts->be_cfg moves to v). */
int attach_volume_init(struct attach_volume *v, const char *key, struct attach_opts *opts);
void attach_volume_done(struct attach_volume *v);

/* What an online expand found and did (sizes in bytes; fs 0: unknown). */
struct attach_expand_result {
	uint64_t device;		/* the volume's device(s) after the rescan */
	uint64_t map_before, map_after; /* the dm map */
	uint64_t fs_before, fs_after;	/* the filesystem */
	int grew_dm, grew_fs;
};

/*
 * Grow a staged volume online to the size the array now gives it (expand.c): the backend's
 * rescan of every device (each path of a multipath map), then the dm map reloaded with the
 * new size (every path must show it), then the filesystem (resize2fs on the dm device for
 * ext4, xfs_growfs on the staging mount for xfs). Nothing to grow is success with grew_* 0.
 * Never shrinks: a device smaller than its map or its filesystem is -ERANGE with e, and
 * nothing is changed. A filesystem that cannot grow online (read-only, the tool failed)
 * leaves the volume mounted (the map may have grown): negative errno with e saying why.
 * *res is filled as far as it got, also on failure. wait_ms: how long a rescan that ends
 * later (NVMe) is waited for (0: use the sizes as they are). Records STEP_EXPAND in
 * v->timings. The caller holds v; blocks for the rescans and the filesystem tool.
 */
int attach_volume_expand(struct attach_env *env, struct attach_volume *v, int wait_ms,
			 struct attach_expand_result *res, struct errbuf *e);

/* Attach and stage: on success the filesystem is mounted at v->staging (and e->msg is a
 * note for the log when not empty: a configured path refused for its WWID). On failure
 * every step already done is undone (reverse order) and e says what went wrong. */
int attach_volume_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
/* Undo everything (unmount staging, dm remove, disconnect). Idempotent. Container bind
 * mounts must be gone already (force=1 lazily unmounts and error-swaps first). */
int attach_volume_down(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e);
/* Roll back a half-done attach restored from a record: when the record says connect may have
 * started (v->doing == STEP_CONNECT), the backend's objects may be missing from att.objs (a
 * crash between the kernel action and the record write), so connect is replayed first
 * (idempotent: it finds the session/loop device and records it; its failure is ignored),
 * then everything is undone as attach_volume_down(force=0) does. */
int attach_volume_rollback(struct attach_env *env, struct attach_volume *v, struct errbuf *e);

/*
 * Records (record.c). attach_volume_to_json: the pipeline state of v as a JSON object
 * {"reached","doing","objs","dm_name","dm_device","staging","device":{..},"identity":{..},
 * "fs","formatted"} and, for a volume with paths, "multipath","queueing","paths":[{"id",
 * "devno","sysname","devnode","where","wwid","failed","group"}] (records without them load
 * as linear) (no options, no secrets: the agent stores those). NULL on ENOMEM.
 * attach_volume_from_json: restore that state into v, already set up by attach_volume_init
 * with the same key and options. -EINVAL with e set when the object is malformed or belongs
 * to another volume (dm name differs). Pure.
 */
json_t *attach_volume_to_json(const struct attach_volume *v);
int attach_volume_from_json(const json_t *j, struct attach_volume *v, struct errbuf *e);
/* Step by name ("connect", "dm-map", ...; "none" is STEP_NONE); -EINVAL if unknown. */
int attach_step_from_name(const char *name, enum attach_step *ret);

/* Bind-mount the staging mount for one container; ret_path is <root>/<key>/<container>.
 * Idempotent; repairs a stale bind mount. */
int attach_bind(struct attach_env *env, struct attach_volume *v, const char *container,
		char *ret_path, size_t n, struct errbuf *e);
int attach_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
		  struct errbuf *e);
/* 1 if something is mounted at path (per /proc/self/mountinfo through env->sys), 0 if not,
 * or a negative errno. */
int attach_path_is_mounted(const struct attach_env *env, const char *path);
/* Path a container's bind mount lives at. */
int attach_container_path(const struct attach_env *env, const char *key, const char *container,
			  char *ret, size_t n);

/* attachctl probe (probe.c). */
struct attach_probe_info {
	struct backend_identity ident;
	struct backend_device dev; /* the kernel device seen (connected), else empty */
	int connected;		   /* 1: connect-identify-disconnect was used */
};
/*
 * What the array says about a volume, from Create-style options (validated as Create
 * does): the backend's probe op when it has one (nothing on this host changes); else
 * (nvme, which has no way to ask a subsystem without a kernel controller) connect, wait for
 * the device (env->device_timeout_ms), identify it and disconnect again. The disconnect is
 * the backend's own: it deletes only a controller this connect made and nothing else uses.
 * Blocks. -EINVAL with e naming every bad option; else e says what failed.
 */
int attach_probe(struct attach_env *env, const json_t *opts, struct attach_probe_info *ret,
		 struct errbuf *e);

/*
 * Fencing outside the pipeline (pipeline_fence.c), on a staged volume (v->reached >=
 * STEP_FENCE), operation lock held, blocking for a few round trips to the target.
 * attach_volume_fence_check: recovery's re-check that we still hold what v->fence_status
 * says. 1 still held (or nothing to check: not HELD), 0 lost (v->fence_status becomes
 * LOST, v->fence_detail and e say who holds it now), negative errno with e set (the
 * target could not be asked; v unchanged).
 * attach_volume_fence_takeover: PREEMPT AND ABORT whoever holds the reservation and hold it
 * with env->fencing_key (attachctl takeover on an attached volume, e.g. after LOST). 0 with
 * v->took_over_from naming the previous holder ("" if we held it already), or a negative
 * errno with e set (-EOPNOTSUPP: the backend or target does not fence by reservation).
 */
int attach_volume_fence_check(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
int attach_volume_fence_takeover(struct attach_env *env, struct attach_volume *v,
				 struct errbuf *e);

/* What every attach needs from this host: device-mapper (-ENODEV with e saying how to get
 * it), and udev running (1 with e set when it is not: attaches still work, on kernel
 * uevents, but /dev/disk links and udev rules are missing). 0 when all is there. */
int attach_env_check(struct attach_env *env, struct errbuf *e);

/* Defaults for the real host: real kernel seam, 30 s connect, 30 s device, 300 s mkfs. */
void attach_env_init(struct attach_env *env, const char *mount_root);
