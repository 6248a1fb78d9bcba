/*
 * postgres: the private interface of the PostgreSQL backend (postgres.c), used by
 * store.c to open it and by the backend's other files (postgres_schema.c, later
 * postgres_directory.c). Nothing outside src/store includes this file.
 */
#ifndef CG_STORE_POSTGRES_H
#define CG_STORE_POSTGRES_H

#include <stddef.h>

#include "store/backend.h"

/* Opens the PostgreSQL database named by a libpq connection URI ("postgres://..." or
 * "postgresql://..."), checks that it answers, and applies missing migrations (under
 * an advisory lock, so servers starting together apply each one once). STORE_OK with
 * *ops and *impl, or STORE_ERROR with a message in err. */
int store_pg_open(const char *url, const store_ops **ops, void **impl, char *err,
                  size_t errlen);

/* The PostgreSQL schema, one entry per migration in the same order and with the same
 * meaning as store_sqlite_migrations (postgres_schema.c). */
extern const char *const store_pg_migrations[];
extern const int store_pg_migration_count;

#endif
