/* Layers: finite-difference gradient checks with randomised weights, several
 * seeds and sequence lengths 1, 2 and 5, and hand-checked forward values.
 * Each loss is sum(output * R) for a fixed random R, accumulated in double,
 * so that backward is fed dR = R. */
#include "harness.h"
#include "triad/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 2e-2

/* ------------------------------------------------------------ linear */

typedef struct {
    int N, I, O;
    float *x, *W, *b, *y, *R;
} linear_ctx;

static double linear_loss(void *p)
{
    linear_ctx *c = p;
    tr_linear_forward(c->y, c->x, c->W, c->b, c->N, c->I, c->O);
    return th_dot(c->y, c->R, (int64_t)c->N * c->O);
}

static void test_linear_grad(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        linear_ctx c = {4, 5, 3, NULL, NULL, NULL, NULL, NULL};
        c.x = th_vec(c.N * c.I, 1, seed);
        c.W = th_vec(c.O * c.I, 1, seed + 10);
        c.b = th_vec(c.O, 1, seed + 20);
        c.y = th_vec(c.N * c.O, 0, 0);
        c.R = th_vec(c.N * c.O, 1, seed + 30);
        float *dx = th_vec(c.N * c.I, 0, 0), *dW = th_vec(c.O * c.I, 0, 0), *db = th_vec(c.O, 0, 0);
        linear_loss(&c);
        tr_linear_backward(dx, dW, db, c.R, c.x, c.W, c.N, c.I, c.O);
        th_gradcheck("linear.x", c.x, dx, c.N * c.I, linear_loss, &c, EPS, ATOL, RTOL, 1000);
        th_gradcheck("linear.W", c.W, dW, c.O * c.I, linear_loss, &c, EPS, ATOL, RTOL, 1000);
        th_gradcheck("linear.b", c.b, db, c.O, linear_loss, &c, EPS, ATOL, RTOL, 1000);
        /* backward adds into weight gradients */
        tr_linear_backward(dx, dW, db, c.R, c.x, c.W, c.N, c.I, c.O);
        float *dW1 = th_vec(c.O * c.I, 0, 0), *db1 = th_vec(c.O, 0, 0);
        tr_linear_backward(NULL, dW1, db1, c.R, c.x, c.W, c.N, c.I, c.O);
        for (int i = 0; i < c.O * c.I; i++)
            assert_true(fabsf(dW[i] - 2 * dW1[i]) < 1e-5f);
        free(c.x); free(c.W); free(c.b); free(c.y); free(c.R);
        free(dx); free(dW); free(db); free(dW1); free(db1);
    }
}

static void test_linear_forward_values(void **state)
{
    (void)state;
    float x[2 * 3] = {1, 2, 3, -1, 0, 1};
    float W[2 * 3] = {1, 0, -1, 0.5f, 0.5f, 0.5f};
    float b[2] = {0.25f, -1};
    float y[4];
    tr_linear_forward(y, x, W, b, 2, 3, 2);
    assert_true(y[0] == -1.75f && y[1] == 2.0f && y[2] == -1.75f && y[3] == -1.0f);
}

/* ------------------------------------------------------------ embedding */

typedef struct {
    int N, V, E;
    int32_t *ids;
    tr_param *W;
    float *out, *R;
} emb_ctx;

static double emb_loss(void *p)
{
    emb_ctx *c = p;
    tr_embedding_forward(c->out, c->ids, c->W->value.data, c->N, c->V, c->E);
    return th_dot(c->out, c->R, (int64_t)c->N * c->E);
}

static void test_embedding_grad_sparse(void **state)
{
    (void)state;
    tr_arena a;
    tr_params ps;
    int64_t shape[2] = {9, 4};
    tr_arena_plan(&a);
    tr_params_init(&ps, 1);
    tr_params_add(&ps, &a, "encoder.weight", 2, shape, TR_PARAM_SPARSE);
    tr_params_free(&ps);
    size_t cap = a.cap;
    assert_int_equal(tr_arena_init(&a, cap, NULL), TR_OK);
    tr_params_init(&ps, 1);
    tr_param *W = tr_params_add(&ps, &a, "encoder.weight", 2, shape, TR_PARAM_SPARSE);
    th_fill(W->value.data, W->value.size, 1, 7);
    int32_t ids[6] = {2, 5, 2, 8, 0, 5};
    emb_ctx c = {6, 9, 4, ids, W, th_vec(24, 0, 0), th_vec(24, 1, 8)};
    emb_loss(&c);
    tr_embedding_backward(W, c.R, ids, 6, 4);
    assert_int_equal(W->ntouched, 4); /* rows 2, 5, 8, 0 */
    th_gradcheck("embedding.W", W->value.data, W->grad.data, W->value.size, emb_loss, &c, EPS, ATOL, RTOL, 1000);
    for (int r = 0; r < 9; r++)
        if (!W->is_touched[r])
            for (int e = 0; e < 4; e++)
                assert_true(W->grad.data[r * 4 + e] == 0.0f);
    free(c.out); free(c.R);
    tr_params_free(&ps);
    tr_arena_free(&a);
}

/* ------------------------------------------------------------ LSTM */

typedef struct {
    int T, B, I, H;
    float *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh;
    float *h, *c, *gates;
    float *R, *RhT, *RcT; /* loss weights for outputs and the final state */
} lstm_ctx;

static double lstm_loss(void *p)
{
    lstm_ctx *c = p;
    tr_lstm_forward(c->h, c->c, c->gates, c->x, c->h0, c->c0, c->w_ih, c->w_hh,
                    c->b_ih, c->b_hh, c->T, c->B, c->I, c->H);
    size_t BH = (size_t)c->B * c->H, last = (size_t)(c->T - 1) * BH;
    return th_dot(c->h, c->R, (int64_t)(c->T * BH)) + th_dot(c->h + last, c->RhT, (int64_t)BH) +
           th_dot(c->c + last, c->RcT, (int64_t)BH);
}

static void check_lstm(int T, int B, int I, int H, uint64_t seed)
{
    lstm_ctx c = {T, B, I, H, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    int G = 4 * H;
    c.x = th_vec(T * B * I, 1, seed);
    c.h0 = th_vec(B * H, 0.5f, seed + 1);
    c.c0 = th_vec(B * H, 0.5f, seed + 2);
    c.w_ih = th_vec(G * I, 0.6f, seed + 3);
    c.w_hh = th_vec(G * H, 0.6f, seed + 4);
    c.b_ih = th_vec(G, 0.3f, seed + 5);
    c.b_hh = th_vec(G, 0.3f, seed + 6);
    c.h = th_vec(T * B * H, 0, 0);
    c.c = th_vec(T * B * H, 0, 0);
    c.gates = th_vec(T * B * G, 0, 0);
    c.R = th_vec(T * B * H, 1, seed + 7);
    c.RhT = th_vec(B * H, 1, seed + 8);
    c.RcT = th_vec(B * H, 1, seed + 9);
    float *dx = th_vec(T * B * I, 0, 0), *dh0 = th_vec(B * H, 0, 0), *dc0 = th_vec(B * H, 0, 0);
    float *dw_ih = th_vec(G * I, 0, 0), *dw_hh = th_vec(G * H, 0, 0);
    float *db_ih = th_vec(G, 0, 0), *db_hh = th_vec(G, 0, 0);
    float *dgates = th_vec(T * B * G, 0, 0), *dstate = th_vec(2 * B * H, 0, 0);
    lstm_loss(&c);
    tr_lstm_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dstate, c.R,
                     c.RhT, c.RcT, c.h, c.c, c.gates, c.x, c.h0, c.c0, c.w_ih, c.w_hh,
                     T, B, I, H);
    th_gradcheck("lstm.x", c.x, dx, T * B * I, lstm_loss, &c, EPS, ATOL, RTOL, 200);
    th_gradcheck("lstm.h0", c.h0, dh0, B * H, lstm_loss, &c, EPS, ATOL, RTOL, 200);
    th_gradcheck("lstm.c0", c.c0, dc0, B * H, lstm_loss, &c, EPS, ATOL, RTOL, 200);
    th_gradcheck("lstm.weight_ih", c.w_ih, dw_ih, G * I, lstm_loss, &c, EPS, ATOL, RTOL, 200);
    th_gradcheck("lstm.weight_hh", c.w_hh, dw_hh, G * H, lstm_loss, &c, EPS, ATOL, RTOL, 200);
    th_gradcheck("lstm.bias_ih", c.b_ih, db_ih, G, lstm_loss, &c, EPS, ATOL, RTOL, 200);
    th_gradcheck("lstm.bias_hh", c.b_hh, db_hh, G, lstm_loss, &c, EPS, ATOL, RTOL, 200);
    float *bufs[] = {c.x, c.h0, c.c0, c.w_ih, c.w_hh, c.b_ih, c.b_hh, c.h, c.c, c.gates, c.R,
                     c.RhT, c.RcT, dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dgates, dstate};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

static void test_lstm_grad(void **state)
{
    (void)state;
    int lengths[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++)
        for (uint64_t seed = 1; seed <= 3; seed++)
            check_lstm(lengths[k], 2, 3, 4, seed * 100 + (uint64_t)k);
    check_lstm(3, 1, 5, 2, 77);
}

/* One step, one unit, against values computed by hand. */
static void test_lstm_forward_values(void **state)
{
    (void)state;
    float x = 0.5f, h0 = 0.2f, c0 = -0.3f;
    float w_ih[4] = {0.1f, 0.2f, 0.3f, 0.4f}, w_hh[4] = {-0.1f, 0.5f, 0.2f, -0.3f};
    float b_ih[4] = {0.01f, 0.02f, 0.03f, 0.04f}, b_hh[4] = {0, 0.1f, 0, -0.1f};
    float h, c, gates[4];
    tr_lstm_forward(&h, &c, gates, &x, &h0, &c0, w_ih, w_hh, b_ih, b_hh, 1, 1, 1, 1);
    double pre[4];
    for (int k = 0; k < 4; k++)
        pre[k] = 0.5 * w_ih[k] + b_ih[k] + 0.2 * w_hh[k] + b_hh[k];
    double i = 1 / (1 + exp(-pre[0])), f = 1 / (1 + exp(-pre[1]));
    double g = tanh(pre[2]), o = 1 / (1 + exp(-pre[3]));
    double ce = f * -0.3 + i * g, he = o * tanh(ce);
    assert_true(fabs(c - ce) < 1e-6 && fabs(h - he) < 1e-6);
}

/* ------------------------------------------------------------ softmax + cross-entropy */

typedef struct {
    int N, V;
    float *logits, *probs, *w;
    int32_t *y;
    float scale;
} xent_ctx;

static double xent_loss(void *p)
{
    xent_ctx *c = p;
    float *nll = th_vec(c->N, 0, 0);
    tr_xent_forward(c->probs, nll, c->logits, c->y, c->N, c->V);
    double s = 0.0;
    for (int n = 0; n < c->N; n++)
        s += (double)c->scale * c->w[n] * nll[n];
    free(nll);
    return s;
}

static void test_xent_grad(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        int32_t y[5] = {3, 0, -1, 6, 2};
        xent_ctx c = {5, 7, th_vec(35, 3, seed), th_vec(35, 0, 0), th_vec(5, 1, seed + 1), y, 0.5f};
        xent_loss(&c);
        float *d = th_vec(35, 0, 0);
        tr_xent_backward(d, c.probs, y, c.w, c.scale, 5, 7);
        th_gradcheck("xent.logits", c.logits, d, 35, xent_loss, &c, EPS, ATOL, RTOL, 1000);
        for (int v = 0; v < 7; v++)
            assert_true(d[2 * 7 + v] == 0.0f); /* no target, no gradient */
        free(c.logits); free(c.probs); free(c.w); free(d);
    }
}

static void test_xent_values_and_alias(void **state)
{
    (void)state;
    /* huge logits must not overflow; in-place result equals out-of-place */
    float z[6] = {1000, 1001, 1002, -5, 0, 5};
    float z2[6];
    memcpy(z2, z, sizeof z);
    int32_t y[2] = {2, 0};
    float p[6], nll[2];
    double s = tr_xent_forward(p, nll, z, y, 2, 3);
    double l0 = log(exp(-2.0) + exp(-1.0) + 1.0);
    double l1 = log(exp(-5.0) + 1.0 + exp(5.0)) + 5.0;
    assert_true(fabs(nll[0] - l0) < 1e-6 && fabs(nll[1] - l1) < 1e-5);
    assert_true(fabs(s - (l0 + l1)) < 1e-5);
    double s2 = tr_xent_forward(z2, NULL, z2, y, 2, 3);
    assert_true(s == s2);
    for (int k = 0; k < 6; k++)
        assert_true(p[k] == z2[k]);
    assert_true(fabs(p[0] + p[1] + p[2] - 1.0) < 1e-6);
}

/* ------------------------------------------------------------ dropout */

typedef struct {
    int64_t n;
    float p;
    float *x, *out, *mask, *R;
} drop_ctx;

static double drop_loss(void *q)
{
    drop_ctx *c = q;
    tr_rng r;
    tr_rng_seed(&r, 5, 9); /* the same mask every call */
    tr_dropout_forward(c->out, c->mask, c->x, c->p, &r, c->n);
    return th_dot(c->out, c->R, c->n);
}

static void test_dropout(void **state)
{
    (void)state;
    drop_ctx c = {4000, 0.3f, th_vec(4000, 1, 1), th_vec(4000, 0, 0), th_vec(4000, 0, 0), th_vec(4000, 1, 2)};
    drop_loss(&c);
    float *dx = th_vec(c.n, 0, 0);
    tr_dropout_backward(dx, c.R, c.mask, c.n);
    th_gradcheck("dropout.x", c.x, dx, c.n, drop_loss, &c, EPS, ATOL, RTOL, 300);
    int zeros = 0;
    for (int64_t k = 0; k < c.n; k++) {
        assert_true(c.mask[k] == 0.0f || fabsf(c.mask[k] - 1.0f / 0.7f) < 1e-6f);
        zeros += c.mask[k] == 0.0f;
    }
    assert_true(zeros > 1000 && zeros < 1400); /* about 30% of 4000 */
    free(c.x); free(c.out); free(c.mask); free(c.R); free(dx);
}

/* tr_tanhf against tanh in double: relative error below 1e-6 across the
 * range (both branches and the switch between them), odd, saturating. */
static void test_tanhf(void **state)
{
    (void)state;
    double worst = 0.0;
    for (double x = -12.0; x <= 12.0; x += 1.0 / 4096) {
        const float f = (float)x;
        const double r = tanh((double)f), e = fabs(tr_tanhf(f) - r) / (r != 0.0 ? fabs(r) : 1.0);
        worst = e > worst ? e : worst;
        assert_true(tr_tanhf(-f) == -tr_tanhf(f));
    }
    if (!(worst < 1e-6))
        fail_msg("tr_tanhf: relative error %g", worst);
    assert_true(tr_tanhf(0.0f) == 0.0f && tr_tanhf(40.0f) == 1.0f && tr_tanhf(-40.0f) == -1.0f);
    assert_true(fabs(tr_sigmoidf(0.0f) - 0.5) < 1e-7 && tr_sigmoidf(-100.0f) >= 0.0f && tr_sigmoidf(100.0f) == 1.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tanhf),
        cmocka_unit_test(test_linear_grad),
        cmocka_unit_test(test_linear_forward_values),
        cmocka_unit_test(test_embedding_grad_sparse),
        cmocka_unit_test(test_lstm_grad),
        cmocka_unit_test(test_lstm_forward_values),
        cmocka_unit_test(test_xent_grad),
        cmocka_unit_test(test_xent_values_and_alias),
        cmocka_unit_test(test_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
