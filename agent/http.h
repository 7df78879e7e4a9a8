/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP server under both of attachd's APIs (Volman over TCP, optionally with mutual
 * TLS; the admin API over a unix socket), on libmicrohttpd. Requests are buffered whole (up
 * to max_body bytes) and handed to one handler; every answer is HTTP 200, Content-Type
 * application/json (a server with a route callback and its own content type, the metrics
 * endpoint, answers other statuses too).
 *
 * Threads. One polling thread (epoll) owns every connection, so an idle or slow connection
 * costs a file descriptor and a few KiB, never a thread. A request whose headers and body
 * are complete runs the handler on a thread of its own while its connection is suspended:
 * a Mount can block for seconds in the kernel and must not hold up other calls.
 *
 * Slow clients. A connection must deliver a complete request (TLS handshake, headers,
 * body) within AGENT_HTTP_REQUEST_TIMEOUT_S of being accepted, and read the answer within
 * as long again. Between requests a keep-alive connection may idle for
 * AGENT_HTTP_IDLE_TIMEOUT_S (longer than Go's 90 s, so Volman's client always closes
 * first); its next request must then be complete within the request timeout after that.
 * Connections that miss their deadline are closed. When the connections reach the soft
 * limit, each new one closes the least recently active connection that has no call running,
 * so idle or trickling connections cannot lock Volman out: its fresh connection is the
 * newest and its calls in flight are never closed. Lines about misbehaving clients (refused
 * TLS handshakes, malformed requests) are logged at most 10 a second; the rest are counted
 * in one <log_name>.log-suppressed line a second, like the drops and evictions.
 */
#pragma once

#include <stddef.h>

#include "lib/err.h"

#define AGENT_HTTP_MAX_BODY (1024 * 1024)
#define AGENT_HTTP_REQUEST_TIMEOUT_S 10
#define AGENT_HTTP_IDLE_TIMEOUT_S 120
#define AGENT_HTTP_MAX_CONNECTIONS 1024

/* Returns the response body (malloc'ed JSON text; the server frees it; NULL = out of
 * memory). body is not NUL-terminated. Called from many threads at once; may block. */
typedef char *(*agent_http_handler)(void *userdata, const char *method, const char *url,
				    const char *body, size_t len);
/* Admission of one request once its headers are in, before its body is read, on the polling
 * thread (must not block). fd is the connection's socket. Returns NULL to go on, or the
 * answer (malloc'ed JSON) to send instead of calling the handler. */
typedef char *(*agent_http_gate)(void *userdata, int fd, const char *method, const char *url);
/* The JSON answer for an error the server itself reports (r a negative errno: body too
 * large, stopping, out of threads). malloc'ed; NULL = out of memory. */
typedef char *(*agent_http_error)(int r, const char *msg);
/* Like a gate, for a server that answers more than 200 (the metrics endpoint): 0 to go on,
 * or the HTTP status to answer at once, with *ret_body (malloc'ed) as the body. */
typedef unsigned (*agent_http_route)(void *userdata, const char *method, const char *url,
				     char **ret_body);

/*
 * Streaming calls (plain HTTP only: ignored with TLS). A streamer is offered every complete
 * request on its handler thread, before h. It returns 0 when the call is not a streaming
 * one (h answers it), or 1 once it has streamed its whole answer through st
 * (agent_http_stream_begin, then _write as long as it likes, waiting for its events with
 * _wait); the connection is closed after it. The answer is HTTP/1.1 200 with
 * Connection: close and no length: the body ends when the connection does. The connection
 * is exempt from the request deadlines while it streams; agent_http_stop ends its waits.
 */
struct agent_http_stream;
typedef int (*agent_http_streamer)(void *userdata, const char *method, const char *url,
				   const char *body, size_t len, struct agent_http_stream *st);
/* Send the status line and headers. -ESHUTDOWN when the server is stopping, -EPIPE when
 * the client is gone. */
int agent_http_stream_begin(struct agent_http_stream *st, const char *content_type);
/* Send n bytes; a client that does not take them within AGENT_HTTP_REQUEST_TIMEOUT_S is
 * dropped (-ETIMEDOUT). -EPIPE when the client is gone. */
int agent_http_stream_write(struct agent_http_stream *st, const char *data, size_t n);
/* Block, without a timeout, until wake_fd is readable (0), the client hangs up or sends
 * anything (-EPIPE) or the server stops (-ESHUTDOWN). */
int agent_http_stream_wait(struct agent_http_stream *st, int wake_fd);

/* Mutual TLS material, loaded once at start (agent_http_tls_load). */
struct agent_http_tls;

struct agent_http_options {
	const char *host;	  /* numeric address or "localhost" (agent_http_start) */
	unsigned port;		  /* 0 = a free port, see agent_http_port() */
	const char *log_name;	  /* prefix of the server's log messages, e.g. "attachd.http" */
	size_t max_body;	  /* 0 = AGENT_HTTP_MAX_BODY */
	unsigned max_connections; /* 0 = AGENT_HTTP_MAX_CONNECTIONS */
	const struct agent_http_tls *tls; /* NULL = plain HTTP; borrowed until stop */
	agent_http_gate gate;		  /* NULL = admit every request */
	agent_http_error error;		  /* NULL = {"Err":msg} */
	agent_http_route route;		  /* NULL = every request goes to the handler */
	const char *content_type;	  /* of every answer; NULL = application/json */
	agent_http_streamer stream;	  /* NULL = no streaming calls */
};

struct agent_http;

/* Bind and listen on o->host:o->port, then agent_http_serve(). On failure e says why
 * ("cannot listen on ...: Address already in use"). */
int agent_http_start(const struct agent_http_options *o, agent_http_handler h, void *userdata,
		     struct agent_http **ret, struct errbuf *e);
/* Serve on fd, a listening stream socket (TCP or unix), which the server takes over (it is
 * closed on failure too). o->host/o->port are ignored. */
int agent_http_serve(int fd, const struct agent_http_options *o, agent_http_handler h,
		     void *userdata, struct agent_http **ret, struct errbuf *e);
/* The TCP port actually bound (0 for a unix socket). */
unsigned agent_http_port(const struct agent_http *s);
/* Stop accepting, answer new requests "stopping", wait for the calls in flight, close
 * everything. NULL-safe; returns NULL. */
struct agent_http *agent_http_stop(struct agent_http *s);

/*
 * Read and check the Volman listener's TLS files (the tls.* config keys): the server
 * certificate chain and its key (which must match; the key file must not be readable or
 * writable by group or others, and must be owned by root or us), and the CA bundle client
 * certificates must chain to. e names the key and file at fault. The key stays in memory
 * only (wiped on free) and is never logged.
 */
int agent_http_tls_load(const char *ca_file, const char *cert_file, const char *key_file,
			struct agent_http_tls **ret, struct errbuf *e);
/*
 * Check the identity the spec file hands Volman (tls.client_cert_file/client_key_file) the
 * way the listener will: the certificate must verify against t's CA now (not expired) and
 * the key must belong to it. Catches at start what would otherwise be Volman's Activate
 * failing every 30 s. Reads the key only to match it; never logs it. Returns 0, 1 if the
 * only fault is the certificate's validity period (expired or not yet valid: e says so; the
 * caller logs it and goes on), or a negative errno with e set.
 */
int agent_http_tls_check_client(const struct agent_http_tls *t, const char *client_cert_file,
				const char *client_key_file, struct errbuf *e);
/* NULL-safe; returns NULL. */
struct agent_http_tls *agent_http_tls_free(struct agent_http_tls *t);
/* 1 if this libmicrohttpd was built with TLS support. */
int agent_http_tls_supported(void);
