/* SPDX-License-Identifier: Apache-2.0 */
/* lib/keylock: one key serialises its holders, different keys do not; slots are bound to a
 * key while used (or kept) and freed after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "lib/keylock.h"

static size_t freed[KEYLOCK_SLOTS * 4];
static unsigned n_freed;

static void on_free(size_t index)
{
	if (n_freed < sizeof(freed) / sizeof(freed[0]))
		freed[n_freed++] = index;
}

static struct keylock_table table = KEYLOCK_TABLE_INIT(on_free);

static unsigned refs_of(struct keylock *l)
{
	unsigned r;

	pthread_mutex_lock(&table.mutex);
	r = l->refs;
	pthread_mutex_unlock(&table.mutex);
	return r;
}

struct worker {
	const char *key;
	int entered; /* set once the worker holds its key */
	struct keylock *slot;
};

static void *lock_once(void *arg)
{
	struct worker *w = arg;
	struct keylock *l = keylock_lock(&table, w->key);

	__atomic_store_n(&w->entered, 1, __ATOMIC_SEQ_CST);
	w->slot = l;
	keylock_unlock(l);
	return NULL;
}

static void test_same_key_serialises(void **state)
{
	struct worker w = {.key = "10.0.0.1:3260 iqn.2003-01.org.example:a"};
	struct keylock *l = keylock_lock(&table, w.key);
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, lock_once, &w), 0);
	/* Wait until the worker has asked for the key (it counts as a user of the slot). */
	while (refs_of(l) < 2)
		sched_yield();
	assert_false(__atomic_load_n(&w.entered, __ATOMIC_SEQ_CST));
	keylock_unlock(l);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(w.entered);
	assert_ptr_equal(w.slot, l);
}

static void test_different_keys_do_not(void **state)
{
	struct worker w = {.key = "key b"};
	struct keylock *a = keylock_lock(&table, "key a");
	pthread_t t;

	/* Holding "key a", a worker on "key b" runs to its end (a deadlock here otherwise). */
	assert_int_equal(pthread_create(&t, NULL, lock_once, &w), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(w.entered);
	assert_ptr_not_equal(w.slot, a);
	keylock_unlock(a);
}

#define THREADS 4
#define ROUNDS 20000

static unsigned long counter;

static void *count(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		struct keylock *l = keylock_lock(&table, "shared");
		unsigned long v = counter;

		sched_yield();
		counter = v + 1;
		keylock_unlock(l);
	}
	return NULL;
}

static void test_no_lost_updates(void **state)
{
	pthread_t t[THREADS];

	counter = 0;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, count, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(counter, (unsigned long)THREADS * ROUNDS);
}

static void test_slots_freed_and_kept(void **state)
{
	struct keylock *a, *b, *again;
	size_t ia;

	n_freed = 0;
	a = keylock_lock(&table, "kept key");
	ia = keylock_index(a);
	assert_true(ia < KEYLOCK_SLOTS);
	assert_ptr_equal(&table.slots[ia], a);
	assert_string_equal(a->key, "kept key");

	/* Kept: the last unlock does not free the slot, and the key finds it again. */
	keylock_keep(a, 1);
	keylock_unlock(a);
	assert_int_equal(n_freed, 0);
	b = keylock_lock(&table, "other key");
	assert_ptr_not_equal(b, a);
	keylock_unlock(b);
	assert_int_equal(n_freed, 1);
	assert_int_equal(freed[0], keylock_index(b));
	again = keylock_lock(&table, "kept key");
	assert_ptr_equal(again, a);

	/* Not kept any more: freed at the last unlock, and then free for any key. */
	keylock_keep(again, 0);
	keylock_unlock(again);
	assert_int_equal(n_freed, 2);
	assert_int_equal(freed[1], ia);
	b = keylock_lock(&table, "third key");
	assert_int_equal(keylock_index(b), ia); /* the lowest free slot is taken */
	keylock_unlock(b);
	keylock_unlock(NULL);
}

static void test_many_keys_at_once(void **state)
{
	struct keylock *held[KEYLOCK_SLOTS];
	char key[32];

	/* Every slot can hold a distinct key at the same time. */
	for (int i = 0; i < KEYLOCK_SLOTS; i++) {
		snprintf(key, sizeof(key), "target %d", i);
		held[i] = keylock_lock(&table, key);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(held[i], held[j]);
	}
	for (int i = 0; i < KEYLOCK_SLOTS; i++)
		keylock_unlock(held[i]);
	for (int i = 0; i < KEYLOCK_SLOTS; i++)
		assert_int_equal(refs_of(&table.slots[i]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_key_serialises),
	    cmocka_unit_test(test_different_keys_do_not),
	    cmocka_unit_test(test_no_lost_updates),
	    cmocka_unit_test(test_slots_freed_and_kept),
	    cmocka_unit_test(test_many_keys_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
