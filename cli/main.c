/* The triad command: dispatches to subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const tr_cli_command COMMANDS[] = {
    {"lm", "word-level LSTM language model: train, eval, generate", tr_cli_lm},
    {"lightrnn", "LightRNN language model: train, eval, word-table realloc", tr_cli_lightrnn},
    {"ps", "parameter server: data-parallel training (bsp, ssp, asp, DC-ASGD, model averaging)", tr_cli_ps},
    {"g2p", "spelling -> pronunciation (attention encoder-decoder, CMUdict): train, eval, predict", tr_cli_g2p},
    {"p2g", "pronunciation -> spelling (attention encoder-decoder, CMUdict): train, eval, predict", tr_cli_p2g},
    {"mt", "translation between two languages (attention encoder-decoder, subword units): train, eval, translate", tr_cli_mt},
    {"dual", "dual learning of two inverse models: marginal LMs, closed loop, duality regulariser", tr_cli_dual},
    {"bench", "measurements behind bench/: sgemm peak, LM training throughput", tr_cli_bench},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: triad <command> [options]   (triad <command> --help for more)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\n  --version  print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("triad %s\n", TRIAD_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name))
            return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "triad: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
