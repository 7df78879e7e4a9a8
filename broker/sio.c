/* SPDX-License-Identifier: Apache-2.0 */
/* Volume lifecycle on the PowerFlex gateway, through the scaleio backend's client. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backends/scaleio/gateway.h"
#include "broker/broker.h"
#include "lib/macro.h"

#define SIO_E_VOL_NOT_FOUND 79

struct client {
	struct be_sio_client c;
	int ok;
};

static void client_done(struct client *k)
{
	if (k->ok)
		be_sio_client_done(&k->c);
}

static int client_init(struct client *k, const struct broker_config *c, struct errbuf *e)
{
	int r = be_sio_client_init(&k->c, &c->sio, c->sio_timeout_ms, e);

	if (r == 0)
		k->ok = 1;
	return r;
}

static char *canonical_body(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return s;
}

/* A POST whose answer is a JSON string (an id) or an object with "id". */
static int post_id(struct be_sio_client *c, const char *path, json_t *body, char *ret, size_t n,
		   long *ret_code, struct errbuf *e)
{
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	json_t *out = NULL;
	const char *id;
	int r;

	json_decref(body);
	if (!text)
		return -ENOMEM;
	r = be_sio_call_json(c, "POST", path, text, &out, ret_code, e);
	if (r < 0)
		return r;
	id = json_is_string(out) ? json_string_value(out)
				 : json_string_value(json_object_get(out, "id"));
	if (!id || !be_sio_id_is_valid(id)) {
		json_decref(out);
		return errbuf_set(e, -EBADMSG, "POST %s: the gateway's answer holds no id", path);
	}
	snprintf(ret, n, "%s", id);
	json_decref(out);
	return 0;
}

static int pool_id(struct be_sio_client *c, const struct broker_plan *p, char *ret, size_t n,
		   struct errbuf *e)
{
	char pd[BE_SIO_ID_LEN + 1];
	int r;

	if (p->storage_pool_id[0]) {
		snprintf(ret, n, "%s", p->storage_pool_id);
		return 0;
	}
	r = post_id(c, "/api/types/ProtectionDomain/instances/action/queryIdByKey",
		    json_pack("{s:s}", "name", p->protection_domain), pd, sizeof(pd), NULL, e);
	if (r < 0)
		return errbuf_prefix(e, r, "protection domain '%s' of plan %s",
				     p->protection_domain, p->name);
	r = post_id(c, "/api/types/StoragePool/instances/action/queryIdByKey",
		    json_pack("{s:s, s:s}", "name", p->storage_pool, "protectionDomainId", pd), ret,
		    n, NULL, e);
	if (r < 0)
		return errbuf_prefix(e, r, "storage pool '%s' of plan %s", p->storage_pool,
				     p->name);
	return 0;
}

int broker_sio_create(const struct broker_config *c, const struct broker_plan *p, const char *name,
		      uint64_t size, char *ret_id, size_t n, struct errbuf *e)
{
	_cleanup_(client_done) struct client k = {0};
	char pool[BE_SIO_ID_LEN + 1], kb[32];
	int r;

	if ((r = client_init(&k, c, e)) < 0)
		return r;
	if ((r = pool_id(&k.c, p, pool, sizeof(pool), e)) < 0)
		return r;
	snprintf(kb, sizeof(kb), "%" PRIu64, size / 1024);
	return post_id(&k.c, "/api/types/Volume/instances",
		       json_pack("{s:s, s:s, s:s, s:s}", "volumeSizeInKb", kb, "storagePoolId",
				 pool, "name", name, "volumeType",
				 p->thick ? "ThickProvisioned" : "ThinProvisioned"),
		       ret_id, n, NULL, e);
}

int broker_sio_find(const struct broker_config *c, const char *name, char *ret_id, size_t n,
		    struct errbuf *e)
{
	_cleanup_(client_done) struct client k = {0};
	long code = -1;
	int r;

	if ((r = client_init(&k, c, e)) < 0)
		return r;
	r = post_id(&k.c, "/api/types/Volume/instances/action/queryIdByKey",
		    json_pack("{s:s}", "name", name), ret_id, n, &code, e);
	if (r < 0 && code == SIO_E_VOL_NOT_FOUND)
		return -ENOENT;
	return r;
}

int broker_sio_resize(const struct broker_config *c, const char *id, uint64_t size,
		      struct errbuf *e)
{
	_cleanup_(client_done) struct client k = {0};
	_cleanup_free_ char *body = NULL;
	char path[128], gb[32];
	int r;

	if ((r = client_init(&k, c, e)) < 0)
		return r;
	snprintf(gb, sizeof(gb), "%" PRIu64, size >> 30);
	body = canonical_body(json_pack("{s:s}", "sizeInGB", gb));
	if (!body)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/api/instances/Volume::%s/action/setVolumeSize", id);
	return be_sio_call_json(&k.c, "POST", path, body, NULL, NULL, e);
}

int broker_sio_remove(const struct broker_config *c, const char *id, struct errbuf *e)
{
	_cleanup_(client_done) struct client k = {0};
	struct be_sio_volume v;
	char path[128], who[512] = "";
	json_t *j = NULL;
	long code = -1;
	int r;

	if ((r = client_init(&k, c, e)) < 0)
		return r;
	snprintf(path, sizeof(path), "/api/instances/Volume::%s", id);
	r = be_sio_call_json(&k.c, "GET", path, NULL, &j, &code, e);
	if (r < 0)
		return code == SIO_E_VOL_NOT_FOUND ? 0 : r;
	r = be_sio_volume_parse(j, &v);
	json_decref(j);
	if (r < 0)
		return errbuf_set(e, -EBADMSG, "GET %s: not a volume", path);
	if (v.n_mapped > 0 || v.all_sdcs) {
		size_t len = 0;

		for (unsigned i = 0; i < v.n_mapped && len < sizeof(who) - 1; i++)
			len += (size_t)snprintf(
			    who + len, sizeof(who) - len, "%s%s (%s%s%s)", i ? ", " : "",
			    v.mapped[i].sdc_id, v.mapped[i].sdc_name[0] ? v.mapped[i].sdc_name : "",
			    v.mapped[i].sdc_name[0] ? ", " : "", v.mapped[i].sdc_ip);
		return errbuf_set(e, -EBUSY,
				  "volume %s is still mapped to SDC %s: unbind the apps (or unmap "
				  "it on the gateway) before deleting the service",
				  id, v.all_sdcs && !v.n_mapped ? "all SDCs" : who);
	}
	snprintf(path, sizeof(path), "/api/instances/Volume::%s/action/removeVolume", id);
	r = be_sio_call_json(&k.c, "POST", path, "{\"removeMode\":\"ONLY_ME\"}", NULL, &code, e);
	if (r < 0 && code == SIO_E_VOL_NOT_FOUND)
		return 0;
	return r;
}
