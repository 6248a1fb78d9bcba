/*
 * sqlite_internal: what sqlite.c shares with the other files of the SQLite backend
 * (sqlite_directory.c, sqlite_jobs.c, sqlite_copy.c): this thread's connection, the
 * process-wide write lock, and the directory's statements, which sqlite.c prepares and
 * runs with store.c's. Nothing outside src/store includes this file.
 */
#ifndef CG_STORE_SQLITE_INTERNAL_H
#define CG_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store/backend.h"
#include "store/store.h"

/* This thread's connection of backend impl (opened on first use); NULL, logged, when
 * the connection cannot be opened. */
sqlite3 *store_sqlite_conn(void *impl);
/* Takes / releases the backend's write mutex for this thread's connection: hold it
 * from BEGIN IMMEDIATE to COMMIT or ROLLBACK (see "write_mu" in sqlite.c). */
void store_sqlite_write_lock(void *impl);
void store_sqlite_write_unlock(void *impl);
/* store_dir_ops.conn (sqlite.c): this thread's connection, made ready for the
 * directory's statements on their first use. */
int store_sqlite_dir_conn(void *impl, store_conn *c);
/* The SQL text of the directory's statements, by enum store_dir_stmt
 * (sqlite_directory.c). */
extern const char *const store_sqlite_dir_sql[];

/* Background jobs (sqlite_jobs.c) and whole-database copy (sqlite_copy.c): the
 * store_ops entries of the same names, without the store_sqlite_ prefix. */
int store_sqlite_job_enqueue(void *impl, const char *kind, const char *payload, int64_t run_after,
                             int64_t now, int64_t *id_out);
int store_sqlite_job_claim(void *impl, const char *kind, const char *worker, int64_t now,
                           int64_t lease_seconds, arena *a, store_job *out);
int store_sqlite_job_complete(void *impl, int64_t id, const char *worker, int64_t now);
int store_sqlite_job_fail(void *impl, int64_t id, const char *worker, const char *error,
                          int64_t retry_at, int64_t now);
int store_sqlite_copy_tables(void *impl, arena *a, char ***names, size_t *n);
int store_sqlite_copy_references(void *impl, const char *table, arena *a, char ***names, size_t *n);
int store_sqlite_copy_columns(void *impl, const char *table, arena *a, char ***names, size_t *n);
int store_sqlite_copy_scan(void *impl, const char *table, char *const *cols, size_t ncols,
                           int (*fn)(void *ctx, const char *const *values), void *ctx);
int store_sqlite_copy_load_begin(void *impl);
int store_sqlite_copy_load_row(void *impl, const char *table, char *const *cols, size_t ncols,
                               const char *const *values);
int store_sqlite_copy_load_end(void *impl, int commit);

#endif
