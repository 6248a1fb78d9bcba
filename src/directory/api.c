/*
 * api: the read-only, public Open Referral UK API under /openreferral/ (HSDS 3.0 with
 * the UK profile). Every response, errors included, carries
 * Access-Control-Allow-Origin: * so that other councils' tools can read it from a
 * browser. Query parameters are checked before anything is looked up: a bad one is
 * answered 400 with a JSON body naming it; an unknown id is a 404 JSON body.
 */
#include <ctype.h>
#include <stdlib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "core/parse.h"
#include "core/rand.h"
#include "core/utf8.h"
#include "directory/api.h"
#include "directory/cache.h"
#include "directory/directory.h"

#define PER_PAGE_DEFAULT 50
#define PER_PAGE_MAX 500

static void cors(http_response *resp) {
    http_header_set(resp, "Access-Control-Allow-Origin", "*");
    /* responses change with the data; let caches revalidate */
    http_header_set(resp, "Cache-Control", "no-cache");
}

static void json_reply(http_response *resp, int status, json_t *body) {
    cors(resp);
    http_json(resp, status, body);
}

/* Answers from the response cache when this exact request was answered recently. */
static bool from_cache(http_request *req, http_response *resp) {
    char *data;
    size_t len;
    const char *key = arena_sprintf(req->arena, "api:%s", req->raw_target);
    if (!dir_cache_get(key, req->arena, &data, &len)) return false;
    cors(resp);
    http_body(resp, "application/json", data, len);
    return true;
}

/* A 200 answer that later identical requests may reuse (cache.h). body is consumed. */
static void reply_cached(http_request *req, http_response *resp, json_t *body) {
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) abort(); /* jansson fails only when out of memory */
    size_t len = strlen(text);
    dir_cache_put(arena_sprintf(req->arena, "api:%s", req->raw_target), text, len);
    cors(resp);
    http_body_take(resp, "application/json", text, len);
}

/* reply_cached for a body already serialised into b (emptied). */
static void reply_cached_buf(http_request *req, http_response *resp, buf *b) {
    size_t len;
    char *text = buf_detach(b, &len);
    dir_cache_put(arena_sprintf(req->arena, "api:%s", req->raw_target), text, len);
    cors(resp);
    http_body_take(resp, "application/json", text, len);
}

static void json_error(http_response *resp, int status, const char *parameter,
                       const char *message) {
    json_t *j = json_object();
    json_object_set_new(j, "status", json_integer(status));
    json_object_set_new(j, "error", json_string(http_reason(status)));
    if (parameter) json_object_set_new(j, "parameter", json_string(parameter));
    json_object_set_new(j, "message", json_string(message));
    json_reply(resp, status, j);
}

/* A whole number from lo to hi in query parameter name (default def when absent).
 * false (and a 400 sent) when it is not. */
static bool int_param(http_request *req, http_response *resp, const char *name, int64_t def,
                      int64_t lo, int64_t hi, int64_t *out) {
    const char *v = http_query(req, name);
    *out = def;
    if (!v) return true;
    if (parse_i64(v, out) != 0 || *out < lo || *out > hi) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be a whole number from %lld to %lld", name,
                 (long long)lo, (long long)hi);
        json_error(resp, 400, name, msg);
        return false;
    }
    return true;
}

static bool uuid_param(http_request *req, http_response *resp, const char *name, const char **out) {
    const char *v = http_query(req, name);
    *out = NULL;
    if (!v) return true;
    if (!uuid_valid(v)) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s must be a UUID", name);
        json_error(resp, 400, name, msg);
        return false;
    }
    *out = v;
    return true;
}

/* modified_after: an ISO 8601 date or date-time (UTC when no offset is given). */
int directory_parse_time(const char *s, int64_t *out) {
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return -1;
    const char *p = s + 10;
    int off = 0;
    if (*p == 'T' || *p == ' ') {
        int m2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &m2) != 2 || m2 != 5) return -1;
        p += 1 + m2;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &sec, &m2) != 1 || m2 != 2) return -1;
            p += 3;
        }
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p)) p++;
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om, m3 = 0;
            if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m3) != 2 || m3 != 5) return -1;
            off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
            p += 1 + m3;
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
    struct tm tmv = {0};
    tmv.tm_year = y - 1900;
    tmv.tm_mon = mo - 1;
    tmv.tm_mday = d;
    tmv.tm_hour = h;
    tmv.tm_min = mi;
    tmv.tm_sec = sec;
    *out = (int64_t)timegm(&tmv) - off;
    return 0;
}

static void get_root(http_request *req, http_response *resp) {
    app *a = req->app;
    json_t *j = json_object();
    json_object_set_new(j, "version", json_string("HSDS-UK-3.0"));
    json_object_set_new(
        j, "profile",
        json_string("https://github.com/OpenReferralUK/uk-profile/blob/main/docs/index.md"));
    json_object_set_new(j, "openapi_url",
                        json_string("https://docs.openreferraluk.org/en/latest/openapi30.json"));
    (void)a;
    json_reply(resp, 200, j);
}

static const char *base_url(http_request *req) {
    app *a = req->app;
    return a->base_url ? a->base_url : "";
}

static void get_services(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    int64_t page, per_page, proximity = 0;
    store_dir_query q = {0};
    if (!int_param(req, resp, "page", 1, 1, 1000000, &page) ||
        !int_param(req, resp, "per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX, &per_page) ||
        !uuid_param(req, resp, "taxonomy_term_id", &q.term_uuid) ||
        !uuid_param(req, resp, "organization_id", &q.org_uuid) ||
        !int_param(req, resp, "proximity", 0, 1, 1000000, &proximity))
        return;
    const char *search = http_query(req, "search");
    if (search && utf8_length(search, strlen(search)) > 200) {
        json_error(resp, 400, "search", "search must be 200 characters or fewer");
        return;
    }
    q.text = search;
    const char *mod = http_query(req, "modified_after");
    if (mod && directory_parse_time(mod, &q.modified_after) != 0) {
        json_error(
            resp, 400, "modified_after",
            "modified_after must be an ISO 8601 date or date-time, like 2025-01-31T09:00:00Z");
        return;
    }
    const char *postcode = http_query(req, "postcode");
    char formatted[16];
    if (postcode) {
        /* a full postcode, or just its outward part ("BN11") */
        int ok = directory_postcode_format(postcode, formatted, sizeof formatted) != NULL;
        if (!ok) {
            size_t n = 0, letters = 0;
            for (const char *p = postcode; *p; p++) {
                if (*p == ' ') continue;
                if (!isalnum((unsigned char)*p)) {
                    n = 99;
                    break;
                }
                if (isalpha((unsigned char)*p) && n == letters) letters++;
                n++;
            }
            ok = n >= 2 && n <= 4 && letters >= 1 && letters <= 2;
        }
        if (!ok) {
            json_error(
                resp, 400, "postcode",
                "postcode must be a UK postcode, like BN11 1HA, or its first half, like BN11");
            return;
        }
    }
    if (http_query(req, "proximity") && !postcode) {
        json_error(resp, 400, "proximity", "proximity (metres) needs a postcode to measure from");
        return;
    }
    if (proximity > 0) {
        if (store_dir_postcode_centre(a->store, postcode, &q.lat, &q.lon) != STORE_OK) {
            /* no known location at that postcode: nothing can be near it */
            json_reply(resp, 200, directory_page_json(0, page, per_page, json_array()));
            return;
        }
        q.near = 1;
        q.radius_m = (double)proximity;
    } else {
        q.postcode = postcode;
    }
    q.offset = (page - 1) * per_page;
    q.limit = per_page;
    q.with_children = 1;
    store_dir_service_list list;
    if (store_dir_service_search(a->store, &q, req->arena, &list) != STORE_OK) {
        json_error(resp, 500, NULL, "the directory could not be read");
        return;
    }
    buf b;
    buf_init(&b, (size_t)1 << 30);
    directory_page_write(&b, list.total, page, per_page, list.items, list.n, base_url(req));
    reply_cached_buf(req, resp, &b);
}

static void get_service(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    const char *id = http_param(req, "id");
    store_dir_service s;
    if (!uuid_valid(id) || store_dir_service_by_uuid(a->store, id, req->arena, &s) != STORE_OK) {
        json_error(resp, 404, NULL, "There is no service with this id.");
        return;
    }
    buf b;
    buf_init(&b, (size_t)1 << 30);
    directory_service_write(&b, &s, base_url(req));
    reply_cached_buf(req, resp, &b);
}

static void get_organizations(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    int64_t page, per_page;
    if (!int_param(req, resp, "page", 1, 1, 1000000, &page) ||
        !int_param(req, resp, "per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX, &per_page))
        return;
    store_dir_org_list list;
    if (store_dir_org_list_page(a->store, (page - 1) * per_page, per_page, req->arena, &list) !=
        STORE_OK) {
        json_error(resp, 500, NULL, "the directory could not be read");
        return;
    }
    json_t *contents = json_array();
    for (size_t i = 0; i < list.n; i++)
        json_array_append_new(contents, directory_org_json(&list.items[i]));
    reply_cached(req, resp, directory_page_json(list.total, page, per_page, contents));
}

static void get_organization(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    const char *id = http_param(req, "id");
    store_dir_org o;
    if (!uuid_valid(id) || store_dir_org_by_uuid(a->store, id, req->arena, &o) != STORE_OK) {
        json_error(resp, 404, NULL, "There is no organization with this id.");
        return;
    }
    store_dir_query q = {0};
    q.org_uuid = o.uuid;
    q.limit = 10000;
    q.with_children = 1;
    store_dir_service_list list;
    if (store_dir_service_search(a->store, &q, req->arena, &list) != STORE_OK) {
        json_error(resp, 500, NULL, "the directory could not be read");
        return;
    }
    json_t *j = directory_org_json(&o), *svcs = json_array();
    for (size_t i = 0; i < list.n; i++)
        json_array_append_new(svcs, directory_service_json(&list.items[i], base_url(req)));
    json_object_set_new(j, "services", svcs);
    reply_cached(req, resp, j);
}

static json_t *taxonomy_json(const store_dir_taxonomy *t) {
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(t->uuid));
    json_object_set_new(j, "name", json_string(t->name));
    json_object_set_new(j, "description", json_string(t->description));
    if (*t->uri) json_object_set_new(j, "uri", json_string(t->uri));
    if (*t->version) json_object_set_new(j, "version", json_string(t->version));
    return j;
}

static void get_taxonomies(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    int64_t page, per_page;
    if (!int_param(req, resp, "page", 1, 1, 1000000, &page) ||
        !int_param(req, resp, "per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX, &per_page))
        return;
    store_dir_taxonomy_list list;
    if (store_dir_taxonomies(a->store, req->arena, &list) != STORE_OK) {
        json_error(resp, 500, NULL, "the directory could not be read");
        return;
    }
    json_t *contents = json_array();
    for (size_t i = (size_t)((page - 1) * per_page);
         i < list.n && json_array_size(contents) < (size_t)per_page; i++)
        json_array_append_new(contents, taxonomy_json(&list.items[i]));
    reply_cached(req, resp, directory_page_json((int64_t)list.n, page, per_page, contents));
}

static void get_taxonomy(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    const char *id = http_param(req, "id");
    store_dir_taxonomy t;
    if (!uuid_valid(id) || store_dir_taxonomy_by_uuid(a->store, id, req->arena, &t) != STORE_OK) {
        json_error(resp, 404, NULL, "There is no taxonomy with this id.");
        return;
    }
    json_t *j = taxonomy_json(&t), *terms = json_array();
    store_dir_term_list list;
    if (store_dir_terms(a->store, t.uuid, req->arena, &list) == STORE_OK)
        for (size_t i = 0; i < list.n; i++)
            json_array_append_new(terms, directory_term_json(&list.items[i]));
    json_object_set_new(j, "taxonomy_terms", terms);
    reply_cached(req, resp, j);
}

static void get_terms(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    int64_t page, per_page;
    const char *tax;
    if (!int_param(req, resp, "page", 1, 1, 1000000, &page) ||
        !int_param(req, resp, "per_page", PER_PAGE_DEFAULT, 1, PER_PAGE_MAX, &per_page) ||
        !uuid_param(req, resp, "taxonomy_id", &tax))
        return;
    store_dir_term_list list;
    if (store_dir_terms(a->store, tax, req->arena, &list) != STORE_OK) {
        json_error(resp, 500, NULL, "the directory could not be read");
        return;
    }
    json_t *contents = json_array();
    for (size_t i = (size_t)((page - 1) * per_page);
         i < list.n && json_array_size(contents) < (size_t)per_page; i++)
        json_array_append_new(contents, directory_term_json(&list.items[i]));
    reply_cached(req, resp, directory_page_json((int64_t)list.n, page, per_page, contents));
}

static void get_term(http_request *req, http_response *resp) {
    app *a = req->app;
    if (from_cache(req, resp)) return;
    const char *id = http_param(req, "id");
    store_dir_term t;
    if (!uuid_valid(id) || store_dir_term_by_uuid(a->store, id, req->arena, &t) != STORE_OK) {
        json_error(resp, 404, NULL, "There is no taxonomy term with this id.");
        return;
    }
    reply_cached(req, resp, directory_term_json(&t));
}

/* CORS preflight: the API is read-only, so only GET is allowed from other origins. */
static void options_any(http_request *req, http_response *resp) {
    (void)req;
    cors(resp);
    http_header_set(resp, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    http_header_set(resp, "Access-Control-Allow-Headers", "Accept, Content-Type");
    http_header_set(resp, "Access-Control-Max-Age", "86400");
    http_status(resp, 204);
}

void directory_api_routes(http_router *router) {
    http_route(router, HTTP_GET, "/openreferral", get_root);
    http_route(router, HTTP_GET, "/openreferral/", get_root);
    http_route(router, HTTP_GET, "/openreferral/services", get_services);
    http_route(router, HTTP_GET, "/openreferral/services/{id}", get_service);
    http_route(router, HTTP_GET, "/openreferral/organizations", get_organizations);
    http_route(router, HTTP_GET, "/openreferral/organizations/{id}", get_organization);
    http_route(router, HTTP_GET, "/openreferral/taxonomies", get_taxonomies);
    http_route(router, HTTP_GET, "/openreferral/taxonomies/{id}", get_taxonomy);
    http_route(router, HTTP_GET, "/openreferral/taxonomy_terms", get_terms);
    http_route(router, HTTP_GET, "/openreferral/taxonomy_terms/{id}", get_term);
    http_route(router, HTTP_OPTIONS, "/openreferral/{path...}", options_any);
}
