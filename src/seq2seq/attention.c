/* Dot-product attention over a masked, time-major memory (Luong et al. 2015,
 * eq. 7-8 with the "dot" score; "general" is the same with keys = M W_a^T,
 * computed once per source by the caller). Positions at or beyond a lane's
 * length get exactly zero weight, so padding never contributes to the
 * context or receives gradient. */
#include "triad/seq2seq.h"

#include <math.h>
#include <string.h>

void tr_attention_forward(float *alpha, float *ctx, const float *q,
                          const float *keys, const float *mem, const int *len,
                          int S, int B, int D, int C)
{
    for (int b = 0; b < B; b++) {
        const int n = len[b];
        TR_ASSERT(n >= 1 && n <= S);
        float *a = alpha + (size_t)b * S;
        const float *qb = q + (size_t)b * D;
        float mx = -INFINITY;
        for (int s = 0; s < n; s++) {
            const float *k = keys + ((size_t)s * B + b) * D;
            float z = 0.0f;
            for (int i = 0; i < D; i++)
                z += qb[i] * k[i];
            a[s] = z;
            mx = z > mx ? z : mx;
        }
        double sum = 0.0;
        for (int s = 0; s < n; s++) {
            a[s] = expf(a[s] - mx);
            sum += a[s];
        }
        float inv = (float)(1.0 / sum);
        for (int s = 0; s < n; s++)
            a[s] *= inv;
        for (int s = n; s < S; s++)
            a[s] = 0.0f;
        float *cb = ctx + (size_t)b * C;
        memset(cb, 0, (size_t)C * sizeof(float));
        for (int s = 0; s < n; s++) {
            const float *v = mem + ((size_t)s * B + b) * C;
            for (int i = 0; i < C; i++)
                cb[i] += a[s] * v[i];
        }
    }
}

void tr_attention_backward(float *dq, float *dkeys, float *dmem, float *dscore,
                           const float *dctx, const float *alpha,
                           const float *q, const float *keys, const float *mem,
                           const int *len, int S, int B, int D, int C)
{
    for (int b = 0; b < B; b++) {
        const int n = len[b];
        TR_ASSERT(n >= 1 && n <= S);
        const float *a = alpha + (size_t)b * S;
        const float *db = dctx + (size_t)b * C;
        const float *qb = q + (size_t)b * D;
        float *ds = dscore + (size_t)b * S;
        /* d alpha_s = dctx . M_s;  dM_s += alpha_s dctx */
        double dot = 0.0;
        for (int s = 0; s < n; s++) {
            const float *v = mem + ((size_t)s * B + b) * C;
            float *dv = dmem + ((size_t)s * B + b) * C;
            float g = 0.0f;
            for (int i = 0; i < C; i++) {
                g += db[i] * v[i];
                dv[i] += a[s] * db[i];
            }
            ds[s] = g;
            dot += (double)a[s] * g;
        }
        /* softmax backward: dscore_s = alpha_s (dalpha_s - sum_r alpha_r dalpha_r) */
        float *dqb = dq + (size_t)b * D;
        memset(dqb, 0, (size_t)D * sizeof(float));
        for (int s = 0; s < n; s++) {
            float g = a[s] * (ds[s] - (float)dot);
            const float *k = keys + ((size_t)s * B + b) * D;
            float *dk = dkeys + ((size_t)s * B + b) * D;
            for (int i = 0; i < D; i++) {
                dqb[i] += g * k[i];
                dk[i] += g * qb[i];
            }
        }
    }
}
