/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's config file (JSON). Every problem is reported, one per errlist entry,
 * naming the key ("services[0].plans[1].size: ..."). Secrets are read from *_file paths.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "backends/scaleio/gateway.h"
#include "broker/broker.h"
#include "lib/fileio.h"
#include "lib/hostport.h"
#include "lib/jsonx.h"
#include "lib/macro.h"

static int key_in(const char *key, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (streq(list[i], key))
			return 1;
	return 0;
}

static void unknown_keys(const json_t *o, const char *const *allowed, const char *where,
			 struct errlist *el)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v)
	{
		if (!key_in(key, allowed))
			errlist_add(el, "%sunknown key '%.64s'", where, key);
	}
}

/* A string value into buf; 0 absent (buf untouched), 1 copied, -EINVAL reported. */
static int get_str(const json_t *o, const char *key, char *buf, size_t n, const char *where,
		   struct errlist *el)
{
	const json_t *v = json_object_get(o, key);
	const char *s;

	if (!v)
		return 0;
	s = json_string_value(v);
	if (!s) {
		errlist_add(el, "%s%s: must be a string, not %s", where, key, jsonx_type_name(v));
		return -EINVAL;
	}
	if (strlen(s) >= n) {
		errlist_add(el, "%s%s: longer than %zu characters", where, key, n - 1);
		return -EINVAL;
	}
	snprintf(buf, n, "%s", s);
	return 1;
}

static int read_secret(const char *path, char *buf, size_t n, const char *where, const char *key,
		       struct errlist *el)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	int r;

	if (path[0] != '/') {
		errlist_add(el, "%s%s: '%s' must be an absolute path", where, key, path);
		return -EINVAL;
	}
	r = read_full_file(path, &s, &len, 4096);
	if (r < 0) {
		errlist_add(el, "%s%s: cannot read %s: %s", where, key, path, strerror(-r));
		return r;
	}
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		s[--len] = 0;
	if (len == 0 || len >= n) {
		errlist_add(el, "%s%s: %s must hold the secret on one line (1-%zu characters)",
			    where, key, path, n - 1);
		return -EINVAL;
	}
	memcpy(buf, s, len + 1);
	explicit_bzero(s, len);
	return 0;
}

static int get_size(const json_t *o, const char *key, uint64_t *ret, const char *where,
		    struct errlist *el)
{
	char s[64];
	const char *why = "";
	int r = get_str(o, key, s, sizeof(s), where, el);

	if (r <= 0)
		return r;
	if (broker_size_parse(s, ret, &why) < 0) {
		errlist_add(el, "%s%s: '%s' %s", where, key, s, why);
		return -EINVAL;
	}
	return 1;
}

static void parse_scaleio(const json_t *o, struct broker_config *c, struct errlist *el)
{
	static const char *const keys[] = {"gateway",
					   "username",
					   "password_file",
					   "ca_file",
					   "insecure_skip_verify",
					   "system_id",
					   "timeout_ms",
					   NULL};
	const char *w = "scaleio.";
	char pwfile[4096] = "";
	const json_t *v;

	if (!json_is_object(o)) {
		errlist_add(el, "scaleio: must be an object");
		return;
	}
	unknown_keys(o, keys, w, el);
	if (get_str(o, "gateway", c->sio.gateway, sizeof(c->sio.gateway), w, el) == 1 &&
	    !startswith(c->sio.gateway, "https://") && !startswith(c->sio.gateway, "http://"))
		errlist_add(el, "scaleio.gateway: '%s' must be an http:// or https:// URL",
			    c->sio.gateway);
	get_str(o, "username", c->sio.username, sizeof(c->sio.username), w, el);
	get_str(o, "ca_file", c->sio.ca_file, sizeof(c->sio.ca_file), w, el);
	if (get_str(o, "password_file", pwfile, sizeof(pwfile), w, el) == 1)
		read_secret(pwfile, c->sio.password, sizeof(c->sio.password), w, "password_file",
			    el);
	v = json_object_get(o, "insecure_skip_verify");
	if (v && !json_is_boolean(v))
		errlist_add(el, "scaleio.insecure_skip_verify: must be true or false");
	c->sio.insecure_skip_verify = json_is_true(v);
	if (get_str(o, "system_id", c->sio_system_id, sizeof(c->sio_system_id), w, el) == 1 &&
	    !be_sio_id_is_valid(c->sio_system_id))
		errlist_add(el, "scaleio.system_id: '%s' is not 16 hex digits", c->sio_system_id);
	for (char *p = c->sio_system_id; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	v = json_object_get(o, "timeout_ms");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 100 || json_integer_value(v) > 600000))
		errlist_add(el, "scaleio.timeout_ms: must be an integer 100-600000");
	else if (v)
		c->sio_timeout_ms = (int)json_integer_value(v);
	if (!c->sio.gateway[0] || !c->sio.username[0] || !pwfile[0])
		errlist_add(el, "scaleio: gateway, username and password_file are required");
}

/* Pool items: plan options merged with each item, secrets read, checked by the backend's
 * own option parser, so every item is a Create attachd accepts. */
static void parse_items(const json_t *po, struct broker_plan *p, const char *w, struct errlist *el)
{
	const struct backend_ops *be = backend_find(broker_backend_name(p->backend));
	const json_t *opts = json_object_get(po, "options"), *items = json_object_get(po, "items");
	const json_t *it;
	size_t i;

	/* DESIGN.md's form: "pool": [{"portal", "iqn", "lun"}, ...] (each item whole). */
	if (json_object_get(po, "pool")) {
		if (items) {
			errlist_add(el, "%s: give pool or items, not both", w);
			return;
		}
		items = json_object_get(po, "pool");
	}
	if (opts && !json_is_object(opts)) {
		errlist_add(el, "%soptions: must be an object", w);
		return;
	}
	if (!json_is_array(items) || json_array_size(items) == 0) {
		errlist_add(
		    el, "%sitems (or pool): required, a non-empty array of the pre-created %s", w,
		    p->backend == BROKER_BE_ISCSI ? "LUNs ({\"lun\": 1}, ...)"
						  : "namespaces ({\"nsid\": 1}, ...)");
		return;
	}
	p->items = json_array();
	p->keys = calloc(json_array_size(items), sizeof(*p->keys));
	if (!p->items || !p->keys) {
		errlist_add(el, "out of memory");
		return;
	}
	json_array_foreach(items, i, it)
	{
		char iw[128];
		struct errlist bel = {.n = 0};
		json_t *m = opts ? json_deep_copy(opts) : json_object();
		const char *key;
		json_t *v;
		void *cfg = NULL;

		snprintf(iw, sizeof(iw), "%sitems[%zu]", w, i);
		if (!json_is_object(it)) {
			errlist_add(el, "%s: must be an object", iw);
			json_decref(m);
			continue;
		}
		json_object_update(m, (json_t *)it);
		v = json_object_get(m, "chap_secret_file");
		if (v) {
			char sec[256] = "";

			if (!json_is_string(v))
				errlist_add(el, "%s.chap_secret_file: must be a string", iw);
			else if (read_secret(json_string_value(v), sec, sizeof(sec), iw,
					     ".chap_secret_file", el) == 0)
				json_object_set_new(m, "chap_secret", json_string(sec));
			explicit_bzero(sec, sizeof(sec));
			json_object_del(m, "chap_secret_file");
		} else if (json_object_get(m, "chap_secret"))
			errlist_add(el, "%s: give chap_secret_file (a path), not chap_secret", iw);
		json_object_foreach(m, key, v)
		{
			if (!key_in(key, be->keys))
				errlist_add(el, "%s: '%.64s' is not a %s option of attachd", iw,
					    key, be->name);
		}
		if (be->parse(m, &cfg, &bel) < 0)
			errlist_add(el, "%s: %s", iw, bel.msg[0] ? bel.msg : "invalid options");
		else {
			if (be->describe(cfg, p->keys[p->n_items], sizeof(p->keys[0])) < 0)
				errlist_add(el, "%s: identity too long", iw);
			be->free_cfg(cfg);
			for (size_t k = 0; k < p->n_items; k++)
				if (streq(p->keys[k], p->keys[p->n_items]))
					errlist_add(el, "%s: %s is listed twice", iw, p->keys[k]);
		}
		json_array_append_new(p->items, m);
		p->n_items++;
	}
}

static void parse_plan(const json_t *po, struct broker_plan *p, const char *w, struct errlist *el)
{
	static const char *const keys[] = {"id",
					   "name",
					   "description",
					   "backend",
					   "fs",
					   "size",
					   "max_size",
					   "storage_pool_id",
					   "protection_domain",
					   "storage_pool",
					   "provisioning",
					   "options",
					   "items",
					   "pool",
					   "thin",
					   "system_id",
					   "async",
					   "fencing",
					   "takeover",
					   NULL};
	char be[16] = "", prov[16] = "thin", mode[16] = "";
	const json_t *v;

	unknown_keys(po, keys, w, el);
	if (get_str(po, "name", p->name, sizeof(p->name), w, el) != 1)
		errlist_add(el, "%sname: required", w);
	if (get_str(po, "fencing", p->fencing, sizeof(p->fencing), w, el) == 1 &&
	    !streq(p->fencing, "auto") && !streq(p->fencing, "required") &&
	    !streq(p->fencing, "off"))
		errlist_add(el,
			    "%sfencing: '%s' must be \"auto\" (reserve when the target supports "
			    "persistent reservations), \"required\" (refuse when it does not) or "
			    "\"off\"",
			    w, p->fencing);
	p->takeover = -1;
	v = json_object_get(po, "takeover");
	if (v && !json_is_boolean(v))
		errlist_add(el,
			    "%stakeover: must be true (attachd preempts another host's "
			    "reservation or SDC mapping) or false",
			    w);
	else if (v)
		p->takeover = json_is_true(v);
	if (get_str(po, "async", mode, sizeof(mode), w, el) == 1) {
		if (streq(mode, "auto"))
			p->async = BROKER_ASYNC_AUTO;
		else if (streq(mode, "required"))
			p->async = BROKER_ASYNC_REQUIRED;
		else if (streq(mode, "off"))
			p->async = BROKER_ASYNC_OFF;
		else
			errlist_add(
			    el,
			    "%sasync: '%s' must be \"auto\" (asynchronous when the platform "
			    "accepts it), \"required\" or \"off\"",
			    w, mode);
	}
	get_str(po, "id", p->id, sizeof(p->id), w, el);
	get_str(po, "description", p->description, sizeof(p->description), w, el);
	snprintf(p->fs, sizeof(p->fs), "ext4");
	if (get_str(po, "fs", p->fs, sizeof(p->fs), w, el) == 1 && !streq(p->fs, "ext4") &&
	    !streq(p->fs, "xfs"))
		errlist_add(el, "%sfs: must be \"ext4\" or \"xfs\"", w);
	if (get_str(po, "backend", be, sizeof(be), w, el) != 1) {
		errlist_add(el, "%sbackend: required (scaleio, iscsi, nvme or file)", w);
		return;
	}
	if (streq(be, "scaleio"))
		p->backend = BROKER_BE_SCALEIO;
	else if (streq(be, "iscsi"))
		p->backend = BROKER_BE_ISCSI;
	else if (streq(be, "nvme"))
		p->backend = BROKER_BE_NVME;
	else if (streq(be, "file"))
		p->backend = BROKER_BE_FILE;
	else {
		errlist_add(el, "%sbackend: '%s' is not one of scaleio, iscsi, nvme, file", w, be);
		return;
	}
	get_size(po, "max_size", &p->max_size, w, el);
	if (broker_backend_is_pool(p->backend)) {
		static const char *const not_pool[] = {"size",
						       "max_size",
						       "storage_pool_id",
						       "protection_domain",
						       "storage_pool",
						       "provisioning",
						       "thin",
						       "system_id",
						       "async"};

		for (size_t i = 0; i < ELEMENTSOF(not_pool); i++)
			if (json_object_get(po, not_pool[i]))
				errlist_add(el,
					    "%s%s: not a setting of %s plans (their LUNs are "
					    "pre-created)",
					    w, not_pool[i], be);
		parse_items(po, p, w, el);
		return;
	}
	if (json_object_get(po, "items") || json_object_get(po, "options") ||
	    json_object_get(po, "pool"))
		errlist_add(el, "%sitems/options/pool: only iscsi and nvme plans have a pool", w);
	if (get_size(po, "size", &p->size, w, el) == 0)
		errlist_add(el, "%ssize: required (the default size, e.g. \"8G\")", w);
	if (p->backend == BROKER_BE_FILE) {
		if (json_object_get(po, "storage_pool_id") || json_object_get(po, "storage_pool") ||
		    json_object_get(po, "protection_domain") ||
		    json_object_get(po, "provisioning") || json_object_get(po, "thin") ||
		    json_object_get(po, "system_id") || json_object_get(po, "async"))
			errlist_add(
			    el,
			    "%s: storage pools, provisioning, thin, system_id and async are "
			    "scaleio settings",
			    w);
		return;
	}
	if (p->size)
		p->size = broker_round_up(p->size, BROKER_SIO_UNIT);
	if (p->max_size && p->max_size % BROKER_SIO_UNIT)
		errlist_add(el,
			    "%smax_size: must be a multiple of 8G (PowerFlex allocates in 8G "
			    "units)",
			    w);
	if (get_str(po, "storage_pool_id", p->storage_pool_id, sizeof(p->storage_pool_id), w, el) ==
	    1) {
		if (!be_sio_id_is_valid(p->storage_pool_id))
			errlist_add(el, "%sstorage_pool_id: '%s' is not 16 hex digits", w,
				    p->storage_pool_id);
		if (json_object_get(po, "storage_pool") || json_object_get(po, "protection_domain"))
			errlist_add(el,
				    "%s: give storage_pool_id or protection_domain + "
				    "storage_pool, not both",
				    w);
	} else {
		int a = get_str(po, "protection_domain", p->protection_domain,
				sizeof(p->protection_domain), w, el);
		int b =
		    get_str(po, "storage_pool", p->storage_pool, sizeof(p->storage_pool), w, el);

		if (a != 1 || b != 1)
			errlist_add(el,
				    "%s: a scaleio plan needs storage_pool_id, or "
				    "protection_domain and storage_pool (names)",
				    w);
	}
	if (get_str(po, "provisioning", prov, sizeof(prov), w, el) == 1 && !streq(prov, "thin") &&
	    !streq(prov, "thick"))
		errlist_add(el, "%sprovisioning: must be \"thin\" or \"thick\"", w);
	p->thick = streq(prov, "thick");
	/* DESIGN.md's form: "thin": true/false. */
	v = json_object_get(po, "thin");
	if (v && !json_is_boolean(v))
		errlist_add(el, "%sthin: must be true (thin provisioning) or false (thick)", w);
	else if (v && json_object_get(po, "provisioning"))
		errlist_add(el, "%s: give thin or provisioning, not both", w);
	else if (v)
		p->thick = json_is_false(v);
	if (get_str(po, "system_id", p->system_id, sizeof(p->system_id), w, el) == 1 &&
	    !be_sio_id_is_valid(p->system_id))
		errlist_add(el, "%ssystem_id: '%s' is not 16 hex digits", w, p->system_id);
	if (p->max_size && p->size > p->max_size)
		errlist_add(el, "%ssize: larger than max_size", w);
}

static void default_id(char *id, size_t n, const char *a, const char *b)
{
	if (id[0])
		return;
	snprintf(id, n, "attachd-%s%s%s", a, b ? "-" : "", b ? b : "");
}

static void parse_services(const json_t *arr, struct broker_config *c, struct errlist *el)
{
	static const char *const keys[] = {"id", "name", "description", "plans", NULL};
	const json_t *so, *po;
	size_t i, j, np = 0;

	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		errlist_add(el, "services: required, a non-empty array of services with plans");
		return;
	}
	json_array_foreach(arr, i, so) np += json_array_size(json_object_get(so, "plans"));
	c->services = calloc(json_array_size(arr), sizeof(*c->services));
	c->plans = calloc(np ? np : 1, sizeof(*c->plans));
	if (!c->services || !c->plans) {
		errlist_add(el, "out of memory");
		return;
	}
	json_array_foreach(arr, i, so)
	{
		struct broker_service *s = &c->services[c->n_services++];
		char w[64];
		const json_t *plans = json_object_get(so, "plans");

		snprintf(w, sizeof(w), "services[%zu].", i);
		if (!json_is_object(so)) {
			errlist_add(el, "services[%zu]: must be an object", i);
			continue;
		}
		unknown_keys(so, keys, w, el);
		if (get_str(so, "name", s->name, sizeof(s->name), w, el) != 1)
			errlist_add(el, "%sname: required", w);
		get_str(so, "id", s->id, sizeof(s->id), w, el);
		default_id(s->id, sizeof(s->id), s->name, NULL);
		if (get_str(so, "description", s->description, sizeof(s->description), w, el) != 1)
			snprintf(s->description, sizeof(s->description),
				 "Block volumes attached by attachd");
		if (!json_is_array(plans) || json_array_size(plans) == 0) {
			errlist_add(el, "%splans: required, a non-empty array", w);
			continue;
		}
		json_array_foreach(plans, j, po)
		{
			struct broker_plan *p = &c->plans[c->n_plans++];
			char pw[96];

			snprintf(pw, sizeof(pw), "%splans[%zu].", w, j);
			p->service = (unsigned)(c->n_services - 1);
			if (!json_is_object(po)) {
				errlist_add(el, "%s: must be an object", pw);
				continue;
			}
			parse_plan(po, p, pw, el);
			default_id(p->id, sizeof(p->id), s->name, p->name);
			if (!p->description[0])
				snprintf(p->description, sizeof(p->description), "%s volume",
					 broker_backend_name(p->backend));
			if (p->backend == BROKER_BE_SCALEIO)
				s->plan_updateable = 1;
		}
	}
	for (i = 0; i < c->n_services; i++)
		for (j = i + 1; j < c->n_services; j++)
			if (streq(c->services[i].id, c->services[j].id) ||
			    streq(c->services[i].name, c->services[j].name))
				errlist_add(el, "services[%zu]: id or name same as services[%zu]'s",
					    j, i);
	for (i = 0; i < c->n_plans; i++)
		for (j = i + 1; j < c->n_plans; j++)
			if (streq(c->plans[i].id, c->plans[j].id) ||
			    (c->plans[i].service == c->plans[j].service &&
			     streq(c->plans[i].name, c->plans[j].name)))
				errlist_add(el, "plan '%s': id or name used twice",
					    c->plans[j].name);
}

int broker_driver_name_is_valid(const char *s)
{
	if (!s[0] || strlen(s) > 63)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

/* A readable file (the key is read at start, so a wrong path fails now, not at the first
 * connection). */
static void tls_file(const json_t *o, const char *key, char *buf, size_t n, struct errlist *el)
{
	char w[32];

	snprintf(w, sizeof(w), "tls.");
	if (get_str(o, key, buf, n, w, el) != 1)
		return;
	if (buf[0] != '/')
		errlist_add(el, "tls.%s: '%s' must be an absolute path", key, buf);
	else if (access(buf, R_OK) < 0)
		errlist_add(el, "tls.%s: cannot read %s: %s", key, buf, strerror(errno));
}

static void parse_tls(const json_t *o, struct broker_config *c, struct errlist *el)
{
	static const char *const keys[] = {"cert_file", "key_file", "ca_file", NULL};

	if (!o || json_is_null(o))
		return;
	if (!json_is_object(o)) {
		errlist_add(el, "tls: must be an object {\"cert_file\", \"key_file\", "
				"\"ca_file\"}");
		return;
	}
	unknown_keys(o, keys, "tls.", el);
	tls_file(o, "cert_file", c->tls_cert_file, sizeof(c->tls_cert_file), el);
	tls_file(o, "key_file", c->tls_key_file, sizeof(c->tls_key_file), el);
	tls_file(o, "ca_file", c->tls_ca_file, sizeof(c->tls_ca_file), el);
	if (!c->tls_cert_file[0] != !c->tls_key_file[0] ||
	    (c->tls_ca_file[0] && !c->tls_cert_file[0]))
		errlist_add(el, "tls: cert_file and key_file are needed together (ca_file only "
				"adds client-certificate checks to them)");
}

int broker_config_parse(const json_t *j, struct broker_config *ret, struct errlist *el)
{
	static const char *const keys[] = {
	    "listen",	       "username", "password_file", "database",
	    "container_root",  "scaleio",  "services",	    "database_password_file",
	    "recover_after_s", "driver",   "tls",	    NULL};
	struct broker_config c = {.sio_timeout_ms = 30000};
	unsigned before = el->n;
	char pwfile[4096] = "";
	int need_sio = 0;

	if (!json_is_object(j)) {
		errlist_add(el, "the config must be a JSON object");
		return -EINVAL;
	}
	unknown_keys(j, keys, "", el);
	snprintf(c.listen, sizeof(c.listen), "127.0.0.1:7620");
	if (get_str(j, "listen", c.listen, sizeof(c.listen), "", el) == 1) {
		struct hostport hp;
		char why[128];

		if (hostport_parse(c.listen, 7620, &hp, why, sizeof(why)) < 0)
			errlist_add(el, "listen: '%s' %s", c.listen, why);
	}
	snprintf(c.driver, sizeof(c.driver), "attachd");
	if (get_str(j, "driver", c.driver, sizeof(c.driver), "", el) == 1 &&
	    !broker_driver_name_is_valid(c.driver))
		errlist_add(el,
			    "driver: '%s' must be attachd's --driver-name (letters, digits, '.', "
			    "'_', '-')",
			    c.driver);
	parse_tls(json_object_get(j, "tls"), &c, el);
	if (get_str(j, "username", c.username, sizeof(c.username), "", el) != 1)
		errlist_add(el, "username: required (the broker's basic-auth user)");
	if (get_str(j, "password_file", pwfile, sizeof(pwfile), "", el) != 1)
		errlist_add(el, "password_file: required (a file holding the broker's password)");
	else
		read_secret(pwfile, c.password, sizeof(c.password), "", "password_file", el);
	if (get_str(j, "database", c.database, sizeof(c.database), "", el) != 1)
		errlist_add(el, "database: required (\"sqlite:/var/vcap/store/attachd-broker/"
				"broker.db\")");
	else if (startswith(c.database, "postgresql://") || startswith(c.database, "postgres://")) {
		const char *auth = strstr(c.database, "://") + 3;
		size_t hostpart = strcspn(auth, "/?");
		const char *at = memrchr(auth, '@', hostpart);

		/* The password stays out of the URL (it would reach logs and ps). */
		if ((at && memchr(auth, ':', (size_t)(at - auth))) ||
		    strstr(c.database, "password="))
			errlist_add(el, "database: put the password in database_password_file, "
					"not in the URL");
	} else if (!startswith(c.database, "sqlite:/"))
		errlist_add(el,
			    "database: '%s' is not supported (use sqlite:/absolute/path or "
			    "postgresql://user@host/dbname)",
			    c.database);
	if (get_str(j, "database_password_file", pwfile, sizeof(pwfile), "", el) == 1)
		read_secret(pwfile, c.database_password, sizeof(c.database_password), "",
			    "database_password_file", el);
	snprintf(c.container_root, sizeof(c.container_root), "/var/vcap/data");
	if (get_str(j, "container_root", c.container_root, sizeof(c.container_root), "", el) == 1 &&
	    c.container_root[0] != '/')
		errlist_add(el, "container_root: must be an absolute path");
	parse_services(json_object_get(j, "services"), &c, el);
	{
		const json_t *v = json_object_get(j, "recover_after_s");

		if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
			  json_integer_value(v) > 86400))
			errlist_add(el, "recover_after_s: must be an integer 1-86400 (seconds)");
		else if (v)
			c.recover_after_s = (int)json_integer_value(v);
	}
	for (size_t i = 0; i < c.n_plans; i++)
		need_sio |= c.plans[i].backend == BROKER_BE_SCALEIO;
	if (json_object_get(j, "scaleio"))
		parse_scaleio(json_object_get(j, "scaleio"), &c, el);
	else if (need_sio)
		errlist_add(el, "scaleio: required by the scaleio plans (gateway, username, "
				"password_file, system_id)");
	for (size_t i = 0; i < c.n_plans; i++) {
		struct broker_plan *p = &c.plans[i];

		for (char *s = p->system_id; *s; s++)
			*s = (char)tolower((unsigned char)*s);
		if (p->backend == BROKER_BE_SCALEIO && !p->system_id[0] && !c.sio_system_id[0])
			errlist_add(el,
				    "plan %s: system_id: required here or in the scaleio section "
				    "(the PowerFlex system's 16 hex digits)",
				    p->name);
	}
	if (!c.recover_after_s)
		c.recover_after_s = 2 * c.sio_timeout_ms / 1000 + 30;
	if (el->n > before) {
		broker_config_done(&c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

int broker_config_load(const char *path, struct broker_config *ret, struct errlist *el)
{
	json_error_t jerr;
	json_t *j;
	int r;

	j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		if (jerr.line < 0 || jerr.position == 0)
			errlist_add(el, "config %s: cannot read: %s", path, jerr.text);
		else
			errlist_add(el, "config %s: invalid JSON at line %d: %s", path, jerr.line,
				    jerr.text);
		return -EINVAL;
	}
	r = broker_config_parse(j, ret, el);
	json_decref(j);
	return r;
}

void broker_config_done(struct broker_config *c)
{
	for (size_t i = 0; i < c->n_plans; i++) {
		json_decref(c->plans[i].items);
		free(c->plans[i].keys);
	}
	free(c->plans);
	free(c->services);
	explicit_bzero(c->password, sizeof(c->password));
	explicit_bzero(c->database_password, sizeof(c->database_password));
	explicit_bzero(c->sio.password, sizeof(c->sio.password));
	c->plans = NULL;
	c->services = NULL;
	c->n_plans = c->n_services = 0;
}

const struct broker_plan *broker_config_plan(const struct broker_config *c, const char *id)
{
	for (size_t i = 0; i < c->n_plans; i++)
		if (streq(c->plans[i].id, id))
			return &c->plans[i];
	return NULL;
}

const struct broker_service *broker_config_service(const struct broker_config *c, const char *id)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (streq(c->services[i].id, id))
			return &c->services[i];
	return NULL;
}
