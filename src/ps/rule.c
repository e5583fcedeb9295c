/* Server update rules: one elementwise kernel per rule, applied by the
 * server to a block of rows (see triad/ps.h for the formulas and their
 * sources). Float32 throughout, in the order of operations that
 * torch.optim uses for SGD, momentum and AdaGrad. */
#include "triad/ps.h"

#include <float.h>
#include <math.h>

void tr_ps_rule_apply(const tr_ps_rule *r, float lr, float *w, const float *g,
                      float *state, const float *bak, int64_t n)
{
    TR_ASSERT(w && g && n >= 0);
    TR_ASSERT(!tr_ps_rule_nstate(r->kind) || state);
    const float neg_lr = -lr;
    switch (r->kind) {
    case TR_PS_SGD:
        for (int64_t i = 0; i < n; i++)
            w[i] = w[i] + neg_lr * g[i];
        return;
    case TR_PS_MOMENTUM: {
        /* buf.mul_(mu).add_(g); w.add_(buf, alpha=-lr); a zero buffer makes
         * the first step buf = g as torch's clone does */
        const float mu = r->momentum;
        for (int64_t i = 0; i < n; i++) {
            float b = state[i] * mu + g[i];
            state[i] = b;
            w[i] = w[i] + neg_lr * b;
        }
        return;
    }
    case TR_PS_ADAGRAD: {
        /* sum.addcmul_(g, g); w.addcdiv_(g, sum.sqrt().add_(eps), value=-lr) */
        const float eps = r->eps;
        for (int64_t i = 0; i < n; i++) {
            float s = state[i] + g[i] * g[i];
            state[i] = s;
            w[i] = w[i] + neg_lr * g[i] / (sqrtf(s) + eps);
        }
        return;
    }
    case TR_PS_DCASGD_C: {
        /* Zheng et al. 2017, eq. 6 with the constant lambda of DC-ASGD-c */
        const float lambda = r->lambda;
        for (int64_t i = 0; i < n; i++) {
            float drift = bak ? w[i] - bak[i] : 0.0f;
            w[i] = w[i] + neg_lr * (g[i] + lambda * g[i] * g[i] * drift);
        }
        return;
    }
    case TR_PS_DCASGD_A: {
        /* DC-ASGD-a: lambda_t = lambda0 / sqrt(MeanSquare + eps), with
         * MeanSquare <- mom MeanSquare + (1 - mom) g^2 updated first */
        const float lambda0 = r->lambda, mom = r->ms_decay, one_mom = 1.0f - r->ms_decay, eps = r->eps;
        for (int64_t i = 0; i < n; i++) {
            float ms = state[i] * mom + one_mom * g[i] * g[i];
            /* where g stays 0 (dead units, blank pixels) ms decays into
             * subnormals, which are slow on x86 (a run slowed 2x); below
             * FLT_MIN it changes ms + eps by at most FLT_MIN, nothing for any
             * usable eps, so it is flushed to 0 */
            if (ms < FLT_MIN)
                ms = 0.0f;
            state[i] = ms;
            float drift = bak ? w[i] - bak[i] : 0.0f;
            float lambda = lambda0 / sqrtf(ms + eps);
            w[i] = w[i] + neg_lr * (g[i] + lambda * g[i] * g[i] * drift);
        }
        return;
    }
    }
    TR_ASSERT(!"unknown update rule");
}
