/*
 * app: the glue of the web application. It owns what every page shares: the
 * application context (store, templates, configuration), the per-request context (who
 * is signed in, the CSRF token, the language), the `before` hook that fills it and
 * enforces CSRF on every state-changing request, the page renderer (globals + layout),
 * error pages, and the table of routes of every feature.
 *
 * Features (src/account, src/place, ...) register their routes in app_routes() and
 * use app_render(), app_require() and app_ctx_of() instead of touching sessions or the
 * layout themselves.
 */
#ifndef CG_APP_APP_H
#define CG_APP_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "store/store.h"
#include "web/tmpl.h"
#include "web/tv.h"

/* Long-lived application context: one per server process, read-only while serving. */
typedef struct app {
    store *store;
    tmpl_set *tmpl;
    const char *site_name;  /* shown in the header and titles */
    const char *base_url;   /* public base URL, e.g. "https://engage.example.gov.uk" */
    bool secure_cookies;    /* true when base_url is https: cookies get Secure and the
                               __Host- prefix, so a sibling subdomain cannot plant them */
    struct app_limiter *hash_limiter; /* bounds concurrent password hashing; NULL = none */
} app;

/* The cookies the application sets. */
typedef enum { APP_COOKIE_SESSION, APP_COOKIE_CSRF, APP_COOKIE_LANG, APP_COOKIE_FLASH } app_cookie_id;

/* The cookie's name: "cg_session" etc., "__Host-cg_session" with secure cookies. */
const char *app_cookie_name(const app *a, app_cookie_id id);
/* Sets / clears one of the application's cookies with the right attributes (Path=/,
 * HttpOnly, SameSite=Lax, Secure with secure cookies). max_age 0 = session cookie. */
void app_cookie_set(http_request *req, http_response *resp, app_cookie_id id, const char *value,
                    long max_age);
void app_cookie_clear(http_request *req, http_response *resp, app_cookie_id id);

/* Password hashing costs 64 MiB and a third of a second of one core (Argon2id), on a
 * server thread. The limiter lets at most `slots` run at once; a request that cannot
 * get a slot within `wait_ms` gets 503 instead of stalling every thread. */
struct app_limiter *app_limiter_new(unsigned slots, unsigned wait_ms);
void app_limiter_free(struct app_limiter *l);
/* True when a slot was taken (release it with app_limiter_release); NULL l = always. */
bool app_limiter_acquire(struct app_limiter *l);
void app_limiter_release(struct app_limiter *l);

/* Per-request context, in the request arena, reachable as req->user. */
typedef struct app_ctx {
    bool signed_in;
    store_user user;        /* valid when signed_in */
    const char *session_hash; /* hash of the session token (signed in), else NULL */
    const char *csrf;       /* the token forms must echo in field csrf_token */
    const char *lang;       /* "en" or "cy" */
    const char *flash;      /* one-time message to show, or NULL */
} app_ctx;

/* Name of the form field that carries the CSRF token on every POST form. */
#define APP_CSRF_FIELD "csrf_token"

/* The request's context (never NULL after the before hook). */
app_ctx *app_ctx_of(http_request *req);

/* The before hook (http_server_config.before): loads the session from its cookie,
 * chooses the language (cookie, then Accept-Language), makes sure a CSRF token exists,
 * and refuses with 403 any POST/PUT/PATCH/DELETE whose csrf_token field does not match.
 * Returns non-zero when it answered the request itself. */
int app_before(http_request *req, http_response *resp);

/* The error hook (http_server_config.error): renders error.html in the layout. */
void app_error_page(http_request *req, http_response *resp, int status, const char *message);

/* A page context with nothing in it yet: the handler adds the template's own values. */
tv *app_page(http_request *req);
/* Renders template (e.g. "place.html") with ctx inside the layout, with title as the
 * page title (already translated), status as the HTTP status. */
void app_render(http_request *req, http_response *resp, int status, const char *template_name,
                const char *title, tv *ctx);

/* The page where a user changes their password; the only page that needs an account
 * and is open to a user who still holds a one-time password. */
#define APP_PASSWORD_PATH "/account/password"

/* Access control. Returns true when the request may go on. Otherwise it has answered:
 * a visitor who is not signed in is sent to /signin (303, with return_to); a user
 * signed in with a one-time password is sent to APP_PASSWORD_PATH (303); a signed-in
 * user whose role is too low gets 403. */
bool app_require(http_request *req, http_response *resp, store_role min_role);

/* The actor to record in the audit log for this request. */
store_actor app_actor(http_request *req);

/* Sets a one-time message shown on the next page (a short-lived cookie holding a
 * message key from the table in app.c; unknown keys are ignored). */
void app_flash(http_request *req, http_response *resp, const char *key);

/* A return_to value is only honoured when it is a local path ("/..." but not "//"). */
bool app_local_path(const char *s);

/* Formats a time (epoch seconds) as a readable UTC date for lang, into the arena. */
const char *app_date_text(http_request *req, int64_t t);
const char *app_iso_time(http_request *req, int64_t t);

/* Registers every route of every feature on router. */
void app_routes(http_router *router);
/* The template schemas of every page (for tmpl_load). */
extern const tmpl_schema app_template_schemas[];

#endif
