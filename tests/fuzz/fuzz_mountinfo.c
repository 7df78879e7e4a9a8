/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /proc/self/mountinfo parsing: attach_mountinfo_find() (the pipeline's "is it mounted,
 * by what, read-only?", octal unescaping of paths) and attachctl doctor's
 * ctl_is_mountpoint(), which reads the file itself (given a memfd's path here).
 * Mount point names are chosen by whoever mounts, so they are not trusted either.
 *
 * Input: the first line is the path looked for, the rest the mountinfo text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attach/internal.h"
#include "tests/fuzz/fuzz.h"
#include "tools/attachctl.h"

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	memfd = memfd_create("mountinfo", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size), *text = strchr(s, '\n');
	struct attach_mnt m;
	size_t len;

	if (text)
		*text++ = 0;
	else
		text = s + strlen(s);
	if (attach_mountinfo_find(text, s, &m) == 0) {
		if (strcmp(m.target, s) != 0)
			abort(); /* found something else */
		if (strlen(m.fstype) >= sizeof(m.fstype) || strlen(m.root) >= sizeof(m.root))
			abort();
	}
	len = strlen(text);
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, text, len, 0) != (ssize_t)len)
		abort();
	(void)ctl_is_mountpoint(memfd_path, s);
	free(s);
	return 0;
}
