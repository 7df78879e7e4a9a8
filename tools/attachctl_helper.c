/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bin/attachctl-helper: the attachctl commands that need libiscsi or gnutls, run by
 * attachctl (ctl_exec_helper) with its own arguments, so that attachctl itself starts with
 * libc and jansson alone:
 *   probe iscsi://...   libiscsi through the iscsi backend's probe op (no agent needed)
 *   identity            when no agent answers: this host's files (the fencing key is a
 *                       SHA-256, through gnutls)
 * Same options, output and exit status as attachctl (0 success, 1 failure, 2 usage error).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/identity.h"
#include "backends/backend.h"
#include "lib/macro.h"
#include "lib/sys.h"
#include "tools/attachctl.h"

#define CTL_PROBE_TIMEOUT_MS 15000

static void print_json(const json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		printf("%s\n", s);
	free(s);
}

static int probe_iscsi(const struct ctl_args *a, json_t *opts)
{
	struct backend_host_config host;
	struct backend_identity id;
	struct errlist el = {.n = 0};
	struct errbuf e = {{0}};
	struct sys s;
	struct backend_ctx ctx;
	struct backend_attachment att;
	const char *user = getenv("ATTACHCTL_CHAP_USER"), *secret = getenv("ATTACHCTL_CHAP_SECRET");
	json_t *out;
	void *cfg = NULL;
	char size[32];
	int r;

	memset(&host, 0, sizeof(host));
	memset(&id, 0, sizeof(id));
	json_object_del(opts, "backend");
	if (user && *user && secret) {
		json_object_set_new(opts, "chap_user", json_string(user));
		json_object_set_new(opts, "chap_secret", json_string(secret));
	}
	r = be_iscsi_ops.parse(opts, &cfg, &el);
	if (r < 0) {
		fprintf(stderr, "attachctl: probe: %s\n", el.msg);
		return CTL_EXIT_USAGE;
	}
	sys_init_real(&s);
	ctx = (struct backend_ctx){.sys = &s, .host = &host, .timeout_ms = CTL_PROBE_TIMEOUT_MS};
	att = (struct backend_attachment){.ops = &be_iscsi_ops, .cfg = cfg, .objs = json_object()};
	r = be_iscsi_ops.probe(&ctx, &att, &id, &e);
	be_iscsi_ops.free_cfg(cfg);
	json_decref(att.objs);
	if (r < 0) {
		fprintf(stderr, "attachctl: probe %s: %s\n", a->arg,
			e.msg[0] ? e.msg : strerror(-r));
		return CTL_EXIT_FAIL;
	}
	ctl_fmt_bytes(id.size_bytes, size, sizeof(size));
	if (a->json) {
		out = json_pack("{s:s,s:I,s:s}", "url", a->arg, "size_bytes",
				(json_int_t)id.size_bytes, "wwid", id.wwid);
		if (out)
			print_json(out);
		json_decref(out);
	} else {
		printf("url:   %s\nsize:  %s (%llu bytes)\nwwid:  %s\n", a->arg, size,
		       (unsigned long long)id.size_bytes, id.wwid[0] ? id.wwid : "-");
	}
	return CTL_EXIT_OK;
}

static int helper_probe(const struct ctl_args *a)
{
	_cleanup_(json_decrefp) json_t *opts = NULL;
	struct errbuf e = {{0}};

	if (ctl_probe_url_parse(a->arg, &opts, &e) < 0) {
		fprintf(stderr, "attachctl: probe: %s\n", e.msg);
		return CTL_EXIT_USAGE;
	}
	if (!streq(json_string_value(json_object_get(opts, "backend")), "iscsi")) {
		fprintf(stderr,
			"attachctl: probe %s: only iscsi:// is probed by %s; run attachctl\n",
			a->arg, CTL_HELPER_NAME);
		return CTL_EXIT_USAGE;
	}
	return probe_iscsi(a, opts);
}

static int identity_local(json_t **ret)
{
	struct sys s;

	sys_init_real(&s);
	return attach_identity_collect(&s, NULL, NULL, ret);
}

int main(int argc, char *argv[])
{
	struct ctl_args a;
	struct errbuf e = {{0}};

	signal(SIGPIPE, SIG_IGN);
	if (ctl_parse_args(argc, argv, &a, &e) < 0) {
		fprintf(stderr, "attachctl: %s\n\n", e.msg);
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!a.help && streq(a.cmd, "probe"))
		return helper_probe(&a);
	if (!a.help && streq(a.cmd, "identity"))
		return ctl_cmd_identity(&a, identity_local);
	fprintf(stderr,
		"%s runs attachctl's probe (iscsi://) and identity for attachctl; run "
		"attachctl\n",
		CTL_HELPER_NAME);
	return CTL_EXIT_USAGE;
}
