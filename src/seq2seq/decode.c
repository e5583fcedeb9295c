/* Decoding: greedy search and batched beam search with k-best output.
 *
 * Both encode the batch once with the training encoder (no dropout) and
 * then run one decoder step at a time over N lanes (greedy: one per input;
 * beam: `beam` per input, the memory copied per lane), holding only the
 * current state. Log-probabilities are computed exactly as the
 * cross-entropy of the teacher-forced forward pass does
 * ((logit - max) - log sum exp, in double), so a hypothesis' logp equals
 * -NLL of the same output under tr_s2s_forward up to float rounding. */
#include "triad/nn.h"
#include "triad/seq2seq.h"
#include "s2s_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void decoder_declare(tr_s2s_decoder *d, const tr_s2s *m, tr_arena *a)
{
    const tr_s2s_config *c = &m->cfg;
    const size_t N = (size_t)d->B * d->k, S = (size_t)d->S, Hd = (size_t)c->dec_hidden, C = 2 * (size_t)c->hidden;
    const size_t V = (size_t)c->tgt_vocab, L = (size_t)d->max_len;
    tr_s2s_nbest *o = &d->out;
    o->B = d->B;
    o->k = d->k;
    o->max_len = d->max_len;
    o->n = tr_arena_bytes(a, (size_t)d->B * sizeof(int));
    o->len = tr_arena_bytes(a, N * sizeof(int));
    o->ids = tr_arena_bytes(a, N * L * sizeof(int32_t));
    o->logp = tr_arena_bytes(a, N * sizeof(double));
    o->score = tr_arena_bytes(a, N * sizeof(double));
    d->mem = tr_arena_floats(a, S * N * C);
    d->keys = tr_arena_floats(a, S * N * Hd);
    d->len = tr_arena_bytes(a, N * sizeof(int));
    for (int p = 0; p < 2; p++) {
        for (int l = 0; l < c->dec_layers; l++) {
            d->h[p][l] = tr_arena_floats(a, N * Hd);
            d->c[p][l] = tr_arena_floats(a, N * Hd);
        }
        d->feed[p] = tr_arena_floats(a, N * Hd);
        d->prefix[p] = tr_arena_bytes(a, N * L * sizeof(int32_t));
    }
    d->x = tr_arena_floats(a, N * (size_t)tr_s2s_dec_in_dim(c, 0));
    d->gates = tr_arena_floats(a, N * 4 * Hd);
    d->alpha = tr_arena_floats(a, N * S);
    d->ctx = tr_arena_floats(a, N * C);
    d->logits = tr_arena_floats(a, N * V);
    d->row_max = tr_arena_floats(a, N);
    d->row_lsum = tr_arena_bytes(a, N * sizeof(double));
    d->tok = tr_arena_bytes(a, N * sizeof(int32_t));
    d->beam_logp = tr_arena_bytes(a, N * sizeof(double));
    d->new_logp = tr_arena_bytes(a, N * sizeof(double));
    d->parent = tr_arena_bytes(a, N * sizeof(int));
    d->alive = tr_arena_bytes(a, (size_t)d->B * sizeof(int));
    d->act = tr_arena_bytes(a, (size_t)d->B * sizeof(int));
    d->limit = tr_arena_bytes(a, (size_t)d->B * sizeof(int));
    d->keep = tr_arena_bytes(a, N * sizeof(int));
    d->cand_s = tr_arena_bytes(a, (size_t)d->k * sizeof(double));
    d->cand_i = tr_arena_bytes(a, (size_t)d->k * sizeof(int));
}

tr_status tr_s2s_decoder_init(tr_s2s_decoder *d, const tr_s2s *m, int B,
                              int S, int k, int max_len, tr_err *err)
{
    memset(d, 0, sizeof *d);
    if (B < 1 || S < 1 || k < 1 || max_len < 1)
        return tr_err_set(err, TR_ERR_ARG, "decoder batch, source length, beam and output length must be at least 1, got %d, %d, %d, %d",
                          B, S, k, max_len);
    if ((int64_t)B * k > 1 << 24 || (int64_t)k * m->cfg.tgt_vocab > INT32_MAX / 2)
        return tr_err_set(err, TR_ERR_ARG, "decoder batch x beam is too large (%d x %d)", B, k);
    d->B = B;
    d->S = S;
    d->k = k;
    d->max_len = max_len;
    tr_status st = tr_s2s_state_init(&d->enc, m, B, S, 1, 0, 0, err);
    if (st)
        return st;
    tr_arena plan;
    tr_arena_plan(&plan);
    decoder_declare(d, m, &plan);
    if ((st = tr_arena_init(&d->arena, plan.cap, err))) {
        tr_s2s_state_free(&d->enc);
        return st;
    }
    decoder_declare(d, m, &d->arena);
    return TR_OK;
}

void tr_s2s_decoder_free(tr_s2s_decoder *d)
{
    tr_s2s_state_free(&d->enc);
    tr_arena_free(&d->arena);
    memset(d, 0, sizeof *d);
}

/* One decoder step without dropout over N lanes: reads d->tok and the state
 * h/c/feed[cur], writes the state [1 - cur] and the logits (N, V) with each
 * row's max and log-sum-exp. mem (S, N, C), keys (S, N, Hd), len (N). */
static void infer_step(tr_s2s_decoder *d, const tr_s2s *m, int N, int S, const float *mem,
                       const float *keys, const int *len, int cur)
{
    const tr_s2s_config *c = &m->cfg;
    const int E = c->emb, Hd = c->dec_hidden, C = 2 * c->hidden, V = c->tgt_vocab, I0 = tr_s2s_dec_in_dim(c, 0);
    const int nx = 1 - cur;
    for (int i = 0; i < N; i++) {
        float *xi = d->x + (size_t)i * I0;
        tr_embedding_forward(xi, &d->tok[i], m->tgt_emb->value.data, 1, V, E);
        if (c->input_feed)
            memcpy(xi + E, d->feed[cur] + (size_t)i * Hd, (size_t)Hd * sizeof(float));
    }
    const float *x = d->x;
    int I = I0;
    for (int l = 0; l < c->dec_layers; l++) {
        tr_lstm_forward(d->h[nx][l], d->c[nx][l], d->gates, x, d->h[cur][l], d->c[cur][l],
                        m->dec_w_ih[l]->value.data, m->dec_w_hh[l]->value.data, m->dec_b_ih[l]->value.data,
                        m->dec_b_hh[l]->value.data, 1, N, I, Hd);
        x = d->h[nx][l];
        I = Hd;
    }
    const float *q = d->h[nx][c->dec_layers - 1];
    tr_attention_forward(d->alpha, d->ctx, q, keys, mem, len, S, N, Hd, C);
    tr_s2s_att_out(d->feed[nx], d->ctx, q, m->att_out->value.data, N, C, Hd);
    tr_linear_forward(d->logits, d->feed[nx], m->gen_w->value.data, m->gen_b->value.data, N, Hd, V);
    for (int i = 0; i < N; i++) {
        const float *z = d->logits + (size_t)i * V;
        float mx = z[0];
        for (int v = 1; v < V; v++)
            mx = z[v] > mx ? z[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++)
            sum += expf(z[v] - mx);
        d->row_max[i] = mx;
        d->row_lsum[i] = log(sum);
    }
}

static double token_logp(const tr_s2s_decoder *d, int V, int lane, int v)
{
    return ((double)d->logits[(size_t)lane * V + v] - d->row_max[lane]) - d->row_lsum[lane];
}

/* Encodes the b sources and lays out K lanes per input (lane i*K + j): the
 * memory and keys copied per lane (S, N, .), the source lengths, the
 * bridge state in h, zero cell and fed attention output, <eos> as input. */
static void setup_lanes(tr_s2s_decoder *d, const tr_s2s *m, const int32_t *const *src,
                        const int *src_len, int b, int K)
{
    const tr_s2s_config *c = &m->cfg;
    const int Hd = c->dec_hidden, C = 2 * c->hidden, N = b * K;
    const size_t row = (size_t)Hd * sizeof(float);
    tr_s2s_set_batch(&d->enc, m, src, src_len, NULL, NULL, NULL, b);
    tr_s2s_encode(&d->enc, m, 0);
    const float *top = d->enc.enc_out[c->enc_layers - 1];
    for (int t = 0; t < d->enc.s; t++)
        for (int i = 0; i < b; i++)
            for (int j = 0; j < K; j++) {
                size_t dst = (size_t)t * N + (size_t)i * K + j, srow = (size_t)t * b + i;
                memcpy(d->mem + dst * C, top + srow * C, (size_t)C * sizeof(float));
                if (m->att_in)
                    memcpy(d->keys + dst * Hd, d->enc.keys + srow * Hd, row);
            }
    for (int l = 0; l < c->dec_layers; l++)
        for (int i = 0; i < b; i++)
            for (int j = 0; j < K; j++) {
                memcpy(d->h[0][l] + ((size_t)i * K + j) * Hd, d->enc.dec_h0[l] + (size_t)i * Hd, row);
                memset(d->c[0][l] + ((size_t)i * K + j) * Hd, 0, row);
            }
    memset(d->feed[0], 0, (size_t)N * row);
    for (int n = 0; n < N; n++) {
        d->tok[n] = TR_EOS_ID;
        d->len[n] = src_len[n / K];
    }
    for (int i = 0; i < b; i++)
        d->act[i] = i;
}

/* Keeps lanes keep[0..n2-1] (increasing) of N: lane keep[q] becomes lane q in
 * the memory and keys (whose lane stride becomes n2), the lengths and the
 * per-lane state (state buffer cur, prefixes pf). Every source index is >=
 * its destination, so the moves are done in place, front to back. */
static void compact_lanes(tr_s2s_decoder *d, const tr_s2s *m, int N, int n2, int cur, int pf)
{
    const tr_s2s_config *c = &m->cfg;
    const int Hd = c->dec_hidden, C = 2 * c->hidden, L = d->max_len;
    const size_t row = (size_t)Hd * sizeof(float);
    for (int t = 0; t < d->enc.s; t++)
        for (int q = 0; q < n2; q++) {
            size_t src = (size_t)t * N + d->keep[q], dst = (size_t)t * n2 + q;
            if (src == dst)
                continue;
            memmove(d->mem + dst * C, d->mem + src * C, (size_t)C * sizeof(float));
            if (m->att_in)
                memmove(d->keys + dst * Hd, d->keys + src * Hd, row);
        }
    for (int q = 0; q < n2; q++) {
        const int p = d->keep[q];
        if (p == q)
            continue;
        for (int l = 0; l < c->dec_layers; l++) {
            memcpy(d->h[cur][l] + (size_t)q * Hd, d->h[cur][l] + (size_t)p * Hd, row);
            memcpy(d->c[cur][l] + (size_t)q * Hd, d->c[cur][l] + (size_t)p * Hd, row);
        }
        memcpy(d->feed[cur] + (size_t)q * Hd, d->feed[cur] + (size_t)p * Hd, row);
        memcpy(d->prefix[pf] + (size_t)q * L, d->prefix[pf] + (size_t)p * L, (size_t)L * sizeof(int32_t));
        d->tok[q] = d->tok[p];
        d->beam_logp[q] = d->beam_logp[p];
        d->len[q] = d->len[p];
    }
}

/* Each input's output-length limit for this call (see len_a, len_b). */
static void set_limits(tr_s2s_decoder *d, const int *src_len, int b)
{
    for (int i = 0; i < b; i++) {
        int64_t lim = d->max_len;
        if (d->len_a > 0 && (int64_t)d->len_a * src_len[i] + d->len_b < lim)
            lim = (int64_t)d->len_a * src_len[i] + d->len_b;
        d->limit[i] = lim < 1 ? 1 : (int)lim;
    }
}

const tr_s2s_nbest *tr_s2s_greedy(tr_s2s_decoder *d, const tr_s2s *m,
                                  const int32_t *const *src,
                                  const int *src_len, int b)
{
    const tr_s2s_config *c = &m->cfg;
    const int V = c->tgt_vocab, L = d->max_len, k = d->k;
    TR_ASSERT(b >= 1 && b <= d->B);
    set_limits(d, src_len, b);
    setup_lanes(d, m, src, src_len, b, 1);
    const float *keys = m->att_in ? d->keys : d->mem;
    tr_s2s_nbest *o = &d->out;
    for (int i = 0; i < b; i++) {
        o->n[i] = 1;
        o->logp[i * k] = 0.0;
    }
    int cur = 0, N = b;
    for (int step = 0; step <= L && N > 0; step++) {
        infer_step(d, m, N, d->enc.s, d->mem, keys, d->len, cur);
        cur = 1 - cur;
        int n2 = 0;
        for (int p = 0; p < N; p++) {
            const int h = d->act[p] * k;
            int32_t best = TR_EOS_ID;
            if (step < d->limit[d->act[p]]) {
                const float *z = d->logits + (size_t)p * V;
                best = 0;
                for (int v = 1; v < V; v++)
                    if (z[v] > z[best])
                        best = v;
            }
            o->logp[h] += token_logp(d, V, p, best);
            d->tok[p] = best;
            if (best == TR_EOS_ID) {
                o->len[h] = step;
                o->score[h] = o->logp[h];
            } else {
                o->ids[(size_t)h * L + step] = best;
                d->keep[n2++] = p;
            }
        }
        if (n2 < N) {
            for (int q = 0; q < n2; q++)
                d->act[q] = d->act[d->keep[q]];
            compact_lanes(d, m, N, n2, cur, 0);
        }
        N = n2;
    }
    return o;
}

/* Inserts (s, idx) into the descending list cs/ci of *n entries holding at
 * most cap; an equal score goes after the entries already there. */
static void cand_insert(double *cs, int *ci, int *n, int cap, double s, int idx)
{
    if (*n == cap && !(s > cs[cap - 1]))
        return;
    int p = *n < cap ? *n : cap - 1;
    while (p > 0 && cs[p - 1] < s) {
        cs[p] = cs[p - 1];
        ci[p] = ci[p - 1];
        p--;
    }
    cs[p] = s;
    ci[p] = idx;
    if (*n < cap)
        (*n)++;
}

const tr_s2s_nbest *tr_s2s_beam(tr_s2s_decoder *d, const tr_s2s *m,
                                const int32_t *const *src, const int *src_len,
                                int b, int beam, float len_norm)
{
    const tr_s2s_config *c = &m->cfg;
    const int V = c->tgt_vocab, L = d->max_len, k = d->k, K = beam;
    const int Hd = c->dec_hidden;
    TR_ASSERT(b >= 1 && b <= d->B && beam >= 1 && beam <= d->k && len_norm >= 0.0f);
    set_limits(d, src_len, b);
    setup_lanes(d, m, src, src_len, b, K);
    const float *keys = m->att_in ? d->keys : d->mem;
    tr_s2s_nbest *o = &d->out;
    for (int i = 0; i < b; i++) {
        o->n[i] = 0;
        d->alive[i] = 1;
        d->beam_logp[i * K] = 0.0;
    }
    /* positions p < na hold the inputs still searching, act[p], with lanes p*K .. p*K+K-1 */
    int pf = 0, na = b;
    for (int step = 0; step <= L && na > 0; step++) {
        const int N = na * K;
        infer_step(d, m, N, d->enc.s, d->mem, keys, d->len, 0);
        for (int p = 0; p < na; p++) {
            const int i = d->act[p], slots = K - o->n[i];
            int nc = 0;
            for (int j = 0; j < d->alive[p]; j++) {
                const int lane = p * K + j;
                const double base = d->beam_logp[lane];
                if (step == d->limit[i]) {
                    cand_insert(d->cand_s, d->cand_i, &nc, slots, base + token_logp(d, V, lane, TR_EOS_ID),
                                lane * V + TR_EOS_ID);
                    continue;
                }
                for (int v = 0; v < V; v++)
                    cand_insert(d->cand_s, d->cand_i, &nc, slots, base + token_logp(d, V, lane, v), lane * V + v);
            }
            int alive = 0;
            for (int q = 0; q < nc; q++) {
                const int lane = d->cand_i[q] / V, v = d->cand_i[q] % V;
                const int32_t *pre = d->prefix[pf] + (size_t)lane * L;
                if (v == TR_EOS_ID) {
                    const int h = i * k + o->n[i]++;
                    memcpy(o->ids + (size_t)h * L, pre, (size_t)step * sizeof(int32_t));
                    o->len[h] = step;
                    o->logp[h] = d->cand_s[q];
                    o->score[h] = len_norm > 0.0f ? d->cand_s[q] / pow(step + 1.0, len_norm) : d->cand_s[q];
                } else {
                    const int a = p * K + alive++;
                    int32_t *np = d->prefix[1 - pf] + (size_t)a * L;
                    memcpy(np, pre, (size_t)step * sizeof(int32_t));
                    np[step] = v;
                    d->new_logp[a] = d->cand_s[q];
                    d->parent[a] = lane;
                    d->tok[a] = v;
                }
            }
            d->alive[p] = alive;
        }
        /* the surviving prefixes take their parents' decoder state */
        const size_t row = (size_t)Hd * sizeof(float);
        for (int p = 0; p < na; p++)
            for (int a = p * K; a < p * K + d->alive[p]; a++) {
                const size_t par = (size_t)d->parent[a];
                for (int l = 0; l < c->dec_layers; l++) {
                    memcpy(d->h[0][l] + (size_t)a * Hd, d->h[1][l] + par * Hd, row);
                    memcpy(d->c[0][l] + (size_t)a * Hd, d->c[1][l] + par * Hd, row);
                }
                memcpy(d->feed[0] + (size_t)a * Hd, d->feed[1] + par * Hd, row);
                d->beam_logp[a] = d->new_logp[a];
            }
        pf = 1 - pf;
        /* inputs whose search ended leave the lanes */
        int n2 = 0;
        for (int p = 0; p < na; p++)
            if (d->alive[p] > 0) {
                for (int j = 0; j < K; j++)
                    d->keep[n2 * K + j] = p * K + j;
                d->act[n2] = d->act[p];
                d->alive[n2] = d->alive[p];
                n2++;
            }
        if (n2 < na)
            compact_lanes(d, m, N, n2 * K, 0, pf);
        na = n2;
    }
    /* rank each input's hypotheses by score (stable: earlier finished first on ties) */
    for (int i = 0; i < b; i++) {
        for (int x = 1; x < o->n[i]; x++) {
            for (int y = x; y > 0; y--) {
                const int hi = i * k + y, lo = hi - 1;
                if (!(o->score[hi] > o->score[lo]))
                    break;
                double ts = o->score[hi], tl = o->logp[hi];
                int tn = o->len[hi];
                o->score[hi] = o->score[lo];
                o->logp[hi] = o->logp[lo];
                o->len[hi] = o->len[lo];
                o->score[lo] = ts;
                o->logp[lo] = tl;
                o->len[lo] = tn;
                for (int t = 0; t < L; t++) {
                    int32_t u = o->ids[(size_t)hi * L + t];
                    o->ids[(size_t)hi * L + t] = o->ids[(size_t)lo * L + t];
                    o->ids[(size_t)lo * L + t] = u;
                }
            }
        }
    }
    return o;
}

static int len_cmp(const void *a, const void *b)
{
    const int64_t *x = a, *y = b; /* (source length, index) */
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

void tr_s2s_decode_all(tr_s2s_decoder *d, const tr_s2s *m,
                       const int32_t *const *src, const int *len, int64_t n,
                       int beam, float len_norm, tr_s2s_hyp_fn fn, void *ctx)
{
    int64_t *order = tr_xmalloc((size_t)(2 * (n > 0 ? n : 1)) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        order[2 * i] = len[i];
        order[2 * i + 1] = i;
    }
    qsort(order, (size_t)n, 2 * sizeof(int64_t), len_cmp);
    const int32_t **bsrc = tr_xmalloc((size_t)d->B * sizeof *bsrc);
    int *blen = tr_xmalloc((size_t)d->B * sizeof *blen);
    for (int64_t i0 = 0; i0 < n; i0 += d->B) {
        int b = (int)(n - i0 < d->B ? n - i0 : d->B);
        for (int j = 0; j < b; j++) {
            int64_t i = order[2 * (i0 + j) + 1];
            bsrc[j] = src[i];
            blen[j] = len[i];
        }
        const tr_s2s_nbest *o = beam <= 1 ? tr_s2s_greedy(d, m, bsrc, blen, b)
                                          : tr_s2s_beam(d, m, bsrc, blen, b, beam, len_norm);
        if (fn)
            for (int j = 0; j < b; j++) {
                int h = j * o->k;
                fn(ctx, order[2 * (i0 + j) + 1], o->ids + (size_t)h * o->max_len, o->len[h], o->logp[h]);
            }
    }
    free(order);
    free(bsrc);
    free(blen);
}
