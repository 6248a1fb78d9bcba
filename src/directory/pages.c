/*
 * pages: the directory's HTML pages — browse and search by place and category, the
 * service page (opening times in words, calendar file, "who else does this here?"),
 * organisation pages with their members, forms for organisations and services that
 * keep what was typed and name each problem, the officers' duplicate clusters, import
 * and export.
 *
 * Who may do what: anyone browses; an officer (or admin) manages everything; an
 * organiser manages the organisations they belong to and may invite others into them.
 */
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
#include "web/escape.h"
#include "web/i18n.h"
#include "web/svg.h"

#define PAGE_SIZE 20

static const char *lang_of(http_request *req) { return app_ctx_of(req)->lang; }

static bool is_officer(http_request *req) {
    app_ctx *c = app_ctx_of(req);
    return c->signed_in && c->user.role >= STORE_ROLE_OFFICER;
}

/* Officers, and organisers who belong to the organisation. */
static bool can_manage(http_request *req, int64_t org_id) {
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    if (!c->signed_in) return false;
    if (c->user.role >= STORE_ROLE_OFFICER) return true;
    return store_dir_member_check(a->store, org_id, c->user.id) == STORE_OK;
}

static const char *status_label(store_dir_status st) {
    switch (st) {
    case STORE_DIR_ACTIVE:
        return N_("Active");
    case STORE_DIR_INACTIVE:
        return N_("Inactive");
    case STORE_DIR_DEFUNCT:
        return N_("Closed for good");
    case STORE_DIR_TEMPORARILY_CLOSED:
        return N_("Temporarily closed");
    }
    return N_("Active");
}

static const char *url_enc(http_request *req, const char *s) {
    buf b;
    buf_init(&b, 4096);
    url_encode(&b, s ? s : "");
    char *r = arena_strdup(req->arena, buf_cstr(&b));
    buf_free(&b);
    return r;
}

/* The short form of a service used in lists: name, organisation, categories, times. */
static void fill_service_summary(http_request *req, tv *m, const store_dir_service *s) {
    const char *lang = lang_of(req);
    tv_set_str(m, "uuid", s->uuid);
    tv_set_str(m, "name", s->name);
    tv_set_str(m, "org_name", s->org_name);
    tv_set_str(m, "org_uuid", s->org_uuid);
    tv_set_str(m, "status", s->status == STORE_DIR_ACTIVE ? "" : T(lang, status_label(s->status)));
    tv *cats = tv_set_list(m, "categories");
    for (size_t i = 0; i < s->n_terms; i++) tv_push_str(cats, s->terms[i].name);
    tv *areas = tv_set_list(m, "areas");
    for (size_t i = 0; i < s->n_areas; i++) tv_push_str(areas, s->areas[i].name);
    tv *times = tv_set_list(m, "times");
    for (size_t i = 0; i < s->n_schedules; i++)
        tv_push_str(times, directory_schedule_words(&s->schedules[i], lang, req->arena));
    if (s->n_locations) {
        const store_dir_location *l = &s->locations[0];
        tv_set_strf(m, "where", "%s%s%s", l->name, *l->name && *l->postcode ? ", " : "",
                    l->postcode);
    }
}

/* ---- The map ------------------------------------------------------------------- */

/* An SVG picture of the services with coordinates, numbered to match the text list
 * beside it; NULL when none has coordinates. Equirectangular projection scaled by
 * cos(latitude), which is exact enough across a district. */
static const char *map_svg(http_request *req, const store_dir_service *svcs, size_t n, tv *list) {
    const char *lang = lang_of(req);
    double minlat = 90, maxlat = -90, minlon = 180, maxlon = -180;
    size_t with = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < svcs[i].n_locations; k++) {
            const store_dir_location *l = &svcs[i].locations[k];
            if (!l->has_coords) continue;
            with++;
            minlat = fmin(minlat, l->latitude);
            maxlat = fmax(maxlat, l->latitude);
            minlon = fmin(minlon, l->longitude);
            maxlon = fmax(maxlon, l->longitude);
        }
    if (!with) return NULL;
    const double W = 600, H = 360, pad = 30;
    double k = cos((minlat + maxlat) / 2 * M_PI / 180);
    double spanx = fmax((maxlon - minlon) * k, 0.01), spany = fmax(maxlat - minlat, 0.01);
    double scale = fmin((W - 2 * pad) / spanx, (H - 2 * pad) / spany);
    double offx = (W - spanx * scale) / 2, offy = (H - spany * scale) / 2;
    buf b;
    buf_init(&b, 1 << 18);
    const char *title = T(lang, "Map of the services listed");
    const char *desc =
        T(lang, "Each numbered dot is a service; the numbered list beside the map names them.");
    int rc = svg_begin(&b, "dir-map", W, H, title, desc);
    rc |= svg_rect(&b, 0, 0, W, H, "cg-map__sea");
    int number = 0;
    for (size_t i = 0; i < n; i++) {
        const store_dir_service *s = &svcs[i];
        const store_dir_location *l = NULL;
        for (size_t j = 0; j < s->n_locations && !l; j++)
            if (s->locations[j].has_coords) l = &s->locations[j];
        if (!l) continue;
        number++;
        double x = offx + (l->longitude - minlon) * k * scale;
        double y = H - (offy + (l->latitude - minlat) * scale);
        char label[16];
        snprintf(label, sizeof label, "%d", number);
        rc |= svg_group_begin(&b, "cg-map__point", s->name);
        rc |= svg_circle(&b, x, y, 9, "cg-map__dot");
        rc |= svg_text(&b, x, y + 4, "middle", "cg-map__label", label);
        rc |= svg_group_end(&b);
        tv *m = tv_push_map(list);
        tv_set_int(m, "number", number);
        tv_set_str(m, "uuid", s->uuid);
        tv_set_str(m, "name", s->name);
        tv_set_strf(m, "where", "%s%s%s", l->name, *l->name && *l->postcode ? ", " : "",
                    l->postcode);
    }
    rc |= svg_end(&b);
    const char *html = rc ? NULL : arena_strdup(req->arena, buf_cstr(&b));
    buf_free(&b);
    return html;
}

/* ---- Browse and search ---------------------------------------------------------- */

static void fill_filters(http_request *req, tv *ctx, const char *place_uuid,
                         const char *term_uuid) {
    app *a = req->app;
    store_place_list places;
    tv *pl = tv_set_list(ctx, "places");
    if (store_place_list_page(a->store, STORE_PLACES_ALL, 0, 5000, req->arena, &places) == STORE_OK)
        for (size_t i = 0; i < places.n; i++) {
            tv *m = tv_push_map(pl);
            tv_set_str(m, "uuid", places.items[i].uuid);
            tv_set_str(m, "name", places.items[i].name);
            tv_set_bool(m, "selected", place_uuid && strcmp(place_uuid, places.items[i].uuid) == 0);
        }
    store_dir_term_list terms;
    tv *tl = tv_set_list(ctx, "terms");
    if (store_dir_terms(a->store, NULL, req->arena, &terms) == STORE_OK)
        for (size_t i = 0; i < terms.n; i++) {
            tv *m = tv_push_map(tl);
            tv_set_str(m, "uuid", terms.items[i].uuid);
            tv_set_str(m, "name", terms.items[i].name);
            tv_set_int(m, "count", terms.items[i].service_count);
            tv_set_bool(m, "selected", term_uuid && strcmp(term_uuid, terms.items[i].uuid) == 0);
        }
}

static void get_browse(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = lang_of(req);
    /* The body of this page depends only on the query, the language and whether the
     * visitor is an officer: it is rendered once and reused (cache.h). */
    const char *key = arena_sprintf(req->arena, "browse:%s:%d:%s", lang, is_officer(req) ? 1 : 0,
                                    req->raw_target);
    char *cached;
    size_t cached_len;
    if (dir_cache_get(key, req->arena, &cached, &cached_len)) {
        tv *page = app_page(req);
        tv_set_html(page, "body", cached);
        app_render(req, resp, 200, "dir_page.html", T(lang, "Community directory"), page);
        return;
    }
    const char *q = http_query(req, "q"), *place = http_query(req, "place"),
               *cat = http_query(req, "category"), *pg = http_query(req, "page");
    int64_t page = 1;
    if (pg && (parse_i64(pg, &page) != 0 || page < 1 || page > 100000)) {
        http_error(req, resp, 400, T(lang, "The page number must be a whole number from 1."));
        return;
    }
    if (q && utf8_length(q, strlen(q)) > 200) {
        http_error(req, resp, 400, T(lang, "Search words must be 200 characters or fewer."));
        return;
    }
    store_dir_query dq = {0};
    store_place p;
    if (place && *place) {
        if (!uuid_valid(place) ||
            store_place_by_uuid(a->store, place, req->arena, &p) != STORE_OK) {
            http_error(req, resp, 400, T(lang, "Choose a place from the list."));
            return;
        }
        dq.place_id = p.id;
    }
    if (cat && *cat) {
        store_dir_term t;
        if (!uuid_valid(cat) || store_dir_term_by_uuid(a->store, cat, req->arena, &t) != STORE_OK) {
            http_error(req, resp, 400, T(lang, "Choose a category from the list."));
            return;
        }
        dq.term_uuid = cat;
    }
    dq.text = q;
    dq.offset = (page - 1) * PAGE_SIZE;
    dq.limit = PAGE_SIZE;
    store_dir_service_list list;
    if (store_dir_service_search(a->store, &dq, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *ctx = tv_map(req->arena);
    tv *form = tv_set_map(ctx, "form");
    tv_set_str(form, "q", q ? q : "");
    fill_filters(req, ctx, place, cat);
    tv_set_int(ctx, "total", list.total);
    tv_set_bool(ctx, "searched", (q && *q) || (place && *place) || (cat && *cat));
    tv_set_bool(ctx, "can_add", is_officer(req));
    tv *rows = tv_set_list(ctx, "services");
    for (size_t i = 0; i < list.n; i++)
        fill_service_summary(req, tv_push_map(rows), &list.items[i]);
    /* With a place chosen, the map shows all of that place's matching services (up to
     * 500), not only this page's. */
    store_dir_service_list on_map = list;
    if (dq.place_id && list.total > (int64_t)list.n) {
        store_dir_query mq = dq;
        mq.offset = 0;
        mq.limit = 500;
        if (store_dir_service_search(a->store, &mq, req->arena, &on_map) != STORE_OK) on_map = list;
    }
    tv *maplist = tv_list(req->arena);
    const char *svg = map_svg(req, on_map.items, on_map.n, maplist);
    if (svg) {
        tv_set_html(ctx, "map", svg);
        tv_set(ctx, "map_list", maplist);
    }
    const char *base = arena_sprintf(req->arena, "/directory?q=%s&place=%s&category=%s",
                                     url_enc(req, q), url_enc(req, place), url_enc(req, cat));
    tv *pager = tv_set_map(ctx, "pager");
    if (page > 1) tv_set_strf(pager, "prev", "%s&page=%lld", base, (long long)(page - 1));
    if (page * PAGE_SIZE < list.total)
        tv_set_strf(pager, "next", "%s&page=%lld", base, (long long)(page + 1));
    buf body;
    buf_init(&body, 4 << 20);
    if (tmpl_render(a->tmpl, "dir_browse.html", ctx, lang, &body) != 0) {
        buf_free(&body);
        http_error(req, resp, 500, NULL);
        return;
    }
    dir_cache_put(key, buf_cstr(&body), buf_len(&body));
    tv *page_ctx = app_page(req);
    tv_set_html(page_ctx, "body", buf_cstr(&body));
    buf_free(&body);
    app_render(req, resp, 200, "dir_page.html", T(lang, "Community directory"), page_ctx);
}

/* ---- Service page --------------------------------------------------------------- */

static bool load_service(http_request *req, http_response *resp, store_dir_service *s) {
    app *a = req->app;
    const char *id = http_param(req, "id");
    if (!uuid_valid(id) || store_dir_service_by_uuid(a->store, id, req->arena, s) != STORE_OK) {
        http_error(req, resp, 404, T(lang_of(req), "There is no such service."));
        return false;
    }
    return true;
}

static bool load_org(http_request *req, http_response *resp, store_dir_org *o) {
    app *a = req->app;
    const char *id = http_param(req, "id");
    if (!uuid_valid(id) || store_dir_org_by_uuid(a->store, id, req->arena, o) != STORE_OK) {
        http_error(req, resp, 404, T(lang_of(req), "There is no such organisation."));
        return false;
    }
    return true;
}

/* The parent of place id, 0 when top level or unknown. */
static int64_t parent_of(const store_place_list *places, int64_t id) {
    for (size_t i = 0; i < places->n; i++)
        if (places->items[i].id == id) return places->items[i].parent_id;
    return 0;
}

/* Is x the same place as y or within it? */
static bool within(const store_place_list *places, int64_t x, int64_t y) {
    for (int depth = 0; x && depth < 64; depth++, x = parent_of(places, x))
        if (x == y) return true;
    return false;
}

/* Do two services serve overlapping places? One area contains or equals the other's.
 * A service that names no area is taken to overlap everything. */
static bool areas_overlap(const store_dir_service *a, const store_dir_service *b,
                          const store_place_list *places) {
    if (a->n_areas == 0 || b->n_areas == 0) return true;
    for (size_t i = 0; i < a->n_areas; i++)
        for (size_t j = 0; j < b->n_areas; j++)
            if (within(places, a->areas[i].place_id, b->areas[j].place_id) ||
                within(places, b->areas[j].place_id, a->areas[i].place_id))
                return true;
    return false;
}

/* Services related to s, ranked by similarity, best first, at most max. */
static size_t similar_services(http_request *req, const store_dir_service *s, tv *out, size_t max) {
    app *a = req->app;
    store_dir_service_list rel;
    if (store_dir_service_related(a->store, s->id, 200, req->arena, &rel) != STORE_OK) return 0;
    double *score = arena_calloc(req->arena, rel.n ? rel.n : 1, sizeof *score);
    store_place_list places;
    if (store_place_list_page(a->store, STORE_PLACES_ALL, 0, 100000, req->arena, &places) !=
        STORE_OK)
        places.n = 0;
    for (size_t i = 0; i < rel.n; i++) {
        /* only services that serve an overlapping place (or say nothing about where) */
        score[i] = areas_overlap(s, &rel.items[i], &places)
                       ? directory_similarity(s, &rel.items[i], NULL, NULL, NULL)
                       : -1;
    }
    size_t shown = 0;
    char *used = arena_calloc(req->arena, rel.n ? rel.n : 1, 1);
    while (shown < max) {
        long best = -1;
        for (size_t i = 0; i < rel.n; i++)
            if (!used[i] && score[i] >= 0.1 && (best < 0 || score[i] > score[best])) best = (long)i;
        if (best < 0) break;
        used[best] = 1;
        tv *m = tv_push_map(out);
        fill_service_summary(req, m, &rel.items[best]);
        tv_set_int(m, "percent", (long long)lround(score[best] * 100));
        shown++;
    }
    return shown;
}

static void get_service(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = lang_of(req);
    store_dir_service s;
    if (!load_service(req, resp, &s)) return;
    tv *ctx = app_page(req);
    tv *m = tv_set_map(ctx, "service");
    fill_service_summary(req, m, &s);
    tv_set_str(m, "description", s.description);
    tv_set_str(m, "eligibility", s.eligibility);
    tv_set_str(m, "fees", s.fees);
    tv_set_str(m, "url", s.url);
    tv_set_str(m, "email", s.email);
    tv_set_str(m, "phone", s.phone);
    tv_set_str(m, "status_label", T(lang, status_label(s.status)));
    tv_set_str(m, "updated_iso", app_iso_time(req, s.updated_at));
    tv_set_str(m, "updated_text", app_date_text(req, s.updated_at));
    tv *locs = tv_set_list(m, "locations");
    for (size_t i = 0; i < s.n_locations; i++) {
        tv *l = tv_push_map(locs);
        const store_dir_location *x = &s.locations[i];
        tv_set_str(l, "name", x->name);
        tv_set_str(l, "address", x->address_1);
        tv_set_str(l, "city", x->city);
        tv_set_str(l, "postcode", x->postcode);
        tv_set_str(l, "accessibility", x->accessibility);
    }
    tv *langs = tv_set_list(m, "languages");
    for (size_t i = 0; i < s.n_languages; i++) tv_push_str(langs, s.languages[i].name);
    tv *contacts = tv_set_list(m, "contacts");
    for (size_t i = 0; i < s.n_contacts; i++) {
        tv *c = tv_push_map(contacts);
        tv_set_str(c, "name", s.contacts[i].name);
        tv_set_str(c, "title", s.contacts[i].title);
        tv_set_str(c, "email", s.contacts[i].email);
        tv_set_str(c, "phone", s.contacts[i].phone);
    }
    tv_set_bool(m, "has_calendar", s.n_schedules > 0);
    tv_set_bool(ctx, "can_edit", can_manage(req, s.org_id));
    similar_services(req, &s, tv_set_list(ctx, "similar"), 5);
    (void)a;
    app_render(req, resp, 200, "dir_service.html", s.name, ctx);
}

static void get_calendar(http_request *req, http_response *resp) {
    app *a = req->app;
    store_dir_service s;
    if (!load_service(req, resp, &s)) return;
    buf b;
    buf_init(&b, 1 << 20);
    const char *host = a->base_url ? a->base_url : "localhost";
    const char *h = strstr(host, "://");
    if (directory_ical(&b, &s, h ? h + 3 : host, (int64_t)time(NULL)) != BUF_OK) {
        buf_free(&b);
        http_error(req, resp, 500, NULL);
        return;
    }
    size_t len;
    char *data = buf_detach(&b, &len);
    http_body_take(resp, "text/calendar; charset=utf-8", data, len);
    http_header_set(resp, "Content-Disposition", "attachment; filename=\"calendar.ics\"");
}

/* ---- Organisations -------------------------------------------------------------- */

static void get_orgs(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = lang_of(req);
    const char *pg = http_query(req, "page");
    int64_t page = 1;
    if (pg && (parse_i64(pg, &page) != 0 || page < 1 || page > 100000)) {
        http_error(req, resp, 400, T(lang, "The page number must be a whole number from 1."));
        return;
    }
    store_dir_org_list list;
    if (store_dir_org_list_page(a->store, (page - 1) * 50, 50, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *ctx = app_page(req);
    app_ctx *who = app_ctx_of(req);
    tv_set_bool(ctx, "can_add", who->signed_in && who->user.role >= STORE_ROLE_ORGANISER);
    tv *rows = tv_set_list(ctx, "orgs");
    for (size_t i = 0; i < list.n; i++) {
        tv *m = tv_push_map(rows);
        tv_set_str(m, "uuid", list.items[i].uuid);
        tv_set_str(m, "name", list.items[i].name);
        tv_set_int(m, "services", list.items[i].service_count);
    }
    tv *pager = tv_set_map(ctx, "pager");
    if (page > 1)
        tv_set_strf(pager, "prev", "/directory/organisations?page=%lld", (long long)(page - 1));
    if (page * 50 < list.total)
        tv_set_strf(pager, "next", "/directory/organisations?page=%lld", (long long)(page + 1));
    app_render(req, resp, 200, "dir_orgs.html", T(lang, "Organisations"), ctx);
}

static void org_page(http_request *req, http_response *resp, const store_dir_org *o, int status,
                     tv *ctx) {
    app *a = req->app;
    tv *m = tv_set_map(ctx, "org");
    tv_set_str(m, "uuid", o->uuid);
    tv_set_str(m, "name", o->name);
    tv_set_str(m, "description", o->description);
    tv_set_str(m, "website", o->website);
    tv_set_str(m, "email", o->email);
    tv_set_str(m, "phone", o->phone);
    tv_set_str(m, "identifier", o->identifier);
    tv_set_str(m, "updated_iso", app_iso_time(req, o->updated_at));
    tv_set_str(m, "updated_text", app_date_text(req, o->updated_at));
    bool manage = can_manage(req, o->id);
    tv_set_bool(ctx, "can_edit", manage);
    store_dir_query q = {0};
    q.org_uuid = o->uuid;
    q.limit = 500;
    store_dir_service_list list;
    if (store_dir_service_search(a->store, &q, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *rows = tv_set_list(ctx, "services");
    for (size_t i = 0; i < list.n; i++)
        fill_service_summary(req, tv_push_map(rows), &list.items[i]);
    if (manage) {
        store_user_list members;
        tv *ml = tv_set_list(ctx, "members");
        if (store_dir_members(a->store, o->id, req->arena, &members) == STORE_OK)
            for (size_t i = 0; i < members.n; i++) {
                tv *x = tv_push_map(ml);
                tv_set_str(x, "name", members.items[i].display_name);
                tv_set_str(x, "email", members.items[i].email);
                tv_set_strf(x, "remove_action", "/directory/organisations/%s/members/%s/remove", o->uuid,
                            members.items[i].uuid);
            }
    }
    app_render(req, resp, status, "dir_org.html", o->name, ctx);
}

static void get_org(http_request *req, http_response *resp) {
    store_dir_org o;
    if (!load_org(req, resp, &o)) return;
    org_page(req, resp, &o, 200, app_page(req));
}

/* The start of a change to an organisation's members: signed in as an organiser or
 * above, the organisation exists, and the user is an officer or one of its members
 * (otherwise 403 with refusal, a msgid). False when it has answered. */
static bool members_change_allowed(http_request *req, http_response *resp, store_dir_org *o,
                                   const char *refusal) {
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return false;
    if (!load_org(req, resp, o)) return false;
    if (!can_manage(req, o->id)) {
        http_error(req, resp, 403, T(lang_of(req), refusal));
        return false;
    }
    return true;
}

/* POST /directory/organisations/{id}/members: invite an existing user by email. */
static void post_member(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = lang_of(req);
    store_dir_org o;
    if (!members_change_allowed(req, resp, &o, N_("Only officers and members of this organisation can invite people.")))
        return;
    const char *email = http_form(req, "email");
    email = email ? str_trim(arena_strdup(req->arena, email)) : "";
    tv *ctx = app_page(req);
    store_user u;
    const char *problem = NULL;
    if (!*email)
        problem = N_("Enter the email address of the person to invite");
    else if (directory_email_problem(email))
        problem = directory_email_problem(email);
    else if (store_user_by_email(a->store, email, req->arena, &u) != STORE_OK)
        problem = N_("Nobody has an account with this email address: ask them to create one first");
    if (problem) {
        tv *errors = tv_set_list(ctx, "errors");
        tv *e = tv_push_map(errors);
        tv_set_str(e, "field", "email");
        tv_set_str(e, "message", T(lang, problem));
        tv_set_str(tv_set_map(ctx, "err"), "email", T(lang, problem));
        tv_set_str(tv_set_map(ctx, "form"), "email", email);
        org_page(req, resp, &o, 400, ctx);
        return;
    }
    store_actor actor = app_actor(req);
    if (u.role < STORE_ROLE_ORGANISER &&
        store_user_set_role(a->store, &actor, u.id, STORE_ROLE_ORGANISER) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    if (store_dir_member_add(a->store, &actor, o.id, u.id) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    http_redirect(resp, 303, arena_sprintf(req->arena, "/directory/organisations/%s", o.uuid));
}

/* POST /directory/organisations/{id}/members/{user}/remove: an officer or a member
 * takes someone off the organisation (a member may leave). Their account and role stay;
 * only the right to manage this organisation goes. */
static void post_member_remove(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = lang_of(req);
    store_dir_org o;
    if (!members_change_allowed(req, resp, &o,
                                N_("Only officers and members of this organisation can change its members.")))
        return;
    const char *uuid = http_param(req, "user");
    store_user u;
    if (!uuid || store_user_by_uuid(a->store, uuid, req->arena, &u) != STORE_OK) {
        http_error(req, resp, 404, T(lang, "This person is not a member of this organisation."));
        return;
    }
    store_actor actor = app_actor(req);
    int rc = store_dir_member_remove(a->store, &actor, o.id, u.id);
    if (rc == STORE_NOT_FOUND) {
        http_error(req, resp, 404, T(lang, "This person is not a member of this organisation."));
        return;
    }
    if (rc != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    http_redirect(resp, 303, arena_sprintf(req->arena, "/directory/organisations/%s", o.uuid));
}

/* ---- Forms ---------------------------------------------------------------------- */

typedef struct form_state {
    http_request *req;
    tv *ctx, *errors, *err, *form;
    int n;
} form_state;

static void form_init(form_state *f, http_request *req) {
    f->req = req;
    f->ctx = app_page(req);
    f->errors = tv_set_list(f->ctx, "errors");
    f->err = tv_set_map(f->ctx, "err");
    f->form = tv_set_map(f->ctx, "form");
    f->n = 0;
}

static void form_error(form_state *f, const char *field, const char *msgid) {
    if (tv_get(f->err, field)) return;
    const char *lang = lang_of(f->req);
    tv *e = tv_push_map(f->errors);
    tv_set_str(e, "field", field);
    tv_set_str(e, "message", T(lang, msgid));
    tv_set_str(f->err, field, T(lang, msgid));
    f->n++;
}

/* A trimmed form field (kept for re-display), "" when absent. */
static const char *field(form_state *f, const char *name) {
    const char *v = http_form(f->req, name);
    char *t = v ? str_trim(arena_strdup(f->req->arena, v)) : "";
    tv_set_str(f->form, name, t);
    return t;
}

static void check_len(form_state *f, const char *name, const char *v, size_t max,
                      const char *msgid) {
    if (utf8_length(v, strlen(v)) > max) form_error(f, name, msgid);
}

static void org_form_page(http_request *req, http_response *resp, int status, tv *ctx,
                          const store_dir_org *o) {
    const char *lang = lang_of(req);
    tv_set_bool(ctx, "editing", o != NULL);
    tv_set_str(ctx, "action",
               o ? arena_sprintf(req->arena, "/directory/organisations/%s/edit", o->uuid)
                 : "/directory/organisations/new");
    app_render(req, resp, status, "dir_org_form.html",
               o ? T(lang, "Edit organisation") : T(lang, "Add an organisation"), ctx);
}

/* Organisers may list a new organisation of their own and become its first member;
 * officers may list any. */
static void get_org_new(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    org_form_page(req, resp, 200, app_page(req), NULL);
}

static void get_org_edit(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    store_dir_org o;
    if (!load_org(req, resp, &o)) return;
    if (!can_manage(req, o.id)) {
        http_error(
            req, resp, 403,
            T(lang_of(req), "Only officers and members of this organisation can change it."));
        return;
    }
    tv *ctx = app_page(req);
    tv *form = tv_set_map(ctx, "form");
    tv_set_str(form, "name", o.name);
    tv_set_str(form, "description", o.description);
    tv_set_str(form, "website", o.website);
    tv_set_str(form, "email", o.email);
    tv_set_str(form, "phone", o.phone);
    tv_set_str(form, "charity_number", o.identifier);
    org_form_page(req, resp, 200, ctx, &o);
}

static void save_org(http_request *req, http_response *resp, const store_dir_org *old) {
    app *a = req->app;
    form_state f;
    form_init(&f, req);
    store_dir_org o = {0};
    o.uuid = old ? old->uuid : NULL;
    o.name = field(&f, "name");
    o.description = field(&f, "description");
    o.website = field(&f, "website");
    o.email = field(&f, "email");
    o.phone = field(&f, "phone");
    o.identifier = field(&f, "charity_number");
    o.identifier_type = *o.identifier ? "charity_number" : "";
    const char *p;
    if (!*o.name) form_error(&f, "name", N_("Enter the name of the organisation"));
    check_len(&f, "name", o.name, 200, N_("Name must be 200 characters or fewer"));
    check_len(&f, "description", o.description, 5000,
              N_("Description must be 5,000 characters or fewer"));
    if ((p = directory_url_problem(o.website))) form_error(&f, "website", p);
    if ((p = directory_email_problem(o.email))) form_error(&f, "email", p);
    check_len(&f, "phone", o.phone, 40, N_("Phone number must be 40 characters or fewer"));
    check_len(&f, "charity_number", o.identifier, 20,
              N_("Charity number must be 20 characters or fewer"));
    if (!f.n) {
        store_actor actor = app_actor(req);
        store_dir_org saved;
        if (store_dir_org_save(a->store, &actor, &o, req->arena, &saved) == STORE_OK) {
            dir_cache_bump();
            app_ctx *c = app_ctx_of(req);
            /* an organiser who lists a new organisation manages it */
            if (!old && c->user.role < STORE_ROLE_OFFICER &&
                store_dir_member_add(a->store, &actor, saved.id, c->user.id) != STORE_OK) {
                http_error(req, resp, 500, NULL);
                return;
            }
            http_redirect(resp, 303,
                          arena_sprintf(req->arena, "/directory/organisations/%s", saved.uuid));
            return;
        }
        form_error(
            &f, "name",
            N_("The organisation could not be saved: check the text for unusual characters"));
    }
    org_form_page(req, resp, 400, f.ctx, old);
}

static void post_org_new(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    save_org(req, resp, NULL);
}

static void post_org_edit(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    store_dir_org o;
    if (!load_org(req, resp, &o)) return;
    if (!can_manage(req, o.id)) {
        http_error(
            req, resp, 403,
            T(lang_of(req), "Only officers and members of this organisation can change it."));
        return;
    }
    save_org(req, resp, &o);
}

static const char *const day_names[7] = {N_("Monday"),   N_("Tuesday"), N_("Wednesday"),
                                         N_("Thursday"), N_("Friday"),  N_("Saturday"),
                                         N_("Sunday")};
static const char *const day_codes[7] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};

/* The option lists of the service form, with the chosen values marked. */
static void service_form_lists(http_request *req, tv *ctx, const store_dir_service *cur) {
    app *a = req->app;
    const char *lang = lang_of(req);
    store_dir_term_list terms;
    tv *tl = tv_set_list(ctx, "terms");
    if (store_dir_terms(a->store, NULL, req->arena, &terms) == STORE_OK)
        for (size_t i = 0; i < terms.n; i++) {
            tv *m = tv_push_map(tl);
            tv_set_str(m, "uuid", terms.items[i].uuid);
            tv_set_str(m, "name", terms.items[i].name);
            bool on = false;
            for (size_t k = 0; cur && k < cur->n_terms; k++)
                if (strcmp(cur->terms[k].uuid, terms.items[i].uuid) == 0) on = true;
            tv_set_bool(m, "checked", on);
        }
    store_place_list places;
    tv *pl = tv_set_list(ctx, "places");
    if (store_place_list_page(a->store, STORE_PLACES_ALL, 0, 5000, req->arena, &places) == STORE_OK)
        for (size_t i = 0; i < places.n; i++) {
            tv *m = tv_push_map(pl);
            tv_set_str(m, "uuid", places.items[i].uuid);
            tv_set_str(m, "name", places.items[i].name);
            bool on = false;
            for (size_t k = 0; cur && k < cur->n_areas; k++)
                if (cur->areas[k].place_id == places.items[i].id) on = true;
            tv_set_bool(m, "checked", on);
        }
    const char *byday = cur && cur->n_schedules ? cur->schedules[0].byday : "";
    tv *dl = tv_set_list(ctx, "days");
    for (int d = 0; d < 7; d++) {
        tv *m = tv_push_map(dl);
        tv_set_str(m, "code", day_codes[d]);
        tv_set_str(m, "label", T(lang, day_names[d]));
        tv_set_bool(m, "checked", byday && strstr(byday, day_codes[d]) != NULL);
    }
    tv *sl = tv_set_list(ctx, "statuses");
    for (int k = 0; k < 4; k++) {
        tv *m = tv_push_map(sl);
        tv_set_str(m, "value", store_dir_status_name((store_dir_status)k));
        tv_set_str(m, "label", T(lang, status_label((store_dir_status)k)));
        tv_set_bool(m, "checked", (cur ? (int)cur->status : 0) == k);
    }
}

static void service_form_page(http_request *req, http_response *resp, int status, tv *ctx,
                              const store_dir_org *o, const store_dir_service *s,
                              const store_dir_service *chosen) {
    const char *lang = lang_of(req);
    tv_set_bool(ctx, "editing", s != NULL);
    tv_set_str(ctx, "org_name", o->name);
    tv_set_str(ctx, "org_uuid", o->uuid);
    tv_set_str(ctx, "action",
               s ? arena_sprintf(req->arena, "/directory/services/%s/edit", s->uuid)
                 : arena_sprintf(req->arena, "/directory/organisations/%s/services/new", o->uuid));
    service_form_lists(req, ctx, chosen);
    app_render(req, resp, status, "dir_service_form.html",
               s ? T(lang, "Edit service") : T(lang, "Add a service"), ctx);
}

static void fill_service_form(tv *form, const store_dir_service *s) {
    tv_set_str(form, "name", s->name);
    tv_set_str(form, "description", s->description);
    tv_set_str(form, "eligibility", s->eligibility);
    tv_set_str(form, "fees", s->fees);
    tv_set_str(form, "url", s->url);
    tv_set_str(form, "email", s->email);
    tv_set_str(form, "phone", s->phone);
    if (s->n_locations) {
        const store_dir_location *l = &s->locations[0];
        tv_set_str(form, "location_name", l->name);
        tv_set_str(form, "address_1", l->address_1);
        tv_set_str(form, "city", l->city);
        tv_set_str(form, "postcode", l->postcode);
        tv_set_str(form, "accessibility", l->accessibility);
        if (l->has_coords) {
            tv_set_strf(form, "latitude", "%.6f", l->latitude);
            tv_set_strf(form, "longitude", "%.6f", l->longitude);
        }
    }
    if (s->n_schedules) {
        tv_set_strf(form, "opens_at", "%.5s", s->schedules[0].opens_at);
        tv_set_strf(form, "closes_at", "%.5s", s->schedules[0].closes_at);
    }
}

static void get_service_new(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    store_dir_org o;
    if (!load_org(req, resp, &o)) return;
    if (!can_manage(req, o.id)) {
        http_error(
            req, resp, 403,
            T(lang_of(req), "Only officers and members of this organisation can add services."));
        return;
    }
    service_form_page(req, resp, 200, app_page(req), &o, NULL, NULL);
}

static void get_service_edit(http_request *req, http_response *resp) {
    app *a = req->app;
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    store_dir_service s;
    if (!load_service(req, resp, &s)) return;
    if (!can_manage(req, s.org_id)) {
        http_error(
            req, resp, 403,
            T(lang_of(req), "Only officers and members of this organisation can change it."));
        return;
    }
    store_dir_org o;
    if (store_dir_org_by_id(a->store, s.org_id, req->arena, &o) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *ctx = app_page(req);
    fill_service_form(tv_set_map(ctx, "form"), &s);
    service_form_page(req, resp, 200, ctx, &o, &s, &s);
}

static int hhmm_minutes(const char *t) {
    return (t[0] - '0') * 600 + (t[1] - '0') * 60 + (t[3] - '0') * 10 + (t[4] - '0');
}

static void save_service(http_request *req, http_response *resp, const store_dir_org *o,
                         const store_dir_service *old) {
    app *a = req->app;
    form_state f;
    form_init(&f, req);
    store_dir_service s;
    if (old)
        s = *old; /* keeps contacts, languages and child ids not on the form */
    else
        memset(&s, 0, sizeof s);
    s.org_id = o->id;
    s.name = field(&f, "name");
    s.description = field(&f, "description");
    s.eligibility = field(&f, "eligibility");
    s.fees = field(&f, "fees");
    s.url = field(&f, "url");
    s.email = field(&f, "email");
    s.phone = field(&f, "phone");
    const char *status = http_form(req, "status");
    if (!status || store_dir_status_parse(status, &s.status) != 0) s.status = STORE_DIR_ACTIVE;
    const char *p;
    if (!*s.name) form_error(&f, "name", N_("Enter the name of the service"));
    check_len(&f, "name", s.name, 200, N_("Name must be 200 characters or fewer"));
    check_len(&f, "description", s.description, 5000,
              N_("Description must be 5,000 characters or fewer"));
    if ((p = directory_url_problem(s.url))) form_error(&f, "url", p);
    if ((p = directory_email_problem(s.email))) form_error(&f, "email", p);
    /* categories and areas: repeated checkbox fields */
    size_t nf = http_form_count(req);
    s.terms = arena_calloc(req->arena, nf + 1, sizeof *s.terms);
    s.areas = arena_calloc(req->arena, nf + 1, sizeof *s.areas);
    s.n_terms = s.n_areas = 0;
    char *bydays = arena_calloc(req->arena, 32, 1);
    for (size_t i = 0; i < nf; i++) {
        const http_field *x = http_form_at(req, i);
        if (strcmp(x->name, "category") == 0) {
            store_dir_term t;
            if (uuid_valid(x->value) &&
                store_dir_term_by_uuid(a->store, x->value, req->arena, &t) == STORE_OK) {
                s.terms[s.n_terms].uuid = t.uuid;
                for (size_t k = 0; old && k < old->n_terms; k++)
                    if (strcmp(old->terms[k].uuid, t.uuid) == 0)
                        s.terms[s.n_terms].attr_uuid = old->terms[k].attr_uuid;
                s.n_terms++;
            } else {
                form_error(&f, "category", N_("Choose categories from the list"));
            }
        } else if (strcmp(x->name, "area") == 0) {
            store_place pl;
            if (uuid_valid(x->value) &&
                store_place_by_uuid(a->store, x->value, req->arena, &pl) == STORE_OK) {
                s.areas[s.n_areas].place_id = pl.id;
                s.areas[s.n_areas].uuid = NULL;
                s.areas[s.n_areas].place_uuid = NULL;
                s.n_areas++;
            } else {
                form_error(&f, "area", N_("Choose places from the list"));
            }
        } else if (strcmp(x->name, "day") == 0) {
            int ok = 0;
            for (int d = 0; d < 7; d++)
                if (strcmp(x->value, day_codes[d]) == 0 && !strstr(bydays, day_codes[d])) {
                    if (*bydays) strcat(bydays, ",");
                    strcat(bydays, day_codes[d]);
                    ok = 1;
                }
            if (!ok && !strstr(bydays, x->value))
                form_error(&f, "day", N_("Choose days from the list"));
        }
    }
    /* the location */
    store_dir_location *l = arena_calloc(req->arena, 1, sizeof *l);
    if (old && old->n_locations) *l = old->locations[0];
    l->name = field(&f, "location_name");
    l->address_1 = field(&f, "address_1");
    l->city = field(&f, "city");
    const char *pc = field(&f, "postcode");
    l->accessibility = field(&f, "accessibility");
    char formatted[16];
    if ((p = directory_postcode_problem(pc))) form_error(&f, "postcode", p);
    l->postcode = *pc && directory_postcode_format(pc, formatted, sizeof formatted)
                      ? arena_strdup(req->arena, formatted)
                      : pc;
    const char *la = field(&f, "latitude"), *lo = field(&f, "longitude");
    l->has_coords = 0;
    if (*la || *lo) {
        if (parse_double(la, &l->latitude) != 0 || fabs(l->latitude) > 90)
            form_error(&f, "latitude", N_("Enter a latitude between -90 and 90, like 50.8137"));
        else if (parse_double(lo, &l->longitude) != 0 || fabs(l->longitude) > 180)
            form_error(&f, "longitude", N_("Enter a longitude between -180 and 180, like -0.3714"));
        else
            l->has_coords = 1;
    }
    bool has_loc = *l->name || *l->address_1 || *l->postcode || l->has_coords;
    if (has_loc && !old) l->uuid = NULL;
    s.locations = has_loc ? l : NULL;
    s.n_locations = has_loc ? 1 : 0;
    /* the schedule */
    const char *opens = field(&f, "opens_at"), *closes = field(&f, "closes_at");
    if ((p = directory_time_problem(opens))) form_error(&f, "opens_at", p);
    if ((p = directory_time_problem(closes))) form_error(&f, "closes_at", p);
    if (*opens && *closes && !directory_time_problem(opens) && !directory_time_problem(closes) &&
        hhmm_minutes(closes) <= hhmm_minutes(opens))
        form_error(&f, "closes_at", N_("The closing time must be after the opening time"));
    if ((*opens || *closes) && !*bydays) form_error(&f, "day", N_("Choose the days it is open"));
    if (*bydays || *opens || *closes) {
        store_dir_schedule *h = arena_calloc(req->arena, 1, sizeof *h);
        if (old && old->n_schedules) *h = old->schedules[0];
        h->freq = "WEEKLY";
        h->byday = bydays;
        h->opens_at = opens;
        h->closes_at = closes;
        s.schedules = h;
        s.n_schedules = 1;
    } else {
        s.schedules = NULL;
        s.n_schedules = 0;
    }
    if (!f.n) {
        store_actor actor = app_actor(req);
        store_dir_service saved;
        int rc = store_dir_service_save(a->store, &actor, &s, req->arena, &saved);
        if (rc == STORE_OK) {
            dir_cache_bump();
            http_redirect(resp, 303,
                          arena_sprintf(req->arena, "/directory/services/%s", saved.uuid));
            return;
        }
        if (rc != STORE_INVALID) {
            http_error(req, resp, 500, NULL);
            return;
        }
        form_error(&f, "name",
                   N_("The service could not be saved: check the text for unusual characters"));
    }
    service_form_page(req, resp, 400, f.ctx, o, old, &s);
}

static void post_service_new(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    store_dir_org o;
    if (!load_org(req, resp, &o)) return;
    if (!can_manage(req, o.id)) {
        http_error(
            req, resp, 403,
            T(lang_of(req), "Only officers and members of this organisation can add services."));
        return;
    }
    save_service(req, resp, &o, NULL);
}

static void post_service_edit(http_request *req, http_response *resp) {
    app *a = req->app;
    if (!app_require(req, resp, STORE_ROLE_ORGANISER)) return;
    store_dir_service s;
    if (!load_service(req, resp, &s)) return;
    if (!can_manage(req, s.org_id)) {
        http_error(
            req, resp, 403,
            T(lang_of(req), "Only officers and members of this organisation can change it."));
        return;
    }
    store_dir_org o;
    if (store_dir_org_by_id(a->store, s.org_id, req->arena, &o) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    save_service(req, resp, &o, &s);
}

/* ---- Officers: duplicates, import, export --------------------------------------- */

static void get_duplicates(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = lang_of(req);
    if (!app_require(req, resp, STORE_ROLE_OFFICER)) return;
    const char *place = http_query(req, "place");
    store_dir_query q = {0};
    store_place p;
    if (place && *place) {
        if (!uuid_valid(place) ||
            store_place_by_uuid(a->store, place, req->arena, &p) != STORE_OK) {
            http_error(req, resp, 400, T(lang, "Choose a place from the list."));
            return;
        }
        q.place_id = p.id;
    }
    q.limit = 2000; /* pairs grow with the square: a council's directory, not a country's */
    store_dir_service_list list;
    if (store_dir_service_search(a->store, &q, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    int *cluster = arena_calloc(req->arena, list.n ? list.n : 1, sizeof *cluster);
    size_t nc = directory_clusters(list.items, list.n, 0.45, cluster);
    tv *ctx = app_page(req);
    fill_filters(req, ctx, place, NULL);
    tv *cl = tv_set_list(ctx, "clusters");
    for (size_t c = 0; c < nc; c++) {
        tv *m = tv_push_map(cl);
        tv_set_int(m, "number", (long long)c + 1);
        tv *svcs = tv_set_list(m, "services");
        for (size_t i = 0; i < list.n; i++)
            if (cluster[i] == (int)c) fill_service_summary(req, tv_push_map(svcs), &list.items[i]);
    }
    tv_set_int(ctx, "checked", (long long)list.n);
    app_render(req, resp, 200, "dir_duplicates.html", T(lang, "Likely duplicates"), ctx);
}

static void get_import(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_OFFICER)) return;
    app_render(req, resp, 200, "dir_import.html", T(lang_of(req), "Import a directory file"),
               app_page(req));
}

/* The rows of an import report's table: where and why. */
static void report_rows(tv *list, const directory_problem *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        tv *m = tv_push_map(list);
        tv_set_str(m, "where", p[i].where);
        tv_set_str(m, "why", p[i].why);
    }
}

static void post_import(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = lang_of(req);
    if (!app_require(req, resp, STORE_ROLE_OFFICER)) return;
    const http_upload *up = http_upload_find(req, "file");
    tv *ctx = app_page(req);
    if (!up || up->len == 0) {
        tv *e = tv_push_map(tv_set_list(ctx, "errors"));
        tv_set_str(e, "field", "file");
        tv_set_str(e, "message", T(lang, "Choose a JSON or CSV file to import"));
        tv_set_str(tv_set_map(ctx, "err"), "file", T(lang, "Choose a JSON or CSV file to import"));
        app_render(req, resp, 400, "dir_import.html", T(lang, "Import a directory file"), ctx);
        return;
    }
    store_actor actor = app_actor(req);
    directory_import_report rep;
    int rc = directory_import(a->store, &actor, up->data, up->len, up->filename, req->arena, &rep);
    if (rc == -2) {
        http_error(req, resp, 500, NULL);
        return;
    }
    if (rc == 0) dir_cache_bump();
    tv *r = tv_set_map(ctx, "report");
    tv_set_bool(r, "ok", rc == 0);
    tv_set_str(r, "file", up->filename);
    tv_set_int(r, "created", rep.result.created);
    tv_set_int(r, "updated", rep.result.updated);
    tv_set_int(r, "unchanged", rep.result.unchanged);
    report_rows(tv_set_list(r, "notes"), rep.notes, rc == 0 ? rep.n_notes : 0);
    report_rows(tv_set_list(r, "problems"), rep.problems, rep.n_problems);
    app_render(req, resp, rc == 0 ? 200 : 400, "dir_import.html",
               T(lang, "Import a directory file"), ctx);
}

static void get_export_json(http_request *req, http_response *resp) {
    app *a = req->app;
    json_t *j;
    if (directory_export_json(a->store, a->base_url, req->arena, &j) != 0) {
        http_error(req, resp, 500, NULL);
        return;
    }
    http_header_set(resp, "Access-Control-Allow-Origin", "*");
    http_header_set(resp, "Content-Disposition", "attachment; filename=\"directory.json\"");
    http_json(resp, 200, j);
}

static void get_export_csv(http_request *req, http_response *resp) {
    app *a = req->app;
    buf b;
    buf_init(&b, (size_t)1 << 30);
    if (directory_export_csv(a->store, req->arena, &b) != 0) {
        buf_free(&b);
        http_error(req, resp, 500, NULL);
        return;
    }
    size_t len;
    char *data = buf_detach(&b, &len);
    http_body_take(resp, "text/csv; charset=utf-8", data, len);
    http_header_set(resp, "Content-Disposition", "attachment; filename=\"directory.csv\"");
}

void directory_page_routes(http_router *router) {
    http_route(router, HTTP_GET, "/directory", get_browse);
    http_route(router, HTTP_GET, "/directory/services/{id}", get_service);
    http_route(router, HTTP_GET, "/directory/services/{id}/calendar.ics", get_calendar);
    http_route(router, HTTP_GET, "/directory/services/{id}/edit", get_service_edit);
    http_route(router, HTTP_POST, "/directory/services/{id}/edit", post_service_edit);
    http_route(router, HTTP_GET, "/directory/organisations", get_orgs);
    http_route(router, HTTP_GET, "/directory/organisations/new", get_org_new);
    http_route(router, HTTP_POST, "/directory/organisations/new", post_org_new);
    http_route(router, HTTP_GET, "/directory/organisations/{id}", get_org);
    http_route(router, HTTP_GET, "/directory/organisations/{id}/edit", get_org_edit);
    http_route(router, HTTP_POST, "/directory/organisations/{id}/edit", post_org_edit);
    http_route(router, HTTP_POST, "/directory/organisations/{id}/members", post_member);
    http_route(router, HTTP_POST, "/directory/organisations/{id}/members/{user}/remove", post_member_remove);
    http_route(router, HTTP_GET, "/directory/organisations/{id}/services/new", get_service_new);
    http_route(router, HTTP_POST, "/directory/organisations/{id}/services/new", post_service_new);
    http_route(router, HTTP_GET, "/directory/duplicates", get_duplicates);
    http_route(router, HTTP_GET, "/directory/import", get_import);
    http_route(router, HTTP_POST, "/directory/import", post_import);
    http_route(router, HTTP_GET, "/directory/export.json", get_export_json);
    http_route(router, HTTP_GET, "/directory/export.csv", get_export_csv);
}

void directory_routes(http_router *router) {
    directory_page_routes(router);
    directory_api_routes(router);
}
