/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host tier: the iscsi backend's probe (libiscsi, user space) against tgtd, a user-space
 * iSCSI target on 127.0.0.1:3261, with a real struct sys. Needs root (tgtd's control
 * socket) and the tgt package; skips otherwise. tgtd is started here and always stopped
 * (group teardown, and PR_SET_PDEATHSIG should this binary die).
 *
 * Targets:
 *   PLAIN  LUN 1 = 64 MiB file (scsi_id set, so its NAA is known), LUN 2 = 32 MiB file,
 *          LUN 0 = tgtd's controller LUN
 *   CHAP   LUN 1 = 16 MiB file, CHAP account alice / SECRET
 *   ACL    LUN 1, only initiator ALLOWED may log in
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/iscsi/internal.h"
#include "lib/macro.h"

#define CTL_PORT "3261" /* tgtd -C: its own control socket, apart from any system tgtd */
#define PORTAL "127.0.0.1:3261"
#define PLAIN "iqn.2024-01.org.attachd.test:plain"
#define CHAPT "iqn.2024-01.org.attachd.test:chap"
#define ACLT "iqn.2024-01.org.attachd.test:acl"
#define INITIATOR "iqn.2024-01.org.attachd.test:initiator"
#define ALLOWED "iqn.2024-01.org.attachd.test:allowed"
#define SECRET "tgt-Secret-0042"
/* 24 characters, tgtd's SCSI_ID_LEN; its NAA id is derived from these (update_vpd_83) */
#define SCSI_ID "ATTACHD 0123456789abcdef"

static const char *skip_reason;
static pid_t tgtd_pid = -1;
static char dir[] = "/tmp/attachd-tgt-XXXXXX";
static int dir_made;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int tgtadm(const char *fmt, ...) _printf_(1, 2);
static int tgtadm(const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "tgtadm -C " CTL_PORT " --lld iscsi %s >>%s/tgtadm.log 2>&1",
		 args, dir);
	return system(cmd);
}

static int make_file(const char *name, off_t size)
{
	char path[256];
	int fd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = ftruncate(fd, size) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int start_tgtd(void)
{
	char log[256];
	int64_t until;

	snprintf(log, sizeof(log), "%s/tgtd.log", dir);
	tgtd_pid = fork();
	if (tgtd_pid < 0)
		return -errno;
	if (tgtd_pid == 0) {
		int fd = open(log, O_CREAT | O_WRONLY | O_APPEND, 0600);

		/* tgtd must not outlive this test, whatever happens to it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("tgtd", "tgtd", "-f", "-C", CTL_PORT, "--iscsi", "portal=" PORTAL, NULL);
		_exit(127);
	}
	/* tgtd has no readiness signal: poll its control socket (test code, bounded). */
	until = now_ms() + 10000;
	while (now_ms() < until) {
		int st;

		if (waitpid(tgtd_pid, &st, WNOHANG) == tgtd_pid) {
			tgtd_pid = -1;
			return -ECHILD;
		}
		if (tgtadm("--mode target --op show") == 0)
			return 0;
		pause_ms(50);
	}
	return -ETIMEDOUT;
}

static void stop_tgtd(void)
{
	if (tgtd_pid <= 0)
		return;
	/* tgtd ignores SIGTERM while it has targets; its state is all in memory anyway. */
	kill(tgtd_pid, SIGKILL);
	waitpid(tgtd_pid, NULL, 0);
	tgtd_pid = -1;
}

static int group_setup(void **state)
{
	if (geteuid() != 0) {
		skip_reason = "needs root (tgtd's control socket)";
		return 0;
	}
	if (system("command -v tgtd >/dev/null && command -v tgtadm >/dev/null") != 0) {
		skip_reason = "tgtd/tgtadm not installed (package tgt)";
		return 0;
	}
	dir_made = mkdtemp(dir) != NULL;
	if (!dir_made || make_file("plain1", 64 << 20) < 0 || make_file("plain2", 32 << 20) < 0 ||
	    make_file("chap1", 16 << 20) < 0 || make_file("acl1", 8 << 20) < 0) {
		skip_reason = "cannot create backing files in /tmp";
		return 0;
	}
	if (start_tgtd() < 0) {
		print_error("tgtd did not start; see %s/tgtd.log\n", dir);
		return -1;
	}
	if (tgtadm("--mode target --op new --tid 1 --targetname " PLAIN) ||
	    tgtadm("--mode logicalunit --op new --tid 1 --lun 1 -b %s/plain1", dir) ||
	    tgtadm("--mode logicalunit --op update --tid 1 --lun 1 --params scsi_id='" SCSI_ID
		   "'") ||
	    tgtadm("--mode logicalunit --op new --tid 1 --lun 2 -b %s/plain2", dir) ||
	    tgtadm("--mode target --op bind --tid 1 -I ALL") ||
	    tgtadm("--mode target --op new --tid 2 --targetname " CHAPT) ||
	    tgtadm("--mode logicalunit --op new --tid 2 --lun 1 -b %s/chap1", dir) ||
	    tgtadm("--mode account --op new --user alice --password " SECRET) ||
	    tgtadm("--mode account --op bind --tid 2 --user alice") ||
	    tgtadm("--mode target --op bind --tid 2 -I ALL") ||
	    tgtadm("--mode target --op new --tid 3 --targetname " ACLT) ||
	    tgtadm("--mode logicalunit --op new --tid 3 --lun 1 -b %s/acl1", dir) ||
	    tgtadm("--mode target --op bind --tid 3 --initiator-name " ALLOWED)) {
		print_error("configuring tgtd failed; see %s/tgtadm.log\n", dir);
		stop_tgtd();
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	stop_tgtd();
	if (dir_made) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			print_error("could not remove %s\n", dir);
	}
	return 0;
}

#define NEED_TGTD()                                                                                \
	do {                                                                                       \
		if (skip_reason) {                                                                 \
			print_message("SKIP: %s\n", skip_reason);                                  \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

struct run {
	struct sys sys;
	struct backend_host_config host;
	struct backend_ctx ctx;
	struct backend_attachment a;
	struct backend_identity id;
	struct errbuf e;
	int r;
	int64_t ms;
};

/* Probe with the given options and budget; the secret never appears in what comes back. */
static void probe(struct run *x, const char *json, int timeout_ms, const char *initiator)
{
	json_t *j = json_loads(json, 0, NULL);
	struct errlist el = {.len = 0};
	void *cfg = NULL;
	int64_t t0;

	assert_non_null(j);
	if (be_iscsi_ops.parse(j, &cfg, &el) < 0)
		fail_msg("bad test options: %s", el.msg);
	json_decref(j);
	memset(x, 0, sizeof(*x));
	sys_init_real(&x->sys);
	snprintf(x->host.iscsi_initiator_name, sizeof(x->host.iscsi_initiator_name), "%s",
		 initiator ? initiator : INITIATOR);
	x->ctx = (struct backend_ctx){.sys = &x->sys, .host = &x->host, .timeout_ms = timeout_ms};
	x->a = (struct backend_attachment){.ops = &be_iscsi_ops, .cfg = cfg, .objs = json_object()};
	t0 = now_ms();
	x->r = be_iscsi_ops.probe(&x->ctx, &x->a, &x->id, &x->e);
	x->ms = now_ms() - t0;
	print_message("probe -> %d (%s) in %lld ms: %s\n", x->r, x->r ? strerror(-x->r) : "ok",
		      (long long)x->ms, x->e.msg);
	assert_null(strstr(x->e.msg, SECRET));
	{
		char *dump = json_dumps(x->a.objs, 0);

		assert_null(strstr(dump, SECRET));
		free(dump);
	}
}

static void run_done(struct run *x)
{
	be_iscsi_ops.free_cfg(x->a.cfg);
	json_decref(x->a.objs);
}

static void expect_msg(const struct run *x, const char *needle)
{
	if (!strstr(x->e.msg, needle))
		fail_msg("'%s' not in: %s", needle, x->e.msg);
}

/* tgtd's NAA IEEE Registered Extended id: each character of scsi_id read as one hex digit
 * (non-hex -> 0), right-adjusted in 128 bits, top nibble replaced by 6 (usr/spc.c). */
static void tgtd_naa(const char *scsi_id, char *buf, size_t n)
{
	uint64_t a = 0, b = 0;
	uint8_t d[16];

	for (const char *p = scsi_id; *p; p++) {
		char s[2] = {*p, 0};

		b = b << 4 | a >> 60;
		a = a << 4 | strtoul(s, NULL, 16);
	}
	for (int i = 0; i < 8; i++) {
		d[i] = (uint8_t)(b >> (56 - 8 * i));
		d[8 + i] = (uint8_t)(a >> (56 - 8 * i));
	}
	d[0] = (uint8_t)((d[0] & 0x0f) | 0x60);
	snprintf(buf, n, "naa.");
	for (int i = 0; i < 16; i++)
		snprintf(buf + 4 + 2 * i, n - 4 - 2 * i, "%02x", d[i]);
}

static void test_probe_plain(void **state)
{
	char naa[64];
	struct run x;

	NEED_TGTD();
	tgtd_naa(SCSI_ID, naa, sizeof(naa));
	probe(&x, "{\"portal\":\"" PORTAL "\",\"iqn\":\"" PLAIN "\",\"lun\":1}", 10000, NULL);
	assert_int_equal(x.r, 0);
	assert_int_equal(x.id.size_bytes, 64 << 20);
	assert_string_equal(x.id.wwid, naa);
	assert_int_equal(json_integer_value(json_object_get(x.a.objs, "scsi_lun")), 1);
	/* recorded before connect: what a detach demands of the kernel's device */
	assert_string_equal(json_string_value(json_object_get(x.a.objs, "wwid")), naa);
	run_done(&x);

	/* LUN 2, LUN as a string, default scsi_id: still an NAA id, 32 MiB */
	probe(&x, "{\"portals\":[\"" PORTAL "\"],\"iqn\":\"" PLAIN "\",\"lun\":\"2\"}", 10000,
	      NULL);
	assert_int_equal(x.r, 0);
	assert_int_equal(x.id.size_bytes, 32 << 20);
	assert_true(startswith(x.id.wwid, "naa.6"));
	assert_string_not_equal(x.id.wwid, naa);
	run_done(&x);

	/* the expected WWID given as udev's form passes */
	{
		char json[512];

		snprintf(json, sizeof(json),
			 "{\"portal\":\"" PORTAL "\",\"iqn\":\"" PLAIN
			 "\",\"lun\":1,\"wwid\":\"3%s\"}",
			 naa + 4);
		probe(&x, json, 10000, NULL);
		assert_int_equal(x.r, 0);
		run_done(&x);
	}
}

static void test_wrong_iqn(void **state)
{
	struct run x;

	NEED_TGTD();
	probe(&x,
	      "{\"portal\":\"" PORTAL "\",\"iqn\":\"iqn.2024-01.org.attachd.test:nope\","
	      "\"lun\":1}",
	      10000, NULL);
	assert_int_equal(x.r, -ENOENT);
	expect_msg(&x, "iqn.2024-01.org.attachd.test:nope not found at " PORTAL);
	run_done(&x);
}

static void test_missing_lun_and_not_a_disk(void **state)
{
	struct run x;

	NEED_TGTD();
	probe(&x, "{\"portal\":\"" PORTAL "\",\"iqn\":\"" PLAIN "\",\"lun\":3}", 10000, NULL);
	assert_int_equal(x.r, -ENXIO);
	expect_msg(&x, "LUN 3 not found on " PLAIN " at " PORTAL "; target reports LUNs 0,1,2");
	run_done(&x);

	probe(&x, "{\"portal\":\"" PORTAL "\",\"iqn\":\"" PLAIN "\",\"lun\":0}", 10000, NULL);
	assert_int_equal(x.r, -EMEDIUMTYPE);
	expect_msg(&x, "not a disk");
	run_done(&x);
}

static void test_wwid_mismatch(void **state)
{
	struct run x;

	NEED_TGTD();
	probe(&x,
	      "{\"portal\":\"" PORTAL "\",\"iqn\":\"" PLAIN "\",\"lun\":1,"
	      "\"wwid\":\"naa.6001405aaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	      10000, NULL);
	assert_int_equal(x.r, -EMEDIUMTYPE);
	expect_msg(&x, "naa.6001405aaaaaaaaaaaaaaaaaaaaaaaaa");
	expect_msg(&x, "reused");
	run_done(&x);
}

static void test_chap(void **state)
{
	struct run x;

	NEED_TGTD();
	probe(&x,
	      "{\"portal\":\"" PORTAL "\",\"iqn\":\"" CHAPT "\",\"lun\":1,"
	      "\"chap_user\":\"alice\",\"chap_secret\":\"" SECRET "\"}",
	      10000, NULL);
	assert_int_equal(x.r, 0);
	assert_int_equal(x.id.size_bytes, 16 << 20);
	run_done(&x);

	probe(&x,
	      "{\"portal\":\"" PORTAL "\",\"iqn\":\"" CHAPT "\",\"lun\":1,"
	      "\"chap_user\":\"alice\",\"chap_secret\":\"wrong-secret-1\"}",
	      10000, NULL);
	assert_int_equal(x.r, -EACCES);
	expect_msg(&x, "rejected the CHAP credentials of user 'alice'");
	assert_null(strstr(x.e.msg, "wrong-secret-1"));
	run_done(&x);

	probe(&x, "{\"portal\":\"" PORTAL "\",\"iqn\":\"" CHAPT "\",\"lun\":1}", 10000, NULL);
	assert_int_equal(x.r, -EACCES);
	expect_msg(&x, "requires CHAP");
	run_done(&x);
}

static void test_acl(void **state)
{
	struct run x;

	NEED_TGTD();
	probe(&x, "{\"portal\":\"" PORTAL "\",\"iqn\":\"" ACLT "\",\"lun\":1}", 10000, ALLOWED);
	assert_int_equal(x.r, 0);
	run_done(&x);
	/* tgtd answers a disallowed initiator as if the target did not exist */
	probe(&x, "{\"portal\":\"" PORTAL "\",\"iqn\":\"" ACLT "\",\"lun\":1}", 10000, NULL);
	assert_true(x.r == -ENOENT || x.r == -EACCES);
	expect_msg(&x, ACLT);
	run_done(&x);
}

/* A free port on 127.0.0.1, closed again: connecting there is refused. */
static unsigned free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void test_refused_and_failover(void **state)
{
	char json[512];
	unsigned port = free_port();
	struct run x;

	/* needs no tgtd */
	snprintf(json, sizeof(json),
		 "{\"portal\":\"127.0.0.1:%u\",\"iqn\":\"" PLAIN "\",\"lun\":1}", port);
	probe(&x, json, 5000, NULL);
	assert_int_equal(x.r, -ECONNREFUSED);
	assert_true(x.ms < 2000);
	expect_msg(&x, "refused");
	run_done(&x);

	/* first portal refused, second answers: the probe uses the second */
	NEED_TGTD();
	snprintf(json, sizeof(json),
		 "{\"portals\":[\"127.0.0.1:%u\",\"" PORTAL "\"],\"iqn\":\"" PLAIN "\",\"lun\":2}",
		 port);
	probe(&x, json, 10000, NULL);
	assert_int_equal(x.r, 0);
	assert_int_equal(x.id.size_bytes, 32 << 20);
	run_done(&x);
}

/*
 * A black hole without iptables or a netns: a listener whose accept queue is full drops
 * further SYNs (tcp_conn_request), so a connect there hangs like one to a filtered address.
 */
static void test_black_hole_and_silent_target(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t sl = sizeof(sa);
	int lfd, fillers[3];
	char json[512];
	struct run x;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(listen(lfd, 0), 0);
	for (int i = 0; i < 3; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fillers[i] >= 0);
		(void)connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	pause_ms(100); /* let the first filler's handshake complete and fill the queue */

	snprintf(json, sizeof(json),
		 "{\"portal\":\"127.0.0.1:%u\",\"iqn\":\"" PLAIN "\",\"lun\":1}",
		 ntohs(sa.sin_port));
	probe(&x, json, 1500, NULL);
	assert_int_equal(x.r, -ETIMEDOUT);
	assert_true(x.ms >= 1400 && x.ms < 3000); /* the deadline, not TCP's 2 minutes */
	expect_msg(&x, "127.0.0.1:");
	if (!strstr(x.e.msg, "TCP connect timed out"))
		print_message("note: the accept queue trick did not black-hole here: %s\n",
			      x.e.msg);
	run_done(&x);
	for (int i = 0; i < 3; i++)
		close(fillers[i]);
	close(lfd);

	/* a listener that accepts (kernel handshake) but never speaks iSCSI */
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = 0;
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(listen(lfd, 16), 0);
	snprintf(json, sizeof(json),
		 "{\"portal\":\"127.0.0.1:%u\",\"iqn\":\"" PLAIN "\",\"lun\":1}",
		 ntohs(sa.sin_port));
	probe(&x, json, 1500, NULL);
	assert_int_equal(x.r, -ETIMEDOUT);
	assert_true(x.ms >= 1400 && x.ms < 3000);
	expect_msg(&x, "did not answer the iSCSI login");
	run_done(&x);
	close(lfd);

	/* two dead portals share the budget: both are tried and reported */
	probe(&x, "{\"portals\":[\"127.0.0.1:1\",\"127.0.0.1:2\"],\"iqn\":\"" PLAIN "\",\"lun\":1}",
	      2000, NULL);
	assert_int_equal(x.r, -ECONNREFUSED);
	expect_msg(&x, "127.0.0.1:1");
	expect_msg(&x, "127.0.0.1:2");
	run_done(&x);
}

static void test_initiator_name_required(void **state)
{
	struct run x;

	/* no host setting and an etc root without initiatorname.iscsi */
	json_t *j =
	    json_loads("{\"portal\":\"" PORTAL "\",\"iqn\":\"" PLAIN "\",\"lun\":1}", 0, NULL);
	struct errlist el = {.len = 0};
	void *cfg = NULL;

	assert_int_equal(be_iscsi_ops.parse(j, &cfg, &el), 0);
	json_decref(j);
	memset(&x, 0, sizeof(x));
	sys_init_real(&x.sys);
	x.sys.etc_root = "/nonexistent-attachd-root";
	x.ctx = (struct backend_ctx){.sys = &x.sys, .host = &x.host, .timeout_ms = 1000};
	x.a = (struct backend_attachment){.ops = &be_iscsi_ops, .cfg = cfg};
	assert_int_equal(be_iscsi_ops.probe(&x.ctx, &x.a, &x.id, &x.e), -ENOENT);
	expect_msg(&x, "initiator_name");
	be_iscsi_ops.free_cfg(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_probe_plain),
	    cmocka_unit_test(test_wrong_iqn),
	    cmocka_unit_test(test_missing_lun_and_not_a_disk),
	    cmocka_unit_test(test_wwid_mismatch),
	    cmocka_unit_test(test_chap),
	    cmocka_unit_test(test_acl),
	    cmocka_unit_test(test_refused_and_failover),
	    cmocka_unit_test(test_black_hole_and_silent_target),
	    cmocka_unit_test(test_initiator_name_required),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
