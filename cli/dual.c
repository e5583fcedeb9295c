/* triad dual: dual learning on two inverse models, G2P with P2G or one
 * translation direction with the other. `lm` trains the marginal language
 * model of a side, `train` trains both models together (closed loop on
 * monolingual text and/or the duality regulariser on pairs), `infer`
 * re-ranks a model's k-best lists with the inverse model and both language
 * models. */
#include "tasks.h"
#include "triad/dual.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- a model of either task */

typedef struct {
    mt_model mm;          /* mm.s is the model; bpe and languages for translation */
    char task[16];        /* "g2p", "p2g" or "mt" */
    tr_pron_task pron;    /* for g2p / p2g */
    tr_side src, tgt;     /* its two sides */
    char *bpe_text;
    tr_meta extra[2];
    int n_extra;
} end_model;

static int end_load(end_model *e, const char *cmd, const char *path)
{
    memset(e, 0, sizeof *e);
    tr_err err;
    tr_st_file *f;
    if (tr_st_open(&f, path, &err))
        return tr_cli_fail(cmd, &err);
    const char *meta_task = tr_st_meta(f, "triad.task");
    char task[16];
    snprintf(task, sizeof task, "%s", meta_task ? meta_task : "");
    tr_st_close(f);
    if (!strcmp(task, MT_TASK)) {
        if (mt_load(&e->mm, cmd, path))
            return 1;
        snprintf(e->task, sizeof e->task, "%s", task);
        e->src = (tr_side){TR_SIDE_SUBWORDS, e->mm.s.src, e->mm.bpe};
        e->tgt = (tr_side){TR_SIDE_SUBWORDS, e->mm.s.tgt, e->mm.bpe};
        e->bpe_text = tr_bpe_to_string(e->mm.bpe);
        e->extra[0] = (tr_meta){"triad.bpe", e->bpe_text};
        e->extra[1] = (tr_meta){"triad.langs", e->mm.langs};
        e->n_extra = 2;
        return 0;
    }
    if (strcmp(task, "g2p") && strcmp(task, "p2g")) {
        fprintf(stderr, "%s: %s is not a g2p, p2g or mt model\n", cmd, path);
        return 1;
    }
    if (s2s_load(&e->mm.s, cmd, task, path))
        return 1;
    snprintf(e->task, sizeof e->task, "%s", task);
    e->pron = strcmp(e->task, "g2p") ? TR_PRON_P2G : TR_PRON_G2P;
    tr_side_kind sk = e->pron == TR_PRON_G2P ? TR_SIDE_SPELLING : TR_SIDE_PHONEMES;
    tr_side_kind tk = e->pron == TR_PRON_G2P ? TR_SIDE_PHONEMES : TR_SIDE_SPELLING;
    e->src = (tr_side){sk, e->mm.s.src, NULL};
    e->tgt = (tr_side){tk, e->mm.s.tgt, NULL};
    return 0;
}

static void end_free(end_model *e)
{
    if (!strcmp(e->task, MT_TASK))
        mt_free(&e->mm);
    else
        s2s_model_free(&e->mm.s);
    free(e->bpe_text);
}

/* The longest sequence a command uses: --max-len, or when 0 the task's
 * default (48 symbols for g2p/p2g, 80 subword units for mt). Returns 0, or
 * 2 with a message when --max-len is over the side's limit. */
static int max_len_for(int *max_len, const char *cmd, const end_model *e)
{
    if (*max_len == 0)
        *max_len = strcmp(e->task, MT_TASK) ? TR_PRON_MAX_LEN : MT_TRAIN_MAX_LEN;
    int limit = tr_side_max_len(&e->src);
    if (*max_len > limit) {
        fprintf(stderr, "%s: --max-len %d is over the limit of %d for %s\n", cmd, *max_len, limit, e->task);
        return 2;
    }
    return 0;
}

static int same_vocab(const tr_vocab *a, const tr_vocab *b)
{
    char *x = tr_vocab_to_string(a), *y = tr_vocab_to_string(b);
    int same = !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

/* A->B and B->A must be inverse models over the same two vocabularies. */
static int check_inverse(const char *cmd, const end_model *ab, const end_model *ba, const char *pa, const char *pb)
{
    int ok = !strcmp(ab->task, MT_TASK) ? !strcmp(ba->task, MT_TASK) && !strcmp(ab->mm.src, ba->mm.tgt) &&
                                              !strcmp(ab->mm.tgt, ba->mm.src)
                                        : strcmp(ba->task, MT_TASK) && strcmp(ab->task, ba->task);
    if (!ok) {
        fprintf(stderr, "%s: %s (%s%s%s) and %s (%s%s%s) are not inverse tasks\n", cmd, pa, ab->task,
                ab->mm.langs[0] ? " " : "", ab->mm.langs, pb, ba->task, ba->mm.langs[0] ? " " : "", ba->mm.langs);
        return 2;
    }
    if (!same_vocab(ab->mm.s.src, ba->mm.s.tgt) || !same_vocab(ab->mm.s.tgt, ba->mm.s.src) ||
        (ab->bpe_text && strcmp(ab->bpe_text, ba->bpe_text))) {
        fprintf(stderr, "%s: %s and %s were trained with different vocabularies or subword units\n", cmd, pa, pb);
        return 2;
    }
    return 0;
}

/* A marginal LM over side s: its vocabulary must be the side's. */
static int lm_load_for(tr_lm *m, const char *cmd, const char *path, const tr_side *s)
{
    tr_vocab *v;
    tr_err err;
    if (tr_lm_load(m, &v, NULL, path, &err))
        return tr_cli_fail(cmd, &err);
    int same = same_vocab(v, s->v);
    tr_vocab_free(v);
    if (!same) {
        tr_lm_free(m);
        fprintf(stderr, "%s: %s is a language model of another vocabulary than the models' side it scores\n", cmd, path);
        return 2;
    }
    return 0;
}

/* Two inverse models and, when given, the language models of their sides. */
typedef struct {
    end_model ab, ba;
    tr_lm la, lb;
    int have_la, have_lb;
} dual_pair;

static int pair_load(dual_pair *p, const char *cmd, const char *ab, const char *ba, const char *lm_a, const char *lm_b)
{
    memset(p, 0, sizeof *p);
    int rc;
    if ((rc = end_load(&p->ab, cmd, ab)) || (rc = end_load(&p->ba, cmd, ba)) ||
        (rc = check_inverse(cmd, &p->ab, &p->ba, ab, ba)))
        return rc;
    if (lm_a && !(rc = lm_load_for(&p->la, cmd, lm_a, &p->ab.src)))
        p->have_la = 1;
    if (!rc && lm_b && !(rc = lm_load_for(&p->lb, cmd, lm_b, &p->ab.tgt)))
        p->have_lb = 1;
    return rc;
}

static void pair_free(dual_pair *p)
{
    if (p->have_la)
        tr_lm_free(&p->la);
    if (p->have_lb)
        tr_lm_free(&p->lb);
    if (p->ab.task[0])
        end_free(&p->ab);
    if (p->ba.task[0])
        end_free(&p->ba);
}

/* The sequences of a side's text of at most max_len symbols into out
 * (replacing its contents); *left_out counts the longer ones. */
static int read_side(const char *cmd, const tr_side *side, const char *path, int max_len, tr_s2s_data *out,
                     int64_t *left_out)
{
    tr_err err;
    tr_s2s_data_free(out);
    if (tr_side_read(side, path, max_len, out, left_out, &err)) {
        tr_s2s_data_init(out);
        return tr_cli_fail(cmd, &err);
    }
    return 0;
}

/* ---------------------------------------------------------------- lm */

static void lm_progress(void *ctx, int epoch, double train_nll, double dev_nll, int improved)
{
    const int *quiet = ctx;
    if (!*quiet)
        fprintf(stderr, "epoch %d  train NLL %.4f  dev NLL %.4f (ppl %.2f)%s\n", epoch + 1, train_nll, dev_nll,
                exp(dev_nll), improved ? " (best)" : "");
}

static int cmd_lm(int argc, char **argv)
{
    const char *cmd = "triad dual lm";
    const char *usage = "triad dual lm --model S2S --side src|tgt --train FILE --dev FILE --output FILE [options]";
    const char *what =
        "Trains the marginal language model of one side of a task (log P(x) of a spelling, a pronunciation or\n"
        "a sentence): an LSTM LM over the vocabulary of that side of the sequence-to-sequence model --model,\n"
        "on that side's text (one spelling, pronunciation or sentence per line), scoring whole sequences.\n"
        "--output keeps the weights with the best dev NLL per token.";
    const char *model = NULL, *side = NULL, *train = NULL, *dev = NULL, *output = NULL;
    tr_lm_config c = {0, 64, 256, 1, 0.2f, 0};
    tr_marginal_opts o = {64, 20, 3, 5.0f, 2.0f, tr_opt_defaults(TR_OPT_ADAM), 1};
    int threads = 1, quiet = 0, max_len = 0;
    opt_spec s[] = {
        {"model", OPT_STR, &model, "the sequence-to-sequence checkpoint whose side this is", 1, 0, 0},
        {"side", OPT_STR, &side, "src or tgt: which side of --model", 1, 0, 0},
        {"train", OPT_STR, &train, "training text of the side, one sequence per line", 1, 0, 0},
        {"dev", OPT_STR, &dev, "dev text of the side", 1, 0, 0},
        {"output", OPT_STR, &output, "the language model to write", 1, 0, 0},
        {"emb", OPT_INT, &c.emb, "embedding size", 1, 65536, 0},
        {"hidden", OPT_INT, &c.hidden, "LSTM units", 1, 65536, 0},
        {"layers", OPT_INT, &c.layers, "LSTM layers", 1, TR_LM_MAX_LAYERS, 0},
        {"dropout", OPT_FLOAT, &c.dropout, "dropout", 0, 0.99, 0},
        {"batch", OPT_INT, &o.batch, "sequences per update", 1, 100000, 0},
        {"epochs", OPT_INT, &o.epochs, "passes over --train", 1, 100000, 0},
        {"lr", OPT_FLOAT, &o.opt.lr, "Adam learning rate", 1e-9, 10, 0},
        {"patience", OPT_INT, &o.patience, "stop after this many epochs without dev improvement (0 = never)", 0, 1000, 0},
        {"max-len", OPT_INT, &max_len, "longest sequence used; longer lines are left out (0: 48 symbols for g2p/p2g, 80 units for mt)", 0, 1000, 0},
        {"seed", OPT_U64, &o.seed, "random seed", 1, 0, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
        {"quiet", OPT_FLAG, &quiet, "no progress output", 1, 0, 0},
    };
    int r = opts_parse(s, (int)(sizeof s / sizeof s[0]), argc, argv, 1, usage, what);
    if (r)
        return r == 1 ? 0 : 2;
    if (!model || !side || !train || !dev || !output) {
        fprintf(stderr, "%s: --model, --side, --train, --dev and --output are required (see --help)\n", cmd);
        return 2;
    }
    if (strcmp(side, "src") && strcmp(side, "tgt")) {
        fprintf(stderr, "%s: --side must be src or tgt\n", cmd);
        return 2;
    }
    if (!tr_cli_dir_writable(output)) {
        fprintf(stderr, "%s: cannot write --output %s\n", cmd, output);
        return 1;
    }
    tr_set_threads(threads);
    end_model e;
    if (end_load(&e, cmd, model))
        return 1;
    const tr_side *sd = strcmp(side, "src") ? &e.tgt : &e.src;
    tr_s2s_data tr, dv;
    tr_err err;
    int64_t long_tr = 0, long_dv = 0;
    tr_s2s_data_init(&tr);
    tr_s2s_data_init(&dv);
    int rc = max_len_for(&max_len, cmd, &e);
    if (rc || (rc = read_side(cmd, sd, train, max_len, &tr, &long_tr)) ||
        (rc = read_side(cmd, sd, dev, max_len, &dv, &long_dv)))
        goto out;
    if (tr.n == 0 || dv.n == 0) {
        fprintf(stderr, "%s: no %s sequence of at most --max-len %d symbols\n", cmd, tr.n == 0 ? "training" : "dev", max_len);
        rc = 2;
        goto out;
    }
    c.vocab_size = tr_vocab_size(sd->v);
    tr_lm m;
    if (tr_lm_init(&m, &c, &err)) {
        rc = tr_cli_fail(cmd, &err);
        goto out;
    }
    tr_lm_init_weights(&m, o.seed);
    if (!quiet)
        fprintf(stderr, "%s: %lld training and %lld dev sequences (%lld and %lld over --max-len %d left out); %d symbols; "
                "%lld parameters\n", train, (long long)tr.n, (long long)dv.n, (long long)long_tr, (long long)long_dv,
                max_len, c.vocab_size, (long long)tr_params_count(&m.params));
    tr_cli_catch_stop(1);
    if (tr_marginal_train(&m, &tr, &dv, &o, lm_progress, &quiet, &tr_cli_stop, &err) ||
        tr_lm_save(&m, sd->v, 0, output, &err)) {
        rc = tr_cli_fail(cmd, &err);
    } else {
        tr_lm_scorer sc;
        int64_t tok;
        if (!tr_lm_scorer_init(&sc, &m, 64, dv.max_src, 1, &err)) {
            double nll = tr_lm_scorer_nll(&sc, &m, &dv, &tok) / (double)tok;
            printf("dev NLL %.4f per symbol (ppl %.2f), %lld sequences; saved %s\n", nll, exp(nll), (long long)dv.n,
                   output);
            tr_lm_scorer_free(&sc);
        }
    }
    tr_cli_catch_stop(0);
    tr_lm_free(&m);
out:
    tr_s2s_data_free(&tr);
    tr_s2s_data_free(&dv);
    end_free(&e);
    return rc;
}

/* ---------------------------------------------------------------- dev scoring of either task */

typedef struct {
    pron_dev pron;
    mt_dev mt;
    int is_mt;
} any_dev;

static int dev_init(any_dev *d, const char *cmd, const char *path, const end_model *e, int batch)
{
    memset(d, 0, sizeof *d);
    d->is_mt = !strcmp(e->task, MT_TASK);
    return d->is_mt ? mt_dev_init(&d->mt, cmd, path, &e->mm, batch)
                    : pron_dev_init(&d->pron, cmd, path, e->pron, &e->mm.s, batch);
}

static void dev_free(any_dev *d)
{
    if (d->is_mt)
        mt_dev_free(&d->mt);
    else
        pron_dev_free(&d->pron);
}

static tr_status dev_validate(void *ctx, const tr_s2s *m, double *score, char *note, size_t n, tr_err *err)
{
    any_dev *d = ctx;
    return d->is_mt ? mt_validate(&d->mt, m, score, note, n, err) : pron_validate(&d->pron, m, score, note, n, err);
}

/* The pairs of a task's paired data (src A, tgt B): a lexicon, or PREFIX.A / PREFIX.B. */
static int read_pairs(const char *cmd, const char *path, const end_model *ab, int max_len, tr_s2s_data *out)
{
    tr_err err;
    tr_status st;
    if (!strcmp(ab->task, MT_TASK)) {
        tr_mt_corpus c;
        if (mt_read_corpus(cmd, path, &ab->mm, &c))
            return 1;
        int64_t skipped;
        st = tr_mt_pairs(&c, ab->mm.bpe, ab->mm.s.src, ab->mm.s.tgt, max_len, out, &skipped, &err);
        tr_mt_corpus_free(&c);
    } else {
        tr_lexicon lx;
        if ((st = tr_lexicon_read(&lx, path, &err)) == TR_OK) {
            const tr_vocab *g = ab->pron == TR_PRON_G2P ? ab->mm.s.src : ab->mm.s.tgt;
            const tr_vocab *p = ab->pron == TR_PRON_G2P ? ab->mm.s.tgt : ab->mm.s.src;
            st = tr_pron_pairs(&lx, ab->pron, g, p, out, &err);
            tr_lexicon_free(&lx);
        }
    }
    return st ? tr_cli_fail(cmd, &err) : 0;
}

/* ---------------------------------------------------------------- train */

typedef struct {
    int tty, quiet;
    double last;
    FILE *log;
} dual_progress;

/* v with fmt into buf, or `none` when v is NaN (nothing measured). */
static const char *num(char *buf, size_t n, const char *fmt, double v, const char *none)
{
    if (isnan(v))
        snprintf(buf, n, "%s", none);
    else
        snprintf(buf, n, fmt, v);
    return buf;
}

static void on_progress(void *ctx, const tr_dual_progress *p)
{
    dual_progress *g = ctx;
    const char *f = p->kind == TR_DUAL_VALIDATED ? "%.9g" : "%.3f", *none = p->kind == TR_DUAL_VALIDATED ? "nan" : "-";
    char la[32], lb[32], ra[32], rb[32], gp[32];
    num(la, sizeof la, f, p->loss_ab, none);
    num(lb, sizeof lb, f, p->loss_ba, none);
    num(ra, sizeof ra, f, p->reward_a, none);
    num(rb, sizeof rb, f, p->reward_b, none);
    num(gp, sizeof gp, p->kind == TR_DUAL_VALIDATED ? "%.9g" : "%.2f", p->gap2, none);
    if (p->kind == TR_DUAL_VALIDATED) {
        if (g->log) {
            fprintf(g->log, "%lld,%s,%s,%s,%s,%s,%.9g,%.9g\n", (long long)p->step, la, lb, ra, rb, gp, p->score_ab,
                    p->score_ba);
            fflush(g->log);
        }
        if (!g->quiet) {
            char el[32], tot[32];
            tr_cli_format_duration(el, sizeof el, p->elapsed);
            tr_cli_format_duration(tot, sizeof tot, p->total);
            fprintf(stderr, "%sstep %lld/%lld  A->B %s%s  B->A %s%s  (%s; %s of training in all)\n",
                    g->tty ? "\r\033[K" : "", (long long)p->step, (long long)p->steps, p->note_ab,
                    p->improved_ab ? " (best)" : "", p->note_ba, p->improved_ba ? " (best)" : "", el, tot);
        }
        return;
    }
    if (g->quiet || p->elapsed - g->last < (g->tty ? 0.25 : 10.0))
        return;
    g->last = p->elapsed;
    char eta[32];
    tr_cli_format_duration(eta, sizeof eta,
                           p->steps_per_s > 0 ? (double)(p->steps - p->step) / p->steps_per_s : -1.0);
    fprintf(stderr,
            "%sstep %lld/%lld | NLL A->B %s B->A %s | reward from A %s from B %s | gap^2 %s | %.2f steps/s | ETA %s%s",
            g->tty ? "\r\033[K" : "", (long long)p->step, (long long)p->steps, la, lb, ra, rb, gp, p->steps_per_s, eta,
            g->tty ? "" : "\n");
}

/* `dual train`, or with dsl != 0 `dual dsl`: the same run with supervised
 * updates only and the regulariser on by default. */
static int train_both(int argc, char **argv, int dsl)
{
    const char *cmd = dsl ? "triad dual dsl" : "triad dual train";
    const char *usage =
        dsl ? "triad dual dsl --ab FILE --ba FILE --lm-a FILE --lm-b FILE --paired DATA --dev DATA --output-ab FILE\n"
              "       --output-ba FILE [options]"
            : "triad dual train --ab FILE --ba FILE --paired DATA --dev DATA --output-ab FILE --output-ba FILE\n"
              "       [--mono-a FILE --mono-b FILE --lm-a FILE --lm-b FILE] [options]";
    const char *what_dsl =
        "Dual supervised learning (Xia et al. 2017): trains two inverse models together on --paired, each\n"
        "supervised update adding lambda * (log P(x) + log P(y|x) - log P(y) - log P(x|y))^2 to both models'\n"
        "losses, the marginals from the fixed language models --lm-a and --lm-b (`triad dual lm`). This is\n"
        "`triad dual train --dual-share 0 --lambda 0.01`: the same options, checkpoints and resume.";
    const char *what = dsl ? what_dsl :
        "Trains two inverse models together from their current weights (warm start: `triad g2p|p2g|mt train`\n"
        "on the paired data): A->B and B->A are g2p and p2g, or mt models of opposite directions. A share\n"
        "(--dual-share) of the updates are games on monolingual text: from a sentence s of side A, A->B\n"
        "proposes --candidates translations by beam search, each rewarded alpha * log P_B(mid) (--lm-b) +\n"
        "(1 - alpha) * log P(s | mid; B->A); A->B learns by policy gradient, B->A by reconstruction; games\n"
        "alternate between sides. The other updates are supervised on --paired (a lexicon, or PREFIX for\n"
        "PREFIX.SRC/.TGT), with the duality regulariser lambda * (log P(x) + log P(y|x) - log P(y) -\n"
        "log P(x|y))^2 when --lambda > 0 (dual supervised learning). Both models are scored on --dev every\n"
        "--eval-every updates; --output-ab/--output-ba keep their best weights, OUTPUT-AB.dual the run\n"
        "(both models, both optimisers, the schedule): Ctrl-C saves and --resume continues exactly.\n"
        "Defaults from the paper: --alpha 0.005, --candidates 2.";
    const char *ab_path = NULL, *ba_path = NULL, *lm_a = NULL, *lm_b = NULL, *paired = NULL, *mono_a = NULL,
               *mono_b = NULL, *dev = NULL, *out_ab = NULL, *out_ba = NULL, *log_path = NULL, *baseline = "mean";
    tr_dual_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 64;
    o.games = 16;
    o.K = 2;
    o.max_len = 0;
    o.alpha = 0.005;
    o.dual_share = dsl ? 0.0 : 0.5;
    o.lambda = dsl ? 0.01 : 0.0;
    o.steps = 2000;
    o.eval_every = 500;
    o.opt = tr_opt_defaults(TR_OPT_ADAM);
    o.opt.lr = 2e-4f;
    o.clip = 5.0f;
    o.seed = 1;
    int threads = 1, resume = 0, force = 0, quiet = 0, no_lm_norm = 0;
    opt_spec s[] = {
        {"ab", OPT_STR, &ab_path, "the A->B model to start from (its src side is A)", 1, 0, 0},
        {"ba", OPT_STR, &ba_path, "the B->A model to start from", 1, 0, 0},
        {"lm-a", OPT_STR, &lm_a, "language model of side A (`triad dual lm`); needed when --lambda > 0", 1, 0, 0},
        {"lm-b", OPT_STR, &lm_b, "language model of side B; needed when --alpha > 0 or --lambda > 0", 1, 0, 0},
        {"paired", OPT_STR, &paired, "paired data: a lexicon (g2p/p2g) or PREFIX (mt)", 1, 0, 0},
        {"mono-a", OPT_STR, &mono_a, "monolingual text of side A, one sequence per line (games from A)", 1, 0, 0},
        {"mono-b", OPT_STR, &mono_b, "monolingual text of side B (games from B)", 1, 0, 0},
        {"dev", OPT_STR, &dev, "dev data (as --paired), scored for both directions", 1, 0, 0},
        {"output-ab", OPT_STR, &out_ab, "the A->B model to write (best dev score)", 1, 0, 0},
        {"output-ba", OPT_STR, &out_ba, "the B->A model to write", 1, 0, 0},
        {"resume", OPT_FLAG, &resume, "continue the run saved next to --output-ab", 1, 0, 0},
        {"force", OPT_FLAG, &force, "replace existing outputs", 1, 0, 0},
        {"alpha", OPT_DOUBLE, &o.alpha, "weight of the language-model reward", 0, 1, 0},
        {"candidates", OPT_INT, &o.K, "candidates per game sentence (beam width)", 1, 64, 0},
        {"games", OPT_INT, &o.games, "monolingual sentences per game update", 1, 100000, 0},
        {"batch", OPT_INT, &o.batch, "pairs per supervised update", 1, 100000, 0},
        {"dual-share", OPT_DOUBLE, &o.dual_share, "share of the updates that are games (0: supervised only; dsl: 0)", 0, 1, 0},
        {"share-start", OPT_DOUBLE, &o.share_start, "the share at the first update, moving linearly to --dual-share over --ramp updates (default: --dual-share)", 0, 1, 0},
        {"ramp", OPT_I64, &o.ramp, "updates over which the share moves from --share-start to --dual-share", 0, 1e18, 0},
        {"lambda", OPT_DOUBLE, &o.lambda, "duality regulariser weight (0 = off; the paper uses 0.01; dsl: 0.01)", 0, 1e6, 0},
        {"dsl-warmup", OPT_I64, &o.dsl_warmup, "supervised updates before the regulariser starts", 0, 1e18, 0},
        {"baseline", OPT_STR, &baseline, "reward baseline: mean (of each sentence's candidates) or none", 1, 0, 0},
        {"no-lm-norm", OPT_FLAG, &no_lm_norm, "LM reward as the total log-probability, not per symbol", 1, 0, 0},
        {"max-len", OPT_INT, &o.max_len, "longest candidate and monolingual sequence used (0: 48 symbols for g2p/p2g, 80 units for mt)", 0, 1000, 0},
        {"steps", OPT_I64, &o.steps, "updates of the whole run (with --resume: raise it to train a run further)", 1, 1e18, 0},
        {"eval-every", OPT_I64, &o.eval_every, "score both models on --dev every N updates", 1, 1e18, 0},
        {"lr", OPT_FLOAT, &o.opt.lr, "Adam learning rate of both models", 1e-12, 10, 0},
        {"clip", OPT_FLOAT, &o.clip, "clip each model's gradient norm (0 = off)", 0, 1e9, 0},
        {"seed", OPT_U64, &o.seed, "random seed", 1, 0, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
        {"max-steps", OPT_I64, &o.max_steps, "stop this piece after N updates, saving (0 = no limit)", 0, 1e18, 0},
        {"max-time", OPT_DOUBLE, &o.max_seconds, "stop this piece after N seconds, saving (0 = no limit)", 0, 1e12, 0},
        {"log", OPT_STR, &log_path,
         "append step,loss_ab,loss_ba,reward_a,reward_b,gap2,dev_ab,dev_ba at each evaluation (step 0: the warm start) to "
         "this CSV; nan: none in the interval", 1, 0, 0},
        {"quiet", OPT_FLAG, &quiet, "no progress output", 1, 0, 0},
    };
    const int ns = (int)(sizeof s / sizeof s[0]);
    int r = opts_parse(s, ns, argc, argv, 1, usage, what);
    if (r)
        return r == 1 ? 0 : 2;
    if (!ab_path || !ba_path || !paired || !dev || !out_ab || !out_ba) {
        fprintf(stderr, "%s: --ab, --ba, --paired, --dev, --output-ab and --output-ba are required (see --help)\n", cmd);
        return 2;
    }
    if (strcmp(baseline, "mean") && strcmp(baseline, "none")) {
        fprintf(stderr, "%s: --baseline must be mean or none\n", cmd);
        return 2;
    }
    o.baseline = strcmp(baseline, "mean") ? TR_BASELINE_NONE : TR_BASELINE_MEAN;
    if (!opts_find(s, ns, "share-start")->set)
        o.share_start = o.dual_share;
    /* --resume keeps the run's own length unless --steps extends it */
    if (resume && !opts_find(s, ns, "steps")->set)
        o.steps = 0;
    o.lm_norm = !no_lm_norm;
    char state[4096];
    snprintf(state, sizeof state, "%s.dual", out_ab);
    o.state = state;
    if (!resume && !force && (tr_cli_file_exists(out_ab) || tr_cli_file_exists(out_ba) || tr_cli_file_exists(state))) {
        fprintf(stderr, "%s: %s, %s or %s exists; use --resume to continue or --force to replace\n", cmd, out_ab, out_ba,
                state);
        return 2;
    }
    if (resume && !tr_cli_file_exists(state)) {
        fprintf(stderr, "%s: no run to resume: %s does not exist\n", cmd, state);
        return 2;
    }
    if (!tr_cli_dir_writable(out_ab) || !tr_cli_dir_writable(out_ba)) {
        fprintf(stderr, "%s: cannot write --output-ab %s or --output-ba %s\n", cmd, out_ab, out_ba);
        return 1;
    }
    tr_set_threads(threads);

    int rc = 0;
    dual_pair dp;
    end_model *ab = &dp.ab, *ba = &dp.ba;
    tr_s2s_data pd, ma, mb;
    tr_s2s_data_init(&pd);
    tr_s2s_data_init(&ma);
    tr_s2s_data_init(&mb);
    any_dev dab, dba;
    memset(&dab, 0, sizeof dab);
    memset(&dba, 0, sizeof dba);
    tr_err err;
    if ((rc = pair_load(&dp, cmd, ab_path, ba_path, lm_a, lm_b)))
        goto out;
    if ((rc = max_len_for(&o.max_len, cmd, ab)))
        goto out;
    if (!strcmp(ab->task, MT_TASK)) {
        o.len_a = MT_LEN_A;
        o.len_b = MT_LEN_B;
    }
    tr_s2s_data_free(&pd);
    if ((rc = read_pairs(cmd, paired, ab, o.max_len, &pd)))
        goto out;
    int64_t long_a = 0, long_b = 0;
    if ((mono_a && (rc = read_side(cmd, &ab->src, mono_a, o.max_len, &ma, &long_a))) ||
        (mono_b && (rc = read_side(cmd, &ab->tgt, mono_b, o.max_len, &mb, &long_b))))
        goto out;
    if ((rc = dev_init(&dab, cmd, dev, ab, 64)))
        goto out;
    {
        /* B->A reads the dev data the other way round: a lexicon is the same file; mt swaps the languages */
        if ((rc = dev_init(&dba, cmd, dev, ba, 64)))
            goto out;
    }
    tr_dual_model mab = {&ab->mm.s.m, out_ab, ab->task, ab->mm.s.src, ab->mm.s.tgt, ab->extra, ab->n_extra, dev_validate, &dab};
    tr_dual_model mba = {&ba->mm.s.m, out_ba, ba->task, ba->mm.s.src, ba->mm.s.tgt, ba->extra, ba->n_extra, dev_validate, &dba};
    dual_progress pg = {isatty(2), quiet, -1e9, NULL};
    if (log_path && !(pg.log = fopen(log_path, "a"))) {
        fprintf(stderr, "%s: cannot open --log %s for appending\n", cmd, log_path);
        rc = 1;
        goto out;
    }
    if (!quiet)
        fprintf(stderr, "%s: %s <-> %s; %lld pairs, %lld + %lld monolingual sequences (%lld + %lld longer than "
                        "--max-len %d left out); alpha %g, %d candidates, dual share %g, lambda %g; %d thread%s\n",
                cmd, ab->task, ba->task, (long long)pd.n, (long long)ma.n, (long long)mb.n, (long long)long_a,
                (long long)long_b, o.max_len, o.alpha, o.K, o.dual_share, o.lambda, threads, threads == 1 ? "" : "s");
    tr_cli_catch_stop(1);
    int stopped = 0;
    tr_status st = tr_dual_train(&mab, &mba, dp.have_la ? &dp.la : NULL, dp.have_lb ? &dp.lb : NULL, &pd, &ma, &mb, &o,
                                 resume, &tr_cli_stop, on_progress, &pg, &stopped, &err);
    tr_cli_catch_stop(0);
    if (pg.log)
        fclose(pg.log);
    if (st) {
        if (pg.tty && !quiet)
            fputc('\n', stderr);
        rc = tr_cli_fail(cmd, &err);
    } else if (stopped) {
        if (!quiet)
            fprintf(stderr, "%sstopped; saved %s, %s and %s; continue with the same command and --resume\n",
                    pg.tty ? "\r\033[K" : "", out_ab, out_ba, state);
    } else {
        char note[256];
        double score;
        if (dev_validate(&dab, &ab->mm.s.m, &score, note, sizeof note, &err) == TR_OK)
            printf("A->B %s (best weights)\n", note);
        if (dev_validate(&dba, &ba->mm.s.m, &score, note, sizeof note, &err) == TR_OK)
            printf("B->A %s (best weights)\n", note);
    }
out:
    dev_free(&dab);
    dev_free(&dba);
    tr_s2s_data_free(&pd);
    tr_s2s_data_free(&ma);
    tr_s2s_data_free(&mb);
    pair_free(&dp);
    return rc;
}

/* ---------------------------------------------------------------- infer */

/* The k-best lists of A->B for n sources with every score dual inference
 * needs: fwd = log P(y|x), bwd = log P(x|y) by B->A, lm_y = log P_B(y),
 * lm_x = log P_A(x). A hypothesis without tokens gets bwd = -inf (only the
 * primal ranking can choose it). */
typedef struct {
    int64_t n;
    int k, L;
    int32_t *ids;           /* (n, k, L) */
    int *len, *cnt;         /* (n, k), (n) */
    double *fwd, *bwd, *lmy, *lmx;
} kbest_table;

static void kbest_free(kbest_table *t)
{
    free(t->ids);
    free(t->len);
    free(t->cnt);
    free(t->fwd);
    free(t->bwd);
    free(t->lmy);
    free(t->lmx);
}

static tr_status kbest_build(kbest_table *t, const end_model *ab, const end_model *ba, const tr_lm *la,
                             const tr_lm *lb, const int32_t *const *src, const int *sl, int64_t n, int beam,
                             int max_len, tr_err *err)
{
    memset(t, 0, sizeof *t);
    const int B = 32, N = B * beam;
    int S = 1;
    for (int64_t i = 0; i < n; i++)
        S = sl[i] > S ? sl[i] : S;
    t->n = n;
    t->k = beam;
    t->L = max_len;
    t->ids = tr_xcalloc((size_t)n * (size_t)beam * (size_t)max_len, sizeof(int32_t));
    t->len = tr_xcalloc((size_t)n * (size_t)beam, sizeof(int));
    t->cnt = tr_xcalloc((size_t)n, sizeof(int));
    t->fwd = tr_xcalloc((size_t)n * (size_t)beam, sizeof(double));
    t->bwd = tr_xcalloc((size_t)n * (size_t)beam, sizeof(double));
    t->lmy = tr_xcalloc((size_t)n * (size_t)beam, sizeof(double));
    t->lmx = tr_xcalloc((size_t)n, sizeof(double));
    tr_s2s_decoder dec;
    tr_s2s_state st;
    tr_lm_scorer sa, sb;
    tr_status rs = tr_s2s_decoder_init(&dec, &ab->mm.s.m, B, S, beam, max_len, err);
    if (rs)
        return rs;
    if (!strcmp(ab->task, MT_TASK))
        mt_decoder_limits(&dec);
    if ((rs = tr_s2s_state_init(&st, &ba->mm.s.m, N, max_len, S + 1, 1, 1, err))) {
        tr_s2s_decoder_free(&dec);
        return rs;
    }
    if ((rs = tr_lm_scorer_init(&sa, la, B, S, 1, err))) {
        tr_s2s_decoder_free(&dec);
        tr_s2s_state_free(&st);
        return rs;
    }
    if ((rs = tr_lm_scorer_init(&sb, lb, N, max_len, 1, err))) {
        tr_s2s_decoder_free(&dec);
        tr_s2s_state_free(&st);
        tr_lm_scorer_free(&sa);
        return rs;
    }
    const int32_t **ys = tr_xmalloc((size_t)N * sizeof *ys), **xs = tr_xmalloc((size_t)N * sizeof *xs);
    int *yl = tr_xmalloc((size_t)N * sizeof *yl), *xl = tr_xmalloc((size_t)N * sizeof *xl);
    int64_t *at = tr_xmalloc((size_t)N * sizeof *at);
    for (int64_t i0 = 0; i0 < n; i0 += B) {
        int b = (int)(n - i0 < B ? n - i0 : B), q = 0;
        const tr_s2s_nbest *o = tr_s2s_beam(&dec, &ab->mm.s.m, src + i0, sl + i0, b, beam, 0.0f);
        tr_lm_scorer_forward(&sa, la, src + i0, sl + i0, b, 0);
        for (int i = 0; i < b; i++) {
            int64_t g = i0 + i;
            t->lmx[g] = sa.logp[i];
            t->cnt[g] = o->n[i];
            for (int j = 0; j < o->n[i]; j++) {
                int h = i * o->k + j;
                int64_t e = g * beam + j;
                t->len[e] = o->len[h];
                t->fwd[e] = o->logp[h];
                t->bwd[e] = -INFINITY;
                memcpy(t->ids + e * max_len, o->ids + (size_t)h * o->max_len, (size_t)o->len[h] * sizeof(int32_t));
                if (o->len[h] > 0) {
                    ys[q] = t->ids + e * max_len;
                    yl[q] = o->len[h];
                    xs[q] = src[g];
                    xl[q] = sl[g];
                    at[q++] = e;
                }
            }
        }
        if (q == 0)
            continue;
        tr_s2s_set_batch(&st, &ba->mm.s.m, ys, yl, xs, xl, NULL, q);
        tr_s2s_forward(&st, &ba->mm.s.m, 0);
        tr_lm_scorer_forward(&sb, lb, ys, yl, q, 0);
        for (int j = 0; j < q; j++) {
            t->bwd[at[j]] = -st.nll[j];
            t->lmy[at[j]] = sb.logp[j];
        }
    }
    free(ys);
    free(xs);
    free(yl);
    free(xl);
    free(at);
    tr_s2s_decoder_free(&dec);
    tr_s2s_state_free(&st);
    tr_lm_scorer_free(&sa);
    tr_lm_scorer_free(&sb);
    return TR_OK;
}

/* The data of infer: sources, and how a choice of hypotheses is scored. */
typedef struct {
    int is_mt;
    tr_pron_items items;    /* g2p / p2g */
    mt_set set;             /* mt */
    const end_model *ab;
    const int32_t **src;
    int *sl;
    int64_t n;
} infer_data;

static int infer_data_load(infer_data *d, const char *cmd, const char *path, const end_model *ab)
{
    memset(d, 0, sizeof *d);
    d->ab = ab;
    d->is_mt = !strcmp(ab->task, MT_TASK);
    if (d->is_mt) {
        if (mt_set_load(&d->set, cmd, path, &ab->mm))
            return 1;
        d->n = d->set.src.n;
    } else {
        tr_lexicon lx;
        if (pron_load_items(cmd, path, ab->pron, ab->mm.s.src, ab->mm.s.tgt, &lx, &d->items))
            return 1;
        tr_lexicon_free(&lx);
        d->n = d->items.n;
    }
    const tr_s2s_data *r = d->is_mt ? &d->set.src : &d->items.refs;
    d->src = tr_xmalloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *d->src);
    d->sl = tr_xmalloc((size_t)(d->n > 0 ? d->n : 1) * sizeof *d->sl);
    for (int64_t i = 0; i < d->n; i++) {
        int64_t j = d->is_mt ? i : d->items.first[i];
        d->src[i] = r->src + r->src_off[j];
        d->sl[i] = (int)(r->src_off[j + 1] - r->src_off[j]);
    }
    return 0;
}

static void infer_data_free(infer_data *d)
{
    if (d->is_mt)
        mt_set_free(&d->set);
    else
        tr_pron_items_free(&d->items);
    free(d->src);
    free(d->sl);
}

/* The metric of the hypotheses chosen by re-ranking with alpha (lower is
 * better: WER, or -BLEU) and its report line. */
static double infer_score(infer_data *d, const kbest_table *t, double alpha, char *line, size_t n)
{
    if (d->is_mt) {
        for (int64_t i = 0; i < d->n; i++) {
            int j = t->cnt[i] ? tr_dual_rerank(t->fwd + i * t->k, t->bwd + i * t->k, t->lmy + i * t->k, t->lmx[i],
                                                t->cnt[i], alpha)
                              : 0;
            free(d->set.hyps[i]);
            d->set.hyps[i] = tr_side_text(&d->ab->tgt, t->ids + (i * t->k + j) * t->L, t->cnt[i] ? t->len[i * t->k + j] : 0);
        }
        tr_bleu b;
        tr_err err;
        if (tr_bleu_corpus((const char *const *)d->set.hyps, (const char *const *)d->set.text.tgt, d->n, &b, &err))
            return INFINITY;
        snprintf(line, n, "BLEU %.2f", b.score);
        return -b.score;
    }
    tr_pron_score s;
    memset(&s, 0, sizeof s);
    const tr_s2s_data *r = &d->items.refs;
    const int32_t *refs[64];
    int rl[64];
    for (int64_t i = 0; i < d->n; i++) {
        int j = t->cnt[i] ? tr_dual_rerank(t->fwd + i * t->k, t->bwd + i * t->k, t->lmy + i * t->k, t->lmx[i],
                                            t->cnt[i], alpha)
                          : 0;
        int nr = 0;
        for (int64_t q = d->items.first[i]; q < d->items.first[i + 1] && nr < 64; q++, nr++) {
            refs[nr] = r->tgt + r->tgt_off[q];
            rl[nr] = (int)(r->tgt_off[q + 1] - r->tgt_off[q]);
        }
        tr_pron_score_add(&s, t->ids + (i * t->k + j) * t->L, t->cnt[i] ? t->len[i * t->k + j] : 0, refs, rl, nr);
    }
    snprintf(line, n, "WER %.2f PER %.2f", tr_pron_wer(&s), tr_pron_per(&s));
    return tr_pron_wer(&s) + 1e-3 * tr_pron_per(&s);
}

static int cmd_train(int argc, char **argv)
{
    return train_both(argc, argv, 0);
}

static int cmd_dsl(int argc, char **argv)
{
    return train_both(argc, argv, 1);
}

static int cmd_infer(int argc, char **argv)
{
    const char *cmd = "triad dual infer";
    const char *usage = "triad dual infer --ab FILE --ba FILE --lm-a FILE --lm-b FILE --data DATA [--dev DATA] [options]";
    const char *what =
        "Dual inference: A->B's beam search gives k candidates y for each input x, re-ranked by\n"
        "  alpha * (-log P(y|x)) + (1 - alpha) * (-log P(x|y) - log P(y) + log P(x))\n"
        "with the inverse model B->A and the marginal language models. With --dev, alpha is tuned on dev\n"
        "over 0, 0.1, ..., 1 (alpha 1 is the primal model alone), then --data is scored with the primal\n"
        "ranking and with the tuned alpha. DATA is a lexicon (g2p/p2g) or PREFIX (mt).";
    const char *ab_path = NULL, *ba_path = NULL, *lm_a = NULL, *lm_b = NULL, *data = NULL, *dev = NULL;
    double alpha = 0.5;
    int beam = 5, threads = 1;
    opt_spec s[] = {
        {"ab", OPT_STR, &ab_path, "the primal model A->B", 1, 0, 0},
        {"ba", OPT_STR, &ba_path, "the inverse model B->A", 1, 0, 0},
        {"lm-a", OPT_STR, &lm_a, "language model of side A", 1, 0, 0},
        {"lm-b", OPT_STR, &lm_b, "language model of side B", 1, 0, 0},
        {"data", OPT_STR, &data, "data to score: a lexicon, or PREFIX for PREFIX.SRC/.TGT", 1, 0, 0},
        {"dev", OPT_STR, &dev, "tune alpha on this data first", 1, 0, 0},
        {"alpha", OPT_DOUBLE, &alpha, "weight of the primal model when not tuned", 0, 1, 0},
        {"beam", OPT_INT, &beam, "candidates per input", 1, 64, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
    };
    int r = opts_parse(s, (int)(sizeof s / sizeof s[0]), argc, argv, 1, usage, what);
    if (r)
        return r == 1 ? 0 : 2;
    if (!ab_path || !ba_path || !lm_a || !lm_b || !data) {
        fprintf(stderr, "%s: --ab, --ba, --lm-a, --lm-b and --data are required (see --help)\n", cmd);
        return 2;
    }
    tr_set_threads(threads);
    dual_pair dp;
    int rc = 0;
    infer_data dd, td;
    memset(&dd, 0, sizeof dd);
    memset(&td, 0, sizeof td);
    int have_dd = 0, have_td = 0;
    tr_err err;
    if ((rc = pair_load(&dp, cmd, ab_path, ba_path, lm_a, lm_b)))
        goto out;
    const end_model *ab = &dp.ab, *ba = &dp.ba;
    const int L = strcmp(ab->task, MT_TASK) ? TR_PRON_MAX_LEN : TR_MT_MAX_LEN;
    char line[128];
    if (dev) {
        if ((rc = infer_data_load(&dd, cmd, dev, ab)))
            goto out;
        have_dd = 1;
        kbest_table t;
        if (kbest_build(&t, ab, ba, &dp.la, &dp.lb, dd.src, dd.sl, dd.n, beam, L, &err)) {
            rc = tr_cli_fail(cmd, &err);
            goto out;
        }
        double best = INFINITY;
        for (int a = 10; a >= 0; a--) {
            double sc = infer_score(&dd, &t, a / 10.0, line, sizeof line);
            printf("dev alpha %.1f: %s%s\n", a / 10.0, line, a == 10 ? " (primal)" : "");
            if (sc < best) {
                best = sc;
                alpha = a / 10.0;
            }
        }
        printf("tuned alpha %.1f\n", alpha);
        kbest_free(&t);
    }
    if ((rc = infer_data_load(&td, cmd, data, ab)))
        goto out;
    have_td = 1;
    kbest_table t;
    if (kbest_build(&t, ab, ba, &dp.la, &dp.lb, td.src, td.sl, td.n, beam, L, &err)) {
        rc = tr_cli_fail(cmd, &err);
        goto out;
    }
    infer_score(&td, &t, 1.0, line, sizeof line);
    printf("primal (beam %d): %s\n", beam, line);
    infer_score(&td, &t, alpha, line, sizeof line);
    printf("dual inference (alpha %.2f): %s\n", alpha, line);
    kbest_free(&t);
out:
    if (have_dd)
        infer_data_free(&dd);
    if (have_td)
        infer_data_free(&td);
    pair_free(&dp);
    return rc;
}

/* ---------------------------------------------------------------- dispatch */

int tr_cli_dual(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"lm", "train the marginal language model of one side of a task", cmd_lm},
        {"train", "train two inverse models together: closed loop on monolingual text, duality regulariser", cmd_train},
        {"dsl", "dual supervised learning: `train` on the pairs only, with the duality regulariser", cmd_dsl},
        {"infer", "dual inference: re-rank k-best lists with the inverse model and the language models", cmd_infer},
    };
    return tr_cli_dispatch("dual", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
