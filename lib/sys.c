/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <scsi/sg.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "fileio.h"
#include "macro.h"
#include "sys.h"

char *sys_path(char *buf, size_t n, const char *root, const char *path)
{
	int r = snprintf(buf, n, "%s%s", root ? root : "", path);

	return r < 0 || (size_t)r >= n ? NULL : buf;
}

static int real_read_file(const struct sys *s _unused_, const char *path, char **ret, size_t max)
{
	return read_full_file(path, ret, NULL, max);
}

static int real_write_file(const struct sys *s _unused_, const char *path, const char *data)
{
	return write_string_file(path, data);
}

static int real_run(const struct sys *s _unused_, char *const argv[], int timeout_ms,
		    struct sys_run_result *ret)
{
	return exec_run(argv, timeout_ms, &ret->status, &ret->out);
}

static int real_mount(const struct sys *s _unused_, const char *src, const char *target,
		      const char *fstype, unsigned long flags, const char *data)
{
	return mount(src, target, fstype, flags, data) < 0 ? negative_errno() : 0;
}

static int real_umount(const struct sys *s _unused_, const char *target, int flags)
{
	return umount2(target, flags) < 0 ? negative_errno() : 0;
}

static int real_mkdir_p(const struct sys *s _unused_, const char *path, mode_t mode)
{
	return mkdir_p(path, mode);
}

static int real_rmdir(const struct sys *s _unused_, const char *path)
{
	return rmdir(path) < 0 ? negative_errno() : 0;
}

int sys_sense_key(const unsigned char *sense, size_t len)
{
	unsigned rc;

	if (!sense || len < 2)
		return -1;
	rc = sense[0] & 0x7f;
	if (rc == 0x72 || rc == 0x73)
		return sense[1] & 0x0f;
	if ((rc == 0x70 || rc == 0x71) && len >= 3)
		return sense[2] & 0x0f;
	return -1;
}

/* SAM status, SCSI host byte and driver byte values (scsi/scsi.h keeps them kernel-side). */
enum {
	SAM_GOOD = 0x00,
	SAM_CHECK_CONDITION = 0x02,
	SAM_BUSY = 0x08,
	SAM_TASK_SET_FULL = 0x28,
	HOST_OK = 0x00,
	HOST_NO_CONNECT = 0x01,
	HOST_TIME_OUT = 0x03,
	HOST_BAD_TARGET = 0x04,
	DRIVER_TIMEOUT_ = 0x06,
	DRIVER_SENSE_ = 0x08,
};

int sys_sg_io_decode(unsigned status, unsigned host_status, unsigned driver_status,
		     const unsigned char *sense, size_t sense_len, int *ret_sense_key)
{
	status &= 0xff;
	switch (host_status) {
	case HOST_OK:
		break;
	case HOST_TIME_OUT:
		return -ETIMEDOUT;
	case HOST_BAD_TARGET:
		return -ENXIO;
	case HOST_NO_CONNECT:
	default:
		/* bus busy, aborted, transport disrupted/failfast, ...: the path, not the LU */
		return -EHOSTDOWN;
	}
	if ((driver_status & 0x0f) == DRIVER_TIMEOUT_)
		return -ETIMEDOUT;
	if (status == SAM_CHECK_CONDITION || (driver_status & DRIVER_SENSE_)) {
		if (ret_sense_key)
			*ret_sense_key = sys_sense_key(sense, sense_len);
		return -EIO;
	}
	if (status == SAM_BUSY || status == SAM_TASK_SET_FULL)
		return -EBUSY;
	if (status != SAM_GOOD)
		return -EIO;
	return 0;
}

static int real_scsi_tur(const struct sys *s _unused_, const char *devnode, int timeout_ms,
			 int *ret_sense_key)
{
	_cleanup_close_ int fd = -EBADF;
	unsigned char cdb[6] = { 0 }; /* TEST UNIT READY */
	unsigned char sense[32] = { 0 };
	struct sg_io_hdr h = {
		.interface_id = 'S',
		.dxfer_direction = SG_DXFER_NONE,
		.cmd_len = sizeof(cdb),
		.mx_sb_len = sizeof(sense),
		.cmdp = cdb,
		.sbp = sense,
		.timeout = timeout_ms > 0 ? (unsigned)timeout_ms : 1,
	};

	fd = open(devnode, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENODEV ? -ENXIO : negative_errno();
	if (ioctl(fd, SG_IO, &h) < 0)
		return errno == ENODEV ? -ENXIO : negative_errno();
	return sys_sg_io_decode(h.status, h.host_status, h.driver_status, sense, h.sb_len_wr,
				ret_sense_key);
}

const struct sys_ops sys_real_ops = {
	.read_file = real_read_file,
	.write_file = real_write_file,
	.run = real_run,
	.mount = real_mount,
	.umount = real_umount,
	.mkdir_p = real_mkdir_p,
	.rmdir = real_rmdir,
	.scsi_tur = real_scsi_tur,
};

void sys_init_real(struct sys *s)
{
	*s = (struct sys){
		.sysfs_root = "",
		.dev_root = "",
		.proc_root = "",
		.etc_root = "",
		.ops = &sys_real_ops,
	};
}

int sys_read_sysfs(const struct sys *s, const char *path, char **ret)
{
	char p[4096];

	if (!sys_path(p, sizeof(p), s->sysfs_root, path))
		return -ENAMETOOLONG;
	return s->ops->read_file(s, p, ret, 1 << 20);
}

int sys_write_sysfs(const struct sys *s, const char *path, const char *data)
{
	char p[4096];

	if (!sys_path(p, sizeof(p), s->sysfs_root, path))
		return -ENAMETOOLONG;
	return s->ops->write_file(s, p, data);
}

int sys_read_attr(const struct sys *s, const char *path, char *buf, size_t n)
{
	_cleanup_free_ char *v = NULL;
	size_t l;
	int r;

	r = sys_read_sysfs(s, path, &v);
	if (r < 0)
		return r;
	l = strlen(v);
	while (l > 0 && (v[l - 1] == '\n' || v[l - 1] == ' ' || v[l - 1] == '\t'))
		v[--l] = 0;
	if (l >= n)
		return -ENOBUFS;
	memcpy(buf, v, l + 1);
	return 0;
}

int sys_run(const struct sys *s, char *const argv[], int timeout_ms, char **ret_out)
{
	struct sys_run_result res = { 0 };
	int r;

	r = s->ops->run(s, argv, timeout_ms, &res);
	if (r < 0) {
		free(res.out);
		return r;
	}
	if (ret_out)
		*ret_out = res.out;
	else
		free(res.out);
	return res.status;
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

int sys_sysfs_for_each(const struct sys *s, const char *path,
		       int (*cb)(const char *name, void *ud), void *ud)
{
	_cleanup_(closedirp) DIR *d = NULL;
	struct dirent *de;
	char full[4096];

	if (!sys_path(full, sizeof(full), s->sysfs_root, path))
		return -ENAMETOOLONG;
	d = opendir(full);
	if (!d)
		return negative_errno();
	while ((errno = 0, de = readdir(d))) {
		int r;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		r = cb(de->d_name, ud);
		if (r)
			return r;
	}
	return errno ? -errno : 0;
}
