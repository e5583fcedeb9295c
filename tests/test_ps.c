/* Tests of the parameter server's core: update rules against hand-computed
 * vectors (DC-ASGD-c and -a for a sequence of pulls and pushes from two
 * workers), sharding, bsp rounds, ssp holding workers back, staleness
 * counters, dead workers, checkpoints, and every bad-input path of the
 * configuration parsers and the server. Training runs are in test_ps_train.c. */
#include "harness.h"

#include "ps/ps_internal.h"
#include "triad/ps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* A parameter set of one or two parameters: "w" (rows, cols) and, when
 * sparse_rows > 0, "emb" (sparse_rows, 2), row-sparse. */
typedef struct {
    tr_arena arena;
    tr_params ps;
} pset;

static void pset_init(pset *m, int64_t rows, int64_t cols, int64_t sparse_rows)
{
    const int64_t sw[2] = {rows, cols}, se[2] = {sparse_rows, 2};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            tr_arena_plan(&m->arena);
        else
            assert_int_equal(tr_arena_init(&m->arena, m->arena.cap, NULL), TR_OK);
        tr_params_init(&m->ps, 2);
        tr_params_add(&m->ps, &m->arena, "w", cols > 1 ? 2 : 1, sw, 0);
        if (sparse_rows > 0)
            tr_params_add(&m->ps, &m->arena, "emb", 2, se, TR_PARAM_SPARSE);
        if (pass == 0)
            tr_params_free(&m->ps);
    }
}

static void pset_free(pset *m)
{
    tr_params_free(&m->ps);
    tr_arena_free(&m->arena);
}

/* S servers over the layout of m, with rule and mode, M workers; a direct
 * transport at time *now. */
typedef struct {
    tr_ps_layout l;
    tr_ps_server *srv[4];
    int S;
    tr_ps_direct d;
    tr_ps_transport t;
    double now;
} rig;

static void rig_init(rig *r, const pset *m, int S, int M, tr_ps_rule rule, tr_ps_mode mode, double timeout)
{
    tr_err err;
    memset(r, 0, sizeof *r);
    assert_int_equal(tr_ps_layout_init(&r->l, &m->ps, S, &err), TR_OK);
    r->S = S;
    for (int s = 0; s < S; s++) {
        tr_ps_server_config c = {&r->l, s, M, rule, mode, 1000000, 0, timeout};
        if (tr_ps_server_new(&r->srv[s], &c, &m->ps, &err))
            fail_msg("%s", err.msg);
    }
    tr_ps_direct_init(&r->d, r->srv, S, &r->now, &r->t);
}

static void rig_free(rig *r)
{
    for (int s = 0; s < r->S; s++)
        tr_ps_server_free(r->srv[s]);
    tr_ps_direct_free(&r->d);
    tr_ps_layout_free(&r->l);
}

static tr_ps_client *client(rig *r, int worker)
{
    tr_ps_client *c = NULL;
    tr_err err;
    assert_int_equal(tr_ps_client_new(&c, &r->l, worker, &r->t, &err), TR_OK);
    return c;
}

static void pull(tr_ps_client *c, pset *m)
{
    float *dst[2];
    tr_ps_values(&m->ps, dst);
    tr_err err;
    if (tr_ps_wait(c, tr_ps_pull(c, dst, NULL, NULL), &err))
        fail_msg("pull: %s", err.msg);
}

static void push(tr_ps_client *c, pset *m, const float *g, int64_t n)
{
    memcpy(m->ps.p[0].grad.data, g, (size_t)n * sizeof(float));
    tr_err err;
    if (tr_ps_wait(c, tr_ps_push(c, &m->ps, 1, 0.5), &err))
        fail_msg("push: %s", err.msg);
}

static void assert_vec(const float *got, const double *want, int n, double tol, const char *what)
{
    for (int i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol))
            fail_msg("%s[%d]: got %.9g, want %.9g", what, i, (double)got[i], want[i]);
}

/* The server's values of table 0 (all shards) through a monitor snapshot. */
static void server_values(rig *r, pset *out)
{
    tr_ps_client *mon = client(r, -1);
    float *dst[2];
    tr_ps_values(&out->ps, dst);
    tr_err err;
    if (tr_ps_snapshot(mon, dst, NULL, 0, &err))
        fail_msg("snapshot: %s", err.msg);
    tr_ps_client_free(mon);
}

/* ---------------------------------------------------------------- DC-ASGD by hand */

static const float W0[3] = {1.0f, -2.0f, 0.5f};
static const float GA[3] = {0.5f, 1.0f, -1.0f}, GB[3] = {2.0f, -1.0f, 0.5f}, GC[3] = {1, 1, 1}, GD[3] = {-1, 2, 0};

/* Worker 0 and 1 pull w0; 0 pushes ga (no drift); 1 pushes gb, computed on
 * w0 while the weights moved to w1; both pull w2; 0 pushes gc; 1 pushes gd
 * computed on w2 while the weights moved to w3. Expected values of the
 * weights after each push in want[4][3]. */
static void run_sequence(tr_ps_rule rule, int S, const double want[4][3], int64_t *stale_sum, int64_t *stale_max)
{
    pset m0, m1, view;
    pset_init(&m0, 3, 1, 0);
    pset_init(&m1, 3, 1, 0);
    pset_init(&view, 3, 1, 0);
    memcpy(m0.ps.p[0].value.data, W0, sizeof W0);
    tr_ps_mode asp = {TR_PS_ASP, 0};
    rig r;
    rig_init(&r, &m0, S, 2, rule, asp, 0);
    tr_ps_client *c0 = client(&r, 0), *c1 = client(&r, 1);
    tr_err err;
    assert_int_equal(tr_ps_hello(c0, &err), TR_OK);
    assert_int_equal(tr_ps_hello(c1, &err), TR_OK);
    pull(c0, &m0);
    pull(c1, &m1);
    assert_vec(m1.ps.p[0].value.data, (const double[]){1.0, -2.0, 0.5}, 3, 0, "pulled w0");
    push(c0, &m0, GA, 3);
    server_values(&r, &view);
    assert_vec(view.ps.p[0].value.data, want[0], 3, 1e-6, "after ga");
    push(c1, &m1, GB, 3);
    server_values(&r, &view);
    assert_vec(view.ps.p[0].value.data, want[1], 3, 1e-6, "after gb");
    pull(c0, &m0);
    pull(c1, &m1);
    assert_vec(m0.ps.p[0].value.data, want[1], 3, 1e-6, "pulled w2");
    push(c0, &m0, GC, 3);
    server_values(&r, &view);
    assert_vec(view.ps.p[0].value.data, want[2], 3, 1e-6, "after gc");
    push(c1, &m1, GD, 3);
    server_values(&r, &view);
    assert_vec(view.ps.p[0].value.data, want[3], 3, 1e-6, "after gd");
    const tr_ps_stats *st = tr_ps_server_stats(r.srv[0]);
    assert_int_equal(st->pushes, 4);
    assert_int_equal(st->updates, 4);
    *stale_sum = st->stale_sum;
    *stale_max = st->stale_max;
    tr_ps_client_free(c0);
    tr_ps_client_free(c1);
    rig_free(&r);
    pset_free(&m0);
    pset_free(&m1);
    pset_free(&view);
}

static void test_dcasgd_c_by_hand(void **state)
{
    (void)state;
    /* lr 0.1, lambda 0.04:
     *   w1 = w0 - 0.1 ga                                       = (0.95, -2.1, 0.6)
     *   drift = w1 - w0 = (-0.05, -0.1, 0.1); 0.04 gb^2 drift = (-0.008, -0.004, 0.001)
     *   w2 = w1 - 0.1 (gb + that) = (0.95 - 0.1992, -2.1 + 0.1004, 0.6 - 0.0501)
     *   w3 = w2 - 0.1 gc
     *   drift = w3 - w2 = -0.1; 0.04 gd^2 drift = (-0.004, -0.016, 0)
     *   w4 = w3 - 0.1 (gd + that) = (0.6508 + 0.1004, -2.0996 - 0.1984, 0.4499) */
    static const double want[4][3] = {
        {0.95, -2.1, 0.6}, {0.7508, -1.9996, 0.5499}, {0.6508, -2.0996, 0.4499}, {0.7512, -2.2980, 0.4499}};
    tr_ps_rule rule = tr_ps_rule_defaults(TR_PS_DCASGD_C);
    assert_true(rule.lambda == 0.04f && rule.lr == 0.1f);
    int64_t ss, sm;
    for (int S = 1; S <= 3; S++) {
        run_sequence(rule, S, want, &ss, &sm);
        assert_int_equal(ss, 2); /* gb and gd each missed one update */
        assert_int_equal(sm, 1);
    }
}

static void test_dcasgd_a_by_hand(void **state)
{
    (void)state;
    /* lambda0 2, mom 0.95, eps 1e-7; ms starts at 0 and is updated before
     * lambda_t = 2 / sqrt(ms + eps):
     *   ga: ms = 0.05 ga^2 = (0.0125, 0.05, 0.05); no drift: w1 = (0.95, -2.1, 0.6)
     *   gb: ms = 0.95 ms + 0.05 gb^2 = (0.211875, 0.0975, 0.06)
     *       e.g. element 0: lambda = 2 / sqrt(0.2118751) = 4.345003;
     *       dc = 4.345003 * 4 * -0.05 = -0.8690006; w = 0.95 - 0.1 (2 - 0.8690006) = 0.83690006
     *   gc: no drift; gd: ms = (0.2887171875, 0.33549375, 0.10165), drift -0.1 */
    static const double want[4][3] = {{0.95, -2.1, 0.6},
                                      {0.836900051, -1.935948771, 0.529587602},
                                      {0.736900051, -2.035948771, 0.429587602},
                                      {0.874121528, -2.097831590, 0.429587602}};
    tr_ps_rule rule = tr_ps_rule_defaults(TR_PS_DCASGD_A);
    assert_true(rule.lambda == 2.0f && rule.ms_decay == 0.95f && rule.eps == 1e-7f);
    int64_t ss, sm;
    for (int S = 1; S <= 3; S++)
        run_sequence(rule, S, want, &ss, &sm);
}

/* Without delay (one worker pulling before each push) both DC rules are SGD. */
static void test_dcasgd_without_delay_is_sgd(void **state)
{
    (void)state;
    float w_sgd[3], w_dc[3];
    const tr_ps_rule_kind kinds[3] = {TR_PS_SGD, TR_PS_DCASGD_C, TR_PS_DCASGD_A};
    for (int k = 0; k < 3; k++) {
        pset m;
        pset_init(&m, 3, 1, 0);
        memcpy(m.ps.p[0].value.data, W0, sizeof W0);
        rig r;
        rig_init(&r, &m, 1, 1, tr_ps_rule_defaults(kinds[k]), (tr_ps_mode){TR_PS_ASP, 0}, 0);
        tr_ps_client *c = client(&r, 0);
        const float *gs[4] = {GA, GB, GC, GD};
        for (int i = 0; i < 4; i++) {
            pull(c, &m);
            push(c, &m, gs[i], 3);
        }
        pull(c, &m);
        memcpy(k == 0 ? w_sgd : w_dc, m.ps.p[0].value.data, sizeof w_dc);
        if (k > 0)
            assert_memory_equal(w_sgd, w_dc, sizeof w_dc);
        tr_ps_client_free(c);
        rig_free(&r);
        pset_free(&m);
    }
}

/* ---------------------------------------------------------------- other rules */

static void test_momentum_and_adagrad(void **state)
{
    (void)state;
    float w[3], buf[3] = {0, 0, 0}, sum[3] = {0, 0, 0};
    tr_ps_rule mo = tr_ps_rule_defaults(TR_PS_MOMENTUM), ad = tr_ps_rule_defaults(TR_PS_ADAGRAD);
    memcpy(w, W0, sizeof w);
    tr_ps_rule_apply(&mo, 0.1f, w, GA, buf, NULL, 3);
    tr_ps_rule_apply(&mo, 0.1f, w, GB, buf, NULL, 3);
    /* buf = 0.9 ga + gb; w = w0 - 0.1 ga - 0.1 (0.9 ga + gb) */
    assert_vec(buf, (const double[]){0.45 + 2.0, 0.9 - 1.0, -0.9 + 0.5}, 3, 1e-6, "momentum buffer");
    assert_vec(w, (const double[]){1.0 - 0.05 - 0.245, -2.0 - 0.1 + 0.01, 0.5 + 0.1 + 0.04}, 3, 1e-6, "momentum");
    memcpy(w, W0, sizeof w);
    tr_ps_rule_apply(&ad, 0.1f, w, GA, sum, NULL, 3);
    /* sum = ga^2; w = w0 - 0.1 ga / |ga| */
    assert_vec(w, (const double[]){0.9, -2.1, 0.6}, 3, 1e-6, "adagrad");
    tr_ps_rule_apply(&ad, 0.1f, w, GB, sum, NULL, 3);
    assert_vec(sum, (const double[]){4.25, 2.0, 1.25}, 3, 1e-6, "adagrad sum");
    assert_vec(w, (const double[]){0.9 - 0.2 / sqrt(4.25), -2.1 + 0.1 / sqrt(2.0), 0.6 - 0.05 / sqrt(1.25)}, 3, 1e-6,
               "adagrad step 2");
    assert_true(fabsf(tr_ps_rule_lr(&(tr_ps_rule){.lr = 1, .lr_decay = 0.5f, .decay_every = 2}, 5) - 0.25f) < 1e-7f);
}

/* ---------------------------------------------------------------- consistency */

static void test_bsp_round_is_the_mean(void **state)
{
    (void)state;
    pset m0, m1;
    pset_init(&m0, 3, 1, 0);
    pset_init(&m1, 3, 1, 0);
    memcpy(m0.ps.p[0].value.data, W0, sizeof W0);
    rig r;
    rig_init(&r, &m0, 2, 2, tr_ps_rule_defaults(TR_PS_SGD), (tr_ps_mode){TR_PS_BSP, 0}, 0);
    tr_ps_client *c0 = client(&r, 0), *c1 = client(&r, 1);
    pull(c0, &m0);
    pull(c1, &m1);
    push(c0, &m0, GA, 3);
    /* worker 0 must wait for worker 1's gradient of the round */
    float *dst[1] = {m0.ps.p[0].value.data};
    tr_err err;
    assert_int_not_equal(tr_ps_wait(c0, tr_ps_pull(c0, dst, NULL, NULL), &err), TR_OK);
    assert_non_null(strstr(err.msg, "wait"));
    assert_int_equal(tr_ps_server_stats(r.srv[0])->updates, 0);
    push(c1, &m1, GB, 3);
    assert_int_equal(tr_ps_server_stats(r.srv[0])->updates, 1);
    pull(c0, &m0);
    assert_vec(m0.ps.p[0].value.data, (const double[]){1.0 - 0.125, -2.0, 0.5 + 0.025}, 3, 1e-7, "bsp mean");
    assert_int_equal(tr_ps_server_stats(r.srv[0])->stale_max, 0);
    tr_ps_client_free(c0);
    tr_ps_client_free(c1);
    rig_free(&r);
    pset_free(&m0);
    pset_free(&m1);
}

/* Random interleavings of 3 workers under ssp:s: a pull is refused exactly
 * when the worker is more than s clocks ahead of the slowest, and the
 * instrumented gap never exceeds s. */
static void test_ssp_bound(void **state)
{
    (void)state;
    for (int s = 0; s <= 3; s++) {
        pset m[3];
        for (int w = 0; w < 3; w++)
            pset_init(&m[w], 4, 2, 0);
        rig r;
        rig_init(&r, &m[0], 1, 3, tr_ps_rule_defaults(TR_PS_SGD), (tr_ps_mode){TR_PS_SSP, s}, 0);
        tr_ps_client *c[3];
        int64_t clock[3] = {0, 0, 0};
        int pulled[3] = {0, 0, 0};
        for (int w = 0; w < 3; w++)
            c[w] = client(&r, w);
        tr_rng rng;
        tr_rng_seed(&rng, 7, (uint64_t)s);
        const float g[8] = {0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f};
        int refused = 0;
        for (int step = 0; step < 400; step++) {
            int w = (int)tr_rng_below(&rng, 3);
            if (w == 2 && tr_rng_below(&rng, 4))
                w = (int)tr_rng_below(&rng, 2); /* worker 2 is slow */
            if (pulled[w]) {
                push(c[w], &m[w], g, 8);
                clock[w]++;
                pulled[w] = 0;
                continue;
            }
            int64_t mn = clock[0] < clock[1] ? clock[0] : clock[1];
            mn = mn < clock[2] ? mn : clock[2];
            float *dst[1] = {m[w].ps.p[0].value.data};
            tr_err err;
            tr_status rc = tr_ps_wait(c[w], tr_ps_pull(c[w], dst, NULL, NULL), &err);
            if (clock[w] - mn > s) {
                assert_int_not_equal(rc, TR_OK);
                refused++;
            } else {
                assert_int_equal(rc, TR_OK);
                pulled[w] = 1;
            }
            assert_true(tr_ps_server_stats(r.srv[0])->gap_max <= s);
        }
        assert_true(refused > 0);
        assert_int_equal(tr_ps_server_stats(r.srv[0])->gap_max, s);
        for (int w = 0; w < 3; w++) {
            tr_ps_client_free(c[w]);
            pset_free(&m[w]);
        }
        rig_free(&r);
    }
}

/* ---------------------------------------------------------------- sparse tables */

static void test_sparse_rows(void **state)
{
    (void)state;
    pset m;
    pset_init(&m, 2, 1, 5);
    for (int i = 0; i < 10; i++)
        m.ps.p[1].value.data[i] = (float)i;
    rig r;
    rig_init(&r, &m, 2, 1, tr_ps_rule_defaults(TR_PS_MOMENTUM), (tr_ps_mode){TR_PS_ASP, 0}, 0);
    tr_ps_client *c = client(&r, 0);
    tr_params_zero_grad(&m.ps);
    tr_param *e = &m.ps.p[1];
    tr_param_touch(e, 4);
    tr_param_touch(e, 1);
    e->grad.data[8] = 1.0f; /* row 4 */
    e->grad.data[2] = 2.0f; /* row 1 */
    tr_err err;
    assert_int_equal(tr_ps_wait(c, tr_ps_push(c, &m.ps, 1, NAN), &err), TR_OK);
    /* pull only rows 1 and 4 of emb into a zeroed copy */
    pset got;
    pset_init(&got, 2, 1, 5);
    float *dst[2];
    tr_ps_values(&got.ps, dst);
    const int32_t rows[2] = {4, 1};
    const int32_t *rl[2] = {NULL, rows};
    const int64_t nr[2] = {0, 2};
    assert_int_equal(tr_ps_wait(c, tr_ps_pull(c, dst, rl, nr), &err), TR_OK);
    assert_vec(got.ps.p[1].value.data, (const double[]){0, 0, 2.0 - 0.2, 3, 0, 0, 0, 0, 8.0 - 0.1, 9}, 10, 1e-6,
               "sparse rows");
    /* untouched rows keep their values and their momentum */
    tr_ps_client *mon = client(&r, -1);
    float *st[2];
    pset sb;
    pset_init(&sb, 2, 1, 5);
    tr_ps_values(&sb.ps, st);
    assert_int_equal(tr_ps_snapshot(mon, dst, st, 0, &err), TR_OK);
    assert_vec(sb.ps.p[1].value.data, (const double[]){0, 0, 2, 0, 0, 0, 0, 0, 1, 0}, 10, 0, "lazy momentum");
    assert_vec(got.ps.p[1].value.data, (const double[]){0, 1, 1.8, 3, 4, 5, 6, 7, 7.9, 9}, 10, 1e-6, "snapshot");
    tr_ps_client_free(mon);
    tr_ps_client_free(c);
    rig_free(&r);
    pset_free(&m);
    pset_free(&got);
    pset_free(&sb);
}

static void test_shards(void **state)
{
    (void)state;
    pset m;
    pset_init(&m, 10, 3, 0);
    tr_ps_layout l;
    tr_err err;
    for (int S = 1; S <= 10; S++) {
        assert_int_equal(tr_ps_layout_init(&l, &m.ps, S, &err), TR_OK);
        assert_int_equal(l.t[0].rows, 10);
        assert_int_equal(l.t[0].cols, 3);
        assert_int_equal(tr_ps_shard_row(&l, 0, 0), 0);
        assert_int_equal(tr_ps_shard_row(&l, 0, S), 10);
        for (int64_t row = 0; row < 10; row++) {
            int s = tr_ps_row_server(&l, 0, row);
            assert_true(tr_ps_shard_row(&l, 0, s) <= row && row < tr_ps_shard_row(&l, 0, s + 1));
        }
        tr_ps_layout_free(&l);
    }
    pset_free(&m);
}

/* ---------------------------------------------------------------- faults */

static void test_dead_worker(void **state)
{
    (void)state;
    pset m0, m1;
    pset_init(&m0, 3, 1, 0);
    pset_init(&m1, 3, 1, 0);
    rig r;
    rig_init(&r, &m0, 1, 2, tr_ps_rule_defaults(TR_PS_SGD), (tr_ps_mode){TR_PS_SSP, 1}, 5.0);
    tr_ps_client *c0 = client(&r, 0), *c1 = client(&r, 1);
    pull(c0, &m0);
    pull(c1, &m1);
    push(c1, &m1, GA, 3); /* worker 1 then falls silent at t = 0 */
    for (int i = 0; i < 3; i++) {
        r.now += 1.0;
        pull(c0, &m0);
        push(c0, &m0, GA, 3);
    }
    float *dst[1] = {m0.ps.p[0].value.data};
    tr_err err;
    r.now = 4.0;
    assert_int_not_equal(tr_ps_wait(c0, tr_ps_pull(c0, dst, NULL, NULL), &err), TR_OK); /* 2 ahead of worker 1 */
    int dead[4];
    assert_int_equal(tr_ps_server_check(r.srv[0], 4.5, dead, 4), 0);
    assert_true(tr_ps_server_deadline(r.srv[0]) == 5.0);
    assert_int_equal(tr_ps_server_check(r.srv[0], 5.5, dead, 4), 1);
    assert_int_equal(dead[0], 1);
    r.now = 5.5;
    pull(c0, &m0); /* no longer held back */
    const tr_ps_stats *st = tr_ps_server_stats(r.srv[0]);
    assert_int_equal(st->dead, 1);
    assert_int_equal(st->live, 1);
    /* the dead worker is refused */
    assert_int_not_equal(tr_ps_wait(c1, tr_ps_push(c1, &m1.ps, 1, NAN), &err), TR_OK);
    assert_non_null(strstr(err.msg, "dead"));
    assert_int_equal(tr_ps_bye(c0, &err), TR_OK);
    assert_true(tr_ps_server_idle(r.srv[0]));
    tr_ps_client_free(c0);
    tr_ps_client_free(c1);
    rig_free(&r);
    pset_free(&m0);
    pset_free(&m1);
}

/* ---------------------------------------------------------------- checkpoints */

static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    char path[512];
    th_tmp(path, sizeof path, "ps_ckpt.safetensors");
    pset m;
    pset_init(&m, 4, 2, 3);
    for (int i = 0; i < 8; i++)
        m.ps.p[0].value.data[i] = (float)i * 0.5f;
    tr_ps_rule rule = tr_ps_rule_defaults(TR_PS_MOMENTUM);
    rig r;
    rig_init(&r, &m, 2, 1, rule, (tr_ps_mode){TR_PS_ASP, 0}, 0);
    tr_ps_client *c = client(&r, 0);
    const float g[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    pull(c, &m);
    push(c, &m, g, 8);
    pset snap, st;
    pset_init(&snap, 4, 2, 3);
    pset_init(&st, 4, 2, 3);
    float *dst[2], *sd[2];
    tr_ps_values(&snap.ps, dst);
    tr_ps_values(&st.ps, sd);
    tr_ps_client *mon = client(&r, -1);
    tr_err err;
    assert_int_equal(tr_ps_snapshot(mon, dst, sd, 0, &err), TR_OK);
    static const tr_meta meta[1] = {{"triad.config", "{}"}};
    tr_ps_task task;
    memset(&task, 0, sizeof task);
    task.name = "toy";
    task.meta = meta;
    task.nmeta = 1;
    assert_int_equal(tr_ps_save(path, &task, &r.l, &rule, dst, sd, tr_ps_server_stats(r.srv[0]), 3, &err), TR_OK);

    /* a fresh server of 3 shards resumes the tables, the momentum and the counters */
    rig r2;
    pset zero;
    pset_init(&zero, 4, 2, 3);
    rig_init(&r2, &zero, 3, 2, rule, (tr_ps_mode){TR_PS_ASP, 0}, 0);
    tr_st_file *f = NULL;
    assert_int_equal(tr_st_open(&f, path, &err), TR_OK);
    ps_ckpt_meta cm;
    assert_int_equal(ps_ckpt_read(f, path, "toy", &cm, &err), TR_OK);
    assert_int_equal(cm.epoch, 3);
    assert_int_equal(cm.stats.pushes, 1);
    assert_int_not_equal(ps_ckpt_read(f, path, "mlp", &cm, &err), TR_OK);
    assert_non_null(strstr(err.msg, "'toy', not 'mlp'"));
    for (int s = 0; s < 3; s++)
        assert_int_equal(tr_ps_server_load(r2.srv[s], f, path, &err), TR_OK);
    assert_int_equal(tr_ps_server_stats(r2.srv[1])->pushes, 1);
    pset back, bst;
    pset_init(&back, 4, 2, 3);
    pset_init(&bst, 4, 2, 3);
    float *bd[2], *bs[2];
    tr_ps_values(&back.ps, bd);
    tr_ps_values(&bst.ps, bs);
    tr_ps_client *mon2 = client(&r2, -1);
    assert_int_equal(tr_ps_snapshot(mon2, bd, bs, 0, &err), TR_OK);
    assert_memory_equal(bd[0], dst[0], 8 * sizeof(float));
    assert_memory_equal(bs[0], sd[0], 8 * sizeof(float));
    assert_memory_equal(bd[1], dst[1], 6 * sizeof(float));

    /* another rule's state does not carry over; another shape is refused */
    rig r3;
    rig_init(&r3, &zero, 1, 1, tr_ps_rule_defaults(TR_PS_ADAGRAD), (tr_ps_mode){TR_PS_ASP, 0}, 0);
    assert_int_not_equal(tr_ps_server_load(r3.srv[0], f, path, &err), TR_OK);
    assert_non_null(strstr(err.msg, "--rule momentum"));
    rig_free(&r3);
    pset other;
    pset_init(&other, 5, 2, 3);
    rig_init(&r3, &other, 1, 1, rule, (tr_ps_mode){TR_PS_ASP, 0}, 0);
    assert_int_not_equal(tr_ps_server_load(r3.srv[0], f, path, &err), TR_OK);
    assert_non_null(strstr(err.msg, "tensor w is (4, 2), the model's is (5, 2)"));
    rig_free(&r3);
    pset_free(&other);

    tr_st_close(f);
    tr_ps_client_free(mon);
    tr_ps_client_free(mon2);
    tr_ps_client_free(c);
    rig_free(&r);
    rig_free(&r2);
    pset_free(&m);
    pset_free(&snap);
    pset_free(&st);
    pset_free(&zero);
    pset_free(&back);
    pset_free(&bst);
}

/* ---------------------------------------------------------------- bad input */

static void expect_err(tr_status rc, const tr_err *err, const char *needle)
{
    assert_int_not_equal(rc, TR_OK);
    if (!strstr(err->msg, needle))
        fail_msg("message '%s' lacks '%s'", err->msg, needle);
}

static void test_parse_errors(void **state)
{
    (void)state;
    tr_err err;
    tr_ps_rule_kind k;
    tr_ps_mode mo;
    tr_ps_delay d;
    expect_err(tr_ps_rule_parse("dcasgd", &k, &err), &err, "--rule must be");
    assert_int_equal(tr_ps_rule_parse("dcasgd-a", &k, &err), TR_OK);
    assert_int_equal(k, TR_PS_DCASGD_A);
    expect_err(tr_ps_mode_parse("ssp", &mo, &err), &err, "--mode must be");
    expect_err(tr_ps_mode_parse("ssp:-1", &mo, &err), &err, "ssp:S");
    expect_err(tr_ps_mode_parse("ssp:x", &mo, &err), &err, "ssp:S");
    expect_err(tr_ps_mode_parse("ma:0", &mo, &err), &err, "ma:K");
    expect_err(tr_ps_mode_parse("bsp:2", &mo, &err), &err, "--mode must be");
    assert_int_equal(tr_ps_mode_parse("ssp:3", &mo, &err), TR_OK);
    char buf[32];
    assert_string_equal(tr_ps_mode_str(&mo, buf, sizeof buf), "ssp:3");
    assert_int_equal(tr_ps_mode_parse("ma:4", &mo, &err), TR_OK);
    assert_true(mo.kind == TR_PS_MA && mo.param == 4);
    expect_err(tr_ps_delay_parse("gauss", &d, &err), &err, "--simulate-delay must be");
    expect_err(tr_ps_delay_parse("constant:0", &d, &err), &err, "D > 0");
    expect_err(tr_ps_delay_parse("uniform:2:1", &d, &err), &err, "LO <= HI");
    expect_err(tr_ps_delay_parse("uniform:2", &d, &err), &err, "LO <= HI");
    expect_err(tr_ps_delay_parse("slow:0.5", &d, &err), &err, "F >= 1");
    expect_err(tr_ps_delay_parse("slow:4:1.5", &d, &err), &err, "whole K");
    expect_err(tr_ps_delay_parse("pareto:1", &d, &err), &err, "ALPHA");
    expect_err(tr_ps_delay_parse("constant:1:2", &d, &err), &err, "D > 0");
    assert_int_equal(tr_ps_delay_parse("slow:8:2", &d, &err), TR_OK);
    assert_true(d.kind == TR_PS_DELAY_SLOW && d.a == 8 && d.k == 2);
    tr_rng rng;
    tr_rng_seed(&rng, 1, 1);
    assert_true(tr_ps_delay_draw(&d, 2, 4, &rng) == 8.0 && tr_ps_delay_draw(&d, 1, 4, &rng) == 1.0);
    assert_int_equal(tr_ps_delay_parse("pareto", &d, &err), TR_OK);
    double sum = 0;
    for (int i = 0; i < 20000; i++)
        sum += tr_ps_delay_draw(&d, 0, 1, &rng);
    assert_true(fabs(sum / 20000 - 1.0) < 0.05);

    tr_ps_rule r = tr_ps_rule_defaults(TR_PS_DCASGD_A);
    r.lr = 0;
    expect_err(tr_ps_rule_check(&r, &err), &err, "--lr");
    r = tr_ps_rule_defaults(TR_PS_DCASGD_A);
    r.lambda = -1;
    expect_err(tr_ps_rule_check(&r, &err), &err, "--lambda");
    r = tr_ps_rule_defaults(TR_PS_DCASGD_A);
    r.ms_decay = 1;
    expect_err(tr_ps_rule_check(&r, &err), &err, "--ms-decay");
    r.ms_decay = 0.5f;
    r.eps = 0;
    expect_err(tr_ps_rule_check(&r, &err), &err, "--eps");
    r = tr_ps_rule_defaults(TR_PS_MOMENTUM);
    r.momentum = 1;
    expect_err(tr_ps_rule_check(&r, &err), &err, "--momentum");
    r = tr_ps_rule_defaults(TR_PS_SGD);
    r.lr_decay = 2;
    expect_err(tr_ps_rule_check(&r, &err), &err, "--lr-decay");
    r.lr_decay = 0.5f;
    r.decay_every = 0;
    expect_err(tr_ps_rule_check(&r, &err), &err, "--decay-every");

    tr_ps_train_opts o;
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.servers = 1;
    o.epochs = 1;
    o.evals_per_epoch = 1;
    o.kill_worker = -1;
    o.rule = tr_ps_rule_defaults(TR_PS_SGD);
    o.mode.kind = TR_PS_ASP;
    assert_int_equal(tr_ps_train_check(&o, &err), TR_OK);
    o.workers = 0;
    expect_err(tr_ps_train_check(&o, &err), &err, "--workers");
    o.workers = 2;
    o.servers = 0;
    expect_err(tr_ps_train_check(&o, &err), &err, "--servers");
    o.servers = 1;
    o.epochs = 0;
    expect_err(tr_ps_train_check(&o, &err), &err, "--epochs");
    o.epochs = 1;
    o.timeout = -1;
    expect_err(tr_ps_train_check(&o, &err), &err, "--timeout");
    o.timeout = 0;
    o.kill_worker = 1;
    expect_err(tr_ps_train_check(&o, &err), &err, "--timeout > 0");
    o.kill_worker = 2;
    o.timeout = 1;
    expect_err(tr_ps_train_check(&o, &err), &err, "only 2 workers");
    o.kill_worker = 1;
    o.mode.kind = TR_PS_MA;
    o.mode.param = 2;
    expect_err(tr_ps_train_check(&o, &err), &err, "cannot lose a worker");
    o.kill_worker = -1;
    o.rule = tr_ps_rule_defaults(TR_PS_DCASGD_C);
    expect_err(tr_ps_train_check(&o, &err), &err, "model averaging");
}

static void test_server_errors(void **state)
{
    (void)state;
    pset m, other;
    pset_init(&m, 3, 2, 0);
    pset_init(&other, 3, 4, 0);
    tr_err err;
    tr_ps_layout l;
    expect_err(tr_ps_layout_init(&l, &m.ps, 0, &err), &err, "--servers");
    tr_params empty;
    tr_params_init(&empty, 1);
    expect_err(tr_ps_layout_init(&l, &empty, 1, &err), &err, "empty");
    tr_params_free(&empty);

    rig r;
    rig_init(&r, &m, 2, 2, tr_ps_rule_defaults(TR_PS_SGD), (tr_ps_mode){TR_PS_ASP, 0}, 0);
    /* a worker whose tables differ is refused at hello, naming the table */
    tr_ps_layout lo;
    assert_int_equal(tr_ps_layout_init(&lo, &other.ps, 2, &err), TR_OK);
    tr_ps_client *bad = NULL;
    assert_int_equal(tr_ps_client_new(&bad, &lo, 0, &r.t, &err), TR_OK);
    expect_err(tr_ps_hello(bad, &err), &err, "worker 0 has w (3, 4), server 0 has w (3, 2)");
    tr_ps_client_free(bad);
    tr_ps_layout_free(&lo);
    /* a worker id beyond --workers */
    tr_ps_client *c = NULL;
    assert_int_equal(tr_ps_client_new(&c, &r.l, 5, &r.t, &err), TR_OK);
    expect_err(tr_ps_hello(c, &err), &err, "serves workers 0 .. 1");
    tr_ps_client_free(c);
    /* a transport reaching another number of servers */
    tr_ps_transport t1 = r.t;
    t1.servers = 1;
    expect_err(tr_ps_client_new(&c, &r.l, 0, &t1, &err), &err, "sharded over 2");

    /* malformed messages get error replies */
    char reply[4096];
    size_t len = 0;
    const char junk[8] = "garbage";
    assert_int_equal(tr_ps_server_handle(r.srv[0], junk, 8, 0, reply, sizeof reply, &len), TR_PS_REPLIED);
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "too short"));
    char msg[256];
    memset(msg, 0, sizeof msg);
    ps_hdr h = {0x12345678u, PS_PULL, 0, 1, 0, 0, 0, 0};
    memcpy(msg, &h, sizeof h);
    tr_ps_server_handle(r.srv[0], msg, sizeof h + 8, 0, reply, sizeof reply, &len);
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "bad magic"));
    h.magic = PS_MAGIC;
    h.shard = 1;
    memcpy(msg, &h, sizeof h);
    tr_ps_server_handle(r.srv[0], msg, sizeof h + 8, 0, reply, sizeof reply, &len);
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "addressed to server 1"));
    h.shard = 0;
    memcpy(msg, &h, sizeof h);
    int64_t cnt = 7; /* rows 0..6 do not fit the message */
    memcpy(msg + sizeof h, &cnt, 8);
    tr_ps_server_handle(r.srv[0], msg, sizeof h + 8, 0, reply, sizeof reply, &len);
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "bad row count"));
    cnt = 1;
    int32_t row = 2; /* row 2 of 3 lives on server 1 */
    memcpy(msg + sizeof h, &cnt, 8);
    memcpy(msg + sizeof h + 8, &row, 4);
    tr_ps_server_handle(r.srv[0], msg, sizeof h + 16, 0, reply, sizeof reply, &len);
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "row 2 of table w is not on this server"));
    h.op = PS_PUSH;
    memcpy(msg, &h, sizeof h);
    row = 0;
    memcpy(msg + sizeof h + 8, &row, 4);
    tr_ps_server_handle(r.srv[0], msg, sizeof h + 16, 0, reply, sizeof reply, &len); /* no gradient floats */
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "malformed push"));
    h.op = 77;
    memcpy(msg, &h, sizeof h);
    tr_ps_server_handle(r.srv[0], msg, sizeof h, 0, reply, sizeof reply, &len);
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "unknown request"));
    h.op = PS_SNAPSHOT;
    memcpy(msg, &h, sizeof h);
    tr_ps_server_handle(r.srv[0], msg, sizeof h, 0, reply, sizeof reply, &len);
    assert_non_null(strstr(reply + PS_REPLY_HEAD, "only the monitor"));
    /* a worker that said goodbye */
    tr_ps_client *c0 = client(&r, 0);
    assert_int_equal(tr_ps_bye(c0, &err), TR_OK);
    float *dst[1] = {m.ps.p[0].value.data};
    expect_err(tr_ps_wait(c0, tr_ps_pull(c0, dst, NULL, NULL), &err), &err, "already said goodbye");
    tr_ps_client_free(c0);

    tr_ps_server *s = NULL;
    tr_ps_server_config cfg = {&r.l, 2, 1, tr_ps_rule_defaults(TR_PS_SGD), {TR_PS_ASP, 0}, 1, 0, 0};
    expect_err(tr_ps_server_new(&s, &cfg, NULL, &err), &err, "server 2 does not exist");
    cfg.shard = 0;
    cfg.mode.kind = TR_PS_MA;
    expect_err(tr_ps_server_new(&s, &cfg, NULL, &err), &err, "without a server");
    cfg.mode.kind = TR_PS_ASP;
    expect_err(tr_ps_server_new(&s, &cfg, &other.ps, &err), &err, "initial values");
    rig_free(&r);
    pset_free(&m);
    pset_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dcasgd_c_by_hand),
        cmocka_unit_test(test_dcasgd_a_by_hand),
        cmocka_unit_test(test_dcasgd_without_delay_is_sgd),
        cmocka_unit_test(test_momentum_and_adagrad),
        cmocka_unit_test(test_bsp_round_is_the_mean),
        cmocka_unit_test(test_ssp_bound),
        cmocka_unit_test(test_sparse_rows),
        cmocka_unit_test(test_shards),
        cmocka_unit_test(test_dead_worker),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_server_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
