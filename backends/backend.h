/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend contract. Each backend exports one const struct backend_ops, listed in
 * the registry (backends/registry.c). Backends do not wait: find_device returns -EAGAIN
 * until the device is there, and attach/ waits on udev with a deadline.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/sys.h"

/* The PowerFlex gateway and this host's SDC (agent config "scaleio"). */
struct backend_scaleio_host {
	char gateway[1024];       /* "https://gw[:port]", "" = scaleio not configured */
	char username[256];
	char password[256];       /* read from password_file by the agent; never logged */
	char ca_file[4096];       /* "" = the system CA store */
	int insecure_skip_verify; /* 1 = no TLS peer/host verification (explicit opt-in) */
	char sdc_guid[64];        /* "" = ask drv_cfg --query_guid */
	char drv_cfg[4096];       /* path of drv_cfg */
};

/* Host-level settings for every backend (agent config), read-only for backends. */
struct backend_host_config {
	char iscsi_initiator_name[224]; /* "" = read /etc/iscsi/initiatorname.iscsi */
	char iscsi_iface[65];           /* open-iscsi iface of our sessions, "" = "attachd" */
	char nvme_hostnqn[224];         /* "" = read /etc/nvme/hostnqn */
	char file_dir[4096];            /* where the file backend keeps files without `path` */
	struct backend_scaleio_host scaleio;
};

/* What the backend gives attach/ to run with. */
struct backend_ctx {
	const struct sys *sys;
	const struct backend_host_config *host;
	int timeout_ms; /* budget for one blocking call (login, probe, helper program) */
	/* 1 when attach/'s plan step calls probe, before an attach: the backend may answer
	 * from a kernel connection it already has that proves what the probe would (iscsi: our
	 * session to the target, logged in with this volume's credentials), and leave the
	 * LUN's presence and identity to connect and identify. 0 (attachctl probe, and every
	 * other op): the probe asks the array. */
	int preflight;
	/* Optional (NULL: none): persist the attachment's objs now. A backend calls it right
	 * after the kernel action that creates an object only it can later prove its own (an
	 * NVMe controller), so a crash before the step's end still leaves the proof on disk.
	 * Returns 0 or a negative errno (the backend then undoes what it made and fails). */
	int (*checkpoint)(const struct backend_ctx *ctx);
	void *checkpoint_ud;
};

/* Identity of a block device, learnt from the array (probe) or from the kernel. */
struct backend_identity {
	char wwid[256];     /* e.g. "naa.6001405..." / "t10...." / "uuid...." ("" unknown) */
	uint64_t size_bytes; /* 0 = unknown */
};

/* The device found for an attachment. */
struct backend_device {
	char sysname[64]; /* kernel name: "sdb", "loop3", "nvme0n1" */
	char devnode[96]; /* "/dev/sdb" (under sys->dev_root when faked) */
	unsigned major, minor;
};

/* Most paths one volume can have (array target ports; dm-multipath handles more, but
 * arrays present 2..8 and the record stays small). */
#define BACKEND_MAX_PATHS 8

/*
 * One path to a volume (multipath-capable backends). For iscsi a SCSI disk on our session
 * for one (portal, target); its WWID must be the volume's, or it is no path of this volume.
 * For nvme a controller of the subsystem (the kernel's native multipath head disk is the one
 * device; dev is then the controller's char device and is not put into a dm table).
 */
struct backend_path {
	struct backend_device dev; /* iscsi: the SCSI disk ("sdb", 8:16) */
	char id[64];               /* stable while it lives: "3:0:0:1" (H:C:T:L) / "nvme2" */
	char where[320];           /* for people: "10.0.0.5:3260 iqn.2003-01.org...:t1" */
	char wwid[256];            /* normalised, what the kernel shows for this path */
};

/* What the backend knows about one path's transport, cheap (sysfs only, never blocks). */
enum backend_path_transport {
	BACKEND_PATH_UP = 0,   /* session/controller logged in ("LOGGED_IN" / "live") */
	BACKEND_PATH_DOWN,     /* transport lost ("FAILED", "connecting", "deleting"...) */
	BACKEND_PATH_GONE,     /* the path's device or session no longer exists */
};

/*
 * An attachment in progress or live. cfg is the backend's parsed options (its own type);
 * objs is a JSON object where the backend records the kernel objects it created (session,
 * H:C:T:L, loop device, ...) so that a restarted agent can undo them: attach/ persists it.
 */
struct backend_attachment {
	const struct backend_ops *ops;
	void *cfg;
	json_t *objs;
	/* In: the Create option takeover (or attachctl takeover). A backend that fences by
	 * mapping (scaleio) then unmaps the volume from the other host before mapping it here
	 * instead of refusing. Backends fenced by reservations (iscsi, nvme) ignore it:
	 * attach/ preempts the reservation. */
	int takeover;
	/* Out: set by a backend that took the volume from another host, naming it for people
	 * ("SDC 1a2b3c4d (cell-7, 10.0.0.7)"); "" otherwise. attach/ reports it as the loud
	 * takeover event. */
	char took_over_from[320];
};

/*
 * Requests a backend made to its array's management API (scaleio: the PowerFlex gateway)
 * since the process started, for the agent's metrics. bucket[i] counts the requests that
 * took at most backend_request_bucket_usec[i] and longer than the bucket before it
 * (non-cumulative); bucket[BACKEND_REQUEST_BUCKETS] those longer than every bound.
 */
#define BACKEND_REQUEST_BUCKETS 12
extern const int64_t backend_request_bucket_usec[BACKEND_REQUEST_BUCKETS];
struct backend_request_stats {
	uint64_t answered;	   /* an HTTP answer with status below 400 */
	uint64_t http_errors;	   /* an HTTP answer with status 400 or more */
	uint64_t transport_errors; /* no answer: unreachable, timed out, TLS failed */
	uint64_t bucket[BACKEND_REQUEST_BUCKETS + 1];
	uint64_t sum_usec;
};
/* Count one request that took usec and ended with status (an HTTP status, or a negative
 * errno when there was no answer). Lock-free (atomic adds): any thread, any time. */
void backend_request_record(struct backend_request_stats *s, int64_t usec, int status);
/* A copy of s for reading (an atomic load per field: a request recorded meanwhile may show
 * in its bucket and not yet in its result). */
void backend_request_read(const struct backend_request_stats *s, struct backend_request_stats *ret);

struct backend_ops {
	const char *name;
	/* Option keys this backend accepts in Create (NULL-terminated); the generic keys are
	 * handled by attach/. Keys listed in secret_keys are redacted everywhere. */
	const char *const *keys;
	const char *const *secret_keys;
	/* Pure: parse and validate the backend's options from the Create opts object,
	 * adding every problem to el. Returns 0 and *ret_cfg, or -EINVAL (el filled). */
	int (*parse)(const json_t *opts, void **ret_cfg, struct errlist *el);
	void (*free_cfg)(void *cfg);
	/* The device identity this volume claims, for dedupe across volume ids
	 * ("iscsi:<iqn>:<lun>", "file:<path>"). */
	int (*describe)(const void *cfg, char *buf, size_t n);
	/* Optional pre-flight against the array, before touching the kernel: checks the
	 * target/LUN exists and learns its identity. May block up to ctx->timeout_ms. */
	int (*probe)(const struct backend_ctx *ctx, struct backend_attachment *a,
		     struct backend_identity *ret, struct errbuf *e);
	/* Make the kernel see the device (login + scan, losetup, ...). Records what it
	 * created in a->objs as it goes, so a failure part way can be undone by disconnect. */
	int (*connect)(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e);
	/* Non-blocking: 0 and *ret when the device is present, -EAGAIN while not yet. */
	int (*find_device)(const struct backend_ctx *ctx, struct backend_attachment *a,
			   struct backend_device *ret, struct errbuf *e);
	/* Identity of the kernel device (WWID from sysfs, size). */
	int (*identify)(const struct backend_ctx *ctx, struct backend_attachment *a,
			const struct backend_device *dev, struct backend_identity *ret,
			struct errbuf *e);
	/* Undo connect; idempotent: 0 when already gone. Uses a->objs, so it works on a
	 * record restored after a crash. */
	int (*disconnect)(const struct backend_ctx *ctx, struct backend_attachment *a,
			  struct errbuf *e);
	/* Optional: forget this attachment without touching the kernel, when its connection
	 * turned out to be another volume's (attach/ refused the second volume on one device):
	 * drop whatever in-process reference connect took, so the owner's detach is not held
	 * back by it. */
	void (*release)(const struct backend_ctx *ctx, struct backend_attachment *a);
	/* Optional (NULL: the kernel learns a new size by itself): after the volume grew on
	 * the array, make the kernel re-read the size of dev, one device of this attachment
	 * (the single device, or one path's disk: attach/ calls it for every path). 0 when
	 * the kernel's size is current on return (SCSI rescan, loop set-capacity); 1 when a
	 * rescan was started and the new size follows later, announced by a block uevent
	 * (NVMe namespace scan); a negative errno with e. Blocks for at most one round trip
	 * to the array per device. Never shrinks anything: the kernel reports what the
	 * array says. */
	int (*rescan)(const struct backend_ctx *ctx, struct backend_attachment *a,
		      const struct backend_device *dev, struct errbuf *e);

	/* 1: a read-write attach is fenced by SCSI-3/NVMe persistent reservations on the
	 * volume's dm device (attach/ runs STEP_FENCE/STEP_UNFENCE: iscsi, nvme). 0: the
	 * backend fences by its own means (scaleio's mapping) or not at all (file). */
	int fence_by_reservation;

	/* ---- multipath (optional; all four or none) ---- */
	/* 1: the kernel multipaths this backend itself (NVMe native multipath): find_device
	 * gives the one head device, which gets a linear map; find_paths/path_transport only
	 * report the paths (controllers) for the checker and attachctl. 0: attach/ builds
	 * a dm-multipath map over find_paths' devices. */
	int native_multipath;
	/* How many paths this volume is configured with (iscsi: portals x targets; nvme:
	 * traddrs). More than 1 makes attach/ build a dm-multipath map, even when only one
	 * path is up at attach time (the others join later). */
	unsigned (*paths_configured)(const void *cfg);
	/* Non-blocking: every path present now whose WWID is the volume's (a path whose
	 * device shows another WWID is skipped and named in e->msg, never returned). 0 with
	 * *ret_n >= 1, -EAGAIN while there is none yet (e says what is awaited). Updates a->objs
	 * with what it learnt (the kernel renumbers). max is at most BACKEND_MAX_PATHS. */
	int (*find_paths)(const struct backend_ctx *ctx, struct backend_attachment *a,
			  struct backend_path *ret, size_t max, size_t *ret_n, struct errbuf *e);
	/* Non-blocking (sysfs): the transport state of a path find_paths returned; detail
	 * (may be NULL) gets the kernel's words ("session 3 FAILED"). */
	enum backend_path_transport (*path_transport)(const struct backend_ctx *ctx,
						      struct backend_attachment *a,
						      const struct backend_path *p, char *detail,
						      size_t n);
	/* Log in to / connect the configured paths that a->objs has no entry for (down at
	 * attach time, or removed by the checker) and scan the LUN there; never touches the
	 * paths already recorded. Blocks up to ctx->timeout_ms per path. 0 when every
	 * configured path is now recorded, -EHOSTDOWN (e names them) while some are not;
	 * a path that connected is recorded even then. */
	int (*add_paths)(const struct backend_ctx *ctx, struct backend_attachment *a,
			 struct errbuf *e);

	/* Optional: this process's requests to the array's management API so far
	 * (backend_request_read of the backend's counters). Cheap, any thread. */
	void (*request_stats)(struct backend_request_stats *ret);
};

extern const struct backend_ops be_file_ops;
extern const struct backend_ops be_iscsi_ops;
extern const struct backend_ops be_nvme_ops;
extern const struct backend_ops be_scaleio_ops;

/* The registry: NULL-terminated list of every backend. */
extern const struct backend_ops *const backend_registry[];
const struct backend_ops *backend_find(const char *name);
