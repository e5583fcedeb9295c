/* The LightRNN language model: row and column embeddings shared by the words
 * of a row / column, one LSTM stack over the interleaved inputs
 * x^c(w_{t-1}), x^r(w_t), and the factorised, masked softmax
 * P(w) = P_row(r(w)) * P_col(c(w) | r(w))   (Li et al., NIPS 2016, eq. 2-3).
 *
 * Per window of T words and B lanes the LSTM runs 2T steps: step 2t reads the
 * column embedding of x_t and its output predicts the row of y_t; step 2t+1
 * reads the row embedding of y_t (teacher forcing) and its output predicts
 * the column of y_t among the occupied cells of that row. */
#include "triad/lightrnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void declare(tr_lightrnn *m, tr_arena *a)
{
    const tr_lm_config *c = &m->cfg;
    tr_params_init(&m->params, 4 * c->layers + 6);
    m->row_emb = tr_params_add(&m->params, a, "row_embedding.weight", 2, (int64_t[]){m->R, c->emb}, TR_PARAM_SPARSE);
    m->col_emb = tr_params_add(&m->params, a, "col_embedding.weight", 2, (int64_t[]){m->C, c->emb}, TR_PARAM_SPARSE);
    tr_lstm_stack_declare(&m->rnn, &m->params, a, "rnn", c->layers, c->emb, c->hidden, c->dropout);
    m->row_w = tr_params_add(&m->params, a, "row_decoder.weight", 2, (int64_t[]){m->R, c->hidden}, 0);
    m->row_b = tr_params_add(&m->params, a, "row_decoder.bias", 1, (int64_t[]){m->R}, 0);
    m->col_w = tr_params_add(&m->params, a, "col_decoder.weight", 2, (int64_t[]){m->C, c->hidden}, 0);
    m->col_b = tr_params_add(&m->params, a, "col_decoder.bias", 1, (int64_t[]){m->C}, 0);
    m->row_mask = tr_arena_floats(a, (size_t)m->R);
    m->cell_mask = tr_arena_floats(a, (size_t)m->R * m->C);
}

tr_status tr_lightrnn_init(tr_lightrnn *m, const tr_lm_config *cfg, tr_err *err)
{
    memset(m, 0, sizeof *m);
    tr_status st = tr_lm_config_check(cfg, err);
    if (st)
        return st;
    m->cfg = *cfg;
    if ((st = tr_word_table_init(&m->table, cfg->vocab_size, err)))
        return st;
    m->R = m->table.R;
    m->C = m->table.C;
    tr_arena plan;
    tr_arena_plan(&plan);
    declare(m, &plan);
    tr_params_free(&m->params);
    if ((st = tr_arena_init(&m->arena, plan.cap, err))) {
        tr_word_table_free(&m->table);
        return st;
    }
    declare(m, &m->arena);
    tr_lightrnn_table_changed(m);
    return TR_OK;
}

void tr_lightrnn_free(tr_lightrnn *m)
{
    tr_params_free(&m->params);
    tr_arena_free(&m->arena);
    tr_word_table_free(&m->table);
    memset(m, 0, sizeof *m);
}

void tr_lightrnn_init_weights(tr_lightrnn *m, uint64_t seed)
{
    tr_rng r;
    tr_rng_seed(&r, seed, 0x1417);
    tr_rng_fill_uniform(&r, &m->row_emb->value, 0.1f);
    tr_rng_fill_uniform(&r, &m->col_emb->value, 0.1f);
    tr_lstm_stack_init_weights(&m->rnn, &r);
    tr_rng_fill_uniform(&r, &m->row_w->value, 0.1f);
    tr_rng_fill_uniform(&r, &m->col_w->value, 0.1f);
    tr_tensor_zero(&m->row_b->value);
    tr_tensor_zero(&m->col_b->value);
}

void tr_lightrnn_table_changed(tr_lightrnn *m)
{
    for (int i = 0; i < m->R; i++) {
        int used = 0;
        for (int j = 0; j < m->C; j++) {
            int empty = m->table.word[(int64_t)i * m->C + j] < 0;
            m->cell_mask[(int64_t)i * m->C + j] = empty ? -INFINITY : 0.0f;
            used |= !empty;
        }
        m->row_mask[i] = used ? 0.0f : -INFINITY;
    }
}

/* ---------------------------------------------------------------- worker state */

static void state_declare(tr_lightrnn_state *s, const tr_lightrnn *m, tr_arena *a)
{
    size_t TB = (size_t)s->seq.T * s->seq.B, H = (size_t)m->cfg.hidden;
    s->seq.x = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->seq.y = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->xc = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->yr = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->yc = tr_arena_bytes(a, TB * sizeof(int32_t));
    s->in = tr_arena_floats(a, 2 * TB * m->cfg.emb);
    tr_lstm_stack_state_declare(&s->seq.rnn, &m->rnn, a, 2 * s->seq.T, s->seq.B);
    s->hr = tr_arena_floats(a, TB * H);
    s->hc = tr_arena_floats(a, TB * H);
    s->zr = tr_arena_floats(a, TB * m->R);
    s->zc = tr_arena_floats(a, TB * m->C);
    s->pr = tr_arena_floats(a, TB * m->R);
    s->pc = tr_arena_floats(a, TB * m->C);
    s->nll = tr_arena_floats(a, TB);
    s->nll_col = tr_arena_floats(a, TB);
}

tr_status tr_lightrnn_state_init(tr_lightrnn_state *s, const tr_lightrnn *m,
                                 int T, int B, uint64_t seed, uint64_t stream,
                                 tr_err *err)
{
    memset(s, 0, sizeof *s);
    if (T < 1 || B < 1)
        return tr_err_set(err, TR_ERR_ARG, "--bptt and --batch must be at least 1, got %d and %d", T, B);
    s->seq.T = T;
    s->seq.B = B;
    tr_arena plan;
    tr_arena_plan(&plan);
    state_declare(s, m, &plan);
    if (tr_arena_init(&s->arena, plan.cap, err))
        return TR_ERR_NOMEM;
    state_declare(s, m, &s->arena);
    tr_rng_seed(&s->seq.rng, seed, stream);
    return TR_OK;
}

void tr_lightrnn_state_free(tr_lightrnn_state *s)
{
    tr_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

void tr_lightrnn_state_reset(tr_lightrnn_state *s, const tr_lightrnn *m)
{
    tr_lstm_stack_reset(&s->seq.rnn, &m->rnn);
}

void tr_lightrnn_carry(tr_lightrnn_state *s, const tr_lightrnn *m)
{
    tr_lstm_stack_carry(&s->seq.rnn, &m->rnn);
}

/* ---------------------------------------------------------------- forward / backward */

/* logits (N, K) += mask, per row: the row mask, or the cells of row r[n]. */
static void add_mask(float *z, const float *mask, const int32_t *r, int N, int K)
{
    for (int n = 0; n < N; n++) {
        const float *mk = mask + (r ? (size_t)r[n] * K : 0);
        float *zn = z + (size_t)n * K;
        for (int k = 0; k < K; k++)
            zn[k] += mk[k];
    }
}

double tr_lightrnn_forward(tr_lightrnn_state *s, const tr_lightrnn *m,
                           const int32_t *x, const int32_t *y, int steps,
                           int train)
{
    const tr_lm_config *c = &m->cfg;
    tr_seq_state *q = &s->seq;
    const int B = q->B, E = c->emb, H = c->hidden, R = m->R, C = m->C, N = steps * B;
    TR_ASSERT(steps >= 1 && steps <= q->T);
    q->steps = steps;
    if (q->x != x)
        memcpy(q->x, x, (size_t)N * sizeof(int32_t));
    if (q->y != y)
        memcpy(q->y, y, (size_t)N * sizeof(int32_t));
    for (int n = 0; n < N; n++) {
        TR_ASSERT(x[n] >= 0 && x[n] < c->vocab_size && y[n] >= 0 && y[n] < c->vocab_size);
        s->xc[n] = m->table.col[x[n]];
        s->yr[n] = m->table.row[y[n]];
        s->yc[n] = m->table.col[y[n]];
    }
    /* in (2T, B, E): step 2t = col_emb[col(x_t)], step 2t+1 = row_emb[row(y_t)] */
    for (int t = 0; t < steps; t++) {
        tr_embedding_forward(s->in + (size_t)(2 * t) * B * E, s->xc + (size_t)t * B, m->col_emb->value.data, B, C, E);
        tr_embedding_forward(s->in + (size_t)(2 * t + 1) * B * E, s->yr + (size_t)t * B, m->row_emb->value.data, B, R, E);
    }
    const float *top = tr_lstm_stack_forward(&q->rnn, &m->rnn, s->in, 2 * steps, train, &q->rng);
    /* hr, hc (T, B, H): the outputs of the even and the odd steps */
    for (int t = 0; t < steps; t++) {
        memcpy(s->hr + (size_t)t * B * H, top + (size_t)(2 * t) * B * H, (size_t)B * H * sizeof(float));
        memcpy(s->hc + (size_t)t * B * H, top + (size_t)(2 * t + 1) * B * H, (size_t)B * H * sizeof(float));
    }
    /* rows: z (N, R) -> masked softmax; columns: z (N, C) masked to row(y)'s cells */
    tr_linear_forward(s->zr, s->hr, m->row_w->value.data, m->row_b->value.data, N, H, R);
    tr_linear_forward(s->zc, s->hc, m->col_w->value.data, m->col_b->value.data, N, H, C);
    memcpy(s->pr, s->zr, (size_t)N * R * sizeof(float));
    memcpy(s->pc, s->zc, (size_t)N * C * sizeof(float));
    add_mask(s->pr, m->row_mask, NULL, N, R);
    add_mask(s->pc, m->cell_mask, s->yr, N, C);
    double nll = tr_xent_forward(s->pr, s->nll, s->pr, s->yr, N, R) +
                 tr_xent_forward(s->pc, s->nll_col, s->pc, s->yc, N, C);
    for (int n = 0; n < N; n++)
        s->nll[n] += s->nll_col[n];
    return nll;
}

void tr_lightrnn_backward(tr_lightrnn_state *s, tr_lightrnn *m, float scale)
{
    const tr_lm_config *c = &m->cfg;
    tr_seq_state *q = &s->seq;
    const int B = q->B, E = c->emb, H = c->hidden, R = m->R, C = m->C, T = q->steps, N = T * B;
    /* masked entries have probability 0 and so get no gradient */
    tr_xent_backward(s->pr, s->pr, s->yr, NULL, scale, N, R);
    tr_xent_backward(s->pc, s->pc, s->yc, NULL, scale, N, C);
    /* the decoders' inputs were hr, hc (N, H): one GEMM each for their
     * gradients, into the stack's scratch (free until its backward runs),
     * then interleaved into the gradient of the LSTM output (2T, B, H) */
    float *dhr = q->rnn.da, *dhc = q->rnn.da + (size_t)N * H;
    tr_linear_backward(dhr, m->row_w->grad.data, m->row_b->grad.data, s->pr, s->hr, m->row_w->value.data, N, H, R);
    tr_linear_backward(dhc, m->col_w->grad.data, m->col_b->grad.data, s->pc, s->hc, m->col_w->value.data, N, H, C);
    for (int t = 0; t < T; t++) {
        memcpy(q->rnn.dtop + (size_t)(2 * t) * B * H, dhr + (size_t)t * B * H, (size_t)B * H * sizeof(float));
        memcpy(q->rnn.dtop + (size_t)(2 * t + 1) * B * H, dhc + (size_t)t * B * H, (size_t)B * H * sizeof(float));
    }
    const float *din = tr_lstm_stack_backward(&q->rnn, &m->rnn); /* (2T, B, E) */
    for (int t = 0; t < T; t++) {
        tr_embedding_backward(m->col_emb, din + (size_t)(2 * t) * B * E, s->xc + (size_t)t * B, B, E);
        tr_embedding_backward(m->row_emb, din + (size_t)(2 * t + 1) * B * E, s->yr + (size_t)t * B, B, E);
    }
}

/* Adds -log softmax(z[n]) to L[w(n)] for every n. */
static void add_neg_log_softmax(double *L, const float *z, const int32_t *y, int N, int K)
{
    for (int n = 0; n < N; n++) {
        const float *zn = z + (size_t)n * K;
        float mx = zn[0];
        for (int k = 1; k < K; k++)
            mx = zn[k] > mx ? zn[k] : mx;
        double sum = 0.0;
        for (int k = 0; k < K; k++)
            sum += exp((double)zn[k] - mx);
        double lse = mx + log(sum);
        double *Lw = L + (size_t)y[n] * K;
        for (int k = 0; k < K; k++)
            Lw[k] += lse - zn[k];
    }
}

void tr_lightrnn_accumulate(const tr_lightrnn_state *s, const tr_lightrnn *m,
                            double *Lr, double *Lc)
{
    const int N = s->seq.steps * s->seq.B;
    add_neg_log_softmax(Lr, s->zr, s->seq.y, N, m->R);
    add_neg_log_softmax(Lc, s->zc, s->seq.y, N, m->C);
}

/* ---------------------------------------------------------------- sampling */

/* One LSTM step on the embedding emb (E), given to every lane; the state is
 * carried. Returns the top output (B, H); lane 0 is used. */
static const float *sample_step(tr_lightrnn_state *s, const tr_lightrnn *m, const float *emb)
{
    const int B = s->seq.B, E = m->cfg.emb;
    for (int b = 0; b < B; b++)
        memcpy(s->in + (size_t)b * E, emb, (size_t)E * sizeof(float));
    const float *top = tr_lstm_stack_forward(&s->seq.rnn, &m->rnn, s->in, 1, 0, &s->seq.rng);
    tr_lstm_stack_carry(&s->seq.rnn, &m->rnn);
    return top;
}

/* Draws from softmax(h W^T + b + mask) (K) for lane 0's output h (H). */
static int32_t sample_softmax(float *z, const float *h, const tr_param *w, const tr_param *b, const float *mask,
                              int H, int K, float temperature, tr_rng *rng)
{
    const int32_t none = -1;
    tr_linear_forward(z, h, w->value.data, b->value.data, 1, H, K);
    add_mask(z, mask, NULL, 1, K);
    tr_xent_forward(z, NULL, z, &none, 1, K);
    return tr_sample_probs(z, K, temperature, rng);
}

void tr_lightrnn_sample(const tr_lightrnn *m, tr_lightrnn_state *s, const int32_t *prime, int n, int length,
                        float temperature, tr_rng *rng, int32_t *out)
{
    TR_ASSERT(n >= 1 && temperature > 0.0f);
    const int E = m->cfg.emb, H = m->cfg.hidden, R = m->R, C = m->C;
    tr_lightrnn_state_reset(s, m);
    int32_t prev = prime[0];
    for (int k = 0; k < n + length - 1; k++) {
        const int given = k + 1 < n;
        const float *h = sample_step(s, m, m->col_emb->value.data + (size_t)m->table.col[prev] * E);
        int32_t r = given ? m->table.row[prime[k + 1]]
                          : sample_softmax(s->zr, h, m->row_w, m->row_b, m->row_mask, H, R, temperature, rng);
        h = sample_step(s, m, m->row_emb->value.data + (size_t)r * E);
        if (given) {
            prev = prime[k + 1];
        } else {
            int32_t c = sample_softmax(s->zc, h, m->col_w, m->col_b, m->cell_mask + (size_t)r * C, H, C,
                                       temperature, rng);
            prev = m->table.word[(size_t)r * C + c];
            TR_ASSERT(prev >= 0);
            out[k + 1 - n] = prev;
        }
    }
}

/* ---------------------------------------------------------------- as a tr_seq_model */

static tr_seq_state *seq_state_new(const void *model, int T, int B, uint64_t seed,
                                   uint64_t stream, tr_err *err)
{
    tr_lightrnn_state *s = tr_xmalloc(sizeof *s);
    if (tr_lightrnn_state_init(s, model, T, B, seed, stream, err)) {
        free(s);
        return NULL;
    }
    return &s->seq;
}

static void seq_state_delete(tr_seq_state *s)
{
    if (s) {
        tr_lightrnn_state_free((tr_lightrnn_state *)s);
        free(s);
    }
}

static double seq_forward(tr_seq_state *s, const void *model, const int32_t *x,
                          const int32_t *y, int steps, int train)
{
    return tr_lightrnn_forward((tr_lightrnn_state *)s, model, x, y, steps, train);
}

static void seq_backward(tr_seq_state *s, void *model, float scale)
{
    tr_lightrnn_backward((tr_lightrnn_state *)s, model, scale);
}

static void seq_sample(tr_seq_state *s, const void *model, const int32_t *prime, int n, int length,
                       float temperature, tr_rng *rng, int32_t *out)
{
    tr_lightrnn_sample(model, (tr_lightrnn_state *)s, prime, n, length, temperature, rng, out);
}

static tr_status seq_save(const void *model, const tr_vocab *v, int64_t step,
                          const char *path, tr_err *err)
{
    return tr_lightrnn_save(model, v, step, path, err);
}

static tr_status seq_epoch_end(void *model, const tr_vocab *v, const char *train,
                               int B, int T, char *note, size_t n, tr_err *err)
{
    tr_lightrnn *m = model;
    if (!m->realloc_enabled)
        return TR_OK;
    tr_realloc_report r;
    tr_status st = tr_lightrnn_reallocate(m, v, train, B, T, m->realloc, &r, err);
    if (!st)
        snprintf(note, n, "re-allocated (%s): cost %.6g -> %.6g, bound %.6g (gap %.3f%%), %d words moved, %.1f s",
                 tr_alloc_method_name(m->realloc), r.cost_before, r.cost_after, r.bound,
                 100.0 * (r.cost_after - r.bound) / (r.bound != 0 ? r.bound : 1), r.moved, r.seconds);
    return st;
}

tr_seq_model tr_lightrnn_seq(tr_lightrnn *m)
{
    tr_seq_model sm = {"lightrnn", m, &m->params, &m->rnn, &m->cfg, seq_state_new, seq_state_delete,
                       seq_forward, seq_backward, seq_sample, seq_save, seq_epoch_end};
    return sm;
}

/* ---------------------------------------------------------------- checkpoints */

tr_status tr_lightrnn_save(const tr_lightrnn *m, const tr_vocab *v,
                           int64_t step, const char *path, tr_err *err)
{
    char *table = tr_word_table_to_string(&m->table);
    tr_meta extra[] = {{"triad.table", table}};
    tr_status st = tr_lm_save_params(&m->params, "lightrnn", &m->cfg, v, step, extra, 1, path, err);
    free(table);
    return st;
}

tr_status tr_lightrnn_load(tr_lightrnn *m, tr_vocab **v, int64_t *step,
                           const char *path, tr_err *err)
{
    tr_st_file *f = NULL;
    tr_status st = tr_st_open(&f, path, err);
    if (st)
        return st;
    memset(m, 0, sizeof *m);
    tr_lm_config c;
    const char *table = tr_st_meta(f, "triad.table");
    if (!(st = tr_lm_read_meta(f, path, "lightrnn", &c, v, step, err))) {
        if (!table)
            st = tr_err_set(err, TR_ERR_FORMAT, "%s: metadata lacks triad.table (the word table)", path);
        else if (!(st = tr_lightrnn_init(m, &c, err)) && !(st = tr_params_load(f, &m->params, err)) &&
                 !(st = tr_word_table_from_string(&m->table, table, path, err)))
            tr_lightrnn_table_changed(m);
    }
    if (st) {
        if (m->arena.base)
            tr_lightrnn_free(m);
        tr_vocab_free(*v);
        *v = NULL;
    }
    tr_st_close(f);
    return st;
}
