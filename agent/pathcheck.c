/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/pathcheck.h"
#include "agent/state.h"
#include "agent/volumes_internal.h"
#include "lib/macro.h"

/* Uevents come in bursts (a session drop removes or changes every LUN on it): rounds
 * caused by events start at most this often. */
#define EVENT_ROUND_GAP_MS 1000

struct agent_pathcheck {
	struct agent_volumes *r;
	struct agent_metrics *m;
	unsigned interval_s;
	pthread_t thread;
	int wake[2]; /* pipe: stop, or a volume became multipath (on_multipath) */
	struct udev *udev;
	struct udev_monitor *mon;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stopping;
	char **running; /* keys whose round is in flight */
	size_t n_running, cap_running;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const ev_message[] = {
    [PATH_EV_FAILED] = "attachd.path.failed",
    [PATH_EV_REINSTATED] = "attachd.path.reinstated",
    [PATH_EV_ADDED] = "attachd.path.added",
    [PATH_EV_REMOVED] = "attachd.path.removed",
    [PATH_EV_ALL_DOWN] = "attachd.paths.all-down",
    [PATH_EV_QUEUE_OFF] = "attachd.paths.queueing-off",
    [PATH_EV_QUEUE_ON] = "attachd.paths.queueing-on",
};

static void log_event(const struct attach_volume *av, const struct attach_path_event *ev)
{
	const struct attach_path *p = NULL;
	json_t *d;
	int err = ev->kind == PATH_EV_FAILED || ev->kind == PATH_EV_ALL_DOWN ||
		  ev->kind == PATH_EV_QUEUE_OFF;
	unsigned up = 0;

	for (unsigned i = 0; i < av->n_paths; i++) {
		up += !av->paths[i].failed;
		if (ev->path_id[0] && streq(av->paths[i].bp.id, ev->path_id))
			p = &av->paths[i];
	}
	d = json_pack("{s:s,s:s,s:o,s:i,s:i}", "volume", av->key, "dm", av->dm_name, "detail",
		      agent_json_string(ev->detail), "paths_active", (json_int_t)up, "paths",
		      (json_int_t)av->n_paths);
	if (!d)
		return;
	if (ev->path_id[0])
		json_object_set_new(d, "path", agent_json_string(ev->path_id));
	if (p) {
		json_object_set_new(d, "device", agent_json_string(p->bp.dev.sysname));
		json_object_set_new(d, "where", agent_json_string(p->bp.where));
	}
	switch (ev->kind) {
	case PATH_EV_FAILED:
		if (ev->down_ms > 0)
			json_object_set_new(d, "since_last_good_check_ms",
					    json_integer(ev->down_ms));
		break;
	case PATH_EV_REINSTATED:
	case PATH_EV_QUEUE_ON:
	case PATH_EV_QUEUE_OFF:
		json_object_set_new(d, "down_ms", json_integer(ev->down_ms));
		break;
	default:
		break;
	}
	agent_log(err ? AGENT_LOG_ERROR : AGENT_LOG_INFO, ev_message[ev->kind], d);
}

/* Operation lock held (see volumes_internal.h). */
void agent_volume_paths_publish(struct agent_volumes *r, struct agent_volume *v)
{
	int became, mp = attach_volume_has_paths(&v->av);
	unsigned n;

	pthread_mutex_lock(&v->data_lock);
	v->mp_published = 1;
	became = mp && !v->mp_multipath;
	v->mp_multipath = mp;
	v->mp_dm_multipath = v->av.multipath;
	v->mp_queueing = v->av.queueing;
	v->mp_all_down_since = v->av.all_down_since_ms;
	snprintf(v->mp_dm_name, sizeof(v->mp_dm_name), "%s", v->av.dm_name);
	n = v->av.n_paths <= BACKEND_MAX_PATHS ? v->av.n_paths : 0;
	if (n && !v->mp_paths)
		v->mp_paths = calloc(BACKEND_MAX_PATHS, sizeof(v->mp_paths[0]));
	v->mp_n_paths = v->mp_paths ? n : 0; /* out of memory: listed without paths */
	if (v->mp_n_paths)
		memcpy(v->mp_paths, v->av.paths, sizeof(v->mp_paths[0]) * v->mp_n_paths);
	pthread_mutex_unlock(&v->data_lock);
	agent_volume_fence_publish(v);
	if (became) {
		pthread_mutex_lock(&r->lock);
		if (r->on_multipath)
			r->on_multipath(r->on_multipath_ud);
		pthread_mutex_unlock(&r->lock);
	}
}

int agent_pathcheck_volume(struct agent_volumes *r, struct agent_metrics *m, const char *key)
{
	struct attach_path_event ev[ATTACH_MAX_PATH_EVENTS];
	struct errbuf e = {{0}};
	struct agent_volume *v;
	unsigned n = 0;
	int rc;

	rc = agent_volume_trylock(r, key, &v);
	if (rc < 0)
		return rc;
	if (!v->attached || v->av.reached != STEP_MOUNT || v->av.doing != STEP_NONE ||
	    !attach_volume_has_paths(&v->av)) {
		agent_volume_paths_publish(r, v);
		agent_volume_unlock(r, v);
		return 0;
	}
	agent_volume_set_step(v, "path-check");
	pthread_mutex_lock(&v->data_lock);
	v->checking = 1;
	pthread_mutex_unlock(&v->data_lock);

	rc = attach_paths_check(r->env, &v->av, ev, &n, &e);

	pthread_mutex_lock(&v->data_lock);
	v->checking = 0;
	pthread_mutex_unlock(&v->data_lock);
	agent_volume_paths_publish(r, v);
	for (unsigned i = 0; i < n; i++) {
		log_event(&v->av, &ev[i]);
		if (m)
			agent_metrics_path_event(m, &ev[i]);
	}
	/* A failed message or reload is tried again next round; it is logged each time only
	 * while its text changes, so a map that refuses stays one line. */
	pthread_mutex_lock(&v->data_lock);
	if ((rc < 0 || e.msg[0]) && !streq(v->mp_error, e.msg)) {
		snprintf(v->mp_error, sizeof(v->mp_error), "%s", e.msg);
		pthread_mutex_unlock(&v->data_lock);
		agent_log(
		    AGENT_LOG_ERROR, "attachd.path-check.failed",
		    json_pack("{s:s,s:o}", "volume", v->key, "error", agent_json_string(e.msg)));
	} else {
		if (!e.msg[0])
			v->mp_error[0] = 0;
		pthread_mutex_unlock(&v->data_lock);
	}
	if (n > 0)
		agent_volume_save(r, v, NULL);
	agent_volume_unlock(r, v);
	return rc;
}

/* key's volume is busy (an operation holds it): enforce the no-path bound from the map's
 * status alone, so an Unmount whose umount waits behind queued I/O ends. */
static void watch_busy(struct agent_volumes *r, struct agent_metrics *m, const char *key)
{
	struct agent_volume *v = NULL;
	char dm[160] = "", step[48] = "";
	struct errbuf e = {{0}};
	int64_t since = 0, before;
	int rc;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (streq(r->vols[i]->key, key)) {
			v = r->vols[i];
			pthread_mutex_lock(&v->data_lock);
			if (v->mp_dm_multipath && !v->removed) {
				snprintf(dm, sizeof(dm), "%s", v->mp_dm_name);
				snprintf(step, sizeof(step), "%s", v->busy_step);
				since = v->mp_all_down_since;
			}
			pthread_mutex_unlock(&v->data_lock);
			break;
		}
	pthread_mutex_unlock(&r->lock);
	if (!dm[0])
		return;
	before = since;
	rc = attach_paths_bound(r->env, dm, &since, &e);
	if (rc < 0)
		return; /* the map went away under the operation: nothing to bound */
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (r->vols[i] == v) {
			pthread_mutex_lock(&v->data_lock);
			v->mp_all_down_since = since;
			if (rc == 1)
				v->mp_queueing = 0;
			pthread_mutex_unlock(&v->data_lock);
			break;
		}
	pthread_mutex_unlock(&r->lock);
	if (rc == 1) {
		struct attach_path_event ev = {.kind = PATH_EV_QUEUE_OFF};
		int64_t down = since ? (int64_t)time(NULL) * 1000 - since : 0;

		ev.down_ms = down;
		if (m)
			agent_metrics_path_event(m, &ev);
		agent_log(AGENT_LOG_ERROR, ev_message[PATH_EV_QUEUE_OFF],
			  json_pack("{s:s,s:s,s:I,s:s}", "volume", key, "dm", dm, "down_ms",
				    (json_int_t)down, "detail",
				    "no path for longer than the bound while an operation held the "
				    "volume: I/O now fails"));
		agent_log(AGENT_LOG_INFO, "attachd.paths.operation-unblocked",
			  json_pack("{s:s,s:s}", "volume", key, "step", step));
	} else if (!before && since) {
		agent_log(
		    AGENT_LOG_ERROR, ev_message[PATH_EV_ALL_DOWN],
		    json_pack("{s:s,s:s,s:s}", "volume", key, "dm", dm, "detail",
			      "no active path in the map while an operation holds the volume"));
	}
}

/* ---- the thread ---- */

struct job {
	struct agent_pathcheck *pc;
	char *key;
};

static void running_remove(struct agent_pathcheck *pc, const char *key)
{
	for (size_t i = 0; i < pc->n_running; i++)
		if (streq(pc->running[i], key)) {
			free(pc->running[i]);
			pc->running[i] = pc->running[--pc->n_running];
			break;
		}
}

static void *job_thread(void *arg)
{
	struct job *j = arg;
	struct agent_pathcheck *pc = j->pc;

	if (agent_pathcheck_volume(pc->r, pc->m, j->key) == -EBUSY)
		watch_busy(pc->r, pc->m, j->key);
	pthread_mutex_lock(&pc->lock);
	running_remove(pc, j->key);
	pthread_cond_broadcast(&pc->cond);
	pthread_mutex_unlock(&pc->lock);
	free(j->key);
	free(j);
	return NULL;
}

/* Worth a thread: attached and multipath, or not looked at yet (a volume adopted at start
 * is published by its first round). */
static int is_candidate(struct agent_volumes *r, const char *key)
{
	int yes = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		struct agent_volume *v = r->vols[i];

		if (!streq(v->key, key))
			continue;
		pthread_mutex_lock(&v->data_lock);
		yes = v->attached && !v->removed && (v->mp_multipath || !v->mp_published);
		pthread_mutex_unlock(&v->data_lock);
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return yes;
}

static void start_round(struct agent_pathcheck *pc)
{
	char **keys = NULL;

	if (agent_volumes_keys(pc->r, &keys) < 0)
		return;
	for (size_t i = 0; keys[i]; i++) {
		struct job *j;
		pthread_attr_t a;
		pthread_t t;
		int busy = 0;

		if (!is_candidate(pc->r, keys[i]))
			continue;
		pthread_mutex_lock(&pc->lock);
		for (size_t k = 0; k < pc->n_running && !busy; k++)
			busy = streq(pc->running[k], keys[i]);
		if (busy || pc->stopping) {
			pthread_mutex_unlock(&pc->lock);
			continue;
		}
		if (pc->n_running == pc->cap_running) {
			size_t nc = pc->cap_running ? pc->cap_running * 2 : 8;
			char **nr = realloc(pc->running, nc * sizeof(*nr));

			if (!nr) {
				pthread_mutex_unlock(&pc->lock);
				break;
			}
			pc->running = nr;
			pc->cap_running = nc;
		}
		j = calloc(1, sizeof(*j));
		if (j)
			j->key = strdup(keys[i]);
		if (!j || !j->key) {
			if (j)
				free(j);
			pthread_mutex_unlock(&pc->lock);
			break;
		}
		j->pc = pc;
		pc->running[pc->n_running] = strdup(keys[i]);
		if (!pc->running[pc->n_running]) {
			free(j->key);
			free(j);
			pthread_mutex_unlock(&pc->lock);
			break;
		}
		pc->n_running++;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, job_thread, j) != 0) {
			running_remove(pc, keys[i]);
			free(j->key);
			free(j);
		}
		pthread_attr_destroy(&a);
		pthread_mutex_unlock(&pc->lock);
	}
	agent_state_keys_free(keys);
}

/* A uevent that may change a path's state: a disk removed/changed/offlined, an iSCSI
 * session or SCSI device changing. Our own dm devices' events are not. */
static int event_matters(struct udev_device *d)
{
	const char *ss = udev_device_get_subsystem(d), *act = udev_device_get_action(d);
	const char *name = udev_device_get_sysname(d);

	if (!ss || !act)
		return 0;
	if (streq(ss, "iscsi_session") || streq(ss, "iscsi_connection"))
		return 1;
	if (streq(act, "add") || streq(act, "bind"))
		return 0;
	if (streq(ss, "scsi"))
		return 1;
	if (streq(ss, "block") && name && strncmp(name, "dm-", 3) != 0)
		return 1;
	return 0;
}

/* Some volume a round would check: staged with several paths, or restored and not yet
 * looked at; or being attached (on_multipath fires during the attach, before the volume
 * counts as attached). */
static int any_candidate(struct agent_volumes *r)
{
	int yes = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n && !yes; i++) {
		struct agent_volume *v = r->vols[i];

		pthread_mutex_lock(&v->data_lock);
		yes = (v->attached || v->attaching) && !v->removed &&
		      (v->mp_multipath || !v->mp_published);
		pthread_mutex_unlock(&v->data_lock);
	}
	pthread_mutex_unlock(&r->lock);
	return yes;
}

/* r->on_multipath (registry lock held): wake the checker thread. */
static void kick(void *ud)
{
	struct agent_pathcheck *pc = ud;

	(void)!write(pc->wake[1], "k", 1); /* non-blocking: a full pipe wakes it anyway */
}

/* Without a multipath volume the thread sleeps until one appears (kick) or a uevent
 * comes: a host with single-path volumes only spends no CPU on path checking. */
static void *checker_thread(void *arg)
{
	struct agent_pathcheck *pc = arg;
	int64_t next = 0, last_event_round = 0;
	int pending = 0, idle = 1;

	for (;;) {
		struct pollfd p[2] = {
		    {.fd = pc->wake[0], .events = POLLIN},
		    {.fd = pc->mon ? udev_monitor_get_fd(pc->mon) : -1, .events = POLLIN}};
		int64_t now = mono_ms(), wait = -1;
		int stopping;

		if (!any_candidate(pc->r)) {
			idle = 1;
			pending = 0;
		} else {
			if (idle)
				next = now + (int64_t)pc->interval_s * 1000;
			idle = 0;
			wait = next - now;
			if (pending) {
				int64_t gap = last_event_round + EVENT_ROUND_GAP_MS - now;

				if (gap < wait)
					wait = gap;
			}
			if (wait < 0)
				wait = 0;
		}
		if (poll(p, 2, (int)wait) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			char buf[64];

			while (read(pc->wake[0], buf, sizeof(buf)) > 0)
				;
			pthread_mutex_lock(&pc->lock);
			stopping = pc->stopping;
			pthread_mutex_unlock(&pc->lock);
			if (stopping)
				break;
			continue;
		}
		if (p[1].revents & POLLIN) {
			struct udev_device *d = udev_monitor_receive_device(pc->mon);

			if (d) {
				pending |= event_matters(d);
				udev_device_unref(d);
			}
		}
		now = mono_ms();
		if (idle)
			continue;
		if (now >= next || (pending && now >= last_event_round + EVENT_ROUND_GAP_MS)) {
			start_round(pc);
			if (pending)
				last_event_round = now;
			pending = 0;
			if (now >= next)
				next = now + (int64_t)pc->interval_s * 1000;
		}
	}
	return NULL;
}

int agent_pathcheck_start(struct agent_volumes *r, struct agent_metrics *m, unsigned interval_s,
			  struct agent_pathcheck **ret, struct errbuf *e)
{
	struct agent_pathcheck *pc = calloc(1, sizeof(*pc));
	int rc;

	if (!pc)
		return errbuf_set(e, -ENOMEM, "out of memory");
	pc->r = r;
	pc->m = m;
	pc->interval_s = interval_s ? interval_s : 5;
	pthread_mutex_init(&pc->lock, NULL);
	pthread_cond_init(&pc->cond, NULL);
	if (pipe2(pc->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		free(pc);
		return errbuf_set(e, rc, "path checker: pipe: %s", strerror(-rc));
	}
	/* Kernel uevents, not udev's: they come first, and a host without udevd has them too.
	 * Without a monitor the checker still runs on its interval. */
	pc->udev = udev_new();
	if (pc->udev)
		pc->mon = udev_monitor_new_from_netlink(pc->udev, "kernel");
	if (pc->mon && udev_monitor_enable_receiving(pc->mon) < 0) {
		udev_monitor_unref(pc->mon);
		pc->mon = NULL;
	}
	if (!pc->mon)
		agent_log(AGENT_LOG_INFO, "attachd.path-check.no-uevents",
			  json_pack("{s:i}", "interval_s", (json_int_t)pc->interval_s));
	rc = pthread_create(&pc->thread, NULL, checker_thread, pc);
	if (rc != 0) {
		pc->thread = 0;
		agent_pathcheck_stop(pc);
		return errbuf_set(e, -rc, "path checker: cannot start its thread: %s",
				  strerror(rc));
	}
	pthread_mutex_lock(&r->lock);
	r->on_multipath = kick;
	r->on_multipath_ud = pc;
	pthread_mutex_unlock(&r->lock);
	*ret = pc;
	return 0;
}

struct agent_pathcheck *agent_pathcheck_stop(struct agent_pathcheck *pc)
{
	if (!pc)
		return NULL;
	pthread_mutex_lock(&pc->r->lock);
	if (pc->r->on_multipath_ud == pc) {
		pc->r->on_multipath = NULL;
		pc->r->on_multipath_ud = NULL;
	}
	pthread_mutex_unlock(&pc->r->lock);
	pthread_mutex_lock(&pc->lock);
	pc->stopping = 1;
	pthread_mutex_unlock(&pc->lock);
	if (pc->thread) {
		(void)!write(pc->wake[1], "x", 1);
		pthread_join(pc->thread, NULL);
	}
	/* Rounds in flight end within their deadlines; they use the registry, so wait. */
	pthread_mutex_lock(&pc->lock);
	while (pc->n_running)
		pthread_cond_wait(&pc->cond, &pc->lock);
	pthread_mutex_unlock(&pc->lock);
	free(pc->running);
	if (pc->mon)
		udev_monitor_unref(pc->mon);
	if (pc->udev)
		udev_unref(pc->udev);
	close(pc->wake[0]);
	close(pc->wake[1]);
	pthread_mutex_destroy(&pc->lock);
	pthread_cond_destroy(&pc->cond);
	free(pc);
	return NULL;
}
