/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iscsi backend connect / find_device / identify / disconnect against a fake kernel: a
 * copy of the fixture tree (tests/fixtures/iscsi/sysfs) that a fake sys_ops.write_file
 * (scan, delete) and a fake sys_ops.run (iscsiadm: node DB, login, logout) change the way
 * the kernel and open-iscsi would, through tests/fixtures/iscsi/fake-kernel.sh. Asserts
 * the exact iscsiadm calls and sysfs writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/iscsi/internal.h"
#include "lib/macro.h"

#define SECRET "Sup3r-S3cret!"
#define T1 "iqn.2003-01.org.example:t1"
#define T2 "iqn.2003-01.org.example:t2"
#define T9 "iqn.2003-01.org.example:t9"

static char srcdir[PATH_MAX];
static char fixture[PATH_MAX];

/* Tests run from the repository root; SRCDIR points elsewhere when they do not. */
static int find_srcdir(void)
{
	const char *s = getenv("SRCDIR");

	snprintf(srcdir, sizeof(srcdir), "%s", s && *s ? s : ".");
	snprintf(fixture, sizeof(fixture), "%s/tests/fixtures/iscsi/sysfs", srcdir);
	if (access(fixture, F_OK) == 0)
		return 0;
	fprintf(stderr, "fixture %s missing: run from the repository root or set SRCDIR\n",
		fixture);
	return -1;
}

/* ---------------------------------------------------------------- the fake kernel */

struct fsession {
	char iqn[224], addr[64];
	unsigned port, host, sid;
	char iface[32]; /* the node record's iface it was logged in with */
};

struct fake {
	char root[PATH_MAX];
	struct sys sys;
	struct backend_host_config host;
	struct backend_ctx ctx;
	char calls[32768];	       /* iscsiadm argv[1..], one call per line */
	char writes[4096];	       /* sysfs writes "path=data" relative to the root */
	unsigned iface_made;	       /* -m iface -o new calls */
	unsigned udev_reloads;	       /* udevadm control --reload calls (udevrule.c) */
	unsigned iscsiadm_before_udev; /* iscsiadm calls made before the first reload */
	/* The fakes run under the backend's locks: they must not longjmp out of it (cmocka's
	 * assert_* would leave a mutex held and hang the next test). Problems go here and the
	 * teardown fails the test. */
	char bug[1024];
	struct fsession sess[16];
	unsigned n_sess, next_host, next_sid;
	char next_disk;
	unsigned luns[8], n_luns;	/* LUNs the fake target has */
	unsigned noblock[8], n_noblock; /* ... whose disk the kernel never registers */
	int nondisk;			/* a LUN that is no disk (type 0x0c, no block), -1 none */
	char wwid[128];
	/* LUNs behind this target show another LU's WWID ("" = none) */
	char other_iqn[224], other_wwid[128];
	/* injected behaviour */
	int run_errno;
	int login_exit, logout_exit;
	char login_fail_portal[64];	     /* login_exit only for this portal ("" = all) */
	char chap_user[64], chap_secret[64]; /* the target demands these ("" = no CHAP) */
};

static void fake_bug(struct fake *f, const char *fmt, ...) _printf_(2, 3);
static void fake_bug(struct fake *f, const char *fmt, ...)
{
	size_t l = strlen(f->bug);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->bug + l, sizeof(f->bug) - l, fmt, ap);
	va_end(ap);
	l = strlen(f->bug);
	snprintf(f->bug + l, sizeof(f->bug) - l, "\n");
}
#define FAKE_CHECK(f, cond)                                                                        \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fake_bug(f, "%s:%d: %s", __FILE__, __LINE__, #cond);                       \
	} while (0)

static void sh(struct fake *f, const char *fmt, ...) _printf_(2, 3);
static void sh(struct fake *f, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/iscsi/fake-kernel.sh '%s' %s", srcdir,
		 f->root, args);
	if (system(cmd) != 0)
		fake_bug(f, "fake kernel failed: %s", cmd);
}

static void split_portal(const char *portal, char *addr, size_t n, unsigned *port)
{
	const char *colon = strrchr(portal, ':');

	if (portal[0] == '[')
		snprintf(addr, n, "%.*s", (int)(strchr(portal, ']') - portal - 1), portal + 1);
	else
		snprintf(addr, n, "%.*s", (int)(colon - portal), portal);
	*port = (unsigned)atoi(colon + 1);
}

static struct fsession *fsession_find(struct fake *f, const char *iqn, const char *addr,
				      unsigned port)
{
	for (unsigned i = 0; i < f->n_sess; i++)
		if (streq(f->sess[i].iqn, iqn) && streq(f->sess[i].addr, addr) &&
		    f->sess[i].port == port)
			return &f->sess[i];
	return NULL;
}

/* The session iscsiadm --logout of record (iqn, portal, iface) would end. */
static struct fsession *fsession_of_record(struct fake *f, const char *iqn, const char *addr,
					   unsigned port, const char *iface)
{
	for (unsigned i = 0; i < f->n_sess; i++)
		if (streq(f->sess[i].iqn, iqn) && streq(f->sess[i].addr, addr) &&
		    f->sess[i].port == port && streq(f->sess[i].iface, iface))
			return &f->sess[i];
	return NULL;
}

static const char *arg_after(char *const argv[], const char *flag)
{
	for (size_t i = 0; argv[i]; i++)
		if (streq(argv[i], flag) && argv[i + 1])
			return argv[i + 1];
	return NULL;
}

static int has_arg(char *const argv[], const char *flag)
{
	for (size_t i = 0; argv[i]; i++)
		if (streq(argv[i], flag))
			return 1;
	return 0;
}

/* "addr,port,tpgt/iface" (what iscsiadm 2.1.8 makes with a TPGT) under the fake root. */
static void record_path(struct fake *f, const char *iqn, const char *addr, unsigned port, int tpgt,
			const char *iface, char *buf, size_t n)
{
	snprintf(buf, n, "%s/etc/iscsi/nodes/%s/%s,%u,%d/%s", f->root, iqn, addr, port, tpgt,
		 iface);
}

static void record_write(struct fake *f, const char *iqn, const char *addr, unsigned port, int tpgt,
			 const char *iface)
{
	char path[PATH_MAX * 2], cmd[PATH_MAX * 3];
	FILE *fp;

	record_path(f, iqn, addr, port, tpgt, iface, path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	if (system(cmd) != 0) {
		fake_bug(f, "%s failed", cmd);
		return;
	}
	fp = fopen(path, "we");
	if (!fp) {
		fake_bug(f, "cannot write %s", path);
		return;
	}
	fprintf(fp,
		"# BEGIN RECORD 2.1.8\nnode.name = %s\nnode.tpgt = %d\nnode.startup = manual\n"
		"iface.iscsi_ifacename = %s\nnode.session.auth.authmethod = None\n"
		"node.session.auth.chap_algs = MD5\nnode.conn[0].address = %s\n"
		"node.conn[0].port = %u\n# END RECORD\n",
		iqn, tpgt, iface, addr, port);
	fclose(fp);
	chmod(path, 0600);
}

/* A record somebody made (an admin's on iface default, an earlier attachd's). */
static void add_node(struct fake *f, const char *iqn, const char *portal, const char *iface)
{
	char addr[64];
	unsigned port;

	split_portal(portal, addr, sizeof(addr), &port);
	record_write(f, iqn, addr, port, BE_ISCSI_RECORD_TPGT, iface);
}

/* Node record files in the fake node DB, any iface. */
static unsigned n_records(struct fake *f)
{
	char cmd[PATH_MAX + 128];
	unsigned n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "find '%s/etc/iscsi/nodes' -type f 2>/dev/null | wc -l",
		 f->root);
	p = popen(cmd, "r");
	if (!p || fscanf(p, "%u", &n) != 1)
		fake_bug(f, "cannot count node records");
	if (p)
		pclose(p);
	return n;
}

static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *text;
	long len;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = calloc(1, (size_t)len + 1);
	if (fread(text, 1, (size_t)len, fp) != (size_t)len)
		text[0] = 0;
	fclose(fp);
	return text;
}

/* What iscsiadm -m node -T -p -I reads: the record (iqn, addr:port, iface) with a tag, and
 * the iface's own file. 0 when both are there (the record must be one attachd can use:
 * manual startup and scan, when on a non-default iface), 21 no record, 3 no iface. */
static int record_status(struct fake *f, const char *iqn, const char *addr, unsigned port,
			 const char *iface)
{
	char path[PATH_MAX * 2], v[256];
	char *text;

	if (!streq(iface, "default")) {
		snprintf(path, sizeof(path), "%s/etc/iscsi/ifaces/%s", f->root, iface);
		if (access(path, F_OK) < 0)
			return 3;
	}
	record_path(f, iqn, addr, port, BE_ISCSI_RECORD_TPGT, iface, path, sizeof(path));
	text = read_text(path);
	if (!text)
		return 21;
	if (!streq(iface, "default")) {
		FAKE_CHECK(f, be_iscsi_noderec_get(text, "node.startup", v, sizeof(v)) == 0 &&
				  streq(v, "manual"));
		FAKE_CHECK(f, be_iscsi_noderec_get(text, "node.session.scan", v, sizeof(v)) == 0 &&
				  streq(v, "manual"));
		FAKE_CHECK(f, be_iscsi_noderec_get(text, "node.name", v, sizeof(v)) == 0 &&
				  streq(v, iqn));
	}
	free(text);
	return 0;
}

/* What iscsiadm --login would hand iscsid: the record file's auth settings. */
static int record_auth(struct fake *f, const char *iqn, const char *addr, unsigned port,
		       const char *iface, char *user, char *secret, size_t n)
{
	char path[PATH_MAX * 2];
	char *text = NULL;
	int r;

	record_path(f, iqn, addr, port, BE_ISCSI_RECORD_TPGT, iface, path, sizeof(path));
	{
		FILE *fp = fopen(path, "re");
		long len;

		if (!fp)
			return -ENOENT;
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		text = calloc(1, (size_t)len + 1);
		if (fread(text, 1, (size_t)len, fp) != (size_t)len)
			len = 0;
		fclose(fp);
	}
	user[0] = secret[0] = 0;
	r = be_iscsi_noderec_get(text, "node.session.auth.username", user, n);
	if (r == 0)
		r = be_iscsi_noderec_get(text, "node.session.auth.password", secret, n);
	free(text);
	return r;
}

static void iface_write(struct fake *f, const char *iface, const char *iname)
{
	char path[PATH_MAX * 2];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/etc/iscsi/ifaces", f->root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/etc/iscsi/ifaces/%s", f->root, iface);
	fp = fopen(path, "we");
	if (!fp) {
		fake_bug(f, "cannot write %s", path);
		return;
	}
	fprintf(fp,
		"# BEGIN RECORD 2.1.8\niface.iscsi_ifacename = %s\niface.transport_name = tcp\n"
		"iface.initiatorname = %s\niface.net_ifacename = <empty>\n# END RECORD\n",
		iface, iname && *iname ? iname : "<empty>");
	fclose(fp);
}

static void sysfs_put(struct fake *f, const char *path, const char *value)
{
	FILE *fp = fopen(path, "we");

	if (!fp) {
		fake_bug(f, "cannot write %s", path);
		return;
	}
	fprintf(fp, "%s\n", value);
	fclose(fp);
}

/* What iscsid hands the kernel at login, shown in the session's username and password
 * attributes: the record's CHAP credentials, "(null)" when it has none. */
static void session_auth_write(struct fake *f, unsigned sid, const char *iqn, const char *addr,
			       unsigned port, const char *iface)
{
	char user[300], secret[300], path[PATH_MAX + 128], method[32] = "";
	char rp[PATH_MAX * 2], *text;

	record_path(f, iqn, addr, port, BE_ISCSI_RECORD_TPGT, iface, rp, sizeof(rp));
	text = read_text(rp);
	if (text)
		(void)be_iscsi_noderec_get(text, "node.session.auth.authmethod", method,
					   sizeof(method));
	free(text);
	if (!streq(method, "CHAP") ||
	    record_auth(f, iqn, addr, port, iface, user, secret, sizeof(user)) < 0)
		snprintf(user, sizeof(user), "(null)"), snprintf(secret, sizeof(secret), "(null)");
	snprintf(path, sizeof(path), "%s/sys/class/iscsi_session/session%u/username", f->root, sid);
	sysfs_put(f, path, user);
	snprintf(path, sizeof(path), "%s/sys/class/iscsi_session/session%u/password", f->root, sid);
	sysfs_put(f, path, secret);
}

static int fake_run(const struct sys *s, char *const argv[], int timeout_ms,
		    struct sys_run_result *ret)
{
	struct fake *f = s->userdata;
	const char *iqn = arg_after(argv, "-T"), *portal = arg_after(argv, "-p");
	const char *op = arg_after(argv, "-o"), *name = arg_after(argv, "-n");
	const char *iface = arg_after(argv, "-I") ? arg_after(argv, "-I") : "default";
	char addr[64], out[256] = "";
	unsigned port = 0;
	int st = 0, rec;

	FAKE_CHECK(f, timeout_ms > 0);
	if (streq(argv[0], "udevadm")) {
		FAKE_CHECK(f, streq(argv[1], "control") && streq(argv[2], "--reload") && !argv[3]);
		f->udev_reloads++;
		ret->status = 0;
		ret->out = strdup("");
		return 0;
	}
	FAKE_CHECK(f, streq(argv[0], "iscsiadm"));
	if (!f->udev_reloads)
		f->iscsiadm_before_udev++;
	for (size_t i = 1; argv[i]; i++) {
		/* the CHAP secret never reaches a child's argv */
		if (strstr(argv[i], SECRET) || strstr(argv[i], "Wr0ng-S3cret"))
			fake_bug(f, "a CHAP secret in iscsiadm's argv: %s", argv[i]);
		strcat(f->calls, argv[i]);
		strcat(f->calls, argv[i + 1] ? " " : "\n");
	}
	if (f->run_errno)
		return f->run_errno;
	if (streq(arg_after(argv, "-m"), "iface")) {
		FAKE_CHECK(f, streq(iface, be_iscsi_iface(&f->ctx)));
		FAKE_CHECK(f, streq(op, "new") ||
				  (streq(op, "update") && streq(name, "iface.initiatorname")));
		FAKE_CHECK(f, streq(op, "new") || f->iface_made > 0);
		f->iface_made++;
		iface_write(f, iface, streq(op, "new") ? NULL : arg_after(argv, "-v"));
		ret->status = 0;
		ret->out = strdup("New interface attachd added\n");
		return 0;
	}
	if (!iqn || !portal) {
		fake_bug(f, "iscsiadm call without -T/-p");
		return -EINVAL;
	}
	/* node mode: only the login and the logout are iscsiadm's (the records are attachd's
	 * own files) */
	if (op || (!has_arg(argv, "--login") && !has_arg(argv, "--logout")))
		fake_bug(f, "an iscsiadm node call other than --login/--logout");
	split_portal(portal, addr, sizeof(addr), &port);
	rec = record_status(f, iqn, addr, port, iface);
	if (rec == 3) {
		/* what iscsiadm 2.1.8 does: "Could not read iface info" */
		ret->status = 3;
		ret->out = strdup("iscsiadm: Could not read iface info for attachd.\n");
		return 0;
	}

	if (has_arg(argv, "--login")) {
		/* iscsiadm matches sessions by record: target, portal and iface */
		struct fsession *x = fsession_of_record(f, iqn, addr, port, iface);
		char user[300], secret[300];

		if (rec != 0) {
			st = 21;
		} else if (f->chap_user[0] &&
			   (record_auth(f, iqn, addr, port, iface, user, secret, sizeof(user)) <
				0 ||
			    !streq(user, f->chap_user) || !streq(secret, f->chap_secret))) {
			st = 24;
		} else if (f->login_exit && f->login_exit != 15 &&
			   (!f->login_fail_portal[0] || streq(f->login_fail_portal, portal))) {
			st = f->login_exit;
			snprintf(out, sizeof(out),
				 "iscsiadm: Could not login to [iface: default, "
				 "target: %s, portal: %s].\n",
				 iqn, portal);
		} else if (x || f->login_exit == 15) {
			st = 15;
		}
		if (!x && (st == 0 || st == 15)) {
			x = &f->sess[f->n_sess++];
			snprintf(x->iqn, sizeof(x->iqn), "%s", iqn);
			snprintf(x->addr, sizeof(x->addr), "%s", addr);
			x->port = port;
			x->host = f->next_host++;
			x->sid = f->next_sid++;
			snprintf(x->iface, sizeof(x->iface), "%s", iface);
			sh(f, "host %u", x->host);
			sh(f, "session %u %u 0 %s %s %u %s", x->host, x->sid, iqn, addr, port,
			   iface);
			session_auth_write(f, x->sid, iqn, addr, port, iface);
		}
	} else if (has_arg(argv, "--logout")) {
		/* iscsiadm ends the sessions that match the arguments, record or not */
		struct fsession *x = fsession_of_record(f, iqn, addr, port, iface);

		if (f->logout_exit) {
			st = f->logout_exit;
		} else if (!x) {
			st = 21;
		} else {
			sh(f, "rmsession %u %u", x->host, x->sid);
			*x = f->sess[--f->n_sess];
		}
	}
	ret->status = st;
	ret->out = strdup(out);
	return 0;
}

static int fake_write(const struct sys *s, const char *path, const char *data)
{
	struct fake *f = s->userdata;
	const char *rel = path + strlen(f->root);
	char hctl[64];
	unsigned h, c, t, l;

	if (!startswith(path, f->root)) {
		fake_bug(f, "write outside the fake root: %s", path);
		return -EINVAL;
	}
	snprintf(f->writes + strlen(f->writes), sizeof(f->writes) - strlen(f->writes), "%s=%s\n",
		 rel, data);
	if (access(path, F_OK) < 0)
		return -ENOENT;
	if (sscanf(rel, "/sys/class/scsi_host/host%u/scan", &h) == 1) {
		const struct fsession *x = NULL;

		if (sscanf(data, "%u %u %u", &c, &t, &l) != 3) {
			fake_bug(f, "bad scan string '%s'", data);
			return -EINVAL;
		}
		for (unsigned i = 0; i < f->n_sess; i++)
			if (f->sess[i].host == h)
				x = &f->sess[i];
		if (!x) {
			fake_bug(f, "scan of host%u, which has no session", h);
			return -EINVAL;
		}
		for (unsigned i = 0; i < f->n_luns; i++)
			if (f->luns[i] == l) {
				char disk = f->next_disk++;

				sh(f, "device %u %u %u sd%c 8:%d 2048 '%s'", h, x->sid, l, disk,
				   (disk - 'a') * 16,
				   streq(x->iqn, f->other_iqn) ? f->other_wwid : f->wwid);
			}
		for (unsigned i = 0; i < f->n_noblock; i++)
			if (f->noblock[i] == l)
				sh(f, "device %u %u %u", h, x->sid, l);
		if (f->nondisk >= 0 && (unsigned)f->nondisk == l) {
			char tp[PATH_MAX + 128];

			sh(f, "device %u %u %u", h, x->sid, l);
			snprintf(tp, sizeof(tp), "%s/sys/class/scsi_device/%u:0:0:%u/device/type",
				 f->root, h, l);
			sysfs_put(f, tp, "12");
		}
		return 0;
	}
	if (sscanf(rel, "/sys/class/iscsi_session/session%u/device/target%*[0-9:]/%63[0-9:]/delete",
		   &h, hctl) == 2) {
		FAKE_CHECK(f, streq(data, "1"));
		sh(f, "rmdevice %s", hctl);
		return 0;
	}
	fake_bug(f, "unexpected sysfs write %s", rel);
	return -EIO;
}

static const struct sys_ops *fake_ops(void)
{
	static struct sys_ops ops;

	ops = sys_real_ops;
	ops.run = fake_run;
	ops.write_file = fake_write;
	return &ops;
}

static int fake_setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	char cmd[PATH_MAX * 3];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/attachd-iscsi-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(cmd, sizeof(cmd), "cp -a '%s'/. '%s'", fixture, f->root);
	assert_int_equal(system(cmd), 0);
	sys_init_real(&f->sys);
	f->sys.sysfs_root = f->root;
	f->sys.etc_root = f->root;
	f->sys.dev_root = "/fakedev";
	f->sys.ops = fake_ops();
	f->sys.userdata = f;
	f->ctx = (struct backend_ctx){.sys = &f->sys, .host = &f->host, .timeout_ms = 30000};
	/* what the fixture holds */
	f->sess[0] = (struct fsession){T1, "10.0.0.5", 3260, 2, 1, "default"};
	f->sess[1] = (struct fsession){T2, "fd00::5", 3260, 3, 4, "default"};
	f->sess[2] = (struct fsession){T1, "10.0.0.6", 3260, 5, 7, "attachd"};
	f->n_sess = 3;
	f->next_host = 10;
	f->next_sid = 20;
	f->next_disk = 'd';
	f->nondisk = -1;
	snprintf(f->wwid, sizeof(f->wwid), "naa.60014059999999999999999999999999");
	*state = f;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake *f = *state;
	char cmd[PATH_MAX + 16];
	int bad = f->bug[0] != 0;

	if (bad)
		print_error("fake kernel/iscsiadm saw a problem:\n%s", f->bug);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->root);
	free(f);
	return bad ? -1 : 0;
}

static struct be_iscsi_cfg *cfg_new(const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	struct errlist el = {.len = 0};
	void *cfg = NULL;

	assert_non_null(j);
	if (be_iscsi_parse(j, &cfg, &el) < 0)
		fail_msg("bad test options: %s", el.msg);
	json_decref(j);
	return cfg;
}

static void att_init(struct backend_attachment *a, const char *json)
{
	*a = (struct backend_attachment){
	    .ops = &be_iscsi_ops, .cfg = cfg_new(json), .objs = json_object()};
}

static void att_done(struct backend_attachment *a)
{
	be_iscsi_free_cfg(a->cfg);
	json_decref(a->objs);
}

static json_t *path0(struct backend_attachment *a)
{
	return json_array_get(json_object_get(a->objs, "paths"), 0);
}

static size_t n_paths(struct backend_attachment *a)
{
	return json_array_size(json_object_get(a->objs, "paths"));
}

static void assert_path(json_t *p, const char *portal, const char *iqn, int session, int host,
			const char *hctl, int node_created, int session_created)
{
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "portal")), portal);
	assert_string_equal(json_string_value(json_object_get(p, "iqn")), iqn);
	if (session < 0)
		assert_true(json_is_null(json_object_get(p, "session")));
	else
		assert_int_equal(json_integer_value(json_object_get(p, "session")), session);
	if (host < 0)
		assert_true(json_is_null(json_object_get(p, "host")));
	else
		assert_int_equal(json_integer_value(json_object_get(p, "host")), host);
	if (hctl)
		assert_string_equal(json_string_value(json_object_get(p, "hctl")), hctl);
	else
		assert_true(json_is_null(json_object_get(p, "hctl")));
	assert_int_equal(json_is_true(json_object_get(p, "node_created")), node_created);
	assert_int_equal(json_is_true(json_object_get(p, "session_created")), session_created);
}

#define NODE(iqn, p) "-m node -T " iqn " -p " p " -I attachd"
#define IFACE "-m iface -I attachd -o new\n"
#define DELETE_WRITE(sid, h, l)                                                                    \
	"/sys/class/iscsi_session/session" #sid "/device/target" #h ":0:0/" #h ":0:0:" #l          \
	"/delete=1\n"
#define WWID_T10 "t10.IET     VIRTUAL-DISK    beaf11"
#define WWID_SDB "naa.6001405abcdef0123456789abcdef012"

/* What the probe records before connect: the LU's WWID. */
static void probed(struct backend_attachment *a, const char *wwid)
{
	json_object_set_new(a->objs, "wwid", json_string(wwid));
}

static int hctl_exists(struct fake *f, const char *hctl)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/sys/class/scsi_device/%s", f->root, hctl);
	return access(path, F_OK) == 0;
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "re");
	char *buf = calloc(1, 65536);

	assert_non_null(fp);
	assert_non_null(buf);
	if (fread(buf, 1, 65535, fp) == 0)
		buf[0] = 0;
	fclose(fp);
	return buf;
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* A new target: one iscsiadm run (the login; the iface once per host), then the targeted
 * scan; the WWID seen is recorded; detach is one run (the logout) and undoes all. The node
 * record is written whole by attachd, as `iscsiadm -o new` would make it: iscsid.conf's
 * node.* settings, the iface's, a TPGT, then attachd's own (manual startup and scan,
 * timeouts, CHAP). CHAP goes into the record file (0600), never into argv (the fake fails
 * the test if it sees the secret), and the fake target lets the login in only with the
 * file's credentials. */
static void test_connect_new_session_and_detach(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev;
	struct backend_identity id;
	struct errbuf e = {""};
	char path[PATH_MAX * 2];
	struct stat st;
	char *text;

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":3,"
		     "\"chap_user\":\"alice\",\"chap_secret\":\"" SECRET "\"}");
	f->luns[f->n_luns++] = 3;
	snprintf(f->chap_user, sizeof(f->chap_user), "alice");
	snprintf(f->chap_secret, sizeof(f->chap_secret), SECRET);
	snprintf(path, sizeof(path), "%s/etc/iscsi/iscsid.conf", f->root);
	text = (char *)"# the host's defaults\niscsid.startup = /bin/true\n"
		       "node.startup = automatic\nnode.session.cmds_max = 64\n"
		       "  node.session.auth.authmethod = None\n"
		       "discovery.sendtargets.auth.authmethod = None\n";
	{
		FILE *fp = fopen(path, "we");

		assert_non_null(fp);
		fputs(text, fp);
		fclose(fp);
	}
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		IFACE
		NODE(T9, "10.0.0.9:3260") " --login\n");
	/* clang-format on */
	assert_string_equal(f->writes, "/sys/class/scsi_host/host10/scan=0 0 3\n");
	assert_int_equal(n_paths(&a), 1);
	assert_path(path0(&a), "10.0.0.9:3260", T9, 20, 10, "10:0:0:3", 1, 1);
	assert_int_equal(json_integer_value(json_object_get(a.objs, "scsi_lun")), 3);
	/* the udev rule that keeps multipathd off our disks came first, loaded once */
	assert_int_equal(f->udev_reloads, 1);
	assert_int_equal(f->iscsiadm_before_udev, 0);
	snprintf(path, sizeof(path), "%s/run/udev/rules.d/59-attachd-paths-attachd.rules", f->root);
	text = slurp(path);
	assert_non_null(strstr(text, "ATTRS{iscsi_session/%b/ifacename}==\"attachd\""));
	free(text);

	/* the record file: our iface's own, root-only, the auth settings once each */
	record_path(f, T9, "10.0.0.9", 3260, 1, "attachd", path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = slurp(path);
	/* clang-format off */
	assert_string_equal(text,
		"# BEGIN RECORD attachd\n"
		"node.session.cmds_max = 64\n"
		"iface.transport_name = tcp\n"
		"iface.initiatorname = <empty>\n"
		"iface.net_ifacename = <empty>\n"
		"node.name = " T9 "\n"
		"node.tpgt = 1\n"
		"iface.iscsi_ifacename = attachd\n"
		"node.discovery_type = static\n"
		"node.conn[0].address = 10.0.0.9\n"
		"node.conn[0].port = 3260\n"
		"node.startup = manual\n"
		"node.conn[0].startup = manual\n"
		"node.session.scan = manual\n"
		"node.conn[0].timeo.login_timeout = 10\n"
		"node.session.initial_login_retry_max = 1\n"
		"node.session.timeo.replacement_timeout = 30\n"
		"node.session.auth.authmethod = CHAP\n"
		"node.session.auth.username = alice\n"
		"node.session.auth.password = " SECRET "\n"
		"# END RECORD\n");
	/* clang-format on */
	free(text);
	/* nothing else in the target's directory (no temporary file with the secret) */
	snprintf(path, sizeof(path), "%s/etc/iscsi/nodes/" T9, f->root);
	{
		char cmd[PATH_MAX * 3];

		snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = 10.0.0.9,3260,1", path);
		assert_int_equal(system(cmd), 0);
	}
	record_path(f, T9, "10.0.0.9", 3260, 1, "attachd", path, sizeof(path));

	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), 0);
	assert_string_equal(dev.sysname, "sdd");
	assert_string_equal(dev.devnode, "/fakedev/dev/sdd");
	assert_int_equal(dev.major, 8);
	assert_int_equal(dev.minor, 48);
	assert_string_equal(json_string_value(json_object_get(path0(&a), "wwid")), f->wwid);
	assert_int_equal(be_iscsi_ops.identify(&f->ctx, &a, &dev, &id, &e), 0);
	assert_string_equal(id.wwid, "naa.60014059999999999999999999999999");
	assert_int_equal(id.size_bytes, 2048 * 512);

	f->calls[0] = f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(20, 10, 3));
	/* clang-format off */
	assert_string_equal(f->calls,
		NODE(T9, "10.0.0.9:3260") " --logout\n");
	/* clang-format on */
	assert_int_equal(n_paths(&a), 0);
	assert_int_equal(n_records(f), 0);
	assert_int_equal(access(path, F_OK), -1);
	/* nothing of it left in the node DB, not even its directories */
	snprintf(path, sizeof(path), "%s/etc/iscsi/nodes/" T9, f->root);
	assert_int_equal(access(path, F_OK), -1);
	assert_null(fsession_find(f, T9, "10.0.0.9", 3260));

	/* Idempotent: nothing left, nothing done */
	f->calls[0] = f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->calls, "");
	assert_string_equal(f->writes, "");
	assert_null(strstr(e.msg, SECRET));
	att_done(&a);
}

/* An admin's session to the same target and portal (iface default) is never reused:
 * connect logs in on our iface beside it (two sessions), and the detach deletes only our
 * device, logs out only our session and leaves the admin's session and LUNs alone. */
static void test_admin_session_never_reused(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.5:3260\",\"iqn\":\"" T1 "\",\"lun\":5}");
	f->luns[f->n_luns++] = 5;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		IFACE
		NODE(T1, "10.0.0.5:3260") " --login\n");
	/* clang-format on */
	assert_string_equal(f->writes, "/sys/class/scsi_host/host10/scan=0 0 5\n");
	assert_path(path0(&a), "10.0.0.5:3260", T1, 20, 10, "10:0:0:5", 1, 1);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), 0);
	assert_string_equal(dev.sysname, "sdd");
	assert_int_equal(f->n_sess, 4); /* two sessions to T1 at 10.0.0.5 */

	f->calls[0] = f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(20, 10, 5));
	/* clang-format off */
	assert_string_equal(f->calls,
		NODE(T1, "10.0.0.5:3260") " --logout\n");
	/* clang-format on */
	assert_non_null(fsession_of_record(f, T1, "10.0.0.5", 3260, "default"));
	assert_true(hctl_exists(f, "2:0:0:1"));
	assert_true(hctl_exists(f, "2:0:0:2"));
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);
}

/* Our own session is shared: a second LUN reuses it (no iscsiadm at all), and detaching
 * it while another LUN remains leaves the session and its record. */
static void test_reuse_our_session_other_luns_remain(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":5}");
	f->luns[f->n_luns++] = 5;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->calls, "");
	assert_string_equal(f->writes, "/sys/class/scsi_host/host5/scan=0 0 5\n");
	assert_path(path0(&a), "10.0.0.6:3260", T1, 7, 5, "5:0:0:5", 0, 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), 0);

	f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(7, 5, 5));
	assert_string_equal(f->calls, ""); /* 5:0:0:1 still uses session7 */
	assert_true(hctl_exists(f, "5:0:0:1"));
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);
}

/* A record naming an admin's device (session on iface default), even with that device's
 * own WWID, deletes nothing and logs nothing out: our session for that target and
 * portal does not exist, so neither does our device. Only our (absent) record goes. */
static void test_delete_refused_admin_iface(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.5\",\"iqn\":\"" T1 "\",\"lun\":1}");
	json_decref(a.objs);
	a.objs = json_loads("{\"scsi_lun\":1,\"wwid\":\"" WWID_SDB "\",\"paths\":["
			    "{\"portal\":\"10.0.0.5:3260\",\"iqn\":\"" T1 "\",\"session\":1,"
			    "\"host\":2,\"hctl\":\"2:0:0:1\",\"wwid\":\"" WWID_SDB "\","
			    "\"node_created\":true,\"session_created\":true}]}",
			    0, NULL);
	assert_non_null(a.objs);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_string_equal(f->calls, ""); /* no session of ours, and no process */
	assert_true(hctl_exists(f, "2:0:0:1"));
	assert_non_null(fsession_of_record(f, T1, "10.0.0.5", 3260, "default"));
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);
}

/* On our own session, a device whose WWID is not the recorded one is not deleted (and
 * keeps the session): e says what was left alone. Same for an unknown WWID. */
static void test_delete_refused_wwid_differs(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":1}");
	json_decref(a.objs);
	a.objs = json_loads("{\"scsi_lun\":1,\"paths\":["
			    "{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\",\"session\":7,"
			    "\"host\":5,\"hctl\":\"5:0:0:1\","
			    "\"wwid\":\"naa.600140500000000000000000000000aa\"}]}",
			    0, NULL);
	assert_non_null(a.objs);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_string_equal(f->calls, "");
	assert_true(hctl_exists(f, "5:0:0:1"));
	assert_non_null(strstr(e.msg, "5:0:0:1"));
	assert_non_null(strstr(e.msg, "left in place"));
	assert_non_null(strstr(e.msg, WWID_T10));
	assert_non_null(strstr(e.msg, "naa.600140500000000000000000000000aa"));
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);

	/* nothing recorded about the LU's identity: not provably ours either */
	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":1}");
	json_decref(a.objs);
	a.objs = json_loads("{\"scsi_lun\":1,\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":"
			    "\"" T1 "\",\"hctl\":\"5:0:0:1\"}]}",
			    0, NULL);
	e.msg[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_non_null(strstr(e.msg, "no WWID was recorded"));
	att_done(&a);

	/* the volume's own 'wwid' option counts as recorded: now it is ours */
	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":1,"
		     "\"wwid\":\"t10.IET     VIRTUAL-DISK    beaf11\"}");
	json_decref(a.objs);
	a.objs = json_loads("{\"scsi_lun\":1,\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":"
			    "\"" T1 "\",\"hctl\":\"5:0:0:1\"}]}",
			    0, NULL);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(7, 5, 1));
	/* clang-format off */
	assert_string_equal(f->calls,
		IFACE
		NODE(T1, "10.0.0.6:3260") " --logout\n");
	/* clang-format on */
	assert_null(fsession_find(f, T1, "10.0.0.6", 3260));
	att_done(&a);
}

/* A record whose target is not the one of the session that hctl names: nothing of it
 * is ours (we have no session for that target), nothing is deleted. */
static void test_delete_refused_target_differs(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T2 "\",\"lun\":1}");
	json_decref(a.objs);
	a.objs = json_loads("{\"scsi_lun\":1,\"wwid\":\"" WWID_T10 "\",\"paths\":["
			    "{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T2 "\",\"session\":7,"
			    "\"host\":5,\"hctl\":\"5:0:0:1\"}]}",
			    0, NULL);
	assert_non_null(a.objs);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_string_equal(f->calls, "");
	assert_true(hctl_exists(f, "5:0:0:1"));
	assert_non_null(fsession_find(f, T1, "10.0.0.6", 3260));
	att_done(&a);
}

/* Host numbers renumbered (a reboot, or a logout and login): the recorded H:C:T:L now
 * names an admin's LUN. find_device and disconnect re-resolve by identity (our session
 * for the target and portal, the LUN, the WWID) and act on our device only. */
static void test_reresolve_after_renumbering(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a, b;
	struct backend_device dev;
	struct errbuf e = {""};
	struct fsession *x;

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":3}");
	f->luns[f->n_luns++] = 3;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), 0);
	assert_path(path0(&a), "10.0.0.9:3260", T9, 20, 10, "10:0:0:3", 1, 1);

	/* our session comes back as session40 on host30; an admin's session to another
	 * target takes host10/session20, with a LUN 3 of its own */
	x = fsession_find(f, T9, "10.0.0.9", 3260);
	assert_non_null(x);
	sh(f, "rmsession 10 20");
	x->host = 30;
	x->sid = 40;
	sh(f, "host 30");
	sh(f, "session 30 40 0 %s 10.0.0.9 3260 attachd", T9);
	sh(f, "device 30 40 3 sdy 8:240 2048 '%s'", f->wwid);
	f->sess[f->n_sess++] = (struct fsession){T2, "10.0.0.7", 3260, 10, 20, "default"};
	sh(f, "host 10");
	sh(f, "session 10 20 0 %s 10.0.0.7 3260 default", T2);
	sh(f, "device 10 20 3 sdz 8:250 2048 naa.6001405aaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_true(hctl_exists(f, "10:0:0:3"));

	b = a;
	b.objs = json_deep_copy(a.objs);
	b.cfg = cfg_new("{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":3}");
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &b, &dev, &e), 0);
	assert_string_equal(dev.sysname, "sdy");
	assert_path(path0(&b), "10.0.0.9:3260", T9, 40, 30, "30:0:0:3", 1, 1);
	att_done(&b);

	f->calls[0] = f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(40, 30, 3));
	assert_true(hctl_exists(f, "10:0:0:3")); /* the admin's LUN */
	assert_false(hctl_exists(f, "30:0:0:3"));
	assert_non_null(fsession_of_record(f, T2, "10.0.0.7", 3260, "default"));
	assert_null(fsession_find(f, T9, "10.0.0.9", 3260));
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);
}

/* A record with values we never write is refused before any of it reaches a path. */
static void test_damaged_record_refused(void **state)
{
	static const char *const bad[] = {
	    "{\"paths\":[{\"portal\":42,\"iqn\":\"" T1 "\"}]}",
	    "{\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"x\"}]}",
	    "{\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\","
	    "\"hctl\":\"5:0:0:1/../../../5:0:0:1\"}]}",
	    "{\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\",\"hctl\":\"5:0:0\"}]}",
	    "{\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\",\"hctl\":7}]}",
	    "{\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\",\"session\":\"7\"}]}",
	    "{\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\",\"host\":-5}]}",
	    "{\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1
	    "\",\"wwid\":\"naa.6\\u0001\"}]}",
	    "{\"scsi_lun\":\"1\",\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\"}]}",
	    "{\"wwid\":7,\"paths\":[{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\"}]}",
	    "{\"paths\":[\"10.0.0.6:3260\"]}",
	};
	struct fake *f = *state;

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct backend_attachment a;
		struct backend_device dev;
		struct errbuf e = {""};

		att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":1,"
			     "\"wwid\":\"" WWID_T10 "\"}");
		json_decref(a.objs);
		a.objs = json_loads(bad[i], 0, NULL);
		assert_non_null(a.objs);
		if (be_iscsi_ops.disconnect(&f->ctx, &a, &e) != -EINVAL)
			fail_msg("record %zu accepted: %s", i, bad[i]);
		assert_non_null(strstr(e.msg, "damaged"));
		assert_int_equal(n_paths(&a), 1); /* kept for a person to look at */
		if (strstr(bad[i], "hctl\":\"") &&
		    be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e) != -EINVAL)
			fail_msg("record %zu accepted by find_device", i);
		att_done(&a);
	}
	assert_string_equal(f->writes, "");
	assert_string_equal(f->calls, "");
	assert_true(hctl_exists(f, "5:0:0:1"));
}

/* Exit 15 (session exists) is success, and the session is not ours; exit 21 on logout is
 * success. */
static void test_exit_15_and_21(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	f->luns[f->n_luns++] = 1;
	f->login_exit = 15;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_path(path0(&a), "10.0.0.9:3260", T9, 20, 10, "10:0:0:1", 1, 0);

	f->calls[0] = 0;
	f->logout_exit = 21; /* e.g. iscsid already dropped it */
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		NODE(T9, "10.0.0.9:3260") " --logout\n");
	/* clang-format on */
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);
}

/* A session in recovery gets no scan: fail now rather than wait for a device. */
static void test_reuse_failed_session(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/sys/class/iscsi_session/session7/state", f->root);
	fp = fopen(path, "we");
	assert_non_null(fp);
	fputs("FAILED\n", fp);
	fclose(fp);
	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":4}");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -EHOSTDOWN);
	assert_non_null(strstr(e.msg, "session 7"));
	assert_non_null(strstr(e.msg, "FAILED"));
	assert_string_equal(f->writes, "");
	/* its device 5:0:0:1 keeps the session: no logout */
	assert_string_equal(f->calls, "");
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);
}

/* The agent's initiator name goes into the record, so the kernel uses the probe's name. */
static void test_configured_initiator_name(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	snprintf(f->host.iscsi_initiator_name, sizeof(f->host.iscsi_initiator_name),
		 "iqn.2000-01.org.example:host7");
	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	f->luns[f->n_luns++] = 1;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		IFACE
		"-m iface -I attachd -o update -n iface.initiatorname -v iqn.2000-01.org.example:host7\n"
		NODE(T9, "10.0.0.9:3260") " --login\n");
	/* clang-format on */
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	att_done(&a);
}

/* iscsi.iface set (a second agent on the host, "attachd2"): the first agent's session on
 * iface attachd to the same target and portal is not ours and is never reused; the iface
 * is made and every node call names attachd2 (-I), the record file is attachd2's, the
 * session is found by its sysfs ifacename, and the detach logs out and deletes only ours,
 * leaving the other agent's session and LUN. */
#define NODE2(iqn, p) "-m node -T " iqn " -p " p " -I attachd2"
static void test_configured_iface(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev;
	struct errbuf e = {""};
	char path[PATH_MAX * 2];

	snprintf(f->host.iscsi_iface, sizeof(f->host.iscsi_iface), "attachd2");
	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":5}");
	f->luns[f->n_luns++] = 5;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		"-m iface -I attachd2 -o new\n"
		NODE2(T1, "10.0.0.6:3260") " --login\n");
	/* clang-format on */
	assert_int_equal(count_of(f->calls, "-I attachd\n") + count_of(f->calls, "-I attachd "), 0);
	/* our new session (host10, sid 20), not the other agent's session7 on host5 */
	assert_string_equal(f->writes, "/sys/class/scsi_host/host10/scan=0 0 5\n");
	assert_path(path0(&a), "10.0.0.6:3260", T1, 20, 10, "10:0:0:5", 1, 1);
	record_path(f, T1, "10.0.0.6", 3260, 1, "attachd2", path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), 0);
	assert_string_equal(dev.sysname, "sdd");

	f->calls[0] = f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(20, 10, 5));
	/* clang-format off */
	assert_string_equal(f->calls,
		NODE2(T1, "10.0.0.6:3260") " --logout\n");
	/* clang-format on */
	assert_int_equal(access(path, F_OK), -1);
	assert_non_null(fsession_of_record(f, T1, "10.0.0.6", 3260, "attachd"));
	assert_true(hctl_exists(f, "5:0:0:1"));
	att_done(&a);
}

/* An admin's record for the same target and portal (iface default) is never touched: we
 * make our own on iface attachd, and delete only that. */
static void test_admin_record_untouched(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	add_node(f, T9, "10.0.0.9:3260", "default");
	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	f->luns[f->n_luns++] = 1;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		IFACE
		NODE(T9, "10.0.0.9:3260") " --login\n");
	/* clang-format on */
	assert_path(path0(&a), "10.0.0.9:3260", T9, 20, 10, "10:0:0:1", 1, 1);
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_int_equal(n_records(f), 1);
	assert_int_equal(record_status(f, T9, "10.0.0.9", 3260, "default"), 0);
	att_done(&a);
}

/* An admin's record in open-iscsi's old flat layout (one file per target and portal,
 * `-o new` without a TPGT) is what iscsiadm --login -I attachd would read instead of ours:
 * refused, with what to do, no login, and the file is left as it was. */
static void test_admin_flat_record_refused(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};
	char dir[PATH_MAX + 64], file[PATH_MAX + 128], cmd[PATH_MAX * 2];
	const char *rec = "# BEGIN RECORD 2.1.8\nnode.name = " T9 "\n"
			  "iface.iscsi_ifacename = default\nnode.conn[0].address = 10.0.0.9\n"
			  "node.conn[0].port = 3260\n# END RECORD\n";
	char *text;
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/etc/iscsi/nodes/%s", f->root, T9);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(file, sizeof(file), "%s/10.0.0.9,3260", dir);
	fp = fopen(file, "we");
	assert_non_null(fp);
	fputs(rec, fp);
	fclose(fp);
	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "iface 'default'"));
	assert_non_null(strstr(e.msg, "10.0.0.9,3260"));
	assert_non_null(strstr(e.msg, ",TPGT -o new"));
	assert_null(strstr(f->calls, "--login"));
	text = slurp(file);
	assert_string_equal(text, rec);
	free(text);
	att_done(&a);
}

/* An admin's flat record appears while our record exists (iscsiadm would log in with it
 * instead of ours). A second connect refuses; the detach removes our record file by hand
 * and leaves the admin's file as it was. */
static void test_admin_flat_record_appears_later(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a, b;
	struct errbuf e = {""};
	char file[PATH_MAX + 128], ours[PATH_MAX * 2], *text;
	const char *rec = "# BEGIN RECORD 2.1.8\nnode.name = " T9 "\n"
			  "iface.iscsi_ifacename = default\nnode.conn[0].address = 10.0.0.9\n"
			  "node.conn[0].port = 3260\n# END RECORD\n";
	FILE *fp;

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	f->luns[f->n_luns++] = 1;
	f->luns[f->n_luns++] = 2;
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	record_path(f, T9, "10.0.0.9", 3260, 1, "attachd", ours, sizeof(ours));
	assert_int_equal(access(ours, F_OK), 0);

	snprintf(file, sizeof(file), "%s/etc/iscsi/nodes/%s/10.0.0.9,3260", f->root, T9);
	fp = fopen(file, "we");
	assert_non_null(fp);
	fputs(rec, fp);
	fclose(fp);

	/* a second volume on the target: our session exists, no record write, works */
	att_init(&b, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":2}");
	probed(&b, f->wwid);
	f->calls[0] = 0;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->calls, "");
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &b, &e), 0);
	att_done(&b);

	f->calls[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		NODE(T9, "10.0.0.9:3260") " --logout\n");
	/* clang-format on */
	assert_int_equal(access(ours, F_OK), -1);
	text = slurp(file);
	assert_string_equal(text, rec);
	free(text);
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);

	/* with the admin's flat record there, a new connect makes no record and says why */
	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -EEXIST);
	assert_non_null(strstr(e.msg, "old one-file-per-portal layout"));
	text = slurp(file);
	assert_string_equal(text, rec);
	free(text);
	att_done(&a);
}

/* Two volumes on one target, detached in the order they came: the session and our record
 * go with the last LUN, although the volume that made them left first. A record of ours
 * left from before is reused (configured, not created). */
static void test_shared_session_first_in_first_out(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a, b;
	struct errbuf e = {""};

	add_node(f, T9, "10.0.0.9:3260", BE_ISCSI_IFACE);
	f->luns[f->n_luns++] = 1;
	f->luns[f->n_luns++] = 2;
	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	att_init(&b, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":2}");
	probed(&a, f->wwid);
	probed(&b, f->wwid);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		IFACE
		NODE(T9, "10.0.0.9:3260") " --login\n");
	/* clang-format on */
	assert_path(path0(&a), "10.0.0.9:3260", T9, 20, 10, "10:0:0:1", 0, 1);
	f->calls[0] = 0;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->calls, "");
	assert_path(path0(&b), "10.0.0.9:3260", T9, 20, 10, "10:0:0:2", 0, 0);

	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->calls, ""); /* LUN 2 still on the session */
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &b, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		NODE(T9, "10.0.0.9:3260") " --logout\n");
	/* clang-format on */
	assert_int_equal(n_records(f), 0);
	assert_null(fsession_find(f, T9, "10.0.0.9", 3260));
	att_done(&a);
	att_done(&b);
}

/* CHAP rejected (the secret in the record file is not the target's): a clear error
 * without the secret, and the record we made is removed at once (nothing left for
 * detach). The right secret afterwards replaces the wrong one in the file and logs in. */
static void test_login_auth_failure(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1,"
		     "\"chap_user\":\"alice\",\"chap_secret\":\"Wr0ng-S3cret\"}");
	snprintf(f->chap_user, sizeof(f->chap_user), "alice");
	snprintf(f->chap_secret, sizeof(f->chap_secret), SECRET);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -EACCES);
	assert_non_null(strstr(e.msg, "CHAP"));
	assert_non_null(strstr(e.msg, T9));
	assert_null(strstr(e.msg, "Wr0ng-S3cret"));
	/* clang-format off */
	assert_string_equal(f->calls, IFACE NODE(T9, "10.0.0.9:3260") " --login\n");
	/* clang-format on */
	assert_int_equal(n_records(f), 0);
	assert_int_equal(n_paths(&a), 0);
	f->calls[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->calls, "");
	att_done(&a);

	/* a record of ours left with the wrong secret is corrected, not duplicated */
	add_node(f, T9, "10.0.0.9:3260", BE_ISCSI_IFACE);
	record_write(f, T9, "10.0.0.9", 3260, 1, BE_ISCSI_IFACE);
	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1,"
		     "\"chap_user\":\"alice\",\"chap_secret\":\"" SECRET "\"}");
	f->luns[f->n_luns++] = 1;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	{
		char path[PATH_MAX * 2], *text;

		record_path(f, T9, "10.0.0.9", 3260, 1, "attachd", path, sizeof(path));
		text = slurp(path);
		assert_int_equal(count_of(text, "node.session.auth.password"), 1);
		free(text);
	}
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	att_done(&a);
}

static void test_login_errors(void **state)
{
	static const struct {
		int exit_code, r;
		const char *needle;
	} cases[] = {
	    {19, -EPERM, "ACL"},
	    {8, -ETIMEDOUT, "timed out"},
	    {5, -ECONNREFUSED, "reachable"},
	    {20, -ENOTCONN, "iscsid is not running"},
	    {6, -EIO, "database"},
	    {99, -EIO, "exit 99"},
	};
	struct fake *f = *state;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct backend_attachment a;
		struct errbuf e = {""};

		att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
		f->login_exit = cases[i].exit_code;
		assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), cases[i].r);
		if (!strstr(e.msg, cases[i].needle))
			fail_msg("exit %d: '%s' not in: %s", cases[i].exit_code, cases[i].needle,
				 e.msg);
		assert_int_equal(n_records(f), 0);
		att_done(&a);
	}
}

static void test_iscsiadm_missing_or_iscsid_down(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	f->run_errno = -ENOENT;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "install open-iscsi"));
	f->run_errno = -ETIMEDOUT;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -ETIMEDOUT);
	assert_non_null(strstr(e.msg, "did not finish"));
	f->run_errno = 0;
	f->login_exit = 20;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -ENOTCONN);
	assert_non_null(strstr(e.msg, "systemctl start iscsid"));
	att_done(&a);
}

/* Our record cannot be written (here a file stands where its directory goes): a clear
 * error naming the place, nothing with the secret anywhere (errbuf, objs), no login, and
 * no temporary file left with the secret in it. */
static void test_chap_without_record_file(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};
	char path[PATH_MAX + 64];
	char *dump;
	FILE *fp;

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1,"
		     "\"chap_user\":\"alice\",\"chap_secret\":\"" SECRET "\"}");
	snprintf(path, sizeof(path), "%s/etc/iscsi/nodes/" T9, f->root);
	assert_int_equal(sys_real_ops.mkdir_p(&f->sys, path, 0700), 0);
	snprintf(path, sizeof(path), "%s/etc/iscsi/nodes/" T9 "/10.0.0.9,3260,1", f->root);
	fp = fopen(path, "we");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -ENOTDIR);
	assert_non_null(strstr(e.msg, "writing the node record"));
	assert_non_null(strstr(e.msg, "/etc/iscsi/nodes/" T9));
	assert_non_null(strstr(e.msg, "10.0.0.9,3260,1/attachd"));
	assert_int_equal(n_records(f), 1); /* that file only */
	assert_null(strstr(e.msg, SECRET));
	assert_null(strstr(f->calls, "--login"));
	dump = json_dumps(a.objs, 0);
	assert_non_null(dump);
	assert_null(strstr(dump, SECRET));
	free(dump);
	att_done(&a);
}

/* Two portals, one fails: the attachment uses the other; the failed one is cleaned up. */
static void test_multipath_partial_and_total_failure(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev;
	struct errbuf e = {""};

	att_init(&a, "{\"portals\":[\"10.0.0.10\",\"10.0.0.9\"],\"iqn\":\"" T9 "\",\"lun\":2}");
	f->luns[f->n_luns++] = 2;
	f->login_exit = 8;
	snprintf(f->login_fail_portal, sizeof(f->login_fail_portal), "10.0.0.10:3260");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(n_paths(&a), 1);
	assert_path(path0(&a), "10.0.0.9:3260", T9, 20, 10, "10:0:0:2", 1, 1);
	assert_int_equal(n_records(f), 1); /* 10.0.0.10's record was removed */
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), 0);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_int_equal(n_records(f), 0);
	att_done(&a);

	/* both portals work, no probe: the device found on the first path gives the LU's
	 * WWID, so the second path's device is provably ours too and goes at detach */
	att_init(&a, "{\"portals\":[\"10.0.0.9\",\"10.0.0.12\"],\"iqn\":\"" T9 "\",\"lun\":2}");
	f->login_exit = 0;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(n_paths(&a), 2);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), 0);
	assert_string_equal(json_string_value(json_object_get(a.objs, "wwid")), f->wwid);
	f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(21, 11, 2) DELETE_WRITE(22, 12, 2));
	assert_int_equal(f->n_sess, 3);
	att_done(&a);

	f->login_exit = 8;
	att_init(&a, "{\"portals\":[\"10.0.0.10\",\"10.0.0.11\"],\"iqn\":\"" T9 "\",\"lun\":2}");
	f->login_fail_portal[0] = 0;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), -ETIMEDOUT);
	assert_non_null(strstr(e.msg, "10.0.0.10:3260"));
	assert_non_null(strstr(e.msg, "10.0.0.11:3260"));
	assert_int_equal(n_paths(&a), 0);
	assert_int_equal(n_records(f), 0);
	att_done(&a);
}

/* find_device waits while the disk is not registered and says what it waits for. */
static void test_find_device_eagain(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":6}");
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), -ENODEV);
	f->noblock[f->n_noblock++] = 6;
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), -EAGAIN);
	assert_non_null(strstr(e.msg, "5:0:0:6"));
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	/* no WWID known for it: left in place, and said so */
	assert_non_null(strstr(e.msg, "5:0:0:6"));
	att_done(&a);

	/* a LUN the target does not have: the scan finds nothing, find_device keeps waiting
	 * (the probe is what fails fast on that), and the detach has nothing to delete */
	att_init(&a, "{\"portal\":\"10.0.0.6\",\"iqn\":\"" T1 "\",\"lun\":7}");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), -EAGAIN);
	f->writes[0] = 0;
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(&a);
}

/* A device on our session whose WWID is not the probed one is refused at find_device. */
static void test_find_device_wwid_mismatch(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":3}");
	f->luns[f->n_luns++] = 3;
	probed(&a, "naa.600140500000000000000000000000aa");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &a, &dev, &e), -EMEDIUMTYPE);
	assert_non_null(strstr(e.msg, f->wwid));
	assert_non_null(strstr(e.msg, "refusing"));
	assert_null(json_object_get(path0(&a), "wwid"));
	/* and the detach leaves it alone (not provably ours), session and all */
	f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_true(hctl_exists(f, "10:0:0:3"));
	att_done(&a);
}

/* identify refuses a device whose WWID is not the one the volume was created with. */
static void test_identify_wwid_check(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_device dev = {.sysname = "sdb", .devnode = "/fakedev/dev/sdb"};
	struct backend_identity id;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.5\",\"iqn\":\"" T1 "\",\"lun\":1,"
		     "\"wwid\":\"36001405ABCDEF0123456789ABCDEF012\"}");
	assert_int_equal(be_iscsi_ops.identify(&f->ctx, &a, &dev, &id, &e), 0);
	assert_string_equal(id.wwid, "naa.6001405abcdef0123456789abcdef012");
	snprintf(dev.sysname, sizeof(dev.sysname), "sdc");
	assert_int_equal(be_iscsi_ops.identify(&f->ctx, &a, &dev, &id, &e), -EMEDIUMTYPE);
	assert_non_null(strstr(e.msg, "t10.IET"));
	assert_non_null(strstr(e.msg, "refusing"));
	att_done(&a);
}

/* After a crash, disconnect runs from the persisted objs alone. */
static void test_disconnect_from_persisted_objs(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	json_decref(a.objs);
	/* login never happened (crash after -o new); and our LUN 1 on session7 */
	add_node(f, T9, "10.0.0.9:3260", BE_ISCSI_IFACE);
	a.objs = json_loads("{\"scsi_lun\":1,\"wwid\":\"" WWID_T10 "\",\"paths\":["
			    "{\"portal\":\"10.0.0.9:3260\",\"iqn\":\"" T9 "\",\"session\":null,"
			    "\"host\":null,\"hctl\":null,\"node_created\":true,"
			    "\"session_created\":false},"
			    "{\"portal\":\"10.0.0.6:3260\",\"iqn\":\"" T1 "\",\"session\":7,"
			    "\"host\":5,\"hctl\":\"5:0:0:1\",\"node_created\":false,"
			    "\"session_created\":false}]}",
			    0, NULL);
	assert_non_null(a.objs);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	/* clang-format off */
	assert_string_equal(f->calls,
		IFACE NODE(T1, "10.0.0.6:3260") " --logout\n");
	/* clang-format on */
	assert_string_equal(f->writes, DELETE_WRITE(7, 5, 1));
	assert_null(fsession_find(f, T1, "10.0.0.6", 3260));
	assert_int_equal(n_paths(&a), 0);
	att_done(&a);

	/* no objs at all: nothing was connected */
	att_init(&a, "{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\",\"lun\":1}");
	json_decref(a.objs);
	a.objs = NULL;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	att_done(&a);
}

/* A failed undo keeps its entry (to retry) and the others still run. */
static void test_disconnect_failure_keeps_entry(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct errbuf e = {""};

	att_init(&a, "{\"portals\":[\"10.0.0.9\",\"10.0.0.12\"],\"iqn\":\"" T9 "\",\"lun\":1}");
	f->luns[f->n_luns++] = 1;
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(n_paths(&a), 2);
	f->logout_exit = 6;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), -EIO);
	assert_non_null(strstr(e.msg, "logout"));
	assert_int_equal(n_paths(&a), 2);
	f->logout_exit = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_int_equal(n_paths(&a), 0);
	assert_int_equal(n_records(f), 0);
	att_done(&a);
}

static void test_node_tuning(void **state)
{
	struct be_iscsi_node_tuning t;

	be_iscsi_node_tuning_for(30000, 0, &t);
	assert_int_equal(t.login_timeout_s, 10);
	assert_int_equal(t.login_retry_max, 1);
	assert_int_equal(t.replacement_timeout_s, 30);
	assert_int_equal(t.noop_out_interval_s, 0); /* single path: iscsid.conf's */
	assert_int_equal(t.logout_timeout_s, 0);
	be_iscsi_node_tuning_for(1000, 0, &t);
	assert_int_equal(t.login_timeout_s, 2);
	be_iscsi_node_tuning_for(600000, 0, &t);
	assert_int_equal(t.login_timeout_s, 15);
	be_iscsi_node_tuning_for(0, 0, &t);
	assert_int_equal(t.login_timeout_s, 10);
	/* Multipathed: dm fails over after 5 s of lost connection, a dead target's logout
	 * does not wait 15 s. */
	be_iscsi_node_tuning_for(30000, 1, &t);
	assert_int_equal(t.login_timeout_s, 10);
	assert_int_equal(t.replacement_timeout_s, 5);
	assert_int_equal(t.noop_out_interval_s, 5);
	assert_int_equal(t.noop_out_timeout_s, 5);
	assert_int_equal(t.logout_timeout_s, 2);
}

#define T8 "iqn.2003-01.org.example:t8"
/* A setting of our record (iqn, addr:3260, attachd) as idbm would read it. */
static void assert_record_has(struct fake *f, const char *iqn, const char *addr, const char *key,
			      const char *want)
{
	char path[PATH_MAX * 2], v[256];
	char *text;

	record_path(f, iqn, addr, 3260, BE_ISCSI_RECORD_TPGT, "attachd", path, sizeof(path));
	text = read_text(path);
	assert_non_null(text);
	if (be_iscsi_noderec_get(text, key, v, sizeof(v)) < 0)
		v[0] = 0;
	free(text);
	assert_string_equal(v, want);
}

/* The multipath settings: failover after 5 s, quick logout from a dead target. */
static void assert_mpath_record(struct fake *f, const char *iqn, const char *addr)
{
	assert_record_has(f, iqn, addr, "node.startup", "manual");
	assert_record_has(f, iqn, addr, "node.session.scan", "manual");
	assert_record_has(f, iqn, addr, "node.conn[0].timeo.login_timeout", "10");
	assert_record_has(f, iqn, addr, "node.session.initial_login_retry_max", "1");
	assert_record_has(f, iqn, addr, "node.session.timeo.replacement_timeout", "5");
	assert_record_has(f, iqn, addr, "node.conn[0].timeo.noop_out_interval", "5");
	assert_record_has(f, iqn, addr, "node.conn[0].timeo.noop_out_timeout", "5");
	assert_record_has(f, iqn, addr, "node.conn[0].timeo.logout_timeout", "2");
}

static void set_session_state(struct fake *f, unsigned sid, const char *state)
{
	char path[PATH_MAX + 64];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/sys/class/iscsi_session/session%u/state", f->root, sid);
	fp = fopen(path, "we");
	assert_non_null(fp);
	fprintf(fp, "%s\n", state);
	fclose(fp);
}

/* 'targets': a session per (portal, target), both paths found with the volume's WWID, the
 * multipath node settings on both records; the transport state follows the session. */
static void test_find_paths_targets(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_path bp[BACKEND_MAX_PATHS];
	struct errbuf e = {""};
	char detail[128];
	size_t n = 0;

	att_init(&a, "{\"targets\":[{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\"},"
		     "{\"portal\":\"10.0.0.12\",\"iqn\":\"" T8 "\"}],\"lun\":2}");
	f->luns[f->n_luns++] = 2;
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.paths_configured(a.cfg), 2);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_mpath_record(f, T9, "10.0.0.9");
	assert_mpath_record(f, T8, "10.0.0.12");
	assert_int_equal(be_iscsi_ops.find_paths(&f->ctx, &a, bp, BACKEND_MAX_PATHS, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(bp[0].id, "10:0:0:2");
	assert_string_equal(bp[0].dev.sysname, "sdd");
	assert_string_equal(bp[0].dev.devnode, "/fakedev/dev/sdd");
	assert_int_equal(bp[0].dev.major, 8);
	assert_int_equal(bp[0].dev.minor, 48);
	assert_string_equal(bp[0].where, "10.0.0.9:3260 " T9);
	assert_string_equal(bp[0].wwid, f->wwid);
	assert_string_equal(bp[1].id, "11:0:0:2");
	assert_string_equal(bp[1].where, "10.0.0.12:3260 " T8);

	assert_int_equal(be_iscsi_ops.path_transport(&f->ctx, &a, &bp[1], detail, sizeof(detail)),
			 BACKEND_PATH_UP);
	assert_string_equal(detail, "session 21 LOGGED_IN");
	set_session_state(f, 21, "FAILED");
	assert_int_equal(be_iscsi_ops.path_transport(&f->ctx, &a, &bp[1], detail, sizeof(detail)),
			 BACKEND_PATH_DOWN);
	assert_string_equal(detail, "session 21 FAILED");
	assert_int_equal(be_iscsi_ops.path_transport(&f->ctx, &a, &bp[0], NULL, 0),
			 BACKEND_PATH_UP);
	sh(f, "rmdevice 10:0:0:2");
	assert_int_equal(be_iscsi_ops.path_transport(&f->ctx, &a, &bp[0], detail, sizeof(detail)),
			 BACKEND_PATH_GONE);
	assert_non_null(strstr(detail, "10:0:0:2"));
	/* the path whose device is gone is no path any more; the other still is */
	assert_int_equal(be_iscsi_ops.find_paths(&f->ctx, &a, bp, BACKEND_MAX_PATHS, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(bp[0].id, "11:0:0:2");

	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_sess, 3);
	assert_int_equal(n_records(f), 0);
	att_done(&a);
}

/* A path whose LUN is another LU (another WWID) is refused and named; the volume's paths
 * are still used; the detach removes what our scan made there when nothing holds it. */
static void test_find_paths_wwid_mismatch(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_path bp[BACKEND_MAX_PATHS];
	struct errbuf e = {""};
	size_t n = 0;

	att_init(&a, "{\"targets\":[{\"portal\":\"10.0.0.9\",\"iqn\":\"" T9 "\"},"
		     "{\"portal\":\"10.0.0.12\",\"iqn\":\"" T8 "\"}],\"lun\":2}");
	f->luns[f->n_luns++] = 2;
	snprintf(f->other_iqn, sizeof(f->other_iqn), T8);
	snprintf(f->other_wwid, sizeof(f->other_wwid), "naa.600140500000000000000000000000bb");
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_iscsi_ops.find_paths(&f->ctx, &a, bp, BACKEND_MAX_PATHS, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(bp[0].id, "10:0:0:2");
	assert_non_null(strstr(e.msg, "path 10.0.0.12:3260 " T8 " (SCSI device 11:0:0:2"));
	assert_non_null(strstr(e.msg, "naa.600140500000000000000000000000bb"));
	assert_non_null(strstr(e.msg, "refused"));

	/* detach: our device and the refused one (nothing holds it) are deleted */
	snprintf(f->other_iqn, sizeof(f->other_iqn), T9);
	f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, DELETE_WRITE(20, 10, 2) DELETE_WRITE(21, 11, 2));
	assert_int_equal(f->n_sess, 3);
	assert_int_equal(n_records(f), 0);
	att_done(&a);

	/* only a refused path: no path of this volume at all */
	att_init(&a, "{\"portals\":[\"10.0.0.9\"],\"iqn\":\"" T9 "\",\"lun\":2}");
	probed(&a, f->wwid);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_iscsi_ops.find_paths(&f->ctx, &a, bp, BACKEND_MAX_PATHS, &n, &e),
			 -EMEDIUMTYPE);
	assert_non_null(strstr(e.msg, "naa.600140500000000000000000000000bb"));
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_sess, 3);
	att_done(&a);
}

/* add_paths connects the configured paths that are not recorded (a portal down at
 * attach), never touches the recorded ones, and never deletes the device of a path whose
 * session is merely down. */
static void test_add_paths(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a;
	struct backend_path bp[BACKEND_MAX_PATHS];
	struct errbuf e = {""};
	size_t n = 0;
	json_t *paths;

	att_init(&a, "{\"portals\":[\"10.0.0.9\",\"10.0.0.10\"],\"iqn\":\"" T9 "\",\"lun\":2}");
	f->luns[f->n_luns++] = 2;
	probed(&a, f->wwid);
	f->login_exit = 8;
	snprintf(f->login_fail_portal, sizeof(f->login_fail_portal), "10.0.0.10:3260");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(n_paths(&a), 1);
	/* still down: said so, nothing else changed */
	f->calls[0] = 0;
	assert_int_equal(be_iscsi_ops.add_paths(&f->ctx, &a, &e), -EHOSTDOWN);
	assert_non_null(strstr(e.msg, "1 of 2 paths not connected"));
	assert_non_null(strstr(e.msg, "10.0.0.10:3260"));
	assert_null(strstr(f->calls, "10.0.0.9:"));
	assert_int_equal(n_paths(&a), 1);
	/* back: it joins */
	f->login_exit = 0;
	f->calls[0] = f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_null(strstr(f->calls, "10.0.0.9:"));
	assert_int_equal(n_paths(&a), 2);
	assert_int_equal(be_iscsi_ops.find_paths(&f->ctx, &a, bp, BACKEND_MAX_PATHS, &n, &e), 0);
	assert_int_equal(n, 2);
	/* nothing missing: nothing done */
	f->calls[0] = f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_string_equal(f->calls, "");
	assert_string_equal(f->writes, "");

	/* an entry dropped (the checker removed it) while its session is recovering and its
	 * device still there: add_paths fails it but leaves the device, and records it again */
	paths = json_object_get(a.objs, "paths");
	json_array_remove(paths, 1);
	set_session_state(f, 21, "FAILED");
	f->writes[0] = 0;
	assert_int_equal(be_iscsi_ops.add_paths(&f->ctx, &a, &e), -EHOSTDOWN);
	assert_non_null(strstr(e.msg, "FAILED"));
	assert_string_equal(f->writes, "");
	assert_true(hctl_exists(f, "11:0:0:2"));
	assert_int_equal(n_paths(&a), 2);
	set_session_state(f, 21, "LOGGED_IN");
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_sess, 3);
	assert_int_equal(n_records(f), 0);
	att_done(&a);
}

/* ---------------------------------------------------------------- preflight: no probe */

/* A local TCP port nothing listens on: a libiscsi login there fails at once with
 * "connection refused", so a probe that ran cannot go unnoticed. */
static unsigned closed_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

#define PF_CHAP(secret) ",\"chap_user\":\"alice\",\"chap_secret\":\"" secret "\""

/* Options of LUN lun on T1 at 127.0.0.1:port, with extra ("" or PF_CHAP(...)). */
static void pf_opts(char *buf, size_t n, unsigned port, unsigned lun, const char *extra)
{
	snprintf(buf, n, "{\"portal\":\"127.0.0.1:%u\",\"iqn\":\"" T1 "\",\"lun\":%u%s}", port, lun,
		 extra);
}

/* Volume A (LUN 1) attached the way the pipeline does it with no session yet: our session
 * to T1 at 127.0.0.1:port, logged in with A's credentials (extra). */
static void pf_first_volume(struct fake *f, struct backend_attachment *a, unsigned port,
			    const char *extra)
{
	struct backend_device dev;
	struct errbuf e = {""};
	char o[512];

	pf_opts(o, sizeof(o), port, 1, extra);
	att_init(a, o);
	f->n_luns = 0;
	f->luns[f->n_luns++] = 1;
	f->luns[f->n_luns++] = 2;
	snprintf(f->chap_user, sizeof(f->chap_user), "%s", extra[0] ? "alice" : "");
	snprintf(f->chap_secret, sizeof(f->chap_secret), "%s", extra[0] ? SECRET : "");
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, a, &e), 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, a, &dev, &e), 0);
	f->calls[0] = f->writes[0] = 0;
}

/* The plan step's probe for volume o: r, with the array asked (a libiscsi login: refused
 * by the closed port) or not. */
static int pf_probe(struct fake *f, struct backend_attachment *b, const char *o, int preflight,
		    struct errbuf *e)
{
	struct backend_ctx ctx = f->ctx;
	struct backend_identity id = {.size_bytes = 7};

	att_init(b, o);
	ctx.preflight = preflight;
	return be_iscsi_ops.probe(&ctx, b, &id, e);
}

/* attachd's session to the target is logged in with the volume's credentials: the plan
 * step does no iSCSI login (the portal refuses any), connect is the targeted scan alone (no
 * iscsiadm), and the LUN's identity comes from the device the scan made: its WWID is
 * recorded for detach, a wrong 'wwid' option is still refused. */
static void test_preflight_session_skips_probe(void **state)
{
	struct fake *f = *state;
	unsigned port = closed_port();
	struct backend_attachment a, b;
	struct backend_device dev;
	struct backend_identity id;
	struct errbuf e = {""};
	char o[512], want[128];

	pf_first_volume(f, &a, port, PF_CHAP(SECRET));
	pf_opts(o, sizeof(o), port, 2, PF_CHAP(SECRET));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), 0);
	/* a stale WWID of an earlier attach is not kept: the scan's device says */
	assert_string_equal(json_string_value(json_object_get(b.objs, BE_ISCSI_OBJS_PREFLIGHT)),
			    "session");
	assert_null(json_object_get(b.objs, "wwid"));
	assert_int_equal(json_integer_value(json_object_get(b.objs, "scsi_lun")), 2);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->calls, "");
	snprintf(want, sizeof(want), "/sys/class/scsi_host/host10/scan=0 0 2\n");
	assert_string_equal(f->writes, want);
	assert_null(json_object_get(b.objs, BE_ISCSI_OBJS_PREFLIGHT));
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &b, &dev, &e), 0);
	assert_string_equal(json_string_value(json_object_get(b.objs, "wwid")), f->wwid);
	assert_int_equal(be_iscsi_ops.identify(&f->ctx, &b, &dev, &id, &e), 0);
	assert_string_equal(id.wwid, f->wwid);
	assert_int_equal(id.size_bytes, 2048 * 512);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &b, &e), 0);
	att_done(&b);

	/* no probe, and still the identity check: a 'wwid' option the LU does not have */
	pf_opts(o, sizeof(o), port, 2,
		PF_CHAP(SECRET) ",\"wwid\":\"naa.60014050000000000000000000000001\"");
	assert_int_equal(pf_probe(f, &b, o, 1, &e), 0);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &b, &e), 0);
	assert_int_equal(be_iscsi_ops.find_device(&f->ctx, &b, &dev, &e), -EMEDIUMTYPE);
	assert_non_null(strstr(e.msg, "refusing"));
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &b, &e), 0);
	att_done(&b);

	/* attachctl probe (no preflight) always asks the array */
	assert_int_equal(pf_probe(f, &b, o, 0, &e), -ECONNREFUSED);
	att_done(&b);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	att_done(&a);
}

/* The probe runs (a libiscsi login: refused here) whenever the session does not prove the
 * volume: other CHAP credentials, none where the session has some, a kernel session whose
 * credentials are not the record's, no session of ours, or a device already there. */
static void test_preflight_probe_runs(void **state)
{
	struct fake *f = *state;
	unsigned port = closed_port(), other = closed_port();
	struct backend_attachment a, b;
	struct errbuf e = {""};
	char o[512], path[PATH_MAX + 128];

	pf_first_volume(f, &a, port, PF_CHAP(SECRET));
	pf_opts(o, sizeof(o), port, 2, PF_CHAP("Wr0ng-S3cret"));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	assert_null(json_object_get(b.objs, BE_ISCSI_OBJS_PREFLIGHT));
	att_done(&b);
	pf_opts(o, sizeof(o), port, 2, ",\"chap_user\":\"bob\",\"chap_secret\":\"" SECRET "\"");
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	att_done(&b);
	pf_opts(o, sizeof(o), port, 2, "");
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	att_done(&b);
	/* no session of ours to that portal */
	pf_opts(o, sizeof(o), other, 2, PF_CHAP(SECRET));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	att_done(&b);
	/* a SCSI device for the LUN already on the session: the kernel read its identity
	 * when it was made, the array may have another LU behind the number now */
	pf_opts(o, sizeof(o), port, 1, PF_CHAP(SECRET));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	att_done(&b);
	/* the kernel's session shows other credentials than our record */
	snprintf(path, sizeof(path), "%s/sys/class/iscsi_session/session20/password", f->root);
	sysfs_put(f, path, "0ther");
	pf_opts(o, sizeof(o), port, 2, PF_CHAP(SECRET));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	att_done(&b);
	/* ... or none that can be read */
	unlink(path);
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	att_done(&b);
	assert_string_equal(f->calls, "");
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	att_done(&a);

	/* without CHAP on both sides the session proves a volume without CHAP */
	pf_first_volume(f, &a, port, "");
	pf_opts(o, sizeof(o), port, 2, "");
	assert_int_equal(pf_probe(f, &b, o, 1, &e), 0);
	att_done(&b);
	pf_opts(o, sizeof(o), port, 2, PF_CHAP(SECRET));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), -ECONNREFUSED);
	att_done(&b);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	att_done(&a);
}

/* Without a probe, a LUN the target does not have: the scan makes no device, and the array
 * is asked after all, for today's error (here its login is refused, which says it ran);
 * nothing is left of the attempt, and the other volume's session stays. A LUN that is no
 * disk is refused with the probe's words, and the device the scan made is removed. */
static void test_preflight_lun_absent_or_no_disk(void **state)
{
	struct fake *f = *state;
	unsigned port = closed_port();
	struct backend_attachment a, b;
	struct errbuf e = {""};
	char o[512];

	pf_first_volume(f, &a, port, PF_CHAP(SECRET));
	pf_opts(o, sizeof(o), port, 7, PF_CHAP(SECRET));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), 0);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &b, &e), -ECONNREFUSED);
	assert_non_null(strstr(e.msg, "127.0.0.1"));
	assert_int_equal(n_paths(&b), 0);
	assert_false(hctl_exists(f, "10:0:0:7"));
	assert_true(hctl_exists(f, "10:0:0:1"));
	assert_string_equal(f->calls, "");
	att_done(&b);

	f->nondisk = 3;
	pf_opts(o, sizeof(o), port, 3, PF_CHAP(SECRET));
	assert_int_equal(pf_probe(f, &b, o, 1, &e), 0);
	assert_int_equal(be_iscsi_ops.connect(&f->ctx, &b, &e), -EMEDIUMTYPE);
	assert_non_null(strstr(e.msg, "LUN 3 on " T1 " is not a disk (SCSI device type 0x0c)"));
	assert_false(hctl_exists(f, "10:0:0:3"));
	assert_int_equal(n_paths(&b), 0);
	att_done(&b);
	assert_int_equal(be_iscsi_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_false(hctl_exists(f, "10:0:0:1"));
	att_done(&a);
}

/* Pure: which record auth settings are the volume's credentials. */
static void test_noderec_auth_is(void **state _unused_)
{
	static const char chap[] = "node.session.auth.authmethod = CHAP\n"
				   "node.session.auth.username = alice\n"
				   "node.session.auth.password = " SECRET "\n";

	assert_int_equal(be_iscsi_noderec_auth_is(chap, "alice", SECRET), 1);
	assert_int_equal(be_iscsi_noderec_auth_is(chap, "alice", "Wr0ng-S3cret"), 0);
	assert_int_equal(be_iscsi_noderec_auth_is(chap, "bob", SECRET), 0);
	assert_int_equal(be_iscsi_noderec_auth_is(chap, "", ""), 0);
	assert_int_equal(be_iscsi_noderec_auth_is("node.name = x\n", "", ""), 1);
	assert_int_equal(be_iscsi_noderec_auth_is("node.session.auth.authmethod = None\n", "", ""),
			 1);
	assert_int_equal(be_iscsi_noderec_auth_is("node.session.auth.authmethod = None\n"
						  "node.session.auth.username = alice\n"
						  "node.session.auth.password = " SECRET "\n",
						  "alice", SECRET),
			 0);
}

#define FAKE_TEST(t) cmocka_unit_test_setup_teardown(t, fake_setup, fake_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    FAKE_TEST(test_connect_new_session_and_detach),
	    FAKE_TEST(test_admin_session_never_reused),
	    FAKE_TEST(test_reuse_our_session_other_luns_remain),
	    FAKE_TEST(test_delete_refused_admin_iface),
	    FAKE_TEST(test_delete_refused_wwid_differs),
	    FAKE_TEST(test_delete_refused_target_differs),
	    FAKE_TEST(test_reresolve_after_renumbering),
	    FAKE_TEST(test_damaged_record_refused),
	    FAKE_TEST(test_exit_15_and_21),
	    FAKE_TEST(test_reuse_failed_session),
	    FAKE_TEST(test_configured_initiator_name),
	    FAKE_TEST(test_configured_iface),
	    FAKE_TEST(test_admin_record_untouched),
	    FAKE_TEST(test_admin_flat_record_refused),
	    FAKE_TEST(test_admin_flat_record_appears_later),
	    FAKE_TEST(test_shared_session_first_in_first_out),
	    FAKE_TEST(test_login_auth_failure),
	    FAKE_TEST(test_login_errors),
	    FAKE_TEST(test_iscsiadm_missing_or_iscsid_down),
	    FAKE_TEST(test_chap_without_record_file),
	    FAKE_TEST(test_multipath_partial_and_total_failure),
	    FAKE_TEST(test_find_device_eagain),
	    FAKE_TEST(test_find_device_wwid_mismatch),
	    FAKE_TEST(test_identify_wwid_check),
	    FAKE_TEST(test_disconnect_from_persisted_objs),
	    FAKE_TEST(test_disconnect_failure_keeps_entry),
	    cmocka_unit_test(test_node_tuning),
	    FAKE_TEST(test_find_paths_targets),
	    FAKE_TEST(test_find_paths_wwid_mismatch),
	    FAKE_TEST(test_add_paths),
	    FAKE_TEST(test_preflight_session_skips_probe),
	    FAKE_TEST(test_preflight_probe_runs),
	    FAKE_TEST(test_preflight_lun_absent_or_no_disk),
	    cmocka_unit_test(test_noderec_auth_is),
	};

	if (find_srcdir() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
