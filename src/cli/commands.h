/*
 * commands: the subcommands of the `commonground` binary.
 *
 * Each subcommand lives in its own file (cmd_<name>.c) and has this signature: argv[0]
 * is the subcommand's name, the return value is the process exit status (0 success,
 * 1 failure of the work, 2 bad usage). Each prints its own --help.
 */
#ifndef CG_CLI_COMMANDS_H
#define CG_CLI_COMMANDS_H

typedef int (*command_fn)(int argc, char **argv);

int cmd_version(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_pb(int argc, char **argv);
int cmd_opinion(int argc, char **argv);
int cmd_weight(int argc, char **argv);
int cmd_sortition(int argc, char **argv);
int cmd_directory(int argc, char **argv);

#endif
