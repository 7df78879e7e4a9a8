/* SPDX-License-Identifier: Apache-2.0 */
/* attach/fence: acquiring, releasing and checking a reservation against a model of an
 * SPC-3 target behind the kernel seam (struct sys_ops pr_* and scsi_pr_in). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attach/fence.h"
#include "attach/internal.h"

#define OURS 0x1111111111111111ULL
#define THEIRS 0x2222222222222222ULL
#define STALE 0x3333333333333333ULL
#define DEV "/dev/dm-3"

/* One registration per key (one I_T nexus per host is enough for the decisions). */
struct target {
	bool no_pr;   /* PERSISTENT RESERVE IN answers ILLEGAL REQUEST */
	bool no_full; /* READ FULL STATUS not supported */
	bool corrupt; /* READ KEYS answers a length that does not add up */
	bool race;    /* THEIRS registers and reserves just before our RESERVE */
	bool reg_eio; /* REGISTER fails (LIO without a writable APTPL store) */
	bool ua;      /* the next PERSISTENT RESERVE IN reports a unit attention */
	uint64_t regs[8];
	size_t nregs;
	bool held;
	uint64_t holder;
	unsigned type; /* SCSI type */
	uint32_t gen;
	char log[512];
};

static struct target *T(const struct sys *s)
{
	return s->userdata;
}

static void logf_(struct target *t, const char *what, uint64_t k)
{
	size_t l = strlen(t->log);

	snprintf(t->log + l, sizeof(t->log) - l, "%s %04llx;", what,
		 (unsigned long long)(k & 0xffff));
}

static bool is_reg(struct target *t, uint64_t k)
{
	for (size_t i = 0; i < t->nregs; i++)
		if (t->regs[i] == k)
			return true;
	return false;
}

static void add_reg(struct target *t, uint64_t k)
{
	if (!is_reg(t, k))
		t->regs[t->nregs++] = k;
	t->gen++;
}

static void del_reg(struct target *t, uint64_t k)
{
	for (size_t i = 0; i < t->nregs; i++)
		if (t->regs[i] == k) {
			t->regs[i] = t->regs[--t->nregs];
			i--;
		}
	if (t->held && t->holder == k)
		t->held = false;
	t->gen++;
}

static const char *iqn_of(uint64_t k)
{
	return k == OURS     ? "iqn.2026-12.io.attachd:cell-b"
	       : k == THEIRS ? "iqn.2026-12.io.attachd:cell-a"
			     : "iqn.2026-12.io.attachd:old";
}

static int f_register(const struct sys *s, const char *dev, uint64_t old_key, uint64_t new_key,
		      bool ignore)
{
	struct target *t = T(s);

	logf_(t, new_key ? "register" : "unregister", new_key ? new_key : old_key);
	if (t->no_pr)
		return -EOPNOTSUPP;
	if (t->reg_eio)
		return -EIO;
	if (new_key == 0) {
		if (!is_reg(t, old_key))
			return ignore ? 0 : -EBADE;
		del_reg(t, old_key);
		return 0;
	}
	add_reg(t, new_key);
	return 0;
}

static int f_reserve(const struct sys *s, const char *dev, uint64_t key, unsigned type)
{
	struct target *t = T(s);

	assert_int_equal(type, SYS_PR_WRITE_EXCLUSIVE_REG_ONLY);
	logf_(t, "reserve", key);
	if (t->race) {
		t->race = false;
		add_reg(t, THEIRS);
		t->held = true;
		t->holder = THEIRS;
		t->type = 5;
	}
	if (!is_reg(t, key) || (t->held && t->holder != key))
		return -EBADE;
	t->held = true;
	t->holder = key;
	t->type = 5;
	return 0;
}

static int f_release(const struct sys *s, const char *dev, uint64_t key, unsigned type)
{
	struct target *t = T(s);

	logf_(t, "release", key);
	if (t->held && t->holder == key)
		t->held = false;
	return 0;
}

static int f_preempt(const struct sys *s, const char *dev, uint64_t old_key, uint64_t new_key,
		     unsigned type, bool abort)
{
	struct target *t = T(s);
	bool was_holder = t->held && t->holder == old_key;

	logf_(t, abort ? "preempt-abort" : "preempt", old_key);
	if (!is_reg(t, new_key))
		return -EBADE;
	if (old_key == new_key) {
		/* our own key: stale nexuses go (one per key in this model), we hold */
		assert_false(abort);
		if (was_holder)
			t->holder = new_key;
		t->gen++;
		return 0;
	}
	assert_true(abort);
	del_reg(t, old_key);
	if (was_holder) {
		t->held = true;
		t->holder = new_key;
		t->type = 5;
	}
	return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, (uint32_t)v);
}

static int f_pr_in(const struct sys *s, const char *dev, unsigned sa, unsigned char *buf,
		   size_t len, int timeout_ms, size_t *ret_len)
{
	struct target *t = T(s);
	unsigned char a[2048] = {0};
	size_t n = 8;

	assert_string_equal(dev, DEV);
	if (t->ua) {
		t->ua = false;
		return -EAGAIN;
	}
	if (t->no_pr || (sa == SYS_PR_IN_READ_FULL_STATUS && t->no_full))
		return -EOPNOTSUPP;
	put32(a, t->gen);
	if (sa == SYS_PR_IN_READ_KEYS) {
		for (size_t i = 0; i < t->nregs; i++, n += 8)
			put64(a + n, t->regs[i]);
		if (t->corrupt)
			n -= 4;
	} else if (sa == SYS_PR_IN_READ_RESERVATION) {
		if (t->held) {
			put64(a + 8, t->holder);
			a[8 + 13] = (unsigned char)t->type;
			n += 16;
		}
	} else {
		for (size_t i = 0; i < t->nregs; i++) {
			const char *iqn = iqn_of(t->regs[i]);
			size_t nl = strlen(iqn) + 1, add = (nl + 3) & ~(size_t)3;
			unsigned char *d = a + n;

			put64(d, t->regs[i]);
			d[12] = t->held && t->holder == t->regs[i];
			d[13] = d[12] ? (unsigned char)t->type : 0;
			put32(d + 20, (uint32_t)(4 + add));
			d[24] = 0x05;
			d[27] = (unsigned char)add;
			memcpy(d + 28, iqn, nl);
			n += 24 + 4 + add;
		}
	}
	put32(a + 4, (uint32_t)(n - 8 + (t->corrupt ? 4 : 0)));
	memcpy(buf, a, n < len ? n : len);
	*ret_len = n < len ? n : len;
	return 0;
}

static const struct sys_ops pr_ops = {
    .pr_register = f_register,
    .pr_reserve = f_reserve,
    .pr_release = f_release,
    .pr_preempt = f_preempt,
    .scsi_pr_in = f_pr_in,
};

static const struct sys_ops no_pr_ops = {0};

struct fx {
	struct target t;
	struct sys s;
	struct attach_fence_input in;
	struct attach_fence_plan p;
	struct errbuf e;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->s = (struct sys){.ops = &pr_ops, .userdata = &f->t};
	f->in = (struct attach_fence_input){.volume = "vol1", .our_key = OURS, .readwrite = true};
}

static int acquire(struct fx *f)
{
	return attach_fence_acquire(&f->s, DEV, &f->in, 1000, &f->p, &f->e);
}

static void theirs_holds(struct fx *f)
{
	add_reg(&f->t, THEIRS);
	f->t.held = true;
	f->t.holder = THEIRS;
	f->t.type = 5;
}

static void test_free_volume_reserved(void **state)
{
	struct fx f;

	fx_init(&f);
	assert_int_equal(acquire(&f), 0);
	assert_int_equal(f.p.action, ATTACH_FENCE_RESERVE);
	assert_string_equal(f.t.log, "register 1111;reserve 1111;");
	assert_true(f.t.held && f.t.holder == OURS);
	assert_int_equal(attach_fence_check(&f.s, DEV, OURS, 1000, &f.e), 1);
}

static void test_readonly_touches_nothing(void **state)
{
	struct fx f;

	fx_init(&f);
	theirs_holds(&f);
	f.in.readwrite = false;
	assert_int_equal(acquire(&f), 0);
	assert_int_equal(f.p.action, ATTACH_FENCE_NONE);
	assert_string_equal(f.t.log, "");
	assert_false(is_reg(&f.t, OURS));
}

static void test_held_elsewhere_refused(void **state)
{
	struct fx f;

	fx_init(&f);
	theirs_holds(&f);
	assert_int_equal(acquire(&f), -EBUSY);
	assert_non_null(strstr(f.e.msg, "initiator iqn.2026-12.io.attachd:cell-a"));
	assert_non_null(strstr(f.e.msg, "attachctl takeover vol1"));
	/* nothing registered: we cannot write under their reservation */
	assert_string_equal(f.t.log, "");
	assert_false(is_reg(&f.t, OURS));
	assert_true(f.t.holder == THEIRS);

	/* without READ FULL STATUS the key names the holder */
	fx_init(&f);
	theirs_holds(&f);
	f.t.no_full = true;
	assert_int_equal(acquire(&f), -EBUSY);
	assert_non_null(strstr(f.e.msg, "key 0x2222222222222222 holds"));
}

static void test_takeover_fences_holder(void **state)
{
	struct fx f;

	fx_init(&f);
	theirs_holds(&f);
	f.in.takeover = true;
	assert_int_equal(acquire(&f), 0);
	assert_int_equal(f.p.action, ATTACH_FENCE_PREEMPT);
	assert_string_equal(f.p.previous_holder,
			    "initiator iqn.2026-12.io.attachd:cell-a (key 0x2222222222222222)");
	assert_string_equal(f.t.log, "register 1111;preempt-abort 2222;");
	assert_true(f.t.holder == OURS);
	assert_false(is_reg(&f.t, THEIRS)); /* its writes now conflict */

	/* the old holder's recovery check reports the loss, naming us */
	assert_int_equal(attach_fence_check(&f.s, DEV, THEIRS, 1000, &f.e), 0);
	assert_non_null(strstr(f.e.msg, "no longer holds the reservation"));
	assert_non_null(strstr(f.e.msg, "iqn.2026-12.io.attachd:cell-b"));
}

static void test_lost_race_refused_and_unregistered(void **state)
{
	struct fx f;

	fx_init(&f);
	f.t.race = true;
	assert_int_equal(acquire(&f), -EBUSY);
	assert_non_null(strstr(f.e.msg, "iqn.2026-12.io.attachd:cell-a"));
	assert_string_equal(f.t.log, "register 1111;reserve 1111;unregister 1111;");
	assert_false(is_reg(&f.t, OURS));
	assert_true(f.t.holder == THEIRS);
}

static void test_stale_registrations_removed(void **state)
{
	struct fx f;

	fx_init(&f);
	add_reg(&f.t, STALE);
	assert_int_equal(acquire(&f), 0);
	assert_int_equal(f.p.action, ATTACH_FENCE_RESERVE);
	assert_string_equal(f.t.log, "register 1111;reserve 1111;preempt-abort 3333;");
	assert_false(is_reg(&f.t, STALE));
	assert_true(f.t.holder == OURS);
}

static void test_still_ours_after_restart(void **state)
{
	struct fx f;

	fx_init(&f);
	add_reg(&f.t, OURS);
	f.t.held = true;
	f.t.holder = OURS;
	f.t.type = 5;
	assert_int_equal(acquire(&f), 0);
	assert_int_equal(f.p.action, ATTACH_FENCE_HELD);
	/* the reservation moves to this nexus (a stale one from before a reboot could not be
	 * released from here), every path registered again */
	assert_string_equal(f.t.log, "register 1111;preempt 1111;register 1111;");
	assert_true(f.t.held && f.t.holder == OURS && is_reg(&f.t, OURS));
}

static void test_no_pr(void **state)
{
	struct fx f;

	fx_init(&f);
	f.t.no_pr = true;
	assert_int_equal(acquire(&f), 0);
	assert_int_equal(f.p.action, ATTACH_FENCE_UNFENCED);
	assert_string_equal(f.p.note, "fencing: unsupported by target");
	f.in.mode = ATTACH_FENCING_REQUIRED;
	assert_int_equal(acquire(&f), -EOPNOTSUPP);
	assert_non_null(strstr(f.e.msg, "fencing is required"));
	assert_int_equal(attach_fence_check(&f.s, DEV, OURS, 1000, &f.e), -EOPNOTSUPP);
	assert_int_equal(attach_fence_release(&f.s, DEV, OURS, 1000, &f.e), 0);

	/* a device (or fake) without the ops at all */
	fx_init(&f);
	f.s.ops = &no_pr_ops;
	assert_int_equal(acquire(&f), 0);
	assert_int_equal(f.p.action, ATTACH_FENCE_UNFENCED);
}

static void test_release_idempotent(void **state)
{
	struct fx f;

	fx_init(&f);
	assert_int_equal(acquire(&f), 0);
	f.t.log[0] = 0;
	assert_int_equal(attach_fence_release(&f.s, DEV, OURS, 1000, &f.e), 0);
	assert_string_equal(f.t.log, "release 1111;unregister 1111;");
	assert_false(f.t.held);
	assert_int_equal(f.t.nregs, 0);
	f.t.log[0] = 0;
	assert_int_equal(attach_fence_release(&f.s, DEV, OURS, 1000, &f.e), 0);
	assert_string_equal(f.t.log, "");
	assert_int_equal(attach_fence_check(&f.s, DEV, OURS, 1000, &f.e), 0);
	assert_non_null(strstr(f.e.msg, "nobody holds it"));

	/* released after a takeover took it: leaves the new holder alone */
	fx_init(&f);
	theirs_holds(&f);
	assert_int_equal(attach_fence_release(&f.s, DEV, OURS, 1000, &f.e), 0);
	assert_string_equal(f.t.log, "");
	assert_true(f.t.held && f.t.holder == THEIRS);
}

static void test_malformed_answer(void **state)
{
	struct fx f;

	fx_init(&f);
	add_reg(&f.t, STALE);
	f.t.corrupt = true;
	assert_int_equal(acquire(&f), -EBADMSG);
	assert_non_null(strstr(f.e.msg, "READ KEYS: malformed answer"));
	assert_string_equal(f.t.log, "");
}

/* A target with many registrants: READ FULL STATUS is longer than the first allocation
 * length, and the holder is the last descriptor. */
static size_t long_lens[4], n_long;

static int f_pr_in_long(const struct sys *s, const char *dev, unsigned sa, unsigned char *buf,
			size_t len, int timeout_ms, size_t *ret_len)
{
	static unsigned char a[16384];
	size_t n = 8;

	memset(a, 0, sizeof(a));
	if (sa == SYS_PR_IN_READ_KEYS) {
		put64(a + 8, THEIRS);
		n += 8;
	} else if (sa == SYS_PR_IN_READ_RESERVATION) {
		put64(a + 8, THEIRS);
		a[8 + 13] = 5;
		n += 16;
	} else {
		long_lens[n_long++ % 4] = len;
		for (int i = 0; i < 26; i++) {
			unsigned char *d = a + n;
			char iqn[224];
			size_t nl, add;

			if (i < 25)
				snprintf(iqn, sizeof(iqn),
					 "iqn.2026-12.io.example:reader-%03d-%0180d", i, 0);
			else
				snprintf(iqn, sizeof(iqn), "iqn.2026-12.io.attachd:cell-a");
			nl = strlen(iqn) + 1;
			add = (nl + 3) & ~(size_t)3;
			put64(d, i < 25 ? STALE + (uint64_t)i : THEIRS);
			d[12] = i == 25;
			d[13] = i == 25 ? 5 : 0;
			put32(d + 20, (uint32_t)(4 + add));
			d[24] = 0x05;
			d[26] = (unsigned char)(add >> 8);
			d[27] = (unsigned char)add;
			memcpy(d + 28, iqn, nl);
			n += 24 + 4 + add;
		}
	}
	put32(a + 4, (uint32_t)(n - 8));
	memcpy(buf, a, n < len ? n : len);
	*ret_len = n < len ? n : len;
	return 0;
}

static const struct sys_ops long_ops = {
    .pr_register = f_register,
    .pr_reserve = f_reserve,
    .pr_release = f_release,
    .pr_preempt = f_preempt,
    .scsi_pr_in = f_pr_in_long,
};

static void test_long_full_status_read_whole(void **state)
{
	struct fx f;

	fx_init(&f);
	f.s.ops = &long_ops;
	n_long = 0;
	assert_int_equal(acquire(&f), -EBUSY);
	assert_non_null(strstr(f.e.msg, "initiator iqn.2026-12.io.attachd:cell-a"));
	/* asked again with the length the target reported */
	assert_int_equal(n_long, 2);
	assert_int_equal(long_lens[0], 4096);
	assert_true(long_lens[1] > 4096);
}

/* ---- the pipeline's fence steps (attach/pipeline_fence.c) on a volume ---- */

static const struct backend_ops be_pr = {.name = "fake-pr", .fence_by_reservation = 1};
static const struct backend_ops be_plain = {.name = "fake-plain"};

struct pfx {
	struct target t;
	struct attach_env env;
	struct attach_volume v;
	struct errbuf e;
	char note[256];
};

static void pfx_init(struct pfx *f, const struct backend_ops *be)
{
	memset(f, 0, sizeof(*f));
	f->env.sys = (struct sys){.ops = &pr_ops, .userdata = &f->t};
	f->env.fencing_key = OURS;
	f->env.connect_timeout_ms = 1000;
	snprintf(f->v.key, sizeof(f->v.key), "vol1");
	snprintf(f->v.dm_devnode, sizeof(f->v.dm_devnode), DEV);
	f->v.opts.be = be;
	f->v.reached = STEP_MOUNT;
}

static void test_step_fence_reserves_and_unfence_releases(void **state)
{
	struct pfx f;

	pfx_init(&f, &be_pr);
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_HELD);
	assert_true(f.v.fence_key == OURS);
	assert_string_equal(f.note, "");
	assert_true(f.t.held && f.t.holder == OURS);
	assert_int_equal(attach_volume_fence_check(&f.env, &f.v, &f.e), 1);
	assert_int_equal(attach_fence_down(&f.env, &f.v, &f.e), 0);
	assert_string_equal(f.e.msg, "");
	assert_false(f.t.held);
	assert_int_equal(f.t.nregs, 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_NONE);
	/* again (a replayed record): nothing to do, nothing sent */
	f.t.log[0] = 0;
	assert_int_equal(attach_fence_down(&f.env, &f.v, &f.e), 0);
	assert_string_equal(f.t.log, "");
}

static void test_step_fence_refused_names_holder_changes_nothing(void **state)
{
	struct pfx f;

	pfx_init(&f, &be_pr);
	add_reg(&f.t, THEIRS);
	f.t.held = true;
	f.t.holder = THEIRS;
	f.t.type = 5;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), -EBUSY);
	assert_non_null(strstr(f.e.msg, "initiator iqn.2026-12.io.attachd:cell-a"));
	assert_non_null(strstr(f.e.msg, "attachctl takeover vol1"));
	assert_non_null(strstr(f.e.msg, "takeover: true"));
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_NONE);
	/* the holder keeps it, our registration is gone again */
	assert_true(f.t.held && f.t.holder == THEIRS);
	assert_false(is_reg(&f.t, OURS));
	/* the rollback's unfence then sends nothing (not ours) */
	f.t.log[0] = 0;
	assert_int_equal(attach_fence_down(&f.env, &f.v, &f.e), 0);
	assert_string_equal(f.t.log, "");
	assert_true(f.t.held && f.t.holder == THEIRS);
}

static void test_step_fence_takeover(void **state)
{
	struct pfx f;

	pfx_init(&f, &be_pr);
	add_reg(&f.t, THEIRS);
	f.t.held = true;
	f.t.holder = THEIRS;
	f.t.type = 5;
	f.v.takeover_once = 1;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_HELD);
	assert_non_null(strstr(f.v.took_over_from, "iqn.2026-12.io.attachd:cell-a"));
	assert_true(f.t.held && f.t.holder == OURS);
	assert_false(is_reg(&f.t, THEIRS));
}

static void test_fence_lost_then_takeover_back(void **state)
{
	struct pfx f;

	pfx_init(&f, &be_pr);
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	/* another host preempts us */
	del_reg(&f.t, OURS);
	add_reg(&f.t, THEIRS);
	f.t.held = true;
	f.t.holder = THEIRS;
	f.t.type = 5;
	f.t.ua = true; /* REGISTRATIONS PREEMPTED: reported once to our nexus */
	assert_int_equal(attach_volume_fence_check(&f.env, &f.v, &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_LOST);
	assert_non_null(strstr(f.v.fence_detail, "cell-a"));
	assert_string_equal(attach_fence_status_name(f.v.fence_status), "lost");
	/* attachctl takeover on the attached volume: ours again */
	assert_int_equal(attach_volume_fence_takeover(&f.env, &f.v, &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_HELD);
	assert_non_null(strstr(f.v.took_over_from, "cell-a"));
	assert_true(f.t.held && f.t.holder == OURS);
}

static void test_step_fence_readonly_off_unsupported(void **state)
{
	struct pfx f;

	pfx_init(&f, &be_pr);
	f.v.opts.readonly = 1;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_READONLY);
	assert_string_equal(f.t.log, "");

	pfx_init(&f, &be_pr);
	f.v.opts.fencing = ATTACH_FENCING_OFF;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_OFF);
	assert_string_equal(f.note, "fencing: off");
	assert_string_equal(f.t.log, "");

	pfx_init(&f, &be_pr);
	f.env.sys.ops = &no_pr_ops;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_UNSUPPORTED);
	assert_string_equal(f.note, "fencing: unsupported by target");

	pfx_init(&f, &be_pr);
	f.env.sys.ops = &no_pr_ops;
	f.v.opts.fencing = ATTACH_FENCING_REQUIRED;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), -EOPNOTSUPP);
	assert_non_null(strstr(f.e.msg, "fencing is required"));
}

static void test_step_fence_register_fails(void **state)
{
	struct pfx f;

	/* auto: attached unfenced, saying why */
	pfx_init(&f, &be_pr);
	f.t.reg_eio = true;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_UNSUPPORTED);
	assert_string_equal(f.note, "fencing: unsupported by target (PERSISTENT RESERVE OUT "
				    "REGISTER failed: Input/output error)");
	/* required: refused */
	pfx_init(&f, &be_pr);
	f.t.reg_eio = true;
	f.v.opts.fencing = ATTACH_FENCING_REQUIRED;
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), -EIO);
	assert_non_null(strstr(f.e.msg, "REGISTER"));
}

static void test_step_fence_skipped_for_other_backends(void **state)
{
	struct pfx f;

	pfx_init(&f, &be_plain);
	assert_int_equal(attach_fence_up(&f.env, &f.v, f.note, sizeof(f.note), &f.e), 0);
	assert_int_equal(f.v.fence_status, ATTACH_FENCE_ST_NONE);
	assert_int_equal(attach_fence_down(&f.env, &f.v, &f.e), 0);
	assert_string_equal(f.t.log, "");
	assert_int_equal(attach_volume_fence_takeover(&f.env, &f.v, &f.e), -EOPNOTSUPP);
}

static void test_fence_record_roundtrip(void **state)
{
	struct pfx f;
	struct attach_volume back;
	json_t *j;

	pfx_init(&f, &be_pr);
	snprintf(f.v.dm_name, sizeof(f.v.dm_name), "attachd-vol1");
	f.v.fence_status = ATTACH_FENCE_ST_LOST;
	f.v.fence_key = OURS;
	snprintf(f.v.fence_detail, sizeof(f.v.fence_detail), "key 0x2222 holds it");
	j = attach_volume_to_json(&f.v);
	assert_non_null(j);
	back = f.v;
	back.fence_status = ATTACH_FENCE_ST_NONE;
	back.fence_key = 0;
	back.att.objs = NULL;
	assert_int_equal(attach_volume_from_json(j, &back, &f.e), 0);
	assert_int_equal(back.fence_status, ATTACH_FENCE_ST_LOST);
	assert_true(back.fence_key == OURS);
	assert_string_equal(back.fence_detail, "key 0x2222 holds it");
	json_decref(back.att.objs);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_free_volume_reserved),
	    cmocka_unit_test(test_readonly_touches_nothing),
	    cmocka_unit_test(test_held_elsewhere_refused),
	    cmocka_unit_test(test_takeover_fences_holder),
	    cmocka_unit_test(test_lost_race_refused_and_unregistered),
	    cmocka_unit_test(test_stale_registrations_removed),
	    cmocka_unit_test(test_still_ours_after_restart),
	    cmocka_unit_test(test_no_pr),
	    cmocka_unit_test(test_release_idempotent),
	    cmocka_unit_test(test_malformed_answer),
	    cmocka_unit_test(test_long_full_status_read_whole),
	    cmocka_unit_test(test_step_fence_reserves_and_unfence_releases),
	    cmocka_unit_test(test_step_fence_refused_names_holder_changes_nothing),
	    cmocka_unit_test(test_step_fence_takeover),
	    cmocka_unit_test(test_fence_lost_then_takeover_back),
	    cmocka_unit_test(test_step_fence_readonly_off_unsupported),
	    cmocka_unit_test(test_step_fence_skipped_for_other_backends),
	    cmocka_unit_test(test_step_fence_register_fails),
	    cmocka_unit_test(test_fence_record_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
