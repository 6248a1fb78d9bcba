/*
 * fixture: the whole web application in-process (h2o style) for feature unit tests:
 * a fresh SQLite store in a temporary directory, the real templates and catalogues,
 * every route, the real before/error hooks, and requests through http_dispatch with a
 * tiny cookie jar. Header-only so that each feature's test program includes it.
 */
#ifndef CG_TESTS_APP_FIXTURE_H
#define CG_TESTS_APP_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "core/buf.h"
#include "web/i18n.h"

typedef struct fixture {
    char dir[64];
    char db[96];
    app app;
    http_router *router;
    http_server_config cfg;
    char cookies[8][256]; /* name=value pairs the "browser" holds */
} fixture;

static inline int fixture_open(fixture *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/cg-fixture-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->db, sizeof f->db, "%s/app.db", f->dir);
    char err[512];
    if (i18n_load("build/locale", err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    f->app.tmpl = tmpl_load("templates", app_template_schemas, err, sizeof err);
    if (!f->app.tmpl) {
        fprintf(stderr, "fixture: templates: %s\n", err);
        return -1;
    }
    if (store_open(f->db, &f->app.store, err, sizeof err) != STORE_OK) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    f->app.site_name = "Test Ground";
    f->router = http_router_new();
    app_routes(f->router);
    f->cfg.router = f->router;
    f->cfg.app = &f->app;
    f->cfg.before = app_before;
    f->cfg.error = app_error_page;
    return 0;
}

static inline void fixture_close(fixture *f) {
    http_router_free(f->router);
    store_close(f->app.store);
    tmpl_free(f->app.tmpl);
    i18n_free();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) fprintf(stderr, "fixture: could not remove %s\n", f->dir);
}

/* Remembers (or forgets, on Max-Age=0) the cookies a response sets. */
static inline void fixture_take_cookies(fixture *f, const http_response *r) {
    const char *sc;
    for (size_t n = 0; (sc = http_response_header_nth(r, "Set-Cookie", n)) != NULL; n++) {
        size_t len = strcspn(sc, ";");
        size_t nl = strcspn(sc, "=");
        int clear = strstr(sc, "Max-Age=0") != NULL;
        int slot = -1;
        for (int i = 0; i < 8; i++) {
            if (f->cookies[i][0] && strncmp(f->cookies[i], sc, nl + 1) == 0) slot = i;
        }
        if (slot < 0)
            for (int i = 0; i < 8 && slot < 0; i++)
                if (!f->cookies[i][0]) slot = i;
        if (slot < 0) continue;
        if (clear) f->cookies[slot][0] = '\0';
        else snprintf(f->cookies[slot], sizeof f->cookies[slot], "%.*s", (int)len, sc);
    }
}

static inline void fixture_forget_cookies(fixture *f) { memset(f->cookies, 0, sizeof f->cookies); }

/* Sends a request with the jar's cookies (plus extra headers, NULL-terminated
 * name/value list) and takes the cookies of the answer. Caller frees the response. */
static inline http_response *fixture_req(fixture *f, int method, const char *path, const char *body,
                                         const char *const *extra) {
    char cookie[2048] = "";
    for (int i = 0; i < 8; i++) {
        if (!f->cookies[i][0]) continue;
        size_t n = strlen(cookie);
        snprintf(cookie + n, sizeof cookie - n, "%s%s", n ? "; " : "", f->cookies[i]);
    }
    const char *headers[16];
    size_t h = 0;
    if (cookie[0]) {
        headers[h++] = "Cookie";
        headers[h++] = cookie;
    }
    if (body) {
        headers[h++] = "Content-Type";
        headers[h++] = "application/x-www-form-urlencoded";
    }
    for (size_t i = 0; extra && extra[i] && h < 14; i++) headers[h++] = extra[i];
    headers[h] = NULL;
    http_fake_request fr = {.method = method, .path = path, .headers = headers, .body = body};
    http_response *r = http_dispatch(&f->cfg, &fr);
    fixture_take_cookies(f, r);
    return r;
}

static inline http_response *fixture_get(fixture *f, const char *path) {
    return fixture_req(f, HTTP_GET, path, NULL, NULL);
}

/* The csrf_token hidden field of a page body, into out[65]; "" when absent. */
static inline const char *fixture_csrf(const http_response *r, char out[65]) {
    size_t len;
    const char *body = http_response_body(r, &len);
    const char *p = body ? strstr(body, "name=\"csrf_token\" value=\"") : NULL;
    out[0] = '\0';
    if (p) snprintf(out, 65, "%.64s", p + strlen("name=\"csrf_token\" value=\""));
    return out;
}

/* GETs form_path for a token, then POSTs body (without the token; it is prepended). */
static inline http_response *fixture_post(fixture *f, const char *form_path, const char *path,
                                          const char *body) {
    http_response *g = fixture_get(f, form_path);
    char tok[65];
    fixture_csrf(g, tok);
    http_response_free(g);
    char full[4096];
    snprintf(full, sizeof full, "csrf_token=%s&%s", tok, body);
    return fixture_req(f, HTTP_POST, path, full, NULL);
}

static inline int body_has(const http_response *r, const char *s) {
    size_t len;
    const char *b = http_response_body(r, &len);
    return b && strstr(b, s) != NULL;
}

#endif
