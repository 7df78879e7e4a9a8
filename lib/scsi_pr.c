/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scsi_pr.h"

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* The 8-byte header (PRGENERATION, ADDITIONAL LENGTH) common to the answers: the body
 * length, which must have arrived whole. A target that answers a longer list than our
 * allocation length is told to send the rest again; we never guess. */
static int pr_header(const unsigned char *buf, size_t len, uint32_t *ret_gen, size_t *ret_body)
{
	uint32_t add;

	if (!buf || len < 8)
		return -EBADMSG;
	add = be32(buf + 4);
	if (add > len - 8)
		return -EBADMSG;
	*ret_gen = be32(buf);
	*ret_body = add;
	return 0;
}

int scsi_pr_decode_keys(const unsigned char *buf, size_t len, struct scsi_pr_keys *ret)
{
	uint32_t gen;
	size_t body, n;
	int r;

	r = pr_header(buf, len, &gen, &body);
	if (r < 0)
		return r;
	if (body % 8)
		return -EBADMSG;
	n = body / 8;
	if (n > SCSI_PR_MAX_KEYS)
		return -E2BIG;
	ret->generation = gen;
	ret->n = n;
	for (size_t i = 0; i < n; i++)
		ret->keys[i] = be64(buf + 8 + 8 * i);
	return 0;
}

int scsi_pr_decode_reservation(const unsigned char *buf, size_t len,
			       struct scsi_pr_reservation *ret)
{
	uint32_t gen;
	size_t body;
	int r;

	r = pr_header(buf, len, &gen, &body);
	if (r < 0)
		return r;
	if (body == 0) {
		*ret = (struct scsi_pr_reservation){.generation = gen};
		return 0;
	}
	/* key (8), obsolete (4), reserved (1), scope/type (1), obsolete (2) */
	if (body < 16)
		return -EBADMSG;
	*ret = (struct scsi_pr_reservation){
	    .generation = gen,
	    .held = true,
	    .key = be64(buf + 8),
	    .scope = buf[8 + 13] >> 4,
	    .type = buf[8 + 13] & 0x0f,
	};
	return 0;
}

static int hex_of(const unsigned char *p, size_t n, const char *prefix, char *out, size_t outlen)
{
	size_t o;
	int w = snprintf(out, outlen, "%s0x", prefix);

	if (w < 0 || (size_t)w >= outlen)
		return -EBADMSG;
	o = (size_t)w;
	for (size_t i = 0; i < n; i++) {
		if (o + 3 > outlen)
			return -EBADMSG;
		snprintf(out + o, 3, "%02x", p[i]);
		o += 2;
	}
	return 0;
}

static bool iscsi_name_char_ok(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

int scsi_pr_decode_transport_id(const unsigned char *id, size_t len, unsigned *ret_protocol,
				char *ret_name, size_t name_len, char *ret_isid, size_t isid_len)
{
	unsigned format, proto;

	if (!id || len < 4 || name_len == 0 || isid_len == 0)
		return -EBADMSG;
	format = id[0] >> 6;
	proto = id[0] & 0x0f;
	ret_isid[0] = 0;
	switch (proto) {
	case 0x5: { /* iSCSI: ADDITIONAL LENGTH then a NUL-terminated name */
		size_t add = (size_t)id[2] << 8 | id[3], nl;
		const char *name = (const char *)id + 4;
		const char *sep;

		if (add > len - 4 || add < 1 || format > 1)
			return -EBADMSG;
		nl = strnlen(name, add);
		if (nl == 0 || nl == add) /* empty, or not NUL-terminated within its length */
			return -EBADMSG;
		for (size_t i = 0; i < nl; i++)
			if (!iscsi_name_char_ok((unsigned char)name[i]))
				return -EBADMSG;
		sep = format == 1 ? strstr(name, ",i,0x") : NULL;
		if (format == 1 && !sep)
			return -EBADMSG;
		if (sep) {
			size_t il = nl - (size_t)(sep - name) - 3; /* "0x..." */

			if (il >= isid_len || il < 3)
				return -EBADMSG;
			memcpy(ret_isid, sep + 3, il);
			ret_isid[il] = 0;
			nl = (size_t)(sep - name);
		}
		if (nl >= name_len)
			return -EBADMSG;
		memcpy(ret_name, name, nl);
		ret_name[nl] = 0;
		break;
	}
	case 0x0: /* FC: N_PORT_NAME at bytes 8-15 */
		if (len < 24 || hex_of(id + 8, 8, "fc:", ret_name, name_len) < 0)
			return -EBADMSG;
		break;
	case 0x6: /* SAS: SAS ADDRESS at bytes 4-11 */
		if (len < 24 || hex_of(id + 4, 8, "sas:", ret_name, name_len) < 0)
			return -EBADMSG;
		break;
	default: {
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "proto%u:", proto);
		if (len < 24 || hex_of(id + 1, 23, prefix, ret_name, name_len) < 0)
			return -EBADMSG;
		break;
	}
	}
	*ret_protocol = proto;
	return 0;
}

void scsi_pr_full_status_done(struct scsi_pr_full_status *st)
{
	if (!st)
		return;
	free(st->reg);
	st->reg = NULL;
	st->n = 0;
}

int scsi_pr_decode_full_status(const unsigned char *buf, size_t len,
			       struct scsi_pr_full_status *ret)
{
	struct scsi_pr_registrant *reg = NULL;
	uint32_t gen;
	size_t body, off, n = 0;
	int r;

	r = pr_header(buf, len, &gen, &body);
	if (r < 0)
		return r;
	/* Each descriptor: 24 fixed bytes, then ADDITIONAL DESCRIPTOR LENGTH bytes of
	 * TransportID. The descriptor count is bounded by the body (>= 24 bytes each). */
	if (body / 24 > 0) {
		reg = calloc(body / 24, sizeof(*reg));
		if (!reg)
			return -ENOMEM;
	}
	for (off = 8; off < 8 + body;) {
		const unsigned char *d = buf + off;
		size_t left = 8 + body - off, idlen;
		struct scsi_pr_registrant *g;

		if (left < 24)
			goto bad;
		idlen = be32(d + 20);
		if (idlen > left - 24)
			goto bad;
		g = &reg[n++];
		g->key = be64(d);
		g->all_tg_pt = d[12] & 0x02;
		g->holder = d[12] & 0x01;
		g->scope = d[13] >> 4;
		g->type = d[13] & 0x0f;
		g->rel_tgt_port = (uint16_t)(d[18] << 8 | d[19]);
		if (scsi_pr_decode_transport_id(d + 24, idlen, &g->protocol, g->initiator,
						sizeof(g->initiator), g->isid, sizeof(g->isid)) < 0)
			goto bad;
		off += 24 + idlen;
	}
	*ret = (struct scsi_pr_full_status){.generation = gen, .n = n, .reg = reg};
	return 0;
bad:
	free(reg);
	return -EBADMSG;
}

const struct scsi_pr_registrant *scsi_pr_full_status_holder(const struct scsi_pr_full_status *st)
{
	for (size_t i = 0; st && i < st->n; i++)
		if (st->reg[i].holder)
			return &st->reg[i];
	return NULL;
}

const struct scsi_pr_registrant *scsi_pr_full_status_find(const struct scsi_pr_full_status *st,
							  uint64_t key)
{
	for (size_t i = 0; st && i < st->n; i++)
		if (st->reg[i].key == key)
			return &st->reg[i];
	return NULL;
}
