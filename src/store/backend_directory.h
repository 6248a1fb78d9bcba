/*
 * backend_directory: the private interface between the directory contract
 * (directory.h, implemented in store_directory.c) and each database backend
 * (sqlite_directory.c, postgres_directory.c). A backend points store_ops.dir at its
 * table. Nothing outside src/store includes this file.
 *
 * The directory's operations are written once, in store_directory.c: it checks and
 * normalises the arguments, then runs each operation as one transaction (audit entries
 * included) through the statement primitives of store_ops. A backend supplies only what
 * differs between databases: the SQL text of each statement of enum store_dir_stmt
 * (its dialect), and, beside the statement primitives of store_ops (backend.h), keeping
 * the full-text index of a service in step and its full-text query syntax.
 */
#ifndef CG_STORE_BACKEND_DIRECTORY_H
#define CG_STORE_BACKEND_DIRECTORY_H

#include <stdint.h>
#include <stdlib.h>

#include "store/backend.h"
#include "store/directory.h"

/* The directory's statements, numbered after enum store_stmt's; each backend has an
 * enum-indexed table of their SQL text. The shared code uses all but the last group,
 * which only SQLite's text_page uses (NULL in the other's table). */
enum store_dir_stmt {
    D_ORG_BY_ID = ST__COUNT,
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

typedef struct store_dir_ops {
    /* store_ops.conn, for the directory's statements (a backend may prepare the
     * connection for them on their first use). */
    int (*conn)(void *impl, store_conn *c);
    /* The brackets of the list of ids that D_CH_* statements take: "[]" (a JSON
     * array) or "{}" (an array literal). */
    const char *id_list;

    /* Within a write transaction: rebuilds the full-text index entry of one service. */
    int (*search_refresh)(store_conn *c, int64_t service_id);
    /* The words of a search as the backend's full-text query (a parameter of
     * D_SEARCH_TEXT and D_SEARCH_TEXT_COUNT); NULL when the text holds no word. */
    char *(*text_query)(const char *text, arena *a);
    /* The parameter of D_SEARCH_TEXT_COUNT that takes the query (D_SEARCH_TEXT: 14). */
    int count_text_param;
    /* A search by text alone: the page and the total, as D_SEARCH_TEXT and
     * D_SEARCH_TEXT_COUNT would give them, by a cheaper way; NULL when the backend has
     * none. */
    int (*text_page)(store_conn *c, const char *query, int64_t offset, int64_t limit, arena *a,
                     store_dir_service **items, size_t *n, int64_t *total);
} store_dir_ops;

/* The SQLite implementation (sqlite_directory.c). */
extern const store_dir_ops store_sqlite_dir_ops;
/* The PostgreSQL implementation (postgres_directory.c). */
extern const store_dir_ops store_pg_dir_ops;

/* ---- What store_directory.c shares with the backends' text_page ----------------- */

/* Runs a service statement (SVC_COLS) and reads every row into an arena array. */
int store_dir_svc_rows(store_conn *c, store_st *s, arena *a, store_dir_service **items, size_t *n);
/* Fills the children of svcs[0..n) with one statement per kind; all = every kind of
 * child, else terms, locations, areas and schedules only. */
int store_dir_load_children(store_conn *c, store_dir_service *svcs, size_t n, int all, arena *a);
/* Upper case without spaces, for postcode prefix matching (the dir_locations key). */
char *store_dir_postcode_key(const char *pc, arena *a);

#endif
