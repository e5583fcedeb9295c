/* triad lightrnn: train and eval (the shared language-model commands of
 * cli/lm.c, driven through TR_CLI_LIGHTRNN), and `realloc`, which runs the
 * word allocation solvers of triad/lightrnn.h on saved loss matrices (or on
 * a random instance, to time them without a trained model) and prints cost,
 * lower bound, gap and time of each. */
#include "cli.h"
#include "opts.h"
#include "triad/io.h"
#include "triad/lightrnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- instances */

/* The loss matrices of one problem, in double. */
typedef struct {
    int V, R, C;
    double *Lr, *Lc;
} losses;

static void losses_free(losses *p)
{
    free(p->Lr);
    free(p->Lc);
    p->Lr = p->Lc = NULL;
}

/* A (V, K) F32 tensor of f as doubles; *K from its shape. */
static tr_status read_matrix(const tr_st_file *f, const char *path, const char *name, const char *k, double **out,
                             int *V, int *K, tr_err *err)
{
    const tr_tensor *t = tr_st_get(f, name);
    if (!t)
        return tr_err_set(err, TR_ERR_FORMAT, "%s: no tensor '%s' (expected an F32 tensor of shape (V, %s))", path,
                          name, k);
    char shape[128];
    tr_tensor_shape_str(t, shape, sizeof shape);
    if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > INT32_MAX || t->shape[1] > INT32_MAX)
        return tr_err_set(err, TR_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected (V, %s) with V, %s >= 1", path,
                          name, shape, k, k);
    *V = (int)t->shape[0];
    *K = (int)t->shape[1];
    double *d = malloc((size_t)t->size * sizeof *d);
    if (!d)
        return tr_err_set(err, TR_ERR_NOMEM, "%s: no memory for tensor '%s' %s as doubles", path, name, shape);
    for (int64_t i = 0; i < t->size; i++) {
        d[i] = t->data[i];
        if (!isfinite(d[i])) {
            free(d);
            return tr_err_set(err, TR_ERR_FORMAT, "%s: %s[%lld][%lld] is not finite (%g)", path, name,
                              (long long)(i / t->shape[1]), (long long)(i % t->shape[1]), (double)t->data[i]);
        }
    }
    *out = d;
    return TR_OK;
}

static tr_status load_losses(losses *p, const char *path, tr_err *err)
{
    memset(p, 0, sizeof *p);
    tr_st_file *f = NULL;
    tr_status st = tr_st_open(&f, path, err);
    if (st)
        return st;
    int Vc = 0;
    st = read_matrix(f, path, "loss_row", "R", &p->Lr, &p->V, &p->R, err);
    if (!st)
        st = read_matrix(f, path, "loss_col", "C", &p->Lc, &Vc, &p->C, err);
    tr_st_close(f);
    if (!st && Vc != p->V)
        st = tr_err_set(err, TR_ERR_SHAPE, "%s: loss_row has %d words (rows of the tensor) but loss_col has %d", path,
                        p->V, Vc);
    if (!st && (int64_t)p->R * p->C < p->V)
        st = tr_err_set(err, TR_ERR_SHAPE, "%s: %d words do not fit a %d x %d table (loss_row has R = %d columns, "
                        "loss_col C = %d)", path, p->V, p->R, p->C, p->R, p->C);
    if (st)
        losses_free(p);
    return st;
}

/* One part of a random instance (see RANDOM_HELP): L[w][k] = count_w *
 * (logsumexp_k' z[w][k'] - z[w][k]), z[w][k] = pop_k + noise. */
static void random_part(double *L, int V, int K, tr_rng *g)
{
    double *pop = malloc((size_t)K * sizeof *pop);
    TR_ASSERT(pop != NULL);
    for (int k = 0; k < K; k++)
        pop[k] = tr_rng_normal(g);
    for (int w = 0; w < V; w++) {
        double *l = L + (size_t)w * K, mx = -INFINITY, s = 0.0;
        for (int k = 0; k < K; k++) {
            l[k] = pop[k] + tr_rng_normal(g);
            mx = l[k] > mx ? l[k] : mx;
        }
        for (int k = 0; k < K; k++)
            s += exp(l[k] - mx);
        double lse = mx + log(s), count = ceil(1e6 / (w + 1.0));
        for (int k = 0; k < K; k++)
            l[k] = count * (lse - l[k]);
    }
    free(pop);
}

#define RANDOM_HELP                                                                                            \
    "--random V makes an instance without a model: word w (0-based) has count n_w = ceil(1e6 / (w+1))\n"   \
    "(Zipf), logits z[w][r] = p_r + e[w][r] with a shared row popularity p_r ~ N(0,1) and e ~ N(0,1),\n"     \
    "loss_row[w][r] = n_w * -log softmax(z[w])[r]; loss_col likewise with its own popularity and noise.\n"   \
    "R = C = ceil(sqrt V) unless --rows/--cols say otherwise; the same --seed gives the same instance."

static tr_status random_losses(losses *p, int V, int R, int C, uint64_t seed, tr_err *err)
{
    memset(p, 0, sizeof *p);
    int side = (int)ceil(sqrt((double)V));
    while ((int64_t)side * side < V)
        side++;
    p->V = V;
    p->R = R > 0 ? R : side;
    p->C = C > 0 ? C : side;
    if ((int64_t)p->R * p->C < V)
        return tr_err_set(err, TR_ERR_ARG, "--random %d words do not fit a %d x %d table (--rows, --cols)", V, p->R,
                          p->C);
    p->Lr = malloc((size_t)V * (size_t)p->R * sizeof(double));
    p->Lc = malloc((size_t)V * (size_t)p->C * sizeof(double));
    if (!p->Lr || !p->Lc) {
        losses_free(p);
        return tr_err_set(err, TR_ERR_NOMEM, "--random %d: no memory for the loss matrices", V);
    }
    tr_rng g;
    tr_rng_seed(&g, seed, 1);
    random_part(p->Lr, V, p->R, &g);
    tr_rng_seed(&g, seed, 2);
    random_part(p->Lc, V, p->C, &g);
    return TR_OK;
}

/* ---------------------------------------------------------------- realloc */

typedef struct {
    const int32_t *row, *col;
    int V;
} placement;

static tr_status write_placement(FILE *f, void *ctx, tr_err *err)
{
    const placement *p = ctx;
    for (int w = 0; w < p->V; w++)
        if (fprintf(f, "%d\t%d\t%d\n", w, (int)p->row[w], (int)p->col[w]) < 0)
            return tr_err_set(err, TR_ERR_IO, "write error");
    return TR_OK;
}

static int lightrnn_realloc(int argc, char **argv)
{
    const char *cmd = "triad lightrnn realloc";
    const char *path = NULL, *solver = "all", *output = NULL;
    int random_v = 0, rows = 0, cols = 0;
    uint64_t seed = 1;
    opt_spec s[] = {
        {"losses", OPT_STR, &path, "safetensors file with F32 loss_row (V, R) and loss_col (V, C)", 1, 0, 0},
        {"random", OPT_INT, &random_v, "instead of --losses, a random instance of V words (below)", 1, 1e8, 0},
        {"rows", OPT_INT, &rows, "with --random: rows R (0 = ceil(sqrt V))", 0, 1e8, 0},
        {"cols", OPT_INT, &cols, "with --random: columns C (0 = ceil(sqrt V))", 0, 1e8, 0},
        {"seed", OPT_U64, &seed, "with --random: its seed", 1, 0, 0},
        {"solver", OPT_STR, &solver, "greedy, exact, alternating or all", 1, 0, 0},
        {"output", OPT_STR, &output, "write the cheapest placement found, lines word_index<TAB>row<TAB>col", 1, 0, 0},
    };
    const int ns = (int)(sizeof s / sizeof s[0]);
    int r = opts_parse(s, ns, argc, argv, 1,
                       "triad lightrnn realloc (--losses FILE | --random V [--seed S]) [--solver S] [--output FILE]",
                       "Re-allocates the LightRNN word table: places V words in an R x C table, one per cell,\n"
                       "minimising sum_w loss_row[w][row] + loss_col[w][col], with each solver, and prints its cost,\n"
                       "the lower bound (row and column parts solved separately), the gap (cost - bound) / |bound|\n"
                       "and the time. `exact` runs only for V <= 20000 under --solver all.\n\n" RANDOM_HELP);
    if (r)
        return r == 1 ? 0 : 2;
    if (!path == !opts_find(s, ns, "random")->set) {
        fprintf(stderr, "%s: give exactly one of --losses FILE and --random V (see --help)\n", cmd);
        return 2;
    }
    if (path && (opts_find(s, ns, "rows")->set || opts_find(s, ns, "cols")->set || opts_find(s, ns, "seed")->set)) {
        fprintf(stderr, "%s: --rows, --cols and --seed go with --random, not --losses\n", cmd);
        return 2;
    }
    tr_alloc_method methods[3] = {TR_ALLOC_GREEDY, TR_ALLOC_EXACT, TR_ALLOC_ALTERNATING};
    int nm = 3, all = !strcmp(solver, "all");
    tr_err err;
    tr_err_clear(&err);
    if (!all) {
        if (tr_alloc_method_parse(solver, &methods[0], &err)) {
            fprintf(stderr, "%s: --solver must be greedy, exact, alternating or all, got '%s'\n", cmd, solver);
            return 2;
        }
        nm = 1;
    }

    losses p;
    double t0 = tr_now_seconds();
    if (path ? load_losses(&p, path, &err) : random_losses(&p, random_v, rows, cols, seed, &err))
        return tr_cli_fail(cmd, &err);
    double t_load = tr_now_seconds() - t0;
    if (!all && methods[0] == TR_ALLOC_EXACT && p.V > TR_ALLOC_EXACT_MAX) {
        losses_free(&p);
        fprintf(stderr, "%s: --solver exact takes at most %d words (TR_ALLOC_EXACT_MAX), this instance has %d\n", cmd,
                TR_ALLOC_EXACT_MAX, p.V);
        return 1;
    }
    if (path)
        printf("instance: %s: V = %d words, R = %d rows, C = %d columns (read in %.2f s)\n", path, p.V, p.R, p.C,
               t_load);
    else
        printf("instance: random, V = %d words, R = %d rows, C = %d columns, seed %llu (made in %.2f s)\n", p.V, p.R,
               p.C, (unsigned long long)seed, t_load);
    fflush(stdout);

    double bound = 0.0;
    t0 = tr_now_seconds();
    if (tr_alloc_lower_bound(p.Lr, p.Lc, p.V, p.R, p.C, &bound, &err)) {
        losses_free(&p);
        return tr_cli_fail(cmd, &err);
    }
    double t_bound = tr_now_seconds() - t0;
    printf("lower bound %.10g (row and column transportation problems, %.2f s)\n\n", bound, t_bound);
    printf("%-12s %18s %18s %10s %10s\n", "solver", "cost", "bound", "gap %", "seconds");
    fflush(stdout);

    int32_t *row = malloc((size_t)p.V * sizeof *row), *col = malloc((size_t)p.V * sizeof *col);
    int32_t *best_row = malloc((size_t)p.V * sizeof *row), *best_col = malloc((size_t)p.V * sizeof *col);
    if (!row || !col || !best_row || !best_col) {
        free(row);
        free(col);
        free(best_row);
        free(best_col);
        losses_free(&p);
        tr_err_set(&err, TR_ERR_NOMEM, "no memory for %d words", p.V);
        return tr_cli_fail(cmd, &err);
    }
    double best = INFINITY;
    int rc = 0;
    for (int i = 0; i < nm && !rc; i++) {
        const char *name = tr_alloc_method_name(methods[i]);
        if (all && methods[i] == TR_ALLOC_EXACT && p.V > TR_ALLOC_EXACT_MAX) {
            printf("%-12s skipped: V = %d > %d (TR_ALLOC_EXACT_MAX)\n", name, p.V, TR_ALLOC_EXACT_MAX);
            fflush(stdout);
            continue;
        }
        t0 = tr_now_seconds();
        if (tr_alloc_solve(methods[i], p.Lr, p.Lc, p.V, p.R, p.C, row, col, &err)) {
            rc = tr_cli_fail(cmd, &err);
            break;
        }
        double secs = tr_now_seconds() - t0, cost = tr_alloc_cost(p.Lr, p.Lc, p.V, p.R, p.C, row, col);
        printf("%-12s %18.10g %18.10g %10.4f %10.2f\n", name, cost, bound, 100.0 * (cost - bound) / fabs(bound),
               secs);
        fflush(stdout);
        if (cost < best) {
            best = cost;
            memcpy(best_row, row, (size_t)p.V * sizeof *row);
            memcpy(best_col, col, (size_t)p.V * sizeof *col);
        }
    }
    if (!rc && output && best < INFINITY) {
        placement pl = {best_row, best_col, p.V};
        if (tr_atomic_write(output, write_placement, &pl, &err))
            rc = tr_cli_fail(cmd, &err);
    }
    free(row);
    free(col);
    free(best_row);
    free(best_col);
    losses_free(&p);
    return rc;
}

/* ---------------------------------------------------------------- losses */

/* The (V, K) doubles of L as an F32 tensor (a new buffer in *buf). */
static tr_tensor f32_matrix(const double *L, int V, int K, float **buf)
{
    *buf = tr_xmalloc((size_t)V * K * sizeof(float));
    for (size_t i = 0; i < (size_t)V * K; i++)
        (*buf)[i] = (float)L[i];
    return tr_tensor_make(*buf, 2, (int64_t[]){V, K});
}

static int lightrnn_losses(int argc, char **argv)
{
    const char *cmd = "triad lightrnn losses", *model = NULL, *text = NULL, *output = NULL;
    int batch = 32, bptt = 35, threads = 1;
    opt_spec s[] = {
        {"model", OPT_STR, &model, "checkpoint written by triad lightrnn train", 1, 0, 0},
        {"text", OPT_STR, &text, "text to sum the losses over (the training text)", 1, 0, 0},
        {"output", OPT_STR, &output, "safetensors file to write (input of triad lightrnn realloc --losses)", 1, 0, 0},
        {"batch", OPT_INT, &batch, "lanes", 1, 100000, 0},
        {"bptt", OPT_INT, &bptt, "steps per window", 1, 100000, 0},
        {"threads", OPT_INT, &threads, "BLAS threads", 1, 1024, 0},
    };
    int r = opts_parse(s, 6, argc, argv, 1, "triad lightrnn losses --model FILE --text FILE --output FILE [options]",
                       "Writes the loss matrices of re-allocation for a trained model: loss_row (V, R), the summed\n"
                       "-log P(row i) over every occurrence of word w in the text, and loss_col (V, C) likewise for\n"
                       "columns (F32; metadata: the model's word table cost and the number of occurrences).");
    if (r)
        return r == 1 ? 0 : 2;
    if (!model || !text || !output) {
        fprintf(stderr, "%s: --model, --text and --output are required (see --help)\n", cmd);
        return 2;
    }
    tr_set_threads(threads);
    tr_err err;
    tr_lightrnn m;
    tr_vocab *v = NULL;
    if (tr_lightrnn_load(&m, &v, NULL, model, &err))
        return tr_cli_fail(cmd, &err);
    const int V = m.cfg.vocab_size;
    double *Lr = tr_xmalloc((size_t)V * m.R * sizeof(double)), *Lc = tr_xmalloc((size_t)V * m.C * sizeof(double));
    int64_t tokens = 0;
    double t0 = tr_now_seconds();
    int rc = 0;
    if (tr_lightrnn_losses(&m, v, text, batch, bptt, Lr, Lc, &tokens, &err)) {
        rc = tr_cli_fail(cmd, &err);
    } else {
        double secs = tr_now_seconds() - t0, cost = tr_alloc_cost(Lr, Lc, V, m.R, m.C, m.table.row, m.table.col);
        float *fr, *fc;
        tr_tensor tlr = f32_matrix(Lr, V, m.R, &fr), tc = f32_matrix(Lc, V, m.C, &fc);
        tr_st_entry e[] = {{"loss_row", &tlr}, {"loss_col", &tc}};
        char scost[64], stok[32];
        snprintf(scost, sizeof scost, "%.17g", cost);
        snprintf(stok, sizeof stok, "%lld", (long long)tokens);
        tr_meta meta[] = {{"triad.model", model}, {"triad.text", text}, {"triad.table_cost", scost},
                          {"triad.tokens", stok}};
        if (tr_st_write(output, e, 2, meta, 4, &err))
            rc = tr_cli_fail(cmd, &err);
        else
            printf("%s: V = %d, R = %d, C = %d, %lld occurrences of %s in %.1f s; cost of the model's table %.10g\n",
                   output, V, m.R, m.C, (long long)tokens, text, secs, cost);
        free(fr);
        free(fc);
    }
    free(Lr);
    free(Lc);
    tr_lightrnn_free(&m);
    tr_vocab_free(v);
    return rc;
}

/* LightRNN through the shared language-model train and eval commands. */
static tr_status lr_init(void *m, const tr_lm_config *c, tr_err *err) { return tr_lightrnn_init(m, c, err); }
static void lr_init_weights(void *m, uint64_t seed) { tr_lightrnn_init_weights(m, seed); }
static tr_status lr_load(void *m, tr_vocab **v, int64_t *step, const char *path, tr_err *err)
{
    return tr_lightrnn_load(m, v, step, path, err);
}
static void lr_free(void *m) { tr_lightrnn_free(m); }
static tr_seq_model lr_seq(void *m) { return tr_lightrnn_seq(m); }
static tr_status lr_table(void *model, const char *solver, int realloc, tr_err *err)
{
    tr_lightrnn *m = model;
    m->realloc_enabled = realloc;
    return tr_alloc_method_parse(solver, &m->realloc, err);
}

const tr_cli_model TR_CLI_LIGHTRNN = {
    "lightrnn", "a LightRNN language model (words in a sqrt(V) x sqrt(V) table, factorised softmax)",
    sizeof(tr_lightrnn), lr_init, lr_init_weights, lr_load, lr_free, lr_seq, lr_table,
};

static int lightrnn_train(int argc, char **argv)
{
    return tr_cli_seq_train(argc, argv, &TR_CLI_LIGHTRNN);
}

static int lightrnn_eval(int argc, char **argv)
{
    return tr_cli_seq_eval(argc, argv, &TR_CLI_LIGHTRNN);
}

static int lightrnn_generate(int argc, char **argv)
{
    return tr_cli_seq_generate(argc, argv, &TR_CLI_LIGHTRNN);
}

int tr_cli_lightrnn(int argc, char **argv)
{
    static const tr_cli_command sub[] = {
        {"train", "train a LightRNN language model, re-allocating the word table after each epoch", lightrnn_train},
        {"eval", "perplexity of a text", lightrnn_eval},
        {"generate", "sample text", lightrnn_generate},
        {"losses", "write a trained model's re-allocation loss matrices (input of realloc)", lightrnn_losses},
        {"realloc", "re-allocate the word table from saved losses; cost, bound, gap and time per solver",
         lightrnn_realloc},
    };
    return tr_cli_dispatch("lightrnn", sub, (int)(sizeof sub / sizeof sub[0]), argc, argv);
}
