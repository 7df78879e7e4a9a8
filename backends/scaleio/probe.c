/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

int be_sio_probe_volume(const struct backend_scaleio_host *host, int timeout_ms,
			const char *system_id, const char *volume_id, struct be_sio_volume *ret,
			struct errbuf *e)
{
	struct be_sio_client c;
	struct be_sio_volume vol;
	json_t *j = NULL;
	char path[96];
	long code = -1;
	int r;

	if (!be_sio_id_is_valid(system_id) || !be_sio_id_is_valid(volume_id))
		return errbuf_set(e, -EINVAL, "system and volume ids are 16 hex digits");
	r = be_sio_client_init(&c, host, timeout_ms, e);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/api/instances/System::%s", system_id);
	r = be_sio_call_json(&c, "GET", path, NULL, &j, &code, e);
	json_decref(j);
	j = NULL;
	if (r == -EIO) {
		/* The gateway answered, with an error: no such system behind it. */
		struct errbuf why = *e;

		r = errbuf_set(e, -ENOENT,
			       "PowerFlex system %s is not known to the gateway %s (%s)", system_id,
			       host->gateway, why.msg);
		goto out;
	}
	if (r < 0)
		goto out;
	snprintf(path, sizeof(path), "/api/instances/Volume::%s", volume_id);
	code = -1;
	r = be_sio_call_json(&c, "GET", path, NULL, &j, &code, e);
	if (r < 0 && code == BE_SIO_E_VOL_NOT_FOUND) {
		r = errbuf_set(e, -ENOENT, "PowerFlex volume %s does not exist", volume_id);
		goto out;
	}
	if (r < 0)
		goto out;
	if (be_sio_volume_parse(j, &vol) < 0) {
		r = errbuf_set(e, -EBADMSG, "%s: the gateway's answer is not a volume", path);
		goto out;
	}
	*ret = vol;
out:
	json_decref(j);
	be_sio_client_done(&c);
	return r;
}

int be_sio_sdc_by_guid(const struct backend_scaleio_host *host, int timeout_ms, const char *guid,
		       struct be_sio_sdc_info *ret, struct errbuf *e)
{
	struct be_sio_client c;
	struct be_sio_sdc sdc = {0};
	json_t *list = NULL;
	int r;

	if (!guid || !*guid)
		return errbuf_set(e, -EINVAL, "no SDC GUID to look up");
	r = be_sio_client_init(&c, host, timeout_ms, e);
	if (r < 0)
		return r;
	r = be_sio_call_json(&c, "GET", "/api/types/Sdc/instances", NULL, &list, NULL, e);
	if (r < 0)
		goto out;
	if (be_sio_sdc_find_guid(list, guid, &sdc) < 0) {
		r = errbuf_set(e, -ENOENT,
			       "the gateway %s knows no SDC with GUID %s: is the SDC installed and "
			       "connected to that system's MDMs?",
			       host->gateway, guid);
		goto out;
	}
	snprintf(ret->id, sizeof(ret->id), "%s", sdc.id);
	snprintf(ret->name, sizeof(ret->name), "%s", sdc.name);
	snprintf(ret->ip, sizeof(ret->ip), "%s", sdc.ip);
out:
	json_decref(list);
	be_sio_client_done(&c);
	return r;
}
