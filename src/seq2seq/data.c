/* Sequence pairs held in memory as two concatenated id arrays with offsets:
 * the training set of a sequence-to-sequence task, grown by doubling while
 * it is read (set-up time, never in the training step). */
#include "triad/seq2seq.h"

#include <stdlib.h>
#include <string.h>

void tr_s2s_data_init(tr_s2s_data *d)
{
    memset(d, 0, sizeof *d);
    d->cap = 16;
    d->src_cap = d->tgt_cap = 128;
    d->src_off = tr_xcalloc((size_t)d->cap + 1, sizeof(int64_t));
    d->tgt_off = tr_xcalloc((size_t)d->cap + 1, sizeof(int64_t));
    d->src = tr_xmalloc((size_t)d->src_cap * sizeof(int32_t));
    d->tgt = tr_xmalloc((size_t)d->tgt_cap * sizeof(int32_t));
}

void tr_s2s_data_free(tr_s2s_data *d)
{
    free(d->src_off);
    free(d->tgt_off);
    free(d->src);
    free(d->tgt);
    memset(d, 0, sizeof *d);
}

static void *grow(void *p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    while (*cap < need)
        *cap *= 2;
    void *q = realloc(p, (size_t)*cap * elem);
    TR_ASSERT(q != NULL);
    return q;
}

void tr_s2s_data_add(tr_s2s_data *d, const int32_t *src, int ns,
                     const int32_t *tgt, int nt)
{
    TR_ASSERT(ns >= 0 && nt >= 0);
    if (d->n + 1 > d->cap) { /* the offset arrays hold cap + 1 entries */
        d->cap *= 2;
        d->src_off = realloc(d->src_off, (size_t)(d->cap + 1) * sizeof(int64_t));
        d->tgt_off = realloc(d->tgt_off, (size_t)(d->cap + 1) * sizeof(int64_t));
        TR_ASSERT(d->src_off && d->tgt_off);
    }
    int64_t so = d->src_off[d->n], to = d->tgt_off[d->n];
    d->src = grow(d->src, &d->src_cap, so + ns, sizeof(int32_t));
    d->tgt = grow(d->tgt, &d->tgt_cap, to + nt, sizeof(int32_t));
    if (ns)
        memcpy(d->src + so, src, (size_t)ns * sizeof(int32_t));
    if (nt)
        memcpy(d->tgt + to, tgt, (size_t)nt * sizeof(int32_t));
    d->n++;
    d->src_off[d->n] = so + ns;
    d->tgt_off[d->n] = to + nt;
    d->max_src = ns > d->max_src ? ns : d->max_src;
    d->max_tgt = nt > d->max_tgt ? nt : d->max_tgt;
}
