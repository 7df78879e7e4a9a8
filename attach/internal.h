/* SPDX-License-Identifier: Apache-2.0 */
/* attach/-private helpers. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "attach/attach.h"
#include "dm/dmap.h"

/* Value coercion shared by option parsers: JSON natives or strings. 0 or -EINVAL. */
int attach_json_bool(const json_t *v, int *ret);
int attach_json_uint(const json_t *v, uint64_t max, uint64_t *ret);

/* mount_options: split a validated comma list into MS_* flags and a data string. */
int attach_mount_options_split(const char *opts, unsigned long *ret_flags, char *ret_data, size_t n);
/* Validate a comma list against the allow-list; adds problems to el. */
int attach_mount_options_check(const char *opts, struct errlist *el);

/* One entry of /proc/self/mountinfo. */
struct attach_mnt {
	unsigned major, minor;
	char root[512];
	char target[4096];
	char fstype[32];
	char source[512];
	int readonly; /* per-mount "ro" */
};
/* Find the last (topmost) mount at target in mountinfo text. 0, -ENOENT, -EINVAL. */
int attach_mountinfo_find(const char *text, const char *target, struct attach_mnt *ret);
int attach_mountinfo_read(const struct sys *s, char **ret_text);

/* Steps the pipeline runs, given how far a volume got. Pure: used by the pipeline and
 * tested on its own. Returns the number of steps written to out (at most n). */
size_t attach_plan_up(enum attach_step reached, int has_probe, enum attach_step *out, size_t n);
size_t attach_plan_down(enum attach_step reached, enum attach_step *out, size_t n);

/* Waiting for block devices: a udev monitor armed before the action. */
struct attach_devwait;
int attach_devwait_open(struct attach_env *env, struct attach_devwait **ret);
/* Wait until some block uevent arrives or the deadline (CLOCK_MONOTONIC ms) passes.
 * 0 when something arrived (caller re-checks sysfs), -ETIMEDOUT at the deadline. */
int attach_devwait_next(struct attach_devwait *w, int64_t deadline_ms);
/* Has udev finished processing dev (rules ran, links exist)? 1/0; 1 when udev is not
 * running (nothing to wait for). */
int attach_devwait_is_initialized(struct attach_devwait *w, const struct backend_device *dev);
struct attach_devwait *attach_devwait_free(struct attach_devwait *w);
/* Wait (env->device_timeout_ms) until be finds att's device and udev has finished with it:
 * 0 and *ret; find_device's error; -ETIMEDOUT saying which of the two did not happen.
 * Without w (no monitor): one look. */
int attach_devwait_device(struct attach_env *env, struct attach_devwait *w,
			  const struct backend_ops *be, const struct backend_ctx *ctx,
			  struct backend_attachment *att, struct backend_device *ret,
			  struct errbuf *e);

int64_t attach_now_ms(void);
int64_t attach_now_us(void);

/* Filesystem helpers (fs.c). */
enum attach_probe_result {
	PROBE_BLANK = 1, /* no signature and the first and last MiB are zeroes: safe to format */
	PROBE_FOUND = 0, /* a signature: *what names it */
	PROBE_DATA = 2,	 /* no signature but non-zero data: *what says where */
};
/* libblkid safe probe (superblocks with bad checksums counted as found, partition tables),
 * then, when it finds nothing, the zero check. Returns PROBE_BLANK; PROBE_FOUND with what
 * ("ext4", "ext4 (bad checksum)", "dos partition table", "crypto_LUKS", ...); PROBE_DATA with
 * what ("non-zero data at offset N and no known signature"); or a negative errno with e set
 * (a read error, a short read, an ambiguous probe: never format then). Blocks on I/O. */
int attach_fs_probe(const char *devnode, char *what, size_t n, struct errbuf *e);
/* The size of the ext4 or xfs filesystem on devnode from its primary superblock (buffered
 * read: for a mounted ext4 the kernel keeps that block current in the device's page
 * cache; an xfs is read before it is mounted). -EMEDIUMTYPE when fs is not there. */
int attach_fs_sb_size(const char *devnode, const char *fs, uint64_t *ret_bytes,
		      uint64_t *ret_block);
/* The same from a superblock already read: sb holds the device's first 2 KiB. */
int attach_fs_sb_parse(const unsigned char *sb, size_t n, const char *fs, uint64_t *ret_bytes,
		       uint64_t *ret_block);
/* The zero check alone: 1 when the first and last MiB of devnode (size bytes) read back as
 * zeroes, 0 with *ret_at = offset of the first non-zero byte, or a negative errno (read
 * error, short read) with e set. */
int attach_fs_zero_check(const char *devnode, uint64_t size, uint64_t *ret_at, struct errbuf *e);
/* -EBUSY with e naming the holder when /sys/dev/block/MAJ:MIN/holders lists anything other
 * than the dm device named own_dm (our own map; NULL: none allowed). 0 otherwise. */
int attach_dev_holders_check(const struct sys *s, unsigned major, unsigned minor,
			     const char *devnode, const char *own_dm, struct errbuf *e);
/* Right before mkfs: devnode (a block device) has no holders, is not mounted anywhere
 * (mountinfo major:minor) and can be opened O_EXCL. 0, or -EBUSY/-errno with e set. A regular
 * file (tests) passes. */
int attach_fs_check_unused(const struct sys *s, const char *devnode, struct errbuf *e);
/* 1 if a mount in mountinfo text is of device major:minor, else 0. Pure. */
int attach_mountinfo_has_dev(const char *text, unsigned major, unsigned minor);
int attach_fs_mkfs(const struct sys *s, const char *fs, const char *devnode, int timeout_ms,
		   struct errbuf *e);

/* Path checker (tur.c, paths.c). */
struct attach_tur_req {
	const char *devnode;
	int r;		/* 0 ready, or negative errno (see sys_ops.scsi_tur) */
	int sense_key;	/* -EIO: the sense key, -1 none */
	char detail[96]; /* "TUR ok", "TUR: check condition, sense key 2 (NOT READY)", ... */
};
/* TEST UNIT READY on every reqs[i].devnode in parallel (a detached thread each), waiting
 * until all answered or about timeout_ms passed: one still running then is -ETIMEDOUT and
 * is left to finish on its own; while it runs, no new TUR is started on that devnode
 * (-ETIMEDOUT "still running"). n <= BACKEND_MAX_PATHS. Thread-safe. */
void attach_tur_many(const struct sys *s, struct attach_tur_req *reqs, size_t n, int timeout_ms);
/* How many TURs (of every round) are still running. */
size_t attach_tur_running(void);
/* People's words for a TUR result. */
void attach_tur_describe(int r, int sense_key, char *buf, size_t n);

/* The dm calls of a checker round, a seam for tests (NULL members: the real dmap_*). */
struct attach_paths_dm {
	int (*status)(void *ud, const char *name, struct dmap_mpath_status *ret);
	int (*message)(void *ud, const char *name, const char *msg, struct errbuf *e);
	int (*reload)(void *ud, const char *name, const struct dmap_target *t, size_t n,
		      int timeout_ms, struct errbuf *e);
	void *ud;
};
/* attach_paths_check with dm calls through dm. */
int attach_paths_check_dm(struct attach_env *env, struct attach_volume *v,
			  const struct attach_paths_dm *dm, struct attach_path_event *ev,
			  unsigned *ret_n_ev, struct errbuf *e);
/* attach_paths_bound with dm calls through dm. */
int attach_paths_bound_dm(struct attach_env *env, const char *dm_name,
			  const struct attach_paths_dm *dm, int64_t *since_ms, struct errbuf *e);
/* The multipath table over v->paths (mpath.c), for the attach's map and the checker's
 * reloads alike: ALUA groups from sysfs access_state when scsi_dh_alua is attached to every
 * path (hardware handler "alua" then), size v->ident.size_bytes, queueing as queue says;
 * sets paths[i].group. */
int attach_paths_table(const struct sys *s, struct attach_volume *v, int queue,
		       struct dmap_target *ret);

/* Online expand (expand.c). */
enum {
	ATTACH_EXPAND_DM = 1, /* reload the dm map with the device's new size */
	ATTACH_EXPAND_FS = 2, /* grow the filesystem to the device */
};
/* Pure: what to grow, given the device's size now, the dm map's and the filesystem's
 * (fs 0: unknown, never grown) with its block size, all in bytes. 0 and *ret_actions
 * (0: nothing to do); -ERANGE with e when the device is smaller than its map or its
 * filesystem (never shrink); -EIO for an unknown device or map size. */
int attach_expand_decide(uint64_t dev, uint64_t map, uint64_t fs, uint64_t fs_block,
			 unsigned *ret_actions, struct errbuf *e);
/* Pure: a filesystem's size from its tool's output: "ext4" from `dumpe2fs -h` (Block
 * count x Block size), "xfs" from `xfs_io -c statfs` (geom.datablocks x geom.bsize).
 * 0, -EINVAL when the output lacks them, -EOPNOTSUPP for another fs. */
int attach_fs_size_parse(const char *fs, const char *out, uint64_t *ret_bytes,
			 uint64_t *ret_block);
/* The dm calls of an expand, a seam for tests (NULL members: the real dmap_*). */
struct attach_expand_dm {
	int (*size)(void *ud, const char *name, uint64_t *ret_bytes);
	int (*grow)(void *ud, const char *name, const struct dmap_target *t, size_t n,
		    int timeout_ms, struct errbuf *e);
	void *ud;
};
/* attach_volume_expand with dm calls through dm (NULL: the real ones). */
int attach_volume_expand_dm(struct attach_env *env, struct attach_volume *v,
			    const struct attach_expand_dm *dm, int wait_ms,
			    struct attach_expand_result *res, struct errbuf *e);

/* Multipath (mpath.c). */
/* A dm-multipath map for v: the backend has find_paths, does not multipath itself, and v
 * has more than one configured path (even if only one is up at attach time). */
int attach_mpath_wanted(const struct attach_volume *v);

/* pipeline_fence.c: the fence steps. attach_fence_applies: the backend fences by
 * reservation. attach_fence_up: STEP_FENCE on v->dm_devnode (sets v->fence_status; appends
 * the unfenced note to note). attach_fence_down: STEP_UNFENCE, never fails (a release that
 * failed is said in e->msg with 0 returned). */
int attach_fence_applies(const struct attach_volume *v);
int attach_fence_up(struct attach_env *env, struct attach_volume *v, char *note, size_t note_n,
		    struct errbuf *e);
int attach_fence_down(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
/* Pure: the ALUA priority of a SCSI device's access_state ("active/optimized" 0,
 * "active/non-optimized" 1, "standby" 2, any other state 3); -1 when empty (no ALUA). */
int attach_mpath_alua_group(const char *access_state);
/* STEP_AWAIT for a multipath volume: waits (device timeout) for the first path udev has
 * finished with, then at most a short grace for the other paths found; fills v->paths,
 * v->n_paths and v->dev (the first path). note gets what find_paths said about paths it
 * refused (another WWID), "" if none. */
int attach_mpath_await(struct attach_env *env, struct attach_volume *v, struct attach_devwait *w,
		       char *note, size_t note_n, struct errbuf *e);
/* STEP_VERIFY: identify every path: one WWID (the expected one), one size. Sets v->ident. */
int attach_mpath_verify(struct attach_env *env, struct attach_volume *v,
			const struct backend_identity *expect, struct errbuf *e);
/* Nobody but our own map holds any path's disk (attach_dev_holders_check per path). */
int attach_mpath_holders(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
/* STEP_DM: the multipath map over v->paths (service-time, queue_if_no_path, ALUA groups
 * and handler when the paths' devices show ALUA); sets v->multipath, v->queueing and the
 * paths' groups. */
int attach_mpath_dm(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
/* Native multipath backends (nvme): v->paths from find_paths, for display; best effort. */
void attach_mpath_fill_native(struct attach_env *env, struct attach_volume *v);
