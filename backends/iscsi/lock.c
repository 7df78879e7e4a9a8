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
 * window (lib/keylock). Different targets run in parallel. Order: target lock, then DB lock.
 */
#include <pthread.h>
#include <stdio.h>

#include "internal.h"
#include "lib/keylock.h"

static pthread_mutex_t db_mutex = PTHREAD_MUTEX_INITIALIZER;

void be_iscsi_db_lock(void)
{
	pthread_mutex_lock(&db_mutex);
}

void be_iscsi_db_unlock(void)
{
	pthread_mutex_unlock(&db_mutex);
}

/* The table's slots are the target locks: struct be_iscsi_target_lock is never defined,
 * the pointer handed out is the slot's struct keylock. */
static struct keylock_table targets = KEYLOCK_TABLE_INIT(NULL);

struct be_iscsi_target_lock *be_iscsi_target_lock(const char *portal, const char *iqn)
{
	char key[BE_ISCSI_PORTAL_STR_MAX + BE_ISCSI_NAME_MAX + 2];

	snprintf(key, sizeof(key), "%s %s", portal, iqn);
	return (struct be_iscsi_target_lock *)keylock_lock(&targets, key);
}

void be_iscsi_target_unlock(struct be_iscsi_target_lock *l)
{
	keylock_unlock((struct keylock *)l);
}
