/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP transport for the Volman API, on libmicrohttpd with one thread per connection:
 * a Mount can block for seconds in the kernel and must not hold up other containers'
 * calls, and Volman keeps connections alive between calls. Requests are buffered whole
 * (up to max_body bytes) and handed to one handler; every answer is HTTP 200,
 * Content-Type application/json.
 */
#pragma once

#include <stddef.h>

#include "lib/err.h"

#define AGENT_HTTP_MAX_BODY (1024 * 1024)

/* Returns the response body (malloc'ed JSON text; the server frees it). body is not
 * NUL-terminated. Called from many threads at once. */
typedef char *(*agent_http_handler)(void *userdata, const char *method, const char *url,
				    const char *body, size_t len);

struct agent_http_options {
	const char *host;	  /* numeric address or "localhost" */
	unsigned port;		  /* 0 = a free port, see agent_http_port() */
	size_t max_body;	  /* 0 = AGENT_HTTP_MAX_BODY */
	unsigned max_connections; /* 0 = 256 */
};

struct agent_http;

/* Bind, listen and start serving. On failure e says why ("cannot listen on ...: Address
 * already in use"). */
int agent_http_start(const struct agent_http_options *o, agent_http_handler h, void *userdata,
		     struct agent_http **ret, struct errbuf *e);
/* The port actually bound. */
unsigned agent_http_port(const struct agent_http *s);
/* Stop accepting, wait for requests in flight, close everything. Returns NULL. */
struct agent_http *agent_http_stop(struct agent_http *s);
