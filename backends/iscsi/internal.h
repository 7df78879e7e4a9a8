/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iscsi backend internals, shared by the files of backends/iscsi/ and by its unit tests.
 *
 *   options.c   parse/validate the Create options (pure), describe, free
 *   scsi.c      pure decoders: REPORT LUNS, READ CAPACITY, VPD 0x83 -> kernel-style WWID,
 *               libiscsi error strings, WWID normalisation
 *   probe.c     pre-flight through libiscsi (async API in our own poll loop, deadline)
 *   preflight.c when our logged-in session proves what that pre-flight would (no login)
 *   iscsiadm.c  iface, login/logout through iscsiadm; our node records' settings
 *   noderec.c   node record files by our own hand (write, CHAP, remove, lock)
 *   lock.c      process-wide node-DB mutex and per-(portal, target) mutexes
 *   sysfs.c     sessions, SCSI hosts and devices as the kernel shows them
 *   iscsi.c     the ops table: connect / find_device / identify / disconnect, objs record,
 *               add_paths
 *   paths.c     multipath: find_paths (WWID check), path_transport
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "lib/err.h"
#include "lib/sys.h"

#define BE_ISCSI_MAX_PORTALS 8
#define BE_ISCSI_NAME_MAX 223 /* RFC 3720 §3.2.6.1: iSCSI names are at most 223 bytes */
#define BE_ISCSI_HOST_MAX 253 /* DNS name limit; also fits any IPv6 literal */
#define BE_ISCSI_CHAP_MAX 255
#define BE_ISCSI_LUN_MAX 16383 /* 14-bit flat space addressing */
#define BE_ISCSI_DEFAULT_PORT 3260
/* "[" host "]:" port: room for any portal we format */
#define BE_ISCSI_PORTAL_STR_MAX (BE_ISCSI_HOST_MAX + 10)

struct be_iscsi_portal {
	char host[BE_ISCSI_HOST_MAX + 1]; /* IPv4, hostname, or IPv6 without brackets */
	unsigned port;
	int is_ipv6;
};

/* One configured path: a target's name on one of its portals. */
struct be_iscsi_target {
	struct be_iscsi_portal portal;
	char iqn[BE_ISCSI_NAME_MAX + 1];
};

_Static_assert(BE_ISCSI_MAX_PORTALS <= BACKEND_MAX_PATHS, "a path per portal");

struct be_iscsi_cfg {
	/* 'portal'/'portals' + 'iqn': one target on these portals ('targets' empty) */
	struct be_iscsi_portal portals[BE_ISCSI_MAX_PORTALS];
	unsigned n_portals;
	/* 'iqn', or with 'targets' the lowest of their names (the LU's stable identity for
	 * describe and for messages that concern the volume as a whole) */
	char iqn[BE_ISCSI_NAME_MAX + 1];
	/* Every path the volume is configured with, in the order given: portals x iqn, or the
	 * 'targets' list (arrays that give each port its own IQN). */
	struct be_iscsi_target paths[BE_ISCSI_MAX_PORTALS];
	unsigned n_paths;
	int has_targets; /* configured with 'targets' */
	unsigned lun;
	char wwid[256]; /* normalised (see be_iscsi_wwid_normalize), "" = not given */
	char chap_user[BE_ISCSI_CHAP_MAX + 1];
	char chap_secret[BE_ISCSI_CHAP_MAX + 1]; /* never copied into errbuf/objs */
};

/* ---- options.c ---- */
/* c for path i: a copy whose iqn is that path's target (what connect and probe pass to
 * the per-target helpers). The caller wipes ret->chap_secret when done. */
void be_iscsi_cfg_for_path(const struct be_iscsi_cfg *c, unsigned i, struct be_iscsi_cfg *ret);
int be_iscsi_parse(const json_t *opts, void **ret_cfg, struct errlist *el);
void be_iscsi_free_cfg(void *cfg);
int be_iscsi_describe(const void *cfg, char *buf, size_t n);
/* "host[:port]" / "[v6][:port]" -> portal. On -EINVAL, why (may be NULL) says what is wrong. */
int be_iscsi_portal_parse(const char *s, struct be_iscsi_portal *ret, char *why, size_t n);
/* "host:port", "[v6]:port": the form iscsiadm -p and libiscsi take. */
int be_iscsi_portal_format(const struct be_iscsi_portal *p, char *buf, size_t n);
/* iqn.YYYY-MM.reverse.domain[:suffix], eui.<16 hex>, naa.<16|32 hex>. */
int be_iscsi_name_is_valid(const char *s);

/* ---- scsi.c (pure) ---- */
struct be_iscsi_lun {
	unsigned number;     /* LUN as the array numbers it (address method bits removed) */
	unsigned kernel_lun; /* first level as Linux scsilun_to_int() sees it: the L in H:C:T:L */
};
/* Decode REPORT LUNS parameter data. Fills at most max entries; *ret_n the count filled,
 * *ret_needed the allocation length the whole list needs (to re-issue when larger). */
int be_iscsi_report_luns_parse(const uint8_t *d, size_t len, struct be_iscsi_lun *luns, size_t max,
			       size_t *ret_n, size_t *ret_needed);
/* The kernel LUN for a LUN number when the array's encoding is not known: peripheral
 * addressing below 256, flat space addressing above (SAM-5 recommendation). */
unsigned be_iscsi_kernel_lun(unsigned number);
/* READ CAPACITY(16)/(10) parameter data -> size in bytes. -EINVAL when too short. */
int be_iscsi_readcap16_size(const uint8_t *d, size_t len, uint64_t *ret_bytes);
int be_iscsi_readcap10_size(const uint8_t *d, size_t len, uint64_t *ret_bytes);
/* VPD page 0x83 -> the string Linux shows in /sys/block/sdX/device/wwid (same designator
 * choice and formatting as the kernel's scsi_vpd_lun_id()), then normalised.
 * -ENODATA when no designator for the logical unit qualifies. */
int be_iscsi_vpd83_wwid(const uint8_t *d, size_t len, char *buf, size_t n);
/* Normalise a WWID for comparison: cut at the first NUL (SCSI name strings are NUL-padded
 * in sysfs), strip trailing whitespace (T10 ids are space-padded and sysfs adds "\n"),
 * lower-case the hex of naa./eui. ids, and map udev's numeric form ("3<hex>" -> "naa.",
 * "2<hex>" -> "eui."). -EINVAL when the result is empty or too long. */
int be_iscsi_wwid_normalize(const char *in, char *buf, size_t n);
/* Is this (already normalised) WWID one of the forms a user may give? */
int be_iscsi_wwid_is_valid(const char *w);

/* What a libiscsi error string says: the errno of a failed TCP connect (0 if none) and the
 * iSCSI login status class/detail as (class << 8 | detail) (-1 if none). */
void be_iscsi_libiscsi_error_parse(const char *msg, int *ret_errno, int *ret_login_status);

/* Comma list of LUN numbers ("0,1,2"; "none" when empty), truncated with "..." */
void be_iscsi_format_luns(const struct be_iscsi_lun *luns, size_t n, char *buf, size_t len);

/* ---- probe.c ---- */
int be_iscsi_probe(const struct backend_ctx *ctx, struct backend_attachment *a,
		   struct backend_identity *ret, struct errbuf *e);
/* InitiatorName from host config or <etc_root>/etc/iscsi/initiatorname.iscsi. */
int be_iscsi_initiator_name(const struct backend_ctx *ctx, char *buf, size_t n, struct errbuf *e);
/* Parse the text of initiatorname.iscsi. -ENOENT when there is no InitiatorName= line. */
int be_iscsi_initiator_name_parse(const char *text, char *buf, size_t n);

/* ---- lock.c ---- */
/* Serialises iscsiadm calls that write the node DB (open-iscsi's own lock is a link()
 * spin lock that corrupts records under parallel writers). */
void be_iscsi_db_lock(void);
void be_iscsi_db_unlock(void);
/* Serialises connect/disconnect per (portal, target): a detach's "last LUN gone ->
 * logout" decision must not interleave with another volume's login+scan. Blocks. */
struct be_iscsi_target_lock;
struct be_iscsi_target_lock *be_iscsi_target_lock(const char *portal, const char *iqn);
void be_iscsi_target_unlock(struct be_iscsi_target_lock *l);

/* ---- iscsiadm.c ---- */
/* Exit codes from open-iscsi's include/iscsi_err.h that change what we do. */
enum {
	BE_ISCSIADM_ERR_LOGIN = 5,
	BE_ISCSIADM_ERR_IDBM = 6,
	BE_ISCSIADM_ERR_TRANS_TIMEOUT = 8,
	BE_ISCSIADM_ERR_SESS_EXISTS = 15,
	BE_ISCSIADM_ERR_ISCSID_COMM = 18,
	BE_ISCSIADM_ERR_FATAL_LOGIN = 19,
	BE_ISCSIADM_ERR_ISCSID_NOTCONN = 20,
	BE_ISCSIADM_ERR_NO_OBJS_FOUND = 21,
	BE_ISCSIADM_ERR_LOGIN_AUTH_FAILED = 24,
};
/* What we set on node records we log in with (derived from the call budget). */
struct be_iscsi_node_tuning {
	unsigned login_timeout_s;
	unsigned login_retry_max;
	unsigned replacement_timeout_s;
	/* multipath only (0: the record keeps iscsid.conf's values) */
	unsigned noop_out_interval_s, noop_out_timeout_s;
	unsigned logout_timeout_s;
};
/* multipath: the volume has more than one configured path; its sessions then fail I/O to
 * dm-multipath after 5 s of lost connection (multipath-tools' recommendation) and log out
 * of a dead target without waiting iscsid's 15 s. */
void be_iscsi_node_tuning_for(int timeout_ms, int multipath, struct be_iscsi_node_tuning *ret);
/* The open-iscsi iface our node records and sessions use by default (agent config
 * iscsi.iface overrides it; two agents on one host use two); see iscsiadm.c. */
#define BE_ISCSI_IFACE "attachd"
/* iscsi.iface: [A-Za-z0-9._-]{1,63} (sysfs ifacename and flat-record buffers are 64) */
#define BE_ISCSI_IFACE_MAX 63
/* The iface this agent uses: ctx->host->iscsi_iface, or BE_ISCSI_IFACE when unset. */
static inline const char *be_iscsi_iface(const struct backend_ctx *ctx)
{
	return ctx && ctx->host && ctx->host->iscsi_iface[0] ? ctx->host->iscsi_iface
							     : BE_ISCSI_IFACE;
}
/* The portal group tag our records are made with (see be_iscsi_node_create). */
#define BE_ISCSI_RECORD_TPGT 1
/* Create (or keep) iface BE_ISCSI_IFACE (tcp, defaults) with the agent's initiator name if
 * one is configured. Before any node-mode call naming it. Caller holds the DB lock. */
int be_iscsi_iface_ensure(const struct backend_ctx *ctx, struct errbuf *e);
/* The runtime udev rule that marks the SCSI disks of our iface's sessions with
 * BE_ISCSI_UDEV_PROPERTY=<iface>, for multipathd to blacklist (udevrule.c). The directory
 * is under sys->etc_root (a fixture root in tests; "" on a host). */
#define BE_ISCSI_UDEV_RULES_DIR "/run/udev/rules.d"
#define BE_ISCSI_UDEV_RULE_PREFIX "59-attachd-paths-"
#define BE_ISCSI_UDEV_PROPERTY "ATTACHD_PATH"
/* Room for the rule's text with the longest iface name. */
#define BE_ISCSI_UDEV_RULE_MAX 2048
/* The rule's text for iface into buf. -EINVAL for a name a rule cannot carry, -ENOBUFS. */
int be_iscsi_udev_rule_format(const char *iface, char *buf, size_t n);
/* The rule file's path for iface (under s->etc_root). */
int be_iscsi_udev_rule_path(const struct sys *s, const char *iface, char *buf, size_t n);
/* Install the rule for our iface unless the file already holds it, then make udevd load it
 * (udevadm control --reload), so a disk scanned after this returns is marked. Before any
 * login. Thread-safe; blocks for udevadm (bounded). */
int be_iscsi_udev_rule_ensure(const struct backend_ctx *ctx, struct errbuf *e);
/* Write our node record for (cfg's target, portal) whole, by our own hand (noderec.c):
 * iscsid.conf's node.* and our iface's settings as `iscsiadm -o new` would copy them, a
 * TPGT (one file per iface), node.startup and node.session.scan manual, the timeouts, CHAP
 * (never in argv). *ret_created: no record of ours was there. -EEXIST, changing nothing,
 * when somebody else's record for this target and portal is in the old flat layout.
 * Caller holds the DB lock; no process runs. */
int be_iscsi_node_write(const struct backend_ctx *ctx, const char *portal,
			const struct be_iscsi_cfg *cfg, int *ret_created, struct errbuf *e);
/* --login. 0 logged in, 1 a session already existed (exit 15), or a negative errno. */
int be_iscsi_node_login(const struct backend_ctx *ctx, const char *portal, const char *iqn,
			struct errbuf *e);
/* --logout of our record's sessions; exit 21 (none) is success. An admin's session on
 * another iface is not ours to end and stays. */
int be_iscsi_node_logout(const struct backend_ctx *ctx, const char *portal, const char *iqn,
			 struct errbuf *e);
/* Remove our record files by hand (be_iscsi_noderec_remove); none is success. Caller holds
 * the DB lock. */
int be_iscsi_node_delete(const struct backend_ctx *ctx, const char *portal, const char *iqn,
			 struct errbuf *e);

/* ---- noderec.c ---- */
/* open-iscsi's own node DB lock (link() of /run/lock/iscsi/lock to lock.write, under
 * sys->etc_root), waited for up to timeout_ms. Never held while iscsiadm runs. */
int be_iscsi_noderec_lock(const struct sys *s, int timeout_ms, struct errbuf *e);
void be_iscsi_noderec_unlock(const struct sys *s);
struct be_iscsi_noderec_kv {
	const char *key, *value;
};
/* Pure: the value of key in record text, as idbm reads it (spaces around stripped; the
 * last line wins). -ENOENT when absent. */
int be_iscsi_noderec_get(const char *text, const char *key, char *buf, size_t n);
/* Pure: record text with every line of the given keys replaced by "key = value" lines
 * (put before "# END RECORD", else at the end). *ret is malloc'ed. */
int be_iscsi_noderec_edit(const char *text, const struct be_iscsi_noderec_kv *set, size_t n_set,
			  char **ret);
/* Pure: the text of our record: iscsid.conf's node.* lines (conf), the iface file's
 * iface.* lines, then set (replacing any line of those keys). *ret is malloc'ed and may
 * hold secrets: wipe it before freeing. */
int be_iscsi_noderec_build(const char *conf, const char *iface_text,
			   const struct be_iscsi_noderec_kv *set, size_t n_set, char **ret);
/* Write our record nodes/<iqn>/<addr>,<port>,BE_ISCSI_RECORD_TPGT/<iface> whole (the text
 * be_iscsi_noderec_build makes from <etc_root>/etc/iscsi/iscsid.conf, missing = compiled
 * defaults, and <etc_root>/etc/iscsi/ifaces/<iface>, which must exist) under open-iscsi's
 * lock, atomically, mode 0600, read back. Our records of the target and portal in other
 * files (flat, other tags) are removed; nobody else's is touched. *ret_created: the file
 * was not there. Values never appear in argv or e. Caller holds the DB lock. */
int be_iscsi_noderec_write(const struct backend_ctx *ctx, const char *iqn, const char *addr,
			   unsigned port, const struct be_iscsi_noderec_kv *set, size_t n_set,
			   int *ret_created, struct errbuf *e);
/* Remove our record file(s) nodes/<iqn>/<addr>,<port>,<tpgt>/BE_ISCSI_IFACE (checked by
 * content) by hand, under open-iscsi's lock, for when iscsiadm -o delete would also
 * delete somebody else's flat record. 0 when none is left. Caller holds the DB lock. */
int be_iscsi_noderec_remove(const struct backend_ctx *ctx, const char *iqn, const char *addr,
			    unsigned port, struct errbuf *e);
/* A record in open-iscsi's old flat layout for (iqn, addr, port) (nodes/<iqn>/<addr>,<port>,
 * one file whatever the iface): 1 and its iface name, 0 when there is none. */
int be_iscsi_noderec_flat_iface(const struct sys *s, const char *iqn, const char *addr,
				unsigned port, char *ret_iface, size_t n);

/* Pure: does record text log in with exactly these credentials? user "" = no CHAP (the
 * record's authmethod must be None, idbm's default when absent); else CHAP with this user
 * and secret. 1 yes, 0 no (or cannot tell). */
int be_iscsi_noderec_auth_is(const char *text, const char *user, const char *secret);
/* The same for our record of (iqn, addr:port) on our iface (nodes/<iqn>/<addr>,<port>,
 * BE_ISCSI_RECORD_TPGT/<iface>, checked by content): 1 yes, 0 no, -ENOENT no such record,
 * another negative errno when it cannot be read. No process, no lock (our writer renames
 * whole files into place); the secret is wiped from memory after the comparison. */
int be_iscsi_noderec_auth_matches(const struct backend_ctx *ctx, const char *iqn, const char *addr,
				  unsigned port, const char *user, const char *secret);

/* ---- sysfs.c ---- */
/* Same address? Numeric forms are compared as addresses ("::1" == "0:0::1"), names
 * case-insensitively. */
int be_iscsi_addr_equal(const char *a, const char *b);
/* "H:C:T:L", four decimal numbers of at most 10 digits each and nothing else (a record's
 * hctl is checked with this before any part of it goes into a path). Outputs may be NULL. */
int be_iscsi_hctl_parse(const char *s, unsigned *ret_h, unsigned *ret_c, unsigned *ret_t,
			unsigned *ret_l);
/* The kernel session logged in to iqn at addr:port (addr numeric, compared as addresses)
 * through the open-iscsi iface named iface (sysfs ifacename): sessions on any other iface
 * are not seen. The lowest session number if several. -ENOENT when none. */
int be_iscsi_sysfs_find_session(const struct sys *s, const char *iqn, const char *addr,
				unsigned port, const char *iface, unsigned *ret_session);
/* SCSI host number of a session (the hostH directory it hangs under). */
int be_iscsi_sysfs_session_host(const struct sys *s, unsigned session, unsigned *ret_host);
/* The session's SCSI target id (iscsi_tcp uses 0; read from the target_id attribute). */
int be_iscsi_sysfs_session_target_id(const struct sys *s, unsigned session, unsigned *ret_id);
/* "LOGGED_IN", "FAILED", "FREE" (iscsi_session_state_name()). */
int be_iscsi_sysfs_session_state(const struct sys *s, unsigned session, char *buf, size_t n);
/* Number of SCSI devices (H:C:T:L) the kernel has on this session. */
int be_iscsi_sysfs_session_count_devices(const struct sys *s, unsigned session, unsigned *ret_n);
/* The H:C:T:L of the SCSI device with LUN lun (the L) on this session. -ENOENT none. */
int be_iscsi_sysfs_session_lun(const struct sys *s, unsigned session, unsigned lun, char *buf,
			       size_t n);
/* WWID (VPD 0x83 as the kernel shows it in .../H:C:T:L/wwid, normalised) of a SCSI device
 * of this session, read through the session's directory so that a device of another
 * session never answers. -ENODATA when it has none, -ENOENT when no such device. */
int be_iscsi_sysfs_session_lun_wwid(const struct sys *s, unsigned session, const char *hctl,
				    char *buf, size_t n);
/* Delete a SCSI device of this session (write "1" to its delete attribute through the
 * session's directory). 0 when it is gone (or was already). */
int be_iscsi_sysfs_session_lun_delete(const struct sys *s, unsigned session, const char *hctl);
/* 1 if /sys/class/scsi_device/<hctl> exists, 0 if not. */
int be_iscsi_sysfs_hctl_exists(const struct sys *s, const char *hctl);
/* Block device name of a SCSI device: -ENOENT no such SCSI device, -EAGAIN the SCSI
 * device exists but its disk is not registered yet. */
int be_iscsi_sysfs_hctl_block(const struct sys *s, const char *hctl, char *buf, size_t n);
int be_iscsi_sysfs_block_devnum(const struct sys *s, const char *name, unsigned *ret_major,
				unsigned *ret_minor);
/* WWID (normalised; "" when the device has none) and size of /sys/block/<name>. */
int be_iscsi_sysfs_block_identity(const struct sys *s, const char *name,
				  struct backend_identity *ret);
/* Did the kernel's session log in with these CHAP credentials (its username and password
 * attributes, which iscsid sets at login; root only)? user "" = none: both attributes
 * empty. 1 yes, 0 no, a negative errno when they cannot be read. */
int be_iscsi_sysfs_session_auth_is(const struct sys *s, unsigned session, const char *user,
				   const char *secret);
/* SCSI peripheral device type of a SCSI device of this session (0 = disk). */
int be_iscsi_sysfs_session_lun_type(const struct sys *s, unsigned session, const char *hctl,
				    unsigned *ret_type);
/* Targeted scan of one LUN on a host: writes "C T L" to scsi_host/hostH/scan. */
int be_iscsi_sysfs_scan(const struct sys *s, unsigned host, unsigned channel, unsigned target,
			unsigned lun);

/* ---- preflight.c ---- */
/* The objs key be_iscsi_probe sets when it answered from our session (ctx->preflight):
 * connect then proves the LUN by the targeted scan, and removes the key. */
#define BE_ISCSI_OBJS_PREFLIGHT "preflight"
/* Can the plan step skip the libiscsi probe for this volume? 1 when every configured path
 * has a session of ours (our iface) to its target and portal that is LOGGED_IN, whose node
 * record and whose kernel session both show exactly the volume's credentials, and on which
 * the kernel has no SCSI device for LUN klun yet (a fresh scan makes one, its identity read
 * from the LU then). 0 otherwise (the probe runs), never an error. sysfs and one file per
 * path; no process, no I/O to the array (a portal given by name is resolved, as connect
 * does). */
int be_iscsi_session_proves(const struct backend_ctx *ctx, const struct be_iscsi_cfg *c,
			    unsigned klun);

/* ---- iscsi.c ---- */
/* Numeric address of a portal's host (DNS for a name): what sysfs and our records show. */
int be_iscsi_portal_resolve(const struct be_iscsi_portal *p, struct be_iscsi_portal *ret,
			    struct errbuf *e);
int be_iscsi_connect(const struct backend_ctx *ctx, struct backend_attachment *a, struct errbuf *e);
int be_iscsi_find_device(const struct backend_ctx *ctx, struct backend_attachment *a,
			 struct backend_device *ret, struct errbuf *e);
/* rescan.c: backend_ops.rescan (SCSI rescan of one path's disk). */
int be_iscsi_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		    const struct backend_device *dev, struct errbuf *e);
int be_iscsi_identify(const struct backend_ctx *ctx, struct backend_attachment *a,
		      const struct backend_device *dev, struct backend_identity *ret,
		      struct errbuf *e);
int be_iscsi_disconnect(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct errbuf *e);
/* A path entry of the record, checked (the whole record's shape too): its portal, the kernel
 * LUN (objs scsi_lun, else the recorded hctl's; *ret_has_lun 0 when neither). -EINVAL with
 * e set when the record is damaged. */
int be_iscsi_path_decode(const struct backend_attachment *a, const json_t *path,
			 struct be_iscsi_portal *ret_pt, unsigned *ret_lun, int *ret_has_lun,
			 struct errbuf *e);
/* The SCSI device (H:C:T:L) of LUN klun on our session for a path entry, updating the
 * entry's session/host/hctl when the kernel renumbered them. -ENOENT while there is none. */
int be_iscsi_path_locate(const struct backend_ctx *ctx, json_t *path, unsigned klun, char *hctl,
			 size_t n, unsigned *ret_sid);
/* paths.c. multipath (backend.h): paths = cfg->n_paths; a path is LUN scsi_lun on our session for
 * one (portal, target), its disk the volume's WWID */
unsigned be_iscsi_paths_configured(const void *cfg);
int be_iscsi_find_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
			struct backend_path *ret, size_t max, size_t *ret_n, struct errbuf *e);
enum backend_path_transport be_iscsi_path_transport(const struct backend_ctx *ctx,
						    struct backend_attachment *a,
						    const struct backend_path *p, char *detail,
						    size_t n);
int be_iscsi_add_paths(const struct backend_ctx *ctx, struct backend_attachment *a,
		       struct errbuf *e);
