/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvme backend connect / find_device / identify / disconnect against a fake kernel: a copy
 * of the fixture tree (tests/fixtures/nvme/sysfs) that fake fabrics ops (the connect write)
 * and a fake sys_ops.write_file (delete_controller) change the way the kernel would,
 * through tests/fixtures/nvme/fake-kernel.sh. Asserts the exact option string written to
 * /dev/nvme-fabrics, reuse of existing controllers, namespace matching by each id kind,
 * -EAGAIN until the namespace is there, the errors, and the delete rules.
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
#include <unistd.h>

#include "backends/nvme/internal.h"
#include "lib/macro.h"

#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555"
#define HOSTID "11111111-2222-4333-8444-555555555555"
#define S1 "nqn.2024-01.io.example:s1"
#define S2 "nqn.2024-01.io.example:s2"
#define S3 "nqn.2024-01.io.example:s3"
#define S4 "nqn.2024-01.io.example:s4"
#define U1 "3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d41"
#define N1 "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

static char srcdir[PATH_MAX];

struct fake {
	char root[PATH_MAX];
	struct sys sys;
	struct backend_host_config host;
	struct backend_ctx ctx;
	char opts[16][1024]; /* option strings written to /dev/nvme-fabrics */
	unsigned n_add;
	char writes[4096]; /* sysfs writes "path=data" relative to the root */
	/* behaviour of the next connect write */
	int add_errno, reach_errno;
	unsigned reach_calls;
	unsigned new_instance;
	char new_ns[512];     /* fake-kernel.sh ns ... args to run when it succeeds */
	int make_on_ealready; /* on -EALREADY, create the controller first (a racing connect) */
	int delete_sticks;    /* delete_controller leaves the controller there */
	/* auto_ctrl: each connect makes controller new_instance++ in subsystem new_subsys
	 * for the address it names (live); down: addresses that do not answer (reach) */
	int auto_ctrl;
	unsigned new_subsys;
	char down[4][64];
	/* what Identify returns: the target's namespaces (nsid, uuid, nguid; "" = none) */
	int identify_errno; /* default: -ENOTTY (cannot tell) */
	unsigned t_n, identify_calls;
	struct {
		uint32_t nsid;
		const char *uuid, *nguid;
	} t_ns[8];
	char bug[1024];
};

static void sh(struct fake *f, const char *fmt, ...) _printf_(2, 3);
static void sh(struct fake *f, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s/tests/fixtures/nvme/fake-kernel.sh '%s' %s", srcdir, f->root,
		 args);
	if (system(cmd) != 0)
		snprintf(f->bug + strlen(f->bug), sizeof(f->bug) - strlen(f->bug),
			 "fake kernel failed: %s\n", cmd);
}

static const char *rel(struct fake *f, const char *path)
{
	size_t l = strlen(f->root);

	return strncmp(path, f->root, l) == 0 ? path + l : path;
}

static int fake_write(const struct sys *s, const char *path, const char *data)
{
	struct fake *f = s->userdata;
	const char *r = rel(f, path);
	unsigned n;

	snprintf(f->writes + strlen(f->writes), sizeof(f->writes) - strlen(f->writes), "%s=%s\n", r,
		 data);
	if (sscanf(r, "/sys/class/nvme/nvme%u/delete_controller", &n) == 1) {
		if (access(path, F_OK) < 0)
			return -ENOENT;
		if (!f->delete_sticks)
			sh(f, "delete %u", n);
		return 0;
	}
	return sys_real_ops.write_file(s, path, data);
}

static int fake_add_ctrl(void *ud, const struct sys *s, const char *opts, char *reply, size_t n)
{
	struct fake *f = ud;

	if (f->n_add < 16)
		snprintf(f->opts[f->n_add], sizeof(f->opts[0]), "%s", opts);
	f->n_add++;
	if (f->add_errno == -EALREADY && f->make_on_ealready)
		sh(f, "ctrl %u 9 %s", f->new_instance, f->new_ns);
	if (f->add_errno)
		return f->add_errno;
	if (f->auto_ctrl) {
		char nqn[256] = "", addr[64] = "";
		unsigned port = 0;

		sscanf(opts, "nqn=%255[^,],transport=tcp,traddr=%63[^,],trsvcid=%u", nqn, addr,
		       &port);
		sh(f, "ctrl %u %u %s %s %u %s live", f->new_instance, f->new_subsys, nqn, addr,
		   port, HOSTNQN);
		snprintf(reply, n, "instance=%u,cntlid=%u\n", f->new_instance, f->new_instance);
		f->new_instance++;
		return 0;
	}
	sh(f, "ctrl %u 9 %s", f->new_instance, f->new_ns);
	snprintf(reply, n, "instance=%u,cntlid=1\n", f->new_instance);
	return 0;
}

static int fake_reach(void *ud, const char *addr, unsigned port, int timeout_ms)
{
	struct fake *f = ud;

	f->reach_calls++;
	if (timeout_ms <= 0)
		snprintf(f->bug + strlen(f->bug), sizeof(f->bug) - strlen(f->bug),
			 "reach without a timeout\n");
	for (size_t i = 0; i < sizeof(f->down) / sizeof(f->down[0]); i++)
		if (f->down[i][0] && strcmp(f->down[i], addr) == 0)
			return -ETIMEDOUT;
	return f->reach_errno;
}

static void put_desc(uint8_t *d, size_t *off, uint8_t type, const char *u)
{
	char hex[33];
	size_t k = 0;

	if (!u || !*u)
		return;
	for (const char *p = u; *p && k < 32; p++)
		if (*p != '-')
			hex[k++] = *p;
	hex[k] = 0;
	d[*off] = type;
	d[*off + 1] = 16;
	for (int i = 0; i < 16; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		d[*off + 4 + i] = (uint8_t)v;
	}
	*off += 20;
}

static int fake_identify(void *ud, const struct sys *s, unsigned instance, unsigned cns,
			 uint32_t nsid, void *buf, size_t len)
{
	struct fake *f = ud;
	uint8_t *d = buf;
	size_t off = 0;

	f->identify_calls++;
	if (f->identify_errno)
		return f->identify_errno;
	memset(buf, 0, len);
	if (cns == 2) {
		for (unsigned i = 0; i < f->t_n; i++)
			memcpy(d + 4 * i, &f->t_ns[i].nsid, 4); /* little endian host */
		return 0;
	}
	if (cns == 3) {
		for (unsigned i = 0; i < f->t_n; i++)
			if (f->t_ns[i].nsid == nsid) {
				/* an EUI-64 first, to be skipped */
				d[0] = 1;
				d[1] = 8;
				off = 12;
				put_desc(d, &off, 2, f->t_ns[i].nguid);
				put_desc(d, &off, 3, f->t_ns[i].uuid);
				return 0;
			}
		return -EIO;
	}
	return -EINVAL;
}

static const struct be_nvme_fabrics_ops fake_fabrics = {
    .add_ctrl = fake_add_ctrl,
    .reach = fake_reach,
    .identify = fake_identify,
};

static struct sys_ops fake_ops;

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	char cmd[PATH_MAX * 2 + 64];
	const char *s = getenv("SRCDIR");

	snprintf(srcdir, sizeof(srcdir), "%s", s && *s ? s : ".");
	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/attachd-nvme-test.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(cmd, sizeof(cmd), "cp -a '%s/tests/fixtures/nvme/sysfs/.' '%s/'", srcdir, f->root);
	assert_int_equal(system(cmd), 0);
	fake_ops = sys_real_ops;
	fake_ops.write_file = fake_write;
	f->sys = (struct sys){.sysfs_root = f->root,
			      .dev_root = f->root,
			      .proc_root = f->root,
			      .etc_root = f->root,
			      .ops = &fake_ops,
			      .userdata = f};
	f->ctx = (struct backend_ctx){.sys = &f->sys, .host = &f->host, .timeout_ms = 2000};
	f->new_instance = 7;
	f->identify_errno = -ENOTTY;
	sh(f, "boot 0b1e5c6a-0d2f-4e3a-9b8c-7d6e5f4a3b2c");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", f->root);
	if (f->bug[0]) {
		fprintf(stderr, "%s", f->bug);
		free(f);
		return -1;
	}
	free(f);
	return 0;
}

/* An attachment for opts (JSON), with the fake fabrics ops. */
static struct backend_attachment att(struct fake *f, const char *json)
{
	struct backend_attachment a = {.ops = &be_nvme_ops};
	struct errlist el = {0};
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	if (be_nvme_ops.parse(j, &a.cfg, &el) != 0)
		fail_msg("parse: %s", el.msg);
	json_decref(j);
	be_nvme_cfg_set_fabrics_ops(a.cfg, &fake_fabrics, f);
	return a;
}

/* Disconnect (the backend keeps in-process users per target across tests) and free. */
static void att_done(struct fake *f, struct backend_attachment *a)
{
	struct errbuf e;

	(void)be_nvme_ops.disconnect(&f->ctx, a, &e);
	be_nvme_ops.free_cfg(a->cfg);
	json_decref(a->objs);
}

/* Key k of the record: top level (subnqn, hostnqn, boot), else of the first controller
 * entry (traddr, ctrl, created, owned, ...). */
static json_t *objs_get(struct backend_attachment *a, const char *k)
{
	json_t *v = json_object_get(a->objs, k);

	return v ? v : json_object_get(be_nvme_objs_entry(a->objs, 0), k);
}

static const char *objs_str(struct backend_attachment *a, const char *k)
{
	return json_string_value(objs_get(a, k));
}

#define EXPECT_MSG(e, needle)                                                                      \
	do {                                                                                       \
		if (!strstr((e).msg, needle))                                                      \
			fail_msg("'%s' not in: %s", needle, (e).msg);                              \
	} while (0)

/* What a checkpoint saw: the objs at the moment the backend asked for them to be saved. */
struct cp_seen {
	unsigned calls;
	char ctrl[32];
	int owned;
	int fail;
	struct backend_attachment *a;
};

static int cp_record(const struct backend_ctx *ctx)
{
	struct cp_seen *c = ctx->checkpoint_ud;
	const char *ctrl = json_string_value(objs_get(c->a, "ctrl"));

	c->calls++;
	snprintf(c->ctrl, sizeof(c->ctrl), "%s", ctrl ? ctrl : "");
	c->owned = json_is_true(objs_get(c->a, "owned"));
	return c->fail;
}

/* A controller attachd makes is recorded (checkpoint) before connect returns, so a crash
 * before the step's end leaves the proof of ownership on disk; a reused one needs none. A
 * failed checkpoint fails the connect with the controller recorded for the rollback. */
static void test_new_controller_checkpointed(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2 "\",\"uuid\":\"" U1
		   "\"}");
	struct backend_attachment b =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct cp_seen cp = {.a = &a};
	struct errbuf e = {""};

	f->ctx.checkpoint = cp_record;
	f->ctx.checkpoint_ud = &cp;
	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(cp.calls, 1);
	assert_string_equal(cp.ctrl, "nvme7");
	assert_true(cp.owned);

	cp = (struct cp_seen){.a = &b};
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0); /* reuses nvme0 */
	assert_int_equal(f->n_add, 1);
	assert_int_equal(cp.calls, 0);

	/* the save fails: connect fails, and what it made is in objs for the undo */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	att_done(f, &a);
	a = att(f, "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2 "\",\"uuid\":\"" U1
		   "\"}");
	cp = (struct cp_seen){.a = &a, .fail = -ENOSPC};
	f->new_instance = 8;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -ENOSPC);
	EXPECT_MSG(e, "cannot record the new NVMe controller nvme8");
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme8/delete_controller=1\n");
	f->ctx.checkpoint = NULL;
	att_done(f, &a);
	att_done(f, &b);
}

static void test_reuse_live_controller(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct backend_device d;
	struct backend_identity id;
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 0);
	assert_int_equal(f->reach_calls, 0);
	assert_string_equal(objs_str(&a, "ctrl"), "nvme0");
	assert_false(json_is_true(objs_get(&a, "created")));
	assert_string_equal(objs_str(&a, "subnqn"), S1);
	assert_string_equal(objs_str(&a, "traddr"), "10.0.0.5");
	assert_int_equal(json_integer_value(objs_get(&a, "trsvcid")), 4420);

	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme1n1");
	assert_int_equal(d.major, 259);
	assert_int_equal(d.minor, 3);
	assert_true(strstr(d.devnode, "/dev/nvme1n1") != NULL);
	assert_true(strncmp(d.devnode, f->root, strlen(f->root)) == 0);

	assert_int_equal(be_nvme_ops.identify(&f->ctx, &a, &d, &id, &e), 0);
	assert_string_equal(id.wwid, "uuid." U1);
	assert_int_equal(id.size_bytes, 2097152ULL * 512);
	att_done(f, &a);
}

static void test_match_each_id_kind(void **state)
{
	struct fake *f = *state;
	struct {
		const char *json, *want;
	} cases[] = {
	    {"{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nsid\":2}", "nvme1n2"},
	    {"{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nguid\":\"" N1 "\"}", "nvme1n1"},
	    {"{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1
	     "\",\"nguid\":\"1F2E3D4C-5B6A-7980-A1B2-C3D4E5F60718\"}",
	     "nvme1n2"},
	    /* multipath off: the controller's own disk; IPv6 written another way */
	    {"{\"traddr\":\"fd00:0::7\",\"subnqn\":\"" S4 "\",\"nsid\":5}", "nvme4n1"},
	    {"{\"traddr\":\"fd00::7\",\"subnqn\":\"" S4
	     "\",\"uuid\":\"5a5a5a5a-0000-4000-8000-000000000005\"}",
	     "nvme4n1"},
	};

	struct backend_attachment a[sizeof(cases) / sizeof(cases[0])];

	/* all connected at once: each one's detach would delete a controller no one uses */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct backend_device d;
		struct errbuf e = {""};

		a[i] = att(f, cases[i].json);
		assert_int_equal(be_nvme_ops.connect(&f->ctx, &a[i], &e), 0);
		assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a[i], &d, &e), 0);
		assert_string_equal(d.sysname, cases[i].want);
	}
	assert_int_equal(f->n_add, 0);
	assert_string_equal(f->writes, "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_false(json_is_true(objs_get(&a[i], "owned")));
		att_done(f, &a[i]);
	}
	/* the controllers were there before attachd (the admin's): never deleted by it */
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 4), 1);
}

static void test_new_controller_option_string(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2 "\",\"uuid\":\"" U1
		   "\"}");
	struct backend_device d;
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->reach_calls, 1);
	assert_int_equal(f->n_add, 1);
	assert_string_equal(f->opts[0],
			    "nqn=" S2 ",transport=tcp,traddr=10.0.0.9,trsvcid=4430,"
			    "hostnqn=" HOSTNQN ",hostid=" HOSTID
			    ",ctrl_loss_tmo=600,reconnect_delay=10,fast_io_fail_tmo=30");
	assert_string_equal(objs_str(&a, "ctrl"), "nvme7");
	assert_true(json_is_true(objs_get(&a, "created")));
	assert_string_equal(objs_str(&a, "hostnqn"), HOSTNQN);

	/* the namespace is not there yet: -EAGAIN with what it waits for */
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
	EXPECT_MSG(e, "waiting for the namespace with uuid " U1 " of " S2 " on nvme7 (live)");
	sh(f, "ns 9 7 1 1 131072 259:9 " U1 " 00000000-0000-0000-0000-000000000000 uuid." U1);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme9n1");

	/* detach: nothing else uses it -> delete_controller, and it is gone */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 0);
	/* replay: nothing to do */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(f, &a);
}

static void test_host_identity(void **state)
{
	struct fake *f = *state;
	char nqn[256], id[64], p[PATH_MAX];
	struct errbuf e = {""};

	/* config wins; a uuid-form NQN gives its own host ID */
	snprintf(f->host.nvme_hostnqn, sizeof(f->host.nvme_hostnqn),
		 "nqn.2014-08.org.nvmexpress:uuid:AAAAAAAA-2222-4333-8444-555555555555");
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e), 0);
	assert_string_equal(nqn, f->host.nvme_hostnqn);
	assert_string_equal(id, "aaaaaaaa-2222-4333-8444-555555555555");
	/* a non-uuid NQN from config: no host ID (not /etc/nvme/hostid, which pairs with
	 * /etc/nvme/hostnqn) */
	snprintf(f->host.nvme_hostnqn, sizeof(f->host.nvme_hostnqn), "nqn.2024-01.io.example:h1");
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e), 0);
	assert_string_equal(id, "");
	/* bad config */
	snprintf(f->host.nvme_hostnqn, sizeof(f->host.nvme_hostnqn), "host-1");
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e),
			 -EINVAL);
	EXPECT_MSG(e, "\"host-1\" is not an NVMe qualified name");
	/* neither config nor file */
	f->host.nvme_hostnqn[0] = 0;
	snprintf(p, sizeof(p), "%s/etc/nvme/hostnqn", f->root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(be_nvme_host_identity(&f->ctx, nqn, sizeof(nqn), id, sizeof(id), &e),
			 -ENOKEY);
	EXPECT_MSG(e, "no NVMe host NQN");
	EXPECT_MSG(e, "/etc/nvme/hostnqn");
}

static void test_connect_without_hostnqn(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
	struct errbuf e = {""};
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/etc/nvme/hostnqn", f->root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -ENOKEY);
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(f, &a);
}

static void test_other_host_not_reused(void **state)
{
	struct fake *f = *state;
	/* nvme3 is S3 at the same address but for another host NQN */
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.7\",\"subnqn\":\"" S3 "\",\"nsid\":1}");
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.7 4420 %s live", S3, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 1);
	assert_string_equal(objs_str(&a, "ctrl"), "nvme7");
	att_done(f, &a);
}

static void test_deleting_controller_not_reused(void **state)
{
	struct fake *f = *state;
	/* nvme6 is S1 at 10.0.0.6 but being deleted */
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.6\",\"subnqn\":\"" S1 "\",\"nsid\":1}");
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.6 4420 %s live", S1, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 1);
	assert_string_equal(objs_str(&a, "ctrl"), "nvme7");
	att_done(f, &a);
}

static void test_ealready_reuses(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
	struct errbuf e = {""};

	f->add_errno = -EALREADY;
	f->make_on_ealready = 1;
	f->new_instance = 8;
	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4420 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_string_equal(objs_str(&a, "ctrl"), "nvme8");
	assert_false(json_is_true(objs_get(&a, "created")));
	att_done(f, &a);

	/* EALREADY but no such controller to be seen: an error, not a hang */
	a = att(f, "{\"traddr\":\"10.0.0.10\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
	f->make_on_ealready = 0;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -EALREADY);
	EXPECT_MSG(e, "already connected");
	att_done(f, &a);
}

static void test_connect_errors(void **state)
{
	struct fake *f = *state;
	struct {
		int reach, add;
		const char *needle;
	} cases[] = {
	    {-ECONNREFUSED, 0, "nothing listening at 10.0.0.9 port 4420 (connection refused)"},
	    {-ETIMEDOUT, 0, "no answer from 10.0.0.9 port 4420"},
	    {-EHOSTUNREACH, 0, "cannot reach 10.0.0.9"},
	    {0, -EIO, "subsystem " S2 " not offered by 10.0.0.9:4420"},
	    {0, -EINVAL, "subsystem " S2 " not offered by 10.0.0.9:4420"},
	    {0, -ECONNREFUSED, "nothing listening at 10.0.0.9 port 4420"},
	    {0, -ENOENT, "modprobe nvme-tcp"},
	    {0, -EKEYREJECTED, "requires authentication"},
	    {0, -EBUSY, "connecting to " S2 " at 10.0.0.9:4420 failed"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct backend_attachment a =
		    att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":1}");
		struct errbuf e = {""};
		unsigned before = f->n_add;
		int r;

		f->reach_errno = cases[i].reach;
		f->add_errno = cases[i].add;
		r = be_nvme_ops.connect(&f->ctx, &a, &e);
		assert_int_equal(r, cases[i].reach ? cases[i].reach : cases[i].add);
		EXPECT_MSG(e, cases[i].needle);
		/* refused before the kernel connect: no connect write at all */
		assert_int_equal(f->n_add, before + (cases[i].reach ? 0 : 1));
		assert_null(objs_str(&a, "ctrl"));
		/* the rollback finds nothing to undo */
		f->writes[0] = 0;
		assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
		assert_string_equal(f->writes, "");
		att_done(f, &a);
	}
}

static void test_find_device_controller_gone(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nsid\":9}");
	struct backend_device d;
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "not connected");
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN); /* no nsid 9 */
	sh(f, "delete 0");
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "nvme0");
	EXPECT_MSG(e, "is gone");
	/* and its number reused for another subsystem */
	sh(f, "ctrl 0 11 %s 10.0.0.9 4420 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -ENODEV);
	EXPECT_MSG(e, "now belongs to " S2);
	/* disconnect leaves the new owner alone */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(f, &a);
}

static void test_disconnect_keeps_when_other_ns_held(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	sh(f, "hold nvme1n2 dm-3");
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	att_done(f, &a);
}

static void test_disconnect_keeps_when_other_ns_mounted(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};
	char p[PATH_MAX];
	FILE *m;

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	snprintf(p, sizeof(p), "%s/proc/self/mountinfo", f->root);
	m = fopen(p, "a");
	assert_non_null(m);
	fprintf(m, "40 22 259:5 / /mnt/x rw,relatime shared:9 - ext4 /dev/nvme1n2 rw\n");
	fclose(m);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(f, &a);
}

#define S2_OPTS(id) "{\"traddr\":\"10.0.0.9\",\"trsvcid\":4430,\"subnqn\":\"" S2 "\"," id "}"

/* Connect a to S2 at 10.0.0.9:4430, which has no controller yet: attachd makes nvme7. */
static void connect_new(struct fake *f, struct backend_attachment *a)
{
	struct errbuf e = {""};

	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, a, &e), 0);
	assert_string_equal(objs_str(a, "ctrl"), "nvme7");
	assert_true(json_is_true(objs_get(a, "owned")));
}

static void test_disconnect_keeps_for_inflight_volume(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, S2_OPTS("\"uuid\":\"" U1 "\""));
	struct backend_attachment b = att(f, S2_OPTS("\"nsid\":2"));
	struct errbuf e = {""};

	/* b connected through a's (attachd's) controller and has no dm device yet */
	connect_new(f, &a);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0);
	assert_false(json_is_true(objs_get(&b, "created")));
	assert_true(json_is_true(objs_get(&b, "owned"))); /* known: a made it */
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	/* b goes too: the last one deletes attachd's controller */
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 0);
	att_done(f, &a);
	att_done(f, &b);
}

/* One namespace named by uuid and by nsid: the same device, the same identity string (the
 * agent dedupes on it). */
static void test_identity_same_namespace(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct backend_attachment b =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"nsid\":1}");
	struct backend_identity ia, ib;
	struct backend_device da, db;
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &da, &e), 0);
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &b, &db, &e), 0);
	assert_string_equal(da.sysname, db.sysname);
	assert_int_equal(be_nvme_ops.identify(&f->ctx, &a, &da, &ia, &e), 0);
	assert_int_equal(be_nvme_ops.identify(&f->ctx, &b, &db, &ib, &e), 0);
	assert_true(ia.wwid[0] != 0);
	assert_string_equal(ia.wwid, ib.wwid);
	att_done(f, &a);
	att_done(f, &b);
}

/* The admin connected the controller (nvme connect); attachd reused it: attachd's detach
 * leaves it, even with a record claiming ownership of another controller ID. */
static void test_admin_controller_never_deleted(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_string_equal(objs_str(&a, "ctrl"), "nvme0");
	assert_false(json_is_true(objs_get(&a, "created")));
	assert_false(json_is_true(objs_get(&a, "owned")));
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	/* a forged "owned" with another controller ID is not proof */
	json_object_set_new(be_nvme_objs_entry(a.objs, 0), "owned", json_true());
	json_object_set_new(be_nvme_objs_entry(a.objs, 0), "cntlid", json_integer(77));
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(f, &a);
}

/* attachd's controller deleted behind its back and the number reused by the admin's new
 * one (same target, same controller ID): the sysfs inode tells them apart. */
static void test_reused_instance_not_deleted(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs); /* the record, as a restarted agent reads it */
	{
		char old[PATH_MAX + 32], moved[PATH_MAX + 32];

		/* keep the old directory's inode in use, as kernfs never hands one out twice */
		snprintf(old, sizeof(old), "%s/sys/class/nvme/nvme7", f->root);
		snprintf(moved, sizeof(moved), "%s/nvme7.deleted", f->root);
		assert_int_equal(rename(old, moved), 0);
	}
	sh(f, "ctrl 7 9 %s 10.0.0.9 4430 %s live", S2, HOSTNQN);
	att_done(f, &a);
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 1);
	json_decref(b.objs);
}

/* A record from another boot names nothing live: nothing is deleted. */
static void test_record_from_other_boot(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};
	struct be_nvme_ctrl_ident id;

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs);
	att_done(f, &a); /* deletes nvme7: the kernel state after a reboot */
	sh(f, "ctrl 7 9 %s 10.0.0.9 4430 %s live", S2, HOSTNQN); /* the admin's, this boot */
	sh(f, "boot 99999999-0d2f-4e3a-9b8c-7d6e5f4a3b2c");
	/* even if controller ID and inode matched: the boot differs */
	assert_int_equal(be_nvme_sysfs_ctrl_ident(&f->sys, 7, S2, "10.0.0.9", 4430, HOSTNQN, &id),
			 0);
	json_object_set_new(be_nvme_objs_entry(b.objs, 0), "ctrl_ino",
			    json_integer((json_int_t)id.ino));
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "");
	json_decref(b.objs);
}

/* A restarted agent's record of attachd's own controller: still deleted at detach. */
static void test_restored_record_deletes_own(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs);
	/* forget the in-process users and knowledge, as a restart does: a's user entry goes
	 * (a disconnect that finds no controller recorded) and with it the target's slot */
	{
		struct backend_attachment forget = {.ops = &be_nvme_ops, .cfg = a.cfg};

		forget.objs = json_object();
		assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &forget, &e), 0);
		json_decref(forget.objs);
	}
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	att_done(f, &a);
	json_decref(b.objs);
}

static void test_disconnect_bounded_wait(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, S2_OPTS("\"nsid\":1"));
	struct errbuf e = {""};

	connect_new(f, &a);
	f->delete_sticks = 1;
	f->ctx.timeout_ms = 100;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), -ETIMEDOUT);
	EXPECT_MSG(e, "nvme7");
	EXPECT_MSG(e, "still there");
	f->delete_sticks = 0;
	sh(f, "delete 7");
	att_done(f, &a);
}

static void test_disconnect_restored_record(void **state)
{
	struct fake *f = *state;
	/* A record from before a crash between the connect write and "ctrl": nothing proves
	 * the controller the target has now attachd's (it may be the admin's): left alone. */
	struct backend_attachment a = {.ops = &be_nvme_ops};
	struct errbuf e = {""};

	a.objs = json_pack("{s:s, s:s, s:i, s:s, s:n, s:b}", "subnqn", S4, "traddr", "fd00::7",
			   "trsvcid", 4420, "hostnqn", HOSTNQN, "ctrl", "created", 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	/* nothing recorded at all and no options: nothing to do */
	json_decref(a.objs);
	a.objs = NULL;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
}

static void test_disconnect_without_objs_uses_options(void **state)
{
	struct fake *f = *state;
	/* The agent died after the kernel connect, before saving objs: nothing proves the
	 * controller attachd's, so it stays (a leak an admin can see, never a wrong delete). */
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"fd00::7\",\"subnqn\":\"" S4 "\",\"nsid\":5}");
	struct errbuf e = {""};

	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 4), 1);
	att_done(f, &a);
}

static void test_namespace_not_offered(void **state)
{
	struct fake *f = *state;
	struct {
		const char *json;
		int want;
	} cases[] = {
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":4}", -ENXIO},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":3}", -EAGAIN},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"uuid\":\"" U1 "\"}", -EAGAIN},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2
	     "\",\"uuid\":\"3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d42\"}",
	     -ENXIO},
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nguid\":\"" N1 "\"}", -EAGAIN},
	    /* a "uuid" that is the NGUID of a namespace without UUID (sysfs shows it so) */
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2
	     "\",\"uuid\":\"1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718\"}",
	     -EAGAIN},
	    /* but a uuid given as nguid is not an NGUID */
	    {"{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nguid\":\"" U1 "\"}", -ENXIO},
	};

	f->identify_errno = 0;
	f->t_n = 3;
	f->t_ns[0].nsid = 1;
	f->t_ns[0].uuid = U1;
	f->t_ns[1].nsid = 3;
	f->t_ns[1].nguid = N1;
	f->t_ns[2].nsid = 7;
	f->t_ns[2].nguid = "1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718";
	snprintf(f->new_ns, sizeof(f->new_ns), "%s 10.0.0.9 4420 %s live", S2, HOSTNQN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct backend_attachment a = att(f, cases[i].json);
		struct backend_device d;
		struct errbuf e = {""};
		unsigned calls;

		assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
		assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), cases[i].want);
		if (cases[i].want == -ENXIO) {
			EXPECT_MSG(e, "subsystem " S2 " at 10.0.0.9:4420 has no namespace with");
			EXPECT_MSG(e, "(it offers namespace IDs: 1, 3, 7)");
		} else {
			/* offered: asked once, then only sysfs is looked at */
			calls = f->identify_calls;
			assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
			assert_int_equal(f->identify_calls, calls);
		}
		att_done(f, &a);
	}
	/* cannot tell (old target, I/O error): keep waiting */
	f->identify_errno = -EIO;
	{
		struct backend_attachment a =
		    att(f, "{\"traddr\":\"10.0.0.9\",\"subnqn\":\"" S2 "\",\"nsid\":4}");
		struct backend_device d;
		struct errbuf e = {""};

		assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
		assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
		att_done(f, &a);
	}
}

static void test_sysfs_lookups(void **state)
{
	struct fake *f = *state;
	char held[64] = "";
	unsigned inst = 99;

	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S1, "10.0.0.5", 4420, HOSTNQN, &inst), 0);
	assert_int_equal(inst, 0);
	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S1, "10.0.0.5", 4421, HOSTNQN, &inst),
			 -ENOENT);
	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S1, "10.0.0.6", 4420, HOSTNQN, &inst),
			 -ENOENT); /* deleting */
	assert_int_equal(be_nvme_sysfs_find_ctrl(&f->sys, S3, "10.0.0.7", 4420, HOSTNQN, &inst),
			 -ENOENT); /* another host's */
	/* the PCIe subsystem's disk has a mounted partition */
	assert_int_equal(be_nvme_sysfs_ns_in_use(&f->sys, 2, held, sizeof(held)), 1);
	assert_string_equal(held, "nvme0n1p1");
	assert_int_equal(be_nvme_sysfs_ns_in_use(&f->sys, 0, held, sizeof(held)), 0);
	assert_int_equal(be_nvme_sysfs_ns_in_use(&f->sys, 42, held, sizeof(held)), 0);
}

#define MP_OPTS(id) "{\"traddr\":[\"10.0.0.9\",\"10.0.1.9\"],\"subnqn\":\"" S2 "\"," id "}"
#define MP_NS(ctrl)                                                                                \
	"ns 9 " #ctrl " 1 1 131072 259:9 " U1 " 00000000-0000-0000-0000-000000000000 uuid." U1

/* Two ports of S2, neither connected yet: attachd makes nvme7 and nvme8 under one head. */
static void mp_connect(struct fake *f, struct backend_attachment *a)
{
	struct errbuf e = {""};

	sh(f, "multipath Y");
	f->auto_ctrl = 1;
	f->new_subsys = 9;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, a, &e), 0);
}

static size_t paths(struct fake *f, struct backend_attachment *a, struct backend_path *p, int want)
{
	struct errbuf e = {""};
	size_t n = 0;

	assert_int_equal(be_nvme_ops.find_paths(&f->ctx, a, p, BACKEND_MAX_PATHS, &n, &e), want);
	return want == 0 ? n : 0;
}

/* Several traddrs: one controller per port, each recorded (and checkpointed) with its own
 * proof of ownership; the device is the subsystem's head disk; each controller is a path
 * with its state; detach deletes both. */
static void test_multipath_two_ports(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, MP_OPTS("\"uuid\":\"" U1 "\""));
	struct backend_path p[BACKEND_MAX_PATHS];
	struct backend_device d;
	struct cp_seen cp = {.a = &a};
	struct errbuf e = {""};
	char detail[64];
	json_t *ctrls;

	f->ctx.checkpoint = cp_record;
	f->ctx.checkpoint_ud = &cp;
	mp_connect(f, &a);
	assert_int_equal(f->n_add, 2);
	assert_int_equal(cp.calls, 2);
	assert_string_equal(f->opts[0], "nqn=" S2 ",transport=tcp,traddr=10.0.0.9,trsvcid=4420,"
					"hostnqn=" HOSTNQN ",hostid=" HOSTID
					",ctrl_loss_tmo=600,reconnect_delay=2,fast_io_fail_tmo=30");
	assert_string_equal(f->opts[1], "nqn=" S2 ",transport=tcp,traddr=10.0.1.9,trsvcid=4420,"
					"hostnqn=" HOSTNQN ",hostid=" HOSTID
					",ctrl_loss_tmo=600,reconnect_delay=2,fast_io_fail_tmo=30");
	ctrls = json_object_get(a.objs, "ctrls");
	assert_int_equal(json_array_size(ctrls), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *ent = json_array_get(ctrls, i);

		assert_string_equal(json_string_value(json_object_get(ent, "ctrl")),
				    i == 0 ? "nvme7" : "nvme8");
		assert_string_equal(json_string_value(json_object_get(ent, "traddr")),
				    i == 0 ? "10.0.0.9" : "10.0.1.9");
		assert_true(json_is_true(json_object_get(ent, "owned")));
		assert_true(json_integer_value(json_object_get(ent, "ctrl_ino")) != 0);
	}

	/* the head disk, with both controllers under it */
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), -EAGAIN);
	sh(f, MP_NS(7));
	sh(f, MP_NS(8));
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme9n1");

	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[0].id, "nvme7");
	assert_string_equal(p[0].where, "tcp 10.0.0.9:4420 " S2);
	assert_string_equal(p[0].wwid, "uuid." U1);
	assert_string_equal(p[0].dev.sysname, "nvme7");
	assert_string_equal(p[1].id, "nvme8");
	assert_string_equal(p[1].where, "tcp 10.0.1.9:4420 " S2);
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[0], detail, sizeof(detail)),
			 BACKEND_PATH_UP);
	assert_string_equal(detail, "nvme7 live");

	/* one port loses its connection: the kernel reconnects; the path is down, not gone */
	sh(f, "state 8 connecting");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], detail, sizeof(detail)),
			 BACKEND_PATH_DOWN);
	assert_string_equal(detail, "nvme8 connecting");
	sh(f, "state 8 resetting");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], NULL, 0),
			 BACKEND_PATH_DOWN);
	sh(f, "state 8 deleting");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], NULL, 0),
			 BACKEND_PATH_GONE);
	sh(f, "state 8 live");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[1], NULL, 0), BACKEND_PATH_UP);
	/* the device is still found while one controller is down */
	sh(f, "state 7 connecting");
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme9n1");
	sh(f, "state 7 live");

	/* detach: both controllers of ours go */
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n"
				       "/sys/class/nvme/nvme8/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 7), 0);
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 8), 0);
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0); /* replay */
	assert_string_equal(f->writes, "");
	f->ctx.checkpoint = NULL;
	att_done(f, &a);
}

/* A port that does not answer at attach time does not fail the attach; add_paths connects
 * it once it answers, and connects again a port whose controller the kernel gave up. */
static void test_multipath_port_down_then_joins(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, MP_OPTS("\"nsid\":1"));
	struct backend_path p[BACKEND_MAX_PATHS];
	struct errbuf e = {""};

	snprintf(f->down[0], sizeof(f->down[0]), "10.0.1.9");
	mp_connect(f, &a);
	assert_int_equal(f->n_add, 1);
	assert_int_equal(paths(f, &a, p, 0), 1);
	assert_string_equal(p[0].id, "nvme7");

	/* still down: named, with why; nothing else touched */
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), -EHOSTDOWN);
	EXPECT_MSG(e, "10.0.1.9: no answer from 10.0.1.9 port 4420");
	assert_int_equal(f->n_add, 1);
	/* it answers: connected and recorded; the path already there is left alone */
	f->down[0][0] = 0;
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 2);
	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[1].id, "nvme8");
	assert_true(json_is_true(
	    json_object_get(json_array_get(json_object_get(a.objs, "ctrls"), 1), "owned")));
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 2);

	/* the kernel deleted nvme7 (ctrl_loss_tmo): gone; add_paths makes a new one */
	sh(f, "delete 7");
	assert_int_equal(be_nvme_ops.path_transport(&f->ctx, &a, &p[0], NULL, 0),
			 BACKEND_PATH_GONE);
	assert_int_equal(paths(f, &a, p, 0), 1);
	assert_string_equal(p[0].id, "nvme8");
	assert_int_equal(be_nvme_ops.add_paths(&f->ctx, &a, &e), 0);
	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[0].id, "nvme9");

	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme9/delete_controller=1\n"
				       "/sys/class/nvme/nvme8/delete_controller=1\n");
	assert_int_equal(paths(f, &a, p, -EAGAIN), 0);
	att_done(f, &a);
}

/* No port answers: the attach fails naming each, and leaves nothing. */
static void test_multipath_all_ports_down(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, MP_OPTS("\"nsid\":1"));
	struct errbuf e = {""};

	sh(f, "multipath Y");
	snprintf(f->down[0], sizeof(f->down[0]), "10.0.0.9");
	snprintf(f->down[1], sizeof(f->down[1]), "10.0.1.9");
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -ETIMEDOUT);
	EXPECT_MSG(e, "no port of " S2 " could be connected");
	EXPECT_MSG(e, "10.0.0.9: no answer from 10.0.0.9 port 4420");
	EXPECT_MSG(e, "10.0.1.9: no answer from 10.0.1.9 port 4420");
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(f, &a);
}

/* Several traddrs without the kernel's native multipath: refused before anything is
 * connected, saying what to do; one traddr does not need it. */
static void test_multipath_off_refused(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, MP_OPTS("\"nsid\":1"));
	struct backend_attachment b =
	    att(f, "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct errbuf e = {""};

	sh(f, "multipath N");
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -EOPNOTSUPP);
	EXPECT_MSG(e, "nvme_core.multipath=Y");
	EXPECT_MSG(e, "or give one traddr");
	assert_int_equal(f->reach_calls, 0);
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &b, &e), 0); /* one port: fine */
	att_done(f, &b);
	/* a kernel without native multipath at all */
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/sys/module/nvme_core/parameters/multipath", f->root);
		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), -EOPNOTSUPP);
	EXPECT_MSG(e, "CONFIG_NVME_MULTIPATH");
	assert_int_equal(f->n_add, 0);
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "");
	att_done(f, &a);
}

/* One port reuses the admin's controller, the other gets attachd's: ownership is per
 * controller, so detach deletes only attachd's, and both are paths of the volume. */
static void test_multipath_ownership_per_controller(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a =
	    att(f, "{\"traddr\":\"10.0.0.5,10.0.1.5\",\"subnqn\":\"" S1 "\",\"uuid\":\"" U1 "\"}");
	struct backend_path p[BACKEND_MAX_PATHS];
	struct backend_device d;
	struct errbuf e = {""};
	json_t *ctrls;

	sh(f, "multipath Y");
	f->auto_ctrl = 1;
	f->new_subsys = 1;
	assert_int_equal(be_nvme_ops.connect(&f->ctx, &a, &e), 0);
	assert_int_equal(f->n_add, 1);
	ctrls = json_object_get(a.objs, "ctrls");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ctrls, 0), "ctrl")),
			    "nvme0");
	assert_false(json_is_true(json_object_get(json_array_get(ctrls, 0), "owned")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(ctrls, 1), "ctrl")),
			    "nvme7");
	assert_true(json_is_true(json_object_get(json_array_get(ctrls, 1), "owned")));
	assert_int_equal(be_nvme_ops.find_device(&f->ctx, &a, &d, &e), 0);
	assert_string_equal(d.sysname, "nvme1n1");
	assert_int_equal(paths(f, &a, p, 0), 2);
	assert_string_equal(p[0].wwid, "uuid." U1); /* nvme1c0n1 */
	assert_string_equal(p[1].wwid, "");	    /* nvme7 has not scanned it yet */

	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &a, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	assert_int_equal(be_nvme_sysfs_ctrl_exists(&f->sys, 0), 1);
	att_done(f, &a);
}

/* A record written before multipath (one controller, keys at the top level) still undoes
 * what it names after an upgrade and restart. */
static void test_legacy_record_deletes_own(void **state)
{
	struct fake *f = *state;
	struct backend_attachment a = att(f, S2_OPTS("\"nsid\":1"));
	struct backend_attachment b = {.ops = &be_nvme_ops};
	struct errbuf e = {""};
	const char *k;
	json_t *v;

	connect_new(f, &a);
	b.objs = json_deep_copy(a.objs);
	json_object_foreach(be_nvme_objs_entry(a.objs, 0), k, v) json_object_set(b.objs, k, v);
	json_object_del(b.objs, "ctrls");
	assert_int_equal(be_nvme_objs_n(b.objs), 1);
	{
		struct backend_attachment forget = {.ops = &be_nvme_ops, .cfg = a.cfg};

		forget.objs = json_object();
		assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &forget, &e), 0);
		json_decref(forget.objs);
	}
	f->writes[0] = 0;
	assert_int_equal(be_nvme_ops.disconnect(&f->ctx, &b, &e), 0);
	assert_string_equal(f->writes, "/sys/class/nvme/nvme7/delete_controller=1\n");
	att_done(f, &a);
	json_decref(b.objs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reuse_live_controller, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_match_each_id_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_controller_checkpointed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_controller_option_string, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_without_hostnqn, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_host_not_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deleting_controller_not_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ealready_reuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_find_device_controller_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_keeps_when_other_ns_held, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_keeps_when_other_ns_mounted, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_keeps_for_inflight_volume, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_admin_controller_never_deleted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_same_namespace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reused_instance_not_deleted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_from_other_boot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restored_record_deletes_own, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_bounded_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_restored_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_without_objs_uses_options, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_namespace_not_offered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sysfs_lookups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_two_ports, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_port_down_then_joins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_all_ports_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_off_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multipath_ownership_per_controller, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_legacy_record_deletes_own, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
