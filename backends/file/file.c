/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File backend, kernel side: create/open the data file, bind it to a loop device (or find
 * the one already bound after a crash), report it, and unbind it. The data file itself is
 * never truncated, shrunk or deleted once it holds data.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backends/file/internal.h"

/* How long disconnect waits for the kernel to finish unbinding after LOOP_CLR_FD. */
#define UNBIND_WAIT_MAX_MS 5000
#define UNBIND_POLL_MS 10

static const char *objs_str(const json_t *objs, const char *key)
{
	return objs ? json_string_value(json_object_get(objs, key)) : NULL;
}

static int objs_set(json_t *objs, const char *key, json_t *v)
{
	return v && json_object_set_new(objs, key, v) == 0 ? 0 : -ENOMEM;
}

static int format_size(uint64_t b, char *buf, size_t n)
{
	static const char *const u[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	unsigned i = 0;

	while (i + 1 < ELEMENTSOF(u) && b >= 1024 && b % 1024 == 0) {
		b /= 1024;
		i++;
	}
	return snprintf(buf, n, "%" PRIu64 " %s", b, u[i]);
}

static int openat2_beneath(int dir_fd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {
	    /* openat2 refuses flags that do not apply (O_NOCTTY with O_PATH). */
	    .flags = (uint64_t)flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY),
	    .mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? mode : 0,
	    /* Beneath file.dir, through real directories only: no "..", no symbolic link
	     * (an admin's or a tenant's), no /proc magic link. */
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	fd = (int)syscall(SYS_openat2, dir_fd, name, &how, sizeof(how));
	return fd < 0 ? negative_errno() : fd;
}

/*
 * Create name in parent with its full size in one step: an unnamed O_TMPFILE inode is
 * sized, then linked in, so a crash never leaves a short file that the "never grow an
 * existing file" rule would then refuse. -EEXIST when the name is taken (the caller opens
 * it instead).
 */
static int create_sized(int parent, const char *name, uint64_t size, int *ret_fd)
{
	_cleanup_close_ int fd = -EBADF, named = -EBADF;
	struct stat tmp, st;
	char proc[64];

	fd = openat2_beneath(parent, ".", O_TMPFILE | O_RDWR, 0600);
	if (fd == -EOPNOTSUPP || fd == -EISDIR || fd == -EINVAL) {
		/* No O_TMPFILE on this filesystem: create, then size, then undo on failure. */
		fd = openat2_beneath(parent, name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			return fd;
		if (ftruncate(fd, (off_t)size) < 0) {
			int r = negative_errno();

			(void)unlinkat(parent, name, 0);
			return r;
		}
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
	if (fd < 0)
		return fd;
	/* Size made durable before the name appears. */
	if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0)
		return negative_errno();
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, parent, name, AT_SYMLINK_FOLLOW) < 0)
		return negative_errno();
	/* Reopen by name: the loop driver reports the path of the fd it was given, and the
	 * O_TMPFILE fd's is "<dir>/#<inode> (deleted)" forever, which nobody could read. */
	if (fstat(fd, &tmp) < 0)
		return negative_errno();
	named = openat2_beneath(parent, name, O_RDWR, 0);
	if (named < 0)
		return named;
	if (fstat(named, &st) < 0 || st.st_ino != tmp.st_ino || st.st_dev != tmp.st_dev)
		return -EEXIST; /* replaced under us: treat like any existing file */
	*ret_fd = TAKE_FD(named);
	return 0;
}

/* An existing file: looked at through O_PATH first (opening a FIFO or a device node could
 * block or have side effects), then reopened read-write through that very inode. */
static int open_existing(int parent, const char *name, int *ret_fd)
{
	_cleanup_close_ int pfd = -EBADF;
	struct stat st;
	char proc[64];
	int fd;

	pfd = openat2_beneath(parent, name, O_PATH, 0);
	if (pfd < 0)
		return pfd;
	if (fstat(pfd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -BE_FILE_ENOTREG;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	*ret_fd = fd;
	return 0;
}

int be_file_open_beneath(int dir_fd, const char *rel, uint64_t size, int *ret_fd, int *ret_created,
			 int *ret_parent_fd)
{
	_cleanup_close_ int parent = -EBADF, fd = -EBADF;
	char buf[BE_FILE_PATH_MAX];
	char *p = buf, *slash;
	int created = 0, r;

	if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	parent = openat2_beneath(dir_fd, ".", O_PATH | O_DIRECTORY, 0);
	if (parent < 0)
		return parent;
	/* One directory at a time, each beneath the last: missing ones are ours to make. */
	while ((slash = strchr(p, '/'))) {
		int next;

		*slash = 0;
		next = openat2_beneath(parent, p, O_PATH | O_DIRECTORY, 0);
		if (next == -ENOENT && size) {
			if (mkdirat(parent, p, 0700) < 0 && errno != EEXIST)
				return negative_errno();
			next = openat2_beneath(parent, p, O_PATH | O_DIRECTORY, 0);
		}
		if (next < 0)
			return next;
		close(parent);
		parent = next;
		p = slash + 1;
	}
	r = -EEXIST;
	if (size) {
		r = create_sized(parent, p, size, &fd);
		if (r == 0)
			created = 1;
		else if (r != -EEXIST)
			return r;
	}
	if (!created) {
		r = open_existing(parent, p, &fd);
		if (r < 0)
			return r;
	} else {
		_cleanup_close_ int sync_fd =
		    openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (sync_fd >= 0)
			(void)fsync(sync_fd); /* the new name is durable */
	}
	*ret_fd = TAKE_FD(fd);
	*ret_created = created;
	if (ret_parent_fd)
		*ret_parent_fd = TAKE_FD(parent);
	return 0;
}

/* The sentence for a failed open beneath file.dir. */
static int open_error(struct errbuf *e, int r, const struct be_file_cfg *cfg)
{
	const char *rel = cfg->resolved_rel, *dir = cfg->dir;

	switch (r) {
	case -ELOOP:
		return errbuf_set(e, r,
				  "path '%s' beneath file.dir %s goes through a symbolic "
				  "link; attachd follows no links there: name the real file",
				  rel, dir);
	case -EXDEV:
		return errbuf_set(e, r, "path '%s' leaves file.dir %s; it must stay beneath it",
				  rel, dir);
	case -ENOSYS:
		return errbuf_set(e, r,
				  "this kernel has no openat2 (Linux 5.6 or later is needed "
				  "to confine file volumes beneath file.dir)");
	case -BE_FILE_ENOTREG:
		return errbuf_set(e, -EINVAL, "%s is not a regular file; a file volume needs one",
				  cfg->path);
	case -ENOENT:
		if (!cfg->size)
			return errbuf_set(e, r,
					  "%s does not exist and no size was given to "
					  "create it",
					  cfg->path);
		break;
	case -ENOTDIR:
		return errbuf_set(e, r, "a component of path '%s' beneath %s is not a directory",
				  rel, dir);
	case -EFBIG:
	case -EINVAL:
		if (cfg->size)
			return errbuf_set(e, r,
					  "cannot make %s %" PRIu64 " bytes: %s (the "
					  "filesystem holding it does not allow files this large?)",
					  cfg->path, cfg->size, strerror(-r));
		break;
	}
	return errbuf_set(e, r, "cannot %s %s: %s", cfg->size ? "create or open" : "open",
			  cfg->path, strerror(-r));
}

/* Check an opened data file against the options. */
static int check_backing(const struct be_file_cfg *cfg, int fd, int created, struct stat *ret,
			 struct errbuf *e)
{
	char have[32], want[32];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return errbuf_set(e, negative_errno(), "cannot stat %s", cfg->path);
	if (!S_ISREG(st.st_mode))
		return errbuf_set(e, -EINVAL, "%s is not a regular file", cfg->path);
	if (!created) {
		format_size((uint64_t)st.st_size, have, sizeof(have));
		if (cfg->size && (uint64_t)st.st_size < cfg->size) {
			format_size(cfg->size, want, sizeof(want));
			return errbuf_set(
			    e, -EINVAL,
			    "existing file %s is %s, smaller than size %s; attachd never "
			    "grows or truncates an existing file (grow it yourself, or ask "
			    "for at most %s)",
			    cfg->path, have, want, have);
		}
		if ((uint64_t)st.st_size < BE_FILE_SIZE_MIN)
			return errbuf_set(e, -EINVAL,
					  "existing file %s is %s, below the minimum "
					  "of 16 MiB",
					  cfg->path, have);
	}
	*ret = st;
	return 0;
}

static int objs_u64(const json_t *objs, const char *key, uint64_t *ret)
{
	const json_t *v = objs ? json_object_get(objs, key) : NULL;

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -ENOENT;
	*ret = (uint64_t)json_integer_value(v);
	return 0;
}

/* The identity recorded by connect: the file's (dev, ino) and the mark. -ENOENT when the
 * record has none (written before attachd marked its loop devices). */
static int recorded_identity(const json_t *objs, uint64_t *dev, uint64_t *ino, const char **mark)
{
	*mark = objs_str(objs, "mark");
	if (!*mark || !startswith(*mark, "attachd:") || objs_u64(objs, "dev", dev) < 0 ||
	    objs_u64(objs, "ino", ino) < 0)
		return -ENOENT;
	return 0;
}

int be_file_connect(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e)
{
	const struct be_file_cfg *cfg = a->cfg;
	_cleanup_close_ int dir_fd = -EBADF, fd = -EBADF, parent = -EBADF;
	char name[32], mark[LO_NAME_SIZE];
	const char *base;
	uint64_t pdev = 0, pino = 0;
	struct be_file_loops loops;
	struct stat st = {0};
	unsigned nr = 0;
	int created = 0, fresh = 0, r;

	if (!cfg || cfg->dir[0] != '/' || !cfg->resolved_rel[0])
		return errbuf_set(
		    e, -EINVAL, "file backend: no path (be_file_set_default_path was not called)");
	if (!a->objs) {
		a->objs = json_object();
		if (!a->objs)
			return -ENOMEM;
	}
	/* file.dir itself: the agent makes it at start; again here if it was removed since. */
	r = ctx->sys->ops->mkdir_p(ctx->sys, cfg->dir, 0700);
	if (r < 0)
		return errbuf_set(e, r, "cannot create file.dir %s: %s", cfg->dir, strerror(-r));
	dir_fd = open(cfg->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0) {
		r = negative_errno();
		return errbuf_set(e, r, "cannot open file.dir %s: %s", cfg->dir, strerror(-r));
	}
	r = be_file_open_beneath(dir_fd, cfg->resolved_rel, cfg->size, &fd, &created, &parent);
	if (r < 0)
		return open_error(e, r, cfg);
	fresh = created;
	base = strrchr(cfg->resolved_rel, '/');
	base = base ? base + 1 : cfg->resolved_rel;
	r = check_backing(cfg, fd, created, &st, e);
	if (r < 0)
		goto fail;

	be_file_loop_mark(cfg->key, mark, sizeof(mark));
	/* "created" stays true across a re-connect of the same file (crash recovery); only
	 * fresh (made by this very call, so empty) may be removed again on failure. */
	if (objs_u64(a->objs, "dev", &pdev) == 0 && objs_u64(a->objs, "ino", &pino) == 0 &&
	    pdev == (uint64_t)st.st_dev && pino == (uint64_t)st.st_ino &&
	    json_is_true(json_object_get(a->objs, "created")))
		created = 1;
	r = objs_set(a->objs, "file", json_string(cfg->path));
	if (r == 0)
		r = objs_set(a->objs, "dev", json_integer((json_int_t)st.st_dev));
	if (r == 0)
		r = objs_set(a->objs, "ino", json_integer((json_int_t)st.st_ino));
	if (r == 0)
		r = objs_set(a->objs, "mark", json_string(mark));
	if (r == 0)
		r = objs_set(a->objs, "created", json_boolean(created));
	if (r < 0) {
		errbuf_set(e, r, "out of memory recording %s", cfg->path);
		goto fail;
	}

	r = be_file_loop_find_file(cfg->loop, cfg->loop_ud, ctx->sys, (uint64_t)st.st_dev,
				   (uint64_t)st.st_ino, mark, &loops);
	if (r < 0) {
		errbuf_set(e, r, "cannot scan loop devices: %s", strerror(-r));
		goto fail;
	}
	/* Never two block devices on one image, and never adopt somebody else's. */
	if (loops.foreign >= 0 && startswith(loops.foreign_name, "attachd:")) {
		r = errbuf_set(e, -EBUSY,
			       "%s is already attached by attachd as volume '%s' (/dev/loop%d); "
			       "one image cannot back two volumes",
			       cfg->path, loops.foreign_name + strlen("attachd:"), loops.foreign);
		goto fail;
	}
	if (loops.foreign >= 0) {
		r = errbuf_set(
		    e, -EBUSY,
		    "%s is already bound to /dev/loop%d, which attachd did not create; "
		    "refusing to put a second loop device on the same file (two writers "
		    "corrupt it): detach it (losetup -d /dev/loop%d) or give this volume "
		    "another file",
		    cfg->path, loops.foreign, loops.foreign);
		goto fail;
	}
	if (loops.ours >= 0)
		nr = (unsigned)loops.ours; /* ours from before a crash or restart: adopt it */
	else {
		r = be_file_loop_attach(cfg->loop, cfg->loop_ud, ctx->sys, fd, cfg->path, mark, &nr,
					e);
		if (r < 0)
			goto fail;
	}
	snprintf(name, sizeof(name), "loop%u", nr);
	return objs_set(a->objs, "loop", json_string(name));

fail:
	if (fresh) {
		/* Made by this call, brand new and empty: leave nothing behind. A file made by
		 * an earlier connect may hold data by now: never removed. */
		(void)unlinkat(parent, base, 0);
		json_object_del(a->objs, "file");
		json_object_del(a->objs, "created");
		json_object_del(a->objs, "dev");
		json_object_del(a->objs, "ino");
		json_object_del(a->objs, "mark");
	}
	return r;
}

/* Open loopN and check it is ours for the recorded file: 0 and the fd, -ENODEV (with e)
 * when it is gone or is not (or no longer) attachd's device for this file. */
static int open_owned(const struct backend_ctx *ctx, const struct be_file_loop_ops *ops, void *ud,
		      unsigned nr, const json_t *objs, int flags, int *ret_fd, struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	struct loop_info64 info;
	const char *mark, *file = objs_str(objs, "file");
	uint64_t dev, ino;
	int r;

	if (recorded_identity(objs, &dev, &ino, &mark) < 0)
		return errbuf_set(e, -ENODEV,
				  "file backend: the record of %s has no file identity "
				  "(written by an older attachd): loop%u is left alone",
				  file ? file : "?", nr);
	fd = ops->open_dev(ud, ctx->sys, nr, flags);
	if (fd == -ENOENT || fd == -ENXIO)
		return errbuf_set(e, -ENODEV, "loop%u is gone", nr);
	if (fd < 0)
		return errbuf_set(e, fd, "cannot open /dev/loop%u: %s", nr, strerror(-fd));
	memset(&info, 0, sizeof(info));
	r = ops->status(ud, fd, &info);
	if (r == -ENXIO)
		return errbuf_set(e, -ENODEV,
				  "loop%u no longer backs %s (detached by someone else?)", nr,
				  file ? file : "?");
	if (r < 0)
		return errbuf_set(e, r, "cannot read loop%u's status: %s", nr, strerror(-r));
	if (!be_file_loop_is_file(&info, dev, ino) || !be_file_loop_has_mark(&info, mark))
		return errbuf_set(e, -ENODEV,
				  "loop%u is not attachd's device for %s any more "
				  "(detached and rebound by someone else?)",
				  nr, file ? file : "?");
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static const struct be_file_loop_ops *ops_of(const struct be_file_cfg *cfg, void **ud)
{
	*ud = cfg ? cfg->loop_ud : NULL;
	return cfg && cfg->loop ? cfg->loop : &be_file_loop_real;
}

/* The loop device recorded in objs, still attachd's and still bound to the recorded file. */
static int bound_loop(const struct backend_ctx *ctx, const struct backend_attachment *a,
		      unsigned *ret_nr, struct errbuf *e)
{
	const char *loop = objs_str(a->objs, "loop");
	_cleanup_close_ int fd = -EBADF;
	void *ud;
	const struct be_file_loop_ops *ops = ops_of(a->cfg, &ud);
	unsigned nr;
	int r;

	if (!loop || !objs_str(a->objs, "file"))
		return errbuf_set(e, -ENODEV,
				  "file backend: not connected (no loop device recorded)");
	if (be_file_loop_name_parse(loop, &nr) < 0)
		return errbuf_set(e, -EINVAL, "file backend: bad loop device '%.32s' in record",
				  loop);
	r = open_owned(ctx, ops, ud, nr, a->objs, O_RDONLY, &fd, e);
	if (r < 0)
		return r;
	*ret_nr = nr;
	return 0;
}

int be_file_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_device *ret, struct errbuf *e)
{
	struct backend_device d = {0};
	char attr[64], dev[32], name[32];
	unsigned nr = 0, ma, mi;
	char tail;
	int r;

	r = bound_loop(ctx, a, &nr, e);
	if (r < 0)
		return r;
	snprintf(attr, sizeof(attr), "/sys/block/loop%u/dev", nr);
	r = sys_read_attr(ctx->sys, attr, dev, sizeof(dev));
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", attr, strerror(-r));
	if (sscanf(dev, "%u:%u%c", &ma, &mi, &tail) != 2)
		return errbuf_set(e, -EIO, "%s: unexpected '%s'", attr, dev);
	snprintf(name, sizeof(name), "/dev/loop%u", nr);
	snprintf(d.sysname, sizeof(d.sysname), "loop%u", nr);
	if (!sys_path(d.devnode, sizeof(d.devnode), ctx->sys->dev_root, name))
		return -ENAMETOOLONG;
	/* devtmpfs makes the node with the device; where /dev is managed otherwise it may
	 * lag: that is "not yet", and attach/ waits. */
	if (access(d.devnode, F_OK) < 0)
		return errno == ENOENT ? -EAGAIN : negative_errno();
	d.major = ma;
	d.minor = mi;
	*ret = d;
	return 0;
}

int be_file_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
		     const struct backend_device *dev, struct backend_identity *ret,
		     struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	struct backend_identity id = {0};
	struct loop_info64 info;
	char attr[128], val[32], *end;
	unsigned long long sectors;
	const struct be_file_loop_ops *ops;
	void *ud;
	unsigned nr;
	int r;

	if (!dev || be_file_loop_name_parse(dev->sysname, &nr) < 0)
		return errbuf_set(e, -EINVAL, "file backend: '%s' is not a loop device",
				  dev ? dev->sysname : "");
	snprintf(attr, sizeof(attr), "/sys/block/%s/size", dev->sysname);
	r = sys_read_attr(ctx->sys, attr, val, sizeof(val));
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", attr, strerror(-r));
	errno = 0;
	sectors = strtoull(val, &end, 10);
	if (errno || end == val || *end || sectors > UINT64_MAX / 512)
		return errbuf_set(e, -EIO, "%s: unexpected '%s'", attr, val);
	id.size_bytes = (uint64_t)sectors * 512;
	/* The identity is the backing inode as the loop driver holds it, whatever path named
	 * it and whatever loop number it is on: one image, one string. */
	ops = ops_of(a->cfg, &ud);
	fd = ops->open_dev(ud, ctx->sys, nr, O_RDONLY);
	if (fd < 0)
		return errbuf_set(e, fd, "cannot open /dev/%s: %s", dev->sysname, strerror(-fd));
	memset(&info, 0, sizeof(info));
	r = ops->status(ud, fd, &info);
	if (r < 0)
		return errbuf_set(e, r == -ENXIO ? -ENODEV : r, "cannot read %s's status: %s",
				  dev->sysname, strerror(-r));
	snprintf(id.wwid, sizeof(id.wwid), "file:%llu:%llu", (unsigned long long)info.lo_device,
		 (unsigned long long)info.lo_inode);
	*ret = id;
	return 0;
}

/* 0 when the recorded file is at least as large as loopN now; -ERANGE (e) when it is
 * smaller; -ENODEV when the file at the recorded path is not the recorded one. */
static int file_vs_loop(const struct backend_ctx *ctx, const json_t *objs, unsigned nr,
			struct errbuf *e)
{
	const char *file = objs_str(objs, "file");
	char attr[64], val[32], have[32], want[32];
	unsigned long long sectors;
	uint64_t dev = 0, ino = 0;
	struct stat st;
	int r;

	if (!file || objs_u64(objs, "dev", &dev) < 0 || objs_u64(objs, "ino", &ino) < 0)
		return errbuf_set(e, -ENODEV, "file backend: the record has no file identity");
	if (stat(file, &st) < 0)
		return errbuf_set(e, negative_errno(), "cannot stat %s: %m", file);
	if ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino)
		return errbuf_set(e, -ENODEV,
				  "%s is no longer the file loop%u was bound to (replaced?); "
				  "nothing was changed",
				  file, nr);
	snprintf(attr, sizeof(attr), "/sys/block/loop%u/size", nr);
	r = sys_read_attr(ctx->sys, attr, val, sizeof(val));
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", attr, strerror(-r));
	if (sscanf(val, "%llu", &sectors) != 1)
		return errbuf_set(e, -EIO, "%s: unexpected '%s'", attr, val);
	if ((uint64_t)st.st_size / 512 < (uint64_t)sectors) {
		format_size((uint64_t)st.st_size, have, sizeof(have));
		format_size((uint64_t)sectors * 512, want, sizeof(want));
		return errbuf_set(e, -ERANGE,
				  "%s is now %s, smaller than the volume (%s): attachd never "
				  "shrinks a volume and left loop%u at its size; give the file "
				  "back its size (truncate -s %" PRIu64 ")",
				  file, have, want, nr, (uint64_t)sectors * 512);
	}
	return 0;
}

int be_file_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		   const struct backend_device *dev, struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	const struct be_file_loop_ops *ops;
	const char *loop = objs_str(a->objs, "loop");
	void *ud;
	unsigned nr;
	int r;

	if (!dev || be_file_loop_name_parse(dev->sysname, &nr) < 0)
		return errbuf_set(e, -EINVAL, "file backend: '%s' is not a loop device",
				  dev ? dev->sysname : "");
	if (!loop || !streq(loop, dev->sysname))
		return errbuf_set(e, -ENODEV, "file backend: %s is not this volume's loop device",
				  dev->sysname);
	ops = ops_of(a->cfg, &ud);
	if (!ops->set_capacity)
		return errbuf_set(e, -EOPNOTSUPP, "file backend: cannot resize loop devices here");
	/* Read-only is enough: the ioctl needs CAP_SYS_ADMIN or a writer, and a read-only
	 * open makes no udev "change" on close. */
	r = open_owned(ctx, ops, ud, nr, a->objs, O_RDONLY, &fd, e);
	if (r < 0)
		return r;
	/* The loop device would follow a file cut short (and the filesystem on it lose its
	 * end): only a file at least as large as the device is taken. */
	r = file_vs_loop(ctx, a->objs, nr, e);
	if (r < 0)
		return r;
	r = ops->set_capacity(ud, fd);
	if (r < 0)
		return errbuf_set(e, r, "cannot make loop%u take the new size of %s: %s", nr,
				  objs_str(a->objs, "file") ?: "its file", strerror(-r));
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int be_file_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e)
{
	const char *loop = objs_str(a->objs, "loop"), *file = objs_str(a->objs, "file");
	_cleanup_close_ int lfd = -EBADF;
	struct errbuf why = {{0}};
	const struct be_file_loop_ops *ops;
	const char *mark;
	uint64_t dev, ino;
	int64_t deadline;
	void *ud;
	unsigned nr;
	int r, wait_ms;

	if (!file)
		return 0; /* connect never got as far as the file: nothing to undo */
	ops = ops_of(a->cfg, &ud);
	if (recorded_identity(a->objs, &dev, &ino, &mark) < 0)
		/* Without the file's identity and the mark nothing proves a loop device ours:
		 * leave it (losetup -d by hand) rather than clear somebody else's. */
		goto gone;
	if (loop) {
		if (be_file_loop_name_parse(loop, &nr) < 0)
			return errbuf_set(e, -EINVAL,
					  "file backend: bad loop device '%.32s' in record", loop);
	} else {
		struct be_file_loops loops;

		/* A crash between binding and recording: find it by its file and mark. */
		r = be_file_loop_find_file(ops, ud, ctx->sys, dev, ino, mark, &loops);
		if (r < 0)
			return errbuf_set(e, r, "cannot scan loop devices: %s", strerror(-r));
		if (loops.ours < 0)
			return 0;
		nr = (unsigned)loops.ours;
	}
	/* Ownership proven on the fd the clear goes through: it cannot change in between
	 * (a bound device cannot be rebound without being cleared first). */
	r = open_owned(ctx, ops, ud, nr, a->objs, O_RDWR, &lfd, &why);
	if (r == -ENODEV)
		goto gone; /* gone, or not ours: not ours to touch */
	if (r < 0)
		return errbuf_set(e, r, "%s", why.msg);
	r = ops->clr_fd(ud, lfd);
	if (r == -ENXIO)
		goto gone; /* unbound between our check and the ioctl */
	if (r < 0)
		return errbuf_set(e, r, "cannot detach loop%u from %s: %s", nr, file, strerror(-r));
	/* With other openers the kernel only marks the device autoclear and unbinds on the
	 * last close; our own fd is one of them, so close it before looking. */
	{
		int fd = TAKE_FD(lfd);

		close(fd);
	}

	wait_ms = ctx->timeout_ms > 0 && ctx->timeout_ms < UNBIND_WAIT_MAX_MS ? ctx->timeout_ms
									      : UNBIND_WAIT_MAX_MS;
	deadline = now_ms() + wait_ms;
	for (;;) {
		char backing[BE_FILE_PATH_MAX + 16];

		r = be_file_loop_backing(ctx->sys, nr, backing, sizeof(backing));
		if (r == -ENOENT)
			goto gone;
		if (now_ms() >= deadline)
			break;
		/* No event tells us a file was unbound short of a udev monitor; this is the
		 * rare "someone still has it open" case, so a short poll is fine. */
		poll(NULL, 0, UNBIND_POLL_MS);
	}
	return errbuf_set(e, -EBUSY,
			  "loop%u (%s) is still open by another process; it will detach on its "
			  "last close",
			  nr, file);
gone:
	json_object_del(a->objs, "loop");
	return 0;
}
