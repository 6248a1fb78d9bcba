/*
 * postgres: the private interface of the PostgreSQL backend (postgres.c), used by
 * store.c to open it and by the backend's other files (postgres_schema.c,
 * postgres_directory.c). Nothing outside src/store includes this file.
 */
#ifndef CG_STORE_POSTGRES_H
#define CG_STORE_POSTGRES_H

#include <stddef.h>

#include <libpq-fe.h>

#include "store/backend.h"

/* Opens the PostgreSQL database named by a libpq connection URI ("postgres://..." or
 * "postgresql://..."), checks that it answers, and applies missing migrations (under
 * an advisory lock, so servers starting together apply each one once). STORE_OK with
 * *ops and *impl, or STORE_ERROR with a message in err. */
int store_pg_open(const char *url, const store_ops **ops, void **impl, char *err, size_t errlen);

/* store_dir_ops.conn (postgres.c): this thread's connection, for the directory's
 * statements. */
int store_pg_dir_conn(void *impl, store_conn *c);
/* The SQL text of the directory's statements, by enum store_dir_stmt
 * (postgres_directory.c). */
extern const char *const store_pg_dir_sql[];

/* The PostgreSQL schema, one entry per migration in the same order and with the same
 * meaning as store_sqlite_migrations (postgres_schema.c). */
extern const char *const store_pg_migrations[];
extern const int store_pg_migration_count;

/* The full-text document of every service, for dir_service_search: the text SQLite's
 * FTS5 table holds (name, categories = term names and codes, organisation name,
 * description), with weights A..D in the order of FTS5's bm25 column weights. Append
 * "WHERE s.id = $1" for one service. */
#define STORE_PG_SEARCH_DOC_INSERT                                                                 \
    "INSERT INTO dir_service_search (service_id, doc) SELECT s.id, "                               \
    "setweight(to_tsvector('simple', s.name), 'A') || "                                            \
    "setweight(to_tsvector('simple', COALESCE((SELECT string_agg(t.name || ' ' || t.code, "        \
    "' ') FROM dir_service_terms st JOIN dir_terms t ON t.id = st.term_id "                        \
    "WHERE st.service_id = s.id), '')), 'B') || "                                                  \
    "setweight(to_tsvector('simple', o.name), 'C') || "                                            \
    "setweight(to_tsvector('simple', s.description), 'D') "                                        \
    "FROM dir_services s JOIN dir_organizations o ON o.id = s.org_id "

#endif
