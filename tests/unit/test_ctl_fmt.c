/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachctl's pure parts: argument parsing (exit-2 cases), table alignment, the renderers
 * of the admin API's answers, the probe URL and mountinfo parsing. The tools/ files are
 * compiled in here directly: the Makefile links tests against the agent and core
 * libraries only, and attachctl's main() lives apart in tools/attachctl.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tools/attachctl_args.c"
#include "tools/attachctl_client.c"
#include "tools/attachctl_fmt.c"
#include "tools/attachctl_local.c"
#include "tools/attachctl_probe.c"
#include "tools/attachctl_watch.c"

static int parse(struct ctl_args *a, struct errbuf *e, ...)
{
	char *argv[16] = {(char *)"attachctl"};
	int argc = 1;
	va_list ap;
	char *s;

	va_start(ap, e);
	while ((s = va_arg(ap, char *)) && argc < 15)
		argv[argc++] = s;
	va_end(ap);
	memset(e, 0, sizeof(*e));
	return ctl_parse_args(argc, argv, a, e);
}

#define PARSE(a, e, ...) parse(a, e, __VA_ARGS__, (char *)NULL)

static void usage_error(const char *needle, int r, const struct errbuf *e)
{
	assert_int_equal(r, -EINVAL);
	if (!strstr(e->msg, needle))
		fail_msg("'%s' not in '%s'", needle, e->msg);
}

static void test_args(void **state)
{
	struct ctl_args a;
	struct errbuf e;

	assert_int_equal(PARSE(&a, &e, "ls"), 0);
	assert_string_equal(a.cmd, "ls");
	assert_null(a.arg);
	assert_string_equal(a.socket, AGENT_DEFAULT_ADMIN_SOCKET);
	assert_false(a.json);

	assert_int_equal(PARSE(&a, &e, "--json", "--admin-socket", "/run/x.sock", "show", "v1"), 0);
	assert_string_equal(a.cmd, "show");
	assert_string_equal(a.arg, "v1");
	assert_string_equal(a.socket, "/run/x.sock");
	assert_true(a.json);

	/* options after the command, = form */
	assert_int_equal(PARSE(&a, &e, "detach", "v1", "--force", "--admin-socket=/s", "--json"), 0);
	assert_string_equal(a.cmd, "detach");
	assert_true(a.force);
	assert_string_equal(a.socket, "/s");

	assert_int_equal(PARSE(&a, &e, "--help"), 0);
	assert_true(a.help);
	assert_int_equal(PARSE(&a, &e, "probe", "iscsi://h/iqn.x:y/0"), 0);
	assert_string_equal(a.arg, "iscsi://h/iqn.x:y/0");

	usage_error("no command", PARSE(&a, &e, "--json"), &e);
	usage_error("unknown command 'frob'", PARSE(&a, &e, "frob"), &e);
	usage_error("show needs a volume NAME", PARSE(&a, &e, "show"), &e);
	usage_error("probe needs a URL", PARSE(&a, &e, "probe"), &e);
	usage_error("unexpected argument 'x'", PARSE(&a, &e, "ls", "x"), &e);
	usage_error("unexpected argument 'b'", PARSE(&a, &e, "show", "a", "b"), &e);
	usage_error("unknown option '--frob'", PARSE(&a, &e, "ls", "--frob"), &e);
	usage_error("--force only applies to detach", PARSE(&a, &e, "drain", "--force"), &e);
	usage_error("--admin-socket needs a path", PARSE(&a, &e, "ls", "--admin-socket"), &e);
	usage_error("must be an absolute path", PARSE(&a, &e, "--admin-socket", "rel", "ls"), &e);
}

/* Run a printer into a string. */
static char *render(void (*fn)(const json_t *, FILE *), const char *json)
{
	json_error_t je;
	json_t *j = json_loads(json, 0, &je);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!j)
		fail_msg("bad test JSON: %s", je.text);
	assert_non_null(f);
	fn(j, f);
	fclose(f);
	json_decref(j);
	return buf;
}

static void test_table(void **state)
{
	static const char *const head[] = {"A", "LONGER", "C", NULL};
	struct ctl_table t;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ctl_table_init(&t, head);
	ctl_table_add(&t, (const char *const[]){"wide-cell", "x", "last"});
	ctl_table_add(&t, (const char *const[]){"", NULL, "z"});
	ctl_table_print(&t, f);
	ctl_table_done(&t);
	fclose(f);
	assert_string_equal(buf, "A          LONGER  C\n"
				 "wide-cell  x       last\n"
				 "-          -       z\n");
	free(buf);
}

static void test_fmt_units(void **state)
{
	char b[32];

	ctl_fmt_ms(12.34, b, sizeof(b));
	assert_string_equal(b, "12.3 ms");
	ctl_fmt_ms(1520, b, sizeof(b));
	assert_string_equal(b, "1.52 s");
	ctl_fmt_bytes(67108864, b, sizeof(b));
	assert_string_equal(b, "64.0 MiB");
	ctl_fmt_bytes(512, b, sizeof(b));
	assert_string_equal(b, "512 B");
}

static void test_print_ls(void **state)
{
	char *out = render(ctl_print_ls,
			   "[{\"volume\":\"v1\",\"backend\":\"iscsi\",\"state\":\"attached\","
			   "\"busy\":false,\"fs\":\"ext4\",\"device\":\"/dev/sdb\",\"dm\":\"attachd-v1\","
			   "\"mounts\":[{},{}]},"
			   "{\"volume\":\"file-vol-2\",\"backend\":\"file\",\"state\":\"detached\","
			   "\"busy\":true,\"fs\":\"xfs\",\"device\":\"\",\"dm\":\"\",\"mounts\":[]},"
			   "{\"volume\":\"mp\",\"backend\":\"iscsi\",\"state\":\"attached\","
			   "\"busy\":false,\"fs\":\"ext4\",\"device\":\"/dev/sdc\",\"dm\":\"attachd-mp\","
			   "\"paths\":[{\"state\":\"active\"},{\"state\":\"failed\"}],\"mounts\":[{}]}]");

	assert_string_equal(out, "VOLUME      BACKEND  STATE            FS    DEVICE    DM          PATHS  MOUNTS\n"
				 "v1          iscsi    attached         ext4  /dev/sdb  attachd-v1  -      2\n"
				 "file-vol-2  file     detached (busy)  xfs   -         -           -      0\n"
				 "mp          iscsi    attached         ext4  /dev/sdc  attachd-mp  1/2    1\n");
	free(out);
	/* The brief answer attachctl ls asks for: one array per volume (agent/volumes_admin.h) */
	out = render(ctl_print_ls,
		     "[[\"v1\",\"iscsi\",\"attached\",false,\"ext4\",\"/dev/sdb\",\"attachd-v1\",3],"
		     "[\"mp\",\"iscsi\",\"attached\",true,\"ext4\",\"/dev/sdc\",\"attachd-mp\",0,"
		     "[\"active\",\"failed\"]],"
		     "[\"v3\",\"file\",\"attaching\",true,\"xfs\",\"\",\"\",0,null,{\"op\":"
		     "\"attach\",\"op_ms\":13000.0,\"step\":\"mkfs\",\"step_ms\":12400.0}]]");
	assert_string_equal(out,
			    "VOLUME  BACKEND  STATE                   FS    DEVICE    DM          PATHS  MOUNTS\n"
			    "v1      iscsi    attached                ext4  /dev/sdb  attachd-v1  -      3\n"
			    "mp      iscsi    attached (busy)         ext4  /dev/sdc  attachd-mp  1/2    0\n"
			    "v3      file     attaching: mkfs 12.4 s  xfs   -         -           -      0\n");
	free(out);
	out = render(ctl_print_ls, "[]");
	assert_string_equal(out, "no volumes\n");
	free(out);
}

static void test_print_trace(void **state)
{
	char *out = render(ctl_print_trace,
			   "{\"volume\":\"v1\",\"backend\":\"file\",\"device\":\"/dev/loop0\","
			   "\"dm\":\"/dev/mapper/attachd-v1\",\"fs_found\":\"\",\"formatted\":true,"
			   "\"total_ms\":1234.5,\"steps\":[{\"step\":\"connect\",\"ms\":4.25,\"result\":"
			   "\"ok\"},{\"step\":\"mkfs\",\"ms\":1230.25,\"result\":\"ETIMEDOUT\"}]}");

	assert_string_equal(out, "volume v1 (file), /dev/mapper/attachd-v1 on /dev/loop0\n"
				 "STEP     DURATION  RESULT\n"
				 "connect  4.2 ms    ok\n"
				 "mkfs     1.23 s    ETIMEDOUT\n"
				 "total    1.23 s    -\n"
				 "filesystem: none found (formatted now)\n");
	free(out);
	out = render(ctl_print_trace, "{\"volume\":\"v\",\"backend\":\"iscsi\",\"steps\":[]}");
	assert_non_null(strstr(out, "no operation recorded yet"));
	free(out);
}

static void test_print_show_metrics_drain(void **state)
{
	char *out = render(ctl_print_show,
			   "{\"volume\":\"v1\",\"backend\":\"iscsi\",\"state\":\"attached\","
			   "\"busy\":false,\"fs\":\"ext4\",\"readonly\":true,\"identity\":\"iscsi:x:0\","
			   "\"device\":\"/dev/sdb\",\"dm\":\"attachd-v1\",\"dm_devnode\":\"/dev/dm-0\","
			   "\"staging\":\"/m/.staging/v1\",\"options\":{\"chap_secret\":\"REDACTED\"},"
			   "\"mounts\":[{\"name\":\"v1_c1\",\"container\":\"c1\",\"path\":\"/m/v1/c1\","
			   "\"count\":1}]}");

	assert_non_null(strstr(out, "fs:         ext4 (read-only)\n"));
	assert_non_null(strstr(out, "dm:         attachd-v1 /dev/dm-0\n"));
	assert_non_null(strstr(out, "options:    {\"chap_secret\":\"REDACTED\"}\n"));
	assert_non_null(strstr(out, "NAME   CONTAINER  COUNT  PATH\nv1_c1  c1         1      /m/v1/c1\n"));
	free(out);

	out = render(ctl_print_metrics,
		     "{\"attaches\":3,\"attach_failures\":1,\"detaches\":0,\"binds\":2,"
		     "\"steps\":{\"connect\":{\"count\":2,\"failures\":0,\"total_ms\":30.0}}}");
	assert_non_null(strstr(out, "attaches  3 (1 failed)\n"));
	assert_non_null(strstr(out, "STEP     COUNT  FAILURES  TOTAL    AVERAGE\n"
				    "connect  2      0         30.0 ms  15.0 ms\n"));
	free(out);

	out = render(ctl_print_drain,
		     "{\"spec_removed\":true,\"results\":[{\"volume\":\"a\",\"result\":\"detached\","
		     "\"error\":\"\"},{\"volume\":\"bb\",\"result\":\"failed\",\"error\":\"busy\"}]}");
	assert_string_equal(out, "driver spec: removed\n"
				 "VOLUME  RESULT    ERROR\n"
				 "a       detached  -\n"
				 "bb      failed    busy\n");
	free(out);
}

/* A multipath volume: every path with device, where, state, last result and when it
 * changed; what happens to I/O with no path; the checker's counters in metrics. */
static void test_print_paths(void **state)
{
	char *out = render(
	    ctl_print_show,
	    "{\"volume\":\"mp\",\"backend\":\"iscsi\",\"state\":\"attached\",\"busy\":false,"
	    "\"fs\":\"ext4\",\"device\":\"/dev/sdb\",\"dm\":\"attachd-mp\",\"queueing\":true,"
	    "\"paths\":[{\"id\":\"2:0:0:1\",\"device\":\"sdb\",\"devno\":\"8:16\","
	    "\"where\":\"10.0.0.5:3260 iqn.t1\",\"state\":\"active\","
	    "\"last_check\":\"2026-12-03T10:20:03.123Z\",\"last_result\":\"TUR ok\","
	    "\"changed\":null},"
	    "{\"id\":\"3:0:0:1\",\"device\":\"sdc\",\"devno\":\"8:32\","
	    "\"where\":\"10.0.1.5:3260 iqn.t1\",\"state\":\"failed\","
	    "\"last_check\":\"2026-12-03T10:20:03.123Z\",\"last_result\":\"session 3 FAILED\","
	    "\"changed\":\"2026-12-03T10:19:58.001Z\"}],\"mounts\":[]}");

	assert_non_null(strstr(out, "paths:      1/2 active, I/O queues when none is left\n"));
	assert_non_null(strstr(out, "PATH     DEVICE      WHERE                 STATE   LAST CHECK  "
				    "          RESULT            SINCE\n"
				    "2:0:0:1  sdb (8:16)  10.0.0.5:3260 iqn.t1  active  2026-12-03 "
				    "10:20:03Z  TUR ok            -\n"
				    "3:0:0:1  sdc (8:32)  10.0.1.5:3260 iqn.t1  failed  2026-12-03 "
				    "10:20:03Z  session 3 FAILED  2026-12-03 10:19:58Z\n"));
	free(out);

	/* single-path volumes have no paths section */
	out = render(ctl_print_show, "{\"volume\":\"v\",\"backend\":\"file\",\"mounts\":[]}");
	assert_null(strstr(out, "paths:"));
	free(out);

	out = render(ctl_print_metrics,
		     "{\"attaches\":1,\"paths\":{\"failures\":2,\"reinstatements\":1,\"added\":1,"
		     "\"removed\":0,\"all_down\":1,\"queueing_off\":1,\"failover_detect_ms\":"
		     "{\"count\":2,\"max\":5200,\"avg\":4100},\"path_down_ms\":{\"max\":9000,"
		     "\"avg\":9000}},\"steps\":{}}");
	assert_non_null(strstr(out, "paths     2 failed, 1 reinstated, 1 added, 0 removed; all down "
				    "1 times (I/O failed after the bound 1 times)\n"));
	assert_non_null(strstr(out, "failover  last good check to failed: avg 4100 ms, max 5200 ms; "
				    "down until reinstated: avg 9000 ms, max 9000 ms\n"));
	free(out);
}

static void test_print_fencing(void **state)
{
	char *out;

	out = render(ctl_print_show, "{\"volume\":\"v\",\"backend\":\"iscsi\",\"mounts\":[],"
				     "\"fencing\":{\"status\":\"held\",\"key\":"
				     "\"0x00000000000000a1\",\"detail\":\"\"}}");
	assert_non_null(strstr(out, "fencing:    held with key 0x00000000000000a1\n"));
	free(out);
	out = render(ctl_print_show, "{\"volume\":\"v\",\"backend\":\"iscsi\",\"mounts\":[],"
				     "\"fencing\":{\"status\":\"lost\",\"key\":"
				     "\"0x00000000000000a1\",\"detail\":\"initiator iqn.x:b holds it\"}}");
	assert_non_null(strstr(out, "fencing:    LOST (key 0x00000000000000a1): initiator iqn.x:b "
				    "holds it\n"));
	free(out);
	out = render(ctl_print_show, "{\"volume\":\"v\",\"backend\":\"nvme\",\"mounts\":[],"
				     "\"fencing\":{\"status\":\"unsupported by target\","
				     "\"detail\":\"\"}}");
	assert_non_null(strstr(out, "fencing:    unsupported by target"));
	free(out);
	/* no fencing object (file backend): no line */
	out = render(ctl_print_show, "{\"volume\":\"v\",\"backend\":\"file\",\"mounts\":[]}");
	assert_null(strstr(out, "fencing:"));
	free(out);
	out = render(ctl_print_takeover, "{\"volume\":\"v\",\"result\":\"taken-over\",\"key\":"
					 "\"0x0b\",\"previous_holder\":\"initiator iqn.x:a (key 0x0a)\"}");
	assert_string_equal(out, "volume v: taken over from initiator iqn.x:a (key 0x0a); held "
				 "with key 0x0b\n");
	free(out);
}

static void probe_ok(const char *url, const char *portal, const char *iqn, int lun)
{
	struct errbuf e = {{0}};
	json_t *j = NULL;

	if (ctl_probe_url_parse(url, &j, &e) < 0)
		fail_msg("%s refused: %s", url, e.msg);
	assert_string_equal(json_string_value(json_object_get(j, "portal")), portal);
	assert_string_equal(json_string_value(json_object_get(j, "iqn")), iqn);
	assert_int_equal(json_integer_value(json_object_get(j, "lun")), lun);
	json_decref(j);
}

static void probe_bad(const char *url, const char *needle)
{
	struct errbuf e = {{0}};
	json_t *j = NULL;

	assert_int_equal(ctl_probe_url_parse(url, &j, &e), -EINVAL);
	if (!strstr(e.msg, needle))
		fail_msg("%s: '%s' not in '%s'", url, needle, e.msg);
	assert_null(j);
}

static void test_probe_url(void **state)
{
	probe_ok("iscsi://10.0.0.5:3260/iqn.2001-05.com.x:tgt/0", "10.0.0.5:3260",
		 "iqn.2001-05.com.x:tgt", 0);
	probe_ok("iscsi://array.example/iqn.x:y/17", "array.example", "iqn.x:y", 17);
	probe_ok("iscsi://[fd00::5]:3260/iqn.x:y/3", "[fd00::5]:3260", "iqn.x:y", 3);
	probe_bad("http://h/x/0", "the URL must be iscsi://HOST[:PORT]/IQN/LUN, nvme://");
	probe_bad("iscsi://h/iqn.x:y", "is not iscsi://");
	probe_bad("iscsi:///iqn/0", "is not iscsi://");
	probe_bad("iscsi://h/iqn.x:y/", "is not iscsi://");
	probe_bad("iscsi://h/iqn.x:y/x1", "LUN 'x1' is not a number");
	probe_bad("iscsi://h/iqn.x:y/-1", "LUN '-1'");
	probe_bad("iscsi://h/iqn.x:y/99999", "LUN '99999'");
}

/* The URL's options as compact sorted JSON. */
static void probe_is(const char *url, const char *want)
{
	struct errbuf e = {{0}};
	json_t *j = NULL;
	char *got;

	if (ctl_probe_url_parse(url, &j, &e) < 0)
		fail_msg("%s refused: %s", url, e.msg);
	got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(got, want);
	free(got);
	json_decref(j);
}

static void test_probe_url_nvme_scaleio(void **state)
{
	probe_is("nvme://10.0.0.5/nqn.2024-01.com.example:vol1/3",
		 "{\"backend\":\"nvme\",\"nsid\":3,\"subnqn\":\"nqn.2024-01.com.example:vol1\","
		 "\"traddr\":\"10.0.0.5\",\"trsvcid\":4420}");
	probe_is("nvme://[fd00::5]:4421/nqn.2024-01.com.example:vol1",
		 "{\"backend\":\"nvme\",\"nsid\":1,\"subnqn\":\"nqn.2024-01.com.example:vol1\","
		 "\"traddr\":\"fd00::5\",\"trsvcid\":4421}");
	probe_is("nvme://array.example:4420/nqn.2014-08.org.nvmexpress:uuid:5f1d9a4e-3c2b-4e8f-"
		 "9a71-0c6b2d4e8f10/5f1d9a4e-3c2b-4e8f-9a71-0c6b2d4e8f10",
		 "{\"backend\":\"nvme\",\"subnqn\":\"nqn.2014-08.org.nvmexpress:uuid:5f1d9a4e-"
		 "3c2b-4e8f-9a71-0c6b2d4e8f10\",\"traddr\":\"array.example\",\"trsvcid\":4420,"
		 "\"uuid\":\"5f1d9a4e-3c2b-4e8f-9a71-0c6b2d4e8f10\"}");
	probe_is("scaleio://14dbbf5617523654/E65F9C2700000001",
		 "{\"backend\":\"scaleio\",\"system_id\":\"14dbbf5617523654\","
		 "\"volume_id\":\"E65F9C2700000001\"}");

	probe_bad("nvme://10.0.0.5", "is not nvme://ADDR[:PORT]/SUBNQN[/NSID|UUID]");
	probe_bad("nvme:///nqn.x:y", "is not nvme://");
	probe_bad("nvme://10.0.0.5:99999/nqn.x:y", "address '10.0.0.5:99999' has an invalid port");
	probe_bad("nvme://10.0.0.5/iqn.x:y/1", "'iqn.x:y' is not a subsystem NQN");
	probe_bad("nvme://10.0.0.5/nqn.x:y/0", "'0' is neither a namespace id (1-4294967294)");
	probe_bad("nvme://10.0.0.5/nqn.x:y/5f1d9a4e", "'5f1d9a4e' is neither a namespace id");
	probe_bad("scaleio://14dbbf5617523654", "is not scaleio://SYSTEM_ID/VOLUME_ID");
	probe_bad("scaleio://14dbbf56/e65f9c2700000001", "system id '14dbbf56' is not 16 hex digits");
	probe_bad("scaleio://14dbbf5617523654/e65f9c27000000zz",
		  "volume id 'e65f9c27000000zz' is not 16 hex digits");
	probe_bad("scaleio://14dbbf5617523654/", "volume id '' is not 16 hex digits");
}

static void watch_is(const char *json, const char *want)
{
	json_t *j = json_loads(json, 0, NULL);
	char buf[1024];

	assert_non_null(j);
	ctl_watch_format(j, buf, sizeof(buf));
	assert_string_equal(buf, want);
	json_decref(j);
}

static void test_watch_format(void **state)
{
	struct ctl_args a;
	struct errbuf e;
	char buf[96];
	json_t *p;

	watch_is("{\"event\":\"begin\",\"volume\":\"v1\",\"op\":\"attach\"}",
		 "v1: attach started");
	watch_is("{\"event\":\"step-start\",\"volume\":\"v1\",\"op\":\"attach\",\"step\":"
		 "\"mkfs\"}",
		 "v1: attach: mkfs ...");
	watch_is("{\"event\":\"step\",\"volume\":\"v1\",\"op\":\"attach\",\"step\":\"mkfs\","
		 "\"ms\":12400.0,\"result\":\"ok\"}",
		 "v1: attach: mkfs 12.40 s ok");
	watch_is("{\"event\":\"step\",\"volume\":\"v1\",\"op\":\"attach\",\"step\":"
		 "\"connect\",\"ms\":3.25,\"result\":\"ETIMEDOUT\"}",
		 "v1: attach: connect 3.2 ms ETIMEDOUT");
	watch_is("{\"event\":\"end\",\"volume\":\"v1\",\"op\":\"attach\",\"ms\":13000.0,"
		 "\"result\":\"ok\",\"in_flight\":0}",
		 "v1: attach ok, total 13.00 s");
	watch_is("{\"event\":\"end\",\"volume\":\"v1\",\"op\":\"attach\",\"ms\":5.0,"
		 "\"result\":\"ENOENT\",\"error\":\"connect: LUN 3 not found\"}",
		 "v1: attach FAILED (ENOENT), total 5.0 ms: connect: LUN 3 not found");
	watch_is("{\"event\":\"in-flight\",\"volume\":\"v1\",\"op\":\"detach\",\"op_ms\":"
		 "2500.0,\"step\":\"dm-remove\",\"step_ms\":300.0,\"steps\":[{\"step\":"
		 "\"umount\",\"ms\":2200.0,\"result\":\"ok\"}]}",
		 "v1: detach running for 2.5 s (detaching: dm-remove 300.0 ms; done: umount)");
	watch_is("{\"event\":\"watching\",\"volume\":null,\"in_flight\":0}", "");

	p = json_loads("{\"op\":\"attach\",\"op_ms\":13000,\"step\":\"mkfs\",\"step_ms\":"
		       "12449.0}",
		       0, NULL);
	ctl_fmt_progress(p, buf, sizeof(buf));
	assert_string_equal(buf, "attaching: mkfs 12.4 s");
	json_decref(p);
	p = json_loads("{\"op\":\"bind\",\"op_ms\":20.0,\"step\":null}", 0, NULL);
	ctl_fmt_progress(p, buf, sizeof(buf));
	assert_string_equal(buf, "binding 20.0 ms");
	json_decref(p);
	ctl_fmt_progress(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");

	assert_int_equal(PARSE(&a, &e, "watch"), 0);
	assert_null(a.arg);
	assert_int_equal(PARSE(&a, &e, "watch", "v1", "--once"), 0);
	assert_string_equal(a.arg, "v1");
	assert_true(a.once);
	usage_error("--once only applies to watch", PARSE(&a, &e, "ls", "--once"), &e);
	usage_error("unexpected argument 'b'", PARSE(&a, &e, "watch", "a", "b"), &e);
}

static void test_ls_progress(void **state)
{
	char *out = render(ctl_print_ls,
			   "[{\"volume\":\"v1\",\"backend\":\"iscsi\",\"state\":\"attaching\","
			   "\"busy\":true,\"fs\":\"ext4\",\"mounts\":[],\"progress\":{\"op\":"
			   "\"attach\",\"op_ms\":13000.0,\"step\":\"mkfs\",\"step_ms\":12400.0}},"
			   "{\"volume\":\"v2\",\"backend\":\"file\",\"state\":\"attached\","
			   "\"busy\":true,\"fs\":\"ext4\",\"mounts\":[]}]");

	assert_string_equal(out,
			    "VOLUME  BACKEND  STATE                   FS    DEVICE  DM  PATHS  MOUNTS\n"
			    "v1      iscsi    attaching: mkfs 12.4 s  ext4  -       -   -      0\n"
			    "v2      file     attached (busy)         ext4  -       -   -      0\n");
	free(out);
}

static void test_mountinfo(void **state)
{
	char path[] = "/tmp/test_ctl_mountinfo.XXXXXX";
	int fd = mkstemp(path);
	const char *text =
	    "22 1 0:21 / / rw - ext4 /dev/vda rw\n"
	    "40 22 253:0 / /var/vcap/data/volumes/attachd/v1/c\\0401 rw,nosuid - ext4 /dev/dm-0 rw\n";

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(ctl_is_mountpoint(path, "/"), 1);
	assert_int_equal(ctl_is_mountpoint(path, "/var/vcap/data/volumes/attachd/v1/c 1"), 1);
	assert_int_equal(ctl_is_mountpoint(path, "/var/vcap/data/volumes/attachd/v1"), 0);
	assert_int_equal(ctl_is_mountpoint("/nonexistent/mountinfo", "/"), -ENOENT);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_args),	 cmocka_unit_test(test_table),
	    cmocka_unit_test(test_fmt_units), cmocka_unit_test(test_print_ls),
	    cmocka_unit_test(test_print_paths),
	    cmocka_unit_test(test_print_fencing),
	    cmocka_unit_test(test_print_trace), cmocka_unit_test(test_print_show_metrics_drain),
	    cmocka_unit_test(test_probe_url),	 cmocka_unit_test(test_probe_url_nvme_scaleio),
	    cmocka_unit_test(test_watch_format), cmocka_unit_test(test_ls_progress),	 cmocka_unit_test(test_mountinfo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
