/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attach pipeline:
 *   plan -> connect -> await device -> verify identity -> dm map -> probe fs ->
 *   mkfs (blank only) -> staging mount
 * and per container: bind mount. Detach runs the exact reverse; every undo step is
 * idempotent, so a record restored after a crash can be replayed.
 *
 * Thread-safety: one struct attach_volume must be used by one thread at a time (the
 * agent serialises per volume); different volumes may be attached in parallel.
 * Everything here may block up to the configured deadlines.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "lib/err.h"
#include "lib/sys.h"

#define ATTACH_KEY_MAX 119 /* "attachd-" + key fits a dm name (127) */
#define ATTACH_MAX_STEPS 16
/* Where file-backend volumes without a `path` live: BOSH's persistent disk. */
#define ATTACH_DEFAULT_FILE_DIR "/var/vcap/store/attachd/files"

/* Parsed Create options (generic part + the backend's own cfg). */
struct attach_opts {
	const struct backend_ops *be;
	void *be_cfg;          /* owned */
	char fs[8];            /* "ext4" | "xfs" */
	int format_never;      /* format=never */
	int readonly;          /* container mounts read-only */
	char mount_options[256]; /* validated comma list, "" if none */
};

/*
 * Validate a Create opts object (may be NULL/json null: then every required key is
 * missing). Every problem goes into el (unknown keys by name, bad types, bad values).
 * Values may be strings or native JSON types where the meaning is clear.
 * Returns 0 and fills *ret, or -EINVAL.
 */
int attach_opts_parse(const json_t *opts, struct attach_opts *ret, struct errlist *el);
void attach_opts_done(struct attach_opts *o);
/* A copy of opts with every secret value replaced by "REDACTED" (for logs/listings). */
json_t *attach_opts_redacted(const json_t *opts);

/* Volume keys become dm names, directory names and state file names: [A-Za-z0-9._-],
 * 1..ATTACH_KEY_MAX, not starting with '.'. */
int attach_key_is_valid(const char *key);

enum attach_step {
	STEP_NONE = 0,
	STEP_PLAN,
	STEP_CONNECT,
	STEP_AWAIT,
	STEP_VERIFY,
	STEP_DM,
	STEP_PROBE,
	STEP_MKFS,
	STEP_MOUNT,
	STEP_BIND,
	/* reverse */
	STEP_UNBIND,
	STEP_UMOUNT,
	STEP_DM_REMOVE,
	STEP_DISCONNECT,
	_STEP_MAX,
};
const char *attach_step_name(enum attach_step s);

struct attach_timing {
	enum attach_step step;
	int64_t usec;
	int result; /* 0 or negative errno */
};

/* Deadlines (ms) and host settings shared by every volume. */
struct attach_env {
	struct sys sys;
	struct backend_host_config host;
	char mount_root[4096]; /* staging at <root>/.staging/<key>, containers at <root>/<key>/<container> */
	int connect_timeout_ms; /* login/probe/losetup */
	int device_timeout_ms;  /* await device and dm udev */
	int mkfs_timeout_ms;
	/* Test seam for the udev wait: NULL = libudev monitor. */
	void *udev; /* struct udev *, owned by the caller */
};

/* One volume on this host. */
struct attach_volume {
	char key[ATTACH_KEY_MAX + 1];
	struct attach_opts opts;
	struct backend_attachment att; /* att.objs records kernel objects */
	enum attach_step reached;      /* last step completed (STEP_MOUNT = staged) */
	char dm_name[160];
	char dm_devnode[192];
	char staging[4096];
	struct backend_device dev;
	struct backend_identity ident;
	char fs_found[32]; /* what the probe found ("ext4", "" for blank) */
	int formatted;     /* we ran mkfs in this attach */
	struct attach_timing timings[ATTACH_MAX_STEPS];
	unsigned n_timings;
};

/* Initialise v for key with parsed opts (ownership of opts->be_cfg moves to v). */
int attach_volume_init(struct attach_volume *v, const char *key, struct attach_opts *opts);
void attach_volume_done(struct attach_volume *v);

/* Attach and stage: on success the filesystem is mounted at v->staging. On failure every
 * step already done is undone (reverse order) and e says what went wrong. */
int attach_volume_up(struct attach_env *env, struct attach_volume *v, struct errbuf *e);
/* Undo everything (unmount staging, dm remove, disconnect). Idempotent. Container bind
 * mounts must be gone already (force=1 lazily unmounts and error-swaps first). */
int attach_volume_down(struct attach_env *env, struct attach_volume *v, int force, struct errbuf *e);
/* Bind-mount the staging mount for one container; ret_path is <root>/<key>/<container>.
 * Idempotent; repairs a stale bind mount. */
int attach_bind(struct attach_env *env, struct attach_volume *v, const char *container,
		char *ret_path, size_t n, struct errbuf *e);
int attach_unbind(struct attach_env *env, struct attach_volume *v, const char *container,
		  struct errbuf *e);
/* Path a container's bind mount lives at. */
int attach_container_path(const struct attach_env *env, const char *key, const char *container,
			  char *ret, size_t n);

/* Defaults for the real host: real kernel seam, 30 s connect, 30 s device, 300 s mkfs. */
void attach_env_init(struct attach_env *env, const char *mount_root);
