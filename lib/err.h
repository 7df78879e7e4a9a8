/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error detail passed up the layers. Functions return a negative errno; when errno
 * alone would not tell the user what to fix, they also fill a struct errbuf with a
 * sentence ("LUN 3 not found on iqn.x; target reports LUNs 0,1"). Only agent/ and
 * tools/ turn it into a message for people.
 */
#pragma once

#include <stddef.h>

#include "macro.h"

#define ERRBUF_MAX 1024

struct errbuf {
	char msg[ERRBUF_MAX];
};

/* Set the detail (overwrites) and return r (a negative errno) for `return errbuf_set(...)`. */
int errbuf_set(struct errbuf *e, int r, const char *fmt, ...) _printf_(3, 4);
/* Keep an existing detail; set one only when none is there yet. */
int errbuf_setif(struct errbuf *e, int r, const char *fmt, ...) _printf_(3, 4);
/* Prefix an existing detail with context: "step: old detail". */
int errbuf_prefix(struct errbuf *e, int r, const char *fmt, ...) _printf_(3, 4);
static inline int errbuf_is_set(const struct errbuf *e)
{
	return e && e->msg[0];
}
static inline void errbuf_clear(struct errbuf *e)
{
	if (e)
		e->msg[0] = 0;
}

/*
 * Accumulates every problem found while validating input, so Create can report them
 * all in one message ("unknown option 'foo'; 'lun' must be an integer 0-16383").
 */
struct errlist {
	char msg[4 * ERRBUF_MAX];
	size_t len;
	unsigned n;
};
void errlist_add(struct errlist *l, const char *fmt, ...) _printf_(2, 3);
