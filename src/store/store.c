/*
 * store: the backend-independent half of the store contract (see store.h).
 *
 * This file chooses a backend from the URL, and checks and normalises every argument
 * before a backend sees it, so that the rules (valid UTF-8 text, lowercased emails,
 * non-empty names, known roles) are the same whichever database is behind the store.
 * The backends (backend.h) then only translate each call into one transaction.
 */
#include "store/store.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/utf8.h"
#include "core/xalloc.h"
#include "store/backend.h"
#include "store/postgres.h"

struct store {
    const store_ops *ops;
    void *impl;
};

/* Longest email we accept; RFC 5321 limits a path to 256 octets. */
#define EMAIL_MAX 254

static const store_actor system_actor = {0, NULL};

static const store_actor *actor_or_system(const store_actor *actor) {
    return actor ? actor : &system_actor;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int has_prefix(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Text the contract accepts: valid UTF-8, no NUL, no control characters but tab/CR/LF. */
static int text_ok(const char *s) { return s && utf8_valid_text(s, strlen(s)); }

/* Non-empty after the contract's text rule, and not only white space. */
static int name_ok(const char *s) {
    if (!text_ok(s)) return 0;
    for (const char *p = s; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') return 1;
    return 0;
}

/* Lowercases ASCII letters of email into out (EMAIL_MAX + 1 bytes); 0, or -1 when the
 * email is not plausible (no '@', too long, bad text). Only ASCII is folded: Unicode
 * case folding of the local part is not something mail servers agree on. */
static int email_normalise(const char *email, char out[EMAIL_MAX + 1]) {
    if (!text_ok(email)) return -1;
    size_t n = strlen(email);
    if (n < 3 || n > EMAIL_MAX) return -1;
    const char *at = strchr(email, '@');
    if (!at || at == email || at[1] == '\0') return -1;
    for (size_t i = 0; i <= n; i++) {
        char c = email[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    return 0;
}

const char *store_strerror(int rc) {
    switch (rc) {
    case STORE_OK: return "ok";
    case STORE_NOT_FOUND: return "not found";
    case STORE_CONFLICT: return "conflict";
    case STORE_INVALID: return "invalid argument";
    case STORE_ERROR: return "database error";
    default: return "unknown store result";
    }
}

/* ---- Lifecycle ------------------------------------------------------------------ */

int store_open(const char *url, store **out, char *err, size_t errlen) {
    set_err(err, errlen, "%s", "");
    if (!url || !*url) {
        set_err(err, errlen, "database: no path or URL given");
        return STORE_ERROR;
    }
    const store_ops *ops = NULL;
    void *impl = NULL;
    int rc;
    if (has_prefix(url, "postgres://") || has_prefix(url, "postgresql://")) {
        rc = store_pg_open(url, &ops, &impl, err, errlen);
    } else {
        const char *path = url;
        if (has_prefix(url, "sqlite:")) path = url + strlen("sqlite:"); /* optional spelling */
        if (strstr(path, "://")) {
            set_err(err, errlen, "database: unsupported URL '%s' (give a file path)", url);
            return STORE_ERROR;
        }
        rc = store_sqlite_open(path, &ops, &impl, err, errlen);
    }
    if (rc != STORE_OK) return rc;
    store *s = xcalloc(1, sizeof *s);
    s->ops = ops;
    s->impl = impl;
    *out = s;
    return STORE_OK;
}

void store_close(store *s) {
    if (!s) return;
    s->ops->close(s->impl);
    free(s);
}

int store_ping(store *s) { return s->ops->ping(s->impl); }

const store_ops *store_backend_ops(store *s) { return s->ops; }
void *store_backend_impl(store *s) { return s->impl; }

int store_backup(store *s, const char *dest_path, char *err, size_t errlen) {
    set_err(err, errlen, "%s", "");
    if (!dest_path || !*dest_path) {
        set_err(err, errlen, "backup: no destination file given");
        return STORE_ERROR;
    }
    return s->ops->backup(s->impl, dest_path, err, errlen);
}

int store_schema_version(store *s, int *version_out) {
    return s->ops->schema_version(s->impl, version_out);
}

/* ---- Users ---------------------------------------------------------------------- */

static const char *const role_names[] = {"resident", "organiser", "officer", "admin"};

const char *store_role_name(store_role role) {
    if ((int)role < 0 || (int)role > (int)STORE_ROLE_ADMIN) return "unknown";
    return role_names[role];
}

int store_role_parse(const char *name, store_role *out) {
    for (int i = 0; name && i <= (int)STORE_ROLE_ADMIN; i++) {
        if (strcmp(name, role_names[i]) == 0) {
            *out = (store_role)i;
            return 0;
        }
    }
    return -1;
}

static int role_ok(store_role role) {
    return (int)role >= 0 && (int)role <= (int)STORE_ROLE_ADMIN;
}

int store_user_create(store *s, const store_actor *actor, const char *email,
                      const char *display_name, const char *password_hash, store_role role,
                      arena *a, store_user *out) {
    char lower[EMAIL_MAX + 1];
    if (email_normalise(email, lower) != 0 || !name_ok(display_name) ||
        !text_ok(password_hash) || !role_ok(role))
        return STORE_INVALID;
    assert(!out || a);
    return s->ops->user_create(s->impl, actor_or_system(actor), lower, display_name,
                               password_hash, role, a, out);
}

int store_user_by_email(store *s, const char *email, arena *a, store_user *out) {
    char lower[EMAIL_MAX + 1];
    if (email_normalise(email, lower) != 0) return STORE_NOT_FOUND;
    return s->ops->user_by_email(s->impl, lower, a, out);
}

int store_user_by_id(store *s, int64_t id, arena *a, store_user *out) {
    if (id <= 0) return STORE_NOT_FOUND;
    return s->ops->user_by_id(s->impl, id, a, out);
}

int store_user_by_uuid(store *s, const char *uuid, arena *a, store_user *out) {
    if (!text_ok(uuid)) return STORE_NOT_FOUND;
    return s->ops->user_by_uuid(s->impl, uuid, a, out);
}

int store_user_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                         store_user_list *out) {
    if (offset < 0 || limit < 0) return STORE_INVALID;
    return s->ops->user_list_page(s->impl, offset, limit, a, out);
}

int store_user_set_role(store *s, const store_actor *actor, int64_t user_id, store_role role) {
    if (!role_ok(role)) return STORE_INVALID;
    if (user_id <= 0) return STORE_NOT_FOUND;
    return s->ops->user_set_role(s->impl, actor_or_system(actor), user_id, role);
}

int store_user_set_password(store *s, const store_actor *actor, int64_t user_id,
                            const char *password_hash) {
    if (!text_ok(password_hash)) return STORE_INVALID;
    if (user_id <= 0) return STORE_NOT_FOUND;
    return s->ops->user_set_password(s->impl, actor_or_system(actor), user_id, password_hash);
}

int store_user_set_display_name(store *s, const store_actor *actor, int64_t user_id,
                                const char *display_name) {
    if (!name_ok(display_name)) return STORE_INVALID;
    if (user_id <= 0) return STORE_NOT_FOUND;
    return s->ops->user_set_display_name(s->impl, actor_or_system(actor), user_id,
                                         display_name);
}

int store_user_count(store *s, int64_t *count_out) {
    return s->ops->user_count(s->impl, count_out);
}

/* ---- Sessions ------------------------------------------------------------------- */

int store_session_create(store *s, const store_actor *actor, const char *token_hash,
                         int64_t user_id, const char *csrf_token, const char *lang,
                         int64_t expires_at) {
    if (!name_ok(token_hash) || !name_ok(csrf_token) || user_id < 0) return STORE_INVALID;
    if (!lang) lang = "";
    if (!text_ok(lang)) return STORE_INVALID;
    return s->ops->session_create(s->impl, actor_or_system(actor), token_hash, user_id,
                                  csrf_token, lang, expires_at);
}

int store_session_get(store *s, const char *token_hash, int64_t now, arena *a,
                      store_session *out) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    return s->ops->session_get(s->impl, token_hash, now, a, out);
}

int store_session_extend(store *s, const char *token_hash, int64_t expires_at) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    return s->ops->session_extend(s->impl, token_hash, expires_at);
}

int store_session_set_lang(store *s, const char *token_hash, const char *lang) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    if (!lang) lang = "";
    if (!text_ok(lang)) return STORE_INVALID;
    return s->ops->session_set_lang(s->impl, token_hash, lang);
}

int store_session_delete(store *s, const store_actor *actor, const char *token_hash) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    return s->ops->session_delete(s->impl, actor_or_system(actor), token_hash);
}

int store_session_delete_for_user(store *s, const store_actor *actor, int64_t user_id) {
    if (user_id <= 0) return STORE_NOT_FOUND;
    return s->ops->session_delete_for_user(s->impl, actor_or_system(actor), user_id);
}

int store_session_purge_expired(store *s, int64_t now, int64_t *deleted_out) {
    return s->ops->session_purge_expired(s->impl, now, deleted_out);
}

/* ---- Rate limits ---------------------------------------------------------------- */

int store_ratelimit_hit(store *s, const char *key, int64_t now, int64_t window_seconds,
                        int *count_out) {
    if (!name_ok(key) || window_seconds <= 0) return STORE_INVALID;
    return s->ops->ratelimit_hit(s->impl, key, now, window_seconds, count_out);
}

int store_ratelimit_clear(store *s, const char *key) {
    if (!text_ok(key)) return STORE_INVALID;
    return s->ops->ratelimit_clear(s->impl, key);
}

int store_ratelimit_purge(store *s, int64_t before, int64_t *deleted_out) {
    return s->ops->ratelimit_purge(s->impl, before, deleted_out);
}

/* ---- Places --------------------------------------------------------------------- */

static const char *const kind_names[] = {"council_area", "ward", "neighbourhood"};

const char *store_place_kind_name(store_place_kind kind) {
    if ((int)kind < 0 || (int)kind > (int)STORE_PLACE_NEIGHBOURHOOD) return "unknown";
    return kind_names[kind];
}

int store_place_kind_parse(const char *name, store_place_kind *out) {
    for (int i = 0; name && i <= (int)STORE_PLACE_NEIGHBOURHOOD; i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (store_place_kind)i;
            return 0;
        }
    }
    return -1;
}

/* Checks a place input and writes the normalised copy the backends see: NULL gss_code
 * for none, "" description for none. */
static int place_input_normalise(const store_place_input *in, store_place_input *norm) {
    if (!in) return STORE_INVALID;
    *norm = *in;
    if ((int)in->kind < 0 || (int)in->kind > (int)STORE_PLACE_NEIGHBOURHOOD) return STORE_INVALID;
    if (in->parent_id < 0 || !name_ok(in->name)) return STORE_INVALID;
    if (in->gss_code && !*in->gss_code) norm->gss_code = NULL;
    if (norm->gss_code && !name_ok(norm->gss_code)) return STORE_INVALID;
    if (!norm->description) norm->description = "";
    if (!text_ok(norm->description)) return STORE_INVALID;
    return STORE_OK;
}

int store_place_create(store *s, const store_actor *actor, const store_place_input *in,
                       arena *a, store_place *out) {
    store_place_input norm;
    int rc = place_input_normalise(in, &norm);
    if (rc != STORE_OK) return rc;
    assert(!out || a);
    return s->ops->place_create(s->impl, actor_or_system(actor), &norm, a, out);
}

int store_place_update(store *s, const store_actor *actor, int64_t id,
                       const store_place_input *in) {
    store_place_input norm;
    int rc = place_input_normalise(in, &norm);
    if (rc != STORE_OK) return rc;
    if (id <= 0) return STORE_NOT_FOUND;
    if (norm.parent_id == id) return STORE_INVALID;
    return s->ops->place_update(s->impl, actor_or_system(actor), id, &norm);
}

int store_place_by_uuid(store *s, const char *uuid, arena *a, store_place *out) {
    if (!text_ok(uuid)) return STORE_NOT_FOUND;
    return s->ops->place_by_uuid(s->impl, uuid, a, out);
}

int store_place_by_id(store *s, int64_t id, arena *a, store_place *out) {
    if (id <= 0) return STORE_NOT_FOUND;
    return s->ops->place_by_id(s->impl, id, a, out);
}

int store_place_by_gss(store *s, const char *gss_code, arena *a, store_place *out) {
    if (!name_ok(gss_code)) return STORE_NOT_FOUND;
    return s->ops->place_by_gss(s->impl, gss_code, a, out);
}

int store_place_list_page(store *s, int64_t parent_id, int64_t offset, int64_t limit,
                          arena *a, store_place_list *out) {
    if (offset < 0 || limit < 0 || parent_id < STORE_PLACES_ROOTS) return STORE_INVALID;
    return s->ops->place_list_page(s->impl, parent_id, offset, limit, a, out);
}

int store_place_count(store *s, int64_t *count_out) {
    return s->ops->place_count(s->impl, count_out);
}

/* ---- Audit log ------------------------------------------------------------------ */

int store_audit_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                          store_audit_list *out) {
    if (offset < 0 || limit < 0) return STORE_INVALID;
    return s->ops->audit_list_page(s->impl, offset, limit, a, out);
}

int store_audit_count(store *s, int64_t *count_out) {
    return s->ops->audit_count(s->impl, count_out);
}

/* ---- Background jobs ------------------------------------------------------------ */

static int64_t clock_now(void) { return (int64_t)time(NULL); }

int store_job_enqueue(store *s, const char *kind, const char *payload, int64_t run_after,
                      int64_t *id_out) {
    if (!payload) payload = "";
    if (!name_ok(kind) || !text_ok(payload) || run_after < 0) return STORE_INVALID;
    int64_t now = clock_now();
    return s->ops->job_enqueue(s->impl, kind, payload, run_after ? run_after : now, now,
                               id_out);
}

int store_job_claim(store *s, const char *kind, const char *worker, int64_t now,
                    int64_t lease_seconds, arena *a, store_job *out) {
    if ((kind && !name_ok(kind)) || !name_ok(worker) || lease_seconds <= 0) return STORE_INVALID;
    assert(a && out);
    return s->ops->job_claim(s->impl, kind, worker, now, lease_seconds, a, out);
}

int store_job_complete(store *s, int64_t id, const char *worker) {
    if (id <= 0 || !text_ok(worker)) return STORE_NOT_FOUND;
    return s->ops->job_complete(s->impl, id, worker, clock_now());
}

int store_job_fail(store *s, int64_t id, const char *worker, const char *error,
                   int64_t retry_at) {
    if (!error) error = "";
    if (!text_ok(error) || retry_at < 0) return STORE_INVALID;
    if (id <= 0 || !text_ok(worker)) return STORE_NOT_FOUND;
    return s->ops->job_fail(s->impl, id, worker, error, retry_at, clock_now());
}
