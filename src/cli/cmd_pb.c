/*
 * cmd_pb: placeholder until the engine lands; its issue replaces this file.
 */
#include <stdio.h>

#include "cli/commands.h"

int cmd_pb(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "commonground pb: not available in this build yet\n");
    return 1;
}
