/*
 * sqlite_copy: the SQLite side of a whole-database copy (store_copy, `commonground
 * migrate`): listing tables, their references and columns from SQLite's own catalogue
 * (pragma table-valued functions), reading every row, and loading rows into an empty
 * database in one transaction.
 *
 * Identifiers. Table and column names cannot be bound as parameters, so the SELECT and
 * INSERT statements here are composed from names read from the database's catalogue
 * (never from a user), each double-quoted with embedded quotes doubled.
 *
 * Derived tables. Virtual tables (the FTS5 index) and their shadow tables are not
 * copied: after loading, the full-text index is rebuilt from the copied rows, with
 * the same content sqlite_directory.c writes on every save.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "store/backend.h"
#include "store/sqlite_internal.h"

static sqlite3 *this_db(void *impl) { return store_sqlite_conn(impl); }

/* Appends "name" to b, quoted as an SQL identifier. */
static void quote_ident(buf *b, const char *name) {
    buf_append(b, "\"", 1);
    for (const char *p = name; *p; p++) {
        if (*p == '"') buf_append(b, "\"", 1);
        buf_append(b, p, 1);
    }
    buf_append(b, "\"", 1);
}

/* Runs a one-column query with an optional text parameter and collects the values. */
static int collect(void *impl, const char *text, const char *param, arena *a, char ***names,
                   size_t *n) {
    sqlite3 *db = this_db(impl);
    if (!db) return STORE_ERROR;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, text, -1, &st, NULL) != SQLITE_OK) {
        log_error("store: copy: %s", sqlite3_errmsg(db));
        return STORE_ERROR;
    }
    if (param) sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    size_t cap = 16, k = 0;
    char **out = arena_calloc(a, cap, sizeof *out);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap) {
            char **bigger = arena_calloc(a, cap * 2, sizeof *out);
            memcpy(bigger, out, cap * sizeof *out);
            out = bigger;
            cap *= 2;
        }
        out[k++] = arena_strdup(a, (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        log_error("store: copy: %s", sqlite3_errmsg(db));
        return STORE_ERROR;
    }
    *names = out;
    *n = k;
    return STORE_OK;
}

int store_sqlite_copy_tables(void *impl, arena *a, char ***names, size_t *n) {
    return collect(impl,
                   "SELECT name FROM pragma_table_list WHERE schema = 'main' AND "
                   "type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND "
                   "name <> 'schema_migrations' ORDER BY name",
                   NULL, a, names, n);
}

int store_sqlite_copy_references(void *impl, const char *table, arena *a, char ***names,
                                 size_t *n) {
    return collect(impl, "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)", table, a,
                   names, n);
}

int store_sqlite_copy_columns(void *impl, const char *table, arena *a, char ***names, size_t *n) {
    /* hidden: 0 = ordinary, 2/3 = generated (not insertable) */
    return collect(impl, "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid",
                   table, a, names, n);
}

int store_sqlite_copy_scan(void *impl, const char *table, char *const *cols, size_t ncols,
                           int (*fn)(void *ctx, const char *const *values), void *ctx) {
    sqlite3 *db = this_db(impl);
    if (!db) return STORE_ERROR;
    buf q;
    buf_init(&q, 1 << 20);
    buf_append(&q, "SELECT ", 7);
    for (size_t i = 0; i < ncols; i++) {
        if (i) buf_append(&q, ", ", 2);
        quote_ident(&q, cols[i]);
    }
    buf_append(&q, " FROM ", 6);
    quote_ident(&q, table);
    sqlite3_stmt *st = NULL;
    int result = STORE_ERROR;
    const char **vals = calloc(ncols ? ncols : 1, sizeof *vals);
    char(*num)[32] = calloc(ncols ? ncols : 1, sizeof *num);
    if (!vals || !num) abort();
    if (sqlite3_prepare_v2(db, buf_cstr(&q), -1, &st, NULL) != SQLITE_OK) {
        log_error("store: copy %s: %s", table, sqlite3_errmsg(db));
        goto out;
    }
    /* One statement reads one snapshot even in autocommit mode. */
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (size_t i = 0; i < ncols; i++) {
            switch (sqlite3_column_type(st, (int)i)) {
            case SQLITE_NULL:
                vals[i] = NULL;
                break;
            case SQLITE_FLOAT:
                snprintf(num[i], sizeof num[i], "%.17g", sqlite3_column_double(st, (int)i));
                vals[i] = num[i];
                break;
            default:
                vals[i] = (const char *)sqlite3_column_text(st, (int)i);
                break;
            }
        }
        if (fn(ctx, vals) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        log_error("store: copy %s: %s", table, sqlite3_errmsg(db));
        goto out;
    }
    result = STORE_OK;
out:
    sqlite3_finalize(st);
    free(vals);
    free(num);
    buf_free(&q);
    return result;
}

/* The INSERT of the table being loaded, kept while its rows arrive (one load per
 * thread at a time). */
static _Thread_local sqlite3_stmt *load_stmt;
static _Thread_local char load_table[128];

static void load_forget(void) {
    sqlite3_finalize(load_stmt);
    load_stmt = NULL;
    load_table[0] = '\0';
}

int store_sqlite_copy_load_begin(void *impl) {
    sqlite3 *db = this_db(impl);
    if (!db) return STORE_ERROR;
    load_forget();
    store_sqlite_write_lock(impl);
    /* Foreign keys are checked at COMMIT: a place may come before the parent it was
     * later moved under. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;", NULL, NULL, NULL) !=
        SQLITE_OK) {
        log_error("store: copy: %s", sqlite3_errmsg(db));
        store_sqlite_write_unlock(impl);
        return STORE_ERROR;
    }
    return STORE_OK;
}

int store_sqlite_copy_load_row(void *impl, const char *table, char *const *cols, size_t ncols,
                               const char *const *values) {
    sqlite3 *db = this_db(impl);
    if (!db) return STORE_ERROR;
    if (!load_stmt || strcmp(load_table, table) != 0) {
        load_forget();
        buf q;
        buf_init(&q, 1 << 20);
        buf_append(&q, "INSERT INTO ", 12);
        quote_ident(&q, table);
        buf_append(&q, " (", 2);
        for (size_t i = 0; i < ncols; i++) {
            if (i) buf_append(&q, ", ", 2);
            quote_ident(&q, cols[i]);
        }
        buf_append(&q, ") VALUES (", 10);
        for (size_t i = 0; i < ncols; i++) buf_append(&q, i ? ", ?" : "?", i ? 3 : 1);
        buf_append(&q, ")", 1);
        int rc = sqlite3_prepare_v2(db, buf_cstr(&q), -1, &load_stmt, NULL);
        buf_free(&q);
        if (rc != SQLITE_OK) {
            log_error("store: copy into %s: %s", table, sqlite3_errmsg(db));
            load_stmt = NULL;
            return STORE_ERROR;
        }
        snprintf(load_table, sizeof load_table, "%s", table);
    }
    /* Text is bound as text; the column's type affinity turns "42" into an integer
     * and "0.5" into a real, as the source stored them. */
    for (size_t i = 0; i < ncols; i++) {
        if (values[i])
            sqlite3_bind_text(load_stmt, (int)i + 1, values[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(load_stmt, (int)i + 1);
    }
    int rc = sqlite3_step(load_stmt);
    sqlite3_reset(load_stmt);
    sqlite3_clear_bindings(load_stmt);
    if (rc != SQLITE_DONE) {
        log_error("store: copy into %s: %s", table, sqlite3_errmsg(db));
        return (rc & 0xff) == SQLITE_CONSTRAINT ? STORE_INVALID : STORE_ERROR;
    }
    return STORE_OK;
}

int store_sqlite_copy_load_end(void *impl, int commit) {
    sqlite3 *db = this_db(impl);
    load_forget();
    if (!db) return STORE_ERROR;
    int rc = STORE_OK;
    if (commit) {
        /* The directory's FTS5 index, with the content fts_refresh writes. */
        sqlite3_stmt *has = NULL;
        int fts = 0;
        if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'dir_service_fts'", -1,
                               &has, NULL) == SQLITE_OK)
            fts = sqlite3_step(has) == SQLITE_ROW;
        sqlite3_finalize(has);
        if (fts &&
            sqlite3_exec(db,
                         "DELETE FROM dir_service_fts;"
                         "INSERT INTO dir_service_fts (rowid, name, description, categories, "
                         "organization) SELECT s.id, s.name, s.description, "
                         "COALESCE((SELECT group_concat(t.name || ' ' || t.code, ' ') "
                         "FROM dir_service_terms st JOIN dir_terms t ON t.id = st.term_id "
                         "WHERE st.service_id = s.id), ''), o.name FROM dir_services s "
                         "JOIN dir_organizations o ON o.id = s.org_id;",
                         NULL, NULL, NULL) != SQLITE_OK) {
            log_error("store: copy: rebuilding the search index: %s", sqlite3_errmsg(db));
            rc = STORE_ERROR;
        }
        if (rc == STORE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            log_error("store: copy: commit: %s", sqlite3_errmsg(db));
            rc = (sqlite3_extended_errcode(db) & 0xff) == SQLITE_CONSTRAINT ? STORE_INVALID
                                                                            : STORE_ERROR;
        }
    }
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    store_sqlite_write_unlock(impl);
    return commit ? rc : STORE_OK;
}
