/*
 * sqlite_internal: what sqlite.c shares with the other files of the SQLite backend
 * (sqlite_directory.c): this thread's connection, the process-wide write lock, and a
 * slot on each connection where sqlite_directory.c keeps its prepared statements so
 * they live and die with the connection. Nothing outside src/store includes this file.
 */
#ifndef CG_STORE_SQLITE_INTERNAL_H
#define CG_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>

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

#endif
