/*
 * HTTP tests against the real server (issue 2): the sign-up -> sign-in -> change ->
 * sign-out journey, roles, CSRF, escaping, caps, malformed requests, languages,
 * concurrency and a clean stop. One server with demo data serves the whole group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/harness.h"

static cg_server srv;
static int started;

static int setup(void **state) {
    (void)state;
    if (cg_server_start(&srv, 1) != 0) return -1;
    started = 1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (started) cg_server_stop(&srv);
    /* A clean stop on SIGTERM is part of the contract. */
    return srv.exit_status == 0 ? 0 : -1;
}

static int contains(const cg_resp *r, const char *s) { return strstr(buf_cstr(&r->body), s) != NULL; }

static void healthz_and_home(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    cg_resp r;
    assert_int_equal(cg_get(c, "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(buf_cstr(&r.body), "ok\n");
    cg_resp_free(&r);

    assert_int_equal(cg_get(c, "/", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Adur and Worthing"));
    assert_true(contains(&r, "<html lang=\"en\""));
    assert_true(contains(&r, "govuk-skip-link"));
    char h[1024];
    assert_non_null(cg_resp_header(&r, "Content-Security-Policy", h, sizeof h));
    assert_non_null(strstr(h, "frame-ancestors 'none'"));
    assert_null(strstr(h, "unsafe-inline"));
    assert_non_null(cg_resp_header(&r, "X-Content-Type-Options", h, sizeof h));
    assert_string_equal(h, "nosniff");
    assert_non_null(cg_resp_header(&r, "Referrer-Policy", h, sizeof h));
    assert_non_null(cg_resp_header(&r, "Content-Type", h, sizeof h));
    assert_non_null(strstr(h, "text/html"));
    cg_resp_free(&r);

    assert_int_equal(cg_head(c, "/", &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(buf_len(&r.body), 0);
    cg_resp_free(&r);

    assert_int_equal(cg_get(c, "/static/app.css", &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(cg_resp_header(&r, "Cache-Control", h, sizeof h));
    assert_non_null(strstr(h, "max-age"));
    cg_resp_free(&r);
    cg_client_free(c);
}

static void places_are_public(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    cg_resp r;
    assert_int_equal(cg_get(c, "/places", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Buckingham"));
    assert_true(contains(&r, "E05007562"));
    /* Follow the first ward link to its page. */
    const char *p = strstr(buf_cstr(&r.body), "href=\"/places/");
    assert_non_null(p);
    char path[64];
    snprintf(path, sizeof path, "%.*s", 8 + 36, p + 6);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, path, &r), 0);
    assert_int_equal(r.status, 200);
    cg_resp_free(&r);
    /* Unknown and malformed ids. */
    assert_int_equal(cg_get(c, "/places/00000000-0000-4000-8000-000000000000", &r), 0);
    assert_int_equal(r.status, 404);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/places/not-a-uuid", &r), 0);
    assert_int_equal(r.status, 404);
    cg_resp_free(&r);
    cg_client_free(c);
}

static void journey_signup_signin_signout(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    cg_resp r;
    assert_int_equal(cg_signup(c, "Rhian", "rhian@example.org", "correct horse battery"), 303);
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "Rhian"));
    assert_true(contains(&r, "rhian@example.org"));
    assert_true(contains(&r, "Your account has been created")); /* flash */
    char csrf[65];
    assert_non_null(cg_csrf(&r, csrf));
    cg_resp_free(&r);

    /* Change something: switch language, which is stored for the session. */
    assert_int_equal(cg_post_form(c, "/lang", &r, "csrf_token", csrf, "lang", "cy", "return_to", "/account", NULL), 0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_true(contains(&r, "<html lang=\"cy\""));
    cg_resp_free(&r);

    assert_int_equal(cg_post_form(c, "/signout", &r, "csrf_token", csrf, NULL), 0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_int_equal(r.status, 303);
    char loc[256];
    assert_non_null(cg_resp_header(&r, "Location", loc, sizeof loc));
    assert_non_null(strstr(loc, "/signin"));
    cg_resp_free(&r);

    assert_int_equal(cg_signin(c, "rhian@example.org", "wrong password!!"), 401);
    assert_int_equal(cg_signin(c, "RHIAN@example.org", "correct horse battery"), 303);
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_int_equal(r.status, 200);
    cg_resp_free(&r);
    /* Duplicate email is refused and named. */
    cg_client *d = cg_client_new(&srv);
    assert_int_equal(cg_signup(d, "Other", "rhian@example.org", "another long password"), 409);
    cg_client_free(d);
    cg_client_free(c);
}

static void signup_validation_names_fields(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    char csrf[65];
    assert_non_null(cg_csrf_from(c, "/signup", csrf));
    cg_resp r;
    assert_int_equal(cg_post_form(c, "/signup", &r, "csrf_token", csrf, "display_name", "",
                                  "email", "not-an-email", "password", "short", NULL), 0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "govuk-error-summary"));
    assert_true(contains(&r, "href=\"#display_name\""));
    assert_true(contains(&r, "href=\"#email\""));
    assert_true(contains(&r, "href=\"#password\""));
    assert_true(contains(&r, "value=\"not-an-email\"")); /* keeps what was typed */
    cg_resp_free(&r);
    cg_client_free(c);
}

static void csrf_required(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    cg_resp r;
    /* No token at all. */
    assert_int_equal(cg_post_form(c, "/signup", &r, "display_name", "Mallory", "email",
                                  "mallory@example.org", "password", "long enough password", NULL), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    /* A wrong token, with a real cookie. */
    char csrf[65];
    assert_non_null(cg_csrf_from(c, "/signup", csrf));
    csrf[0] = csrf[0] == 'a' ? 'b' : 'a';
    assert_int_equal(cg_post_form(c, "/signup", &r, "csrf_token", csrf, "display_name", "Mallory",
                                  "email", "mallory@example.org", "password", "long enough password", NULL), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    /* Nothing was created: signing in fails. */
    assert_int_equal(cg_signin(c, "mallory@example.org", "long enough password"), 401);
    cg_client_free(c);
}

static void hostile_name_is_text(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    assert_int_equal(cg_signup(c, "<script>alert(1)</script>", "xss@example.org", "a long password here"), 303);
    cg_resp r;
    assert_int_equal(cg_get(c, "/account", &r), 0);
    assert_int_equal(r.status, 200);
    assert_false(contains(&r, "<script>alert(1)</script>"));
    assert_true(contains(&r, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    cg_resp_free(&r);
    cg_client_free(c);
}

static void roles_are_enforced(void **state) {
    (void)state;
    cg_client *anon = cg_client_new(&srv);
    cg_resp r;
    assert_int_equal(cg_get(anon, "/admin/users", &r), 0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);

    cg_client *res = cg_client_new(&srv);
    assert_int_equal(cg_signup(res, "Resident Ruth", "ruth@example.org", "resident password"), 303);
    assert_int_equal(cg_get(res, "/admin/users", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    assert_int_equal(cg_get(res, "/places/new", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    assert_int_equal(cg_get(res, "/admin/audit", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);

    /* The admin makes Ruth an officer. */
    cg_client *admin = cg_client_new(&srv);
    assert_int_equal(cg_signin(admin, srv.admin_email, srv.admin_password), 303);
    assert_int_equal(cg_get(admin, "/admin/users", &r), 0);
    assert_int_equal(r.status, 200);
    const char *p = strstr(buf_cstr(&r.body), "ruth@example.org");
    assert_non_null(p);
    const char *f = strstr(p, "action=\"/admin/users/");
    assert_non_null(f);
    char path[128];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(f + 8, "\""), f + 8);
    char csrf[65];
    assert_non_null(cg_csrf(&r, csrf));
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(admin, path, &r, "csrf_token", csrf, "role", "officer", NULL), 0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(admin, path, &r, "csrf_token", csrf, "role", "emperor", NULL), 0);
    assert_int_equal(r.status, 400);
    cg_resp_free(&r);

    /* Ruth may now add places; the change is in the audit log. */
    assert_int_equal(cg_get(res, "/places/new", &r), 0);
    assert_int_equal(r.status, 200);
    cg_resp_free(&r);
    assert_int_equal(cg_get(admin, "/admin/audit", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "user.role"));
    cg_resp_free(&r);

    /* An officer is not an admin. */
    assert_int_equal(cg_get(res, "/admin/users", &r), 0);
    assert_int_equal(r.status, 403);
    cg_resp_free(&r);
    cg_client_free(admin);
    cg_client_free(res);
    cg_client_free(anon);
}

/* A printed password is one-time: the first sign-in leads to the password change, every
 * page that needs an account leads there until the user has chosen their own, and the
 * printed one stops working. Both ways: the first admin from `init` (the harness did
 * it at start-up) and an officer added with `user add`. */
static void one_time_password_must_be_replaced(void **state) {
    (void)state;
    cg_client *old = cg_client_new(&srv);
    assert_int_equal(cg_signin(old, srv.admin_email, srv.admin_once), 401);
    cg_client_free(old);

    buf out;
    buf_init(&out, 1 << 16);
    const char *args[] = {"user", "add", "--db", srv.db, "--email", "once@example.org", "--name", "Owen Once",
                          "--role", "officer", NULL};
    assert_int_equal(cg_run(args, &out), 0);
    const char *pw = strstr(buf_cstr(&out), "Password: ");
    assert_non_null(pw);
    assert_non_null(strstr(buf_cstr(&out), "one-time"));
    char once[64];
    snprintf(once, sizeof once, "%.*s", (int)strcspn(pw + 10, "\r\n"), pw + 10);
    buf_free(&out);

    cg_client *c = cg_client_new(&srv);
    cg_resp r;
    char csrf[65], loc[256];
    assert_non_null(cg_csrf_from(c, "/signin", csrf));
    assert_int_equal(cg_post_form(c, "/signin?return_to=/places/new", &r, "csrf_token", csrf, "email",
                                  "once@example.org", "password", once, NULL), 0);
    assert_int_equal(r.status, 303);
    assert_string_equal(cg_resp_header(&r, "Location", loc, sizeof loc), "/account/password");
    cg_resp_free(&r);
    const char *gated[] = {"/account", "/places/new"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(cg_get(c, gated[i], &r), 0);
        assert_int_equal(r.status, 303);
        assert_string_equal(cg_resp_header(&r, "Location", loc, sizeof loc), "/account/password");
        cg_resp_free(&r);
    }
    /* Nothing is changed through a gated form either (with this session's own token). */
    assert_non_null(cg_csrf_from(c, "/account/password", csrf));
    assert_int_equal(cg_post_form(c, "/places", &r, "csrf_token", csrf, "name", "Sneaky", "kind", "ward", NULL),
                     0);
    assert_int_equal(r.status, 303);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/account/password", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "works only once"));
    cg_resp_free(&r);
    assert_int_equal(cg_change_password(c, "not it", "my own good password"), 400);
    assert_int_equal(cg_change_password(c, once, "my own good password"), 303);
    assert_int_equal(cg_get(c, "/places/new", &r), 0);
    assert_int_equal(r.status, 200);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/places", &r), 0);
    assert_false(contains(&r, "Sneaky"));
    cg_resp_free(&r);
    cg_client_free(c);

    cg_client *again = cg_client_new(&srv);
    assert_int_equal(cg_signin(again, "once@example.org", once), 401);
    assert_int_equal(cg_signin(again, "once@example.org", "my own good password"), 303);
    cg_client_free(again);
}

static void officer_edits_places(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    assert_int_equal(cg_signin(c, srv.admin_email, srv.admin_password), 303);
    char csrf[65];
    assert_non_null(cg_csrf_from(c, "/places/new", csrf));
    cg_resp r;
    assert_int_equal(cg_post_form(c, "/places", &r, "csrf_token", csrf, "name", "", "kind",
                                  "ward", "gss_code", "E05X", NULL), 0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "href=\"#name\""));
    assert_true(contains(&r, "href=\"#gss_code\""));
    assert_true(contains(&r, "value=\"E05X\""));
    cg_resp_free(&r);
    /* A GSS code that exists already. */
    assert_int_equal(cg_post_form(c, "/places", &r, "csrf_token", csrf, "name", "Copy", "kind",
                                  "ward", "gss_code", "E05007562", NULL), 0);
    assert_int_equal(r.status, 400);
    assert_true(contains(&r, "href=\"#gss_code\""));
    cg_resp_free(&r);
    assert_int_equal(cg_post_form(c, "/places", &r, "csrf_token", csrf, "name",
                                  "<b>Shoreham</b> Beach", "kind", "neighbourhood", "description",
                                  "By the sea", NULL), 0);
    assert_int_equal(r.status, 303);
    char loc[256];
    assert_non_null(cg_resp_header(&r, "Location", loc, sizeof loc));
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, loc, &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "&lt;b&gt;Shoreham&lt;/b&gt; Beach"));
    assert_true(contains(&r, "The place has been saved."));
    cg_resp_free(&r);
    cg_client_free(c);
}

static void malformed_requests(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    cg_resp r;
    assert_int_equal(cg_get(c, "/places/%zz", &r), 0);
    assert_int_equal(r.status, 400);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/places/%ff%fe", &r), 0);
    assert_int_equal(r.status, 400);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/?q=%e2%28", &r), 0);
    assert_int_equal(r.status, 400);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/no/such/page", &r), 0);
    assert_int_equal(r.status, 404);
    assert_true(contains(&r, "Page not found"));
    cg_resp_free(&r);
    assert_int_equal(cg_request(c, "DELETE", "/", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    cg_resp_free(&r);
    assert_int_equal(cg_get(c, "/static/../Makefile", &r), 0);
    assert_true(r.status == 400 || r.status == 404);
    cg_resp_free(&r);
    /* A body over the cap, then the server still serves. */
    size_t big = 3u << 20;
    char *body = malloc(big);
    memset(body, 'a', big);
    memcpy(body, "x=", 2);
    assert_int_equal(cg_request(c, "POST", "/signup", "application/x-www-form-urlencoded", body, big, &r), 0);
    assert_int_equal(r.status, 413);
    cg_resp_free(&r);
    free(body);
    cg_client *d = cg_client_new(&srv);
    assert_int_equal(cg_get(d, "/healthz", &r), 0);
    assert_int_equal(r.status, 200);
    cg_resp_free(&r);
    cg_client_free(d);
    cg_client_free(c);
}

static void welsh_by_accept_language(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    cg_client_header(c, "Accept-Language: cy-GB,cy;q=0.9,en;q=0.5");
    cg_resp r;
    assert_int_equal(cg_get(c, "/signin", &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(contains(&r, "<html lang=\"cy\""));
    assert_true(contains(&r, "Mewngofnodi")); /* "Sign in" */
    char h[64];
    assert_non_null(cg_resp_header(&r, "Content-Language", h, sizeof h));
    assert_string_equal(h, "cy");
    cg_resp_free(&r);
    cg_client_free(c);
}

static void signin_is_rate_limited(void **state) {
    (void)state;
    cg_client *c = cg_client_new(&srv);
    long last = 0;
    for (int i = 0; i < 11; i++) last = cg_signin(c, "victim@example.org", "guess number x");
    assert_int_equal(last, 429);
    cg_client_free(c);
}

/* Many clients at once: every sign-up lands, every page read succeeds. */
#define WORKERS 8
static void *worker(void *arg) {
    long id = (long)arg;
    cg_client *c = cg_client_new(&srv);
    char email[64];
    snprintf(email, sizeof email, "worker%ld@example.org", id);
    long ok = cg_signup(c, "Worker", email, "worker password 123") == 303;
    for (int i = 0; i < 20 && ok; i++) {
        cg_resp r;
        ok = cg_get(c, i % 2 ? "/places" : "/account", &r) == 0 && r.status == 200;
        cg_resp_free(&r);
    }
    cg_client_free(c);
    return (void *)ok;
}

static void concurrent_clients(void **state) {
    (void)state;
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < WORKERS; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        assert_true((long)ok);
    }
    /* Every account exists: each can sign in. */
    for (long i = 0; i < WORKERS; i++) {
        cg_client *c = cg_client_new(&srv);
        char email[64];
        snprintf(email, sizeof email, "worker%ld@example.org", i);
        assert_int_equal(cg_signin(c, email, "worker password 123"), 303);
        cg_client_free(c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(healthz_and_home),
        cmocka_unit_test(places_are_public),
        cmocka_unit_test(journey_signup_signin_signout),
        cmocka_unit_test(signup_validation_names_fields),
        cmocka_unit_test(csrf_required),
        cmocka_unit_test(hostile_name_is_text),
        cmocka_unit_test(roles_are_enforced),
        cmocka_unit_test(officer_edits_places),
        cmocka_unit_test(one_time_password_must_be_replaced),
        cmocka_unit_test(malformed_requests),
        cmocka_unit_test(welsh_by_accept_language),
        cmocka_unit_test(signin_is_rate_limited),
        cmocka_unit_test(concurrent_clients),
    };
    return cmocka_run_group_tests_name("web", tests, setup, teardown);
}
