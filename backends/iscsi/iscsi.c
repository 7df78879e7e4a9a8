/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iscsi backend: kernel data path through open-iscsi, one session per (portal,
 * target) shared by every LUN behind it, LUNs attached by a targeted scan and detached by
 * deleting their SCSI device; the session logs out when the kernel shows no device left
 * on it.
 *
 * a->objs records, as it goes, what exists (so disconnect works after a crash or a failure
 * part way):
 *   { "scsi_lun": 1,                       the L of H:C:T:L (from the probe or computed)
 *     "paths": [ { "portal": "10.0.0.5:3260", "iqn": "iqn...",
 *                  "session": 3 | null, "host": 4 | null, "hctl": "4:0:0:1" | null,
 *                  "node_created": bool, "session_created": bool } ] }
 * node_created/session_created say whether this volume created them (informational: the
 * session goes when the kernel shows no SCSI device left on it, and every node record on
 * iface "attachd" is ours to delete then). A path entry is removed once disconnect has
 * undone it, so replaying disconnect later does nothing.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "lib/macro.h"

static const char *const iscsi_keys[] = {
    "portals", "portal", "iqn", "lun", "wwid", "chap_user", "chap_secret", NULL,
};
static const char *const iscsi_secret_keys[] = {"chap_secret", NULL};

static json_t *objs_paths(struct backend_attachment *a)
{
	json_t *paths;

	if (!a->objs && !(a->objs = json_object()))
		return NULL;
	paths = json_object_get(a->objs, "paths");
	if (json_is_array(paths))
		return paths;
	paths = json_array();
	if (!paths || json_object_set_new(a->objs, "paths", paths) < 0)
		return NULL;
	return paths;
}

static json_t *path_find(json_t *paths, const char *portal, const char *iqn)
{
	size_t i;
	json_t *p;

	json_array_foreach(paths, i, p)
	{
		if (streq(json_string_value(json_object_get(p, "portal")), portal) &&
		    streq(json_string_value(json_object_get(p, "iqn")), iqn))
			return p;
	}
	return NULL;
}

static int path_uint(const json_t *p, const char *key, unsigned *ret)
{
	const json_t *v = json_object_get(p, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0x7fffffff)
		return -ENOENT;
	*ret = (unsigned)json_integer_value(v);
	return 0;
}

static json_t *path_new(json_t *paths, const char *portal, const char *iqn)
{
	json_t *p = json_pack("{s:s, s:s, s:n, s:n, s:n, s:b, s:b}", "portal", portal, "iqn", iqn,
			      "session", "host", "hctl", "node_created", 0, "session_created", 0);

	if (!p || json_array_append_new(paths, p) < 0)
		return NULL;
	return p;
}

/* Numeric address of a portal's host: sysfs shows addresses, and a record keyed by the
 * address needs no DNS when a restarted agent detaches. */
static int resolve(const struct be_iscsi_portal *p, struct be_iscsi_portal *ret, struct errbuf *e)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *res = NULL;
	struct be_iscsi_portal out = *p;
	int r;

	r = getaddrinfo(p->host, NULL, &hints, &res);
	if (r != 0) {
		hints.ai_flags = AI_ADDRCONFIG;
		r = getaddrinfo(p->host, NULL, &hints, &res);
	}
	if (r != 0 || !res)
		return errbuf_set(
		    e, -EHOSTUNREACH,
		    "cannot resolve portal host %s (%s): use an IP address or fix DNS", p->host,
		    gai_strerror(r));
	r = getnameinfo(res->ai_addr, res->ai_addrlen, out.host, sizeof(out.host), NULL, 0,
			NI_NUMERICHOST);
	out.is_ipv6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	if (r != 0)
		return errbuf_set(e, -EHOSTUNREACH, "cannot resolve portal host %s", p->host);
	*ret = out;
	return 0;
}

static unsigned kernel_lun_of(const struct backend_attachment *a, const struct be_iscsi_cfg *c)
{
	unsigned l;

	if (path_uint(a->objs, "scsi_lun", &l) == 0)
		return l;
	return be_iscsi_kernel_lun(c->lun);
}

/* Log in (or reuse the session) and scan the LUN, under the target lock. */
static int connect_path(const struct backend_ctx *ctx, const struct be_iscsi_cfg *c,
			const struct be_iscsi_portal *pt, const char *portal, json_t *path,
			unsigned klun, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	unsigned sid, host, tid;
	char hctl[64], state[32];
	int r, fresh;

	r = be_iscsi_sysfs_find_session(s, c->iqn, pt->host, pt->port, &sid);
	if (r == -ENOENT) {
		be_iscsi_db_lock();
		r = be_iscsi_iface_ensure(ctx, e);
		if (r == 0)
			r = be_iscsi_node_exists(ctx, portal, c->iqn, e);
		if (r == 0) {
			r = be_iscsi_node_create(ctx, portal, c->iqn, e);
			if (r == 0)
				json_object_set_new(path, "node_created", json_true());
		}
		/* A record left from before (ours by its iface) gets this volume's settings:
		 * CHAP may differ, and manual startup and scan are what this file relies on. */
		if (r >= 0)
			r = be_iscsi_node_configure(ctx, portal, c, e);
		be_iscsi_db_unlock();
		if (r < 0)
			return r;

		r = be_iscsi_node_login(ctx, portal, c->iqn, e);
		if (r < 0)
			return r;
		fresh = r == 0;
		r = be_iscsi_sysfs_find_session(s, c->iqn, pt->host, pt->port, &sid);
		if (r == -ENOENT)
			return errbuf_set(
			    e, -EIO,
			    "iscsiadm logged in to %s at %s but the kernel shows no such "
			    "session in /sys/class/iscsi_session",
			    c->iqn, portal);
		if (r < 0)
			return errbuf_set(e, r, "reading iSCSI sessions from sysfs failed: %s",
					  strerror(-r));
		if (fresh)
			json_object_set_new(path, "session_created", json_true());
	} else if (r < 0) {
		return errbuf_set(e, r, "reading iSCSI sessions from sysfs failed: %s",
				  strerror(-r));
	}
	json_object_set_new(path, "session", json_integer(sid));

	/* The kernel skips the scan of a session that is not logged in (it is recovering
	 * from a lost connection): no device would ever come, so say so now. */
	r = be_iscsi_sysfs_session_state(s, sid, state, sizeof(state));
	if (r >= 0 && !streq(state, "LOGGED_IN"))
		return errbuf_set(
		    e, -EHOSTDOWN,
		    "iSCSI session %u to %s at %s is %s (the connection to the target "
		    "is lost and being recovered); check the network path to the array",
		    sid, c->iqn, portal, state);

	r = be_iscsi_sysfs_session_host(s, sid, &host);
	if (r < 0)
		return errbuf_set(e, r,
				  "cannot find the SCSI host of iSCSI session %u (%s at %s): %s",
				  sid, c->iqn, portal, strerror(-r));
	json_object_set_new(path, "host", json_integer(host));
	r = be_iscsi_sysfs_session_target_id(s, sid, &tid);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the target id of iSCSI session %u: %s", sid,
				  strerror(-r));
	/* iSCSI sessions have one channel, 0 (iscsi_user_scan_session()). */
	snprintf(hctl, sizeof(hctl), "%u:0:%u:%u", host, tid, klun);
	json_object_set_new(path, "hctl", json_string(hctl));

	/* Synchronous in the kernel: the SCSI device exists when the write returns (if the
	 * target has that LUN), so a disconnect waiting on our target lock counts it. */
	r = be_iscsi_sysfs_scan(s, host, 0, tid, klun);
	if (r < 0)
		return errbuf_set(e, r, "scanning LUN %u on SCSI host %u (%s at %s) failed: %s",
				  c->lun, host, c->iqn, portal, strerror(-r));
	return 0;
}

/* Undo one path under its target lock. 0 when nothing of it is left. */
static int disconnect_path(const struct backend_ctx *ctx, const json_t *path, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	const char *portal = json_string_value(json_object_get(path, "portal"));
	const char *iqn = json_string_value(json_object_get(path, "iqn"));
	const char *hctl = json_string_value(json_object_get(path, "hctl"));
	struct be_iscsi_target_lock *lk;
	struct be_iscsi_portal pt;
	unsigned sid, n = 0;
	int r, have_session;

	if (!portal || !iqn || be_iscsi_portal_parse(portal, &pt, NULL, 0) < 0)
		return 0; /* not a record we could have written: nothing we can undo */

	lk = be_iscsi_target_lock(portal, iqn);
	if (hctl) {
		r = be_iscsi_sysfs_delete_device(s, hctl);
		if (r < 0) {
			errbuf_set(e, r, "deleting SCSI device %s (%s at %s) failed: %s", hctl, iqn,
				   portal, strerror(-r));
			goto out;
		}
	}
	r = be_iscsi_sysfs_find_session(s, iqn, pt.host, pt.port, &sid);
	have_session = r == 0;
	if (r == 0) {
		/* Kernel truth, not a refcount of ours: other volumes' LUNs on this session. */
		r = be_iscsi_sysfs_session_count_devices(s, sid, &n);
		if (r < 0) {
			errbuf_set(e, r, "counting the SCSI devices of iSCSI session %u failed: %s",
				   sid, strerror(-r));
			goto out;
		}
		if (n > 0) {
			r = 0; /* still in use: leave the session and its record */
			goto out;
		}
	} else if (r != -ENOENT) {
		errbuf_set(e, r, "reading iSCSI sessions from sysfs failed: %s", strerror(-r));
		goto out;
	}
	/* iscsiadm refuses any call naming an iface whose file is gone (exit 3), e.g. after a
	 * reboot wiped /etc/iscsi/ifaces: bring it back first. */
	be_iscsi_db_lock();
	r = be_iscsi_iface_ensure(ctx, e);
	be_iscsi_db_unlock();
	if (r < 0)
		goto out;
	if (have_session) {
		r = be_iscsi_node_logout(ctx, portal, iqn, e);
		if (r < 0)
			goto out;
	}
	/* No device left and no session of ours: our record goes, whichever volume made it
	 * (node_created only tells whether this one did). */
	be_iscsi_db_lock();
	r = be_iscsi_node_delete(ctx, portal, iqn, e);
	be_iscsi_db_unlock();
out:
	be_iscsi_target_unlock(lk);
	return r;
}

int be_iscsi_connect(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	json_t *paths = objs_paths(a);
	char all[ERRBUF_MAX] = "";
	unsigned klun, ok = 0;
	int first_r = 0;

	if (!paths)
		return errbuf_set(e, -ENOMEM, "out of memory");
	klun = kernel_lun_of(a, c);
	json_object_set_new(a->objs, "scsi_lun", json_integer(klun));

	for (unsigned i = 0; i < c->n_portals; i++) {
		struct be_iscsi_target_lock *lk;
		struct be_iscsi_portal pt;
		char portal[BE_ISCSI_PORTAL_STR_MAX];
		struct errbuf pe = {""};
		json_t *path;
		int r;

		r = resolve(&c->portals[i], &pt, &pe);
		if (r >= 0)
			r = be_iscsi_portal_format(&pt, portal, sizeof(portal));
		if (r >= 0) {
			path = path_find(paths, portal, c->iqn);
			if (!path)
				path = path_new(paths, portal, c->iqn);
			if (!path)
				return errbuf_set(e, -ENOMEM, "out of memory");
			lk = be_iscsi_target_lock(portal, c->iqn);
			r = connect_path(ctx, c, &pt, portal, path, klun, &pe);
			be_iscsi_target_unlock(lk);
			if (r < 0) {
				struct errbuf ignore;
				size_t idx;
				json_t *p;

				/* Other portals may still work: undo this one now rather than at
				 * detach (best effort; on failure its entry stays for detach). */
				if (disconnect_path(ctx, path, &ignore) == 0) {
					json_array_foreach(paths, idx, p)
					{
						if (p == path) {
							json_array_remove(paths, idx);
							break;
						}
					}
				}
			}
		}
		if (r == 0) {
			ok++;
			continue;
		}
		if (!first_r)
			first_r = r;
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", all[0] ? "; " : "",
			 pe.msg);
	}
	/* One working path is an attachment; dead portals are retried on the next attach. */
	if (ok > 0)
		return 0;
	return errbuf_set(e, first_r ? first_r : -EIO, "%s", all);
}

int be_iscsi_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			 struct backend_device *ret, struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	json_t *paths = json_object_get(a->objs, "paths");
	const char *waiting = NULL;
	size_t i;
	json_t *p;

	json_array_foreach(paths, i, p)
	{
		const char *hctl = json_string_value(json_object_get(p, "hctl"));
		struct backend_device dev = {0};
		char path[sizeof(dev.devnode)];
		int r;

		if (!hctl)
			continue;
		waiting = waiting ? waiting : hctl;
		r = be_iscsi_sysfs_hctl_block(ctx->sys, hctl, dev.sysname, sizeof(dev.sysname));
		if (r == -ENOENT || r == -EAGAIN)
			continue;
		if (r < 0)
			return errbuf_set(e, r, "looking up the disk of SCSI device %s failed: %s",
					  hctl, strerror(-r));
		r = be_iscsi_sysfs_block_devnum(ctx->sys, dev.sysname, &dev.major, &dev.minor);
		if (r == -ENOENT)
			continue; /* registered a moment ago, attributes not there yet */
		if (r < 0)
			return errbuf_set(e, r, "reading /sys/block/%s/dev failed: %s", dev.sysname,
					  strerror(-r));
		snprintf(path, sizeof(path), "/dev/%s", dev.sysname);
		if (!sys_path(dev.devnode, sizeof(dev.devnode), ctx->sys->dev_root, path))
			return errbuf_set(e, -ENAMETOOLONG, "device path too long");
		*ret = dev;
		return 0;
	}
	if (!waiting)
		return errbuf_set(e, -ENODEV, "%s LUN %u is not connected (no SCSI path recorded)",
				  c->iqn, c->lun);
	return errbuf_set(e, -EAGAIN, "waiting for SCSI device %s (%s LUN %u)", waiting, c->iqn,
			  c->lun);
}

int be_iscsi_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
		      const struct backend_device *dev, struct backend_identity *ret,
		      struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	struct backend_identity id;
	int r;

	r = be_iscsi_sysfs_block_identity(ctx->sys, dev->sysname, &id);
	if (r < 0)
		return errbuf_set(e, r, "reading the identity of %s from sysfs failed: %s",
				  dev->sysname, strerror(-r));
	if (c->wwid[0] && !streq(c->wwid, id.wwid))
		return errbuf_set(e, -EMEDIUMTYPE,
				  "%s (%s LUN %u) has WWID %s, not the %s this volume was created "
				  "with: refusing to use it; check 'lun' and 'wwid'",
				  dev->devnode, c->iqn, c->lun, id.wwid[0] ? id.wwid : "(none)",
				  c->wwid);
	*ret = id;
	return 0;
}

int be_iscsi_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct errbuf *e)
{
	json_t *paths = json_object_get(a->objs, "paths");
	int first_r = 0;
	size_t i = 0;

	if (!json_is_array(paths))
		return 0; /* nothing was ever connected */
	/* Every path, even after a failure: each one left connected is a leak. */
	while (i < json_array_size(paths)) {
		struct errbuf pe = {""};
		int r = disconnect_path(ctx, json_array_get(paths, i), &pe);

		if (r == 0) {
			json_array_remove(paths, i);
			continue;
		}
		if (!first_r) {
			first_r = r;
			errbuf_set(e, r, "%s", pe.msg);
		}
		i++;
	}
	return first_r;
}

const struct backend_ops be_iscsi_ops = {
    .name = "iscsi",
    .keys = iscsi_keys,
    .secret_keys = iscsi_secret_keys,
    .parse = be_iscsi_parse,
    .free_cfg = be_iscsi_free_cfg,
    .describe = be_iscsi_describe,
    .probe = be_iscsi_probe,
    .connect = be_iscsi_connect,
    .find_device = be_iscsi_find_device,
    .identify = be_iscsi_identify,
    .disconnect = be_iscsi_disconnect,
};
