/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "agent/http.h"
#include "agent/log.h"
#include "agent/volman.h"
#include "lib/macro.h"

struct agent_http {
	struct MHD_Daemon *d;
	agent_http_handler h;
	void *userdata;
	size_t max_body;
	unsigned port;
};

/* A declared oversized body up to this size is read and discarded so that the client gets
 * the answer; a bigger one is answered at once and the connection closed unread. */
#define AGENT_HTTP_DRAIN_MAX(max_body) ((unsigned long long)(max_body) / 2 * 3)

/* Per request (not per connection: keep-alive connections carry many). */
struct req {
	char *buf;
	size_t len, cap;
	int too_large;
};

static enum MHD_Result send_json(struct MHD_Connection *c, char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!text)
		text = strdup("{\"Err\":\"out of memory\"}");
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	/* Volman ignores the status (it reads Err), like the CF reference drivers always 200. */
	ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static char *too_large(const struct agent_http *s)
{
	char err[128];

	snprintf(err, sizeof(err), "request body too large (limit %zu bytes)", s->max_body);
	return agent_volman_error_response(err);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct agent_http *s = cls;
	struct req *q = *con_cls;

	if (!q) {
		const char *cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *expect =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
		unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
		int oversized = declared > s->max_body;

		/* A declared oversized body: refuse it before reading it when the client waits
		 * for "100 Continue" (it has sent nothing yet) or when it is far too big; MHD
		 * then closes the connection. Otherwise read and discard it first: a client
		 * still writing its body when the connection closes on unread data gets a
		 * reset (EPIPE/ECONNRESET), and whether it sees the reply is a race (Go's
		 * transport, as Volman uses it, may report the write error instead). */
		if (oversized && ((expect && !strcasecmp(expect, "100-continue")) ||
				  declared > AGENT_HTTP_DRAIN_MAX(s->max_body)))
			return send_json(c, too_large(s));
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->too_large = oversized;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (q->too_large || q->len + n > s->max_body) {
			/* Chunked upload past the limit: keep draining, answer at the end. */
			q->too_large = 1;
			free(q->buf);
			q->buf = NULL;
			q->len = q->cap = 0;
			return MHD_YES;
		}
		if (q->len + n > q->cap) {
			size_t cap = q->cap ? q->cap : 1024;
			char *nb;

			while (cap < q->len + n)
				cap *= 2;
			nb = realloc(q->buf, cap);
			if (!nb)
				return MHD_NO;
			q->buf = nb;
			q->cap = cap;
		}
		memcpy(q->buf + q->len, upload, n);
		q->len += n;
		return MHD_YES;
	}
	if (q->too_large)
		return send_json(c, too_large(s));
	return send_json(c, s->h(s->userdata, method, url, q->buf ? q->buf : "", q->len));
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	if (q) {
		free(q->buf);
		free(q);
		*con_cls = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = 0;
	agent_log(AGENT_LOG_ERROR, "attachd.http.error",
		  json_pack("{s:o}", "error", agent_json_string(msg)));
}

static int listen_socket(const struct agent_http_options *o, int *ret_fd, unsigned *ret_port,
			 struct errbuf *e)
{
	struct addrinfo hints =
			    {
				.ai_family = AF_UNSPEC,
				.ai_socktype = SOCK_STREAM,
				.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
			    },
			*res = NULL;
	char port[8];
	int r, err = -EADDRNOTAVAIL;

	snprintf(port, sizeof(port), "%u", o->port);
	if (!streq(o->host, "localhost"))
		hints.ai_flags |= AI_NUMERICHOST;
	r = getaddrinfo(o->host, port, &hints, &res);
	if (r != 0)
		return errbuf_set(e, -EINVAL, "cannot listen on %s:%u: %s", o->host, o->port,
				  gai_strerror(r));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		_cleanup_close_ int fd = -EBADF;
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int one = 1;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = negative_errno();
			continue;
		}
		/* A restarted agent must get its port back while old connections linger. */
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
			err = negative_errno();
			continue;
		}
		*ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
		*ret_fd = TAKE_FD(fd);
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	return errbuf_set(e, err, "cannot listen on %s:%u: %s", o->host, o->port, strerror(-err));
}

int agent_http_start(const struct agent_http_options *o, agent_http_handler h, void *userdata,
		     struct agent_http **ret, struct errbuf *e)
{
	struct agent_http *s;
	int fd = -EBADF, r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return errbuf_set(e, -ENOMEM, "out of memory");
	s->h = h;
	s->userdata = userdata;
	s->max_body = o->max_body ? o->max_body : AGENT_HTTP_MAX_BODY;
	r = listen_socket(o, &fd, &s->port, e);
	if (r < 0) {
		free(s);
		return r;
	}
	s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
				    MHD_USE_POLL | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, s,
				/* First, or MHD logs to stderr until it sees it. */
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_LISTEN_SOCKET,
				fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)(o->max_connections ? o->max_connections : 256),
				/* Idle keep-alive connections: Go's client drops them at 90 s. */
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		free(s);
		return errbuf_set(e, -EIO, "cannot start the HTTP server on %s:%u", o->host,
				  o->port);
	}
	*ret = s;
	return 0;
}

unsigned agent_http_port(const struct agent_http *s)
{
	return s->port;
}

struct agent_http *agent_http_stop(struct agent_http *s)
{
	if (!s)
		return NULL;
	/* Closes the listening socket too (we did not quiesce it). */
	MHD_stop_daemon(s->d);
	free(s);
	return NULL;
}
