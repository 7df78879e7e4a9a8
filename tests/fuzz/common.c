/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "tests/fuzz/fuzz.h"

char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

void fuzz_quiet_logs(void)
{
	int fd;

	agent_log_set_level(AGENT_LOG_DEBUG);
	if (getenv("ATTACHD_FUZZ_LOG"))
		return; /* to stdout, for looking at what an input does */
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		abort();
	agent_log_set_fd(fd);
}

/* ---- the fake pipeline ---- */

static int drv_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	snprintf(v->staging, sizeof(v->staging), "%s/.staging/%s", env->mount_root, v->key);
	v->reached = STEP_MOUNT;
	v->doing = STEP_NONE;
	return 0;
}

static int drv_down(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e)
{
	v->reached = STEP_NONE;
	v->doing = STEP_NONE;
	return 0;
}

static int drv_bind(struct attach_env *env, struct attach_volume *v, const char *container,
		    char *ret_path, size_t n, struct errbuf *e)
{
	if (v->reached != STEP_MOUNT)
		return errbuf_set(e, -ENOENT, "fuzz: volume %s is not staged", v->key);
	return attach_container_path(env, v->key, container, ret_path, n);
}

static int drv_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
		      struct errbuf *e)
{
	return 0;
}

const struct agent_driver_ops fuzz_driver_ops = {
    .up = drv_up,
    .down = drv_down,
    .bind = drv_bind,
    .unbind = drv_unbind,
};

/* ---- the kernel seam ---- */

char *fuzz_next_chunk(struct fuzz_seam *f)
{
	const uint8_t *start, *nul;
	size_t len;

	if (f->pos >= f->size)
		return NULL;
	start = f->data + f->pos;
	nul = memchr(start, 0, f->size - f->pos);
	len = nul ? (size_t)(nul - start) : f->size - f->pos;
	f->pos += len + 1;
	return fuzz_strndup(start, len);
}

static int seam_read_file(const struct sys *s, const char *path, char **ret, size_t max)
{
	struct fuzz_seam *f = s->userdata;
	char *c = fuzz_next_chunk(f);

	f->reads++;
	if (!c || !c[0]) {
		free(c);
		return read_full_file(path, ret, NULL, max);
	}
	if (streq(c, "\x7f")) {
		free(c);
		return -ENOENT;
	}
	if (strlen(c) > max) {
		free(c);
		return -EFBIG;
	}
	*ret = c;
	return 0;
}

static int seam_write_file(const struct sys *s, const char *path, const char *data)
{
	return 0;
}

static int seam_run(const struct sys *s, char *const argv[], int timeout_ms,
		    struct sys_run_result *ret)
{
	struct fuzz_seam *f = s->userdata;
	char *c = fuzz_next_chunk(f);

	f->runs++;
	ret->status = f->run_status;
	if (c && f->status_in_chunk && c[0]) {
		ret->status = (unsigned char)c[0] % 32;
		memmove(c, c + 1, strlen(c));
	}
	ret->out = c ? c : strdup("");
	if (!ret->out)
		abort();
	return 0;
}

static int seam_mount(const struct sys *s, const char *src, const char *target, const char *fstype,
		      unsigned long flags, const char *data)
{
	return 0;
}

static int seam_umount(const struct sys *s, const char *target, int flags)
{
	return 0;
}

static int seam_mkdir_p(const struct sys *s, const char *path, mode_t mode)
{
	return 0;
}

static int seam_rmdir(const struct sys *s, const char *path)
{
	return 0;
}

static const struct sys_ops seam_ops = {
    .read_file = seam_read_file,
    .write_file = seam_write_file,
    .run = seam_run,
    .mount = seam_mount,
    .umount = seam_umount,
    .mkdir_p = seam_mkdir_p,
    .rmdir = seam_rmdir,
};

void fuzz_sys_init(struct sys *s, struct fuzz_seam *f, const uint8_t *data, size_t size)
{
	*f = (struct fuzz_seam){.data = data, .size = size};
	*s = (struct sys){.sysfs_root = "",
			  .dev_root = "",
			  .proc_root = "",
			  .etc_root = "",
			  .ops = &seam_ops,
			  .userdata = f};
}

/* ---- scratch space ---- */

static int remove_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void remove_scratch(void)
{
	(void)nftw(fuzz_scratch_dir(), remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_scratch_dir(void)
{
	static char dir[256];

	if (!dir[0]) {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

		snprintf(dir, sizeof(dir), "%s/attachd-fuzz.XXXXXX", base);
		if (!mkdtemp(dir))
			abort();
		atexit(remove_scratch);
	}
	return dir;
}

void fuzz_clear_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[4096];

	if (!d)
		return;
	while ((de = readdir(d)))
		if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
		    snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) < (int)sizeof(p))
			(void)unlink(p);
	closedir(d);
}
