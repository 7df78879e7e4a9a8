/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PowerFlex gateway client of the scaleio backend, for other users of the gateway
 * (attachd-broker creates, grows and removes volumes with it): one operation is one
 * struct be_sio_client with one deadline; be_sio_call_json() does the login, token cache,
 * version header, 401 retry and TLS settings of the host config. Blocking (libcurl).
 * Implemented in rest.c and gwjson.c.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "backends/backend.h"
#include "lib/err.h"

#define BE_SIO_ID_LEN 16 /* system, SDC and volume ids: 16 hex digits */

/* 1 if s is 16 hex digits (either case). */
int be_sio_id_is_valid(const char *s);

#define BE_SIO_MAX_MAPPINGS 16
struct be_sio_volume {
	char id[BE_SIO_ID_LEN + 1];
	char name[64];
	uint64_t size_bytes;
	int all_sdcs; /* mappingToAllSdcsEnabled */
	unsigned n_mapped;
	struct {
		char sdc_id[BE_SIO_ID_LEN + 1];
		char sdc_ip[64];
		char sdc_name[128];
		char access_mode[32];
	} mapped[BE_SIO_MAX_MAPPINGS];
};
/* A Volume object. mappedSdcInfo may be null, [] or missing. -EINVAL when not a volume. */
int be_sio_volume_parse(const json_t *v, struct be_sio_volume *ret);

/* ---- rest.c ---- */

/* One gateway operation (probe, connect or disconnect) with one deadline. */
struct be_sio_client {
	const struct backend_scaleio_host *host;
	int64_t deadline_ms; /* CLOCK_MONOTONIC ms */
	void *curl;	     /* CURL *, reused for the operation (keep-alive) */
	char token[512];
	char version[16];
	int bearer;
	unsigned logins; /* logins made by this client (tests) */
};

/* Set up for an operation bounded by timeout_ms. -EINVAL (e filled) when the gateway is
 * not configured. */
int be_sio_client_init(struct be_sio_client *c, const struct backend_scaleio_host *host,
		       int timeout_ms, struct errbuf *e);
void be_sio_client_done(struct be_sio_client *c);

/*
 * One REST call: method "GET"/"POST", path "/api/...", body (POST, may be NULL = "{}").
 * Logs in first when there is no token (process-wide cache per gateway+user), and once
 * more on a 401. Returns the HTTP status (200..599) with the body in *ret_body (malloc'd,
 * may be ""), or a negative errno with e saying why (gateway unreachable, timed out, TLS,
 * bad credentials).
 */
int be_sio_call(struct be_sio_client *c, const char *method, const char *path, const char *body,
		char **ret_body, struct errbuf *e);
/* be_sio_call + require 200 + parse JSON. On a gateway error, e carries its message and
 * *ret_code (may be NULL) the errorCode (-1 if none). */
int be_sio_call_json(struct be_sio_client *c, const char *method, const char *path,
		     const char *body, json_t **ret, long *ret_code, struct errbuf *e);

/* Forget every cached token (tests). */
void be_sio_token_cache_clear(void);
/* Every request this process made to a gateway so far (be_scaleio_ops.request_stats). */
void be_sio_request_stats(struct backend_request_stats *ret);

/* ---- probe.c ---- */
/*
 * attachctl probe scaleio://SYSTEM/VOLUME: checks the system exists on the gateway
 * (-ENOENT naming it otherwise), then reads the volume (-ENOENT when missing) with its
 * mappings. Read-only: no SDC of this host is needed. Bounded by timeout_ms.
 */
int be_sio_probe_volume(const struct backend_scaleio_host *host, int timeout_ms,
			const char *system_id, const char *volume_id, struct be_sio_volume *ret,
			struct errbuf *e);

/* This host's SDC as the gateway knows it, for attachctl identity. */
struct be_sio_sdc_info {
	char id[BE_SIO_ID_LEN + 1];
	char name[128];
	char ip[64];
};
/*
 * Look the SDC with guid up (GET /api/types/Sdc/instances; case-insensitive GUID match).
 * -ENOENT with e set when the gateway knows no SDC with that GUID; other negative errnos
 * with e set for gateway errors. Read-only. Bounded by timeout_ms.
 */
int be_sio_sdc_by_guid(const struct backend_scaleio_host *host, int timeout_ms, const char *guid,
		       struct be_sio_sdc_info *ret, struct errbuf *e);
