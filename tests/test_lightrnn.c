/* LightRNN: finite-difference gradient checks of the whole loss with masked
 * (empty) cells and rows, the masked probabilities of all real words summing
 * to 1, the re-allocation loss matrices, the word table's text form, and
 * sampling through the masks. */
#include "harness.h"
#include "triad/lightrnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A model over V words with random weights and the given placement (or the
 * initial one when row is NULL). */
static void make_model(tr_lightrnn *m, int V, float dropout, const int32_t *row, const int32_t *col, uint64_t seed)
{
    tr_lm_config cfg = {V, 4, 5, 2, dropout, 1};
    tr_err err;
    assert_int_equal(tr_lightrnn_init(m, &cfg, &err), TR_OK);
    for (int i = 0; i < m->params.n; i++)
        th_fill(m->params.p[i].value.data, m->params.p[i].value.size, 0.5f, seed * 17 + (uint64_t)i);
    if (row) {
        assert_int_equal(tr_word_table_set(&m->table, row, col, &err), TR_OK);
        tr_lightrnn_table_changed(m);
    }
}

typedef struct {
    tr_lightrnn *m;
    tr_lightrnn_state *s;
    int32_t *x, *y;
    int steps;
    tr_rng rng0;
} lr_ctx;

static double lr_loss(void *p)
{
    lr_ctx *c = p;
    tr_lightrnn_state_reset(c->s, c->m);
    c->s->seq.rng = c->rng0;
    return tr_lightrnn_forward(c->s, c->m, c->x, c->y, c->steps, 1);
}

static void check_grad(int V, const int32_t *row, const int32_t *col, int steps, float dropout, uint64_t seed)
{
    tr_lightrnn m;
    tr_lightrnn_state s;
    tr_err err;
    const int B = 2;
    make_model(&m, V, dropout, row, col, seed);
    assert_int_equal(tr_lightrnn_state_init(&s, &m, 5, B, seed, 3, &err), TR_OK);
    int32_t x[10], y[10];
    tr_rng r;
    tr_rng_seed(&r, seed, 77);
    for (int i = 0; i < steps * B; i++) {
        x[i] = (int32_t)tr_rng_below(&r, (uint32_t)V);
        y[i] = (int32_t)tr_rng_below(&r, (uint32_t)V);
    }
    lr_ctx c = {&m, &s, x, y, steps, s.seq.rng};
    double loss = lr_loss(&c);
    assert_true(isfinite(loss));
    tr_params_zero_grad(&m.params);
    tr_lightrnn_backward(&s, &m, 1.0f);
    for (int i = 0; i < m.params.n; i++) {
        tr_param *p = &m.params.p[i];
        th_gradcheck(p->name, p->value.data, p->grad.data, p->value.size, lr_loss, &c, 1e-2f, 3e-3, 2e-2, 60);
    }
    tr_lightrnn_state_free(&s);
    tr_lightrnn_free(&m);
}

static void test_grad(void **state)
{
    (void)state;
    /* V = 7 in a 3 x 3 table: two empty cells under the initial placement */
    int lengths[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++)
        for (uint64_t seed = 1; seed <= 2; seed++) {
            check_grad(7, NULL, NULL, lengths[k], 0.0f, seed + 10 * (uint64_t)k);
            check_grad(7, NULL, NULL, lengths[k], 0.3f, seed + 10 * (uint64_t)k + 100);
        }
    /* V = 5 placed so that row 1 is empty and row 2 is full */
    int32_t row[5] = {0, 2, 2, 0, 2}, col[5] = {1, 0, 1, 2, 2};
    check_grad(5, row, col, 3, 0.0f, 5);
}

/* P(w) over all V words in one context sums to 1: every lane sees the same
 * history and lane w asks for word w. */
static void check_sum_to_one(int V, const int32_t *row, const int32_t *col, uint64_t seed)
{
    tr_lightrnn m;
    tr_lightrnn_state s;
    tr_err err;
    make_model(&m, V, 0.0f, row, col, seed);
    assert_int_equal(tr_lightrnn_state_init(&s, &m, 3, V, seed, 3, &err), TR_OK);
    int32_t *x = calloc((size_t)3 * V, sizeof(int32_t)), *y = calloc((size_t)3 * V, sizeof(int32_t));
    /* a shared history of two words, then the question */
    for (int w = 0; w < V; w++) {
        x[w] = 1 % V;
        y[w] = x[V + w] = 2 % V;
        y[V + w] = x[2 * V + w] = 3 % V;
        y[2 * V + w] = w;
    }
    tr_lightrnn_forward(&s, &m, x, y, 3, 0);
    double total = 0.0;
    for (int w = 0; w < V; w++)
        total += exp(-(double)s.nll[2 * V + w]);
    if (fabs(total - 1.0) > 1e-5) {
        fprintf(stderr, "V = %d: probabilities sum to %.9f\n", V, total);
        fail();
    }
    free(x);
    free(y);
    tr_lightrnn_state_free(&s);
    tr_lightrnn_free(&m);
}

static void test_probabilities_sum_to_one(void **state)
{
    (void)state;
    check_sum_to_one(7, NULL, NULL, 1);
    check_sum_to_one(10, NULL, NULL, 2); /* 4 x 4 table, 6 empty cells, last row empty */
    check_sum_to_one(16, NULL, NULL, 3); /* full table */
    int32_t row[5] = {0, 2, 2, 0, 2}, col[5] = {1, 0, 1, 2, 2};
    check_sum_to_one(5, row, col, 4);
    /* a shuffled placement of 30 words in 6 x 6 */
    int32_t r30[30], c30[30], cells[36];
    for (int k = 0; k < 36; k++)
        cells[k] = k;
    tr_rng g;
    tr_rng_seed(&g, 9, 9);
    for (int k = 35; k > 0; k--) {
        int j = (int)tr_rng_below(&g, (uint32_t)k + 1), t = cells[k];
        cells[k] = cells[j];
        cells[j] = t;
    }
    for (int w = 0; w < 30; w++) {
        r30[w] = cells[w] / 6;
        c30[w] = cells[w] % 6;
    }
    check_sum_to_one(30, r30, c30, 5);
}

/* Each occurrence adds a full -log softmax: exp(-L) sums to 1 per occurrence
 * for a word seen once. */
static void test_accumulate(void **state)
{
    (void)state;
    tr_lightrnn m;
    tr_lightrnn_state s;
    tr_err err;
    make_model(&m, 7, 0.0f, NULL, NULL, 8);
    assert_int_equal(tr_lightrnn_state_init(&s, &m, 2, 1, 1, 1, &err), TR_OK);
    int32_t x[2] = {0, 4}, y[2] = {4, 6};
    double Lr[7 * 3] = {0}, Lc[7 * 3] = {0};
    tr_lightrnn_forward(&s, &m, x, y, 2, 0);
    tr_lightrnn_accumulate(&s, &m, Lr, Lc);
    for (int w = 0; w < 7; w++) {
        double sr = 0, sc = 0;
        for (int k = 0; k < 3; k++) {
            sr += exp(-Lr[w * 3 + k]);
            sc += exp(-Lc[w * 3 + k]);
        }
        double want = (w == 4 || w == 6) ? 1.0 : 0.0;
        assert_true(fabs(sr - (want ? 1.0 : 3.0)) < 1e-6); /* unseen: exp(0) * 3 */
        assert_true(fabs(sc - (want ? 1.0 : 3.0)) < 1e-6);
    }
    /* the row part of word 4's loss at its own row equals the model's row loss */
    double nll_row = s.nll[0] - s.nll_col[0];
    assert_true(fabs(Lr[4 * 3 + m.table.row[4]] - nll_row) < 1e-4);
    tr_lightrnn_state_free(&s);
    tr_lightrnn_free(&m);
}

/* Sampling follows the masks: with one row and one column made overwhelming
 * by their biases, every sample is the word of that cell, and a column bias
 * pointing at an empty cell of the row is never followed. */
static void check_samples(tr_lightrnn *m, tr_lightrnn_state *s, int want)
{
    int32_t prime[3] = {0, 3, 5}, out[8];
    tr_rng r;
    tr_rng_seed(&r, 5, 5);
    tr_lightrnn_sample(m, s, prime, 3, 8, 1.0f, &r, out);
    for (int k = 0; k < 8; k++)
        assert_int_equal(out[k], want);
}

static void test_sample(void **state)
{
    (void)state;
    tr_lightrnn m;
    tr_lightrnn_state s;
    tr_err err;
    make_model(&m, 7, 0.0f, NULL, NULL, 4); /* rows {0,1,2}, {3,4,5}, {6, empty, empty} */
    assert_int_equal(tr_lightrnn_state_init(&s, &m, 1, 2, 1, 1, &err), TR_OK);
    assert_true(m.table.word[2 * 3 + 1] < 0 && m.table.word[2 * 3 + 2] < 0);
    float *rb = m.row_b->value.data, *cb = m.col_b->value.data;
    rb[2] = 40.0f;
    cb[1] = 40.0f; /* (2, 1) is empty: the only word of row 2 is 6 */
    check_samples(&m, &s, m.table.word[2 * 3 + 0]);
    rb[2] = 0.0f;
    rb[0] = 40.0f;
    check_samples(&m, &s, m.table.word[0 * 3 + 1]);
    /* with ordinary weights: real words, and the same seed gives the same text */
    rb[0] = cb[1] = 0.0f;
    int32_t prime[1] = {1}, a[50], b[50];
    tr_rng r;
    tr_rng_seed(&r, 9, 9);
    tr_lightrnn_sample(&m, &s, prime, 1, 50, 0.7f, &r, a);
    tr_rng_seed(&r, 9, 9);
    tr_lightrnn_sample(&m, &s, prime, 1, 50, 0.7f, &r, b);
    assert_memory_equal(a, b, sizeof a);
    for (int k = 0; k < 50; k++)
        assert_true(a[k] >= 0 && a[k] < 7);
    tr_lightrnn_state_free(&s);
    tr_lightrnn_free(&m);
}

/* With a full table (no masked cell) the cost of the model's own placement
 * under the loss matrices of a text is the text's total -log P, as scored by
 * evaluation with the same lanes and windows. */
static void test_losses_match_eval(void **state)
{
    (void)state;
    char path[512];
    th_tmp(path, sizeof path, "lightrnn_losses.txt");
    th_write_str(path, "a b c d e f g a b\nc a g g f\nd e a\n");
    tr_vocab *v = NULL;
    tr_err err;
    assert_int_equal(tr_vocab_build(&v, path, 1, 1, 100, NULL, NULL, &err), TR_OK);
    assert_int_equal(tr_vocab_size(v), 9); /* 7 words, <unk>, <eos>: a full 3 x 3 table */
    tr_lightrnn m;
    int32_t row[9], col[9];
    for (int w = 0; w < 9; w++) { /* a placement other than the initial one */
        row[w] = (w * 4) % 9 / 3;
        col[w] = (w * 4) % 9 % 3;
    }
    make_model(&m, 9, 0.0f, row, col, 6);
    double Lr[9 * 3], Lc[9 * 3];
    int64_t tokens = 0, n = 0;
    assert_int_equal(tr_lightrnn_losses(&m, v, path, 2, 3, Lr, Lc, &tokens, &err), TR_OK);
    double cost = tr_alloc_cost(Lr, Lc, 9, 3, 3, m.table.row, m.table.col), ppl = 0;
    tr_seq_model sm = tr_lightrnn_seq(&m);
    assert_int_equal(tr_seq_eval_file(&sm, v, path, 2, 3, &ppl, &n, &err), TR_OK);
    assert_int_equal(tokens, n);
    assert_true(fabs(cost - (double)n * log(ppl)) < 1e-4 * cost);
    tr_lightrnn_free(&m);
    tr_vocab_free(v);
}

static void test_table_text_round_trip(void **state)
{
    (void)state;
    tr_word_table t, u;
    tr_err err;
    assert_int_equal(tr_word_table_init(&t, 10, &err), TR_OK);
    assert_int_equal(t.R, 4);
    int32_t row[10], col[10];
    for (int w = 0; w < 10; w++) {
        row[w] = (w * 7) % 16 / 4;
        col[w] = (w * 7) % 16 % 4;
    }
    assert_int_equal(tr_word_table_set(&t, row, col, &err), TR_OK);
    char *s = tr_word_table_to_string(&t);
    assert_int_equal(tr_word_table_init(&u, 10, &err), TR_OK);
    assert_int_equal(tr_word_table_from_string(&u, s, "x.st", &err), TR_OK);
    assert_memory_equal(u.row, t.row, sizeof row);
    assert_memory_equal(u.col, t.col, sizeof col);
    assert_memory_equal(u.word, t.word, 16 * sizeof(int32_t));
    /* two words in one cell, a short table, garbage */
    const char *bad[] = {"0 0\n0 0\n", "1 2\n", "a b\n", "0 0\n1 1\n2 2\n3 3\n0 1\n0 2\n0 3\n1 0\n1 2\n1 3\n9 9\n"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_not_equal(tr_word_table_from_string(&u, bad[k], "x.st", &err), TR_OK);
        assert_non_null(strstr(err.msg, "x.st"));
    }
    free(s);
    tr_word_table_free(&t);
    tr_word_table_free(&u);
}

int main(void)
{
    tr_set_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad),
        cmocka_unit_test(test_probabilities_sum_to_one),
        cmocka_unit_test(test_accumulate),
        cmocka_unit_test(test_table_text_round_trip),
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_losses_match_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
