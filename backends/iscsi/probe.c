/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pre-flight through libiscsi (user space, its own I_T nexus, nothing in the kernel or the
 * node DB): log in, REPORT LUNS, INQUIRY, READ CAPACITY, VPD 0x83. It tells a wrong IQN,
 * a missing LUN, bad CHAP and a dead portal apart before the kernel is touched, and learns
 * the WWID the kernel device must show.
 *
 * libiscsi 1.19 (Debian 12): the *_sync calls have no overall deadline (a black-holed
 * portal blocks until TCP gives up), so we drive the async API from our own poll() loop
 * with a deadline. Contexts are not shared between threads: one per call.
 */
#include <errno.h>
#include <fcntl.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "lib/macro.h"

#define DEFAULT_TIMEOUT_MS 30000
#define LOGOUT_BUDGET_MS 1000
#define UA_RETRIES 5
#define REPORT_LUNS_MAX (1u << 20)

struct op {
	int done;
	int status;
	/* libiscsi's error text as it was when the op failed: iscsi_service() overwrites it
	 * right after the callback ("Can not reconnect right now") */
	char err[256];
};

struct probe {
	struct iscsi_context *iscsi;
	int64_t deadline; /* CLOCK_MONOTONIC ms */
	struct op op;
	struct scsi_task *pending; /* a task still owned by the context at teardown */
	const struct be_iscsi_cfg *cfg;
	const char *portal;
	const char *initiator;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void op_cb(struct iscsi_context *iscsi, int status, void *data _unused_, void *priv)
{
	struct op *op = priv;

	op->done = 1;
	op->status = status;
	if (status != SCSI_STATUS_GOOD && !op->err[0])
		snprintf(op->err, sizeof(op->err), "%s", iscsi_get_error(iscsi) ?: "");
}

/* Serve the context until the current op completes or the deadline passes. */
static int wait_op(struct probe *p, int64_t deadline)
{
	while (!p->op.done) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = {.fd = iscsi_get_fd(p->iscsi)};
		int timeout, r;

		if (left <= 0)
			return -ETIMEDOUT;
		/* Wake at least once a second: iscsi_service() also runs libiscsi's timers. */
		timeout = left > 1000 ? 1000 : (int)left;
		pfd.events = (short)iscsi_which_events(p->iscsi);
		if (pfd.fd < 0 || pfd.events == 0) {
			/* Nothing to wait on (libiscsi says: back off >= 100 ms); cannot happen
			 * with auto-reconnect off, bounded by the deadline anyway. */
			r = poll(NULL, 0, timeout < 100 ? timeout : 100);
			pfd.revents = 0;
		} else {
			r = poll(&pfd, 1, timeout);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (iscsi_service(p->iscsi, r > 0 ? pfd.revents : 0) < 0 && !p->op.done)
			return -EIO;
	}
	return 0;
}

enum cmd_kind { CMD_REPORT_LUNS, CMD_INQUIRY, CMD_VPD, CMD_READCAP16, CMD_READCAP10 };

/* Run one SCSI command, retrying UNIT ATTENTION (a fresh I_T nexus gets "power on/reset"
 * first). Returns 0 with the task on GOOD, the SCSI status (> 0) with the task otherwise
 * (caller frees either), or a negative errno when the target did not answer. */
static int scsi_cmd(struct probe *p, enum cmd_kind kind, int arg, int alloc,
		    struct scsi_task **ret_task)
{
	for (int attempt = 0;; attempt++) {
		struct scsi_task *t = NULL;
		int r;

		p->op = (struct op){0};
		switch (kind) {
		case CMD_REPORT_LUNS:
			t = iscsi_reportluns_task(p->iscsi, 0, alloc, op_cb, &p->op);
			break;
		case CMD_INQUIRY:
			t = iscsi_inquiry_task(p->iscsi, arg, 0, 0, alloc, op_cb, &p->op);
			break;
		case CMD_VPD:
			t = iscsi_inquiry_task(p->iscsi, arg, 1, 0x83, alloc, op_cb, &p->op);
			break;
		case CMD_READCAP16:
			t = iscsi_readcapacity16_task(p->iscsi, arg, op_cb, &p->op);
			break;
		case CMD_READCAP10:
			t = iscsi_readcapacity10_task(p->iscsi, arg, 0, 0, op_cb, &p->op);
			break;
		}
		if (!t)
			return -ENOMEM;
		r = wait_op(p, p->deadline);
		if (r < 0) {
			p->pending = t; /* freed after the context is destroyed */
			return r;
		}
		if (p->op.status == SCSI_STATUS_GOOD) {
			*ret_task = t;
			return 0;
		}
		if (p->op.status == SCSI_STATUS_CHECK_CONDITION &&
		    t->sense.key == SCSI_SENSE_UNIT_ATTENTION && attempt < UA_RETRIES) {
			scsi_free_scsi_task(t);
			continue;
		}
		*ret_task = t;
		return p->op.status > 0 ? p->op.status : SCSI_STATUS_ERROR;
	}
}

static void freetaskp(struct scsi_task **t)
{
	if (*t)
		scsi_free_scsi_task(*t);
}
#define _cleanup_task_ _cleanup_(freetaskp)

static int cmd_error(struct probe *p, int r, struct scsi_task *t, const char *what,
		     struct errbuf *e)
{
	if (r == -ETIMEDOUT)
		return errbuf_set(e, r, "%s at %s: %s got no answer before the deadline",
				  p->cfg->iqn, p->portal, what);
	if (r < 0)
		return errbuf_set(e, r, "%s at %s: %s failed: %s", p->cfg->iqn, p->portal, what,
				  p->op.err[0] ? p->op.err : iscsi_get_error(p->iscsi));
	if (t && r == SCSI_STATUS_CHECK_CONDITION)
		return errbuf_set(e, -EIO, "%s at %s: %s on LUN %u failed: %s (asc/ascq 0x%04x)",
				  p->cfg->iqn, p->portal, what, p->cfg->lun,
				  scsi_sense_key_str(t->sense.key), t->sense.ascq);
	return errbuf_set(e, -EIO, "%s at %s: %s on LUN %u failed with SCSI status 0x%x",
			  p->cfg->iqn, p->portal, what, p->cfg->lun, (unsigned)r);
}

/* Which error a failed connect+login is, in words a user can act on. */
static int login_error(struct probe *p, int r, struct errbuf *e)
{
	const char *msg = p->op.err[0] ? p->op.err : iscsi_get_error(p->iscsi);
	const struct be_iscsi_cfg *c = p->cfg;
	int err, status;

	if (r == -ETIMEDOUT) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = iscsi_get_fd(p->iscsi);

		/* A connecting socket has no peer yet: tells "black hole" from "silent target". */
		if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
			return errbuf_set(
			    e, -ETIMEDOUT,
			    "portal %s accepted the TCP connection but did not answer "
			    "the iSCSI login for %s in time; is it an iSCSI portal?",
			    p->portal, c->iqn);
		return errbuf_set(
		    e, -ETIMEDOUT,
		    "portal %s did not answer (TCP connect timed out): check the address "
		    "and any firewall between this host and the array",
		    p->portal);
	}
	if (msg && strstr(msg, "resolv"))
		return errbuf_set(
		    e, -EHOSTUNREACH,
		    "cannot resolve the host name of portal %s: use an IP address or fix "
		    "DNS",
		    p->portal);
	be_iscsi_libiscsi_error_parse(msg, &err, &status);
	switch (status) {
	case 0x0201:
		if (!c->chap_user[0])
			return errbuf_set(
			    e, -EACCES,
			    "%s at %s requires CHAP authentication: set chap_user and "
			    "chap_secret",
			    c->iqn, p->portal);
		return errbuf_set(e, -EACCES,
				  "%s at %s rejected the CHAP credentials of user '%s': check "
				  "chap_user and chap_secret against the target's account",
				  c->iqn, p->portal, c->chap_user);
	case 0x0202:
		return errbuf_set(
		    e, -EACCES,
		    "%s at %s does not allow initiator %s: add it to the target's ACL "
		    "(or set iscsi.initiator_name in the agent config)",
		    c->iqn, p->portal, p->initiator);
	case 0x0203:
	case 0x0204:
		return errbuf_set(
		    e, -ENOENT,
		    "target %s not found at %s: the portal answered but serves no such "
		    "target; check 'iqn'",
		    c->iqn, p->portal);
	case -1:
		break;
	default:
		return errbuf_set(e, -EPROTO, "login to %s at %s failed: iSCSI login status 0x%04x",
				  c->iqn, p->portal, (unsigned)status);
	}
	switch (err) {
	case ECONNREFUSED:
		return errbuf_set(
		    e, -ECONNREFUSED,
		    "connection to portal %s refused: nothing listens there (wrong port, "
		    "or the target service is down)",
		    p->portal);
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EADDRNOTAVAIL:
		return errbuf_set(e, -err, "portal %s is unreachable from this host (%s)",
				  p->portal, strerror(err));
	case ETIMEDOUT:
		return errbuf_set(e, -ETIMEDOUT, "connection to portal %s timed out", p->portal);
	case ECONNRESET:
		return errbuf_set(e, -ECONNRESET,
				  "portal %s closed the connection during the login to %s",
				  p->portal, c->iqn);
	case 0:
		return errbuf_set(e, -EIO, "login to %s at %s failed: %s", c->iqn, p->portal,
				  msg ? msg : "unknown error");
	default:
		return errbuf_set(e, -err, "connection to portal %s failed: %s", p->portal,
				  strerror(err));
	}
}

static int find_lun(struct probe *p, unsigned *ret_kernel_lun, struct errbuf *e)
{
	_cleanup_free_ struct be_iscsi_lun *luns = NULL;
	size_t alloc = 16384, n = 0, needed = 0;
	char list[256];

	for (;;) {
		_cleanup_task_ struct scsi_task *t = NULL;
		size_t max;
		int r;

		r = scsi_cmd(p, CMD_REPORT_LUNS, 0, (int)alloc, &t);
		if (r != 0)
			return cmd_error(p, r, t, "REPORT LUNS", e);
		max = t->datain.size > 8 ? ((size_t)t->datain.size - 8) / 8 : 0;
		free(luns);
		luns = calloc(max ? max : 1, sizeof(*luns));
		if (!luns)
			return -ENOMEM;
		r = be_iscsi_report_luns_parse(t->datain.data, (size_t)t->datain.size, luns, max,
					       &n, &needed);
		if (r < 0)
			return errbuf_set(e, -EPROTO, "%s at %s sent a malformed REPORT LUNS reply",
					  p->cfg->iqn, p->portal);
		if (needed <= alloc || alloc >= REPORT_LUNS_MAX)
			break;
		alloc = needed > REPORT_LUNS_MAX ? REPORT_LUNS_MAX : needed;
	}
	for (size_t i = 0; i < n; i++)
		if (luns[i].number == p->cfg->lun) {
			*ret_kernel_lun = luns[i].kernel_lun;
			return 0;
		}
	be_iscsi_format_luns(luns, n, list, sizeof(list));
	return errbuf_set(e, -ENXIO, "LUN %u not found on %s at %s; target reports LUNs %s",
			  p->cfg->lun, p->cfg->iqn, p->portal, list);
}

static int check_disk(struct probe *p, unsigned kernel_lun, struct errbuf *e)
{
	_cleanup_task_ struct scsi_task *t = NULL;
	const uint8_t *d;
	int r;

	r = scsi_cmd(p, CMD_INQUIRY, (int)kernel_lun, 96, &t);
	if (r != 0)
		return cmd_error(p, r, t, "INQUIRY", e);
	if (t->datain.size < 1)
		return errbuf_set(e, -EPROTO, "%s at %s: empty INQUIRY reply for LUN %u",
				  p->cfg->iqn, p->portal, p->cfg->lun);
	d = t->datain.data;
	if (d[0] >> 5)
		return errbuf_set(e, -ENXIO,
				  "LUN %u on %s at %s has no device behind it right now "
				  "(peripheral qualifier %u)",
				  p->cfg->lun, p->cfg->iqn, p->portal, d[0] >> 5);
	if ((d[0] & 0x1f) != 0)
		return errbuf_set(
		    e, -EMEDIUMTYPE,
		    "LUN %u on %s is not a disk (SCSI device type 0x%02x); check 'lun'",
		    p->cfg->lun, p->cfg->iqn, d[0] & 0x1f);
	return 0;
}

static int read_size(struct probe *p, unsigned kernel_lun, uint64_t *ret, struct errbuf *e)
{
	_cleanup_task_ struct scsi_task *t16 = NULL;
	_cleanup_task_ struct scsi_task *t10 = NULL;
	int r;

	r = scsi_cmd(p, CMD_READCAP16, (int)kernel_lun, 0, &t16);
	if (r == 0 && be_iscsi_readcap16_size(t16->datain.data, (size_t)t16->datain.size, ret) == 0)
		return 0;
	if (r < 0)
		return cmd_error(p, r, t16, "READ CAPACITY(16)", e);
	/* Old targets reject the SERVICE ACTION IN form; READ CAPACITY(10) covers < 2 TiB. */
	r = scsi_cmd(p, CMD_READCAP10, (int)kernel_lun, 0, &t10);
	if (r != 0)
		return cmd_error(p, r, t10, "READ CAPACITY", e);
	if (be_iscsi_readcap10_size(t10->datain.data, (size_t)t10->datain.size, ret) < 0)
		return errbuf_set(e, -EPROTO, "%s at %s: malformed READ CAPACITY reply for LUN %u",
				  p->cfg->iqn, p->portal, p->cfg->lun);
	return 0;
}

static int read_wwid(struct probe *p, unsigned kernel_lun, char *buf, size_t n, struct errbuf *e)
{
	int alloc = 255;

	for (int round = 0; round < 2; round++) {
		_cleanup_task_ struct scsi_task *t = NULL;
		size_t want;
		int r;

		r = scsi_cmd(p, CMD_VPD, (int)kernel_lun, alloc, &t);
		if (r > 0) {
			buf[0] = 0; /* no VPD 0x83: no identity, like the kernel's empty wwid */
			return 0;
		}
		if (r < 0)
			return cmd_error(p, r, t, "INQUIRY VPD 0x83", e);
		if (t->datain.size < 4)
			break;
		want = 4 + ((size_t)t->datain.data[2] << 8 | t->datain.data[3]);
		if (want > (size_t)t->datain.size && round == 0 && want <= 4096) {
			alloc = (int)want;
			continue;
		}
		r = be_iscsi_vpd83_wwid(t->datain.data, (size_t)t->datain.size, buf, n);
		if (r == -ENODATA) {
			buf[0] = 0;
			return 0;
		}
		if (r < 0)
			break;
		return 0;
	}
	return errbuf_set(e, -EPROTO, "%s at %s: malformed VPD page 0x83 for LUN %u", p->cfg->iqn,
			  p->portal, p->cfg->lun);
}

static void probe_teardown(struct probe *p)
{
	if (!p->iscsi)
		return;
	if (iscsi_is_logged_in(p->iscsi)) {
		int64_t d = now_ms() + LOGOUT_BUDGET_MS;

		/* Polite logout, bounded: the target frees the nexus at once instead of when
		 * it notices the dead connection. Failure changes nothing. */
		if (d > p->deadline)
			d = p->deadline + LOGOUT_BUDGET_MS / 4;
		p->op = (struct op){0};
		if (iscsi_logout_async(p->iscsi, op_cb, &p->op) == 0)
			(void)wait_op(p, d);
	}
	/* Known libiscsi 1.19 leak: a connect or login abandoned at our deadline leaves its
	 * 24-byte connect_task behind (only the completion callback frees it). */
	iscsi_destroy_context(p->iscsi);
	p->iscsi = NULL;
	if (p->pending)
		scsi_free_scsi_task(p->pending);
	p->pending = NULL;
}

/* One portal. 0 and *ret on success; a negative errno with e set otherwise. */
static int probe_portal(struct probe *p, struct backend_identity *ret, unsigned *ret_kernel_lun,
			struct errbuf *e)
{
	const struct be_iscsi_cfg *c = p->cfg;
	struct backend_identity id = {0};
	unsigned klun = 0;
	int r, fd;

	p->iscsi = iscsi_create_context(p->initiator);
	if (!p->iscsi)
		return errbuf_set(e, -ENOMEM, "cannot create an iSCSI context (out of memory?)");
	if (iscsi_set_targetname(p->iscsi, c->iqn) < 0 ||
	    iscsi_set_session_type(p->iscsi, ISCSI_SESSION_NORMAL) < 0 ||
	    iscsi_set_header_digest(p->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C) < 0)
		return errbuf_set(e, -EINVAL, "cannot set up an iSCSI context for %s: %s", c->iqn,
				  iscsi_get_error(p->iscsi));
	/* Auto-reconnect retries forever by default; a probe must fail instead. */
	iscsi_set_noautoreconnect(p->iscsi, 1);
	if (c->chap_user[0] &&
	    iscsi_set_initiator_username_pwd(p->iscsi, c->chap_user, c->chap_secret) < 0)
		return errbuf_set(e, -EINVAL, "cannot set the CHAP credentials for %s", c->iqn);

	p->op = (struct op){0};
	/* lun -1: connect and log in without libiscsi's TEST UNIT READY on some LUN. */
	r = iscsi_full_connect_async(p->iscsi, p->portal, -1, op_cb, &p->op);
	if (r < 0)
		return login_error(p, -EIO, e);
	/* libiscsi 1.19 opens its socket without SOCK_CLOEXEC; helpers other threads spawn
	 * (iscsiadm, mkfs) must not inherit it. */
	fd = iscsi_get_fd(p->iscsi);
	if (fd >= 0)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	r = wait_op(p, p->deadline);
	if (r < 0 || p->op.status != SCSI_STATUS_GOOD)
		return login_error(p, r < 0 ? r : -EIO, e);

	r = find_lun(p, &klun, e);
	if (r < 0)
		return r;
	r = check_disk(p, klun, e);
	if (r < 0)
		return r;
	r = read_size(p, klun, &id.size_bytes, e);
	if (r < 0)
		return r;
	r = read_wwid(p, klun, id.wwid, sizeof(id.wwid), e);
	if (r < 0)
		return r;
	if (c->wwid[0] && !streq(c->wwid, id.wwid))
		return errbuf_set(
		    e, -EMEDIUMTYPE,
		    "LUN %u on %s at %s has WWID %s, not the %s this volume was created "
		    "with: the LUN number may have been reused; check 'lun' and 'wwid'",
		    c->lun, c->iqn, p->portal, id.wwid[0] ? id.wwid : "(none)", c->wwid);
	*ret = id;
	*ret_kernel_lun = klun;
	return 0;
}

int be_iscsi_initiator_name_parse(const char *text, char *buf, size_t n)
{
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *l = line;

		while (len && (*l == ' ' || *l == '\t'))
			l++, len--;
		if (len > 14 && strncmp(l, "InitiatorName=", 14) == 0) {
			const char *v = l + 14;
			size_t vl = len - 14;

			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
				vl--;
			if (vl == 0)
				return -ENOENT;
			if (vl >= n)
				return -ENOBUFS;
			memcpy(buf, v, vl);
			buf[vl] = 0;
			return 0;
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

int be_iscsi_initiator_name(const struct backend_ctx *ctx, char *buf, size_t n, struct errbuf *e)
{
	static const char file[] = "/etc/iscsi/initiatorname.iscsi";
	_cleanup_free_ char *text = NULL;
	char path[4096];
	int r;

	if (ctx->host && ctx->host->iscsi_initiator_name[0]) {
		if (strlen(ctx->host->iscsi_initiator_name) >= n)
			return errbuf_set(e, -ENOBUFS, "iscsi.initiator_name is too long");
		snprintf(buf, n, "%s", ctx->host->iscsi_initiator_name);
		return 0;
	}
	if (!sys_path(path, sizeof(path), ctx->sys->etc_root, file))
		return errbuf_set(e, -ENAMETOOLONG, "path of %s too long", file);
	r = ctx->sys->ops->read_file(ctx->sys, path, &text, 64 * 1024);
	if (r < 0)
		return errbuf_set(
		    e, r,
		    "cannot read this host's iSCSI initiator name from %s (%s): install "
		    "open-iscsi or set iscsi.initiator_name in the agent config",
		    file, strerror(-r));
	r = be_iscsi_initiator_name_parse(text, buf, n);
	if (r < 0)
		return errbuf_set(e, -ENOENT,
				  "%s has no InitiatorName= line: create one (iscsi-iname) or set "
				  "iscsi.initiator_name in the agent config",
				  file);
	return 0;
}

static int is_decisive(int r)
{
	/* The portal answered: another portal of the same target would say the same. */
	return r == -ENOENT || r == -ENXIO || r == -EACCES || r == -EMEDIUMTYPE || r == -EPROTO;
}

int be_iscsi_probe(const struct backend_ctx *ctx, struct backend_attachment *a,
		   struct backend_identity *ret, struct errbuf *e)
{
	const struct be_iscsi_cfg *c = a->cfg;
	char initiator[BE_ISCSI_NAME_MAX + 2], all[ERRBUF_MAX] = "";
	int64_t start = now_ms();
	int64_t end = start + (ctx->timeout_ms > 0 ? ctx->timeout_ms : DEFAULT_TIMEOUT_MS);
	int first_r = 0, r;

	/* Before an attach, our logged-in session proves what a login would (preflight.c):
	 * connect checks the LUN by its scan, identify reads the identity from sysfs. */
	if (ctx->preflight && be_iscsi_session_proves(ctx, c, be_iscsi_kernel_lun(c->lun))) {
		if (!a->objs && !(a->objs = json_object()))
			return errbuf_set(e, -ENOMEM, "out of memory");
		/* What a probe records, learnt afresh by connect: an earlier attach's WWID
		 * may be another LU's by now (find_device records the one the scan reads). */
		json_object_del(a->objs, "wwid");
		json_object_set_new(a->objs, "scsi_lun", json_integer(be_iscsi_kernel_lun(c->lun)));
		json_object_set_new(a->objs, BE_ISCSI_OBJS_PREFLIGHT, json_string("session"));
		*ret = (struct backend_identity){0};
		return 0;
	}

	r = be_iscsi_initiator_name(ctx, initiator, sizeof(initiator), e);
	if (r < 0)
		return r;

	for (unsigned i = 0; i < c->n_paths; i++) {
		char portal[BE_ISCSI_PORTAL_STR_MAX];
		struct errbuf pe = {""};
		struct backend_identity id;
		struct be_iscsi_cfg pc;
		struct probe p = {.cfg = &pc, .portal = portal, .initiator = initiator};
		unsigned klun = 0;
		int64_t left = end - now_ms();

		if (be_iscsi_portal_format(&c->paths[i].portal, portal, sizeof(portal)) < 0)
			continue;
		/* With 'targets' each path has its own target name. */
		be_iscsi_cfg_for_path(c, i, &pc);
		/* Share what is left fairly, so one black-holed portal cannot eat the budget
		 * of the ones after it. */
		p.deadline = now_ms() + (left > 0 ? left / (int64_t)(c->n_paths - i) : 0);
		r = probe_portal(&p, &id, &klun, &pe);
		probe_teardown(&p);
		explicit_bzero(pc.chap_secret, sizeof(pc.chap_secret));
		if (r == 0) {
			if (a->objs || (a->objs = json_object())) {
				/* The L of H:C:T:L as this target encodes the LUN, for connect. */
				json_object_set_new(a->objs, "scsi_lun", json_integer(klun));
				/* The LU's identity, which a detach demands of the kernel's
				 * device before deleting it (recorded before connect makes it). */
				if (id.wwid[0])
					json_object_set_new(a->objs, "wwid", json_string(id.wwid));
			}
			*ret = id;
			return 0;
		}
		if (is_decisive(r))
			return errbuf_set(e, r, "%s", pe.msg);
		if (!first_r)
			first_r = r;
		snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s%s", all[0] ? "; " : "",
			 pe.msg);
	}
	if (c->n_paths == 1)
		return errbuf_set(e, first_r ? first_r : -EIO, "%s", all);
	return errbuf_set(e, first_r ? first_r : -EIO, "no portal of %s answered: %s", c->iqn, all);
}
