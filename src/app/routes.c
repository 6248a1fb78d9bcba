/*
 * routes: the complete route table of the web application, the template schemas
 * (which names each page may use: a typo in a template stops start-up), and the two
 * application-level pages, home and /healthz.
 */
#include <string.h>

#include "account/account.h"
#include "app/app.h"
#include "directory/directory.h"
#include "place/place.h"
#include "web/i18n.h"

static const char *const globals[] = {
    "site.*", "page_title", "lang", "lang_alt.*", "user.*", "csrf", "content", "flash", "path", NULL};
static const char *const home_vars[] = {"places.uuid", "places.name", "places.children", NULL};
static const char *const places_vars[] = {"can_edit",         "places.uuid",        "places.name",
                                          "places.kind_label", "places.parent_name", "places.gss_code",
                                          NULL};
static const char *const place_vars[] = {"place.*",       "can_edit", "children.uuid",
                                         "children.name", "children.gss_code", NULL};
static const char *const place_form_vars[] = {
    "errors.field", "errors.message", "err.*",         "editing",      "action",
    "form.*",       "kinds.value",    "kinds.label",   "kinds.checked", "parents.uuid",
    "parents.name", "parents.selected", NULL};
static const char *const signin_vars[] = {"errors.field", "errors.message", "err.*", "form.*",
                                          "return_to", NULL};
static const char *const signup_vars[] = {"errors.field", "errors.message", "err.*", "form.*", NULL};
static const char *const account_vars[] = {"account.*", NULL};
static const char *const password_vars[] = {"errors.field", "errors.message", "err.*", NULL};
static const char *const admin_users_vars[] = {
    "total",       "users.uuid",        "users.name",           "users.email",
    "users.roles.value", "users.roles.label", "users.roles.selected", "pager.prev",
    "pager.next",  NULL};
static const char *const admin_audit_vars[] = {
    "entries.iso",    "entries.when",   "entries.who", "entries.action",
    "entries.entity", "entries.detail", "pager.prev",  "pager.next", NULL};
static const char *const error_vars[] = {"heading", "message", NULL};
/* The community directory (src/directory). */
static const char *const dir_browse_vars[] = {"form.*", "places.*", "terms.*", "total", "searched",
                                              "can_add", "services.*", "map", "map_list.*",
                                              "pager.prev", "pager.next", NULL};
static const char *const dir_page_vars[] = {"body", NULL};
static const char *const dir_service_vars[] = {"service.*", "can_edit", "similar.*", NULL};
static const char *const dir_orgs_vars[] = {"can_add", "orgs.*", "pager.prev", "pager.next", NULL};
static const char *const dir_org_vars[] = {"errors.field", "errors.message", "err.*", "form.*",
                                           "org.*", "can_edit", "services.*", "members.*", NULL};
static const char *const dir_org_form_vars[] = {"errors.field", "errors.message", "err.*", "form.*",
                                                "editing", "action", NULL};
static const char *const dir_service_form_vars[] = {
    "errors.field", "errors.message", "err.*", "form.*", "editing", "action", "org_name",
    "org_uuid", "terms.*", "places.*", "days.*", "statuses.*", NULL};
static const char *const dir_duplicates_vars[] = {"places.*", "clusters.*", "checked", NULL};
static const char *const dir_import_vars[] = {"errors.field", "errors.message", "err.*", "report.*",
                                              NULL};

const tmpl_schema app_template_schemas[] = {
    {TMPL_GLOBALS, globals},
    {"layout.html", NULL},
    {"home.html", home_vars},
    {"places.html", places_vars},
    {"place.html", place_vars},
    {"place_form.html", place_form_vars},
    {"signin.html", signin_vars},
    {"signup.html", signup_vars},
    {"account.html", account_vars},
    {"password.html", password_vars},
    {"admin_users.html", admin_users_vars},
    {"admin_audit.html", admin_audit_vars},
    {"error.html", error_vars},
    {"dir_browse.html", dir_browse_vars},
    {"dir_page.html", dir_page_vars},
    {"dir_service.html", dir_service_vars},
    {"dir_orgs.html", dir_orgs_vars},
    {"dir_org.html", dir_org_vars},
    {"dir_org_form.html", dir_org_form_vars},
    {"dir_service_form.html", dir_service_form_vars},
    {"dir_duplicates.html", dir_duplicates_vars},
    {"dir_import.html", dir_import_vars},
    {NULL, NULL},
};

static void get_home(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = app_ctx_of(req)->lang;
    store_place_list list;
    if (store_place_list_page(a->store, STORE_PLACES_ALL, 0, 200, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *ctx = app_page(req);
    tv *places = tv_set_list(ctx, "places");
    for (size_t i = 0; i < list.n; i++) {
        const store_place *p = &list.items[i];
        if (p->kind != STORE_PLACE_COUNCIL_AREA) continue;
        tv *m = tv_push_map(places);
        tv_set_str(m, "uuid", p->uuid);
        tv_set_str(m, "name", p->name);
        tv_set_int(m, "children", p->child_count);
    }
    app_render(req, resp, 200, "home.html", T(lang, "Home"), ctx);
}

/* 200 "ok" when the database answers; 503 otherwise (for load balancers). */
static void get_healthz(http_request *req, http_response *resp) {
    app *a = req->app;
    if (store_ping(a->store) == STORE_OK)
        http_text(resp, 200, "ok\n");
    else
        http_text(resp, 503, "database unavailable\n");
}

void app_routes(http_router *router) {
    http_route(router, HTTP_GET, "/", get_home);
    http_route(router, HTTP_GET, "/healthz", get_healthz);
    account_routes(router);
    place_routes(router);
    directory_routes(router);
}
