/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The admin API's calls (agent/admin.c's router over agent/volumes_admin.c) on a registry
 * driven by the fake pipeline: ls/show details, secrets redacted, detach refused while
 * mounted and forced, drain (spec hook called, every volume detached, per-volume results),
 * trace, metrics and request errors. No sockets: agent_admin_handle() directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/admin.h"
#include "agent/log.h"
#include "agent/names.h"
#include "agent/volumes_internal.h"
#include "tests/lib/fakedriver.h"

static char tmp[] = "/tmp/test_ctl_admin.XXXXXX";
static struct attach_env env;
static struct agent_volumes *vols;
static struct agent_metrics metrics;
static int drain_calls, draining;

static int fake_drain_begin(void *userdata, struct errbuf *e)
{
	drain_calls++;
	draining = 1;
	return drain_calls == 1; /* removed the first time, already gone after */
}

static int fake_is_draining(void *userdata)
{
	return draining;
}

static struct agent_admin_ctx ctx = {
    .driver_name = "attachd-test",
    .drain_begin = fake_drain_begin,
    .is_draining = fake_is_draining,
};

static int setup(void **state)
{
	if (!mkdtemp(tmp))
		return -1;
	agent_log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
	memset(&env, 0, sizeof(env));
	snprintf(env.mount_root, sizeof(env.mount_root), "%s", tmp);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static int each_setup(void **state)
{
	fakedriver_reset();
	agent_metrics_init(&metrics);
	vols = agent_volumes_new(&env, &fakedriver_ops);
	ctx.vols = vols;
	ctx.metrics = &metrics;
	drain_calls = draining = 0;
	return vols ? 0 : -1;
}

static int each_teardown(void **state)
{
	fakedriver_set_multipath(NULL);
	vols = agent_volumes_free(vols);
	agent_metrics_done(&metrics);
	return 0;
}

static void mount(const char *name, const char *opts)
{
	struct agent_name n;
	struct errbuf e = {{0}};
	json_t *o = json_loads(opts, 0, NULL);
	char path[4096];

	assert_int_equal(agent_name_decode(name, &n, &e), 0);
	if (agent_volumes_create(vols, &n, name, o, &e) < 0 ||
	    agent_volumes_mount(vols, &n, name, path, sizeof(path), &e) < 0)
		fail_msg("mount %s: %s", name, e.msg);
	json_decref(o);
}

/* One call; returns the parsed answer (caller decrefs). */
static json_t *call(const char *url, const char *body)
{
	char *text = agent_admin_handle(&ctx, "POST", url, body ? body : "", body ? strlen(body) : 0);
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	if (!j)
		fail_msg("%s: not JSON: %s", url, text);
	free(text);
	assert_non_null(json_object_get(j, "Err"));
	return j;
}

static const char *err(const json_t *j)
{
	return json_string_value(json_object_get(j, "Err"));
}

static void expect_err(const char *url, const char *body, const char *needle, const char *eno)
{
	json_t *j = call(url, body);

	if (!strstr(err(j), needle))
		fail_msg("%s %s: '%s' not in Err '%s'", url, body ? body : "", needle, err(j));
	assert_string_equal(json_string_value(json_object_get(j, "errno")), eno);
	json_decref(j);
}

#define ISCSI                                                                                      \
	"{\"backend\":\"iscsi\",\"portal\":\"127.0.0.1:3260\",\"iqn\":\"iqn.2026-01.test:t\","     \
	"\"lun\":0,\"chap_user\":\"u\",\"chap_secret\":\"hush-hush-123\"}"
#define FILEV "{\"backend\":\"file\",\"size\":\"16M\"}"

static void test_ls_show(void **state)
{
	json_t *j, *v;
	char *dump;

	j = call("/v1/ls", NULL);
	assert_string_equal(err(j), "");
	assert_int_equal(json_array_size(json_object_get(j, "volumes")), 0);
	json_decref(j);

	mount("vb_c1", ISCSI);
	mount("vb_c2", ISCSI);
	mount("va_c1", FILEV);
	j = call("/v1/ls", NULL);
	assert_string_equal(err(j), "");
	v = json_object_get(j, "volumes");
	assert_int_equal(json_array_size(v), 2);
	/* sorted by key */
	assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "volume")), "va");
	v = json_array_get(v, 1);
	assert_string_equal(json_string_value(json_object_get(v, "backend")), "iscsi");
	assert_string_equal(json_string_value(json_object_get(v, "state")), "attached");
	assert_false(json_is_true(json_object_get(v, "busy")));
	assert_int_equal(json_array_size(json_object_get(v, "mounts")), 2);
	dump = json_dumps(j, 0);
	assert_null(strstr(dump, "hush-hush-123"));
	assert_non_null(strstr(dump, "\"chap_secret\": \"REDACTED\""));
	free(dump);
	json_decref(j);

	/* brief (attachctl ls's table): the same volumes, one array of the columns each */
	j = call("/v1/ls", "{\"brief\":true}");
	assert_string_equal(err(j), "");
	dump = json_dumps(json_object_get(j, "columns"), JSON_COMPACT);
	assert_string_equal(dump, "[\"volume\",\"backend\",\"state\",\"busy\",\"fs\",\"device\","
				  "\"dm\",\"n_mounts\",\"paths\",\"progress\"]");
	free(dump);
	v = json_object_get(j, "volumes");
	assert_int_equal(json_array_size(v), 2);
	assert_string_equal(json_string_value(json_array_get(json_array_get(v, 0), 0)), "va");
	dump = json_dumps(json_array_get(v, 1), JSON_COMPACT);
	/* the fake driver attaches without a device or dm in the registry's view */
	assert_non_null(strstr(dump, "[\"vb\",\"iscsi\",\"attached\",false,\"ext4\","));
	assert_non_null(strstr(dump, ",2]"));
	free(dump);
	dump = json_dumps(j, 0);
	assert_null(strstr(dump, "hush-hush-123"));
	assert_null(strstr(dump, "REDACTED"));
	free(dump);
	json_decref(j);

	/* show by key and by wire name */
	j = call("/v1/show", "{\"name\":\"vb\"}");
	assert_string_equal(err(j), "");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "volume"), "volume")),
			    "vb");
	assert_non_null(json_object_get(json_object_get(j, "volume"), "trace"));
	json_decref(j);
	j = call("/v1/show", "{\"name\":\"va_c9\"}");
	assert_string_equal(err(j), "");
	json_decref(j);
	expect_err("/v1/show", "{\"name\":\"nope\"}", "no volume 'nope'", "ENOENT");
	expect_err("/v1/show", "{}", "show needs a \"name\"", "EINVAL");
	expect_err("/v1/show", "{\"name\":", "must be a JSON object", "EINVAL");
	expect_err("/v1/frob", NULL, "unknown call 'frob'", "ENOENT");
	expect_err("/VolumeDriver.List", NULL, "unknown path", "ENOENT");
}

static void test_detach(void **state)
{
	json_t *j;

	mount("vb_c1", ISCSI);
	mount("vb_c2", ISCSI);
	expect_err("/v1/detach", "{\"name\":\"vb\"}",
		   "volume 'vb' is still mounted for 2 container names", "EBUSY");
	assert_int_equal(fakedriver_get().down, 0);
	assert_int_equal(fakedriver_get().unbind, 0);

	j = call("/v1/detach", "{\"name\":\"vb\",\"force\":true}");
	assert_string_equal(err(j), "");
	assert_string_equal(json_string_value(json_object_get(j, "result")), "detached");
	json_decref(j);
	assert_int_equal(fakedriver_get().unbind, 2);
	assert_int_equal(fakedriver_get().down, 1);

	j = call("/v1/show", "{\"name\":\"vb\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "volume"), "state")),
			    "detached");
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "volume"), "mounts")), 0);
	json_decref(j);

	j = call("/v1/detach", "{\"name\":\"vb\"}");
	assert_string_equal(json_string_value(json_object_get(j, "result")), "not-attached");
	json_decref(j);

	/* a failing detach keeps the volume attached and says why */
	mount("vc_c1", FILEV);
	fakedriver_set(0, 0, 0, -EBUSY, 0);
	expect_err("/v1/detach", "{\"name\":\"vc\",\"force\":true}", "detaching volume 'vc' failed",
		   "EBUSY");
	fakedriver_set(0, 0, 0, 0, 0);
	j = call("/v1/show", "{\"name\":\"vc\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "volume"), "state")),
			    "attached");
	json_decref(j);
}

static void test_drain(void **state)
{
	json_t *j, *r;
	size_t i;

	mount("va_c1", FILEV);
	mount("vb_c1", ISCSI);
	mount("vb_c2", ISCSI);
	j = call("/v1/drain", NULL);
	assert_string_equal(err(j), "");
	assert_true(json_is_true(json_object_get(j, "spec_removed")));
	assert_int_equal(json_array_size(json_object_get(j, "results")), 2);
	json_array_foreach(json_object_get(j, "results"), i, r)
	    assert_string_equal(json_string_value(json_object_get(r, "result")), "detached");
	json_decref(j);
	assert_int_equal(drain_calls, 1);
	assert_int_equal(fakedriver_get().down, 2);

	j = call("/v1/ping", NULL);
	assert_true(json_is_true(json_object_get(j, "draining")));
	assert_string_equal(json_string_value(json_object_get(j, "driver_name")), "attachd-test");
	json_decref(j);

	/* again: nothing attached, spec already gone */
	j = call("/v1/drain", NULL);
	assert_string_equal(err(j), "");
	assert_false(json_is_true(json_object_get(j, "spec_removed")));
	json_array_foreach(json_object_get(j, "results"), i, r)
	    assert_string_equal(json_string_value(json_object_get(r, "result")), "not-attached");
	json_decref(j);
}

static void test_drain_forced_and_failed(void **state)
{
	json_t *j;

	mount("va_c1", FILEV);
	/* every down fails: clean and forced both; the volume is reported failed */
	fakedriver_set(0, 0, 0, -EBUSY, 0);
	j = call("/v1/drain", NULL);
	assert_string_equal(err(j), "1 of 1 volume could not be detached");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
				json_object_get(j, "results"), 0), "result")),
			    "failed");
	json_decref(j);
	fakedriver_set(0, 0, 0, 0, 0);
}

static void test_trace_metrics(void **state)
{
	json_t *j, *m;

	mount("va_c1", FILEV);
	j = call("/v1/trace", "{\"name\":\"va\"}");
	assert_string_equal(err(j), "");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "trace"), "volume")),
			    "va");
	json_decref(j);
	expect_err("/v1/trace", "{\"name\":\"zz\"}", "no volume 'zz'", "ENOENT");

	agent_metrics_record(&metrics, AGENT_METRICS_ATTACH,
			     &(struct attach_volume){.n_timings = 2,
						     .timings = {{STEP_CONNECT, 2000, 0},
								 {STEP_DM, 500, -EIO}}},
			     0, -EIO);
	j = call("/v1/metrics", NULL);
	m = json_object_get(j, "metrics");
	assert_int_equal(json_integer_value(json_object_get(m, "attaches")), 1);
	assert_int_equal(json_integer_value(json_object_get(m, "attach_failures")), 1);
	m = json_object_get(json_object_get(m, "steps"), "dm-map");
	assert_int_equal(json_integer_value(json_object_get(m, "failures")), 1);
	assert_true(json_real_value(json_object_get(m, "total_ms")) == 0.5);
	json_decref(j);
}

static int kicks;

static void count_kick(void *ud)
{
	assert_ptr_equal(ud, &kicks);
	kicks++;
}

/* The path checker sleeps while no volume is multipath: it is woken (on_multipath) when an
 * attach makes one, once, and not for single-path volumes. */
static void test_multipath_wakes_checker(void **state)
{
	kicks = 0;
	pthread_mutex_lock(&vols->lock);
	vols->on_multipath = count_kick;
	vols->on_multipath_ud = &kicks;
	pthread_mutex_unlock(&vols->lock);
	fakedriver_set_multipath("mp");
	mount("single_app-1", FILEV);
	assert_int_equal(kicks, 0);
	mount("mp_app-1", FILEV);
	assert_int_equal(kicks, 1);
	mount("mp_app-2", FILEV);
	assert_int_equal(kicks, 1); /* still the same multipath volume */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ls_show, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_wakes_checker, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_detach, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_drain, each_setup, each_teardown),
	    cmocka_unit_test_setup_teardown(test_drain_forced_and_failed, each_setup,
					    each_teardown),
	    cmocka_unit_test_setup_teardown(test_trace_metrics, each_setup, each_teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
