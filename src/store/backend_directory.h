/*
 * backend_directory: the private interface between the directory contract
 * (directory.h, implemented in store_directory.c) and each database backend
 * (sqlite_directory.c; postgres_directory.c in issue 8). A backend points
 * store_ops.dir at its table. Nothing outside src/store includes this file.
 *
 * As for store_ops: arguments arrive checked and normalised by store_directory.c (valid
 * text, non-empty names, known status, actor never NULL, uuids canonical lowercase or
 * NULL); each operation is one transaction including its audit entries, with the
 * meaning given in directory.h.
 */
#ifndef CG_STORE_BACKEND_DIRECTORY_H
#define CG_STORE_BACKEND_DIRECTORY_H

#include "store/directory.h"

typedef struct store_dir_ops {
    int (*org_save)(void *impl, const store_actor *actor, const store_dir_org *in, arena *a,
                    store_dir_org *out);
    int (*org_by_uuid)(void *impl, const char *uuid, arena *a, store_dir_org *out);
    int (*org_by_id)(void *impl, int64_t id, arena *a, store_dir_org *out);
    int (*org_list_page)(void *impl, int64_t offset, int64_t limit, arena *a,
                         store_dir_org_list *out);

    int (*member_add)(void *impl, const store_actor *actor, int64_t org_id, int64_t user_id);
    int (*member_remove)(void *impl, const store_actor *actor, int64_t org_id, int64_t user_id);
    int (*member_check)(void *impl, int64_t org_id, int64_t user_id);
    int (*members)(void *impl, int64_t org_id, arena *a, store_user_list *out);
    int (*orgs_of_user)(void *impl, int64_t user_id, arena *a, store_dir_org_list *out);

    int (*taxonomy_save)(void *impl, const store_actor *actor, const store_dir_taxonomy *in,
                         arena *a, store_dir_taxonomy *out);
    int (*term_save)(void *impl, const store_actor *actor, const store_dir_term *in, arena *a,
                     store_dir_term *out);
    int (*taxonomy_list)(void *impl, arena *a, store_dir_taxonomy_list *out);
    int (*term_list)(void *impl, const char *taxonomy_uuid, arena *a, store_dir_term_list *out);
    int (*term_by_uuid)(void *impl, const char *uuid, arena *a, store_dir_term *out);
    int (*taxonomy_by_uuid)(void *impl, const char *uuid, arena *a, store_dir_taxonomy *out);

    int (*service_save)(void *impl, const store_actor *actor, const store_dir_service *in, arena *a,
                        store_dir_service *out);
    int (*service_by_uuid)(void *impl, const char *uuid, arena *a, store_dir_service *out);
    int (*service_search)(void *impl, const store_dir_query *q, arena *a,
                          store_dir_service_list *out);
    int (*service_related)(void *impl, int64_t service_id, int64_t limit, arena *a,
                           store_dir_service_list *out);
    int (*postcode_centre)(void *impl, const char *postcode, double *lat, double *lon);

    int (*import)(void *impl, const store_actor *actor, const store_dir_feed *feed,
                  store_dir_import_result *res);
} store_dir_ops;

/* The SQLite implementation (sqlite_directory.c). */
extern const store_dir_ops store_sqlite_dir_ops;
/* The PostgreSQL implementation (postgres_directory.c). */
extern const store_dir_ops store_pg_dir_ops;

#endif
