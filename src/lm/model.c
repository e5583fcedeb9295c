/* The word LSTM language model: parameters, per-worker activations, and the
 * forward/backward pass over one window of truncated BPTT.
 *
 *   x (T, B) -> encoder -> dropout -> [LSTM layer -> dropout] x L
 *            -> decoder (V) -> softmax cross-entropy with y (T, B)
 */
#include "triad/lm.h"
#include "triad/nn.h"

#include <stdio.h>
#include <stdlib.h>
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
    tr_params_init(&m->params, 4 * c->layers + 3);
    m->encoder = tr_params_add(&m->params, a, "encoder.weight", 2, (int64_t[]){c->vocab_size, c->emb}, TR_PARAM_SPARSE);
    tr_lstm_stack_declare(&m->rnn, &m->params, a, "rnn", c->layers, c->emb, c->hidden, c->dropout);
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
    tr_rng_fill_uniform(&r, &m->encoder->value, 0.1f);
    tr_lstm_stack_init_weights(&m->rnn, &r);
    tr_rng_fill_uniform(&r, &m->dec_w->value, 0.1f);
    tr_tensor_zero(&m->dec_b->value);
}

/* ---------------------------------------------------------------- worker state */

static void state_declare(tr_lm_state *s, const tr_lm *m, tr_arena *a)
{
    const tr_lm_config *c = &m->cfg;
    size_t TB = (size_t)s->seq.T * s->seq.B;
    s->seq.x = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->seq.y = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->emb = tr_arena_floats(a, TB * c->emb);
    tr_lstm_stack_state_declare(&s->seq.rnn, &m->rnn, a, s->seq.T, s->seq.B);
    s->probs = tr_arena_floats(a, TB * c->vocab_size);
    s->nll = tr_arena_floats(a, TB);
}

tr_status tr_lm_state_init(tr_lm_state *s, const tr_lm *m, int T, int B,
                           uint64_t seed, uint64_t stream, tr_err *err)
{
    memset(s, 0, sizeof *s);
    if (T < 1 || B < 1)
        return tr_err_set(err, TR_ERR_ARG, "--bptt and --batch must be at least 1, got %d and %d", T, B);
    s->seq.T = T;
    s->seq.B = B;
    tr_arena plan;
    tr_arena_plan(&plan);
    state_declare(s, m, &plan);
    if (tr_arena_init(&s->arena, plan.cap, err))
        return TR_ERR_NOMEM;
    state_declare(s, m, &s->arena);
    tr_rng_seed(&s->seq.rng, seed, stream);
    return TR_OK;
}

void tr_lm_state_free(tr_lm_state *s)
{
    tr_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

void tr_lm_state_reset(tr_lm_state *s, const tr_lm *m)
{
    tr_lstm_stack_reset(&s->seq.rnn, &m->rnn);
}

/* ---------------------------------------------------------------- forward / backward */

double tr_lm_forward(tr_lm_state *s, const tr_lm *m, const int32_t *x,
                     const int32_t *y, int steps, int train)
{
    const tr_lm_config *c = &m->cfg;
    tr_seq_state *q = &s->seq;
    const int B = q->B, H = c->hidden, V = c->vocab_size, N = steps * B;
    TR_ASSERT(steps >= 1 && steps <= q->T);
    q->steps = steps;
    if (q->x != x)
        memcpy(q->x, x, (size_t)N * sizeof(int32_t));
    if (q->y != y)
        memcpy(q->y, y, (size_t)N * sizeof(int32_t));
    /* emb (T, B, E) = encoder[x]; top (T, B, H) = LSTM stack (with dropout) */
    tr_embedding_forward(s->emb, q->x, m->encoder->value.data, N, V, c->emb);
    const float *top = tr_lstm_stack_forward(&q->rnn, &m->rnn, s->emb, steps, train, &q->rng);
    /* probs (T*B, V) = softmax(top W_dec^T + b_dec) */
    tr_linear_forward(s->probs, top, m->dec_w->value.data, m->dec_b->value.data, N, H, V);
    return tr_xent_forward(s->probs, s->nll, s->probs, q->y, N, V);
}

void tr_lm_backward(tr_lm_state *s, tr_lm *m, float scale)
{
    const tr_lm_config *c = &m->cfg;
    tr_seq_state *q = &s->seq;
    const int H = c->hidden, V = c->vocab_size, N = q->steps * q->B, L = c->layers;
    const float *top = q->rnn.dropped ? q->rnn.out[L - 1] : q->rnn.h[L - 1];
    /* dlogits (T*B, V), in place of probs; dtop = grad of the decoder input */
    tr_xent_backward(s->probs, s->probs, q->y, NULL, scale, N, V);
    tr_linear_backward(q->rnn.dtop, m->dec_w->grad.data, m->dec_b->grad.data, s->probs, top,
                       m->dec_w->value.data, N, H, V);
    const float *demb = tr_lstm_stack_backward(&q->rnn, &m->rnn);
    tr_embedding_backward(m->encoder, demb, q->x, N, c->emb);
}

void tr_lm_carry(tr_lm_state *s, const tr_lm *m)
{
    tr_lstm_stack_carry(&s->seq.rnn, &m->rnn);
}

/* ---------------------------------------------------------------- as a tr_seq_model */

static tr_seq_state *seq_state_new(const void *model, int T, int B, uint64_t seed,
                                   uint64_t stream, tr_err *err)
{
    tr_lm_state *s = tr_xmalloc(sizeof *s);
    if (tr_lm_state_init(s, model, T, B, seed, stream, err)) {
        free(s);
        return NULL;
    }
    return &s->seq;
}

static void seq_state_delete(tr_seq_state *s)
{
    if (s) {
        tr_lm_state_free((tr_lm_state *)s);
        free(s);
    }
}

static double seq_forward(tr_seq_state *s, const void *model, const int32_t *x,
                          const int32_t *y, int steps, int train)
{
    return tr_lm_forward((tr_lm_state *)s, model, x, y, steps, train);
}

static void seq_backward(tr_seq_state *s, void *model, float scale)
{
    tr_lm_backward((tr_lm_state *)s, model, scale);
}

static void seq_sample(tr_seq_state *s, const void *model, const int32_t *prime, int n, int length,
                       float temperature, tr_rng *rng, int32_t *out)
{
    tr_lm_sample(model, (tr_lm_state *)s, prime, n, length, temperature, rng, out);
}

static tr_status seq_save(const void *model, const tr_vocab *v, int64_t step,
                          const char *path, tr_err *err)
{
    return tr_lm_save(model, v, step, path, err);
}

tr_seq_model tr_lm_seq(tr_lm *m)
{
    tr_seq_model sm = {"lm", m, &m->params, &m->rnn, &m->cfg, seq_state_new, seq_state_delete,
                       seq_forward, seq_backward, seq_sample, seq_save, NULL};
    return sm;
}

void tr_seq_reset(tr_seq_state *s, const tr_seq_model *sm)
{
    tr_lstm_stack_reset(&s->rnn, sm->rnn);
}

void tr_seq_carry(tr_seq_state *s, const tr_seq_model *sm)
{
    tr_lstm_stack_carry(&s->rnn, sm->rnn);
}
