/* Training through the parameter server on a small task (softmax regression
 * on synthetic data): asp with one worker equals sequential SGD; bsp with M
 * workers and batch b equals sequential SGD with batch M*b (to 1e-6) in
 * threads and in the simulator; ma:1 equals bsp; the simulator is
 * deterministic for a seed; ssp keeps the clock gap within s; staleness
 * under constant delays; a worker that falls silent is declared dead and
 * training goes on; checkpoints resume; bad options and checkpoints. */
#include "harness.h"

#include "triad/io.h"
#include "triad/nn.h"
#include "triad/optim.h"
#include "triad/ps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the task */

enum { N = 240, D = 6, C = 3 };

typedef struct {
    float x[N * D];
    int32_t y[N];
    int batch;
    tr_arena arena;
    tr_params init;   /* the initial values */
} toy;

typedef struct {
    tr_arena arena;
    tr_params ps;
    float *logits;    /* (N, C) */
} toy_rep;

typedef struct {
    int w, M;
    int64_t k;        /* mini-batches taken */
    float *xb;        /* (batch, D) */
    int32_t *yb;      /* (batch) */
} toy_stream;

static void declare(tr_params *ps, tr_arena *a)
{
    const int64_t sw[2] = {C, D}, sb[1] = {C};
    tr_params_init(ps, 2);
    tr_params_add(ps, a, "fc.weight", 2, sw, 0);
    tr_params_add(ps, a, "fc.bias", 1, sb, 0);
}

static void *toy_replica_new(void *ctx, tr_params **ps, tr_err *err)
{
    (void)ctx;
    (void)err;
    toy_rep *r = calloc(1, sizeof *r);
    tr_arena_plan(&r->arena);
    declare(&r->ps, &r->arena);
    tr_params_free(&r->ps);
    tr_arena_floats(&r->arena, (size_t)N * C);
    assert_int_equal(tr_arena_init(&r->arena, r->arena.cap, NULL), TR_OK);
    declare(&r->ps, &r->arena);
    r->logits = tr_arena_floats(&r->arena, (size_t)N * C);
    *ps = &r->ps;
    return r;
}

static void toy_replica_free(void *ctx, void *rep)
{
    (void)ctx;
    toy_rep *r = rep;
    tr_params_free(&r->ps);
    tr_arena_free(&r->arena);
    free(r);
}

static void *toy_stream_new(void *ctx, int w, int M, int64_t epoch, uint64_t seed, tr_err *err)
{
    toy *t = ctx;
    (void)err;
    (void)seed;
    toy_stream *s = calloc(1, sizeof *s);
    s->w = w;
    s->M = M;
    s->k = epoch * (N / (M * t->batch));
    s->xb = calloc((size_t)t->batch * D, sizeof(float));
    s->yb = calloc((size_t)t->batch, sizeof(int32_t));
    return s;
}

static void toy_stream_free(void *ctx, void *st)
{
    (void)ctx;
    toy_stream *s = st;
    free(s->xb);
    free(s->yb);
    free(s);
}

/* Worker w's k-th batch: examples ((k M + w) b + i) mod N, i < b, so that the
 * M workers' k-th batches together are the sequential batch k of size M b. */
static tr_status toy_grad(void *ctx, void *rep, void *st, double *mean, int64_t *samples, tr_err *err)
{
    (void)err;
    toy *t = ctx;
    toy_rep *r = rep;
    toy_stream *s = st;
    const int b = t->batch;
    for (int i = 0; i < b; i++) {
        const int64_t e = ((s->k * s->M + s->w) * b + i) % N;
        memcpy(s->xb + (size_t)i * D, t->x + e * D, D * sizeof(float));
        s->yb[i] = t->y[e];
    }
    s->k++;
    tr_params_zero_grad(&r->ps);
    const tr_param *W = &r->ps.p[0], *B = &r->ps.p[1];
    tr_linear_forward(r->logits, s->xb, W->value.data, B->value.data, b, D, C);
    double loss = tr_xent_forward(r->logits, NULL, r->logits, s->yb, b, C);
    tr_xent_backward(r->logits, r->logits, s->yb, NULL, 1.0f / (float)b, b, C);
    tr_linear_backward(NULL, W->grad.data, B->grad.data, r->logits, s->xb, W->value.data, b, D, C);
    *samples = b;
    *mean = loss / b;
    return TR_OK;
}

static tr_status toy_evaluate(void *ctx, void *rep, double *loss, double *acc, tr_err *err)
{
    toy *t = ctx;
    toy_rep *r = rep;
    (void)err;
    tr_linear_forward(r->logits, t->x, r->ps.p[0].value.data, r->ps.p[1].value.data, N, D, C);
    int64_t right = 0;
    for (int n = 0; n < N; n++) {
        int best = 0;
        for (int c = 1; c < C; c++)
            if (r->logits[n * C + c] > r->logits[n * C + best])
                best = c;
        right += best == t->y[n];
    }
    *loss = tr_xent_forward(r->logits, NULL, r->logits, t->y, N, C) / N;
    *acc = (double)right / N;
    return TR_OK;
}

static void toy_init(toy *t, int batch)
{
    memset(t, 0, sizeof *t);
    t->batch = batch;
    tr_rng rng;
    tr_rng_seed(&rng, 42, 0);
    float truth[C * D];
    for (int i = 0; i < C * D; i++)
        truth[i] = 2.0f * tr_rng_normal(&rng);
    for (int n = 0; n < N; n++) {
        float best = -1e30f;
        for (int d = 0; d < D; d++)
            t->x[n * D + d] = tr_rng_normal(&rng);
        for (int c = 0; c < C; c++) {
            float z = 0.5f * tr_rng_normal(&rng);
            for (int d = 0; d < D; d++)
                z += truth[c * D + d] * t->x[n * D + d];
            if (z > best) {
                best = z;
                t->y[n] = c;
            }
        }
    }
    tr_arena_plan(&t->arena);
    declare(&t->init, &t->arena);
    tr_params_free(&t->init);
    assert_int_equal(tr_arena_init(&t->arena, t->arena.cap, NULL), TR_OK);
    declare(&t->init, &t->arena);
    for (int i = 0; i < t->init.n; i++)
        tr_rng_fill_uniform(&rng, &t->init.p[i].value, 0.3f);
}

static void toy_free(toy *t)
{
    tr_params_free(&t->init);
    tr_arena_free(&t->arena);
}

static tr_ps_task toy_task(toy *t)
{
    tr_ps_task k;
    memset(&k, 0, sizeof k);
    k.name = "toy";
    k.ctx = t;
    k.params = &t->init;
    k.epoch_samples = N;
    k.batch_samples = t->batch;
    k.replica_new = toy_replica_new;
    k.replica_free = toy_replica_free;
    k.stream_new = toy_stream_new;
    k.stream_free = toy_stream_free;
    k.grad = toy_grad;
    k.evaluate = toy_evaluate;
    return k;
}

/* ---------------------------------------------------------------- helpers */

typedef struct {
    int evals, dead, starts, dead_worker;
    tr_ps_report last;
    double loss[64];
} reports;

static void on_report(void *ctx, const tr_ps_report *r)
{
    reports *g = ctx;
    if (r->event == TR_PS_START)
        g->starts++;
    if (r->event == TR_PS_DEAD) {
        g->dead++;
        g->dead_worker = r->worker;
    }
    if (r->event == TR_PS_EVAL) {
        if (g->evals < 64)
            g->loss[g->evals] = r->loss;
        g->evals++;
        g->last = *r;
    }
}

static tr_ps_train_opts opts(tr_ps_transport_kind tr, int M, const char *mode, tr_ps_rule_kind rule, float lr,
                             int epochs)
{
    tr_ps_train_opts o;
    memset(&o, 0, sizeof o);
    o.transport = tr;
    o.workers = M;
    o.servers = 1;
    tr_err err;
    assert_int_equal(tr_ps_mode_parse(mode, &o.mode, &err), TR_OK);
    o.rule = tr_ps_rule_defaults(rule);
    o.rule.lr = lr;
    o.epochs = epochs;
    o.evals_per_epoch = 1;
    o.seed = 1;
    o.kill_worker = -1;
    o.delay.kind = TR_PS_DELAY_CONSTANT;
    o.delay.a = 1.0;
    return o;
}

/* Trains and returns the final tables (read back from the checkpoint). */
static void train(toy *t, tr_ps_train_opts o, const char *name, float *w, float *b, reports *g)
{
    char path[512];
    th_tmp(path, sizeof path, name);
    o.save = path;
    tr_ps_task task = toy_task(t);
    tr_err err;
    memset(g, 0, sizeof *g);
    if (tr_ps_train(&task, &o, NULL, on_report, g, NULL, &err))
        fail_msg("%s: %s", name, err.msg);
    tr_st_file *f = NULL;
    assert_int_equal(tr_st_open(&f, path, &err), TR_OK);
    memcpy(w, tr_st_get(f, "fc.weight")->data, C * D * sizeof(float));
    memcpy(b, tr_st_get(f, "fc.bias")->data, C * sizeof(float));
    tr_st_close(f);
}

/* Sequential SGD with batch b through triad's optimiser (the reference). */
static void sequential(int batch, float lr, int epochs, float *w, float *b)
{
    toy t;
    toy_init(&t, batch);
    tr_params *ps;
    void *rep = toy_replica_new(&t, &ps, NULL);
    for (int i = 0; i < ps->n; i++)
        memcpy(ps->p[i].value.data, t.init.p[i].value.data, (size_t)ps->p[i].value.size * sizeof(float));
    void *st = toy_stream_new(&t, 0, 1, 0, 1, NULL);
    tr_opt_config oc = tr_opt_defaults(TR_OPT_SGD);
    oc.lr = lr;
    tr_optim o;
    assert_int_equal(tr_optim_init(&o, &oc, ps, NULL), TR_OK);
    for (int s = 0; s < epochs * (N / batch); s++) {
        int64_t n;
        double loss;
        toy_grad(&t, rep, st, &loss, &n, NULL);
        tr_optim_step(&o);
    }
    memcpy(w, ps->p[0].value.data, C * D * sizeof(float));
    memcpy(b, ps->p[1].value.data, C * sizeof(float));
    tr_optim_free(&o);
    toy_stream_free(&t, st);
    toy_replica_free(&t, rep);
    toy_free(&t);
}

static void assert_close(const float *a, const float *b, int n, double tol, const char *what)
{
    for (int i = 0; i < n; i++)
        if (!(fabs((double)a[i] - (double)b[i]) <= tol))
            fail_msg("%s[%d]: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

/* ---------------------------------------------------------------- equivalences */

static void test_asp_one_worker_is_sgd(void **state)
{
    (void)state;
    float w0[C * D], b0[C], w[C * D], b[C];
    sequential(8, 0.5f, 3, w0, b0);
    toy t;
    toy_init(&t, 8);
    reports g;
    const tr_ps_transport_kind tr[2] = {TR_PS_INPROC, TR_PS_SIM};
    for (int i = 0; i < 2; i++) {
        train(&t, opts(tr[i], 1, "asp", TR_PS_SGD, 0.5f, 3), "asp1.safetensors", w, b, &g);
        assert_memory_equal(w, w0, sizeof w);
        assert_memory_equal(b, b0, sizeof b);
        assert_int_equal(g.evals, 3);
        assert_int_equal(g.last.stats.pushes, 3 * N / 8);
        assert_int_equal(g.last.stats.stale_max, 0);
        assert_true(g.last.final);
        assert_true(g.last.accuracy > 0.8);
        assert_true(g.loss[2] < g.loss[0]);
    }
    toy_free(&t);
}

static void test_bsp_equals_big_batch(void **state)
{
    (void)state;
    const int b = 5;
    for (int M = 2; M <= 4; M += 2) {
        float w0[C * D], b0[C], w[C * D], bb[C];
        sequential(M * b, 0.5f, 3, w0, b0);
        toy t;
        toy_init(&t, b);
        reports g;
        const tr_ps_transport_kind tr[2] = {TR_PS_INPROC, TR_PS_SIM};
        for (int i = 0; i < 2; i++) {
            for (int S = 1; S <= 2; S++) {
                tr_ps_train_opts o = opts(tr[i], M, "bsp", TR_PS_SGD, 0.5f, 3);
                o.servers = S;
                o.delay.kind = TR_PS_DELAY_UNIFORM; /* delays do not change bsp */
                o.delay.a = 0.5;
                o.delay.b = 2.0;
                train(&t, o, "bsp.safetensors", w, bb, &g);
                assert_close(w, w0, C * D, 1e-6, "bsp weight");
                assert_close(bb, b0, C, 1e-6, "bsp bias");
                assert_int_equal(g.last.stats.updates, 3 * N / (M * b));
                assert_int_equal(g.last.stats.pushes, 3 * N / b);
                assert_int_equal(g.last.stats.stale_max, 0);
            }
        }
        /* ma:1 averages after every local SGD step: the same as bsp */
        train(&t, opts(TR_PS_SIM, M, "ma:1", TR_PS_SGD, 0.5f, 3), "ma1.safetensors", w, bb, &g);
        assert_close(w, w0, C * D, 1e-6, "ma:1 weight");
        train(&t, opts(TR_PS_INPROC, M, "ma:1", TR_PS_SGD, 0.5f, 3), "ma1.safetensors", w, bb, &g);
        assert_close(w, w0, C * D, 1e-6, "ma:1 weight, threads");
        toy_free(&t);
    }
}

static void test_model_averaging(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 6);
    float w1[C * D], b1[C], w2[C * D], b2[C];
    reports g;
    train(&t, opts(TR_PS_SIM, 4, "ma:3", TR_PS_MOMENTUM, 0.2f, 3), "ma.safetensors", w1, b1, &g);
    assert_int_equal(g.evals, 3);
    assert_true(g.last.accuracy > 0.8);
    train(&t, opts(TR_PS_INPROC, 4, "ma:3", TR_PS_MOMENTUM, 0.2f, 3), "ma.safetensors", w2, b2, &g);
    assert_close(w1, w2, C * D, 1e-6, "ma threads vs simulator");
    assert_int_equal(g.evals, 3);
    toy_free(&t);
}

/* ---------------------------------------------------------------- the simulator */

static void test_simulator_deterministic(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 4);
    float w1[C * D], b1[C], w2[C * D], b2[C];
    reports g1, g2;
    tr_ps_train_opts o = opts(TR_PS_SIM, 8, "asp", TR_PS_DCASGD_A, 0.3f, 2);
    o.evals_per_epoch = 4;
    assert_int_equal(tr_ps_delay_parse("pareto:2", &o.delay, NULL), TR_OK);
    train(&t, o, "det.safetensors", w1, b1, &g1);
    train(&t, o, "det.safetensors", w2, b2, &g2);
    assert_memory_equal(w1, w2, sizeof w1);
    assert_int_equal(g1.evals, 8);
    assert_memory_equal(g1.loss, g2.loss, sizeof g1.loss);
    assert_true(g1.last.sim_time == g2.last.sim_time);
    assert_memory_equal(g1.last.stats.stale_hist, g2.last.stats.stale_hist, sizeof g1.last.stats.stale_hist);
    assert_true(g1.last.stats.stale_max > 0);
    o.seed = 2;
    train(&t, o, "det.safetensors", w2, b2, &g2);
    assert_memory_not_equal(w1, w2, sizeof w1);
    toy_free(&t);
}

static void test_simulator_staleness(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 4);
    float w[C * D], b[C];
    reports g;
    /* constant delays: every worker sees the other M - 1 pushes land while it computes */
    train(&t, opts(TR_PS_SIM, 6, "asp", TR_PS_SGD, 0.1f, 1), "stale.safetensors", w, b, &g);
    assert_int_equal(g.last.stats.stale_max, 5);
    assert_int_equal(g.last.stats.pushes, 60);
    /* the first round sees 0, 1, .. 5; every later push sees 5 */
    assert_int_equal(g.last.stats.stale_hist[5], 60 - 5);
    for (int k = 0; k < 5; k++)
        assert_int_equal(g.last.stats.stale_hist[k], 1);
    assert_true(g.last.sim_time == 10.0);
    /* a slow worker under ssp:2 never lets the others run more than 2 clocks ahead */
    for (int s = 0; s <= 2; s++) {
        char mode[16];
        snprintf(mode, sizeof mode, "ssp:%d", s);
        tr_ps_train_opts o = opts(TR_PS_SIM, 4, mode, TR_PS_SGD, 0.1f, 2);
        assert_int_equal(tr_ps_delay_parse("slow:5", &o.delay, NULL), TR_OK);
        train(&t, o, "ssp.safetensors", w, b, &g);
        assert_int_equal(g.last.stats.gap_max, s);
        assert_int_equal(g.last.stats.pushes, 2 * N / 4);
    }
    /* asp with the same slow worker lets the gap grow */
    tr_ps_train_opts o = opts(TR_PS_SIM, 4, "asp", TR_PS_SGD, 0.1f, 2);
    assert_int_equal(tr_ps_delay_parse("slow:5", &o.delay, NULL), TR_OK);
    train(&t, o, "ssp.safetensors", w, b, &g);
    assert_true(g.last.stats.gap_max > 2);
    toy_free(&t);
}

/* ---------------------------------------------------------------- threads */

static void test_threads_ssp_and_asp(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 2);
    float w[C * D], b[C];
    reports g;
    for (int s = 0; s <= 1; s++) {
        char mode[16];
        snprintf(mode, sizeof mode, "ssp:%d", s);
        train(&t, opts(TR_PS_INPROC, 3, mode, TR_PS_DCASGD_C, 0.2f, 2), "thr.safetensors", w, b, &g);
        assert_true(g.last.stats.gap_max <= s);
        assert_int_equal(g.last.stats.pushes, 2 * 3 * (N / 6));
        assert_true(g.last.accuracy > 0.7);
    }
    tr_ps_train_opts o = opts(TR_PS_INPROC, 3, "asp", TR_PS_ADAGRAD, 0.2f, 2);
    o.servers = 3;
    train(&t, o, "thr.safetensors", w, b, &g);
    assert_int_equal(g.last.stats.pushes, 2 * 3 * (N / 6));
    assert_true(g.last.accuracy > 0.7);
    toy_free(&t);
}

/* ---------------------------------------------------------------- faults */

static void test_dead_worker_simulated(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 4);
    float w[C * D], b[C];
    reports g;
    const char *modes[3] = {"asp", "ssp:1", "bsp"};
    for (int i = 0; i < 3; i++) {
        tr_ps_train_opts o = opts(TR_PS_SIM, 4, modes[i], TR_PS_SGD, 0.2f, 2);
        o.kill_worker = 2;
        o.kill_step = 3;
        o.timeout = 5.0;
        train(&t, o, "dead.safetensors", w, b, &g);
        assert_int_equal(g.dead, 1);
        assert_int_equal(g.dead_worker, 2);
        assert_int_equal(g.last.stats.dead, 1);
        assert_int_equal(g.last.stats.pushes, 2 * N / 4 - (2 * N / 16 - 3));
        assert_true(g.last.accuracy > 0.7);
    }
    /* a long timeout costs simulated time only: the loop jumps to it */
    tr_ps_train_opts o = opts(TR_PS_SIM, 4, "ssp:1", TR_PS_SGD, 0.2f, 2);
    o.kill_worker = 2;
    o.kill_step = 3;
    o.timeout = 1e9;
    train(&t, o, "dead.safetensors", w, b, &g);
    assert_int_equal(g.dead, 1);
    assert_true(g.last.sim_time > 1e9);
    toy_free(&t);
}

static void test_dead_worker_threads(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 4);
    float w[C * D], b[C];
    reports g;
    tr_ps_train_opts o = opts(TR_PS_INPROC, 3, "ssp:1", TR_PS_SGD, 0.2f, 2);
    o.kill_worker = 1;
    o.kill_step = 2;
    o.timeout = 1.0; /* long enough that a loaded machine does not lose a live worker */
    train(&t, o, "dead_thr.safetensors", w, b, &g);
    assert_int_equal(g.dead, 1);
    assert_int_equal(g.dead_worker, 1);
    assert_int_equal(g.last.stats.pushes, 2 * 3 * (N / 12) - (2 * (N / 12) - 2));
    toy_free(&t);
}

/* ---------------------------------------------------------------- checkpoints */

static void test_resume(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 5);
    float w1[C * D], b1[C], w2[C * D], b2[C];
    reports g;
    char path[512];
    th_tmp(path, sizeof path, "resume.safetensors");
    tr_ps_train_opts o = opts(TR_PS_SIM, 3, "bsp", TR_PS_MOMENTUM, 0.1f, 4);
    train(&t, o, "straight.safetensors", w1, b1, &g);
    o.epochs = 2;
    train(&t, o, "resume.safetensors", w2, b2, &g);
    assert_int_equal(g.evals, 2);
    o.epochs = 4;
    o.resume = path;
    o.servers = 2;
    train(&t, o, "resumed.safetensors", w2, b2, &g);
    assert_int_equal(g.evals, 2);
    assert_true(g.last.epoch == 4.0);
    assert_int_equal(g.last.stats.pushes, 4 * N / 5);
    assert_memory_equal(w1, w2, sizeof w1);
    assert_memory_equal(b1, b2, sizeof b1);

    /* bad resumes: done already, another rule, another model */
    tr_ps_task task = toy_task(&t);
    tr_err err;
    o.epochs = 2;
    assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
    assert_non_null(strstr(err.msg, "already trained 2 epochs"));
    o.epochs = 3;
    o.rule = tr_ps_rule_defaults(TR_PS_ADAGRAD);
    assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
    assert_non_null(strstr(err.msg, "--rule momentum"));
    task.name = "other";
    assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
    assert_non_null(strstr(err.msg, "model 'toy', not 'other'"));
    th_tmp(path, sizeof path, "missing.safetensors");
    o.resume = path;
    assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
    assert_non_null(strstr(err.msg, "missing.safetensors"));
    toy_free(&t);
}

static void test_bad_options(void **state)
{
    (void)state;
    toy t;
    toy_init(&t, 5);
    tr_ps_task task = toy_task(&t);
    tr_err err;
    tr_ps_train_opts o = opts(TR_PS_SIM, 3, "ma:2", TR_PS_DCASGD_A, 0.1f, 1);
    assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
    assert_non_null(strstr(err.msg, "model averaging"));
    o = opts(TR_PS_SIM, 3, "asp", TR_PS_SGD, -1.0f, 1);
    assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
    assert_non_null(strstr(err.msg, "--lr"));
    o = opts(TR_PS_SIM, 3, "asp", TR_PS_SGD, 0.1f, 1);
    task.epoch_samples = 0;
    assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
    assert_non_null(strstr(err.msg, "examples per epoch"));
    task.epoch_samples = N;
    if (!tr_ps_have_mpi()) {
        o.transport = TR_PS_MPI;
        assert_int_not_equal(tr_ps_train(&task, &o, NULL, NULL, NULL, NULL, &err), TR_OK);
        assert_non_null(strstr(err.msg, "without MPI"));
    }
    toy_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_asp_one_worker_is_sgd),
        cmocka_unit_test(test_bsp_equals_big_batch),
        cmocka_unit_test(test_model_averaging),
        cmocka_unit_test(test_simulator_deterministic),
        cmocka_unit_test(test_simulator_staleness),
        cmocka_unit_test(test_threads_ssp_and_asp),
        cmocka_unit_test(test_dead_worker_simulated),
        cmocka_unit_test(test_dead_worker_threads),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
