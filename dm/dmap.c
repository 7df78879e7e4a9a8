/* SPDX-License-Identifier: Apache-2.0 */
/*
 * device-mapper over libdevmapper, without waiting for udev.
 *
 * Nodes and udev. attachd's maps are private (opened by /dev/mapper name only), so it
 * makes /dev/mapper/<name> itself (the link to ../dm-N that udev would make; the kernel's
 * devtmpfs makes /dev/dm-N) and never waits for udev: libdm's udev sync is off, and every
 * create, remove and resume still carries the udev flags (in the ioctl's event number,
 * which the kernel passes on as DM_COOKIE without any semaphore) that tell 55-dm.rules
 * not to make the /dev/mapper link (it would fight our node), 60-persistent-storage-dm
 * not to run blkid or add by-id links and a watch, and the other rules to stay away. A
 * busy udevd, or none at all, then costs a dm create nothing.
 *
 * Minors. Not waiting means udev may still be working through the events of a device
 * attachd removed when the next device is made, and udevd runs the events of one devpath
 * (dm-N) strictly in order. A device that reused that minor would have its own events,
 * and a foreign dmsetup's udev cookie, queued behind ours. So attachd's devices take a
 * persistent minor from a range of their own, round robin (DMAP_MINOR_BASE, internal.h),
 * and the kernel's lowest-free dynamic minors stay with everybody else: a foreign
 * dmsetup, LVM or multipathd never shares a dm-N, and so never a udev queue slot, with
 * attachd.
 *
 * Locking. libdm's process-wide state is: the control fd, driver version and udev-sync
 * switches (set once by dmap_init, read-only after), the log function (set once), and the
 * list of pending /dev/mapper node operations (libdm-common.c _node_ops), which
 * dm_task_run pushes onto for CREATE/REMOVE/RESUME unless the task relies on udev
 * (DM_UDEV_DISABLE_LIBRARY_FALLBACK with DM_ADD_NODE_ON_CREATE: ours all do, our own
 * node handling replaces libdm's), and which dm_task_update_nodes() pops. Everything else
 * in a task belongs to that task. So dmap_lock() covers init and the cleanup paths that
 * let libdm fix a node (remove_nocookie) only; device ioctls run without it, and INFO/
 * TABLE/LIST never push: a resume stuck on one device's dead path (its implicit suspend
 * waits for in-flight I/O) blocks only its caller, never another volume's create or
 * remove.
 *
 * Ownership. remove and error-swap read the DM UUID in the same INFO call that finds the
 * device, refuse one without attachd's prefix, and then address the ioctls by that uuid.
 *
 * libdm's messages never reach stderr: they are captured per thread and appended to the
 * errbuf detail of the failing call.
 */
#include <errno.h>
#include <inttypes.h>
#include <libdevmapper.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm/internal.h"
#include "lib/fileio.h"

/* libdm's log levels (libdm/misc/dm-logging.h); higher bits are flags. */
#define DMLOG_LEVEL_MASK 0x7
#define DMLOG_ERR 3

/* A busy device is retried this often: nothing signals "udev closed it". */
#define REMOVE_RETRY_MS 50
/* Minors tried per create before giving up (a foreign device holding a minor of our range
 * is skipped; the next one is free unless somebody fills our range on purpose). */
#define MINOR_TRIES 16

static atomic_uint minor_seq; /* the next create's slot in our minor range */

static _Thread_local char dmlog_buf[512];
static pthread_once_t dmlog_once = PTHREAD_ONCE_INIT;
static int dm_ready; /* under dmap_lock() */

static void dmlog_capture(int level, const char *file, int line, int dm_errno_or_class,
			  const char *f, ...) __attribute__((format(printf, 5, 6)));
static void dmlog_capture(int level, const char *file _unused_, int line _unused_,
			  int dm_errno_or_class _unused_, const char *f, ...)
{
	size_t used = strlen(dmlog_buf);
	va_list ap;

	if ((level & DMLOG_LEVEL_MASK) > DMLOG_ERR)
		return;
	/* Keep every error of the current call: libdm often follows the specific one
	 * ("reload ioctl on x failed: Invalid argument") with a generic one. */
	if (used > 0 && used + 3 < sizeof(dmlog_buf)) {
		memcpy(dmlog_buf + used, "; ", 3);
		used += 2;
	}
	if (used + 1 >= sizeof(dmlog_buf))
		return;
	va_start(ap, f);
	vsnprintf(dmlog_buf + used, sizeof(dmlog_buf) - used, f, ap);
	va_end(ap);
}

static void dmlog_setup(void)
{
	dm_log_with_errno_init(dmlog_capture);
}

static void dmlog_reset(void)
{
	dmlog_buf[0] = 0;
}

/* " (libdm: ...)" or "" for message tails. */
static const char *dmlog_tail(char *buf, size_t n)
{
	if (!dmlog_buf[0])
		return "";
	snprintf(buf, n, " (libdm: %s)", dmlog_buf);
	return buf;
}

static void taskp(struct dm_task **t)
{
	if (*t)
		dm_task_destroy(*t);
}
#define _cleanup_task_ _cleanup_(taskp)

static int task_errno(struct dm_task *t)
{
	int err = dm_task_get_errno(t);

	return err > 0 ? -err : -EIO;
}

static int dm_is_present(void)
{
	_cleanup_free_ char *misc = NULL;

	if (access("/dev/mapper/control", F_OK) == 0)
		return 1;
	if (read_full_file("/proc/misc", &misc, NULL, 1 << 16) < 0)
		return 0;
	return dmap_misc_has_dm(misc);
}

int dmap_init(struct errbuf *e)
{
	char ver[64], tail[600];
	int r = 0;

	pthread_once(&dmlog_once, dmlog_setup);
	dmap_lock();
	if (dm_ready)
		goto out;
	/*
	 * Look before libdm does: without the driver it would mkdir /dev/mapper and mknod a
	 * control node on the host. Not cached when absent: preflight may load dm-mod later.
	 */
	if (!dm_is_present()) {
		r = errbuf_set(e, -ENODEV,
			       "device-mapper not available: load dm-mod (no device-mapper in "
			       "/proc/misc and no /dev/mapper/control)");
		goto out;
	}
	dmlog_reset();
	if (!dm_driver_version(ver, sizeof(ver))) {
		r = errbuf_set(e, -ENODEV, "device-mapper not available: load dm-mod%s",
			       dmlog_tail(tail, sizeof(tail)));
		dm_lib_release();
		goto out;
	}
	/* Keep /dev/mapper/control open between calls (multipath-tools does the same). */
	dm_hold_control_dev(1);
	/* No cookies, no semaphores, no waiting for udev: see the top of this file. */
	dm_udev_set_sync_support(0);
	dm_ready = 1;
out:
	dmap_unlock();
	return r;
}

static int check_name(const char *name, struct errbuf *e)
{
	if (!name || !name[0] || strlen(name) > DMAP_NAME_MAX || strchr(name, '/'))
		return errbuf_set(e, -EINVAL, "invalid dm device name '%.160s'", name ? name : "");
	return 0;
}

static int64_t deadline_after(int timeout_ms)
{
	return dmap_now_us() + (int64_t)timeout_ms * 1000;
}

/* INFO by name; fills info (exists 0 when absent) and the uuid. No lock needed. */
static int info_get(const char *name, struct dm_info *ret, char *uuid, size_t n)
{
	_cleanup_task_ struct dm_task *t = NULL;
	const char *u;

	t = dm_task_create(DM_DEVICE_INFO);
	if (!t)
		return -ENOMEM;
	if (!dm_task_set_name(t, name))
		return -EINVAL;
	if (!dm_task_run(t))
		return task_errno(t);
	if (!dm_task_get_info(t, ret))
		return -EIO;
	if (uuid) {
		u = ret->exists ? dm_task_get_uuid(t) : NULL;
		snprintf(uuid, n, "%s", u ? u : "");
	}
	return 0;
}

/* Is there a dm device with this minor (of dm's major)? 1, 0, or a negative errno. */
static int minor_used(unsigned minor)
{
	_cleanup_task_ struct dm_task *t = NULL;
	struct dm_info info = {0};

	t = dm_task_create(DM_DEVICE_INFO);
	if (!t)
		return -ENOMEM;
	/* major 0 with the fallback: libdm puts in dm's own major from /proc/devices. */
	if (!dm_task_set_major_minor(t, 0, (int)minor, 1))
		return -EINVAL;
	if (!dm_task_run(t))
		return task_errno(t);
	if (!dm_task_get_info(t, &info))
		return -EIO;
	return info.exists ? 1 : 0;
}

/* A free minor of our range for the next create, or a negative errno. */
static int minor_next(void)
{
	for (int i = 0; i < MINOR_TRIES; i++) {
		unsigned m = dmap_minor_pick(atomic_fetch_add(&minor_seq, 1));
		int r = minor_used(m);

		if (r < 0)
			return r;
		if (r == 0)
			return (int)m;
	}
	return -ENOSPC;
}

/* The name of the device with this uuid: 0 and ret, -ENOENT if none. No lock needed. */
static int name_by_uuid(const char *uuid, char *ret, size_t n)
{
	_cleanup_task_ struct dm_task *t = NULL;
	struct dm_info info = {0};
	const char *name;

	t = dm_task_create(DM_DEVICE_INFO);
	if (!t)
		return -ENOMEM;
	if (!dm_task_set_uuid(t, uuid))
		return -EINVAL;
	if (!dm_task_run(t))
		return task_errno(t);
	if (!dm_task_get_info(t, &info))
		return -EIO;
	if (!info.exists)
		return -ENOENT;
	name = dm_task_get_name(t);
	snprintf(ret, n, "%s", name ? name : "?");
	return 0;
}

/* TABLE by name; *ret_t malloc'ed. No lock needed. */
static int table_get(const char *name, struct dmap_target **ret_t, size_t *ret_n)
{
	_cleanup_task_ struct dm_task *t = NULL;
	_cleanup_free_ struct dmap_target *v = NULL;
	size_t n = 0, cap = 0;
	void *next = NULL;

	t = dm_task_create(DM_DEVICE_TABLE);
	if (!t)
		return -ENOMEM;
	if (!dm_task_set_name(t, name))
		return -EINVAL;
	if (!dm_task_run(t))
		return task_errno(t);
	do {
		uint64_t start = 0, len = 0;
		char *type = NULL, *params = NULL;

		next = dm_get_next_target(t, next, &start, &len, &type, &params);
		if (!type)
			break; /* no live table */
		if (n == cap) {
			struct dmap_target *nv;

			cap = cap ? cap * 2 : 4;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				return -ENOMEM;
			v = nv;
		}
		memset(&v[n], 0, sizeof(v[n]));
		v[n].start = start;
		v[n].len = len;
		if (strlen(type) >= sizeof(v[n].type) ||
		    strlen(params ? params : "") >= sizeof(v[n].params))
			return -E2BIG;
		snprintf(v[n].type, sizeof(v[n].type), "%s", type);
		snprintf(v[n].params, sizeof(v[n].params), "%s", params ? params : "");
		n++;
	} while (next);
	*ret_t = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* libdm's fallback node handling for name (mknod or unlink /dev/mapper/<name> to match the
 * kernel), for tasks that ran without udev sync. Caller holds the lock. */
static void sync_node_locked(const char *name)
{
	_cleanup_task_ struct dm_task *t = NULL;

	t = dm_task_create(DM_DEVICE_MKNODES);
	if (t && dm_task_set_name(t, name))
		(void)dm_task_run(t);
	dm_task_update_nodes();
}

/*
 * REMOVE once by uuid, without a cookie: used to clean up after our own failed or
 * timed-out create, where waiting on udev again could take another whole deadline. libdm
 * then fixes the /dev/mapper node itself (under the lock: that is its global node list).
 */
static int remove_nocookie(const char *name, const char *uuid)
{
	_cleanup_task_ struct dm_task *t = NULL;
	int r = 0;

	t = dm_task_create(DM_DEVICE_REMOVE);
	if (!t)
		return -ENOMEM;
	if (!dm_task_set_uuid(t, uuid))
		return -EINVAL;
	dmap_lock();
	if (!dm_task_run(t)) {
		r = task_errno(t);
		if (r == -ENXIO)
			r = 0;
	}
	sync_node_locked(name);
	dmap_unlock();
	return r;
}

/* Best-effort removal of a device we just made, retrying briefly if udev has it open. */
static void cleanup_created(const char *name, const char *uuid)
{
	char have[160] = "";
	struct dm_info info = {0};

	for (int i = 0; i < 20; i++) {
		int r;

		r = info_get(name, &info, have, sizeof(have));
		/* Only ever remove what carries our uuid: never somebody else's device. */
		if (r == 0 && info.exists && streq(have, uuid))
			r = remove_nocookie(name, uuid);
		if (r != -EBUSY)
			return;
		poll(NULL, 0, REMOVE_RETRY_MS);
	}
}

/*
 * Run t (CREATE, REMOVE or RESUME) with the udev flags that keep udev's dm rules away
 * from our device and without a cookie. *ret_run is the ioctl's result (0 or negative
 * errno). The /dev/mapper node is the caller's (dmap_node_make/dmap_node_drop, node.c).
 */
static void run_flagged(struct dm_task *t, int *ret_run)
{
	uint32_t cookie = 0;

	dmlog_reset();
	/* With sync support off this only puts the flags into the ioctl (cookie stays 0). */
	if (!dm_task_set_cookie(t, &cookie,
				DM_UDEV_DISABLE_LIBRARY_FALLBACK | DM_UDEV_DISABLE_DM_RULES_FLAG |
				    DM_UDEV_DISABLE_DISK_RULES_FLAG |
				    DM_UDEV_DISABLE_OTHER_RULES_FLAG) ||
	    !dm_task_set_add_node(t, DM_ADD_NODE_ON_CREATE)) {
		*ret_run = -ENOMEM;
		return;
	}
	*ret_run = dm_task_run(t) ? 0 : task_errno(t);
}

static int exists_check(const char *name, const char *uuid, const struct dmap_target *t, size_t n,
			const struct dm_info *info, const char *have_uuid, struct errbuf *e)
{
	_cleanup_free_ struct dmap_target *live = NULL;
	size_t nlive = 0;
	int r;

	if (!streq(have_uuid, uuid))
		return errbuf_set(e, -EEXIST, "dm device %s already exists with uuid '%s', not %s",
				  name, have_uuid, uuid);
	r = table_get(name, &live, &nlive);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the table of existing dm device %s: %s", name,
				  strerror(-r));
	if (!dmap_targets_equivalent(t, n, live, nlive)) {
		char want[160] = "", got[160] = "";

		(void)dmap_target_format(&t[0], want, sizeof(want));
		if (nlive)
			(void)dmap_target_format(&live[0], got, sizeof(got));
		return errbuf_set(
		    e, -EEXIST, "dm device %s already exists with another table ('%s', want '%s')",
		    name, nlive ? got : "none", want);
	}
	if (info->suspended)
		return errbuf_set(e, -EBUSY, "dm device %s exists but is suspended", name);
	return 0;
}

/* One CREATE (create + load + resume in libdm, each with the flags) at the given minor of
 * our range. Returns -ENOMEM/-EINVAL when libdm refuses the task; *ret_run is the run. */
static int create_once(const char *name, const char *uuid, const struct dmap_target *t, size_t n,
		       unsigned minor, int *ret_run)
{
	_cleanup_task_ struct dm_task *task = NULL;

	task = dm_task_create(DM_DEVICE_CREATE);
	if (!task)
		return -ENOMEM;
	if (!dm_task_set_name(task, name) || !dm_task_set_uuid(task, uuid) ||
	    !dm_task_set_major_minor(task, 0, (int)minor, 1))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!dm_task_add_target(task, t[i].start, t[i].len, t[i].type, t[i].params))
			return -ENOMEM;
	run_flagged(task, ret_run);
	return 0;
}

int dmap_create(const char *name, const char *uuid, const struct dmap_target *t, size_t n,
		int timeout_ms, struct errbuf *e)
{
	struct dm_info info = {0};
	char have_uuid[160] = "", tail[600];
	int r, run;

	r = check_name(name, e);
	if (r < 0)
		return r;
	if (!uuid || !uuid[0] || strlen(uuid) > DMAP_UUID_MAX)
		return errbuf_set(e, -EINVAL, "invalid dm uuid for %s", name);
	if (timeout_ms <= 0)
		return errbuf_set(e, -EINVAL, "dm create %s: timeout must be positive", name);
	r = dmap_targets_check(t, n, e);
	if (r < 0)
		return r;
	r = dmap_init(e);
	if (r < 0)
		return r;

	r = info_get(name, &info, have_uuid, sizeof(have_uuid));
	if (r < 0)
		return errbuf_set(e, r, "cannot query dm device %s: %s", name, strerror(-r));
	if (info.exists) {
		/* Our own uuid with no live table: a create that crashed between the create
		 * and load ioctls. Nothing can be using it; replace it. */
		if (streq(have_uuid, uuid) && !info.live_table && !info.inactive_table)
			cleanup_created(name, uuid);
		else {
			r = exists_check(name, uuid, t, n, &info, have_uuid, e);
			/* Ours already: a restarted agent may have crashed before the node. */
			if (r == 0)
				r = dmap_node_make(name, info.major, info.minor);
			if (r < 0 && !e->msg[0])
				return errbuf_set(e, r, "cannot make %s/%s for dm device %s: %s",
						  DMAP_MAPPER_DIR, name, name, strerror(-r));
			return r;
		}
	}

	for (int tries = 0;; tries++) {
		int minor = minor_next();

		if (minor < 0)
			return errbuf_set(e, minor,
					  "cannot create dm device %s: no free minor in attachd's "
					  "range %u-%u: %s",
					  name, DMAP_MINOR_BASE,
					  DMAP_MINOR_BASE + DMAP_MINOR_SPAN - 1, strerror(-minor));
		r = create_once(name, uuid, t, n, (unsigned)minor, &run);
		if (r < 0)
			return errbuf_set(e, r, "libdm refused name %s or uuid %s", name, uuid);
		/* Another device took that minor between our look and our ioctl (a foreign
		 * create with a persistent minor): try the next one. */
		if (run < 0 && tries < MINOR_TRIES && minor_used((unsigned)minor) == 1 &&
		    name_by_uuid(uuid, have_uuid, sizeof(have_uuid)) == -ENOENT &&
		    info_get(name, &info, NULL, 0) == 0 && !info.exists)
			continue;
		break;
	}
	if (run < 0) {
		const char *tl = dmlog_tail(tail, sizeof(tail));
		char line[200] = "", other[160] = "";
		int q;

		(void)dmap_target_format(&t[0], line, sizeof(line));
		/* libdm reverts a failed load itself; make sure, then say why. */
		cleanup_created(name, uuid);
		/* libdm (1.02.185) loses the create ioctl's errno (EBUSY for a uuid in use):
		 * ask the kernel instead. */
		q = name_by_uuid(uuid, other, sizeof(other));
		if (q == 0)
			return errbuf_set(
			    e, -EEXIST,
			    "cannot create dm device %s: uuid %s is already used by dm "
			    "device %s",
			    name, uuid, other);
		if (run == -EBUSY)
			return errbuf_set(
			    e, -EEXIST,
			    "cannot create dm device %s: name or uuid %s already in use%s", name,
			    uuid, tl);
		return errbuf_set(e, run, "cannot create dm device %s ('%s'%s): %s%s", name, line,
				  n > 1 ? ", ..." : "", strerror(-run), tl);
	}
	r = info_get(name, &info, NULL, 0);
	if (r == 0 && !info.exists)
		r = -ENXIO;
	if (r == 0)
		r = dmap_node_make(name, info.major, info.minor);
	if (r < 0) {
		/* No /dev/mapper node to open it by: honour "nothing left behind". */
		cleanup_created(name, uuid);
		return errbuf_set(e, r, "creating %s (removed again): cannot make %s/%s: %s", name,
				  DMAP_MAPPER_DIR, name, strerror(-r));
	}
	return 0;
}

int dmap_remove(const char *name, int timeout_ms, struct errbuf *e)
{
	int64_t deadline = deadline_after(timeout_ms);
	char tail[600];
	int r;

	r = check_name(name, e);
	if (r < 0)
		return r;
	r = dmap_init(e);
	if (r < 0)
		return r;
	for (;;) {
		_cleanup_task_ struct dm_task *t = NULL;
		struct dm_info info = {0};
		char uuid[160] = "";
		int run;

		r = info_get(name, &info, uuid, sizeof(uuid));
		if (r < 0)
			return errbuf_set(e, r, "cannot query dm device %s: %s", name,
					  strerror(-r));
		if (!info.exists)
			return 0;
		r = dmap_check_owned(name, uuid, "removing", e);
		if (r < 0)
			return r;

		/* By the uuid just checked: a device renamed to this name since is not hit. */
		t = dm_task_create(DM_DEVICE_REMOVE);
		if (!t)
			return -ENOMEM;
		if (!dm_task_set_uuid(t, uuid))
			return -EINVAL;
		run_flagged(t, &run);
		if (run == 0 || run == -ENXIO) {
			dmap_node_drop(name, info.major, info.minor);
			return 0;
		}
		if (run != -EBUSY)
			return errbuf_set(e, run, "cannot remove dm device %s: %s%s", name,
					  strerror(-run), dmlog_tail(tail, sizeof(tail)));
		/* Busy: udev's blkid or a watch may hold it for a moment; anything longer is
		 * a real user (mount, holder device, open file). */
		if (dmap_now_us() + REMOVE_RETRY_MS * 1000 > deadline) {
			r = info_get(name, &info, NULL, 0);
			return errbuf_set(
			    e, -EBUSY,
			    "dm device %s is in use (open count %d); unmount it or stop "
			    "what holds it",
			    name, r == 0 ? info.open_count : -1);
		}
		poll(NULL, 0, REMOVE_RETRY_MS);
	}
}

/* Make stuck I/O in a multipath map fail: a queueing map never completes a suspend. */
static void multipath_fail_if_no_path(const char *uuid)
{
	_cleanup_task_ struct dm_task *t = NULL;

	t = dm_task_create(DM_DEVICE_TARGET_MSG);
	if (!t)
		return;
	if (dm_task_set_uuid(t, uuid) && dm_task_set_sector(t, 0) &&
	    dm_task_set_message(t, "fail_if_no_path"))
		(void)dm_task_run(t);
}

int dmap_error_swap(const char *name, int timeout_ms, struct errbuf *e)
{
	_cleanup_task_ struct dm_task *reload = NULL, *resume = NULL;
	_cleanup_free_ struct dmap_target *live = NULL;
	struct dm_info info = {0};
	uint64_t bytes = 0;
	size_t nlive = 0;
	char tail[600], uuid[160] = "";
	const char *tl = "";
	int r, run;

	r = check_name(name, e);
	if (r < 0)
		return r;
	r = dmap_init(e);
	if (r < 0)
		return r;
	dmlog_reset();
	r = info_get(name, &info, uuid, sizeof(uuid));
	if (r == 0 && info.exists && dmap_uuid_is_owned(uuid))
		r = table_get(name, &live, &nlive);
	if (r < 0)
		return errbuf_set(e, r, "cannot read dm device %s: %s", name, strerror(-r));
	if (!info.exists)
		return 0; /* nothing can be stuck on a device that is gone */
	r = dmap_check_owned(name, uuid, "replacing the table of", e);
	if (r < 0)
		return r;
	if (nlive == 0)
		return errbuf_set(e, -ENXIO, "dm device %s has no live table to replace", name);
	if (nlive == 1 && streq(live[0].type, "error") && !info.suspended)
		return 0;
	r = dmap_targets_size(live, nlive, &bytes);
	if (r < 0)
		return errbuf_set(e, r, "dm device %s: table size overflows", name);

	/* Every ioctl from here addresses the uuid checked above; RELOAD and TARGET_MSG
	 * push no node operation, so they run without the lock. */
	dmlog_reset();
	for (size_t i = 0; i < nlive; i++)
		if (streq(live[i].type, "multipath")) {
			multipath_fail_if_no_path(uuid);
			break;
		}
	reload = dm_task_create(DM_DEVICE_RELOAD);
	r = !reload						       ? -ENOMEM
	    : !dm_task_set_uuid(reload, uuid)			       ? -EINVAL
	    : !dm_task_add_target(reload, 0, bytes / 512, "error", "") ? -ENOMEM
	    : !dm_task_run(reload)				       ? task_errno(reload)
								       : 0;
	if (r < 0)
		tl = dmlog_tail(tail, sizeof(tail));
	if (r < 0)
		return errbuf_set(e, r, "cannot load an error table into %s: %s%s", name,
				  strerror(-r), tl);

	resume = dm_task_create(DM_DEVICE_RESUME);
	if (!resume || !dm_task_set_uuid(resume, uuid))
		return -ENOMEM;
	/* noflush: queued I/O is not waited for (it would never finish); skip_lockfs: a
	 * filesystem on a dead device cannot be frozen either (dmsetup wipe_table --force). */
	if (!dm_task_no_flush(resume) || !dm_task_skip_lockfs(resume))
		return -ENOMEM;
	run_flagged(resume, &run);
	if (run < 0) {
		_cleanup_task_ struct dm_task *clear = NULL;

		tl = dmlog_tail(tail, sizeof(tail));
		/* Drop the inactive error table so a later resume cannot swap it in. */
		clear = dm_task_create(DM_DEVICE_CLEAR);
		if (clear && dm_task_set_uuid(clear, uuid))
			(void)dm_task_run(clear);
		return errbuf_set(e, run, "cannot resume %s with the error table: %s%s", name,
				  strerror(-run), tl);
	}
	return 0;
}

int dmap_get_info(const char *name, struct dmap_info *ret)
{
	_cleanup_free_ struct dmap_target *live = NULL;
	struct dmap_info out = {0};
	struct dm_info info = {0};
	size_t nlive = 0;
	int r;

	r = check_name(name, NULL);
	if (r < 0)
		return r;
	r = dmap_init(NULL);
	if (r < 0)
		return r;
	dmlog_reset();
	r = info_get(name, &info, out.uuid, sizeof(out.uuid));
	if (r == 0 && info.exists && info.live_table)
		r = table_get(name, &live, &nlive);
	if (r == -ENXIO) { /* removed between the two ioctls */
		info.exists = 0;
		r = 0;
	}
	if (r < 0)
		return r;
	if (info.exists) {
		out.exists = 1;
		out.major = info.major;
		out.minor = info.minor;
		out.open_count = info.open_count;
		out.suspended = info.suspended;
		r = dmap_targets_size(live, nlive, &out.size_bytes);
		if (r < 0)
			return r;
	} else
		out.uuid[0] = 0;
	*ret = out;
	return 0;
}

int dmap_get_table(const char *name, struct dmap_target **ret_t, size_t *ret_n)
{
	int r;

	r = check_name(name, NULL);
	if (r < 0)
		return r;
	r = dmap_init(NULL);
	if (r < 0)
		return r;
	dmlog_reset();
	r = table_get(name, ret_t, ret_n);
	return r;
}

/* INFO by name and refuse what is absent or not ours; ret_uuid gets the uuid to address
 * the following ioctls by. */
static int owned_uuid(const char *name, const char *action, char *ret_uuid, size_t n,
		      struct dm_info *ret_info, struct errbuf *e)
{
	struct dm_info info = {0};
	int r;

	r = check_name(name, e);
	if (r < 0)
		return r;
	r = dmap_init(e);
	if (r < 0)
		return r;
	dmlog_reset();
	r = info_get(name, &info, ret_uuid, n);
	if (r < 0)
		return errbuf_set(e, r, "cannot query dm device %s: %s", name, strerror(-r));
	if (!info.exists)
		return errbuf_set(e, -ENXIO, "dm device %s does not exist", name);
	r = dmap_check_owned(name, ret_uuid, action, e);
	if (r < 0)
		return r;
	if (ret_info)
		*ret_info = info;
	return 0;
}

int dmap_message(const char *name, const char *msg, struct errbuf *e)
{
	_cleanup_task_ struct dm_task *t = NULL;
	char uuid[160] = "", tail[600];
	int r;

	if (!msg || !msg[0] || strlen(msg) > 256)
		return errbuf_set(e, -EINVAL, "invalid dm message for %s", name ? name : "?");
	r = owned_uuid(name, "sending a message to", uuid, sizeof(uuid), NULL, e);
	if (r < 0)
		return r;
	/* TARGET_MSG pushes no node operation and does not wait for I/O: no lock, no udev. */
	t = dm_task_create(DM_DEVICE_TARGET_MSG);
	if (!t)
		return -ENOMEM;
	if (!dm_task_set_uuid(t, uuid) || !dm_task_set_sector(t, 0) || !dm_task_set_message(t, msg))
		return -ENOMEM;
	if (!dm_task_run(t)) {
		r = task_errno(t);
		if (r == -ENXIO)
			return errbuf_set(e, r, "dm device %s does not exist", name);
		return errbuf_set(e, -EINVAL, "dm device %s refused message '%s': %s%s", name, msg,
				  strerror(-r), dmlog_tail(tail, sizeof(tail)));
	}
	return 0;
}

/* grow: the new table may be larger than the live one (never smaller). */
static int reload(const char *name, const struct dmap_target *t, size_t n, int timeout_ms, int grow,
		  struct errbuf *e)
{
	_cleanup_task_ struct dm_task *reload = NULL, *resume = NULL;
	_cleanup_free_ struct dmap_target *live = NULL;
	uint64_t have = 0, want = 0;
	size_t nlive = 0;
	char uuid[160] = "", tail[600];
	int r, run;

	if (timeout_ms <= 0)
		return errbuf_set(e, -EINVAL, "dm reload %s: timeout must be positive",
				  name ? name : "?");
	r = dmap_targets_check(t, n, e);
	if (r < 0)
		return r;
	r = owned_uuid(name, "replacing the table of", uuid, sizeof(uuid), NULL, e);
	if (r < 0)
		return r;
	r = table_get(name, &live, &nlive);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the table of dm device %s: %s", name,
				  strerror(-r));
	/* A size change under a mounted filesystem is a resize, not a path change; and a
	 * resize only ever grows (a smaller map would cut the filesystem's end off). */
	if (nlive > 0 &&
	    (dmap_targets_size(live, nlive, &have) < 0 || dmap_targets_size(t, n, &want) < 0 ||
	     (grow ? want < have : have != want)))
		return errbuf_set(e, -EINVAL,
				  "dm device %s: the new table is %" PRIu64
				  " bytes, the live one %" PRIu64 "; %s",
				  name, want, have,
				  grow ? "a map is never shrunk"
				       : "a reload must not change the size");

	reload = dm_task_create(DM_DEVICE_RELOAD);
	if (!reload || !dm_task_set_uuid(reload, uuid))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!dm_task_add_target(reload, t[i].start, t[i].len, t[i].type, t[i].params))
			return -ENOMEM;
	dmlog_reset();
	if (!dm_task_run(reload)) {
		char line[200] = "";

		r = task_errno(reload);
		(void)dmap_target_format(&t[0], line, sizeof(line));
		return errbuf_set(e, r, "cannot load a new table into %s ('%s'): %s%s", name, line,
				  strerror(-r), dmlog_tail(tail, sizeof(tail)));
	}
	resume = dm_task_create(DM_DEVICE_RESUME);
	if (!resume || !dm_task_set_uuid(resume, uuid))
		return -ENOMEM;
	/* noflush: I/O a multipath map queues stays queued across the swap instead of being
	 * failed or waited for. */
	if (!dm_task_no_flush(resume))
		return -ENOMEM;
	run_flagged(resume, &run);
	if (run < 0) {
		_cleanup_task_ struct dm_task *clear = NULL;
		const char *tl = dmlog_tail(tail, sizeof(tail));

		/* Drop the inactive table so a later resume cannot swap it in unasked. */
		clear = dm_task_create(DM_DEVICE_CLEAR);
		if (clear && dm_task_set_uuid(clear, uuid))
			(void)dm_task_run(clear);
		return errbuf_set(e, run, "cannot resume %s with its new table: %s%s", name,
				  strerror(-run), tl);
	}
	return 0;
}

int dmap_reload(const char *name, const struct dmap_target *t, size_t n, int timeout_ms,
		struct errbuf *e)
{
	return reload(name, t, n, timeout_ms, 0, e);
}

int dmap_grow(const char *name, const struct dmap_target *t, size_t n, int timeout_ms,
	      struct errbuf *e)
{
	return reload(name, t, n, timeout_ms, 1, e);
}

int dmap_get_mpath_status(const char *name, struct dmap_mpath_status *ret)
{
	_cleanup_task_ struct dm_task *t = NULL;
	_cleanup_free_ struct dmap_target *live = NULL;
	struct dmap_mpath_status st;
	char uuid[160] = "";
	uint64_t start = 0, len = 0;
	char *type = NULL, *params = NULL;
	size_t nlive = 0;
	int r, q;

	r = owned_uuid(name, "reading", uuid, sizeof(uuid), NULL, NULL);
	if (r < 0)
		return r;
	t = dm_task_create(DM_DEVICE_STATUS);
	if (!t)
		return -ENOMEM;
	if (!dm_task_set_uuid(t, uuid))
		return -EINVAL;
	/* No flush of pending I/O for the status of a multipath map (it could be queueing). */
	(void)dm_task_no_flush(t);
	if (!dm_task_run(t))
		return task_errno(t);
	(void)dm_get_next_target(t, NULL, &start, &len, &type, &params);
	if (!type || !streq(type, "multipath"))
		return -EMEDIUMTYPE;
	r = dmap_mpath_status_parse(params ? params : "", &st);
	if (r < 0)
		return r;
	/* The status' first feature is "I/O queued right now"; what callers want is the
	 * queue_if_no_path setting, which only the table shows. */
	r = table_get(name, &live, &nlive);
	if (r < 0)
		return r;
	q = nlive == 1 && streq(live[0].type, "multipath")
		? dmap_mpath_table_queueing(live[0].params)
		: -EMEDIUMTYPE;
	if (q < 0)
		return q;
	st.queue_if_no_path = q;
	*ret = st;
	return 0;
}

static void strvp(char ***p)
{
	if (*p)
		for (char **s = *p; *s; s++)
			free(*s);
	free(*p);
}

int dmap_list_owned(char ***ret)
{
	_cleanup_task_ struct dm_task *t = NULL;
	_cleanup_(strvp) char **v = NULL;
	size_t n = 0, cap = 0;
	struct dm_names *names;
	unsigned next = 0;
	int r;

	r = dmap_init(NULL);
	if (r < 0)
		return r;
	dmlog_reset();
	t = dm_task_create(DM_DEVICE_LIST);
	r = !t ? -ENOMEM : !dm_task_run(t) ? task_errno(t) : 0;
	names = r == 0 ? dm_task_get_names(t) : NULL;
	v = calloc(1, sizeof(char *));
	if (!v)
		r = -ENOMEM;
	if (r == 0 && names && names->dev) {
		do {
			struct dm_info info;
			char uuid[160];

			names = (struct dm_names *)((char *)names + next);
			next = names->next;
			/* Per device: the LIST reply only carries uuids on kernels >= 5.13.
			 * A device removed since the LIST just drops out. */
			if (info_get(names->name, &info, uuid, sizeof(uuid)) < 0 || !info.exists ||
			    !startswith(uuid, DMAP_UUID_PREFIX))
				continue;
			if (n + 1 >= cap) {
				char **nv;

				cap = cap ? cap * 2 : 8;
				nv = realloc(v, (cap + 1) * sizeof(char *));
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				v = nv;
			}
			v[n] = strdup(names->name);
			if (!v[n]) {
				r = -ENOMEM;
				break;
			}
			v[++n] = NULL;
		} while (next);
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return 0;
}
