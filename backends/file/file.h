/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file backend: a sparse file on a loop device, the embedded default for hosts with
 * no array. Options (Create):
 *   size  "1G", "512M", "10GiB", "10737418240" or a JSON integer: bytes, K/M/G/T (or
 *         KiB/MiB/GiB/TiB) binary units; a multiple of 512, BE_FILE_SIZE_MIN..MAX.
 *         Required unless `path` names an existing file (then its size is used).
 *   path  optional: relative to, and confined beneath, the host's file_dir (agent config
 *         file.dir). Absolute paths and ".." components are refused at Create; symbolic
 *         links anywhere below file_dir and non-regular files are refused at attach (the
 *         file is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 *         RESOLVE_NO_MAGICLINKS) on file_dir's fd, and that very fd is what the loop
 *         device gets: nothing can be swapped in between check and use).
 *         Default: <file_dir>/<volume key>.img.
 * The data file is created sparse on first connect and never shrunk, truncated or deleted
 * by the backend: data survives detach. An existing file smaller than `size` is refused.
 *
 * Loop devices: attachd marks the ones it creates (lo_file_name "attachd:<volume key>",
 * read back with LOOP_GET_STATUS64). It reuses or clears a loop device only if it carries
 * that mark AND its backing file is the recorded one (device and inode number); a loop
 * device someone else bound to the file makes the attach fail instead (never two loop
 * devices on one image) and is never cleared.
 *
 * identify() returns wwid "file:<st_dev>:<st_ino>" (decimal, the backing file as the loop
 * driver reports it): the same string for one image whatever path named it.
 *
 * objs recorded by connect: {"file": "<path>", "dev": N, "ino": N, "mark": "attachd:<key>",
 * "created": bool, "loop": "loopN"}.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BE_FILE_SIZE_MIN (16ULL << 20) /* 16 MiB; fs-specific minimums are attach/'s */
#define BE_FILE_SIZE_MAX (64ULL << 40) /* 64 TiB: beyond that it is a typo */
#define BE_FILE_PATH_MAX 4096

/*
 * Resolve the data file path of a parsed file-backend cfg (the void * that
 * be_file_ops.parse returned) beneath dir: when the options had no `path` it is
 * "<key>.img", else the relative `path`; be_file_cfg_path then gives "<dir>/<that>".
 * Also records key (the loop device mark). attach/ calls this after parse and before
 * describe/connect, with dir = host->file_dir (absolute) and key = the volume key.
 * Idempotent. Pure: touches no file.
 * Returns 0, -EINVAL (dir not absolute, or key not [A-Za-z0-9._-]{1,128} / "." / ".."),
 * or -ENAMETOOLONG (the result would exceed BE_FILE_PATH_MAX - 1).
 */
int be_file_set_default_path(void *cfg, const char *dir, const char *key);

/* The resolved path ("" until be_file_set_default_path). */
const char *be_file_cfg_path(const void *cfg);

/*
 * Parse a size string ("1G", "512MiB", "10737418240"). Pure. Returns 0 and *ret_bytes,
 * -EINVAL for syntax (with why set to a static reason), -ERANGE for overflow. Does not
 * apply the 512/min/max rules (be_file_size_check does).
 */
int be_file_size_parse(const char *s, uint64_t *ret_bytes, const char **why);
/* 0 if bytes is a usable size, else -EINVAL (why: "not a multiple of 512", ...). */
int be_file_size_check(uint64_t bytes, const char **why);
