/* SPDX-License-Identifier: Apache-2.0 */
/*
 * device-mapper for attachd: devices it owns are named "attachd-<key>" with DM UUID
 * "ATTACHD-<key>" (multipathd ignores non-"mpath-" UUIDs). Wraps libdevmapper; attachd
 * makes /dev/mapper/<name> itself and never waits for udev (its flags keep udev's dm
 * rules off these private devices).
 * Functions return 0 or a negative errno and may block up to their deadline.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define DMAP_NAME_PREFIX "attachd-"
#define DMAP_UUID_PREFIX "ATTACHD-"

struct dmap_target {
	uint64_t start, len; /* 512-byte sectors */
	char type[32];	     /* "linear", "error", "multipath" */
	char params[1024];
};

/* --- pure helpers (unit tested) --- */
/* "0 <sectors> linear <maj:min> 0" as one target. size must be a multiple of 512. */
int dmap_table_linear(uint64_t size_bytes, unsigned major, unsigned minor, struct dmap_target *ret);
/* A dm-multipath map over paths ("maj:min" each, distinct; 1..32, -E2BIG above):
 * path selector service-time, features queue_if_no_path (when queue_if_no_path) and
 * retain_attached_hw_handler, hardware handler hw_handler ("" or NULL: none; "alua"),
 * paths grouped by group[i] (priority groups in ascending group number, the lowest first:
 * ALUA active/optimized = 0, active/non-optimized = 1, ...; group NULL: one group). */
struct dmap_mpath_spec {
	const char *const *paths;
	const unsigned *group; /* NULL: one priority group */
	size_t n;
	int queue_if_no_path;
	const char *hw_handler;
};
int dmap_table_mpath(uint64_t size_bytes, const struct dmap_mpath_spec *spec,
		     struct dmap_target *ret);
/* Old form: one group, no queueing (kept for callers not yet moved to dmap_table_mpath). */
int dmap_table_multipath(uint64_t size_bytes, const char *const *paths, size_t n,
			 struct dmap_target *ret);

/* Status of a multipath map as the kernel reports it (DM_DEVICE_STATUS params). */
struct dmap_mpath_path_status {
	char devno[16];	     /* "8:16" */
	int active;	     /* 'A' (1) or 'F' (0) */
	unsigned fail_count; /* times the kernel failed it */
	unsigned group;	     /* priority group, 0-based */
};
struct dmap_mpath_status {
	/* dmap_get_mpath_status: the queue_if_no_path setting (from the table);
	 * dmap_mpath_status_parse: the status' first feature, I/O being queued right now */
	int queue_if_no_path;
	unsigned n;
	struct dmap_mpath_path_status paths[32];
};
/* Pure: parse the multipath status params ("2 0 0 0 1 1 A 0 2 2 8:16 A 0 0 1 ..."); -EINVAL
 * when malformed. */
int dmap_mpath_status_parse(const char *params, struct dmap_mpath_status *ret);

/* Device name/uuid for a volume key; refuses keys with characters dm or udev mangle
 * (-EINVAL: allowed are [A-Za-z0-9._-], not "." or ".."). -ENAMETOOLONG past the kernel's
 * limits: names 127 chars (keys up to 119), uuids 128 (keys up to 120). -ENOBUFS if n is
 * too small. */
int dmap_name_for(const char *key, char *ret_name, size_t n);
int dmap_uuid_for(const char *key, char *ret_uuid, size_t n);
/* Parse one line of DM_DEVICE_TABLE output ("0 2048 linear 8:16 0"). -EINVAL when
 * malformed (or len 0), -E2BIG when type or params do not fit. */
int dmap_parse_table_line(const char *line, struct dmap_target *ret);
/* Does this DM UUID mark a device attachd created ("ATTACHD-" and at least one more char)? */
int dmap_uuid_is_owned(const char *uuid);

/* --- kernel (libdevmapper) --- */
struct dmap_info {
	int exists;
	unsigned major, minor;
	int open_count;
	int suspended;
	char uuid[160];
	uint64_t size_bytes;
};

/* Are libdevmapper and the dm driver usable? 0 if so; -ENODEV with "device-mapper not
 * available: load dm-mod" when the kernel has no dm (then libdm is never touched, so no
 * /dev/mapper is created on such a host). Every call below runs it first (cheap once it
 * succeeded). Thread-safe: only libdm's process-wide state is serialised inside dm/ (never
a device ioctl), so a call stuck on one device does not delay
calls on others. libdm never prints: its
 * errors are appended to e's detail. */
int dmap_init(struct errbuf *e);
/* Create name with uuid and the given targets, active, with its /dev/mapper node (made
 * again for an existing device of ours); timeout_ms (> 0) bounds the cleanup retries. On failure nothing is left behind. -EEXIST if name exists with another
 * table or uuid, or the uuid is used by another device; 0 if it exists with the same uuid
 * and table (idempotent; multipath compared by its path devices); -EBUSY if it exists but is
 * suspended. A table-less device with our uuid (a create interrupted by a crash) is replaced.
 * udevd's state (busy, slow, absent) does not matter. The device gets a minor of attachd's
 * own range (DMAP_MINOR_BASE, a new one each create), never the kernel's lowest free one, so
 * a foreign dm user never reuses a dm-N whose udev events are still queued. */
int dmap_create(const char *name, const char *uuid, const struct dmap_target *t, size_t n,
		int timeout_ms, struct errbuf *e);
/* Remove; 0 if absent. Refuses (-EPERM, detail naming the uuid found) a device whose DM UUID
 * does not carry DMAP_UUID_PREFIX: attachd never removes what it did not create. The
 * ioctl then addresses the device by that uuid, so a device renamed or replaced after
 * the check is not the one removed. Retries while something (udev's probe) holds it open, within
 * timeout_ms; then -EBUSY naming the open count. The /dev/mapper node goes with it. */
int dmap_remove(const char *name, int timeout_ms, struct errbuf *e);
/* Replace the live table with "error" (reload + resume noflush, skip lockfs; a multipath map
 * is first told fail_if_no_path): stuck I/O fails instead of hanging. 0 if the device is
 * absent or already an unsuspended error map; -EPERM (like dmap_remove) for a device
 * without attachd's uuid prefix. The resume can block as long as I/O in flight below the
 * device does not complete: only the calling thread waits (no lock is held meanwhile). */
int dmap_error_swap(const char *name, int timeout_ms, struct errbuf *e);
/* 0 with ret->exists = 0 when absent. size_bytes is the live table's size. */
int dmap_get_info(const char *name, struct dmap_info *ret);
/* Live table; *ret_t malloc'ed, owned by the caller (n = 0 without a live table); -ENXIO
 * if absent. */
int dmap_get_table(const char *name, struct dmap_target **ret_t, size_t *ret_n);
/* Send a target message (sector 0) to a device of ours: "fail_path 8:16",
 * "reinstate_path 8:16", "queue_if_no_path", "fail_if_no_path". -ENXIO absent, -EPERM not
 * ours (as dmap_remove), -EINVAL the kernel refused the message (detail in e). Never waits
 * for I/O. */
int dmap_message(const char *name, const char *msg, struct errbuf *e);
/* Load a new table into a live device of ours and resume it with noflush (e.g. the
 * multipath map with a path added or removed; the size must not change). -ENXIO absent,
 * -EPERM not ours. Does not wait for udev. */
int dmap_reload(const char *name, const struct dmap_target *t, size_t n, int timeout_ms,
		struct errbuf *e);
/* dmap_reload for an online resize: the new table may be larger than the live one (the
 * device below grew), never smaller (-EINVAL). I/O continues across the swap (noflush). */
int dmap_grow(const char *name, const struct dmap_target *t, size_t n, int timeout_ms,
	      struct errbuf *e);
/* Status of a multipath map of ours: -ENXIO absent, -EMEDIUMTYPE not a multipath map. */
int dmap_get_mpath_status(const char *name, struct dmap_mpath_status *ret);
/* Names of every dm device whose UUID starts with DMAP_UUID_PREFIX. *ret is a
 * NULL-terminated malloc'ed array of malloc'ed strings. */
int dmap_list_owned(char ***ret);
