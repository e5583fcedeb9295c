/* Softmax and cross-entropy over the full vocabulary, fused so that the
 * (N, V) logits are read once for the max, once for exp and the sum, and
 * normalised in place. Losses are accumulated in double. */
#include "triad/nn.h"

#include <math.h>

double tr_xent_forward(float *probs, float *nll, const float *logits,
                       const int32_t *y, int N, int V)
{
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        float m = z[0];
        for (int v = 1; v < V; v++)
            m = z[v] > m ? z[v] : m;
        /* read the target's logit first: probs may alias logits */
        float zy = y[n] >= 0 && y[n] < V ? z[y[n]] : 0.0f;
        double sum = 0.0;
        for (int v = 0; v < V; v++) {
            p[v] = expf(z[v] - m);
            sum += p[v];
        }
        float inv = (float)(1.0 / sum);
        double row = 0.0;
        if (y[n] >= 0) {
            TR_ASSERT(y[n] < V);
            /* -log softmax = log(sum) - (z - m), exact even when p underflows */
            row = log(sum) - ((double)zy - m);
        }
        for (int v = 0; v < V; v++)
            p[v] *= inv;
        if (nll)
            nll[n] = (float)row;
        total += row;
    }
    return total;
}

void tr_xent_backward(float *dlogits, const float *probs, const int32_t *y,
                      const float *w, float scale, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        if (y[n] < 0) {
            for (int v = 0; v < V; v++)
                d[v] = 0.0f;
            continue;
        }
        float s = scale * (w ? w[n] : 1.0f);
        for (int v = 0; v < V; v++)
            d[v] = s * p[v];
        d[y[n]] -= s;
    }
}

int32_t tr_sample_probs(const float *probs, int K, float temperature, tr_rng *rng)
{
    TR_ASSERT(K >= 1 && temperature > 0.0f);
    double total = 0.0;
    for (int k = 0; k < K; k++)
        total += pow((double)probs[k], 1.0 / temperature);
    double u = (double)tr_rng_uniform(rng) * total, acc = 0.0;
    int32_t last = 0;
    for (int k = 0; k < K; k++) {
        if (probs[k] <= 0.0f)
            continue;
        acc += pow((double)probs[k], 1.0 / temperature);
        last = k;
        if (u < acc)
            return k;
    }
    return last;
}
