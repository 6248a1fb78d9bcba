/*
 * app: per-request context, CSRF, language, page rendering and error pages (see
 * app.h). Sessions themselves (tokens, hashing, sign-in) belong to src/account.
 */
#include "app/app.h"

#include <errno.h>
#include <stdlib.h>
#include <semaphore.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

#include "account/account.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/rand.h"
#include "web/escape.h"
#include "web/i18n.h"

#define PAGE_MAX ((size_t)4 << 20)

static const char *const cookie_names[][2] = {
    [APP_COOKIE_SESSION] = {"cg_session", "__Host-cg_session"},
    [APP_COOKIE_CSRF] = {"cg_csrf", "__Host-cg_csrf"},
    [APP_COOKIE_LANG] = {"cg_lang", "__Host-cg_lang"},
    [APP_COOKIE_FLASH] = {"cg_flash", "__Host-cg_flash"},
};

const char *app_cookie_name(const app *a, app_cookie_id id) {
    return cookie_names[id][a && a->secure_cookies ? 1 : 0];
}

void app_cookie_set(http_request *req, http_response *resp, app_cookie_id id, const char *value,
                    long max_age) {
    const app *a = req->app;
    http_cookie_opts o = {.max_age = max_age, .same_site = "Lax", .secure = a->secure_cookies};
    http_cookie_set(resp, app_cookie_name(a, id), value, &o);
}

void app_cookie_clear(http_request *req, http_response *resp, app_cookie_id id) {
    const app *a = req->app;
    if (!a->secure_cookies) {
        http_cookie_clear(resp, app_cookie_name(a, id), NULL);
        return;
    }
    /* A __Host- cookie is only replaced by one with the same Secure, Path=/ shape. */
    http_header_add(resp, "Set-Cookie",
                    arena_sprintf(req->arena, "%s=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax",
                                  app_cookie_name(a, id)));
}

struct app_limiter {
    sem_t sem;
    unsigned wait_ms;
};

struct app_limiter *app_limiter_new(unsigned slots, unsigned wait_ms) {
    struct app_limiter *l = calloc(1, sizeof *l);
    if (!l) abort();
    sem_init(&l->sem, 0, slots ? slots : 1);
    l->wait_ms = wait_ms;
    return l;
}

void app_limiter_free(struct app_limiter *l) {
    if (!l) return;
    sem_destroy(&l->sem);
    free(l);
}

bool app_limiter_acquire(struct app_limiter *l) {
    if (!l) return true;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += l->wait_ms / 1000;
    until.tv_nsec += (long)(l->wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    for (;;) {
        if (sem_timedwait(&l->sem, &until) == 0) return true;
        if (errno != EINTR) return false;
    }
}

void app_limiter_release(struct app_limiter *l) {
    if (l) sem_post(&l->sem);
}

app_ctx *app_ctx_of(http_request *req) {
    if (!req->user) {
        /* Requests rejected before the hook ran (400/413) still render pages. */
        app_ctx *c = arena_calloc(req->arena, 1, sizeof *c);
        c->lang = i18n_negotiate(http_header(req, "Accept-Language"), http_cookie(req, app_cookie_name(req->app, APP_COOKIE_LANG)));
        c->csrf = "";
        req->user = c;
        req->lang = c->lang;
    }
    return req->user;
}

static bool is_hex_token(const char *s) {
    if (!s || strlen(s) != 64) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

/* One-time messages, by the key carried in the flash cookie. */
static const struct {
    const char *key, *text;
} flashes[] = {
    {"signed_in", N_("You are signed in.")},
    {"signed_out", N_("You have signed out.")},
    {"signed_up", N_("Your account has been created and you are signed in.")},
    {"place_saved", N_("The place has been saved.")},
    {"role_changed", N_("The role has been changed.")},
    {"password_changed", N_("Your password has been changed.")},
    {"must_change_password", N_("The password you were given works only once. Choose your own password to go on.")},
};

void app_flash(http_request *req, http_response *resp, const char *key) {
    app_cookie_set(req, resp, APP_COOKIE_FLASH, key, 60);
}

int app_before(http_request *req, http_response *resp) {
    app *a = req->app;
    app_ctx *c = arena_calloc(req->arena, 1, sizeof *c);
    req->user = c;
    c->lang = i18n_negotiate(http_header(req, "Accept-Language"), http_cookie(req, app_cookie_name(req->app, APP_COOKIE_LANG)));
    req->lang = c->lang;

    account_session_load(a, req, resp, c);
    if (!c->signed_in) {
        /* Visitors who are not signed in get a stateless double-submit token: the
         * cookie and the form field must agree. Nothing is written to the database
         * for a page view. */
        const char *tok = http_cookie(req, app_cookie_name(a, APP_COOKIE_CSRF));
        if (is_hex_token(tok)) {
            c->csrf = tok;
        } else {
            char *fresh = arena_alloc(req->arena, 65);
            rand_hex(fresh, 32);
            c->csrf = fresh;
            app_cookie_set(req, resp, APP_COOKIE_CSRF, fresh, 0);
        }
    }

    const char *fk = http_cookie(req, app_cookie_name(a, APP_COOKIE_FLASH));
    if (fk) {
        for (size_t i = 0; i < sizeof flashes / sizeof flashes[0]; i++)
            if (strcmp(fk, flashes[i].key) == 0) c->flash = T(c->lang, flashes[i].text);
        app_cookie_clear(req, resp, APP_COOKIE_FLASH);
    }

    /* No route matched: the server answers 404/405, which change nothing. */
    if (req->route && (req->method & (HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE))) {
        const char *sent = http_form(req, APP_CSRF_FIELD);
        if (!sent) sent = http_header(req, "X-CSRF-Token");
        size_t n = strlen(c->csrf);
        if (!sent || n == 0 || strlen(sent) != n || sodium_memcmp(sent, c->csrf, n) != 0) {
            log_info("csrf: refused %s %s from %s", req->method_name, req->path, req->remote_addr);
            http_error(req, resp, 403,
                       T(c->lang, "This form has expired or did not come from this site. "
                                  "Go back, reload the page and try again."));
            return 1;
        }
    }
    return 0;
}

bool app_local_path(const char *s) {
    return s && s[0] == '/' && s[1] != '/' && s[1] != '\\' && !strpbrk(s, "\r\n");
}

store_actor app_actor(http_request *req) {
    app_ctx *c = app_ctx_of(req);
    store_actor actor = {.user_id = c->signed_in ? c->user.id : 0, .ip = req->remote_addr};
    return actor;
}

bool app_require(http_request *req, http_response *resp, store_role min_role) {
    app_ctx *c = app_ctx_of(req);
    if (!c->signed_in) {
        buf b;
        buf_init(&b, 8192);
        buf_puts(&b, "/signin?return_to=");
        url_encode(&b, req->path);
        http_redirect(resp, 303, arena_strdup(req->arena, buf_cstr(&b)));
        buf_free(&b);
        return false;
    }
    /* Signed in with a one-time password (from `init` or `user add`): every page that
     * needs an account leads to the password change until the user has chosen their
     * own, so the printed password opens nothing else. */
    if (c->user.must_change_password && strcmp(req->path, APP_PASSWORD_PATH) != 0) {
        app_flash(req, resp, "must_change_password");
        http_redirect(resp, 303, APP_PASSWORD_PATH);
        return false;
    }
    if (c->user.role < min_role) {
        http_error(req, resp, 403, T(c->lang, "Your account does not have permission to see this page."));
        return false;
    }
    return true;
}

static const char *const months[] = {N_("January"), N_("February"), N_("March"),
                                     N_("April"),   N_("May"),      N_("June"),
                                     N_("July"),    N_("August"),   N_("September"),
                                     N_("October"), N_("November"), N_("December")};

const char *app_date_text(http_request *req, int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    return arena_sprintf(req->arena, "%d %s %d", tm.tm_mday, T(app_ctx_of(req)->lang, months[tm.tm_mon]),
                         tm.tm_year + 1900);
}

const char *app_iso_time(http_request *req, int64_t t) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char s[32];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return arena_strdup(req->arena, s);
}

tv *app_page(http_request *req) { return tv_map(req->arena); }

static void add_globals(http_request *req, tv *ctx, const char *title) {
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    tv *site = tv_set_map(ctx, "site");
    tv_set_str(site, "name", a->site_name);
    if (title) tv_set_str(ctx, "page_title", title);
    tv_set_str(ctx, "lang", c->lang);
    tv_set_str(ctx, "csrf", c->csrf);
    tv_set_str(ctx, "path", req->path);
    if (c->flash) tv_set_str(ctx, "flash", c->flash);
    tv *alt = tv_set_map(ctx, "lang_alt");
    if (strcmp(c->lang, "cy") == 0) {
        tv_set_str(alt, "code", "en");
        tv_set_str(alt, "label", "English");
    } else {
        tv_set_str(alt, "code", "cy");
        tv_set_str(alt, "label", "Cymraeg");
    }
    if (c->signed_in) {
        tv *u = tv_set_map(ctx, "user");
        tv_set_str(u, "name", c->user.display_name);
        tv_set_str(u, "role", store_role_name(c->user.role));
        tv_set_bool(u, "is_admin", c->user.role >= STORE_ROLE_ADMIN);
        tv_set_bool(u, "is_officer", c->user.role >= STORE_ROLE_OFFICER);
        tv_set_bool(u, "must_change_password", c->user.must_change_password);
    }
}

void app_render(http_request *req, http_response *resp, int status, const char *template_name,
                const char *title, tv *ctx) {
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    if (!ctx) ctx = app_page(req);
    add_globals(req, ctx, title);
    buf body;
    buf_init(&body, PAGE_MAX);
    int rc = tmpl_render(a->tmpl, template_name, ctx, c->lang, &body);
    if (rc == TMPL_OK) {
        tv_set_html(ctx, "content", buf_cstr(&body));
        buf page;
        buf_init(&page, PAGE_MAX);
        rc = tmpl_render(a->tmpl, "layout.html", ctx, c->lang, &page);
        if (rc == TMPL_OK) {
            http_html_buf(resp, status, &page);
            http_header_set(resp, "Content-Language", c->lang);
            http_header_set(resp, "Vary", "Accept-Language, Cookie");
        }
        buf_free(&page);
    }
    buf_free(&body);
    if (rc != TMPL_OK) {
        log_error("render %s failed (%d)", template_name, rc);
        http_text(resp, 500, "Internal error rendering the page.");
    }
}

void app_error_page(http_request *req, http_response *resp, int status, const char *message) {
    app_ctx *c = app_ctx_of(req);
    const char *heading;
    switch (status) {
    case 400: heading = T(c->lang, "There is a problem with the request"); break;
    case 403: heading = T(c->lang, "You cannot do that"); break;
    case 404: heading = T(c->lang, "Page not found"); break;
    case 405: heading = T(c->lang, "That action is not possible here"); break;
    case 413: heading = T(c->lang, "Too much was sent"); break;
    case 409: heading = T(c->lang, "That cannot be done"); break;
    case 429: heading = T(c->lang, "Too many attempts"); break;
    case 503: heading = T(c->lang, "The service is busy"); break;
    default: heading = T(c->lang, "Sorry, there is a problem with the service"); break;
    }
    if (!message || !*message) {
        switch (status) {
        case 404: message = T(c->lang, "If you typed the web address, check it is correct."); break;
        case 413: message = T(c->lang, "The form or file you sent is larger than this service accepts."); break;
        case 500: message = T(c->lang, "Try again later."); break;
        default: message = ""; break;
        }
    }
    tv *ctx = app_page(req);
    tv_set_str(ctx, "heading", heading);
    tv_set_str(ctx, "message", message);
    app_render(req, resp, status, "error.html", heading, ctx);
}
