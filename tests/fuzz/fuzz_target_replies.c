/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a storage target sends back, decoded before attachd trusts a device: SCSI REPORT
 * LUNS, READ CAPACITY (16) and (10), VPD page 0x83 (-> the kernel-style WWID), WWID
 * normalisation, libiscsi's error strings, and NVMe Identify (active namespace list and
 * namespace identification descriptors) through the fabrics seam, and the PERSISTENT
 * RESERVE IN answers fencing reads (READ KEYS, READ RESERVATION, READ FULL STATUS with
 * its TransportIDs). The target is across
 * the network: nothing it sends is trusted.
 *
 * Input: one reply; every decoder gets the same bytes (NVMe: both Identify answers).
 */
#include <stdlib.h>
#include <string.h>

#include "backends/iscsi/internal.h"
#include "backends/nvme/internal.h"
#include "lib/scsi_pr.h"
#include "tests/fuzz/fuzz.h"

struct reply {
	const uint8_t *data;
	size_t size;
};

static int identify(void *ud, const struct sys *s, unsigned instance, unsigned cns, uint32_t nsid,
		    void *buf, size_t len)
{
	const struct reply *r = ud;

	memset(buf, 0, len);
	memcpy(buf, r->data, r->size < len ? r->size : len);
	return 0;
}

static const struct be_nvme_fabrics_ops fabrics = {.identify = identify};
static void *nvme_cfg[3]; /* by uuid, nguid, nsid */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const opts[] = {
	    "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2024-01.io.example:s1\","
	    "\"uuid\":\"3b0c8d2e-6f4a-4c1e-9d7b-2a5e8f1c0d41\"}",
	    "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2024-01.io.example:s1\","
	    "\"nguid\":\"0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9\"}",
	    "{\"traddr\":\"10.0.0.5\",\"subnqn\":\"nqn.2024-01.io.example:s1\",\"nsid\":2}",
	};

	for (int i = 0; i < 3; i++) {
		json_t *j = json_loads(opts[i], 0, NULL);
		struct errlist el = {.n = 0};

		if (!j || be_nvme_parse(j, &nvme_cfg[i], &el) < 0)
			abort();
		json_decref(j);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct be_iscsi_lun luns[64];
	struct reply rep = {data, size};
	size_t n, needed;
	uint64_t bytes;
	char buf[256], small[24], *s;
	int err, login;
	struct sys sys = {.sysfs_root = "", .dev_root = "", .proc_root = "", .etc_root = ""};

	if (be_iscsi_report_luns_parse(data, size, luns, 64, &n, &needed) == 0) {
		if (n > 64)
			abort();
		be_iscsi_format_luns(luns, n, buf, sizeof(buf));
		be_iscsi_format_luns(luns, n, small, sizeof(small));
		for (size_t i = 0; i < n; i++)
			(void)be_iscsi_kernel_lun(luns[i].number);
	}
	(void)be_iscsi_readcap16_size(data, size, &bytes);
	(void)be_iscsi_readcap10_size(data, size, &bytes);
	if (be_iscsi_vpd83_wwid(data, size, buf, sizeof(buf)) == 0 && strlen(buf) >= sizeof(buf))
		abort();
	(void)be_iscsi_vpd83_wwid(data, size, small, sizeof(small));

	s = fuzz_strndup(data, size);
	if (be_iscsi_wwid_normalize(s, buf, sizeof(buf)) == 0)
		(void)be_iscsi_wwid_is_valid(buf);
	(void)be_iscsi_wwid_normalize(s, small, sizeof(small));
	be_iscsi_libiscsi_error_parse(s, &err, &login);
	free(s);

	{
		struct scsi_pr_keys keys;
		struct scsi_pr_reservation resv;
		struct scsi_pr_full_status st;
		char name[SCSI_PR_NAME_MAX], isid[16];
		unsigned proto;

		if (scsi_pr_decode_keys(data, size, &keys) == 0 && keys.n > SCSI_PR_MAX_KEYS)
			abort();
		(void)scsi_pr_decode_reservation(data, size, &resv);
		if (scsi_pr_decode_full_status(data, size, &st) == 0) {
			for (size_t i = 0; i < st.n; i++)
				if (strlen(st.reg[i].initiator) >= sizeof(st.reg[i].initiator) ||
				    strlen(st.reg[i].isid) >= sizeof(st.reg[i].isid))
					abort();
			(void)scsi_pr_full_status_holder(&st);
			scsi_pr_full_status_done(&st);
		}
		(void)scsi_pr_decode_transport_id(data, size, &proto, name, sizeof(name), isid,
						  sizeof(isid));
	}

	for (int i = 0; i < 3; i++) {
		be_nvme_cfg_set_fabrics_ops(nvme_cfg[i], &fabrics, &rep);
		(void)be_nvme_target_has_ns(nvme_cfg[i], &sys, 0, buf, sizeof(buf));
		(void)be_nvme_target_has_ns(nvme_cfg[i], &sys, 0, small, sizeof(small));
	}
	return 0;
}
