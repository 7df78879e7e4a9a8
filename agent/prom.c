/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus text format, version 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats):
 * per metric one "# HELP" and one "# TYPE" line, then its samples; label values escape \,
 * " and newline; histograms as cumulative _bucket{le} lines ending with le="+Inf", then
 * _sum and _count. Durations are seconds, printed exactly from microseconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/prom.h"
#include "lib/macro.h"

/* usec as seconds, exactly: "0", "0.05", "3.000123". */
static const char *secs(char buf[32], int64_t usec)
{
	int n;

	if (usec < 0)
		usec = 0;
	n = snprintf(buf, 32, "%" PRId64 ".%06" PRId64, usec / 1000000, usec % 1000000);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = 0;
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = 0;
	return buf;
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped. */
static void value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* Backend slot i counted something: the "unknown" slot is written only then. */
static int backend_is_written(const struct agent_metrics_data *m, unsigned i)
{
	if (!agent_metrics_backend_name(i))
		return 0;
	if (i != AGENT_METRICS_MAX_BACKENDS - 1)
		return 1;
	for (int op = 0; op < _AGENT_METRICS_OP_MAX; op++)
		if (m->be_ops[i][op])
			return 1;
	return 0;
}

static uint64_t hist_count(const struct agent_metrics_hist *h)
{
	uint64_t n = 0;

	for (unsigned k = 0; k <= AGENT_METRICS_STEP_BUCKETS; k++)
		n += h->bucket[k];
	return n;
}

static void operations(FILE *f, const struct agent_metrics_data *m)
{
	header(f, "attachd_operations_total", "counter",
	       "Pipeline operations (attach, detach, bind, unbind, expand) by backend and result.");
	for (int op = 0; op < _AGENT_METRICS_OP_MAX; op++)
		for (unsigned b = 0; b < AGENT_METRICS_MAX_BACKENDS; b++) {
			const char *be = agent_metrics_backend_name(b);
			uint64_t all = m->be_ops[b][op], failed = m->be_op_failures[b][op];

			if (!backend_is_written(m, b))
				continue;
			fprintf(f, "attachd_operations_total{op=\"%s\",backend=\"",
				agent_metrics_op_name(op));
			value(f, be);
			fprintf(f, "\",result=\"success\"} %" PRIu64 "\n", all - failed);
			fprintf(f, "attachd_operations_total{op=\"%s\",backend=\"",
				agent_metrics_op_name(op));
			value(f, be);
			fprintf(f, "\",result=\"failure\"} %" PRIu64 "\n", failed);
		}
}

static void step_labels(FILE *f, const char *name, const char *be, int step)
{
	fprintf(f, "%s{backend=\"", name);
	value(f, be);
	fprintf(f, "\",step=\"%s\"", attach_step_name(step));
}

static void steps(FILE *f, const struct agent_metrics_data *m)
{
	char b1[32], b2[32];

	header(f, "attachd_attach_step_duration_seconds", "histogram",
	       "Duration of pipeline steps (attach and detach) by backend and step, failed runs "
	       "included.");
	for (unsigned b = 0; b < AGENT_METRICS_MAX_BACKENDS; b++)
		for (int s = STEP_NONE + 1; s < _STEP_MAX; s++) {
			const struct agent_metrics_hist *h = &m->be_steps[b][s];
			const char *be = agent_metrics_backend_name(b);
			uint64_t cum = 0, n = hist_count(h);

			if (!be || !n)
				continue;
			for (unsigned k = 0; k <= AGENT_METRICS_STEP_BUCKETS; k++) {
				cum += h->bucket[k];
				step_labels(f, "attachd_attach_step_duration_seconds_bucket", be,
					    s);
				fprintf(f, ",le=\"%s\"} %" PRIu64 "\n",
					k < AGENT_METRICS_STEP_BUCKETS
					    ? secs(b1, agent_metrics_step_bucket_usec[k])
					    : "+Inf",
					cum);
			}
			step_labels(f, "attachd_attach_step_duration_seconds_sum", be, s);
			fprintf(f, "} %s\n", secs(b2, h->sum_usec));
			step_labels(f, "attachd_attach_step_duration_seconds_count", be, s);
			fprintf(f, "} %" PRIu64 "\n", n);
		}
	header(f, "attachd_attach_step_failures_total", "counter",
	       "Pipeline steps that failed, by backend and step (steps that ran).");
	for (unsigned b = 0; b < AGENT_METRICS_MAX_BACKENDS; b++)
		for (int s = STEP_NONE + 1; s < _STEP_MAX; s++) {
			const char *be = agent_metrics_backend_name(b);

			if (!be || !hist_count(&m->be_steps[b][s]))
				continue;
			step_labels(f, "attachd_attach_step_failures_total", be, s);
			fprintf(f, "} %" PRIu64 "\n", m->be_step_failures[b][s]);
		}
}

static void census(FILE *f, const struct agent_prom_snapshot *s)
{
	const struct agent_volumes_census *c = &s->census;

	header(f, "attachd_volumes_attached", "gauge",
	       "Volumes attached to this host, by backend.");
	for (unsigned b = 0; b < AGENT_METRICS_MAX_BACKENDS; b++) {
		const char *be = agent_metrics_backend_name(b);

		if (!be || (b == AGENT_METRICS_MAX_BACKENDS - 1 && !c->attached[b]))
			continue;
		fputs("attachd_volumes_attached{backend=\"", f);
		value(f, be);
		fprintf(f, "\"} %u\n", c->attached[b]);
	}
	header(f, "attachd_container_mounts", "gauge",
	       "Container bind mounts of attached volumes (one per container).");
	fprintf(f, "attachd_container_mounts %u\n", c->container_mounts);
	header(f, "attachd_operations_in_flight", "gauge",
	       "Volumes with an operation (Create, Mount, Unmount, Remove, attachctl detach) "
	       "running or queued now.");
	fprintf(f, "attachd_operations_in_flight %u\n", c->in_flight);
	header(f, "attachd_paths", "gauge",
	       "Paths of attached multipath volumes, by state (active, failed).");
	fprintf(f, "attachd_paths{state=\"active\"} %u\n", c->paths_active);
	fprintf(f, "attachd_paths{state=\"failed\"} %u\n", c->paths_failed);
}

static void paths(FILE *f, const struct agent_metrics_data *m)
{
	char b[32];

	header(f, "attachd_path_events_total", "counter",
	       "Path checker events: failed (a failover), reinstated, added, removed, all_down, "
	       "queueing_off, queueing_on.");
	for (unsigned k = 0; k <= PATH_EV_QUEUE_ON; k++)
		fprintf(f, "attachd_path_events_total{event=\"%s\"} %" PRIu64 "\n",
			agent_metrics_path_event_name(k), m->path_events[k]);
	header(f, "attachd_path_failure_detection_seconds", "summary",
	       "Time from a path's last good check to its failure in the map.");
	fprintf(f, "attachd_path_failure_detection_seconds_sum %s\n",
		secs(b, m->detect_ms_total * 1000));
	fprintf(f, "attachd_path_failure_detection_seconds_count %" PRIu64 "\n", m->detect_count);
	header(f, "attachd_path_down_seconds", "summary",
	       "Time a path was failed before it was reinstated.");
	fprintf(f, "attachd_path_down_seconds_sum %s\n", secs(b, m->down_ms_total * 1000));
	fprintf(f, "attachd_path_down_seconds_count %" PRIu64 "\n",
		m->path_events[PATH_EV_REINSTATED]);
}

static void fencing(FILE *f, const struct agent_metrics_data *m)
{
	header(f, "attachd_fencing_events_total", "counter",
	       "Fencing outcomes of read-write attaches: reserved, takeover, refused, "
	       "unsupported, lost.");
	for (int k = 0; k < _AGENT_FENCE_EV_MAX; k++)
		fprintf(f, "attachd_fencing_events_total{event=\"%s\"} %" PRIu64 "\n",
			agent_metrics_fence_event_name(k), m->fence_events[k]);
}

static void requests(FILE *f, const struct agent_prom_snapshot *s)
{
	char b1[32];

	header(f, "attachd_gateway_requests_total", "counter",
	       "Requests to the array management API (PowerFlex gateway) by backend and result: "
	       "success, http_error (status 400 or more), transport_error (no answer).");
	for (unsigned i = 0; i < s->n_requests; i++) {
		const struct agent_prom_requests *q = &s->requests[i];
		const char *res[3] = {"success", "http_error", "transport_error"};
		uint64_t n[3] = {q->stats.answered, q->stats.http_errors,
				 q->stats.transport_errors};

		for (int k = 0; k < 3; k++) {
			fputs("attachd_gateway_requests_total{backend=\"", f);
			value(f, q->backend);
			fprintf(f, "\",result=\"%s\"} %" PRIu64 "\n", res[k], n[k]);
		}
	}
	header(f, "attachd_gateway_request_duration_seconds", "histogram",
	       "Duration of requests to the array management API (PowerFlex gateway), by "
	       "backend.");
	for (unsigned i = 0; i < s->n_requests; i++) {
		const struct agent_prom_requests *q = &s->requests[i];
		uint64_t cum = 0;

		for (unsigned k = 0; k <= BACKEND_REQUEST_BUCKETS; k++) {
			cum += q->stats.bucket[k];
			fputs("attachd_gateway_request_duration_seconds_bucket{backend=\"", f);
			value(f, q->backend);
			fprintf(f, "\",le=\"%s\"} %" PRIu64 "\n",
				k < BACKEND_REQUEST_BUCKETS
				    ? secs(b1, backend_request_bucket_usec[k])
				    : "+Inf",
				cum);
		}
		fputs("attachd_gateway_request_duration_seconds_sum{backend=\"", f);
		value(f, q->backend);
		fprintf(f, "\"} %s\n", secs(b1, (int64_t)q->stats.sum_usec));
		fputs("attachd_gateway_request_duration_seconds_count{backend=\"", f);
		value(f, q->backend);
		fprintf(f, "\"} %" PRIu64 "\n", cum);
	}
}

static void process(FILE *f, const struct agent_prom_process *p)
{
	char b[32];

	if (!p->valid)
		return;
	header(f, "process_cpu_seconds_total", "counter",
	       "Total user and system CPU time spent in seconds.");
	fprintf(f, "process_cpu_seconds_total %s\n", secs(b, (int64_t)p->cpu_usec));
	header(f, "process_open_fds", "gauge", "Number of open file descriptors.");
	fprintf(f, "process_open_fds %u\n", p->open_fds);
	header(f, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	fprintf(f, "process_max_fds %" PRIu64 "\n", p->max_fds);
	header(f, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	fprintf(f, "process_virtual_memory_bytes %" PRIu64 "\n", p->virtual_bytes);
	header(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	fprintf(f, "process_resident_memory_bytes %" PRIu64 "\n", p->resident_bytes);
	header(f, "process_start_time_seconds", "gauge",
	       "Start time of the process since unix epoch in seconds.");
	fprintf(f, "process_start_time_seconds %s\n", secs(b, p->start_time_usec));
	header(f, "process_threads", "gauge", "Number of OS threads in the process.");
	fprintf(f, "process_threads %u\n", p->threads);
}

char *agent_prom_text(const struct agent_prom_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	operations(f, &s->metrics);
	steps(f, &s->metrics);
	census(f, s);
	paths(f, &s->metrics);
	fencing(f, &s->metrics);
	requests(f, s);
	process(f, &s->process);
	if (ferror(f)) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int agent_prom_parse_proc_stat(const char *stat, int64_t boot_time_s, long ticks_per_s,
			       long page_size, struct agent_prom_process *ret)
{
	/* After "pid (comm) ": comm may hold spaces and parentheses, so from the last ')'. */
	const char *p = stat ? strrchr(stat, ')') : NULL;
	unsigned long long utime, stime, start, vsize;
	long long rss, threads;
	int n;

	if (!p || ticks_per_s <= 0 || page_size <= 0)
		return -EINVAL;
	/* Fields 3 (state) .. 24 (rss): utime 14, stime 15, num_threads 20, starttime 22,
	 * vsize 23, rss 24 (proc(5)). */
	n = sscanf(p + 1,
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %lld "
		   "%*d %llu %llu %lld",
		   &utime, &stime, &threads, &start, &vsize, &rss);
	if (n != 6 || threads < 0 || rss < 0)
		return -EINVAL;
	ret->cpu_usec = (utime + stime) * 1000000ULL / (unsigned long long)ticks_per_s;
	ret->start_time_usec =
	    boot_time_s * 1000000 + (int64_t)(start * 1000000ULL / (unsigned long long)ticks_per_s);
	ret->threads = (unsigned)threads;
	ret->virtual_bytes = vsize;
	ret->resident_bytes = (uint64_t)rss * (uint64_t)page_size;
	return 0;
}

int agent_prom_parse_boot_time(const char *proc_stat, int64_t *ret)
{
	for (const char *l = proc_stat; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		long long v;

		if (startswith(l, "btime ") && sscanf(l + 6, "%lld", &v) == 1 && v > 0) {
			*ret = v;
			return 0;
		}
	}
	return -EINVAL;
}
