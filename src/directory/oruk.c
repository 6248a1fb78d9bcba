/*
 * oruk: the directory as Open Referral UK (HSDS 3.0) JSON — the API's objects, the
 * export, and reading feeds back in (HSDS/ORUK JSON and the CSV template), checking
 * every row and reporting each refused one before anything is saved.
 *
 * Ids. HSDS needs an id on every nested object (addresses, accessibility, organisation
 * identifiers) that the directory does not keep as rows of its own; those ids are
 * derived from the parent's uuid, so they are the same in every response and export.
 * Rows of the CSV template without ids get ids derived from their names, so importing
 * the same file twice updates instead of duplicating.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/csv.h"
#include "core/parse.h"
#include "core/rand.h"
#include "core/utf8.h"
#include "directory/directory.h"

/* ---- Derived ids ---------------------------------------------------------------- */

/* A UUID-shaped id (version nibble 8, RFC 9562 "custom") from two strings, stable
 * across runs: two 64-bit FNV-1a hashes with different seeds. */
static const char *derived_uuid(arena *a, const char *x, const char *y) {
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x84222325cbf29ce4ULL;
    const char *parts[2] = {x ? x : "", y ? y : ""};
    for (int k = 0; k < 2; k++) {
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
            unsigned char c = (unsigned char)tolower(*p);
            h1 = (h1 ^ c) * 1099511628211ULL;
            h2 = (h2 ^ c) * 1099511628211ULL + 0x9e3779b97f4a7c15ULL;
        }
        h1 = (h1 ^ 0x1f) * 1099511628211ULL;
        h2 = (h2 ^ 0x1f) * 1099511628211ULL;
    }
    /* "%08x-%04x-8%03x-%04x-%012llx", written by hand: this runs for every address
     * of every API page */
    static const char hex[] = "0123456789abcdef";
    char *out = arena_alloc(a, 37), *p = out;
    const struct {
        uint64_t v;
        int digits;
    } fields[] = {{h1 >> 32, 8},
                  {(h1 >> 16) & 0xffff, 4},
                  {0x8000 | (h1 & 0xfff), 4},
                  {0x8000 | ((h2 >> 48) & 0x3fff), 4},
                  {h2 & 0xffffffffffffULL, 12}};
    for (int k = 0; k < 5; k++) {
        if (k) *p++ = '-';
        for (int d = fields[k].digits - 1; d >= 0; d--) *p++ = hex[(fields[k].v >> (4 * d)) & 15];
    }
    *p = 0;
    return out;
}

/* ---- JSON out ------------------------------------------------------------------- */

/* Sets key only when s is non-empty (HSDS enums and formats refuse ""). */
static void set_str(json_t *o, const char *key, const char *s) {
    if (s && *s) json_object_set_new(o, key, json_string(s));
}

static const char *iso_time(int64_t t, char *out, size_t n) {
    time_t ts = (time_t)t;
    struct tm tmv;
    gmtime_r(&ts, &tmv);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    return out;
}

json_t *directory_org_json(const store_dir_org *o) {
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(o->uuid));
    json_object_set_new(j, "name", json_string(o->name));
    json_object_set_new(j, "description", json_string(o->description ? o->description : ""));
    set_str(j, "email", o->email);
    set_str(j, "website", o->website);
    json_t *ids = json_array();
    if (o->identifier && *o->identifier) {
        arena tmp;
        arena_init(&tmp, 256);
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(derived_uuid(&tmp, o->uuid, "identifier")));
        json_object_set_new(x, "organization_id", json_string(o->uuid));
        const char *type =
            o->identifier_type && *o->identifier_type ? o->identifier_type : "identifier";
        json_object_set_new(x, "identifier_type", json_string(type));
        if (strcmp(type, "charity_number") == 0)
            json_object_set_new(x, "identifier_scheme", json_string("GB-CHC"));
        else if (strcmp(type, "company_number") == 0)
            json_object_set_new(x, "identifier_scheme", json_string("GB-COH"));
        json_object_set_new(x, "identifier", json_string(o->identifier));
        json_array_append_new(ids, x);
        arena_free(&tmp);
    }
    json_object_set_new(j, "organization_identifiers", ids);
    if (o->phone && *o->phone) {
        json_t *ph = json_array(), *p = json_object();
        arena tmp;
        arena_init(&tmp, 256);
        json_object_set_new(p, "id", json_string(derived_uuid(&tmp, o->uuid, "phone")));
        json_object_set_new(p, "number", json_string(o->phone));
        json_array_append_new(ph, p);
        json_object_set_new(j, "phones", ph);
        arena_free(&tmp);
    }
    return j;
}

json_t *directory_term_json(const store_dir_term *t) {
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(t->uuid));
    json_object_set_new(j, "name", json_string(t->name));
    json_object_set_new(j, "description", json_string(t->description ? t->description : ""));
    set_str(j, "code", t->code);
    set_str(j, "term", t->code);
    if (t->parent_uuid) json_object_set_new(j, "parent_id", json_string(t->parent_uuid));
    if (t->taxonomy_uuid) json_object_set_new(j, "taxonomy_id", json_string(t->taxonomy_uuid));
    set_str(j, "taxonomy", t->taxonomy_name);
    return j;
}

json_t *directory_service_json(const store_dir_service *s, const char *base_url) {
    arena tmp;
    arena_init(&tmp, 2048);
    char when[32];
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(s->uuid));
    json_object_set_new(j, "organization_id", json_string(s->org_uuid));
    json_object_set_new(j, "name", json_string(s->name));
    json_object_set_new(j, "description", json_string(s->description ? s->description : ""));
    set_str(j, "url", s->url);
    set_str(j, "email", s->email);
    json_object_set_new(j, "status", json_string(store_dir_status_name(s->status)));
    set_str(j, "fees", s->fees);
    set_str(j, "eligibility_description", s->eligibility);
    json_object_set_new(j, "last_modified",
                        json_string(iso_time(s->updated_at, when, sizeof when)));

    json_t *org = json_object();
    json_object_set_new(org, "id", json_string(s->org_uuid));
    json_object_set_new(org, "name", json_string(s->org_name ? s->org_name : ""));
    json_object_set_new(org, "description",
                        json_string(s->org_description ? s->org_description : ""));
    json_object_set_new(j, "organization", org);

    json_t *sch = json_array();
    for (size_t i = 0; i < s->n_schedules; i++) {
        const store_dir_schedule *h = &s->schedules[i];
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(h->uuid));
        json_object_set_new(x, "service_id", json_string(s->uuid));
        set_str(x, "freq", h->freq);
        if (h->interval > 0) json_object_set_new(x, "interval", json_integer(h->interval));
        set_str(x, "byday", h->byday);
        set_str(x, "bymonthday", h->bymonthday);
        set_str(x, "opens_at", h->opens_at);
        set_str(x, "closes_at", h->closes_at);
        set_str(x, "valid_from", h->valid_from);
        set_str(x, "valid_to", h->valid_to);
        set_str(x, "dtstart", h->dtstart);
        set_str(x, "description", h->description);
        json_array_append_new(sch, x);
    }
    json_object_set_new(j, "schedules", sch);

    json_t *areas = json_array();
    for (size_t i = 0; i < s->n_areas; i++) {
        const store_dir_area *r = &s->areas[i];
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(r->uuid));
        json_object_set_new(x, "service_id", json_string(s->uuid));
        json_object_set_new(x, "name", json_string(r->name ? r->name : ""));
        if (r->gss_code && *r->gss_code) { /* lets another database find the same place */
            json_object_set_new(x, "extent", json_string(r->gss_code));
            json_object_set_new(x, "extent_type", json_string("ons_gss_code"));
        }
        json_object_set_new(x, "uri",
                            json_string(arena_sprintf(&tmp, "%s/places/%s",
                                                      base_url ? base_url : "", r->place_uuid)));
        json_array_append_new(areas, x);
    }
    json_object_set_new(j, "service_areas", areas);

    json_t *sals = json_array();
    for (size_t i = 0; i < s->n_locations; i++) {
        const store_dir_location *l = &s->locations[i];
        json_t *sal = json_object(), *loc = json_object();
        json_object_set_new(sal, "id", json_string(l->sal_uuid));
        json_object_set_new(sal, "service_id", json_string(s->uuid));
        json_object_set_new(sal, "location_id", json_string(l->uuid));
        json_object_set_new(loc, "id", json_string(l->uuid));
        json_object_set_new(loc, "location_type", json_string("physical"));
        set_str(loc, "name", l->name);
        set_str(loc, "description", l->description);
        if (l->has_coords) {
            json_object_set_new(loc, "latitude", json_real(l->latitude));
            json_object_set_new(loc, "longitude", json_real(l->longitude));
        }
        json_t *addrs = json_array();
        if ((l->address_1 && *l->address_1) || (l->postcode && *l->postcode)) {
            json_t *ad = json_object();
            json_object_set_new(ad, "id", json_string(derived_uuid(&tmp, l->uuid, "address")));
            json_object_set_new(ad, "location_id", json_string(l->uuid));
            json_object_set_new(ad, "address_1", json_string(l->address_1 ? l->address_1 : ""));
            json_object_set_new(ad, "city", json_string(l->city ? l->city : ""));
            json_object_set_new(ad, "state_province", json_string(""));
            json_object_set_new(ad, "postal_code", json_string(l->postcode ? l->postcode : ""));
            json_object_set_new(ad, "country",
                                json_string(l->country && *l->country ? l->country : "GB"));
            json_object_set_new(ad, "address_type", json_string("physical"));
            json_array_append_new(addrs, ad);
        }
        json_object_set_new(loc, "addresses", addrs);
        json_t *acc = json_array();
        if (l->accessibility && *l->accessibility) {
            json_t *x = json_object();
            json_object_set_new(x, "id", json_string(derived_uuid(&tmp, l->uuid, "accessibility")));
            json_object_set_new(x, "location_id", json_string(l->uuid));
            json_object_set_new(x, "description", json_string(l->accessibility));
            json_array_append_new(acc, x);
        }
        json_object_set_new(loc, "accessibility", acc);
        json_object_set_new(sal, "location", loc);
        json_array_append_new(sals, sal);
    }
    json_object_set_new(j, "service_at_locations", sals);

    json_t *langs = json_array();
    for (size_t i = 0; i < s->n_languages; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(s->languages[i].uuid));
        json_object_set_new(x, "service_id", json_string(s->uuid));
        set_str(x, "name", s->languages[i].name);
        set_str(x, "code", s->languages[i].code);
        json_array_append_new(langs, x);
    }
    json_object_set_new(j, "languages", langs);

    json_t *contacts = json_array();
    for (size_t i = 0; i < s->n_contacts; i++) {
        const store_dir_contact *c = &s->contacts[i];
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(c->uuid));
        json_object_set_new(x, "service_id", json_string(s->uuid));
        set_str(x, "name", c->name);
        set_str(x, "title", c->title);
        set_str(x, "email", c->email);
        if (c->phone && *c->phone) {
            json_t *ph = json_array(), *p = json_object();
            json_object_set_new(p, "id", json_string(derived_uuid(&tmp, c->uuid, "phone")));
            json_object_set_new(p, "number", json_string(c->phone));
            json_array_append_new(ph, p);
            json_object_set_new(x, "phones", ph);
        }
        json_array_append_new(contacts, x);
    }
    json_object_set_new(j, "contacts", contacts);

    json_t *attrs = json_array();
    for (size_t i = 0; i < s->n_terms; i++) {
        const store_dir_term_ref *t = &s->terms[i];
        json_t *x = json_object(), *term = json_object();
        json_object_set_new(x, "id", json_string(t->attr_uuid ? t->attr_uuid : t->uuid));
        json_object_set_new(x, "link_id", json_string(s->uuid));
        json_object_set_new(x, "link_type", json_string("service"));
        json_object_set_new(x, "taxonomy_term_id", json_string(t->uuid));
        json_object_set_new(term, "id", json_string(t->uuid));
        json_object_set_new(term, "name", json_string(t->name ? t->name : ""));
        json_object_set_new(term, "description", json_string(t->description ? t->description : ""));
        set_str(term, "code", t->code);
        set_str(term, "term", t->code);
        if (t->parent_uuid) json_object_set_new(term, "parent_id", json_string(t->parent_uuid));
        if (t->taxonomy_uuid)
            json_object_set_new(term, "taxonomy_id", json_string(t->taxonomy_uuid));
        set_str(term, "taxonomy", t->taxonomy_name);
        json_object_set_new(x, "taxonomy_term", term);
        json_array_append_new(attrs, x);
    }
    json_object_set_new(j, "attributes", attrs);
    arena_free(&tmp);
    return j;
}

json_t *directory_page_json(int64_t total, int64_t page, int64_t per_page, json_t *contents) {
    json_t *j = json_object();
    int64_t pages = per_page > 0 ? (total + per_page - 1) / per_page : 0;
    json_object_set_new(j, "total_items", json_integer(total));
    json_object_set_new(j, "total_pages", json_integer(pages));
    json_object_set_new(j, "page_number", json_integer(page));
    json_object_set_new(j, "size", json_integer((json_int_t)json_array_size(contents)));
    json_object_set_new(j, "first_page", json_boolean(page <= 1));
    json_object_set_new(j, "last_page", json_boolean(page >= pages));
    json_object_set_new(j, "empty", json_boolean(json_array_size(contents) == 0));
    json_object_set_new(j, "contents", contents);
    return j;
}

/* ---- JSON out, written directly ---------------------------------------------------
 *
 * The same documents as directory_service_json and directory_page_json serialised with
 * json_dumps(JSON_COMPACT), but written straight into a buffer: building a jansson tree
 * of a 50-service page (thousands of small allocations), dumping it and freeing it cost
 * several times more than the queries behind it. The output is byte for byte what
 * jansson writes (tests/directory compares the two): keys in insertion order, strings
 * escaped as jansson does (\" \\ \b \f \n \r \t, other control characters as \u00XX in
 * upper-case hex, everything else, "/" included, as is), and a string jansson would
 * refuse (not UTF-8) leaves its key out, as json_object_set_new with NULL does. */

static void w_lit(buf *b, const char *s) { buf_append(b, s, strlen(s)); }

/* s escaped as a JSON string's content (no quotes). */
static void w_esc(buf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\') continue;
        buf_append(b, run, (size_t)((const char *)p - run));
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (*p) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        }
        buf_append(b, esc, n);
        run = (const char *)p + 1;
    }
    buf_append(b, run, strlen(run));
}

static void w_str(buf *b, const char *s) {
    buf_putc(b, '"');
    w_esc(b, s);
    buf_putc(b, '"');
}

/* The separator and key of the next member of an object; *n counts members so far.
 * Keys are ASCII literals with nothing to escape. */
static void w_key(buf *b, int *n, const char *key) {
    if ((*n)++) buf_putc(b, ',');
    buf_putc(b, '"');
    w_lit(b, key);
    buf_append(b, "\":", 2);
}

/* s is valid UTF-8 (the ASCII prefix, most of the text, skipped cheaply). */
static bool w_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p && *p < 0x80) p++;
    return !*p || utf8_valid((const char *)p, strlen((const char *)p));
}

/* A string member, left out as jansson leaves it out: s NULL or not UTF-8. */
static void w_kstr(buf *b, int *n, const char *key, const char *s) {
    if (!s || !w_valid(s)) return;
    w_key(b, n, key);
    w_str(b, s);
}

/* set_str: only non-empty strings. */
static void w_kopt(buf *b, int *n, const char *key, const char *s) {
    if (s && *s) w_kstr(b, n, key, s);
}

static void w_kint(buf *b, int *n, const char *key, int64_t v) {
    w_key(b, n, key);
    buf_printf(b, "%lld", (long long)v);
}

static void w_kbool(buf *b, int *n, const char *key, int v) {
    w_key(b, n, key);
    w_lit(b, v ? "true" : "false");
}

/* A real exactly as jansson formats it: 17 significant digits ("%.17g"), ".0" added
 * when there is neither a point nor an exponent, and the exponent without "+" or
 * leading zeros ("1e-07" becomes "1e-7"). NaN and infinities are refused by jansson,
 * so the key is left out. */
static void w_kreal(buf *b, int *n, const char *key, double v) {
    if (!isfinite(v)) return;
    char t[48];
    int len = snprintf(t, sizeof t - 3, "%.17g", v);
    if (len < 0 || (size_t)len >= sizeof t - 3) return;
    if (!strchr(t, '.') && !strchr(t, 'e')) {
        memcpy(t + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(t, 'e');
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0') end++;
        if (end != start) {
            memmove(start, end, (size_t)len - (size_t)(end - t) + 1);
            len -= (int)(end - start);
        }
    }
    w_key(b, n, key);
    buf_append(b, t, (size_t)len);
}

void directory_service_write(buf *b, const store_dir_service *s, const char *base_url) {
    arena tmp;
    arena_init(&tmp, 2048);
    char when[32];
    int n = 0;
    buf_putc(b, '{');
    w_kstr(b, &n, "id", s->uuid);
    w_kstr(b, &n, "organization_id", s->org_uuid);
    w_kstr(b, &n, "name", s->name);
    w_kstr(b, &n, "description", s->description ? s->description : "");
    w_kopt(b, &n, "url", s->url);
    w_kopt(b, &n, "email", s->email);
    w_kstr(b, &n, "status", store_dir_status_name(s->status));
    w_kopt(b, &n, "fees", s->fees);
    w_kopt(b, &n, "eligibility_description", s->eligibility);
    w_kstr(b, &n, "last_modified", iso_time(s->updated_at, when, sizeof when));

    int m = 0;
    w_key(b, &n, "organization");
    buf_putc(b, '{');
    w_kstr(b, &m, "id", s->org_uuid);
    w_kstr(b, &m, "name", s->org_name ? s->org_name : "");
    w_kstr(b, &m, "description", s->org_description ? s->org_description : "");
    buf_putc(b, '}');

    w_key(b, &n, "schedules");
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n_schedules; i++) {
        const store_dir_schedule *h = &s->schedules[i];
        int k = 0;
        w_lit(b, i ? ",{" : "{");
        w_kstr(b, &k, "id", h->uuid);
        w_kstr(b, &k, "service_id", s->uuid);
        w_kopt(b, &k, "freq", h->freq);
        if (h->interval > 0) w_kint(b, &k, "interval", h->interval);
        w_kopt(b, &k, "byday", h->byday);
        w_kopt(b, &k, "bymonthday", h->bymonthday);
        w_kopt(b, &k, "opens_at", h->opens_at);
        w_kopt(b, &k, "closes_at", h->closes_at);
        w_kopt(b, &k, "valid_from", h->valid_from);
        w_kopt(b, &k, "valid_to", h->valid_to);
        w_kopt(b, &k, "dtstart", h->dtstart);
        w_kopt(b, &k, "description", h->description);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');

    w_key(b, &n, "service_areas");
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n_areas; i++) {
        const store_dir_area *r = &s->areas[i];
        int k = 0;
        w_lit(b, i ? ",{" : "{");
        w_kstr(b, &k, "id", r->uuid);
        w_kstr(b, &k, "service_id", s->uuid);
        w_kstr(b, &k, "name", r->name ? r->name : "");
        if (r->gss_code && *r->gss_code) {
            w_kstr(b, &k, "extent", r->gss_code);
            w_kstr(b, &k, "extent_type", "ons_gss_code");
        }
        /* "%s/places/%s" written in place; a NULL place uuid prints "(null)" as
         * arena_sprintf (glibc) does */
        const char *base = base_url ? base_url : "", *pu = r->place_uuid ? r->place_uuid : "(null)";
        if (w_valid(base) && w_valid(pu)) {
            w_key(b, &k, "uri");
            buf_putc(b, '"');
            w_esc(b, base);
            w_lit(b, "/places/");
            w_esc(b, pu);
            buf_putc(b, '"');
        }
        buf_putc(b, '}');
    }
    buf_putc(b, ']');

    w_key(b, &n, "service_at_locations");
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n_locations; i++) {
        const store_dir_location *l = &s->locations[i];
        int k = 0, q = 0;
        w_lit(b, i ? ",{" : "{");
        w_kstr(b, &k, "id", l->sal_uuid);
        w_kstr(b, &k, "service_id", s->uuid);
        w_kstr(b, &k, "location_id", l->uuid);
        w_key(b, &k, "location");
        buf_putc(b, '{');
        w_kstr(b, &q, "id", l->uuid);
        w_kstr(b, &q, "location_type", "physical");
        w_kopt(b, &q, "name", l->name);
        w_kopt(b, &q, "description", l->description);
        if (l->has_coords) {
            w_kreal(b, &q, "latitude", l->latitude);
            w_kreal(b, &q, "longitude", l->longitude);
        }
        w_key(b, &q, "addresses");
        buf_putc(b, '[');
        if ((l->address_1 && *l->address_1) || (l->postcode && *l->postcode)) {
            int d = 0;
            buf_putc(b, '{');
            w_kstr(b, &d, "id", derived_uuid(&tmp, l->uuid, "address"));
            w_kstr(b, &d, "location_id", l->uuid);
            w_kstr(b, &d, "address_1", l->address_1 ? l->address_1 : "");
            w_kstr(b, &d, "city", l->city ? l->city : "");
            w_kstr(b, &d, "state_province", "");
            w_kstr(b, &d, "postal_code", l->postcode ? l->postcode : "");
            w_kstr(b, &d, "country", l->country && *l->country ? l->country : "GB");
            w_kstr(b, &d, "address_type", "physical");
            buf_putc(b, '}');
        }
        buf_putc(b, ']');
        w_key(b, &q, "accessibility");
        buf_putc(b, '[');
        if (l->accessibility && *l->accessibility) {
            int d = 0;
            buf_putc(b, '{');
            w_kstr(b, &d, "id", derived_uuid(&tmp, l->uuid, "accessibility"));
            w_kstr(b, &d, "location_id", l->uuid);
            w_kstr(b, &d, "description", l->accessibility);
            buf_putc(b, '}');
        }
        buf_putc(b, ']');
        buf_append(b, "}}", 2);
    }
    buf_putc(b, ']');

    w_key(b, &n, "languages");
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n_languages; i++) {
        int k = 0;
        w_lit(b, i ? ",{" : "{");
        w_kstr(b, &k, "id", s->languages[i].uuid);
        w_kstr(b, &k, "service_id", s->uuid);
        w_kopt(b, &k, "name", s->languages[i].name);
        w_kopt(b, &k, "code", s->languages[i].code);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');

    w_key(b, &n, "contacts");
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n_contacts; i++) {
        const store_dir_contact *c = &s->contacts[i];
        int k = 0;
        w_lit(b, i ? ",{" : "{");
        w_kstr(b, &k, "id", c->uuid);
        w_kstr(b, &k, "service_id", s->uuid);
        w_kopt(b, &k, "name", c->name);
        w_kopt(b, &k, "title", c->title);
        w_kopt(b, &k, "email", c->email);
        if (c->phone && *c->phone) {
            int d = 0;
            w_key(b, &k, "phones");
            buf_append(b, "[{", 2);
            w_kstr(b, &d, "id", derived_uuid(&tmp, c->uuid, "phone"));
            w_kstr(b, &d, "number", c->phone);
            buf_append(b, "}]", 2);
        }
        buf_putc(b, '}');
    }
    buf_putc(b, ']');

    w_key(b, &n, "attributes");
    buf_putc(b, '[');
    for (size_t i = 0; i < s->n_terms; i++) {
        const store_dir_term_ref *t = &s->terms[i];
        int k = 0, d = 0;
        w_lit(b, i ? ",{" : "{");
        w_kstr(b, &k, "id", t->attr_uuid ? t->attr_uuid : t->uuid);
        w_kstr(b, &k, "link_id", s->uuid);
        w_kstr(b, &k, "link_type", "service");
        w_kstr(b, &k, "taxonomy_term_id", t->uuid);
        w_key(b, &k, "taxonomy_term");
        buf_putc(b, '{');
        w_kstr(b, &d, "id", t->uuid);
        w_kstr(b, &d, "name", t->name ? t->name : "");
        w_kstr(b, &d, "description", t->description ? t->description : "");
        w_kopt(b, &d, "code", t->code);
        w_kopt(b, &d, "term", t->code);
        if (t->parent_uuid) w_kstr(b, &d, "parent_id", t->parent_uuid);
        if (t->taxonomy_uuid) w_kstr(b, &d, "taxonomy_id", t->taxonomy_uuid);
        w_kopt(b, &d, "taxonomy", t->taxonomy_name);
        buf_append(b, "}}", 2);
    }
    buf_append(b, "]}", 2);
    arena_free(&tmp);
}

void directory_page_write(buf *b, int64_t total, int64_t page, int64_t per_page,
                          const store_dir_service *items, size_t n_items, const char *base_url) {
    int64_t pages = per_page > 0 ? (total + per_page - 1) / per_page : 0;
    int n = 0;
    buf_putc(b, '{');
    w_kint(b, &n, "total_items", total);
    w_kint(b, &n, "total_pages", pages);
    w_kint(b, &n, "page_number", page);
    w_kint(b, &n, "size", (int64_t)n_items);
    w_kbool(b, &n, "first_page", page <= 1);
    w_kbool(b, &n, "last_page", page >= pages);
    w_kbool(b, &n, "empty", n_items == 0);
    w_key(b, &n, "contents");
    buf_putc(b, '[');
    for (size_t i = 0; i < n_items; i++) {
        if (i) buf_putc(b, ',');
        directory_service_write(b, &items[i], base_url);
    }
    buf_append(b, "]}", 2);
}

/* ---- Reading feeds: shared state ------------------------------------------------ */

/* An index from uuid to position, so that a feed of 10,000 services finds its
 * organisations and spots repeated ids without comparing every pair. Open addressing;
 * the table lives in the reader's arena and doubles when half full. */
typedef struct uindex {
    const char **keys;
    int *pos;
    size_t cap, n;
} uindex;

static uint64_t uhash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int uindex_find(const uindex *ix, const char *key) {
    if (!ix->cap || !key) return -1;
    for (size_t i = uhash(key) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        if (!ix->keys[i]) return -1;
        if (strcmp(ix->keys[i], key) == 0) return ix->pos[i];
    }
}

static void uindex_add(uindex *ix, const char *key, int pos, arena *a) {
    if (2 * (ix->n + 1) > ix->cap) {
        uindex bigger = {0};
        bigger.cap = ix->cap ? ix->cap * 2 : 64;
        bigger.keys = arena_calloc(a, bigger.cap, sizeof *bigger.keys);
        bigger.pos = arena_calloc(a, bigger.cap, sizeof *bigger.pos);
        for (size_t i = 0; i < ix->cap; i++)
            if (ix->keys[i]) uindex_add(&bigger, ix->keys[i], ix->pos[i], a);
        *ix = bigger;
    }
    size_t i = uhash(key) & (ix->cap - 1);
    while (ix->keys[i]) i = (i + 1) & (ix->cap - 1);
    ix->keys[i] = key;
    ix->pos[i] = pos;
    ix->n++;
}

typedef struct reader {
    store *s;
    arena *a;
    store_dir_feed feed;
    size_t cap_tax, cap_terms, cap_orgs, cap_svcs;
    directory_problem *problems;
    size_t n_problems, cap_problems;
    directory_problem *notes; /* accepted with a change: see directory_import_report */
    size_t n_notes, cap_notes;
    store_dir_term_list known_terms; /* the database's terms (CSV categories) */
    int terms_loaded;
    uindex org_ix, term_ix, svc_ix;
} reader;

/* Appends where and the formatted why to a report list (problems or notes). */
static void report_add(reader *r, directory_problem **list, size_t *n, size_t *cap, const char *where,
                       const char *fmt, va_list ap) {
    ARENA_GROW(*list, *n, *cap, r->a);
    (*list)[*n].where = arena_strdup(r->a, where);
    (*list)[*n].why = arena_vsprintf(r->a, fmt, ap);
    (*n)++;
}

/* A refused row: nothing is saved. */
static void problem(reader *r, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(reader *r, const char *where, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report_add(r, &r->problems, &r->n_problems, &r->cap_problems, where, fmt, ap);
    va_end(ap);
}

/* Accepted with a change the importer made. */
static void note(reader *r, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(reader *r, const char *where, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report_add(r, &r->notes, &r->n_notes, &r->cap_notes, where, fmt, ap);
    va_end(ap);
}

static const char *jtext(json_t *o, const char *key, arena *a) {
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) return arena_strndup(a, json_string_value(v), json_string_length(v));
    if (json_is_integer(v)) return arena_sprintf(a, "%lld", (long long)json_integer_value(v));
    return "";
}

/* The uuid under key (lowercased), NULL when absent; a problem when malformed. */
static const char *juuid(reader *r, json_t *o, const char *key, const char *where) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return NULL;
    if (!json_is_string(v) || !uuid_valid(json_string_value(v))) {
        problem(r, where, "%s: must be a UUID", key);
        return NULL;
    }
    char *u = arena_strdup(r->a, json_string_value(v));
    for (char *p = u; *p; p++) *p = (char)tolower((unsigned char)*p);
    return u;
}

static int find_org(reader *r, const char *uuid) { return uindex_find(&r->org_ix, uuid); }

static int find_term(reader *r, const char *uuid) { return uindex_find(&r->term_ix, uuid); }

static int find_tax(reader *r, const char *uuid) {
    for (size_t i = 0; i < r->feed.n_taxonomies; i++)
        if (strcmp(r->feed.taxonomies[i].uuid, uuid) == 0) return (int)i;
    return -1;
}

/* Taxonomy for terms that name none: one fixed id, so re-imports agree. */
#define IMPORTED_TAXONOMY_UUID "0b3e4f0e-2a1d-4c55-8d5e-6b1f3f7a9c21"

static void add_taxonomy(reader *r, const char *uuid, const char *name, const char *desc,
                         const char *uri, const char *version) {
    if (find_tax(r, uuid) >= 0) return;
    store_dir_taxonomy existing;
    ARENA_GROW(r->feed.taxonomies, r->feed.n_taxonomies, r->cap_tax, r->a);
    store_dir_taxonomy *t = &r->feed.taxonomies[r->feed.n_taxonomies++];
    memset(t, 0, sizeof *t);
    t->uuid = uuid;
    t->name = name && *name ? name : "Imported categories";
    t->description = desc;
    t->uri = uri;
    t->version = version;
    /* keep what the database says about a taxonomy the feed only names */
    if ((!name || !*name) && store_dir_taxonomy_by_uuid(r->s, uuid, r->a, &existing) == STORE_OK)
        *t = existing;
}

/* Reads one taxonomy_term object (from attributes or a term list). Returns its uuid. */
static const char *read_term(reader *r, json_t *o, const char *where) {
    const char *uuid = juuid(r, o, "id", where);
    if (!uuid) {
        if (!json_object_get(o, "id")) problem(r, where, "id: missing");
        return NULL;
    }
    if (find_term(r, uuid) >= 0) return uuid;
    const char *name = jtext(o, "name", r->a);
    if (!*name) {
        problem(r, where, "name: missing");
        return NULL;
    }
    const char *tax = juuid(r, o, "taxonomy_id", where);
    json_t *taxobj = json_object_get(o, "taxonomy_detail");
    if (!tax) tax = IMPORTED_TAXONOMY_UUID;
    add_taxonomy(r, tax,
                 json_is_object(taxobj) ? jtext(taxobj, "name", r->a) : jtext(o, "taxonomy", r->a),
                 "", "", "");
    ARENA_GROW(r->feed.terms, r->feed.n_terms, r->cap_terms, r->a);
    uindex_add(&r->term_ix, uuid, (int)r->feed.n_terms, r->a);
    store_dir_term *t = &r->feed.terms[r->feed.n_terms++];
    memset(t, 0, sizeof *t);
    t->uuid = uuid;
    t->taxonomy_uuid = tax;
    t->parent_uuid = juuid(r, o, "parent_id", where);
    t->code = jtext(o, "code", r->a);
    if (!*t->code) t->code = jtext(o, "term", r->a);
    t->name = name;
    t->description = jtext(o, "description", r->a);
    return uuid;
}

static const char *read_org(reader *r, json_t *o, const char *where) {
    const char *uuid = juuid(r, o, "id", where);
    if (!uuid) {
        if (!json_object_get(o, "id")) problem(r, where, "id: missing");
        return NULL;
    }
    int have = find_org(r, uuid);
    if (have >= 0) return uuid;
    store_dir_org org = {0};
    org.uuid = uuid;
    org.name = jtext(o, "name", r->a);
    org.description = jtext(o, "description", r->a);
    org.website = jtext(o, "website", r->a);
    org.email = jtext(o, "email", r->a);
    if (!*org.name) problem(r, where, "name: missing");
    const char *p;
    if ((p = directory_url_problem(org.website))) problem(r, where, "website: %s", p);
    if ((p = directory_email_problem(org.email))) problem(r, where, "email: %s", p);
    json_t *ids = json_object_get(o, "organization_identifiers");
    if (json_is_array(ids) && json_array_size(ids) > 0) {
        json_t *x = json_array_get(ids, 0);
        org.identifier = jtext(x, "identifier", r->a);
        org.identifier_type = jtext(x, "identifier_type", r->a);
    }
    json_t *phones = json_object_get(o, "phones");
    if (json_is_array(phones) && json_array_size(phones) > 0)
        org.phone = jtext(json_array_get(phones, 0), "number", r->a);
    ARENA_GROW(r->feed.orgs, r->feed.n_orgs, r->cap_orgs, r->a);
    uindex_add(&r->org_ix, uuid, (int)r->feed.n_orgs, r->a);
    r->feed.orgs[r->feed.n_orgs++] = org;
    return uuid;
}

static int valid_time_or_empty(const char *t) { return !directory_time_problem(t); }

static int time_minutes_of(const char *t) {
    return (t[0] - '0') * 600 + (t[1] - '0') * 60 + (t[3] - '0') * 10 + (t[4] - '0');
}

/* Checks a schedule's values; reports problems under where. */
static void check_schedule(reader *r, const store_dir_schedule *h, const char *where) {
    const char *p;
    if (*h->freq && strcmp(h->freq, "WEEKLY") != 0 && strcmp(h->freq, "MONTHLY") != 0)
        problem(r, where, "freq: must be WEEKLY or MONTHLY");
    if ((p = directory_byday_problem(h->byday))) problem(r, where, "byday: %s", p);
    if ((p = directory_time_problem(h->opens_at))) problem(r, where, "opens_at: %s", p);
    if ((p = directory_time_problem(h->closes_at))) problem(r, where, "closes_at: %s", p);
    if (*h->opens_at && *h->closes_at && valid_time_or_empty(h->opens_at) &&
        valid_time_or_empty(h->closes_at) &&
        time_minutes_of(h->closes_at) <= time_minutes_of(h->opens_at))
        problem(r, where, "closes_at: The closing time must be after the opening time");
}

/* Looks up the place of an exported service area: the uuid at the end of its uri
 * (".../places/<uuid>"), else none. */
static int area_place(reader *r, json_t *o, store_dir_area *out) {
    const char *uri = jtext(o, "uri", r->a);
    const char *slash = strrchr(uri, '/');
    const char *cand = slash ? slash + 1 : uri;
    store_place p;
    if (uuid_valid(cand) && store_place_by_uuid(r->s, cand, r->a, &p) == STORE_OK) {
        out->place_id = p.id;
        return 1;
    }
    /* the ONS code of our own exports, from another database */
    const char *ext = jtext(o, "extent", r->a);
    if (*ext && strcmp(jtext(o, "extent_type", r->a), "ons_gss_code") == 0 &&
        store_place_by_gss(r->s, ext, r->a, &p) == STORE_OK) {
        out->place_id = p.id;
        return 1;
    }
    /* a place of the same name (feeds from elsewhere) */
    const char *name = jtext(o, "name", r->a);
    store_place_list all;
    if (*name && store_place_list_page(r->s, STORE_PLACES_ALL, 0, 10000, r->a, &all) == STORE_OK)
        for (size_t i = 0; i < all.n; i++)
            if (strcmp(all.items[i].name, name) == 0) {
                out->place_id = all.items[i].id;
                return 1;
            }
    return 0;
}

static void read_service(reader *r, json_t *o, const char *where, const char *org_hint) {
    store_dir_service s = {0};
    const char *p;
    size_t before = r->n_problems;
    s.uuid = juuid(r, o, "id", where);
    if (!s.uuid && !json_object_get(o, "id")) problem(r, where, "id: missing");
    s.name = jtext(o, "name", r->a);
    if (!*s.name) problem(r, where, "name: missing");
    s.description = jtext(o, "description", r->a);
    s.url = jtext(o, "url", r->a);
    s.email = jtext(o, "email", r->a);
    s.fees = jtext(o, "fees", r->a);
    s.eligibility = jtext(o, "eligibility_description", r->a);
    if ((p = directory_url_problem(s.url))) problem(r, where, "url: %s", p);
    if ((p = directory_email_problem(s.email))) problem(r, where, "email: %s", p);
    const char *status = jtext(o, "status", r->a);
    if (*status && store_dir_status_parse(status, &s.status) != 0)
        problem(r, where, "status: must be active, inactive, defunct or temporarily closed");
    /* the organisation: nested, or by id (in this feed or already stored) */
    json_t *org = json_object_get(o, "organization");
    const char *org_uuid = NULL;
    if (json_is_object(org))
        org_uuid = read_org(r, org, arena_sprintf(r->a, "%s.organization", where));
    if (!org_uuid) org_uuid = juuid(r, o, "organization_id", where);
    if (!org_uuid) org_uuid = org_hint;
    if (!org_uuid) {
        problem(r, where, "organization_id: missing");
    } else if (find_org(r, org_uuid) < 0) {
        store_dir_org existing;
        if (store_dir_org_by_uuid(r->s, org_uuid, r->a, &existing) != STORE_OK)
            problem(r, where,
                    "organization_id: no organisation with this id in the feed or the directory");
    }
    s.org_uuid = org_uuid;
    size_t cap;
    json_t *arr, *x;
    size_t i;
    arr = json_object_get(o, "schedules");
    cap = 0;
    json_array_foreach(arr, i, x) {
        ARENA_GROW(s.schedules, s.n_schedules, cap, r->a);
        store_dir_schedule *h = &s.schedules[s.n_schedules++];
        const char *w = arena_sprintf(r->a, "%s.schedules[%zu]", where, i);
        h->uuid = juuid(r, x, "id", w);
        h->freq = jtext(x, "freq", r->a);
        json_t *iv = json_object_get(x, "interval");
        h->interval = json_is_integer(iv) ? json_integer_value(iv)
                      : json_is_real(iv)  ? (int64_t)json_real_value(iv)
                                          : 0;
        h->byday = jtext(x, "byday", r->a);
        h->bymonthday = jtext(x, "bymonthday", r->a);
        h->opens_at = jtext(x, "opens_at", r->a);
        h->closes_at = jtext(x, "closes_at", r->a);
        h->valid_from = jtext(x, "valid_from", r->a);
        h->valid_to = jtext(x, "valid_to", r->a);
        h->dtstart = jtext(x, "dtstart", r->a);
        h->description = jtext(x, "description", r->a);
        check_schedule(r, h, w);
    }
    arr = json_object_get(o, "service_at_locations");
    cap = 0;
    json_array_foreach(arr, i, x) {
        json_t *loc = json_object_get(x, "location");
        if (!json_is_object(loc)) continue;
        const char *w = arena_sprintf(r->a, "%s.service_at_locations[%zu]", where, i);
        ARENA_GROW(s.locations, s.n_locations, cap, r->a);
        store_dir_location *l = &s.locations[s.n_locations++];
        l->sal_uuid = juuid(r, x, "id", w);
        l->uuid = juuid(r, loc, "id", w);
        l->name = jtext(loc, "name", r->a);
        l->description = jtext(loc, "description", r->a);
        json_t *la = json_object_get(loc, "latitude"), *lo = json_object_get(loc, "longitude");
        /* Coordinates off the globe (the validator's own sample has latitude 100) are
         * left out rather than refusing the service: the address still places it. The
         * report says so. */
        if (json_is_number(la) && json_is_number(lo) && fabs(json_number_value(la)) <= 90 &&
            fabs(json_number_value(lo)) <= 180) {
            l->has_coords = 1;
            l->latitude = json_number_value(la);
            l->longitude = json_number_value(lo);
        } else if ((la && !json_is_null(la)) || (lo && !json_is_null(lo))) {
            const char *lw = arena_sprintf(r->a, "%s.location", w);
            if (!json_is_number(la) || !json_is_number(lo))
                note(r, lw, "latitude and longitude must both be numbers; the location is kept without coordinates");
            else
                note(r, lw,
                     "latitude %g, longitude %g is off the globe (latitude -90 to 90, longitude -180 to "
                     "180); the location is kept without coordinates",
                     json_number_value(la), json_number_value(lo));
        }
        json_t *addrs = json_object_get(loc, "addresses");
        if (json_is_array(addrs) && json_array_size(addrs) > 0) {
            json_t *ad = json_array_get(addrs, 0);
            l->address_1 = jtext(ad, "address_1", r->a);
            l->city = jtext(ad, "city", r->a);
            l->postcode = jtext(ad, "postal_code", r->a);
            l->country = jtext(ad, "country", r->a);
        }
        json_t *acc = json_object_get(loc, "accessibility");
        if (json_is_array(acc) && json_array_size(acc) > 0) {
            json_t *ac = json_array_get(acc, 0);
            l->accessibility = jtext(ac, "description", r->a);
            if (!*l->accessibility) l->accessibility = jtext(ac, "details", r->a);
        }
    }
    arr = json_object_get(o, "languages");
    cap = 0;
    json_array_foreach(arr, i, x) {
        ARENA_GROW(s.languages, s.n_languages, cap, r->a);
        store_dir_language *g = &s.languages[s.n_languages++];
        g->uuid = juuid(r, x, "id", arena_sprintf(r->a, "%s.languages[%zu]", where, i));
        g->name = jtext(x, "name", r->a);
        g->code = jtext(x, "code", r->a);
    }
    arr = json_object_get(o, "contacts");
    cap = 0;
    json_array_foreach(arr, i, x) {
        const char *w = arena_sprintf(r->a, "%s.contacts[%zu]", where, i);
        ARENA_GROW(s.contacts, s.n_contacts, cap, r->a);
        store_dir_contact *c = &s.contacts[s.n_contacts++];
        c->uuid = juuid(r, x, "id", w);
        c->name = jtext(x, "name", r->a);
        c->title = jtext(x, "title", r->a);
        c->email = jtext(x, "email", r->a);
        if ((p = directory_email_problem(c->email))) problem(r, w, "email: %s", p);
        json_t *ph = json_object_get(x, "phones");
        c->phone = json_is_array(ph) && json_array_size(ph)
                       ? jtext(json_array_get(ph, 0), "number", r->a)
                       : "";
    }
    arr = json_object_get(o, "service_areas");
    cap = 0;
    json_array_foreach(arr, i, x) {
        store_dir_area area = {0};
        if (!area_place(r, x, &area)) continue; /* an area that is not one of our places */
        area.uuid = juuid(r, x, "id", arena_sprintf(r->a, "%s.service_areas[%zu]", where, i));
        ARENA_GROW(s.areas, s.n_areas, cap, r->a);
        s.areas[s.n_areas++] = area;
    }
    arr = json_object_get(o, "attributes");
    cap = 0;
    json_array_foreach(arr, i, x) {
        json_t *term = json_object_get(x, "taxonomy_term");
        const char *w = arena_sprintf(r->a, "%s.attributes[%zu]", where, i);
        const char *tu = NULL;
        if (json_is_object(term))
            tu = read_term(r, term, w);
        else
            tu = juuid(r, x, "taxonomy_term_id", w);
        if (!tu) continue;
        store_dir_term known;
        if (find_term(r, tu) < 0 && store_dir_term_by_uuid(r->s, tu, r->a, &known) != STORE_OK) {
            problem(r, w, "taxonomy_term_id: no such taxonomy term");
            continue;
        }
        ARENA_GROW(s.terms, s.n_terms, cap, r->a);
        s.terms[s.n_terms].uuid = tu;
        s.terms[s.n_terms].attr_uuid = juuid(r, x, "id", w);
        s.n_terms++;
    }
    if (r->n_problems != before) return;
    if (s.uuid && uindex_find(&r->svc_ix, s.uuid) >= 0) {
        problem(r, where, "id: the same service id appears twice in the file");
        return;
    }
    if (s.uuid) uindex_add(&r->svc_ix, s.uuid, (int)r->feed.n_services, r->a);
    ARENA_GROW(r->feed.services, r->feed.n_services, r->cap_svcs, r->a);
    r->feed.services[r->feed.n_services++] = s;
}

/* An item of an array or page: a service (it has a status, locations or schedules) or
 * an organisation (possibly with its services). */
static void read_item(reader *r, json_t *x, const char *where) {
    if (!json_is_object(x)) {
        problem(r, where, "must be an object");
        return;
    }
    json_t *svcs = json_object_get(x, "services");
    if (json_object_get(x, "status") || json_object_get(x, "service_at_locations") ||
        json_object_get(x, "organization_id") || json_object_get(x, "schedules")) {
        read_service(r, x, where, NULL);
    } else {
        const char *org = read_org(r, x, where);
        size_t i;
        json_t *s;
        json_array_foreach(svcs, i, s)
            read_service(r, s, arena_sprintf(r->a, "%s.services[%zu]", where, i), org);
    }
}

static void read_json(reader *r, json_t *root) {
    size_t i;
    json_t *x;
    if (json_is_array(root)) {
        json_array_foreach(root, i, x) read_item(r, x, arena_sprintf(r->a, "[%zu]", i));
        return;
    }
    if (!json_is_object(root)) {
        problem(r, "file", "must be a JSON object or array");
        return;
    }
    json_t *contents = json_object_get(root, "contents");
    if (json_is_array(contents)) {
        json_array_foreach(contents, i, x) read_item(r, x, arena_sprintf(r->a, "contents[%zu]", i));
        return;
    }
    json_t *taxes = json_object_get(root, "taxonomies"),
           *terms = json_object_get(root, "taxonomy_terms");
    json_t *orgs = json_object_get(root, "organizations"),
           *svcs = json_object_get(root, "services");
    if (taxes || terms || orgs || (svcs && !json_object_get(root, "id"))) {
        json_array_foreach(taxes, i, x) {
            const char *w = arena_sprintf(r->a, "taxonomies[%zu]", i);
            const char *u = juuid(r, x, "id", w);
            const char *name = jtext(x, "name", r->a);
            if (!u)
                problem(r, w, "id: missing");
            else if (!*name)
                problem(r, w, "name: missing");
            else
                add_taxonomy(r, u, name, jtext(x, "description", r->a), jtext(x, "uri", r->a),
                             jtext(x, "version", r->a));
        }
        json_array_foreach(terms, i, x)
            read_term(r, x, arena_sprintf(r->a, "taxonomy_terms[%zu]", i));
        json_array_foreach(orgs, i, x) read_org(r, x, arena_sprintf(r->a, "organizations[%zu]", i));
        json_array_foreach(svcs, i, x)
            read_service(r, x, arena_sprintf(r->a, "services[%zu]", i), NULL);
        return;
    }
    read_item(r, root, "service");
}

/* ---- The CSV template ----------------------------------------------------------- */

const char *const directory_csv_columns[] = {"organization_id",
                                             "organization_name",
                                             "organization_description",
                                             "organization_website",
                                             "organization_email",
                                             "organization_phone",
                                             "charity_number",
                                             "service_id",
                                             "service_name",
                                             "service_description",
                                             "status",
                                             "url",
                                             "email",
                                             "phone",
                                             "eligibility",
                                             "fees",
                                             "categories",
                                             "location_id",
                                             "location_name",
                                             "address_1",
                                             "city",
                                             "postcode",
                                             "latitude",
                                             "longitude",
                                             "accessibility",
                                             "days",
                                             "opens_at",
                                             "closes_at",
                                             "frequency",
                                             "interval",
                                             "areas",
                                             "languages",
                                             NULL};

enum {
    C_ORG_ID,
    C_ORG_NAME,
    C_ORG_DESC,
    C_ORG_WEB,
    C_ORG_EMAIL,
    C_ORG_PHONE,
    C_CHARITY,
    C_SVC_ID,
    C_SVC_NAME,
    C_SVC_DESC,
    C_STATUS,
    C_URL,
    C_EMAIL,
    C_PHONE,
    C_ELIG,
    C_FEES,
    C_CATS,
    C_LOC_ID,
    C_LOC_NAME,
    C_ADDR,
    C_CITY,
    C_POSTCODE,
    C_LAT,
    C_LON,
    C_ACCESS,
    C_DAYS,
    C_OPENS,
    C_CLOSES,
    C_FREQ,
    C_INTERVAL,
    C_AREAS,
    C_LANGS,
    C__COUNT
};

/* Splits s on ';' into trimmed non-empty parts in a. */
static size_t split_list(const char *s, arena *a, char ***out) {
    size_t n = 0, cap = 0;
    char **parts = NULL;
    char *copy = arena_strdup(a, s), *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        tok = str_trim(tok);
        if (!*tok) continue;
        ARENA_GROW(parts, n, cap, a);
        parts[n++] = tok;
    }
    *out = parts;
    return n;
}

static const store_dir_term *known_term(reader *r, const char *code_or_name) {
    if (!r->terms_loaded) {
        r->terms_loaded = 1;
        if (store_dir_terms(r->s, NULL, r->a, &r->known_terms) != STORE_OK) r->known_terms.n = 0;
    }
    for (size_t i = 0; i < r->known_terms.n; i++)
        if (str_ieq(r->known_terms.items[i].code, code_or_name) ||
            str_ieq(r->known_terms.items[i].name, code_or_name))
            return &r->known_terms.items[i];
    return NULL;
}

static void read_csv(reader *r, const char *data, size_t len) {
    csv_reader *cr = csv_open_mem(data, len, ',');
    int col[C__COUNT];
    for (int k = 0; k < C__COUNT; k++) col[k] = -1;
    int rc = csv_next(cr);
    if (rc != 1) {
        problem(r, "line 1", "%s", rc < 0 ? csv_error(cr) : "the file is empty");
        csv_free(cr);
        return;
    }
    for (size_t i = 0; i < csv_nfields(cr); i++) {
        const char *h = csv_field(cr, i);
        int found = 0;
        for (int k = 0; directory_csv_columns[k]; k++)
            if (strcmp(h, directory_csv_columns[k]) == 0) {
                col[k] = (int)i;
                found = 1;
            }
        if (!found && *h) problem(r, "line 1", "unknown column \"%s\"", h);
    }
    if (col[C_ORG_NAME] < 0) problem(r, "line 1", "the column organization_name is required");
    if (col[C_SVC_NAME] < 0) problem(r, "line 1", "the column service_name is required");
    if (r->n_problems) {
        csv_free(cr);
        return;
    }
#define F(k) (col[k] >= 0 ? str_trim(arena_strdup(r->a, csv_field(cr, (size_t)col[k]))) : "")
    while ((rc = csv_next(cr)) == 1) {
        if (csv_blank(cr)) continue;
        const char *where = arena_sprintf(r->a, "line %ld", csv_line(cr));
        size_t before = r->n_problems;
        const char *p;
        /* the organisation */
        const char *org_name = F(C_ORG_NAME), *org_id = F(C_ORG_ID);
        if (!*org_name) {
            problem(r, where, "organization_name: Enter the name of the organisation");
            continue;
        }
        if (*org_id && !uuid_valid(org_id)) problem(r, where, "organization_id: must be a UUID");
        const char *org_uuid = *org_id ? org_id : derived_uuid(r->a, "organization", org_name);
        char *lc = arena_strdup(r->a, org_uuid);
        for (char *q = lc; *q; q++) *q = (char)tolower((unsigned char)*q);
        org_uuid = lc;
        if (find_org(r, org_uuid) < 0 && r->n_problems == before) {
            store_dir_org o = {0};
            o.uuid = org_uuid;
            o.name = org_name;
            o.description = F(C_ORG_DESC);
            o.website = F(C_ORG_WEB);
            o.email = F(C_ORG_EMAIL);
            o.phone = F(C_ORG_PHONE);
            o.identifier = F(C_CHARITY);
            o.identifier_type = *o.identifier ? "charity_number" : "";
            if ((p = directory_url_problem(o.website)))
                problem(r, where, "organization_website: %s", p);
            if ((p = directory_email_problem(o.email)))
                problem(r, where, "organization_email: %s", p);
            ARENA_GROW(r->feed.orgs, r->feed.n_orgs, r->cap_orgs, r->a);
            uindex_add(&r->org_ix, org_uuid, (int)r->feed.n_orgs, r->a);
            r->feed.orgs[r->feed.n_orgs++] = o;
        }
        /* the service */
        store_dir_service s = {0};
        s.name = F(C_SVC_NAME);
        if (!*s.name) problem(r, where, "service_name: Enter the name of the service");
        const char *sid = F(C_SVC_ID);
        if (*sid && !uuid_valid(sid)) problem(r, where, "service_id: must be a UUID");
        s.uuid = *sid ? sid : derived_uuid(r->a, org_name, s.name);
        char *slc = arena_strdup(r->a, s.uuid);
        for (char *q = slc; *q; q++) *q = (char)tolower((unsigned char)*q);
        s.uuid = slc;
        s.org_uuid = org_uuid;
        s.description = F(C_SVC_DESC);
        const char *status = F(C_STATUS);
        if (*status && store_dir_status_parse(status, &s.status) != 0)
            problem(r, where, "status: must be active, inactive, defunct or temporarily closed");
        s.url = F(C_URL);
        s.email = F(C_EMAIL);
        s.phone = F(C_PHONE);
        s.eligibility = F(C_ELIG);
        s.fees = F(C_FEES);
        if ((p = directory_url_problem(s.url))) problem(r, where, "url: %s", p);
        if ((p = directory_email_problem(s.email))) problem(r, where, "email: %s", p);
        char **parts;
        size_t np = split_list(F(C_CATS), r->a, &parts);
        if (np) s.terms = arena_calloc(r->a, np, sizeof *s.terms);
        for (size_t k = 0; k < np; k++) {
            const store_dir_term *t = known_term(r, parts[k]);
            if (!t) {
                problem(r, where, "categories: no category \"%s\" in the taxonomy", parts[k]);
                continue;
            }
            s.terms[s.n_terms].uuid = t->uuid;
            s.terms[s.n_terms].attr_uuid = derived_uuid(r->a, s.uuid, t->uuid);
            s.n_terms++;
        }
        const char *addr = F(C_ADDR), *pc = F(C_POSTCODE), *lname = F(C_LOC_NAME);
        if (*addr || *pc || *lname) {
            store_dir_location *l = arena_calloc(r->a, 1, sizeof *l);
            char formatted[16];
            const char *lid = F(C_LOC_ID);
            if (*lid && !uuid_valid(lid)) problem(r, where, "location_id: must be a UUID");
            l->uuid = *lid ? lid
                           : derived_uuid(r->a, "location",
                                          arena_sprintf(r->a, "%s|%s|%s", lname, addr, pc));
            l->sal_uuid = derived_uuid(r->a, s.uuid, l->uuid);
            l->name = lname;
            l->address_1 = addr;
            l->city = F(C_CITY);
            if ((p = directory_postcode_problem(pc))) problem(r, where, "postcode: %s", p);
            l->postcode = *pc && directory_postcode_format(pc, formatted, sizeof formatted)
                              ? arena_strdup(r->a, formatted)
                              : pc;
            l->accessibility = F(C_ACCESS);
            const char *la = F(C_LAT), *lo = F(C_LON);
            if (*la || *lo) {
                if (parse_double(la, &l->latitude) != 0 || fabs(l->latitude) > 90)
                    problem(r, where, "latitude: must be a number between -90 and 90");
                else if (parse_double(lo, &l->longitude) != 0 || fabs(l->longitude) > 180)
                    problem(r, where, "longitude: must be a number between -180 and 180");
                else
                    l->has_coords = 1;
            }
            s.locations = l;
            s.n_locations = 1;
        }
        const char *days = F(C_DAYS), *opens = F(C_OPENS), *closes = F(C_CLOSES);
        if (*days || *opens || *closes) {
            store_dir_schedule *h = arena_calloc(r->a, 1, sizeof *h);
            h->uuid = derived_uuid(r->a, s.uuid, "schedule");
            h->freq = *F(C_FREQ) ? F(C_FREQ) : "WEEKLY";
            const char *iv = F(C_INTERVAL);
            if (*iv && (parse_i64(iv, &h->interval) != 0 || h->interval < 1 || h->interval > 52))
                problem(r, where, "interval: must be a whole number from 1 to 52");
            h->byday = days;
            h->bymonthday = "";
            h->opens_at = opens;
            h->closes_at = closes;
            h->valid_from = h->valid_to = h->dtstart = h->description = "";
            check_schedule(r, h, where);
            s.schedules = h;
            s.n_schedules = 1;
        }
        np = split_list(F(C_AREAS), r->a, &parts);
        if (np) s.areas = arena_calloc(r->a, np, sizeof *s.areas);
        for (size_t k = 0; k < np; k++) {
            store_place pl;
            int found = store_place_by_gss(r->s, parts[k], r->a, &pl) == STORE_OK;
            if (!found) {
                store_place_list all;
                if (store_place_list_page(r->s, STORE_PLACES_ALL, 0, 10000, r->a, &all) == STORE_OK)
                    for (size_t m = 0; m < all.n && !found; m++)
                        if (str_ieq(all.items[m].name, parts[k])) {
                            pl = all.items[m];
                            found = 1;
                        }
            }
            if (!found) {
                problem(r, where, "areas: no place \"%s\" (give an ONS code or a place name)",
                        parts[k]);
                continue;
            }
            s.areas[s.n_areas].place_id = pl.id;
            s.areas[s.n_areas].uuid = derived_uuid(r->a, s.uuid, pl.uuid);
            s.n_areas++;
        }
        np = split_list(F(C_LANGS), r->a, &parts);
        if (np) s.languages = arena_calloc(r->a, np, sizeof *s.languages);
        for (size_t k = 0; k < np; k++) {
            s.languages[k].uuid = derived_uuid(r->a, s.uuid, parts[k]);
            s.languages[k].code = parts[k];
            s.languages[k].name = strcmp(parts[k], "en") == 0   ? "English"
                                  : strcmp(parts[k], "cy") == 0 ? "Cymraeg"
                                                                : parts[k];
            s.n_languages++;
        }
        if (r->n_problems != before) continue;
        if (uindex_find(&r->svc_ix, s.uuid) >= 0) {
            problem(r, where, "service_name: the same service appears twice in the file");
            continue;
        }
        uindex_add(&r->svc_ix, s.uuid, (int)r->feed.n_services, r->a);
        ARENA_GROW(r->feed.services, r->feed.n_services, r->cap_svcs, r->a);
        r->feed.services[r->feed.n_services++] = s;
    }
#undef F
    if (rc < 0) problem(r, "file", "%s", csv_error(cr));
    csv_free(cr);
}

/* Terms must be saved after their parents: a stable order with parents first; a
 * parent neither in the feed nor in the database is dropped. */
static void order_terms(reader *r) {
    size_t n = r->feed.n_terms, done = 0;
    store_dir_term *out = arena_calloc(r->a, n ? n : 1, sizeof *out);
    char *placed = arena_calloc(r->a, n ? n : 1, 1);
    for (size_t i = 0; i < n; i++) {
        store_dir_term *t = &r->feed.terms[i];
        store_dir_term known;
        if (t->parent_uuid && find_term(r, t->parent_uuid) < 0 &&
            store_dir_term_by_uuid(r->s, t->parent_uuid, r->a, &known) != STORE_OK)
            t->parent_uuid = NULL;
    }
    while (done < n) {
        size_t progress = 0;
        for (size_t i = 0; i < n; i++) {
            if (placed[i]) continue;
            store_dir_term *t = &r->feed.terms[i];
            int parent_ready = 1;
            if (t->parent_uuid) {
                int pi = find_term(r, t->parent_uuid);
                parent_ready = pi < 0 || placed[pi];
            }
            if (parent_ready) {
                out[done++] = *t;
                placed[i] = 1;
                progress++;
            }
        }
        if (!progress) { /* a cycle: cut it */
            for (size_t i = 0; i < n; i++)
                if (!placed[i]) {
                    r->feed.terms[i].parent_uuid = NULL;
                    break;
                }
        }
    }
    r->feed.terms = out;
}

int directory_import(store *s, const store_actor *actor, const char *data, size_t len,
                     const char *source, arena *a, directory_import_report *rep) {
    reader r;
    memset(&r, 0, sizeof r);
    memset(rep, 0, sizeof *rep);
    r.s = s;
    r.a = a;
    r.feed.source = source;
    size_t i = 0;
    while (i < len && isspace((unsigned char)data[i])) i++;
    if (i + 3 <= len && (unsigned char)data[i] == 0xEF && (unsigned char)data[i + 1] == 0xBB)
        i += 3; /* a byte-order mark */
    if (!utf8_valid(data, len)) {
        problem(&r, "file", "is not valid UTF-8 text");
    } else if (i < len && (data[i] == '{' || data[i] == '[')) {
        json_error_t err;
        json_t *root = json_loadb(data, len, 0, &err);
        if (!root)
            problem(&r, arena_sprintf(a, "line %d", err.line), "invalid JSON: %s", err.text);
        else
            read_json(&r, root);
        json_decref(root);
    } else {
        read_csv(&r, data, len);
    }
    if (!r.n_problems && r.feed.n_services == 0 && r.feed.n_orgs == 0)
        problem(&r, "file", "holds no organisations or services");
    rep->n_orgs = r.feed.n_orgs;
    rep->n_services = r.feed.n_services;
    rep->notes = r.notes;
    rep->n_notes = r.n_notes;
    if (r.n_problems) {
        rep->problems = r.problems;
        rep->n_problems = r.n_problems;
        return -1;
    }
    order_terms(&r);
    int rc = store_dir_import(s, actor, &r.feed, &rep->result);
    if (rc == STORE_OK) return 0;
    if (rc == STORE_INVALID) {
        int64_t b = rep->result.bad_index;
        const char *where =
            b >= 0 ? arena_sprintf(a, "services[%lld] (%s)", (long long)b, r.feed.services[b].name)
            : b == INT64_MIN ? "taxonomy"
                             : arena_sprintf(a, "organizations[%lld]", (long long)(-1 - b));
        problem(&r, where,
                "refused by the directory (bad text, or an unknown taxonomy term or place)");
        rep->problems = r.problems;
        rep->n_problems = r.n_problems;
        return -1;
    }
    return -2;
}

/* ---- Export --------------------------------------------------------------------- */

/* Every service, fully nested, in pages so that memory stays bounded per page. */
static int all_services(store *s, arena *a, store_dir_service_list *out) {
    store_dir_query q = {0};
    q.with_children = 1;
    q.limit = 1000000;
    return store_dir_service_search(s, &q, a, out);
}

int directory_export_json(store *s, const char *base_url, arena *a, json_t **out) {
    store_dir_taxonomy_list taxes;
    store_dir_term_list terms;
    store_dir_org_list orgs;
    store_dir_service_list svcs;
    if (store_dir_taxonomies(s, a, &taxes) != STORE_OK ||
        store_dir_terms(s, NULL, a, &terms) != STORE_OK ||
        store_dir_org_list_page(s, 0, 10000000, a, &orgs) != STORE_OK ||
        all_services(s, a, &svcs) != STORE_OK)
        return -1;
    json_t *root = json_object(), *jt = json_array(), *jterms = json_array(), *jo = json_array(),
           *js = json_array();
    for (size_t i = 0; i < taxes.n; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "id", json_string(taxes.items[i].uuid));
        json_object_set_new(x, "name", json_string(taxes.items[i].name));
        json_object_set_new(x, "description", json_string(taxes.items[i].description));
        set_str(x, "uri", taxes.items[i].uri);
        set_str(x, "version", taxes.items[i].version);
        json_array_append_new(jt, x);
    }
    for (size_t i = 0; i < terms.n; i++)
        json_array_append_new(jterms, directory_term_json(&terms.items[i]));
    for (size_t i = 0; i < orgs.n; i++)
        json_array_append_new(jo, directory_org_json(&orgs.items[i]));
    for (size_t i = 0; i < svcs.n; i++)
        json_array_append_new(js, directory_service_json(&svcs.items[i], base_url));
    json_object_set_new(root, "taxonomies", jt);
    json_object_set_new(root, "taxonomy_terms", jterms);
    json_object_set_new(root, "organizations", jo);
    json_object_set_new(root, "services", js);
    *out = root;
    return 0;
}

/* Appends one CSV field, quoted when it needs to be. */
static void csv_field_out(buf *b, const char *s, int last) {
    s = s ? s : "";
    if (strpbrk(s, ",\"\r\n")) {
        buf_putc(b, '"');
        for (; *s; s++) {
            if (*s == '"') buf_putc(b, '"');
            buf_putc(b, *s);
        }
        buf_putc(b, '"');
    } else {
        buf_puts(b, s);
    }
    buf_puts(b, last ? "\r\n" : ",");
}

int directory_export_csv(store *s, arena *a, buf *out) {
    store_dir_service_list svcs;
    if (all_services(s, a, &svcs) != STORE_OK) return -1;
    for (int k = 0; directory_csv_columns[k]; k++)
        csv_field_out(out, directory_csv_columns[k], directory_csv_columns[k + 1] == NULL);
    for (size_t i = 0; i < svcs.n; i++) {
        const store_dir_service *v = &svcs.items[i];
        store_dir_org o;
        if (store_dir_org_by_id(s, v->org_id, a, &o) != STORE_OK) return -1;
        const char *f[C__COUNT] = {0};
        f[C_ORG_ID] = o.uuid;
        f[C_ORG_NAME] = o.name;
        f[C_ORG_DESC] = o.description;
        f[C_ORG_WEB] = o.website;
        f[C_ORG_EMAIL] = o.email;
        f[C_ORG_PHONE] = o.phone;
        f[C_CHARITY] = o.identifier;
        f[C_SVC_ID] = v->uuid;
        f[C_SVC_NAME] = v->name;
        f[C_SVC_DESC] = v->description;
        f[C_STATUS] = store_dir_status_name(v->status);
        f[C_URL] = v->url;
        f[C_EMAIL] = v->email;
        f[C_PHONE] = v->phone;
        f[C_ELIG] = v->eligibility;
        f[C_FEES] = v->fees;
        buf cats;
        buf_init(&cats, 1 << 16);
        for (size_t k = 0; k < v->n_terms; k++)
            buf_printf(&cats, "%s%s", k ? ";" : "",
                       *v->terms[k].code ? v->terms[k].code : v->terms[k].name);
        f[C_CATS] = arena_strdup(a, buf_cstr(&cats));
        buf_reset(&cats);
        if (v->n_locations) {
            const store_dir_location *l = &v->locations[0];
            f[C_LOC_ID] = l->uuid;
            f[C_LOC_NAME] = l->name;
            f[C_ADDR] = l->address_1;
            f[C_CITY] = l->city;
            f[C_POSTCODE] = l->postcode;
            if (l->has_coords) {
                f[C_LAT] = arena_sprintf(a, "%.6f", l->latitude);
                f[C_LON] = arena_sprintf(a, "%.6f", l->longitude);
            }
            f[C_ACCESS] = l->accessibility;
        }
        if (v->n_schedules) {
            const store_dir_schedule *h = &v->schedules[0];
            f[C_DAYS] = h->byday;
            f[C_OPENS] = h->opens_at;
            f[C_CLOSES] = h->closes_at;
            f[C_FREQ] = h->freq;
            if (h->interval > 0) f[C_INTERVAL] = arena_sprintf(a, "%lld", (long long)h->interval);
        }
        for (size_t k = 0; k < v->n_areas; k++) {
            store_place pl;
            const char *code =
                store_place_by_id(s, v->areas[k].place_id, a, &pl) == STORE_OK && pl.gss_code
                    ? pl.gss_code
                    : v->areas[k].name;
            buf_printf(&cats, "%s%s", k ? ";" : "", code);
        }
        f[C_AREAS] = arena_strdup(a, buf_cstr(&cats));
        buf_reset(&cats);
        for (size_t k = 0; k < v->n_languages; k++)
            buf_printf(&cats, "%s%s", k ? ";" : "", v->languages[k].code);
        f[C_LANGS] = arena_strdup(a, buf_cstr(&cats));
        buf_free(&cats);
        for (int k = 0; k < C__COUNT; k++) csv_field_out(out, f[k], k == C__COUNT - 1);
    }
    return 0;
}
