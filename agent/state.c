/* SPDX-License-Identifier: Apache-2.0 */
/* Volume records on disk and the recovery decision. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/state.h"
#include "lib/fileio.h"
#include "lib/macro.h"

struct agent_state {
	char dir[4096];
	char boot_id[64];
};

static const char *const op_names[] = {
	[AGENT_OP_IDLE] = "idle",
	[AGENT_OP_ATTACH] = "attach",
	[AGENT_OP_DETACH] = "detach",
};

const char *agent_op_name(enum agent_op op)
{
	return op >= 0 && op < (int)ELEMENTSOF(op_names) ? op_names[op] : "unknown";
}

int agent_op_from_name(const char *name, enum agent_op *ret)
{
	for (size_t i = 0; i < ELEMENTSOF(op_names); i++)
		if (streq(op_names[i], name)) {
			*ret = (enum agent_op)i;
			return 0;
		}
	return -EINVAL;
}

static int read_boot_id(const struct sys *s, const char *file, char *buf, size_t n,
			struct errbuf *e)
{
	_cleanup_free_ char *text = NULL;
	char p[4096];
	size_t len;
	int r;

	if (file && file[0])
		r = read_full_file(file, &text, NULL, 4096);
	else if (!sys_path(p, sizeof(p), s->proc_root, AGENT_BOOT_ID_PATH))
		return errbuf_set(e, -ENAMETOOLONG, "boot ID path too long");
	else
		r = s->ops->read_file(s, p, &text, 4096);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the boot ID from %s: %s",
				  file && file[0] ? file : AGENT_BOOT_ID_PATH, strerror(-r));
	len = strcspn(text, "\r\n");
	text[len] = 0;
	if (len == 0 || len >= n)
		return errbuf_set(e, -EINVAL, "the boot ID '%.64s' is not usable", text);
	memcpy(buf, text, len + 1);
	return 0;
}

int agent_state_open(const char *dir, const struct sys *s, const char *boot_id_file,
		     struct agent_state **ret, struct errbuf *e)
{
	struct agent_state *st;
	int r;

	if (!dir || dir[0] != '/' || strlen(dir) >= sizeof(st->dir) - 256)
		return errbuf_set(e, -EINVAL, "state_dir: '%s' is not a usable absolute path",
				  dir ? dir : "");
	st = calloc(1, sizeof(*st));
	if (!st)
		return errbuf_set(e, -ENOMEM, "out of memory");
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	r = mkdir_p(dir, 0700);
	/* Records hold the Create options, CHAP secrets included: no one else may look. */
	if (r >= 0 && chmod(dir, 0700) < 0)
		r = negative_errno();
	if (r < 0) {
		free(st);
		return errbuf_set(e, r, "cannot create state_dir %s: %s", dir, strerror(-r));
	}
	r = read_boot_id(s, boot_id_file, st->boot_id, sizeof(st->boot_id), e);
	if (r < 0) {
		free(st);
		return r;
	}
	*ret = st;
	return 0;
}

struct agent_state *agent_state_free(struct agent_state *st)
{
	free(st);
	return NULL;
}

const char *agent_state_boot_id(const struct agent_state *st)
{
	return st->boot_id;
}

const char *agent_state_dir(const struct agent_state *st)
{
	return st->dir;
}

static int record_path(const struct agent_state *st, const char *key, char *buf, size_t n)
{
	int r;

	if (!attach_key_is_valid(key))
		return -EINVAL;
	r = snprintf(buf, n, "%s/%s.json", st->dir, key);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

int agent_state_write(struct agent_state *st, const char *key, const json_t *rec)
{
	_cleanup_free_ char *text = NULL;
	char path[4096 + 256];
	int r;

	r = record_path(st, key, path, sizeof(path));
	if (r < 0)
		return r;
	text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	return write_file_atomic(path, text, strlen(text), 0600);
}

int agent_state_remove(struct agent_state *st, const char *key)
{
	char path[4096 + 256];
	int r;

	r = record_path(st, key, path, sizeof(path));
	if (r < 0)
		return r;
	if (unlink(path) < 0 && errno != ENOENT)
		return negative_errno();
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **agent_state_keys_free(char **keys)
{
	for (size_t i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
	return NULL;
}

int agent_state_keys(struct agent_state *st, char ***ret)
{
	DIR *d = opendir(st->dir);
	char **keys = NULL;
	size_t n = 0;
	struct dirent *de;

	if (!d)
		return negative_errno();
	keys = calloc(1, sizeof(*keys));
	while (keys && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char key[ATTACH_KEY_MAX + 1], **nk;

		/* "<key>.json"; "<key>.json.tmp" is an interrupted write: the rename never
		 * happened, so the previous record (if any) is the valid one. */
		if (len <= 5 || len - 5 > ATTACH_KEY_MAX || strcmp(de->d_name + len - 5, ".json"))
			continue;
		memcpy(key, de->d_name, len - 5);
		key[len - 5] = 0;
		if (!attach_key_is_valid(key))
			continue;
		nk = realloc(keys, (n + 2) * sizeof(*nk));
		if (!nk)
			break;
		keys = nk;
		keys[n] = strdup(key);
		if (!keys[n])
			break;
		keys[++n] = NULL;
	}
	closedir(d);
	if (!keys || (n > 0 && !keys[n - 1]) || de) {
		agent_state_keys_free(keys);
		return -ENOMEM;
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	*ret = keys;
	return 0;
}

int agent_state_read(struct agent_state *st, const char *key, json_t **ret, struct errbuf *e)
{
	_cleanup_free_ char *text = NULL;
	char path[4096 + 256];
	json_error_t je;
	json_t *j;
	int r;

	r = record_path(st, key, path, sizeof(path));
	if (r < 0)
		return errbuf_set(e, r, "bad record name %s", key);
	r = read_full_file(path, &text, NULL, AGENT_RECORD_MAX);
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", path, strerror(-r));
	j = json_loads(text, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return errbuf_set(e, -EINVAL, "%s is not a JSON object (%s)", path, je.text);
	}
	*ret = j;
	return 0;
}

static const char *const recovery_names[] = {
	[AGENT_RECOVER_FORGET] = "forget",     [AGENT_RECOVER_ADOPT] = "adopt",
	[AGENT_RECOVER_COMPLETE_UP] = "complete-attach", [AGENT_RECOVER_ROLLBACK] = "rollback",
	[AGENT_RECOVER_DETACH] = "detach",     [AGENT_RECOVER_CLEANUP] = "cleanup",
};

const char *agent_recovery_name(enum agent_recovery a)
{
	return a >= 0 && a < (int)ELEMENTSOF(recovery_names) ? recovery_names[a] : "unknown";
}

enum agent_recovery agent_recovery_decide(const struct agent_recovery_input *in)
{
	int made_something = in->reached != STEP_NONE || in->doing != STEP_NONE;

	/* A reboot took the containers (and normally the kernel objects) with it; whatever
	 * a simulated or partial reboot left is undone, idempotently. */
	if (!in->same_boot)
		return AGENT_RECOVER_CLEANUP;
	/* Mounts under running containers are never touched: finish what they stand on. */
	if (in->mounts_live > 0)
		return in->reached == STEP_MOUNT && in->doing == STEP_NONE && in->op != AGENT_OP_ATTACH
			       ? AGENT_RECOVER_ADOPT
			       : AGENT_RECOVER_COMPLETE_UP;
	if (in->op == AGENT_OP_DETACH)
		return AGENT_RECOVER_DETACH;
	if (!made_something)
		return AGENT_RECOVER_FORGET;
	if (in->op == AGENT_OP_ATTACH || in->doing != STEP_NONE || in->reached != STEP_MOUNT)
		return AGENT_RECOVER_ROLLBACK;
	/* Up, but no container uses it any more (its Unmount was cut short, or the Mount that
	 * recorded it never got to bind): nothing will ever Unmount it, so detach. */
	return AGENT_RECOVER_DETACH;
}
