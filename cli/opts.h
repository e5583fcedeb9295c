/* Table-driven command-line options for the triad subcommands: --name VALUE
 * or --name=VALUE, typed, range-checked, with generated --help text. */
#ifndef TRIAD_CLI_OPTS_H
#define TRIAD_CLI_OPTS_H

#include <stdint.h>
#include <stdio.h>

typedef enum { OPT_INT, OPT_I64, OPT_FLOAT, OPT_DOUBLE, OPT_STR, OPT_FLAG, OPT_U64 } opt_type;

typedef struct {
    const char *name;   /* without the leading "--" */
    opt_type type;
    void *ptr;          /* int, int64_t, float, double, const char *, int (flag), uint64_t */
    const char *help;
    double min, max;    /* inclusive range for numbers (min > max: no check) */
    int set;            /* filled by opts_parse: given on the command line */
} opt_spec;

/* Parses argv[first..argc-1] against specs (n entries). Returns 0 on success,
 * 1 when --help was printed, 2 after printing a one-line error to stderr
 * (unknown option, missing or malformed value, value out of range). */
int opts_parse(opt_spec *specs, int n, int argc, char **argv, int first,
               const char *usage, const char *what);
/* The spec called name (asserts it exists). */
opt_spec *opts_find(opt_spec *specs, int n, const char *name);
void opts_help(FILE *f, const opt_spec *specs, int n, const char *usage, const char *what);

#endif
