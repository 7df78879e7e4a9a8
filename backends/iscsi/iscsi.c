/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iscsi backend: kernel data path through open-iscsi, one session per (portal,
 * target) shared by every LUN behind it, LUNs attached by a targeted scan and detached by
 * deleting their SCSI device; the session logs out when the kernel shows no device left
 * on it.
 *
 * Ownership. Sessions are ours when they run on our open-iscsi iface (BE_ISCSI_IFACE,
 * sysfs ifacename): connect never reuses a session on another iface (an admin's plain
 * iscsiadm login on "default": it makes its own beside it), and a detach never counts,
 * touches or logs out one. A SCSI device is deleted only when it hangs under our session
 * for the recorded target and portal, has the recorded LUN (the L) and reads back the
 * recorded WWID (VPD 0x83). Kernel numbers in a record (session, host, H:C:T:L) are
 * never trusted: they are reused within a boot and restart at every boot, so every
 * action re-resolves by identity, and a device that does not prove to be ours is left
 * alone (the path counts as gone; e says why).
 *
 * a->objs records, as it goes, what exists (so disconnect works after a crash or a failure
 * part way):
 *   { "scsi_lun": 1,                       the L of H:C:T:L (from the probe or computed)
 *     "wwid": "naa.6001405...",            the LU's WWID as the probe read it, or (no
 *                                          probe) as the kernel read it at our scan
 *     "preflight": "session",              from the plan step to connect only: no probe
 *                                          ran (preflight.c), the scan proves the LUN
 *     "paths": [ { "portal": "10.0.0.5:3260", "iqn": "iqn...",
 *                  "session": 3 | null, "host": 4 | null, "hctl": "4:0:0:1" | null,
 *                  "wwid": "naa...." (once the device was seen with it),
 *                  "node_created": bool, "session_created": bool } ] }
 * session/host/hctl are what connect saw (for people and for checking the record's
 * shape); node_created/session_created say whether this volume created them
 * (informational: the session goes when the kernel shows no SCSI device left on it, and
 * every node record on our iface is ours to delete then). A path entry is removed once
 * disconnect has undone it, so replaying disconnect later does nothing. A record whose
 * values do not have these shapes is refused (-EINVAL) before any of it reaches a path.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "lib/macro.h"

static const char *const iscsi_keys[] = {
    "portals", "portal", "iqn", "targets", "lun", "wwid", "chap_user", "chap_secret", NULL,
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

static int bad(char *why, size_t n, const char *what)
{
	snprintf(why, n, "%s", what);
	return -EINVAL;
}

/* A normalised WWID string, as we write them: printable, its own normal form. It is only
 * ever compared with what the kernel shows, so any such string is safe; stricter forms
 * (be_iscsi_wwid_is_valid) would turn a designator we do not know into a stuck record. */
static int wwid_is_normal(const char *w)
{
	char n[256];

	if (!w)
		return 0;
	for (const char *c = w; *c; c++)
		if ((unsigned char)*c < ' ' || (unsigned char)*c == 0x7f)
			return 0;
	return be_iscsi_wwid_normalize(w, n, sizeof(n)) == 0 && streq(n, w);
}

static int opt_uint_ok(const json_t *p, const char *key)
{
	const json_t *v = json_object_get(p, key);
	unsigned x;

	return !v || json_is_null(v) || path_uint(p, key, &x) == 0;
}

/* Is this path entry one we could have written? Names the first bad field in why. */
static int path_check(const json_t *p, char *why, size_t n)
{
	const json_t *hctl = json_object_get(p, "hctl"), *w = json_object_get(p, "wwid");
	const char *portal = json_string_value(json_object_get(p, "portal"));
	const char *iqn = json_string_value(json_object_get(p, "iqn"));
	struct be_iscsi_portal pt;

	if (!json_is_object(p))
		return bad(why, n, "a path entry is not an object");
	if (!portal || be_iscsi_portal_parse(portal, &pt, NULL, 0) < 0)
		return bad(why, n, "'portal' is not host:port");
	if (!iqn || !be_iscsi_name_is_valid(iqn))
		return bad(why, n, "'iqn' is not an iSCSI name");
	if (hctl && !json_is_null(hctl) &&
	    (!json_is_string(hctl) ||
	     be_iscsi_hctl_parse(json_string_value(hctl), NULL, NULL, NULL, NULL) < 0))
		return bad(why, n, "'hctl' is not H:C:T:L");
	if (!opt_uint_ok(p, "session") || !opt_uint_ok(p, "host"))
		return bad(why, n, "'session' or 'host' is not a number");
	if (w && !json_is_null(w) && !wwid_is_normal(json_string_value(w)))
		return bad(why, n, "'wwid' is not a WWID");
	w = json_object_get(p, "refused_wwid");
	if (w && !json_is_string(w))
		return bad(why, n, "'refused_wwid' is not a string");
	return 0;
}

/* Is objs as a whole one we could have written (its top-level fields)? */
static int objs_check(const json_t *objs, char *why, size_t n)
{
	const json_t *w = json_object_get(objs, "wwid"), *l = json_object_get(objs, "scsi_lun");
	const json_t *paths = json_object_get(objs, "paths");
	unsigned x;

	if (l && path_uint(objs, "scsi_lun", &x) < 0)
		return bad(why, n, "'scsi_lun' is not a number");
	if (w && !json_is_null(w) && !wwid_is_normal(json_string_value(w)))
		return bad(why, n, "'wwid' is not a WWID");
	if (paths && !json_is_array(paths))
		return bad(why, n, "'paths' is not a list");
	return 0;
}

/* The WWID this path's device must have: what we saw on it, else what the probe read,
 * else what the volume was created with. NULL when nothing is known. */
static const char *expected_wwid(const struct backend_attachment *a, const json_t *path)
{
	const struct be_iscsi_cfg *c = a->cfg;
	const char *w = json_string_value(json_object_get(path, "wwid"));

	if (w && *w)
		return w;
	w = json_string_value(json_object_get(a->objs, "wwid"));
	if (w && *w)
		return w;
	return c && c->wwid[0] ? c->wwid : NULL;
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
int be_iscsi_portal_resolve(const struct be_iscsi_portal *p, struct be_iscsi_portal *ret,
			    struct errbuf *e)
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

/* After the scan, when the plan step did not probe (preflight.c): the synchronous scan made
 * the LUN's SCSI device, or the target has no such LUN. A device the scan made that is no
 * disk is ours to remove at once. *ret_need_probe when only the array can tell. */
static int check_scanned_lun(const struct sys *s, const struct be_iscsi_cfg *c, const char *portal,
			     unsigned sid, unsigned klun, int *ret_need_probe, struct errbuf *e)
{
	char hctl[64];
	unsigned type;
	int r;

	r = be_iscsi_sysfs_session_lun(s, sid, klun, hctl, sizeof(hctl));
	if (r == -ENOENT) {
		*ret_need_probe = 1;
		return errbuf_set(e, -ENXIO,
				  "LUN %u not found on %s at %s: the scan of attachd's session to "
				  "the target made no SCSI device for it; check 'lun'",
				  c->lun, c->iqn, portal);
	}
	if (r < 0)
		return errbuf_set(e, r, "listing the SCSI devices of iSCSI session %u failed: %s",
				  sid, strerror(-r));
	r = be_iscsi_sysfs_session_lun_type(s, sid, hctl, &type);
	if (r == 0 && type == 0)
		return 0;
	/* No device was there before the scan (checked under the target lock): the scan
	 * made this one, and nothing uses a device that is no disk. */
	(void)be_iscsi_sysfs_session_lun_delete(s, sid, hctl);
	if (r < 0) {
		*ret_need_probe = 1;
		return errbuf_set(e, r, "cannot read the SCSI device type of %s: %s", hctl,
				  strerror(-r));
	}
	return errbuf_set(e, -EMEDIUMTYPE,
			  "LUN %u on %s is not a disk (SCSI device type 0x%02x); check 'lun'",
			  c->lun, c->iqn, type);
}

/* Log in (or reuse the session) and scan the LUN, under the target lock. check_lun: the
 * plan step did not probe, so the scan must prove the LUN (check_scanned_lun). */
static int connect_path(const struct backend_ctx *ctx, const struct be_iscsi_cfg *c,
			const struct be_iscsi_portal *pt, const char *portal, json_t *path,
			unsigned klun, int check_lun, int *ret_need_probe, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	unsigned sid, host, tid;
	char hctl[64], state[32];
	int r, fresh;

	r = be_iscsi_sysfs_find_session(s, c->iqn, pt->host, pt->port, be_iscsi_iface(ctx), &sid);
	if (r == -ENOENT) {
		int created = 0;

		/* The record is written whole each time (a record left from before, ours by
		 * its iface, gets this volume's settings: CHAP may differ, and manual startup
		 * and scan are what this file relies on); the login is the one process. */
		be_iscsi_db_lock();
		r = be_iscsi_iface_ensure(ctx, e);
		if (r == 0)
			r = be_iscsi_node_write(ctx, portal, c, &created, e);
		be_iscsi_db_unlock();
		if (r < 0)
			return r;
		if (created)
			json_object_set_new(path, "node_created", json_true());

		r = be_iscsi_node_login(ctx, portal, c->iqn, e);
		if (r < 0)
			return r;
		fresh = r == 0;
		r = be_iscsi_sysfs_find_session(s, c->iqn, pt->host, pt->port, be_iscsi_iface(ctx),
						&sid);
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

	/* A device already there keeps the identity the kernel read when it was made: only
	 * the array can say which LU is behind the LUN now. */
	if (check_lun && be_iscsi_sysfs_session_lun(s, sid, klun, hctl, sizeof(hctl)) != -ENOENT) {
		*ret_need_probe = 1;
		return errbuf_set(e, -EEXIST, "a SCSI device for LUN %u is already on session %u",
				  c->lun, sid);
	}
	/* Synchronous in the kernel: the SCSI device exists when the write returns (if the
	 * target has that LUN), so a disconnect waiting on our target lock counts it. */
	r = be_iscsi_sysfs_scan(s, host, 0, tid, klun);
	if (r < 0)
		return errbuf_set(e, r, "scanning LUN %u on SCSI host %u (%s at %s) failed: %s",
				  c->lun, host, c->iqn, portal, strerror(-r));
	if (check_lun)
		return check_scanned_lun(s, c, portal, sid, klun, ret_need_probe, e);
	return 0;
}

/* What a path entry of the record names, checked: portal parsed, the kernel LUN to look
 * for (from objs, else the recorded hctl; *ret_has_lun 0 when neither: nothing scanned). */
int be_iscsi_path_decode(const struct backend_attachment *a, const json_t *path,
			 struct be_iscsi_portal *ret_pt, unsigned *ret_lun, int *ret_has_lun,
			 struct errbuf *e)
{
	const char *portal = json_string_value(json_object_get(path, "portal"));
	const char *hctl = json_string_value(json_object_get(path, "hctl"));
	char why[96];
	int r;

	r = objs_check(a->objs, why, sizeof(why));
	if (r == 0)
		r = path_check(path, why, sizeof(why));
	if (r < 0)
		return errbuf_set(e, r,
				  "the volume's record of its iSCSI path (%.80s) is damaged: %s; "
				  "refusing to act on it (check the record in the state directory)",
				  portal ? portal : "?", why);
	(void)be_iscsi_portal_parse(portal, ret_pt, NULL, 0);
	*ret_has_lun = 1;
	if (path_uint(a->objs, "scsi_lun", ret_lun) == 0)
		return 0;
	if (hctl && be_iscsi_hctl_parse(hctl, NULL, NULL, NULL, ret_lun) == 0)
		return 0;
	*ret_has_lun = 0;
	return 0;
}

static int holder_any(const char *name _unused_, void *ud _unused_)
{
	return 1;
}

/* Does anything (a dm map, md) hold the disk of this SCSI device? */
static int hctl_is_held(const struct sys *s, const char *hctl)
{
	char name[64], path[160];

	if (be_iscsi_sysfs_hctl_block(s, hctl, name, sizeof(name)) < 0)
		return 0;
	snprintf(path, sizeof(path), "/sys/block/%s/holders", name);
	return sys_sysfs_for_each(s, path, holder_any, NULL) > 0;
}

/* Delete our LUN's SCSI device on our session sid if it proves to be ours: LUN klun on
 * that session, with the expected WWID. 0 when deleted, gone, or not provably ours (then
 * *note says why it was left alone). */
static int delete_our_device(const struct backend_ctx *ctx, const struct backend_attachment *a,
			     const json_t *path, unsigned sid, unsigned klun, char *note,
			     size_t note_n, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	const char *iqn = json_string_value(json_object_get(path, "iqn"));
	const char *portal = json_string_value(json_object_get(path, "portal"));
	const char *want = expected_wwid(a, path);
	const char *refused = json_string_value(json_object_get(path, "refused_wwid"));
	char hctl[64], got[256];
	int r;

	r = be_iscsi_sysfs_session_lun(s, sid, klun, hctl, sizeof(hctl));
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return errbuf_set(e, r, "listing the SCSI devices of iSCSI session %u failed: %s",
				  sid, strerror(-r));
	/* A path refused for its WWID: the device our scan made shows another LU. It is ours
	 * to remove (we scanned it, and saw that WWID on it) unless something uses it: another
	 * volume of that LU shares the session and the device. */
	if (refused && !json_string_value(json_object_get(path, "wwid"))) {
		if (be_iscsi_sysfs_session_lun_wwid(s, sid, hctl, got, sizeof(got)) < 0 ||
		    !streq(got, refused) || hctl_is_held(s, hctl)) {
			snprintf(note, note_n,
				 "SCSI device %s (%s at %s, session %u) left in place: it was "
				 "refused as a path and is now in use or shows another WWID",
				 hctl, iqn, portal, sid);
			return 0;
		}
		want = refused;
	}
	if (!want) {
		snprintf(note, note_n,
			 "SCSI device %s (%s at %s, session %u) left in place: no WWID was "
			 "recorded for it, so it cannot be proven to be this volume's",
			 hctl, iqn, portal, sid);
		return 0;
	}
	r = be_iscsi_sysfs_session_lun_wwid(s, sid, hctl, got, sizeof(got));
	if (r < 0 || !streq(got, want)) {
		snprintf(note, note_n,
			 "SCSI device %s (%s at %s, session %u) left in place: its WWID %s is "
			 "not the recorded %s, so it is not this volume's",
			 hctl, iqn, portal, sid, r < 0 ? "cannot be read" : got, want);
		return 0;
	}
	r = be_iscsi_sysfs_session_lun_delete(s, sid, hctl);
	if (r < 0)
		return errbuf_set(e, r, "deleting SCSI device %s (%s at %s) failed: %s", hctl, iqn,
				  portal, strerror(-r));
	return 0;
}

/* Undo one path under its target lock. 0 when nothing of it is left that is ours (note
 * then says what was left alone, if anything). */
static int disconnect_path(const struct backend_ctx *ctx, const struct backend_attachment *a,
			   const json_t *path, char *note, size_t note_n, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	const char *portal = json_string_value(json_object_get(path, "portal"));
	const char *iqn = json_string_value(json_object_get(path, "iqn"));
	struct be_iscsi_target_lock *lk;
	struct be_iscsi_portal pt;
	unsigned sid, klun, n = 0;
	int r, have_session, has_lun;

	r = be_iscsi_path_decode(a, path, &pt, &klun, &has_lun, e);
	if (r < 0)
		return r;

	lk = be_iscsi_target_lock(portal, iqn);
	/* Only our session (our iface) for this target and portal, found now. */
	r = be_iscsi_sysfs_find_session(s, iqn, pt.host, pt.port, be_iscsi_iface(ctx), &sid);
	have_session = r == 0;
	if (r == 0) {
		if (has_lun) {
			r = delete_our_device(ctx, a, path, sid, klun, note, note_n, e);
			if (r < 0)
				goto out;
		}
		/* Kernel truth, not a refcount of ours: other volumes' LUNs on our session. */
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
	if (have_session) {
		/* iscsiadm refuses any call naming an iface whose file is gone (exit 3), e.g.
		 * after somebody wiped /etc/iscsi/ifaces: bring it back first (a read of its
		 * file when it is there). */
		be_iscsi_db_lock();
		r = be_iscsi_iface_ensure(ctx, e);
		be_iscsi_db_unlock();
		if (r < 0)
			goto out;
		/* -I attachd: iscsiadm ends only sessions on our iface. */
		r = be_iscsi_node_logout(ctx, portal, iqn, e);
		if (r < 0)
			goto out;
	}
	/* No device left and no session of ours: our record goes, whichever volume made it
	 * (node_created only tells whether this one did), by hand: only files of our iface. */
	be_iscsi_db_lock();
	r = be_iscsi_node_delete(ctx, portal, iqn, e);
	be_iscsi_db_unlock();
out:
	be_iscsi_target_unlock(lk);
	return r;
}

/* Is LUN klun's SCSI device on our session for this path entry there now? */
static int path_has_device(const struct backend_ctx *ctx, const json_t *path, unsigned klun)
{
	const char *iqn = json_string_value(json_object_get(path, "iqn"));
	const char *portal = json_string_value(json_object_get(path, "portal"));
	struct be_iscsi_portal pt;
	char hctl[64];
	unsigned sid;

	if (!portal || be_iscsi_portal_parse(portal, &pt, NULL, 0) < 0)
		return 0;
	if (be_iscsi_sysfs_find_session(ctx->sys, iqn, pt.host, pt.port, be_iscsi_iface(ctx),
					&sid) < 0)
		return 0;
	return be_iscsi_sysfs_session_lun(ctx->sys, sid, klun, hctl, sizeof(hctl)) == 0;
}

static void path_drop(json_t *paths, const json_t *path)
{
	size_t idx;
	json_t *p;

	json_array_foreach(paths, idx, p)
	{
		if (p == path) {
			json_array_remove(paths, idx);
			return;
		}
	}
}

/* Configured path i: its portal resolved and formatted, and its record entry (NULL when
 * none; created when create is set). */
static int path_entry(const struct be_iscsi_cfg *c, unsigned i, json_t *paths, int create,
		      struct be_iscsi_portal *ret_pt, char *portal, size_t n, json_t **ret_entry,
		      struct errbuf *e)
{
	json_t *path;
	int r;

	r = be_iscsi_portal_resolve(&c->paths[i].portal, ret_pt, e);
	if (r >= 0)
		r = be_iscsi_portal_format(ret_pt, portal, n);
	if (r < 0)
		return r == -ENOBUFS ? errbuf_set(e, r, "portal name too long") : r;
	path = path_find(paths, portal, c->paths[i].iqn);
	if (!path && create && !(path = path_new(paths, portal, c->paths[i].iqn)))
		return errbuf_set(e, -ENOMEM, "out of memory");
	*ret_entry = path;
	return 0;
}

/* Log in on configured path i and scan the LUN. On failure what this path made is undone
 * and its entry dropped, except when the LUN's SCSI device is there after all (a path that
 * is down, not absent): a device is never deleted for that, its entry stays for detach. */
static int connect_one(const struct backend_ctx *ctx, struct backend_attachment *a, json_t *paths,
		       unsigned i, unsigned klun, int check_lun, int *ret_need_probe,
		       struct errbuf *pe)
{
	const struct be_iscsi_cfg *c = a->cfg;
	struct be_iscsi_cfg pc;
	struct be_iscsi_target_lock *lk;
	struct be_iscsi_portal pt;
	char portal[BE_ISCSI_PORTAL_STR_MAX], note[ERRBUF_MAX];
	struct errbuf ignore;
	json_t *path = NULL;
	int r;

	/* Before the login and scan: multipathd must see the disk as attachd's from its first
	 * uevent on (udevrule.c). */
	r = be_iscsi_udev_rule_ensure(ctx, pe);
	if (r < 0)
		return r;
	r = path_entry(c, i, paths, 1, &pt, portal, sizeof(portal), &path, pe);
	if (r < 0)
		return r;
	be_iscsi_cfg_for_path(c, i, &pc);
	lk = be_iscsi_target_lock(portal, pc.iqn);
	r = connect_path(ctx, &pc, &pt, portal, path, klun, check_lun, ret_need_probe, pe);
	be_iscsi_target_unlock(lk);
	explicit_bzero(pc.chap_secret, sizeof(pc.chap_secret));
	if (r == 0 || path_has_device(ctx, path, klun))
		return r;
	/* Other paths may still work: undo this one now rather than at detach (best effort;
	 * on failure its entry stays for detach). */
	if (disconnect_path(ctx, a, path, note, sizeof(note), &ignore) == 0)
		path_drop(paths, path);
	return r;
}

static void append(char *all, size_t n, const char *msg)
{
	size_t l = strlen(all);

	snprintf(all + l, n - l, "%s%s", l ? "; " : "", msg);
}

/* Every configured path: the number connected; the errors in all, the first in *first_r. */
static unsigned connect_all(const struct backend_ctx *ctx, struct backend_attachment *a,
			    json_t *paths, int check_lun, int *ret_need_probe, char *all, size_t n,
			    int *first_r)
{
	const struct be_iscsi_cfg *c = a->cfg;
	unsigned klun = kernel_lun_of(a, c), ok = 0;

	json_object_set_new(a->objs, "scsi_lun", json_integer(klun));
	all[0] = 0;
	*first_r = 0;
	for (unsigned i = 0; i < c->n_paths; i++) {
		struct errbuf pe = {""};
		int r = connect_one(ctx, a, paths, i, klun, check_lun, ret_need_probe, &pe);

		if (r == 0) {
			ok++;
			continue;
		}
		if (!*first_r)
			*first_r = r;
		append(all, n, pe.msg);
	}
	return ok;
}

int be_iscsi_connect(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e)
{
	json_t *paths = objs_paths(a);
	char all[ERRBUF_MAX];
	int first_r, check_lun, need_probe = 0;
	unsigned ok;

	if (!paths)
		return errbuf_set(e, -ENOMEM, "out of memory");
	/* The plan step answered from our session (preflight.c): the scan proves the LUN. */
	check_lun = json_object_get(a->objs, BE_ISCSI_OBJS_PREFLIGHT) != NULL;
	json_object_del(a->objs, BE_ISCSI_OBJS_PREFLIGHT);
	ok = connect_all(ctx, a, paths, check_lun, &need_probe, all, sizeof(all), &first_r);
	if (ok == 0 && need_probe) {
		/* Our session could not prove the LUN (none found by the scan, or a device
		 * already there): ask the array, as when there is no session. Its answer is
		 * today's error ("LUN 7 not found on ...; target reports LUNs 0,1"), or the LUN
		 * as this target numbers it, scanned again. */
		struct backend_ctx pctx = *ctx;
		struct backend_identity id;
		int r;

		pctx.preflight = 0;
		r = be_iscsi_probe(&pctx, a, &id, e);
		if (r < 0)
			return r;
		ok = connect_all(ctx, a, paths, 0, &need_probe, all, sizeof(all), &first_r);
	}
	/* One working path is an attachment: with several paths the others join later
	 * (add_paths); with one portal of several working, dead portals are retried on the
	 * next attach. */
	if (ok > 0)
		return 0;
	return errbuf_set(e, first_r ? first_r : -EIO, "%s", all);
}

unsigned be_iscsi_paths_configured(const void *cfg)
{
	const struct be_iscsi_cfg *c = cfg;

	return c ? c->n_paths : 0;
}

int be_iscsi_add_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	json_t *paths = objs_paths(a);
	char all[ERRBUF_MAX] = "";
	unsigned klun, missing = 0;

	if (!paths)
		return errbuf_set(e, -ENOMEM, "out of memory");
	klun = kernel_lun_of(a, c);
	for (unsigned i = 0; i < c->n_paths; i++) {
		struct be_iscsi_portal pt;
		char portal[BE_ISCSI_PORTAL_STR_MAX];
		struct errbuf pe = {""};
		json_t *path = NULL;
		int r;

		r = path_entry(c, i, paths, 0, &pt, portal, sizeof(portal), &path, &pe);
		if (r == 0 && path)
			continue; /* recorded: the checker's business, never touched here */
		if (r == 0)
			r = connect_one(ctx, a, paths, i, klun, 0, NULL, &pe);
		if (r == 0)
			continue;
		missing++;
		append(all, sizeof(all), pe.msg);
	}
	if (missing)
		return errbuf_set(e, -EHOSTDOWN, "%u of %u paths not connected: %s", missing,
				  c->n_paths, all);
	return 0;
}

/* The SCSI device of a path, found by identity: LUN klun on our session for the path's
 * target and portal. Updates the entry's session/host/hctl when the kernel renumbered them.
 * -ENOENT while there is none. */
int be_iscsi_path_locate(const struct backend_ctx *ctx, json_t *path, unsigned klun, char *hctl,
			 size_t n, unsigned *ret_sid)
{
	const char *iqn = json_string_value(json_object_get(path, "iqn"));
	const char *portal = json_string_value(json_object_get(path, "portal"));
	struct be_iscsi_portal pt;
	unsigned sid, h;
	int r;

	if (be_iscsi_portal_parse(portal, &pt, NULL, 0) < 0)
		return -EINVAL;
	r = be_iscsi_sysfs_find_session(ctx->sys, iqn, pt.host, pt.port, be_iscsi_iface(ctx), &sid);
	if (r < 0)
		return r;
	r = be_iscsi_sysfs_session_lun(ctx->sys, sid, klun, hctl, n);
	if (r < 0)
		return r;
	if (!streq(json_string_value(json_object_get(path, "hctl")), hctl)) {
		json_object_set_new(path, "hctl", json_string(hctl));
		json_object_set_new(path, "session", json_integer(sid));
		if (be_iscsi_hctl_parse(hctl, &h, NULL, NULL, NULL) == 0)
			json_object_set_new(path, "host", json_integer(h));
	}
	*ret_sid = sid;
	return 0;
}

int be_iscsi_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			 struct backend_device *ret, struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	json_t *paths = json_object_get(a->objs, "paths");
	char waiting[64] = "";
	size_t i;
	json_t *p;

	json_array_foreach(paths, i, p)
	{
		struct backend_device dev = {0};
		struct be_iscsi_portal pt;
		char path[sizeof(dev.devnode)], hctl[64], got[256];
		const char *want;
		unsigned klun, sid;
		int r, has_lun;

		if (!json_string_value(json_object_get(p, "hctl")))
			continue; /* connect did not get to the scan on this path */
		r = be_iscsi_path_decode(a, p, &pt, &klun, &has_lun, e);
		if (r < 0)
			return r;
		if (!waiting[0])
			snprintf(waiting, sizeof(waiting), "%s",
				 json_string_value(json_object_get(p, "hctl")));
		if (!has_lun)
			continue;
		r = be_iscsi_path_locate(ctx, p, klun, hctl, sizeof(hctl), &sid);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return errbuf_set(e, r, "looking up the SCSI device of LUN %u failed: %s",
					  c->lun, strerror(-r));
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
		/* The WWID this device has is what a later detach will demand of it. */
		want = expected_wwid(a, p);
		r = be_iscsi_sysfs_session_lun_wwid(ctx->sys, sid, hctl, got, sizeof(got));
		if (r < 0 && r != -ENODATA)
			return errbuf_set(e, r, "reading the WWID of SCSI device %s failed: %s",
					  hctl, strerror(-r));
		if (r == -ENODATA)
			got[0] = 0;
		if (want && !streq(want, got))
			return errbuf_set(e, -EMEDIUMTYPE,
					  "SCSI device %s (%s LUN %u) has WWID %s, not the %s the "
					  "array reported for this volume: refusing to use it",
					  hctl, c->iqn, c->lun, got[0] ? got : "(none)", want);
		if (got[0]) {
			json_object_set_new(p, "wwid", json_string(got));
			/* Without a probe (or a 'wwid' option) this device, found as the LUN we
			 * scanned on our own session, is the LU's identity for the other paths. */
			if (!json_string_value(json_object_get(a->objs, "wwid")))
				json_object_set_new(a->objs, "wwid", json_string(got));
		}
		snprintf(path, sizeof(path), "/dev/%s", dev.sysname);
		if (!sys_path(dev.devnode, sizeof(dev.devnode), ctx->sys->dev_root, path))
			return errbuf_set(e, -ENAMETOOLONG, "device path too long");
		*ret = dev;
		return 0;
	}
	if (!waiting[0])
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
	char notes[ERRBUF_MAX] = "";
	int first_r = 0;
	size_t i = 0;

	if (!json_is_array(paths))
		return 0; /* nothing was ever connected */
	/* Every path, even after a failure: each one left connected is a leak. */
	while (i < json_array_size(paths)) {
		struct errbuf pe = {""};
		char note[ERRBUF_MAX] = "";
		int r = disconnect_path(ctx, a, json_array_get(paths, i), note, sizeof(note), &pe);

		if (note[0])
			snprintf(notes + strlen(notes), sizeof(notes) - strlen(notes), "%s%s",
				 notes[0] ? "; " : "", note);
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
	/* Success, but something that is not provably ours was left alone: say so in e for
	 * the caller to log (e is otherwise untouched on success). */
	if (!first_r && notes[0])
		snprintf(e->msg, sizeof(e->msg), "%s", notes);
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
    .rescan = be_iscsi_rescan,
    .fence_by_reservation = 1,
    .native_multipath = 0,
    .paths_configured = be_iscsi_paths_configured,
    .find_paths = be_iscsi_find_paths,
    .path_transport = be_iscsi_path_transport,
    .add_paths = be_iscsi_add_paths,
};
