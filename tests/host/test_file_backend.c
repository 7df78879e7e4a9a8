/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File backend on the real host kernel (root; loop devices work here, dm does not):
 * connect -> find_device -> identify -> disconnect, data surviving detach and re-attach,
 * reuse after a crash, an existing smaller file refused untouched, a busy device, and no
 * loop device left behind. Skips (cmocka skip) when not root or without loop-control.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/file/file.h"
#include "backends/file/internal.h"
#include "lib/fileio.h"

static struct {
	char dir[256];
	char file_dir[300];
	struct sys sys;
	struct backend_host_config host;
	struct backend_ctx ctx;
} H;

static int can_run(void)
{
	return geteuid() == 0 && access("/dev/loop-control", R_OK | W_OK) == 0;
}

#define REQUIRE_ROOT()                                                                             \
	do {                                                                                       \
		if (!can_run()) {                                                                  \
			print_message("skipped: needs root and /dev/loop-control\n");              \
			skip();                                                                    \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	snprintf(H.dir, sizeof(H.dir), "/var/tmp/attachd-host-file.XXXXXX");
	if (!mkdtemp(H.dir))
		return -1;
	snprintf(H.file_dir, sizeof(H.file_dir), "%s/files", H.dir);
	sys_init_real(&H.sys);
	snprintf(H.host.file_dir, sizeof(H.host.file_dir), "%s", H.file_dir);
	H.ctx = (struct backend_ctx){ .sys = &H.sys, .host = &H.host, .timeout_ms = 2000 };
	return 0;
}

/* The loop device whose backing_file is exactly path: 0 and *ret_nr, -ENOENT if none. */
static int find_by_path(const char *path, unsigned *ret_nr)
{
	for (unsigned nr = 0; nr < 256; nr++) {
		char backing[4200];

		if (be_file_loop_backing(&H.sys, nr, backing, sizeof(backing)) == 0 &&
		    streq(backing, path)) {
			*ret_nr = nr;
			return 0;
		}
	}
	return -ENOENT;
}

/* Whatever a failed test left: unbind loops on our files, then remove the files. */
static int teardown(void **state)
{
	for (int i = 0; i < 6; i++) {
		char path[400];
		unsigned nr;

		snprintf(path, sizeof(path), "%s/files/v%d.img", H.dir, i);
		while (find_by_path(path, &nr) == 0) {
			int fd = be_file_loop_real.open_dev(NULL, &H.sys, nr, O_RDWR);

			if (fd < 0)
				break;
			(void)be_file_loop_real.clr_fd(NULL, fd);
			close(fd);
			poll(NULL, 0, 50);
		}
	}
	nftw(H.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static struct backend_attachment att(const char *json, const char *key)
{
	struct backend_attachment a = { .ops = &be_file_ops, .objs = json_object() };
	struct errlist el = { 0 };
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	if (be_file_ops.parse(j, &a.cfg, &el) != 0)
		fail_msg("%s: %s", json, el.msg);
	json_decref(j);
	assert_int_equal(be_file_set_default_path(a.cfg, H.file_dir, key), 0);
	return a;
}

static void att_done(struct backend_attachment *a)
{
	be_file_ops.free_cfg(a->cfg);
	json_decref(a->objs);
	a->cfg = NULL;
	a->objs = NULL;
}

static int bound_to(const char *path)
{
	unsigned nr;

	return find_by_path(path, &nr) == 0;
}

static void attr(const char *sysname, const char *name, char *buf, size_t n)
{
	char p[128];

	snprintf(p, sizeof(p), "/sys/block/%s/loop/%s", sysname, name);
	assert_int_equal(sys_read_attr(&H.sys, p, buf, n), 0);
}

static void must(int r, const struct errbuf *e)
{
	if (r < 0)
		fail_msg("failed %d (%s): %s", r, strerror(-r), e->msg);
}

static void test_lifecycle_and_data_survive(void **state)
{
	struct backend_attachment a;
	struct backend_device dev;
	struct backend_identity id;
	struct errbuf e = { { 0 } };
	char path[400], want[500], buf[64];
	static char block[4096], back[4096];
	struct loop_info64 info;
	struct stat st;
	int fd;

	REQUIRE_ROOT();
	snprintf(path, sizeof(path), "%s/v0.img", H.file_dir);
	a = att("{\"size\":\"64M\"}", "v0");
	must(be_file_ops.connect(&H.ctx, &a, &e), &e);
	assert_string_equal(json_string_value(json_object_get(a.objs, "file")), path);
	assert_true(json_is_true(json_object_get(a.objs, "created")));
	must(be_file_ops.find_device(&H.ctx, &a, &dev, &e), &e);
	assert_string_equal(dev.sysname, json_string_value(json_object_get(a.objs, "loop")));
	assert_int_equal(dev.major, 7);
	must(be_file_ops.identify(&H.ctx, &a, &dev, &id, &e), &e);
	assert_int_equal(id.size_bytes, 64 << 20);
	assert_int_equal(stat(path, &st), 0);
	snprintf(want, sizeof(want), "file:%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	assert_string_equal(id.wwid, want);
	/* attachd's mark, read back from the kernel */
	fd = open(dev.devnode, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(be_file_loop_real.status(NULL, fd, &info), 0);
	close(fd);
	assert_string_equal((char *)info.lo_file_name, "attachd:v0");
	assert_int_equal(info.lo_device, st.st_dev);
	assert_int_equal(info.lo_inode, st.st_ino);
	/* What the kernel was told: the file, no autoclear (survives an agent restart), no
	 * partition scan. */
	attr(dev.sysname, "backing_file", back, sizeof(back));
	assert_string_equal(back, path);
	attr(dev.sysname, "autoclear", buf, sizeof(buf));
	assert_string_equal(buf, "0");
	attr(dev.sysname, "partscan", buf, sizeof(buf));
	assert_string_equal(buf, "0");

	/* Write through the loop device, detach, re-attach, read back. */
	memset(block, 0xa5, sizeof(block));
	memcpy(block, "attachd data survives detach", 28);
	fd = open(dev.devnode, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, block, sizeof(block), 1 << 20), (ssize_t)sizeof(block));
	assert_int_equal(fsync(fd), 0);
	close(fd);
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	assert_false(bound_to(path));
	att_done(&a);

	a = att("{\"size\":\"64M\"}", "v0");
	must(be_file_ops.connect(&H.ctx, &a, &e), &e);
	assert_false(json_is_true(json_object_get(a.objs, "created")));
	must(be_file_ops.find_device(&H.ctx, &a, &dev, &e), &e);
	fd = open(dev.devnode, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, back, sizeof(back), 1 << 20), (ssize_t)sizeof(back));
	close(fd);
	assert_memory_equal(block, back, sizeof(block));
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	assert_false(bound_to(path));
	/* idempotent; the data file stays */
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	assert_int_equal(access(path, F_OK), 0);
	att_done(&a);
}

static void test_reuse_after_crash(void **state)
{
	struct backend_attachment a, b;
	struct errbuf e = { { 0 } };
	char path[400];

	REQUIRE_ROOT();
	snprintf(path, sizeof(path), "%s/v1.img", H.file_dir);
	a = att("{\"size\":\"32M\"}", "v1");
	must(be_file_ops.connect(&H.ctx, &a, &e), &e);
	/* The agent "crashed": a new record, connect again. */
	b = att("{\"size\":\"32M\"}", "v1");
	must(be_file_ops.connect(&H.ctx, &b, &e), &e);
	assert_string_equal(json_string_value(json_object_get(a.objs, "loop")),
			    json_string_value(json_object_get(b.objs, "loop")));
	must(be_file_ops.disconnect(&H.ctx, &b, &e), &e);
	assert_false(bound_to(path));
	/* The stale record's undo finds nothing of its own left and succeeds. */
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	att_done(&a);
	att_done(&b);
}

static void test_smaller_existing_refused(void **state)
{
	struct backend_attachment a;
	struct errbuf e = { { 0 } };
	char path[400], buf[32] = "";
	struct stat before, after;
	int fd;

	REQUIRE_ROOT();
	assert_int_equal(mkdir_p(H.file_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/v2.img", H.file_dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep me", 7), 7);
	assert_int_equal(ftruncate(fd, 20 << 20), 0);
	close(fd);
	assert_int_equal(stat(path, &before), 0);

	a = att("{\"size\":\"1G\"}", "v2");
	assert_int_equal(be_file_ops.connect(&H.ctx, &a, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "smaller than size"));
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, 20 << 20);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, buf, 7), 7);
	close(fd);
	assert_string_equal(buf, "keep me");
	assert_false(bound_to(path));
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	att_done(&a);
}

static void test_busy_then_autoclear(void **state)
{
	struct backend_attachment a;
	struct backend_device dev;
	struct errbuf e = { { 0 } };
	char path[400];
	int fd, i;

	REQUIRE_ROOT();
	snprintf(path, sizeof(path), "%s/v3.img", H.file_dir);
	a = att("{\"size\":\"16M\"}", "v3");
	must(be_file_ops.connect(&H.ctx, &a, &e), &e);
	must(be_file_ops.find_device(&H.ctx, &a, &dev, &e), &e);
	fd = open(dev.devnode, O_RDONLY | O_CLOEXEC); /* a user still holding the device */
	assert_true(fd >= 0);
	H.ctx.timeout_ms = 200;
	assert_int_equal(be_file_ops.disconnect(&H.ctx, &a, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "still open"));
	/* The kernel marked it autoclear: the last close unbinds it. */
	close(fd);
	for (i = 0; i < 100 && bound_to(path); i++)
		poll(NULL, 0, 20);
	assert_false(bound_to(path));
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	att_done(&a);
}

/* losetup's way: bind path to a free loop device, lo_file_name = the path. */
static unsigned foreign_losetup(const char *path)
{
	struct loop_info64 info = { 0 };
	int nr, lfd, ffd;

	nr = be_file_loop_real.get_free(NULL, &H.sys);
	assert_true(nr >= 0);
	lfd = be_file_loop_real.open_dev(NULL, &H.sys, (unsigned)nr, O_RDWR);
	assert_true(lfd >= 0);
	ffd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(ffd >= 0);
	assert_int_equal(be_file_loop_real.set_fd(NULL, lfd, ffd), 0);
	snprintf((char *)info.lo_file_name, LO_NAME_SIZE, "%s", path);
	assert_int_equal(be_file_loop_real.set_status(NULL, lfd, &info), 0);
	close(ffd);
	close(lfd);
	return (unsigned)nr;
}

static void foreign_detach(unsigned nr)
{
	int fd = be_file_loop_real.open_dev(NULL, &H.sys, nr, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(be_file_loop_real.clr_fd(NULL, fd), 0);
	close(fd);
}

/* Someone else's loop device on the file: the attach is refused, their device stays;
 * bound after attachd's attach, it survives attachd's detach. */
static void test_foreign_loop(void **state)
{
	struct backend_attachment a;
	struct errbuf e = { { 0 } };
	char path[400], back[4200];
	unsigned nr, mine;

	REQUIRE_ROOT();
	snprintf(path, sizeof(path), "%s/v4.img", H.file_dir);
	a = att("{\"size\":\"16M\"}", "v4");
	must(be_file_ops.connect(&H.ctx, &a, &e), &e);
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	att_done(&a);

	nr = foreign_losetup(path);
	a = att("{\"size\":\"16M\"}", "v4");
	assert_int_equal(be_file_ops.connect(&H.ctx, &a, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "which attachd did not create"));
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	assert_int_equal(be_file_loop_backing(&H.sys, nr, back, sizeof(back)), 0);
	assert_string_equal(back, path);
	foreign_detach(nr);
	att_done(&a);

	a = att("{\"size\":\"16M\"}", "v4");
	must(be_file_ops.connect(&H.ctx, &a, &e), &e);
	assert_int_equal(be_file_loop_name_parse(json_string_value(json_object_get(a.objs, "loop")),
						 &mine),
			 0);
	nr = foreign_losetup(path);
	must(be_file_ops.disconnect(&H.ctx, &a, &e), &e);
	assert_int_equal(be_file_loop_backing(&H.sys, mine, back, sizeof(back)), -ENOENT);
	assert_int_equal(be_file_loop_backing(&H.sys, nr, back, sizeof(back)), 0);
	assert_string_equal(back, path);
	foreign_detach(nr);
	att_done(&a);
}

/* Confinement on the real kernel: a symbolic link beneath file.dir is refused by openat2. */
static void test_symlink_refused(void **state)
{
	struct backend_attachment a;
	struct errbuf e = { { 0 } };
	char target[400], link[400];
	int fd;

	REQUIRE_ROOT();
	assert_int_equal(mkdir_p(H.file_dir, 0700), 0);
	snprintf(target, sizeof(target), "%s/target.img", H.dir);
	fd = open(target, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16 << 20), 0);
	close(fd);
	snprintf(link, sizeof(link), "%s/v5.img", H.file_dir);
	assert_int_equal(symlink(target, link), 0);
	a = att("{\"size\":\"16M\"}", "v5");
	assert_int_equal(be_file_ops.connect(&H.ctx, &a, &e), -ELOOP);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_false(bound_to(target));
	att_done(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle_and_data_survive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reuse_after_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smaller_existing_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_then_autoclear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
