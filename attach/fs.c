/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Format safety. `blkid` exit 2 means both "blank" and "could not read" (kubernetes
 * #142243), so we use libblkid's safe probe directly. A device is blank only when libblkid
 * finds no signature of any kind AND its first and last MiB read back as zeroes: newer
 * libblkid versions drop a superblock whose checksum does not match unless
 * BLKID_SUBLKS_BADCSUM is set (a damaged ext4 that e2fsck could repair would count as
 * "nothing"), and raw data without any signature (a database device, a volume mapped by
 * mistake) has nothing for libblkid to find at all. Safety must not depend on the
 * library's version, so the zero check is ours. Any error means never format.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "attach/internal.h"
#include "lib/macro.h"

#define ZERO_SPAN (1024 * 1024)
#define IO_ALIGN 4096

/* Read n bytes at off completely; a short read is an error (-EIO): a device that cannot
 * give back what it claims to hold is not provably blank. */
static int read_exact(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		done += (size_t)k;
	}
	return 0;
}

/* CRC-32C (Castagnoli), reflected, without the final inversion (as ext4 and xfs use it). */
static uint32_t crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & -(crc & 1));
	}
	return crc;
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/*
 * libblkid before 2.39 does not verify superblock checksums, so SBBADCSUM never appears
 * there: check the two filesystems we make ourselves. 1 when the checksum is present and
 * wrong, 0 otherwise (no checksum feature, or it matches, or the read fails: the caller
 * refuses anyway, since a signature was found).
 */
static int sb_checksum_is_bad(int fd, const char *type)
{
	unsigned char sb[32768];

	if (!strcmp(type, "ext4") || !strcmp(type, "ext3") || !strcmp(type, "ext2")) {
		/* Superblock at 1024; metadata_csum (ro_compat 0x400) with crc32c (type 1):
		 * s_checksum (0x3fc) = crc32c(~0, the 1020 bytes before it). */
		if (read_exact(fd, sb, 1024, 1024) < 0 || !(le32(sb + 0x64) & 0x400) ||
		    sb[0x175] != 1)
			return 0;
		return crc32c(~0u, sb, 0x3fc) != le32(sb + 0x3fc);
	}
	if (!strcmp(type, "xfs")) {
		unsigned sect;

		/* v5 superblock: sb_crc (224, le32) = ~crc32c(~0, the sector with sb_crc
		 * zeroed). */
		if (read_exact(fd, sb, 512, 0) < 0 || (be16(sb + 100) & 0xf) != 5)
			return 0;
		sect = be16(sb + 102);
		if (sect < 512 || sect > sizeof(sb) ||
		    (sect > 512 && read_exact(fd, sb, sect, 0) < 0))
			return 0;
		{
			uint32_t want = le32(sb + 224);

			memset(sb + 224, 0, 4);
			return ~crc32c(~0u, sb, sect) != want;
		}
	}
	return 0;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int attach_fs_sb_parse(const unsigned char *sb, size_t n, const char *fs, uint64_t *ret_bytes,
		       uint64_t *ret_block)
{
	uint64_t blocks, bsize;

	if (n < 2048)
		return -EINVAL;
	if (!strcmp(fs, "ext4")) {
		const unsigned char *x = sb + 1024;
		uint32_t log = le32(x + 0x18);

		/* s_magic; s_blocks_count_lo (+ _hi with INCOMPAT_64BIT); 1024 << s_log_block_size:
		 * what dumpe2fs prints as "Block count" and "Block size". */
		if (x[0x38] != 0x53 || x[0x39] != 0xef || log > 6)
			return -EMEDIUMTYPE;
		bsize = 1024u << log;
		blocks = le32(x + 0x04);
		if (le32(x + 0x60) & 0x80)
			blocks |= (uint64_t)le32(x + 0x150) << 32;
	} else if (!strcmp(fs, "xfs")) {
		/* sb_magicnum "XFSB", sb_blocksize, sb_dblocks (xfs_io's geom.datablocks). */
		if (memcmp(sb, "XFSB", 4))
			return -EMEDIUMTYPE;
		bsize = be32(sb + 4);
		blocks = be64(sb + 8);
	} else
		return -EOPNOTSUPP;
	if (!blocks || bsize < 512 || (bsize & (bsize - 1)) || blocks > UINT64_MAX / bsize)
		return -EMEDIUMTYPE;
	*ret_bytes = blocks * bsize;
	*ret_block = bsize;
	return 0;
}

int attach_fs_sb_size(const char *devnode, const char *fs, uint64_t *ret_bytes, uint64_t *ret_block)
{
	_cleanup_close_ int fd = -EBADF;
	unsigned char sb[2048];
	int r;

	fd = open(devnode, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	r = read_exact(fd, sb, sizeof(sb), 0);
	if (r < 0)
		return r;
	return attach_fs_sb_parse(sb, sizeof(sb), fs, ret_bytes, ret_block);
}

static void describe_found(blkid_probe pr, int fd, char *what, size_t n)
{
	const char *type = NULL, *pttype = NULL, *usage = NULL, *bad = NULL;

	blkid_probe_lookup_value(pr, "TYPE", &type, NULL);
	blkid_probe_lookup_value(pr, "PTTYPE", &pttype, NULL);
	blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
	blkid_probe_lookup_value(pr, "SBBADCSUM", &bad, NULL);
	if (type)
		snprintf(what, n, "%s%s", type,
			 bad || sb_checksum_is_bad(fd, type) ? " (bad checksum)" : "");
	else if (pttype)
		snprintf(what, n, "%s partition table", pttype);
	else if (usage)
		snprintf(what, n, "a %s signature", usage);
	else
		snprintf(what, n, "an unrecognised signature");
}

/* 1 when [off, off+len) is all zeroes, 0 with *ret_at the first non-zero byte, or -errno. */
static int span_is_zero(int fd, void *buf, uint64_t off, size_t len, uint64_t *ret_at)
{
	int r = read_exact(fd, buf, len, off);

	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++)
		if (((const unsigned char *)buf)[i]) {
			*ret_at = off + i;
			return 0;
		}
	return 1;
}

int attach_fs_zero_check(const char *devnode, uint64_t size, uint64_t *ret_at, struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ void *buf = NULL;
	size_t first = size < ZERO_SPAN ? (size_t)size : ZERO_SPAN;
	uint64_t at = 0;
	int r;

	/* O_DIRECT: the device's bytes, not a page cache that may predate an array-side
	 * change. Files on tmpfs (tests) may not support it: then plain reads. */
	fd = open(devnode, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(devnode, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(e, negative_errno(),
				  "cannot open %s to check that it is blank: %m", devnode);
	if (size % 512)
		return errbuf_set(e, -EIO,
				  "%s has a size (%llu bytes) that is not a whole number of "
				  "sectors; refusing to format",
				  devnode, (unsigned long long)size);
	if (posix_memalign(&buf, IO_ALIGN, ZERO_SPAN) != 0)
		return -ENOMEM;
	r = span_is_zero(fd, buf, 0, first, &at);
	/* The last MiB (overlapping the first on a device under 2 MiB: fine). */
	if (r == 1 && size > first)
		r = span_is_zero(fd, buf, size - first, first, &at);
	if (r < 0)
		return errbuf_set(e, r,
				  "reading %s to check that it is blank failed: %s; refusing to "
				  "format a device that cannot be read back",
				  devnode, strerror(-r));
	if (r == 0)
		*ret_at = at;
	return r;
}

int attach_fs_probe(const char *devnode, char *what, size_t n, struct errbuf *e)
{
	_cleanup_close_ int fd = -EBADF;
	blkid_probe pr;
	blkid_loff_t size = 0;
	uint64_t at = 0;
	int r;

	fd = open(devnode, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(e, negative_errno(),
				  "cannot open %s to look for a filesystem: %m", devnode);
	pr = blkid_new_probe();
	if (!pr)
		return -ENOMEM;
	r = blkid_probe_set_device(pr, fd, 0, 0);
	if (r == 0) {
		/* Every chain that reports signatures: superblocks (filesystems, RAID, LVM,
		 * LUKS, swap... with bad checksums counted as found) and partition tables.
		 * The topology chain describes geometry, never content. */
		blkid_probe_enable_superblocks(pr, 1);
		blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
							  BLKID_SUBLKS_BADCSUM);
		blkid_probe_enable_partitions(pr, 1);
		blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
		size = blkid_probe_get_size(pr);
		r = blkid_do_safeprobe(pr);
	}
	if (r == 0)
		describe_found(pr, fd, what, n);
	blkid_free_probe(pr);
	if (r == 0)
		return PROBE_FOUND;
	if (r == -2)
		return errbuf_set(e, -EUCLEAN,
				  "%s carries several conflicting signatures (ambiguous probe); "
				  "refusing to format or mount it",
				  devnode);
	if (r != 1)
		return errbuf_set(
		    e, -EIO, "could not read %s to check for existing data; refusing to format",
		    devnode);
	if (size <= 0)
		return errbuf_set(e, -EIO, "cannot tell the size of %s; refusing to format",
				  devnode);
	r = attach_fs_zero_check(devnode, (uint64_t)size, &at, e);
	if (r < 0)
		return r;
	if (r == 0) {
		snprintf(what, n, "non-zero data at offset %llu and no known signature",
			 (unsigned long long)at);
		return PROBE_DATA;
	}
	return PROBE_BLANK;
}

struct holders_ctx {
	const struct sys *s;
	const char *own_dm; /* dm name of the holder that is allowed ("" = none) */
	char other[64];
	char mpath_map[128]; /* the holder's dm name when multipathd made it (uuid mpath-) */
};

static int holder_cb(const char *name, void *ud)
{
	struct holders_ctx *c = ud;
	char path[160], dmname[128], uuid[160];
	int have_name;

	snprintf(path, sizeof(path), "/sys/class/block/%s/dm/name", name);
	have_name = sys_read_attr(c->s, path, dmname, sizeof(dmname)) == 0;
	if (c->own_dm[0] && have_name && streq(dmname, c->own_dm))
		return 0;
	snprintf(c->other, sizeof(c->other), "%s", name);
	snprintf(path, sizeof(path), "/sys/class/block/%s/dm/uuid", name);
	if (have_name && sys_read_attr(c->s, path, uuid, sizeof(uuid)) == 0 &&
	    startswith(uuid, "mpath-"))
		snprintf(c->mpath_map, sizeof(c->mpath_map), "%s", dmname);
	return 1;
}

int attach_dev_holders_check(const struct sys *s, unsigned major, unsigned minor,
			     const char *devnode, const char *own_dm, struct errbuf *e)
{
	struct holders_ctx c = {.s = s, .own_dm = own_dm ? own_dm : ""};
	char path[128];
	int r;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders", major, minor);
	r = sys_sysfs_for_each(s, path, holder_cb, &c);
	if (r == -ENOENT)
		return 0; /* a device without a holders directory has no holders */
	if (r < 0)
		return errbuf_set(e, r, "cannot read %s: %s", path, strerror(-r));
	if (r > 0 && c.mpath_map[0])
		return errbuf_set(
		    e, -EBUSY,
		    "%s (%u:%u) is held by multipath map %s (%s), which multipathd built over "
		    "attachd's path; attachd makes its own maps and needs multipathd to leave "
		    "its paths alone: install attachd's multipath.conf drop-in "
		    "(/etc/multipath/conf.d/attachd.conf: blacklist { property "
		    "\"^ATTACHD_PATH$\" }), run `multipathd reconfigure`, remove the map with "
		    "`multipath -f %s` once nothing uses it, and retry",
		    devnode, major, minor, c.mpath_map, c.other, c.mpath_map);
	if (r > 0)
		return errbuf_set(
		    e, -EBUSY,
		    "%s (%u:%u) is held by %s, which attachd did not create (another "
		    "device-mapper map, md array or LVM volume uses it); refusing to "
		    "touch it: find the holder with `ls /sys/dev/block/%u:%u/holders` "
		    "and `dmsetup ls --tree`",
		    devnode, major, minor, c.other, major, minor);
	return 0;
}

int attach_fs_check_unused(const struct sys *s, const char *devnode, struct errbuf *e)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	unsigned maj, min;
	int r;

	if (stat(devnode, &st) < 0)
		return errbuf_set(e, negative_errno(), "cannot stat %s before mkfs: %m", devnode);
	if (!S_ISBLK(st.st_mode))
		return 0; /* an image file (tests): nothing can hold it */
	maj = major(st.st_rdev);
	min = minor(st.st_rdev);
	r = attach_dev_holders_check(s, maj, min, devnode, NULL, e);
	if (r < 0)
		return r;
	r = attach_mountinfo_read(s, &text);
	if (r < 0)
		return errbuf_set(e, r, "cannot read the mount table before mkfs: %s",
				  strerror(-r));
	r = attach_mountinfo_has_dev(text, maj, min);
	if (r > 0)
		return errbuf_set(e, -EBUSY,
				  "%s (%u:%u) is mounted somewhere; refusing to format it", devnode,
				  maj, min);
	/* O_EXCL on a block device fails with EBUSY while anything mounts or holds it (or
	 * has it open O_EXCL, as mkfs and mount do): proof that nobody else has it now.
	 * Closed before mkfs runs: mkfs opens it O_EXCL itself. */
	fd = open(devnode, O_RDONLY | O_CLOEXEC | O_EXCL);
	if (fd < 0)
		return errbuf_set(e, negative_errno(),
				  "%s is in use by someone else (exclusive open failed: %m); "
				  "refusing to format it",
				  devnode);
	return 0;
}

int attach_fs_mkfs(const struct sys *s, const char *fs, const char *devnode, int timeout_ms,
		   struct errbuf *e)
{
	/* nodiscard: a discard pass over a big LUN dominates mkfs time (Synology CSI #25);
	 * lazy_itable_init lets the kernel zero inode tables in the background.
	 * lazy_journal_init is not used: it is only safe on never-written volumes.
	 * One -F only (mke2fs asks before formatting a regular file); mke2fs still refuses
	 * a mounted or busy device unless -F is given twice. xfs gets no -f. */
	char *ext4[] = {
	    "mkfs.ext4",     "-q", "-F", "-m", "0", "-E", "nodiscard,lazy_itable_init=1",
	    (char *)devnode, NULL};
	char *xfs[] = {"mkfs.xfs", "-q", "-K", (char *)devnode, NULL};
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
