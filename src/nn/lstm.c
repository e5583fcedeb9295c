/* One LSTM layer, forward and backward over a window of T steps, in PyTorch
 * nn.LSTM's weight layout and gate order (i, f, g, o). Multi-layer stacks,
 * dropout between layers and the state carried across windows (truncated
 * BPTT) are composed by the models that use it.
 *
 * Where the time goes: the input projections of all steps and the weight
 * gradients of all steps are single large GEMMs outside the recurrence; only
 * (B, H) x (H, 4H) products remain inside it, each followed by one fused pass
 * over the (B, 4H) gate buffer. */
#include "triad/nn.h"

#include <math.h>
#include <string.h>

void tr_lstm_forward(float *h, float *c, float *gates, const float *x,
                     const float *h0, const float *c0, const float *w_ih,
                     const float *w_hh, const float *b_ih, const float *b_hh,
                     int T, int B, int I, int H)
{
    const int G = 4 * H;
    /* gates (T*B, 4H) = b_ih + b_hh, then += x (T*B, I) W_ih^T */
    for (int n = 0; n < T * B; n++) {
        float *g = gates + (size_t)n * G;
        for (int k = 0; k < G; k++)
            g[k] = b_ih[k] + b_hh[k];
    }
    tr_sgemm(0, 1, T * B, G, I, 1.0f, x, I, w_ih, I, 1.0f, gates, G);

    for (int t = 0; t < T; t++) {
        const float *hp = t ? h + (size_t)(t - 1) * B * H : h0; /* (B, H) */
        const float *cp = t ? c + (size_t)(t - 1) * B * H : c0; /* (B, H) */
        float *gt = gates + (size_t)t * B * G;                  /* (B, 4H) */
        float *ht = h + (size_t)t * B * H;
        float *ct = c + (size_t)t * B * H;
        tr_sgemm(0, 1, B, G, H, 1.0f, hp, H, w_hh, H, 1.0f, gt, G);
        for (int b = 0; b < B; b++) {
            float *gi = gt + (size_t)b * G, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
            const float *cpb = cp + (size_t)b * H;
            float *ctb = ct + (size_t)b * H, *htb = ht + (size_t)b * H;
            for (int k = 0; k < H; k++) {
                float i = tr_sigmoidf(gi[k]), f = tr_sigmoidf(gf[k]);
                float g = tr_tanhf(gg[k]), o = tr_sigmoidf(go[k]);
                float cn = f * cpb[k] + i * g;
                gi[k] = i;
                gf[k] = f;
                gg[k] = g;
                go[k] = o;
                ctb[k] = cn;
                htb[k] = o * tr_tanhf(cn);
            }
        }
    }
}

void tr_lstm_backward(float *dx, float *dh0, float *dc0, float *dw_ih,
                      float *dw_hh, float *db_ih, float *db_hh, float *dgates,
                      float *dstate, const float *dh, const float *dhT,
                      const float *dcT, const float *h, const float *c,
                      const float *gates, const float *x, const float *h0,
                      const float *c0, const float *w_ih, const float *w_hh,
                      int T, int B, int I, int H)
{
    const int G = 4 * H;
    const size_t BH = (size_t)B * H;
    float *dh_next = dstate;      /* (B, H) gradient reaching h_t from step t+1 */
    float *dc_next = dstate + BH; /* (B, H) gradient reaching c_t from step t+1 */
    if (dhT)
        memcpy(dh_next, dhT, BH * sizeof(float));
    else
        memset(dh_next, 0, BH * sizeof(float));
    if (dcT)
        memcpy(dc_next, dcT, BH * sizeof(float));
    else
        memset(dc_next, 0, BH * sizeof(float));

    for (int t = T - 1; t >= 0; t--) {
        const float *gt = gates + (size_t)t * B * G;
        const float *ct = c + (size_t)t * BH;
        const float *cp = t ? c + (size_t)(t - 1) * BH : c0;
        const float *dht = dh + (size_t)t * BH;
        float *dg = dgates + (size_t)t * B * G;
        for (int b = 0; b < B; b++) {
            const float *gi = gt + (size_t)b * G, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
            float *di = dg + (size_t)b * G, *df = di + H, *dgg = di + 2 * H, *dout = di + 3 * H;
            const float *ctb = ct + (size_t)b * H, *cpb = cp + (size_t)b * H;
            const float *dhb = dht + (size_t)b * H;
            float *dhn = dh_next + (size_t)b * H, *dcn = dc_next + (size_t)b * H;
            for (int k = 0; k < H; k++) {
                float i = gi[k], f = gf[k], g = gg[k], o = go[k];
                float tc = tr_tanhf(ctb[k]);
                float dhk = dhb[k] + dhn[k];
                float dck = dcn[k] + dhk * o * (1.0f - tc * tc);
                /* derivatives through the nonlinearities, at the pre-activations */
                di[k] = dck * g * i * (1.0f - i);
                df[k] = dck * cpb[k] * f * (1.0f - f);
                dgg[k] = dck * i * (1.0f - g * g);
                dout[k] = dhk * tc * o * (1.0f - o);
                dcn[k] = dck * f;
            }
        }
        /* dh_{t-1} (B, H) = dgates_t (B, 4H) W_hh (4H, H) */
        tr_sgemm(0, 0, B, H, G, 1.0f, dg, G, w_hh, H, 0.0f, dh_next, H);
    }
    if (dh0)
        memcpy(dh0, dh_next, BH * sizeof(float));
    if (dc0)
        memcpy(dc0, dc_next, BH * sizeof(float));

    /* Weight gradients of all steps at once:
     * dW_ih (4H, I) += dgates^T (4H, T*B) x (T*B, I)
     * dW_hh (4H, H) += dgates_0^T h0 + dgates_{1..T-1}^T h_{0..T-2} */
    tr_sgemm(1, 0, G, I, T * B, 1.0f, dgates, G, x, I, 1.0f, dw_ih, I);
    tr_sgemm(1, 0, G, H, B, 1.0f, dgates, G, h0, H, 1.0f, dw_hh, H);
    if (T > 1)
        tr_sgemm(1, 0, G, H, (T - 1) * B, 1.0f, dgates + (size_t)B * G, G, h, H, 1.0f, dw_hh, H);
    for (int n = 0; n < T * B; n++) {
        const float *dg = dgates + (size_t)n * G;
        for (int k = 0; k < G; k++) {
            db_ih[k] += dg[k];
            db_hh[k] += dg[k];
        }
    }
    if (dx) /* dx (T*B, I) = dgates (T*B, 4H) W_ih (4H, I) */
        tr_sgemm(0, 0, T * B, I, G, 1.0f, dgates, G, w_ih, I, 0.0f, dx, I);
}
