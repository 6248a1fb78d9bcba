/*
 * cmd_backup: `commonground backup [--db PATH] FILE` writes a consistent copy of the
 * database to FILE while the server keeps running (SQLite online backup).
 */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli_util.h"
#include "cli/commands.h"

int cmd_backup(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h':
            printf("usage: commonground backup [--db PATH] FILE\n");
            return 0;
        default:
            fprintf(stderr, "usage: commonground backup [--db PATH] FILE\n");
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "commonground backup: give exactly one destination FILE\n"
                        "usage: commonground backup [--db PATH] FILE\n");
        return 2;
    }
    store *s = cli_open_store("backup", cli_db_path(db));
    if (!s) return 1;
    char err[512];
    int rc = store_backup(s, argv[optind], err, sizeof err);
    store_close(s);
    if (rc != STORE_OK) {
        fprintf(stderr, "commonground backup: %s\n", err);
        return 1;
    }
    printf("Backed up to %s\n", argv[optind]);
    return 0;
}
