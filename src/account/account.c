/*
 * account: passwords, sessions and the account pages (see account.h).
 */
#include "account/account.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/parse.h"
#include "core/rand.h"
#include "core/utf8.h"
#include "web/i18n.h"

#define SESSION_SECONDS (14 * 24 * 3600)
/* Sign-in attempts allowed in the window: for one account from one address (the
 * guessing limit), for one account from anywhere (so a botnet cannot guess freely, set
 * high enough that one attacker cannot lock the owner out), and from one address. */
#define SIGNIN_WINDOW 900
#define SIGNIN_MAX_PER_ACCOUNT_ADDRESS 10
#define SIGNIN_MAX_PER_ACCOUNT 100
#define SIGNIN_MAX_PER_ADDRESS 100
/* New accounts per address per hour. */
#define SIGNUP_WINDOW 3600
#define SIGNUP_MAX_PER_ADDRESS 20
#define PER_PAGE 50

/* ---- Passwords ---------------------------------------------------------------- */

int account_password_hash(const char *password, char out[ACCOUNT_HASH_MAX]) {
    _Static_assert(crypto_pwhash_STRBYTES <= ACCOUNT_HASH_MAX, "hash buffer");
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return -1;
    return 0;
}

bool account_password_verify(const char *hash, const char *password) {
    if (!hash || !*hash) return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

const char *account_password_problem(const char *password) {
    if (!password || !*password) return N_("Enter a password");
    size_t n = utf8_length(password, strlen(password));
    if (n < 10) return N_("Password must be 10 characters or more");
    if (strlen(password) > 1024) return N_("Password must be 1,024 characters or fewer");
    return NULL;
}

const char *account_email_problem(const char *email) {
    if (!email || !*email) return N_("Enter your email address");
    size_t n = strlen(email);
    if (n > 254) return N_("Email address must be 254 characters or fewer");
    const char *at = strchr(email, '@');
    if (!at || at == email || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
        email[n - 1] == '.' || strpbrk(email, " \t\r\n<>()[],;:\"\\"))
        return N_("Enter an email address in the correct format, like name@example.com");
    return NULL;
}

/* ---- Sessions ----------------------------------------------------------------- */

void account_token_hash(const char *token, char out[65]) {
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, 65, h, sizeof h);
}

static bool hex64(const char *s) {
    if (!s || strlen(s) != 64) return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

void account_session_load(app *a, http_request *req, http_response *resp, app_ctx *ctx) {
    const char *tok = http_cookie(req, app_cookie_name(a, APP_COOKIE_SESSION));
    if (!hex64(tok)) return;
    char *hash = arena_alloc(req->arena, 65);
    account_token_hash(tok, hash);
    int64_t now = (int64_t)time(NULL);
    store_session s;
    if (store_session_get(a->store, hash, now, req->arena, &s) != STORE_OK) return;
    if (s.user_id == 0) return;
    if (store_user_by_id(a->store, s.user_id, req->arena, &ctx->user) != STORE_OK) return;
    ctx->signed_in = true;
    ctx->session_hash = hash;
    ctx->csrf = s.csrf_token;
    /* Sliding expiry, written at most once a week per session; the browser's copy is
     * renewed with it, so one policy holds on both sides. */
    if (s.expires_at - now < SESSION_SECONDS / 2 &&
        store_session_extend(a->store, hash, now + SESSION_SECONDS) == STORE_OK)
        app_cookie_set(req, resp, APP_COOKIE_SESSION, tok, SESSION_SECONDS);
}

/* Starts a signed-in session for user_id and sets its cookie. Returns 0 or -1. */
static int start_session(http_request *req, http_response *resp, int64_t user_id) {
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    char token[65], hash[65], csrf[65];
    rand_hex(token, 32);
    rand_hex(csrf, 32);
    account_token_hash(token, hash);
    store_actor actor = {.user_id = user_id, .ip = req->remote_addr};
    int64_t now = (int64_t)time(NULL);
    if (store_session_create(a->store, &actor, hash, user_id, csrf, c->lang,
                             now + SESSION_SECONDS) != STORE_OK)
        return -1;
    app_cookie_set(req, resp, APP_COOKIE_SESSION, token, SESSION_SECONDS);
    app_cookie_clear(req, resp, APP_COOKIE_CSRF);
    return 0;
}

/* Answers 503 when password hashing is saturated (see app_limiter_acquire). */
static void busy(http_request *req, http_response *resp) {
    http_header_set(resp, "Retry-After", "2");
    http_error(req, resp, 503,
               T(app_ctx_of(req)->lang, "The service is busy. Wait a moment, then try again."));
}

/* ---- Form helpers ------------------------------------------------------------- */

typedef struct form_errors {
    tv *list; /* for the error summary */
    tv *by_field;
    int n;
} form_errors;

static void errors_init(http_request *req, tv *ctx, form_errors *e) {
    e->list = tv_set_list(ctx, "errors");
    e->by_field = tv_set_map(ctx, "err");
    e->n = 0;
    (void)req;
}

static void error_add(http_request *req, form_errors *e, const char *field, const char *msgid) {
    const char *msg = T(app_ctx_of(req)->lang, msgid);
    if (tv_get(e->by_field, field)) return; /* first problem per field */
    tv *item = tv_push_map(e->list);
    tv_set_str(item, "field", field);
    tv_set_str(item, "message", msg);
    tv_set_str(e->by_field, field, msg);
    e->n++;
}

static const char *form_trimmed(http_request *req, const char *name) {
    const char *v = http_form(req, name);
    if (!v) return "";
    char *copy = arena_strdup(req->arena, v);
    return str_trim(copy);
}

static const char *return_to_of(http_request *req) {
    const char *r = http_form(req, "return_to");
    if (!r) r = http_query(req, "return_to");
    return app_local_path(r) ? r : NULL;
}

/* ---- Sign in ------------------------------------------------------------------ */

static void signin_page(http_request *req, http_response *resp, int status, tv *ctx) {
    const char *lang = app_ctx_of(req)->lang;
    const char *rt = return_to_of(req);
    tv_set_str(ctx, "return_to", rt ? rt : "");
    app_render(req, resp, status, "signin.html", T(lang, "Sign in"), ctx);
}

static void get_signin(http_request *req, http_response *resp) {
    if (app_ctx_of(req)->signed_in) {
        http_redirect(resp, 303, "/account");
        return;
    }
    signin_page(req, resp, 200, app_page(req));
}

static void post_signin(http_request *req, http_response *resp) {
    app *a = req->app;
    tv *ctx = app_page(req);
    form_errors e;
    errors_init(req, ctx, &e);
    const char *email = form_trimmed(req, "email");
    const char *password = http_form(req, "password");
    if (!password) password = "";
    tv *form = tv_set_map(ctx, "form");
    tv_set_str(form, "email", email);
    if (!*email) error_add(req, &e, "email", N_("Enter your email address"));
    if (!*password) error_add(req, &e, "password", N_("Enter your password"));
    if (e.n) {
        signin_page(req, resp, 400, ctx);
        return;
    }

    int64_t now = (int64_t)time(NULL);
    char lowered[300];
    snprintf(lowered, sizeof lowered, "%s", email);
    for (char *p = lowered; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    char key_acct_ip[480], key_acct[340], key_ip[128];
    snprintf(key_acct_ip, sizeof key_acct_ip, "signin:acct-ip:%s:%s", lowered, req->remote_addr);
    snprintf(key_acct, sizeof key_acct, "signin:acct:%s", lowered);
    snprintf(key_ip, sizeof key_ip, "signin:ip:%s", req->remote_addr);
    int n_acct_ip = 0, n_acct = 0, n_ip = 0;
    if (store_ratelimit_hit(a->store, key_acct_ip, now, SIGNIN_WINDOW, &n_acct_ip) != STORE_OK ||
        store_ratelimit_hit(a->store, key_acct, now, SIGNIN_WINDOW, &n_acct) != STORE_OK ||
        store_ratelimit_hit(a->store, key_ip, now, SIGNIN_WINDOW, &n_ip) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    if (n_acct_ip > SIGNIN_MAX_PER_ACCOUNT_ADDRESS || n_acct > SIGNIN_MAX_PER_ACCOUNT ||
        n_ip > SIGNIN_MAX_PER_ADDRESS) {
        log_warn("signin: rate limit for %s from %s", lowered, req->remote_addr);
        http_header_set(resp, "Retry-After", "900");
        error_add(req, &e, "email",
                  N_("Too many attempts to sign in. Wait 15 minutes, then try again."));
        signin_page(req, resp, 429, ctx);
        return;
    }

    store_user u;
    int rc = store_user_by_email(a->store, lowered, req->arena, &u);
    bool ok;
    if (!app_limiter_acquire(a->hash_limiter)) {
        busy(req, resp);
        return;
    }
    if (rc == STORE_OK) {
        ok = account_password_verify(u.password_hash, password);
    } else {
        /* Spend the same effort for an unknown address, so timing does not reveal
         * which addresses have accounts. */
        char dummy[ACCOUNT_HASH_MAX];
        account_password_hash(password, dummy);
        ok = false;
    }
    app_limiter_release(a->hash_limiter);
    if (!ok) {
        error_add(req, &e, "email", N_("Enter a correct email address and password"));
        signin_page(req, resp, 401, ctx);
        return;
    }
    store_ratelimit_clear(a->store, key_acct_ip);
    if (start_session(req, resp, u.id) != 0) {
        http_error(req, resp, 500, NULL);
        return;
    }
    const char *rt = return_to_of(req);
    if (u.must_change_password) {
        /* A one-time password: nothing else until the user has chosen their own. */
        app_flash(req, resp, "must_change_password");
        http_redirect(resp, 303, APP_PASSWORD_PATH);
        return;
    }
    app_flash(req, resp, "signed_in");
    http_redirect(resp, 303, rt ? rt : "/account");
}

/* ---- Sign up ------------------------------------------------------------------ */

static void get_signup(http_request *req, http_response *resp) {
    if (app_ctx_of(req)->signed_in) {
        http_redirect(resp, 303, "/account");
        return;
    }
    app_render(req, resp, 200, "signup.html", T(app_ctx_of(req)->lang, "Create an account"),
               app_page(req));
}

static void post_signup(http_request *req, http_response *resp) {
    app *a = req->app;
    const char *lang = app_ctx_of(req)->lang;
    tv *ctx = app_page(req);
    form_errors e;
    errors_init(req, ctx, &e);
    const char *name = form_trimmed(req, "display_name");
    const char *email = form_trimmed(req, "email");
    const char *password = http_form(req, "password");
    tv *form = tv_set_map(ctx, "form");
    tv_set_str(form, "display_name", name);
    tv_set_str(form, "email", email);

    /* Every attempt counts, valid or not, so the limit also bounds the work done. */
    char key_ip[128];
    snprintf(key_ip, sizeof key_ip, "signup:ip:%s", req->remote_addr);
    int n_ip = 0;
    if (store_ratelimit_hit(a->store, key_ip, (int64_t)time(NULL), SIGNUP_WINDOW, &n_ip) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    if (n_ip > SIGNUP_MAX_PER_ADDRESS) {
        log_warn("signup: rate limit for %s", req->remote_addr);
        http_header_set(resp, "Retry-After", "3600");
        http_error(req, resp, 429, T(lang, "Too many attempts to create an account from your network. Try again in an hour."));
        return;
    }
    if (!*name) error_add(req, &e, "display_name", N_("Enter your name"));
    else if (utf8_length(name, strlen(name)) > 100)
        error_add(req, &e, "display_name", N_("Name must be 100 characters or fewer"));
    else if (!utf8_valid_text(name, strlen(name)) || strpbrk(name, "\t\r\n"))
        error_add(req, &e, "display_name", N_("Name must not contain control characters"));
    const char *ep = account_email_problem(email);
    if (ep) error_add(req, &e, "email", ep);
    const char *pp = account_password_problem(password);
    if (pp) error_add(req, &e, "password", pp);
    if (e.n) {
        app_render(req, resp, 400, "signup.html", T(lang, "Create an account"), ctx);
        return;
    }
    char hash[ACCOUNT_HASH_MAX];
    if (!app_limiter_acquire(a->hash_limiter)) {
        busy(req, resp);
        return;
    }
    int hrc = account_password_hash(password, hash);
    app_limiter_release(a->hash_limiter);
    if (hrc != 0) {
        http_error(req, resp, 500, NULL);
        return;
    }
    store_actor actor = app_actor(req);
    store_user u;
    int rc = store_user_create(a->store, &actor, email, name, hash, STORE_ROLE_RESIDENT,
                               req->arena, &u);
    if (rc == STORE_CONFLICT) {
        error_add(req, &e, "email", N_("An account with this email address already exists. Sign in instead."));
        app_render(req, resp, 409, "signup.html", T(lang, "Create an account"), ctx);
        return;
    }
    if (rc != STORE_OK || start_session(req, resp, u.id) != 0) {
        http_error(req, resp, 500, NULL);
        return;
    }
    app_flash(req, resp, "signed_up");
    http_redirect(resp, 303, "/account");
}

/* ---- Sign out, account, language ------------------------------------------------ */

static void post_signout(http_request *req, http_response *resp) {
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    if (c->signed_in) {
        store_actor actor = app_actor(req);
        store_session_delete(a->store, &actor, c->session_hash);
    }
    app_cookie_clear(req, resp, APP_COOKIE_SESSION);
    app_flash(req, resp, "signed_out");
    http_redirect(resp, 303, "/");
}

static void get_account(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_RESIDENT)) return;
    app_ctx *c = app_ctx_of(req);
    tv *ctx = app_page(req);
    tv *acct = tv_set_map(ctx, "account");
    tv_set_str(acct, "name", c->user.display_name);
    tv_set_str(acct, "email", c->user.email);
    tv_set_str(acct, "role_label", T(c->lang, account_role_label(c->user.role)));
    tv_set_str(acct, "created_text", app_date_text(req, c->user.created_at));
    app_render(req, resp, 200, "account.html", T(c->lang, "Your account"), ctx);
}

static void password_page(http_request *req, http_response *resp, int status, tv *ctx) {
    app_render(req, resp, status, "password.html", T(app_ctx_of(req)->lang, "Change your password"), ctx);
}

static void get_password(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_RESIDENT)) return;
    password_page(req, resp, 200, app_page(req));
}

/* Changing the password ends every other session of the account (a stolen session
 * stops working) and starts a fresh one here. */
static void post_password(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_RESIDENT)) return;
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    tv *ctx = app_page(req);
    form_errors e;
    errors_init(req, ctx, &e);
    const char *current = http_form(req, "current");
    const char *password = http_form(req, "password");
    if (!app_limiter_acquire(a->hash_limiter)) {
        busy(req, resp);
        return;
    }
    if (!current || !*current) error_add(req, &e, "current", N_("Enter your current password"));
    else if (!account_password_verify(c->user.password_hash, current))
        error_add(req, &e, "current", N_("Your current password is not correct"));
    app_limiter_release(a->hash_limiter);
    const char *pp = account_password_problem(password);
    if (pp) error_add(req, &e, "password", pp);
    if (e.n) {
        password_page(req, resp, 400, ctx);
        return;
    }
    char hash[ACCOUNT_HASH_MAX];
    store_actor actor = app_actor(req);
    if (!app_limiter_acquire(a->hash_limiter)) {
        busy(req, resp);
        return;
    }
    int hrc = account_password_hash(password, hash);
    app_limiter_release(a->hash_limiter);
    if (hrc != 0 ||
        store_user_set_password(a->store, &actor, c->user.id, hash) != STORE_OK ||
        store_session_delete_for_user(a->store, &actor, c->user.id) != STORE_OK ||
        start_session(req, resp, c->user.id) != 0) {
        http_error(req, resp, 500, NULL);
        return;
    }
    app_flash(req, resp, "password_changed");
    http_redirect(resp, 303, "/account");
}

static void post_lang(http_request *req, http_response *resp) {
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    const char *want = http_form(req, "lang");
    const char *lang = want ? i18n_supported(want) : NULL;
    if (!lang) {
        http_error(req, resp, 400, T(c->lang, "The language asked for is not available."));
        return;
    }
    app_cookie_set(req, resp, APP_COOKIE_LANG, lang, 365L * 24 * 3600);
    if (c->signed_in) store_session_set_lang(a->store, c->session_hash, lang);
    const char *rt = return_to_of(req);
    http_redirect(resp, 303, rt ? rt : "/");
}

/* ---- Admin: users, roles, audit log ----------------------------------------------- */

const char *account_role_label(store_role role) {
    switch (role) {
    case STORE_ROLE_RESIDENT: return N_("Resident");
    case STORE_ROLE_ORGANISER: return N_("Community organiser");
    case STORE_ROLE_OFFICER: return N_("Council officer");
    case STORE_ROLE_ADMIN: return N_("Administrator");
    }
    return N_("Resident");
}

/* Page number from ?page=N (1-based), 1 when absent. When malformed it answers 400
 * naming the parameter and returns -1. */
static int64_t page_of(http_request *req, http_response *resp) {
    const char *p = http_query(req, "page");
    if (!p) return 1;
    int64_t n;
    if (parse_i64(p, &n) != 0 || n < 1 || n > 1000000) {
        http_error(req, resp, 400, T(app_ctx_of(req)->lang, "The page number must be a whole number from 1."));
        return -1;
    }
    return n;
}

static void add_pager(http_request *req, tv *ctx, const char *base, int64_t page, int64_t total) {
    int64_t pages = (total + PER_PAGE - 1) / PER_PAGE;
    if (pages <= 1) return;
    tv *pager = tv_set_map(ctx, "pager");
    if (page > 1) tv_set_str(pager, "prev", arena_sprintf(req->arena, "%s?page=%lld", base, (long long)(page - 1)));
    if (page < pages) tv_set_str(pager, "next", arena_sprintf(req->arena, "%s?page=%lld", base, (long long)(page + 1)));
}

static void get_admin_users(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ADMIN)) return;
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    int64_t page = page_of(req, resp);
    if (page < 0) return;
    store_user_list list;
    if (store_user_list_page(a->store, (page - 1) * PER_PAGE, PER_PAGE, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *ctx = app_page(req);
    tv_set_int(ctx, "total", list.total);
    tv *users = tv_set_list(ctx, "users");
    for (size_t i = 0; i < list.n; i++) {
        const store_user *u = &list.items[i];
        tv *row = tv_push_map(users);
        tv_set_str(row, "uuid", u->uuid);
        tv_set_str(row, "name", u->display_name);
        tv_set_str(row, "email", u->email);
        tv *roles = tv_set_list(row, "roles");
        for (int r = STORE_ROLE_RESIDENT; r <= STORE_ROLE_ADMIN; r++) {
            tv *opt = tv_push_map(roles);
            tv_set_str(opt, "value", store_role_name((store_role)r));
            tv_set_str(opt, "label", T(c->lang, account_role_label((store_role)r)));
            tv_set_bool(opt, "selected", (int)u->role == r);
        }
    }
    add_pager(req, ctx, "/admin/users", page, list.total);
    app_render(req, resp, 200, "admin_users.html", T(c->lang, "Users"), ctx);
}

static void post_admin_role(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ADMIN)) return;
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    const char *id = http_param(req, "id");
    store_user u;
    if (!uuid_valid(id) || store_user_by_uuid(a->store, id, req->arena, &u) != STORE_OK) {
        http_error(req, resp, 404, T(c->lang, "There is no such user."));
        return;
    }
    const char *rname = http_form(req, "role");
    store_role role;
    if (!rname || store_role_parse(rname, &role) != 0) {
        http_error(req, resp, 400, T(c->lang, "Field role: choose resident, organiser, officer or admin."));
        return;
    }
    if (u.id == c->user.id && role != u.role) {
        http_error(req, resp, 400, T(c->lang, "You cannot change your own role. Ask another administrator."));
        return;
    }
    store_actor actor = app_actor(req);
    int rc = store_user_set_role(a->store, &actor, u.id, role);
    if (rc == STORE_CONFLICT) {
        http_error(req, resp, 409, T(c->lang, "This is the last administrator. Make someone else an administrator first."));
        return;
    }
    if (rc == STORE_INVALID) {
        http_error(req, resp, 403, T(c->lang, "Your account does not have permission to see this page."));
        return;
    }
    if (rc != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    app_flash(req, resp, "role_changed");
    http_redirect(resp, 303, "/admin/users");
}

static void get_admin_audit(http_request *req, http_response *resp) {
    if (!app_require(req, resp, STORE_ROLE_ADMIN)) return;
    app *a = req->app;
    app_ctx *c = app_ctx_of(req);
    int64_t page = page_of(req, resp);
    if (page < 0) return;
    store_audit_list list;
    if (store_audit_list_page(a->store, (page - 1) * PER_PAGE, PER_PAGE, req->arena, &list) != STORE_OK) {
        http_error(req, resp, 500, NULL);
        return;
    }
    tv *ctx = app_page(req);
    tv *entries = tv_set_list(ctx, "entries");
    for (size_t i = 0; i < list.n; i++) {
        const store_audit_entry *en = &list.items[i];
        tv *row = tv_push_map(entries);
        tv_set_str(row, "iso", app_iso_time(req, en->at));
        tv_set_str(row, "when", arena_sprintf(req->arena, "%s %s", app_date_text(req, en->at),
                                              app_iso_time(req, en->at) + 11));
        tv_set_str(row, "who", en->actor_name ? en->actor_name : T(c->lang, "System"));
        tv_set_str(row, "action", en->action);
        tv_set_str(row, "entity", en->entity_id ? en->entity_id : "");
        tv_set_str(row, "detail", en->detail);
    }
    add_pager(req, ctx, "/admin/audit", page, list.total);
    app_render(req, resp, 200, "admin_audit.html", T(c->lang, "Audit log"), ctx);
}

void account_routes(http_router *router) {
    http_route(router, HTTP_GET, "/signin", get_signin);
    http_route(router, HTTP_POST, "/signin", post_signin);
    http_route(router, HTTP_GET, "/signup", get_signup);
    http_route(router, HTTP_POST, "/signup", post_signup);
    http_route(router, HTTP_POST, "/signout", post_signout);
    http_route(router, HTTP_GET, "/account", get_account);
    http_route(router, HTTP_GET, APP_PASSWORD_PATH, get_password);
    http_route(router, HTTP_POST, APP_PASSWORD_PATH, post_password);
    http_route(router, HTTP_POST, "/lang", post_lang);
    http_route(router, HTTP_GET, "/admin/users", get_admin_users);
    http_route(router, HTTP_POST, "/admin/users/{id}/role", post_admin_role);
    http_route(router, HTTP_GET, "/admin/audit", get_admin_audit);
}
