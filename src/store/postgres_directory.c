/*
 * postgres_directory: the PostgreSQL half of the directory's statements
 * (backend_directory.h), on the connections of postgres.c. The operations themselves
 * are written once, in store_directory.c; this file holds what is PostgreSQL's own: the
 * SQL text of each statement, the search document of a service and the query syntax.
 *
 * Its statements follow sqlite_directory.c's one for one, so that both backends give
 * the same answers; the differences are the dialect's:
 *   - full-text search uses the tsvector table dir_service_search (GIN index), one
 *     document per service with weights A (name), B (categories), C (organisation),
 *     D (description), ranked by ts_rank with weights in the ratios of the FTS5 bm25
 *     column weights; the query is every word as a prefix ("word:*"), all required,
 *     as the FTS5 query is;
 *   - the ids of a page of services travel as one bigint[] parameter (= ANY($1));
 *   - names sort with COLLATE "C", SQLite's byte order;
 *   - writes take one transaction-scoped advisory lock: directory changes are rare
 *     (edits, imports) and SQLite, too, lets one writer in at a time, so read-then-write
 *     steps (fingerprints, the term tree) need no further isolation. Reads of several
 *     statements run in REPEATABLE READ READ ONLY (one snapshot).
 *
 * Statements are an enum-indexed table (enum store_dir_stmt), prepared by postgres.c on
 * each connection on first use, with store.c's; parameters and results travel as text.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "store/backend.h"
#include "store/backend_directory.h"
#include "store/postgres.h"

/* ---- Statements ----------------------------------------------------------------- */

/* The filters of a search. $1 org id, $2 modified after, $3 active only, $4 term uuid,
 * $5 place id, $6 postcode key prefix, $7 near (0/1), $8 lat, $9 lon, $10 metres per
 * degree of longitude at lat, $11 radius squared (m^2). */
#define SEARCH_CTE                                                                                 \
    "WITH RECURSIVE term_tree(id) AS (SELECT id FROM dir_terms WHERE uuid = $4::text UNION "       \
    "  SELECT t.id FROM dir_terms t JOIN term_tree ON t.parent_id = term_tree.id), "               \
    "place_down(id) AS (SELECT id FROM places WHERE id = $5::bigint UNION "                        \
    "  SELECT p.id FROM places p JOIN place_down ON p.parent_id = place_down.id), "                \
    "place_up(id) AS (SELECT id FROM places WHERE id = $5::bigint UNION "                          \
    "  SELECT p.parent_id FROM places p JOIN place_up ON p.id = place_up.id "                      \
    "  WHERE p.parent_id IS NOT NULL) "
#define SEARCH_WHERE                                                                               \
    "($1::bigint = 0 OR s.org_id = $1::bigint) AND ($2::bigint = 0 OR s.updated_at > $2::bigint) " \
    "AND ($3::int = 0 OR s.status = 'active') "                                                    \
    "AND ($4::text IS NULL OR s.id IN (SELECT st.service_id FROM dir_service_terms st "            \
    "  WHERE st.term_id IN (SELECT id FROM term_tree))) "                                          \
    "AND ($5::bigint = 0 OR s.id IN (SELECT sa.service_id FROM dir_service_areas sa "              \
    "  WHERE sa.place_id IN (SELECT id FROM place_down UNION SELECT id FROM place_up))) "          \
    "AND ($6::text IS NULL OR s.id IN (SELECT sl.service_id FROM dir_service_locations sl "        \
    "  JOIN dir_locations l ON l.id = sl.location_id "                                             \
    "  WHERE substr(l.postcode_key, 1, length($6::text)) = $6::text)) "                            \
    "AND ($7::int = 0 OR s.id IN (SELECT sl.service_id FROM dir_service_locations sl "             \
    "  JOIN dir_locations l ON l.id = sl.location_id WHERE l.latitude IS NOT NULL "                \
    "  AND ((l.latitude - $8::float8) * 111195.0) * ((l.latitude - $8::float8) * 111195.0) "       \
    "    + ((l.longitude - $9::float8) * $10::float8) * ((l.longitude - $9::float8) * "            \
    "$10::float8) <= $11::float8)) "
/* $12 limit, $13 offset, $14 tsquery text ("word & word:*"). ts_rank weights
 * {D, C, B, A} = description 0.1, organisation 0.3, categories 0.5, name 1.0: the ratios
 * of the FTS5 bm25 column weights (1, 3, 5, 10); normalisation 1 divides by 1 + log of
 * the document's length, as BM25 discounts long documents. ts_rank has no inverse
 * document frequency, so ties between near-equal documents may order differently. */
#define FTS_JOIN                                                                                   \
    "JOIN (SELECT service_id AS rid, ts_rank('{0.1, 0.3, 0.5, 1.0}', doc, "                        \
    "  to_tsquery('simple', $14::text), 1) AS rank FROM dir_service_search "                       \
    "  WHERE doc @@ to_tsquery('simple', $14::text)) f ON f.rid = s.id "
/* The count has no page: its query text is $12. */
#define FTS_JOIN_COUNT                                                                             \
    "JOIN (SELECT service_id AS rid FROM dir_service_search "                                      \
    "  WHERE doc @@ to_tsquery('simple', $12::text)) f ON f.rid = s.id "

const char *const store_pg_dir_sql[D__COUNT] = {
    [D_ORG_BY_ID] = "SELECT " ORG_COLS "FROM dir_organizations o WHERE o.id = $1",
    [D_ORG_BY_UUID] = "SELECT " ORG_COLS "FROM dir_organizations o WHERE o.uuid = $1",
    [D_ORG_ID_BY_UUID] = "SELECT id FROM dir_organizations WHERE uuid = $1",
    [D_ORG_INSERT] = "INSERT INTO dir_organizations (uuid, name, description, website, email, "
                     "phone, identifier_type, identifier, fingerprint, created_at, updated_at, "
                     "updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) "
                     "RETURNING id",
    [D_ORG_UPDATE] = "UPDATE dir_organizations SET name = $2, description = $3, website = $4, "
                     "email = $5, phone = $6, identifier_type = $7, identifier = $8, "
                     "fingerprint = $9, updated_at = $10, updated_by = $11 WHERE id = $1",
    [D_ORG_PAGE] =
        "SELECT " ORG_COLS "FROM dir_organizations o ORDER BY o.name COLLATE \"C\", o.id "
        "LIMIT $1 OFFSET $2",
    [D_ORG_COUNT] = "SELECT COUNT(*) FROM dir_organizations",
    [D_ORG_SERVICES] = "SELECT id FROM dir_services WHERE org_id = $1",
    [D_USER_EXISTS] = "SELECT uuid FROM users WHERE id = $1",
    [D_MEMBER_INSERT] = "INSERT INTO dir_members (org_id, user_id, created_at) "
                        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [D_MEMBER_DELETE] = "DELETE FROM dir_members WHERE org_id = $1 AND user_id = $2",
    [D_MEMBER_CHECK] = "SELECT COUNT(*) FROM dir_members WHERE org_id = $1 AND user_id = $2",
    [D_MEMBERS] = "SELECT u.id, u.uuid, u.email, u.display_name, u.role, u.created_at "
                  "FROM dir_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 "
                  "ORDER BY u.display_name COLLATE \"C\", u.id",
    [D_ORGS_OF_USER] =
        "SELECT " ORG_COLS "FROM dir_members m JOIN dir_organizations o "
        "ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.name COLLATE \"C\", o.id",
    [D_TAX_UPSERT] = "INSERT INTO dir_taxonomies (uuid, name, description, uri, version) "
                     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (uuid) DO UPDATE SET "
                     "name = excluded.name, description = excluded.description, "
                     "uri = excluded.uri, version = excluded.version RETURNING id",
    [D_TAX_BY_UUID] = "SELECT id, uuid, name, description, uri, version FROM dir_taxonomies "
                      "WHERE uuid = $1",
    [D_TAX_LIST] = "SELECT id, uuid, name, description, uri, version FROM dir_taxonomies "
                   "ORDER BY name COLLATE \"C\", id",
    [D_TERM_UPSERT] = "INSERT INTO dir_terms (uuid, taxonomy_id, parent_id, code, name, "
                      "description) VALUES ($1, (SELECT id FROM dir_taxonomies WHERE uuid = $2), "
                      "(SELECT id FROM dir_terms WHERE uuid = $3), $4, $5, $6) "
                      "ON CONFLICT (uuid) DO UPDATE SET taxonomy_id = excluded.taxonomy_id, "
                      "parent_id = excluded.parent_id, code = excluded.code, "
                      "name = excluded.name, description = excluded.description RETURNING id",
    [D_TERM_BY_UUID] = "SELECT " TERM_COLS ", 0 " TERM_FROM "WHERE t.uuid = $1",
    [D_TERM_LIST] = "SELECT " TERM_COLS ", (SELECT COUNT(*) FROM dir_service_terms st "
                    "WHERE st.term_id = t.id) " TERM_FROM
                    "ORDER BY x.name COLLATE \"C\", t.name COLLATE \"C\", t.id",
    [D_TERM_LIST_TAX] = "SELECT " TERM_COLS ", (SELECT COUNT(*) FROM dir_service_terms st "
                        "WHERE st.term_id = t.id) " TERM_FROM "WHERE x.uuid = $1 "
                        "ORDER BY t.name COLLATE \"C\", t.id",
    /* Is term $2 among $1 and its ancestors? */
    [D_TERM_IS_ANCESTOR] = "WITH RECURSIVE anc(id) AS (SELECT $1::bigint UNION SELECT t.parent_id "
                           "FROM dir_terms t JOIN anc ON t.id = anc.id "
                           "WHERE t.parent_id IS NOT NULL) SELECT COUNT(*) FROM anc "
                           "WHERE id = $2",
    [D_SVC_BY_UUID] = "SELECT " SVC_COLS SVC_FROM "WHERE s.uuid = $1",
    [D_SVC_BY_ID] = "SELECT " SVC_COLS SVC_FROM "WHERE s.id = $1",
    [D_SVC_ID_BY_UUID] = "SELECT id FROM dir_services WHERE uuid = $1",
    [D_SVC_INSERT] = "INSERT INTO dir_services (uuid, org_id, name, description, url, email, "
                     "phone, status, eligibility, fees, fingerprint, created_at, updated_at, "
                     "updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                     "$12, $13) RETURNING id",
    [D_SVC_UPDATE] = "UPDATE dir_services SET org_id = $2, name = $3, description = $4, "
                     "url = $5, email = $6, phone = $7, status = $8, eligibility = $9, "
                     "fees = $10, fingerprint = $11, updated_at = $12, updated_by = $13 "
                     "WHERE id = $1",
    [D_SVC_TOUCH] = "UPDATE dir_services SET updated_at = $2 WHERE id = $1",
    [D_SVC_FP] = "SELECT id, fingerprint FROM dir_services WHERE uuid = $1",
    [D_PLACE_ID_BY_UUID] = "SELECT id FROM places WHERE uuid = $1",
    [D_PLACE_EXISTS] = "SELECT id FROM places WHERE id = $1",
    [D_DEL_TERMS] = "DELETE FROM dir_service_terms WHERE service_id = $1",
    [D_DEL_LOCS] = "DELETE FROM dir_service_locations WHERE service_id = $1",
    [D_DEL_SCHED] = "DELETE FROM dir_schedules WHERE service_id = $1",
    [D_DEL_CONTACTS] = "DELETE FROM dir_contacts WHERE service_id = $1",
    [D_DEL_LANGS] = "DELETE FROM dir_languages WHERE service_id = $1",
    [D_DEL_AREAS] = "DELETE FROM dir_service_areas WHERE service_id = $1",
    [D_INS_TERM] = "INSERT INTO dir_service_terms (uuid, service_id, term_id) "
                   "SELECT $1::text, $2::bigint, id FROM dir_terms WHERE uuid = $3 "
                   "ON CONFLICT DO NOTHING",
    [D_LOC_UPSERT] = "INSERT INTO dir_locations (uuid, name, description, address_1, city, "
                     "postcode, postcode_key, country, latitude, longitude, accessibility) "
                     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                     "ON CONFLICT (uuid) DO UPDATE SET name = excluded.name, "
                     "description = excluded.description, address_1 = excluded.address_1, "
                     "city = excluded.city, postcode = excluded.postcode, "
                     "postcode_key = excluded.postcode_key, country = excluded.country, "
                     "latitude = excluded.latitude, longitude = excluded.longitude, "
                     "accessibility = excluded.accessibility RETURNING id",
    [D_INS_SAL] = "INSERT INTO dir_service_locations (uuid, service_id, location_id, position) "
                  "VALUES ($1, $2, $3, $4)",
    [D_INS_SCHED] = "INSERT INTO dir_schedules (uuid, service_id, freq, interval_count, byday, "
                    "bymonthday, opens_at, closes_at, valid_from, valid_to, dtstart, "
                    "description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    [D_INS_CONTACT] = "INSERT INTO dir_contacts (uuid, service_id, name, title, email, phone) "
                      "VALUES ($1, $2, $3, $4, $5, $6)",
    [D_INS_LANG] = "INSERT INTO dir_languages (uuid, service_id, name, code) "
                   "VALUES ($1, $2, $3, $4)",
    [D_INS_AREA] = "INSERT INTO dir_service_areas (uuid, service_id, place_id) "
                   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [D_FTS_DELETE] = "DELETE FROM dir_service_search WHERE service_id = $1",
    [D_FTS_INSERT] = STORE_PG_SEARCH_DOC_INSERT "WHERE s.id = $1",
    [D_FTS_CATEGORIES] = "SELECT t.name, t.code FROM dir_service_terms st JOIN dir_terms t "
                         "ON t.id = st.term_id WHERE st.service_id = $1",
    /* Children of a set of services ($1 a JSON array of ids). */
    [D_CH_TERMS] = "SELECT st.service_id, t.uuid, st.uuid, t.code, t.name, t.description, "
                   "p.uuid, x.uuid, x.name FROM dir_service_terms st "
                   "JOIN dir_terms t ON t.id = st.term_id "
                   "JOIN dir_taxonomies x ON x.id = t.taxonomy_id "
                   "LEFT JOIN dir_terms p ON p.id = t.parent_id "
                   "WHERE st.service_id = ANY($1::bigint[]) "
                   "ORDER BY st.service_id, t.name COLLATE \"C\"",
    [D_CH_LOCS] = "SELECT sl.service_id, l.uuid, l.name, l.description, l.address_1, l.city, "
                  "l.postcode, l.country, l.latitude, l.longitude, l.accessibility, sl.uuid "
                  "FROM dir_service_locations sl JOIN dir_locations l ON l.id = sl.location_id "
                  "WHERE sl.service_id = ANY($1::bigint[]) "
                  "ORDER BY sl.service_id, sl.position",
    [D_CH_SCHED] = "SELECT service_id, uuid, freq, interval_count, byday, bymonthday, "
                   "opens_at, closes_at, valid_from, valid_to, dtstart, description "
                   "FROM dir_schedules WHERE service_id = ANY($1::bigint[]) "
                   "ORDER BY service_id, id",
    [D_CH_CONTACTS] = "SELECT service_id, uuid, name, title, email, phone FROM dir_contacts "
                      "WHERE service_id = ANY($1::bigint[]) "
                      "ORDER BY service_id, id",
    [D_CH_LANGS] = "SELECT service_id, uuid, name, code FROM dir_languages "
                   "WHERE service_id = ANY($1::bigint[]) "
                   "ORDER BY service_id, id",
    [D_CH_AREAS] = "SELECT sa.service_id, sa.uuid, sa.place_id, p.uuid, p.name, p.gss_code "
                   "FROM dir_service_areas sa JOIN places p ON p.id = sa.place_id "
                   "WHERE sa.service_id = ANY($1::bigint[]) "
                   "ORDER BY sa.service_id, p.name COLLATE \"C\"",
    [D_SEARCH] = SEARCH_CTE "SELECT " SVC_COLS SVC_FROM "WHERE " SEARCH_WHERE
                            "ORDER BY s.name COLLATE \"C\", s.id LIMIT $12 OFFSET $13",
    [D_SEARCH_COUNT] = SEARCH_CTE "SELECT COUNT(*) FROM dir_services s WHERE " SEARCH_WHERE,
    [D_SEARCH_TEXT] =
        SEARCH_CTE "SELECT " SVC_COLS SVC_FROM FTS_JOIN "WHERE " SEARCH_WHERE
                   "ORDER BY f.rank DESC, s.name COLLATE \"C\", s.id LIMIT $12 OFFSET $13",
    [D_SEARCH_TEXT_COUNT] =
        SEARCH_CTE "SELECT COUNT(*) FROM dir_services s " FTS_JOIN_COUNT "WHERE " SEARCH_WHERE,
    [D_COUNT_ALL] = "SELECT COUNT(*) FROM dir_services",
    [D_PAGE_ALL] =
        "SELECT " SVC_COLS SVC_FROM "ORDER BY s.name COLLATE \"C\", s.id LIMIT $1 OFFSET $2",
    /* Services sharing a term with $1, or a term whose parent is, or is the parent of,
     * or shares a parent with, one of $1's terms. */
    [D_RELATED] = "WITH mine(id, parent_id) AS (SELECT t.id, t.parent_id FROM dir_service_terms st "
                  "JOIN dir_terms t ON t.id = st.term_id WHERE st.service_id = $1), "
                  "near_terms(id) AS (SELECT id FROM mine UNION SELECT parent_id FROM mine "
                  "WHERE parent_id IS NOT NULL UNION SELECT t.id FROM dir_terms t "
                  "WHERE t.parent_id IN (SELECT id FROM mine) OR t.parent_id IN "
                  "(SELECT parent_id FROM mine)) "
                  "SELECT " SVC_COLS SVC_FROM "WHERE s.id <> $1 AND s.id IN (SELECT "
                  "st.service_id FROM dir_service_terms st WHERE st.term_id IN "
                  "(SELECT id FROM near_terms)) ORDER BY s.name COLLATE \"C\", s.id LIMIT $2",
    [D_POSTCODE_CENTRE] = "SELECT AVG(latitude), AVG(longitude), COUNT(latitude) "
                          "FROM dir_locations WHERE latitude IS NOT NULL "
                          "AND substr(postcode_key, 1, length($1::text)) = $1::text",
};

#define ST STORE_ST

/* ---- Full-text index ------------------------------------------------------------ */

static int search_refresh(store_conn *c, int64_t service_id) {
    ST(del, D_FTS_DELETE);
    bi64(del, 1, service_id);
    int rc = store_run_done(c, del, "search delete");
    if (rc != STORE_OK) return rc;
    ST(ins, D_FTS_INSERT);
    bi64(ins, 1, service_id);
    return store_run_done(c, ins, "search insert");
}

/* ---- Search --------------------------------------------------------------------- */

static int word_byte(unsigned char ch) {
    return ch >= 0x80 || (ch >= '0' && ch <= '9') || ((ch | 32) >= 'a' && (ch | 32) <= 'z');
}

/* Turns free text into a tsquery as sqlite_directory.c does for FTS5: every word
 * (letters and digits) required, the last one also as a prefix ("word:*") for a word
 * still being typed. Words hold no tsquery operators, so the text is safe as
 * to_tsquery input. NULL when the text holds no word. */
static char *ts_query(const char *text, arena *a) {
    size_t n = strlen(text);
    char *q = arena_alloc(a, n * 6 + 8), *p = q;
    int words = 0;
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        while (*s && !word_byte(*s)) s++;
        if (!*s) break;
        if (words++) p += sprintf(p, " & ");
        while (*s && word_byte(*s)) *p++ = (char)*s++;
    }
    if (words) p += sprintf(p, ":*");
    *p = 0;
    return words ? q : NULL;
}

const store_dir_ops store_pg_dir_ops = {
    .conn = store_pg_dir_conn,
    .id_list = "{}",
    .search_refresh = search_refresh,
    .text_query = ts_query,
    .count_text_param = 12,
};
