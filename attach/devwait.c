/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Event-driven waiting for block devices. The monitor is armed *before* the action
 * (login + scan, losetup, dm create), so an event that comes before we look is not lost;
 * after each event the caller re-checks sysfs. No fixed sleeps, no `udevadm settle`
 * (it waits for the whole queue). Without udevd we listen to kernel uevents instead.
 */
#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "attach/internal.h"
#include "lib/uevwatch.h"

struct attach_devwait {
	struct uevwatch *watch;
	int udev_active;
};

struct attach_devwait *attach_devwait_free(struct attach_devwait *w)
{
	if (!w)
		return NULL;
	uevwatch_free(w->watch);
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
	struct udev *udev = env->udev ? udev_ref(env->udev) : udev_new();
	int r;

	if (!w || !udev) {
		free(w);
		udev_unref(udev);
		return -ENOMEM;
	}
	w->udev_active = udev_is_active(udev);
	/* "udev" events come after rules ran (links exist); "kernel" ones when udevd is
	 * absent. Whole disks only: a partition's event never changes what a waiter looks
	 * for, and with concurrent attaches every watch would otherwise wake for every event. */
	r = uevwatch_open(udev, w->udev_active ? "udev" : "kernel", "block", "disk",
			  16 * 1024 * 1024, &w->watch);
	udev_unref(udev);
	if (r < 0) {
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int attach_devwait_next(struct attach_devwait *w, int64_t deadline_ms)
{
	return uevwatch_next(w->watch, deadline_ms);
}

int attach_devwait_is_initialized(struct attach_devwait *w, const struct backend_device *dev)
{
	struct udev_device *d;
	int init;

	if (!w->udev_active)
		return 1;
	d = udev_device_new_from_devnum(uevwatch_udev(w->watch), 'b',
					makedev(dev->major, dev->minor));
	if (!d)
		return 0;
	init = udev_device_get_is_initialized(d);
	udev_device_unref(d);
	return init > 0;
}

int attach_devwait_device(struct attach_env *env, struct attach_devwait *w,
			  const struct backend_ops *be, const struct backend_ctx *ctx,
			  struct backend_attachment *att, struct backend_device *ret,
			  struct errbuf *e)
{
	int64_t deadline = attach_now_ms() + env->device_timeout_ms;

	for (;;) {
		struct backend_device dev;
		int r = be->find_device(ctx, att, &dev, e), seen = r == 0;

		if (seen && (!w || attach_devwait_is_initialized(w, &dev))) {
			*ret = dev;
			return 0;
		}
		if (r < 0 && r != -EAGAIN)
			return r;
		r = w ? attach_devwait_next(w, deadline) : -ETIMEDOUT;
		if (r == -ETIMEDOUT && seen)
			/* There, but udevd has not run its rules for it: it is busy or stuck. */
			return errbuf_set(e, r,
					  "the kernel presented the %s device %s but udev had not "
					  "finished with it within %d s (udevd busy or stuck: see "
					  "`udevadm monitor` and systemd-udevd's journal)",
					  be->name, dev.devnode, env->device_timeout_ms / 1000);
		if (r == -ETIMEDOUT)
			return errbuf_set(e, r,
					  "the kernel did not present the %s device within %d s",
					  be->name, env->device_timeout_ms / 1000);
		if (r < 0)
			return errbuf_set(e, r, "waiting for udev events failed: %s", strerror(-r));
	}
}
