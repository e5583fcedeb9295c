/* Sequence-to-sequence models: finite-difference gradient checks of the
 * attention layer, the bidirectional encoder over padded batches and the
 * whole per-sequence weighted loss (randomised weights, several seeds,
 * weights != 1 and of both signs, with and without dropout and input
 * feeding, both attention scores); padding invariance; decoding (beam 1 =
 * greedy, k-best lists sorted with log-probabilities equal to teacher
 * forcing, exhaustive beams equal brute-force enumeration); checkpoints;
 * the pronunciation lexicon reader and its bad-input paths; the g2p/p2g
 * commands end to end. */
#include "harness.h"
#include "triad/io.h"
#include "triad/seq2seq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 2e-2

/* ------------------------------------------------------------ attention */

typedef struct {
    int S, B, D, C;
    const int *len;
    float *q, *keys, *mem, *alpha, *ctx, *R;
} att_ctx;

static double att_loss(void *p)
{
    att_ctx *c = p;
    tr_attention_forward(c->alpha, c->ctx, c->q, c->keys, c->mem, c->len, c->S, c->B, c->D, c->C);
    return th_dot(c->ctx, c->R, (int64_t)c->B * c->C);
}

static void test_attention_grad(void **state)
{
    (void)state;
    const int lens[3][3] = {{5, 2, 3}, {1, 5, 4}, {3, 3, 1}};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        const int S = 5, B = 3, D = 4, C = 6;
        att_ctx c = {S, B, D, C, lens[seed - 1], th_vec(B * D, 1, seed), th_vec(S * B * D, 1, seed + 10),
                     th_vec(S * B * C, 1, seed + 20), th_vec(B * S, 0, 0), th_vec(B * C, 0, 0), th_vec(B * C, 1, seed + 30)};
        float *dq = th_vec(B * D, 0, 0), *dk = th_vec(S * B * D, 0, 0), *dm = th_vec(S * B * C, 0, 0), *ds = th_vec(B * S, 0, 0);
        att_loss(&c);
        for (int b = 0; b < B; b++) {
            double sum = 0;
            for (int s = 0; s < S; s++) {
                if (s >= c.len[b])
                    assert_true(c.alpha[b * S + s] == 0.0f);
                sum += c.alpha[b * S + s];
            }
            assert_true(fabs(sum - 1.0) < 1e-6);
        }
        tr_attention_backward(dq, dk, dm, ds, c.R, c.alpha, c.q, c.keys, c.mem, c.len, S, B, D, C);
        th_gradcheck("attention.q", c.q, dq, B * D, att_loss, &c, EPS, ATOL, RTOL, 1000);
        th_gradcheck("attention.keys", c.keys, dk, S * B * D, att_loss, &c, EPS, ATOL, RTOL, 1000);
        th_gradcheck("attention.mem", c.mem, dm, S * B * C, att_loss, &c, EPS, ATOL, RTOL, 1000);
        /* padding gets no gradient; a second backward adds into keys and mem */
        for (int s = 0; s < S; s++)
            for (int b = 0; b < B; b++)
                if (s >= c.len[b]) {
                    for (int i = 0; i < D; i++)
                        assert_true(dk[(s * B + b) * D + i] == 0.0f);
                    for (int i = 0; i < C; i++)
                        assert_true(dm[(s * B + b) * C + i] == 0.0f);
                }
        float *dm2 = th_vec(S * B * C, 0, 0);
        memcpy(dm2, dm, sizeof(float) * (size_t)(S * B * C));
        tr_attention_backward(dq, dk, dm2, ds, c.R, c.alpha, c.q, c.keys, c.mem, c.len, S, B, D, C);
        for (int i = 0; i < S * B * C; i++)
            assert_true(fabsf(dm2[i] - 2 * dm[i]) <= 1e-6f * (1 + fabsf(dm[i])));
        float *bufs[] = {c.q, c.keys, c.mem, c.alpha, c.ctx, c.R, dq, dk, dm, ds, dm2};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            free(bufs[i]);
    }
}

/* ------------------------------------------------------------ a tiny model and batch */

typedef struct {
    tr_s2s m;
    tr_s2s_state s;
    int b;
    int32_t src_ids[4][8], tgt_ids[4][8];
    const int32_t *src[4], *tgt[4];
    int src_len[4], tgt_len[4];
    float w[4];
    tr_rng rng0;     /* dropout stream at the start of every forward */
    float scale;
    const float *R;  /* encoder check: weights of the top outputs */
} tiny;

static tr_s2s_config tiny_config(int att, int feed, int Le, int Ld, float dropout)
{
    tr_s2s_config c = {7, 6, 3, 3, att == TR_S2S_ATT_DOT ? 6 : 4, Le, Ld, att, feed, dropout};
    return c;
}

/* Lanes of different lengths (source 1..5, target 0..4), random ids, random
 * per-sequence weights of both signs. */
static void tiny_init(tiny *t, const tr_s2s_config *cfg, uint64_t seed, int b)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(tr_s2s_init(&t->m, cfg, NULL), TR_OK);
    tr_s2s_init_weights(&t->m, seed);
    /* larger weights than the default make the check more searching */
    for (int i = 0; i < t->m.params.n; i++)
        th_fill(t->m.params.p[i].value.data, t->m.params.p[i].value.size, 0.5f, seed * 31 + (uint64_t)i);
    assert_int_equal(tr_s2s_state_init(&t->s, &t->m, 4, 6, 9, seed, 7, NULL), TR_OK);
    const int sl[4] = {4, 1, 5, 2}, tl[4] = {2, 0, 4, 3};
    tr_rng r;
    tr_rng_seed(&r, seed, 99);
    t->b = b;
    for (int i = 0; i < b; i++) {
        t->src_len[i] = sl[(i + (int)seed) % 4];
        t->tgt_len[i] = tl[(i + (int)seed) % 4];
        for (int k = 0; k < t->src_len[i]; k++)
            t->src_ids[i][k] = (int32_t)tr_rng_below(&r, (uint32_t)cfg->src_vocab);
        for (int k = 0; k < t->tgt_len[i]; k++)
            t->tgt_ids[i][k] = (int32_t)tr_rng_below(&r, (uint32_t)cfg->tgt_vocab);
        t->src[i] = t->src_ids[i];
        t->tgt[i] = t->tgt_ids[i];
        t->w[i] = (tr_rng_uniform(&r) * 2.0f - 1.0f) * 2.5f;
    }
    t->rng0 = t->s.rng;
    t->scale = 0.7f;
}

static void tiny_free(tiny *t)
{
    tr_s2s_state_free(&t->s);
    tr_s2s_free(&t->m);
}

static double tiny_loss(void *p)
{
    tiny *t = p;
    t->s.rng = t->rng0; /* the same dropout masks in every call */
    tr_s2s_set_batch(&t->s, &t->m, t->src, t->src_len, t->tgt, t->tgt_len, t->w, t->b);
    return t->scale * tr_s2s_forward(&t->s, &t->m, 1);
}

static void check_all_params(tiny *t, th_loss_fn loss, int max_checks)
{
    for (int i = 0; i < t->m.params.n; i++) {
        tr_param *p = &t->m.params.p[i];
        th_gradcheck(p->name, p->value.data, p->grad.data, p->value.size, loss, t, EPS, ATOL, RTOL, max_checks);
    }
}

/* ------------------------------------------------------------ encoder */

static double enc_loss(void *p)
{
    tiny *t = p;
    t->s.rng = t->rng0;
    tr_s2s_set_batch(&t->s, &t->m, t->src, t->src_len, NULL, NULL, NULL, t->b);
    tr_s2s_encode(&t->s, &t->m, 1);
    const int C = 2 * t->m.cfg.hidden;
    return th_dot(t->s.enc_out[t->m.cfg.enc_layers - 1], t->R, (int64_t)t->s.s * t->b * C);
}

static void test_encoder_grad_with_padding(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++)
        for (int Le = 1; Le <= 2; Le++) {
            tr_s2s_config cfg = tiny_config(TR_S2S_ATT_GENERAL, 1, Le, 1, seed == 3 ? 0.3f : 0.0f);
            tiny t;
            tiny_init(&t, &cfg, seed, 4);
            const int C = 2 * cfg.hidden;
            float *R = th_vec(6 * 4 * C, 1, seed + 40);
            t.R = R;
            enc_loss(&t);
            const int S = t.s.s;
            /* padded outputs are zero; the gradient given for them must be ignored */
            for (int s = 0; s < S; s++)
                for (int i = 0; i < t.b; i++)
                    if (s >= t.src_len[i])
                        for (int k = 0; k < C; k++)
                            assert_true(t.s.enc_out[Le - 1][(s * t.b + i) * C + k] == 0.0f);
            float *dm = th_vec(S * t.b * C, 0, 0);
            memcpy(dm, R, sizeof(float) * (size_t)(S * t.b * C));
            for (int s = 0; s < S; s++)
                for (int i = 0; i < t.b; i++)
                    if (s >= t.src_len[i])
                        for (int k = 0; k < C; k++)
                            R[(s * t.b + i) * C + k] = 0.0f; /* the loss sees only real rows */
            tr_params_zero_grad(&t.m.params);
            tr_s2s_encoder_backward(&t.s, &t.m, dm);
            for (int i = 0; i < t.m.params.n; i++) {
                tr_param *p = &t.m.params.p[i];
                if (!strncmp(p->name, "encoder.", 8))
                    th_gradcheck(p->name, p->value.data, p->grad.data, p->value.size, enc_loss, &t, EPS, ATOL,
                                 RTOL, 300);
            }
            free(R);
            free(dm);
            tiny_free(&t);
        }
}

/* ------------------------------------------------------------ the whole weighted loss */

static void check_model_grad(tr_s2s_config cfg, uint64_t seed)
{
    tiny t;
    tiny_init(&t, &cfg, seed, 4);
    tr_params_zero_grad(&t.m.params);
    tiny_loss(&t);
    tr_s2s_backward(&t.s, &t.m, t.scale);
    check_all_params(&t, tiny_loss, 200);
    tiny_free(&t);
}

static void test_model_grad(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        check_model_grad(tiny_config(TR_S2S_ATT_GENERAL, 1, 1, 1, 0.0f), seed);
        check_model_grad(tiny_config(TR_S2S_ATT_GENERAL, 1, 2, 2, 0.0f), seed);
        check_model_grad(tiny_config(TR_S2S_ATT_DOT, 0, 1, 2, 0.0f), seed);
        check_model_grad(tiny_config(TR_S2S_ATT_GENERAL, 1, 2, 2, 0.25f), seed);
    }
}

/* The loss is sum_b w_b NLL_b: each lane's NLL does not depend on the
 * other lanes or the padding, and the weights enter linearly. */
static void test_weighted_loss_and_padding_invariance(void **state)
{
    (void)state;
    tr_s2s_config cfg = tiny_config(TR_S2S_ATT_GENERAL, 1, 2, 2, 0.0f);
    tiny t;
    tiny_init(&t, &cfg, 5, 4);
    double total = tiny_loss(&t) / t.scale, sum = 0.0;
    double nll[4];
    for (int i = 0; i < 4; i++) {
        nll[i] = t.s.nll[i];
        assert_true(nll[i] > 0.0);
        sum += (double)t.w[i] * nll[i];
    }
    assert_true(fabs(total - sum) < 1e-9 * (1 + fabs(sum)));
    for (int i = 0; i < 4; i++) {
        float w = 1.0f;
        tr_s2s_set_batch(&t.s, &t.m, &t.src[i], &t.src_len[i], &t.tgt[i], &t.tgt_len[i], &w, 1);
        double one = tr_s2s_forward(&t.s, &t.m, 0);
        assert_true(fabs(one - nll[i]) < 1e-5 * (1 + nll[i]));
    }
    /* gradient of lane i with weight w equals w times its gradient with weight 1 */
    tr_param *p = t.m.gen_w;
    float *g1 = th_vec(p->grad.size, 0, 0);
    float w1 = 1.0f, w2 = -2.5f;
    tr_params_zero_grad(&t.m.params);
    tr_s2s_set_batch(&t.s, &t.m, &t.src[2], &t.src_len[2], &t.tgt[2], &t.tgt_len[2], &w1, 1);
    tr_s2s_forward(&t.s, &t.m, 0);
    tr_s2s_backward(&t.s, &t.m, 1.0f);
    memcpy(g1, p->grad.data, sizeof(float) * (size_t)p->grad.size);
    tr_params_zero_grad(&t.m.params);
    tr_s2s_set_batch(&t.s, &t.m, &t.src[2], &t.src_len[2], &t.tgt[2], &t.tgt_len[2], &w2, 1);
    tr_s2s_forward(&t.s, &t.m, 0);
    tr_s2s_backward(&t.s, &t.m, 1.0f);
    for (int64_t k = 0; k < p->grad.size; k++)
        assert_true(fabsf(p->grad.data[k] - w2 * g1[k]) <= 1e-5f * (1 + fabsf(g1[k])));
    free(g1);
    tiny_free(&t);
}

/* ------------------------------------------------------------ decoding */

/* -log P(y | x) by teacher forcing. */
static double teacher_nll(tiny *t, const int32_t *src, int ns, const int32_t *y, int ny)
{
    tr_s2s_set_batch(&t->s, &t->m, &src, &ns, &y, &ny, NULL, 1);
    tr_s2s_forward(&t->s, &t->m, 0);
    return t->s.nll[0];
}

/* A model with larger, skewed weights so that outputs vary in length. */
static void decode_model(tiny *t, tr_s2s_config cfg, uint64_t seed)
{
    tiny_init(t, &cfg, seed, 4);
    for (int i = 0; i < t->m.params.n; i++)
        th_fill(t->m.params.p[i].value.data, t->m.params.p[i].value.size, 0.9f, seed * 17 + (uint64_t)i);
    t->m.gen_b->value.data[TR_EOS_ID] -= 0.5f; /* fewer immediate ends */
}

static void test_beam1_equals_greedy(void **state)
{
    (void)state;
    int cut = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        tiny t;
        decode_model(&t, tiny_config(seed % 2 ? TR_S2S_ATT_GENERAL : TR_S2S_ATT_DOT, (int)(seed % 3 != 0),
                                     1 + (int)(seed % 2), 1 + (int)(seed / 3), 0.0f), seed);
        tr_s2s_decoder d;
        assert_int_equal(tr_s2s_decoder_init(&d, &t.m, 4, 6, 3, 7, NULL), TR_OK);
        const tr_s2s_nbest *g = tr_s2s_greedy(&d, &t.m, t.src, t.src_len, 4);
        int len[4], ids[4][7], longest = 0;
        double logp[4];
        for (int i = 0; i < 4; i++) {
            assert_int_equal(g->n[i], 1);
            len[i] = g->len[i * 3];
            logp[i] = g->logp[i * 3];
            assert_true(len[i] >= 0 && len[i] <= 7);
            longest = len[i] > longest ? len[i] : longest;
            for (int k = 0; k < len[i]; k++)
                ids[i][k] = g->ids[i * 3 * 7 + k];
            assert_true(fabs(logp[i] + teacher_nll(&t, t.src[i], t.src_len[i], g->ids + i * 3 * 7, len[i])) <
                        1e-4 * (1 + fabs(logp[i])));
        }
        assert_true(longest >= 2); /* the test exercises more than one step */
        const tr_s2s_nbest *b = tr_s2s_beam(&d, &t.m, t.src, t.src_len, 4, 1, 0.0f);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(b->n[i], 1);
            assert_int_equal(b->len[i * 3], len[i]);
            assert_true(b->logp[i * 3] == logp[i]);
            for (int k = 0; k < len[i]; k++)
                assert_int_equal(b->ids[i * 3 * 7 + k], ids[i][k]);
        }
        /* a length limit relative to the input: greedy and beam outputs stop at min(7, n - 1) tokens; a
         * greedy output shorter than its limit is unchanged */
        d.len_a = 1;
        d.len_b = -1;
        for (int beam = 1; beam <= 3; beam++) {
            const tr_s2s_nbest *o = beam == 1 ? tr_s2s_greedy(&d, &t.m, t.src, t.src_len, 4)
                                              : tr_s2s_beam(&d, &t.m, t.src, t.src_len, 4, beam, 0.0f);
            for (int i = 0; i < 4; i++) {
                const int lim = t.src_len[i] - 1 < 7 ? (t.src_len[i] - 1 < 1 ? 1 : t.src_len[i] - 1) : 7;
                for (int j = 0; j < o->n[i]; j++)
                    assert_true(o->len[i * 3 + j] <= lim);
                if (beam == 1 && len[i] <= lim) {
                    assert_int_equal(o->len[i * 3], len[i]);
                } else if (beam == 1) {
                    assert_int_equal(o->len[i * 3], lim);
                    cut++;
                }
            }
        }
        tr_s2s_decoder_free(&d);
        tiny_free(&t);
    }
    assert_true(cut > 0); /* some outputs were longer than their limit */
}

static int same_hyp(const int32_t *a, int na, const int32_t *b, int nb)
{
    return na == nb && (na == 0 || !memcmp(a, b, sizeof(int32_t) * (size_t)na));
}

static void test_kbest_sorted_and_teacher_forced(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++)
        for (int ln = 0; ln < 2; ln++) {
            tiny t;
            decode_model(&t, tiny_config(TR_S2S_ATT_GENERAL, 1, 2, 2, 0.0f), seed);
            const int K = 5, L = 6;
            const float norm = ln ? 0.8f : 0.0f;
            tr_s2s_decoder d;
            assert_int_equal(tr_s2s_decoder_init(&d, &t.m, 4, 6, K, L, NULL), TR_OK);
            const tr_s2s_nbest *o = tr_s2s_beam(&d, &t.m, t.src, t.src_len, 4, K, norm);
            for (int i = 0; i < 4; i++) {
                assert_int_equal(o->n[i], K);
                for (int j = 0; j < o->n[i]; j++) {
                    const int h = i * K + j;
                    const int32_t *y = o->ids + (size_t)h * L;
                    assert_true(o->len[h] >= 0 && o->len[h] <= L);
                    for (int k = 0; k < o->len[h]; k++)
                        assert_true(y[k] != TR_EOS_ID && y[k] >= 0 && y[k] < t.m.cfg.tgt_vocab);
                    double nll = teacher_nll(&t, t.src[i], t.src_len[i], y, o->len[h]);
                    assert_true(fabs(o->logp[h] + nll) < 1e-4 * (1 + nll));
                    double want = norm > 0 ? o->logp[h] / pow(o->len[h] + 1.0, norm) : o->logp[h];
                    assert_true(fabs(o->score[h] - want) < 1e-12 * (1 + fabs(want)));
                    if (j > 0)
                        assert_true(o->score[h] <= o->score[h - 1]);
                    for (int q = 0; q < j; q++)
                        assert_false(same_hyp(y, o->len[h], o->ids + (size_t)(i * K + q) * L, o->len[i * K + q]));
                }
            }
            tr_s2s_decoder_free(&d);
            tiny_free(&t);
        }
}

/* Target vocabulary {<unk>, <eos>, a, b}, outputs of at most 3 tokens: 40
 * complete hypotheses. A beam of 40 keeps every prefix, so its list must be
 * all of them, ranked exactly as teacher forcing ranks them. */
static void test_exhaustive_beam_equals_enumeration(void **state)
{
    (void)state;
    tr_s2s_config cfg = tiny_config(TR_S2S_ATT_GENERAL, 1, 1, 1, 0.0f);
    cfg.tgt_vocab = 4;
    for (uint64_t seed = 1; seed <= 2; seed++) {
        tiny t;
        decode_model(&t, cfg, seed);
        enum { K = 40, L = 3 };
        double all[K];
        int n = 0;
        int32_t y[3];
        for (int len = 0; len <= L; len++) {
            int total = 1;
            for (int k = 0; k < len; k++)
                total *= 3;
            for (int code = 0; code < total; code++) {
                int c = code;
                for (int k = 0; k < len; k++, c /= 3)
                    y[k] = c % 3 == 0 ? 0 : 1 + c % 3; /* <unk>, a, b */
                all[n++] = -teacher_nll(&t, t.src[0], t.src_len[0], y, len);
            }
        }
        assert_int_equal(n, K);
        for (int x = 1; x < K; x++) /* descending */
            for (int z = x; z > 0 && all[z] > all[z - 1]; z--) {
                double u = all[z];
                all[z] = all[z - 1];
                all[z - 1] = u;
            }
        tr_s2s_decoder d;
        assert_int_equal(tr_s2s_decoder_init(&d, &t.m, 1, 6, K, L, NULL), TR_OK);
        const tr_s2s_nbest *o = tr_s2s_beam(&d, &t.m, t.src, t.src_len, 1, K, 0.0f);
        assert_int_equal(o->n[0], K);
        for (int j = 0; j < K; j++)
            assert_true(fabs(o->logp[j] - all[j]) < 1e-4 * (1 + fabs(all[j])));
        /* and a narrower beam's best is one of them, its list sorted */
        o = tr_s2s_beam(&d, &t.m, t.src, t.src_len, 1, 3, 0.0f);
        assert_int_equal(o->n[0], 3);
        assert_true(o->logp[0] <= all[0] + 1e-4 && o->logp[0] >= o->logp[1] && o->logp[1] >= o->logp[2]);
        tr_s2s_decoder_free(&d);
        tiny_free(&t);
    }
}

/* ------------------------------------------------------------ checkpoints */

static tr_vocab *vocab_of(const char *const *w, int n)
{
    tr_vocab *v = tr_vocab_new();
    for (int i = 0; i < n; i++)
        tr_vocab_add(v, w[i], strlen(w[i]));
    return v;
}

static void test_checkpoint_roundtrip(void **state)
{
    (void)state;
    static const char *const sw[] = {"A", "B", "C", "D", "E"}, *const tw[] = {"X", "Y", "ZZ", "W"};
    tr_vocab *sv = vocab_of(sw, 5), *tv = vocab_of(tw, 4);
    tr_s2s_config cfg = tiny_config(TR_S2S_ATT_GENERAL, 0, 2, 2, 0.1f);
    tiny t;
    tiny_init(&t, &cfg, 3, 2);
    char path[512], bad[512];
    th_tmp(path, sizeof path, "s2s_ckpt.safetensors");
    tr_err err;
    assert_int_equal(tr_s2s_save(&t.m, "g2p", sv, tv, 42, NULL, 0, path, &err), TR_OK);
    tr_s2s m2;
    tr_vocab *s2 = NULL, *t2 = NULL;
    int64_t step = 0;
    assert_int_equal(tr_s2s_load(&m2, &s2, &t2, &step, "g2p", path, &err), TR_OK);
    assert_int_equal(step, 42);
    assert_memory_equal(&m2.cfg, &t.m.cfg, sizeof cfg);
    assert_int_equal(tr_vocab_size(s2), 7);
    assert_string_equal(tr_vocab_word(t2, 4), "ZZ");
    assert_int_equal(m2.params.n, t.m.params.n);
    for (int i = 0; i < m2.params.n; i++) {
        assert_string_equal(m2.params.p[i].name, t.m.params.p[i].name);
        assert_memory_equal(m2.params.p[i].value.data, t.m.params.p[i].value.data,
                            sizeof(float) * (size_t)m2.params.p[i].value.size);
    }
    tr_s2s_free(&m2);
    tr_vocab_free(s2);
    tr_vocab_free(t2);
    /* any task when none is asked for; the wrong task is refused by name */
    assert_int_equal(tr_s2s_load(&m2, &s2, &t2, NULL, NULL, path, &err), TR_OK);
    tr_s2s_free(&m2);
    tr_vocab_free(s2);
    tr_vocab_free(t2);
    assert_int_not_equal(tr_s2s_load(&m2, &s2, &t2, NULL, "p2g", path, &err), TR_OK);
    assert_non_null(strstr(err.msg, "is a g2p model, not a p2g model"));
    assert_null(s2);
    /* truncated */
    size_t len;
    char *bytes = th_read(path, &len);
    th_tmp(bad, sizeof bad, "s2s_ckpt_bad.safetensors");
    th_write(bad, bytes, len - 100);
    assert_int_not_equal(tr_s2s_load(&m2, &s2, &t2, NULL, "g2p", bad, &err), TR_OK);
    assert_non_null(strstr(err.msg, bad));
    free(bytes);
    /* another kind of file, and a config that disagrees with the tensors */
    tr_meta meta[] = {{"triad.model", "lm"}};
    assert_int_equal(tr_params_save(bad, &t.m.params, meta, 1, &err), TR_OK);
    assert_int_not_equal(tr_s2s_load(&m2, &s2, &t2, NULL, "g2p", bad, &err), TR_OK);
    assert_non_null(strstr(err.msg, "not a triad sequence-to-sequence model"));
    tr_s2s_config other = cfg;
    other.hidden = 5;
    tr_s2s m3;
    assert_int_equal(tr_s2s_init(&m3, &other, NULL), TR_OK);
    assert_int_equal(tr_s2s_save(&m3, "g2p", sv, tv, 1, NULL, 0, bad, &err), TR_OK);
    tr_s2s_free(&m3);
    bytes = th_read(bad, &len);
    /* the JSON config sits, escaped, inside the header's JSON */
    const char *pat = "hidden\\\":5";
    char *hit = NULL;
    for (size_t k = 8; k + strlen(pat) < len && !hit; k++)
        if (!memcmp(bytes + k, pat, strlen(pat)))
            hit = bytes + k;
    assert_non_null(hit);
    hit[strlen(pat) - 1] = '3'; /* the config now says 3: the tensors disagree */
    th_write(bad, bytes, len);
    free(bytes);
    assert_int_not_equal(tr_s2s_load(&m2, &s2, &t2, NULL, "g2p", bad, &err), TR_OK);
    assert_non_null(strstr(err.msg, "encoder.rnn"));
    tr_vocab_free(sv);
    tr_vocab_free(tv);
    tiny_free(&t);
}

/* ------------------------------------------------------------ lexicon */

static void expect_lexicon_error(const char *content, const char *needle)
{
    char path[512];
    th_tmp(path, sizeof path, "s2s_bad_lexicon.txt");
    th_write_str(path, content);
    tr_lexicon lx;
    tr_err err;
    tr_err_clear(&err);
    if (tr_lexicon_read(&lx, path, &err) == TR_OK)
        fail_msg("lexicon %s was accepted; expected an error with \"%s\"", content, needle);
    if (!strstr(err.msg, needle) || !strstr(err.msg, path))
        fail_msg("expected \"%s\" and the path in the message, got: %s", needle, err.msg);
    assert_int_equal(lx.n, 0);
}

static void test_lexicon_reader(void **state)
{
    (void)state;
    char path[512];
    th_tmp(path, sizeof path, "s2s_lexicon.txt");
    th_write_str(path, ";;; a comment\n"
                       "ABLE  EY1 B AH0 L\n"
                       "able(2)  EY B L\r\n"
                       "O'HARA\tOW2  HH  AA1 R AH0\n"
                       "X(1)Y  EH K S\n");
    tr_lexicon lx;
    tr_err err;
    assert_int_equal(tr_lexicon_read(&lx, path, &err), TR_OK);
    assert_int_equal(lx.n, 4);
    assert_string_equal(lx.word[0], "ABLE");
    assert_string_equal(lx.pron[0], "EY B AH L");
    assert_string_equal(lx.word[1], "ABLE");
    assert_string_equal(lx.pron[1], "EY B L");
    assert_string_equal(lx.word[2], "O'HARA");
    assert_string_equal(lx.pron[2], "OW HH AA R AH");
    assert_string_equal(lx.word[3], "X(1)Y");
    assert_int_equal(lx.line[0], 2);
    assert_int_equal(lx.line[3], 5);
    tr_vocab *g, *p;
    tr_pron_vocabs(&lx, &g, &p);
    assert_int_equal(tr_vocab_size(g), 2 + 13); /* ' ( ) 1 A B E H L O R X Y */
    assert_string_equal(tr_vocab_word(g, 2), "'");
    assert_int_equal(tr_vocab_size(p), 2 + 11); /* AA AH B EH EY HH K L OW R S */
    assert_string_equal(tr_vocab_word(p, 2), "AA");
    assert_string_equal(tr_vocab_word(p, 12), "S");
    /* ids, unknown symbols, limits */
    int32_t ids[TR_PRON_MAX_LEN];
    assert_int_equal(tr_pron_spelling_ids(g, "able", ids, "in", 3, &err), 4);
    assert_int_equal(tr_vocab_word(g, ids[0])[0], 'A');
    assert_int_equal(tr_pron_spelling_ids(g, "abz", ids, "in", 3, &err), -1);
    assert_non_null(strstr(err.msg, "in:3: unknown character 'z'"));
    assert_int_equal(tr_pron_spelling_ids(g, "", ids, "in", 4, &err), -1);
    assert_non_null(strstr(err.msg, "in:4: empty"));
    char longw[TR_PRON_MAX_LEN + 2];
    memset(longw, 'A', sizeof longw - 1);
    longw[sizeof longw - 1] = '\0';
    assert_int_equal(tr_pron_spelling_ids(g, longw, ids, "in", 5, &err), -1);
    assert_non_null(strstr(err.msg, "in:5: spelling longer than 48 characters"));
    longw[TR_PRON_MAX_LEN] = '\0';
    assert_int_equal(tr_pron_spelling_ids(g, longw, ids, "in", 5, &err), TR_PRON_MAX_LEN);
    assert_int_equal(tr_pron_phoneme_ids(p, " ey1  b\tl ", ids, "in", 6, &err), 3);
    assert_int_equal(tr_pron_phoneme_ids(p, "EY ZH", ids, "in", 7, &err), -1);
    assert_non_null(strstr(err.msg, "in:7: unknown phoneme 'ZH'"));
    assert_int_equal(tr_pron_phoneme_ids(p, "  ", ids, "in", 8, &err), -1);
    assert_non_null(strstr(err.msg, "in:8: empty pronunciation"));
    tr_vocab_free(g);
    tr_vocab_free(p);
    tr_lexicon_free(&lx);

    expect_lexicon_error("A  AH\n\nB  B IY\n", ":2: empty line");
    expect_lexicon_error("A  AH\n \t \nB  B IY\n", ":2: empty line");
    expect_lexicon_error("A  AH\nB\n", ":2: 'B' has no pronunciation");
    expect_lexicon_error("A  AH\nB  B iy\n", ":2: bad phoneme 'iy'");
    expect_lexicon_error("A  AH\nB  B IY7\n", ":2: bad phoneme 'IY7'");
    expect_lexicon_error("A  AH\n  B  B IY\n", ":2: line starts with a space");
    expect_lexicon_error("A  AH\nCAF\xc3\xa9  K AE F EY\n", ":2: byte 0xc3 at byte 4 is not printable ASCII");
    expect_lexicon_error("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA  AH\n", ":1: 'AAAA");
    expect_lexicon_error("", "no entries");
    expect_lexicon_error(";;; only a comment\n", "no entries");
    char nul[] = "A  AH\nB\0  B\n";
    th_tmp(path, sizeof path, "s2s_bad_lexicon.txt");
    th_write(path, nul, sizeof nul - 1);
    assert_int_not_equal(tr_lexicon_read(&lx, path, &err), TR_OK);
    assert_non_null(strstr(err.msg, ":2: NUL byte"));
    assert_int_not_equal(tr_lexicon_read(&lx, "/nonexistent/lexicon", &err), TR_OK);
    assert_non_null(strstr(err.msg, "cannot open /nonexistent/lexicon"));
}

/* Items group every reference of a source; pairs follow the task's direction. */
static void test_pron_items_and_pairs(void **state)
{
    (void)state;
    char path[512];
    th_tmp(path, sizeof path, "s2s_items.txt");
    th_write_str(path, "READ  R IY D\nRED  R EH D\nREAD  R EH D\nKNIGHT  N AY T\nNIGHT  N AY T\n");
    tr_lexicon lx;
    tr_err err;
    assert_int_equal(tr_lexicon_read(&lx, path, &err), TR_OK);
    tr_vocab *g, *p;
    tr_pron_vocabs(&lx, &g, &p);
    tr_pron_items it;
    assert_int_equal(tr_pron_items_build(&it, &lx, TR_PRON_G2P, g, p, &err), TR_OK);
    assert_int_equal(it.n, 4); /* READ (2 references), RED, KNIGHT, NIGHT */
    assert_int_equal(it.first[1] - it.first[0], 2);
    assert_int_equal(it.refs.src_off[1] - it.refs.src_off[0], 4);
    assert_int_equal(it.refs.tgt_off[1] - it.refs.tgt_off[0], 3);
    tr_pron_items_free(&it);
    assert_int_equal(tr_pron_items_build(&it, &lx, TR_PRON_P2G, g, p, &err), TR_OK);
    assert_int_equal(it.n, 3); /* R IY D; R EH D (RED, READ); N AY T (KNIGHT, NIGHT) */
    assert_int_equal(it.first[2] - it.first[1], 2);
    assert_int_equal(it.first[3] - it.first[2], 2);
    assert_int_equal(it.refs.src_off[1] - it.refs.src_off[0], 3); /* phonemes are the source */
    tr_pron_items_free(&it);
    tr_s2s_data d;
    assert_int_equal(tr_pron_pairs(&lx, TR_PRON_P2G, g, p, &d, &err), TR_OK);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.max_src, 3);
    assert_int_equal(d.max_tgt, 6);
    tr_s2s_data_free(&d);
    /* a lexicon with a symbol outside the vocabularies names its line */
    tr_lexicon lx2;
    th_write_str(path, "READ  R IY D\nZED  Z EH D\n");
    assert_int_equal(tr_lexicon_read(&lx2, path, &err), TR_OK);
    assert_int_not_equal(tr_pron_pairs(&lx2, TR_PRON_G2P, g, p, &d, &err), TR_OK);
    assert_non_null(strstr(err.msg, ":2: unknown character 'Z'"));
    tr_lexicon_free(&lx2);
    tr_vocab_free(g);
    tr_vocab_free(p);
    tr_lexicon_free(&lx);
}

/* ------------------------------------------------------------ PyTorch golden */

static const tr_tensor *golden_get(const tr_st_file *f, const char *name)
{
    const tr_tensor *t = tr_st_get(f, name);
    if (!t)
        fail_msg("golden fixture lacks %s", name);
    return t;
}

/* The model, the batch, the per-sequence NLL, the weighted loss, every
 * gradient and greedy decoding against scripts/make_seq2seq_golden.py. */
static void check_golden(const char *file)
{
    char path[512];
    th_fixture(path, sizeof path, file);
    tr_st_file *f = NULL;
    tr_err err;
    assert_int_equal(tr_st_open(&f, path, &err), TR_OK);
    tr_s2s_config cfg;
    assert_int_equal(tr_s2s_config_from_json(&cfg, tr_st_meta(f, "triad.config"), path, &err), TR_OK);
    tr_s2s m;
    assert_int_equal(tr_s2s_init(&m, &cfg, &err), TR_OK);
    for (int i = 0; i < m.params.n; i++) {
        const tr_tensor *t = golden_get(f, m.params.p[i].name);
        assert_int_equal(t->size, m.params.p[i].value.size);
        memcpy(m.params.p[i].value.data, t->data, sizeof(float) * (size_t)t->size);
    }
    const tr_tensor *src = golden_get(f, "batch.src"), *sl = golden_get(f, "batch.src_len");
    const tr_tensor *tgt = golden_get(f, "batch.tgt"), *tl = golden_get(f, "batch.tgt_len");
    const tr_tensor *w = golden_get(f, "batch.weight"), *nll = golden_get(f, "expected.nll");
    const int S = (int)src->shape[0], B = (int)src->shape[1], W = (int)tgt->shape[1];
    int32_t sids[8][8], tids[8][8];
    const int32_t *sp[8], *tp[8];
    int slen[8], tlen[8];
    assert_true(B <= 8 && S <= 8 && W <= 8);
    for (int b = 0; b < B; b++) {
        slen[b] = (int)sl->data[b];
        tlen[b] = (int)tl->data[b];
        for (int t = 0; t < slen[b]; t++)
            sids[b][t] = (int32_t)src->data[t * B + b];
        for (int t = 0; t < tlen[b]; t++)
            tids[b][t] = (int32_t)tgt->data[b * W + t];
        sp[b] = sids[b];
        tp[b] = tids[b];
    }
    tr_s2s_state s;
    assert_int_equal(tr_s2s_state_init(&s, &m, B, S, W + 1, 1, 1, &err), TR_OK);
    tr_s2s_set_batch(&s, &m, sp, slen, tp, tlen, w->data, B);
    double loss = tr_s2s_forward(&s, &m, 0);
    double want = golden_get(f, "expected.loss")->data[0];
    assert_true(fabs(loss - want) < 1e-5 * (1 + fabs(want)));
    for (int b = 0; b < B; b++)
        assert_true(fabs(s.nll[b] - nll->data[b]) < 1e-5 * (1 + nll->data[b]));
    tr_params_zero_grad(&m.params);
    tr_s2s_backward(&s, &m, 1.0f);
    char name[96];
    for (int i = 0; i < m.params.n; i++) {
        snprintf(name, sizeof name, "grad.%s", m.params.p[i].name);
        const tr_tensor *g = golden_get(f, name);
        for (int64_t k = 0; k < g->size; k++) {
            double a = m.params.p[i].grad.data[k], e = g->data[k];
            if (fabs(a - e) > 1e-5 + 1e-4 * fabs(e))
                fail_msg("%s: %s[%lld] is %.8g, PyTorch says %.8g", file, name, (long long)k, a, e);
        }
    }
    /* greedy decoding */
    const tr_tensor *gi = golden_get(f, "expected.greedy_ids"), *gl = golden_get(f, "expected.greedy_len");
    const tr_tensor *gp = golden_get(f, "expected.greedy_logp");
    const int L = (int)gi->shape[1];
    tr_s2s_decoder d;
    assert_int_equal(tr_s2s_decoder_init(&d, &m, B, S, 2, L, &err), TR_OK);
    const tr_s2s_nbest *o = tr_s2s_greedy(&d, &m, sp, slen, B);
    for (int b = 0; b < B; b++) {
        assert_int_equal(o->len[b * o->k], (int)gl->data[b]);
        for (int t = 0; t < o->len[b * o->k]; t++)
            assert_int_equal(o->ids[(size_t)b * o->k * L + t], (int)gi->data[b * L + t]);
        assert_true(fabs(o->logp[b * o->k] - gp->data[b]) < 1e-4 * (1 + fabs(gp->data[b])));
    }
    tr_s2s_decoder_free(&d);
    tr_s2s_state_free(&s);
    tr_s2s_free(&m);
    tr_st_close(f);
}

static void test_golden_pytorch(void **state)
{
    (void)state;
    check_golden("golden/seq2seq_tiny.safetensors");
    check_golden("golden/seq2seq_dot.safetensors");
}

/* ------------------------------------------------------------ the commands */

#define OUTSZ (1 << 16)
static char out[OUTSZ];

#define assert_contains(h, n) th_check_contains((h), (n), __FILE__, __LINE__)
#define assert_failed(rc, n) th_check_failed((rc), out, (n), __FILE__, __LINE__)

/* A made-up lexicon with regular spelling rules (C is S before E or I,
 * SH and TH are one phoneme, EE is IY, a final E is silent), n words of 3-7
 * letters from seed; every 7th word has a second pronunciation. */
static void write_rule_lexicon(const char *path, int n, uint64_t seed)
{
    static const char letters[] = "ABCDEHIKLMNOPRST";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    tr_rng r;
    tr_rng_seed(&r, seed, 5);
    for (int w = 0; w < n; w++) {
        char word[8];
        int len = 3 + (int)tr_rng_below(&r, 5);
        for (int k = 0; k < len; k++)
            word[k] = letters[tr_rng_below(&r, (uint32_t)(sizeof letters - 1))];
        word[len] = '\0';
        char pron[64] = "";
        for (int k = 0; k < len; k++) {
            const char c = word[k], nx = word[k + 1];
            const char *ph = NULL;
            if (c == 'S' && nx == 'H') { ph = "SH"; k++; }
            else if (c == 'T' && nx == 'H') { ph = "TH"; k++; }
            else if (c == 'E' && nx == 'E') { ph = "IY"; k++; }
            else if (c == 'E' && k == len - 1 && k > 0) continue;
            else if (c == 'C') ph = nx == 'E' || nx == 'I' ? "S" : "K";
            else {
                static const char *const map[] = {"AE", "B", "", "D", "EH", "HH", "IH", "K",
                                                  "L", "M", "N", "AA", "P", "R", "S", "T"};
                ph = map[strchr(letters, c) - letters];
            }
            strcat(pron, pron[0] ? " " : "");
            strcat(pron, ph);
        }
        if (!pron[0])
            strcpy(pron, "AH");
        fprintf(f, "%s  %s\n", word, pron);
        if (w % 7 == 3)
            fprintf(f, "%s  %s AH\n", word, pron);
    }
    fclose(f);
}

static char g_train[512], g_dev[512], g_model[512];

/* Options of every tiny run: one thread, a small model. */
#define TINY_MODEL "--emb 16 --hidden 24 --dec-hidden 48 --batch 16 --threads 1 --quiet --lr 0.005"

static int setup_cli(void **state)
{
    (void)state;
    th_tmp(g_train, sizeof g_train, "s2s_rules_train.txt");
    th_tmp(g_dev, sizeof g_dev, "s2s_rules_dev.txt");
    th_tmp(g_model, sizeof g_model, "s2s_rules_g2p.st");
    write_rule_lexicon(g_train, 600, 1);
    write_rule_lexicon(g_dev, 80, 2);
    int rc = th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --force --epochs 12 " TINY_MODEL,
                      g_train, g_dev, g_model);
    if (rc) {
        fprintf(stderr, "training the shared model failed:\n%s\n", out);
        return -1;
    }
    return 0;
}

static double parse_after(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    assert_non_null(p);
    return atof(p + strlen(key));
}

static void test_cli_g2p_learns(void **state)
{
    (void)state;
    int rc = th_triad(out, OUTSZ, "g2p eval --model %s --data %s --beam 1", g_model, g_dev);
    assert_int_equal(rc, 0);
    double wer = parse_after(out, "WER "), per = parse_after(out, "PER ");
    /* the rules are learnable: far below an untrained model's 100 */
    if (!(wer < 40.0 && per < 12.0))
        fail_msg("the rule lexicon was not learnt: %s", out);
    rc = th_triad(out, OUTSZ, "g2p eval --model %s --data %s --beam 4", g_model, g_dev);
    assert_int_equal(rc, 0);
    assert_true(parse_after(out, "WER ") < 40.0);
    /* p2g on the same data */
    char p2g[512];
    th_tmp(p2g, sizeof p2g, "s2s_rules_p2g.st");
    rc = th_triad(out, OUTSZ, "p2g train --train %s --dev %s --output %s --force --epochs 6 " TINY_MODEL, g_train,
                  g_dev, p2g);
    assert_int_equal(rc, 0);
    assert_contains(out, "dev WER");
    rc = th_triad(out, OUTSZ, "p2g eval --model %s --data %s", p2g, g_dev);
    assert_int_equal(rc, 0);
    assert_true(parse_after(out, "PER ") < 50.0);
}

static void test_cli_predict_and_eval_output(void **state)
{
    (void)state;
    int rc = th_sh(out, OUTSZ, "printf 'shee\\nCAT\\n' | '%s' g2p predict --model %s --beam 3", getenv("TRIAD_BIN"),
                   g_model);
    assert_int_equal(rc, 0);
    assert_true(!strncmp(out, "SHEE  ", 6) && strlen(out) > 8);
    assert_contains(out, "\nCAT  ");
    rc = th_sh(out, OUTSZ, "printf 'shee\\n' | '%s' g2p predict --model %s --beam 3 --nbest 3", getenv("TRIAD_BIN"),
               g_model);
    assert_int_equal(rc, 0);
    double l1 = parse_after(out, "1\t"), l2 = parse_after(out, "\n2\t"), l3 = parse_after(out, "\n3\t");
    assert_true(l1 >= l2 && l2 >= l3 && l1 < 0);
    char preds[512];
    th_tmp(preds, sizeof preds, "s2s_preds.txt");
    rc = th_triad(out, OUTSZ, "g2p eval --model %s --data %s --output %s", g_model, g_dev, preds);
    assert_int_equal(rc, 0);
    /* predictions are a lexicon of the dev words, one line each */
    tr_lexicon a, b;
    tr_err err;
    assert_int_equal(tr_lexicon_read(&a, preds, &err), TR_OK);
    assert_int_equal(tr_lexicon_read(&b, g_dev, &err), TR_OK);
    int distinct = 0;
    for (int64_t i = 0; i < b.n; i++)
        distinct += i == 0 || strcmp(b.word[i], b.word[i - 1]) != 0;
    assert_int_equal(a.n, distinct);
    assert_string_equal(a.word[0], b.word[0]);
    tr_lexicon_free(&a);
    tr_lexicon_free(&b);
}

static void test_cli_resume_equals_uninterrupted(void **state)
{
    (void)state;
    char a[512], b[512], la[512], lb[512];
    th_tmp(a, sizeof a, "s2s_resume_a.st");
    th_tmp(b, sizeof b, "s2s_resume_b.st");
    th_tmp(la, sizeof la, "s2s_resume_a.csv");
    th_tmp(lb, sizeof lb, "s2s_resume_b.csv");
    remove(la);
    remove(lb);
    const char *opts = "--epochs 3 --dropout 0.3 --patience 0 --decay 2 " TINY_MODEL;
    assert_int_equal(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --force --log %s %s", g_train,
                              g_dev, a, la, opts), 0);
    /* stopped mid-epoch 1, then mid-epoch 3, then to the end */
    assert_int_equal(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --force --log %s --max-steps 20 %s",
                              g_train, g_dev, b, lb, opts), 0);
    assert_true(th_exists(b));
    assert_int_equal(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --resume --log %s --max-steps 100 --threads 1 --quiet",
                              g_train, g_dev, b, lb), 0);
    assert_int_equal(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --resume --log %s --threads 1 --quiet",
                              g_train, g_dev, b, lb), 0);
    size_t na, nb;
    char *x = th_read(a, &na), *y = th_read(b, &nb);
    assert_true(na == nb && !memcmp(x, y, na));
    free(x);
    free(y);
    x = th_read(la, &na);
    y = th_read(lb, &nb);
    assert_true(na > 100);
    assert_true(na == nb && !memcmp(x, y, na));
    free(x);
    free(y);
    /* a finished run is not resumed; options the checkpoint fixes are refused */
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --resume", g_train, g_dev, b),
                  "has finished 3 epochs");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --resume --hidden 8", g_train, g_dev, b),
                  "--hidden cannot be combined with --resume");
    /* a state file from another run is refused */
    char sa[600], sb[600];
    snprintf(sa, sizeof sa, "%s.state", a);
    snprintf(sb, sizeof sb, "%s.state", b);
    assert_int_equal(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --force --max-steps 5 %s", g_train,
                              g_dev, b, opts), 0);
    assert_int_equal(th_sh(out, OUTSZ, "cp '%s' '%s'", sa, sb), 0);
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --resume --epochs 5", g_train, g_dev, b),
                  "do not belong together");
}

static void test_cli_bad_inputs(void **state)
{
    (void)state;
    const char *bin = getenv("TRIAD_BIN");
    char bad[512], o[512];
    th_tmp(bad, sizeof bad, "s2s_bad_input.txt");
    th_tmp(o, sizeof o, "s2s_bad_out.st");
    remove(o);
    /* predict: empty line, unknown character, over-long input, wrong task */
    assert_failed(th_sh(out, OUTSZ, "printf 'cat\\n\\n' | '%s' g2p predict --model %s", bin, g_model),
                  "<stdin>:2: empty line");
    assert_contains(out, "CAT  "); /* the line before was answered */
    assert_failed(th_sh(out, OUTSZ, "printf 'cat\\nc@t\\n' | '%s' g2p predict --model %s", bin, g_model),
                  "<stdin>:2: unknown character '@'");
    assert_failed(th_sh(out, OUTSZ, "printf 'abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcda\\n' | '%s' g2p predict --model %s",
                        bin, g_model), "<stdin>:1: spelling longer than 48 characters (the limit)");
    assert_failed(th_sh(out, OUTSZ, "printf 'K AE T\\n' | '%s' p2g predict --model %s", bin, g_model),
                  "is a g2p model, not a p2g model");
    assert_failed(th_triad(out, OUTSZ, "p2g eval --model %s --data %s", g_model, g_dev), "is a g2p model, not a p2g model");
    assert_failed(th_triad(out, OUTSZ, "g2p eval --model %s --data %s", g_dev, g_dev), g_dev);
    /* eval data with a symbol the model does not know */
    th_write_str(bad, "CAT  K AE T\nZOO  Z UW\n");
    assert_failed(th_triad(out, OUTSZ, "g2p eval --model %s --data %s", g_model, bad), ":2: unknown character 'Z'");
    /* training: bad lexicons fail before anything is written */
    th_write_str(bad, "CAT  K AE T\n\nDOG  D AO G\n");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s " TINY_MODEL, bad, g_dev, o),
                  ":2: empty line");
    assert_false(th_exists(o));
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s " TINY_MODEL, g_train, bad, o),
                  ":2: empty line");
    th_write_str(bad, "CAT  K AE T\nWAX  W AE K S\n");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s " TINY_MODEL, g_train, bad, o),
                  ":2: unknown character 'W'");
    assert_false(th_exists(o));
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s " TINY_MODEL, g_train, "/nonexistent", o),
                  "cannot open /nonexistent");
    /* options */
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --output %s", g_train, o), "--train and --dev are required");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --attention cosine", g_train, g_dev, o),
                  "--attention must be general or dot");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --attention dot --hidden 8 --dec-hidden 8",
                           g_train, g_dev, o), "--attention dot needs --dec-hidden = 2 x --hidden");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s --dropout 1", g_train, g_dev, o),
                  "--dropout must be in");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output %s", g_train, g_dev, g_model),
                  "exists; use --resume to continue it or --force to replace it");
    assert_failed(th_triad(out, OUTSZ, "g2p train --train %s --dev %s --output /nonexistent/m.st", g_train, g_dev),
                  "cannot write --output /nonexistent/m.st");
    assert_failed(th_triad(out, OUTSZ, "g2p predict --model %s --beam 2 --nbest 3", g_model), "--nbest 3 needs --beam");
    assert_failed(th_triad(out, OUTSZ, "g2p fly"), "unknown subcommand 'fly'");
    assert_int_equal(th_triad(out, OUTSZ, "p2g --help"), 0);
    assert_contains(out, "predict");
    assert_int_equal(th_triad(out, OUTSZ, "g2p predict --help"), 0);
    assert_contains(out, "at most 48 characters");
    assert_false(th_exists(o));
}

/* triad dual lm / train / infer on the rule lexicon: the spellings and
 * pronunciations of the training words as monolingual text. */
static void test_cli_dual(void **state)
{
    (void)state;
    char p2g[512], sp[512], pr[512], la[512], lb[512], oab[512], oba[512], bad[512];
    th_tmp(p2g, sizeof p2g, "dual_p2g.st");
    th_tmp(sp, sizeof sp, "dual_spellings.txt");
    th_tmp(pr, sizeof pr, "dual_prons.txt");
    th_tmp(la, sizeof la, "dual_lm_a.st");
    th_tmp(lb, sizeof lb, "dual_lm_b.st");
    th_tmp(oab, sizeof oab, "dual_out_ab.st");
    th_tmp(oba, sizeof oba, "dual_out_ba.st");
    th_tmp(bad, sizeof bad, "dual_bad.txt");
    assert_int_equal(th_triad(out, OUTSZ, "p2g train --train %s --dev %s --output %s --force --epochs 4 " TINY_MODEL,
                              g_train, g_dev, p2g), 0);
    tr_lexicon lx;
    tr_err err;
    assert_int_equal(tr_lexicon_read(&lx, g_train, &err), TR_OK);
    FILE *fs = fopen(sp, "w"), *fp = fopen(pr, "w");
    for (int64_t i = 0; i < lx.n; i++) {
        if (i % 2 == 0)
            fprintf(fs, "%s\n", lx.word[i]);
        else
            fprintf(fp, "%s\n", lx.pron[i]);
    }
    fclose(fs);
    fclose(fp);
    tr_lexicon_free(&lx);
    /* marginal language models of both sides */
    assert_int_equal(th_triad(out, OUTSZ, "dual lm --model %s --side src --train %s --dev %s --output %s --hidden 16 "
                              "--emb 8 --epochs 3 --quiet", g_model, sp, sp, la), 0);
    assert_contains(out, "dev NLL");
    assert_int_equal(th_triad(out, OUTSZ, "dual lm --model %s --side tgt --train %s --dev %s --output %s --hidden 16 "
                              "--emb 8 --epochs 3 --quiet", g_model, pr, pr, lb), 0);
    /* dual inference: the primal ranking is g2p's own beam search */
    assert_int_equal(th_triad(out, OUTSZ, "g2p eval --model %s --data %s --beam 4", g_model, g_dev), 0);
    char want[64];
    snprintf(want, sizeof want, "primal (beam 4): WER %.2f PER %.2f", parse_after(out, "WER "), parse_after(out, "PER "));
    assert_int_equal(th_triad(out, OUTSZ, "dual infer --ab %s --ba %s --lm-a %s --lm-b %s --data %s --dev %s --beam 4",
                              g_model, p2g, la, lb, g_dev, g_dev), 0);
    assert_contains(out, want);
    assert_contains(out, "dev alpha 1.0: ");
    assert_contains(out, "tuned alpha");
    assert_contains(out, "dual inference (alpha");
    /* both models trained together, stopped and resumed */
    const char *run = "--eval-every 8 --games 4 --batch 8 --lambda 0.01 --dual-share 0.5 --lr 0.001 --quiet";
    assert_int_equal(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --lm-a %s --lm-b %s --paired %s --mono-a %s "
                              "--mono-b %s --dev %s --output-ab %s --output-ba %s --force --steps 24 --max-steps 10 %s",
                              g_model, p2g, la, lb, g_train, sp, pr, g_dev, oab, oba, run), 0);
    /* resumed without --steps: the run's own 24 updates */
    assert_int_equal(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --lm-a %s --lm-b %s --paired %s --mono-a %s "
                              "--mono-b %s --dev %s --output-ab %s --output-ba %s --resume %s",
                              g_model, p2g, la, lb, g_train, sp, pr, g_dev, oab, oba, run), 0);
    assert_contains(out, "A->B dev WER");
    assert_contains(out, "B->A dev WER");
    assert_failed(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --lm-a %s --lm-b %s --paired %s --mono-a %s "
                           "--mono-b %s --dev %s --output-ab %s --output-ba %s --resume %s",
                           g_model, p2g, la, lb, g_train, sp, pr, g_dev, oab, oba, run), "has done its 24 updates");
    /* --steps extends a finished run */
    assert_int_equal(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --lm-a %s --lm-b %s --paired %s --mono-a %s "
                              "--mono-b %s --dev %s --output-ab %s --output-ba %s --resume --steps 32 %s",
                              g_model, p2g, la, lb, g_train, sp, pr, g_dev, oab, oba, run), 0);
    assert_failed(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --lm-a %s --lm-b %s --paired %s --mono-a %s "
                           "--mono-b %s --dev %s --output-ab %s --output-ba %s --resume %s",
                           g_model, p2g, la, lb, g_train, sp, pr, g_dev, oab, oba, run), "has done its 32 updates");
    assert_int_equal(th_triad(out, OUTSZ, "g2p eval --model %s --data %s", oab, g_dev), 0);
    assert_int_equal(th_triad(out, OUTSZ, "p2g eval --model %s --data %s", oba, g_dev), 0);
    /* dual dsl: pairs only, the regulariser on by default (so it needs both language models) */
    assert_int_equal(th_triad(out, OUTSZ, "dual dsl --ab %s --ba %s --lm-a %s --lm-b %s --paired %s --dev %s "
                              "--output-ab %s --output-ba %s --force --steps 6 --eval-every 3 --batch 8",
                              g_model, p2g, la, lb, g_train, g_dev, oab, oba), 0);
    assert_contains(out, "dual share 0, lambda 0.01");
    assert_contains(out, "step 6/6 ");
    assert_failed(th_triad(out, OUTSZ, "dual dsl --ab %s --ba %s --lm-b %s --paired %s --dev %s --output-ab %s "
                           "--output-ba %s --force", g_model, p2g, lb, g_train, g_dev, oab, oba),
                  "need the language models");
    /* bad input */
    assert_failed(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --paired %s --dev %s --output-ab %s --output-ba %s --force",
                           g_model, g_model, g_train, g_dev, oab, oba), "are not inverse tasks");
    assert_failed(th_triad(out, OUTSZ, "dual infer --ab %s --ba %s --lm-a %s --lm-b %s --data %s", g_model, p2g, lb, la,
                           g_dev), "another vocabulary");
    th_write_str(bad, "CAT\nC@T\n");
    assert_failed(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --lm-b %s --paired %s --mono-a %s --mono-b %s "
                           "--dev %s --output-ab %s --output-ba %s --force", g_model, p2g, lb, g_train, bad, pr, g_dev,
                           oab, oba), "dual_bad.txt:2: unknown character '@'");
    assert_failed(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --paired %s --mono-a %s --mono-b %s --dev %s "
                           "--output-ab %s --output-ba %s --force", g_model, p2g, g_train, sp, pr, g_dev, oab, oba),
                  "need the language models");
    assert_failed(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --paired %s --dev %s --output-ab %s.x "
                           "--output-ba %s.x --resume", g_model, p2g, g_train, g_dev, oab, oba), "no run to resume");
    assert_failed(th_triad(out, OUTSZ, "dual lm --model %s --side middle --train %s --dev %s --output %s", g_model, sp, sp,
                           la), "--side must be src or tgt");
    assert_failed(th_triad(out, OUTSZ, "dual lm --model %s --side src --train %s --dev %s --output %s --max-len 49", g_model,
                           sp, sp, la), "--max-len 49 is over the limit of 48 for g2p");
    assert_failed(th_triad(out, OUTSZ, "dual lm --model %s --side src --train %s --dev %s --output %s --max-len 1", g_model,
                           sp, sp, la), "no training sequence of at most --max-len 1 symbols");
    assert_int_equal(th_triad(out, OUTSZ, "dual lm --model %s --side src --train %s --dev %s --output %s --max-len 4 "
                              "--hidden 16 --emb 8 --epochs 1", g_model, sp, sp, la), 0);
    assert_contains(out, "over --max-len 4 left out");
}

/* The closed loop alone (alpha 0) on real English words (Debian's wamerican
 * list, those spelt with the rule lexicon's letters) raises the mean
 * reconstruction log-likelihood log P(s | g2p(s); p2g) from one evaluation
 * interval to the last. */
static void test_cli_closed_loop_on_real_words(void **state)
{
    (void)state;
    char p2g[512], words[512], prons[512], oab[512], oba[512], csv[512];
    th_tmp(p2g, sizeof p2g, "loop_p2g.st");
    th_tmp(prons, sizeof prons, "loop_prons.txt");
    th_tmp(words, sizeof words, "loop_words.txt");
    th_tmp(oab, sizeof oab, "loop_ab.st");
    th_tmp(oba, sizeof oba, "loop_ba.st");
    th_tmp(csv, sizeof csv, "loop.csv");
    remove(csv);
    assert_int_equal(th_sh(out, OUTSZ, "grep -x '[abcdehiklmnoprst]\\{3,7\\}' /usr/share/dict/american-english | "
                           "awk 'NR %% 20 == 1' | head -n 300 > '%s'", words), 0);
    size_t n;
    char *w = th_read(words, &n);
    assert_true(n > 1000); /* about 300 words */
    free(w);
    /* games from side B read the rule lexicon's pronunciations */
    assert_int_equal(th_sh(out, OUTSZ, "sed 's/^[^ ]*  //' '%s' > '%s'", g_train, prons), 0);
    assert_int_equal(th_triad(out, OUTSZ, "p2g train --train %s --dev %s --output %s --force --epochs 4 " TINY_MODEL,
                              g_train, g_dev, p2g), 0);
    assert_int_equal(th_triad(out, OUTSZ, "dual train --ab %s --ba %s --paired %s --mono-a %s --mono-b %s --dev %s "
                              "--output-ab %s --output-ba %s --force --alpha 0 --dual-share 1 --share-start 1 --games 8 "
                              "--candidates 2 --steps 120 --eval-every 30 --lr 0.003 --log %s --quiet",
                              g_model, p2g, g_train, words, prons, g_dev, oab, oba, csv), 0);
    /* rows: step,loss_ab,loss_ba,reward_a,reward_b,gap2,dev_ab,dev_ba */
    char *c = th_read(csv, NULL), *line = c;
    double first = 0.0, last = 0.0;
    int rows = 0;
    while (line && *line) {
        double v[8];
        assert_int_equal(sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                                &v[6], &v[7]), 8);
        if (rows == 0) {
            /* step 0: the warm start, before any game */
            assert_true(v[0] == 0.0 && isnan(v[3]) && isnan(v[4]) && v[6] > 0.0);
        } else {
            if (rows == 1)
                first = v[3];
            last = v[3];
        }
        rows++;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(c);
    assert_int_equal(rows, 5);
    if (!(last > first + 1.0))
        fail_msg("mean reconstruction log-likelihood %.3f -> %.3f", first, last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attention_grad),
        cmocka_unit_test(test_encoder_grad_with_padding),
        cmocka_unit_test(test_model_grad),
        cmocka_unit_test(test_weighted_loss_and_padding_invariance),
        cmocka_unit_test(test_beam1_equals_greedy),
        cmocka_unit_test(test_kbest_sorted_and_teacher_forced),
        cmocka_unit_test(test_exhaustive_beam_equals_enumeration),
        cmocka_unit_test(test_checkpoint_roundtrip),
        cmocka_unit_test(test_lexicon_reader),
        cmocka_unit_test(test_pron_items_and_pairs),
        cmocka_unit_test(test_golden_pytorch),
    };
    const struct CMUnitTest cli[] = {
        cmocka_unit_test(test_cli_g2p_learns),
        cmocka_unit_test(test_cli_predict_and_eval_output),
        cmocka_unit_test(test_cli_resume_equals_uninterrupted),
        cmocka_unit_test(test_cli_bad_inputs),
        cmocka_unit_test(test_cli_dual),
        cmocka_unit_test(test_cli_closed_loop_on_real_words),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + cmocka_run_group_tests(cli, setup_cli, NULL);
}
