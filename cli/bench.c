/* triad bench: measurements that the benchmarks in bench/ are built from.
 *   sgemm  the machine's single-precision matrix-product rate (the "peak")
 *   lm     training throughput of a language model (the word LSTM LM or
 *          LightRNN), timed the same way as bench/torch_lm_bench.py times
 *          PyTorch */
#include "cli.h"
#include "opts.h"
#include "triad/lightrnn.h"
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

/* Multiply-adds of one training token, times 2 (flops), forward only: LSTM
 * layers 2 * 4H * (I + H) per step, decoders 2 * H * (outputs). The word LM
 * runs one step and V outputs per token, LightRNN two steps and R + C
 * outputs. Training costs three times that (forward, gradient of the input,
 * gradient of the weights). */
static double train_flops_per_token(const tr_cli_model *k, void *m)
{
    const tr_lm_config *c = k->seq(m).cfg;
    int lightrnn = k == &TR_CLI_LIGHTRNN;
    double out = lightrnn ? (double)((tr_lightrnn *)m)->R + ((tr_lightrnn *)m)->C : (double)c->vocab_size;
    double f = 0.0;
    for (int l = 0; l < c->layers; l++)
        f += 2.0 * 4 * c->hidden * ((l ? c->hidden : c->emb) + c->hidden);
    return 3.0 * ((lightrnn ? 2.0 : 1.0) * f + 2.0 * c->hidden * out);
}

#define BENCH_WARMUP 3

static int bench_lm(int argc, char **argv)
{
    const char *cmd = "triad bench lm", *train = NULL, *kind = "lm";
    tr_lm_config c = {10000, 0, 650, 2, 0.5f, 1};
    int batch = 32, bptt = 35, threads = 1, min_count = 1;
    float lr = 20.0f, clip = 0.25f;
    double seconds = 30.0;
    uint64_t seed = 1;
    opt_spec s[] = {
        {"model", OPT_STR, &kind, "lm (full softmax) or lightrnn", 1, 0, 0},
        {"train", OPT_STR, &train, "training text", 1, 0, 0},
        {"vocab", OPT_INT, &c.vocab_size, "vocabulary size with <unk> and <eos>", 3, 100000000, 0},
        {"min-count", OPT_INT, &min_count, "keep words seen at least this often", 1, 1000000000, 0},
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
    const int ns = (int)(sizeof s / sizeof s[0]);
    int r = opts_parse(s, ns, argc, argv, 1, "triad bench lm --train FILE [--model lm|lightrnn] [options]",
                       "Training throughput of a language model: after " "3" " warm-up batches, the\n"
                       "updates (forward, backward, clip, SGD) are timed one by one until --seconds;\n"
                       "reading and batching the data is not timed. Prints one JSON line.");
    if (r)
        return r == 1 ? 0 : 2;
    if (!train) {
        fprintf(stderr, "%s: --train is required\n", cmd);
        return 2;
    }
    const tr_cli_model *k = !strcmp(kind, "lm") ? &TR_CLI_LM : !strcmp(kind, "lightrnn") ? &TR_CLI_LIGHTRNN : NULL;
    if (!k) {
        fprintf(stderr, "%s: --model must be lm or lightrnn, got '%s'\n", cmd, kind);
        return 2;
    }
    if (c.emb == 0)
        c.emb = c.hidden;
    tr_set_threads(threads);
    tr_err err;
    tr_vocab *v = NULL;
    tr_optim o;
    tr_batcher *b = NULL;
    tr_opt_config oc = tr_opt_defaults(TR_OPT_SGD);
    oc.lr = lr;
    if (tr_vocab_build(&v, train, 1, min_count, c.vocab_size, NULL, NULL, &err)) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    c.vocab_size = tr_vocab_size(v);
    void *m = tr_xcalloc(1, k->size);
    tr_seq_model sm;
    tr_seq_state *st = NULL;
    if (k->init(m, &c, &err) || (sm = k->seq(m), !(st = sm.state_new(m, bptt, batch, seed, 1, &err))) ||
        tr_optim_init(&o, &oc, sm.params, &err) || tr_batcher_open(&b, train, v, 1, batch, bptt, &err)) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return 1;
    }
    k->init_weights(m, seed);
    double timed = 0.0, loss = 0.0, norm;
    int64_t tokens = 0, batches = 0;
    int rc = 0, steps, n = 0;
    while (timed < seconds) {
        if (tr_batcher_next(b, st->x, st->y, &steps, &err)) {
            fprintf(stderr, "%s: %s\n", cmd, err.msg);
            rc = 1;
            break;
        }
        if (steps == 0) { /* next epoch */
            if (tr_batcher_rewind(b, &err))
                break;
            tr_seq_reset(st, &sm);
            continue;
        }
        double t0 = tr_now_seconds();
        loss = tr_seq_train_step(&sm, st, &o, steps, clip, &norm) / (double)(steps * batch);
        double dt = tr_now_seconds() - t0;
        if (n++ < BENCH_WARMUP)
            continue;
        timed += dt;
        tokens += (int64_t)steps * batch;
        batches++;
    }
    if (!rc) {
        double tps = tokens / timed;
        printf("{\"system\": \"triad\", \"model\": \"%s\", \"threads\": %d, \"tokens_per_s\": %.1f, "
               "\"batches\": %lld, \"seconds\": %.2f, \"loss\": %.4f, \"params\": %lld, \"gflops\": %.2f, "
               "\"vocab\": %d, \"emb\": %d, \"hidden\": %d, \"layers\": %d, \"batch\": %d, \"bptt\": %d}\n",
               k->name, threads, tps, (long long)batches, timed, loss, (long long)tr_params_count(sm.params),
               tps * train_flops_per_token(k, m) / 1e9, c.vocab_size, c.emb, c.hidden, c.layers, batch, bptt);
    }
    tr_batcher_close(b);
    tr_optim_free(&o);
    sm.state_delete(st);
    k->free(m);
    free(m);
    tr_vocab_free(v);
    return rc;
}

int tr_cli_bench(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"sgemm", "cblas_sgemm GFLOP/s (the machine's peak)", bench_sgemm},
        {"lm", "training throughput of a language model (lm or lightrnn)", bench_lm},
    };
    return tr_cli_dispatch("bench", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
