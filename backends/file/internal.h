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
	/* open <dev_root>/dev/loopN read-write, O_CLOEXEC: an fd the caller closes. */
	int (*open_dev)(void *ud, const struct sys *s, unsigned nr);
	int (*configure)(void *ud, int loop_fd, const struct loop_config *c); /* LOOP_CONFIGURE */
	int (*set_fd)(void *ud, int loop_fd, int file_fd);                     /* LOOP_SET_FD */
	int (*set_status)(void *ud, int loop_fd, const struct loop_info64 *i); /* LOOP_SET_STATUS64 */
	int (*clr_fd)(void *ud, int loop_fd);                                  /* LOOP_CLR_FD */
	/* Can the backing file do O_DIRECT for real? 1 yes, 0 no. Some kernels let the loop
	 * driver accept direct I/O on a file that then fails every request (overlayfs over
	 * tmpfs on 6.1: endless I/O errors), so ask before asking the kernel. */
	int (*file_dio_ok)(void *ud, const char *path);
};
extern const struct be_file_loop_ops be_file_loop_real;

struct be_file_cfg {
	char path[BE_FILE_PATH_MAX]; /* as given; absolute once resolved */
	uint64_t size;               /* 0 = not given: use the existing file's size */
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

/* The loop device whose backing_file is exactly path (sysfs under s->sysfs_root):
 * 0 and *ret_nr, -ENOENT if none. */
int be_file_loop_find(const struct sys *s, const char *path, unsigned *ret_nr);

/* The backing file of loopN: 0 and ret, -ENOENT when the device is unbound or absent. */
int be_file_loop_backing(const struct sys *s, unsigned nr, char *ret, size_t n);

/* Attach file_fd (whose path is path) to a free loop device. Retries when another
 * allocator takes the device first; falls back to LOOP_SET_FD + LOOP_SET_STATUS64 on
 * kernels without LOOP_CONFIGURE; asks for direct I/O when file_dio_ok says the file can
 * do it, and drops it if the kernel refuses. */
int be_file_loop_attach(const struct be_file_loop_ops *ops, void *ud, const struct sys *s,
			int file_fd, const char *path, unsigned *ret_nr, struct errbuf *e);

/* The kernel-facing ops of be_file_ops (file.c). */
int be_file_connect(const struct backend_ctx *ctx, struct backend_attachment *a,
		    struct errbuf *e);
int be_file_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_device *ret, struct errbuf *e);
int be_file_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
		     const struct backend_device *dev, struct backend_identity *ret,
		     struct errbuf *e);
int be_file_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e);
