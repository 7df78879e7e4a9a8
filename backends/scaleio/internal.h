/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scaleio (Dell PowerFlex) backend internals, shared by the files of backends/scaleio/ and
 * by its unit tests.
 *
 *   options.c   Create options (system_id, volume_id): pure parsing and validation
 *   gwjson.c    pure: gateway URLs and bodies, error bodies and codes, SDC/volume JSON,
 *               drv_cfg output
 *   curlso.c    libcurl, dlopen()ed at the first gateway operation (attachd does not link it)
 *   rest.c      the gateway client (libcurl): login, token cache, version header, 401 retry,
 *               TLS settings, one deadline per operation
 *   takeover.c  pure: one writer per volume (refuse, or the SDCs a takeover unmaps)
 *   scaleio.c   the ops table: probe / connect / find_device / identify / disconnect
 *
 * The gateway password lives only in the host config and in the Authorization header of a
 * login; it is never written to an errbuf, objs, or a log.
 */
#pragma once

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/scaleio/gateway.h"
#include "lib/err.h"
#include "lib/sys.h"

#define BE_SIO_BY_ID_DIR "/dev/disk/by-id"

struct be_sio_cfg {
	char system_id[BE_SIO_ID_LEN + 1]; /* lower case */
	char volume_id[BE_SIO_ID_LEN + 1]; /* lower case */
	int readonly;			   /* the generic "readonly" option */
};

/* ---- curlso.c ---- */

#define BE_SIO_CURL_SONAME "libcurl.so.4"
/* The libcurl functions rest.c calls, resolved from the library loaded at run time. */
struct be_sio_curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *curl);
	void (*easy_reset)(CURL *curl);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};
/* Set once be_sio_curl_load() has succeeded; never reset. */
extern const struct be_sio_curl *be_sio_curl;
/* Loads libcurl and initialises it, once per process (thread-safe). -ELIBACC (e names the
 * library and what to install) when it is not there, -ELIBBAD when it lacks a function.
 * A failure is not remembered: the next call tries again. */
int be_sio_curl_load(struct errbuf *e);
/* dlopen soname and resolve the functions into *ret (tests: a missing library). */
int be_sio_curl_load_from(const char *soname, struct be_sio_curl *ret, struct errbuf *e);

/* ---- options.c ---- */
int be_sio_parse(const json_t *opts, void **ret_cfg, struct errlist *el);
void be_sio_free_cfg(void *cfg);
int be_sio_describe(const void *cfg, char *buf, size_t n);
/* 1 if s is an SDC GUID, 8-4-4-4-12 hex. */
int be_sio_guid_is_valid(const char *s);

/* ---- gwjson.c (pure) ---- */

/* Error codes the gateway returns with HTTP 500 (3.x and 4.x numbering). */
enum {
	BE_SIO_E_VOL_NOT_FOUND = 79,
	BE_SIO_E_SDC_NOT_FOUND = 80,
	BE_SIO_E_ALREADY_MAPPED = 81,
	BE_SIO_E_NOT_MAPPED = 84,
	BE_SIO_E_MAPPED_ELSEWHERE = 297,
	BE_SIO_E_NOT_APPROVED = 322,
	BE_SIO_E_ALREADY_MAPPED_4X = 4037,
	BE_SIO_E_NOT_MAPPED_4X = 4039,
};
int be_sio_code_is_already_mapped(long code);
int be_sio_code_is_not_mapped(long code);

/* A gateway error body: {"message":..,"httpStatusCode":..,"errorCode":..}. Anything else
 * (HTML, empty) gives code -1 and the message "" . */
struct be_sio_gwerr {
	long code;
	char message[256];
};
void be_sio_gwerr_parse(const char *body, struct be_sio_gwerr *ret);

/* A JSON string body ("\"3.6\"", "\"token\"") -> its value; also accepts a bare token
 * (some gateways omit the quotes). -EINVAL for an empty or non-string body. */
int be_sio_json_string_body(const char *body, char *buf, size_t n);

/* "3.6" / "4.0.1" -> major.minor for the version header, and 1 if major >= 4 (Bearer). */
int be_sio_version_parse(const char *v, char *ret, size_t n, int *ret_bearer);

/* Gateway base URL without trailing slashes + path. -ENAMETOOLONG when it does not fit. */
int be_sio_url(const char *gateway, const char *path, char *buf, size_t n);

struct be_sio_sdc {
	char id[BE_SIO_ID_LEN + 1];
	char name[128];
	char ip[64];
	char guid[64];
	int connected; /* mdmConnectionState == "Connected" (1), "Disconnected" (0), unknown (-1) */
	int approved;  /* sdcApproved (1/0), unknown (-1) */
};
/* Find the SDC with guid (case-insensitive) in a /Sdc/instances array. -ENOENT if absent,
 * -EINVAL if list is not an array. */
int be_sio_sdc_find_guid(const json_t *list, const char *guid, struct be_sio_sdc *ret);
/* The SDC with id in the list (for naming another SDC). -ENOENT if absent. */
int be_sio_sdc_find_id(const json_t *list, const char *id, struct be_sio_sdc *ret);
/* "d0f055a700000000 (name 'host2', IP 10.0.0.6)" for messages. */
void be_sio_sdc_format(const struct be_sio_sdc *s, char *buf, size_t n);

/* 1 if sdc_id is among the volume's mappings. */
int be_sio_volume_is_mapped_to(const struct be_sio_volume *v, const char *sdc_id);
/* Index of the first mapping to an SDC other than sdc_id, -1 if none. */
int be_sio_volume_other_mapping(const struct be_sio_volume *v, const char *sdc_id);

/* ---- takeover.c (pure) ---- */

/* What a read-write attach must do about the SDCs other than ours that have the volume. */
struct be_sio_excl {
	unsigned n_evict; /* SDCs a takeover unmaps before mapping ours */
	char evict[BE_SIO_MAX_MAPPINGS][BE_SIO_ID_LEN + 1];
	char who[320]; /* those SDCs for people: "SDC <id> (name 'x', IP y)[, SDC ...]" */
};
/*
 * readonly: 0, nothing to do (a read-only attach shares the volume). Read-write: a volume
 * mapped to all SDCs is refused, takeover or not (-EBUSY, e says why and what to do);
 * mapped to other SDCs: refused naming them and saying how to take over (-EBUSY), or with
 * takeover 0 and the SDCs to unmap in *ret. sdcs (the system's SDC list, may be NULL) names
 * the SDCs. Mappings to own_id are ours and left alone.
 */
int be_sio_exclusive_plan(const struct be_sio_volume *vol, const char *own_id, const json_t *sdcs,
			  int readonly, int takeover, struct be_sio_excl *ret, struct errbuf *e);

/* Request bodies (malloc'd JSON, all values strings as the gateway wants). */
char *be_sio_body_map(const char *sdc_id, int readonly);
char *be_sio_body_unmap(const char *sdc_id);

/* The GUID from `drv_cfg --query_guid` output (first line that is a GUID), upper case.
 * -ENOENT when none. */
int be_sio_drv_cfg_guid_parse(const char *out, char *buf, size_t n);
/* rescan.c: backend_ops.rescan (`drv_cfg --rescan`; 0 without drv_cfg). */
int be_sio_rescan(const struct backend_ctx *ctx, struct backend_attachment *a,
		  const struct backend_device *dev, struct errbuf *e);

