#include "cli.h"
#include <stdio.h>
int tr_cli_lm(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "triad lm: not built yet\n");
    return 1;
}
