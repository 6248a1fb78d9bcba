/*
 * store_directory: the directory contract (directory.h), written once for every
 * backend. It checks and normalises every argument (valid text, non-empty names,
 * canonical lowercase uuids, known status), computes the content fingerprint that lets
 * a re-import change nothing, and runs each operation as one transaction with its
 * audit entries: the look-ups, the comparisons, the audit details, the counting of an
 * import and the mapping of rows into structs are here. It reaches the database only
 * through the backend's store_dir_ops (backend_directory.h): the SQL text of each
 * statement, executing it, transactions, the full-text index and the search.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* A valid uuid u lowercased into out (UUID_STR_LEN bytes, NUL included); out. */
static const char *uuid_lower(const char *u, char *out) {
    for (int i = 0; i < UUID_STR_LEN; i++)
        out[i] = (u[i] >= 'A' && u[i] <= 'F') ? (char)(u[i] + 32) : u[i];
    return out;
}

/* A canonical lowercase copy of a uuid in a, NULL for NULL; *bad set when malformed. */
static const char *uuid_norm(const char *u, arena *a, int *bad) {
    if (!u) return NULL;
    if (!uuid_valid(u)) {
        *bad = 1;
        return NULL;
    }
    return uuid_lower(u, arena_alloc(a, UUID_STR_LEN));
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

/* ---- Running statements --------------------------------------------------------- */

#define ST STORE_ST

/* This thread's connection of the store's backend. */
static int dconn(store *s, store_conn *c) {
    return DIR_OPS(s)->conn(IMPL(s), c) == STORE_OK ? STORE_OK : STORE_ERROR;
}

#define DCONN(s)                                                                                   \
    store_conn cc;                                                                                 \
    store_conn *c = &cc;                                                                           \
    if (dconn(s, c) != STORE_OK) return STORE_ERROR

/* A read transaction (one snapshot), or a write one holding the directory's lock: one
 * directory writer at a time, so read-then-write steps (fingerprints, the term tree)
 * need no further isolation. */
static int tx_begin(store_conn *c, int write) {
    int rc = c->ops->begin(c, write ? STORE_TX_WRITE : STORE_TX_READ);
    if (rc == STORE_OK && write && c->ops->lock(c, STORE_LOCK_DIRECTORY, NULL) != STORE_OK) {
        c->ops->end(c, STORE_ERROR);
        rc = STORE_ERROR;
    }
    return rc;
}

static int tx_end(store_conn *c, int rc) { return c->ops->end(c, rc); }

/* As store_run_done, keeping the result for changes(); the caller st_done()s. */
static int run_keep(store_conn *c, store_st *s, const char *what) {
    s->what = what;
    return pstep(c, s) == STORE_STEP_ERR ? s->rc : STORE_OK;
}

#define run_done store_run_done
#define run_int64 store_run_int64

static int64_t now_utc(void) { return (int64_t)time(NULL); }

static const char *uuid_or_new(const char *u, arena *a) {
    if (u) return u;
    char fresh[UUID_STR_LEN];
    uuid_v4(fresh);
    return arena_strdup(a, fresh);
}

/* Adds {"field":{"from":..,"to":..}} to the audit detail d when the two differ; NULL
 * counts as "", as directory text is never NULL. */
static void diff(json_t *d, const char *field, const char *from, const char *to) {
    if (!from) from = "";
    if (!to) to = "";
    if (strcmp(from, to) == 0) return;
    json_t *o = json_object();
    json_object_set_new(o, "from", json_string(from));
    json_object_set_new(o, "to", json_string(to));
    json_object_set_new(d, field, o);
}

/* ---- Rows into structs ---------------------------------------------------------- */

static void read_org(const store_st *st, arena *a, void *out) {
    store_dir_org *o = out;
    o->id = cint(st, 0);
    o->uuid = ct(st, 1, a);
    o->name = ct_empty(st, 2, a);
    o->description = ct_empty(st, 3, a);
    o->website = ct_empty(st, 4, a);
    o->email = ct_empty(st, 5, a);
    o->phone = ct_empty(st, 6, a);
    o->identifier_type = ct_empty(st, 7, a);
    o->identifier = ct_empty(st, 8, a);
    o->service_count = cint(st, 9);
    o->created_at = cint(st, 10);
    o->updated_at = cint(st, 11);
    o->updated_by = cint(st, 12);
    o->fingerprint = ct_empty(st, 13, a);
}

static void read_member(const store_st *st, arena *a, void *out) {
    store_user *u = out;
    u->id = cint(st, 0);
    u->uuid = (char *)ct(st, 1, a);
    u->email = (char *)ct(st, 2, a);
    u->display_name = (char *)ct(st, 3, a);
    u->password_hash = NULL;
    const char *role = ct(st, 4, a);
    if (!role || store_role_parse(role, &u->role) != 0) u->role = STORE_ROLE_RESIDENT;
    u->created_at = cint(st, 5);
}

static void read_tax(const store_st *st, arena *a, void *out) {
    store_dir_taxonomy *t = out;
    t->id = cint(st, 0);
    t->uuid = ct(st, 1, a);
    t->name = ct_empty(st, 2, a);
    t->description = ct_empty(st, 3, a);
    t->uri = ct_empty(st, 4, a);
    t->version = ct_empty(st, 5, a);
}

static void read_term(const store_st *st, arena *a, void *out) {
    store_dir_term *t = out;
    t->id = cint(st, 0);
    t->uuid = ct(st, 1, a);
    t->taxonomy_uuid = ct(st, 2, a);
    t->taxonomy_name = ct(st, 3, a);
    t->parent_uuid = ct(st, 4, a);
    t->code = ct_empty(st, 5, a);
    t->name = ct_empty(st, 6, a);
    t->description = ct_empty(st, 7, a);
    t->service_count = cint(st, 8);
}

static void read_svc(const store_st *st, arena *a, void *out) {
    store_dir_service *s = out;
    memset(s, 0, sizeof *s);
    s->id = cint(st, 0);
    s->uuid = ct(st, 1, a);
    s->org_id = cint(st, 2);
    s->org_uuid = ct(st, 3, a);
    s->org_name = ct_empty(st, 4, a);
    s->org_description = ct_empty(st, 5, a);
    s->name = ct_empty(st, 6, a);
    s->description = ct_empty(st, 7, a);
    s->url = ct_empty(st, 8, a);
    s->email = ct_empty(st, 9, a);
    s->phone = ct_empty(st, 10, a);
    const char *status = ct(st, 11, a);
    if (!status || store_dir_status_parse(status, &s->status) != 0) s->status = STORE_DIR_ACTIVE;
    s->eligibility = ct_empty(st, 12, a);
    s->fees = ct_empty(st, 13, a);
    s->created_at = cint(st, 14);
    s->updated_at = cint(st, 15);
    s->updated_by = cint(st, 16);
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

/* Appends the child in the current row of st (a D_CH_* statement) to s. */
static void read_child(const store_st *st, store_dir_service *s, size_t *cp, arena *a) {
    switch (st->id) {
    case D_CH_TERMS: {
        ARENA_GROW(s->terms, s->n_terms, *cp, a);
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
        ARENA_GROW(s->locations, s->n_locations, *cp, a);
        store_dir_location *l = &s->locations[s->n_locations++];
        l->uuid = ct(st, 1, a);
        l->name = ct_empty(st, 2, a);
        l->description = ct_empty(st, 3, a);
        l->address_1 = ct_empty(st, 4, a);
        l->city = ct_empty(st, 5, a);
        l->postcode = ct_empty(st, 6, a);
        l->country = ct_empty(st, 7, a);
        l->has_coords = !cnull(st, 8) && !cnull(st, 9);
        l->latitude = cdbl(st, 8);
        l->longitude = cdbl(st, 9);
        l->accessibility = ct_empty(st, 10, a);
        l->sal_uuid = ct(st, 11, a);
        break;
    }
    case D_CH_AREAS: {
        ARENA_GROW(s->areas, s->n_areas, *cp, a);
        store_dir_area *r = &s->areas[s->n_areas++];
        r->uuid = ct(st, 1, a);
        r->place_id = cint(st, 2);
        r->place_uuid = ct(st, 3, a);
        r->name = ct_empty(st, 4, a);
        r->gss_code = ct(st, 5, a);
        break;
    }
    case D_CH_SCHED: {
        ARENA_GROW(s->schedules, s->n_schedules, *cp, a);
        store_dir_schedule *h = &s->schedules[s->n_schedules++];
        h->uuid = ct(st, 1, a);
        h->freq = ct_empty(st, 2, a);
        h->interval = cint(st, 3);
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
        ARENA_GROW(s->contacts, s->n_contacts, *cp, a);
        store_dir_contact *x = &s->contacts[s->n_contacts++];
        x->uuid = ct(st, 1, a);
        x->name = ct_empty(st, 2, a);
        x->title = ct_empty(st, 3, a);
        x->email = ct_empty(st, 4, a);
        x->phone = ct_empty(st, 5, a);
        break;
    }
    case D_CH_LANGS: {
        ARENA_GROW(s->languages, s->n_languages, *cp, a);
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

int store_dir_load_children(store_conn *c, store_dir_service *svcs, size_t n, int all, arena *a) {
    if (n == 0) return STORE_OK;
    /* The list of ids, and an index sorted by id for the look-ups. */
    size_t cap = n * 21 + 3;
    char *ids = arena_alloc(a, cap), *p = ids;
    *p++ = c->ops->dir->id_list[0];
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - ids), "%s%lld", i ? "," : "", (long long)svcs[i].id);
    *p++ = c->ops->dir->id_list[1];
    *p = 0;
    size_t *idx = arena_calloc(a, n, sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, n, sizeof *idx, by_id, svcs);
    size_t *caps = arena_calloc(a, n * 6, sizeof *caps);
    static const enum store_dir_stmt kinds[] = {D_CH_TERMS, D_CH_LOCS,     D_CH_AREAS,
                                                D_CH_SCHED, D_CH_CONTACTS, D_CH_LANGS};
    for (size_t k = 0; k < (all ? 6u : 4u); k++) {
        ST(st, kinds[k]);
        bt(st, 1, ids);
        st->what = "service children";
        int step;
        while ((step = pstep(c, st)) == STORE_STEP_ROW) {
            long i = find_svc(svcs, idx, n, cint(st, 0));
            if (i >= 0) read_child(st, &svcs[i], &caps[(size_t)i * 6 + k], a);
        }
        st_done(st);
        if (step == STORE_STEP_ERR) return st->rc;
    }
    return STORE_OK;
}

int store_dir_svc_rows(store_conn *c, store_st *st, arena *a, store_dir_service **items,
                       size_t *n) {
    return store_read_rows(c, st, a, sizeof **items, read_svc, (void **)items, n, "service list");
}

char *store_dir_postcode_key(const char *pc, arena *a) {
    char *k = arena_alloc(a, strlen(pc ? pc : "") + 1), *p = k;
    for (const char *s = pc ? pc : ""; *s; s++) {
        if (*s == ' ' || *s == '\t') continue;
        *p++ = (*s >= 'a' && *s <= 'z') ? (char)(*s - 32) : *s;
    }
    *p = 0;
    return k;
}

/* ---- Look-ups within an operation ----------------------------------------------- */

static int org_load_uuid(store_conn *c, const char *uuid, arena *a, store_dir_org *out) {
    ST(st, D_ORG_BY_UUID);
    bt(st, 1, uuid);
    return store_read_one(c, st, a, read_org, out, "organisation look-up");
}

static int org_load_id(store_conn *c, int64_t id, arena *a, store_dir_org *out) {
    ST(st, D_ORG_BY_ID);
    bi64(st, 1, id);
    return store_read_one(c, st, a, read_org, out, "organisation look-up");
}

static int tax_fetch(store_conn *c, const char *uuid, arena *a, store_dir_taxonomy *out) {
    ST(st, D_TAX_BY_UUID);
    bt(st, 1, uuid);
    return store_read_one(c, st, a, read_tax, out, "taxonomy look-up");
}

static int term_fetch(store_conn *c, const char *uuid, arena *a, store_dir_term *out) {
    ST(st, D_TERM_BY_UUID);
    bt(st, 1, uuid);
    return store_read_one(c, st, a, read_term, out, "term look-up");
}

/* A service (by uuid, or by id when uuid is NULL) with all its children. */
static int svc_load(store_conn *c, enum store_dir_stmt id, const char *uuid, int64_t sid, arena *a,
                    store_dir_service *out) {
    ST(st, id);
    if (uuid)
        bt(st, 1, uuid);
    else
        bi64(st, 1, sid);
    store_dir_service *items;
    size_t n;
    int rc = store_dir_svc_rows(c, st, a, &items, &n);
    if (rc != STORE_OK) return rc;
    if (n == 0) return STORE_NOT_FOUND;
    rc = store_dir_load_children(c, items, 1, 1, a);
    if (rc == STORE_OK) *out = items[0];
    return rc;
}

/* ---- Writes within a transaction ------------------------------------------------ */

static void org_bind(store_st *st, const store_dir_org *in, int64_t now, int64_t by) {
    bt(st, 2, in->name);
    bt(st, 3, in->description);
    bt(st, 4, in->website);
    bt(st, 5, in->email);
    bt(st, 6, in->phone);
    bt(st, 7, in->identifier_type);
    bt(st, 8, in->identifier);
    bt(st, 9, in->fingerprint);
    bi64(st, 10, now);
    bid(st, 11, by);
}

/* Within a write transaction: create or update one organisation. *changed = 0 when
 * the stored fingerprint equals the new one (nothing written). */
static int org_save_tx(store_conn *c, const store_actor *actor, const store_dir_org *in, arena *tmp,
                       int64_t *id_out, int *created, int *changed) {
    int rc = STORE_OK;
    store_dir_org old;
    int exists = 0;
    const char *uuid = in->uuid;
    *created = 0;
    *changed = 1;
    if (uuid) {
        rc = org_load_uuid(c, uuid, tmp, &old);
        if (rc == STORE_OK)
            exists = 1;
        else if (rc != STORE_NOT_FOUND)
            return rc;
        rc = STORE_OK;
    } else {
        uuid = uuid_or_new(NULL, tmp);
    }
    int64_t now = now_utc(), id = 0;
    if (exists) {
        id = old.id;
        *id_out = id;
        if (strcmp(old.fingerprint, in->fingerprint ? in->fingerprint : "") == 0) {
            *changed = 0;
            return STORE_OK;
        }
        ST(st, D_ORG_UPDATE);
        bi64(st, 1, id);
        org_bind(st, in, now, actor->user_id);
        rc = run_done(c, st, "organisation update");
        if (rc != STORE_OK) return rc;
        json_t *d = json_object();
        diff(d, "name", old.name, in->name);
        diff(d, "description", old.description, in->description);
        diff(d, "website", old.website, in->website);
        diff(d, "email", old.email, in->email);
        diff(d, "phone", old.phone, in->phone);
        diff(d, "identifier", old.identifier, in->identifier);
        rc = store_audit_add(c, actor, "directory.organization.update", "organization", uuid, d);
        if (rc == STORE_OK && strcmp(old.name, in->name) != 0) {
            /* the organisation's name is part of its services' search text */
            ST(ids, D_ORG_SERVICES);
            bi64(ids, 1, id);
            ids->what = "organisation services";
            int64_t *sv = NULL;
            size_t n = 0, cap = 0;
            int step;
            while ((step = pstep(c, ids)) == STORE_STEP_ROW) {
                ARENA_GROW(sv, n, cap, tmp);
                sv[n++] = cint(ids, 0);
            }
            st_done(ids);
            if (step == STORE_STEP_ERR) return ids->rc;
            for (size_t i = 0; i < n && rc == STORE_OK; i++)
                rc = c->ops->dir->search_refresh(c, sv[i]);
        }
    } else {
        ST(st, D_ORG_INSERT);
        bt(st, 1, uuid);
        org_bind(st, in, now, actor->user_id);
        rc = run_int64(c, st, &id, "organisation insert");
        if (rc != STORE_OK) return rc;
        *created = 1;
        *id_out = id;
        json_t *d = json_object();
        json_object_set_new(d, "name", json_string(in->name));
        rc = store_audit_add(c, actor, "directory.organization.create", "organization", uuid, d);
    }
    return rc;
}

static int tax_save_tx(store_conn *c, const store_actor *actor, const store_dir_taxonomy *in,
                       const char *uuid) {
    ST(st, D_TAX_UPSERT);
    bt(st, 1, uuid);
    bt(st, 2, in->name);
    bt(st, 3, in->description);
    bt(st, 4, in->uri);
    bt(st, 5, in->version);
    int64_t id = 0;
    int rc = run_int64(c, st, &id, "taxonomy save");
    if (rc != STORE_OK) return rc;
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(in->name));
    return store_audit_add(c, actor, "directory.taxonomy.save", "taxonomy", uuid, d);
}

/* Within a transaction: checks and saves one term. */
static int term_save_tx(store_conn *c, const store_actor *actor, const store_dir_term *in,
                        const char *uuid, arena *tmp) {
    store_dir_taxonomy tax;
    int rc = tax_fetch(c, in->taxonomy_uuid, tmp, &tax);
    if (rc != STORE_OK) return rc == STORE_NOT_FOUND ? STORE_INVALID : STORE_ERROR;
    if (in->parent_uuid) {
        store_dir_term parent, me;
        rc = term_fetch(c, in->parent_uuid, tmp, &parent);
        if (rc != STORE_OK) return rc == STORE_NOT_FOUND ? STORE_INVALID : STORE_ERROR;
        if (strcmp(parent.taxonomy_uuid, in->taxonomy_uuid) != 0) return STORE_INVALID;
        /* the new parent must not be the term itself or below it */
        rc = term_fetch(c, uuid, tmp, &me);
        if (rc == STORE_OK) {
            ST(anc, D_TERM_IS_ANCESTOR);
            bi64(anc, 1, parent.id);
            bi64(anc, 2, me.id);
            int64_t hits = 0;
            rc = run_int64(c, anc, &hits, "term ancestry");
            if (rc != STORE_OK) return rc;
            if (hits) return STORE_INVALID;
        } else if (rc != STORE_NOT_FOUND) {
            return rc;
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
    if (rc != STORE_OK) return rc;
    json_t *d = json_object();
    json_object_set_new(d, "name", json_string(in->name));
    json_object_set_new(d, "taxonomy", json_string(in->taxonomy_uuid));
    return store_audit_add(c, actor, "directory.term.save", "taxonomy_term", uuid, d);
}

static void svc_bind(store_st *st, const store_dir_service *in, int64_t org_id, int64_t now,
                     int64_t by) {
    bi64(st, 2, org_id);
    bt(st, 3, in->name);
    bt(st, 4, in->description);
    bt(st, 5, in->url);
    bt(st, 6, in->email);
    bt(st, 7, in->phone);
    bt(st, 8, store_dir_status_name(in->status));
    bt(st, 9, in->eligibility);
    bt(st, 10, in->fees);
    bt(st, 11, in->fingerprint);
    bi64(st, 12, now);
    bid(st, 13, by);
}

/* Within a write transaction: inserts the children of service id. */
static int svc_children_tx(store_conn *c, const store_dir_service *in, int64_t id, arena *tmp) {
    int rc = STORE_OK;
    for (size_t i = 0; i < in->n_terms && rc == STORE_OK; i++) {
        ST(st, D_INS_TERM);
        bt(st, 1, uuid_or_new(in->terms[i].attr_uuid, tmp));
        bi64(st, 2, id);
        bt(st, 3, in->terms[i].uuid);
        rc = run_keep(c, st, "service term");
        int64_t n = rc == STORE_OK ? changes(st) : 0;
        st_done(st);
        if (rc == STORE_CONFLICT) {
            rc = STORE_OK; /* the same term twice: once is enough */
        } else if (rc == STORE_OK && n == 0) {
            /* Nothing inserted: an unknown term (refused), or the same term twice where
             * the statement does nothing on a conflict (an error would abort a
             * PostgreSQL transaction, hence no insert-and-catch there). */
            store_dir_term t;
            rc = term_fetch(c, in->terms[i].uuid, tmp, &t);
            if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        }
    }
    for (size_t i = 0; i < in->n_locations && rc == STORE_OK; i++) {
        const store_dir_location *l = &in->locations[i];
        ST(st, D_LOC_UPSERT);
        bt(st, 1, uuid_or_new(l->uuid, tmp));
        bt(st, 2, l->name);
        bt(st, 3, l->description);
        bt(st, 4, l->address_1);
        bt(st, 5, l->city);
        bt(st, 6, l->postcode);
        bt(st, 7, store_dir_postcode_key(l->postcode, tmp));
        bt(st, 8, l->country && *l->country ? l->country : "GB");
        if (l->has_coords) {
            bdbl(st, 9, l->latitude);
            bdbl(st, 10, l->longitude);
        } else {
            bt_null(st, 9, NULL);
            bt_null(st, 10, NULL);
        }
        bt(st, 11, l->accessibility);
        int64_t lid = 0;
        rc = run_int64(c, st, &lid, "location save");
        if (rc != STORE_OK) break;
        ST(sal, D_INS_SAL);
        bt(sal, 1, uuid_or_new(l->sal_uuid, tmp));
        bi64(sal, 2, id);
        bi64(sal, 3, lid);
        bi64(sal, 4, (int64_t)i);
        rc = run_done(c, sal, "service at location");
    }
    for (size_t i = 0; i < in->n_schedules && rc == STORE_OK; i++) {
        const store_dir_schedule *h = &in->schedules[i];
        ST(st, D_INS_SCHED);
        bt(st, 1, uuid_or_new(h->uuid, tmp));
        bi64(st, 2, id);
        bt(st, 3, h->freq);
        bi64(st, 4, h->interval);
        bt(st, 5, h->byday);
        bt(st, 6, h->bymonthday);
        bt(st, 7, h->opens_at);
        bt(st, 8, h->closes_at);
        bt(st, 9, h->valid_from);
        bt(st, 10, h->valid_to);
        bt(st, 11, h->dtstart);
        bt(st, 12, h->description);
        rc = run_done(c, st, "schedule");
    }
    for (size_t i = 0; i < in->n_contacts && rc == STORE_OK; i++) {
        const store_dir_contact *x = &in->contacts[i];
        ST(st, D_INS_CONTACT);
        bt(st, 1, uuid_or_new(x->uuid, tmp));
        bi64(st, 2, id);
        bt(st, 3, x->name);
        bt(st, 4, x->title);
        bt(st, 5, x->email);
        bt(st, 6, x->phone);
        rc = run_done(c, st, "contact");
    }
    for (size_t i = 0; i < in->n_languages && rc == STORE_OK; i++) {
        const store_dir_language *g = &in->languages[i];
        ST(st, D_INS_LANG);
        bt(st, 1, uuid_or_new(g->uuid, tmp));
        bi64(st, 2, id);
        bt(st, 3, g->name);
        bt(st, 4, g->code);
        rc = run_done(c, st, "language");
    }
    for (size_t i = 0; i < in->n_areas && rc == STORE_OK; i++) {
        const store_dir_area *r = &in->areas[i];
        int64_t pid = r->place_id;
        ST(p, (!pid && r->place_uuid) ? D_PLACE_ID_BY_UUID : D_PLACE_EXISTS);
        if (!pid && r->place_uuid)
            bt(p, 1, r->place_uuid);
        else
            bi64(p, 1, pid);
        rc = run_int64(c, p, &pid, "place id");
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc != STORE_OK) break;
        ST(st, D_INS_AREA);
        bt(st, 1, uuid_or_new(r->uuid, tmp));
        bi64(st, 2, id);
        bi64(st, 3, pid);
        rc = run_done(c, st, "service area");
        if (rc == STORE_CONFLICT) rc = STORE_OK; /* the same area twice */
    }
    return rc;
}

/* Within a write transaction: saves one service and its children. */
static int svc_save_tx(store_conn *c, const store_actor *actor, const store_dir_service *in,
                       arena *tmp, int64_t *id_out, int *created, int *changed) {
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
        bi64(st, 1, id);
        svc_bind(st, in, org_id, now, actor->user_id);
        rc = run_done(c, st, "service update");
        static const enum store_dir_stmt dels[] = {D_DEL_TERMS,    D_DEL_LOCS,  D_DEL_SCHED,
                                                   D_DEL_CONTACTS, D_DEL_LANGS, D_DEL_AREAS};
        for (size_t k = 0; k < sizeof dels / sizeof dels[0] && rc == STORE_OK; k++) {
            ST(d, dels[k]);
            bi64(d, 1, id);
            rc = run_done(c, d, "service children delete");
        }
    } else {
        ST(st, D_SVC_INSERT);
        bt(st, 1, uuid);
        svc_bind(st, in, org_id, now, actor->user_id);
        rc = run_int64(c, st, &id, "service insert");
        if (rc == STORE_OK) *created = 1;
    }
    if (rc != STORE_OK) return rc;
    rc = svc_children_tx(c, in, id, tmp);
    if (rc != STORE_OK) return rc;
    rc = c->ops->dir->search_refresh(c, id);
    if (rc != STORE_OK) return rc;
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
    rc = store_audit_add(c, actor, exists ? "directory.service.update" : "directory.service.create",
                         "service", uuid, d);
    *id_out = id;
    return rc;
}

/* ---- Organisations -------------------------------------------------------------- */

int store_dir_org_save(store *s, const store_actor *actor, const store_dir_org *in, arena *a,
                       store_dir_org *out) {
    store_conn cc, *c = &cc;
    arena tmp;
    arena_init(&tmp, 1024);
    store_dir_org o;
    int64_t id = 0;
    int created, changed;
    int rc = org_norm(in, &tmp, &o);
    if (rc == STORE_OK) rc = dconn(s, c);
    if (rc == STORE_OK) rc = tx_begin(c, 1);
    if (rc == STORE_OK) {
        rc = org_save_tx(c, ACTOR(actor), &o, &tmp, &id, &created, &changed);
        if (rc == STORE_OK && out) rc = org_load_id(c, id, a, out);
        rc = tx_end(c, rc);
    }
    arena_free(&tmp);
    return rc;
}

/* Look-ups by uuid: a malformed uuid was never stored. */
#define LOOKUP_UUID(call)                                                                          \
    do {                                                                                           \
        if (!uuid || !uuid_valid(uuid)) return STORE_NOT_FOUND;                                    \
        char lc[UUID_STR_LEN];                                                                     \
        uuid_lower(uuid, lc);                                                                      \
        DCONN(s);                                                                                  \
        return call;                                                                               \
    } while (0)

int store_dir_org_by_uuid(store *s, const char *uuid, arena *a, store_dir_org *out) {
    LOOKUP_UUID(org_load_uuid(c, lc, a, out));
}

int store_dir_org_by_id(store *s, int64_t id, arena *a, store_dir_org *out) {
    DCONN(s);
    return org_load_id(c, id, a, out);
}

int store_dir_org_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                            store_dir_org_list *out) {
    if (offset < 0 || limit < 0) return STORE_INVALID;
    DCONN(s);
    store_dir_org *items = NULL;
    size_t n = 0;
    int64_t total = 0;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    ST(cnt, D_ORG_COUNT);
    rc = run_int64(c, cnt, &total, "organisation count");
    if (rc == STORE_OK && limit > 0) {
        ST(st, D_ORG_PAGE);
        bi64(st, 1, limit);
        bi64(st, 2, offset);
        rc = store_read_rows(c, st, a, sizeof *items, read_org, (void **)&items, &n,
                             "organisation list");
    }
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

/* ---- Membership ----------------------------------------------------------------- */

static int member_change(store *s, const store_actor *actor, int64_t org_id, int64_t user_id,
                         int add) {
    DCONN(s);
    arena tmp;
    arena_init(&tmp, 512);
    store_dir_org org;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    rc = org_load_id(c, org_id, &tmp, &org);
    if (rc != STORE_OK) goto out;
    ST(u, D_USER_EXISTS);
    bi64(u, 1, user_id);
    u->what = "user look-up";
    const char *user_uuid = NULL;
    int step = pstep(c, u);
    if (step == STORE_STEP_ROW) user_uuid = ct(u, 0, &tmp);
    st_done(u);
    if (!user_uuid) {
        rc = step == STORE_STEP_ERR ? u->rc : STORE_NOT_FOUND;
        goto out;
    }
    ST(st, add ? D_MEMBER_INSERT : D_MEMBER_DELETE);
    bi64(st, 1, org_id);
    bi64(st, 2, user_id);
    if (add) bi64(st, 3, now_utc());
    rc = run_keep(c, st, "membership");
    int64_t changed = rc == STORE_OK ? changes(st) : 0;
    st_done(st);
    if (rc != STORE_OK) goto out;
    if (changed == 0) {
        if (!add) rc = STORE_NOT_FOUND;
        goto out;
    }
    json_t *d = json_object();
    json_object_set_new(d, "user", json_string(user_uuid));
    rc = store_audit_add(c, actor, add ? "directory.member.add" : "directory.member.remove",
                         "organization", org.uuid, d);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

int store_dir_member_add(store *s, const store_actor *actor, int64_t org_id, int64_t user_id) {
    return member_change(s, ACTOR(actor), org_id, user_id, 1);
}

int store_dir_member_remove(store *s, const store_actor *actor, int64_t org_id, int64_t user_id) {
    return member_change(s, ACTOR(actor), org_id, user_id, 0);
}

int store_dir_member_check(store *s, int64_t org_id, int64_t user_id) {
    DCONN(s);
    ST(st, D_MEMBER_CHECK);
    bi64(st, 1, org_id);
    bi64(st, 2, user_id);
    int64_t n = 0;
    int rc = run_int64(c, st, &n, "membership check");
    if (rc != STORE_OK) return rc;
    return n > 0 ? STORE_OK : STORE_NOT_FOUND;
}

int store_dir_members(store *s, int64_t org_id, arena *a, store_user_list *out) {
    DCONN(s);
    ST(st, D_MEMBERS);
    bi64(st, 1, org_id);
    store_user *items;
    size_t n;
    int rc = store_read_rows(c, st, a, sizeof *items, read_member, (void **)&items, &n, "members");
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = (int64_t)n;
    }
    return rc;
}

int store_dir_orgs_of_user(store *s, int64_t user_id, arena *a, store_dir_org_list *out) {
    DCONN(s);
    ST(st, D_ORGS_OF_USER);
    bi64(st, 1, user_id);
    store_dir_org *items;
    size_t n;
    int rc = store_read_rows(c, st, a, sizeof *items, read_org, (void **)&items, &n,
                             "organisation list");
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = (int64_t)n;
    }
    return rc;
}

/* ---- Taxonomy ------------------------------------------------------------------- */

int store_dir_taxonomy_save(store *s, const store_actor *actor, const store_dir_taxonomy *in,
                            arena *a, store_dir_taxonomy *out) {
    store_conn cc, *c = &cc;
    arena tmp;
    arena_init(&tmp, 512);
    store_dir_taxonomy t;
    int rc = tax_norm(in, &tmp, &t);
    const char *uuid = uuid_or_new(t.uuid, &tmp);
    if (rc == STORE_OK) rc = dconn(s, c);
    if (rc == STORE_OK) rc = tx_begin(c, 1);
    if (rc == STORE_OK) {
        rc = tax_save_tx(c, ACTOR(actor), &t, uuid);
        if (rc == STORE_OK && out && tax_fetch(c, uuid, a, out) != STORE_OK) rc = STORE_ERROR;
        rc = tx_end(c, rc);
    }
    arena_free(&tmp);
    return rc;
}

int store_dir_term_save(store *s, const store_actor *actor, const store_dir_term *in, arena *a,
                        store_dir_term *out) {
    store_conn cc, *c = &cc;
    arena tmp;
    arena_init(&tmp, 1024);
    store_dir_term t;
    int rc = term_norm(in, &tmp, &t);
    const char *uuid = uuid_or_new(t.uuid, &tmp);
    if (rc == STORE_OK) rc = dconn(s, c);
    if (rc == STORE_OK) rc = tx_begin(c, 1);
    if (rc == STORE_OK) {
        rc = term_save_tx(c, ACTOR(actor), &t, uuid, &tmp);
        if (rc == STORE_OK && out && term_fetch(c, uuid, a, out) != STORE_OK) rc = STORE_ERROR;
        rc = tx_end(c, rc);
    }
    arena_free(&tmp);
    return rc;
}

int store_dir_taxonomies(store *s, arena *a, store_dir_taxonomy_list *out) {
    DCONN(s);
    ST(st, D_TAX_LIST);
    store_dir_taxonomy *items;
    size_t n;
    int rc =
        store_read_rows(c, st, a, sizeof *items, read_tax, (void **)&items, &n, "taxonomy list");
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
    }
    return rc;
}

int store_dir_terms(store *s, const char *taxonomy_uuid, arena *a, store_dir_term_list *out) {
    if (taxonomy_uuid && !uuid_valid(taxonomy_uuid)) {
        out->items = NULL;
        out->n = 0;
        return STORE_OK;
    }
    DCONN(s);
    ST(st, taxonomy_uuid ? D_TERM_LIST_TAX : D_TERM_LIST);
    if (taxonomy_uuid) bt(st, 1, taxonomy_uuid);
    store_dir_term *items;
    size_t n;
    int rc = store_read_rows(c, st, a, sizeof *items, read_term, (void **)&items, &n, "term list");
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
    }
    return rc;
}

int store_dir_term_by_uuid(store *s, const char *uuid, arena *a, store_dir_term *out) {
    LOOKUP_UUID(term_fetch(c, lc, a, out));
}

int store_dir_taxonomy_by_uuid(store *s, const char *uuid, arena *a, store_dir_taxonomy *out) {
    LOOKUP_UUID(tax_fetch(c, lc, a, out));
}

/* ---- Services ------------------------------------------------------------------- */

int store_dir_service_save(store *s, const store_actor *actor, const store_dir_service *in,
                           arena *a, store_dir_service *out) {
    store_conn cc, *c = &cc;
    arena tmp;
    arena_init(&tmp, 4096);
    store_dir_service v;
    int64_t id = 0;
    int created, changed;
    int rc = svc_norm(in, &tmp, &v);
    if (rc == STORE_OK) rc = dconn(s, c);
    if (rc == STORE_OK) rc = tx_begin(c, 1);
    if (rc == STORE_OK) {
        rc = svc_save_tx(c, ACTOR(actor), &v, &tmp, &id, &created, &changed);
        if (rc == STORE_OK && out) rc = svc_load(c, D_SVC_BY_ID, NULL, id, a, out);
        rc = tx_end(c, rc);
    }
    arena_free(&tmp);
    return rc;
}

static int service_by_uuid(store_conn *c, const char *uuid, arena *a, store_dir_service *out) {
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    rc = svc_load(c, D_SVC_BY_UUID, uuid, 0, a, out);
    return tx_end(c, rc);
}

int store_dir_service_by_uuid(store *s, const char *uuid, arena *a, store_dir_service *out) {
    LOOKUP_UUID(service_by_uuid(c, lc, a, out));
}

/* The filters of a search: parameters 1 to 11 of D_SEARCH and its kin. */
static void bind_query(store_st *st, const store_dir_query *q, int64_t org_id, const char *pkey) {
    bi64(st, 1, org_id);
    bi64(st, 2, q->modified_after);
    bi64(st, 3, q->active_only ? 1 : 0);
    bt_null(st, 4, q->term_uuid);
    bi64(st, 5, q->place_id);
    bt_null(st, 6, pkey);
    bi64(st, 7, q->near ? 1 : 0);
    bdbl(st, 8, q->lat);
    bdbl(st, 9, q->lon);
    bdbl(st, 10, 111195.0 * cos(q->lat * M_PI / 180.0));
    bdbl(st, 11, q->radius_m * q->radius_m);
}

/* The search, arguments checked and normalised. Each filter of store_dir_query is a
 * fixed clause of D_SEARCH that is true when its parameter is "not given", so one
 * statement serves every combination. */
static int service_search(store_conn *c, const store_dir_query *q, arena *a,
                          store_dir_service_list *out) {
    arena tmp;
    arena_init(&tmp, 512);
    int64_t org_id = 0, total = 0;
    store_dir_service *items = NULL;
    size_t n = 0;
    const char *match = q->text ? c->ops->dir->text_query(q->text, &tmp) : NULL;
    const char *pkey =
        q->postcode && *q->postcode ? store_dir_postcode_key(q->postcode, &tmp) : NULL;
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
        int64_t id = 0;
        rc = run_int64(c, t, &id, "term look-up");
        if (rc == STORE_NOT_FOUND) rc = STORE_OK; /* unknown term: nothing matches */
        if (rc != STORE_OK || !id) goto out;
    }
    int filtered = org_id || q->modified_after || q->active_only || q->term_uuid || q->place_id ||
                   pkey || q->near;
    if (match && !filtered && c->ops->dir->text_page) {
        rc = c->ops->dir->text_page(c, match, q->offset, q->limit, a, &items, &n, &total);
        if (rc == STORE_OK && n > 0) rc = store_dir_load_children(c, items, n, q->with_children, a);
        goto out;
    }
    if (q->limit > 0) {
        ST(st, match ? D_SEARCH_TEXT : filtered ? D_SEARCH : D_PAGE_ALL);
        if (match || filtered) {
            bind_query(st, q, org_id, pkey);
            bi64(st, 12, q->limit);
            bi64(st, 13, q->offset);
            if (match) bt(st, 14, match);
        } else {
            bi64(st, 1, q->limit);
            bi64(st, 2, q->offset);
        }
        rc = store_dir_svc_rows(c, st, a, &items, &n);
        if (rc != STORE_OK) goto out;
        rc = store_dir_load_children(c, items, n, q->with_children, a);
        if (rc != STORE_OK) goto out;
    }
    if (q->offset == 0 && q->limit > 0 && (int64_t)n < q->limit) {
        total = (int64_t)n; /* a first page that is not full holds every match */
    } else if (!match && !filtered) {
        ST(cnt, D_COUNT_ALL);
        rc = run_int64(c, cnt, &total, "service count");
    } else {
        ST(cnt, match ? D_SEARCH_TEXT_COUNT : D_SEARCH_COUNT);
        bind_query(cnt, q, org_id, pkey);
        if (match) bt(cnt, c->ops->dir->count_text_param, match);
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
        v.term_uuid = uuid_lower(q->term_uuid, term);
    }
    if (q->org_uuid) {
        if (!uuid_valid(q->org_uuid)) goto empty;
        v.org_uuid = uuid_lower(q->org_uuid, org);
    }
    if (v.text && !*v.text) v.text = NULL;
    DCONN(s);
    return service_search(c, &v, a, out);
empty:
    out->items = NULL;
    out->n = 0;
    out->total = 0;
    return STORE_OK;
}

int store_dir_service_related(store *s, int64_t service_id, int64_t limit, arena *a,
                              store_dir_service_list *out) {
    if (limit < 0) return STORE_INVALID;
    DCONN(s);
    store_dir_service *items = NULL;
    size_t n = 0;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    ST(st, D_RELATED);
    bi64(st, 1, service_id);
    bi64(st, 2, limit);
    rc = store_dir_svc_rows(c, st, a, &items, &n);
    if (rc == STORE_OK) rc = store_dir_load_children(c, items, n, 0, a);
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = (int64_t)n;
    }
    return rc;
}

int store_dir_postcode_centre(store *s, const char *postcode, double *lat, double *lon) {
    if (!postcode || !*postcode || !text_ok(postcode)) return STORE_NOT_FOUND;
    DCONN(s);
    arena tmp;
    arena_init(&tmp, 128);
    char *key = store_dir_postcode_key(postcode, &tmp);
    int rc = STORE_OK;
    ST(st, D_POSTCODE_CENTRE);
    bt(st, 1, key);
    st->what = "postcode centre";
    int step = pstep(c, st);
    if (step == STORE_STEP_ROW && cint(st, 2) > 0 && *key) {
        *lat = cdbl(st, 0);
        *lon = cdbl(st, 1);
    } else {
        rc = step == STORE_STEP_ERR ? st->rc : STORE_NOT_FOUND;
    }
    st_done(st);
    arena_free(&tmp);
    return rc;
}

/* ---- Import --------------------------------------------------------------------- */

static void import_count(store_dir_import_result *res, int created, int changed) {
    if (created)
        res->created++;
    else if (changed)
        res->updated++;
    else
        res->unchanged++;
}

/* The import of a normalised feed: one write transaction, one audit entry per change
 * and one for the import. */
static int import_tx(store *s, const store_actor *actor, const store_dir_feed *feed,
                     store_dir_import_result *res) {
    DCONN(s);
    arena tmp;
    arena_init(&tmp, 1 << 16);
    memset(res, 0, sizeof *res);
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    for (size_t i = 0; i < feed->n_taxonomies && rc == STORE_OK; i++) {
        rc = tax_save_tx(c, actor, &feed->taxonomies[i], feed->taxonomies[i].uuid);
        if (rc != STORE_OK) res->bad_index = INT64_MIN;
    }
    for (size_t i = 0; i < feed->n_terms && rc == STORE_OK; i++) {
        rc = term_save_tx(c, actor, &feed->terms[i], feed->terms[i].uuid, &tmp);
        if (rc != STORE_OK) res->bad_index = INT64_MIN;
    }
    for (size_t i = 0; i < feed->n_orgs && rc == STORE_OK; i++) {
        int64_t id;
        int created, changed;
        rc = org_save_tx(c, actor, &feed->orgs[i], &tmp, &id, &created, &changed);
        if (rc != STORE_OK)
            res->bad_index = -1 - (int64_t)i;
        else
            import_count(res, created, changed);
    }
    for (size_t i = 0; i < feed->n_services && rc == STORE_OK; i++) {
        int64_t id;
        int created, changed;
        rc = svc_save_tx(c, actor, &feed->services[i], &tmp, &id, &created, &changed);
        if (rc != STORE_OK)
            res->bad_index = (int64_t)i;
        else
            import_count(res, created, changed);
        if ((i & 255) == 255) arena_reset(&tmp);
    }
    if (rc == STORE_OK) {
        json_t *d = json_object();
        json_object_set_new(d, "created", json_integer(res->created));
        json_object_set_new(d, "updated", json_integer(res->updated));
        json_object_set_new(d, "unchanged", json_integer(res->unchanged));
        json_object_set_new(d, "source", json_string(feed->source ? feed->source : ""));
        rc = store_audit_add(c, actor, "directory.import", "directory", "import", d);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

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
    if (rc == STORE_OK) rc = import_tx(s, ACTOR(actor), &v, res);
    arena_free(&tmp);
    return rc;
}
