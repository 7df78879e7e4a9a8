/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File backend against fake loop ioctls and a fixture sysfs/dev tree: the objs it
 * records, allocation races, LOOP_CONFIGURE fallbacks, reuse after a crash, refusals that
 * leave the data file alone, and disconnect's "only what is still ours" rule.
 * Data files are real (sparse, in a temp dir); no root needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/file/file.h"
#include "backends/file/internal.h"
#include "lib/fileio.h"

#define NLOOP 16

struct fake {
	char root[256];
	char file_dir[300];
	struct sys sys;
	struct backend_host_config host;
	struct backend_ctx ctx;
	int fd_nr[4096];    /* open loop fd -> loop number + 1 */
	int script[20];     /* configure results to return first (0 = behave) */
	size_t nscript, iscript;
	int get_free_err;
	int set_status_err;
	int clr_keeps_bound; /* another opener: CLR_FD only sets autoclear */
	int no_dio;          /* the backing file cannot do O_DIRECT */
	unsigned n_get_free, n_configure, n_set_fd, n_set_status, n_clr;
	unsigned last_flags;
	char last_name[LO_NAME_SIZE];
	struct loop_info64 info[NLOOP]; /* what LOOP_GET_STATUS64 reports per device */
};

static struct fake F;

static void put(const char *rel, const char *data)
{
	char p[600], dir[600];

	snprintf(p, sizeof(p), "%s%s", F.root, rel);
	snprintf(dir, sizeof(dir), "%s", p);
	*strrchr(dir, '/') = 0;
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(p, data, strlen(data), 0644), 0);
}

static void bind_fixture(unsigned nr, const char *backing, uint64_t bytes)
{
	char rel[128], v[64];

	snprintf(rel, sizeof(rel), "/sys/block/loop%u/loop/backing_file", nr);
	{
		char big[4200];

		snprintf(big, sizeof(big), "%s\n", backing);
		put(rel, big);
	}
	snprintf(rel, sizeof(rel), "/sys/block/loop%u/size", nr);
	snprintf(v, sizeof(v), "%llu\n", (unsigned long long)(bytes / 512));
	put(rel, v);
}

static void unbind_fixture(unsigned nr)
{
	char p[600];

	memset(&F.info[nr], 0, sizeof(F.info[nr]));
	snprintf(p, sizeof(p), "%s/sys/block/loop%u/loop/backing_file", F.root, nr);
	unlink(p);
	snprintf(p, sizeof(p), "%s/sys/block/loop%u/loop", F.root, nr);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/sys/block/loop%u/size", F.root, nr);
	put(p + strlen(F.root), "0\n");
}

static int is_bound(unsigned nr)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/sys/block/loop%u/loop/backing_file", F.root, nr);
	return access(p, F_OK) == 0;
}

static int fake_get_free(void *ud, const struct sys *s)
{
	F.n_get_free++;
	if (F.get_free_err)
		return F.get_free_err;
	for (unsigned i = 0; i < NLOOP; i++)
		if (!is_bound(i))
			return (int)i;
	return -ENOSPC;
}

static int fake_open_dev(void *ud, const struct sys *s, unsigned nr, int flags)
{
	char p[600];
	int fd;

	snprintf(p, sizeof(p), "%s/dev/loop%u", s->dev_root, nr);
	fd = open(p, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	assert_true(fd < (int)ELEMENTSOF(F.fd_nr));
	F.fd_nr[fd] = (int)nr + 1;
	return fd;
}

static int nr_of(int fd)
{
	assert_true(fd >= 0 && fd < (int)ELEMENTSOF(F.fd_nr) && F.fd_nr[fd] > 0);
	return F.fd_nr[fd] - 1;
}

static int bind_fd(int loop_fd, int file_fd)
{
	char link[64], path[4096];
	struct stat st;
	ssize_t l;
	int nr = nr_of(loop_fd);

	if (is_bound((unsigned)nr))
		return -EBUSY;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", file_fd);
	l = readlink(link, path, sizeof(path) - 1);
	assert_true(l > 0);
	path[l] = 0;
	assert_int_equal(fstat(file_fd, &st), 0);
	bind_fixture((unsigned)nr, path, (uint64_t)st.st_size);
	memset(&F.info[nr], 0, sizeof(F.info[nr]));
	F.info[nr].lo_device = st.st_dev;
	F.info[nr].lo_inode = st.st_ino;
	return 0;
}

/* Someone else's loop device on path (losetup: lo_file_name is the path). */
static void foreign_bind(unsigned nr, const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	bind_fixture(nr, path, (uint64_t)st.st_size);
	memset(&F.info[nr], 0, sizeof(F.info[nr]));
	F.info[nr].lo_device = st.st_dev;
	F.info[nr].lo_inode = st.st_ino;
	snprintf((char *)F.info[nr].lo_file_name, LO_NAME_SIZE, "%s", path);
}

static int fake_configure(void *ud, int loop_fd, const struct loop_config *c)
{
	int r;

	F.n_configure++;
	if (F.iscript < F.nscript && (r = F.script[F.iscript++]) != 0) {
		/* A lost race: somebody else binds the device we were given. */
		if (r == -EBUSY && !is_bound((unsigned)nr_of(loop_fd)))
			bind_fixture((unsigned)nr_of(loop_fd), "/elsewhere/other.img", 1 << 24);
		return r;
	}
	F.last_flags = c->info.lo_flags;
	memcpy(F.last_name, c->info.lo_file_name, LO_NAME_SIZE);
	r = bind_fd(loop_fd, (int)c->fd);
	if (r == 0)
		memcpy(F.info[nr_of(loop_fd)].lo_file_name, c->info.lo_file_name, LO_NAME_SIZE);
	return r;
}

static int fake_set_fd(void *ud, int loop_fd, int file_fd)
{
	F.n_set_fd++;
	return bind_fd(loop_fd, file_fd);
}

static int fake_set_status(void *ud, int loop_fd, const struct loop_info64 *i)
{
	F.n_set_status++;
	if (F.set_status_err)
		return F.set_status_err;
	F.last_flags = i->lo_flags;
	memcpy(F.last_name, i->lo_file_name, LO_NAME_SIZE);
	memcpy(F.info[nr_of(loop_fd)].lo_file_name, i->lo_file_name, LO_NAME_SIZE);
	return 0;
}

static int fake_status(void *ud, int loop_fd, struct loop_info64 *ret)
{
	int nr = nr_of(loop_fd);

	if (!is_bound((unsigned)nr))
		return -ENXIO;
	*ret = F.info[nr];
	return 0;
}

static int fake_clr_fd(void *ud, int loop_fd)
{
	int nr = nr_of(loop_fd);

	F.n_clr++;
	if (!is_bound((unsigned)nr))
		return -ENXIO;
	if (!F.clr_keeps_bound)
		unbind_fixture((unsigned)nr);
	return 0;
}

static int fake_file_dio_ok(void *ud, int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	return !F.no_dio;
}

static const struct be_file_loop_ops fake_ops = {
	.get_free = fake_get_free,
	.open_dev = fake_open_dev,
	.configure = fake_configure,
	.set_fd = fake_set_fd,
	.set_status = fake_set_status,
	.clr_fd = fake_clr_fd,
	.status = fake_status,
	.file_dio_ok = fake_file_dio_ok,
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	char *tmp;

	memset(&F, 0, sizeof(F));
	snprintf(F.root, sizeof(F.root), "/tmp/test_file_loop.XXXXXX");
	tmp = mkdtemp(F.root);
	assert_non_null(tmp);
	/* Like this host: loop0..7 exist unbound. */
	for (unsigned i = 0; i < NLOOP; i++) {
		char rel[64], v[32];

		snprintf(rel, sizeof(rel), "/sys/block/loop%u/dev", i);
		snprintf(v, sizeof(v), "7:%u\n", i);
		put(rel, v);
		snprintf(rel, sizeof(rel), "/sys/block/loop%u/size", i);
		put(rel, "0\n");
		snprintf(rel, sizeof(rel), "/dev/loop%u", i);
		put(rel, "");
	}
	put("/sys/block/vda/dev", "254:0\n");
	sys_init_real(&F.sys);
	F.sys.sysfs_root = F.root;
	F.sys.dev_root = F.root;
	snprintf(F.file_dir, sizeof(F.file_dir), "%s/files", F.root);
	snprintf(F.host.file_dir, sizeof(F.host.file_dir), "%s", F.file_dir);
	F.ctx = (struct backend_ctx){ .sys = &F.sys, .host = &F.host, .timeout_ms = 50 };
	return 0;
}

static int teardown(void **state)
{
	nftw(F.root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* A parsed cfg with the fake loop ops and its path resolved for key. */
static void *cfg_for(const char *json, const char *key)
{
	struct errlist el = { 0 };
	json_error_t jerr;
	json_t *j = json_loads(json, 0, &jerr);
	void *cfg = NULL;

	assert_non_null(j);
	if (be_file_ops.parse(j, &cfg, &el) != 0)
		fail_msg("%s: %s", json, el.msg);
	json_decref(j);
	be_file_cfg_set_loop_ops(cfg, &fake_ops, NULL);
	assert_int_equal(be_file_set_default_path(cfg, F.file_dir, key), 0);
	return cfg;
}

static struct backend_attachment att_for(void *cfg)
{
	return (struct backend_attachment){ .ops = &be_file_ops, .cfg = cfg, .objs = json_object() };
}

static void att_done(struct backend_attachment *a)
{
	be_file_ops.free_cfg(a->cfg);
	json_decref(a->objs);
}

static const char *obj(const struct backend_attachment *a, const char *k)
{
	return json_string_value(json_object_get(a->objs, k));
}

static void make_file(const char *path, off_t size, const char *content)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	if (content)
		assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void test_connect_find_identify_disconnect(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "vol1"));
	struct backend_device dev;
	struct backend_identity id;
	struct errbuf e = { { 0 } };
	char path[400], want[500];
	struct stat st;

	snprintf(path, sizeof(path), "%s/vol1.img", F.file_dir);
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(stat(path, &st), 0);
	/* objs: exactly what a restarted agent needs, the file's identity included */
	assert_string_equal(obj(&a, "file"), path);
	assert_true(json_is_true(json_object_get(a.objs, "created")));
	assert_string_equal(obj(&a, "loop"), "loop0");
	assert_string_equal(obj(&a, "mark"), "attachd:vol1");
	assert_int_equal(json_integer_value(json_object_get(a.objs, "dev")), st.st_dev);
	assert_int_equal(json_integer_value(json_object_get(a.objs, "ino")), st.st_ino);
	assert_int_equal(json_object_size(a.objs), 6);
	/* the file: sparse, full size, 0600 */
	assert_int_equal(st.st_size, 64 << 20);
	assert_true(st.st_blocks * 512 < st.st_size);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* LOOP_CONFIGURE with direct I/O, no autoclear, no partscan; marked as attachd's */
	assert_int_equal(F.n_configure, 1);
	assert_int_equal(F.last_flags, LO_FLAGS_DIRECT_IO);
	assert_string_equal(F.last_name, "attachd:vol1");

	assert_int_equal(be_file_ops.find_device(&F.ctx, &a, &dev, &e), 0);
	assert_string_equal(dev.sysname, "loop0");
	snprintf(want, sizeof(want), "%s/dev/loop0", F.root);
	assert_string_equal(dev.devnode, want);
	assert_int_equal(dev.major, 7);
	assert_int_equal(dev.minor, 0);

	assert_int_equal(be_file_ops.identify(&F.ctx, &a, &dev, &id, &e), 0);
	assert_int_equal(id.size_bytes, 64 << 20);
	/* the backing inode, whatever path named it */
	snprintf(want, sizeof(want), "file:%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	assert_string_equal(id.wwid, want);

	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_clr, 1);
	assert_false(is_bound(0));
	assert_null(obj(&a, "loop"));
	assert_int_equal(stat(path, &st), 0); /* data file kept */
	/* idempotent */
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_clr, 1);
	assert_int_equal(be_file_ops.find_device(&F.ctx, &a, &dev, &e), -ENODEV);
	att_done(&a);
}

static void test_allocation_race(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	F.script[0] = -EBUSY; /* loop0 taken by someone else between GET_FREE and us */
	F.script[1] = -EBUSY; /* and loop1 too */
	F.nscript = 2;
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_string_equal(obj(&a, "loop"), "loop2");
	assert_int_equal(F.n_get_free, 3);
	att_done(&a);
}

static void test_allocation_gives_up(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };
	char path[400];

	for (size_t i = 0; i < ELEMENTSOF(F.script); i++)
		F.script[i] = -EBUSY;
	F.nscript = ELEMENTSOF(F.script);
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "another allocator"));
	/* the file it had just created is gone again, and objs says nothing */
	snprintf(path, sizeof(path), "%s/v.img", F.file_dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(json_object_size(a.objs), 0);
	att_done(&a);
}

static void test_direct_io_refused(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	F.script[0] = -EINVAL;
	F.nscript = 1;
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_configure, 2);
	assert_int_equal(F.last_flags, 0);
	assert_int_equal(F.n_set_fd, 0);
	att_done(&a);
}

static void test_no_direct_io_when_file_cannot(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	F.no_dio = 1;
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_configure, 1);
	assert_int_equal(F.last_flags, 0);
	att_done(&a);
}

static void test_legacy_fallback(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	F.script[0] = -ENOTTY; /* kernel without LOOP_CONFIGURE */
	F.nscript = 1;
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_configure, 1);
	assert_int_equal(F.n_set_fd, 1);
	assert_int_equal(F.n_set_status, 1);
	assert_string_equal(obj(&a, "loop"), "loop0");
	assert_true(is_bound(0));
	att_done(&a);

	/* -EINVAL twice (with and without direct I/O) also means "no LOOP_CONFIGURE". */
	a = att_for(cfg_for("{\"size\":\"64M\"}", "w"));
	F.script[1] = -EINVAL;
	F.script[2] = -EINVAL;
	F.nscript = 3;
	F.iscript = 1;
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_set_fd, 2);
	assert_string_equal(obj(&a, "loop"), "loop1");
	att_done(&a);
}

static void test_legacy_status_failure_leaves_nothing(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };
	char path[400];

	F.script[0] = -ENOTTY;
	F.nscript = 1;
	F.set_status_err = -EPERM;
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EPERM);
	assert_non_null(strstr(e.msg, "cannot bind"));
	assert_int_equal(F.n_clr, 1); /* the half-bound device was released */
	assert_false(is_bound(0));
	snprintf(path, sizeof(path), "%s/v.img", F.file_dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(json_object_size(a.objs), 0);
	att_done(&a);
}

static void test_no_loop_devices(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	F.get_free_err = -ENOENT;
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "loop module"));
	assert_int_equal(json_object_size(a.objs), 0);
	att_done(&a);
}

static void test_reuse_after_crash(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct backend_attachment b;
	struct errbuf e = { { 0 } };

	/* First agent: connect, then "crash" (objs lost). */
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_string_equal(obj(&a, "loop"), "loop0");

	b = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &b, &e), 0);
	assert_string_equal(obj(&b, "loop"), "loop0"); /* ours (marked, same inode): adopted */
	assert_false(json_is_true(json_object_get(b.objs, "created")));
	assert_int_equal(F.n_configure, 1); /* not bound twice */
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &b, &e), 0);
	assert_false(is_bound(0));
	att_done(&a);
	att_done(&b);
}

/* A loop device someone else bound to the file (losetup) is neither reused nor cleared,
 * and no second loop device goes on the same image. */
static void test_foreign_loop_refused(void **state)
{
	struct backend_attachment a;
	struct errbuf e = { { 0 } };
	char path[400];

	assert_int_equal(mkdir_p(F.file_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/shared.img", F.file_dir);
	make_file(path, 64 << 20, NULL);
	foreign_bind(3, path);
	a = att_for(cfg_for("{\"path\":\"shared.img\"}", "v"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "already bound to /dev/loop3, which attachd did not create"));
	assert_non_null(strstr(e.msg, "losetup -d /dev/loop3"));
	assert_int_equal(F.n_configure, 0);
	assert_null(obj(&a, "loop"));
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_clr, 0);
	assert_true(is_bound(3));
	att_done(&a);
}

/* A failed re-connect of a file an earlier connect created (it may hold data by now) never
 * removes it: only a file made by the failing call itself is. */
static void test_failed_reconnect_keeps_file(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };
	char path[400];
	struct stat st;

	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_true(json_is_true(json_object_get(a.objs, "created")));
	snprintf(path, sizeof(path), "%s/v.img", F.file_dir);
	foreign_bind(2, path);
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EBUSY);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	att_done(&a);
}

/* Bound by someone else after attachd's attach: attachd's detach clears only its own. */
static void test_foreign_loop_survives_detach(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };
	char path[400];

	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	snprintf(path, sizeof(path), "%s/v.img", F.file_dir);
	foreign_bind(5, path);
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_false(is_bound(0));
	assert_true(is_bound(5));
	assert_int_equal(F.n_clr, 1);
	/* and with "loop" lost (crash), the search by file + mark finds none left */
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	json_object_del(a.objs, "loop");
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_clr, 1);
	assert_true(is_bound(5));
	att_done(&a);
}

/* One image named two ways (default path of volume x, explicit relative path of volume
 * y): the same identity string; and y cannot put a second loop device on x's image. */
static void test_identity_same_image(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "x"));
	struct backend_attachment b = att_for(cfg_for("{\"path\":\"./x.img\"}", "y"));
	struct backend_device dev;
	struct backend_identity ida, idb;
	struct errbuf e = { { 0 } };

	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(be_file_ops.find_device(&F.ctx, &a, &dev, &e), 0);
	assert_int_equal(be_file_ops.identify(&F.ctx, &a, &dev, &ida, &e), 0);
	assert_int_equal(be_file_ops.connect(&F.ctx, &b, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "already attached by attachd as volume 'x' (/dev/loop0)"));
	assert_int_equal(F.n_configure, 1);
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(be_file_ops.connect(&F.ctx, &b, &e), 0);
	assert_int_equal(be_file_ops.find_device(&F.ctx, &b, &dev, &e), 0);
	assert_int_equal(be_file_ops.identify(&F.ctx, &b, &dev, &idb, &e), 0);
	assert_true(startswith(ida.wwid, "file:"));
	assert_string_equal(ida.wwid, idb.wwid);
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &b, &e), 0);
	att_done(&a);
	att_done(&b);
}

static void test_reconnect_keeps_created(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_true(json_is_true(json_object_get(a.objs, "created")));
	assert_string_equal(obj(&a, "loop"), "loop0");
	assert_int_equal(F.n_configure, 1);
	att_done(&a);
}

static void test_existing_smaller_refused(void **state)
{
	struct backend_attachment a;
	struct errbuf e = { { 0 } };
	char path[400], buf[64] = "";
	struct stat before, after;
	int fd;

	assert_int_equal(mkdir_p(F.file_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/small.img", F.file_dir);
	make_file(path, 32 << 20, "precious data");
	assert_int_equal(stat(path, &before), 0);
	a = att_for(cfg_for("{\"size\":\"1G\",\"path\":\"small.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "is 32 MiB, smaller than size 1 GiB"));
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, 13), 13);
	close(fd);
	assert_string_equal(buf, "precious data");
	assert_int_equal(F.n_get_free, 0);
	assert_int_equal(json_object_size(a.objs), 0);
	att_done(&a);
}

static void test_existing_larger_kept(void **state)
{
	struct backend_attachment a;
	struct backend_device dev;
	struct backend_identity id;
	struct errbuf e = { { 0 } };
	char path[400];
	struct stat st;

	assert_int_equal(mkdir_p(F.file_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/big.img", F.file_dir);
	make_file(path, 128 << 20, NULL);
	a = att_for(cfg_for("{\"size\":\"64M\",\"path\":\"big.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_false(json_is_true(json_object_get(a.objs, "created")));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 128 << 20);
	assert_int_equal(be_file_ops.find_device(&F.ctx, &a, &dev, &e), 0);
	assert_int_equal(be_file_ops.identify(&F.ctx, &a, &dev, &id, &e), 0);
	assert_int_equal(id.size_bytes, 128 << 20);
	att_done(&a);
}

static void test_existing_without_size(void **state)
{
	struct backend_attachment a;
	struct errbuf e = { { 0 } };
	char path[400];

	assert_int_equal(mkdir_p(F.file_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/have.img", F.file_dir);
	make_file(path, 20 << 20, NULL);
	a = att_for(cfg_for("{\"path\":\"have.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	assert_string_equal(obj(&a, "file"), path);
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	att_done(&a);

	/* too small even for the minimum */
	make_file(path, 1 << 20, NULL);
	a = att_for(cfg_for("{\"path\":\"have.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "below the minimum"));
	att_done(&a);

	/* missing, and no size to create it: no directory made either */
	a = att_for(cfg_for("{\"path\":\"nodir/x.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -ENOENT);
	snprintf(path, sizeof(path), "%s/nodir", F.file_dir);
	assert_int_equal(access(path, F_OK), -1);
	att_done(&a);

	/* with a size: directories beneath file.dir are made, 0700 */
	a = att_for(cfg_for("{\"path\":\"nodir/x.img\",\"size\":\"64M\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	att_done(&a);
}

static void test_not_regular_or_symlink(void **state)
{
	struct backend_attachment a;
	struct errbuf e = { { 0 } };
	char path[400], target[400], outside[400];

	assert_int_equal(mkdir_p(F.file_dir, 0700), 0);
	snprintf(target, sizeof(target), "%s/real.img", F.file_dir);
	make_file(target, 64 << 20, NULL);
	/* a link to a file beneath file.dir: still refused (no links at all) */
	snprintf(path, sizeof(path), "%s/link.img", F.file_dir);
	assert_int_equal(symlink(target, path), 0);
	a = att_for(cfg_for("{\"size\":\"64M\",\"path\":\"link.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -ELOOP);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_non_null(strstr(e.msg, "link.img"));
	att_done(&a);

	/* a directory link leading out of file.dir, with a size (would create out there) */
	snprintf(outside, sizeof(outside), "%s/outside", F.root);
	assert_int_equal(mkdir(outside, 0700), 0);
	snprintf(path, sizeof(path), "%s/escape", F.file_dir);
	assert_int_equal(symlink(outside, path), 0);
	a = att_for(cfg_for("{\"size\":\"64M\",\"path\":\"escape/new.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -ELOOP);
	snprintf(path, sizeof(path), "%s/new.img", outside);
	assert_int_equal(access(path, F_OK), -1); /* nothing made outside */
	att_done(&a);

	snprintf(path, sizeof(path), "%s/adir.img", F.file_dir);
	assert_int_equal(mkdir(path, 0700), 0);
	a = att_for(cfg_for("{\"size\":\"64M\",\"path\":\"adir.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not a regular file"));
	att_done(&a);

	snprintf(path, sizeof(path), "%s/fifo.img", F.file_dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	a = att_for(cfg_for("{\"path\":\"fifo.img\"}", "k"));
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not a regular file"));
	assert_int_equal(F.n_get_free, 0);
	att_done(&a);
}

static void test_unresolved_path(void **state)
{
	struct backend_attachment a = { .ops = &be_file_ops, .objs = json_object() };
	struct errlist el = { 0 };
	struct errbuf e = { { 0 } };
	json_t *j = json_pack("{s:s}", "size", "64M");

	assert_int_equal(be_file_ops.parse(j, &a.cfg, &el), 0);
	json_decref(j);
	be_file_cfg_set_loop_ops(a.cfg, &fake_ops, NULL);
	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "be_file_set_default_path"));
	att_done(&a);
}

static void test_disconnect_rebound_untouched(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	char path[400];

	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	/* Someone detached loop0 and bound another file to it. */
	unbind_fixture(0);
	bind_fixture(0, "/somewhere/else.img", 1 << 26);
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_clr, 0);
	assert_true(is_bound(0));
	/* ... or the same file again, with losetup: not ours either */
	unbind_fixture(0);
	snprintf(path, sizeof(path), "%s/v.img", F.file_dir);
	foreign_bind(0, path);
	json_object_set_new(a.objs, "loop", json_string("loop0"));
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_clr, 0);
	assert_true(is_bound(0));
	att_done(&a);
}

static void test_disconnect_unrecorded_loop(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	/* Crash between binding and recording "loop". */
	json_object_del(a.objs, "loop");
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	assert_int_equal(F.n_clr, 1);
	assert_false(is_bound(0));
	att_done(&a);

	/* Nothing recorded at all: nothing to do. */
	a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	att_done(&a);
}

static void test_disconnect_busy(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct errbuf e = { { 0 } };

	assert_int_equal(be_file_ops.connect(&F.ctx, &a, &e), 0);
	F.clr_keeps_bound = 1;
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "still open"));
	assert_string_equal(obj(&a, "loop"), "loop0"); /* still recorded */
	F.clr_keeps_bound = 0;
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	att_done(&a);
}

static void test_bad_records(void **state)
{
	struct backend_attachment a = att_for(cfg_for("{\"size\":\"64M\"}", "v"));
	struct backend_device dev = { .sysname = "sda" };
	struct backend_identity id;
	struct errbuf e = { { 0 } };

	json_object_set_new(a.objs, "file", json_string("/x"));
	json_object_set_new(a.objs, "loop", json_string("../../etc"));
	/* a record without the file's identity (older attachd): nothing proves loop ours */
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), 0);
	json_object_set_new(a.objs, "loop", json_string("../../etc"));
	json_object_set_new(a.objs, "dev", json_integer(1));
	json_object_set_new(a.objs, "ino", json_integer(2));
	json_object_set_new(a.objs, "mark", json_string("attachd:v"));
	assert_int_equal(be_file_ops.disconnect(&F.ctx, &a, &e), -EINVAL);
	assert_int_equal(be_file_ops.find_device(&F.ctx, &a, &dev, &e), -EINVAL);
	assert_int_equal(be_file_ops.identify(&F.ctx, &a, &dev, &id, &e), -EINVAL);
	assert_int_equal(F.n_clr, 0);
	att_done(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_find_identify_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocation_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allocation_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_io_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_direct_io_when_file_cannot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_status_failure_leaves_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_loop_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_loop_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_reconnect_keeps_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_loop_survives_detach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_same_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_keeps_created, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_smaller_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_larger_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_without_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_regular_or_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unresolved_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_rebound_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_unrecorded_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
