/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>

#include "err.h"

static int errbuf_vset(struct errbuf *e, int r, const char *fmt, va_list ap)
{
	if (e)
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return r;
}

int errbuf_set(struct errbuf *e, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(e, r, fmt, ap);
	va_end(ap);
	return r;
}

int errbuf_setif(struct errbuf *e, int r, const char *fmt, ...)
{
	va_list ap;

	if (errbuf_is_set(e))
		return r;
	va_start(ap, fmt);
	errbuf_vset(e, r, fmt, ap);
	va_end(ap);
	return r;
}

int errbuf_prefix(struct errbuf *e, int r, const char *fmt, ...)
{
	char head[ERRBUF_MAX], old[ERRBUF_MAX];
	va_list ap;

	if (!e)
		return r;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	snprintf(old, sizeof(old), "%s", e->msg);
	if (old[0])
		snprintf(e->msg, sizeof(e->msg), "%s: %s", head, old);
	else
		snprintf(e->msg, sizeof(e->msg), "%s", head);
	return r;
}

void errlist_add(struct errlist *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len + 3 >= sizeof(l->msg))
		return;
	if (l->n > 0) {
		memcpy(l->msg + l->len, "; ", 3);
		l->len += 2;
	}
	va_start(ap, fmt);
	n = vsnprintf(l->msg + l->len, sizeof(l->msg) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < sizeof(l->msg) - l->len ? (size_t)n : sizeof(l->msg) - l->len - 1;
	l->n++;
}
