/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Format safety. `blkid` exit 2 means both "blank" and "could not read" (kubernetes
 * #142243), so we use libblkid's safe probe directly: only "nothing found" (1) allows
 * mkfs; any signature or any error means never format.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach/internal.h"

int attach_fs_probe(const char *devnode, char *what, size_t n, struct errbuf *e)
{
	blkid_probe pr;
	const char *type = NULL, *pttype = NULL, *usage = NULL;
	int fd, r;

	fd = open(devnode, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(e, negative_errno(), "cannot open %s to look for a filesystem: %m",
				  devnode);
	pr = blkid_new_probe();
	if (!pr) {
		close(fd);
		return -ENOMEM;
	}
	r = blkid_probe_set_device(pr, fd, 0, 0);
	if (r == 0) {
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE);
		blkid_probe_enable_partitions(pr, 1);
		blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
		r = blkid_do_safeprobe(pr);
	}
	if (r == 0) {
		blkid_probe_lookup_value(pr, "TYPE", &type, NULL);
		blkid_probe_lookup_value(pr, "PTTYPE", &pttype, NULL);
		blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
		if (type)
			snprintf(what, n, "%s", type);
		else if (pttype)
			snprintf(what, n, "%s partition table", pttype);
		else if (usage)
			snprintf(what, n, "a %s signature", usage);
		else
			snprintf(what, n, "an unrecognised signature");
	}
	blkid_free_probe(pr);
	close(fd);
	if (r == 1)
		return PROBE_BLANK;
	if (r == 0)
		return PROBE_FOUND;
	if (r == -2)
		return errbuf_set(e, -EUCLEAN,
				  "%s carries several conflicting signatures (ambiguous probe); "
				  "refusing to format or mount it",
				  devnode);
	return errbuf_set(e, -EIO, "could not read %s to check for existing data; refusing to format",
			  devnode);
}

int attach_fs_mkfs(const struct sys *s, const char *fs, const char *devnode, int timeout_ms,
		   struct errbuf *e)
{
	/* nodiscard: a discard pass over a big LUN dominates mkfs time (Synology CSI #25);
	 * lazy_itable_init lets the kernel zero inode tables in the background.
	 * lazy_journal_init is not used: it is only safe on never-written volumes. */
	char *ext4[] = { "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard,lazy_itable_init=1",
			 (char *)devnode, NULL };
	char *xfs[] = { "mkfs.xfs", "-q", "-K", (char *)devnode, NULL };
	_cleanup_free_ char *out = NULL;
	int r;

	if (strcmp(fs, "ext4") && strcmp(fs, "xfs"))
		return errbuf_set(e, -EINVAL, "unsupported filesystem %s", fs);
	r = sys_run(s, strcmp(fs, "xfs") ? ext4 : xfs, timeout_ms, &out);
	if (r == -ETIMEDOUT)
		return errbuf_set(e, r, "mkfs.%s on %s did not finish within %d s", fs, devnode,
				  timeout_ms / 1000);
	if (r < 0)
		return errbuf_set(e, r, "cannot run mkfs.%s: %s", fs, strerror(-r));
	if (r != 0) {
		size_t l = out ? strlen(out) : 0;

		while (l > 0 && out[l - 1] == '\n')
			out[--l] = 0;
		return errbuf_set(e, -EIO, "mkfs.%s %s failed (exit %d): %.300s", fs, devnode, r,
				  out ? out : "");
	}
	return 0;
}
