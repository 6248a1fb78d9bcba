/*
 * postgres: the PostgreSQL backend of the store contract (store.h, backend.h), on
 * libpq. Several `commonground serve` processes can share one database through it.
 *
 * Connections. A libpq connection must not be used by two threads at once, so, as in
 * the SQLite backend, each thread gets its own connection on first use (a pthread
 * key), kept until the thread exits or store_close closes them all. A connection
 * found broken (server restarted, network cut) is reset once before use; its prepared
 * statements are then prepared again.
 *
 * Statements. Every statement is an entry of an enum-indexed table with $n
 * parameters: `sql` below for this file's own, `shared_sql` for the operations store.c
 * runs over this backend's statement primitives (backend.h), and
 * postgres_directory.c's for the directory's. A connection prepares an entry
 * (PQprepare, name "cgN", or "cgsN" for the shared ones) the first time it needs it. Parameters
 * travel as text and results come back as text, which is also how the SQLite backend reads numbers:
 * nothing depends on PostgreSQL's binary formats.
 *
 * Transactions and isolation. Each contract operation is one transaction, committed
 * before the call returns (so a write acknowledged to a user is committed; the
 * server's synchronous_commit decides when that is durable, "on" by default).
 *   - Single-statement writes run in autocommit.
 *   - Read-modify-write operations run in READ COMMITTED and lock what they read:
 *     SELECT ... FOR UPDATE for the row whose old value goes into the audit entry,
 *     a transaction-scoped advisory lock per rate-limit key (so counts are exact
 *     under concurrency), one for changes to the place tree (so two concurrent moves
 *     cannot together make a cycle that neither makes alone), and one for role changes
 *     (so two admins demoting each other cannot both pass the last-admin check).
 *     SQLite gets the same guarantees from its single writer.
 *   - Reads of more than one statement (a page and its total) run in REPEATABLE READ
 *     READ ONLY: one snapshot, and such transactions never fail to serialise. The
 *     list of places (the home page) is one statement with COUNT(*) OVER (), so it
 *     needs no BEGIN and COMMIT round trips.
 * The audit entry of a change is written in the change's transaction. The locks are
 * taken through store_ops.lock by the operations in store.c and store_directory.c.
 *
 * Errors. SQLSTATE class 23 maps to the contract: unique_violation (23505) is
 * STORE_CONFLICT; foreign key, check and not-null violations are STORE_INVALID.
 * Anything else is logged and returned as STORE_ERROR.
 */
#include "store/postgres.h"

#include "store/backend_directory.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/rand.h"
#include "core/xalloc.h"

/* Keys of the advisory locks this backend takes (any constants unlikely to clash with
 * another application sharing the database). */
#define LOCK_MIGRATIONS 0x436f6d6d6f6e01LL /* session lock while migrating */
#define LOCK_PLACE_TREE 0x436f6d6d6f6e02LL /* transaction lock for place writes */
#define LOCK_ROLES 0x436f6d6d6f6e03LL      /* transaction lock for role changes */
#define LOCK_DIRECTORY 4426031000585474051LL /* transaction lock for directory writes */

/* ---- Statements ----------------------------------------------------------------- */

#define USER_COLS "id, uuid, email, display_name, password_hash, role, created_at, must_change_password"
#define PLACE_SELECT                                                                               \
    "SELECT p.id, p.uuid, p.parent_id, pp.uuid, pp.name, p.kind, p.name, p.gss_code, "             \
    "p.description, (SELECT COUNT(*) FROM places c WHERE c.parent_id = p.id), "                    \
    "p.created_at, p.updated_at, p.updated_by "                                                    \
    "FROM places p LEFT JOIN places pp ON pp.id = p.parent_id "
#define PLACE_ORDER "ORDER BY p.name COLLATE \"C\", p.id "
/* A page of places with, in a 14th column, how many match in all: one statement, so
 * one snapshot without BEGIN and COMMIT (two round trips fewer on the home page). */
#define PLACE_PAGE                                                                                 \
    "SELECT p.id, p.uuid, p.parent_id, pp.uuid, pp.name, p.kind, p.name, p.gss_code, "             \
    "p.description, (SELECT COUNT(*) FROM places c WHERE c.parent_id = p.id), "                    \
    "p.created_at, p.updated_at, p.updated_by, COUNT(*) OVER () "                                  \
    "FROM places p LEFT JOIN places pp ON pp.id = p.parent_id "

/* What only this file runs. */
enum stmt_id {
    OWN_PING,
    OWN_SCHEMA_VERSION,
    OWN_XACT_LOCK,
    OWN_RL_LOCK,
    OWN_JOB_INSERT,
    OWN_JOB_CLAIM,
    OWN_JOB_COMPLETE,
    OWN_JOB_FAIL,
    OWN_COPY_TABLES,
    OWN_COPY_REFERENCES,
    OWN_COPY_COLUMNS,
    OWN_COPY_IDENTITIES,
    OWN__COUNT
};

static const char *const sql[OWN__COUNT] = {
    [OWN_PING] = "SELECT COUNT(*) FROM (SELECT version FROM schema_migrations LIMIT 1) t",
    [OWN_SCHEMA_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
    [OWN_XACT_LOCK] = "SELECT pg_advisory_xact_lock($1)",
    [OWN_RL_LOCK] = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
    [OWN_JOB_INSERT] = "INSERT INTO jobs (kind, payload, state, run_after, created_at) "
                       "VALUES ($1, $2, 'queued', $3, $4) RETURNING id",
    /* SKIP LOCKED: a claimer passes over rows another claimer's transaction holds,
     * instead of waiting for it and then finding the job gone. */
    [OWN_JOB_CLAIM] = "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                      "locked_by = $2, locked_until = $3::bigint + $4::bigint "
                      "WHERE id = (SELECT id FROM jobs WHERE "
                      "((state = 'queued' AND run_after <= $3::bigint) OR "
                      " (state = 'running' AND locked_until <= $3::bigint)) "
                      "AND ($1::text IS NULL OR kind = $1::text) ORDER BY run_after, id "
                      "LIMIT 1 FOR UPDATE SKIP LOCKED) "
                      "RETURNING id, kind, payload, attempts",
    [OWN_JOB_COMPLETE] = "UPDATE jobs SET state = 'done', finished_at = $3, locked_until = NULL "
                         "WHERE id = $1 AND state = 'running' AND locked_by = $2",
    [OWN_JOB_FAIL] = "UPDATE jobs SET last_error = $4, locked_until = NULL, "
                     "state = CASE WHEN $5::bigint > 0 THEN 'queued' ELSE 'failed' END, "
                     "run_after = CASE WHEN $5::bigint > 0 THEN $5::bigint ELSE run_after END, "
                     "finished_at = CASE WHEN $5::bigint > 0 THEN NULL ELSE $3::bigint END "
                     "WHERE id = $1 AND state = 'running' AND locked_by = $2",
    /* The catalogue, for store_copy. dir_service_search is derived (rebuilt). */
    [OWN_COPY_TABLES] = "SELECT c.relname FROM pg_class c "
                        "WHERE c.relnamespace = current_schema()::regnamespace "
                        "AND c.relkind IN ('r', 'p') "
                        "AND c.relname NOT IN ('schema_migrations', 'dir_service_search') "
                        "ORDER BY 1",
    [OWN_COPY_REFERENCES] = "SELECT DISTINCT f.relname FROM pg_constraint k "
                            "JOIN pg_class c ON c.oid = k.conrelid "
                            "JOIN pg_class f ON f.oid = k.confrelid "
                            "WHERE k.contype = 'f' AND c.relname = $1 "
                            "AND c.relnamespace = current_schema()::regnamespace",
    [OWN_COPY_COLUMNS] = "SELECT a.attname FROM pg_attribute a "
                         "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname = $1 "
                         "AND c.relnamespace = current_schema()::regnamespace "
                         "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
                         "ORDER BY a.attnum",
    /* One statement per identity column that moves its sequence past the copied ids;
     * format() quotes the names. */
    [OWN_COPY_IDENTITIES] = "SELECT format('SELECT setval(%L, COALESCE((SELECT MAX(%I) "
                            "FROM %I), 0) + 1, false)', "
                            "pg_get_serial_sequence(quote_ident(table_name), column_name), "
                            "column_name, table_name) FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND is_identity = 'YES'",
};

/* The statements of store.c (enum store_stmt, backend.h). */
static const char *const shared_sql[ST__COUNT] = {
    [ST_AUDIT_INSERT] = "INSERT INTO audit_log (at, user_id, ip, action, entity_type, "
                        "entity_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [ST_USER_INSERT] = "INSERT INTO users (uuid, email, display_name, password_hash, role, "
                       "created_at, must_change_password) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                       "RETURNING id",
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email = $1",
    [ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = $1",
    [ST_USER_LOCK] = "SELECT " USER_COLS " FROM users WHERE id = $1 FOR UPDATE",
    [ST_USER_BY_UUID] = "SELECT " USER_COLS " FROM users WHERE uuid = $1",
    [ST_USER_PAGE] = "SELECT " USER_COLS " FROM users ORDER BY created_at, id "
                     "LIMIT $1 OFFSET $2",
    [ST_USER_COUNT] = "SELECT COUNT(*) FROM users",
    [ST_USER_SET_ROLE] = "UPDATE users SET role = $2 WHERE id = $1",
    [ST_ADMIN_COUNT] = "SELECT COUNT(*) FROM users WHERE role = 'admin'",
    [ST_USER_SET_PASSWORD] = "UPDATE users SET password_hash = $2, must_change_password = 0 WHERE id = $1",
    [ST_USER_SET_NAME] = "UPDATE users SET display_name = $2 WHERE id = $1",
    [ST_SESSION_INSERT] = "INSERT INTO sessions (token_hash, user_id, csrf_token, lang, "
                          "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    [ST_SESSION_GET] = "SELECT user_id, csrf_token, lang, expires_at, created_at "
                       "FROM sessions WHERE token_hash = $1 AND expires_at > $2",
    [ST_SESSION_OWNER] = "SELECT s.user_id, u.uuid FROM sessions s "
                         "LEFT JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 "
                         "FOR UPDATE OF s",
    [ST_SESSION_EXTEND] = "UPDATE sessions SET expires_at = $2 WHERE token_hash = $1",
    [ST_SESSION_SET_LANG] = "UPDATE sessions SET lang = $2 WHERE token_hash = $1",
    [ST_SESSION_DELETE] = "DELETE FROM sessions WHERE token_hash = $1",
    [ST_SESSION_DELETE_USER] = "DELETE FROM sessions WHERE user_id = $1",
    [ST_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_at <= $1",
    [ST_RL_FORGET_OLD] = "DELETE FROM ratelimit_hits WHERE key = $1 AND at <= $2",
    [ST_RL_INSERT] = "INSERT INTO ratelimit_hits (key, at) VALUES ($1, $2)",
    [ST_RL_COUNT] = "SELECT COUNT(*) FROM ratelimit_hits WHERE key = $1 AND at > $2",
    [ST_RL_CLEAR] = "DELETE FROM ratelimit_hits WHERE key = $1",
    [ST_RL_PURGE] = "DELETE FROM ratelimit_hits WHERE at <= $1",
    [ST_PLACE_INSERT] = "INSERT INTO places (uuid, parent_id, kind, name, gss_code, "
                        "description, created_at, updated_at, updated_by) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING id",
    [ST_PLACE_UPDATE] = "UPDATE places SET parent_id = $2, kind = $3, name = $4, "
                        "gss_code = $5, description = $6, updated_at = $7, updated_by = $8 "
                        "WHERE id = $1",
    [ST_PLACE_BY_ID] = PLACE_SELECT "WHERE p.id = $1",
    [ST_PLACE_BY_UUID] = PLACE_SELECT "WHERE p.uuid = $1",
    [ST_PLACE_BY_GSS] = PLACE_SELECT "WHERE p.gss_code = $1",
    /* Is $2 among $1 and its ancestors? UNION stops the walk even on a cycle. */
    [ST_PLACE_IS_ANCESTOR] = "WITH RECURSIVE anc(id) AS (SELECT $1::bigint UNION "
                             "SELECT p.parent_id FROM places p JOIN anc ON p.id = anc.id "
                             "WHERE p.parent_id IS NOT NULL) "
                             "SELECT COUNT(*) FROM anc WHERE id = $2",
    [ST_PLACE_PAGE_ALL] = PLACE_PAGE PLACE_ORDER "LIMIT $1 OFFSET $2",
    [ST_PLACE_PAGE_ROOTS] =
        PLACE_PAGE "WHERE p.parent_id IS NULL " PLACE_ORDER "LIMIT $1 OFFSET $2",
    [ST_PLACE_PAGE_CHILDREN] =
        PLACE_PAGE "WHERE p.parent_id = $3 " PLACE_ORDER "LIMIT $1 OFFSET $2",
    [ST_PLACE_COUNT_ALL] = "SELECT COUNT(*) FROM places",
    [ST_PLACE_COUNT_ROOTS] = "SELECT COUNT(*) FROM places WHERE parent_id IS NULL",
    [ST_PLACE_COUNT_CHILDREN] = "SELECT COUNT(*) FROM places WHERE parent_id = $1",
    [ST_AUDIT_PAGE] = "SELECT a.id, a.at, a.user_id, u.display_name, a.ip, a.action, "
                      "a.entity_type, a.entity_id, a.detail FROM audit_log a "
                      "LEFT JOIN users u ON u.id = a.user_id "
                      "ORDER BY a.id DESC LIMIT $1 OFFSET $2",
    [ST_AUDIT_COUNT] = "SELECT COUNT(*) FROM audit_log",
};

/* ---- Connections ---------------------------------------------------------------- */

typedef struct pg_backend pg_backend;

typedef struct conn {
    PGconn *db;
    unsigned char prepared[OWN__COUNT];
    unsigned char shared_prepared[D__COUNT]; /* store.c's and store_directory.c's */
    pg_backend *owner;
    struct conn *prev, *next;
} conn;

struct pg_backend {
    char *url;
    pthread_key_t key;  /* this thread's conn */
    pthread_mutex_t mu; /* guards conns */
    conn *conns;
};

static void conn_close(conn *c) {
    PQfinish(c->db);
    free(c);
}

static void conn_unlink(pg_backend *b, conn *c) {
    pthread_mutex_lock(&b->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        b->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&b->mu);
}

static void conn_thread_exit(void *p) {
    conn *c = p;
    conn_unlink(c->owner, c);
    conn_close(c);
}

/* Ignores the server's NOTICE messages (e.g. "relation already exists, skipping"). */
static void quiet_notices(void *arg, const char *message) {
    (void)arg;
    (void)message;
}

static PGconn *connect_db(const char *url, char *err, size_t errlen) {
    PGconn *db = PQconnectdb(url);
    if (!db) {
        log_error("store: out of memory connecting to PostgreSQL");
        abort();
    }
    if (PQstatus(db) != CONNECTION_OK) {
        const char *m = PQerrorMessage(db);
        size_t n = strlen(m);
        while (n && (m[n - 1] == '\n' || m[n - 1] == ' ')) n--;
        snprintf(err, errlen, "cannot connect to PostgreSQL: %.*s", (int)n, m);
        PQfinish(db);
        return NULL;
    }
    PQsetNoticeProcessor(db, quiet_notices, NULL);
    return db;
}

static conn *conn_open(pg_backend *b, char *err, size_t errlen) {
    PGconn *db = connect_db(b->url, err, errlen);
    if (!db) return NULL;
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

/* This thread's connection, opened on first use and reset if it broke; NULL (logged)
 * when the database cannot be reached. */
static conn *conn_get(pg_backend *b) {
    conn *c = pthread_getspecific(b->key);
    if (c && PQstatus(c->db) != CONNECTION_OK) {
        PQreset(c->db);
        memset(c->prepared, 0, sizeof c->prepared);
        memset(c->shared_prepared, 0, sizeof c->shared_prepared);
        if (PQstatus(c->db) != CONNECTION_OK) {
            log_error("store: PostgreSQL connection lost: %s", PQerrorMessage(c->db));
            return NULL;
        }
        PQsetNoticeProcessor(c->db, quiet_notices, NULL);
    }
    if (c) return c;
    char err[512];
    c = conn_open(b, err, sizeof err);
    if (!c) {
        log_error("store: %s", err);
        return NULL;
    }
    pthread_setspecific(b->key, c);
    return c;
}

/* ---- Running statements --------------------------------------------------------- */

#define MAX_PARAMS 10

/* The parameters of one statement, as text; NULL is SQL NULL. */
typedef struct params {
    const char *v[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    int n;
} params;

static void p_text(params *p, const char *s) {
    assert(p->n < MAX_PARAMS);
    p->v[p->n++] = s;
}

static void p_int(params *p, int64_t x) {
    assert(p->n < MAX_PARAMS);
    snprintf(p->num[p->n], sizeof p->num[p->n], "%" PRId64, x);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

/* Maps a failed result to the contract's codes; logs real errors. */
static int map_error(const PGresult *r, conn *c, const char *what) {
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "23505") == 0) return STORE_CONFLICT;
    if (state &&
        (strcmp(state, "23503") == 0 || strcmp(state, "23514") == 0 || strcmp(state, "23502") == 0))
        return STORE_INVALID;
    log_error("store: %s: %s", what,
              r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(c->db));
    return STORE_ERROR;
}

/* Runs statement id with parameters p. On success returns the result (caller
 * PQclears it) and *rc = STORE_OK; on failure returns NULL with *rc set. */
static PGresult *run(conn *c, enum stmt_id id, const params *p, int *rc, const char *what) {
    char name[16];
    snprintf(name, sizeof name, "cg%d", (int)id);
    if (!c->prepared[id]) {
        PGresult *r = PQprepare(c->db, name, sql[id], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            *rc = map_error(r, c, "preparing a statement");
            PQclear(r);
            return NULL;
        }
        PQclear(r);
        c->prepared[id] = 1;
    }
    PGresult *r = PQexecPrepared(c->db, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        *rc = STORE_OK;
        return r;
    }
    *rc = map_error(r, c, what);
    PQclear(r);
    return NULL;
}

/* A statement whose rows do not matter; *changed_out (may be NULL) = rows affected. */
static int run_done(conn *c, enum stmt_id id, const params *p, int64_t *changed_out,
                    const char *what) {
    int rc;
    PGresult *r = run(c, id, p, &rc, what);
    if (!r) return rc;
    if (changed_out) *changed_out = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

static int64_t val_int(const PGresult *r, int row, int col) {
    if (PQgetisnull(r, row, col)) return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *val_text(const PGresult *r, int row, int col, arena *a) { /* NULL stays NULL */
    if (PQgetisnull(r, row, col)) return NULL;
    return arena_strndup(a, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/* A statement returning one integer (COUNT(*), RETURNING id); STORE_NOT_FOUND when it
 * returns no row. */
static int run_int64(conn *c, enum stmt_id id, const params *p, int64_t *out, const char *what) {
    int rc;
    PGresult *r = run(c, id, p, &rc, what);
    if (!r) return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK) *out = val_int(r, 0, 0);
    PQclear(r);
    return rc;
}

/* Runs plain SQL text without parameters (transaction control, migrations). */
static int exec_text(conn *c, const char *text, const char *what) {
    PGresult *r = PQexec(c->db, text);
    ExecStatusType st = PQresultStatus(r);
    int rc = STORE_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) rc = map_error(r, c, what);
    PQclear(r);
    return rc;
}

enum tx_mode { TX_WRITE, TX_READ };

static int tx_begin(conn *c, enum tx_mode mode) {
    int rc = exec_text(
        c, mode == TX_WRITE ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
    return rc == STORE_OK ? STORE_OK : STORE_ERROR;
}

/* Commits when rc is STORE_OK, rolls back otherwise; returns the final result. */
static int tx_end(conn *c, int rc) {
    if (rc == STORE_OK) {
        if (exec_text(c, "COMMIT", "commit") != STORE_OK) rc = STORE_ERROR;
        /* A COMMIT of a failed transaction answers ROLLBACK without an error. */
        else if (PQtransactionStatus(c->db) != PQTRANS_IDLE)
            rc = STORE_ERROR;
    }
    if (PQtransactionStatus(c->db) != PQTRANS_IDLE) exec_text(c, "ROLLBACK", "rollback");
    return rc;
}

#define BACKEND(impl) ((pg_backend *)(impl))
#define CONN_OR_FAIL(impl)                                                                         \
    conn *c = conn_get(BACKEND(impl));                                                             \
    if (!c) return STORE_ERROR

/* ---- Lifecycle ------------------------------------------------------------------ */

static void pg_close(void *impl) {
    pg_backend *b = impl;
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
    free(b->url);
    free(b);
}

static int pg_ping(void *impl) {
    CONN_OR_FAIL(impl);
    int64_t one = 0;
    return run_int64(c, OWN_PING, NULL, &one, "ping") == STORE_OK && one == 1 ? STORE_OK
                                                                              : STORE_ERROR;
}

static int pg_schema_version(void *impl, int *version_out) {
    CONN_OR_FAIL(impl);
    int64_t v = 0;
    int rc = run_int64(c, OWN_SCHEMA_VERSION, NULL, &v, "schema version");
    if (rc == STORE_OK) *version_out = (int)v;
    return rc;
}

static int pg_backup(void *impl, const char *dest_path, char *err, size_t errlen) {
    (void)impl;
    (void)dest_path;
    snprintf(err, errlen,
             "backup: the database is PostgreSQL; back it up with pg_dump "
             "(see docs/operations.md)");
    return STORE_ERROR;
}

static const store_ops pg_ops;

static int64_t now_utc(void) { return (int64_t)time(NULL); }

/* ---- Statement primitives (store_ops; backend.h) -------------------------------- */

static int pg_conn(void *impl, store_conn *sc) {
    conn *c = conn_get(BACKEND(impl));
    if (!c) return STORE_ERROR;
    sc->ops = &pg_ops;
    sc->impl = impl;
    sc->conn = c;
    sc->mode = -1;
    return STORE_OK;
}

int store_pg_dir_conn(void *impl, store_conn *sc) { return pg_conn(impl, sc); }

static int pg_begin(store_conn *sc, int mode) {
    int rc = STORE_OK;
    if (mode != STORE_TX_ONE) rc = tx_begin(sc->conn, mode == STORE_TX_WRITE ? TX_WRITE : TX_READ);
    if (rc == STORE_OK) sc->mode = mode;
    return rc;
}

static int pg_end(store_conn *sc, int rc) {
    if (sc->mode == STORE_TX_READ || sc->mode == STORE_TX_WRITE) rc = tx_end(sc->conn, rc);
    sc->mode = -1;
    return rc;
}

/* Transaction-scoped advisory locks: released by the commit or rollback. */
static int pg_lock(store_conn *sc, int what, const char *key) {
    conn *c = sc->conn;
    params p = {0};
    switch (what) {
    case STORE_LOCK_ROLES:
        p_int(&p, LOCK_ROLES);
        return run_done(c, OWN_XACT_LOCK, &p, NULL, "role lock");
    case STORE_LOCK_PLACES:
        p_int(&p, LOCK_PLACE_TREE);
        return run_done(c, OWN_XACT_LOCK, &p, NULL, "place lock");
    case STORE_LOCK_RATELIMIT:
        p_text(&p, key);
        return run_done(c, OWN_RL_LOCK, &p, NULL, "rate limit lock");
    case STORE_LOCK_DIRECTORY:
        p_int(&p, LOCK_DIRECTORY);
        return run_done(c, OWN_XACT_LOCK, &p, NULL, "directory lock");
    default:
        log_error("store: unknown lock kind %d", what);
        return STORE_ERROR;
    }
}

/* Prepares on first use ("cgsN"), executes on the first call with the parameters as
 * text, then moves to the next row of the result. */
static int pg_step(store_conn *sc, store_st *s) {
    conn *c = sc->conn;
    if (!s->h) {
        char name[16];
        snprintf(name, sizeof name, "cgs%d", s->id);
        if (!c->shared_prepared[s->id]) {
            const char *text = s->id < ST__COUNT ? shared_sql[s->id] : store_pg_dir_sql[s->id];
            if (!text) {
                log_error("store: statement %d has no PostgreSQL text", s->id);
                s->rc = STORE_ERROR;
                return STORE_STEP_ERR;
            }
            PGresult *r = PQprepare(c->db, name, text, 0, NULL);
            int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            if (!ok) s->rc = map_error(r, c, "preparing a statement");
            PQclear(r);
            if (!ok) return STORE_STEP_ERR;
            c->shared_prepared[s->id] = 1;
        }
        const char *v[STORE_MAXP];
        char num[STORE_MAXP][32];
        for (int i = 0; i < s->n; i++) {
            const store_param *p = &s->p[i];
            v[i] = num[i];
            if (p->type == SP_TEXT)
                v[i] = p->s;
            else if (p->type == SP_INT)
                snprintf(num[i], sizeof num[i], "%" PRId64, p->i);
            else if (p->type == SP_DOUBLE)
                snprintf(num[i], sizeof num[i], "%.17g", p->d);
            else
                v[i] = NULL;
        }
        PGresult *r = PQexecPrepared(c->db, name, s->n, v, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            s->rc = map_error(r, c, s->what ? s->what : "statement");
            PQclear(r);
            return STORE_STEP_ERR;
        }
        s->h = r;
        s->rows = PQntuples(r);
        s->row = -1;
    }
    return ++s->row < s->rows ? STORE_STEP_ROW : STORE_STEP_DONE;
}

static void pg_done(store_conn *sc, store_st *s) {
    (void)sc;
    PQclear(s->h);
    s->h = NULL;
}

static int64_t pg_changes(store_conn *sc, const store_st *s) {
    (void)sc;
    return s->h ? strtoll(PQcmdTuples(s->h), NULL, 10) : 0;
}

static int pg_col_null(const store_st *s, int i) { return PQgetisnull(s->h, s->row, i); }
static int64_t pg_col_int(const store_st *s, int i) { return val_int(s->h, s->row, i); }
static double pg_col_double(const store_st *s, int i) {
    return pg_col_null(s, i) ? 0.0 : strtod(PQgetvalue(s->h, s->row, i), NULL);
}
static const char *pg_col_text(const store_st *s, int i, arena *a) {
    return val_text(s->h, s->row, i, a);
}

/* ---- Background jobs ------------------------------------------------------------ */

static int pg_job_enqueue(void *impl, const char *kind, const char *payload, int64_t run_after,
                          int64_t now, int64_t *id_out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, kind);
    p_text(&p, payload);
    p_int(&p, run_after);
    p_int(&p, now);
    int64_t id = 0;
    int rc = run_int64(c, OWN_JOB_INSERT, &p, &id, "job enqueue");
    if (rc == STORE_OK && id_out) *id_out = id;
    return rc;
}

/* One statement, so one transaction in autocommit: the row lock SKIP LOCKED honours
 * is held until the claim commits. */
static int pg_job_claim(void *impl, const char *kind, const char *worker, int64_t now,
                        int64_t lease_seconds, arena *a, store_job *out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, kind);
    p_text(&p, worker);
    p_int(&p, now);
    p_int(&p, lease_seconds);
    int rc;
    PGresult *r = run(c, OWN_JOB_CLAIM, &p, &rc, "job claim");
    if (!r) return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK) {
        out->id = val_int(r, 0, 0);
        out->kind = val_text(r, 0, 1, a);
        out->payload = val_text(r, 0, 2, a);
        out->attempts = (int)val_int(r, 0, 3);
    }
    PQclear(r);
    return rc;
}

static int pg_job_complete(void *impl, int64_t id, const char *worker, int64_t now) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_int(&p, id);
    p_text(&p, worker);
    p_int(&p, now);
    int64_t changed = 0;
    int rc = run_done(c, OWN_JOB_COMPLETE, &p, &changed, "job complete");
    return rc == STORE_OK && changed == 0 ? STORE_NOT_FOUND : rc;
}

static int pg_job_fail(void *impl, int64_t id, const char *worker, const char *error,
                       int64_t retry_at, int64_t now) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_int(&p, id);
    p_text(&p, worker);
    p_int(&p, now);
    p_text(&p, error);
    p_int(&p, retry_at);
    int64_t changed = 0;
    int rc = run_done(c, OWN_JOB_FAIL, &p, &changed, "job fail");
    return rc == STORE_OK && changed == 0 ? STORE_NOT_FOUND : rc;
}

/* ---- Whole-database copy (store_copy) ------------------------------------------- */

/* Table and column names cannot be parameters: the statements below are composed from
 * names read from the catalogue (never from a user), quoted by quote_ident. */

static int collect(void *impl, enum stmt_id id, const char *param, arena *a, char ***names,
                   size_t *n) {
    CONN_OR_FAIL(impl);
    params p = {0};
    if (param) p_text(&p, param);
    int rc;
    PGresult *r = run(c, id, &p, &rc, "catalogue");
    if (!r) return rc;
    int rows = PQntuples(r);
    char **out = arena_calloc(a, (size_t)rows + 1, sizeof *out);
    for (int i = 0; i < rows; i++) out[i] = val_text(r, i, 0, a);
    PQclear(r);
    *names = out;
    *n = (size_t)rows;
    return STORE_OK;
}

static int pg_copy_tables(void *impl, arena *a, char ***names, size_t *n) {
    return collect(impl, OWN_COPY_TABLES, NULL, a, names, n);
}

static int pg_copy_references(void *impl, const char *table, arena *a, char ***names, size_t *n) {
    return collect(impl, OWN_COPY_REFERENCES, table, a, names, n);
}

static int pg_copy_columns(void *impl, const char *table, arena *a, char ***names, size_t *n) {
    return collect(impl, OWN_COPY_COLUMNS, table, a, names, n);
}

/* Appends name to q as a quoted identifier. */
static void quote_ident(conn *c, char **q, size_t *len, const char *name) {
    char *quoted = PQescapeIdentifier(c->db, name, strlen(name));
    if (!quoted) abort();
    size_t n = strlen(quoted);
    *q = xrealloc(*q, *len + n + 8);
    memcpy(*q + *len, quoted, n + 1);
    *len += n;
    PQfreemem(quoted);
}

static void append(char **q, size_t *len, const char *text) {
    size_t n = strlen(text);
    *q = xrealloc(*q, *len + n + 1);
    memcpy(*q + *len, text, n + 1);
    *len += n;
}

static int pg_copy_scan(void *impl, const char *table, char *const *cols, size_t ncols,
                        int (*fn)(void *ctx, const char *const *values), void *ctx) {
    CONN_OR_FAIL(impl);
    char *q = NULL;
    size_t len = 0;
    append(&q, &len, "SELECT ");
    for (size_t i = 0; i < ncols; i++) {
        if (i) append(&q, &len, ", ");
        quote_ident(c, &q, &len, cols[i]);
        append(&q, &len, "::text");
    }
    append(&q, &len, " FROM ");
    quote_ident(c, &q, &len, table);
    /* Single-row mode: rows arrive one at a time, not the whole table at once. */
    int rc = STORE_OK;
    if (!PQsendQuery(c->db, q) || !PQsetSingleRowMode(c->db)) {
        log_error("store: copy %s: %s", table, PQerrorMessage(c->db));
        free(q);
        return STORE_ERROR;
    }
    free(q);
    const char **vals = xcalloc(ncols ? ncols : 1, sizeof *vals);
    int stopped = 0;
    PGresult *r;
    while ((r = PQgetResult(c->db))) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && !stopped && rc == STORE_OK) {
            for (size_t i = 0; i < ncols; i++)
                vals[i] = PQgetisnull(r, 0, (int)i) ? NULL : PQgetvalue(r, 0, (int)i);
            if (fn(ctx, vals) != 0) stopped = 1; /* the rest is read and dropped */
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK) {
            rc = map_error(r, c, "copy scan");
        }
        PQclear(r);
    }
    free(vals);
    return rc;
}

/* The prepared INSERT of the table being loaded (one load per thread at a time). */
static _Thread_local char load_table[128];
static _Thread_local unsigned load_serial;

static int pg_copy_load_begin(void *impl) {
    CONN_OR_FAIL(impl);
    load_table[0] = '\0';
    /* Foreign keys (all DEFERRABLE) are checked at COMMIT. */
    if (exec_text(c, "BEGIN; SET CONSTRAINTS ALL DEFERRED", "copy begin") != STORE_OK) {
        tx_end(c, STORE_ERROR);
        return STORE_ERROR;
    }
    return STORE_OK;
}

static int pg_copy_load_row(void *impl, const char *table, char *const *cols, size_t ncols,
                            const char *const *values) {
    CONN_OR_FAIL(impl);
    char name[32];
    if (strcmp(load_table, table) != 0) {
        load_serial++;
        snprintf(name, sizeof name, "cgcopy%u", load_serial);
        char *q = NULL;
        size_t len = 0;
        append(&q, &len, "INSERT INTO ");
        quote_ident(c, &q, &len, table);
        append(&q, &len, " (");
        for (size_t i = 0; i < ncols; i++) {
            if (i) append(&q, &len, ", ");
            quote_ident(c, &q, &len, cols[i]);
        }
        append(&q, &len, ") VALUES (");
        for (size_t i = 0; i < ncols; i++) {
            char ph[24];
            snprintf(ph, sizeof ph, "%s$%zu", i ? ", " : "", i + 1);
            append(&q, &len, ph);
        }
        append(&q, &len, ")");
        PGresult *r = PQprepare(c->db, name, q, (int)ncols, NULL);
        free(q);
        int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : map_error(r, c, "copy insert");
        PQclear(r);
        if (rc != STORE_OK) return rc;
        snprintf(load_table, sizeof load_table, "%s", table);
    }
    snprintf(name, sizeof name, "cgcopy%u", load_serial);
    PGresult *r = PQexecPrepared(c->db, name, (int)ncols, values, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? STORE_OK : map_error(r, c, "copy insert");
    PQclear(r);
    return rc;
}

static int pg_copy_load_end(void *impl, int commit) {
    CONN_OR_FAIL(impl);
    load_table[0] = '\0';
    if (!commit) {
        tx_end(c, STORE_ERROR);
        return STORE_OK;
    }
    int rc;
    PGresult *ids = run(c, OWN_COPY_IDENTITIES, NULL, &rc, "copy identities");
    for (int i = 0; ids && rc == STORE_OK && i < PQntuples(ids); i++)
        rc = exec_text(c, PQgetvalue(ids, i, 0), "copy setval");
    PQclear(ids);
    if (rc == STORE_OK)
        rc = exec_text(c, "DELETE FROM dir_service_search; " STORE_PG_SEARCH_DOC_INSERT,
                       "copy search index");
    return tx_end(c, rc);
}

/* ---- Opening and migrations ----------------------------------------------------- */

static const store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .ping = pg_ping,
    .backup = pg_backup,
    .schema_version = pg_schema_version,
    .job_enqueue = pg_job_enqueue,
    .job_claim = pg_job_claim,
    .job_complete = pg_job_complete,
    .job_fail = pg_job_fail,
    .copy_tables = pg_copy_tables,
    .copy_references = pg_copy_references,
    .copy_columns = pg_copy_columns,
    .copy_scan = pg_copy_scan,
    .copy_load_begin = pg_copy_load_begin,
    .copy_load_row = pg_copy_load_row,
    .copy_load_end = pg_copy_load_end,
    .dir = &store_pg_dir_ops,
    .conn = pg_conn,
    .begin = pg_begin,
    .end = pg_end,
    .lock = pg_lock,
    .step = pg_step,
    .done = pg_done,
    .changes = pg_changes,
    .col_null = pg_col_null,
    .col_int = pg_col_int,
    .col_double = pg_col_double,
    .col_text = pg_col_text,
    .place_page_total = 1,
};

/* The first value of a one-row query without parameters, or -1 (message in err). */
static int64_t query_int(conn *c, const char *text, char *err, size_t errlen) {
    PGresult *r = PQexec(c->db, text);
    int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = val_int(r, 0, 0);
    else
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

/* Copies the server's message for a failed statement into err, without the newline. */
static void last_error(conn *c, const char *what, char *err, size_t errlen) {
    const char *m = PQerrorMessage(c->db);
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' ')) n--;
    snprintf(err, errlen, "%s: %.*s", what, (int)n, m);
}

/* Applies the migrations the database lacks, each in its own transaction, under a
 * session advisory lock so that servers starting together apply each one once. */
static int migrate(conn *c, char *err, size_t errlen) {
    char lock[80], msg[300];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%lld)", (long long)LOCK_MIGRATIONS);
    if (exec_text(c, lock, "migration lock") != STORE_OK) {
        last_error(c, "migrations: cannot take the lock", err, errlen);
        return -1;
    }
    int result = -1;
    if (exec_text(c,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  "  version INTEGER PRIMARY KEY,"
                  "  applied_at BIGINT NOT NULL)",
                  "schema_migrations") != STORE_OK) {
        last_error(c, "cannot create schema_migrations", err, errlen);
        goto out;
    }
    int64_t newest =
        query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", msg, sizeof msg);
    if (newest < 0) {
        snprintf(err, errlen, "migrations: %s", msg);
        goto out;
    }
    if (newest > store_pg_migration_count) {
        snprintf(err, errlen,
                 "the database is at schema version %" PRId64 " but this program knows only "
                 "%d migrations: it was written by a newer Common Ground",
                 newest, store_pg_migration_count);
        goto out;
    }
    for (int v = 1; v <= store_pg_migration_count; v++) {
        char q[128];
        snprintf(q, sizeof q, "SELECT COUNT(*) FROM schema_migrations WHERE version = %d", v);
        int64_t applied = query_int(c, q, msg, sizeof msg);
        if (applied < 0) {
            snprintf(err, errlen, "migration %d: %s", v, msg);
            goto out;
        }
        if (applied) continue;
        if (exec_text(c, "BEGIN", "begin") != STORE_OK ||
            exec_text(c, store_pg_migrations[v - 1], "migration") != STORE_OK) {
            snprintf(msg, sizeof msg, "migration %d failed", v);
            last_error(c, msg, err, errlen);
            exec_text(c, "ROLLBACK", "rollback");
            goto out;
        }
        snprintf(q, sizeof q,
                 "INSERT INTO schema_migrations (version, applied_at) VALUES (%d, %lld)", v,
                 (long long)now_utc());
        if (exec_text(c, q, "migration record") != STORE_OK || tx_end(c, STORE_OK) != STORE_OK) {
            snprintf(msg, sizeof msg, "migration %d", v);
            last_error(c, msg, err, errlen);
            tx_end(c, STORE_ERROR);
            goto out;
        }
        log_info("store: applied PostgreSQL migration %d", v);
    }
    result = 0;
out:
    snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%lld)", (long long)LOCK_MIGRATIONS);
    exec_text(c, lock, "migration unlock");
    return result;
}

int store_pg_open(const char *url, const store_ops **ops, void **impl, char *err, size_t errlen) {
    pg_backend *b = xcalloc(1, sizeof *b);
    b->url = xstrdup(url);
    pthread_mutex_init(&b->mu, NULL);
    if (pthread_key_create(&b->key, conn_thread_exit) != 0) {
        snprintf(err, errlen, "cannot create a thread key");
        pthread_mutex_destroy(&b->mu);
        free(b->url);
        free(b);
        return STORE_ERROR;
    }
    char msg[1024];
    conn *c = conn_open(b, msg, sizeof msg);
    if (!c) {
        snprintf(err, errlen, "%s", msg);
        pg_close(b);
        return STORE_ERROR;
    }
    pthread_setspecific(b->key, c);
    if (migrate(c, msg, sizeof msg) != 0) {
        snprintf(err, errlen, "%s", msg);
        pg_close(b);
        return STORE_ERROR;
    }
    *ops = &pg_ops;
    *impl = b;
    return STORE_OK;
}
