/* The tasks of the sequence-to-sequence commands (triad g2p, p2g, mt, dual):
 * loading a task's model and data, and scoring a model on dev. */
#include "tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- pronunciations */

/* The lexicon at path as evaluation items of the task. */
int pron_load_items(const char *cmd, const char *path, tr_pron_task task, const tr_vocab *src,
                    const tr_vocab *tgt, tr_lexicon *lx, tr_pron_items *it)
{
    tr_err err;
    if (tr_lexicon_read(lx, path, &err))
        return tr_cli_fail(cmd, &err);
    const tr_vocab *g = task == TR_PRON_G2P ? src : tgt, *p = task == TR_PRON_G2P ? tgt : src;
    if (tr_pron_items_build(it, lx, task, g, p, &err)) {
        tr_lexicon_free(lx);
        return tr_cli_fail(cmd, &err);
    }
    return 0;
}

int pron_dev_init(pron_dev *e, const char *cmd, const char *path, tr_pron_task task, const s2s_model *mf, int batch)
{
    memset(e, 0, sizeof *e);
    e->task = task;
    e->beam = 1;
    tr_lexicon lx;
    if (pron_load_items(cmd, path, task, mf->src, mf->tgt, &lx, &e->items))
        return 1;
    tr_lexicon_free(&lx);
    tr_err err;
    if (tr_s2s_decoder_init(&e->dec, &mf->m, batch, e->items.refs.max_src, 1, TR_PRON_MAX_LEN, &err)) {
        tr_pron_items_free(&e->items);
        return tr_cli_fail(cmd, &err);
    }
    return 0;
}

void pron_dev_free(pron_dev *e)
{
    if (e->dec.arena.base)
        tr_s2s_decoder_free(&e->dec);
    tr_pron_items_free(&e->items);
}

tr_status pron_validate(void *ctx, const tr_s2s *m, double *score, char *note, size_t n, tr_err *err)
{
    (void)err;
    pron_dev *e = ctx;
    tr_pron_score s;
    tr_pron_eval(&e->dec, m, &e->items, e->beam, 0.0f, &s, NULL, NULL);
    e->wer = tr_pron_wer(&s);
    e->per = tr_pron_per(&s);
    /* WER decides; PER breaks ties between equal WERs */
    *score = e->wer + 1e-3 * e->per;
    snprintf(note, n, "dev WER %.2f PER %.2f", e->wer, e->per);
    return TR_OK;
}

/* ---------------------------------------------------------------- translation */

void mt_decoder_limits(tr_s2s_decoder *d)
{
    d->len_a = MT_LEN_A;
    d->len_b = MT_LEN_B;
}

/* Language names become file suffixes: letters, digits, '_' and '-'. */
int mt_lang_ok(const char *l)
{
    size_t n = strlen(l);
    if (n == 0 || n >= 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((l[i] >= 'a' && l[i] <= 'z') || (l[i] >= 'A' && l[i] <= 'Z') || (l[i] >= '0' && l[i] <= '9') ||
              l[i] == '_' || l[i] == '-'))
            return 0;
    return 1;
}

void mt_set_langs(mt_model *mm, const char *src, const char *tgt)
{
    snprintf(mm->src, sizeof mm->src, "%s", src);
    snprintf(mm->tgt, sizeof mm->tgt, "%s", tgt);
    snprintf(mm->langs, sizeof mm->langs, "%s>%s", src, tgt);
}

/* Loads a translation checkpoint: weights, vocabularies, subword units and
 * the language pair. Returns 0 or 1 (message printed). */
int mt_load(mt_model *mm, const char *cmd, const char *path)
{
    memset(mm, 0, sizeof *mm);
    if (s2s_load(&mm->s, cmd, MT_TASK, path))
        return 1;
    tr_err err;
    tr_st_file *f = NULL;
    tr_status st = tr_st_open(&f, path, &err);
    if (!st) {
        const char *bpe = tr_st_meta(f, "triad.bpe"), *langs = tr_st_meta(f, "triad.langs");
        const char *select = tr_st_meta(f, "triad.select");
        snprintf(mm->select, sizeof mm->select, "%s", select ? select : "bleu");
        const char *gt = langs ? strchr(langs, '>') : NULL;
        if (!bpe || !langs)
            st = tr_err_set(&err, TR_ERR_FORMAT, "%s: metadata lacks %s", path, bpe ? "triad.langs" : "triad.bpe");
        else if (!gt || gt == langs || (size_t)(gt - langs) >= sizeof mm->src || strlen(gt + 1) >= sizeof mm->tgt)
            st = tr_err_set(&err, TR_ERR_FORMAT, "%s: bad triad.langs \"%s\" (expected SRC>TGT)", path, langs);
        else
            st = tr_bpe_from_string(&mm->bpe, bpe, path, &err);
        if (!st) {
            char src[32];
            memcpy(src, langs, (size_t)(gt - langs));
            src[gt - langs] = '\0';
            mt_set_langs(mm, src, gt + 1);
        }
        tr_st_close(f);
    }
    if (st) {
        s2s_model_free(&mm->s);
        return tr_cli_fail(cmd, &err);
    }
    return 0;
}

void mt_free(mt_model *mm)
{
    s2s_model_free(&mm->s);
    tr_bpe_free(mm->bpe);
}

/* PREFIX.SRC and PREFIX.TGT as a corpus. */
int mt_read_corpus(const char *cmd, const char *prefix, const mt_model *mm, tr_mt_corpus *c)
{
    char sp[4096], tp[4096];
    snprintf(sp, sizeof sp, "%s.%s", prefix, mm->src);
    snprintf(tp, sizeof tp, "%s.%s", prefix, mm->tgt);
    tr_err err;
    if (tr_mt_corpus_read(c, sp, tp, &err))
        return tr_cli_fail(cmd, &err);
    return 0;
}

/* ---------------------------------------------------------------- BLEU of a corpus */

int mt_set_load(mt_set *e, const char *cmd, const char *prefix, const mt_model *mm)
{
    memset(e, 0, sizeof *e);
    if (mt_read_corpus(cmd, prefix, mm, &e->text))
        return 1;
    tr_err err;
    if (tr_mt_sources(&e->text, mm->bpe, mm->s.src, &e->src, &err)) {
        tr_mt_corpus_free(&e->text);
        return tr_cli_fail(cmd, &err);
    }
    e->hyps = tr_xcalloc((size_t)e->text.n, sizeof *e->hyps);
    return 0;
}

static void free_hyps(mt_set *e)
{
    for (int64_t i = 0; i < e->text.n; i++) {
        free(e->hyps[i]);
        e->hyps[i] = NULL;
    }
}

void mt_set_free(mt_set *e)
{
    if (e->hyps)
        free_hyps(e);
    free(e->hyps);
    tr_s2s_data_free(&e->src);
    tr_mt_corpus_free(&e->text);
}

/* Translates the set and scores it against its targets. */
tr_status mt_set_bleu(mt_set *e, tr_s2s_decoder *d, const mt_model *mm, int beam, float len_norm,
                             tr_bleu *b, tr_err *err)
{
    free_hyps(e);
    tr_mt_translate_all(d, &mm->s.m, &e->src, mm->s.tgt, beam, len_norm, e->hyps);
    return tr_bleu_corpus((const char *const *)e->hyps, (const char *const *)e->text.tgt, e->text.n, b, err);
}

/* sacreBLEU's one-line summary. */
void mt_print_bleu(FILE *f, const char *label, const tr_bleu *b)
{
    fprintf(f, "%sBLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)", label, b->score,
            b->precisions[0], b->precisions[1], b->precisions[2], b->precisions[3], b->bp,
            b->ref_len > 0 ? (double)b->sys_len / (double)b->ref_len : 0.0, (long long)b->sys_len,
            (long long)b->ref_len);
}

/* Greedy dev BLEU decides; the dev NLL per token breaks ties (such as
 * BLEU 0 early in training, where the weights must still be allowed to
 * improve). */
int mt_dev_init(mt_dev *e, const char *cmd, const char *prefix, const mt_model *mm, int batch)
{
    memset(e, 0, sizeof *e);
    e->mm = mm;
    if (mt_set_load(&e->dev, cmd, prefix, mm))
        return 1;
    tr_err err;
    int64_t skipped;
    if (tr_mt_pairs(&e->dev.text, mm->bpe, mm->s.src, mm->s.tgt, TR_MT_MAX_LEN, &e->pairs, &skipped, &err) ||
        tr_s2s_decoder_init(&e->dec, &mm->s.m, batch, e->dev.src.max_src, 1, TR_MT_MAX_LEN, &err) ||
        tr_s2s_state_init(&e->st, &mm->s.m, batch < 32 ? batch : 32, e->pairs.max_src, e->pairs.max_tgt + 1, 1, 2,
                          &err)) {
        mt_dev_free(e);
        return tr_cli_fail(cmd, &err);
    }
    mt_decoder_limits(&e->dec);
    return 0;
}

void mt_dev_free(mt_dev *e)
{
    if (e->dec.arena.base)
        tr_s2s_decoder_free(&e->dec);
    if (e->st.arena.base)
        tr_s2s_state_free(&e->st);
    tr_s2s_data_free(&e->pairs);
    mt_set_free(&e->dev);
}

tr_status mt_validate(void *ctx, const tr_s2s *m, double *score, char *note, size_t n, tr_err *err)
{
    mt_dev *e = ctx;
    tr_status st = mt_set_bleu(&e->dev, &e->dec, e->mm, 1, 0.0f, &e->bleu, err);
    int64_t tokens = 0;
    double nll = tr_s2s_nll(&e->st, m, &e->pairs, &tokens) / (double)(tokens > 0 ? tokens : 1);
    *score = e->by_nll ? nll : -e->bleu.score + 1e-3 * nll;
    snprintf(note, n, "dev BLEU %.2f NLL %.3f", e->bleu.score, nll);
    return st;
}

