/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SCSI persistent reservations: pure decoders of the PERSISTENT RESERVE IN answers
 * (SPC-4 6.16) that fencing reads from a target. The bytes come from the target, so
 * every length in them is checked against what arrived: a truncated or oversized answer
 * is -EBADMSG, never a read past the buffer. No allocation except where stated.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for the keys of a READ KEYS answer; more registrants than this is -E2BIG. */
#define SCSI_PR_MAX_KEYS 64
/* iSCSI names are at most 223 bytes (RFC 3720); ",i,0x" + 12 hex digits of ISID follow. */
#define SCSI_PR_NAME_MAX 256

struct scsi_pr_keys {
	uint32_t generation;
	size_t n;
	uint64_t keys[SCSI_PR_MAX_KEYS];
};

struct scsi_pr_reservation {
	uint32_t generation;
	bool held;	/* false: no persistent reservation on the LU */
	uint64_t key;	/* the holder's key (0 for the all-registrants types) */
	unsigned type;	/* SCSI type (5h: Write Exclusive - Registrants Only) */
	unsigned scope; /* 0: LU scope */
};

struct scsi_pr_registrant {
	uint64_t key;
	bool holder;	/* R_HOLDER: this I_T nexus holds the reservation */
	bool all_tg_pt; /* registered through every target port */
	unsigned type;	/* SCSI type (valid when holder) */
	unsigned scope;
	uint16_t rel_tgt_port; /* RELATIVE TARGET PORT IDENTIFIER (when !all_tg_pt) */
	unsigned protocol;     /* TransportID protocol identifier (5 iSCSI, 0 FC, 6 SAS, ...) */
	/* The initiator: its IQN for iSCSI (the ",i,0x<ISID>" part dropped, kept in isid),
	 * hex of the TransportID for other protocols ("fc:0x2100...", "sas:0x5000..."). */
	char initiator[SCSI_PR_NAME_MAX];
	char isid[16]; /* "0x23d000000000" for format 01 iSCSI ids, else "" */
};

struct scsi_pr_full_status {
	uint32_t generation;
	size_t n;
	struct scsi_pr_registrant *reg; /* n entries, owned (free with scsi_pr_full_status_done) */
};

/* SCSI PR type 5h, the one fencing uses; and its IOC_PR spelling is
 * SYS_PR_WRITE_EXCLUSIVE_REG_ONLY. */
#define SCSI_PR_TYPE_WE_RO 0x5

/* Decode a READ KEYS answer of len bytes. 0, -EBADMSG (malformed or truncated: the
 * ADDITIONAL LENGTH claims more than arrived or is not a multiple of 8), -E2BIG (more
 * than SCSI_PR_MAX_KEYS). */
int scsi_pr_decode_keys(const unsigned char *buf, size_t len, struct scsi_pr_keys *ret);
/* Decode a READ RESERVATION answer. 0 or -EBADMSG. */
int scsi_pr_decode_reservation(const unsigned char *buf, size_t len,
			       struct scsi_pr_reservation *ret);
/* Decode a READ FULL STATUS answer into ret (allocates ret->reg). 0, -EBADMSG, -ENOMEM. */
int scsi_pr_decode_full_status(const unsigned char *buf, size_t len,
			       struct scsi_pr_full_status *ret);
void scsi_pr_full_status_done(struct scsi_pr_full_status *st);
/* Decode one TransportID (SPC-4 7.6.4) of len bytes into the initiator text (see
 * struct scsi_pr_registrant). 0 or -EBADMSG. */
int scsi_pr_decode_transport_id(const unsigned char *id, size_t len, unsigned *ret_protocol,
				char *ret_name, size_t name_len, char *ret_isid, size_t isid_len);
/* The registrant that holds the reservation, or NULL. */
const struct scsi_pr_registrant *scsi_pr_full_status_holder(const struct scsi_pr_full_status *st);
/* The first registrant with key, or NULL. */
const struct scsi_pr_registrant *scsi_pr_full_status_find(const struct scsi_pr_full_status *st,
							  uint64_t key);
