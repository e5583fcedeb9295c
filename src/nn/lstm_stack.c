/* A stack of LSTM layers with dropout around and between them, the state
 * carried between windows of truncated BPTT, and the backward pass through
 * all of it. Used by the word language model and by LightRNN. */
#include "triad/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void tr_lstm_stack_declare(tr_lstm_stack *st, tr_params *ps, tr_arena *a,
                           const char *prefix, int layers, int in,
                           int hidden, float dropout)
{
    TR_ASSERT(layers >= 1 && layers <= TR_LSTM_MAX_LAYERS && in >= 1 && hidden >= 1);
    memset(st, 0, sizeof *st);
    st->layers = layers;
    st->in = in;
    st->hidden = hidden;
    st->dropout = dropout;
    int64_t G = 4 * (int64_t)hidden;
    char name[64];
    for (int l = 0; l < layers; l++) {
        int64_t I = l == 0 ? in : hidden;
        snprintf(name, sizeof name, "%s.weight_ih_l%d", prefix, l);
        st->w_ih[l] = tr_params_add(ps, a, name, 2, (int64_t[]){G, I}, 0);
        snprintf(name, sizeof name, "%s.weight_hh_l%d", prefix, l);
        st->w_hh[l] = tr_params_add(ps, a, name, 2, (int64_t[]){G, hidden}, 0);
        snprintf(name, sizeof name, "%s.bias_ih_l%d", prefix, l);
        st->b_ih[l] = tr_params_add(ps, a, name, 1, &G, 0);
        snprintf(name, sizeof name, "%s.bias_hh_l%d", prefix, l);
        st->b_hh[l] = tr_params_add(ps, a, name, 1, &G, 0);
    }
}

void tr_lstm_stack_init_weights(tr_lstm_stack *st, tr_rng *r)
{
    float k = 1.0f / sqrtf((float)st->hidden);
    for (int l = 0; l < st->layers; l++) {
        tr_rng_fill_uniform(r, &st->w_ih[l]->value, k);
        tr_rng_fill_uniform(r, &st->w_hh[l]->value, k);
        tr_rng_fill_uniform(r, &st->b_ih[l]->value, k);
        tr_rng_fill_uniform(r, &st->b_hh[l]->value, k);
    }
}

void tr_lstm_stack_state_declare(tr_lstm_stack_state *s, const tr_lstm_stack *st,
                                 tr_arena *a, int T, int B)
{
    memset(s, 0, sizeof *s);
    s->T = T;
    s->B = B;
    size_t TB = (size_t)T * B, BH = (size_t)B * st->hidden, H = (size_t)st->hidden;
    size_t D = (size_t)(st->in > st->hidden ? st->in : st->hidden);
    s->in_mask = tr_arena_floats(a, TB * st->in);
    for (int l = 0; l < st->layers; l++) {
        s->h[l] = tr_arena_floats(a, TB * H);
        s->c[l] = tr_arena_floats(a, TB * H);
        s->gates[l] = tr_arena_floats(a, TB * 4 * H);
        s->out[l] = tr_arena_floats(a, TB * H);
        s->mask[l] = tr_arena_floats(a, TB * H);
        s->h0[l] = tr_arena_floats(a, BH);
        s->c0[l] = tr_arena_floats(a, BH);
    }
    s->dtop = tr_arena_floats(a, TB * H);
    s->da = tr_arena_floats(a, TB * D);
    s->db = tr_arena_floats(a, TB * D);
    s->dgates = tr_arena_floats(a, TB * 4 * H);
    s->dstate = tr_arena_floats(a, 2 * BH);
}

void tr_lstm_stack_reset(tr_lstm_stack_state *s, const tr_lstm_stack *st)
{
    size_t BH = (size_t)s->B * st->hidden;
    for (int l = 0; l < st->layers; l++) {
        memset(s->h0[l], 0, BH * sizeof(float));
        memset(s->c0[l], 0, BH * sizeof(float));
    }
}

void tr_lstm_stack_carry(tr_lstm_stack_state *s, const tr_lstm_stack *st)
{
    size_t BH = (size_t)s->B * st->hidden, last = (size_t)(s->steps - 1) * BH;
    for (int l = 0; l < st->layers; l++) {
        memcpy(s->h0[l], s->h[l] + last, BH * sizeof(float));
        memcpy(s->c0[l], s->c[l] + last, BH * sizeof(float));
    }
}

const float *tr_lstm_stack_forward(tr_lstm_stack_state *s,
                                   const tr_lstm_stack *st, float *in,
                                   int steps, int train, tr_rng *rng)
{
    const int B = s->B, H = st->hidden, N = steps * B;
    TR_ASSERT(steps >= 1 && steps <= s->T);
    s->steps = steps;
    s->dropped = train && st->dropout > 0.0f;
    s->in = in;
    if (s->dropped)
        tr_dropout_forward(in, s->in_mask, in, st->dropout, rng, (int64_t)N * st->in);
    const float *x = in; /* (steps, B, I) input of layer l */
    int I = st->in;
    for (int l = 0; l < st->layers; l++) {
        tr_lstm_forward(s->h[l], s->c[l], s->gates[l], x, s->h0[l], s->c0[l],
                        st->w_ih[l]->value.data, st->w_hh[l]->value.data,
                        st->b_ih[l]->value.data, st->b_hh[l]->value.data, steps, B, I, H);
        if (s->dropped) {
            tr_dropout_forward(s->out[l], s->mask[l], s->h[l], st->dropout, rng, (int64_t)N * H);
            x = s->out[l];
        } else {
            x = s->h[l];
        }
        I = H;
    }
    return x;
}

const float *tr_lstm_stack_backward(tr_lstm_stack_state *s, tr_lstm_stack *st)
{
    const int B = s->B, H = st->hidden, T = s->steps, N = T * B;
    float *d = s->dtop, *dnext = s->da;
    for (int l = st->layers - 1; l >= 0; l--) {
        if (s->dropped)
            tr_dropout_backward(d, d, s->mask[l], (int64_t)N * H);
        const float *x = l == 0 ? s->in : (s->dropped ? s->out[l - 1] : s->h[l - 1]);
        int I = l == 0 ? st->in : H;
        /* d (T, B, H) = grad of h[l]  ->  dnext (T, B, I) = grad of layer l's input */
        tr_lstm_backward(dnext, NULL, NULL, st->w_ih[l]->grad.data, st->w_hh[l]->grad.data,
                         st->b_ih[l]->grad.data, st->b_hh[l]->grad.data, s->dgates, s->dstate,
                         d, NULL, NULL, s->h[l], s->c[l], s->gates[l], x, s->h0[l], s->c0[l],
                         st->w_ih[l]->value.data, st->w_hh[l]->value.data, T, B, I, H);
        d = dnext;
        dnext = d == s->da ? s->db : s->da;
    }
    if (s->dropped)
        tr_dropout_backward(d, d, s->in_mask, (int64_t)N * st->in);
    return d;
}
