/* SPDX-License-Identifier: Apache-2.0 */
/* Online expand: ask every controller of the attachment to rescan its namespaces. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backends/nvme/internal.h"
#include "lib/macro.h"

int be_nvme_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		   const struct backend_device *dev, struct errbuf *e)
{
	size_t n = be_nvme_objs_n(a->objs);
	unsigned done = 0;
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		const json_t *ent = be_nvme_objs_entry(a->objs, i);
		char attr[96];
		unsigned inst;
		int r;

		/* Only a controller that is still the recorded one (a reconnect may have
		 * given its number to another subsystem's). */
		if (!be_nvme_entry_is_ours(ctx->sys, a->objs, ent, &inst))
			continue;
		snprintf(attr, sizeof(attr), "/sys/class/nvme/nvme%u/rescan_controller", inst);
		r = sys_write_sysfs(ctx->sys, attr, "1");
		if (r < 0 && !first)
			first = errbuf_set(e, r, "rescanning nvme%u (%s) failed: %s", inst, attr,
					   strerror(-r));
		else if (r == 0)
			done++;
	}
	if (done == 0 && first < 0)
		return first;
	if (done == 0)
		return errbuf_set(e, -ENODEV,
				  "nvme: no live controller of %s to rescan (every recorded "
				  "controller is gone)",
				  dev ? dev->sysname : "the volume");
	/* The kernel queues the namespace scan: the new capacity shows up later, with a
	 * change uevent on the disk. */
	return 1;
}
