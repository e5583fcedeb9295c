/* The word LSTM language model: parameters, per-worker activations, and the
 * forward/backward pass over one window of truncated BPTT.
 *
 *   x (T, B) -> encoder -> dropout -> [LSTM layer -> dropout] x L
 *            -> decoder (V) -> softmax cross-entropy with y (T, B)
 */
#include "triad/lm.h"
#include "triad/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

tr_status tr_lm_config_check(const tr_lm_config *c, tr_err *err)
{
    if (c->vocab_size < 3)
        return tr_err_set(err, TR_ERR_ARG, "--vocab must leave room for at least one word besides <unk> and <eos>, got %d", c->vocab_size);
    if (c->emb < 1 || c->emb > 65536)
        return tr_err_set(err, TR_ERR_ARG, "--emb must be in [1, 65536], got %d", c->emb);
    if (c->hidden < 1 || c->hidden > 65536)
        return tr_err_set(err, TR_ERR_ARG, "--hidden must be in [1, 65536], got %d", c->hidden);
    if (c->layers < 1 || c->layers > TR_LM_MAX_LAYERS)
        return tr_err_set(err, TR_ERR_ARG, "--layers must be in [1, %d], got %d", TR_LM_MAX_LAYERS, c->layers);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return tr_err_set(err, TR_ERR_ARG, "--dropout must be in [0, 1), got %g", (double)c->dropout);
    return TR_OK;
}

/* Declares every parameter with its PyTorch name; called twice (plan, alloc). */
static void lm_declare(tr_lm *m, tr_arena *a)
{
    const tr_lm_config *c = &m->cfg;
    int64_t G = 4 * (int64_t)c->hidden;
    char name[64];
    tr_params_init(&m->params, 4 * c->layers + 3);
    m->encoder = tr_params_add(&m->params, a, "encoder.weight", 2, (int64_t[]){c->vocab_size, c->emb}, TR_PARAM_SPARSE);
    for (int l = 0; l < c->layers; l++) {
        int64_t in = l == 0 ? c->emb : c->hidden;
        snprintf(name, sizeof name, "rnn.weight_ih_l%d", l);
        m->w_ih[l] = tr_params_add(&m->params, a, name, 2, (int64_t[]){G, in}, 0);
        snprintf(name, sizeof name, "rnn.weight_hh_l%d", l);
        m->w_hh[l] = tr_params_add(&m->params, a, name, 2, (int64_t[]){G, c->hidden}, 0);
        snprintf(name, sizeof name, "rnn.bias_ih_l%d", l);
        m->b_ih[l] = tr_params_add(&m->params, a, name, 1, &G, 0);
        snprintf(name, sizeof name, "rnn.bias_hh_l%d", l);
        m->b_hh[l] = tr_params_add(&m->params, a, name, 1, &G, 0);
    }
    m->dec_w = tr_params_add(&m->params, a, "decoder.weight", 2, (int64_t[]){c->vocab_size, c->hidden}, 0);
    m->dec_b = tr_params_add(&m->params, a, "decoder.bias", 1, (int64_t[]){c->vocab_size}, 0);
}

tr_status tr_lm_init(tr_lm *m, const tr_lm_config *cfg, tr_err *err)
{
    memset(m, 0, sizeof *m);
    if (tr_lm_config_check(cfg, err))
        return err ? err->code : TR_ERR_ARG;
    m->cfg = *cfg;
    tr_arena plan;
    tr_arena_plan(&plan);
    lm_declare(m, &plan);
    tr_params_free(&m->params);
    if (tr_arena_init(&m->arena, plan.cap, err))
        return TR_ERR_NOMEM;
    lm_declare(m, &m->arena);
    return TR_OK;
}

void tr_lm_free(tr_lm *m)
{
    tr_params_free(&m->params);
    tr_arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}

void tr_lm_init_weights(tr_lm *m, uint64_t seed)
{
    tr_rng r;
    tr_rng_seed(&r, seed, 0x1417);
    float k = 1.0f / sqrtf((float)m->cfg.hidden);
    tr_rng_fill_uniform(&r, &m->encoder->value, 0.1f);
    for (int l = 0; l < m->cfg.layers; l++) {
        tr_rng_fill_uniform(&r, &m->w_ih[l]->value, k);
        tr_rng_fill_uniform(&r, &m->w_hh[l]->value, k);
        tr_rng_fill_uniform(&r, &m->b_ih[l]->value, k);
        tr_rng_fill_uniform(&r, &m->b_hh[l]->value, k);
    }
    tr_rng_fill_uniform(&r, &m->dec_w->value, 0.1f);
    tr_tensor_zero(&m->dec_b->value);
}

/* ---------------------------------------------------------------- worker state */

static void state_declare(tr_lm_state *s, const tr_lm_config *c, tr_arena *a)
{
    size_t TB = (size_t)s->T * s->B, BH = (size_t)s->B * c->hidden;
    size_t D = (size_t)(c->emb > c->hidden ? c->emb : c->hidden);
    s->x = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->y = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->emb = tr_arena_floats(a, TB * c->emb);
    s->emb_mask = tr_arena_floats(a, TB * c->emb);
    for (int l = 0; l < c->layers; l++) {
        s->h[l] = tr_arena_floats(a, TB * c->hidden);
        s->c[l] = tr_arena_floats(a, TB * c->hidden);
        s->gates[l] = tr_arena_floats(a, TB * 4 * c->hidden);
        s->out[l] = tr_arena_floats(a, TB * c->hidden);
        s->mask[l] = tr_arena_floats(a, TB * c->hidden);
        s->h0[l] = tr_arena_floats(a, BH);
        s->c0[l] = tr_arena_floats(a, BH);
    }
    s->probs = tr_arena_floats(a, TB * c->vocab_size);
    s->nll = tr_arena_floats(a, TB);
    s->da = tr_arena_floats(a, TB * D);
    s->db = tr_arena_floats(a, TB * D);
    s->dgates = tr_arena_floats(a, TB * 4 * c->hidden);
    s->dstate = tr_arena_floats(a, 2 * BH);
}

tr_status tr_lm_state_init(tr_lm_state *s, const tr_lm *m, int T, int B,
                           uint64_t seed, uint64_t stream, tr_err *err)
{
    memset(s, 0, sizeof *s);
    if (T < 1 || B < 1)
        return tr_err_set(err, TR_ERR_ARG, "--bptt and --batch must be at least 1, got %d and %d", T, B);
    s->T = T;
    s->B = B;
    tr_arena plan;
    tr_arena_plan(&plan);
    state_declare(s, &m->cfg, &plan);
    if (tr_arena_init(&s->arena, plan.cap, err))
        return TR_ERR_NOMEM;
    state_declare(s, &m->cfg, &s->arena);
    tr_rng_seed(&s->rng, seed, stream);
    return TR_OK;
}

void tr_lm_state_free(tr_lm_state *s)
{
    tr_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

void tr_lm_state_reset(tr_lm_state *s, const tr_lm *m)
{
    size_t BH = (size_t)s->B * m->cfg.hidden;
    for (int l = 0; l < m->cfg.layers; l++) {
        memset(s->h0[l], 0, BH * sizeof(float));
        memset(s->c0[l], 0, BH * sizeof(float));
    }
}

/* ---------------------------------------------------------------- forward / backward */

double tr_lm_forward(tr_lm_state *s, const tr_lm *m, const int32_t *x,
                     const int32_t *y, int steps, int train)
{
    const tr_lm_config *c = &m->cfg;
    const int B = s->B, H = c->hidden, V = c->vocab_size, N = steps * B;
    TR_ASSERT(steps >= 1 && steps <= s->T);
    s->steps = steps;
    s->dropped = train && c->dropout > 0.0f;
    memcpy(s->x, x, (size_t)N * sizeof(int32_t));
    memcpy(s->y, y, (size_t)N * sizeof(int32_t));

    /* emb (T, B, E) = encoder[x], then dropout */
    tr_embedding_forward(s->emb, s->x, m->encoder->value.data, N, V, c->emb);
    if (s->dropped)
        tr_dropout_forward(s->emb, s->emb_mask, s->emb, c->dropout, &s->rng, (int64_t)N * c->emb);

    const float *in = s->emb; /* (T, B, I) input of layer l */
    int I = c->emb;
    for (int l = 0; l < c->layers; l++) {
        tr_lstm_forward(s->h[l], s->c[l], s->gates[l], in, s->h0[l], s->c0[l],
                        m->w_ih[l]->value.data, m->w_hh[l]->value.data,
                        m->b_ih[l]->value.data, m->b_hh[l]->value.data, steps, B, I, H);
        if (s->dropped) {
            tr_dropout_forward(s->out[l], s->mask[l], s->h[l], c->dropout, &s->rng, (int64_t)N * H);
            in = s->out[l];
        } else {
            in = s->h[l];
        }
        I = H;
    }
    /* probs (T*B, V) = softmax(in W_dec^T + b_dec) */
    tr_linear_forward(s->probs, in, m->dec_w->value.data, m->dec_b->value.data, N, H, V);
    return tr_xent_forward(s->probs, s->nll, s->probs, s->y, N, V);
}

void tr_lm_backward(tr_lm_state *s, tr_lm *m, float scale)
{
    const tr_lm_config *c = &m->cfg;
    const int B = s->B, H = c->hidden, V = c->vocab_size, T = s->steps, N = T * B;
    const int L = c->layers;
    const float *top = s->dropped ? s->out[L - 1] : s->h[L - 1];

    /* dlogits (T*B, V), in place of probs; d = grad wrt the decoder input */
    tr_xent_backward(s->probs, s->probs, s->y, NULL, scale, N, V);
    float *d = s->da, *dnext = s->db;
    tr_linear_backward(d, m->dec_w->grad.data, m->dec_b->grad.data, s->probs, top,
                       m->dec_w->value.data, N, H, V);

    for (int l = L - 1; l >= 0; l--) {
        if (s->dropped)
            tr_dropout_backward(d, d, s->mask[l], (int64_t)N * H);
        const float *in = l == 0 ? s->emb : (s->dropped ? s->out[l - 1] : s->h[l - 1]);
        int I = l == 0 ? c->emb : H;
        /* d (T, B, H) = grad wrt h[l]  ->  dnext (T, B, I) = grad wrt in */
        tr_lstm_backward(dnext, NULL, NULL, m->w_ih[l]->grad.data, m->w_hh[l]->grad.data,
                         m->b_ih[l]->grad.data, m->b_hh[l]->grad.data, s->dgates, s->dstate,
                         d, NULL, NULL, s->h[l], s->c[l], s->gates[l], in, s->h0[l], s->c0[l],
                         m->w_ih[l]->value.data, m->w_hh[l]->value.data, T, B, I, H);
        float *t = d;
        d = dnext;
        dnext = t;
    }
    if (s->dropped)
        tr_dropout_backward(d, d, s->emb_mask, (int64_t)N * c->emb);
    tr_embedding_backward(m->encoder, d, s->x, N, c->emb);
}

void tr_lm_carry(tr_lm_state *s, const tr_lm *m)
{
    size_t BH = (size_t)s->B * m->cfg.hidden, last = (size_t)(s->steps - 1) * BH;
    for (int l = 0; l < m->cfg.layers; l++) {
        memcpy(s->h0[l], s->h[l] + last, BH * sizeof(float));
        memcpy(s->c0[l], s->c[l] + last, BH * sizeof(float));
    }
}
