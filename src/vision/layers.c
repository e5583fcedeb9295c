/* Image layers: ReLU, 2-D convolution (im2col + one GEMM per image) and 2x2
 * max pooling, NCHW. Forward saves what backward needs in the caller's
 * buffers; backward adds into weight gradients and overwrites input
 * gradients. Nothing here allocates memory. */
#include "triad/vision.h"

#include <string.h>

void tr_relu_forward(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void tr_relu_backward(float *dx, const float *dy, const float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ---------------------------------------------------------------- conv2d */

/* col (C*K*K, Ho*Wo): row (c*K + ki)*K + kj, column oh*Wo + ow holds
 * x[c][oh + ki - pad][ow + kj - pad], or 0 outside the image. x (C, H, W). */
static void im2col(float *col, const float *x, int C, int H, int W, int K,
                   int pad, int Ho, int Wo)
{
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * Ho * Wo;
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh + ki - pad;
                    float *out = row + (size_t)oh * Wo;
                    if (ih < 0 || ih >= H) {
                        memset(out, 0, (size_t)Wo * sizeof(float));
                        continue;
                    }
                    const float *in = x + ((size_t)c * H + ih) * W;
                    for (int ow = 0; ow < Wo; ow++) {
                        int iw = ow + kj - pad;
                        out[ow] = iw >= 0 && iw < W ? in[iw] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: dx (C, H, W) += every col entry at its pixel. */
static void col2im_add(float *dx, const float *col, int C, int H, int W, int K,
                       int pad, int Ho, int Wo)
{
    for (int c = 0; c < C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * Ho * Wo;
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh + ki - pad;
                    if (ih < 0 || ih >= H)
                        continue;
                    const float *in = row + (size_t)oh * Wo;
                    float *out = dx + ((size_t)c * H + ih) * W;
                    for (int ow = 0; ow < Wo; ow++) {
                        int iw = ow + kj - pad;
                        if (iw >= 0 && iw < W)
                            out[iw] += in[ow];
                    }
                }
            }
}

static void conv2d_check(int N, int C, int H, int W, int O, int K, int pad)
{
    TR_ASSERT(N >= 1 && C >= 1 && H >= 1 && W >= 1 && O >= 1 && K >= 1 && pad >= 0);
    TR_ASSERT(H + 2 * pad - K + 1 >= 1 && W + 2 * pad - K + 1 >= 1);
}

void tr_conv2d_forward(float *y, float *col, const float *x, const float *w,
                       const float *b, int N, int C, int H, int W, int O,
                       int K, int pad)
{
    conv2d_check(N, C, H, W, O, K, pad);
    const int Ho = H + 2 * pad - K + 1, Wo = W + 2 * pad - K + 1;
    const int P = Ho * Wo, CKK = C * K * K;
    for (int n = 0; n < N; n++) {
        float *yn = y + (size_t)n * O * P; /* (O, P) */
        im2col(col, x + (size_t)n * C * H * W, C, H, W, K, pad, Ho, Wo);
        for (int o = 0; o < O; o++) {
            float bo = b ? b[o] : 0.0f;
            for (int p = 0; p < P; p++)
                yn[(size_t)o * P + p] = bo;
        }
        /* yn (O, P) += w (O, CKK) col (CKK, P) */
        tr_sgemm(0, 0, O, P, CKK, 1.0f, w, CKK, col, P, 1.0f, yn, P);
    }
}

void tr_conv2d_backward(float *dx, float *dw, float *db, float *col,
                        const float *dy, const float *x, const float *w,
                        int N, int C, int H, int W, int O, int K, int pad)
{
    conv2d_check(N, C, H, W, O, K, pad);
    const int Ho = H + 2 * pad - K + 1, Wo = W + 2 * pad - K + 1;
    const int P = Ho * Wo, CKK = C * K * K;
    for (int n = 0; n < N; n++) {
        const float *dyn = dy + (size_t)n * O * P; /* (O, P) */
        if (db)
            for (int o = 0; o < O; o++) {
                float s = 0.0f;
                for (int p = 0; p < P; p++)
                    s += dyn[(size_t)o * P + p];
                db[o] += s;
            }
        if (dw) {
            /* dw (O, CKK) += dy (O, P) col^T (P, CKK) */
            im2col(col, x + (size_t)n * C * H * W, C, H, W, K, pad, Ho, Wo);
            tr_sgemm(0, 1, O, CKK, P, 1.0f, dyn, P, col, P, 1.0f, dw, CKK);
        }
        if (dx) {
            /* dcol (CKK, P) = w^T (CKK, O) dy (O, P), then scattered back */
            float *dxn = dx + (size_t)n * C * H * W;
            tr_sgemm(1, 0, CKK, P, O, 1.0f, w, CKK, dyn, P, 0.0f, col, P);
            memset(dxn, 0, (size_t)C * H * W * sizeof(float));
            col2im_add(dxn, col, C, H, W, K, pad, Ho, Wo);
        }
    }
}

/* ---------------------------------------------------------------- maxpool2 */

void tr_maxpool2_forward(float *y, uint8_t *arg, const float *x, int N, int C,
                         int H, int W)
{
    TR_ASSERT(N >= 1 && C >= 1 && H >= 2 && W >= 2 && H % 2 == 0 && W % 2 == 0);
    const int Ho = H / 2, Wo = W / 2;
    for (int64_t m = 0; m < (int64_t)N * C; m++) {
        const float *xm = x + m * H * W;
        float *ym = y + m * Ho * Wo;
        uint8_t *am = arg + m * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                const float *top = xm + (size_t)(2 * oh) * W + 2 * ow;
                const float v[4] = {top[0], top[1], top[W], top[W + 1]};
                int best = 0; /* the first maximum in row-major order, as PyTorch */
                for (int k = 1; k < 4; k++)
                    if (v[k] > v[best])
                        best = k;
                ym[oh * Wo + ow] = v[best];
                am[oh * Wo + ow] = (uint8_t)best;
            }
    }
}

void tr_maxpool2_backward(float *dx, const float *dy, const uint8_t *arg,
                          int N, int C, int H, int W)
{
    TR_ASSERT(N >= 1 && C >= 1 && H >= 2 && W >= 2 && H % 2 == 0 && W % 2 == 0);
    const int Ho = H / 2, Wo = W / 2;
    memset(dx, 0, (size_t)N * C * H * W * sizeof(float));
    for (int64_t m = 0; m < (int64_t)N * C; m++) {
        float *dxm = dx + m * H * W;
        const float *dym = dy + m * Ho * Wo;
        const uint8_t *am = arg + m * Ho * Wo;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                int a = am[oh * Wo + ow];
                TR_ASSERT(a < 4);
                dxm[(size_t)(2 * oh + a / 2) * W + 2 * ow + a % 2] = dym[oh * Wo + ow];
            }
    }
}
