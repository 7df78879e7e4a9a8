/* SPDX-License-Identifier: Apache-2.0 */
/* Loop devices: the real ioctls, allocation with retry and fallback, sysfs lookups. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "backends/file/internal.h"

/* Another allocator (losetup, a second agent thread, systemd) can take the device
 * LOOP_CTL_GET_FREE returned before our configure lands; it is a race, not a shortage. */
#define ATTACH_TRIES 16

static int real_get_free(void *ud _unused_, const struct sys *s)
{
	_cleanup_close_ int fd = -EBADF;
	char p[4096];
	int nr;

	if (!sys_path(p, sizeof(p), s->dev_root, "/dev/loop-control"))
		return -ENAMETOOLONG;
	fd = open(p, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	nr = ioctl(fd, LOOP_CTL_GET_FREE);
	return nr < 0 ? negative_errno() : nr;
}

static int real_open_dev(void *ud _unused_, const struct sys *s, unsigned nr, int flags)
{
	char name[32], p[4096];
	int fd;

	snprintf(name, sizeof(name), "/dev/loop%u", nr);
	if (!sys_path(p, sizeof(p), s->dev_root, name))
		return -ENAMETOOLONG;
	fd = open(p, (flags & O_ACCMODE) | O_CLOEXEC | O_NOCTTY);
	return fd < 0 ? negative_errno() : fd;
}

static int real_configure(void *ud _unused_, int loop_fd, const struct loop_config *c)
{
	return ioctl(loop_fd, LOOP_CONFIGURE, c) < 0 ? negative_errno() : 0;
}

static int real_set_fd(void *ud _unused_, int loop_fd, int file_fd)
{
	return ioctl(loop_fd, LOOP_SET_FD, file_fd) < 0 ? negative_errno() : 0;
}

static int real_set_status(void *ud _unused_, int loop_fd, const struct loop_info64 *i)
{
	return ioctl(loop_fd, LOOP_SET_STATUS64, i) < 0 ? negative_errno() : 0;
}

static int real_clr_fd(void *ud _unused_, int loop_fd)
{
	return ioctl(loop_fd, LOOP_CLR_FD, 0) < 0 ? negative_errno() : 0;
}

static int real_status(void *ud _unused_, int loop_fd, struct loop_info64 *ret)
{
	return ioctl(loop_fd, LOOP_GET_STATUS64, ret) < 0 ? negative_errno() : 0;
}

static int real_set_capacity(void *ud _unused_, int loop_fd)
{
	return ioctl(loop_fd, LOOP_SET_CAPACITY, 0) < 0 ? negative_errno() : 0;
}

static int real_file_dio_ok(void *ud _unused_, int file_fd)
{
	_cleanup_close_ int fd = -EBADF;
	void *buf = NULL;
	char proc[64];
	ssize_t k;

	/* A second open of the same inode (not of the name: that could be swapped). */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", file_fd);
	fd = open(proc, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return 0;
	/* The open alone is not proof (some filesystems only fail the I/O): read one
	 * aligned block, which every data file here has (>= 16 MiB). */
	if (posix_memalign(&buf, 4096, 4096) != 0)
		return 0;
	k = pread(fd, buf, 4096, 0);
	free(buf);
	return k == 4096;
}

const struct be_file_loop_ops be_file_loop_real = {
    .get_free = real_get_free,
    .open_dev = real_open_dev,
    .configure = real_configure,
    .set_fd = real_set_fd,
    .set_status = real_set_status,
    .clr_fd = real_clr_fd,
    .status = real_status,
    .file_dio_ok = real_file_dio_ok,
    .set_capacity = real_set_capacity,
};

int be_file_loop_name_parse(const char *name, unsigned *ret_nr)
{
	unsigned long v = 0;
	const char *p;

	if (!startswith(name, "loop"))
		return -EINVAL;
	p = name + 4;
	if (!*p || strlen(p) > 7 || (p[0] == '0' && p[1]))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	*ret_nr = (unsigned)v;
	return 0;
}

int be_file_loop_backing(const struct sys *s, unsigned nr, char *ret, size_t n)
{
	char attr[64];
	int r;

	snprintf(attr, sizeof(attr), "/sys/block/loop%u/loop/backing_file", nr);
	r = sys_read_attr(s, attr, ret, n);
	/* The loop/ directory exists only while a file is bound. */
	if (r == -ENOENT || r == -ENXIO || r == -ENODEV)
		return -ENOENT;
	return r;
}

void be_file_loop_mark(const char *key, char *buf, size_t n)
{
	size_t m = n < LO_NAME_SIZE ? n : LO_NAME_SIZE;

	snprintf(buf, m, "attachd:%s", key ? key : "");
}

int be_file_loop_is_file(const struct loop_info64 *i, uint64_t dev, uint64_t ino)
{
	/* lo_device is the kernel's encoding of the backing inode's st_dev, as stat() gives. */
	return i->lo_device == dev && i->lo_inode == ino;
}

int be_file_loop_has_mark(const struct loop_info64 *i, const char *mark)
{
	char name[LO_NAME_SIZE + 1];

	memcpy(name, i->lo_file_name, LO_NAME_SIZE);
	name[LO_NAME_SIZE] = 0;
	return mark && mark[0] && streq(name, mark);
}

struct find_ctx {
	const struct be_file_loop_ops *ops;
	void *ud;
	const struct sys *s;
	uint64_t dev, ino;
	const char *mark;
	struct be_file_loops found;
};

static int find_one(const char *name, void *ud)
{
	struct find_ctx *c = ud;
	_cleanup_close_ int fd = -EBADF;
	struct loop_info64 info;
	char backing[BE_FILE_PATH_MAX + 16];
	unsigned nr;

	if (be_file_loop_name_parse(name, &nr) < 0)
		return 0;
	/* Only bound devices have a loop/ directory: no open of idle devices. */
	if (be_file_loop_backing(c->s, nr, backing, sizeof(backing)) < 0)
		return 0;
	fd = c->ops->open_dev(c->ud, c->s, nr, O_RDONLY);
	if (fd < 0)
		return 0; /* removed since */
	memset(&info, 0, sizeof(info));
	if (c->ops->status(c->ud, fd, &info) < 0)
		return 0; /* unbound since */
	if (!be_file_loop_is_file(&info, c->dev, c->ino))
		return 0;
	if (be_file_loop_has_mark(&info, c->mark)) {
		if (c->found.ours < 0)
			c->found.ours = (int)nr;
	} else if (c->found.foreign < 0) {
		c->found.foreign = (int)nr;
		memcpy(c->found.foreign_name, info.lo_file_name, LO_NAME_SIZE);
		c->found.foreign_name[LO_NAME_SIZE] = 0;
	}
	return 0;
}

int be_file_loop_find_file(const struct be_file_loop_ops *ops, void *ud, const struct sys *s,
			   uint64_t dev, uint64_t ino, const char *mark, struct be_file_loops *ret)
{
	struct find_ctx c = {.ops = ops,
			     .ud = ud,
			     .s = s,
			     .dev = dev,
			     .ino = ino,
			     .mark = mark,
			     .found = {.ours = -1, .foreign = -1}};
	int r;

	r = sys_sysfs_for_each(s, "/sys/block", find_one, &c);
	if (r < 0 && r != -ENOENT)
		return r;
	*ret = c.found;
	return 0;
}

static void set_name(__u8 *dst, const char *mark)
{
	/* lo_file_name carries attachd's mark, not the path: backing_file in sysfs has the
	 * whole path, and LOOP_GET_STATUS64 gives the mark back to prove the device ours. */
	memset(dst, 0, LO_NAME_SIZE);
	memcpy(dst, mark, strnlen(mark, LO_NAME_SIZE - 1));
}

/* One device: 0, -EBUSY (someone else bound it first: try another), or an error. */
static int bind_one(const struct be_file_loop_ops *ops, void *ud, int loop_fd, int file_fd,
		    const char *mark, int dio)
{
	struct loop_config c = {0};
	struct loop_info64 info = {0};
	int r;

	c.fd = (__u32)file_fd;
	/* Direct I/O: no second copy of every block in the page cache under the filesystem
	 * mounted on top. No autoclear: the device must outlive an agent restart. No
	 * partscan: partitions inside a volume are not ours to expose. */
	c.info.lo_flags = dio ? LO_FLAGS_DIRECT_IO : 0;
	set_name(c.info.lo_file_name, mark);
	r = ops->configure(ud, loop_fd, &c);
	if (r == -EINVAL && dio) {
		/* Some kernels refuse direct I/O when the backing filesystem cannot do it. */
		c.info.lo_flags = 0;
		r = ops->configure(ud, loop_fd, &c);
	}
	if (r != -EINVAL && r != -ENOTTY)
		return r;

	/* No LOOP_CONFIGURE (kernel < 5.8): the two-step way, undone if step two fails. */
	r = ops->set_fd(ud, loop_fd, file_fd);
	if (r < 0)
		return r;
	set_name(info.lo_file_name, mark);
	r = ops->set_status(ud, loop_fd, &info);
	if (r < 0) {
		(void)ops->clr_fd(ud, loop_fd);
		return r == -EBUSY ? -EIO : r; /* not a lost race: do not retry elsewhere */
	}
	return 0;
}

int be_file_loop_attach(const struct be_file_loop_ops *ops, void *ud, const struct sys *s,
			int file_fd, const char *path, const char *mark, unsigned *ret_nr,
			struct errbuf *e)
{
	int dio = ops->file_dio_ok ? ops->file_dio_ok(ud, file_fd) > 0 : 0;

	for (int i = 0; i < ATTACH_TRIES; i++) {
		_cleanup_close_ int lfd = -EBADF;
		int nr, r;

		nr = ops->get_free(ud, s);
		if (nr < 0)
			return errbuf_set(e, nr, "no free loop device (LOOP_CTL_GET_FREE: %s)%s",
					  strerror(-nr),
					  nr == -ENOENT ? "; is the loop module loaded?" : "");
		lfd = ops->open_dev(ud, s, (unsigned)nr, O_RDWR);
		if (lfd == -ENOENT || lfd == -ENXIO)
			continue; /* removed again by another LOOP_CTL_REMOVE user */
		if (lfd < 0)
			return errbuf_set(e, lfd, "cannot open /dev/loop%d: %s", nr,
					  strerror(-lfd));
		r = bind_one(ops, ud, lfd, file_fd, mark, dio);
		if (r == -EBUSY)
			continue;
		if (r < 0)
			return errbuf_set(e, r, "cannot bind %s to loop%d: %s", path, nr,
					  strerror(-r));
		*ret_nr = (unsigned)nr;
		return 0;
	}
	return errbuf_set(e, -EBUSY,
			  "could not get a loop device for %s: another allocator took the free "
			  "one %d times in a row",
			  path, ATTACH_TRIES);
}
