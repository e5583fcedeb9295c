/* The training driver shared by every transport: the plan of a run (steps
 * per worker, epochs, evaluation points, resuming), one worker's loop of
 * pull, gradient and push, evaluations and reports, the final snapshot and
 * its checkpoint, and the local update of model averaging.
 *
 * The plan: a worker takes steps_w = max(1, epoch_samples / (M * batch))
 * steps per epoch, so that an epoch is M * steps_w pushes whatever the mode;
 * evaluation points divide each epoch into evals_per_epoch parts. Worker 0
 * evaluates the weights it has just pulled when the servers' push count has
 * passed a point, so the evaluated model is the servers' at that moment
 * (exactly the end of a round in bsp; a few pushes later in asp). */
#include "ps_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- plan */

tr_status ps_run_init(ps_run *run, const tr_ps_task *task, const tr_ps_train_opts *o,
                      volatile sig_atomic_t *stop, tr_ps_report_fn fn, void *ctx, int rank, int ranks,
                      tr_err *err)
{
    memset(run, 0, sizeof *run);
    run->task = task;
    run->o = o;
    run->stop = stop;
    run->fn = fn;
    run->ctx = ctx;
    run->rank = rank;
    run->ranks = ranks;
    run->M = o->workers;
    run->nstate = tr_ps_rule_nstate(o->rule.kind);
    TR_ASSERT(task->params && task->replica_new && task->stream_new && task->grad && task->evaluate);
    if (task->epoch_samples < 1 || task->batch_samples < 1)
        return tr_err_set(err, TR_ERR_ARG, "the task has %lld examples per epoch and %lld per batch",
                          (long long)task->epoch_samples, (long long)task->batch_samples);
    tr_status rc = tr_ps_layout_init(&run->layout, task->params, o->mode.kind == TR_PS_MA ? 1 : o->servers, err);
    if (rc)
        return rc;
    run->steps_w = task->epoch_samples / ((int64_t)run->M * task->batch_samples);
    if (run->steps_w < 1)
        run->steps_w = 1;
    run->epoch_pushes = run->steps_w * run->M;
    if (o->resume) {
        rc = tr_st_open(&run->resume, o->resume, err);
        ps_ckpt_meta meta;
        if (!rc)
            rc = ps_ckpt_read(run->resume, o->resume, task->name, &meta, err);
        if (!rc && meta.epoch >= o->epochs)
            rc = tr_err_set(err, TR_ERR_ARG,
                            "%s has already trained %lld epochs; ask for more with --epochs (the total, counting "
                            "those)",
                            o->resume, (long long)meta.epoch);
        if (rc) {
            ps_run_free(run);
            return rc;
        }
        run->epoch0 = meta.epoch;
        run->base = meta.stats;
    }
    run->steps = ((int64_t)o->epochs - run->epoch0) * run->steps_w;
    run->next_eval = 1;
    run->last_loss_sum = run->base.loss_sum;
    run->last_loss_n = run->base.loss_n;
    run->last_stale_sum = run->base.stale_sum;
    run->last_stale_n = run->base.stale_n;
    return TR_OK;
}

void ps_run_free(ps_run *run)
{
    tr_st_close(run->resume);
    run->resume = NULL;
    tr_ps_layout_free(&run->layout);
}

tr_status ps_run_server(ps_run *run, int shard, tr_ps_server **out, tr_err *err)
{
    const tr_ps_train_opts *o = run->o;
    tr_ps_server_config c = {&run->layout, shard, run->M, o->rule, o->mode, run->epoch_pushes, run->epoch0,
                             o->timeout};
    tr_status rc = tr_ps_server_new(out, &c, run->task->params, err);
    if (!rc && run->resume)
        rc = tr_ps_server_load(*out, run->resume, o->resume, err);
    if (rc) {
        tr_ps_server_free(*out);
        *out = NULL;
    }
    return rc;
}

int64_t ps_run_pushes(const ps_run *run, const tr_ps_stats *st)
{
    return st->pushes - run->base.pushes;
}

float ps_run_lr(const ps_run *run, int64_t pushes)
{
    return tr_ps_rule_lr(&run->o->rule, run->epoch0 + pushes / run->epoch_pushes);
}

/* Run pushes at evaluation point k (1-based). */
static int64_t eval_point(const ps_run *run, int64_t k)
{
    const int64_t E = run->o->evals_per_epoch;
    return (k * run->epoch_pushes + E - 1) / E;
}

int ps_run_eval_due(ps_run *run, int64_t run_pushes)
{
    if (run->o->evals_per_epoch < 1)
        return 0;
    const int64_t end = run->steps * run->M;
    int due = 0;
    while (eval_point(run, run->next_eval) <= run_pushes) {
        due = eval_point(run, run->next_eval) < end;
        run->next_eval++;
    }
    return due;
}

int ps_run_stopping(const ps_run *run)
{
    if (run->abort || (run->stop && *run->stop))
        return 1;
    return run->o->max_seconds > 0 && tr_now_seconds() - run->t0 >= run->o->max_seconds;
}

/* ---------------------------------------------------------------- reports */

static void report(ps_run *run, tr_ps_report *r)
{
    if (run->report_mu)
        pthread_mutex_lock(run->report_mu);
    if (r->event == TR_PS_EVAL)
        run->last = *r;
    if (run->fn)
        run->fn(run->ctx, r);
    if (run->report_mu)
        pthread_mutex_unlock(run->report_mu);
}

static void fill(ps_run *run, tr_ps_report *r, tr_ps_event ev, const tr_ps_stats *st, double sim_time)
{
    memset(r, 0, sizeof *r);
    r->event = ev;
    r->rank = run->rank;
    r->ranks = run->ranks;
    r->worker = -1;
    r->server = -1;
    r->seconds = tr_now_seconds() - run->t0;
    r->sim_time = sim_time;
    r->stats = *st;
    r->epoch = (double)run->epoch0 + (double)ps_run_pushes(run, st) / (double)run->epoch_pushes;
    const int64_t updates = st->updates - run->base.updates;
    r->updates_per_s = r->seconds > 0 ? (double)updates / r->seconds : 0.0;
    r->samples_per_s = r->seconds > 0 ? (double)(st->samples - run->base.samples) / r->seconds : 0.0;
    r->train_loss = NAN;
    r->loss = NAN;
    r->accuracy = NAN;
    r->stale_mean = NAN;
}

tr_status ps_run_evaluate(ps_run *run, void *rep, const tr_ps_stats *st, double sim_time, int final, tr_err *err)
{
    tr_ps_report r;
    fill(run, &r, TR_PS_EVAL, st, sim_time);
    r.final = final;
    tr_status rc = run->task->evaluate(run->task->ctx, rep, &r.loss, &r.accuracy, err);
    if (rc)
        return rc;
    if (st->loss_n > run->last_loss_n)
        r.train_loss = (st->loss_sum - run->last_loss_sum) / (double)(st->loss_n - run->last_loss_n);
    if (st->stale_n > run->last_stale_n)
        r.stale_mean = (double)(st->stale_sum - run->last_stale_sum) / (double)(st->stale_n - run->last_stale_n);
    run->last_loss_sum = st->loss_sum;
    run->last_loss_n = st->loss_n;
    run->last_stale_sum = st->stale_sum;
    run->last_stale_n = st->stale_n;
    report(run, &r);
    return TR_OK;
}

void ps_run_dead(ps_run *run, int server, int worker, const tr_ps_stats *st, double sim_time)
{
    tr_ps_report r;
    fill(run, &r, TR_PS_DEAD, st, sim_time);
    r.worker = worker;
    r.server = server;
    report(run, &r);
}

float **ps_state_new(const ps_run *run)
{
    if (!run->nstate)
        return NULL;
    const tr_ps_layout *l = &run->layout;
    float **s = tr_xcalloc((size_t)l->ntables, sizeof(float *));
    for (int t = 0; t < l->ntables; t++)
        s[t] = tr_xcalloc((size_t)(l->t[t].rows * l->t[t].cols) * (size_t)run->nstate + 1, sizeof(float));
    return s;
}

void ps_state_free(const ps_run *run, float **state)
{
    if (!state)
        return;
    for (int t = 0; t < run->layout.ntables; t++)
        free(state[t]);
    free(state);
}

tr_status ps_run_finish(ps_run *run, void *rep, tr_params *rp, float *const *state, const tr_ps_stats *st,
                        double sim_time, tr_err *err)
{
    tr_status rc = ps_run_evaluate(run, rep, st, sim_time, 1, err);
    if (rc || !run->o->save)
        return rc;
    float **values = tr_xcalloc((size_t)rp->n, sizeof(float *));
    tr_ps_values(rp, values);
    const int64_t epoch = run->epoch0 + ps_run_pushes(run, st) / run->epoch_pushes;
    rc = tr_ps_save(run->o->save, run->task, &run->layout, &run->o->rule, values, state, st, epoch, err);
    free(values);
    return rc;
}

/* ---------------------------------------------------------------- model averaging */

void ps_local_step(const tr_ps_rule *rule, float lr, tr_params *rp, float *const *state)
{
    for (int i = 0; i < rp->n; i++) {
        tr_param *p = &rp->p[i];
        float *st = state ? state[i] : NULL;
        if (!p->sparse) {
            tr_ps_rule_apply(rule, lr, p->value.data, p->grad.data, st, NULL, p->value.size);
            continue;
        }
        const int64_t cols = p->value.shape[0] ? p->value.size / p->value.shape[0] : 0;
        for (int64_t k = 0; k < p->ntouched; k++) {
            const int64_t off = (int64_t)p->touched[k] * cols;
            tr_ps_rule_apply(rule, lr, p->value.data + off, p->grad.data + off, st ? st + off : NULL, NULL, cols);
        }
    }
}

/* The statistics of model averaging: every worker's local steps count as
 * pushes and updates, with staleness 0. */
static void ma_stats(const ps_run *run, int64_t steps_done, double loss_sum, int64_t loss_n, tr_ps_stats *st)
{
    memset(st, 0, sizeof *st);
    const int64_t pushes = steps_done * run->M;
    st->pushes = run->base.pushes + pushes;
    st->updates = run->base.updates + pushes;
    st->samples = run->base.samples + pushes * run->task->batch_samples;
    st->loss_sum = run->base.loss_sum + loss_sum;
    st->loss_n = run->base.loss_n + loss_n;
    st->stale_n = run->base.stale_n + pushes;
    st->stale_sum = run->base.stale_sum;
    st->stale_max = run->base.stale_max;
    st->live = run->M;
    st->lr = ps_run_lr(run, pushes);
}

int64_t ps_ma_floats(const ps_run *run)
{
    return tr_params_count(run->task->params) + 3;
}

tr_status ps_ma_worker_run(ps_run *run, int w, ps_allreduce_fn ar, void *ar_ctx, void *rep, tr_params *rp,
                           void *stream, float *const *state, tr_ps_stats *st, tr_err *err)
{
    const tr_ps_task *task = run->task;
    const int64_t k = run->o->mode.param, np = tr_params_count(rp), n = np + 3;
    TR_ASSERT(n == ps_ma_floats(run));
    float *flat = tr_xmalloc((size_t)n * sizeof(float));
    double loss_sum = 0.0;
    int64_t loss_n = 0, step = 0;
    tr_status rc = TR_OK;
    ma_stats(run, 0, 0.0, 0, st);
    while (step < run->steps) {
        const int64_t todo = run->steps - step < k ? run->steps - step : k;
        double rl = 0.0;
        int64_t rn = 0;
        for (int64_t i = 0; i < todo && !rc; i++) {
            int64_t used = 0;
            double loss = 0.0;
            rc = task->grad(task->ctx, rep, stream, &loss, &used, err);
            if (rc)
                break;
            ps_local_step(&run->o->rule, ps_run_lr(run, (step + i) * run->M), rp, state);
            if (isfinite(loss)) {
                rl += loss;
                rn++;
            }
        }
        step += todo;
        float *f = flat;
        for (int i = 0; i < rp->n; i++) {
            memcpy(f, rp->p[i].value.data, (size_t)rp->p[i].value.size * sizeof(float));
            f += rp->p[i].value.size;
        }
        f[0] = (ps_run_stopping(run) || rc) ? 1.0f : 0.0f;
        f[1] = (float)rl;
        f[2] = (float)rn;
        ar(ar_ctx, flat, n);
        f = flat;
        for (int i = 0; i < rp->n; i++) {
            memcpy(rp->p[i].value.data, f, (size_t)rp->p[i].value.size * sizeof(float));
            f += rp->p[i].value.size;
        }
        loss_sum += (double)f[1] * run->M;
        loss_n += (int64_t)lround((double)f[2] * run->M);
        ma_stats(run, step, loss_sum, loss_n, st);
        if (f[0] > 0.0f)
            break; /* every worker sees the same vote, so all leave together */
        if (w == 0 && !rc && ps_run_eval_due(run, step * run->M))
            rc = ps_run_evaluate(run, rep, st, 0.0, 0, err);
    }
    free(flat);
    return rc;
}

tr_status ps_run_initial(ps_run *run, tr_params *rp, float *const *state, tr_err *err)
{
    const tr_ps_train_opts *o = run->o;
    tr_ps_mode asp = {TR_PS_ASP, 0};
    tr_ps_server_config c = {&run->layout, 0, 1, o->rule, asp, run->epoch_pushes, run->epoch0, 0};
    tr_ps_server *srv = NULL;
    tr_status rc = tr_ps_server_new(&srv, &c, run->task->params, err);
    if (!rc && run->resume)
        rc = tr_ps_server_load(srv, run->resume, o->resume, err);
    if (!rc) {
        double now = 0;
        tr_ps_direct d;
        tr_ps_transport dt;
        tr_ps_direct_init(&d, &srv, 1, &now, &dt);
        tr_ps_client *mon = NULL;
        float **vals = tr_xcalloc((size_t)rp->n, sizeof(float *));
        tr_ps_values(rp, vals);
        rc = tr_ps_client_new(&mon, &run->layout, -1, &dt, err);
        if (!rc)
            rc = tr_ps_snapshot(mon, vals, state, 0, err);
        tr_ps_client_free(mon);
        free(vals);
        tr_ps_direct_free(&d);
    }
    tr_ps_server_free(srv);
    return rc;
}

void ps_run_start(ps_run *run)
{
    run->t0 = tr_now_seconds();
    tr_ps_report r;
    fill(run, &r, TR_PS_START, &run->base, 0.0);
    report(run, &r);
}

/* ---------------------------------------------------------------- a worker */

tr_status ps_worker_run(ps_run *run, int w, tr_ps_client *c, void *rep, tr_params *rp, void *stream,
                        int *silent, tr_err *err)
{
    const tr_ps_task *task = run->task;
    const tr_ps_train_opts *o = run->o;
    *silent = 0;
    float **vals = tr_xcalloc((size_t)rp->n, sizeof(float *));
    tr_ps_values(rp, vals);
    tr_status rc = tr_ps_hello(c, err);
    for (int64_t step = 0; !rc && step < run->steps; step++) {
        if (w == o->kill_worker && step == o->kill_step) {
            *silent = 1;
            break;
        }
        if (ps_run_stopping(run))
            break;
        rc = tr_ps_wait(c, tr_ps_pull(c, vals, NULL, NULL), err);
        if (rc)
            break;
        if (w == 0 && ps_run_eval_due(run, ps_run_pushes(run, tr_ps_client_stats(c)))) {
            rc = ps_run_evaluate(run, rep, tr_ps_client_stats(c), 0.0, 0, err);
            if (rc)
                break;
        }
        int64_t n = 0;
        double loss = 0.0;
        rc = task->grad(task->ctx, rep, stream, &loss, &n, err);
        if (!rc)
            rc = tr_ps_wait(c, tr_ps_push(c, rp, n, loss), err);
    }
    if (!rc && !*silent)
        rc = tr_ps_bye(c, err);
    free(vals);
    return rc;
}

/* ---------------------------------------------------------------- entry */

tr_status tr_ps_train(const tr_ps_task *task, const tr_ps_train_opts *o,
                      volatile sig_atomic_t *stop, tr_ps_report_fn fn,
                      void *ctx, tr_ps_report *final, tr_err *err)
{
    tr_status rc = tr_ps_train_check(o, err);
    if (rc)
        return rc;
    ps_run run;
    rc = ps_run_init(&run, task, o, stop, fn, ctx, 0, 1, err);
    if (rc)
        return rc;
    switch (o->transport) {
    case TR_PS_INPROC: rc = ps_train_inproc(&run, err); break;
    case TR_PS_SIM: rc = ps_train_sim(&run, err); break;
    case TR_PS_MPI: rc = ps_train_mpi(&run, err); break;
    default: rc = tr_err_set(err, TR_ERR_ARG, "unknown transport %d", (int)o->transport);
    }
    if (!rc && final)
        *final = run.last;
    ps_run_free(&run);
    return rc;
}
