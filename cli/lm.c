/* triad lm: train, evaluate and sample the word-level LSTM language model. */
#include "cli.h"
#include "opts.h"
#include "triad/data.h"
#include "triad/lm.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- progress */

typedef struct {
    int tty, quiet;
    double last;        /* elapsed at the last printed line */
    FILE *log;          /* CSV, or NULL */
    double valid_ppl;   /* last evaluation */
} progress;

static void on_progress(void *ctx, const tr_lm_progress *p)
{
    progress *g = ctx;
    if (g->log) {
        fprintf(g->log, "%lld,%d,%.17g,%.9g,%.9g,%.9g\n", (long long)p->step, p->epoch + 1,
                p->valid_ppl > 0 ? 0.0 : p->loss, p->lr, p->valid_ppl > 0 ? 0.0 : p->grad_norm, p->valid_ppl);
        fflush(g->log);
    }
    if (p->valid_ppl > 0) {
        g->valid_ppl = p->valid_ppl;
        if (!g->quiet && p->note)
            fprintf(stderr, "%s%s\n", g->tty ? "\r\033[K" : "", p->note);
        if (!g->quiet) {
            char el[32];
            tr_cli_format_duration(el, sizeof el, p->elapsed);
            fprintf(stderr, "%sepoch %d/%d  valid ppl %.2f  lr %g%s  (%s)\n", g->tty ? "\r\033[K" : "",
                    p->epoch + 1, p->epochs, p->valid_ppl, p->lr, p->decayed ? " (decayed)" : "", el);
        }
        return;
    }
    if (g->quiet || (p->elapsed - g->last < (g->tty ? 0.25 : 10.0)))
        return;
    g->last = p->elapsed;
    double frac = p->epoch_total > 0 ? (double)p->epoch_tokens / (double)p->epoch_total : 0.0;
    double left = p->tokens_per_s > 0 ? (double)(p->epoch_total - p->epoch_tokens) / p->tokens_per_s : -1;
    left += (double)(p->epochs - p->epoch - 1) * (p->tokens_per_s > 0 ? p->epoch_total / p->tokens_per_s : 0);
    char eta[32];
    tr_cli_format_duration(eta, sizeof eta, left);
    fprintf(stderr, "%sepoch %d/%d %5.1f%% | loss %.3f ppl %.1f | %.0f tok/s | lr %g | |g| %.2f | ETA %s%s",
            g->tty ? "\r\033[K" : "", p->epoch + 1, p->epochs, 100.0 * frac, p->avg_loss, exp(p->avg_loss),
            p->tokens_per_s, p->lr, p->grad_norm, eta, g->tty ? "" : "\n");
}

/* ---------------------------------------------------------------- model kinds */

static tr_status lm_init(void *m, const tr_lm_config *c, tr_err *err) { return tr_lm_init(m, c, err); }
static void lm_init_weights(void *m, uint64_t seed) { tr_lm_init_weights(m, seed); }
static tr_status lm_load(void *m, tr_vocab **v, int64_t *step, const char *path, tr_err *err)
{
    return tr_lm_load(m, v, step, path, err);
}
static void lm_free(void *m) { tr_lm_free(m); }
static tr_seq_model lm_seq(void *m) { return tr_lm_seq(m); }

const tr_cli_model TR_CLI_LM = {
    "lm", "a word-level LSTM language model (full softmax)", sizeof(tr_lm),
    lm_init, lm_init_weights, lm_load, lm_free, lm_seq, NULL,
};

/* ---------------------------------------------------------------- train */

int tr_cli_seq_train(int argc, char **argv, const tr_cli_model *k)
{
    char cmd[64], usage[160], what[256];
    snprintf(cmd, sizeof cmd, "triad %s train", k->name);
    snprintf(usage, sizeof usage, "%s --train FILE --valid FILE --output FILE [options]", cmd);
    snprintf(what, sizeof what, "Trains %s with truncated BPTT.\nCtrl-C saves a checkpoint; --resume continues it exactly.", k->what);
    tr_lm_train_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 32;
    o.bptt = 35;
    o.epochs = 3;
    o.eval_batch = 1;
    o.clip = 0.25f;
    o.decay = 4.0f;
    o.seed = 1;
    const char *optim = "sgd", *log_path = NULL, *test_path = NULL;
    tr_opt_config oc = tr_opt_defaults(TR_OPT_SGD);
    oc.lr = 20.0f;
    tr_lm_config c = {10000, 0, 128, 2, 0.2f, 1};
    int min_count = 1, threads = (int)sysconf(_SC_NPROCESSORS_ONLN), resume = 0, force = 0;
    int no_lower = 0, quiet = 0, no_realloc = 0;
    const char *solver = "alternating";
    if (threads < 1)
        threads = 1;
    opt_spec s[] = {
        {"train", OPT_STR, &o.train_path, "training text, one sentence per line", 1, 0, 0},
        {"valid", OPT_STR, &o.valid_path, "validation text (evaluated after each epoch)", 1, 0, 0},
        {"test", OPT_STR, &test_path, "test text, evaluated once at the end", 1, 0, 0},
        {"output", OPT_STR, &o.output, "checkpoint to write (and OUTPUT.state for resuming)", 1, 0, 0},
        {"resume", OPT_FLAG, &resume, "continue the run saved in --output exactly where it stopped", 1, 0, 0},
        {"force", OPT_FLAG, &force, "replace an existing --output", 1, 0, 0},
        {"vocab", OPT_INT, &c.vocab_size, "vocabulary size, counting <unk> and <eos>", 3, 10000000, 0},
        {"min-count", OPT_INT, &min_count, "keep words seen at least this often", 1, 1e9, 0},
        {"no-lower", OPT_FLAG, &no_lower, "keep case (default: lower-case the text)", 1, 0, 0},
        {"emb", OPT_INT, &c.emb, "embedding size (0 = --hidden)", 0, 65536, 0},
        {"hidden", OPT_INT, &c.hidden, "LSTM hidden size", 1, 65536, 0},
        {"layers", OPT_INT, &c.layers, "LSTM layers", 1, TR_LM_MAX_LAYERS, 0},
        {"dropout", OPT_FLOAT, &c.dropout, "dropout probability", 0, 0.99, 0},
        {"bptt", OPT_INT, &o.bptt, "steps per window of truncated back-propagation", 1, 100000, 0},
        {"batch", OPT_INT, &o.batch, "lanes (sequences) per batch", 1, 100000, 0},
        {"epochs", OPT_INT, &o.epochs, "passes over the training text", 1, 1000000, 0},
        {"optim", OPT_STR, &optim, "sgd or adam", 1, 0, 0},
        {"lr", OPT_FLOAT, &oc.lr, "learning rate", 1, 0, 0},
        {"momentum", OPT_FLOAT, &oc.momentum, "SGD momentum", 1, 0, 0},
        {"weight-decay", OPT_FLOAT, &oc.weight_decay, "L2 weight decay", 1, 0, 0},
        {"clip", OPT_FLOAT, &o.clip, "clip the global gradient norm to this (0 = off)", 1, 0, 0},
        {"decay", OPT_FLOAT, &o.decay, "divide lr by this when valid perplexity stops improving (1 = never)", 1, 0, 0},
        {"eval-batch", OPT_INT, &o.eval_batch, "lanes for validation (1 scores every token)", 1, 100000, 0},
        {"seed", OPT_U64, &o.seed, "random seed (weights, dropout)", 1, 0, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
        {"max-steps", OPT_I64, &o.max_steps, "stop after this many updates, saving a checkpoint (0 = no limit)", 0, 1e18, 0},
        {"max-time", OPT_DOUBLE, &o.max_seconds, "stop after this many seconds, saving a checkpoint (0 = no limit)", 0, 1e12, 0},
        {"save-every", OPT_I64, &o.save_every, "also save every N updates (0 = at epoch ends)", 0, 1e18, 0},
        {"log", OPT_STR, &log_path, "append step,epoch,loss,lr,grad_norm,valid_ppl lines to this CSV", 1, 0, 0},
        {"quiet", OPT_FLAG, &quiet, "no progress output", 1, 0, 0},
        {"solver", OPT_STR, &solver, "word-table re-allocation after each epoch: greedy, exact or alternating", 1, 0, 0},
        {"no-realloc", OPT_FLAG, &no_realloc, "keep the initial word table (frequency order)", 1, 0, 0},
    };
    /* the last two options exist only for models with a word table */
    const int ns = (int)(sizeof s / sizeof s[0]) - (k->table ? 0 : 2);
    int r = opts_parse(s, ns, argc, argv, 1, usage, what);
    if (r)
        return r == 1 ? 0 : 2;
    tr_err err;
    tr_err_clear(&err);
    if (!o.output) {
        fprintf(stderr, "%s: --output is required (see --help)\n", cmd);
        return 2;
    }
    if (resume) {
        static const char *fixed[] = {"vocab", "min-count", "no-lower", "emb", "hidden", "layers", "dropout", "bptt",
                                      "batch", "optim", "lr", "momentum", "weight-decay", "clip", "decay",
                                      "eval-batch", "seed", "force", "solver", "no-realloc"};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if ((i < 18 || k->table) && opts_find(s, ns, fixed[i])->set) {
                fprintf(stderr, "%s: --%s cannot be combined with --resume (the checkpoint fixes it)\n", cmd, fixed[i]);
                return 2;
            }
        if (!opts_find(s, ns, "epochs")->set)
            o.epochs = 0;
    } else {
        if (!o.train_path || !o.valid_path) {
            fprintf(stderr, "%s: --train and --valid are required (see --help)\n", cmd);
            return 2;
        }
        if (tr_cli_file_exists(o.output) && !force) {
            fprintf(stderr, "%s: %s exists; use --resume to continue it or --force to replace it\n", cmd, o.output);
            return 2;
        }
        if (tr_opt_kind_parse(optim, &oc.kind, &err))
            return tr_cli_fail(cmd, &err);
        if (oc.kind == TR_OPT_ADAM && !opts_find(s, ns, "lr")->set)
            oc.lr = 1e-3f;
        if (tr_opt_config_check(&oc, &err))
            return tr_cli_fail(cmd, &err);
        o.opt = oc;
        c.lower = !no_lower;
        if (c.emb == 0)
            c.emb = c.hidden;
        if (tr_lm_config_check(&c, &err))
            return tr_cli_fail(cmd, &err);
    }
    tr_set_threads(threads);

    void *m = tr_xcalloc(1, k->size);
    tr_vocab *v = NULL;
    int64_t resume_step = -1;
    int rc = 0;
    int64_t lines = 0, tokens = 0;
    if (resume) {
        if (k->load(m, &v, &resume_step, o.output, &err)) {
            free(m);
            return tr_cli_fail(cmd, &err);
        }
    } else {
        if (tr_vocab_build(&v, o.train_path, c.lower, min_count, c.vocab_size, &lines, &tokens, &err)) {
            free(m);
            return tr_cli_fail(cmd, &err);
        }
        if (tr_vocab_size(v) < c.vocab_size) {
            if (!quiet && opts_find(s, ns, "vocab")->set)
                fprintf(stderr, "%s: %s has only %d distinct words (with <unk> and <eos>); --vocab lowered from %d\n",
                        cmd, o.train_path, tr_vocab_size(v), c.vocab_size);
            c.vocab_size = tr_vocab_size(v);
        }
        if (k->init(m, &c, &err)) {
            tr_vocab_free(v);
            free(m);
            return tr_cli_fail(cmd, &err);
        }
        k->init_weights(m, o.seed);
    }
    tr_seq_model sm = k->seq(m);
    if (k->table && k->table(m, solver, !no_realloc, &err))
        rc = tr_cli_fail(cmd, &err);
    else if (!quiet && !resume)
        fprintf(stderr, "%s: %lld lines, %lld tokens; vocabulary %d; %lld parameters; %d thread%s\n", o.train_path,
                (long long)lines, (long long)tokens, c.vocab_size,
                (long long)tr_params_count(sm.params), threads, threads == 1 ? "" : "s");

    /* everything that can be checked is checked before the first update */
    if (rc) {
    } else if (!tr_cli_dir_writable(o.output)) {
        fprintf(stderr, "%s: cannot write --output %s: its directory does not exist or is not writable\n", cmd, o.output);
        rc = 1;
    } else if (test_path) {
        tr_batcher *tb = NULL;
        if (tr_batcher_open(&tb, test_path, v, sm.cfg->lower, 1, 1, &err))
            rc = tr_cli_fail(cmd, &err);
        tr_batcher_close(tb);
    }
    progress g = {isatty(2), quiet, -1e9, NULL, 0.0};
    if (!rc && log_path && !(g.log = fopen(log_path, "a"))) {
        fprintf(stderr, "%s: cannot open --log %s for appending\n", cmd, log_path);
        rc = 1;
    }
    if (rc) {
        k->free(m);
        free(m);
        tr_vocab_free(v);
        return rc;
    }
    tr_cli_catch_stop(1);
    int stopped = 0;
    tr_status st = tr_seq_train(&sm, v, &o, resume_step, &tr_cli_stop, on_progress, &g, &stopped, &err);
    tr_cli_catch_stop(0);
    if (g.log)
        fclose(g.log);
    if (st) {
        if (g.tty && !quiet)
            fputc('\n', stderr);
        rc = tr_cli_fail(cmd, &err);
    } else if (stopped) {
        if (!quiet)
            fprintf(stderr, "%sstopped%s; saved %s; continue with: triad %s train --output %s --resume\n",
                    g.tty ? "\r\033[K" : "", tr_cli_stop ? " by signal" : "", o.output, k->name, o.output);
    } else {
        printf("valid ppl %.2f\n", g.valid_ppl);
        if (test_path) {
            double ppl = 0;
            int64_t n = 0;
            if (tr_seq_eval_file(&sm, v, test_path, 1, o.bptt, &ppl, &n, &err))
                rc = tr_cli_fail(cmd, &err);
            else
                printf("test ppl %.2f (%lld tokens)\n", ppl, (long long)n);
        }
    }
    k->free(m);
    free(m);
    tr_vocab_free(v);
    return rc;
}

/* ---------------------------------------------------------------- eval */

int tr_cli_seq_eval(int argc, char **argv, const tr_cli_model *k)
{
    char cmd[64], usage[128];
    snprintf(cmd, sizeof cmd, "triad %s eval", k->name);
    snprintf(usage, sizeof usage, "%s --model FILE --text FILE [options]", cmd);
    const char *model = NULL, *text = NULL;
    int batch = 1, bptt = 35, threads = 1;
    opt_spec s[] = {
        {"model", OPT_STR, &model, "checkpoint written by the train command", 1, 0, 0},
        {"text", OPT_STR, &text, "text to score", 1, 0, 0},
        {"batch", OPT_INT, &batch, "lanes (1 scores every token but the first)", 1, 100000, 0},
        {"bptt", OPT_INT, &bptt, "steps per window", 1, 100000, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
    };
    int r = opts_parse(s, 5, argc, argv, 1, usage, "Prints the perplexity of a text under a language model.");
    if (r)
        return r == 1 ? 0 : 2;
    if (!model || !text) {
        fprintf(stderr, "%s: --model and --text are required (see --help)\n", cmd);
        return 2;
    }
    tr_set_threads(threads);
    tr_err err;
    void *m = tr_xcalloc(1, k->size);
    tr_vocab *v = NULL;
    double ppl = 0;
    int64_t n = 0;
    if (k->load(m, &v, NULL, model, &err)) {
        free(m);
        return tr_cli_fail(cmd, &err);
    }
    int rc = 0;
    tr_seq_model sm = k->seq(m);
    if (tr_seq_eval_file(&sm, v, text, batch, bptt, &ppl, &n, &err))
        rc = tr_cli_fail(cmd, &err);
    else
        printf("ppl %.6f tokens %lld\n", ppl, (long long)n);
    k->free(m);
    free(m);
    tr_vocab_free(v);
    return rc;
}

/* ---------------------------------------------------------------- generate */

typedef struct {
    const tr_vocab *v;
    int32_t *ids;
    int n, cap;
} prime_ctx;

static void add_token(void *ctx, const char *tok, size_t len)
{
    prime_ctx *p = ctx;
    if (p->n < p->cap)
        p->ids[p->n++] = tr_vocab_id(p->v, tok, len);
}

int tr_cli_seq_generate(int argc, char **argv, const tr_cli_model *k)
{
    char cmd[64], usage[128], what[128];
    snprintf(cmd, sizeof cmd, "triad %s generate", k->name);
    snprintf(usage, sizeof usage, "%s --model FILE [--prime TEXT] [options]", cmd);
    snprintf(what, sizeof what, "checkpoint written by triad %s train", k->name);
    const char *model = NULL, *prime = "";
    int length = 50, threads = 1;
    float temperature = 1.0f;
    uint64_t seed = 1;
    opt_spec s[] = {
        {"model", OPT_STR, &model, what, 1, 0, 0},
        {"prime", OPT_STR, &prime, "text to start from", 1, 0, 0},
        {"length", OPT_INT, &length, "tokens to generate", 1, 1000000, 0},
        {"temperature", OPT_FLOAT, &temperature, "sampling temperature (lower = more conservative)", 0.01, 100, 0},
        {"seed", OPT_U64, &seed, "random seed", 1, 0, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
    };
    int r = opts_parse(s, 6, argc, argv, 1, usage, "Samples text from a language model. <eos> ends a line.");
    if (r)
        return r == 1 ? 0 : 2;
    if (!model) {
        fprintf(stderr, "%s: --model is required (see --help)\n", cmd);
        return 2;
    }
    tr_set_threads(threads);
    tr_err err;
    void *m = tr_xcalloc(1, k->size);
    tr_vocab *v = NULL;
    if (k->load(m, &v, NULL, model, &err)) {
        free(m);
        return tr_cli_fail(cmd, &err);
    }
    tr_seq_model sm = k->seq(m);
    int cap = (int)strlen(prime) + 1;
    prime_ctx pc = {v, tr_xmalloc(sizeof(int32_t) * (size_t)(cap + 1)), 0, cap};
    pc.ids[pc.n++] = TR_EOS_ID; /* generation starts as after a line end */
    int rc = 0;
    tr_seq_state *gs = NULL;
    if (tr_tokenize(prime, strlen(prime), sm.cfg->lower, add_token, &pc, "--prime", 1, &err) ||
        !(gs = sm.state_new(sm.model, 1, 1, 0, 0, &err))) {
        rc = tr_cli_fail(cmd, &err);
    } else {
        int32_t *out = tr_xmalloc(sizeof(int32_t) * (size_t)length);
        tr_rng rng;
        tr_rng_seed(&rng, seed, 3);
        sm.sample(gs, sm.model, pc.ids, pc.n, length, temperature, &rng, out);
        int col = 0;
        for (int i = 1; i < pc.n; i++)
            col += printf("%s%s", col ? " " : "", tr_vocab_word(v, pc.ids[i]));
        for (int i = 0; i < length; i++) {
            if (out[i] == TR_EOS_ID) {
                putchar('\n');
                col = 0;
            } else {
                col += printf("%s%s", col ? " " : "", tr_vocab_word(v, out[i]));
            }
        }
        if (col)
            putchar('\n');
        free(out);
        sm.state_delete(gs);
    }
    free(pc.ids);
    k->free(m);
    free(m);
    tr_vocab_free(v);
    return rc;
}

static int lm_train(int argc, char **argv)
{
    return tr_cli_seq_train(argc, argv, &TR_CLI_LM);
}

static int lm_eval(int argc, char **argv)
{
    return tr_cli_seq_eval(argc, argv, &TR_CLI_LM);
}

static int lm_generate(int argc, char **argv)
{
    return tr_cli_seq_generate(argc, argv, &TR_CLI_LM);
}

int tr_cli_lm(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"train", "train a language model on a text corpus", lm_train},
        {"eval", "perplexity of a text", lm_eval},
        {"generate", "sample text", lm_generate},
    };
    return tr_cli_dispatch("lm", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
