/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attach/paths.c: one checker round over a multipath volume, with a fake kernel (TUR
 * results per device), a fake backend (transport per path, paths that join later) and a
 * fake map (path states, queueing). What the map is told, what SREs see in v->paths and
 * which events the agent logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach/internal.h"
#include "lib/macro.h"

#define NP 3

/* ---- fake kernel: TUR per device ---- */
struct fake {
	/* TUR: result and sense key per path index; stuck[i] blocks until released */
	int tur_r[NP], tur_key[NP], stuck[NP];
	unsigned tur_calls[NP];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* backend */
	enum backend_path_transport transport[NP];
	unsigned configured;
	unsigned present; /* find_paths returns paths 0..present-1 */
	unsigned add_calls;
	int add_brings; /* add_paths makes this many more present */
	/* map */
	int active[NP];
	int in_map[NP];
	int queueing;
	char msgs[16][48];
	unsigned n_msgs;
	struct dmap_target table;
	unsigned reloads;
};

static struct fake F;

static int idx_of_devnode(const char *dn)
{
	return dn[strlen(dn) - 1] - 'a';
}

static int fake_tur(const struct sys *s, const char *devnode, int timeout_ms, int *ret_key)
{
	int i = idx_of_devnode(devnode);

	pthread_mutex_lock(&F.lock);
	F.tur_calls[i]++;
	while (F.stuck[i])
		pthread_cond_wait(&F.cond, &F.lock);
	if (F.tur_r[i] == -EIO)
		*ret_key = F.tur_key[i];
	pthread_mutex_unlock(&F.lock);
	return F.tur_r[i];
}

/* sysfs: no ALUA attributes (one priority group, no hardware handler) */
static int fake_read_file(const struct sys *s, const char *path, char **ret, size_t max)
{
	return -ENOENT;
}

static const struct sys_ops fake_sys_ops = {.scsi_tur = fake_tur, .read_file = fake_read_file};

static void mkpath(struct backend_path *bp, unsigned i)
{
	*bp = (struct backend_path){.dev = {.major = 8, .minor = 16 * (i + 1)}};
	snprintf(bp->dev.sysname, sizeof(bp->dev.sysname), "sd%c", 'b' + i);
	snprintf(bp->dev.devnode, sizeof(bp->dev.devnode), "/dev/sd%c", 'a' + i);
	snprintf(bp->id, sizeof(bp->id), "%u:0:0:1", i + 2);
	snprintf(bp->where, sizeof(bp->where), "10.0.%u.1:3260 iqn.2003-01.org.x:t", i);
}

static int path_index(const struct backend_path *bp)
{
	return bp->dev.minor / 16 - 1;
}

static enum backend_path_transport fake_transport(const struct backend_ctx *ctx,
						  struct backend_attachment *a,
						  const struct backend_path *p, char *detail,
						  size_t n)
{
	enum backend_path_transport t = F.transport[path_index(p)];

	if (t == BACKEND_PATH_DOWN)
		snprintf(detail, n, "session %d FAILED", path_index(p) + 2);
	return t;
}

static unsigned fake_configured(const void *cfg)
{
	return F.configured;
}

static int fake_find_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
			   struct backend_path *ret, size_t max, size_t *ret_n, struct errbuf *e)
{
	for (unsigned i = 0; i < F.present; i++)
		mkpath(&ret[i], i);
	*ret_n = F.present;
	return F.present ? 0 : -EAGAIN;
}

static int fake_add_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
			  struct errbuf *e)
{
	F.add_calls++;
	F.present += (unsigned)F.add_brings;
	if (F.present < F.configured)
		return errbuf_set(e, -EHOSTDOWN, "portal 10.0.%u.1:3260 unreachable", F.present);
	return 0;
}

static struct backend_ops fake_be = {
    .name = "fake",
    .paths_configured = fake_configured,
    .find_paths = fake_find_paths,
    .path_transport = fake_transport,
    .add_paths = fake_add_paths,
};

/* ---- fake map ---- */
static int dev_index(const char *dn)
{
	unsigned maj, min;

	assert_int_equal(sscanf(dn, "%u:%u", &maj, &min), 2);
	return (int)min / 16 - 1;
}

static int fake_status(void *ud, const char *name, struct dmap_mpath_status *ret)
{
	*ret = (struct dmap_mpath_status){.queue_if_no_path = F.queueing};
	for (unsigned i = 0; i < NP; i++) {
		if (!F.in_map[i])
			continue;
		snprintf(ret->paths[ret->n].devno, sizeof(ret->paths[0].devno), "8:%u",
			 16 * (i + 1));
		ret->paths[ret->n++].active = F.active[i];
	}
	return 0;
}

static int fake_message(void *ud, const char *name, const char *msg, struct errbuf *e)
{
	char dn[16];

	assert_string_equal(name, "attachd-vol1");
	assert_true(F.n_msgs < 16);
	snprintf(F.msgs[F.n_msgs++], sizeof(F.msgs[0]), "%s", msg);
	if (sscanf(msg, "fail_path %15s", dn) == 1)
		F.active[dev_index(dn)] = 0;
	else if (sscanf(msg, "reinstate_path %15s", dn) == 1)
		F.active[dev_index(dn)] = 1;
	else if (streq(msg, "queue_if_no_path"))
		F.queueing = 1;
	else if (streq(msg, "fail_if_no_path"))
		F.queueing = 0;
	else
		fail_msg("unexpected message %s", msg);
	return 0;
}

static int fake_reload(void *ud, const char *name, const struct dmap_target *t, size_t n,
		       int timeout_ms, struct errbuf *e)
{
	assert_int_equal(n, 1);
	F.table = *t;
	F.reloads++;
	memset(F.in_map, 0, sizeof(F.in_map));
	for (unsigned i = 0; i < NP; i++) {
		char dn[16];

		snprintf(dn, sizeof(dn), " 8:%u ", 16 * (i + 1));
		if (strstr(t->params, dn)) {
			F.in_map[i] = 1;
			F.active[i] = 1; /* a reload brings paths up active */
		}
	}
	return 0;
}

static const struct attach_paths_dm fake_dm = {
    .status = fake_status,
    .message = fake_message,
    .reload = fake_reload,
};

/* ---- fixture ---- */
static struct attach_env env;
static struct attach_volume vol;
static struct attach_path_event ev[ATTACH_MAX_PATH_EVENTS];
static unsigned n_ev;

static int setup(void **state)
{
	memset(&F, 0, sizeof(F));
	pthread_mutex_init(&F.lock, NULL);
	pthread_cond_init(&F.cond, NULL);
	F.configured = 2;
	F.present = 2;
	F.queueing = 1;
	for (unsigned i = 0; i < 2; i++)
		F.active[i] = F.in_map[i] = 1;

	env = (struct attach_env){
	    .sys = {.sysfs_root = "/nonexistent-sysfs", .dev_root = "", .ops = &fake_sys_ops},
	    .tur_timeout_ms = 200,
	    .no_path_queue_ms = 30000,
	    .device_timeout_ms = 1000,
	};
	memset(&vol, 0, sizeof(vol));
	snprintf(vol.key, sizeof(vol.key), "vol1");
	snprintf(vol.dm_name, sizeof(vol.dm_name), "attachd-vol1");
	vol.opts.be = &fake_be;
	vol.ident.size_bytes = 1 << 30;
	vol.multipath = 1;
	vol.queueing = 1;
	vol.n_paths = 2;
	for (unsigned i = 0; i < 2; i++)
		mkpath(&vol.paths[i].bp, i);
	return 0;
}

static int teardown(void **state)
{
	pthread_mutex_lock(&F.lock);
	memset(F.stuck, 0, sizeof(F.stuck));
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	/* Stuck TURs end on their own once released: wait for them so the next test starts
	 * with none (the checker's list is process-wide). */
	for (int i = 0; i < 2000 && attach_tur_running(); i++)
		usleep(1000);
	assert_int_equal(attach_tur_running(), 0);
	return 0;
}

static void round_ok(void)
{
	struct errbuf e = {0};

	n_ev = 0;
	F.n_msgs = 0;
	assert_int_equal(attach_paths_check_dm(&env, &vol, &fake_dm, ev, &n_ev, &e), 0);
}

static int has_event(int kind, const char *path_id)
{
	for (unsigned i = 0; i < n_ev; i++)
		if ((int)ev[i].kind == kind && (!path_id || streq(ev[i].path_id, path_id)))
			return 1;
	return 0;
}

static void test_healthy_paths_change_nothing(void **state)
{
	round_ok();
	assert_int_equal(F.n_msgs, 0);
	assert_int_equal(n_ev, 0);
	assert_int_equal(F.tur_calls[0], 1);
	assert_int_equal(F.tur_calls[1], 1);
	for (unsigned i = 0; i < 2; i++) {
		assert_false(vol.paths[i].failed);
		assert_int_equal(vol.paths[i].last_result, 0);
		assert_string_equal(vol.paths[i].last_detail, "TUR ok");
		assert_true(vol.paths[i].checked_ms > 0);
	}
	assert_true(vol.queueing);
	assert_int_equal(vol.all_down_since_ms, 0);
}

static void test_tur_failure_fails_the_path_and_return_reinstates(void **state)
{
	F.tur_r[1] = -EIO;
	F.tur_key[1] = 2;
	round_ok();
	assert_int_equal(F.n_msgs, 1);
	assert_string_equal(F.msgs[0], "fail_path 8:32");
	assert_true(vol.paths[1].failed);
	assert_false(vol.paths[0].failed);
	assert_int_equal(vol.paths[1].last_result, -EIO);
	assert_non_null(strstr(vol.paths[1].last_detail, "sense key 2 (NOT READY)"));
	assert_int_equal(vol.paths[1].failures, 1);
	assert_int_equal(n_ev, 1);
	assert_true(has_event(PATH_EV_FAILED, "3:0:0:1"));

	/* still failing: nothing new is sent or logged */
	round_ok();
	assert_int_equal(F.n_msgs, 0);
	assert_int_equal(n_ev, 0);

	F.tur_r[1] = 0;
	round_ok();
	assert_int_equal(F.n_msgs, 1);
	assert_string_equal(F.msgs[0], "reinstate_path 8:32");
	assert_false(vol.paths[1].failed);
	assert_true(has_event(PATH_EV_REINSTATED, "3:0:0:1"));
	assert_true(ev[0].down_ms >= 0);
	assert_int_equal(F.active[1], 1);
}

static void test_unit_attention_is_asked_again(void **state)
{
	F.tur_r[0] = -EIO;
	F.tur_key[0] = 6;
	round_ok();
	/* three tries, then it counts: UNIT ATTENTION that never clears is a failure */
	assert_int_equal(F.tur_calls[0], 3);
	assert_true(vol.paths[0].failed);
	assert_non_null(strstr(vol.paths[0].last_detail, "UNIT ATTENTION"));
}

static void test_transport_down_fails_without_a_tur(void **state)
{
	F.transport[0] = BACKEND_PATH_DOWN;
	round_ok();
	assert_int_equal(F.tur_calls[0], 0);
	assert_int_equal(F.tur_calls[1], 1);
	assert_string_equal(F.msgs[0], "fail_path 8:16");
	assert_true(vol.paths[0].failed);
	assert_string_equal(vol.paths[0].last_detail, "session 2 FAILED");
	assert_int_equal(vol.paths[0].last_result, -EHOSTDOWN);
}

static void test_kernel_failed_path_is_reflected(void **state)
{
	/* The kernel failed path 0 on an I/O error; its TUR fails too: no message needed,
	 * but attachd's view and the log say so. */
	F.active[0] = 0;
	F.tur_r[0] = -EHOSTDOWN;
	round_ok();
	assert_int_equal(F.n_msgs, 0);
	assert_true(vol.paths[0].failed);
	assert_true(has_event(PATH_EV_FAILED, "2:0:0:1"));

	/* Failed by the kernel but answering now: reinstated, both changes logged. */
	setup(state);
	F.active[1] = 0;
	round_ok();
	assert_int_equal(F.n_msgs, 1);
	assert_string_equal(F.msgs[0], "reinstate_path 8:32");
	assert_true(has_event(PATH_EV_FAILED, "3:0:0:1"));
	assert_true(has_event(PATH_EV_REINSTATED, "3:0:0:1"));
	assert_false(vol.paths[1].failed);
	assert_int_equal(vol.paths[1].failures, 1);
}

static void test_stuck_tur_does_not_hold_the_round(void **state)
{
	F.stuck[1] = 1;
	round_ok();
	/* path 0 checked normally, path 1 failed as unanswered */
	assert_false(vol.paths[0].failed);
	assert_true(vol.paths[1].failed);
	assert_int_equal(vol.paths[1].last_result, -ETIMEDOUT);
	assert_non_null(strstr(vol.paths[1].last_detail, "no answer within 200 ms"));
	assert_string_equal(F.msgs[0], "fail_path 8:32");
	assert_int_equal(attach_tur_running(), 1);

	/* next round: no second TUR on the stuck device */
	round_ok();
	assert_int_equal(F.tur_calls[1], 1);
	assert_int_equal(F.tur_calls[0], 2);
	assert_true(vol.paths[1].failed);
	assert_non_null(strstr(vol.paths[1].last_detail, "still running"));

	/* it comes back: the stuck TUR ends, the next round checks it again */
	pthread_mutex_lock(&F.lock);
	F.stuck[1] = 0;
	pthread_cond_broadcast(&F.cond);
	pthread_mutex_unlock(&F.lock);
	for (int i = 0; i < 2000 && attach_tur_running(); i++)
		usleep(1000);
	round_ok();
	assert_int_equal(F.tur_calls[1], 2);
	assert_false(vol.paths[1].failed);
	assert_string_equal(F.msgs[0], "reinstate_path 8:32");
}

static void test_all_down_queues_up_to_the_bound(void **state)
{
	F.transport[0] = F.transport[1] = BACKEND_PATH_DOWN;
	round_ok();
	assert_true(has_event(PATH_EV_ALL_DOWN, NULL));
	assert_false(has_event(PATH_EV_QUEUE_OFF, NULL));
	assert_true(vol.all_down_since_ms > 0);
	assert_true(vol.queueing);
	assert_int_equal(F.queueing, 1);

	/* within the bound: still queueing, ALL_DOWN not repeated */
	round_ok();
	assert_int_equal(n_ev, 0);
	assert_int_equal(F.queueing, 1);

	/* past the bound (the clock is the record's: move the start back) */
	vol.all_down_since_ms -= 31000;
	round_ok();
	assert_int_equal(F.n_msgs, 1);
	assert_string_equal(F.msgs[0], "fail_if_no_path");
	assert_true(has_event(PATH_EV_QUEUE_OFF, NULL));
	assert_true(ev[0].down_ms >= 31000);
	assert_false(vol.queueing);
	assert_int_equal(F.queueing, 0);

	/* once off, it stays off while nothing is back */
	round_ok();
	assert_int_equal(F.n_msgs, 0);

	/* a path returns: reinstated and queueing again */
	F.transport[1] = BACKEND_PATH_UP;
	round_ok();
	assert_int_equal(F.n_msgs, 2);
	assert_string_equal(F.msgs[0], "reinstate_path 8:32");
	assert_string_equal(F.msgs[1], "queue_if_no_path");
	assert_true(has_event(PATH_EV_QUEUE_ON, NULL));
	assert_true(vol.queueing);
	assert_int_equal(vol.all_down_since_ms, 0);
}

static void test_all_down_then_back_within_the_bound(void **state)
{
	F.transport[0] = F.transport[1] = BACKEND_PATH_DOWN;
	round_ok();
	F.transport[0] = BACKEND_PATH_UP;
	round_ok();
	assert_int_equal(F.n_msgs, 1); /* reinstate only: queueing never went off */
	assert_string_equal(F.msgs[0], "reinstate_path 8:16");
	assert_false(has_event(PATH_EV_QUEUE_ON, NULL));
	assert_int_equal(vol.all_down_since_ms, 0);
	assert_true(vol.queueing);
}

static void test_gone_path_leaves_the_table(void **state)
{
	F.transport[1] = BACKEND_PATH_GONE;
	F.present = 1;
	round_ok();
	assert_int_equal(F.reloads, 1);
	assert_int_equal(vol.n_paths, 1);
	assert_string_equal(vol.paths[0].bp.id, "2:0:0:1");
	assert_non_null(strstr(F.table.params, " 8:16 "));
	assert_null(strstr(F.table.params, " 8:32 "));
	assert_non_null(strstr(F.table.params, "queue_if_no_path"));
	assert_true(has_event(PATH_EV_REMOVED, "3:0:0:1"));
}

static void test_all_gone_keeps_the_table(void **state)
{
	F.transport[0] = F.transport[1] = BACKEND_PATH_GONE;
	round_ok();
	assert_int_equal(F.reloads, 0);
	assert_int_equal(vol.n_paths, 2);
	assert_true(vol.paths[0].failed && vol.paths[1].failed);
	assert_true(has_event(PATH_EV_ALL_DOWN, NULL));
}

static void test_missing_path_joins(void **state)
{
	/* attached with path 1 down: one path recorded, two configured */
	vol.n_paths = 1;
	F.present = 1;
	F.in_map[1] = 0;
	F.add_brings = 0;
	round_ok();
	assert_int_equal(F.add_calls, 1);
	assert_int_equal(F.reloads, 0);
	assert_int_equal(vol.n_paths, 1);

	/* not retried every round (a login to a dead portal blocks) */
	round_ok();
	assert_int_equal(F.add_calls, 1);

	/* its portal is back */
	vol.add_paths_after_ms = 0;
	F.add_brings = 1;
	round_ok();
	assert_int_equal(F.add_calls, 2);
	assert_int_equal(F.reloads, 1);
	assert_int_equal(vol.n_paths, 2);
	assert_true(has_event(PATH_EV_ADDED, "3:0:0:1"));
	assert_non_null(strstr(F.table.params, " 8:16 "));
	assert_non_null(strstr(F.table.params, " 8:32 "));
	assert_non_null(strstr(F.table.params, "service-time"));
	assert_false(vol.paths[1].failed);

	/* and it is checked like the others from then on */
	round_ok();
	assert_int_equal(F.tur_calls[1], 1);
	assert_int_equal(F.add_calls, 2);
}

static void test_native_multipath_reports_only(void **state)
{
	struct backend_ops native = fake_be;

	native.native_multipath = 1;
	vol.opts.be = &native;
	F.transport[1] = BACKEND_PATH_DOWN;
	round_ok();
	assert_int_equal(F.n_msgs, 0);
	assert_int_equal(F.tur_calls[0] + F.tur_calls[1], 0);
	assert_true(vol.paths[1].failed);
	assert_false(vol.paths[0].failed);
	assert_true(has_event(PATH_EV_FAILED, "3:0:0:1"));
	F.transport[1] = BACKEND_PATH_UP;
	round_ok();
	assert_true(has_event(PATH_EV_REINSTATED, "3:0:0:1"));
	assert_int_equal(F.n_msgs, 0);
}

/* NVMe native multipath: a linear map over the head disk (v->multipath 0), followed because
 * several ports are configured. A port down at attach joins by add_paths (no table reload,
 * no map message); a controller that goes away leaves the list. */
static void test_native_port_joins_and_leaves(void **state)
{
	struct backend_ops native = fake_be;

	native.native_multipath = 1;
	vol.opts.be = &native;
	vol.att.cfg = &F;
	vol.multipath = 0;
	vol.n_paths = 1;
	F.present = 1;
	F.add_brings = 1;
	round_ok();
	assert_int_equal(F.add_calls, 1);
	assert_int_equal(vol.n_paths, 2);
	assert_true(has_event(PATH_EV_ADDED, "3:0:0:1"));
	assert_int_equal(F.reloads, 0);
	assert_int_equal(F.n_msgs, 0);
	assert_false(vol.paths[1].failed);

	/* the second controller is deleted (ctrl_loss_tmo): it leaves the list, and is not
	 * reconnected again before the retry interval */
	F.present = 1;
	F.add_brings = 0;
	round_ok();
	assert_int_equal(vol.n_paths, 1);
	assert_true(has_event(PATH_EV_REMOVED, "3:0:0:1"));
	assert_int_equal(F.add_calls, 1);
	assert_int_equal(F.n_msgs, 0);
}

static void test_single_path_volume_is_left_alone(void **state)
{
	vol.multipath = 0;
	round_ok();
	assert_int_equal(n_ev, 0);
	assert_int_equal(F.tur_calls[0], 0);
}

/* An Unmount holds the volume while its umount waits behind queued I/O: the bound is
 * still enforced from the map's status alone. */
static void test_bound_while_an_operation_holds_the_volume(void **state)
{
	struct errbuf e = {0};
	int64_t since = 0;

	/* a path is active: nothing happens, the clock stays off */
	assert_int_equal(attach_paths_bound_dm(&env, "attachd-vol1", &fake_dm, &since, &e), 0);
	assert_int_equal(since, 0);
	F.active[0] = F.active[1] = 0;
	assert_int_equal(attach_paths_bound_dm(&env, "attachd-vol1", &fake_dm, &since, &e), 0);
	assert_true(since > 0);
	assert_int_equal(F.n_msgs, 0);
	since -= 31000;
	assert_int_equal(attach_paths_bound_dm(&env, "attachd-vol1", &fake_dm, &since, &e), 1);
	assert_int_equal(F.n_msgs, 1);
	assert_string_equal(F.msgs[0], "fail_if_no_path");
	assert_int_equal(F.queueing, 0);
	/* already failing: nothing more to send */
	assert_int_equal(attach_paths_bound_dm(&env, "attachd-vol1", &fake_dm, &since, &e), 0);
	assert_int_equal(F.n_msgs, 1);
	/* a path back: the clock resets (the next checker round turns queueing on again) */
	F.active[1] = 1;
	assert_int_equal(attach_paths_bound_dm(&env, "attachd-vol1", &fake_dm, &since, &e), 0);
	assert_int_equal(since, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_healthy_paths_change_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tur_failure_fails_the_path_and_return_reinstates,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unit_attention_is_asked_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transport_down_fails_without_a_tur, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_kernel_failed_path_is_reflected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stuck_tur_does_not_hold_the_round, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_all_down_queues_up_to_the_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_down_then_back_within_the_bound, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_gone_path_leaves_the_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_all_gone_keeps_the_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_path_joins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_native_multipath_reports_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_native_port_joins_and_leaves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_path_volume_is_left_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bound_while_an_operation_holds_the_volume, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
