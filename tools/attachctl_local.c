/* SPDX-License-Identifier: Apache-2.0 */
/* Commands that work on this host directly: preflight (kernel modules, daemons) and doctor
 * (the agent's view checked against the kernel). probe is in attachctl_probe.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/backend.h"
#include "lib/exec.h"
#include "lib/fileio.h"
#include "lib/macro.h"
#include "lib/sys.h"
#include "tools/attachctl.h"

static void print_json(const json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		printf("%s\n", s);
	free(s);
}

/* ---- preflight ---- */

struct check {
	struct ctl_table t;
	json_t *list;
	unsigned failed;
};

static void check_add(struct check *c, const char *what, int ok, const char *fmt, ...)
    _printf_(4, 5);
static void check_add(struct check *c, const char *what, int ok, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* One line: helper output may carry newlines. */
	for (char *p = detail; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	ctl_table_add(&c->t, (const char *const[]){what, ok ? "ok" : "MISSING", detail});
	json_array_append_new(
	    c->list, json_pack("{s:s,s:b,s:s}", "check", what, "ok", ok, "detail", detail));
	if (!ok)
		c->failed++;
}

static void check_init(struct check *c, const char *first_col)
{
	const char *const head[] = {first_col, "STATUS", "DETAIL", NULL};

	ctl_table_init(&c->t, head);
	c->list = json_array();
	c->failed = 0;
}

static int check_finish(struct check *c, const struct ctl_args *a, const char *what)
{
	int rc = c->failed ? CTL_EXIT_FAIL : CTL_EXIT_OK;

	if (a->json) {
		json_t *o = json_pack("{s:b,s:I,s:O}", "ok", !c->failed, "failed",
				      (json_int_t)c->failed, "checks", c->list);

		if (o)
			print_json(o);
		json_decref(o);
	} else {
		ctl_table_print(&c->t, stdout);
		if (c->failed)
			printf("%s: %u problem%s\n", what, c->failed, c->failed == 1 ? "" : "s");
		else
			printf("%s: all good\n", what);
	}
	ctl_table_done(&c->t);
	json_decref(c->list);
	return rc;
}

/* First line of a helper's output, for a detail column. */
static const char *first_line(const char *out, char *buf, size_t n)
{
	size_t l = out ? strcspn(out, "\n") : 0;

	snprintf(buf, n, "%.*s", (int)(l < n ? l : n - 1), out ? out : "");
	return buf;
}

static void check_module(struct check *c, const char *name)
{
	char sysname[64], path[128], what[80], line[256];
	char *argv[] = {(char *)"modprobe", (char *)name, NULL};
	_cleanup_free_ char *out = NULL;
	int status = -1, r;

	snprintf(sysname, sizeof(sysname), "%s", name);
	for (char *p = sysname; *p; p++)
		if (*p == '-')
			*p = '_';
	snprintf(path, sizeof(path), "/sys/module/%s", sysname);
	snprintf(what, sizeof(what), "module %s", name);
	if (access(path, F_OK) == 0) {
		check_add(c, what, 1, "loaded");
		return;
	}
	r = exec_run(argv, 10000, &status, &out);
	if (r < 0)
		check_add(c, what, 0, "cannot run modprobe: %s", strerror(-r));
	else if (status != 0)
		check_add(c, what, 0, "modprobe %s: exit %d: %s", name, status,
			  first_line(out, line, sizeof(line)));
	else if (access(path, F_OK) == 0)
		check_add(c, what, 1, "loaded now");
	else
		check_add(c, what, 1, "modprobe succeeded (built in)");
}

/* iscsid answers iscsiadm on the abstract socket "ISCSIADM_ABSTRACT_NAMESPACE" (open-iscsi
 * usr/mgmt_ipc.h). Connecting there is exactly what iscsiadm does first. */
static int iscsid_reachable(void)
{
	static const char name[] = "ISCSIADM_ABSTRACT_NAMESPACE";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return negative_errno();
	memcpy(sa.sun_path + 1, name, sizeof(name) - 1);
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sizeof(name) - 1)) < 0)
		return negative_errno();
	return 0;
}

static void check_iscsi(struct check *c)
{
	char *argv[] = {(char *)"iscsiadm", (char *)"-m", (char *)"session", NULL};
	_cleanup_free_ char *out = NULL, *name = NULL;
	char line[256];
	int status = -1, r;

	r = iscsid_reachable();
	if (r < 0)
		check_add(c, "iscsid", 0, "not reachable (%s): start iscsid", strerror(-r));
	else
		check_add(c, "iscsid", 1, "answers on its control socket");
	r = exec_run(argv, 15000, &status, &out);
	/* 0: sessions listed; 21 (ISCSI_ERR_NO_OBJS_FOUND): none. */
	if (r < 0)
		check_add(c, "iscsiadm", 0, "cannot run iscsiadm: %s (install open-iscsi)",
			  strerror(-r));
	else if (status == 0 || status == 21)
		check_add(c, "iscsiadm", 1, "works (exit %d)", status);
	else
		check_add(c, "iscsiadm", 0, "iscsiadm -m session: exit %d: %s", status,
			  first_line(out, line, sizeof(line)));
	r = read_full_file("/etc/iscsi/initiatorname.iscsi", &name, NULL, 64 * 1024);
	if (r < 0) {
		check_add(c, "initiator name", 0,
			  "/etc/iscsi/initiatorname.iscsi: %s (or set iscsi.initiator_name)",
			  strerror(-r));
	} else {
		const char *p = strstr(name, "InitiatorName=");

		while (p && p != name && p[-1] != '\n')
			p = strstr(p + 1, "InitiatorName=");
		if (p && p[14] && p[14] != '\n')
			check_add(c, "initiator name", 1, "%s",
				  first_line(p + 14, line, sizeof(line)));
		else
			check_add(c, "initiator name", 0,
				  "no InitiatorName= in /etc/iscsi/initiatorname.iscsi");
	}
}

int ctl_cmd_preflight(const struct ctl_args *a)
{
	static const char *const modules[] = {"dm-mod", "dm-multipath", "iscsi_tcp", "nvme-tcp",
					      "loop"};
	char *udev[] = {(char *)"udevadm", (char *)"control", (char *)"--ping", NULL};
	_cleanup_free_ char *out = NULL;
	struct check c;
	struct stat st;
	char line[256];
	int status = -1, r;

	check_init(&c, "CHECK");
	for (size_t i = 0; i < ELEMENTSOF(modules); i++)
		check_module(&c, modules[i]);
	if (stat("/dev/mapper/control", &st) == 0 && S_ISCHR(st.st_mode))
		check_add(&c, "/dev/mapper/control", 1, "present");
	else
		check_add(&c, "/dev/mapper/control", 0, "missing (device-mapper not available)");
	r = exec_run(udev, 10000, &status, &out);
	if (r < 0)
		check_add(&c, "udevd", 0, "cannot run udevadm: %s", strerror(-r));
	else if (status != 0)
		check_add(&c, "udevd", 0, "not running (udevadm control --ping: exit %d: %s)",
			  status, first_line(out, line, sizeof(line)));
	else
		check_add(&c, "udevd", 1, "answers");
	check_iscsi(&c);
	return check_finish(&c, a, "preflight");
}

/* ---- doctor ---- */

static void unescape_mountinfo(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else
			*w++ = *r++;
	}
	*w = 0;
}

int ctl_is_mountpoint(const char *mountinfo_path, const char *path)
{
	_cleanup_free_ char *text = NULL;
	char *save = NULL, *line;
	int r;

	r = read_full_file(mountinfo_path, &text, NULL, 16 * 1024 * 1024);
	if (r < 0)
		return r;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f = line, *mp;

		/* id parent maj:min root mountpoint ... */
		for (int i = 0; i < 4 && f; i++) {
			f = strchr(f, ' ');
			if (f)
				f++;
		}
		if (!f)
			continue;
		mp = f;
		f = strchr(mp, ' ');
		if (f)
			*f = 0;
		unescape_mountinfo(mp);
		if (streq(mp, path))
			return 1;
	}
	return 0;
}

static int is_block(const char *path)
{
	struct stat st;

	return path && *path && stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

static void doctor_volume(struct check *c, const json_t *v)
{
	const char *key = json_string_value(json_object_get(v, "volume"));
	const char *state = json_string_value(json_object_get(v, "state"));
	const char *dev = json_string_value(json_object_get(v, "device"));
	const char *dm = json_string_value(json_object_get(v, "dm"));
	const char *staging = json_string_value(json_object_get(v, "staging"));
	const json_t *mounts = json_object_get(v, "mounts"), *m;
	char what[300], mapper[300];
	size_t i;

	if (!key)
		return;
	snprintf(what, sizeof(what), "%s", key);
	if (json_is_true(json_object_get(v, "busy"))) {
		check_add(c, what, 1, "%s: an operation is running; not checked", state);
		return;
	}
	if (!streq(state, "attached")) {
		/* Detached: nothing of ours may be left. */
		snprintf(mapper, sizeof(mapper), "/dev/mapper/attachd-%s", key);
		if (is_block(mapper))
			check_add(c, what, 0, "detached, but %s still exists", mapper);
		else
			check_add(c, what, 1, "detached");
		return;
	}
	snprintf(mapper, sizeof(mapper), "/dev/mapper/%s", dm ? dm : "");
	if (!dm || !*dm || !is_block(mapper))
		check_add(c, what, 0, "dm device %s is missing", mapper);
	else
		check_add(c, what, 1, "dm device %s", mapper);
	if (!is_block(dev))
		check_add(c, what, 0, "backing device %s is missing", dev && *dev ? dev : "?");
	else
		check_add(c, what, 1, "backing device %s", dev);
	if (ctl_is_mountpoint("/proc/self/mountinfo", staging ? staging : "") != 1)
		check_add(c, what, 0, "staging mount %s is missing", staging ? staging : "?");
	else
		check_add(c, what, 1, "staging mount %s", staging);
	json_array_foreach(mounts, i, m)
	{
		const char *p = json_string_value(json_object_get(m, "path"));
		const char *n = json_string_value(json_object_get(m, "name"));

		if (ctl_is_mountpoint("/proc/self/mountinfo", p ? p : "") != 1)
			check_add(c, what, 0, "container mount of %s at %s is missing", n, p);
		else
			check_add(c, what, 1, "container mount of %s at %s", n, p);
	}
}

int ctl_cmd_doctor(const struct ctl_args *a)
{
	struct errbuf e = {{0}};
	json_t *ping = NULL, *ls = NULL, *v;
	const char *err;
	struct check c;
	size_t i;
	int r;

	check_init(&c, "VOLUME");
	r = ctl_call(a->socket, "ping", NULL, 30, &ping, &e);
	if (r < 0) {
		check_add(&c, "attachd", 0, "%s", e.msg);
		return check_finish(&c, a, "doctor");
	}
	err = json_string_value(json_object_get(ping, "Err"));
	if (err && *err)
		check_add(&c, "attachd", 0, "%s", err);
	else
		check_add(&c, "attachd", 1, "pid %lld answers%s",
			  (long long)json_integer_value(json_object_get(ping, "pid")),
			  json_is_true(json_object_get(ping, "draining")) ? " (draining)" : "");
	json_decref(ping);
	r = ctl_call(a->socket, "ls", NULL, 60, &ls, &e);
	if (r < 0)
		check_add(&c, "attachd", 0, "ls: %s", e.msg);
	else if ((err = json_string_value(json_object_get(ls, "Err"))) && *err)
		check_add(&c, "attachd", 0, "ls: %s", err);
	else
		json_array_foreach(json_object_get(ls, "volumes"), i, v) doctor_volume(&c, v);
	json_decref(ls);
	return check_finish(&c, a, "doctor");
}
