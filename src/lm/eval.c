/* Perplexity of a text under any language model, and sampling from the word
 * LSTM language model. */
#include "triad/lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tr_status tr_seq_eval(const tr_seq_model *sm, tr_seq_state *s,
                      const tr_vocab *v, const char *path, int B, int T,
                      double *ppl, int64_t *ntokens, tr_err *err)
{
    TR_ASSERT(B == s->B && T <= s->T);
    tr_batcher *bt = NULL;
    tr_status st = tr_batcher_open(&bt, path, v, sm->cfg->lower, B, T, err);
    if (st)
        return st;
    tr_seq_reset(s, sm);
    double nll = 0.0;
    int64_t n = 0;
    int steps = 0;
    while (!(st = tr_batcher_next(bt, s->x, s->y, &steps, err)) && steps > 0) {
        nll += sm->forward(s, sm->model, s->x, s->y, steps, 0);
        n += (int64_t)steps * B;
        tr_seq_carry(s, sm);
    }
    tr_batcher_close(bt);
    if (st)
        return st;
    if (n == 0)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: too short to evaluate (needs at least two tokens per lane)", path);
    *ppl = exp(nll / (double)n);
    if (ntokens)
        *ntokens = n;
    return TR_OK;
}

tr_status tr_seq_eval_file(const tr_seq_model *sm, const tr_vocab *v,
                           const char *path, int B, int T, double *ppl,
                           int64_t *ntokens, tr_err *err)
{
    tr_seq_state *s = sm->state_new(sm->model, T, B, 0, 0, err);
    if (!s)
        return err ? err->code : TR_ERR_NOMEM;
    tr_status st = tr_seq_eval(sm, s, v, path, B, T, ppl, ntokens, err);
    sm->state_delete(s);
    return st;
}

void tr_lm_sample(const tr_lm *m, tr_lm_state *s, const int32_t *prime, int n,
                  int length, float temperature, tr_rng *rng, int32_t *out)
{
    TR_ASSERT(n >= 1 && temperature > 0.0f);
    const int B = s->seq.B, V = m->cfg.vocab_size;
    int32_t *x = s->seq.x, *y = s->seq.y; /* (1, B): lane 0 drives, other lanes idle */
    for (int b = 0; b < B; b++)
        y[b] = -1;
    tr_lm_state_reset(s, m);
    int32_t next = prime[0];
    for (int k = 0; k < n + length - 1; k++) {
        for (int b = 0; b < B; b++)
            x[b] = next;
        tr_lm_forward(s, m, x, y, 1, 0);
        tr_lm_carry(s, m);
        if (k + 1 < n) {
            next = prime[k + 1];
        } else {
            next = tr_sample_probs(s->probs, V, temperature, rng);
            out[k + 1 - n] = next;
        }
    }
}
