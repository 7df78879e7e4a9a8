/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "tests/lib/fakedriver.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fakedriver_state st;
/* Volumes with a call in flight (by address). */
static const void *busy[64];
static int in_flight, pipes_in_flight;
/* Volume keys that resolve to one fake device (fakedriver_same_device). */
static char same_dev_keys[2][128];
static int same_number_only; /* fakedriver_same_number: each has its own WWID */
static int check_fail;
static int fail_leaves;		/* a failed up leaves a half-done attachment (reached dm-map) */
static char multipath_key[128]; /* fakedriver_set_multipath */

void fakedriver_set_leftovers(int on)
{
	pthread_mutex_lock(&lock);
	fail_leaves = on;
	pthread_mutex_unlock(&lock);
}

void fakedriver_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(&st, 0, sizeof(st));
	pipes_in_flight = 0;
	memset(same_dev_keys, 0, sizeof(same_dev_keys));
	same_number_only = 0;
	check_fail = 0;
	fail_leaves = 0;
	pthread_mutex_unlock(&lock);
}

struct fakedriver_state fakedriver_get(void)
{
	struct fakedriver_state s;

	pthread_mutex_lock(&lock);
	s = st;
	pthread_mutex_unlock(&lock);
	return s;
}

void fakedriver_set(int fail_up, int fail_bind, int fail_unbind, int fail_down, int delay_ms)
{
	pthread_mutex_lock(&lock);
	st.fail_up = fail_up;
	st.fail_bind = fail_bind;
	st.fail_unbind = fail_unbind;
	st.fail_down = fail_down;
	st.delay_ms = delay_ms;
	pthread_mutex_unlock(&lock);
}

/* Enter a call for v: count it, flag overlaps, return the failure to inject. */
static int enter(const struct attach_volume *v, int *counter, int fail, int *ret_delay)
{
	int r;

	pthread_mutex_lock(&lock);
	(*counter)++;
	for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
		if (busy[i] == v)
			st.overlaps++;
	for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
		if (!busy[i]) {
			busy[i] = v;
			break;
		}
	if (++in_flight > st.max_parallel)
		st.max_parallel = in_flight;
	if ((counter == &st.up || counter == &st.down) && ++pipes_in_flight > st.max_parallel_up)
		st.max_parallel_up = pipes_in_flight;
	r = fail;
	*ret_delay = st.delay_ms;
	pthread_mutex_unlock(&lock);
	if (*ret_delay > 0) {
		struct timespec ts = {.tv_sec = *ret_delay / 1000,
				      .tv_nsec = (long)(*ret_delay % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return r;
}

static void leave_as(const struct attach_volume *v, int pipeline)
{
	pthread_mutex_lock(&lock);
	if (pipeline)
		pipes_in_flight--;
	for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++)
		if (busy[i] == v) {
			busy[i] = NULL;
			break;
		}
	in_flight--;
	pthread_mutex_unlock(&lock);
}

static void leave(const struct attach_volume *v)
{
	leave_as(v, 0);
}

void fakedriver_same_number(const char *key1, const char *key2)
{
	fakedriver_same_device(key1, key2);
	pthread_mutex_lock(&lock);
	same_number_only = 1;
	pthread_mutex_unlock(&lock);
}

void fakedriver_set_multipath(const char *key)
{
	pthread_mutex_lock(&lock);
	snprintf(multipath_key, sizeof(multipath_key), "%s", key ? key : "");
	pthread_mutex_unlock(&lock);
}

void fakedriver_same_device(const char *key1, const char *key2)
{
	pthread_mutex_lock(&lock);
	same_number_only = 0;
	snprintf(same_dev_keys[0], sizeof(same_dev_keys[0]), "%s", key1 ? key1 : "");
	snprintf(same_dev_keys[1], sizeof(same_dev_keys[1]), "%s", key2 ? key2 : "");
	pthread_mutex_unlock(&lock);
}

/* Every volume is its own fake device 7:N, except the pair named above (7:999). */
static unsigned fake_minor(const char *key)
{
	unsigned h = 1;

	pthread_mutex_lock(&lock);
	if (same_dev_keys[0][0] &&
	    (!strcmp(key, same_dev_keys[0]) || !strcmp(key, same_dev_keys[1])))
		h = 999;
	pthread_mutex_unlock(&lock);
	if (h == 999)
		return h;
	for (const char *p = key; *p; p++)
		h = h * 31 + (unsigned char)*p;
	return 1000 + h % 100000;
}

static int fake_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	char path[4200];
	int delay, r = enter(v, &st.up, st.fail_up, &delay);

	if (r < 0) {
		errbuf_set(e, r,
			   "fake: LUN 3 not found on iqn.2026-01.test:t1; target reports LUNs 0,1");
		pthread_mutex_lock(&lock);
		if (fail_leaves)
			v->reached = STEP_DM; /* and its rollback failed */
		pthread_mutex_unlock(&lock);
		goto out;
	}
	/* The pipeline claims the device once it is found (attach_env.claim). */
	if (env->claim) {
		int same = 0;

		v->dev.major = 7;
		v->dev.minor = fake_minor(v->key);
		snprintf(v->dev.devnode, sizeof(v->dev.devnode), "/dev/fake%u", v->dev.minor);
		pthread_mutex_lock(&lock);
		if (same_number_only)
			snprintf(v->ident.wwid, sizeof(v->ident.wwid), "fake.%s", v->key);
		pthread_mutex_unlock(&lock);
		r = env->claim(env, v, &same, e);
		if (r < 0)
			goto out;
	}
	snprintf(path, sizeof(path), "%s/.staging/%s", env->mount_root, v->key);
	r = mkdir_p(path, 0755);
	if (r < 0)
		errbuf_set(e, r, "fake: mkdir %s: %s", path, strerror(-r));
	else {
		snprintf(v->staging, sizeof(v->staging), "%s", path);
		v->reached = STEP_MOUNT;
		pthread_mutex_lock(&lock);
		v->multipath = multipath_key[0] && !strcmp(v->key, multipath_key);
		pthread_mutex_unlock(&lock);
	}
out:
	leave_as(v, 1);
	return r;
}

static int fake_down(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e)
{
	char path[4200];
	int delay, r = enter(v, &st.down, st.fail_down, &delay);

	if (r < 0) {
		errbuf_set(e, r, "fake: device busy");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/.staging/%s", env->mount_root, v->key);
	if (rmdir(path) < 0 && errno != ENOENT)
		r = errbuf_set(e, -errno, "fake: rmdir %s: %s", path, strerror(errno));
	else
		v->reached = STEP_NONE;
out:
	leave_as(v, 1);
	return r;
}

static int fake_bind(struct attach_env *env, struct attach_volume *v, const char *container,
		     char *ret_path, size_t n, struct errbuf *e)
{
	char path[4200];
	int delay, r = enter(v, &st.bind, st.fail_bind, &delay);

	if (r < 0) {
		errbuf_set(e, r, "fake: bind mount failed");
		goto out;
	}
	if (v->reached != STEP_MOUNT) {
		r = errbuf_set(e, -ENOENT, "fake: volume %s is not staged", v->key);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", env->mount_root, v->key, container);
	r = mkdir_p(path, 0755);
	if (r < 0)
		errbuf_set(e, r, "fake: mkdir %s: %s", path, strerror(-r));
	else
		snprintf(ret_path, n, "%s", path);
out:
	leave(v);
	return r;
}

static int fake_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
		       struct errbuf *e)
{
	char path[4200];
	int delay, r = enter(v, &st.unbind, st.fail_unbind, &delay);

	if (r < 0) {
		errbuf_set(e, r, "fake: target is busy");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", env->mount_root, v->key, container);
	if (rmdir(path) < 0 && errno != ENOENT)
		r = errbuf_set(e, -errno, "fake: rmdir %s: %s", path, strerror(errno));
	else {
		snprintf(path, sizeof(path), "%s/%s", env->mount_root, v->key);
		(void)rmdir(path); /* the volume's directory goes with its last container */
	}
out:
	leave(v);
	return r;
}

void fakedriver_set_check(int fail)
{
	pthread_mutex_lock(&lock);
	check_fail = fail;
	pthread_mutex_unlock(&lock);
}

static int fake_check(struct attach_env *env, struct errbuf *e)
{
	int r;

	(void)env;
	pthread_mutex_lock(&lock);
	r = check_fail;
	pthread_mutex_unlock(&lock);
	return r < 0 ? errbuf_set(e, r, "fake: device-mapper not available: load dm-mod") : 0;
}

const struct agent_driver_ops fakedriver_ops = {
    .up = fake_up,
    .down = fake_down,
    .bind = fake_bind,
    .unbind = fake_unbind,
    .check = fake_check,
};
