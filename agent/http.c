/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "agent/http_internal.h"
#include "agent/log.h"
#include "lib/macro.h"

/* Room kept under libmicrohttpd's hard connection limit: past the soft limit every new
 * connection closes the least recently active idle one, and the closed ones need a turn of
 * the polling loop to go away. */
#define SOFT_LIMIT_MARGIN 32

/* Log lines a second about misbehaving clients, before they are only counted: a client
 * can make a refusal per connection, thousands a second. */
#define NOISY_PER_S 10

/* A declared oversized body up to this size is read and discarded so that the client gets
 * the answer; a bigger one is answered at once and the connection closed unread. */
#define DRAIN_MAX(max_body) ((unsigned long long)(max_body) / 2 * 3)

/* One per connection (libmicrohttpd's socket context), in the server's list from
 * least to most recently active. Guarded by agent_http.lock. */
struct conn {
	struct agent_http *s;
	struct conn *prev, *next;
	int fd;
	int busy;	      /* a call runs for it: never closed by us */
	int closing;	      /* shut down by us, waiting for libmicrohttpd to notice */
	int verified;	      /* TLS: the client certificate was checked after the handshake */
	int streaming;	      /* a streaming call owns the socket (agent_http_stream_begin) */
	uint64_t deadline_ms; /* CLOCK_MONOTONIC; when !busy */
};

struct agent_http {
	struct MHD_Daemon *d;
	agent_http_handler h;
	agent_http_gate gate;
	agent_http_error error;
	agent_http_route route;
	const char *content_type;
	agent_http_streamer stream;
	void *userdata;
	const struct agent_http_tls *tls;
	char log_name[64];
	size_t max_body;
	unsigned port;
	unsigned soft_limit;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* workers reached 0, stopping, or the sweeper's wake-up moved */
	struct conn *head, *tail;
	unsigned n_conns;
	unsigned n_closing; /* shut down by us, not yet closed by libmicrohttpd */
	unsigned workers;   /* handler threads running */
	unsigned evicted;   /* since the sweeper last logged */
	/* Lines about misbehaving clients (refused handshakes, malformed requests): at most
	 * NOISY_PER_S a second, the rest counted and summed up by the sweeper. */
	uint64_t noisy_window_ms;
	unsigned noisy_in_window, noisy_suppressed;
	unsigned dropped;    /* closed for a missed deadline, since the sweeper last logged */
	uint64_t summary_ms; /* when the sweeper last logged what it counted */
	uint64_t sweep_at;   /* the sleeping sweeper wakes then (UINT64_MAX: when poked); 0 awake */
	int stopping;
	pthread_t sweeper;
	int have_sweeper;
};

/* Per request (keep-alive connections carry many). */
struct req {
	struct agent_http *s;
	struct MHD_Connection *c;
	struct conn *conn;
	char *buf;
	size_t len, cap;
	int too_large;
	char *method, *url; /* copies for the handler thread */
	char *answer;	    /* the handler's, set before the connection is resumed */
	int streamed;	    /* a streamer answered on the socket itself: close it */
};

struct agent_http_stream {
	struct agent_http *s;
	struct conn *conn;
};

static void sweeper_poke(struct agent_http *s, uint64_t at);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void log_event(const struct agent_http *s, enum agent_log_level level, const char *what,
		      json_t *data)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "%s.%s", s->log_name, what);
	agent_log(level, msg, data);
}

/* log_event() for what a client can cause at will (may be called from any thread). */
static void log_noisy(struct agent_http *s, const char *what, json_t *data)
{
	uint64_t now = now_ms();
	int quiet;

	pthread_mutex_lock(&s->lock);
	if (now - s->noisy_window_ms >= 1000) {
		s->noisy_window_ms = now;
		s->noisy_in_window = 0;
	}
	quiet = ++s->noisy_in_window > NOISY_PER_S;
	if (quiet) {
		s->noisy_suppressed++;
		sweeper_poke(s, s->summary_ms + 1000);
	}
	pthread_mutex_unlock(&s->lock);
	if (quiet)
		json_decref(data);
	else
		log_event(s, AGENT_LOG_ERROR, what, data);
}

static char *error_json(const struct agent_http *s, int r, const char *msg)
{
	json_t *o;
	char *text;

	if (s->error)
		return s->error(r, msg);
	o = json_pack("{s:o}", "Err", agent_json_string(msg));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static enum MHD_Result send_answer(const struct agent_http *s, struct MHD_Connection *c,
				   unsigned status, char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!text)
		text = strdup("{\"Err\":\"out of memory\",\"errno\":\"ENOMEM\"}");
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				s->content_type ? s->content_type : "application/json");
	/* Volman ignores the status (it reads Err), like the CF reference drivers always 200. */
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_json(const struct agent_http *s, struct MHD_Connection *c, char *text)
{
	return send_answer(s, c, MHD_HTTP_OK, text);
}

static char *too_large(const struct agent_http *s)
{
	char err[128];

	snprintf(err, sizeof(err), "request body too large (limit %zu bytes)", s->max_body);
	return error_json(s, -E2BIG, err);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* Under s->lock. */
static void conn_unlink(struct agent_http *s, struct conn *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		s->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		s->tail = k->prev;
	k->prev = k->next = NULL;
}

static void conn_append(struct agent_http *s, struct conn *k)
{
	k->prev = s->tail;
	k->next = NULL;
	if (s->tail)
		s->tail->next = k;
	else
		s->head = k;
	s->tail = k;
}

/* Close a connection from outside libmicrohttpd: its polling loop sees the end of the stream
 * and closes it. The fd stays valid while k is listed (k leaves the list on
 * MHD_CONNECTION_NOTIFY_CLOSED, which libmicrohttpd calls before closing the fd).
 * Under s->lock. */
static void conn_shut(struct conn *k)
{
	k->closing = 1;
	k->s->n_closing++;
	(void)shutdown(k->fd, SHUT_RDWR);
}

/* Lock held: something is due at `at` (a connection's deadline, a summary line): wake the
 * sweeper when it sleeps past it (it sleeps without a timeout while nothing is due). */
static void sweeper_poke(struct agent_http *s, uint64_t at)
{
	if (at < s->sweep_at)
		pthread_cond_broadcast(&s->cond);
}

/* ---- handler threads ---- */

static void *run_handler(void *p)
{
	struct req *q = p;
	struct agent_http *s = q->s;
	char *answer = NULL;

	if (s->stream && !s->tls) {
		struct agent_http_stream st = {.s = s, .conn = q->conn};

		q->streamed = s->stream(s->userdata, q->method, q->url, q->buf ? q->buf : "",
					q->len, &st) > 0;
	}
	if (!q->streamed) {
		answer = s->h(s->userdata, q->method, q->url, q->buf ? q->buf : "", q->len);
		q->answer = answer ? answer : error_json(s, -ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&s->lock);
	/* The answer must be read within a request timeout too. */
	q->conn->streaming = 0;
	q->conn->busy = 0;
	q->conn->deadline_ms = now_ms() + AGENT_HTTP_REQUEST_TIMEOUT_S * 1000ULL;
	sweeper_poke(s, q->conn->deadline_ms);
	pthread_mutex_unlock(&s->lock);
	/* From here on q and the connection belong to the polling thread again. */
	MHD_resume_connection(q->c);
	pthread_mutex_lock(&s->lock);
	if (--s->workers == 0)
		pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- streaming calls (on the handler thread, the connection suspended) ---- */

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd pf = {.fd = fd, .events = events};
	int r;

	do
		r = poll(&pf, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	return r == 0 ? -ETIMEDOUT : 0;
}

/* libmicrohttpd's sockets are non-blocking: wait for room, with the answer's deadline. */
static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = wait_fd(fd, POLLOUT, AGENT_HTTP_REQUEST_TIMEOUT_S * 1000);

			if (r < 0)
				return r;
			continue;
		}
		if (w < 0)
			return errno == ECONNRESET ? -EPIPE : negative_errno();
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int agent_http_stream_begin(struct agent_http_stream *st, const char *content_type)
{
	struct agent_http *s = st->s;
	char head[256];
	int stopping;

	pthread_mutex_lock(&s->lock);
	stopping = s->stopping;
	if (!stopping)
		st->conn->streaming = 1;
	pthread_mutex_unlock(&s->lock);
	if (stopping)
		return -ESHUTDOWN;
	snprintf(head, sizeof(head),
		 "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n"
		 "Connection: close\r\n\r\n",
		 content_type);
	return send_all(st->conn->fd, head, strlen(head));
}

int agent_http_stream_write(struct agent_http_stream *st, const char *data, size_t n)
{
	return send_all(st->conn->fd, data, n);
}

int agent_http_stream_wait(struct agent_http_stream *st, int wake_fd)
{
	struct pollfd pf[2] = {{.fd = st->conn->fd, .events = POLLIN | POLLRDHUP},
			       {.fd = wake_fd, .events = POLLIN}};
	int r, stopping;

	do
		r = poll(pf, 2, -1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	pthread_mutex_lock(&st->s->lock);
	stopping = st->s->stopping;
	pthread_mutex_unlock(&st->s->lock);
	if (stopping)
		return -ESHUTDOWN;
	/* The client sends nothing while it reads a stream: anything is the end of it. */
	if (pf[0].revents)
		return -EPIPE;
	return 0;
}

/* The request is complete: run the handler on a thread of its own, the connection
 * suspended meanwhile (resumed by run_handler with q->answer set). */
static enum MHD_Result dispatch(struct agent_http *s, struct req *q, const char *method,
				const char *url)
{
	pthread_attr_t attr;
	pthread_t t;
	int r;

	q->method = strdup(method);
	q->url = strdup(url);
	if (!q->method || !q->url)
		return send_json(s, q->c, error_json(s, -ENOMEM, "out of memory"));
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		return send_json(s, q->c, error_json(s, -ESHUTDOWN, "attachd is stopping"));
	}
	/* Suspended under the lock, which run_handler takes before it resumes: a quick
	 * handler cannot resume the connection before it is suspended. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, run_handler, q);
	pthread_attr_destroy(&attr);
	if (r == 0) {
		s->workers++;
		q->conn->busy = 1;
		MHD_suspend_connection(q->c);
		pthread_mutex_unlock(&s->lock);
		return MHD_YES;
	}
	pthread_mutex_unlock(&s->lock);
	log_event(s, AGENT_LOG_ERROR, "thread-failed", json_pack("{s:s}", "error", strerror(r)));
	return send_json(s, q->c,
			 error_json(s, -r,
				    "attachd cannot start a thread for this call "
				    "(out of resources); try again"));
}

/* ---- libmicrohttpd callbacks ---- */

/* Belt and braces after the handshake check (verify_during_handshake): no request is
 * looked at from a TLS client whose certificate does not verify. */
static int tls_peer_ok(struct agent_http *s, struct MHD_Connection *c, struct conn *k)
{
	const union MHD_ConnectionInfo *ci;
	char why[512];

	if (!s->tls || (k && k->verified))
		return 1;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session) {
		snprintf(why, sizeof(why), "no TLS session");
	} else if (agent_http_tls_peer_verified(ci->tls_session, why, sizeof(why)) == 0) {
		if (k)
			k->verified = 1;
		return 1;
	}
	log_noisy(s, "tls-refused", json_pack("{s:o}", "reason", agent_json_string(why)));
	return 0;
}

struct framing {
	const char *length; /* the first Content-Length */
	int lengths_differ, chunked;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct framing *f = cls;

	if (!value)
		return MHD_YES;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		if (f->length && !streq(f->length, value))
			f->lengths_differ = 1;
		f->length = value;
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		f->chunked = 1;
	return MHD_YES;
}

/* Two different Content-Lengths, or one with Transfer-Encoding, leave where the body ends
 * to interpretation (libmicrohttpd picks one): refuse rather than guess. */
static const char *ambiguous_framing(struct MHD_Connection *c)
{
	struct framing f = {NULL, 0, 0};

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
	if (f.lengths_differ)
		return "bad request: two different Content-Length headers";
	if (f.length && f.chunked)
		return "bad request: both Content-Length and Transfer-Encoding";
	return NULL;
}

/* Set on the polling thread when a streamed answer's connection is closed on purpose, so
 * that libmicrohttpd's "internal error" line about it is not logged. */
static __thread int stream_closed;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct agent_http *s = cls;
	struct req *q = *con_cls;

	if (!q) {
		struct conn *k = conn_of(c);
		const char *cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *expect =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
		unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
		int oversized = declared > s->max_body;
		const char *bad;

		if (!k || !tls_peer_ok(s, c, k))
			return MHD_NO; /* close, answer nothing */
		bad = ambiguous_framing(c);
		if (bad)
			return send_json(s, c, error_json(s, -EINVAL, bad));
		if (s->gate) {
			char *deny = s->gate(s->userdata, k->fd, method, url);

			if (deny)
				return send_json(s, c, deny);
		}
		if (s->route) {
			char *body = NULL;
			unsigned status = s->route(s->userdata, method, url, &body);

			if (status)
				return send_answer(s, c, status, body);
		}
		/* A declared oversized body: refuse it before reading it when the client waits
		 * for "100 Continue" (it has sent nothing yet) or when it is far too big; MHD
		 * then closes the connection. Otherwise read and discard it first: a client
		 * still writing its body when the connection closes on unread data gets a
		 * reset (EPIPE/ECONNRESET), and whether it sees the reply is a race (Go's
		 * transport, as Volman uses it, may report the write error instead). */
		if (oversized && ((expect && !strcasecmp(expect, "100-continue")) ||
				  declared > DRAIN_MAX(s->max_body)))
			return send_json(s, c, too_large(s));
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		q->s = s;
		q->c = c;
		q->conn = k;
		q->too_large = oversized;
		*con_cls = q;
		return MHD_YES;
	}
	if (q->streamed) {
		/* The stream's end is the connection's; libmicrohttpd says so in its log. */
		stream_closed = 1;
		return MHD_NO;
	}
	if (q->answer)
		return send_json(s, c, TAKE_PTR(q->answer));
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
		return send_json(s, c, too_large(s));
	return dispatch(s, q, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct agent_http *s = cls;
	struct req *q = *con_cls;
	struct conn *k = conn_of(c);

	if (q) {
		free(q->buf);
		free(q->method);
		free(q->url);
		free(q->answer);
		free(q);
		*con_cls = NULL;
	}
	if (k) {
		/* Idle keep-alive: most recently active now; its next request must be complete
		 * within a request timeout after the idle timeout. */
		pthread_mutex_lock(&s->lock);
		k->deadline_ms =
		    now_ms() + (AGENT_HTTP_IDLE_TIMEOUT_S + AGENT_HTTP_REQUEST_TIMEOUT_S) * 1000ULL;
		conn_unlink(s, k);
		conn_append(s, k);
		sweeper_poke(s, k->deadline_ms);
		pthread_mutex_unlock(&s->lock);
	}
}

/* Set on the polling thread when verify_during_handshake has logged why it failed the
 * handshake, so that libmicrohttpd's own message about it is not logged twice. */
static __thread int tls_refusal_logged;

/* Runs inside the TLS handshake once the client's Certificate message is in; non-zero fails
 * the handshake. */
static int verify_during_handshake(gnutls_session_t session)
{
	struct MHD_Connection *c = gnutls_session_get_ptr(session);
	struct conn *k = c ? conn_of(c) : NULL;
	char why[512];

	if (agent_http_tls_peer_verified(session, why, sizeof(why)) == 0)
		return 0;
	if (k) {
		log_noisy(k->s, "tls-refused",
			  json_pack("{s:o}", "reason", agent_json_string(why)));
		tls_refusal_logged = 1;
	}
	return GNUTLS_E_CERTIFICATE_ERROR;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct agent_http *s = cls;
	struct conn *k = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (!k)
			return;
		pthread_mutex_lock(&s->lock);
		conn_unlink(s, k);
		s->n_conns--;
		if (k->closing)
			s->n_closing--;
		pthread_mutex_unlock(&s->lock);
		free(k);
		*socket_context = NULL;
		return;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return; /* on_request refuses a connection without one */
	k->s = s;
	k->fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD)->connect_fd;
	k->deadline_ms = now_ms() + AGENT_HTTP_REQUEST_TIMEOUT_S * 1000ULL;
	if (s->tls) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);

		/* libmicrohttpd with a trust list only asks for a client certificate
		 * (CERT_REQUEST) and lets a client without one through: require one and
		 * verify it inside the handshake. */
		if (ci && ci->tls_session) {
			gnutls_certificate_server_set_request(ci->tls_session, GNUTLS_CERT_REQUIRE);
			gnutls_session_set_verify_function(ci->tls_session,
							   verify_during_handshake);
		}
	}
	pthread_mutex_lock(&s->lock);
	conn_append(s, k);
	s->n_conns++;
	/* Over the soft limit: make room by closing the least recently active connections
	 * that have no call running (never the new one, which is last). */
	for (struct conn *o = s->head; o && o != k && s->n_conns - s->n_closing > s->soft_limit;
	     o = o->next)
		if (!o->busy && !o->closing) {
			conn_shut(o);
			s->evicted++;
		}
	sweeper_poke(s, k->deadline_ms);
	if (s->evicted)
		sweeper_poke(s, s->summary_ms + 1000);
	pthread_mutex_unlock(&s->lock);
	*socket_context = k;
}

/* Closes connections that missed their deadline: a slow or silent client must not keep a
 * connection (libmicrohttpd's own timeout only measures idleness, and a client sending a
 * byte every few seconds is never idle). Sleeps until the next deadline, and without a
 * timeout while no connection is open: an idle agent spends no CPU here. */
static void *sweeper(void *p)
{
	struct agent_http *s = p;
	struct timespec ts;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		uint64_t now = now_ms(), at = UINT64_MAX;
		unsigned dropped = 0, evicted = 0, suppressed = 0;

		for (struct conn *k = s->head; k; k = k->next) {
			if (k->busy || k->closing)
				continue;
			if (k->deadline_ms <= now) {
				conn_shut(k);
				s->dropped++;
			} else if (k->deadline_ms < at)
				at = k->deadline_ms;
		}
		/* One line a second at most, however many clients misbehave. */
		if (s->dropped || s->evicted || s->noisy_suppressed) {
			if (now >= s->summary_ms + 1000) {
				dropped = s->dropped;
				evicted = s->evicted;
				suppressed = s->noisy_suppressed;
				s->dropped = s->evicted = s->noisy_suppressed = 0;
				s->summary_ms = now;
			} else if (s->summary_ms + 1000 < at)
				at = s->summary_ms + 1000;
		}
		if (dropped || evicted || suppressed) {
			pthread_mutex_unlock(&s->lock);
			if (dropped)
				log_event(s, AGENT_LOG_INFO, "slow-clients-dropped",
					  json_pack("{s:I,s:i}", "connections", (json_int_t)dropped,
						    "request_timeout_s",
						    AGENT_HTTP_REQUEST_TIMEOUT_S));
			if (evicted)
				log_event(s, AGENT_LOG_INFO, "connections-evicted",
					  json_pack("{s:I,s:I}", "connections", (json_int_t)evicted,
						    "soft_limit", (json_int_t)s->soft_limit));
			if (suppressed)
				log_event(s, AGENT_LOG_ERROR, "log-suppressed",
					  json_pack("{s:I,s:i}", "lines", (json_int_t)suppressed,
						    "per_second", NOISY_PER_S));
			pthread_mutex_lock(&s->lock);
			continue;
		}
		s->sweep_at = at;
		if (at == UINT64_MAX)
			pthread_cond_wait(&s->cond, &s->lock);
		else {
			ts.tv_sec = (time_t)(at / 1000);
			ts.tv_nsec = (long)(at % 1000) * 1000000;
			(void)pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		}
		s->sweep_at = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct agent_http *s = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = 0;
	if (stream_closed && startswith(msg, "Application reported internal error")) {
		stream_closed = 0;
		return;
	}
	/* libmicrohttpd says this about every failed TLS handshake. */
	if (s->tls && startswith(msg, "Error: received handshake message out of context")) {
		if (tls_refusal_logged) {
			tls_refusal_logged = 0;
			return;
		}
		log_noisy(s, "tls-refused",
			  json_pack("{s:s}", "reason",
				    "TLS handshake failed: no client certificate, TLS older than "
				    "1.2, no common cipher, or not TLS at all"));
		return;
	}
	log_noisy(s, "error", json_pack("{s:o}", "error", agent_json_string(msg)));
}

/* ---- start and stop ---- */

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

static void free_server(struct agent_http *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int agent_http_serve(int fd, const struct agent_http_options *o, agent_http_handler h,
		     void *userdata, struct agent_http **ret, struct errbuf *e)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	unsigned limit = o->max_connections ? o->max_connections : AGENT_HTTP_MAX_CONNECTIONS;
	struct MHD_OptionItem tls_opts[5] = {{MHD_OPTION_END, 0, NULL}};
	pthread_condattr_t ca;
	struct agent_http *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return errbuf_set(e, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->h = h;
	s->gate = o->gate;
	s->error = o->error;
	s->route = o->route;
	s->content_type = o->content_type;
	s->stream = o->stream;
	s->userdata = userdata;
	s->tls = o->tls;
	snprintf(s->log_name, sizeof(s->log_name), "%s",
		 o->log_name ? o->log_name : "attachd.http");
	s->max_body = o->max_body ? o->max_body : AGENT_HTTP_MAX_BODY;
	s->soft_limit = limit > 2 * SOFT_LIMIT_MARGIN ? limit - SOFT_LIMIT_MARGIN : limit / 2;
	if (o->tls) {
		flags |= MHD_USE_TLS;
		tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, o->tls->key_pem};
		tls_opts[1] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, o->tls->cert_pem};
		tls_opts[2] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, o->tls->ca_pem};
		tls_opts[3] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
						      (void *)AGENT_HTTP_TLS_PRIORITIES};
	}
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				/* First, or MHD logs to stderr until it sees it. */
				MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_LISTEN_SOCKET,
				fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				MHD_OPTION_CONNECTION_LIMIT, limit,
				/* Idle keep-alive connections: Go's client drops them at 90 s. The
				 * sweeper bounds slow ones. */
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)AGENT_HTTP_IDLE_TIMEOUT_S,
				MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		free_server(s);
		return errbuf_set(e, -EIO, "cannot start the HTTP server%s (see the %s.error log)",
				  o->tls ? " with TLS" : "",
				  o->log_name ? o->log_name : "attachd.http");
	}
	r = pthread_create(&s->sweeper, NULL, sweeper, s);
	if (r != 0) {
		MHD_stop_daemon(s->d);
		free_server(s);
		return errbuf_set(e, -r, "cannot start a thread: %s", strerror(r));
	}
	s->have_sweeper = 1;
	*ret = s;
	return 0;
}

int agent_http_start(const struct agent_http_options *o, agent_http_handler h, void *userdata,
		     struct agent_http **ret, struct errbuf *e)
{
	struct agent_http *s;
	unsigned port = 0;
	int fd = -EBADF, r;

	r = listen_socket(o, &fd, &port, e);
	if (r < 0)
		return r;
	r = agent_http_serve(fd, o, h, userdata, &s, e);
	if (r < 0)
		return errbuf_prefix(e, r, "%s:%u: ", o->host, o->port);
	s->port = port;
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
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cond);
	/* Streams wait without a timeout: end them (their threads count as workers). */
	for (struct conn *k = s->head; k; k = k->next)
		if (k->streaming)
			(void)shutdown(k->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
	if (s->have_sweeper)
		pthread_join(s->sweeper, NULL);
	/* libmicrohttpd must not be stopped with a connection suspended: wait for the calls in
	 * flight (new ones are answered "stopping"). */
	pthread_mutex_lock(&s->lock);
	while (s->workers > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	/* Closes the listening socket too (we did not quiesce it). */
	MHD_stop_daemon(s->d);
	free_server(s);
	return NULL;
}
