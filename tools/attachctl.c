/* SPDX-License-Identifier: Apache-2.0 */
/* attachctl: the SRE's tool for attachd (its admin socket) and for the host underneath
 * (probe, preflight). Exit 0 success, 1 failure, 2 usage error. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "tools/attachctl.h"

/* Seconds to wait for an answer: detach and drain run the pipeline's teardown (bounded
 * by the agent's deadlines per volume), trace may wait behind an operation. */
#define CTL_TIMEOUT_QUICK 60
#define CTL_TIMEOUT_SLOW 1800

static void print_json(const json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		printf("%s\n", s);
	free(s);
}

/* Run one admin call; on an Err print it and return 1. With --json the whole answer is
 * printed either way, for programs. */
static int admin(const struct ctl_args *a, const char *call, json_t *body, int timeout_s,
		 json_t **ret)
{
	struct errbuf e = {{0}};
	const char *err;
	json_t *o = NULL;
	int r = ctl_call(a->socket, call, body, timeout_s, &o, &e);

	json_decref(body);
	if (r < 0) {
		if (a->json) {
			json_t *j = json_pack("{s:s}", "Err", e.msg);

			if (j)
				print_json(j);
			json_decref(j);
		}
		fprintf(stderr, "attachctl: %s\n", e.msg);
		return CTL_EXIT_FAIL;
	}
	err = json_string_value(json_object_get(o, "Err"));
	if (a->json)
		print_json(o);
	if (err && *err) {
		fprintf(stderr, "attachctl: %s: %s\n", call, err);
		*ret = o;
		return CTL_EXIT_FAIL;
	}
	*ret = o;
	return CTL_EXIT_OK;
}

static json_t *name_body(const struct ctl_args *a)
{
	return json_pack("{s:s,s:b}", "name", a->arg, "force", a->force);
}

int main(int argc, char *argv[])
{
	struct ctl_args a;
	struct errbuf e = {{0}};
	json_t *o = NULL;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (ctl_parse_args(argc, argv, &a, &e) < 0) {
		fprintf(stderr, "attachctl: %s\n\n", e.msg);
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (a.help) {
		ctl_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (streq(a.cmd, "probe"))
		return ctl_cmd_probe(&a);
	if (streq(a.cmd, "preflight"))
		return ctl_cmd_preflight(&a);
	if (streq(a.cmd, "doctor"))
		return ctl_cmd_doctor(&a);
	if (streq(a.cmd, "identity"))
		return ctl_cmd_identity(&a, NULL);
	if (streq(a.cmd, "watch"))
		return ctl_cmd_watch(&a);

	if (streq(a.cmd, "ls")) {
		/* The table needs a quarter of the full answer (--json prints it all). */
		rc = admin(&a, "ls", a.json ? NULL : json_pack("{s:b}", "brief", 1),
			   CTL_TIMEOUT_QUICK, &o);
		if (rc == 0 && !a.json)
			ctl_print_ls(json_object_get(o, "volumes"), stdout);
	} else if (streq(a.cmd, "show")) {
		rc = admin(&a, "show", name_body(&a), CTL_TIMEOUT_QUICK, &o);
		if (rc == 0 && !a.json)
			ctl_print_show(json_object_get(o, "volume"), stdout);
	} else if (streq(a.cmd, "trace")) {
		rc = admin(&a, "trace", name_body(&a), CTL_TIMEOUT_SLOW, &o);
		if (rc == 0 && !a.json)
			ctl_print_trace(json_object_get(o, "trace"), stdout);
	} else if (streq(a.cmd, "detach")) {
		rc = admin(&a, "detach", name_body(&a), CTL_TIMEOUT_SLOW, &o);
		if (rc == 0 && !a.json)
			printf("volume %s: %s\n", a.arg,
			       streq(json_string_value(json_object_get(o, "result")), "detached")
				   ? "detached"
				   : "was not attached");
	} else if (streq(a.cmd, "expand")) {
		rc = admin(&a, "expand", name_body(&a), CTL_TIMEOUT_SLOW, &o);
		if (rc == 0 && !a.json)
			ctl_print_expand(json_object_get(o, "expand"), stdout);
	} else if (streq(a.cmd, "takeover")) {
		rc = admin(&a, "takeover", name_body(&a), CTL_TIMEOUT_SLOW, &o);
		if (rc == 0 && !a.json)
			ctl_print_takeover(json_object_get(o, "takeover"), stdout);
	} else if (streq(a.cmd, "drain")) {
		rc = admin(&a, "drain", NULL, CTL_TIMEOUT_SLOW, &o);
		/* Per-volume results matter most when some failed. */
		if (o && !a.json && json_object_get(o, "results"))
			ctl_print_drain(o, stdout);
	} else if (streq(a.cmd, "metrics")) {
		rc = admin(&a, "metrics", NULL, CTL_TIMEOUT_QUICK, &o);
		if (rc == 0 && !a.json)
			ctl_print_metrics(json_object_get(o, "metrics"), stdout);
	} else if (streq(a.cmd, "ping")) {
		rc = admin(&a, "ping", NULL, CTL_TIMEOUT_QUICK, &o);
		if (rc == 0 && !a.json)
			printf("attachd (pid %lld) answers%s\n",
			       (long long)json_integer_value(json_object_get(o, "pid")),
			       json_is_true(json_object_get(o, "draining")) ? "; draining" : "");
	} else {
		fprintf(stderr, "attachctl: unknown command '%s'\n", a.cmd);
		rc = CTL_EXIT_USAGE;
	}
	json_decref(o);
	return rc;
}
