/*
 * sqlite_directory: the SQLite implementation of the directory contract (directory.h,
 * backend_directory.h), on the connections of sqlite.c (sqlite_internal.h).
 *
 * Statements are an enum-indexed table as in sqlite.c; each connection prepares an
 * entry on first use and keeps it in the connection's directory slot, finalised by
 * store_sqlite_dir_release when sqlite.c closes the connection.
 *
 * Searching builds no SQL at run time: each filter of store_dir_query is a fixed
 * clause that is true when its parameter is "not given" (0 or NULL), so one statement
 * serves every combination. Full-text search goes through the FTS5 table
 * dir_service_fts (rowid = service id), kept in step by every save, ranked by BM25 with
 * names weighing most. Child rows of a page of services are fetched with one statement
 * per kind, the page's ids passed as a JSON array (json_each), not one query per row.
 *
 * Cost of a page (the uncached API and search pages; docs/benchmarks.md): a page is
 * chosen on narrow rows (ids and sort keys) before its rows are joined, so OFFSET skips
 * index entries, not joined rows; a search with only text ranks (id, BM25) pairs in C
 * and reads whole rows for the page alone (text_page).
 */
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/xalloc.h"
#include "store/backend.h"
#include "store/backend_directory.h"
#include "store/sqlite_internal.h"

/* ---- Statements ----------------------------------------------------------------- */

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

/* The filters of a search. ?1 org id, ?2 modified after, ?3 active only, ?4 term uuid,
 * ?5 place id, ?6 postcode key prefix, ?7 near (0/1), ?8 lat, ?9 lon, ?10 metres per
 * degree of longitude at lat, ?11 radius squared (m^2). */
#define SEARCH_CTE                                                                                 \
    "WITH RECURSIVE term_tree(id) AS (SELECT id FROM dir_terms WHERE uuid = ?4 UNION "             \
    "  SELECT t.id FROM dir_terms t JOIN term_tree ON t.parent_id = term_tree.id), "               \
    "place_down(id) AS (SELECT id FROM places WHERE id = ?5 UNION "                                \
    "  SELECT p.id FROM places p JOIN place_down ON p.parent_id = place_down.id), "                \
    "place_up(id) AS (SELECT id FROM places WHERE id = ?5 UNION "                                  \
    "  SELECT p.parent_id FROM places p JOIN place_up ON p.id = place_up.id "                      \
    "  WHERE p.parent_id IS NOT NULL) "
#define SEARCH_WHERE                                                                               \
    "(?1 = 0 OR s.org_id = ?1) AND (?2 = 0 OR s.updated_at > ?2) "                                 \
    "AND (?3 = 0 OR s.status = 'active') "                                                         \
    "AND (?4 IS NULL OR s.id IN (SELECT st.service_id FROM dir_service_terms st "                  \
    "  WHERE st.term_id IN (SELECT id FROM term_tree))) "                                          \
    "AND (?5 = 0 OR s.id IN (SELECT sa.service_id FROM dir_service_areas sa "                      \
    "  WHERE sa.place_id IN (SELECT id FROM place_down UNION SELECT id FROM place_up))) "          \
    "AND (?6 IS NULL OR s.id IN (SELECT sl.service_id FROM dir_service_locations sl "              \
    "  JOIN dir_locations l ON l.id = sl.location_id "                                             \
    "  WHERE substr(l.postcode_key, 1, length(?6)) = ?6)) "                                        \
    "AND (?7 = 0 OR s.id IN (SELECT sl.service_id FROM dir_service_locations sl "                  \
    "  JOIN dir_locations l ON l.id = sl.location_id WHERE l.latitude IS NOT NULL "                \
    "  AND ((l.latitude - ?8) * 111195.0) * ((l.latitude - ?8) * 111195.0) "                       \
    "    + ((l.longitude - ?9) * ?10) * ((l.longitude - ?9) * ?10) <= ?11)) "
/* ?12 limit, ?13 offset, ?14 FTS5 query */
#define PAGE_JOINS                                                                                 \
    "JOIN dir_organizations o ON o.id = s.org_id LEFT JOIN users u ON u.id = s.updated_by "
#define FTS_JOIN                                                                                   \
    "JOIN (SELECT rowid AS rid, bm25(dir_service_fts, 10.0, 1.0, 5.0, 3.0) AS rank "               \
    "  FROM dir_service_fts WHERE dir_service_fts MATCH ?14) f ON f.rid = s.id "

enum dstmt {
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
    D_PAGE_ALL,
    D_SEARCH,
    D_SEARCH_COUNT,
    D_SEARCH_TEXT,
    D_SEARCH_TEXT_COUNT,
    D_COUNT_ALL,
    D_FTS_COUNT,
    D_FTS_RANKS,
    D_SVC_NAMES_BY_IDS,
    D_SVC_BY_IDS,
    D_RELATED,
    D_POSTCODE_CENTRE,
    D__COUNT
};

static const char *const dsql[D__COUNT] = {
    [D_BEGIN] = "BEGIN",
    [D_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [D_COMMIT] = "COMMIT",
    [D_ROLLBACK] = "ROLLBACK",
    [D_AUDIT] = "INSERT INTO audit_log (at, user_id, ip, action, entity_type, entity_id, "
                "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [D_ORG_BY_ID] = "SELECT " ORG_COLS "FROM dir_organizations o WHERE o.id = ?1",
    [D_ORG_BY_UUID] = "SELECT " ORG_COLS "FROM dir_organizations o WHERE o.uuid = ?1",
    [D_ORG_ID_BY_UUID] = "SELECT id FROM dir_organizations WHERE uuid = ?1",
    [D_ORG_INSERT] = "INSERT INTO dir_organizations (uuid, name, description, website, email, "
                     "phone, identifier_type, identifier, fingerprint, created_at, updated_at, "
                     "updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11) "
                     "RETURNING id",
    [D_ORG_UPDATE] = "UPDATE dir_organizations SET name = ?2, description = ?3, website = ?4, "
                     "email = ?5, phone = ?6, identifier_type = ?7, identifier = ?8, "
                     "fingerprint = ?9, updated_at = ?10, updated_by = ?11 WHERE id = ?1",
    [D_ORG_PAGE] = "SELECT " ORG_COLS "FROM dir_organizations o ORDER BY o.name, o.id "
                   "LIMIT ?1 OFFSET ?2",
    [D_ORG_COUNT] = "SELECT COUNT(*) FROM dir_organizations",
    [D_ORG_SERVICES] = "SELECT id FROM dir_services WHERE org_id = ?1",
    [D_USER_EXISTS] = "SELECT uuid FROM users WHERE id = ?1",
    [D_MEMBER_INSERT] = "INSERT INTO dir_members (org_id, user_id, created_at) "
                        "VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    [D_MEMBER_DELETE] = "DELETE FROM dir_members WHERE org_id = ?1 AND user_id = ?2",
    [D_MEMBER_CHECK] = "SELECT COUNT(*) FROM dir_members WHERE org_id = ?1 AND user_id = ?2",
    [D_MEMBERS] = "SELECT u.id, u.uuid, u.email, u.display_name, u.role, u.created_at "
                  "FROM dir_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 "
                  "ORDER BY u.display_name, u.id",
    [D_ORGS_OF_USER] = "SELECT " ORG_COLS "FROM dir_members m JOIN dir_organizations o "
                       "ON o.id = m.org_id WHERE m.user_id = ?1 ORDER BY o.name, o.id",
    [D_TAX_UPSERT] = "INSERT INTO dir_taxonomies (uuid, name, description, uri, version) "
                     "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (uuid) DO UPDATE SET "
                     "name = excluded.name, description = excluded.description, "
                     "uri = excluded.uri, version = excluded.version RETURNING id",
    [D_TAX_BY_UUID] = "SELECT id, uuid, name, description, uri, version FROM dir_taxonomies "
                      "WHERE uuid = ?1",
    [D_TAX_LIST] = "SELECT id, uuid, name, description, uri, version FROM dir_taxonomies "
                   "ORDER BY name, id",
    [D_TERM_UPSERT] = "INSERT INTO dir_terms (uuid, taxonomy_id, parent_id, code, name, "
                      "description) VALUES (?1, (SELECT id FROM dir_taxonomies WHERE uuid = ?2), "
                      "(SELECT id FROM dir_terms WHERE uuid = ?3), ?4, ?5, ?6) "
                      "ON CONFLICT (uuid) DO UPDATE SET taxonomy_id = excluded.taxonomy_id, "
                      "parent_id = excluded.parent_id, code = excluded.code, "
                      "name = excluded.name, description = excluded.description RETURNING id",
    [D_TERM_BY_UUID] = "SELECT " TERM_COLS ", 0 " TERM_FROM "WHERE t.uuid = ?1",
    [D_TERM_LIST] = "SELECT " TERM_COLS ", (SELECT COUNT(*) FROM dir_service_terms st "
                    "WHERE st.term_id = t.id) " TERM_FROM "ORDER BY x.name, t.name, t.id",
    [D_TERM_LIST_TAX] = "SELECT " TERM_COLS ", (SELECT COUNT(*) FROM dir_service_terms st "
                        "WHERE st.term_id = t.id) " TERM_FROM "WHERE x.uuid = ?1 "
                        "ORDER BY t.name, t.id",
    /* Is term ?2 among ?1 and its ancestors? */
    [D_TERM_IS_ANCESTOR] = "WITH RECURSIVE anc(id) AS (SELECT ?1 UNION SELECT t.parent_id "
                           "FROM dir_terms t JOIN anc ON t.id = anc.id "
                           "WHERE t.parent_id IS NOT NULL) SELECT COUNT(*) FROM anc "
                           "WHERE id = ?2",
    [D_SVC_BY_UUID] = "SELECT " SVC_COLS SVC_FROM "WHERE s.uuid = ?1",
    [D_SVC_BY_ID] = "SELECT " SVC_COLS SVC_FROM "WHERE s.id = ?1",
    [D_SVC_ID_BY_UUID] = "SELECT id FROM dir_services WHERE uuid = ?1",
    [D_SVC_INSERT] = "INSERT INTO dir_services (uuid, org_id, name, description, url, email, "
                     "phone, status, eligibility, fees, fingerprint, created_at, updated_at, "
                     "updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                     "?12, ?13) RETURNING id",
    [D_SVC_UPDATE] = "UPDATE dir_services SET org_id = ?2, name = ?3, description = ?4, "
                     "url = ?5, email = ?6, phone = ?7, status = ?8, eligibility = ?9, "
                     "fees = ?10, fingerprint = ?11, updated_at = ?12, updated_by = ?13 "
                     "WHERE id = ?1",
    [D_SVC_TOUCH] = "UPDATE dir_services SET updated_at = ?2 WHERE id = ?1",
    [D_SVC_FP] = "SELECT id, fingerprint FROM dir_services WHERE uuid = ?1",
    [D_PLACE_ID_BY_UUID] = "SELECT id FROM places WHERE uuid = ?1",
    [D_PLACE_EXISTS] = "SELECT id FROM places WHERE id = ?1",
    [D_DEL_TERMS] = "DELETE FROM dir_service_terms WHERE service_id = ?1",
    [D_DEL_LOCS] = "DELETE FROM dir_service_locations WHERE service_id = ?1",
    [D_DEL_SCHED] = "DELETE FROM dir_schedules WHERE service_id = ?1",
    [D_DEL_CONTACTS] = "DELETE FROM dir_contacts WHERE service_id = ?1",
    [D_DEL_LANGS] = "DELETE FROM dir_languages WHERE service_id = ?1",
    [D_DEL_AREAS] = "DELETE FROM dir_service_areas WHERE service_id = ?1",
    [D_INS_TERM] = "INSERT INTO dir_service_terms (uuid, service_id, term_id) "
                   "SELECT ?1, ?2, id FROM dir_terms WHERE uuid = ?3",
    [D_LOC_UPSERT] = "INSERT INTO dir_locations (uuid, name, description, address_1, city, "
                     "postcode, postcode_key, country, latitude, longitude, accessibility) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                     "ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, "
                     "description = excluded.description, address_1 = excluded.address_1, "
                     "city = excluded.city, postcode = excluded.postcode, "
                     "postcode_key = excluded.postcode_key, country = excluded.country, "
                     "latitude = excluded.latitude, longitude = excluded.longitude, "
                     "accessibility = excluded.accessibility RETURNING id",
    [D_INS_SAL] = "INSERT INTO dir_service_locations (uuid, service_id, location_id, position) "
                  "VALUES (?1, ?2, ?3, ?4)",
    [D_INS_SCHED] = "INSERT INTO dir_schedules (uuid, service_id, freq, interval_count, byday, "
                    "bymonthday, opens_at, closes_at, valid_from, valid_to, dtstart, "
                    "description) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [D_INS_CONTACT] = "INSERT INTO dir_contacts (uuid, service_id, name, title, email, phone) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [D_INS_LANG] = "INSERT INTO dir_languages (uuid, service_id, name, code) "
                   "VALUES (?1, ?2, ?3, ?4)",
    [D_INS_AREA] = "INSERT INTO dir_service_areas (uuid, service_id, place_id) "
                   "VALUES (?1, ?2, ?3)",
    [D_FTS_DELETE] = "DELETE FROM dir_service_fts WHERE rowid = ?1",
    [D_FTS_INSERT] = "INSERT INTO dir_service_fts (rowid, name, description, categories, "
                     "organization) SELECT s.id, s.name, s.description, ?2, o.name "
                     "FROM dir_services s JOIN dir_organizations o ON o.id = s.org_id "
                     "WHERE s.id = ?1",
    [D_FTS_CATEGORIES] = "SELECT t.name, t.code FROM dir_service_terms st JOIN dir_terms t "
                         "ON t.id = st.term_id WHERE st.service_id = ?1",
    /* Children of a set of services (?1 a JSON array of ids). */
    [D_CH_TERMS] = "SELECT st.service_id, t.uuid, st.uuid, t.code, t.name, t.description, "
                   "p.uuid, x.uuid, x.name FROM dir_service_terms st "
                   "JOIN dir_terms t ON t.id = st.term_id "
                   "JOIN dir_taxonomies x ON x.id = t.taxonomy_id "
                   "LEFT JOIN dir_terms p ON p.id = t.parent_id "
                   "WHERE st.service_id IN (SELECT value FROM json_each(?1)) "
                   "ORDER BY st.service_id, t.name",
    [D_CH_LOCS] = "SELECT sl.service_id, l.uuid, l.name, l.description, l.address_1, l.city, "
                  "l.postcode, l.country, l.latitude, l.longitude, l.accessibility, sl.uuid "
                  "FROM dir_service_locations sl JOIN dir_locations l ON l.id = sl.location_id "
                  "WHERE sl.service_id IN (SELECT value FROM json_each(?1)) "
                  "ORDER BY sl.service_id, sl.position",
    [D_CH_SCHED] = "SELECT service_id, uuid, freq, interval_count, byday, bymonthday, "
                   "opens_at, closes_at, valid_from, valid_to, dtstart, description "
                   "FROM dir_schedules WHERE service_id IN (SELECT value FROM json_each(?1)) "
                   "ORDER BY service_id, id",
    [D_CH_CONTACTS] = "SELECT service_id, uuid, name, title, email, phone FROM dir_contacts "
                      "WHERE service_id IN (SELECT value FROM json_each(?1)) "
                      "ORDER BY service_id, id",
    [D_CH_LANGS] = "SELECT service_id, uuid, name, code FROM dir_languages "
                   "WHERE service_id IN (SELECT value FROM json_each(?1)) "
                   "ORDER BY service_id, id",
    [D_CH_AREAS] = "SELECT sa.service_id, sa.uuid, sa.place_id, p.uuid, p.name, p.gss_code "
                   "FROM dir_service_areas sa JOIN places p ON p.id = sa.place_id "
                   "WHERE sa.service_id IN (SELECT value FROM json_each(?1)) "
                   "ORDER BY sa.service_id, p.name",
    /* A page is chosen on narrow rows first (ids and sort keys: for the whole table
     * only the covering index dir_services_name is read), and only the page's rows are
     * then joined with their organisation and editor: with OFFSET, the skipped rows
     * would otherwise be joined and built too. */
    [D_PAGE_ALL] = "SELECT " SVC_COLS "FROM (SELECT id AS pid, name AS pname FROM dir_services "
                   "ORDER BY name, id LIMIT ?1 OFFSET ?2) p JOIN dir_services s ON s.id = p.pid "
                   "JOIN dir_organizations o ON o.id = s.org_id "
                   "LEFT JOIN users u ON u.id = s.updated_by ORDER BY p.pname, p.pid",
    [D_SEARCH] = SEARCH_CTE
    ", page(pid, pname) AS MATERIALIZED (SELECT s.id, s.name "
    "FROM dir_services s WHERE " SEARCH_WHERE "ORDER BY s.name, s.id LIMIT ?12 OFFSET ?13) "
    "SELECT " SVC_COLS "FROM page p "
    "JOIN dir_services s ON s.id = p.pid " PAGE_JOINS "ORDER BY p.pname, p.pid",
    [D_SEARCH_COUNT] = SEARCH_CTE "SELECT COUNT(*) FROM dir_services s WHERE " SEARCH_WHERE,
    [D_SEARCH_TEXT] = SEARCH_CTE ", page(pid, prank, pname) AS MATERIALIZED (SELECT s.id, "
                                 "f.rank, s.name FROM dir_services s " FTS_JOIN
                                 "WHERE " SEARCH_WHERE "ORDER BY f.rank, s.name, s.id "
                                 "LIMIT ?12 OFFSET ?13) "
                                 "SELECT " SVC_COLS "FROM page p "
                                 "JOIN dir_services s ON s.id = p.pid " PAGE_JOINS
                                 "ORDER BY p.prank, p.pname, p.pid",
    [D_SEARCH_TEXT_COUNT] =
        SEARCH_CTE "SELECT COUNT(*) FROM dir_services s " FTS_JOIN "WHERE " SEARCH_WHERE,
    [D_COUNT_ALL] = "SELECT COUNT(*) FROM dir_services",
    /* Every FTS row is a service (fts_refresh), so with no other filter this is the
     * count of D_SEARCH_TEXT without joining each match to its service. */
    [D_FTS_COUNT] = "SELECT COUNT(*) FROM dir_service_fts WHERE dir_service_fts MATCH ?1",
    /* A plain search: every match's rank only (text_page orders them), then the names
     * of the candidates and the rows of one page by id (?1 a JSON array). */
    [D_FTS_RANKS] = "SELECT rowid, bm25(dir_service_fts, 10.0, 1.0, 5.0, 3.0) "
                    "FROM dir_service_fts WHERE dir_service_fts MATCH ?1",
    [D_SVC_NAMES_BY_IDS] = "SELECT id, name FROM dir_services "
                           "WHERE id IN (SELECT value FROM json_each(?1))",
    [D_SVC_BY_IDS] = "SELECT " SVC_COLS SVC_FROM "WHERE s.id IN (SELECT value FROM json_each(?1))",
    /* Services sharing a term with ?1, or a term whose parent is, or is the parent of,
     * or shares a parent with, one of ?1's terms. */
    [D_RELATED] = "WITH mine(id, parent_id) AS (SELECT t.id, t.parent_id FROM dir_service_terms st "
                  "JOIN dir_terms t ON t.id = st.term_id WHERE st.service_id = ?1), "
                  "near_terms(id) AS (SELECT id FROM mine UNION SELECT parent_id FROM mine "
                  "WHERE parent_id IS NOT NULL UNION SELECT t.id FROM dir_terms t "
                  "WHERE t.parent_id IN (SELECT id FROM mine) OR t.parent_id IN "
                  "(SELECT parent_id FROM mine)) "
                  "SELECT " SVC_COLS SVC_FROM "WHERE s.id <> ?1 AND s.id IN (SELECT "
                  "st.service_id FROM dir_service_terms st WHERE st.term_id IN "
                  "(SELECT id FROM near_terms)) ORDER BY s.name, s.id LIMIT ?2",
    [D_POSTCODE_CENTRE] = "SELECT AVG(latitude), AVG(longitude), COUNT(latitude) "
                          "FROM dir_locations WHERE latitude IS NOT NULL "
                          "AND substr(postcode_key, 1, length(?1)) = ?1",
};

/* ---- Connection, statements, transactions --------------------------------------- */

typedef struct dconn {
    sqlite3 *db;
    void *impl;
    sqlite3_stmt **stmts; /* D__COUNT entries, in the connection's slot */
    int writing;
} dconn;

void store_sqlite_dir_release(void *slot) {
    sqlite3_stmt **stmts = slot;
    if (!stmts) return;
    for (int i = 0; i < D__COUNT; i++) sqlite3_finalize(stmts[i]);
    free(stmts);
}

static int dconn_get(void *impl, dconn *c) {
    void **slot = NULL;
    c->db = store_sqlite_conn(impl, &slot);
    if (!c->db) return STORE_ERROR;
    if (!*slot) {
        *slot = xcalloc(D__COUNT, sizeof(sqlite3_stmt *));
        /* First directory use of this connection. A page of services and a search read
         * pages all over a database of tens of MB; with SQLite's default 2 MB page cache
         * per connection each miss is a pread() system call, which cost more than the
         * queries themselves under load. Memory-mapping the file lets every connection
         * read the operating system's one cached copy directly. Advisory: a failure
         * leaves the connection as it was. */
        sqlite3_exec(c->db, "PRAGMA mmap_size=268435456", NULL, NULL, NULL);
    }
    c->stmts = *slot;
    c->impl = impl;
    c->writing = 0;
    return STORE_OK;
}

#define DCONN(impl)                                                                                \
    dconn cc;                                                                                      \
    dconn *c = &cc;                                                                                \
    if (dconn_get(impl, c) != STORE_OK) return STORE_ERROR

static sqlite3_stmt *st_get(dconn *c, enum dstmt id) {
    if (!c->stmts[id]) {
        if (sqlite3_prepare_v3(c->db, dsql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[id],
                               NULL) != SQLITE_OK) {
            log_error("store: preparing directory statement %d: %s", (int)id,
                      sqlite3_errmsg(c->db));
            c->stmts[id] = NULL;
        }
    }
    return c->stmts[id];
}

static void st_done(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int map_rc(dconn *c, int rc, const char *what) {
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return STORE_CONFLICT;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return STORE_INVALID;
    default:
        log_error("store: %s: %s (%d)", what, sqlite3_errmsg(c->db), rc);
        return STORE_ERROR;
    }
}

static int run_done(dconn *c, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    st_done(st);
    return rc == SQLITE_DONE ? STORE_OK : map_rc(c, rc, what);
}

static int run_int64(dconn *c, sqlite3_stmt *st, int64_t *out, const char *what) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        st_done(st);
        return STORE_OK;
    }
    st_done(st);
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, rc, what);
}

/* Binds text; NULL binds "" because every directory text column is NOT NULL. */
static void bt(sqlite3_stmt *st, int i, const char *s) {
    sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static void bt_null(sqlite3_stmt *st, int i, const char *s) {
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bid(sqlite3_stmt *st, int i, int64_t id) {
    if (id)
        sqlite3_bind_int64(st, i, id);
    else
        sqlite3_bind_null(st, i);
}

static const char *ct(sqlite3_stmt *st, int i, arena *a) {
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return NULL;
    return arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

static const char *ct_empty(sqlite3_stmt *st, int i, arena *a) {
    const char *s = ct(st, i, a);
    return s ? s : "";
}

static int tx_begin(dconn *c, int write) {
    if (write) {
        store_sqlite_write_lock(c->impl);
        c->writing = 1;
    }
    sqlite3_stmt *st = st_get(c, write ? D_BEGIN_IMMEDIATE : D_BEGIN);
    int rc = st ? run_done(c, st, "begin") : STORE_ERROR;
    if (rc != STORE_OK) {
        if (c->writing) store_sqlite_write_unlock(c->impl);
        c->writing = 0;
        return STORE_ERROR;
    }
    return STORE_OK;
}

static int tx_end(dconn *c, int rc) {
    if (rc == STORE_OK) {
        sqlite3_stmt *st = st_get(c, D_COMMIT);
        rc = st ? run_done(c, st, "commit") : STORE_ERROR;
        if (rc != STORE_OK) rc = STORE_ERROR;
    }
    if (rc != STORE_OK && !sqlite3_get_autocommit(c->db)) {
        sqlite3_stmt *rb = st_get(c, D_ROLLBACK);
        if (!rb || run_done(c, rb, "rollback") != STORE_OK)
            log_error("store: directory rollback failed: %s", sqlite3_errmsg(c->db));
    }
    if (c->writing) store_sqlite_write_unlock(c->impl);
    c->writing = 0;
    return rc;
}

#define ST(var, id)                                                                                \
    sqlite3_stmt *var = st_get(c, id);                                                             \
    if (!var) {                                                                                    \
        rc = STORE_ERROR;                                                                          \
        goto out;                                                                                  \
    }

static int64_t now_utc(void) { return (int64_t)time(NULL); }

static int audit(dconn *c, const store_actor *actor, const char *action, const char *type,
                 const char *id, json_t *detail) {
    if (!detail) detail = json_object();
    char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(detail);
    if (!text) abort();
    sqlite3_stmt *st = st_get(c, D_AUDIT);
    int rc = STORE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, now_utc());
        bid(st, 2, actor->user_id);
        bt_null(st, 3, actor->ip);
        bt(st, 4, action);
        bt(st, 5, type);
        bt(st, 6, id);
        bt(st, 7, text);
        rc = run_done(c, st, "directory audit");
        if (rc != STORE_OK) rc = STORE_ERROR;
    }
    free(text);
    return rc;
}

static void diff(json_t *d, const char *field, const char *from, const char *to) {
    if (!from) from = "";
    if (!to) to = "";
    if (strcmp(from, to) == 0) return;
    json_t *o = json_object();
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(d, field, o);
}

/* ---- Organisations -------------------------------------------------------------- */

static void read_org(sqlite3_stmt *st, arena *a, store_dir_org *o) {
    o->id = sqlite3_column_int64(st, 0);
    o->uuid = ct(st, 1, a);
    o->name = ct_empty(st, 2, a);
    o->description = ct_empty(st, 3, a);
    o->website = ct_empty(st, 4, a);
    o->email = ct_empty(st, 5, a);
    o->phone = ct_empty(st, 6, a);
    o->identifier_type = ct_empty(st, 7, a);
    o->identifier = ct_empty(st, 8, a);
    o->service_count = sqlite3_column_int64(st, 9);
    o->created_at = sqlite3_column_int64(st, 10);
    o->updated_at = sqlite3_column_int64(st, 11);
    o->updated_by = sqlite3_column_int64(st, 12);
    o->fingerprint = ct_empty(st, 13, a);
}

static int org_fetch(dconn *c, sqlite3_stmt *st, arena *a, store_dir_org *out) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (out) read_org(st, a, out);
        st_done(st);
        return STORE_OK;
    }
    st_done(st);
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, rc, "organisation look-up");
}

static int org_load_uuid(dconn *c, const char *uuid, arena *a, store_dir_org *out) {
    sqlite3_stmt *st = st_get(c, D_ORG_BY_UUID);
    if (!st) return STORE_ERROR;
    bt(st, 1, uuid);
    return org_fetch(c, st, a, out);
}

static int fts_refresh(dconn *c, int64_t service_id);

/* Within a write transaction: create or update one organisation. *changed = 0 when
 * the stored fingerprint equals the new one (nothing written). */
static int org_save_tx(dconn *c, const store_actor *actor, const store_dir_org *in, arena *tmp,
                       int64_t *id_out, const char **uuid_out, int *created, int *changed) {
    int rc = STORE_OK;
    store_dir_org old;
    int exists = 0;
    char fresh[UUID_STR_LEN];
    const char *uuid = in->uuid;
    *created = 0;
    *changed = 1;
    if (uuid) {
        rc = org_load_uuid(c, uuid, tmp, &old);
        if (rc == STORE_OK)
            exists = 1;
        else if (rc != STORE_NOT_FOUND)
            return rc;
    } else {
        uuid_v4(fresh);
        uuid = arena_strdup(tmp, fresh);
    }
    int64_t now = now_utc(), id = 0;
    if (exists) {
        id = old.id;
        if (strcmp(old.fingerprint, in->fingerprint ? in->fingerprint : "") == 0) {
            *changed = 0;
            goto done;
        }
        ST(st, D_ORG_UPDATE);
        sqlite3_bind_int64(st, 1, id);
        bt(st, 2, in->name);
        bt(st, 3, in->description);
        bt(st, 4, in->website);
        bt(st, 5, in->email);
        bt(st, 6, in->phone);
        bt(st, 7, in->identifier_type);
        bt(st, 8, in->identifier);
        bt(st, 9, in->fingerprint);
        sqlite3_bind_int64(st, 10, now);
        bid(st, 11, actor->user_id);
        rc = run_done(c, st, "organisation update");
        if (rc != STORE_OK) goto out;
        json_t *d = json_object();
        diff(d, "name", old.name, in->name);
        diff(d, "description", old.description, in->description);
        diff(d, "website", old.website, in->website);
        diff(d, "email", old.email, in->email);
        diff(d, "phone", old.phone, in->phone);
        diff(d, "identifier", old.identifier, in->identifier);
        rc = audit(c, actor, "directory.organization.update", "organization", uuid, d);
        if (rc == STORE_OK && strcmp(old.name, in->name) != 0) {
            /* the organisation's name is part of its services' search text */
            ST(ids, D_ORG_SERVICES);
            sqlite3_bind_int64(ids, 1, id);
            int64_t *sv = NULL;
            size_t n = 0, cap = 0;
            while (sqlite3_step(ids) == SQLITE_ROW) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    int64_t *bigger = arena_calloc(tmp, cap, sizeof *bigger);
                    if (n) memcpy(bigger, sv, n * sizeof *sv);
                    sv = bigger;
                }
                sv[n++] = sqlite3_column_int64(ids, 0);
            }
            st_done(ids);
            for (size_t i = 0; i < n && rc == STORE_OK; i++) rc = fts_refresh(c, sv[i]);
        }
    } else {
        ST(st, D_ORG_INSERT);
        bt(st, 1, uuid);
        bt(st, 2, in->name);
        bt(st, 3, in->description);
        bt(st, 4, in->website);
        bt(st, 5, in->email);
        bt(st, 6, in->phone);
        bt(st, 7, in->identifier_type);
        bt(st, 8, in->identifier);
        bt(st, 9, in->fingerprint);
        sqlite3_bind_int64(st, 10, now);
        bid(st, 11, actor->user_id);
        rc = run_int64(c, st, &id, "organisation insert");
        if (rc != STORE_OK) goto out;
        *created = 1;
        json_t *d = json_object();
        json_object_set_new(d, "name", json_string(in->name));
        rc = audit(c, actor, "directory.organization.create", "organization", uuid, d);
    }
done:
    *id_out = id;
    *uuid_out = uuid;
out:
    return rc;
}

static int sq_org_save(void *impl, const store_actor *actor, const store_dir_org *in, arena *a,
                       store_dir_org *out) {
    DCONN(impl);
    arena tmp;
    arena_init(&tmp, 1024);
    int64_t id = 0;
    const char *uuid = NULL;
    int created, changed;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    rc = org_save_tx(c, actor, in, &tmp, &id, &uuid, &created, &changed);
    if (rc == STORE_OK && out) {
        ST(st, D_ORG_BY_ID);
        sqlite3_bind_int64(st, 1, id);
        rc = org_fetch(c, st, a, out);
    }
out:
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static int sq_org_by_uuid(void *impl, const char *uuid, arena *a, store_dir_org *out) {
    DCONN(impl);
    return org_load_uuid(c, uuid, a, out);
}

static int sq_org_by_id(void *impl, int64_t id, arena *a, store_dir_org *out) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, D_ORG_BY_ID);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    return org_fetch(c, st, a, out);
}

/* Reads every row of a prepared org statement into a list. */
static int org_rows(dconn *c, sqlite3_stmt *st, arena *a, store_dir_org **items, size_t *n) {
    size_t cap = 0;
    *items = NULL;
    *n = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            store_dir_org *bigger = arena_calloc(a, ncap, sizeof *bigger);
            if (*n) memcpy(bigger, *items, *n * sizeof *bigger);
            *items = bigger;
            cap = ncap;
        }
        read_org(st, a, &(*items)[(*n)++]);
    }
    st_done(st);
    return step == SQLITE_DONE ? STORE_OK : map_rc(c, step, "organisation list");
}

static int sq_org_list_page(void *impl, int64_t offset, int64_t limit, arena *a,
                            store_dir_org_list *out) {
    DCONN(impl);
    store_dir_org *items = NULL;
    size_t n = 0;
    int64_t total = 0;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    ST(cnt, D_ORG_COUNT);
    rc = run_int64(c, cnt, &total, "organisation count");
    if (rc != STORE_OK || limit == 0) goto out;
    ST(st, D_ORG_PAGE);
    sqlite3_bind_int64(st, 1, limit);
    sqlite3_bind_int64(st, 2, offset);
    rc = org_rows(c, st, a, &items, &n);
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

/* ---- Membership ----------------------------------------------------------------- */

static int member_change(void *impl, const store_actor *actor, int64_t org_id, int64_t user_id,
                         int add) {
    DCONN(impl);
    arena tmp;
    arena_init(&tmp, 512);
    store_dir_org org;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    {
        ST(st, D_ORG_BY_ID);
        sqlite3_bind_int64(st, 1, org_id);
        rc = org_fetch(c, st, &tmp, &org);
        if (rc != STORE_OK) goto out;
    }
    ST(u, D_USER_EXISTS);
    sqlite3_bind_int64(u, 1, user_id);
    const char *user_uuid = NULL;
    int step = sqlite3_step(u);
    if (step == SQLITE_ROW) user_uuid = ct(u, 0, &tmp);
    st_done(u);
    if (!user_uuid) {
        rc = step == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, step, "user look-up");
        goto out;
    }
    ST(st, add ? D_MEMBER_INSERT : D_MEMBER_DELETE);
    sqlite3_bind_int64(st, 1, org_id);
    sqlite3_bind_int64(st, 2, user_id);
    if (add) sqlite3_bind_int64(st, 3, now_utc());
    rc = run_done(c, st, "membership");
    if (rc != STORE_OK) goto out;
    if (sqlite3_changes(c->db) == 0) {
        if (!add) rc = STORE_NOT_FOUND;
        goto out;
    }
    json_t *d = json_object();
    json_object_set_new(d, "user", json_string(user_uuid));
    rc = audit(c, actor, add ? "directory.member.add" : "directory.member.remove", "organization",
               org.uuid, d);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static int sq_member_add(void *impl, const store_actor *actor, int64_t org_id, int64_t user_id) {
    return member_change(impl, actor, org_id, user_id, 1);
}

static int sq_member_remove(void *impl, const store_actor *actor, int64_t org_id, int64_t user_id) {
    return member_change(impl, actor, org_id, user_id, 0);
}

static int sq_member_check(void *impl, int64_t org_id, int64_t user_id) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, D_MEMBER_CHECK);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, org_id);
    sqlite3_bind_int64(st, 2, user_id);
    int64_t n = 0;
    int rc = run_int64(c, st, &n, "membership check");
    if (rc != STORE_OK) return rc;
    return n > 0 ? STORE_OK : STORE_NOT_FOUND;
}

static int sq_members(void *impl, int64_t org_id, arena *a, store_user_list *out) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, D_MEMBERS);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, org_id);
    store_user *items = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            store_user *bigger = arena_calloc(a, ncap, sizeof *bigger);
            if (n) memcpy(bigger, items, n * sizeof *items);
            items = bigger;
            cap = ncap;
        }
        store_user *u = &items[n++];
        u->id = sqlite3_column_int64(st, 0);
        u->uuid = (char *)ct(st, 1, a);
        u->email = (char *)ct(st, 2, a);
        u->display_name = (char *)ct(st, 3, a);
        u->password_hash = NULL;
        const char *role = (const char *)sqlite3_column_text(st, 4);
        if (!role || store_role_parse(role, &u->role) != 0) u->role = STORE_ROLE_RESIDENT;
        u->created_at = sqlite3_column_int64(st, 5);
    }
    st_done(st);
    if (step != SQLITE_DONE) return map_rc(c, step, "members");
    out->items = items;
    out->n = n;
    out->total = (int64_t)n;
    return STORE_OK;
}

static int sq_orgs_of_user(void *impl, int64_t user_id, arena *a, store_dir_org_list *out) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, D_ORGS_OF_USER);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, user_id);
    store_dir_org *items;
    size_t n;
    int rc = org_rows(c, st, a, &items, &n);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = (int64_t)n;
    }
    return rc;
}

/* ---- Taxonomy ------------------------------------------------------------------- */

static void read_tax(sqlite3_stmt *st, arena *a, store_dir_taxonomy *t) {
    t->id = sqlite3_column_int64(st, 0);
    t->uuid = ct(st, 1, a);
    t->name = ct_empty(st, 2, a);
    t->description = ct_empty(st, 3, a);
    t->uri = ct_empty(st, 4, a);
    t->version = ct_empty(st, 5, a);
}

static void read_term(sqlite3_stmt *st, arena *a, store_dir_term *t) {
    t->id = sqlite3_column_int64(st, 0);
    t->uuid = ct(st, 1, a);
    t->taxonomy_uuid = ct(st, 2, a);
    t->taxonomy_name = ct(st, 3, a);
    t->parent_uuid = ct(st, 4, a);
    t->code = ct_empty(st, 5, a);
    t->name = ct_empty(st, 6, a);
    t->description = ct_empty(st, 7, a);
    t->service_count = sqlite3_column_int64(st, 8);
}

static int tax_save_tx(dconn *c, const store_actor *actor, const store_dir_taxonomy *in,
                       const char *uuid, int64_t *id) {
    int rc = STORE_OK;
    ST(st, D_TAX_UPSERT);
    bt(st, 1, uuid);
    bt(st, 2, in->name);
    bt(st, 3, in->description);
    bt(st, 4, in->uri);
    bt(st, 5, in->version);
    rc = run_int64(c, st, id, "taxonomy save");
    if (rc != STORE_OK) goto out;
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(in->name));
    rc = audit(c, actor, "directory.taxonomy.save", "taxonomy", uuid, d);
out:
    return rc;
}

static int sq_taxonomy_save(void *impl, const store_actor *actor, const store_dir_taxonomy *in,
                            arena *a, store_dir_taxonomy *out) {
    DCONN(impl);
    char fresh[UUID_STR_LEN];
    const char *uuid = in->uuid;
    if (!uuid) {
        uuid_v4(fresh);
        uuid = fresh;
    }
    int64_t id = 0;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) return rc;
    rc = tax_save_tx(c, actor, in, uuid, &id);
    if (rc == STORE_OK && out) {
        ST(st, D_TAX_BY_UUID);
        bt(st, 1, uuid);
        if (sqlite3_step(st) == SQLITE_ROW)
            read_tax(st, a, out);
        else
            rc = STORE_ERROR;
        st_done(st);
    }
out:
    return tx_end(c, rc);
}

/* Within a transaction: checks and saves one term. */
static int term_save_tx(dconn *c, const store_actor *actor, const store_dir_term *in,
                        const char *uuid, arena *tmp) {
    int rc = STORE_OK;
    store_dir_taxonomy tax;
    {
        ST(st, D_TAX_BY_UUID);
        bt(st, 1, in->taxonomy_uuid);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) read_tax(st, tmp, &tax);
        st_done(st);
        if (step != SQLITE_ROW) return step == SQLITE_DONE ? STORE_INVALID : STORE_ERROR;
    }
    if (in->parent_uuid) {
        store_dir_term parent;
        ST(st, D_TERM_BY_UUID);
        bt(st, 1, in->parent_uuid);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW) read_term(st, tmp, &parent);
        st_done(st);
        if (step != SQLITE_ROW) return step == SQLITE_DONE ? STORE_INVALID : STORE_ERROR;
        if (strcmp(parent.taxonomy_uuid, in->taxonomy_uuid) != 0) return STORE_INVALID;
        /* the new parent must not be the term itself or below it */
        ST(self, D_TERM_BY_UUID);
        bt(self, 1, uuid);
        store_dir_term me;
        step = sqlite3_step(self);
        int exists = step == SQLITE_ROW;
        if (exists) read_term(self, tmp, &me);
        st_done(self);
        if (exists) {
            ST(anc, D_TERM_IS_ANCESTOR);
            sqlite3_bind_int64(anc, 1, parent.id);
            sqlite3_bind_int64(anc, 2, me.id);
            int64_t hits = 0;
            rc = run_int64(c, anc, &hits, "term ancestry");
            if (rc != STORE_OK) return rc;
            if (hits) return STORE_INVALID;
        }
    }
    ST(st, D_TERM_UPSERT);
    bt(st, 1, uuid);
    bt(st, 2, in->taxonomy_uuid);
    bt_null(st, 3, in->parent_uuid);
    bt(st, 4, in->code);
    bt(st, 5, in->name);
    bt(st, 6, in->description);
    int64_t id = 0;
    rc = run_int64(c, st, &id, "term save");
    if (rc != STORE_OK) goto out;
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(in->name));
    json_object_set_new(d, "taxonomy", json_string(in->taxonomy_uuid));
    rc = audit(c, actor, "directory.term.save", "taxonomy_term", uuid, d);
out:
    return rc;
}

static int sq_term_save(void *impl, const store_actor *actor, const store_dir_term *in, arena *a,
                        store_dir_term *out) {
    DCONN(impl);
    arena tmp;
    arena_init(&tmp, 1024);
    char fresh[UUID_STR_LEN];
    const char *uuid = in->uuid;
    if (!uuid) {
        uuid_v4(fresh);
        uuid = fresh;
    }
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    rc = term_save_tx(c, actor, in, uuid, &tmp);
    if (rc == STORE_OK && out) {
        ST(st, D_TERM_BY_UUID);
        bt(st, 1, uuid);
        if (sqlite3_step(st) == SQLITE_ROW)
            read_term(st, a, out);
        else
            rc = STORE_ERROR;
        st_done(st);
    }
out:
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static int sq_taxonomy_list(void *impl, arena *a, store_dir_taxonomy_list *out) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, D_TAX_LIST);
    if (!st) return STORE_ERROR;
    store_dir_taxonomy *items = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            store_dir_taxonomy *bigger = arena_calloc(a, ncap, sizeof *bigger);
            if (n) memcpy(bigger, items, n * sizeof *items);
            items = bigger;
            cap = ncap;
        }
        read_tax(st, a, &items[n++]);
    }
    st_done(st);
    if (step != SQLITE_DONE) return map_rc(c, step, "taxonomy list");
    out->items = items;
    out->n = n;
    return STORE_OK;
}

static int sq_term_list(void *impl, const char *taxonomy_uuid, arena *a, store_dir_term_list *out) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, taxonomy_uuid ? D_TERM_LIST_TAX : D_TERM_LIST);
    if (!st) return STORE_ERROR;
    if (taxonomy_uuid) bt(st, 1, taxonomy_uuid);
    store_dir_term *items = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            store_dir_term *bigger = arena_calloc(a, ncap, sizeof *bigger);
            if (n) memcpy(bigger, items, n * sizeof *items);
            items = bigger;
            cap = ncap;
        }
        read_term(st, a, &items[n++]);
    }
    st_done(st);
    if (step != SQLITE_DONE) return map_rc(c, step, "term list");
    out->items = items;
    out->n = n;
    return STORE_OK;
}

static int sq_term_by_uuid(void *impl, const char *uuid, arena *a, store_dir_term *out) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, D_TERM_BY_UUID);
    if (!st) return STORE_ERROR;
    bt(st, 1, uuid);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) read_term(st, a, out);
    st_done(st);
    if (step == SQLITE_ROW) return STORE_OK;
    return step == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, step, "term look-up");
}

static int sq_taxonomy_by_uuid(void *impl, const char *uuid, arena *a, store_dir_taxonomy *out) {
    DCONN(impl);
    sqlite3_stmt *st = st_get(c, D_TAX_BY_UUID);
    if (!st) return STORE_ERROR;
    bt(st, 1, uuid);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) read_tax(st, a, out);
    st_done(st);
    if (step == SQLITE_ROW) return STORE_OK;
    return step == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, step, "taxonomy look-up");
}

/* ---- Services: reading ---------------------------------------------------------- */

static void read_svc(sqlite3_stmt *st, arena *a, store_dir_service *s) {
    memset(s, 0, sizeof *s);
    s->id = sqlite3_column_int64(st, 0);
    s->uuid = ct(st, 1, a);
    s->org_id = sqlite3_column_int64(st, 2);
    s->org_uuid = ct(st, 3, a);
    s->org_name = ct_empty(st, 4, a);
    s->org_description = ct_empty(st, 5, a);
    s->name = ct_empty(st, 6, a);
    s->description = ct_empty(st, 7, a);
    s->url = ct_empty(st, 8, a);
    s->email = ct_empty(st, 9, a);
    s->phone = ct_empty(st, 10, a);
    const char *status = (const char *)sqlite3_column_text(st, 11);
    if (!status || store_dir_status_parse(status, &s->status) != 0) s->status = STORE_DIR_ACTIVE;
    s->eligibility = ct_empty(st, 12, a);
    s->fees = ct_empty(st, 13, a);
    s->created_at = sqlite3_column_int64(st, 14);
    s->updated_at = sqlite3_column_int64(st, 15);
    s->updated_by = sqlite3_column_int64(st, 16);
    s->updated_by_name = ct(st, 17, a);
    s->fingerprint = ct_empty(st, 18, a);
}

/* The index in svcs (sorted by id in idx) of service id, or -1. idx holds indexes of
 * svcs ordered by id. */
static long find_svc(const store_dir_service *svcs, const size_t *idx, size_t n, int64_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int64_t v = svcs[idx[mid]].id;
        if (v == id) return (long)idx[mid];
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int by_id(const void *x, const void *y, void *base) {
    const store_dir_service *svcs = base;
    int64_t a = svcs[*(const size_t *)x].id, b = svcs[*(const size_t *)y].id;
    return (a > b) - (a < b);
}

/* Appends one element to a child array of s (cap kept in caps[k]). */
#define PUSH(arr, n, capv, a)                                                                      \
    do {                                                                                           \
        if ((n) == (capv)) {                                                                       \
            size_t nc_ = (capv) ? (capv)*2 : 4;                                                    \
            void *b_ = arena_calloc((a), nc_, sizeof *(arr));                                      \
            if (n) memcpy(b_, (arr), (n) * sizeof *(arr));                                         \
            (arr) = b_;                                                                            \
            (capv) = nc_;                                                                          \
        }                                                                                          \
    } while (0)

/* Fills the children of svcs[0..n) with a few statements; all = every kind of child,
 * else terms, areas, locations and schedules only. */
static int load_children(dconn *c, store_dir_service *svcs, size_t n, int all, arena *a) {
    if (n == 0) return STORE_OK;
    /* A JSON array of the ids, and an index sorted by id for the look-ups. */
    size_t cap = n * 21 + 3;
    char *ids = arena_alloc(a, cap), *p = ids;
    *p++ = '[';
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - ids), "%s%lld", i ? "," : "", (long long)svcs[i].id);
    *p++ = ']';
    *p = 0;
    size_t *idx = arena_calloc(a, n, sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, n, sizeof *idx, by_id, svcs);
    size_t *caps = arena_calloc(a, n * 6, sizeof *caps);
    static const enum dstmt kinds[] = {D_CH_TERMS, D_CH_LOCS,     D_CH_AREAS,
                                       D_CH_SCHED, D_CH_CONTACTS, D_CH_LANGS};
    for (size_t k = 0; k < (all ? 6u : 4u); k++) {
        sqlite3_stmt *st = st_get(c, kinds[k]);
        if (!st) return STORE_ERROR;
        sqlite3_bind_text(st, 1, ids, -1, SQLITE_STATIC);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            long i = find_svc(svcs, idx, n, sqlite3_column_int64(st, 0));
            if (i < 0) continue;
            store_dir_service *s = &svcs[i];
            size_t *cp = &caps[(size_t)i * 6 + k];
            switch (kinds[k]) {
            case D_CH_TERMS: {
                PUSH(s->terms, s->n_terms, *cp, a);
                store_dir_term_ref *t = &s->terms[s->n_terms++];
                t->uuid = ct(st, 1, a);
                t->attr_uuid = ct(st, 2, a);
                t->code = ct_empty(st, 3, a);
                t->name = ct_empty(st, 4, a);
                t->description = ct_empty(st, 5, a);
                t->parent_uuid = ct(st, 6, a);
                t->taxonomy_uuid = ct(st, 7, a);
                t->taxonomy_name = ct(st, 8, a);
                break;
            }
            case D_CH_LOCS: {
                PUSH(s->locations, s->n_locations, *cp, a);
                store_dir_location *l = &s->locations[s->n_locations++];
                l->uuid = ct(st, 1, a);
                l->name = ct_empty(st, 2, a);
                l->description = ct_empty(st, 3, a);
                l->address_1 = ct_empty(st, 4, a);
                l->city = ct_empty(st, 5, a);
                l->postcode = ct_empty(st, 6, a);
                l->country = ct_empty(st, 7, a);
                l->has_coords = sqlite3_column_type(st, 8) != SQLITE_NULL &&
                                sqlite3_column_type(st, 9) != SQLITE_NULL;
                l->latitude = sqlite3_column_double(st, 8);
                l->longitude = sqlite3_column_double(st, 9);
                l->accessibility = ct_empty(st, 10, a);
                l->sal_uuid = ct(st, 11, a);
                break;
            }
            case D_CH_AREAS: {
                PUSH(s->areas, s->n_areas, *cp, a);
                store_dir_area *r = &s->areas[s->n_areas++];
                r->uuid = ct(st, 1, a);
                r->place_id = sqlite3_column_int64(st, 2);
                r->place_uuid = ct(st, 3, a);
                r->name = ct_empty(st, 4, a);
                r->gss_code = ct(st, 5, a);
                break;
            }
            case D_CH_SCHED: {
                PUSH(s->schedules, s->n_schedules, *cp, a);
                store_dir_schedule *h = &s->schedules[s->n_schedules++];
                h->uuid = ct(st, 1, a);
                h->freq = ct_empty(st, 2, a);
                h->interval = sqlite3_column_int64(st, 3);
                h->byday = ct_empty(st, 4, a);
                h->bymonthday = ct_empty(st, 5, a);
                h->opens_at = ct_empty(st, 6, a);
                h->closes_at = ct_empty(st, 7, a);
                h->valid_from = ct_empty(st, 8, a);
                h->valid_to = ct_empty(st, 9, a);
                h->dtstart = ct_empty(st, 10, a);
                h->description = ct_empty(st, 11, a);
                break;
            }
            case D_CH_CONTACTS: {
                PUSH(s->contacts, s->n_contacts, *cp, a);
                store_dir_contact *x = &s->contacts[s->n_contacts++];
                x->uuid = ct(st, 1, a);
                x->name = ct_empty(st, 2, a);
                x->title = ct_empty(st, 3, a);
                x->email = ct_empty(st, 4, a);
                x->phone = ct_empty(st, 5, a);
                break;
            }
            case D_CH_LANGS: {
                PUSH(s->languages, s->n_languages, *cp, a);
                store_dir_language *g = &s->languages[s->n_languages++];
                g->uuid = ct(st, 1, a);
                g->name = ct_empty(st, 2, a);
                g->code = ct_empty(st, 3, a);
                break;
            }
            default:
                break;
            }
        }
        st_done(st);
        if (step != SQLITE_DONE) return map_rc(c, step, "service children");
    }
    return STORE_OK;
}

/* Runs a prepared service statement and appends its rows. */
static int svc_rows(dconn *c, sqlite3_stmt *st, arena *a, store_dir_service **items, size_t *n) {
    size_t cap = 0;
    *items = NULL;
    *n = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            store_dir_service *bigger = arena_calloc(a, ncap, sizeof *bigger);
            if (*n) memcpy(bigger, *items, *n * sizeof *bigger);
            *items = bigger;
            cap = ncap;
        }
        read_svc(st, a, &(*items)[(*n)++]);
    }
    st_done(st);
    return step == SQLITE_DONE ? STORE_OK : map_rc(c, step, "service list");
}

static int svc_load(dconn *c, enum dstmt id, const char *uuid, int64_t sid, arena *a,
                    store_dir_service *out) {
    sqlite3_stmt *st = st_get(c, id);
    if (!st) return STORE_ERROR;
    if (uuid)
        bt(st, 1, uuid);
    else
        sqlite3_bind_int64(st, 1, sid);
    store_dir_service *items;
    size_t n;
    int rc = svc_rows(c, st, a, &items, &n);
    if (rc != STORE_OK) return rc;
    if (n == 0) return STORE_NOT_FOUND;
    rc = load_children(c, items, 1, 1, a);
    if (rc == STORE_OK) *out = items[0];
    return rc;
}

static int sq_service_by_uuid(void *impl, const char *uuid, arena *a, store_dir_service *out) {
    DCONN(impl);
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    rc = svc_load(c, D_SVC_BY_UUID, uuid, 0, a, out);
    return tx_end(c, rc);
}

/* Turns free text into an FTS5 query: every word (letters and digits) quoted and
 * required; the last one also matches as a prefix, for words still being typed (prefix
 * matching on every word would make common short words slow). NULL when no word. */
static char *fts_query(const char *text, arena *a) {
    size_t n = strlen(text);
    char *q = arena_alloc(a, n * 4 + 8), *p = q;
    int words = 0;
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        while (*s &&
               !(*s >= 0x80 || (*s >= '0' && *s <= '9') || ((*s | 32) >= 'a' && (*s | 32) <= 'z')))
            s++;
        if (!*s) break;
        if (words++) *p++ = ' ';
        *p++ = '"';
        while (*s &&
               (*s >= 0x80 || (*s >= '0' && *s <= '9') || ((*s | 32) >= 'a' && (*s | 32) <= 'z')))
            *p++ = (char)*s++;
        *p++ = '"';
    }
    if (words) *p++ = '*';
    *p = 0;
    return words ? q : NULL;
}

/* Upper case without spaces, for postcode prefix matching. */
static char *postcode_key(const char *pc, arena *a) {
    char *k = arena_alloc(a, strlen(pc ? pc : "") + 1), *p = k;
    for (const char *s = pc ? pc : ""; *s; s++) {
        if (*s == ' ' || *s == '\t') continue;
        *p++ = (*s >= 'a' && *s <= 'z') ? (char)(*s - 32) : *s;
    }
    *p = 0;
    return k;
}

static void bind_query(sqlite3_stmt *st, const store_dir_query *q, const char *pkey,
                       const char *match, int paged) {
    sqlite3_bind_int64(st, 1, 0);
    sqlite3_bind_int64(st, 2, q->modified_after);
    sqlite3_bind_int(st, 3, q->active_only ? 1 : 0);
    bt_null(st, 4, q->term_uuid);
    sqlite3_bind_int64(st, 5, q->place_id);
    bt_null(st, 6, pkey);
    sqlite3_bind_int(st, 7, q->near ? 1 : 0);
    sqlite3_bind_double(st, 8, q->lat);
    sqlite3_bind_double(st, 9, q->lon);
    sqlite3_bind_double(st, 10, 111195.0 * cos(q->lat * M_PI / 180.0));
    sqlite3_bind_double(st, 11, q->radius_m * q->radius_m);
    if (paged) {
        sqlite3_bind_int64(st, 12, q->limit);
        sqlite3_bind_int64(st, 13, q->offset);
    }
    if (match) sqlite3_bind_text(st, 14, match, -1, SQLITE_STATIC);
}

/* A match of a plain search: service id, BM25 rank (lower is better) and, for the
 * candidates of a page, the name that breaks ties. */
typedef struct ranked {
    int64_t id;
    double rank;
    const char *name;
} ranked;

static int by_double(const void *x, const void *y) {
    double p = *(const double *)x, q = *(const double *)y;
    return (p > q) - (p < q);
}

static int by_id_only(const void *x, const void *y) {
    const ranked *p = x, *q = y;
    return (p->id > q->id) - (p->id < q->id);
}

/* The order of D_SEARCH_TEXT: rank, then name (SQLite's BINARY collation is byte order),
 * then id. */
static int by_rank_name_id(const void *x, const void *y) {
    const ranked *p = x, *q = y;
    if (p->rank != q->rank) return p->rank < q->rank ? -1 : 1;
    int c = strcmp(p->name, q->name);
    if (c) return c;
    return (p->id > q->id) - (p->id < q->id);
}

/* ids[0..n) of rows as a JSON array in a. */
static char *ids_json(const ranked *rows, size_t n, arena *a) {
    size_t cap = n * 21 + 3;
    char *ids = arena_alloc(a, cap), *p = ids;
    *p++ = '[';
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - ids), "%s%lld", i ? "," : "", (long long)rows[i].id);
    *p++ = ']';
    *p = 0;
    return ids;
}

/* A page of a search with no filter but the text: the same rows, order and total as
 * D_SEARCH_TEXT + D_SEARCH_TEXT_COUNT, for less. BM25 must be computed for every match
 * either way, but here the matches are ranked on (id, rank) pairs alone: the ranks are
 * sorted to find those of the page's first and last rows; only the matches with ranks
 * between the two (ties included, since ties are broken by name; BM25 ties are common)
 * have their names read, and only the page's rows are read whole. The total is the
 * number of matches (every FTS row is a service: fts_refresh). */
static int text_page(dconn *c, const char *match, int64_t offset, int64_t limit, arena *a,
                     store_dir_service **items, size_t *n, int64_t *total) {
    size_t cap = 256, m = 0;
    ranked *all = xmalloc(cap * sizeof *all);
    double *ranks = NULL;
    int rc = STORE_OK;
    *items = NULL;
    *n = 0;
    ST(st, D_FTS_RANKS);
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (m == cap) {
            cap *= 2;
            all = xrealloc(all, cap * sizeof *all);
        }
        all[m].id = sqlite3_column_int64(st, 0);
        all[m].rank = sqlite3_column_double(st, 1);
        all[m].name = "";
        m++;
    }
    st_done(st);
    if (step != SQLITE_DONE) {
        rc = map_rc(c, step, "search ranks");
        goto out;
    }
    *total = (int64_t)m;
    if (offset >= (int64_t)m || limit <= 0) goto out;
    ranks = xmalloc(m * sizeof *ranks);
    for (size_t i = 0; i < m; i++) ranks[i] = all[i].rank;
    qsort(ranks, m, sizeof *ranks, by_double);
    size_t first = (size_t)offset;
    size_t last = (size_t)(offset + limit < (int64_t)m ? offset + limit : (int64_t)m) - 1;
    double lo = ranks[first], hi = ranks[last];
    /* candidates: ranks in [lo, hi]; before: how many rank better than lo */
    size_t nc = 0, before = 0;
    for (size_t i = 0; i < m; i++) {
        if (all[i].rank < lo)
            before++;
        else if (all[i].rank <= hi)
            all[nc++] = all[i];
    }
    qsort(all, nc, sizeof *all, by_id_only);
    ST(names, D_SVC_NAMES_BY_IDS);
    sqlite3_bind_text(names, 1, ids_json(all, nc, a), -1, SQLITE_STATIC);
    while ((step = sqlite3_step(names)) == SQLITE_ROW) {
        ranked key = {.id = sqlite3_column_int64(names, 0)};
        ranked *hit = bsearch(&key, all, nc, sizeof *all, by_id_only);
        if (hit) hit->name = ct_empty(names, 1, a);
    }
    st_done(names);
    if (step != SQLITE_DONE) {
        rc = map_rc(c, step, "search names");
        goto out;
    }
    qsort(all, nc, sizeof *all, by_rank_name_id);
    size_t skip = first - before, take = last - first + 1;
    if (skip > nc) skip = nc;
    if (take > nc - skip) take = nc - skip;
    ranked *page = all + skip;
    /* the page's rows, put in the page's order */
    store_dir_service *rows = NULL;
    size_t nrows = 0;
    ST(byids, D_SVC_BY_IDS);
    sqlite3_bind_text(byids, 1, ids_json(page, take, a), -1, SQLITE_STATIC);
    rc = svc_rows(c, byids, a, &rows, &nrows);
    if (rc != STORE_OK) goto out;
    store_dir_service *ordered = arena_calloc(a, take ? take : 1, sizeof *ordered);
    size_t k = 0;
    for (size_t i = 0; i < take; i++)
        for (size_t j = 0; j < nrows; j++)
            if (rows[j].id == page[i].id) {
                ordered[k++] = rows[j];
                break;
            }
    *items = ordered;
    *n = k;
out:
    free(ranks);
    free(all);
    return rc;
}

static int sq_service_search(void *impl, const store_dir_query *q, arena *a,
                             store_dir_service_list *out) {
    DCONN(impl);
    arena tmp;
    arena_init(&tmp, 512);
    int64_t org_id = 0, total = 0;
    store_dir_service *items = NULL;
    size_t n = 0;
    const char *match = q->text ? fts_query(q->text, &tmp) : NULL;
    const char *pkey = q->postcode && *q->postcode ? postcode_key(q->postcode, &tmp) : NULL;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) goto end;
    if (q->org_uuid) {
        ST(o, D_ORG_ID_BY_UUID);
        bt(o, 1, q->org_uuid);
        rc = run_int64(c, o, &org_id, "organisation id");
        if (rc == STORE_NOT_FOUND) {
            rc = STORE_OK; /* no such organisation: an empty page */
            goto out;
        }
        if (rc != STORE_OK) goto out;
    }
    if (q->term_uuid) {
        ST(t, D_TERM_BY_UUID);
        bt(t, 1, q->term_uuid);
        int step = sqlite3_step(t);
        st_done(t);
        if (step != SQLITE_ROW) goto out; /* unknown term: nothing matches */
    }
    int unfiltered = !match && !org_id && !q->modified_after && !q->active_only && !q->term_uuid &&
                     !q->place_id && !pkey && !q->near;
    int text_only = match && !org_id && !q->modified_after && !q->active_only && !q->term_uuid &&
                    !q->place_id && !pkey && !q->near;
    if (text_only) {
        /* the page and the total in one pass over the matches */
        rc = text_page(c, match, q->offset, q->limit, a, &items, &n, &total);
        if (rc == STORE_OK && n > 0) rc = load_children(c, items, n, q->with_children, a);
        goto out;
    }
    if (q->limit > 0 && unfiltered) {
        ST(st, D_PAGE_ALL);
        sqlite3_bind_int64(st, 1, q->limit);
        sqlite3_bind_int64(st, 2, q->offset);
        rc = svc_rows(c, st, a, &items, &n);
        if (rc != STORE_OK) goto out;
        rc = load_children(c, items, n, q->with_children, a);
        if (rc != STORE_OK) goto out;
    } else if (q->limit > 0) {
        ST(st, match ? D_SEARCH_TEXT : D_SEARCH);
        bind_query(st, q, pkey, match, 1);
        sqlite3_bind_int64(st, 1, org_id);
        rc = svc_rows(c, st, a, &items, &n);
        if (rc != STORE_OK) goto out;
        rc = load_children(c, items, n, q->with_children, a);
        if (rc != STORE_OK) goto out;
    }
    if (q->offset == 0 && q->limit > 0 && (int64_t)n < q->limit) {
        total = (int64_t)n; /* a first page that is not full holds every match */
    } else if (unfiltered) {
        ST(cnt, D_COUNT_ALL);
        rc = run_int64(c, cnt, &total, "service count");
    } else if (text_only) {
        ST(cnt, D_FTS_COUNT);
        sqlite3_bind_text(cnt, 1, match, -1, SQLITE_STATIC);
        rc = run_int64(c, cnt, &total, "service count");
    } else {
        ST(cnt, match ? D_SEARCH_TEXT_COUNT : D_SEARCH_COUNT);
        bind_query(cnt, q, pkey, match, 0);
        sqlite3_bind_int64(cnt, 1, org_id);
        rc = run_int64(c, cnt, &total, "service count");
    }
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
end:
    arena_free(&tmp);
    return rc;
}

static int sq_service_related(void *impl, int64_t service_id, int64_t limit, arena *a,
                              store_dir_service_list *out) {
    DCONN(impl);
    store_dir_service *items = NULL;
    size_t n = 0;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    ST(st, D_RELATED);
    sqlite3_bind_int64(st, 1, service_id);
    sqlite3_bind_int64(st, 2, limit);
    rc = svc_rows(c, st, a, &items, &n);
    if (rc == STORE_OK) rc = load_children(c, items, n, 0, a);
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = (int64_t)n;
    }
    return rc;
}

static int sq_postcode_centre(void *impl, const char *postcode, double *lat, double *lon) {
    DCONN(impl);
    arena tmp;
    arena_init(&tmp, 128);
    char *key = postcode_key(postcode, &tmp);
    int rc = STORE_OK;
    ST(st, D_POSTCODE_CENTRE);
    bt(st, 1, key);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && sqlite3_column_int64(st, 2) > 0 && *key) {
        *lat = sqlite3_column_double(st, 0);
        *lon = sqlite3_column_double(st, 1);
    } else {
        rc = step == SQLITE_ROW ? STORE_NOT_FOUND : map_rc(c, step, "postcode centre");
    }
    st_done(st);
out:
    arena_free(&tmp);
    return rc;
}

/* ---- Services: writing ---------------------------------------------------------- */

/* Rebuilds the full-text row of one service (names of its terms as "categories"). */
static int fts_refresh(dconn *c, int64_t service_id) {
    int rc = STORE_OK;
    buf cats;
    buf_init(&cats, 1 << 16);
    ST(del, D_FTS_DELETE);
    sqlite3_bind_int64(del, 1, service_id);
    rc = run_done(c, del, "fts delete");
    if (rc != STORE_OK) goto out;
    ST(cs, D_FTS_CATEGORIES);
    sqlite3_bind_int64(cs, 1, service_id);
    while (sqlite3_step(cs) == SQLITE_ROW) {
        buf_printf(&cats, "%s %s ", (const char *)sqlite3_column_text(cs, 0),
                   (const char *)sqlite3_column_text(cs, 1));
    }
    st_done(cs);
    ST(ins, D_FTS_INSERT);
    sqlite3_bind_int64(ins, 1, service_id);
    bt(ins, 2, buf_cstr(&cats));
    rc = run_done(c, ins, "fts insert");
out:
    buf_free(&cats);
    return rc;
}

static const char *uuid_or_new(const char *u, arena *a) {
    if (u) return u;
    char fresh[UUID_STR_LEN];
    uuid_v4(fresh);
    return arena_strdup(a, fresh);
}

/* Within a write transaction: saves one service and its children. */
static int svc_save_tx(dconn *c, const store_actor *actor, const store_dir_service *in, arena *tmp,
                       int64_t *id_out, int *created, int *changed) {
    int rc = STORE_OK;
    int64_t org_id = in->org_id, id = 0, now = now_utc();
    *created = 0;
    *changed = 1;
    if (!org_id) {
        if (!in->org_uuid) return STORE_INVALID;
        ST(o, D_ORG_ID_BY_UUID);
        bt(o, 1, in->org_uuid);
        rc = run_int64(c, o, &org_id, "organisation id");
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc != STORE_OK) return rc;
    }
    const char *uuid = uuid_or_new(in->uuid, tmp);
    store_dir_service old;
    int exists = 0;
    if (in->uuid) {
        rc = svc_load(c, D_SVC_BY_UUID, in->uuid, 0, tmp, &old);
        if (rc == STORE_OK)
            exists = 1;
        else if (rc != STORE_NOT_FOUND)
            return rc;
        rc = STORE_OK;
    }
    if (exists) {
        id = old.id;
        if (old.org_id == org_id && in->fingerprint &&
            strcmp(old.fingerprint, in->fingerprint) == 0) {
            *changed = 0;
            *id_out = id;
            return STORE_OK;
        }
        ST(st, D_SVC_UPDATE);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, org_id);
        bt(st, 3, in->name);
        bt(st, 4, in->description);
        bt(st, 5, in->url);
        bt(st, 6, in->email);
        bt(st, 7, in->phone);
        bt(st, 8, store_dir_status_name(in->status));
        bt(st, 9, in->eligibility);
        bt(st, 10, in->fees);
        bt(st, 11, in->fingerprint);
        sqlite3_bind_int64(st, 12, now);
        bid(st, 13, actor->user_id);
        rc = run_done(c, st, "service update");
        if (rc != STORE_OK) goto out;
        static const enum dstmt dels[] = {D_DEL_TERMS,    D_DEL_LOCS,  D_DEL_SCHED,
                                          D_DEL_CONTACTS, D_DEL_LANGS, D_DEL_AREAS};
        for (size_t k = 0; k < sizeof dels / sizeof dels[0]; k++) {
            ST(d, dels[k]);
            sqlite3_bind_int64(d, 1, id);
            rc = run_done(c, d, "service children delete");
            if (rc != STORE_OK) goto out;
        }
    } else {
        ST(st, D_SVC_INSERT);
        bt(st, 1, uuid);
        sqlite3_bind_int64(st, 2, org_id);
        bt(st, 3, in->name);
        bt(st, 4, in->description);
        bt(st, 5, in->url);
        bt(st, 6, in->email);
        bt(st, 7, in->phone);
        bt(st, 8, store_dir_status_name(in->status));
        bt(st, 9, in->eligibility);
        bt(st, 10, in->fees);
        bt(st, 11, in->fingerprint);
        sqlite3_bind_int64(st, 12, now);
        bid(st, 13, actor->user_id);
        rc = run_int64(c, st, &id, "service insert");
        if (rc != STORE_OK) goto out;
        *created = 1;
    }
    for (size_t i = 0; i < in->n_terms; i++) {
        ST(st, D_INS_TERM);
        bt(st, 1, uuid_or_new(in->terms[i].attr_uuid, tmp));
        sqlite3_bind_int64(st, 2, id);
        bt(st, 3, in->terms[i].uuid);
        rc = run_done(c, st, "service term");
        if (rc == STORE_CONFLICT)
            rc = STORE_OK; /* the same term twice: once is enough */
        else if (rc == STORE_OK && sqlite3_changes(c->db) == 0)
            rc = STORE_INVALID;
        if (rc != STORE_OK) goto out;
    }
    for (size_t i = 0; i < in->n_locations; i++) {
        const store_dir_location *l = &in->locations[i];
        ST(st, D_LOC_UPSERT);
        bt(st, 1, uuid_or_new(l->uuid, tmp));
        bt(st, 2, l->name);
        bt(st, 3, l->description);
        bt(st, 4, l->address_1);
        bt(st, 5, l->city);
        bt(st, 6, l->postcode);
        bt(st, 7, postcode_key(l->postcode, tmp));
        bt(st, 8, l->country && *l->country ? l->country : "GB");
        if (l->has_coords) {
            sqlite3_bind_double(st, 9, l->latitude);
            sqlite3_bind_double(st, 10, l->longitude);
        } else {
            sqlite3_bind_null(st, 9);
            sqlite3_bind_null(st, 10);
        }
        bt(st, 11, l->accessibility);
        int64_t lid = 0;
        rc = run_int64(c, st, &lid, "location save");
        if (rc != STORE_OK) goto out;
        ST(sal, D_INS_SAL);
        bt(sal, 1, uuid_or_new(l->sal_uuid, tmp));
        sqlite3_bind_int64(sal, 2, id);
        sqlite3_bind_int64(sal, 3, lid);
        sqlite3_bind_int64(sal, 4, (int64_t)i);
        rc = run_done(c, sal, "service at location");
        if (rc != STORE_OK) goto out;
    }
    for (size_t i = 0; i < in->n_schedules; i++) {
        const store_dir_schedule *h = &in->schedules[i];
        ST(st, D_INS_SCHED);
        bt(st, 1, uuid_or_new(h->uuid, tmp));
        sqlite3_bind_int64(st, 2, id);
        bt(st, 3, h->freq);
        sqlite3_bind_int64(st, 4, h->interval);
        bt(st, 5, h->byday);
        bt(st, 6, h->bymonthday);
        bt(st, 7, h->opens_at);
        bt(st, 8, h->closes_at);
        bt(st, 9, h->valid_from);
        bt(st, 10, h->valid_to);
        bt(st, 11, h->dtstart);
        bt(st, 12, h->description);
        rc = run_done(c, st, "schedule");
        if (rc != STORE_OK) goto out;
    }
    for (size_t i = 0; i < in->n_contacts; i++) {
        const store_dir_contact *x = &in->contacts[i];
        ST(st, D_INS_CONTACT);
        bt(st, 1, uuid_or_new(x->uuid, tmp));
        sqlite3_bind_int64(st, 2, id);
        bt(st, 3, x->name);
        bt(st, 4, x->title);
        bt(st, 5, x->email);
        bt(st, 6, x->phone);
        rc = run_done(c, st, "contact");
        if (rc != STORE_OK) goto out;
    }
    for (size_t i = 0; i < in->n_languages; i++) {
        const store_dir_language *g = &in->languages[i];
        ST(st, D_INS_LANG);
        bt(st, 1, uuid_or_new(g->uuid, tmp));
        sqlite3_bind_int64(st, 2, id);
        bt(st, 3, g->name);
        bt(st, 4, g->code);
        rc = run_done(c, st, "language");
        if (rc != STORE_OK) goto out;
    }
    for (size_t i = 0; i < in->n_areas; i++) {
        const store_dir_area *r = &in->areas[i];
        int64_t pid = r->place_id;
        if (!pid && r->place_uuid) {
            ST(p, D_PLACE_ID_BY_UUID);
            bt(p, 1, r->place_uuid);
            rc = run_int64(c, p, &pid, "place id");
        } else {
            ST(p, D_PLACE_EXISTS);
            sqlite3_bind_int64(p, 1, pid);
            rc = run_int64(c, p, &pid, "place id");
        }
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc != STORE_OK) goto out;
        ST(st, D_INS_AREA);
        bt(st, 1, uuid_or_new(r->uuid, tmp));
        sqlite3_bind_int64(st, 2, id);
        sqlite3_bind_int64(st, 3, pid);
        rc = run_done(c, st, "service area");
        if (rc == STORE_CONFLICT) rc = STORE_OK;
        if (rc != STORE_OK) goto out;
    }
    rc = fts_refresh(c, id);
    if (rc != STORE_OK) goto out;
    json_t *d = json_object();
    if (exists) {
        diff(d, "name", old.name, in->name);
        diff(d, "description", old.description, in->description);
        diff(d, "status", store_dir_status_name(old.status), store_dir_status_name(in->status));
        diff(d, "url", old.url, in->url);
        diff(d, "email", old.email, in->email);
        diff(d, "phone", old.phone, in->phone);
        diff(d, "eligibility", old.eligibility, in->eligibility);
        diff(d, "fees", old.fees, in->fees);
    } else {
        json_object_set_new(d, "name", json_string(in->name));
    }
    rc = audit(c, actor, exists ? "directory.service.update" : "directory.service.create",
               "service", uuid, d);
    *id_out = id;
out:
    return rc;
}

static int sq_service_save(void *impl, const store_actor *actor, const store_dir_service *in,
                           arena *a, store_dir_service *out) {
    DCONN(impl);
    arena tmp;
    arena_init(&tmp, 4096);
    int64_t id = 0;
    int created, changed;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    rc = svc_save_tx(c, actor, in, &tmp, &id, &created, &changed);
    if (rc == STORE_OK && out) rc = svc_load(c, D_SVC_BY_ID, NULL, id, a, out);
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

/* ---- Import --------------------------------------------------------------------- */

static int sq_import(void *impl, const store_actor *actor, const store_dir_feed *feed,
                     store_dir_import_result *res) {
    DCONN(impl);
    arena tmp;
    arena_init(&tmp, 1 << 16);
    memset(res, 0, sizeof *res);
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    for (size_t i = 0; i < feed->n_taxonomies && rc == STORE_OK; i++) {
        int64_t id;
        rc = tax_save_tx(c, actor, &feed->taxonomies[i], feed->taxonomies[i].uuid, &id);
        if (rc != STORE_OK) res->bad_index = INT64_MIN;
    }
    for (size_t i = 0; i < feed->n_terms && rc == STORE_OK; i++) {
        rc = term_save_tx(c, actor, &feed->terms[i], feed->terms[i].uuid, &tmp);
        if (rc != STORE_OK) res->bad_index = INT64_MIN;
    }
    for (size_t i = 0; i < feed->n_orgs && rc == STORE_OK; i++) {
        int64_t id;
        const char *uuid;
        int created, changed;
        rc = org_save_tx(c, actor, &feed->orgs[i], &tmp, &id, &uuid, &created, &changed);
        if (rc != STORE_OK)
            res->bad_index = -1 - (int64_t)i;
        else if (created)
            res->created++;
        else if (changed)
            res->updated++;
        else
            res->unchanged++;
    }
    for (size_t i = 0; i < feed->n_services && rc == STORE_OK; i++) {
        int64_t id;
        int created, changed;
        rc = svc_save_tx(c, actor, &feed->services[i], &tmp, &id, &created, &changed);
        if (rc != STORE_OK)
            res->bad_index = (int64_t)i;
        else if (created)
            res->created++;
        else if (changed)
            res->updated++;
        else
            res->unchanged++;
        if ((i & 255) == 255) arena_reset(&tmp);
    }
    if (rc == STORE_OK) {
        json_t *d = json_object();
        json_object_set_new(d, "created", json_integer(res->created));
        json_object_set_new(d, "updated", json_integer(res->updated));
        json_object_set_new(d, "unchanged", json_integer(res->unchanged));
        json_object_set_new(d, "source", json_string(feed->source ? feed->source : ""));
        rc = audit(c, actor, "directory.import", "directory", "import", d);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

const store_dir_ops store_sqlite_dir_ops = {
    .org_save = sq_org_save,
    .org_by_uuid = sq_org_by_uuid,
    .org_by_id = sq_org_by_id,
    .org_list_page = sq_org_list_page,
    .member_add = sq_member_add,
    .member_remove = sq_member_remove,
    .member_check = sq_member_check,
    .members = sq_members,
    .orgs_of_user = sq_orgs_of_user,
    .taxonomy_save = sq_taxonomy_save,
    .term_save = sq_term_save,
    .taxonomy_list = sq_taxonomy_list,
    .term_list = sq_term_list,
    .term_by_uuid = sq_term_by_uuid,
    .taxonomy_by_uuid = sq_taxonomy_by_uuid,
    .service_save = sq_service_save,
    .service_by_uuid = sq_service_by_uuid,
    .service_search = sq_service_search,
    .service_related = sq_service_related,
    .postcode_centre = sq_postcode_centre,
    .import = sq_import,
};
