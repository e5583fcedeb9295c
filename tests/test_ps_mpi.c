/* The parameter server over MPI (MPICH): `mpiexec.mpich -n 3 triad ps train
 * --transport mpi` with 1 server and 2 workers on a small synthetic image
 * set. bsp over MPI gives the simulator's tables (same code above the
 * transport); asp with DC-ASGD-a on 2 servers trains and logs; a worker
 * that falls silent is declared dead and training goes on; model averaging
 * by allreduce; ranks or tables that do not match are refused with a clear
 * message. Registered only when CMake found MPICH. */
#include "harness.h"

#include "triad/io.h"
#include "triad/vision.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char g_data[512], g_out[1 << 16];

static const char *mpiexec(void)
{
    const char *m = getenv("TRIAD_MPIEXEC");
    return m && *m ? m : "mpiexec.mpich";
}

/* 10 classes of 28 x 28 images: class c lights rows 2c .. 2c+3, plus noise. */
static void make_set(const char *images, const char *labels, int n, uint64_t seed)
{
    tr_images d;
    memset(&d, 0, sizeof d);
    d.n = n;
    d.h = d.w = 28;
    d.classes = 10;
    d.x = calloc((size_t)n * 784, sizeof(float));
    d.y = calloc((size_t)n, 1);
    tr_rng r;
    tr_rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) {
        d.y[i] = (uint8_t)(i % 10);
        for (int p = 0; p < 784; p++) {
            int row = p / 28;
            float v = 0.3f * tr_rng_uniform(&r);
            if (row >= 2 * d.y[i] && row < 2 * d.y[i] + 4)
                v += 0.7f;
            d.x[(size_t)i * 784 + (size_t)p] = v;
        }
    }
    tr_err err;
    assert_int_equal(tr_images_save(&d, images, labels, &err), TR_OK);
    free(d.x);
    free(d.y);
}

static int setup(void **state)
{
    (void)state;
    th_tmp(g_data, sizeof g_data, "ps_mpi_data");
    mkdir(g_data, 0755);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", g_data);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", g_data);
    make_set(a, b, 160, 1);
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte.gz", g_data);
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte.gz", g_data);
    make_set(a, b, 40, 2);
    return 0;
}

/* Runs `mpiexec -n RANKS triad ps train ARGS` (common options added). */
static int mpi_train(int ranks, const char *args)
{
    return th_sh(g_out, sizeof g_out, "%s -n %d \"$TRIAD_BIN\" ps train --transport mpi --model mlp --hidden 8 "
                                      "--data %s --batch 8 --seed 3 %s",
                 mpiexec(), ranks, g_data, args);
}

static void load(const char *path, float *w, int64_t n, const char *name)
{
    tr_st_file *f = NULL;
    tr_err err;
    if (tr_st_open(&f, path, &err))
        fail_msg("%s", err.msg);
    const tr_tensor *t = tr_st_get(f, name);
    assert_non_null(t);
    assert_int_equal(t->size, n);
    memcpy(w, t->data, (size_t)n * sizeof(float));
    tr_st_close(f);
}

static void assert_same_tables(const char *a, const char *b)
{
    static const struct {
        const char *name;
        int64_t n;
    } t[] = {{"fc0.weight", 8 * 784}, {"fc0.bias", 8}, {"fc1.weight", 64}, {"out.weight", 80}, {"out.bias", 10}};
    float *x = malloc(8 * 784 * sizeof(float)), *y = malloc(8 * 784 * sizeof(float));
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        load(a, x, t[k].n, t[k].name);
        load(b, y, t[k].n, t[k].name);
        for (int64_t i = 0; i < t[k].n; i++)
            if (!(fabs((double)x[i] - (double)y[i]) <= 1e-6))
                fail_msg("%s[%lld]: %.9g (mpi) vs %.9g", t[k].name, (long long)i, (double)x[i], (double)y[i]);
    }
    free(x);
    free(y);
}

static void test_bsp_over_mpi_equals_simulator(void **state)
{
    (void)state;
    char a[600], b[600];
    th_tmp(a, sizeof a, "ps_mpi_bsp.safetensors");
    th_tmp(b, sizeof b, "ps_sim_bsp.safetensors");
    char args[1600];
    snprintf(args, sizeof args, "--mode bsp --rule momentum --epochs 2 --output %s --force", a);
    int rc = mpi_train(3, args);
    if (rc)
        fail_msg("mpiexec: exit %d\n%s", rc, g_out);
    assert_non_null(strstr(g_out, "test loss"));
    rc = th_triad(g_out, sizeof g_out,
                  "ps train --model mlp --hidden 8 --data %s --batch 8 --seed 3 --mode bsp --rule momentum --epochs 2 "
                  "--workers 2 --simulate-delay uniform --output %s --force",
                  g_data, b);
    if (rc)
        fail_msg("simulator: exit %d\n%s", rc, g_out);
    assert_same_tables(a, b);
}

static void test_asp_dcasgd_two_servers(void **state)
{
    (void)state;
    char log[600], args[1600];
    th_tmp(log, sizeof log, "ps_mpi_log.jsonl");
    remove(log);
    snprintf(args, sizeof args, "--servers 2 --mode asp --rule dcasgd-a --epochs 2 --evals-per-epoch 2 --log %s", log);
    int rc = mpi_train(4, args);
    if (rc)
        fail_msg("mpiexec: exit %d\n%s", rc, g_out);
    assert_non_null(strstr(g_out, "2 workers, asp, dcasgd-a"));
    assert_non_null(strstr(g_out, "test loss"));
    char *text = th_read(log, NULL);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    /* 3 points inside the run and the final one; asp may merge two points
     * that pass while worker 0 evaluates */
    assert_true(lines >= 2 && lines <= 4);
    assert_non_null(strstr(text, "\"event\": \"final\""));
    assert_non_null(strstr(text, "\"pushes\": 40,"));
    free(text);
}

static void test_dead_worker_over_mpi(void **state)
{
    (void)state;
    int rc = mpi_train(4, "--workers 3 --mode ssp:1 --epochs 2 --kill-worker 2 --kill-step 2 --timeout 2");
    if (rc)
        fail_msg("mpiexec: exit %d\n%s", rc, g_out);
    assert_non_null(strstr(g_out, "server 0 declared worker 2 dead"));
    assert_non_null(strstr(g_out, "test loss"));
}

static void test_model_averaging_over_mpi(void **state)
{
    (void)state;
    char a[600], b[600], args[1600];
    th_tmp(a, sizeof a, "ps_mpi_ma.safetensors");
    th_tmp(b, sizeof b, "ps_sim_ma.safetensors");
    snprintf(args, sizeof args, "--mode ma:2 --rule sgd --epochs 2 --output %s --force", a);
    int rc = mpi_train(2, args);
    if (rc)
        fail_msg("mpiexec: exit %d\n%s", rc, g_out);
    rc = th_triad(g_out, sizeof g_out,
                  "ps train --model mlp --hidden 8 --data %s --batch 8 --seed 3 --mode ma:2 --rule sgd --epochs 2 "
                  "--workers 2 --simulate-delay constant --output %s --force",
                  g_data, b);
    if (rc)
        fail_msg("simulator: exit %d\n%s", rc, g_out);
    assert_same_tables(a, b);
}

static void test_misconfigured_ranks(void **state)
{
    (void)state;
    int rc = mpi_train(3, "--servers 2 --workers 2");
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(g_out, "mpiexec started 3 ranks, but 2 servers and 2 workers need 4"));
    rc = th_sh(g_out, sizeof g_out, "\"$TRIAD_BIN\" ps train --transport mpi --model mlp --data %s", g_data);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(g_out, "mpiexec started 1 rank"));
    /* a server started with another model than its workers */
    rc = th_sh(g_out, sizeof g_out,
               "%s -n 1 \"$TRIAD_BIN\" ps train --transport mpi --workers 2 --model mlp --hidden 8 --data %s : "
               "-n 2 \"$TRIAD_BIN\" ps train --transport mpi --workers 2 --model mlp --hidden 16 --data %s",
               mpiexec(), g_data, g_data);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(g_out, "differs: worker"));
    assert_non_null(strstr(g_out, "fc0.weight (16, 784), server 0 has fc0.weight (8, 784)"));
    /* the simulator is one process */
    rc = th_triad(g_out, sizeof g_out, "ps train --transport mpi --simulate-delay constant --data %s", g_data);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(g_out, "cannot be combined with --transport mpi"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bsp_over_mpi_equals_simulator),
        cmocka_unit_test(test_asp_dcasgd_two_servers),
        cmocka_unit_test(test_dead_worker_over_mpi),
        cmocka_unit_test(test_model_averaging_over_mpi),
        cmocka_unit_test(test_misconfigured_ranks),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
