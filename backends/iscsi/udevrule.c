/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Coexistence with multipathd. attachd owns its iSCSI paths and builds its own maps (DM
 * UUID ATTACHD-..., which multipathd ignores: it manages only mpath- maps). multipathd
 * still sees every new SCSI disk through udev, and with find_multipaths greedy/smart/no
 * (not Debian's default strict) it would build an mpath- map over attachd's paths, often
 * before attachd does. So before its first login attachd installs a runtime udev rule
 * (/run/udev/rules.d: gone at reboot, when the sessions are gone too) that gives the SCSI
 * disks of sessions on attachd's iface the property ATTACHD_PATH=<iface>, and multipathd
 * is told to blacklist that property (tools/multipath/attachd.conf in
 * /etc/multipath/conf.d: multipath-tools has no runtime blacklist).
 *
 * Why a property, and why that name: multipathd 0.9.x filters paths by udev property
 * (filter_property, blacklist.c) walking the device's properties in name order and
 * stopping at the first one that matches blacklist_exceptions or blacklist; the built-in
 * exceptions are "(SCSI_IDENT_|ID_WWN)", so a blacklisted property must sort before
 * "ID_" to win: "ATTACHD_PATH" does.
 *
 * Less udev work per path: udev runs every block rule for each of attachd's SCSI disks,
 * though attachd reads only sysfs and its own dm map, never a path's links or udev
 * properties. The rule sets UDEV_DISABLE_PERSISTENT_STORAGE_RULES_FLAG (systemd's switch for
 * 60-persistent-storage.rules and the sg3_utils symlink rules: the by-id/by-path links,
 * scsi_id and the blkid builtin's read of the disk) and OPTIONS:="nowatch" (final, so
 * 60-block.rules' "watch" is ignored: a close after write on the path would otherwise be a
 * change event that runs all of this again). What runs before 59 (sg3_utils' sg_inq of the
 * sysfs VPD copies) and multipath-tools' `multipath -u` have no switch and stay.
 *
 * Why this match: the iface name is an attribute of the session's class device
 * (.../hostH/sessionS/iscsi_session/sessionS/ifacename), not of a parent of the disk, so
 * the rule reads it relative to the "sessionS" parent: while udev walks the parents for
 * KERNELS/ATTRS, %b is the name of the parent being tried.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "lib/fileio.h"
#include "lib/macro.h"

#define UDEVADM "udevadm"
#define RELOAD_TIMEOUT_MS 30000

/* What agent/config.c accepts for iscsi.iface; checked again as it goes into a rule. */
static int iface_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BE_ISCSI_IFACE_MAX || s[0] == '.')
		return 0;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int be_iscsi_udev_rule_format(const char *iface, char *buf, size_t n)
{
	int r;

	if (!iface_ok(iface))
		return -EINVAL;
	r = snprintf(
	    buf, n,
	    "# Written by attachd. The SCSI disks of iSCSI sessions on open-iscsi iface "
	    "%s are attachd's\n"
	    "# paths: multipathd must leave them alone (blacklist { property "
	    "\"^" BE_ISCSI_UDEV_PROPERTY "$\" },\n"
	    "# /etc/multipath/conf.d/attachd.conf). Removed at reboot; rewritten by "
	    "attachd before it logs in.\n"
	    "SUBSYSTEM!=\"block\", GOTO=\"attachd_paths_end\"\n"
	    "ACTION==\"remove\", GOTO=\"attachd_paths_end\"\n"
	    "KERNEL!=\"sd*\", GOTO=\"attachd_paths_end\"\n"
	    "KERNELS==\"session*\", ATTRS{iscsi_session/%%b/ifacename}==\"%s\", "
	    "ENV{" BE_ISCSI_UDEV_PROPERTY "}=\"%s\"\n"
	    "ENV{" BE_ISCSI_UDEV_PROPERTY "}!=\"%s\", GOTO=\"attachd_paths_end\"\n"
	    "# Private paths under attachd's own dm maps: no by-id/by-path links, no blkid\n"
	    "# of the path, no inotify watch (a close after write would replay every rule).\n"
	    "ENV{UDEV_DISABLE_PERSISTENT_STORAGE_RULES_FLAG}=\"1\", OPTIONS:=\"nowatch\"\n"
	    "LABEL=\"attachd_paths_end\"\n",
	    iface, iface, iface, iface);
	return r < 0 || (size_t)r >= n ? -ENOBUFS : 0;
}

int be_iscsi_udev_rule_path(const struct sys *s, const char *iface, char *buf, size_t n)
{
	char rel[160];

	if (!iface_ok(iface))
		return -EINVAL;
	snprintf(rel, sizeof(rel), BE_ISCSI_UDEV_RULES_DIR "/" BE_ISCSI_UDEV_RULE_PREFIX "%s.rules",
		 iface);
	return sys_path(buf, n, s->etc_root, rel) ? 0 : -ENAMETOOLONG;
}

static pthread_mutex_t rule_mutex = PTHREAD_MUTEX_INITIALIZER;

static int rule_ensure_locked(const struct backend_ctx *ctx, struct errbuf *e)
{
	const struct sys *s = ctx->sys;
	const char *iface = be_iscsi_iface(ctx);
	char *reload[] = {UDEVADM, "control", "--reload", NULL};
	_cleanup_free_ char *have = NULL, *out = NULL;
	char want[BE_ISCSI_UDEV_RULE_MAX], path[512], dir[512];
	int r;

	r = be_iscsi_udev_rule_format(iface, want, sizeof(want));
	if (r < 0)
		return errbuf_set(e, r, "iSCSI iface name '%s' cannot be used in a udev rule",
				  iface);
	r = be_iscsi_udev_rule_path(s, iface, path, sizeof(path));
	if (r < 0)
		return errbuf_set(e, r, "udev rule path for iface %s too long", iface);
	r = s->ops->read_file(s, path, &have, 1 << 16);
	if (r == 0 && streq(have, want))
		return 0; /* in place: udevd loaded it when it was written */
	if (r < 0 && r != -ENOENT && r != -ENOTDIR)
		return errbuf_set(e, r, "cannot read attachd's udev rule %s: %s", path,
				  strerror(-r));
	if (!sys_path(dir, sizeof(dir), s->etc_root, BE_ISCSI_UDEV_RULES_DIR))
		return errbuf_set(e, -ENAMETOOLONG, "udev rules directory name too long");
	r = s->ops->mkdir_p(s, dir, 0755);
	if (r >= 0)
		r = write_file_atomic(path, want, strlen(want), 0644);
	if (r < 0)
		return errbuf_set(
		    e, r,
		    "cannot write attachd's udev rule %s (%s): it keeps multipathd "
		    "from taking attachd's iSCSI paths; attachd must run as root with "
		    "a writable /run",
		    path, strerror(-r));
	/* Loaded before the login that follows: udevd's own check of the rules directories
	 * runs at most every 3 s, a disk scanned sooner would miss the rule. */
	r = sys_run(s, reload, RELOAD_TIMEOUT_MS, &out);
	if (r == 0)
		return 0;
	if (r > 0)
		return errbuf_set(e, -EIO,
				  "udevadm control --reload failed (exit %d: %.200s) after writing "
				  "%s: is systemd-udevd running? attachd's iSCSI disks need it",
				  r, out ? out : "", path);
	return errbuf_set(e, r, "could not run udevadm control --reload: %s%s", strerror(-r),
			  r == -ENOENT ? " (install udev)" : "");
}

int be_iscsi_udev_rule_ensure(const struct backend_ctx *ctx, struct errbuf *e)
{
	int r;

	pthread_mutex_lock(&rule_mutex);
	r = rule_ensure_locked(ctx, e);
	pthread_mutex_unlock(&rule_mutex);
	return r;
}
