/* SPDX-License-Identifier: Apache-2.0 */
/* backends/file private: the parsed options and the loop-device seam tests replace. */
#pragma once

#include <linux/loop.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/file/file.h"
#include "lib/err.h"
#include "lib/sys.h"

/*
 * The loop ioctls, one function each, so that the allocation logic (retry when another
 * allocator wins the race, LOOP_CONFIGURE -> LOOP_SET_FD fallback) runs unchanged against a
 * fake. All return 0 (or a number/fd) or a negative errno; none blocks for long.
 */
struct be_file_loop_ops {
	/* LOOP_CTL_GET_FREE on <dev_root>/dev/loop-control: a free loop number. */
	int (*get_free)(void *ud, const struct sys *s);
	/* open <dev_root>/dev/loopN with flags (O_RDONLY or O_RDWR) | O_CLOEXEC: an fd the
	 * caller closes. */
	int (*open_dev)(void *ud, const struct sys *s, unsigned nr, int flags);
	int (*configure)(void *ud, int loop_fd, const struct loop_config *c); /* LOOP_CONFIGURE */
	int (*set_fd)(void *ud, int loop_fd, int file_fd);		      /* LOOP_SET_FD */
	int (*set_status)(void *ud, int loop_fd,
			  const struct loop_info64 *i); /* LOOP_SET_STATUS64 */
	int (*clr_fd)(void *ud, int loop_fd);		/* LOOP_CLR_FD */
	/* LOOP_GET_STATUS64: 0, or -ENXIO when the device is unbound. */
	int (*status)(void *ud, int loop_fd, struct loop_info64 *ret);
	/* Can the backing file (file_fd) do O_DIRECT for real? 1 yes, 0 no. Some kernels let
	 * the loop driver accept direct I/O on a file that then fails every request
	 * (overlayfs over tmpfs on 6.1: endless I/O errors), so ask before asking the kernel. */
	int (*file_dio_ok)(void *ud, int file_fd);
	/* LOOP_SET_CAPACITY: re-read the backing file's size (it grew). NULL in fakes that
	 * do not model it: the rescan is then refused (-EOPNOTSUPP). */
	int (*set_capacity)(void *ud, int loop_fd);
};
extern const struct be_file_loop_ops be_file_loop_real;

struct be_file_cfg {
	char rel[BE_FILE_PATH_MAX];	     /* `path` as given, normalised; "" = default */
	char dir[BE_FILE_PATH_MAX];	     /* file_dir, once resolved */
	char resolved_rel[BE_FILE_PATH_MAX]; /* beneath dir: rel or "<key>.img" */
	char path[BE_FILE_PATH_MAX];	     /* "<dir>/<resolved_rel>", once resolved */
	char key[132];			     /* the volume key (loop device mark) */
	uint64_t size;			     /* 0 = not given: use the existing file's size */
	const struct be_file_loop_ops *loop;
	void *loop_ud;
};

/* Tests: use fake loop ops for this cfg (the default is be_file_loop_real). */
void be_file_cfg_set_loop_ops(void *cfg, const struct be_file_loop_ops *ops, void *ud);

/* Lexically normalise a path: collapse "//" and "/./", refuse ".." and empty names.
 * Relative stays relative. 0, -EINVAL or -ENAMETOOLONG. */
int be_file_path_normalize(const char *in, char *out, size_t n);

/* "loopN" -> N. 0 or -EINVAL. */
int be_file_loop_name_parse(const char *name, unsigned *ret_nr);

/* The mark attachd puts in lo_file_name of the loop devices it creates: "attachd:<key>",
 * cut to LO_NAME_SIZE - 1 bytes. */
void be_file_loop_mark(const char *key, char *buf, size_t n);

/* Is loop device status i bound to the file (dev, ino)? And does it carry mark? */
int be_file_loop_is_file(const struct loop_info64 *i, uint64_t dev, uint64_t ino);
int be_file_loop_has_mark(const struct loop_info64 *i, const char *mark);

/* The bound loop devices on one file: one carrying our mark, one not (-1: none), and the
 * other one's lo_file_name (another attachd volume's mark, or whatever losetup put). */
struct be_file_loops {
	int ours, foreign;
	char foreign_name[LO_NAME_SIZE + 1];
};
/* The bound loop devices (sysfs under s->sysfs_root, status through ops) whose backing
 * file is (dev, ino), sorted by mark. 0, or a negative errno when the loop devices cannot
 * be listed. */
int be_file_loop_find_file(const struct be_file_loop_ops *ops, void *ud, const struct sys *s,
			   uint64_t dev, uint64_t ino, const char *mark, struct be_file_loops *ret);

/* The backing file of loopN: 0 and ret, -ENOENT when the device is unbound or absent. */
int be_file_loop_backing(const struct sys *s, unsigned nr, char *ret, size_t n);

/* Attach file_fd (whose path, for messages, is path) to a free loop device, marked with
 * mark (lo_file_name). Retries when another allocator takes the device first; falls back
 * to LOOP_SET_FD + LOOP_SET_STATUS64 on kernels without LOOP_CONFIGURE; asks for direct
 * I/O when file_dio_ok says the file can do it, and drops it if the kernel refuses. */
int be_file_loop_attach(const struct be_file_loop_ops *ops, void *ud, const struct sys *s,
			int file_fd, const char *path, const char *mark, unsigned *ret_nr,
			struct errbuf *e);

/* Open (or create, with size > 0) rel beneath the directory dir_fd, refusing symbolic
 * links, magic links and ".." escapes (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS); missing directories on the way are made 0700. *ret_created
 * says whether the file is new (made at its full size in one step). Negative errno:
 * -ELOOP (a symbolic link on the way), -EXDEV (escapes dir), -ENOSYS (no openat2). */
int be_file_open_beneath(int dir_fd, const char *rel, uint64_t size, int *ret_fd, int *ret_created,
			 int *ret_parent_fd);
/* Returned by be_file_open_beneath for an existing path that is not a regular file. */
#define BE_FILE_ENOTREG EMEDIUMTYPE

/* The kernel-facing ops of be_file_ops (file.c). */
int be_file_connect(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e);
int be_file_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_device *ret, struct errbuf *e);
int be_file_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
		     const struct backend_device *dev, struct backend_identity *ret,
		     struct errbuf *e);
int be_file_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e);
/* The loop device takes the file's current size (LOOP_SET_CAPACITY), after an operator
 * grew the file; only on attachd's own device for the recorded file. */
int be_file_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		   const struct backend_device *dev, struct errbuf *e);
