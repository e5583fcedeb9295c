/* The delay simulator: M logical workers in one thread, each computing its
 * gradient on the weights it last pulled, against the same servers as the
 * other transports (through the direct transport). A discrete-event loop
 * orders the workers by simulated completion time (ties by worker id), and a
 * delay model draws how long each gradient takes, from a stream per worker
 * seeded by the run seed: a run is a function of its options and seed.
 *
 * A worker pulls at time t, finishes at t + delay, pushes, and pulls again
 * at once; one the consistency mode holds back waits (the servers count it
 * as waiting, not silent) until a push releases it. A worker told to fall
 * silent stops; once no worker can move, time jumps to the moment the
 * servers declare it dead. One compute replica serves every worker: each
 * worker keeps only its pulled weights, copied in before it computes.
 *
 * Model averaging is simulated round by round: every worker takes k local
 * steps (simulated time: the slowest worker's k delays), then the mean. */
#include "ps_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S_COMPUTING = 0, S_BLOCKED, S_DONE, S_SILENT };

typedef struct {
    double t;
    int w;
} event;

/* A binary min-heap of (time, worker). */
typedef struct {
    event *e;
    int n;
} heap;

static int before(event a, event b)
{
    return a.t < b.t || (a.t == b.t && a.w < b.w);
}

static void heap_push(heap *h, event x)
{
    int i = h->n++;
    h->e[i] = x;
    while (i > 0 && before(h->e[i], h->e[(i - 1) / 2])) {
        event tmp = h->e[i];
        h->e[i] = h->e[(i - 1) / 2];
        h->e[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static event heap_pop(heap *h)
{
    event top = h->e[0];
    h->e[0] = h->e[--h->n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && before(h->e[l], h->e[m]))
            m = l;
        if (r < h->n && before(h->e[r], h->e[m]))
            m = r;
        if (m == i)
            break;
        event tmp = h->e[i];
        h->e[i] = h->e[m];
        h->e[m] = tmp;
        i = m;
    }
    return top;
}

typedef struct {
    ps_run *run;
    int S, M, T;
    tr_ps_server **srv;
    double now;
    tr_ps_direct d;
    tr_ps_transport tr;
    tr_ps_client *c, *mon;
    void *rep;
    tr_params *rp;
    float ***snap;     /* (M)(T) each worker's pulled weights */
    void **stream;     /* (M) */
    tr_rng *rng;       /* (M) delay streams */
    int *status;       /* (M) */
    int64_t *steps;    /* (M) pushes done */
    heap h;
} sim;

/* Checks every server for silent workers at s->now and reports them. */
static void check_dead(sim *s)
{
    for (int k = 0; k < s->S; k++) {
        int dead[16], n;
        while ((n = tr_ps_server_check(s->srv[k], s->now, dead, 16)) > 0)
            for (int i = 0; i < n; i++)
                ps_run_dead(s->run, k, dead[i], tr_ps_server_stats(s->srv[k]), s->now);
    }
}

/* Worker w pulls at s->now if its mode lets it, and starts computing. */
static tr_status try_pull(sim *s, int w, tr_err *err)
{
    int ready = 1;
    for (int k = 0; k < s->S; k++)
        ready &= ps_server_pull_ready(s->srv[k], w, s->now);
    if (!ready) {
        s->status[w] = S_BLOCKED;
        return TR_OK;
    }
    ps_client_set_worker(s->c, w);
    tr_status rc = tr_ps_wait(s->c, tr_ps_pull(s->c, s->snap[w], NULL, NULL), err);
    if (rc)
        return rc;
    s->status[w] = S_COMPUTING;
    event e = {s->now + tr_ps_delay_draw(&s->run->o->delay, w, s->M, &s->rng[w]), w};
    heap_push(&s->h, e);
    return TR_OK;
}

static void load_snapshot(sim *s, float *const *vals)
{
    for (int t = 0; t < s->T; t++)
        memcpy(s->rp->p[t].value.data, vals[t], (size_t)s->rp->p[t].value.size * sizeof(float));
}

/* The monitor's view of the servers into the replica, then an evaluation. */
static tr_status evaluate_now(sim *s, int final, float *const *state, tr_err *err)
{
    float **vals = tr_xcalloc((size_t)s->T, sizeof(float *));
    tr_ps_values(s->rp, vals);
    tr_status rc = tr_ps_snapshot(s->mon, vals, state, 0, err);
    free(vals);
    if (rc)
        return rc;
    if (final)
        return ps_run_finish(s->run, s->rep, s->rp, state, tr_ps_client_stats(s->mon), s->now, err);
    return ps_run_evaluate(s->run, s->rep, tr_ps_client_stats(s->mon), s->now, 0, err);
}

static tr_status run_servers(sim *s, tr_err *err)
{
    ps_run *run = s->run;
    const tr_ps_train_opts *o = run->o;
    const tr_ps_task *task = run->task;
    tr_status rc = TR_OK;
    for (int w = 0; w < s->M && !rc; w++) {
        if (w == o->kill_worker && o->kill_step == 0)
            s->status[w] = S_SILENT;
        else if (run->steps == 0)
            s->status[w] = S_DONE;
        else
            rc = try_pull(s, w, err);
    }
    while (!rc) {
        if (s->h.n == 0) {
            int blocked = 0;
            for (int w = 0; w < s->M; w++)
                blocked |= s->status[w] == S_BLOCKED;
            if (!blocked)
                break;
            /* nobody can move: the next thing to happen is a timeout */
            double d = -1;
            for (int k = 0; k < s->S; k++) {
                double dk = tr_ps_server_deadline(s->srv[k]);
                if (dk >= 0 && (d < 0 || dk < d))
                    d = dk;
            }
            if (d < 0)
                return tr_err_set(err, TR_ERR_ARG, "the simulation is stuck: every worker waits for one that fell "
                                                   "silent and --timeout never declares it dead");
            s->now = nextafter(d, INFINITY);
            check_dead(s);
        } else {
            event e = heap_pop(&s->h);
            const int w = e.w;
            s->now = e.t;
            check_dead(s);
            if (ps_run_stopping(run))
                break;
            load_snapshot(s, s->snap[w]);
            int64_t n = 0;
            double loss = 0.0;
            rc = task->grad(task->ctx, s->rep, s->stream[w], &loss, &n, err);
            if (rc)
                break;
            ps_client_set_worker(s->c, w);
            rc = tr_ps_wait(s->c, tr_ps_push(s->c, s->rp, n, loss), err);
            if (rc)
                break;
            s->steps[w]++;
            if (w == o->kill_worker && s->steps[w] == o->kill_step) {
                s->status[w] = S_SILENT;
            } else if (s->steps[w] == run->steps) {
                rc = tr_ps_bye(s->c, err);
                s->status[w] = S_DONE;
            } else {
                rc = try_pull(s, w, err);
            }
            if (!rc && ps_run_eval_due(run, ps_run_pushes(run, tr_ps_client_stats(s->c))))
                rc = evaluate_now(s, 0, NULL, err);
        }
        for (int w = 0; w < s->M && !rc; w++)
            if (s->status[w] == S_BLOCKED)
                rc = try_pull(s, w, err);
    }
    if (rc)
        return rc;
    float **state = ps_state_new(run);
    rc = evaluate_now(s, 1, state, err);
    ps_state_free(run, state);
    return rc;
}

/* ---------------------------------------------------------------- model averaging */

static tr_status run_ma(sim *s, tr_err *err)
{
    ps_run *run = s->run;
    const tr_ps_task *task = run->task;
    const int64_t k = run->o->mode.param;
    float ***st = tr_xcalloc((size_t)s->M, sizeof(float **));
    tr_status rc = TR_OK;
    for (int w = 0; w < s->M && !rc; w++) {
        st[w] = ps_state_new(run);
        if (w == 0)
            rc = ps_run_initial(run, s->rp, st[0], err);
        else if (st[w])
            for (int t = 0; t < s->T; t++)
                memcpy(st[w][t], st[0][t], (size_t)s->rp->p[t].value.size * sizeof(float));
    }
    for (int w = 0; w < s->M && !rc; w++)
        for (int t = 0; t < s->T; t++)
            memcpy(s->snap[w][t], s->rp->p[t].value.data, (size_t)s->rp->p[t].value.size * sizeof(float));
    double loss_sum = 0.0;
    int64_t loss_n = 0, step = 0;
    tr_ps_stats stats;
    memset(&stats, 0, sizeof stats);
    while (!rc && step < run->steps && !ps_run_stopping(run)) {
        const int64_t todo = run->steps - step < k ? run->steps - step : k;
        double slowest = 0.0;
        for (int w = 0; w < s->M; w++) {
            double busy = 0.0;
            load_snapshot(s, s->snap[w]);
            for (int64_t i = 0; i < todo && !rc; i++) {
                int64_t n = 0;
                double loss = 0.0;
                rc = task->grad(task->ctx, s->rep, s->stream[w], &loss, &n, err);
                if (rc)
                    break;
                ps_local_step(&run->o->rule, ps_run_lr(run, (step + i) * s->M), s->rp, st[w]);
                if (isfinite(loss)) {
                    loss_sum += loss;
                    loss_n++;
                }
                busy += tr_ps_delay_draw(&run->o->delay, w, s->M, &s->rng[w]);
            }
            for (int t = 0; t < s->T; t++)
                memcpy(s->snap[w][t], s->rp->p[t].value.data, (size_t)s->rp->p[t].value.size * sizeof(float));
            if (busy > slowest)
                slowest = busy;
        }
        if (rc)
            break;
        step += todo;
        s->now += slowest;
        /* the mean of every copy, in double as the other transports' allreduce */
        for (int t = 0; t < s->T; t++) {
            const int64_t n = s->rp->p[t].value.size;
            float *out = s->rp->p[t].value.data;
            for (int64_t i = 0; i < n; i++) {
                double sum = 0.0;
                for (int w = 0; w < s->M; w++)
                    sum += (double)s->snap[w][t][i];
                out[i] = (float)(sum / (double)s->M);
            }
            for (int w = 0; w < s->M; w++)
                memcpy(s->snap[w][t], out, (size_t)n * sizeof(float));
        }
        const int64_t pushes = step * s->M;
        stats.pushes = run->base.pushes + pushes;
        stats.updates = run->base.updates + pushes;
        stats.samples = run->base.samples + pushes * task->batch_samples;
        stats.loss_sum = run->base.loss_sum + loss_sum;
        stats.loss_n = run->base.loss_n + loss_n;
        stats.stale_n = run->base.stale_n + pushes;
        stats.stale_sum = run->base.stale_sum;
        stats.stale_max = run->base.stale_max;
        stats.live = s->M;
        stats.lr = ps_run_lr(run, pushes);
        if (step < run->steps && ps_run_eval_due(run, pushes))
            rc = ps_run_evaluate(run, s->rep, &stats, s->now, 0, err);
    }
    if (!rc)
        rc = ps_run_finish(run, s->rep, s->rp, st[0], &stats, s->now, err);
    for (int w = 0; w < s->M; w++)
        ps_state_free(run, st[w]);
    free(st);
    return rc;
}

/* ---------------------------------------------------------------- driver */

tr_status ps_train_sim(ps_run *run, tr_err *err)
{
    const tr_ps_task *task = run->task;
    const tr_ps_train_opts *o = run->o;
    const int ma = o->mode.kind == TR_PS_MA;
    sim s;
    memset(&s, 0, sizeof s);
    s.run = run;
    s.M = run->M;
    s.T = run->layout.ntables;
    s.S = ma ? 0 : run->layout.servers;
    tr_status rc = TR_OK;
    s.srv = tr_xcalloc((size_t)(s.S > 0 ? s.S : 1), sizeof(tr_ps_server *));
    for (int k = 0; k < s.S && !rc; k++)
        rc = ps_run_server(run, k, &s.srv[k], err);
    if (!rc && !ma) {
        tr_ps_direct_init(&s.d, s.srv, s.S, &s.now, &s.tr);
        rc = tr_ps_client_new(&s.c, &run->layout, 0, &s.tr, err);
        if (!rc)
            rc = tr_ps_client_new(&s.mon, &run->layout, -1, &s.tr, err);
        if (!rc)
            rc = tr_ps_hello(s.mon, err);
    }
    if (!rc && !(s.rep = task->replica_new(task->ctx, &s.rp, err)))
        rc = err ? err->code : TR_ERR_ARG;
    s.snap = tr_xcalloc((size_t)s.M, sizeof(float **));
    s.stream = tr_xcalloc((size_t)s.M, sizeof(void *));
    s.rng = tr_xcalloc((size_t)s.M, sizeof(tr_rng));
    s.status = tr_xcalloc((size_t)s.M, sizeof(int));
    s.steps = tr_xcalloc((size_t)s.M, sizeof(int64_t));
    s.h.e = tr_xcalloc((size_t)s.M, sizeof(event));
    for (int w = 0; w < s.M && !rc; w++) {
        s.snap[w] = tr_xcalloc((size_t)s.T, sizeof(float *));
        for (int t = 0; t < s.T; t++)
            s.snap[w][t] = tr_xcalloc((size_t)s.rp->p[t].value.size + 1, sizeof(float));
        tr_rng_seed(&s.rng[w], o->seed, 1000u + (uint64_t)w);
        if (!(s.stream[w] = task->stream_new(task->ctx, w, s.M, run->epoch0, o->seed, err)))
            rc = err ? err->code : TR_ERR_ARG;
    }
    if (!rc) {
        ps_run_start(run);
        rc = ma ? run_ma(&s, err) : run_servers(&s, err);
    }
    for (int w = 0; w < s.M; w++) {
        if (s.snap[w])
            for (int t = 0; t < s.T; t++)
                free(s.snap[w][t]);
        free(s.snap[w]);
        if (s.stream[w])
            task->stream_free(task->ctx, s.stream[w]);
    }
    if (s.rep)
        task->replica_free(task->ctx, s.rep);
    tr_ps_client_free(s.c);
    tr_ps_client_free(s.mon);
    if (s.tr.ctx)
        tr_ps_direct_free(&s.d);
    for (int k = 0; k < s.S; k++)
        tr_ps_server_free(s.srv[k]);
    free(s.srv);
    free(s.snap);
    free(s.stream);
    free(s.rng);
    free(s.status);
    free(s.steps);
    free(s.h.e);
    return rc;
}
