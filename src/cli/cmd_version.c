/*
 * cmd_version: `commonground version` prints the program's version.
 */
#include <stdio.h>

#include "cli/commands.h"
#include "core/version.h"

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("commonground %s\n", CG_VERSION);
    return 0;
}
