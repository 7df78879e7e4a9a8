/* SPDX-License-Identifier: Apache-2.0 */
/*
 * attachd-broker: the Open Service Broker (API 2.17) that creates, binds and deletes the
 * volumes attachd attaches. A sibling of agent/ (never includes it): uses backends/ (the
 * PowerFlex gateway client, the backends' option parsers) and lib/.
 *
 *   log.c        JSON log lines (lager shape)
 *   params.c     pure: sizes, provision/update/bind parameters, volume key, mount_config
 *   config.c     the config file: credentials, database URL, gateway, services and plans
 *   db.h         the state store interface; db_sqlite.c and db_pg.c implement it
 *   sio.c        volume create/grow/remove on the PowerFlex gateway
 *   osb.c        the OSB operations (transport-free: method, path, headers, body -> answer)
 *   async.c      asynchronous operations (worker threads, state in the store) and recovery
 *   http.c       libmicrohttpd: basic auth, version header, identity headers, routing
 *   tls.c        HTTPS material (a minimal copy of agent/http_tls.c's checks)
 *   main.c       flags, start-up recovery, `pool` subcommand
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "lib/err.h"

#define BROKER_ID_MAX 255 /* instance, binding, service and plan ids */
#define BROKER_NAME_MAX 64
#define BROKER_GIB (1ull << 30)
#define BROKER_SIO_UNIT (8ull << 30) /* PowerFlex allocates in 8 GiB units */

enum broker_backend {
	BROKER_BE_SCALEIO,
	BROKER_BE_ISCSI,
	BROKER_BE_NVME,
	BROKER_BE_FILE,
};
const char *broker_backend_name(enum broker_backend b);
/* 1 for the backends whose plans hand out pre-created LUNs/namespaces from a pool. */
static inline int broker_backend_is_pool(enum broker_backend b)
{
	return b == BROKER_BE_ISCSI || b == BROKER_BE_NVME;
}

struct broker_plan {
	char id[BROKER_ID_MAX + 1];
	char name[BROKER_NAME_MAX + 1];
	char description[256];
	unsigned service; /* index into broker_config.services */
	enum broker_backend backend;
	char fs[8];	   /* "ext4" (default) or "xfs" */
	uint64_t size;	   /* scaleio, file: default size in bytes (scaleio: rounded) */
	uint64_t max_size; /* scaleio, file: largest size a user may ask for (0: none) */
	/* scaleio */
	char storage_pool_id[17]; /* "" when given by name */
	char protection_domain[BROKER_NAME_MAX + 1];
	char storage_pool[BROKER_NAME_MAX + 1];
	int thick;
	char system_id[17]; /* scaleio: the plan's system ("" = the scaleio section's) */
	/* Asynchronous operations (scaleio): when the platform sends accepts_incomplete=true,
	 * provision, update and deprovision answer 202 and run in a worker (auto, default);
	 * required: a request without it is refused (422 AsyncRequired); off: always
	 * synchronous. Other backends are always synchronous (nothing slow to wait for). */
	enum { BROKER_ASYNC_AUTO, BROKER_ASYNC_REQUIRED, BROKER_ASYNC_OFF } async;
	/* Copied into each bind's mount_config (attachd's Create options): "" / -1 when the
	 * plan does not set them (attachd's defaults apply). */
	char fencing[12]; /* "auto", "required", "off" */
	int takeover;	  /* -1, 0, 1 */
	/* iscsi, nvme: each item is the full backend option object of one LUN/namespace
	 * (plan "options" merged with the item; secrets already read from their files);
	 * keys[i] is its identity as the backend describes it ("iscsi:<iqn>:<lun>"). */
	json_t *items;
	char (*keys)[256];
	size_t n_items;
};

struct broker_service {
	char id[BROKER_ID_MAX + 1];
	char name[BROKER_NAME_MAX + 1];
	char description[256];
	int plan_updateable; /* some plan of it can grow */
};

struct broker_config {
	char listen[300];
	char driver[64]; /* the volume_mounts' driver: attachd's --driver-name (default attachd) */
	/* HTTPS: the Cloud Controller talks to brokers over TLS. cert_file + key_file serve
	 * HTTPS; ca_file additionally requires client certificates signed by it. "" = plain
	 * HTTP. */
	char tls_cert_file[4096];
	char tls_key_file[4096];
	char tls_ca_file[4096];
	char username[128];
	char password[256];	     /* from password_file; never logged */
	char database[4096];	     /* "sqlite:/path" or "postgresql://user@host/db" */
	char database_password[256]; /* from database_password_file; "" = none */
	char container_root[1024];   /* default container_dir parent: /var/vcap/data */
	struct backend_scaleio_host sio;
	char sio_system_id[17];
	int sio_timeout_ms;
	/* Intents ("creating"/"deleting") older than this are a dead broker's, undone by
	 * osb_recover. Default: twice the gateway timeout plus 30 s. */
	int recover_after_s;
	struct broker_service *services;
	size_t n_services;
	struct broker_plan *plans;
	size_t n_plans;
};

/* ---- config.c ---- */
/* Parse and validate a config object; every problem goes to el (one line each). base_dir
 * is unused for now (paths must be absolute). Returns 0 or -EINVAL. */
int broker_config_parse(const json_t *j, struct broker_config *ret, struct errlist *el);
/* 1 for a Volman driver name (attachd's --driver-name): [A-Za-z0-9._-]{1,63}. */
int broker_driver_name_is_valid(const char *s);
/* Read FILE and parse it (el names the file on a read or JSON error). */
int broker_config_load(const char *path, struct broker_config *ret, struct errlist *el);
void broker_config_done(struct broker_config *c);
const struct broker_plan *broker_config_plan(const struct broker_config *c, const char *id);
const struct broker_service *broker_config_service(const struct broker_config *c, const char *id);

/* ---- params.c (pure) ---- */
/* "20G", "20GiB", "512M", "1T", "1073741824": whole numbers, binary units. -EINVAL or
 * -ERANGE with *why saying what is wrong. */
int broker_size_parse(const char *s, uint64_t *ret, const char **why);
/* The shortest exact form: "24G", "512M", "1536K", or a number of bytes. */
void broker_size_format(uint64_t bytes, char *buf, size_t n);
/* v rounded up to a multiple of unit (unit > 0); UINT64_MAX if it would not fit. */
uint64_t broker_round_up(uint64_t v, uint64_t unit);

/* What one instance gets, from the plan and the user's parameters. */
struct broker_vol_params {
	uint64_t size;	/* bytes, after rounding (0 for pool plans) */
	uint64_t asked; /* what the user asked for (0: the plan default) */
	char fs[8];
	char note[160]; /* "20G rounded up to 24G: ..." or "" */
};
/* Validate provision parameters (an object or NULL) against the plan: "size" (a size
 * string; not for pool plans), "fs" ("ext4"/"xfs"). Every problem goes to el. */
int broker_provision_params(const struct broker_plan *p, const json_t *params,
			    struct broker_vol_params *ret, struct errlist *el);
/* Validate update parameters: "size" may only grow a scaleio volume (cur = its size now);
 * "fs" cannot change. ret->size is the new size (cur when unchanged). */
int broker_update_params(const struct broker_plan *p, uint64_t cur, const char *cur_fs,
			 const json_t *params, struct broker_vol_params *ret, struct errlist *el);

struct broker_bind_params {
	char container_dir[1024];
	int readonly;
};
/* Validate bind parameters: "mount" (an absolute path; default container_root/<instance>)
 * and "readonly" (a boolean). */
int broker_bind_params(const char *container_root, const char *instance_id, const json_t *params,
		       struct broker_bind_params *ret, struct errlist *el);

/* attachd's volume key for an instance: the id itself when it is a valid key (letters,
 * digits, '.', '_', '-', at most 119, not starting with '.'), else "osb-" and 32 hex digits
 * of a hash of it. The same for every binding. */
int broker_volume_key(const char *instance_id, char *buf, size_t n);
/* PowerFlex volume name for an instance (at most 31 characters, deterministic so a crashed
 * create can be found again): "osb-" and 26 hex digits of a hash of the id. */
void broker_sio_volume_name(const char *instance_id, char *buf, size_t n);

/* ---- sio.c: the PowerFlex gateway (blocking; each call one deadline of
 * c->sio_timeout_ms) ---- */
/* Create a volume of size bytes (a multiple of 8 GiB) named name in the plan's pool. */
int broker_sio_create(const struct broker_config *c, const struct broker_plan *p, const char *name,
		      uint64_t size, char *ret_id, size_t n, struct errbuf *e);
/* The id of the volume named name; -ENOENT when there is none. */
int broker_sio_find(const struct broker_config *c, const char *name, char *ret_id, size_t n,
		    struct errbuf *e);
/* Grow to size bytes (setVolumeSize). */
int broker_sio_resize(const struct broker_config *c, const char *id, uint64_t size,
		      struct errbuf *e);
/* removeVolume; 0 when already gone; -EBUSY while mapped to any SDC (e names them). */
int broker_sio_remove(const struct broker_config *c, const char *id, struct errbuf *e);

/* ---- auth.c (pure) ---- */
/* Check an Authorization header value ("Basic base64(user:password)") against user and
 * password; the password is compared in constant time (time depends on its length only).
 * 0 when they match, -EACCES otherwise (also for a missing or malformed header). */
int broker_auth_check(const char *header, const char *user, const char *password);
/* Standard base64 (with padding) -> out, NUL-terminated, *ret_len bytes (may hold NULs).
 * -EINVAL malformed, -ENOBUFS too long for n. */
int broker_base64_decode(const char *in, char *out, size_t n, size_t *ret_len);
/* Constant-time comparison: 1 if a equals want; the time depends on strlen(want) only. */
int broker_secret_equal(const char *a, const char *want);
/* X-Broker-API-Version "2.17" -> 0 and major/minor; -EINVAL if not "N.N". */
int broker_api_version_parse(const char *s, unsigned *ret_major, unsigned *ret_minor);
