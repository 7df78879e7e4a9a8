/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Volman listener under slow and idle clients (issue 7 §6): the agent runs in this
 * process on 127.0.0.1:<ephemeral> with the fake pipeline, a crowd of connections that
 * send nothing or trickle a request's header one byte at a time is held open, and Volman's
 * calls (Activate, List, Create, Mount, Unmount) on a fresh connection are still served;
 * the slow connections are then closed by the server (request deadline), not by us. A crowd
 * bigger than the connection limit evicts the least recently active connections instead of
 * locking Volman out.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "agent/log.h"
#include "tests/lib/fakedriver.h"
#include "tests/lib/testhttp.h"

#define OPTS "{\"backend\":\"file\",\"size\":\"16M\"}"

static char tmp[] = "/tmp/test_http_slow.XXXXXX";
static char logpath[300];
static int logfd = -1;
static struct agent *agent;
static unsigned port;

static int connect_raw(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect: %s", strerror(errno));
	return fd;
}

/* 1 if the server has closed fd (EOF or reset readable), 0 if it is still open. */
static int is_closed_by_server(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
	char b[256];

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP))
		return 1;
	return recv(fd, b, sizeof(b), MSG_DONTWAIT) <= 0;
}

struct trickle {
	int *fds;
	int n;
	volatile int stop;
};

/* Sends one header byte per second on every connection, the classic slowloris: never
 * idle, never done. */
static void *trickler(void *p)
{
	struct trickle *t = p;
	const char *hdr =
	    "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	size_t i = 0;

	while (!t->stop) {
		/* A send failing means the server closed it: the main thread sees that. */
		for (int k = 0; k < t->n; k++)
			(void)send(t->fds[k], hdr + (i % strlen(hdr)), 1,
				   MSG_NOSIGNAL | MSG_DONTWAIT);
		i++;
		sleep(1);
	}
	return NULL;
}

static const char *err_of(json_t *j)
{
	return json_string_value(json_object_get(j, "Err"));
}

static void call_ok(const char *path, const char *body)
{
	json_t *j = testhttp_call(port, path, body);

	if (!j)
		fail_msg("POST %s: no answer", path);
	if (strcmp(err_of(j), "") != 0)
		fail_msg("POST %s: Err %s", path, err_of(j));
	json_decref(j);
}

/* What Volman does to mount a volume for a container and release it again. */
static void volman_calls(const char *name)
{
	char body[256];

	call_ok("/Plugin.Activate", NULL);
	call_ok("/VolumeDriver.List", NULL);
	snprintf(body, sizeof(body), "{\"Name\":\"%s\",\"Opts\":%s}", name, OPTS);
	call_ok("/VolumeDriver.Create", body);
	snprintf(body, sizeof(body), "{\"Name\":\"%s\"}", name);
	call_ok("/VolumeDriver.Mount", body);
	call_ok("/VolumeDriver.Unmount", body);
}

static void test_slow_and_idle_crowd(void **state)
{
	enum { N = 300 };
	int idle[N / 2], slow[N / 2], open_after = 0;
	struct trickle t = {.fds = slow, .n = N / 2};
	pthread_t th;

	/* Half send nothing; half start a request and then trickle its header. */
	for (int i = 0; i < N / 2; i++) {
		static const char start[] = "POST /VolumeDriver.List HTTP/1.1\r\nHost: x\r\n";

		idle[i] = connect_raw();
		slow[i] = connect_raw();
		assert_int_equal(send(slow[i], start, sizeof(start) - 1, MSG_NOSIGNAL),
				 (ssize_t)sizeof(start) - 1);
	}
	assert_int_equal(pthread_create(&th, NULL, trickler, &t), 0);

	/* Accepted in order, so Volman's connection comes after all 300. */
	volman_calls("vol-a_c1");
	for (int i = 0; i < N / 2; i++)
		open_after += !is_closed_by_server(idle[i], 0) + !is_closed_by_server(slow[i], 0);
	print_message("Volman served with %d of %d slow connections still open\n", open_after, N);

	/* The server drops every one of them (the request deadline is 10 s; wait up to 6x). */
	for (int i = 0; i < N / 2; i++) {
		if (!is_closed_by_server(idle[i], 60000))
			fail_msg("idle connection %d still open after 60 s", i);
		if (!is_closed_by_server(slow[i], 60000))
			fail_msg("trickling connection %d still open after 60 s", i);
	}
	t.stop = 1;
	pthread_join(th, NULL);
	for (int i = 0; i < N / 2; i++) {
		close(idle[i]);
		close(slow[i]);
	}
	/* And the listener still serves. */
	volman_calls("vol-b_c1");
}

/* More connections than the server takes: the oldest idle ones make room. */
static void test_crowd_over_the_limit(void **state)
{
	enum { N = AGENT_HTTP_MAX_CONNECTIONS + 100 };
	int *fds = calloc(N, sizeof(int)), closed = 0;

	assert_non_null(fds);
	for (int i = 0; i < N; i++)
		fds[i] = connect_raw();
	volman_calls("vol-c_c1");
	/* The first ones were evicted (the newest are not: they are the most recent). */
	assert_true(is_closed_by_server(fds[0], 60000));
	for (int i = 0; i < N; i++) {
		closed += is_closed_by_server(fds[i], 0);
		close(fds[i]);
	}
	print_message("%d of %d idle connections closed\n", closed, N);
	assert_true(closed >= 100);
	free(fds);
	volman_calls("vol-d_c1");
}

static int setup(void **state)
{
	struct agent_config cfg;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	struct rlimit rl;

	/* Both ends of ~1100 connections live in this process. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096 && rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (!mkdtemp(tmp))
		return -1;
	snprintf(logpath, sizeof(logpath), "%s/attachd.log", tmp);
	logfd = open(logpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0)
		return -1;
	agent_log_set_fd(logfd);
	agent_config_init(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	snprintf(cfg.driver_dir, sizeof(cfg.driver_dir), "%s/voldrivers", tmp);
	snprintf(cfg.mount_root, sizeof(cfg.mount_root), "%s/volumes", tmp);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/state", tmp);
	snprintf(cfg.admin_socket, sizeof(cfg.admin_socket), "%s/admin.sock", tmp);
	if (agent_config_validate(&cfg, &el) < 0 ||
	    agent_new(&cfg, &fakedriver_ops, &agent, &e) < 0 || agent_start(agent, &e) < 0) {
		fprintf(stderr, "agent: %s%s\n", el.msg, e.msg);
		return -1;
	}
	port = agent_port(agent);
	return port ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[400];

	agent = agent_free(agent);
	if (logfd >= 0)
		close(logfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slow_and_idle_crowd),
	    cmocka_unit_test(test_crowd_over_the_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
