/* Shared pieces of the triad command-line tool: subcommand table entries and
 * option parsing with range checks and clear messages. */
#ifndef TRIAD_CLI_H
#define TRIAD_CLI_H

#include "triad/core.h"

#define TRIAD_VERSION_STRING "0.1.0"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} tr_cli_command;

int tr_cli_lm(int argc, char **argv);
int tr_cli_bench(int argc, char **argv);

#endif
