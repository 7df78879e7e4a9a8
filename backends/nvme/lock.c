/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Target locks of the nvme backend. One kernel controller per (subsystem, address, port,
 * host) is shared by every namespace behind it, and the detach of the last of them deletes
 * it. The kernel can tell which namespaces are in use once a dm device holds them, but not
 * between a connect that reused the controller and the dm map that follows: so each target
 * also keeps the volumes (their describe strings) that connected through it in this process,
 * and connect/disconnect run under the target's mutex (a slot of lib/keylock's table).
 * Different targets run in parallel.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lib/keylock.h"
#include "lib/macro.h"

#define USERS_MAX 64
#define WHO_MAX (BE_NVME_NQN_MAX + 48)

/* What the nvme backend keeps per slot of the generic keyed lock table: one entry per
 * slot, same index. Reset when the slot becomes free. */
struct be_nvme_target_lock {
	struct keylock *lock;
	char (*users)[WHO_MAX]; /* volumes connected through this target */
	unsigned n_users;
	int owned; /* owned_inst/owned_id name attachd's controller */
	unsigned owned_inst;
	struct be_nvme_ctrl_ident owned_id;
};

static struct be_nvme_target_lock targets[KEYLOCK_SLOTS];

static void target_free(size_t index)
{
	struct be_nvme_target_lock *t = &targets[index];

	free(t->users);
	t->users = NULL;
	t->n_users = 0;
	t->owned = 0;
}

static struct keylock_table table = KEYLOCK_TABLE_INIT(target_free);

struct be_nvme_target_lock *be_nvme_target_lock(const char *subnqn, const char *traddr,
						unsigned trsvcid)
{
	char key[BE_NVME_NQN_MAX + BE_NVME_HOST_MAX + 16];
	struct keylock *kl;
	struct be_nvme_target_lock *t;

	snprintf(key, sizeof(key), "%s %s %u", subnqn, traddr, trsvcid);
	kl = keylock_lock(&table, key);
	t = &targets[keylock_index(kl)];
	t->lock = kl;
	return t;
}

void be_nvme_target_unlock(struct be_nvme_target_lock *l)
{
	if (l)
		keylock_unlock(l->lock);
}

void be_nvme_target_user_add(struct be_nvme_target_lock *l, const char *who)
{
	for (unsigned i = 0; i < l->n_users; i++)
		if (streq(l->users[i], who))
			return;
	if (!l->users && !(l->users = calloc(USERS_MAX, sizeof(*l->users))))
		return; /* the kernel check (held namespaces) still protects mapped volumes */
	if (l->n_users < USERS_MAX)
		snprintf(l->users[l->n_users++], WHO_MAX, "%s", who);
	/* A slot stays bound to its key while it has users, even with no holder. */
	keylock_keep(l->lock, l->n_users > 0);
}

void be_nvme_target_user_del(struct be_nvme_target_lock *l, const char *who)
{
	for (unsigned i = 0; i < l->n_users; i++)
		if (streq(l->users[i], who)) {
			memmove(l->users[i], l->users[i + 1], (l->n_users - i - 1) * WHO_MAX);
			l->n_users--;
			keylock_keep(l->lock, l->n_users > 0);
			return;
		}
}

unsigned be_nvme_target_users_other(struct be_nvme_target_lock *l, const char *who)
{
	unsigned n = 0;

	for (unsigned i = 0; i < l->n_users; i++)
		if (!streq(l->users[i], who))
			n++;
	return n;
}

void be_nvme_target_owned_set(struct be_nvme_target_lock *l, unsigned instance,
			      const struct be_nvme_ctrl_ident *id)
{
	l->owned = 1;
	l->owned_inst = instance;
	l->owned_id = *id;
}

int be_nvme_target_owned_is(struct be_nvme_target_lock *l, unsigned instance,
			    const struct be_nvme_ctrl_ident *id)
{
	return l->owned && l->owned_inst == instance && l->owned_id.cntlid == id->cntlid &&
	       l->owned_id.ino == id->ino;
}

void be_nvme_boot_id(const struct sys *s, char *buf, size_t n)
{
	char p[4096];
	char *txt = NULL;

	buf[0] = 0;
	if (!sys_path(p, sizeof(p), s->proc_root, "/proc/sys/kernel/random/boot_id") ||
	    s->ops->read_file(s, p, &txt, 256) < 0)
		return;
	txt[strcspn(txt, " \t\r\n")] = 0;
	snprintf(buf, n, "%s", txt);
	free(txt);
}
