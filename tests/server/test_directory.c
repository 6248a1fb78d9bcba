/*
 * HTTP tests of the community directory (issue 3) against the real server with demo
 * data: every page and every Open Referral UK route, paging keys, filters, bad query
 * parameters (400 naming the parameter), unknown ids (404 JSON), the CORS header, the
 * calendar file, forms that keep what was typed and name each problem, organisers'
 * membership, the officer pages, the import page, and the import round trip through
 * the command line (import -> export -> import gives the same directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/harness.h"

static cg_server srv;
static int started;

#define FOOD_BANK_SERVICE "9b2e6d14-3c8f-4a57-b0d2-000000000001"
#define FOOD_BANK_ORG "4f0a8c52-1b7e-4d29-8e61-000000000001"
#define TERM_FOOD "6d1c3b1e-6a53-4c1e-9a43-000000000001"
#define TAXONOMY "6d1c3b1e-6a53-4c1e-9a43-2f3c8e0d5a10"
#define NO_SUCH "00000000-0000-4000-8000-00000000dead"

static int setup(void **state) {
    (void)state;
    if (cg_server_start(&srv, 1) != 0) return -1;
    started = 1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (started) cg_server_stop(&srv);
    return srv.exit_status == 0 ? 0 : -1;
}

static int contains(const cg_resp *r, const char *s) {
    return strstr(buf_cstr(&r->body), s) != NULL;
}

/* GETs path, checks the status and the CORS header, and returns the parsed body. */
static json_t *api(cg_client *c, const char *path, long status) {
    cg_resp r;
    assert_int_equal(cg_get(c, path, &r), 0);
    if (r.status != status)
        fail_msg("%s: status %ld, expected %ld: %s", path, r.status, status, buf_cstr(&r.body));
    char h[256];
    assert_non_null(cg_resp_header(&r, "Access-Control-Allow-Origin", h, sizeof h));
    assert_string_equal(h, "*");
    assert_non_null(cg_resp_header(&r, "Content-Type", h, sizeof h));
    assert_non_null(strstr(h, "application/json"));
    json_error_t err;
    json_t *j = json_loads(buf_cstr(&r.body), 0, &err);
    if (!j) fail_msg("%s: not JSON: %s", path, err.text);
    cg_resp_free(&r);
    return j;
}

static json_int_t jint(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void api_root_and_paging(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    json_t *j = api(c, "/openreferral/", 200);
    assert_string_equal(json_string_value(json_object_get(j, "version")), "HSDS-UK-3.0");
    assert_non_null(json_string_value(json_object_get(j, "profile")));
    assert_non_null(json_string_value(json_object_get(j, "openapi_url")));
    json_decref(j);
    j = api(c, "/openreferral/services?per_page=5", 200);
    assert_int_equal(jint(j, "total_items"), 14);
    assert_int_equal(jint(j, "total_pages"), 3);
    assert_int_equal(jint(j, "page_number"), 1);
    assert_int_equal(jint(j, "size"), 5);
    assert_true(json_is_true(json_object_get(j, "first_page")));
    assert_true(json_is_false(json_object_get(j, "last_page")));
    assert_true(json_is_false(json_object_get(j, "empty")));
    assert_int_equal(json_array_size(json_object_get(j, "contents")), 5);
    json_decref(j);
    j = api(c, "/openreferral/services?per_page=5&page=3", 200);
    assert_int_equal(jint(j, "size"), 4);
    assert_true(json_is_true(json_object_get(j, "last_page")));
    json_decref(j);
    j = api(c, "/openreferral/services?page=99", 200);
    assert_true(json_is_true(json_object_get(j, "empty")));
    assert_int_equal(jint(j, "total_items"), 14);
    json_decref(j);
    cg_client_free(c);
}

static void api_bad_parameters_are_named(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    static const struct {
        const char *query, *parameter;
    } cases[] = {
        {"page=0", "page"},
        {"page=abc", "page"},
        {"page=1.5", "page"},
        {"per_page=0", "per_page"},
        {"per_page=501", "per_page"},
        {"taxonomy_term_id=food", "taxonomy_term_id"},
        {"organization_id=1", "organization_id"},
        {"modified_after=yesterday", "modified_after"},
        {"modified_after=2025-13-01", "modified_after"},
        {"postcode=%3Cscript%3E", "postcode"},
        {"postcode=BN11&proximity=-5", "proximity"},
        {"postcode=BN11&proximity=far", "proximity"},
        {"proximity=1000", "proximity"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/openreferral/services?%s", cases[i].query);
        json_t *j = api(c, path, 400);
        json_t *p = json_object_get(j, "parameter");
        if (!json_is_string(p) || strcmp(json_string_value(p), cases[i].parameter) != 0)
            fail_msg("%s: parameter not named", path);
        assert_non_null(
            strstr(json_string_value(json_object_get(j, "message")), cases[i].parameter));
        json_decref(j);
    }
    json_t *j = api(c, "/openreferral/organizations?per_page=x", 400);
    assert_string_equal(json_string_value(json_object_get(j, "parameter")), "per_page");
    json_decref(j);
    j = api(c, "/openreferral/taxonomy_terms?taxonomy_id=x", 400);
    assert_string_equal(json_string_value(json_object_get(j, "parameter")), "taxonomy_id");
    json_decref(j);
    cg_client_free(c);
}

static void api_unknown_ids_are_404_json(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    const char *paths[] = {"/openreferral/services/" NO_SUCH, "/openreferral/services/not-a-uuid",
                           "/openreferral/organizations/" NO_SUCH,
                           "/openreferral/taxonomies/" NO_SUCH,
                           "/openreferral/taxonomy_terms/" NO_SUCH};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        json_t *j = api(c, paths[i], 404);
        assert_int_equal(jint(j, "status"), 404);
        assert_non_null(json_string_value(json_object_get(j, "message")));
        json_decref(j);
    }
    cg_client_free(c);
}

static size_t total(cg_client *c, const char *path) {
    json_t *j = api(c, path, 200);
    size_t n = (size_t)jint(j, "total_items");
    /* every item really matches what the page says about itself */
    assert_int_equal(json_array_size(json_object_get(j, "contents")), n < 50 ? n : 50);
    json_decref(j);
    return n;
}

static void api_filters(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    assert_int_equal(total(c, "/openreferral/services?search=food"), 4);
    assert_int_equal(total(c, "/openreferral/services?search=toasters"), 0);
    /* food includes its children food bank and community meals */
    assert_int_equal(total(c, "/openreferral/services?taxonomy_term_id=" TERM_FOOD), 6);
    assert_int_equal(total(c, "/openreferral/services?taxonomy_term_id=" NO_SUCH), 0);
    assert_int_equal(total(c, "/openreferral/services?organization_id=" FOOD_BANK_ORG), 2);
    assert_int_equal(total(c, "/openreferral/services?postcode=BN15"), 4);
    assert_int_equal(total(c, "/openreferral/services?postcode=bn15%208aj"), 2);
    /* within 1 km of Lancing Parish Hall's postcode: Lancing's services, not Worthing's */
    size_t near = total(c, "/openreferral/services?postcode=BN15%208AJ&proximity=1000");
    assert_true(near >= 3 && near < 14);
    assert_int_equal(total(c, "/openreferral/services?postcode=ZZ99%209ZZ&proximity=1000"), 0);
    assert_int_equal(total(c, "/openreferral/services?modified_after=2000-01-01T00:00:00Z"), 14);
    assert_int_equal(total(c, "/openreferral/services?modified_after=2999-01-01"), 0);
    cg_client_free(c);
}

static void api_details_are_nested(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    json_t *s = api(c, "/openreferral/services/" FOOD_BANK_SERVICE, 200);
    assert_string_equal(json_string_value(json_object_get(s, "id")), FOOD_BANK_SERVICE);
    assert_string_equal(json_string_value(json_object_get(s, "status")), "active");
    json_t *org = json_object_get(s, "organization");
    assert_string_equal(json_string_value(json_object_get(org, "id")), FOOD_BANK_ORG);
    json_t *sal = json_array_get(json_object_get(s, "service_at_locations"), 0);
    json_t *addr =
        json_array_get(json_object_get(json_object_get(sal, "location"), "addresses"), 0);
    assert_string_equal(json_string_value(json_object_get(addr, "postal_code")), "BN11 3RG");
    json_t *sch = json_array_get(json_object_get(s, "schedules"), 0);
    assert_string_equal(json_string_value(json_object_get(sch, "byday")), "TU,FR");
    json_t *attr = json_array_get(json_object_get(s, "attributes"), 0);
    assert_non_null(json_object_get(json_object_get(attr, "taxonomy_term"), "name"));
    assert_true(json_array_size(json_object_get(s, "service_areas")) >= 1);
    json_decref(s);
    json_t *o = api(c, "/openreferral/organizations/" FOOD_BANK_ORG, 200);
    assert_int_equal(json_array_size(json_object_get(o, "services")), 2);
    json_decref(o);
    json_t *t = api(c, "/openreferral/taxonomies/" TAXONOMY, 200);
    assert_int_equal(json_array_size(json_object_get(t, "taxonomy_terms")), 16);
    json_decref(t);
    json_t *tl = api(c, "/openreferral/taxonomies", 200);
    assert_int_equal(jint(tl, "total_items"), 1);
    json_decref(tl);
    json_t *terms = api(c, "/openreferral/taxonomy_terms?per_page=10&page=2", 200);
    assert_int_equal(jint(terms, "total_items"), 16);
    assert_int_equal(jint(terms, "size"), 6);
    json_decref(terms);
    json_t *term = api(c, "/openreferral/taxonomy_terms/" TERM_FOOD, 200);
    assert_string_equal(json_string_value(json_object_get(term, "name")), "Food");
    json_decref(term);
    json_t *orgs = api(c, "/openreferral/organizations", 200);
    assert_int_equal(jint(orgs, "total_items"), 10);
    json_decref(orgs);
    /* a preflight request is allowed */
    cg_resp r;
    assert_int_equal(cg_request(c, "OPTIONS", "/openreferral/services", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 204);
    char h[128];
    assert_non_null(cg_resp_header(&r, "Access-Control-Allow-Origin", h, sizeof h));
    cg_resp_free(&r);
    cg_client_free(c);
}

static void pages_browse_search_and_show(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    cg_resp r;
    assert_int_equal(cg_get(c, "/directory", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "All services"));
    assert_true(contains(&r, "<svg"));             /* the map */
    assert_true(contains(&r, "cg-dir-map__list")); /* and its text list */
    assert_true(contains(&r, "Tuesdays and Fridays 10:00-12:00"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory?q=lunch", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Tuesday lunch club"));
    assert_false(contains(&r, "Saturday seafront run"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory?category=" TERM_FOOD, &r), 0);
    assert_true(contains(&r, "Services found"));
    assert_true(contains(&r, "Food bank distribution"));
    cg_resp_free(&r);
    const char *bad[] = {"/directory?place=nowhere", "/directory?category=" NO_SUCH,
                         "/directory?page=0"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(cg_get(c, bad[i], &r), 0);
        assert_int_equal(r.status, 400);
        cg_resp_free(&r);
    }
    assert_int_equal(cg_get(c, "/directory/services/" FOOD_BANK_SERVICE, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Food bank distribution"));
    assert_true(contains(&r, "Tuesdays and Fridays 10:00-12:00"));
    assert_true(contains(&r, "Who else does this here?"));
    /* a related category (community meals) in a ward of Worthing, which it serves */
    assert_true(contains(&r, "Tuesday lunch club"));
    /* the same organisation's food bank in Lancing serves Adur wards: not "here" */
    const char *who = strstr(buf_cstr(&r.body), "Who else does this here?");
    assert_non_null(who);
    assert_null(strstr(who, "Food bank in Lancing"));
    assert_true(contains(&r, "Last updated"));
    assert_true(contains(&r, "by Worthing Community Food Bank (demo)"));
    assert_true(contains(&r, "calendar.ics"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory/services/" FOOD_BANK_SERVICE "/calendar.ics", &r), 0);
    assert_int_equal(r.status, 200);
    char h[256];
    assert_non_null(cg_resp_header(&r, "Content-Type", h, sizeof h));
    assert_non_null(strstr(h, "text/calendar"));
    assert_int_equal(strncmp(buf_cstr(&r.body), "BEGIN:VCALENDAR\r\n", 17), 0);
    assert_true(contains(&r, "RRULE:FREQ=WEEKLY;BYDAY=TU,FR\r\n"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory/services/" NO_SUCH, &r), 0);
    assert_int_equal(r.status, 404);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory/organisations", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Adur Money Matters (demo)"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory/organisations/" FOOD_BANK_ORG, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Food bank in Lancing"));
    assert_false(contains(&r, "Invite someone")); /* visitors cannot manage */
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory/organisations/" NO_SUCH, &r), 0);
    assert_int_equal(r.status, 404);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory/export.csv", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "organization_id,organization_name"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory/export.json", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "\"taxonomy_terms\""));
    cg_resp_free(&r);
    /* officer pages send visitors to sign in */
    const char *officer[] = {"/directory/duplicates", "/directory/import",
                             "/directory/organisations/new"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(cg_get(c, officer[i], &r), 0);
        assert_int_equal(r.status, 303);
        cg_resp_free(&r);
    }
    cg_client_free(c);
}

static void forms_keep_input_and_name_problems(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    assert_int_equal(cg_signin(c, srv.admin_email, srv.admin_password), 303);
    char csrf[65];
    assert_non_null(cg_csrf_from(c, "/directory/organisations/new", csrf));
    cg_resp r;
    assert_int_equal(cg_post_form(c, "/directory/organisations/new", &r, "csrf_token", csrf, "name",
                                  "", "website", "example.org", "email", "not an email", NULL),
                     0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "href=\"#name\""));
    assert_true(contains(&r, "href=\"#website\""));
    assert_true(contains(&r, "href=\"#email\""));
    assert_true(contains(&r, "value=\"example.org\""));
    assert_true(contains(&r, "value=\"not an email\""));
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(c, "/directory/organisations/new", &r, "csrf_token", csrf, "name",
                                  "<i>Widewater</i> Wombles", "website",
                                  "https://wombles.example.org", NULL),
                     0);
    assert_int_equal(r.status, 303);
    char loc[256];
    assert_non_null(cg_resp_header(&r, "Location", loc, sizeof loc));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, loc, &r), 0);
    assert_true(contains(&r, "&lt;i&gt;Widewater&lt;/i&gt; Wombles"));
    cg_resp_free(&r);
    char path[300];
    snprintf(path, sizeof path, "%s/services/new", loc);
    assert_int_equal(cg_post_form(c, path, &r, "csrf_token", csrf, "name", "Litter pick",
                                  "postcode", "BN43 XXX", "day", "SA", "opens_at", "12:00",
                                  "closes_at", "10:00", "url", "javascript:alert(1)", NULL),
                     0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "href=\"#postcode\""));
    assert_true(contains(&r, "href=\"#closes_at\""));
    assert_true(contains(&r, "href=\"#url\""));
    assert_true(contains(&r, "closing time must be after the opening time"));
    assert_true(contains(&r, "value=\"BN43 XXX\""));
    assert_true(contains(&r, "value=\"Litter pick\""));
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(c, path, &r, "csrf_token", csrf, "name", "", NULL), 0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "Enter the name of the service"));
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(c, path, &r, "csrf_token", csrf, "name", "Beach litter pick",
                                  "description", "Bags and pickers provided", "postcode", "bn436ab",
                                  "day", "SA", "opens_at", "10:00", "closes_at", "12:00",
                                  "category", "6d1c3b1e-6a53-4c1e-9a43-000000000009", "latitude",
                                  "50.828", "longitude", "-0.290", NULL),
                     0);
    assert_int_equal(r.status, 303);
    char sloc[256];
    assert_non_null(cg_resp_header(&r, "Location", sloc, sizeof sloc));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, sloc, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Saturdays 10:00-12:00"));
    assert_true(contains(&r, "BN43 6AB"));
    assert_true(contains(&r, "Environment"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/admin/audit", &r), 0);
    assert_true(contains(&r, "directory.service.create"));
    assert_true(contains(&r, "directory.organization.create"));
    cg_resp_free(&r);
    /* the officer views */
    assert_int_equal(cg_get(c, "/directory/duplicates", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Group 1"));
    cg_resp_free(&r);
    cg_client_free(c);
}

static void organisers_manage_their_own_organisations(void **state) {
    (void)state;
    cg_client *o = cg_client_new(&srv);
    assert_int_equal(cg_signup(o, "Olive Organiser", "olive@example.org", "olive password 1"), 303);
    cg_resp r;
    assert_int_equal(cg_get(o, "/directory/organisations/" FOOD_BANK_ORG "/edit", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    /* an officer invites her */
    cg_client *admin = cg_client_new(&srv);
    assert_int_equal(cg_signin(admin, srv.admin_email, srv.admin_password), 303);
    char csrf[65];
    assert_non_null(cg_csrf_from(admin, "/directory/organisations/" FOOD_BANK_ORG, csrf));
    assert_int_equal(cg_post_form(admin, "/directory/organisations/" FOOD_BANK_ORG "/members", &r,
                                  "csrf_token", csrf, "email", "nobody@example.org", NULL),
                     0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "href=\"#email\""));
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(admin, "/directory/organisations/" FOOD_BANK_ORG "/members", &r,
                                  "csrf_token", csrf, "email", "olive@example.org", NULL),
                     0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    /* now she can edit it, and invite others, but not another organisation */
    assert_int_equal(cg_get(o, "/directory/organisations/" FOOD_BANK_ORG "/edit", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "value=\"Worthing Community Food Bank (demo)\""));
    cg_resp_free(&r);
    assert_int_equal(
        cg_get(o, "/directory/organisations/4f0a8c52-1b7e-4d29-8e61-000000000002/edit", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    assert_int_equal(cg_get(o, "/directory/services/" FOOD_BANK_SERVICE "/edit", &r), 0);
    assert_int_equal(r.status, 200);
    cg_resp_free(&r);
    assert_int_equal(cg_get(o, "/directory/import", &r), 0);
    assert_int_equal(r.status, 403); /* import is for officers */
    cg_resp_free(&r);
    /* an organiser may list a new organisation, and then manages it */
    char ocsrf[65];
    assert_non_null(cg_csrf_from(o, "/directory/organisations/new", ocsrf));
    assert_int_equal(cg_post_form(o, "/directory/organisations/new", &r, "csrf_token", ocsrf,
                                  "name", "Olive's Allotment Society", NULL),
                     0);
    assert_int_equal(r.status, 303);
    char loc[256], edit[300];
    assert_non_null(cg_resp_header(&r, "Location", loc, sizeof loc));
    cg_resp_free(&r);
    snprintf(edit, sizeof edit, "%s/edit", loc);
    assert_int_equal(cg_get(o, edit, &r), 0);
    assert_int_equal(r.status, 200);
    cg_resp_free(&r);
    /* a resident may not */
    cg_client *res = cg_client_new(&srv);
    assert_int_equal(cg_signup(res, "Rita Resident", "rita@example.org", "rita password 12"), 303);
    assert_int_equal(cg_get(res, "/directory/organisations/new", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    /* Members can be removed from the organisation's page: not by a resident, an
     * unknown person is 404, and after removal Olive no longer manages it. */
    assert_int_equal(cg_get(admin, "/directory/organisations/" FOOD_BANK_ORG, &r), 0);
    const char *rm = strstr(buf_cstr(&r.body), "action=\"/directory/organisations/" FOOD_BANK_ORG "/members/");
    assert_non_null(rm);
    char remove[256];
    snprintf(remove, sizeof remove, "%.*s", (int)strcspn(rm + 8, "\""), rm + 8);
    assert_non_null(cg_csrf(&r, csrf));
    cg_resp_free(&r);
    char rcsrf[65];
    assert_non_null(cg_csrf_from(res, "/", rcsrf));
    assert_int_equal(cg_post_form(res, remove, &r, "csrf_token", rcsrf, NULL), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(admin,
                                  "/directory/organisations/" FOOD_BANK_ORG
                                  "/members/00000000-0000-4000-8000-000000000000/remove",
                                  &r, "csrf_token", csrf, NULL),
                     0);
    assert_int_equal(r.status, 404);
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(admin, remove, &r, "csrf_token", csrf, NULL), 0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(admin, remove, &r, "csrf_token", csrf, NULL), 0);
    assert_int_equal(r.status, 404); /* not a member any more */
    cg_resp_free(&r);
    assert_int_equal(cg_get(o, "/directory/organisations/" FOOD_BANK_ORG "/edit", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    assert_int_equal(cg_get(admin, "/admin/audit", &r), 0);
    assert_true(contains(&r, "directory.member.remove"));
    cg_resp_free(&r);
    cg_client_free(res);
    cg_client_free(admin);
    cg_client_free(o);
}

static void import_page_reports_every_problem(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    assert_int_equal(cg_signin(c, srv.admin_email, srv.admin_password), 303);
    char csrf[65];
    assert_non_null(cg_csrf_from(c, "/directory/import", csrf));
    const char *csv = "organization_name,service_name,email\r\nA,B,bad\r\n,C,\r\n";
    char body[2048];
    int n =
        snprintf(body, sizeof body,
                 "--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n%s\r\n"
                 "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.csv\"\r\n"
                 "Content-Type: text/csv\r\n\r\n%s\r\n--XyZ--\r\n",
                 csrf, csv);
    cg_resp r;
    assert_int_equal(cg_request(c, "POST", "/directory/import", "multipart/form-data; boundary=XyZ",
                                body, (size_t)n, &r),
                     0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "Nothing was imported"));
    assert_true(contains(&r, "line 2"));
    assert_true(contains(&r, "line 3"));
    cg_resp_free(&r);
    const char *good = "organization_name,service_name\r\nWeb import group,Web import service\r\n";
    n = snprintf(body, sizeof body,
                 "--XyZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n%s\r\n"
                 "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"g.csv\"\r\n"
                 "Content-Type: text/csv\r\n\r\n%s\r\n--XyZ--\r\n",
                 csrf, good);
    assert_int_equal(cg_request(c, "POST", "/directory/import", "multipart/form-data; boundary=XyZ",
                                body, (size_t)n, &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Imported"));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/directory?q=web%20import", &r), 0);
    assert_true(contains(&r, "Web import service"));
    cg_resp_free(&r);
    cg_client_free(c);
}

/* Strips what legitimately differs between two databases: save times and area URIs. */
static void normalise(json_t *doc) {
    size_t i, j;
    json_t *s, *a;
    json_array_foreach(json_object_get(doc, "services"), i, s) {
        json_object_del(s, "last_modified");
        json_array_foreach(json_object_get(s, "service_areas"), j, a) json_object_del(a, "uri");
    }
}

static json_t *export_of(const char *db, const char *file) {
    buf out;
    buf_init(&out, 1 << 24);
    const char *args[] = {"directory", "export", "--db", db, "--output", file, NULL};
    int rc = cg_run(args, &out);
    if (rc != 0) fail_msg("export failed: %s", buf_cstr(&out));
    buf_free(&out);
    json_error_t err;
    json_t *j = json_load_file(file, 0, &err);
    if (!j) fail_msg("export is not JSON: %s", err.text);
    normalise(j);
    return j;
}

static void cli_round_trip(void **state) {
    (void)state;
    char dir[] = "/tmp/cg_dir_rt_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db1[300], db2[300], f1[300], f2[300], f3[300];
    snprintf(db1, sizeof db1, "%s/a.db", dir);
    snprintf(db2, sizeof db2, "%s/b.db", dir);
    snprintf(f1, sizeof f1, "%s/1.json", dir);
    snprintf(f2, sizeof f2, "%s/2.json", dir);
    snprintf(f3, sizeof f3, "%s/3.json", dir);
    buf out;
    buf_init(&out, 1 << 20);
    /* the server's directory, exported */
    json_t *orig = export_of(srv.db, f1);
    /* into a database with only the demo data: what the other tests added is new to it */
    const char *init[] = {"init", "--db", db2, "--demo", NULL};
    assert_int_equal(cg_run(init, &out), 0);
    buf_reset(&out);
    const char *imp[] = {"directory", "import", f1, "--db", db2, NULL};
    assert_int_equal(cg_run(imp, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), "Imported"));
    assert_null(strstr(buf_cstr(&out), " 0 new")); /* the organisations and services added above */
    buf_reset(&out);
    json_t *second = export_of(db2, f2);
    assert_true(json_equal(orig, second));
    /* and importing it again changes nothing */
    assert_int_equal(cg_run(imp, &out), 0);
    assert_non_null(strstr(buf_cstr(&out), " 0 new, 0 updated"));
    buf_reset(&out);
    json_t *third = export_of(db2, f3);
    assert_true(json_equal(orig, third));
    /* a broken file: exit status 1, a report, nothing saved */
    FILE *fp = fopen(f3, "w");
    fputs("organization_name,service_name,url\nX,Y,notaurl\n", fp);
    fclose(fp);
    const char *bad[] = {"directory", "import", f3, "--db", db2, NULL};
    assert_int_equal(cg_run(bad, &out), 1);
    assert_non_null(strstr(buf_cstr(&out), "line 2: url"));
    const char *usage[] = {"directory", "frobnicate", NULL};
    assert_int_equal(cg_run(usage, &out), 2);
    (void)db1;
    json_decref(orig);
    json_decref(second);
    json_decref(third);
    buf_free(&out);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(api_root_and_paging),
        cmocka_unit_test(api_bad_parameters_are_named),
        cmocka_unit_test(api_unknown_ids_are_404_json),
        cmocka_unit_test(api_filters),
        cmocka_unit_test(api_details_are_nested),
        cmocka_unit_test(pages_browse_search_and_show),
        cmocka_unit_test(forms_keep_input_and_name_problems),
        cmocka_unit_test(organisers_manage_their_own_organisations),
        cmocka_unit_test(import_page_reports_every_problem),
        cmocka_unit_test(cli_round_trip), /* last: it exports what the others added */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
