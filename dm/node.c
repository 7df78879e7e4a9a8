/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /dev/mapper/<name> for attachd's dm devices, made and removed by attachd itself (it does
 * not wait for udev: see the top of dmap.c). Plain filesystem calls, no libdm.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dm/internal.h"

/* /dev/mapper/<name> for the device major:minor, as udev's 55-dm.rules lays it out: a link
 * to ../dm-<minor>, the node the kernel's devtmpfs made while the create ioctl ran. Without
 * such a node (a /dev that is not devtmpfs) a block node instead, as libdm makes it. A
 * stale entry of that name is replaced. 0 or a negative errno. */
int dmap_node_make(const char *name, unsigned major, unsigned minor)
{
	char path[sizeof(DMAP_MAPPER_DIR) + DMAP_NAME_MAX + 2], kname[32], dmnode[48];
	dev_t want = makedev(major, minor);
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", DMAP_MAPPER_DIR, name);
	/* stat follows the link: fine when it leads to this device. */
	if (stat(path, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == want)
		return 0;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	if (mkdir(DMAP_MAPPER_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(kname, sizeof(kname), "../dm-%u", minor);
	snprintf(dmnode, sizeof(dmnode), "/dev/dm-%u", minor);
	if (stat(dmnode, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == want) {
		if (symlink(kname, path) < 0 && errno != EEXIST)
			return -errno;
		return 0;
	}
	if (mknod(path, S_IFBLK | 0600, want) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Remove /dev/mapper/<name> once the device behind it is gone: our node for the old
 * major:minor, or a link that no longer leads to a block device (devtmpfs took dm-N away
 * with the device). */
void dmap_node_drop(const char *name, unsigned major, unsigned minor)
{
	char path[sizeof(DMAP_MAPPER_DIR) + DMAP_NAME_MAX + 2];
	struct stat st, target;

	snprintf(path, sizeof(path), "%s/%s", DMAP_MAPPER_DIR, name);
	if (lstat(path, &st) < 0)
		return;
	if (S_ISBLK(st.st_mode) ? st.st_rdev == makedev(major, minor)
				: S_ISLNK(st.st_mode) && (stat(path, &target) < 0 ||
							  target.st_rdev == makedev(major, minor)))
		(void)unlink(path);
}
