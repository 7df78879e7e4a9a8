/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One checker round for a multipath volume. The map is the truth for I/O: the kernel fails
 * a path by itself on an I/O error, and only a reinstate_path message brings it back. The
 * round's job is to make the map's path states match what the transport and a TUR say,
 * to grow and shrink the table as paths come and go, and to bound how long I/O queues
 * with no path at all.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attach/internal.h"
#include "lib/macro.h"

/* A configured path that is not there is looked for again at most this often: a login to a
 * dead portal blocks its whole timeout. */
#define ADD_PATHS_EVERY_MS 10000
/* ... and with this budget per path (not the attach's connect timeout). */
#define ADD_PATHS_TIMEOUT_MS 5000

static int64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int real_status(void *ud _unused_, const char *name, struct dmap_mpath_status *ret)
{
	return dmap_get_mpath_status(name, ret);
}

static int real_message(void *ud _unused_, const char *name, const char *msg, struct errbuf *e)
{
	return dmap_message(name, msg, e);
}

static int real_reload(void *ud _unused_, const char *name, const struct dmap_target *t, size_t n,
		       int timeout_ms, struct errbuf *e)
{
	return dmap_reload(name, t, n, timeout_ms, e);
}

struct round {
	struct attach_env *env;
	struct attach_volume *v;
	struct attach_paths_dm dm;
	struct attach_path_event *ev;
	unsigned n_ev;
	int64_t now;
	/* checked_ms of each path before this round: a path that fails now was last seen
	 * good then (0: never checked) */
	int64_t prev_checked[BACKEND_MAX_PATHS];
};

_printf_(5, 6) static void event(struct round *R, int kind, const char *path_id, int64_t down_ms,
				 const char *fmt, ...)
{
	struct attach_path_event *x;
	va_list ap;

	if (R->n_ev >= ATTACH_MAX_PATH_EVENTS)
		return;
	x = &R->ev[R->n_ev++];
	*x = (struct attach_path_event){.kind = kind, .down_ms = down_ms};
	snprintf(x->path_id, sizeof(x->path_id), "%s", path_id ? path_id : "");
	va_start(ap, fmt);
	vsnprintf(x->detail, sizeof(x->detail), fmt, ap);
	va_end(ap);
}

static void devno(const struct backend_device *d, char *buf, size_t n)
{
	snprintf(buf, n, "%u:%u", d->major, d->minor);
}

static int reload(struct round *R, struct errbuf *e)
{
	struct dmap_target t;
	int r;

	r = attach_paths_table(&R->env->sys, R->v, R->v->queueing, &t);
	if (r < 0)
		return errbuf_setif(e, r, "building the multipath table over %u paths failed",
				    R->v->n_paths);
	return R->dm.reload(R->dm.ud, R->v->dm_name, &t, 1, R->env->device_timeout_ms, e);
}

static void set_failed(struct round *R, struct attach_path *p, int failed, const char *why)
{
	if (p->failed == failed)
		return;
	if (failed) {
		size_t i = (size_t)(p - R->v->paths);
		int64_t prev = i < BACKEND_MAX_PATHS ? R->prev_checked[i] : 0;

		p->failures++;
		event(R, PATH_EV_FAILED, p->bp.id, prev ? R->now - prev : 0, "%s", why);
	} else {
		event(R, PATH_EV_REINSTATED, p->bp.id, p->changed_ms ? R->now - p->changed_ms : 0,
		      "%s", why);
	}
	p->failed = failed;
	p->changed_ms = R->now;
}

/* Make the map's view of p match the check's (ok = transport up and TUR good). */
static void reconcile(struct round *R, struct attach_path *p, int ok,
		      const struct dmap_mpath_path_status *k, struct errbuf *e)
{
	char dn[16], msg[48];
	struct errbuf me = {0};
	int r;

	devno(&p->bp.dev, dn, sizeof(dn));
	if (!k) {
		/* Not in the live table (a reload is pending or failed): report the check only. */
		set_failed(R, p, !ok, p->last_detail);
		return;
	}
	if (!ok) {
		if (k->active) {
			snprintf(msg, sizeof(msg), "fail_path %s", dn);
			r = R->dm.message(R->dm.ud, R->v->dm_name, msg, &me);
			if (r < 0)
				errbuf_setif(e, r, "%s on %s: %s", msg, R->v->dm_name, me.msg);
		}
		set_failed(R, p, 1, p->last_detail);
		return;
	}
	if (!k->active) {
		snprintf(msg, sizeof(msg), "reinstate_path %s", dn);
		r = R->dm.message(R->dm.ud, R->v->dm_name, msg, &me);
		if (r < 0) {
			errbuf_setif(e, r, "%s on %s: %s", msg, R->v->dm_name, me.msg);
			/* The check passed but the map still fails it: it stays failed. */
			set_failed(R, p, 1, "the kernel failed it; reinstate refused");
			return;
		}
	}
	set_failed(R, p, 0, p->last_detail);
}

static const struct dmap_mpath_path_status *in_status(const struct dmap_mpath_status *st,
						      const struct attach_path *p)
{
	char dn[16];

	devno(&p->bp.dev, dn, sizeof(dn));
	for (unsigned i = 0; i < st->n; i++)
		if (streq(st->paths[i].devno, dn))
			return &st->paths[i];
	return NULL;
}

/* Paths whose device is gone leave the table, as long as one other path stays. */
static void remove_gone(struct round *R, const int *gone, struct errbuf *e)
{
	struct attach_volume *v = R->v;
	struct attach_path keep[BACKEND_MAX_PATHS], old[BACKEND_MAX_PATHS];
	unsigned nk = 0, n_old = v->n_paths;
	struct errbuf re = {0};
	int r;

	for (unsigned i = 0; i < v->n_paths; i++)
		if (!gone[i])
			keep[nk++] = v->paths[i];
	if (nk == v->n_paths || nk == 0)
		return;
	memcpy(old, v->paths, sizeof(old[0]) * n_old);
	memcpy(v->paths, keep, sizeof(keep[0]) * nk);
	v->n_paths = nk;
	r = reload(R, &re);
	if (r < 0) {
		memcpy(v->paths, old, sizeof(old[0]) * n_old);
		v->n_paths = n_old;
		errbuf_setif(e, r, "removing gone paths from %s: %s", v->dm_name, re.msg);
		return;
	}
	for (unsigned i = 0; i < n_old; i++)
		if (gone[i])
			event(R, PATH_EV_REMOVED, old[i].bp.id, 0, "%s: %s", old[i].bp.where,
			      old[i].last_detail);
}

static int known(const struct attach_volume *v, const struct backend_path *bp)
{
	for (unsigned i = 0; i < v->n_paths; i++)
		if (v->paths[i].bp.dev.major == bp->dev.major &&
		    v->paths[i].bp.dev.minor == bp->dev.minor)
			return 1;
	return 0;
}

/* Configured paths that are not in the map: log in, find, reload with the bigger table. */
static void add_missing(struct round *R, struct errbuf *e)
{
	struct attach_volume *v = R->v;
	const struct backend_ops *be = v->opts.be;
	struct backend_ctx ctx = {
	    .sys = &R->env->sys, .host = &R->env->host, .timeout_ms = ADD_PATHS_TIMEOUT_MS};
	struct backend_path found[BACKEND_MAX_PATHS];
	struct errbuf ae = {0}, fe = {0};
	unsigned before = v->n_paths;
	size_t nf = 0;
	int64_t mono = attach_now_ms();
	int r;

	if (!be->add_paths || !be->find_paths || !be->paths_configured)
		return;
	if (v->n_paths >= be->paths_configured(v->att.cfg) || v->n_paths >= BACKEND_MAX_PATHS)
		return;
	if (mono < v->add_paths_after_ms)
		return;
	v->add_paths_after_ms = mono + ADD_PATHS_EVERY_MS;
	r = be->add_paths(&ctx, &v->att, &ae);
	if (r < 0 && r != -EHOSTDOWN)
		errbuf_setif(e, r, "adding paths to %s: %s", v->dm_name, ae.msg);
	r = be->find_paths(&ctx, &v->att, found, BACKEND_MAX_PATHS, &nf, &fe);
	if (r < 0)
		return;
	for (size_t i = 0; i < nf && v->n_paths < BACKEND_MAX_PATHS; i++) {
		if (known(v, &found[i]))
			continue;
		v->paths[v->n_paths++] = (struct attach_path){
		    .bp = found[i],
		    .last_result = 0,
		    .checked_ms = R->now,
		    .changed_ms = R->now,
		};
		snprintf(v->paths[v->n_paths - 1].last_detail, sizeof(v->paths[0].last_detail),
			 "logged in");
	}
	if (v->n_paths == before)
		return;
	r = reload(R, &fe);
	if (r < 0) {
		v->n_paths = before;
		errbuf_setif(e, r, "adding paths to %s: %s", v->dm_name, fe.msg);
		return;
	}
	for (unsigned i = before; i < v->n_paths; i++)
		event(R, PATH_EV_ADDED, v->paths[i].bp.id, 0, "%s", v->paths[i].bp.where);
}

/* Bound the time I/O queues with no path; queue again when a path is back. */
static void no_path_bound(struct round *R, struct errbuf *e)
{
	struct attach_volume *v = R->v;
	struct errbuf me = {0};
	unsigned up = 0;
	int r;

	for (unsigned i = 0; i < v->n_paths; i++)
		up += !v->paths[i].failed;
	if (up == 0) {
		if (!v->all_down_since_ms) {
			v->all_down_since_ms = R->now;
			event(R, PATH_EV_ALL_DOWN, NULL, 0,
			      "no path left; I/O queues for up to %d s",
			      R->env->no_path_queue_ms / 1000);
		}
		if (v->queueing && R->now - v->all_down_since_ms >= R->env->no_path_queue_ms) {
			r = R->dm.message(R->dm.ud, v->dm_name, "fail_if_no_path", &me);
			if (r < 0) {
				errbuf_setif(e, r, "fail_if_no_path on %s: %s", v->dm_name, me.msg);
				return;
			}
			v->queueing = 0;
			event(R, PATH_EV_QUEUE_OFF, NULL, R->now - v->all_down_since_ms,
			      "no path for %" PRId64 " s (bound %d s): I/O now fails",
			      (R->now - v->all_down_since_ms) / 1000,
			      R->env->no_path_queue_ms / 1000);
		}
		return;
	}
	if (!v->queueing) {
		r = R->dm.message(R->dm.ud, v->dm_name, "queue_if_no_path", &me);
		if (r < 0) {
			errbuf_setif(e, r, "queue_if_no_path on %s: %s", v->dm_name, me.msg);
		} else {
			v->queueing = 1;
			event(R, PATH_EV_QUEUE_ON, NULL,
			      v->all_down_since_ms ? R->now - v->all_down_since_ms : 0,
			      "%u path(s) active: I/O queues again when none is left", up);
		}
	}
	v->all_down_since_ms = 0;
}

/* Native multipath (NVMe): the kernel routes I/O, so the paths are only followed. The
 * controllers present now replace the list (state kept by id; one gone is removed); a
 * configured port without a controller (down at attach, or lost past ctrl_loss_tmo) is
 * connected again by add_paths, at most every ADD_PATHS_EVERY_MS. */
static void native_refresh(struct round *R, struct errbuf *e)
{
	struct attach_volume *v = R->v;
	const struct backend_ops *be = v->opts.be;
	struct backend_ctx ctx = {
	    .sys = &R->env->sys, .host = &R->env->host, .timeout_ms = ADD_PATHS_TIMEOUT_MS};
	struct backend_path found[BACKEND_MAX_PATHS];
	struct attach_path next[BACKEND_MAX_PATHS];
	struct errbuf fe = {0};
	int64_t mono = attach_now_ms();
	size_t nf = 0;
	unsigned k = 0;

	if (!be->find_paths)
		return;
	if (be->find_paths(&ctx, &v->att, found, BACKEND_MAX_PATHS, &nf, &fe) < 0)
		nf = 0;
	if (be->add_paths && be->paths_configured && nf < be->paths_configured(v->att.cfg) &&
	    mono >= v->add_paths_after_ms) {
		struct errbuf ae = {0};
		int r;

		v->add_paths_after_ms = mono + ADD_PATHS_EVERY_MS;
		r = be->add_paths(&ctx, &v->att, &ae);
		if (r < 0 && r != -EHOSTDOWN)
			errbuf_setif(e, r, "adding paths to %s: %s", v->key, ae.msg);
		if (be->find_paths(&ctx, &v->att, found, BACKEND_MAX_PATHS, &nf, &fe) < 0)
			nf = 0;
	}
	if (nf == 0)
		return; /* nothing found (transient): keep the list, the transport says why */
	for (size_t i = 0; i < nf && k < BACKEND_MAX_PATHS; i++) {
		unsigned j;

		for (j = 0; j < v->n_paths; j++)
			if (streq(v->paths[j].bp.id, found[i].id))
				break;
		if (j < v->n_paths) {
			next[k] = v->paths[j];
			next[k].bp = found[i];
		} else {
			next[k] = (struct attach_path){
			    .bp = found[i], .checked_ms = R->now, .changed_ms = R->now};
			snprintf(next[k].last_detail, sizeof(next[k].last_detail), "connected");
			event(R, PATH_EV_ADDED, found[i].id, 0, "%s", found[i].where);
		}
		k++;
	}
	for (unsigned j = 0; j < v->n_paths; j++) {
		int still = 0;

		for (unsigned i = 0; i < k; i++)
			still |= streq(next[i].bp.id, v->paths[j].bp.id);
		if (!still)
			event(R, PATH_EV_REMOVED, v->paths[j].bp.id, 0, "%s: gone",
			      v->paths[j].bp.where);
	}
	memcpy(v->paths, next, sizeof(next[0]) * k);
	v->n_paths = k;
}

static void check_native(struct round *R, struct errbuf *e)
{
	struct attach_volume *v = R->v;
	struct backend_ctx ctx = {
	    .sys = &R->env->sys, .host = &R->env->host, .timeout_ms = R->env->tur_timeout_ms};

	native_refresh(R, e);

	for (unsigned i = 0; i < v->n_paths; i++) {
		struct attach_path *p = &v->paths[i];
		enum backend_path_transport t;

		p->last_detail[0] = 0;
		t = v->opts.be->path_transport(&ctx, &v->att, &p->bp, p->last_detail,
					       sizeof(p->last_detail));
		p->last_result = t == BACKEND_PATH_UP	  ? 0
				 : t == BACKEND_PATH_GONE ? -ENXIO
							  : -EHOSTDOWN;
		if (!p->last_detail[0])
			snprintf(p->last_detail, sizeof(p->last_detail), "%s",
				 t == BACKEND_PATH_UP	  ? "live"
				 : t == BACKEND_PATH_GONE ? "gone"
							  : "down");
		p->checked_ms = R->now;
		set_failed(R, p, t != BACKEND_PATH_UP, p->last_detail);
	}
}

int attach_paths_check_dm(struct attach_env *env, struct attach_volume *v,
			  const struct attach_paths_dm *dm, struct attach_path_event *ev,
			  unsigned *ret_n_ev, struct errbuf *e)
{
	struct round R = {
	    .env = env,
	    .v = v,
	    .dm =
		{
		    .status = dm && dm->status ? dm->status : real_status,
		    .message = dm && dm->message ? dm->message : real_message,
		    .reload = dm && dm->reload ? dm->reload : real_reload,
		    .ud = dm ? dm->ud : NULL,
		},
	    .ev = ev,
	    .now = realtime_ms(),
	};
	struct backend_ctx ctx = {
	    .sys = &env->sys, .host = &env->host, .timeout_ms = env->tur_timeout_ms};
	struct attach_tur_req tur[BACKEND_MAX_PATHS];
	unsigned tur_of[BACKEND_MAX_PATHS];
	enum backend_path_transport tr[BACKEND_MAX_PATHS];
	char devnodes[BACKEND_MAX_PATHS][256];
	int gone[BACKEND_MAX_PATHS] = {0};
	struct dmap_mpath_status st;
	size_t nt = 0;
	int r;

	*ret_n_ev = 0;
	if (!attach_volume_has_paths(v) || !v->opts.be->path_transport)
		return 0;
	for (unsigned i = 0; i < v->n_paths && i < BACKEND_MAX_PATHS; i++)
		R.prev_checked[i] = v->paths[i].checked_ms;
	if (v->n_paths > BACKEND_MAX_PATHS)
		return errbuf_set(e, -EINVAL, "%s: %u paths recorded, at most %d supported", v->key,
				  v->n_paths, BACKEND_MAX_PATHS);
	if (v->opts.be->native_multipath) {
		check_native(&R, e);
		*ret_n_ev = R.n_ev;
		return 0;
	}

	/* Transport first (sysfs, cheap): a TUR on a path whose session is down would only
	 * sit in the SCSI error handler. */
	for (unsigned i = 0; i < v->n_paths; i++) {
		struct attach_path *p = &v->paths[i];

		p->last_detail[0] = 0;
		tr[i] = v->opts.be->path_transport(&ctx, &v->att, &p->bp, p->last_detail,
						   sizeof(p->last_detail));
		p->checked_ms = R.now;
		if (tr[i] != BACKEND_PATH_UP) {
			p->last_result = tr[i] == BACKEND_PATH_GONE ? -ENXIO : -EHOSTDOWN;
			if (!p->last_detail[0])
				snprintf(p->last_detail, sizeof(p->last_detail), "%s",
					 tr[i] == BACKEND_PATH_GONE ? "device gone"
								    : "transport down");
			gone[i] = tr[i] == BACKEND_PATH_GONE;
			continue;
		}
		if (!sys_path(devnodes[i], sizeof(devnodes[i]), env->sys.dev_root,
			      p->bp.dev.devnode[0] ? p->bp.dev.devnode : "/dev/null"))
			devnodes[i][0] = 0;
		tur[nt] = (struct attach_tur_req){.devnode = devnodes[i]};
		tur_of[nt++] = i;
	}
	attach_tur_many(&env->sys, tur, nt, env->tur_timeout_ms);
	for (size_t k = 0; k < nt; k++) {
		struct attach_path *p = &v->paths[tur_of[k]];

		p->last_result = tur[k].r;
		snprintf(p->last_detail, sizeof(p->last_detail), "%s", tur[k].detail);
	}

	r = R.dm.status(R.dm.ud, v->dm_name, &st);
	if (r < 0)
		return errbuf_set(e, r, "status of multipath map %s: %s", v->dm_name, strerror(-r));
	v->queueing = st.queue_if_no_path;

	for (unsigned i = 0; i < v->n_paths; i++) {
		struct attach_path *p = &v->paths[i];
		const struct dmap_mpath_path_status *k = in_status(&st, p);
		int ok = p->last_result == 0;

		/* The kernel failed it on an I/O error since the last round, though it answers
		 * a TUR now: reinstating it is right (as multipathd does); say it was failed. */
		if (ok && k && !k->active && !p->failed) {
			set_failed(&R, p, 1, "failed by the kernel (I/O error)");
			/* failed and reinstated in one round: keep the change time for the log */
		}
		reconcile(&R, p, ok, k, e);
	}

	remove_gone(&R, gone, e);
	/* Adding blocks (a login); not while nothing works: the volume's detach may be
	 * waiting for this round, and a new path does not help a map whose paths all died
	 * together as much as the bounded queueing below does. */
	for (unsigned i = 0; i < v->n_paths; i++)
		if (!v->paths[i].failed) {
			add_missing(&R, e);
			break;
		}
	no_path_bound(&R, e);
	*ret_n_ev = R.n_ev;
	return 0;
}

int attach_paths_check(struct attach_env *env, struct attach_volume *v,
		       struct attach_path_event *ev, unsigned *ret_n_ev, struct errbuf *e)
{
	return attach_paths_check_dm(env, v, NULL, ev, ret_n_ev, e);
}

int attach_paths_bound_dm(struct attach_env *env, const char *dm_name,
			  const struct attach_paths_dm *dm, int64_t *since_ms, struct errbuf *e)
{
	struct attach_paths_dm d = {
	    .status = dm && dm->status ? dm->status : real_status,
	    .message = dm && dm->message ? dm->message : real_message,
	    .ud = dm ? dm->ud : NULL,
	};
	struct dmap_mpath_status st;
	struct errbuf me = {0};
	int64_t now = realtime_ms();
	int r;

	r = d.status(d.ud, dm_name, &st);
	if (r < 0)
		return errbuf_set(e, r, "status of multipath map %s: %s", dm_name, strerror(-r));
	for (unsigned i = 0; i < st.n; i++)
		if (st.paths[i].active) {
			*since_ms = 0;
			return 0;
		}
	if (!*since_ms)
		*since_ms = now;
	if (!st.queue_if_no_path || now - *since_ms < env->no_path_queue_ms)
		return 0;
	r = d.message(d.ud, dm_name, "fail_if_no_path", &me);
	if (r < 0)
		return errbuf_set(e, r, "fail_if_no_path on %s: %s", dm_name, me.msg);
	return 1;
}

int attach_paths_bound(struct attach_env *env, const char *dm_name, int64_t *since_ms,
		       struct errbuf *e)
{
	return attach_paths_bound_dm(env, dm_name, NULL, since_ms, e);
}
