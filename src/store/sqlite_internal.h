/*
 * sqlite_internal: what sqlite.c shares with the other files of the SQLite backend
 * (sqlite_directory.c): this thread's connection, the process-wide write lock, and a
 * slot on each connection where sqlite_directory.c keeps its prepared statements so
 * they live and die with the connection. Nothing outside src/store includes this file.
 */
#ifndef CG_STORE_SQLITE_INTERNAL_H
#define CG_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* This thread's connection of backend impl (opened on first use) and its directory
 * slot (*dir_slot starts NULL); NULL, logged, when the connection cannot be opened. */
sqlite3 *store_sqlite_conn(void *impl, void ***dir_slot);
/* Takes / releases the backend's write mutex for this thread's connection: hold it
 * from BEGIN IMMEDIATE to COMMIT or ROLLBACK (see "write_mu" in sqlite.c). */
void store_sqlite_write_lock(void *impl);
void store_sqlite_write_unlock(void *impl);
/* Implemented by sqlite_directory.c; sqlite.c calls it when it closes a connection,
 * before sqlite3_close, with the slot's value (may be NULL). */
void store_sqlite_dir_release(void *slot);

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
