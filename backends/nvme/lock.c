/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Target locks of the nvme backend. One kernel controller per (subsystem, address, port,
 * host) is shared by every namespace behind it, and the detach of the last of them deletes
 * it. The kernel can tell which namespaces are in use once a dm device holds them, but not
 * between a connect that reused the controller and the dm map that follows: so each target
 * also keeps the volumes (their describe strings) that connected through it in this process,
 * and connect/disconnect run under the target's mutex. Different targets run in parallel.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

#define TARGET_SLOTS 128
#define USERS_MAX 64
#define WHO_MAX (BE_NVME_NQN_MAX + 48)

struct be_nvme_target_lock {
	char key[BE_NVME_NQN_MAX + BE_NVME_HOST_MAX + 16];
	unsigned refs; /* holders + waiters */
	pthread_mutex_t mutex;
	char (*users)[WHO_MAX]; /* volumes connected through this target */
	unsigned n_users;
	int owned; /* owned_inst/owned_id name attachd's controller */
	unsigned owned_inst;
	struct be_nvme_ctrl_ident owned_id;
};

static pthread_mutex_t table_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_cond = PTHREAD_COND_INITIALIZER;
static struct be_nvme_target_lock table[TARGET_SLOTS];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (size_t i = 0; i < TARGET_SLOTS; i++)
		pthread_mutex_init(&table[i].mutex, NULL);
}

struct be_nvme_target_lock *be_nvme_target_lock(const char *subnqn, const char *traddr,
						unsigned trsvcid)
{
	char key[sizeof(table[0].key)];
	struct be_nvme_target_lock *slot = NULL;

	pthread_once(&table_once, table_init);
	snprintf(key, sizeof(key), "%s %s %u", subnqn, traddr, trsvcid);

	pthread_mutex_lock(&table_mutex);
	for (;;) {
		struct be_nvme_target_lock *free_slot = NULL;

		/* A slot stays bound to its key while it has users, even with no holder. */
		for (size_t i = 0; i < TARGET_SLOTS; i++) {
			int busy = table[i].refs > 0 || table[i].n_users > 0;

			if (busy && strcmp(table[i].key, key) == 0) {
				slot = &table[i];
				break;
			}
			if (!busy && !free_slot)
				free_slot = &table[i];
		}
		if (!slot && free_slot) {
			slot = free_slot;
			snprintf(slot->key, sizeof(slot->key), "%s", key);
		}
		if (slot)
			break;
		pthread_cond_wait(&table_cond, &table_mutex);
	}
	slot->refs++;
	pthread_mutex_unlock(&table_mutex);

	pthread_mutex_lock(&slot->mutex);
	return slot;
}

void be_nvme_target_unlock(struct be_nvme_target_lock *l)
{
	if (!l)
		return;
	pthread_mutex_unlock(&l->mutex);
	pthread_mutex_lock(&table_mutex);
	if (--l->refs == 0 && l->n_users == 0) {
		free(l->users);
		l->users = NULL;
		l->owned = 0;
		pthread_cond_broadcast(&table_cond);
	}
	pthread_mutex_unlock(&table_mutex);
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
}

void be_nvme_target_user_del(struct be_nvme_target_lock *l, const char *who)
{
	for (unsigned i = 0; i < l->n_users; i++)
		if (streq(l->users[i], who)) {
			memmove(l->users[i], l->users[i + 1], (l->n_users - i - 1) * WHO_MAX);
			l->n_users--;
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
