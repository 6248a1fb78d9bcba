/*
 * main: the `commonground` binary's entry point. Dispatches to one subcommand; the
 * table below is the complete list of what the program can do.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct {
    const char *name;
    command_fn fn;
    const char *summary;
} commands[] = {
    {"serve", cmd_serve, "run the web application"},
    {"init", cmd_init, "create or upgrade the database; first administrator; --demo data"},
    {"user", cmd_user, "add users, change roles, list users"},
    {"backup", cmd_backup, "copy the database to a file while the server runs"},
    {"migrate", cmd_migrate, "copy a whole database between SQLite and PostgreSQL"},
    {"pb", cmd_pb, "compute a participatory budget outcome from a pabulib .pb file"},
    {"opinion", cmd_opinion, "map opinion groups and common ground in a Pol.is export"},
    {"weight", cmd_weight, "compare respondents with the population and rake weights"},
    {"sortition", cmd_sortition, "select a citizens' assembly panel by fair lottery"},
    {"directory", cmd_directory, "import or export the community directory (Open Referral UK JSON, CSV)"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: commonground <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`commonground <command> --help` describes a command.\n");
}

int main(int argc, char **argv) {
    /* libsodium picks its fastest implementations and seeds itself here, once, before
     * any thread exists. */
    if (sodium_init() < 0) {
        fprintf(stderr, "commonground: libsodium could not be initialised\n");
        return 1;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "commonground: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
