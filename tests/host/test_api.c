/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Volman API end to end over real HTTP: the agent runs in this process on
 * 127.0.0.1:<ephemeral> with the fake pipeline (directories instead of devices), and the
 * test talks to it the way Volman does (volman-protocol.md §1, §3): headerless POSTs,
 * empty bodies for Activate and List, keep-alive, Create before every Mount, purge as
 * List + Unmount, containers created in parallel.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "lib/fileio.h"
#include "tests/lib/fakedriver.h"
#include "tests/lib/testhttp.h"

#define OPTS "{\"backend\":\"file\",\"size\":\"16M\"}"

static char tmp[] = "/tmp/test_api.XXXXXX";
static char logpath[300];
static int logfd = -1;
static struct agent *agent;
static unsigned port;
static char mount_root[400];

static const char *err_of(json_t *j)
{
	return json_string_value(json_object_get(j, "Err"));
}

static json_t *call(const char *path, const char *body)
{
	json_t *j = testhttp_call(port, path, body);

	if (!j)
		fail_msg("POST %s failed", path);
	return j;
}

static json_t *call_ok(const char *path, const char *body)
{
	json_t *j = call(path, body);

	if (strcmp(err_of(j), "") != 0)
		fail_msg("POST %s %s: Err %s", path, body ? body : "", err_of(j));
	return j;
}

static void expect_err(const char *path, const char *body, const char *needle)
{
	json_t *j = call(path, body);

	if (!strstr(err_of(j), needle))
		fail_msg("POST %s: '%s' not in Err '%s'", path, needle, err_of(j));
	json_decref(j);
}

static char *name_body(const char *name)
{
	static __thread char b[512];

	snprintf(b, sizeof(b), "{\"Name\":\"%s\"}", name);
	return b;
}

static char *create_body(const char *name, const char *opts)
{
	static __thread char b[1024];

	snprintf(b, sizeof(b), "{\"Name\":\"%s\",\"Opts\":%s}", name, opts);
	return b;
}

/* Volman's Mount: Create, then Mount. Returns the mount point (caller frees). */
static char *volman_mount(struct testhttp_conn *c, const char *name)
{
	json_t *j;
	char *mp;

	j = c ? testhttp_call_on(c, "/VolumeDriver.Create", create_body(name, OPTS))
	      : call("/VolumeDriver.Create", create_body(name, OPTS));
	assert_non_null(j);
	if (strcmp(err_of(j), ""))
		fail_msg("Create %s: %s", name, err_of(j));
	json_decref(j);
	j = c ? testhttp_call_on(c, "/VolumeDriver.Mount", name_body(name))
	      : call("/VolumeDriver.Mount", name_body(name));
	assert_non_null(j);
	if (strcmp(err_of(j), ""))
		fail_msg("Mount %s: %s", name, err_of(j));
	mp = strdup(json_string_value(json_object_get(j, "Mountpoint")));
	json_decref(j);
	return mp;
}

static json_t *list(void)
{
	json_t *j = call_ok("/VolumeDriver.List", NULL);
	json_t *v = json_incref(json_object_get(j, "Volumes"));

	json_decref(j);
	assert_true(json_is_array(v));
	return v;
}

static size_t list_size(void)
{
	json_t *v = list();
	size_t n = json_array_size(v);

	json_decref(v);
	return n;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int start_agent(const char *driver_dir, const char *name, struct agent **ret)
{
	struct agent_config cfg;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	int r;

	agent_config_init(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	snprintf(cfg.driver_dir, sizeof(cfg.driver_dir), "%s", driver_dir);
	snprintf(cfg.driver_name, sizeof(cfg.driver_name), "%s", name);
	snprintf(cfg.mount_root, sizeof(cfg.mount_root), "%s", mount_root);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/state", tmp);
	if (agent_config_validate(&cfg, &el) < 0)
		fail_msg("config: %s", el.msg);
	r = agent_new(&cfg, &fakedriver_ops, ret, &e);
	if (r >= 0)
		r = agent_start(*ret, &e);
	if (r < 0)
		fail_msg("agent: %s", e.msg);
	return r;
}

static int setup(void **state)
{
	char drivers[400];

	if (!mkdtemp(tmp))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/attachd.log", tmp);
	logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return -1;
	agent_log_set_fd(logfd);
	snprintf(mount_root, sizeof(mount_root), "%s/volumes", tmp);
	snprintf(drivers, sizeof(drivers), "%s/voldrivers", tmp);
	if (start_agent(drivers, "attachd-test", &agent) < 0)
		return -1;
	port = agent_port(agent);
	return port ? 0 : -1;
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

static int each(void **state)
{
	fakedriver_reset();
	return 0;
}

static void test_spec_file_and_started_log(void **state)
{
	char *text = NULL, want[256], *logtext = NULL;
	struct stat st;

	assert_int_equal(read_full_file(agent_spec_path(agent), &text, NULL, 4096), 0);
	snprintf(want, sizeof(want),
		 "{\"Name\":\"attachd-test\",\"Addr\":\"http://127.0.0.1:%u\",\"TLSConfig\":null,"
		 "\"UniqueVolumeIds\":true}",
		 port);
	assert_string_equal(text, want);
	assert_int_equal(stat(agent_spec_path(agent), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_non_null(strstr(agent_spec_path(agent), "/voldrivers/attachd-test.json"));
	free(text);

	assert_int_equal(read_full_file(logpath, &logtext, NULL, 1 << 24), 0);
	snprintf(want, sizeof(want), "\"address\":\"127.0.0.1:%u\"", port);
	assert_non_null(strstr(logtext, "\"message\":\"attachd.driver-server.started\""));
	assert_non_null(strstr(logtext, want));
	free(logtext);
}

static void test_activate_headerless(void **state)
{
	struct testhttp_conn *c;
	struct testhttp_response r;
	static const char no_length[] = "POST /Plugin.Activate HTTP/1.1\r\nHost: x\r\n\r\n";
	json_t *j, *want = json_pack("{s:[s],s:s}", "Implements", "VolumeDriver", "Err", "");

	assert_int_equal(testhttp_connect(port, &c), 0);
	/* Exactly Volman's request: Content-Length: 0, no Content-Type. */
	assert_int_equal(testhttp_post(c, "/Plugin.Activate", NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/json");
	assert_true(r.has_content_length);
	j = json_loads(r.body, 0, NULL);
	assert_true(json_equal(j, want));
	json_decref(j);
	testhttp_response_done(&r);
	/* Without any Content-Length at all, on the same (kept-alive) connection. */
	assert_int_equal(testhttp_raw(c, no_length, strlen(no_length), &r), 0);
	assert_int_equal(r.status, 200);
	j = json_loads(r.body, 0, NULL);
	assert_true(json_equal(j, want));
	json_decref(j);
	testhttp_response_done(&r);
	testhttp_close(c);
	json_decref(want);

	j = call_ok("/VolumeDriver.Capabilities", NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "Capabilities"), "Scope")),
	    "local");
	json_decref(j);
}

static void test_keepalive_many_calls(void **state)
{
	struct testhttp_conn *c;
	char name[64];

	assert_int_equal(testhttp_connect(port, &c), 0);
	for (int i = 0; i < 20; i++) {
		json_t *j = testhttp_call_on(c, "/Plugin.Activate", NULL);
		char *mp;

		assert_non_null(j);
		json_decref(j);
		snprintf(name, sizeof(name), "ka_c%d", i);
		mp = volman_mount(c, name);
		assert_true(is_dir(mp));
		free(mp);
		j = testhttp_call_on(c, "/VolumeDriver.Unmount", name_body(name));
		assert_non_null(j);
		assert_string_equal(err_of(j), "");
		json_decref(j);
	}
	testhttp_close(c);
	assert_int_equal(fakedriver_get().up, 20);
	assert_int_equal(fakedriver_get().down, 20);
	assert_int_equal(list_size(), 0);
}

/* §3.5: one cell, one app instance, one volume. */
static void test_volman_sequence(void **state)
{
	json_t *v, *j;
	char *mp;

	json_decref(call_ok("/Plugin.Activate", NULL));
	assert_int_equal(list_size(), 0);
	mp = volman_mount(NULL, "inst=1-abc_container-guid-1");
	assert_true(mp[0] == '/');
	assert_true(strncmp(mp, mount_root, strlen(mount_root)) == 0);
	assert_string_equal(mp + strlen(mount_root), "/inst_1-abc/container-guid-1");
	assert_true(is_dir(mp));
	v = list();
	assert_int_equal(json_array_size(v), 1);
	j = json_array_get(v, 0);
	assert_string_equal(json_string_value(json_object_get(j, "Name")),
			    "inst=1-abc_container-guid-1");
	assert_string_equal(json_string_value(json_object_get(j, "Mountpoint")), mp);
	assert_int_equal(json_integer_value(json_object_get(j, "MountCount")), 1);
	json_decref(v);
	json_decref(call_ok("/VolumeDriver.Unmount", name_body("inst=1-abc_container-guid-1")));
	assert_false(is_dir(mp));
	assert_int_equal(list_size(), 0);
	expect_err("/VolumeDriver.Unmount", name_body("inst=1-abc_container-guid-1"),
		   "Volume 'inst=1-abc_container-guid-1' not found");
	free(mp);
}

/* Rep start: List, then Unmount every listed name (volman-protocol.md §3.4). */
static void test_purge(void **state)
{
	const char *names[] = {"pa_c1", "pa_c2", "pb_c1", "plain"};
	json_t *v, *e;
	size_t i;

	for (i = 0; i < ELEMENTSOF(names); i++)
		free(volman_mount(NULL, names[i]));
	free(volman_mount(NULL, "plain")); /* a shared name mounted twice: count 2 */
	v = list();
	assert_int_equal(json_array_size(v), 4);
	json_array_foreach(v, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "Name"));

		json_decref(call_ok("/VolumeDriver.Unmount", name_body(n)));
	}
	json_decref(v);
	/* The shared name had two mounts: one purge pass leaves one. */
	v = list();
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "Name")),
			    "plain");
	json_decref(v);
	json_decref(call_ok("/VolumeDriver.Unmount", name_body("plain")));
	assert_int_equal(list_size(), 0);
	assert_int_equal(fakedriver_get().up, 3);
	assert_int_equal(fakedriver_get().down, 3);
}

struct worker {
	pthread_t t;
	int i;
	char *mp;
	int ok;
};

static void *mount_worker(void *arg)
{
	struct worker *w = arg;
	struct testhttp_conn *c;
	char name[64];

	if (testhttp_connect(port, &c) < 0)
		return NULL;
	snprintf(name, sizeof(name), "cvol_c%d", w->i);
	w->mp = volman_mount(c, name);
	w->ok = 1;
	testhttp_close(c);
	return NULL;
}

static void *unmount_worker(void *arg)
{
	struct worker *w = arg;
	char name[64];
	json_t *j;

	snprintf(name, sizeof(name), "cvol_c%d", w->i);
	j = testhttp_call(port, "/VolumeDriver.Unmount", name_body(name));
	w->ok = j && !strcmp(err_of(j), "");
	json_decref(j);
	return NULL;
}

static void test_concurrent_container_mounts(void **state)
{
	struct worker w[8];
	struct fakedriver_state st;

	fakedriver_set(0, 0, 0, 0, 30); /* every pipeline call takes 30 ms: races show */
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){.i = i};
		pthread_create(&w[i].t, NULL, mount_worker, &w[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		assert_true(w[i].ok);
		assert_true(is_dir(w[i].mp));
		for (int k = 0; k < i; k++)
			assert_string_not_equal(w[i].mp, w[k].mp);
	}
	st = fakedriver_get();
	assert_int_equal(st.up, 1);
	assert_int_equal(st.bind, 8);
	assert_int_equal(st.overlaps, 0); /* one volume: calls serialised */
	assert_int_equal(list_size(), 8);

	for (int i = 0; i < 8; i++)
		pthread_create(&w[i].t, NULL, unmount_worker, &w[i]);
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].t, NULL);
		assert_true(w[i].ok);
		assert_false(is_dir(w[i].mp));
		free(w[i].mp);
	}
	st = fakedriver_get();
	assert_int_equal(st.unbind, 8);
	assert_int_equal(st.down, 1);
	assert_int_equal(st.overlaps, 0);
	assert_int_equal(list_size(), 0);
	fakedriver_set(0, 0, 0, 0, 0);
}

static void *par_worker(void *arg)
{
	struct worker *w = arg;
	char name[64];

	snprintf(name, sizeof(name), "par%d_c", w->i);
	w->mp = volman_mount(NULL, name);
	w->ok = 1;
	return NULL;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Different volumes attach in parallel: no global lock across the pipeline. And List
 * answers while attaches are in flight. */
static void test_volumes_in_parallel(void **state)
{
	struct worker w[4];
	int64_t t0;
	json_t *j;

	fakedriver_set(0, 0, 0, 0, 400);
	t0 = now_ms();
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.i = i};
		pthread_create(&w[i].t, NULL, par_worker, &w[i]);
	}
	usleep(100 * 1000);
	{
		int64_t l0 = now_ms();

		j = call_ok("/VolumeDriver.List", NULL);
		json_decref(j);
		assert_true(now_ms() - l0 < 300); /* not stuck behind a 400 ms attach */
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].t, NULL);
		assert_true(w[i].ok);
	}
	/* Serial would be 4 x (up + bind) = 3.2 s. */
	assert_true(now_ms() - t0 < 2000);
	assert_true(fakedriver_get().max_parallel >= 2);
	fakedriver_set(0, 0, 0, 0, 0);
	for (int i = 0; i < 4; i++) {
		char name[64];

		snprintf(name, sizeof(name), "par%d_c", i);
		json_decref(call_ok("/VolumeDriver.Unmount", name_body(name)));
		free(w[i].mp);
	}
	assert_int_equal(list_size(), 0);
}

static void test_two_containers_first_unmount_keeps_second(void **state)
{
	char *a = volman_mount(NULL, "two_c1"), *b = volman_mount(NULL, "two_c2");
	json_t *v;

	json_decref(call_ok("/VolumeDriver.Unmount", name_body("two_c1")));
	assert_false(is_dir(a));
	assert_true(is_dir(b));
	v = list();
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "Name")),
			    "two_c2");
	json_decref(v);
	assert_int_equal(fakedriver_get().down, 0);
	json_decref(call_ok("/VolumeDriver.Unmount", name_body("two_c2")));
	assert_int_equal(fakedriver_get().down, 1);
	free(a);
	free(b);
}

static void test_bad_requests_change_nothing(void **state)
{
	struct testhttp_conn *c;
	struct testhttp_response r;
	char *mp = volman_mount(NULL, "keep_c1"), req[512];
	json_t *before = list(), *after;

	expect_err("/VolumeDriver.Create", "{\"Name\":\"x\",", "malformed JSON request body");
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"keep_c1\"", "malformed JSON");
	expect_err("/VolumeDriver.Create", "{\"Name\":1,\"Opts\":{}}", "'Name' must be a string");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"x\",\"Opts\":[]}",
		   "'Opts' must be a JSON object or null");
	expect_err("/VolumeDriver.Create",
		   create_body("x", "{\"backend\":\"file\",\"size\":\"1G\",\"colour\":\"red\"}"),
		   "unknown option 'colour'");
	expect_err("/VolumeDriver.Create", create_body("x", "{\"backend\":\"file\",\"size\":true}"),
		   "size");
	expect_err("/VolumeDriver.Create", create_body("x", "null"),
		   "invalid options for volume 'x'");
	expect_err("/VolumeDriver.Create", create_body("../../etc", OPTS), "'/' is not allowed");
	expect_err("/VolumeDriver.Create", create_body("..", OPTS), "invalid volume name");
	expect_err("/VolumeDriver.Create", create_body("a\\\\b", OPTS), "is not allowed");
	expect_err("/VolumeDriver.Mount", name_body("../keep_c1"), "'/' is not allowed");
	expect_err("/VolumeDriver.Unmount", name_body("keep_c1/.."), "'/' is not allowed");
	expect_err("/VolumeDriver.Unmount", NULL, "empty request body");
	expect_err("/VolumeDriver.Bogus", NULL, "unknown call '/VolumeDriver.Bogus'");
	/* Changing options under a mounted volume. */
	expect_err("/VolumeDriver.Create",
		   create_body("keep_c2", "{\"backend\":\"file\",\"size\":\"32M\"}"),
		   "mounted with different options");

	/* A body over the 1 MiB cap, declared up front: refused before it is read. */
	assert_int_equal(testhttp_connect(port, &c), 0);
	snprintf(req, sizeof(req),
		 "POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
		 2 * 1024 * 1024);
	assert_int_equal(testhttp_raw(c, req, strlen(req), &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "request body too large"));
	testhttp_response_done(&r);
	testhttp_close(c);

	/* The same, chunked (no length known up front): drained, then refused, and the
	 * connection stays usable. */
	{
		const char *head = "POST /VolumeDriver.Create HTTP/1.1\r\nHost: x\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
		size_t chunk = 64 * 1024, total = 0, len = 0;
		char *all = malloc(3 * 1024 * 1024);
		json_t *j;

		assert_non_null(all);
		len += (size_t)sprintf(all + len, "%s", head);
		while (total < 1200 * 1024) {
			len += (size_t)sprintf(all + len, "%zx\r\n", chunk);
			memset(all + len, 'a', chunk);
			len += chunk;
			memcpy(all + len, "\r\n", 2);
			len += 2;
			total += chunk;
		}
		len += (size_t)sprintf(all + len, "0\r\n\r\n");
		assert_int_equal(testhttp_connect(port, &c), 0);
		assert_int_equal(testhttp_raw(c, all, len, &r), 0);
		free(all);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, "request body too large"));
		testhttp_response_done(&r);
		j = testhttp_call_on(c, "/Plugin.Activate", NULL);
		assert_non_null(j);
		json_decref(j);
		testhttp_close(c);
	}

	after = list();
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
	assert_true(is_dir(mp));
	json_decref(call_ok("/VolumeDriver.Unmount", name_body("keep_c1")));
	free(mp);
}

static void test_safe_error_over_http(void **state)
{
	json_t *j, *inner;

	json_decref(call_ok("/VolumeDriver.Create", create_body("sick_c1", OPTS)));
	fakedriver_set(-ENXIO, 0, 0, 0, 0);
	j = call("/VolumeDriver.Mount", name_body("sick_c1"));
	inner = json_loads(err_of(j), 0, NULL);
	assert_non_null(inner);
	assert_non_null(strstr(json_string_value(json_object_get(inner, "SafeDescription")),
			       "LUN 3 not found"));
	assert_string_equal(json_string_value(json_object_get(j, "Mountpoint")), "");
	json_decref(inner);
	json_decref(j);
	fakedriver_set(0, 0, 0, 0, 0);
	assert_int_equal(list_size(), 0);
}

static void test_stop_removes_spec_file(void **state)
{
	char drivers[400];
	struct agent *a2 = NULL;
	struct testhttp_conn *c;
	unsigned p2;
	struct stat st;

	snprintf(drivers, sizeof(drivers), "%s/voldrivers2", tmp);
	assert_int_equal(start_agent(drivers, "second", &a2), 0);
	p2 = agent_port(a2);
	assert_int_equal(stat(agent_spec_path(a2), &st), 0);
	{
		json_t *j = testhttp_call(p2, "/Plugin.Activate", NULL);

		assert_non_null(j);
		json_decref(j);
	}
	agent_stop(a2);
	assert_int_equal(stat(agent_spec_path(a2), &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(testhttp_connect(p2, &c) < 0);
	agent_free(a2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_spec_file_and_started_log, each),
	    cmocka_unit_test_setup(test_activate_headerless, each),
	    cmocka_unit_test_setup(test_keepalive_many_calls, each),
	    cmocka_unit_test_setup(test_volman_sequence, each),
	    cmocka_unit_test_setup(test_purge, each),
	    cmocka_unit_test_setup(test_concurrent_container_mounts, each),
	    cmocka_unit_test_setup(test_volumes_in_parallel, each),
	    cmocka_unit_test_setup(test_two_containers_first_unmount_keeps_second, each),
	    cmocka_unit_test_setup(test_bad_requests_change_nothing, each),
	    cmocka_unit_test_setup(test_safe_error_over_http, each),
	    cmocka_unit_test_setup(test_stop_removes_spec_file, each),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
