/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/config.h"
#include "agent/log.h"
#include "agent/trace.h"
#include "agent/volumes.h"
#include "agent/volumes_internal.h"
#include "lib/macro.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void agent_volume_set_step(struct agent_volume *v, const char *step)
{
	pthread_mutex_lock(&v->data_lock);
	snprintf(v->busy_step, sizeof(v->busy_step), "%s", step);
	pthread_mutex_unlock(&v->data_lock);
}

/* At most max_pipelines attaches/detaches at once: each holds kernel resources (a login, a
 * udev wait, an mkfs) and a thread; the rest queue here in arrival order of wake-ups. */
static void slot_take(struct agent_volumes *r, struct agent_volume *v, const char *what)
{
	pthread_mutex_lock(&r->slot_lock);
	if (r->running >= r->max_pipelines) {
		char step[48];

		snprintf(step, sizeof(step), "%s: queued, %u pipelines running", what, r->running);
		agent_volume_set_step(v, step);
		while (r->running >= r->max_pipelines)
			pthread_cond_wait(&r->slot_cond, &r->slot_lock);
	}
	r->running++;
	pthread_mutex_unlock(&r->slot_lock);
	agent_volume_set_step(v, what);
}

static void slot_give(struct agent_volumes *r)
{
	int last;

	pthread_mutex_lock(&r->slot_lock);
	last = --r->running == 0;
	pthread_cond_signal(&r->slot_cond);
	pthread_mutex_unlock(&r->slot_lock);
	/* The last pipeline out: give the kernel back the heap pages the operations freed
	 * (glibc keeps them: the RSS would stay at its peak), once per burst. */
	if (last)
		malloc_trim(0);
}

/* Operation lock held: the record says kernel objects may be left from an attach whose
 * rollback failed (or a detach that stopped part way). */
static int has_leftovers(const struct agent_volume *v)
{
	return v->av.reached != STEP_NONE || v->av.doing != STEP_NONE;
}

/* Registry lock held: no longer claims a kernel device. */
static void unclaim(struct agent_volume *v)
{
	v->claimed = 0;
}

void agent_volume_unclaim(struct agent_volumes *r, struct agent_volume *v)
{
	pthread_mutex_lock(&r->lock);
	unclaim(v);
	pthread_mutex_unlock(&r->lock);
}

int agent_volumes_claim(struct attach_env *env, struct attach_volume *av, int *ret_same_dev,
			struct errbuf *e)
{
	struct agent_volumes *r = env->claim_userdata;
	/* The pipeline only ever runs on the attach_volume embedded in a registry entry. */
	struct agent_volume *v =
	    (struct agent_volume *)((char *)av - offsetof(struct agent_volume, av));
	const char *wwid = av->ident.wwid;
	int rc = 0;

	*ret_same_dev = 0;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		struct agent_volume *o = r->vols[i];
		int same_dev, same_id;

		if (o == v || !o->claimed)
			continue;
		same_id = wwid[0] && streq(o->dev_ident, wwid);
		/* The same number with another WWID is not the same device: the kernel gave the
		 * number of a disk o's detach already deleted (its claim ends when the detach
		 * does) to a new one. */
		same_dev = o->dev_major == av->dev.major && o->dev_minor == av->dev.minor &&
			   !(wwid[0] && o->dev_ident[0] && !same_id);
		if (!same_dev && !same_id)
			continue;
		*ret_same_dev = same_dev;
		rc = errbuf_set(e, -EEXIST,
				"volume '%s' resolves to the device volume '%s' already uses (%s, "
				"%u:%u%s%s); one device is never mounted through two volumes: "
				"mount volume '%s' instead, or unmount it first",
				v->key, o->key, av->dev.devnode, av->dev.major, av->dev.minor,
				same_id ? ", identity " : "", same_id ? wwid : "", o->key);
		break;
	}
	if (rc == 0) {
		v->claimed = 1;
		v->dev_major = av->dev.major;
		v->dev_minor = av->dev.minor;
		snprintf(v->dev_ident, sizeof(v->dev_ident), "%s", wwid);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Run the pipeline and log what it did, step by step, whatever the outcome. */
int agent_volume_up(struct agent_volumes *r, struct agent_volume *v, struct errbuf *e)
{
	int rc;
	json_t *t;

	v->op = AGENT_OP_ATTACH;
	slot_take(r, v, "attach");
	rc = r->ops->up(r->env, &v->av, e);
	slot_give(r);
	v->op = AGENT_OP_IDLE;
	agent_volume_paths_publish(r, v);
	/* Rolled back completely: nothing left to record. */
	if (rc < 0 && v->av.reached == STEP_NONE && v->av.doing == STEP_NONE && v->n_mounts == 0) {
		agent_volume_forget(r, v);
		agent_volume_unclaim(r, v);
	} else
		agent_volume_save(r, v, NULL);
	t = agent_trace_json(&v->av);

	agent_volume_fence_after_up(r, v, rc, t);
	if (t && rc < 0)
		json_object_set_new(t, "error", agent_json_string(e->msg));
	/* Attached, with a note: a path refused (another WWID), or attached unfenced. */
	if (rc == 0 && e->msg[0]) {
		if (t)
			json_object_set_new(t, "note", agent_json_string(e->msg));
		e->msg[0] = 0;
	}
	agent_log(rc < 0 ? AGENT_LOG_ERROR : AGENT_LOG_INFO,
		  rc < 0 ? "attachd.attach.failed" : "attachd.attach.finish", t);
	return rc;
}

int agent_volume_down(struct agent_volumes *r, struct agent_volume *v, int force,
		       struct errbuf *e)
{
	int rc;
	json_t *t;

	v->op = AGENT_OP_DETACH;
	agent_volume_save(r, v, NULL);
	slot_take(r, v, "detach");
	rc = r->ops->down(r->env, &v->av, force, e);
	slot_give(r);
	v->op = AGENT_OP_IDLE;
	agent_volume_paths_publish(r, v);
	if (rc == 0)
		agent_volume_unclaim(r, v);
	if (rc == 0 && v->n_mounts == 0)
		agent_volume_forget(r, v);
	else
		agent_volume_save(r, v, NULL);
	t = agent_trace_json(&v->av);

	if (t && rc < 0)
		json_object_set_new(t, "error", agent_json_string(e->msg));
	/* A detach that succeeded but left something alone that it could not prove its own
	 * (e.g. a SCSI device whose WWID no longer matches the record): say what, once. */
	if (rc == 0 && e->msg[0]) {
		if (t)
			json_object_set_new(t, "left_alone", agent_json_string(e->msg));
		e->msg[0] = 0;
	}
	agent_log(rc < 0 ? AGENT_LOG_ERROR : AGENT_LOG_INFO,
		  rc < 0 ? "attachd.detach.failed" : "attachd.detach.finish", t);
	return rc;
}

struct agent_volumes *agent_volumes_new(struct attach_env *env, const struct agent_driver_ops *ops)
{
	struct agent_volumes *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->slot_lock, NULL);
	pthread_cond_init(&r->slot_cond, NULL);
	r->max_pipelines = AGENT_DEFAULT_MAX_PIPELINES;
	r->lock_wait_s = AGENT_DEFAULT_LOCK_WAIT_S;
	r->env = env;
	r->ops = ops;
	env->claim = agent_volumes_claim;
	env->claim_userdata = r;
	return r;
}

static void volume_free(struct agent_volume *v)
{
	if (!v)
		return;
	attach_volume_done(&v->av);
	json_decref(v->opts);
	for (size_t i = 0; i < v->n_mounts; i++)
		free(v->mounts[i].path);
	free(v->mounts);
	free(v->mp_paths);
	pthread_mutex_destroy(&v->op_lock);
	pthread_mutex_destroy(&v->data_lock);
	free(v);
}

struct agent_volumes *agent_volumes_free(struct agent_volumes *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		volume_free(r->vols[i]);
	free(r->vols);
	pthread_cond_destroy(&r->slot_cond);
	pthread_mutex_destroy(&r->slot_lock);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return NULL;
}

/* Registry lock held. */
static struct agent_volume *find_locked(struct agent_volumes *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (streq(r->vols[i]->key, key))
			return r->vols[i];
	return NULL;
}

/* A referenced volume, or NULL. The reference keeps it allocated after a Remove. */
static struct agent_volume *volume_get(struct agent_volumes *r, const char *key)
{
	struct agent_volume *v;

	pthread_mutex_lock(&r->lock);
	v = find_locked(r, key);
	if (v)
		v->nref++;
	pthread_mutex_unlock(&r->lock);
	return v;
}

static void volume_put(struct agent_volumes *r, struct agent_volume *v)
{
	int last;

	if (!v)
		return;
	pthread_mutex_lock(&r->lock);
	last = --v->nref == 0;
	pthread_mutex_unlock(&r->lock);
	/* Only removed volumes are unlisted, so the last reference of a listed one is the
	 * registry's own and never dropped here. */
	if (last)
		volume_free(v);
}

void agent_volumes_set_limits(struct agent_volumes *r, unsigned max_pipelines,
			      unsigned lock_wait_s)
{
	r->max_pipelines = max_pipelines ? max_pipelines : AGENT_DEFAULT_MAX_PIPELINES;
	r->lock_wait_s = lock_wait_s ? lock_wait_s : AGENT_DEFAULT_LOCK_WAIT_S;
}

/* Operation lock just taken: start the clock of "has run for N s". */
static void busy_begin(struct agent_volume *v)
{
	pthread_mutex_lock(&v->data_lock);
	v->busy_since_ms = now_ms();
	snprintf(v->busy_step, sizeof(v->busy_step), "starting");
	pthread_mutex_unlock(&v->data_lock);
}

int agent_volume_lock(struct agent_volumes *r, const char *key, struct agent_volume **ret,
		      struct errbuf *e)
{
	struct agent_volume *v = volume_get(r, key);
	struct timespec deadline;
	int rc;

	if (!v)
		return -ENOENT;
	/* Bounded: a stuck kernel call in one request must not pin every later request's
	 * thread behind it forever (each such request would hold an HTTP worker). */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += r->lock_wait_s;
	rc = pthread_mutex_clocklock(&v->op_lock, CLOCK_MONOTONIC, &deadline);
	if (rc == ETIMEDOUT) {
		char step[sizeof(v->busy_step)];
		int64_t since;

		pthread_mutex_lock(&v->data_lock);
		since = v->busy_since_ms;
		snprintf(step, sizeof(step), "%s", v->busy_step);
		pthread_mutex_unlock(&v->data_lock);
		volume_put(r, v);
		return errbuf_set(e, -EBUSY,
				  "busy: another operation on this volume has run for %lld s (step "
				  "%s); try again later (`attachctl watch %s` shows it)",
				  (long long)((now_ms() - since) / 1000), step, key);
	}
	if (rc != 0) {
		volume_put(r, v);
		return errbuf_set(e, -rc, "cannot lock volume '%s': %s", key, strerror(rc));
	}
	if (v->removed) {
		pthread_mutex_unlock(&v->op_lock);
		volume_put(r, v);
		return -ENOENT;
	}
	busy_begin(v);
	*ret = v;
	return 0;
}

int agent_volume_trylock(struct agent_volumes *r, const char *key, struct agent_volume **ret)
{
	struct agent_volume *v = volume_get(r, key);
	int rc;

	if (!v)
		return -ENOENT;
	rc = pthread_mutex_trylock(&v->op_lock);
	if (rc != 0) {
		volume_put(r, v);
		return rc == EBUSY ? -EBUSY : -rc;
	}
	if (v->removed) {
		pthread_mutex_unlock(&v->op_lock);
		volume_put(r, v);
		return -ENOENT;
	}
	busy_begin(v);
	*ret = v;
	return 0;
}

void agent_volume_unlock(struct agent_volumes *r, struct agent_volume *v)
{
	pthread_mutex_unlock(&v->op_lock);
	volume_put(r, v);
}

static void describe(const struct attach_opts *o, char *buf, size_t n)
{
	buf[0] = 0;
	if (o->be && o->be->describe && o->be->describe(o->be_cfg, buf, n) < 0)
		buf[0] = 0;
}

/* Registry lock held: another attached (or attaching) volume on the same device, or NULL.
 * Volumes that are only created do not count: Volman never calls Remove, so definitions
 * of volumes that failed or went away would otherwise block their device forever. */
static struct agent_volume *same_device_locked(struct agent_volumes *r, const char *key,
					       const char *identity)
{
	if (!identity[0])
		return NULL;
	for (size_t i = 0; i < r->n; i++) {
		struct agent_volume *o = r->vols[i];
		int same;

		if (streq(o->key, key))
			continue;
		pthread_mutex_lock(&o->data_lock);
		same = streq(o->identity, identity) && (o->attached || o->attaching);
		pthread_mutex_unlock(&o->data_lock);
		if (same)
			return o;
	}
	return NULL;
}

static int insert_locked(struct agent_volumes *r, struct agent_volume *v)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct agent_volume **nv = realloc(r->vols, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		r->vols = nv;
		r->cap = cap;
	}
	r->vols[r->n++] = v;
	v->nref = 1; /* the registry's */
	return 0;
}

static void unlist(struct agent_volumes *r, struct agent_volume *v)
{
	int listed = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (r->vols[i] == v) {
			r->vols[i] = r->vols[--r->n];
			listed = 1;
			break;
		}
	pthread_mutex_unlock(&r->lock);
	if (listed)
		volume_put(r, v);
}

/*
 * Insert a new volume for n->key. Consumes o except on -EAGAIN (the key appeared meanwhile:
 * the caller retries as an update). attach_volume_init only fills memory, so it runs under
 * the registry lock, which makes check-and-insert atomic.
 */
static int create_new(struct agent_volumes *r, const struct agent_name *n, struct attach_opts *o,
		      const json_t *opts, const char *identity, struct errbuf *e)
{
	struct agent_volume *v = calloc(1, sizeof(*v)), *other;
	int rc;

	if (!v) {
		attach_opts_done(o);
		return errbuf_set(e, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&v->op_lock, NULL);
	pthread_mutex_init(&v->data_lock, NULL);
	snprintf(v->key, sizeof(v->key), "%s", n->key);
	snprintf(v->identity, sizeof(v->identity), "%s", identity);
	v->opts = json_deep_copy(opts ? opts : json_null());
	if (!v->opts) {
		attach_opts_done(o);
		volume_free(v);
		return errbuf_set(e, -ENOMEM, "out of memory");
	}

	pthread_mutex_lock(&r->lock);
	if (find_locked(r, n->key)) {
		pthread_mutex_unlock(&r->lock);
		volume_free(v);
		return -EAGAIN;
	}
	other = same_device_locked(r, n->key, identity);
	if (other) {
		rc = errbuf_set(e, -EEXIST,
				"volume '%s' refers to the same device as volume '%s' (%s); one "
				"device cannot be mounted through two volumes",
				n->key, other->key, identity);
		pthread_mutex_unlock(&r->lock);
		attach_opts_done(o);
		volume_free(v);
		return rc;
	}
	rc = attach_volume_init(&v->av, n->key, o);
	if (rc < 0) {
		pthread_mutex_unlock(&r->lock);
		attach_opts_done(o); /* whichever of o and v->av holds the cfg frees it */
		volume_free(v);
		return errbuf_set(e, rc, "cannot set up volume '%s': %s", n->key, strerror(-rc));
	}
	rc = insert_locked(r, v);
	pthread_mutex_unlock(&r->lock);
	if (rc < 0) {
		volume_free(v);
		return errbuf_set(e, rc, "out of memory");
	}
	return 0;
}

int agent_volume_restore(struct agent_volumes *r, const char *key, const json_t *opts,
			 struct agent_volume **ret, struct errbuf *e)
{
	struct agent_volume *v;
	struct attach_opts o;
	struct errlist el = {.n = 0};
	char identity[512];
	int rc;

	if (attach_opts_parse(opts, &o, &el) < 0)
		return errbuf_set(e, -EINVAL, "the recorded options of volume '%s' are invalid: %s",
				  key, el.n ? el.msg : "rejected");
	describe(&o, identity, sizeof(identity));
	v = calloc(1, sizeof(*v));
	if (!v) {
		attach_opts_done(&o);
		return errbuf_set(e, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&v->op_lock, NULL);
	pthread_mutex_init(&v->data_lock, NULL);
	snprintf(v->key, sizeof(v->key), "%s", key);
	snprintf(v->identity, sizeof(v->identity), "%s", identity);
	v->opts = json_deep_copy(opts);
	rc = v->opts ? attach_volume_init(&v->av, key, &o) : -ENOMEM;
	attach_opts_done(&o);
	if (rc < 0) {
		volume_free(v);
		return errbuf_set(e, rc, "cannot set up volume '%s': %s", key, strerror(-rc));
	}
	pthread_mutex_lock(&r->lock);
	rc = find_locked(r, key) ? -EEXIST : insert_locked(r, v);
	if (rc == 0)
		v->nref++; /* the caller's, dropped by agent_volume_unlock */
	pthread_mutex_unlock(&r->lock);
	if (rc < 0) {
		volume_free(v);
		return errbuf_set(e, rc, "cannot register volume '%s': %s", key, strerror(-rc));
	}
	pthread_mutex_lock(&v->op_lock);
	busy_begin(v);
	*ret = v;
	return 0;
}

void agent_volume_claim_restored(struct agent_volumes *r, struct agent_volume *v)
{
	if (v->av.reached < STEP_VERIFY || v->av.reached >= STEP_UNBIND || !v->av.dev.major)
		return;
	pthread_mutex_lock(&r->lock);
	v->claimed = 1;
	v->dev_major = v->av.dev.major;
	v->dev_minor = v->av.dev.minor;
	snprintf(v->dev_ident, sizeof(v->dev_ident), "%s", v->av.ident.wwid);
	pthread_mutex_unlock(&r->lock);
}

/* A defined volume with exactly these options: a Create of it changes nothing, so it is
 * answered without the operation lock (containers starting on one volume at once do not
 * wait behind another one's Mount, and never time out as "busy"). Options are replaced
 * under data_lock, so this read is consistent. */
static int same_definition(struct agent_volumes *r, const char *key, const json_t *opts)
{
	struct agent_volume *v;
	int same = 0;

	pthread_mutex_lock(&r->lock);
	v = find_locked(r, key);
	if (v) {
		pthread_mutex_lock(&v->data_lock);
		same = !v->removed && json_equal(v->opts, opts ? opts : json_null());
		pthread_mutex_unlock(&v->data_lock);
	}
	pthread_mutex_unlock(&r->lock);
	return same;
}

int agent_volumes_create(struct agent_volumes *r, const struct agent_name *n, const char *name,
			 const json_t *opts, struct errbuf *e)
{
	struct attach_opts o;
	struct errlist el = {.n = 0};
	char identity[512];
	int rc;

	if (attach_opts_parse(opts, &o, &el) < 0)
		return errbuf_set(e, -EINVAL, "invalid options for volume '%s': %s", n->key,
				  el.n ? el.msg : "rejected");
	describe(&o, identity, sizeof(identity));
	if (same_definition(r, n->key, opts)) {
		attach_opts_done(&o);
		return 0;
	}

	for (int tries = 0; tries < 8; tries++) {
		struct agent_volume *v = NULL, *other;

		rc = agent_volume_lock(r, n->key, &v, e);
		if (rc == -ENOENT) {
			rc = create_new(r, n, &o, opts, identity, e);
			if (rc == -EAGAIN)
				continue;
			return rc;
		}
		if (rc < 0) {
			attach_opts_done(&o);
			return rc;
		}
		agent_volume_set_step(v, "create");
		if (json_equal(v->opts, opts ? opts : json_null())) {
			agent_volume_unlock(r, v);
			attach_opts_done(&o);
			return 0;
		}
		if (v->attached || v->n_mounts > 0) {
			agent_volume_unlock(r, v);
			attach_opts_done(&o);
			return errbuf_set(
			    e, -EBUSY,
			    "volume '%s' is mounted with different options; unmount it "
			    "everywhere before changing them",
			    n->key);
		}
		if (has_leftovers(v)) {
			/* New options would replace the record that says which kernel objects
			 * the failed attach left, and leak them for good. */
			rc = errbuf_set(
			    e, -EBUSY,
			    "volume '%s' is busy: an earlier attach failed part way and could not "
			    "be rolled back (the record says reached %s, doing %s); clean it up "
			    "first: Mount it again with its current options (a retry cleans up "
			    "before attaching) or run `attachctl detach --force %s`",
			    n->key, attach_step_name(v->av.reached), attach_step_name(v->av.doing),
			    n->key);
			agent_volume_unlock(r, v);
			attach_opts_done(&o);
			return rc;
		}
		pthread_mutex_lock(&r->lock);
		other = same_device_locked(r, n->key, identity);
		if (other) {
			rc =
			    errbuf_set(e, -EEXIST,
				       "volume '%s' refers to the same device as volume '%s' (%s); "
				       "one device cannot be mounted through two volumes",
				       n->key, other->key, identity);
			pthread_mutex_unlock(&r->lock);
			agent_volume_unlock(r, v);
			attach_opts_done(&o);
			return rc;
		}
		pthread_mutex_unlock(&r->lock);

		{
			struct attach_volume nav;
			json_t *copy = json_deep_copy(opts ? opts : json_null());

			memset(&nav, 0, sizeof(nav));
			rc = copy ? attach_volume_init(&nav, n->key, &o) : -ENOMEM;
			if (rc < 0) {
				json_decref(copy);
				attach_opts_done(&o);
				attach_volume_done(&nav);
				agent_volume_unlock(r, v);
				return errbuf_set(e, rc, "cannot set up volume '%s': %s", n->key,
						  strerror(-rc));
			}
			pthread_mutex_lock(&v->data_lock);
			attach_volume_done(&v->av);
			v->av = nav;
			json_decref(v->opts);
			v->opts = copy;
			snprintf(v->identity, sizeof(v->identity), "%s", identity);
			pthread_mutex_unlock(&v->data_lock);
		}
		agent_volume_unlock(r, v);
		return 0;
	}
	attach_opts_done(&o);
	return errbuf_set(e, -EAGAIN, "volume '%s' is being created and removed concurrently",
			  n->key);
}

int agent_volumes_mount(struct agent_volumes *r, const struct agent_name *n, const char *name,
			char *ret_path, size_t len, struct errbuf *e)
{
	struct agent_volume *v = NULL;
	struct agent_mount *m, *nm;
	char path[4096], *mpath;
	int rc;

	rc = agent_volume_lock(r, n->key, &v, e);
	if (rc == -ENOENT)
		return errbuf_set(e, -ENOENT, "Volume '%s' must be created before being mounted",
				  name);
	if (rc < 0)
		return rc;
	agent_progress_op_begin(r->progress, n->key, v->attached ? "mount" : "attach");
	if (!v->attached && has_leftovers(v)) {
		/* A retry re-checks the kernel instead of trusting the record's `reached`:
		 * undo whatever the failed attach left (every undo step is idempotent and
		 * looks at the kernel), then attach from the start. */
		rc = agent_volume_down(r, v, 0, e);
		if (rc < 0) {
			errbuf_prefix(e, rc,
				      "volume '%s' has leftovers from an earlier failed attach that "
				      "could not be cleaned up (try `attachctl detach --force %s`)",
				      n->key, n->key);
			goto out;
		}
	}
	if (!v->attached && r->ops->check) {
		rc = r->ops->check(r->env, e);
		if (rc < 0) {
			errbuf_prefix(e, rc, "attaching volume '%s' failed", n->key);
			goto out;
		}
		errbuf_clear(e); /* a warning (udev) is logged at start, not an error here */
		rc = 0;
	}
	if (!v->attached) {
		struct agent_volume *other;

		pthread_mutex_lock(&r->lock);
		other = same_device_locked(r, n->key, v->identity);
		if (!other) {
			pthread_mutex_lock(&v->data_lock);
			v->attaching = 1;
			pthread_mutex_unlock(&v->data_lock);
		}
		pthread_mutex_unlock(&r->lock);
		if (other) {
			rc = errbuf_set(e, -EEXIST,
					"volume '%s' refers to the same device as volume '%s' (%s), "
					"which is attached; one device is never mounted through two "
					"volumes",
					n->key, other->key, v->identity);
			goto out;
		}
		rc = agent_volume_up(r, v, e);
		/* In one step: the path checker sees it attaching or attached. */
		pthread_mutex_lock(&v->data_lock);
		v->attaching = 0;
		v->attached = rc == 0;
		pthread_mutex_unlock(&v->data_lock);
		if (rc < 0) {
			errbuf_prefix(e, rc, "attaching volume '%s' failed", n->key);
			goto out;
		}
	}
	/* A volume the array grew is grown before the container sees it (never fails). */
	agent_volume_expand_at_mount(r, v);
	/* Recorded before the bind exists: a container's destroy Unmounts every name it asked
	 * for, so a restarted agent must know the name even if the bind never happened. */
	{
		char pending_path[AGENT_MOUNT_PATH_MAX] = "";
		struct agent_mount pending = {.count = 1, .path = pending_path};

		snprintf(pending.name, sizeof(pending.name), "%s", name);
		snprintf(pending.container, sizeof(pending.container), "%s", n->container);
		(void)attach_container_path(r->env, n->key, n->container, pending_path,
					    sizeof(pending_path));
		rc = agent_volume_save(r, v, &pending);
		if (rc < 0) {
			errbuf_set(e, rc, "cannot record the mount of volume '%s': %s", n->key,
				   strerror(-rc));
			goto bind_failed;
		}
	}
	agent_volume_set_step(v, "bind");
	agent_test_crash_point(r->test, STEP_BIND, 0);
	/* Always bind, even for a name already counted: attach_bind is idempotent and
	 * repairs a bind mount that went stale, which is what a re-Mount should do. */
	rc = r->ops->bind(r->env, &v->av, n->container, path, sizeof(path), e);
	agent_test_crash_point(r->test, STEP_BIND, 1);
bind_failed:
	if (rc < 0) {
		errbuf_prefix(e, rc, "mounting volume '%s' for container '%s' failed", n->key,
			      n->container);
		/* Nothing else uses the attachment: do not leave it behind. */
		if (v->n_mounts == 0) {
			struct errbuf e2 = {{0}};
			int r2 = agent_volume_down(r, v, 0, &e2);

			if (r2 < 0)
				agent_log(AGENT_LOG_ERROR, "attachd.mount.rollback-failed",
					  json_pack("{s:s,s:o}", "volume", n->key, "error",
						    agent_json_string(e2.msg)));
			else {
				pthread_mutex_lock(&v->data_lock);
				v->attached = 0;
				pthread_mutex_unlock(&v->data_lock);
			}
		} else
			agent_volume_save(r, v, NULL);
		goto out;
	}
	if (strlen(path) >= len) {
		rc = errbuf_set(e, -ENAMETOOLONG, "mount point too long");
		goto out;
	}

	mpath = strdup(path);
	if (!mpath) {
		rc = errbuf_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&v->data_lock);
	m = agent_volume_find_mount(v, name);
	if (m)
		m->count++;
	else {
		nm = realloc(v->mounts, (v->n_mounts + 1) * sizeof(*nm));
		if (!nm) {
			pthread_mutex_unlock(&v->data_lock);
			free(mpath);
			rc = errbuf_set(e, -ENOMEM, "out of memory");
			goto out;
		}
		v->mounts = nm;
		m = &v->mounts[v->n_mounts++];
		memset(m, 0, sizeof(*m));
		snprintf(m->name, sizeof(m->name), "%s", name);
		snprintf(m->container, sizeof(m->container), "%s", n->container);
		m->count = 1;
	}
	free(m->path);
	m->path = mpath;
	pthread_mutex_unlock(&v->data_lock);
	agent_volume_save(r, v, NULL);
	snprintf(ret_path, len, "%s", path);
	rc = 0;
out:
	agent_progress_op_end(r->progress, n->key, rc, e->msg);
	agent_volume_unlock(r, v);
	return rc;
}

int agent_volumes_unmount(struct agent_volumes *r, const struct agent_name *n, const char *name,
			  struct errbuf *e)
{
	struct agent_volume *v = NULL;
	struct agent_mount *m;
	int rc;

	rc = agent_volume_lock(r, n->key, &v, e);
	if (rc == -ENOENT)
		return errbuf_set(e, -ENOENT, "Volume '%s' not found", name);
	if (rc < 0)
		return rc;
	agent_progress_op_begin(r->progress, n->key, "unmount");
	m = agent_volume_find_mount(v, name);
	if (!m) {
		rc = errbuf_set(e, -ENOENT, "Volume '%s' not found (not mounted)", name);
		goto out;
	}
	if (m->count > 1) {
		pthread_mutex_lock(&v->data_lock);
		m->count--;
		pthread_mutex_unlock(&v->data_lock);
		agent_volume_save(r, v, NULL);
		goto out;
	}
	if (agent_volume_container_users(v, m->container) == 1) {
		agent_volume_set_step(v, "unbind");
		agent_test_crash_point(r->test, STEP_UNBIND, 0);
		rc = r->ops->unbind(r->env, &v->av, m->container, e);
		agent_test_crash_point(r->test, STEP_UNBIND, 1);
		if (rc < 0) {
			errbuf_prefix(e, rc, "unmounting volume '%s' for container '%s' failed",
				      n->key, m->container);
			goto out;
		}
	}
	pthread_mutex_lock(&v->data_lock);
	agent_volume_drop_mount(v, (size_t)(m - v->mounts));
	pthread_mutex_unlock(&v->data_lock);
	if (v->n_mounts > 0)
		agent_volume_save(r, v, NULL);
	else if (!v->attached)
		agent_volume_forget(r, v);
	if (v->n_mounts == 0 && v->attached) {
		rc = agent_volume_down(r, v, 0, e);
		if (rc < 0) {
			/* The name is gone either way (its container is unbound); the volume
			 * stays attached for attachctl or the next Mount to deal with. */
			errbuf_prefix(e, rc, "detaching volume '%s' failed", n->key);
			goto out;
		}
		pthread_mutex_lock(&v->data_lock);
		v->attached = 0;
		pthread_mutex_unlock(&v->data_lock);
	}
out:
	agent_progress_op_end(r->progress, n->key, rc, e->msg);
	agent_volume_unlock(r, v);
	return rc;
}

int agent_volumes_remove(struct agent_volumes *r, const struct agent_name *n, const char *name,
			 struct errbuf *e)
{
	struct agent_volume *v = NULL;
	int rc;

	rc = agent_volume_lock(r, n->key, &v, e);
	if (rc == -ENOENT)
		return errbuf_set(e, -ENOENT, "Volume '%s' not found", name);
	if (rc < 0)
		return rc;
	if (v->n_mounts > 0) {
		rc = errbuf_set(e, -EBUSY, "volume '%s' is in use (%zu mounted name%s)", n->key,
				v->n_mounts, v->n_mounts == 1 ? "" : "s");
		agent_volume_unlock(r, v);
		return rc;
	}
	if (v->attached || has_leftovers(v)) {
		rc = agent_volume_down(r, v, 0, e);
		if (rc < 0) {
			errbuf_prefix(e, rc, "detaching volume '%s' failed", n->key);
			agent_volume_unlock(r, v);
			return rc;
		}
		pthread_mutex_lock(&v->data_lock);
		v->attached = 0;
		pthread_mutex_unlock(&v->data_lock);
	}
	pthread_mutex_lock(&v->data_lock);
	v->removed = 1;
	pthread_mutex_unlock(&v->data_lock);
	unlist(r, v);
	agent_volume_unlock(r, v);
	return 0;
}

int agent_volumes_get(struct agent_volumes *r, const struct agent_name *n, const char *name,
		      struct agent_mount_info *ret, struct errbuf *e)
{
	struct agent_volume *v = volume_get(r, n->key);
	struct agent_mount_info info;
	const struct agent_mount *m;

	if (!v)
		return errbuf_set(e, -ENOENT, "Volume '%s' not found", name);
	memset(&info, 0, sizeof(info));
	snprintf(info.name, sizeof(info.name), "%s", name);
	pthread_mutex_lock(&v->data_lock);
	m = v->removed ? NULL : agent_volume_find_mount(v, name);
	if (m) {
		snprintf(info.mountpoint, sizeof(info.mountpoint), "%s", m->path);
		info.count = m->count;
	}
	pthread_mutex_unlock(&v->data_lock);
	volume_put(r, v);
	*ret = info;
	return 0;
}

static int info_cmp(const void *a, const void *b)
{
	return strcmp(((const struct agent_mount_info *)a)->name,
		      ((const struct agent_mount_info *)b)->name);
}

int agent_volumes_list(struct agent_volumes *r, struct agent_mount_info **ret, size_t *ret_n)
{
	struct agent_mount_info *out = NULL;
	size_t n = 0, cap = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		struct agent_volume *v = r->vols[i];

		pthread_mutex_lock(&v->data_lock);
		for (size_t j = 0; j < v->n_mounts; j++) {
			const struct agent_mount *m = &v->mounts[j];

			if (n == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct agent_mount_info *no = realloc(out, nc * sizeof(*no));

				if (!no) {
					pthread_mutex_unlock(&v->data_lock);
					pthread_mutex_unlock(&r->lock);
					free(out);
					return -ENOMEM;
				}
				out = no;
				cap = nc;
			}
			memset(&out[n], 0, sizeof(out[n]));
			snprintf(out[n].name, sizeof(out[n].name), "%s", m->name);
			snprintf(out[n].mountpoint, sizeof(out[n].mountpoint), "%s", m->path);
			out[n].count = m->count;
			n++;
		}
		pthread_mutex_unlock(&v->data_lock);
	}
	pthread_mutex_unlock(&r->lock);
	if (n > 1)
		qsort(out, n, sizeof(*out), info_cmp);
	*ret = out;
	*ret_n = n;
	return 0;
}
