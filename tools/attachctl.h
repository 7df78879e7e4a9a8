/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachctl's parts: argument parsing and output formatting (pure, unit-tested), the admin
 * socket client, and the commands that need no agent (probe, preflight) or check the
 * kernel behind it (doctor).
 */
#pragma once

#include <jansson.h>
#include <stdio.h>

#include "agent/config.h"
#include "lib/err.h"

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

/* ---- attachctl_args.c ---- */
struct ctl_args {
	char socket[AGENT_SOCKET_PATH_MAX + 1];
	int json;
	int force;
	int once; /* watch --once */
	int help;
	const char *cmd; /* NULL with help */
	const char *arg; /* NAME or URL, NULL for commands without one */
	char **argv;	 /* as given (the helper is run with them) */
};
/* Parse argv: options anywhere ([--admin-socket PATH] [--json] [--force] [-h|--help]),
 * then COMMAND [ARG]. 0, or -EINVAL with the problem in e (print it + usage, exit 2). */
int ctl_parse_args(int argc, char *argv[], struct ctl_args *ret, struct errbuf *e);
void ctl_usage(FILE *f);

/* ---- attachctl_fmt.c: tables for people ---- */
#define CTL_TABLE_MAX_COLS 10
struct ctl_table {
	unsigned ncols;
	char *head[CTL_TABLE_MAX_COLS];
	char **cells; /* nrows * ncols, strdup'ed; "" shown as "-" */
	size_t nrows, cap_rows;
};
/* Columns from a NULL-terminated list of header strings. */
void ctl_table_init(struct ctl_table *t, const char *const *head);
/* One row of t->ncols strings (NULL = "-"). 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Aligned columns separated by two spaces; the last column is not padded. */
void ctl_table_print(const struct ctl_table *t, FILE *f);
void ctl_table_done(struct ctl_table *t);

/* "12.3 ms", "1.52 s" */
void ctl_fmt_ms(double ms, char *buf, size_t n);
/* The "paths:" line and table of a multipath volume (attachctl show). */
void ctl_print_paths(const json_t *v, FILE *f);
/* "64.0 MiB" */
void ctl_fmt_bytes(unsigned long long b, char *buf, size_t n);
/* Renderers of the admin API's answers (agent/admin.h). */
void ctl_print_ls(const json_t *volumes, FILE *f);
/* The `fencing:` line of show from its "fencing" object. */
void ctl_fmt_fencing(const json_t *fe, char *buf, size_t n);
void ctl_print_takeover(const json_t *t, FILE *f);
void ctl_print_show(const json_t *volume, FILE *f);
void ctl_print_trace(const json_t *trace, FILE *f);
void ctl_print_metrics(const json_t *metrics, FILE *f);
void ctl_print_drain(const json_t *answer, FILE *f);
/* attachctl_expand.c: the "expand" object of an expand answer, old -> new sizes. */
void ctl_print_expand(const json_t *expand, FILE *f);

/* ---- attachctl_client.c ---- */
/* POST /v1/<call> with body (NULL = none) on the admin socket; *ret is the answer object
 * (Err == "" or not: the caller reads it). Negative errno with e for transport failures. */
int ctl_call(const char *socket, const char *call, json_t *body, int timeout_s, json_t **ret,
	     struct errbuf *e);

/* Connect, send POST /v1/<call> with body (NULL = none) and read the response head of a
 * streaming call (agent/http.h): the socket, positioned at the body (JSON lines), or a
 * negative errno with e. */
int ctl_open_stream(const char *socket, const char *call, json_t *body, int timeout_s,
		    struct errbuf *e);

/*
 * attachctl's helper, bin/attachctl-helper, installed next to attachctl: the parts that need
 * libiscsi or gnutls (probe iscsi://, identity without an agent) run there, so that every
 * other command starts with libc and jansson alone (under emulation the loading of
 * libiscsi, gnutls and their dozen libraries was most of a command's time). Replace this
 * process with the helper, with the same arguments. Returns only when it cannot be run:
 * then it has said why on stderr, and the result is CTL_EXIT_FAIL.
 */
#define CTL_HELPER_NAME "attachctl-helper"
int ctl_exec_helper(const struct ctl_args *a);

/* ---- attachctl_probe.c ---- */
/* A probe URL as Create-style options with "backend":
 *   iscsi://HOST[:PORT]/IQN/LUN              {"backend":"iscsi","portal","iqn","lun"}
 *   nvme://ADDR[:PORT]/SUBNQN[/NSID|UUID]    {"backend":"nvme","traddr","trsvcid",
 *                                             "subnqn","nsid"|"uuid"} (nsid 1 if omitted)
 *   scaleio://SYSTEM_ID/VOLUME_ID            {"backend":"scaleio","system_id","volume_id"}
 * -EINVAL with e naming what is wrong. Pure. */
int ctl_probe_url_parse(const char *url, json_t **ret, struct errbuf *e);
/* The probe answer for people (agent/admin_live.h's probe object plus "url"). */
void ctl_print_probe(const json_t *probe, FILE *f);
/* iscsi:// runs in the helper (libiscsi), the others through the agent. */
int ctl_cmd_probe(const struct ctl_args *a);

/* ---- attachctl_watch.c ---- */
/* One agent/progress.h event for people ("vol1: attach: mkfs 12.40 s ok"); "" for events
 * that print nothing. Pure. */
void ctl_watch_format(const json_t *ev, char *buf, size_t n);
/* "1.2 ms", "12.4 s": one decimal, as people read a running clock. */
void ctl_fmt_elapsed(double ms, char *buf, size_t n);
/* "attaching: mkfs 12.4 s": the STATE of a volume with an operation in flight (its
 * "progress" object); "" when there is none. Pure. */
void ctl_fmt_progress(const json_t *progress, char *buf, size_t n);
int ctl_cmd_watch(const struct ctl_args *a);

/* ---- attachctl_local.c ---- */
int ctl_cmd_preflight(const struct ctl_args *a);
int ctl_cmd_doctor(const struct ctl_args *a);
/* ---- attachctl_identity.c ---- */
/* FIELD / VALUE / SOURCE table of an identity object (attach/identity.h). */
void ctl_print_identity(const json_t *identity, FILE *f);
/* This host's identity read from its files (attach_identity_collect), in the helper. */
typedef int (*ctl_identity_local_fn)(json_t **ret);
/* Ask the agent; when it does not run, read this host's files with local() (with a note on
 * stderr), or, with local NULL (attachctl itself), run the helper, which does. */
int ctl_cmd_identity(const struct ctl_args *a, ctl_identity_local_fn local);
/* 1 if path is a mount point in /proc/self/mountinfo (octal escapes decoded), 0 if not,
 * negative errno. */
int ctl_is_mountpoint(const char *mountinfo_path, const char *path);
