/* Internals of the parameter server shared by src/ps/: the message format
 * that workers, servers and every transport use, and the few server and
 * client entry points that only the drivers need.
 *
 * A message is a header, then (requests) a row specification per table and
 * the row ids it lists, then floats; (replies) the header, the server's
 * statistics, then floats or an error text. Sizes are multiples of 8 bytes
 * so that every part stays aligned. Both ends run the same build on
 * machines of the same byte order (checked through the magic number). */
#ifndef TRIAD_PS_INTERNAL_H
#define TRIAD_PS_INTERNAL_H

#include "triad/ps.h"

#include <stdatomic.h>

#define PS_MAGIC 0x31535054u /* "TPS1" little-endian */

enum {
    PS_HELLO = 1,  /* layout: ps_wire_table per table */
    PS_PULL,       /* row specs; reply: values */
    PS_PUSH,       /* row specs and gradients; reply: stats */
    PS_BYE,        /* the worker has finished */
    PS_SNAPSHOT,   /* monitor: all rows (and state); flags PS_F_* */
    PS_R_OK = 100, /* replies */
    PS_R_VALUES,
    PS_R_ERROR
};

#define PS_F_STATE 1     /* snapshot: include the rule state */
#define PS_F_WAIT_IDLE 2 /* snapshot: answer once every worker finished or died */

typedef struct {
    uint32_t magic;
    int32_t op;
    int32_t worker;   /* -1: the monitor */
    int32_t ntables;
    int32_t flags;
    int32_t shard;    /* the server addressed (requests) or answering (replies) */
    int64_t samples;  /* push: examples behind the gradient */
    double loss;      /* push: mean mini-batch loss, NaN = none */
} ps_hdr;

/* A table as HELLO describes it. */
typedef struct {
    char name[64];
    int64_t rows, cols;
    int64_t shape[TR_MAX_DIMS];
    int32_t ndim, sparse;
} ps_wire_table;

/* Row specification of a table in a pull or push: -1 = every row of the
 * addressed shard (in order), else the number of row ids listed. */
#define PS_ALL_ROWS (-1)

static inline size_t ps_align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Bytes of a request's row part: ntables int64 counts, then the listed ids. */
static inline size_t ps_rows_bytes(int ntables, int64_t nids)
{
    return ps_align8((size_t)ntables * 8 + (size_t)nids * 4);
}

/* Size of a reply's fixed part. */
#define PS_REPLY_HEAD (sizeof(ps_hdr) + ps_align8(sizeof(tr_ps_stats)))
#define PS_ERR_MAX 512

/* Whether a pull of worker would be served now; when not, the worker is
 * recorded as waiting, exactly as for a deferred pull (the simulator asks
 * before it sends, so that it never has a request deferred). */
int ps_server_pull_ready(tr_ps_server *s, int worker, double now);

/* The simulator lets one client speak for every logical worker in turn. */
void ps_client_set_worker(tr_ps_client *c, int worker);

/* Writes an error reply with a printf-style message; returns its length. */
size_t ps_error_reply(void *reply, size_t cap, int shard, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* What a checkpoint's triad.ps metadata says. */
typedef struct {
    tr_ps_rule_kind rule;
    int64_t epoch;     /* whole epochs done */
    tr_ps_stats stats; /* counters (live/dead/done/lr not meaningful) */
} ps_ckpt_meta;

/* Reads triad.ps of f (path for messages); when task_name is not NULL also
 * checks triad.model. */
tr_status ps_ckpt_read(const tr_st_file *f, const char *path, const char *task_name,
                       ps_ckpt_meta *m, tr_err *err);

/* ---------------------------------------------------------------- one training run */

/* What every transport's driver shares: the plan of the run (steps, epochs,
 * evaluation points), the reporting state and the final snapshot. */
typedef struct {
    const tr_ps_task *task;
    const tr_ps_train_opts *o;
    tr_ps_layout layout;
    int M, nstate;
    int64_t steps_w;        /* steps of each worker per epoch */
    int64_t epoch_pushes;   /* steps_w * M */
    int64_t epoch0;         /* whole epochs done before this run (resume) */
    int64_t steps;          /* steps of each worker in this run */
    tr_st_file *resume;     /* the checkpoint resumed, or NULL */
    tr_ps_stats base;       /* its counters (zero on a fresh start) */
    volatile sig_atomic_t *stop;
    atomic_int abort;       /* a worker failed: everyone stops (threads) */
    tr_ps_report_fn fn;
    void *ctx;
    void *report_mu;        /* pthread_mutex_t * around fn (inproc) or NULL */
    double t0;              /* tr_now_seconds() when training began */
    int rank, ranks;
    /* reporting */
    int64_t next_eval;      /* index of the next evaluation point */
    double last_loss_sum;
    int64_t last_loss_n, last_stale_sum, last_stale_n;
    tr_ps_report last;
} ps_run;

/* Plans the run (and opens the checkpoint to resume); rank/ranks for reports. */
tr_status ps_run_init(ps_run *run, const tr_ps_task *task, const tr_ps_train_opts *o,
                      volatile sig_atomic_t *stop, tr_ps_report_fn fn, void *ctx, int rank, int ranks,
                      tr_err *err);
void ps_run_free(ps_run *run);
/* A server configuration for shard s of the run, and the server itself with
 * the initial or resumed values. */
tr_status ps_run_server(ps_run *run, int shard, tr_ps_server **out, tr_err *err);
/* Pushes of this run, from a statistics block. */
int64_t ps_run_pushes(const ps_run *run, const tr_ps_stats *st);
/* 1 when an evaluation point lies at or before run_pushes (and before the end). */
int ps_run_eval_due(ps_run *run, int64_t run_pushes);
/* Whether to stop before the next step (signal, time budget, abort). */
int ps_run_stopping(const ps_run *run);
/* Evaluates rep and reports (final: the last report, kept in run->last). */
tr_status ps_run_evaluate(ps_run *run, void *rep, const tr_ps_stats *st, double sim_time, int final, tr_err *err);
/* Reports that worker was declared dead by server. */
void ps_run_dead(ps_run *run, int server, int worker, const tr_ps_stats *st, double sim_time);
/* The end of a run: evaluates rep (whose values are the final tables),
 * reports, and writes the checkpoint when asked (state: the rule state of
 * each table, or NULL). */
tr_status ps_run_finish(ps_run *run, void *rep, tr_params *rp, float *const *state, const tr_ps_stats *st,
                        double sim_time, tr_err *err);
/* Rule-state arrays for every table (NULL when the rule has none); free
 * with ps_state_free. */
float **ps_state_new(const ps_run *run);
void ps_state_free(const ps_run *run, float **state);

/* One local update of model averaging: the rule applied to rp's values with
 * its gradients (sparse parameters: touched rows only) and state. */
void ps_local_step(const tr_ps_rule *rule, float lr, tr_params *rp, float *const *state);
/* The rate in force after `pushes` pushes of this run. */
float ps_run_lr(const ps_run *run, int64_t pushes);

/* One worker of a server mode, for the in-process and MPI drivers: hello,
 * then steps of pull, gradient, push; evaluations (worker 0); bye. *silent
 * is set when the worker stopped as --kill-worker asked. */
tr_status ps_worker_run(ps_run *run, int w, tr_ps_client *c, void *rep, tr_params *rp, void *stream,
                        int *silent, tr_err *err);

/* x (n floats) <- the mean of every worker's x; called by all M workers
 * the same number of times. */
typedef void (*ps_allreduce_fn)(void *ctx, float *x, int64_t n);
/* The floats a model-averaging allreduce carries: the parameters and three
 * more (a vote to stop, the round's loss sum and count). */
int64_t ps_ma_floats(const ps_run *run);
/* One worker of model averaging: k local steps with the rule (state: the
 * local rule state or NULL), then the mean of all copies, until done or
 * any worker votes to stop; worker 0 evaluates the mean at the evaluation
 * points. st receives the statistics of the whole run so far. */
tr_status ps_ma_worker_run(ps_run *run, int w, ps_allreduce_fn ar, void *ar_ctx, void *rep, tr_params *rp,
                           void *stream, float *const *state, tr_ps_stats *st, tr_err *err);
/* Model averaging: sets rp's values (and the rule state, when not NULL) to
 * the initial values or those of the checkpoint resumed. */
tr_status ps_run_initial(ps_run *run, tr_params *rp, float *const *state, tr_err *err);
/* Reports the start of training (run->t0 is set here). */
void ps_run_start(ps_run *run);

/* The drivers of each transport. */
tr_status ps_train_inproc(ps_run *run, tr_err *err);
tr_status ps_train_sim(ps_run *run, tr_err *err);
tr_status ps_train_mpi(ps_run *run, tr_err *err);

#endif
