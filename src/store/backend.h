/*
 * backend: the private interface between the store contract (store.c,
 * store_directory.c, store_copy.c) and the database backends (sqlite.c, postgres.c and
 * their companion files). Nothing outside src/store includes this file.
 *
 * store.c owns everything every backend would otherwise repeat: argument checks (valid
 * UTF-8 text, non-empty names, lowercased emails, known roles and kinds), the NULL
 * actor meaning "system", the output-only-on-success rule, and the operations
 * themselves: each one transaction that includes its audit entry, run through the
 * statement primitives of store_ops. A backend supplies what really differs: the SQL
 * text of each statement in its dialect, executing statements and reading rows,
 * transactions and locks, and the operations whose plans differ (jobs, copies, backups).
 */
#ifndef CG_STORE_BACKEND_H
#define CG_STORE_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"
#include "store/store.h"

/* ---- Statements the shared layer runs ------------------------------------------- */

/* store.c and store_directory.c run each operation once for every backend, as
 * statements of these enums (the directory's, enum store_dir_stmt in
 * backend_directory.h, continues where this one ends). Each backend has an enum-indexed
 * table of their SQL text in its dialect, and the primitives of store_ops below to run
 * them. */
enum store_stmt {
    ST_AUDIT_INSERT,
    ST_USER_INSERT,
    ST_USER_BY_EMAIL,
    ST_USER_BY_ID,
    ST_USER_LOCK, /* by id, the row locked until the transaction ends */
    ST_USER_BY_UUID,
    ST_USER_PAGE,
    ST_USER_COUNT,
    ST_USER_SET_ROLE,
    ST_ADMIN_COUNT,
    ST_USER_SET_PASSWORD,
    ST_USER_SET_NAME,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_OWNER,
    ST_SESSION_EXTEND,
    ST_SESSION_SET_LANG,
    ST_SESSION_DELETE,
    ST_SESSION_DELETE_USER,
    ST_SESSION_PURGE,
    ST_RL_FORGET_OLD,
    ST_RL_INSERT,
    ST_RL_COUNT,
    ST_RL_CLEAR,
    ST_RL_PURGE,
    ST_PLACE_INSERT,
    ST_PLACE_UPDATE,
    ST_PLACE_BY_ID,
    ST_PLACE_BY_UUID,
    ST_PLACE_BY_GSS,
    ST_PLACE_IS_ANCESTOR,
    ST_PLACE_PAGE_ALL, /* $1 limit, $2 offset, $3 parent (children only) */
    ST_PLACE_PAGE_ROOTS,
    ST_PLACE_PAGE_CHILDREN,
    ST_PLACE_COUNT_ALL,
    ST_PLACE_COUNT_ROOTS,
    ST_PLACE_COUNT_CHILDREN,
    ST_AUDIT_PAGE,
    ST_AUDIT_COUNT,
    ST__COUNT
};

/* This thread's connection of a backend, filled by store_ops.conn for the length of
 * one operation. */
typedef struct store_conn {
    const struct store_ops *ops;
    void *impl; /* the backend */
    void *conn; /* the backend's own connection state */
    int mode;   /* the open transaction's STORE_TX_*, -1 when none */
} store_conn;

/* How a transaction begins: reads of several statements see one snapshot; a write
 * takes the write lock; one write statement commits alone (SQLite still queues it on
 * the write lock). */
enum { STORE_TX_READ, STORE_TX_WRITE, STORE_TX_ONE };

/* The transaction-scoped locks where PostgreSQL's concurrent writers need one and
 * SQLite's single writer gives the same guarantee without. */
enum { STORE_LOCK_ROLES, STORE_LOCK_PLACES, STORE_LOCK_RATELIMIT, STORE_LOCK_DIRECTORY };

#define STORE_MAXP 16

/* One parameter of a statement: SQL NULL, text, integer or double. Text is not copied:
 * it must live until the statement is done. */
typedef struct store_param {
    enum { SP_NULL, SP_TEXT, SP_INT, SP_DOUBLE } type;
    const char *s;
    int64_t i;
    double d;
} store_param;

/* One execution of a statement: parameters by position (?n / $n), then its rows. */
typedef struct store_st {
    int id;           /* enum store_stmt or enum store_dir_stmt */
    const char *what; /* names the statement in the log when it fails */
    int n;            /* parameters 1..n are set */
    store_param p[STORE_MAXP];
    store_conn *c; /* set by the first step */
    void *h;       /* the backend's statement or result while executing */
    int row, rows; /* for a backend that reads the whole result at once */
    int rc;        /* STORE_* after a failed step */
} store_st;

enum { STORE_STEP_ERR = -1, STORE_STEP_DONE = 0, STORE_STEP_ROW = 1 };

/* What a backend does for the contract; `impl` is the backend's own state. Arguments
 * have the meaning given in store.h, already validated. Users, sessions, rate limits,
 * places and the audit log are written once in store.c over the statement primitives
 * at the end; what differs more between databases has an entry of its own. */
typedef struct store_ops {
    const char *name; /* "sqlite", "postgresql" */
    void (*close)(void *impl);
    int (*ping)(void *impl);
    int (*backup)(void *impl, const char *dest_path, char *err, size_t errlen);
    int (*schema_version)(void *impl, int *version_out);

    /* The community directory (directory.h, backend_directory.h). */
    const struct store_dir_ops *dir;

    /* Background jobs (store.h). now is the clock of the call (store.c reads it). */
    int (*job_enqueue)(void *impl, const char *kind, const char *payload, int64_t run_after,
                       int64_t now, int64_t *id_out);
    int (*job_claim)(void *impl, const char *kind, const char *worker, int64_t now,
                     int64_t lease_seconds, arena *a, store_job *out);
    int (*job_complete)(void *impl, int64_t id, const char *worker, int64_t now);
    int (*job_fail)(void *impl, int64_t id, const char *worker, const char *error,
                    int64_t retry_at, int64_t now);

    /* Whole-database copy (store_copy in store_copy.c). Table and column names come
     * from the database's own catalogue, never from a user. */
    /* The application's tables: not schema_migrations, not derived search indexes. */
    int (*copy_tables)(void *impl, arena *a, char ***names, size_t *n);
    /* The tables that table's foreign keys refer to (itself included if it does). */
    int (*copy_references)(void *impl, const char *table, arena *a, char ***names, size_t *n);
    /* The columns a copy reads and writes, in table order (generated ones left out). */
    int (*copy_columns)(void *impl, const char *table, arena *a, char ***names, size_t *n);
    /* Calls fn with every row's values as text (NULL for SQL NULL; floating point with
     * 17 significant digits) until fn returns non-zero; one snapshot per call. */
    int (*copy_scan)(void *impl, const char *table, char *const *cols, size_t ncols,
                     int (*fn)(void *ctx, const char *const *values), void *ctx);
    /* The load into an empty database: one transaction, foreign keys checked at its
     * end; load_end commits (commit != 0) or rolls back, then moves id counters past
     * the copied ids and rebuilds search indexes. */
    int (*copy_load_begin)(void *impl);
    int (*copy_load_row)(void *impl, const char *table, char *const *cols, size_t ncols,
                         const char *const *values);
    int (*copy_load_end)(void *impl, int commit);

    /* Statement primitives, for the operations written once in store.c and
     * store_directory.c. */
    /* Fills c with this thread's connection: STORE_OK, or STORE_ERROR (logged). */
    int (*conn)(void *impl, store_conn *c);
    /* Begins a transaction of mode STORE_TX_*: STORE_OK or STORE_ERROR. */
    int (*begin)(store_conn *c, int mode);
    /* Commits when rc is STORE_OK, else rolls back; the outcome (STORE_ERROR when the
     * commit fails). */
    int (*end)(store_conn *c, int rc);
    /* Within a write transaction: takes lock STORE_LOCK_* (key: the rate-limit key)
     * until it ends; STORE_OK at once where the backend needs no such lock. */
    int (*lock)(store_conn *c, int what, const char *key);
    /* Executes s on its first call, then moves to the next row: STORE_STEP_ROW,
     * STORE_STEP_DONE, or STORE_STEP_ERR with s->rc (constraint errors mapped as in
     * store.h: STORE_CONFLICT, STORE_INVALID; others logged, STORE_ERROR). */
    int (*step)(store_conn *c, store_st *s);
    /* Ends an execution; s may be stepped again from the start. */
    void (*done)(store_conn *c, store_st *s);
    /* Rows changed by the last step of s (before done). */
    int64_t (*changes)(store_conn *c, const store_st *s);
    /* Columns of the current row. text: a copy in a, NULL for SQL NULL. */
    int (*col_null)(const store_st *s, int i);
    int64_t (*col_int)(const store_st *s, int i);
    double (*col_double)(const store_st *s, int i);
    const char *(*col_text)(const store_st *s, int i, arena *a);
    /* The ST_PLACE_PAGE_* statements give in a 14th column how many places match in all,
     * so that a page needs no transaction and no second statement. */
    int place_page_total;
} store_ops;

/* The backend behind an open store, for the contract files of features that keep
 * their own header (store_directory.c). */
const store_ops *store_backend_ops(store *s);
void *store_backend_impl(store *s);

/* Opens a SQLite database file (sqlite.c): creates it if missing, applies migrations.
 * STORE_OK with *ops and *impl, or STORE_ERROR with a message in err. */
int store_sqlite_open(const char *path, const store_ops **ops, void **impl, char *err,
                      size_t errlen);

/* The SQLite schema, one entry per migration in order (sqlite_schema.c). Entry i is
 * migration number i + 1; entries are never edited once released, only appended. */
extern const char *const store_sqlite_migrations[];
extern const int store_sqlite_migration_count;

/* ---- Running statements: what store.c, store_directory.c and the backends share --- */

/* Declares the execution `var` of statement sid, with no parameters yet. */
#define STORE_ST(var, sid)                                                                         \
    store_st var##_store = {.id = (sid)};                                                          \
    store_st *var = &var##_store

static inline void store_param_set(store_st *s, int i, store_param p) {
    if (i < 1 || i > STORE_MAXP) abort();
    s->p[i - 1] = p;
    if (i > s->n) s->n = i;
}
/* Text; NULL binds "" (every directory text column is NOT NULL). */
static inline void bt(store_st *s, int i, const char *v) {
    store_param_set(s, i, (store_param){.type = SP_TEXT, .s = v ? v : ""});
}
/* Text, NULL binding SQL NULL. */
static inline void bt_null(store_st *s, int i, const char *v) {
    store_param_set(s, i, (store_param){.type = v ? SP_TEXT : SP_NULL, .s = v});
}
static inline void bi64(store_st *s, int i, int64_t v) {
    store_param_set(s, i, (store_param){.type = SP_INT, .i = v});
}
/* A row id; 0 binds SQL NULL. */
static inline void bid(store_st *s, int i, int64_t id) {
    store_param_set(s, i, (store_param){.type = id ? SP_INT : SP_NULL, .i = id});
}
static inline void bdbl(store_st *s, int i, double v) {
    store_param_set(s, i, (store_param){.type = SP_DOUBLE, .d = v});
}

static inline int pstep(store_conn *c, store_st *s) {
    s->c = c;
    return c->ops->step(c, s);
}
static inline void st_done(store_st *s) {
    if (s->c) s->c->ops->done(s->c, s);
}
static inline int64_t changes(const store_st *s) { return s->c->ops->changes(s->c, s); }
static inline int cnull(const store_st *s, int i) { return s->c->ops->col_null(s, i); }
static inline int64_t cint(const store_st *s, int i) { return s->c->ops->col_int(s, i); }
static inline double cdbl(const store_st *s, int i) { return s->c->ops->col_double(s, i); }
static inline const char *ct(const store_st *s, int i, arena *a) {
    return s->c->ops->col_text(s, i, a);
}
static inline const char *ct_empty(const store_st *s, int i, arena *a) {
    const char *v = ct(s, i, a);
    return v ? v : "";
}

/* Runs a statement that returns no row (or whose rows are not wanted). */
int store_run_done(store_conn *c, store_st *s, const char *what);
/* Runs a statement and reads the integer in the first column of its first row;
 * STORE_NOT_FOUND when there is no row. */
int store_run_int64(store_conn *c, store_st *s, int64_t *out, const char *what);
/* Runs a look-up and reads its first row with read into *out (when out): STORE_OK,
 * STORE_NOT_FOUND, or an error. */
int store_read_one(store_conn *c, store_st *s, arena *a,
                   void (*read)(const store_st *s, arena *a, void *out), void *out,
                   const char *what);
/* Runs s and reads every row with read into an arena array of elements of size size. */
int store_read_rows(store_conn *c, store_st *s, arena *a, size_t size,
                    void (*read)(const store_st *s, arena *a, void *out), void **items, size_t *n,
                    const char *what);

/* Appends an audit entry inside the caller's write transaction; consumes detail (NULL
 * = {}). STORE_OK or STORE_ERROR (a failed audit is never the caller's fault). */
int store_audit_add(store_conn *c, const store_actor *actor, const char *action,
                    const char *entity_type, const char *entity_id, json_t *detail);

#endif
