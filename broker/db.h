/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's state store. Every function is one transaction (all or nothing) and is
 * safe to call from several threads and from several broker processes sharing the store:
 * exclusion comes from the database's unique constraints and conditional updates, never
 * from a lock in memory. Implementations: db_sqlite.c ("sqlite:/path", one broker process or
 * several on one host), db_pg.c ("postgresql://...", several brokers behind a load
 * balancer).
 *
 * Instance states: "creating" (row written before the array is asked; its volume may or
 * may not exist), "ready", "deleting" (the volume is being removed), "updating" (an
 * asynchronous resize is running), "failed" (an asynchronous provision failed: the row
 * stays so that last_operation can say so, until the platform deletes it). A restarted broker
 * finishes or undoes what it finds in "creating"/"deleting" (main.c).
 */
#pragma once

#include <stdint.h>

#include "broker/broker.h"
#include "lib/err.h"

struct broker_instance {
	char id[BROKER_ID_MAX + 1];
	char service_id[BROKER_ID_MAX + 1];
	char plan_id[BROKER_ID_MAX + 1];
	char state[16];
	/* The request's identity, to tell an identical repeat (200) from a conflicting one
	 * (409): organization_guid, space_guid, and the canonical JSON of parameters. */
	char org[BROKER_ID_MAX + 1];
	char space[BROKER_ID_MAX + 1];
	char request[1024];
	uint64_t size;
	char fs[8];
	char volume_name[32];  /* scaleio: the name given at create */
	char backend_ref[256]; /* scaleio: volume id ("" until known); pools: the item key */
	/* The last asynchronous operation on it, as JSON ("" when it has had none):
	 * {"id","kind":"provision|update|deprovision","state":"in progress|succeeded|failed",
	 *  "description", and for updates the target "size" and "plan_id"}. */
	char op[1024];
};

struct broker_binding {
	char id[BROKER_ID_MAX + 1];
	char instance_id[BROKER_ID_MAX + 1];
	char app_guid[BROKER_ID_MAX + 1];
	char request[1024]; /* canonical JSON of parameters (+ bind_resource) */
	char container_dir[1024];
	int readonly;
};

struct broker_pool_item {
	char plan_id[BROKER_ID_MAX + 1];
	char key[256];
	char state[16]; /* "free", "in_use", "released" */
	char instance_id[BROKER_ID_MAX + 1];
};

struct broker_db;

struct broker_db_ops {
	const char *scheme; /* "sqlite", "postgresql" */
	/* Open (creating the store when new) and migrate the schema to the current version.
	 * password (may be NULL) is the database password, read from its file. */
	int (*open)(const char *url, const char *password, struct broker_db **ret,
		    struct errbuf *e);
	void (*close)(struct broker_db *db);
	/* Insert a new instance. -EEXIST when the id exists (whoever wrote it). When
	 * pool_plan is non-NULL, one of its "free" items is claimed for the instance in the
	 * same transaction (inst->backend_ref gets its key; -ENOSPC when none is free). */
	int (*instance_insert)(struct broker_db *db, struct broker_instance *inst,
			       const char *pool_plan, struct errbuf *e);
	/* -ENOENT when absent. */
	int (*instance_get)(struct broker_db *db, const char *id, struct broker_instance *ret,
			    struct errbuf *e);
	/* Write state, plan, size, backend_ref, request, op of inst if the row is in state
	 * from_state now; -ESTALE when it is not (another request changed it). */
	int (*instance_update)(struct broker_db *db, const struct broker_instance *inst,
			       const char *from_state, struct errbuf *e);
	/* Delete the instance and its bindings; its pool item becomes "released". -ENOENT
	 * when absent. */
	int (*instance_delete)(struct broker_db *db, const char *id, struct errbuf *e);
	/* Every instance in state whose row was last written more than older_than_s seconds
	 * ago by the database's clock (brokers on several hosts agree on it); cb's non-zero
	 * return stops and is returned. */
	int (*instance_list)(struct broker_db *db, const char *state, int older_than_s,
			     int (*cb)(const struct broker_instance *, void *), void *ud,
			     struct errbuf *e);
	/* -EEXIST when the binding id exists; -ENOENT when the instance does not (or is not
	 * "ready": -EBUSY). */
	int (*binding_insert)(struct broker_db *db, const struct broker_binding *b,
			      struct errbuf *e);
	int (*binding_get)(struct broker_db *db, const char *id, struct broker_binding *ret,
			   struct errbuf *e);
	int (*binding_delete)(struct broker_db *db, const char *id, struct errbuf *e);
	/* Add the plan's configured items that the store does not know yet (as "free"). */
	int (*pool_sync)(struct broker_db *db, const struct broker_plan *p, struct errbuf *e);
	int (*pool_list)(struct broker_db *db, int (*cb)(const struct broker_pool_item *, void *),
			 void *ud, struct errbuf *e);
	/* "released" -> "free". -ENOENT unknown, -EBUSY in use (e names the instance),
	 * -EALREADY already free. */
	int (*pool_clean)(struct broker_db *db, const char *key, struct errbuf *e);
};

/* The implementation for a database URL; NULL when the scheme is unknown. */
const struct broker_db_ops *broker_db_find(const char *url);
extern const struct broker_db_ops broker_db_sqlite;
extern const struct broker_db_ops broker_db_pg;
