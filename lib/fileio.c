/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

int read_full_file(const char *path, char **ret, size_t *ret_size, size_t max)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 4096;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t k;

		if (len == cap) {
			char *nb;

			if (cap >= max)
				return -EFBIG;
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		k = read(fd, buf + len, cap - len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	buf[len] = 0;
	if (ret_size)
		*ret_size = len;
	*ret = TAKE_PTR(buf);
	return 0;
}

int write_string_file(const char *path, const char *data)
{
	_cleanup_close_ int fd = -EBADF;
	size_t len = strlen(data);
	ssize_t k;

	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	k = write(fd, data, len);
	if (k < 0)
		return negative_errno();
	if ((size_t)k != len)
		return -EIO;
	return 0;
}

static int fsync_parent(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_close_ int fd = -EBADF;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	return fsync(fd) < 0 ? negative_errno() : 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096];
	_cleanup_close_ int fd = -EBADF;
	const char *p = data;
	int r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return negative_errno();
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (len > 0) {
		ssize_t k = write(fd, p, len);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += k;
		len -= (size_t)k;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (rename(tmp, path) < 0)
		goto fail;
	return fsync_parent(path);
fail:
	r = negative_errno();
	unlink(tmp);
	return r;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;

			*p = 0;
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return negative_errno();
			*p = c;
			if (c == 0)
				break;
		}
	}
	return 0;
}
