/*
 * Unit tests for src/place: GSS code rules, the demo data, and the place pages
 * in-process (officers create and edit with per-field errors; residents cannot; every
 * change is audited).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "account/account.h"
#include "app/fixture.h"
#include "place/place.h"

static void gss_codes(void **state) {
    (void)state;
    assert_null(place_gss_problem("E05007562"));
    assert_null(place_gss_problem("W05001234"));
    assert_null(place_gss_problem(""));
    assert_non_null(place_gss_problem("E0500756"));
    assert_non_null(place_gss_problem("e05007562"));
    assert_non_null(place_gss_problem("E05O07562"));
    assert_non_null(place_gss_problem("E050075621"));
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f || fixture_open(f) != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_close(*state);
    free(*state);
    return 0;
}

static void demo_seed_is_complete_and_idempotent(void **state) {
    fixture *f = *state;
    store_actor system = {0, NULL};
    char err[256];
    assert_int_equal(place_seed_demo(f->app.store, &system, err, sizeof err), 0);
    int64_t n1 = 0, n2 = 0;
    assert_int_equal(store_place_count(f->app.store, &n1), STORE_OK);
    assert_int_equal(n1, 1 + 2 + 27);
    assert_int_equal(place_seed_demo(f->app.store, &system, err, sizeof err), 0);
    assert_int_equal(store_place_count(f->app.store, &n2), STORE_OK);
    assert_int_equal(n2, n1);
    arena a;
    arena_init(&a, 0);
    store_place ward;
    assert_int_equal(store_place_by_gss(f->app.store, "E05007562", &a, &ward), STORE_OK);
    assert_string_equal(ward.name, "Buckingham");
    assert_string_equal(ward.parent_name, "Adur");
    assert_int_equal(ward.kind, STORE_PLACE_WARD);
    arena_free(&a);
}

/* Makes an officer directly in the store and signs this "browser" in as them. */
static void sign_in_officer(fixture *f) {
    char hash[ACCOUNT_HASH_MAX];
    assert_int_equal(account_password_hash("officer password", hash), 0);
    store_actor system = {0, NULL};
    arena a;
    arena_init(&a, 0);
    store_user u;
    if (store_user_by_email(f->app.store, "officer@example.org", &a, &u) != STORE_OK)
        assert_int_equal(store_user_create(f->app.store, &system, "officer@example.org", "Olwen",
                                           hash, STORE_ROLE_OFFICER, &a, &u), STORE_OK);
    arena_free(&a);
    fixture_forget_cookies(f);
    http_response *r = fixture_post(f, "/signin", "/signin", "email=officer%40example.org&password=officer+password");
    assert_int_equal(http_response_status(r), 303);
    http_response_free(r);
}

static void officer_creates_and_edits(void **state) {
    fixture *f = *state;
    sign_in_officer(f);
    /* Errors name each field and keep what was typed. */
    http_response *r = fixture_post(f, "/places/new", "/places", "name=&kind=castle&gss_code=X1&parent=nope");
    assert_int_equal(http_response_status(r), 400);
    assert_true(body_has(r, "href=\"#name\""));
    assert_true(body_has(r, "href=\"#kind\""));
    assert_true(body_has(r, "href=\"#gss_code\""));
    assert_true(body_has(r, "href=\"#parent\""));
    assert_true(body_has(r, "value=\"X1\""));
    http_response_free(r);

    arena a;
    arena_init(&a, 0);
    store_place adur;
    assert_int_equal(store_place_by_gss(f->app.store, "E07000223", &a, &adur), STORE_OK);
    char body[512];
    snprintf(body, sizeof body, "name=Shoreham+Beach&kind=neighbourhood&parent=%s&description=Houseboats", adur.uuid);
    r = fixture_post(f, "/places/new", "/places", body);
    assert_int_equal(http_response_status(r), 303);
    const char *loc = http_response_header(r, "Location");
    char path[128];
    snprintf(path, sizeof path, "%s", loc);
    http_response_free(r);
    r = fixture_get(f, path);
    assert_int_equal(http_response_status(r), 200);
    assert_true(body_has(r, "Shoreham Beach"));
    assert_true(body_has(r, "Houseboats"));
    http_response_free(r);

    /* Making Adur part of its own child is refused. */
    store_place beach;
    assert_int_equal(store_place_by_uuid(f->app.store, path + strlen("/places/"), &a, &beach), STORE_OK);
    char adur_path[128];
    snprintf(adur_path, sizeof adur_path, "/places/%s", adur.uuid);
    char edit_path[160];
    snprintf(edit_path, sizeof edit_path, "%s/edit", adur_path);
    snprintf(body, sizeof body, "name=Adur&kind=council_area&gss_code=E07000223&parent=%s", beach.uuid);
    r = fixture_post(f, edit_path, adur_path, body);
    assert_int_equal(http_response_status(r), 400);
    assert_true(body_has(r, "href=\"#parent\""));
    http_response_free(r);

    /* The audit log has the creation, by the officer. */
    store_audit_list log;
    assert_int_equal(store_audit_list_page(f->app.store, 0, 5, &a, &log), STORE_OK);
    int found = 0;
    for (size_t i = 0; i < log.n; i++)
        if (strcmp(log.items[i].action, "place.create") == 0 && log.items[i].actor_name &&
            strcmp(log.items[i].actor_name, "Olwen") == 0)
            found = 1;
    assert_true(found);
    arena_free(&a);
}

static void residents_cannot_edit(void **state) {
    fixture *f = *state;
    fixture_forget_cookies(f);
    http_response *r = fixture_post(f, "/signup", "/signup", "display_name=Res&email=res2%40example.org&password=resident+pw1");
    http_response_free(r);
    r = fixture_get(f, "/places/new");
    assert_int_equal(http_response_status(r), 403);
    http_response_free(r);
    r = fixture_post(f, "/places", "/places", "name=Sneaky&kind=ward");
    assert_int_equal(http_response_status(r), 403);
    http_response_free(r);
    r = fixture_get(f, "/places");
    assert_int_equal(http_response_status(r), 200);
    assert_false(body_has(r, "Sneaky"));
    assert_false(body_has(r, "/places/new")); /* no "Add a place" button for residents */
    http_response_free(r);
}

int main(void) {
    const struct CMUnitTest pure[] = {cmocka_unit_test(gss_codes)};
    const struct CMUnitTest pages[] = {
        cmocka_unit_test(demo_seed_is_complete_and_idempotent),
        cmocka_unit_test(officer_creates_and_edits),
        cmocka_unit_test(residents_cannot_edit),
    };
    int failed = cmocka_run_group_tests_name("place", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("place pages", pages, setup, teardown);
    return failed;
}
