/* The parameter server: one shard of every table, its update rule, the
 * workers' clocks, dead-worker detection and statistics, driven by request
 * messages. This is the only implementation of server behaviour; the
 * in-process, MPI and simulated transports all call tr_ps_server_handle.
 *
 * Not here: moving bytes (the transports), waiting (a deferred request is
 * retried by its transport), checkpoint files (checkpoint.c). */
#include "ps_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { W_LIVE = 0, W_DEAD, W_DONE };

struct tr_ps_server {
    tr_ps_server_config c;
    const tr_ps_layout *l;
    int T, M, nstate;
    int64_t *lo, *hi;      /* (T) the shard's rows of each table */
    float **w;             /* (T) values (hi - lo, cols) */
    float **state;         /* (T) rule state (nstate, hi - lo, cols) or NULL */
    float **bak;           /* (M * T) w_bak[m][t] (hi - lo, cols); dcasgd only */
    double **acc;          /* (T) bsp: sum of the round's gradients (hi - lo, cols) */
    uint8_t **acc_mark;    /* (T) bsp, sparse tables: row has a gradient this round */
    int32_t **acc_rows;    /* (T) bsp, sparse tables: those rows (shard-local) */
    int64_t *acc_n;        /* (T) */
    float *gbuf;           /* bsp: the mean gradient of one table (largest shard) */
    int64_t *clock;        /* (M) pushes of each worker in this run */
    double *heard;         /* (M) time of its last message */
    uint8_t *status;       /* (M) W_LIVE, W_DEAD, W_DONE */
    uint8_t *waiting;      /* (M) a pull of it is deferred */
    int64_t *pull_ver;     /* (M) stats.updates when it last pulled */
    int started;           /* a first message arrived (heard is meaningful) */
    int64_t run_pushes;    /* pushes in this run (the rate schedule) */
    int64_t round;         /* bsp: rounds applied in this run */
    int contrib;           /* bsp: gradients summed in the current round */
    tr_ps_stats st;
};

/* ---------------------------------------------------------------- set-up */

tr_status tr_ps_server_new(tr_ps_server **out, const tr_ps_server_config *c,
                           const tr_params *init, tr_err *err)
{
    *out = NULL;
    const tr_ps_layout *l = c->layout;
    TR_ASSERT(l && l->ntables > 0);
    if (c->shard < 0 || c->shard >= l->servers)
        return tr_err_set(err, TR_ERR_ARG, "server %d does not exist: there are %d servers", c->shard, l->servers);
    if (c->workers < 1)
        return tr_err_set(err, TR_ERR_ARG, "--workers must be at least 1, got %d", c->workers);
    if (c->mode.kind == TR_PS_MA)
        return tr_err_set(err, TR_ERR_ARG, "model averaging (ma) runs without a server");
    if (c->epoch_pushes < 1 || c->epoch_base < 0)
        return tr_err_set(err, TR_ERR_ARG, "pushes per epoch must be at least 1");
    if (!(c->timeout >= 0.0))
        return tr_err_set(err, TR_ERR_ARG, "--timeout must be >= 0, got %g", c->timeout);
    tr_status st = tr_ps_rule_check(&c->rule, err);
    if (st)
        return st;
    if (init) {
        if (init->n != l->ntables)
            return tr_err_set(err, TR_ERR_SHAPE, "initial values: %d parameters for %d tables", init->n, l->ntables);
        for (int t = 0; t < l->ntables; t++)
            if (strcmp(init->p[t].name, l->t[t].name) || init->p[t].value.size != l->t[t].rows * l->t[t].cols)
                return tr_err_set(err, TR_ERR_SHAPE, "initial values: parameter %d is %s, table %d is %s", t,
                                  init->p[t].name, t, l->t[t].name);
    }
    tr_ps_server *s = tr_xcalloc(1, sizeof *s);
    s->c = *c;
    s->l = l;
    s->T = l->ntables;
    s->M = c->workers;
    s->nstate = tr_ps_rule_nstate(c->rule.kind);
    const int T = s->T, M = s->M;
    const int dc = c->rule.kind == TR_PS_DCASGD_C || c->rule.kind == TR_PS_DCASGD_A;
    const int bsp = c->mode.kind == TR_PS_BSP;
    s->lo = tr_xcalloc((size_t)T, sizeof(int64_t));
    s->hi = tr_xcalloc((size_t)T, sizeof(int64_t));
    s->w = tr_xcalloc((size_t)T, sizeof(float *));
    s->state = tr_xcalloc((size_t)T, sizeof(float *));
    s->acc = tr_xcalloc((size_t)T, sizeof(double *));
    s->acc_mark = tr_xcalloc((size_t)T, sizeof(uint8_t *));
    s->acc_rows = tr_xcalloc((size_t)T, sizeof(int32_t *));
    s->acc_n = tr_xcalloc((size_t)T, sizeof(int64_t));
    if (dc)
        s->bak = tr_xcalloc((size_t)M * (size_t)T, sizeof(float *));
    int64_t maxn = 1;
    for (int t = 0; t < T; t++) {
        const tr_ps_table *tb = &l->t[t];
        s->lo[t] = tr_ps_shard_row(l, t, c->shard);
        s->hi[t] = tr_ps_shard_row(l, t, c->shard + 1);
        const int64_t n = (s->hi[t] - s->lo[t]) * tb->cols;
        if (n > maxn)
            maxn = n;
        s->w[t] = tr_xcalloc((size_t)(n > 0 ? n : 1), sizeof(float));
        if (init && n > 0)
            memcpy(s->w[t], init->p[t].value.data + s->lo[t] * tb->cols, (size_t)n * sizeof(float));
        if (s->nstate)
            s->state[t] = tr_xcalloc((size_t)(n > 0 ? n : 1) * (size_t)s->nstate, sizeof(float));
        if (dc)
            for (int m = 0; m < M; m++) {
                float *b = tr_xcalloc((size_t)(n > 0 ? n : 1), sizeof(float));
                memcpy(b, s->w[t], (size_t)n * sizeof(float));
                s->bak[(size_t)m * (size_t)T + (size_t)t] = b;
            }
        if (bsp) {
            s->acc[t] = tr_xcalloc((size_t)(n > 0 ? n : 1), sizeof(double));
            if (tb->sparse) {
                const int64_t rows = s->hi[t] - s->lo[t];
                s->acc_mark[t] = tr_xcalloc((size_t)(rows > 0 ? rows : 1), 1);
                s->acc_rows[t] = tr_xcalloc((size_t)(rows > 0 ? rows : 1), sizeof(int32_t));
            }
        }
    }
    if (bsp)
        s->gbuf = tr_xcalloc((size_t)maxn, sizeof(float));
    s->clock = tr_xcalloc((size_t)M, sizeof(int64_t));
    s->heard = tr_xcalloc((size_t)M, sizeof(double));
    s->status = tr_xcalloc((size_t)M, 1);
    s->waiting = tr_xcalloc((size_t)M, 1);
    s->pull_ver = tr_xcalloc((size_t)M, sizeof(int64_t));
    s->st.live = M;
    s->st.lr = tr_ps_rule_lr(&c->rule, c->epoch_base);
    *out = s;
    return TR_OK;
}

void tr_ps_server_free(tr_ps_server *s)
{
    if (!s)
        return;
    for (int t = 0; t < s->T; t++) {
        free(s->w[t]);
        free(s->state[t]);
        free(s->acc[t]);
        free(s->acc_mark[t]);
        free(s->acc_rows[t]);
        if (s->bak)
            for (int m = 0; m < s->M; m++)
                free(s->bak[(size_t)m * (size_t)s->T + (size_t)t]);
    }
    free(s->lo);
    free(s->hi);
    free(s->w);
    free(s->state);
    free(s->bak);
    free(s->acc);
    free(s->acc_mark);
    free(s->acc_rows);
    free(s->acc_n);
    free(s->gbuf);
    free(s->clock);
    free(s->heard);
    free(s->status);
    free(s->waiting);
    free(s->pull_ver);
    free(s);
}

const tr_ps_stats *tr_ps_server_stats(const tr_ps_server *s)
{
    return &s->st;
}

size_t tr_ps_msg_cap(const tr_ps_layout *l, int with_state)
{
    int64_t rows = 0, floats = 0;
    for (int t = 0; t < l->ntables; t++) {
        rows += l->t[t].rows;
        floats += l->t[t].rows * l->t[t].cols;
    }
    size_t data = (size_t)floats * sizeof(float) * (size_t)(with_state ? 2 : 1);
    size_t hello = (size_t)l->ntables * sizeof(ps_wire_table);
    size_t body = ps_rows_bytes(l->ntables, rows) + ps_align8(data);
    if (hello > body)
        body = hello;
    if (body < PS_ERR_MAX)
        body = PS_ERR_MAX;
    return PS_REPLY_HEAD + body;
}

/* ---------------------------------------------------------------- replies */

static size_t reply_head(const tr_ps_server *s, void *reply, int op)
{
    ps_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = PS_MAGIC;
    h.op = op;
    h.worker = -1;
    h.ntables = s->T;
    h.shard = s->c.shard;
    memcpy(reply, &h, sizeof h);
    memcpy((char *)reply + sizeof h, &s->st, sizeof s->st);
    return PS_REPLY_HEAD;
}

size_t ps_error_reply(void *reply, size_t cap, int shard, const char *fmt, ...)
{
    TR_ASSERT(cap >= PS_REPLY_HEAD + PS_ERR_MAX);
    ps_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = PS_MAGIC;
    h.op = PS_R_ERROR;
    h.worker = -1;
    h.shard = shard;
    memcpy(reply, &h, sizeof h);
    memset((char *)reply + sizeof h, 0, PS_REPLY_HEAD - sizeof h);
    char *msg = (char *)reply + PS_REPLY_HEAD;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, PS_ERR_MAX, fmt, ap);
    va_end(ap);
    return PS_REPLY_HEAD + ps_align8(strlen(msg) + 1);
}

/* ---------------------------------------------------------------- clocks */

static int64_t min_live_clock(const tr_ps_server *s, int *any)
{
    int64_t mn = INT64_MAX;
    *any = 0;
    for (int m = 0; m < s->M; m++)
        if (s->status[m] == W_LIVE) {
            *any = 1;
            if (s->clock[m] < mn)
                mn = s->clock[m];
        }
    return mn;
}

/* The clock gap a pull of worker would have now, or -1 when it must wait. */
static int64_t pull_gap(const tr_ps_server *s, int worker)
{
    int any = 0;
    const int64_t mn = min_live_clock(s, &any);
    const int64_t gap = any ? s->clock[worker] - mn : 0;
    switch (s->c.mode.kind) {
    case TR_PS_ASP: return gap;
    case TR_PS_SSP: return gap <= s->c.mode.param ? gap : -1;
    case TR_PS_BSP: return gap <= 0 ? gap : -1;
    case TR_PS_MA: break;
    }
    TR_ASSERT(!"no server in ma mode");
    return -1;
}

/* Marks the first message's time as every worker's last contact, so that a
 * worker that never speaks is timed out from the start of training. */
static void heard_from(tr_ps_server *s, int worker, double now)
{
    if (!s->started) {
        s->started = 1;
        for (int m = 0; m < s->M; m++)
            s->heard[m] = now;
    }
    if (worker >= 0)
        s->heard[worker] = now;
}

int ps_server_pull_ready(tr_ps_server *s, int worker, double now)
{
    TR_ASSERT(worker >= 0 && worker < s->M);
    heard_from(s, worker, now);
    if (s->status[worker] != W_LIVE || pull_gap(s, worker) >= 0)
        return 1;
    s->waiting[worker] = 1;
    return 0;
}

static float current_lr(const tr_ps_server *s, int64_t pushes_before)
{
    return tr_ps_rule_lr(&s->c.rule, s->c.epoch_base + pushes_before / s->c.epoch_pushes);
}

/* bsp: once every live worker has pushed its gradient of the round, one
 * update with their mean. */
static void bsp_complete(tr_ps_server *s)
{
    if (s->c.mode.kind != TR_PS_BSP || s->contrib == 0)
        return;
    for (int m = 0; m < s->M; m++)
        if (s->status[m] == W_LIVE && s->clock[m] < s->round + 1)
            return;
    const float lr = current_lr(s, s->run_pushes - s->contrib);
    const double inv = 1.0 / (double)s->contrib;
    for (int t = 0; t < s->T; t++) {
        const int64_t cols = s->l->t[t].cols, rows = s->hi[t] - s->lo[t];
        double *acc = s->acc[t];
        float *st = s->state[t];
        if (!s->l->t[t].sparse) {
            const int64_t n = rows * cols;
            for (int64_t i = 0; i < n; i++) {
                s->gbuf[i] = (float)(acc[i] * inv);
                acc[i] = 0.0;
            }
            tr_ps_rule_apply(&s->c.rule, lr, s->w[t], s->gbuf, st, NULL, n);
            continue;
        }
        for (int64_t k = 0; k < s->acc_n[t]; k++) {
            const int64_t r = s->acc_rows[t][k];
            double *a = acc + r * cols;
            for (int64_t j = 0; j < cols; j++) {
                s->gbuf[j] = (float)(a[j] * inv);
                a[j] = 0.0;
            }
            tr_ps_rule_apply(&s->c.rule, lr, s->w[t] + r * cols, s->gbuf, st ? st + r * cols : NULL, NULL, cols);
            s->acc_mark[t][r] = 0;
        }
        s->acc_n[t] = 0;
    }
    s->round++;
    s->contrib = 0;
    s->st.updates++;
    s->st.lr = current_lr(s, s->run_pushes);
}

int tr_ps_server_check(tr_ps_server *s, double now, int *dead, int cap)
{
    if (s->c.timeout <= 0.0 || !s->started)
        return 0;
    int n = 0;
    for (int m = 0; m < s->M; m++)
        if (s->status[m] == W_LIVE && !s->waiting[m] && now - s->heard[m] > s->c.timeout) {
            s->status[m] = W_DEAD;
            s->st.live--;
            s->st.dead++;
            if (n < cap)
                dead[n] = m;
            n++;
        }
    if (n)
        bsp_complete(s);
    return n < cap ? n : cap;
}

double tr_ps_server_deadline(const tr_ps_server *s)
{
    if (s->c.timeout <= 0.0 || !s->started)
        return -1.0;
    double d = -1.0;
    for (int m = 0; m < s->M; m++)
        if (s->status[m] == W_LIVE && !s->waiting[m]) {
            double t = s->heard[m] + s->c.timeout;
            if (d < 0 || t < d)
                d = t;
        }
    return d;
}

int tr_ps_server_idle(const tr_ps_server *s)
{
    return s->st.live == 0;
}

/* ---------------------------------------------------------------- requests */

/* The row part of a pull or push: counts (T) then ids. Checks every id lies
 * in the shard; sets *nfloats to the floats that follow. Returns 0 or writes
 * an error reply and returns its length. */
static size_t parse_rows(const tr_ps_server *s, const char *body, size_t len, const int64_t **counts,
                         const int32_t **ids, size_t *rows_bytes, int64_t *nfloats, void *reply, size_t cap)
{
    if (len < (size_t)s->T * 8)
        return ps_error_reply(reply, cap, s->c.shard, "server %d: truncated request (%zu bytes)", s->c.shard, len);
    const int64_t *cnt = (const int64_t *)(const void *)body;
    int64_t nids = 0, nf = 0;
    for (int t = 0; t < s->T; t++) {
        const int64_t rows = s->hi[t] - s->lo[t];
        if (cnt[t] == PS_ALL_ROWS) {
            nf += rows * s->l->t[t].cols;
        } else if (cnt[t] >= 0 && cnt[t] <= (int64_t)(len / 4)) {
            nids += cnt[t];
            nf += cnt[t] * s->l->t[t].cols;
        } else {
            return ps_error_reply(reply, cap, s->c.shard, "server %d: table %s: bad row count %lld", s->c.shard,
                                  s->l->t[t].name, (long long)cnt[t]);
        }
    }
    const size_t rb = ps_rows_bytes(s->T, nids);
    if (rb > len)
        return ps_error_reply(reply, cap, s->c.shard, "server %d: truncated row list", s->c.shard);
    const int32_t *id = (const int32_t *)(const void *)(body + (size_t)s->T * 8);
    const int32_t *p = id;
    for (int t = 0; t < s->T; t++) {
        if (cnt[t] == PS_ALL_ROWS)
            continue;
        for (int64_t k = 0; k < cnt[t]; k++, p++)
            if (*p < s->lo[t] || *p >= s->hi[t])
                return ps_error_reply(reply, cap, s->c.shard,
                                      "server %d: row %d of table %s is not on this server (rows %lld .. %lld)",
                                      s->c.shard, (int)*p, s->l->t[t].name, (long long)s->lo[t],
                                      (long long)s->hi[t] - 1);
    }
    *counts = cnt;
    *ids = id;
    *rows_bytes = rb;
    *nfloats = nf;
    return 0;
}

static size_t do_hello(tr_ps_server *s, const ps_hdr *h, const char *body, size_t len, void *reply, size_t cap)
{
    if (h->ntables != s->T)
        return ps_error_reply(reply, cap, s->c.shard,
                              "worker %d has %d tables but server %d has %d: the ranks were started with different "
                              "models",
                              h->worker, h->ntables, s->c.shard, s->T);
    if (len != (size_t)s->T * sizeof(ps_wire_table))
        return ps_error_reply(reply, cap, s->c.shard, "server %d: malformed hello", s->c.shard);
    for (int t = 0; t < s->T; t++) {
        ps_wire_table wt;
        memcpy(&wt, body + (size_t)t * sizeof wt, sizeof wt);
        const tr_ps_table *mine = &s->l->t[t];
        int same = !strncmp(wt.name, mine->name, sizeof wt.name) && wt.ndim == mine->ndim &&
                   wt.rows == mine->rows && wt.cols == mine->cols && wt.sparse == mine->sparse;
        for (int d = 0; same && d < mine->ndim; d++)
            same = wt.shape[d] == mine->shape[d];
        if (!same) {
            char a[96] = "", b[96] = "";
            wt.name[sizeof wt.name - 1] = '\0';
            tr_tensor ta = tr_tensor_make(NULL, wt.ndim >= 1 && wt.ndim <= TR_MAX_DIMS ? wt.ndim : 1, wt.shape);
            tr_tensor tb = tr_tensor_make(NULL, mine->ndim, mine->shape);
            tr_tensor_shape_str(&ta, a, sizeof a);
            tr_tensor_shape_str(&tb, b, sizeof b);
            return ps_error_reply(reply, cap, s->c.shard,
                                  "table %d differs: worker %d has %s %s, server %d has %s %s (the ranks were started "
                                  "with different model options)",
                                  t, h->worker, wt.name, a, s->c.shard, mine->name, b);
        }
    }
    return reply_head(s, reply, PS_R_OK);
}

static size_t do_pull(tr_ps_server *s, const ps_hdr *h, const char *body, size_t len, void *reply, size_t cap,
                      int64_t gap)
{
    const int64_t *cnt;
    const int32_t *ids;
    size_t rb;
    int64_t nf;
    size_t e = parse_rows(s, body, len, &cnt, &ids, &rb, &nf, reply, cap);
    if (e)
        return e;
    if (rb != len || PS_REPLY_HEAD + (size_t)nf * sizeof(float) > cap)
        return ps_error_reply(reply, cap, s->c.shard, "server %d: malformed pull", s->c.shard);
    const int m = h->worker;
    s->waiting[m] = 0;
    if (gap > s->st.gap_max)
        s->st.gap_max = gap;
    s->pull_ver[m] = s->st.updates;
    float *out = (float *)(void *)((char *)reply + PS_REPLY_HEAD);
    const int32_t *id = ids;
    for (int t = 0; t < s->T; t++) {
        const int64_t cols = s->l->t[t].cols;
        float *bak = s->bak ? s->bak[(size_t)m * (size_t)s->T + (size_t)t] : NULL;
        if (cnt[t] == PS_ALL_ROWS) {
            const size_t n = (size_t)((s->hi[t] - s->lo[t]) * cols);
            memcpy(out, s->w[t], n * sizeof(float));
            if (bak)
                memcpy(bak, s->w[t], n * sizeof(float));
            out += n;
            continue;
        }
        for (int64_t k = 0; k < cnt[t]; k++, id++) {
            const float *src = s->w[t] + (*id - s->lo[t]) * cols;
            memcpy(out, src, (size_t)cols * sizeof(float));
            if (bak)
                memcpy(bak + (*id - s->lo[t]) * cols, src, (size_t)cols * sizeof(float));
            out += cols;
        }
    }
    reply_head(s, reply, PS_R_VALUES);
    return PS_REPLY_HEAD + ps_align8((size_t)nf * sizeof(float));
}

static void apply_rows(tr_ps_server *s, int m, int t, int64_t r0, int64_t nrows, const float *g, float lr)
{
    const int64_t cols = s->l->t[t].cols, n = nrows * cols, off = (r0 - s->lo[t]) * cols;
    float *st = s->state[t] ? s->state[t] + off : NULL;
    const float *bak = s->bak ? s->bak[(size_t)m * (size_t)s->T + (size_t)t] + off : NULL;
    tr_ps_rule_apply(&s->c.rule, lr, s->w[t] + off, g, st, bak, n);
}

static void accumulate_rows(tr_ps_server *s, int t, int64_t r0, int64_t nrows, const float *g)
{
    const int64_t cols = s->l->t[t].cols, local = r0 - s->lo[t];
    double *a = s->acc[t] + local * cols;
    for (int64_t i = 0; i < nrows * cols; i++)
        a[i] += (double)g[i];
    if (s->acc_mark[t])
        for (int64_t r = local; r < local + nrows; r++)
            if (!s->acc_mark[t][r]) {
                s->acc_mark[t][r] = 1;
                s->acc_rows[t][s->acc_n[t]++] = (int32_t)r;
            }
}

static size_t do_push(tr_ps_server *s, const ps_hdr *h, const char *body, size_t len, void *reply, size_t cap)
{
    const int64_t *cnt;
    const int32_t *ids;
    size_t rb;
    int64_t nf;
    size_t e = parse_rows(s, body, len, &cnt, &ids, &rb, &nf, reply, cap);
    if (e)
        return e;
    if (len != rb + ps_align8((size_t)nf * sizeof(float)) || h->samples < 0)
        return ps_error_reply(reply, cap, s->c.shard, "server %d: malformed push", s->c.shard);
    const int m = h->worker;
    const int bsp = s->c.mode.kind == TR_PS_BSP;
    const float lr = current_lr(s, s->run_pushes);
    const int64_t stale = s->st.updates - s->pull_ver[m];
    const float *g = (const float *)(const void *)(body + rb);
    const int32_t *id = ids;
    for (int t = 0; t < s->T; t++) {
        const int64_t cols = s->l->t[t].cols;
        if (cnt[t] == PS_ALL_ROWS) {
            const int64_t rows = s->hi[t] - s->lo[t];
            if (bsp)
                accumulate_rows(s, t, s->lo[t], rows, g);
            else
                apply_rows(s, m, t, s->lo[t], rows, g, lr);
            g += rows * cols;
            continue;
        }
        for (int64_t k = 0; k < cnt[t]; k++, id++, g += cols) {
            if (bsp)
                accumulate_rows(s, t, *id, 1, g);
            else
                apply_rows(s, m, t, *id, 1, g, lr);
        }
    }
    s->st.pushes++;
    s->run_pushes++;
    s->st.samples += h->samples;
    if (isfinite(h->loss)) {
        s->st.loss_sum += h->loss;
        s->st.loss_n++;
    }
    s->st.stale_n++;
    s->st.stale_sum += stale;
    if (stale > s->st.stale_max)
        s->st.stale_max = stale;
    s->st.stale_hist[stale < TR_PS_HIST - 1 ? stale : TR_PS_HIST - 1]++;
    s->clock[m]++;
    if (bsp) {
        s->contrib++;
        bsp_complete(s);
    } else {
        s->st.updates++;
        s->st.lr = current_lr(s, s->run_pushes);
    }
    return reply_head(s, reply, PS_R_OK);
}

static size_t do_snapshot(tr_ps_server *s, const ps_hdr *h, void *reply, size_t cap)
{
    const int with_state = (h->flags & PS_F_STATE) != 0;
    size_t nf = 0;
    for (int t = 0; t < s->T; t++)
        nf += (size_t)((s->hi[t] - s->lo[t]) * s->l->t[t].cols);
    const size_t total = nf * (size_t)(1 + (with_state ? s->nstate : 0));
    if (PS_REPLY_HEAD + total * sizeof(float) > cap)
        return ps_error_reply(reply, cap, s->c.shard, "server %d: snapshot larger than the reply buffer", s->c.shard);
    float *out = (float *)(void *)((char *)reply + PS_REPLY_HEAD);
    for (int t = 0; t < s->T; t++) {
        const size_t n = (size_t)((s->hi[t] - s->lo[t]) * s->l->t[t].cols);
        memcpy(out, s->w[t], n * sizeof(float));
        out += n;
    }
    if (with_state && s->nstate)
        for (int t = 0; t < s->T; t++) {
            const size_t n = (size_t)((s->hi[t] - s->lo[t]) * s->l->t[t].cols) * (size_t)s->nstate;
            memcpy(out, s->state[t], n * sizeof(float));
            out += n;
        }
    reply_head(s, reply, PS_R_VALUES);
    if (with_state && s->nstate) {
        ps_hdr rh;
        memcpy(&rh, reply, sizeof rh);
        rh.flags = PS_F_STATE;
        memcpy(reply, &rh, sizeof rh);
    }
    return PS_REPLY_HEAD + ps_align8(total * sizeof(float));
}

static tr_ps_handled handle(tr_ps_server *s, const void *req, size_t len, double now, void *reply, size_t cap,
                            size_t *reply_len);

tr_ps_handled tr_ps_server_handle(tr_ps_server *s, const void *req, size_t len,
                                  double now, void *reply, size_t cap,
                                  size_t *reply_len)
{
    tr_ps_handled r = handle(s, req, len, now, reply, cap, reply_len);
    if (r == TR_PS_REPLIED) {
        /* counted after the reply was written: the stats it carries lag by one message */
        s->st.bytes_in += (int64_t)len;
        s->st.bytes_out += (int64_t)*reply_len;
    }
    return r;
}

static tr_ps_handled handle(tr_ps_server *s, const void *req, size_t len, double now, void *reply, size_t cap,
                            size_t *reply_len)
{
    TR_ASSERT(cap >= PS_REPLY_HEAD + PS_ERR_MAX);
    const int shard = s->c.shard;
    ps_hdr h;
    if (len < sizeof h) {
        *reply_len = ps_error_reply(reply, cap, shard, "server %d: a message of %zu bytes is too short", shard, len);
        return TR_PS_REPLIED;
    }
    memcpy(&h, req, sizeof h);
    const char *body = (const char *)req + sizeof h;
    const size_t blen = len - sizeof h;
    if (h.magic != PS_MAGIC) {
        *reply_len = ps_error_reply(reply, cap, shard,
                                    "server %d: not a triad parameter-server message (bad magic; a rank of another "
                                    "program or another byte order?)",
                                    shard);
        return TR_PS_REPLIED;
    }
    if (h.shard != shard) {
        *reply_len = ps_error_reply(reply, cap, shard, "server %d received a message addressed to server %d", shard,
                                    h.shard);
        return TR_PS_REPLIED;
    }
    if (h.worker < -1 || h.worker >= s->M) {
        *reply_len = ps_error_reply(reply, cap, shard,
                                    "server %d: message from worker %d, but it serves workers 0 .. %d (--workers %d)",
                                    shard, h.worker, s->M - 1, s->M);
        return TR_PS_REPLIED;
    }
    if (h.op != PS_HELLO && h.ntables != s->T) {
        *reply_len = ps_error_reply(reply, cap, shard, "server %d: message for %d tables; it holds %d", shard,
                                    h.ntables, s->T);
        return TR_PS_REPLIED;
    }
    heard_from(s, h.worker, now);
    const int m = h.worker;
    if (h.op == PS_PULL || h.op == PS_PUSH || h.op == PS_BYE) {
        if (m < 0) {
            *reply_len = ps_error_reply(reply, cap, shard, "server %d: the monitor cannot pull or push", shard);
            return TR_PS_REPLIED;
        }
        if (s->status[m] == W_DEAD) {
            *reply_len = ps_error_reply(reply, cap, shard,
                                        "server %d declared worker %d dead after %g s of silence; it is no longer "
                                        "part of the run",
                                        shard, m, s->c.timeout);
            return TR_PS_REPLIED;
        }
        if (s->status[m] == W_DONE) {
            *reply_len = ps_error_reply(reply, cap, shard, "server %d: worker %d has already said goodbye", shard, m);
            return TR_PS_REPLIED;
        }
    }
    switch (h.op) {
    case PS_HELLO:
        *reply_len = do_hello(s, &h, body, blen, reply, cap);
        return TR_PS_REPLIED;
    case PS_PULL: {
        const int64_t gap = pull_gap(s, m);
        if (gap < 0) {
            s->waiting[m] = 1;
            return TR_PS_DEFERRED;
        }
        *reply_len = do_pull(s, &h, body, blen, reply, cap, gap);
        return TR_PS_REPLIED;
    }
    case PS_PUSH:
        *reply_len = do_push(s, &h, body, blen, reply, cap);
        return TR_PS_REPLIED;
    case PS_BYE:
        s->status[m] = W_DONE;
        s->waiting[m] = 0;
        s->st.live--;
        s->st.done++;
        bsp_complete(s);
        *reply_len = reply_head(s, reply, PS_R_OK);
        return TR_PS_REPLIED;
    case PS_SNAPSHOT:
        if (m != -1) {
            *reply_len = ps_error_reply(reply, cap, shard, "server %d: only the monitor takes snapshots", shard);
            return TR_PS_REPLIED;
        }
        if ((h.flags & PS_F_WAIT_IDLE) && s->st.live > 0)
            return TR_PS_DEFERRED;
        *reply_len = do_snapshot(s, &h, reply, cap);
        return TR_PS_REPLIED;
    default:
        *reply_len = ps_error_reply(reply, cap, shard, "server %d: unknown request %d", shard, h.op);
        return TR_PS_REPLIED;
    }
}

/* ---------------------------------------------------------------- resume */

/* Copies the shard's rows of tensor name (shape of table t) from f into dst. */
static tr_status load_rows(const tr_ps_server *s, const tr_st_file *f, const char *path, const char *name, int t,
                           float *dst, tr_err *err)
{
    const tr_ps_table *tb = &s->l->t[t];
    const tr_tensor *x = tr_st_get(f, name);
    if (!x)
        return tr_err_set(err, TR_ERR_FORMAT, "%s has no tensor %s", path, name);
    tr_tensor want = tr_tensor_make(NULL, tb->ndim, tb->shape);
    if (!tr_tensor_same_shape(x, &want)) {
        char a[96], b[96];
        return tr_err_set(err, TR_ERR_SHAPE, "%s: tensor %s is %s, the model's is %s", path, name,
                          tr_tensor_shape_str(x, a, sizeof a), tr_tensor_shape_str(&want, b, sizeof b));
    }
    const int64_t n = (s->hi[t] - s->lo[t]) * tb->cols;
    memcpy(dst, x->data + s->lo[t] * tb->cols, (size_t)n * sizeof(float));
    return TR_OK;
}

tr_status tr_ps_server_load(tr_ps_server *s, const tr_st_file *f,
                            const char *path, tr_err *err)
{
    ps_ckpt_meta meta;
    tr_status rc = ps_ckpt_read(f, path, NULL, &meta, err);
    if (rc)
        return rc;
    if (meta.rule != s->c.rule.kind && (s->nstate || tr_ps_rule_nstate(meta.rule)))
        return tr_err_set(err, TR_ERR_ARG,
                          "%s was trained with --rule %s, whose state does not carry over to --rule %s; resume with "
                          "--rule %s",
                          path, tr_ps_rule_name(meta.rule), tr_ps_rule_name(s->c.rule.kind),
                          tr_ps_rule_name(meta.rule));
    /* check everything before changing anything */
    for (int t = 0; t < s->T; t++) {
        const int64_t n = (s->hi[t] - s->lo[t]) * s->l->t[t].cols;
        float *tmp = tr_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(float));
        char name[160];
        rc = load_rows(s, f, path, s->l->t[t].name, t, tmp, err);
        if (!rc && s->nstate) {
            snprintf(name, sizeof name, "%s.%s", s->l->t[t].name, tr_ps_rule_state_name(s->c.rule.kind));
            rc = load_rows(s, f, path, name, t, tmp, err);
        }
        free(tmp);
        if (rc)
            return rc;
    }
    for (int t = 0; t < s->T; t++) {
        const int64_t n = (s->hi[t] - s->lo[t]) * s->l->t[t].cols;
        load_rows(s, f, path, s->l->t[t].name, t, s->w[t], err);
        if (s->nstate) {
            char name[160];
            snprintf(name, sizeof name, "%s.%s", s->l->t[t].name, tr_ps_rule_state_name(s->c.rule.kind));
            load_rows(s, f, path, name, t, s->state[t], err);
        }
        if (s->bak)
            for (int m = 0; m < s->M; m++)
                memcpy(s->bak[(size_t)m * (size_t)s->T + (size_t)t], s->w[t], (size_t)n * sizeof(float));
    }
    const tr_ps_stats *c = &meta.stats;
    s->st.pushes = c->pushes;
    s->st.updates = c->updates;
    s->st.samples = c->samples;
    s->st.loss_n = c->loss_n;
    s->st.loss_sum = c->loss_sum;
    s->st.stale_n = c->stale_n;
    s->st.stale_sum = c->stale_sum;
    s->st.stale_max = c->stale_max;
    s->st.gap_max = c->gap_max;
    for (int m = 0; m < s->M; m++)
        s->pull_ver[m] = s->st.updates;
    return TR_OK;
}
