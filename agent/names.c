/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/names.h"

/* Printable rendering of a name for error messages: the name may hold anything. */
static void quote(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	for (; *s && o + 5 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'')
			buf[o++] = (char)c;
		else
			o += (size_t)snprintf(buf + o, n - o, "\\x%02x", c);
	}
	if (*s && o + 4 <= n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = 0;
}

static int check_part(const char *name, const char *part, size_t len, const char *what, char *ret,
		      struct errbuf *e)
{
	char q[96];

	quote(name, q, sizeof(q));
	if (len == 0)
		return errbuf_set(e, -EINVAL, "invalid volume name '%s': empty %s", q, what);
	if (len > ATTACH_KEY_MAX)
		return errbuf_set(e, -EINVAL,
				  "invalid volume name '%s': %s longer than %d characters", q, what,
				  ATTACH_KEY_MAX);
	for (size_t i = 0; i < len; i++) {
		char c = part[i];

		if (c == '/' || c == '\\')
			return errbuf_set(e, -EINVAL, "invalid volume name '%s': %s is not allowed",
					  q, c == '/' ? "'/'" : "'\\'");
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '=' || c == '-'))
			return errbuf_set(
			    e, -EINVAL,
			    "invalid volume name '%s': character \\x%02x is not allowed "
			    "(use A-Z a-z 0-9 . = - and one _)",
			    q, (unsigned char)c);
	}
	if (part[0] == '.')
		return errbuf_set(e, -EINVAL,
				  "invalid volume name '%s': %s must not start with '.'", q, what);
	if (memmem(part, len, "..", 2))
		return errbuf_set(e, -EINVAL, "invalid volume name '%s': '..' is not allowed", q);
	for (size_t i = 0; i < len; i++)
		ret[i] = part[i] == '=' ? '_' : part[i];
	ret[len] = 0;
	if (!attach_key_is_valid(ret))
		return errbuf_set(e, -EINVAL, "invalid volume name '%s': bad %s", q, what);
	return 0;
}

int agent_name_decode(const char *name, struct agent_name *ret, struct errbuf *e)
{
	struct agent_name n = {.unique = 0};
	const char *sep;
	char q[96];
	int r;

	if (!name || !*name)
		return errbuf_set(e, -EINVAL, "missing volume name ('Name')");
	quote(name, q, sizeof(q));
	if (strlen(name) > AGENT_NAME_MAX)
		return errbuf_set(e, -EINVAL, "invalid volume name '%s': longer than %d characters",
				  q, AGENT_NAME_MAX);
	sep = strchr(name, '_');
	if (sep && strchr(sep + 1, '_'))
		return errbuf_set(
		    e, -EINVAL,
		    "invalid volume name '%s': more than one '_' (expected "
		    "<volume_id>_<container_guid> with '_' inside a part written as '=')",
		    q);
	if (!sep) {
		r = check_part(name, name, strlen(name), "volume id", n.key, e);
		if (r < 0)
			return r;
		snprintf(n.container, sizeof(n.container), "%s", AGENT_SHARED_CONTAINER);
	} else {
		r = check_part(name, name, (size_t)(sep - name), "volume id", n.key, e);
		if (r < 0)
			return r;
		r = check_part(name, sep + 1, strlen(sep + 1), "container id", n.container, e);
		if (r < 0)
			return r;
		n.unique = 1;
	}
	*ret = n;
	return 0;
}
