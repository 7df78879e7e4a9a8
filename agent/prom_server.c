/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "agent/http.h"
#include "agent/prom.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define PROC_TEXT_MAX (64 * 1024)
/* Scrapes are small GETs; a handful of Prometheus servers at most. */
#define PROM_MAX_BODY 4096
#define PROM_MAX_CONNECTIONS 64

struct agent_prom_server {
	struct agent_http *http;
	struct agent_prom_sources src;
};

static int count_fds(const char *proc_root, unsigned *ret)
{
	char path[512];
	unsigned n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/self/fd", proc_root);
	d = opendir(path);
	if (!d)
		return negative_errno();
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	/* Not the directory's own descriptor. */
	*ret = n > 0 ? n - 1 : 0;
	return 0;
}

static void collect_process(const char *proc_root, struct agent_prom_process *p)
{
	_cleanup_free_ char *stat = NULL, *sys_stat = NULL;
	char path[512];
	struct rlimit rl;
	int64_t btime;

	memset(p, 0, sizeof(*p));
	snprintf(path, sizeof(path), "%s/self/stat", proc_root);
	if (read_full_file(path, &stat, NULL, PROC_TEXT_MAX) < 0)
		return;
	snprintf(path, sizeof(path), "%s/stat", proc_root);
	if (read_full_file(path, &sys_stat, NULL, PROC_TEXT_MAX) < 0 ||
	    agent_prom_parse_boot_time(sys_stat, &btime) < 0)
		return;
	if (agent_prom_parse_proc_stat(stat, btime, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
				       p) < 0)
		return;
	if (count_fds(proc_root, &p->open_fds) < 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		p->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	p->valid = 1;
}

void agent_prom_collect(const struct agent_prom_sources *src, struct agent_prom_snapshot *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (src->metrics)
		agent_metrics_snapshot(src->metrics, &ret->metrics);
	if (src->vols)
		agent_volumes_census(src->vols, &ret->census);
	for (size_t i = 0; backend_registry[i] && ret->n_requests < AGENT_METRICS_MAX_BACKENDS;
	     i++) {
		const struct backend_ops *be = backend_registry[i];

		if (!be->request_stats)
			continue;
		ret->requests[ret->n_requests].backend = be->name;
		be->request_stats(&ret->requests[ret->n_requests].stats);
		ret->n_requests++;
	}
	collect_process(src->proc_root ? src->proc_root : "/proc", &ret->process);
}

/* The path without a query string: Prometheus may add ?... from params in its config. */
static int is_metrics_path(const char *url)
{
	size_t n = strcspn(url, "?");

	return n == strlen("/metrics") && !strncmp(url, "/metrics", n);
}

static unsigned route(void *userdata, const char *method, const char *url, char **ret_body)
{
	if (!is_metrics_path(url)) {
		*ret_body = strdup("404 page not found: attachd serves /metrics only\n");
		return 404;
	}
	if (!streq(method, "GET") && !streq(method, "HEAD")) {
		*ret_body = strdup("405 method not allowed: GET /metrics\n");
		return 405;
	}
	return 0;
}

static char *handle(void *userdata, const char *method, const char *url, const char *body,
		    size_t len)
{
	struct agent_prom_server *p = userdata;
	struct agent_prom_snapshot *s = malloc(sizeof(*s));
	char *text;

	if (!s)
		return NULL;
	agent_prom_collect(&p->src, s);
	text = agent_prom_text(s);
	free(s);
	return text;
}

static char *error_text(int r, const char *msg)
{
	char *t = NULL;

	return asprintf(&t, "%s\n", msg) < 0 ? NULL : t;
}

int agent_prom_start(const char *host, unsigned port, const struct agent_http_tls *tls,
		     const struct agent_prom_sources *src, struct agent_prom_server **ret,
		     struct errbuf *e)
{
	struct agent_http_options o = {
	    .host = host,
	    .port = port,
	    .log_name = "attachd.metrics-server",
	    .max_body = PROM_MAX_BODY,
	    .max_connections = PROM_MAX_CONNECTIONS,
	    .tls = tls,
	    .error = error_text,
	    .route = route,
	    .content_type = AGENT_PROM_CONTENT_TYPE,
	};
	struct agent_prom_server *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return errbuf_set(e, -ENOMEM, "out of memory");
	p->src = *src;
	r = agent_http_start(&o, handle, p, &p->http, e);
	if (r < 0) {
		free(p);
		return r;
	}
	*ret = p;
	return 0;
}

unsigned agent_prom_port(const struct agent_prom_server *p)
{
	return p && p->http ? agent_http_port(p->http) : 0;
}

struct agent_prom_server *agent_prom_stop(struct agent_prom_server *p)
{
	if (!p)
		return NULL;
	p->http = agent_http_stop(p->http);
	free(p);
	return NULL;
}
