/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel's view of NVMe controllers, subsystems and namespaces, read from sysfs under
 * sys->sysfs_root so tests can point it at a fixture tree. Layout (Linux 6.1,
 * drivers/nvme/host/core.c, multipath.c):
 *
 *   /sys/class/nvme/nvmeN/{transport,subsysnqn,address,hostnqn,state,delete_controller}
 *   /sys/class/nvme-subsystem/nvme-subsysX/nvmeN -> the controller (one link per path)
 *   /sys/class/nvme-subsystem/nvme-subsysX/nvmeXnH   native multipath: the namespace head
 *       disk, the one with a /dev node; H is an instance number, not the NSID
 *   /sys/class/nvme/nvmeN/nvmeXcNnH   native multipath: the hidden per-path disk
 *   /sys/class/nvme/nvmeN/nvmeNnH     multipath off: the disk itself
 *   /sys/block/<disk>/{uuid,nguid,nsid,wwid,size,dev,holders/}
 *
 * `address` is "traddr=A,trsvcid=P[,src_addr=S]": parsed as key=value pairs (the order and
 * the extra keys vary by kernel). `uuid` shows the NGUID when the namespace reports no
 * UUID (kernel backward compatibility); a zero NGUID means none.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "lib/macro.h"

static int exists(const struct sys *s, const char *path)
{
	char full[4096];

	if (!sys_path(full, sizeof(full), s->sysfs_root, path))
		return -ENAMETOOLONG;
	return access(full, F_OK) == 0;
}

static int attr(const struct sys *s, char *buf, size_t n, const char *fmt, ...) _printf_(4, 5);
static int attr(const struct sys *s, char *buf, size_t n, const char *fmt, ...)
{
	char p[1024];
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(p))
		return -ENAMETOOLONG;
	return sys_read_attr(s, p, buf, n);
}

int be_nvme_address_get(const char *address, const char *key, char *buf, size_t n)
{
	size_t kl = strlen(key);
	const char *p = address;

	while (p && *p) {
		size_t len = strcspn(p, ",\n");

		if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t vl = len - kl - 1;

			if (vl >= n)
				return -ENOBUFS;
			memcpy(buf, p + kl + 1, vl);
			buf[vl] = 0;
			return 0;
		}
		p += len;
		if (*p)
			p++;
	}
	return -ENOENT;
}

int be_nvme_addr_equal(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (inet_pton(AF_INET, a, x) == 1 && inet_pton(AF_INET, b, y) == 1)
		return memcmp(x, y, 4) == 0;
	if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1)
		return memcmp(x, y, 16) == 0;
	return strcasecmp(a, b) == 0;
}

/* "nvme12" -> 12; 0 or -EINVAL. */
static int ctrl_name_parse(const char *name, unsigned *ret)
{
	const char *d = name + 4;

	if (!startswith(name, "nvme") || !*d || strspn(d, "0123456789") != strlen(d) ||
	    strlen(d) > 9)
		return -EINVAL;
	*ret = (unsigned)strtoul(d, NULL, 10);
	return 0;
}

struct find_ctrl {
	const struct sys *s;
	const char *subnqn, *traddr, *hostnqn;
	unsigned trsvcid;
	int found, found_live;
	unsigned instance;
	int err;
};

/* Is controller `name` a tcp controller for (subnqn, traddr, trsvcid, hostnqn)? 1 or 0. */
static int ctrl_is_target(const struct sys *s, const char *name, const char *subnqn,
			  const char *traddr, unsigned trsvcid, const char *hostnqn)
{
	char v[512], a[256], port[16];
	int r;

	if (attr(s, v, sizeof(v), "/sys/class/nvme/%s/transport", name) < 0 || !streq(v, "tcp"))
		return 0;
	if (attr(s, v, sizeof(v), "/sys/class/nvme/%s/subsysnqn", name) < 0 || !streq(v, subnqn))
		return 0;
	if (attr(s, v, sizeof(v), "/sys/class/nvme/%s/address", name) < 0 ||
	    be_nvme_address_get(v, "traddr", a, sizeof(a)) < 0 ||
	    be_nvme_address_get(v, "trsvcid", port, sizeof(port)) < 0 ||
	    !be_nvme_addr_equal(a, traddr) || strtoul(port, NULL, 10) != trsvcid)
		return 0;
	/* Older kernels have no hostnqn attribute: then the address and NQN must do. */
	r = attr(s, v, sizeof(v), "/sys/class/nvme/%s/hostnqn", name);
	if (r == 0 && hostnqn && !streq(v, hostnqn))
		return 0;
	return 1;
}

static int find_ctrl_cb(const char *name, void *ud)
{
	struct find_ctrl *f = ud;
	char v[512];
	unsigned inst;
	int live;

	if (ctrl_name_parse(name, &inst) < 0)
		return 0;
	if (!ctrl_is_target(f->s, name, f->subnqn, f->traddr, f->trsvcid, f->hostnqn))
		return 0;
	if (attr(f->s, v, sizeof(v), "/sys/class/nvme/%s/state", name) < 0)
		return 0; /* going away under us */
	/* The kernel's own duplicate check (nvmf_ctlr_matches_baseopts) skips these too. */
	if (streq(v, "deleting") || streq(v, "deleting (no IO)") || streq(v, "dead") ||
	    streq(v, "new"))
		return 0;
	live = streq(v, "live");
	if (!f->found || (live && !f->found_live) ||
	    (live == f->found_live && inst < f->instance)) {
		f->found = 1;
		f->found_live = live;
		f->instance = inst;
	}
	return 0;
}

int be_nvme_sysfs_find_ctrl(const struct sys *s, const char *subnqn, const char *traddr,
			    unsigned trsvcid, const char *hostnqn, unsigned *ret_instance)
{
	struct find_ctrl f = {
	    .s = s, .subnqn = subnqn, .traddr = traddr, .trsvcid = trsvcid, .hostnqn = hostnqn};
	int r;

	r = sys_sysfs_for_each(s, "/sys/class/nvme", find_ctrl_cb, &f);
	if (r == -ENOENT)
		return -ENOENT; /* no NVMe driver loaded: no controllers */
	if (r < 0)
		return r;
	if (!f.found)
		return -ENOENT;
	*ret_instance = f.instance;
	return 0;
}

int be_nvme_sysfs_ctrl_ident(const struct sys *s, unsigned instance, const char *subnqn,
			     const char *traddr, unsigned trsvcid, const char *hostnqn,
			     struct be_nvme_ctrl_ident *ret)
{
	struct be_nvme_ctrl_ident id = {0};
	char name[32], v[32], dir[4096], p[64];
	struct stat st;
	char *end;
	int r;

	snprintf(name, sizeof(name), "nvme%u", instance);
	snprintf(p, sizeof(p), "/sys/class/nvme/%s", name);
	if (!sys_path(dir, sizeof(dir), s->sysfs_root, p))
		return -ENAMETOOLONG;
	/* stat() follows the class link to the device directory: its kernfs inode number is
	 * handed out once per boot, unlike the instance number (IDA, reused at once). */
	if (stat(dir, &st) < 0)
		return errno == ENOENT ? -ENODEV : negative_errno();
	if (!ctrl_is_target(s, name, subnqn, traddr, trsvcid, hostnqn))
		return -ENODEV;
	r = attr(s, v, sizeof(v), "/sys/class/nvme/%s/cntlid", name);
	if (r < 0)
		return r == -ENOENT ? -ENODEV : r;
	errno = 0;
	id.cntlid = strtoul(v, &end, 10);
	if (errno || end == v || *end)
		return -EIO;
	id.ino = (uint64_t)st.st_ino;
	*ret = id;
	return 0;
}

int be_nvme_sysfs_ctrl_exists(const struct sys *s, unsigned instance)
{
	char p[64];

	snprintf(p, sizeof(p), "/sys/class/nvme/nvme%u", instance);
	return exists(s, p);
}

int be_nvme_sysfs_ctrl_state(const struct sys *s, unsigned instance, char *buf, size_t n)
{
	return attr(s, buf, n, "/sys/class/nvme/nvme%u/state", instance);
}

/* "nvme3n1" (head or plain disk), "nvme3c5n1" (per-path). */
static int is_ns_disk(const char *name, int *ret_path)
{
	const char *p = name;

	if (!startswith(p, "nvme"))
		return 0;
	p += 4;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	*ret_path = 0;
	if (*p == 'c') {
		p++;
		if (!isdigit((unsigned char)*p))
			return 0;
		while (isdigit((unsigned char)*p))
			p++;
		*ret_path = 1;
	}
	if (*p != 'n')
		return 0;
	p++;
	if (!isdigit((unsigned char)*p))
		return 0;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == 0;
}

#define MAX_NS 256

struct ns_list {
	char names[MAX_NS][32];
	unsigned n;
};

static void ns_list_add(struct ns_list *l, const char *name)
{
	for (unsigned i = 0; i < l->n; i++)
		if (streq(l->names[i], name))
			return;
	if (l->n < MAX_NS && strlen(name) < sizeof(l->names[0]))
		snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", name);
}

struct subsys_of {
	const struct sys *s;
	char ctrl[32];
	char found[64];
};

static int subsys_of_cb(const char *name, void *ud)
{
	struct subsys_of *f = ud;
	char p[256];

	if (!startswith(name, "nvme-subsys"))
		return 0;
	snprintf(p, sizeof(p), "/sys/class/nvme-subsystem/%s/%s", name, f->ctrl);
	if (exists(f->s, p) > 0) {
		snprintf(f->found, sizeof(f->found), "%s", name);
		return 1;
	}
	return 0;
}

struct ns_collect {
	const struct sys *s;
	struct ns_list *l;
};

static int subsys_ns_cb(const char *name, void *ud)
{
	struct ns_collect *c = ud;
	int path;

	if (is_ns_disk(name, &path) && !path)
		ns_list_add(c->l, name);
	return 0;
}

static int ctrl_ns_cb(const char *name, void *ud)
{
	struct ns_collect *c = ud;
	char head[32], p[64];
	const char *cpos;
	int path;

	if (!is_ns_disk(name, &path))
		return 0;
	if (!path) {
		ns_list_add(c->l, name);
		return 0;
	}
	/* nvmeXcNnH -> its head nvmeXnH, when the head disk is there */
	cpos = strchr(name + 4, 'c');
	snprintf(head, sizeof(head), "%.*s%s", (int)(cpos - name), name, strchr(cpos, 'n'));
	snprintf(p, sizeof(p), "/sys/block/%s", head);
	if (exists(c->s, p) > 0)
		ns_list_add(c->l, head);
	return 0;
}

/* Every namespace disk (with a /dev node) of controller nvmeN's subsystem. */
static int ctrl_namespaces(const struct sys *s, unsigned instance, struct ns_list *l)
{
	struct subsys_of so = {.s = s};
	struct ns_collect c = {.s = s, .l = l};
	char p[256];
	int r;

	snprintf(so.ctrl, sizeof(so.ctrl), "nvme%u", instance);
	snprintf(p, sizeof(p), "/sys/class/nvme/%s", so.ctrl);
	if (exists(s, p) <= 0)
		return -ENODEV;
	l->n = 0;
	r = sys_sysfs_for_each(s, "/sys/class/nvme-subsystem", subsys_of_cb, &so);
	if (r < 0 && r != -ENOENT)
		return r;
	if (so.found[0]) {
		snprintf(p, sizeof(p), "/sys/class/nvme-subsystem/%s", so.found);
		r = sys_sysfs_for_each(s, p, subsys_ns_cb, &c);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	snprintf(p, sizeof(p), "/sys/class/nvme/%s", so.ctrl);
	r = sys_sysfs_for_each(s, p, ctrl_ns_cb, &c);
	if (r == -ENOENT)
		return -ENODEV;
	return r < 0 ? r : 0;
}

/* Does the namespace disk whose attributes are in dir (/sys/block/<disk>, or a per-path
 * disk under its controller) match c? */
static int ns_matches_at(const struct sys *s, const char *dir, const struct be_nvme_cfg *c)
{
	char v[128], norm[BE_NVME_UUID_STR + 1];

	switch (c->id_kind) {
	case BE_NVME_ID_UUID:
		return attr(s, v, sizeof(v), "%s/uuid", dir) == 0 &&
		       be_nvme_uuid_normalize(v, 0, norm, sizeof(norm)) == 0 && streq(norm, c->id);
	case BE_NVME_ID_NGUID:
		return attr(s, v, sizeof(v), "%s/nguid", dir) == 0 &&
		       be_nvme_uuid_normalize(v, 1, norm, sizeof(norm)) == 0 && streq(norm, c->id);
	case BE_NVME_ID_NSID:
		return attr(s, v, sizeof(v), "%s/nsid", dir) == 0 &&
		       strspn(v, "0123456789") == strlen(v) && v[0] &&
		       strtoul(v, NULL, 10) == c->nsid;
	}
	return 0;
}

static int ns_matches(const struct sys *s, const char *name, const struct be_nvme_cfg *c)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "/sys/block/%s", name);
	return ns_matches_at(s, dir, c);
}

struct path_disk {
	const struct sys *s;
	const struct be_nvme_cfg *c;
	unsigned instance;
	char found[32];
};

static int path_disk_cb(const char *name, void *ud)
{
	struct path_disk *f = ud;
	char dir[96];
	int path;

	if (!is_ns_disk(name, &path) || strlen(name) >= sizeof(f->found))
		return 0;
	snprintf(dir, sizeof(dir), "/sys/class/nvme/nvme%u/%s", f->instance, name);
	if (!ns_matches_at(f->s, dir, f->c))
		return 0;
	snprintf(f->found, sizeof(f->found), "%s", name);
	return 1;
}

int be_nvme_sysfs_path_wwid(const struct sys *s, unsigned instance, const struct be_nvme_cfg *c,
			    char *wwid, size_t n)
{
	struct path_disk f = {.s = s, .c = c, .instance = instance};
	char p[64];
	int r;

	snprintf(p, sizeof(p), "/sys/class/nvme/nvme%u", instance);
	r = sys_sysfs_for_each(s, p, path_disk_cb, &f);
	if (r == -ENOENT)
		return -ENODEV;
	if (r < 0)
		return r;
	if (!f.found[0])
		return -ENOENT;
	if (attr(s, wwid, n, "/sys/class/nvme/nvme%u/%s/wwid", instance, f.found) == 0 && wwid[0])
		return 0;
	r = attr(s, wwid, n, "/sys/block/%s/wwid", f.found);
	return r < 0 ? -ENOENT : 0;
}

int be_nvme_sysfs_ctrl_devnum(const struct sys *s, unsigned instance, unsigned *ret_major,
			      unsigned *ret_minor)
{
	char v[32];
	unsigned ma, mi;
	int r;

	r = attr(s, v, sizeof(v), "/sys/class/nvme/nvme%u/dev", instance);
	if (r < 0)
		return r;
	if (sscanf(v, "%u:%u", &ma, &mi) != 2)
		return -EBADMSG;
	*ret_major = ma;
	*ret_minor = mi;
	return 0;
}

int be_nvme_sysfs_find_ns(const struct sys *s, unsigned instance, const struct be_nvme_cfg *c,
			  char *name, size_t n)
{
	_cleanup_free_ struct ns_list *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	r = ctrl_namespaces(s, instance, l);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < l->n; i++) {
		if (!ns_matches(s, l->names[i], c))
			continue;
		if (strlen(l->names[i]) >= n)
			return -ENOBUFS;
		snprintf(name, n, "%s", l->names[i]);
		return 0;
	}
	return -ENOENT;
}

static int dir_has_entries_cb(const char *name _unused_, void *ud _unused_)
{
	return 1;
}

/* Does maj:min appear as a mount source in mountinfo? */
static int devnum_mounted(const char *mountinfo, const char *devnum)
{
	size_t dl = strlen(devnum);

	for (const char *line = mountinfo; line && *line;) {
		const char *f = line;

		/* field 3 is major:minor */
		for (int i = 0; i < 2 && f; i++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		if (f && strncmp(f, devnum, dl) == 0 && f[dl] == ' ')
			return 1;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return 0;
}

struct parts {
	const char *disk;
	struct ns_list *l;
};

static int parts_cb(const char *name, void *ud)
{
	struct parts *p = ud;

	if (startswith(name, p->disk) && name[strlen(p->disk)] == 'p')
		ns_list_add(p->l, name);
	return 0;
}

/* A disk or a partition: held by a stacked device or mounted? */
static int blk_in_use(const struct sys *s, const char *sysdir, const char *mountinfo)
{
	char p[256], dev[32];
	int r;

	snprintf(p, sizeof(p), "%s/holders", sysdir);
	r = sys_sysfs_for_each(s, p, dir_has_entries_cb, NULL);
	if (r > 0)
		return 1;
	snprintf(p, sizeof(p), "%s/dev", sysdir);
	if (mountinfo && sys_read_attr(s, p, dev, sizeof(dev)) == 0 &&
	    devnum_mounted(mountinfo, dev))
		return 1;
	return 0;
}

int be_nvme_sysfs_ns_in_use(const struct sys *s, unsigned instance, char *buf, size_t n)
{
	_cleanup_free_ struct ns_list *l = calloc(1, sizeof(*l));
	_cleanup_free_ struct ns_list *pl = calloc(1, sizeof(*pl));
	_cleanup_free_ char *mountinfo = NULL;
	char p[256];
	int r;

	if (!l || !pl)
		return -ENOMEM;
	r = ctrl_namespaces(s, instance, l);
	if (r == -ENODEV)
		return 0;
	if (r < 0)
		return r;
	if (sys_path(p, sizeof(p), s->proc_root, "/proc/self/mountinfo"))
		(void)s->ops->read_file(s, p, &mountinfo, 16 << 20);
	for (unsigned i = 0; i < l->n; i++) {
		struct parts pa = {.disk = l->names[i], .l = pl};

		snprintf(p, sizeof(p), "/sys/block/%s", l->names[i]);
		if (blk_in_use(s, p, mountinfo)) {
			snprintf(buf, n, "%s", l->names[i]);
			return 1;
		}
		pl->n = 0;
		(void)sys_sysfs_for_each(s, p, parts_cb, &pa);
		for (unsigned j = 0; j < pl->n; j++) {
			char pp[256];

			snprintf(pp, sizeof(pp), "/sys/block/%s/%s", l->names[i], pl->names[j]);
			if (blk_in_use(s, pp, mountinfo)) {
				snprintf(buf, n, "%s", pl->names[j]);
				return 1;
			}
		}
	}
	return 0;
}

int be_nvme_sysfs_block_devnum(const struct sys *s, const char *name, unsigned *ret_major,
			       unsigned *ret_minor)
{
	char v[32];
	unsigned ma, mi;
	int r;

	r = attr(s, v, sizeof(v), "/sys/block/%s/dev", name);
	if (r < 0)
		return r;
	if (sscanf(v, "%u:%u", &ma, &mi) != 2)
		return -EBADMSG;
	*ret_major = ma;
	*ret_minor = mi;
	return 0;
}

int be_nvme_sysfs_block_identity(const struct sys *s, const char *name,
				 struct backend_identity *ret)
{
	struct backend_identity id = {0};
	char v[256];
	unsigned long long sectors;
	int r;

	r = attr(s, v, sizeof(v), "/sys/block/%s/size", name);
	if (r < 0)
		return r;
	if (sscanf(v, "%llu", &sectors) != 1)
		return -EBADMSG;
	id.size_bytes = (uint64_t)sectors * 512;
	if (attr(s, v, sizeof(v), "/sys/block/%s/wwid", name) == 0 && v[0])
		snprintf(id.wwid, sizeof(id.wwid), "%s", v);
	else if (attr(s, v, sizeof(v), "/sys/block/%s/uuid", name) == 0 && v[0])
		snprintf(id.wwid, sizeof(id.wwid), "uuid.%s", v);
	*ret = id;
	return 0;
}
