/* Shared pieces of the sequence-to-sequence commands: one option table for
 * the model and its training, one training run with progress, one loader. */
#include "s2s.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int s2s_options(s2s_args *a, opt_spec *s)
{
    memset(a, 0, sizeof *a);
    a->o.batch = 64;
    a->o.epochs = 30;
    a->o.clip = 5.0f;
    a->o.decay = 2.0f;
    a->o.patience = 4;
    a->o.seed = 1;
    a->c = (tr_s2s_config){0, 0, 128, 256, 0, 1, 1, TR_S2S_ATT_GENERAL, 1, 0.3f};
    a->optim = "adam";
    a->att = "general";
    a->oc = tr_opt_defaults(TR_OPT_ADAM);
    a->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (a->threads < 1)
        a->threads = 1;
    a->eval_batch = 256;
    a->beam = 5;
    const opt_spec t[] = {
        {"output", OPT_STR, &a->o.output, "checkpoint to write (and OUTPUT.state for resuming)", 1, 0, 0},
        {"resume", OPT_FLAG, &a->resume, "continue the run saved in --output exactly where it stopped", 1, 0, 0},
        {"force", OPT_FLAG, &a->force, "replace an existing --output", 1, 0, 0},
        {"emb", OPT_INT, &a->c.emb, "symbol embedding size", 1, 65536, 0},
        {"hidden", OPT_INT, &a->c.hidden, "encoder LSTM units per direction", 1, 65536, 0},
        {"dec-hidden", OPT_INT, &a->c.dec_hidden, "decoder LSTM units (0 = --hidden; dot attention needs 2 x --hidden)", 0, 65536, 0},
        {"enc-layers", OPT_INT, &a->c.enc_layers, "bidirectional encoder layers", 1, TR_S2S_MAX_LAYERS, 0},
        {"dec-layers", OPT_INT, &a->c.dec_layers, "decoder layers", 1, TR_S2S_MAX_LAYERS, 0},
        {"attention", OPT_STR, &a->att, "attention score: general (h W_a m) or dot (h m)", 1, 0, 0},
        {"no-input-feed", OPT_FLAG, &a->no_feed, "do not feed the attention output into the next decoder step", 1, 0, 0},
        {"dropout", OPT_FLOAT, &a->c.dropout, "dropout on embeddings, between layers and on the attention output", 0, 0.99, 0},
        {"batch", OPT_INT, &a->o.batch, "sequence pairs per update", 1, 100000, 0},
        {"epochs", OPT_INT, &a->o.epochs, "passes over the training data", 1, 1000000, 0},
        {"optim", OPT_STR, &a->optim, "adam or sgd", 1, 0, 0},
        {"lr", OPT_FLOAT, &a->oc.lr, "learning rate (adam: 0.001, sgd: 1 unless given)", 1, 0, 0},
        {"momentum", OPT_FLOAT, &a->oc.momentum, "SGD momentum", 1, 0, 0},
        {"weight-decay", OPT_FLOAT, &a->oc.weight_decay, "L2 weight decay", 1, 0, 0},
        {"clip", OPT_FLOAT, &a->o.clip, "clip the global gradient norm to this (0 = off)", 1, 0, 0},
        {"decay", OPT_FLOAT, &a->o.decay, "when the dev score does not improve: divide lr by this and go back to the best weights (1 = never)", 1, 0, 0},
        {"patience", OPT_INT, &a->o.patience, "stop after this many epochs without dev improvement (0 = never)", 0, 1000000, 0},
        {"seed", OPT_U64, &a->o.seed, "random seed (weights, batches, dropout)", 1, 0, 0},
        {"threads", OPT_INT, &a->threads, "BLAS threads", 1, 1024, 0},
        {"max-steps", OPT_I64, &a->o.max_steps, "stop after this many updates, saving a checkpoint (0 = no limit)", 0, 1e18, 0},
        {"max-time", OPT_DOUBLE, &a->o.max_seconds, "stop after this many seconds, saving a checkpoint (0 = no limit)", 0, 1e12, 0},
        {"save-every", OPT_I64, &a->o.save_every, "also save every N updates (0 = at epoch ends)", 0, 1e18, 0},
        {"eval-batch", OPT_INT, &a->eval_batch, "inputs decoded at once for dev and test", 1, 100000, 0},
        {"beam", OPT_INT, &a->beam, "beam width for the final --test evaluation (1 = greedy)", 1, 1000, 0},
        {"len-norm", OPT_FLOAT, &a->len_norm, "length normalisation exponent of the final beam search", 0, 10, 0},
        {"log", OPT_STR, &a->log_path, "append step,epoch,loss,lr,grad_norm,dev_score lines to this CSV", 1, 0, 0},
        {"quiet", OPT_FLAG, &a->quiet, "no progress output", 1, 0, 0},
    };
    const int n = (int)(sizeof t / sizeof t[0]);
    TR_ASSERT(n <= S2S_NOPTS);
    memcpy(s, t, sizeof t);
    return n;
}

int s2s_check(s2s_args *a, opt_spec *s, int ns, const char *cmd)
{
    if (!opts_find(s, ns, "train")->set || !opts_find(s, ns, "dev")->set) {
        fprintf(stderr, "%s: --train and --dev are required (see --help)\n", cmd);
        return 2;
    }
    if (!a->o.output) {
        fprintf(stderr, "%s: --output is required (see --help)\n", cmd);
        return 2;
    }
    tr_err err;
    tr_err_clear(&err);
    if (a->resume) {
        static const char *fixed[] = {"emb", "hidden", "dec-hidden", "enc-layers", "dec-layers", "attention",
                                      "no-input-feed", "dropout", "batch", "optim", "lr", "momentum",
                                      "weight-decay", "clip", "decay", "patience", "seed", "force"};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (opts_find(s, ns, fixed[i])->set) {
                fprintf(stderr, "%s: --%s cannot be combined with --resume (the checkpoint fixes it)\n", cmd, fixed[i]);
                return 2;
            }
        if (!opts_find(s, ns, "epochs")->set)
            a->o.epochs = 0;
    } else {
        if (tr_cli_file_exists(a->o.output) && !a->force) {
            fprintf(stderr, "%s: %s exists; use --resume to continue it or --force to replace it\n", cmd, a->o.output);
            return 2;
        }
        if (tr_opt_kind_parse(a->optim, &a->oc.kind, &err) || tr_s2s_attention_parse(a->att, &a->c.attention, &err))
            return tr_cli_fail(cmd, &err);
        if (!opts_find(s, ns, "lr")->set)
            a->oc.lr = a->oc.kind == TR_OPT_ADAM ? 1e-3f : 1.0f;
        if (tr_opt_config_check(&a->oc, &err))
            return tr_cli_fail(cmd, &err);
        a->o.opt = a->oc;
        a->c.input_feed = !a->no_feed;
        if (a->c.dec_hidden == 0)
            a->c.dec_hidden = a->c.hidden;
    }
    if (!tr_cli_dir_writable(a->o.output)) {
        fprintf(stderr, "%s: cannot write --output %s: its directory does not exist or is not writable\n", cmd,
                a->o.output);
        return 1;
    }
    tr_set_threads(a->threads);
    return 0;
}

/* ---------------------------------------------------------------- progress */

typedef struct {
    int tty, quiet;
    double last;
    double rate;      /* target tokens per second of this run so far */
    FILE *log;
} progress;

static void on_progress(void *ctx, const tr_s2s_progress *p)
{
    progress *g = ctx;
    if (g->log) {
        fprintf(g->log, "%lld,%d,%.9g,%.9g,%.9g,%.9g\n", (long long)p->step, p->epoch + 1,
                p->validated ? 0.0 : p->loss, p->lr, p->validated ? 0.0 : p->grad_norm, p->validated ? p->score : 0.0);
        fflush(g->log);
    }
    if (!p->validated)
        g->rate = p->tokens_per_s;
    if (p->validated) {
        if (!g->quiet) {
            char el[32], tot[32];
            tr_cli_format_duration(el, sizeof el, p->elapsed);
            tr_cli_format_duration(tot, sizeof tot, p->total);
            fprintf(stderr, "%sepoch %d/%d  %s%s  lr %g%s  (%s; %s of training in all)\n", g->tty ? "\r\033[K" : "",
                    p->epoch + 1, p->epochs, p->note ? p->note : "", p->improved ? " (best)" : "", p->lr,
                    p->decayed ? " (decayed, back to the best weights)" : "", el, tot);
        }
        return;
    }
    if (g->quiet || (p->elapsed - g->last < (g->tty ? 0.25 : 10.0)))
        return;
    g->last = p->elapsed;
    double frac = p->epoch_total > 0 ? (double)p->epoch_pairs / (double)p->epoch_total : 0.0;
    double rate = p->pairs_per_s; /* the ETA ignores dev evaluations and early stopping */
    double left = rate > 0 ? (double)(p->epoch_total - p->epoch_pairs) / rate +
                                 (double)(p->epochs - p->epoch - 1) * (double)p->epoch_total / rate
                           : -1;
    char eta[32];
    tr_cli_format_duration(eta, sizeof eta, left);
    fprintf(stderr, "%sepoch %d/%d %5.1f%% | loss %.4f | %.0f tok/s | lr %g | |g| %.2f | ETA %s%s",
            g->tty ? "\r\033[K" : "", p->epoch + 1, p->epochs, 100.0 * frac, p->loss, p->tokens_per_s, p->lr,
            p->grad_norm, eta, g->tty ? "" : "\n");
}

int s2s_run(s2s_args *a, const char *cmd, const char *resume_hint, tr_s2s *m,
            const tr_s2s_data *pairs, int64_t resume_step,
            tr_s2s_validate_fn validate, void *vctx, int *done)
{
    *done = 0;
    progress pg = {isatty(2), a->quiet, -1e9, 0.0, NULL};
    if (a->log_path && !(pg.log = fopen(a->log_path, "a"))) {
        fprintf(stderr, "%s: cannot open --log %s for appending\n", cmd, a->log_path);
        return 1;
    }
    tr_err err;
    tr_err_clear(&err);
    tr_cli_catch_stop(1);
    int stopped = 0, rc = 0;
    tr_status st = tr_s2s_train(m, pairs, &a->o, resume_step, validate, vctx, &tr_cli_stop, on_progress, &pg,
                                &stopped, &err);
    tr_cli_catch_stop(0);
    if (st) {
        if (pg.tty && !a->quiet)
            fputc('\n', stderr);
        rc = tr_cli_fail(cmd, &err);
    } else if (stopped) {
        if (!a->quiet)
            fprintf(stderr, "%sstopped%s (%.0f tok/s in this run); saved %s; continue with: %s --resume\n",
                    pg.tty ? "\r\033[K" : "", tr_cli_stop ? " by signal" : "", pg.rate, a->o.output, resume_hint);
    } else {
        *done = 1;
    }
    if (pg.log && fclose(pg.log)) {
        fprintf(stderr, "%s: error writing --log %s\n", cmd, a->log_path);
        rc = rc ? rc : 1;
    }
    return rc;
}

/* ---------------------------------------------------------------- decoding standard input */

int s2s_decode_args_parse(s2s_decode_args *a, int argc, char **argv, const char *cmd, const char *usage,
                          const char *what, int batch, const char *data_help, const char *outputs)
{
    *a = (s2s_decode_args){NULL, NULL, NULL, 5, 1, batch, 1, 0, 0.0f};
    char nb[160];
    if (data_help)
        snprintf(nb, sizeof nb, "also write %s to this file", outputs);
    else
        snprintf(nb, sizeof nb, "%s printed per input (at most --beam)", outputs);
    opt_spec s[] = {
        {"model", OPT_STR, &a->model, "checkpoint written by train", 1, 0, 0},
        {"beam", OPT_INT, &a->beam, "beam width (1 = greedy)", 1, 1000, 0},
        {"len-norm", OPT_FLOAT, &a->len_norm, "rank hypotheses by logp / (length + 1)^this", 0, 10, 0},
        {"batch", OPT_INT, &a->batch, data_help ? "inputs decoded at once" : "inputs decoded at once when the input is not a terminal", 1, 100000, 0},
        {"threads", OPT_INT, &a->threads, "BLAS threads", 1, 1024, 0},
        /* eval */
        {"data", OPT_STR, &a->data, data_help, 1, 0, 0},
        {"output", OPT_STR, &a->output, nb, 1, 0, 0},
        /* standard input */
        {"nbest", OPT_INT, &a->nbest, nb, 1, 1000, 0},
        {"keep-going", OPT_FLAG, &a->keep_going, "answer a line that cannot be read (unknown symbol, too long) with an empty line and a warning, and go on", 1, 0, 0},
    };
    /* the first 7 are parsed: standard input puts its two in place of eval's */
    if (!data_help)
        memcpy(s + 5, s + 7, 2 * sizeof s[0]);
    int r = opts_parse(s, 7, argc, argv, 1, usage, what);
    if (r)
        return r == 1 ? 0 : 2;
    if (!a->model || (data_help && !a->data)) {
        fprintf(stderr, "%s: --model%s %s required (see --help)\n", cmd, data_help ? " and --data" : "",
                data_help ? "are" : "is");
        return 2;
    }
    if (a->nbest > a->beam) {
        fprintf(stderr, "%s: --nbest %d needs --beam of at least %d\n", cmd, a->nbest, a->nbest);
        return 2;
    }
    tr_set_threads(a->threads);
    return -1;
}

typedef struct {
    int n;
    int32_t *ids;     /* (B, S) */
    const int32_t **src;
    int *len;
} line_batch;

static void flush_lines(line_batch *lb, tr_s2s_decoder *d, const tr_s2s *m, int beam, int nbest, float len_norm,
                        s2s_print_fn print, void *ctx)
{
    if (lb->n == 0)
        return;
    const tr_s2s_nbest *o = beam <= 1 ? tr_s2s_greedy(d, m, lb->src, lb->len, lb->n)
                                      : tr_s2s_beam(d, m, lb->src, lb->len, lb->n, beam, len_norm);
    for (int i = 0; i < lb->n; i++) {
        int shown = nbest < o->n[i] ? nbest : o->n[i];
        for (int j = 0; j < shown; j++) {
            int h = i * o->k + j;
            if (nbest > 1)
                printf("%d\t%.4f\t", j + 1, o->logp[h]);
            print(ctx, lb->src[i], lb->len[i], o->ids + (size_t)h * o->max_len, o->len[h]);
        }
    }
    fflush(stdout);
    lb->n = 0;
}

int s2s_decode_stdin(const char *cmd, tr_s2s_decoder *d, const tr_s2s *m, const s2s_decode_args *a, s2s_line_fn to_ids,
                     s2s_print_fn print, void *ctx)
{
    const int B = isatty(0) ? 1 : d->B, S = d->S;
    line_batch lb = {0, tr_xmalloc((size_t)B * (size_t)S * sizeof(int32_t)), tr_xmalloc((size_t)B * sizeof(int32_t *)),
                     tr_xmalloc((size_t)B * sizeof(int))};
    char *buf = NULL;
    size_t cap = 0;
    int64_t ln = 0;
    tr_err err;
    tr_err_clear(&err);
    while (tr_cli_getline(&buf, &cap, stdin, &ln, &err) >= 0) {
        int32_t *ids = lb.ids + (size_t)lb.n * (size_t)S;
        int n = to_ids(ctx, buf, ids, ln, &err);
        if (n < 0 && !a->keep_going)
            break;
        if (n < 0) {
            /* the lines before it are answered first, in order */
            flush_lines(&lb, d, m, a->beam, a->nbest, a->len_norm, print, ctx);
            fprintf(stderr, "%s: warning: %s; answered with an empty line\n", cmd, err.msg);
            putchar('\n');
            tr_err_clear(&err);
            continue;
        }
        lb.src[lb.n] = ids;
        lb.len[lb.n] = n;
        if (++lb.n == B)
            flush_lines(&lb, d, m, a->beam, a->nbest, a->len_norm, print, ctx);
    }
    flush_lines(&lb, d, m, a->beam, a->nbest, a->len_norm, print, ctx);
    free(buf);
    free(lb.ids);
    free(lb.src);
    free(lb.len);
    return err.code ? tr_cli_fail(cmd, &err) : 0;
}

int s2s_load(s2s_model *mf, const char *cmd, const char *task, const char *path)
{
    tr_err err;
    if (tr_s2s_load(&mf->m, &mf->src, &mf->tgt, &mf->step, task, path, &err))
        return tr_cli_fail(cmd, &err);
    return 0;
}

void s2s_model_free(s2s_model *mf)
{
    tr_s2s_free(&mf->m);
    tr_vocab_free(mf->src);
    tr_vocab_free(mf->tgt);
}
