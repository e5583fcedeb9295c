/* Inverted dropout: scale kept units by 1/(1-p) at training time so that
 * evaluation needs no rescaling. */
#include "triad/nn.h"

void tr_dropout_forward(float *out, float *mask, const float *x, float p,
                        tr_rng *rng, int64_t n)
{
    TR_ASSERT(p >= 0.0f && p < 1.0f);
    float keep = 1.0f / (1.0f - p);
    for (int64_t k = 0; k < n; k++) {
        mask[k] = tr_rng_uniform(rng) < p ? 0.0f : keep;
        out[k] = x[k] * mask[k];
    }
}

void tr_dropout_backward(float *dx, const float *dout, const float *mask,
                         int64_t n)
{
    for (int64_t k = 0; k < n; k++)
        dx[k] = dout[k] * mask[k];
}
