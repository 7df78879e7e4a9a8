/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iscsi backend's paths for dm-multipath (attach/mpath.c builds the map, the checker
 * watches them): every recorded (portal, target) whose LUN's disk shows the volume's WWID
 * is a path; one showing another WWID is refused and noted in the record ("refused_wwid"),
 * so that a detach removes what our scan made there. The transport state is the session's,
 * read from sysfs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

static void append(char *all, size_t n, const char *msg)
{
	size_t l = strlen(all);

	snprintf(all + l, n - l, "%s%s", l ? "; " : "", msg);
}

/* The volume's WWID: the probe's, else the 'wwid' option. NULL when neither is known. */
static const char *volume_wwid(const struct backend_attachment *a)
{
	const struct be_iscsi_cfg *c = a->cfg;
	const char *w = json_string_value(json_object_get(a->objs, "wwid"));

	if (w && *w)
		return w;
	return c && c->wwid[0] ? c->wwid : NULL;
}

/* One recorded path's disk, if it is there now: 1 and ret (wwid read, "" if none), 0 not
 * (yet), negative errno with e set. */
static int path_disk(const struct backend_ctx *ctx, struct backend_attachment *a, json_t *p,
		     struct backend_path *ret, struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	struct backend_path bp = {0};
	struct be_iscsi_portal pt;
	char path[sizeof(bp.dev.devnode)], hctl[64];
	unsigned klun, sid;
	int r, has_lun;

	r = be_iscsi_path_decode(a, p, &pt, &klun, &has_lun, e);
	if (r < 0)
		return r;
	if (!has_lun)
		return 0;
	r = be_iscsi_path_locate(ctx, p, klun, hctl, sizeof(hctl), &sid);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return errbuf_set(e, r, "looking up the SCSI device of LUN %u failed: %s", c->lun,
				  strerror(-r));
	r = be_iscsi_sysfs_hctl_block(ctx->sys, hctl, bp.dev.sysname, sizeof(bp.dev.sysname));
	if (r == -ENOENT || r == -EAGAIN)
		return 0;
	if (r < 0)
		return errbuf_set(e, r, "looking up the disk of SCSI device %s failed: %s", hctl,
				  strerror(-r));
	r = be_iscsi_sysfs_block_devnum(ctx->sys, bp.dev.sysname, &bp.dev.major, &bp.dev.minor);
	if (r == -ENOENT)
		return 0; /* registered a moment ago, attributes not there yet */
	if (r < 0)
		return errbuf_set(e, r, "reading /sys/block/%s/dev failed: %s", bp.dev.sysname,
				  strerror(-r));
	r = be_iscsi_sysfs_session_lun_wwid(ctx->sys, sid, hctl, bp.wwid, sizeof(bp.wwid));
	if (r == -ENODATA)
		bp.wwid[0] = 0;
	else if (r < 0)
		return errbuf_set(e, r, "reading the WWID of SCSI device %s failed: %s", hctl,
				  strerror(-r));
	snprintf(path, sizeof(path), "/dev/%s", bp.dev.sysname);
	if (!sys_path(bp.dev.devnode, sizeof(bp.dev.devnode), ctx->sys->dev_root, path))
		return errbuf_set(e, -ENAMETOOLONG, "device path too long");
	snprintf(bp.id, sizeof(bp.id), "%s", hctl);
	snprintf(bp.where, sizeof(bp.where), "%s %s",
		 json_string_value(json_object_get(p, "portal")),
		 json_string_value(json_object_get(p, "iqn")));
	*ret = bp;
	return 1;
}

int be_iscsi_find_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_path *ret, size_t max, size_t *ret_n, struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	json_t *paths = json_object_get(a->objs, "paths");
	char refused[ERRBUF_MAX] = "", waiting[64] = "";
	size_t i, n = 0;
	json_t *p;

	json_array_foreach(paths, i, p)
	{
		struct backend_path bp;
		const char *want;
		int r;

		if (!json_string_value(json_object_get(p, "hctl")))
			continue; /* connect did not get to the scan on this path */
		r = path_disk(ctx, a, p, &bp, e);
		if (r < 0)
			return r;
		if (r == 0) {
			if (!waiting[0])
				snprintf(waiting, sizeof(waiting), "%s",
					 json_string_value(json_object_get(p, "hctl")));
			continue;
		}
		/* Without a probe (or a 'wwid' option) the first disk found, the LUN we
		 * scanned on our own session, is the LU's identity for the other paths. */
		if (!volume_wwid(a) && bp.wwid[0])
			json_object_set_new(a->objs, "wwid", json_string(bp.wwid));
		want = volume_wwid(a);
		if (!want || !streq(want, bp.wwid)) {
			char msg[600];

			/* Another LU behind this target and LUN number (a wrong 'targets'
			 * entry, a re-mapped LUN): never a path of this volume. What our
			 * scan found is noted, so detach removes it if nothing uses it. */
			json_object_set_new(p, "refused_wwid", json_string(bp.wwid));
			snprintf(msg, sizeof(msg),
				 "path %s (SCSI device %s, %s) refused: its WWID is %s, not the "
				 "volume's %s",
				 bp.where, bp.id, bp.dev.sysname, bp.wwid[0] ? bp.wwid : "(none)",
				 want ? want : "(unknown)");
			append(refused, sizeof(refused), msg);
			continue;
		}
		json_object_set_new(p, "wwid", json_string(bp.wwid));
		json_object_del(p, "refused_wwid");
		if (n < max)
			ret[n++] = bp;
	}
	if (n > 0) {
		*ret_n = n;
		if (refused[0])
			snprintf(e->msg, sizeof(e->msg), "%s", refused);
		return 0;
	}
	if (refused[0] && !waiting[0])
		return errbuf_set(e, -EMEDIUMTYPE,
				  "no path of %s LUN %u shows the volume's WWID: %s", c->iqn,
				  c->lun, refused);
	if (!waiting[0] && !refused[0])
		return errbuf_set(e, -ENODEV, "%s LUN %u is not connected (no SCSI path recorded)",
				  c->iqn, c->lun);
	return errbuf_set(e, -EAGAIN, "waiting for SCSI device %s (%s LUN %u)%s%s", waiting, c->iqn,
			  c->lun, refused[0] ? "; " : "", refused);
}

enum backend_path_transport be_iscsi_path_transport(const struct backend_ctx *ctx,
						    struct backend_attachment *a,
						    const struct backend_path *bp, char *detail,
						    size_t n)
{
	json_t *paths = json_object_get(a->objs, "paths"), *p, *found = NULL;
	struct be_iscsi_portal pt;
	const char *portal, *iqn;
	char state[32], dummy[8];
	unsigned sid;
	size_t i;

	if (!detail) {
		detail = dummy;
		n = sizeof(dummy);
	}
	json_array_foreach(paths, i, p)
	{
		if (streq(json_string_value(json_object_get(p, "hctl")), bp->id)) {
			found = p;
			break;
		}
	}
	portal = json_string_value(json_object_get(found, "portal"));
	iqn = json_string_value(json_object_get(found, "iqn"));
	if (!portal || !iqn || be_iscsi_portal_parse(portal, &pt, NULL, 0) < 0) {
		snprintf(detail, n, "path %s is not recorded", bp->id);
		return BACKEND_PATH_GONE;
	}
	if (be_iscsi_sysfs_find_session(ctx->sys, iqn, pt.host, pt.port, be_iscsi_iface(ctx),
					&sid) < 0) {
		snprintf(detail, n, "no session to %s at %s", iqn, portal);
		return BACKEND_PATH_GONE;
	}
	if (be_iscsi_sysfs_hctl_exists(ctx->sys, bp->id) != 1) {
		snprintf(detail, n, "SCSI device %s is gone", bp->id);
		return BACKEND_PATH_GONE;
	}
	if (be_iscsi_sysfs_session_state(ctx->sys, sid, state, sizeof(state)) < 0) {
		snprintf(detail, n, "session %u is gone", sid);
		return BACKEND_PATH_GONE;
	}
	snprintf(detail, n, "session %u %s", sid, state);
	return streq(state, "LOGGED_IN") ? BACKEND_PATH_UP : BACKEND_PATH_DOWN;
}
