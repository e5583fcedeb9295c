/* Marginal language models of one side: an LSTM LM scoring and training on
 * whole sequences (each from a zero state and the input <eos>). */
#include "triad/dual.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tr_status tr_lm_scorer_init(tr_lm_scorer *s, const tr_lm *m, int B, int max_len, uint64_t seed, tr_err *err)
{
    memset(s, 0, sizeof *s);
    if (B < 1 || max_len < 1)
        return tr_err_set(err, TR_ERR_ARG, "language model scorer: %d lanes of %d ids (need >= 1)", B, max_len);
    s->B = B;
    s->T = max_len + 1;
    tr_status st = tr_lm_state_init(&s->st, m, s->T, B, seed, 3, err);
    if (st)
        return st;
    s->x = tr_xmalloc((size_t)s->T * (size_t)B * sizeof(int32_t));
    s->y = tr_xmalloc((size_t)s->T * (size_t)B * sizeof(int32_t));
    s->logp = tr_xcalloc((size_t)B, sizeof(double));
    return TR_OK;
}

void tr_lm_scorer_free(tr_lm_scorer *s)
{
    tr_lm_state_free(&s->st);
    free(s->x);
    free(s->y);
    free(s->logp);
    memset(s, 0, sizeof *s);
}

double tr_lm_scorer_forward(tr_lm_scorer *s, const tr_lm *m, const int32_t *const *seq, const int *len, int b,
                            int train)
{
    TR_ASSERT(b >= 1 && b <= s->B);
    const int B = s->B;
    int T = 0;
    for (int i = 0; i < b; i++) {
        TR_ASSERT(len[i] >= 1 && len[i] + 1 <= s->T);
        T = len[i] + 1 > T ? len[i] + 1 : T;
    }
    /* x (T, B): <eos> x_1 .. x_n then <eos>; y: x_1 .. x_n <eos> then -1.
     * Unused lanes read <eos> and predict nothing. */
    for (int t = 0; t < T; t++)
        for (int i = 0; i < B; i++) {
            int n = i < b ? len[i] : -1;
            s->x[(size_t)t * B + i] = t == 0 || t > n ? TR_EOS_ID : seq[i][t - 1];
            s->y[(size_t)t * B + i] = t < n ? seq[i][t] : t == n ? TR_EOS_ID : -1;
        }
    tr_lm_state_reset(&s->st, m);
    double total = tr_lm_forward(&s->st, m, s->x, s->y, T, train);
    for (int i = 0; i < b; i++) {
        double sum = 0.0;
        for (int t = 0; t <= len[i]; t++)
            sum += s->st.nll[(size_t)t * B + i];
        s->logp[i] = -sum;
    }
    s->b = b;
    return total;
}

void tr_lm_scorer_backward(tr_lm_scorer *s, tr_lm *m, float scale)
{
    tr_lm_backward(&s->st, m, scale);
}

double tr_lm_scorer_nll(tr_lm_scorer *s, const tr_lm *m, const tr_s2s_data *d, int64_t *tokens)
{
    const int32_t **seq = tr_xmalloc((size_t)s->B * sizeof *seq);
    int *len = tr_xmalloc((size_t)s->B * sizeof *len);
    double total = 0.0;
    int64_t count = 0;
    for (int64_t i0 = 0; i0 < d->n; i0 += s->B) {
        int b = (int)(d->n - i0 < s->B ? d->n - i0 : s->B);
        for (int j = 0; j < b; j++) {
            seq[j] = d->src + d->src_off[i0 + j];
            len[j] = (int)(d->src_off[i0 + j + 1] - d->src_off[i0 + j]);
            count += len[j] + 1;
        }
        total += tr_lm_scorer_forward(s, m, seq, len, b, 0);
    }
    free(seq);
    free(len);
    if (tokens)
        *tokens = count;
    return total;
}

/* ---------------------------------------------------------------- training */

tr_status tr_marginal_train(tr_lm *m, const tr_s2s_data *train, const tr_s2s_data *dev, const tr_marginal_opts *o,
                            tr_marginal_progress_fn fn, void *ctx, volatile sig_atomic_t *stop, tr_err *err)
{
    if (train->n < 1 || dev->n < 1)
        return tr_err_set(err, TR_ERR_ARG, "marginal language model: no training or dev sequences");
    if (o->batch < 1 || o->epochs < 1)
        return tr_err_set(err, TR_ERR_ARG, "marginal language model: batch and epochs must be >= 1");
    int max_len = train->max_src > dev->max_src ? train->max_src : dev->max_src;
    tr_lm_scorer sc;
    tr_optim opt;
    tr_status st = tr_lm_scorer_init(&sc, m, o->batch, max_len, o->seed, err);
    if (st)
        return st;
    if ((st = tr_optim_init(&opt, &o->opt, &m->params, err))) {
        tr_lm_scorer_free(&sc);
        return st;
    }
    const int64_t np = tr_params_count(&m->params);
    float *best = tr_xmalloc((size_t)np * sizeof(float));
    int64_t *order = tr_xmalloc((size_t)train->n * sizeof(int64_t));
    const int32_t **seq = tr_xmalloc((size_t)o->batch * sizeof *seq);
    int *len = tr_xmalloc((size_t)o->batch * sizeof *len);
    tr_params_get_values(&m->params, best);
    int64_t tok;
    double best_nll = tr_lm_scorer_nll(&sc, m, dev, &tok) / (double)tok;
    int bad = 0;
    for (int e = 0; e < o->epochs && !(stop && *stop); e++) {
        tr_rng r;
        tr_rng_seed(&r, o->seed, 100 + (uint64_t)e);
        for (int64_t i = 0; i < train->n; i++)
            order[i] = i;
        for (int64_t i = train->n - 1; i > 0; i--) {
            int64_t j = (int64_t)tr_rng_below(&r, (uint32_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double sum = 0.0;
        int64_t count = 0;
        for (int64_t i0 = 0; i0 < train->n && !(stop && *stop); i0 += o->batch) {
            int b = (int)(train->n - i0 < o->batch ? train->n - i0 : o->batch), ntok = 0;
            for (int j = 0; j < b; j++) {
                int64_t k = order[i0 + j];
                seq[j] = train->src + train->src_off[k];
                len[j] = (int)(train->src_off[k + 1] - train->src_off[k]);
                ntok += len[j] + 1;
            }
            tr_params_zero_grad(&m->params);
            double nll = tr_lm_scorer_forward(&sc, m, seq, len, b, 1);
            if (!isfinite(nll)) {
                st = tr_err_set(err, TR_ERR_ARG, "marginal language model: non-finite loss in epoch %d", e + 1);
                goto out;
            }
            tr_lm_scorer_backward(&sc, m, 1.0f / (float)ntok);
            tr_clip_grad_norm(&m->params, o->clip);
            tr_optim_step(&opt);
            sum += nll;
            count += ntok;
        }
        double dev_nll = tr_lm_scorer_nll(&sc, m, dev, &tok) / (double)tok;
        int improved = dev_nll < best_nll;
        if (improved) {
            best_nll = dev_nll;
            tr_params_get_values(&m->params, best);
            bad = 0;
        } else {
            tr_params_set_values(&m->params, best);
            opt.cfg.lr /= o->decay > 1.0f ? o->decay : 1.0f;
            bad++;
        }
        if (fn)
            fn(ctx, e, count ? sum / (double)count : 0.0, dev_nll, improved);
        if (o->patience > 0 && bad >= o->patience)
            break;
    }
    tr_params_set_values(&m->params, best);
out:
    free(best);
    free(order);
    free(seq);
    free(len);
    tr_optim_free(&opt);
    tr_lm_scorer_free(&sc);
    return st;
}
