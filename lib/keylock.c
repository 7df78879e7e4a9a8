/* SPDX-License-Identifier: Apache-2.0 */
/* A table of mutexes keyed by string (see keylock.h). */
#include <stdio.h>
#include <string.h>

#include "keylock.h"

static int slot_busy(const struct keylock *s)
{
	return s->refs > 0 || s->kept;
}

struct keylock *keylock_lock(struct keylock_table *t, const char *key)
{
	struct keylock *slot = NULL;

	pthread_mutex_lock(&t->mutex);
	for (;;) {
		struct keylock *free_slot = NULL;

		for (size_t i = 0; i < KEYLOCK_SLOTS; i++) {
			struct keylock *s = &t->slots[i];

			if (slot_busy(s) && strncmp(s->key, key, sizeof(s->key) - 1) == 0) {
				slot = s;
				break;
			}
			if (!slot_busy(s) && !free_slot)
				free_slot = s;
		}
		if (!slot && free_slot) {
			slot = free_slot;
			snprintf(slot->key, sizeof(slot->key), "%s", key);
			slot->table = t;
		}
		if (slot)
			break;
		/* More than KEYLOCK_SLOTS keys busy at once: wait for one to finish. */
		pthread_cond_wait(&t->cond, &t->mutex);
	}
	slot->refs++;
	pthread_mutex_unlock(&t->mutex);

	pthread_mutex_lock(&slot->mutex);
	return slot;
}

/* Caller holds the table mutex. */
static void slot_release_if_unused(struct keylock *l)
{
	struct keylock_table *t = l->table;

	if (slot_busy(l))
		return;
	if (t->on_free)
		t->on_free(keylock_index(l));
	pthread_cond_broadcast(&t->cond);
}

void keylock_unlock(struct keylock *l)
{
	struct keylock_table *t;

	if (!l)
		return;
	t = l->table;
	pthread_mutex_unlock(&l->mutex);
	pthread_mutex_lock(&t->mutex);
	l->refs--;
	slot_release_if_unused(l);
	pthread_mutex_unlock(&t->mutex);
}

void keylock_keep(struct keylock *l, int keep)
{
	struct keylock_table *t = l->table;

	pthread_mutex_lock(&t->mutex);
	l->kept = !!keep;
	pthread_mutex_unlock(&t->mutex);
}

size_t keylock_index(const struct keylock *l)
{
	return (size_t)(l - l->table->slots);
}
