/*
 * store: the storage contract of Common Ground. Every byte of persistent state goes
 * through these typed functions; no SQL and no database type exists outside src/store.
 *
 * Backends. store_open() picks one from the URL: a file path selects SQLite (the
 * default, one file, WAL); "postgres://" or "postgresql://" (any libpq connection URI)
 * selects PostgreSQL, which several server processes can share. Callers never learn
 * which one they talk to.
 *
 * Threads. One store is shared by all server threads. Each thread gets its own
 * database connection on first use, with its prepared statements made once; nothing
 * else is shared, so reads from different threads run in parallel. Writes are one at
 * a time (SQLite has a single writer): this process's writers queue in turn, and
 * writers of other processes on the same file wait up to the busy timeout.
 * store_close() must be called once no other thread uses the store.
 *
 * Transactions. Each function is one transaction: it happens completely or not at all.
 * Every function that changes users, places, roles, passwords or signed-in sessions
 * also appends an audit entry in that same transaction, naming the actor passed in.
 * Bookkeeping (anonymous sessions, session extension, rate-limit counters, purges) is
 * not audited: it is not a change anyone decided.
 *
 * Time. All timestamps are int64_t seconds since the Unix epoch, UTC. Functions that
 * record "now" (created_at, updated_at, audit time) read the clock themselves; those
 * where the caller's notion of now matters (expiry, rate windows) take it as argument.
 *
 * Text. Strings passed in must be valid UTF-8 without NUL or control characters other
 * than tab/CR/LF (utf8_valid_text); otherwise a change returns STORE_INVALID and
 * changes nothing, and a look-up returns STORE_NOT_FOUND (such text was never stored).
 * They are stored and returned byte-exact (except emails, lowercased).
 *
 * Ownership. Strings and arrays returned inside structs are allocated in the arena the
 * caller passes and live as long as it; the store keeps no pointer to caller memory
 * after a call returns. Output structs are written only when the call returns STORE_OK.
 */
#ifndef CG_STORE_STORE_H
#define CG_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

typedef struct store store;

/* Return codes of every store function (0 = success). */
enum {
    STORE_OK = 0,
    STORE_NOT_FOUND = 1, /* the row asked for (or the one to change) does not exist */
    STORE_CONFLICT = 2,  /* a uniqueness rule would be broken (email, GSS code, token) */
    STORE_INVALID = 3,   /* the arguments break a rule: bad text, parent cycle, unknown
                            parent, empty required field; nothing was changed */
    STORE_ERROR = 4      /* the database failed; the detail has been logged */
};

/* A short English name for a return code ("ok", "not found", ...), for logs. */
const char *store_strerror(int rc);

/* ---- Lifecycle ------------------------------------------------------------------ */

/* Opens the database named by url (see the file comment) and applies every migration
 * not yet recorded in its schema_migrations table, in order, each in its own
 * transaction; re-opening an up-to-date database changes nothing. SQLite: creates the
 * file if missing, WAL journal, foreign keys on, 5 s busy timeout, synchronous=FULL
 * (an acknowledged write survives power loss, not just a process crash).
 * Returns STORE_OK and *out (free with store_close), or STORE_ERROR with a message in
 * err (always NUL-terminated when errlen > 0). */
int store_open(const char *url, store **out, char *err, size_t errlen);

/* Closes every connection and frees the store. NULL is allowed. No other thread may be
 * using the store. */
void store_close(store *s);

/* STORE_OK when the database answers a trivial query from this thread's connection;
 * STORE_ERROR otherwise. Used by GET /healthz. */
int store_ping(store *s);

/* Writes a consistent copy of the whole database to dest_path (replacing it) while
 * other threads keep reading and writing (SQLite online backup API). STORE_OK, or
 * STORE_ERROR with a message in err. */
int store_backup(store *s, const char *dest_path, char *err, size_t errlen);

/* The number of migrations applied to the open database (the schema version). */
int store_schema_version(store *s, int *version_out);

/* ---- Who is acting -------------------------------------------------------------- */

/* The actor of a state change, recorded in the audit log. user_id 0 = the system or an
 * anonymous visitor (e.g. sign-up, `commonground init`). ip may be NULL (command line).
 * Every function taking an actor also accepts NULL, meaning {0, NULL}. */
typedef struct store_actor {
    int64_t user_id;
    const char *ip;
} store_actor;

/* ---- Users ---------------------------------------------------------------------- */

/* Roles in increasing order of power, so `role >= STORE_ROLE_OFFICER` reads naturally. */
typedef enum {
    STORE_ROLE_RESIDENT = 0,
    STORE_ROLE_ORGANISER = 1, /* community organisation */
    STORE_ROLE_OFFICER = 2,   /* council staff */
    STORE_ROLE_ADMIN = 3
} store_role;

/* "resident", "organiser", "officer", "admin"; "unknown" for any other value. */
const char *store_role_name(store_role role);
/* Parses one of the names above (exact, lowercase); 0 and *out, or -1. */
int store_role_parse(const char *name, store_role *out);

typedef struct store_user {
    int64_t id;               /* internal key; never shown in URLs */
    char *uuid;               /* public id (UUIDv4) */
    char *email;              /* lowercased (ASCII letters), unique */
    char *display_name;
    char *password_hash;      /* opaque to the store (Argon2id string from libsodium) */
    store_role role;
    int64_t created_at;
    bool must_change_password; /* a one-time password: the next sign-in must replace it */
} store_user;

typedef struct store_user_list {
    store_user *items; /* n entries, in the arena */
    size_t n;
    int64_t total;     /* number of users in all, for paging */
} store_user_list;

/* Creates a user with a fresh UUID; audit "user.create". email must contain '@' and is
 * stored lowercased; display_name must be non-empty; password_hash may be "" (no
 * password set yet). STORE_CONFLICT when the email is taken. On STORE_OK, *out (may be
 * NULL) holds the new user, strings in a. */
int store_user_create(store *s, const store_actor *actor, const char *email,
                      const char *display_name, const char *password_hash, store_role role,
                      arena *a, store_user *out);
/* The same, for a password that was printed (`init`, `user add`): the user must replace
 * it at the first sign-in (must_change_password); the audit detail says so. */
int store_user_create_one_time(store *s, const store_actor *actor, const char *email,
                               const char *display_name, const char *password_hash,
                               store_role role, arena *a, store_user *out);

/* Look-ups: STORE_OK and *out, or STORE_NOT_FOUND. The email is matched lowercased. */
int store_user_by_email(store *s, const char *email, arena *a, store_user *out);
int store_user_by_id(store *s, int64_t id, arena *a, store_user *out);
int store_user_by_uuid(store *s, const char *uuid, arena *a, store_user *out);

/* Users ordered by creation (oldest first), skipping offset, at most limit (limit 0 =
 * none, only the total). */
int store_user_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                         store_user_list *out);

/* Changes a role; audit "user.role" with {"from":..,"to":..}. STORE_NOT_FOUND when the
 * user does not exist; STORE_INVALID when actor is a user (not the system) who is no
 * longer an admin; STORE_CONFLICT when it would demote the last admin. Both checks
 * happen inside the write, so concurrent role changes cannot leave no admin. */
int store_user_set_role(store *s, const store_actor *actor, int64_t user_id, store_role role);

/* Replaces the password hash and ends must_change_password; audit "user.password" (the
 * hash is never logged). */
int store_user_set_password(store *s, const store_actor *actor, int64_t user_id,
                            const char *password_hash);

/* Changes the display name; audit "user.update" with {"display_name":{"from":..,"to":..}}.
 * STORE_INVALID when empty. */
int store_user_set_display_name(store *s, const store_actor *actor, int64_t user_id,
                                const char *display_name);

int store_user_count(store *s, int64_t *count_out);

/* ---- Sessions ------------------------------------------------------------------- */

/* A browser session, keyed by the HASH of its token (hex SHA-256 or BLAKE2b computed
 * above the store): the raw token never reaches the database, so a leaked copy of it
 * does not let anyone sign in. The CSRF token lives here so that every server process
 * sharing the database accepts it. */
typedef struct store_session {
    int64_t user_id;   /* 0 = anonymous visitor */
    char *csrf_token;
    char *lang;        /* e.g. "en", "cy"; "" = follow Accept-Language */
    int64_t expires_at;
    int64_t created_at;
} store_session;

/* Creates a session. When user_id != 0 this is a sign-in: audit "session.signin" for
 * that user. STORE_CONFLICT when token_hash exists; STORE_INVALID when user_id names
 * no user. */
int store_session_create(store *s, const store_actor *actor, const char *token_hash,
                         int64_t user_id, const char *csrf_token, const char *lang,
                         int64_t expires_at);

/* STORE_OK and *out for a session whose expires_at > now; STORE_NOT_FOUND for an
 * unknown or expired one. */
int store_session_get(store *s, const char *token_hash, int64_t now, arena *a,
                      store_session *out);

/* Moves the expiry (sliding sessions). STORE_NOT_FOUND when unknown. Not audited. */
int store_session_extend(store *s, const char *token_hash, int64_t expires_at);

/* Changes the session's language (the footer switch). Not audited. */
int store_session_set_lang(store *s, const char *token_hash, const char *lang);

/* Deletes one session (sign-out): audit "session.signout" when it belonged to a user.
 * STORE_NOT_FOUND when unknown. */
int store_session_delete(store *s, const store_actor *actor, const char *token_hash);

/* Deletes every session of a user (password change, role change, "sign out
 * everywhere"); audit "session.revoke_all" with the count. STORE_OK even when none. */
int store_session_delete_for_user(store *s, const store_actor *actor, int64_t user_id);

/* Deletes sessions with expires_at <= now; *deleted_out (may be NULL) = how many. */
int store_session_purge_expired(store *s, int64_t now, int64_t *deleted_out);

/* ---- Rate limits ---------------------------------------------------------------- */

/* Records one attempt under key (e.g. "signin:acct:<email>", "signin:ip:<addr>") at
 * time now and sets *count_out to the number of attempts under key in the window
 * (now - window_seconds, now], this one included. Older attempts under key are
 * forgotten. Shared by every server process on the database. */
int store_ratelimit_hit(store *s, const char *key, int64_t now, int64_t window_seconds,
                        int *count_out);

/* Forgets every attempt under key (after a successful sign-in). */
int store_ratelimit_clear(store *s, const char *key);

/* Forgets attempts under every key made at or before `before` (housekeeping: pass now
 * minus the longest window in use); *deleted_out (may be NULL) = how many. */
int store_ratelimit_purge(store *s, int64_t before, int64_t *deleted_out);

/* ---- Places --------------------------------------------------------------------- */

typedef enum {
    STORE_PLACE_COUNCIL_AREA = 0,
    STORE_PLACE_WARD = 1,
    STORE_PLACE_NEIGHBOURHOOD = 2
} store_place_kind;

/* "council_area", "ward", "neighbourhood"; "unknown" otherwise. */
const char *store_place_kind_name(store_place_kind kind);
int store_place_kind_parse(const char *name, store_place_kind *out);

typedef struct store_place {
    int64_t id;
    char *uuid;
    int64_t parent_id;    /* 0 = top level */
    char *parent_uuid;    /* NULL when top level */
    char *parent_name;    /* NULL when top level */
    store_place_kind kind;
    char *name;
    char *gss_code;       /* NULL when none (e.g. "E05007562" for a ward) */
    char *description;    /* "" when none */
    int64_t child_count;  /* filled by store_place_list_page and store_place_by_* */
    int64_t created_at;
    int64_t updated_at;
    int64_t updated_by;   /* user id of the last editor; 0 = system */
} store_place;

/* What a caller supplies to create or change a place. */
typedef struct store_place_input {
    int64_t parent_id;       /* 0 = top level */
    store_place_kind kind;
    const char *name;        /* required, non-empty */
    const char *gss_code;    /* NULL or "" = none; unique when present */
    const char *description; /* NULL = "" */
} store_place_input;

typedef struct store_place_list {
    store_place *items;
    size_t n;
    int64_t total; /* matching places in all */
} store_place_list;

/* Creates a place; audit "place.create". STORE_INVALID when the parent does not exist
 * or a field is bad; STORE_CONFLICT when the GSS code is taken. *out may be NULL. */
int store_place_create(store *s, const store_actor *actor, const store_place_input *in,
                       arena *a, store_place *out);

/* Replaces every field of place id; audit "place.update" with the changed fields.
 * STORE_NOT_FOUND, STORE_CONFLICT (GSS code), or STORE_INVALID when the new parent
 * does not exist or would make the place its own ancestor. */
int store_place_update(store *s, const store_actor *actor, int64_t id,
                       const store_place_input *in);

int store_place_by_uuid(store *s, const char *uuid, arena *a, store_place *out);
int store_place_by_id(store *s, int64_t id, arena *a, store_place *out);
int store_place_by_gss(store *s, const char *gss_code, arena *a, store_place *out);

/* Which places store_place_list_page returns. */
#define STORE_PLACES_ALL ((int64_t)0)    /* every place */
#define STORE_PLACES_ROOTS ((int64_t)-1) /* only top-level places */
/* parent_id > 0: the children of that place; or one of the two values above. Ordered
 * by name (then id), with child counts. */
int store_place_list_page(store *s, int64_t parent_id, int64_t offset, int64_t limit,
                          arena *a, store_place_list *out);

int store_place_count(store *s, int64_t *count_out);

/* ---- Audit log ------------------------------------------------------------------ */

/* One append-only record. There is no function to change or remove one, and the
 * database refuses UPDATE and DELETE on the table. */
typedef struct store_audit_entry {
    int64_t id;
    int64_t at;           /* seconds since the epoch, UTC */
    int64_t user_id;      /* 0 = system / anonymous */
    char *actor_name;     /* display name of user_id; NULL when 0 or removed */
    char *ip;             /* NULL when not over HTTP */
    char *action;         /* "user.create", "user.role", "place.update", ... */
    char *entity_type;    /* "user" (also for sign-in/out), "place" */
    char *entity_id;      /* the entity's public id (UUID) */
    char *detail;         /* a JSON object, "{}" when nothing more */
} store_audit_entry;

typedef struct store_audit_list {
    store_audit_entry *items;
    size_t n;
    int64_t total;
} store_audit_list;

/* Entries newest first. */
int store_audit_list_page(store *s, int64_t offset, int64_t limit, arena *a,
                          store_audit_list *out);
int store_audit_count(store *s, int64_t *count_out);

/* ---- Background jobs ------------------------------------------------------------ */

/* Work that any server process may do later (recomputing an opinion map, sending a
 * notification). A job is claimed by one worker at a time: the claim marks it running
 * under the worker's name until a lease runs out, in one transaction (PostgreSQL:
 * SELECT ... FOR UPDATE SKIP LOCKED, so concurrent claimers neither wait for nor take
 * the same row; SQLite: one UPDATE ... RETURNING under the write lock). A job whose
 * lease ran out without store_job_complete or store_job_fail (its worker died) may be
 * claimed again, so a job runs once while its worker lives and at least once across
 * crashes: handlers should be idempotent. Jobs are bookkeeping: not audited. */
typedef struct store_job {
    int64_t id;
    char *kind;    /* e.g. "opinion.recompute" */
    char *payload; /* opaque text (usually JSON), "" when none */
    int attempts;  /* claims so far, this one included */
} store_job;

/* Queues a job of kind (non-empty text) with payload (NULL = "") to run at or after
 * run_after (seconds since the epoch; 0 = at once). *id_out (may be NULL) = its id. */
int store_job_enqueue(store *s, const char *kind, const char *payload, int64_t run_after,
                      int64_t *id_out);

/* Claims the due job (run_after <= now, or running with its lease expired) that has
 * waited longest, of kind (NULL = any kind), for worker (non-empty, e.g.
 * "host:pid:thread") until now + lease_seconds (> 0). STORE_OK and *out (strings in a);
 * STORE_NOT_FOUND when no job is due. */
int store_job_claim(store *s, const char *kind, const char *worker, int64_t now,
                    int64_t lease_seconds, arena *a, store_job *out);

/* Marks job id done. STORE_NOT_FOUND unless it is running under worker (e.g. its lease
 * ran out and another worker claimed it). */
int store_job_complete(store *s, int64_t id, const char *worker);

/* Records that job id failed with message error (NULL = ""): with retry_at > 0 it is
 * queued again to run at or after retry_at, with 0 it is failed for good.
 * STORE_NOT_FOUND unless it is running under worker. */
int store_job_fail(store *s, int64_t id, const char *worker, const char *error,
                   int64_t retry_at);

/* ---- Copying a whole database (`commonground migrate`) ------------------------- */

typedef struct store_copy_table {
    char *name;
    int64_t rows; /* rows copied, equal in both databases */
} store_copy_table;

typedef struct store_copy_report {
    store_copy_table *tables; /* in the order copied (a table after those it refers to) */
    size_t n;
} store_copy_report;

/* Copies every row of every table of `from` into `to` (SQLite to PostgreSQL or back),
 * driven by the schema, so tables added by later migrations are copied too; ids are
 * kept. `to` must be empty (no rows in any table) and both at the same schema version.
 * The whole copy is one transaction on `to`: it lands completely or not at all. Then
 * both are compared table by table: the same row count and the same rows (a digest of
 * every row's values, independent of order). Search indexes are rebuilt, not copied.
 * STORE_OK and *report (in a); STORE_INVALID with a message in err when `to` is not
 * empty or the versions or tables differ; STORE_ERROR when a database fails or the
 * comparison finds a difference (err names the table). */
int store_copy(store *from, store *to, arena *a, store_copy_report *report, char *err,
               size_t errlen);

#endif
