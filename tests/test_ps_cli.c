/* triad ps train end to end on a small synthetic image set and the tiny
 * text fixtures: progress, CSV and JSON-lines logs, checkpoints written and
 * resumed (and read by triad lm eval), a worker that falls silent, and a
 * clear message and exit status 2 for every bad option. */
#include "harness.h"

#include "triad/vision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char g_data[512], g_out[1 << 16];

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
            float v = 0.3f * tr_rng_uniform(&r);
            if (p / 28 >= 2 * d.y[i] && p / 28 < 2 * d.y[i] + 4)
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
    th_tmp(g_data, sizeof g_data, "ps_cli_data");
    mkdir(g_data, 0755);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", g_data);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", g_data);
    make_set(a, b, 200, 1);
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte.gz", g_data);
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte.gz", g_data);
    make_set(a, b, 50, 2);
    return 0;
}

/* triad ps train --data DATA --batch 10 ARGS, with --hidden 8 for the mlp */
static int ps(const char *args)
{
    const char *mlp = strstr(args, "--model cnn") ? "" : "--hidden 8";
    return th_triad(g_out, sizeof g_out, "ps train --data %s %s --batch 10 %s", g_data, mlp, args);
}

static int count_lines(const char *path)
{
    char *t = th_read(path, NULL);
    int n = 0;
    for (char *p = t; *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

static void expect(int rc, int want, const char *needle)
{
    if (rc != want || !strstr(g_out, needle))
        fail_msg("exit %d (want %d), output lacks '%s':\n%s", rc, want, needle, g_out);
}

static void test_help(void **state)
{
    (void)state;
    expect(th_triad(g_out, sizeof g_out, "--help"), 0, "parameter server");
    expect(th_triad(g_out, sizeof g_out, "ps --help"), 0, "train");
    expect(th_triad(g_out, sizeof g_out, "ps train --help"), 0, "--simulate-delay");
    assert_non_null(strstr(g_out, "dcasgd-a"));
    expect(th_triad(g_out, sizeof g_out, "ps fly"), 2, "unknown subcommand 'fly'");
}

static void test_simulated_run_and_csv_log(void **state)
{
    (void)state;
    char log[600], args[1200];
    th_tmp(log, sizeof log, "ps_cli_log.csv");
    remove(log);
    snprintf(args, sizeof args,
             "--workers 4 --mode asp --rule dcasgd-a --simulate-delay uniform:0.5:2 --epochs 2 "
             "--evals-per-epoch 2 --log %s",
             log);
    expect(ps(args), 0, "test loss");
    assert_non_null(strstr(g_out, "4 workers, asp, dcasgd-a, lr 0.1, simulated (uniform:0.5:2)"));
    assert_non_null(strstr(g_out, "sim t "));
    assert_non_null(strstr(g_out, "stale "));
    assert_int_equal(count_lines(log), 1 + 4); /* header, 3 evaluations, the final one */
    char *t = th_read(log, NULL);
    assert_true(!strncmp(t, "event,time,sim_time,epoch,updates,pushes,samples,train_loss,loss,accuracy", 73));
    assert_non_null(strstr(t, "\nfinal,"));
    free(t);
    /* deterministic: the same run prints the same results */
    char first[256];
    snprintf(first, sizeof first, "%s", strstr(g_out, "test loss"));
    expect(ps(args), 0, "test loss");
    assert_string_equal(strstr(g_out, "test loss"), first);
}

static void test_threads_jsonl_checkpoint_resume(void **state)
{
    (void)state;
    char log[600], out[600], args[1400];
    th_tmp(log, sizeof log, "ps_cli_log.jsonl");
    th_tmp(out, sizeof out, "ps_cli.safetensors");
    remove(log);
    remove(out);
    snprintf(args, sizeof args, "--workers 2 --mode bsp --rule momentum --epochs 1 --log %s --output %s", log, out);
    expect(ps(args), 0, "saved");
    assert_true(th_exists(out));
    assert_int_equal(count_lines(log), 1);
    char *t = th_read(log, NULL);
    assert_non_null(strstr(t, "{\"event\": \"final\", \"time\": "));
    assert_non_null(strstr(t, "\"stale_max\": 0, \"gap_max\": 0"));
    free(t);
    expect(ps(args), 2, "exists; use --resume to continue it or --force to replace it");
    snprintf(args, sizeof args, "--workers 2 --mode bsp --rule momentum --epochs 2 --resume --output %s", out);
    expect(ps(args), 0, "final   2.00");
    snprintf(args, sizeof args, "--workers 2 --mode bsp --rule momentum --epochs 2 --resume --output %s", out);
    expect(ps(args), 1, "already trained 2 epochs");
    snprintf(args, sizeof args, "--workers 2 --rule adagrad --epochs 3 --resume --output %s", out);
    expect(ps(args), 1, "resume with --rule momentum");
    snprintf(args, sizeof args, "--model cnn --channels 2 --epochs 3 --resume --output %s", out);
    expect(ps(args), 1, "checkpoint of model 'mlp', not 'cnn'");
    /* a resumed run may use other workers, servers and modes */
    snprintf(args, sizeof args, "--workers 3 --servers 2 --mode ssp:1 --rule momentum --epochs 3 --resume --output %s",
             out);
    expect(ps(args), 0, "final   3.00");
}

static void test_cnn_and_model_averaging(void **state)
{
    (void)state;
    expect(ps("--model cnn --channels 2 --workers 2 --mode ma:2 --rule momentum --epochs 1"), 0, "test loss");
    assert_non_null(strstr(g_out, "cnn, "));
}

static void test_dead_worker(void **state)
{
    (void)state;
    expect(ps("--workers 3 --mode ssp:1 --epochs 2 --kill-worker 1 --kill-step 2 --timeout 5 --simulate-delay constant"),
           0, "server 0 declared worker 1 dead");
    assert_non_null(strstr(g_out, "[workers lost]"));
    expect(ps("--workers 3 --mode bsp --epochs 2 --kill-worker 2 --kill-step 1 --timeout 1"), 0,
           "server 0 declared worker 2 dead");
}

static void test_language_model(void **state)
{
    (void)state;
    char train[512], valid[512], out[600];
    th_fixture(train, sizeof train, "fixtures/tiny_train.txt");
    th_fixture(valid, sizeof valid, "fixtures/tiny_valid.txt");
    th_tmp(out, sizeof out, "ps_cli_lm.safetensors");
    int rc = th_triad(g_out, sizeof g_out,
                      "ps train --model lm --train %s --valid %s --hidden 16 --layers 1 --batch 2 --bptt 5 --epochs 1 "
                      "--workers 3 --mode asp --rule dcasgd-c --lr 5 --simulate-delay constant --output %s --force",
                      train, valid, out);
    expect(rc, 0, "valid loss");
    assert_non_null(strstr(g_out, "ppl "));
    char ppl[64];
    assert_int_equal(sscanf(strstr(g_out, "valid loss"), "valid loss %*s ppl %63s", ppl), 1);
    /* the checkpoint is a language-model checkpoint */
    expect(th_triad(g_out, sizeof g_out, "lm eval --model %s --text %s", out, valid), 0, "ppl ");
    assert_true(!strncmp(strstr(g_out, "ppl ") + 4, ppl, strlen(ppl) - 1));
    rc = th_triad(g_out, sizeof g_out, "ps train --model lm --train %s --valid %s --workers 200 --batch 4", train,
                  valid);
    expect(rc, 1, "fewer --workers or a smaller --batch");
}

static void test_bad_options(void **state)
{
    (void)state;
    expect(ps("--model rnn"), 2, "--model must be mlp, cnn or lm, got 'rnn'");
    expect(ps("--mode ssp"), 2, "--mode must be bsp, asp, ssp:S or ma:K, got 'ssp'");
    expect(ps("--mode ssp:x"), 2, "ssp:S needs a staleness bound");
    expect(ps("--mode ma:0"), 2, "ma:K needs an averaging period");
    expect(ps("--rule dcasgd"), 2, "--rule must be sgd, momentum, adagrad, dcasgd-c or dcasgd-a");
    expect(ps("--transport tcp"), 2, "--transport must be inproc or mpi, got 'tcp'");
    expect(ps("--simulate-delay normal"), 2, "--simulate-delay must be constant[:D]");
    expect(ps("--simulate-delay uniform:3:1"), 2, "LO <= HI");
    expect(ps("--transport mpi --simulate-delay constant"), 2, "cannot be combined with --transport mpi");
    expect(ps("--lr 0"), 2, "--lr must be a positive number");
    expect(ps("--rule dcasgd-c --lambda -2"), 2, "--lambda must be a number >= 0");
    expect(ps("--rule dcasgd-a --ms-decay 1"), 2, "--ms-decay must be in [0, 1)");
    expect(ps("--rule momentum --momentum 1.5"), 2, "--momentum must be in [0, 1)");
    expect(ps("--lr-decay 2"), 2, "--lr-decay must be in (0, 1]");
    expect(ps("--workers 2 --kill-worker 5 --timeout 1"), 2, "--kill-worker 5: there are only 2 workers");
    expect(ps("--workers 2 --kill-worker 1 --timeout 0"), 2, "needs --timeout > 0");
    expect(ps("--workers 2 --mode ma:2 --kill-worker 1 --timeout 1"), 2, "cannot lose a worker");
    expect(ps("--workers 2 --mode ma:2 --rule dcasgd-c"), 2, "model averaging (--mode ma:K) has none");
    expect(ps("--workers 0"), 2, "--workers must be in [1, 4096], got 0");
    expect(ps("--servers 0"), 2, "--servers must be in [1, 4096], got 0");
    expect(ps("--epochs 0"), 2, "--epochs must be in");
    expect(ps("--evals-per-epoch -1"), 2, "--evals-per-epoch must be in");
    expect(ps("--timeout -1"), 2, "--timeout must be in");
    expect(ps("--bptt 10"), 2, "--bptt applies to --model lm only");
    expect(ps("--model cnn --layers 3"), 2, "the cnn takes --channels");
    expect(th_triad(g_out, sizeof g_out, "ps train --model lm"), 2, "--model lm needs --train and --valid");
    expect(ps("--model lm"), 2, "--data applies to --model mlp and cnn only");
    expect(ps("--resume"), 2, "--resume continues the checkpoint named by --output");
    expect(ps("--resume --output /nonexistent/x.safetensors"), 2, "does not exist");
    expect(ps("--frobnicate"), 2, "unknown option '--frobnicate'");
    expect(ps("--log /nonexistent/dir/log.csv"), 1, "cannot open --log /nonexistent/dir/log.csv");
    expect(th_triad(g_out, sizeof g_out, "ps train --data /nonexistent"), 1, "scripts/get_data.sh fashion");
    char bad[600];
    th_tmp(bad, sizeof bad, "ps_cli_data/t10k-labels-idx1-ubyte.gz");
    char *keep = th_read(bad, NULL);
    th_write_str(bad, "not an idx file");
    int rc = ps("");
    th_write(bad, keep, 8 + 50);
    free(keep);
    expect(rc, 1, "t10k-labels-idx1-ubyte.gz");
    char txt[512];
    th_fixture(txt, sizeof txt, "fixtures/tiny_train.txt");
    expect(th_triad(g_out, sizeof g_out, "ps train --model lm --train %s --valid /nonexistent.txt", txt), 1,
           "/nonexistent.txt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_simulated_run_and_csv_log),
        cmocka_unit_test(test_threads_jsonl_checkpoint_resume),
        cmocka_unit_test(test_cnn_and_model_averaging),
        cmocka_unit_test(test_dead_worker),
        cmocka_unit_test(test_language_model),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
