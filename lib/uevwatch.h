/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A uevent watch: a netlink monitor for one subsystem (and devtype), armed *before* an
 * action so that its event cannot come before we listen, and a wait for the next events
 * with a deadline. After each wake the caller re-checks sysfs (the truth), whichever device
 * the events were about: the queue is drained, not inspected. The subsystem/devtype filter
 * runs in the kernel (a socket filter), so other devices' events never wake a waiter.
 * uevents can be dropped under memory pressure (ENOBUFS on the netlink socket) and sysfs
 * cannot, so the wait also returns at least once per UEVWATCH_RECHECK_MS.
 */
#pragma once

#include <stdint.h>

struct udev;

#define UEVWATCH_RECHECK_MS 1000

struct uevwatch;

/* Listen to source's events ("udev": after udevd's rules ran; "kernel": the kernel's own)
 * for subsystem (and devtype, NULL: any). udev may be NULL (a context of its own is made),
 * else it is referenced. rcvbuf > 0 sets the socket's receive buffer. 0 and *ret, or
 * -ENOMEM / -EPROTONOSUPPORT (no netlink monitor) / the filter's error. */
int uevwatch_open(struct udev *udev, const char *source, const char *subsystem, const char *devtype,
		  int rcvbuf, struct uevwatch **ret);
/* Wait for events until deadline_ms (CLOCK_MONOTONIC, in ms) or at most
 * UEVWATCH_RECHECK_MS, then drain them: 0 (re-check sysfs now), -ETIMEDOUT once the
 * deadline has passed, or a poll error. */
int uevwatch_next(struct uevwatch *w, int64_t deadline_ms);
/* The watch's udev context (for device lookups). */
struct udev *uevwatch_udev(struct uevwatch *w);
/* NULL-safe; returns NULL. */
struct uevwatch *uevwatch_free(struct uevwatch *w);
