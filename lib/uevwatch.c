/* SPDX-License-Identifier: Apache-2.0 */
/* A uevent watch armed before an action, with a deadline (see uevwatch.h). */
#include <errno.h>
#include <libudev.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "lib/uevwatch.h"

struct uevwatch {
	struct udev *udev;
	struct udev_monitor *mon;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct uevwatch *uevwatch_free(struct uevwatch *w)
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

int uevwatch_open(struct udev *udev, const char *source, const char *subsystem, const char *devtype,
		  int rcvbuf, struct uevwatch **ret)
{
	struct uevwatch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->udev = udev ? udev_ref(udev) : udev_new();
	if (!w->udev) {
		uevwatch_free(w);
		return -ENOMEM;
	}
	w->mon = udev_monitor_new_from_netlink(w->udev, source);
	if (!w->mon) {
		uevwatch_free(w);
		return -EPROTONOSUPPORT;
	}
	if (rcvbuf > 0)
		udev_monitor_set_receive_buffer_size(w->mon, rcvbuf);
	r = udev_monitor_filter_add_match_subsystem_devtype(w->mon, subsystem, devtype);
	if (r >= 0)
		r = udev_monitor_enable_receiving(w->mon);
	if (r < 0) {
		uevwatch_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int uevwatch_next(struct uevwatch *w, int64_t deadline_ms)
{
	struct pollfd p = {.fd = udev_monitor_get_fd(w->mon), .events = POLLIN};
	int64_t left = deadline_ms - now_ms();
	int r;

	if (left <= 0)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(left > UEVWATCH_RECHECK_MS ? UEVWATCH_RECHECK_MS : left));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return now_ms() >= deadline_ms ? -ETIMEDOUT : 0;
	for (;;) {
		struct udev_device *d = udev_monitor_receive_device(w->mon);

		if (!d)
			break;
		udev_device_unref(d);
	}
	return 0;
}

struct udev *uevwatch_udev(struct uevwatch *w)
{
	return w->udev;
}
