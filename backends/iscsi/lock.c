/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Locks of the iscsi backend.
 *
 * The node DB lock: open-iscsi guards its record files with a link() lock polled every
 * 10 ms for up to 30 s, and parallel writers still corrupt records (open-iscsi #408,
 * longhorn-engine #227). Every iscsiadm call that writes the DB runs under one mutex.
 *
 * Target locks: one kernel session per (portal, target) is shared by every LUN behind
 * it, and the detach of the last LUN logs it out. That decision ("no SCSI device left on
 * the session") must not interleave with another volume's login + scan on the same
 * session, so connect and disconnect hold a mutex keyed by portal + target for that whole
 * window. Different targets run in parallel. Order: target lock, then DB lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static pthread_mutex_t db_mutex = PTHREAD_MUTEX_INITIALIZER;

void be_iscsi_db_lock(void)
{
	pthread_mutex_lock(&db_mutex);
}

void be_iscsi_db_unlock(void)
{
	pthread_mutex_unlock(&db_mutex);
}

#define TARGET_SLOTS 128

struct be_iscsi_target_lock {
	char key[BE_ISCSI_PORTAL_STR_MAX + BE_ISCSI_NAME_MAX + 2];
	unsigned users; /* holders + waiters; the slot is free at 0 */
	pthread_mutex_t mutex;
};

static pthread_mutex_t table_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_cond = PTHREAD_COND_INITIALIZER;
static struct be_iscsi_target_lock table[TARGET_SLOTS];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (size_t i = 0; i < TARGET_SLOTS; i++)
		pthread_mutex_init(&table[i].mutex, NULL);
}

struct be_iscsi_target_lock *be_iscsi_target_lock(const char *portal, const char *iqn)
{
	char key[sizeof(table[0].key)];
	struct be_iscsi_target_lock *slot = NULL;

	pthread_once(&table_once, table_init);
	snprintf(key, sizeof(key), "%s %s", portal, iqn);

	pthread_mutex_lock(&table_mutex);
	for (;;) {
		struct be_iscsi_target_lock *free_slot = NULL;

		for (size_t i = 0; i < TARGET_SLOTS; i++) {
			if (table[i].users > 0 && strcmp(table[i].key, key) == 0) {
				slot = &table[i];
				break;
			}
			if (table[i].users == 0 && !free_slot)
				free_slot = &table[i];
		}
		if (!slot && free_slot) {
			slot = free_slot;
			snprintf(slot->key, sizeof(slot->key), "%s", key);
		}
		if (slot)
			break;
		/* More than TARGET_SLOTS targets busy at once: wait for one to finish. */
		pthread_cond_wait(&table_cond, &table_mutex);
	}
	slot->users++;
	pthread_mutex_unlock(&table_mutex);

	pthread_mutex_lock(&slot->mutex);
	return slot;
}

void be_iscsi_target_unlock(struct be_iscsi_target_lock *l)
{
	if (!l)
		return;
	pthread_mutex_unlock(&l->mutex);
	pthread_mutex_lock(&table_mutex);
	if (--l->users == 0)
		pthread_cond_broadcast(&table_cond);
	pthread_mutex_unlock(&table_mutex);
}
