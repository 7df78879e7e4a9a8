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
	probe_bad("nvme://h/x/0", "only iscsi://");
	probe_bad("iscsi://h/iqn.x:y", "is not iscsi://");
	probe_bad("iscsi:///iqn/0", "is not iscsi://");
	probe_bad("iscsi://h/iqn.x:y/", "is not iscsi://");
	probe_bad("iscsi://h/iqn.x:y/x1", "LUN 'x1' is not a number");
	probe_bad("iscsi://h/iqn.x:y/-1", "LUN '-1'");
	probe_bad("iscsi://h/iqn.x:y/99999", "LUN '99999'");
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
	    cmocka_unit_test(test_probe_url),	 cmocka_unit_test(test_mountinfo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
