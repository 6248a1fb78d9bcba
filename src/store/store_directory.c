/*
 * store_directory: the backend-independent half of the directory contract
 * (directory.h). It checks and normalises every argument (valid text, non-empty names,
 * canonical lowercase uuids, known status), computes the content fingerprint that lets
 * a re-import change nothing, and dispatches to the backend's store_dir_ops.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/rand.h"
#include "core/utf8.h"
#include "store/backend.h"
#include "store/backend_directory.h"

static const store_actor system_actor = {0, NULL};
#define ACTOR(a) ((a) ? (a) : &system_actor)
#define DIR_OPS(s) (store_backend_ops(s)->dir)
#define IMPL(s) store_backend_impl(s)

static const char *const status_names[] = {"active", "inactive", "defunct", "temporarily closed"};

const char *store_dir_status_name(store_dir_status st) {
    return (unsigned)st < 4 ? status_names[st] : "active";
}

int store_dir_status_parse(const char *name, store_dir_status *out) {
    for (int i = 0; name && i < 4; i++)
        if (strcmp(name, status_names[i]) == 0) {
            *out = (store_dir_status)i;
            return 0;
        }
    return -1;
}

/* NULL is fine (means ""); otherwise the contract's text rule. */
static int text_ok(const char *s) { return !s || utf8_valid_text(s, strlen(s)); }

static int name_ok(const char *s) {
    if (!s || !text_ok(s)) return 0;
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 1;
    return 0;
}

/* A canonical lowercase copy of a uuid in a, NULL for NULL; *bad set when malformed. */
static const char *uuid_norm(const char *u, arena *a, int *bad) {
    if (!u) return NULL;
    if (!uuid_valid(u)) {
        *bad = 1;
        return NULL;
    }
    char *c = arena_strdup(a, u);
    for (char *p = c; *p; p++)
        if (*p >= 'A' && *p <= 'F') *p = (char)(*p + 32);
    return c;
}

/* ---- Fingerprints: FNV-1a over every field, with a separator so "ab","c" differs
 * from "a","bc". Not cryptographic: it only tells "same content as last time". ---- */

typedef struct fp {
    uint64_t h;
} fp;

static void fp_bytes(fp *f, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        f->h ^= b[i];
        f->h *= 1099511628211ULL;
    }
}

static void fp_str(fp *f, const char *s) {
    if (s) fp_bytes(f, s, strlen(s));
    fp_bytes(f, "\x1f", 1);
}

static void fp_int(fp *f, int64_t v) { fp_bytes(f, &v, sizeof v); }

static const char *fp_text(fp *f, arena *a) {
    return arena_sprintf(a, "%016llx", (unsigned long long)f->h);
}

static const char *org_fingerprint(const store_dir_org *o, arena *a) {
    fp f = {1469598103934665603ULL};
    fp_str(&f, o->name);
    fp_str(&f, o->description);
    fp_str(&f, o->website);
    fp_str(&f, o->email);
    fp_str(&f, o->phone);
    fp_str(&f, o->identifier_type);
    fp_str(&f, o->identifier);
    return fp_text(&f, a);
}

static const char *svc_fingerprint(const store_dir_service *s, arena *a) {
    fp f = {1469598103934665603ULL};
    fp_int(&f, s->org_id);
    fp_str(&f, s->org_uuid);
    fp_str(&f, s->name);
    fp_str(&f, s->description);
    fp_str(&f, s->url);
    fp_str(&f, s->email);
    fp_str(&f, s->phone);
    fp_int(&f, s->status);
    fp_str(&f, s->eligibility);
    fp_str(&f, s->fees);
    for (size_t i = 0; i < s->n_terms; i++) {
        fp_str(&f, s->terms[i].uuid);
        fp_str(&f, s->terms[i].attr_uuid);
    }
    for (size_t i = 0; i < s->n_locations; i++) {
        const store_dir_location *l = &s->locations[i];
        fp_str(&f, l->uuid);
        fp_str(&f, l->sal_uuid);
        fp_str(&f, l->name);
        fp_str(&f, l->description);
        fp_str(&f, l->address_1);
        fp_str(&f, l->city);
        fp_str(&f, l->postcode);
        fp_str(&f, l->country);
        fp_int(&f, l->has_coords);
        if (l->has_coords) {
            fp_bytes(&f, &l->latitude, sizeof l->latitude);
            fp_bytes(&f, &l->longitude, sizeof l->longitude);
        }
        fp_str(&f, l->accessibility);
    }
    for (size_t i = 0; i < s->n_schedules; i++) {
        const store_dir_schedule *h = &s->schedules[i];
        fp_str(&f, h->uuid);
        fp_str(&f, h->freq);
        fp_int(&f, h->interval);
        fp_str(&f, h->byday);
        fp_str(&f, h->bymonthday);
        fp_str(&f, h->opens_at);
        fp_str(&f, h->closes_at);
        fp_str(&f, h->valid_from);
        fp_str(&f, h->valid_to);
        fp_str(&f, h->dtstart);
        fp_str(&f, h->description);
    }
    for (size_t i = 0; i < s->n_contacts; i++) {
        fp_str(&f, s->contacts[i].uuid);
        fp_str(&f, s->contacts[i].name);
        fp_str(&f, s->contacts[i].title);
        fp_str(&f, s->contacts[i].email);
        fp_str(&f, s->contacts[i].phone);
    }
    for (size_t i = 0; i < s->n_languages; i++) {
        fp_str(&f, s->languages[i].uuid);
        fp_str(&f, s->languages[i].name);
        fp_str(&f, s->languages[i].code);
    }
    for (size_t i = 0; i < s->n_areas; i++) {
        fp_str(&f, s->areas[i].uuid);
        fp_int(&f, s->areas[i].place_id);
        fp_str(&f, s->areas[i].place_uuid);
    }
    return fp_text(&f, a);
}

/* ---- Normalising inputs --------------------------------------------------------- */

static int org_norm(const store_dir_org *in, arena *a, store_dir_org *o) {
    int bad = 0;
    *o = *in;
    if (!name_ok(in->name)) return STORE_INVALID;
    const char *texts[] = {in->description, in->website,         in->email,
                           in->phone,       in->identifier_type, in->identifier};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!text_ok(texts[i])) return STORE_INVALID;
    o->uuid = uuid_norm(in->uuid, a, &bad);
    if (bad) return STORE_INVALID;
    o->fingerprint = org_fingerprint(o, a);
    return STORE_OK;
}

static int svc_norm(const store_dir_service *in, arena *a, store_dir_service *s) {
    int bad = 0;
    *s = *in;
    if (!name_ok(in->name)) return STORE_INVALID;
    if ((unsigned)in->status > STORE_DIR_TEMPORARILY_CLOSED) return STORE_INVALID;
    const char *texts[] = {in->description, in->url,         in->email,
                           in->phone,       in->eligibility, in->fees};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (!text_ok(texts[i])) return STORE_INVALID;
    s->uuid = uuid_norm(in->uuid, a, &bad);
    s->org_uuid = uuid_norm(in->org_uuid, a, &bad);
    if (bad || (!s->org_id && !s->org_uuid)) return STORE_INVALID;
    if (in->n_terms) {
        store_dir_term_ref *t = arena_calloc(a, in->n_terms, sizeof *t);
        for (size_t i = 0; i < in->n_terms; i++) {
            t[i] = in->terms[i];
            t[i].uuid = uuid_norm(in->terms[i].uuid, a, &bad);
            t[i].attr_uuid = uuid_norm(in->terms[i].attr_uuid, a, &bad);
            if (!t[i].uuid) bad = 1;
        }
        s->terms = t;
    }
    if (in->n_locations) {
        store_dir_location *l = arena_calloc(a, in->n_locations, sizeof *l);
        for (size_t i = 0; i < in->n_locations; i++) {
            l[i] = in->locations[i];
            l[i].uuid = uuid_norm(l[i].uuid, a, &bad);
            l[i].sal_uuid = uuid_norm(l[i].sal_uuid, a, &bad);
            const char *t[] = {l[i].name,     l[i].description, l[i].address_1,    l[i].city,
                               l[i].postcode, l[i].country,     l[i].accessibility};
            for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
                if (!text_ok(t[k])) bad = 1;
            if (l[i].has_coords && (!(l[i].latitude >= -90 && l[i].latitude <= 90) ||
                                    !(l[i].longitude >= -180 && l[i].longitude <= 180)))
                bad = 1;
        }
        s->locations = l;
    }
    if (in->n_schedules) {
        store_dir_schedule *h = arena_calloc(a, in->n_schedules, sizeof *h);
        for (size_t i = 0; i < in->n_schedules; i++) {
            h[i] = in->schedules[i];
            h[i].uuid = uuid_norm(h[i].uuid, a, &bad);
            const char *t[] = {h[i].freq,     h[i].byday,     h[i].bymonthday,
                               h[i].opens_at, h[i].closes_at, h[i].valid_from,
                               h[i].valid_to, h[i].dtstart,   h[i].description};
            for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
                if (!text_ok(t[k])) bad = 1;
            if (h[i].interval < 0) bad = 1;
        }
        s->schedules = h;
    }
    if (in->n_contacts) {
        store_dir_contact *x = arena_calloc(a, in->n_contacts, sizeof *x);
        for (size_t i = 0; i < in->n_contacts; i++) {
            x[i] = in->contacts[i];
            x[i].uuid = uuid_norm(x[i].uuid, a, &bad);
            if (!text_ok(x[i].name) || !text_ok(x[i].title) || !text_ok(x[i].email) ||
                !text_ok(x[i].phone))
                bad = 1;
        }
        s->contacts = x;
    }
    if (in->n_languages) {
        store_dir_language *g = arena_calloc(a, in->n_languages, sizeof *g);
        for (size_t i = 0; i < in->n_languages; i++) {
            g[i] = in->languages[i];
            g[i].uuid = uuid_norm(g[i].uuid, a, &bad);
            if (!text_ok(g[i].name) || !text_ok(g[i].code)) bad = 1;
        }
        s->languages = g;
    }
    if (in->n_areas) {
        store_dir_area *r = arena_calloc(a, in->n_areas, sizeof *r);
        for (size_t i = 0; i < in->n_areas; i++) {
            r[i] = in->areas[i];
            r[i].uuid = uuid_norm(r[i].uuid, a, &bad);
            r[i].place_uuid = uuid_norm(r[i].place_uuid, a, &bad);
            if (!r[i].place_id && !r[i].place_uuid) bad = 1;
        }
        s->areas = r;
    }
    if (bad) return STORE_INVALID;
    s->fingerprint = svc_fingerprint(s, a);
    return STORE_OK;
}

static int tax_norm(const store_dir_taxonomy *in, arena *a, store_dir_taxonomy *t) {
    int bad = 0;
    *t = *in;
    if (!name_ok(in->name) || !text_ok(in->description) || !text_ok(in->uri) ||
        !text_ok(in->version))
        return STORE_INVALID;
    t->uuid = uuid_norm(in->uuid, a, &bad);
    return bad ? STORE_INVALID : STORE_OK;
}

static int term_norm(const store_dir_term *in, arena *a, store_dir_term *t) {
    int bad = 0;
    *t = *in;
    if (!name_ok(in->name) || !text_ok(in->code) || !text_ok(in->description)) return STORE_INVALID;
    t->uuid = uuid_norm(in->uuid, a, &bad);
    t->taxonomy_uuid = uuid_norm(in->taxonomy_uuid, a, &bad);
    t->parent_uuid = uuid_norm(in->parent_uuid, a, &bad);
    if (bad || !t->taxonomy_uuid) return STORE_INVALID;
    if (t->uuid && t->parent_uuid && strcmp(t->uuid, t->parent_uuid) == 0) return STORE_INVALID;
    return STORE_OK;
}

/* ---- Organisations -------------------------------------------------------------- */

int store_dir_org_save(store *s, const store_actor *actor, const store_dir_org *in, arena *a,
                       store_dir_org *out) {
    arena tmp;
    arena_init(&tmp, 1024);
    store_dir_org o;
    int rc = org_norm(in, &tmp, &o);
    if (rc == STORE_OK) rc = DIR_OPS(s)->org_save(IMPL(s), ACTOR(actor), &o, a, out);
    arena_free(&tmp);
    return rc;
}

/* Look-ups by uuid: a malformed uuid was never stored. */
#define LOOKUP_UUID(call)                                                                          \
    do {                                                                                           \
        if (!uuid || !uuid_valid(uuid)) return STORE_NOT_FOUND;                                    \
        char lc[UUID_STR_LEN];                                                                     \
        for (int i_ = 0; i_ < UUID_STR_LEN; i_++)                                                  \
            lc[i_] = (uuid[i_] >= 'A' && uuid[i_] <= 'F') ? (char)(uuid[i_] + 32) : uuid[i_];      \
        return call;                                                                               \
    } while (0)

int store_dir_org_by_uuid(store *s, const char *uuid, arena *a, store_dir_org *out) {
    LOOKUP_UUID(DIR_OPS(s)->org_by_uuid(IMPL(s), lc, a, out));
}

int store_dir_org_by_id(store *s, int64_t id, arena *a, store_dir_org *out) {
    return DIR_OPS(s)->org_by_id(IMPL(s), id, a, out);
}

int store_dir_org_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                            store_dir_org_list *out) {
    if (offset < 0 || limit < 0) return STORE_INVALID;
    return DIR_OPS(s)->org_list_page(IMPL(s), offset, limit, a, out);
}

/* ---- Membership ----------------------------------------------------------------- */

int store_dir_member_add(store *s, const store_actor *actor, int64_t org_id, int64_t user_id) {
    return DIR_OPS(s)->member_add(IMPL(s), ACTOR(actor), org_id, user_id);
}

int store_dir_member_remove(store *s, const store_actor *actor, int64_t org_id, int64_t user_id) {
    return DIR_OPS(s)->member_remove(IMPL(s), ACTOR(actor), org_id, user_id);
}

int store_dir_member_check(store *s, int64_t org_id, int64_t user_id) {
    return DIR_OPS(s)->member_check(IMPL(s), org_id, user_id);
}

int store_dir_members(store *s, int64_t org_id, arena *a, store_user_list *out) {
    return DIR_OPS(s)->members(IMPL(s), org_id, a, out);
}

int store_dir_orgs_of_user(store *s, int64_t user_id, arena *a, store_dir_org_list *out) {
    return DIR_OPS(s)->orgs_of_user(IMPL(s), user_id, a, out);
}

/* ---- Taxonomy ------------------------------------------------------------------- */

int store_dir_taxonomy_save(store *s, const store_actor *actor, const store_dir_taxonomy *in,
                            arena *a, store_dir_taxonomy *out) {
    arena tmp;
    arena_init(&tmp, 512);
    store_dir_taxonomy t;
    int rc = tax_norm(in, &tmp, &t);
    if (rc == STORE_OK) rc = DIR_OPS(s)->taxonomy_save(IMPL(s), ACTOR(actor), &t, a, out);
    arena_free(&tmp);
    return rc;
}

int store_dir_term_save(store *s, const store_actor *actor, const store_dir_term *in, arena *a,
                        store_dir_term *out) {
    arena tmp;
    arena_init(&tmp, 512);
    store_dir_term t;
    int rc = term_norm(in, &tmp, &t);
    if (rc == STORE_OK) rc = DIR_OPS(s)->term_save(IMPL(s), ACTOR(actor), &t, a, out);
    arena_free(&tmp);
    return rc;
}

int store_dir_taxonomies(store *s, arena *a, store_dir_taxonomy_list *out) {
    return DIR_OPS(s)->taxonomy_list(IMPL(s), a, out);
}

int store_dir_terms(store *s, const char *taxonomy_uuid, arena *a, store_dir_term_list *out) {
    if (taxonomy_uuid && !uuid_valid(taxonomy_uuid)) {
        out->items = NULL;
        out->n = 0;
        return STORE_OK;
    }
    return DIR_OPS(s)->term_list(IMPL(s), taxonomy_uuid, a, out);
}

int store_dir_term_by_uuid(store *s, const char *uuid, arena *a, store_dir_term *out) {
    LOOKUP_UUID(DIR_OPS(s)->term_by_uuid(IMPL(s), lc, a, out));
}

int store_dir_taxonomy_by_uuid(store *s, const char *uuid, arena *a, store_dir_taxonomy *out) {
    LOOKUP_UUID(DIR_OPS(s)->taxonomy_by_uuid(IMPL(s), lc, a, out));
}

/* ---- Services ------------------------------------------------------------------- */

int store_dir_service_save(store *s, const store_actor *actor, const store_dir_service *in,
                           arena *a, store_dir_service *out) {
    arena tmp;
    arena_init(&tmp, 4096);
    store_dir_service v;
    int rc = svc_norm(in, &tmp, &v);
    if (rc == STORE_OK) rc = DIR_OPS(s)->service_save(IMPL(s), ACTOR(actor), &v, a, out);
    arena_free(&tmp);
    return rc;
}

int store_dir_service_by_uuid(store *s, const char *uuid, arena *a, store_dir_service *out) {
    LOOKUP_UUID(DIR_OPS(s)->service_by_uuid(IMPL(s), lc, a, out));
}

int store_dir_service_search(store *s, const store_dir_query *q, arena *a,
                             store_dir_service_list *out) {
    if (q->offset < 0 || q->limit < 0 || !text_ok(q->text) || !text_ok(q->postcode))
        return STORE_INVALID;
    if (q->near && !(q->radius_m >= 0)) return STORE_INVALID;
    store_dir_query v = *q;
    char term[UUID_STR_LEN], org[UUID_STR_LEN];
    /* Unknown (malformed) ids match nothing rather than everything. */
    if (q->term_uuid) {
        if (!uuid_valid(q->term_uuid)) goto empty;
        for (int i = 0; i < UUID_STR_LEN; i++)
            term[i] = (q->term_uuid[i] >= 'A' && q->term_uuid[i] <= 'F')
                          ? (char)(q->term_uuid[i] + 32)
                          : q->term_uuid[i];
        v.term_uuid = term;
    }
    if (q->org_uuid) {
        if (!uuid_valid(q->org_uuid)) goto empty;
        for (int i = 0; i < UUID_STR_LEN; i++)
            org[i] = (q->org_uuid[i] >= 'A' && q->org_uuid[i] <= 'F') ? (char)(q->org_uuid[i] + 32)
                                                                      : q->org_uuid[i];
        v.org_uuid = org;
    }
    if (v.text && !*v.text) v.text = NULL;
    return DIR_OPS(s)->service_search(IMPL(s), &v, a, out);
empty:
    out->items = NULL;
    out->n = 0;
    out->total = 0;
    return STORE_OK;
}

int store_dir_service_related(store *s, int64_t service_id, int64_t limit, arena *a,
                              store_dir_service_list *out) {
    if (limit < 0) return STORE_INVALID;
    return DIR_OPS(s)->service_related(IMPL(s), service_id, limit, a, out);
}

int store_dir_postcode_centre(store *s, const char *postcode, double *lat, double *lon) {
    if (!postcode || !*postcode || !text_ok(postcode)) return STORE_NOT_FOUND;
    return DIR_OPS(s)->postcode_centre(IMPL(s), postcode, lat, lon);
}

/* ---- Import --------------------------------------------------------------------- */

int store_dir_import(store *s, const store_actor *actor, const store_dir_feed *feed,
                     store_dir_import_result *res) {
    arena tmp;
    arena_init(&tmp, 1 << 16);
    store_dir_feed v = *feed;
    int rc = STORE_OK;
    memset(res, 0, sizeof *res);
    if (feed->n_taxonomies) {
        store_dir_taxonomy *t = arena_calloc(&tmp, feed->n_taxonomies, sizeof *t);
        for (size_t i = 0; i < feed->n_taxonomies && rc == STORE_OK; i++) {
            rc = tax_norm(&feed->taxonomies[i], &tmp, &t[i]);
            if (rc == STORE_OK && !t[i].uuid) rc = STORE_INVALID;
        }
        if (rc != STORE_OK) res->bad_index = INT64_MIN;
        v.taxonomies = t;
    }
    if (feed->n_terms && rc == STORE_OK) {
        store_dir_term *t = arena_calloc(&tmp, feed->n_terms, sizeof *t);
        for (size_t i = 0; i < feed->n_terms && rc == STORE_OK; i++) {
            rc = term_norm(&feed->terms[i], &tmp, &t[i]);
            if (rc == STORE_OK && !t[i].uuid) rc = STORE_INVALID;
        }
        if (rc != STORE_OK) res->bad_index = INT64_MIN;
        v.terms = t;
    }
    if (feed->n_orgs && rc == STORE_OK) {
        store_dir_org *o = arena_calloc(&tmp, feed->n_orgs, sizeof *o);
        for (size_t i = 0; i < feed->n_orgs && rc == STORE_OK; i++) {
            rc = org_norm(&feed->orgs[i], &tmp, &o[i]);
            if (rc != STORE_OK) res->bad_index = -1 - (int64_t)i;
        }
        v.orgs = o;
    }
    if (feed->n_services && rc == STORE_OK) {
        store_dir_service *sv = arena_calloc(&tmp, feed->n_services, sizeof *sv);
        for (size_t i = 0; i < feed->n_services && rc == STORE_OK; i++) {
            rc = svc_norm(&feed->services[i], &tmp, &sv[i]);
            if (rc != STORE_OK) res->bad_index = (int64_t)i;
        }
        v.services = sv;
    }
    if (v.source && !text_ok(v.source)) v.source = "";
    if (rc == STORE_OK) rc = DIR_OPS(s)->import(IMPL(s), ACTOR(actor), &v, res);
    arena_free(&tmp);
    return rc;
}
