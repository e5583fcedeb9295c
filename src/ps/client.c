/* The worker's side of the parameter server: builds pull, push, hello, bye
 * and snapshot requests for each server's shard, hands them to a transport
 * and unpacks the replies. One request per server is in flight at a time;
 * buffers for the largest message are allocated when the client is made,
 * so pulls and pushes allocate nothing. */
#include "ps_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_NONE = 0, OP_PULL, OP_OTHER };

struct tr_ps_client {
    const tr_ps_layout *l;
    int worker, S, T;
    tr_ps_transport tr;
    size_t cap;
    char **req, **rep;   /* (S) cap bytes each */
    size_t *req_len;     /* (S) */
    int pending;         /* OP_* of the request in flight */
    tr_ps_req seq;       /* its handle */
    float *const *dst;   /* pull: where the values go */
    int sent;            /* servers the request reached */
    tr_status send_rc;
    tr_err send_err;
    tr_ps_stats stats;
};

tr_status tr_ps_client_new(tr_ps_client **out, const tr_ps_layout *l,
                           int worker, const tr_ps_transport *t, tr_err *err)
{
    *out = NULL;
    if (worker < -1)
        return tr_err_set(err, TR_ERR_ARG, "worker id %d is negative", worker);
    if (t->servers != l->servers)
        return tr_err_set(err, TR_ERR_ARG, "the transport reaches %d servers, the tables are sharded over %d",
                          t->servers, l->servers);
    tr_ps_client *c = tr_xcalloc(1, sizeof *c);
    c->l = l;
    c->worker = worker;
    c->S = l->servers;
    c->T = l->ntables;
    c->tr = *t;
    c->cap = tr_ps_msg_cap(l, 1);
    c->req = tr_xcalloc((size_t)c->S, sizeof(char *));
    c->rep = tr_xcalloc((size_t)c->S, sizeof(char *));
    c->req_len = tr_xcalloc((size_t)c->S, sizeof(size_t));
    for (int s = 0; s < c->S; s++) {
        c->req[s] = tr_xmalloc(c->cap);
        c->rep[s] = tr_xmalloc(c->cap);
    }
    *out = c;
    return TR_OK;
}

void tr_ps_client_free(tr_ps_client *c)
{
    if (!c)
        return;
    for (int s = 0; s < c->S; s++) {
        free(c->req[s]);
        free(c->rep[s]);
    }
    free(c->req);
    free(c->rep);
    free(c->req_len);
    free(c);
}

void ps_client_set_worker(tr_ps_client *c, int worker)
{
    TR_ASSERT(c->pending == OP_NONE && worker >= -1);
    c->worker = worker;
}

const tr_ps_stats *tr_ps_client_stats(const tr_ps_client *c)
{
    return &c->stats;
}

void tr_ps_values(const tr_params *ps, float **out)
{
    for (int i = 0; i < ps->n; i++)
        out[i] = ps->p[i].value.data;
}

/* ---------------------------------------------------------------- requests */

static char *begin(tr_ps_client *c, int s, int op, int flags)
{
    ps_hdr h;
    memset(&h, 0, sizeof h);
    h.magic = PS_MAGIC;
    h.op = op;
    h.worker = c->worker;
    h.ntables = c->T;
    h.flags = flags;
    h.shard = s;
    h.loss = NAN;
    memcpy(c->req[s], &h, sizeof h);
    return c->req[s] + sizeof h;
}

/* Sends every server's request; a failure is kept for tr_ps_wait. */
static tr_ps_req send_all(tr_ps_client *c, int op)
{
    TR_ASSERT(c->pending == OP_NONE);
    c->pending = op;
    c->send_rc = TR_OK;
    c->sent = 0;
    for (int s = 0; s < c->S; s++) {
        TR_ASSERT(c->req_len[s] <= c->cap);
        c->send_rc = c->tr.send(c->tr.ctx, c->worker, s, c->req[s], c->req_len[s], c->rep[s], c->cap, &c->send_err);
        if (c->send_rc)
            break;
        c->sent++;
    }
    return ++c->seq;
}

tr_ps_req tr_ps_pull(tr_ps_client *c, float *const *dst,
                     const int32_t *const *rows, const int64_t *nrows)
{
    TR_ASSERT(c->worker >= 0 && dst);
    for (int s = 0; s < c->S; s++) {
        char *p = begin(c, s, PS_PULL, 0);
        int64_t *cnt = (int64_t *)(void *)p;
        int32_t *ids = (int32_t *)(void *)(p + (size_t)c->T * 8);
        int64_t nids = 0;
        for (int t = 0; t < c->T; t++) {
            if (!rows || !rows[t]) {
                cnt[t] = PS_ALL_ROWS;
                continue;
            }
            const int64_t lo = tr_ps_shard_row(c->l, t, s), hi = tr_ps_shard_row(c->l, t, s + 1);
            int64_t k = 0;
            for (int64_t i = 0; i < nrows[t]; i++) {
                TR_ASSERT(rows[t][i] >= 0 && rows[t][i] < c->l->t[t].rows);
                if (rows[t][i] >= lo && rows[t][i] < hi) {
                    ids[nids++] = rows[t][i];
                    k++;
                }
            }
            cnt[t] = k;
        }
        const size_t rb = ps_rows_bytes(c->T, nids);
        memset(p + (size_t)c->T * 8 + (size_t)nids * 4, 0, rb - (size_t)c->T * 8 - (size_t)nids * 4);
        c->req_len[s] = sizeof(ps_hdr) + rb;
    }
    c->dst = dst;
    return send_all(c, OP_PULL);
}

tr_ps_req tr_ps_push(tr_ps_client *c, const tr_params *g, int64_t samples,
                     double loss)
{
    TR_ASSERT(c->worker >= 0 && g->n == c->T && samples >= 0);
    for (int s = 0; s < c->S; s++) {
        char *p = begin(c, s, PS_PUSH, 0);
        ps_hdr h;
        memcpy(&h, c->req[s], sizeof h);
        h.samples = samples;
        h.loss = loss;
        memcpy(c->req[s], &h, sizeof h);
        int64_t *cnt = (int64_t *)(void *)p;
        int32_t *ids = (int32_t *)(void *)(p + (size_t)c->T * 8);
        int64_t nids = 0;
        for (int t = 0; t < c->T; t++) {
            const tr_param *pr = &g->p[t];
            TR_ASSERT(pr->grad.size == c->l->t[t].rows * c->l->t[t].cols);
            if (!c->l->t[t].sparse) {
                cnt[t] = PS_ALL_ROWS;
                continue;
            }
            const int64_t lo = tr_ps_shard_row(c->l, t, s), hi = tr_ps_shard_row(c->l, t, s + 1);
            int64_t k = 0;
            for (int64_t i = 0; i < pr->ntouched; i++)
                if (pr->touched[i] >= lo && pr->touched[i] < hi) {
                    ids[nids++] = pr->touched[i];
                    k++;
                }
            cnt[t] = k;
        }
        const size_t rb = ps_rows_bytes(c->T, nids);
        memset(p + (size_t)c->T * 8 + (size_t)nids * 4, 0, rb - (size_t)c->T * 8 - (size_t)nids * 4);
        float *out = (float *)(void *)(p + rb);
        const int32_t *id = ids;
        for (int t = 0; t < c->T; t++) {
            const int64_t cols = c->l->t[t].cols;
            const float *src = g->p[t].grad.data;
            if (cnt[t] == PS_ALL_ROWS) {
                const int64_t lo = tr_ps_shard_row(c->l, t, s), hi = tr_ps_shard_row(c->l, t, s + 1);
                memcpy(out, src + lo * cols, (size_t)((hi - lo) * cols) * sizeof(float));
                out += (hi - lo) * cols;
                continue;
            }
            for (int64_t k = 0; k < cnt[t]; k++, id++) {
                memcpy(out, src + (int64_t)*id * cols, (size_t)cols * sizeof(float));
                out += cols;
            }
        }
        const size_t used = (size_t)((char *)out - (char *)(p + rb));
        memset(out, 0, ps_align8(used) - used);
        c->req_len[s] = sizeof(ps_hdr) + rb + ps_align8(used);
    }
    return send_all(c, OP_OTHER);
}

/* ---------------------------------------------------------------- replies */

/* Receives server s's reply and checks it; returns its payload. */
static tr_status receive(tr_ps_client *c, int s, int want_op, const char **payload, size_t *plen, tr_err *err)
{
    size_t len = 0;
    tr_status rc = c->tr.recv(c->tr.ctx, c->worker, s, &len, err);
    if (rc)
        return rc;
    ps_hdr h;
    if (len < PS_REPLY_HEAD || len > c->cap)
        return tr_err_set(err, TR_ERR_FORMAT, "server %d: a reply of %zu bytes is malformed", s, len);
    memcpy(&h, c->rep[s], sizeof h);
    if (h.magic != PS_MAGIC)
        return tr_err_set(err, TR_ERR_FORMAT, "server %d: the reply is not a triad parameter-server message", s);
    if (h.op == PS_R_ERROR) {
        if (len == PS_REPLY_HEAD)
            return tr_err_set(err, TR_ERR_ARG, "server %d refused the request", s);
        char *msg = c->rep[s] + PS_REPLY_HEAD;
        msg[len - PS_REPLY_HEAD - 1] = '\0';
        return tr_err_set(err, TR_ERR_ARG, "%s", msg);
    }
    if (h.op != want_op)
        return tr_err_set(err, TR_ERR_FORMAT, "server %d: unexpected reply %d", s, h.op);
    if (s == 0)
        memcpy(&c->stats, c->rep[s] + sizeof h, sizeof c->stats);
    *payload = c->rep[s] + PS_REPLY_HEAD;
    *plen = len - PS_REPLY_HEAD;
    return TR_OK;
}

/* Unpacks server s's pull reply into c->dst following the request. */
static tr_status unpack_pull(tr_ps_client *c, int s, const char *payload, size_t plen, tr_err *err)
{
    const char *p = c->req[s] + sizeof(ps_hdr);
    const int64_t *cnt = (const int64_t *)(const void *)p;
    const int32_t *id = (const int32_t *)(const void *)(p + (size_t)c->T * 8);
    const float *in = (const float *)(const void *)payload;
    size_t need = 0;
    for (int t = 0; t < c->T; t++) {
        const int64_t rows = cnt[t] == PS_ALL_ROWS ? tr_ps_shard_row(c->l, t, s + 1) - tr_ps_shard_row(c->l, t, s)
                                                   : cnt[t];
        need += (size_t)(rows * c->l->t[t].cols);
    }
    if (plen != ps_align8(need * sizeof(float)))
        return tr_err_set(err, TR_ERR_FORMAT, "server %d: the pull reply has %zu bytes, %zu expected", s, plen,
                          ps_align8(need * sizeof(float)));
    for (int t = 0; t < c->T; t++) {
        const int64_t cols = c->l->t[t].cols;
        if (cnt[t] == PS_ALL_ROWS) {
            const int64_t lo = tr_ps_shard_row(c->l, t, s), hi = tr_ps_shard_row(c->l, t, s + 1);
            memcpy(c->dst[t] + lo * cols, in, (size_t)((hi - lo) * cols) * sizeof(float));
            in += (hi - lo) * cols;
            continue;
        }
        for (int64_t k = 0; k < cnt[t]; k++, id++) {
            memcpy(c->dst[t] + (int64_t)*id * cols, in, (size_t)cols * sizeof(float));
            in += cols;
        }
    }
    return TR_OK;
}

tr_status tr_ps_wait(tr_ps_client *c, tr_ps_req r, tr_err *err)
{
    TR_ASSERT(c->pending != OP_NONE && r == c->seq);
    const int op = c->pending;
    c->pending = OP_NONE;
    tr_status rc = TR_OK;
    /* collect every reply that is owed, even after an error */
    for (int s = 0; s < c->sent; s++) {
        const char *payload;
        size_t plen;
        tr_err e2;
        tr_status r2 = receive(c, s, op == OP_PULL ? PS_R_VALUES : PS_R_OK, &payload, &plen, &e2);
        if (!r2 && op == OP_PULL)
            r2 = unpack_pull(c, s, payload, plen, &e2);
        if (r2 && !rc) {
            rc = r2;
            if (err)
                *err = e2;
        }
    }
    if (c->send_rc && !rc) {
        rc = c->send_rc;
        if (err)
            *err = c->send_err;
    }
    return rc;
}

tr_status tr_ps_hello(tr_ps_client *c, tr_err *err)
{
    for (int s = 0; s < c->S; s++) {
        char *p = begin(c, s, PS_HELLO, 0);
        for (int t = 0; t < c->T; t++) {
            ps_wire_table wt;
            memset(&wt, 0, sizeof wt);
            const tr_ps_table *tb = &c->l->t[t];
            memcpy(wt.name, tb->name, sizeof wt.name);
            wt.rows = tb->rows;
            wt.cols = tb->cols;
            memcpy(wt.shape, tb->shape, sizeof wt.shape);
            wt.ndim = tb->ndim;
            wt.sparse = tb->sparse;
            memcpy(p + (size_t)t * sizeof wt, &wt, sizeof wt);
        }
        c->req_len[s] = sizeof(ps_hdr) + (size_t)c->T * sizeof(ps_wire_table);
    }
    return tr_ps_wait(c, send_all(c, OP_OTHER), err);
}

tr_status tr_ps_bye(tr_ps_client *c, tr_err *err)
{
    TR_ASSERT(c->worker >= 0);
    for (int s = 0; s < c->S; s++) {
        begin(c, s, PS_BYE, 0);
        c->req_len[s] = sizeof(ps_hdr);
    }
    return tr_ps_wait(c, send_all(c, OP_OTHER), err);
}

tr_status tr_ps_snapshot(tr_ps_client *c, float *const *dst, float *const *state,
                         int wait_idle, tr_err *err)
{
    TR_ASSERT(c->worker == -1);
    const int flags = (state ? PS_F_STATE : 0) | (wait_idle ? PS_F_WAIT_IDLE : 0);
    for (int s = 0; s < c->S; s++) {
        begin(c, s, PS_SNAPSHOT, flags);
        c->req_len[s] = sizeof(ps_hdr);
    }
    TR_ASSERT(c->pending == OP_NONE);
    send_all(c, OP_OTHER);
    c->pending = OP_NONE;
    tr_status rc = c->send_rc;
    if (rc && err)
        *err = c->send_err;
    for (int s = 0; s < c->sent; s++) {
        const char *payload;
        size_t plen;
        tr_err e2;
        tr_status r2 = receive(c, s, PS_R_VALUES, &payload, &plen, &e2);
        if (!r2) {
            size_t nv = 0;
            for (int t = 0; t < c->T; t++)
                nv += (size_t)((tr_ps_shard_row(c->l, t, s + 1) - tr_ps_shard_row(c->l, t, s)) * c->l->t[t].cols);
            ps_hdr rh;
            memcpy(&rh, c->rep[s], sizeof rh);
            const int has_state = (rh.flags & PS_F_STATE) != 0;
            if (has_state && !state) {
                r2 = tr_err_set(&e2, TR_ERR_FORMAT, "server %d: a snapshot with state that was not asked for", s);
            } else if (plen != ps_align8(nv * sizeof(float) * (has_state ? 2 : 1))) {
                r2 = tr_err_set(&e2, TR_ERR_FORMAT, "server %d: the snapshot has %zu bytes", s, plen);
            } else {
                const float *in = (const float *)(const void *)payload;
                for (int k = 0; k < (has_state ? 2 : 1); k++)
                    for (int t = 0; t < c->T; t++) {
                        const int64_t cols = c->l->t[t].cols, lo = tr_ps_shard_row(c->l, t, s),
                                      hi = tr_ps_shard_row(c->l, t, s + 1);
                        float *out = k == 0 ? dst[t] : state[t];
                        memcpy(out + lo * cols, in, (size_t)((hi - lo) * cols) * sizeof(float));
                        in += (hi - lo) * cols;
                    }
            }
        }
        if (r2 && !rc) {
            rc = r2;
            if (err)
                *err = e2;
        }
    }
    return rc;
}
