/* The word LSTM language model: golden values from PyTorch (logits, loss,
 * every gradient, the carried state and the losses of 5 optimiser steps; made
 * by scripts/make_lm_golden.py), finite-difference checks of the whole loss,
 * and the checkpoint round trip. */
#include "harness.h"
#include "triad/io.h"
#include "triad/lm.h"
#include "triad/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_RTOL 1e-4

/* ------------------------------------------------------------ golden */

typedef struct {
    tr_st_file *f;
    tr_lm m;
    int T, B;
    int32_t x1[64], y1[64], x2[64], y2[64];
} golden;

static void ids_from(const tr_st_file *f, const char *name, int32_t *out, int n)
{
    const tr_tensor *t = tr_st_get(f, name);
    assert_non_null(t);
    assert_int_equal(t->size, n);
    for (int i = 0; i < n; i++)
        out[i] = (int32_t)t->data[i];
}

static void load_weights(golden *g)
{
    for (int i = 0; i < g->m.params.n; i++) {
        tr_param *p = &g->m.params.p[i];
        const tr_tensor *t = tr_st_get(g->f, p->name);
        assert_non_null(t);
        assert_true(tr_tensor_same_shape(t, &p->value));
        memcpy(p->value.data, t->data, (size_t)t->size * sizeof(float));
    }
}

static void golden_open(golden *g)
{
    char path[512];
    tr_err err;
    memset(g, 0, sizeof *g);
    assert_int_equal(tr_st_open(&g->f, th_fixture(path, sizeof path, "golden/lm_tiny.safetensors"), &err), TR_OK);
    tr_lm_config c;
    assert_int_equal(tr_lm_config_from_json(&c, tr_st_meta(g->f, "triad.config"), path, &err), TR_OK);
    assert_int_equal(tr_lm_init(&g->m, &c, &err), TR_OK);
    load_weights(g);
    const tr_tensor *x = tr_st_get(g->f, "x1");
    g->T = (int)x->shape[0];
    g->B = (int)x->shape[1];
    int n = g->T * g->B;
    ids_from(g->f, "x1", g->x1, n);
    ids_from(g->f, "y1", g->y1, n);
    ids_from(g->f, "x2", g->x2, n);
    ids_from(g->f, "y2", g->y2, n);
}

static void golden_close(golden *g)
{
    tr_lm_free(&g->m);
    tr_st_close(g->f);
}

/* Each element within rtol of the reference, relative to the larger of its
 * own magnitude and 1% of the tensor's largest value. */
static void assert_close(const char *what, const float *a, const float *ref, int64_t n, double rtol)
{
    double mx = 0.0;
    for (int64_t i = 0; i < n; i++)
        mx = fmax(mx, fabs((double)ref[i]));
    for (int64_t i = 0; i < n; i++) {
        double tol = rtol * fmax(fabs((double)ref[i]), 1e-2 * mx) + 1e-9;
        if (fabs((double)a[i] - ref[i]) > tol) {
            fprintf(stderr, "%s[%lld]: triad %.9g pytorch %.9g\n", what, (long long)i, (double)a[i], (double)ref[i]);
            fail();
        }
    }
}

static double scalar(const tr_st_file *f, const char *name, int k)
{
    const tr_tensor *t = tr_st_get(f, name);
    assert_non_null(t);
    assert_true(k < t->size);
    return t->data[k];
}

static void test_golden_forward_backward(void **state)
{
    (void)state;
    golden g;
    golden_open(&g);
    tr_lm *m = &g.m;
    tr_lm_state s;
    tr_err err;
    int N = g.T * g.B, V = m->cfg.vocab_size, H = m->cfg.hidden, L = m->cfg.layers;
    assert_int_equal(tr_lm_state_init(&s, m, g.T, g.B, 1, 1, &err), TR_OK);

    double nll = tr_lm_forward(&s, m, g.x1, g.y1, g.T, 1);
    /* raw logits: the decoder applied to the top layer's output */
    float *logits = calloc((size_t)N * V, sizeof(float));
    tr_linear_forward(logits, s.seq.rnn.h[L - 1], m->dec_w->value.data, m->dec_b->value.data, N, H, V);
    assert_close("logits1", logits, tr_st_get(g.f, "logits1")->data, (int64_t)N * V, GOLDEN_RTOL);
    double loss1 = nll / N, ref1 = scalar(g.f, "loss1", 0);
    assert_true(fabs(loss1 - ref1) <= GOLDEN_RTOL * ref1);

    tr_params_zero_grad(&m->params);
    tr_lm_backward(&s, m, 1.0f / (float)N);
    char name[96];
    for (int i = 0; i < m->params.n; i++) {
        snprintf(name, sizeof name, "grad.%s", m->params.p[i].name);
        const tr_tensor *ref = tr_st_get(g.f, name);
        assert_non_null(ref);
        assert_close(name, m->params.p[i].grad.data, ref->data, ref->size, GOLDEN_RTOL);
    }

    /* the final state, carried into the next window (truncated BPTT) */
    tr_lm_carry(&s, m);
    const float *h1 = tr_st_get(g.f, "h1")->data, *c1 = tr_st_get(g.f, "c1")->data;
    for (int l = 0; l < L; l++) {
        assert_close("h1", s.seq.rnn.h0[l], h1 + (size_t)l * g.B * H, (int64_t)g.B * H, GOLDEN_RTOL);
        assert_close("c1", s.seq.rnn.c0[l], c1 + (size_t)l * g.B * H, (int64_t)g.B * H, GOLDEN_RTOL);
    }
    double loss2 = tr_lm_forward(&s, m, g.x2, g.y2, g.T, 1) / N, ref2 = scalar(g.f, "loss2", 0);
    assert_true(fabs(loss2 - ref2) <= GOLDEN_RTOL * ref2);
    free(logits);
    tr_lm_state_free(&s);
    golden_close(&g);
}

/* Five updates on (x1, y1) from a zero state; the loss before each and after
 * the last must match PyTorch's. */
static void run_optimizer(const char *curve, tr_opt_config oc, float clip)
{
    golden g;
    golden_open(&g);
    tr_lm *m = &g.m;
    tr_lm_state s;
    tr_optim o;
    tr_err err;
    int N = g.T * g.B;
    assert_int_equal(tr_lm_state_init(&s, m, g.T, g.B, 1, 1, &err), TR_OK);
    assert_int_equal(tr_optim_init(&o, &oc, &m->params, &err), TR_OK);
    for (int k = 0; k <= 5; k++) {
        tr_lm_state_reset(&s, m);
        double loss = tr_lm_forward(&s, m, g.x1, g.y1, g.T, 1) / N;
        double ref = scalar(g.f, curve, k);
        if (fabs(loss - ref) > GOLDEN_RTOL * ref) {
            fprintf(stderr, "%s[%d]: triad %.9g pytorch %.9g\n", curve, k, loss, ref);
            fail();
        }
        if (k == 5)
            break;
        tr_params_zero_grad(&m->params);
        tr_lm_backward(&s, m, 1.0f / (float)N);
        if (clip > 0)
            tr_clip_grad_norm(&m->params, clip);
        tr_optim_step(&o);
    }
    tr_optim_free(&o);
    tr_lm_state_free(&s);
    golden_close(&g);
}

static void test_golden_optimizers(void **state)
{
    (void)state;
    tr_opt_config sgd = tr_opt_defaults(TR_OPT_SGD);
    sgd.lr = 0.5f;
    run_optimizer("sgd_losses", sgd, 0.0f);
    tr_opt_config sgdm = tr_opt_defaults(TR_OPT_SGD);
    sgdm.lr = 0.1f;
    sgdm.momentum = 0.9f;
    sgdm.weight_decay = 0.01f;
    run_optimizer("sgdm_losses", sgdm, 1.0f);
    tr_opt_config adam = tr_opt_defaults(TR_OPT_ADAM);
    adam.lr = 0.01f;
    run_optimizer("adam_losses", adam, 0.0f);
}

/* ------------------------------------------------------------ gradient check of the whole loss */

typedef struct {
    tr_lm *m;
    tr_lm_state *s;
    int32_t *x, *y;
    int steps;
    tr_rng rng0; /* dropout stream restored before every forward: same masks */
} lm_ctx;

static double lm_loss(void *p)
{
    lm_ctx *c = p;
    tr_lm_state_reset(c->s, c->m);
    c->s->seq.rng = c->rng0;
    return tr_lm_forward(c->s, c->m, c->x, c->y, c->steps, 1);
}

static void check_lm(int steps, float dropout, uint64_t seed)
{
    tr_lm_config cfg = {11, 5, 4, 2, dropout, 1};
    tr_lm m;
    tr_lm_state s;
    tr_err err;
    const int B = 2;
    assert_int_equal(tr_lm_init(&m, &cfg, &err), TR_OK);
    tr_lm_init_weights(&m, seed);
    for (int i = 0; i < m.params.n; i++) /* larger than the default init, and non-zero biases */
        th_fill(m.params.p[i].value.data, m.params.p[i].value.size, 0.5f, seed * 31 + (uint64_t)i);
    assert_int_equal(tr_lm_state_init(&s, &m, 5, B, seed, 7, &err), TR_OK);
    int32_t x[10], y[10];
    tr_rng r;
    tr_rng_seed(&r, seed, 99);
    for (int i = 0; i < steps * B; i++) {
        x[i] = (int32_t)tr_rng_below(&r, 11);
        y[i] = (int32_t)tr_rng_below(&r, 11);
    }
    lm_ctx c = {&m, &s, x, y, steps, s.seq.rng};
    lm_loss(&c);
    tr_params_zero_grad(&m.params);
    tr_lm_backward(&s, &m, 1.0f);
    for (int i = 0; i < m.params.n; i++) {
        tr_param *p = &m.params.p[i];
        th_gradcheck(p->name, p->value.data, p->grad.data, p->value.size, lm_loss, &c, 1e-2f, 3e-3, 2e-2, 60);
    }
    tr_lm_state_free(&s);
    tr_lm_free(&m);
}

static void test_lm_loss_grad(void **state)
{
    (void)state;
    int lengths[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++)
        for (uint64_t seed = 1; seed <= 2; seed++) {
            check_lm(lengths[k], 0.0f, seed + (uint64_t)k * 10);
            check_lm(lengths[k], 0.3f, seed + (uint64_t)k * 10 + 100);
        }
}

/* ------------------------------------------------------------ checkpoint round trip */

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    tr_lm_config cfg = {6, 3, 4, 2, 0.1f, 0};
    tr_lm m, m2;
    tr_vocab *v = tr_vocab_new(), *v2 = NULL;
    tr_err err;
    const char *words[] = {"alpha", "Beta", "gamma", "δέλτα"};
    for (int i = 0; i < 4; i++)
        tr_vocab_add(v, words[i], strlen(words[i]));
    assert_int_equal(tr_lm_init(&m, &cfg, &err), TR_OK);
    tr_lm_init_weights(&m, 5);
    char path[512];
    th_tmp(path, sizeof path, "lm_round_trip.safetensors");
    assert_int_equal(tr_lm_save(&m, v, 42, path, &err), TR_OK);
    int64_t step = 0;
    assert_int_equal(tr_lm_load(&m2, &v2, &step, path, &err), TR_OK);
    assert_int_equal(step, 42);
    assert_memory_equal(&m2.cfg, &m.cfg, sizeof m.cfg);
    assert_int_equal(m2.params.n, m.params.n);
    for (int i = 0; i < m.params.n; i++) {
        assert_string_equal(m2.params.p[i].name, m.params.p[i].name);
        assert_memory_equal(m2.params.p[i].value.data, m.params.p[i].value.data,
                            (size_t)m.params.p[i].value.size * sizeof(float));
    }
    assert_int_equal(tr_vocab_size(v2), 6);
    for (int32_t i = 0; i < 6; i++)
        assert_string_equal(tr_vocab_word(v2, i), tr_vocab_word(v, i));

    /* a truncated copy is refused with the file's name, and nothing leaks */
    size_t len;
    char *bytes = th_read(path, &len);
    char cut[512];
    th_tmp(cut, sizeof cut, "lm_truncated.safetensors");
    th_write(cut, bytes, len / 2);
    tr_lm m3;
    tr_vocab *v3 = NULL;
    assert_int_not_equal(tr_lm_load(&m3, &v3, NULL, cut, &err), TR_OK);
    assert_non_null(strstr(err.msg, cut));
    assert_null(v3);
    free(bytes);
    tr_lm_free(&m);
    tr_lm_free(&m2);
    tr_vocab_free(v);
    tr_vocab_free(v2);
}

/* A file whose config disagrees with its tensors, or of another model kind. */
static void test_checkpoint_mismatch(void **state)
{
    (void)state;
    tr_lm_config cfg = {5, 3, 4, 1, 0.0f, 1};
    tr_lm m, m2;
    tr_vocab *v = tr_vocab_new(), *v2 = NULL;
    tr_err err;
    tr_vocab_add(v, "a", 1);
    tr_vocab_add(v, "b", 1);
    tr_vocab_add(v, "c", 1);
    assert_int_equal(tr_lm_init(&m, &cfg, &err), TR_OK);
    char path[512];
    th_tmp(path, sizeof path, "lm_mismatch.safetensors");
    char *words = tr_vocab_to_string(v);
    tr_meta meta[] = {{"triad.model", "lm"}, {"triad.config",
        "{\"vocab_size\":5,\"emb\":3,\"hidden\":6,\"layers\":1,\"dropout\":0,\"lower\":true}"}, {"triad.vocab", words}};
    assert_int_equal(tr_params_save(path, &m.params, meta, 3, &err), TR_OK);
    assert_int_not_equal(tr_lm_load(&m2, &v2, NULL, path, &err), TR_OK);
    assert_non_null(strstr(err.msg, "rnn.weight_ih_l0"));
    assert_non_null(strstr(err.msg, path));
    meta[0].value = "lightrnn";
    assert_int_equal(tr_params_save(path, &m.params, meta, 3, &err), TR_OK);
    assert_int_not_equal(tr_lm_load(&m2, &v2, NULL, path, &err), TR_OK);
    assert_non_null(strstr(err.msg, "not a triad language model"));
    free(words);
    tr_lm_free(&m);
    tr_vocab_free(v);
}

int main(void)
{
    tr_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_forward_backward),
        cmocka_unit_test(test_golden_optimizers),
        cmocka_unit_test(test_lm_loss_grad),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_checkpoint_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
