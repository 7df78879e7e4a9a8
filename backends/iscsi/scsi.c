/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure decoders for what the probe reads from the target and what sysfs shows, so the
 * WWID learnt through libiscsi before login is byte-for-byte the string the kernel will
 * put in /sys/block/sdX/device/wwid after it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int be_iscsi_report_luns_parse(const uint8_t *d, size_t len, struct be_iscsi_lun *luns, size_t max,
			       size_t *ret_n, size_t *ret_needed)
{
	size_t list, count, n = 0;

	if (!d || len < 8)
		return -EINVAL;
	list = be32(d);
	count = list / 8;
	if (count > (len - 8) / 8)
		count = (len - 8) / 8; /* truncated by our allocation length */
	for (size_t i = 0; i < count && n < max; i++) {
		const uint8_t *e = d + 8 + 8 * i;
		int deeper = 0;

		for (int k = 2; k < 8; k++)
			deeper |= e[k];
		/* Multi-level (hierarchical) LUNs never name an iSCSI target's own LU. */
		if (deeper)
			continue;
		luns[n].kernel_lun = (unsigned)e[0] << 8 | e[1];
		/* Peripheral (00b, bus 0) and flat space (01b) addressing both carry the
		 * number in the low 14 bits. */
		luns[n].number = (unsigned)(e[0] & 0x3f) << 8 | e[1];
		n++;
	}
	*ret_n = n;
	*ret_needed = 8 + list;
	return 0;
}

unsigned be_iscsi_kernel_lun(unsigned number)
{
	return number < 256 ? number : 0x4000u | number;
}

int be_iscsi_readcap16_size(const uint8_t *d, size_t len, uint64_t *ret_bytes)
{
	uint64_t lba;
	uint32_t bl;

	if (!d || len < 12)
		return -EINVAL;
	lba = be64(d);
	bl = be32(d + 8);
	if (bl == 0 || lba == UINT64_MAX || lba + 1 > UINT64_MAX / bl)
		return -EINVAL;
	*ret_bytes = (lba + 1) * bl;
	return 0;
}

int be_iscsi_readcap10_size(const uint8_t *d, size_t len, uint64_t *ret_bytes)
{
	uint32_t lba, bl;

	if (!d || len < 8)
		return -EINVAL;
	lba = be32(d);
	bl = be32(d + 4);
	if (bl == 0)
		return -EINVAL;
	if (lba == UINT32_MAX)
		return -EOVERFLOW; /* larger than 2 TiB: READ CAPACITY(16) needed */
	*ret_bytes = ((uint64_t)lba + 1) * bl;
	return 0;
}

/* Kernel isprint() on Latin-1 (lib/ctype.c): 0x20-0x7e and 0xa0-0xff. */
static int kernel_isprint(uint8_t c)
{
	return (c >= 0x20 && c <= 0x7e) || c >= 0xa0;
}

/* The kernel's "%*pE" (ESCAPE_ANY_NP, lib/string_helpers.c string_escape_mem()). */
static int append_escaped(char *buf, size_t n, size_t *pos, const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char tmp[5];
		uint8_t c = s[i];

		if (kernel_isprint(c)) {
			tmp[0] = (char)c;
			tmp[1] = 0;
		} else {
			const char *esc = NULL;

			switch (c) {
			case '\n':
				esc = "\\n";
				break;
			case '\r':
				esc = "\\r";
				break;
			case '\t':
				esc = "\\t";
				break;
			case '\v':
				esc = "\\v";
				break;
			case '\f':
				esc = "\\f";
				break;
			case '\a':
				esc = "\\a";
				break;
			case 0x1b:
				esc = "\\e";
				break;
			case 0:
				esc = "\\0";
				break;
			default:
				break;
			}
			if (esc)
				snprintf(tmp, sizeof(tmp), "%s", esc);
			else
				snprintf(tmp, sizeof(tmp), "\\%03o", c);
		}
		for (const char *t = tmp; *t; t++) {
			if (*pos + 1 >= n)
				return -ENOBUFS;
			buf[(*pos)++] = *t;
		}
	}
	buf[*pos] = 0;
	return 0;
}

static int format_hex(char *buf, size_t n, const char *prefix, const uint8_t *s, size_t len)
{
	size_t pos;

	if (strlen(prefix) + 2 * len + 1 > n)
		return -ENOBUFS;
	pos = (size_t)sprintf(buf, "%s", prefix);
	for (size_t i = 0; i < len; i++)
		pos += (size_t)sprintf(buf + pos, "%02x", s[i]);
	return 0;
}

/* designator_prio() of drivers/scsi/scsi_lib.c (Linux >= 5.11, so Debian 12's 6.1). */
static int designator_prio(const uint8_t *d)
{
	if (d[1] & 0x30)
		return 0; /* not about the logical unit */
	if (d[3] == 0)
		return 0;
	switch (d[1] & 0xf) {
	case 8:
		return 9; /* SCSI name string */
	case 3:
		switch (d[4] >> 4) {
		case 6:
			return 8; /* NAA IEEE Registered Extended */
		case 5:
			return 5; /* NAA IEEE Registered */
		case 4:
			return 4;
		case 3:
			return 1; /* NAA locally assigned */
		default:
			return 0;
		}
	case 2:
		switch (d[3]) {
		case 16:
			return 7; /* EUI-64 based, 16 bytes */
		case 12:
			return 6;
		case 8:
			return 3;
		default:
			return 0;
		}
	case 1:
		return 1; /* T10 vendor id */
	default:
		return 0;
	}
}

int be_iscsi_vpd83_wwid(const uint8_t *d, size_t len, char *buf, size_t n)
{
	char id[1024] = "";
	size_t plen, cur_size = 0;
	int cur_prio = 0, have = 0;

	if (!d || len < 4 || d[1] != 0x83)
		return -EINVAL;
	plen = 4 + ((size_t)d[2] << 8 | d[3]);
	if (plen > len)
		plen = len; /* we asked for less than the target has: use what came */

	/* Same walk and choice as scsi_vpd_lun_id(), with its bounds checks. */
	for (size_t off = 4; off < plen; off += (size_t)d[off + 3] + 4) {
		const uint8_t *x;
		int prio;

		if (plen - off < 4)
			break;
		x = d + off;
		if (x[3] > plen - off - 4)
			break;
		prio = designator_prio(x);
		if (prio == 0 || cur_prio > prio)
			continue;
		switch (x[1] & 0xf) {
		case 1: {
			size_t pos = 4;

			if (cur_size > x[3])
				break;
			cur_prio = prio;
			cur_size = x[3];
			memcpy(id, "t10.", 5);
			if (append_escaped(id, sizeof(id), &pos, x + 4, x[3]) < 0)
				return -ENOBUFS;
			have = 1;
			break;
		}
		case 2:
			cur_prio = prio;
			cur_size = x[3];
			if (format_hex(id, sizeof(id), "eui.", x + 4, x[3]) < 0)
				return -ENOBUFS;
			have = 1;
			break;
		case 3:
			cur_prio = prio;
			cur_size = x[3];
			/* The kernel prints only 8- and 16-byte NAA ids and otherwise keeps
			 * whatever it had chosen before. */
			if (x[3] == 8 || x[3] == 16) {
				if (format_hex(id, sizeof(id), "naa.", x + 4, x[3]) < 0)
					return -ENOBUFS;
				have = 1;
			}
			break;
		case 8:
			if (cur_size > x[3])
				break;
			cur_prio = prio;
			cur_size = x[3];
			/* NUL-padded UTF-8; sysfs shows the padding too, normalising cuts it. */
			memcpy(id, x + 4, x[3]);
			id[x[3]] = 0;
			have = 1;
			break;
		default:
			break;
		}
	}
	if (!have)
		return -ENODATA;
	return be_iscsi_wwid_normalize(id, buf, n);
}

static int is_hex_str(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

int be_iscsi_wwid_normalize(const char *in, char *buf, size_t n)
{
	char tmp[1024];
	size_t len;
	const char *s = in;

	if (!in)
		return -EINVAL;
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
			   s[len - 1] == '\r'))
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, len);
	tmp[len] = 0;

	/* udev/multipath numeric form: the designator type as one digit, then the hex. */
	if (is_hex_str(tmp, len) && (tmp[0] == '3' || tmp[0] == '2')) {
		size_t h = len - 1;
		int ok = tmp[0] == '3' ? (h == 16 || h == 32) : (h == 16 || h == 24 || h == 32);

		if (ok) {
			char conv[64];

			snprintf(conv, sizeof(conv), "%s%s", tmp[0] == '3' ? "naa." : "eui.",
				 tmp + 1);
			snprintf(tmp, sizeof(tmp), "%s", conv);
			len = strlen(tmp);
		}
	}
	if (len > 4 && (strncasecmp(tmp, "naa.", 4) == 0 || strncasecmp(tmp, "eui.", 4) == 0) &&
	    is_hex_str(tmp + 4, len - 4))
		for (size_t i = 0; i < len; i++)
			tmp[i] = (char)tolower((unsigned char)tmp[i]);
	if (len >= n)
		return -ENOBUFS;
	memcpy(buf, tmp, len + 1);
	return 0;
}

/* The number in the last "(N)" of s, or -1. */
static int last_paren_number(const char *s)
{
	const char *p = NULL, *q;
	char *end;
	long v;

	for (q = strchr(s, '('); q; q = strchr(q + 1, '('))
		p = q;
	if (!p || !isdigit((unsigned char)p[1]))
		return -1;
	v = strtol(p + 1, &end, 10);
	if (*end != ')' || v < 0 || v > 0xffff)
		return -1;
	return (int)v;
}

void be_iscsi_libiscsi_error_parse(const char *msg, int *ret_errno, int *ret_login_status)
{
	const char *p;

	*ret_errno = 0;
	*ret_login_status = -1;
	if (!msg)
		return;
	/* login.c: "Failed to log in to target. Status: Target not found(515)" */
	p = strstr(msg, "Status: ");
	if (p && strstr(msg, "log in")) {
		*ret_login_status = last_paren_number(p);
		return;
	}
	if (strstr(msg, "POLLHUP")) {
		*ret_errno = ECONNRESET; /* "iscsi_service: POLLHUP, socket error." */
		return;
	}
	/* socket.c: "socket error Connection refused(111) while connecting.",
	 * "Connect failed with errno : Network is unreachable(101)" */
	if ((p = strstr(msg, "socket error")) || (p = strstr(msg, "Connect failed"))) {
		char head[256];
		const char *stop = strstr(p, " while");
		size_t l = stop ? (size_t)(stop - p) : strlen(p);

		snprintf(head, sizeof(head), "%.*s", (int)(l < sizeof(head) ? l : sizeof(head) - 1),
			 p);
		*ret_errno = last_paren_number(head);
		if (*ret_errno < 0)
			*ret_errno = 0;
		return;
	}
}

void be_iscsi_format_luns(const struct be_iscsi_lun *luns, size_t n, char *buf, size_t len)
{
	size_t pos = 0;

	if (len == 0)
		return;
	buf[0] = 0;
	if (n == 0) {
		snprintf(buf, len, "none");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char item[16];
		size_t l =
		    (size_t)snprintf(item, sizeof(item), "%s%u", i ? "," : "", luns[i].number);

		if (pos + l + 4 >= len) {
			snprintf(buf + pos, len - pos, ",...");
			return;
		}
		memcpy(buf + pos, item, l + 1);
		pos += l;
	}
}
