/* SPDX-License-Identifier: Apache-2.0 */
/* The progress hub (agent/progress.h): per-volume bookkeeping of the operation in flight,
 * the events watchers get, in order, filtered by volume, and bounded queues. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/progress.h"

static int64_t clock_ms;

static int64_t fake_now(void)
{
	return clock_ms;
}

static struct attach_timing timing(enum attach_step s, int64_t ms, int r)
{
	return (struct attach_timing){.step = s, .usec = ms * 1000, .result = r};
}

static int readable(struct agent_progress_watcher *w)
{
	struct pollfd p = {.fd = agent_progress_watcher_fd(w), .events = POLLIN};

	return poll(&p, 1, 0) == 1;
}

/* The next line, which must be want (compact JSON as the hub writes it). */
static void expect_line(struct agent_progress *p, struct agent_progress_watcher *w,
			const char *want)
{
	int last = 0;
	char *line = agent_progress_watcher_next(p, w, &last);

	if (!line)
		fail_msg("no line; want %s", want);
	if (strcmp(line, want) != 0)
		fail_msg("got  %s\nwant %s", line, want);
	assert_false(last);
	free(line);
}

static void expect_empty(struct agent_progress *p, struct agent_progress_watcher *w)
{
	int last = 0;
	char *line = agent_progress_watcher_next(p, w, &last);

	if (line)
		fail_msg("unexpected line %s", line);
	assert_false(readable(w));
}

static char *dumps(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(j);
	return s;
}

static void test_bookkeeping(void **state)
{
	struct agent_progress *p = agent_progress_new(fake_now);
	struct attach_timing t;
	char *s;

	clock_ms = 1000;
	assert_null(agent_progress_get(p, "v1"));
	agent_progress_op_begin(p, "v1", "attach");
	agent_progress_step(p, "v1", STEP_PLAN, NULL);
	clock_ms = 1005;
	t = timing(STEP_PLAN, 5, 0);
	agent_progress_step(p, "v1", STEP_PLAN, &t);
	agent_progress_step(p, "v1", STEP_MKFS, NULL);
	clock_ms = 13405;
	s = dumps(agent_progress_get(p, "v1"));
	assert_string_equal(
	    s, "{\"op\":\"attach\",\"op_ms\":12405.0,\"step\":\"mkfs\",\"step_ms\":"
	       "12400.0,\"steps\":[{\"ms\":5.0,\"result\":\"ok\",\"step\":\"plan\"}]}");
	free(s);
	/* Another volume's state is its own. */
	assert_null(agent_progress_get(p, "v2"));
	t = timing(STEP_MKFS, 12400, 0);
	agent_progress_step(p, "v1", STEP_MKFS, &t);
	s = dumps(agent_progress_get(p, "v1"));
	assert_non_null(strstr(s, "\"step\":null,\"step_ms\":null"));
	free(s);
	agent_progress_op_end(p, "v1", 0, NULL);
	assert_null(agent_progress_get(p, "v1"));
	/* An operation inside another (a Mount's attach and bind) belongs to it. */
	agent_progress_op_begin(p, "v1", "mount");
	agent_progress_op_begin(p, "v1", "attach");
	agent_progress_op_end(p, "v1", 0, NULL);
	agent_progress_op_begin(p, "v1", "bind");
	s = dumps(agent_progress_get(p, "v1"));
	assert_non_null(strstr(s, "\"op\":\"mount\""));
	free(s);
	agent_progress_op_end(p, "v1", 0, NULL);
	s = dumps(agent_progress_get(p, "v1"));
	assert_non_null(s);
	free(s);
	agent_progress_op_end(p, "v1", 0, NULL);
	assert_null(agent_progress_get(p, "v1"));
	/* Ending what is not in flight changes nothing. */
	agent_progress_op_end(p, "v1", -EIO, "x");
	assert_null(agent_progress_get(p, "v1"));
	agent_progress_free(p);
}

static void test_watch_events(void **state)
{
	struct agent_progress *p = agent_progress_new(fake_now);
	struct agent_progress_watcher *all, *v2;
	struct attach_timing t;

	clock_ms = 0;
	agent_progress_op_begin(p, "v1", "detach");
	agent_progress_step(p, "v1", STEP_UMOUNT, NULL);
	clock_ms = 300;
	/* A watcher that comes in late first learns what is in flight. */
	assert_int_equal(agent_progress_watch(p, NULL, &all), 0);
	assert_int_equal(agent_progress_watch(p, "v2", &v2), 0);
	assert_true(readable(all));
	expect_line(p, all,
		    "{\"volume\":\"v1\",\"op\":\"detach\",\"op_ms\":300.0,\"step\":\"umount\","
		    "\"step_ms\":300.0,\"steps\":[],\"event\":\"in-flight\"}");
	expect_line(p, all, "{\"event\":\"watching\",\"volume\":null,\"in_flight\":1}");
	expect_empty(p, all);
	expect_line(p, v2, "{\"event\":\"watching\",\"volume\":\"v2\",\"in_flight\":0}");
	expect_empty(p, v2);

	t = timing(STEP_UMOUNT, 300, 0);
	agent_progress_step(p, "v1", STEP_UMOUNT, &t);
	assert_true(readable(all));
	assert_false(readable(v2));
	agent_progress_step(p, "v1", STEP_DM_REMOVE, NULL);
	clock_ms = 500;
	/* The operation fails inside a step: the step is reported ended with its result. */
	agent_progress_op_end(p, "v1", -EBUSY, "dm-remove: device busy");
	expect_line(p, all,
		    "{\"event\":\"step\",\"volume\":\"v1\",\"op\":\"detach\",\"step\":\"umount\","
		    "\"ms\":300.0,\"result\":\"ok\"}");
	expect_line(p, all,
		    "{\"event\":\"step-start\",\"volume\":\"v1\",\"op\":\"detach\",\"step\":"
		    "\"dm-remove\"}");
	expect_line(
	    p, all,
	    "{\"event\":\"step\",\"volume\":\"v1\",\"op\":\"detach\",\"step\":\"dm-remove\","
	    "\"ms\":200.0,\"result\":\"EBUSY\"}");
	expect_line(
	    p, all,
	    "{\"event\":\"end\",\"volume\":\"v1\",\"op\":\"detach\",\"ms\":500.0,\"result\":"
	    "\"EBUSY\",\"error\":\"dm-remove: device busy\",\"in_flight\":0}");
	expect_empty(p, all);
	expect_empty(p, v2);

	/* A step outside any operation (a bind of an attached volume) is one of its own. */
	t = timing(STEP_BIND, 2, 0);
	agent_progress_step(p, "v2", STEP_BIND, &t);
	expect_line(p, v2, "{\"event\":\"begin\",\"volume\":\"v2\",\"op\":\"bind\"}");
	expect_line(
	    p, v2,
	    "{\"event\":\"step\",\"volume\":\"v2\",\"op\":\"bind\",\"step\":\"bind\",\"ms\":"
	    "2.0,\"result\":\"ok\"}");
	expect_line(p, v2,
		    "{\"event\":\"end\",\"volume\":\"v2\",\"op\":\"bind\",\"ms\":0.0,\"result\":"
		    "\"ok\",\"in_flight\":0}");
	expect_empty(p, v2);
	assert_null(agent_progress_get(p, "v2"));
	agent_progress_unwatch(p, v2);
	agent_progress_unwatch(p, all);
	agent_progress_free(p);
}

static void test_overflow(void **state)
{
	struct agent_progress *p = agent_progress_new(fake_now);
	struct agent_progress_watcher *w;
	int last = 0;
	char *line;

	assert_int_equal(agent_progress_watch(p, NULL, &w), 0);
	/* A watcher that does not read: its queue is bounded, the rest is counted. */
	for (int i = 0; i < AGENT_PROGRESS_QUEUE_MAX + 9; i++) {
		agent_progress_op_begin(p, "v1", "attach");
		agent_progress_op_end(p, "v1", 0, NULL);
	}
	line = agent_progress_watcher_next(p, w, &last);
	assert_non_null(line);
	/* Everything is dropped: the watching line and a begin and an end for each of the
	 * 1033 operations. */
	assert_string_equal(line, "{\"event\":\"overflow\",\"lost\":2067}");
	assert_true(last);
	free(line);
	agent_progress_unwatch(p, w);
	agent_progress_free(p);
}

#define THREADS 4
#define OPS 40

static struct agent_progress *shared;

static void *reporter(void *arg)
{
	char key[16];

	snprintf(key, sizeof(key), "v%d", (int)(intptr_t)arg);
	for (int i = 0; i < OPS; i++) {
		struct attach_timing t = timing(STEP_CONNECT, 1, 0);

		agent_progress_op_begin(shared, key, "attach");
		agent_progress_step(shared, key, STEP_CONNECT, NULL);
		agent_progress_step(shared, key, STEP_CONNECT, &t);
		agent_progress_op_end(shared, key, 0, NULL);
	}
	return NULL;
}

/* Volumes report from several threads at once: every event arrives, each volume's in
 * order. */
static void test_threads(void **state)
{
	static const char *const order[] = {"begin", "step-start", "step", "end"};
	struct agent_progress_watcher *w;
	pthread_t t[THREADS];
	int seen[THREADS] = {0}, last = 0, n = 0;
	char *line;

	shared = agent_progress_new(NULL);
	assert_int_equal(agent_progress_watch(shared, NULL, &w), 0);
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reporter, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	while ((line = agent_progress_watcher_next(shared, w, &last))) {
		json_t *ev = json_loads(line, 0, NULL);
		const char *vol = json_string_value(json_object_get(ev, "volume"));

		assert_false(last);
		if (vol) {
			int k = atoi(vol + 1);

			assert_string_equal(json_string_value(json_object_get(ev, "event")),
					    order[seen[k] % 4]);
			seen[k]++;
		}
		n++;
		json_decref(ev);
		free(line);
	}
	assert_int_equal(n, 1 + THREADS * OPS * 4);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(seen[i], OPS * 4);
	agent_progress_unwatch(shared, w);
	shared = agent_progress_free(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bookkeeping),
	    cmocka_unit_test(test_watch_events),
	    cmocka_unit_test(test_overflow),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
