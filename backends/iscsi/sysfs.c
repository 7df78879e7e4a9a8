/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel's view of iSCSI sessions and their SCSI devices, read from sysfs under
 * sys->sysfs_root so tests can point it at a fixture tree. Layout (Linux 6.1,
 * drivers/scsi/scsi_transport_iscsi.c; iscsi_tcp makes one SCSI host per session):
 *
 *   /sys/class/iscsi_session/sessionN/{targetname,target_id,state,ifacename}
 *   /sys/class/iscsi_session/sessionN/device/targetH:C:T/H:C:T:L/{wwid,delete}
 *   /sys/class/iscsi_session/sessionN/device -> .../hostH/sessionN
 *   /sys/class/iscsi_connection/connectionN:0/{persistent_address,persistent_port}
 *   /sys/class/iscsi_host/hostH/device/sessionN
 *   .../hostH/sessionN/targetH:C:T/H:C:T:L/block/sdX
 *   /sys/class/scsi_device/H:C:T:L/device/{delete,block/sdX}
 *   /sys/class/scsi_host/hostH/scan
 *
 * Directory listings go through sys_sysfs_for_each(); existence checks use access() on
 * the root-prefixed path; fixture trees stand in for both. Every path that names a SCSI
 * device for an action goes through its session's directory (session_lun_path()), so a
 * device of another session can never answer for ours.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"
#include "lib/macro.h"

static int fmt_path(char *buf, size_t n, const char *fmt, ...) _printf_(3, 4);
static int fmt_path(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static int exists(const struct sys *s, const char *path)
{
	char full[4096];

	if (!sys_path(full, sizeof(full), s->sysfs_root, path))
		return -ENAMETOOLONG;
	return access(full, F_OK) == 0;
}

/* "prefix<unsigned>" exactly. */
static int parse_numbered(const char *name, const char *prefix, unsigned *ret)
{
	size_t l = strlen(prefix);
	char *end;
	unsigned long v;

	if (strncmp(name, prefix, l) || name[l] < '0' || name[l] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(name + l, &end, 10);
	if (errno || *end || v > 0x7fffffff)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int be_iscsi_addr_equal(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
		return memcmp(x, y, 4) == 0;
	if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
		return memcmp(x, y, 16) == 0;
	return strcasecmp(a, b) == 0;
}

struct conn_match {
	const struct sys *s;
	unsigned session;
	const char *addr;
	unsigned port;
	int found;
};

static int conn_cb(const char *name, void *ud)
{
	struct conn_match *m = ud;
	char prefix[32], path[512], addr[128], port[16];
	unsigned p;

	snprintf(prefix, sizeof(prefix), "connection%u:", m->session);
	if (!startswith(name, prefix))
		return 0;
	/* persistent_* is what we logged in to; address/port may change on redirect. */
	if (fmt_path(path, sizeof(path), "/sys/class/iscsi_connection/%s/persistent_address",
		     name) < 0 ||
	    sys_read_attr(m->s, path, addr, sizeof(addr)) < 0)
		return 0;
	if (fmt_path(path, sizeof(path), "/sys/class/iscsi_connection/%s/persistent_port", name) <
		0 ||
	    sys_read_attr(m->s, path, port, sizeof(port)) < 0)
		return 0;
	if (sscanf(port, "%u", &p) != 1)
		return 0;
	if (p == m->port && be_iscsi_addr_equal(addr, m->addr)) {
		m->found = 1;
		return 1;
	}
	return 0;
}

struct session_match {
	const struct sys *s;
	const char *iqn, *addr, *iface;
	unsigned port;
	int found;
	unsigned best;
};

static int session_cb(const char *name, void *ud)
{
	struct session_match *m = ud;
	char path[512], target[BE_ISCSI_NAME_MAX + 2], iface[64];
	struct conn_match c = {.s = m->s, .addr = m->addr, .port = m->port};
	unsigned n;

	if (parse_numbered(name, "session", &n) < 0)
		return 0;
	if (fmt_path(path, sizeof(path), "/sys/class/iscsi_session/%s/targetname", name) < 0 ||
	    sys_read_attr(m->s, path, target, sizeof(target)) < 0 || !streq(target, m->iqn))
		return 0;
	/* A session on another iface (an admin's plain iscsiadm login on "default") is never
	 * ours: not reused, not counted, not logged out. One we cannot read the iface of is
	 * not ours either. */
	if (fmt_path(path, sizeof(path), "/sys/class/iscsi_session/%s/ifacename", name) < 0 ||
	    sys_read_attr(m->s, path, iface, sizeof(iface)) < 0 || !streq(iface, m->iface))
		return 0;
	c.session = n;
	if (sys_sysfs_for_each(m->s, "/sys/class/iscsi_connection", conn_cb, &c) < 0 || !c.found)
		return 0;
	if (m->found && m->best < n)
		return 0;
	m->found = 1;
	m->best = n;
	return 0;
}

int be_iscsi_sysfs_find_session(const struct sys *s, const char *iqn, const char *addr,
				unsigned port, const char *iface, unsigned *ret_session)
{
	struct session_match m = {.s = s, .iqn = iqn, .addr = addr, .port = port, .iface = iface};
	int r;

	r = sys_sysfs_for_each(s, "/sys/class/iscsi_session", session_cb, &m);
	if (r == -ENOENT)
		return -ENOENT; /* no iSCSI transport loaded: no sessions */
	if (r < 0)
		return r;
	if (!m.found)
		return -ENOENT;
	*ret_session = m.best;
	return 0;
}

struct host_match {
	const struct sys *s;
	const char *class;
	unsigned session;
	int found;
	unsigned host;
};

static int host_cb(const char *name, void *ud)
{
	struct host_match *m = ud;
	char path[512];
	unsigned h;

	if (parse_numbered(name, "host", &h) < 0)
		return 0;
	if (fmt_path(path, sizeof(path), "/sys/class/%s/%s/device/session%u", m->class, name,
		     m->session) < 0)
		return 0;
	if (exists(m->s, path) > 0) {
		m->found = 1;
		m->host = h;
		return 1;
	}
	return 0;
}

int be_iscsi_sysfs_session_host(const struct sys *s, unsigned session, unsigned *ret_host)
{
	static const char *const classes[] = {"iscsi_host", "scsi_host"};

	for (size_t i = 0; i < ELEMENTSOF(classes); i++) {
		struct host_match m = {.s = s, .class = classes[i], .session = session};
		char path[64];
		int r;

		snprintf(path, sizeof(path), "/sys/class/%s", classes[i]);
		r = sys_sysfs_for_each(s, path, host_cb, &m);
		if (r < 0 && r != -ENOENT)
			return r;
		if (m.found) {
			*ret_host = m.host;
			return 0;
		}
	}
	return -ENOENT;
}

int be_iscsi_sysfs_session_target_id(const struct sys *s, unsigned session, unsigned *ret_id)
{
	char path[128], v[32];
	unsigned id;
	int r;

	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/target_id", session);
	r = sys_read_attr(s, path, v, sizeof(v));
	if (r == -ENOENT) {
		/* Older kernels lack the attribute; iscsi_tcp always used target id 0. */
		*ret_id = 0;
		return 0;
	}
	if (r < 0)
		return r;
	if (sscanf(v, "%u", &id) != 1)
		return -EINVAL;
	*ret_id = id;
	return 0;
}

int be_iscsi_sysfs_session_state(const struct sys *s, unsigned session, char *buf, size_t n)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/state", session);
	return sys_read_attr(s, path, buf, n);
}

/* One decimal number of at most 10 digits, no sign, no spaces; *p moves past it. */
static int parse_decimal(const char **p, unsigned *ret)
{
	unsigned long long v = 0;
	size_t n = 0;

	while (**p >= '0' && **p <= '9') {
		if (++n > 10)
			return -EINVAL;
		v = v * 10 + (unsigned)(**p - '0');
		(*p)++;
	}
	if (n == 0 || v > UINT32_MAX)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

int be_iscsi_hctl_parse(const char *s, unsigned *ret_h, unsigned *ret_c, unsigned *ret_t,
			unsigned *ret_l)
{
	unsigned v[4];

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < 4; i++) {
		if (parse_decimal(&s, &v[i]) < 0)
			return -EINVAL;
		if (*s != (i < 3 ? ':' : 0))
			return -EINVAL;
		s++;
	}
	if (ret_h)
		*ret_h = v[0];
	if (ret_c)
		*ret_c = v[1];
	if (ret_t)
		*ret_t = v[2];
	if (ret_l)
		*ret_l = v[3];
	return 0;
}

static int is_hctl(const char *name)
{
	return be_iscsi_hctl_parse(name, NULL, NULL, NULL, NULL) == 0;
}

struct count_ctx {
	const struct sys *s;
	unsigned session;
	unsigned n;
};

static int count_lun_cb(const char *name, void *ud)
{
	struct count_ctx *c = ud;

	if (is_hctl(name))
		c->n++;
	return 0;
}

static int count_target_cb(const char *name, void *ud)
{
	struct count_ctx *c = ud;
	char path[512];
	int r;

	if (!startswith(name, "target"))
		return 0;
	if (fmt_path(path, sizeof(path), "/sys/class/iscsi_session/session%u/device/%s", c->session,
		     name) < 0)
		return 0;
	r = sys_sysfs_for_each(c->s, path, count_lun_cb, c);
	/* A target directory can vanish while we walk it (its last LUN being removed). */
	return r == -ENOENT || r == -ENOTDIR ? 0 : r;
}

int be_iscsi_sysfs_session_count_devices(const struct sys *s, unsigned session, unsigned *ret_n)
{
	struct count_ctx c = {.s = s, .session = session};
	char path[128];
	int r;

	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/device", session);
	r = sys_sysfs_for_each(s, path, count_target_cb, &c);
	if (r < 0)
		return r;
	*ret_n = c.n;
	return 0;
}

int be_iscsi_sysfs_hctl_exists(const struct sys *s, const char *hctl)
{
	char path[128];

	if (fmt_path(path, sizeof(path), "/sys/class/scsi_device/%s", hctl) < 0)
		return -ENAMETOOLONG;
	return exists(s, path);
}

struct first_name {
	char name[64];
};

static int first_name_cb(const char *name, void *ud)
{
	struct first_name *f = ud;

	snprintf(f->name, sizeof(f->name), "%s", name);
	return 1;
}

int be_iscsi_sysfs_hctl_block(const struct sys *s, const char *hctl, char *buf, size_t n)
{
	struct first_name f = {""};
	char path[160];
	int r;

	r = be_iscsi_sysfs_hctl_exists(s, hctl);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	if (fmt_path(path, sizeof(path), "/sys/class/scsi_device/%s/device/block", hctl) < 0)
		return -ENAMETOOLONG;
	/* sd probes asynchronously (PROBE_PREFER_ASYNCHRONOUS): the SCSI device is there
	 * when the scan write returns, its disk a little later. */
	r = sys_sysfs_for_each(s, path, first_name_cb, &f);
	if (r == -ENOENT || (r >= 0 && !f.name[0]))
		return -EAGAIN;
	if (r < 0)
		return r;
	if (strlen(f.name) >= n)
		return -ENOBUFS;
	memcpy(buf, f.name, strlen(f.name) + 1);
	return 0;
}

int be_iscsi_sysfs_block_devnum(const struct sys *s, const char *name, unsigned *ret_major,
				unsigned *ret_minor)
{
	char path[128], v[32];
	unsigned ma, mi;
	char tail;
	int r;

	if (fmt_path(path, sizeof(path), "/sys/block/%s/dev", name) < 0)
		return -ENAMETOOLONG;
	r = sys_read_attr(s, path, v, sizeof(v));
	if (r < 0)
		return r;
	if (sscanf(v, "%u:%u%c", &ma, &mi, &tail) != 2)
		return -EINVAL;
	*ret_major = ma;
	*ret_minor = mi;
	return 0;
}

int be_iscsi_sysfs_block_identity(const struct sys *s, const char *name,
				  struct backend_identity *ret)
{
	struct backend_identity id = {0};
	_cleanup_free_ char *raw = NULL;
	char path[128], v[32];
	unsigned long long sectors;
	char tail;
	int r;

	if (fmt_path(path, sizeof(path), "/sys/block/%s/size", name) < 0)
		return -ENAMETOOLONG;
	r = sys_read_attr(s, path, v, sizeof(v));
	if (r < 0)
		return r;
	if (sscanf(v, "%llu%c", &sectors, &tail) != 1 || sectors > UINT64_MAX / 512)
		return -EINVAL;
	id.size_bytes = (uint64_t)sectors * 512; /* always 512-byte units, whatever the LBA size */

	snprintf(path, sizeof(path), "/sys/block/%s/device/wwid", name);
	/* Read raw, not as an attribute: T10 ids end in significant spaces and SCSI name
	 * strings carry NUL padding; normalising treats both like the probe's string. A
	 * device without VPD 0x83 fails the read (EINVAL): no WWID then. */
	r = sys_read_sysfs(s, path, &raw);
	if (r >= 0 && be_iscsi_wwid_normalize(raw, id.wwid, sizeof(id.wwid)) < 0)
		id.wwid[0] = 0;
	else if (r < 0 && r != -ENOENT && r != -EINVAL && r != -ENODATA && r != -ENXIO)
		return r;
	*ret = id;
	return 0;
}

struct lun_match {
	const struct sys *s;
	unsigned session, lun;
	char hctl[64];
};

static int lun_entry_cb(const char *name, void *ud)
{
	struct lun_match *m = ud;
	unsigned l;

	if (be_iscsi_hctl_parse(name, NULL, NULL, NULL, &l) < 0 || l != m->lun)
		return 0;
	snprintf(m->hctl, sizeof(m->hctl), "%s", name);
	return 1;
}

static int lun_target_cb(const char *name, void *ud)
{
	struct lun_match *m = ud;
	char path[512];
	int r;

	if (!startswith(name, "target"))
		return 0;
	if (fmt_path(path, sizeof(path), "/sys/class/iscsi_session/session%u/device/%s", m->session,
		     name) < 0)
		return 0;
	r = sys_sysfs_for_each(m->s, path, lun_entry_cb, m);
	return r == -ENOENT || r == -ENOTDIR ? 0 : r;
}

int be_iscsi_sysfs_session_lun(const struct sys *s, unsigned session, unsigned lun, char *buf,
			       size_t n)
{
	struct lun_match m = {.s = s, .session = session, .lun = lun};
	char path[128];
	int r;

	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/device", session);
	r = sys_sysfs_for_each(s, path, lun_target_cb, &m);
	if (r < 0)
		return r;
	if (r == 0 || !m.hctl[0])
		return -ENOENT;
	if (strlen(m.hctl) >= n)
		return -ENOBUFS;
	memcpy(buf, m.hctl, strlen(m.hctl) + 1);
	return 0;
}

/* The device's directory under its session: only a device of that session resolves. */
static int session_lun_path(char *buf, size_t n, unsigned session, const char *hctl,
			    const char *attr)
{
	unsigned h, c, t;

	if (be_iscsi_hctl_parse(hctl, &h, &c, &t, NULL) < 0)
		return -EINVAL;
	return fmt_path(buf, n, "/sys/class/iscsi_session/session%u/device/target%u:%u:%u/%s%s%s",
			session, h, c, t, hctl, attr ? "/" : "", attr ? attr : "");
}

int be_iscsi_sysfs_session_lun_wwid(const struct sys *s, unsigned session, const char *hctl,
				    char *buf, size_t n)
{
	_cleanup_free_ char *raw = NULL;
	char path[256];
	int r;

	r = session_lun_path(path, sizeof(path), session, hctl, "wwid");
	if (r < 0)
		return r;
	/* Raw, as in be_iscsi_sysfs_block_identity: the kernel's VPD 0x83 designator. A
	 * device without one fails the read (EINVAL). */
	r = sys_read_sysfs(s, path, &raw);
	if (r == -EINVAL || r == -ENODATA || r == -ENXIO)
		return -ENODATA;
	if (r < 0)
		return r;
	if (be_iscsi_wwid_normalize(raw, buf, n) < 0)
		return -ENODATA;
	return 0;
}

int be_iscsi_sysfs_session_lun_delete(const struct sys *s, unsigned session, const char *hctl)
{
	char path[256], full[4096];
	int r;

	r = session_lun_path(path, sizeof(path), session, hctl, "delete");
	if (r < 0)
		return r;
	r = sys_write_sysfs(s, path, "1");
	if (r == -ENOENT || r == -ENODEV)
		return 0; /* already gone (ENODEV: removal under way in the kernel) */
	if (r < 0)
		return r;
	/* The delete attribute removes the device synchronously (sdev_store_delete ->
	 * scsi_remove_device), so it must be gone now. */
	r = session_lun_path(path, sizeof(path), session, hctl, NULL);
	if (r < 0)
		return r;
	if (!sys_path(full, sizeof(full), s->sysfs_root, path))
		return -ENAMETOOLONG;
	return access(full, F_OK) == 0 ? -EBUSY : 0;
}

int be_iscsi_sysfs_scan(const struct sys *s, unsigned host, unsigned channel, unsigned target,
			unsigned lun)
{
	char path[128], what[64];

	snprintf(path, sizeof(path), "/sys/class/scsi_host/host%u/scan", host);
	snprintf(what, sizeof(what), "%u %u %u", channel, target, lun);
	return sys_write_sysfs(s, path, what);
}

/* "(null)" is how the kernel shows a parameter iscsid never set. */
static int auth_attr_is(const struct sys *s, unsigned session, const char *attr, const char *want)
{
	char path[128], v[BE_ISCSI_CHAP_MAX + 2];
	int r, match;

	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/%s", session, attr);
	r = sys_read_attr(s, path, v, sizeof(v));
	if (r < 0)
		return r;
	if (streq(v, "(null)"))
		v[0] = 0;
	match = streq(v, want);
	explicit_bzero(v, sizeof(v));
	return match;
}

int be_iscsi_sysfs_session_auth_is(const struct sys *s, unsigned session, const char *user,
				   const char *secret)
{
	int r;

	r = auth_attr_is(s, session, "username", user);
	if (r <= 0)
		return r;
	return auth_attr_is(s, session, "password", secret);
}

int be_iscsi_sysfs_session_lun_type(const struct sys *s, unsigned session, const char *hctl,
				    unsigned *ret_type)
{
	char path[256], v[16];
	unsigned t;
	int r;

	r = session_lun_path(path, sizeof(path), session, hctl, "type");
	if (r < 0)
		return r;
	r = sys_read_attr(s, path, v, sizeof(v));
	if (r < 0)
		return r;
	if (sscanf(v, "%u", &t) != 1)
		return -EINVAL;
	*ret_type = t;
	return 0;
}
