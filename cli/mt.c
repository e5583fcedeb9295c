/* triad mt: train, evaluate and use attention encoder-decoders that
 * translate between two languages on line-aligned parallel text (PREFIX.en
 * and PREFIX.fr), over joint byte-pair-encoded subword units that travel in
 * the checkpoint. */
#include "tasks.h"
#include "triad/bpe.h"
#include "triad/io.h"
#include "triad/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- train */

static int cmd_train(int argc, char **argv)
{
    const char *cmd = "triad mt train";
    const char *usage = "triad mt train --train PREFIX --dev PREFIX --src LANG --tgt LANG --output FILE [options]";
    char what[1024];
    snprintf(what, sizeof what,
             "Trains an attention encoder-decoder (bidirectional LSTM encoder, LSTM decoder, Luong attention)\n"
             "that translates PREFIX.SRC into PREFIX.TGT: line-aligned UTF-8 text, one sentence per line.\n"
             "Joint byte-pair-encoded subword units are learned on both sides of --train (--merges) and saved\n"
             "in the checkpoint. Training pairs with a side of more than --max-len units are left out; a\n"
             "sentence to translate may have up to %d units, its translation up to 2n + 10. After each epoch\n"
             "dev is translated greedily; --output keeps the weights with the best dev BLEU (--select nll: the\n"
             "best dev NLL). Ctrl-C saves; --resume continues exactly.",
             TR_MT_MAX_LEN);
    s2s_args a;
    const char *train = NULL, *dev = NULL, *test = NULL, *src = NULL, *tgt = NULL;
    const char *units = NULL, *select = NULL;
    int merges = 8000, max_len = MT_TRAIN_MAX_LEN;
    opt_spec s[9 + S2S_NOPTS] = {
        {"train", OPT_STR, &train, "training text: PREFIX.SRC and PREFIX.TGT", 1, 0, 0},
        {"dev", OPT_STR, &dev, "dev text (PREFIX), translated after each epoch (tuning and early stopping)", 1, 0, 0},
        {"test", OPT_STR, &test, "test text (PREFIX), translated once at the end with --beam", 1, 0, 0},
        {"src", OPT_STR, &src, "source language: the file suffix, e.g. en (a resumed run keeps its own)", 1, 0, 0},
        {"tgt", OPT_STR, &tgt, "target language, e.g. fr", 1, 0, 0},
        {"merges", OPT_INT, &merges, "byte-pair merges learned on the training text (both sides)", 0, 1000000, 0},
        {"units", OPT_STR, &units, "take the subword units and vocabularies of this mt model (either direction) instead", 1, 0, 0},
        {"max-len", OPT_INT, &max_len, "longest training sentence kept, in subword units", 1, TR_MT_MAX_LEN, 0},
        {"select", OPT_STR, &select, "what chooses the best weights and decays the rate on dev: bleu (default) or nll", 1, 0, 0},
    };
    const int ns = 9 + s2s_options(&a, s + 9);
    a.o.task = MT_TASK;
    a.c.emb = 256;
    a.o.patience = 3;
    a.eval_batch = 64;
    int r = opts_parse(s, ns, argc, argv, 1, usage, what);
    if (r)
        return r == 1 ? 0 : 2;
    if (!a.resume && (!src || !tgt)) {
        fprintf(stderr, "%s: --src and --tgt are required (see --help)\n", cmd);
        return 2;
    }
    if ((src && !mt_lang_ok(src)) || (tgt && !mt_lang_ok(tgt))) {
        fprintf(stderr, "%s: --src and --tgt are file suffixes: letters, digits, '_' and '-'\n", cmd);
        return 2;
    }
    if (select && strcmp(select, "bleu") && strcmp(select, "nll")) {
        fprintf(stderr, "%s: --select must be bleu or nll\n", cmd);
        return 2;
    }
    if (a.resume && (opts_find(s, ns, "merges")->set || units)) {
        fprintf(stderr, "%s: --merges and --units cannot be combined with --resume (the checkpoint fixes them)\n", cmd);
        return 2;
    }
    if ((r = s2s_check(&a, s, ns, cmd)))
        return r;

    tr_err err;
    tr_err_clear(&err);
    int rc = 0, have_model = 0;
    mt_model mm;
    memset(&mm, 0, sizeof mm);
    tr_mt_corpus text;
    memset(&text, 0, sizeof text);
    tr_s2s_data pairs;
    memset(&pairs, 0, sizeof pairs);
    mt_dev de;
    memset(&de, 0, sizeof de);
    mt_set ts;
    memset(&ts, 0, sizeof ts);
    char *bpe_text = NULL;
    double t0 = tr_now_seconds();
    if (a.resume) {
        if ((rc = mt_load(&mm, cmd, a.o.output)))
            goto out;
        have_model = 1;
        if ((src && strcmp(src, mm.src)) || (tgt && strcmp(tgt, mm.tgt))) {
            fprintf(stderr, "%s: %s translates %s into %s, not %s into %s\n", cmd, a.o.output, mm.src, mm.tgt,
                    src ? src : mm.src, tgt ? tgt : mm.tgt);
            rc = 2;
            goto out;
        }
        if ((rc = mt_read_corpus(cmd, train, &mm, &text)))
            goto out;
        if (select && strcmp(select, mm.select)) {
            fprintf(stderr, "%s: %s chooses its weights by dev %s; it cannot go on with --select %s\n", cmd,
                    a.o.output, mm.select, select);
            rc = 2;
            goto out;
        }
    } else {
        mt_set_langs(&mm, src, tgt);
        snprintf(mm.select, sizeof mm.select, "%s", select ? select : "bleu");
        if (units) {
            /* another model's subword units and vocabularies, either direction */
            mt_model um;
            if ((rc = mt_load(&um, cmd, units)))
                goto out;
            int same = !strcmp(um.src, src) && !strcmp(um.tgt, tgt), swapped = !strcmp(um.src, tgt) && !strcmp(um.tgt, src);
            if (!same && !swapped) {
                fprintf(stderr, "%s: --units %s translates %s into %s, not between %s and %s\n", cmd, units, um.src,
                        um.tgt, src, tgt);
                mt_free(&um);
                rc = 2;
                goto out;
            }
            mm.bpe = um.bpe;
            mm.s.src = same ? um.s.src : um.s.tgt;
            mm.s.tgt = same ? um.s.tgt : um.s.src;
            um.bpe = NULL;
            um.s.src = um.s.tgt = NULL;
            mt_free(&um);
            if ((rc = mt_read_corpus(cmd, train, &mm, &text)))
                goto out;
        } else {
            if ((rc = mt_read_corpus(cmd, train, &mm, &text)))
                goto out;
            if (!a.quiet)
                fprintf(stderr, "%s: learning %d byte-pair merges on %lld sentence pairs...\n", cmd, merges,
                        (long long)text.n);
            if (tr_mt_learn_bpe(&mm.bpe, &text, merges, &err) ||
                tr_mt_vocab(&mm.s.src, mm.bpe, text.src, text.n, text.src_path, &err) ||
                tr_mt_vocab(&mm.s.tgt, mm.bpe, text.tgt, text.n, text.tgt_path, &err)) {
                rc = tr_cli_fail(cmd, &err);
                goto out;
            }
        }
        a.c.src_vocab = tr_vocab_size(mm.s.src);
        a.c.tgt_vocab = tr_vocab_size(mm.s.tgt);
        if (tr_s2s_init(&mm.s.m, &a.c, &err)) {
            rc = tr_cli_fail(cmd, &err);
            goto out;
        }
        have_model = 1;
        tr_s2s_init_weights(&mm.s.m, a.o.seed);
    }
    bpe_text = tr_bpe_to_string(mm.bpe);
    tr_meta extra[] = {{"triad.bpe", bpe_text}, {"triad.langs", mm.langs}, {"triad.select", mm.select}};
    a.o.extra = extra;
    a.o.n_extra = 3;
    a.o.src_vocab = mm.s.src;
    a.o.tgt_vocab = mm.s.tgt;
    int64_t skipped = 0;
    if (tr_mt_pairs(&text, mm.bpe, mm.s.src, mm.s.tgt, max_len, &pairs, &skipped, &err)) {
        rc = tr_cli_fail(cmd, &err);
        goto out;
    }
    if (pairs.n == 0) {
        fprintf(stderr, "%s: no training pair has both sides within --max-len %d units\n", cmd, max_len);
        rc = 1;
        goto out;
    }
    if ((rc = mt_dev_init(&de, cmd, dev, &mm, a.eval_batch)) || (test && (rc = mt_set_load(&ts, cmd, test, &mm))))
        goto out;
    de.by_nll = !strcmp(mm.select, "nll");
    if (!a.quiet)
        fprintf(stderr,
                "%s: %s -> %s, %lld pairs (%lld longer than %d units left out); %d merges; vocabularies %d + %d units; "
                "dev %lld sentences; %lld parameters; %d thread%s; set-up %.1fs\n",
                train, mm.src, mm.tgt, (long long)pairs.n, (long long)skipped, max_len, tr_bpe_merges(mm.bpe),
                tr_vocab_size(mm.s.src), tr_vocab_size(mm.s.tgt), (long long)de.dev.text.n,
                (long long)tr_params_count(&mm.s.m.params), a.threads, a.threads == 1 ? "" : "s",
                tr_now_seconds() - t0);
    char hint[1024];
    snprintf(hint, sizeof hint, "triad mt train --train %s --dev %s --output %s", train, dev, a.o.output);
    int done = 0;
    rc = s2s_run(&a, cmd, hint, &mm.s.m, &pairs, a.resume ? mm.s.step : -1, mt_validate, &de, &done);
    if (done) {
        double score;
        char note[128];
        if (mt_validate(&de, &mm.s.m, &score, note, sizeof note, &err)) {
            rc = tr_cli_fail(cmd, &err);
            goto out;
        }
        mt_print_bleu(stdout, "dev ", &de.bleu);
        printf(" (greedy, %lld sentences)\n", (long long)de.dev.text.n);
        tr_s2s_decoder td;
        tr_bleu tb;
        if (test && tr_s2s_decoder_init(&td, &mm.s.m, a.eval_batch, ts.src.max_src, a.beam, TR_MT_MAX_LEN, &err)) {
            rc = tr_cli_fail(cmd, &err);
        } else if (test) {
            mt_decoder_limits(&td);
            if (mt_set_bleu(&ts, &td, &mm, a.beam, a.len_norm, &tb, &err)) {
                rc = tr_cli_fail(cmd, &err);
            } else {
                mt_print_bleu(stdout, "test ", &tb);
                printf(" (beam %d, %lld sentences)\n", a.beam, (long long)ts.text.n);
            }
            tr_s2s_decoder_free(&td);
        }
    }
out:
    mt_dev_free(&de);
    mt_set_free(&ts);
    tr_s2s_data_free(&pairs);
    tr_mt_corpus_free(&text);
    free(bpe_text);
    if (have_model) {
        mt_free(&mm);
    } else {
        tr_vocab_free(mm.s.src);
        tr_vocab_free(mm.s.tgt);
        tr_bpe_free(mm.bpe);
    }
    return rc;
}

/* ---------------------------------------------------------------- eval */

static int cmd_eval(int argc, char **argv)
{
    const char *cmd = "triad mt eval";
    const char *usage = "triad mt eval --model FILE --data PREFIX [options]";
    const char *what = "Translates PREFIX.SRC (the model's source language) and prints corpus BLEU against PREFIX.TGT,\n"
                       "computed as sacreBLEU's default (13a tokenisation, exp smoothing) on the detokenised output.";
    s2s_decode_args da;
    int r = s2s_decode_args_parse(&da, argc, argv, cmd, usage, what, 64, "text to translate and score: PREFIX.SRC and PREFIX.TGT",
                                  "the translations, one per line,");
    if (r >= 0)
        return r;
    mt_model mm;
    if (mt_load(&mm, cmd, da.model))
        return 1;
    mt_set e;
    int rc = 0;
    if (mt_set_load(&e, cmd, da.data, &mm)) {
        mt_free(&mm);
        return 1;
    }
    tr_err err;
    tr_s2s_decoder d;
    FILE *f = NULL;
    if (da.output && !(f = fopen(da.output, "w"))) {
        fprintf(stderr, "%s: cannot write --output %s\n", cmd, da.output);
        rc = 1;
    } else if (tr_s2s_decoder_init(&d, &mm.s.m, da.batch, e.src.max_src, da.beam, TR_MT_MAX_LEN, &err)) {
        rc = tr_cli_fail(cmd, &err);
    } else {
        mt_decoder_limits(&d);
        tr_bleu b;
        double t0 = tr_now_seconds();
        if (mt_set_bleu(&e, &d, &mm, da.beam, da.len_norm, &b, &err)) {
            rc = tr_cli_fail(cmd, &err);
        } else {
            double el = tr_now_seconds() - t0;
            mt_print_bleu(stdout, "", &b);
            printf(" (%s -> %s, %lld sentences, beam %d, %.1f sentences/s)\n", mm.src, mm.tgt, (long long)e.text.n,
                   da.beam, el > 0 ? (double)e.text.n / el : 0.0);
            for (int64_t i = 0; f && i < e.text.n; i++)
                fprintf(f, "%s\n", e.hyps[i]);
        }
        tr_s2s_decoder_free(&d);
    }
    if (f && fclose(f)) {
        fprintf(stderr, "%s: error writing %s\n", cmd, da.output);
        rc = 1;
    }
    mt_set_free(&e);
    mt_free(&mm);
    return rc;
}

/* ---------------------------------------------------------------- translate */

static int translate_ids(void *ctx, char *line, int32_t *ids, int64_t ln, tr_err *err)
{
    const mt_model *mm = ctx;
    return tr_mt_ids(mm->bpe, mm->s.src, line, ids, TR_MT_MAX_LEN, "<stdin>", ln, err);
}

static void translate_print(void *ctx, const int32_t *src, int ns, const int32_t *hyp, int nh)
{
    (void)src;
    (void)ns;
    const mt_model *mm = ctx;
    char *t = tr_mt_detok(mm->s.tgt, hyp, nh);
    printf("%s\n", t);
    free(t);
}

static int cmd_translate(int argc, char **argv)
{
    const char *cmd = "triad mt translate";
    const char *usage = "triad mt translate --model FILE [options] < INPUT";
    char what[512];
    snprintf(what, sizeof what,
             "Reads one sentence per line on standard input (the model's source language) and prints its\n"
             "translation; with --nbest N, N lines per input: rank, log-probability, translation, tab-separated.\n"
             "A sentence may have up to %d subword units; empty lines are errors (naming the line).",
             TR_MT_MAX_LEN);
    s2s_decode_args da;
    int r = s2s_decode_args_parse(&da, argc, argv, cmd, usage, what, 32, NULL, "translations");
    if (r >= 0)
        return r;
    mt_model mm;
    if (mt_load(&mm, cmd, da.model))
        return 1;
    tr_err err;
    tr_s2s_decoder d;
    if (tr_s2s_decoder_init(&d, &mm.s.m, da.batch, TR_MT_MAX_LEN, da.beam, TR_MT_MAX_LEN, &err)) {
        mt_free(&mm);
        return tr_cli_fail(cmd, &err);
    }
    mt_decoder_limits(&d);
    int rc = s2s_decode_stdin(cmd, &d, &mm.s.m, &da, translate_ids, translate_print, &mm);
    tr_s2s_decoder_free(&d);
    mt_free(&mm);
    return rc;
}

/* ---------------------------------------------------------------- dispatch */

int tr_cli_mt(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"train", "train a translation model on line-aligned parallel text", cmd_train},
        {"eval", "BLEU of a model on a parallel text", cmd_eval},
        {"translate", "translate the sentences read on standard input", cmd_translate},
    };
    return tr_cli_dispatch("mt", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
