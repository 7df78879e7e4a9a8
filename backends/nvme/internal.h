/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nvme backend internals, shared by the files of backends/nvme/ and by its unit tests.
 *
 *   options.c   parse/validate the Create options (pure), describe, free
 *   fabrics.c   the /dev/nvme-fabrics protocol: option string (pure), reply parsing (pure),
 *               the real connect, host NQN/ID, reachability check; errno -> sentence
 *   sysfs.c     controllers, subsystems and namespaces as the kernel shows them
 *   lock.c      per-(subnqn, traddr, trsvcid) mutexes and the in-process users of each
 *   nvme.c      the ops table: connect / find_device / identify / disconnect, objs record
 *   paths.c     multipath: the controllers as paths (find_paths, path_transport, add_paths)
 *   ctrlwait.c  the wait for a deleted controller to go, on the kernel's uevents
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "lib/err.h"
#include "lib/sys.h"

#define BE_NVME_NQN_MAX 223 /* NVMe base spec: NQNs are at most 223 bytes */
#define BE_NVME_HOST_MAX 253
#define BE_NVME_DEFAULT_PORT 4420
#define BE_NVME_UUID_STR 36 /* 8-4-4-4-12 */
/* Tunables of the controllers we create (see fabrics.c for why these values). */
#define BE_NVME_CTRL_LOSS_TMO 600
#define BE_NVME_RECONNECT_DELAY 10
#define BE_NVME_FAST_IO_FAIL_TMO 30
#define BE_NVME_MP_RECONNECT_DELAY 2 /* several traddrs: a returning port rejoins fast */

enum be_nvme_id_kind {
	BE_NVME_ID_UUID = 1,
	BE_NVME_ID_NGUID,
	BE_NVME_ID_NSID,
};

/* The kernel side of the connect, replaced by tests. */
struct be_nvme_fabrics_ops {
	/* open <dev_root>/dev/nvme-fabrics O_RDWR|O_CLOEXEC, write opts in one write(), read
	 * the reply from the same fd into reply (NUL-terminated). 0 or a negative errno (the
	 * write's errno when the kernel refused the connect). */
	int (*add_ctrl)(void *ud, const struct sys *s, const char *opts, char *reply, size_t n);
	/* A TCP connect to addr:port within timeout_ms, closed at once: 0, -ECONNREFUSED,
	 * -ETIMEDOUT, -EHOSTUNREACH, ... */
	int (*reach)(void *ud, const char *addr, unsigned port, int timeout_ms);
	/* Identify (admin opcode 0x06) with this CNS and NSID through <dev_root>/dev/nvmeN,
	 * len bytes into buf. 0, a negative errno, or -EIO when the controller returned an
	 * NVMe error status. Blocks for one admin command round trip. */
	int (*identify)(void *ud, const struct sys *s, unsigned instance, unsigned cns,
			uint32_t nsid, void *buf, size_t len);
	/* A watch of the kernel's "nvme" uevents, armed before delete_controller is written so
	 * the controller's "remove" cannot be missed (ctrlwait.c): 0 and *ret, or a negative
	 * errno. watch_next waits for the next event, at most until deadline_ms
	 * (CLOCK_MONOTONIC) and at most a second (a dropped uevent is caught by the caller's
	 * sysfs re-check): 0, or -ETIMEDOUT once the deadline passed. watch_close frees it. */
	int (*watch_open)(void *ud, const struct sys *s, void **ret);
	int (*watch_next)(void *ud, void *watch, int64_t deadline_ms);
	void (*watch_close)(void *ud, void *watch);
};
/* ctrlwait.c: the real watch (libudev monitor on kernel uevents, subsystem "nvme"). */
int be_nvme_ctrl_watch_open(void *ud, const struct sys *s, void **ret);
int be_nvme_ctrl_watch_next(void *ud, void *watch, int64_t deadline_ms);
void be_nvme_ctrl_watch_close(void *ud, void *watch);
extern const struct be_nvme_fabrics_ops be_nvme_fabrics_real;

struct be_nvme_cfg {
	/* as given (IPv6 without brackets), one per port of the subsystem (native multipath
	 * when more than one) */
	char traddr[BACKEND_MAX_PATHS][BE_NVME_HOST_MAX + 1];
	unsigned n_traddr;
	unsigned trsvcid; /* for every traddr */
	char subnqn[BE_NVME_NQN_MAX + 1];
	enum be_nvme_id_kind id_kind;
	char id[40];   /* uuid / nguid normalised to lower-case 8-4-4-4-12; nsid in decimal */
	uint32_t nsid; /* when id_kind == BE_NVME_ID_NSID */
	const struct be_nvme_fabrics_ops *fabrics;
	void *fabrics_ud;
};

/* Tests: use fake fabrics ops for this cfg (the default is be_nvme_fabrics_real). */
void be_nvme_cfg_set_fabrics_ops(void *cfg, const struct be_nvme_fabrics_ops *ops, void *ud);

/* ---- options.c (pure) ---- */
int be_nvme_parse(const json_t *opts, void **ret_cfg, struct errlist *el);
void be_nvme_free_cfg(void *cfg);
int be_nvme_describe(const void *cfg, char *buf, size_t n);
/* nqn.YYYY-MM.reverse.domain:name (the discovery NQN is refused), the
 * nqn.2014-08.org.nvmexpress:uuid:<uuid> form, at most 223 bytes, nothing that would break
 * the fabrics option string (',', '=', blanks, control bytes). */
int be_nvme_nqn_is_valid(const char *s);
/* 8-4-4-4-12 hex (or 32 hex digits for allow_plain) -> lower-case 8-4-4-4-12 in buf
 * (>= 37 bytes). -EINVAL on syntax. */
int be_nvme_uuid_normalize(const char *in, int allow_plain, char *buf, size_t n);
const char *be_nvme_id_kind_name(enum be_nvme_id_kind k);

/* ---- fabrics.c ---- */
/* The connect option string for /dev/nvme-fabrics (hostid may be NULL or ""); multipath:
 * one of several ports of the subsystem (shorter reconnect_delay, see fabrics.c). */
int be_nvme_fabrics_options(const char *subnqn, const char *traddr, unsigned trsvcid,
			    const char *hostnqn, const char *hostid, int multipath, char *buf,
			    size_t n);
/* "instance=N,cntlid=M\n" -> N. -EBADMSG when there is no instance. */
int be_nvme_fabrics_reply_parse(const char *reply, unsigned *ret_instance);
/* The host NQN: ctx->host->nvme_hostnqn, else <etc_root>/etc/nvme/hostnqn; and the host ID
 * to pass with it ("" for none): <etc_root>/etc/nvme/hostid when the NQN is the one in
 * /etc/nvme/hostnqn, else the UUID of a nqn.2014-08.org.nvmexpress:uuid:<uuid> NQN. */
int be_nvme_host_identity(const struct backend_ctx *ctx, char *nqn, size_t nn, char *hostid,
			  size_t hn, struct errbuf *e);
/* Does the target offer the namespace c names? Asks the controller (Identify active
 * namespace list, then each namespace's identification descriptors for uuid/nguid):
 * 1 yes, 0 no (with the NSIDs it does offer in list, "1, 2, 3"), negative errno when it
 * cannot tell (old target without descriptor lists, controller not reachable). */
int be_nvme_target_has_ns(const struct be_nvme_cfg *c, const struct sys *s, unsigned instance,
			  char *list, size_t n);
/* Turn a failed connect to traddr (as given; addr: numeric) into a sentence naming what to
 * fix; returns r. */
int be_nvme_connect_error(struct errbuf *e, int r, const struct be_nvme_cfg *c, const char *traddr,
			  const char *addr, const char *hostnqn);

/* ---- sysfs.c ---- */
/* "traddr=10.0.0.5,trsvcid=4420,src_addr=..." -> value of key (0, -ENOENT). */
int be_nvme_address_get(const char *address, const char *key, char *buf, size_t n);
/* Are two numeric addresses the same (IPv4/IPv6 compared as addresses, else strings)? */
int be_nvme_addr_equal(const char *a, const char *b);
/* A fabrics controller for (subnqn, tcp, traddr numeric, trsvcid, hostnqn) that is not being
 * deleted: 0 and *ret_instance, -ENOENT when none. Live ones first, then the lowest. */
int be_nvme_sysfs_find_ctrl(const struct sys *s, const char *subnqn, const char *traddr,
			    unsigned trsvcid, const char *hostnqn, unsigned *ret_instance);
/* What tells one controller from the next one that gets the same instance number. */
struct be_nvme_ctrl_ident {
	unsigned long cntlid; /* the target's controller ID */
	uint64_t ino;	      /* inode of its sysfs directory: new for every controller */
};
/* Is nvmeN a tcp controller for (subnqn, traddr, trsvcid, hostnqn)? 0 and its ident;
 * -ENODEV when it is gone or is another target's. */
int be_nvme_sysfs_ctrl_ident(const struct sys *s, unsigned instance, const char *subnqn,
			     const char *traddr, unsigned trsvcid, const char *hostnqn,
			     struct be_nvme_ctrl_ident *ret);
/* 1 if /sys/class/nvme/nvmeN exists, 0 if not. */
int be_nvme_sysfs_ctrl_exists(const struct sys *s, unsigned instance);
/* The namespace block device of controller nvmeN matching (kind, id): 0 and name,
 * -ENOENT when not (yet) there, -ENODEV when the controller is gone. */
int be_nvme_sysfs_find_ns(const struct sys *s, unsigned instance, const struct be_nvme_cfg *c,
			  char *name, size_t n);
/* Is any namespace block device of nvmeN's subsystem (or a partition of one) held by
 * another block device or mounted? 1 yes (the name in buf), 0 no. */
int be_nvme_sysfs_ns_in_use(const struct sys *s, unsigned instance, char *buf, size_t n);
int be_nvme_sysfs_block_devnum(const struct sys *s, const char *name, unsigned *ret_major,
			       unsigned *ret_minor);
/* WWID (wwid attribute, else "uuid.<uuid>") and size of /sys/block/<name>. */
int be_nvme_sysfs_block_identity(const struct sys *s, const char *name,
				 struct backend_identity *ret);
/* The controller's state ("live", "connecting", ...). */
int be_nvme_sysfs_ctrl_state(const struct sys *s, unsigned instance, char *buf, size_t n);
/* The controller's char device number (/sys/class/nvme/nvmeN/dev). */
int be_nvme_sysfs_ctrl_devnum(const struct sys *s, unsigned instance, unsigned *ret_major,
			      unsigned *ret_minor);
/* WWID of c's namespace as controller nvmeN shows it (its per-path disk nvmeXcNnH, or its
 * own disk with multipath off): 0, -ENOENT when it has none (yet), -ENODEV when it is
 * gone. */
int be_nvme_sysfs_path_wwid(const struct sys *s, unsigned instance, const struct be_nvme_cfg *c,
			    char *wwid, size_t n);

/* ---- lock.c ---- */
/* Serialises connect/disconnect per (subnqn, traddr, trsvcid): a detach's "nothing else
 * uses the controller -> delete it" must not interleave with another volume's connect
 * that reuses it. Blocks. */
struct be_nvme_target_lock;
struct be_nvme_target_lock *be_nvme_target_lock(const char *subnqn, const char *traddr,
						unsigned trsvcid);
void be_nvme_target_unlock(struct be_nvme_target_lock *l);
/* In-process users of a target between connect and disconnect (the kernel cannot tell yet:
 * their namespace is not held by a dm device until later). who: the volume's describe
 * string. Call with the target lock held. */
void be_nvme_target_user_add(struct be_nvme_target_lock *l, const char *who);
void be_nvme_target_user_del(struct be_nvme_target_lock *l, const char *who);
/* Number of users other than who. */
unsigned be_nvme_target_users_other(struct be_nvme_target_lock *l, const char *who);
/* What this process knows to be attachd's controller on the target (created by one of
 * its volumes, or proven by a volume's record): set, and ask. Target lock held. Kept
 * while the target has users. */
void be_nvme_target_owned_set(struct be_nvme_target_lock *l, unsigned instance,
			      const struct be_nvme_ctrl_ident *id);
int be_nvme_target_owned_is(struct be_nvme_target_lock *l, unsigned instance,
			    const struct be_nvme_ctrl_ident *id);
/* This boot's ID (<proc_root>/proc/sys/kernel/random/boot_id) into buf; "" when unknown. */
void be_nvme_boot_id(const struct sys *s, char *buf, size_t n);

/* ---- nvme.c ---- */
/* traddr (address or host name) -> numeric address in buf. */
int be_nvme_resolve(const char *host, char *buf, size_t n, struct errbuf *e);
/* The controller entries of a record (see nvme.c): how many, entry i (NULL if none). A
 * record from before multipath is its own one entry. */
size_t be_nvme_objs_n(const json_t *objs);
json_t *be_nvme_objs_entry(const json_t *objs, size_t i);
/* An entry's target (-ENOENT when not recorded) and controller instance (-ENOENT: none). */
int be_nvme_entry_target(const json_t *ent, const char **ret_traddr, unsigned *ret_trsvcid);
int be_nvme_entry_ctrl(const json_t *ent, unsigned *ret);
/* rescan.c: backend_ops.rescan (namespace rescan of every recorded controller; 1: queued). */
int be_nvme_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		   const struct backend_device *dev, struct errbuf *e);
/* 1 (and *ret_inst) if the entry's controller is there and still the recorded one (same
 * target, host NQN, controller ID, sysfs inode), else 0. Reads sysfs only. */
int be_nvme_entry_is_ours(const struct sys *s, const json_t *objs, const json_t *ent,
			  unsigned *ret_inst);
/* n_traddr > 1 needs nvme_core.multipath=Y: 0, or -EOPNOTSUPP saying how to enable it. */
int be_nvme_multipath_check(const struct sys *s, unsigned n_traddr, struct errbuf *e);
/* Start (or bring up to date) a record: subsnqn, hostnqn; a record from before multipath
 * is converted to the "ctrls" list. */
int be_nvme_objs_init(struct backend_attachment *a, const struct be_nvme_cfg *c,
		      const char *hostnqn, struct errbuf *e);
/* Connect (or reuse) the controller for the cfg's traddr i and record it as entry i (with
 * the checkpoint when it made one). *ret_fatal: the failure is not the port's (memory,
 * the checkpoint): the whole connect must fail. Blocks up to ctx->timeout_ms. */
int be_nvme_connect_one(const struct backend_ctx *ctx, struct backend_attachment *a, size_t i,
			const char *hostnqn, const char *hostid, int *ret_fatal, struct errbuf *e);
int be_nvme_connect(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e);
int be_nvme_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_device *ret, struct errbuf *e);
int be_nvme_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
		     const struct backend_device *dev, struct backend_identity *ret,
		     struct errbuf *e);
int be_nvme_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e);

/* ---- paths.c: the controllers as the paths of a native multipath volume ---- */
unsigned be_nvme_paths_configured(const void *cfg);
int be_nvme_find_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct backend_path *ret, size_t max, size_t *ret_n, struct errbuf *e);
enum backend_path_transport be_nvme_path_transport(const struct backend_ctx *ctx,
						   struct backend_attachment *a,
						   const struct backend_path *p, char *detail,
						   size_t n);
int be_nvme_add_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
		      struct errbuf *e);
