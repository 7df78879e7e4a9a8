/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/progress.h"
#include "lib/macro.h"

struct op {
	char key[ATTACH_KEY_MAX + 1];
	char op[16];
	int implicit;	/* opened by a step outside any operation: its end closes it */
	unsigned depth; /* operations begun inside this one (a Mount's attach and bind) */
	int64_t started_ms;
	enum attach_step step; /* STEP_NONE between steps */
	int64_t step_started_ms;
	struct attach_timing done[ATTACH_MAX_STEPS];
	unsigned n_done;
};

struct agent_progress_watcher {
	struct agent_progress_watcher *next;
	char key[ATTACH_KEY_MAX + 1]; /* "" = every volume */
	int efd;
	char **q; /* ring of AGENT_PROGRESS_QUEUE_MAX lines */
	size_t head, n;
	unsigned lost; /* > 0: overflowed, the overflow line is all that is left to send */
};

struct agent_progress {
	pthread_mutex_t lock;
	struct op *ops;
	size_t n, cap;
	struct agent_progress_watcher *watchers;
	int64_t (*now_ms)(void);
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct agent_progress *agent_progress_new(int64_t (*now_ms)(void))
{
	struct agent_progress *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->now_ms = now_ms ? now_ms : mono_ms;
	return p;
}

static void watcher_free(struct agent_progress_watcher *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(w->q[(w->head + i) % AGENT_PROGRESS_QUEUE_MAX]);
	free(w->q);
	if (w->efd >= 0)
		close(w->efd);
	free(w);
}

struct agent_progress *agent_progress_free(struct agent_progress *p)
{
	if (!p)
		return NULL;
	while (p->watchers) {
		struct agent_progress_watcher *w = p->watchers;

		p->watchers = w->next;
		watcher_free(w);
	}
	free(p->ops);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

static json_t *result_json(int r)
{
	return r == 0 ? json_string("ok") : agent_json_string(strerrorname_np(-r) ?: "error");
}

/* Lock held. */
static struct op *find(struct agent_progress *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (streq(p->ops[i].key, key))
			return &p->ops[i];
	return NULL;
}

/* Lock held: operations in flight that a watcher of key ("" = all) follows. */
static unsigned in_flight(const struct agent_progress *p, const char *key)
{
	unsigned n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += !key[0] || streq(p->ops[i].key, key);
	return n;
}

/* Lock held. Queue line for w; a full queue drops everything queued for one overflow line. */
static void push_line(struct agent_progress_watcher *w, const char *line)
{
	uint64_t one = 1;
	char *copy;

	if (w->lost) {
		w->lost++;
		return;
	}
	copy = w->n < AGENT_PROGRESS_QUEUE_MAX ? strdup(line) : NULL;
	if (!copy) {
		w->lost = (unsigned)w->n + 1;
		for (size_t i = 0; i < w->n; i++)
			free(w->q[(w->head + i) % AGENT_PROGRESS_QUEUE_MAX]);
		w->n = 0;
	} else {
		w->q[(w->head + w->n) % AGENT_PROGRESS_QUEUE_MAX] = copy;
		w->n++;
	}
	/* Only fails when the counter would overflow: it is readable then anyway. */
	(void)!write(w->efd, &one, sizeof(one));
}

/* Lock held. Sends ev (consumed) to every watcher of key, with "in_flight" added for each
 * watcher when with_count. */
static void broadcast(struct agent_progress *p, const char *key, json_t *ev, int with_count)
{
	if (!ev)
		return;
	for (struct agent_progress_watcher *w = p->watchers; w; w = w->next) {
		char *line;

		if (w->key[0] && !streq(w->key, key))
			continue;
		if (with_count)
			json_object_set_new(ev, "in_flight", json_integer(in_flight(p, w->key)));
		line = json_dumps(ev, JSON_COMPACT);
		if (line)
			push_line(w, line);
		free(line);
	}
	json_decref(ev);
}

/* Lock held. Removes o (ending it) and tells the watchers. */
static void end_op(struct agent_progress *p, struct op *o, int result, const char *error)
{
	int64_t now = p->now_ms();
	char key[sizeof(o->key)];
	json_t *ev;

	if (o->step != STEP_NONE) {
		broadcast(p, o->key,
			  json_pack("{s:s,s:s,s:s,s:s,s:f,s:o}", "event", "step", "volume", o->key,
				    "op", o->op, "step", attach_step_name(o->step), "ms",
				    (double)(now - o->step_started_ms), "result",
				    result_json(result)),
			  0);
	}
	ev = json_pack("{s:s,s:s,s:s,s:f,s:o}", "event", "end", "volume", o->key, "op", o->op, "ms",
		       (double)(now - o->started_ms), "result", result_json(result));
	if (ev && error && *error)
		json_object_set_new(ev, result ? "error" : "note", agent_json_string(error));
	snprintf(key, sizeof(key), "%s", o->key);
	*o = p->ops[--p->n];
	broadcast(p, key, ev, 1);
}

/* Lock held. NULL on ENOMEM. */
static struct op *begin_op(struct agent_progress *p, const char *key, const char *op, int implicit)
{
	struct op *o = find(p, key);

	if (o)
		end_op(p, o, 0, NULL);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct op *no = realloc(p->ops, cap * sizeof(*no));

		if (!no)
			return NULL;
		p->ops = no;
		p->cap = cap;
	}
	o = &p->ops[p->n++];
	memset(o, 0, sizeof(*o));
	snprintf(o->key, sizeof(o->key), "%s", key);
	snprintf(o->op, sizeof(o->op), "%s", op);
	o->implicit = implicit;
	o->started_ms = p->now_ms();
	broadcast(p, key, json_pack("{s:s,s:s,s:s}", "event", "begin", "volume", key, "op", op), 0);
	return o;
}

void agent_progress_op_begin(struct agent_progress *p, const char *key, const char *op)
{
	struct op *o;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	o = find(p, key);
	if (o && !o->implicit)
		o->depth++; /* part of the operation in flight: its steps are the outer one's */
	else
		(void)begin_op(p, key, op, 0);
	pthread_mutex_unlock(&p->lock);
}

void agent_progress_op_end(struct agent_progress *p, const char *key, int result, const char *error)
{
	struct op *o;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	o = find(p, key);
	if (o && o->depth > 0)
		o->depth--;
	else if (o)
		end_op(p, o, result, error);
	pthread_mutex_unlock(&p->lock);
}

void agent_progress_step(struct agent_progress *p, const char *key, enum attach_step step,
			 const struct attach_timing *t)
{
	struct op *o;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	o = find(p, key);
	if (!o)
		o = begin_op(p, key, attach_step_name(step), 1);
	if (!o)
		goto out;
	if (!t) {
		o->step = step;
		o->step_started_ms = p->now_ms();
		broadcast(p, key,
			  json_pack("{s:s,s:s,s:s,s:s}", "event", "step-start", "volume", key, "op",
				    o->op, "step", attach_step_name(step)),
			  0);
		goto out;
	}
	o->step = STEP_NONE;
	if (o->n_done < ATTACH_MAX_STEPS)
		o->done[o->n_done++] = *t;
	broadcast(p, key,
		  json_pack("{s:s,s:s,s:s,s:s,s:f,s:o}", "event", "step", "volume", key, "op",
			    o->op, "step", attach_step_name(step), "ms", (double)t->usec / 1000.0,
			    "result", result_json(t->result)),
		  0);
	if (o->implicit)
		end_op(p, o, t->result, NULL);
out:
	pthread_mutex_unlock(&p->lock);
}

void agent_progress_hook(struct attach_env *env, const struct attach_volume *v,
			 enum attach_step step, const struct attach_timing *t)
{
	agent_progress_step(env->progress_userdata, v->key, step, t);
}

/* Lock held. */
static json_t *op_json(const struct agent_progress *p, const struct op *o)
{
	int64_t now = p->now_ms();
	json_t *steps = json_array();

	for (unsigned i = 0; steps && i < o->n_done; i++)
		json_array_append_new(steps, json_pack("{s:s,s:f,s:o}", "step",
						       attach_step_name(o->done[i].step), "ms",
						       (double)o->done[i].usec / 1000.0, "result",
						       result_json(o->done[i].result)));
	return json_pack(
	    "{s:s,s:s,s:f,s:o,s:o,s:o}", "volume", o->key, "op", o->op, "op_ms",
	    (double)(now - o->started_ms), "step",
	    o->step != STEP_NONE ? json_string(attach_step_name(o->step)) : json_null(), "step_ms",
	    o->step != STEP_NONE ? json_real((double)(now - o->step_started_ms)) : json_null(),
	    "steps", steps);
}

json_t *agent_progress_get(struct agent_progress *p, const char *key)
{
	json_t *j = NULL;
	struct op *o;

	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	o = find(p, key);
	if (o) {
		j = op_json(p, o);
		if (j)
			json_object_del(j, "volume");
	}
	pthread_mutex_unlock(&p->lock);
	return j;
}

int agent_progress_watch(struct agent_progress *p, const char *key,
			 struct agent_progress_watcher **ret)
{
	struct agent_progress_watcher *w;
	json_t *ev;

	if (!p)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->q = calloc(AGENT_PROGRESS_QUEUE_MAX, sizeof(*w->q));
	if (w->efd < 0 || !w->q) {
		int r = w->efd < 0 ? negative_errno() : -ENOMEM;

		watcher_free(w);
		return r;
	}
	snprintf(w->key, sizeof(w->key), "%s", key ? key : "");
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->n; i++) {
		char *line;

		if (w->key[0] && !streq(w->key, p->ops[i].key))
			continue;
		ev = op_json(p, &p->ops[i]);
		if (ev)
			json_object_set_new(ev, "event", json_string("in-flight"));
		line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
		json_decref(ev);
		if (line)
			push_line(w, line);
		free(line);
	}
	ev = json_pack("{s:s,s:o,s:I}", "event", "watching", "volume",
		       w->key[0] ? json_string(w->key) : json_null(), "in_flight",
		       (json_int_t)in_flight(p, w->key));
	{
		char *line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;

		if (line)
			push_line(w, line);
		free(line);
	}
	json_decref(ev);
	w->next = p->watchers;
	p->watchers = w;
	pthread_mutex_unlock(&p->lock);
	*ret = w;
	return 0;
}

void agent_progress_unwatch(struct agent_progress *p, struct agent_progress_watcher *w)
{
	if (!p || !w)
		return;
	pthread_mutex_lock(&p->lock);
	for (struct agent_progress_watcher **pp = &p->watchers; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&p->lock);
	watcher_free(w);
}

char *agent_progress_watcher_next(struct agent_progress *p, struct agent_progress_watcher *w,
				  int *ret_last)
{
	uint64_t count;
	char *line = NULL;

	*ret_last = 0;
	pthread_mutex_lock(&p->lock);
	/* Cleared before the queue is read: a line queued after this makes it readable again. */
	(void)!read(w->efd, &count, sizeof(count));
	if (w->n > 0) {
		line = w->q[w->head];
		w->q[w->head] = NULL;
		w->head = (w->head + 1) % AGENT_PROGRESS_QUEUE_MAX;
		w->n--;
	} else if (w->lost) {
		if (asprintf(&line, "{\"event\":\"overflow\",\"lost\":%u}", w->lost) < 0)
			line = NULL;
		*ret_last = 1;
	}
	if (w->n > 0 || (w->lost && !*ret_last)) {
		uint64_t one = 1;

		(void)!write(w->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&p->lock);
	return line;
}

int agent_progress_watcher_fd(const struct agent_progress_watcher *w)
{
	return w->efd;
}
