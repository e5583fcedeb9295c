/* The parts every sequence-to-sequence command shares (triad g2p, p2g, mt):
 * the model and training options, their checks, the training run with
 * progress and Ctrl-C, and loading a model of a task. */
#ifndef TRIAD_CLI_S2S_H
#define TRIAD_CLI_S2S_H

#include "cli.h"
#include "opts.h"
#include "triad/seq2seq.h"

/* The shared train options, parsed into the library's structs. */
typedef struct {
    tr_s2s_train_opts o;
    tr_s2s_config c;
    tr_opt_config oc;
    const char *optim, *att, *log_path;
    int threads, resume, force, quiet, no_feed;
    int eval_batch, beam;
    float len_norm;
} s2s_args;

/* Room s2s_options needs in the option table. */
#define S2S_NOPTS 32

/* Sets the defaults in a (a task may change them afterwards, before
 * parsing) and writes the shared option entries into s; returns how many. */
int s2s_options(s2s_args *a, opt_spec *s);

/* After opts_parse of the ns entries of s (which hold the task's --train
 * and --dev): --train, --dev and --output are given; with
 * --resume no option that the checkpoint fixes was given (and --epochs
 * defaults to the saved one); otherwise --output does not exist (or
 * --force), and the optimiser and model config are completed. Checks that
 * --output's directory is writable and sets the BLAS threads. Returns 0 or
 * the exit status. */
int s2s_check(s2s_args *a, opt_spec *s, int ns, const char *cmd);

/* Trains m on pairs (resume_step >= 0 continues the run in a->o.output):
 * appends the --log CSV, shows progress on stderr, saves on Ctrl-C and
 * prints how to go on with resume_hint (the command line to continue).
 * Returns 0 or the exit status; *done is 1 when training reached its end
 * (m then holds the best weights). */
int s2s_run(s2s_args *a, const char *cmd, const char *resume_hint, tr_s2s *m,
            const tr_s2s_data *pairs, int64_t resume_step,
            tr_s2s_validate_fn validate, void *vctx, int *done);

/* Turns one input line into source ids (room for the decoder's S); returns
 * their count, or -1 with err naming "<stdin>:LINE". */
typedef int (*s2s_line_fn)(void *ctx, char *line, int32_t *ids, int64_t line_no, tr_err *err);
/* Prints one hypothesis of an input (ids of both), ending the line. */
typedef void (*s2s_print_fn)(void *ctx, const int32_t *src, int ns, const int32_t *hyp, int nh);

/* The options of a command that decodes: predict/translate (standard
 * input) or eval (a data file). */
typedef struct {
    const char *model, *data, *output;
    int beam, nbest, batch, threads;
    int keep_going; /* standard input: a bad line gets an empty answer */
    float len_norm;
} s2s_decode_args;

/* Parses --model, --beam, --len-norm, --batch, --threads and, for eval
 * (data_help != NULL), --data (required) and --output, else --nbest and
 * --keep-going (defaults: beam 5, nbest 1, batch as given, 1 thread); checks them and
 * sets the BLAS threads. `outputs` names what --nbest prints or --output
 * writes, for --help. Returns -1 to go on, or the exit status (0 after
 * --help). */
int s2s_decode_args_parse(s2s_decode_args *a, int argc, char **argv, const char *cmd, const char *usage,
                          const char *what, int batch, const char *data_help, const char *outputs);

/* Reads standard input a line at a time, decodes the lines in batches of
 * d->B (one at a time from a terminal) with beam search (a->beam 1:
 * greedy) and prints a->nbest hypotheses per input, each prefixed by
 * "RANK\tLOGP\t" when nbest > 1. The first bad line stops the loop after
 * the lines before it are answered, unless a->keep_going: then it is
 * answered by one empty line, with a warning naming the line on stderr.
 * Returns 0, or 1 with the message printed (prefixed by cmd). */
int s2s_decode_stdin(const char *cmd, tr_s2s_decoder *d, const tr_s2s *m, const s2s_decode_args *a, s2s_line_fn to_ids,
                     s2s_print_fn print, void *ctx);

/* A checkpoint of a task with its vocabularies. */
typedef struct {
    tr_s2s m;
    tr_vocab *src, *tgt;
    int64_t step;
} s2s_model;

/* Loads path, refusing a model of another task (message prefixed with cmd).
 * Returns 0 or 1. */
int s2s_load(s2s_model *mf, const char *cmd, const char *task, const char *path);
void s2s_model_free(s2s_model *mf);

#endif
