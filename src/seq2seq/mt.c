/* Translation on line-aligned parallel text: the two files read together,
 * subword units (bpe.h) learned on both sides, sentences as ids of the
 * units, and corpus BLEU of a model's translations on detokenised text. */
#include "triad/bpe.h"
#include "triad/seq2seq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- corpus */

static char *copy_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = tr_xmalloc(n);
    memcpy(c, s, n);
    return c;
}

tr_status tr_mt_corpus_read(tr_mt_corpus *c, const char *src_path,
                            const char *tgt_path, tr_err *err)
{
    memset(c, 0, sizeof *c);
    int64_t ns = 0, nt = 0;
    tr_status st = tr_lines_read(src_path, &c->src, &ns, err);
    if (!st)
        st = tr_lines_read(tgt_path, &c->tgt, &nt, err);
    if (!st && ns != nt)
        st = tr_err_set(err, TR_ERR_FORMAT, "%s has %lld lines but %s has %lld: the files must be line-aligned translations",
                        src_path, (long long)ns, tgt_path, (long long)nt);
    if (st) {
        tr_lines_free(c->src, ns);
        tr_lines_free(c->tgt, nt);
        memset(c, 0, sizeof *c);
        return st;
    }
    c->n = ns;
    c->src_path = copy_str(src_path);
    c->tgt_path = copy_str(tgt_path);
    return TR_OK;
}

void tr_mt_corpus_free(tr_mt_corpus *c)
{
    tr_lines_free(c->src, c->n);
    tr_lines_free(c->tgt, c->n);
    free(c->src_path);
    free(c->tgt_path);
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- subword units */

tr_status tr_mt_learn_bpe(tr_bpe **out, const tr_mt_corpus *c, int merges, tr_err *err)
{
    *out = NULL;
    tr_bpe_counts *k = tr_bpe_counts_new();
    tr_status st = TR_OK;
    for (int64_t i = 0; i < c->n && !st; i++) {
        st = tr_bpe_counts_add(k, c->src[i], strlen(c->src[i]), c->src_path, i + 1, err);
        if (!st)
            st = tr_bpe_counts_add(k, c->tgt[i], strlen(c->tgt[i]), c->tgt_path, i + 1, err);
    }
    if (!st)
        st = tr_bpe_learn(out, k, merges, 2, err);
    tr_bpe_counts_free(k);
    return st;
}

typedef struct {
    const tr_vocab *v;
    tr_vocab *grow;    /* adds every unit (vocabulary building), else NULL */
    int32_t *ids;
    int n, max;        /* units seen, room in ids */
} unit_sink;

static void take_unit(void *p, const char *u, size_t n)
{
    unit_sink *s = p;
    int32_t id = s->grow ? tr_vocab_add(s->grow, u, n) : tr_vocab_id(s->v, u, n);
    if (s->n < s->max)
        s->ids[s->n] = id;
    s->n++;
}

int tr_mt_ids_upto(const tr_bpe *b, const tr_vocab *v, const char *s, int32_t *ids, int max, const char *where,
                   int64_t line, tr_err *err)
{
    unit_sink k = {v, NULL, ids, 0, max};
    if (tr_bpe_encode(b, s, strlen(s), take_unit, &k, where, line, err))
        return -1;
    if (k.n == 0) {
        tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: empty sentence", where ? where : "<input>", (long long)line);
        return -1;
    }
    return k.n;
}

int tr_mt_ids(const tr_bpe *b, const tr_vocab *v, const char *s, int32_t *ids,
              int max, const char *where, int64_t line, tr_err *err)
{
    int n = tr_mt_ids_upto(b, v, s, ids, max, where, line, err);
    if (n > max) {
        tr_err_set(err, TR_ERR_FORMAT, "%s:%lld: the sentence has %d subword units; the limit is %d", where ? where : "<input>",
                   (long long)line, n, max);
        return -1;
    }
    return n;
}

tr_status tr_mt_vocab(tr_vocab **out, const tr_bpe *b, char *const *lines, int64_t n,
                      const char *where, tr_err *err)
{
    tr_vocab *v = tr_vocab_new();
    unit_sink k = {v, v, NULL, 0, 0};
    for (int64_t i = 0; i < n; i++)
        if (tr_bpe_encode(b, lines[i], strlen(lines[i]), take_unit, &k, where, i + 1, err)) {
            tr_vocab_free(v);
            *out = NULL;
            return err->code;
        }
    *out = v;
    return TR_OK;
}

tr_status tr_mt_pairs(const tr_mt_corpus *c, const tr_bpe *b, const tr_vocab *sv,
                      const tr_vocab *tv, int max_len, tr_s2s_data *out,
                      int64_t *skipped, tr_err *err)
{
    TR_ASSERT(max_len >= 1 && max_len <= TR_MT_MAX_LEN);
    int32_t *x = tr_xmalloc(2 * TR_MT_MAX_LEN * sizeof(int32_t)), *y = x + TR_MT_MAX_LEN;
    tr_s2s_data_init(out);
    *skipped = 0;
    tr_status st = TR_OK;
    for (int64_t i = 0; i < c->n && !st; i++) {
        unit_sink ks = {sv, NULL, x, 0, TR_MT_MAX_LEN}, kt = {tv, NULL, y, 0, TR_MT_MAX_LEN};
        if ((st = tr_bpe_encode(b, c->src[i], strlen(c->src[i]), take_unit, &ks, c->src_path, i + 1, err)) ||
            (st = tr_bpe_encode(b, c->tgt[i], strlen(c->tgt[i]), take_unit, &kt, c->tgt_path, i + 1, err)))
            break;
        if (ks.n == 0 || kt.n == 0 || ks.n > max_len || kt.n > max_len) {
            (*skipped)++;
            continue;
        }
        tr_s2s_data_add(out, x, ks.n, y, kt.n);
    }
    free(x);
    if (st)
        tr_s2s_data_free(out);
    return st;
}

char *tr_mt_detok(const tr_vocab *v, const int32_t *ids, int n)
{
    const char **u = tr_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *u);
    for (int i = 0; i < n; i++)
        u[i] = tr_vocab_word(v, ids[i]);
    char *s = tr_bpe_decode(u, n);
    free(u);
    return s;
}

/* ---------------------------------------------------------------- evaluation */

typedef struct {
    const tr_vocab *tv;
    char **hyps;
} detok_ctx;

static void keep_hyp(void *p, int64_t i, const int32_t *hyp, int len, double logp)
{
    (void)logp;
    detok_ctx *d = p;
    d->hyps[i] = tr_mt_detok(d->tv, hyp, len);
}

tr_status tr_mt_sources(const tr_mt_corpus *c, const tr_bpe *b, const tr_vocab *sv,
                        tr_s2s_data *out, tr_err *err)
{
    int32_t *x = tr_xmalloc(TR_MT_MAX_LEN * sizeof(int32_t));
    tr_s2s_data_init(out);
    tr_status st = TR_OK;
    for (int64_t i = 0; i < c->n; i++) {
        int n = tr_mt_ids(b, sv, c->src[i], x, TR_MT_MAX_LEN, c->src_path, i + 1, err);
        if (n < 0) {
            st = err->code;
            tr_s2s_data_free(out);
            break;
        }
        tr_s2s_data_add(out, x, n, NULL, 0);
    }
    free(x);
    return st;
}

void tr_mt_translate_all(tr_s2s_decoder *d, const tr_s2s *m, const tr_s2s_data *src,
                         const tr_vocab *tv, int beam, float len_norm, char **hyps)
{
    const int32_t **s = tr_xmalloc((size_t)(src->n > 0 ? src->n : 1) * sizeof *s);
    int *len = tr_xmalloc((size_t)(src->n > 0 ? src->n : 1) * sizeof *len);
    for (int64_t i = 0; i < src->n; i++) {
        s[i] = src->src + src->src_off[i];
        len[i] = (int)(src->src_off[i + 1] - src->src_off[i]);
    }
    detok_ctx dc = {tv, hyps};
    tr_s2s_decode_all(d, m, s, len, src->n, beam, len_norm, keep_hyp, &dc);
    free(s);
    free(len);
}
