/* SPDX-License-Identifier: Apache-2.0 */
/* agent/config.c: defaults, flags, the config file and every error path. */
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

#include "agent/config.h"

#define ARGV(...) ((char *[]){"attachd", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"attachd", __VA_ARGS__}) / sizeof(char *)))

static int parse(int argc, char **argv, struct agent_config *c, struct errlist *el)
{
	memset(el, 0, sizeof(*el));
	return agent_config_parse_args(argc, argv, c, el);
}

/* Run with args; expect -EINVAL and every needle in the message. */
#define EXPECT_ERR(needle, ...)                                                                    \
	do {                                                                                       \
		struct agent_config c_;                                                            \
		struct errlist el_;                                                                \
		assert_int_equal(parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &c_, &el_), -EINVAL); \
		if (!strstr(el_.msg, needle))                                                      \
			fail_msg("'%s' not in '%s'", needle, el_.msg);                             \
	} while (0)

static char tmpdir[] = "/tmp/test_agent_config.XXXXXX";

static char *write_tmp(const char *name, const char *content)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static void test_defaults(void **state)
{
	struct agent_config c;

	assert_int_equal(
	    agent_config_parse_args(1, (char *[]){"attachd", NULL}, &c, &(struct errlist){.n = 0}),
	    0);
	assert_string_equal(c.listen, "127.0.0.1:7610");
	assert_string_equal(c.admin_socket, "/var/vcap/sys/run/attachd/attachd.sock");
	assert_string_equal(c.state_dir, "/var/vcap/data/attachd/state");
	assert_string_equal(c.mount_root, "/var/vcap/data/volumes/attachd");
	assert_string_equal(c.driver_dir, "/var/vcap/data/voldrivers");
	assert_string_equal(c.driver_name, "attachd");
	assert_string_equal(c.scaleio.drv_cfg, "/opt/emc/scaleio/sdc/bin/drv_cfg");
	assert_false(agent_config_has_tls(&c));
}

static void test_flags(void **state)
{
	struct agent_config c;
	struct errlist el;

	assert_int_equal(
	    parse(ARGC("--listen", "127.0.0.1:0", "--admin-socket=/run/a.sock", "--state-dir", "/s",
		       "--mount-root", "/m", "--driver-dir", "/d", "--driver-name", "blk-1.x"),
		  ARGV("--listen", "127.0.0.1:0", "--admin-socket=/run/a.sock", "--state-dir", "/s",
		       "--mount-root", "/m", "--driver-dir", "/d", "--driver-name", "blk-1.x"),
		  &c, &el),
	    0);
	assert_string_equal(c.listen, "127.0.0.1:0");
	assert_string_equal(c.admin_socket, "/run/a.sock");
	assert_string_equal(c.state_dir, "/s");
	assert_string_equal(c.mount_root, "/m");
	assert_string_equal(c.driver_dir, "/d");
	assert_string_equal(c.driver_name, "blk-1.x");
}

static void test_help(void **state)
{
	struct agent_config c;
	struct errlist el;

	assert_int_equal(parse(ARGC("--help"), ARGV("--help"), &c, &el), AGENT_CONFIG_HELP);
	assert_int_equal(parse(ARGC("-h"), ARGV("-h"), &c, &el), AGENT_CONFIG_HELP);
	/* Help wins over other flags, even bad ones. */
	assert_int_equal(
	    parse(ARGC("--listen", "x", "--help"), ARGV("--listen", "x", "--help"), &c, &el),
	    AGENT_CONFIG_HELP);
}

static void test_flag_errors(void **state)
{
	EXPECT_ERR("unknown flag '--bogus'", "--bogus");
	EXPECT_ERR("unknown flag '-x'", "-x");
	EXPECT_ERR("--listen: needs a value", "--listen");
	EXPECT_ERR("unexpected argument 'extra'", "extra");
	EXPECT_ERR("--state-dir: must not be empty", "--state-dir", "");
	EXPECT_ERR("--config: must not be empty", "--config", "");
	EXPECT_ERR("listen: 'nonsense' is not HOST:PORT", "--listen", "nonsense");
	EXPECT_ERR("listen: '127.0.0.1:99999' is not HOST:PORT", "--listen", "127.0.0.1:99999");
	EXPECT_ERR("listen: '127.0.0.1:' is not HOST:PORT", "--listen", "127.0.0.1:");
	EXPECT_ERR("listen: ':7610' is not HOST:PORT", "--listen", ":7610");
	EXPECT_ERR("listen: '127.0.0.1:7a' is not HOST:PORT", "--listen", "127.0.0.1:7a");
	EXPECT_ERR("listen: '::1:7610' is not HOST:PORT", "--listen", "::1:7610");
	EXPECT_ERR("not a loopback address", "--listen", "10.0.0.5:7610");
	EXPECT_ERR("not a loopback address", "--listen", "0.0.0.0:7610");
	EXPECT_ERR("mutual TLS", "--listen", "[2001:db8::1]:7610");
	EXPECT_ERR("state_dir: 'relative/dir' must be an absolute path", "--state-dir",
		   "relative/dir");
	EXPECT_ERR("mount_root: '/a/../b' must not contain '..'", "--mount-root", "/a/../b");
	EXPECT_ERR("mount_root: must not be /", "--mount-root", "/");
	EXPECT_ERR("driver_dir: 'x' must be an absolute path", "--driver-dir", "x");
	EXPECT_ERR("admin_socket: 'sock' must be an absolute path", "--admin-socket", "sock");
	EXPECT_ERR(
	    "--admin-socket: too long", "--admin-socket",
	    "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock");
	EXPECT_ERR("driver_name: 'a/b' must use only", "--driver-name", "a/b");
	EXPECT_ERR("driver_name: '.hidden' must use only", "--driver-name", ".hidden");
	/* Several problems: all of them in one message. */
	EXPECT_ERR("state_dir: 'a' must be an absolute path; mount_root: 'b' must be an absolute",
		   "--state-dir", "a", "--mount-root", "b");
}

static void test_listen_parse(void **state)
{
	char host[64];
	unsigned port;

	assert_int_equal(agent_listen_parse("127.0.0.1:7610", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7610);
	assert_int_equal(agent_listen_parse("[::1]:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(agent_listen_parse("localhost:65535", host, sizeof(host), &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(agent_listen_parse("[::1]7610", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(agent_listen_parse("[::1", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(agent_listen_parse("", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(agent_listen_parse("h:123456", host, sizeof(host), &port), -EINVAL);
	assert_int_equal(agent_listen_parse("averyveryverylonghostname:1", host, 8, &port),
			 -EINVAL);

	assert_true(agent_host_is_loopback("127.0.0.1"));
	assert_true(agent_host_is_loopback("127.1.2.3"));
	assert_true(agent_host_is_loopback("::1"));
	assert_true(agent_host_is_loopback("localhost"));
	assert_false(agent_host_is_loopback("0.0.0.0"));
	assert_false(agent_host_is_loopback("::"));
	assert_false(agent_host_is_loopback("10.1.1.1"));
	assert_false(agent_host_is_loopback("example.com"));
}

static void test_file(void **state)
{
	struct agent_config c;
	struct errlist el;
	char *p = write_tmp("good.json",
			    "{\"listen\":\"127.0.0.1:7777\",\"admin_socket\":\"/run/x.sock\","
			    "\"state_dir\":\"/st\",\"mount_root\":\"/mr\",\"driver_dir\":\"/dd\","
			    "\"driver_name\":\"fromfile\","
			    "\"iscsi\":{\"initiator_name\":\"iqn.2026-01.host:a\"},"
			    "\"nvme\":{\"hostnqn\":\"nqn.2014-08.org.nvmexpress:uuid:1\"},"
			    "\"scaleio\":{\"gateway\":\"https://gw:443\",\"username\":\"admin\","
			    "\"password_file\":\"/etc/pw\",\"ca_file\":\"/etc/ca.pem\","
			    "\"insecure_skip_verify\":true,\"sdc_guid\":\"ABC\","
			    "\"drv_cfg\":\"/bin/drv_cfg\"},"
			    "\"file\":{\"dir\":\"/files\"},\"tls\":null}");

	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), 0);
	assert_string_equal(c.listen, "127.0.0.1:7777");
	assert_string_equal(c.admin_socket, "/run/x.sock");
	assert_string_equal(c.state_dir, "/st");
	assert_string_equal(c.driver_name, "fromfile");
	assert_string_equal(c.iscsi_initiator_name, "iqn.2026-01.host:a");
	assert_string_equal(c.nvme_hostnqn, "nqn.2014-08.org.nvmexpress:uuid:1");
	assert_string_equal(c.scaleio.gateway, "https://gw:443");
	assert_string_equal(c.scaleio.password_file, "/etc/pw");
	assert_int_equal(c.scaleio.insecure_skip_verify, 1);
	assert_string_equal(c.scaleio.sdc_guid, "ABC");
	assert_string_equal(c.scaleio.drv_cfg, "/bin/drv_cfg");
	assert_string_equal(c.file_dir, "/files");

	/* Flags override the file, wherever they appear. */
	assert_int_equal(parse(ARGC("--driver-name", "flag", "--config", p, "--state-dir", "/f"),
			       ARGV("--driver-name", "flag", "--config", p, "--state-dir", "/f"),
			       &c, &el),
			 0);
	assert_string_equal(c.driver_name, "flag");
	assert_string_equal(c.state_dir, "/f");
	assert_string_equal(c.mount_root, "/mr");
}

static void test_file_errors(void **state)
{
	char *p;

	EXPECT_ERR("config /nonexistent/attachd.json: cannot read: No such file", "--config",
		   "/nonexistent/attachd.json");
	p = write_tmp("syntax.json", "{\"listen\": }");
	EXPECT_ERR("invalid JSON at line 1", "--config", p);
	p = write_tmp("array.json", "[1]");
	EXPECT_ERR("must be a JSON object, not an array", "--config", p);
	p = write_tmp("dup.json", "{\"listen\":\"127.0.0.1:1\",\"listen\":\"127.0.0.1:2\"}");
	EXPECT_ERR("duplicate object key", "--config", p);
	p = write_tmp("unknown.json", "{\"listen\":\"127.0.0.1:1\",\"bogus\":1}");
	EXPECT_ERR("unknown key 'bogus'", "--config", p);
	p = write_tmp("unknown2.json", "{\"tls\":{\"ca\":\"/x\"}}");
	EXPECT_ERR("unknown key 'tls.ca'", "--config", p);
	p = write_tmp("unknown3.json", "{\"scaleio\":{\"gateway\":\"https://g\",\"pass\":\"x\"}}");
	EXPECT_ERR("unknown key 'scaleio.pass'", "--config", p);
	p = write_tmp("type1.json", "{\"listen\":7610}");
	EXPECT_ERR("'listen' must be a string, not a number", "--config", p);
	p = write_tmp("type2.json", "{\"iscsi\":\"iqn.x\"}");
	EXPECT_ERR("'iscsi' must be an object, not a string", "--config", p);
	p = write_tmp("type3.json", "{\"scaleio\":{\"insecure_skip_verify\":\"yes\"}}");
	EXPECT_ERR("'scaleio.insecure_skip_verify' must be true or false, not a string", "--config",
		   p);
	p = write_tmp("type4.json", "{\"state_dir\":null}");
	EXPECT_ERR("'state_dir' must be a string, not null", "--config", p);
	p = write_tmp("long.json",
		      "{\"driver_name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}");
	EXPECT_ERR("'driver_name' is too long (at most 64 characters)", "--config", p);
	/* Every problem at once. */
	p = write_tmp("many.json", "{\"a\":1,\"b\":2,\"listen\":false}");
	EXPECT_ERR("unknown key 'a'", "--config", p);
	EXPECT_ERR("unknown key 'b'", "--config", p);
	EXPECT_ERR("'listen' must be a string, not a boolean", "--config", p);
	/* Validation of file values. */
	p = write_tmp("iscsi.json", "{\"iscsi\":{\"initiator_name\":\"host-a\"}}");
	EXPECT_ERR("iscsi.initiator_name: 'host-a' must start with iqn.", "--config", p);
	p = write_tmp("nvme.json", "{\"nvme\":{\"hostnqn\":\"host\"}}");
	EXPECT_ERR("nvme.hostnqn: 'host' must start with nqn.", "--config", p);
	p = write_tmp("sio.json", "{\"scaleio\":{\"gateway\":\"gw:443\"}}");
	EXPECT_ERR("scaleio.gateway: must be an http:// or https:// URL", "--config", p);
	EXPECT_ERR("scaleio.username: required", "--config", p);
	EXPECT_ERR("scaleio.password_file: required", "--config", p);
	p = write_tmp("file.json", "{\"file\":{\"dir\":\"rel\"}}");
	EXPECT_ERR("file.dir: 'rel' must be an absolute path", "--config", p);
	/* A bad file value is reported even if a flag would override it? No: flags win, and
	 * then the merged value is valid. */
	p = write_tmp("override.json", "{\"state_dir\":\"rel\"}");
	{
		struct agent_config c;
		struct errlist el;

		assert_int_equal(parse(ARGC("--config", p, "--state-dir", "/abs"),
				       ARGV("--config", p, "--state-dir", "/abs"), &c, &el),
				 0);
		assert_string_equal(c.state_dir, "/abs");
	}
}

#define TLS_FULL                                                                                   \
	"\"ca_file\":\"/certs/ca.crt\",\"cert_file\":\"/certs/server.crt\",\"key_file\":"          \
	"\"/certs/server.key\",\"client_cert_file\":\"/vd/client.crt\",\"client_key_file\":"       \
	"\"/vd/client.key\""

/* The tls section: all five paths or none, absolute; off loopback only with it. */
static void test_tls(void **state)
{
	struct agent_config c;
	struct errlist el;
	char *p;

	p = write_tmp("tls-full.json", "{\"listen\":\"10.0.0.5:7610\",\"tls\":{" TLS_FULL "}}");
	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), 0);
	assert_true(agent_config_has_tls(&c));
	assert_string_equal(c.listen, "10.0.0.5:7610");
	assert_string_equal(c.tls.ca_file, "/certs/ca.crt");
	assert_string_equal(c.tls.cert_file, "/certs/server.crt");
	assert_string_equal(c.tls.key_file, "/certs/server.key");
	assert_string_equal(c.tls.client_cert_file, "/vd/client.crt");
	assert_string_equal(c.tls.client_key_file, "/vd/client.key");

	/* With TLS on loopback too, and "tls": null is no TLS. */
	p = write_tmp("tls-lo.json", "{\"tls\":{" TLS_FULL "}}");
	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), 0);
	assert_true(agent_config_has_tls(&c));
	p = write_tmp("tls-null.json", "{\"tls\":null}");
	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), 0);
	assert_false(agent_config_has_tls(&c));

	/* Off loopback without TLS: refused, naming what to do. */
	EXPECT_ERR("listen: 10.0.0.5:7610 is not a loopback address: off loopback the Volman API "
		   "needs mutual TLS",
		   "--listen", "10.0.0.5:7610");
	EXPECT_ERR("or listen on 127.0.0.1", "--listen", "[2001:db8::1]:7610");
	/* A flag cannot take TLS away, but a non-loopback flag with TLS in the file is fine. */
	p = write_tmp("tls-lo2.json", "{\"tls\":{" TLS_FULL "}}");
	assert_int_equal(parse(ARGC("--config", p, "--listen", "0.0.0.0:7610"),
			       ARGV("--config", p, "--listen", "0.0.0.0:7610"), &c, &el),
			 0);

	/* Partial sections: every missing key is required, the server's as Volman's. */
	p = write_tmp("tls-ca.json", "{\"tls\":{\"ca_file\":\"/ca\"}}");
	EXPECT_ERR("tls: ca_file, cert_file, key_file, client_cert_file and client_key_file are "
		   "all required",
		   "--config", p);
	p = write_tmp("tls-noclient.json", "{\"tls\":{\"ca_file\":\"/ca\",\"cert_file\":\"/c\","
					   "\"key_file\":\"/k\"}}");
	EXPECT_ERR("client_cert_file and client_key_file are all required", "--config", p);
	p = write_tmp("tls-onlyclient.json", "{\"tls\":{\"client_cert_file\":\"/c\"}}");
	EXPECT_ERR("are all required", "--config", p);
	/* Paths: absolute, no "..". */
	p = write_tmp("tls-rel.json",
		      "{\"tls\":{\"ca_file\":\"ca.crt\",\"cert_file\":\"/c\",\"key_file\":\"/k\","
		      "\"client_cert_file\":\"/x/../cc\",\"client_key_file\":\"/ck\"}}");
	EXPECT_ERR("tls.ca_file: 'ca.crt' must be an absolute path", "--config", p);
	EXPECT_ERR("tls.client_cert_file: '/x/../cc' must not contain '..'", "--config", p);
	/* Types and unknown keys. */
	p = write_tmp("tls-type.json", "{\"tls\":{\"ca_file\":true}}");
	EXPECT_ERR("'tls.ca_file' must be a string, not a boolean", "--config", p);
	p = write_tmp("tls-key.json", "{\"tls\":{\"client_cert\":\"/c\"}}");
	EXPECT_ERR("unknown key 'tls.client_cert'", "--config", p);
	p = write_tmp("tls-arr.json", "{\"tls\":[]}");
	EXPECT_ERR("'tls' must be an object, not an array", "--config", p);
}

static void test_apply_json_direct(void **state)
{
	struct agent_config c;
	struct errlist el = {.n = 0};
	json_t *j = json_pack("{s:s}", "listen", "[::1]:1");

	agent_config_init(&c);
	assert_int_equal(agent_config_apply_json(&c, j, "test", &el), 0);
	assert_string_equal(c.listen, "[::1]:1");
	assert_int_equal(agent_config_validate(&c, &el), 0);
	json_decref(j);
	j = json_string("x");
	assert_int_equal(agent_config_apply_json(&c, j, "test", &el), -EINVAL);
	assert_non_null(strstr(el.msg, "test: must be a JSON object, not a string"));
	json_decref(j);
}

static void test_limits(void **state)
{
	struct agent_config c;
	struct errlist el = {.n = 0};
	json_t *j;

	agent_config_init(&c);
	assert_int_equal(c.limits.max_pipelines, 8);
	assert_int_equal(c.limits.lock_wait_s, 60);
	j = json_loads("{\"limits\":{\"max_pipelines\":3,\"lock_wait_s\":5}}", 0, NULL);
	assert_int_equal(agent_config_apply_json(&c, j, "test", &el), 0);
	json_decref(j);
	assert_int_equal(c.limits.max_pipelines, 3);
	assert_int_equal(c.limits.lock_wait_s, 5);
	j = json_loads("{\"limits\":{\"max_pipelines\":0,\"lock_wait_s\":\"5\",\"x\":1}}", 0, NULL);
	assert_int_equal(agent_config_apply_json(&c, j, "test", &el), -EINVAL);
	json_decref(j);
	assert_non_null(
	    strstr(el.msg, "'limits.max_pipelines' must be a whole number from 1 to 1024"));
	assert_non_null(
	    strstr(el.msg, "'limits.lock_wait_s' must be a whole number from 1 to 86400"));
	assert_non_null(strstr(el.msg, "unknown key 'limits.x'"));
	/* Bad values are not applied. */
	assert_int_equal(c.limits.max_pipelines, 3);
}

/* multipath: checker interval 1..60 s (default 5), no-path queueing 0..3600 s (default 30);
 * bad values named and not applied. */
static void test_multipath(void **state)
{
	struct agent_config c;
	struct errlist el = {.n = 0};
	json_t *j;

	agent_config_init(&c);
	assert_int_equal(c.multipath.check_interval_s, 5);
	assert_int_equal(c.multipath.no_path_queue_s, 30);
	j = json_loads("{\"multipath\":{\"check_interval_s\":2,\"no_path_queue_s\":0}}", 0,
		       NULL);
	assert_int_equal(agent_config_apply_json(&c, j, "test", &el), 0);
	json_decref(j);
	assert_int_equal(c.multipath.check_interval_s, 2);
	assert_int_equal(c.multipath.no_path_queue_s, 0);
	j = json_loads("{\"multipath\":{\"check_interval_s\":0,\"no_path_queue_s\":3601,"
		       "\"queue\":1}}",
		       0, NULL);
	assert_int_equal(agent_config_apply_json(&c, j, "test", &el), -EINVAL);
	json_decref(j);
	assert_non_null(
	    strstr(el.msg, "'multipath.check_interval_s' must be a whole number from 1 to 60"));
	assert_non_null(
	    strstr(el.msg, "'multipath.no_path_queue_s' must be a whole number from 0 to 3600"));
	assert_non_null(strstr(el.msg, "unknown key 'multipath.queue'"));
	j = json_loads("{\"multipath\":{\"check_interval_s\":61,\"no_path_queue_s\":-1}}", 0,
		       NULL);
	el = (struct errlist){.n = 0};
	assert_int_equal(agent_config_apply_json(&c, j, "test", &el), -EINVAL);
	json_decref(j);
	assert_int_equal(el.n, 2);
	assert_int_equal(c.multipath.check_interval_s, 2);
	assert_int_equal(c.multipath.no_path_queue_s, 0);
}

/* iscsi.iface: default attachd, a name of our own accepted, the admin's "default", a
 * transport's iface, bad characters, a leading '.' and too long refused naming the fix. */
static void test_iscsi_iface(void **state)
{
	struct agent_config c;
	struct errlist el;
	char *p;

	agent_config_init(&c);
	assert_string_equal(c.iscsi_iface, "attachd");
	p = write_tmp("iface.json", "{\"iscsi\":{\"iface\":\"attachd-b.2_x\"}}");
	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), 0);
	assert_string_equal(c.iscsi_iface, "attachd-b.2_x");
	p = write_tmp("iface_default.json", "{\"iscsi\":{\"iface\":\"default\"}}");
	EXPECT_ERR("iscsi.iface: 'default' is open-iscsi's own iface", "--config", p);
	EXPECT_ERR("attachd needs one of its own, e.g. attachd", "--config", p);
	p = write_tmp("iface_iser.json", "{\"iscsi\":{\"iface\":\"iser\"}}");
	EXPECT_ERR("iscsi.iface: 'iser' is open-iscsi's own iface", "--config", p);
	p = write_tmp("iface_chars.json", "{\"iscsi\":{\"iface\":\"a/b\"}}");
	EXPECT_ERR("iscsi.iface: 'a/b' must use only A-Z a-z 0-9 . _ -", "--config", p);
	p = write_tmp("iface_dot.json", "{\"iscsi\":{\"iface\":\"..\"}}");
	EXPECT_ERR("iscsi.iface: '..' must use only", "--config", p);
	p = write_tmp("iface_empty.json", "{\"iscsi\":{\"iface\":\"\"}}");
	EXPECT_ERR("iscsi.iface: must not be empty (default attachd)", "--config", p);
	p = write_tmp("iface_long.json",
		      "{\"iscsi\":{\"iface\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "aaaaaaaaaaaaaaaa\"}}");
	EXPECT_ERR("'iscsi.iface' is too long (at most 63 characters)", "--config", p);
	p = write_tmp("iface_type.json", "{\"iscsi\":{\"iface\":7}}");
	EXPECT_ERR("'iscsi.iface' must be a string, not a number", "--config", p);
}

/* --check-config FILE: AGENT_CONFIG_CHECK on a valid file (with the file name for the
 * report), -EINVAL listing the file's problems AND validation's at once (a start lists
 * only the file's), and the check mode is reported for main either way. */
static void test_check_config(void **state)
{
	struct agent_config c;
	struct errlist el;
	const char *file;
	char *p;

	p = write_tmp("ok.json", "{\"state_dir\":\"/srv/state\",\"iscsi\":{\"iface\":\"a2\"}}");
	assert_int_equal(parse(ARGC("--check-config", p), ARGV("--check-config", p), &c, &el),
			 AGENT_CONFIG_CHECK);
	assert_int_equal(agent_config_check_mode(&file), 1);
	assert_string_equal(file, p);
	assert_string_equal(c.state_dir, "/srv/state");
	assert_string_equal(c.iscsi_iface, "a2");
	/* A start with the same file is not a check. */
	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), 0);
	assert_int_equal(agent_config_check_mode(&file), 0);

	p = write_tmp("bad.json", "{\"bogus\":1,\"listen\":7610,\"state_dir\":\"rel\","
				  "\"iscsi\":{\"iface\":\"default\"}}");
	assert_int_equal(parse(ARGC("--check-config", p), ARGV("--check-config", p), &c, &el),
			 -EINVAL);
	assert_int_equal(agent_config_check_mode(&file), 1);
	assert_int_equal(el.n, 4);
	assert_non_null(strstr(el.msg, "unknown key 'bogus'"));
	assert_non_null(strstr(el.msg, "'listen' must be a string, not a number"));
	assert_non_null(strstr(el.msg, "state_dir: 'rel' must be an absolute path"));
	assert_non_null(strstr(el.msg, "iscsi.iface: 'default'"));
	/* main prints one problem a line by splitting on errlist's "; ": no message has one. */
	{
		unsigned seps = 0;

		for (const char *q = el.msg; (q = strstr(q, "; ")); q += 2)
			seps++;
		assert_int_equal(seps, el.n - 1);
	}
	/* A start stops at the file's own problems. */
	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), -EINVAL);
	assert_int_equal(el.n, 2);

	/* Off-loopback listen without TLS: the message is one line too. */
	p = write_tmp("open.json", "{\"listen\":\"0.0.0.0:7610\",\"admin_socket\":\"rel\"}");
	assert_int_equal(parse(ARGC("--check-config", p), ARGV("--check-config", p), &c, &el),
			 -EINVAL);
	assert_int_equal(el.n, 2);
	assert_non_null(strstr(el.msg, "is not a loopback address: off loopback"));
	assert_non_null(strstr(el.msg, "; admin_socket: 'rel'"));
	assert_int_equal(strstr(el.msg, "; ") - el.msg, strstr(el.msg, "; admin_socket") - el.msg);
	/* Unreadable and non-JSON files stop at that. */
	EXPECT_ERR("config /nonexistent/a.json: cannot read", "--check-config",
		   "/nonexistent/a.json");
	p = write_tmp("nojson.json", "{");
	EXPECT_ERR("invalid JSON at line 1", "--check-config", p);
	/* Usage errors. */
	EXPECT_ERR("--config and --check-config: give one config file", "--config", p,
		   "--check-config", p);
	EXPECT_ERR("--check-config: must not be empty", "--check-config", "");
	/* Flags are checked with the file, as a start would take them. */
	p = write_tmp("ok2.json", "{}");
	EXPECT_ERR("listen: 'nope' is not HOST:PORT", "--check-config", p, "--listen", "nope");
}

/* --metrics-listen / metrics_listen: off by default; loopback only unless the agent's
 * mutual TLS is configured. */
static void test_metrics_listen(void **state)
{
	struct agent_config c;
	struct errlist el;
	char *p;

	assert_int_equal(parse(1, ARGV(NULL), &c, &el), 0);
	assert_string_equal(c.metrics_listen, "");
	assert_int_equal(parse(ARGC("--metrics-listen", "127.0.0.1:9610"),
			       ARGV("--metrics-listen", "127.0.0.1:9610"), &c, &el),
			 0);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9610");
	p = write_tmp("metrics.json", "{\"metrics_listen\":\"[::1]:9610\"}");
	assert_int_equal(parse(ARGC("--config", p), ARGV("--config", p), &c, &el), 0);
	assert_string_equal(c.metrics_listen, "[::1]:9610");
	/* The flag wins over the file. */
	assert_int_equal(parse(ARGC("--config", p, "--metrics-listen", "localhost:0"),
			       ARGV("--config", p, "--metrics-listen", "localhost:0"), &c, &el),
			 0);
	assert_string_equal(c.metrics_listen, "localhost:0");

	EXPECT_ERR("metrics_listen: '9610' is not HOST:PORT", "--metrics-listen", "9610");
	EXPECT_ERR("--metrics-listen: must not be empty", "--metrics-listen", "");
	EXPECT_ERR("metrics_listen: 10.0.0.5:9610 is not a loopback address: off loopback "
		   "/metrics is served only with the agent's mutual TLS",
		   "--metrics-listen", "10.0.0.5:9610");
	EXPECT_ERR("or listen on 127.0.0.1", "--metrics-listen", "0.0.0.0:9610");
	p = write_tmp("metrics-type.json", "{\"metrics_listen\":9610}");
	EXPECT_ERR("'metrics_listen' must be a string, not a number", "--config", p);
	/* With the agent's TLS, any address. */
	p = write_tmp("metrics-tls.json", "{\"tls\":{" TLS_FULL "}}");
	assert_int_equal(parse(ARGC("--config", p, "--metrics-listen", "0.0.0.0:9610"),
			       ARGV("--config", p, "--metrics-listen", "0.0.0.0:9610"), &c, &el),
			 0);
	assert_string_equal(c.metrics_listen, "0.0.0.0:9610");
}

static int setup(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),	 cmocka_unit_test(test_flags),
	    cmocka_unit_test(test_help),	 cmocka_unit_test(test_flag_errors),
	    cmocka_unit_test(test_listen_parse), cmocka_unit_test(test_file),
	    cmocka_unit_test(test_file_errors),	 cmocka_unit_test(test_apply_json_direct),
	    cmocka_unit_test(test_limits),	 cmocka_unit_test(test_multipath),	 cmocka_unit_test(test_iscsi_iface),
	    cmocka_unit_test(test_check_config), cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_metrics_listen),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
