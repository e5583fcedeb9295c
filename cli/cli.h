/* Shared pieces of the triad command-line tool: subcommand table entries and
 * option parsing with range checks and clear messages. */
#ifndef TRIAD_CLI_H
#define TRIAD_CLI_H

#include "triad/core.h"
#include "triad/lm.h"

#define TRIAD_VERSION_STRING "0.1.0"

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} tr_cli_command;

/* Runs the subcommand named by argv[1] from sub (n entries); prints the list
 * (to stdout for --help, else to stderr with exit status 2). group is the
 * command, e.g. "lm". */
int tr_cli_dispatch(const char *group, const tr_cli_command *sub, int n,
                    int argc, char **argv);

/* Shared helpers (cli/util.c). */
#include <signal.h>
extern volatile sig_atomic_t tr_cli_stop; /* raised by Ctrl-C / SIGTERM */
/* Routes SIGINT and SIGTERM to tr_cli_stop (on) or back to the default. */
void tr_cli_catch_stop(int on);
/* Prints "cmd: message" to stderr; returns 1 (the exit status). */
int tr_cli_fail(const char *cmd, const tr_err *err);
int tr_cli_file_exists(const char *path);
/* Whether the directory that will hold path can be written (checked before
 * long work, so that it does not fail at the end). */
int tr_cli_dir_writable(const char *path);
/* "42s", "3m07s", "2h05m", or "?" for a negative or huge s. */
void tr_cli_format_duration(char *buf, size_t n, double s);
/* Reads the next line of standard input f into *buf without its line break
 * (and a '\r' before it), counting *line. Returns its length, or -1 at the
 * end of the input or on a NUL byte (then err names "<stdin>:LINE"; err is
 * cleared otherwise). */
#include <stdio.h>
#include <sys/types.h>
ssize_t tr_cli_getline(char **buf, size_t *cap, FILE *f, int64_t *line, tr_err *err);

int tr_cli_lm(int argc, char **argv);
int tr_cli_lightrnn(int argc, char **argv);
int tr_cli_ps(int argc, char **argv);
int tr_cli_g2p(int argc, char **argv);
int tr_cli_p2g(int argc, char **argv);
int tr_cli_mt(int argc, char **argv);
int tr_cli_dual(int argc, char **argv);

/* A language model kind for the shared train and eval commands. */
typedef struct {
    const char *name; /* "lm", "lightrnn": the command and triad.model */
    const char *what; /* for --help */
    size_t size;      /* of the model struct */
    tr_status (*init)(void *m, const tr_lm_config *c, tr_err *err);
    void (*init_weights)(void *m, uint64_t seed);
    tr_status (*load)(void *m, tr_vocab **v, int64_t *step, const char *path, tr_err *err);
    void (*free)(void *m);
    tr_seq_model (*seq)(void *m);
    /* models with a word table: re-allocation solver and on/off; else NULL */
    tr_status (*table)(void *m, const char *solver, int realloc, tr_err *err);
} tr_cli_model;

extern const tr_cli_model TR_CLI_LM, TR_CLI_LIGHTRNN;
int tr_cli_seq_train(int argc, char **argv, const tr_cli_model *k);
int tr_cli_seq_eval(int argc, char **argv, const tr_cli_model *k);
int tr_cli_seq_generate(int argc, char **argv, const tr_cli_model *k);
int tr_cli_bench(int argc, char **argv);

#endif
