/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus metrics: the text exposition format (version 0.0.4) of what attachd counts
 * (agent/admin_metrics.h), what it has now (agent/volumes_census.h), its backends' requests
 * to their management APIs (struct backend_request_stats) and the standard process_*
 * figures; and the --metrics-listen server that answers GET /metrics with it.
 *
 * prom.c is pure (snapshot in, text out; /proc texts in, figures out); prom_server.c
 * gathers a snapshot and serves it.
 */
#pragma once

#include <stdint.h>

#include "agent/admin_metrics.h"
#include "agent/volumes_census.h"
#include "backends/backend.h"
#include "lib/err.h"

#define AGENT_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The process_* metrics (what Prometheus's own client libraries export). */
struct agent_prom_process {
	int valid;		 /* 0: /proc could not be read; no process_* lines */
	uint64_t cpu_usec;	 /* user + system CPU time */
	int64_t start_time_usec; /* since the Unix epoch */
	uint64_t resident_bytes, virtual_bytes;
	unsigned threads;
	unsigned open_fds;
	uint64_t max_fds; /* RLIMIT_NOFILE soft limit */
};

/* One backend's management API requests (backend_ops.request_stats). */
struct agent_prom_requests {
	const char *backend; /* borrowed: the backend's name */
	struct backend_request_stats stats;
};

struct agent_prom_snapshot {
	struct agent_metrics_data metrics;
	struct agent_volumes_census census;
	struct agent_prom_requests requests[AGENT_METRICS_MAX_BACKENDS];
	unsigned n_requests;
	struct agent_prom_process process;
};

/*
 * The exposition text of s: every metric with its # HELP and # TYPE lines, in a fixed
 * order. Label sets known in advance (each registry backend, op and result; every path and
 * fencing event) are always written, zeros included; step histograms only for the
 * (backend, step) pairs that ran, and the "unknown" backend only when it counted something.
 * malloc'ed, NUL-terminated; NULL on ENOMEM. Pure.
 */
char *agent_prom_text(const struct agent_prom_snapshot *s);

/*
 * The process figures from /proc/self/stat's text (stat), the boot time (btime of
 * /proc/stat, agent_prom_parse_boot_time), the clock tick rate and the page size: CPU time,
 * start time, threads, RSS and virtual size (the other fields of *ret are left alone).
 * -EINVAL when stat is not a stat line. Pure.
 */
int agent_prom_parse_proc_stat(const char *stat, int64_t boot_time_s, long ticks_per_s,
			       long page_size, struct agent_prom_process *ret);
/* The "btime N" line of /proc/stat's text. -EINVAL when there is none. Pure. */
int agent_prom_parse_boot_time(const char *proc_stat, int64_t *ret);

/* ---- prom_server.c ---- */

struct agent_http_tls;
struct agent_volumes;

/* Where a snapshot comes from. Borrowed; must outlive the server. */
struct agent_prom_sources {
	struct agent_metrics *metrics;
	struct agent_volumes *vols;
	const char *proc_root; /* "/proc" (NULL: the same) */
};

/* A snapshot now: copies of the counters, a census of the volumes, every backend's
 * request_stats, and the process figures (process.valid = 0 when /proc fails). */
void agent_prom_collect(const struct agent_prom_sources *src, struct agent_prom_snapshot *ret);

struct agent_prom_server;

/*
 * Listen on host:port (port 0: any free port) and answer GET (and HEAD) /metrics with
 * agent_prom_text of a fresh snapshot (AGENT_PROM_CONTENT_TYPE); other paths 404, other
 * methods 405. tls (borrowed until stop; NULL: plain HTTP): the agent's mutual TLS, so a
 * scraper needs a client certificate from the agent's CA. Returns 0 and *ret, or a
 * negative errno with e saying why ("cannot listen on ...").
 */
int agent_prom_start(const char *host, unsigned port, const struct agent_http_tls *tls,
		     const struct agent_prom_sources *src, struct agent_prom_server **ret,
		     struct errbuf *e);
/* The TCP port bound. */
unsigned agent_prom_port(const struct agent_prom_server *p);
/* Stop serving (waits for scrapes in flight). NULL-safe; returns NULL. */
struct agent_prom_server *agent_prom_stop(struct agent_prom_server *p);
