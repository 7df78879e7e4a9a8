/* SPDX-License-Identifier: Apache-2.0 */
/*
 * iscsi backend pure decoders: VPD 0x83 -> the kernel's wwid string (scsi_vpd_lun_id()
 * choice and format), REPORT LUNS, READ CAPACITY, libiscsi error strings, WWID
 * normalisation, initiatorname.iscsi.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "backends/iscsi/internal.h"

/* Build a VPD 0x83 page from designators given as (byte1, bytes...) in a flat list. */
struct page {
	uint8_t b[1024];
	size_t len;
};

static void page_init(struct page *p)
{
	memset(p, 0, sizeof(*p));
	p->b[1] = 0x83;
	p->len = 4;
}

/* code_set 1 = binary, 2 = ASCII, 3 = UTF-8; assoc 0 = LU, 1 = target port */
static void add_desig(struct page *p, int code_set, int assoc, int type, const void *id, size_t n)
{
	uint8_t *d = p->b + p->len;

	d[0] = (uint8_t)code_set;
	d[1] = (uint8_t)((assoc << 4) | type);
	d[3] = (uint8_t)n;
	memcpy(d + 4, id, n);
	p->len += 4 + n;
	p->b[2] = (uint8_t)((p->len - 4) >> 8);
	p->b[3] = (uint8_t)(p->len - 4);
}

static const uint8_t naa6[16] = {0x60, 0x01, 0x40, 0x5a, 0xbc, 0xde, 0xf0, 0x12,
				 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12};
static const uint8_t naa5[8] = {0x50, 0x01, 0x40, 0x5a, 0xbc, 0xde, 0xf0, 0x12};
static const uint8_t naa3[8] = {0x30, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
static const uint8_t eui8[8] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
static const uint8_t eui16[16] = {0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static void expect_wwid(const struct page *p, const char *want)
{
	char w[256];

	assert_int_equal(be_iscsi_vpd83_wwid(p->b, p->len, w, sizeof(w)), 0);
	assert_string_equal(w, want);
}

static void test_vpd83_tgtd_like(void **state)
{
	struct page p;

	/* tgtd: T10 vendor id first, then an NAA IEEE Registered Extended id */
	page_init(&p);
	add_desig(&p, 2, 0, 1, "IET     00010001", 16);
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	expect_wwid(&p, "naa.6001405abcdef0123456789abcdef012");

	/* Order does not matter for different priorities */
	page_init(&p);
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	add_desig(&p, 2, 0, 1, "IET     00010001", 16);
	expect_wwid(&p, "naa.6001405abcdef0123456789abcdef012");
}

static void test_vpd83_priorities(void **state)
{
	struct page p;

	/* The Hitachi case from the kernel fix: a longer T10 id loses to NAA */
	page_init(&p);
	add_desig(&p, 2, 0, 1, "HITACHI 5030C3502025    ", 24);
	add_desig(&p, 1, 1, 0, "\x08\x03", 2); /* vendor specific, target port: skipped */
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	expect_wwid(&p, "naa.6001405abcdef0123456789abcdef012");

	/* NAA registered (5) beats EUI-64 8 byte (3) */
	page_init(&p);
	add_desig(&p, 1, 0, 2, eui8, sizeof(eui8));
	add_desig(&p, 1, 0, 3, naa5, sizeof(naa5));
	expect_wwid(&p, "naa.5001405abcdef012");

	/* EUI-64 16 byte (7) beats NAA registered (5) */
	page_init(&p);
	add_desig(&p, 1, 0, 3, naa5, sizeof(naa5));
	add_desig(&p, 1, 0, 2, eui16, sizeof(eui16));
	expect_wwid(&p, "eui.aa0102030405060708090a0b0c0d0e0f");

	/* NAA registered extended (8) beats EUI-64 16 byte (7) */
	page_init(&p);
	add_desig(&p, 1, 0, 2, eui16, sizeof(eui16));
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	expect_wwid(&p, "naa.6001405abcdef0123456789abcdef012");

	/* A SCSI name string beats everything; its NUL padding is cut */
	page_init(&p);
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	add_desig(&p, 3, 0, 8, "iqn.2003-01.org.example:lu1\0\0\0\0\0", 32);
	expect_wwid(&p, "iqn.2003-01.org.example:lu1");

	/* Designators about the target port are never the LU's id */
	page_init(&p);
	add_desig(&p, 1, 1, 3, naa6, sizeof(naa6));
	add_desig(&p, 2, 0, 1, "LIO-ORG ABC", 11);
	expect_wwid(&p, "t10.LIO-ORG ABC");

	/* Same priority (1): NAA locally assigned after T10 replaces it ... */
	page_init(&p);
	add_desig(&p, 2, 0, 1, "VENDOR  PRODUCT", 15);
	add_desig(&p, 1, 0, 3, naa3, sizeof(naa3));
	expect_wwid(&p, "naa.3011223344556677");
	/* ... but a T10 id after a shorter NAA-3 replaces that in turn */
	page_init(&p);
	add_desig(&p, 1, 0, 3, naa3, sizeof(naa3));
	add_desig(&p, 2, 0, 1, "VENDOR  PRODUCT", 15);
	expect_wwid(&p, "t10.VENDOR  PRODUCT");
}

static void test_vpd83_t10_format(void **state)
{
	struct page p;

	/* Kernel %pE: printable bytes as is (inner spaces kept), others escaped; trailing
	 * spaces are dropped by normalisation on both sides of a comparison. */
	page_init(&p);
	add_desig(&p, 2, 0, 1, "IET     VIRTUAL\tD\x01\x1b\\    ", 24);
	expect_wwid(&p, "t10.IET     VIRTUAL\\tD\\001\\e\\");
}

static void test_vpd83_errors(void **state)
{
	struct page p;
	char w[256];

	page_init(&p);
	assert_int_equal(be_iscsi_vpd83_wwid(p.b, p.len, w, sizeof(w)), -ENODATA);
	p.b[1] = 0x80;
	assert_int_equal(be_iscsi_vpd83_wwid(p.b, p.len, w, sizeof(w)), -EINVAL);
	assert_int_equal(be_iscsi_vpd83_wwid(p.b, 3, w, sizeof(w)), -EINVAL);
	assert_int_equal(be_iscsi_vpd83_wwid(NULL, 0, w, sizeof(w)), -EINVAL);

	/* A designator running past the page ends the walk (kernel bounds fix) */
	page_init(&p);
	add_desig(&p, 2, 0, 1, "GOOD    ID", 10);
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	p.b[4 + 14 + 3] = 200; /* second designator claims 200 bytes */
	expect_wwid(&p, "t10.GOOD    ID");

	/* Truncated transfer: only what arrived is used */
	page_init(&p);
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	assert_int_equal(be_iscsi_vpd83_wwid(p.b, 10, w, sizeof(w)), -ENODATA);

	/* An NAA id of a length the kernel does not print: no id */
	page_init(&p);
	add_desig(&p, 1, 0, 3, naa6, 12);
	assert_int_equal(be_iscsi_vpd83_wwid(p.b, p.len, w, sizeof(w)), -ENODATA);

	/* Output buffer too small */
	page_init(&p);
	add_desig(&p, 1, 0, 3, naa6, sizeof(naa6));
	assert_int_equal(be_iscsi_vpd83_wwid(p.b, p.len, w, 10), -ENOBUFS);
}

static void test_report_luns(void **state)
{
	uint8_t d[8 + 8 * 6] = {0};
	struct be_iscsi_lun l[8];
	size_t n, needed;
	char list[64];

	d[3] = 8 * 6;
	d[8 + 8 * 1 + 1] = 1;				  /* LUN 1 (peripheral) */
	d[8 + 8 * 2 + 0] = 0x41, d[8 + 8 * 2 + 1] = 0x2c; /* 300, flat space */
	d[8 + 8 * 3 + 0] = 0x01, d[8 + 8 * 3 + 1] = 0x2c; /* 300 as LIO writes it */
	d[8 + 8 * 4 + 1] = 7, d[8 + 8 * 4 + 2] = 0x40;	  /* two levels: skipped */
	d[8 + 8 * 5 + 0] = 0x7f, d[8 + 8 * 5 + 1] = 0xff; /* 16383 flat */
	assert_int_equal(be_iscsi_report_luns_parse(d, sizeof(d), l, 8, &n, &needed), 0);
	assert_int_equal(n, 5);
	assert_int_equal(needed, sizeof(d));
	assert_int_equal(l[0].number, 0);
	assert_int_equal(l[0].kernel_lun, 0);
	assert_int_equal(l[1].number, 1);
	assert_int_equal(l[2].number, 300);
	assert_int_equal(l[2].kernel_lun, 0x412c);
	assert_int_equal(l[3].number, 300);
	assert_int_equal(l[3].kernel_lun, 300);
	assert_int_equal(l[4].number, 16383);
	be_iscsi_format_luns(l, n, list, sizeof(list));
	assert_string_equal(list, "0,1,300,300,16383");
	be_iscsi_format_luns(l, n, list, 10);
	assert_string_equal(list, "0,1,...");
	be_iscsi_format_luns(l, 0, list, sizeof(list));
	assert_string_equal(list, "none");

	/* The list is longer than the allocation: tell how much is needed */
	d[2] = 1, d[3] = 0; /* 256 bytes = 32 entries */
	assert_int_equal(be_iscsi_report_luns_parse(d, 8 + 16, l, 8, &n, &needed), 0);
	assert_int_equal(n, 2);
	assert_int_equal(needed, 8 + 256);
	/* max caps the entries filled */
	assert_int_equal(be_iscsi_report_luns_parse(d, sizeof(d), l, 1, &n, &needed), 0);
	assert_int_equal(n, 1);
	assert_int_equal(be_iscsi_report_luns_parse(d, 7, l, 8, &n, &needed), -EINVAL);

	assert_int_equal(be_iscsi_kernel_lun(0), 0);
	assert_int_equal(be_iscsi_kernel_lun(255), 255);
	assert_int_equal(be_iscsi_kernel_lun(256), 0x4100);
}

static void test_readcap(void **state)
{
	uint8_t rc16[32] = {0}, rc10[8] = {0};
	uint64_t sz;

	rc16[6] = 0xff, rc16[7] = 0xff; /* last LBA 65535 */
	rc16[10] = 0x02;		/* 512-byte blocks */
	assert_int_equal(be_iscsi_readcap16_size(rc16, sizeof(rc16), &sz), 0);
	assert_int_equal(sz, 65536ull * 512);
	rc16[10] = 0x10; /* 4096 */
	assert_int_equal(be_iscsi_readcap16_size(rc16, sizeof(rc16), &sz), 0);
	assert_int_equal(sz, 65536ull * 4096);
	assert_int_equal(be_iscsi_readcap16_size(rc16, 11, &sz), -EINVAL);
	memset(rc16, 0xff, 8);
	assert_int_equal(be_iscsi_readcap16_size(rc16, sizeof(rc16), &sz), -EINVAL);
	memset(rc16, 0, sizeof(rc16));
	assert_int_equal(be_iscsi_readcap16_size(rc16, sizeof(rc16), &sz), -EINVAL); /* bl 0 */

	rc10[3] = 0x7f, rc10[6] = 0x02; /* 128 blocks of 512 */
	assert_int_equal(be_iscsi_readcap10_size(rc10, sizeof(rc10), &sz), 0);
	assert_int_equal(sz, 128 * 512);
	memset(rc10, 0xff, 4);
	assert_int_equal(be_iscsi_readcap10_size(rc10, sizeof(rc10), &sz), -EOVERFLOW);
	assert_int_equal(be_iscsi_readcap10_size(rc10, 7, &sz), -EINVAL);
}

static void test_libiscsi_errors(void **state)
{
	int err, st;

	be_iscsi_libiscsi_error_parse("Failed to log in to target. Status: Target not found(515)",
				      &err, &st);
	assert_int_equal(st, 0x0203);
	assert_int_equal(err, 0);
	be_iscsi_libiscsi_error_parse(
	    "Failed to log in to target. Status: Authentication failure(513)", &err, &st);
	assert_int_equal(st, 0x0201);
	be_iscsi_libiscsi_error_parse("Failed to log in to target. Status: Target moved "
				      "(unknown)(256)",
				      &err, &st);
	assert_int_equal(st, 0x0100);
	be_iscsi_libiscsi_error_parse("Failed to connect to iSCSI socket. iscsi_service: socket "
				      "error Connection refused(111) while connecting.",
				      &err, &st);
	assert_int_equal(err, 111);
	assert_int_equal(st, -1);
	be_iscsi_libiscsi_error_parse("iscsi_service: socket error No route to host(113).", &err,
				      &st);
	assert_int_equal(err, 113);
	be_iscsi_libiscsi_error_parse("Couldn't connect transport: Connect failed with errno : "
				      "Network is unreachable(101)",
				      &err, &st);
	assert_int_equal(err, 101);
	be_iscsi_libiscsi_error_parse("iscsi_service: POLLHUP, socket error.", &err, &st);
	assert_int_equal(err, ECONNRESET);
	be_iscsi_libiscsi_error_parse("something else (12)", &err, &st);
	assert_int_equal(err, 0);
	assert_int_equal(st, -1);
	be_iscsi_libiscsi_error_parse(NULL, &err, &st);
	assert_int_equal(err, 0);
}

static void test_wwid_normalize(void **state)
{
	char w[64];

	assert_int_equal(
	    be_iscsi_wwid_normalize("naa.6001405ABC0123456789ABCDEF0123\n", w, sizeof(w)), 0);
	assert_string_equal(w, "naa.6001405abc0123456789abcdef0123");
	assert_int_equal(be_iscsi_wwid_normalize("36001405ABC0123456789abcdef012345", w, sizeof(w)),
			 0);
	assert_string_equal(w, "naa.6001405abc0123456789abcdef012345");
	assert_int_equal(be_iscsi_wwid_normalize("2AABBCCDDEEFF0011", w, sizeof(w)), 0);
	assert_string_equal(w, "eui.aabbccddeeff0011");
	/* a "3" + wrong length is not udev's form: kept as given */
	assert_int_equal(be_iscsi_wwid_normalize("3123", w, sizeof(w)), 0);
	assert_string_equal(w, "3123");
	assert_int_equal(be_iscsi_wwid_normalize("t10.IET     VIRTUAL-DISK  \n", w, sizeof(w)), 0);
	assert_string_equal(w, "t10.IET     VIRTUAL-DISK");
	/* case is significant outside naa./eui. hex */
	assert_int_equal(be_iscsi_wwid_normalize("t10.ABC", w, sizeof(w)), 0);
	assert_string_equal(w, "t10.ABC");
	assert_int_equal(be_iscsi_wwid_normalize(" \n", w, sizeof(w)), -EINVAL);
	assert_int_equal(be_iscsi_wwid_normalize(NULL, w, sizeof(w)), -EINVAL);
	assert_int_equal(be_iscsi_wwid_normalize("naa.6001405abc0123", w, 8), -ENOBUFS);

	assert_true(be_iscsi_wwid_is_valid("naa.6001405abc012345"));
	assert_true(be_iscsi_wwid_is_valid("eui.0011223344556677"));
	assert_true(be_iscsi_wwid_is_valid("t10.X"));
	assert_true(be_iscsi_wwid_is_valid("iqn.2003-01.org.example:lu1"));
	assert_false(be_iscsi_wwid_is_valid("naa.600140"));
	assert_false(be_iscsi_wwid_is_valid("eui.zz11223344556677"));
	assert_false(be_iscsi_wwid_is_valid("uuid.1234"));
	assert_false(be_iscsi_wwid_is_valid(""));
}

static void test_initiator_name_parse(void **state)
{
	char n[64];

	assert_int_equal(
	    be_iscsi_initiator_name_parse("## DO NOT EDIT\n#InitiatorName=iqn.x:no\n"
					  "  InitiatorName=iqn.1993-08.org.debian:01:ab "
					  "\n",
					  n, sizeof(n)),
	    0);
	assert_string_equal(n, "iqn.1993-08.org.debian:01:ab");
	assert_int_equal(be_iscsi_initiator_name_parse("InitiatorName=iqn.a:b", n, sizeof(n)), 0);
	assert_string_equal(n, "iqn.a:b");
	assert_int_equal(be_iscsi_initiator_name_parse("InitiatorName=\n", n, sizeof(n)), -ENOENT);
	assert_int_equal(be_iscsi_initiator_name_parse("# nothing\n", n, sizeof(n)), -ENOENT);
	assert_int_equal(be_iscsi_initiator_name_parse("", n, sizeof(n)), -ENOENT);
	assert_int_equal(
	    be_iscsi_initiator_name_parse("InitiatorName=iqn.1993-08.org.debian:01:ab", n, 8),
	    -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vpd83_tgtd_like),	 cmocka_unit_test(test_vpd83_priorities),
	    cmocka_unit_test(test_vpd83_t10_format),	 cmocka_unit_test(test_vpd83_errors),
	    cmocka_unit_test(test_report_luns),		 cmocka_unit_test(test_readcap),
	    cmocka_unit_test(test_libiscsi_errors),	 cmocka_unit_test(test_wwid_normalize),
	    cmocka_unit_test(test_initiator_name_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
