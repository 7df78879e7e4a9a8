/* SPDX-License-Identifier: Apache-2.0 */
/* backends/iscsi/udevrule.c: the runtime udev rule that marks attachd's iSCSI disks for
 * multipathd's blacklist: its text, and installing it (written once, udevd told to reload,
 * rewritten when changed, clear errors when udevadm fails). Files go under a temporary
 * root (sys.etc_root); udevadm is a fake sys_ops.run. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/iscsi/internal.h"
#include "lib/fileio.h"
#include "lib/macro.h"

struct fake {
	char root[PATH_MAX];
	struct sys sys;
	struct backend_host_config host;
	struct backend_ctx ctx;
	unsigned reloads;
	int reload_status; /* exit status udevadm reports */
	int reload_errno;  /* or: it cannot be run */
	char argv_seen[256];
};

static int fake_run(const struct sys *s, char *const argv[], int timeout_ms _unused_,
		    struct sys_run_result *ret)
{
	struct fake *f = s->userdata;

	snprintf(f->argv_seen, sizeof(f->argv_seen), "%s %s %s%s", argv[0], argv[1] ? argv[1] : "",
		 argv[1] && argv[2] ? argv[2] : "", argv[1] && argv[2] && argv[3] ? " ..." : "");
	if (f->reload_errno)
		return f->reload_errno;
	f->reloads++;
	ret->status = f->reload_status;
	ret->out = strdup(f->reload_status ? "Failed to send reload request: No such file or "
					     "directory\n"
					   : "");
	return 0;
}

static int setup(void **state)
{
	static struct sys_ops ops;
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/attachd-udevrule-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	ops = sys_real_ops;
	ops.run = fake_run;
	sys_init_real(&f->sys);
	f->sys.etc_root = f->root;
	f->sys.ops = &ops;
	f->sys.userdata = f;
	f->ctx = (struct backend_ctx){.sys = &f->sys, .host = &f->host, .timeout_ms = 30000};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static char *rule_file(struct fake *f, const char *iface)
{
	static char path[PATH_MAX * 2];
	char *text = NULL;

	snprintf(path, sizeof(path), "%s/run/udev/rules.d/59-attachd-paths-%s.rules", f->root,
		 iface);
	if (read_full_file(path, &text, NULL, 1 << 16) < 0)
		return NULL;
	return text;
}

static void test_format(void **state _unused_)
{
	char buf[BE_ISCSI_UDEV_RULE_MAX];

	assert_int_equal(be_iscsi_udev_rule_format("attachd2", buf, sizeof(buf)), 0);
	/* disks only, never on remove, the session parent's ifacename, the property set */
	assert_non_null(strstr(buf, "SUBSYSTEM!=\"block\", GOTO=\"attachd_paths_end\"\n"));
	assert_non_null(strstr(buf, "ACTION==\"remove\", GOTO=\"attachd_paths_end\"\n"));
	assert_non_null(strstr(buf, "KERNEL!=\"sd*\", GOTO=\"attachd_paths_end\"\n"));
	assert_non_null(strstr(buf, "KERNELS==\"session*\", "
				    "ATTRS{iscsi_session/%b/ifacename}==\"attachd2\", "
				    "ENV{ATTACHD_PATH}=\"attachd2\"\n"));
	/* for our disks only: no persistent-storage rules, no inotify watch (final) */
	assert_non_null(strstr(buf,
			       "ENV{ATTACHD_PATH}=\"attachd2\"\n"
			       "ENV{ATTACHD_PATH}!=\"attachd2\", GOTO=\"attachd_paths_end\"\n"));
	assert_non_null(strstr(buf, "\nENV{UDEV_DISABLE_PERSISTENT_STORAGE_RULES_FLAG}=\"1\", "
				    "OPTIONS:=\"nowatch\"\nLABEL=\"attachd_paths_end\"\n"));
	assert_non_null(strstr(buf, "\nLABEL=\"attachd_paths_end\"\n"));
	/* what to put in multipath.conf is in the file for whoever finds it */
	assert_non_null(strstr(buf, "property \"^ATTACHD_PATH$\""));

	/* a name that would break out of the rule's quotes, or none at all */
	assert_int_equal(be_iscsi_udev_rule_format("a\"b", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(be_iscsi_udev_rule_format("a b", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(be_iscsi_udev_rule_format(".hidden", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(be_iscsi_udev_rule_format("", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(be_iscsi_udev_rule_format("attachd", buf, 40), -ENOBUFS);
	/* the longest iface name agent/config.c accepts fits the buffer udevrule.c uses */
	assert_int_equal(
	    be_iscsi_udev_rule_format("a23456789012345678901234567890123456789012345678"
				      "901234567890123",
				      buf, sizeof(buf)),
	    0);
}

static void test_ensure_writes_once_and_reloads(void **state)
{
	struct fake *f = *state;
	struct errbuf e = {""};
	char want[1024], path[PATH_MAX * 2];
	struct stat st;
	char *text;

	assert_int_equal(be_iscsi_udev_rule_ensure(&f->ctx, &e), 0);
	assert_int_equal(f->reloads, 1);
	assert_string_equal(f->argv_seen, "udevadm control --reload");
	text = rule_file(f, "attachd");
	assert_non_null(text);
	assert_int_equal(be_iscsi_udev_rule_format("attachd", want, sizeof(want)), 0);
	assert_string_equal(text, want);
	free(text);
	snprintf(path, sizeof(path), "%s/run/udev/rules.d/59-attachd-paths-attachd.rules", f->root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	/* in place: nothing written, udevd not bothered */
	assert_int_equal(be_iscsi_udev_rule_ensure(&f->ctx, &e), 0);
	assert_int_equal(f->reloads, 1);

	/* changed behind our back (an older attachd's text): rewritten, reloaded */
	assert_int_equal(write_file_atomic(path, "# old\n", 6, 0644), 0);
	assert_int_equal(be_iscsi_udev_rule_ensure(&f->ctx, &e), 0);
	assert_int_equal(f->reloads, 2);
	text = rule_file(f, "attachd");
	assert_string_equal(text, want);
	free(text);
}

static void test_ensure_configured_iface(void **state)
{
	struct fake *f = *state;
	struct errbuf e = {""};
	char *text;

	snprintf(f->host.iscsi_iface, sizeof(f->host.iscsi_iface), "attachd2");
	assert_int_equal(be_iscsi_udev_rule_ensure(&f->ctx, &e), 0);
	text = rule_file(f, "attachd2");
	assert_non_null(text);
	assert_non_null(strstr(text, "ifacename}==\"attachd2\""));
	free(text);
	/* the default iface's rule is another agent's business */
	assert_null(rule_file(f, "attachd"));
}

static void test_ensure_reload_fails(void **state)
{
	struct fake *f = *state;
	struct errbuf e = {""};

	f->reload_status = 1;
	assert_int_equal(be_iscsi_udev_rule_ensure(&f->ctx, &e), -EIO);
	assert_non_null(strstr(e.msg, "udevadm control --reload failed (exit 1: Failed to send"));
	assert_non_null(strstr(e.msg, "is systemd-udevd running?"));

	f->reload_status = 0;
	f->reload_errno = -ENOENT;
	snprintf(f->host.iscsi_iface, sizeof(f->host.iscsi_iface), "other");
	assert_int_equal(be_iscsi_udev_rule_ensure(&f->ctx, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "could not run udevadm control --reload"));
	assert_non_null(strstr(e.msg, "(install udev)"));
}

static void test_ensure_unwritable(void **state)
{
	struct fake *f = *state;
	struct errbuf e = {""};
	char path[PATH_MAX * 2];

	/* /run/udev is a file: the directory cannot be made */
	snprintf(path, sizeof(path), "%s/run", f->root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/run/udev", f->root);
	assert_int_equal(write_file_atomic(path, "x", 1, 0644), 0);
	assert_true(be_iscsi_udev_rule_ensure(&f->ctx, &e) < 0);
	assert_non_null(strstr(e.msg, "cannot write attachd's udev rule"));
	assert_non_null(strstr(e.msg, "keeps multipathd from taking attachd's iSCSI paths"));
	assert_int_equal(f->reloads, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),
	    cmocka_unit_test_setup_teardown(test_ensure_writes_once_and_reloads, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ensure_configured_iface, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ensure_reload_fails, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ensure_unwritable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
