/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event-driven waiting for block devices. The monitor is armed *before* the action
 * (login + scan, losetup, dm create), so an event that comes before we look is not lost;
 * after each event the caller re-checks sysfs. No fixed sleeps, no `udevadm settle`
 * (it waits for the whole queue). Without udevd we listen to kernel uevents instead.
 */
#include <errno.h>
#include <libudev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "attach/internal.h"

struct attach_devwait {
	struct udev *udev;
	struct udev_monitor *mon;
	int udev_active;
};

struct attach_devwait *attach_devwait_free(struct attach_devwait *w)
{
	if (!w)
		return NULL;
	if (w->mon)
		udev_monitor_unref(w->mon);
	if (w->udev)
		udev_unref(w->udev);
	free(w);
	return NULL;
}

static int udev_is_active(struct udev *udev)
{
	struct udev_queue *q = udev_queue_new(udev);
	int active;

	if (!q)
		return 0;
	active = udev_queue_get_udev_is_active(q);
	udev_queue_unref(q);
	return active;
}

int attach_devwait_open(struct attach_env *env, struct attach_devwait **ret)
{
	struct attach_devwait *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->udev = env->udev ? udev_ref(env->udev) : udev_new();
	if (!w->udev) {
		attach_devwait_free(w);
		return -ENOMEM;
	}
	w->udev_active = udev_is_active(w->udev);
	/* "udev" events come after rules ran (links exist); "kernel" ones when udevd is absent. */
	w->mon = udev_monitor_new_from_netlink(w->udev, w->udev_active ? "udev" : "kernel");
	if (!w->mon) {
		attach_devwait_free(w);
		return -EPROTONOSUPPORT;
	}
	udev_monitor_set_receive_buffer_size(w->mon, 16 * 1024 * 1024);
	/* Whole disks only (udevd's events are dropped by the socket's filter in the
	 * kernel): a partition's event never changes what a waiter looks for, and with
	 * concurrent attaches every monitor would otherwise wake for every event. */
	r = udev_monitor_filter_add_match_subsystem_devtype(w->mon, "block", "disk");
	if (r >= 0)
		r = udev_monitor_enable_receiving(w->mon);
	if (r < 0) {
		attach_devwait_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int attach_devwait_next(struct attach_devwait *w, int64_t deadline_ms)
{
	struct pollfd p = { .fd = udev_monitor_get_fd(w->mon), .events = POLLIN };
	int64_t left = deadline_ms - attach_now_ms();
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		/* Re-check at least once a second: uevents can be dropped under memory
		 * pressure (ENOBUFS on the netlink socket), sysfs cannot. */
		return attach_now_ms() >= deadline_ms ? -ETIMEDOUT : 0;
	for (;;) {
		struct udev_device *d = udev_monitor_receive_device(w->mon);

		if (!d)
			break;
		udev_device_unref(d);
	}
	return 0;
}

int attach_devwait_is_initialized(struct attach_devwait *w, const struct backend_device *dev)
{
	struct udev_device *d;
	int init;

	if (!w->udev_active)
		return 1;
	d = udev_device_new_from_devnum(w->udev, 'b', makedev(dev->major, dev->minor));
	if (!d)
		return 0;
	init = udev_device_get_is_initialized(d);
	udev_device_unref(d);
	return init > 0;
}
