/*
 * cmd_weight: placeholder until the engine lands; its issue replaces this file.
 */
#include <stdio.h>

#include "cli/commands.h"

int cmd_weight(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "commonground weight: not available in this build yet\n");
    return 1;
}
