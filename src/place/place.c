/*
 * place: routes and validation for places (see place.h).
 */
#include "place/place.h"

#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "core/parse.h"
#include "core/rand.h"
#include "core/utf8.h"
#include "web/i18n.h"

static const char *kind_label(store_place_kind k) {
    switch (k) {
    case STORE_PLACE_COUNCIL_AREA: return N_("Council area");
    case STORE_PLACE_WARD: return N_("Ward");
    case STORE_PLACE_NEIGHBOURHOOD: return N_("Neighbourhood");
    }
    return N_("Place");
}

const char *place_gss_problem(const char *code) {
    if (!code || !*code) return NULL;
    if (strlen(code) != 9) return N_("ONS code must be 9 characters, like E05007630");
    if (!(code[0] >= 'A' && code[0] <= 'Z'))
        return N_("ONS code must start with a capital letter, like E05007630");
    for (int i = 1; i < 9; i++)
        if (code[i] < '0' || code[i] > '9')
            return N_("ONS code must be a letter followed by 8 digits, like E05007630");
    return NULL;
}

static void fill_place(http_request *req, tv *m, const store_place *p) {
    const char *lang = app_ctx_of(req)->lang;
    tv_set_str(m, "uuid", p->uuid);
    tv_set_str(m, "name", p->name);
    tv_set_str(m, "kind_label", T(lang, kind_label(p->kind)));
    tv_set_str(m, "gss_code", p->gss_code ? p->gss_code : "");
    tv_set_str(m, "description", p->description ? p->description : "");
    tv_set_str(m, "parent_name", p->parent_name ? p->parent_name : "");
    tv_set_str(m, "parent_uuid", p->parent_uuid ? p->parent_uuid : "");
    tv_set_int(m, "children", p->child_count);
    tv_set_str(m, "updated_iso", app_iso_time(req, p->updated_at));
    tv_set_str(m, "updated_text", app_date_text(req, p->updated_at));
}

static bool can_edit(http_request *req) {
    app_ctx *c = app_ctx_of(req);
    return c->signed_in && c->user.role >= STORE_ROLE_OFFICER;
}

static void get_places(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = app_ctx_of(req)->lang;
    store_place_list list;
    if (store_place_list_page(a->store, STORE_PLACES_ALL, 0, 5000, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *ctx = app_page(req);
    tv_set_bool(ctx, "can_edit", can_edit(req));
    tv *places = tv_set_list(ctx, "places");
    for (size_t i = 0; i < list.n; i++) fill_place(req, tv_push_map(places), &list.items[i]);
    app_render(req, resp, 200, "places.html", T(lang, "Places"), ctx);
}

/* Loads the place named by the {id} parameter, or answers 404 and returns false. */
static bool load_place(http_request *req, http_response *resp, store_place *p) {
    app *a = req->app;
    const char *id = http_param(req, "id");
    if (!uuid_valid(id) || store_place_by_uuid(a->store, id, req->arena, p) != STORE_OK) {
        http_error(req, resp, 404, T(app_ctx_of(req)->lang, "There is no such place."));
        return false;
    }
    return true;
}

static void get_place(http_request *req, http_response *resp) {
    app *a = req->app;
    store_place p;
    if (!load_place(req, resp, &p)) return;
    tv *ctx = app_page(req);
    fill_place(req, tv_set_map(ctx, "place"), &p);
    tv_set_bool(ctx, "can_edit", can_edit(req));
    store_place_list kids;
    if (store_place_list_page(a->store, p.id, 0, 5000, req->arena, &kids) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *children = tv_set_list(ctx, "children");
    for (size_t i = 0; i < kids.n; i++) fill_place(req, tv_push_map(children), &kids.items[i]);
    app_render(req, resp, 200, "place.html", p.name, ctx);
}

/* The form page, for a new place (p NULL) or an existing one; values from the request
 * when it is a re-display after errors. */
static void form_page(http_request *req, http_response *resp, int status, tv *ctx,
                      const store_place *p, const char *kind, const char *parent_uuid) {
    app *a = req->app;
    const char *lang = app_ctx_of(req)->lang;
    tv_set_bool(ctx, "editing", p != NULL);
    tv_set_str(ctx, "action", p ? arena_sprintf(req->arena, "/places/%s", p->uuid) : "/places");
    tv *kinds = tv_set_list(ctx, "kinds");
    for (int k = STORE_PLACE_COUNCIL_AREA; k <= STORE_PLACE_NEIGHBOURHOOD; k++) {
        tv *opt = tv_push_map(kinds);
        const char *name = store_place_kind_name((store_place_kind)k);
        tv_set_str(opt, "value", name);
        tv_set_str(opt, "label", T(lang, kind_label((store_place_kind)k)));
        tv_set_bool(opt, "checked", kind && strcmp(kind, name) == 0);
    }
    store_place_list all;
    if (store_place_list_page(a->store, STORE_PLACES_ALL, 0, 5000, req->arena, &all) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *parents = tv_set_list(ctx, "parents");
    for (size_t i = 0; i < all.n; i++) {
        if (p && all.items[i].id == p->id) continue;
        if (all.items[i].kind == STORE_PLACE_NEIGHBOURHOOD) continue;
        tv *opt = tv_push_map(parents);
        tv_set_str(opt, "uuid", all.items[i].uuid);
        tv_set_str(opt, "name", all.items[i].name);
        tv_set_bool(opt, "selected", parent_uuid && strcmp(parent_uuid, all.items[i].uuid) == 0);
    }
    app_render(req, resp, status, "place_form.html",
               p ? T(lang, "Edit place") : T(lang, "Add a place"), ctx);
}

static void get_new_place(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_OFFICER)) return;
    form_page(req, resp, 200, app_page(req), NULL, "ward", http_query(req, "parent"));
}

static void get_edit_place(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_OFFICER)) return;
    store_place p;
    if (!load_place(req, resp, &p)) return;
    tv *ctx = app_page(req);
    tv *form = tv_set_map(ctx, "form");
    tv_set_str(form, "name", p.name);
    tv_set_str(form, "gss_code", p.gss_code ? p.gss_code : "");
    tv_set_str(form, "description", p.description ? p.description : "");
    form_page(req, resp, 200, ctx, &p, store_place_kind_name(p.kind), p.parent_uuid);
}

static const char *trimmed(http_request *req, const char *name) {
    const char *v = http_form(req, name);
    return v ? str_trim(arena_strdup(req->arena, v)) : "";
}

/* Validates the posted form and saves it (creating when p is NULL). */
static void save_place(http_request *req, http_response *resp, const store_place *p) {
    app *a = req->app;
    const char *lang = app_ctx_of(req)->lang;
    tv *ctx = app_page(req);
    tv *errors = tv_set_list(ctx, "errors");
    tv *err = tv_set_map(ctx, "err");
    int nerr = 0;
#define FIELD_ERROR(field, msgid)                                   \
    do {                                                            \
        if (!tv_get(err, field)) {                                  \
            tv *e_ = tv_push_map(errors);                           \
            tv_set_str(e_, "field", field);                         \
            tv_set_str(e_, "message", T(lang, msgid));              \
            tv_set_str(err, field, T(lang, msgid));                 \
            nerr++;                                                 \
        }                                                           \
    } while (0)

    const char *name = trimmed(req, "name");
    const char *kind = trimmed(req, "kind");
    const char *parent = trimmed(req, "parent");
    const char *gss = trimmed(req, "gss_code");
    const char *desc = trimmed(req, "description");
    tv *form = tv_set_map(ctx, "form");
    tv_set_str(form, "name", name);
    tv_set_str(form, "gss_code", gss);
    tv_set_str(form, "description", desc);

    if (!*name) FIELD_ERROR("name", N_("Enter the name of the place"));
    else if (utf8_length(name, strlen(name)) > 200) FIELD_ERROR("name", N_("Name must be 200 characters or fewer"));
    else if (strpbrk(name, "\t\r\n")) FIELD_ERROR("name", N_("Name must be on one line"));
    store_place_kind k = STORE_PLACE_WARD;
    if (store_place_kind_parse(kind, &k) != 0) FIELD_ERROR("kind", N_("Select the kind of place"));
    const char *gp = place_gss_problem(gss);
    if (gp) FIELD_ERROR("gss_code", gp);
    if (utf8_length(desc, strlen(desc)) > 5000) FIELD_ERROR("description", N_("Description must be 5,000 characters or fewer"));
    store_place parent_place = {0};
    if (*parent) {
        if (!uuid_valid(parent) || store_place_by_uuid(a->store, parent, req->arena, &parent_place) != STORE_OK)
            FIELD_ERROR("parent", N_("Select a place from the list"));
    }
    if (!nerr) {
        store_place_input in = {.parent_id = parent_place.id, .kind = k, .name = name,
                                .gss_code = *gss ? gss : NULL, .description = desc};
        store_actor actor = app_actor(req);
        int rc;
        const char *uuid = NULL;
        if (p) {
            rc = store_place_update(a->store, &actor, p->id, &in);
            uuid = p->uuid;
        } else {
            store_place created;
            rc = store_place_create(a->store, &actor, &in, req->arena, &created);
            if (rc == STORE_OK) uuid = created.uuid;
        }
        if (rc == STORE_OK) {
            app_flash(req, resp, "place_saved");
            http_redirect(resp, 303, arena_sprintf(req->arena, "/places/%s", uuid));
            return;
        }
        if (rc == STORE_CONFLICT) FIELD_ERROR("gss_code", N_("Another place already has this ONS code"));
        else if (rc == STORE_INVALID) FIELD_ERROR("parent", N_("A place cannot be part of itself or of a place within it"));
        else {
            http_error(req, resp, 500, NULL);
            return;
        }
    }
#undef FIELD_ERROR
    form_page(req, resp, 400, ctx, p, kind, parent);
}

static void post_places(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_OFFICER)) return;
    save_place(req, resp, NULL);
}

static void post_place(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_OFFICER)) return;
    store_place p;
    if (!load_place(req, resp, &p)) return;
    save_place(req, resp, &p);
}

void place_routes(http_router *router) {
    http_route(router, HTTP_GET, "/places", get_places);
    http_route(router, HTTP_POST, "/places", post_places);
    http_route(router, HTTP_GET, "/places/new", get_new_place);
    http_route(router, HTTP_GET, "/places/{id}", get_place);
    http_route(router, HTTP_POST, "/places/{id}", post_place);
    http_route(router, HTTP_GET, "/places/{id}/edit", get_edit_place);
}
