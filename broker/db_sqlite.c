/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state store in SQLite (one file, WAL). One connection per broker process, used by
 * one request at a time (a mutex: SQLite connections are not for concurrent use); other
 * broker processes on the same file are kept out by BEGIN IMMEDIATE and waited for up to
 * busy_timeout. Schema version in PRAGMA user_version, migrated at open.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/db.h"
#include "lib/macro.h"

#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 15000

struct broker_db {
	sqlite3 *h;
	pthread_mutex_t lock;
	char path[4096];
};

static const char schema_v1[] =
    "CREATE TABLE instances ("
    " id TEXT PRIMARY KEY NOT NULL, service_id TEXT NOT NULL, plan_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('creating','ready','deleting')),"
    " org TEXT NOT NULL, space TEXT NOT NULL, request TEXT NOT NULL,"
    " size INTEGER NOT NULL, fs TEXT NOT NULL, volume_name TEXT NOT NULL,"
    " backend_ref TEXT NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE bindings ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
    " app_guid TEXT NOT NULL, request TEXT NOT NULL, container_dir TEXT NOT NULL,"
    " readonly INTEGER NOT NULL);"
    "CREATE TABLE pool_items ("
    " key TEXT PRIMARY KEY NOT NULL, plan_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('free','in_use','released')),"
    " instance_id TEXT UNIQUE,"
    " CHECK ((state = 'in_use') = (instance_id IS NOT NULL)));"
    "PRAGMA user_version = 1;";

/* v2: the states "updating" and "failed", and the op column (asynchronous operations).
 * SQLite cannot change a CHECK: the table is rebuilt (foreign keys are off during the
 * migration, so dropping the old table does not cascade into bindings). */
static const char schema_v2[] =
    "CREATE TABLE instances_v2 ("
    " id TEXT PRIMARY KEY NOT NULL, service_id TEXT NOT NULL, plan_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('creating','ready','deleting','updating','failed')),"
    " org TEXT NOT NULL, space TEXT NOT NULL, request TEXT NOT NULL,"
    " size INTEGER NOT NULL, fs TEXT NOT NULL, volume_name TEXT NOT NULL,"
    " backend_ref TEXT NOT NULL, updated INTEGER NOT NULL, op TEXT NOT NULL DEFAULT '');"
    "INSERT INTO instances_v2 (id, service_id, plan_id, state, org, space, request, size, fs,"
    " volume_name, backend_ref, updated)"
    " SELECT id, service_id, plan_id, state, org, space, request, size, fs,"
    " volume_name, backend_ref, updated FROM instances;"
    "DROP TABLE instances;"
    "ALTER TABLE instances_v2 RENAME TO instances;"
    "PRAGMA user_version = 2;";

static int fail(struct broker_db *db, struct errbuf *e, const char *what)
{
	int rc = sqlite3_errcode(db->h);

	errbuf_set(e, rc == SQLITE_BUSY ? -EBUSY : -EIO, "database %s: %s: %s", db->path, what,
		   sqlite3_errmsg(db->h));
	return rc == SQLITE_BUSY ? -EBUSY : -EIO;
}

static int exec(struct broker_db *db, const char *sql, struct errbuf *e)
{
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return fail(db, e, sql);
	return 0;
}

static int begin(struct broker_db *db, struct errbuf *e)
{
	pthread_mutex_lock(&db->lock);
	if (exec(db, "BEGIN IMMEDIATE", e) < 0) {
		pthread_mutex_unlock(&db->lock);
		return -EBUSY;
	}
	return 0;
}

/* Commit when r >= 0, else roll back; returns r (or the commit's failure). */
static int end(struct broker_db *db, int r, struct errbuf *e)
{
	if (r >= 0 && exec(db, "COMMIT", e) < 0)
		r = -EIO;
	if (r < 0)
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static int prep(struct broker_db *db, const char *sql, sqlite3_stmt **ret, struct errbuf *e)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, ret, NULL) != SQLITE_OK)
		return fail(db, e, "prepare");
	return 0;
}

static void bind_texts(sqlite3_stmt *st, int n, const char *const *v)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
}

static void col(sqlite3_stmt *st, int i, char *buf, size_t n)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(buf, n, "%s", s ? (const char *)s : "");
}

static int sq_open(const char *url, const char *password, struct broker_db **ret, struct errbuf *e)
{
	struct broker_db *db;
	int v = -1, r;
	sqlite3_stmt *st;

	if (!startswith(url, "sqlite:/"))
		return errbuf_set(e, -EINVAL, "database '%s': not a sqlite:/path URL", url);
	db = calloc(1, sizeof(*db));
	if (!db)
		return -ENOMEM;
	snprintf(db->path, sizeof(db->path), "%s", url + strlen("sqlite:"));
	pthread_mutex_init(&db->lock, NULL);
	if (sqlite3_open_v2(db->path, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		r = errbuf_set(e, -EIO, "database %s: cannot open: %s", db->path,
			       db->h ? sqlite3_errmsg(db->h) : "out of memory");
		goto err;
	}
	sqlite3_busy_timeout(db->h, BUSY_TIMEOUT_MS);
	if ((r = exec(db, "PRAGMA journal_mode=WAL", e)) < 0 ||
	    (r = exec(db, "PRAGMA synchronous=FULL", e)) < 0)
		goto err;
	r = begin(db, e);
	if (r < 0)
		goto err;
	if (prep(db, "PRAGMA user_version", &st, e) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	if (v == 0)
		r = exec(db, schema_v1, e);
	if (r == 0 && v < 2 && v >= 0)
		r = exec(db, schema_v2, e);
	else if (v > SCHEMA_VERSION)
		r = errbuf_set(e, -EPROTO,
			       "database %s: schema version %d is newer than this broker's (%d): "
			       "run the newer broker or restore a backup",
			       db->path, v, SCHEMA_VERSION);
	else if (v < 0)
		r = fail(db, e, "reading the schema version");
	r = end(db, r, e);
	/* After the migration: with it on, the v2 rebuild would cascade into bindings. */
	if (r == 0)
		r = exec(db, "PRAGMA foreign_keys=ON", e);
	if (r < 0)
		goto err;
	*ret = db;
	return 0;
err:
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db);
	return r;
}

static void sq_close(struct broker_db *db)
{
	if (!db)
		return;
	sqlite3_close(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

static int claim(struct broker_db *db, struct broker_instance *inst, const char *plan,
		 struct errbuf *e)
{
	sqlite3_stmt *st;
	int r = -ENOSPC;

	if (prep(db,
		 "SELECT key FROM pool_items WHERE plan_id = ? AND state = 'free' "
		 "ORDER BY key LIMIT 1",
		 &st, e) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, plan, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		col(st, 0, inst->backend_ref, sizeof(inst->backend_ref));
		r = 0;
	}
	sqlite3_finalize(st);
	if (r < 0)
		return errbuf_set(e, r, "no free LUN left in the pool of plan %s", plan);
	if (prep(db, "UPDATE pool_items SET state = 'in_use', instance_id = ? WHERE key = ?", &st,
		 e) < 0)
		return -EIO;
	bind_texts(st, 2, (const char *const[]){inst->id, inst->backend_ref});
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(db, e, "claiming a pool item");
	sqlite3_finalize(st);
	return r;
}

/* Run sql with one or two text parameters (arg2 may be NULL); the number of rows changed. */
static int run1(struct broker_db *db, const char *sql, const char *arg, const char *arg2,
		struct errbuf *e)
{
	sqlite3_stmt *st;
	int r;

	if (prep(db, sql, &st, e) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (arg2)
		sqlite3_bind_text(st, 2, arg2, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db->h) : fail(db, e, sql);
	sqlite3_finalize(st);
	return r;
}

static int sq_instance_insert(struct broker_db *db, struct broker_instance *inst,
			      const char *pool_plan, struct errbuf *e)
{
	sqlite3_stmt *st;
	int r = begin(db, e), rc;

	if (r < 0)
		return r;
	if (prep(db,
		 "INSERT INTO instances (id, service_id, plan_id, state, org, space, request,"
		 " size, fs, volume_name, backend_ref, op, updated)"
		 " VALUES (?,?,?,?,?,?,?,?,?,?,?,?, strftime('%s','now'))",
		 &st, e) < 0)
		return end(db, -EIO, e);
	bind_texts(st, 7,
		   (const char *const[]){inst->id, inst->service_id, inst->plan_id, inst->state,
					 inst->org, inst->space, inst->request});
	sqlite3_bind_int64(st, 8, (sqlite3_int64)inst->size);
	sqlite3_bind_text(st, 9, inst->fs, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, inst->volume_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 11, inst->backend_ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 12, inst->op, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		r = errbuf_set(e, -EEXIST, "instance %s exists", inst->id);
	else if (rc != SQLITE_DONE)
		r = fail(db, e, "inserting an instance");
	sqlite3_finalize(st);
	/* The instance first: its primary key decides who provisions an id. */
	if (r == 0 && pool_plan) {
		r = claim(db, inst, pool_plan, e);
		if (r == 0)
			r = run1(db, "UPDATE instances SET backend_ref = ? WHERE id = ?",
				 inst->backend_ref, inst->id, e);
	}
	return end(db, r < 0 ? r : 0, e);
}

static int get_inst(struct broker_db *db, const char *id, struct broker_instance *ret,
		    struct errbuf *e)
{
	struct broker_instance x = {0};
	sqlite3_stmt *st;
	int r = -ENOENT;

	if (prep(db,
		 "SELECT id, service_id, plan_id, state, org, space, request, size, fs,"
		 " volume_name, backend_ref, op FROM instances WHERE id = ?",
		 &st, e) < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		col(st, 0, x.id, sizeof(x.id));
		col(st, 1, x.service_id, sizeof(x.service_id));
		col(st, 2, x.plan_id, sizeof(x.plan_id));
		col(st, 3, x.state, sizeof(x.state));
		col(st, 4, x.org, sizeof(x.org));
		col(st, 5, x.space, sizeof(x.space));
		col(st, 6, x.request, sizeof(x.request));
		x.size = (uint64_t)sqlite3_column_int64(st, 7);
		col(st, 8, x.fs, sizeof(x.fs));
		col(st, 9, x.volume_name, sizeof(x.volume_name));
		col(st, 10, x.backend_ref, sizeof(x.backend_ref));
		col(st, 11, x.op, sizeof(x.op));
		*ret = x;
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

static int sq_instance_get(struct broker_db *db, const char *id, struct broker_instance *ret,
			   struct errbuf *e)
{
	int r;

	pthread_mutex_lock(&db->lock);
	r = get_inst(db, id, ret, e);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static int sq_instance_update(struct broker_db *db, const struct broker_instance *inst,
			      const char *from_state, struct errbuf *e)
{
	sqlite3_stmt *st;
	int r = begin(db, e);

	if (r < 0)
		return r;
	if (prep(db,
		 "UPDATE instances SET state = ?, plan_id = ?, request = ?, size = ?,"
		 " backend_ref = ?, op = ?, updated = strftime('%s','now')"
		 " WHERE id = ? AND state = ?",
		 &st, e) < 0)
		return end(db, -EIO, e);
	bind_texts(st, 3, (const char *const[]){inst->state, inst->plan_id, inst->request});
	sqlite3_bind_int64(st, 4, (sqlite3_int64)inst->size);
	sqlite3_bind_text(st, 5, inst->backend_ref, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, inst->op, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, inst->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, from_state, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = fail(db, e, "updating an instance");
	else if (sqlite3_changes(db->h) != 1)
		r = errbuf_set(e, -ESTALE, "instance %s is no longer %s", inst->id, from_state);
	sqlite3_finalize(st);
	return end(db, r, e);
}

static int sq_instance_delete(struct broker_db *db, const char *id, struct errbuf *e)
{
	int r = begin(db, e);

	if (r < 0)
		return r;
	r = run1(db,
		 "UPDATE pool_items SET state = 'released', instance_id = NULL "
		 "WHERE instance_id = ?",
		 id, NULL, e);
	if (r >= 0)
		r = run1(db, "DELETE FROM bindings WHERE instance_id = ?", id, NULL, e);
	if (r >= 0) {
		r = run1(db, "DELETE FROM instances WHERE id = ?", id, NULL, e);
		if (r == 0)
			r = -ENOENT;
	}
	return end(db, r < 0 ? r : 0, e);
}

static int sq_instance_list(struct broker_db *db, const char *state, int older_than_s,
			    int (*cb)(const struct broker_instance *, void *), void *ud,
			    struct errbuf *e)
{
	char(*ids)[BROKER_ID_MAX + 1] = NULL;
	size_t n = 0;
	sqlite3_stmt *st;
	int r = 0;

	/* Ids first, callbacks after: a callback may write to the store. */
	pthread_mutex_lock(&db->lock);
	if (prep(db,
		 "SELECT id FROM instances WHERE state = ?"
		 " AND updated < CAST(strftime('%s','now') AS INTEGER) - ? ORDER BY id",
		 &st, e) < 0) {
		pthread_mutex_unlock(&db->lock);
		return -EIO;
	}
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, older_than_s);
	while (sqlite3_step(st) == SQLITE_ROW) {
		void *nn = realloc(ids, (n + 1) * sizeof(*ids));

		if (!nn) {
			r = -ENOMEM;
			break;
		}
		ids = nn;
		col(st, 0, ids[n++], sizeof(ids[0]));
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct broker_instance x;

		if (sq_instance_get(db, ids[i], &x, e) == 0)
			r = cb(&x, ud);
	}
	free(ids);
	return r;
}

static int sq_binding_insert(struct broker_db *db, const struct broker_binding *b, struct errbuf *e)
{
	struct broker_instance inst;
	sqlite3_stmt *st;
	int r = begin(db, e), rc;

	if (r < 0)
		return r;
	r = get_inst(db, b->instance_id, &inst, e);
	if (r < 0)
		return end(db, r, e);
	if (!streq(inst.state, "ready"))
		return end(db, -EBUSY, e);
	if (prep(db,
		 "INSERT INTO bindings (id, instance_id, app_guid, request, container_dir,"
		 " readonly) VALUES (?,?,?,?,?,?)",
		 &st, e) < 0)
		return end(db, -EIO, e);
	bind_texts(st, 5,
		   (const char *const[]){b->id, b->instance_id, b->app_guid, b->request,
					 b->container_dir});
	sqlite3_bind_int(st, 6, b->readonly);
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		r = -EEXIST;
	else if (rc != SQLITE_DONE)
		r = fail(db, e, "inserting a binding");
	sqlite3_finalize(st);
	return end(db, r, e);
}

static int sq_binding_get(struct broker_db *db, const char *id, struct broker_binding *ret,
			  struct errbuf *e)
{
	struct broker_binding x = {0};
	sqlite3_stmt *st;
	int r = -ENOENT;

	pthread_mutex_lock(&db->lock);
	if (prep(db,
		 "SELECT id, instance_id, app_guid, request, container_dir, readonly"
		 " FROM bindings WHERE id = ?",
		 &st, e) < 0) {
		pthread_mutex_unlock(&db->lock);
		return -EIO;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		col(st, 0, x.id, sizeof(x.id));
		col(st, 1, x.instance_id, sizeof(x.instance_id));
		col(st, 2, x.app_guid, sizeof(x.app_guid));
		col(st, 3, x.request, sizeof(x.request));
		col(st, 4, x.container_dir, sizeof(x.container_dir));
		x.readonly = sqlite3_column_int(st, 5);
		*ret = x;
		r = 0;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static int sq_binding_delete(struct broker_db *db, const char *id, struct errbuf *e)
{
	int r = begin(db, e);

	if (r < 0)
		return r;
	r = run1(db, "DELETE FROM bindings WHERE id = ?", id, NULL, e);
	return end(db, r < 0 ? r : r == 0 ? -ENOENT : 0, e);
}

static int sq_pool_sync(struct broker_db *db, const struct broker_plan *p, struct errbuf *e)
{
	sqlite3_stmt *st;
	int r = begin(db, e);

	if (r < 0)
		return r;
	if (prep(db, "INSERT OR IGNORE INTO pool_items (key, plan_id, state) VALUES (?,?,'free')",
		 &st, e) < 0)
		return end(db, -EIO, e);
	for (size_t i = 0; r == 0 && i < p->n_items; i++) {
		sqlite3_reset(st);
		bind_texts(st, 2, (const char *const[]){p->keys[i], p->id});
		if (sqlite3_step(st) != SQLITE_DONE)
			r = fail(db, e, "adding pool items");
	}
	sqlite3_finalize(st);
	return end(db, r, e);
}

static int sq_pool_list(struct broker_db *db, int (*cb)(const struct broker_pool_item *, void *),
			void *ud, struct errbuf *e)
{
	sqlite3_stmt *st;
	int r = 0;

	pthread_mutex_lock(&db->lock);
	if (prep(db,
		 "SELECT plan_id, key, state, instance_id FROM pool_items ORDER BY plan_id, key",
		 &st, e) < 0) {
		pthread_mutex_unlock(&db->lock);
		return -EIO;
	}
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct broker_pool_item it;

		col(st, 0, it.plan_id, sizeof(it.plan_id));
		col(st, 1, it.key, sizeof(it.key));
		col(st, 2, it.state, sizeof(it.state));
		col(st, 3, it.instance_id, sizeof(it.instance_id));
		r = cb(&it, ud);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&db->lock);
	return r;
}

static int sq_pool_clean(struct broker_db *db, const char *key, struct errbuf *e)
{
	char state[16] = "", inst[BROKER_ID_MAX + 1] = "";
	sqlite3_stmt *st;
	int r = begin(db, e);

	if (r < 0)
		return r;
	if (prep(db, "SELECT state, instance_id FROM pool_items WHERE key = ?", &st, e) < 0)
		return end(db, -EIO, e);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		col(st, 0, state, sizeof(state));
		col(st, 1, inst, sizeof(inst));
	}
	sqlite3_finalize(st);
	if (!state[0])
		r = errbuf_set(e, -ENOENT,
			       "no pool item '%s' (attachd-broker pool list shows them)", key);
	else if (streq(state, "in_use"))
		r = errbuf_set(e, -EBUSY, "%s is in use by instance %s: deprovision it first", key,
			       inst);
	else if (streq(state, "free"))
		r = errbuf_set(e, -EALREADY, "%s is already free", key);
	else
		r = run1(db, "UPDATE pool_items SET state = 'free' WHERE key = ?", key, NULL, e);
	return end(db, r < 0 ? r : 0, e);
}

const struct broker_db_ops broker_db_sqlite = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .instance_insert = sq_instance_insert,
    .instance_get = sq_instance_get,
    .instance_update = sq_instance_update,
    .instance_delete = sq_instance_delete,
    .instance_list = sq_instance_list,
    .binding_insert = sq_binding_insert,
    .binding_get = sq_binding_get,
    .binding_delete = sq_binding_delete,
    .pool_sync = sq_pool_sync,
    .pool_list = sq_pool_list,
    .pool_clean = sq_pool_clean,
};

const struct broker_db_ops *broker_db_find(const char *url)
{
	if (startswith(url, "sqlite:"))
		return &broker_db_sqlite;
	if (startswith(url, "postgresql://") || startswith(url, "postgres://"))
		return &broker_db_pg;
	return NULL;
}
