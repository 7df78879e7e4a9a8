/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachctl watch and the in-flight step of attachctl ls, end to end: the agent runs in this
 * process with a pipeline that reports its steps through env->progress as the real one
 * does and holds in mkfs until the test lets it go (so "slow" is a state the test
 * controls, never a measured time); the real bin/attachctl talks to its admin socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "tests/lib/fakedriver.h"
#include "tests/lib/testhttp.h"

#define OPTS "{\"backend\":\"file\",\"size\":\"16M\"}"

extern char **environ;

static char tmp[] = "/tmp/test_watch.XXXXXX";
static char sock[300], ctl[4096];
static int logfd = -1;
static struct agent *agent;
static unsigned port;

/* ---- the slow pipeline ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int hold_mkfs, mkfs_open;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void step(struct attach_env *env, struct attach_volume *v, enum attach_step s)
{
	int64_t t0 = now_us();
	struct attach_timing t;

	env->progress(env, v, s, NULL);
	if (s == STEP_MKFS) {
		pthread_mutex_lock(&gate_lock);
		while (hold_mkfs && !mkfs_open)
			pthread_cond_wait(&gate_cond, &gate_lock);
		pthread_mutex_unlock(&gate_lock);
	}
	t = (struct attach_timing){.step = s, .usec = now_us() - t0, .result = 0};
	if (v->n_timings < ATTACH_MAX_STEPS)
		v->timings[v->n_timings++] = t;
	env->progress(env, v, s, &t);
}

static int slow_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	static const enum attach_step steps[] = {STEP_PLAN, STEP_CONNECT, STEP_AWAIT, STEP_VERIFY,
						 STEP_DM,   STEP_PROBE,	  STEP_MKFS,  STEP_MOUNT};

	v->n_timings = 0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		step(env, v, steps[i]);
	return fakedriver_ops.up(env, v, e);
}

static int slow_down(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e)
{
	v->n_timings = 0;
	step(env, v, STEP_UMOUNT);
	step(env, v, STEP_DM_REMOVE);
	step(env, v, STEP_DISCONNECT);
	return fakedriver_ops.down(env, v, force, e);
}

static int slow_bind(struct attach_env *env, struct attach_volume *v, const char *container,
		     char *ret_path, size_t n, struct errbuf *e)
{
	step(env, v, STEP_BIND);
	return fakedriver_ops.bind(env, v, container, ret_path, n, e);
}

static int slow_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
		       struct errbuf *e)
{
	step(env, v, STEP_UNBIND);
	return fakedriver_ops.unbind(env, v, container, e);
}

static const struct agent_driver_ops slow_ops = {
    .up = slow_up, .down = slow_down, .bind = slow_bind, .unbind = slow_unbind};

/* ---- attachctl as a child ---- */

struct child {
	pid_t pid;
	FILE *out, *err;
};

static void spawn_ctl(struct child *c, ...)
{
	char *argv[16] = {ctl, (char *)"--admin-socket", sock};
	int argc = 3, o[2], er[2];
	posix_spawn_file_actions_t fa;
	va_list ap;
	char *s;

	va_start(ap, c);
	while ((s = va_arg(ap, char *)) && argc < 15)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	assert_int_equal(pipe2(o, O_CLOEXEC), 0);
	assert_int_equal(pipe2(er, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, er[1], 2);
	assert_int_equal(posix_spawn(&c->pid, ctl, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(o[1]);
	close(er[1]);
	c->out = fdopen(o[0], "r");
	c->err = fdopen(er[0], "r");
	assert_non_null(c->out);
	assert_non_null(c->err);
}

/* A line of f without its newline (static buffer), NULL at EOF. */
static char *next_line(FILE *f)
{
	static char *line;
	static size_t cap;
	ssize_t n = getline(&line, &cap, f);

	if (n <= 0)
		return NULL;
	if (line[n - 1] == '\n')
		line[n - 1] = 0;
	return line;
}

static int finish(struct child *c)
{
	int status = 0;

	fclose(c->out);
	fclose(c->err);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run attachctl to the end: exit status, stdout in *ret_out (malloc'ed). */
static int run_ctl(char **ret_out, ...)
{
	char *argv[16] = {ctl, (char *)"--admin-socket", sock};
	int argc = 3;
	struct child c;
	char buf[4096];
	size_t n, len = 0;
	va_list ap;
	char *s, *out = NULL;
	posix_spawn_file_actions_t fa;
	int o[2], status = 0;

	va_start(ap, ret_out);
	while ((s = va_arg(ap, char *)) && argc < 15)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	assert_int_equal(pipe2(o, O_CLOEXEC), 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, o[1], 2);
	assert_int_equal(posix_spawn(&c.pid, ctl, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(o[1]);
	c.out = fdopen(o[0], "r");
	while ((n = fread(buf, 1, sizeof(buf), c.out)) > 0) {
		out = realloc(out, len + n + 1);
		memcpy(out + len, buf, n);
		len += n;
	}
	fclose(c.out);
	assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
	if (!out)
		out = calloc(1, 1);
	else
		out[len] = 0;
	*ret_out = out;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* line with every duration ("12.3 ms", "1.52 s") written as "T". */
static void untime(const char *line, char *buf, size_t n)
{
	regex_t re;
	regmatch_t m;
	const char *p = line;
	size_t l = 0;

	assert_int_equal(regcomp(&re, "[0-9]+\\.[0-9]+ m?s", REG_EXTENDED), 0);
	while (regexec(&re, p, 1, &m, 0) == 0 && l + (size_t)m.rm_so + 2 < n) {
		memcpy(buf + l, p, (size_t)m.rm_so);
		l += (size_t)m.rm_so;
		buf[l++] = 'T';
		p += m.rm_eo;
	}
	snprintf(buf + l, n - l, "%s", p);
	regfree(&re);
}

/* ---- the volume's Volman calls ---- */

static void volman(const char *path, const char *body)
{
	json_t *j = testhttp_call(port, path, body);

	assert_non_null(j);
	if (strcmp(json_string_value(json_object_get(j, "Err")), ""))
		fail_msg("%s: %s", path, json_string_value(json_object_get(j, "Err")));
	json_decref(j);
}

static void *mount_thread(void *arg)
{
	volman("/VolumeDriver.Mount", "{\"Name\":\"vol1_app1\"}");
	return NULL;
}

/* ---- setup ---- */

static int setup(void **state)
{
	struct agent_config cfg;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	const char *bin = getenv("ATTACHCTL_BIN");
	char path[600];

	if (geteuid() != 0)
		return 0; /* each test skips */
	snprintf(ctl, sizeof(ctl), "%s", bin && *bin ? bin : "bin/attachctl");
	if (access(ctl, X_OK) < 0 || !mkdtemp(tmp))
		return -1;
	snprintf(path, sizeof(path), "%s/attachd.log", tmp);
	logfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	agent_log_set_fd(logfd);
	snprintf(sock, sizeof(sock), "%s/run/admin.sock", tmp);
	agent_config_init(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	snprintf(cfg.driver_dir, sizeof(cfg.driver_dir), "%s/drivers", tmp);
	snprintf(cfg.mount_root, sizeof(cfg.mount_root), "%s/volumes", tmp);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/state", tmp);
	snprintf(cfg.admin_socket, sizeof(cfg.admin_socket), "%s", sock);
	if (agent_config_validate(&cfg, &el) < 0 || agent_new(&cfg, &slow_ops, &agent, &e) < 0 ||
	    agent_start(agent, &e) < 0)
		return -1;
	port = agent_port(agent);
	return port ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[400];

	if (geteuid() != 0)
		return 0;
	agent = agent_free(agent);
	agent_log_set_fd(STDOUT_FILENO);
	close(logfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

#define REQUIRE_ROOT()                                                                             \
	do {                                                                                       \
		if (geteuid() != 0)                                                                \
			skip();                                                                    \
	} while (0)

/* A Mount held in mkfs: watch prints each step as it ends, ls shows mkfs in flight, and
 * the total comes once it is let go. */
static void test_watch_attach(void **state)
{
	static const char *const want[] = {
	    "vol1: attach started",
	    "vol1: attach: plan ...",
	    "vol1: attach: plan T ok",
	    "vol1: attach: connect ...",
	    "vol1: attach: connect T ok",
	    "vol1: attach: await-device ...",
	    "vol1: attach: await-device T ok",
	    "vol1: attach: verify ...",
	    "vol1: attach: verify T ok",
	    "vol1: attach: dm-map ...",
	    "vol1: attach: dm-map T ok",
	    "vol1: attach: probe-fs ...",
	    "vol1: attach: probe-fs T ok",
	    "vol1: attach: mkfs ...",
	    "vol1: attach: mkfs T ok",
	    "vol1: attach: mount ...",
	    "vol1: attach: mount T ok",
	    "vol1: attach: bind ...",
	    "vol1: attach: bind T ok",
	    "vol1: attach ok, total T",
	};
	struct child w;
	pthread_t t;
	char buf[512], *line, *out;
	json_t *root, *j;
	int rc;

	REQUIRE_ROOT();
	volman("/VolumeDriver.Create", "{\"Name\":\"vol1_app1\",\"Opts\":" OPTS "}");
	pthread_mutex_lock(&gate_lock);
	hold_mkfs = 1;
	mkfs_open = 0;
	pthread_mutex_unlock(&gate_lock);

	spawn_ctl(&w, "watch", "vol1", (char *)NULL);
	/* Subscribed before the Mount starts: nothing is missed. */
	line = next_line(w.err);
	assert_non_null(line);
	assert_string_equal(line, "watching vol1: 0 operations in flight");
	assert_int_equal(pthread_create(&t, NULL, mount_thread, NULL), 0);

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		line = next_line(w.out);
		if (!line)
			fail_msg("watch ended before '%s'", want[i]);
		untime(line, buf, sizeof(buf));
		if (strcmp(buf, want[i]))
			fail_msg("line %zu: got '%s', want '%s'", i, line, want[i]);
		if (strcmp(want[i], "vol1: attach: mkfs ...") != 0)
			continue;
		/* The pipeline is in mkfs now (and stays there): ls shows it. */
		rc = run_ctl(&out, "ls", (char *)NULL);
		assert_int_equal(rc, 0);
		if (!strstr(out, "attaching: mkfs "))
			fail_msg("ls does not show mkfs in flight:\n%s", out);
		free(out);
		rc = run_ctl(&out, "--json", "ls", (char *)NULL);
		assert_int_equal(rc, 0);
		root = json_loads(out, 0, NULL);
		assert_non_null(root);
		j = json_object_get(json_array_get(json_object_get(root, "volumes"), 0),
				    "progress");
		assert_string_equal(json_string_value(json_object_get(j, "op")), "attach");
		assert_string_equal(json_string_value(json_object_get(j, "step")), "mkfs");
		assert_true(json_number_value(json_object_get(j, "step_ms")) >= 0);
		json_decref(root);
		free(out);
		pthread_mutex_lock(&gate_lock);
		mkfs_open = 1;
		pthread_cond_broadcast(&gate_cond);
		pthread_mutex_unlock(&gate_lock);
	}
	/* watch NAME exits once its operation ended. */
	assert_null(next_line(w.out));
	assert_int_equal(finish(&w), 0);
	pthread_join(t, NULL);
	pthread_mutex_lock(&gate_lock);
	hold_mkfs = 0;
	pthread_mutex_unlock(&gate_lock);

	/* Nothing in flight any more: ls shows the plain state again. */
	rc = run_ctl(&out, "ls", (char *)NULL);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "vol1    file     attached  "));
	free(out);
}

/* --json: one event object per line; the Unmount's steps in order (unbind, then the
 * detach's), and watch --once of every volume ends once nothing is in flight. */
static void test_watch_json_unmount(void **state)
{
	static const char *const want[][2] = {
	    {"begin", ""},	    {"step-start", "unbind"},
	    {"step", "unbind"},	    {"step-start", "umount"},
	    {"step", "umount"},	    {"step-start", "dm-remove"},
	    {"step", "dm-remove"},  {"step-start", "disconnect"},
	    {"step", "disconnect"}, {"end", ""},
	};
	struct child w;
	char *line;
	json_t *ev;

	REQUIRE_ROOT();
	spawn_ctl(&w, "--json", "watch", "--once", (char *)NULL);
	line = next_line(w.out);
	assert_non_null(line);
	assert_string_equal(line, "{\"event\":\"watching\",\"volume\":null,\"in_flight\":0}");
	/* --once with nothing in flight: done at once. */
	assert_null(next_line(w.out));
	assert_int_equal(finish(&w), 0);

	spawn_ctl(&w, "--json", "watch", "vol1", (char *)NULL);
	line = next_line(w.out);
	assert_non_null(line);
	assert_non_null(strstr(line, "\"event\":\"watching\""));
	volman("/VolumeDriver.Unmount", "{\"Name\":\"vol1_app1\"}");
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		line = next_line(w.out);
		if (!line)
			fail_msg("watch ended before event %zu", i);
		ev = json_loads(line, 0, NULL);
		if (!ev)
			fail_msg("not JSON: %s", line);
		assert_string_equal(json_string_value(json_object_get(ev, "event")), want[i][0]);
		assert_string_equal(json_string_value(json_object_get(ev, "volume")), "vol1");
		assert_string_equal(json_string_value(json_object_get(ev, "op")), "unmount");
		if (want[i][1][0])
			assert_string_equal(json_string_value(json_object_get(ev, "step")),
					    want[i][1]);
		if (!strcmp(want[i][0], "end")) {
			assert_string_equal(json_string_value(json_object_get(ev, "result")), "ok");
			assert_int_equal(json_integer_value(json_object_get(ev, "in_flight")), 0);
		}
		json_decref(ev);
	}
	assert_null(next_line(w.out));
	assert_int_equal(finish(&w), 0);
}

static void test_watch_unknown(void **state)
{
	char *out;

	REQUIRE_ROOT();
	assert_int_equal(run_ctl(&out, "watch", "nosuch", (char *)NULL), 1);
	assert_string_equal(out, "attachctl: watch: no volume 'nosuch' on this host\n");
	free(out);
	assert_int_equal(run_ctl(&out, "watch", "a", "b", (char *)NULL), 2);
	free(out);
}

/* Stopping the agent ends a watch that follows every volume. */
static void test_stop_ends_watch(void **state)
{
	struct child w;
	char *line;

	REQUIRE_ROOT();
	spawn_ctl(&w, "watch", (char *)NULL);
	line = next_line(w.err);
	assert_non_null(line);
	assert_string_equal(line, "watching every volume: 0 operations in flight");
	agent = agent_free(agent);
	assert_null(next_line(w.out));
	line = next_line(w.err);
	assert_non_null(line);
	assert_string_equal(line, "attachctl: watch: attachd ended the stream (stopping?)");
	assert_int_equal(finish(&w), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_watch_attach),
	    cmocka_unit_test(test_watch_json_unmount),
	    cmocka_unit_test(test_watch_unknown),
	    cmocka_unit_test(test_stop_ends_watch),
	};

	signal(SIGPIPE, SIG_IGN);
	/* A generous bound on the whole file: a hung stream fails instead of hanging CI. */
	alarm(300);
	return cmocka_run_group_tests(tests, setup, teardown);
}
