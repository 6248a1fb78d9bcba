/*
 * Unit tests for the router and the request pipeline through http_dispatch (no
 * sockets): matching and parameters, 404/405/HEAD, percent-decoding and UTF-8 checks
 * on paths, queries and forms, the body cap, the before and error hooks, response
 * builders, cookies, security headers and static files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/http.h"
#include "http/router.h"

/* ---- handlers: each writes what it saw so the test can check routing ---- */

static void h_name(http_request *req, http_response *resp, const char *name) {
    const char *id = http_param(req, "id");
    char *s = arena_sprintf(req->arena, "%s id=%s route=%s", name, id ? id : "-",
                            req->route ? req->route : "-");
    http_text(resp, 200, s);
}
static void h_places(http_request *req, http_response *resp) { h_name(req, resp, "places"); }
static void h_place(http_request *req, http_response *resp) { h_name(req, resp, "place"); }
static void h_place_new(http_request *req, http_response *resp) { h_name(req, resp, "new"); }
static void h_place_post(http_request *req, http_response *resp) { h_name(req, resp, "post"); }
static void h_root(http_request *req, http_response *resp) { http_html(resp, 200, "<p>home</p>"); }

static void h_abc(http_request *req, http_response *resp) {
    http_text(resp, 200, arena_sprintf(req->arena, "abc x=%s", http_param(req, "x")));
}
static void h_abd(http_request *req, http_response *resp) { http_text(resp, 200, "abd"); }

static void h_rest(http_request *req, http_response *resp) {
    http_text(resp, 200, arena_sprintf(req->arena, "rest=%s", http_param(req, "path")));
}

static void h_echo(http_request *req, http_response *resp) {
    buf b;
    buf_init(&b, 1 << 16);
    buf_printf(&b, "path=%s\n", req->path);
    for (size_t i = 0; i < http_query_count(req); i++) {
        buf_printf(&b, "q %s=%s\n", http_query_at(req, i)->name, http_query_at(req, i)->value);
    }
    for (size_t i = 0; i < http_form_count(req); i++) {
        buf_printf(&b, "f %s=%s\n", http_form_at(req, i)->name, http_form_at(req, i)->value);
    }
    for (size_t i = 0; i < http_upload_count(req); i++) {
        const http_upload *u = http_upload_at(req, i);
        buf_printf(&b, "u %s %s %s %zu\n", u->field, u->filename, u->content_type, u->len);
    }
    const char *c = http_cookie(req, "sid");
    if (c) buf_printf(&b, "cookie sid=%s\n", c);
    const char *ua = http_header(req, "user-agent");
    if (ua) buf_printf(&b, "ua=%s\n", ua);
    buf_printf(&b, "user=%s\n", req->user ? (const char *)req->user : "-");
    http_html_buf(resp, 200, &b);
    buf_free(&b);
}

static void h_json(http_request *req, http_response *resp) {
    http_json(resp, 201, json_pack("{s:s, s:i}", "name", "<Adur & Worthing>", "wards", 27));
}
static void h_redirect(http_request *req, http_response *resp) {
    http_redirect(resp, 303, http_query(req, "to") ? http_query(req, "to") : "/");
}
static void h_cookie(http_request *req, http_response *resp) {
    http_cookie_set(resp, "sid", "abc123", NULL);
    http_cookie_opts o = {
        .max_age = 3600, .same_site = "Strict", .secure = true, .path = "/account"};
    http_cookie_set(resp, "pref", "cy", &o);
    http_cookie_clear(resp, "old", NULL);
    http_text(resp, 200, "ok");
}
static void h_api(http_request *req, http_response *resp) {
    http_header_add(resp, "Access-Control-Allow-Origin", "*");
    http_header_add(resp, "Cache-Control", "public, max-age=60");
    http_header_set(resp, "X-Frame-Options", NULL);
    http_header_add(resp, "X-Extra", "evil\r\nSet-Cookie: x=1");
    http_json(resp, 200, NULL);
}
static void h_forbid(http_request *req, http_response *resp) {
    http_error(req, resp, 403, "Officers only.");
}

/* ---- hooks ---- */

static int before_calls;
static const char *before_route_seen;
static int before(http_request *req, http_response *resp) {
    before_calls++;
    before_route_seen = req->route;
    req->user = (void *)"alice";
    req->lang = "cy";
    if (req->route_data && strcmp(req->route_data, "admin") == 0 && !http_header(req, "X-Admin")) {
        http_error(req, resp, 403, "Admins only.");
        return 1;
    }
    return 0;
}

static int error_calls;
static void error_page(http_request *req, http_response *resp, int status, const char *msg) {
    error_calls++;
    assert_int_equal(http_response_status(resp), status);
    char *page = arena_sprintf(req->arena, "<h1>Error %d</h1><p>%s</p><p>lang=%s</p>", status, msg,
                               req->lang ? req->lang : "-");
    http_html(resp, status, page);
}

static void path_error_page(http_request *req, http_response *resp, int status, const char *msg) {
    http_text(resp, status, arena_sprintf(req->arena, "%d at %s", status, req->path));
}

static http_router *make_router(void) {
    http_router *r = http_router_new();
    http_route(r, HTTP_GET, "/", h_root);
    http_route(r, HTTP_GET, "/places", h_places);
    http_route(r, HTTP_GET, "/places/{id}", h_place);
    http_route(r, HTTP_POST, "/places/{id}", h_place_post);
    http_route(r, HTTP_GET, "/places/new", h_place_new); /* after the parameter on purpose */
    http_route(r, HTTP_GET, "/a/{x}/c", h_abc);
    http_route(r, HTTP_GET, "/a/b/d", h_abd);
    http_route(r, HTTP_GET, "/files/{path...}", h_rest);
    http_route(r, HTTP_GET | HTTP_POST, "/echo", h_echo);
    http_route(r, HTTP_POST, "/json", h_json);
    http_route(r, HTTP_GET, "/go", h_redirect);
    http_route(r, HTTP_GET, "/cookie", h_cookie);
    http_route(r, HTTP_GET, "/api", h_api);
    http_route(r, HTTP_GET, "/forbid", h_forbid);
    http_route_ex(r, HTTP_GET, "/admin", h_root, "admin");
    return r;
}

static http_server_config cfg_for(http_router *r) {
    http_server_config c = {0};
    c.router = r;
    c.before = before;
    c.error = error_page;
    c.max_body = 4096;
    c.max_fields = 8;
    c.max_field_size = 256;
    return c;
}

typedef struct fixture {
    http_router *router;
    http_server_config cfg;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->router = make_router();
    f->cfg = cfg_for(f->router);
    before_calls = error_calls = 0;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    http_router_free(f->router);
    free(f);
    return 0;
}

static http_response *get(fixture *f, const char *path) {
    http_fake_request fr = {.method = HTTP_GET, .path = path};
    return http_dispatch(&f->cfg, &fr);
}

static void assert_body(http_response *resp, const char *want) {
    size_t len;
    const char *b = http_response_body(resp, &len);
    assert_string_equal(b, want);
    assert_int_equal(len, strlen(want));
}

static void assert_body_has(http_response *resp, const char *want) {
    const char *b = http_response_body(resp, NULL);
    if (!strstr(b, want)) fail_msg("body \"%s\" lacks \"%s\"", b, want);
}

/* ---- routing ---- */

static void literal_beats_parameter(void **state) {
    fixture *f = *state;
    http_response *r = get(f, "/places/new");
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "new id=- route=/places/new");
    http_response_free(r);
    r = get(f, "/places/42");
    assert_body(r, "place id=42 route=/places/{id}");
    http_response_free(r);
    r = get(f, "/places");
    assert_body(r, "places id=- route=/places");
    http_response_free(r);
    r = get(f, "/");
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "<p>home</p>");
    assert_string_equal(http_response_header(r, "Content-Type"), "text/html; charset=utf-8");
    http_response_free(r);
}

static void backtracking_and_rest(void **state) {
    fixture *f = *state;
    /* "/a/b/c": the literal b leads to a dead end (only /a/b/d), so {x} must match */
    http_response *r = get(f, "/a/b/c");
    assert_body(r, "abc x=b");
    http_response_free(r);
    r = get(f, "/a/b/d");
    assert_body(r, "abd");
    http_response_free(r);
    r = get(f, "/files/a/b%2Fc/d.txt");
    assert_body(r, "rest=a/b/c/d.txt");
    http_response_free(r);
    r = get(f, "/files/");
    assert_int_equal(http_response_status(r), 404);
    http_response_free(r);
}

static void params_are_percent_decoded(void **state) {
    fixture *f = *state;
    http_response *r = get(f, "/places/caf%C3%A9");
    assert_body(r, "place id=caf\xC3\xA9 route=/places/{id}");
    http_response_free(r);
    /* an encoded slash stays inside one parameter */
    r = get(f, "/places/a%2Fb");
    assert_body(r, "place id=a/b route=/places/{id}");
    http_response_free(r);
    r = get(f, "/places/a%20b+c");
    assert_body(r, "place id=a b+c route=/places/{id}"); /* '+' is literal in paths */
    http_response_free(r);
}

static void not_found_and_method_not_allowed(void **state) {
    fixture *f = *state;
    http_response *r = get(f, "/nowhere");
    assert_int_equal(http_response_status(r), 404);
    assert_body_has(r, "<h1>Error 404</h1>");
    assert_body_has(r, "lang=cy"); /* before ran first, so the page is in the language */
    assert_null(before_route_seen);
    http_response_free(r);
    r = get(f, "/places/1/extra");
    assert_int_equal(http_response_status(r), 404);
    http_response_free(r);
    r = get(f, "/places/"); /* trailing slash: an empty segment matches no parameter */
    assert_int_equal(http_response_status(r), 404);
    http_response_free(r);

    http_fake_request fr = {.method = HTTP_DELETE, .path = "/places/7"};
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 405);
    assert_string_equal(http_response_header(r, "Allow"), "GET, HEAD, POST");
    assert_body_has(r, "Error 405");
    http_response_free(r);
    fr.method = HTTP_POST;
    fr.path = "/places";
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 405);
    assert_string_equal(http_response_header(r, "Allow"), "GET, HEAD");
    http_response_free(r);
    /* POST /places/new: the literal route has no POST, the parameter route has */
    fr.path = "/places/new";
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "post id=new route=/places/{id}");
    http_response_free(r);
}

static void head_uses_get_without_body(void **state) {
    fixture *f = *state;
    http_fake_request fr = {.method = HTTP_HEAD, .path = "/places/5"};
    http_response *r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "");
    assert_string_equal(http_response_header(r, "Content-Type"), "text/plain; charset=utf-8");
    http_response_free(r);
}

static void router_match_direct(void **state) {
    fixture *f = *state;
    arena a;
    arena_init(&a, 0);
    char *segs[] = {"places", "9"};
    http_route_match m;
    assert_int_equal(http_router_match(f->router, &a, HTTP_GET, segs, 2, &m), 200);
    assert_ptr_equal(m.handler, h_place);
    assert_string_equal(http_field_list_find(&m.params, "id")->value, "9");
    assert_int_equal(http_router_match(f->router, &a, HTTP_PUT, segs, 2, &m), 405);
    assert_int_equal(m.allowed, HTTP_GET | HTTP_HEAD | HTTP_POST);
    assert_string_equal(http_allow_header(&a, m.allowed), "GET, HEAD, POST");
    char *none[] = {"zzz"};
    assert_int_equal(http_router_match(f->router, &a, HTTP_GET, none, 1, &m), 404);
    arena_free(&a);
}

static void bad_patterns_abort(void **state) {
    (void)state;
    const char *bad[] = {"places", "/a/{x", "/a/{}", "/a/{x...}/b", "/a/b{c}", "/dup"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(STDERR_FILENO);
            http_router *r = http_router_new();
            if (strcmp(bad[i], "/dup") == 0) http_route(r, HTTP_GET, "/dup", h_root);
            http_route(r, HTTP_GET, bad[i], h_root);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)) fail_msg("pattern %s accepted", bad[i]);
    }
    /* two different names for the same position would make http_param ambiguous */
    pid_t pid = fork();
    if (pid == 0) {
        close(STDERR_FILENO);
        http_router *r = http_router_new();
        http_route(r, HTTP_GET, "/p/{id}", h_root);
        http_route(r, HTTP_POST, "/p/{slug}", h_root);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
}

/* ---- malformed input ---- */

static void expect_400(fixture *f, const char *path, const char *words) {
    http_response *r = get(f, path);
    if (http_response_status(r) != 400) {
        fail_msg("%s: status %d, want 400", path, http_response_status(r));
    }
    assert_body_has(r, "Error 400");
    assert_body_has(r, words);
    assert_non_null(http_response_header(r, "Content-Security-Policy"));
    http_response_free(r);
}

static void malformed_paths_and_queries_are_400(void **state) {
    fixture *f = *state;
    expect_400(f, "/places/%zz", "percent-encoding");
    expect_400(f, "/places/%", "percent-encoding");
    expect_400(f, "/places/%4", "percent-encoding");
    expect_400(f, "/places/%FF", "UTF-8");
    expect_400(f, "/places/%C0%AF", "UTF-8");
    expect_400(f, "/places/%00", "UTF-8");
    expect_400(f, "/places/a%0Ab", "UTF-8");
    expect_400(f, "/places/\xff", "UTF-8");
    expect_400(f, "/echo?q=%zz", "percent-encoding");
    expect_400(f, "/echo?q=%FF", "UTF-8");
    expect_400(f, "/echo?%FF=1", "UTF-8");
    expect_400(f, "*", "path");
    expect_400(f, "http://example.org/", "path");
    /* the before hook never sees requests that failed to parse */
    assert_int_equal(before_calls, 0);
    assert_true(error_calls >= 13);
}

static void query_form_and_cookies_reach_handler(void **state) {
    fixture *f = *state;
    const char *headers[] = {"Content-Type",
                             "application/x-www-form-urlencoded",
                             "Cookie",
                             "theme=dark; sid=s3cr3t",
                             "User-Agent",
                             "cmocka",
                             NULL};
    http_fake_request fr = {.method = HTTP_POST,
                            .path = "/echo?a=1&b=two+words",
                            .headers = headers,
                            .body = "name=%3Cscript%3E&ward=Marine"};
    http_response *r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "path=/echo\nq a=1\nq b=two words\nf name=<script>\nf ward=Marine\n"
                   "cookie sid=s3cr3t\nua=cmocka\nuser=alice\n");
    http_response_free(r);

    /* a separate query argument is appended to the path */
    fr = (http_fake_request){.path = "/echo", .query = "x=%C3%A9"};
    r = http_dispatch(&f->cfg, &fr);
    assert_body_has(r, "q x=\xC3\xA9\n");
    http_response_free(r);

    /* multipart with an upload */
    const char *mp_headers[] = {"Content-Type", "multipart/form-data; boundary=b0undary", NULL};
    const char *mp = "--b0undary\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n"
                     "Hello\r\n--b0undary\r\nContent-Disposition: form-data; name=\"doc\"; "
                     "filename=\"minutes.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
                     "%PDF-1.4\r\n--b0undary--\r\n";
    fr = (http_fake_request){
        .method = HTTP_POST, .path = "/echo", .headers = mp_headers, .body = mp};
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    assert_body_has(r, "f title=Hello\nu doc minutes.pdf application/pdf 8\n");
    http_response_free(r);

    /* invalid UTF-8 in a form field */
    fr = (http_fake_request){
        .method = HTTP_POST, .path = "/echo", .headers = headers, .body = "name=%C3"};
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 400);
    assert_body_has(r, "name");
    http_response_free(r);
}

static void caps_give_413(void **state) {
    fixture *f = *state;
    const char *headers[] = {"Content-Type", "application/x-www-form-urlencoded", NULL};
    char *big = malloc(5000);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    memcpy(big, "a=", 2);
    http_fake_request fr = {.method = HTTP_POST, .path = "/echo", .headers = headers, .body = big};
    http_response *r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 413);
    assert_body_has(r, "4096");
    assert_int_equal(before_calls, 0);
    http_response_free(r);
    /* the error page still knows the path it was sent to */
    f->cfg.error = path_error_page;
    fr.path = "/places/caf%C3%A9";
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 413);
    assert_body(r, "413 at /places/caf\xC3\xA9");
    http_response_free(r);
    f->cfg.error = error_page;
    fr.path = "/echo";
    /* a field over max_field_size (256) */
    big[300] = '\0';
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 413);
    assert_body_has(r, "\"a\"");
    http_response_free(r);
    free(big);
    /* query and form share the field budget of 8 */
    fr.path = "/echo?a=1&b=2&c=3&d=4&e=5";
    fr.body = "f=1&g=2&h=3&i=4"; /* 5 + 4 = 9 */
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 413);
    assert_body_has(r, "too many fields");
    http_response_free(r);
    fr.body = "f=1&g=2&h=3"; /* 5 + 3 = 8: allowed */
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    http_response_free(r);
}

/* ---- hooks ---- */

static void before_hook_can_answer(void **state) {
    fixture *f = *state;
    http_response *r = get(f, "/admin");
    assert_int_equal(http_response_status(r), 403);
    assert_body_has(r, "Admins only.");
    assert_string_equal(before_route_seen, "/admin");
    http_response_free(r);
    const char *h[] = {"x-admin", "1", NULL};
    http_fake_request fr = {.path = "/admin", .headers = h};
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    http_response_free(r);
    r = get(f, "/forbid");
    assert_int_equal(http_response_status(r), 403);
    assert_body_has(r, "Officers only.");
    http_response_free(r);
}

static void builtin_error_page_without_hooks(void **state) {
    fixture *f = *state;
    f->cfg.error = NULL;
    f->cfg.before = NULL;
    http_response *r = get(f, "/places/%zz");
    assert_int_equal(http_response_status(r), 400);
    assert_string_equal(http_response_header(r, "Content-Type"), "text/plain; charset=utf-8");
    assert_body_has(r, "400 Bad Request");
    http_response_free(r);
    r = get(f, "/missing");
    assert_int_equal(http_response_status(r), 404);
    assert_body_has(r, "404 Not Found");
    http_response_free(r);
    /* no router at all: everything is 404 */
    f->cfg.router = NULL;
    r = get(f, "/");
    assert_int_equal(http_response_status(r), 404);
    http_response_free(r);
}

/* ---- responses ---- */

static void security_headers_by_default(void **state) {
    fixture *f = *state;
    const char *paths[] = {"/", "/nowhere", "/places/%zz", "/json"};
    for (size_t i = 0; i < 4; i++) {
        http_response *r = get(f, paths[i]);
        const char *csp = http_response_header(r, "Content-Security-Policy");
        assert_non_null(csp);
        assert_non_null(strstr(csp, "default-src 'self'"));
        assert_non_null(strstr(csp, "script-src 'self'"));
        assert_non_null(strstr(csp, "frame-ancestors 'none'"));
        assert_non_null(strstr(csp, "object-src 'none'"));
        assert_null(strstr(csp, "unsafe-inline"));
        assert_string_equal(http_response_header(r, "X-Content-Type-Options"), "nosniff");
        assert_string_equal(http_response_header(r, "Referrer-Policy"), "same-origin");
        assert_string_equal(http_response_header(r, "X-Frame-Options"), "DENY");
        assert_non_null(strstr(http_response_header(r, "Permissions-Policy"), "camera=()"));
        assert_string_equal(http_response_header(r, "Cache-Control"), "no-store");
        assert_null(http_response_header_nth(r, "Cache-Control", 1));
        http_response_free(r);
    }
}

static void handler_replaces_defaults(void **state) {
    fixture *f = *state;
    http_response *r = get(f, "/api");
    assert_string_equal(http_response_header(r, "Access-Control-Allow-Origin"), "*");
    assert_string_equal(http_response_header(r, "Cache-Control"), "public, max-age=60");
    assert_null(http_response_header_nth(r, "Cache-Control", 1));
    assert_null(http_response_header(r, "X-Frame-Options"));
    assert_string_equal(http_response_header(r, "X-Content-Type-Options"), "nosniff");
    /* CR/LF in a value cannot inject a header */
    assert_null(strpbrk(http_response_header(r, "X-Extra"), "\r\n"));
    assert_null(http_response_header(r, "Set-Cookie"));
    assert_string_equal(http_response_header(r, "Content-Type"), "application/json");
    assert_body(r, "null");
    http_response_free(r);
}

static void json_redirect_and_cookies(void **state) {
    fixture *f = *state;
    http_fake_request fr = {.method = HTTP_POST, .path = "/json"};
    http_response *r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 201);
    assert_body(r, "{\"name\":\"<Adur & Worthing>\",\"wards\":27}");
    http_response_free(r);

    r = get(f, "/go?to=/places%0D%0ASet-Cookie:%20x=1");
    assert_int_equal(http_response_status(r), 303);
    assert_string_equal(http_response_header(r, "Location"), "/places  Set-Cookie: x=1");
    assert_null(http_response_header(r, "Set-Cookie"));
    assert_body(r, "");
    http_response_free(r);

    r = get(f, "/cookie");
    assert_string_equal(http_response_header_nth(r, "Set-Cookie", 0),
                        "sid=abc123; Path=/; HttpOnly; SameSite=Lax");
    assert_string_equal(http_response_header_nth(r, "Set-Cookie", 1),
                        "pref=cy; Path=/account; Max-Age=3600; HttpOnly; SameSite=Strict; Secure");
    assert_string_equal(http_response_header_nth(r, "Set-Cookie", 2),
                        "old=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    assert_null(http_response_header_nth(r, "Set-Cookie", 3));
    http_response_free(r);
}

static void h_addr(http_request *req, http_response *resp) {
    http_text(resp, 200, req->remote_addr);
}

static void forwarded_for_only_when_trusted(void **state) {
    fixture *f = *state;
    http_route(f->router, HTTP_GET, "/addr", h_addr);
    const char *h[] = {"X-Forwarded-For", "6.6.6.6, 203.0.113.9", NULL};
    http_fake_request fr = {.path = "/addr", .headers = h, .remote_addr = "10.0.0.2"};
    http_response *r = http_dispatch(&f->cfg, &fr);
    assert_body(r, "10.0.0.2");
    http_response_free(r);
    f->cfg.trust_forwarded = true;
    r = http_dispatch(&f->cfg, &fr);
    assert_body(r, "203.0.113.9");
    http_response_free(r);
    const char *h6[] = {"X-Forwarded-For", "2001:db8::1", NULL};
    fr.headers = h6;
    r = http_dispatch(&f->cfg, &fr);
    assert_body(r, "2001:db8::1");
    http_response_free(r);
    const char *bad[] = {"X-Forwarded-For", "1.2.3.4, <script>", NULL};
    fr.headers = bad;
    r = http_dispatch(&f->cfg, &fr);
    assert_body(r, "10.0.0.2");
    http_response_free(r);
}

static void names_and_reasons(void **state) {
    (void)state;
    assert_string_equal(http_method_name(HTTP_PATCH), "PATCH");
    assert_int_equal(http_method_parse("OPTIONS"), HTTP_OPTIONS);
    assert_int_equal(http_method_parse("get"), 0);
    assert_int_equal(http_method_parse("BREW"), 0);
    assert_string_equal(http_reason(413), "Content Too Large");
    assert_string_equal(http_reason(299), "");
}

/* ---- static files ---- */

static char static_dir[64];

static void write_file(const char *rel, const char *content) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", static_dir, rel);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static void static_files(void **state) {
    fixture *f = *state;
    snprintf(static_dir, sizeof static_dir, "/tmp/cg-http-static-XXXXXX");
    assert_non_null(mkdtemp(static_dir));
    char sub[128];
    snprintf(sub, sizeof sub, "%s/css", static_dir);
    mkdir(sub, 0700);
    write_file("css/app.css", "body{margin:0}");
    write_file("logo.svg", "<svg/>");
    write_file("a.png", "png");
    write_file("f.woff2", "w");
    write_file("favicon.ico", "i");
    write_file("app.js", "1");
    write_file(".env", "SECRET=1");
    f->cfg.static_dir = static_dir;
    f->cfg.static_prefix = "/static/";
    f->cfg.static_max_age = 600;

    http_response *r = get(f, "/static/css/app.css");
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "body{margin:0}");
    assert_string_equal(http_response_header(r, "Content-Type"), "text/css; charset=utf-8");
    assert_string_equal(http_response_header(r, "Cache-Control"), "public, max-age=600");
    assert_string_equal(http_response_header(r, "X-Content-Type-Options"), "nosniff");
    const char *etag = http_response_header(r, "ETag");
    assert_non_null(etag);
    assert_int_equal(etag[0], '"');
    char etag_copy[128], plain_etag[64];
    snprintf(etag_copy, sizeof etag_copy, "W/%s, \"other\"", etag);
    snprintf(plain_etag, sizeof plain_etag, "%s", etag);
    http_response_free(r);
    assert_int_equal(before_calls, 0); /* static files skip the app's hook */

    const char *h[] = {"If-None-Match", etag_copy, NULL};
    http_fake_request fr = {.path = "/static/css/app.css", .headers = h};
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 304);
    assert_body(r, "");
    http_response_free(r);
    const char *h2[] = {"If-None-Match", "\"stale\"", NULL};
    fr.headers = h2;
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    http_response_free(r);

    /* a precompressed sibling goes to clients that accept gzip, and only to them */
    write_file("css/app.css.gz", "GZDATA");
    const char *gz[] = {"Accept-Encoding", "deflate, gzip;q=0.8, br", NULL};
    fr = (http_fake_request){.path = "/static/css/app.css", .headers = gz};
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "GZDATA");
    assert_string_equal(http_response_header(r, "Content-Encoding"), "gzip");
    assert_string_equal(http_response_header(r, "Content-Type"), "text/css; charset=utf-8");
    assert_string_equal(http_response_header(r, "Vary"), "Accept-Encoding");
    assert_string_not_equal(http_response_header(r, "ETag"), plain_etag);
    http_response_free(r);
    const char *nogz[] = {"Accept-Encoding", "gzip;q=0, identity", NULL};
    fr.headers = nogz;
    r = http_dispatch(&f->cfg, &fr);
    assert_body(r, "body{margin:0}");
    assert_null(http_response_header(r, "Content-Encoding"));
    http_response_free(r);
    const char *star[] = {"Accept-Encoding", "*", NULL};
    fr.headers = star;
    r = http_dispatch(&f->cfg, &fr);
    assert_body(r, "GZDATA");
    http_response_free(r);
    fr.headers = NULL;
    r = http_dispatch(&f->cfg, &fr);
    assert_body(r, "body{margin:0}");
    assert_string_equal(http_response_header(r, "Vary"), "Accept-Encoding");
    http_response_free(r);

    const char *types[][2] = {{"/static/logo.svg", "image/svg+xml"},
                              {"/static/a.png", "image/png"},
                              {"/static/f.woff2", "font/woff2"},
                              {"/static/favicon.ico", "image/x-icon"},
                              {"/static/app.js", "text/javascript; charset=utf-8"}};
    for (size_t i = 0; i < 5; i++) {
        r = get(f, types[i][0]);
        assert_int_equal(http_response_status(r), 200);
        assert_string_equal(http_response_header(r, "Content-Type"), types[i][1]);
        http_response_free(r);
    }

    /* traversal, hidden files, encoded slashes, directories, missing files */
    const char *bad[] = {"/static/../test_dispatch.c",
                         "/static/%2e%2e/etc/passwd",
                         "/static/css/..%2Fapp.css",
                         "/static/.env",
                         "/static/css%2Fapp.css",
                         "/static/css",
                         "/static/css/",
                         "/static/missing.css",
                         "/static/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = get(f, bad[i]);
        if (http_response_status(r) != 404) {
            fail_msg("%s: status %d", bad[i], http_response_status(r));
        }
        assert_string_equal(http_response_header(r, "Cache-Control"), "no-store");
        http_response_free(r);
    }
    fr = (http_fake_request){.method = HTTP_POST, .path = "/static/app.js"};
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 405);
    assert_string_equal(http_response_header(r, "Allow"), "GET, HEAD");
    http_response_free(r);
    fr.method = HTTP_HEAD;
    r = http_dispatch(&f->cfg, &fr);
    assert_int_equal(http_response_status(r), 200);
    assert_body(r, "");
    http_response_free(r);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", static_dir);
    assert_int_equal(system(cmd), 0);
}

/* Random request targets: every answer is one of the expected statuses and carries
 * the security headers; nothing crashes (ASan/UBSan watch). Deterministic seed. */
static void random_targets_never_crash(void **state) {
    fixture *f = *state;
    static const char *pieces[] = {"/",      "places", "new",  "%",    "%2",     "%2F",   "%zz",
                                   "%C3%A9", "%FF",    "%00",  "?",    "&",      "=",     "a",
                                   "..",     ".",      "\xc3", "\xa9", "static", "files", "echo",
                                   "q=%",    "#",      "+",    "{id}"};
    uint64_t x = 88172645463325252ULL;
    int seen[600] = {0};
    for (int iter = 0; iter < 5000; iter++) {
        char target[256] = "/";
        int n = 1 + (int)(x % 8);
        for (int k = 0; k < n; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            strcat(target, pieces[x % (sizeof pieces / sizeof pieces[0])]);
        }
        int methods[] = {HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_DELETE};
        http_fake_request fr = {.method = methods[x % 4], .path = target};
        http_response *r = http_dispatch(&f->cfg, &fr);
        int st = http_response_status(r);
        if (st != 200 && st != 400 && st != 403 && st != 404 && st != 405 && st != 303) {
            fail_msg("%s: status %d", target, st);
        }
        seen[st]++;
        assert_non_null(http_response_header(r, "Content-Security-Policy"));
        assert_non_null(http_response_header(r, "X-Content-Type-Options"));
        http_response_free(r);
    }
    assert_true(seen[200] > 0 && seen[400] > 0 && seen[404] > 0 && seen[405] > 0);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(literal_beats_parameter),
        T(backtracking_and_rest),
        T(params_are_percent_decoded),
        T(not_found_and_method_not_allowed),
        T(head_uses_get_without_body),
        T(router_match_direct),
        T(bad_patterns_abort),
        T(malformed_paths_and_queries_are_400),
        T(query_form_and_cookies_reach_handler),
        T(caps_give_413),
        T(before_hook_can_answer),
        T(builtin_error_page_without_hooks),
        T(security_headers_by_default),
        T(handler_replaces_defaults),
        T(json_redirect_and_cookies),
        T(names_and_reasons),
        T(forwarded_for_only_when_trusted),
        T(static_files),
        T(random_targets_never_crash),
    };
    return cmocka_run_group_tests_name("http/dispatch", tests, NULL, NULL);
}
