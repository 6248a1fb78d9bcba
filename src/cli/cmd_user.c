/*
 * cmd_user: `commonground user add|role|list` manages accounts from the command line
 * (for the operator who has the server's shell but no administrator password).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "account/account.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/arena.h"
#include "core/utf8.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: commonground user add  [--db PATH] --email EMAIL --name NAME [--role ROLE] [--password-stdin]\n"
            "       commonground user role [--db PATH] --email EMAIL --role ROLE\n"
            "       commonground user list [--db PATH]\n\n"
            "ROLE is resident, organiser, officer or admin (default resident). Without\n"
            "--password-stdin, `add` generates a password and prints it once; it works for\n"
            "one sign-in, which asks the user to choose their own.\n");
}

int cmd_user(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *action = argv[1];
    if (strcmp(action, "add") != 0 && strcmp(action, "role") != 0 && strcmp(action, "list") != 0) {
        fprintf(stderr, "commonground user: unknown action '%s'\n", action);
        usage(stderr);
        return 2;
    }
    static const struct option opts[] = {{"db", required_argument, 0, 'd'},
                                         {"email", required_argument, 0, 'e'},
                                         {"name", required_argument, 0, 'n'},
                                         {"role", required_argument, 0, 'r'},
                                         {"password-stdin", no_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *email = NULL, *name = NULL, *role_name = NULL;
    int pw_stdin = 0, c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'e': email = optarg; break;
        case 'n': name = optarg; break;
        case 'r': role_name = optarg; break;
        case 'p': pw_stdin = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    store_role role = STORE_ROLE_RESIDENT;
    if (role_name && store_role_parse(role_name, &role) != 0) {
        fprintf(stderr, "commonground user: --role: '%s' is not one of resident, organiser, officer, admin\n", role_name);
        return 2;
    }
    if (strcmp(action, "list") != 0) {
        const char *problem = account_email_problem(email);
        if (problem) {
            fprintf(stderr, "commonground user %s: --email: %s\n", action, problem);
            return 2;
        }
    }
    if (strcmp(action, "add") == 0 && (!name || !*name || !utf8_valid_text(name, strlen(name)))) {
        fprintf(stderr, "commonground user add: --name: give the person's name\n");
        return 2;
    }
    if (strcmp(action, "role") == 0 && !role_name) {
        fprintf(stderr, "commonground user role: --role is required\n");
        return 2;
    }
    store *s = cli_open_store("user", cli_db_path(db));
    if (!s) return 1;
    arena a;
    arena_init(&a, 0);
    store_actor system = {0, NULL};
    int status = 0;
    if (strcmp(action, "add") == 0) {
        char password[1100], hash[ACCOUNT_HASH_MAX];
        int generated = 0;
        if (pw_stdin) {
            if (!fgets(password, sizeof password, stdin)) password[0] = '\0';
            password[strcspn(password, "\r\n")] = '\0';
            const char *problem = account_password_problem(password);
            if (problem) {
                fprintf(stderr, "commonground user add: password: %s\n", problem);
                status = 2;
            }
        } else {
            cli_random_password(password, 16);
            generated = 1;
        }
        if (status == 0) {
            store_user u;
            /* A generated password is printed, so it is one-time: the first sign-in
             * must replace it. A password from stdin is the operator's choice. */
            int rc = account_password_hash(password, hash) != 0 ? STORE_ERROR
                     : generated ? store_user_create_one_time(s, &system, email, name, hash, role, &a, &u)
                                 : store_user_create(s, &system, email, name, hash, role, &a, &u);
            if (rc == STORE_CONFLICT) {
                fprintf(stderr, "commonground user add: --email: an account with %s already exists\n", email);
                status = 1;
            } else if (rc != STORE_OK) {
                fprintf(stderr, "commonground user add: could not create the user (%s)\n", store_strerror(rc));
                status = 1;
            } else {
                printf("Created %s (%s) as %s.\n", u.email, u.uuid, store_role_name(role));
                if (generated) printf("Password: %s\n(one-time: to be replaced at the first sign-in)\n", password);
            }
        }
    } else if (strcmp(action, "role") == 0) {
        store_user u;
        int rc;
        if (store_user_by_email(s, email, &a, &u) != STORE_OK) {
            fprintf(stderr, "commonground user role: --email: no account with %s\n", email);
            status = 1;
        } else if ((rc = store_user_set_role(s, &system, u.id, role)) != STORE_OK) {
            fprintf(stderr, "commonground user role: %s\n",
                    rc == STORE_CONFLICT ? "--role: this is the last administrator; make someone else admin first"
                                         : "could not change the role");
            status = 1;
        } else {
            printf("%s is now %s.\n", u.email, store_role_name(role));
        }
    } else {
        store_user_list list;
        for (int64_t off = 0;; off += 500) {
            if (store_user_list_page(s, off, 500, &a, &list) != STORE_OK) {
                status = 1;
                break;
            }
            for (size_t i = 0; i < list.n; i++)
                printf("%s\t%s\t%s\t%s\n", list.items[i].uuid, list.items[i].email,
                       store_role_name(list.items[i].role), list.items[i].display_name);
            if (list.n < 500) break;
        }
    }
    arena_free(&a);
    store_close(s);
    return status;
}
