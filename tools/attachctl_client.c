/* SPDX-License-Identifier: Apache-2.0 */
/* The admin socket client: one HTTP/1.1 request per connection (Connection: close), read
 * to EOF. Small enough that libcurl would hide more (which connect errno) than it saves.
 * And the way to attachctl's helper binary. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/macro.h"
#include "tools/attachctl.h"

#define CTL_MAX_ANSWER (16 * 1024 * 1024)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int connect_admin(const char *path, struct errbuf *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errbuf_set(e, negative_errno(), "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	r = negative_errno();
	close(fd);
	return errbuf_set(e, r, "cannot connect to attachd's admin socket %s: %s%s", path,
			  strerror(-r),
			  r == -EACCES	 ? " (attachctl must run as root)"
			  : r == -ENOENT ? " (is attachd running? --admin-socket sets the path)"
			  : r == -ECONNREFUSED ? " (attachd is not running; the socket is stale)"
					       : "");
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Connect and send POST /v1/call with body (NULL: empty). The connected fd, or a negative
 * errno with e set. */
static int send_call(const char *socket_path, const char *call, json_t *body, struct errbuf *e)
{
	_cleanup_free_ char *text = NULL, *req = NULL;
	_cleanup_close_ int fd = -EBADF;
	int r;

	text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
	if (!text)
		return errbuf_set(e, -ENOMEM, "out of memory");
	if (asprintf(&req,
		     "POST /v1/%s HTTP/1.1\r\nHost: attachd\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		     call, strlen(text), text) < 0)
		return errbuf_set(e, -ENOMEM, "out of memory");
	fd = connect_admin(socket_path, e);
	if (fd < 0)
		return fd;
	r = write_all(fd, req, strlen(req));
	if (r < 0)
		return errbuf_set(e, r, "sending to %s: %s", socket_path, strerror(-r));
	return TAKE_FD(fd);
}

int ctl_call(const char *socket_path, const char *call, json_t *body, int timeout_s, json_t **ret,
	     struct errbuf *e)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t len = 0, cap = 0;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	const char *sep;
	json_error_t je;
	json_t *o;
	int r, status = 0;

	fd = send_call(socket_path, call, body, e);
	if (fd < 0)
		return fd;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return errbuf_set(e, -ETIMEDOUT, "attachd did not answer '%s' within %d s",
					  call, timeout_s);
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno != EINTR)
			return errbuf_set(e, negative_errno(), "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		if (len + 4096 + 1 > cap) {
			char *nb;

			if (cap >= CTL_MAX_ANSWER)
				return errbuf_set(e, -E2BIG, "attachd's answer is too large");
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (!nb)
				return errbuf_set(e, -ENOMEM, "out of memory");
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errbuf_set(e, negative_errno(), "reading from %s: %s", socket_path,
					  strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!buf)
		return errbuf_set(e, -EPROTO, "attachd closed the connection without answering");
	buf[len] = 0;
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !(sep = strstr(buf, "\r\n\r\n")))
		return errbuf_set(e, -EPROTO, "attachd's answer is not HTTP: %.80s", buf);
	o = json_loads(sep + 4, 0, &je);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return errbuf_set(e, -EPROTO, "attachd's answer (HTTP %d) is not a JSON object: %s",
				  status, je.text);
	}
	*ret = o;
	return 0;
}

int ctl_open_stream(const char *socket_path, const char *call, json_t *body, int timeout_s,
		    struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	char head[4096];
	size_t len = 0;
	int r, status = 0;

	fd = send_call(socket_path, call, body, e);
	if (fd < 0)
		return fd;
	/* Byte by byte up to the blank line: the body stays in the socket for the caller. */
	while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (len + 1 >= sizeof(head))
			return errbuf_set(e, -EPROTO, "attachd's answer head is too long");
		if (left <= 0)
			return errbuf_set(e, -ETIMEDOUT, "attachd did not answer '%s' within %d s",
					  call, timeout_s);
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return errbuf_set(e, negative_errno(), "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		n = read(fd, head + len, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errbuf_set(e, negative_errno(), "reading from %s: %s", socket_path,
					  strerror(errno));
		if (n == 0)
			return errbuf_set(e, -EPROTO,
					  "attachd closed the connection without answering");
		len++;
	}
	head[len] = 0;
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 || status != 200)
		return errbuf_set(e, -EPROTO, "attachd's answer is not HTTP 200: %.80s", head);
	if (!strstr(head, "application/x-ndjson"))
		return errbuf_set(e, -EPROTO,
				  "attachd does not stream '%s' (an older attachd without it?)",
				  call);
	return TAKE_FD(fd);
}

int ctl_exec_helper(const struct ctl_args *a)
{
	char self[PATH_MAX], path[PATH_MAX + sizeof(CTL_HELPER_NAME)];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0) {
		fprintf(stderr, "attachctl: cannot find its own path (/proc/self/exe): %s\n",
			n < 0 ? strerror(errno) : "empty");
		return CTL_EXIT_FAIL;
	}
	self[n] = 0;
	slash = strrchr(self, '/');
	snprintf(path, sizeof(path), "%.*s/%s", slash ? (int)(slash - self) : 1, slash ? self : ".",
		 CTL_HELPER_NAME);
	fflush(NULL);
	a->argv[0] = path;
	execv(path, a->argv);
	fprintf(stderr,
		"attachctl: cannot run its helper %s: %s (it is installed next to attachctl; "
		"'%s' needs it)\n",
		path, strerror(errno), a->cmd);
	return CTL_EXIT_FAIL;
}
