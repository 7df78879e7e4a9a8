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
 * memory pressure (ENOBUFS on the netlink socket), sysfs cannot (lib/uevwatch.c).
 */
#include "internal.h"
#include "lib/macro.h"
#include "lib/uevwatch.h"

int be_nvme_ctrl_watch_open(void *ud _unused_, const struct sys *s _unused_, void **ret)
{
	struct uevwatch *w;
	int r = uevwatch_open(NULL, "kernel", "nvme", NULL, 0, &w);

	if (r == 0)
		*ret = w;
	return r;
}

int be_nvme_ctrl_watch_next(void *ud _unused_, void *watch, int64_t deadline_ms)
{
	return uevwatch_next(watch, deadline_ms);
}

void be_nvme_ctrl_watch_close(void *ud _unused_, void *watch)
{
	uevwatch_free(watch);
}
