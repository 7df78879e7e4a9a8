/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel initiator through open-iscsi's iscsiadm: login and logout, one run each, and
 * the iface (made once per host). Our node records, written by our own hand (noderec.c),
 * hang off our own iface, BE_ISCSI_IFACE or the agent config's iscsi.iface
 * (be_iscsi_iface()): a record (target, portal, "attachd") is attachd's by construction,
 * whichever volume made it, so the detach of the last LUN can delete it, and an admin's
 * records (iface "default") are never read, changed or deleted. Both iscsiadm calls name
 * the exact record (-T, -p, -I attachd), and ours carry a portal group tag, so each is its
 * own file (<addr>,<port>,<tpgt>/attachd) beside anybody else's. An admin's record in
 * open-iscsi's old flat layout for the same target and portal is the exception: iscsiadm
 * reads a flat file first, whatever -I says, so we refuse (foreign_flat_record()). CHAP
 * secrets never go on iscsiadm's command line. SendTargets discovery through iscsiadm is
 * never run here because it rewrites records (os-brick, xapi-project/sm #799). Exit codes
 * follow open-iscsi's include/iscsi_err.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

#define ISCSIADM "iscsiadm"
/* argv head of every node-mode call: the exact (target, portal, iface) record */
#define NODE_ARGV(iqn, portal)                                                                     \
	ISCSIADM, "-m", "node", "-T", (char *)(iqn), "-p", (char *)(portal), "-I",                 \
	    (char *)be_iscsi_iface(ctx)
#define DEFAULT_TIMEOUT_MS 30000

/* I/O queues this long while a session recovers before it fails up to dm/the fs: short
 * enough that a dead target does not hang a detach for iscsid.conf's 120 s, long enough
 * to ride out a switch failover. */
#define REPLACEMENT_TIMEOUT_S 30
/* Multipathed: dm-multipath fails over, so the session gives up on I/O quickly
 * (multipath-tools' recommended replacement_timeout with noop-out 5/5), and logging out of
 * a dead target at detach is not worth iscsid's 15 s default. */
#define MPATH_REPLACEMENT_TIMEOUT_S 5
#define MPATH_NOOP_OUT_S 5
#define MPATH_LOGOUT_TIMEOUT_S 2

static int call_timeout(const struct backend_ctx *ctx)
{
	return ctx->timeout_ms > 0 ? ctx->timeout_ms : DEFAULT_TIMEOUT_MS;
}

void be_iscsi_node_tuning_for(int timeout_ms, int multipath, struct be_iscsi_node_tuning *ret)
{
	unsigned budget_s = (unsigned)((timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS) / 1000);
	unsigned t = budget_s / 3;

	/* Two login attempts (first + 1 retry) must fit in the caller's budget with room
	 * for iscsiadm itself; iscsid.conf's 8 x 15 s = 120 s per dead portal never does. */
	if (t < 2)
		t = 2;
	if (t > 15)
		t = 15;
	*ret = (struct be_iscsi_node_tuning){
	    .login_timeout_s = t,
	    .login_retry_max = 1,
	    .replacement_timeout_s =
		multipath ? MPATH_REPLACEMENT_TIMEOUT_S : REPLACEMENT_TIMEOUT_S,
	    .noop_out_interval_s = multipath ? MPATH_NOOP_OUT_S : 0,
	    .noop_out_timeout_s = multipath ? MPATH_NOOP_OUT_S : 0,
	    .logout_timeout_s = multipath ? MPATH_LOGOUT_TIMEOUT_S : 0,
	};
}

/* Last non-empty line of iscsiadm's output, with the secret (if any) blanked out. */
static void output_tail(const char *out, const char *secret, char *buf, size_t n)
{
	const char *end, *start;
	char *hit;

	buf[0] = 0;
	if (!out || n == 0)
		return;
	end = out + strlen(out);
	while (end > out && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
		end--;
	start = end;
	while (start > out && start[-1] != '\n')
		start--;
	snprintf(buf, n, "%.*s", (int)(end - start), start);
	if (secret && *secret)
		while ((hit = strstr(buf, secret)))
			memset(hit, '*', strlen(secret));
}

/* Runs iscsiadm; returns its exit status (>= 0) with the output's last line in tail, or
 * a negative errno with e set when it could not run. */
static int run(const struct backend_ctx *ctx, char *const argv[], const char *what,
	       const char *secret, char *tail, size_t n, struct errbuf *e)
{
	_cleanup_free_ char *out = NULL;
	int r;

	r = sys_run(ctx->sys, argv, call_timeout(ctx), &out);
	if (r == -ENOENT)
		return errbuf_set(e, r,
				  "iscsiadm not found: install open-iscsi (attachctl preflight "
				  "lists what is missing)");
	if (r == -ETIMEDOUT)
		return errbuf_set(e, r, "iscsiadm %s did not finish within %d s; is iscsid stuck?",
				  what, call_timeout(ctx) / 1000);
	if (r < 0)
		return errbuf_set(e, r, "could not run iscsiadm %s: %s", what, strerror(-r));
	output_tail(out, secret, tail, n);
	return r;
}

/* Errors every iscsiadm mode shares. */
static int common_error(int status, const char *what, const char *iqn, const char *portal,
			const char *tail, struct errbuf *e)
{
	switch (status) {
	case BE_ISCSIADM_ERR_ISCSID_NOTCONN:
	case BE_ISCSIADM_ERR_ISCSID_COMM:
		return errbuf_set(e, -ENOTCONN,
				  "iscsid is not running (iscsiadm exit %d): start it "
				  "(systemctl start iscsid) and retry",
				  status);
	case BE_ISCSIADM_ERR_IDBM:
		return errbuf_set(
		    e, -EIO,
		    "iSCSI node database failure during %s of %s at %s (iscsiadm exit 6: "
		    "%s); check /etc/iscsi/nodes for a stale lock or broken record",
		    what, iqn, portal, tail);
	default:
		return errbuf_set(e, -EIO, "iscsiadm %s of %s at %s failed (exit %d: %s)", what,
				  iqn, portal, status, tail);
	}
}

/* Our iface's file (/etc/iscsi/ifaces/<iface>) exists, names itself, uses tcp, and carries
 * the configured initiator name (or none when none is configured: iscsid's applies). */
static int iface_is_ready(const struct backend_ctx *ctx, const char *iname)
{
	_cleanup_free_ char *text = NULL;
	char path[4096], rel[128], v[BE_ISCSI_NAME_MAX + 2];
	int r;

	snprintf(rel, sizeof(rel), "/etc/iscsi/ifaces/%s", be_iscsi_iface(ctx));
	if (!sys_path(path, sizeof(path), ctx->sys->etc_root, rel) ||
	    ctx->sys->ops->read_file(ctx->sys, path, &text, 64 * 1024) < 0)
		return 0;
	if (be_iscsi_noderec_get(text, "iface.iscsi_ifacename", v, sizeof(v)) < 0 ||
	    !streq(v, be_iscsi_iface(ctx)))
		return 0;
	if (be_iscsi_noderec_get(text, "iface.transport_name", v, sizeof(v)) == 0 &&
	    !streq(v, "tcp"))
		return 0;
	r = be_iscsi_noderec_get(text, "iface.initiatorname", v, sizeof(v));
	if (iname[0])
		return r == 0 && streq(v, iname);
	return r < 0 || streq(v, "") || streq(v, "<empty>");
}

int be_iscsi_iface_ensure(const struct backend_ctx *ctx, struct errbuf *e)
{
	const char *iname = ctx->host ? ctx->host->iscsi_initiator_name : "";
	char *iface = (char *)be_iscsi_iface(ctx);
	char *create[] = {ISCSIADM, "-m", "iface", "-I", iface, "-o", "new", NULL};
	char *name[] = {ISCSIADM, "-m",		 "iface",
			"-I",	  iface,	 "-o",
			"update", "-n",		 "iface.initiatorname",
			"-v",	  (char *)iname, NULL};
	char tail[256], what[128];
	int r;

	/* Once made (the first login of this agent on a host, again only if somebody removed
	 * or changed it) the file is all there is to check: no process per login. */
	if (iface_is_ready(ctx, iname))
		return 0;
	/* Node-mode calls naming a missing iface fail with exit 3 ("Could not read iface
	 * info"), so it comes first. This rewrites it with defaults (transport tcp) unless a
	 * session uses it (15), which is as good. */
	r = run(ctx, create, "iface creation", NULL, tail, sizeof(tail), e);
	if (r > 0 && r != BE_ISCSIADM_ERR_SESS_EXISTS) {
		snprintf(what, sizeof(what), "creation of iface %s", iface);
		return common_error(r, what, "all targets", "-", tail, e);
	}
	if (r < 0 || !iname[0])
		return r < 0 ? r : 0;
	/* The agent's initiator name, so the kernel presents the name the probe did (target
	 * ACLs); node records copy it when made. open-iscsi takes it only in iface mode.
	 * Without it, iscsid's initiatorname.iscsi applies. */
	r = run(ctx, name, "update of iface.initiatorname", NULL, tail, sizeof(tail), e);
	if (r > 0 && r != BE_ISCSIADM_ERR_SESS_EXISTS)
		return common_error(r, "update of iface.initiatorname", "all targets", "-", tail,
				    e);
	return r < 0 ? r : 0;
}

/* Somebody else's record for (iqn, portal) in open-iscsi's old flat layout: iscsiadm
 * --login -I attachd would read it instead of ours (idbm_rec_read looks for the flat file
 * first), and any iscsiadm write of our record would delete it (idbm_add_node,
 * idbm_rec_write). 1 (pt filled, message in e), 0 none, negative errno. */
static int foreign_flat_record(const struct backend_ctx *ctx, const char *portal, const char *iqn,
			       struct be_iscsi_portal *pt, struct errbuf *e)
{
	char iface[64];
	int r;

	r = be_iscsi_portal_parse(portal, pt, NULL, 0);
	if (r < 0)
		return errbuf_set(e, r, "portal '%s' is not host:port", portal);
	r = be_iscsi_noderec_flat_iface(ctx->sys, iqn, pt->host, pt->port, iface, sizeof(iface));
	if (r < 0)
		return errbuf_set(e, r, "cannot read the node records of %s: %s", iqn,
				  strerror(-r));
	if (r == 0 || streq(iface, be_iscsi_iface(ctx)))
		return 0;
	errbuf_set(
	    e, -EEXIST,
	    "a node record of %s at %s on iface '%s' exists in open-iscsi's old "
	    "one-file-per-portal layout (/etc/iscsi/nodes/%s/%s,%u); iscsiadm would log in "
	    "with it instead of attachd's own: recreate it with a portal group tag (iscsiadm "
	    "-m node -T %s -p %s,TPGT -o new) or by discovery, then retry",
	    iqn, portal, iface, iqn, pt->host, pt->port, iqn, portal);
	return 1;
}

int be_iscsi_node_write(const struct backend_ctx *ctx, const char *portal,
			const struct be_iscsi_cfg *cfg, int *ret_created, struct errbuf *e)
{
	struct be_iscsi_node_tuning t;
	struct be_iscsi_noderec_kv set[16];
	char login_to[16], retry[16], repl[16], noop_i[16], noop_t[16], logout_to[16], port[16];
	char tpgt[16];
	struct be_iscsi_portal pt;
	size_t n = 0;
	int r;

	r = foreign_flat_record(ctx, portal, cfg->iqn, &pt, e);
	if (r != 0)
		return r < 0 ? r : -EEXIST;
	be_iscsi_node_tuning_for(ctx->timeout_ms, cfg->n_paths > 1, &t);
	snprintf(port, sizeof(port), "%u", pt.port);
	/* With a TPGT the record is nodes/<iqn>/<addr>,<port>,<tpgt>/<iface>: one file per
	 * iface, beside anybody else's. iscsid takes the target's real tag at login (a
	 * different one is only logged at debug level), and sessions are matched without it. */
	snprintf(tpgt, sizeof(tpgt), "%d", BE_ISCSI_RECORD_TPGT);
	snprintf(login_to, sizeof(login_to), "%u", t.login_timeout_s);
	snprintf(retry, sizeof(retry), "%u", t.login_retry_max);
	snprintf(repl, sizeof(repl), "%u", t.replacement_timeout_s);

	set[n++] = (struct be_iscsi_noderec_kv){"node.name", cfg->iqn};
	set[n++] = (struct be_iscsi_noderec_kv){"node.tpgt", tpgt};
	set[n++] = (struct be_iscsi_noderec_kv){"iface.iscsi_ifacename", be_iscsi_iface(ctx)};
	set[n++] = (struct be_iscsi_noderec_kv){"node.discovery_type", "static"};
	set[n++] = (struct be_iscsi_noderec_kv){"node.conn[0].address", pt.host};
	set[n++] = (struct be_iscsi_noderec_kv){"node.conn[0].port", port};
	/* Never log back in on its own after a reboot: the volume may be attached elsewhere
	 * by then (kubernetes #21305). */
	set[n++] = (struct be_iscsi_noderec_kv){"node.startup", "manual"};
	set[n++] = (struct be_iscsi_noderec_kv){"node.conn[0].startup", "manual"};
	/* Only the LUNs we scan get a device (kubernetes PR #63176). */
	set[n++] = (struct be_iscsi_noderec_kv){"node.session.scan", "manual"};
	set[n++] = (struct be_iscsi_noderec_kv){"node.conn[0].timeo.login_timeout", login_to};
	set[n++] = (struct be_iscsi_noderec_kv){"node.session.initial_login_retry_max", retry};
	set[n++] = (struct be_iscsi_noderec_kv){"node.session.timeo.replacement_timeout", repl};
	if (t.noop_out_interval_s) {
		snprintf(noop_i, sizeof(noop_i), "%u", t.noop_out_interval_s);
		snprintf(noop_t, sizeof(noop_t), "%u", t.noop_out_timeout_s);
		set[n++] =
		    (struct be_iscsi_noderec_kv){"node.conn[0].timeo.noop_out_interval", noop_i};
		set[n++] =
		    (struct be_iscsi_noderec_kv){"node.conn[0].timeo.noop_out_timeout", noop_t};
	}
	if (t.logout_timeout_s) {
		snprintf(logout_to, sizeof(logout_to), "%u", t.logout_timeout_s);
		set[n++] =
		    (struct be_iscsi_noderec_kv){"node.conn[0].timeo.logout_timeout", logout_to};
	}
	/* Without CHAP options the record keeps iscsid.conf's auth settings (copied like the
	 * rest). With them, the secret is in the root-only record file only: as iscsiadm's -v
	 * it would be in /proc/PID/cmdline for every local user to read. */
	if (cfg->chap_user[0]) {
		set[n++] = (struct be_iscsi_noderec_kv){"node.session.auth.authmethod", "CHAP"};
		set[n++] =
		    (struct be_iscsi_noderec_kv){"node.session.auth.username", cfg->chap_user};
		set[n++] =
		    (struct be_iscsi_noderec_kv){"node.session.auth.password", cfg->chap_secret};
	}
	return be_iscsi_noderec_write(ctx, cfg->iqn, pt.host, pt.port, set, n, ret_created, e);
}

int be_iscsi_node_login(const struct backend_ctx *ctx, const char *portal, const char *iqn,
			struct errbuf *e)
{
	char *argv[] = {NODE_ARGV(iqn, portal), "--login", NULL};
	char tail[256];
	int r;

	r = run(ctx, argv, "login", NULL, tail, sizeof(tail), e);
	if (r < 0)
		return r;
	switch (r) {
	case 0:
		return 0;
	case BE_ISCSIADM_ERR_SESS_EXISTS:
		/* 15: a session is already there (another caller or tpgt duplicates, vdsm #259) */
		return 1;
	case BE_ISCSIADM_ERR_LOGIN_AUTH_FAILED:
		return errbuf_set(
		    e, -EACCES,
		    "the target rejected the CHAP credentials logging in to %s at %s: "
		    "check chap_user and chap_secret against the target's account",
		    iqn, portal);
	case BE_ISCSIADM_ERR_FATAL_LOGIN:
		return errbuf_set(e, -EPERM,
				  "login to %s at %s was refused for good (iscsiadm exit 19: %s): "
				  "check the IQN, and that the target's ACL allows this host's "
				  "initiator name",
				  iqn, portal, tail);
	case BE_ISCSIADM_ERR_TRANS_TIMEOUT:
		return errbuf_set(
		    e, -ETIMEDOUT,
		    "login to %s at %s timed out (iscsiadm exit 8: %s): check that the "
		    "portal is reachable from this host",
		    iqn, portal, tail);
	case BE_ISCSIADM_ERR_LOGIN:
		return errbuf_set(e, -ECONNREFUSED,
				  "login to %s at %s failed (iscsiadm exit 5: %s): check that the "
				  "portal is reachable and serves this target",
				  iqn, portal, tail);
	default:
		return common_error(r, "login", iqn, portal, tail, e);
	}
}

int be_iscsi_node_logout(const struct backend_ctx *ctx, const char *portal, const char *iqn,
			 struct errbuf *e)
{
	char *argv[] = {NODE_ARGV(iqn, portal), "--logout", NULL};
	char tail[256];
	int r;

	r = run(ctx, argv, "logout", NULL, tail, sizeof(tail), e);
	if (r < 0)
		return r;
	if (r == 0 || r == BE_ISCSIADM_ERR_NO_OBJS_FOUND)
		return 0; /* 21: no such session, already logged out */
	return common_error(r, "logout", iqn, portal, tail, e);
}

int be_iscsi_node_delete(const struct backend_ctx *ctx, const char *portal, const char *iqn,
			 struct errbuf *e)
{
	struct be_iscsi_portal pt;
	int r;

	/* By hand, checked by content: only files of our iface go, an admin's record (flat
	 * or not) stays, and no process runs. */
	r = be_iscsi_portal_parse(portal, &pt, NULL, 0);
	if (r < 0)
		return errbuf_set(e, r, "portal '%s' is not host:port", portal);
	return be_iscsi_noderec_remove(ctx, iqn, pt.host, pt.port, e);
}
