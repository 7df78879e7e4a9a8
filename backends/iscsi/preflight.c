/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When the plan step may skip the libiscsi probe. The probe is a whole iSCSI login, REPORT
 * LUNS, INQUIRY, READ CAPACITY, VPD 0x83 and logout: the most work attachd adds to an
 * attach, done again for each of the 32 LUNs of a target attached at once. What it proves,
 * our own kernel session already proves when it is there:
 *
 * - the portal answers and serves the target, and lets this initiator in (the session is
 *   LOGGED_IN on our iface, for this target and portal: found in sysfs as connect does);
 * - the volume's credentials are good: only when the session logged in with exactly the
 *   volume's. Both our node record (what iscsiadm --login handed iscsid) and the kernel's
 *   session (its username/password attributes, set by iscsid at login) must show them; a
 *   volume with other CHAP credentials, or none where the session has some, or a session
 *   whose credentials cannot be read, gets the probe. A volume never rides on a session
 *   whose credentials it did not prove.
 * - the LUN is there and is a disk, with this WWID and size: the targeted scan on our
 *   session is synchronous (the SCSI device exists on return when the target has the LUN;
 *   the kernel sent INQUIRY and read VPD 0x83 for it), so connect checks the LUN's
 *   presence and type in sysfs right after it (be_iscsi_connect), find_device records the
 *   WWID the kernel read, and identify reads the size. That holds only for a device the
 *   scan makes: one already there keeps what the kernel read when it was made (the array
 *   may since have put another LU behind that LUN number), so a SCSI device already present
 *   for the LUN on the session means the probe runs.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

static int path_proves(const struct backend_ctx *ctx, const struct be_iscsi_cfg *c, unsigned i,
		       unsigned klun)
{
	const struct sys *s = ctx->sys;
	struct be_iscsi_portal pt;
	struct errbuf ignore;
	char state[32], hctl[64];
	unsigned sid;

	if (be_iscsi_portal_resolve(&c->paths[i].portal, &pt, &ignore) < 0)
		return 0;
	if (be_iscsi_sysfs_find_session(s, c->paths[i].iqn, pt.host, pt.port, be_iscsi_iface(ctx),
					&sid) < 0)
		return 0;
	if (be_iscsi_sysfs_session_state(s, sid, state, sizeof(state)) < 0 ||
	    !streq(state, "LOGGED_IN"))
		return 0;
	if (be_iscsi_sysfs_session_lun(s, sid, klun, hctl, sizeof(hctl)) != -ENOENT)
		return 0;
	if (be_iscsi_noderec_auth_matches(ctx, c->paths[i].iqn, pt.host, pt.port, c->chap_user,
					  c->chap_secret) != 1)
		return 0;
	return be_iscsi_sysfs_session_auth_is(s, sid, c->chap_user, c->chap_secret) == 1;
}

int be_iscsi_session_proves(const struct backend_ctx *ctx, const struct be_iscsi_cfg *c,
			    unsigned klun)
{
	if (c->n_paths == 0)
		return 0;
	for (unsigned i = 0; i < c->n_paths; i++)
		if (!path_proves(ctx, c, i, klun))
			return 0;
	return 1;
}
