/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dm/ private helpers: pure functions shared by table.c and dmap.c and tested by
 * tests/unit/test_dmap.c, plus the libdm lock and clock (udevsync.c).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "dm/dmap.h"
#include "lib/err.h"

/* Kernel limits (linux/dm-ioctl.h DM_NAME_LEN 128, DM_UUID_LEN 129, both with the NUL). */
#define DMAP_NAME_MAX 127
#define DMAP_UUID_MAX 128
/* Where the named nodes go (libdm's dm_dir()). */
#define DMAP_MAPPER_DIR "/dev/mapper"
/*
 * attachd's dm devices take their minor from a range of their own (a persistent minor in
 * the create ioctl), round robin, never the lowest free one the kernel hands out
 * dynamically to everybody else (dmsetup, LVM, multipathd). attachd does not wait for udev,
 * so udev may still be working through an old device's events when the next create comes;
 * udevd runs the events of one devpath (/devices/virtual/block/dm-N) strictly in order, and
 * a foreign create that reused attachd's dm-N would queue its udev cookie behind all of
 * them (VM 18 saw a foreign `dmsetup create` time out after 30 s that way). The kernel's
 * limit is 2^20 minors (MINORBITS).
 */
#define DMAP_MINOR_BASE 0x80000u
#define DMAP_MINOR_SPAN 0x40000u

/* The minor of attachd's seq-th create: DMAP_MINOR_BASE + seq % DMAP_MINOR_SPAN. */
unsigned dmap_minor_pick(unsigned seq);
/* Is minor in attachd's range? 1 or 0. */
int dmap_minor_is_ours(unsigned minor);

/* More paths than this in one multipath map is a planning mistake, not a topology. */
#define DMAP_MULTIPATH_MAX_PATHS 32

/* Key rules: 1..n chars of [A-Za-z0-9._-], not "." or "..". 1 if valid. */
int dmap_key_is_valid(const char *key);

/* "maj:min" with decimal numbers, major > 0. 1 if valid; fills the numbers when non-NULL. */
int dmap_devno_parse(const char *s, unsigned *ret_major, unsigned *ret_minor);

/* Check a target list: n >= 1, contiguous from sector 0, no zero lengths, NUL-terminated
 * type (non-empty) and params. 0, or -EINVAL with a reason in e. */
int dmap_targets_check(const struct dmap_target *t, size_t n, struct errbuf *e);

/* Sum of the target lengths in bytes; -EOVERFLOW when it does not fit. */
int dmap_targets_size(const struct dmap_target *t, size_t n, uint64_t *ret_bytes);

/*
 * Is the live table `have` the one we would have loaded (`want`)? The kernel echoes
 * tables in its own canonical form, so this compares start/len/type exactly and the
 * params with collapsed whitespace, except for multipath where only the path devices
 * (maj:min, in order) are compared: the kernel adds features and the name of a hardware
 * handler it attached by itself ("1 retain_attached_hw_handler", "1 alua").
 */
int dmap_targets_equivalent(const struct dmap_target *want, size_t nw,
			    const struct dmap_target *have, size_t nh);

/* One line as dmsetup prints it: "0 2048 linear 8:16 0". -ENOBUFS if it does not fit. */
int dmap_target_format(const struct dmap_target *t, char *buf, size_t n);

/* 0 if uuid is attachd's (dmap_uuid_is_owned), else -EPERM with a detail naming the device,
 * the uuid found and what the operator can do. action: "removing", "replacing the table of". */
int dmap_check_owned(const char *name, const char *uuid, const char *action, struct errbuf *e);

/* From a multipath map's table params (as the kernel echoes them): 1 when its features
 * include queue_if_no_path (the setting, which fail_if_no_path clears), 0 when not,
 * -EINVAL when malformed. */
int dmap_mpath_table_queueing(const char *params);

/* Does this /proc/misc text list the device-mapper control device? */
int dmap_misc_has_dm(const char *proc_misc);

/* --- node.c: /dev/mapper/<name> --- */

/* Make /dev/mapper/<name> for the device major:minor: the link to ../dm-<minor> udev would
 * make (a block node without devtmpfs); a stale entry of that name is replaced. 0 or a
 * negative errno. */
int dmap_node_make(const char *name, unsigned major, unsigned minor);
/* Remove /dev/mapper/<name> if it is ours for major:minor or a dangling link. */
void dmap_node_drop(const char *name, unsigned major, unsigned minor);

/* --- udevsync.c: the clock and the lock --- */

/* Monotonic clock in microseconds. */
int64_t dmap_now_us(void);

/* The libdevmapper lock: libdm's process-wide state (one-time init, the stack of pending
 * /dev/mapper node operations that tasks without DM_UDEV_DISABLE_LIBRARY_FALLBACK push and
 * dm_task_update_nodes pops). Never held across a device ioctl that may wait for I/O. */
void dmap_lock(void);
void dmap_unlock(void);
