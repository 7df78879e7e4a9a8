/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/pr.h>
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

int sys_pr_ioctl_result(int r, int err)
{
	unsigned host, status;

	if (r == 0)
		return 0;
	if (r < 0) {
		switch (err) {
		case ENOTTY:
		case EOPNOTSUPP:
		case EINVAL: /* ILLEGAL REQUEST: INVALID FIELD IN CDB / PARAMETER LIST */
			return -EOPNOTSUPP;
		case ENODEV:
			return -ENXIO;
		case EBADE:
		case EHOSTDOWN:
		case ETIMEDOUT:
		case ENXIO:
			return -err;
		default:
			return -EIO;
		}
	}
	/* NVMe: generic status 0x83 is a reservation conflict; the DNR/More bits may ride
	 * along in bits 14/13. */
	if ((r & 0x7ff) == 0x83)
		return -EBADE;
	host = ((unsigned)r >> 16) & 0xff;
	status = (unsigned)r & 0xff;
	if (host)
		/* pr_status 0x10000/0xe0000/0xf0000 and raw DID_* results alike */
		return -EHOSTDOWN;
	if (status == 0x18)
		return -EBADE;
	return -EIO;
}

int sys_pr_in_decode(unsigned status, unsigned host_status, unsigned driver_status,
		     const unsigned char *sense, size_t sense_len)
{
	int key = -1, r;

	if (host_status == HOST_OK && (status & 0xff) == 0x18)
		return -EBADE;
	r = sys_sg_io_decode(status, host_status, driver_status, sense, sense_len, &key);
	if (r == -EIO && key == 5) /* ILLEGAL REQUEST */
		return -EOPNOTSUPP;
	if (r == -EIO && key == 6) /* UNIT ATTENTION: reported once, then cleared */
		return -EAGAIN;
	return r;
}

static int pr_open(const char *devnode)
{
	/* O_NONBLOCK: a SCSI disk without media or a failed map must not block the open. */
	int fd = open(devnode, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENODEV ? -ENXIO : negative_errno();
	return fd;
}

static int pr_ioctl(const char *devnode, unsigned long req, void *arg)
{
	_cleanup_close_ int fd = -EBADF;
	int r;

	fd = pr_open(devnode);
	if (fd < 0)
		return fd;
	r = ioctl(fd, req, arg);
	return sys_pr_ioctl_result(r, r < 0 ? errno : 0);
}

static int real_pr_register(const struct sys *s _unused_, const char *devnode, uint64_t old_key,
			    uint64_t new_key, bool ignore_key)
{
	struct pr_registration a = {
	    .old_key = old_key,
	    .new_key = new_key,
	    .flags = ignore_key ? PR_FL_IGNORE_KEY : 0,
	};

	return pr_ioctl(devnode, IOC_PR_REGISTER, &a);
}

static int real_pr_reserve(const struct sys *s _unused_, const char *devnode, uint64_t key,
			   unsigned type)
{
	struct pr_reservation a = {.key = key, .type = type};

	return pr_ioctl(devnode, IOC_PR_RESERVE, &a);
}

static int real_pr_release(const struct sys *s _unused_, const char *devnode, uint64_t key,
			   unsigned type)
{
	struct pr_reservation a = {.key = key, .type = type};

	return pr_ioctl(devnode, IOC_PR_RELEASE, &a);
}

static int real_pr_preempt(const struct sys *s _unused_, const char *devnode, uint64_t old_key,
			   uint64_t new_key, unsigned type, bool abort)
{
	/* The ioctl's own naming is the other way round: sd.c sends pr_preempt.old_key as
	 * the RESERVATION KEY (the issuer's, ours) and new_key as the SERVICE ACTION
	 * RESERVATION KEY (the one preempted); nvme.c likewise (crkey, prkey). Checked
	 * against LIO on 6.1. */
	struct pr_preempt a = {.old_key = new_key, .new_key = old_key, .type = type};

	return pr_ioctl(devnode, abort ? IOC_PR_PREEMPT_ABORT : IOC_PR_PREEMPT, &a);
}

static int real_pr_clear(const struct sys *s _unused_, const char *devnode, uint64_t key)
{
	struct pr_clear a = {.key = key};

	return pr_ioctl(devnode, IOC_PR_CLEAR, &a);
}

static int real_scsi_pr_in(const struct sys *s _unused_, const char *devnode,
			   unsigned service_action, unsigned char *buf, size_t len, int timeout_ms,
			   size_t *ret_len)
{
	_cleanup_close_ int fd = -EBADF;
	unsigned char cdb[10] = {0x5e, (unsigned char)(service_action & 0x1f)};
	unsigned char sense[32] = {0};
	struct sg_io_hdr h;
	int r;

	if (len > 0xffff)
		len = 0xffff; /* ALLOCATION LENGTH is 16 bits */
	cdb[7] = (unsigned char)(len >> 8);
	cdb[8] = (unsigned char)len;
	h = (struct sg_io_hdr){
	    .interface_id = 'S',
	    .dxfer_direction = SG_DXFER_FROM_DEV,
	    .cmd_len = sizeof(cdb),
	    .mx_sb_len = sizeof(sense),
	    .dxfer_len = (unsigned)len,
	    .dxferp = buf,
	    .cmdp = cdb,
	    .sbp = sense,
	    .timeout = timeout_ms > 0 ? (unsigned)timeout_ms : 1,
	};
	fd = pr_open(devnode);
	if (fd < 0)
		return fd;
	/* ENOTTY/EINVAL: no SCSI behind it (an NVMe namespace, a loop device): no way to
	 * read reservations, which for us is the same as none. */
	if (ioctl(fd, SG_IO, &h) < 0)
		return errno == ENODEV			  ? -ENXIO
		       : errno == ENOTTY || errno == EINVAL ? -EOPNOTSUPP
							    : negative_errno();
	r = sys_pr_in_decode(h.status, h.host_status, h.driver_status, sense, h.sb_len_wr);
	if (r < 0)
		return r;
	*ret_len = h.resid > 0 && (size_t)h.resid <= len ? len - (size_t)h.resid : len;
	return 0;
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
	.pr_register = real_pr_register,
	.pr_reserve = real_pr_reserve,
	.pr_release = real_pr_release,
	.pr_preempt = real_pr_preempt,
	.pr_clear = real_pr_clear,
	.scsi_pr_in = real_scsi_pr_in,
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
