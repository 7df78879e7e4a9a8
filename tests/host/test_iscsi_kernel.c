/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iscsi backend against a real kernel initiator: probe, connect (iscsiadm login +
 * targeted scan), find_device, identify, disconnect, with a real struct sys. Only the VM
 * tier has an iSCSI initiator, so this skips unless it runs as root where iscsi_tcp is
 * loaded, iscsid runs, and the caller names a target with LUNs 0 and 1:
 *
 *   ATTACHD_ISCSI_PORTAL=127.0.0.1:3260 ATTACHD_ISCSI_IQN=iqn... [ATTACHD_ISCSI_PORTAL2=...]
 *   [ATTACHD_ISCSI_CHAP="IQN USER SECRET"]   (a second target, LUN 0, CHAP required)
 *
 * (a VM scenario creates that LIO target and runs this binary). It checks what only the
 * kernel can tell: the sysfs paths, the scan string, the WWID the kernel shows against the
 * probe's, that deleting a SCSI device is synchronous, and that the session and our node
 * record go with the last LUN whichever volume leaves first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/iscsi/internal.h"
#include "lib/macro.h"

static const char *skip_reason;
static const char *portal, *portal2, *iqn;
static struct sys real;
static struct backend_host_config host;
static struct backend_ctx ctx;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int group_setup(void **state)
{
	portal = getenv("ATTACHD_ISCSI_PORTAL");
	portal2 = getenv("ATTACHD_ISCSI_PORTAL2");
	iqn = getenv("ATTACHD_ISCSI_IQN");
	if (geteuid() != 0)
		skip_reason = "needs root";
	else if (access("/sys/class/iscsi_transport/tcp", F_OK) < 0)
		skip_reason = "no kernel iSCSI initiator (iscsi_tcp): runs in the VM tier";
	else if (!portal || !iqn)
		skip_reason =
		    "set ATTACHD_ISCSI_PORTAL and ATTACHD_ISCSI_IQN (a target with LUNs 0 "
		    "and 1) to run";
	else if (system("pgrep -x iscsid >/dev/null") != 0)
		skip_reason = "iscsid is not running";
	sys_init_real(&real);
	ctx = (struct backend_ctx){.sys = &real, .host = &host, .timeout_ms = 20000};
	return 0;
}

#define NEED_KERNEL()                                                                              \
	do {                                                                                       \
		if (skip_reason) {                                                                 \
			print_message("SKIP: %s\n", skip_reason);                                  \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

static void att_init(struct backend_attachment *a, const char *p1, const char *p2, unsigned lun)
{
	char json[1024];
	struct errlist el = {.len = 0};
	json_t *j;
	void *cfg = NULL;

	if (p2)
		snprintf(json, sizeof(json),
			 "{\"portals\":[\"%s\",\"%s\"],\"iqn\":\"%s\",\"lun\":%u}", p1, p2, iqn,
			 lun);
	else
		snprintf(json, sizeof(json), "{\"portal\":\"%s\",\"iqn\":\"%s\",\"lun\":%u}", p1,
			 iqn, lun);
	j = json_loads(json, 0, NULL);
	assert_non_null(j);
	if (be_iscsi_ops.parse(j, &cfg, &el) < 0)
		fail_msg("options: %s", el.msg);
	json_decref(j);
	*a = (struct backend_attachment){.ops = &be_iscsi_ops, .cfg = cfg, .objs = json_object()};
}

static void att_done(struct backend_attachment *a)
{
	be_iscsi_ops.free_cfg(a->cfg);
	json_decref(a->objs);
}

static void dump_objs(const char *what, struct backend_attachment *a)
{
	char *s = json_dumps(a->objs, JSON_COMPACT);

	print_message("%s objs: %s\n", what, s);
	free(s);
}

/* The test waits by polling: attach/ uses udev for this, the backend only says EAGAIN. */
static int wait_device(struct backend_attachment *a, struct backend_device *dev, int ms)
{
	int64_t until = now_ms() + ms;
	struct errbuf e = {""};
	int r;

	for (;;) {
		r = be_iscsi_ops.find_device(&ctx, a, dev, &e);
		if (r != -EAGAIN || now_ms() > until)
			break;
		usleep(20 * 1000);
	}
	if (r < 0)
		print_message("find_device: %d %s\n", r, e.msg);
	return r;
}

static unsigned path_session(struct backend_attachment *a, size_t i)
{
	json_t *p = json_array_get(json_object_get(a->objs, "paths"), i);

	assert_non_null(p);
	return (unsigned)json_integer_value(json_object_get(p, "session"));
}

static int session_count(void)
{
	FILE *f = popen("ls /sys/class/iscsi_session 2>/dev/null | wc -l", "r");
	int n = -1;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

static int our_records(void)
{
	char cmd[512];

	/* 21: no record on our iface for this target */
	snprintf(cmd, sizeof(cmd), "iscsiadm -m node -T '%s' -I " BE_ISCSI_IFACE " >/dev/null 2>&1",
		 iqn);
	return WEXITSTATUS(system(cmd)) == 0;
}

static void test_attach_two_luns_detach_first_in_first_out(void **state)
{
	struct backend_attachment a0, a1;
	struct backend_identity p0, p1, k0, k1;
	struct backend_device d0, d1;
	struct errbuf e = {""};
	char path[256], v[64], hctl[64];
	int64_t t0;

	NEED_KERNEL();
	assert_int_equal(session_count(), 0);
	att_init(&a0, portal, NULL, 0);
	att_init(&a1, portal, NULL, 1);

	assert_int_equal(be_iscsi_ops.probe(&ctx, &a0, &p0, &e), 0);
	assert_int_equal(be_iscsi_ops.probe(&ctx, &a1, &p1, &e), 0);
	print_message("probe: LUN 0 %s %llu B, LUN 1 %s %llu B\n", p0.wwid,
		      (unsigned long long)p0.size_bytes, p1.wwid,
		      (unsigned long long)p1.size_bytes);

	t0 = now_ms();
	if (be_iscsi_ops.connect(&ctx, &a0, &e) < 0)
		fail_msg("connect LUN 0: %s", e.msg);
	print_message("connect LUN 0: %lld ms\n", (long long)(now_ms() - t0));
	dump_objs("LUN 0", &a0);
	assert_int_equal(wait_device(&a0, &d0, 20000), 0);
	print_message("LUN 0 is %s (%u:%u) after %lld ms\n", d0.devnode, d0.major, d0.minor,
		      (long long)(now_ms() - t0));
	assert_int_equal(be_iscsi_ops.identify(&ctx, &a0, &d0, &k0, &e), 0);
	assert_string_equal(k0.wwid, p0.wwid); /* the kernel's wwid == the probe's */
	assert_int_equal(k0.size_bytes, p0.size_bytes);
	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/ifacename",
		 path_session(&a0, 0));
	assert_int_equal(sys_read_attr(&real, path, v, sizeof(v)), 0);
	assert_string_equal(v, BE_ISCSI_IFACE);
	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/target_id",
		 path_session(&a0, 0));
	assert_int_equal(sys_read_attr(&real, path, v, sizeof(v)), 0);
	print_message("session%u target_id %s\n", path_session(&a0, 0), v);

	/* LUN 1 shares the session: no new login */
	assert_int_equal(be_iscsi_ops.connect(&ctx, &a1, &e), 0);
	dump_objs("LUN 1", &a1);
	assert_int_equal(path_session(&a1, 0), path_session(&a0, 0));
	assert_false(json_is_true(json_object_get(
	    json_array_get(json_object_get(a1.objs, "paths"), 0), "session_created")));
	assert_int_equal(wait_device(&a1, &d1, 20000), 0);
	assert_int_equal(be_iscsi_ops.identify(&ctx, &a1, &d1, &k1, &e), 0);
	assert_string_equal(k1.wwid, p1.wwid);
	assert_int_equal(session_count(), 1);

	/* The volume that logged in leaves first: the session stays for LUN 1 */
	snprintf(hctl, sizeof(hctl), "%s",
		 json_string_value(json_object_get(
		     json_array_get(json_object_get(a0.objs, "paths"), 0), "hctl")));
	t0 = now_ms();
	assert_int_equal(be_iscsi_ops.disconnect(&ctx, &a0, &e), 0);
	print_message("disconnect LUN 0: %lld ms\n", (long long)(now_ms() - t0));
	assert_int_equal(be_iscsi_sysfs_hctl_exists(&real, hctl), 0);
	snprintf(path, sizeof(path), "/sys/block/%s", d0.sysname);
	assert_int_not_equal(access(path, F_OK), 0); /* gone as the delete write returned */
	assert_int_equal(session_count(), 1);
	assert_true(our_records());
	snprintf(path, sizeof(path), "/sys/block/%s", d1.sysname);
	assert_int_equal(access(path, F_OK), 0);

	/* The last LUN takes the session and our record with it */
	t0 = now_ms();
	assert_int_equal(be_iscsi_ops.disconnect(&ctx, &a1, &e), 0);
	print_message("disconnect LUN 1: %lld ms\n", (long long)(now_ms() - t0));
	assert_int_equal(session_count(), 0);
	assert_false(our_records());
	assert_int_equal(be_iscsi_ops.disconnect(&ctx, &a1, &e), 0);
	att_done(&a0);
	att_done(&a1);
}

static void test_missing_lun_waits_and_cleans_up(void **state)
{
	struct backend_attachment a;
	struct backend_device d;
	struct backend_identity id;
	struct errbuf e = {""};

	NEED_KERNEL();
	att_init(&a, portal, NULL, 7);
	assert_int_equal(be_iscsi_ops.probe(&ctx, &a, &id, &e), -ENXIO);
	print_message("probe: %s\n", e.msg);
	/* connect without the probe's verdict: the scan finds nothing, find_device waits */
	assert_int_equal(be_iscsi_ops.connect(&ctx, &a, &e), 0);
	assert_int_equal(wait_device(&a, &d, 1500), -EAGAIN);
	assert_int_equal(be_iscsi_ops.disconnect(&ctx, &a, &e), 0);
	assert_int_equal(session_count(), 0);
	assert_false(our_records());
	att_done(&a);
}

static void test_two_portals(void **state)
{
	struct backend_attachment a;
	struct backend_device d;
	struct errbuf e = {""};

	NEED_KERNEL();
	if (!portal2) {
		print_message("SKIP: set ATTACHD_ISCSI_PORTAL2 for the two-portal case\n");
		skip();
	}
	att_init(&a, portal, portal2, 0);
	assert_int_equal(be_iscsi_ops.connect(&ctx, &a, &e), 0);
	dump_objs("two portals", &a);
	assert_int_equal(json_array_size(json_object_get(a.objs, "paths")), 2);
	assert_int_equal(session_count(), 2);
	assert_int_equal(wait_device(&a, &d, 20000), 0);
	assert_int_equal(be_iscsi_ops.disconnect(&ctx, &a, &e), 0);
	assert_int_equal(session_count(), 0);
	assert_false(our_records());
	att_done(&a);
}

/* The agent's initiator name reaches the kernel session (through our iface). */
static void test_configured_initiator_name(void **state)
{
	static const char name[] = "iqn.2025-01.io.attachd.test:configured-initiator";
	struct backend_attachment a;
	struct backend_device d;
	struct errbuf e = {""};
	char path[256], v[256];

	NEED_KERNEL();
	snprintf(host.iscsi_initiator_name, sizeof(host.iscsi_initiator_name), "%s", name);
	att_init(&a, portal, NULL, 1);
	if (be_iscsi_ops.connect(&ctx, &a, &e) < 0)
		fail_msg("connect: %s", e.msg);
	assert_int_equal(wait_device(&a, &d, 20000), 0);
	snprintf(path, sizeof(path), "/sys/class/iscsi_session/session%u/initiatorname",
		 path_session(&a, 0));
	assert_int_equal(sys_read_attr(&real, path, v, sizeof(v)), 0);
	assert_string_equal(v, name);
	assert_int_equal(be_iscsi_ops.disconnect(&ctx, &a, &e), 0);
	assert_int_equal(session_count(), 0);
	host.iscsi_initiator_name[0] = 0;
	att_done(&a);
}

/* CHAP through iscsiadm: a wrong secret fails with a clear error and leaves nothing; the
 * right one attaches. ATTACHD_ISCSI_CHAP="IQN USER SECRET" names a CHAP target (LUN 0). */
static void test_chap(void **state)
{
	const char *spec = getenv("ATTACHD_ISCSI_CHAP");
	char ciqn[224], user[64], secret[64], json[1024];
	struct errlist el = {.len = 0};
	struct backend_attachment a;
	struct backend_device d;
	struct errbuf e = {""};
	void *cfg = NULL;
	json_t *j;

	NEED_KERNEL();
	if (!spec || sscanf(spec, "%223s %63s %63s", ciqn, user, secret) != 3) {
		print_message("SKIP: set ATTACHD_ISCSI_CHAP=\"IQN USER SECRET\"\n");
		skip();
	}
	for (int good = 0; good < 2; good++) {
		snprintf(json, sizeof(json),
			 "{\"portal\":\"%s\",\"iqn\":\"%s\",\"lun\":0,\"chap_user\":\"%s\","
			 "\"chap_secret\":\"%s\"}",
			 portal, ciqn, user, good ? secret : "wrong-secret-000");
		j = json_loads(json, 0, NULL);
		assert_non_null(j);
		assert_int_equal(be_iscsi_ops.parse(j, &cfg, &el), 0);
		json_decref(j);
		a = (struct backend_attachment){
		    .ops = &be_iscsi_ops, .cfg = cfg, .objs = json_object()};
		if (!good) {
			assert_int_equal(be_iscsi_ops.connect(&ctx, &a, &e), -EACCES);
			print_message("wrong secret: %s\n", e.msg);
			assert_null(strstr(e.msg, "wrong-secret-000"));
			assert_int_equal(session_count(), 0);
		} else {
			if (be_iscsi_ops.connect(&ctx, &a, &e) < 0)
				fail_msg("connect with CHAP: %s", e.msg);
			assert_int_equal(wait_device(&a, &d, 20000), 0);
		}
		assert_int_equal(be_iscsi_ops.disconnect(&ctx, &a, &e), 0);
		assert_int_equal(session_count(), 0);
		att_done(&a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_attach_two_luns_detach_first_in_first_out),
	    cmocka_unit_test(test_missing_lun_waits_and_cleans_up),
	    cmocka_unit_test(test_two_portals),
	    cmocka_unit_test(test_configured_initiator_name),
	    cmocka_unit_test(test_chap),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
