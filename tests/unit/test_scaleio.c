/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scaleio backend, pure parts: Create options, ids and GUIDs, gateway error bodies and
 * codes (fixtures from reference/scaleio.md §6), token and version bodies, SDC and volume
 * JSON, request bodies, drv_cfg output; find_device/identify against a fixture tree; and
 * the client refusing to run without a configured gateway.
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
#include <sys/stat.h>
#include <unistd.h>

#include "backends/scaleio/internal.h"
#include "lib/macro.h"

#define SYS "14dbbf5617523654"
#define VOL "c36a59ef00000001"

static int parse(const char *json, struct be_sio_cfg **ret, struct errlist *el)
{
	json_t *j = json_loads(json, 0, NULL);
	void *cfg = NULL;
	int r;

	assert_non_null(j);
	memset(el, 0, sizeof(*el));
	r = be_scaleio_ops.parse(j, &cfg, el);
	json_decref(j);
	if (r == 0)
		*ret = cfg;
	else
		assert_null(cfg);
	return r;
}

static void test_options_valid(void **state)
{
	struct be_sio_cfg *c;
	struct errlist el;
	char d[128];

	assert_int_equal(
	    parse("{\"system_id\":\"14DBBF5617523654\",\"volume_id\":\"" VOL "\"}", &c, &el), 0);
	assert_string_equal(c->system_id, SYS); /* lower-cased, as the by-id link spells it */
	assert_string_equal(c->volume_id, VOL);
	assert_int_equal(c->readonly, 0);
	assert_int_equal(be_scaleio_ops.describe(c, d, sizeof(d)), 0);
	assert_string_equal(d, "scaleio:" SYS "-" VOL);
	be_scaleio_ops.free_cfg(c);

	assert_int_equal(parse("{\"system_id\":\"" SYS "\",\"volume_id\":\"" VOL
			       "\",\"readonly\":\"true\"}",
			       &c, &el),
			 0);
	assert_int_equal(c->readonly, 1);
	be_scaleio_ops.free_cfg(c);
}

static void test_options_invalid(void **state)
{
	struct be_sio_cfg *c = NULL;
	struct errlist el;

	assert_int_equal(parse("{}", &c, &el), -EINVAL);
	assert_int_equal(el.n, 2);
	assert_non_null(strstr(el.msg, "system_id: required"));
	assert_non_null(strstr(el.msg, "volume_id: required"));

	assert_int_equal(parse("{\"system_id\":\"xyz\",\"volume_id\":12}", &c, &el), -EINVAL);
	assert_int_equal(el.n, 2);
	assert_non_null(strstr(el.msg, "system_id: 'xyz' is not 16 hex digits"));
	assert_non_null(strstr(el.msg, "volume_id: must be a string"));

	assert_int_equal(parse("{\"system_id\":\"" SYS "0\",\"volume_id\":\"" VOL "\"}", &c, &el),
			 -EINVAL);
	assert_int_equal(el.n, 1);
}

static void test_ids_and_guids(void **state)
{
	assert_true(be_sio_id_is_valid("d0f055a700000000"));
	assert_true(be_sio_id_is_valid("D0F055A700000000"));
	assert_false(be_sio_id_is_valid("d0f055a70000000"));
	assert_false(be_sio_id_is_valid("d0f055a70000000g"));
	assert_false(be_sio_id_is_valid(NULL));
	assert_true(be_sio_guid_is_valid("9E56672F-2F4B-4A42-BFF4-88B6846FBFDA"));
	assert_true(be_sio_guid_is_valid("b0e3bfb8-c20b-43bf-93c8-13339e85aa50"));
	assert_false(be_sio_guid_is_valid("9E56672F2F4B4A42BFF488B6846FBFDA"));
	assert_false(be_sio_guid_is_valid("9E56672F-2F4B-4A42-BFF4-88B6846FBFDA0"));
	assert_false(be_sio_guid_is_valid("9E56672F-2F4B-4A42-BFF4"));
}

static void test_error_bodies(void **state)
{
	struct be_sio_gwerr g;

	be_sio_gwerr_parse("{\"message\":\"The volume is already mapped to this SDC\","
			   "\"httpStatusCode\":500,\"errorCode\":81}",
			   &g);
	assert_int_equal(g.code, 81);
	assert_string_equal(g.message, "The volume is already mapped to this SDC");
	assert_true(be_sio_code_is_already_mapped(g.code));

	be_sio_gwerr_parse(
	    "{\"message\":\"The volume is not mapped to SDC\",\"httpStatusCode\":500,"
	    "\"errorCode\":84}",
	    &g);
	assert_true(be_sio_code_is_not_mapped(g.code));
	assert_true(be_sio_code_is_not_mapped(4039));
	assert_true(be_sio_code_is_already_mapped(4037));
	assert_false(be_sio_code_is_not_mapped(81));
	assert_false(be_sio_code_is_already_mapped(297));

	be_sio_gwerr_parse("{\"message\":\"Unauthorized\",\"httpStatusCode\":401,\"errorCode\":0}",
			   &g);
	assert_int_equal(g.code, 0);
	be_sio_gwerr_parse("<html><body>Service Unavailable</body></html>", &g);
	assert_int_equal(g.code, -1);
	assert_string_equal(g.message, "");
	be_sio_gwerr_parse("", &g);
	assert_int_equal(g.code, -1);
	be_sio_gwerr_parse(NULL, &g);
	assert_int_equal(g.code, -1);
}

static void test_string_bodies_and_version(void **state)
{
	char b[128];
	int bearer = -1;

	assert_int_equal(
	    be_sio_json_string_body(
		"\"YWRtaW46MTU0MTU2MjIxOTI5MzpmODkxNDVhN2NkYzZkNGNkYjYxNGE0OGRkZGE3Zjk4MA\"", b,
		sizeof(b)),
	    0);
	assert_string_equal(
	    b, "YWRtaW46MTU0MTU2MjIxOTI5MzpmODkxNDVhN2NkYzZkNGNkYjYxNGE0OGRkZGE3Zjk4MA");
	assert_int_equal(
	    be_sio_json_string_body("NzY0OTYzNjA3Njk5MTE5MjpkZWFkYmVlZg\n", b, sizeof(b)), 0);
	assert_string_equal(b, "NzY0OTYzNjA3Njk5MTE5MjpkZWFkYmVlZg");
	assert_int_equal(be_sio_json_string_body("\"\"", b, sizeof(b)), -EINVAL);
	assert_int_equal(be_sio_json_string_body("{\"access_token\":\"x\"}", b, sizeof(b)),
			 -EINVAL);
	assert_int_equal(be_sio_json_string_body("two words", b, sizeof(b)), -EINVAL);
	assert_int_equal(be_sio_json_string_body("\"0123456789\"", b, 5), -EINVAL);

	assert_int_equal(be_sio_version_parse("3.6", b, sizeof(b), &bearer), 0);
	assert_string_equal(b, "3.6");
	assert_int_equal(bearer, 0);
	assert_int_equal(be_sio_version_parse("4.0.1", b, sizeof(b), &bearer), 0);
	assert_string_equal(b, "4.0");
	assert_int_equal(bearer, 1);
	assert_int_equal(be_sio_version_parse("v3", b, sizeof(b), &bearer), -EINVAL);
	assert_int_equal(be_sio_version_parse("3.6beta", b, sizeof(b), &bearer), -EINVAL);
}

static void test_urls(void **state)
{
	char u[64];

	assert_int_equal(be_sio_url("https://gw:443//", "/api/login", u, sizeof(u)), 0);
	assert_string_equal(u, "https://gw:443/api/login");
	assert_int_equal(
	    be_sio_url("https://gw", "/api/instances/Volume::" VOL "/action/addMappedSdc", u, 20),
	    -ENAMETOOLONG);
}

static const char *SDCS =
    "[{\"id\":\"d0f055a700000000\",\"sdcGuid\":\"9E56672F-2F4B-4A42-BFF4-88B6846FBFDA\","
    "\"sdcIp\":\"10.0.0.5\",\"sdcIps\":[\"10.0.0.5\"],\"name\":null,"
    "\"mdmConnectionState\":\"Connected\",\"sdcApproved\":true,\"systemId\":\"" SYS "\"},"
    "{\"id\":\"a1b2c3d400000009\",\"sdcGuid\":\"11111111-2222-3333-4444-555555555555\","
    "\"sdcIps\":[\"10.0.0.6\"],\"name\":\"host2\",\"mdmConnectionState\":\"Disconnected\","
    "\"sdcApproved\":false}]";

static void test_sdc_lookup(void **state)
{
	json_t *list = json_loads(SDCS, 0, NULL);
	struct be_sio_sdc s;
	char who[256];

	assert_non_null(list);
	assert_int_equal(be_sio_sdc_find_guid(list, "9e56672f-2f4b-4a42-bff4-88b6846fbfda", &s), 0);
	assert_string_equal(s.id, "d0f055a700000000");
	assert_int_equal(s.connected, 1);
	assert_int_equal(s.approved, 1);
	assert_string_equal(s.ip, "10.0.0.5");
	assert_int_equal(be_sio_sdc_find_guid(list, "00000000-0000-0000-0000-000000000000", &s),
			 -ENOENT);
	assert_int_equal(be_sio_sdc_find_id(list, "A1B2C3D400000009", &s), 0);
	assert_int_equal(s.connected, 0);
	assert_int_equal(s.approved, 0);
	assert_string_equal(s.ip, "10.0.0.6"); /* from sdcIps when sdcIp is missing */
	be_sio_sdc_format(&s, who, sizeof(who));
	assert_string_equal(who, "a1b2c3d400000009 (name 'host2', IP 10.0.0.6)");
	assert_int_equal(be_sio_sdc_find_guid(json_object_get(list, "x"), "x", &s), -EINVAL);
	json_decref(list);
}

static void test_volume_parse(void **state)
{
	/* reference §6.3, verbatim */
	const char *mapped =
	    "{\"id\":\"c36a59ef00000001\",\"name\":\"vol1\",\"sizeInKb\":8388608,"
	    "\"storagePoolId\":\"e65f9c2700000000\",\"vtreeId\":\"c36a59ef00000001\","
	    "\"volumeType\":\"ThinProvisioned\",\"ancestorVolumeId\":null,"
	    "\"mappingToAllSdcsEnabled\":false,\"accessModeLimit\":\"ReadWrite\","
	    "\"mappedSdcInfo\":[{\"sdcId\":\"d0f055a700000000\",\"sdcIp\":\"10.0.0.5\","
	    "\"sdcName\":null,\"limitIops\":0,\"limitBwInMbps\":0,\"accessMode\":\"ReadWrite\","
	    "\"isDirectBufferMapping\":false,\"hostType\":\"SdcHost\"}],"
	    "\"links\":[{\"rel\":\"self\",\"href\":\"/api/instances/Volume::c36a59ef00000001\"}]}";
	const char *forms[] = {
	    "{\"id\":\"c36a59ef00000001\",\"sizeInKb\":1024,\"mappedSdcInfo\":null}",
	    "{\"id\":\"c36a59ef00000001\",\"sizeInKb\":1024,\"mappedSdcInfo\":[]}",
	    "{\"id\":\"c36a59ef00000001\",\"sizeInKb\":1024}",
	};
	struct be_sio_volume v;
	json_t *j;

	j = json_loads(mapped, 0, NULL);
	assert_int_equal(be_sio_volume_parse(j, &v), 0);
	json_decref(j);
	assert_string_equal(v.id, VOL);
	assert_int_equal(v.size_bytes, 8388608ULL * 1024);
	assert_int_equal(v.n_mapped, 1);
	assert_true(be_sio_volume_is_mapped_to(&v, "D0F055A700000000"));
	assert_int_equal(be_sio_volume_other_mapping(&v, "d0f055a700000000"), -1);
	assert_int_equal(be_sio_volume_other_mapping(&v, "a1b2c3d400000009"), 0);
	for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
		j = json_loads(forms[i], 0, NULL);
		assert_int_equal(be_sio_volume_parse(j, &v), 0);
		assert_int_equal(v.n_mapped, 0);
		assert_int_equal(v.size_bytes, 1024 * 1024);
		json_decref(j);
	}
	j = json_loads("{\"id\":\"x\",\"mappedSdcInfo\":\"nope\"}", 0, NULL);
	assert_int_equal(be_sio_volume_parse(j, &v), -EINVAL);
	json_decref(j);
	j = json_loads("[1]", 0, NULL);
	assert_int_equal(be_sio_volume_parse(j, &v), -EINVAL);
	json_decref(j);
}

/* A volume object with mappings "sdcId:ip:name,..." (name may be empty). */
static void volume_with(struct be_sio_volume *v, int all_sdcs, const char *maps)
{
	char buf[512], *save = NULL, *m;

	memset(v, 0, sizeof(*v));
	snprintf(v->id, sizeof(v->id), VOL);
	v->all_sdcs = all_sdcs;
	snprintf(buf, sizeof(buf), "%s", maps);
	for (m = strtok_r(buf, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
		char *ip = strchr(m, ':'), *name;

		*ip++ = 0;
		name = strchr(ip, ':');
		*name++ = 0;
		snprintf(v->mapped[v->n_mapped].sdc_id, sizeof(v->mapped[0].sdc_id), "%s", m);
		snprintf(v->mapped[v->n_mapped].sdc_ip, sizeof(v->mapped[0].sdc_ip), "%s", ip);
		snprintf(v->mapped[v->n_mapped].sdc_name, sizeof(v->mapped[0].sdc_name), "%s",
			 name);
		v->n_mapped++;
	}
}

#define OWN "d0f055a700000000"
#define HOLDER "a1b2c3d400000009"

/* One writer: a read-write attach of a volume mapped to another SDC is refused, naming that
 * SDC and saying how to take over; with takeover the SDCs to unmap; read-only shares. */
static void test_exclusive_plan(void **state)
{
	json_t *sdcs = json_loads(SDCS, 0, NULL);
	struct be_sio_volume v;
	struct be_sio_excl p;
	struct errbuf e = {{0}};

	/* Free, or mapped to us only: nothing to do, takeover or not. */
	volume_with(&v, 0, "");
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 0, 0, &p, &e), 0);
	assert_int_equal(p.n_evict, 0);
	volume_with(&v, 0, OWN ":10.0.0.5:");
	assert_int_equal(be_sio_exclusive_plan(&v, "D0F055A700000000", sdcs, 0, 1, &p, &e), 0);
	assert_int_equal(p.n_evict, 0);
	assert_string_equal(p.who, "");

	/* Held by host2: refused without takeover, naming it from the SDC list. */
	volume_with(&v, 0, HOLDER "::");
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 0, 0, &p, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "already mapped to another SDC, SDC " HOLDER
				      " (name 'host2', IP 10.0.0.6)"));
	assert_non_null(strstr(e.msg, "this host's SDC " OWN));
	assert_non_null(strstr(e.msg, "attachctl takeover"));
	assert_non_null(strstr(e.msg, "takeover: true"));
	assert_non_null(strstr(e.msg, "read-only attach works"));
	/* Read-only shares it, takeover or not. */
	errbuf_clear(&e);
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 1, 0, &p, &e), 0);
	assert_int_equal(p.n_evict, 0);
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 1, 1, &p, &e), 0);
	assert_int_equal(p.n_evict, 0);
	/* Takeover: unmap host2's SDC, named for the log. */
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 0, 1, &p, &e), 0);
	assert_int_equal(p.n_evict, 1);
	assert_string_equal(p.evict[0], HOLDER);
	assert_string_equal(p.who, "SDC " HOLDER " (name 'host2', IP 10.0.0.6)");

	/* Mapped to us and to two others (one unknown to the SDC list: named from the
	 * volume's mappedSdcInfo): every other one goes, ours stays. */
	volume_with(&v, 0, HOLDER "::," OWN "::,bbbbbbbb00000001:10.0.0.7:cell-7");
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 0, 0, &p, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "other SDCs: SDC " HOLDER " (name 'host2', IP 10.0.0.6), "
				      "SDC bbbbbbbb00000001 (name 'cell-7', IP 10.0.0.7)"));
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, NULL, 0, 1, &p, &e), 0);
	assert_int_equal(p.n_evict, 2);
	assert_string_equal(p.evict[0], HOLDER);
	assert_string_equal(p.evict[1], "bbbbbbbb00000001");
	assert_string_equal(p.who, "SDC " HOLDER " (name '-', IP unknown), "
				   "SDC bbbbbbbb00000001 (name 'cell-7', IP 10.0.0.7)");

	/* Mapped to all SDCs: refused even on takeover, saying why; read-only still fine. */
	volume_with(&v, 1, "");
	errbuf_clear(&e);
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 0, 0, &p, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "mapped to all SDCs"));
	assert_null(strstr(e.msg, "even with takeover"));
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 0, 1, &p, &e), -EBUSY);
	assert_non_null(strstr(e.msg, "even with takeover"));
	assert_non_null(strstr(e.msg, "allSdcs"));
	assert_int_equal(be_sio_exclusive_plan(&v, OWN, sdcs, 1, 1, &p, &e), 0);
	json_decref(sdcs);
}

static void test_request_bodies(void **state)
{
	char *b;

	b = be_sio_body_map("d0f055a700000000", 0);
	assert_string_equal(b,
			    "{\"sdcId\":\"d0f055a700000000\",\"allowMultipleMappings\":\"FALSE\","
			    "\"accessMode\":\"ReadWrite\"}");
	free(b);
	b = be_sio_body_map("d0f055a700000000", 1);
	assert_non_null(strstr(b, "\"allowMultipleMappings\":\"TRUE\""));
	assert_non_null(strstr(b, "\"accessMode\":\"ReadOnly\""));
	free(b);
	b = be_sio_body_unmap("d0f055a700000000");
	assert_string_equal(b, "{\"sdcId\":\"d0f055a700000000\"}");
	free(b);
}

static void test_drv_cfg_output(void **state)
{
	char g[64];

	assert_int_equal(
	    be_sio_drv_cfg_guid_parse("B0E3BFB8-C20B-43BF-93C8-13339E85AA50\n", g, sizeof(g)), 0);
	assert_string_equal(g, "B0E3BFB8-C20B-43BF-93C8-13339E85AA50");
	assert_int_equal(
	    be_sio_drv_cfg_guid_parse(
		"Warning: something\n  b0e3bfb8-c20b-43bf-93c8-13339e85aa50  \n", g, sizeof(g)),
	    0);
	assert_string_equal(g, "B0E3BFB8-C20B-43BF-93C8-13339E85AA50");
	assert_int_equal(be_sio_drv_cfg_guid_parse("Failed to open /dev/scini\n", g, sizeof(g)),
			 -ENOENT);
	assert_int_equal(be_sio_drv_cfg_guid_parse("", g, sizeof(g)), -ENOENT);
}

/* find_device / identify on a fixture tree: <root>/dev/disk/by-id/emc-vol-... -> ../../scinib,
 * <root>/sys/class/block/scinib/{dev,size}. */
static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static void test_find_device_fixture(void **state)
{
	char root[] = "/tmp/attachd-sio-unit-XXXXXX", p[512], cmd[600];
	struct sys s;
	struct backend_host_config host = {0};
	struct backend_ctx ctx = {.sys = &s, .host = &host, .timeout_ms = 1000};
	struct backend_attachment a = {.ops = &be_scaleio_ops};
	struct backend_device dev;
	struct backend_identity id;
	struct be_sio_cfg cfg = {.system_id = SYS, .volume_id = VOL};
	struct errbuf e = {{0}};

	assert_non_null(mkdtemp(root));
	sys_init_real(&s);
	s.dev_root = root;
	s.sysfs_root = root;
	a.cfg = &cfg;
	a.objs = json_pack("{s:s, s:s, s:s, s:b}", "system_id", SYS, "volume_id", VOL, "sdc_id",
			   "d0f055a700000000", "mapped_by_us", 0);

	/* no /dev/disk/by-id at all (a host without disks with ids): not yet */
	assert_int_equal(be_scaleio_ops.find_device(&ctx, &a, &dev, &e), -EAGAIN);
	snprintf(p, sizeof(p), "%s/dev/disk/by-id", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s %s/sys/class/block", p, root);
	assert_int_equal(system(cmd), 0);
	snprintf(p, sizeof(p), "%s/dev/disk/by-id/emc-vol-" SYS "-" VOL, root);
	assert_int_equal(symlink("../../scinib", p), 0);
	/* dangling link: udev is still at it */
	assert_int_equal(be_scaleio_ops.find_device(&ctx, &a, &dev, &e), -EAGAIN);
	snprintf(p, sizeof(p), "%s/dev/scinib", root);
	write_file(p, "");
	/* node there, sysfs not yet */
	assert_int_equal(be_scaleio_ops.find_device(&ctx, &a, &dev, &e), -EAGAIN);
	snprintf(p, sizeof(p), "%s/sys/class/block/scinib", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/sys/class/block/scinib/dev", root);
	write_file(p, "252:16\n");
	snprintf(p, sizeof(p), "%s/sys/class/block/scinib/size", root);
	write_file(p, "131072\n");
	assert_int_equal(be_scaleio_ops.find_device(&ctx, &a, &dev, &e), 0);
	assert_string_equal(dev.sysname, "scinib");
	assert_int_equal(dev.major, 252);
	assert_int_equal(dev.minor, 16);
	assert_non_null(strstr(dev.devnode, "/dev/scinib"));
	assert_int_equal(be_scaleio_ops.identify(&ctx, &a, &dev, &id, &e), 0);
	assert_string_equal(id.wwid, "scaleio:" SYS "-" VOL);
	assert_int_equal(id.size_bytes, 131072ULL * 512);
	/* mapped_by_us false: disconnect leaves the mapping (and asks no gateway) */
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);

	json_decref(a.objs);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
}

static void test_not_configured(void **state)
{
	struct backend_host_config host = {0};
	struct sys s;
	struct backend_ctx ctx = {.sys = &s, .host = &host, .timeout_ms = 1000};
	struct be_sio_cfg cfg = {.system_id = SYS, .volume_id = VOL};
	struct backend_attachment a = {.ops = &be_scaleio_ops, .cfg = &cfg};
	struct backend_identity id;
	struct errbuf e = {{0}};

	sys_init_real(&s);
	assert_int_equal(be_scaleio_ops.probe(&ctx, &a, &id, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "no PowerFlex gateway configured"));
	/* disconnect of a record that never mapped anything needs no gateway */
	assert_int_equal(be_scaleio_ops.disconnect(&ctx, &a, &e), 0);
	json_decref(a.objs);
}

/* attachd does not link libcurl: a host without it gets an error naming the library and
 * what to install, and the next operation tries again. */
static void test_curl_loaded_on_use(void **state)
{
	struct be_sio_curl c;
	struct errbuf e = {{0}};

	assert_int_equal(be_sio_curl_load_from("libcurl-not-installed.so.4", &c, &e), -ELIBACC);
	assert_non_null(strstr(e.msg, "cannot load libcurl-not-installed.so.4"));
	assert_non_null(strstr(e.msg, "install libcurl"));
	/* a library without curl's functions */
	errbuf_clear(&e);
	assert_int_equal(be_sio_curl_load_from("libjansson.so.4", &c, &e), -ELIBBAD);
	assert_non_null(strstr(e.msg, "has no curl_global_init"));
	errbuf_clear(&e);
	assert_int_equal(be_sio_curl_load(&e), 0);
	assert_non_null(be_sio_curl);
	assert_string_equal(be_sio_curl->easy_strerror(CURLE_OK), "No error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_options_valid),
	    cmocka_unit_test(test_options_invalid),
	    cmocka_unit_test(test_ids_and_guids),
	    cmocka_unit_test(test_error_bodies),
	    cmocka_unit_test(test_string_bodies_and_version),
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_sdc_lookup),
	    cmocka_unit_test(test_volume_parse),
	    cmocka_unit_test(test_exclusive_plan),
	    cmocka_unit_test(test_request_bodies),
	    cmocka_unit_test(test_drv_cfg_output),
	    cmocka_unit_test(test_find_device_fixture),
	    cmocka_unit_test(test_not_configured),
	    cmocka_unit_test(test_curl_loaded_on_use),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
