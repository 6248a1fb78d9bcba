/*
 * sqlite_jobs: background jobs on the SQLite backend (store.h "Background jobs").
 *
 * A claim is one UPDATE ... RETURNING whose WHERE picks the due job with a subquery,
 * run under BEGIN IMMEDIATE and this process's write mutex: SQLite has one writer at a
 * time, so no two claims (from this process or another sharing the file) can see the
 * same job as due. Statements are prepared per call: jobs are not on a page's path.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "store/backend.h"
#include "store/sqlite_internal.h"

/* Prepares text on this thread's connection; NULL (logged) on failure. */
static sqlite3_stmt *prepare(void *impl, const char *text, sqlite3 **db_out) {
    sqlite3 *db = store_sqlite_conn(impl);
    if (!db) return NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, text, -1, &st, NULL) != SQLITE_OK) {
        log_error("store: jobs: %s", sqlite3_errmsg(db));
        return NULL;
    }
    *db_out = db;
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s) {
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int store_sqlite_job_enqueue(void *impl, const char *kind, const char *payload, int64_t run_after,
                             int64_t now, int64_t *id_out) {
    sqlite3 *db;
    sqlite3_stmt *st = prepare(impl,
                               "INSERT INTO jobs (kind, payload, state, run_after, created_at) "
                               "VALUES (?1, ?2, 'queued', ?3, ?4) RETURNING id",
                               &db);
    if (!st) return STORE_ERROR;
    bind_text(st, 1, kind);
    bind_text(st, 2, payload);
    sqlite3_bind_int64(st, 3, run_after);
    sqlite3_bind_int64(st, 4, now);
    store_sqlite_write_lock(impl);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st); /* the statement's implicit transaction commits here */
    store_sqlite_write_unlock(impl);
    if (rc != SQLITE_ROW) {
        log_error("store: job enqueue: %s", sqlite3_errmsg(db));
        return STORE_ERROR;
    }
    if (id_out) *id_out = id;
    return STORE_OK;
}

int store_sqlite_job_claim(void *impl, const char *kind, const char *worker, int64_t now,
                           int64_t lease_seconds, arena *a, store_job *out) {
    sqlite3 *db;
    sqlite3_stmt *st =
        prepare(impl,
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = ?2, "
                "locked_until = ?3 + ?4 WHERE id = (SELECT id FROM jobs WHERE "
                "((state = 'queued' AND run_after <= ?3) OR "
                " (state = 'running' AND locked_until <= ?3)) "
                "AND (?1 IS NULL OR kind = ?1) ORDER BY run_after, id LIMIT 1) "
                "RETURNING id, kind, payload, attempts",
                &db);
    if (!st) return STORE_ERROR;
    bind_text(st, 1, kind);
    bind_text(st, 2, worker);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, lease_seconds);
    store_sqlite_write_lock(impl);
    int result = STORE_ERROR, found = 0;
    store_job job = {0};
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        log_error("store: job claim: %s", sqlite3_errmsg(db));
        goto out;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        found = 1;
        job.id = sqlite3_column_int64(st, 0);
        job.kind = arena_strdup(a, (const char *)sqlite3_column_text(st, 1));
        job.payload = arena_strdup(a, (const char *)sqlite3_column_text(st, 2));
        job.attempts = sqlite3_column_int(st, 3);
        rc = sqlite3_step(st); /* finishes the UPDATE */
    }
    if (rc != SQLITE_DONE) {
        log_error("store: job claim: %s", sqlite3_errmsg(db));
        sqlite3_reset(st);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    sqlite3_reset(st);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        log_error("store: job claim commit: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    result = found ? STORE_OK : STORE_NOT_FOUND;
    if (found) *out = job;
out:
    store_sqlite_write_unlock(impl);
    sqlite3_finalize(st);
    return result;
}

/* An UPDATE of a job running under worker (?1 id, ?2 worker); STORE_NOT_FOUND when no
 * such job. */
static int finish(void *impl, const char *text, int64_t id, const char *worker, const char *error,
                  int64_t retry_at, int64_t now) {
    sqlite3 *db;
    sqlite3_stmt *st = prepare(impl, text, &db);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, worker);
    sqlite3_bind_int64(st, 3, now);
    if (error) {
        bind_text(st, 4, error);
        sqlite3_bind_int64(st, 5, retry_at);
    }
    store_sqlite_write_lock(impl);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    store_sqlite_write_unlock(impl);
    if (rc != SQLITE_DONE) {
        log_error("store: job update: %s", sqlite3_errmsg(db));
        return STORE_ERROR;
    }
    return changed > 0 ? STORE_OK : STORE_NOT_FOUND;
}

int store_sqlite_job_complete(void *impl, int64_t id, const char *worker, int64_t now) {
    return finish(impl,
                  "UPDATE jobs SET state = 'done', finished_at = ?3, locked_until = NULL "
                  "WHERE id = ?1 AND state = 'running' AND locked_by = ?2",
                  id, worker, NULL, 0, now);
}

int store_sqlite_job_fail(void *impl, int64_t id, const char *worker, const char *error,
                          int64_t retry_at, int64_t now) {
    return finish(impl,
                  "UPDATE jobs SET last_error = ?4, locked_until = NULL, "
                  "state = CASE WHEN ?5 > 0 THEN 'queued' ELSE 'failed' END, "
                  "run_after = CASE WHEN ?5 > 0 THEN ?5 ELSE run_after END, "
                  "finished_at = CASE WHEN ?5 > 0 THEN NULL ELSE ?3 END "
                  "WHERE id = ?1 AND state = 'running' AND locked_by = ?2",
                  id, worker, error, retry_at, now);
}
