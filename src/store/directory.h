/*
 * directory: the storage contract of the community directory (issue 3): organisations,
 * their services and activities, locations, schedules, the taxonomy, service areas
 * linked to places, and which organisers belong to which organisation. Names follow
 * Open Referral HSDS 3.0 (organization, service, location, service_at_location,
 * schedule, taxonomy, taxonomy_term, service_area), so the ORUK API is a direct view.
 *
 * Conventions are those of store.h: every function is one transaction; every change
 * appends its audit entry in that transaction (actions "directory.organization.create",
 * "directory.organization.update", "directory.service.create", "directory.service.update",
 * "directory.taxonomy.save", "directory.term.save", "directory.member.add",
 * "directory.member.remove", "directory.import"); results live in the caller's arena;
 * output structs are written only on STORE_OK; text must be valid UTF-8 without NUL or
 * control characters other than tab/CR/LF (else STORE_INVALID for a change,
 * STORE_NOT_FOUND for a look-up); times are epoch seconds UTC.
 *
 * Structs serve as both input and output: a caller fills the fields it knows (NULL text
 * = empty), the store fills ids, times and names of related rows on output. Strings are
 * const because the store never writes through a caller's pointers.
 *
 * Public ids are UUIDs (canonical lowercase text). A save with a uuid that exists
 * updates that row; a save with a uuid that does not exist creates the row under that
 * uuid (this is how an imported feed keeps its ids and how a re-import updates instead
 * of duplicating); uuid NULL creates a row with a fresh UUIDv4.
 */
#ifndef CG_STORE_DIRECTORY_H
#define CG_STORE_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "store/store.h"

/* ---- Organisations -------------------------------------------------------------- */

typedef struct store_dir_org {
    int64_t id;       /* internal; 0 on input */
    const char *uuid; /* NULL on input = new */
    const char *name; /* required, non-empty */
    const char *description;
    const char *website; /* absolute http(s) URL or "" (checked above the store) */
    const char *email;
    const char *phone;
    const char *identifier_type; /* e.g. "charity_number", "company_number"; "" = none */
    const char *identifier;      /* the number itself */
    int64_t service_count;       /* output: services of this organisation */
    const char *fingerprint;     /* output: digest of the saved content (set by the store;
                                    a save with the same content changes nothing) */
    int64_t created_at, updated_at;
    int64_t updated_by; /* user id of the last editor, 0 = system */
} store_dir_org;

typedef struct store_dir_org_list {
    store_dir_org *items;
    size_t n;
    int64_t total; /* matching rows in all, for paging */
} store_dir_org_list;

/* Creates or updates (see the file comment) an organisation; audit
 * "directory.organization.create" or ".update" with the changed fields. STORE_INVALID for
 * an empty name or bad text. *out (may be NULL) receives the saved row. */
int store_dir_org_save(store *s, const store_actor *actor, const store_dir_org *in, arena *a,
                       store_dir_org *out);
int store_dir_org_by_uuid(store *s, const char *uuid, arena *a, store_dir_org *out);
int store_dir_org_by_id(store *s, int64_t id, arena *a, store_dir_org *out);
/* Organisations by name (then id), with service counts. limit 0 = only the total. */
int store_dir_org_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                            store_dir_org_list *out);

/* ---- Membership of organisers ---------------------------------------------------- */

/* Makes user_id a member of org_id (idempotent: STORE_OK and no audit entry when already
 * one); audit "directory.member.add". STORE_NOT_FOUND for an unknown user or organisation. */
int store_dir_member_add(store *s, const store_actor *actor, int64_t org_id, int64_t user_id);
/* Removes the membership; audit "directory.member.remove". STORE_NOT_FOUND when none. */
int store_dir_member_remove(store *s, const store_actor *actor, int64_t org_id, int64_t user_id);
/* STORE_OK when user_id belongs to org_id, STORE_NOT_FOUND otherwise. */
int store_dir_member_check(store *s, int64_t org_id, int64_t user_id);
/* The members of an organisation (users ordered by display name). */
int store_dir_members(store *s, int64_t org_id, arena *a, store_user_list *out);
/* The organisations user_id belongs to (ordered by name). */
int store_dir_orgs_of_user(store *s, int64_t user_id, arena *a, store_dir_org_list *out);

/* ---- Taxonomy ------------------------------------------------------------------- */

typedef struct store_dir_taxonomy {
    int64_t id;
    const char *uuid;
    const char *name; /* required */
    const char *description;
    const char *uri;
    const char *version;
} store_dir_taxonomy;

typedef struct store_dir_term {
    int64_t id;
    const char *uuid;
    const char *taxonomy_uuid; /* input: required, an existing taxonomy */
    const char *taxonomy_name; /* output */
    const char *parent_uuid;   /* NULL = top-level term; on input must exist already */
    const char *code;          /* the term's code in its taxonomy, e.g. "food" */
    const char *name;          /* required */
    const char *description;
    int64_t service_count; /* output of store_dir_terms: services tagged with it */
} store_dir_term;

typedef struct store_dir_taxonomy_list {
    store_dir_taxonomy *items;
    size_t n;
} store_dir_taxonomy_list;

typedef struct store_dir_term_list {
    store_dir_term *items;
    size_t n;
} store_dir_term_list;

/* Create-or-update by uuid; audit "directory.taxonomy.save" / "directory.term.save".
 * A term's parent must be in the same taxonomy and may not be the term itself or one of
 * its descendants (STORE_INVALID). */
int store_dir_taxonomy_save(store *s, const store_actor *actor, const store_dir_taxonomy *in,
                            arena *a, store_dir_taxonomy *out);
int store_dir_term_save(store *s, const store_actor *actor, const store_dir_term *in, arena *a,
                        store_dir_term *out);
/* Every taxonomy, by name. */
int store_dir_taxonomies(store *s, arena *a, store_dir_taxonomy_list *out);
/* Every term of every taxonomy (taxonomy name, then term name), with service counts.
 * taxonomy_uuid non-NULL restricts to one taxonomy. */
int store_dir_terms(store *s, const char *taxonomy_uuid, arena *a, store_dir_term_list *out);
int store_dir_term_by_uuid(store *s, const char *uuid, arena *a, store_dir_term *out);
int store_dir_taxonomy_by_uuid(store *s, const char *uuid, arena *a, store_dir_taxonomy *out);

/* ---- Services ------------------------------------------------------------------- */

/* A place where services happen (HSDS location with one physical address). Locations
 * are shared: two services naming the same location uuid meet in the same hall. */
typedef struct store_dir_location {
    const char *uuid; /* NULL on input = new */
    const char *name;
    const char *description;
    const char *address_1;
    const char *city;
    const char *postcode; /* UK postcode as written, e.g. "BN11 1HA" */
    const char *country;  /* ISO 3166-1 alpha-2, default "GB" */
    int has_coords;       /* latitude/longitude given */
    double latitude, longitude;
    const char *accessibility; /* free text: step-free access, hearing loop, ... */
    const char *sal_uuid;      /* the service_at_location uuid; NULL on input = new */
} store_dir_location;

/* HSDS 3.0 schedule (RFC 5545 recurrence fields). Text as in HSDS: freq "WEEKLY" or
 * "MONTHLY"; byday "MO,TU" or "2TU" / "-1FR"; bymonthday "1,15"; opens_at/closes_at
 * "HH:MM"; valid_from/valid_to/dtstart "YYYY-MM-DD". "" = not given. */
typedef struct store_dir_schedule {
    const char *uuid;
    const char *freq;
    int64_t interval; /* 0 = not given (means 1) */
    const char *byday;
    const char *bymonthday;
    const char *opens_at;
    const char *closes_at;
    const char *valid_from;
    const char *valid_to;
    const char *dtstart;
    const char *description;
} store_dir_schedule;

typedef struct store_dir_contact {
    const char *uuid;
    const char *name;
    const char *title;
    const char *email;
    const char *phone;
} store_dir_contact;

typedef struct store_dir_language {
    const char *uuid;
    const char *name; /* "English", "Cymraeg" */
    const char *code; /* ISO 639, "en", "cy" */
} store_dir_language;

/* A service area: one Place (store_place) the service serves. */
typedef struct store_dir_area {
    const char *uuid; /* the service_area row */
    int64_t place_id; /* input: an existing place, or 0 and place_uuid */
    const char *place_uuid;
    const char *name;     /* output: the place's name */
    const char *gss_code; /* output: the place's ONS code, NULL when none */
} store_dir_area;

/* A category of a service: a taxonomy term, given by uuid. */
typedef struct store_dir_term_ref {
    const char *uuid; /* input: an existing term; the attribute's own uuid is
                         attr_uuid (NULL on input = new) */
    const char *attr_uuid;
    const char *code;          /* output */
    const char *name;          /* output */
    const char *description;   /* output */
    const char *parent_uuid;   /* output */
    const char *taxonomy_uuid; /* output */
    const char *taxonomy_name; /* output */
} store_dir_term_ref;

typedef enum {
    STORE_DIR_ACTIVE = 0,
    STORE_DIR_INACTIVE = 1,
    STORE_DIR_DEFUNCT = 2,
    STORE_DIR_TEMPORARILY_CLOSED = 3
} store_dir_status;

/* "active", "inactive", "defunct", "temporarily closed" (the HSDS values). */
const char *store_dir_status_name(store_dir_status st);
int store_dir_status_parse(const char *name, store_dir_status *out);

typedef struct store_dir_service {
    int64_t id;
    const char *uuid;
    int64_t org_id; /* input: an existing organisation, or 0 and org_uuid */
    const char *org_uuid;
    const char *org_name;        /* output */
    const char *org_description; /* output */
    const char *name;            /* required */
    const char *description;
    const char *url;
    const char *email;
    const char *phone;
    store_dir_status status;
    const char *eligibility; /* who it is for, in words */
    const char *fees;        /* cost, in words ("Free", "£2 a session") */
    int64_t created_at, updated_at;
    int64_t updated_by;
    const char *updated_by_name; /* output: display name of updated_by, NULL for system */
    const char *fingerprint;     /* as for store_dir_org */

    /* Children: on input they replace the service's current ones (rows keep their uuid
     * when the same uuid is given again). */
    store_dir_term_ref *terms;
    size_t n_terms;
    store_dir_location *locations;
    size_t n_locations;
    store_dir_schedule *schedules;
    size_t n_schedules;
    store_dir_contact *contacts;
    size_t n_contacts;
    store_dir_language *languages;
    size_t n_languages;
    store_dir_area *areas;
    size_t n_areas;
} store_dir_service;

typedef struct store_dir_service_list {
    store_dir_service *items;
    size_t n;
    int64_t total;
} store_dir_service_list;

/* Creates or updates a service with all its children; audit "directory.service.create" or
 * ".update". STORE_INVALID for an empty name, an unknown organisation, term or place, or
 * bad text; nothing is changed then. *out (may be NULL) receives the saved service,
 * children included. */
int store_dir_service_save(store *s, const store_actor *actor, const store_dir_service *in,
                           arena *a, store_dir_service *out);
/* A service with every child. */
int store_dir_service_by_uuid(store *s, const char *uuid, arena *a, store_dir_service *out);

/* What store_dir_service_search selects. Zero/NULL fields do not filter. */
typedef struct store_dir_query {
    const char *text;       /* full-text: every word must match a name, description,
                               category or organisation name (prefix match); ranked by
                               relevance (BM25), else ordered by name */
    const char *term_uuid;  /* services in this term or a term below it */
    const char *org_uuid;   /* services of this organisation */
    int64_t place_id;       /* services whose areas overlap this place: an area that is
                               the place, lies within it, or contains it */
    int64_t modified_after; /* updated_at > this (0 = no filter) */
    const char *postcode;   /* locations whose postcode starts with this, ignoring case
                               and spaces ("BN11" or "BN11 1HA") */
    int near;               /* with lat/lon/radius_m: a location within radius_m metres */
    double lat, lon, radius_m;
    int active_only;       /* status active only */
    int with_children;     /* fill every child list (the API); else only terms, areas,
                              locations and schedules (enough for pages, the map and
                              similarity) */
    int64_t offset, limit; /* limit 0 = only the total */
} store_dir_query;

int store_dir_service_search(store *s, const store_dir_query *q, arena *a,
                             store_dir_service_list *out);

/* Services that could duplicate or partner with service_id: those sharing a term, a
 * parent term or a sibling term with it, excluding itself, at most limit, with terms,
 * areas, locations and schedules filled. The caller ranks them (src/directory/similar.h). */
int store_dir_service_related(store *s, int64_t service_id, int64_t limit, arena *a,
                              store_dir_service_list *out);

/* The mean coordinates of locations whose postcode starts with postcode (as in
 * store_dir_query): STORE_OK and the centre, or STORE_NOT_FOUND when none has coords. */
int store_dir_postcode_centre(store *s, const char *postcode, double *lat, double *lon);

/* ---- Import --------------------------------------------------------------------- */

/* A whole feed, saved in ONE transaction: every taxonomy, then every term (in order, so
 * parents come first), then every organisation, then every service (whose org_id is 0
 * and org_uuid names an organisation of the feed or of the database). Rows are matched
 * by uuid, so importing the same feed twice changes nothing the second time.
 * On any failure nothing is saved: the result is STORE_INVALID with *bad_index set to
 * the index of the first service (or -1-index of the organisation, or INT64_MIN for a
 * taxonomy/term) that was refused, or STORE_ERROR. One audit entry per created or
 * changed row plus one "directory.import" entry with the counts. */
typedef struct store_dir_feed {
    store_dir_taxonomy *taxonomies;
    size_t n_taxonomies;
    store_dir_term *terms;
    size_t n_terms;
    store_dir_org *orgs;
    size_t n_orgs;
    store_dir_service *services;
    size_t n_services;
    const char *source; /* file name, recorded in the import audit entry */
} store_dir_feed;

typedef struct store_dir_import_result {
    int64_t created, updated, unchanged; /* organisations + services */
    int64_t bad_index;
} store_dir_import_result;

int store_dir_import(store *s, const store_actor *actor, const store_dir_feed *feed,
                     store_dir_import_result *res);

#endif
