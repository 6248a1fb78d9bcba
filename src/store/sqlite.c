/*
 * sqlite: the SQLite backend of the store contract (store.h, backend.h).
 *
 * Connections. SQLite connections must not be used by two threads at once, and a
 * shared connection behind a mutex would serialise every reader. So each thread gets
 * its own connection on first use (a pthread key), kept until the thread exits (the
 * key's destructor closes it) or store_close closes them all. The backend keeps every
 * connection on a list for that purpose; the list's mutex is the only lock, taken
 * when a connection is created or closed.
 *
 * Statements. Every SQL statement is an entry of the `sql` table below, indexed by an
 * enum (after kcgi's sqlbox). A connection prepares an entry the first time it needs
 * it and keeps it; after every use the statement is reset and its bindings cleared,
 * so nothing carries over to the next call.
 *
 * Transactions. Each contract operation is one transaction. Writes start with BEGIN
 * IMMEDIATE: it takes the write lock up front, so two writers queue on the busy
 * timeout instead of deadlocking when both try to upgrade a read lock. Reads of more
 * than one statement use a plain BEGIN for a consistent snapshot.
 *
 * Durability. WAL journal with synchronous=FULL: the WAL is synced at every commit,
 * so a write acknowledged to a user survives a power cut, not only a process crash
 * (NORMAL would only guarantee the latter). The cost is one fsync per commit, which
 * the benchmarks measure.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/xalloc.h"
#include "store/backend.h"
#include "store/backend_directory.h"
#include "store/sqlite_internal.h"

#define BUSY_TIMEOUT_MS 5000
/* See "Durability" above; overridable at build time only to measure the difference. */
#ifndef STORE_SQLITE_SYNCHRONOUS
#define STORE_SQLITE_SYNCHRONOUS "FULL"
#endif

/* ---- Statements ----------------------------------------------------------------- */

#define USER_COLS "id, uuid, email, display_name, password_hash, role, created_at"
#define PLACE_SELECT                                                                     \
    "SELECT p.id, p.uuid, p.parent_id, pp.uuid, pp.name, p.kind, p.name, p.gss_code, "    \
    "p.description, (SELECT COUNT(*) FROM places c WHERE c.parent_id = p.id), "            \
    "p.created_at, p.updated_at, p.updated_by "                                            \
    "FROM places p LEFT JOIN places pp ON pp.id = p.parent_id "

enum stmt_id {
    ST_BEGIN,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PING,
    ST_SCHEMA_VERSION,
    ST_AUDIT_INSERT,
    ST_USER_INSERT,
    ST_USER_BY_EMAIL,
    ST_USER_BY_ID,
    ST_USER_BY_UUID,
    ST_USER_PAGE,
    ST_USER_COUNT,
    ST_USER_SET_ROLE,
    ST_ADMIN_COUNT,
    ST_USER_SET_PASSWORD,
    ST_USER_SET_NAME,
    ST_SESSION_INSERT,
    ST_SESSION_GET,
    ST_SESSION_OWNER,
    ST_SESSION_EXTEND,
    ST_SESSION_SET_LANG,
    ST_SESSION_DELETE,
    ST_SESSION_DELETE_USER,
    ST_SESSION_PURGE,
    ST_RL_FORGET_OLD,
    ST_RL_INSERT,
    ST_RL_COUNT,
    ST_RL_CLEAR,
    ST_RL_PURGE,
    ST_PLACE_INSERT,
    ST_PLACE_UPDATE,
    ST_PLACE_BY_ID,
    ST_PLACE_BY_UUID,
    ST_PLACE_BY_GSS,
    ST_PLACE_IS_ANCESTOR,
    ST_PLACE_PAGE_ALL,
    ST_PLACE_PAGE_ROOTS,
    ST_PLACE_PAGE_CHILDREN,
    ST_PLACE_COUNT_ALL,
    ST_PLACE_COUNT_ROOTS,
    ST_PLACE_COUNT_CHILDREN,
    ST_AUDIT_PAGE,
    ST_AUDIT_COUNT,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* Reads a table, so the answer proves the file itself is readable. */
    [ST_PING] = "SELECT COUNT(*) FROM (SELECT version FROM schema_migrations LIMIT 1)",
    [ST_SCHEMA_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
    [ST_AUDIT_INSERT] = "INSERT INTO audit_log (at, user_id, ip, action, entity_type, "
                        "entity_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_USER_INSERT] = "INSERT INTO users (uuid, email, display_name, password_hash, role, "
                       "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email = ?1",
    [ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [ST_USER_BY_UUID] = "SELECT " USER_COLS " FROM users WHERE uuid = ?1",
    [ST_USER_PAGE] = "SELECT " USER_COLS " FROM users ORDER BY created_at, id "
                     "LIMIT ?1 OFFSET ?2",
    [ST_USER_COUNT] = "SELECT COUNT(*) FROM users",
    [ST_USER_SET_ROLE] = "UPDATE users SET role = ?2 WHERE id = ?1",
    [ST_ADMIN_COUNT] = "SELECT count(*) FROM users WHERE role = 'admin'",
    [ST_USER_SET_PASSWORD] = "UPDATE users SET password_hash = ?2 WHERE id = ?1",
    [ST_USER_SET_NAME] = "UPDATE users SET display_name = ?2 WHERE id = ?1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions (token_hash, user_id, csrf_token, lang, "
                          "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_SESSION_GET] = "SELECT user_id, csrf_token, lang, expires_at, created_at "
                       "FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
    [ST_SESSION_OWNER] = "SELECT s.user_id, u.uuid FROM sessions s "
                         "LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
    [ST_SESSION_EXTEND] = "UPDATE sessions SET expires_at = ?2 WHERE token_hash = ?1",
    [ST_SESSION_SET_LANG] = "UPDATE sessions SET lang = ?2 WHERE token_hash = ?1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = ?1",
    [ST_SESSION_DELETE_USER] = "DELETE FROM sessions WHERE user_id = ?1",
    [ST_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at <= ?1",
    [ST_RL_FORGET_OLD] = "DELETE FROM ratelimit_hits WHERE key = ?1 AND at <= ?2",
    [ST_RL_INSERT] = "INSERT INTO ratelimit_hits (key, at) VALUES (?1, ?2)",
    [ST_RL_COUNT] = "SELECT COUNT(*) FROM ratelimit_hits WHERE key = ?1 AND at > ?2",
    [ST_RL_CLEAR] = "DELETE FROM ratelimit_hits WHERE key = ?1",
    [ST_RL_PURGE] = "DELETE FROM ratelimit_hits WHERE at <= ?1",
    [ST_PLACE_INSERT] = "INSERT INTO places (uuid, parent_id, kind, name, gss_code, "
                        "description, created_at, updated_at, updated_by) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8) RETURNING id",
    [ST_PLACE_UPDATE] = "UPDATE places SET parent_id = ?2, kind = ?3, name = ?4, "
                        "gss_code = ?5, description = ?6, updated_at = ?7, updated_by = ?8 "
                        "WHERE id = ?1",
    [ST_PLACE_BY_ID] = PLACE_SELECT "WHERE p.id = ?1",
    [ST_PLACE_BY_UUID] = PLACE_SELECT "WHERE p.uuid = ?1",
    [ST_PLACE_BY_GSS] = PLACE_SELECT "WHERE p.gss_code = ?1",
    /* Is ?2 among ?1 and its ancestors? UNION (not UNION ALL) so that the walk ends
     * even if a cycle were ever present. */
    [ST_PLACE_IS_ANCESTOR] = "WITH RECURSIVE anc(id) AS (SELECT ?1 UNION "
                             "SELECT p.parent_id FROM places p JOIN anc ON p.id = anc.id "
                             "WHERE p.parent_id IS NOT NULL) "
                             "SELECT COUNT(*) FROM anc WHERE id = ?2",
    [ST_PLACE_PAGE_ALL] = PLACE_SELECT "ORDER BY p.name, p.id LIMIT ?2 OFFSET ?3",
    [ST_PLACE_PAGE_ROOTS] = PLACE_SELECT "WHERE p.parent_id IS NULL "
                                         "ORDER BY p.name, p.id LIMIT ?2 OFFSET ?3",
    [ST_PLACE_PAGE_CHILDREN] = PLACE_SELECT "WHERE p.parent_id = ?1 "
                                            "ORDER BY p.name, p.id LIMIT ?2 OFFSET ?3",
    [ST_PLACE_COUNT_ALL] = "SELECT COUNT(*) FROM places",
    [ST_PLACE_COUNT_ROOTS] = "SELECT COUNT(*) FROM places WHERE parent_id IS NULL",
    [ST_PLACE_COUNT_CHILDREN] = "SELECT COUNT(*) FROM places WHERE parent_id = ?1",
    [ST_AUDIT_PAGE] = "SELECT a.id, a.at, a.user_id, u.display_name, a.ip, a.action, "
                      "a.entity_type, a.entity_id, a.detail FROM audit_log a "
                      "LEFT JOIN users u ON u.id = a.user_id "
                      "ORDER BY a.id DESC LIMIT ?1 OFFSET ?2",
    [ST_AUDIT_COUNT] = "SELECT COUNT(*) FROM audit_log",
};

/* ---- Connections ---------------------------------------------------------------- */

typedef struct sqlite_backend sqlite_backend;

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *stmts[ST__COUNT]; /* prepared on first use */
    sqlite_backend *owner;
    int holds_write;       /* this connection holds owner->write_mu */
    void *dir_slot;        /* sqlite_directory.c's statements (sqlite_internal.h) */
    struct conn *prev, *next;
} conn;

struct sqlite_backend {
    char *path;
    pthread_key_t key;     /* this thread's conn */
    pthread_mutex_t mu;    /* guards conns */
    conn *conns;           /* every open connection */
    /* Held for the length of every write transaction. SQLite admits one writer at a
     * time anyway; queueing the threads of this process on a mutex wakes the next
     * writer as soon as the lock is free, where SQLite's busy handler would have them
     * sleep and poll, and under load starve one past the busy timeout. The timeout
     * still arbitrates between processes sharing the file. */
    pthread_mutex_t write_mu;
};

static void conn_close(conn *c) {
    store_sqlite_dir_release(c->dir_slot);
    for (int i = 0; i < ST__COUNT; i++) sqlite3_finalize(c->stmts[i]);
    sqlite3_close(c->db); /* every statement is finalised, so this always closes */
    free(c);
}

/* Runs when a thread that used the store exits. */
static void conn_thread_exit(void *p) {
    conn *c = p;
    sqlite_backend *b = c->owner;
    pthread_mutex_lock(&b->mu);
    if (c->prev) c->prev->next = c->next;
    else b->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&b->mu);
    conn_close(c);
}

/* Runs SQL text (possibly several statements); returns SQLite's result code (0 = OK)
 * and on failure the message in err. */
static int exec_sql(sqlite3 *db, const char *text, char *err, size_t errlen) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, text, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        if (err && errlen) snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

/* True for the result codes that mean "another connection holds the lock". */
static int is_busy(int rc) {
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Opens a connection with the settings every connection needs (journal_mode=WAL is a
 * property of the file, set once by store_sqlite_open). Only store_open may create the
 * file: a thread that finds it gone must fail, not start an empty database. */
static conn *conn_open(sqlite_backend *b, int create, char *err, size_t errlen) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(b->path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                 (create ? SQLITE_OPEN_CREATE : 0),
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database '%s': %s", b->path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    char msg[256];
    if (exec_sql(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=" STORE_SQLITE_SYNCHRONOUS ";",
                 msg, sizeof msg)) {
        snprintf(err, errlen, "cannot configure database '%s': %s", b->path, msg);
        sqlite3_close(db);
        return NULL;
    }
    conn *c = xcalloc(1, sizeof *c);
    c->db = db;
    c->owner = b;
    pthread_mutex_lock(&b->mu);
    c->next = b->conns;
    if (b->conns) b->conns->prev = c;
    b->conns = c;
    pthread_mutex_unlock(&b->mu);
    return c;
}

/* This thread's connection, opened on first use; NULL (logged) if it cannot be. */
static conn *conn_get(sqlite_backend *b) {
    conn *c = pthread_getspecific(b->key);
    if (c) return c;
    char err[512];
    c = conn_open(b, 0, err, sizeof err);
    if (!c) {
        log_error("store: %s", err);
        return NULL;
    }
    pthread_setspecific(b->key, c);
    return c;
}

/* The prepared statement for id on c, prepared now if this is its first use. */
static sqlite3_stmt *stmt(conn *c, enum stmt_id id) {
    if (!c->stmts[id]) {
        int rc = sqlite3_prepare_v3(c->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            log_error("store: preparing statement %d: %s", (int)id, sqlite3_errmsg(c->db));
            c->stmts[id] = NULL;
            return NULL;
        }
    }
    return c->stmts[id];
}

static void done(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Translates a failed step's result into the contract's codes; logs real errors. */
static int map_rc(conn *c, int rc, const char *what) {
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return STORE_CONFLICT;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return STORE_INVALID;
    default:
        log_error("store: %s: %s (%d)", what, sqlite3_errmsg(c->db), rc);
        return STORE_ERROR;
    }
}

/* Binding helpers: SQLITE_STATIC is right because every caller's strings outlive the
 * step, and the statement is reset before the call returns. */
static void bind_text(sqlite3_stmt *st, int i, const char *s) {
    if (s) sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, i);
}

static void bind_id(sqlite3_stmt *st, int i, int64_t id) { /* 0 means NULL */
    if (id) sqlite3_bind_int64(st, i, id);
    else sqlite3_bind_null(st, i);
}

static char *col_text(sqlite3_stmt *st, int i, arena *a) { /* NULL stays NULL */
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return NULL;
    return arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* Makes room for more rows in an arena array: doubles *cap (from 16) and copies the
 * items so far. The old copy stays in the arena until it is reset, which is cheap next
 * to fetching the rows. */
static void *grow(arena *a, void *items, size_t *cap, size_t size) {
    size_t ncap = *cap ? *cap * 2 : 16;
    void *bigger = arena_calloc(a, ncap, size);
    if (*cap) memcpy(bigger, items, *cap * size);
    *cap = ncap;
    return bigger;
}

/* Runs a statement that returns no rows; the statement is reset afterwards. */
static int step_done(conn *c, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    done(st);
    return rc == SQLITE_DONE ? STORE_OK : map_rc(c, rc, what);
}

/* Runs a statement returning one integer (COUNT(*), RETURNING id). */
static int step_int64(conn *c, sqlite3_stmt *st, int64_t *out, const char *what) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        done(st);
        return STORE_OK;
    }
    done(st);
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, rc, what);
}

static void write_lock(conn *c) {
    assert(!c->holds_write);
    pthread_mutex_lock(&c->owner->write_mu);
    c->holds_write = 1;
}

static void write_unlock(conn *c) {
    if (!c->holds_write) return;
    c->holds_write = 0;
    pthread_mutex_unlock(&c->owner->write_mu);
}

/* Starts a transaction; write = take the write lock now (BEGIN IMMEDIATE). Every
 * STORE_OK must be followed by tx_end. */
static int tx_begin(conn *c, int write) {
    if (write) write_lock(c);
    sqlite3_stmt *st = stmt(c, write ? ST_BEGIN_IMMEDIATE : ST_BEGIN);
    int rc = st ? step_done(c, st, "begin") : STORE_ERROR;
    if (rc != STORE_OK) {
        write_unlock(c);
        rc = STORE_ERROR;
    }
    return rc;
}

static int tx_commit(conn *c) {
    sqlite3_stmt *st = stmt(c, ST_COMMIT);
    int rc = st ? step_done(c, st, "commit") : STORE_ERROR;
    if (rc != STORE_OK && !sqlite3_get_autocommit(c->db)) {
        sqlite3_stmt *rb = stmt(c, ST_ROLLBACK);
        if (rb) step_done(c, rb, "rollback");
    }
    return rc == STORE_OK ? STORE_OK : STORE_ERROR;
}

/* Ends the transaction: commits when rc is STORE_OK, rolls back otherwise. Returns
 * the final result. */
static int tx_end(conn *c, int rc) {
    if (rc == STORE_OK) {
        rc = tx_commit(c);
    } else if (!sqlite3_get_autocommit(c->db)) {
        sqlite3_stmt *rb = stmt(c, ST_ROLLBACK);
        if (!rb || step_done(c, rb, "rollback") != STORE_OK)
            log_error("store: rollback failed: %s", sqlite3_errmsg(c->db));
    }
    write_unlock(c);
    return rc;
}

/* A write of one statement in its own (autocommit) transaction, under the write lock. */
static int step_write(conn *c, sqlite3_stmt *st, const char *what) {
    write_lock(c);
    int rc = step_done(c, st, what);
    write_unlock(c);
    return rc;
}

#define BACKEND(impl) ((sqlite_backend *)(impl))

/* ---- Shared with sqlite_directory.c (sqlite_internal.h) -------------------------- */

sqlite3 *store_sqlite_conn(void *impl, void ***dir_slot) {
    conn *c = conn_get(BACKEND(impl));
    if (!c) return NULL;
    *dir_slot = &c->dir_slot;
    return c->db;
}

void store_sqlite_write_lock(void *impl) {
    conn *c = conn_get(BACKEND(impl));
    if (c) write_lock(c);
}

void store_sqlite_write_unlock(void *impl) {
    conn *c = pthread_getspecific(BACKEND(impl)->key);
    if (c) write_unlock(c);
}
/* Declares c (this thread's connection) or returns STORE_ERROR. */
#define CONN_OR_FAIL(impl)                                                               \
    conn *c = conn_get(BACKEND(impl));                                                   \
    if (!c) return STORE_ERROR
/* Declares st for statement id on c or returns STORE_ERROR. */
#define STMT(var, id)                                                                    \
    sqlite3_stmt *var = stmt(c, id);                                                     \
    if (!var) return STORE_ERROR
/* As STMT but inside a transaction: sets rc and jumps to `out` on failure. */
#define STMT_TX(var, id)                                                                 \
    sqlite3_stmt *var = stmt(c, id);                                                     \
    if (!var) {                                                                          \
        rc = STORE_ERROR;                                                                \
        goto out;                                                                        \
    }

static int64_t now_utc(void) { return (int64_t)time(NULL); }

/* ---- Audit ---------------------------------------------------------------------- */

/* Appends an audit entry inside the caller's transaction. detail (may be NULL = {})
 * is consumed. */
static int audit_add(conn *c, const store_actor *actor, const char *action,
                     const char *entity_type, const char *entity_id, json_t *detail) {
    if (!detail) detail = json_object();
    char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        log_error("store: out of memory serialising audit detail");
        abort();
    }
    json_decref(detail);
    sqlite3_stmt *st = stmt(c, ST_AUDIT_INSERT);
    int rc = STORE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, now_utc());
        bind_id(st, 2, actor->user_id);
        bind_text(st, 3, actor->ip);
        bind_text(st, 4, action);
        bind_text(st, 5, entity_type);
        bind_text(st, 6, entity_id);
        bind_text(st, 7, text);
        rc = step_done(c, st, "audit insert");
        if (rc != STORE_OK) rc = STORE_ERROR; /* a failed audit is never the caller's fault */
    }
    free(text);
    return rc;
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

/* ---- Lifecycle ------------------------------------------------------------------ */

static void sqlite_close(void *impl) {
    sqlite_backend *b = impl;
    /* Deleting the key first means no thread exit will run the destructor on a
     * connection closed here. */
    pthread_key_delete(b->key);
    pthread_mutex_lock(&b->mu);
    conn *c = b->conns;
    b->conns = NULL;
    pthread_mutex_unlock(&b->mu);
    while (c) {
        conn *next = c->next;
        conn_close(c);
        c = next;
    }
    pthread_mutex_destroy(&b->mu);
    pthread_mutex_destroy(&b->write_mu);
    free(b->path);
    free(b);
}

static int sqlite_ping(void *impl) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_PING);
    int64_t one = 0;
    return step_int64(c, st, &one, "ping") == STORE_OK && one == 1 ? STORE_OK : STORE_ERROR;
}

static int sqlite_schema_version(void *impl, int *version_out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_SCHEMA_VERSION);
    int64_t v = 0;
    int rc = step_int64(c, st, &v, "schema version");
    if (rc == STORE_OK) *version_out = (int)v;
    return rc;
}

static int sqlite_backup(void *impl, const char *dest_path, char *err, size_t errlen) {
    conn *c = conn_get(BACKEND(impl));
    if (!c) {
        snprintf(err, errlen, "backup: cannot open the database");
        return STORE_ERROR;
    }
    /* Copy to a temporary name, then rename: a backup interrupted half-way never
     * carries the name of a good one. */
    size_t n = strlen(dest_path) + 16;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp", dest_path);
    unlink(tmp);
    sqlite3 *dest = NULL;
    int rc = sqlite3_open_v2(tmp, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    int result = STORE_ERROR;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "backup: cannot create '%s': %s", tmp,
                 dest ? sqlite3_errmsg(dest) : sqlite3_errstr(rc));
        goto out;
    }
    sqlite3_backup *bk = sqlite3_backup_init(dest, "main", c->db, "main");
    if (!bk) {
        snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dest));
        goto out;
    }
    /* All pages in one step: the copy then reads one snapshot, so it is consistent
     * even while other threads write. Busy/locked means a writer is checkpointing;
     * wait and retry. */
    for (int tries = 0;; tries++) {
        rc = sqlite3_backup_step(bk, -1);
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && tries < 100) {
            sqlite3_sleep(50);
            continue;
        }
        break;
    }
    sqlite3_backup_finish(bk);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "backup: %s", sqlite3_errstr(rc));
        goto out;
    }
    rc = sqlite3_errcode(dest);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "backup: %s", sqlite3_errmsg(dest));
        goto out;
    }
    /* The copy is a WAL database like its source; fold the WAL into the file so the
     * backup is one self-contained file. */
    if (exec_sql(dest, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;", err,
                 errlen))
        goto out;
    if (sqlite3_close(dest) != SQLITE_OK) {
        snprintf(err, errlen, "backup: closing '%s' failed", tmp);
        dest = NULL;
        goto out;
    }
    dest = NULL;
    if (rename(tmp, dest_path) != 0) {
        snprintf(err, errlen, "backup: cannot rename '%s' to '%s': %s", tmp, dest_path,
                 strerror(errno));
        goto out;
    }
    result = STORE_OK;
out:
    if (dest) sqlite3_close(dest);
    if (result != STORE_OK) unlink(tmp);
    free(tmp);
    return result;
}

/* ---- Users ---------------------------------------------------------------------- */

static void read_user(sqlite3_stmt *st, arena *a, store_user *u) {
    u->id = sqlite3_column_int64(st, 0);
    u->uuid = col_text(st, 1, a);
    u->email = col_text(st, 2, a);
    u->display_name = col_text(st, 3, a);
    u->password_hash = col_text(st, 4, a);
    const char *role = (const char *)sqlite3_column_text(st, 5);
    if (!role || store_role_parse(role, &u->role) != 0) u->role = STORE_ROLE_RESIDENT;
    u->created_at = sqlite3_column_int64(st, 6);
}

/* Runs a user look-up already bound on st; fills *out on STORE_OK. */
static int user_fetch(conn *c, sqlite3_stmt *st, arena *a, store_user *out) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (out) read_user(st, a, out);
        done(st);
        return STORE_OK;
    }
    done(st);
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, rc, "user look-up");
}

static int sqlite_user_create(void *impl, const store_actor *actor, const char *email,
                              const char *display_name, const char *password_hash,
                              store_role role, arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    char uuid[UUID_STR_LEN];
    uuid_v4(uuid);
    int64_t now = now_utc(), id = 0;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) return rc;
    STMT_TX(st, ST_USER_INSERT);
    bind_text(st, 1, uuid);
    bind_text(st, 2, email);
    bind_text(st, 3, display_name);
    bind_text(st, 4, password_hash);
    bind_text(st, 5, store_role_name(role));
    sqlite3_bind_int64(st, 6, now);
    rc = step_int64(c, st, &id, "user insert");
    if (rc != STORE_OK) goto out;
    json_t *detail = json_object();
    json_object_set_new(detail, "email", json_string(email));
    json_object_set_new(detail, "display_name", json_string(display_name));
    json_object_set_new(detail, "role", json_string(store_role_name(role)));
    rc = audit_add(c, actor, "user.create", "user", uuid, detail);
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK && out) {
        out->id = id;
        out->uuid = arena_strdup(a, uuid);
        out->email = arena_strdup(a, email);
        out->display_name = arena_strdup(a, display_name);
        out->password_hash = arena_strdup(a, password_hash);
        out->role = role;
        out->created_at = now;
    }
    return rc;
}

static int sqlite_user_by_email(void *impl, const char *email, arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_USER_BY_EMAIL);
    bind_text(st, 1, email);
    return user_fetch(c, st, a, out);
}

static int sqlite_user_by_id(void *impl, int64_t id, arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_USER_BY_ID);
    sqlite3_bind_int64(st, 1, id);
    return user_fetch(c, st, a, out);
}

static int sqlite_user_by_uuid(void *impl, const char *uuid, arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_USER_BY_UUID);
    bind_text(st, 1, uuid);
    return user_fetch(c, st, a, out);
}

static int sqlite_user_count(void *impl, int64_t *count_out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_USER_COUNT);
    return step_int64(c, st, count_out, "user count");
}

static int sqlite_user_list_page(void *impl, int64_t offset, int64_t limit, arena *a,
                                 store_user_list *out) {
    CONN_OR_FAIL(impl);
    int64_t total = 0;
    store_user *items = NULL;
    size_t n = 0;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    STMT_TX(cnt, ST_USER_COUNT);
    rc = step_int64(c, cnt, &total, "user count");
    if (rc != STORE_OK || limit == 0) goto out;
    STMT_TX(st, ST_USER_PAGE);
    sqlite3_bind_int64(st, 1, limit);
    sqlite3_bind_int64(st, 2, offset);
    int64_t cap = total - offset < limit ? total - offset : limit;
    if (cap > 0) items = arena_calloc(a, (size_t)cap, sizeof *items);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && (int64_t)n < cap) read_user(st, a, &items[n++]);
    done(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) rc = map_rc(c, step, "user list");
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

/* Within a transaction: the current row of user id, into *u (arena a). */
static int user_load_tx(conn *c, int64_t id, arena *a, store_user *u) {
    sqlite3_stmt *st = stmt(c, ST_USER_BY_ID);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    return user_fetch(c, st, a, u);
}

/* The shape of the three single-column user updates: load, update, audit. */
static int user_update(void *impl, const store_actor *actor, int64_t user_id,
                       enum stmt_id update, const char *value, const char *action,
                       const char *field) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 1024);
    store_user old;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    rc = user_load_tx(c, user_id, &a, &old);
    if (rc != STORE_OK) goto out;
    if (update == ST_USER_SET_ROLE) {
        /* Checked inside the write transaction, so two admins demoting each other at
         * the same moment cannot both succeed: the actor must still be an admin, and
         * the last admin cannot be demoted. */
        if (actor->user_id != 0) {
            store_user by;
            rc = user_load_tx(c, actor->user_id, &a, &by);
            if (rc == STORE_NOT_FOUND || (rc == STORE_OK && by.role != STORE_ROLE_ADMIN)) rc = STORE_INVALID;
            if (rc != STORE_OK) goto out;
        }
        if (old.role == STORE_ROLE_ADMIN && strcmp(value, "admin") != 0) {
            int64_t admins = 0;
            STMT_TX(cnt, ST_ADMIN_COUNT);
            rc = step_int64(c, cnt, &admins, "admin count");
            if (rc != STORE_OK) goto out;
            if (admins <= 1) {
                rc = STORE_CONFLICT;
                goto out;
            }
        }
    }
    STMT_TX(st, update);
    sqlite3_bind_int64(st, 1, user_id);
    bind_text(st, 2, value);
    rc = step_done(c, st, action);
    if (rc != STORE_OK) goto out;
    json_t *detail = json_object();
    if (strcmp(field, "role") == 0)
        json_object_set_new(detail, "role", jchange(store_role_name(old.role), value));
    else if (strcmp(field, "display_name") == 0)
        json_object_set_new(detail, "display_name", jchange(old.display_name, value));
    /* password: the hash is never written to the log */
    rc = audit_add(c, actor, action, "user", old.uuid, detail);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int sqlite_user_set_role(void *impl, const store_actor *actor, int64_t user_id,
                                store_role role) {
    return user_update(impl, actor, user_id, ST_USER_SET_ROLE, store_role_name(role),
                       "user.role", "role");
}

static int sqlite_user_set_password(void *impl, const store_actor *actor, int64_t user_id,
                                    const char *password_hash) {
    return user_update(impl, actor, user_id, ST_USER_SET_PASSWORD, password_hash,
                       "user.password", "password");
}

static int sqlite_user_set_display_name(void *impl, const store_actor *actor,
                                        int64_t user_id, const char *display_name) {
    return user_update(impl, actor, user_id, ST_USER_SET_NAME, display_name, "user.update",
                       "display_name");
}

/* ---- Sessions ------------------------------------------------------------------- */

static int sqlite_session_create(void *impl, const store_actor *actor, const char *token_hash,
                                 int64_t user_id, const char *csrf_token, const char *lang,
                                 int64_t expires_at) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 1024);
    store_user u = {0};
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    if (user_id) {
        rc = user_load_tx(c, user_id, &a, &u);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc != STORE_OK) goto out;
    }
    STMT_TX(st, ST_SESSION_INSERT);
    bind_text(st, 1, token_hash);
    bind_id(st, 2, user_id);
    bind_text(st, 3, csrf_token);
    bind_text(st, 4, lang);
    sqlite3_bind_int64(st, 5, now_utc());
    sqlite3_bind_int64(st, 6, expires_at);
    rc = step_done(c, st, "session insert");
    if (rc == STORE_OK && user_id)
        rc = audit_add(c, actor, "session.signin", "user", u.uuid, NULL);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int sqlite_session_get(void *impl, const char *token_hash, int64_t now, arena *a,
                              store_session *out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_SESSION_GET);
    bind_text(st, 1, token_hash);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->user_id = sqlite3_column_int64(st, 0); /* NULL reads as 0 = anonymous */
        out->csrf_token = col_text(st, 1, a);
        out->lang = col_text(st, 2, a);
        out->expires_at = sqlite3_column_int64(st, 3);
        out->created_at = sqlite3_column_int64(st, 4);
        done(st);
        return STORE_OK;
    }
    done(st);
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, rc, "session get");
}

/* UPDATE of one session; STORE_NOT_FOUND when no row changed. */
static int session_update(void *impl, enum stmt_id id, const char *token_hash, int64_t num,
                          const char *text) {
    CONN_OR_FAIL(impl);
    STMT(st, id);
    bind_text(st, 1, token_hash);
    if (text) bind_text(st, 2, text);
    else sqlite3_bind_int64(st, 2, num);
    int rc = step_write(c, st, "session update");
    if (rc == STORE_OK && sqlite3_changes(c->db) == 0) rc = STORE_NOT_FOUND;
    return rc;
}

static int sqlite_session_extend(void *impl, const char *token_hash, int64_t expires_at) {
    return session_update(impl, ST_SESSION_EXTEND, token_hash, expires_at, NULL);
}

static int sqlite_session_set_lang(void *impl, const char *token_hash, const char *lang) {
    return session_update(impl, ST_SESSION_SET_LANG, token_hash, 0, lang);
}

static int sqlite_session_delete(void *impl, const store_actor *actor, const char *token_hash) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 256);
    int64_t user_id = 0;
    char *user_uuid = NULL;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    STMT_TX(own, ST_SESSION_OWNER);
    bind_text(own, 1, token_hash);
    int step = sqlite3_step(own);
    if (step == SQLITE_ROW) {
        user_id = sqlite3_column_int64(own, 0);
        user_uuid = col_text(own, 1, &a);
        rc = STORE_OK;
    } else {
        rc = step == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, step, "session owner");
    }
    done(own);
    if (rc != STORE_OK) goto out;
    STMT_TX(st, ST_SESSION_DELETE);
    bind_text(st, 1, token_hash);
    rc = step_done(c, st, "session delete");
    if (rc == STORE_OK && user_id && user_uuid)
        rc = audit_add(c, actor, "session.signout", "user", user_uuid, NULL);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int sqlite_session_delete_for_user(void *impl, const store_actor *actor,
                                          int64_t user_id) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 1024);
    store_user u;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    rc = user_load_tx(c, user_id, &a, &u);
    if (rc != STORE_OK) goto out;
    STMT_TX(st, ST_SESSION_DELETE_USER);
    sqlite3_bind_int64(st, 1, user_id);
    rc = step_done(c, st, "session delete for user");
    if (rc != STORE_OK) goto out;
    json_t *detail = json_object();
    json_object_set_new(detail, "count", json_integer(sqlite3_changes(c->db)));
    rc = audit_add(c, actor, "session.revoke_all", "user", u.uuid, detail);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

/* A single DELETE ... WHERE x <= ?1 and how many rows it removed. */
static int delete_before(void *impl, enum stmt_id id, int64_t t, int64_t *deleted_out) {
    CONN_OR_FAIL(impl);
    STMT(st, id);
    sqlite3_bind_int64(st, 1, t);
    int rc = step_write(c, st, "purge");
    if (rc == STORE_OK && deleted_out) *deleted_out = sqlite3_changes(c->db);
    return rc;
}

static int sqlite_session_purge_expired(void *impl, int64_t now, int64_t *deleted_out) {
    return delete_before(impl, ST_SESSION_PURGE, now, deleted_out);
}

/* ---- Rate limits ---------------------------------------------------------------- */

static int sqlite_ratelimit_hit(void *impl, const char *key, int64_t now,
                                int64_t window_seconds, int *count_out) {
    CONN_OR_FAIL(impl);
    int64_t since = now - window_seconds, count = 0;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) return rc;
    STMT_TX(old, ST_RL_FORGET_OLD);
    bind_text(old, 1, key);
    sqlite3_bind_int64(old, 2, since);
    rc = step_done(c, old, "rate limit forget");
    if (rc != STORE_OK) goto out;
    STMT_TX(ins, ST_RL_INSERT);
    bind_text(ins, 1, key);
    sqlite3_bind_int64(ins, 2, now);
    rc = step_done(c, ins, "rate limit insert");
    if (rc != STORE_OK) goto out;
    STMT_TX(cnt, ST_RL_COUNT);
    bind_text(cnt, 1, key);
    sqlite3_bind_int64(cnt, 2, since);
    rc = step_int64(c, cnt, &count, "rate limit count");
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK && count_out) *count_out = count > INT32_MAX ? INT32_MAX : (int)count;
    return rc;
}

static int sqlite_ratelimit_clear(void *impl, const char *key) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_RL_CLEAR);
    bind_text(st, 1, key);
    return step_write(c, st, "rate limit clear");
}

static int sqlite_ratelimit_purge(void *impl, int64_t before, int64_t *deleted_out) {
    return delete_before(impl, ST_RL_PURGE, before, deleted_out);
}

/* ---- Places --------------------------------------------------------------------- */

static void read_place(sqlite3_stmt *st, arena *a, store_place *p) {
    p->id = sqlite3_column_int64(st, 0);
    p->uuid = col_text(st, 1, a);
    p->parent_id = sqlite3_column_int64(st, 2);
    p->parent_uuid = col_text(st, 3, a);
    p->parent_name = col_text(st, 4, a);
    const char *kind = (const char *)sqlite3_column_text(st, 5);
    if (!kind || store_place_kind_parse(kind, &p->kind) != 0) p->kind = STORE_PLACE_NEIGHBOURHOOD;
    p->name = col_text(st, 6, a);
    p->gss_code = col_text(st, 7, a);
    p->description = col_text(st, 8, a);
    if (!p->description) p->description = arena_strdup(a, "");
    p->child_count = sqlite3_column_int64(st, 9);
    p->created_at = sqlite3_column_int64(st, 10);
    p->updated_at = sqlite3_column_int64(st, 11);
    p->updated_by = sqlite3_column_int64(st, 12);
}

static int place_fetch(conn *c, sqlite3_stmt *st, arena *a, store_place *out) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (out) read_place(st, a, out);
        done(st);
        return STORE_OK;
    }
    done(st);
    return rc == SQLITE_DONE ? STORE_NOT_FOUND : map_rc(c, rc, "place look-up");
}

static int place_load(conn *c, int64_t id, arena *a, store_place *out) {
    sqlite3_stmt *st = stmt(c, ST_PLACE_BY_ID);
    if (!st) return STORE_ERROR;
    sqlite3_bind_int64(st, 1, id);
    return place_fetch(c, st, a, out);
}

static void bind_place_fields(sqlite3_stmt *st, const store_place_input *in, int64_t now,
                              int64_t by) {
    bind_id(st, 2, in->parent_id);
    bind_text(st, 3, store_place_kind_name(in->kind));
    bind_text(st, 4, in->name);
    bind_text(st, 5, in->gss_code);
    bind_text(st, 6, in->description);
    sqlite3_bind_int64(st, 7, now);
    bind_id(st, 8, by);
}

static int sqlite_place_create(void *impl, const store_actor *actor, const store_place_input *in,
                               arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    arena tmp;
    arena_init(&tmp, 1024);
    store_place parent = {0};
    char uuid[UUID_STR_LEN];
    uuid_v4(uuid);
    int64_t id = 0;
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    if (in->parent_id) {
        rc = place_load(c, in->parent_id, &tmp, &parent);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc != STORE_OK) goto out;
    }
    STMT_TX(st, ST_PLACE_INSERT);
    bind_text(st, 1, uuid);
    bind_place_fields(st, in, now_utc(), actor->user_id);
    rc = step_int64(c, st, &id, "place insert");
    if (rc != STORE_OK) goto out;
    json_t *detail = json_object();
    json_object_set_new(detail, "name", json_string(in->name));
    json_object_set_new(detail, "kind", json_string(store_place_kind_name(in->kind)));
    json_object_set_new(detail, "gss_code", jstr(in->gss_code));
    json_object_set_new(detail, "parent", jstr(in->parent_id ? parent.uuid : NULL));
    rc = audit_add(c, actor, "place.create", "place", uuid, detail);
    if (rc == STORE_OK && out) rc = place_load(c, id, a, out);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

/* Adds {"field":{"from":..,"to":..}} to detail when the two differ. */
static void diff_field(json_t *detail, const char *field, const char *from, const char *to) {
    if ((from == NULL) != (to == NULL) || (from && strcmp(from, to) != 0))
        json_object_set_new(detail, field, jchange(from, to));
}

static int sqlite_place_update(void *impl, const store_actor *actor, int64_t id,
                               const store_place_input *in) {
    CONN_OR_FAIL(impl);
    arena tmp;
    arena_init(&tmp, 1024);
    store_place old, parent = {0};
    int rc = tx_begin(c, 1);
    if (rc != STORE_OK) goto end;
    rc = place_load(c, id, &tmp, &old);
    if (rc != STORE_OK) goto out;
    if (in->parent_id) {
        rc = place_load(c, in->parent_id, &tmp, &parent);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc != STORE_OK) goto out;
        /* The new parent must not be this place or one of its descendants, i.e. this
         * place must not be among the new parent's ancestors. */
        STMT_TX(anc, ST_PLACE_IS_ANCESTOR);
        sqlite3_bind_int64(anc, 1, in->parent_id);
        sqlite3_bind_int64(anc, 2, id);
        int64_t hits = 0;
        rc = step_int64(c, anc, &hits, "place ancestry");
        if (rc != STORE_OK) goto out;
        if (hits > 0) {
            rc = STORE_INVALID;
            goto out;
        }
    }
    STMT_TX(st, ST_PLACE_UPDATE);
    sqlite3_bind_int64(st, 1, id);
    bind_place_fields(st, in, now_utc(), actor->user_id);
    rc = step_done(c, st, "place update");
    if (rc != STORE_OK) goto out;
    json_t *detail = json_object();
    diff_field(detail, "name", old.name, in->name);
    diff_field(detail, "kind", store_place_kind_name(old.kind), store_place_kind_name(in->kind));
    diff_field(detail, "gss_code", old.gss_code, in->gss_code);
    diff_field(detail, "description", old.description, in->description);
    diff_field(detail, "parent", old.parent_uuid, in->parent_id ? parent.uuid : NULL);
    rc = audit_add(c, actor, "place.update", "place", old.uuid, detail);
out:
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static int sqlite_place_by_uuid(void *impl, const char *uuid, arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_PLACE_BY_UUID);
    bind_text(st, 1, uuid);
    return place_fetch(c, st, a, out);
}

static int sqlite_place_by_id(void *impl, int64_t id, arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    return place_load(c, id, a, out);
}

static int sqlite_place_by_gss(void *impl, const char *gss_code, arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_PLACE_BY_GSS);
    bind_text(st, 1, gss_code);
    return place_fetch(c, st, a, out);
}

static int sqlite_place_list_page(void *impl, int64_t parent_id, int64_t offset, int64_t limit,
                                  arena *a, store_place_list *out) {
    CONN_OR_FAIL(impl);
    enum stmt_id page_id = ST_PLACE_PAGE_CHILDREN, count_id = ST_PLACE_COUNT_CHILDREN;
    if (parent_id == STORE_PLACES_ALL) page_id = ST_PLACE_PAGE_ALL, count_id = ST_PLACE_COUNT_ALL;
    if (parent_id == STORE_PLACES_ROOTS)
        page_id = ST_PLACE_PAGE_ROOTS, count_id = ST_PLACE_COUNT_ROOTS;
    int64_t total = 0;
    store_place *items = NULL;
    size_t n = 0, cap = 0;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    /* ?1 is unused by the ALL/ROOTS statements; binding an absent parameter is an
     * error, so bind only where it exists. */
    if (limit > 0) {
        STMT_TX(st, page_id);
        if (page_id == ST_PLACE_PAGE_CHILDREN) sqlite3_bind_int64(st, 1, parent_id);
        sqlite3_bind_int64(st, 2, limit);
        sqlite3_bind_int64(st, 3, offset);
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            if (n == cap) items = grow(a, items, &cap, sizeof *items);
            read_place(st, a, &items[n++]);
        }
        done(st);
        if (step != SQLITE_DONE) {
            rc = map_rc(c, step, "place list");
            goto out;
        }
    }
    /* A first page that is not full holds every match: no need to count them (this
     * is the common case, e.g. the home page's list). */
    if (offset == 0 && limit > 0 && (int64_t)n < limit) {
        total = (int64_t)n;
    } else {
        STMT_TX(cnt, count_id);
        if (count_id == ST_PLACE_COUNT_CHILDREN) sqlite3_bind_int64(cnt, 1, parent_id);
        rc = step_int64(c, cnt, &total, "place count");
    }
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

static int sqlite_place_count(void *impl, int64_t *count_out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_PLACE_COUNT_ALL);
    return step_int64(c, st, count_out, "place count");
}

/* ---- Audit log ------------------------------------------------------------------ */

static int sqlite_audit_count(void *impl, int64_t *count_out) {
    CONN_OR_FAIL(impl);
    STMT(st, ST_AUDIT_COUNT);
    return step_int64(c, st, count_out, "audit count");
}

static int sqlite_audit_list_page(void *impl, int64_t offset, int64_t limit, arena *a,
                                  store_audit_list *out) {
    CONN_OR_FAIL(impl);
    int64_t total = 0;
    store_audit_entry *items = NULL;
    size_t n = 0;
    int rc = tx_begin(c, 0);
    if (rc != STORE_OK) return rc;
    STMT_TX(cnt, ST_AUDIT_COUNT);
    rc = step_int64(c, cnt, &total, "audit count");
    if (rc != STORE_OK || limit == 0) goto out;
    STMT_TX(st, ST_AUDIT_PAGE);
    sqlite3_bind_int64(st, 1, limit);
    sqlite3_bind_int64(st, 2, offset);
    int64_t cap = total - offset < limit ? total - offset : limit;
    if (cap > 0) items = arena_calloc(a, (size_t)cap, sizeof *items);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW && (int64_t)n < cap) {
        store_audit_entry *e = &items[n++];
        e->id = sqlite3_column_int64(st, 0);
        e->at = sqlite3_column_int64(st, 1);
        e->user_id = sqlite3_column_int64(st, 2);
        e->actor_name = col_text(st, 3, a);
        e->ip = col_text(st, 4, a);
        e->action = col_text(st, 5, a);
        e->entity_type = col_text(st, 6, a);
        e->entity_id = col_text(st, 7, a);
        e->detail = col_text(st, 8, a);
    }
    done(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) rc = map_rc(c, step, "audit list");
out:
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

/* ---- Opening and migrations ----------------------------------------------------- */

static const store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .ping = sqlite_ping,
    .backup = sqlite_backup,
    .schema_version = sqlite_schema_version,
    .user_create = sqlite_user_create,
    .user_by_email = sqlite_user_by_email,
    .user_by_id = sqlite_user_by_id,
    .user_by_uuid = sqlite_user_by_uuid,
    .user_list_page = sqlite_user_list_page,
    .user_set_role = sqlite_user_set_role,
    .user_set_password = sqlite_user_set_password,
    .user_set_display_name = sqlite_user_set_display_name,
    .user_count = sqlite_user_count,
    .session_create = sqlite_session_create,
    .session_get = sqlite_session_get,
    .session_extend = sqlite_session_extend,
    .session_set_lang = sqlite_session_set_lang,
    .session_delete = sqlite_session_delete,
    .session_delete_for_user = sqlite_session_delete_for_user,
    .session_purge_expired = sqlite_session_purge_expired,
    .ratelimit_hit = sqlite_ratelimit_hit,
    .ratelimit_clear = sqlite_ratelimit_clear,
    .ratelimit_purge = sqlite_ratelimit_purge,
    .place_create = sqlite_place_create,
    .place_update = sqlite_place_update,
    .place_by_uuid = sqlite_place_by_uuid,
    .place_by_id = sqlite_place_by_id,
    .place_by_gss = sqlite_place_by_gss,
    .place_list_page = sqlite_place_list_page,
    .place_count = sqlite_place_count,
    .audit_list_page = sqlite_audit_list_page,
    .audit_count = sqlite_audit_count,
    .dir = &store_sqlite_dir_ops,
    .job_enqueue = store_sqlite_job_enqueue,
    .job_claim = store_sqlite_job_claim,
    .job_complete = store_sqlite_job_complete,
    .job_fail = store_sqlite_job_fail,
    .copy_tables = store_sqlite_copy_tables,
    .copy_references = store_sqlite_copy_references,
    .copy_columns = store_sqlite_copy_columns,
    .copy_scan = store_sqlite_copy_scan,
    .copy_load_begin = store_sqlite_copy_load_begin,
    .copy_load_row = store_sqlite_copy_load_row,
    .copy_load_end = store_sqlite_copy_load_end,
};

/* Applies the migrations this database lacks. Each runs under BEGIN IMMEDIATE and
 * re-checks whether it is applied, so two processes starting at once on the same file
 * apply each migration exactly once. */
static int migrate(sqlite3 *db, int *busy_out, char *err, size_t errlen) {
    char msg[200];
    int last = 0; /* the SQLite result code of the step that failed */
    *busy_out = 0;
    if ((last = exec_sql(db,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 "  version INTEGER PRIMARY KEY,"
                 "  applied_at BIGINT NOT NULL)",
                 msg, sizeof msg))) {
        snprintf(err, errlen, "cannot create schema_migrations: %s", msg);
        *busy_out = is_busy(last);
        return -1;
    }
    sqlite3_stmt *has = NULL, *add = NULL, *max = NULL;
    int result = -1;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?1", -1,
                           &has, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO schema_migrations (version, applied_at) "
                               "VALUES (?1, ?2)", -1, &add, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1,
                           &max, NULL) != SQLITE_OK) {
        last = sqlite3_errcode(db);
        snprintf(err, errlen, "migrations: %s", sqlite3_errmsg(db));
        goto out;
    }
    if (sqlite3_step(max) != SQLITE_ROW) {
        last = sqlite3_errcode(db);
        snprintf(err, errlen, "migrations: %s", sqlite3_errmsg(db));
        goto out;
    }
    int64_t newest = sqlite3_column_int64(max, 0);
    if (newest > store_sqlite_migration_count) {
        snprintf(err, errlen,
                 "the database is at schema version %" PRId64 " but this program knows only "
                 "%d migrations: it was written by a newer Common Ground",
                 newest, store_sqlite_migration_count);
        goto out;
    }
    for (int v = 1; v <= store_sqlite_migration_count; v++) {
        if ((last = exec_sql(db, "BEGIN IMMEDIATE", msg, sizeof msg))) {
            snprintf(err, errlen, "migration %d: %s", v, msg);
            goto out;
        }
        sqlite3_bind_int(has, 1, v);
        int applied = sqlite3_step(has) == SQLITE_ROW && sqlite3_column_int(has, 0) > 0;
        sqlite3_reset(has);
        if (!applied) {
            if ((last = exec_sql(db, store_sqlite_migrations[v - 1], msg, sizeof msg))) {
                snprintf(err, errlen, "migration %d failed: %s", v, msg);
                exec_sql(db, "ROLLBACK", NULL, 0);
                goto out;
            }
            sqlite3_bind_int(add, 1, v);
            sqlite3_bind_int64(add, 2, now_utc());
            int rc = sqlite3_step(add);
            sqlite3_reset(add);
            if (rc != SQLITE_DONE) {
                last = rc;
                snprintf(err, errlen, "migration %d: %s", v, sqlite3_errmsg(db));
                exec_sql(db, "ROLLBACK", NULL, 0);
                goto out;
            }
            log_info("store: applied migration %d", v);
        }
        if ((last = exec_sql(db, "COMMIT", msg, sizeof msg))) {
            snprintf(err, errlen, "migration %d: %s", v, msg);
            exec_sql(db, "ROLLBACK", NULL, 0);
            goto out;
        }
    }
    result = 0;
out:
    if (result != 0) *busy_out = is_busy(last);
    sqlite3_finalize(has);
    sqlite3_finalize(add);
    sqlite3_finalize(max);
    return result;
}

/* Puts the file in WAL mode: readers then proceed while one writer commits. It is a
 * property of the file, so doing it once here covers every later connection. */
static int set_wal(sqlite3 *db, int *busy_out, char *err, size_t errlen) {
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (wal) return 0;
    *busy_out = is_busy(rc) || (mode && rc == SQLITE_ROW); /* still "delete": retry */
    snprintf(err, errlen, "cannot switch to WAL mode: %s",
             mode ? mode : sqlite3_errstr(rc));
    return -1;
}

int store_sqlite_open(const char *path, const store_ops **ops, void **impl, char *err,
                      size_t errlen) {
    sqlite_backend *b = xcalloc(1, sizeof *b);
    b->path = xstrdup(path);
    pthread_mutex_init(&b->mu, NULL);
    pthread_mutex_init(&b->write_mu, NULL);
    if (pthread_key_create(&b->key, conn_thread_exit) != 0) {
        snprintf(err, errlen, "cannot create a thread key");
        pthread_mutex_destroy(&b->mu);
        pthread_mutex_destroy(&b->write_mu);
        free(b->path);
        free(b);
        return STORE_ERROR;
    }
    char msg[1024];
    conn *c = conn_open(b, 1, msg, sizeof msg);
    if (!c) {
        snprintf(err, errlen, "%s", msg);
        sqlite_close(b);
        return STORE_ERROR;
    }
    pthread_setspecific(b->key, c);
    /* Several processes (or store handles) may open a new file at once; the one that
     * converts it to WAL or migrates it can make the others fail with BUSY at once,
     * without waiting in the busy handler. Those retry until the busy timeout. */
    for (int waited_ms = 0;; waited_ms += 20) {
        int busy = 0;
        if (set_wal(c->db, &busy, msg, sizeof msg) == 0 &&
            migrate(c->db, &busy, msg, sizeof msg) == 0)
            break;
        if (!busy || waited_ms >= BUSY_TIMEOUT_MS) {
            snprintf(err, errlen, "%s: %s", path, msg);
            sqlite_close(b);
            return STORE_ERROR;
        }
        sqlite3_sleep(20);
    }
    *ops = &sqlite_ops;
    *impl = b;
    return STORE_OK;
}
