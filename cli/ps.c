/* triad ps: data-parallel training on the parameter server (triad/ps.h):
 * an image classifier on Fashion-MNIST or the LSTM language model, with a
 * chosen number of workers, consistency mode, update rule and transport, or
 * under the delay simulator. Prints one line per evaluation, writes a CSV or
 * JSON-lines log, and a checkpoint of the server's tables. */
#include "cli.h"
#include "opts.h"
#include "triad/data.h"
#include "triad/lm.h"
#include "triad/ps.h"
#include "triad/vision.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* ---------------------------------------------------------------- reports */

typedef struct {
    int quiet, json, log_rank, rank;
    FILE *log;
    const char *cmd;
    int sim;
} progress;

static void log_line(progress *g, const tr_ps_report *r)
{
    const tr_ps_stats *st = &r->stats;
    const char *ev = r->event == TR_PS_DEAD ? "dead" : r->final ? "final" : "eval";
    if (g->json) {
        fprintf(g->log,
                "{\"event\": \"%s\", \"time\": %.3f, \"sim_time\": %.6g, \"epoch\": %.6g, \"updates\": %lld, "
                "\"pushes\": %lld, \"samples\": %lld, \"train_loss\": %s%.6g%s, \"loss\": %s%.6g%s, \"accuracy\": "
                "%s%.6g%s, \"stale_mean\": %s%.6g%s, \"stale_max\": %lld, \"gap_max\": %lld, \"lr\": %.6g, "
                "\"dead\": %d, \"worker\": %d, \"samples_per_s\": %.6g, \"bytes_in\": %lld, \"bytes_out\": %lld}\n",
                ev, r->seconds, r->sim_time, r->epoch, (long long)st->updates, (long long)st->pushes,
                (long long)st->samples, isfinite(r->train_loss) ? "" : "\"", r->train_loss,
                isfinite(r->train_loss) ? "" : "\"", isfinite(r->loss) ? "" : "\"", r->loss,
                isfinite(r->loss) ? "" : "\"", isfinite(r->accuracy) ? "" : "\"", r->accuracy,
                isfinite(r->accuracy) ? "" : "\"", isfinite(r->stale_mean) ? "" : "\"", r->stale_mean,
                isfinite(r->stale_mean) ? "" : "\"", (long long)st->stale_max, (long long)st->gap_max,
                (double)st->lr, st->dead, r->worker, r->samples_per_s, (long long)st->bytes_in,
                (long long)st->bytes_out);
    } else {
        fprintf(g->log, "%s,%.3f,%.6g,%.6g,%lld,%lld,%lld,%.6g,%.6g,%.6g,%.6g,%lld,%lld,%.6g,%d,%d,%.6g,%lld,%lld\n", ev,
                r->seconds, r->sim_time, r->epoch, (long long)st->updates, (long long)st->pushes,
                (long long)st->samples, r->train_loss, r->loss, r->accuracy, r->stale_mean, (long long)st->stale_max,
                (long long)st->gap_max, (double)st->lr, st->dead, r->worker, r->samples_per_s,
                (long long)st->bytes_in, (long long)st->bytes_out);
    }
    fflush(g->log);
}

static void on_report(void *ctx, const tr_ps_report *r)
{
    progress *g = ctx;
    if (g->log && g->rank == g->log_rank && r->event != TR_PS_START)
        log_line(g, r);
    if (g->quiet)
        return;
    if (r->event == TR_PS_DEAD) {
        fprintf(stderr, "%s: server %d declared worker %d dead (silent too long); training goes on with %d workers\n",
                g->cmd, r->server, r->worker, r->stats.live);
        return;
    }
    if (r->event != TR_PS_EVAL)
        return;
    char quality[64], sim[48] = "", stale[64] = "";
    if (isfinite(r->accuracy))
        snprintf(quality, sizeof quality, "loss %.4f  acc %.2f%%", r->loss, 100.0 * r->accuracy);
    else
        snprintf(quality, sizeof quality, "loss %.4f  ppl %.2f", r->loss, exp(r->loss));
    if (g->sim)
        snprintf(sim, sizeof sim, "  sim t %.1f", r->sim_time);
    if (isfinite(r->stale_mean))
        snprintf(stale, sizeof stale, "  stale %.2f (max %lld)", r->stale_mean, (long long)r->stats.stale_max);
    fprintf(stderr, "%s %6.2f  %s  train %.4f  %.0f upd/s %.0f samples/s%s  gap %lld%s  (%.1fs)%s\n",
            r->final ? "final" : "epoch", r->epoch, quality, r->train_loss, r->updates_per_s, r->samples_per_s, stale,
            (long long)r->stats.gap_max, sim, r->seconds, r->stats.dead ? "  [workers lost]" : "");
    if (r->final && r->stats.updates > 0 && r->stats.bytes_in > 0)
        fprintf(stderr, "%s: server 0 moved %.0f bytes per update (%.0f in, %.0f out)\n", g->cmd,
                (double)(r->stats.bytes_in + r->stats.bytes_out) / (double)r->stats.updates,
                (double)r->stats.bytes_in / (double)r->stats.updates,
                (double)r->stats.bytes_out / (double)r->stats.updates);
}

/* ---------------------------------------------------------------- train */

static int ps_train(int argc, char **argv)
{
    const char *cmd = "triad ps train";
    const char *model = "mlp", *mode_s = "asp", *rule_s = "sgd", *transport_s = "inproc", *delay_s = NULL;
    const char *data = "data/fashion", *train_path = NULL, *valid_path = NULL, *output = NULL, *log_path = NULL;
    int workers = 1, servers = 1, epochs = 5, batch = 32, evals = 1, threads = 0, quiet = 0, resume = 0, force = 0;
    int hidden = 0, layers = 2, channels = 16, emb = 0, bptt = 35, eval_batch = 1, vocab = 10000, min_count = 1;
    int kill_worker = -1, decay_every = 1;
    int64_t kill_step = 0, train_limit = 0, test_limit = 0;
    float lr = 0.1f, momentum = 0.9f, lambda = -1.0f, ms_decay = 0.95f, eps = 0.0f, lr_decay = 1.0f;
    float dropout = 0.2f, clip = 0.25f;
    double timeout = 60.0, max_time = 0.0;
    uint64_t seed = 1;
    opt_spec s[] = {
        {"model", OPT_STR, &model, "mlp, cnn (Fashion-MNIST) or lm (word LSTM language model)", 1, 0, 0},
        {"workers", OPT_INT, &workers, "workers M (mpi: by default the ranks after the servers)", 1, 4096, 0},
        {"servers", OPT_INT, &servers, "servers S the tables are sharded over", 1, 4096, 0},
        {"mode", OPT_STR, &mode_s, "bsp, ssp:S (staleness bound), asp, or ma:K (model averaging every K steps)", 1, 0, 0},
        {"rule", OPT_STR, &rule_s, "server update: sgd, momentum, adagrad, dcasgd-c or dcasgd-a", 1, 0, 0},
        {"transport", OPT_STR, &transport_s, "inproc (threads) or mpi (under mpiexec.mpich)", 1, 0, 0},
        {"simulate-delay", OPT_STR, &delay_s,
         "simulate M workers in one thread: constant[:D], uniform[:LO:HI], slow[:F[:K]] or pareto[:A]", 1, 0, 0},
        {"epochs", OPT_INT, &epochs, "passes over the training data (the total when resuming)", 1, 1000000, 0},
        {"batch", OPT_INT, &batch, "mini-batch of each worker (lm: lanes of bptt steps)", 1, 100000, 0},
        {"lr", OPT_FLOAT, &lr, "learning rate (lm: 20 unless given)", 1, 0, 0},
        {"lr-decay", OPT_FLOAT, &lr_decay, "multiply the rate by this every --decay-every epochs", 1, 0, 0},
        {"decay-every", OPT_INT, &decay_every, "epochs between rate decays", 1, 1000000, 0},
        {"momentum", OPT_FLOAT, &momentum, "rule momentum: mu", 1, 0, 0},
        {"lambda", OPT_FLOAT, &lambda, "dcasgd-c: lambda; dcasgd-a: lambda0 (-1 = the paper's 0.04 and 2)", 1, 0, 0},
        {"ms-decay", OPT_FLOAT, &ms_decay, "dcasgd-a: momentum of the mean square", 1, 0, 0},
        {"eps", OPT_FLOAT, &eps, "adagrad / dcasgd-a epsilon (0 = 1e-10 and 1e-7)", 1, 0, 0},
        {"seed", OPT_U64, &seed, "random seed (weights, shuffling, dropout, delays)", 1, 0, 0},
        {"evals-per-epoch", OPT_INT, &evals, "evaluations per epoch (0 = only at the end)", 0, 1000, 0},
        {"timeout", OPT_DOUBLE, &timeout, "declare a worker dead after this many silent seconds (sim: time units; 0 = never)",
         0, 1e12, 0},
        {"kill-worker", OPT_INT, &kill_worker, "fault injection: this worker falls silent ...", 0, 4095, 0},
        {"kill-step", OPT_I64, &kill_step, "... after this many of its pushes", 0, 1e15, 0},
        {"output", OPT_STR, &output, "checkpoint of the server's tables, written at the end", 1, 0, 0},
        {"resume", OPT_FLAG, &resume, "continue from the checkpoint in --output", 1, 0, 0},
        {"force", OPT_FLAG, &force, "replace an existing --output", 1, 0, 0},
        {"log", OPT_STR, &log_path, "append one line per evaluation: CSV, or JSON lines for *.jsonl", 1, 0, 0},
        {"max-time", OPT_DOUBLE, &max_time, "stop after this many seconds, evaluate and save (0 = no limit)", 0, 1e12, 0},
        {"threads", OPT_INT, &threads, "BLAS threads of each worker (0 = 1 with several workers, else all)", 0,
         1024, 0},
        {"quiet", OPT_FLAG, &quiet, "no progress lines", 1, 0, 0},
        {"data", OPT_STR, &data, "mlp/cnn: directory of the four Fashion-MNIST .gz files", 1, 0, 0},
        {"train-limit", OPT_I64, &train_limit, "mlp/cnn: use only the first N training images (0 = all)", 0, 1e12, 0},
        {"test-limit", OPT_I64, &test_limit, "mlp/cnn: evaluate only the first N test images (0 = all)", 0, 1e12, 0},
        {"hidden", OPT_INT, &hidden, "mlp: width of each hidden layer; lm: LSTM size (0 = mlp 256, lm 128)", 1, 65536, 0},
        {"layers", OPT_INT, &layers, "mlp: hidden layers; lm: LSTM layers", 0, 8, 0},
        {"channels", OPT_INT, &channels, "cnn: channels of the first convolution", 1, 1024, 0},
        {"train", OPT_STR, &train_path, "lm: training text", 1, 0, 0},
        {"valid", OPT_STR, &valid_path, "lm: validation text (the held-out loss)", 1, 0, 0},
        {"vocab", OPT_INT, &vocab, "lm: vocabulary size", 3, 10000000, 0},
        {"min-count", OPT_INT, &min_count, "lm: keep words seen at least this often", 1, 1e9, 0},
        {"emb", OPT_INT, &emb, "lm: embedding size (0 = --hidden)", 0, 65536, 0},
        {"dropout", OPT_FLOAT, &dropout, "lm: dropout", 0, 0.99, 0},
        {"bptt", OPT_INT, &bptt, "lm: steps per window", 1, 100000, 0},
        {"clip", OPT_FLOAT, &clip, "lm: clip each worker's gradient norm to this (0 = off)", 0, 1e9, 0},
        {"eval-batch", OPT_INT, &eval_batch, "lm: lanes for validation", 1, 100000, 0},
    };
    const int ns = (int)(sizeof s / sizeof s[0]);
    int r = opts_parse(s, ns, argc, argv, 1, "triad ps train --model mlp|cnn|lm [options]",
                       "Trains a model data-parallel on a parameter server: M workers pull the weights, compute\n"
                       "gradients on their share of the data and push them to S servers, which apply the update\n"
                       "rule (DC-ASGD compensates the delay of asynchronous pushes). --simulate-delay runs M\n"
                       "logical workers in one thread with simulated compute times, deterministically.\n"
                       "mpi: mpiexec.mpich -n S+M triad ps train --transport mpi ... (ranks 0..S-1 serve).");
    if (r)
        return r == 1 ? 0 : 2;

    /* ------------------------------------------------ options */
    tr_err err;
    tr_err_clear(&err);
    tr_ps_train_opts o;
    memset(&o, 0, sizeof o);
    const int is_lm = !strcmp(model, "lm");
    tr_cls_kind ck = TR_CLS_MLP;
    if (!is_lm && tr_cls_kind_parse(model, &ck, &err)) {
        fprintf(stderr, "%s: --model must be mlp, cnn or lm, got '%s'\n", cmd, model);
        return 2;
    }
    if (tr_ps_mode_parse(mode_s, &o.mode, &err) || tr_ps_rule_parse(rule_s, &o.rule.kind, &err))
        return tr_cli_fail(cmd, &err) + 1;
    if (!strcmp(transport_s, "inproc"))
        o.transport = TR_PS_INPROC;
    else if (!strcmp(transport_s, "mpi"))
        o.transport = TR_PS_MPI;
    else {
        fprintf(stderr, "%s: --transport must be inproc or mpi, got '%s'\n", cmd, transport_s);
        return 2;
    }
    if (delay_s) {
        if (o.transport == TR_PS_MPI) {
            fprintf(stderr, "%s: --simulate-delay runs every worker in one process; it cannot be combined with "
                            "--transport mpi\n", cmd);
            return 2;
        }
        if (tr_ps_delay_parse(delay_s, &o.delay, &err))
            return tr_cli_fail(cmd, &err) + 1;
        o.transport = TR_PS_SIM;
    }
    tr_ps_rule rule = tr_ps_rule_defaults(o.rule.kind);
    rule.lr = opts_find(s, ns, "lr")->set ? lr : is_lm ? 20.0f : 0.1f;
    rule.momentum = momentum;
    if (lambda != -1.0f)
        rule.lambda = lambda;
    rule.ms_decay = ms_decay;
    if (eps != 0.0f)
        rule.eps = eps;
    rule.lr_decay = lr_decay;
    rule.decay_every = decay_every;
    o.rule = rule;
    if (tr_ps_rule_check(&o.rule, &err))
        return tr_cli_fail(cmd, &err) + 1;
    if (!output && resume) {
        fprintf(stderr, "%s: --resume continues the checkpoint named by --output\n", cmd);
        return 2;
    }
    if (output && !resume && tr_cli_file_exists(output) && !force) {
        fprintf(stderr, "%s: %s exists; use --resume to continue it or --force to replace it\n", cmd, output);
        return 2;
    }
    if (resume && !tr_cli_file_exists(output)) {
        fprintf(stderr, "%s: --resume: %s does not exist\n", cmd, output);
        return 2;
    }
    if (!is_lm) {
        const char *lm_only[] = {"train", "valid", "vocab", "min-count", "emb", "dropout", "bptt", "clip", "eval-batch"};
        for (size_t i = 0; i < sizeof lm_only / sizeof lm_only[0]; i++)
            if (opts_find(s, ns, lm_only[i])->set) {
                fprintf(stderr, "%s: --%s applies to --model lm only\n", cmd, lm_only[i]);
                return 2;
            }
    } else {
        const char *img_only[] = {"data", "train-limit", "test-limit", "channels"};
        for (size_t i = 0; i < sizeof img_only / sizeof img_only[0]; i++)
            if (opts_find(s, ns, img_only[i])->set) {
                fprintf(stderr, "%s: --%s applies to --model mlp and cnn only\n", cmd, img_only[i]);
                return 2;
            }
        if (!train_path || !valid_path) {
            fprintf(stderr, "%s: --model lm needs --train and --valid\n", cmd);
            return 2;
        }
    }
    if (ck == TR_CLS_CNN && !is_lm && (opts_find(s, ns, "hidden")->set || opts_find(s, ns, "layers")->set)) {
        fprintf(stderr, "%s: --hidden and --layers shape the mlp; the cnn takes --channels\n", cmd);
        return 2;
    }

    /* ------------------------------------------------ ranks */
    int rank = 0, ranks = 1;
    if (o.transport == TR_PS_MPI) {
        if (tr_ps_mpi_init(&argc, &argv, &rank, &ranks, &err))
            return tr_cli_fail(cmd, &err);
        const int need_s = o.mode.kind == TR_PS_MA ? 0 : servers;
        if (o.mode.kind == TR_PS_MA && opts_find(s, ns, "servers")->set) {
            if (rank == 0)
                fprintf(stderr, "%s: model averaging (--mode ma:K) has no servers; drop --servers\n", cmd);
            tr_ps_mpi_finalize();
            return 2;
        }
        if (!opts_find(s, ns, "workers")->set)
            workers = ranks - need_s;
        if (ranks < 2 || workers < 1 || need_s + workers != ranks) {
            if (rank == 0)
                fprintf(stderr,
                        "%s: mpiexec started %d rank%s, but %d server%s and %d worker%s need %d: run mpiexec.mpich "
                        "-n %d (or change --servers/--workers)\n",
                        cmd, ranks, ranks == 1 ? "" : "s", need_s, need_s == 1 ? "" : "s", workers,
                        workers == 1 ? "" : "s", need_s + (workers > 0 ? workers : 1),
                        need_s + (workers > 0 ? workers : 1));
            tr_ps_mpi_finalize();
            return 2;
        }
    }
    o.workers = workers;
    o.servers = servers;
    o.epochs = epochs;
    o.evals_per_epoch = evals;
    o.seed = seed;
    o.timeout = timeout;
    o.kill_worker = kill_worker;
    o.kill_step = kill_step;
    o.max_seconds = max_time;
    o.save = output;
    o.resume = resume ? output : NULL;
    /* from here on an error is kept in err and printed once below (with
     * mpi, after every rank has said whether its set-up worked) */
    int rc = 0;
    if (tr_ps_train_check(&o, &err))
        rc = 2;
    if (!threads)
        threads = (o.transport == TR_PS_INPROC && workers > 1) || o.transport == TR_PS_MPI
                      ? 1
                      : (int)sysconf(_SC_NPROCESSORS_ONLN);
    tr_set_threads(threads > 0 ? threads : 1);

    /* ------------------------------------------------ the task */
    tr_ps_task task;
    tr_ps_images *ih = NULL;
    tr_ps_lm *lh = NULL;
    tr_images train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    tr_vocab *v = NULL;
    if (!rc && !is_lm) {
        char ti[4096], tl[4096], ei[4096], el[4096];
        snprintf(ti, sizeof ti, "%s/train-images-idx3-ubyte.gz", data);
        snprintf(tl, sizeof tl, "%s/train-labels-idx1-ubyte.gz", data);
        snprintf(ei, sizeof ei, "%s/t10k-images-idx3-ubyte.gz", data);
        snprintf(el, sizeof el, "%s/t10k-labels-idx1-ubyte.gz", data);
        if (tr_images_load(&train, ti, tl, &err) || tr_images_load(&test, ei, el, &err)) {
            rc = 1;
            if (!tr_cli_file_exists(data)) {
                char why[sizeof err.msg];
                snprintf(why, sizeof why, "%s", err.msg);
                tr_err_set(&err, err.code, "%.300s (scripts/get_data.sh fashion makes %.100s, or give --data DIR)",
                           why, data);
            }
        } else {
            if (train_limit > 0 && train_limit < train.n)
                train.n = train_limit;
            if (test_limit > 0 && test_limit < test.n)
                test.n = test_limit;
            tr_ps_images_config ic;
            memset(&ic, 0, sizeof ic);
            ic.cfg = tr_cls_defaults(ck);
            ic.cfg.h = train.h;
            ic.cfg.w = train.w;
            if (hidden)
                ic.cfg.hidden = hidden;
            ic.cfg.layers = layers;
            ic.cfg.channels = channels;
            ic.train = &train;
            ic.test = &test;
            ic.batch = batch;
            ic.seed = seed;
            if (tr_ps_images_task(&task, &ih, &ic, &err))
                rc = 1;
        }
    } else if (!rc) {
        tr_lm_config c = {vocab, emb, hidden ? hidden : 128, layers, dropout, 1};
        if (c.layers < 1) {
            rc = 2;
            tr_err_set(&err, TR_ERR_ARG, "--layers of the lm must be at least 1");
        } else if (tr_vocab_build(&v, train_path, c.lower, min_count, c.vocab_size, NULL, NULL, &err)) {
            rc = 1;
        } else {
            if (tr_vocab_size(v) < c.vocab_size)
                c.vocab_size = tr_vocab_size(v);
            if (c.emb == 0)
                c.emb = c.hidden;
            tr_ps_lm_config lc;
            memset(&lc, 0, sizeof lc);
            lc.cfg = c;
            lc.vocab = v;
            lc.train_path = train_path;
            lc.valid_path = valid_path;
            lc.batch = batch;
            lc.bptt = bptt;
            lc.eval_batch = eval_batch;
            lc.clip = clip;
            lc.seed = seed;
            if (tr_ps_lm_task(&task, &lh, &lc, &err))
                rc = 1;
        }
    }

    /* ------------------------------------------------ training */
    progress g;
    memset(&g, 0, sizeof g);
    g.quiet = quiet;
    g.cmd = cmd;
    g.rank = rank;
    g.sim = o.transport == TR_PS_SIM;
    g.log_rank = o.transport == TR_PS_MPI && o.mode.kind != TR_PS_MA ? servers : 0;
    if (!rc && log_path && rank == g.log_rank) {
        const int fresh = !tr_cli_file_exists(log_path);
        g.json = ends_with(log_path, ".jsonl") || ends_with(log_path, ".json");
        if (!(g.log = fopen(log_path, "a"))) {
            tr_err_set(&err, TR_ERR_IO, "cannot open --log %s for appending", log_path);
            rc = 1;
        } else if (fresh && !g.json) {
            fprintf(g.log, "event,time,sim_time,epoch,updates,pushes,samples,train_loss,loss,accuracy,stale_mean,"
                           "stale_max,gap_max,lr,dead,worker,samples_per_s,bytes_in,bytes_out\n");
        }
    }
    if (o.transport == TR_PS_MPI) {
        int root_ok = 1;
        const int all_ok = tr_ps_mpi_agree(rc == 0, &root_ok);
        if (rc && (rank == 0 || root_ok))
            tr_cli_fail(cmd, &err);
        if (!all_ok && !rc)
            rc = 1; /* another rank failed and said why */
    } else if (rc) {
        tr_cli_fail(cmd, &err);
    }
    if (!rc && !quiet && rank == g.log_rank) {
        char ms[32], how[96];
        if (o.transport == TR_PS_SIM)
            snprintf(how, sizeof how, "simulated (%s)", delay_s);
        else
            snprintf(how, sizeof how, "%s", transport_s);
        int64_t per = task.epoch_samples / ((int64_t)workers * task.batch_samples);
        fprintf(stderr, "%s: %s, %lld parameters; %d worker%s, %s, %s, lr %g, %s; %lld steps per worker per epoch\n",
                cmd, model, (long long)tr_params_count(task.params), workers, workers == 1 ? "" : "s",
                tr_ps_mode_str(&o.mode, ms, sizeof ms), tr_ps_rule_name(o.rule.kind), (double)o.rule.lr, how,
                (long long)(per > 0 ? per : 1));
    }
    tr_ps_report final;
    memset(&final, 0, sizeof final);
    if (!rc) {
        tr_cli_catch_stop(1);
        tr_status st = tr_ps_train(&task, &o, &tr_cli_stop, on_report, &g, &final, &err);
        tr_cli_catch_stop(0);
        if (st) {
            rc = tr_cli_fail(cmd, &err);
            if (o.transport == TR_PS_MPI) {
                fflush(stderr);
                tr_ps_mpi_abort(1);
            }
        } else if (final.final) {
            if (isfinite(final.accuracy))
                printf("test loss %.4f accuracy %.4f\n", final.loss, final.accuracy);
            else
                printf("valid loss %.4f ppl %.2f\n", final.loss, exp(final.loss));
            if (output)
                fprintf(stderr, "%s: saved %s%s\n", cmd, output, tr_cli_stop ? " (stopped by signal)" : "");
        }
    }
    if (g.log)
        fclose(g.log);
    tr_ps_images_free(ih);
    tr_ps_lm_free(lh);
    tr_images_free(&train);
    tr_images_free(&test);
    tr_vocab_free(v);
    if (o.transport == TR_PS_MPI)
        tr_ps_mpi_finalize();
    return rc;
}

int tr_cli_ps(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"train", "train a model on M workers and S servers (threads, MPI ranks, or simulated)", ps_train},
    };
    return tr_cli_dispatch("ps", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
