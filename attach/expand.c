/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Online expand: the array grew a volume; grow the stack on top of it without unmounting.
 * Order matters and is the one os-brick and Kubernetes use: every path's device re-reads
 * its size (backend rescan), then the dm map is reloaded with the new size (noflush: I/O
 * goes on), then the filesystem grows (resize2fs on the device for ext4, xfs_growfs on the
 * mount point for xfs). Nothing ever shrinks: a device smaller than its map or its
 * filesystem means the array lost the volume's end, and touching anything then could only
 * make it worse, so it is refused before any change.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/internal.h"
#include "dm/dmap.h"

static void fmt_size(uint64_t b, char *buf, size_t n)
{
	static const char *const u[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)b;
	unsigned i = 0;

	while (i + 1 < ELEMENTSOF(u) && v >= 1024) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, n, "%" PRIu64 " bytes", b);
	else
		snprintf(buf, n, "%.1f %s (%" PRIu64 " bytes)", v, u[i], b);
}

int attach_expand_decide(uint64_t dev, uint64_t map, uint64_t fs, uint64_t fs_block,
			 unsigned *ret_actions, struct errbuf *e)
{
	char d[64], m[64], f[64];
	unsigned act = 0;

	fmt_size(dev, d, sizeof(d));
	fmt_size(map, m, sizeof(m));
	fmt_size(fs, f, sizeof(f));
	if (dev == 0 || map == 0)
		return errbuf_set(e, -EIO, "cannot tell the size of the volume's %s",
				  dev == 0 ? "device" : "dm map");
	if (dev < map)
		return errbuf_set(e, -ERANGE,
				  "the device is %s, smaller than its dm map (%s): the volume "
				  "shrank on the array? attachd never shrinks a volume and changed "
				  "nothing; give the volume back its size on the array",
				  d, m);
	if (fs > dev)
		return errbuf_set(e, -ERANGE,
				  "the device is %s, smaller than its filesystem (%s): attachd "
				  "never shrinks a filesystem and changed nothing; give the volume "
				  "back its size on the array",
				  d, f);
	if (dev > map)
		act |= ATTACH_EXPAND_DM;
	/* One block of slack, as Kubernetes' NeedResize: a device that is not a whole
	 * number of filesystem blocks leaves a tail no tool can use. */
	if (fs && dev - fs > (fs_block ? fs_block : 4096))
		act |= ATTACH_EXPAND_FS;
	*ret_actions = act;
	return 0;
}

/* The number after `key` at the start of a line of text ("Block count:  262144"). */
static int line_u64(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		unsigned long long v;
		char *end;

		if (strncmp(p, key, kl))
			continue;
		p += kl;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || (*end && *end != '\n' && *end != ' ' && *end != '\r'))
			return -EINVAL;
		*ret = v;
		return 0;
	}
	return -ENOENT;
}

int attach_fs_size_parse(const char *fs, const char *out, uint64_t *ret_bytes, uint64_t *ret_block)
{
	uint64_t blocks = 0, bsize = 0;
	int r;

	if (!out)
		return -EINVAL;
	if (streq(fs, "ext4")) {
		/* dumpe2fs -h */
		r = line_u64(out, "Block count:", &blocks);
		if (r == 0)
			r = line_u64(out, "Block size:", &bsize);
	} else if (streq(fs, "xfs")) {
		/* xfs_io -c statfs: the data section's geometry (XFS_IOC_FSGEOMETRY) */
		r = line_u64(out, "geom.datablocks =", &blocks);
		if (r == 0)
			r = line_u64(out, "geom.bsize =", &bsize);
	} else
		return -EOPNOTSUPP;
	if (r < 0)
		return -EINVAL;
	if (!blocks || !bsize || (bsize & (bsize - 1)) || blocks > UINT64_MAX / bsize)
		return -EINVAL;
	*ret_bytes = blocks * bsize;
	*ret_block = bsize;
	return 0;
}

static void trim(char *s)
{
	size_t l = s ? strlen(s) : 0;

	while (l > 0 && (s[l - 1] == '\n' || s[l - 1] == ' '))
		s[--l] = 0;
}

/* The mounted filesystem's size, asked of the filesystem's own tools the way Kubernetes
 * does: dumpe2fs reads the superblock the kernel keeps current in the device's page
 * cache; xfs_io asks the mounted XFS for its geometry. */
static int fs_size(struct attach_env *env, struct attach_volume *v, uint64_t *ret_bytes,
		   uint64_t *ret_block, struct errbuf *e)
{
	char *ext4[] = {"dumpe2fs", "-h", v->dm_devnode, NULL};
	char *xfs[] = {"xfs_io", "-r", "-c", "statfs", v->staging, NULL};
	int is_xfs = streq(v->opts.fs, "xfs");
	_cleanup_free_ char *out = NULL;
	int r;

	r = sys_run(&env->sys, is_xfs ? xfs : ext4, env->connect_timeout_ms, &out);
	if (r < 0)
		return errbuf_set(e, r, "cannot run %s: %s", is_xfs ? "xfs_io" : "dumpe2fs",
				  strerror(-r));
	if (r == 0)
		r = attach_fs_size_parse(v->opts.fs, out, ret_bytes, ret_block);
	else
		r = -EIO;
	if (r < 0) {
		trim(out);
		return errbuf_set(e, -EIO,
				  "cannot read the size of the %s filesystem on %s: %.200s",
				  v->opts.fs, is_xfs ? v->staging : v->dm_devnode, out ? out : "");
	}
	return 0;
}

static int grow_fs(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	char *ext4[] = {"resize2fs", v->dm_devnode, NULL};
	char *xfs[] = {"xfs_growfs", "-d", v->staging, NULL};
	int is_xfs = streq(v->opts.fs, "xfs");
	const char *tool = is_xfs ? "xfs_growfs" : "resize2fs";
	_cleanup_free_ char *out = NULL;
	int r;

	r = sys_run(&env->sys, is_xfs ? xfs : ext4, env->mkfs_timeout_ms, &out);
	if (r == -ETIMEDOUT)
		return errbuf_set(e, r, "%s did not finish within %d s; the volume stays mounted",
				  tool, env->mkfs_timeout_ms / 1000);
	if (r < 0)
		return errbuf_set(e, r, "cannot run %s: %s", tool, strerror(-r));
	if (r != 0) {
		trim(out);
		return errbuf_set(
		    e, -EIO,
		    "%s could not grow the %s filesystem online (exit %d): %.300s; the "
		    "volume stays mounted at its old size",
		    tool, v->opts.fs, r, out ? out : "");
	}
	return 0;
}

/* The size of one device of the volume (bytes), after checking that its kernel name
 * still is the device the volume uses (names are reused when a disk goes). */
static int dev_size(const struct sys *s, const struct backend_device *d, uint64_t *ret,
		    struct errbuf *e)
{
	char attr[128], val[32], want[32], *end;
	unsigned long long sectors;
	int r;

	snprintf(attr, sizeof(attr), "/sys/block/%s/dev", d->sysname);
	r = sys_read_attr(s, attr, val, sizeof(val));
	if (r < 0)
		return errbuf_set(e, r == -ENOENT ? -ENODEV : r, "%s is gone (%s: %s)", d->sysname,
				  attr, strerror(-r));
	snprintf(want, sizeof(want), "%u:%u", d->major, d->minor);
	if (!streq(val, want))
		return errbuf_set(e, -ENODEV,
				  "%s is now another device (%s, the volume's was %s); nothing "
				  "was changed",
				  d->sysname, val, want);
	snprintf(attr, sizeof(attr), "/sys/block/%s/size", d->sysname);
	r = sys_read_attr(s, attr, val, sizeof(val));
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", attr, strerror(-r));
	errno = 0;
	sectors = strtoull(val, &end, 10);
	if (errno || end == val || *end || sectors > UINT64_MAX / 512)
		return errbuf_set(e, -EIO, "%s: unexpected '%s'", attr, val);
	*ret = (uint64_t)sectors * 512;
	return 0;
}

/* The devices that carry the volume: every path of a dm-multipath map, else the one
 * device (NVMe's native multipath head included). */
static unsigned volume_devs(struct attach_volume *v, struct attach_path **ret_paths)
{
	if (v->multipath && v->n_paths > 0) {
		*ret_paths = v->paths;
		return v->n_paths;
	}
	*ret_paths = NULL;
	return 1;
}

/*
 * The volume's device size now: every path must agree. -EAGAIN with e when they do not
 * (some path has not seen the new size: a failed path, or a rescan still on its way);
 * *ret_min is then the smallest, so the caller can still refuse a shrink.
 */
static int volume_size(struct attach_env *env, struct attach_volume *v, uint64_t *ret,
		       uint64_t *ret_min, struct errbuf *e)
{
	struct attach_path *paths;
	unsigned n = volume_devs(v, &paths);
	uint64_t lo = UINT64_MAX, hi = 0;
	char lag[256] = "";

	for (unsigned i = 0; i < n; i++) {
		const struct backend_device *d = paths ? &paths[i].bp.dev : &v->dev;
		uint64_t sz;
		int r = dev_size(&env->sys, d, &sz, e);

		if (r < 0)
			return r;
		lo = sz < lo ? sz : lo;
		hi = sz > hi ? sz : hi;
	}
	*ret_min = lo;
	if (lo == hi) {
		*ret = lo;
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		uint64_t sz = 0;
		size_t l = strlen(lag);

		(void)dev_size(&env->sys, &paths[i].bp.dev, &sz, e);
		if (sz < hi)
			snprintf(lag + l, sizeof(lag) - l, "%s%s (%s%s)", l ? ", " : "",
				 paths[i].bp.dev.sysname, paths[i].bp.id,
				 paths[i].failed ? ", failed" : "");
	}
	return errbuf_set(e, -EAGAIN,
			  "not every path shows the new size (%" PRIu64 " bytes): %s still "
			  "report%s %" PRIu64 " bytes; the map grows only when all paths do: "
			  "bring them back and run `attachctl expand %s` again",
			  hi, lag, strchr(lag, ',') ? "" : "s", lo, v->key);
}

/* Ask the backend to re-read the size of every device of the volume; 1 when some rescan
 * finishes later (NVMe), 0 when the sizes are current. */
static int rescan_all(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	const struct backend_ops *be = v->opts.be;
	struct backend_ctx ctx = {
	    .sys = &env->sys, .host = &env->host, .timeout_ms = env->connect_timeout_ms};
	struct attach_path *paths;
	unsigned n = volume_devs(v, &paths);
	int later = 0;

	if (!be->rescan)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		int r;

		/* A failed path's rescan would block behind its dead transport; it is
		 * named below if its size lags. */
		if (paths && paths[i].failed)
			continue;
		r = be->rescan(&ctx, &v->att, paths ? &paths[i].bp.dev : &v->dev, e);
		if (r < 0)
			return errbuf_prefix(e, r, "rescan of %s failed",
					     paths ? paths[i].bp.dev.sysname : v->dev.sysname);
		later |= r > 0;
	}
	return later;
}

static int grow_map(struct attach_env *env, struct attach_volume *v,
		    const struct attach_expand_dm *dm, uint64_t size, struct errbuf *e)
{
	uint64_t old = v->ident.size_bytes;
	struct dmap_target t;
	int r;

	v->ident.size_bytes = size;
	if (v->multipath)
		r = attach_paths_table(&env->sys, v, v->queueing, &t);
	else
		r = dmap_table_linear(size, v->dev.major, v->dev.minor, &t);
	if (r < 0) {
		v->ident.size_bytes = old;
		return errbuf_set(e, r, "cannot build the grown dm table of %s", v->dm_name);
	}
	r = dm->grow ? dm->grow(dm->ud, v->dm_name, &t, 1, env->device_timeout_ms, e)
		     : dmap_grow(v->dm_name, &t, 1, env->device_timeout_ms, e);
	if (r < 0)
		v->ident.size_bytes = old; /* the path checker's reloads keep the old size */
	return r;
}

static int map_size(const struct attach_expand_dm *dm, const char *name, uint64_t *ret)
{
	struct dmap_info info;
	int r;

	if (dm->size)
		return dm->size(dm->ud, name, ret);
	r = dmap_get_info(name, &info);
	if (r < 0)
		return r;
	if (!info.exists)
		return -ENXIO;
	*ret = info.size_bytes;
	return 0;
}

static void record_step(struct attach_volume *v, int64_t t0, int r)
{
	if (v->n_timings >= ATTACH_MAX_STEPS)
		return;
	v->timings[v->n_timings++] =
	    (struct attach_timing){.step = STEP_EXPAND, .usec = attach_now_us() - t0, .result = r};
}

/* Wait (up to deadline) for a rescan that finishes later to show a size above map. */
static void await_growth(struct attach_env *env, struct attach_volume *v, struct attach_devwait *w,
			 uint64_t map, int64_t deadline)
{
	for (;;) {
		struct errbuf ignore = {{0}};
		uint64_t sz = 0, lo = 0;

		if (volume_size(env, v, &sz, &lo, &ignore) == 0 && sz > map)
			return;
		if (!w || attach_devwait_next(w, deadline) < 0)
			return;
	}
}

static int expand(struct attach_env *env, struct attach_volume *v,
		  const struct attach_expand_dm *dm, int wait_ms, struct attach_expand_result *res,
		  struct errbuf *e)
{
	struct attach_devwait *w = NULL;
	uint64_t size = 0, lo = 0, map = 0, fs = 0, block = 0;
	unsigned act = 0;
	int r, later;

	if (v->reached < STEP_MOUNT || !v->staging[0] ||
	    attach_path_is_mounted(env, v->staging) <= 0)
		return errbuf_set(e, -ENOTCONN,
				  "volume %s is not attached and mounted here: nothing to grow",
				  v->key);
	r = map_size(dm, v->dm_name, &map);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the size of dm device %s: %s", v->dm_name,
				  strerror(-r));
	res->map_before = res->map_after = map;
	res->fs_before = res->fs_after = v->fs_bytes;

	/* Armed before the rescan, so the uevent of a rescan that ends later is not missed. */
	if (wait_ms > 0 && attach_devwait_open(env, &w) < 0)
		w = NULL;
	later = rescan_all(env, v, e);
	if (later > 0 && wait_ms > 0)
		await_growth(env, v, w, map, attach_now_ms() + wait_ms);
	w = attach_devwait_free(w);
	if (later < 0)
		return later;

	r = volume_size(env, v, &size, &lo, e);
	if (r == -EAGAIN && lo < map)
		r = 0, size = lo; /* a shrink on some path: refused below, by name */
	if (r < 0)
		return r;
	res->device = size;
	/* The size the probe (or the last check) read needs no tool run as long as it says
	 * "nothing to do": the filesystem cannot have shrunk under attachd's staging mount.
	 * Anything else (a grown device, a refusal) is decided on the tools' answer. */
	fs = v->fs_bytes;
	block = v->fs_block;
	if (!fs || attach_expand_decide(size, map, fs, block, &act, e) < 0 || act) {
		errbuf_clear(e);
		r = fs_size(env, v, &fs, &block, e);
		if (r < 0)
			return r;
		v->fs_bytes = fs;
		v->fs_block = block;
		r = attach_expand_decide(size, map, fs, block, &act, e);
		if (r < 0) {
			res->fs_before = res->fs_after = fs;
			return r;
		}
	}
	res->fs_before = res->fs_after = fs;
	if (act & ATTACH_EXPAND_DM) {
		r = grow_map(env, v, dm, size, e);
		if (r < 0)
			return errbuf_prefix(e, r,
					     "growing dm device %s to %" PRIu64 " bytes failed",
					     v->dm_name, size);
		res->grew_dm = 1;
		res->map_after = size;
	}
	if (!(act & ATTACH_EXPAND_FS))
		return 0;
	if (v->opts.readonly)
		return errbuf_set(e, -EROFS,
				  "the %s filesystem is mounted read-only (a readonly volume) and "
				  "cannot grow online; it stays mounted at its old size and grows "
				  "at its next read-write attach",
				  v->opts.fs);
	r = grow_fs(env, v, e);
	if (r < 0)
		return r;
	v->fs_bytes = 0; /* unknown until read back */
	r = fs_size(env, v, &fs, &block, e);
	if (r < 0)
		return errbuf_prefix(e, r, "the filesystem was grown, but");
	v->fs_bytes = fs;
	v->fs_block = block;
	res->fs_after = fs;
	res->grew_fs = fs > res->fs_before;
	return 0;
}

int attach_volume_expand_dm(struct attach_env *env, struct attach_volume *v,
			    const struct attach_expand_dm *dm, int wait_ms,
			    struct attach_expand_result *res, struct errbuf *e)
{
	static const struct attach_expand_dm real;
	int64_t t0 = attach_now_us();
	int r;

	memset(res, 0, sizeof(*res));
	r = expand(env, v, dm ? dm : &real, wait_ms, res, e);
	record_step(v, t0, r);
	return r;
}

int attach_volume_expand(struct attach_env *env, struct attach_volume *v, int wait_ms,
			 struct attach_expand_result *res, struct errbuf *e)
{
	return attach_volume_expand_dm(env, v, NULL, wait_ms, res, e);
}
