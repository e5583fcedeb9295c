/* triad g2p / triad p2g: train, evaluate and use attention encoder-decoders
 * that spell out pronunciations (grapheme-to-phoneme) and spell words from
 * pronunciations (phoneme-to-grapheme) on CMUdict-format lexicons. */
#include "tasks.h"
#include "triad/metrics.h"
#include "triad/seq2seq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- task helpers */

/* Prints ids as a spelling (letters together) or a pronunciation (phonemes
 * separated by spaces). */
static void print_ids(FILE *f, const tr_vocab *v, const int32_t *ids, int n, int spelling)
{
    for (int i = 0; i < n; i++)
        fprintf(f, "%s%s", i && !spelling ? " " : "", tr_vocab_word(v, ids[i]));
}

/* ---------------------------------------------------------------- train */

static int cmd_train(int argc, char **argv, tr_pron_task task)
{
    const char *tn = tr_pron_task_name(task);
    char cmd[64], usage[160], what[512];
    snprintf(cmd, sizeof cmd, "triad %s train", tn);
    snprintf(usage, sizeof usage, "%s --train FILE --dev FILE --output FILE [options]", cmd);
    snprintf(what, sizeof what,
             "Trains an attention encoder-decoder (bidirectional LSTM encoder, LSTM decoder, Luong attention)\n"
             "%s on a CMUdict-format lexicon (WORD  PH1 PH2 ..., stress digits dropped).\n"
             "After each epoch the dev set is decoded greedily; --output keeps the weights with the best dev WER.\n"
             "Ctrl-C saves a checkpoint; --resume continues it exactly.",
             task == TR_PRON_G2P ? "from spellings to pronunciations" : "from pronunciations to spellings");
    s2s_args a;
    const char *train = NULL, *dev = NULL, *test = NULL;
    opt_spec s[3 + S2S_NOPTS] = {
        {"train", OPT_STR, &train, "training lexicon (CMUdict format)", 1, 0, 0},
        {"dev", OPT_STR, &dev, "dev lexicon, decoded after each epoch (tuning and early stopping)", 1, 0, 0},
        {"test", OPT_STR, &test, "test lexicon, evaluated once at the end with --beam", 1, 0, 0},
    };
    const int ns = 3 + s2s_options(&a, s + 3);
    a.o.task = tn;
    int r = opts_parse(s, ns, argc, argv, 1, usage, what);
    if (r)
        return r == 1 ? 0 : 2;
    if ((r = s2s_check(&a, s, ns, cmd)))
        return r;

    /* everything is read and checked before the first update */
    tr_err err;
    tr_err_clear(&err);
    int rc = 0;
    tr_lexicon lx;
    memset(&lx, 0, sizeof lx);
    s2s_model mf;
    memset(&mf, 0, sizeof mf);
    tr_s2s_data pairs;
    memset(&pairs, 0, sizeof pairs);
    pron_dev de;
    memset(&de, 0, sizeof de);
    tr_lexicon tlx;
    memset(&tlx, 0, sizeof tlx);
    tr_pron_items titems;
    memset(&titems, 0, sizeof titems);
    int have_model = 0;
    if (tr_lexicon_read(&lx, train, &err)) {
        rc = tr_cli_fail(cmd, &err);
        goto out;
    }
    if (a.resume) {
        if ((rc = s2s_load(&mf, cmd, tn, a.o.output)))
            goto out;
        have_model = 1;
    } else {
        tr_vocab *g, *p;
        tr_pron_vocabs(&lx, &g, &p);
        mf.src = task == TR_PRON_G2P ? g : p;
        mf.tgt = task == TR_PRON_G2P ? p : g;
        a.c.src_vocab = tr_vocab_size(mf.src);
        a.c.tgt_vocab = tr_vocab_size(mf.tgt);
        if (tr_s2s_init(&mf.m, &a.c, &err)) {
            rc = tr_cli_fail(cmd, &err);
            goto out;
        }
        have_model = 1;
        tr_s2s_init_weights(&mf.m, a.o.seed);
    }
    a.o.src_vocab = mf.src;
    a.o.tgt_vocab = mf.tgt;
    const tr_vocab *g = task == TR_PRON_G2P ? mf.src : mf.tgt, *p = task == TR_PRON_G2P ? mf.tgt : mf.src;
    if (tr_pron_pairs(&lx, task, g, p, &pairs, &err)) {
        rc = tr_cli_fail(cmd, &err);
        goto out;
    }
    /* greedy decoding of dev after each epoch; --test gets its own beam decoder at the end */
    if ((rc = pron_dev_init(&de, cmd, dev, task, &mf, a.eval_batch)) ||
        (test && (rc = pron_load_items(cmd, test, task, mf.src, mf.tgt, &tlx, &titems))))
        goto out;
    if (!a.quiet)
        fprintf(stderr, "%s: %lld pairs; %d graphemes, %d phonemes (with <unk>, <eos>); dev %lld %s; %lld parameters; %d thread%s\n",
                train, (long long)pairs.n, tr_vocab_size(g), tr_vocab_size(p), (long long)de.items.n,
                task == TR_PRON_G2P ? "words" : "pronunciations", (long long)tr_params_count(&mf.m.params), a.threads,
                a.threads == 1 ? "" : "s");
    char hint[1024];
    snprintf(hint, sizeof hint, "triad %s train --train %s --dev %s --output %s", tn, train, dev, a.o.output);
    int done = 0;
    rc = s2s_run(&a, cmd, hint, &mf.m, &pairs, a.resume ? mf.step : -1, pron_validate, &de, &done);
    if (done) {
        /* m holds the best weights */
        double score;
        char note[256];
        pron_validate(&de, &mf.m, &score, note, sizeof note, &err);
        printf("dev WER %.2f PER %.2f (greedy, %lld items)\n", de.wer, de.per, (long long)de.items.n);
        tr_s2s_decoder td;
        if (test && tr_s2s_decoder_init(&td, &mf.m, a.eval_batch, titems.refs.max_src, a.beam, TR_PRON_MAX_LEN, &err)) {
            rc = tr_cli_fail(cmd, &err);
        } else if (test) {
            tr_pron_score sc;
            tr_pron_eval(&td, &mf.m, &titems, a.beam, a.len_norm, &sc, NULL, NULL);
            printf("test WER %.2f PER %.2f (beam %d, %lld items)\n", tr_pron_wer(&sc), tr_pron_per(&sc), a.beam,
                   (long long)titems.n);
            tr_s2s_decoder_free(&td);
        }
    }
out:
    pron_dev_free(&de);
    tr_pron_items_free(&titems);
    tr_lexicon_free(&tlx);
    tr_s2s_data_free(&pairs);
    tr_lexicon_free(&lx);
    if (have_model)
        tr_s2s_free(&mf.m);
    tr_vocab_free(mf.src);
    tr_vocab_free(mf.tgt);
    return rc;
}

/* ---------------------------------------------------------------- eval */

typedef struct {
    FILE *f;
    const tr_pron_items *it;
    const tr_vocab *src, *tgt;
    tr_pron_task task;
    int32_t *hyp;   /* (items, TR_PRON_MAX_LEN) best hypotheses, kept to be written in file order */
    int *len;       /* (items) */
} pred_out;

static void keep_pred(void *ctx, int64_t item, const int32_t *hyp, int len, double logp)
{
    (void)logp;
    pred_out *p = ctx;
    TR_ASSERT(len <= TR_PRON_MAX_LEN);
    memcpy(p->hyp + (size_t)item * TR_PRON_MAX_LEN, hyp, (size_t)len * sizeof(int32_t));
    p->len[item] = len;
}

/* Writes the predictions as CMUdict lines (spelling, two spaces, phonemes), in file order. */
static void write_preds(const pred_out *p)
{
    for (int64_t item = 0; item < p->it->n; item++) {
        int64_t j = p->it->first[item];
        const int32_t *src = p->it->refs.src + p->it->refs.src_off[j];
        const int32_t *hyp = p->hyp + (size_t)item * TR_PRON_MAX_LEN;
        int ns = (int)(p->it->refs.src_off[j + 1] - p->it->refs.src_off[j]);
        if (p->task == TR_PRON_G2P) {
            print_ids(p->f, p->src, src, ns, 1);
            fputs("  ", p->f);
            print_ids(p->f, p->tgt, hyp, p->len[item], 0);
        } else {
            print_ids(p->f, p->tgt, hyp, p->len[item], 1);
            fputs("  ", p->f);
            print_ids(p->f, p->src, src, ns, 0);
        }
        fputc('\n', p->f);
    }
}

static int cmd_eval(int argc, char **argv, tr_pron_task task)
{
    const char *tn = tr_pron_task_name(task);
    char cmd[64], usage[160], what[256];
    snprintf(cmd, sizeof cmd, "triad %s eval", tn);
    snprintf(usage, sizeof usage, "%s --model FILE --data FILE [options]", cmd);
    snprintf(what, sizeof what,
             "Decodes every %s of a CMUdict-format lexicon and prints WER and PER: an output is right if it\n"
             "equals any of its references; PER is the edit distance to the closest reference per %s.",
             task == TR_PRON_G2P ? "word" : "pronunciation",
             task == TR_PRON_G2P ? "reference phoneme" : "reference letter (a letter error rate)");
    s2s_decode_args da;
    int r = s2s_decode_args_parse(&da, argc, argv, cmd, usage, what, 256, "lexicon to evaluate on",
                                  "the predictions (CMUdict format)");
    if (r >= 0)
        return r;
    s2s_model mf;
    if (s2s_load(&mf, cmd, tn, da.model))
        return 1;
    tr_lexicon lx;
    tr_pron_items it;
    int rc = 0;
    if (pron_load_items(cmd, da.data, task, mf.src, mf.tgt, &lx, &it)) {
        s2s_model_free(&mf);
        return 1;
    }
    tr_err err;
    tr_s2s_decoder d;
    pred_out po = {NULL, &it, mf.src, mf.tgt, task, NULL, NULL};
    if (da.output && !(po.f = fopen(da.output, "w"))) {
        fprintf(stderr, "%s: cannot write --output %s\n", cmd, da.output);
        rc = 1;
    } else if (tr_s2s_decoder_init(&d, &mf.m, da.batch, it.refs.max_src, da.beam, TR_PRON_MAX_LEN, &err)) {
        rc = tr_cli_fail(cmd, &err);
    } else {
        tr_pron_score sc;
        double t0 = tr_now_seconds();
        if (po.f) {
            po.hyp = tr_xmalloc((size_t)it.n * TR_PRON_MAX_LEN * sizeof(int32_t));
            po.len = tr_xmalloc((size_t)it.n * sizeof(int));
        }
        tr_pron_eval(&d, &mf.m, &it, da.beam, da.len_norm, &sc, po.f ? keep_pred : NULL, &po);
        double el = tr_now_seconds() - t0;
        if (po.f)
            write_preds(&po);
        free(po.hyp);
        free(po.len);
        printf("WER %.2f PER %.2f (%lld %s, beam %d, %.0f per second)\n", tr_pron_wer(&sc), tr_pron_per(&sc),
               (long long)it.n, task == TR_PRON_G2P ? "words" : "pronunciations", da.beam,
               el > 0 ? (double)it.n / el : 0.0);
        tr_s2s_decoder_free(&d);
    }
    if (po.f && fclose(po.f)) {
        fprintf(stderr, "%s: error writing %s\n", cmd, da.output);
        rc = 1;
    }
    tr_pron_items_free(&it);
    tr_lexicon_free(&lx);
    s2s_model_free(&mf);
    return rc;
}

/* ---------------------------------------------------------------- predict */

typedef struct {
    const s2s_model *mf;
    tr_pron_task task;
} predict_ctx;

/* A word or pronunciation, spaces around it ignored. */
static int predict_ids(void *ctx, char *line, int32_t *ids, int64_t ln, tr_err *err)
{
    const predict_ctx *c = ctx;
    char *p = line, *e = line + strlen(line);
    while (*p == ' ' || *p == '\t')
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *e = '\0';
    if (!*p) {
        tr_err_set(err, TR_ERR_FORMAT, "<stdin>:%lld: empty line (expected a %s)", (long long)ln,
                   c->task == TR_PRON_G2P ? "word" : "pronunciation");
        return -1;
    }
    return c->task == TR_PRON_G2P ? tr_pron_spelling_ids(c->mf->src, p, ids, "<stdin>", ln, err)
                                  : tr_pron_phoneme_ids(c->mf->src, p, ids, "<stdin>", ln, err);
}

/* A CMUdict line: the spelling, two spaces, the pronunciation. */
static void predict_print(void *ctx, const int32_t *src, int ns, const int32_t *hyp, int nh)
{
    const predict_ctx *c = ctx;
    if (c->task == TR_PRON_G2P) {
        print_ids(stdout, c->mf->src, src, ns, 1);
        fputs("  ", stdout);
        print_ids(stdout, c->mf->tgt, hyp, nh, 0);
    } else {
        print_ids(stdout, c->mf->tgt, hyp, nh, 1);
        fputs("  ", stdout);
        print_ids(stdout, c->mf->src, src, ns, 0);
    }
    fputc('\n', stdout);
}

static int cmd_predict(int argc, char **argv, tr_pron_task task)
{
    const char *tn = tr_pron_task_name(task);
    char cmd[64], usage[160], what[512];
    snprintf(cmd, sizeof cmd, "triad %s predict", tn);
    snprintf(usage, sizeof usage, "%s --model FILE [options] < INPUT", cmd);
    snprintf(what, sizeof what,
             "Reads one %s per line on standard input\n"
             "and prints a CMUdict line (SPELLING  PH1 PH2 ...) for each; with --nbest N, N lines per input:\n"
             "rank, log-probability, then the line, tab-separated.\n"
             "Inputs have at most %d %s; empty lines and unknown %s are errors (naming the line).",
             task == TR_PRON_G2P ? "word (case is ignored)" : "pronunciation (phonemes separated by spaces)",
             TR_PRON_MAX_LEN, task == TR_PRON_G2P ? "characters" : "phonemes",
             task == TR_PRON_G2P ? "characters" : "phonemes");
    s2s_decode_args da;
    int r = s2s_decode_args_parse(&da, argc, argv, cmd, usage, what, 64, NULL, "hypotheses");
    if (r >= 0)
        return r;
    s2s_model mf;
    if (s2s_load(&mf, cmd, tn, da.model))
        return 1;
    tr_err err;
    tr_s2s_decoder d;
    if (tr_s2s_decoder_init(&d, &mf.m, da.batch, TR_PRON_MAX_LEN, da.beam, TR_PRON_MAX_LEN, &err)) {
        s2s_model_free(&mf);
        return tr_cli_fail(cmd, &err);
    }
    predict_ctx pc = {&mf, task};
    int rc = s2s_decode_stdin(cmd, &d, &mf.m, &da, predict_ids, predict_print, &pc);
    tr_s2s_decoder_free(&d);
    s2s_model_free(&mf);
    return rc;
}

/* ---------------------------------------------------------------- dispatch */

static int g2p_train(int argc, char **argv) { return cmd_train(argc, argv, TR_PRON_G2P); }
static int g2p_eval(int argc, char **argv) { return cmd_eval(argc, argv, TR_PRON_G2P); }
static int g2p_predict(int argc, char **argv) { return cmd_predict(argc, argv, TR_PRON_G2P); }
static int p2g_train(int argc, char **argv) { return cmd_train(argc, argv, TR_PRON_P2G); }
static int p2g_eval(int argc, char **argv) { return cmd_eval(argc, argv, TR_PRON_P2G); }
static int p2g_predict(int argc, char **argv) { return cmd_predict(argc, argv, TR_PRON_P2G); }

int tr_cli_g2p(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"train", "train a spelling -> pronunciation model on a CMUdict-format lexicon", g2p_train},
        {"eval", "WER and PER of a model on a lexicon", g2p_eval},
        {"predict", "pronunciations of the words read on standard input", g2p_predict},
    };
    return tr_cli_dispatch("g2p", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}

int tr_cli_p2g(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"train", "train a pronunciation -> spelling model on a CMUdict-format lexicon", p2g_train},
        {"eval", "WER and letter error rate of a model on a lexicon", p2g_eval},
        {"predict", "spellings of the pronunciations read on standard input", p2g_predict},
    };
    return tr_cli_dispatch("p2g", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
