/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "broker/http.h"
#include "broker/log.h"
#include "lib/hostport.h"
#include "lib/macro.h"

#define BODY_MAX (64u << 10)
#define MIN_MINOR 13

struct broker_http {
	struct broker *b;
	struct MHD_Daemon *d;
	int fd;
	const struct broker_tls *tls;
};

struct req {
	char *body;
	size_t len;
	int too_big;
};

static enum MHD_Result send_json(struct MHD_Connection *c, int status, json_t *body, int challenge)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	json_decref(body);
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (challenge)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"attachd-broker\"");
	ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static const char *query(void *ud, const char *key)
{
	return MHD_lookup_connection_value(ud, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* "cloudfoundry eyJ1c2VyX2lkIjoiLi4uIn0=" -> {"platform":..,"value":{...}}; anything that
 * does not decode is logged as given. */
static json_t *originating_identity(const char *h)
{
	const char *sp;
	char buf[2048];
	size_t o = 0;
	json_t *v;

	if (!h)
		return json_null();
	sp = strchr(h, ' ');
	if (!sp || strlen(sp + 1) >= sizeof(buf))
		return json_string(h);
	if (broker_base64_decode(sp + 1, buf, sizeof(buf), &o) < 0)
		return json_string(h);
	v = json_loadb(buf, o, 0, NULL);
	if (!v)
		return json_string(h);
	return json_pack("{s:s%, s:o}", "platform", h, (size_t)(sp - h), "value", v);
}

static void log_request(struct MHD_Connection *c, const char *method, const char *url, int status)
{
	const char *rid = header(c, "X-Broker-API-Request-Identity");
	const char *ver = header(c, "X-Broker-API-Version");

	broker_log(BROKER_LOG_INFO, "attachd-broker.request",
		   json_pack("{s:s, s:s, s:i, s:s, s:s, s:o?}", "method", method, "path", url,
			     "status", status, "api_version", ver ? ver : "", "request_id",
			     rid ? rid : "", "originating_identity",
			     originating_identity(header(c, "X-Broker-API-Originating-Identity"))));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	struct broker_http *h = cls;
	struct req *q = *con_cls;
	struct osb_request rq;
	struct osb_response res;
	const char *ver;
	unsigned major, minor;

	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return MHD_NO;
		*con_cls = q;
		return MHD_YES;
	}
	if (*upload_size) {
		if (q->len + *upload_size > BODY_MAX)
			q->too_big = 1;
		else {
			char *nb = realloc(q->body, q->len + *upload_size + 1);

			if (!nb)
				return MHD_NO;
			q->body = nb;
			memcpy(q->body + q->len, upload_data, *upload_size);
			q->len += *upload_size;
			q->body[q->len] = 0;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (broker_auth_check(header(c, MHD_HTTP_HEADER_AUTHORIZATION), h->b->cfg->username,
			      h->b->cfg->password) < 0) {
		log_request(c, method, url, 401);
		return send_json(c, 401,
				 json_pack("{s:s}", "description",
					   "wrong or missing credentials (HTTP basic auth)"),
				 1);
	}
	ver = header(c, "X-Broker-API-Version");
	if (!ver || broker_api_version_parse(ver, &major, &minor) < 0 || major != 2 ||
	    minor < MIN_MINOR) {
		log_request(c, method, url, 412);
		return send_json(
		    c, 412,
		    json_pack("{s:s, s:s}", "error", "PreconditionFailed", "description",
			      !ver ? "the X-Broker-API-Version header is missing: this broker "
				     "speaks Open Service Broker API 2.13 to 2.17"
				   : "the X-Broker-API-Version is not supported: this broker "
				     "speaks Open Service Broker API 2.13 to 2.17"),
		    0);
	}
	if (q->too_big) {
		log_request(c, method, url, 413);
		return send_json(
		    c, 413, json_pack("{s:s}", "description", "request body larger than 64 KiB"),
		    0);
	}
	rq = (struct osb_request){
	    .method = method,
	    .path = url,
	    .query = query,
	    .query_ud = c,
	    .body = q->body,
	    .body_len = q->len,
	    .request_id = header(c, "X-Broker-API-Request-Identity")
			      ? header(c, "X-Broker-API-Request-Identity")
			      : "",
	};
	osb_handle(h->b, &rq, &res);
	log_request(c, method, url, res.status);
	return send_json(c, res.status, res.body, 0);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;

	if (q) {
		free(q->body);
		free(q);
	}
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	broker_log(BROKER_LOG_ERROR, "attachd-broker.http.error", json_pack("{s:s}", "error", msg));
}

int broker_http_listen_parse(const char *listen_on, struct hostport *ret, struct errbuf *e)
{
	char host[HOSTPORT_HOST_MAX + 8], why[128];
	size_t l = strlen(listen_on);
	int r;

	/* Port 0 (any free port, for tests) is not a port users write: take it here. */
	if (l > 2 && l < sizeof(host) && streq(listen_on + l - 2, ":0")) {
		memcpy(host, listen_on, l - 2);
		host[l - 2] = 0;
		r = hostport_parse(host, 1, ret, why, sizeof(why));
		ret->port = 0;
	} else
		r = hostport_parse(listen_on, 7620, ret, why, sizeof(why));
	if (r < 0)
		return errbuf_set(e, -EINVAL, "--listen '%s' %s", listen_on, why);
	return 0;
}

static int listen_socket(const char *listen_on, unsigned *ret_port, struct errbuf *e)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct hostport hp;
	char port[8];
	int fd, one = 1, r;

	r = broker_http_listen_parse(listen_on, &hp, e);
	if (r < 0)
		return r;
	snprintf(port, sizeof(port), "%u", hp.port);
	r = getaddrinfo(hp.host, port, &hints, &ai);
	if (r != 0)
		return errbuf_set(e, -EADDRNOTAVAIL, "--listen %s: %s", listen_on, gai_strerror(r));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(ai);
		return errbuf_set(e, r, "socket: %s", strerror(-r));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		r = -errno;
		freeaddrinfo(ai);
		close(fd);
		return errbuf_set(e, r, "cannot listen on %s: %s", listen_on, strerror(-r));
	}
	freeaddrinfo(ai);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct broker_http *h = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		broker_tls_on_connection(h->tls, c);
}

int broker_http_start(struct broker *b, const char *listen_on, const struct broker_tls *tls,
		      struct broker_http **ret, unsigned *ret_port, struct errbuf *e)
{
	struct MHD_OptionItem tls_opts[5] = {{MHD_OPTION_END, 0, NULL}};
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	struct broker_http *h;
	int fd = listen_socket(listen_on, ret_port, e);

	if (fd < 0)
		return fd;
	h = calloc(1, sizeof(*h));
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	h->b = b;
	h->fd = fd;
	h->tls = tls;
	if (tls) {
		int i = 0;

		flags |= MHD_USE_TLS;
		tls_opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key_pem};
		tls_opts[i++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, tls->cert_pem};
		if (tls->ca_pem)
			tls_opts[i++] =
			    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, tls->ca_pem};
		tls_opts[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
							(void *)BROKER_TLS_PRIORITIES};
	}
	h->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_CONNECTION_LIMIT, 64u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!h->d) {
		close(fd);
		free(h);
		return errbuf_set(e, -EIO, "cannot start the %s server on %s (see the log)",
				  tls ? "HTTPS" : "HTTP", listen_on);
	}
	*ret = h;
	return 0;
}

void broker_http_stop(struct broker_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	close(h->fd);
	free(h);
}
