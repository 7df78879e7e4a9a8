/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus endpoint end to end: the agent runs in this process with metrics_listen
 * 127.0.0.1:<ephemeral> and the fake pipeline (directories instead of devices; each call
 * records step timings the way the real pipeline does, with fixed durations), Volman's
 * calls go over its HTTP API, and GET /metrics is scraped over TCP: the answer is valid for
 * `promtool check metrics` (Debian package prometheus) before and after volumes attach, its
 * Content-Type is the text format 0.0.4, and the counters, gauges and histograms move by
 * exactly what each Mount and Unmount did. Other paths 404, other methods 405.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
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

static char tmp[] = "/tmp/test_metrics.XXXXXX";
static int logfd = -1;
static struct agent *agent;
static unsigned port, mport;

/* ---- the fake pipeline, with step timings ---- */

static void timing(struct attach_volume *v, enum attach_step step, int64_t usec, int result)
{
	if (v->n_timings < ATTACH_MAX_STEPS)
		v->timings[v->n_timings++] =
		    (struct attach_timing){.step = step, .usec = usec, .result = result};
}

/* An attach: plan 1 ms, connect 0.2 s, mkfs 3 s, mount 10 ms (connect fails when up does). */
static int timed_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e)
{
	int r = fakedriver_ops.up(env, v, e);

	v->n_timings = 0;
	timing(v, STEP_PLAN, 1000, 0);
	timing(v, STEP_CONNECT, 200000, r < 0 ? r : 0);
	if (r >= 0) {
		timing(v, STEP_MKFS, 3000000, 0);
		timing(v, STEP_MOUNT, 10000, 0);
	}
	return r;
}

static int timed_down(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e)
{
	int r = fakedriver_ops.down(env, v, force, e);

	v->n_timings = 0;
	timing(v, STEP_UMOUNT, 20000, r < 0 ? r : 0);
	timing(v, STEP_DISCONNECT, 100000, 0);
	return r;
}

static int timed_bind(struct attach_env *env, struct attach_volume *v, const char *container,
		      char *ret_path, size_t n, struct errbuf *e)
{
	int r = fakedriver_ops.bind(env, v, container, ret_path, n, e);

	timing(v, STEP_BIND, 4000, r < 0 ? r : 0);
	return r;
}

static int timed_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
			struct errbuf *e)
{
	int r = fakedriver_ops.unbind(env, v, container, e);

	timing(v, STEP_UNBIND, 4000, r < 0 ? r : 0);
	return r;
}

static const struct agent_driver_ops timed_ops = {
    .up = timed_up,
    .down = timed_down,
    .bind = timed_bind,
    .unbind = timed_unbind,
};

/* ---- HTTP ---- */

static json_t *volman(const char *path, const char *body)
{
	json_t *j = testhttp_call(port, path, body);

	if (!j)
		fail_msg("POST %s failed", path);
	return j;
}

/* Create + Mount as Volman does; want_ok: the Mount must succeed (else must fail). */
static void mount(const char *name, int want_ok)
{
	char b[512];
	json_t *j;
	const char *err;

	snprintf(b, sizeof(b), "{\"Name\":\"%s\",\"Opts\":%s}", name, OPTS);
	j = volman("/VolumeDriver.Create", b);
	if (strcmp(json_string_value(json_object_get(j, "Err")), ""))
		fail_msg("Create %s: %s", name, json_string_value(json_object_get(j, "Err")));
	json_decref(j);
	snprintf(b, sizeof(b), "{\"Name\":\"%s\"}", name);
	j = volman("/VolumeDriver.Mount", b);
	err = json_string_value(json_object_get(j, "Err"));
	if (want_ok && strcmp(err, ""))
		fail_msg("Mount %s: %s", name, err);
	if (!want_ok && !strcmp(err, ""))
		fail_msg("Mount %s succeeded; the fake was told to fail it", name);
	json_decref(j);
}

static void unmount(const char *name)
{
	char b[512];
	json_t *j;

	snprintf(b, sizeof(b), "{\"Name\":\"%s\"}", name);
	j = volman("/VolumeDriver.Unmount", b);
	if (strcmp(json_string_value(json_object_get(j, "Err")), ""))
		fail_msg("Unmount %s: %s", name, json_string_value(json_object_get(j, "Err")));
	json_decref(j);
}

/* One request to the metrics port; the response (caller: testhttp_response_done). */
static void request(const char *method, const char *path, struct testhttp_response *ret)
{
	struct testhttp_conn *c;
	char req[256];
	int n;

	assert_int_equal(testhttp_connect(mport, &c), 0);
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", method, path,
		     strcmp(method, "POST") ? "" : "Content-Length: 0\r\n");
	if (testhttp_raw(c, req, (size_t)n, ret) < 0)
		fail_msg("%s %s on the metrics port failed", method, path);
	testhttp_close(c);
}

/* GET /metrics: 200, the text format's Content-Type. Returns the body (caller frees). */
static char *scrape(void)
{
	struct testhttp_response r;
	char *body;

	request("GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
	body = r.body;
	r.body = NULL;
	testhttp_response_done(&r);
	return body;
}

/* The value of one series ("name{labels}" exactly as written); fails when it is absent. */
static double value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, series, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	fail_msg("no series %s in the scrape", series);
	return -1;
}

/* `promtool check metrics` reads the exposition on stdin: exit 0 when it parses and lints
 * clean. */
static void promtool_check(const char *text)
{
	char path[300], cmd[700];
	FILE *f;
	int st;

	if (system("command -v promtool >/dev/null") != 0)
		fail_msg(
		    "promtool is not installed (Debian package prometheus: tools/setup-deps.sh "
		    "installs it)");
	snprintf(path, sizeof(path), "%s/scrape.txt", tmp);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics <'%s' >'%s.out' 2>&1", path, path);
	st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char *out = NULL;
		FILE *o;

		snprintf(cmd, sizeof(cmd), "%s.out", path);
		o = fopen(cmd, "r");
		if (o) {
			size_t cap = 0;

			while (getline(&out, &cap, o) > 0)
				fputs(out, stderr);
			fclose(o);
			free(out);
		}
		fail_msg("promtool check metrics refused the scrape (above)");
	}
}

#define ATTACH_OK "attachd_operations_total{op=\"attach\",backend=\"file\",result=\"success\"}"
#define ATTACH_FAIL "attachd_operations_total{op=\"attach\",backend=\"file\",result=\"failure\"}"
#define DETACH_OK "attachd_operations_total{op=\"detach\",backend=\"file\",result=\"success\"}"
#define BIND_OK "attachd_operations_total{op=\"bind\",backend=\"file\",result=\"success\"}"
#define UNBIND_OK "attachd_operations_total{op=\"unbind\",backend=\"file\",result=\"success\"}"
#define VOLUMES "attachd_volumes_attached{backend=\"file\"}"
#define MOUNTS "attachd_container_mounts"
#define IN_FLIGHT "attachd_operations_in_flight"
#define STEP(what, step)                                                                           \
	"attachd_attach_step_duration_seconds_" what "{backend=\"file\",step=\"" step "\""
#define MKFS_LE(le) STEP("bucket", "mkfs") ",le=\"" le "\"}"

/* ---- tests ---- */

static void test_scrape_is_valid(void **state)
{
	char *text = scrape();
	struct testhttp_response r;
	const char *families[] = {
	    "attachd_operations_total counter",
	    "attachd_attach_step_duration_seconds histogram",
	    "attachd_attach_step_failures_total counter",
	    "attachd_volumes_attached gauge",
	    "attachd_container_mounts gauge",
	    "attachd_operations_in_flight gauge",
	    "attachd_paths gauge",
	    "attachd_path_events_total counter",
	    "attachd_fencing_events_total counter",
	    "attachd_gateway_requests_total counter",
	    "attachd_gateway_request_duration_seconds histogram",
	    "process_cpu_seconds_total counter",
	    "process_open_fds gauge",
	    "process_max_fds gauge",
	    "process_resident_memory_bytes gauge",
	    "process_virtual_memory_bytes gauge",
	    "process_start_time_seconds gauge",
	    "process_threads gauge",
	};

	for (size_t i = 0; i < sizeof(families) / sizeof(*families); i++) {
		char line[128];

		snprintf(line, sizeof(line), "# TYPE %s\n", families[i]);
		if (!strstr(text, line))
			fail_msg("no '%s' line", families[i]);
		snprintf(line, sizeof(line), "# HELP %.*s ", (int)strcspn(families[i], " "),
			 families[i]);
		if (!strstr(text, line))
			fail_msg("no HELP line for %s", families[i]);
	}
	/* This very process: its threads and descriptors are there. */
	assert_true(value(text, "process_threads") >= 2);
	assert_true(value(text, "process_open_fds") >= 3);
	promtool_check(text);
	free(text);

	request("GET", "/", &r);
	assert_int_equal(r.status, 404);
	testhttp_response_done(&r);
	request("GET", "/metrics/x", &r);
	assert_int_equal(r.status, 404);
	testhttp_response_done(&r);
	request("POST", "/metrics", &r);
	assert_int_equal(r.status, 405);
	testhttp_response_done(&r);
	/* Prometheus may add URL parameters from its config. */
	request("GET", "/metrics?x=1", &r);
	assert_int_equal(r.status, 200);
	testhttp_response_done(&r);
}

static void test_values_move(void **state)
{
	char *t0, *t1, *t2, *t3, *t4;

	fakedriver_reset();
	t0 = scrape();
	assert_int_equal(value(t0, VOLUMES), 0);
	assert_int_equal(value(t0, MOUNTS), 0);

	/* First container: one attach (mkfs 3 s: in le="5", not le="2.5") and one bind. */
	mount("vol1_app1", 1);
	t1 = scrape();
	promtool_check(t1);
	assert_int_equal(value(t1, ATTACH_OK), value(t0, ATTACH_OK) + 1);
	assert_int_equal(value(t1, BIND_OK), value(t0, BIND_OK) + 1);
	assert_int_equal(value(t1, VOLUMES), 1);
	assert_int_equal(value(t1, MOUNTS), 1);
	assert_int_equal(value(t1, IN_FLIGHT), 0);
	assert_int_equal(value(t1, STEP("count", "mkfs") "}"), 1);
	assert_int_equal(value(t1, MKFS_LE("2.5")), 0);
	assert_int_equal(value(t1, MKFS_LE("5")), 1);
	assert_int_equal(value(t1, MKFS_LE("+Inf")), 1);
	assert_true(value(t1, STEP("sum", "mkfs") "}") == 3.0);
	assert_int_equal(value(t1, STEP("count", "connect") "}"), 1);
	assert_int_equal(value(t1, STEP("count", "bind") "}"), 1);

	/* A second container of the same volume: a bind, no attach. */
	mount("vol1_app2", 1);
	t2 = scrape();
	assert_int_equal(value(t2, ATTACH_OK), value(t1, ATTACH_OK));
	assert_int_equal(value(t2, BIND_OK), value(t1, BIND_OK) + 1);
	assert_int_equal(value(t2, VOLUMES), 1);
	assert_int_equal(value(t2, MOUNTS), 2);
	assert_int_equal(value(t2, STEP("count", "mkfs") "}"), 1);
	assert_int_equal(value(t2, STEP("count", "bind") "}"), 2);

	/* Both gone: two unbinds, one detach. */
	unmount("vol1_app1");
	unmount("vol1_app2");
	t3 = scrape();
	promtool_check(t3);
	assert_int_equal(value(t3, UNBIND_OK), value(t2, UNBIND_OK) + 2);
	assert_int_equal(value(t3, DETACH_OK), value(t2, DETACH_OK) + 1);
	assert_int_equal(value(t3, VOLUMES), 0);
	assert_int_equal(value(t3, MOUNTS), 0);
	assert_int_equal(value(t3, STEP("count", "disconnect") "}"), 1);

	/* A failed attach: counted as a failure, its failed step too; nothing attached. */
	fakedriver_set(-ENXIO, 0, 0, 0, 0);
	mount("vol2_app1", 0);
	fakedriver_set(0, 0, 0, 0, 0);
	t4 = scrape();
	assert_int_equal(value(t4, ATTACH_FAIL), value(t3, ATTACH_FAIL) + 1);
	assert_int_equal(value(t4, ATTACH_OK), value(t3, ATTACH_OK));
	assert_int_equal(value(t4, VOLUMES), 0);
	assert_int_equal(value(t4, "attachd_attach_step_failures_total{backend=\"file\","
				   "step=\"connect\"}"),
			 1);
	assert_int_equal(value(t4, STEP("count", "connect") "}"), 2);
	assert_int_equal(value(t4, STEP("count", "mkfs") "}"), 1);
	free(t0);
	free(t1);
	free(t2);
	free(t3);
	free(t4);
}

static void *mount_thread(void *p)
{
	mount(p, 1);
	return NULL;
}

/* A Mount that takes 3 s shows as an operation in flight while it runs, and not after. */
static void test_in_flight(void **state)
{
	struct timespec ts;
	pthread_t t;
	int seen = 0;
	char *text;

	fakedriver_set(0, 0, 0, 0, 3000);
	assert_int_equal(pthread_create(&t, NULL, mount_thread, "vol3_app1"), 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (time_t deadline = ts.tv_sec + 30; !seen && ts.tv_sec < deadline;) {
		text = scrape();
		seen = value(text, IN_FLIGHT) == 1;
		free(text);
		if (!seen)
			usleep(20000);
		clock_gettime(CLOCK_MONOTONIC, &ts);
	}
	pthread_join(t, NULL);
	fakedriver_set(0, 0, 0, 0, 0);
	assert_true(seen);
	text = scrape();
	assert_int_equal(value(text, IN_FLIGHT), 0);
	assert_int_equal(value(text, VOLUMES), 1);
	free(text);
	unmount("vol3_app1");
}

static int setup(void **state)
{
	struct agent_config cfg;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	char path[300];

	if (!mkdtemp(tmp))
		return -1;
	snprintf(path, sizeof(path), "%s/attachd.log", tmp);
	logfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return -1;
	agent_log_set_fd(logfd);
	agent_config_init(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	snprintf(cfg.metrics_listen, sizeof(cfg.metrics_listen), "127.0.0.1:0");
	snprintf(cfg.driver_dir, sizeof(cfg.driver_dir), "%s/voldrivers", tmp);
	snprintf(cfg.mount_root, sizeof(cfg.mount_root), "%s/volumes", tmp);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/state", tmp);
	snprintf(cfg.admin_socket, sizeof(cfg.admin_socket), "%s/admin.sock", tmp);
	if (agent_config_validate(&cfg, &el) < 0) {
		fprintf(stderr, "config: %s\n", el.msg);
		return -1;
	}
	if (agent_new(&cfg, &timed_ops, &agent, &e) < 0 || agent_start(agent, &e) < 0) {
		fprintf(stderr, "agent: %s\n", e.msg);
		return -1;
	}
	port = agent_port(agent);
	mport = agent_metrics_port(agent);
	if (!port || !mport) {
		fprintf(stderr, "no metrics port: see %s/attachd.log\n", tmp);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[400];

	agent = agent_free(agent);
	agent_log_set_fd(STDOUT_FILENO);
	close(logfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scrape_is_valid),
	    cmocka_unit_test(test_values_move),
	    cmocka_unit_test(test_in_flight),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
