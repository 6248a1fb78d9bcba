/*
 * sqlite_schema: the numbered migrations of the SQLite backend, embedded in the binary.
 *
 * Migration N is entry N-1. store_open applies, in order and each in its own
 * transaction, every migration whose number is not yet in schema_migrations. A
 * released entry is never edited (databases in the field have already run it): a
 * change of schema is a new entry at the end. The PostgreSQL backend keeps its own
 * list with the same numbers and the same tables, column names and meanings; only the
 * dialect differs (e.g. BIGINT GENERATED ... AS IDENTITY where SQLite has INTEGER
 * PRIMARY KEY, which is SQLite's rowid alias).
 *
 * Conventions every migration keeps, so that PostgreSQL can follow: types TEXT,
 * INTEGER and BIGINT only; times are BIGINT seconds since the epoch (UTC); public ids
 * are UUID text; no AUTOINCREMENT; CHECK constraints spell out the allowed values.
 */
#include "store/backend.h"

const char *const store_sqlite_migrations[] = {
    /* 1: users, sessions, rate limits, places, the append-only audit log. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  email TEXT NOT NULL UNIQUE,"
    "  display_name TEXT NOT NULL,"
    "  password_hash TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('resident','organiser','officer','admin')),"
    "  created_at BIGINT NOT NULL"
    ");"
    "CREATE TABLE sessions ("
    "  token_hash TEXT PRIMARY KEY,"
    "  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE," /* NULL = anonymous */
    "  csrf_token TEXT NOT NULL,"
    "  lang TEXT NOT NULL DEFAULT '',"
    "  created_at BIGINT NOT NULL,"
    "  expires_at BIGINT NOT NULL"
    ");"
    "CREATE INDEX sessions_user ON sessions(user_id);"
    "CREATE INDEX sessions_expires ON sessions(expires_at);"
    /* One row per attempt: a sliding window is then a COUNT over an index range. */
    "CREATE TABLE ratelimit_hits ("
    "  key TEXT NOT NULL,"
    "  at BIGINT NOT NULL"
    ");"
    "CREATE INDEX ratelimit_hits_key_at ON ratelimit_hits(key, at);"
    "CREATE INDEX ratelimit_hits_at ON ratelimit_hits(at);"
    "CREATE TABLE places ("
    "  id INTEGER PRIMARY KEY,"
    "  uuid TEXT NOT NULL UNIQUE,"
    "  parent_id INTEGER REFERENCES places(id)," /* NULL = top level */
    "  kind TEXT NOT NULL CHECK (kind IN ('council_area','ward','neighbourhood')),"
    "  name TEXT NOT NULL CHECK (name <> ''),"
    "  gss_code TEXT UNIQUE," /* NULL = none; NULLs never collide */
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  updated_by INTEGER REFERENCES users(id)" /* NULL = system */
    ");"
    "CREATE INDEX places_parent_name ON places(parent_id, name);"
    "CREATE INDEX places_name ON places(name);"
    /* user_id has no foreign key on purpose: the record of who did what must never
     * stop a change elsewhere, nor disappear with it. */
    "CREATE TABLE audit_log ("
    "  id INTEGER PRIMARY KEY,"
    "  at BIGINT NOT NULL,"
    "  user_id INTEGER," /* NULL = system / anonymous */
    "  ip TEXT,"
    "  action TEXT NOT NULL,"
    "  entity_type TEXT NOT NULL,"
    "  entity_id TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '{}'"
    ");"
    "CREATE INDEX audit_log_user ON audit_log(user_id);"
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
};

const int store_sqlite_migration_count =
    (int)(sizeof store_sqlite_migrations / sizeof store_sqlite_migrations[0]);
