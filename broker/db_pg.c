/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state store in PostgreSQL (libpq), for brokers run as several instances behind a
 * load balancer. The same tables as db_sqlite.c; exclusion between brokers comes from the
 * primary keys (a second INSERT of an instance id fails with unique_violation), conditional
 * UPDATEs and row locks (pool items are claimed with FOR UPDATE SKIP LOCKED). One
 * connection per process, used by one request at a time; a broken connection is reset once.
 * Schema migrations run under a transaction-level advisory lock, so brokers starting
 * together migrate once.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/db.h"
#include "lib/macro.h"

#define SCHEMA_VERSION 2
#define MIGRATE_LOCK 7620 /* advisory lock key: the broker's port, for recognisability */
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

struct broker_db {
	PGconn *c;
	pthread_mutex_t lock;
	char where[256]; /* host/db for messages, never the password */
};

static const char schema_v1[] =
    "CREATE TABLE instances ("
    " id TEXT PRIMARY KEY, service_id TEXT NOT NULL, plan_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('creating','ready','deleting')),"
    " org TEXT NOT NULL, space TEXT NOT NULL, request TEXT NOT NULL,"
    " size BIGINT NOT NULL, fs TEXT NOT NULL, volume_name TEXT NOT NULL,"
    " backend_ref TEXT NOT NULL, updated BIGINT NOT NULL);"
    "CREATE TABLE bindings ("
    " id TEXT PRIMARY KEY, instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    " app_guid TEXT NOT NULL, request TEXT NOT NULL, container_dir TEXT NOT NULL,"
    " readonly INTEGER NOT NULL);"
    "CREATE TABLE pool_items ("
    " key TEXT PRIMARY KEY, plan_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('free','in_use','released')),"
    " instance_id TEXT UNIQUE,"
    " CHECK ((state = 'in_use') = (instance_id IS NOT NULL)));"
    "UPDATE broker_schema SET version = 1;";

/* v2: the states "updating" and "failed", and the op column (asynchronous operations). */
static const char schema_v2[] =
    "ALTER TABLE instances DROP CONSTRAINT instances_state_check;"
    "ALTER TABLE instances ADD CONSTRAINT instances_state_check"
    " CHECK (state IN ('creating','ready','deleting','updating','failed'));"
    "ALTER TABLE instances ADD COLUMN op TEXT NOT NULL DEFAULT '';"
    "UPDATE broker_schema SET version = 2;";

/* Run sql with n text parameters: 0 and *ret (caller clears; may be NULL to drop it), or
 * -EEXIST (unique_violation), -EBUSY (serialization failure, deadlock), -EIO; e filled. */
static int query(struct broker_db *db, const char *sql, int n, const char *const *v, PGresult **ret,
		 struct errbuf *e)
{
	/* Without parameters, PQexec: it takes several statements (the schema). */
	PGresult *res =
	    n ? PQexecParams(db->c, sql, n, NULL, v, NULL, NULL, 0) : PQexec(db->c, sql);
	ExecStatusType st = PQresultStatus(res);
	const char *code;
	int r = -EIO;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (ret)
			*ret = res;
		else
			PQclear(res);
		return 0;
	}
	code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (code && streq(code, "23505"))
		r = -EEXIST;
	else if (code && (streq(code, "40001") || streq(code, "40P01")))
		r = -EBUSY;
	errbuf_set(e, r, "database %s: %s", db->where,
		   res ? PQresultErrorMessage(res) : PQerrorMessage(db->c));
	e->msg[strcspn(e->msg, "\n")] = 0;
	PQclear(res);
	return r;
}

static PGresult *run(struct broker_db *db, const char *sql, int n, const char *const *v,
		     struct errbuf *e)
{
	PGresult *res = NULL;

	return query(db, sql, n, v, &res, e) == 0 ? res : NULL;
}

/* Run a statement: the number of rows it changed, or a negative errno. */
static int exec0(struct broker_db *db, const char *sql, int n, const char *const *v,
		 struct errbuf *e)
{
	PGresult *res = NULL;
	int r = query(db, sql, n, v, &res, e);

	if (r < 0)
		return r;
	r = atoi(PQcmdTuples(res));
	PQclear(res);
	return r;
}

static int begin(struct broker_db *db, struct errbuf *e)
{
	pthread_mutex_lock(&db->lock);
	if (PQstatus(db->c) != CONNECTION_OK)
		PQreset(db->c);
	if (exec0(db, "BEGIN", 0, NULL, e) < 0) {
		pthread_mutex_unlock(&db->lock);
		return -EIO;
	}
	return 0;
}

static int end(struct broker_db *db, int r, struct errbuf *e)
{
	struct errbuf e2 = {{0}};

	if (r >= 0 && exec0(db, "COMMIT", 0, NULL, e) < 0)
		r = -EIO;
	if (r < 0)
		(void)exec0(db, "ROLLBACK", 0, NULL, &e2);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static void col(PGresult *res, int row, int i, char *buf, size_t n)
{
	snprintf(buf, n, "%s", PQgetisnull(res, row, i) ? "" : PQgetvalue(res, row, i));
}

/* Notices ("relation already exists, skipping") are not errors: libpq would print them to
 * stderr, in the middle of the JSON log. */
static void drop_notice(void *arg, const char *message)
{
}

static int pg_open(const char *url, const char *password, struct broker_db **ret, struct errbuf *e)
{
	const char *keys[] = {"dbname", "connect_timeout", "password", NULL};
	const char *vals[] = {url, "10", password, NULL};
	struct broker_db *db;
	PGresult *res;
	int r, v = 0;

	if (!password)
		keys[2] = NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	pthread_mutex_init(&db->lock, NULL);
	db->c = PQconnectdbParams(keys, vals, 1);
	if (!db->c || PQstatus(db->c) != CONNECTION_OK) {
		r = errbuf_set(e, -ECONNREFUSED, "database %s: cannot connect: %s", url,
			       db->c ? PQerrorMessage(db->c) : "out of memory");
		e->msg[strcspn(e->msg, "\n")] = 0;
		goto err;
	}
	PQsetNoticeProcessor(db->c, drop_notice, NULL);
	snprintf(db->where, sizeof(db->where), "%s/%s", PQhost(db->c) ? PQhost(db->c) : "",
		 PQdb(db->c));
	r = begin(db, e);
	if (r < 0)
		goto err;
	r = exec0(db, "SELECT pg_advisory_xact_lock(" STRINGIFY(MIGRATE_LOCK) ")", 0, NULL, e);
	if (r >= 0)
		r = exec0(db, "CREATE TABLE IF NOT EXISTS broker_schema (version INTEGER NOT NULL)",
			  0, NULL, e);
	if (r >= 0 && (res = run(db, "SELECT version FROM broker_schema", 0, NULL, e))) {
		if (PQntuples(res) == 0)
			r = exec0(db, "INSERT INTO broker_schema VALUES (0)", 0, NULL, e);
		else
			v = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
	} else if (r >= 0)
		r = -EIO;
	if (r >= 0 && v == 0)
		r = exec0(db, schema_v1, 0, NULL, e);
	if (r >= 0 && v < 2)
		r = exec0(db, schema_v2, 0, NULL, e);
	else if (r >= 0 && v > SCHEMA_VERSION)
		r = errbuf_set(e, -EPROTO,
			       "database %s: schema version %d is newer than this broker's (%d): "
			       "run the newer broker",
			       db->where, v, SCHEMA_VERSION);
	r = end(db, r, e);
	if (r < 0)
		goto err;
	*ret = db;
	return 0;
err:
	PQfinish(db->c);
	pthread_mutex_destroy(&db->lock);
	free(db);
	return r;
}

static void pg_close(struct broker_db *db)
{
	if (!db)
		return;
	PQfinish(db->c);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

static int pg_instance_insert(struct broker_db *db, struct broker_instance *inst,
			      const char *pool_plan, struct errbuf *e)
{
	char size[32];
	PGresult *res;
	int r = begin(db, e);

	if (r < 0)
		return r;
	snprintf(size, sizeof(size), "%" PRIu64, inst->size);
	r = exec0(db,
		  "INSERT INTO instances (id, service_id, plan_id, state, org, space, request,"
		  " size, fs, volume_name, backend_ref, op, updated) VALUES ($1,$2,$3,$4,$5,$6,$7,"
		  "$8,$9,$10,$11,$12, extract(epoch from now())::bigint)",
		  12,
		  (const char *const[]){inst->id, inst->service_id, inst->plan_id, inst->state,
					inst->org, inst->space, inst->request, size, inst->fs,
					inst->volume_name, inst->backend_ref, inst->op},
		  e);
	if (r == -EEXIST)
		errbuf_set(e, -EEXIST, "instance %s exists", inst->id);
	if (r >= 0 && pool_plan) {
		res = run(db,
			  "SELECT key FROM pool_items WHERE plan_id = $1 AND state = 'free'"
			  " ORDER BY key LIMIT 1 FOR UPDATE SKIP LOCKED",
			  1, (const char *const[]){pool_plan}, e);
		if (!res)
			r = -EIO;
		else if (PQntuples(res) == 0)
			r = errbuf_set(e, -ENOSPC, "no free LUN left in the pool of plan %s",
				       pool_plan);
		else
			col(res, 0, 0, inst->backend_ref, sizeof(inst->backend_ref));
		PQclear(res);
		if (r >= 0)
			r = exec0(db,
				  "UPDATE pool_items SET state = 'in_use', instance_id = $1"
				  " WHERE key = $2",
				  2, (const char *const[]){inst->id, inst->backend_ref}, e);
		if (r >= 0)
			r = exec0(db, "UPDATE instances SET backend_ref = $1 WHERE id = $2", 2,
				  (const char *const[]){inst->backend_ref, inst->id}, e);
	}
	return end(db, r < 0 ? r : 0, e);
}

static int pg_instance_get(struct broker_db *db, const char *id, struct broker_instance *ret,
			   struct errbuf *e)
{
	struct broker_instance x = {0};
	PGresult *res;
	int r = -ENOENT;

	pthread_mutex_lock(&db->lock);
	if (PQstatus(db->c) != CONNECTION_OK)
		PQreset(db->c);
	res = run(db,
		  "SELECT id, service_id, plan_id, state, org, space, request, size, fs,"
		  " volume_name, backend_ref, op FROM instances WHERE id = $1",
		  1, (const char *const[]){id}, e);
	if (!res)
		r = -EIO;
	else if (PQntuples(res) == 1) {
		col(res, 0, 0, x.id, sizeof(x.id));
		col(res, 0, 1, x.service_id, sizeof(x.service_id));
		col(res, 0, 2, x.plan_id, sizeof(x.plan_id));
		col(res, 0, 3, x.state, sizeof(x.state));
		col(res, 0, 4, x.org, sizeof(x.org));
		col(res, 0, 5, x.space, sizeof(x.space));
		col(res, 0, 6, x.request, sizeof(x.request));
		x.size = strtoull(PQgetvalue(res, 0, 7), NULL, 10);
		col(res, 0, 8, x.fs, sizeof(x.fs));
		col(res, 0, 9, x.volume_name, sizeof(x.volume_name));
		col(res, 0, 10, x.backend_ref, sizeof(x.backend_ref));
		col(res, 0, 11, x.op, sizeof(x.op));
		*ret = x;
		r = 0;
	}
	PQclear(res);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static int pg_instance_update(struct broker_db *db, const struct broker_instance *inst,
			      const char *from_state, struct errbuf *e)
{
	char size[32];
	int r = begin(db, e);

	if (r < 0)
		return r;
	snprintf(size, sizeof(size), "%" PRIu64, inst->size);
	r = exec0(db,
		  "UPDATE instances SET state = $1, plan_id = $2, request = $3, size = $4,"
		  " backend_ref = $5, op = $6, updated = extract(epoch from now())::bigint"
		  " WHERE id = $7 AND state = $8",
		  8,
		  (const char *const[]){inst->state, inst->plan_id, inst->request, size,
					inst->backend_ref, inst->op, inst->id, from_state},
		  e);
	if (r == 0)
		r = errbuf_set(e, -ESTALE, "instance %s is no longer %s", inst->id, from_state);
	return end(db, r < 0 ? r : 0, e);
}

static int pg_instance_delete(struct broker_db *db, const char *id, struct errbuf *e)
{
	const char *const v[] = {id};
	int r = begin(db, e);

	if (r < 0)
		return r;
	r = exec0(db,
		  "UPDATE pool_items SET state = 'released', instance_id = NULL"
		  " WHERE instance_id = $1",
		  1, v, e);
	if (r >= 0)
		r = exec0(db, "DELETE FROM bindings WHERE instance_id = $1", 1, v, e);
	if (r >= 0) {
		r = exec0(db, "DELETE FROM instances WHERE id = $1", 1, v, e);
		if (r == 0)
			r = -ENOENT;
	}
	return end(db, r < 0 ? r : 0, e);
}

static int pg_instance_list(struct broker_db *db, const char *state, int older_than_s,
			    int (*cb)(const struct broker_instance *, void *), void *ud,
			    struct errbuf *e)
{
	PGresult *res;
	char age[16];
	int r = 0;

	snprintf(age, sizeof(age), "%d", older_than_s);
	pthread_mutex_lock(&db->lock);
	res = run(db,
		  "SELECT id FROM instances WHERE state = $1"
		  " AND updated < extract(epoch from now())::bigint - $2::bigint ORDER BY id",
		  2, (const char *const[]){state, age}, e);
	pthread_mutex_unlock(&db->lock);
	if (!res)
		return -EIO;
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		struct broker_instance x;

		if (pg_instance_get(db, PQgetvalue(res, i, 0), &x, e) == 0)
			r = cb(&x, ud);
	}
	PQclear(res);
	return r;
}

static int pg_binding_insert(struct broker_db *db, const struct broker_binding *b, struct errbuf *e)
{
	PGresult *res;
	int r = begin(db, e);

	if (r < 0)
		return r;
	res = run(db, "SELECT state FROM instances WHERE id = $1 FOR SHARE", 1,
		  (const char *const[]){b->instance_id}, e);
	if (!res)
		return end(db, -EIO, e);
	if (PQntuples(res) == 0)
		r = -ENOENT;
	else if (!streq(PQgetvalue(res, 0, 0), "ready"))
		r = -EBUSY;
	PQclear(res);
	if (r == 0)
		r = exec0(db,
			  "INSERT INTO bindings (id, instance_id, app_guid, request, container_dir,"
			  " readonly) VALUES ($1,$2,$3,$4,$5,$6)",
			  6,
			  (const char *const[]){b->id, b->instance_id, b->app_guid, b->request,
						b->container_dir, b->readonly ? "1" : "0"},
			  e);
	return end(db, r < 0 ? r : 0, e);
}

static int pg_binding_get(struct broker_db *db, const char *id, struct broker_binding *ret,
			  struct errbuf *e)
{
	struct broker_binding x = {0};
	PGresult *res;
	int r = -ENOENT;

	pthread_mutex_lock(&db->lock);
	res = run(db,
		  "SELECT id, instance_id, app_guid, request, container_dir, readonly"
		  " FROM bindings WHERE id = $1",
		  1, (const char *const[]){id}, e);
	if (!res)
		r = -EIO;
	else if (PQntuples(res) == 1) {
		col(res, 0, 0, x.id, sizeof(x.id));
		col(res, 0, 1, x.instance_id, sizeof(x.instance_id));
		col(res, 0, 2, x.app_guid, sizeof(x.app_guid));
		col(res, 0, 3, x.request, sizeof(x.request));
		col(res, 0, 4, x.container_dir, sizeof(x.container_dir));
		x.readonly = atoi(PQgetvalue(res, 0, 5));
		*ret = x;
		r = 0;
	}
	PQclear(res);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static int pg_binding_delete(struct broker_db *db, const char *id, struct errbuf *e)
{
	int r = begin(db, e);

	if (r < 0)
		return r;
	r = exec0(db, "DELETE FROM bindings WHERE id = $1", 1, (const char *const[]){id}, e);
	return end(db, r < 0 ? r : r == 0 ? -ENOENT : 0, e);
}

static int pg_pool_sync(struct broker_db *db, const struct broker_plan *p, struct errbuf *e)
{
	int r = begin(db, e);

	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < p->n_items; i++)
		r = exec0(db,
			  "INSERT INTO pool_items (key, plan_id, state) VALUES ($1, $2, 'free')"
			  " ON CONFLICT (key) DO NOTHING",
			  2, (const char *const[]){p->keys[i], p->id}, e);
	return end(db, r < 0 ? r : 0, e);
}

static int pg_pool_list(struct broker_db *db, int (*cb)(const struct broker_pool_item *, void *),
			void *ud, struct errbuf *e)
{
	PGresult *res;
	int r = 0;

	pthread_mutex_lock(&db->lock);
	res =
	    run(db, "SELECT plan_id, key, state, instance_id FROM pool_items ORDER BY plan_id, key",
		0, NULL, e);
	pthread_mutex_unlock(&db->lock);
	if (!res)
		return -EIO;
	for (int i = 0; r == 0 && i < PQntuples(res); i++) {
		struct broker_pool_item it;

		col(res, i, 0, it.plan_id, sizeof(it.plan_id));
		col(res, i, 1, it.key, sizeof(it.key));
		col(res, i, 2, it.state, sizeof(it.state));
		col(res, i, 3, it.instance_id, sizeof(it.instance_id));
		r = cb(&it, ud);
	}
	PQclear(res);
	return r;
}

static int pg_pool_clean(struct broker_db *db, const char *key, struct errbuf *e)
{
	char state[16] = "", inst[BROKER_ID_MAX + 1] = "";
	PGresult *res;
	int r = begin(db, e);

	if (r < 0)
		return r;
	res = run(db, "SELECT state, instance_id FROM pool_items WHERE key = $1 FOR UPDATE", 1,
		  (const char *const[]){key}, e);
	if (!res)
		return end(db, -EIO, e);
	if (PQntuples(res) == 1) {
		col(res, 0, 0, state, sizeof(state));
		col(res, 0, 1, inst, sizeof(inst));
	}
	PQclear(res);
	if (!state[0])
		r = errbuf_set(e, -ENOENT,
			       "no pool item '%s' (attachd-broker pool list shows them)", key);
	else if (streq(state, "in_use"))
		r = errbuf_set(e, -EBUSY, "%s is in use by instance %s: deprovision it first", key,
			       inst);
	else if (streq(state, "free"))
		r = errbuf_set(e, -EALREADY, "%s is already free", key);
	else
		r = exec0(db, "UPDATE pool_items SET state = 'free' WHERE key = $1", 1,
			  (const char *const[]){key}, e);
	return end(db, r < 0 ? r : 0, e);
}

const struct broker_db_ops broker_db_pg = {
    .scheme = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .instance_insert = pg_instance_insert,
    .instance_get = pg_instance_get,
    .instance_update = pg_instance_update,
    .instance_delete = pg_instance_delete,
    .instance_list = pg_instance_list,
    .binding_insert = pg_binding_insert,
    .binding_get = pg_binding_get,
    .binding_delete = pg_binding_delete,
    .pool_sync = pg_pool_sync,
    .pool_list = pg_pool_list,
    .pool_clean = pg_pool_clean,
};
