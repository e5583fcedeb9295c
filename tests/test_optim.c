/* Tests of the optim module: SGD, Adam and gradient clipping against golden
 * values from PyTorch 1.13 (tests/golden/optim_golden.h, made by
 * scripts/make_optim_golden.py), sparse parameters, state round trips,
 * the plateau schedule and option checking. */
#include "harness.h"

#include "triad/optim.h"

#include <math.h>
#include <string.h>

#include "golden/optim_golden.h"

/* ---------------------------------------------------------------- helpers */

/* A two-parameter model shaped like the golden fixture: "a" (3, 4), which may
 * be row-sparse, and "b" (5,). */
typedef struct {
    tr_arena arena;
    tr_params ps;
} model;

static void model_init(model *m, int sparse_a)
{
    const int64_t sa[2] = {OG_A_ROWS, OG_A_COLS}, sb[1] = {OG_B_SIZE};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            tr_arena_plan(&m->arena);
        else
            assert_int_equal(tr_arena_init(&m->arena, m->arena.cap, NULL), TR_OK);
        tr_params_init(&m->ps, 2);
        tr_params_add(&m->ps, &m->arena, "a", 2, sa, sparse_a);
        tr_params_add(&m->ps, &m->arena, "b", 1, sb, 0);
        if (pass == 0)
            tr_params_free(&m->ps);
    }
    memcpy(m->ps.p[0].value.data, og_a0, sizeof og_a0);
    memcpy(m->ps.p[1].value.data, og_b0, sizeof og_b0);
}

static void model_free(model *m)
{
    tr_params_free(&m->ps);
    tr_arena_free(&m->arena);
}

/* Loads the golden gradient of step s (touching every row of a sparse a). */
static void set_grads(model *m, int s)
{
    tr_params_zero_grad(&m->ps);
    tr_param *a = &m->ps.p[0];
    memcpy(a->grad.data, og_grad_a[s], sizeof og_grad_a[s]);
    memcpy(m->ps.p[1].grad.data, og_grad_b[s], sizeof og_grad_b[s]);
    if (a->sparse)
        for (int r = 0; r < OG_A_ROWS; r++)
            tr_param_touch(a, r);
}

static tr_opt_config run_config(const og_run *r)
{
    tr_opt_config c = tr_opt_defaults(r->adam ? TR_OPT_ADAM : TR_OPT_SGD);
    c.lr = r->lr;
    c.momentum = r->momentum;
    c.weight_decay = r->weight_decay;
    return c;
}

static void assert_close(const float *got, const float *want, int n, const char *what, int run, int step)
{
    for (int i = 0; i < n; i++) {
        double tol = 1e-6 * fabs((double)want[i]) + 1e-7;
        if (!(fabs((double)got[i] - (double)want[i]) <= tol))
            fail_msg("%s: run %s step %d element %d: got %.9g, want %.9g", what,
                     og_runs[run].name, step + 1, i, (double)got[i], (double)want[i]);
    }
}

static void assert_same_bits(const tr_tensor *x, const tr_tensor *y, const char *what)
{
    assert_int_equal(x->size, y->size);
    if (memcmp(x->data, y->data, (size_t)x->size * sizeof(float)) != 0)
        fail_msg("%s: tensors differ", what);
}

/* ---------------------------------------------------------------- golden */

static void golden_runs(int sparse_a)
{
    for (int run = 0; run < OG_NRUNS; run++) {
        const og_run *r = &og_runs[run];
        model m;
        model_init(&m, sparse_a);
        tr_opt_config c = run_config(r);
        tr_optim o;
        tr_err err;
        assert_int_equal(tr_optim_init(&o, &c, &m.ps, &err), TR_OK);
        for (int s = 0; s < OG_NSTEPS; s++) {
            set_grads(&m, s);
            if (r->max_norm > 0) {
                double norm = tr_clip_grad_norm(&m.ps, r->max_norm);
                assert_true(fabs(norm - og_clip_norm[s]) <= 1e-6 * og_clip_norm[s]);
            }
            tr_optim_step(&o);
            assert_close(m.ps.p[0].value.data, og_want_a[run][s], OG_A_SIZE, "a", run, s);
            assert_close(m.ps.p[1].value.data, og_want_b[run][s], OG_B_SIZE, "b", run, s);
        }
        assert_int_equal(o.step, OG_NSTEPS);
        tr_optim_free(&o);
        model_free(&m);
    }
}

static void test_golden_dense(void **state)
{
    (void)state;
    golden_runs(0);
}

/* The same runs with "a" row-sparse and every row touched: the sparse paths
 * (plain SGD's touched rows, clipping's touched rows) must agree with torch. */
static void test_golden_sparse(void **state)
{
    (void)state;
    golden_runs(1);
}

/* ---------------------------------------------------------------- sparse */

/* An (8, 3) embedding, sparse in one set and dense in another, same values. */
typedef struct {
    tr_arena arena;
    tr_params ps;
} emb;

#define E_ROWS 8
#define E_COLS 3

static void emb_init(emb *e, int sparse)
{
    const int64_t s[2] = {E_ROWS, E_COLS};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            tr_arena_plan(&e->arena);
        else
            assert_int_equal(tr_arena_init(&e->arena, e->arena.cap, NULL), TR_OK);
        tr_params_init(&e->ps, 1);
        tr_params_add(&e->ps, &e->arena, "encoder.weight", 2, s, sparse);
        if (pass == 0)
            tr_params_free(&e->ps);
    }
    tr_rng rng;
    tr_rng_seed(&rng, 7, 1);
    tr_rng_fill_uniform(&rng, &e->ps.p[0].value, 0.5f);
}

static void emb_free(emb *e)
{
    tr_params_free(&e->ps);
    tr_arena_free(&e->arena);
}

/* Gradient g(row, j) on one row (as an embedding backward would write it). */
static void emb_grad_row(emb *e, int row, float scale)
{
    tr_param *p = &e->ps.p[0];
    for (int j = 0; j < E_COLS; j++)
        p->grad.data[row * E_COLS + j] += scale * (0.25f * (float)(j + 1) - 0.4f);
    if (p->sparse)
        tr_param_touch(p, row);
}

static void test_sparse_sgd_touched_rows_only(void **state)
{
    (void)state;
    emb sp, de;
    emb_init(&sp, 1);
    emb_init(&de, 0);
    float before[E_ROWS * E_COLS];
    memcpy(before, sp.ps.p[0].value.data, sizeof before);

    tr_opt_config c = tr_opt_defaults(TR_OPT_SGD);
    c.lr = 0.5f;
    tr_optim os, od;
    assert_int_equal(tr_optim_init(&os, &c, &sp.ps, NULL), TR_OK);
    assert_int_equal(tr_optim_init(&od, &c, &de.ps, NULL), TR_OK);
    assert_int_equal(os.state.n, 0); /* plain SGD keeps no state */

    for (int step = 0; step < 3; step++) {
        tr_params_zero_grad(&sp.ps);
        tr_params_zero_grad(&de.ps);
        int rows[2] = {1 + step, 5};
        for (int k = 0; k < 2; k++) {
            emb_grad_row(&sp, rows[k], 1.0f + (float)step);
            emb_grad_row(&de, rows[k], 1.0f + (float)step);
        }
        tr_optim_step(&os);
        tr_optim_step(&od);
        assert_same_bits(&sp.ps.p[0].value, &de.ps.p[0].value, "sparse vs dense SGD");
    }
    /* Rows 0, 4, 6, 7 never touched: unchanged. */
    const int untouched[4] = {0, 4, 6, 7};
    for (int k = 0; k < 4; k++)
        assert_memory_equal(sp.ps.p[0].value.data + untouched[k] * E_COLS,
                            before + untouched[k] * E_COLS, E_COLS * sizeof(float));

    /* The sparse path reads only touched rows: garbage in an untouched row's
     * gradient (never there in real use) must not reach the weights. */
    tr_params_zero_grad(&sp.ps);
    emb_grad_row(&sp, 2, 1.0f);
    sp.ps.p[0].grad.data[7 * E_COLS] = NAN;
    tr_optim_step(&os);
    assert_memory_equal(sp.ps.p[0].value.data + 7 * E_COLS, before + 7 * E_COLS, E_COLS * sizeof(float));
    sp.ps.p[0].grad.data[7 * E_COLS] = 0.0f;

    tr_optim_free(&os);
    tr_optim_free(&od);
    emb_free(&sp);
    emb_free(&de);
}

/* Momentum, weight decay and Adam move untouched rows too (the buffer
 * carries, the decay pulls): a sparse parameter must then be updated on every
 * row exactly as the dense one. */
static void sparse_equals_dense(tr_opt_config c)
{
    emb sp, de;
    emb_init(&sp, 1);
    emb_init(&de, 0);
    tr_optim os, od;
    assert_int_equal(tr_optim_init(&os, &c, &sp.ps, NULL), TR_OK);
    assert_int_equal(tr_optim_init(&od, &c, &de.ps, NULL), TR_OK);

    /* Step 1 touches row 2 only; step 2 touches row 4 only. */
    tr_params_zero_grad(&sp.ps);
    tr_params_zero_grad(&de.ps);
    emb_grad_row(&sp, 2, 1.0f);
    emb_grad_row(&de, 2, 1.0f);
    tr_optim_step(&os);
    tr_optim_step(&od);
    assert_same_bits(&sp.ps.p[0].value, &de.ps.p[0].value, "step 1");

    float row2[E_COLS];
    memcpy(row2, sp.ps.p[0].value.data + 2 * E_COLS, sizeof row2);
    tr_params_zero_grad(&sp.ps);
    tr_params_zero_grad(&de.ps);
    emb_grad_row(&sp, 4, 2.0f);
    emb_grad_row(&de, 4, 2.0f);
    tr_optim_step(&os);
    tr_optim_step(&od);
    assert_same_bits(&sp.ps.p[0].value, &de.ps.p[0].value, "step 2");
    /* Row 2 has zero gradient at step 2 but still moves. */
    assert_true(memcmp(row2, sp.ps.p[0].value.data + 2 * E_COLS, sizeof row2) != 0);

    tr_optim_free(&os);
    tr_optim_free(&od);
    emb_free(&sp);
    emb_free(&de);
}

static void test_sparse_momentum_updates_all_rows(void **state)
{
    (void)state;
    tr_opt_config c = tr_opt_defaults(TR_OPT_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    sparse_equals_dense(c);
    c.momentum = 0.0f;
    c.weight_decay = 0.01f;
    sparse_equals_dense(c);
    c = tr_opt_defaults(TR_OPT_ADAM);
    c.lr = 0.01f;
    sparse_equals_dense(c);
}

/* ---------------------------------------------------------------- state */

static void round_trip(const tr_opt_config *c)
{
    /* Uninterrupted: 4 steps. */
    model m1;
    model_init(&m1, 0);
    tr_optim o1;
    assert_int_equal(tr_optim_init(&o1, c, &m1.ps, NULL), TR_OK);
    for (int s = 0; s < 4; s++) {
        set_grads(&m1, s);
        tr_optim_step(&o1);
    }

    /* Interrupted: 2 steps, then state and step counter copied by name into a
     * fresh optimiser (what a checkpoint restore does), then 2 more. */
    model m2;
    model_init(&m2, 0);
    tr_optim o2;
    assert_int_equal(tr_optim_init(&o2, c, &m2.ps, NULL), TR_OK);
    for (int s = 0; s < 2; s++) {
        set_grads(&m2, s);
        tr_optim_step(&o2);
    }
    tr_optim o3;
    assert_int_equal(tr_optim_init(&o3, c, &m2.ps, NULL), TR_OK);
    assert_int_equal(o3.state.n, o2.state.n);
    for (int i = 0; i < o2.state.n; i++) {
        const tr_param *src = &o2.state.p[i];
        tr_param *dst = tr_params_find(&o3.state, src->name);
        assert_non_null(dst);
        assert_true(tr_tensor_same_shape(&src->value, &dst->value));
        memcpy(dst->value.data, src->value.data, (size_t)src->value.size * sizeof(float));
    }
    o3.step = o2.step;
    tr_optim_free(&o2);
    for (int s = 2; s < 4; s++) {
        set_grads(&m2, s);
        tr_optim_step(&o3);
    }
    for (int i = 0; i < m1.ps.n; i++)
        assert_same_bits(&m1.ps.p[i].value, &m2.ps.p[i].value, m1.ps.p[i].name);
    for (int i = 0; i < o1.state.n; i++)
        assert_same_bits(&o1.state.p[i].value, &o3.state.p[i].value, o1.state.p[i].name);
    assert_int_equal(o3.step, 4);

    tr_optim_free(&o1);
    tr_optim_free(&o3);
    model_free(&m1);
    model_free(&m2);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    tr_opt_config c = tr_opt_defaults(TR_OPT_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    c.weight_decay = 0.01f;
    round_trip(&c);
    c = tr_opt_defaults(TR_OPT_ADAM);
    c.lr = 0.01f;
    c.weight_decay = 0.1f;
    round_trip(&c);
}

static void test_state_names(void **state)
{
    (void)state;
    model m;
    model_init(&m, 1);
    tr_optim o;
    tr_opt_config c = tr_opt_defaults(TR_OPT_SGD);
    c.momentum = 0.5f;
    assert_int_equal(tr_optim_init(&o, &c, &m.ps, NULL), TR_OK);
    assert_int_equal(o.state.n, 2);
    assert_string_equal(o.state.p[0].name, "a.momentum_buffer");
    assert_string_equal(o.state.p[1].name, "b.momentum_buffer");
    assert_true(tr_tensor_same_shape(&o.state.p[0].value, &m.ps.p[0].value));
    assert_int_equal(o.state.p[0].sparse, 0);
    tr_optim_free(&o);

    c = tr_opt_defaults(TR_OPT_ADAM);
    assert_int_equal(tr_optim_init(&o, &c, &m.ps, NULL), TR_OK);
    assert_int_equal(o.state.n, 4);
    const char *want[4] = {"a.exp_avg", "a.exp_avg_sq", "b.exp_avg", "b.exp_avg_sq"};
    for (int i = 0; i < 4; i++) {
        tr_param *p = tr_params_find(&o.state, want[i]);
        assert_non_null(p);
        assert_true(tr_tensor_same_shape(&p->value, &m.ps.p[i / 2].value));
        for (int64_t j = 0; j < p->value.size; j++)
            assert_true(p->value.data[j] == 0.0f);
    }
    /* State has no gradient storage; the parameter-set helpers still work. */
    tr_params_zero_grad(&o.state);
    assert_true(tr_params_grad_norm(&o.state) == 0.0);
    tr_optim_free(&o);
    model_free(&m);

    /* A name that cannot take the suffix is refused with a message. */
    tr_arena a;
    tr_params ps;
    const int64_t s[1] = {2};
    const char *longname = "decoder.layers.0.self_attention.in_proj_weight.lora_down.x"; /* 58 chars */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            tr_arena_plan(&a);
        else
            assert_int_equal(tr_arena_init(&a, a.cap, NULL), TR_OK);
        tr_params_init(&ps, 1);
        tr_params_add(&ps, &a, longname, 1, s, 0);
        if (pass == 0)
            tr_params_free(&ps);
    }
    tr_err err;
    assert_int_equal(tr_optim_init(&o, &c, &ps, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, longname));
    tr_params_free(&ps);
    tr_arena_free(&a);
}

/* ---------------------------------------------------------------- clipping */

static void test_clip(void **state)
{
    (void)state;
    model m;
    model_init(&m, 1);
    tr_param *a = &m.ps.p[0], *b = &m.ps.p[1];

    /* Norm 13 from a sparse row (3, 4) and a dense 12. */
    tr_params_zero_grad(&m.ps);
    tr_param_touch(a, 1);
    a->grad.data[1 * OG_A_COLS + 0] = 3.0f;
    a->grad.data[1 * OG_A_COLS + 2] = 4.0f;
    b->grad.data[4] = 12.0f;

    /* Disabled and above-norm thresholds: norm returned, nothing changes. */
    assert_true(fabs(tr_clip_grad_norm(&m.ps, 0.0) - 13.0) < 1e-12);
    assert_true(fabs(tr_clip_grad_norm(&m.ps, 20.0) - 13.0) < 1e-12);
    assert_true(fabs(tr_clip_grad_norm(&m.ps, 13.0) - 13.0) < 1e-12); /* coef just below 1 */
    assert_true(a->grad.data[4] == (float)(3.0 * (13.0 / (13.0 + 1e-6))));
    a->grad.data[4] = 3.0f;
    b->grad.data[4] = 12.0f;
    a->grad.data[6] = 4.0f;

    /* Clipped to 6.5: coefficient 6.5 / (13 + 1e-6). */
    assert_true(fabs(tr_clip_grad_norm(&m.ps, 6.5) - 13.0) < 1e-12);
    const float coef = (float)(6.5 / (13.0 + 1e-6));
    assert_true(a->grad.data[4] == 3.0f * coef);
    assert_true(a->grad.data[6] == 4.0f * coef);
    assert_true(b->grad.data[4] == 12.0f * coef);
    assert_true(fabs(tr_params_grad_norm(&m.ps) - 6.5) < 1e-5);

    /* Below the threshold now: a second clip is a no-op. */
    float ga[OG_A_SIZE], gb[OG_B_SIZE];
    memcpy(ga, a->grad.data, sizeof ga);
    memcpy(gb, b->grad.data, sizeof gb);
    tr_clip_grad_norm(&m.ps, 7.0);
    assert_memory_equal(ga, a->grad.data, sizeof ga);
    assert_memory_equal(gb, b->grad.data, sizeof gb);
    model_free(&m);
}

/* ---------------------------------------------------------------- schedule */

static void test_plateau(void **state)
{
    (void)state;
    model m;
    model_init(&m, 0);
    tr_opt_config c = tr_opt_defaults(TR_OPT_SGD);
    tr_optim o;
    assert_int_equal(tr_optim_init(&o, &c, &m.ps, NULL), TR_OK);

    tr_plateau p;
    tr_plateau_init(&p, 4.0f, 0.0f);
    assert_true(isinf(p.best) && p.best > 0);
    assert_int_equal(tr_plateau_update(&p, &o, 100.0), 0);
    assert_true(o.cfg.lr == 1.0f && p.best == 100.0);
    assert_int_equal(tr_plateau_update(&p, &o, 90.0), 0);
    assert_true(o.cfg.lr == 1.0f && p.best == 90.0);
    assert_int_equal(tr_plateau_update(&p, &o, 95.0), 1);
    assert_true(o.cfg.lr == 0.25f && p.best == 90.0);
    assert_int_equal(tr_plateau_update(&p, &o, 90.0), 1); /* equal is no improvement */
    assert_true(o.cfg.lr == 0.0625f);
    assert_int_equal(tr_plateau_update(&p, &o, 80.0), 0);
    assert_true(o.cfg.lr == 0.0625f && p.best == 80.0);

    /* A 10% threshold: 75 beats 80 but not by 10%. */
    tr_plateau_init(&p, 2.0f, 0.1f);
    o.cfg.lr = 1.0f;
    assert_int_equal(tr_plateau_update(&p, &o, 80.0), 0);
    assert_int_equal(tr_plateau_update(&p, &o, 75.0), 1);
    assert_true(o.cfg.lr == 0.5f && p.best == 80.0);
    assert_int_equal(tr_plateau_update(&p, &o, 71.0), 0);
    assert_true(o.cfg.lr == 0.5f && p.best == 71.0);

    /* threshold 1 would make inf * 0 = NaN: the first value still counts. */
    tr_plateau_init(&p, 2.0f, 1.0f);
    assert_int_equal(tr_plateau_update(&p, &o, 50.0), 0);

    tr_optim_free(&o);
    model_free(&m);
}

/* ---------------------------------------------------------------- options */

static void expect_bad(tr_opt_config c, const char *option, const char *value)
{
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_opt_config_check(&c, &err), TR_ERR_ARG);
    assert_int_equal(err.code, TR_ERR_ARG);
    if (!strstr(err.msg, option) || (value && !strstr(err.msg, value)))
        fail_msg("message '%s' should name %s and %s", err.msg, option, value ? value : "");
    /* tr_optim_init refuses the same configuration. */
    model m;
    model_init(&m, 0);
    tr_optim o;
    assert_int_equal(tr_optim_init(&o, &c, &m.ps, &err), TR_ERR_ARG);
    model_free(&m);
}

static void test_config_check(void **state)
{
    (void)state;
    tr_err err;
    tr_opt_config sgd = tr_opt_defaults(TR_OPT_SGD), adam = tr_opt_defaults(TR_OPT_ADAM), c;
    assert_int_equal(tr_opt_config_check(&sgd, &err), TR_OK);
    assert_int_equal(tr_opt_config_check(&adam, &err), TR_OK);
    assert_true(sgd.lr == 1.0f && sgd.momentum == 0.0f && sgd.weight_decay == 0.0f);
    assert_true(adam.lr == 1e-3f && adam.beta1 == 0.9f && adam.beta2 == 0.999f && adam.eps == 1e-8f);

    c = sgd;
    c.lr = -0.1f;
    tr_err_clear(&err);
    assert_int_equal(tr_opt_config_check(&c, &err), TR_ERR_ARG);
    assert_string_equal(err.msg, "--lr must be a positive number, got -0.1");
    c.lr = 0.0f;
    expect_bad(c, "--lr", "0");
    c.lr = NAN;
    expect_bad(c, "--lr", "nan");
    c.lr = INFINITY;
    expect_bad(c, "--lr", "inf");

    c = sgd;
    c.momentum = 1.5f;
    tr_err_clear(&err);
    assert_int_equal(tr_opt_config_check(&c, &err), TR_ERR_ARG);
    assert_string_equal(err.msg, "--momentum must be in [0, 1), got 1.5");
    c.momentum = 1.0f;
    expect_bad(c, "--momentum", "1");
    c.momentum = -0.1f;
    expect_bad(c, "--momentum", "-0.1");

    c = sgd;
    c.weight_decay = -0.01f;
    expect_bad(c, "--weight-decay", "-0.01");
    c = adam;
    c.weight_decay = NAN;
    expect_bad(c, "--weight-decay", NULL);

    c = adam;
    c.beta1 = 1.0f;
    expect_bad(c, "--beta1", "1");
    c = adam;
    c.beta2 = -0.5f;
    expect_bad(c, "--beta2", "-0.5");
    c = adam;
    c.eps = 0.0f;
    expect_bad(c, "--eps", "0");
    c = adam;
    c.eps = -1e-8f;
    expect_bad(c, "--eps", "-1e-08");

    tr_opt_kind k = TR_OPT_ADAM;
    assert_int_equal(tr_opt_kind_parse("sgd", &k, &err), TR_OK);
    assert_int_equal(k, TR_OPT_SGD);
    assert_int_equal(tr_opt_kind_parse("adam", &k, &err), TR_OK);
    assert_int_equal(k, TR_OPT_ADAM);
    assert_int_equal(tr_opt_kind_parse("x", &k, &err), TR_ERR_ARG);
    assert_string_equal(err.msg, "--optim must be sgd or adam, got 'x'");
    assert_int_equal(tr_opt_kind_parse("SGD", &k, &err), TR_ERR_ARG);
    assert_int_equal(k, TR_OPT_ADAM); /* unchanged on failure */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_dense),
        cmocka_unit_test(test_golden_sparse),
        cmocka_unit_test(test_sparse_sgd_touched_rows_only),
        cmocka_unit_test(test_sparse_momentum_updates_all_rows),
        cmocka_unit_test(test_state_round_trip),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_plateau),
        cmocka_unit_test(test_config_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
