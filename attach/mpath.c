/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The multipath part of the attach pipeline: a volume with more than one configured path on
 * a backend the kernel does not multipath itself (iscsi) gets a dm-multipath map over every
 * path whose WWID is the volume's, instead of a linear map over one disk. Paths that are
 * missing at attach time (a portal down) are not waited for beyond a short grace: the map
 * is built over what is there and the checker (paths.c) adds the others later.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attach/internal.h"
#include "dm/dmap.h"

/* After the first path, how long the others get to show up. They were scanned
 * synchronously by connect, so their disks are normally there at the first look; this only
 * covers a udev that is a little behind, never a portal that did not connect. */
#define MPATH_GRACE_MS 2000

static struct backend_ctx mp_ctx(const struct attach_env *env, int timeout_ms)
{
	return (struct backend_ctx){.sys = &env->sys, .host = &env->host, .timeout_ms = timeout_ms};
}

int attach_mpath_wanted(const struct attach_volume *v)
{
	const struct backend_ops *be = v->opts.be;

	return be && be->find_paths && be->paths_configured && !be->native_multipath &&
	       be->paths_configured(v->opts.be_cfg) > 1;
}

int attach_mpath_alua_group(const char *access_state)
{
	static const char *const states[] = {"active/optimized", "active/non-optimized", "standby"};

	if (!access_state || !access_state[0])
		return -1;
	for (int i = 0; i < (int)ELEMENTSOF(states); i++)
		if (streq(access_state, states[i]))
			return i;
	return (int)ELEMENTSOF(states); /* unavailable, transitioning, lba-dependent, offline */
}

static void paths_set(struct attach_volume *v, const struct backend_path *bp, size_t n)
{
	memset(v->paths, 0, sizeof(v->paths));
	for (size_t i = 0; i < n && i < BACKEND_MAX_PATHS; i++)
		v->paths[i].bp = bp[i];
	v->n_paths = (unsigned)(n < BACKEND_MAX_PATHS ? n : BACKEND_MAX_PATHS);
}

void attach_mpath_fill_native(struct attach_env *env, struct attach_volume *v)
{
	const struct backend_ops *be = v->opts.be;
	struct backend_ctx ctx = mp_ctx(env, env->device_timeout_ms);
	struct backend_path bp[BACKEND_MAX_PATHS];
	struct errbuf ignore = {{0}};
	size_t n = 0;

	/* For display only (attachctl show, the checker): the kernel's head disk is the
	 * device, whatever its controllers do. */
	if (!be->find_paths || !be->native_multipath)
		return;
	if (be->find_paths(&ctx, &v->att, bp, BACKEND_MAX_PATHS, &n, &ignore) == 0)
		paths_set(v, bp, n);
}

/* Keep the paths udev has finished with (its rules may still be reading a disk it has not
 * announced yet); *ret_all is 1 when that is every path found. */
static size_t initialized_only(struct attach_devwait *w, struct backend_path *bp, size_t n,
			       int *ret_all)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (!w || attach_devwait_is_initialized(w, &bp[i].dev))
			bp[k++] = bp[i];
	*ret_all = k == n;
	return k;
}

int attach_mpath_await(struct attach_env *env, struct attach_volume *v, struct attach_devwait *w,
		       char *note, size_t note_n, struct errbuf *e)
{
	const struct backend_ops *be = v->opts.be;
	struct backend_ctx ctx = mp_ctx(env, env->device_timeout_ms);
	unsigned configured = be->paths_configured(v->opts.be_cfg);
	int64_t deadline = attach_now_ms() + env->device_timeout_ms, grace_end = 0, until;

	for (;;) {
		struct backend_path bp[BACKEND_MAX_PATHS];
		struct errbuf fe = {{0}};
		size_t n = 0, k = 0;
		int r, all = 0, unready;

		r = be->find_paths(&ctx, &v->att, bp, BACKEND_MAX_PATHS, &n, &fe);
		if (r < 0 && r != -EAGAIN) {
			*e = fe;
			return r;
		}
		if (r == 0)
			k = initialized_only(w, bp, n, &all);
		unready = r == 0 && n > 0 && k == 0;
		if (k > 0 && !grace_end)
			grace_end = attach_now_ms() + MPATH_GRACE_MS;
		if (k > 0 && ((n >= configured && all) || !w || attach_now_ms() >= grace_end)) {
			paths_set(v, bp, k);
			v->dev = bp[0].dev;
			/* Paths refused for their WWID: the attach goes on without them, the
			 * caller reports them. */
			if (note)
				snprintf(note, note_n, "%s", fe.msg);
			return 0;
		}
		until = grace_end && attach_now_ms() < grace_end && grace_end < deadline ? grace_end
											 : deadline;
		r = w ? attach_devwait_next(w, until) : -ETIMEDOUT;
		if (r == -ETIMEDOUT && until != deadline)
			continue; /* the grace is over: take what is there */
		if (r == -ETIMEDOUT && unready)
			return errbuf_set(
			    e, r,
			    "the kernel presented %zu %s path(s) (%s first) but udev "
			    "had not finished with any within %d s (udevd busy or "
			    "stuck: see `udevadm monitor` and systemd-udevd's journal)",
			    n, be->name, bp[0].dev.devnode, env->device_timeout_ms / 1000);
		if (r == -ETIMEDOUT)
			return errbuf_set(
			    e, r, "the kernel did not present any %s path within %d s%s%s",
			    be->name, env->device_timeout_ms / 1000, fe.msg[0] ? ": " : "", fe.msg);
		if (r < 0)
			return errbuf_set(e, r, "waiting for udev events failed: %s", strerror(-r));
	}
}

int attach_mpath_verify(struct attach_env *env, struct attach_volume *v,
			const struct backend_identity *expect, struct errbuf *e)
{
	struct backend_ctx ctx = mp_ctx(env, env->connect_timeout_ms);
	struct backend_identity first = {0};

	for (unsigned i = 0; i < v->n_paths; i++) {
		const struct backend_path *p = &v->paths[i].bp;
		struct backend_identity got = {0};
		int r;

		r = v->opts.be->identify(&ctx, &v->att, &p->dev, &got, e);
		if (r < 0)
			return errbuf_prefix(e, r, "path %s (%s)", p->id, p->where);
		if (expect->wwid[0] && got.wwid[0] && strcmp(expect->wwid, got.wwid))
			return errbuf_set(
			    e, -EMEDIUMTYPE,
			    "path %s (%s, %s) has WWID %s but the array reported %s "
			    "for this volume; refusing to use a device that is not the "
			    "expected LUN",
			    p->id, p->where, p->dev.devnode, got.wwid, expect->wwid);
		if (i > 0 && strcmp(first.wwid, got.wwid))
			return errbuf_set(e, -EMEDIUMTYPE,
					  "path %s (%s) has WWID %s, path %s has %s: they are not "
					  "one volume",
					  p->id, p->where, got.wwid[0] ? got.wwid : "(none)",
					  v->paths[0].bp.id, first.wwid[0] ? first.wwid : "(none)");
		if (i > 0 && first.size_bytes != got.size_bytes)
			return errbuf_set(e, -EMEDIUMTYPE,
					  "path %s (%s) is %llu bytes, path %s %llu: the paths "
					  "disagree about the volume's size",
					  p->id, p->where, (unsigned long long)got.size_bytes,
					  v->paths[0].bp.id, (unsigned long long)first.size_bytes);
		if (i == 0)
			first = got;
	}
	if (expect->size_bytes && first.size_bytes && expect->size_bytes != first.size_bytes)
		return errbuf_set(e, -EMEDIUMTYPE,
				  "%s is %llu bytes but the array reported %llu for this volume",
				  v->dev.devnode, (unsigned long long)first.size_bytes,
				  (unsigned long long)expect->size_bytes);
	if (first.size_bytes == 0 || first.size_bytes % 512)
		return errbuf_set(e, -EMEDIUMTYPE, "%s reports an unusable size (%llu bytes)",
				  v->dev.devnode, (unsigned long long)first.size_bytes);
	v->ident = first;
	return 0;
}

int attach_mpath_holders(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	for (unsigned i = 0; i < v->n_paths; i++) {
		const struct backend_device *d = &v->paths[i].bp.dev;
		int r = attach_dev_holders_check(&env->sys, d->major, d->minor, d->devnode,
						 v->dm_name, e);

		if (r < 0)
			return r;
	}
	return 0;
}

int attach_paths_table(const struct sys *s, struct attach_volume *v, int queue,
		       struct dmap_target *ret)
{
	char devs[BACKEND_MAX_PATHS][16], path[160], buf[64];
	const char *pp[BACKEND_MAX_PATHS];
	unsigned groups[BACKEND_MAX_PATHS];
	int alua = 1, dh = 1, r;

	if (v->n_paths == 0 || v->n_paths > BACKEND_MAX_PATHS)
		return -EINVAL;
	/* ALUA groups only when every path reports a state (a path without one cannot be
	 * placed) and scsi_dh_alua is attached to every path: without the handler the kernel
	 * still shows access_state for a TPGS device, but nobody updates it. */
	for (unsigned i = 0; i < v->n_paths; i++) {
		const struct backend_device *d = &v->paths[i].bp.dev;
		int g = -1;

		snprintf(devs[i], sizeof(devs[i]), "%u:%u", d->major, d->minor);
		pp[i] = devs[i];
		snprintf(path, sizeof(path), "/sys/block/%s/device/access_state", d->sysname);
		if (sys_read_attr(s, path, buf, sizeof(buf)) == 0)
			g = attach_mpath_alua_group(buf);
		snprintf(path, sizeof(path), "/sys/block/%s/device/dh_state", d->sysname);
		dh &= sys_read_attr(s, path, buf, sizeof(buf)) == 0 && streq(buf, "alua");
		alua &= g >= 0;
		groups[i] = g < 0 ? 0 : (unsigned)g;
	}
	alua &= dh;
	r = dmap_table_mpath(v->ident.size_bytes,
			     &(struct dmap_mpath_spec){
				 .paths = pp,
				 .group = alua ? groups : NULL,
				 .n = v->n_paths,
				 .queue_if_no_path = queue,
				 .hw_handler = dh ? "alua" : NULL,
			     },
			     ret);
	if (r < 0)
		return r;
	/* The map's priority group: the rank of the path's ALUA group among those present. */
	for (unsigned i = 0; i < v->n_paths; i++) {
		unsigned rank = 0;

		for (unsigned g = 0; alua && g < groups[i]; g++)
			for (unsigned j = 0; j < v->n_paths; j++)
				if (groups[j] == g) {
					rank++;
					break;
				}
		v->paths[i].group = rank;
	}
	return 0;
}

int attach_mpath_dm(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	struct dmap_target t;
	char uuid[160];
	int r;

	r = dmap_uuid_for(v->key, uuid, sizeof(uuid));
	if (r < 0)
		return errbuf_set(e, r, "volume key %s cannot be used as a dm uuid", v->key);
	r = attach_paths_table(&env->sys, v, 1, &t);
	if (r < 0)
		return errbuf_set(e, r, "cannot build a multipath table over %u paths of %s",
				  v->n_paths, v->dev.devnode);
	r = dmap_create(v->dm_name, uuid, &t, 1, env->device_timeout_ms, e);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < v->n_paths; i++)
		v->paths[i].failed = 0;
	v->multipath = 1;
	v->queueing = 1;
	v->all_down_since_ms = 0;
	return 0;
}
