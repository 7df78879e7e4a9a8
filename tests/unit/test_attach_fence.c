/* SPDX-License-Identifier: Apache-2.0 */
/* attach/fence: what a read-write attach does about the target's reservations, and the
 * messages a refused attach gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "attach/fence.h"

#define OURS 0x1111111111111111ULL
#define THEIRS 0x2222222222222222ULL
#define STALE 0x3333333333333333ULL

struct fx {
	struct scsi_pr_keys keys;
	struct scsi_pr_reservation resv;
	struct scsi_pr_registrant reg[4];
	struct scsi_pr_full_status full;
	struct attach_fence_input in;
	struct attach_fence_plan plan;
	struct errbuf e;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->in = (struct attach_fence_input){
	    .volume = "vol1",
	    .our_key = OURS,
	    .readwrite = true,
	    .pr_supported = true,
	    .keys = &f->keys,
	    .resv = &f->resv,
	};
}

static void add_key(struct fx *f, uint64_t k)
{
	f->keys.keys[f->keys.n++] = k;
}

static void hold(struct fx *f, uint64_t k)
{
	f->resv = (struct scsi_pr_reservation){.held = true, .key = k, .type = SCSI_PR_TYPE_WE_RO};
}

/* READ FULL STATUS: THEIRS holds through host A's initiator. */
static void full_status_theirs(struct fx *f)
{
	f->reg[0] =
	    (struct scsi_pr_registrant){.key = THEIRS, .holder = true, .type = 5, .protocol = 5};
	strcpy(f->reg[0].initiator, "iqn.2026-12.io.attachd:cell-a");
	f->full = (struct scsi_pr_full_status){.n = 1, .reg = f->reg};
	f->in.full = &f->full;
}

static void test_readonly_registers_nothing(void **state)
{
	struct fx f;

	fx_init(&f);
	f.in.readwrite = false;
	add_key(&f, THEIRS);
	hold(&f, THEIRS);
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_NONE);
	assert_false(f.plan.do_register);
	assert_int_equal(f.plan.n_evict, 0);
	/* read-only with fencing required on a target without PR: still allowed */
	f.in.pr_supported = false;
	f.in.mode = ATTACH_FENCING_REQUIRED;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_NONE);
}

static void test_free_volume_register_and_reserve(void **state)
{
	struct fx f;

	fx_init(&f);
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_RESERVE);
	assert_true(f.plan.do_register);
	assert_int_equal(f.plan.n_evict, 0);
	assert_null(f.plan.note);
}

static void test_free_volume_evicts_stale_registrations(void **state)
{
	struct fx f;

	fx_init(&f);
	/* another host registered on two paths, one more stale key, our own old one */
	add_key(&f, THEIRS);
	add_key(&f, OURS);
	add_key(&f, THEIRS);
	add_key(&f, STALE);
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_RESERVE);
	assert_int_equal(f.plan.n_evict, 2);
	assert_true(f.plan.evict[0] == THEIRS);
	assert_true(f.plan.evict[1] == STALE);
}

static void test_held_by_us_after_restart(void **state)
{
	struct fx f;

	fx_init(&f);
	add_key(&f, OURS);
	add_key(&f, OURS);
	hold(&f, OURS);
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_HELD);
	assert_true(f.plan.do_register);
	assert_int_equal(f.plan.n_evict, 0);
	/* even with takeover: nothing to preempt */
	f.in.takeover = true;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_HELD);
}

static void test_shared_key_refused(void **state)
{
	struct fx f;

	fx_init(&f);
	add_key(&f, OURS);
	hold(&f, OURS);
	f.reg[0] =
	    (struct scsi_pr_registrant){.key = OURS, .holder = true, .type = 5, .protocol = 5};
	strcpy(f.reg[0].initiator, "iqn.2026-12.io.attachd:clone");
	f.full = (struct scsi_pr_full_status){.n = 1, .reg = f.reg};
	f.in.full = &f.full;
	f.in.our_initiator = "iqn.2026-12.io.attachd:cell-b";
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), -EEXIST);
	assert_non_null(strstr(f.e.msg, "by initiator iqn.2026-12.io.attachd:clone"));
	assert_non_null(strstr(f.e.msg, "set a distinct fencing.key"));
	/* held through our own initiator: ours */
	f.in.our_initiator = "iqn.2026-12.io.attachd:clone";
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_HELD);
	/* our initiator unknown: cannot tell, trusted as ours */
	f.in.our_initiator = NULL;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_HELD);
}

static void test_held_by_other_refused_naming_initiator(void **state)
{
	struct fx f;

	fx_init(&f);
	add_key(&f, THEIRS);
	hold(&f, THEIRS);
	full_status_theirs(&f);
	f.plan.action = 77; /* untouched on refusal */
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), -EBUSY);
	assert_int_equal(f.plan.action, 77);
	assert_non_null(strstr(f.e.msg, "volume vol1 is attached read-write on another host"));
	assert_non_null(strstr(f.e.msg, "initiator iqn.2026-12.io.attachd:cell-a"));
	assert_non_null(strstr(f.e.msg, "0x2222222222222222"));
	assert_non_null(strstr(f.e.msg, "attachctl takeover vol1"));
	assert_non_null(strstr(f.e.msg, "takeover: true"));
}

static void test_held_by_other_refused_naming_key(void **state)
{
	struct fx f;

	fx_init(&f);
	add_key(&f, THEIRS);
	hold(&f, THEIRS);
	/* no READ FULL STATUS */
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), -EBUSY);
	assert_non_null(strstr(f.e.msg, "(key 0x2222222222222222 holds its reservation)"));
	assert_null(strstr(f.e.msg, "initiator"));
	assert_non_null(strstr(f.e.msg, "attachctl takeover vol1"));
}

static void test_takeover_preempts_holder(void **state)
{
	struct fx f;

	fx_init(&f);
	add_key(&f, THEIRS);
	add_key(&f, STALE);
	add_key(&f, THEIRS);
	hold(&f, THEIRS);
	full_status_theirs(&f);
	f.in.takeover = true;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_PREEMPT);
	assert_true(f.plan.do_register);
	assert_true(f.plan.preempt_key == THEIRS);
	/* the holder goes with the preempt; the stale key is removed besides */
	assert_int_equal(f.plan.n_evict, 1);
	assert_true(f.plan.evict[0] == STALE);
	assert_string_equal(f.plan.previous_holder,
			    "initiator iqn.2026-12.io.attachd:cell-a (key 0x2222222222222222)");
}

static void test_all_registrants_type_is_foreign(void **state)
{
	struct fx f;

	fx_init(&f);
	add_key(&f, THEIRS);
	add_key(&f, OURS);
	f.resv = (struct scsi_pr_reservation){.held = true, .key = 0, .type = 0x7};
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), -EBUSY);
	assert_non_null(strstr(f.e.msg, "key 0x0000000000000000"));
	f.in.takeover = true;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_PREEMPT);
	assert_true(f.plan.preempt_key == 0);
}

static void test_unsupported_auto(void **state)
{
	struct fx f;

	fx_init(&f);
	f.in.pr_supported = false;
	f.in.keys = NULL;
	f.in.resv = NULL;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_UNFENCED);
	assert_false(f.plan.do_register);
	assert_string_equal(f.plan.note, "fencing: unsupported by target");
}

static void test_unsupported_required_refused(void **state)
{
	struct fx f;

	fx_init(&f);
	f.in.pr_supported = false;
	f.in.mode = ATTACH_FENCING_REQUIRED;
	f.in.takeover = true;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), -EOPNOTSUPP);
	assert_non_null(strstr(f.e.msg, "volume vol1: fencing is required but the target does "
					"not support SCSI-3 persistent reservations"));
	assert_non_null(strstr(f.e.msg, "fencing: auto"));
}

static void test_off_registers_nothing(void **state)
{
	struct fx f;

	/* fencing: off: even a held volume is attached without any PR command */
	fx_init(&f);
	f.in.mode = ATTACH_FENCING_OFF;
	f.in.our_key = 0;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), 0);
	assert_int_equal(f.plan.action, ATTACH_FENCE_NONE);
	assert_false(f.plan.do_register);
	assert_string_equal(f.plan.note, "fencing: off");
}

static void test_bad_input(void **state)
{
	struct fx f;

	fx_init(&f);
	f.in.our_key = 0;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), -EINVAL);
	assert_non_null(strstr(f.e.msg, "fencing.key"));
	fx_init(&f);
	f.in.keys = NULL;
	assert_int_equal(attach_fence_decide(&f.in, &f.plan, &f.e), -EINVAL);
	assert_int_equal(attach_fence_decide(NULL, &f.plan, &f.e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_readonly_registers_nothing),
	    cmocka_unit_test(test_free_volume_register_and_reserve),
	    cmocka_unit_test(test_free_volume_evicts_stale_registrations),
	    cmocka_unit_test(test_held_by_us_after_restart),
	    cmocka_unit_test(test_shared_key_refused),
	    cmocka_unit_test(test_held_by_other_refused_naming_initiator),
	    cmocka_unit_test(test_held_by_other_refused_naming_key),
	    cmocka_unit_test(test_takeover_preempts_holder),
	    cmocka_unit_test(test_all_registrants_type_is_foreign),
	    cmocka_unit_test(test_unsupported_auto),
	    cmocka_unit_test(test_off_registers_nothing),
	    cmocka_unit_test(test_unsupported_required_refused),
	    cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
