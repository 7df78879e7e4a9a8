/* SPDX-License-Identifier: Apache-2.0 */
/* Online expand: make the kernel re-read a grown LUN's capacity, one SCSI disk (path) at a
 * time. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backends/iscsi/internal.h"
#include "lib/macro.h"

int be_iscsi_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		    const struct backend_device *dev, struct errbuf *e)
{
	char attr[128];
	int r;

	if (!dev || !startswith(dev->sysname, "sd") || strchr(dev->sysname, '/'))
		return errbuf_set(e, -EINVAL, "iscsi: '%s' is not a SCSI disk",
				  dev ? dev->sysname : "");
	/* /sys/block/sdX/device is the SCSI device (/sys/class/scsi_device/H:C:T:L/device):
	 * writing its rescan runs READ CAPACITY and revalidates the disk before returning, so
	 * the new size is in /sys/block/sdX/size when the write is done. */
	snprintf(attr, sizeof(attr), "/sys/block/%s/device/rescan", dev->sysname);
	r = sys_write_sysfs(ctx->sys, attr, "1");
	if (r == -ENOENT || r == -ENXIO || r == -ENODEV)
		return errbuf_set(e, -ENODEV, "%s is gone (no %s)", dev->sysname, attr);
	if (r < 0)
		return errbuf_set(e, r, "rescanning %s (%s) failed: %s", dev->sysname, attr,
				  strerror(-r));
	return 0;
}
