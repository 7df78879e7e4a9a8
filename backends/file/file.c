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
#include <sys/stat.h>
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

static int path_is_under(const char *path, const char *dir)
{
	size_t l = dir ? strlen(dir) : 0;

	while (l > 1 && dir[l - 1] == '/')
		l--;
	return l > 0 && dir[0] == '/' && strncmp(path, dir, l) == 0 &&
	       (path[l] == '/' || (l == 1 && dir[0] == '/'));
}

/* The path to use: the cfg's once resolved; a relative or missing one is resolved
 * against file_dir only when attach/ did not do it (it cannot know the key here). */
static int resolve_path(const struct backend_ctx *ctx, const struct be_file_cfg *cfg, char *ret,
			size_t n, struct errbuf *e)
{
	const char *dir = ctx->host ? ctx->host->file_dir : "";
	char joined[BE_FILE_PATH_MAX + 8];
	int k;

	if (cfg->path[0] == '/') {
		snprintf(ret, n, "%s", cfg->path);
		return 0;
	}
	if (!cfg->path[0])
		return errbuf_set(e, -EINVAL,
				  "file backend: no path (be_file_set_default_path was not called)");
	if (dir[0] != '/')
		return errbuf_set(e, -EINVAL,
				  "file backend: relative path '%s' but no absolute file_dir configured",
				  cfg->path);
	k = snprintf(joined, sizeof(joined), "%s/%s", dir, cfg->path);
	if (k < 0 || (size_t)k >= sizeof(joined) || be_file_path_normalize(joined, ret, n) < 0)
		return errbuf_set(e, -ENAMETOOLONG, "file backend: path too long");
	return 0;
}

static void fsync_dir_of(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int fd = -EBADF;
	char *slash;

	if (!copy)
		return;
	slash = strrchr(copy, '/');
	if (!slash)
		return;
	if (slash == copy)
		slash[1] = 0;
	else
		*slash = 0;
	fd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
}

static int format_size(uint64_t b, char *buf, size_t n)
{
	static const char *const u[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned i = 0;

	while (i + 1 < ELEMENTSOF(u) && b >= 1024 && b % 1024 == 0) {
		b /= 1024;
		i++;
	}
	return snprintf(buf, n, "%" PRIu64 " %s", b, u[i]);
}

/*
 * Create path with its full size in one step: an unnamed O_TMPFILE inode is sized, then
 * linked in, so a crash never leaves a short file that the "never grow an existing file"
 * rule would then refuse. -EEXIST when the name is taken (the caller opens it instead).
 */
static int create_sized(const char *path, uint64_t size, int *ret_fd)
{
	_cleanup_free_ char *dir = strdup(path);
	_cleanup_close_ int fd = -EBADF, named = -EBADF;
	struct stat tmp, st;
	char proc[64];
	char *slash;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* No O_TMPFILE on this filesystem: create, then size, then undo on failure. */
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
		if (fd < 0)
			return negative_errno();
		if (ftruncate(fd, (off_t)size) < 0) {
			int r = negative_errno();

			(void)unlink(path);
			return r;
		}
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
	if (fd < 0)
		return negative_errno();
	/* Size made durable before the name appears. */
	if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0)
		return negative_errno();
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0)
		return negative_errno();
	/* Reopen by name: the loop driver reports the path of the fd it was given, and the
	 * O_TMPFILE fd's is "<dir>/#<inode> (deleted)" forever, which nobody could match. */
	if (fstat(fd, &tmp) < 0)
		return negative_errno();
	named = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (named < 0)
		return negative_errno();
	if (fstat(named, &st) < 0 || st.st_ino != tmp.st_ino || st.st_dev != tmp.st_dev)
		return -EEXIST; /* replaced under us: treat like any existing file */
	*ret_fd = TAKE_FD(named);
	return 0;
}

/* Open (or create) the data file and check it against the options. */
static int open_backing(const struct be_file_cfg *cfg, const char *path, int *ret_fd,
			int *ret_created, struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	char have[32], want[32];
	struct stat st;
	int created = 0, r;

	if (cfg->size) {
		r = create_sized(path, cfg->size, &fd);
		if (r == 0)
			created = 1;
		else if (r == -EFBIG || r == -EINVAL)
			return errbuf_set(e, r, "cannot make %s %" PRIu64 " bytes: %s (the filesystem "
					  "holding it does not allow files this large?)",
					  path, cfg->size, strerror(-r));
		else if (r != -EEXIST)
			return errbuf_set(e, r, "cannot create %s: %s", path, strerror(-r));
	}
	if (fd < 0) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
		if (fd < 0) {
			r = negative_errno();
			if (r == -ENOENT && !cfg->size)
				return errbuf_set(e, r, "%s does not exist and no size was given to "
						  "create it", path);
			if (r == -ELOOP)
				return errbuf_set(e, r, "%s is a symbolic link; give the path of the "
						  "file itself", path);
			return errbuf_set(e, r, "cannot open %s: %s", path, strerror(-r));
		}
	}
	if (fstat(fd, &st) < 0)
		return errbuf_set(e, negative_errno(), "cannot stat %s", path);
	if (!S_ISREG(st.st_mode))
		return errbuf_set(e, -EINVAL, "%s is not a regular file", path);
	if (!created) {
		format_size((uint64_t)st.st_size, have, sizeof(have));
		if (cfg->size && (uint64_t)st.st_size < cfg->size) {
			format_size(cfg->size, want, sizeof(want));
			return errbuf_set(e, -EINVAL,
					  "existing file %s is %s, smaller than size %s; attachd never "
					  "grows or truncates an existing file (grow it yourself, or ask "
					  "for at most %s)",
					  path, have, want, have);
		}
		if ((uint64_t)st.st_size < BE_FILE_SIZE_MIN)
			return errbuf_set(e, -EINVAL, "existing file %s is %s, below the minimum "
					  "of 16 MiB", path, have);
	} else
		fsync_dir_of(path);
	*ret_fd = TAKE_FD(fd);
	*ret_created = created;
	return 0;
}

int be_file_connect(const struct backend_ctx *ctx, struct backend_attachment *a,
		    struct errbuf *e)
{
	const struct be_file_cfg *cfg = a->cfg;
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *canon = NULL;
	char path[BE_FILE_PATH_MAX], name[32];
	const char *prev;
	unsigned nr;
	int created = 0, r;

	r = resolve_path(ctx, cfg, path, sizeof(path), e);
	if (r < 0)
		return r;
	if (!a->objs) {
		a->objs = json_object();
		if (!a->objs)
			return -ENOMEM;
	}
	/* Only attachd's own directory is made on demand; elsewhere a missing directory
	 * is more likely a typo than a wish. */
	if (ctx->host && path_is_under(path, ctx->host->file_dir)) {
		char dir[BE_FILE_PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", path);
		*strrchr(dir, '/') = 0;
		r = ctx->sys->ops->mkdir_p(ctx->sys, dir, 0700);
		if (r < 0)
			return errbuf_set(e, r, "cannot create %s: %s", dir, strerror(-r));
	}
	r = open_backing(cfg, path, &fd, &created, e);
	if (r < 0)
		return r;
	/* The kernel reports backing_file as the resolved path; compare like with like. */
	canon = realpath(path, NULL);
	if (!canon) {
		r = errbuf_set(e, negative_errno(), "cannot resolve %s", path);
		goto fail;
	}
	/* "created" stays true across a re-connect of the same file (crash recovery). */
	prev = objs_str(a->objs, "file");
	if (streq(prev, canon) && json_is_true(json_object_get(a->objs, "created")))
		created = 1;
	r = objs_set(a->objs, "file", json_string(canon));
	if (r == 0)
		r = objs_set(a->objs, "created", json_boolean(created));
	if (r < 0) {
		errbuf_set(e, r, "out of memory recording %s", path);
		goto fail;
	}

	r = be_file_loop_find(ctx->sys, canon, &nr);
	if (r == -ENOENT) {
		r = be_file_loop_attach(cfg->loop, cfg->loop_ud, ctx->sys, fd, canon, &nr, e);
		if (r < 0)
			goto fail;
	} else if (r < 0) {
		errbuf_set(e, r, "cannot scan loop devices: %s", strerror(-r));
		goto fail;
	}
	snprintf(name, sizeof(name), "loop%u", nr);
	return objs_set(a->objs, "loop", json_string(name));

fail:
	if (created) {
		/* Ours, brand new and empty: leave nothing behind. */
		(void)unlink(path);
		json_object_del(a->objs, "file");
		json_object_del(a->objs, "created");
	}
	return r;
}

/* The loop device recorded in objs and still bound to the recorded file. */
static int bound_loop(const struct backend_ctx *ctx, const json_t *objs, unsigned *ret_nr,
		      struct errbuf *e)
{
	const char *loop = objs_str(objs, "loop"), *file = objs_str(objs, "file");
	char backing[BE_FILE_PATH_MAX + 16];
	unsigned nr;
	int r;

	if (!loop || !file)
		return errbuf_set(e, -ENODEV, "file backend: not connected (no loop device recorded)");
	if (be_file_loop_name_parse(loop, &nr) < 0)
		return errbuf_set(e, -EINVAL, "file backend: bad loop device '%.32s' in record",
				  loop);
	r = be_file_loop_backing(ctx->sys, nr, backing, sizeof(backing));
	if (r == -ENOENT || (r == 0 && !streq(backing, file)))
		return errbuf_set(e, -ENODEV, "%s no longer backs %s (detached by someone else?)",
				  loop, file);
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s's backing file: %s", loop, strerror(-r));
	*ret_nr = nr;
	return 0;
}

int be_file_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_device *ret, struct errbuf *e)
{
	struct backend_device d = { 0 };
	char attr[64], dev[32], name[32];
	unsigned nr, ma, mi;
	char tail;
	int r;

	r = bound_loop(ctx, a->objs, &nr, e);
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
	const struct be_file_cfg *cfg = a->cfg;
	struct backend_identity id = { 0 };
	char attr[128], val[32], *end;
	const char *path = cfg && cfg->path[0] == '/' ? cfg->path : objs_str(a->objs, "file");
	unsigned long long sectors;
	int r;

	if (!dev || be_file_loop_name_parse(dev->sysname, &(unsigned){ 0 }) < 0)
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
	/* Same string as describe(): the identity is the file, whatever loop it is on. */
	if (path && snprintf(id.wwid, sizeof(id.wwid), "file:%s", path) >= (int)sizeof(id.wwid))
		id.wwid[0] = 0; /* too long to be an identity: unknown rather than truncated */
	*ret = id;
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
	const struct be_file_cfg *cfg = a->cfg;
	const struct be_file_loop_ops *ops = cfg && cfg->loop ? cfg->loop : &be_file_loop_real;
	void *ud = cfg ? cfg->loop_ud : NULL;
	const char *loop = objs_str(a->objs, "loop"), *file = objs_str(a->objs, "file");
	char backing[BE_FILE_PATH_MAX + 16];
	_cleanup_close_ int lfd = -EBADF;
	int64_t deadline;
	unsigned nr;
	int r, wait_ms;

	if (!file)
		return 0; /* connect never got as far as the file: nothing to undo */
	if (loop) {
		if (be_file_loop_name_parse(loop, &nr) < 0)
			return errbuf_set(e, -EINVAL, "file backend: bad loop device '%.32s' in record",
					  loop);
	} else {
		/* A crash between binding and recording: find it by its file. */
		r = be_file_loop_find(ctx->sys, file, &nr);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return errbuf_set(e, r, "cannot scan loop devices: %s", strerror(-r));
	}
	r = be_file_loop_backing(ctx->sys, nr, backing, sizeof(backing));
	/* Already unbound, or rebound to another file since: not ours to touch. */
	if (r == -ENOENT || (r == 0 && !streq(backing, file)))
		goto gone;
	if (r < 0)
		return errbuf_set(e, r, "cannot read loop%u's backing file: %s", nr, strerror(-r));

	lfd = ops->open_dev(ud, ctx->sys, nr);
	if (lfd == -ENOENT || lfd == -ENXIO)
		goto gone;
	if (lfd < 0)
		return errbuf_set(e, lfd, "cannot open /dev/loop%u: %s", nr, strerror(-lfd));
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
		r = be_file_loop_backing(ctx->sys, nr, backing, sizeof(backing));
		if (r == -ENOENT || (r == 0 && !streq(backing, file)))
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
