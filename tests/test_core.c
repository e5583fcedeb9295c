/* Core: BLAS wrapper against the naive reference kernel, RNG streams and
 * reproducibility, arena planning, parameter sets, error messages. */
#include "harness.h"
#include "triad/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void check_gemm(int ta, int tb, int M, int N, int K, float alpha, float beta, uint64_t seed)
{
    tr_rng r;
    tr_rng_seed(&r, seed, 1);
    float *A = malloc(sizeof(float) * (size_t)(M * K));
    float *B = malloc(sizeof(float) * (size_t)(K * N));
    float *C1 = malloc(sizeof(float) * (size_t)(M * N));
    float *C2 = malloc(sizeof(float) * (size_t)(M * N));
    for (int i = 0; i < M * K; i++) A[i] = tr_rng_normal(&r);
    for (int i = 0; i < K * N; i++) B[i] = tr_rng_normal(&r);
    for (int i = 0; i < M * N; i++) C1[i] = C2[i] = tr_rng_normal(&r);
    int lda = ta ? M : K, ldb = tb ? K : N;
    tr_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, N);
    tr_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, N);
    for (int i = 0; i < M * N; i++)
        assert_true(fabsf(C1[i] - C2[i]) <= 1e-4f * (1.0f + fabsf(C2[i])) * sqrtf((float)K));
    free(A); free(B); free(C1); free(C2);
}

static void test_sgemm_matches_reference(void **state)
{
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(ta, tb, 7, 5, 3, 1.0f, 0.0f, 1);
            check_gemm(ta, tb, 33, 65, 130, 0.5f, 1.0f, 2);
            check_gemm(ta, tb, 1, 200, 17, -2.0f, 0.25f, 3);
        }
}

static void test_rng_streams(void **state)
{
    (void)state;
    tr_rng a, b, c;
    tr_rng_seed(&a, 42, 1);
    tr_rng_seed(&b, 42, 1);
    tr_rng_seed(&c, 42, 2);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 100; i++) {
        uint32_t x = tr_rng_u32(&a), y = tr_rng_u32(&b), z = tr_rng_u32(&c);
        same_ab &= x == y;
        same_ac &= x == z;
    }
    assert_true(same_ab);
    assert_false(same_ac);
    double mean = 0, var = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        float u = tr_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        float g = tr_rng_normal(&a);
        mean += g;
        var += (double)g * g;
        assert_true(tr_rng_below(&a, 7) < 7);
    }
    mean /= n;
    var = var / n - mean * mean;
    assert_true(fabs(mean) < 0.05);
    assert_true(fabs(var - 1.0) < 0.05);
}

static void test_arena_plan_then_alloc(void **state)
{
    (void)state;
    tr_arena a;
    tr_arena_plan(&a);
    int64_t shape[2] = {3, 5};
    tr_tensor t = tr_arena_tensor(&a, 2, shape);
    assert_null(t.data);
    (void)tr_arena_floats(&a, 7);
    size_t need = a.cap;
    assert_true(need >= (15 + 7) * sizeof(float));
    tr_err err;
    assert_int_equal(tr_arena_init(&a, need, &err), TR_OK);
    t = tr_arena_tensor(&a, 2, shape);
    float *f = tr_arena_floats(&a, 7);
    assert_non_null(t.data);
    assert_true((uintptr_t)t.data % 64 == 0);
    assert_true(f >= t.data + 15);
    assert_int_equal(t.size, 15);
    char buf[64];
    assert_string_equal(tr_tensor_shape_str(&t, buf, sizeof buf), "(3, 5)");
    tr_arena_free(&a);
}

static void test_params_sparse_grad(void **state)
{
    (void)state;
    tr_arena a;
    tr_params ps;
    int64_t es[2] = {10, 4}, ls[1] = {3};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) {
            tr_arena_plan(&a);
        } else {
            size_t cap = a.cap;
            assert_int_equal(tr_arena_init(&a, cap, NULL), TR_OK);
        }
        tr_params_init(&ps, 4);
        tr_params_add(&ps, &a, "encoder.weight", 2, es, TR_PARAM_SPARSE);
        tr_params_add(&ps, &a, "decoder.bias", 1, ls, 0);
        if (pass == 0)
            tr_params_free(&ps);
    }
    assert_int_equal(tr_params_count(&ps), 43);
    tr_param *e = tr_params_find(&ps, "encoder.weight");
    assert_non_null(e);
    assert_null(tr_params_find(&ps, "nope"));
    tr_param_touch(e, 3);
    tr_param_touch(e, 3);
    tr_param_touch(e, 7);
    assert_int_equal(e->ntouched, 2);
    e->grad.data[3 * 4 + 1] = 3.0f;
    e->grad.data[7 * 4 + 0] = 4.0f;
    ps.p[1].grad.data[0] = 12.0f;
    assert_true(fabs(tr_params_grad_norm(&ps) - 13.0) < 1e-9);
    tr_params_zero_grad(&ps);
    assert_int_equal(e->ntouched, 0);
    for (int64_t i = 0; i < e->grad.size; i++)
        assert_true(e->grad.data[i] == 0.0f);
    assert_true(ps.p[1].grad.data[0] == 0.0f);
    tr_params_free(&ps);
    tr_arena_free(&a);
}

static void test_err_message(void **state)
{
    (void)state;
    tr_err err;
    tr_err_clear(&err);
    assert_int_equal(tr_err_set(&err, TR_ERR_IO, "%s:%d: bad", "x.txt", 3), TR_ERR_IO);
    assert_string_equal(err.msg, "x.txt:3: bad");
    assert_string_equal(tr_status_str(TR_ERR_IO), "i/o error");
    assert_int_equal(tr_err_set(NULL, TR_ERR_ARG, "ignored"), TR_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgemm_matches_reference),
        cmocka_unit_test(test_rng_streams),
        cmocka_unit_test(test_arena_plan_then_alloc),
        cmocka_unit_test(test_params_sparse_grad),
        cmocka_unit_test(test_err_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
