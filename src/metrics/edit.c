/*
 * src/metrics/edit.c - Levenshtein distance between token sequences and the
 * word / phoneme error rates of predicted pronunciations against one or
 * more references. Not here: BLEU (bleu.c).
 */
#include "triad/metrics.h"

#include <stdlib.h>

int tr_edit_distance(const int32_t *a, int na, const int32_t *b, int nb)
{
    TR_ASSERT(na >= 0 && nb >= 0);
    TR_ASSERT((na == 0 || a != NULL) && (nb == 0 || b != NULL));
    if (na < nb) { /* keep the row over the shorter sequence */
        const int32_t *t = a;
        a = b;
        b = t;
        int tn = na;
        na = nb;
        nb = tn;
    }
    if (nb == 0)
        return na;
    /* row[j] = distance between a[0..i) and b[0..j) for the current i. */
    int *row = tr_xmalloc(((size_t)nb + 1) * sizeof *row);
    for (int j = 0; j <= nb; j++)
        row[j] = j;
    for (int i = 1; i <= na; i++) {
        int diag = row[0]; /* d(i-1, j-1) */
        row[0] = i;
        for (int j = 1; j <= nb; j++) {
            int up = row[j]; /* d(i-1, j) */
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    int d = row[nb];
    free(row);
    return d;
}

static int same_seq(const int32_t *a, int na, const int32_t *b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

void tr_pron_score_add(tr_pron_score *s, const int32_t *hyp, int nh,
                       const int32_t *const *refs, const int *ref_len,
                       int nrefs)
{
    TR_ASSERT(s != NULL && refs != NULL && ref_len != NULL && nrefs >= 1);
    TR_ASSERT(nh >= 0 && (nh == 0 || hyp != NULL));
    int right = 0, best = -1, best_len = 0;
    for (int k = 0; k < nrefs; k++) {
        TR_ASSERT(ref_len[k] >= 0 && (ref_len[k] == 0 || refs[k] != NULL));
        if (same_seq(hyp, nh, refs[k], ref_len[k]))
            right = 1;
        int d = tr_edit_distance(hyp, nh, refs[k], ref_len[k]);
        if (best < 0 || d < best || (d == best && ref_len[k] < best_len)) {
            best = d;
            best_len = ref_len[k];
        }
    }
    s->words++;
    s->wrong_words += !right;
    s->phone_errors += best;
    s->ref_phones += best_len;
}

double tr_pron_wer(const tr_pron_score *s)
{
    TR_ASSERT(s != NULL);
    return s->words ? 100.0 * (double)s->wrong_words / (double)s->words : 0.0;
}

double tr_pron_per(const tr_pron_score *s)
{
    TR_ASSERT(s != NULL);
    return s->ref_phones ? 100.0 * (double)s->phone_errors / (double)s->ref_phones : 0.0;
}
