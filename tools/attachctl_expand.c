/* SPDX-License-Identifier: Apache-2.0 */
/* attachctl expand: what grew, old and new sizes of the dm device and the filesystem. */
#include <stdio.h>

#include "tools/attachctl.h"

static unsigned long long num(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (unsigned long long)v : 0;
}

static void line(FILE *f, const char *what, unsigned long long before, unsigned long long after)
{
	char b[32], a[32];

	ctl_fmt_bytes(before, b, sizeof(b));
	ctl_fmt_bytes(after, a, sizeof(a));
	if (before == after)
		fprintf(f, "  %-11s %s (%llu bytes), unchanged\n", what, a, after);
	else
		fprintf(f, "  %-11s %s -> %s (%llu -> %llu bytes)\n", what, b, a, before, after);
}

void ctl_print_expand(const json_t *x, FILE *f)
{
	const char *fs = json_string_value(json_object_get(x, "fs"));
	char label[32];

	fprintf(f, "volume %s: %s\n", json_string_value(json_object_get(x, "volume")) ?: "?",
		json_is_true(json_object_get(x, "grew")) ? "grown online"
							 : "nothing to grow (the device is no "
							   "larger than the filesystem)");
	line(f, "device", num(x, "map_before"), num(x, "map_after"));
	snprintf(label, sizeof(label), "filesystem");
	if (fs && *fs)
		snprintf(label, sizeof(label), "%s", fs);
	line(f, label, num(x, "fs_before"), num(x, "fs_after"));
}
