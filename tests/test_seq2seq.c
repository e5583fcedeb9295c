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
#include "triad/seq2seq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-2f
#define ATOL 2e-3
#define RTOL 2e-2

static float *vec(int64_t n, float a, uint64_t seed)
{
    float *x = calloc((size_t)n, sizeof(float));
    assert_non_null(x);
    if (a > 0)
        th_fill(x, n, a, seed);
    return x;
}

static double dot(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

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
    return dot(c->ctx, c->R, (int64_t)c->B * c->C);
}

static void test_attention_grad(void **state)
{
    (void)state;
    const int lens[3][3] = {{5, 2, 3}, {1, 5, 4}, {3, 3, 1}};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        const int S = 5, B = 3, D = 4, C = 6;
        att_ctx c = {S, B, D, C, lens[seed - 1], vec(B * D, 1, seed), vec(S * B * D, 1, seed + 10),
                     vec(S * B * C, 1, seed + 20), vec(B * S, 0, 0), vec(B * C, 0, 0), vec(B * C, 1, seed + 30)};
        float *dq = vec(B * D, 0, 0), *dk = vec(S * B * D, 0, 0), *dm = vec(S * B * C, 0, 0), *ds = vec(B * S, 0, 0);
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
        float *dm2 = vec(S * B * C, 0, 0);
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
    return dot(t->s.enc_out[t->m.cfg.enc_layers - 1], t->R, (int64_t)t->s.s * t->b * C);
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
            float *R = vec(6 * 4 * C, 1, seed + 40);
            t.R = R;
            enc_loss(&t);
            const int S = t.s.s;
            /* padded outputs are zero; the gradient given for them must be ignored */
            for (int s = 0; s < S; s++)
                for (int i = 0; i < t.b; i++)
                    if (s >= t.src_len[i])
                        for (int k = 0; k < C; k++)
                            assert_true(t.s.enc_out[Le - 1][(s * t.b + i) * C + k] == 0.0f);
            float *dm = vec(S * t.b * C, 0, 0);
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
    float *g1 = vec(p->grad.size, 0, 0);
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
        tr_s2s_decoder_free(&d);
        tiny_free(&t);
    }
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
