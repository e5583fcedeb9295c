/* triad bench: measurements that the benchmarks in bench/ are built from.
 *   sgemm  the machine's single-precision matrix-product rate (the "peak")
 *   lm     training throughput of the word LSTM language model, timed the
 *          same way as bench/torch_lm_bench.py times PyTorch */
#include "cli.h"
#include "opts.h"
#include "triad/lm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GFLOP/s of C (M, N) = A (M, K) B (K, N), repeated for about `seconds`. */
static double sgemm_rate(int M, int N, int K, double seconds)
{
    float *A = tr_xmalloc(sizeof(float) * (size_t)M * K);
    float *B = tr_xmalloc(sizeof(float) * (size_t)K * N);
    float *C = tr_xcalloc((size_t)M * N, sizeof(float));
    tr_rng r;
    tr_rng_seed(&r, 1, 1);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = tr_rng_uniform(&r);
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = tr_rng_uniform(&r);
    tr_sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N); /* warm-up */
    int reps = 0;
    double t0 = tr_now_seconds(), el;
    do {
        tr_sgemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        reps++;
        el = tr_now_seconds() - t0;
    } while (el < seconds);
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K * reps / el / 1e9;
}

static int bench_sgemm(int argc, char **argv)
{
    int size = 2048, threads = 1;
    double seconds = 3.0;
    opt_spec s[] = {
        {"size", OPT_INT, &size, "square matrix size", 16, 16384, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
        {"seconds", OPT_DOUBLE, &seconds, "measuring time", 0.01, 3600, 0},
    };
    int r = opts_parse(s, 3, argc, argv, 1, "triad bench sgemm [options]",
                       "Measures cblas_sgemm GFLOP/s on square matrices (the peak other rates are compared with).");
    if (r)
        return r == 1 ? 0 : 2;
    tr_set_threads(threads);
    printf("{\"system\": \"cblas_sgemm\", \"threads\": %d, \"size\": %d, \"gflops\": %.2f}\n", threads, size,
           sgemm_rate(size, size, size, seconds));
    return 0;
}

/* Multiply-adds of one training token, times 2 (flops), forward only:
 * LSTM layers 2 * 4H * (I + H) each, decoder 2 * H * V. Training costs three
 * times that (forward, gradient of the input, gradient of the weights). */
static double lm_train_flops_per_token(const tr_lm_config *c)
{
    double f = 2.0 * c->hidden * c->vocab_size;
    for (int l = 0; l < c->layers; l++)
        f += 2.0 * 4 * c->hidden * ((l ? c->hidden : c->emb) + c->hidden);
    return 3.0 * f;
}

#define BENCH_WARMUP 3

static int bench_lm(int argc, char **argv)
{
    const char *cmd = "triad bench lm", *train = NULL;
    tr_lm_config c = {10000, 0, 650, 2, 0.5f, 1};
    int batch = 32, bptt = 35, threads = 1;
    float lr = 20.0f, clip = 0.25f;
    double seconds = 30.0;
    uint64_t seed = 1;
    opt_spec s[] = {
        {"train", OPT_STR, &train, "training text", 1, 0, 0},
        {"vocab", OPT_INT, &c.vocab_size, "vocabulary size with <unk> and <eos>", 3, 10000000, 0},
        {"emb", OPT_INT, &c.emb, "embedding size (0 = --hidden)", 0, 65536, 0},
        {"hidden", OPT_INT, &c.hidden, "LSTM hidden size", 1, 65536, 0},
        {"layers", OPT_INT, &c.layers, "LSTM layers", 1, TR_LM_MAX_LAYERS, 0},
        {"dropout", OPT_FLOAT, &c.dropout, "dropout", 0, 0.99, 0},
        {"batch", OPT_INT, &batch, "lanes per batch", 1, 100000, 0},
        {"bptt", OPT_INT, &bptt, "steps per window", 1, 100000, 0},
        {"lr", OPT_FLOAT, &lr, "SGD learning rate", 1e-9, 1e9, 0},
        {"clip", OPT_FLOAT, &clip, "gradient norm clip", 0, 1e9, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
        {"seconds", OPT_DOUBLE, &seconds, "timed training time", 0.01, 1e6, 0},
        {"seed", OPT_U64, &seed, "random seed", 1, 0, 0},
    };
    int r = opts_parse(s, 13, argc, argv, 1, "triad bench lm --train FILE [options]",
                       "Training throughput of the word LSTM LM: after " "3" " warm-up batches, the\n"
                       "updates (forward, backward, clip, SGD) are timed one by one until --seconds;\n"
                       "reading and batching the data is not timed. Prints one JSON line.");
    if (r)
        return r == 1 ? 0 : 2;
    if (!train) {
        fprintf(stderr, "%s: --train is required\n", cmd);
        return 2;
    }
    if (c.emb == 0)
        c.emb = c.hidden;
    tr_set_threads(threads);
    tr_err err;
    tr_vocab *v = NULL;
    tr_lm m;
    tr_lm_state st;
    tr_optim o;
    tr_batcher *b = NULL;
    tr_opt_config oc = tr_opt_defaults(TR_OPT_SGD);
    oc.lr = lr;
    if (tr_vocab_build(&v, train, 1, 1, c.vocab_size, NULL, NULL, &err)) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    c.vocab_size = tr_vocab_size(v);
    int rc = 0;
    if (tr_lm_init(&m, &c, &err) || tr_lm_state_init(&st, &m, bptt, batch, seed, 1, &err) ||
        tr_optim_init(&o, &oc, &m.params, &err) || tr_batcher_open(&b, train, v, 1, batch, bptt, &err)) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    tr_lm_init_weights(&m, seed);
    tr_seq_model sm = tr_lm_seq(&m);
    double timed = 0.0, loss = 0.0, norm;
    int64_t tokens = 0, batches = 0;
    int steps, k = 0;
    while (timed < seconds) {
        if (tr_batcher_next(b, st.seq.x, st.seq.y, &steps, &err)) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            rc = 1;
            break;
        }
        if (steps == 0) { /* next epoch */
            if (tr_batcher_rewind(b, &err))
                break;
            tr_lm_state_reset(&st, &m);
            continue;
        }
        double t0 = tr_now_seconds();
        loss = tr_seq_train_step(&sm, &st.seq, &o, steps, clip, &norm) / (double)(steps * batch);
        double dt = tr_now_seconds() - t0;
        if (k++ < BENCH_WARMUP)
            continue;
        timed += dt;
        tokens += (int64_t)steps * batch;
        batches++;
    }
    if (!rc) {
        double tps = tokens / timed;
        printf("{\"system\": \"triad\", \"threads\": %d, \"tokens_per_s\": %.1f, \"batches\": %lld, \"seconds\": %.2f, "
               "\"loss\": %.4f, \"params\": %lld, \"gflops\": %.2f, \"vocab\": %d, \"emb\": %d, \"hidden\": %d, "
               "\"layers\": %d, \"batch\": %d, \"bptt\": %d}\n",
               threads, tps, (long long)batches, timed, loss, (long long)tr_params_count(&m.params),
               tps * lm_train_flops_per_token(&c) / 1e9, c.vocab_size, c.emb, c.hidden, c.layers, batch, bptt);
    }
    tr_batcher_close(b);
    tr_optim_free(&o);
    tr_lm_state_free(&st);
    tr_lm_free(&m);
    tr_vocab_free(v);
    return rc;
}

int tr_cli_bench(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"sgemm", "cblas_sgemm GFLOP/s (the machine's peak)", bench_sgemm},
        {"lm", "training throughput of the word LSTM language model", bench_lm},
    };
    return tr_cli_dispatch("bench", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
