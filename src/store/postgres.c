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
 * Statements. Every statement is an entry of the `sql` table below, indexed by an
 * enum, with $n parameters. A connection prepares an entry (PQprepare, name "cgN")
 * the first time it needs it. Parameters travel as text and results come back as
 * text, which is also how the SQLite backend reads numbers: nothing depends on
 * PostgreSQL's binary formats.
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
 * The audit entry of a change is written in the change's transaction.
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

/* ---- Statements ----------------------------------------------------------------- */

#define USER_COLS "id, uuid, email, display_name, password_hash, role, created_at"
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

enum stmt_id {
    ST_PING,
    ST_SCHEMA_VERSION,
    ST_AUDIT_INSERT,
    ST_USER_INSERT,
    ST_USER_BY_EMAIL,
    ST_USER_BY_ID,
    ST_USER_LOCK,
    ST_USER_BY_UUID,
    ST_USER_PAGE,
    ST_USER_COUNT,
    ST_USER_SET_ROLE,
    ST_ADMIN_COUNT,
    ST_XACT_LOCK,
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
    ST_RL_LOCK,
    ST_RL_FORGET_OLD,
    ST_RL_INSERT,
    ST_RL_COUNT,
    ST_RL_CLEAR,
    ST_RL_PURGE,
    ST_PLACE_LOCK,
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
    ST_JOB_INSERT,
    ST_JOB_CLAIM,
    ST_JOB_COMPLETE,
    ST_JOB_FAIL,
    ST_COPY_TABLES,
    ST_COPY_REFERENCES,
    ST_COPY_COLUMNS,
    ST_COPY_IDENTITIES,
    ST__COUNT
};

static const char *const sql[ST__COUNT] = {
    [ST_PING] = "SELECT COUNT(*) FROM (SELECT version FROM schema_migrations LIMIT 1) t",
    [ST_SCHEMA_VERSION] = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
    [ST_AUDIT_INSERT] = "INSERT INTO audit_log (at, user_id, ip, action, entity_type, "
                        "entity_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [ST_USER_INSERT] = "INSERT INTO users (uuid, email, display_name, password_hash, role, "
                       "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLS " FROM users WHERE email = $1",
    [ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = $1",
    [ST_USER_LOCK] = "SELECT " USER_COLS " FROM users WHERE id = $1 FOR UPDATE",
    [ST_USER_BY_UUID] = "SELECT " USER_COLS " FROM users WHERE uuid = $1",
    [ST_USER_PAGE] = "SELECT " USER_COLS " FROM users ORDER BY created_at, id "
                     "LIMIT $1 OFFSET $2",
    [ST_USER_COUNT] = "SELECT COUNT(*) FROM users",
    [ST_USER_SET_ROLE] = "UPDATE users SET role = $2 WHERE id = $1",
    [ST_ADMIN_COUNT] = "SELECT COUNT(*) FROM users WHERE role = 'admin'",
    [ST_XACT_LOCK] = "SELECT pg_advisory_xact_lock($1)",
    [ST_USER_SET_PASSWORD] = "UPDATE users SET password_hash = $2 WHERE id = $1",
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
    [ST_RL_LOCK] = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
    [ST_RL_FORGET_OLD] = "DELETE FROM ratelimit_hits WHERE key = $1 AND at <= $2",
    [ST_RL_INSERT] = "INSERT INTO ratelimit_hits (key, at) VALUES ($1, $2)",
    [ST_RL_COUNT] = "SELECT COUNT(*) FROM ratelimit_hits WHERE key = $1 AND at > $2",
    [ST_RL_CLEAR] = "DELETE FROM ratelimit_hits WHERE key = $1",
    [ST_RL_PURGE] = "DELETE FROM ratelimit_hits WHERE at <= $1",
    [ST_PLACE_LOCK] = "SELECT pg_advisory_xact_lock($1)",
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
    [ST_JOB_INSERT] = "INSERT INTO jobs (kind, payload, state, run_after, created_at) "
                      "VALUES ($1, $2, 'queued', $3, $4) RETURNING id",
    /* SKIP LOCKED: a claimer passes over rows another claimer's transaction holds,
     * instead of waiting for it and then finding the job gone. */
    [ST_JOB_CLAIM] = "UPDATE jobs SET state = 'running', attempts = attempts + 1, "
                     "locked_by = $2, locked_until = $3::bigint + $4::bigint "
                     "WHERE id = (SELECT id FROM jobs WHERE "
                     "((state = 'queued' AND run_after <= $3::bigint) OR "
                     " (state = 'running' AND locked_until <= $3::bigint)) "
                     "AND ($1::text IS NULL OR kind = $1::text) ORDER BY run_after, id "
                     "LIMIT 1 FOR UPDATE SKIP LOCKED) "
                     "RETURNING id, kind, payload, attempts",
    [ST_JOB_COMPLETE] = "UPDATE jobs SET state = 'done', finished_at = $3, locked_until = NULL "
                        "WHERE id = $1 AND state = 'running' AND locked_by = $2",
    [ST_JOB_FAIL] = "UPDATE jobs SET last_error = $4, locked_until = NULL, "
                    "state = CASE WHEN $5::bigint > 0 THEN 'queued' ELSE 'failed' END, "
                    "run_after = CASE WHEN $5::bigint > 0 THEN $5::bigint ELSE run_after END, "
                    "finished_at = CASE WHEN $5::bigint > 0 THEN NULL ELSE $3::bigint END "
                    "WHERE id = $1 AND state = 'running' AND locked_by = $2",
    /* The catalogue, for store_copy. dir_service_search is derived (rebuilt). */
    [ST_COPY_TABLES] = "SELECT c.relname FROM pg_class c "
                       "WHERE c.relnamespace = current_schema()::regnamespace "
                       "AND c.relkind IN ('r', 'p') "
                       "AND c.relname NOT IN ('schema_migrations', 'dir_service_search') "
                       "ORDER BY 1",
    [ST_COPY_REFERENCES] = "SELECT DISTINCT f.relname FROM pg_constraint k "
                           "JOIN pg_class c ON c.oid = k.conrelid "
                           "JOIN pg_class f ON f.oid = k.confrelid "
                           "WHERE k.contype = 'f' AND c.relname = $1 "
                           "AND c.relnamespace = current_schema()::regnamespace",
    [ST_COPY_COLUMNS] = "SELECT a.attname FROM pg_attribute a "
                        "JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname = $1 "
                        "AND c.relnamespace = current_schema()::regnamespace "
                        "AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
                        "ORDER BY a.attnum",
    /* One statement per identity column that moves its sequence past the copied ids;
     * format() quotes the names. */
    [ST_COPY_IDENTITIES] = "SELECT format('SELECT setval(%L, COALESCE((SELECT MAX(%I) "
                           "FROM %I), 0) + 1, false)', "
                           "pg_get_serial_sequence(quote_ident(table_name), column_name), "
                           "column_name, table_name) FROM information_schema.columns "
                           "WHERE table_schema = current_schema() AND is_identity = 'YES'",
};

/* ---- Connections ---------------------------------------------------------------- */

typedef struct pg_backend pg_backend;

typedef struct conn {
    PGconn *db;
    unsigned char prepared[ST__COUNT];
    unsigned char dir_prepared[STORE_PG_DIR_STATEMENTS]; /* postgres_directory.c's */
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
        memset(c->dir_prepared, 0, sizeof c->dir_prepared);
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

PGconn *store_pg_conn(void *impl, unsigned char **dir_prepared) {
    conn *c = conn_get(impl);
    if (!c) return NULL;
    *dir_prepared = c->dir_prepared;
    return c->db;
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

static void p_id(params *p, int64_t id) { /* 0 means NULL */
    if (id)
        p_int(p, id);
    else
        p_text(p, NULL);
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

static int64_t now_utc(void) { return (int64_t)time(NULL); }

/* ---- Audit ---------------------------------------------------------------------- */

static json_t *jstr(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *jchange(const char *from, const char *to) {
    json_t *o = json_object();
    json_object_set_new(o, "from", jstr(from));
    json_object_set_new(o, "to", jstr(to));
    return o;
}

/* Appends an audit entry inside the caller's transaction; detail (NULL = {}) is
 * consumed. The text is the same as the SQLite backend writes. */
static int audit_add(conn *c, const store_actor *actor, const char *action, const char *entity_type,
                     const char *entity_id, json_t *detail) {
    if (!detail) detail = json_object();
    char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        log_error("store: out of memory serialising audit detail");
        abort();
    }
    json_decref(detail);
    params p = {0};
    p_int(&p, now_utc());
    p_id(&p, actor->user_id);
    p_text(&p, actor->ip);
    p_text(&p, action);
    p_text(&p, entity_type);
    p_text(&p, entity_id);
    p_text(&p, text);
    int rc = run_done(c, ST_AUDIT_INSERT, &p, NULL, "audit insert");
    free(text);
    return rc == STORE_OK ? STORE_OK : STORE_ERROR; /* never the caller's fault */
}

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
    return run_int64(c, ST_PING, NULL, &one, "ping") == STORE_OK && one == 1 ? STORE_OK
                                                                             : STORE_ERROR;
}

static int pg_schema_version(void *impl, int *version_out) {
    CONN_OR_FAIL(impl);
    int64_t v = 0;
    int rc = run_int64(c, ST_SCHEMA_VERSION, NULL, &v, "schema version");
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

/* ---- Users ---------------------------------------------------------------------- */

static void read_user(const PGresult *r, int row, arena *a, store_user *u) {
    u->id = val_int(r, row, 0);
    u->uuid = val_text(r, row, 1, a);
    u->email = val_text(r, row, 2, a);
    u->display_name = val_text(r, row, 3, a);
    u->password_hash = val_text(r, row, 4, a);
    const char *role = PQgetvalue(r, row, 5);
    if (store_role_parse(role, &u->role) != 0) u->role = STORE_ROLE_RESIDENT;
    u->created_at = val_int(r, row, 6);
}

static int user_fetch(conn *c, enum stmt_id id, const params *p, arena *a, store_user *out) {
    int rc;
    PGresult *r = run(c, id, p, &rc, "user look-up");
    if (!r) return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK && out) read_user(r, 0, a, out);
    PQclear(r);
    return rc;
}

static int pg_user_create(void *impl, const store_actor *actor, const char *email,
                          const char *display_name, const char *password_hash, store_role role,
                          arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    char uuid[UUID_STR_LEN];
    uuid_v4(uuid);
    int64_t now = now_utc(), id = 0;
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) return rc;
    params p = {0};
    p_text(&p, uuid);
    p_text(&p, email);
    p_text(&p, display_name);
    p_text(&p, password_hash);
    p_text(&p, store_role_name(role));
    p_int(&p, now);
    rc = run_int64(c, ST_USER_INSERT, &p, &id, "user insert");
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        json_object_set_new(detail, "email", json_string(email));
        json_object_set_new(detail, "display_name", json_string(display_name));
        json_object_set_new(detail, "role", json_string(store_role_name(role)));
        rc = audit_add(c, actor, "user.create", "user", uuid, detail);
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
    }
    return rc;
}

static int pg_user_by_email(void *impl, const char *email, arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, email);
    return user_fetch(c, ST_USER_BY_EMAIL, &p, a, out);
}

static int pg_user_by_id(void *impl, int64_t id, arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_int(&p, id);
    return user_fetch(c, ST_USER_BY_ID, &p, a, out);
}

static int pg_user_by_uuid(void *impl, const char *uuid, arena *a, store_user *out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, uuid);
    return user_fetch(c, ST_USER_BY_UUID, &p, a, out);
}

static int pg_user_count(void *impl, int64_t *count_out) {
    CONN_OR_FAIL(impl);
    return run_int64(c, ST_USER_COUNT, NULL, count_out, "user count");
}

static int pg_user_list_page(void *impl, int64_t offset, int64_t limit, arena *a,
                             store_user_list *out) {
    CONN_OR_FAIL(impl);
    int64_t total = 0;
    store_user *items = NULL;
    size_t n = 0;
    int rc = tx_begin(c, TX_READ);
    if (rc != STORE_OK) return rc;
    rc = run_int64(c, ST_USER_COUNT, NULL, &total, "user count");
    if (rc == STORE_OK && limit > 0) {
        params p = {0};
        p_int(&p, limit);
        p_int(&p, offset);
        PGresult *r = run(c, ST_USER_PAGE, &p, &rc, "user list");
        if (r) {
            int rows = PQntuples(r);
            if (rows > 0) items = arena_calloc(a, (size_t)rows, sizeof *items);
            for (int i = 0; i < rows; i++) read_user(r, i, a, &items[n++]);
            PQclear(r);
        }
    }
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

/* Within a transaction: user id's row, locked until the transaction ends. */
static int user_lock_tx(conn *c, int64_t id, arena *a, store_user *u) {
    params p = {0};
    p_int(&p, id);
    return user_fetch(c, ST_USER_LOCK, &p, a, u);
}

/* The three single-column user updates: lock and load, update, audit. */
static int user_update(void *impl, const store_actor *actor, int64_t user_id, enum stmt_id update,
                       const char *value, const char *action, const char *field) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 1024);
    store_user old;
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) goto end;
    if (update == ST_USER_SET_ROLE) {
        /* Role changes queue on one lock: after it, each statement sees the others'
         * committed changes, so two admins demoting each other at the same moment
         * cannot both pass the checks below. */
        params l = {0};
        p_int(&l, LOCK_ROLES);
        rc = run_done(c, ST_XACT_LOCK, &l, NULL, "role lock");
    }
    if (rc == STORE_OK) rc = user_lock_tx(c, user_id, &a, &old);
    if (rc == STORE_OK && update == ST_USER_SET_ROLE) {
        /* The actor must still be an admin, and the last admin cannot be demoted. */
        if (actor->user_id != 0) {
            store_user by;
            params q = {0};
            p_int(&q, actor->user_id);
            rc = user_fetch(c, ST_USER_BY_ID, &q, &a, &by);
            if (rc == STORE_NOT_FOUND || (rc == STORE_OK && by.role != STORE_ROLE_ADMIN))
                rc = STORE_INVALID;
        }
        if (rc == STORE_OK && old.role == STORE_ROLE_ADMIN && strcmp(value, "admin") != 0) {
            int64_t admins = 0;
            rc = run_int64(c, ST_ADMIN_COUNT, NULL, &admins, "admin count");
            if (rc == STORE_OK && admins <= 1) rc = STORE_CONFLICT;
        }
    }
    if (rc == STORE_OK) {
        params p = {0};
        p_int(&p, user_id);
        p_text(&p, value);
        rc = run_done(c, update, &p, NULL, action);
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        if (strcmp(field, "role") == 0)
            json_object_set_new(detail, "role", jchange(store_role_name(old.role), value));
        else if (strcmp(field, "display_name") == 0)
            json_object_set_new(detail, "display_name", jchange(old.display_name, value));
        rc = audit_add(c, actor, action, "user", old.uuid, detail);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int pg_user_set_role(void *impl, const store_actor *actor, int64_t user_id,
                            store_role role) {
    return user_update(impl, actor, user_id, ST_USER_SET_ROLE, store_role_name(role), "user.role",
                       "role");
}

static int pg_user_set_password(void *impl, const store_actor *actor, int64_t user_id,
                                const char *password_hash) {
    return user_update(impl, actor, user_id, ST_USER_SET_PASSWORD, password_hash, "user.password",
                       "password");
}

static int pg_user_set_display_name(void *impl, const store_actor *actor, int64_t user_id,
                                    const char *display_name) {
    return user_update(impl, actor, user_id, ST_USER_SET_NAME, display_name, "user.update",
                       "display_name");
}

/* ---- Sessions ------------------------------------------------------------------- */

static int pg_session_create(void *impl, const store_actor *actor, const char *token_hash,
                             int64_t user_id, const char *csrf_token, const char *lang,
                             int64_t expires_at) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 1024);
    store_user u = {0};
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) goto end;
    if (user_id) {
        params q = {0};
        p_int(&q, user_id);
        rc = user_fetch(c, ST_USER_BY_ID, &q, &a, &u);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
    }
    if (rc == STORE_OK) {
        params p = {0};
        p_text(&p, token_hash);
        p_id(&p, user_id);
        p_text(&p, csrf_token);
        p_text(&p, lang);
        p_int(&p, now_utc());
        p_int(&p, expires_at);
        rc = run_done(c, ST_SESSION_INSERT, &p, NULL, "session insert");
    }
    if (rc == STORE_OK && user_id) rc = audit_add(c, actor, "session.signin", "user", u.uuid, NULL);
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int pg_session_get(void *impl, const char *token_hash, int64_t now, arena *a,
                          store_session *out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, token_hash);
    p_int(&p, now);
    int rc;
    PGresult *r = run(c, ST_SESSION_GET, &p, &rc, "session get");
    if (!r) return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK) {
        out->user_id = val_int(r, 0, 0); /* NULL reads as 0 = anonymous */
        out->csrf_token = val_text(r, 0, 1, a);
        out->lang = val_text(r, 0, 2, a);
        out->expires_at = val_int(r, 0, 3);
        out->created_at = val_int(r, 0, 4);
    }
    PQclear(r);
    return rc;
}

/* UPDATE of one session; STORE_NOT_FOUND when no row changed. */
static int session_update(void *impl, enum stmt_id id, const char *token_hash, int64_t num,
                          const char *text) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, token_hash);
    if (text)
        p_text(&p, text);
    else
        p_int(&p, num);
    int64_t changed = 0;
    int rc = run_done(c, id, &p, &changed, "session update");
    if (rc == STORE_OK && changed == 0) rc = STORE_NOT_FOUND;
    return rc;
}

static int pg_session_extend(void *impl, const char *token_hash, int64_t expires_at) {
    return session_update(impl, ST_SESSION_EXTEND, token_hash, expires_at, NULL);
}

static int pg_session_set_lang(void *impl, const char *token_hash, const char *lang) {
    return session_update(impl, ST_SESSION_SET_LANG, token_hash, 0, lang);
}

static int pg_session_delete(void *impl, const store_actor *actor, const char *token_hash) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 256);
    int64_t user_id = 0;
    char *user_uuid = NULL;
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) goto end;
    params p = {0};
    p_text(&p, token_hash);
    PGresult *r = run(c, ST_SESSION_OWNER, &p, &rc, "session owner");
    if (r) {
        rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
        if (rc == STORE_OK) {
            user_id = val_int(r, 0, 0);
            user_uuid = val_text(r, 0, 1, &a);
        }
        PQclear(r);
    }
    if (rc == STORE_OK) rc = run_done(c, ST_SESSION_DELETE, &p, NULL, "session delete");
    if (rc == STORE_OK && user_id && user_uuid)
        rc = audit_add(c, actor, "session.signout", "user", user_uuid, NULL);
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int pg_session_delete_for_user(void *impl, const store_actor *actor, int64_t user_id) {
    CONN_OR_FAIL(impl);
    arena a;
    arena_init(&a, 1024);
    store_user u;
    int64_t count = 0;
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) goto end;
    rc = user_lock_tx(c, user_id, &a, &u);
    if (rc == STORE_OK) {
        params p = {0};
        p_int(&p, user_id);
        rc = run_done(c, ST_SESSION_DELETE_USER, &p, &count, "session delete for user");
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        json_object_set_new(detail, "count", json_integer(count));
        rc = audit_add(c, actor, "session.revoke_all", "user", u.uuid, detail);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&a);
    return rc;
}

static int delete_before(void *impl, enum stmt_id id, int64_t t, int64_t *deleted_out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_int(&p, t);
    int64_t n = 0;
    int rc = run_done(c, id, &p, &n, "purge");
    if (rc == STORE_OK && deleted_out) *deleted_out = n;
    return rc;
}

static int pg_session_purge_expired(void *impl, int64_t now, int64_t *deleted_out) {
    return delete_before(impl, ST_SESSION_PURGE, now, deleted_out);
}

/* ---- Rate limits ---------------------------------------------------------------- */

static int pg_ratelimit_hit(void *impl, const char *key, int64_t now, int64_t window_seconds,
                            int *count_out) {
    CONN_OR_FAIL(impl);
    int64_t since = now - window_seconds, count = 0;
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) return rc;
    params k = {0};
    p_text(&k, key);
    rc = run_done(c, ST_RL_LOCK, &k, NULL, "rate limit lock");
    params old = {0};
    p_text(&old, key);
    p_int(&old, since);
    if (rc == STORE_OK) rc = run_done(c, ST_RL_FORGET_OLD, &old, NULL, "rate limit forget");
    if (rc == STORE_OK) {
        params ins = {0};
        p_text(&ins, key);
        p_int(&ins, now);
        rc = run_done(c, ST_RL_INSERT, &ins, NULL, "rate limit insert");
    }
    if (rc == STORE_OK) rc = run_int64(c, ST_RL_COUNT, &old, &count, "rate limit count");
    rc = tx_end(c, rc);
    if (rc == STORE_OK && count_out) *count_out = count > INT32_MAX ? INT32_MAX : (int)count;
    return rc;
}

static int pg_ratelimit_clear(void *impl, const char *key) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, key);
    return run_done(c, ST_RL_CLEAR, &p, NULL, "rate limit clear");
}

static int pg_ratelimit_purge(void *impl, int64_t before, int64_t *deleted_out) {
    return delete_before(impl, ST_RL_PURGE, before, deleted_out);
}

/* ---- Places --------------------------------------------------------------------- */

static void read_place(const PGresult *r, int row, arena *a, store_place *p) {
    p->id = val_int(r, row, 0);
    p->uuid = val_text(r, row, 1, a);
    p->parent_id = val_int(r, row, 2);
    p->parent_uuid = val_text(r, row, 3, a);
    p->parent_name = val_text(r, row, 4, a);
    if (store_place_kind_parse(PQgetvalue(r, row, 5), &p->kind) != 0)
        p->kind = STORE_PLACE_NEIGHBOURHOOD;
    p->name = val_text(r, row, 6, a);
    p->gss_code = val_text(r, row, 7, a);
    p->description = val_text(r, row, 8, a);
    if (!p->description) p->description = arena_strdup(a, "");
    p->child_count = val_int(r, row, 9);
    p->created_at = val_int(r, row, 10);
    p->updated_at = val_int(r, row, 11);
    p->updated_by = val_int(r, row, 12);
}

static int place_fetch(conn *c, enum stmt_id id, const params *p, arena *a, store_place *out) {
    int rc;
    PGresult *r = run(c, id, p, &rc, "place look-up");
    if (!r) return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOT_FOUND;
    if (rc == STORE_OK && out) read_place(r, 0, a, out);
    PQclear(r);
    return rc;
}

static int place_load(conn *c, int64_t id, arena *a, store_place *out) {
    params p = {0};
    p_int(&p, id);
    return place_fetch(c, ST_PLACE_BY_ID, &p, a, out);
}

/* Parameters $2..$8 of the insert and the update. */
static void place_params(params *p, const store_place_input *in, int64_t now, int64_t by) {
    p_id(p, in->parent_id);
    p_text(p, store_place_kind_name(in->kind));
    p_text(p, in->name);
    p_text(p, in->gss_code);
    p_text(p, in->description);
    p_int(p, now);
    p_id(p, by);
}

/* Takes the place-tree lock for the rest of the transaction. */
static int place_tree_lock(conn *c) {
    params p = {0};
    p_int(&p, LOCK_PLACE_TREE);
    return run_done(c, ST_PLACE_LOCK, &p, NULL, "place lock");
}

static int pg_place_create(void *impl, const store_actor *actor, const store_place_input *in,
                           arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    arena tmp;
    arena_init(&tmp, 1024);
    store_place parent = {0};
    char uuid[UUID_STR_LEN];
    uuid_v4(uuid);
    int64_t id = 0;
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) goto end;
    rc = place_tree_lock(c);
    if (rc == STORE_OK && in->parent_id) {
        rc = place_load(c, in->parent_id, &tmp, &parent);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
    }
    if (rc == STORE_OK) {
        params p = {0};
        p_text(&p, uuid);
        place_params(&p, in, now_utc(), actor->user_id);
        rc = run_int64(c, ST_PLACE_INSERT, &p, &id, "place insert");
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        json_object_set_new(detail, "name", json_string(in->name));
        json_object_set_new(detail, "kind", json_string(store_place_kind_name(in->kind)));
        json_object_set_new(detail, "gss_code", jstr(in->gss_code));
        json_object_set_new(detail, "parent", jstr(in->parent_id ? parent.uuid : NULL));
        rc = audit_add(c, actor, "place.create", "place", uuid, detail);
    }
    if (rc == STORE_OK && out) rc = place_load(c, id, a, out);
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static void diff_field(json_t *detail, const char *field, const char *from, const char *to) {
    if ((from == NULL) != (to == NULL) || (from && strcmp(from, to) != 0))
        json_object_set_new(detail, field, jchange(from, to));
}

static int pg_place_update(void *impl, const store_actor *actor, int64_t id,
                           const store_place_input *in) {
    CONN_OR_FAIL(impl);
    arena tmp;
    arena_init(&tmp, 1024);
    store_place old, parent = {0};
    int rc = tx_begin(c, TX_WRITE);
    if (rc != STORE_OK) goto end;
    rc = place_tree_lock(c);
    if (rc == STORE_OK) rc = place_load(c, id, &tmp, &old);
    if (rc == STORE_OK && in->parent_id) {
        rc = place_load(c, in->parent_id, &tmp, &parent);
        if (rc == STORE_NOT_FOUND) rc = STORE_INVALID;
        if (rc == STORE_OK) {
            /* The new parent must not be this place or one of its descendants. */
            params q = {0};
            p_int(&q, in->parent_id);
            p_int(&q, id);
            int64_t hits = 0;
            rc = run_int64(c, ST_PLACE_IS_ANCESTOR, &q, &hits, "place ancestry");
            if (rc == STORE_OK && hits > 0) rc = STORE_INVALID;
        }
    }
    if (rc == STORE_OK) {
        params p = {0};
        p_int(&p, id);
        place_params(&p, in, now_utc(), actor->user_id);
        rc = run_done(c, ST_PLACE_UPDATE, &p, NULL, "place update");
    }
    if (rc == STORE_OK) {
        json_t *detail = json_object();
        diff_field(detail, "name", old.name, in->name);
        diff_field(detail, "kind", store_place_kind_name(old.kind),
                   store_place_kind_name(in->kind));
        diff_field(detail, "gss_code", old.gss_code, in->gss_code);
        diff_field(detail, "description", old.description, in->description);
        diff_field(detail, "parent", old.parent_uuid, in->parent_id ? parent.uuid : NULL);
        rc = audit_add(c, actor, "place.update", "place", old.uuid, detail);
    }
    rc = tx_end(c, rc);
end:
    arena_free(&tmp);
    return rc;
}

static int pg_place_by_uuid(void *impl, const char *uuid, arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, uuid);
    return place_fetch(c, ST_PLACE_BY_UUID, &p, a, out);
}

static int pg_place_by_id(void *impl, int64_t id, arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    return place_load(c, id, a, out);
}

static int pg_place_by_gss(void *impl, const char *gss_code, arena *a, store_place *out) {
    CONN_OR_FAIL(impl);
    params p = {0};
    p_text(&p, gss_code);
    return place_fetch(c, ST_PLACE_BY_GSS, &p, a, out);
}

static int pg_place_list_page(void *impl, int64_t parent_id, int64_t offset, int64_t limit,
                              arena *a, store_place_list *out) {
    CONN_OR_FAIL(impl);
    enum stmt_id page_id = ST_PLACE_PAGE_CHILDREN, count_id = ST_PLACE_COUNT_CHILDREN;
    if (parent_id == STORE_PLACES_ALL) page_id = ST_PLACE_PAGE_ALL, count_id = ST_PLACE_COUNT_ALL;
    if (parent_id == STORE_PLACES_ROOTS)
        page_id = ST_PLACE_PAGE_ROOTS, count_id = ST_PLACE_COUNT_ROOTS;
    int64_t total = 0;
    store_place *items = NULL;
    size_t n = 0;
    int rc = STORE_OK;
    if (limit > 0) {
        params p = {0};
        p_int(&p, limit);
        p_int(&p, offset);
        if (page_id == ST_PLACE_PAGE_CHILDREN) p_int(&p, parent_id);
        PGresult *r = run(c, page_id, &p, &rc, "place list");
        if (!r) return rc;
        int rows = PQntuples(r);
        if (rows > 0) items = arena_calloc(a, (size_t)rows, sizeof *items);
        for (int i = 0; i < rows; i++) read_place(r, i, a, &items[n++]);
        if (rows > 0) total = val_int(r, 0, 13);
        PQclear(r);
    }
    /* No row on the page (limit 0, or an offset past the end): count on its own. */
    if (n == 0) {
        params q = {0};
        if (count_id == ST_PLACE_COUNT_CHILDREN) p_int(&q, parent_id);
        rc = run_int64(c, count_id, &q, &total, "place count");
    }
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
}

static int pg_place_count(void *impl, int64_t *count_out) {
    CONN_OR_FAIL(impl);
    return run_int64(c, ST_PLACE_COUNT_ALL, NULL, count_out, "place count");
}

/* ---- Audit log ------------------------------------------------------------------ */

static int pg_audit_count(void *impl, int64_t *count_out) {
    CONN_OR_FAIL(impl);
    return run_int64(c, ST_AUDIT_COUNT, NULL, count_out, "audit count");
}

static int pg_audit_list_page(void *impl, int64_t offset, int64_t limit, arena *a,
                              store_audit_list *out) {
    CONN_OR_FAIL(impl);
    int64_t total = 0;
    store_audit_entry *items = NULL;
    size_t n = 0;
    int rc = tx_begin(c, TX_READ);
    if (rc != STORE_OK) return rc;
    rc = run_int64(c, ST_AUDIT_COUNT, NULL, &total, "audit count");
    if (rc == STORE_OK && limit > 0) {
        params p = {0};
        p_int(&p, limit);
        p_int(&p, offset);
        PGresult *r = run(c, ST_AUDIT_PAGE, &p, &rc, "audit list");
        if (r) {
            int rows = PQntuples(r);
            if (rows > 0) items = arena_calloc(a, (size_t)rows, sizeof *items);
            for (int i = 0; i < rows; i++) {
                store_audit_entry *e = &items[n++];
                e->id = val_int(r, i, 0);
                e->at = val_int(r, i, 1);
                e->user_id = val_int(r, i, 2);
                e->actor_name = val_text(r, i, 3, a);
                e->ip = val_text(r, i, 4, a);
                e->action = val_text(r, i, 5, a);
                e->entity_type = val_text(r, i, 6, a);
                e->entity_id = val_text(r, i, 7, a);
                e->detail = val_text(r, i, 8, a);
            }
            PQclear(r);
        }
    }
    rc = tx_end(c, rc);
    if (rc == STORE_OK) {
        out->items = items;
        out->n = n;
        out->total = total;
    }
    return rc;
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
    int rc = run_int64(c, ST_JOB_INSERT, &p, &id, "job enqueue");
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
    PGresult *r = run(c, ST_JOB_CLAIM, &p, &rc, "job claim");
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
    int rc = run_done(c, ST_JOB_COMPLETE, &p, &changed, "job complete");
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
    int rc = run_done(c, ST_JOB_FAIL, &p, &changed, "job fail");
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
    return collect(impl, ST_COPY_TABLES, NULL, a, names, n);
}

static int pg_copy_references(void *impl, const char *table, arena *a, char ***names, size_t *n) {
    return collect(impl, ST_COPY_REFERENCES, table, a, names, n);
}

static int pg_copy_columns(void *impl, const char *table, arena *a, char ***names, size_t *n) {
    return collect(impl, ST_COPY_COLUMNS, table, a, names, n);
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
    PGresult *ids = run(c, ST_COPY_IDENTITIES, NULL, &rc, "copy identities");
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
    .user_create = pg_user_create,
    .user_by_email = pg_user_by_email,
    .user_by_id = pg_user_by_id,
    .user_by_uuid = pg_user_by_uuid,
    .user_list_page = pg_user_list_page,
    .user_set_role = pg_user_set_role,
    .user_set_password = pg_user_set_password,
    .user_set_display_name = pg_user_set_display_name,
    .user_count = pg_user_count,
    .session_create = pg_session_create,
    .session_get = pg_session_get,
    .session_extend = pg_session_extend,
    .session_set_lang = pg_session_set_lang,
    .session_delete = pg_session_delete,
    .session_delete_for_user = pg_session_delete_for_user,
    .session_purge_expired = pg_session_purge_expired,
    .ratelimit_hit = pg_ratelimit_hit,
    .ratelimit_clear = pg_ratelimit_clear,
    .ratelimit_purge = pg_ratelimit_purge,
    .place_create = pg_place_create,
    .place_update = pg_place_update,
    .place_by_uuid = pg_place_by_uuid,
    .place_by_id = pg_place_by_id,
    .place_by_gss = pg_place_by_gss,
    .place_list_page = pg_place_list_page,
    .place_count = pg_place_count,
    .audit_list_page = pg_audit_list_page,
    .audit_count = pg_audit_count,
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
