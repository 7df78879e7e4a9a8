/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachctl probe URL. iscsi:// is probed by attachctl's helper (tools/attachctl_helper.c:
 * libiscsi through the iscsi backend's probe op, no agent needed). nvme:// and scaleio:// go
 * through the agent's probe call: the agent owns the host NQN and the PowerFlex gateway's
 * credentials, and an NVMe probe must connect a kernel controller, which only the agent may create
 * and delete safely next to its own volumes (agent/admin_live.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hostport.h"
#include "lib/macro.h"
#include "tools/attachctl.h"

/* nvme: connect + device wait + disconnect, each bounded by the agent's deadlines. */
#define CTL_PROBE_AGENT_TIMEOUT_S 180

static void probe_print_json(const json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		printf("%s\n", s);
	free(s);
}

static int parse_iscsi(const char *url, const char *p, json_t **ret, struct errbuf *e)
{
	const char *slash, *last;
	char portal[300], iqn[256];
	char *end;
	unsigned long lun;

	slash = strchr(p, '/');
	last = strrchr(p, '/');
	if (!slash || slash == p || last == slash || !last[1])
		return errbuf_set(e, -EINVAL, "'%s' is not iscsi://HOST[:PORT]/IQN/LUN", url);
	if ((size_t)(slash - p) >= sizeof(portal) || (size_t)(last - slash - 1) >= sizeof(iqn))
		return errbuf_set(e, -EINVAL, "'%s': too long", url);
	snprintf(portal, sizeof(portal), "%.*s", (int)(slash - p), p);
	snprintf(iqn, sizeof(iqn), "%.*s", (int)(last - slash - 1), slash + 1);
	errno = 0;
	lun = strtoul(last + 1, &end, 10);
	if (errno || *end || last[1] < '0' || last[1] > '9' || lun > 16383)
		return errbuf_set(e, -EINVAL, "'%s': LUN '%s' is not a number 0-16383", url,
				  last + 1);
	*ret = json_pack("{s:s,s:s,s:s,s:I}", "backend", "iscsi", "portal", portal, "iqn", iqn,
			 "lun", (json_int_t)lun);
	return *ret ? 0 : errbuf_set(e, -ENOMEM, "out of memory");
}

/* 8-4-4-4-12 hex digits. */
static int is_uuid(const char *s)
{
	static const int dash[] = {8, 13, 18, 23};
	size_t d = 0;

	if (strlen(s) != 36)
		return 0;
	for (size_t i = 0; i < 36; i++) {
		if (d < ELEMENTSOF(dash) && (int)i == dash[d]) {
			if (s[i] != '-')
				return 0;
			d++;
		} else if (!isxdigit((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static int parse_nvme(const char *url, const char *p, json_t **ret, struct errbuf *e)
{
	const char *slash = strchr(p, '/'), *ns;
	char addr[300], nqn[256], why[160];
	struct hostport hp;
	json_t *o;
	size_t nqn_len;

	if (!slash || slash == p || !slash[1] || slash[1] == '/')
		return errbuf_set(e, -EINVAL, "'%s' is not nvme://ADDR[:PORT]/SUBNQN[/NSID|UUID]",
				  url);
	if ((size_t)(slash - p) >= sizeof(addr))
		return errbuf_set(e, -EINVAL, "'%s': the address is too long", url);
	snprintf(addr, sizeof(addr), "%.*s", (int)(slash - p), p);
	if (hostport_parse(addr, 4420, &hp, why, sizeof(why)) < 0)
		return errbuf_set(e, -EINVAL, "'%s': address '%s' %s", url, addr, why);
	ns = strchr(slash + 1, '/');
	nqn_len = ns ? (size_t)(ns - slash - 1) : strlen(slash + 1);
	if (nqn_len >= sizeof(nqn))
		return errbuf_set(e, -EINVAL, "'%s': the subsystem NQN is too long", url);
	snprintf(nqn, sizeof(nqn), "%.*s", (int)nqn_len, slash + 1);
	if (!startswith(nqn, "nqn."))
		return errbuf_set(e, -EINVAL, "'%s': '%s' is not a subsystem NQN (nqn.…)", url,
				  nqn);
	o = json_pack("{s:s,s:s,s:I,s:s}", "backend", "nvme", "traddr", hp.host, "trsvcid",
		      (json_int_t)hp.port, "subnqn", nqn);
	if (!o)
		return errbuf_set(e, -ENOMEM, "out of memory");
	if (!ns || !ns[1])
		json_object_set_new(o, "nsid", json_integer(1));
	else if (is_uuid(ns + 1))
		json_object_set_new(o, "uuid", json_string(ns + 1));
	else {
		char *end;
		unsigned long long nsid;

		errno = 0;
		nsid = strtoull(ns + 1, &end, 10);
		if (errno || *end || ns[1] < '0' || ns[1] > '9' || nsid < 1 ||
		    nsid > 0xFFFFFFFEULL) {
			json_decref(o);
			return errbuf_set(e, -EINVAL,
					  "'%s': '%s' is neither a namespace id (1-4294967294) nor "
					  "a namespace uuid (8-4-4-4-12 hex digits)",
					  url, ns + 1);
		}
		json_object_set_new(o, "nsid", json_integer((json_int_t)nsid));
	}
	*ret = o;
	return 0;
}

static int is_sio_id(const char *s, size_t n)
{
	if (n != 16)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int parse_scaleio(const char *url, const char *p, json_t **ret, struct errbuf *e)
{
	const char *slash = strchr(p, '/');
	size_t vl;

	if (!slash)
		return errbuf_set(e, -EINVAL, "'%s' is not scaleio://SYSTEM_ID/VOLUME_ID", url);
	if (!is_sio_id(p, (size_t)(slash - p)))
		return errbuf_set(e, -EINVAL,
				  "'%s': system id '%.*s' is not 16 hex digits (as the gateway "
				  "shows it)",
				  url, (int)(slash - p) > 64 ? 64 : (int)(slash - p), p);
	vl = strlen(slash + 1);
	if (!is_sio_id(slash + 1, vl))
		return errbuf_set(e, -EINVAL,
				  "'%s': volume id '%.64s' is not 16 hex digits (as the gateway "
				  "shows it)",
				  url, slash + 1);
	*ret = json_pack("{s:s,s:s#,s:s}", "backend", "scaleio", "system_id", p, (int)(slash - p),
			 "volume_id", slash + 1);
	return *ret ? 0 : errbuf_set(e, -ENOMEM, "out of memory");
}

int ctl_probe_url_parse(const char *url, json_t **ret, struct errbuf *e)
{
	*ret = NULL;
	if (startswith(url, "iscsi://"))
		return parse_iscsi(url, url + strlen("iscsi://"), ret, e);
	if (startswith(url, "nvme://"))
		return parse_nvme(url, url + strlen("nvme://"), ret, e);
	if (startswith(url, "scaleio://"))
		return parse_scaleio(url, url + strlen("scaleio://"), ret, e);
	return errbuf_set(e, -EINVAL,
			  "'%s': the URL must be iscsi://HOST[:PORT]/IQN/LUN, "
			  "nvme://ADDR[:PORT]/SUBNQN[/NSID|UUID] or scaleio://SYSTEM_ID/VOLUME_ID",
			  url);
}

void ctl_print_probe(const json_t *p, FILE *f)
{
	static const char *const head[] = {"SDC ID", "NAME", "IP", "ACCESS", NULL};
	const char *be = json_string_value(json_object_get(p, "backend"));
	unsigned long long size =
	    (unsigned long long)json_integer_value(json_object_get(p, "size_bytes"));
	const json_t *maps = json_object_get(p, "mappings"), *m;
	const char *s;
	char sz[32];
	size_t i;

	ctl_fmt_bytes(size, sz, sizeof(sz));
	fprintf(f, "url:       %s\n", json_string_value(json_object_get(p, "url")) ?: "");
	if (be && streq(be, "scaleio")) {
		s = json_string_value(json_object_get(p, "volume_name"));
		fprintf(f, "volume:    %s%s%s%s\n",
			json_string_value(json_object_get(p, "volume_id")) ?: "",
			s && *s ? " (" : "", s && *s ? s : "", s && *s ? ")" : "");
	}
	fprintf(f, "size:      %s (%llu bytes)\n", sz, size);
	s = json_string_value(json_object_get(p, "identity"));
	fprintf(f, "identity:  %s\n", s && *s ? s : "-");
	if (be && streq(be, "nvme"))
		fprintf(f, "device:    %s (connected for the probe, disconnected again)\n",
			json_string_value(json_object_get(p, "device")) ?: "-");
	if (!be || !streq(be, "scaleio"))
		return;
	if (json_is_true(json_object_get(p, "all_sdcs")))
		fprintf(f, "mapped to every SDC\n");
	fprintf(f, "mappings:  %zu\n", json_array_size(maps));
	if (json_array_size(maps)) {
		struct ctl_table t;

		ctl_table_init(&t, head);
		json_array_foreach(maps, i, m) ctl_table_add(
		    &t,
		    (const char *const[]){json_string_value(json_object_get(m, "sdc_id")),
					  json_string_value(json_object_get(m, "sdc_name")),
					  json_string_value(json_object_get(m, "sdc_ip")),
					  json_string_value(json_object_get(m, "access_mode"))});
		ctl_table_print(&t, f);
		ctl_table_done(&t);
	}
}

static int probe_agent(const struct ctl_args *a, json_t *opts)
{
	struct errbuf e = {{0}};
	json_t *body = json_pack("{s:O}", "options", opts), *o = NULL, *p;
	const char *err;
	int r;

	r = body ? ctl_call(a->socket, "probe", body, CTL_PROBE_AGENT_TIMEOUT_S, &o, &e)
		 : errbuf_set(&e, -ENOMEM, "out of memory");
	json_decref(body);
	if (r < 0) {
		fprintf(stderr, "attachctl: probe %s: %s\n", a->arg, e.msg);
		return CTL_EXIT_FAIL;
	}
	err = json_string_value(json_object_get(o, "Err"));
	if (err && *err) {
		if (a->json)
			probe_print_json(o);
		fprintf(stderr, "attachctl: probe %s: %s\n", a->arg, err);
		json_decref(o);
		return CTL_EXIT_FAIL;
	}
	p = json_object_get(o, "probe");
	json_object_set_new(p, "url", json_string(a->arg));
	if (a->json)
		probe_print_json(p);
	else
		ctl_print_probe(p, stdout);
	json_decref(o);
	return CTL_EXIT_OK;
}

int ctl_cmd_probe(const struct ctl_args *a)
{
	_cleanup_(json_decrefp) json_t *opts = NULL;
	struct errbuf e = {{0}};
	const char *be;

	if (ctl_probe_url_parse(a->arg, &opts, &e) < 0) {
		fprintf(stderr, "attachctl: probe: %s\n", e.msg);
		return CTL_EXIT_USAGE;
	}
	be = json_string_value(json_object_get(opts, "backend"));
	if (streq(be, "iscsi"))
		return ctl_exec_helper(a); /* libiscsi: the helper's ctl_helper_probe */
	return probe_agent(a, opts);
}
