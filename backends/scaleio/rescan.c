/* SPDX-License-Identifier: Apache-2.0 */
/* Online expand: the SDC learns a new volume size from the MDM by itself; `drv_cfg
 * --rescan` (what os-brick and csi-powerflex run when extending) asks it now. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backends/scaleio/internal.h"
#include "lib/macro.h"

#define SIO_RESCAN_TIMEOUT_MS 30000

int be_sio_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		  const struct backend_device *dev, struct errbuf *e)
{
	const struct backend_scaleio_host *h = &ctx->host->scaleio;
	const char *drv = h->drv_cfg[0] ? h->drv_cfg : "/opt/emc/scaleio/sdc/bin/drv_cfg";
	char *argv[] = {(char *)drv, (char *)"--rescan", NULL};
	_cleanup_free_ char *out = NULL;
	int tmo = ctx->timeout_ms > 0 && ctx->timeout_ms < SIO_RESCAN_TIMEOUT_MS
		      ? ctx->timeout_ms
		      : SIO_RESCAN_TIMEOUT_MS;
	int r;

	r = sys_run(ctx->sys, argv, tmo, &out);
	if (r == -ENOENT)
		return 0; /* no drv_cfg here: the SDC updates sizes on its own */
	if (r < 0)
		return errbuf_set(e, r, "cannot run %s --rescan: %s", drv, strerror(-r));
	if (r != 0)
		return errbuf_set(e, -EIO, "%s --rescan exited %d: %.200s", drv, r, out ? out : "");
	return 0;
}
