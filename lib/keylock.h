/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A table of mutexes keyed by string: keylock_lock(t, "a") blocks while another thread
 * holds "a", and never waits for a thread that holds "b". A slot is bound to its key while
 * anyone holds or waits for it (or while it is kept, see keylock_keep), and is free again
 * once nobody does. With more than KEYLOCK_SLOTS keys busy at once, a new key waits for a
 * slot to become free. Keys longer than KEYLOCK_KEY_MAX - 1 bytes are cut there.
 *
 * A table is a static object: KEYLOCK_TABLE_INIT(on_free) initialises it. on_free (may be
 * NULL) is called with the slot's index when a slot becomes free, under the table's mutex,
 * so that per-slot data kept by the caller (indexed by keylock_index) is reset.
 */
#pragma once

#include <pthread.h>
#include <stddef.h>

#define KEYLOCK_SLOTS 128
#define KEYLOCK_KEY_MAX 512

struct keylock_table;

struct keylock {
	char key[KEYLOCK_KEY_MAX];
	unsigned refs; /* holders + waiters */
	int kept;      /* bound to its key even with no holder (keylock_keep) */
	pthread_mutex_t mutex;
	struct keylock_table *table;
};

struct keylock_table {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	void (*on_free)(size_t index);
	struct keylock slots[KEYLOCK_SLOTS];
};

#define KEYLOCK_TABLE_INIT(free_fn)                                                                \
	{                                                                                          \
		.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,              \
		.on_free = (free_fn),                                                              \
		.slots = {[0 ... KEYLOCK_SLOTS - 1] = {.mutex = PTHREAD_MUTEX_INITIALIZER}},       \
	}

/* Locks the key's mutex (blocks) and returns its slot; never NULL. */
struct keylock *keylock_lock(struct keylock_table *t, const char *key);
/* Unlocks; the slot is freed when nobody else holds or waits for it and it is not kept.
 * NULL is a no-op. */
void keylock_unlock(struct keylock *l);
/* Keep the slot bound to its key after the last unlock (keep=1), or not (keep=0), e.g.
 * while per-slot data still matters. Call with the lock held. */
void keylock_keep(struct keylock *l, int keep);
/* The slot's index in its table, 0..KEYLOCK_SLOTS-1: for caller data kept per slot. */
size_t keylock_index(const struct keylock *l);
