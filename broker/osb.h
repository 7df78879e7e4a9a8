/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Open Service Broker API 2.17 operations, without the transport: http.c checks the
 * credentials and the version header and hands each request here. Provision, update and
 * deprovision of scaleio plans run asynchronously when the platform sends
 * accepts_incomplete=true (202 + operation; last_operation reports it; the plan's "async"
 * setting may require it: 422 AsyncRequired); everything else answers synchronously.
 */
#pragma once

#include <jansson.h>

#include "broker/broker.h"
#include "broker/db.h"

struct broker {
	const struct broker_config *cfg;
	const struct broker_db_ops *dbo;
	struct broker_db *db;
};

struct osb_request {
	const char *method;
	const char *path; /* without the query string */
	/* A query parameter's value or NULL. */
	const char *(*query)(void *ud, const char *key);
	void *query_ud;
	const char *body; /* may be NULL */
	size_t body_len;
	const char *request_id; /* X-Broker-API-Request-Identity or "" (for logs) */
};

struct osb_response {
	int status;
	json_t *body; /* owned by the caller after the call */
};

/* Serve one request. Always fills ret (status and a JSON object body). May block on the
 * gateway and the database. */
void osb_handle(struct broker *b, const struct osb_request *rq, struct osb_response *ret);

/* The catalog (GET /v2/catalog), built from the config. */
json_t *osb_catalog(const struct broker_config *c);

/* The bind answer of a binding: {"credentials":{},"volume_mounts":[...]}; NULL with e
 * filled when the instance's plan or pool item is gone from the config. */
json_t *osb_binding_body(const struct broker_config *c, const struct broker_instance *inst,
			 const struct broker_binding *bd, struct errbuf *e);

/* Run (or resume) instance id's asynchronous operation recorded in the store to its end:
 * provision (create or find the volume -> "ready", or "failed"), update (grow -> "ready"),
 * deprovision (remove -> row deleted, or back to "ready" with the operation failed).
 * Blocking. 0 also when there is nothing to run. */
int osb_operation_run(struct broker *b, const char *id, struct errbuf *e);
/* Wait until the worker threads of asynchronous operations have finished (at stop). */
void osb_jobs_wait(void);

/* Finish or undo what a broker that died half way left ("creating": remove the volume if
 * the gateway has it, then the row; "deleting": remove the volume, then the row), for
 * intents older than the config's recover_after_s: an operation still running in some
 * broker cannot be that old (it is bounded by the gateway timeout). Called at start and
 * periodically. Returns how many instances it cleaned, or a negative errno (e says which
 * failed). */
int osb_recover(struct broker *b, struct errbuf *e);
