/* SPDX-License-Identifier: Apache-2.0 */
/* The step plan and mountinfo parsing: pure functions the pipeline is built on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attach/internal.h"

static const char *const step_names[_STEP_MAX] = {
	[STEP_NONE] = "none",         [STEP_PLAN] = "plan",       [STEP_CONNECT] = "connect",
	[STEP_AWAIT] = "await-device", [STEP_VERIFY] = "verify",   [STEP_DM] = "dm-map", [STEP_FENCE] = "fence",
	[STEP_PROBE] = "probe-fs",    [STEP_MKFS] = "mkfs",       [STEP_MOUNT] = "mount",
	[STEP_BIND] = "bind",         [STEP_UNBIND] = "unbind",   [STEP_UMOUNT] = "umount", [STEP_UNFENCE] = "unfence",
	[STEP_DM_REMOVE] = "dm-remove", [STEP_DISCONNECT] = "disconnect",
	[STEP_EXPAND] = "expand",
};

const char *attach_step_name(enum attach_step s)
{
	return s >= 0 && s < _STEP_MAX && step_names[s] ? step_names[s] : "unknown";
}

size_t attach_plan_up(enum attach_step reached, int has_probe, enum attach_step *out, size_t n)
{
	/* STEP_PLAN covers the backend's pre-flight probe; it is skipped for backends without
	 * one. STEP_MKFS is decided at run time by the probe result. */
	static const enum attach_step order[] = {
		STEP_PLAN,  STEP_CONNECT, STEP_AWAIT, STEP_VERIFY, STEP_DM,
		STEP_FENCE, STEP_PROBE,	  STEP_MKFS,  STEP_MOUNT,
	};
	size_t k = 0;

	for (size_t i = 0; i < ELEMENTSOF(order) && k < n; i++) {
		if (order[i] <= reached)
			continue;
		if (order[i] == STEP_PLAN && !has_probe)
			continue;
		out[k++] = order[i];
	}
	return k;
}

size_t attach_plan_down(enum attach_step reached, enum attach_step *out, size_t n)
{
	size_t k = 0;

	/* Each undo runs when the step that creates its object may have started: a crash or
	 * failure inside a step can leave its object half made, and every undo is idempotent. */
	if (reached >= STEP_MKFS && k < n)
		out[k++] = STEP_UMOUNT;
	if (reached >= STEP_FENCE && k < n)
		out[k++] = STEP_UNFENCE;
	if (reached >= STEP_VERIFY && k < n)
		out[k++] = STEP_DM_REMOVE;
	if (reached >= STEP_PLAN && k < n)
		out[k++] = STEP_DISCONNECT;
	return k;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else
			*w++ = *r;
	}
	*w = 0;
}

static int parse_line(const char *line, size_t len, struct attach_mnt *m)
{
	char buf[8192], *save = NULL, *tok, *fields[16];
	int nf = 0, sep = -1;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, line, len);
	buf[len] = 0;
	for (tok = strtok_r(buf, " ", &save); tok && nf < 16; tok = strtok_r(NULL, " ", &save)) {
		if (!strcmp(tok, "-") && sep < 0)
			sep = nf;
		fields[nf++] = tok;
	}
	/* id parent maj:min root target opts [optional...] - fstype source superopts */
	if (nf < 10 || sep < 6 || sep + 3 > nf)
		return -EINVAL;
	if (sscanf(fields[2], "%u:%u", &m->major, &m->minor) != 2)
		return -EINVAL;
	unescape(fields[3]);
	unescape(fields[4]);
	unescape(fields[sep + 2]);
	snprintf(m->root, sizeof(m->root), "%s", fields[3]);
	snprintf(m->target, sizeof(m->target), "%s", fields[4]);
	snprintf(m->fstype, sizeof(m->fstype), "%s", fields[sep + 1]);
	snprintf(m->source, sizeof(m->source), "%s", fields[sep + 2]);
	m->readonly = !strncmp(fields[5], "ro", 2) && (fields[5][2] == 0 || fields[5][2] == ',');
	return 0;
}

int attach_mountinfo_find(const char *text, const char *target, struct attach_mnt *ret)
{
	struct attach_mnt m, found;
	int have = 0;

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 0 && parse_line(p, len, &m) == 0 && !strcmp(m.target, target)) {
			found = m;
			have = 1;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (!have)
		return -ENOENT;
	*ret = found;
	return 0;
}

int attach_mountinfo_has_dev(const char *text, unsigned major, unsigned minor)
{
	struct attach_mnt m;

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 0 && parse_line(p, len, &m) == 0 && m.major == major && m.minor == minor)
			return 1;
		p = nl ? nl + 1 : NULL;
	}
	return 0;
}

int attach_mountinfo_read(const struct sys *s, char **ret_text)
{
	char p[4096];

	if (!sys_path(p, sizeof(p), s->proc_root, "/proc/self/mountinfo"))
		return -ENAMETOOLONG;
	return s->ops->read_file(s, p, ret_text, 64 << 20);
}

int64_t attach_now_ms(void)
{
	return attach_now_us() / 1000;
}

int64_t attach_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
