/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host tier: the scaleio backend against the PowerFlex gateway emulator
 * (tests/emulator/pfgw.py) over HTTPS with a self-signed certificate, with the emulator's
 * rootless SDC emulation (--sdc fake: by-id link and sysfs entries under a temporary root
 * that the backend's dev/sysfs roots point at). Covers: the whole attach/detach cycle,
 * re-login once on a 401 after the tokens expired, a volume mapped to another SDC refused
 * by name with its mappings untouched (the refusal says how to take over), a takeover
 * (the other SDC unmapped, then ours mapped; a failed unmap maps nothing; a third host
 * mapping it meanwhile is not unmapped in turn), an unavailable or slow gateway failing
 * within the bound, bad credentials, TLS verification, drv_cfg for the GUID, and the password never
 * in an error or a record. Needs python3 and openssl; skips otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/scaleio/internal.h"
#include "lib/macro.h"

#define PASSWORD "Gw-Passw0rd-7731"
#define GUID "9E56672F-2F4B-4A42-BFF4-88B6846FBFDA"
#define SDC_ID "d0f055a700000000"
#define SYS "14dbbf5617523654"
#define VOL1 "c36a59ef00000001"
#define VOL2 "c36a59ef00000002"
#define VOL3 "c36a59ef00000003"
#define OTHER_ID "a1b2c3d400000009"
#define OTHER_GUID "11111111-2222-3333-4444-555555555555"

static const char *skip_reason;
static char dir[] = "/tmp/attachd-pfgw-XXXXXX";
/* Two gateways: API 3.6 (most tests) and API 4.0 (Bearer tokens, 4037/4039 codes). */
struct emu_inst {
	const char *api;
	pid_t pid;
	unsigned port;
	char root[256], cafile[256], gateway[128];
};
static struct emu_inst insts[2] = {{.api = "3", .pid = -1}, {.api = "4", .pid = -1}};
static struct emu_inst *cur = &insts[0];
static struct sys tsys;
static struct backend_host_config host;

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

static size_t sink(char *d, size_t s, size_t n, void *ud)
{
	char **buf = ud;
	size_t old = *buf ? strlen(*buf) : 0;
	char *nb = realloc(*buf, old + s * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + old, d, s * n);
	nb[old + s * n] = 0;
	*buf = nb;
	return s * n;
}

/* Control call to the emulator (/emu/...): the parsed JSON answer, or NULL. */
static json_t *emu(const char *path, const char *body)
{
	CURL *c = curl_easy_init();
	char url[256], *out = NULL;
	long st = 0;
	json_t *j = NULL;

	snprintf(url, sizeof(url), "%s%s", cur->gateway, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, cur->cafile);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
		if (st == 200 && out)
			j = json_loads(out, 0, NULL);
	}
	curl_easy_cleanup(c);
	free(out);
	return j;
}

static long counter(const char *name)
{
	json_t *s = emu("/emu/state", NULL);
	long v = s ? (long)json_integer_value(json_object_get(json_object_get(s, "counters"), name))
		   : -1;

	json_decref(s);
	return v;
}

static int mappings_of(const char *vol, char *buf, size_t n)
{
	json_t *s = emu("/emu/state", NULL), *m;
	size_t i, k = 0;

	buf[0] = 0;
	if (!s)
		return -1;
	json_array_foreach(
	    json_object_get(json_object_get(json_object_get(s, "volumes"), vol), "mappings"), i, m)
	{
		k += (size_t)snprintf(buf + k, n - k, "%s%s", k ? "," : "",
				      json_string_value(json_object_get(m, "sdcId")));
		if (k >= n)
			break;
	}
	json_decref(s);
	return 0;
}

static int emu_start(struct emu_inst *in, const char *pwfile)
{
	char sdir[300], portfile[300], script[] = "tests/emulator/pfgw.py";
	int64_t deadline;
	FILE *f;

	snprintf(in->root, sizeof(in->root), "%s/api%s-root", dir, in->api);
	snprintf(portfile, sizeof(portfile), "%s/api%s-port", dir, in->api);
	snprintf(sdir, sizeof(sdir), "%s/api%s-state", dir, in->api);
	snprintf(in->cafile, sizeof(in->cafile), "%s/gw.crt", sdir);
	mkdir(in->root, 0755);
	in->pid = fork();
	if (in->pid == 0) {
		char logf[300];

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(logf, sizeof(logf), "%s/api%s-emu.log", dir, in->api);
		if (!freopen(logf, "w", stderr))
			_exit(127);
		execlp("python3", "python3", script, "--state-dir", sdir, "--tls", "--api", in->api,
		       "--password-file", pwfile, "--port-file", portfile, "--local-sdc-guid", GUID,
		       "--local-sdc-id", SDC_ID, "--sdc", "fake", "--fake-root", in->root,
		       "--device-delay", "0.3", "--token-idle", "60", (char *)NULL);
		_exit(127);
	}
	deadline = now_ms() + 20000;
	while (now_ms() < deadline) {
		f = fopen(portfile, "r");
		if (f) {
			if (fscanf(f, "%u", &in->port) != 1)
				in->port = 0;
			fclose(f);
			if (in->port)
				break;
		}
		if (waitpid(in->pid, NULL, WNOHANG) == in->pid) {
			in->pid = -1;
			skip_reason = "the gateway emulator exited at start";
			return 0;
		}
		pause_ms(50);
	}
	if (!in->port)
		return -1;
	snprintf(in->gateway, sizeof(in->gateway), "https://127.0.0.1:%u", in->port);
	cur = in;
	json_decref(
	    emu("/emu/volume", "{\"id\":\"" VOL1 "\",\"name\":\"vol1\",\"sizeInKb\":65536}"));
	json_decref(
	    emu("/emu/volume", "{\"id\":\"" VOL2 "\",\"name\":\"vol2\",\"sizeInKb\":32768}"));
	json_decref(
	    emu("/emu/volume", "{\"id\":\"" VOL3 "\",\"name\":\"vol3\",\"sizeInKb\":32768}"));
	json_decref(emu("/emu/sdc", "{\"id\":\"" OTHER_ID "\",\"guid\":\"" OTHER_GUID
				    "\",\"ip\":\"10.0.0.6\",\"name\":\"host2\"}"));
	json_decref(emu("/emu/map", "{\"volumeId\":\"" VOL2 "\",\"sdcId\":\"" OTHER_ID "\"}"));
	cur = &insts[0];
	return 0;
}

static int group_setup(void **state)
{
	char pwfile[300];
	FILE *f;

	if (access("tests/emulator/pfgw.py", R_OK) < 0 ||
	    system("command -v python3 >/dev/null 2>&1") != 0 ||
	    system("command -v openssl >/dev/null 2>&1") != 0) {
		skip_reason = "python3, openssl or tests/emulator/pfgw.py missing";
		return 0;
	}
	if (!mkdtemp(dir))
		return -1;
	snprintf(pwfile, sizeof(pwfile), "%s/password", dir);
	f = fopen(pwfile, "w");
	if (!f)
		return -1;
	fputs(PASSWORD "\n", f);
	fclose(f);
	for (size_t i = 0; i < ELEMENTSOF(insts); i++)
		if (emu_start(&insts[i], pwfile) < 0 || skip_reason)
			return skip_reason ? 0 : -1;
	sys_init_real(&tsys);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[300];

	for (size_t i = 0; i < ELEMENTSOF(insts); i++)
		if (insts[i].pid > 0) {
			kill(insts[i].pid, SIGKILL);
			waitpid(insts[i].pid, NULL, 0);
		}
	if (dir[sizeof(dir) - 7] != 'X') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static int setup(void **state)
{
	if (skip_reason)
		skip();
	cur = &insts[0];
	tsys.dev_root = cur->root;
	tsys.sysfs_root = cur->root;
	memset(&host, 0, sizeof(host));
	snprintf(host.scaleio.gateway, sizeof(host.scaleio.gateway), "%s", cur->gateway);
	snprintf(host.scaleio.username, sizeof(host.scaleio.username), "admin");
	snprintf(host.scaleio.password, sizeof(host.scaleio.password), PASSWORD);
	snprintf(host.scaleio.ca_file, sizeof(host.scaleio.ca_file), "%s", cur->cafile);
	snprintf(host.scaleio.sdc_guid, sizeof(host.scaleio.sdc_guid), "%s", GUID);
	be_sio_token_cache_clear();
	return 0;
}

static struct backend_ctx ctx_ms(int ms)
{
	return (struct backend_ctx){.sys = &tsys, .host = &host, .timeout_ms = ms};
}

static struct backend_attachment att_for(const char *vol, int readonly)
{
	char opts[256];
	struct errlist el = {0};
	struct backend_attachment a = {.ops = &be_scaleio_ops};
	json_t *j;

	snprintf(opts, sizeof(opts),
		 "{\"system_id\":\"" SYS "\",\"volume_id\":\"%s\",\"readonly\":%s}", vol,
		 readonly ? "true" : "false");
	j = json_loads(opts, 0, NULL);
	assert_int_equal(be_scaleio_ops.parse(j, &a.cfg, &el), 0);
	json_decref(j);
	a.objs = json_object();
	return a;
}

static void att_done(struct backend_attachment *a)
{
	be_scaleio_ops.free_cfg(a->cfg);
	json_decref(a->objs);
}

static void no_secret(const struct errbuf *e, const struct backend_attachment *a)
{
	char *dump = a && a->objs ? json_dumps(a->objs, 0) : NULL;

	assert_null(strstr(e->msg, PASSWORD));
	if (dump)
		assert_null(strstr(dump, PASSWORD));
	free(dump);
}

static int await_device(struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_device *dev, struct errbuf *e)
{
	int64_t deadline = now_ms() + 10000;
	int r;

	do {
		r = be_scaleio_ops.find_device(ctx, a, dev, e);
		if (r != -EAGAIN)
			return r;
		pause_ms(50);
	} while (now_ms() < deadline);
	return -ETIMEDOUT;
}

static void test_attach_detach_cycle(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for(VOL1, 0);
	struct backend_identity id = {0}, got = {0};
	struct backend_device dev;
	struct errbuf e = {{0}};
	char maps[256], link[512];
	struct stat st;

	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), 0);
	assert_string_equal(id.wwid, "scaleio:" SYS "-" VOL1);
	assert_int_equal(id.size_bytes, 65536ULL * 1024);
	assert_int_equal(be_scaleio_ops.find_device(&ctx, &a, &dev, &e), -EAGAIN);

	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), 0);
	assert_string_equal(json_string_value(json_object_get(a.objs, "sdc_id")), SDC_ID);
	assert_true(json_is_true(json_object_get(a.objs, "mapped_by_us")));
	mappings_of(VOL1, maps, sizeof(maps));
	assert_string_equal(maps, SDC_ID);

	assert_int_equal(await_device(&ctx, &a, &dev, &e), 0);
	assert_string_equal(dev.sysname, "scinia");
	assert_int_equal(dev.major, 252);
	assert_int_equal(be_scaleio_ops.identify(&ctx, &a, &dev, &got, &e), 0);
	assert_string_equal(got.wwid, id.wwid);
	assert_int_equal(got.size_bytes, id.size_bytes);

	/* A second connect of a volume already mapped here is a success and stays ours. */
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), 0);
	assert_true(json_is_true(json_object_get(a.objs, "mapped_by_us")));

	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	mappings_of(VOL1, maps, sizeof(maps));
	assert_string_equal(maps, "");
	snprintf(link, sizeof(link), "%s/dev/disk/by-id/emc-vol-" SYS "-" VOL1, cur->root);
	assert_int_equal(lstat(link, &st), -1);
	assert_false(json_is_true(json_object_get(a.objs, "mapped_by_us")));
	/* Idempotent. */
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	no_secret(&e, &a);
	att_done(&a);
}

static void test_relogin_once_after_expiry(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for(VOL1, 0);
	struct backend_identity id;
	struct errbuf e = {{0}};
	long logins, unauth;

	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), 0);
	logins = counter("logins");
	/* The cached token is reused: no new login. */
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), 0);
	assert_int_equal(counter("logins"), logins);

	json_decref(emu("/emu/expire-tokens", "{}"));
	unauth = counter("unauthorized");
	if (be_scaleio_ops.disconnect(&ctx, &a, &e) != 0)
		fail_msg("disconnect: %s", e.msg);
	assert_int_equal(counter("logins"), logins + 1);
	assert_int_equal(counter("unauthorized"), unauth + 1);
	no_secret(&e, &a);
	att_done(&a);
}

static void test_mapped_to_other_sdc_refused(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for(VOL2, 0), ro = att_for(VOL2, 1);
	struct backend_identity id;
	struct errbuf e = {{0}};
	char maps[256];

	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -EBUSY);
	assert_non_null(strstr(e.msg, OTHER_ID));
	assert_non_null(strstr(e.msg, "host2"));
	assert_non_null(strstr(e.msg, "10.0.0.6"));
	errbuf_clear(&e);
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "host2"));
	assert_non_null(strstr(e.msg, "attachctl takeover"));
	assert_non_null(strstr(e.msg, "takeover: true"));
	assert_string_equal(a.took_over_from, "");
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	mappings_of(VOL2, maps, sizeof(maps));
	assert_string_equal(maps, OTHER_ID);
	/* Read-only may share it. */
	errbuf_clear(&e);
	assert_int_equal(be_scaleio_ops.probe(&ctx, &ro, &id, &e), 0);
	no_secret(&e, &a);
	att_done(&a);
	att_done(&ro);
}

static void test_unknown_volume(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for("00000000000000ff", 0);
	struct backend_identity id;
	struct errbuf e = {{0}};

	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "00000000000000ff does not exist"));
	att_done(&a);
}

static void test_gateway_unreachable(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct backend_identity id;
	struct errbuf e = {{0}};
	int64_t t0 = now_ms();

	/* Port 1 on loopback: nothing listens, connection refused at once. */
	snprintf(host.scaleio.gateway, sizeof(host.scaleio.gateway), "https://127.0.0.1:1");
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -ECONNREFUSED);
	assert_true(now_ms() - t0 < 5000);
	assert_non_null(strstr(e.msg, "unreachable"));
	no_secret(&e, &a);
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	att_done(&a);
}

static void test_gateway_slow(void **state)
{
	struct backend_ctx ctx = ctx_ms(1500);
	struct backend_attachment a = att_for(VOL3, 0);
	struct errbuf e = {{0}};
	char maps[256];
	int64_t t0;

	json_decref(emu("/emu/fault", "{\"slow\":4}"));
	t0 = now_ms();
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(e.msg, "did not answer"));
	no_secret(&e, &a);
	json_decref(emu("/emu/fault", "{\"slow\":0}"));
	mappings_of(VOL3, maps, sizeof(maps));
	assert_string_equal(maps, "");
	att_done(&a);
}

static void test_gateway_503_html(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct backend_identity id;
	struct errbuf e = {{0}};

	json_decref(emu("/emu/fault", "{\"status\":503,\"html\":true}"));
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -EIO);
	json_decref(emu("/emu/fault", "{}"));
	assert_non_null(strstr(e.msg, "503"));
	no_secret(&e, &a);
	att_done(&a);
}

static void test_bad_password(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct backend_identity id;
	struct errbuf e = {{0}};

	snprintf(host.scaleio.password, sizeof(host.scaleio.password), "wrong-" PASSWORD);
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -EACCES);
	assert_non_null(strstr(e.msg, "refused the login of user 'admin'"));
	assert_null(strstr(e.msg, "wrong-"));
	no_secret(&e, &a);
	att_done(&a);
}

static void test_tls_verification(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct backend_identity id;
	struct errbuf e = {{0}};

	host.scaleio.ca_file[0] = 0; /* system store: the self-signed cert is not trusted */
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -EPROTO);
	assert_non_null(strstr(e.msg, "scaleio.ca_file"));
	host.scaleio.insecure_skip_verify = 1;
	be_sio_token_cache_clear();
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), 0);
	att_done(&a);
}

static void test_guid_from_drv_cfg(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct backend_identity id;
	struct errbuf e = {{0}};
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/drv_cfg", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	/* lower case on purpose: the gateway's is upper case */
	fputs("#!/bin/sh\n[ \"$1\" = --query_guid ] || exit 3\necho "
	      "9e56672f-2f4b-4a42-bff4-88b6846fbfda\n",
	      f);
	fclose(f);
	chmod(path, 0755);
	host.scaleio.sdc_guid[0] = 0;
	snprintf(host.scaleio.drv_cfg, sizeof(host.scaleio.drv_cfg), "%s", path);
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), 0);

	snprintf(host.scaleio.drv_cfg, sizeof(host.scaleio.drv_cfg), "%s/missing-drv_cfg", dir);
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -ENODEV);
	assert_non_null(strstr(e.msg, "sdc_guid"));
	att_done(&a);
}

static void test_sdc_unknown(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct backend_identity id;
	struct errbuf e = {{0}};

	snprintf(host.scaleio.sdc_guid, sizeof(host.scaleio.sdc_guid),
		 "00000000-0000-0000-0000-000000000001");
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -ENODEV);
	assert_non_null(strstr(e.msg, "not known to PowerFlex system " SYS));
	att_done(&a);
}

/* This host's SDC lost its MDMs, then is not approved (restricted mode): clear refusals. */
static void test_sdc_disconnected_unapproved(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct errbuf e = {{0}};
	char maps[256];

	json_decref(emu("/emu/sdc", "{\"id\":\"" SDC_ID "\",\"guid\":\"" GUID
				    "\",\"ip\":\"127.0.0.1\",\"state\":\"Disconnected\"}"));
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), -ENOLINK);
	assert_non_null(strstr(e.msg, "Disconnected"));
	json_decref(emu("/emu/sdc", "{\"id\":\"" SDC_ID "\",\"guid\":\"" GUID
				    "\",\"ip\":\"127.0.0.1\",\"approved\":false}"));
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), -EACCES);
	assert_non_null(strstr(e.msg, "not approved"));
	json_decref(emu("/emu/sdc", "{\"id\":\"" SDC_ID "\",\"guid\":\"" GUID
				    "\",\"ip\":\"127.0.0.1\",\"name\":\"this-host\"}"));
	mappings_of(VOL3, maps, sizeof(maps));
	assert_string_equal(maps, "");
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	att_done(&a);
}

/* Mapped, but this host's SDC never shows the device: find_device stays -EAGAIN (attach/
 * owns the deadline) and disconnect unmaps without waiting for a link that never came. */
static void test_device_never_appears(void **state)
{
	struct backend_ctx ctx = ctx_ms(5000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct backend_device dev;
	struct errbuf e = {{0}};
	char maps[256];

	json_decref(emu("/emu/fault", "{\"nodevice\":true}"));
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), 0);
	pause_ms(800);
	assert_int_equal(be_scaleio_ops.find_device(&ctx, &a, &dev, &e), -EAGAIN);
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	json_decref(emu("/emu/fault", "{}"));
	mappings_of(VOL3, maps, sizeof(maps));
	assert_string_equal(maps, "");
	att_done(&a);
}

/* API 4.x: Bearer tokens (a Basic token is refused), 4037/4039 numbering, same flow. */
static void test_api4_cycle(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for(VOL1, 0);
	struct backend_identity id = {0};
	struct backend_device dev;
	struct errbuf e = {{0}};
	long logins;
	char maps[256];

	cur = &insts[1];
	tsys.dev_root = cur->root;
	tsys.sysfs_root = cur->root;
	snprintf(host.scaleio.gateway, sizeof(host.scaleio.gateway), "%s", cur->gateway);
	snprintf(host.scaleio.ca_file, sizeof(host.scaleio.ca_file), "%s", cur->cafile);
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), 0);
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), 0);
	assert_int_equal(await_device(&ctx, &a, &dev, &e), 0);
	logins = counter("logins");
	json_decref(emu("/emu/expire-tokens", "{}"));
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	assert_int_equal(counter("logins"), logins + 1);
	mappings_of(VOL1, maps, sizeof(maps));
	assert_string_equal(maps, "");
	/* A replayed unmap of a volume no longer mapped: 4039 counts as done. */
	json_object_set_new(a.objs, "mapped_by_us", json_true());
	if (be_scaleio_ops.disconnect(&ctx, &a, &e) != 0)
		fail_msg("second disconnect: %s", e.msg);
	no_secret(&e, &a);
	att_done(&a);
	cur = &insts[0];
}

/* 3.x: the same replayed unmap meets code 84. */
static void test_unmap_replay_84(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for(VOL3, 0);
	struct errbuf e = {{0}};

	json_object_set_new(a.objs, "system_id", json_string(SYS));
	json_object_set_new(a.objs, "volume_id", json_string(VOL3));
	json_object_set_new(a.objs, "sdc_id", json_string(SDC_ID));
	json_object_set_new(a.objs, "mapped_by_us", json_true());
	if (be_scaleio_ops.disconnect(&ctx, &a, &e) != 0)
		fail_msg("disconnect: %s", e.msg);
	assert_false(json_is_true(json_object_get(a.objs, "mapped_by_us")));
	att_done(&a);
}

static uint64_t count_of(const struct backend_request_stats *st)
{
	uint64_t n = 0;

	for (unsigned i = 0; i <= BACKEND_REQUEST_BUCKETS; i++)
		n += st->bucket[i];
	return n;
}

/* The metrics' gateway counters (be_scaleio_ops.request_stats): every exchange counted by
 * its result, and in the duration histogram. */
static void test_request_stats(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for(VOL1, 0);
	struct backend_request_stats s0, s1, s2, s3;
	struct backend_identity id;
	struct errbuf e = {{0}};

	assert_non_null(be_scaleio_ops.request_stats);
	be_scaleio_ops.request_stats(&s0);
	/* A fresh login (version asked too) and the probe's calls: answered. */
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), 0);
	be_scaleio_ops.request_stats(&s1);
	assert_true(s1.answered >= s0.answered + 3);
	assert_int_equal(s1.http_errors, s0.http_errors);
	assert_int_equal(s1.transport_errors, s0.transport_errors);
	assert_int_equal(count_of(&s1) - count_of(&s0), s1.answered - s0.answered);
	assert_true(s1.sum_usec > s0.sum_usec);

	/* A gateway answering 503: an HTTP error. */
	json_decref(emu("/emu/fault", "{\"status\":503,\"html\":true}"));
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -EIO);
	json_decref(emu("/emu/fault", "{}"));
	be_scaleio_ops.request_stats(&s2);
	assert_int_equal(s2.http_errors, s1.http_errors + 1);
	assert_int_equal(s2.transport_errors, s1.transport_errors);

	/* Nothing listening: a transport error (the login's request). */
	snprintf(host.scaleio.gateway, sizeof(host.scaleio.gateway), "https://127.0.0.1:1");
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -ECONNREFUSED);
	be_scaleio_ops.request_stats(&s3);
	assert_int_equal(s3.transport_errors, s2.transport_errors + 1);
	assert_int_equal(s3.answered, s2.answered);
	assert_int_equal(count_of(&s3) - count_of(&s0),
			 (s3.answered - s0.answered) + (s3.http_errors - s0.http_errors) +
			     (s3.transport_errors - s0.transport_errors));
}

/* A volume of its own for a takeover test, mapped read-write to the other SDC (host2). */
static void held_by_other(const char *vol)
{
	char b[160];

	snprintf(b, sizeof(b), "{\"id\":\"%s\",\"name\":\"t-%s\",\"sizeInKb\":32768}", vol,
		 vol + 10);
	json_decref(emu("/emu/volume", b));
	snprintf(b, sizeof(b), "{\"volumeId\":\"%s\",\"sdcId\":\"" OTHER_ID "\"}", vol);
	json_decref(emu("/emu/map", b));
}

/* Takeover: host2's SDC is unmapped, ours mapped, the device comes, took_over_from names
 * host2 for the agent's log; detach leaves the volume mapped to nobody. */
static void test_takeover(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for("c36a59ef00000041", 0);
	struct backend_identity id;
	struct backend_device dev;
	struct errbuf e = {{0}};
	char maps[256];

	held_by_other("c36a59ef00000041");
	a.takeover = 1;
	/* The plan step refuses nothing on takeover, and changes nothing. */
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), 0);
	mappings_of("c36a59ef00000041", maps, sizeof(maps));
	assert_string_equal(maps, OTHER_ID);
	if (be_scaleio_ops.connect(&ctx, &a, &e) != 0)
		fail_msg("takeover connect: %s", e.msg);
	assert_string_equal(a.took_over_from, "SDC " OTHER_ID " (name 'host2', IP 10.0.0.6)");
	mappings_of("c36a59ef00000041", maps, sizeof(maps));
	assert_string_equal(maps, SDC_ID);
	assert_true(json_is_true(json_object_get(a.objs, "mapped_by_us")));
	assert_int_equal(await_device(&ctx, &a, &dev, &e), 0);
	/* Connect again (a resumed attach): ours already, nobody to take it from. */
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), 0);
	assert_string_equal(a.took_over_from, "");
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	mappings_of("c36a59ef00000041", maps, sizeof(maps));
	assert_string_equal(maps, "");
	no_secret(&e, &a);
	att_done(&a);
}

/* The gateway will not unmap host2: nothing is mapped to us, the error names host2's SDC
 * and carries the gateway's answer, and a detach has nothing to undo. */
static void test_takeover_unmap_fails(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for("c36a59ef00000042", 0);
	struct errbuf e = {{0}};
	char maps[256];
	long reqs;

	held_by_other("c36a59ef00000042");
	a.takeover = 1;
	json_decref(emu("/emu/fault", "{\"fail_unmap\":65}"));
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), -EIO);
	json_decref(emu("/emu/fault", "{}"));
	assert_non_null(strstr(e.msg, "did not unmap it from SDC " OTHER_ID " (that SDC keeps it)"));
	assert_non_null(strstr(e.msg, "gateway error 65: Failed to unmap"));
	assert_non_null(strstr(e.msg, "nothing was mapped to this host's SDC " SDC_ID));
	assert_string_equal(a.took_over_from, "");
	mappings_of("c36a59ef00000042", maps, sizeof(maps));
	assert_string_equal(maps, OTHER_ID);
	reqs = counter("requests");
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	assert_int_equal(counter("requests"), reqs); /* nothing of ours to unmap */
	mappings_of("c36a59ef00000042", maps, sizeof(maps));
	assert_string_equal(maps, OTHER_ID);
	no_secret(&e, &a);
	att_done(&a);
}

/* A third host maps the volume while we unmap host2: the re-read sees it, and we neither
 * unmap it in turn nor map ours (two takeovers must not chase each other). */
static void test_takeover_race_third_host(void **state)
{
	struct backend_ctx ctx = ctx_ms(10000);
	struct backend_attachment a = att_for("c36a59ef00000043", 0);
	struct errbuf e = {{0}};
	char maps[256];

	held_by_other("c36a59ef00000043");
	json_decref(emu("/emu/sdc", "{\"id\":\"bbbbbbbb00000003\",\"guid\":"
				    "\"33333333-2222-3333-4444-555555555555\",\"ip\":\"10.0.0.7\","
				    "\"name\":\"host3\"}"));
	json_decref(emu("/emu/fault", "{\"map_after_unmap\":\"bbbbbbbb00000003\"}"));
	a.takeover = 1;
	assert_int_equal(be_scaleio_ops.connect(&ctx, &a, &e), -EBUSY);
	json_decref(emu("/emu/fault", "{}"));
	assert_non_null(strstr(e.msg, "unmapped it from SDC " OTHER_ID));
	assert_non_null(strstr(e.msg, "meanwhile another host mapped it"));
	assert_non_null(strstr(e.msg, "bbbbbbbb00000003"));
	assert_string_equal(a.took_over_from, "");
	mappings_of("c36a59ef00000043", maps, sizeof(maps));
	assert_string_equal(maps, "bbbbbbbb00000003");
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	att_done(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_attach_detach_cycle, setup),
	    cmocka_unit_test_setup(test_relogin_once_after_expiry, setup),
	    cmocka_unit_test_setup(test_mapped_to_other_sdc_refused, setup),
	    cmocka_unit_test_setup(test_unknown_volume, setup),
	    cmocka_unit_test_setup(test_gateway_unreachable, setup),
	    cmocka_unit_test_setup(test_gateway_slow, setup),
	    cmocka_unit_test_setup(test_gateway_503_html, setup),
	    cmocka_unit_test_setup(test_bad_password, setup),
	    cmocka_unit_test_setup(test_tls_verification, setup),
	    cmocka_unit_test_setup(test_guid_from_drv_cfg, setup),
	    cmocka_unit_test_setup(test_sdc_unknown, setup),
	    cmocka_unit_test_setup(test_sdc_disconnected_unapproved, setup),
	    cmocka_unit_test_setup(test_device_never_appears, setup),
	    cmocka_unit_test_setup(test_api4_cycle, setup),
	    cmocka_unit_test_setup(test_unmap_replay_84, setup),
	    cmocka_unit_test_setup(test_request_stats, setup),
	    cmocka_unit_test_setup(test_takeover, setup),
	    cmocka_unit_test_setup(test_takeover_unmap_fails, setup),
	    cmocka_unit_test_setup(test_takeover_race_third_host, setup),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
