/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/identity.h"
#include "lib/macro.h"

#define FENCING_PREFIX "attachd-fencing:"
#define INITIATOR_FILE "/etc/iscsi/initiatorname.iscsi"
#define HOSTNQN_FILE "/etc/nvme/hostnqn"
#define HOSTID_FILE "/etc/nvme/hostid"
#define MACHINE_ID_FILE "/etc/machine-id"
#define DEFAULT_DRV_CFG "/opt/emc/scaleio/sdc/bin/drv_cfg"
#define DEFAULT_ISCSI_IFACE "attachd"
#define UUID_NQN_PREFIX "nqn.2014-08.org.nvmexpress:uuid:"

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int attach_fencing_key_derive(const char *machine_id, const char *initiator, uint64_t *ret)
{
	const char *src = machine_id && *machine_id ? machine_id : initiator;
	unsigned char d[32];
	_cleanup_free_ char *text = NULL;
	uint64_t k;

	if (!src || !*src)
		return -EINVAL;
	if (asprintf(&text, "%s%s", FENCING_PREFIX, src) < 0)
		return -ENOMEM;
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), d) < 0)
		return -EIO;
	k = be64(d);
	if (k == 0)
		k = be64(d + 8);
	*ret = k ? k : 1;
	return 0;
}

int attach_fencing_key_is_valid(const char *s)
{
	int nonzero = 0;

	if (!s || strlen(s) != ATTACH_FENCING_KEY_LEN)
		return 0;
	for (const char *p = s; *p; p++) {
		if (!isxdigit((unsigned char)*p))
			return 0;
		nonzero |= *p != '0';
	}
	return nonzero;
}

static int is_guid_at(const char *p)
{
	static const int groups[] = {8, 4, 4, 4, 12};

	for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
		for (int i = 0; i < groups[g]; i++, p++)
			if (!isxdigit((unsigned char)*p))
				return 0;
		if (g < ELEMENTSOF(groups) - 1 && *p++ != '-')
			return 0;
	}
	return !isxdigit((unsigned char)*p) && *p != '-';
}

int attach_drv_cfg_guid_parse(const char *out, char *buf, size_t n)
{
	for (const char *p = out; p && *p; p++) {
		if (p > out && (isxdigit((unsigned char)p[-1]) || p[-1] == '-'))
			continue;
		if (is_guid_at(p)) {
			if (n < 37)
				return -ENOBUFS;
			memcpy(buf, p, 36);
			buf[36] = 0;
			return 0;
		}
	}
	return -ENOENT;
}

/* First line of <etc_root>path, trailing blanks removed. -ENODATA when empty. */
static int read_line(const struct sys *s, const char *path, char **ret)
{
	_cleanup_free_ char *text = NULL;
	char full[4096];
	size_t l;
	int r;

	if (!sys_path(full, sizeof(full), s->etc_root, path))
		return -ENAMETOOLONG;
	r = s->ops->read_file(s, full, &text, 64 * 1024);
	if (r < 0)
		return r;
	l = strcspn(text, "\r\n");
	while (l > 0 && isspace((unsigned char)text[l - 1]))
		l--;
	text[l] = 0;
	if (l == 0)
		return -ENODATA;
	*ret = TAKE_PTR(text);
	return 0;
}

/* InitiatorName= of initiatorname.iscsi (comments and blanks skipped). */
static int read_initiator(const struct sys *s, char **ret)
{
	_cleanup_free_ char *text = NULL;
	char full[4096];
	int r;

	if (!sys_path(full, sizeof(full), s->etc_root, INITIATOR_FILE))
		return -ENAMETOOLONG;
	r = s->ops->read_file(s, full, &text, 64 * 1024);
	if (r < 0)
		return r;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		size_t l;

		line += strspn(line, " \t");
		if (strncmp(line, "InitiatorName=", 14) != 0)
			continue;
		line += 14;
		l = strcspn(line, "\r");
		while (l > 0 && isspace((unsigned char)line[l - 1]))
			l--;
		if (l == 0)
			continue;
		*ret = strndup(line, l);
		return *ret ? 0 : -ENOMEM;
	}
	return -ENODATA;
}

static int add(json_t *o, const char *key, const char *value, const char *source, const char *err)
{
	json_t *e = json_pack("{s:s,s:s,s:s}", "value", value ? value : "", "source", source,
			      "error", err ? err : "");

	if (!e || json_object_set_new(o, key, e) < 0)
		return -ENOMEM;
	return err && *err ? 1 : 0;
}

static int add_file_error(json_t *o, const char *key, const char *file, int r, const char *fix)
{
	char msg[512];

	if (r == -ENODATA)
		snprintf(msg, sizeof(msg), "%s holds no value: %s", file, fix);
	else
		snprintf(msg, sizeof(msg), "cannot read %s (%s): %s", file, strerror(-r), fix);
	return add(o, key, "", "none", msg);
}

static int sum(int *errors, int r)
{
	if (r < 0)
		return r;
	*errors += r;
	return 0;
}

static int collect_iscsi(const struct sys *s, const struct backend_host_config *host, json_t *o,
			 int *errors, char **ret_initiator)
{
	_cleanup_free_ char *name = NULL;
	char src[64];
	int r;

	if (host && host->iscsi_initiator_name[0]) {
		r = sum(errors,
			add(o, "iscsi_initiator_name", host->iscsi_initiator_name, "config", NULL));
		name = strdup(host->iscsi_initiator_name);
	} else {
		r = read_initiator(s, &name);
		snprintf(src, sizeof(src), "file %s", INITIATOR_FILE);
		r = sum(errors, r < 0 ? add_file_error(o, "iscsi_initiator_name", INITIATOR_FILE, r,
						       "install open-iscsi (it creates one) or "
						       "set iscsi.initiator_name in the agent "
						       "config")
				      : add(o, "iscsi_initiator_name", name, src, NULL));
	}
	if (r < 0)
		return r;
	*ret_initiator = TAKE_PTR(name);
	if (host && host->iscsi_iface[0] && !streq(host->iscsi_iface, DEFAULT_ISCSI_IFACE))
		return sum(errors, add(o, "iscsi_iface", host->iscsi_iface, "config", NULL));
	return sum(errors, add(o, "iscsi_iface", DEFAULT_ISCSI_IFACE, "default", NULL));
}

static int collect_nvme(const struct sys *s, const struct backend_host_config *host, json_t *o,
			int *errors)
{
	_cleanup_free_ char *file_nqn = NULL, *id = NULL;
	const char *nqn = NULL;
	int r, rf;

	rf = read_line(s, HOSTNQN_FILE, &file_nqn);
	if (host && host->nvme_hostnqn[0]) {
		nqn = host->nvme_hostnqn;
		r = sum(errors, add(o, "nvme_hostnqn", nqn, "config", NULL));
	} else if (rf == 0) {
		nqn = file_nqn;
		r = sum(errors, add(o, "nvme_hostnqn", nqn, "file " HOSTNQN_FILE, NULL));
	} else {
		r = sum(errors, add_file_error(o, "nvme_hostnqn", HOSTNQN_FILE, rf,
					       "install nvme-cli and run nvme gen-hostnqn > "
					       "/etc/nvme/hostnqn, or set nvme.hostnqn in the "
					       "agent config"));
	}
	if (r < 0)
		return r;
	/* As the nvme backend pairs them: the file's ID with the file's NQN, else the UUID of
	 * a uuid-form NQN, else none (the kernel makes one per connect). */
	if (nqn && file_nqn && streq(nqn, file_nqn) && read_line(s, HOSTID_FILE, &id) == 0)
		return sum(errors, add(o, "nvme_hostid", id, "file " HOSTID_FILE, NULL));
	if (nqn && startswith(nqn, UUID_NQN_PREFIX))
		return sum(errors, add(o, "nvme_hostid", nqn + strlen(UUID_NQN_PREFIX),
				       "from nvme_hostnqn", NULL));
	return sum(errors, add(o, "nvme_hostid", "", "none", NULL));
}

static int collect_sdc(const struct sys *s, const struct backend_host_config *host, json_t *o,
		       int *errors)
{
	const char *drv =
	    host && host->scaleio.drv_cfg[0] ? host->scaleio.drv_cfg : DEFAULT_DRV_CFG;
	char *argv[] = {(char *)drv, (char *)"--query_guid", NULL};
	_cleanup_free_ char *out = NULL;
	char guid[40], msg[512];
	int r;

	if (host && host->scaleio.sdc_guid[0])
		return sum(errors,
			   add(o, "scaleio_sdc_guid", host->scaleio.sdc_guid, "config", NULL));
	r = sys_run(s, argv, ATTACH_IDENTITY_DRV_CFG_TIMEOUT_MS, &out);
	if (r == -ENOENT)
		return sum(errors, add(o, "scaleio_sdc_guid", "", "not installed", NULL));
	if (r < 0)
		snprintf(msg, sizeof(msg), "cannot run %s --query_guid: %s", drv, strerror(-r));
	else if (r != 0)
		snprintf(msg, sizeof(msg), "%s --query_guid exited %d: %.200s", drv, r,
			 out ? out : "");
	else if (attach_drv_cfg_guid_parse(out, guid, sizeof(guid)) < 0)
		snprintf(msg, sizeof(msg), "%s --query_guid printed no GUID: %.200s", drv,
			 out ? out : "");
	else
		return sum(errors, add(o, "scaleio_sdc_guid", guid, "drv_cfg", NULL));
	return sum(errors, add(o, "scaleio_sdc_guid", "", "drv_cfg", msg));
}

static int collect_fencing(const struct sys *s, const char *key, const char *initiator, json_t *o,
			   int *errors)
{
	_cleanup_free_ char *mid = NULL;
	char hex[ATTACH_FENCING_KEY_LEN + 1];
	uint64_t k;
	int r;

	if (key && *key) {
		if (!attach_fencing_key_is_valid(key))
			return sum(errors, add(o, "fencing_key", key, "config",
					       "fencing.key must be 16 hex digits, not all 0"));
		for (size_t i = 0; i < sizeof(hex); i++)
			hex[i] = (char)tolower((unsigned char)key[i]);
		return sum(errors, add(o, "fencing_key", hex, "config", NULL));
	}
	r = read_line(s, MACHINE_ID_FILE, &mid);
	if (r == 0 && attach_fencing_key_derive(mid, NULL, &k) == 0) {
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)k);
		return sum(errors,
			   add(o, "fencing_key", hex, "derived from " MACHINE_ID_FILE, NULL));
	}
	if (initiator && attach_fencing_key_derive(NULL, initiator, &k) == 0) {
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)k);
		return sum(errors,
			   add(o, "fencing_key", hex, "derived from iscsi_initiator_name", NULL));
	}
	return sum(errors, add(o, "fencing_key", "", "none",
			       "no " MACHINE_ID_FILE " and no iSCSI initiator name to derive "
			       "it from: set fencing.key in the agent config"));
}

int attach_fencing_key_resolve(const struct sys *s, const struct backend_host_config *host,
			       const char *fencing_key, uint64_t *ret)
{
	_cleanup_free_ char *mid = NULL, *ini = NULL;
	const char *initiator = host && host->iscsi_initiator_name[0]
					? host->iscsi_initiator_name
					: NULL;
	uint64_t k;

	if (fencing_key && *fencing_key) {
		if (!attach_fencing_key_is_valid(fencing_key))
			return -EINVAL;
		*ret = strtoull(fencing_key, NULL, 16);
		return 0;
	}
	if (read_line(s, MACHINE_ID_FILE, &mid) == 0 && attach_fencing_key_derive(mid, NULL, &k) == 0) {
		*ret = k;
		return 0;
	}
	if (!initiator && read_initiator(s, &ini) == 0)
		initiator = ini;
	if (initiator && attach_fencing_key_derive(NULL, initiator, &k) == 0) {
		*ret = k;
		return 0;
	}
	return -ENOENT;
}

int attach_identity_collect(const struct sys *s, const struct backend_host_config *host,
			    const char *fencing_key, json_t **ret)
{
	_cleanup_free_ char *initiator = NULL;
	json_t *o = json_object();
	int errors = 0, r;

	if (!o)
		return -ENOMEM;
	r = collect_iscsi(s, host, o, &errors, &initiator);
	if (r >= 0)
		r = collect_nvme(s, host, o, &errors);
	if (r >= 0)
		r = collect_sdc(s, host, o, &errors);
	/* The gateway's id of that SDC: only the agent asks the gateway (it has the
	 * credentials); it replaces this entry (attach_identity_set_sdc_id). */
	if (r >= 0)
		r = sum(&errors, add(o, "scaleio_sdc_id", "", "not asked (needs the agent)", NULL));
	if (r >= 0)
		r = collect_fencing(s, fencing_key, initiator, o, &errors);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	*ret = o;
	return errors;
}

int attach_identity_set_sdc_id(json_t *identity, const char *value, const char *source,
			       const char *err)
{
	return add(identity, "scaleio_sdc_id", value, source, err);
}
