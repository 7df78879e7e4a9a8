/* SPDX-License-Identifier: Apache-2.0 */
/* attachd: parse the configuration, serve Volman until SIGTERM/SIGINT. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/state.h"
#include "lib/macro.h"

/* Each Volman connection, idle or not, is a file descriptor (agent/http.h: up to
 * AGENT_HTTP_MAX_CONNECTIONS, plus the admin socket's), and the soft limit is often 1024.
 * Raised up to the hard limit, capped so that children that close every fd up to the limit
 * stay quick. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = 8192;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* --check-config: nothing else runs (no directory, socket, spec file or state is
 * touched). Problems one per line on stderr (the config messages never contain "; ",
 * errlist's separator). */
static int check_config_report(int r, const char *file, const struct errlist *el)
{
	const char *p = el->msg, *sep;

	if (r >= 0) {
		printf("config %s: valid\n", file);
		return 0;
	}
	for (; (sep = strstr(p, "; ")); p = sep + 2)
		fprintf(stderr, "attachd: %.*s\n", (int)(sep - p), p);
	fprintf(stderr, "attachd: %s\n", el->n ? p : "invalid arguments");
	fprintf(stderr, "config %s: invalid (%u problem%s)\n", file, el->n, el->n == 1 ? "" : "s");
	return 2;
}

int main(int argc, char *argv[])
{
	struct agent_config cfg;
	const char *file;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	struct agent *a = NULL;
	struct agent_test_settings test;
	sigset_t mask;
	int r, sig = 0;

	r = agent_config_parse_args(argc, argv, &cfg, &el);
	if (r == AGENT_CONFIG_HELP) {
		agent_config_usage(stdout, "attachd");
		return 0;
	}
	if (agent_config_check_mode(&file))
		return check_config_report(r, file, &el);
	if (r < 0) {
		fprintf(stderr, "attachd: %s\n", el.n ? el.msg : "invalid arguments");
		fprintf(stderr, "Try 'attachd --help'.\n");
		return 2;
	}

	r = agent_test_settings_parse(getenv("ATTACHD_TEST_FAULTS"),
				      getenv("ATTACHD_TEST_CRASH_AT"),
				      getenv("ATTACHD_TEST_BOOT_ID_FILE"), &test, &e);
	if (r < 0) {
		fprintf(stderr, "attachd: %s\n", e.msg);
		return 2;
	}

	/* Block the stop signals before any thread starts so every thread inherits the
	 * mask and sigwait() below is the only place they are taken. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	/* A Volman that hangs up mid-answer must not kill the agent. */
	signal(SIGPIPE, SIG_IGN);
	/* glibc gives each new thread that meets contention an arena of its own (up to 8 per
	 * core), each keeping the memory its threads freed: with a thread per request, 32
	 * concurrent Mounts left the RSS megabytes above what is in use. The agent's time
	 * goes to the kernel, not to malloc: two arenas are plenty. */
	mallopt(M_ARENA_MAX, 2);
	/* With transparent huge pages "always" (Debian's default) the first touch of a thread
	 * stack or a malloc arena can map a whole 2 MiB page: the soak saw lifetimes whose heap
	 * and stacks sat 2 MiB above the others, flat within each. A small daemon gains nothing
	 * from huge pages; an old kernel without the option (EINVAL) changes nothing. */
	(void)prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	raise_fd_limit();

	r = agent_new(&cfg, &agent_driver_ops_real, &a, &e);
	if (r >= 0) {
		agent_set_test_settings(a, &test);
		r = agent_start(a, &e);
	}
	if (r < 0) {
		agent_log(AGENT_LOG_FATAL, "attachd.start.failed",
			  json_pack("{s:o}", "error", agent_json_string(e.msg)));
		fprintf(stderr, "attachd: %s\n", e.msg[0] ? e.msg : strerror(-r));
		agent_free(a);
		return 1;
	}

	while (sigwait(&mask, &sig) != 0)
		;
	agent_log(AGENT_LOG_INFO, "attachd.stopping",
		  json_pack("{s:s}", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
	agent_free(a);
	agent_log(AGENT_LOG_INFO, "attachd.stopped", NULL);
	return 0;
}
