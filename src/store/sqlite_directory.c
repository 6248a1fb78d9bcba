/*
 * sqlite_directory: the SQLite half of the directory's statements (backend_directory.h),
 * on the connections of sqlite.c (sqlite_internal.h). The operations themselves are
 * written once, in store_directory.c; this file holds what is SQLite's own: the SQL
 * text of each statement, the FTS5 index, its query syntax and a faster page for a
 * search by text alone.
 *
 * Statements are an enum-indexed table (enum store_dir_stmt), prepared by sqlite.c on
 * each connection on first use, with store.c's.
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
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "store/backend.h"
#include "store/backend_directory.h"
#include "store/sqlite_internal.h"

/* ---- Statements ----------------------------------------------------------------- */

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

const char *const store_sqlite_dir_sql[D__COUNT] = {
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

#define ST STORE_ST

/* ---- Full-text index ------------------------------------------------------------ */

/* Rebuilds the full-text row of one service (names of its terms as "categories"). */
static int fts_refresh(store_conn *c, int64_t service_id) {
    buf cats;
    buf_init(&cats, 1 << 16);
    ST(del, D_FTS_DELETE);
    bi64(del, 1, service_id);
    int rc = store_run_done(c, del, "fts delete");
    if (rc != STORE_OK) goto out;
    ST(cs, D_FTS_CATEGORIES);
    bi64(cs, 1, service_id);
    while (pstep(c, cs) == STORE_STEP_ROW)
        buf_printf(&cats, "%s %s ", (const char *)sqlite3_column_text(cs->h, 0),
                   (const char *)sqlite3_column_text(cs->h, 1));
    st_done(cs);
    ST(ins, D_FTS_INSERT);
    bi64(ins, 1, service_id);
    bt(ins, 2, buf_cstr(&cats));
    rc = store_run_done(c, ins, "fts insert");
out:
    buf_free(&cats);
    return rc;
}

/* ---- Search --------------------------------------------------------------------- */

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
static int text_page(store_conn *c, const char *match, int64_t offset, int64_t limit, arena *a,
                     store_dir_service **items, size_t *n, int64_t *total) {
    size_t cap = 256, m = 0;
    ranked *all = xmalloc(cap * sizeof *all);
    double *ranks = NULL;
    int rc = STORE_OK;
    *items = NULL;
    *n = 0;
    ST(st, D_FTS_RANKS);
    bt(st, 1, match);
    st->what = "search ranks";
    int step;
    while ((step = pstep(c, st)) == STORE_STEP_ROW) {
        if (m == cap) {
            cap *= 2;
            all = xrealloc(all, cap * sizeof *all);
        }
        all[m].id = cint(st, 0);
        all[m].rank = cdbl(st, 1);
        all[m].name = "";
        m++;
    }
    st_done(st);
    if (step == STORE_STEP_ERR) {
        rc = st->rc;
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
    bt(names, 1, ids_json(all, nc, a));
    names->what = "search names";
    while ((step = pstep(c, names)) == STORE_STEP_ROW) {
        ranked key = {.id = cint(names, 0)};
        ranked *hit = bsearch(&key, all, nc, sizeof *all, by_id_only);
        if (hit) hit->name = ct_empty(names, 1, a);
    }
    st_done(names);
    if (step == STORE_STEP_ERR) {
        rc = names->rc;
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
    bt(byids, 1, ids_json(page, take, a));
    rc = store_dir_svc_rows(c, byids, a, &rows, &nrows);
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

const store_dir_ops store_sqlite_dir_ops = {
    .conn = store_sqlite_dir_conn,
    .id_list = "[]",
    .search_refresh = fts_refresh,
    .text_query = fts_query,
    .count_text_param = 14,
    .text_page = text_page,
};
