/* The MPI transport (MPICH): ranks 0 .. S-1 are servers, ranks S .. S+M-1
 * workers (worker w is rank S + w); with model averaging every rank is a
 * worker. Built only when CMake finds MPICH (TRIAD_HAVE_MPI); otherwise the
 * functions at the end say so.
 *
 * A worker sends each request with MPI_Isend and posts the receive of its
 * reply at once, so a server's blocking MPI_Send of the reply always finds
 * it. A server runs one loop: it probes for requests, hands them to
 * tr_ps_server_handle, keeps deferred ones (one per worker, and the
 * monitor's) and retries them after every handled request and every time
 * it declares a worker dead. Waiting sides poll with short sleeps instead of
 * MPI's busy wait, so that ranks sharing cores with computing workers do not
 * take their time. Worker 0's rank is also the monitor: at the end it takes
 * the final snapshot (once every worker has finished or died), evaluates,
 * writes the checkpoint and tells every other rank to finish. */
#include "ps_internal.h"

#ifdef TRIAD_HAVE_MPI

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TAG_REQ = 1, TAG_REP = 2, TAG_END = 3 };

int tr_ps_have_mpi(void)
{
    return 1;
}

tr_status tr_ps_mpi_init(int *argc, char ***argv, int *rank, int *ranks, tr_err *err)
{
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return tr_err_set(err, TR_ERR_ARG, "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, ranks);
    return TR_OK;
}

void tr_ps_mpi_finalize(void)
{
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin)
        MPI_Finalize();
}

void tr_ps_mpi_abort(int code)
{
    int init = 0;
    MPI_Initialized(&init);
    if (init)
        MPI_Abort(MPI_COMM_WORLD, code);
}

int tr_ps_mpi_agree(int ok, int *root_ok)
{
    int mine = ok != 0, all = 0, root = mine;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Bcast(&root, 1, MPI_INT, 0, MPI_COMM_WORLD);
    *root_ok = root;
    return all;
}

/* Sleeps a little longer each time nothing happened (20 us .. 1 ms). */
static void backoff(long *ns)
{
    struct timespec ts = {0, *ns};
    nanosleep(&ts, NULL);
    if (*ns < 1000000L)
        *ns *= 2;
}

/* Waits for n requests without spinning. */
static void wait_all(int n, MPI_Request *req, MPI_Status *st)
{
    long ns = 20000L;
    for (;;) {
        int done = 0;
        MPI_Testall(n, req, &done, st);
        if (done)
            return;
        backoff(&ns);
    }
}

/* ---------------------------------------------------------------- the worker side */

typedef struct {
    int S;
    MPI_Request *req;   /* (2 S): send and receive of each server */
    size_t *len;        /* (S) */
} mpi_client;

static tr_status mpi_send(void *ctx, int worker, int server, const void *req, size_t len, void *reply, size_t cap,
                          tr_err *err)
{
    mpi_client *m = ctx;
    (void)worker;
    if (len > (size_t)INT32_MAX || cap > (size_t)INT32_MAX)
        return tr_err_set(err, TR_ERR_ARG, "a message of %zu bytes is too large for MPI", len > cap ? len : cap);
    MPI_Irecv(reply, (int)cap, MPI_BYTE, server, TAG_REP, MPI_COMM_WORLD, &m->req[2 * server + 1]);
    MPI_Isend(req, (int)len, MPI_BYTE, server, TAG_REQ, MPI_COMM_WORLD, &m->req[2 * server]);
    return TR_OK;
}

static tr_status mpi_recv(void *ctx, int worker, int server, size_t *len, tr_err *err)
{
    mpi_client *m = ctx;
    (void)worker;
    (void)err;
    MPI_Status st[2];
    wait_all(2, &m->req[2 * server], st);
    int n = 0;
    MPI_Get_count(&st[1], MPI_BYTE, &n);
    *len = (size_t)n;
    return TR_OK;
}

/* Waits for the monitor's word that the run is over. */
static void wait_end(void)
{
    long ns = 20000L;
    for (;;) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_END, MPI_COMM_WORLD, &flag, &st);
        if (flag) {
            char b;
            MPI_Recv(&b, 1, MPI_BYTE, st.MPI_SOURCE, TAG_END, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            return;
        }
        backoff(&ns);
    }
}

static void send_end(int ranks, int me)
{
    char b = 0;
    for (int r = 0; r < ranks; r++)
        if (r != me)
            MPI_Send(&b, 1, MPI_BYTE, r, TAG_END, MPI_COMM_WORLD);
}

static tr_status run_worker(ps_run *run, int S, tr_err *err)
{
    const tr_ps_task *task = run->task;
    const int w = run->rank - S;
    mpi_client mc = {S, tr_xcalloc((size_t)(2 * S), sizeof(MPI_Request)), tr_xcalloc((size_t)S, sizeof(size_t))};
    for (int i = 0; i < 2 * S; i++)
        mc.req[i] = MPI_REQUEST_NULL;
    const tr_ps_transport tr = {&mc, S, mpi_send, mpi_recv};
    tr_ps_client *c = NULL, *mon = NULL;
    tr_params *rp = NULL;
    void *rep = NULL, *stream = NULL;
    tr_status rc = tr_ps_client_new(&c, &run->layout, w, &tr, err);
    if (!rc && !(rep = task->replica_new(task->ctx, &rp, err)))
        rc = err ? err->code : TR_ERR_ARG;
    if (!rc && !(stream = task->stream_new(task->ctx, w, run->M, run->epoch0, run->o->seed, err)))
        rc = err ? err->code : TR_ERR_ARG;
    int silent = 0;
    if (!rc) {
        ps_run_start(run);
        rc = ps_worker_run(run, w, c, rep, rp, stream, &silent, err);
    }
    if (!rc && w == 0) {
        /* the monitor: the final tables once every worker is done or dead */
        float **state = ps_state_new(run);
        float **vals = tr_xcalloc((size_t)rp->n, sizeof(float *));
        tr_ps_values(rp, vals);
        rc = tr_ps_client_new(&mon, &run->layout, -1, &tr, err);
        if (!rc)
            rc = tr_ps_snapshot(mon, vals, state, 1, err);
        if (!rc)
            rc = ps_run_finish(run, rep, rp, state, tr_ps_client_stats(mon), 0.0, err);
        ps_state_free(run, state);
        free(vals);
        send_end(run->ranks, run->rank);
    } else if (!rc) {
        wait_end();
    }
    tr_ps_client_free(c);
    tr_ps_client_free(mon);
    if (stream)
        task->stream_free(task->ctx, stream);
    if (rep)
        task->replica_free(task->ctx, rep);
    free(mc.req);
    free(mc.len);
    return rc;
}

/* ---------------------------------------------------------------- the server side */

typedef struct {
    char *buf;     /* the deferred request, or NULL */
    size_t len;
    int source;
} pending;

static tr_status run_server(ps_run *run, tr_err *err)
{
    const int shard = run->rank, S = run->layout.servers, M = run->M;
    tr_ps_server *srv = NULL;
    tr_status rc = ps_run_server(run, shard, &srv, err);
    if (rc)
        return rc;
    const size_t cap = tr_ps_msg_cap(&run->layout, 1);
    char *in = tr_xmalloc(cap), *out = tr_xmalloc(cap);
    pending *pend = tr_xcalloc((size_t)M + 1, sizeof *pend); /* slot 0: the monitor */
    for (int i = 0; i <= M; i++)
        pend[i].buf = tr_xmalloc(cap);
    ps_run_start(run);
    double last_check = -1.0;
    long ns = 20000L;
    int ended = 0;
    while (!ended) {
        const double now = tr_now_seconds() - run->t0;
        int changed = 0;
        if (now - last_check >= 0.01) {
            int dead[16], n;
            while ((n = tr_ps_server_check(srv, now, dead, 16)) > 0) {
                for (int i = 0; i < n; i++)
                    ps_run_dead(run, shard, dead[i], tr_ps_server_stats(srv), 0.0);
                changed = 1;
            }
            last_check = now;
        }
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (flag && st.MPI_TAG == TAG_END) {
            char b;
            MPI_Recv(&b, 1, MPI_BYTE, st.MPI_SOURCE, TAG_END, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            ended = 1;
            break;
        }
        if (flag && st.MPI_TAG == TAG_REQ) {
            int count = 0;
            MPI_Get_count(&st, MPI_BYTE, &count);
            size_t olen = 0;
            int worker = -2;
            if ((size_t)count > cap) {
                /* larger than any message of these tables: a rank with another model */
                char *big = tr_xmalloc((size_t)count);
                MPI_Recv(big, count, MPI_BYTE, st.MPI_SOURCE, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                free(big);
                olen = ps_error_reply(out, cap, shard,
                                      "server %d: rank %d sent a request of %d bytes, larger than any message of "
                                      "this server's tables (were the ranks started with different models?)",
                                      shard, st.MPI_SOURCE, count);
            } else {
                MPI_Recv(in, count, MPI_BYTE, st.MPI_SOURCE, TAG_REQ, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                ps_hdr h;
                memset(&h, 0, sizeof h);
                if ((size_t)count >= sizeof h)
                    memcpy(&h, in, sizeof h);
                worker = h.worker;
                const int expect = worker >= 0 ? S + worker : S; /* the monitor lives on worker 0's rank */
                if ((size_t)count >= sizeof h && h.magic == PS_MAGIC && st.MPI_SOURCE != expect)
                    olen = ps_error_reply(out, cap, shard,
                                          "server %d: rank %d speaks as worker %d, which is rank %d (ranks "
                                          "0 .. %d serve, then one rank per worker)",
                                          shard, st.MPI_SOURCE, worker, expect, S - 1);
                else if (tr_ps_server_handle(srv, in, (size_t)count, now, out, cap, &olen) == TR_PS_DEFERRED) {
                    pending *p = &pend[worker + 1];
                    memcpy(p->buf, in, (size_t)count);
                    p->len = (size_t)count;
                    p->source = st.MPI_SOURCE;
                    olen = 0;
                } else {
                    changed = 1;
                }
            }
            if (olen)
                MPI_Send(out, (int)olen, MPI_BYTE, st.MPI_SOURCE, TAG_REP, MPI_COMM_WORLD);
            ns = 20000L;
        }
        /* what was held back may go now */
        for (int i = 0; changed && i <= M; i++) {
            pending *p = &pend[i];
            size_t olen = 0;
            if (!p->len)
                continue;
            if (tr_ps_server_handle(srv, p->buf, p->len, now, out, cap, &olen) == TR_PS_REPLIED) {
                MPI_Send(out, (int)olen, MPI_BYTE, p->source, TAG_REP, MPI_COMM_WORLD);
                p->len = 0;
                i = -1; /* a served pull can release others (bsp rounds) */
            }
        }
        if (!flag)
            backoff(&ns);
    }
    for (int i = 0; i <= M; i++)
        free(pend[i].buf);
    free(pend);
    free(in);
    free(out);
    tr_ps_server_free(srv);
    return TR_OK;
}

/* ---------------------------------------------------------------- model averaging */

typedef struct {
    double *sum;
    int64_t n;
    int M;
} mpi_ma;

static void mpi_allreduce_mean(void *ctx, float *x, int64_t n)
{
    mpi_ma *m = ctx;
    TR_ASSERT(n == m->n && n <= INT32_MAX);
    for (int64_t i = 0; i < n; i++)
        m->sum[i] = (double)x[i];
    MPI_Allreduce(MPI_IN_PLACE, m->sum, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(m->sum[i] / (double)m->M);
}

static tr_status run_ma(ps_run *run, tr_err *err)
{
    const tr_ps_task *task = run->task;
    const int w = run->rank;
    tr_params *rp = NULL;
    void *rep = NULL, *stream = NULL;
    float **state = ps_state_new(run);
    mpi_ma m = {NULL, ps_ma_floats(run), run->M};
    tr_status rc = TR_OK;
    if (!(rep = task->replica_new(task->ctx, &rp, err)))
        rc = err ? err->code : TR_ERR_ARG;
    if (!rc && !(stream = task->stream_new(task->ctx, w, run->M, run->epoch0, run->o->seed, err)))
        rc = err ? err->code : TR_ERR_ARG;
    if (!rc)
        rc = ps_run_initial(run, rp, state, err);
    /* every rank must reach the allreduces: agree that set-up worked */
    int ok = rc == TR_OK, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!rc && !all)
        rc = tr_err_set(err, TR_ERR_ARG, "another rank failed to set up");
    tr_ps_stats st;
    memset(&st, 0, sizeof st);
    if (!rc) {
        m.sum = tr_xcalloc((size_t)m.n, sizeof(double));
        ps_run_start(run);
        rc = ps_ma_worker_run(run, w, mpi_allreduce_mean, &m, rep, rp, stream, state, &st, err);
    }
    if (!rc && w == 0)
        rc = ps_run_finish(run, rep, rp, state, &st, 0.0, err);
    free(m.sum);
    ps_state_free(run, state);
    if (stream)
        task->stream_free(task->ctx, stream);
    if (rep)
        task->replica_free(task->ctx, rep);
    return rc;
}

/* ---------------------------------------------------------------- entry */

tr_status ps_train_mpi(ps_run *run, tr_err *err)
{
    int init = 0;
    MPI_Initialized(&init);
    if (!init)
        return tr_err_set(err, TR_ERR_ARG, "--transport mpi: MPI is not initialised (tr_ps_mpi_init)");
    MPI_Comm_rank(MPI_COMM_WORLD, &run->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &run->ranks);
    const int ma = run->o->mode.kind == TR_PS_MA;
    const int S = ma ? 0 : run->layout.servers;
    if (run->ranks != S + run->M)
        return tr_err_set(err, TR_ERR_ARG,
                          "%d MPI ranks, but %d server%s and %d worker%s need %d (mpiexec.mpich -n %d)", run->ranks,
                          S, S == 1 ? "" : "s", run->M, run->M == 1 ? "" : "s", S + run->M, S + run->M);
    if (ma)
        return run_ma(run, err);
    if (run->rank < S)
        return run_server(run, err);
    return run_worker(run, S, err);
}

#else

int tr_ps_have_mpi(void)
{
    return 0;
}

tr_status tr_ps_mpi_init(int *argc, char ***argv, int *rank, int *ranks, tr_err *err)
{
    (void)argc;
    (void)argv;
    *rank = 0;
    *ranks = 1;
    return tr_err_set(err, TR_ERR_ARG, "--transport mpi: this triad was built without MPI (install MPICH, "
                                       "libmpich-dev, and rebuild)");
}

void tr_ps_mpi_finalize(void)
{
}

void tr_ps_mpi_abort(int code)
{
    (void)code;
}

int tr_ps_mpi_agree(int ok, int *root_ok)
{
    *root_ok = ok != 0;
    return ok != 0;
}

tr_status ps_train_mpi(ps_run *run, tr_err *err)
{
    (void)run;
    return tr_err_set(err, TR_ERR_ARG, "--transport mpi: this triad was built without MPI");
}

#endif
