/*
 * backend_directory: the private interface between the directory contract
 * (directory.h, implemented in store_directory.c) and each database backend
 * (sqlite_directory.c, postgres_directory.c). A backend points store_ops.dir at its
 * table. Nothing outside src/store includes this file.
 *
 * The directory's operations are written once, in store_directory.c: it checks and
 * normalises the arguments, then runs each operation as one transaction (audit entries
 * included) through the statement primitives below. A backend supplies only what
 * differs between databases: the SQL text of each statement of enum store_dir_stmt
 * (its dialect), executing a statement with its parameters and reading the rows,
 * transactions (with the lock that lets one directory writer in at a time), keeping
 * the full-text index of a service in step, and its full-text query syntax.
 */
#ifndef CG_STORE_BACKEND_DIRECTORY_H
#define CG_STORE_BACKEND_DIRECTORY_H

#include <stdint.h>
#include <stdlib.h>

#include "store/directory.h"

/* The directory's statements; each backend has an enum-indexed table of their SQL
 * text. The shared code uses all but the last group, which only SQLite's text_page
 * uses (NULL in the other's table). */
enum store_dir_stmt {
    D_LOCK,
    D_BEGIN,
    D_BEGIN_IMMEDIATE,
    D_COMMIT,
    D_ROLLBACK,
    D_AUDIT,
    D_ORG_BY_ID,
    D_ORG_BY_UUID,
    D_ORG_ID_BY_UUID,
    D_ORG_INSERT,
    D_ORG_UPDATE,
    D_ORG_PAGE,
    D_ORG_COUNT,
    D_ORG_SERVICES,
    D_USER_EXISTS,
    D_MEMBER_INSERT,
    D_MEMBER_DELETE,
    D_MEMBER_CHECK,
    D_MEMBERS,
    D_ORGS_OF_USER,
    D_TAX_UPSERT,
    D_TAX_BY_UUID,
    D_TAX_LIST,
    D_TERM_UPSERT,
    D_TERM_BY_UUID,
    D_TERM_LIST,
    D_TERM_LIST_TAX,
    D_TERM_IS_ANCESTOR,
    D_SVC_BY_UUID,
    D_SVC_BY_ID,
    D_SVC_ID_BY_UUID,
    D_SVC_INSERT,
    D_SVC_UPDATE,
    D_SVC_TOUCH,
    D_SVC_FP,
    D_PLACE_ID_BY_UUID,
    D_PLACE_EXISTS,
    D_DEL_TERMS,
    D_DEL_LOCS,
    D_DEL_SCHED,
    D_DEL_CONTACTS,
    D_DEL_LANGS,
    D_DEL_AREAS,
    D_INS_TERM,
    D_LOC_UPSERT,
    D_INS_SAL,
    D_INS_SCHED,
    D_INS_CONTACT,
    D_INS_LANG,
    D_INS_AREA,
    D_FTS_DELETE,
    D_FTS_INSERT,
    D_FTS_CATEGORIES,
    D_CH_TERMS,
    D_CH_LOCS,
    D_CH_SCHED,
    D_CH_CONTACTS,
    D_CH_LANGS,
    D_CH_AREAS,
    D_SEARCH,
    D_SEARCH_COUNT,
    D_SEARCH_TEXT,
    D_SEARCH_TEXT_COUNT,
    D_COUNT_ALL,
    D_RELATED,
    D_POSTCODE_CENTRE,
    D_PAGE_ALL,
    /* SQLite's text_page only. */
    D_FTS_RANKS,
    D_SVC_NAMES_BY_IDS,
    D_SVC_BY_IDS,
    D__COUNT
};

/* The columns of an organisation, a service and a term, in the order in which
 * store_directory.c reads them into structs (read_org, read_svc, read_term), and the
 * joins they need; the same text in both dialects. */
#define ORG_COLS                                                                                   \
    "o.id, o.uuid, o.name, o.description, o.website, o.email, o.phone, o.identifier_type, "        \
    "o.identifier, (SELECT COUNT(*) FROM dir_services x WHERE x.org_id = o.id), "                  \
    "o.created_at, o.updated_at, COALESCE(o.updated_by, 0), o.fingerprint "
#define SVC_COLS                                                                                   \
    "s.id, s.uuid, s.org_id, o.uuid, o.name, o.description, s.name, s.description, s.url, "        \
    "s.email, s.phone, s.status, s.eligibility, s.fees, s.created_at, s.updated_at, "              \
    "COALESCE(s.updated_by, 0), u.display_name, s.fingerprint "
#define SVC_FROM                                                                                   \
    "FROM dir_services s JOIN dir_organizations o ON o.id = s.org_id "                             \
    "LEFT JOIN users u ON u.id = s.updated_by "
#define TERM_COLS "t.id, t.uuid, x.uuid, x.name, p.uuid, t.code, t.name, t.description "
#define TERM_FROM                                                                                  \
    "FROM dir_terms t JOIN dir_taxonomies x ON x.id = t.taxonomy_id "                              \
    "LEFT JOIN dir_terms p ON p.id = t.parent_id "

/* This thread's connection of a backend, filled by store_dir_ops.conn for the length
 * of one operation. */
typedef struct store_dir_conn {
    const struct store_dir_ops *ops;
    void *impl;  /* the backend (store_ops' impl) */
    void *db;    /* sqlite3 *, PGconn * */
    void *stmts; /* the backend's per-connection statement state */
    int writing; /* a write transaction is open */
} store_dir_conn;

#define STORE_DIR_MAXP 16

/* One parameter of a statement: SQL NULL, text, integer or double. Text is not copied:
 * it must live until the statement is done. */
typedef struct store_dir_param {
    enum { DP_NULL, DP_TEXT, DP_INT, DP_DOUBLE } type;
    const char *s;
    int64_t i;
    double d;
} store_dir_param;

/* One execution of a statement: parameters by position (?n / $n), then its rows. */
typedef struct store_dir_st {
    enum store_dir_stmt id;
    const char *what; /* names the statement in the log when it fails */
    int n;            /* parameters 1..n are set */
    store_dir_param p[STORE_DIR_MAXP];
    struct store_dir_conn *c; /* set by the first step */
    void *h;                  /* the backend's statement or result while executing */
    int row, rows;            /* for a backend that reads the whole result at once */
    int rc;                   /* STORE_* after a failed step */
} store_dir_st;

enum { STORE_DIR_ERR = -1, STORE_DIR_DONE = 0, STORE_DIR_ROW = 1 };

typedef struct store_dir_ops {
    /* Fills c with this thread's connection: STORE_OK, or STORE_ERROR (logged). */
    int (*conn)(void *impl, store_dir_conn *c);
    /* Begins a transaction: a write one takes the directory's write lock, a read one of
     * several statements sees one snapshot. STORE_OK or STORE_ERROR. */
    int (*begin)(store_dir_conn *c, int write);
    /* Commits when rc is STORE_OK, else rolls back; the outcome (STORE_ERROR when the
     * commit fails). */
    int (*end)(store_dir_conn *c, int rc);
    /* Executes s on its first call, then moves to the next row: STORE_DIR_ROW,
     * STORE_DIR_DONE, or STORE_DIR_ERR with s->rc (constraint errors mapped as in
     * store.h: STORE_CONFLICT, STORE_INVALID; others logged, STORE_ERROR). */
    int (*step)(store_dir_conn *c, store_dir_st *s);
    /* Ends an execution; s may be stepped again from the start. */
    void (*done)(store_dir_conn *c, store_dir_st *s);
    /* Rows changed by the last step of s (before done). */
    int64_t (*changes)(store_dir_conn *c, const store_dir_st *s);
    /* Columns of the current row. text: a copy in a, NULL for SQL NULL. */
    int (*col_null)(const store_dir_st *s, int i);
    int64_t (*col_int)(const store_dir_st *s, int i);
    double (*col_double)(const store_dir_st *s, int i);
    const char *(*col_text)(const store_dir_st *s, int i, arena *a);
    /* The brackets of the list of ids that D_CH_* statements take: "[]" (a JSON
     * array) or "{}" (an array literal). */
    const char *id_list;

    /* Within a write transaction: rebuilds the full-text index entry of one service. */
    int (*search_refresh)(store_dir_conn *c, int64_t service_id);
    /* The words of a search as the backend's full-text query (a parameter of
     * D_SEARCH_TEXT and D_SEARCH_TEXT_COUNT); NULL when the text holds no word. */
    char *(*text_query)(const char *text, arena *a);
    /* The parameter of D_SEARCH_TEXT_COUNT that takes the query (D_SEARCH_TEXT: 14). */
    int count_text_param;
    /* A search by text alone: the page and the total, as D_SEARCH_TEXT and
     * D_SEARCH_TEXT_COUNT would give them, by a cheaper way; NULL when the backend has
     * none. */
    int (*text_page)(store_dir_conn *c, const char *query, int64_t offset, int64_t limit, arena *a,
                     store_dir_service **items, size_t *n, int64_t *total);
} store_dir_ops;

/* The SQLite implementation (sqlite_directory.c). */
extern const store_dir_ops store_sqlite_dir_ops;
/* The PostgreSQL implementation (postgres_directory.c). */
extern const store_dir_ops store_pg_dir_ops;

/* ---- Running statements: what store_directory.c and the backends' search share ---- */

/* Declares the execution `var` of statement sid, with no parameters yet. */
#define DIR_ST(var, sid)                                                                           \
    store_dir_st var##_store = {.id = (sid)};                                                      \
    store_dir_st *var = &var##_store

static inline void dir_param(store_dir_st *s, int i, store_dir_param p) {
    if (i < 1 || i > STORE_DIR_MAXP) abort();
    s->p[i - 1] = p;
    if (i > s->n) s->n = i;
}
/* Text; NULL binds "" because every directory text column is NOT NULL. */
static inline void bt(store_dir_st *s, int i, const char *v) {
    dir_param(s, i, (store_dir_param){.type = DP_TEXT, .s = v ? v : ""});
}
/* Text, NULL binding SQL NULL. */
static inline void bt_null(store_dir_st *s, int i, const char *v) {
    dir_param(s, i, (store_dir_param){.type = v ? DP_TEXT : DP_NULL, .s = v});
}
static inline void bi64(store_dir_st *s, int i, int64_t v) {
    dir_param(s, i, (store_dir_param){.type = DP_INT, .i = v});
}
/* A row id; 0 binds SQL NULL. */
static inline void bid(store_dir_st *s, int i, int64_t id) {
    dir_param(s, i, (store_dir_param){.type = id ? DP_INT : DP_NULL, .i = id});
}
static inline void bdbl(store_dir_st *s, int i, double v) {
    dir_param(s, i, (store_dir_param){.type = DP_DOUBLE, .d = v});
}

static inline int pstep(store_dir_conn *c, store_dir_st *s) {
    s->c = c;
    return c->ops->step(c, s);
}
static inline void st_done(store_dir_st *s) {
    if (s->c) s->c->ops->done(s->c, s);
}
static inline int64_t changes(const store_dir_st *s) { return s->c->ops->changes(s->c, s); }
static inline int cnull(const store_dir_st *s, int i) { return s->c->ops->col_null(s, i); }
static inline int64_t cint(const store_dir_st *s, int i) { return s->c->ops->col_int(s, i); }
static inline double cdbl(const store_dir_st *s, int i) { return s->c->ops->col_double(s, i); }
static inline const char *ct(const store_dir_st *s, int i, arena *a) {
    return s->c->ops->col_text(s, i, a);
}
static inline const char *ct_empty(const store_dir_st *s, int i, arena *a) {
    const char *v = ct(s, i, a);
    return v ? v : "";
}

/* Runs a statement that returns no row (or whose rows are not wanted). */
int store_dir_run_done(store_dir_conn *c, store_dir_st *s, const char *what);
/* Runs a statement and reads the integer in the first column of its first row;
 * STORE_NOT_FOUND when there is no row. */
int store_dir_run_int64(store_dir_conn *c, store_dir_st *s, int64_t *out, const char *what);
/* Runs a service statement (SVC_COLS) and reads every row into an arena array. */
int store_dir_svc_rows(store_dir_conn *c, store_dir_st *s, arena *a, store_dir_service **items,
                       size_t *n);
/* Fills the children of svcs[0..n) with one statement per kind; all = every kind of
 * child, else terms, locations, areas and schedules only. */
int store_dir_load_children(store_dir_conn *c, store_dir_service *svcs, size_t n, int all,
                            arena *a);
/* Upper case without spaces, for postcode prefix matching (the dir_locations key). */
char *store_dir_postcode_key(const char *pc, arena *a);

#endif
