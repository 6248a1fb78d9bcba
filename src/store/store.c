/*
 * store: the store contract (see store.h), written once for every backend.
 *
 * This file chooses a backend from the URL, and checks and normalises every argument,
 * so that the rules (valid UTF-8 text, lowercased emails, non-empty names, known
 * roles) are the same whichever database is behind the store. Users, sessions, rate
 * limits, places and the audit log then run here, each operation one transaction with
 * its audit entry, through the backend's statement primitives (backend.h): the
 * backends hold the SQL text, run the statements and own transactions and locks.
 */
#include "store/store.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/rand.h"
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

/* ---- Running statements --------------------------------------------------------- */

/* Each operation below runs once for every backend, as statements of enum store_stmt
 * through the backend's primitives (backend.h); the backends hold the SQL text. */

#define ST STORE_ST
#define CONN(s)                                                                                    \
    store_conn cc;                                                                                 \
    store_conn *c = &cc;                                                                           \
    if ((s)->ops->conn((s)->impl, c) != STORE_OK) return STORE_ERROR

static int tx_begin(store_conn *c, int mode) { return c->ops->begin(c, mode); }
static int tx_end(store_conn *c, int rc) { return c->ops->end(c, rc); }

int store_run_done(store_conn *c, store_st *s, const char *what) {
    s->what = what;
    int step = pstep(c, s);
    st_done(s);
    return step == STORE_STEP_ERR ? s->rc : STORE_OK;
}

int store_run_int64(store_conn *c, store_st *s, int64_t *out, const char *what) {
    s->what = what;
    int step = pstep(c, s);
    if (step == STORE_STEP_ROW) *out = cint(s, 0);
    st_done(s);
    return step == STORE_STEP_ROW ? STORE_OK : step == STORE_STEP_DONE ? STORE_NOT_FOUND : s->rc;
}

/* Runs a statement that changes rows; *changed_out = how many. */
static int run_changes(store_conn *c, store_st *s, int64_t *changed_out, const char *what) {
    s->what = what;
    int step = pstep(c, s);
    if (step != STORE_STEP_ERR) *changed_out = changes(s);
    st_done(s);
    return step == STORE_STEP_ERR ? s->rc : STORE_OK;
}

int store_read_one(store_conn *c, store_st *st, arena *a,
                   void (*read)(const store_st *, arena *, void *), void *out, const char *what) {
    st->what = what;
    int step = pstep(c, st);
    if (step == STORE_STEP_ROW && out) read(st, a, out);
    st_done(st);
    return step == STORE_STEP_ROW ? STORE_OK : step == STORE_STEP_DONE ? STORE_NOT_FOUND : st->rc;
}

/* A look-up of one row by its key: text, or the integer key when text is NULL. */
static int look_up(store_conn *c, int id, int64_t key, const char *text, arena *a,
                   void (*read)(const store_st *, arena *, void *), void *out, const char *what) {
    ST(st, id);
    if (text)
        bt_null(st, 1, text);
    else
        bi64(st, 1, key);
    return store_read_one(c, st, a, read, out, what);
}

int store_read_rows(store_conn *c, store_st *st, arena *a, size_t size,
                    void (*read)(const store_st *, arena *, void *), void **items, size_t *n,
                    const char *what) {
    size_t cap = 0;
    char *arr = NULL;
    *n = 0;
    st->what = what;
    int step;
    while ((step = pstep(c, st)) == STORE_STEP_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char *bigger = arena_calloc(a, ncap, size);
            if (*n) memcpy(bigger, arr, *n * size);
            arr = bigger;
            cap = ncap;
        }
        read(st, a, arr + (*n)++ * size);
    }
    st_done(st);
    *items = arr;
    return step == STORE_STEP_ERR ? st->rc : STORE_OK;
}

/* A page of a list with its total in one read transaction: count, then the page
 * (none when limit is 0). */
static int count_and_page(store_conn *c, int count_id, int page_id, int64_t offset, int64_t limit,
                          arena *a, size_t size, void (*read)(const store_st *, arena *, void *),
                          void **items, size_t *n, int64_t *total, const char *what) {
    *items = NULL;
    *n = 0;
    int rc = tx_begin(c, STORE_TX_READ);
    if (rc != STORE_OK) return rc;
    ST(cnt, count_id);
    rc = store_run_int64(c, cnt, total, what);
    if (rc == STORE_OK && limit > 0) {
        ST(st, page_id);
        bi64(st, 1, limit);
        bi64(st, 2, offset);
        rc = store_read_rows(c, st, a, size, read, items, n, what);
    }
    return tx_end(c, rc);
}

static int64_t now_utc(void) { return (int64_t)time(NULL); }

/* ---- Audit ---------------------------------------------------------------------- */

int store_audit_add(store_conn *c, const store_actor *actor, const char *action,
                    const char *entity_type, const char *entity_id, json_t *detail) {
    if (!detail) detail = json_object();
    char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        log_error("store: out of memory serialising audit detail");
        abort();
    }
    json_decref(detail);
    ST(st, ST_AUDIT_INSERT);
    bi64(st, 1, now_utc());
    bid(st, 2, actor->user_id);
    bt_null(st, 3, actor->ip);
    bt_null(st, 4, action);
    bt_null(st, 5, entity_type);
    bt_null(st, 6, entity_id);
    bt_null(st, 7, text);
    int rc = store_run_done(c, st, "audit insert");
    free(text);
    return rc == STORE_OK ? STORE_OK : STORE_ERROR; /* never the caller's fault */
}

/* A JSON string, or null for NULL. */
static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

/* {"from": a, "to": b} */
static json_t *jchange(const char *from, const char *to) {
    json_t *o = json_object();
    json_object_set_new(o, "from", jstr(from));
    json_object_set_new(o, "to", jstr(to));
    return o;
}

/* Adds {"field":{"from":..,"to":..}} to detail when the two differ. */
static void diff_field(json_t *detail, const char *field, const char *from, const char *to) {
    if ((from == NULL) != (to == NULL) || (from && strcmp(from, to) != 0))
        json_object_set_new(detail, field, jchange(from, to));
}

static void read_audit(const store_st *st, arena *a, void *out) {
    store_audit_entry *e = out;
    e->id = cint(st, 0);
    e->at = cint(st, 1);
    e->user_id = cint(st, 2);
    e->actor_name = (char *)ct(st, 3, a);
    e->ip = (char *)ct(st, 4, a);
    e->action = (char *)ct(st, 5, a);
    e->entity_type = (char *)ct(st, 6, a);
    e->entity_id = (char *)ct(st, 7, a);
    e->detail = (char *)ct(st, 8, a);
}

/* ---- Users ---------------------------------------------------------------------- */

static void read_user(const store_st *st, arena *a, void *out) {
    store_user *u = out;
    u->id = cint(st, 0);
    u->uuid = (char *)ct(st, 1, a);
    u->email = (char *)ct(st, 2, a);
    u->display_name = (char *)ct(st, 3, a);
    u->password_hash = (char *)ct(st, 4, a);
    const char *role = ct(st, 5, a);
    if (!role || store_role_parse(role, &u->role) != 0) u->role = STORE_ROLE_RESIDENT;
    u->created_at = cint(st, 6);
    u->must_change_password = cint(st, 7) != 0;
}

/* A user by id (ST_USER_BY_ID, or ST_USER_LOCK to lock the row), by email or by uuid. */
static int user_fetch(store_conn *c, int id, int64_t key, const char *text, arena *a,
                      store_user *out) {
    return look_up(c, id, key, text, a, read_user, out, "user look-up");
}

static int user_create_tx(store *s, const store_actor *actor, const char *email,
                          const char *display_name, const char *password_hash, store_role role,
                          bool one_time, arena *a, store_user *out) {
    CONN(s);
    char uuid[UUID_STR_LEN];
    uuid_v4(uuid);
    int64_t now = now_utc(), id = 0;
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) return rc;
    ST(st, ST_USER_INSERT);
    bt_null(st, 1, uuid);
    bt_null(st, 2, email);
    bt_null(st, 3, display_name);
    bt_null(st, 4, password_hash);
    bt_null(st, 5, store_role_name(role));
    bi64(st, 6, now);
    bi64(st, 7, one_time ? 1 : 0);
    rc = store_run_int64(c, st, &id, "user insert");
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        json_object_set_new(detail, "email", json_string(email));
        json_object_set_new(detail, "display_name", json_string(display_name));
        json_object_set_new(detail, "role", json_string(store_role_name(role)));
        if (one_time) json_object_set_new(detail, "one_time_password", json_true());
        rc = store_audit_add(c, actor, "user.create", "user", uuid, detail);
    }
    rc = tx_end(c, rc);
    if (rc == STORE_OK && out) {
        out->id = id;
        out->uuid = arena_strdup(a, uuid);
        out->email = arena_strdup(a, email);
        out->display_name = arena_strdup(a, display_name);
        out->password_hash = arena_strdup(a, password_hash);
        out->role = role;
        out->created_at = now;
        out->must_change_password = one_time;
    }
    return rc;
}

/* The three single-column user updates: lock and load, update, audit. */
static int user_update(store *s, const store_actor *actor, int64_t user_id, int update,
                       const char *value, const char *action, const char *field) {
    CONN(s);
    arena a;
    arena_init(&a, 1024);
    store_user old;
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) goto end;
    /* Role changes queue on one lock: after it, each statement sees the others'
     * committed changes, so two admins demoting each other at the same moment cannot
     * both pass the checks below. */
    if (update == ST_USER_SET_ROLE) rc = c->ops->lock(c, STORE_LOCK_ROLES, NULL);
    if (rc == STORE_OK) rc = user_fetch(c, ST_USER_LOCK, user_id, NULL, &a, &old);
    if (rc == STORE_OK && update == ST_USER_SET_ROLE) {
        /* The actor must still be an admin, and the last admin cannot be demoted. */
        if (actor->user_id != 0) {
            store_user by;
            rc = user_fetch(c, ST_USER_BY_ID, actor->user_id, NULL, &a, &by);
            if (rc == STORE_NOT_FOUND || (rc == STORE_OK && by.role != STORE_ROLE_ADMIN))
                rc = STORE_INVALID;
        }
        if (rc == STORE_OK && old.role == STORE_ROLE_ADMIN && strcmp(value, "admin") != 0) {
            int64_t admins = 0;
            ST(cnt, ST_ADMIN_COUNT);
            rc = store_run_int64(c, cnt, &admins, "admin count");
            if (rc == STORE_OK && admins <= 1) rc = STORE_CONFLICT;
        }
    }
    if (rc == STORE_OK) {
        ST(st, update);
        bi64(st, 1, user_id);
        bt_null(st, 2, value);
        rc = store_run_done(c, st, action);
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        if (strcmp(field, "role") == 0)
            json_object_set_new(detail, "role", jchange(store_role_name(old.role), value));
        else if (strcmp(field, "display_name") == 0)
            json_object_set_new(detail, "display_name", jchange(old.display_name, value));
        /* password: the hash is never written to the log */
        rc = store_audit_add(c, actor, action, "user", old.uuid, detail);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

/* ---- Sessions ------------------------------------------------------------------- */

static int session_create_tx(store *s, const store_actor *actor, const char *token_hash,
                             int64_t user_id, const char *csrf_token, const char *lang,
                             int64_t expires_at) {
    CONN(s);
    arena a;
    arena_init(&a, 1024);
    store_user u = {0};
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) goto end;
    if (user_id) {
        rc = user_fetch(c, ST_USER_BY_ID, user_id, NULL, &a, &u);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
    }
    if (rc == STORE_OK) {
        ST(st, ST_SESSION_INSERT);
        bt_null(st, 1, token_hash);
        bid(st, 2, user_id);
        bt_null(st, 3, csrf_token);
        bt_null(st, 4, lang);
        bi64(st, 5, now_utc());
        bi64(st, 6, expires_at);
        rc = store_run_done(c, st, "session insert");
    }
    if (rc == STORE_OK && user_id)
        rc = store_audit_add(c, actor, "session.signin", "user", u.uuid, NULL);
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static void read_session(const store_st *st, arena *a, void *v) {
    store_session *out = v;
    out->user_id = cint(st, 0); /* NULL reads as 0 = anonymous */
    out->csrf_token = (char *)ct(st, 1, a);
    out->lang = (char *)ct(st, 2, a);
    out->expires_at = cint(st, 3);
    out->created_at = cint(st, 4);
}

static int session_get_tx(store *s, const char *token_hash, int64_t now, arena *a,
                          store_session *out) {
    CONN(s);
    ST(st, ST_SESSION_GET);
    bt_null(st, 1, token_hash);
    bi64(st, 2, now);
    return store_read_one(c, st, a, read_session, out, "session get");
}

/* A write of one statement that commits alone; *changed_out (may be NULL) = rows. */
static int write_one(store *s, store_st *st, int64_t *changed_out, const char *what) {
    CONN(s);
    int64_t n = 0;
    int rc = tx_begin(c, STORE_TX_ONE);
    if (rc != STORE_OK) return rc;
    rc = tx_end(c, run_changes(c, st, &n, what));
    if (rc == STORE_OK && changed_out) *changed_out = n;
    return rc;
}

/* UPDATE of one session; STORE_NOT_FOUND when no row changed. */
static int session_update(store *s, int id, const char *token_hash, int64_t num, const char *text) {
    ST(st, id);
    bt_null(st, 1, token_hash);
    if (text)
        bt_null(st, 2, text);
    else
        bi64(st, 2, num);
    int64_t changed = 0;
    int rc = write_one(s, st, &changed, "session update");
    if (rc == STORE_OK && changed == 0) rc = STORE_NOT_FOUND;
    return rc;
}

static int session_delete_tx(store *s, const store_actor *actor, const char *token_hash) {
    CONN(s);
    arena a;
    arena_init(&a, 256);
    int64_t user_id = 0;
    const char *user_uuid = NULL;
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) goto end;
    ST(own, ST_SESSION_OWNER);
    bt_null(own, 1, token_hash);
    own->what = "session owner";
    int step = pstep(c, own);
    if (step == STORE_STEP_ROW) {
        user_id = cint(own, 0);
        user_uuid = ct(own, 1, &a);
    }
    st_done(own);
    rc = step == STORE_STEP_ROW ? STORE_OK : step == STORE_STEP_DONE ? STORE_NOT_FOUND : own->rc;
    if (rc == STORE_OK) {
        ST(st, ST_SESSION_DELETE);
        bt_null(st, 1, token_hash);
        rc = store_run_done(c, st, "session delete");
    }
    if (rc == STORE_OK && user_id && user_uuid)
        rc = store_audit_add(c, actor, "session.signout", "user", user_uuid, NULL);
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int session_delete_for_user_tx(store *s, const store_actor *actor, int64_t user_id) {
    CONN(s);
    arena a;
    arena_init(&a, 1024);
    store_user u;
    int64_t count = 0;
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) goto end;
    rc = user_fetch(c, ST_USER_LOCK, user_id, NULL, &a, &u);
    if (rc == STORE_OK) {
        ST(st, ST_SESSION_DELETE_USER);
        bi64(st, 1, user_id);
        rc = run_changes(c, st, &count, "session delete for user");
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        json_object_set_new(detail, "count", json_integer(count));
        rc = store_audit_add(c, actor, "session.revoke_all", "user", u.uuid, detail);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

/* A single DELETE ... WHERE x <= $1 and how many rows it removed. */
static int delete_before(store *s, int id, int64_t t, int64_t *deleted_out) {
    ST(st, id);
    bi64(st, 1, t);
    return write_one(s, st, deleted_out, "purge");
}

/* ---- Rate limits ---------------------------------------------------------------- */

static int ratelimit_hit_tx(store *s, const char *key, int64_t now, int64_t window_seconds,
                            int *count_out) {
    CONN(s);
    int64_t since = now - window_seconds, count = 0;
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) return rc;
    rc = c->ops->lock(c, STORE_LOCK_RATELIMIT, key);
    if (rc == STORE_OK) {
        ST(old, ST_RL_FORGET_OLD);
        bt_null(old, 1, key);
        bi64(old, 2, since);
        rc = store_run_done(c, old, "rate limit forget");
    }
    if (rc == STORE_OK) {
        ST(ins, ST_RL_INSERT);
        bt_null(ins, 1, key);
        bi64(ins, 2, now);
        rc = store_run_done(c, ins, "rate limit insert");
    }
    if (rc == STORE_OK) {
        ST(cnt, ST_RL_COUNT);
        bt_null(cnt, 1, key);
        bi64(cnt, 2, since);
        rc = store_run_int64(c, cnt, &count, "rate limit count");
    }
    rc = tx_end(c, rc);
    if (rc == STORE_OK && count_out) *count_out = count > INT32_MAX ? INT32_MAX : (int)count;
    return rc;
}

/* ---- Places --------------------------------------------------------------------- */

static void read_place(const store_st *st, arena *a, void *out) {
    store_place *p = out;
    p->id = cint(st, 0);
    p->uuid = (char *)ct(st, 1, a);
    p->parent_id = cint(st, 2);
    p->parent_uuid = (char *)ct(st, 3, a);
    p->parent_name = (char *)ct(st, 4, a);
    const char *kind = ct(st, 5, a);
    if (!kind || store_place_kind_parse(kind, &p->kind) != 0) p->kind = STORE_PLACE_NEIGHBOURHOOD;
    p->name = (char *)ct(st, 6, a);
    p->gss_code = (char *)ct(st, 7, a);
    p->description = (char *)ct(st, 8, a);
    if (!p->description) p->description = arena_strdup(a, "");
    p->child_count = cint(st, 9);
    p->created_at = cint(st, 10);
    p->updated_at = cint(st, 11);
    p->updated_by = cint(st, 12);
}

/* A place by id (text NULL) or by the text key of statement id. */
static int place_fetch(store_conn *c, int id, int64_t key, const char *text, arena *a,
                       store_place *out) {
    return look_up(c, id, key, text, a, read_place, out, "place look-up");
}

/* Parameters 2..8 of the insert and the update. */
static void place_bind(store_st *st, const store_place_input *in, int64_t now, int64_t by) {
    bid(st, 2, in->parent_id);
    bt_null(st, 3, store_place_kind_name(in->kind));
    bt_null(st, 4, in->name);
    bt_null(st, 5, in->gss_code);
    bt_null(st, 6, in->description);
    bi64(st, 7, now);
    bid(st, 8, by);
}

static int place_create_tx(store *s, const store_actor *actor, const store_place_input *in,
                           arena *a, store_place *out) {
    CONN(s);
    arena tmp;
    arena_init(&tmp, 1024);
    store_place parent = {0};
    char uuid[UUID_STR_LEN];
    uuid_v4(uuid);
    int64_t id = 0;
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) goto end;
    rc = c->ops->lock(c, STORE_LOCK_PLACES, NULL);
    if (rc == STORE_OK && in->parent_id) {
        rc = place_fetch(c, ST_PLACE_BY_ID, in->parent_id, NULL, &tmp, &parent);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
    }
    if (rc == STORE_OK) {
        ST(st, ST_PLACE_INSERT);
        bt_null(st, 1, uuid);
        place_bind(st, in, now_utc(), actor->user_id);
        rc = store_run_int64(c, st, &id, "place insert");
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        json_object_set_new(detail, "name", json_string(in->name));
        json_object_set_new(detail, "kind", json_string(store_place_kind_name(in->kind)));
        json_object_set_new(detail, "gss_code", jstr(in->gss_code));
        json_object_set_new(detail, "parent", jstr(in->parent_id ? parent.uuid : NULL));
        rc = store_audit_add(c, actor, "place.create", "place", uuid, detail);
    }
    if (rc == STORE_OK && out) rc = place_fetch(c, ST_PLACE_BY_ID, id, NULL, a, out);
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static int place_update_tx(store *s, const store_actor *actor, int64_t id,
                           const store_place_input *in) {
    CONN(s);
    arena tmp;
    arena_init(&tmp, 1024);
    store_place old, parent = {0};
    int rc = tx_begin(c, STORE_TX_WRITE);
    if (rc != STORE_OK) goto end;
    rc = c->ops->lock(c, STORE_LOCK_PLACES, NULL);
    if (rc == STORE_OK) rc = place_fetch(c, ST_PLACE_BY_ID, id, NULL, &tmp, &old);
    if (rc == STORE_OK && in->parent_id) {
        rc = place_fetch(c, ST_PLACE_BY_ID, in->parent_id, NULL, &tmp, &parent);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc == STORE_OK) {
            /* The new parent must not be this place or one of its descendants, i.e.
             * this place must not be among the new parent's ancestors. */
            ST(anc, ST_PLACE_IS_ANCESTOR);
            bi64(anc, 1, in->parent_id);
            bi64(anc, 2, id);
            int64_t hits = 0;
            rc = store_run_int64(c, anc, &hits, "place ancestry");
            if (rc == STORE_OK && hits > 0) rc = STORE_INVALID;
        }
    }
    if (rc == STORE_OK) {
        ST(st, ST_PLACE_UPDATE);
        bi64(st, 1, id);
        place_bind(st, in, now_utc(), actor->user_id);
        rc = store_run_done(c, st, "place update");
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        diff_field(detail, "name", old.name, in->name);
        diff_field(detail, "kind", store_place_kind_name(old.kind),
                   store_place_kind_name(in->kind));
        diff_field(detail, "gss_code", old.gss_code, in->gss_code);
        diff_field(detail, "description", old.description, in->description);
        diff_field(detail, "parent", old.parent_uuid, in->parent_id ? parent.uuid : NULL);
        rc = store_audit_add(c, actor, "place.update", "place", old.uuid, detail);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static int place_list_page_tx(store *s, int64_t parent_id, int64_t offset, int64_t limit, arena *a,
                              store_place_list *out) {
    CONN(s);
    int page_id = ST_PLACE_PAGE_CHILDREN, count_id = ST_PLACE_COUNT_CHILDREN;
    if (parent_id == STORE_PLACES_ALL) page_id = ST_PLACE_PAGE_ALL, count_id = ST_PLACE_COUNT_ALL;
    if (parent_id == STORE_PLACES_ROOTS)
        page_id = ST_PLACE_PAGE_ROOTS, count_id = ST_PLACE_COUNT_ROOTS;
    /* A page that carries its total is one statement, one snapshot: no transaction. */
    int one = c->ops->place_page_total;
    int64_t total = 0;
    store_place *items = NULL;
    size_t n = 0, cap = 0;
    int rc = one ? STORE_OK : tx_begin(c, STORE_TX_READ);
    if (rc != STORE_OK) return rc;
    if (limit > 0) {
        ST(st, page_id);
        bi64(st, 1, limit);
        bi64(st, 2, offset);
        if (page_id == ST_PLACE_PAGE_CHILDREN) bi64(st, 3, parent_id);
        st->what = "place list";
        int step;
        while ((step = pstep(c, st)) == STORE_STEP_ROW) {
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                store_place *bigger = arena_calloc(a, ncap, sizeof *bigger);
                if (n) memcpy(bigger, items, n * sizeof *items);
                items = bigger;
                cap = ncap;
            }
            read_place(st, a, &items[n++]);
            if (one) total = cint(st, 13);
        }
        st_done(st);
        if (step == STORE_STEP_ERR) rc = st->rc;
    }
    if (rc == STORE_OK) {
        /* A first page that is not full holds every match, and a page that carries
         * its total needs no count (the common case, e.g. the home page's list); with
         * no row on the page, count on its own. */
        if (one ? n == 0 : !(offset == 0 && limit > 0 && (int64_t)n < limit)) {
            ST(cnt, count_id);
            if (count_id == ST_PLACE_COUNT_CHILDREN) bi64(cnt, 1, parent_id);
            rc = store_run_int64(c, cnt, &total, "place count");
        } else if (!one) {
            total = (int64_t)n;
        }
    }
    if (!one) rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

/* A single COUNT(*). */
static int count_of(store *s, int id, int64_t *count_out, const char *what) {
    CONN(s);
    ST(st, id);
    return store_run_int64(c, st, count_out, what);
}

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

static int user_create(store *s, const store_actor *actor, const char *email,
                       const char *display_name, const char *password_hash, store_role role,
                       bool one_time, arena *a, store_user *out) {
    char lower[EMAIL_MAX + 1];
    if (email_normalise(email, lower) != 0 || !name_ok(display_name) ||
        !text_ok(password_hash) || !role_ok(role))
        return STORE_INVALID;
    assert(!out || a);
    return user_create_tx(s, actor_or_system(actor), lower, display_name, password_hash, role,
                          one_time, a, out);
}

int store_user_create(store *s, const store_actor *actor, const char *email,
                      const char *display_name, const char *password_hash, store_role role,
                      arena *a, store_user *out) {
    return user_create(s, actor, email, display_name, password_hash, role, false, a, out);
}

int store_user_create_one_time(store *s, const store_actor *actor, const char *email,
                               const char *display_name, const char *password_hash,
                               store_role role, arena *a, store_user *out) {
    return user_create(s, actor, email, display_name, password_hash, role, true, a, out);
}

int store_user_by_email(store *s, const char *email, arena *a, store_user *out) {
    char lower[EMAIL_MAX + 1];
    if (email_normalise(email, lower) != 0) return STORE_NOT_FOUND;
    CONN(s);
    return user_fetch(c, ST_USER_BY_EMAIL, 0, lower, a, out);
}

int store_user_by_id(store *s, int64_t id, arena *a, store_user *out) {
    if (id <= 0) return STORE_NOT_FOUND;
    CONN(s);
    return user_fetch(c, ST_USER_BY_ID, id, NULL, a, out);
}

int store_user_by_uuid(store *s, const char *uuid, arena *a, store_user *out) {
    if (!text_ok(uuid)) return STORE_NOT_FOUND;
    CONN(s);
    return user_fetch(c, ST_USER_BY_UUID, 0, uuid, a, out);
}

int store_user_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                         store_user_list *out) {
    if (offset < 0 || limit < 0) return STORE_INVALID;
    CONN(s);
    store_user *items;
    size_t n;
    int64_t total = 0;
    int rc = count_and_page(c, ST_USER_COUNT, ST_USER_PAGE, offset, limit, a, sizeof *items,
                            read_user, (void **)&items, &n, &total, "user list");
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

int store_user_set_role(store *s, const store_actor *actor, int64_t user_id, store_role role) {
    if (!role_ok(role)) return STORE_INVALID;
    if (user_id <= 0) return STORE_NOT_FOUND;
    return user_update(s, actor_or_system(actor), user_id, ST_USER_SET_ROLE, store_role_name(role),
                       "user.role", "role");
}

int store_user_set_password(store *s, const store_actor *actor, int64_t user_id,
                            const char *password_hash) {
    if (!text_ok(password_hash)) return STORE_INVALID;
    if (user_id <= 0) return STORE_NOT_FOUND;
    return user_update(s, actor_or_system(actor), user_id, ST_USER_SET_PASSWORD, password_hash,
                       "user.password", "password");
}

int store_user_set_display_name(store *s, const store_actor *actor, int64_t user_id,
                                const char *display_name) {
    if (!name_ok(display_name)) return STORE_INVALID;
    if (user_id <= 0) return STORE_NOT_FOUND;
    return user_update(s, actor_or_system(actor), user_id, ST_USER_SET_NAME, display_name,
                       "user.update", "display_name");
}

int store_user_count(store *s, int64_t *count_out) {
    return count_of(s, ST_USER_COUNT, count_out, "user count");
}

/* ---- Sessions ------------------------------------------------------------------- */

int store_session_create(store *s, const store_actor *actor, const char *token_hash,
                         int64_t user_id, const char *csrf_token, const char *lang,
                         int64_t expires_at) {
    if (!name_ok(token_hash) || !name_ok(csrf_token) || user_id < 0) return STORE_INVALID;
    if (!lang) lang = "";
    if (!text_ok(lang)) return STORE_INVALID;
    return session_create_tx(s, actor_or_system(actor), token_hash, user_id, csrf_token, lang,
                             expires_at);
}

int store_session_get(store *s, const char *token_hash, int64_t now, arena *a,
                      store_session *out) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    return session_get_tx(s, token_hash, now, a, out);
}

int store_session_extend(store *s, const char *token_hash, int64_t expires_at) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    return session_update(s, ST_SESSION_EXTEND, token_hash, expires_at, NULL);
}

int store_session_set_lang(store *s, const char *token_hash, const char *lang) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    if (!lang) lang = "";
    if (!text_ok(lang)) return STORE_INVALID;
    return session_update(s, ST_SESSION_SET_LANG, token_hash, 0, lang);
}

int store_session_delete(store *s, const store_actor *actor, const char *token_hash) {
    if (!text_ok(token_hash)) return STORE_NOT_FOUND;
    return session_delete_tx(s, actor_or_system(actor), token_hash);
}

int store_session_delete_for_user(store *s, const store_actor *actor, int64_t user_id) {
    if (user_id <= 0) return STORE_NOT_FOUND;
    return session_delete_for_user_tx(s, actor_or_system(actor), user_id);
}

int store_session_purge_expired(store *s, int64_t now, int64_t *deleted_out) {
    return delete_before(s, ST_SESSION_PURGE, now, deleted_out);
}

/* ---- Rate limits ---------------------------------------------------------------- */

int store_ratelimit_hit(store *s, const char *key, int64_t now, int64_t window_seconds,
                        int *count_out) {
    if (!name_ok(key) || window_seconds <= 0) return STORE_INVALID;
    return ratelimit_hit_tx(s, key, now, window_seconds, count_out);
}

int store_ratelimit_clear(store *s, const char *key) {
    if (!text_ok(key)) return STORE_INVALID;
    ST(st, ST_RL_CLEAR);
    bt_null(st, 1, key);
    int64_t n;
    return write_one(s, st, &n, "rate limit clear");
}

int store_ratelimit_purge(store *s, int64_t before, int64_t *deleted_out) {
    return delete_before(s, ST_RL_PURGE, before, deleted_out);
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
    return place_create_tx(s, actor_or_system(actor), &norm, a, out);
}

int store_place_update(store *s, const store_actor *actor, int64_t id,
                       const store_place_input *in) {
    store_place_input norm;
    int rc = place_input_normalise(in, &norm);
    if (rc != STORE_OK) return rc;
    if (id <= 0) return STORE_NOT_FOUND;
    if (norm.parent_id == id) return STORE_INVALID;
    return place_update_tx(s, actor_or_system(actor), id, &norm);
}

int store_place_by_uuid(store *s, const char *uuid, arena *a, store_place *out) {
    if (!text_ok(uuid)) return STORE_NOT_FOUND;
    CONN(s);
    return place_fetch(c, ST_PLACE_BY_UUID, 0, uuid, a, out);
}

int store_place_by_id(store *s, int64_t id, arena *a, store_place *out) {
    if (id <= 0) return STORE_NOT_FOUND;
    CONN(s);
    return place_fetch(c, ST_PLACE_BY_ID, id, NULL, a, out);
}

int store_place_by_gss(store *s, const char *gss_code, arena *a, store_place *out) {
    if (!name_ok(gss_code)) return STORE_NOT_FOUND;
    CONN(s);
    return place_fetch(c, ST_PLACE_BY_GSS, 0, gss_code, a, out);
}

int store_place_list_page(store *s, int64_t parent_id, int64_t offset, int64_t limit,
                          arena *a, store_place_list *out) {
    if (offset < 0 || limit < 0 || parent_id < STORE_PLACES_ROOTS) return STORE_INVALID;
    return place_list_page_tx(s, parent_id, offset, limit, a, out);
}

int store_place_count(store *s, int64_t *count_out) {
    return count_of(s, ST_PLACE_COUNT_ALL, count_out, "place count");
}

/* ---- Audit log ------------------------------------------------------------------ */

int store_audit_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                          store_audit_list *out) {
    if (offset < 0 || limit < 0) return STORE_INVALID;
    CONN(s);
    store_audit_entry *items;
    size_t n;
    int64_t total = 0;
    int rc = count_and_page(c, ST_AUDIT_COUNT, ST_AUDIT_PAGE, offset, limit, a, sizeof *items,
                            read_audit, (void **)&items, &n, &total, "audit list");
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

int store_audit_count(store *s, int64_t *count_out) {
    return count_of(s, ST_AUDIT_COUNT, count_out, "audit count");
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
