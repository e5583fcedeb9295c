/* Embedding lookup with a row-sparse gradient: backward touches only the rows
 * of the ids seen, and records them so that zeroing and sparse optimiser
 * updates cost O(touched rows), not O(vocabulary). */
#include "triad/nn.h"

#include <string.h>

void tr_embedding_forward(float *out, const int32_t *ids, const float *W,
                          int N, int V, int E)
{
    for (int n = 0; n < N; n++) {
        TR_ASSERT(ids[n] >= 0 && ids[n] < V);
        memcpy(out + (size_t)n * E, W + (size_t)ids[n] * E, (size_t)E * sizeof(float));
    }
}

void tr_embedding_backward(tr_param *W, const float *dout, const int32_t *ids,
                           int N, int E)
{
    TR_ASSERT(W->sparse && W->grad.shape[1] == E);
    for (int n = 0; n < N; n++) {
        float *g = W->grad.data + (size_t)ids[n] * E;
        const float *d = dout + (size_t)n * E;
        tr_param_touch(W, ids[n]);
        for (int e = 0; e < E; e++)
            g[e] += d[e];
    }
}
