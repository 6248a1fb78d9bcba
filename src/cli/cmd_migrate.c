/*
 * cmd_migrate: `commonground migrate --from DB --to DB` copies a whole database into an
 * empty one of either kind: a council moving up from SQLite to a shared PostgreSQL
 * (`--from var/commonground.db --to postgres://...`), or leaving it (the reverse). Both
 * are opened (and migrated) through the store, the copy is one transaction on the
 * destination, and every table is then counted and compared on both sides
 * (store_copy in src/store/store_copy.c). Prints one line per table.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"

static const char usage_text[] =
    "usage: commonground migrate --from DB --to DB\n"
    "\n"
    "Copies every table of one database into an empty database and checks the copy\n"
    "(the same rows in every table). DB is a SQLite file or a postgres:// URL, e.g.\n"
    "  commonground migrate --from var/commonground.db --to postgres://cg@dbhost/cg\n"
    "  commonground migrate --from postgres://cg@dbhost/cg --to var/commonground.db\n"
    "The destination is created if needed and must hold no rows. Stop the servers\n"
    "writing to the source first: writes made during the copy are not carried over.\n";

static int is_url(const char *db) { return strstr(db, "://") != NULL; }

int cmd_migrate(int argc, char **argv) {
    static const struct option opts[] = {{"from", required_argument, 0, 'f'},
                                         {"to", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *from = NULL, *to = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (!from || !to || optind != argc) {
        fprintf(stderr, "commonground migrate: give --from and --to\n%s", usage_text);
        return 2;
    }
    if (strcmp(from, to) == 0) {
        fprintf(stderr, "commonground migrate: --from and --to name the same database\n");
        return 2;
    }
    /* Opening a missing SQLite file would create an empty one and copy nothing. */
    if (!is_url(from) && access(strncmp(from, "sqlite:", 7) == 0 ? from + 7 : from, R_OK) != 0) {
        fprintf(stderr, "commonground migrate: cannot read %s\n", from);
        return 1;
    }
    store *src = cli_open_store("migrate", from);
    if (!src) return 1;
    store *dst = cli_open_store("migrate", to);
    if (!dst) {
        store_close(src);
        return 1;
    }
    arena a;
    arena_init(&a, 0);
    store_copy_report rep;
    char err[512];
    int rc = store_copy(src, dst, &a, &rep, err, sizeof err);
    if (rc == STORE_OK) {
        int64_t rows = 0;
        for (size_t i = 0; i < rep.n; i++) {
            printf("%-28s %10lld rows\n", rep.tables[i].name, (long long)rep.tables[i].rows);
            rows += rep.tables[i].rows;
        }
        printf("Copied %zu tables (%lld rows); every table has the same rows in both "
               "databases.\n",
               rep.n, (long long)rows);
    } else {
        fprintf(stderr, "commonground migrate: %s\n", err);
    }
    arena_free(&a);
    store_close(dst);
    store_close(src);
    return rc == STORE_OK ? 0 : 1;
}
