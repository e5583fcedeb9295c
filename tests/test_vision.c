/* Vision: finite-difference gradient checks of relu, conv2d, maxpool2 and the
 * whole loss of both classifiers (randomised weights, several seeds); conv2d
 * against a direct convolution; golden values from PyTorch (conv2d,
 * max_pool2d and both classifiers' losses and gradients; made by
 * scripts/make_vision_golden.py); the IDX reader on plain and gzipped files
 * and every bad-input path. Layer losses are sum(output * R) for a fixed
 * random R, accumulated in double, so that backward is fed dR = R. */
#include "harness.h"
#include "triad/io.h"
#include "triad/vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 2e-2
#define GOLDEN_RTOL 1e-4

/* ------------------------------------------------------------ relu */

typedef struct {
    int64_t n;
    float *x, *y, *R;
} relu_ctx;

static double relu_loss(void *p)
{
    relu_ctx *c = p;
    tr_relu_forward(c->y, c->x, c->n);
    return th_dot(c->y, c->R, c->n);
}

static void test_relu(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        relu_ctx c = {40, th_vec(40, 1, seed), th_vec(40, 0, 0), th_vec(40, 1, seed + 10)};
        int positive = 0;
        for (int i = 0; i < c.n; i++) {
            if (fabsf(c.x[i]) < 0.05f) /* keep the kink out of reach of EPS */
                c.x[i] = c.x[i] < 0 ? -0.05f : 0.05f;
            positive += c.x[i] > 0;
        }
        assert_true(positive > 5 && positive < 35);
        float *dx = th_vec(c.n, 1, 99); /* overwritten */
        relu_loss(&c);
        for (int i = 0; i < c.n; i++)
            assert_true(c.y[i] == (c.x[i] > 0 ? c.x[i] : 0.0f));
        tr_relu_backward(dx, c.R, c.y, c.n);
        th_gradcheck("relu.x", c.x, dx, c.n, relu_loss, &c, EPS, ATOL, RTOL, 1000);
        /* in place: y aliases x, dx aliases dy */
        float *d = th_vec(c.n, 1, seed + 10);
        memcpy(c.y, c.x, (size_t)c.n * sizeof(float));
        tr_relu_forward(c.y, c.y, c.n);
        tr_relu_backward(d, d, c.y, c.n);
        for (int i = 0; i < c.n; i++) {
            assert_true(c.y[i] == (c.x[i] > 0 ? c.x[i] : 0.0f));
            assert_true(d[i] == dx[i]);
        }
        free(c.x); free(c.y); free(c.R); free(dx); free(d);
    }
}

/* ------------------------------------------------------------ conv2d */

typedef struct {
    int N, C, H, W, O, K, pad, Ho, Wo;
    float *x, *w, *b, *y, *col, *R;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    tr_conv2d_forward(c->y, c->col, c->x, c->w, c->b, c->N, c->C, c->H, c->W, c->O, c->K, c->pad);
    return th_dot(c->y, c->R, (int64_t)c->N * c->O * c->Ho * c->Wo);
}

/* y (N, O, Ho, Wo) by the definition: sum over c, ki, kj of w * x (zero outside). */
static void conv_direct(double *y, const conv_ctx *c)
{
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->O; o++)
            for (int i = 0; i < c->Ho; i++)
                for (int j = 0; j < c->Wo; j++) {
                    double s = c->b[o];
                    for (int ch = 0; ch < c->C; ch++)
                        for (int ki = 0; ki < c->K; ki++)
                            for (int kj = 0; kj < c->K; kj++) {
                                int r = i + ki - c->pad, q = j + kj - c->pad;
                                if (r < 0 || r >= c->H || q < 0 || q >= c->W)
                                    continue;
                                s += (double)c->w[((o * c->C + ch) * c->K + ki) * c->K + kj] *
                                     c->x[((n * c->C + ch) * c->H + r) * c->W + q];
                            }
                    y[((n * c->O + o) * c->Ho + i) * c->Wo + j] = s;
                }
}

static void check_conv(int N, int C, int H, int W, int O, int K, int pad, uint64_t seed)
{
    conv_ctx c = {N, C, H, W, O, K, pad, H + 2 * pad - K + 1, W + 2 * pad - K + 1,
                  NULL, NULL, NULL, NULL, NULL, NULL};
    int64_t nx = (int64_t)N * C * H * W, nw = (int64_t)O * C * K * K, ny = (int64_t)N * O * c.Ho * c.Wo;
    c.x = th_vec(nx, 1, seed);
    c.w = th_vec(nw, 1, seed + 10);
    c.b = th_vec(O, 1, seed + 20);
    c.y = th_vec(ny, 0, 0);
    c.col = th_vec((int64_t)C * K * K * c.Ho * c.Wo, 0, 0);
    c.R = th_vec(ny, 1, seed + 30);
    conv_loss(&c);
    double *ref = calloc((size_t)ny, sizeof(double));
    conv_direct(ref, &c);
    for (int64_t i = 0; i < ny; i++)
        assert_true(fabs(c.y[i] - ref[i]) < 1e-4);

    float *dx = th_vec(nx, 1, 77), *dw = th_vec(nw, 0, 0), *db = th_vec(O, 0, 0);
    tr_conv2d_backward(dx, dw, db, c.col, c.R, c.x, c.w, N, C, H, W, O, K, pad);
    th_gradcheck("conv2d.x", c.x, dx, nx, conv_loss, &c, EPS, ATOL, RTOL, 300);
    th_gradcheck("conv2d.w", c.w, dw, nw, conv_loss, &c, EPS, ATOL, RTOL, 300);
    th_gradcheck("conv2d.b", c.b, db, O, conv_loss, &c, EPS, ATOL, RTOL, 300);

    /* dw, db are added to; dx is overwritten; NULL skips */
    float *dx2 = th_vec(nx, 1, 78), *dw2 = th_vec(nw, 0, 0), *db2 = th_vec(O, 0, 0);
    memcpy(dw2, dw, (size_t)nw * sizeof(float));
    memcpy(db2, db, (size_t)O * sizeof(float));
    tr_conv2d_backward(dx2, dw2, db2, c.col, c.R, c.x, c.w, N, C, H, W, O, K, pad);
    for (int64_t i = 0; i < nx; i++)
        assert_true(dx2[i] == dx[i]);
    for (int64_t i = 0; i < nw; i++)
        assert_true(fabsf(dw2[i] - 2 * dw[i]) <= 1e-5f * (1 + fabsf(dw[i])));
    for (int i = 0; i < O; i++)
        assert_true(fabsf(db2[i] - 2 * db[i]) <= 1e-5f * (1 + fabsf(db[i])));
    tr_conv2d_backward(NULL, dw2, NULL, c.col, c.R, c.x, c.w, N, C, H, W, O, K, pad);
    for (int64_t i = 0; i < nw; i++)
        assert_true(fabsf(dw2[i] - 3 * dw[i]) <= 1e-5f * (1 + fabsf(dw[i])));
    for (int i = 0; i < O; i++)
        assert_true(fabsf(db2[i] - 2 * db[i]) <= 1e-5f * (1 + fabsf(db[i])));
    tr_conv2d_backward(dx2, NULL, NULL, c.col, c.R, c.x, c.w, N, C, H, W, O, K, pad);
    for (int64_t i = 0; i < nx; i++)
        assert_true(dx2[i] == dx[i]);

    free(ref); free(c.x); free(c.w); free(c.b); free(c.y); free(c.col); free(c.R);
    free(dx); free(dw); free(db); free(dx2); free(dw2); free(db2);
}

static void test_conv2d(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        check_conv(1, 1, 5, 4, 1, 3, 0, seed);  /* no padding, one of everything */
        check_conv(2, 3, 6, 5, 4, 3, 1, seed);  /* C, O, N > 1, H != W, padding */
        check_conv(2, 2, 4, 7, 3, 5, 2, seed);  /* kernel taller than the image */
        check_conv(3, 2, 5, 5, 2, 1, 0, seed);  /* 1x1 kernel */
        check_conv(1, 2, 6, 6, 3, 2, 1, seed);  /* even kernel: Ho = H + 1 */
    }
}

/* ------------------------------------------------------------ maxpool2 */

typedef struct {
    int N, C, H, W;
    float *x, *y, *R;
    uint8_t *arg;
} pool_ctx;

static double pool_loss(void *p)
{
    pool_ctx *c = p;
    tr_maxpool2_forward(c->y, c->arg, c->x, c->N, c->C, c->H, c->W);
    return th_dot(c->y, c->R, (int64_t)c->N * c->C * c->H * c->W / 4);
}

static void test_maxpool2_grad(void **state)
{
    (void)state;
    const int shapes[3][4] = {{1, 1, 2, 2}, {2, 3, 6, 4}, {3, 2, 4, 8}};
    for (uint64_t seed = 1; seed <= 3; seed++)
        for (int t = 0; t < 3; t++) {
            pool_ctx c = {shapes[t][0], shapes[t][1], shapes[t][2], shapes[t][3], NULL, NULL, NULL, NULL};
            int64_t nx = (int64_t)c.N * c.C * c.H * c.W, ny = nx / 4;
            /* distinct values at least 0.05 apart (a shuffled ladder), so
             * that EPS never changes which value is the maximum */
            c.x = th_vec(nx, 0, 0);
            for (int64_t i = 0; i < nx; i++)
                c.x[i] = (float)((i * 37 + (int64_t)seed * 11) % nx) * 0.05f - 1.0f;
            c.y = th_vec(ny, 0, 0);
            c.R = th_vec(ny, 1, seed + 30);
            c.arg = calloc((size_t)ny, 1);
            pool_loss(&c);
            float *dx = th_vec(nx, 1, 5); /* overwritten */
            tr_maxpool2_backward(dx, c.R, c.arg, c.N, c.C, c.H, c.W);
            th_gradcheck("maxpool2.x", c.x, dx, nx, pool_loss, &c, EPS, ATOL, RTOL, 1000);
            /* exactly one non-zero gradient per window */
            int64_t nonzero = 0;
            for (int64_t i = 0; i < nx; i++)
                nonzero += dx[i] != 0.0f;
            assert_int_equal(nonzero, ny);
            free(c.x); free(c.y); free(c.R); free(c.arg); free(dx);
        }
}

static void test_maxpool2_values(void **state)
{
    (void)state;
    /* one 4x4 image; windows with a unique max at each of the four
     * positions, and a tie that goes to the first in row-major order */
    float x[16] = {1, 2,   5, 0,
                   3, 0,   1, 1,
                   7, 7,   0, 1,
                   7, 2,   2, 3};
    float y[4], dx[16], dy[4] = {10, 20, 30, 40};
    uint8_t arg[4];
    tr_maxpool2_forward(y, arg, x, 1, 1, 4, 4);
    assert_true(y[0] == 3 && y[1] == 5 && y[2] == 7 && y[3] == 3);
    assert_int_equal(arg[0], 2);
    assert_int_equal(arg[1], 0);
    assert_int_equal(arg[2], 0);
    assert_int_equal(arg[3], 3);
    tr_maxpool2_backward(dx, dy, arg, 1, 1, 4, 4);
    const float want[16] = {0, 0, 20, 0, 10, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 40};
    for (int i = 0; i < 16; i++)
        assert_true(dx[i] == want[i]);
}

/* ------------------------------------------------------------ classifiers */

typedef struct {
    tr_cls *m;
    tr_cls_state *s;
    const float *x;
    const uint8_t *y;
    int n;
} cls_ctx;

static double cls_loss(void *p)
{
    cls_ctx *c = p;
    return tr_cls_forward(c->s, c->m, c->x, c->y, c->n, NULL);
}

/* th_gradcheck for losses with kinks (relu, max pooling). The central
 * difference over [x - eps, x + eps] must match the analytic gradient, unless
 * the one-sided differences over [x - eps, x] and [x, x + eps] disagree: then
 * a kink lies inside the interval, and the analytic gradient must match the
 * one-sided difference on the kink-free side. Returns the number of such
 * entries, so that callers can bound it (a wrong gradient matches neither). */
static int kink_gradcheck(const char *what, float *x, const float *grad, int64_t n,
                          th_loss_fn loss, void *ctx, float eps, int max_checks)
{
    int kinks = 0;
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int64_t k = 0; k < n && k < max_checks; k++) {
        int64_t i = k;
        if (n > max_checks) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            i = (int64_t)((s >> 33) % (uint64_t)n);
        }
        float keep = x[i];
        double l0 = loss(ctx);
        x[i] = keep + eps;
        double lp = loss(ctx);
        x[i] = keep - eps;
        double lm = loss(ctx);
        x[i] = keep;
        double g = grad[i], central = (lp - lm) / (2.0 * eps);
        double right = (lp - l0) / eps, left = (l0 - lm) / eps;
#define CLOSE(a, b) (fabs((a) - (b)) <= ATOL + RTOL * fabs(b))
        if (CLOSE(g, central))
            continue;
        if (!CLOSE(left, right) && (CLOSE(g, left) || CLOSE(g, right))) {
            kinks++;
            continue;
        }
#undef CLOSE
        fprintf(stderr, "gradcheck %s[%lld]: analytic %.8g numeric %.8g (left %.8g right %.8g)\n",
                what, (long long)i, g, central, left, right);
        fail();
    }
    return kinks;
}

static tr_cls_config small_config(tr_cls_kind kind)
{
    tr_cls_config cfg = tr_cls_defaults(kind);
    cfg.h = cfg.w = 8;
    cfg.classes = 3;
    cfg.hidden = 7;
    cfg.layers = 2;
    cfg.channels = 2;
    return cfg;
}

/* The summed loss of n images against every parameter; weights from
 * tr_cls_init_weights then scaled up so that the units and pooling
 * windows are varied. n < B exercises a partial batch. */
static void check_cls_grad(tr_cls_config cfg, int n, int B, uint64_t seed, float eps)
{
    tr_cls m;
    tr_cls_state s;
    tr_err err;
    assert_int_equal(tr_cls_init(&m, &cfg, &err), TR_OK);
    assert_int_equal(tr_cls_state_init(&s, &m, B, &err), TR_OK);
    tr_cls_init_weights(&m, seed);
    for (int i = 0; i < m.params.n; i++)
        for (int64_t k = 0; k < m.params.p[i].value.size; k++)
            m.params.p[i].value.data[k] *= 3.0f;
    int hw = cfg.h * cfg.w;
    float *x = th_vec((int64_t)n * hw, 0, 0);
    th_fill(x, (int64_t)n * hw, 1, seed + 100);
    for (int i = 0; i < n * hw; i++)
        x[i] = fabsf(x[i]); /* pixels in [0, 1] */
    uint8_t y[16];
    for (int i = 0; i < n; i++)
        y[i] = (uint8_t)((i + seed) % (uint64_t)cfg.classes);
    cls_ctx c = {&m, &s, x, y, n};
    double loss = cls_loss(&c);
    assert_true(loss > 0.0 && isfinite(loss));
    tr_params_zero_grad(&m.params);
    tr_cls_backward(&s, &m, 1.0f);
    int kinks = 0, checks = 0;
    for (int i = 0; i < m.params.n; i++) {
        tr_param *p = &m.params.p[i];
        double g = 0.0;
        for (int64_t k = 0; k < p->grad.size; k++)
            g += fabs(p->grad.data[k]);
        assert_true(g > 0.0); /* every parameter takes part */
        kinks += kink_gradcheck(p->name, p->value.data, p->grad.data, p->value.size, cls_loss, &c, eps, 60);
        checks += p->value.size < 60 ? (int)p->value.size : 60;
    }
    if (kinks * 20 > checks) {
        fprintf(stderr, "%d of %d entries by a kink: too many to trust\n", kinks, checks);
        fail();
    }
    free(x);
    tr_cls_state_free(&s);
    tr_cls_free(&m);
}

static void test_mlp_grad(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_cls_config cfg = small_config(TR_CLS_MLP);
        check_cls_grad(cfg, 4, 5, seed, 1e-3f);
        cfg.layers = 1;
        check_cls_grad(cfg, 3, 3, seed, 1e-3f);
        cfg.layers = 0; /* softmax regression */
        check_cls_grad(cfg, 2, 4, seed, 1e-2f);
    }
}

static void test_cnn_grad(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        tr_cls_config cfg = small_config(TR_CLS_CNN);
        check_cls_grad(cfg, 3, 4, seed, 1e-3f);
        cfg.w = 12; /* not square */
        cfg.channels = 1;
        check_cls_grad(cfg, 2, 2, seed, 1e-3f);
    }
}

static void test_cls_params(void **state)
{
    (void)state;
    tr_cls m;
    tr_err err;
    tr_cls_config cfg = tr_cls_defaults(TR_CLS_MLP);
    assert_int_equal(cfg.h, 28);
    assert_int_equal(cfg.classes, 10);
    assert_int_equal(tr_cls_init(&m, &cfg, &err), TR_OK);
    const char *mlp_names[6] = {"fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias", "out.weight", "out.bias"};
    const int64_t mlp_shapes[6][2] = {{256, 784}, {256, 0}, {256, 256}, {256, 0}, {10, 256}, {10, 0}};
    assert_int_equal(m.params.n, 6);
    for (int i = 0; i < 6; i++) {
        tr_param *p = tr_params_find(&m.params, mlp_names[i]);
        assert_non_null(p);
        assert_int_equal(p->value.shape[0], mlp_shapes[i][0]);
        if (mlp_shapes[i][1])
            assert_int_equal(p->value.shape[1], mlp_shapes[i][1]);
        else
            assert_int_equal(p->value.ndim, 1);
    }
    /* PyTorch's bounds: 1/sqrt(fan_in), reached, and the same from the same seed */
    tr_cls_init_weights(&m, 7);
    float first = m.params.p[0].value.data[0];
    for (int i = 0; i < m.params.n; i++) {
        tr_param *p = &m.params.p[i];
        int64_t fan_in = i % 2 == 0 ? p->value.size / p->value.shape[0] : m.params.p[i - 1].value.shape[1];
        float bound = 1.0f / sqrtf((float)fan_in), mx = 0.0f;
        for (int64_t k = 0; k < p->value.size; k++)
            mx = fmaxf(mx, fabsf(p->value.data[k]));
        assert_true(mx <= bound && mx > 0.8f * bound);
    }
    tr_cls_init_weights(&m, 8);
    assert_true(m.params.p[0].value.data[0] != first);
    tr_cls_init_weights(&m, 7);
    assert_true(m.params.p[0].value.data[0] == first);
    tr_cls_free(&m);

    cfg = tr_cls_defaults(TR_CLS_CNN);
    assert_int_equal(tr_cls_init(&m, &cfg, &err), TR_OK);
    assert_int_equal(m.params.n, 6);
    tr_param *w1 = tr_params_find(&m.params, "conv1.weight"), *w2 = tr_params_find(&m.params, "conv2.weight");
    tr_param *wo = tr_params_find(&m.params, "out.weight");
    assert_non_null(w1);
    assert_non_null(w2);
    assert_non_null(wo);
    assert_non_null(tr_params_find(&m.params, "conv1.bias"));
    assert_non_null(tr_params_find(&m.params, "conv2.bias"));
    assert_non_null(tr_params_find(&m.params, "out.bias"));
    int64_t s1[4] = {16, 1, 5, 5}, s2[4] = {32, 16, 5, 5};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(w1->value.shape[k], s1[k]);
        assert_int_equal(w2->value.shape[k], s2[k]);
    }
    assert_int_equal(wo->value.shape[0], 10);
    assert_int_equal(wo->value.shape[1], 32 * 7 * 7);
    tr_cls_init_weights(&m, 1);
    float mx = 0.0f;
    for (int64_t k = 0; k < w2->value.size; k++)
        mx = fmaxf(mx, fabsf(w2->value.data[k]));
    assert_true(mx <= 1.0f / sqrtf(400.0f) && mx > 0.9f / sqrtf(400.0f));
    tr_cls_free(&m);
}

static void expect_config_error(tr_cls_config cfg, const char *what)
{
    tr_cls m;
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_cls_init(&m, &cfg, &err), TR_ERR_ARG);
    if (!strstr(err.msg, what)) {
        fprintf(stderr, "message '%s' does not name '%s'\n", err.msg, what);
        fail();
    }
}

static void test_cls_bad_config(void **state)
{
    (void)state;
    tr_cls_config c = tr_cls_defaults(TR_CLS_CNN);
    c.h = 30;
    expect_config_error(c, "multiples of 4");
    c = tr_cls_defaults(TR_CLS_CNN);
    c.channels = 0;
    expect_config_error(c, "channels");
    c = tr_cls_defaults(TR_CLS_MLP);
    c.classes = 1;
    expect_config_error(c, "classes");
    c = tr_cls_defaults(TR_CLS_MLP);
    c.layers = TR_CLS_MAX_LAYERS + 1;
    expect_config_error(c, "layers");
    c = tr_cls_defaults(TR_CLS_MLP);
    c.hidden = 0;
    expect_config_error(c, "hidden");
    c = tr_cls_defaults(TR_CLS_MLP);
    c.w = 0;
    expect_config_error(c, "image size");
    /* the mlp takes any size, and ignores channels */
    tr_cls m;
    tr_cls_state s;
    tr_err err;
    c = tr_cls_defaults(TR_CLS_MLP);
    c.h = 30;
    c.channels = 0;
    assert_int_equal(tr_cls_init(&m, &c, &err), TR_OK);
    assert_int_equal(tr_cls_state_init(&s, &m, 0, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "batch"));
    tr_cls_free(&m);

    tr_cls_kind k = TR_CLS_MLP;
    assert_int_equal(tr_cls_kind_parse("cnn", &k, &err), TR_OK);
    assert_int_equal(k, TR_CLS_CNN);
    assert_int_equal(tr_cls_kind_parse("mlp", &k, &err), TR_OK);
    assert_int_equal(k, TR_CLS_MLP);
    assert_int_equal(tr_cls_kind_parse("rnn", &k, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "'rnn'"));
}

/* Backward scales; evaluate agrees with itself across batch sizes and with
 * forward's loss and arg-max count. */
static void test_cls_backward_scale_and_evaluate(void **state)
{
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        tr_cls_config cfg = small_config((tr_cls_kind)kind);
        tr_cls m;
        tr_cls_state s, s1, s7;
        tr_err err;
        assert_int_equal(tr_cls_init(&m, &cfg, &err), TR_OK);
        tr_cls_init_weights(&m, 3);
        assert_int_equal(tr_cls_state_init(&s, &m, 10, &err), TR_OK);
        assert_int_equal(tr_cls_state_init(&s1, &m, 1, &err), TR_OK);
        assert_int_equal(tr_cls_state_init(&s7, &m, 7, &err), TR_OK);
        tr_images d = {10, 8, 8, 10, th_vec(640, 1, 4), calloc(10, 1)};
        for (int i = 0; i < 640; i++)
            d.x[i] = fabsf(d.x[i]);
        for (int i = 0; i < 10; i++)
            d.y[i] = (uint8_t)(i * 7 % 3);

        /* scale: one backward at 1 equals two at 0.5 */
        tr_params_zero_grad(&m.params);
        tr_cls_forward(&s, &m, d.x, d.y, 10, NULL);
        tr_cls_backward(&s, &m, 1.0f);
        int64_t total = tr_params_count(&m.params), at = 0;
        float *g1 = th_vec(total, 0, 0);
        for (int i = 0; i < m.params.n; i++) {
            memcpy(g1 + at, m.params.p[i].grad.data, (size_t)m.params.p[i].grad.size * sizeof(float));
            at += m.params.p[i].grad.size;
        }
        tr_params_zero_grad(&m.params);
        tr_cls_backward(&s, &m, 0.5f);
        tr_cls_backward(&s, &m, 0.5f);
        at = 0;
        for (int i = 0; i < m.params.n; i++)
            for (int64_t k = 0; k < m.params.p[i].grad.size; k++, at++)
                assert_true(fabsf(m.params.p[i].grad.data[k] - g1[at]) <= 1e-6f * (1 + fabsf(g1[at])));

        /* forward: probabilities, per-image loss and the correct count */
        int64_t correct = 5; /* added to */
        double sum = tr_cls_forward(&s, &m, d.x, d.y, 10, &correct);
        double nll = 0.0;
        int64_t want = 5;
        for (int i = 0; i < 10; i++) {
            const float *p = s.probs + i * cfg.classes;
            double rs = 0.0;
            int best = 0;
            for (int k = 0; k < cfg.classes; k++) {
                rs += p[k];
                best = p[k] > p[best] ? k : best;
            }
            assert_true(fabs(rs - 1.0) < 1e-5);
            assert_true(fabs(s.nll[i] + log(p[d.y[i]])) < 1e-4);
            nll += s.nll[i];
            want += best == d.y[i];
        }
        assert_int_equal(correct, want);
        assert_true(fabs(sum - nll) < 1e-4);

        double l10, a10, l1, a1, l7, a7;
        tr_cls_evaluate(&s, &m, &d, &l10, &a10);
        tr_cls_evaluate(&s1, &m, &d, &l1, &a1);
        tr_cls_evaluate(&s7, &m, &d, &l7, &a7);
        assert_true(fabs(l10 - sum / 10) < 1e-6);
        assert_true(a10 == (double)(want - 5) / 10);
        assert_true(fabs(l1 - l10) < 1e-5 && fabs(l7 - l10) < 1e-5);
        assert_true(a1 == a10 && a7 == a10);
        free(g1);
        tr_images_free(&d);
        tr_cls_state_free(&s);
        tr_cls_state_free(&s1);
        tr_cls_state_free(&s7);
        tr_cls_free(&m);
    }
}

/* ------------------------------------------------------------ golden (PyTorch) */

static const tr_tensor *get(const tr_st_file *f, const char *name)
{
    const tr_tensor *t = tr_st_get(f, name);
    if (!t) {
        fprintf(stderr, "golden file has no tensor %s\n", name);
        fail();
    }
    return t;
}

/* Each element within rtol of the reference, relative to the larger of its
 * own magnitude and 1% of the tensor's largest value. */
static void assert_close(const char *what, const float *a, const tr_tensor *ref, double rtol)
{
    double mx = 0.0;
    for (int64_t i = 0; i < ref->size; i++)
        mx = fmax(mx, fabs((double)ref->data[i]));
    for (int64_t i = 0; i < ref->size; i++) {
        double tol = rtol * fmax(fabs((double)ref->data[i]), 1e-2 * mx) + 1e-9;
        if (fabs((double)a[i] - ref->data[i]) > tol) {
            fprintf(stderr, "%s[%lld]: triad %.9g pytorch %.9g\n", what, (long long)i, (double)a[i],
                    (double)ref->data[i]);
            fail();
        }
    }
}

static tr_st_file *golden_open(void)
{
    char path[512];
    tr_err err;
    tr_st_file *f = NULL;
    assert_int_equal(tr_st_open(&f, th_fixture(path, sizeof path, "golden/vision_tiny.safetensors"), &err), TR_OK);
    return f;
}

static void golden_conv(const tr_st_file *f, const char *prefix, int pad)
{
    char name[64];
#define G(field) (snprintf(name, sizeof name, "%s.%s", prefix, field), get(f, name))
    const tr_tensor *x = G("x"), *w = G("w"), *b = G("b"), *R = G("R");
    int N = (int)x->shape[0], C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    int O = (int)w->shape[0], K = (int)w->shape[2];
    int Ho = H + 2 * pad - K + 1, Wo = W + 2 * pad - K + 1;
    assert_int_equal(R->size, (int64_t)N * O * Ho * Wo);
    float *y = th_vec(R->size, 0, 0), *col = th_vec((int64_t)C * K * K * Ho * Wo, 0, 0);
    float *dx = th_vec(x->size, 0, 0), *dw = th_vec(w->size, 0, 0), *db = th_vec(O, 0, 0);
    tr_conv2d_forward(y, col, x->data, w->data, b->data, N, C, H, W, O, K, pad);
    assert_close(name, y, G("y"), GOLDEN_RTOL);
    tr_conv2d_backward(dx, dw, db, col, R->data, x->data, w->data, N, C, H, W, O, K, pad);
    assert_close(name, dx, G("gx"), GOLDEN_RTOL);
    assert_close(name, dw, G("gw"), GOLDEN_RTOL);
    assert_close(name, db, G("gb"), GOLDEN_RTOL);
#undef G
    free(y); free(col); free(dx); free(dw); free(db);
}

static void test_golden_layers(void **state)
{
    (void)state;
    tr_st_file *f = golden_open();
    golden_conv(f, "conv_a", 1);
    golden_conv(f, "conv_b", 2);
    const tr_tensor *x = get(f, "pool.x"), *R = get(f, "pool.R");
    int N = (int)x->shape[0], C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    float *y = th_vec(R->size, 0, 0), *dx = th_vec(x->size, 0, 0);
    uint8_t *arg = calloc((size_t)R->size, 1);
    tr_maxpool2_forward(y, arg, x->data, N, C, H, W);
    assert_close("pool.y", y, get(f, "pool.y"), GOLDEN_RTOL);
    tr_maxpool2_backward(dx, R->data, arg, N, C, H, W);
    assert_close("pool.gx", dx, get(f, "pool.gx"), GOLDEN_RTOL);
    free(y); free(dx); free(arg);
    tr_st_close(f);
}

static void golden_model(const tr_st_file *f, const char *prefix, tr_cls_config cfg)
{
    tr_cls m;
    tr_cls_state s;
    tr_err err;
    char name[96];
    assert_int_equal(tr_cls_init(&m, &cfg, &err), TR_OK);
    /* every parameter under its state_dict name, and nothing else */
    for (int i = 0; i < m.params.n; i++) {
        tr_param *p = &m.params.p[i];
        snprintf(name, sizeof name, "%s.%s", prefix, p->name);
        const tr_tensor *t = get(f, name);
        assert_true(tr_tensor_same_shape(t, &p->value));
        memcpy(p->value.data, t->data, (size_t)t->size * sizeof(float));
    }
    const tr_tensor *images = get(f, "images"), *labels = get(f, "labels");
    int n = (int)images->shape[0];
    uint8_t y[16];
    for (int i = 0; i < n; i++)
        y[i] = (uint8_t)labels->data[i];
    assert_int_equal(tr_cls_state_init(&s, &m, n + 2, &err), TR_OK);
    double loss = tr_cls_forward(&s, &m, images->data, y, n, NULL) / n;
    double ref = get(f, (snprintf(name, sizeof name, "%s.loss", prefix), name))->data[0];
    assert_true(fabs(loss - ref) <= GOLDEN_RTOL * ref);
    assert_close(name, s.probs, get(f, (snprintf(name, sizeof name, "%s.probs", prefix), name)), GOLDEN_RTOL);
    tr_params_zero_grad(&m.params);
    tr_cls_backward(&s, &m, 1.0f / (float)n);
    for (int i = 0; i < m.params.n; i++) {
        snprintf(name, sizeof name, "%s.grad.%s", prefix, m.params.p[i].name);
        assert_close(name, m.params.p[i].grad.data, get(f, name), GOLDEN_RTOL);
    }
    tr_cls_state_free(&s);
    tr_cls_free(&m);
}

static void test_golden_classifiers(void **state)
{
    (void)state;
    tr_st_file *f = golden_open();
    tr_cls_config cfg = small_config(TR_CLS_CNN);
    golden_model(f, "cnn", cfg);
    cfg = small_config(TR_CLS_MLP);
    cfg.hidden = 6;
    golden_model(f, "mlp", cfg);
    tr_st_close(f);
}

/* ------------------------------------------------------------ IDX files */

/* Raw IDX bytes: the image header alone, or images (n, h, w) with pixel (i, k) = (i * 31 + k * 7) % 256
 * and labels i % 10, or the given label bytes. */
static void idx_header_bytes(unsigned char *buf, uint32_t magic, uint32_t n, uint32_t h, uint32_t w)
{
    uint32_t hd[4] = {magic, n, h, w};
    for (int k = 0; k < 4; k++)
        for (int b = 0; b < 4; b++)
            buf[4 * k + b] = (unsigned char)(hd[k] >> (24 - 8 * b));
}

static size_t idx_images_bytes(unsigned char *buf, uint32_t magic, uint32_t n, uint32_t h, uint32_t w)
{
    idx_header_bytes(buf, magic, n, h, w);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < h * w; k++)
            buf[16 + i * h * w + k] = (unsigned char)((i * 31 + k * 7) % 256);
    return 16 + (size_t)n * h * w;
}

static size_t idx_labels_bytes(unsigned char *buf, uint32_t magic, uint32_t n)
{
    uint32_t hd[2] = {magic, n};
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 4; b++)
            buf[4 * k + b] = (unsigned char)(hd[k] >> (24 - 8 * b));
    for (uint32_t i = 0; i < n; i++)
        buf[8 + i] = (unsigned char)(i % 10);
    return 8 + n;
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(g), Z_OK);
}

static void test_idx_round_trip(void **state)
{
    (void)state;
    char pi[512], pl[512], gi[512], gl[512];
    th_tmp(pi, sizeof pi, "vision_rt-images-idx3-ubyte");
    th_tmp(pl, sizeof pl, "vision_rt-labels-idx1-ubyte");
    th_tmp(gi, sizeof gi, "vision_rt-images-idx3-ubyte.gz");
    th_tmp(gl, sizeof gl, "vision_rt-labels-idx1-ubyte.gz");
    tr_images d = {7, 3, 5, 10, th_vec(105, 0, 0), calloc(7, 1)};
    for (int i = 0; i < 105; i++)
        d.x[i] = (float)((i * 53 + 11) % 256) / 255.0f;
    d.x[3] = 0.0f;
    d.x[4] = 1.0f;
    d.x[5] = 1.3f;   /* clamped to 255 */
    d.x[6] = -0.2f;  /* clamped to 0 */
    d.x[7] = 0.5f;   /* 127.5 rounds to 128 */
    for (int i = 0; i < 7; i++)
        d.y[i] = (uint8_t)((i * 3 + 1) % 10);
    tr_err err;
    assert_int_equal(tr_images_save(&d, pi, pl, &err), TR_OK);

    /* the bytes on disk: big-endian header, one byte per pixel */
    size_t len;
    unsigned char *raw = (unsigned char *)th_read(pi, &len);
    assert_int_equal(len, 16 + 105);
    const unsigned char head[16] = {0, 0, 8, 3, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 5};
    assert_memory_equal(raw, head, 16);
    assert_int_equal(raw[16 + 0], 11);
    assert_int_equal(raw[16 + 4], 255);
    assert_int_equal(raw[16 + 5], 255);
    assert_int_equal(raw[16 + 6], 0);
    assert_int_equal(raw[16 + 7], 128);
    write_gz(gi, raw, len);
    free(raw);
    raw = (unsigned char *)th_read(pl, &len);
    assert_int_equal(len, 8 + 7);
    write_gz(gl, raw, len);
    free(raw);

    const char *imgs[3] = {pi, gi, gi}, *labs[3] = {pl, gl, pl};
    for (int t = 0; t < 3; t++) {
        tr_images e;
        assert_int_equal(tr_images_load(&e, imgs[t], labs[t], &err), TR_OK);
        assert_int_equal(e.n, 7);
        assert_int_equal(e.h, 3);
        assert_int_equal(e.w, 5);
        assert_int_equal(e.classes, 10);
        assert_memory_equal(e.y, d.y, 7);
        for (int i = 0; i < 105; i++) {
            float want = i == 5 ? 1.0f : i == 6 ? 0.0f : i == 7 ? 128.0f / 255.0f : d.x[i];
            assert_true(e.x[i] >= 0.0f && e.x[i] <= 1.0f);
            assert_true(fabsf(e.x[i] - want) < 1e-6f);
        }
        tr_images_free(&e);
        assert_null(e.x);
    }
    tr_images_free(&d);
}

/* Writes images (gzipped if gz) and labels, loads them, and expects code;
 * unless TR_OK, with a message that names the file at fault (the labels if
 * bad_is_labels) and contains what, and with nothing loaded. */
static void expect_load_error(const unsigned char *img, size_t ni, const unsigned char *lab, size_t nl,
                              int gz, tr_status code, int bad_is_labels, const char *what)
{
    char pi[512], pl[512];
    th_tmp(pi, sizeof pi, gz ? "vision_bad-images.gz" : "vision_bad-images");
    th_tmp(pl, sizeof pl, "vision_bad-labels");
    if (gz)
        write_gz(pi, img, ni);
    else
        th_write(pi, img, ni);
    th_write(pl, lab, nl);
    tr_images d;
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_images_load(&d, pi, pl, &err), code);
    if (code == TR_OK) {
        assert_true(d.n >= 1 && d.x && d.y);
        tr_images_free(&d);
        return;
    }
    assert_int_equal(err.code, code);
    if (!strstr(err.msg, bad_is_labels ? pl : pi) || !strstr(err.msg, what)) {
        fprintf(stderr, "message '%s' should name %s and say '%s'\n", err.msg,
                bad_is_labels ? pl : pi, what);
        fail();
    }
    assert_null(d.x);
    assert_null(d.y);
    assert_int_equal(d.n, 0);
}

static void test_idx_bad_input(void **state)
{
    (void)state;
    static unsigned char img[16 + 6 * 4 * 4 + 8], lab[8 + 6 + 8];
    size_t ni = idx_images_bytes(img, 0x803, 6, 4, 4), nl = idx_labels_bytes(lab, 0x801, 6);
    expect_load_error(img, ni, lab, nl, 0, TR_OK, 0, "");  /* the base case loads */

    /* bad magic: swapped files, a wrong element type, little-endian */
    idx_images_bytes(img, 0x801, 6, 4, 4);
    expect_load_error(img, ni, lab, nl, 0, TR_ERR_FORMAT, 0, "magic");
    idx_images_bytes(img, 0x0d03, 6, 4, 4);
    expect_load_error(img, ni, lab, nl, 0, TR_ERR_FORMAT, 0, "magic");
    idx_images_bytes(img, 0x03080000, 6, 4, 4);
    expect_load_error(img, ni, lab, nl, 1, TR_ERR_FORMAT, 0, "magic");
    idx_images_bytes(img, 0x803, 6, 4, 4);
    idx_labels_bytes(lab, 0x803, 6);
    expect_load_error(img, ni, lab, nl, 0, TR_ERR_FORMAT, 1, "magic");
    idx_labels_bytes(lab, 0x801, 6);

    /* wrong dimensions */
    idx_header_bytes(img, 0x803, 6, 0, 4);
    expect_load_error(img, 16, lab, nl, 0, TR_ERR_FORMAT, 0, "0 x 4");
    idx_header_bytes(img, 0x803, 6, 4, 40000);
    expect_load_error(img, 16, lab, nl, 0, TR_ERR_FORMAT, 0, "4 x 40000");
    idx_header_bytes(img, 0x803, 0, 4, 4);
    idx_labels_bytes(lab, 0x801, 0);
    expect_load_error(img, 16, lab, 8, 0, TR_ERR_FORMAT, 0, "no items");

    /* truncated: header, pixels (plain and gzipped), labels; empty file */
    ni = idx_images_bytes(img, 0x803, 6, 4, 4);
    nl = idx_labels_bytes(lab, 0x801, 6);
    expect_load_error(img, 10, lab, nl, 0, TR_ERR_FORMAT, 0, "truncated");
    expect_load_error(img, 0, lab, nl, 0, TR_ERR_FORMAT, 0, "truncated");
    expect_load_error(img, ni - 1, lab, nl, 0, TR_ERR_FORMAT, 0, "truncated");
    expect_load_error(img, ni - 1, lab, nl, 1, TR_ERR_FORMAT, 0, "truncated");
    expect_load_error(img, ni, lab, nl - 2, 0, TR_ERR_FORMAT, 1, "truncated");
    expect_load_error(img, ni, lab, 6, 0, TR_ERR_FORMAT, 1, "truncated");

    /* data after the last item */
    expect_load_error(img, ni + 3, lab, nl, 0, TR_ERR_FORMAT, 0, "after the last item");
    expect_load_error(img, ni, lab, nl + 1, 0, TR_ERR_FORMAT, 1, "after the last item");

    /* counts that disagree, either way */
    idx_labels_bytes(lab, 0x801, 5);
    expect_load_error(img, ni, lab, 8 + 5, 0, TR_ERR_FORMAT, 1, "5 labels");
    idx_labels_bytes(lab, 0x801, 7);
    expect_load_error(img, ni, lab, 8 + 7, 0, TR_ERR_FORMAT, 1, "6 images");

    /* a label out of range */
    idx_labels_bytes(lab, 0x801, 6);
    lab[8 + 4] = 10;
    expect_load_error(img, ni, lab, nl, 0, TR_ERR_FORMAT, 1, "label 10 of item 4");
    lab[8 + 4] = 255;
    expect_load_error(img, ni, lab, nl, 0, TR_ERR_FORMAT, 1, "label 255");
    lab[8 + 4] = 4;
}

static void test_idx_bad_files(void **state)
{
    (void)state;
    char pi[512], pl[512], missing[512];
    th_tmp(pi, sizeof pi, "vision_gz-images.gz");
    th_tmp(pl, sizeof pl, "vision_gz-labels");
    th_tmp(missing, sizeof missing, "vision_no_such_file");
    static unsigned char img[16 + 20 * 28 * 28], lab[8 + 20];
    size_t ni = idx_images_bytes(img, 0x803, 20, 28, 28), nl = idx_labels_bytes(lab, 0x801, 20);
    th_write(pl, lab, nl);
    tr_images d;
    tr_err err;

    /* missing files, images or labels */
    assert_int_equal(tr_images_load(&d, missing, pl, &err), TR_ERR_IO);
    assert_non_null(strstr(err.msg, missing));
    assert_non_null(strstr(err.msg, "cannot open"));
    write_gz(pi, img, ni);
    assert_int_equal(tr_images_load(&d, pi, missing, &err), TR_ERR_IO);
    assert_non_null(strstr(err.msg, missing));
    assert_null(d.x);

    /* a gzip stream cut in the middle */
    size_t len;
    char *gz = th_read(pi, &len);
    assert_true(len > 100);
    th_write(pi, gz, len / 2);
    assert_int_equal(tr_images_load(&d, pi, pl, &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, pi));
    assert_non_null(strstr(err.msg, "truncated"));
    /* a corrupted gzip stream: its trailing CRC-32 no longer matches */
    gz[len - 6] ^= 0x5a;
    th_write(pi, gz, len);
    assert_int_equal(tr_images_load(&d, pi, pl, &err), TR_ERR_FORMAT);
    assert_non_null(strstr(err.msg, pi));
    assert_non_null(strstr(err.msg, "corrupted"));
    assert_null(d.x);
    /* intact, it loads */
    gz[len - 6] ^= 0x5a;
    th_write(pi, gz, len);
    assert_int_equal(tr_images_load(&d, pi, pl, &err), TR_OK);
    assert_int_equal(d.n, 20);
    assert_true(d.x[28 * 28 + 1] == (float)((31 + 7) % 256) / 255.0f);
    tr_images_free(&d);
    free(gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_maxpool2_grad),
        cmocka_unit_test(test_maxpool2_values),
        cmocka_unit_test(test_mlp_grad),
        cmocka_unit_test(test_cnn_grad),
        cmocka_unit_test(test_cls_params),
        cmocka_unit_test(test_cls_bad_config),
        cmocka_unit_test(test_cls_backward_scale_and_evaluate),
        cmocka_unit_test(test_golden_layers),
        cmocka_unit_test(test_golden_classifiers),
        cmocka_unit_test(test_idx_round_trip),
        cmocka_unit_test(test_idx_bad_input),
        cmocka_unit_test(test_idx_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
