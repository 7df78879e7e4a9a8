/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent/volman.c + agent/volumes.c without HTTP: routes, request decoding, response
 * shapes, SafeError wrapping, refcounting and rollbacks, on the fake pipeline (which makes
 * directories under a temporary mount root).
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

#include "agent/log.h"
#include "agent/volman.h"
#include "agent/volumes.h"
#include "tests/lib/fakedriver.h"

static char root[] = "/tmp/test_agent_volman.XXXXXX";
static char logpath[300];
static struct attach_env env;
static struct agent_volumes *reg;
static int logfd = -1;

#define FILE_OPTS "{\"backend\":\"file\",\"size\":\"16M\"}"

static json_t *call(const char *url, const char *body)
{
	char *text =
	    agent_volman_handle(reg, "POST", url, body ? body : "", body ? strlen(body) : 0);
	json_error_t jerr;
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, &jerr);
	if (!j)
		fail_msg("%s answered non-JSON: %s", url, text);
	free(text);
	assert_true(json_is_object(j));
	/* Err is always there. */
	assert_true(json_is_string(json_object_get(j, "Err")));
	return j;
}

static const char *err_of(json_t *j)
{
	return json_string_value(json_object_get(j, "Err"));
}

/* Call and expect success; returns the response (caller frees). */
static json_t *call_ok(const char *url, const char *body)
{
	json_t *j = call(url, body);

	if (strcmp(err_of(j), "") != 0)
		fail_msg("%s %s: Err %s", url, body ? body : "", err_of(j));
	return j;
}

static void expect_err(const char *url, const char *body, const char *needle)
{
	json_t *j = call(url, body);

	if (!strstr(err_of(j), needle))
		fail_msg("%s %s: '%s' not in Err '%s'", url, body ? body : "", needle, err_of(j));
	json_decref(j);
}

/* The SafeDescription inside a SafeError Err (the test fails if Err is not one). */
static char *safe_description(json_t *resp)
{
	json_error_t jerr;
	json_t *inner = json_loads(err_of(resp), 0, &jerr);
	char *s;

	if (!inner || !json_is_string(json_object_get(inner, "SafeDescription")))
		fail_msg("Err is not a SafeError: %s", err_of(resp));
	s = strdup(json_string_value(json_object_get(inner, "SafeDescription")));
	json_decref(inner);
	return s;
}

static void create(const char *name, const char *opts)
{
	char body[1024];

	snprintf(body, sizeof(body), "{\"Name\":\"%s\",\"Opts\":%s}", name, opts);
	json_decref(call_ok("/VolumeDriver.Create", body));
}

static char *mount(const char *name)
{
	char body[512];
	json_t *j;
	char *mp;

	snprintf(body, sizeof(body), "{\"Name\":\"%s\"}", name);
	j = call_ok("/VolumeDriver.Mount", body);
	assert_int_equal(json_object_size(j), 2);
	mp = strdup(json_string_value(json_object_get(j, "Mountpoint")));
	json_decref(j);
	return mp;
}

static void unmount(const char *name)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"Name\":\"%s\"}", name);
	json_decref(call_ok("/VolumeDriver.Unmount", body));
}

static int list_count(const char *name)
{
	json_t *j = call_ok("/VolumeDriver.List", NULL), *v;
	size_t i;
	int count = -1;

	json_array_foreach(json_object_get(j, "Volumes"), i, v)
	{
		if (!strcmp(json_string_value(json_object_get(v, "Name")), name))
			count = (int)json_integer_value(json_object_get(v, "MountCount"));
	}
	json_decref(j);
	return count;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int setup(void **state)
{
	if (!mkdtemp(root))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s.log", root);
	logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return -1;
	agent_log_set_fd(logfd);
	sys_init_real(&env.sys);
	snprintf(env.mount_root, sizeof(env.mount_root), "%s/mnt", root);
	return 0;
}

static int teardown(void **state)
{
	char cmd[700];

	agent_log_set_fd(STDOUT_FILENO);
	close(logfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, logpath);
	return system(cmd) == 0 ? 0 : -1;
}

static int each_setup(void **state)
{
	fakedriver_reset();
	reg = agent_volumes_new(&env, &fakedriver_ops);
	return reg ? 0 : -1;
}

static int each_teardown(void **state)
{
	reg = agent_volumes_free(reg);
	return 0;
}

static void test_activate_and_static_shapes(void **state)
{
	json_t *j = call_ok("/Plugin.Activate", NULL);
	json_t *want = json_pack("{s:[s],s:s}", "Implements", "VolumeDriver", "Err", "");

	assert_true(json_equal(j, want));
	json_decref(want);
	json_decref(j);
	/* Docker sends "{}"; anything is ignored for the argument-less calls. */
	json_decref(call_ok("/Plugin.Activate", "{}"));
	json_decref(call_ok("/Plugin.Activate", "not json at all"));

	j = call_ok("/VolumeDriver.Capabilities", NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "Capabilities"), "Scope")),
	    "local");
	json_decref(j);

	j = call_ok("/VolumeDriver.List", NULL);
	assert_true(json_is_array(json_object_get(j, "Volumes")));
	assert_int_equal(json_array_size(json_object_get(j, "Volumes")), 0);
	json_decref(j);
}

static void test_unknown_call_and_method(void **state)
{
	char *text = agent_volman_handle(reg, "POST", "/VolumeDriver.Frobnicate", "", 0);

	assert_non_null(strstr(text, "unknown call '/VolumeDriver.Frobnicate'"));
	assert_non_null(strstr(text, "/VolumeDriver.Mount"));
	free(text);
	text = agent_volman_handle(reg, "GET", "/Plugin.Activate", "", 0);
	assert_non_null(strstr(text, "method GET not allowed"));
	assert_null(strstr(text, "Implements\":[\"VolumeDriver\"],\"Err\":\"\""));
	free(text);
}

static void test_bad_requests(void **state)
{
	expect_err("/VolumeDriver.Create", NULL, "empty request body");
	expect_err("/VolumeDriver.Create", "{\"Name\":", "malformed JSON request body");
	expect_err("/VolumeDriver.Create", "[1]", "must be a JSON object, not an array");
	expect_err("/VolumeDriver.Create", "{\"Opts\":{}}", "missing volume name");
	expect_err("/VolumeDriver.Create", "{\"Name\":5}", "'Name' must be a string, not a number");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"a\",\"Name\":\"b\"}", "duplicate");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"../x\",\"Opts\":" FILE_OPTS "}",
		   "'/' is not allowed");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"a\\\\b\",\"Opts\":" FILE_OPTS "}",
		   "'\\' is not allowed");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"..\",\"Opts\":" FILE_OPTS "}",
		   "invalid volume name");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"a\\u0000b\",\"Opts\":" FILE_OPTS "}",
		   "NUL");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"v\",\"Opts\":\"backend=file\"}",
		   "'Opts' must be a JSON object or null");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"v\",\"Opts\":null}",
		   "invalid options for volume 'v'");
	expect_err("/VolumeDriver.Create", "{\"Name\":\"v\"}", "invalid options for volume 'v'");
	expect_err("/VolumeDriver.Mount", "{\"Name\":[]}", "must be a string");
	/* None of it left a trace. */
	assert_int_equal(list_count("v"), -1);
	expect_err("/VolumeDriver.Get", "{\"Name\":\"v\"}", "Volume 'v' not found");
}

static void test_create_reports_every_problem(void **state)
{
	json_t *j = call("/VolumeDriver.Create",
			 "{\"Name\":\"v_c\",\"Opts\":{\"backend\":\"file\",\"size\":\"1.5G\","
			 "\"bogus\":1,\"other\":true,\"fs\":\"ntfs\"}}");
	const char *err = err_of(j);

	assert_non_null(strstr(err, "invalid options for volume 'v'"));
	assert_non_null(strstr(err, "bogus"));
	assert_non_null(strstr(err, "other"));
	assert_non_null(strstr(err, "fs"));
	assert_non_null(strstr(err, "size"));
	json_decref(j);
	expect_err("/VolumeDriver.Create", "{\"Name\":\"v\",\"Opts\":{\"backend\":\"floppy\"}}",
		   "backend");
	/* Nothing was stored, but the next Mount (any container of v) tells the app why:
	 * Volman shows only Mount's SafeError. */
	assert_int_equal(list_count("v"), -1);
	j = call("/VolumeDriver.Mount", "{\"Name\":\"v_other\"}");
	{
		char *d = safe_description(j);

		assert_non_null(strstr(d, "invalid options for volume 'v'"));
		assert_non_null(strstr(d, "backend"));
		assert_non_null(strstr(d, "mount_config"));
		free(d);
	}
	json_decref(j);
	j = call("/VolumeDriver.Create",
		 "{\"Name\":\"v_c\",\"Opts\":{\"backend\":\"file\","
		 "\"size\":\"1.5G\",\"bogus\":1,\"other\":true,\"fs\":\"ntfs\"}}");
	json_decref(j);
	j = call("/VolumeDriver.Mount", "{\"Name\":\"v_c\"}");
	{
		char *d = safe_description(j);

		assert_non_null(strstr(d, "bogus"));
		assert_non_null(strstr(d, "other"));
		assert_non_null(strstr(d, "fs"));
		assert_non_null(strstr(d, "size"));
		free(d);
	}
	json_decref(j);
	/* A good Create clears it. */
	create("v_c", FILE_OPTS);
	free(mount("v_c"));
	unmount("v_c");
}

static void test_create_problem_bound_and_remove(void **state)
{
	char body[256];
	json_t *j;

	/* Remove clears a remembered problem: Mount is back to "create first". */
	expect_err("/VolumeDriver.Create", "{\"Name\":\"r_c\",\"Opts\":{\"backend\":\"x\"}}",
		   "backend");
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"r_c\"}", "invalid options");
	json_decref(call("/VolumeDriver.Remove", "{\"Name\":\"r_c\"}"));
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"r_c\"}", "must be created");
	/* At most 64 names are kept: the oldest is forgotten. */
	for (int i = 0; i < 65; i++) {
		snprintf(body, sizeof(body), "{\"Name\":\"b%d_c\",\"Opts\":{\"backend\":\"x\"}}",
			 i);
		json_decref(call("/VolumeDriver.Create", body));
	}
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"b0_c\"}", "must be created");
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"b1_c\"}", "invalid options");
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"b64_c\"}", "invalid options");
	/* Secrets in bad options are never echoed by the Mount. */
	j = call("/VolumeDriver.Create",
		 "{\"Name\":\"s_c\",\"Opts\":{\"backend\":\"iscsi\",\"chap_secret\":\"hunter2xyz\","
		 "\"bogus\":1}}");
	json_decref(j);
	j = call("/VolumeDriver.Mount", "{\"Name\":\"s_c\"}");
	assert_non_null(strstr(err_of(j), "bogus"));
	assert_null(strstr(err_of(j), "hunter2xyz"));
	json_decref(j);
}

static void test_secrets_not_logged(void **state)
{
	char buf[65536];
	ssize_t k;

	json_decref(call("/VolumeDriver.Create",
			 "{\"Name\":\"sec\",\"Opts\":{\"backend\":\"iscsi\",\"iqn\":\"iqn.x:t\","
			 "\"portal\":\"127.0.0.1:3260\",\"lun\":0,\"chap_user\":\"u\","
			 "\"chap_secret\":\"hunter2hunter2\",\"password\":\"pw-zzz\"}}"));
	k = pread(logfd, buf, sizeof(buf) - 1, 0);
	assert_true(k > 0);
	buf[k] = 0;
	assert_non_null(strstr(buf, "attachd.create.start"));
	assert_null(strstr(buf, "hunter2hunter2"));
	assert_null(strstr(buf, "pw-zzz"));
	assert_non_null(strstr(buf, "REDACTED"));
}

static void test_mount_unmount_unique(void **state)
{
	char *mp1, *mp2, staging[4200], *d;
	struct fakedriver_state st;
	json_t *j;

	create("vol=1_c1", FILE_OPTS);
	create("vol=1_c1", FILE_OPTS); /* Volman repeats Create before every Mount */
	mp1 = mount("vol=1_c1");
	create("vol=1_c2", FILE_OPTS);
	mp2 = mount("vol=1_c2");
	/* Absolute, under the mount root, per container, the '=' decoded. */
	assert_true(strncmp(mp1, env.mount_root, strlen(env.mount_root)) == 0);
	assert_string_equal(mp1 + strlen(env.mount_root), "/vol_1/c1");
	assert_string_equal(mp2 + strlen(env.mount_root), "/vol_1/c2");
	assert_true(is_dir(mp1) && is_dir(mp2));
	st = fakedriver_get();
	assert_int_equal(st.up, 1);
	assert_int_equal(st.bind, 2);

	assert_int_equal(list_count("vol=1_c1"), 1);
	assert_int_equal(list_count("vol=1_c2"), 1);
	j = call_ok("/VolumeDriver.Get", "{\"Name\":\"vol=1_c1\"}");
	{
		json_t *want = json_pack("{s:s,s:s,s:i}", "Name", "vol=1_c1", "Mountpoint", mp1,
					 "MountCount", 1);

		assert_true(json_equal(json_object_get(j, "Volume"), want));
		json_decref(want);
	}
	json_decref(j);
	j = call_ok("/VolumeDriver.Path", "{\"Name\":\"vol=1_c2\"}");
	assert_string_equal(json_string_value(json_object_get(j, "Mountpoint")), mp2);
	json_decref(j);

	/* Changing the options of a mounted volume is refused; the same options are fine. */
	expect_err("/VolumeDriver.Create",
		   "{\"Name\":\"vol=1_c3\",\"Opts\":{\"backend\":\"file\",\"size\":\"32M\"}}",
		   "mounted with different options");
	expect_err("/VolumeDriver.Remove", "{\"Name\":\"vol=1_c1\"}", "in use");

	/* First container goes: the second keeps its mount, the volume stays attached. */
	unmount("vol=1_c1");
	assert_false(is_dir(mp1));
	assert_true(is_dir(mp2));
	st = fakedriver_get();
	assert_int_equal(st.unbind, 1);
	assert_int_equal(st.down, 0);
	assert_int_equal(list_count("vol=1_c1"), -1);
	j = call("/VolumeDriver.Unmount", "{\"Name\":\"vol=1_c1\"}");
	assert_non_null(strstr(err_of(j), "Volume 'vol=1_c1' not found"));
	json_decref(j);

	/* Last container: detached. */
	unmount("vol=1_c2");
	st = fakedriver_get();
	assert_int_equal(st.unbind, 2);
	assert_int_equal(st.down, 1);
	snprintf(staging, sizeof(staging), "%s/.staging/vol_1", env.mount_root);
	assert_false(is_dir(staging));

	/* Not attached any more: new options are accepted, then Remove works. */
	create("vol=1_c3", "{\"backend\":\"file\",\"size\":\"32M\"}");
	json_decref(call_ok("/VolumeDriver.Remove", "{\"Name\":\"vol=1_c3\"}"));
	expect_err("/VolumeDriver.Remove", "{\"Name\":\"vol=1_c3\"}", "not found");
	j = call("/VolumeDriver.Mount", "{\"Name\":\"vol=1_c3\"}");
	d = safe_description(j);
	assert_non_null(strstr(d, "must be created"));
	free(d);
	json_decref(j);
	free(mp1);
	free(mp2);
}

static void test_plain_name_refcount(void **state)
{
	char *a, *b;
	struct fakedriver_state st;

	create("shared1", FILE_OPTS);
	a = mount("shared1");
	b = mount("shared1");
	assert_string_equal(a, b);
	assert_string_equal(a + strlen(env.mount_root), "/shared1/" AGENT_SHARED_CONTAINER);
	assert_int_equal(list_count("shared1"), 2);
	st = fakedriver_get();
	assert_int_equal(st.up, 1);
	unmount("shared1");
	assert_int_equal(list_count("shared1"), 1);
	assert_true(is_dir(a));
	st = fakedriver_get();
	assert_int_equal(st.unbind, 0);
	unmount("shared1");
	assert_int_equal(list_count("shared1"), -1);
	assert_false(is_dir(a));
	st = fakedriver_get();
	assert_int_equal(st.unbind, 1);
	assert_int_equal(st.down, 1);
	free(a);
	free(b);
}

static void test_mount_failures_are_safe_errors(void **state)
{
	struct fakedriver_state st;
	json_t *j;
	char *d;

	create("bad_c1", FILE_OPTS);
	fakedriver_set(-ENXIO, 0, 0, 0, 0);
	j = call("/VolumeDriver.Mount", "{\"Name\":\"bad_c1\"}");
	d = safe_description(j);
	assert_non_null(strstr(d, "attaching volume 'bad' failed"));
	assert_non_null(strstr(d, "LUN 3 not found"));
	assert_string_equal(json_string_value(json_object_get(j, "Mountpoint")), "");
	free(d);
	json_decref(j);
	assert_int_equal(list_count("bad_c1"), -1);

	/* Bind fails on a fresh attachment: rolled back (down), nothing listed. */
	fakedriver_set(0, -EIO, 0, 0, 0);
	j = call("/VolumeDriver.Mount", "{\"Name\":\"bad_c1\"}");
	d = safe_description(j);
	assert_non_null(strstr(d, "bind mount failed"));
	free(d);
	json_decref(j);
	st = fakedriver_get();
	assert_int_equal(st.up, 2);
	assert_int_equal(st.down, 1);
	assert_int_equal(list_count("bad_c1"), -1);

	/* Bad name on Mount: a SafeError too. */
	j = call("/VolumeDriver.Mount", "{\"Name\":\"a/b\"}");
	d = safe_description(j);
	assert_non_null(strstr(d, "invalid volume name"));
	free(d);
	json_decref(j);
	fakedriver_set(0, 0, 0, 0, 0);
}

static void test_unbind_failure_keeps_the_name(void **state)
{
	char *mp;

	create("ub_c1", FILE_OPTS);
	mp = mount("ub_c1");
	fakedriver_set(0, 0, -EBUSY, 0, 0);
	expect_err("/VolumeDriver.Unmount", "{\"Name\":\"ub_c1\"}", "target is busy");
	/* Still listed: Volman's purge (List + Unmount) or a retry can finish the job. */
	assert_int_equal(list_count("ub_c1"), 1);
	fakedriver_set(0, 0, 0, 0, 0);
	unmount("ub_c1");
	assert_int_equal(list_count("ub_c1"), -1);
	assert_int_equal(fakedriver_get().down, 1);
	free(mp);
}

static void test_same_device_refused(void **state)
{
	char opts[600];

	/* file paths are relative to file.dir (issue 7 §3) */
	snprintf(opts, sizeof(opts), "{\"backend\":\"file\",\"size\":\"16M\",\"path\":\"%s\"}",
		 "shared/one.img");
	char *mp;

	create("first", opts);
	/* Only created, not attached: a second definition of the device is no conflict
	 * (Volman never calls Remove, so stale definitions must not block a device). */
	create("second_c", opts);
	mp = mount("first");
	{
		char body[800];

		snprintf(body, sizeof(body), "{\"Name\":\"third_c\",\"Opts\":%s}", opts);
		expect_err("/VolumeDriver.Create", body, "same device as volume 'first'");
	}
	/* Defined earlier, mounted while 'first' holds the device: refused at Mount. */
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"second_c\"}",
		   "same device as volume 'first'");
	create("first_c9", opts); /* the same key again is fine */
	unmount("first");
	free(mp);
	mp = mount("second_c");
	unmount("second_c");
	free(mp);
}

/* A Mount in its own thread: Create then Mount name, Err kept in *ret_err. */
struct mount_job {
	pthread_t t;
	char name[64];
	char err[1024];
};

static void *mount_thread(void *p)
{
	struct mount_job *j = p;
	char body[256], *text;
	json_t *resp;

	snprintf(body, sizeof(body), "{\"Name\":\"%s\",\"Opts\":%s}", j->name, FILE_OPTS);
	text = agent_volman_handle(reg, "POST", "/VolumeDriver.Create", body, strlen(body));
	free(text);
	snprintf(body, sizeof(body), "{\"Name\":\"%s\"}", j->name);
	text = agent_volman_handle(reg, "POST", "/VolumeDriver.Mount", body, strlen(body));
	resp = text ? json_loads(text, 0, NULL) : NULL;
	snprintf(j->err, sizeof(j->err), "%s",
		 resp ? json_string_value(json_object_get(resp, "Err")) : "no answer");
	json_decref(resp);
	free(text);
	return NULL;
}

static void wait_for_up_calls(int n)
{
	struct timespec ts = {.tv_nsec = 10 * 1000000L};

	while (fakedriver_get().up < n)
		nanosleep(&ts, NULL);
}

/* limits.max_pipelines: six attaches at once, two pipelines at a time, all served. */
static void test_pipelines_bounded(void **state)
{
	struct mount_job jobs[6];

	agent_volumes_set_limits(reg, 2, 60);
	fakedriver_set(0, 0, 0, 0, 300);
	for (int i = 0; i < 6; i++) {
		snprintf(jobs[i].name, sizeof(jobs[i].name), "lim%d_c", i);
		assert_int_equal(pthread_create(&jobs[i].t, NULL, mount_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(jobs[i].t, NULL), 0);
		assert_string_equal(jobs[i].err, "");
	}
	assert_int_equal(fakedriver_get().up, 6);
	assert_true(fakedriver_get().max_parallel_up <= 2);
	assert_true(fakedriver_get().max_parallel_up >= 1);
	fakedriver_set(0, 0, 0, 0, 0);
	for (int i = 0; i < 6; i++)
		unmount(jobs[i].name);
}

/* limits.lock_wait_s: a request behind a long operation on the same volume gets a clear
 * "busy" answer naming how long and what step, instead of waiting for ever. */
static void test_lock_wait_bounded(void **state)
{
	struct mount_job a = {.name = "slow_c1"};
	json_t *j;

	agent_volumes_set_limits(reg, 8, 1);
	fakedriver_set(0, 0, 0, 0, 4000);
	assert_int_equal(pthread_create(&a.t, NULL, mount_thread, &a), 0);
	wait_for_up_calls(1);
	j = call("/VolumeDriver.Mount", "{\"Name\":\"slow_c2\"}");
	if (!strstr(err_of(j), "busy: another operation on this volume has run for ") ||
	    !strstr(err_of(j), " s (step attach)"))
		fail_msg("Err '%s'", err_of(j));
	json_decref(j);
	/* A Create with the same options changes nothing and is answered at once, not after
	 * lock_wait_s behind the Mount: containers start on one volume together. */
	j = call("/VolumeDriver.Create", "{\"Name\":\"slow_c3\",\"Opts\":" FILE_OPTS "}");
	assert_string_equal(err_of(j), "");
	json_decref(j);
	/* Get and List never wait for operations. */
	assert_int_equal(list_count("slow_c1"), -1);
	assert_int_equal(pthread_join(a.t, NULL), 0);
	assert_string_equal(a.err, "");
	fakedriver_set(0, 0, 0, 0, 0);
	/* Once the operation is over the same request is served. */
	free(mount("slow_c2"));
	unmount("slow_c2");
	unmount("slow_c1");
}

/* Two volume ids whose options differ but which resolve to one kernel device: the second
 * is refused naming the first, and the first is untouched (still mounted, not detached). */
static void test_same_resolved_device_refused(void **state)
{
	char *mp;

	fakedriver_same_device("da", "db");
	create("da_c1", "{\"backend\":\"file\",\"size\":\"16M\",\"path\":\"x/a.img\"}");
	create("db_c1", "{\"backend\":\"file\",\"size\":\"16M\",\"path\":\"x/b.img\"}");
	mp = mount("da_c1");
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"db_c1\"}",
		   "resolves to the device volume 'da' already uses");
	assert_int_equal(fakedriver_get().down, 0);
	assert_true(is_dir(mp));
	assert_int_equal(list_count("da_c1"), 1);
	unmount("da_c1");
	free(mp);
	/* The device is free again: the other volume id may have it now. */
	mp = mount("db_c1");
	unmount("db_c1");
	free(mp);
}

/* A device number is only a device while its WWID is the same: a number the kernel reused
 * for another LU (the first volume's disk deleted by a detach still under way, e.g. a
 * multipath volume's path) does not refuse the second volume. */
static void test_reused_device_number_not_refused(void **state)
{
	char *a, *b;

	fakedriver_same_number("ra", "rb");
	create("ra_c1", "{\"backend\":\"file\",\"size\":\"16M\",\"path\":\"x/ra.img\"}");
	create("rb_c1", "{\"backend\":\"file\",\"size\":\"16M\",\"path\":\"x/rb.img\"}");
	a = mount("ra_c1");
	b = mount("rb_c1");
	assert_int_equal(list_count("rb_c1"), 1);
	unmount("rb_c1");
	unmount("ra_c1");
	free(a);
	free(b);
}

/* An attach whose rollback failed leaves kernel objects its record names: new options must
 * not replace that record (the objects would leak), and a retried Mount cleans up first. */
static void test_leftovers_are_busy(void **state)
{
	char *mp;

	create("lo_c1", FILE_OPTS);
	fakedriver_set_leftovers(1);
	fakedriver_set(-EIO, 0, 0, 0, 0);
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"lo_c1\"}", "LUN 3 not found");
	fakedriver_set(0, 0, 0, 0, 0);
	expect_err("/VolumeDriver.Create",
		   "{\"Name\":\"lo_c1\",\"Opts\":{\"backend\":\"file\",\"size\":\"32M\"}}",
		   "could not be rolled back (the record says reached dm-map, doing none); clean "
		   "it up first");
	assert_int_equal(fakedriver_get().down, 0);
	mp = mount("lo_c1");
	assert_int_equal(fakedriver_get().down, 1); /* the leftovers, before attaching */
	assert_int_equal(fakedriver_get().up, 2);
	unmount("lo_c1");
	free(mp);
	/* Clean now: new options are accepted. */
	create("lo_c1", "{\"backend\":\"file\",\"size\":\"32M\"}");
}

/* A host without what every attach needs: Mounts say what is missing, nothing is tried. */
static void test_host_check_refuses_mounts(void **state)
{
	create("hc_c1", FILE_OPTS);
	fakedriver_set_check(-ENODEV);
	expect_err("/VolumeDriver.Mount", "{\"Name\":\"hc_c1\"}",
		   "device-mapper not available: load dm-mod");
	assert_int_equal(fakedriver_get().up, 0);
	fakedriver_set_check(0);
	free(mount("hc_c1"));
	unmount("hc_c1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_activate_and_static_shapes, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_call_and_method, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_create_reports_every_problem, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_not_logged, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_mount_unmount_unique, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_plain_name_refcount, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_mount_failures_are_safe_errors, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_unbind_failure_keeps_the_name, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_same_device_refused, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_reused_device_number_not_refused, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_pipelines_bounded, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_lock_wait_bounded, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_same_resolved_device_refused, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_leftovers_are_busy, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_create_problem_bound_and_remove, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_host_check_refuses_mounts, each_setup,
					    each_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
