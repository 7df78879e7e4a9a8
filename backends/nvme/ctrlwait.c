/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Waiting for a deleted controller to leave sysfs, on the kernel's own uevents.
 *
 * The kernel removes /sys/class/nvme/nvmeN (device_remove_class_symlinks) before it sends
 * the controller's "remove" uevent (device_del), so a re-check of sysfs after each event
 * sees it gone. Kernel events rather than udevd's: what is awaited is the kernel's
 * removal, udevd's copy of the event comes later still (after its rules ran), and a host
 * without udevd has the kernel's too. The watch is armed before delete_controller is
 * written, so the event cannot come before we listen. Only "nvme" subsystem events are
 * let through (the socket filter runs in the kernel: other devices' events never wake
 * us). The wait still re-checks at least once a second: uevents can be dropped under
 * memory pressure (ENOBUFS on the netlink socket), sysfs cannot.
 */
#include <errno.h>
#include <libudev.h>
#include <poll.h>
#include <stdlib.h>

#include "internal.h"
#include "lib/macro.h"

#define RECHECK_MS 1000

struct ctrl_watch {
	struct udev *udev;
	struct udev_monitor *mon;
};

static void watch_free(struct ctrl_watch *w)
{
	if (!w)
		return;
	if (w->mon)
		udev_monitor_unref(w->mon);
	if (w->udev)
		udev_unref(w->udev);
	free(w);
}

int be_nvme_ctrl_watch_open(void *ud _unused_, const struct sys *s _unused_, void **ret)
{
	struct ctrl_watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->udev = udev_new();
	if (!w->udev) {
		watch_free(w);
		return -ENOMEM;
	}
	w->mon = udev_monitor_new_from_netlink(w->udev, "kernel");
	if (!w->mon) {
		watch_free(w);
		return -EPROTONOSUPPORT;
	}
	r = udev_monitor_filter_add_match_subsystem_devtype(w->mon, "nvme", NULL);
	if (r >= 0)
		r = udev_monitor_enable_receiving(w->mon);
	if (r < 0) {
		watch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int be_nvme_ctrl_watch_next(void *ud _unused_, void *watch, int64_t deadline_ms)
{
	struct ctrl_watch *w = watch;
	struct pollfd p = {.fd = udev_monitor_get_fd(w->mon), .events = POLLIN};
	int64_t left = deadline_ms - be_nvme_now_ms();
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(left > RECHECK_MS ? RECHECK_MS : left));
	if (r < 0)
		return errno == EINTR ? 0 : negative_errno();
	if (r == 0)
		return be_nvme_now_ms() >= deadline_ms ? -ETIMEDOUT : 0;
	/* Drain what is queued: the caller re-checks sysfs, whichever controller it was. */
	for (;;) {
		struct udev_device *d = udev_monitor_receive_device(w->mon);

		if (!d)
			break;
		udev_device_unref(d);
	}
	return 0;
}

void be_nvme_ctrl_watch_close(void *ud _unused_, void *watch)
{
	watch_free(watch);
}
