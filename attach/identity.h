/* SPDX-License-Identifier: Apache-2.0 */
/*
 * This host's identity for the array admin (attachctl identity): iSCSI initiator name and
 * iface, NVMe host NQN and host ID, PowerFlex SDC GUID and the fencing (SCSI-3 PR) key,
 * each with where it came from. Reads files under sys->etc_root and runs drv_cfg through
 * sys->ops->run, so tests use a fixture root and a fake runner.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "lib/sys.h"

/* 16 hex digits + NUL */
#define ATTACH_FENCING_KEY_LEN 16
/* drv_cfg --query_guid gets this long. */
#define ATTACH_IDENTITY_DRV_CFG_TIMEOUT_MS 10000
/* The agent's SDC lookup on the PowerFlex gateway (attachctl identity). */
#define ATTACH_IDENTITY_GATEWAY_TIMEOUT_MS 15000

/*
 * The fencing key derived from the host identity: the first 8 bytes (big-endian) of
 * SHA-256("attachd-fencing:" + machine_id), or over initiator when machine_id is NULL or
 * empty; never 0 (the next 8 bytes then, else 1). Pure. 0, or -EINVAL when both are empty.
 */
int attach_fencing_key_derive(const char *machine_id, const char *initiator, uint64_t *ret);

/*
 * This host's fencing key as attachctl identity shows it: fencing_key (config) if set,
 * else derived from /etc/machine-id, else from the iSCSI initiator name (host's, else
 * initiatorname.iscsi). 0 and *ret; -EINVAL for a bad configured key; -ENOENT when there is
 * nothing to derive it from. Reads files through s.
 */
int attach_fencing_key_resolve(const struct sys *s, const struct backend_host_config *host,
			       const char *fencing_key, uint64_t *ret);

/* 1 if s is exactly 16 hex digits and not all zero, else 0. */
int attach_fencing_key_is_valid(const char *s);

/* The GUID (8-4-4-4-12 hex) in drv_cfg --query_guid's output. 0 or -ENOENT. Pure. */
int attach_drv_cfg_guid_parse(const char *out, char *buf, size_t n);

/*
 * Collect the identity. host may be NULL (no agent config: files only); fencing_key is the
 * configured key ("" or NULL: derived). *ret is an object with, in this order, the entries
 *   iscsi_initiator_name, iscsi_iface, nvme_hostnqn, nvme_hostid, scaleio_sdc_guid,
 *   scaleio_sdc_id (always "not asked": the agent fills it from the gateway), fencing_key
 * each {"value": string ("" when none), "source": "config" | "default" | "file <path>" |
 * "drv_cfg" | "derived from <path>" | "not installed" | "none", "error": string ("" ok)}.
 * Returns the number of entries with an error (>= 0) or -ENOMEM.
 */
int attach_identity_collect(const struct sys *s, const struct backend_host_config *host,
			    const char *fencing_key, json_t **ret);

/* Set the scaleio_sdc_id entry (the agent, after asking the gateway). 1 if err is set, 0,
 * or -ENOMEM. */
int attach_identity_set_sdc_id(json_t *identity, const char *value, const char *source,
			       const char *err);
