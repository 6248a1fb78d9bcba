/*
 * backend: the private interface between the store contract (store.c) and the
 * database backends (sqlite.c now, postgres.c in issue 8). Nothing outside src/store
 * includes this file.
 *
 * store.c owns everything every backend would otherwise repeat: argument checks (valid
 * UTF-8 text, non-empty names, lowercased emails, known roles and kinds), the NULL
 * actor meaning "system", and the output-only-on-success rule. A backend receives
 * arguments already checked and normalised, and only talks to its database: each
 * operation is one transaction that includes its audit entry.
 */
#ifndef CG_STORE_BACKEND_H
#define CG_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "store/store.h"

/* One function per contract operation; `impl` is the backend's own state. Arguments
 * have the meaning given in store.h, already validated; actor is never NULL. */
typedef struct store_ops {
    const char *name; /* "sqlite", "postgresql" */
    void (*close)(void *impl);
    int (*ping)(void *impl);
    int (*backup)(void *impl, const char *dest_path, char *err, size_t errlen);
    int (*schema_version)(void *impl, int *version_out);

    int (*user_create)(void *impl, const store_actor *actor, const char *email,
                       const char *display_name, const char *password_hash, store_role role,
                       arena *a, store_user *out);
    int (*user_by_email)(void *impl, const char *email, arena *a, store_user *out);
    int (*user_by_id)(void *impl, int64_t id, arena *a, store_user *out);
    int (*user_by_uuid)(void *impl, const char *uuid, arena *a, store_user *out);
    int (*user_list_page)(void *impl, int64_t offset, int64_t limit, arena *a,
                          store_user_list *out);
    int (*user_set_role)(void *impl, const store_actor *actor, int64_t user_id,
                         store_role role);
    int (*user_set_password)(void *impl, const store_actor *actor, int64_t user_id,
                             const char *password_hash);
    int (*user_set_display_name)(void *impl, const store_actor *actor, int64_t user_id,
                                 const char *display_name);
    int (*user_count)(void *impl, int64_t *count_out);

    int (*session_create)(void *impl, const store_actor *actor, const char *token_hash,
                          int64_t user_id, const char *csrf_token, const char *lang,
                          int64_t expires_at);
    int (*session_get)(void *impl, const char *token_hash, int64_t now, arena *a,
                       store_session *out);
    int (*session_extend)(void *impl, const char *token_hash, int64_t expires_at);
    int (*session_set_lang)(void *impl, const char *token_hash, const char *lang);
    int (*session_delete)(void *impl, const store_actor *actor, const char *token_hash);
    int (*session_delete_for_user)(void *impl, const store_actor *actor, int64_t user_id);
    int (*session_purge_expired)(void *impl, int64_t now, int64_t *deleted_out);

    int (*ratelimit_hit)(void *impl, const char *key, int64_t now, int64_t window_seconds,
                         int *count_out);
    int (*ratelimit_clear)(void *impl, const char *key);
    int (*ratelimit_purge)(void *impl, int64_t before, int64_t *deleted_out);

    int (*place_create)(void *impl, const store_actor *actor, const store_place_input *in,
                        arena *a, store_place *out);
    int (*place_update)(void *impl, const store_actor *actor, int64_t id,
                        const store_place_input *in);
    int (*place_by_uuid)(void *impl, const char *uuid, arena *a, store_place *out);
    int (*place_by_id)(void *impl, int64_t id, arena *a, store_place *out);
    int (*place_by_gss)(void *impl, const char *gss_code, arena *a, store_place *out);
    int (*place_list_page)(void *impl, int64_t parent_id, int64_t offset, int64_t limit,
                           arena *a, store_place_list *out);
    int (*place_count)(void *impl, int64_t *count_out);

    int (*audit_list_page)(void *impl, int64_t offset, int64_t limit, arena *a,
                           store_audit_list *out);
    int (*audit_count)(void *impl, int64_t *count_out);

    /* The community directory (directory.h, backend_directory.h). */
    const struct store_dir_ops *dir;

    /* Background jobs (store.h). now is the clock of the call (store.c reads it). */
    int (*job_enqueue)(void *impl, const char *kind, const char *payload, int64_t run_after,
                       int64_t now, int64_t *id_out);
    int (*job_claim)(void *impl, const char *kind, const char *worker, int64_t now,
                     int64_t lease_seconds, arena *a, store_job *out);
    int (*job_complete)(void *impl, int64_t id, const char *worker, int64_t now);
    int (*job_fail)(void *impl, int64_t id, const char *worker, const char *error,
                    int64_t retry_at, int64_t now);

    /* Whole-database copy (store_copy in store_copy.c). Table and column names come
     * from the database's own catalogue, never from a user. */
    /* The application's tables: not schema_migrations, not derived search indexes. */
    int (*copy_tables)(void *impl, arena *a, char ***names, size_t *n);
    /* The tables that table's foreign keys refer to (itself included if it does). */
    int (*copy_references)(void *impl, const char *table, arena *a, char ***names, size_t *n);
    /* The columns a copy reads and writes, in table order (generated ones left out). */
    int (*copy_columns)(void *impl, const char *table, arena *a, char ***names, size_t *n);
    /* Calls fn with every row's values as text (NULL for SQL NULL; floating point with
     * 17 significant digits) until fn returns non-zero; one snapshot per call. */
    int (*copy_scan)(void *impl, const char *table, char *const *cols, size_t ncols,
                     int (*fn)(void *ctx, const char *const *values), void *ctx);
    /* The load into an empty database: one transaction, foreign keys checked at its
     * end; load_end commits (commit != 0) or rolls back, then moves id counters past
     * the copied ids and rebuilds search indexes. */
    int (*copy_load_begin)(void *impl);
    int (*copy_load_row)(void *impl, const char *table, char *const *cols, size_t ncols,
                         const char *const *values);
    int (*copy_load_end)(void *impl, int commit);
} store_ops;

/* The backend behind an open store, for the contract files of features that keep
 * their own header (store_directory.c). */
const store_ops *store_backend_ops(store *s);
void *store_backend_impl(store *s);

/* Opens a SQLite database file (sqlite.c): creates it if missing, applies migrations.
 * STORE_OK with *ops and *impl, or STORE_ERROR with a message in err. */
int store_sqlite_open(const char *path, const store_ops **ops, void **impl, char *err,
                      size_t errlen);

/* The SQLite schema, one entry per migration in order (sqlite_schema.c). Entry i is
 * migration number i + 1; entries are never edited once released, only appended. */
extern const char *const store_sqlite_migrations[];
extern const int store_sqlite_migration_count;

#endif
