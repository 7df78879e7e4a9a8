/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file backend: a sparse file on a loop device, the embedded default for hosts with
 * no array. Options (Create):
 *   size  "1G", "512M", "10GiB", "10737418240" or a JSON integer: bytes, K/M/G/T (or
 *         KiB/MiB/GiB/TiB) binary units; a multiple of 512, BE_FILE_SIZE_MIN..MAX.
 *         Required unless `path` names an existing file (then its size is used).
 *   path  optional: absolute (no "..", not under /proc, /sys or /dev), or relative to the
 *         host's file_dir. Default: <file_dir>/<volume key>.img.
 * The data file is created sparse on first connect and never shrunk, truncated or deleted
 * by the backend: data survives detach. An existing file smaller than `size` is refused.
 *
 * objs recorded by connect: {"file": "<canonical path>", "created": bool, "loop": "loopN"}.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BE_FILE_SIZE_MIN (16ULL << 20) /* 16 MiB; fs-specific minimums are attach/'s */
#define BE_FILE_SIZE_MAX (64ULL << 40) /* 64 TiB: beyond that it is a typo */
#define BE_FILE_PATH_MAX 4096

/*
 * Resolve the data file path of a parsed file-backend cfg (the void * that
 * be_file_ops.parse returned): when the options had no `path` it becomes
 * "<dir>/<key>.img"; a relative `path` becomes "<dir>/<path>"; an absolute one is kept.
 * attach/ calls this after parse and before describe/connect, with dir =
 * host->file_dir (absolute) and key = the volume key. Idempotent (a second call sees an
 * absolute path and does nothing). Pure: touches no file.
 * Returns 0, -EINVAL (dir not absolute, or key not [A-Za-z0-9._-]{1,128} / "." / ".."),
 * or -ENAMETOOLONG (the result would exceed BE_FILE_PATH_MAX - 1).
 */
int be_file_set_default_path(void *cfg, const char *dir, const char *key);

/* The resolved path ("" until be_file_set_default_path or an absolute `path`). */
const char *be_file_cfg_path(const void *cfg);

/*
 * Parse a size string ("1G", "512MiB", "10737418240"). Pure. Returns 0 and *ret_bytes,
 * -EINVAL for syntax (with why set to a static reason), -ERANGE for overflow. Does not
 * apply the 512/min/max rules (be_file_size_check does).
 */
int be_file_size_parse(const char *s, uint64_t *ret_bytes, const char **why);
/* 0 if bytes is a usable size, else -EINVAL (why: "not a multiple of 512", ...). */
int be_file_size_check(uint64_t bytes, const char **why);
