/*
 * triad/nn.h - layers as explicit forward/backward function pairs.
 *
 * Conventions (llm.c style): arguments are outputs, caches, inputs, weights,
 * then dimensions. Forward saves exactly what backward needs in the caller's
 * buffers; backward ADDS into weight gradients (zeroing is the caller's job,
 * tr_params_zero_grad) and overwrites input gradients. Buffers are row-major
 * and their shapes are given in comments. Sequences are time-major: (T, B, .).
 * No function here allocates memory.
 */
#ifndef TRIAD_NN_H
#define TRIAD_NN_H

#include "triad/core.h"

#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- activations */

/* tanh and the logistic sigmoid in float, as the layers use them. tanh
 * goes through expf (a few times cheaper than libm's tanhf, which calls
 * expm1f) with a Taylor polynomial near 0, where 1 - e^-2|x| would lose
 * digits: relative error below 1e-6 everywhere. */
static inline float tr_tanhf(float x)
{
    const float a = fabsf(x);
    if (a < 0.0625f) {
        const float x2 = x * x;
        return x * (1.0f + x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f))));
    }
    const float e = expf(-2.0f * a);
    return copysignf((1.0f - e) / (1.0f + e), x);
}

static inline float tr_sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* ---------------------------------------------------------------- embedding */

/* out (N, E) = W[ids[n]];  W (V, E).  Asserts 0 <= ids[n] < V. */
void tr_embedding_forward(float *out, const int32_t *ids, const float *W,
                          int N, int V, int E);
/* W->grad[ids[n]] += dout[n] and marks those rows touched (row-sparse). */
void tr_embedding_backward(tr_param *W, const float *dout, const int32_t *ids,
                           int N, int E);

/* ---------------------------------------------------------------- linear */

/* y (N, O) = x (N, I) W^T + b;  W (O, I) as torch.nn.Linear, b (O) or NULL. */
void tr_linear_forward(float *y, const float *x, const float *W, const float *b,
                       int N, int I, int O);
/* dx (N, I) = dy W (skipped if dx is NULL);  dW (O, I) += dy^T x;
 * db (O) += sum_n dy[n] (skipped if NULL). */
void tr_linear_backward(float *dx, float *dW, float *db, const float *dy,
                        const float *x, const float *W, int N, int I, int O);

/* ---------------------------------------------------------------- LSTM */

/* One LSTM layer over T steps with PyTorch nn.LSTM's layout and gate order
 * (i, f, g, o):
 *   gates_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          (B, 4H)
 *   i, f, o = sigmoid(.), g = tanh(.)
 *   c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
 * The input projection of all T steps is one GEMM (T*B, I) x (I, 4H); each
 * step adds (B, H) x (H, 4H) and applies the nonlinearities in one pass.
 *   h     (T, B, H)   outputs h_1..h_T
 *   c     (T, B, H)   cache: cell states c_1..c_T
 *   gates (T, B, 4H)  cache: i, f, g, o after their nonlinearities
 *   x     (T, B, I);  h0, c0 (B, H) initial state
 *   w_ih (4H, I), w_hh (4H, H), b_ih (4H), b_hh (4H) */
void tr_lstm_forward(float *h, float *c, float *gates, const float *x,
                     const float *h0, const float *c0, const float *w_ih,
                     const float *w_hh, const float *b_ih, const float *b_hh,
                     int T, int B, int I, int H);

/* Backward through the same T steps. dh (T, B, H) is the loss gradient for
 * every output h_t; dhT, dcT (B, H) the gradient for the final state (NULL =
 * zero, as in truncated BPTT). Writes dx (T, B, I) (NULL = skip), dh0 and dc0
 * (B, H) (NULL = skip); adds into dw_ih, dw_hh, db_ih, db_hh. dgates
 * (T, B, 4H) and dstate (2, B, H) are scratch. */
void tr_lstm_backward(float *dx, float *dh0, float *dc0, float *dw_ih,
                      float *dw_hh, float *db_ih, float *db_hh, float *dgates,
                      float *dstate, const float *dh, const float *dhT,
                      const float *dcT, const float *h, const float *c,
                      const float *gates, const float *x, const float *h0,
                      const float *c0, const float *w_ih, const float *w_hh,
                      int T, int B, int I, int H);

/* ---------------------------------------------------------------- LSTM stack */

#define TR_LSTM_MAX_LAYERS 8

/* L LSTM layers with dropout on the input, between layers and on the output,
 * as PyTorch's word_language_model (Dropout, nn.LSTM(dropout=p), Dropout).
 * The weights live in a parameter set; the activations of one worker and the
 * state it carries between windows live in a tr_lstm_stack_state. */
typedef struct {
    int layers, in, hidden;
    float dropout;
    tr_param *w_ih[TR_LSTM_MAX_LAYERS]; /* (4H, in or H) */
    tr_param *w_hh[TR_LSTM_MAX_LAYERS]; /* (4H, H) */
    tr_param *b_ih[TR_LSTM_MAX_LAYERS]; /* (4H) */
    tr_param *b_hh[TR_LSTM_MAX_LAYERS]; /* (4H) */
} tr_lstm_stack;

/* Declares "<prefix>.weight_ih_l{k}", "<prefix>.weight_hh_l{k}",
 * "<prefix>.bias_ih_l{k}", "<prefix>.bias_hh_l{k}" in ps (nn.LSTM's names). */
void tr_lstm_stack_declare(tr_lstm_stack *st, tr_params *ps, tr_arena *a,
                           const char *prefix, int layers, int in,
                           int hidden, float dropout);
/* nn.LSTM's initialisation: every weight and bias U(-1/sqrt(H), 1/sqrt(H)). */
void tr_lstm_stack_init_weights(tr_lstm_stack *st, tr_rng *r);

typedef struct {
    int T, B;        /* capacity: steps and lanes */
    int steps;       /* length of the last forward window */
    int dropped;     /* dropout was applied in the last forward */
    const float *in; /* (T, B, I) input of the last forward (after dropout) */
    float *in_mask;                      /* (T, B, I) */
    float *h[TR_LSTM_MAX_LAYERS];        /* (T, B, H) outputs of layer l */
    float *c[TR_LSTM_MAX_LAYERS];        /* (T, B, H) cell states */
    float *gates[TR_LSTM_MAX_LAYERS];    /* (T, B, 4H) */
    float *out[TR_LSTM_MAX_LAYERS];      /* (T, B, H) outputs after dropout */
    float *mask[TR_LSTM_MAX_LAYERS];     /* (T, B, H) */
    float *h0[TR_LSTM_MAX_LAYERS];       /* (B, H) state at the window's start */
    float *c0[TR_LSTM_MAX_LAYERS];       /* (B, H) */
    float *dtop;                         /* (T, B, H) gradient of the output, set by the caller */
    float *da, *db;                      /* (T, B, max(I, H)) backward scratch */
    float *dgates;                       /* (T, B, 4H) */
    float *dstate;                       /* (2, B, H) */
} tr_lstm_stack_state;

/* Takes the state's buffers from arena a (plan-then-allocate, as params). */
void tr_lstm_stack_state_declare(tr_lstm_stack_state *s, const tr_lstm_stack *st,
                                 tr_arena *a, int T, int B);
/* Zeroes the carried state (h0, c0). */
void tr_lstm_stack_reset(tr_lstm_stack_state *s, const tr_lstm_stack *st);
/* The final state of the last window becomes the next window's start. */
void tr_lstm_stack_carry(tr_lstm_stack_state *s, const tr_lstm_stack *st);
/* Runs the stack over in (steps, B, I); with train and dropout > 0 dropout is
 * applied (to in in place, and between layers) with masks drawn from rng.
 * Returns the top output (steps, B, H), after dropout. */
const float *tr_lstm_stack_forward(tr_lstm_stack_state *s,
                                   const tr_lstm_stack *st, float *in,
                                   int steps, int train, tr_rng *rng);
/* Back-propagates s->dtop (the gradient of the returned output; used as
 * scratch) through the last forward: adds into the weight gradients and
 * returns the gradient of the input in (steps, B, I), before its dropout was
 * applied (a buffer of s). */
const float *tr_lstm_stack_backward(tr_lstm_stack_state *s, tr_lstm_stack *st);

/* ---------------------------------------------------------------- softmax + cross-entropy */

/* Row-wise softmax of logits (N, V) into probs (may alias logits), numerically
 * stable. Returns sum over rows with y[n] >= 0 of -log probs[n][y[n]]
 * (double); rows with y[n] < 0 have no target and add nothing. nll (N)
 * receives each row's loss (0 for rows without target) unless NULL. */
double tr_xent_forward(float *probs, float *nll, const float *logits,
                       const int32_t *y, int N, int V);
/* dlogits (N, V) = scale * w[n] * (probs - onehot(y[n])), or zero for rows
 * with y[n] < 0; w (N) per-row weights, NULL = all 1. dlogits may alias
 * probs. */
void tr_xent_backward(float *dlogits, const float *probs, const int32_t *y,
                      const float *w, float scale, int N, int V);
/* Draws k with probability proportional to probs[k]^(1/temperature)
 * (temperature > 0); entries <= 0 are never drawn unless all are. */
int32_t tr_sample_probs(const float *probs, int K, float temperature, tr_rng *rng);

/* ---------------------------------------------------------------- dropout */

/* Inverted dropout: mask[k] = 0 with probability p, else 1/(1-p);
 * out = x * mask (out may alias x). 0 <= p < 1. */
void tr_dropout_forward(float *out, float *mask, const float *x, float p,
                        tr_rng *rng, int64_t n);
/* dx = dout * mask (dx may alias dout). */
void tr_dropout_backward(float *dx, const float *dout, const float *mask,
                         int64_t n);

#ifdef __cplusplus
}
#endif
#endif
