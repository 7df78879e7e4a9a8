/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Online expand (attach/expand.c) with a fake kernel: sysfs sizes that a SCSI rescan
 * changes, the filesystem tools' output, a fake dm map. What grows, what is refused (never
 * a shrink, never a map over paths that disagree) and what the operator is told; the
 * backends' rescans (iscsi, file, scaleio); attachctl's rendering of the answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach/internal.h"
#include "backends/file/internal.h"
#include "backends/scaleio/internal.h"
#include "lib/macro.h"
#include "tools/attachctl_expand.c"
#include "tools/attachctl_fmt.c"

#define MIB (1024ull * 1024)

#define EXPECT_MSG(e, needle)                                                                      \
	do {                                                                                       \
		if (!strstr((e).msg, needle))                                                      \
			fail_msg("'%s' not in: %s", needle, (e).msg);                              \
	} while (0)

/* ---- the fake kernel ---- */
struct fdev {
	const char *name, *devno;
	uint64_t size, after_rescan; /* bytes; after_rescan 0: the rescan changes nothing */
};
static struct {
	struct fdev devs[3];
	unsigned n_devs;
	char writes[1024];
	int write_errno;
	/* filesystem */
	uint64_t fs, block;
	int grow_status; /* exit status of resize2fs / xfs_growfs */
	char ran[1024];	 /* argv of every run, one line each */
	/* dm */
	uint64_t map;
	unsigned grows;
	struct dmap_target table;
	/* scaleio's drv_cfg */
	int run_errno, run_status;
} F;

static struct fdev *dev_named(const char *name, size_t len)
{
	for (unsigned i = 0; i < F.n_devs; i++)
		if (strlen(F.devs[i].name) == len && !strncmp(F.devs[i].name, name, len))
			return &F.devs[i];
	return NULL;
}

static int fake_read(const struct sys *s, const char *path, char **ret, size_t max)
{
	const char *tail;
	struct fdev *d;
	char buf[512];

	if (streq(path, "/proc/self/mountinfo"))
		snprintf(buf, sizeof(buf),
			 "36 25 253:0 / /mnt/.staging/v rw,nosuid,nodev - ext4 "
			 "/dev/mapper/attachd-v rw\n");
	else if (startswith(path, "/sys/block/") && (tail = strchr(path + 11, '/')) &&
		 (d = dev_named(path + 11, (size_t)(tail - path - 11)))) {
		if (streq(tail, "/dev"))
			snprintf(buf, sizeof(buf), "%s\n", d->devno);
		else if (streq(tail, "/size"))
			snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)(d->size / 512));
		else
			return -ENOENT;
	} else
		return -ENOENT;
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

static int fake_write(const struct sys *s, const char *path, const char *data)
{
	size_t l = strlen(F.writes);
	const char *tail;
	struct fdev *d;

	if (F.write_errno)
		return F.write_errno;
	snprintf(F.writes + l, sizeof(F.writes) - l, "%s=%s\n", path, data);
	if (startswith(path, "/sys/block/") && (tail = strchr(path + 11, '/')) &&
	    streq(tail, "/device/rescan") && (d = dev_named(path + 11, (size_t)(tail - path - 11))))
		if (d->after_rescan)
			d->size = d->after_rescan;
	return 0;
}

static int fake_run(const struct sys *s, char *const argv[], int timeout_ms,
		    struct sys_run_result *ret)
{
	size_t l = strlen(F.ran);
	char out[512] = "";

	for (int i = 0; argv[i]; i++) {
		snprintf(F.ran + l, sizeof(F.ran) - l, "%s%s", i ? " " : "", argv[i]);
		l = strlen(F.ran);
	}
	snprintf(F.ran + l, sizeof(F.ran) - l, "\n");
	if (F.run_errno)
		return F.run_errno;
	ret->status = 0;
	if (streq(argv[0], "dumpe2fs"))
		snprintf(out, sizeof(out),
			 "dumpe2fs 1.47.0 (5-Feb-2023)\nFilesystem volume name:   <none>\n"
			 "Block count:              %llu\nReserved block count:     0\n"
			 "Block size:               %llu\n",
			 (unsigned long long)(F.fs / F.block), (unsigned long long)F.block);
	else if (streq(argv[0], "xfs_io"))
		snprintf(out, sizeof(out),
			 "fd.path = \"/mnt/.staging/v\"\nstatfs.f_bsize = 4096\n"
			 "geom.bsize = %llu\ngeom.agcount = 4\ngeom.datablocks = %llu\n",
			 (unsigned long long)F.block, (unsigned long long)(F.fs / F.block));
	else if (streq(argv[0], "resize2fs") || streq(argv[0], "xfs_growfs")) {
		ret->status = F.grow_status;
		if (F.grow_status)
			snprintf(out, sizeof(out), "%s: Permission denied to resize filesystem\n",
				 argv[0]);
		else
			F.fs = F.map / F.block * F.block;
	} else
		ret->status = F.run_status;
	ret->out = strdup(out);
	return 0;
}

static const struct sys_ops fake_ops = {
    .read_file = fake_read, .write_file = fake_write, .run = fake_run};

static int dm_size(void *ud, const char *name, uint64_t *ret)
{
	assert_string_equal(name, "attachd-v");
	*ret = F.map;
	return 0;
}

static int dm_grow(void *ud, const char *name, const struct dmap_target *t, size_t n,
		   int timeout_ms, struct errbuf *e)
{
	assert_int_equal(n, 1);
	F.grows++;
	F.table = t[0];
	F.map = t[0].len * 512;
	return 0;
}

static const struct attach_expand_dm fake_dm = {.size = dm_size, .grow = dm_grow};

static struct attach_env env;
static struct attach_volume v;

/* One iSCSI disk sdb of 64 MiB under a 64 MiB map and a 64 MiB ext4, staged. */
static int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	F.devs[0] = (struct fdev){"sdb", "8:16", 64 * MIB, 0};
	F.n_devs = 1;
	F.fs = F.map = 64 * MIB;
	F.block = 4096;
	memset(&env, 0, sizeof(env));
	env.sys = (struct sys){
	    .sysfs_root = "", .dev_root = "", .proc_root = "", .etc_root = "", .ops = &fake_ops};
	env.connect_timeout_ms = env.device_timeout_ms = env.mkfs_timeout_ms = 1000;
	memset(&v, 0, sizeof(v));
	snprintf(v.key, sizeof(v.key), "v");
	v.opts.be = &be_iscsi_ops;
	snprintf(v.opts.fs, sizeof(v.opts.fs), "ext4");
	v.att.ops = &be_iscsi_ops;
	v.reached = STEP_MOUNT;
	snprintf(v.staging, sizeof(v.staging), "/mnt/.staging/v");
	snprintf(v.dm_name, sizeof(v.dm_name), "attachd-v");
	snprintf(v.dm_devnode, sizeof(v.dm_devnode), "/dev/mapper/attachd-v");
	v.dev = (struct backend_device){.sysname = "sdb", .devnode = "/dev/sdb", 8, 16};
	v.ident.size_bytes = 64 * MIB;
	return 0;
}

static int expand(struct attach_expand_result *res, struct errbuf *e)
{
	return attach_volume_expand_dm(&env, &v, &fake_dm, 0, res, e);
}

/* ---- the decision ---- */

static void test_decide(void **state)
{
	struct errbuf e = {{0}};
	unsigned act = 99;

	assert_int_equal(attach_expand_decide(128 * MIB, 64 * MIB, 64 * MIB, 4096, &act, &e), 0);
	assert_int_equal(act, ATTACH_EXPAND_DM | ATTACH_EXPAND_FS);
	/* the map grew earlier, the filesystem did not (its tool failed then) */
	assert_int_equal(attach_expand_decide(128 * MIB, 128 * MIB, 64 * MIB, 4096, &act, &e), 0);
	assert_int_equal(act, ATTACH_EXPAND_FS);
	/* nothing new; a tail smaller than one block is no reason to run a tool */
	assert_int_equal(attach_expand_decide(64 * MIB, 64 * MIB, 64 * MIB, 4096, &act, &e), 0);
	assert_int_equal(act, 0);
	assert_int_equal(
	    attach_expand_decide(64 * MIB + 4096, 64 * MIB + 4096, 64 * MIB, 4096, &act, &e), 0);
	assert_int_equal(act, 0);
	assert_int_equal(
	    attach_expand_decide(64 * MIB + 8192, 64 * MIB + 8192, 64 * MIB, 4096, &act, &e), 0);
	assert_int_equal(act, ATTACH_EXPAND_FS);

	/* never shrink */
	act = 99;
	assert_int_equal(attach_expand_decide(32 * MIB, 64 * MIB, 64 * MIB, 4096, &act, &e),
			 -ERANGE);
	EXPECT_MSG(e, "smaller than its dm map");
	EXPECT_MSG(e, "never shrinks");
	assert_int_equal(act, 99);
	assert_int_equal(attach_expand_decide(64 * MIB, 64 * MIB, 96 * MIB, 4096, &act, &e),
			 -ERANGE);
	EXPECT_MSG(e, "smaller than its filesystem (96.0 MiB");
	assert_int_equal(attach_expand_decide(0, 64 * MIB, 64 * MIB, 4096, &act, &e), -EIO);
}

static void test_fs_size_parse(void **state)
{
	uint64_t b = 0, bs = 0;

	assert_int_equal(
	    attach_fs_size_parse("ext4",
				 "dumpe2fs 1.47.0\nBlock count:              65536\n"
				 "Reserved block count:     0\nBlock size:               1024\n",
				 &b, &bs),
	    0);
	assert_int_equal(b, 64 * MIB);
	assert_int_equal(bs, 1024);
	assert_int_equal(attach_fs_size_parse("xfs",
					      "statfs.f_blocks = 65536\ngeom.bsize = 4096\n"
					      "geom.agcount = 4\ngeom.datablocks = 81920\n",
					      &b, &bs),
			 0);
	assert_int_equal(b, 320 * MIB);
	assert_int_equal(bs, 4096);
	/* "Reserved block count" must not be taken for the block count */
	assert_int_equal(attach_fs_size_parse("ext4", "Reserved block count: 5\n", &b, &bs),
			 -EINVAL);
	assert_int_equal(
	    attach_fs_size_parse("ext4", "Block count: x\nBlock size: 4096\n", &b, &bs), -EINVAL);
	assert_int_equal(
	    attach_fs_size_parse("xfs", "geom.datablocks = 10\ngeom.bsize = 3000\n", &b, &bs),
	    -EINVAL);
	assert_int_equal(attach_fs_size_parse("btrfs", "", &b, &bs), -EOPNOTSUPP);
}

/* ---- the whole expand ---- */

static void test_grow_iscsi_ext4(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	F.devs[0].after_rescan = 128 * MIB;
	assert_int_equal(expand(&res, &e), 0);
	/* rescan of the path, then the map, then the filesystem on the dm device */
	assert_string_equal(F.writes, "/sys/block/sdb/device/rescan=1\n");
	assert_int_equal(F.grows, 1);
	assert_string_equal(F.table.type, "linear");
	assert_string_equal(F.table.params, "8:16 0");
	assert_int_equal(F.table.len, 128 * MIB / 512);
	assert_string_equal(F.ran, "dumpe2fs -h /dev/mapper/attachd-v\n"
				   "resize2fs /dev/mapper/attachd-v\n"
				   "dumpe2fs -h /dev/mapper/attachd-v\n");
	assert_int_equal(res.device, 128 * MIB);
	assert_int_equal(res.map_before, 64 * MIB);
	assert_int_equal(res.map_after, 128 * MIB);
	assert_int_equal(res.fs_before, 64 * MIB);
	assert_int_equal(res.fs_after, 128 * MIB);
	assert_true(res.grew_dm && res.grew_fs);
	/* the path checker's reloads and the record use the new size */
	assert_int_equal(v.ident.size_bytes, 128 * MIB);
	assert_int_equal(v.n_timings, 1);
	assert_int_equal(v.timings[0].step, STEP_EXPAND);
	assert_int_equal(v.timings[0].result, 0);
	assert_string_equal(attach_step_name(STEP_EXPAND), "expand");
}

static void test_nothing_to_grow(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	assert_int_equal(expand(&res, &e), 0);
	assert_string_equal(F.writes, "/sys/block/sdb/device/rescan=1\n");
	assert_int_equal(F.grows, 0);
	assert_null(strstr(F.ran, "resize2fs"));
	assert_false(res.grew_dm || res.grew_fs);
	assert_int_equal(res.map_after, 64 * MIB);
	assert_int_equal(res.fs_after, 64 * MIB);
}

/* The probe read the filesystem's size: a Mount that finds the device as it was runs no
 * tool at all; a grown device is decided on the tool's answer, and the size it left is
 * what the next Mount compares against. */
static void test_known_fs_size_skips_tools(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	v.fs_bytes = 64 * MIB;
	v.fs_block = 4096;
	assert_int_equal(expand(&res, &e), 0);
	assert_string_equal(F.writes, "/sys/block/sdb/device/rescan=1\n");
	assert_string_equal(F.ran, "");
	assert_false(res.grew_dm || res.grew_fs);
	assert_int_equal(res.fs_after, 64 * MIB);

	F.devs[0].after_rescan = 128 * MIB;
	assert_int_equal(expand(&res, &e), 0);
	assert_string_equal(F.ran, "dumpe2fs -h /dev/mapper/attachd-v\n"
				   "resize2fs /dev/mapper/attachd-v\n"
				   "dumpe2fs -h /dev/mapper/attachd-v\n");
	assert_true(res.grew_dm && res.grew_fs);
	assert_int_equal(v.fs_bytes, 128 * MIB);

	F.ran[0] = 0;
	assert_int_equal(expand(&res, &e), 0);
	assert_string_equal(F.ran, "");
	assert_false(res.grew_dm || res.grew_fs);
}

/* A known size that does not fit what the device says now is never acted on as such: the
 * tool is asked, and its answer decides (here: the filesystem was grown by hand already,
 * nothing to do; and a real shrink is still refused). */
static void test_known_fs_size_rechecked_by_tool(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	v.fs_bytes = 32 * MIB; /* stale: someone ran resize2fs by hand */
	v.fs_block = 4096;
	assert_int_equal(expand(&res, &e), 0);
	assert_string_equal(F.ran, "dumpe2fs -h /dev/mapper/attachd-v\n");
	assert_false(res.grew_dm || res.grew_fs);
	assert_int_equal(v.fs_bytes, 64 * MIB);

	F.ran[0] = 0;
	F.devs[0].after_rescan = 32 * MIB;
	assert_int_equal(expand(&res, &e), -ERANGE);
	EXPECT_MSG(e, "never shrinks");
	assert_string_equal(F.ran, "dumpe2fs -h /dev/mapper/attachd-v\n");
	assert_int_equal(F.grows, 0);
}

static void test_shrink_refused(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	F.devs[0].after_rescan = 32 * MIB;
	assert_int_equal(expand(&res, &e), -ERANGE);
	EXPECT_MSG(e, "never shrinks");
	assert_int_equal(F.grows, 0);
	assert_null(strstr(F.ran, "resize2fs"));
	assert_int_equal(v.ident.size_bytes, 64 * MIB);
	assert_int_equal(F.map, 64 * MIB);
	assert_int_equal(v.timings[0].result, -ERANGE);
}

static void test_xfs_grows_on_mount_point(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	snprintf(v.opts.fs, sizeof(v.opts.fs), "xfs");
	F.fs = F.map = F.devs[0].size = 320 * MIB;
	v.ident.size_bytes = 320 * MIB;
	F.devs[0].after_rescan = 480 * MIB;
	assert_int_equal(expand(&res, &e), 0);
	assert_string_equal(F.ran, "xfs_io -r -c statfs /mnt/.staging/v\n"
				   "xfs_growfs -d /mnt/.staging/v\n"
				   "xfs_io -r -c statfs /mnt/.staging/v\n");
	assert_int_equal(res.fs_after, 480 * MIB);
}

static void test_multipath_paths_must_agree(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	F.devs[1] = (struct fdev){"sdc", "8:32", 64 * MIB, 0};
	F.n_devs = 2;
	v.multipath = 1;
	v.n_paths = 2;
	v.paths[0].bp.dev = v.dev;
	snprintf(v.paths[0].bp.id, sizeof(v.paths[0].bp.id), "2:0:0:1");
	v.paths[1].bp.dev = (struct backend_device){.sysname = "sdc", .devnode = "/dev/sdc", 8, 32};
	snprintf(v.paths[1].bp.id, sizeof(v.paths[1].bp.id), "3:0:0:1");
	v.paths[1].failed = 1;
	F.devs[0].after_rescan = 128 * MIB;
	F.devs[1].after_rescan = 128 * MIB;

	/* the failed path is not rescanned (it would block on its dead session): it lags,
	 * and the map does not grow over it */
	assert_int_equal(expand(&res, &e), -EAGAIN);
	assert_string_equal(F.writes, "/sys/block/sdb/device/rescan=1\n");
	EXPECT_MSG(e, "sdc (3:0:0:1, failed)");
	EXPECT_MSG(e, "attachctl expand v");
	assert_int_equal(F.grows, 0);
	assert_int_equal(v.ident.size_bytes, 64 * MIB);

	/* back: every path rescanned, one multipath table at the new size */
	v.paths[1].failed = 0;
	F.writes[0] = F.ran[0] = 0;
	assert_int_equal(expand(&res, &e), 0);
	assert_string_equal(F.writes,
			    "/sys/block/sdb/device/rescan=1\n/sys/block/sdc/device/rescan=1\n");
	assert_int_equal(F.grows, 1);
	assert_string_equal(F.table.type, "multipath");
	assert_non_null(strstr(F.table.params, "8:16"));
	assert_non_null(strstr(F.table.params, "8:32"));
	assert_int_equal(F.table.len, 128 * MIB / 512);
	assert_true(res.grew_fs);
}

static void test_renamed_device_refused(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	F.devs[0].devno = "8:48"; /* sdb went and another disk took the name */
	F.devs[0].after_rescan = 128 * MIB;
	assert_int_equal(expand(&res, &e), -ENODEV);
	EXPECT_MSG(e, "now another device (8:48");
	assert_int_equal(F.grows, 0);
}

static void test_fs_that_cannot_grow(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	F.devs[0].after_rescan = 128 * MIB;
	F.grow_status = 1;
	assert_int_equal(expand(&res, &e), -EIO);
	EXPECT_MSG(e, "resize2fs could not grow the ext4 filesystem online (exit 1)");
	EXPECT_MSG(e, "Permission denied");
	EXPECT_MSG(e, "stays mounted");
	assert_true(res.grew_dm); /* the map's growth stands: the next try grows the fs only */
	assert_int_equal(res.fs_after, 64 * MIB);

	setup(state);
	F.devs[0].after_rescan = 128 * MIB;
	v.opts.readonly = 1;
	assert_int_equal(expand(&res, &e), -EROFS);
	EXPECT_MSG(e, "read-only");
	assert_null(strstr(F.ran, "resize2fs"));
}

static void test_not_staged(void **state)
{
	struct attach_expand_result res;
	struct errbuf e = {{0}};

	v.reached = STEP_DM;
	assert_int_equal(expand(&res, &e), -ENOTCONN);
	assert_string_equal(F.writes, "");
	setup(state);
	snprintf(v.staging, sizeof(v.staging), "/mnt/.staging/other");
	assert_int_equal(expand(&res, &e), -ENOTCONN);
}

/* ---- the backends' rescans ---- */

static void test_iscsi_rescan(void **state)
{
	struct backend_ctx ctx = {.sys = &env.sys};
	struct backend_attachment a = {.ops = &be_iscsi_ops};
	struct backend_device d = {.sysname = "sdb"}, loop = {.sysname = "loop0"};
	struct errbuf e = {{0}};

	assert_int_equal(be_iscsi_ops.rescan(&ctx, &a, &d, &e), 0);
	assert_string_equal(F.writes, "/sys/block/sdb/device/rescan=1\n");
	assert_int_equal(be_iscsi_ops.rescan(&ctx, &a, &loop, &e), -EINVAL);
	F.write_errno = -ENOENT;
	assert_int_equal(be_iscsi_ops.rescan(&ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "sdb is gone");
}

static unsigned set_capacity_calls;
static int fake_loop_open(void *ud, const struct sys *s, unsigned nr, int flags)
{
	return open("/dev/null", O_RDONLY | O_CLOEXEC);
}
static int fake_loop_status(void *ud, int fd, struct loop_info64 *ret)
{
	*ret = *(struct loop_info64 *)ud;
	return 0;
}
static int fake_set_capacity(void *ud, int fd)
{
	set_capacity_calls++;
	return 0;
}
static const struct be_file_loop_ops loop_ops = {
    .open_dev = fake_loop_open, .status = fake_loop_status, .set_capacity = fake_set_capacity};

static void test_file_rescan(void **state)
{
	char dir[] = "/tmp/attachd-expand-XXXXXX", path[64];
	struct backend_ctx ctx = {.sys = &env.sys};
	struct backend_device d = {.sysname = "loop3"};
	struct loop_info64 info = {0};
	struct errbuf e = {{0}};
	struct errlist el = {0};
	struct stat st;
	json_t *opts;
	void *cfg = NULL;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v.img", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(128 * MIB)), 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	opts = json_pack("{s:s}", "size", "64M");
	assert_int_equal(be_file_ops.parse(opts, &cfg, &el), 0);
	json_decref(opts);
	info.lo_device = st.st_dev;
	info.lo_inode = st.st_ino;
	be_file_loop_mark("v", (char *)info.lo_file_name, sizeof(info.lo_file_name));
	be_file_cfg_set_loop_ops(cfg, &loop_ops, &info);
	{
		struct backend_attachment a = {.ops = &be_file_ops, .cfg = cfg};
		char mark[LO_NAME_SIZE];

		be_file_loop_mark("v", mark, sizeof(mark));
		a.objs =
		    json_pack("{s:s,s:s,s:I,s:I,s:s}", "file", path, "loop", "loop3", "dev",
			      (json_int_t)st.st_dev, "ino", (json_int_t)st.st_ino, "mark", mark);
		F.devs[0] = (struct fdev){"loop3", "7:3", 64 * MIB, 0};
		/* the file grew: the loop device takes its size */
		assert_int_equal(be_file_ops.rescan(&ctx, &a, &d, &e), 0);
		assert_int_equal(set_capacity_calls, 1);
		/* the file was cut below the device: refused, the device keeps its size */
		F.devs[0].size = 160 * MIB;
		assert_int_equal(be_file_ops.rescan(&ctx, &a, &d, &e), -ERANGE);
		EXPECT_MSG(e, "smaller than the volume (160 MiB)");
		EXPECT_MSG(e, "never shrinks");
		assert_int_equal(set_capacity_calls, 1);
		/* another loop device than the volume's */
		d = (struct backend_device){.sysname = "loop4"};
		assert_int_equal(be_file_ops.rescan(&ctx, &a, &d, &e), -ENODEV);
		json_decref(a.objs);
	}
	be_file_ops.free_cfg(cfg);
	unlink(path);
	rmdir(dir);
}

static void test_scaleio_rescan(void **state)
{
	struct backend_host_config host = {0};
	struct backend_ctx ctx = {.sys = &env.sys, .host = &host};
	struct backend_attachment a = {.ops = &be_scaleio_ops};
	struct backend_device d = {.sysname = "scinia"};
	struct errbuf e = {{0}};

	snprintf(host.scaleio.drv_cfg, sizeof(host.scaleio.drv_cfg), "/opt/sdc/drv_cfg");
	assert_int_equal(be_scaleio_ops.rescan(&ctx, &a, &d, &e), 0);
	assert_string_equal(F.ran, "/opt/sdc/drv_cfg --rescan\n");
	F.run_status = 3;
	assert_int_equal(be_scaleio_ops.rescan(&ctx, &a, &d, &e), -EIO);
	EXPECT_MSG(e, "--rescan exited 3");
	/* no drv_cfg on this host: the SDC learns sizes from the MDM by itself */
	F.run_errno = -ENOENT;
	assert_int_equal(be_scaleio_ops.rescan(&ctx, &a, &d, &e), 0);
}

/* ---- attachctl expand's output ---- */

static void test_ctl_print_expand(void **state)
{
	json_t *x =
	    json_pack("{s:s,s:s,s:b,s:I,s:I,s:I,s:I}", "volume", "vol_1", "fs", "ext4", "grew", 1,
		      "map_before", (json_int_t)(64 * MIB), "map_after", (json_int_t)(128 * MIB),
		      "fs_before", (json_int_t)(64 * MIB), "fs_after", (json_int_t)(128 * MIB));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ctl_print_expand(x, f);
	json_object_set_new(x, "grew", json_false());
	json_object_set_new(x, "map_before", json_integer((json_int_t)(128 * MIB)));
	json_object_set_new(x, "fs_before", json_integer((json_int_t)(128 * MIB)));
	ctl_print_expand(x, f);
	fclose(f);
	assert_string_equal(buf,
			    "volume vol_1: grown online\n"
			    "  device      64.0 MiB -> 128.0 MiB (67108864 -> 134217728 bytes)\n"
			    "  ext4        64.0 MiB -> 128.0 MiB (67108864 -> 134217728 bytes)\n"
			    "volume vol_1: nothing to grow (the device is no larger than the "
			    "filesystem)\n"
			    "  device      128.0 MiB (134217728 bytes), unchanged\n"
			    "  ext4        128.0 MiB (134217728 bytes), unchanged\n");
	free(buf);
	json_decref(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_decide, setup),
	    cmocka_unit_test_setup(test_fs_size_parse, setup),
	    cmocka_unit_test_setup(test_grow_iscsi_ext4, setup),
	    cmocka_unit_test_setup(test_nothing_to_grow, setup),
	    cmocka_unit_test_setup(test_known_fs_size_skips_tools, setup),
	    cmocka_unit_test_setup(test_known_fs_size_rechecked_by_tool, setup),
	    cmocka_unit_test_setup(test_shrink_refused, setup),
	    cmocka_unit_test_setup(test_xfs_grows_on_mount_point, setup),
	    cmocka_unit_test_setup(test_multipath_paths_must_agree, setup),
	    cmocka_unit_test_setup(test_renamed_device_refused, setup),
	    cmocka_unit_test_setup(test_fs_that_cannot_grow, setup),
	    cmocka_unit_test_setup(test_not_staged, setup),
	    cmocka_unit_test_setup(test_iscsi_rescan, setup),
	    cmocka_unit_test_setup(test_file_rescan, setup),
	    cmocka_unit_test_setup(test_scaleio_rescan, setup),
	    cmocka_unit_test_setup(test_ctl_print_expand, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
