/*
 * cmd_init: `commonground init --db PATH [--demo] [--admin-email EMAIL]` creates the
 * database (or brings its schema up to date), creates the first administrator with a
 * one-time password printed once, and with --demo adds the demo places.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "account/account.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/arena.h"
#include "directory/directory.h"
#include "place/place.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: commonground init [--db PATH] [--demo] [--admin-email EMAIL]\n\n"
            "Creates the database if needed and applies migrations. When it has no users,\n"
            "creates the first administrator and prints a one-time password (the first\n"
            "sign-in asks for a new one).\n\n"
            "  --db PATH            database file (default $CG_DB or var/commonground.db)\n"
            "  --demo               add demo data (Adur and Worthing with their wards)\n"
            "  --admin-email EMAIL  the first administrator's email (default admin@example.org)\n");
}

int cmd_init(int argc, char **argv) {
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"demo", no_argument, 0, 'D'},
                                         {"admin-email", required_argument, 0, 'e'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *email = "admin@example.org";
    int demo = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'D': demo = 1; break;
        case 'e': email = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "commonground init: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    const char *problem = account_email_problem(email);
    if (problem) {
        fprintf(stderr, "commonground init: --admin-email: %s\n", problem);
        return 2;
    }
    db = cli_db_path(db);
    store *s = cli_open_store("init", db);
    if (!s) return 1;
    int status = 0;
    arena a;
    arena_init(&a, 0);
    store_actor system = {0, NULL};
    int64_t users = 0;
    if (store_user_count(s, &users) != STORE_OK) {
        fprintf(stderr, "commonground init: cannot read users from %s\n", db);
        status = 1;
    } else if (users == 0) {
        char password[17], hash[ACCOUNT_HASH_MAX];
        store_user admin;
        cli_random_password(password, 16);
        /* One-time: the first sign-in must replace it. */
        if (account_password_hash(password, hash) != 0 ||
            store_user_create_one_time(s, &system, email, "Administrator", hash,
                                       STORE_ROLE_ADMIN, &a, &admin) != STORE_OK) {
            fprintf(stderr, "commonground init: could not create the first administrator\n");
            status = 1;
        } else {
            printf("First administrator: %s\nOne-time password:   %s\n"
                   "(shown once: keep it safe, or add another admin with `commonground user add`)\n",
                   email, password);
        }
    } else {
        printf("The database already has %lld user(s); no administrator created.\n", (long long)users);
    }
    if (status == 0 && demo) {
        char err[256];
        if (place_seed_demo(s, &system, err, sizeof err) != 0 ||
            directory_seed_demo(s, &system, err, sizeof err) != 0) {
            fprintf(stderr, "commonground init: %s\n", err);
            status = 1;
        } else {
            printf("Demo data: Adur and Worthing with their wards.\n");
        }
    }
    if (status == 0) printf("Database ready: %s\n", db);
    arena_free(&a);
    store_close(s);
    return status;
}
