/* SPDX-License-Identifier: Apache-2.0 */
/* lib/scsi_pr and lib/sys: decoding what a target answers to PERSISTENT RESERVE IN, and
 * what the block PR ioctls' results mean. The bytes come from a target: malformed ones
 * must be refused, never read past. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/scsi_pr.h"
#include "lib/sys.h"

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, (uint32_t)v);
}

static void test_read_keys(void **state)
{
	unsigned char b[8 + 16] = {0};
	struct scsi_pr_keys k;

	put32(b, 7);
	put32(b + 4, 16);
	put64(b + 8, 0x1122334455667788ULL);
	put64(b + 16, 0xabcdefULL);
	assert_int_equal(scsi_pr_decode_keys(b, sizeof(b), &k), 0);
	assert_int_equal(k.generation, 7);
	assert_int_equal(k.n, 2);
	assert_true(k.keys[0] == 0x1122334455667788ULL);
	assert_true(k.keys[1] == 0xabcdefULL);

	/* no registrants */
	put32(b + 4, 0);
	assert_int_equal(scsi_pr_decode_keys(b, 8, &k), 0);
	assert_int_equal(k.n, 0);
	/* a key cut in half, a length beyond what arrived, no header */
	put32(b + 4, 12);
	assert_int_equal(scsi_pr_decode_keys(b, sizeof(b), &k), -EBADMSG);
	put32(b + 4, 24);
	assert_int_equal(scsi_pr_decode_keys(b, sizeof(b), &k), -EBADMSG);
	put32(b + 4, 0xfffffff8u);
	assert_int_equal(scsi_pr_decode_keys(b, sizeof(b), &k), -EBADMSG);
	assert_int_equal(scsi_pr_decode_keys(b, 7, &k), -EBADMSG);
	assert_int_equal(scsi_pr_decode_keys(NULL, 0, &k), -EBADMSG);
}

static void test_read_keys_too_many(void **state)
{
	size_t n = SCSI_PR_MAX_KEYS + 1, len = 8 + 8 * n;
	unsigned char *b = calloc(1, len);
	struct scsi_pr_keys k;

	assert_non_null(b);
	put32(b + 4, (uint32_t)(8 * n));
	assert_int_equal(scsi_pr_decode_keys(b, len, &k), -E2BIG);
	free(b);
}

static void test_read_reservation(void **state)
{
	unsigned char b[8 + 16] = {0};
	struct scsi_pr_reservation r;

	put32(b, 3);
	put32(b + 4, 16);
	put64(b + 8, 0xa77ac4d000000001ULL);
	b[8 + 13] = 0x05; /* LU scope, Write Exclusive - Registrants Only */
	assert_int_equal(scsi_pr_decode_reservation(b, sizeof(b), &r), 0);
	assert_true(r.held);
	assert_true(r.key == 0xa77ac4d000000001ULL);
	assert_int_equal(r.type, SCSI_PR_TYPE_WE_RO);
	assert_int_equal(r.scope, 0);
	assert_int_equal(r.generation, 3);

	/* nobody holds it */
	put32(b + 4, 0);
	assert_int_equal(scsi_pr_decode_reservation(b, 8, &r), 0);
	assert_false(r.held);
	/* a descriptor shorter than 16 bytes; one that did not all arrive */
	put32(b + 4, 8);
	assert_int_equal(scsi_pr_decode_reservation(b, sizeof(b), &r), -EBADMSG);
	put32(b + 4, 16);
	assert_int_equal(scsi_pr_decode_reservation(b, 20, &r), -EBADMSG);
}

/* One READ FULL STATUS descriptor with a TransportID of idlen bytes at d. */
static size_t put_desc(unsigned char *d, uint64_t key, unsigned flags, unsigned type, unsigned rtp,
		       const unsigned char *id, size_t idlen)
{
	memset(d, 0, 24);
	put64(d, key);
	d[12] = (unsigned char)flags;
	d[13] = (unsigned char)type;
	d[18] = (unsigned char)(rtp >> 8);
	d[19] = (unsigned char)rtp;
	put32(d + 20, (uint32_t)idlen);
	memcpy(d + 24, id, idlen);
	return 24 + idlen;
}

/* An iSCSI TransportID (format 0 or 1) padded to a multiple of 4. */
static size_t iscsi_id(unsigned char *id, unsigned format, const char *name)
{
	size_t nl = strlen(name) + 1, add = (nl + 3) & ~(size_t)3;

	memset(id, 0, 4 + add);
	id[0] = (unsigned char)(format << 6 | 0x5);
	id[2] = (unsigned char)(add >> 8);
	id[3] = (unsigned char)add;
	memcpy(id + 4, name, nl);
	return 4 + add;
}

static void test_full_status_iscsi(void **state)
{
	unsigned char b[1024] = {0}, id[300];
	struct scsi_pr_full_status st = {0};
	const struct scsi_pr_registrant *h;
	size_t off = 8, l;

	l = iscsi_id(id, 1, "iqn.2026-12.io.attachd:cell-a,i,0x23d000000001");
	off += put_desc(b + off, 0xaaaa, 0x01, 0x05, 1, id, l); /* holder, type 5h */
	l = iscsi_id(id, 0, "iqn.2026-12.io.attachd:cell-b");
	off += put_desc(b + off, 0xbbbb, 0x02, 0, 0, id, l); /* all target ports */
	put32(b, 9);
	put32(b + 4, (uint32_t)(off - 8));

	assert_int_equal(scsi_pr_decode_full_status(b, off, &st), 0);
	assert_int_equal(st.generation, 9);
	assert_int_equal(st.n, 2);
	h = scsi_pr_full_status_holder(&st);
	assert_non_null(h);
	assert_true(h->key == 0xaaaa);
	assert_int_equal(h->type, SCSI_PR_TYPE_WE_RO);
	assert_int_equal(h->rel_tgt_port, 1);
	assert_int_equal(h->protocol, 5);
	assert_string_equal(h->initiator, "iqn.2026-12.io.attachd:cell-a");
	assert_string_equal(h->isid, "0x23d000000001");
	assert_false(st.reg[1].holder);
	assert_true(st.reg[1].all_tg_pt);
	assert_string_equal(st.reg[1].initiator, "iqn.2026-12.io.attachd:cell-b");
	assert_string_equal(st.reg[1].isid, "");
	assert_ptr_equal(scsi_pr_full_status_find(&st, 0xbbbb), &st.reg[1]);
	assert_null(scsi_pr_full_status_find(&st, 0xcccc));
	scsi_pr_full_status_done(&st);
	assert_null(st.reg);

	/* empty list: nobody registered */
	put32(b + 4, 0);
	assert_int_equal(scsi_pr_decode_full_status(b, 8, &st), 0);
	assert_int_equal(st.n, 0);
	assert_null(scsi_pr_full_status_holder(&st));
	scsi_pr_full_status_done(&st);
}

static void test_full_status_fc_sas(void **state)
{
	unsigned char b[256] = {0}, id[24] = {0};
	struct scsi_pr_full_status st = {0};
	size_t off = 8;

	id[0] = 0x00; /* FC */
	put64(id + 8, 0x21000024ff3b5c6dULL);
	off += put_desc(b + off, 1, 0x01, 0x05, 2, id, sizeof(id));
	memset(id, 0, sizeof(id));
	id[0] = 0x06; /* SAS */
	put64(id + 4, 0x500605b000c0ffeeULL);
	off += put_desc(b + off, 2, 0, 0, 3, id, sizeof(id));
	put32(b + 4, (uint32_t)(off - 8));
	assert_int_equal(scsi_pr_decode_full_status(b, off, &st), 0);
	assert_int_equal(st.n, 2);
	assert_string_equal(st.reg[0].initiator, "fc:0x21000024ff3b5c6d");
	assert_string_equal(st.reg[1].initiator, "sas:0x500605b000c0ffee");
	scsi_pr_full_status_done(&st);
}

static void test_transport_id_malformed(void **state)
{
	unsigned char id[64];
	char name[SCSI_PR_NAME_MAX], isid[16];
	unsigned proto;
	size_t l;

	/* name not NUL-terminated within its length */
	l = iscsi_id(id, 0, "iqn.x:abc");
	memset(id + 4, 'a', l - 4);
	assert_int_equal(
	    scsi_pr_decode_transport_id(id, l, &proto, name, sizeof(name), isid, sizeof(isid)),
	    -EBADMSG);
	/* format 01 without the ",i,0x" separator */
	l = iscsi_id(id, 1, "iqn.x:abc");
	assert_int_equal(
	    scsi_pr_decode_transport_id(id, l, &proto, name, sizeof(name), isid, sizeof(isid)),
	    -EBADMSG);
	/* a control character in the name */
	l = iscsi_id(id, 0, "iqn.x:a\nb");
	assert_int_equal(
	    scsi_pr_decode_transport_id(id, l, &proto, name, sizeof(name), isid, sizeof(isid)),
	    -EBADMSG);
	/* ADDITIONAL LENGTH beyond the id; name longer than the caller's buffer */
	l = iscsi_id(id, 0, "iqn.x:abc");
	assert_int_equal(
	    scsi_pr_decode_transport_id(id, l - 4, &proto, name, sizeof(name), isid, sizeof(isid)),
	    -EBADMSG);
	assert_int_equal(scsi_pr_decode_transport_id(id, l, &proto, name, 5, isid, sizeof(isid)),
			 -EBADMSG);
	assert_int_equal(
	    scsi_pr_decode_transport_id(id, l, &proto, name, sizeof(name), isid, sizeof(isid)), 0);
	assert_string_equal(name, "iqn.x:abc");
	/* FC id shorter than 24 bytes */
	memset(id, 0, sizeof(id));
	assert_int_equal(
	    scsi_pr_decode_transport_id(id, 20, &proto, name, sizeof(name), isid, sizeof(isid)),
	    -EBADMSG);
}

static void test_full_status_truncated(void **state)
{
	unsigned char b[512] = {0}, id[300];
	struct scsi_pr_full_status st = {0};
	size_t off = 8, l, total;

	l = iscsi_id(id, 1, "iqn.2026-12.io.attachd:cell-a,i,0x23d000000001");
	off += put_desc(b + off, 0xaaaa, 0x01, 0x05, 1, id, l);
	l = iscsi_id(id, 0, "iqn.2026-12.io.attachd:cell-b");
	off += put_desc(b + off, 0xbbbb, 0, 0, 0, id, l);
	total = off;
	put32(b + 4, (uint32_t)(total - 8));

	/* every shorter answer (the target cut it) is refused, never read past */
	for (size_t len = 0; len < total; len++) {
		unsigned char *cut = malloc(len ? len : 1);

		assert_non_null(cut);
		memcpy(cut, b, len);
		assert_int_equal(scsi_pr_decode_full_status(cut, len, &st), -EBADMSG);
		free(cut);
	}
	/* every ADDITIONAL LENGTH that does not end on a descriptor boundary, and every
	 * one larger than what arrived */
	for (uint32_t add = 1; add < 600; add++) {
		int r;

		put32(b + 4, add);
		r = scsi_pr_decode_full_status(b, total, &st);
		if (add == total - 8) {
			assert_int_equal(r, 0);
			assert_int_equal(st.n, 2);
			scsi_pr_full_status_done(&st);
		} else if (add == 24 + (size_t)(b[8 + 23])) {
			assert_int_equal(r, 0); /* exactly the first descriptor */
			assert_int_equal(st.n, 1);
			scsi_pr_full_status_done(&st);
		} else {
			assert_int_equal(r, -EBADMSG);
		}
	}
	put32(b + 4, 0xffffffffu);
	assert_int_equal(scsi_pr_decode_full_status(b, total, &st), -EBADMSG);
	/* a descriptor claiming a TransportID longer than the list */
	put32(b + 4, (uint32_t)(total - 8));
	put32(b + 8 + 20, 0x7fffffffu);
	assert_int_equal(scsi_pr_decode_full_status(b, total, &st), -EBADMSG);
}

static void test_ioctl_result(void **state)
{
	assert_int_equal(sys_pr_ioctl_result(0, 0), 0);
	/* no PR ops on the device (a loop device, nvmet without reservations) */
	assert_int_equal(sys_pr_ioctl_result(-1, ENOTTY), -EOPNOTSUPP);
	assert_int_equal(sys_pr_ioctl_result(-1, EOPNOTSUPP), -EOPNOTSUPP);
	/* sd: ILLEGAL REQUEST, invalid field in CDB/parameter list (6.2+) */
	assert_int_equal(sys_pr_ioctl_result(-1, EINVAL), -EOPNOTSUPP);
	assert_int_equal(sys_pr_ioctl_result(-1, ENODEV), -ENXIO);
	assert_int_equal(sys_pr_ioctl_result(-1, EBADE), -EBADE);
	assert_int_equal(sys_pr_ioctl_result(-1, EACCES), -EIO);
	/* positive: pr_status (6.2+), raw SCSI result (older), NVMe status */
	assert_int_equal(sys_pr_ioctl_result(0x18, 0), -EBADE);
	assert_int_equal(sys_pr_ioctl_result(0x10000, 0), -EHOSTDOWN);
	assert_int_equal(sys_pr_ioctl_result(0xe0000, 0), -EHOSTDOWN);
	assert_int_equal(sys_pr_ioctl_result(0xf0000, 0), -EHOSTDOWN);
	assert_int_equal(sys_pr_ioctl_result(0x2, 0), -EIO);
	assert_int_equal(sys_pr_ioctl_result(0x83, 0), -EBADE);
	assert_int_equal(sys_pr_ioctl_result(0x4083, 0), -EBADE); /* with DNR */
}

static void test_pr_in_decode(void **state)
{
	unsigned char illegal[18] = {0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20};
	unsigned char ua[18] = {0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x2a, 0x03};

	assert_int_equal(sys_pr_in_decode(0, 0, 0, NULL, 0), 0);
	assert_int_equal(sys_pr_in_decode(0x18, 0, 0, NULL, 0), -EBADE);
	/* INVALID COMMAND OPERATION CODE: the target does no PR */
	assert_int_equal(sys_pr_in_decode(0x02, 0, 0x08, illegal, sizeof(illegal)), -EOPNOTSUPP);
	/* RESERVATIONS PREEMPTED unit attention: not "unsupported"; ask again */
	assert_int_equal(sys_pr_in_decode(0x02, 0, 0x08, ua, sizeof(ua)), -EAGAIN);
	assert_int_equal(sys_pr_in_decode(0, 0x01, 0, NULL, 0), -EHOSTDOWN);
	assert_int_equal(sys_pr_in_decode(0, 0x03, 0, NULL, 0), -ETIMEDOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_keys),
	    cmocka_unit_test(test_read_keys_too_many),
	    cmocka_unit_test(test_read_reservation),
	    cmocka_unit_test(test_full_status_iscsi),
	    cmocka_unit_test(test_full_status_fc_sas),
	    cmocka_unit_test(test_transport_id_malformed),
	    cmocka_unit_test(test_full_status_truncated),
	    cmocka_unit_test(test_ioctl_result),
	    cmocka_unit_test(test_pr_in_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
