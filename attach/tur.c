/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TEST UNIT READY on many paths at once, each on a thread of its own, with one deadline for
 * the round (like multipath-tools' async tur checker). A TUR can block far past its SG_IO
 * timeout (the SCSI error handler, a session in recovery), so the caller never joins it:
 * a job still running at the deadline counts as failed and stays in a process-wide list
 * until its thread ends, and no second TUR is started on that device meanwhile (a stuck
 * path would otherwise collect one blocked thread per round).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attach/internal.h"
#include "lib/macro.h"

struct tur_job {
	struct tur_job *next;
	struct sys sys;
	char devnode[192];
	int timeout_ms;
	int64_t started_ms;
	int done;
	int r;
	int sense_key;
	unsigned refs; /* the thread + the round that started it */
};

static pthread_mutex_t tur_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tur_cond;
static pthread_once_t tur_once = PTHREAD_ONCE_INIT;
static struct tur_job *tur_running; /* jobs whose thread has not ended */

static void tur_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&tur_cond, &a);
	pthread_condattr_destroy(&a);
}

/* Under tur_lock. */
static void job_unref(struct tur_job *j)
{
	if (--j->refs == 0)
		free(j);
}

static void *tur_thread(void *arg)
{
	struct tur_job *j = arg;
	int r = 0, key = -1;

	/* UNIT ATTENTION reports an event (reset, ALUA state change), not a broken path: ask
	 * again, as sg_turs and multipath-tools do. */
	for (int tries = 0; tries < 3; tries++) {
		key = -1;
		r = j->sys.ops->scsi_tur(&j->sys, j->devnode, j->timeout_ms, &key);
		if (!(r == -EIO && key == 6))
			break;
	}
	pthread_mutex_lock(&tur_lock);
	j->r = r;
	j->sense_key = key;
	j->done = 1;
	for (struct tur_job **p = &tur_running; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	pthread_cond_broadcast(&tur_cond);
	job_unref(j);
	pthread_mutex_unlock(&tur_lock);
	return NULL;
}

static const char *sense_key_name(int k)
{
	static const char *const names[16] = {
	    [0] = "NO SENSE",	    [1] = "RECOVERED ERROR", [2] = "NOT READY",
	    [3] = "MEDIUM ERROR",   [4] = "HARDWARE ERROR",  [5] = "ILLEGAL REQUEST",
	    [6] = "UNIT ATTENTION", [7] = "DATA PROTECT",    [11] = "ABORTED COMMAND",
	};

	return k >= 0 && k < 16 && names[k] ? names[k] : "unknown";
}

void attach_tur_describe(int r, int sense_key, char *buf, size_t n)
{
	switch (r) {
	case 0:
		snprintf(buf, n, "TUR ok");
		break;
	case -EIO:
		if (sense_key >= 0)
			snprintf(buf, n, "TUR: check condition, sense key %d (%s)", sense_key,
				 sense_key_name(sense_key));
		else
			snprintf(buf, n, "TUR: check condition without sense data");
		break;
	case -ETIMEDOUT:
		snprintf(buf, n, "TUR: timed out");
		break;
	case -EHOSTDOWN:
		snprintf(buf, n, "TUR: transport failed the command");
		break;
	case -ENXIO:
		snprintf(buf, n, "TUR: device gone");
		break;
	case -EBUSY:
		snprintf(buf, n, "TUR: target busy");
		break;
	default:
		snprintf(buf, n, "TUR: %s", strerror(-r));
	}
}

void attach_tur_many(const struct sys *s, struct attach_tur_req *reqs, size_t n, int timeout_ms)
{
	struct tur_job *jobs[BACKEND_MAX_PATHS] = {0};
	int64_t now = attach_now_ms();
	/* The command has timeout_ms; give the kernel a little beyond it to report that before
	 * the round calls the TUR stuck. */
	int64_t deadline = now + timeout_ms + (timeout_ms / 4 > 50 ? timeout_ms / 4 : 50);
	struct timespec ts;

	assert(n <= BACKEND_MAX_PATHS);
	pthread_once(&tur_once, tur_init);
	pthread_mutex_lock(&tur_lock);
	for (size_t i = 0; i < n; i++) {
		struct tur_job *j;
		pthread_attr_t a;
		pthread_t t;
		int r;

		reqs[i].sense_key = -1;
		for (j = tur_running; j; j = j->next)
			if (streq(j->devnode, reqs[i].devnode))
				break;
		if (j) {
			reqs[i].r = -ETIMEDOUT;
			snprintf(reqs[i].detail, sizeof(reqs[i].detail),
				 "TUR: the previous one is still running after %" PRId64 " ms",
				 now - j->started_ms);
			continue;
		}
		if (!s->ops->scsi_tur) {
			reqs[i].r = -EOPNOTSUPP;
			snprintf(reqs[i].detail, sizeof(reqs[i].detail), "TUR: not supported here");
			continue;
		}
		j = calloc(1, sizeof(*j));
		if (!j) {
			reqs[i].r = -ENOMEM;
			attach_tur_describe(-ENOMEM, -1, reqs[i].detail, sizeof(reqs[i].detail));
			continue;
		}
		j->sys = *s;
		snprintf(j->devnode, sizeof(j->devnode), "%s", reqs[i].devnode);
		j->timeout_ms = timeout_ms;
		j->started_ms = now;
		j->refs = 2;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&a, 64 * 1024);
		r = pthread_create(&t, &a, tur_thread, j);
		pthread_attr_destroy(&a);
		if (r != 0) {
			free(j);
			reqs[i].r = -r;
			attach_tur_describe(-r, -1, reqs[i].detail, sizeof(reqs[i].detail));
			continue;
		}
		j->next = tur_running;
		tur_running = j;
		jobs[i] = j;
	}
	ts.tv_sec = deadline / 1000;
	ts.tv_nsec = (deadline % 1000) * 1000000L;
	for (;;) {
		size_t pending = 0;

		for (size_t i = 0; i < n; i++)
			pending += jobs[i] && !jobs[i]->done;
		if (!pending || pthread_cond_timedwait(&tur_cond, &tur_lock, &ts) == ETIMEDOUT)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		struct tur_job *j = jobs[i];

		if (!j)
			continue;
		if (j->done) {
			reqs[i].r = j->r;
			reqs[i].sense_key = j->sense_key;
			attach_tur_describe(j->r, j->sense_key, reqs[i].detail,
					    sizeof(reqs[i].detail));
		} else {
			reqs[i].r = -ETIMEDOUT;
			snprintf(reqs[i].detail, sizeof(reqs[i].detail),
				 "TUR: no answer within %d ms", timeout_ms);
		}
		job_unref(j);
	}
	pthread_mutex_unlock(&tur_lock);
}

size_t attach_tur_running(void)
{
	size_t n = 0;

	pthread_mutex_lock(&tur_lock);
	for (struct tur_job *j = tur_running; j; j = j->next)
		n++;
	pthread_mutex_unlock(&tur_lock);
	return n;
}
