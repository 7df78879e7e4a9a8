/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/lib/testhttp.h"

struct testhttp_conn {
	int fd;
	unsigned port;
	char buf[65536]; /* bytes read past the previous response */
	size_t have;
};

int testhttp_connect(unsigned port, struct testhttp_conn **ret)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 60};
	struct testhttp_conn *c;
	int fd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->port = port;
	*ret = c;
	return 0;
}

void testhttp_close(struct testhttp_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

void testhttp_response_done(struct testhttp_response *r)
{
	free(r->body);
	r->body = NULL;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t k = send(fd, p, len, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Make sure at least want bytes are buffered. */
static int fill(struct testhttp_conn *c, size_t want)
{
	while (c->have < want) {
		ssize_t k;

		if (c->have == sizeof(c->buf))
			return -ENOBUFS;
		k = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ECONNRESET;
		c->have += (size_t)k;
	}
	return 0;
}

static void consume(struct testhttp_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->have - n);
	c->have -= n;
}

/* Take body bytes: from the buffer first, then straight from the socket. */
static int read_body(struct testhttp_conn *c, char *dst, size_t n)
{
	size_t from_buf = c->have < n ? c->have : n;

	memcpy(dst, c->buf, from_buf);
	consume(c, from_buf);
	while (from_buf < n) {
		ssize_t k = recv(c->fd, dst + from_buf, n - from_buf, 0);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -ECONNRESET;
		from_buf += (size_t)k;
	}
	return 0;
}

static int read_response(struct testhttp_conn *c, struct testhttp_response *ret)
{
	struct testhttp_response r = {0};
	char *end, *line, *save = NULL;
	size_t hlen, clen = 0;
	int chunked = 0, rc;

	for (;;) {
		end = c->have ? memmem(c->buf, c->have, "\r\n\r\n", 4) : NULL;
		if (end)
			break;
		rc = fill(c, c->have + 1);
		if (rc < 0)
			return rc;
	}
	hlen = (size_t)(end - c->buf) + 4;
	{
		char *head = strndup(c->buf, hlen - 4);

		if (!head)
			return -ENOMEM;
		consume(c, hlen);
		line = strtok_r(head, "\r\n", &save);
		if (!line || sscanf(line, "HTTP/1.%*d %d", &r.status) != 1) {
			free(head);
			return -EPROTO;
		}
		while ((line = strtok_r(NULL, "\r\n", &save))) {
			char *colon = strchr(line, ':');
			char *v;

			if (!colon)
				continue;
			*colon = 0;
			v = colon + 1;
			while (*v == ' ')
				v++;
			if (!strcasecmp(line, "Content-Length")) {
				clen = strtoull(v, NULL, 10);
				r.has_content_length = 1;
			} else if (!strcasecmp(line, "Content-Type"))
				snprintf(r.content_type, sizeof(r.content_type), "%s", v);
			else if (!strcasecmp(line, "Transfer-Encoding") && strcasestr(v, "chunked"))
				chunked = 1;
			else if (!strcasecmp(line, "Connection") && !strcasecmp(v, "close"))
				r.conn_close = 1;
		}
		free(head);
	}
	if (chunked) {
		size_t cap = 0;

		for (;;) {
			char *nl;
			size_t sz;

			while (!(nl = c->have ? memmem(c->buf, c->have, "\r\n", 2) : NULL))
				if ((rc = fill(c, c->have + 1)) < 0)
					goto fail;
			sz = strtoull(c->buf, NULL, 16);
			consume(c, (size_t)(nl - c->buf) + 2);
			if (r.len + sz + 1 > cap) {
				char *nb;

				cap = r.len + sz + 1;
				nb = realloc(r.body, cap);
				if (!nb) {
					rc = -ENOMEM;
					goto fail;
				}
				r.body = nb;
			}
			if ((rc = read_body(c, r.body + r.len, sz)) < 0)
				goto fail;
			r.len += sz;
			if ((rc = fill(c, 2)) < 0)
				goto fail;
			consume(c, 2);
			if (sz == 0)
				break;
		}
		if (!r.body)
			r.body = calloc(1, 1);
		else
			r.body[r.len] = 0;
	} else {
		r.body = malloc(clen + 1);
		if (!r.body)
			return -ENOMEM;
		if ((rc = read_body(c, r.body, clen)) < 0)
			goto fail;
		r.len = clen;
		r.body[clen] = 0;
	}
	*ret = r;
	return 0;
fail:
	free(r.body);
	return rc;
}

int testhttp_raw(struct testhttp_conn *c, const char *req, size_t len,
		 struct testhttp_response *ret)
{
	int r = send_all(c->fd, req, len);

	return r < 0 ? r : read_response(c, ret);
}

int testhttp_post(struct testhttp_conn *c, const char *path, const char *body, size_t len,
		  struct testhttp_response *ret)
{
	char head[1024];
	int n, r;

	/* Exactly the headers Go's http client adds for Volman (volman-protocol.md §1.1). */
	n = snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\n"
		     "Host: 127.0.0.1:%u\r\n"
		     "User-Agent: Go-http-client/1.1\r\n"
		     "Content-Length: %zu\r\n"
		     "Accept-Encoding: gzip\r\n"
		     "\r\n",
		     path, c->port, body ? len : 0);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENAMETOOLONG;
	r = send_all(c->fd, head, (size_t)n);
	if (r == 0 && body && len)
		r = send_all(c->fd, body, len);
	return r < 0 ? r : read_response(c, ret);
}

json_t *testhttp_call_on(struct testhttp_conn *c, const char *path, const char *body)
{
	struct testhttp_response resp;
	json_error_t jerr;
	json_t *j;
	int r;

	r = testhttp_post(c, path, body, body ? strlen(body) : 0, &resp);
	if (r < 0) {
		fprintf(stderr, "testhttp: POST %s: %s\n", path, strerror(-r));
		return NULL;
	}
	if (resp.status != 200 || strcmp(resp.content_type, "application/json") != 0) {
		fprintf(stderr, "testhttp: POST %s: status %d, Content-Type '%s'\n", path,
			resp.status, resp.content_type);
		testhttp_response_done(&resp);
		return NULL;
	}
	j = json_loadb(resp.body, resp.len, 0, &jerr);
	if (!j || !json_is_object(j) || !json_is_string(json_object_get(j, "Err"))) {
		fprintf(stderr, "testhttp: POST %s: body is not an object with Err: %s\n", path,
			resp.body);
		json_decref(j);
		j = NULL;
	}
	testhttp_response_done(&resp);
	return j;
}

json_t *testhttp_call(unsigned port, const char *path, const char *body)
{
	struct testhttp_conn *c;
	json_t *j;
	int r = testhttp_connect(port, &c);

	if (r < 0) {
		fprintf(stderr, "testhttp: connect 127.0.0.1:%u: %s\n", port, strerror(-r));
		return NULL;
	}
	j = testhttp_call_on(c, path, body);
	testhttp_close(c);
	return j;
}
