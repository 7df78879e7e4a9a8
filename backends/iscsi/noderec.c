/* SPDX-License-Identifier: Apache-2.0 */
/*
 * open-iscsi's node records as files, for what iscsiadm cannot do safely:
 *
 * - CHAP credentials. `iscsiadm -o update -n node.session.auth.password -v SECRET` puts the
 *   secret in iscsiadm's argv, readable by every local user in /proc/PID/cmdline. We write
 *   node.session.auth.{authmethod,username,password} into our record file ourselves: the
 *   file is root's, mode 0600, like iscsiadm makes it; iscsiadm --login reads it and hands
 *   the secret to iscsid over its root-only socket. No child of ours ever sees the secret.
 *   The same goes for a secret in iscsid.conf that the record copies.
 *
 * - Records in open-iscsi's old flat layout. A record made with `-o new` and no TPGT is one
 *   file per (target, portal), nodes/<iqn>/<addr>,<port>, whatever its iface, and `-o new`
 *   for any iface first deletes such a file (idbm_add_node: idbm_rec_read finds it, then
 *   idbm_delete_node). Ours are made with a TPGT (nodes/<iqn>/<addr>,<port>,<tpgt>/<iface>,
 *   one file per iface), and an admin's flat record for the same target and portal makes
 *   us refuse rather than let iscsiadm delete it.
 *
 * - The whole record. `iscsiadm -o new` then `-o update` cost two processes (and the node
 *   lookup before them a third) per login; attachd writes its record itself, as
 *   iscsiadm's add_static_rec() would make it: iscsid.conf's node.* settings (what
 *   idbm_node_setup_from_conf() copies), the iface file's iface.* settings (iface_copy()),
 *   the identity (target, tag, portal, iface), then attachd's own settings. A key the file
 *   does not name takes open-iscsi's compiled default when idbm reads it, exactly as in a
 *   record iscsiadm wrote (it prints the same defaults). Only --login runs iscsiadm.
 *
 * Layout and locking follow open-iscsi 2.1.8 (usr/idbm.c, usr/initiator.h; checked against
 * Debian 12's iscsiadm): records under /etc/iscsi/nodes, written by whoever holds the link()
 * lock /run/lock/iscsi/lock.write (a hard link to /run/lock/iscsi/lock, made with link(),
 * removed with unlink()). iscsiadm polls that link every 10 ms; we wait for its removal with
 * inotify instead, up to the call's budget. All paths are under sys->etc_root so that tests
 * use a scratch tree. A record file is replaced atomically (temporary file in the target's
 * directory, whose name has no ',' so open-iscsi's directory walk skips it, then rename).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "lib/macro.h"

#define NODES_DIR "/etc/iscsi/nodes"
#define IFACES_DIR "/etc/iscsi/ifaces"
#define CONF_FILE "/etc/iscsi/iscsid.conf"
#define CONF_MAX (256 * 1024)
#define LOCK_DIR "/run/lock/iscsi"
#define LOCK_FILE LOCK_DIR "/lock"
#define LOCK_WRITE_FILE LOCK_DIR "/lock.write"
#define RECORD_MAX (64 * 1024)
#define END_RECORD "# END RECORD"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int be_iscsi_noderec_lock(const struct sys *s, int timeout_ms, struct errbuf *e)
{
	char dir[4096], lock[4096], lockw[4096];
	_cleanup_close_ int ifd = -EBADF;
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 30000);
	int fd, r;

	if (!sys_path(dir, sizeof(dir), s->etc_root, LOCK_DIR) ||
	    !sys_path(lock, sizeof(lock), s->etc_root, LOCK_FILE) ||
	    !sys_path(lockw, sizeof(lockw), s->etc_root, LOCK_WRITE_FILE))
		return errbuf_set(e, -ENAMETOOLONG, "open-iscsi lock path too long");
	/* What idbm_lock() does before its first link(). */
	r = s->ops->mkdir_p(s, dir, 0770);
	if (r < 0)
		return errbuf_set(e, r, "cannot create open-iscsi's lock directory %s: %s", dir,
				  strerror(-r));
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
	/* Watch before the first try: a removal between a failed link() and poll() is seen. */
	ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ifd < 0)
		return errbuf_set(e, -errno, "inotify_init1 failed: %s", strerror(errno));
	if (inotify_add_watch(ifd, dir, IN_DELETE | IN_MOVED_FROM) < 0)
		return errbuf_set(e, -errno, "cannot watch %s: %s", dir, strerror(errno));
	for (;;) {
		struct pollfd p = {.fd = ifd, .events = POLLIN};
		char buf[4096];
		int64_t left;

		if (link(lock, lockw) == 0)
			return 0;
		if (errno != EEXIST)
			return errbuf_set(e, -errno, "cannot take open-iscsi's node DB lock %s: %s",
					  lockw, strerror(errno));
		left = deadline - mono_ms();
		if (left <= 0)
			return errbuf_set(
			    e, -ETIMEDOUT,
			    "open-iscsi's node DB lock %s was held for %d s; if no iscsiadm or "
			    "iscsid is busy with the node DB, the file is stale: remove it",
			    lockw, (timeout_ms > 0 ? timeout_ms : 30000) / 1000);
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r < 0 && errno != EINTR)
			return errbuf_set(e, -errno, "poll failed: %s", strerror(errno));
		while (read(ifd, buf, sizeof(buf)) > 0)
			;
	}
}

void be_iscsi_noderec_unlock(const struct sys *s)
{
	char lockw[4096];

	if (sys_path(lockw, sizeof(lockw), s->etc_root, LOCK_WRITE_FILE))
		(void)unlink(lockw);
}

/* ---------------------------------------------------------------- record text (pure) */

/* The key of a "name = value" line ("" for comments and blank lines), as idbm reads it. */
static size_t line_key(const char *line, size_t len, const char **ret_key)
{
	size_t i = 0, k;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] == '#')
		return 0;
	k = i;
	while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '=')
		i++;
	*ret_key = line + k;
	return i - k;
}

int be_iscsi_noderec_get(const char *text, const char *key, char *buf, size_t n)
{
	size_t klen = strlen(key);
	const char *line = text;
	int found = -ENOENT;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *k = NULL, *v, *end = line + len;
		size_t kl = line_key(line, len, &k);

		if (kl == klen && !strncmp(k, key, klen)) {
			v = k + kl;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (v < end && *v == '=') {
				v++;
				while (v < end && (*v == ' ' || *v == '\t'))
					v++;
				while (end > v &&
				       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
					end--;
				if ((size_t)(end - v) >= n)
					return -ENOBUFS;
				memcpy(buf, v, (size_t)(end - v));
				buf[end - v] = 0;
				found = 0; /* the last one wins, as in idbm */
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return found;
}

int be_iscsi_noderec_edit(const char *text, const struct be_iscsi_noderec_kv *set, size_t n_set,
			  char **ret)
{
	size_t cap = strlen(text) + 2, used = 0;
	const char *line = text;
	int inserted = 0;
	char *out;

	for (size_t i = 0; i < n_set; i++)
		cap += strlen(set[i].key) + strlen(set[i].value) + 5;
	out = malloc(cap);
	if (!out)
		return -ENOMEM;

#define EMIT(p, l)                                                                                 \
	do {                                                                                       \
		memcpy(out + used, (p), (l));                                                      \
		used += (l);                                                                       \
	} while (0)
#define EMIT_SET()                                                                                 \
	do {                                                                                       \
		for (size_t j = 0; j < n_set; j++) {                                               \
			EMIT(set[j].key, strlen(set[j].key));                                      \
			EMIT(" = ", 3);                                                            \
			EMIT(set[j].value, strlen(set[j].value));                                  \
			EMIT("\n", 1);                                                             \
		}                                                                                  \
		inserted = 1;                                                                      \
	} while (0)

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *k = NULL;
		size_t kl = line_key(line, len, &k);
		int drop = 0;

		for (size_t j = 0; j < n_set && kl; j++)
			drop |= kl == strlen(set[j].key) && !strncmp(k, set[j].key, kl);
		if (!inserted && !strncmp(line, END_RECORD, strlen(END_RECORD)))
			EMIT_SET();
		if (!drop) {
			EMIT(line, len);
			EMIT("\n", 1);
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!inserted)
		EMIT_SET();
	out[used] = 0;
#undef EMIT
#undef EMIT_SET
	*ret = out;
	return 0;
}

/* The lines of text whose key starts with prefix, appended at out + *used (room for them
 * is the caller's: at most strlen(text) + 1 bytes). */
static void append_lines(char *out, size_t *used, const char *text, const char *prefix)
{
	const char *line = text;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *k = NULL;
		size_t kl = line_key(line, len, &k);

		if (kl > strlen(prefix) && !strncmp(k, prefix, strlen(prefix))) {
			memcpy(out + *used, line, len);
			*used += len;
			out[(*used)++] = '\n';
		}
		line = nl ? nl + 1 : NULL;
	}
	out[*used] = 0;
}

int be_iscsi_noderec_build(const char *conf, const char *iface_text,
			   const struct be_iscsi_noderec_kv *set, size_t n_set, char **ret)
{
	static const char begin[] = "# BEGIN RECORD attachd\n", end[] = END_RECORD "\n";
	size_t cap, used = sizeof(begin) - 1;
	char *base;
	int r;

	conf = conf ? conf : "";
	iface_text = iface_text ? iface_text : "";
	cap = sizeof(begin) + strlen(conf) + 1 + strlen(iface_text) + 1 + sizeof(end);
	base = malloc(cap);
	if (!base)
		return -ENOMEM;
	memcpy(base, begin, sizeof(begin));
	append_lines(base, &used, conf, "node.");
	append_lines(base, &used, iface_text, "iface.");
	memcpy(base + used, end, sizeof(end));
	r = be_iscsi_noderec_edit(base, set, n_set, ret);
	explicit_bzero(base, cap);
	free(base);
	return r;
}

/* ---------------------------------------------------------------- record files */

static void free_secret_text(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}
#define _cleanup_secret_ _cleanup_(free_secret_text)

/* A regular file below dirfd, read whole (not following a symlink at the last step). */
static int read_at(int dirfd, const char *name, char **ret)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	char *buf;
	ssize_t k;
	size_t used = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EISDIR;
	if (st.st_size > RECORD_MAX)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while ((k = read(fd, buf + used, (size_t)st.st_size - used)) > 0)
		used += (size_t)k;
	if (k < 0) {
		int r = -errno;

		free(buf);
		return r;
	}
	buf[used] = 0;
	*ret = buf;
	return 0;
}

/* Is this record text (iqn, addr:port, iface)'s? */
static int record_is(const char *text, const char *iqn, const char *addr, unsigned port,
		     const char *iface)
{
	char v[BE_ISCSI_NAME_MAX + 2];
	unsigned p;

	if (be_iscsi_noderec_get(text, "node.name", v, sizeof(v)) < 0 || !streq(v, iqn))
		return 0;
	if (be_iscsi_noderec_get(text, "iface.iscsi_ifacename", v, sizeof(v)) < 0 ||
	    !streq(v, iface))
		return 0;
	if (be_iscsi_noderec_get(text, "node.conn[0].address", v, sizeof(v)) < 0 ||
	    !be_iscsi_addr_equal(v, addr))
		return 0;
	if (be_iscsi_noderec_get(text, "node.conn[0].port", v, sizeof(v)) < 0 ||
	    sscanf(v, "%u", &p) != 1 || p != port)
		return 0;
	return 1;
}

/* Names open-iscsi builds paths from; ours are checked before, this is the last guard. */
static int path_part_is_safe(const char *s)
{
	return s[0] && s[0] != '.' && !strchr(s, '/');
}

static int open_target_dir(const struct sys *s, const char *iqn, int *ret_fd)
{
	char path[4096], full[4096];
	int fd;

	if (!path_part_is_safe(iqn))
		return -EINVAL;
	if (snprintf(path, sizeof(path), NODES_DIR "/%s", iqn) >= (int)sizeof(path) ||
	    !sys_path(full, sizeof(full), s->etc_root, path))
		return -ENAMETOOLONG;
	fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int be_iscsi_noderec_flat_iface(const struct sys *s, const char *iqn, const char *addr,
				unsigned port, char *ret_iface, size_t n)
{
	_cleanup_close_ int dfd = -EBADF;
	_cleanup_secret_ char *text = NULL;
	char name[BE_ISCSI_HOST_MAX + 16];
	struct stat st;
	int r;

	if (!path_part_is_safe(addr))
		return -EINVAL;
	r = open_target_dir(s, iqn, &dfd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s,%u", addr, port);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISREG(st.st_mode))
		return 0; /* a directory of per-iface records (never this name, but harmless) */
	r = read_at(dfd, name, &text);
	if (r < 0)
		return r;
	/* A flat record without an iface line is iface "default" to open-iscsi. */
	if (be_iscsi_noderec_get(text, "iface.iscsi_ifacename", ret_iface, n) < 0)
		snprintf(ret_iface, n, "default");
	return 1;
}

/* Replace name (relative to dfd) with text, atomically, mode 0600. Not synced: the record
 * is written whole before every login, and a host crash that could tear it also ends the
 * sessions it was for (node.startup is manual), so a torn file is never used. */
static int replace_at(int dfd, const char *name, const char *text)
{
	char tmp[64];
	uint64_t rnd = 0;
	size_t len = strlen(text), done = 0;
	int fd, r = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)mono_ms() ^ (uint64_t)getpid();
	/* no ',' in the name: open-iscsi's walk of nodes/<iqn>/ skips it */
	snprintf(tmp, sizeof(tmp), ".attachd-rec-%016llx", (unsigned long long)rnd);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	while (r == 0 && done < len) {
		ssize_t k = write(fd, text + done, len - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			r = k < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)k;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && renameat(dfd, tmp, dfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dfd, tmp, 0);
		return r;
	}
	return 0;
}

/* Which record is ours (the one being written), and what went wrong with which file. */
struct rec_id {
	const char *iqn, *addr, *iface;
	unsigned port;
	char bad[256];
};

/* Text of a file under etc_root, "" when it does not exist. */
static int read_conf(const struct sys *s, const char *rel, size_t max, int missing_ok, char **ret)
{
	char path[4096];
	int r;

	if (!sys_path(path, sizeof(path), s->etc_root, rel))
		return -ENAMETOOLONG;
	r = s->ops->read_file(s, path, ret, max);
	if (r == -ENOENT && missing_ok) {
		*ret = strdup("");
		return *ret ? 0 : -ENOMEM;
	}
	return r;
}

/* Our record in another file than the one we write (a flat <addr>,<port> of an earlier
 * attachd, or another tag's <addr>,<port>,<tpgt>/<iface>): iscsiadm would log in with each
 * (a flat one even first), so they go. Others' files are never touched (checked by content). */
static int remove_other_records(int dfd, const char *flat, const char *prefix, const char *keep,
				struct rec_id *a)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	int r = 0;

	if (!d)
		return -errno;
	while (r == 0 && (de = readdir(d))) {
		char name[sizeof(de->d_name) + BE_ISCSI_IFACE_MAX + 2];
		_cleanup_secret_ char *text = NULL;

		if (streq(de->d_name, flat))
			snprintf(name, sizeof(name), "%s", de->d_name);
		else if (startswith(de->d_name, prefix) && !streq(de->d_name, keep))
			snprintf(name, sizeof(name), "%s/%s", de->d_name, a->iface);
		else
			continue;
		if (read_at(dfd, name, &text) < 0 ||
		    !record_is(text, a->iqn, a->addr, a->port, a->iface))
			continue;
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
			r = -errno;
			snprintf(a->bad, sizeof(a->bad), "cannot remove %s: %s", name,
				 strerror(errno));
		}
		if (!streq(de->d_name, flat))
			(void)unlinkat(dfd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	return r;
}

int be_iscsi_noderec_write(const struct backend_ctx *ctx, const char *iqn, const char *addr,
			   unsigned port, const struct be_iscsi_noderec_kv *set, size_t n_set,
			   int *ret_created, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	const char *iface = be_iscsi_iface(ctx);
	struct rec_id a = {.iqn = iqn, .addr = addr, .iface = iface, .port = port};
	_cleanup_secret_ char *conf = NULL, *iface_text = NULL, *text = NULL, *back = NULL;
	_cleanup_close_ int dfd = -EBADF;
	char rel[4096], dir[4096], flat[BE_ISCSI_HOST_MAX + 16], prefix[BE_ISCSI_HOST_MAX + 16];
	char portal_dir[BE_ISCSI_HOST_MAX + 32], name[BE_ISCSI_HOST_MAX + BE_ISCSI_IFACE_MAX + 40];
	char v[BE_ISCSI_NAME_MAX + BE_ISCSI_CHAP_MAX + 2];
	struct stat st;
	int r, created;

	if (!path_part_is_safe(addr) || !path_part_is_safe(iqn) || !path_part_is_safe(iface))
		return errbuf_set(e, -EINVAL, "'%s' at '%s' cannot name a node record", iqn, addr);
	r = read_conf(s, CONF_FILE, CONF_MAX, 1, &conf);
	if (r < 0)
		return errbuf_set(e, r, "cannot read open-iscsi's defaults %s: %s", CONF_FILE,
				  strerror(-r));
	snprintf(rel, sizeof(rel), IFACES_DIR "/%s", iface);
	r = read_conf(s, rel, RECORD_MAX, 0, &iface_text);
	if (r < 0)
		return errbuf_set(e, r, "cannot read open-iscsi iface %s (%s): %s", iface, rel,
				  strerror(-r));
	r = be_iscsi_noderec_build(conf, iface_text, set, n_set, &text);
	if (r < 0)
		return errbuf_set(e, r, "out of memory");
	snprintf(flat, sizeof(flat), "%s,%u", addr, port);
	snprintf(prefix, sizeof(prefix), "%s,%u,", addr, port);
	snprintf(portal_dir, sizeof(portal_dir), "%s,%u,%d", addr, port, BE_ISCSI_RECORD_TPGT);
	snprintf(name, sizeof(name), "%s/%s", portal_dir, iface);
	snprintf(rel, sizeof(rel), NODES_DIR "/%s", iqn);
	if (!sys_path(dir, sizeof(dir), s->etc_root, rel))
		return errbuf_set(e, -ENAMETOOLONG, "node record path too long");

	r = be_iscsi_noderec_lock(s, ctx->timeout_ms, e);
	if (r < 0)
		return r;
	r = s->ops->mkdir_p(s, dir, 0700);
	if (r >= 0)
		r = open_target_dir(s, iqn, &dfd);
	if (r < 0) {
		errbuf_set(e, r, "cannot create the node record directory %s: %s", dir,
			   strerror(-r));
		goto out;
	}
	r = remove_other_records(dfd, flat, prefix, portal_dir, &a);
	if (r < 0) {
		errbuf_set(e, r, "replacing attachd's old node record of %s failed: %s", iqn,
			   a.bad);
		goto out;
	}
	if (mkdirat(dfd, portal_dir, 0700) < 0 && errno != EEXIST) {
		r = errbuf_set(e, -errno, "cannot create %s/%s: %s", dir, portal_dir,
			       strerror(errno));
		goto out;
	}
	created = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0;
	r = replace_at(dfd, name, text);
	if (r == 0)
		r = read_at(dfd, name, &back);
	if (r < 0) {
		errbuf_set(e, r, "writing the node record %s/%s failed: %s", dir, name,
			   strerror(-r));
		goto out;
	}
	/* Read back what open-iscsi will read. */
	for (size_t i = 0; i < n_set; i++)
		if (be_iscsi_noderec_get(back, set[i].key, v, sizeof(v)) < 0 ||
		    !streq(v, set[i].value)) {
			r = errbuf_set(e, -EIO,
				       "the node record %s/%s did not read back as written (%s)",
				       dir, name, set[i].key);
			goto out;
		}
	*ret_created = created;
out:
	explicit_bzero(v, sizeof(v));
	be_iscsi_noderec_unlock(s);
	return r;
}

int be_iscsi_noderec_remove(const struct backend_ctx *ctx, const char *iqn, const char *addr,
			    unsigned port, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	_cleanup_close_ int dfd = -EBADF;
	char prefix[BE_ISCSI_HOST_MAX + 16], flat[BE_ISCSI_HOST_MAX + 16];
	DIR *d;
	struct dirent *de;
	int r;

	if (!path_part_is_safe(addr))
		return errbuf_set(e, -EINVAL, "portal address '%s' cannot name a node record",
				  addr);
	snprintf(prefix, sizeof(prefix), "%s,%u,", addr, port);
	snprintf(flat, sizeof(flat), "%s,%u", addr, port);
	r = be_iscsi_noderec_lock(s, ctx->timeout_ms, e);
	if (r < 0)
		return r;
	r = open_target_dir(s, iqn, &dfd);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r < 0) {
		errbuf_set(e, r, "cannot open the node records of %s: %s", iqn, strerror(-r));
		goto out;
	}
	d = fdopendir(dup(dfd));
	if (!d) {
		r = errbuf_set(e, -errno, "cannot list the node records of %s: %s", iqn,
			       strerror(errno));
		goto out;
	}
	while (r == 0 && (de = readdir(d))) {
		char name[sizeof(de->d_name) + BE_ISCSI_IFACE_MAX + 2];
		_cleanup_secret_ char *text = NULL;

		if (streq(de->d_name, flat))
			snprintf(name, sizeof(name), "%s", de->d_name); /* an earlier attachd's */
		else if (startswith(de->d_name, prefix))
			snprintf(name, sizeof(name), "%s/%s", de->d_name, be_iscsi_iface(ctx));
		else
			continue;
		if (read_at(dfd, name, &text) < 0 ||
		    !record_is(text, iqn, addr, port, be_iscsi_iface(ctx)))
			continue;
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			r = errbuf_set(e, -errno, "cannot remove node record %s/%s: %s", iqn, name,
				       strerror(errno));
		/* the portal directory goes when it is empty, as idbm_delete_node does */
		if (!streq(de->d_name, flat))
			(void)unlinkat(dfd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	/* and the target's, when nothing else is left in it (idbm_delete_node again) */
	if (r == 0) {
		char rel[4096], dir[4096];

		snprintf(rel, sizeof(rel), NODES_DIR "/%s", iqn);
		if (sys_path(dir, sizeof(dir), s->etc_root, rel))
			(void)rmdir(dir);
	}
out:
	be_iscsi_noderec_unlock(s);
	return r;
}

int be_iscsi_noderec_auth_is(const char *text, const char *user, const char *secret)
{
	char method[32], v[BE_ISCSI_CHAP_MAX + 2];
	int r, match;

	/* A key the file does not name takes idbm's compiled default: no authentication. */
	r = be_iscsi_noderec_get(text, "node.session.auth.authmethod", method, sizeof(method));
	if (r == -ENOENT)
		snprintf(method, sizeof(method), "None");
	else if (r < 0)
		return 0;
	if (!user[0])
		return streq(method, "None");
	if (!streq(method, "CHAP"))
		return 0;
	if (be_iscsi_noderec_get(text, "node.session.auth.username", v, sizeof(v)) < 0 ||
	    !streq(v, user))
		return 0;
	match = be_iscsi_noderec_get(text, "node.session.auth.password", v, sizeof(v)) == 0 &&
		streq(v, secret);
	explicit_bzero(v, sizeof(v));
	return match;
}

int be_iscsi_noderec_auth_matches(const struct backend_ctx *ctx, const char *iqn, const char *addr,
				  unsigned port, const char *user, const char *secret)
{
	const char *iface = be_iscsi_iface(ctx);
	_cleanup_secret_ char *text = NULL;
	_cleanup_close_ int dfd = -EBADF;
	char name[BE_ISCSI_HOST_MAX + BE_ISCSI_IFACE_MAX + 40];
	int r;

	if (!path_part_is_safe(addr) || !path_part_is_safe(iface))
		return -EINVAL;
	r = open_target_dir(ctx->sys, iqn, &dfd);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s,%u,%d/%s", addr, port, BE_ISCSI_RECORD_TPGT, iface);
	/* Our writer replaces the file by rename, so a read sees one whole record. */
	r = read_at(dfd, name, &text);
	if (r < 0)
		return r;
	if (!record_is(text, iqn, addr, port, iface))
		return -ENOENT;
	return be_iscsi_noderec_auth_is(text, user, secret);
}
