/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lib/jsonx.h"
#include "agent/config.h"
#include "attach/identity.h"
#include "lib/fileio.h"
#include "lib/macro.h"

void agent_config_init(struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "%s", AGENT_DEFAULT_LISTEN);
	snprintf(c->admin_socket, sizeof(c->admin_socket), "%s", AGENT_DEFAULT_ADMIN_SOCKET);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", AGENT_DEFAULT_STATE_DIR);
	snprintf(c->mount_root, sizeof(c->mount_root), "%s", AGENT_DEFAULT_MOUNT_ROOT);
	snprintf(c->driver_dir, sizeof(c->driver_dir), "%s", AGENT_DEFAULT_DRIVER_DIR);
	snprintf(c->driver_name, sizeof(c->driver_name), "%s", AGENT_DEFAULT_DRIVER_NAME);
	snprintf(c->iscsi_iface, sizeof(c->iscsi_iface), "%s", AGENT_DEFAULT_ISCSI_IFACE);
	snprintf(c->scaleio.drv_cfg, sizeof(c->scaleio.drv_cfg), "%s", AGENT_DEFAULT_DRV_CFG);
	c->limits.max_pipelines = AGENT_DEFAULT_MAX_PIPELINES;
	c->limits.lock_wait_s = AGENT_DEFAULT_LOCK_WAIT_S;
	c->multipath.check_interval_s = AGENT_DEFAULT_CHECK_INTERVAL_S;
	c->multipath.no_path_queue_s = AGENT_DEFAULT_NO_PATH_QUEUE_S;
}

/* ---- the config file ---- */

enum field_type { F_STR, F_BOOL, F_OBJ, F_UINT, F_UINT0 };

struct field {
	const char *name;
	enum field_type type;
	size_t off;		 /* into struct agent_config */
	size_t size;		 /* F_STR: buffer size; F_UINT: range 1..size; F_UINT0: 0..size */
	const struct field *sub; /* F_OBJ: NULL-name-terminated */
};

#define STR(n, member)                                                                             \
	{                                                                                          \
		n, F_STR, offsetof(struct agent_config, member),                                   \
		    sizeof(((struct agent_config *)0)->member), NULL                               \
	}
#define BOOL(n, member)                                                                            \
	{                                                                                          \
		n, F_BOOL, offsetof(struct agent_config, member), sizeof(int), NULL                \
	}
#define UINT(n, member, hi)                                                                        \
	{                                                                                          \
		n, F_UINT, offsetof(struct agent_config, member), hi, NULL                         \
	}
#define UINT0(n, member, hi)                                                                       \
	{                                                                                          \
		n, F_UINT0, offsetof(struct agent_config, member), hi, NULL                        \
	}
#define OBJ(n, table)                                                                              \
	{                                                                                          \
		n, F_OBJ, 0, 0, table                                                              \
	}

static const struct field tls_fields[] = {
    STR("ca_file", tls.ca_file),
    STR("cert_file", tls.cert_file),
    STR("key_file", tls.key_file),
    STR("client_cert_file", tls.client_cert_file),
    STR("client_key_file", tls.client_key_file),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field iscsi_fields[] = {
    STR("initiator_name", iscsi_initiator_name),
    STR("iface", iscsi_iface),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field nvme_fields[] = {
    STR("hostnqn", nvme_hostnqn),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field scaleio_fields[] = {
    STR("gateway", scaleio.gateway),
    STR("username", scaleio.username),
    STR("password_file", scaleio.password_file),
    STR("ca_file", scaleio.ca_file),
    BOOL("insecure_skip_verify", scaleio.insecure_skip_verify),
    STR("sdc_guid", scaleio.sdc_guid),
    STR("drv_cfg", scaleio.drv_cfg),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field file_fields[] = {
    STR("dir", file_dir),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field limits_fields[] = {
    UINT("max_pipelines", limits.max_pipelines, 1024),
    UINT("lock_wait_s", limits.lock_wait_s, 86400),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field multipath_fields[] = {
    UINT("check_interval_s", multipath.check_interval_s, 60),
    UINT0("no_path_queue_s", multipath.no_path_queue_s, 3600),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field fencing_fields[] = {
    STR("key", fencing_key),
    {NULL, F_STR, 0, 0, NULL},
};
static const struct field top_fields[] = {
    STR("listen", listen),	   STR("admin_socket", admin_socket),
    STR("state_dir", state_dir),   STR("mount_root", mount_root),
    STR("driver_dir", driver_dir), STR("driver_name", driver_name),
    OBJ("tls", tls_fields),	   OBJ("iscsi", iscsi_fields),
    OBJ("nvme", nvme_fields),	   OBJ("scaleio", scaleio_fields),
    OBJ("file", file_fields),	   OBJ("limits", limits_fields),
    OBJ("multipath", multipath_fields), OBJ("fencing", fencing_fields),
    STR("metrics_listen", metrics_listen),
    {NULL, F_STR, 0, 0, NULL},
};

static void apply_object(struct agent_config *c, const json_t *obj, const struct field *table,
			 const char *prefix, const char *origin, struct errlist *el)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		const struct field *f = NULL;
		char path[128];

		snprintf(path, sizeof(path), "%s%s%.64s", prefix, *prefix ? "." : "", key);
		for (size_t i = 0; table[i].name; i++)
			if (streq(table[i].name, key))
				f = &table[i];
		if (!f) {
			errlist_add(el, "%s: unknown key '%s'", origin, path);
			continue;
		}
		switch (f->type) {
		case F_STR: {
			const char *s = json_string_value(v);
			char *dst = (char *)c + f->off;

			if (!s) {
				errlist_add(el, "%s: '%s' must be a string, not %s", origin, path,
					    jsonx_type_name(v));
				break;
			}
			if (strlen(s) >= f->size) {
				errlist_add(el, "%s: '%s' is too long (at most %zu characters)",
					    origin, path, f->size - 1);
				break;
			}
			memcpy(dst, s, strlen(s) + 1);
			break;
		}
		case F_BOOL:
			if (!json_is_boolean(v)) {
				errlist_add(el, "%s: '%s' must be true or false, not %s", origin,
					    path, jsonx_type_name(v));
				break;
			}
			*(int *)((char *)c + f->off) = json_is_true(v);
			break;
		case F_UINT:
		case F_UINT0:
			if (!json_is_integer(v) ||
			    json_integer_value(v) < (f->type == F_UINT0 ? 0 : 1) ||
			    json_integer_value(v) > (json_int_t)f->size) {
				errlist_add(el, "%s: '%s' must be a whole number from %d to %zu",
					    origin, path, f->type == F_UINT0 ? 0 : 1, f->size);
				break;
			}
			*(unsigned *)((char *)c + f->off) = (unsigned)json_integer_value(v);
			break;
		case F_OBJ:
			/* null reads as "section absent", the way YAML-to-JSON templating emits it.
			 */
			if (json_is_null(v))
				break;
			if (!json_is_object(v)) {
				errlist_add(el, "%s: '%s' must be an object, not %s", origin, path,
					    jsonx_type_name(v));
				break;
			}
			apply_object(c, v, f->sub, path, origin, el);
			break;
		}
	}
}

int agent_config_apply_json(struct agent_config *c, const json_t *root, const char *origin,
			    struct errlist *el)
{
	unsigned before = el->n;

	if (!json_is_object(root)) {
		errlist_add(el, "%s: must be a JSON object, not %s", origin, jsonx_type_name(root));
		return -EINVAL;
	}
	apply_object(c, root, top_fields, "", origin, el);
	return el->n > before ? -EINVAL : 0;
}

int agent_config_load_file(struct agent_config *c, const char *path, struct errlist *el)
{
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	json_t *root;
	size_t len;
	int r;

	r = read_full_file(path, &text, &len, AGENT_CONFIG_FILE_MAX);
	if (r == -EFBIG) {
		errlist_add(el, "config %s: larger than %d bytes", path, AGENT_CONFIG_FILE_MAX);
		return -EBADMSG;
	}
	if (r < 0) {
		errlist_add(el, "config %s: cannot read: %s", path, strerror(-r));
		return -EBADMSG;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		errlist_add(el, "config %s: invalid JSON at line %d column %d: %s", path, jerr.line,
			    jerr.column, jerr.text);
		return -EBADMSG;
	}
	{
		char origin[AGENT_PATH_MAX + 8];

		snprintf(origin, sizeof(origin), "config %s", path);
		r = agent_config_apply_json(c, root, origin, el);
	}
	json_decref(root);
	return r;
}

/* ---- validation ---- */

int agent_listen_parse(const char *listen, char *host, size_t n, unsigned *ret_port)
{
	const char *colon, *h = listen, *port;
	size_t hlen;
	unsigned long p = 0;

	if (!listen || !*listen)
		return -EINVAL;
	if (*listen == '[') {
		const char *close = strchr(listen, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		h = listen + 1;
		hlen = (size_t)(close - h);
		port = close + 2;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || strchr(listen, ':') != colon) /* bare IPv6 needs brackets */
			return -EINVAL;
		hlen = (size_t)(colon - listen);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= n || !*port || strlen(port) > 5)
		return -EINVAL;
	for (const char *q = port; *q; q++) {
		if (*q < '0' || *q > '9')
			return -EINVAL;
		p = p * 10 + (unsigned long)(*q - '0');
	}
	if (p > 65535)
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	*ret_port = (unsigned)p;
	return 0;
}

int agent_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (streq(host, "localhost"))
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int agent_config_has_tls(const struct agent_config *c)
{
	const struct agent_tls_config *t = &c->tls;

	return t->ca_file[0] || t->cert_file[0] || t->key_file[0] || t->client_cert_file[0] ||
	       t->client_key_file[0];
}

static void check_abs_path(const char *what, const char *p, int optional, struct errlist *el)
{
	if (!*p) {
		if (!optional)
			errlist_add(el, "%s: must not be empty", what);
		return;
	}
	if (p[0] != '/') {
		errlist_add(el, "%s: '%.256s' must be an absolute path", what, p);
		return;
	}
	/* ".." would let a config point the agent's rm/rmdir outside the tree it owns. */
	for (const char *q = p; (q = strstr(q, "..")); q += 2)
		if ((q == p || q[-1] == '/') && (q[2] == '/' || q[2] == 0)) {
			errlist_add(el, "%s: '%.256s' must not contain '..'", what, p);
			return;
		}
}

static void check_dir(const char *what, const char *p, struct errlist *el)
{
	check_abs_path(what, p, 0, el);
	if (streq(p, "/"))
		errlist_add(el, "%s: must not be /", what);
}

/* Also a file name under /etc/iscsi/ifaces and in node record paths: no leading '.'. */
static int iface_name_ok(const char *s)
{
	if (*s == '.')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

int agent_config_validate(const struct agent_config *c, struct errlist *el)
{
	unsigned before = el->n;
	char host[256];
	unsigned port;

	if (agent_listen_parse(c->listen, host, sizeof(host), &port) < 0)
		errlist_add(
		    el,
		    "listen: '%.256s' is not HOST:PORT (e.g. 127.0.0.1:7610, [::1]:7610, port "
		    "0-65535)",
		    c->listen);
	else if (!agent_host_is_loopback(host) && !agent_config_has_tls(c))
		errlist_add(el,
			    "listen: %s is not a loopback address: off loopback the Volman API "
			    "needs mutual TLS (a tls section with ca_file, cert_file, key_file, "
			    "client_cert_file, client_key_file), or listen on 127.0.0.1",
			    c->listen);
	if (c->metrics_listen[0] &&
	    agent_listen_parse(c->metrics_listen, host, sizeof(host), &port) < 0)
		errlist_add(el,
			    "metrics_listen: '%.256s' is not HOST:PORT (e.g. 127.0.0.1:9610, "
			    "[::1]:9610, port 0-65535)",
			    c->metrics_listen);
	else if (c->metrics_listen[0] && !agent_host_is_loopback(host) && !agent_config_has_tls(c))
		errlist_add(el,
			    "metrics_listen: %s is not a loopback address: off loopback /metrics "
			    "is served only with the agent's mutual TLS (the tls section; "
			    "Prometheus then needs a client certificate from tls.ca_file), or "
			    "listen on 127.0.0.1",
			    c->metrics_listen);
	if (agent_config_has_tls(c)) {
		const struct agent_tls_config *t = &c->tls;

		if (!t->ca_file[0] || !t->cert_file[0] || !t->key_file[0] ||
		    !t->client_cert_file[0] || !t->client_key_file[0])
			errlist_add(el,
				    "tls: ca_file, cert_file, key_file, client_cert_file and "
				    "client_key_file are all required (mutual TLS: Volman needs "
				    "a client certificate and key)");
		check_abs_path("tls.ca_file", t->ca_file, 1, el);
		check_abs_path("tls.cert_file", t->cert_file, 1, el);
		check_abs_path("tls.key_file", t->key_file, 1, el);
		check_abs_path("tls.client_cert_file", t->client_cert_file, 1, el);
		check_abs_path("tls.client_key_file", t->client_key_file, 1, el);
	}
	check_abs_path("admin_socket", c->admin_socket, 0, el);
	check_dir("state_dir", c->state_dir, el);
	check_dir("mount_root", c->mount_root, el);
	check_dir("driver_dir", c->driver_dir, el);
	check_abs_path("file.dir", c->file_dir, 1, el);

	/* Volman keys its registry on the spec file's base name: keep it a plain file name. */
	if (!c->driver_name[0])
		errlist_add(el, "driver_name: must not be empty");
	else {
		int bad = c->driver_name[0] == '.';

		for (const char *q = c->driver_name; *q; q++)
			if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			      (*q >= '0' && *q <= '9') || *q == '.' || *q == '_' || *q == '-'))
				bad = 1;
		if (bad)
			errlist_add(el,
				    "driver_name: '%.64s' must use only A-Z a-z 0-9 . _ - and not "
				    "start with '.'",
				    c->driver_name);
	}
	if (c->fencing_key[0] && !attach_fencing_key_is_valid(c->fencing_key))
		errlist_add(el,
			    "fencing.key: '%s' must be exactly 16 hex digits and not all zero (e.g. "
			    "0123456789abcdef), or unset to derive one from the host identity",
			    c->fencing_key);
	if (c->iscsi_initiator_name[0] && !startswith(c->iscsi_initiator_name, "iqn.") &&
	    !startswith(c->iscsi_initiator_name, "eui.") &&
	    !startswith(c->iscsi_initiator_name, "naa."))
		errlist_add(el, "iscsi.initiator_name: '%.223s' must start with iqn., eui. or naa.",
			    c->iscsi_initiator_name);
	if (!c->iscsi_iface[0])
		errlist_add(el, "iscsi.iface: must not be empty (default %s)",
			    AGENT_DEFAULT_ISCSI_IFACE);
	else if (!iface_name_ok(c->iscsi_iface))
		errlist_add(el,
			    "iscsi.iface: '%.63s' must use only A-Z a-z 0-9 . _ - and not start "
			    "with '.' (an open-iscsi iface name, e.g. %s or attachd2)",
			    c->iscsi_iface, AGENT_DEFAULT_ISCSI_IFACE);
	else if (streq(c->iscsi_iface, "default") || streq(c->iscsi_iface, "iser") ||
		 streq(c->iscsi_iface, "bnx2i") || streq(c->iscsi_iface, "cxgb3i") ||
		 streq(c->iscsi_iface, "cxgb4i") || streq(c->iscsi_iface, "be2iscsi") ||
		 streq(c->iscsi_iface, "qla4xxx"))
		errlist_add(el,
			    "iscsi.iface: '%s' is open-iscsi's own iface (the admin's sessions "
			    "and records, or a transport): attachd needs one of its own, e.g. %s "
			    "(two agents on one host: attachd and attachd2)",
			    c->iscsi_iface, AGENT_DEFAULT_ISCSI_IFACE);
	if (c->nvme_hostnqn[0] && !startswith(c->nvme_hostnqn, "nqn."))
		errlist_add(el, "nvme.hostnqn: '%.223s' must start with nqn.", c->nvme_hostnqn);
	if (c->scaleio.gateway[0] || c->scaleio.username[0] || c->scaleio.password_file[0]) {
		if (!startswith(c->scaleio.gateway, "https://") &&
		    !startswith(c->scaleio.gateway, "http://"))
			errlist_add(el, "scaleio.gateway: must be an http:// or https:// URL");
		if (!c->scaleio.username[0])
			errlist_add(el, "scaleio.username: required with scaleio.gateway");
		if (!c->scaleio.password_file[0])
			errlist_add(el, "scaleio.password_file: required with scaleio.gateway");
	}
	check_abs_path("scaleio.password_file", c->scaleio.password_file, 1, el);
	check_abs_path("scaleio.ca_file", c->scaleio.ca_file, 1, el);
	check_abs_path("scaleio.drv_cfg", c->scaleio.drv_cfg, 0, el);
	return el->n > before ? -EINVAL : 0;
}

/* ---- the command line ---- */

enum {
	OPT_LISTEN = 0x100,
	OPT_ADMIN_SOCKET,
	OPT_STATE_DIR,
	OPT_MOUNT_ROOT,
	OPT_DRIVER_DIR,
	OPT_DRIVER_NAME,
	OPT_METRICS_LISTEN,
	OPT_CONFIG,
	OPT_CHECK_CONFIG,
};

static const struct option long_options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"mount-root", required_argument, NULL, OPT_MOUNT_ROOT},
    {"driver-dir", required_argument, NULL, OPT_DRIVER_DIR},
    {"driver-name", required_argument, NULL, OPT_DRIVER_NAME},
    {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"check-config", required_argument, NULL, OPT_CHECK_CONFIG},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

void agent_config_usage(FILE *f, const char *prog)
{
	fprintf(
	    f,
	    "Usage: %s [FLAGS]\n"
	    "attachd: attaches block volumes for Cloud Foundry's Volman (volume driver API).\n"
	    "\n"
	    "  --listen HOST:PORT     Volman API address (default %s; loopback only\n"
	    "                         unless mutual TLS is configured)\n"
	    "  --admin-socket PATH    attachctl's unix socket (default %s)\n"
	    "  --state-dir DIR        durable volume records (default %s)\n"
	    "  --mount-root DIR       mount points handed to containers (default %s)\n"
	    "  --driver-dir DIR       where <driver-name>.json is written (default %s)\n"
	    "  --driver-name NAME     volume driver name (default %s)\n"
	    "  --metrics-listen HOST:PORT\n"
	    "                         serve Prometheus metrics at /metrics (default off;\n"
	    "                         loopback only unless mutual TLS is configured, then\n"
	    "                         served with it)\n"
	    "  --config FILE          JSON config: the flag names with _ for -, plus tls,\n"
	    "                         iscsi, nvme, scaleio and file sections; flags win\n"
	    "  --check-config FILE    validate FILE (with the other flags) as a start would,\n"
	    "                         print every problem and exit: 0 valid, 2 not; creates\n"
	    "                         and changes nothing\n"
	    "  -h, --help             this text\n"
	    "\n"
	    "Logs go to stdout, one JSON object per line. Exit status: 0 after SIGTERM/SIGINT,\n"
	    "1 on a runtime failure, 2 on a usage or configuration error.\n",
	    prog, AGENT_DEFAULT_LISTEN, AGENT_DEFAULT_ADMIN_SOCKET, AGENT_DEFAULT_STATE_DIR,
	    AGENT_DEFAULT_MOUNT_ROOT, AGENT_DEFAULT_DRIVER_DIR, AGENT_DEFAULT_DRIVER_NAME);
}

static char config_arg[AGENT_PATH_MAX];
static int check_mode;

static void set_flag(char *dst, size_t n, const char *flag, const char *v, struct errlist *el)
{
	if (!v)
		return;
	if (!*v) {
		errlist_add(el, "--%s: must not be empty", flag);
		return;
	}
	if (strlen(v) >= n) {
		errlist_add(el, "--%s: too long (at most %zu characters)", flag, n - 1);
		return;
	}
	memcpy(dst, v, strlen(v) + 1);
}

int agent_config_parse_args(int argc, char *argv[], struct agent_config *ret, struct errlist *el)
{
	const char *flags[OPT_CONFIG - OPT_LISTEN + 1] = {0};
	const char *config = NULL;
	struct agent_config c;
	unsigned before = el->n;
	int opt, check = 0;

	check_mode = 0;
	config_arg[0] = 0;
	/* getopt keeps state in globals: start over for every call (tests call us often). */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			return AGENT_CONFIG_HELP;
		case OPT_CONFIG:
		case OPT_CHECK_CONFIG:
			if (config)
				errlist_add(el,
					    "--config and --check-config: give one config file, "
					    "once");
			config = optarg;
			check = check || opt == OPT_CHECK_CONFIG;
			break;
		case ':':
			errlist_add(el, "%s: needs a value", argv[optind - 1]);
			break;
		case '?':
			if (optopt)
				errlist_add(el, "unknown flag '-%c'", optopt);
			else
				errlist_add(el, "unknown flag '%s'", argv[optind - 1]);
			break;
		default:
			flags[opt - OPT_LISTEN] = optarg;
			break;
		}
	}
	for (int i = optind; i < argc; i++)
		errlist_add(el, "unexpected argument '%s'", argv[i]);
	if (el->n > before)
		return -EINVAL;

	agent_config_init(&c);
	snprintf(config_arg, sizeof(config_arg), "%s", config ? config : "");
	check_mode = check;
	if (config) {
		if (!*config) {
			errlist_add(el, "--%s: must not be empty",
				    check ? "check-config" : "config");
			return -EINVAL;
		}
		/* A check goes on to list validation's problems too (unreadable or invalid
		 * JSON stops it: there is nothing to validate). */
		int r = agent_config_load_file(&c, config, el);

		if (r < 0 && (!check || r == -EBADMSG))
			return -EINVAL;
	}
	set_flag(c.listen, sizeof(c.listen), "listen", flags[OPT_LISTEN - OPT_LISTEN], el);
	set_flag(c.admin_socket, sizeof(c.admin_socket), "admin-socket",
		 flags[OPT_ADMIN_SOCKET - OPT_LISTEN], el);
	set_flag(c.state_dir, sizeof(c.state_dir), "state-dir", flags[OPT_STATE_DIR - OPT_LISTEN],
		 el);
	set_flag(c.mount_root, sizeof(c.mount_root), "mount-root",
		 flags[OPT_MOUNT_ROOT - OPT_LISTEN], el);
	set_flag(c.driver_dir, sizeof(c.driver_dir), "driver-dir",
		 flags[OPT_DRIVER_DIR - OPT_LISTEN], el);
	set_flag(c.driver_name, sizeof(c.driver_name), "driver-name",
		 flags[OPT_DRIVER_NAME - OPT_LISTEN], el);
	set_flag(c.metrics_listen, sizeof(c.metrics_listen), "metrics-listen",
		 flags[OPT_METRICS_LISTEN - OPT_LISTEN], el);
	if (el->n > before && !check)
		return -EINVAL;
	if (agent_config_validate(&c, el) < 0 || el->n > before)
		return -EINVAL;
	memcpy(ret, &c, sizeof(c));
	return check ? AGENT_CONFIG_CHECK : 0;
}

int agent_config_check_mode(const char **ret_file)
{
	*ret_file = config_arg;
	return check_mode;
}
