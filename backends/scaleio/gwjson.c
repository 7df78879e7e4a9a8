/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure helpers for the PowerFlex gateway: URLs, request bodies, error bodies and codes,
 * SDC and volume objects, drv_cfg output. Shapes follow the gateway's answers as clients
 * (goscaleio, cinder, csi-powerflex) see them: ids are 16 hex digits, GUIDs are compared
 * case-insensitively, mappedSdcInfo may be null, [] or missing.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lib/macro.h"

int be_sio_code_is_already_mapped(long code)
{
	return code == BE_SIO_E_ALREADY_MAPPED || code == BE_SIO_E_ALREADY_MAPPED_4X;
}

int be_sio_code_is_not_mapped(long code)
{
	return code == BE_SIO_E_NOT_MAPPED || code == BE_SIO_E_NOT_MAPPED_4X;
}

static void copy_str(char *dst, size_t n, const json_t *v)
{
	const char *s = json_string_value(v);

	snprintf(dst, n, "%s", s ? s : "");
}

void be_sio_gwerr_parse(const char *body, struct be_sio_gwerr *ret)
{
	json_t *j = body && *body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
	struct be_sio_gwerr g = {.code = -1};
	const json_t *code;

	if (json_is_object(j)) {
		copy_str(g.message, sizeof(g.message), json_object_get(j, "message"));
		code = json_object_get(j, "errorCode");
		if (json_is_integer(code))
			g.code = (long)json_integer_value(code);
	}
	json_decref(j);
	*ret = g;
}

int be_sio_json_string_body(const char *body, char *buf, size_t n)
{
	json_t *j;
	const char *s;
	size_t l;

	if (!body)
		return -EINVAL;
	while (isspace((unsigned char)*body))
		body++;
	if (*body == '"') {
		int r = -EINVAL;

		j = json_loads(body, JSON_DECODE_ANY, NULL);
		s = json_string_value(j);
		if (s && *s && strlen(s) < n) {
			memcpy(buf, s, strlen(s) + 1);
			r = 0;
		}
		json_decref(j);
		return r;
	}
	/* A bare token: printable, no spaces, no JSON structure. */
	l = strcspn(body, "\r\n");
	if (l == 0 || l >= n || body[l + strspn(body + l, "\r\n")] != 0)
		return -EINVAL;
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)body[i] <= ' ' || (unsigned char)body[i] >= 0x7f ||
		    strchr("{}[]\"", body[i]))
			return -EINVAL;
	memcpy(buf, body, l);
	buf[l] = 0;
	return 0;
}

int be_sio_version_parse(const char *v, char *ret, size_t n, int *ret_bearer)
{
	unsigned major, minor;
	int k = 0;

	if (!v || sscanf(v, "%u.%u%n", &major, &minor, &k) != 2 || k == 0)
		return -EINVAL;
	if (v[k] && v[k] != '.')
		return -EINVAL;
	if (snprintf(ret, n, "%u.%u", major, minor) >= (int)n)
		return -ENOBUFS;
	*ret_bearer = major >= 4;
	return 0;
}

int be_sio_url(const char *gateway, const char *path, char *buf, size_t n)
{
	size_t l = strlen(gateway);
	int r;

	while (l > 0 && gateway[l - 1] == '/')
		l--;
	r = snprintf(buf, n, "%.*s%s", (int)l, gateway, path);
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

static void sdc_from_json(const json_t *o, struct be_sio_sdc *s)
{
	const char *st;
	const json_t *ap;

	memset(s, 0, sizeof(*s));
	copy_str(s->id, sizeof(s->id), json_object_get(o, "id"));
	copy_str(s->name, sizeof(s->name), json_object_get(o, "name"));
	copy_str(s->ip, sizeof(s->ip), json_object_get(o, "sdcIp"));
	if (!s->ip[0]) {
		const json_t *ips = json_object_get(o, "sdcIps");

		if (json_is_array(ips) && json_array_size(ips) > 0)
			copy_str(s->ip, sizeof(s->ip), json_array_get(ips, 0));
	}
	copy_str(s->guid, sizeof(s->guid), json_object_get(o, "sdcGuid"));
	st = json_string_value(json_object_get(o, "mdmConnectionState"));
	s->connected = st ? streq(st, "Connected") : -1;
	ap = json_object_get(o, "sdcApproved");
	s->approved = json_is_boolean(ap) ? json_is_true(ap) : -1;
}

int be_sio_sdc_find_guid(const json_t *list, const char *guid, struct be_sio_sdc *ret)
{
	size_t i;
	json_t *o;

	if (!json_is_array(list))
		return -EINVAL;
	json_array_foreach((json_t *)list, i, o)
	{
		const char *g = json_string_value(json_object_get(o, "sdcGuid"));

		if (g && guid && !strcasecmp(g, guid)) {
			sdc_from_json(o, ret);
			return 0;
		}
	}
	return -ENOENT;
}

int be_sio_sdc_find_id(const json_t *list, const char *id, struct be_sio_sdc *ret)
{
	size_t i;
	json_t *o;

	if (!json_is_array(list))
		return -EINVAL;
	json_array_foreach((json_t *)list, i, o)
	{
		const char *d = json_string_value(json_object_get(o, "id"));

		if (d && id && !strcasecmp(d, id)) {
			sdc_from_json(o, ret);
			return 0;
		}
	}
	return -ENOENT;
}

void be_sio_sdc_format(const struct be_sio_sdc *s, char *buf, size_t n)
{
	snprintf(buf, n, "%s (name '%s', IP %s)", s->id, s->name[0] ? s->name : "-",
		 s->ip[0] ? s->ip : "unknown");
}

int be_sio_volume_parse(const json_t *v, struct be_sio_volume *ret)
{
	struct be_sio_volume vol = {0};
	const json_t *size, *info;
	size_t i;
	json_t *m;

	if (!json_is_object(v) || !json_is_string(json_object_get(v, "id")))
		return -EINVAL;
	copy_str(vol.id, sizeof(vol.id), json_object_get(v, "id"));
	copy_str(vol.name, sizeof(vol.name), json_object_get(v, "name"));
	size = json_object_get(v, "sizeInKb");
	if (json_is_integer(size) && json_integer_value(size) > 0)
		vol.size_bytes = (uint64_t)json_integer_value(size) * 1024;
	vol.all_sdcs = json_is_true(json_object_get(v, "mappingToAllSdcsEnabled"));
	info = json_object_get(v, "mappedSdcInfo");
	if (info && !json_is_null(info) && !json_is_array(info))
		return -EINVAL;
	json_array_foreach((json_t *)info, i, m)
	{
		if (vol.n_mapped >= BE_SIO_MAX_MAPPINGS)
			break;
		copy_str(vol.mapped[vol.n_mapped].sdc_id, sizeof(vol.mapped[0].sdc_id),
			 json_object_get(m, "sdcId"));
		copy_str(vol.mapped[vol.n_mapped].sdc_ip, sizeof(vol.mapped[0].sdc_ip),
			 json_object_get(m, "sdcIp"));
		copy_str(vol.mapped[vol.n_mapped].sdc_name, sizeof(vol.mapped[0].sdc_name),
			 json_object_get(m, "sdcName"));
		copy_str(vol.mapped[vol.n_mapped].access_mode, sizeof(vol.mapped[0].access_mode),
			 json_object_get(m, "accessMode"));
		vol.n_mapped++;
	}
	*ret = vol;
	return 0;
}

int be_sio_volume_is_mapped_to(const struct be_sio_volume *v, const char *sdc_id)
{
	for (unsigned i = 0; i < v->n_mapped; i++)
		if (!strcasecmp(v->mapped[i].sdc_id, sdc_id))
			return 1;
	return 0;
}

int be_sio_volume_other_mapping(const struct be_sio_volume *v, const char *sdc_id)
{
	for (unsigned i = 0; i < v->n_mapped; i++)
		if (strcasecmp(v->mapped[i].sdc_id, sdc_id))
			return (int)i;
	return -1;
}

char *be_sio_body_map(const char *sdc_id, int readonly)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "sdcId", sdc_id, "allowMultipleMappings",
			      readonly ? "TRUE" : "FALSE", "accessMode",
			      readonly ? "ReadOnly" : "ReadWrite");
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

char *be_sio_body_unmap(const char *sdc_id)
{
	json_t *j = json_pack("{s:s}", "sdcId", sdc_id);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return s;
}

int be_sio_drv_cfg_guid_parse(const char *out, char *buf, size_t n)
{
	const char *line = out;

	while (line && *line) {
		size_t l = strcspn(line, "\r\n");
		char g[64];

		while (l > 0 && isspace((unsigned char)*line)) {
			line++;
			l--;
		}
		while (l > 0 && isspace((unsigned char)line[l - 1]))
			l--;
		if (l < sizeof(g)) {
			memcpy(g, line, l);
			g[l] = 0;
			if (be_sio_guid_is_valid(g)) {
				if (l >= n)
					return -ENOBUFS;
				for (size_t i = 0; i <= l; i++)
					buf[i] = (char)toupper((unsigned char)g[i]);
				return 0;
			}
		}
		line += strcspn(line, "\r\n");
		line += strspn(line, "\r\n");
	}
	return -ENOENT;
}
