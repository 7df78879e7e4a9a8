/* SPDX-License-Identifier: Apache-2.0 */
/* Small file helpers. All return 0 or a negative errno; all opens use O_CLOEXEC. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Read a whole file (at most max bytes, else -EFBIG) into a NUL-terminated buffer owned by
 * the caller. ret_size may be NULL. */
int read_full_file(const char *path, char **ret, size_t *ret_size, size_t max);
/* open(O_WRONLY), one write, close: the way sysfs attributes want to be written. */
int write_string_file(const char *path, const char *data);
/* Durable replace: write path.tmp with mode, fsync, rename over path, fsync the directory. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* mkdir -p; mode applies to the directories it creates. */
int mkdir_p(const char *path, mode_t mode);
