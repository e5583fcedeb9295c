/* Fully connected layer, weight (out, in) as torch.nn.Linear. */
#include "triad/nn.h"

void tr_linear_forward(float *y, const float *x, const float *W, const float *b,
                       int N, int I, int O)
{
    /* y (N, O) = b broadcast, then y += x (N, I) W^T (I, O) */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            y[(size_t)n * O + o] = b ? b[o] : 0.0f;
    tr_sgemm(0, 1, N, O, I, 1.0f, x, I, W, I, 1.0f, y, O);
}

void tr_linear_backward(float *dx, float *dW, float *db, const float *dy,
                        const float *x, const float *W, int N, int I, int O)
{
    if (dx) /* dx (N, I) = dy (N, O) W (O, I) */
        tr_sgemm(0, 0, N, I, O, 1.0f, dy, O, W, I, 0.0f, dx, I);
    /* dW (O, I) += dy^T (O, N) x (N, I) */
    tr_sgemm(1, 0, O, I, N, 1.0f, dy, O, x, I, 1.0f, dW, I);
    if (db)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++)
                db[o] += dy[(size_t)n * O + o];
}
