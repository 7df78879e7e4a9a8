/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded wait for a libdevmapper udev cookie.
 *
 * The cookie is a SysV semaphore: libdm sets it to 1 when created and adds 1 per task that
 * carries it; udev's 95-dm-notify.rules runs `dmsetup udevcomplete` which subtracts 1.
 * dm_udev_wait() then blocks in semop() until it reaches 0, with no timeout (a udev worker
 * killed on its own timeout leaves it stuck forever, moby #27900). We instead ask
 * dm_udev_wait_immediate(), which only completes (and destroys the semaphore) once udev
 * is done, and otherwise sleep on a udev monitor: systemd-udevd broadcasts a device's event
 * to libudev listeners after its RUN programs (udevcomplete included) have finished, so the
 * "change"/"remove" uevent of the dm device is exactly when re-checking pays off.
 */
#include <errno.h>
#include <libdevmapper.h>
#include <libudev.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>

#include "dm/internal.h"

/* Re-check the cookie at least this often even without an event (lost or filtered
 * uevents, a monitor we could not open, a udevd in another network namespace). */
#define RECHECK_MS 250

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

void dmap_sync_begin(struct dmap_sync *s)
{
	s->udev = udev_new();
	s->mon = NULL;
	if (!s->udev)
		return;
	/* "udev", not "kernel": only events whose rules have already run. */
	s->mon = udev_monitor_new_from_netlink(s->udev, "udev");
	if (!s->mon)
		return;
	if (udev_monitor_filter_add_match_subsystem_devtype(s->mon, "block", "disk") < 0 ||
	    udev_monitor_enable_receiving(s->mon) < 0) {
		udev_monitor_unref(s->mon);
		s->mon = NULL;
	}
}

void dmap_sync_end(struct dmap_sync *s)
{
	if (s->mon)
		udev_monitor_unref(s->mon);
	if (s->udev)
		udev_unref(s->udev);
	s->mon = NULL;
	s->udev = NULL;
}

/* Drain whatever arrived; we only use events as a wake-up, the cookie is the truth. */
static void drain(struct udev_monitor *mon)
{
	struct udev_device *d;

	while ((d = udev_monitor_receive_device(mon)))
		udev_device_unref(d);
}

static void sleep_for(struct dmap_sync *s, int ms, int *backoff_ms)
{
	if (s->mon) {
		struct pollfd p = {.fd = udev_monitor_get_fd(s->mon), .events = POLLIN};

		if (poll(&p, 1, ms < RECHECK_MS ? ms : RECHECK_MS) > 0)
			drain(s->mon);
		return;
	}
	/* No monitor: nothing better to wait on than the clock. Start short (udev usually
	 * takes a few ms) and back off so a slow udev does not cost a busy loop. */
	if (ms > *backoff_ms)
		ms = *backoff_ms;
	poll(NULL, 0, ms);
	if (*backoff_ms < RECHECK_MS / 2)
		*backoff_ms *= 2;
}

int dmap_sync_wait(struct dmap_sync *s, uint32_t cookie, int64_t deadline_us, const char *what,
		   struct errbuf *e)
{
	int backoff_ms = 5;

	if (!cookie)
		return 0;
	for (;;) {
		int64_t left_us;
		int ready = 0, ok;

		dmap_lock();
		ok = dm_udev_wait_immediate(cookie, &ready);
		dmap_unlock();
		/* !ok: the semaphore is gone or broken (someone ran `dmsetup udevcomplete_all`);
		 * libdm destroyed what it could, nothing is left for us to wait on. */
		if (!ok || ready)
			return 0;
		left_us = deadline_us - dmap_now_us();
		if (left_us <= 0)
			break;
		sleep_for(s, (int)((left_us + 999) / 1000), &backoff_ms);
	}

	/*
	 * Deadline. Do what udev's rule would have done (complete), then let libdm take the
	 * semaphore to zero and destroy it. If udev completes at the same moment the count
	 * reaches 0 early, the immediate wait fails its decrement and destroys the semaphore
	 * anyway: either way nothing leaks. A rule that runs later fails harmlessly on the
	 * missing semaphore.
	 */
	dmap_lock();
	{
		int ready = 0;

		(void)dm_udev_complete(cookie);
		(void)dm_udev_wait_immediate(cookie, &ready);
	}
	dmap_unlock();
	return errbuf_set(e, -ETIMEDOUT,
			  "udev did not finish processing %s in time (cookie 0x%x released); is "
			  "systemd-udevd running and keeping up?",
			  what, cookie);
}
