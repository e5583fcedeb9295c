/*
 * triad/ps.h - data-parallel training on a parameter server: tables sharded
 * by rows over servers, workers that pull weights and push gradients, server
 * update rules (SGD, momentum, AdaGrad and delay-compensated ASGD), four
 * consistency modes, three ways to run the same code (threads in one
 * process, MPI ranks, and a deterministic delay simulator), and a training
 * driver over a task interface so that any parameter set can be trained.
 *
 * Not here: the models themselves (vision.h, lm.h), and exact resume in the
 * middle of an epoch (a checkpoint resumes at the epoch it was written in).
 *
 * ---------------------------------------------------------------- design
 *
 * Tables. Each parameter of a parameter set becomes one dense float table of
 * rows = shape[0] and cols = the product of the other dimensions, sharded by
 * contiguous row blocks: server s of S holds rows [rows*s/S, rows*(s+1)/S).
 * Row blocks rather than hashing because parameters are small in number and
 * large, so blocks balance as well and keep each shard one memcpy per table.
 *
 * Messages. Workers and servers exchange byte messages (pull, push, hello,
 * snapshot, bye) in one format; a transport only moves bytes. The server
 * logic (apply a push, serve a pull, clocks, dead workers, statistics) is one
 * implementation, tr_ps_server_handle, which the in-process, MPI and
 * simulated transports all call. The cost of copying gradients into a
 * message in process is one memcpy per push, small beside the gradient.
 *
 * Update rules (server side, elementwise, eta the learning rate):
 *   sgd        w <- w - eta g
 *   momentum   v <- mu v + g;  w <- w - eta v                 (torch.optim.SGD)
 *   adagrad    G <- G + g^2;   w <- w - eta g / (sqrt(G) + eps)   (torch.optim.Adagrad)
 *   dcasgd-c   w <- w - eta (g + lambda g*g*(w - w_bak[m]))
 *   dcasgd-a   ms <- mom ms + (1 - mom) g^2
 *              w <- w - eta (g + lambda0 / sqrt(ms + eps) g*g*(w - w_bak[m]))
 * DC-ASGD is Zheng et al., "Asynchronous Stochastic Gradient Descent with
 * Delay Compensation", ICML 2017 (eq. 6 and section 5): g*g is the diagonal
 * approximation of the Hessian, w - w_bak[m] the drift of the weights while
 * worker m computed g. The server keeps w_bak[m], the weights worker m last
 * pulled (set at pull time, so a worker held back by SSP is compensated for
 * exactly the drift it saw). Defaults are the paper's CIFAR-10 settings:
 * lambda 0.04 (-c); lambda0 2, mom 0.95, eps 1e-7 (-a). The mean square is
 * one per element on the server, fed by every worker's gradients, as in the
 * paper's formula (Multiverso's updater keeps one per worker; a shared one
 * sees M times more gradients and costs M times less memory).
 * Sparse (row-sparse) parameters push only touched rows and every rule
 * updates only those rows, including its state (lazy momentum/AdaGrad, as
 * sparse optimisers do); dense parameters update every row.
 *
 * Consistency. Each worker has a clock: the number of gradients it has
 * pushed. A pull by worker m is served when
 *   asp:    always;
 *   ssp:s   clock[m] - min over live workers of clock <= s (Ho et al. 2013);
 *   bsp     the same with s = 0, and pushes are summed instead of applied:
 *           once every live worker has pushed its gradient of the round the
 *           server applies one update with their mean, which is sequential
 *           SGD with batch M*b;
 *   ma:k    no server: every worker trains its own copy with the rule and
 *           after every k local steps all copies are replaced by their mean
 *           (an allreduce).
 * Statistics: the staleness of a push is the number of updates applied to
 * the tables between the worker's pull and that push; the clock gap of a
 * pull is clock[m] minus the slowest live clock when the pull is served (the
 * quantity SSP bounds by s).
 *
 * Faults. A worker not heard from for `timeout` seconds (simulated time in
 * the simulator) while the server has no request of it waiting is declared
 * dead: it no longer holds back SSP/BSP, and the run continues with the
 * others. A later message from it is refused. Model averaging cannot lose a
 * worker (an allreduce needs all of them).
 *
 * Threads, memory, determinism. Everything is allocated when a run is set
 * up; a training step copies into buffers planned for the largest message.
 * The simulator is one thread and bit-reproducible for a seed. In process
 * and over MPI, bsp and ma give the simulator's results up to the rounding
 * of a sum of M gradients (or copies) in double, taken in arrival order
 * (exactly for M = 2); asp and ssp depend on timing, as they should.
 *
 * Roles. Worker 0 also evaluates: when a pull shows that the servers' push
 * count has passed an evaluation point, it evaluates the weights it has
 * just pulled (the servers' at that moment: exactly a round's end in bsp).
 * The final snapshot, evaluation and checkpoint are taken by the main
 * thread (in process), by the simulator, or by worker 0's rank (MPI) once
 * every worker has finished or died.
 */
#ifndef TRIAD_PS_H
#define TRIAD_PS_H

#include "triad/core.h"
#include "triad/io.h"
#include "triad/lm.h"
#include "triad/vision.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- tables */

typedef struct {
    char name[64];   /* the parameter's name */
    int ndim;
    int64_t shape[TR_MAX_DIMS];
    int64_t rows, cols;
    int sparse;      /* pushes carry only touched rows */
} tr_ps_table;

/* The tables of a parameter set and how they are sharded over servers. */
typedef struct {
    int ntables, servers;
    tr_ps_table *t;  /* (ntables) */
} tr_ps_layout;

/* One table per parameter of ps, sharded over servers >= 1. Errors: an empty
 * set, a parameter without gradient (TR_PARAM_NOGRAD), servers out of
 * [1, 4096]. */
tr_status tr_ps_layout_init(tr_ps_layout *l, const tr_params *ps, int servers,
                            tr_err *err);
void tr_ps_layout_free(tr_ps_layout *l);
/* First row of table t on server s (s = servers gives rows). */
int64_t tr_ps_shard_row(const tr_ps_layout *l, int t, int s);
/* The server holding row r of table t. */
int tr_ps_row_server(const tr_ps_layout *l, int t, int64_t r);

/* ---------------------------------------------------------------- rules */

typedef enum {
    TR_PS_SGD = 0,
    TR_PS_MOMENTUM,
    TR_PS_ADAGRAD,
    TR_PS_DCASGD_C,
    TR_PS_DCASGD_A
} tr_ps_rule_kind;

typedef struct {
    tr_ps_rule_kind kind;
    float lr;         /* eta, > 0 */
    float momentum;   /* momentum: mu in [0, 1) (default 0.9) */
    float lambda;     /* dcasgd-c: lambda (0.04); dcasgd-a: lambda0 (2) */
    float ms_decay;   /* dcasgd-a: mom in [0, 1) (0.95) */
    float eps;        /* adagrad: 1e-10; dcasgd-a: 1e-7 */
    float lr_decay;   /* the rate is multiplied by this ... (1 = constant) */
    int decay_every;  /* ... every this many epochs (>= 1) */
} tr_ps_rule;

/* Defaults of a rule: lr 0.1 and the values listed above. */
tr_ps_rule tr_ps_rule_defaults(tr_ps_rule_kind kind);
/* "sgd", "momentum", "adagrad", "dcasgd-c", "dcasgd-a" -> kind. */
tr_status tr_ps_rule_parse(const char *s, tr_ps_rule_kind *kind, tr_err *err);
const char *tr_ps_rule_name(tr_ps_rule_kind kind);
/* Range checks; messages name the CLI option (--lr, --lambda, ...). */
tr_status tr_ps_rule_check(const tr_ps_rule *r, tr_err *err);
/* The rate in epoch e (0-based): lr * lr_decay^(e / decay_every). */
float tr_ps_rule_lr(const tr_ps_rule *r, int64_t epoch);
/* Number of state tensors the rule keeps per table (momentum buffer,
 * AdaGrad sum, mean square) and the suffix of their checkpoint names. */
int tr_ps_rule_nstate(tr_ps_rule_kind kind);
const char *tr_ps_rule_state_name(tr_ps_rule_kind kind);

/* One update of n elements from gradient g, in place:
 *   w      (n) weights;  g (n) gradient;  state (n) or NULL when nstate = 0;
 *   bak    (n) the pushing worker's w_bak for dcasgd, or NULL (no delay
 *          compensation: the drift is zero, as in bsp).
 * lr is the current rate (tr_ps_rule_lr). Allocates nothing. */
void tr_ps_rule_apply(const tr_ps_rule *r, float lr, float *w, const float *g,
                      float *state, const float *bak, int64_t n);

/* ---------------------------------------------------------------- modes */

typedef enum { TR_PS_BSP = 0, TR_PS_SSP, TR_PS_ASP, TR_PS_MA } tr_ps_mode_kind;

typedef struct {
    tr_ps_mode_kind kind;
    int param;  /* ssp: the staleness bound s >= 0; ma: the period k >= 1 */
} tr_ps_mode;

/* "bsp", "asp", "ssp:S" (S >= 0), "ma:K" (K >= 1) -> mode. */
tr_status tr_ps_mode_parse(const char *s, tr_ps_mode *m, tr_err *err);
/* The same text back ("ssp:3"); returns buf. */
char *tr_ps_mode_str(const tr_ps_mode *m, char *buf, size_t n);

/* ---------------------------------------------------------------- statistics */

#define TR_PS_HIST 64 /* staleness histogram: 0..62, and >= 63 in the last */

/* What a server has seen; cumulative since the run began (a resumed run
 * starts from the counters in its checkpoint). */
typedef struct {
    int64_t pushes;      /* gradients received */
    int64_t updates;     /* updates applied to the tables (bsp: one per round) */
    int64_t samples;     /* examples behind the gradients received */
    int64_t loss_n;      /* pushes whose loss was summed into loss_sum */
    double loss_sum;     /* sum of the workers' mini-batch mean losses */
    int64_t stale_n, stale_sum, stale_max;  /* staleness of pushes */
    int64_t stale_hist[TR_PS_HIST];
    int64_t gap_max;     /* largest clock gap at a served pull */
    int64_t bytes_in, bytes_out; /* request and reply bytes of this server */
    int32_t live, dead, done; /* workers: still training, declared dead, finished */
    float lr;            /* the rate now */
} tr_ps_stats;

/* ---------------------------------------------------------------- server */

typedef struct {
    const tr_ps_layout *layout;  /* not owned; outlives the server */
    int shard;                   /* 0 .. layout->servers - 1 */
    int workers;                 /* M >= 1 */
    tr_ps_rule rule;
    tr_ps_mode mode;             /* bsp, ssp or asp */
    int64_t epoch_pushes;        /* pushes per epoch, for the rate schedule (>= 1) */
    int64_t epoch_base;          /* epochs done before this run (a resumed checkpoint) */
    double timeout;              /* seconds of silence before a worker is dead; 0 = never */
} tr_ps_server_config;

typedef struct tr_ps_server tr_ps_server;

/* A shard with the initial values of init (a parameter set of the layout's
 * names and shapes; NULL = zeros). Every w_bak starts equal to the values. */
tr_status tr_ps_server_new(tr_ps_server **out, const tr_ps_server_config *c,
                           const tr_params *init, tr_err *err);
void tr_ps_server_free(tr_ps_server *s);

/* Replaces the shard's values, rule state and counters by those of a
 * checkpoint written by tr_ps_save (path names it in messages). Refuses a
 * file of other tables or another rule. w_bak restarts from the values. */
tr_status tr_ps_server_load(tr_ps_server *s, const tr_st_file *f,
                            const char *path, tr_err *err);

typedef enum { TR_PS_REPLIED = 0, TR_PS_DEFERRED } tr_ps_handled;

/* Handles one request message (len bytes) at time now (seconds, any origin;
 * simulated time in the simulator). Either writes a reply of *reply_len <=
 * cap bytes (an error reply when the request is malformed, names tables that
 * differ, or comes from a dead worker) and returns TR_PS_REPLIED, or, for a
 * pull that the consistency mode holds back, returns TR_PS_DEFERRED: the
 * caller retries it after other requests were handled or time passed.
 * Allocates nothing. */
tr_ps_handled tr_ps_server_handle(tr_ps_server *s, const void *req, size_t len,
                                  double now, void *reply, size_t cap,
                                  size_t *reply_len);
/* Declares dead every live worker silent for more than the timeout at time
 * now with no request waiting; writes their ids to dead (up to cap) and
 * returns how many were declared. */
int tr_ps_server_check(tr_ps_server *s, double now, int *dead, int cap);
/* The earliest time at which some live worker would be declared dead, or
 * a negative number when none can be (no timeout, or none silent). */
double tr_ps_server_deadline(const tr_ps_server *s);
/* 1 when every worker has finished or died. */
int tr_ps_server_idle(const tr_ps_server *s);
const tr_ps_stats *tr_ps_server_stats(const tr_ps_server *s);
/* The largest request and reply any message of this layout can need. */
size_t tr_ps_msg_cap(const tr_ps_layout *l, int with_state);

/* ---------------------------------------------------------------- transports and clients */

/* Moves request and reply bytes between a worker (or the monitor, worker -1)
 * and the servers. send may return before the reply is there; recv waits for
 * the reply to the last request this worker sent to that server. At most one
 * request per (worker, server) is outstanding. */
typedef struct {
    void *ctx;
    int servers;
    tr_status (*send)(void *ctx, int worker, int server, const void *req,
                      size_t len, void *reply, size_t cap, tr_err *err);
    tr_status (*recv)(void *ctx, int worker, int server, size_t *len,
                      tr_err *err);
} tr_ps_transport;

typedef struct tr_ps_client tr_ps_client;
/* A request in flight; tr_ps_wait completes it. */
typedef int64_t tr_ps_req;

/* A worker's connection (worker -1: the monitor, whose pulls change no
 * clock or w_bak). Buffers for the largest message are allocated here. */
tr_status tr_ps_client_new(tr_ps_client **out, const tr_ps_layout *l,
                           int worker, const tr_ps_transport *t, tr_err *err);
void tr_ps_client_free(tr_ps_client *c);

/* Sends the layout to every server, which refuses tables that differ from
 * its own (the error names the table and both shapes). Blocking. */
tr_status tr_ps_hello(tr_ps_client *c, tr_err *err);
/* Starts pulling every table into dst (one array of rows*cols floats per
 * table, layout order); rows[t] (when rows and rows[t] are not NULL) lists
 * nrows[t] row ids of table t to pull instead of all of them. The arrays
 * must stay valid until tr_ps_wait. */
tr_ps_req tr_ps_pull(tr_ps_client *c, float *const *dst,
                     const int32_t *const *rows, const int64_t *nrows);
/* Starts pushing the gradients of g (the layout's parameter set: dense
 * gradients whole, sparse ones by their touched rows) with the number of
 * examples behind them and their mean loss (NaN = none). The gradients are
 * copied before it returns. */
tr_ps_req tr_ps_push(tr_ps_client *c, const tr_params *g, int64_t samples,
                     double loss);
/* Finishes request r (the last started): for a pull, the values are in dst.
 * Errors: a server's error reply (its message), or the transport's. */
tr_status tr_ps_wait(tr_ps_client *c, tr_ps_req r, tr_err *err);
/* Tells every server this worker is done. Blocking. */
tr_status tr_ps_bye(tr_ps_client *c, tr_err *err);
/* Monitor only: every table into dst and, when state is not NULL, the rule
 * state (one array per table, nstate * rows * cols floats); with wait_idle
 * the servers answer once every worker has finished or died. Blocking. */
tr_status tr_ps_snapshot(tr_ps_client *c, float *const *dst, float *const *state,
                         int wait_idle, tr_err *err);
/* Server 0's statistics as of the last reply. */
const tr_ps_stats *tr_ps_client_stats(const tr_ps_client *c);
/* Pointers to the value arrays of ps (its layout order) in out (ps->n). */
void tr_ps_values(const tr_params *ps, float **out);

/* A transport that calls the servers in the caller's thread: for one
 * thread driving servers and workers itself (tests, the simulator). A
 * request that a server defers fails ("would wait"). *now is the time
 * passed to the servers. */
typedef struct {
    tr_ps_server **servers;  /* (n), not owned */
    int n;
    const double *now;
    size_t *len;             /* (n) length of each server's last reply */
    int deferred;            /* the last request was deferred */
} tr_ps_direct;

void tr_ps_direct_init(tr_ps_direct *d, tr_ps_server **servers, int n,
                       const double *now, tr_ps_transport *out);
void tr_ps_direct_free(tr_ps_direct *d);

/* ---------------------------------------------------------------- tasks */

/* What a training run needs from a model and its data. A replica is a copy
 * of the model (its parameter set, of the layout's names and shapes, and
 * activations) used by one thread at a time; a stream is one worker's share
 * of the training data with anything it carries between mini-batches. */
typedef struct {
    const char *name;             /* "mlp", "lm", ...: checkpoint metadata triad.model */
    void *ctx;
    const tr_params *params;      /* the layout and the initial values */
    int64_t epoch_samples;        /* examples (or tokens) in one pass over the data */
    int64_t batch_samples;        /* examples per mini-batch (nominal) */
    const tr_meta *meta;          /* extra checkpoint metadata (e.g. the config) */
    int nmeta;
    /* a new replica, with the initial values, whose parameter set goes to
     * *ps; NULL and err on failure */
    void *(*replica_new)(void *ctx, tr_params **ps, tr_err *err);
    void (*replica_free)(void *ctx, void *rep);
    /* worker w of M's share of the data, positioned at the start of epoch */
    void *(*stream_new)(void *ctx, int w, int M, int64_t epoch, uint64_t seed,
                        tr_err *err);
    void (*stream_free)(void *ctx, void *stream);
    /* zeroes rep's gradients and sets them to the gradient of the mean loss
     * over the stream's next mini-batch at rep's values; that loss goes to
     * *loss and the examples used to *samples; allocates nothing; fails only
     * when the data cannot be read */
    tr_status (*grad)(void *ctx, void *rep, void *stream, double *loss,
                      int64_t *samples, tr_err *err);
    /* mean loss and accuracy (NaN when the task has none) of rep's values
     * on the held-out data */
    tr_status (*evaluate)(void *ctx, void *rep, double *loss, double *accuracy,
                          tr_err *err);
} tr_ps_task;

/* ---------------------------------------------------------------- built-in tasks */

/* Image classification (triad/vision.h) on a training and a test set. Each
 * epoch draws one permutation of the training set from (seed, epoch); worker
 * w of M takes its k-th mini-batch from positions (k M + w) b .. + b of it,
 * so M workers' k-th batches together are the k-th batch of size M b of
 * sequential SGD. Replicas evaluate the test set in batches of b. The
 * checkpoint metadata holds triad.model (mlp or cnn) and triad.config. */
typedef struct {
    tr_cls_config cfg;
    const tr_images *train, *test;   /* not owned; outlive the task */
    int batch;                       /* b >= 1 */
    uint64_t seed;                   /* initial weights and shuffling */
} tr_ps_images_config;

typedef struct tr_ps_images tr_ps_images;
/* Fills task (valid while *holder lives). Errors: a config the classifier
 * refuses, images of another size than cfg, no images, batch < 1. */
tr_status tr_ps_images_task(tr_ps_task *task, tr_ps_images **holder,
                            const tr_ps_images_config *c, tr_err *err);
void tr_ps_images_free(tr_ps_images *h);

/* The word LSTM language model (triad/lm.h, through its tr_seq_model) on a
 * text file: worker w of M reads the lines that start in bytes
 * [w size / M, (w + 1) size / M) as batch lanes of its own (truncated BPTT,
 * hidden state carried between its windows), clips its gradient's global
 * norm before pushing, and the held-out loss is the validation file's
 * (accuracy NaN; perplexity = exp(loss)). An epoch is the training file's
 * tokens. The checkpoint holds triad.model = lm, triad.config, triad.vocab
 * and triad.step, so `triad lm eval` reads it when the rule keeps no
 * state (sgd, dcasgd-c). */
typedef struct {
    tr_lm_config cfg;
    const tr_vocab *vocab;           /* not owned */
    const char *train_path, *valid_path;
    int batch, bptt;                 /* lanes and steps of each worker's windows */
    int eval_batch;                  /* lanes for validation (1 scores every token) */
    float clip;                      /* global gradient-norm limit per push; 0 = off */
    uint64_t seed;                   /* weights and dropout */
} tr_ps_lm_config;

typedef struct tr_ps_lm tr_ps_lm;
/* Fills task. Errors: the config, a training file too small for M workers'
 * lanes (when the streams are made), unreadable files. */
tr_status tr_ps_lm_task(tr_ps_task *task, tr_ps_lm **holder,
                        const tr_ps_lm_config *c, tr_err *err);
void tr_ps_lm_free(tr_ps_lm *h);

/* ---------------------------------------------------------------- simulator delays */

typedef enum {
    TR_PS_DELAY_CONSTANT = 0, /* every gradient takes a */
    TR_PS_DELAY_UNIFORM,      /* uniform in [a, b] */
    TR_PS_DELAY_SLOW,         /* 1, but the last k workers take a times as long */
    TR_PS_DELAY_PARETO        /* Pareto with shape a > 1 and mean 1 (heavy tail) */
} tr_ps_delay_kind;

typedef struct {
    tr_ps_delay_kind kind;
    double a, b;
    int k;
} tr_ps_delay;

/* "constant[:D]" (D = 1), "uniform[:LO:HI]" (0.5:1.5), "slow[:F[:K]]"
 * (F = 4, K = 1), "pareto[:ALPHA]" (2.5) -> delay model. */
tr_status tr_ps_delay_parse(const char *s, tr_ps_delay *d, tr_err *err);
/* A duration drawn for worker w of M (rng: that worker's stream). */
double tr_ps_delay_draw(const tr_ps_delay *d, int w, int M, tr_rng *rng);

/* ---------------------------------------------------------------- training */

typedef enum { TR_PS_INPROC = 0, TR_PS_MPI, TR_PS_SIM } tr_ps_transport_kind;

typedef struct {
    tr_ps_transport_kind transport;
    int workers, servers;        /* M >= 1; S >= 1 (ignored in ma mode) */
    tr_ps_mode mode;
    tr_ps_rule rule;
    int epochs;                  /* total, counting those of a resumed checkpoint */
    int evals_per_epoch;         /* evaluations per epoch (>= 1); 0 = only at the end */
    uint64_t seed;
    double timeout;              /* dead-worker timeout (s; sim: time units); 0 = never */
    tr_ps_delay delay;           /* sim only */
    int kill_worker;             /* fault injection: this worker (-1 = none) ... */
    int64_t kill_step;           /* ... goes silent after this many pushes */
    const char *save;            /* checkpoint written at the end (NULL = none) */
    const char *resume;          /* checkpoint to start from (NULL = fresh) */
    double max_seconds;          /* stop early after this much time (0 = none) */
} tr_ps_train_opts;

/* Checks the options (messages name the CLI option). */
tr_status tr_ps_train_check(const tr_ps_train_opts *o, tr_err *err);

typedef enum {
    TR_PS_EVAL = 0,   /* an evaluation: loss, accuracy and the statistics */
    TR_PS_DEAD,       /* a worker was declared dead (worker) */
    TR_PS_START       /* set-up done, training begins (rank, ranks) */
} tr_ps_event;

typedef struct {
    tr_ps_event event;
    int final;             /* the evaluation at the end */
    int rank, ranks;       /* MPI rank (0 and 1 otherwise) */
    int worker;            /* TR_PS_DEAD: who; else -1 */
    int server;            /* TR_PS_DEAD: the server that noticed */
    double epoch;          /* epochs done (fractional between evaluations) */
    double seconds;        /* wall-clock seconds since training began */
    double sim_time;       /* simulator: simulated time; else 0 */
    double train_loss;     /* mean of the pushed mini-batch losses since the last report */
    double loss, accuracy; /* on the held-out data (accuracy NaN when none) */
    double updates_per_s;  /* since training began */
    double samples_per_s;  /* examples behind the pushes, per second, since training began */
    double stale_mean;     /* since the last report */
    tr_ps_stats stats;     /* server 0's, cumulative */
} tr_ps_report;

typedef void (*tr_ps_report_fn)(void *ctx, const tr_ps_report *r);

/* Trains task under o and reports through fn (each MPI rank reports what it
 * sees: worker 0's rank the evaluations, servers the dead workers; fn is
 * called from worker threads, one call at a time). final (may be NULL)
 * receives the last evaluation (final->final is 0 on ranks that evaluate
 * nothing). *stop (may be NULL) becoming non-zero, as from a signal handler,
 * or o->max_seconds passing ends training early: the last evaluation and
 * the checkpoint are still made. MPI: call between tr_ps_mpi_init and
 * tr_ps_mpi_finalize; every rank calls it with the same options. */
tr_status tr_ps_train(const tr_ps_task *task, const tr_ps_train_opts *o,
                      volatile sig_atomic_t *stop, tr_ps_report_fn fn,
                      void *ctx, tr_ps_report *final, tr_err *err);

/* Writes the tables (the task's parameter names and shapes; values of dst
 * arrays), the rule state ("<name>.<state>") and the run's counters to path
 * (safetensors, atomically). */
tr_status tr_ps_save(const char *path, const tr_ps_task *task,
                     const tr_ps_layout *l, const tr_ps_rule *rule,
                     float *const *values, float *const *state,
                     const tr_ps_stats *st, int64_t epoch, tr_err *err);

/* ---------------------------------------------------------------- MPI */

/* 1 when triad was built with MPI (MPICH). */
int tr_ps_have_mpi(void);
/* MPI_Init (thread level funneled) and this process's rank and the number
 * of ranks; an error when built without MPI. */
tr_status tr_ps_mpi_init(int *argc, char ***argv, int *rank, int *ranks,
                         tr_err *err);
void tr_ps_mpi_finalize(void);
/* Ends every rank (after an error on one of them). */
void tr_ps_mpi_abort(int code);
/* A collective call: returns 1 when ok is non-zero on every rank; *root_ok
 * receives rank 0's ok (so that one rank reports an error all share).
 * Without MPI: ok, and *root_ok = ok. */
int tr_ps_mpi_agree(int ok, int *root_ok);

#ifdef __cplusplus
}
#endif
#endif
