/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libdevmapper lock and the monotonic clock of dm/ (see dmap.c for what the lock
 * covers). attachd no longer waits on udev cookies: see the top of dmap.c.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "dm/internal.h"

static pthread_mutex_t dm_mutex = PTHREAD_MUTEX_INITIALIZER;

void dmap_lock(void)
{
	pthread_mutex_lock(&dm_mutex);
}

void dmap_unlock(void)
{
	pthread_mutex_unlock(&dm_mutex);
}

int64_t dmap_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
