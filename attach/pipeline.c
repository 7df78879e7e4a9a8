/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attach pipeline and its exact reverse. Each step records its duration; each undo
 * is idempotent (0 when its object is already gone) so that failures part way, and a
 * restarted agent replaying a record, always converge to "nothing left".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "attach/internal.h"
#include "backends/file/file.h"
#include "dm/dmap.h"

int attach_volume_init(struct attach_volume *v, const char *key, struct attach_opts *opts)
{
	int r;

	if (!attach_key_is_valid(key))
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	snprintf(v->key, sizeof(v->key), "%s", key);
	r = dmap_name_for(key, v->dm_name, sizeof(v->dm_name));
	if (r < 0)
		return r;
	v->opts = *opts;
	opts->be_cfg = NULL;
	v->att.ops = v->opts.be;
	v->att.cfg = v->opts.be_cfg;
	v->att.objs = json_object();
	if (!v->att.objs)
		return -ENOMEM;
	snprintf(v->dm_devnode, sizeof(v->dm_devnode), "/dev/mapper/%s", v->dm_name);
	return 0;
}

void attach_volume_done(struct attach_volume *v)
{
	attach_opts_done(&v->opts);
	v->att.cfg = NULL;
	json_decref(v->att.objs);
	v->att.objs = NULL;
}

int attach_container_path(const struct attach_env *env, const char *key, const char *container,
			  char *ret, size_t n)
{
	int r;

	if (!attach_key_is_valid(key) || !attach_key_is_valid(container))
		return -EINVAL;
	r = snprintf(ret, n, "%s/%s/%s", env->mount_root, key, container);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static void step_start(struct attach_env *env, const struct attach_volume *v, enum attach_step s)
{
	if (env->progress)
		env->progress(env, v, s, NULL);
}

static void record(struct attach_env *env, struct attach_volume *v, enum attach_step s,
		   int64_t t0, int r)
{
	struct attach_timing t = {
		.step = s,
		.usec = attach_now_us() - t0,
		.result = r,
	};

	if (v->n_timings < ATTACH_MAX_STEPS)
		v->timings[v->n_timings++] = t;
	if (env->progress)
		env->progress(env, v, s, &t);
}

static struct backend_ctx be_ctx(const struct attach_env *env, int timeout_ms)
{
	return (struct backend_ctx){ .sys = &env->sys, .host = &env->host, .timeout_ms = timeout_ms };
}

struct checkpoint_ud {
	struct attach_env *env;
	struct attach_volume *v;
};

static int checkpoint(const struct backend_ctx *ctx)
{
	const struct checkpoint_ud *c = ctx->checkpoint_ud;

	return c->env->checkpoint ? c->env->checkpoint(c->env, c->v) : 0;
}

static int is_mounted(const struct sys *s, const char *path, struct attach_mnt *ret)
{
	_cleanup_free_ char *text = NULL;
	struct attach_mnt m;
	int r;

	r = attach_mountinfo_read(s, &text);
	if (r < 0)
		return r;
	r = attach_mountinfo_find(text, path, &m);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (ret)
		*ret = m;
	return 1;
}

int attach_path_is_mounted(const struct attach_env *env, const char *path)
{
	return is_mounted(&env->sys, path, NULL);
}

static int step_await(struct attach_env *env, struct attach_volume *v, struct attach_devwait *w,
		      char *note, size_t note_n, struct errbuf *e)
{
	struct backend_ctx ctx = be_ctx(env, env->device_timeout_ms);
	int r;

	if (attach_mpath_wanted(v))
		return attach_mpath_await(env, v, w, note, note_n, e);
	r = attach_devwait_device(env, w, v->opts.be, &ctx, &v->att, &v->dev, e);
	if (r == 0)
		attach_mpath_fill_native(env, v);
	return r;
}

static int step_verify(struct attach_env *env, struct attach_volume *v,
		       const struct backend_identity *expect, struct errbuf *e)
{
	struct backend_ctx ctx = be_ctx(env, env->connect_timeout_ms);
	struct backend_identity got = { 0 };
	int r;

	r = v->opts.be->identify(&ctx, &v->att, &v->dev, &got, e);
	if (r < 0)
		return r;
	if (expect->wwid[0] && got.wwid[0] && strcmp(expect->wwid, got.wwid))
		return errbuf_set(e, -EMEDIUMTYPE,
				  "%s has WWID %s but the array reported %s for this volume; "
				  "refusing to use a device that is not the expected LUN",
				  v->dev.devnode, got.wwid, expect->wwid);
	if (expect->size_bytes && got.size_bytes && expect->size_bytes != got.size_bytes)
		return errbuf_set(e, -EMEDIUMTYPE,
				  "%s is %llu bytes but the array reported %llu for this volume",
				  v->dev.devnode, (unsigned long long)got.size_bytes,
				  (unsigned long long)expect->size_bytes);
	if (got.size_bytes == 0 || got.size_bytes % 512)
		return errbuf_set(e, -EMEDIUMTYPE, "%s reports an unusable size (%llu bytes)",
				  v->dev.devnode, (unsigned long long)got.size_bytes);
	v->ident = got;
	return 0;
}

/*
 * One device, one owner: before anything is built on the device, the agent checks that no
 * other volume uses it (env->claim), and nobody but our own map holds it. Either refusal
 * sets *keep_conn: the connection found may be somebody else's (a session or loop device
 * reused), so the rollback must leave it alone.
 */
static int step_claim(struct attach_env *env, struct attach_volume *v, int *keep_conn,
		      struct errbuf *e)
{
	int same_dev = 0, r;

	/* Multipath: one claim covers every path (the agent compares the WWID, which all
	 * paths share), the holders are checked on each. */
	if (env->claim) {
		r = env->claim(env, v, &same_dev, e);
		if (r < 0) {
			*keep_conn = same_dev;
			return r;
		}
	}
	if (attach_mpath_wanted(v))
		r = attach_mpath_holders(env, v, e);
	else
		r = attach_dev_holders_check(&env->sys, v->dev.major, v->dev.minor,
					     v->dev.devnode, v->dm_name, e);
	if (r < 0)
		*keep_conn = 1;
	return r;
}

static int step_dm(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	struct dmap_target t;
	char uuid[160];
	int r;

	if (attach_mpath_wanted(v))
		return attach_mpath_dm(env, v, e);
	r = dmap_uuid_for(v->key, uuid, sizeof(uuid));
	if (r < 0)
		return errbuf_set(e, r, "volume key %s cannot be used as a dm uuid", v->key);
	r = dmap_table_linear(v->ident.size_bytes, v->dev.major, v->dev.minor, &t);
	if (r < 0)
		return errbuf_set(e, r, "cannot build a dm table for %s", v->dev.devnode);
	return dmap_create(v->dm_name, uuid, &t, 1, env->device_timeout_ms, e);
}

/* What an operator can do about a device that is refused for holding data. The device node
 * is named as this attach saw it: it goes away with the rollback (and may be reused). */
#define ZERO_HINT                                                                                  \
	"; if it truly is a new volume from a pool without zero padding, zero it deliberately "   \
	"(e.g. `blkdiscard -z` on the device: %s while attached, identity %s) and mount again"

/* The filesystem's size from the superblock libblkid just read (in the page cache: no I/O
 * to speak of), for the expand check at each Mount; unknown (0) when it cannot be read. */
static void note_fs_size(struct attach_volume *v)
{
	if (attach_fs_sb_size(v->dm_devnode, v->opts.fs, &v->fs_bytes, &v->fs_block) < 0)
		v->fs_bytes = v->fs_block = 0;
}

static int step_probe(struct attach_volume *v, int *need_mkfs, struct errbuf *e)
{
	const char *id = v->ident.wwid[0] ? v->ident.wwid : "unknown";
	char what[160] = "";
	int r;

	r = attach_fs_probe(v->dm_devnode, what, sizeof(what), e);
	if (r < 0)
		return r;
	snprintf(v->fs_found, sizeof(v->fs_found), "%s", r == PROBE_BLANK ? "" : what);
	if (r == PROBE_FOUND && !strcmp(what, v->opts.fs)) {
		*need_mkfs = 0;
		note_fs_size(v);
		return 0;
	}
	if (r == PROBE_DATA)
		return errbuf_set(e, -EMEDIUMTYPE,
				  "the volume holds %s; attachd formats only a provably blank device "
				  "(no signature, first and last MiB all zeroes), so it was left "
				  "untouched" ZERO_HINT,
				  what, v->dev.devnode, id);
	if (r == PROBE_FOUND && strstr(what, "(bad checksum)"))
		return errbuf_set(e, -EMEDIUMTYPE,
				  "the volume holds %s: a damaged filesystem, which attachd neither "
				  "formats nor mounts; repair it (e2fsck -b, xfs_repair) or restore it "
				  "from a backup" ZERO_HINT,
				  what, v->dev.devnode, id);
	if (r == PROBE_FOUND) {
		int fs = !strcmp(what, "ext4") || !strcmp(what, "xfs");

		return errbuf_set(e, -EMEDIUMTYPE,
				  "the volume already holds %s (expected %s or a blank device); "
				  "attachd never formats a device that carries data, so it was left "
				  "untouched%s%s" ZERO_HINT,
				  what, v->opts.fs, fs ? "; set fs=" : "", fs ? what : "",
				  v->dev.devnode, id);
	}
	if (v->opts.format_never)
		return errbuf_set(e, -EMEDIUMTYPE,
				  "the volume is blank and format=never: create a filesystem on it "
				  "or use format=auto");
	if (v->opts.readonly)
		return errbuf_set(e, -EMEDIUMTYPE,
				  "the volume is blank and readonly was requested: it cannot be "
				  "formatted read-only; attach it read-write once first");
	*need_mkfs = 1;
	return 0;
}

static int step_mkfs(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	char what[160];
	int r;

	/* mkfs gets -F (ext4): prove right before it that nothing else has the device. */
	r = attach_fs_check_unused(&env->sys, v->dm_devnode, e);
	if (r < 0)
		return r;
	r = attach_fs_mkfs(&env->sys, v->opts.fs, v->dm_devnode, env->mkfs_timeout_ms, e);
	if (r < 0)
		return r;
	v->formatted = 1;
	r = attach_fs_probe(v->dm_devnode, what, sizeof(what), e);
	if (r < 0)
		return r;
	if (r != PROBE_FOUND || strcmp(what, v->opts.fs))
		return errbuf_set(e, -EIO, "mkfs.%s reported success but %s does not hold %s",
				  v->opts.fs, v->dm_devnode, v->opts.fs);
	snprintf(v->fs_found, sizeof(v->fs_found), "%s", what);
	note_fs_size(v);
	return 0;
}

static int mount_flags(const struct attach_volume *v, unsigned long *flags, char *data, size_t n)
{
	int r = attach_mount_options_split(v->opts.mount_options, flags, data, n);

	if (r < 0)
		return r;
	*flags |= MS_NOSUID | MS_NODEV | (v->opts.readonly ? MS_RDONLY : 0);
	return 0;
}

static int step_mount(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	const struct sys *s = &env->sys;
	unsigned long flags = 0;
	char data[256];
	int r;

	r = is_mounted(s, v->staging, NULL);
	if (r > 0)
		return 0;
	r = s->ops->mkdir_p(s, v->staging, 0700);
	if (r < 0)
		return errbuf_set(e, r, "cannot create %s: %s", v->staging, strerror(-r));
	r = mount_flags(v, &flags, data, sizeof(data));
	if (r < 0)
		return errbuf_set(e, r, "invalid mount options '%s'", v->opts.mount_options);
	/* A reader never writes: another host may have the filesystem mounted read-write
	 * (its journal marked for recovery), and replaying that journal from here would
	 * write to a volume whose reservation fences us (EIO) or, unfenced, corrupt it. */
	if (v->opts.readonly) {
		size_t l = strlen(data);

		snprintf(data + l, sizeof(data) - l, "%s%s", l ? "," : "",
			 !strcmp(v->opts.fs, "xfs") ? "norecovery" : "noload");
	}
	r = s->ops->mount(s, v->dm_devnode, v->staging, v->opts.fs, flags, data[0] ? data : NULL);
	if (r < 0)
		return errbuf_set(e, r, "mounting %s (%s) on %s failed: %s", v->dm_devnode, v->opts.fs,
				  v->staging, strerror(-r));
	return 0;
}

static int run_up_step(struct attach_env *env, struct attach_volume *v, enum attach_step step,
		       struct attach_devwait **w, struct backend_identity *expect, int *need_mkfs,
		       int *keep_conn, char *note, size_t note_n, struct errbuf *e)
{
	struct backend_ctx ctx = be_ctx(env, env->connect_timeout_ms);
	int r;

	switch (step) {
	case STEP_PLAN:
		ctx.preflight = 1;
		return v->opts.be->probe(&ctx, &v->att, expect, e);
	case STEP_CONNECT: {
		struct checkpoint_ud cp = { env, v };

		/* Arm the monitor before the action so no uevent can slip past. */
		r = attach_devwait_open(env, w);
		if (r < 0)
			*w = NULL; /* no netlink: find_device still checks sysfs once */
		ctx.checkpoint = checkpoint;
		ctx.checkpoint_ud = &cp;
		return v->opts.be->connect(&ctx, &v->att, e);
	}
	case STEP_AWAIT:
		return step_await(env, v, *w, note, note_n, e);
	case STEP_VERIFY:
		r = attach_mpath_wanted(v) ? attach_mpath_verify(env, v, expect, e)
					   : step_verify(env, v, expect, e);
		if (r < 0)
			return r;
		return step_claim(env, v, keep_conn, e);
	case STEP_DM:
		return step_dm(env, v, e);
	case STEP_FENCE:
		return attach_fence_up(env, v, note, note_n, e);
	case STEP_PROBE:
		return step_probe(v, need_mkfs, e);
	case STEP_MKFS:
		return *need_mkfs ? step_mkfs(env, v, e) : 0;
	case STEP_MOUNT:
		return step_mount(env, v, e);
	default:
		return -EINVAL;
	}
}

static int undo_umount(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e)
{
	const struct sys *s = &env->sys;
	int r;

	r = is_mounted(s, v->staging, NULL);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the mount table: %s", strerror(-r));
	if (r > 0) {
		r = s->ops->umount(s, v->staging, force ? MNT_DETACH : 0);
		if (r < 0)
			return errbuf_set(e, r, "unmounting %s failed: %s%s", v->staging, strerror(-r),
					  r == -EBUSY ? " (still in use; detach --force unmounts lazily)"
						      : "");
	}
	r = s->ops->rmdir(s, v->staging);
	if (r < 0 && r != -ENOENT)
		return errbuf_set(e, r, "cannot remove %s: %s", v->staging, strerror(-r));
	return 0;
}

static int undo_dm(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e)
{
	int r;

	if (force) {
		struct errbuf ignore;

		/* Fail stuck I/O instead of hanging in remove (best effort: it may be gone). */
		(void)dmap_error_swap(v->dm_name, env->device_timeout_ms, &ignore);
	}
	r = dmap_remove(v->dm_name, env->device_timeout_ms, e);
	/* No device-mapper in this kernel: there is no dm device to remove. */
	if (r == -ENODEV) {
		errbuf_clear(e);
		return 0;
	}
	return r;
}

static int hook(struct attach_env *env, struct attach_volume *v, enum attach_step step, int done)
{
	return env->step_hook ? env->step_hook(env, v, step, done) : 0;
}

/* The layer an undo step removes, i.e. what is left when it fails. */
static enum attach_step layer_of(enum attach_step undo)
{
	return undo == STEP_UMOUNT	   ? STEP_MOUNT
	       : undo == STEP_UNFENCE	   ? STEP_FENCE
	       : undo == STEP_DM_REMOVE ? STEP_DM
					   : STEP_CONNECT;
}

/* The layer left once an undo step succeeded. */
static enum attach_step below(enum attach_step undo)
{
	return undo == STEP_UMOUNT	   ? STEP_FENCE
	       : undo == STEP_UNFENCE	   ? STEP_DM
	       : undo == STEP_DM_REMOVE ? STEP_CONNECT
					   : STEP_NONE;
}

/* An undo step failed: may the layers below it still be undone? Only when nothing of the
 * failed layer still holds the device (never pull a device from under a mount or a map). */
static int below_is_free(struct attach_env *env, struct attach_volume *v, enum attach_step failed)
{
	struct dmap_info info;
	int r;

	switch (failed) {
	case STEP_UMOUNT:
		/* e.g. the mount is gone but its directory could not be removed */
		return is_mounted(&env->sys, v->staging, NULL) == 0;
	case STEP_UNFENCE:
		return 1; /* a registration holds nothing of the device */
	case STEP_DM_REMOVE:
		r = dmap_get_info(v->dm_name, &info);
		return r == -ENODEV || (r == 0 && !info.exists);
	default:
		return 0;
	}
}

/*
 * Undo from `from` down. keep_conn: the device is another user's (another volume's reused
 * connection, or held by someone else): everything this attach built above it is undone,
 * the connection itself is left alone and forgotten. A step that fails stops the undo
 * unless the layer it failed to remove no longer holds the device; e gets the first error
 * and v->reached the highest layer left, so that a retry starts there.
 */
static int run_down(struct attach_env *env, struct attach_volume *v, enum attach_step from,
		    int force, int keep_conn, struct errbuf *e)
{
	enum attach_step steps[8], left = STEP_NONE;
	size_t n = attach_plan_down(from, steps, ELEMENTSOF(steps));
	struct backend_ctx ctx = be_ctx(env, env->connect_timeout_ms);
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		struct errbuf e2 = { { 0 } };
		int64_t t0 = attach_now_us();
		int r;

		v->doing = steps[i];
		if (steps[i] != STEP_UNFENCE || attach_fence_applies(v))
			step_start(env, v, steps[i]);
		(void)hook(env, v, steps[i], 0);
		switch (steps[i]) {
		case STEP_UMOUNT:
			r = undo_umount(env, v, force, &e2);
			break;
		case STEP_UNFENCE:
			r = attach_fence_down(env, v, &e2);
			/* Done, but the release failed: pass it up for the agent to log. */
			if (r == 0 && e2.msg[0] && !first)
				*e = e2;
			break;
		case STEP_DM_REMOVE:
			r = undo_dm(env, v, force, &e2);
			if (r == 0)
				v->multipath = v->queueing = 0;
			break;
		case STEP_DISCONNECT:
			if (keep_conn) {
				if (v->opts.be->release)
					v->opts.be->release(&ctx, &v->att);
				json_object_clear(v->att.objs);
				r = 0;
			} else {
				r = v->opts.be->disconnect(&ctx, &v->att, &e2);
				if (r == 0)
					v->n_paths = 0;
				/* Done, but something was left alone (not provably ours): pass
				 * the backend's explanation up for the agent to log. */
				if (r == 0 && e2.msg[0] && !first)
					*e = e2;
			}
			break;
		default:
			r = -EINVAL;
		}
		if (steps[i] != STEP_UNFENCE || attach_fence_applies(v))
			record(env, v, steps[i], t0, r);
		if (r < 0) {
			if (!first) {
				first = r;
				*e = e2;
				errbuf_prefix(e, r, "%s", attach_step_name(steps[i]));
				left = layer_of(steps[i]);
			}
			v->reached = left;
			v->doing = STEP_NONE;
			(void)hook(env, v, steps[i], 1);
			/* Never tear down a layer under one that still holds it. */
			if (!below_is_free(env, v, steps[i]))
				return first;
			continue;
		}
		v->reached = left != STEP_NONE ? left : below(steps[i]);
		v->doing = STEP_NONE;
		(void)hook(env, v, steps[i], 1);
	}
	v->reached = left;
	v->doing = STEP_NONE;
	return first;
}

static int prepare(struct attach_env *env, struct attach_volume *v)
{
	int r;

	r = snprintf(v->staging, sizeof(v->staging), "%s/.staging/%s", env->mount_root, v->key);
	if (r < 0 || (size_t)r >= sizeof(v->staging))
		return -ENAMETOOLONG;
	if (v->opts.be == &be_file_ops)
		return be_file_set_default_path(v->opts.be_cfg,
						env->host.file_dir[0] ? env->host.file_dir
								      : ATTACH_DEFAULT_FILE_DIR,
						v->key);
	return 0;
}

int attach_volume_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	enum attach_step steps[12];
	struct attach_devwait *w = NULL;
	struct backend_identity expect = { 0 };
	int need_mkfs = 0, keep_conn = 0, r = 0;
	char note[ERRBUF_MAX] = "";
	size_t n;

	v->n_timings = 0;
	v->formatted = 0;
	v->fs_bytes = v->fs_block = 0;
	/* The backend fences by mapping (scaleio) on takeover, and says whom it cut off. */
	v->took_over_from[0] = 0;
	v->att.takeover = v->opts.takeover || v->takeover_once;
	v->att.took_over_from[0] = 0;
	r = prepare(env, v);
	if (r < 0) {
		v->takeover_once = 0;
		return errbuf_set(e, r, "cannot plan the attach of %s", v->key);
	}
	n = attach_plan_up(v->reached, v->opts.be->probe != NULL, steps, ELEMENTSOF(steps));
	for (size_t i = 0; i < n; i++) {
		int64_t t0 = attach_now_us();

		v->doing = steps[i];
		if ((steps[i] != STEP_MKFS || need_mkfs) &&
		    (steps[i] != STEP_FENCE || attach_fence_applies(v)))
			step_start(env, v, steps[i]);
		r = hook(env, v, steps[i], 0);
		if (r < 0)
			errbuf_set(e, r, "cannot record the volume's state: %s", strerror(-r));
		else
			r = run_up_step(env, v, steps[i], &w, &expect, &need_mkfs, &keep_conn,
					note, sizeof(note), e);
		if ((steps[i] != STEP_MKFS || need_mkfs) &&
		    (steps[i] != STEP_FENCE || attach_fence_applies(v)))
			record(env, v, steps[i], t0, r);
		if (r == 0 && steps[i] == STEP_AWAIT)
			/* Nothing after the await listens: stop receiving every block event. */
			w = attach_devwait_free(w);
		if (r == 0) {
			v->reached = steps[i];
			v->doing = STEP_NONE;
			r = hook(env, v, steps[i], 1);
			if (r < 0)
				errbuf_set(e, r, "cannot record the volume's state: %s",
					   strerror(-r));
		}
		if (r < 0) {
			struct errbuf undo = { { 0 } };

			errbuf_prefix(e, r, "%s", attach_step_name(steps[i]));
			w = attach_devwait_free(w);
			/* Roll back everything the failed step may have started. */
			if (run_down(env, v, steps[i], 0, keep_conn, &undo) < 0) {
				struct errbuf first = *e;

				errbuf_set(e, r, "%.500s (and rolling back failed: %.400s)",
					   first.msg, undo.msg);
			}
			v->takeover_once = 0;
			return r;
		}
	}
	attach_devwait_free(w);
	v->takeover_once = 0;
	/* A backend that took the volume from another host (scaleio: unmapped its SDC). */
	if (!v->took_over_from[0] && v->att.took_over_from[0])
		snprintf(v->took_over_from, sizeof(v->took_over_from), "%s",
			 v->att.took_over_from);
	/* Attached, but a configured path was refused (another LU behind it): e says which,
	 * for the caller to log. */
	if (note[0])
		snprintf(e->msg, sizeof(e->msg), "%s", note);
	return 0;
}

int attach_volume_down(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e)
{
	int r;

	v->n_timings = 0;
	v->formatted = 0;
	v->fs_bytes = v->fs_block = 0;
	r = prepare(env, v);
	if (r < 0)
		return errbuf_set(e, r, "cannot plan the detach of %s", v->key);
	/* From the top: every undo is idempotent, so a partial record is safe to replay. A
	 * record can say "connect started" with nothing reached yet (no probe step). */
	return run_down(env, v,
			v->reached == STEP_NONE && v->doing == STEP_NONE ? STEP_NONE : STEP_MOUNT,
			force, 0, e);
}

int attach_volume_rollback(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	int r;

	r = prepare(env, v);
	if (r < 0)
		return errbuf_set(e, r, "cannot plan the rollback of %s", v->key);
	/* A crash inside the fence step: our key may be registered, or reserved. */
	if (v->doing == STEP_FENCE && v->fence_status == ATTACH_FENCE_ST_NONE) {
		v->fence_status = ATTACH_FENCE_ST_HELD;
		v->fence_key = env->fencing_key;
	}
	if (v->doing == STEP_CONNECT) {
		struct backend_ctx ctx = be_ctx(env, env->connect_timeout_ms);
		struct errbuf ignore;

		/* Learn what the interrupted connect made (it finds rather than remakes); a
		 * rollback never takes a volume from another host. */
		v->att.takeover = 0;
		(void)v->opts.be->connect(&ctx, &v->att, &ignore);
	}
	return attach_volume_down(env, v, 0, e);
}

static int bind_is_live(const struct sys *s, const char *path, const struct attach_mnt *staging)
{
	struct attach_mnt m;
	struct stat st;
	int r = is_mounted(s, path, &m);

	if (r <= 0)
		return r;
	/* Same filesystem as the staging mount and still answering: live. Otherwise it is
	 * stale (e.g. left over from an earlier attach of another device). */
	if (m.major != staging->major || m.minor != staging->minor)
		return -ESTALE;
	if (stat(path, &st) < 0)
		return -ESTALE;
	return 1;
}

int attach_bind(struct attach_env *env, struct attach_volume *v, const char *container,
		char *ret_path, size_t n, struct errbuf *e)
{
	const struct sys *s = &env->sys;
	struct attach_mnt staging;
	unsigned long flags = 0;
	char path[4096], data[256];
	int64_t t0 = attach_now_us();
	int r;

	step_start(env, v, STEP_BIND);
	r = attach_container_path(env, v->key, container, path, sizeof(path));
	if (r < 0)
		return errbuf_set(e, r, "invalid container name '%s'", container);
	r = prepare(env, v);
	if (r < 0)
		return errbuf_set(e, r, "cannot plan the bind of %s", v->key);
	r = is_mounted(s, v->staging, &staging);
	if (r <= 0)
		return errbuf_set(e, r < 0 ? r : -ENOENT, "volume %s is not staged at %s", v->key,
				  v->staging);
	r = bind_is_live(s, path, &staging);
	if (r == 1)
		goto done;
	if (r == -ESTALE) {
		r = s->ops->umount(s, path, MNT_DETACH);
		if (r < 0 && r != -EINVAL)
			return errbuf_set(e, r, "cannot clear the stale mount at %s: %s", path,
					  strerror(-r));
	}
	r = s->ops->mkdir_p(s, path, 0755);
	if (r < 0)
		return errbuf_set(e, r, "cannot create %s: %s", path, strerror(-r));
	r = s->ops->mount(s, v->staging, path, NULL, MS_BIND, NULL);
	if (r < 0)
		return errbuf_set(e, r, "bind-mounting %s on %s failed: %s", v->staging, path,
				  strerror(-r));
	/* A bind mount ignores flags on creation: apply nosuid,nodev(,ro) with a remount. */
	r = mount_flags(v, &flags, data, sizeof(data));
	if (r == 0)
		r = s->ops->mount(s, NULL, path, NULL, MS_BIND | MS_REMOUNT | flags, NULL);
	if (r < 0) {
		s->ops->umount(s, path, MNT_DETACH);
		return errbuf_set(e, r, "setting mount flags on %s failed: %s", path, strerror(-r));
	}
done:
	record(env, v, STEP_BIND, t0, 0);
	if (ret_path)
		snprintf(ret_path, n, "%s", path);
	return 0;
}

int attach_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
		  struct errbuf *e)
{
	const struct sys *s = &env->sys;
	char path[4096], dir[4096];
	int64_t t0 = attach_now_us();
	int r;

	step_start(env, v, STEP_UNBIND);
	r = attach_container_path(env, v->key, container, path, sizeof(path));
	if (r < 0)
		return errbuf_set(e, r, "invalid container name '%s'", container);
	r = is_mounted(s, path, NULL);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the mount table: %s", strerror(-r));
	if (r > 0) {
		r = s->ops->umount(s, path, 0);
		/* Like CF's own drivers (umount -l): a container's open files must not make its
		 * teardown fail. */
		if (r == -EBUSY)
			r = s->ops->umount(s, path, MNT_DETACH);
		if (r < 0)
			return errbuf_set(e, r, "unmounting %s failed: %s", path, strerror(-r));
	}
	r = s->ops->rmdir(s, path);
	if (r < 0 && r != -ENOENT)
		return errbuf_set(e, r, "cannot remove %s: %s", path, strerror(-r));
	snprintf(dir, sizeof(dir), "%s/%s", env->mount_root, v->key);
	(void)s->ops->rmdir(s, dir); /* only succeeds once the last container is gone */
	record(env, v, STEP_UNBIND, t0, 0);
	return 0;
}

int attach_env_check(struct attach_env *env, struct errbuf *e)
{
	int r;

	(void)env;
	r = dmap_init(e);
	if (r < 0)
		return errbuf_prefix(e, r, "this host cannot attach volumes");
	if (access("/run/udev/control", F_OK) < 0)
		return errbuf_set(e, 1,
				  "udev is not running (no /run/udev/control): attaches fall back "
				  "to kernel uevents, and /dev/disk links and udev rules will be "
				  "missing; start systemd-udevd");
	return 0;
}

void attach_env_init(struct attach_env *env, const char *mount_root)
{
	memset(env, 0, sizeof(*env));
	sys_init_real(&env->sys);
	snprintf(env->mount_root, sizeof(env->mount_root), "%s", mount_root);
	env->connect_timeout_ms = 30000;
	env->device_timeout_ms = 30000;
	env->mkfs_timeout_ms = 300000;
}
