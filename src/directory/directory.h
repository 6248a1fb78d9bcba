/*
 * directory: the community directory (issue 3) — who already does what in a place.
 * Organisations, their services and activities, where and when they happen, browsed
 * by place and category, searched, compared ("who else does this here?"), drawn on a
 * map, and published read-only as Open Referral UK (HSDS 3.0) under /openreferral/.
 *
 * The feature is split by concern:
 *   model.c    checks of form values, opening times in words, iCalendar (pure)
 *   similar.c  the similarity score and duplicate clusters (pure)
 *   oruk.c     ORUK JSON out, HSDS/ORUK JSON and the CSV template in (import/export)
 *   pages.c    the HTML pages and forms; api.c the /openreferral/ routes
 *   demo.c     the demo organisations of `commonground init --demo`
 * Storage is src/store/directory.h.
 */
#ifndef CG_DIRECTORY_DIRECTORY_H
#define CG_DIRECTORY_DIRECTORY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "http/http.h"
#include "store/directory.h"
#include "store/store.h"

/* Registers the pages (/directory...) and the API (/openreferral/...). */
void directory_routes(http_router *router);

/* ---- Checks of values people type (model.c). Each returns NULL when acceptable,
 * else an English msgid naming the problem (translate with T()). Empty is acceptable
 * (fields are optional); required fields are checked by the caller. ---- */

/* A UK postcode in the usual shape: outward code (A9, A99, AA9, AA99, A9A, AA9A), an
 * optional space, inward code (9AA); either case. */
const char *directory_postcode_problem(const char *s);
/* An absolute http:// or https:// URL with a host and no spaces. */
const char *directory_url_problem(const char *s);
/* local@domain with a dot in the domain and no spaces. */
const char *directory_email_problem(const char *s);
/* "HH:MM" or "HH:MM:SS", 00:00 to 23:59. */
const char *directory_time_problem(const char *s);
/* byday: comma-separated two-letter days (MO..SU), each optionally preceded by an
 * ordinal (1..5 or -1) for monthly schedules. */
const char *directory_byday_problem(const char *s);
/* Canonical postcode ("bn111ha" -> "BN11 1HA") into out (at least 9 bytes). Returns
 * out, or NULL when s is not a postcode. */
char *directory_postcode_format(const char *s, char *out, size_t outlen);

/* ---- Opening times in words (model.c) ---- */

/* One schedule in words in English or Welsh (lang "cy"), e.g. "Tuesdays 10:00-12:00",
 * "Mondays and Thursdays 09:30-11:30", "Every 2 weeks on Saturdays 10:00-13:00",
 * "First Tuesday of the month 19:00-21:00", "Every day". Allocated in a. */
const char *directory_schedule_words(const store_dir_schedule *h, const char *lang, arena *a);

/* ---- iCalendar (model.c) ---- */

/* Writes a VCALENDAR with one VEVENT per schedule that has an opening time (RRULE from
 * freq/interval/byday/bymonthday, UNTIL from valid_to, DTSTART from dtstart or
 * valid_from or the first matching day on or after `today` (YYYYMMDD), times in
 * Europe/London). RFC 5545: CRLF line ends, lines folded at 75 octets (never inside a
 * UTF-8 sequence), text escaped (backslash, semicolon, comma, newline). dtstamp is the
 * generation time (epoch seconds). Returns BUF_OK or BUF_TOO_BIG. */
int directory_ical(buf *out, const store_dir_service *s, const char *host, int64_t dtstamp);

/* Appends one content line "NAME:value" (value already escaped or not, as the caller
 * decides) folded at 75 octets with CRLF. Exposed for tests. */
int directory_ical_line(buf *out, const char *name, const char *value, int escape);

/* ---- Similarity (similar.c) ---- */

/* How alike two services are, from 0 to 1:
 *   0.5 * category overlap (Jaccard over terms, a shared parent term counting half)
 * + 0.3 * text overlap (Jaccard over the word sets of name and description, words of
 *         three letters or more, stop words removed, case folded)
 * + 0.2 * nearness (exp(-d / 2 km) for the closest pair of locations; 0.5 when either
 *         has no coordinates).
 * The parts are written to *cat, *text and *near when those are non-NULL. */
double directory_similarity(const store_dir_service *a, const store_dir_service *b, double *cat,
                            double *text, double *near);

/* Great-circle distance in metres. */
double directory_distance_m(double lat1, double lon1, double lat2, double lon2);

/* Groups services into clusters of likely duplicates: pairs whose similarity is at
 * least threshold are joined (single linkage). cluster[i] receives a cluster number for
 * services[i] (-1 when it is alone); returns the number of clusters of two or more. */
size_t directory_clusters(const store_dir_service *services, size_t n, double threshold,
                          int *cluster);

/* ---- Open Referral UK JSON (oruk.c) ---- */

/* A service as ORUK JSON: "fully nested" (schedules, service_areas,
 * service_at_locations with location and address, languages, organization, contacts,
 * attributes with taxonomy terms) or the list form. base_url prefixes area URIs. */
json_t *directory_service_json(const store_dir_service *s, const char *base_url);
json_t *directory_org_json(const store_dir_org *o);
json_t *directory_term_json(const store_dir_term *t);
/* A page object: total_items, total_pages, page_number, size, first_page, last_page,
 * empty, contents (consumed). */
json_t *directory_page_json(int64_t total, int64_t page, int64_t per_page, json_t *contents);
/* The same documents, serialised: appends exactly what json_dumps(JSON_COMPACT) writes
 * for directory_service_json(s, base_url), without building the tree (the API's
 * service pages; the bytes are compared with jansson's in tests/directory). */
void directory_service_write(buf *b, const store_dir_service *s, const char *base_url);
/* Appends the page object of directory_page_json whose contents are items[0..n_items). */
void directory_page_write(buf *b, int64_t total, int64_t page, int64_t per_page,
                          const store_dir_service *items, size_t n_items, const char *base_url);

/* ---- Import and export (oruk.c) ---- */

/* One refused row: where and why. */
typedef struct directory_problem {
    char *where; /* "services[3]" or "line 12" */
    char *why;
} directory_problem;

typedef struct directory_import_report {
    directory_problem *problems;
    size_t n_problems;
    /* Accepted with a change the importer had to make (e.g. coordinates off the globe
     * left out): where and what, so that nothing is dropped without a word. */
    directory_problem *notes;
    size_t n_notes;
    size_t n_orgs, n_services;
    store_dir_import_result result;
} directory_import_report;

/* Parses a feed (HSDS/ORUK JSON — one service, a list page, an array of services or of
 * organisations with services, or {"organizations":..,"services":..,"taxonomies":..,
 * "taxonomy_terms":..} — or the CSV template, told apart by the first non-space byte)
 * and, when every row is acceptable, saves it in one transaction. Returns 0 when saved;
 * -1 when refused, with every problem in the report (nothing saved); -2 when the store
 * failed. Everything is allocated in a. */
int directory_import(store *s, const store_actor *actor, const char *data, size_t len,
                     const char *source, arena *a, directory_import_report *rep);

/* The whole directory: as one JSON document {"organizations":[...], "services":[...
 * fully nested], "taxonomies":[...], "taxonomy_terms":[...]} that directory_import
 * reads back; or as the CSV template (one row per service). 0, or -1 on store failure. */
int directory_export_json(store *s, const char *base_url, arena *a, json_t **out);
int directory_export_csv(store *s, arena *a, buf *out);

/* The CSV template's header row (docs/directory.md describes each column). */
extern const char *const directory_csv_columns[];

/* ---- Demo data (demo.c) ---- */

/* Adds the default taxonomy and the demo organisations and services in Adur and
 * Worthing (invented, marked "(demo)") unless the taxonomy exists. Needs the demo
 * places (place_seed_demo) for service areas. 0, or -1 with err. */
int directory_seed_demo(store *s, const store_actor *actor, char *err, size_t errlen);

/* The uuid of the default taxonomy shipped with the demo data. */
#define DIRECTORY_TAXONOMY_UUID "6d1c3b1e-6a53-4c1e-9a43-2f3c8e0d5a10"

#endif
