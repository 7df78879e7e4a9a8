/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus exposition writer (agent/prom.c): its exact output for a snapshot fed
 * through the real counters (tests/fixtures/prom/scrape.txt: bucket bounds are inclusive,
 * failures split by result, the "unknown" backend shown only when it counted, step
 * histograms only for steps that ran), label escaping, no process_* lines without /proc,
 * and the /proc parsers. attachctl metrics' JSON keeps its shape with the new counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/prom.h"
#include "lib/fileio.h"

static char fixture[4096];

static int find_fixture(void **state)
{
	const char *s = getenv("SRCDIR");

	snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/prom/scrape.txt", s && *s ? s : ".");
	return 0;
}

static void timing(struct attach_volume *v, enum attach_step step, int64_t usec, int result)
{
	v->timings[v->n_timings++] =
	    (struct attach_timing){.step = step, .usec = usec, .result = result};
}

/* What a scrape sees after: a file volume attached (its steps on and around the bucket
 * bounds) and bound, an iscsi attach that failed at connect, a detach of a volume without
 * a backend; fencing and path events; gateway requests of every result. */
static void build(struct agent_metrics *m, struct agent_prom_snapshot *s)
{
	static struct attach_volume v;
	struct backend_request_stats gw;
	struct attach_path_event ev;
	unsigned first;

	agent_metrics_init(m);
	memset(&v, 0, sizeof(v));
	v.opts.be = &be_file_ops;
	timing(&v, STEP_PLAN, 1000, 0);
	timing(&v, STEP_CONNECT, 50000, 0);   /* exactly 0.05 s: in le="0.05" */
	timing(&v, STEP_AWAIT, 50001, 0);     /* just over: le="0.1" */
	timing(&v, STEP_MKFS, 120000000, 0);  /* the last bound */
	timing(&v, STEP_MOUNT, 120000001, 0); /* past every bound: +Inf only */
	agent_metrics_record(m, AGENT_METRICS_ATTACH, &v, 0, 0);
	first = v.n_timings;
	timing(&v, STEP_BIND, 3000, 0);
	agent_metrics_record(m, AGENT_METRICS_BIND, &v, first, 0);

	memset(&v, 0, sizeof(v));
	v.opts.be = &be_iscsi_ops;
	timing(&v, STEP_PLAN, 2000, 0);
	timing(&v, STEP_CONNECT, 2500000, -EIO);
	agent_metrics_record(m, AGENT_METRICS_ATTACH, &v, 0, -EIO);

	memset(&v, 0, sizeof(v));
	timing(&v, STEP_UMOUNT, 100, 0);
	agent_metrics_record(m, AGENT_METRICS_DETACH, &v, 0, 0);

	agent_metrics_fence_event(m, AGENT_FENCE_RESERVED);
	agent_metrics_fence_event(m, AGENT_FENCE_RESERVED);
	agent_metrics_fence_event(m, AGENT_FENCE_LOST);
	memset(&ev, 0, sizeof(ev));
	ev.kind = PATH_EV_FAILED;
	ev.down_ms = 1500;
	agent_metrics_path_event(m, &ev);
	ev.kind = PATH_EV_REINSTATED;
	ev.down_ms = 4000;
	agent_metrics_path_event(m, &ev);
	ev.kind = PATH_EV_ALL_DOWN;
	ev.down_ms = 0;
	agent_metrics_path_event(m, &ev);

	memset(s, 0, sizeof(*s));
	agent_metrics_snapshot(m, &s->metrics);
	s->census.attached[0] = 1; /* file */
	s->census.container_mounts = 2;
	s->census.in_flight = 1;
	s->census.paths_active = 3;
	s->census.paths_failed = 1;

	memset(&gw, 0, sizeof(gw));
	backend_request_record(&gw, 5000, 200); /* exactly 0.005 s */
	backend_request_record(&gw, 20000, 200);
	backend_request_record(&gw, 1000000, 401);
	backend_request_record(&gw, 31000000, -ETIMEDOUT);
	s->requests[0].backend = "scaleio";
	backend_request_read(&gw, &s->requests[0].stats);
	s->n_requests = 1;

	s->process = (struct agent_prom_process){
	    .valid = 1,
	    .cpu_usec = 1230000,
	    .start_time_usec = 1796304927660000,
	    .resident_bytes = 10629120,
	    .virtual_bytes = 360026112,
	    .threads = 9,
	    .open_fds = 18,
	    .max_fds = 8192,
	};
}

static void test_exact_output(void **state)
{
	struct agent_metrics m;
	struct agent_prom_snapshot s;
	char *text, *want = NULL;

	build(&m, &s);
	text = agent_prom_text(&s);
	assert_non_null(text);
	if (read_full_file(fixture, &want, NULL, 1 << 20) < 0)
		fail_msg("cannot read %s: run from the repository root or set SRCDIR", fixture);
	if (strcmp(text, want) != 0) {
		FILE *f = fopen("build/prom-scrape.got", "w");

		if (f) {
			fputs(text, f);
			fclose(f);
		}
		fail_msg("output differs from %s (got it in build/prom-scrape.got)", fixture);
	}
	free(want);
	free(text);
	agent_metrics_done(&m);
}

/* attachctl metrics reads the same counters: its totals and step sums are unchanged. */
static void test_json_unchanged(void **state)
{
	struct agent_metrics m;
	struct agent_prom_snapshot s;
	json_t *j;

	build(&m, &s);
	j = agent_metrics_json(&m);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "attaches")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "attach_failures")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "binds")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "detaches")), 1);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_object_get(j, "steps"), "connect"), "count")),
			 2);
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(json_object_get(j, "steps"), "connect"), "failures")),
			 1);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "paths"), "failures")), 1);
	json_decref(j);
	agent_metrics_done(&m);
}

static void test_label_escaping_and_no_process(void **state)
{
	struct agent_prom_snapshot s;
	char *text;

	memset(&s, 0, sizeof(s));
	s.requests[0].backend = "we\"ird\\back\nend";
	s.n_requests = 1;
	text = agent_prom_text(&s);
	assert_non_null(text);
	assert_non_null(strstr(text,
			       "attachd_gateway_requests_total{backend=\"we\\\"ird\\\\back\\nend\","
			       "result=\"success\"} 0\n"));
	assert_null(strstr(text, "process_"));
	/* Nothing ran: no step series, and no "unknown" backend. */
	assert_null(strstr(text, "attachd_attach_step_duration_seconds_bucket"));
	assert_null(strstr(text, "unknown"));
	assert_non_null(strstr(text, "# TYPE attachd_attach_step_duration_seconds histogram\n"));
	free(text);
}

static void test_parse_proc_stat(void **state)
{
	/* comm may hold spaces and parentheses. */
	const char *stat =
	    "4242 (attach d) (x)) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 73 0 0 20 0 9 0 "
	    "12345 360026112 2595 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
	struct agent_prom_process p;

	memset(&p, 0, sizeof(p));
	assert_int_equal(agent_prom_parse_proc_stat(stat, 1796300000, 100, 4096, &p), 0);
	assert_int_equal(p.cpu_usec, 3230000);				   /* (250 + 73) / 100 s */
	assert_int_equal(p.start_time_usec, 1796300000000000 + 123450000); /* btime + 123.45 s */
	assert_int_equal(p.threads, 9);
	assert_int_equal(p.virtual_bytes, 360026112);
	assert_int_equal(p.resident_bytes, 2595 * 4096);
	assert_int_equal(agent_prom_parse_proc_stat("4242 (x) S 1 2 3", 0, 100, 4096, &p), -EINVAL);
	assert_int_equal(agent_prom_parse_proc_stat("garbage", 0, 100, 4096, &p), -EINVAL);
	assert_int_equal(agent_prom_parse_proc_stat(NULL, 0, 100, 4096, &p), -EINVAL);
}

static void test_parse_boot_time(void **state)
{
	int64_t t = 0;

	assert_int_equal(agent_prom_parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1796300000\n"
						    "processes 9\n",
						    &t),
			 0);
	assert_int_equal(t, 1796300000);
	assert_int_equal(agent_prom_parse_boot_time("cpu 1\nbtimex 5\n", &t), -EINVAL);
	assert_int_equal(agent_prom_parse_boot_time("", &t), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_output),
	    cmocka_unit_test(test_json_unchanged),
	    cmocka_unit_test(test_label_escaping_and_no_process),
	    cmocka_unit_test(test_parse_proc_stat),
	    cmocka_unit_test(test_parse_boot_time),
	};

	return cmocka_run_group_tests(tests, find_fixture, NULL);
}
