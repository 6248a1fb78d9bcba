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
 * Statements. Every SQL statement is an entry of an enum-indexed table (after kcgi's
 * sqlbox): `sql` below for this file's own, `shared_sql` for the operations store.c
 * runs over this backend's statement primitives (backend.h), and sqlite_directory.c's
 * for the directory's. A connection prepares an entry the first time it needs it and
 * keeps it; after every use the statement is reset and its bindings cleared, so
 * nothing carries over to the next call.
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

#define USER_COLS "id, uuid, email, display_name, password_hash, role, created_at, must_change_password"
#define PLACE_SELECT                                                                     \
    "SELECT p.id, p.uuid, p.parent_id, pp.uuid, pp.name, p.kind, p.name, p.gss_code, "    \
    "p.description, (SELECT COUNT(*) FROM places c WHERE c.parent_id = p.id), "            \
    "p.created_at, p.updated_at, p.updated_by "                                            \
    "FROM places p LEFT JOIN places pp ON pp.id = p.parent_id "

/* What only this file runs. */
enum stmt_id {
    OWN_BEGIN,
    OWN_BEGIN_IMMEDIATE,
    OWN_COMMIT,
    OWN_ROLLBACK,
    OWN_PING,
    OWN_SCHEMA_VERSION,
    OWN__COUNT
};

static const char *const sql[OWN__COUNT] = {
    [OWN_BEGIN] = "BEGIN",
    [OWN_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [OWN_COMMIT] = "COMMIT",
    [OWN_ROLLBACK] = "ROLLBACK",
    /* Reads a table, so the answer proves the file itself is readable. */
    [OWN_PING] = "SELECT COUNT(*) FROM (SELECT version FROM schema_migrations LIMIT 1)",
    [OWN_SCHEMA_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
};

/* The statements of store.c (enum store_stmt, backend.h). */
static const char *const shared_sql[ST__COUNT] = {
    [ST_AUDIT_INSERT] = "INSERT INTO audit_log (at, user_id, ip, action, entity_type, "
                        "entity_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_USER_INSERT] = "INSERT INTO users (uuid, email, display_name, password_hash, role, "
                       "created_at, must_change_password) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                       "RETURNING id",
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email = ?1",
    [ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    /* One writer at a time: a row read in a write transaction cannot change under it. */
    [ST_USER_LOCK] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [ST_USER_BY_UUID] = "SELECT " USER_COLS " FROM users WHERE uuid = ?1",
    [ST_USER_PAGE] = "SELECT " USER_COLS " FROM users ORDER BY created_at, id "
                     "LIMIT ?1 OFFSET ?2",
    [ST_USER_COUNT] = "SELECT COUNT(*) FROM users",
    [ST_USER_SET_ROLE] = "UPDATE users SET role = ?2 WHERE id = ?1",
    [ST_ADMIN_COUNT] = "SELECT count(*) FROM users WHERE role = 'admin'",
    [ST_USER_SET_PASSWORD] = "UPDATE users SET password_hash = ?2, must_change_password = 0 WHERE id = ?1",
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
    [ST_PLACE_PAGE_ALL] = PLACE_SELECT "ORDER BY p.name, p.id LIMIT ?1 OFFSET ?2",
    [ST_PLACE_PAGE_ROOTS] = PLACE_SELECT "WHERE p.parent_id IS NULL "
                                         "ORDER BY p.name, p.id LIMIT ?1 OFFSET ?2",
    [ST_PLACE_PAGE_CHILDREN] = PLACE_SELECT "WHERE p.parent_id = ?3 "
                                            "ORDER BY p.name, p.id LIMIT ?1 OFFSET ?2",
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
    sqlite3_stmt *stmts[OWN__COUNT]; /* prepared on first use */
    sqlite_backend *owner;
    int holds_write;       /* this connection holds owner->write_mu */
    sqlite3_stmt *shared[D__COUNT]; /* store.c's and store_directory.c's, on first use */
    int dir_used;                   /* the directory has run a statement on it */
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
    for (int i = 0; i < OWN__COUNT; i++) sqlite3_finalize(c->stmts[i]);
    for (int i = 0; i < D__COUNT; i++) sqlite3_finalize(c->shared[i]);
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
    sqlite3_stmt *st = stmt(c, write ? OWN_BEGIN_IMMEDIATE : OWN_BEGIN);
    int rc = st ? step_done(c, st, "begin") : STORE_ERROR;
    if (rc != STORE_OK) {
        write_unlock(c);
        rc = STORE_ERROR;
    }
    return rc;
}

static int tx_commit(conn *c) {
    sqlite3_stmt *st = stmt(c, OWN_COMMIT);
    int rc = st ? step_done(c, st, "commit") : STORE_ERROR;
    if (rc != STORE_OK && !sqlite3_get_autocommit(c->db)) {
        sqlite3_stmt *rb = stmt(c, OWN_ROLLBACK);
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
        sqlite3_stmt *rb = stmt(c, OWN_ROLLBACK);
        if (!rb || step_done(c, rb, "rollback") != STORE_OK)
            log_error("store: rollback failed: %s", sqlite3_errmsg(c->db));
    }
    write_unlock(c);
    return rc;
}

#define BACKEND(impl) ((sqlite_backend *)(impl))

/* ---- Shared with sqlite_directory.c (sqlite_internal.h) -------------------------- */

sqlite3 *store_sqlite_conn(void *impl) {
    conn *c = conn_get(BACKEND(impl));
    return c ? c->db : NULL;
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
#define STMT(var, id)                                                                              \
    sqlite3_stmt *var = stmt(c, id);                                                               \
    if (!var) return STORE_ERROR
static int64_t now_utc(void) { return (int64_t)time(NULL); }

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
    STMT(st, OWN_PING);
    int64_t one = 0;
    return step_int64(c, st, &one, "ping") == STORE_OK && one == 1 ? STORE_OK : STORE_ERROR;
}

static int sqlite_schema_version(void *impl, int *version_out) {
    CONN_OR_FAIL(impl);
    STMT(st, OWN_SCHEMA_VERSION);
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

static const store_ops sqlite_ops;

/* ---- Statement primitives (store_ops; backend.h) -------------------------------- */

static int sq_conn(void *impl, store_conn *sc) {
    conn *c = conn_get(BACKEND(impl));
    if (!c) return STORE_ERROR;
    sc->ops = &sqlite_ops;
    sc->impl = impl;
    sc->conn = c;
    sc->mode = -1;
    return STORE_OK;
}

/* The directory's statements run on the same connections. */
int store_sqlite_dir_conn(void *impl, store_conn *sc) {
    if (sq_conn(impl, sc) != STORE_OK) return STORE_ERROR;
    conn *c = sc->conn;
    if (!c->dir_used) {
        c->dir_used = 1;
        /* First directory use of this connection. A page of services and a search read
         * pages all over a database of tens of MB; with SQLite's default 2 MB page cache
         * per connection each miss is a pread() system call, which cost more than the
         * queries themselves under load. Memory-mapping the file lets every connection
         * read the operating system's one cached copy directly. Advisory: a failure
         * leaves the connection as it was. */
        sqlite3_exec(c->db, "PRAGMA mmap_size=268435456", NULL, NULL, NULL);
    }
    return STORE_OK;
}

static int sq_begin(store_conn *sc, int mode) {
    conn *c = sc->conn;
    int rc = STORE_OK;
    if (mode == STORE_TX_ONE)
        write_lock(c); /* autocommit, queued behind the other writers */
    else
        rc = tx_begin(c, mode == STORE_TX_WRITE);
    if (rc == STORE_OK) sc->mode = mode;
    return rc;
}

static int sq_end(store_conn *sc, int rc) {
    conn *c = sc->conn;
    if (sc->mode == STORE_TX_ONE)
        write_unlock(c);
    else if (sc->mode >= 0)
        rc = tx_end(c, rc);
    sc->mode = -1;
    return rc;
}

/* SQLite's single writer (and write_mu) serialise what PostgreSQL locks. */
static int sq_lock(store_conn *sc, int what, const char *key) {
    (void)sc;
    (void)what;
    (void)key;
    return STORE_OK;
}

/* Prepares on first use; text parameters are bound SQLITE_STATIC, as they live until
 * the statement is done. */
static int sq_step(store_conn *sc, store_st *s) {
    conn *c = sc->conn;
    sqlite3_stmt *st = s->h;
    if (!st) {
        if (!c->shared[s->id]) {
            const char *text = s->id < ST__COUNT ? shared_sql[s->id] : store_sqlite_dir_sql[s->id];
            if (!text || sqlite3_prepare_v3(c->db, text, -1, SQLITE_PREPARE_PERSISTENT,
                                            &c->shared[s->id], NULL) != SQLITE_OK) {
                log_error("store: preparing statement %d: %s", s->id, sqlite3_errmsg(c->db));
                c->shared[s->id] = NULL;
                s->rc = STORE_ERROR;
                return STORE_STEP_ERR;
            }
        }
        st = c->shared[s->id];
        for (int i = 0; i < s->n; i++) {
            const store_param *p = &s->p[i];
            int brc;
            if (p->type == SP_TEXT)
                brc = sqlite3_bind_text(st, i + 1, p->s, -1, SQLITE_STATIC);
            else if (p->type == SP_INT)
                brc = sqlite3_bind_int64(st, i + 1, p->i);
            else if (p->type == SP_DOUBLE)
                brc = sqlite3_bind_double(st, i + 1, p->d);
            else
                brc = sqlite3_bind_null(st, i + 1);
            /* One bind layer serves two SQL tables: a parameter this dialect's text
             * lacks is a bug to report, not a value to drop (PostgreSQL refuses it too). */
            if (brc != SQLITE_OK) {
                log_error("store: binding parameter %d of statement %d: %s", i + 1, s->id,
                          sqlite3_errstr(brc));
                sqlite3_clear_bindings(st);
                s->rc = STORE_ERROR;
                return STORE_STEP_ERR;
            }
        }
        s->h = st;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return STORE_STEP_ROW;
    if (rc == SQLITE_DONE) return STORE_STEP_DONE;
    s->rc = map_rc(c, rc, s->what ? s->what : "statement");
    return STORE_STEP_ERR;
}

static void sq_done(store_conn *sc, store_st *s) {
    (void)sc;
    if (s->h) done(s->h);
    s->h = NULL;
}

static int64_t sq_changes(store_conn *sc, const store_st *s) {
    (void)s;
    return sqlite3_changes(((conn *)sc->conn)->db);
}

static int sq_col_null(const store_st *s, int i) {
    return sqlite3_column_type(s->h, i) == SQLITE_NULL;
}
static int64_t sq_col_int(const store_st *s, int i) { return sqlite3_column_int64(s->h, i); }
static double sq_col_double(const store_st *s, int i) { return sqlite3_column_double(s->h, i); }
static const char *sq_col_text(const store_st *s, int i, arena *a) {
    const unsigned char *t = sqlite3_column_text(s->h, i);
    if (!t) return NULL;
    return arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(s->h, i));
}

/* ---- Opening and migrations ----------------------------------------------------- */

static const store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .ping = sqlite_ping,
    .backup = sqlite_backup,
    .schema_version = sqlite_schema_version,
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
    .conn = sq_conn,
    .begin = sq_begin,
    .end = sq_end,
    .lock = sq_lock,
    .step = sq_step,
    .done = sq_done,
    .changes = sq_changes,
    .col_null = sq_col_null,
    .col_int = sq_col_int,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
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
