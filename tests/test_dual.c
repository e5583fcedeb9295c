/* Dual learning: the closed loop's rewards and policy-gradient weights
 * against a brute-force expectation over every output of length <= 3 of a
 * tiny model (finite differences of E[r] and of the reconstruction term);
 * the duality regulariser's weights against finite differences of the
 * regularised losses; dual inference's re-ranking; the marginal language
 * models' sequence scores (equal to one-at-a-time scoring, padding-free)
 * and training; the sides' ids and text. */
#include "harness.h"
#include "triad/dual.h"
#include "triad/io.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A library call that must succeed; on failure the message is shown. */
#define assert_ok(call, err)                                                                        \
    do {                                                                                            \
        if ((call) != TR_OK)                                                                        \
            fail_msg("%s:%d: %s", __FILE__, __LINE__, (err).msg);                                   \
    } while (0)

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 2e-2

/* ------------------------------------------------------------ tiny models */

/* Side A has symbols 2..4 (3 of them), side B symbols 2..3 (2). */
#define VA 5
#define VB 4
#define MAXN 3

static void tiny_s2s(tr_s2s *m, int src_v, int tgt_v, uint64_t seed, float dropout)
{
    tr_s2s_config c = {src_v, tgt_v, 5, 4, 6, 1, 1, TR_S2S_ATT_GENERAL, 1, dropout};
    tr_err err;
    assert_int_equal(tr_s2s_init(m, &c, &err), TR_OK);
    tr_s2s_init_weights(m, seed);
    /* larger weights than the default U(-0.1, 0.1): distinct probabilities */
    tr_rng r;
    tr_rng_seed(&r, seed, 9);
    for (int i = 0; i < m->params.n; i++)
        tr_rng_fill_uniform(&r, &m->params.p[i].value, 0.8f);
}

static void tiny_lm(tr_lm *m, int v, uint64_t seed)
{
    tr_lm_config c = {v, 4, 5, 1, 0.0f, 0};
    tr_err err;
    assert_int_equal(tr_lm_init(m, &c, &err), TR_OK);
    tr_lm_init_weights(m, seed);
    tr_rng r;
    tr_rng_seed(&r, seed, 9);
    for (int i = 0; i < m->params.n; i++)
        tr_rng_fill_uniform(&r, &m->params.p[i].value, 0.8f);
}

/* Every side-B sequence of length 1..MAXN over symbols 2..VB-1: 2 + 4 + 8 = 14. */
#define NY 14
static int32_t g_y[NY][MAXN];
static int g_ylen[NY];

static void enumerate_outputs(void)
{
    int n = 0;
    for (int len = 1; len <= MAXN; len++)
        for (int code = 0; code < (1 << len); code++) {
            for (int t = 0; t < len; t++)
                g_y[n][t] = 2 + ((code >> t) & 1);
            g_ylen[n++] = len;
        }
    assert_int_equal(n, NY);
}

/* The game from one side-A sentence x over the enumerated outputs. */
typedef struct {
    tr_s2s ab, ba;
    tr_lm lm_b;
    tr_s2s_state s_ab, s_ba;
    tr_lm_scorer sc;
    int32_t x[3];
    int xlen;
    double alpha;
    /* fixed at the starting point */
    double lm[NY], rec[NY], p0[NY];
} game;

/* log P(y_k | x; A->B) for every output k into lp; returns the summed NLL. */
static void ab_logp(game *g, double *lp)
{
    const int32_t *src[NY], *tgt[NY];
    int ns[NY];
    for (int k = 0; k < NY; k++) {
        src[k] = g->x;
        ns[k] = g->xlen;
        tgt[k] = g_y[k];
    }
    tr_s2s_set_batch(&g->s_ab, &g->ab, src, ns, tgt, g_ylen, NULL, NY);
    tr_s2s_forward(&g->s_ab, &g->ab, 0);
    for (int k = 0; k < NY; k++)
        lp[k] = -g->s_ab.nll[k];
}

/* log P(x | y_k; B->A) for every k. */
static void ba_logp(game *g, double *lp)
{
    const int32_t *src[NY], *tgt[NY];
    int nt[NY];
    for (int k = 0; k < NY; k++) {
        src[k] = g_y[k];
        tgt[k] = g->x;
        nt[k] = g->xlen;
    }
    tr_s2s_set_batch(&g->s_ba, &g->ba, src, g_ylen, tgt, nt, NULL, NY);
    tr_s2s_forward(&g->s_ba, &g->ba, 0);
    for (int k = 0; k < NY; k++)
        lp[k] = -g->s_ba.nll[k];
}

static void game_init(game *g, uint64_t seed, double alpha)
{
    enumerate_outputs();
    tiny_s2s(&g->ab, VA, VB, seed, 0.0f);
    tiny_s2s(&g->ba, VB, VA, seed + 100, 0.0f);
    tiny_lm(&g->lm_b, VB, seed + 200);
    tr_err err;
    assert_int_equal(tr_s2s_state_init(&g->s_ab, &g->ab, NY, 3, MAXN + 1, 1, 1, &err), TR_OK);
    assert_int_equal(tr_s2s_state_init(&g->s_ba, &g->ba, NY, MAXN, 4, 1, 1, &err), TR_OK);
    assert_int_equal(tr_lm_scorer_init(&g->sc, &g->lm_b, NY, MAXN, 1, &err), TR_OK);
    g->x[0] = 2;
    g->x[1] = 4;
    g->x[2] = 3;
    g->xlen = 3;
    g->alpha = alpha;
    const int32_t *ys[NY];
    for (int k = 0; k < NY; k++)
        ys[k] = g_y[k];
    tr_lm_scorer_forward(&g->sc, &g->lm_b, ys, g_ylen, NY, 0);
    for (int k = 0; k < NY; k++)
        g->lm[k] = g->sc.logp[k];
    ba_logp(g, g->rec);
    ab_logp(g, g->p0);
    for (int k = 0; k < NY; k++)
        g->p0[k] = exp(g->p0[k]);
}

static void game_free(game *g)
{
    tr_s2s_state_free(&g->s_ab);
    tr_s2s_state_free(&g->s_ba);
    tr_lm_scorer_free(&g->sc);
    tr_s2s_free(&g->ab);
    tr_s2s_free(&g->ba);
    tr_lm_free(&g->lm_b);
}

/* -E[r] over the enumerated outputs as a function of the A->B weights
 * (the rewards do not depend on them). */
static double neg_expected_reward(void *p)
{
    game *g = p;
    double lp[NY], e = 0.0;
    ab_logp(g, lp);
    for (int k = 0; k < NY; k++)
        e += exp(lp[k]) * (g->alpha * g->lm[k] + (1.0 - g->alpha) * g->rec[k]);
    return -e;
}

/* -(1 - alpha) E[log P(x | y)] with the distribution fixed at the start, as
 * a function of the B->A weights. */
static double neg_reconstruction(void *p)
{
    game *g = p;
    double lp[NY], e = 0.0;
    ba_logp(g, lp);
    for (int k = 0; k < NY; k++)
        e += g->p0[k] * lp[k];
    return -(1.0 - g->alpha) * e;
}

static void check_params(tr_params *ps, th_loss_fn f, void *ctx)
{
    for (int i = 0; i < ps->n; i++) {
        tr_param *p = &ps->p[i];
        th_gradcheck(p->name, p->value.data, p->grad.data, p->value.size, f, ctx, EPS, ATOL, RTOL, 60);
    }
}

static void test_loop_against_brute_force_expectation(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        game g;
        game_init(&g, seed, seed == 3 ? 0.0 : 0.3);
        double reward[NY], mass = 0.0, expect = 0.0;
        float w_ab[NY], w_ba[NY];
        double e = tr_dual_loop_weights(g.lm, g.rec, g.p0, 1, NY, g.alpha, TR_BASELINE_NONE, reward, w_ab, w_ba);
        for (int k = 0; k < NY; k++) {
            assert_true(fabs(reward[k] - (g.alpha * g.lm[k] + (1 - g.alpha) * g.rec[k])) < 1e-12);
            expect += g.p0[k] * reward[k];
            mass += g.p0[k];
        }
        assert_true(fabs(e - expect) < 1e-9 && fabs(e + neg_expected_reward(&g)) < 1e-6);
        assert_true(mass > 0.05 && mass < 1.0); /* outputs of length <= 3 hold a real share */
        /* the A->B gradient through the weighted loss is -grad E[r] */
        const int32_t *src[NY], *tgt[NY];
        int ns[NY];
        for (int k = 0; k < NY; k++) {
            src[k] = g.x;
            ns[k] = g.xlen;
            tgt[k] = g_y[k];
        }
        tr_params_zero_grad(&g.ab.params);
        tr_s2s_set_batch(&g.s_ab, &g.ab, src, ns, tgt, g_ylen, NULL, NY);
        tr_s2s_forward(&g.s_ab, &g.ab, 0);
        tr_s2s_set_weights(&g.s_ab, w_ab);
        tr_s2s_backward(&g.s_ab, &g.ab, 1.0f);
        check_params(&g.ab.params, neg_expected_reward, &g);
        /* the B->A gradient is -(1 - alpha) grad E[log P(x | y)] */
        for (int k = 0; k < NY; k++) {
            src[k] = g_y[k];
            tgt[k] = g.x;
            ns[k] = g.xlen;
        }
        tr_params_zero_grad(&g.ba.params);
        tr_s2s_set_batch(&g.s_ba, &g.ba, src, g_ylen, tgt, ns, NULL, NY);
        tr_s2s_forward(&g.s_ba, &g.ba, 0);
        tr_s2s_set_weights(&g.s_ba, w_ba);
        tr_s2s_backward(&g.s_ba, &g.ba, 1.0f);
        check_params(&g.ba.params, neg_reconstruction, &g);
        game_free(&g);
    }
}

static void test_loop_baseline(void **state)
{
    (void)state;
    /* 2 inputs, K = 3 candidates each with c = 1/K */
    const double lm[6] = {-4, -6, -5, -2, -3, -9}, rec[6] = {-1, -2, -6, -3, -1, -2};
    const double c[6] = {1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3, 1. / 3};
    double r[6];
    float wab[6], wba[6];
    double mean = tr_dual_loop_weights(lm, rec, c, 2, 3, 0.5, TR_BASELINE_MEAN, r, wab, wba);
    assert_true(fabs(r[0] - -2.5) < 1e-12 && fabs(r[5] - -5.5) < 1e-12);
    assert_true(fabs(mean - (r[0] + r[1] + r[2] + r[3] + r[4] + r[5]) / 6) < 1e-12);
    for (int i = 0; i < 2; i++) {
        double s = 0.0;
        for (int k = 0; k < 3; k++) {
            s += wab[i * 3 + k];
            assert_true(fabsf(wba[i * 3 + k] - 0.5f / 3) < 1e-7f);
        }
        assert_true(fabs(s) < 1e-6); /* the mean baseline centres each input's weights */
    }
    /* the best candidate gets the largest weight, the worst a negative one */
    assert_true(wab[0] > wab[1] && wab[1] > wab[2] && wab[2] < 0);
    tr_dual_loop_weights(lm, rec, c, 2, 3, 0.5, TR_BASELINE_NONE, r, wab, wba);
    assert_true(fabsf(wab[0] - (float)(-2.5 / 3)) < 1e-6f);
}

/* ------------------------------------------------------------ the duality regulariser */

typedef struct {
    tr_s2s xy, yx;
    tr_s2s_state s_xy, s_yx;
    const int32_t *x[3], *y[3];
    int nx[3], ny[3];
    double lm_x[3], lm_y[3];
    double lambda;
} dsl_ctx;

static const int32_t DX[3][3] = {{2, 3, 4}, {4, 4, 0}, {3, 2, 0}};
static const int DNX[3] = {3, 2, 2};
static const int32_t DY[3][3] = {{2, 3, 3}, {3, 0, 0}, {2, 2, 0}};
static const int DNY[3] = {3, 1, 2};

static double dsl_nll(tr_s2s_state *s, const tr_s2s *m, const int32_t *const *src, const int *ns,
                      const int32_t *const *tgt, const int *nt, double *nll)
{
    tr_s2s_set_batch(s, m, src, ns, tgt, nt, NULL, 3);
    double t = tr_s2s_forward(s, m, 0);
    for (int i = 0; i < 3; i++)
        nll[i] = s->nll[i];
    return t;
}

/* sum_i NLL_xy + lambda gap^2 (or the yx loss) with both NLLs recomputed. */
static double dsl_loss(dsl_ctx *c, int which)
{
    double a[3], b[3], l = 0.0;
    dsl_nll(&c->s_xy, &c->xy, c->x, c->nx, c->y, c->ny, a);
    dsl_nll(&c->s_yx, &c->yx, c->y, c->ny, c->x, c->nx, b);
    for (int i = 0; i < 3; i++) {
        double gap = c->lm_x[i] - a[i] - c->lm_y[i] + b[i];
        l += (which == 0 ? a[i] : b[i]) + c->lambda * gap * gap;
    }
    return l;
}
static double dsl_loss_xy(void *p) { return dsl_loss(p, 0); }
static double dsl_loss_yx(void *p) { return dsl_loss(p, 1); }

static void test_dsl_gradient(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        dsl_ctx c;
        tiny_s2s(&c.xy, VA, VB, seed, 0.0f);
        tiny_s2s(&c.yx, VB, VA, seed + 50, 0.0f);
        tr_err err;
        assert_int_equal(tr_s2s_state_init(&c.s_xy, &c.xy, 3, 3, 4, 1, 1, &err), TR_OK);
        assert_int_equal(tr_s2s_state_init(&c.s_yx, &c.yx, 3, 3, 4, 1, 1, &err), TR_OK);
        for (int i = 0; i < 3; i++) {
            c.x[i] = DX[i];
            c.y[i] = DY[i];
            c.nx[i] = DNX[i];
            c.ny[i] = DNY[i];
            c.lm_x[i] = -3.0 - i - 0.1 * (double)seed;
            c.lm_y[i] = -2.0 - 0.5 * i;
        }
        c.lambda = seed == 2 ? 0.2 : 0.05;
        double nxy[3], nyx[3], gap[3];
        float wxy[3], wyx[3];
        dsl_nll(&c.s_yx, &c.yx, c.y, c.ny, c.x, c.nx, nyx);
        dsl_nll(&c.s_xy, &c.xy, c.x, c.nx, c.y, c.ny, nxy);
        double sq = tr_dsl_weights(c.lm_x, c.lm_y, nxy, nyx, 3, c.lambda, gap, wxy, wyx);
        double sq2 = 0.0;
        for (int i = 0; i < 3; i++) {
            assert_true(fabs(gap[i] - (c.lm_x[i] - nxy[i] - c.lm_y[i] + nyx[i])) < 1e-9);
            sq2 += gap[i] * gap[i];
        }
        assert_true(fabs(sq - sq2) < 1e-9 && sq > 0.1);
        /* x->y: the state still holds the xy forward */
        tr_params_zero_grad(&c.xy.params);
        tr_s2s_set_weights(&c.s_xy, wxy);
        tr_s2s_backward(&c.s_xy, &c.xy, 1.0f);
        check_params(&c.xy.params, dsl_loss_xy, &c);
        tr_params_zero_grad(&c.yx.params);
        dsl_nll(&c.s_yx, &c.yx, c.y, c.ny, c.x, c.nx, nyx);
        tr_s2s_set_weights(&c.s_yx, wyx);
        tr_s2s_backward(&c.s_yx, &c.yx, 1.0f);
        check_params(&c.yx.params, dsl_loss_yx, &c);
        tr_s2s_state_free(&c.s_xy);
        tr_s2s_state_free(&c.s_yx);
        tr_s2s_free(&c.xy);
        tr_s2s_free(&c.yx);
    }
}

/* ------------------------------------------------------------ dual inference */

static void test_rerank(void **state)
{
    (void)state;
    const double fwd[4] = {-1.0, -1.5, -3.0, -3.0};
    const double bwd[4] = {-9.0, -1.0, -0.5, -0.5};
    const double lm_y[4] = {-2.0, -2.5, -2.0, -2.0};
    assert_int_equal(tr_dual_rerank(fwd, bwd, lm_y, -4.0, 4, 1.0), 0);
    /* the inverse model overrules: candidate 1 scores 0.5*1.5 + 0.5*(1 + 2.5 - 4) vs 0.5*1 + 0.5*(9 + 2 - 4) */
    assert_int_equal(tr_dual_rerank(fwd, bwd, lm_y, -4.0, 4, 0.5), 1);
    /* only the dual term: 2 and 3 tie, the lower index wins */
    assert_int_equal(tr_dual_rerank(fwd, bwd, lm_y, -4.0, 4, 0.0), 2);
    assert_int_equal(tr_dual_rerank(fwd, bwd, lm_y, -4.0, 1, 0.0), 0);
}

/* ------------------------------------------------------------ marginal language models */

static void test_scorer_equals_one_at_a_time(void **state)
{
    (void)state;
    tr_lm m;
    tiny_lm(&m, 6, 4);
    const int32_t a[5] = {2, 3, 4, 5, 2}, b[2] = {5, 5}, c[1] = {3};
    const int32_t *seqs[3] = {a, b, c};
    const int lens[3] = {5, 2, 1};
    tr_lm_scorer s, one;
    tr_err err;
    assert_int_equal(tr_lm_scorer_init(&s, &m, 4, 6, 1, &err), TR_OK);
    assert_int_equal(tr_lm_scorer_init(&one, &m, 1, 5, 1, &err), TR_OK);
    double total = tr_lm_scorer_forward(&s, &m, seqs, lens, 3, 0);
    double sum = 0.0;
    for (int i = 0; i < 3; i++) {
        tr_lm_scorer_forward(&one, &m, &seqs[i], &lens[i], 1, 0);
        assert_true(fabs(one.logp[0] - s.logp[i]) < 1e-5);
        /* by hand: the chain rule over the LM's own softmax, from a zero state */
        sum += s.logp[i];
        assert_true(s.logp[i] < 0);
    }
    assert_true(fabs(total + sum) < 1e-5);
    /* probabilities of every sequence of length <= 2 over 4 symbols, plus the rest, sum to <= 1 */
    double mass = 0.0;
    int32_t q[2];
    const int32_t *qp[1] = {q};
    for (int n = 1; n <= 2; n++)
        for (int code = 0; code < (n == 1 ? 4 : 16); code++) {
            q[0] = 2 + code % 4;
            q[1] = 2 + code / 4;
            tr_lm_scorer_forward(&one, &m, qp, &n, 1, 0);
            mass += exp(one.logp[0]);
        }
    assert_true(mass > 0.0 && mass < 1.0);
    tr_lm_scorer_free(&s);
    tr_lm_scorer_free(&one);
    tr_lm_free(&m);
}

typedef struct {
    tr_lm m;
    tr_lm_scorer s;
    const int32_t *const *seq;
    const int *len;
    int b;
} lm_ctx;

static double lm_loss(void *p)
{
    lm_ctx *c = p;
    return tr_lm_scorer_forward(&c->s, &c->m, c->seq, c->len, c->b, 0);
}

static void test_scorer_gradient(void **state)
{
    (void)state;
    lm_ctx c;
    tiny_lm(&c.m, 6, 5);
    const int32_t a[4] = {2, 3, 4, 5}, b[2] = {5, 2};
    const int32_t *seqs[2] = {a, b};
    const int lens[2] = {4, 2};
    tr_err err;
    assert_int_equal(tr_lm_scorer_init(&c.s, &c.m, 3, 4, 1, &err), TR_OK);
    c.seq = seqs;
    c.len = lens;
    c.b = 2;
    tr_params_zero_grad(&c.m.params);
    lm_loss(&c);
    tr_lm_scorer_backward(&c.s, &c.m, 1.0f);
    check_params(&c.m.params, lm_loss, &c);
    tr_lm_scorer_free(&c.s);
    tr_lm_free(&c.m);
}

static void test_marginal_training_learns(void **state)
{
    (void)state;
    /* a regular language: 2 then 3s then 4, of lengths 2..6 */
    tr_s2s_data tr, dv;
    tr_s2s_data_init(&tr);
    tr_s2s_data_init(&dv);
    tr_rng r;
    tr_rng_seed(&r, 3, 0);
    for (int i = 0; i < 240; i++) {
        int32_t s[6];
        int n = 2 + (int)tr_rng_below(&r, 5);
        for (int t = 0; t < n; t++)
            s[t] = t == 0 ? 2 : t == n - 1 ? 4 : 3;
        tr_s2s_data_add(i < 200 ? &tr : &dv, s, n, NULL, 0);
    }
    tr_lm m;
    tr_lm_config cfg = {6, 8, 16, 1, 0.0f, 0};
    tr_err err;
    assert_int_equal(tr_lm_init(&m, &cfg, &err), TR_OK);
    tr_lm_init_weights(&m, 1);
    tr_lm_scorer s;
    assert_int_equal(tr_lm_scorer_init(&s, &m, 16, 6, 1, &err), TR_OK);
    int64_t tok;
    double before = tr_lm_scorer_nll(&s, &m, &dv, &tok) / (double)tok;
    tr_marginal_opts o = {16, 30, 3, 5.0f, 2.0f, tr_opt_defaults(TR_OPT_ADAM), 1};
    o.opt.lr = 0.02f;
    assert_int_equal(tr_marginal_train(&m, &tr, &dv, &o, NULL, NULL, NULL, &err), TR_OK);
    double after = tr_lm_scorer_nll(&s, &m, &dv, &tok) / (double)tok;
    /* the only uncertainty left is the length: well below log(6) at the start */
    assert_true(before > 1.5 && after < 0.6);
    tr_lm_scorer_free(&s);
    tr_lm_free(&m);
    tr_s2s_data_free(&tr);
    tr_s2s_data_free(&dv);
}

/* ------------------------------------------------------------ training both models */

/* A made-up task: B is A reversed, over symbols 2..4 on both sides. */
static void make_task(tr_s2s_data *paired, tr_s2s_data *mono_a, tr_s2s_data *mono_b, tr_s2s_data *dev)
{
    tr_s2s_data *all[4] = {paired, mono_a, mono_b, dev};
    tr_rng r;
    tr_rng_seed(&r, 11, 0);
    for (int k = 0; k < 4; k++) {
        tr_s2s_data_init(all[k]);
        for (int i = 0; i < 30; i++) {
            int32_t x[5], y[5];
            int n = 1 + (int)tr_rng_below(&r, 5);
            for (int t = 0; t < n; t++)
                x[t] = 2 + (int32_t)tr_rng_below(&r, 3);
            for (int t = 0; t < n; t++)
                y[t] = x[n - 1 - t];
            if (k == 2)
                tr_s2s_data_add(all[k], y, n, NULL, 0);
            else
                tr_s2s_data_add(all[k], x, n, k == 1 ? NULL : y, k == 1 ? 0 : n);
        }
    }
}

typedef struct {
    tr_s2s_state st;
    const tr_s2s_data *dev;
    int reverse;
} nll_eval;

static tr_s2s_data g_rev_dev;

/* Dev score: teacher-forced NLL per pair (the B->A model reads the pairs reversed). */
static tr_status dev_nll(void *ctx, const tr_s2s *m, double *score, char *note, size_t n, tr_err *err)
{
    (void)err;
    nll_eval *e = ctx;
    *score = tr_s2s_nll(&e->st, m, e->reverse ? &g_rev_dev : e->dev, NULL) / (double)e->dev->n;
    snprintf(note, n, "nll %.4f", *score);
    return TR_OK;
}

typedef struct {
    tr_s2s ab, ba;
    tr_vocab *v;
    tr_dual_model dab, dba;
    nll_eval eab, eba;
    char out_ab[512], out_ba[512], state[512];
} dual_fixture;

static void fixture_init(dual_fixture *f, const tr_s2s_data *dev, const char *name)
{
    tiny_s2s(&f->ab, 5, 5, 21, 0.2f); /* dropout: the resumed streams must continue exactly */
    tiny_s2s(&f->ba, 5, 5, 22, 0.2f);
    f->v = tr_vocab_new();
    for (const char *c = "abc"; *c; c++)
        tr_vocab_add(f->v, c, 1);
    char b[64];
    snprintf(b, sizeof b, "dual_%s_ab.st", name);
    th_tmp(f->out_ab, sizeof f->out_ab, b);
    snprintf(b, sizeof b, "dual_%s_ba.st", name);
    th_tmp(f->out_ba, sizeof f->out_ba, b);
    snprintf(b, sizeof b, "dual_%s.state", name);
    th_tmp(f->state, sizeof f->state, b);
    tr_err err;
    assert_int_equal(tr_s2s_state_init(&f->eab.st, &f->ab, 30, 5, 6, 1, 5, &err), TR_OK);
    assert_int_equal(tr_s2s_state_init(&f->eba.st, &f->ba, 30, 5, 6, 1, 5, &err), TR_OK);
    f->eab.dev = f->eba.dev = dev;
    f->eab.reverse = 0;
    f->eba.reverse = 1;
    f->dab = (tr_dual_model){&f->ab, f->out_ab, "toy", f->v, f->v, NULL, 0, dev_nll, &f->eab};
    f->dba = (tr_dual_model){&f->ba, f->out_ba, "toy", f->v, f->v, NULL, 0, dev_nll, &f->eba};
}

static void fixture_free(dual_fixture *f)
{
    tr_s2s_state_free(&f->eab.st);
    tr_s2s_state_free(&f->eba.st);
    tr_s2s_free(&f->ab);
    tr_s2s_free(&f->ba);
    tr_vocab_free(f->v);
}

static tr_dual_opts toy_opts(const char *state)
{
    tr_dual_opts o;
    memset(&o, 0, sizeof o);
    o.state = state;
    o.batch = 4;
    o.games = 3;
    o.K = 2;
    o.max_len = 6;
    o.alpha = 0.3;
    o.lm_norm = 1;
    o.baseline = TR_BASELINE_MEAN;
    o.dual_share = 0.5;
    o.share_start = 0.2; /* a schedule: 0.2 of the steps at first, 0.5 after 6 steps */
    o.ramp = 6;
    o.lambda = 0.05;
    o.dsl_warmup = 2;
    o.steps = 14;
    o.eval_every = 4;
    o.opt = tr_opt_defaults(TR_OPT_ADAM);
    o.opt.lr = 0.01f;
    o.clip = 5.0f;
    o.seed = 3;
    return o;
}

static void test_dual_train_resume_equals_uninterrupted(void **state)
{
    (void)state;
    tr_s2s_data paired, mono_a, mono_b, dev;
    make_task(&paired, &mono_a, &mono_b, &dev);
    tr_s2s_data_init(&g_rev_dev);
    for (int64_t i = 0; i < dev.n; i++)
        tr_s2s_data_add(&g_rev_dev, dev.tgt + dev.tgt_off[i], (int)(dev.tgt_off[i + 1] - dev.tgt_off[i]),
                        dev.src + dev.src_off[i], (int)(dev.src_off[i + 1] - dev.src_off[i]));
    tr_lm la, lb;
    tiny_lm(&la, 5, 31);
    tiny_lm(&lb, 5, 32);
    tr_err err;
    int stopped;
    /* uninterrupted */
    dual_fixture a;
    fixture_init(&a, &dev, "a");
    tr_dual_opts oa = toy_opts(a.state);
    assert_ok(tr_dual_train(&a.dab, &a.dba, &la, &lb, &paired, &mono_a, &mono_b, &oa, 0, NULL, NULL, NULL, &stopped,
                            &err), err);
    assert_false(stopped);
    /* stopped after 5 and after 6 more updates, each piece in fresh models */
    dual_fixture b;
    for (int piece = 0; piece < 3; piece++) {
        fixture_init(&b, &dev, "b");
        tr_dual_opts ob = toy_opts(b.state);
        ob.max_steps = piece == 0 ? 5 : piece == 1 ? 6 : 0;
        if (piece > 0) /* options come from the state file */
            ob.alpha = ob.lambda = 0.9;
        assert_ok(tr_dual_train(&b.dab, &b.dba, &la, &lb, &paired, &mono_a, &mono_b, &ob, piece > 0, NULL, NULL, NULL,
                                &stopped, &err), err);
        assert_int_equal(stopped, piece < 2);
        if (piece < 2)
            fixture_free(&b);
    }
    /* the models' files are identical; so are the state's tensors and counters (but the time) */
    const char *fa[2] = {a.out_ab, a.out_ba}, *fb[2] = {b.out_ab, b.out_ba};
    for (int i = 0; i < 2; i++) {
        size_t na, nb;
        char *x = th_read(fa[i], &na), *y = th_read(fb[i], &nb);
        assert_true(na == nb && !memcmp(x, y, na));
        free(x);
        free(y);
    }
    tr_st_file *s1, *s2;
    assert_int_equal(tr_st_open(&s1, a.state, &err), TR_OK);
    assert_int_equal(tr_st_open(&s2, b.state, &err), TR_OK);
    const char *names[] = {"ab.current.generator.weight", "ba.best.encoder.embedding.weight",
                           "ba.decoder.rnn.weight_hh_l0.exp_avg_sq", "ab.current.bridge.bias"};
    for (int i = 0; i < 4; i++) {
        const tr_tensor *t1 = tr_st_get(s1, names[i]), *t2 = tr_st_get(s2, names[i]);
        assert_non_null(t1);
        assert_non_null(t2);
        assert_int_equal(t1->size, t2->size);
        assert_memory_equal(t1->data, t2->data, (size_t)t1->size * sizeof(float));
    }
    cJSON *j1 = cJSON_Parse(tr_st_meta(s1, "triad.train")), *j2 = cJSON_Parse(tr_st_meta(s2, "triad.train"));
    cJSON_DeleteItemFromObject(j1, "train_seconds");
    cJSON_DeleteItemFromObject(j2, "train_seconds");
    char *p1 = cJSON_PrintUnformatted(j1), *p2 = cJSON_PrintUnformatted(j2);
    assert_string_equal(p1, p2);
    assert_non_null(strstr(p1, "\"step\":14"));
    free(p1);
    free(p2);
    cJSON_Delete(j1);
    cJSON_Delete(j2);
    tr_st_close(s1);
    tr_st_close(s2);
    /* a finished run is not resumed */
    tr_dual_opts oc = toy_opts(a.state);
    assert_int_not_equal(tr_dual_train(&a.dab, &a.dba, &la, &lb, &paired, &mono_a, &mono_b, &oc, 1, NULL, NULL, NULL,
                                       &stopped, &err), TR_OK);
    assert_non_null(strstr(err.msg, "has done its 14 updates"));
    fixture_free(&a);
    fixture_free(&b);
    tr_lm_free(&la);
    tr_lm_free(&lb);
    tr_s2s_data_free(&paired);
    tr_s2s_data_free(&mono_a);
    tr_s2s_data_free(&mono_b);
    tr_s2s_data_free(&dev);
    tr_s2s_data_free(&g_rev_dev);
}

/* Mean log P(s | greedy A->B output; B->A) over the monolingual A sentences. */
static double reconstruction(dual_fixture *f, const tr_s2s_data *mono)
{
    tr_s2s_decoder d;
    tr_s2s_state st;
    tr_err err;
    assert_int_equal(tr_s2s_decoder_init(&d, &f->ab, (int)mono->n, mono->max_src, 1, 6, &err), TR_OK);
    assert_int_equal(tr_s2s_state_init(&st, &f->ba, (int)mono->n, 6, mono->max_src + 1, 1, 1, &err), TR_OK);
    const int32_t *src[64], *mid[64];
    int sl[64], ml[64], k = 0;
    for (int64_t i = 0; i < mono->n; i++) {
        src[i] = mono->src + mono->src_off[i];
        sl[i] = (int)(mono->src_off[i + 1] - mono->src_off[i]);
    }
    const tr_s2s_nbest *o = tr_s2s_greedy(&d, &f->ab, src, sl, (int)mono->n);
    const int32_t *keep_src[64];
    int keep_sl[64];
    for (int64_t i = 0; i < mono->n; i++)
        if (o->len[i * o->k] > 0) {
            mid[k] = o->ids + (size_t)i * o->k * o->max_len;
            ml[k] = o->len[i * o->k];
            keep_src[k] = src[i];
            keep_sl[k++] = sl[i];
        }
    assert_true(k > 0);
    tr_s2s_set_batch(&st, &f->ba, mid, ml, keep_src, keep_sl, NULL, k);
    double total = tr_s2s_forward(&st, &f->ba, 0);
    tr_s2s_decoder_free(&d);
    tr_s2s_state_free(&st);
    return -total / k;
}

/* A toy task whose dev scores are scripted: validation i (from 1) of
 * either model scores direction * i, so with direction -1 every later
 * validation beats the earlier ones, with +1 none does. */
typedef struct {
    int calls;
    double direction;
} scripted_dev;

static tr_status scripted_score(void *ctx, const tr_s2s *m, double *score, char *note, size_t n, tr_err *err)
{
    (void)m;
    (void)err;
    scripted_dev *d = ctx;
    *score = d->direction * (double)++d->calls;
    snprintf(note, n, "validation %d", d->calls);
    return TR_OK;
}

typedef struct {
    tr_s2s_data paired, mono_a, mono_b, dev;
    dual_fixture f;
    scripted_dev dev_ab, dev_ba;
    tr_dual_opts o; /* toy_opts without language models */
} scripted_run;

static void scripted_init(scripted_run *r, const char *name, double direction)
{
    make_task(&r->paired, &r->mono_a, &r->mono_b, &r->dev);
    tr_s2s_data_init(&g_rev_dev);
    tr_s2s_data_add(&g_rev_dev, r->dev.tgt, 1, r->dev.src, 1);
    fixture_init(&r->f, &r->dev, name);
    r->dev_ab = r->dev_ba = (scripted_dev){0, direction};
    r->f.dab.validate = r->f.dba.validate = scripted_score;
    r->f.dab.vctx = &r->dev_ab;
    r->f.dba.vctx = &r->dev_ba;
    r->o = toy_opts(r->f.state);
    r->o.alpha = 0.0;
    r->o.lambda = 0.0;
}

static void scripted_train(scripted_run *r)
{
    tr_err err;
    int stopped;
    assert_ok(tr_dual_train(&r->f.dab, &r->f.dba, NULL, NULL, &r->paired, &r->mono_a, &r->mono_b, &r->o, 0, NULL, NULL,
                            NULL, &stopped, &err), err);
}

static void scripted_free(scripted_run *r)
{
    fixture_free(&r->f);
    tr_s2s_data_free(&r->paired);
    tr_s2s_data_free(&r->mono_a);
    tr_s2s_data_free(&r->mono_b);
    tr_s2s_data_free(&r->dev);
    tr_s2s_data_free(&g_rev_dev);
}

/* A run that never beats the warm start on dev ends with the warm start's
 * weights (validated at update 0), though it trained. */
static void test_warm_start_kept_when_never_beaten(void **state)
{
    (void)state;
    scripted_run r;
    scripted_init(&r, "kept", 1.0);
    const size_t np = (size_t)tr_params_count(&r.f.ab.params);
    float *w0 = tr_xmalloc(np * sizeof(float)), *w1 = tr_xmalloc(np * sizeof(float));
    tr_params_get_values(&r.f.ab.params, w0);
    r.o.steps = 10;
    r.o.eval_every = 5;
    scripted_train(&r);
    assert_int_equal(r.dev_ab.calls, 3);
    tr_params_get_values(&r.f.ab.params, w1);
    assert_memory_equal(w0, w1, np * sizeof(float));
    free(w0);
    free(w1);
    scripted_free(&r);
}

/* Games alone (alpha 0) raise the reconstruction log-likelihood of the
 * monolingual A sentences; the scripted dev keeps the last weights. */
static void test_closed_loop_improves_reconstruction(void **state)
{
    (void)state;
    scripted_run r;
    scripted_init(&r, "loop", -1.0);
    double before = reconstruction(&r.f, &r.mono_a);
    r.o.dual_share = r.o.share_start = 1.0;
    r.o.steps = 60;
    r.o.eval_every = 60;
    scripted_train(&r);
    /* validated at the warm start and at the end */
    assert_int_equal(r.dev_ab.calls, 2);
    assert_int_equal(r.dev_ba.calls, 2);
    double after = reconstruction(&r.f, &r.mono_a);
    if (!(after > before + 0.5))
        fail_msg("reconstruction log-likelihood %.3f -> %.3f", before, after);
    scripted_free(&r);
}

/* ------------------------------------------------------------ sides */

static void test_sides(void **state)
{
    (void)state;
    tr_vocab *g = tr_vocab_new(), *p = tr_vocab_new();
    for (const char *c = "ACST'"; *c; c++)
        tr_vocab_add(g, c, 1);
    tr_vocab_add(p, "K", 1);
    tr_vocab_add(p, "AE", 2);
    tr_vocab_add(p, "T", 1);
    tr_side sg = {TR_SIDE_SPELLING, g, NULL}, sp = {TR_SIDE_PHONEMES, p, NULL};
    int32_t ids[TR_MT_MAX_LEN];
    tr_err err;
    int n = tr_side_ids(&sg, "cat's", ids, "w", 1, &err);
    assert_int_equal(n, 5);
    char *t = tr_side_text(&sg, ids, n);
    assert_string_equal(t, "CAT'S");
    free(t);
    n = tr_side_ids(&sp, "K AE T", ids, "p", 1, &err);
    assert_int_equal(n, 3);
    t = tr_side_text(&sp, ids, n);
    assert_string_equal(t, "K AE T");
    free(t);
    assert_int_equal(tr_side_ids(&sg, "dog", ids, "words.txt", 7, &err), -1);
    assert_non_null(strstr(err.msg, "words.txt:7: unknown character 'd'"));
    assert_int_equal(tr_side_ids(&sp, "K OW", ids, "prons.txt", 2, &err), -1);
    assert_non_null(strstr(err.msg, "prons.txt:2"));
    assert_int_equal(tr_side_max_len(&sg), TR_PRON_MAX_LEN);
    /* a file of lines; a bad line names the file and line */
    char path[512];
    th_tmp(path, sizeof path, "dual_side.txt");
    th_write_str(path, "CAT\nACT\nTACT\n");
    tr_s2s_data d;
    int64_t left_out = -1;
    assert_int_equal(tr_side_read(&sg, path, TR_PRON_MAX_LEN, &d, &left_out, &err), TR_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.max_src, 4);
    assert_int_equal(left_out, 0);
    tr_s2s_data_free(&d);
    /* lines over max_len are left out and counted */
    assert_int_equal(tr_side_read(&sg, path, 3, &d, &left_out, &err), TR_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.max_src, 3);
    assert_int_equal(left_out, 1);
    tr_s2s_data_free(&d);
    th_write_str(path, "CAT\nCOT\n");
    assert_int_not_equal(tr_side_read(&sg, path, TR_PRON_MAX_LEN, &d, &left_out, &err), TR_OK);
    assert_non_null(strstr(err.msg, "dual_side.txt:2: unknown character 'O'"));
    th_write_str(path, "CAT\n\nACT\n");
    assert_int_not_equal(tr_side_read(&sg, path, TR_PRON_MAX_LEN, &d, &left_out, &err), TR_OK);
    assert_non_null(strstr(err.msg, ":2: empty line"));
    /* subword sentences: one over the side's own limit is counted, not an error */
    tr_bpe *b;
    assert_int_equal(tr_bpe_from_string(&b, "#triad-bpe v1\n", NULL, &err), TR_OK);
    tr_vocab *u = tr_vocab_new();
    tr_side ss = {TR_SIDE_SUBWORDS, u, b};
    char longline[301], text[600];
    memset(longline, 'a', 300);
    longline[300] = '\0';
    snprintf(text, sizeof text, "ab\na b\n%s\n", longline);
    th_write_str(path, text);
    assert_int_equal(tr_side_ids(&ss, longline, ids, "s", 3, &err), 301);
    assert_int_equal(tr_side_read(&ss, path, 3, &d, &left_out, &err), TR_OK);
    assert_int_equal(d.n, 1);
    assert_int_equal(left_out, 2);
    tr_s2s_data_free(&d);
    assert_int_equal(tr_side_read(&ss, path, TR_MT_MAX_LEN, &d, &left_out, &err), TR_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.max_src, 4);
    assert_int_equal(left_out, 1);
    tr_s2s_data_free(&d);
    tr_vocab_free(u);
    tr_bpe_free(b);
    tr_vocab_free(g);
    tr_vocab_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_against_brute_force_expectation),
        cmocka_unit_test(test_loop_baseline),
        cmocka_unit_test(test_dsl_gradient),
        cmocka_unit_test(test_rerank),
        cmocka_unit_test(test_scorer_equals_one_at_a_time),
        cmocka_unit_test(test_scorer_gradient),
        cmocka_unit_test(test_marginal_training_learns),
        cmocka_unit_test(test_sides),
        cmocka_unit_test(test_dual_train_resume_equals_uninterrupted),
        cmocka_unit_test(test_closed_loop_improves_reconstruction),
        cmocka_unit_test(test_warm_start_kept_when_never_beaten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
