/* SPDX-License-Identifier: Apache-2.0 */
/* The nvme backend's fake kernel for unit tests: see nvmefake.h. */
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

#include "tests/lib/nvmefake.h"

static char srcdir[PATH_MAX];

void fake_sh(struct fake *f, const char *fmt, ...)
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
		f->watch_armed_at_delete = f->watch_open > f->watch_close;
		if (f->delete_late)
			f->late_ctrl = n;
		else if (!f->delete_sticks)
			fake_sh(f, "delete %u", n);
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
		fake_sh(f, "ctrl %u 9 %s", f->new_instance, f->new_ns);
	if (f->add_errno)
		return f->add_errno;
	if (f->auto_ctrl) {
		char nqn[256] = "", addr[64] = "";
		unsigned port = 0;

		sscanf(opts, "nqn=%255[^,],transport=tcp,traddr=%63[^,],trsvcid=%u", nqn, addr,
		       &port);
		fake_sh(f, "ctrl %u %u %s %s %u %s live", f->new_instance, f->new_subsys, nqn, addr,
			port, HOSTNQN);
		snprintf(reply, n, "instance=%u,cntlid=%u\n", f->new_instance, f->new_instance);
		f->new_instance++;
		return 0;
	}
	fake_sh(f, "ctrl %u 9 %s", f->new_instance, f->new_ns);
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

static int fake_watch_open(void *ud, const struct sys *s _unused_, void **ret)
{
	struct fake *f = ud;

	if (f->watch_errno)
		return f->watch_errno;
	f->watch_open++;
	*ret = f;
	return 0;
}

/* One uevent per call, at once (no real waiting); a controller that never goes gives the
 * deadline instead, as the real watch would after deadline_ms. */
static int fake_watch_next(void *ud, void *w, int64_t deadline_ms)
{
	struct fake *f = ud;

	if (w != f || deadline_ms <= 0)
		snprintf(f->bug + strlen(f->bug), sizeof(f->bug) - strlen(f->bug),
			 "watch_next without the watch or a deadline\n");
	if (f->delete_sticks) {
		f->watch_timeouts++;
		return -ETIMEDOUT;
	}
	f->watch_events++;
	if (f->delete_late && f->watch_events >= f->delete_late) {
		fake_sh(f, "delete %u", f->late_ctrl);
		f->delete_late = 0;
	}
	return 0;
}

static void fake_watch_close(void *ud, void *w)
{
	struct fake *f = ud;

	if (w != f)
		snprintf(f->bug + strlen(f->bug), sizeof(f->bug) - strlen(f->bug),
			 "watch_close of another watch\n");
	f->watch_close++;
}

static const struct be_nvme_fabrics_ops fake_fabrics = {
    .add_ctrl = fake_add_ctrl,
    .reach = fake_reach,
    .identify = fake_identify,
    .watch_open = fake_watch_open,
    .watch_next = fake_watch_next,
    .watch_close = fake_watch_close,
};

static struct sys_ops fake_ops;

int fake_setup(void **state)
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
	fake_sh(f, "boot 0b1e5c6a-0d2f-4e3a-9b8c-7d6e5f4a3b2c");
	*state = f;
	return 0;
}

int fake_teardown(void **state)
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
struct backend_attachment fake_att(struct fake *f, const char *json)
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
void fake_att_done(struct fake *f, struct backend_attachment *a)
{
	struct errbuf e;

	(void)be_nvme_ops.disconnect(&f->ctx, a, &e);
	be_nvme_ops.free_cfg(a->cfg);
	json_decref(a->objs);
}

/* Key k of the record: top level (subnqn, hostnqn, boot), else of the first controller
 * entry (traddr, ctrl, created, owned, ...). */
json_t *fake_objs_get(struct backend_attachment *a, const char *k)
{
	json_t *v = json_object_get(a->objs, k);

	return v ? v : json_object_get(be_nvme_objs_entry(a->objs, 0), k);
}

const char *fake_objs_str(struct backend_attachment *a, const char *k)
{
	return json_string_value(fake_objs_get(a, k));
}

int fake_cp_record(const struct backend_ctx *ctx)
{
	struct cp_seen *c = ctx->checkpoint_ud;
	const char *ctrl = json_string_value(fake_objs_get(c->a, "ctrl"));

	c->calls++;
	snprintf(c->ctrl, sizeof(c->ctrl), "%s", ctrl ? ctrl : "");
	c->owned = json_is_true(fake_objs_get(c->a, "owned"));
	return c->fail;
}
