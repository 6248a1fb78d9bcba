/*
 * Unit tests for src/account: password rules and hashing, token hashing, and the
 * account pages in-process (sign-up, sign-in, sessions stored as hashes, password
 * change revoking other sessions, open-redirect protection, admin-only pages).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

#include "account/account.h"
#include "app/fixture.h"

static void email_and_password_rules(void **state) {
    (void)state;
    assert_null(account_email_problem("nia@example.org"));
    assert_null(account_email_problem("a.b+c@sub.example.co.uk"));
    assert_non_null(account_email_problem(""));
    assert_non_null(account_email_problem("no-at-sign"));
    assert_non_null(account_email_problem("two@@example.org"));
    assert_non_null(account_email_problem("a@nodot"));
    assert_non_null(account_email_problem("a b@example.org"));
    assert_non_null(account_email_problem("<x>@example.org"));
    assert_null(account_password_problem("ten chars!"));
    assert_non_null(account_password_problem("nine char"));
    assert_non_null(account_password_problem(NULL));
    /* Length counts characters, not bytes: ten Welsh letters pass. */
    assert_null(account_password_problem("ŵŵŵŵŵŵŵŵŵŵ"));
    assert_non_null(account_password_problem("ŵŵŵŵŵ"));
}

static void argon2id_hash_and_verify(void **state) {
    (void)state;
    char h1[ACCOUNT_HASH_MAX], h2[ACCOUNT_HASH_MAX];
    assert_int_equal(account_password_hash("correct horse", h1), 0);
    assert_int_equal(account_password_hash("correct horse", h2), 0);
    assert_non_null(strstr(h1, "$argon2id$"));
    assert_string_not_equal(h1, h2); /* salted */
    assert_true(account_password_verify(h1, "correct horse"));
    assert_false(account_password_verify(h1, "correct horsE"));
    assert_false(account_password_verify("", "anything"));
}

static void token_hash_is_sha256_hex(void **state) {
    (void)state;
    char h[65];
    account_token_hash("abc", h);
    /* SHA-256("abc") */
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
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

static void signup_stores_only_token_hash(void **state) {
    fixture *f = *state;
    fixture_forget_cookies(f);
    http_response *r = fixture_post(f, "/signup", "/signup",
                                    "display_name=Nia&email=Nia%40Example.org&password=long+enough+pw");
    assert_int_equal(http_response_status(r), 303);
    assert_string_equal(http_response_header(r, "Location"), "/account");
    http_response_free(r);
    const char *session = NULL;
    for (int i = 0; i < 8; i++)
        if (strncmp(f->cookies[i], "cg_session=", 11) == 0) session = f->cookies[i] + 11;
    assert_non_null(session);
    arena a;
    arena_init(&a, 0);
    store_session s;
    /* The raw token is not a key in the database; its hash is. */
    assert_int_equal(store_session_get(f->app.store, session, 0, &a, &s), STORE_NOT_FOUND);
    char hash[65];
    account_token_hash(session, hash);
    assert_int_equal(store_session_get(f->app.store, hash, 0, &a, &s), STORE_OK);
    store_user u;
    assert_int_equal(store_user_by_email(f->app.store, "nia@example.org", &a, &u), STORE_OK);
    assert_int_equal(s.user_id, u.id);
    assert_int_equal(u.role, STORE_ROLE_RESIDENT);
    arena_free(&a);

    r = fixture_get(f, "/account");
    assert_int_equal(http_response_status(r), 200);
    assert_true(body_has(r, "nia@example.org"));
    http_response_free(r);
}

static void csrf_cookie_and_field_must_match(void **state) {
    fixture *f = *state;
    fixture_forget_cookies(f);
    /* No cookie, no field. */
    http_response *r = fixture_req(f, HTTP_POST, "/signup", "display_name=X&email=x%40example.org&password=xxxxxxxxxxxx", NULL);
    assert_int_equal(http_response_status(r), 403);
    http_response_free(r);
    /* A field from another visitor's page does not match this visitor's cookie. */
    http_response *g = fixture_get(f, "/signup");
    char other[65];
    fixture_csrf(g, other);
    http_response_free(g);
    fixture_forget_cookies(f);
    g = fixture_get(f, "/signup");
    http_response_free(g);
    char body[256];
    snprintf(body, sizeof body, "csrf_token=%s&display_name=X&email=x%%40example.org&password=xxxxxxxxxxxx", other);
    r = fixture_req(f, HTTP_POST, "/signup", body, NULL);
    assert_int_equal(http_response_status(r), 403);
    http_response_free(r);
    arena a;
    arena_init(&a, 0);
    store_user u;
    assert_int_equal(store_user_by_email(f->app.store, "x@example.org", &a, &u), STORE_NOT_FOUND);
    arena_free(&a);
}

static void signin_redirects_only_to_local_paths(void **state) {
    fixture *f = *state;
    fixture_forget_cookies(f);
    http_response *r = fixture_post(f, "/signup", "/signup",
                                    "display_name=Owain&email=owain%40example.org&password=owain+password");
    http_response_free(r);
    fixture_forget_cookies(f);
    r = fixture_post(f, "/signin", "/signin",
                     "email=owain%40example.org&password=owain+password&return_to=%2F%2Fevil.example");
    assert_int_equal(http_response_status(r), 303);
    assert_string_equal(http_response_header(r, "Location"), "/account");
    http_response_free(r);
    fixture_forget_cookies(f);
    r = fixture_post(f, "/signin", "/signin",
                     "email=owain%40example.org&password=owain+password&return_to=%2Fplaces");
    assert_string_equal(http_response_header(r, "Location"), "/places");
    http_response_free(r);
    assert_true(app_local_path("/places/x"));
    assert_false(app_local_path("//evil.example"));
    assert_false(app_local_path("/\\evil.example"));
    assert_false(app_local_path("https://evil.example"));
    assert_false(app_local_path(NULL));
}

static void password_change_revokes_other_sessions(void **state) {
    fixture *f = *state;
    fixture_forget_cookies(f);
    http_response *r = fixture_post(f, "/signup", "/signup",
                                    "display_name=Gwen&email=gwen%40example.org&password=first+password");
    http_response_free(r);
    char first[256] = "";
    for (int i = 0; i < 8; i++)
        if (strncmp(f->cookies[i], "cg_session=", 11) == 0) snprintf(first, sizeof first, "%s", f->cookies[i]);
    /* Wrong current password: refused, field named. */
    r = fixture_post(f, "/account/password", "/account/password", "current=nope&password=second+password");
    assert_int_equal(http_response_status(r), 400);
    assert_true(body_has(r, "href=\"#current\""));
    http_response_free(r);
    r = fixture_post(f, "/account/password", "/account/password",
                     "current=first+password&password=second+password");
    assert_int_equal(http_response_status(r), 303);
    http_response_free(r);
    /* This browser has a new session that works... */
    r = fixture_get(f, "/account");
    assert_int_equal(http_response_status(r), 200);
    http_response_free(r);
    /* ...and the old session no longer does. */
    fixture_forget_cookies(f);
    snprintf(f->cookies[0], sizeof f->cookies[0], "%s", first);
    r = fixture_get(f, "/account");
    assert_int_equal(http_response_status(r), 303);
    http_response_free(r);
    fixture_forget_cookies(f);
    r = fixture_post(f, "/signin", "/signin", "email=gwen%40example.org&password=second+password");
    assert_int_equal(http_response_status(r), 303);
    http_response_free(r);
}

static void admin_pages_need_admin(void **state) {
    fixture *f = *state;
    fixture_forget_cookies(f);
    http_response *r = fixture_get(f, "/admin/users");
    assert_int_equal(http_response_status(r), 303);
    assert_non_null(strstr(http_response_header(r, "Location"), "/signin?return_to=%2Fadmin%2Fusers"));
    http_response_free(r);
    r = fixture_post(f, "/signup", "/signup", "display_name=Res&email=res%40example.org&password=resident+pw1");
    http_response_free(r);
    r = fixture_get(f, "/admin/users");
    assert_int_equal(http_response_status(r), 403);
    http_response_free(r);
    r = fixture_get(f, "/admin/users?page=abc");
    assert_int_equal(http_response_status(r), 403); /* role is checked before input */
    http_response_free(r);
}

static void signup_attempts_are_limited_per_address(void **state) {
    fixture *f = *state;
    fixture_forget_cookies(f);
    long status = 0;
    int i;
    for (i = 0; i < 30 && status != 429; i++) {
        http_response *r = fixture_post(f, "/signup", "/signup", "display_name=&email=bad&password=x");
        status = http_response_status(r);
        http_response_free(r);
    }
    assert_int_equal(status, 429);
    assert_true(i <= 21);
}

/* Two admins demoting each other at once must leave at least one admin; the last admin
 * cannot be demoted; a demoted admin can no longer change roles. */
typedef struct demote_arg {
    store *s;
    int64_t actor, target;
    int rc;
} demote_arg;

static void *demote(void *p) {
    demote_arg *d = p;
    store_actor actor = {d->actor, "127.0.0.1"};
    d->rc = store_user_set_role(d->s, &actor, d->target, STORE_ROLE_RESIDENT);
    return NULL;
}

static void admins_cannot_all_disappear(void **state) {
    fixture *f = *state;
    store *s = f->app.store;
    store_actor system = {0, NULL};
    arena a;
    arena_init(&a, 0);
    for (int round = 0; round < 10; round++) {
        store_user x, y;
        char e1[64], e2[64];
        snprintf(e1, sizeof e1, "admin-a%d@example.org", round);
        snprintf(e2, sizeof e2, "admin-b%d@example.org", round);
        assert_int_equal(store_user_create(s, &system, e1, "A", "", STORE_ROLE_ADMIN, &a, &x), STORE_OK);
        assert_int_equal(store_user_create(s, &system, e2, "B", "", STORE_ROLE_ADMIN, &a, &y), STORE_OK);
        /* Leave exactly these two admins: demote every other admin. */
        store_user_list all;
        assert_int_equal(store_user_list_page(s, 0, 1000, &a, &all), STORE_OK);
        for (size_t i = 0; i < all.n; i++)
            if (all.items[i].role == STORE_ROLE_ADMIN && all.items[i].id != x.id && all.items[i].id != y.id)
                assert_int_equal(store_user_set_role(s, &system, all.items[i].id, STORE_ROLE_RESIDENT), STORE_OK);
        demote_arg d1 = {s, x.id, y.id, -1}, d2 = {s, y.id, x.id, -1};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, demote, &d1);
        pthread_create(&t2, NULL, demote, &d2);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        /* Exactly one succeeded; the other found itself no longer an admin. */
        assert_true((d1.rc == STORE_OK) != (d2.rc == STORE_OK));
        store_user rx, ry;
        assert_int_equal(store_user_by_id(s, x.id, &a, &rx), STORE_OK);
        assert_int_equal(store_user_by_id(s, y.id, &a, &ry), STORE_OK);
        assert_true(rx.role == STORE_ROLE_ADMIN || ry.role == STORE_ROLE_ADMIN);
        /* The remaining admin is the last one: even the system cannot demote them. */
        int64_t last = rx.role == STORE_ROLE_ADMIN ? rx.id : ry.id;
        assert_int_equal(store_user_set_role(s, &system, last, STORE_ROLE_OFFICER), STORE_CONFLICT);
    }
    arena_free(&a);
}

int main(void) {
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(email_and_password_rules),
        cmocka_unit_test(argon2id_hash_and_verify),
        cmocka_unit_test(token_hash_is_sha256_hex),
    };
    const struct CMUnitTest pages[] = {
        cmocka_unit_test(signup_stores_only_token_hash),
        cmocka_unit_test(csrf_cookie_and_field_must_match),
        cmocka_unit_test(signin_redirects_only_to_local_paths),
        cmocka_unit_test(password_change_revokes_other_sessions),
        cmocka_unit_test(admin_pages_need_admin),
        cmocka_unit_test(admins_cannot_all_disappear),
        cmocka_unit_test(signup_attempts_are_limited_per_address), /* last: it spends the address's allowance */
    };
    int failed = cmocka_run_group_tests_name("account", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("account pages", pages, setup, teardown);
    return failed;
}
