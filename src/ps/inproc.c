/* The in-process transport: M worker threads and S server shards in one
 * process. A request runs tr_ps_server_handle under its shard's mutex in the
 * calling thread; a deferred pull waits on the shard's condition variable,
 * which every handled request signals, and wakes every 20 ms to let the
 * server check for dead workers. Model averaging needs no server: the
 * workers meet in an allreduce (a sum under a mutex and a generation
 * counter). The main thread starts the workers, joins them, and takes the
 * final snapshot. */
#include "ps_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    ps_run *run;
    int S;
    tr_ps_server **srv;
    pthread_mutex_t *mu;
    pthread_cond_t *cv;
    size_t *len;             /* ((M + 1) * S): reply length per (worker + 1, server) */
    /* model averaging */
    pthread_mutex_t ma_mu;
    pthread_cond_t ma_cv;
    double *ma_sum;          /* (n) */
    float *ma_mean;          /* (n) */
    int64_t ma_n;
    int ma_arrived;
    int64_t ma_gen;
} inproc;

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += ms * 1000000L;
    while (ts->tv_nsec >= 1000000000L) {
        ts->tv_nsec -= 1000000000L;
        ts->tv_sec++;
    }
}

static tr_status ip_send(void *ctx, int worker, int server, const void *req, size_t len, void *reply, size_t cap,
                         tr_err *err)
{
    inproc *ip = ctx;
    ps_run *run = ip->run;
    tr_status rc = TR_OK;
    size_t rlen = 0;
    pthread_mutex_lock(&ip->mu[server]);
    for (;;) {
        const double now = tr_now_seconds() - run->t0;
        int dead[16];
        int n = tr_ps_server_check(ip->srv[server], now, dead, 16);
        for (int i = 0; i < n; i++)
            ps_run_dead(run, server, dead[i], tr_ps_server_stats(ip->srv[server]), 0.0);
        if (tr_ps_server_handle(ip->srv[server], req, len, now, reply, cap, &rlen) == TR_PS_REPLIED)
            break;
        if (run->abort) {
            rc = tr_err_set(err, TR_ERR_ARG, "worker %d: stopped because another worker failed", worker);
            break;
        }
        struct timespec ts;
        deadline_in(&ts, 20);
        pthread_cond_timedwait(&ip->cv[server], &ip->mu[server], &ts);
    }
    pthread_cond_broadcast(&ip->cv[server]);
    pthread_mutex_unlock(&ip->mu[server]);
    ip->len[(size_t)(worker + 1) * (size_t)ip->S + (size_t)server] = rlen;
    return rc;
}

static tr_status ip_recv(void *ctx, int worker, int server, size_t *len, tr_err *err)
{
    inproc *ip = ctx;
    (void)err;
    *len = ip->len[(size_t)(worker + 1) * (size_t)ip->S + (size_t)server];
    return TR_OK;
}

/* Sums n floats of every worker; each gets the mean back in x. */
static void ip_allreduce_mean(void *ctx, float *x, int64_t n)
{
    inproc *ip = ctx;
    const int M = ip->run->M;
    pthread_mutex_lock(&ip->ma_mu);
    TR_ASSERT(n == ip->ma_n);
    for (int64_t i = 0; i < n; i++)
        ip->ma_sum[i] += (double)x[i];
    const int64_t gen = ip->ma_gen;
    if (++ip->ma_arrived == M) {
        for (int64_t i = 0; i < n; i++) {
            ip->ma_mean[i] = (float)(ip->ma_sum[i] / (double)M);
            ip->ma_sum[i] = 0.0;
        }
        ip->ma_arrived = 0;
        ip->ma_gen++;
        pthread_cond_broadcast(&ip->ma_cv);
    } else {
        while (ip->ma_gen == gen)
            pthread_cond_wait(&ip->ma_cv, &ip->ma_mu);
    }
    memcpy(x, ip->ma_mean, (size_t)n * sizeof(float));
    pthread_mutex_unlock(&ip->ma_mu);
}

/* ---------------------------------------------------------------- workers */

typedef struct {
    inproc *ip;
    int w;
    tr_ps_transport tr;
    void *rep;
    tr_params *rp;
    void *stream;
    float **state;          /* ma: the local rule state */
    tr_ps_stats stats;      /* ma: the run's statistics as this worker saw them */
    tr_status rc;
    tr_err err;
} worker_arg;

static void *worker_main(void *arg)
{
    worker_arg *a = arg;
    ps_run *run = a->ip->run;
    if (run->o->mode.kind == TR_PS_MA) {
        a->rc = ps_ma_worker_run(run, a->w, ip_allreduce_mean, a->ip, a->rep, a->rp, a->stream, a->state,
                                 &a->stats, &a->err);
        return NULL;
    }
    tr_ps_client *c = NULL;
    int silent = 0;
    a->rc = tr_ps_client_new(&c, &run->layout, a->w, &a->tr, &a->err);
    if (!a->rc)
        a->rc = ps_worker_run(run, a->w, c, a->rep, a->rp, a->stream, &silent, &a->err);
    if (a->rc)
        run->abort = 1;
    tr_ps_client_free(c);
    return NULL;
}

/* ---------------------------------------------------------------- driver */

tr_status ps_train_inproc(ps_run *run, tr_err *err)
{
    const tr_ps_task *task = run->task;
    const tr_ps_train_opts *o = run->o;
    const int M = run->M, ma = o->mode.kind == TR_PS_MA;
    const int S = ma ? 0 : run->layout.servers;
    inproc ip;
    memset(&ip, 0, sizeof ip);
    ip.run = run;
    ip.S = S;
    pthread_mutex_t report_mu;
    pthread_mutex_init(&report_mu, NULL);
    run->report_mu = &report_mu;
    tr_status rc = TR_OK;
    ip.srv = tr_xcalloc((size_t)(S > 0 ? S : 1), sizeof(tr_ps_server *));
    ip.mu = tr_xcalloc((size_t)(S > 0 ? S : 1), sizeof(pthread_mutex_t));
    ip.cv = tr_xcalloc((size_t)(S > 0 ? S : 1), sizeof(pthread_cond_t));
    ip.len = tr_xcalloc((size_t)(M + 1) * (size_t)(S > 0 ? S : 1), sizeof(size_t));
    for (int s = 0; s < S; s++) {
        pthread_mutex_init(&ip.mu[s], NULL);
        pthread_cond_init(&ip.cv[s], NULL);
        if (!rc)
            rc = ps_run_server(run, s, &ip.srv[s], err);
    }
    pthread_mutex_init(&ip.ma_mu, NULL);
    pthread_cond_init(&ip.ma_cv, NULL);
    if (ma) {
        ip.ma_n = ps_ma_floats(run);
        ip.ma_sum = tr_xcalloc((size_t)ip.ma_n, sizeof(double));
        ip.ma_mean = tr_xcalloc((size_t)ip.ma_n, sizeof(float));
    }
    const tr_ps_transport tr = {&ip, S, ip_send, ip_recv};
    worker_arg *args = tr_xcalloc((size_t)M, sizeof *args);
    for (int w = 0; w < M && !rc; w++) {
        worker_arg *a = &args[w];
        a->ip = &ip;
        a->w = w;
        a->tr = tr;
        if (!(a->rep = task->replica_new(task->ctx, &a->rp, err)) ||
            !(a->stream = task->stream_new(task->ctx, w, M, run->epoch0, o->seed, err))) {
            rc = err ? err->code : TR_ERR_ARG;
            break;
        }
        if (ma) {
            a->state = ps_state_new(run);
            rc = ps_run_initial(run, a->rp, a->state, err);
        }
    }
    pthread_t *th = tr_xcalloc((size_t)M, sizeof(pthread_t));
    int started = 0;
    if (!rc) {
        ps_run_start(run);
        for (; started < M; started++)
            if (pthread_create(&th[started], NULL, worker_main, &args[started])) {
                rc = tr_err_set(err, TR_ERR_NOMEM, "cannot start worker thread %d", started);
                run->abort = 1;
                break;
            }
        for (int w = 0; w < started; w++)
            pthread_join(th[w], NULL);
        for (int w = 0; w < started && !rc; w++)
            if (args[w].rc) {
                rc = args[w].rc;
                if (err)
                    *err = args[w].err;
            }
    }
    if (!rc && ma) {
        rc = ps_run_finish(run, args[0].rep, args[0].rp, args[0].state, &args[0].stats, 0.0, err);
    } else if (!rc) {
        /* the final tables, through the same requests as any monitor */
        tr_ps_client *mon = NULL;
        float **state = ps_state_new(run);
        float **vals = tr_xcalloc((size_t)args[0].rp->n, sizeof(float *));
        tr_ps_values(args[0].rp, vals);
        rc = tr_ps_client_new(&mon, &run->layout, -1, &tr, err);
        if (!rc)
            rc = tr_ps_snapshot(mon, vals, state, 0, err);
        if (!rc)
            rc = ps_run_finish(run, args[0].rep, args[0].rp, state, tr_ps_client_stats(mon), 0.0, err);
        tr_ps_client_free(mon);
        ps_state_free(run, state);
        free(vals);
    }
    for (int w = 0; w < M; w++) {
        if (args[w].stream)
            task->stream_free(task->ctx, args[w].stream);
        if (args[w].rep)
            task->replica_free(task->ctx, args[w].rep);
        ps_state_free(run, args[w].state);
    }
    free(args);
    free(th);
    for (int s = 0; s < S; s++) {
        tr_ps_server_free(ip.srv[s]);
        pthread_mutex_destroy(&ip.mu[s]);
        pthread_cond_destroy(&ip.cv[s]);
    }
    pthread_mutex_destroy(&ip.ma_mu);
    pthread_cond_destroy(&ip.ma_cv);
    free(ip.srv);
    free(ip.mu);
    free(ip.cv);
    free(ip.len);
    free(ip.ma_sum);
    free(ip.ma_mean);
    run->report_mu = NULL;
    pthread_mutex_destroy(&report_mu);
    return rc;
}
