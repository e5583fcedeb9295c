/* LightRNN word allocation (triad/lightrnn.h, src/lightrnn/alloc.c, lap.c):
 * the solvers against brute force and an independent Hungarian algorithm,
 * the lower bound against brute-force transportation optima, the orderings
 * exact <= alternating <= greedy and bound <= every cost, the authors'
 * greedy on hand-made instances, argument errors, and `triad lightrnn
 * realloc` end to end (random instances, safetensors files good and bad).
 *
 * Instances come in three kinds: uniform losses, small integers (many ties)
 * and "crowded" ones where every word prefers the same few rows and columns,
 * which is what makes the greedy and the transportation bound work. */
#include "harness.h"
#include "lightrnn/lap.h"
#include "triad/core.h"
#include "triad/io.h"
#include "triad/lightrnn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- instances */

enum { UNIFORM, TIES, CROWDED };

typedef struct {
    int V, R, C;
    double *Lr, *Lc;
} inst;

static void fill_part(double *L, int V, int K, int kind, tr_rng *g)
{
    for (int w = 0; w < V; w++)
        for (int k = 0; k < K; k++) {
            double x;
            if (kind == UNIFORM)
                x = tr_rng_uniform(g);
            else if (kind == TIES)
                x = (double)tr_rng_below(g, 4);
            else /* crowded: low index preferred by all, word-dependent weight */
                x = (1.0 + (w % 5)) * (0.3 * k + tr_rng_uniform(g));
            L[(size_t)w * K + k] = x;
        }
}

static inst make(int V, int R, int C, int kind, uint64_t seed)
{
    inst p = {V, R, C, malloc(sizeof(double) * (size_t)V * R), malloc(sizeof(double) * (size_t)V * C)};
    tr_rng g;
    tr_rng_seed(&g, seed, 77);
    fill_part(p.Lr, V, R, kind, &g);
    fill_part(p.Lc, V, C, kind, &g);
    return p;
}

static void drop(inst *p)
{
    free(p->Lr);
    free(p->Lc);
}

static double solve(const inst *p, tr_alloc_method m, int32_t *row, int32_t *col)
{
    tr_err err;
    tr_err_clear(&err);
    if (tr_alloc_solve(m, p->Lr, p->Lc, p->V, p->R, p->C, row, col, &err) != TR_OK)
        fail_msg("%s on V=%d R=%d C=%d: %s", tr_alloc_method_name(m), p->V, p->R, p->C, err.msg);
    if (tr_alloc_check(row, col, p->V, p->R, p->C, &err) != TR_OK)
        fail_msg("%s on V=%d R=%d C=%d: invalid placement: %s", tr_alloc_method_name(m), p->V, p->R, p->C, err.msg);
    return tr_alloc_cost(p->Lr, p->Lc, p->V, p->R, p->C, row, col);
}

static double cost_of(const inst *p, tr_alloc_method m)
{
    int32_t *row = malloc(sizeof(int32_t) * (size_t)p->V), *col = malloc(sizeof(int32_t) * (size_t)p->V);
    double c = solve(p, m, row, col);
    free(row);
    free(col);
    return c;
}

static double bound_of(const inst *p)
{
    tr_err err;
    double b = NAN;
    if (tr_alloc_lower_bound(p->Lr, p->Lc, p->V, p->R, p->C, &b, &err) != TR_OK)
        fail_msg("bound on V=%d R=%d C=%d: %s", p->V, p->R, p->C, err.msg);
    return b;
}

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (1.0 + fabs(a) + fabs(b));
}

/* ---------------------------------------------------------------- references */

/* Every injective placement of the words in the cells (N <= 9). */
static void brute_rec(const inst *p, int w, double acc, unsigned char *used, double *best)
{
    if (w == p->V) {
        if (acc < *best)
            *best = acc;
        return;
    }
    for (int r = 0; r < p->R; r++)
        for (int c = 0; c < p->C; c++)
            if (!used[r * p->C + c]) {
                used[r * p->C + c] = 1;
                brute_rec(p, w + 1, acc + p->Lr[w * p->R + r] + p->Lc[w * p->C + c], used, best);
                used[r * p->C + c] = 0;
            }
}

static double brute_placement(const inst *p)
{
    unsigned char used[64] = {0};
    double best = INFINITY;
    brute_rec(p, 0, 0.0, used, &best);
    return best;
}

/* Every map of words to K bins with at most cap words per bin. */
static void transport_rec(const double *L, int V, int K, int cap, int w, double acc, int *load, double *best)
{
    if (w == V) {
        if (acc < *best)
            *best = acc;
        return;
    }
    for (int k = 0; k < K; k++)
        if (load[k] < cap) {
            load[k]++;
            transport_rec(L, V, K, cap, w + 1, acc + L[w * K + k], load, best);
            load[k]--;
        }
}

static double brute_transport(const double *L, int V, int K, int cap)
{
    int load[64] = {0};
    double best = INFINITY;
    transport_rec(L, V, K, cap, 0, 0.0, load, &best);
    return best;
}

/* The textbook O(n^2 m) Hungarian algorithm with potentials (Kuhn-Munkres
 * as in Burkard, Dell'Amico & Martello, "Assignment Problems", 2009, sec. 4.4),
 * rows n <= columns m, 1-based inside: an implementation independent of
 * lap.c to check it against. Returns the optimal cost. */
static double hungarian(const double *a, int n, int m)
{
    double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)m + 1, sizeof *v);
    double *minv = malloc(sizeof(double) * ((size_t)m + 1));
    int *p = calloc((size_t)m + 1, sizeof *p), *way = calloc((size_t)m + 1, sizeof *way);
    unsigned char *used = malloc((size_t)m + 1);
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int j = 1; j <= m; j++)
                if (!used[j]) {
                    double cur = a[(size_t)(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if (minv[j] < delta) {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            for (int j = 0; j <= m; j++)
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double cost = 0.0;
    for (int j = 1; j <= m; j++)
        if (p[j])
            cost += a[(size_t)(p[j] - 1) * m + (j - 1)];
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return cost;
}

/* The placement problem as one dense V x (R*C) matrix. */
static double hungarian_placement(const inst *p)
{
    int N = p->R * p->C;
    double *a = malloc(sizeof(double) * (size_t)p->V * N);
    for (int w = 0; w < p->V; w++)
        for (int r = 0; r < p->R; r++)
            for (int c = 0; c < p->C; c++)
                a[(size_t)w * N + r * p->C + c] = p->Lr[w * p->R + r] + p->Lc[w * p->C + c];
    double x = hungarian(a, p->V, N);
    free(a);
    return x;
}

/* A transportation part as an assignment: every bin replicated cap times. */
static double hungarian_transport(const double *L, int V, int K, int cap)
{
    int N = K * cap;
    double *a = malloc(sizeof(double) * (size_t)V * N);
    for (int w = 0; w < V; w++)
        for (int j = 0; j < N; j++)
            a[(size_t)w * N + j] = L[w * K + j / cap];
    double x = hungarian(a, V, N);
    free(a);
    return x;
}

/* ---------------------------------------------------------------- library */

static void test_method_names(void **state)
{
    (void)state;
    tr_err err;
    tr_alloc_method m = TR_ALLOC_GREEDY;
    const char *names[] = {"greedy", "exact", "alternating"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tr_alloc_method_parse(names[i], &m, &err), TR_OK);
        assert_string_equal(tr_alloc_method_name(m), names[i]);
    }
    assert_int_equal(tr_alloc_method_parse("x", &m, &err), TR_ERR_ARG);
    assert_string_equal(err.msg, "--solver must be greedy, exact or alternating, got 'x'");
}

static void test_check_placements(void **state)
{
    (void)state;
    tr_err err;
    int32_t row[4] = {0, 1, 1, 0}, col[4] = {0, 0, 2, 2};
    assert_int_equal(tr_alloc_check(row, col, 4, 2, 3, &err), TR_OK);
    row[2] = 2;
    assert_int_equal(tr_alloc_check(row, col, 4, 2, 3, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "word 2"));
    row[2] = 1;
    col[3] = -1;
    assert_int_equal(tr_alloc_check(row, col, 4, 2, 3, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "word 3"));
    /* words 1 and 3 share (1, 0), and word 2 shares (0, 0) with word 0: the
     * first offender is word 2 */
    int32_t r2[4] = {0, 1, 0, 1}, c2[4] = {0, 0, 0, 0};
    assert_int_equal(tr_alloc_check(r2, c2, 4, 2, 3, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "word 2 is in cell (0, 0), which already holds word 0"));
    int32_t r4[3] = {0, 0, 0}, c4[3] = {1, 1, 1};
    assert_int_equal(tr_alloc_check(r4, c4, 3, 2, 3, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "word 1 is in cell (0, 1), which already holds word 0"));
    int32_t r3[3] = {1, 0, 1}, c3[3] = {2, 0, 2};
    assert_int_equal(tr_alloc_check(r3, c3, 3, 2, 3, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "word 2 is in cell (1, 2), which already holds word 0"));
}

static void test_errors(void **state)
{
    (void)state;
    tr_err err;
    inst p = make(7, 2, 3, UNIFORM, 1);
    int32_t row[7], col[7];
    double b;
    assert_int_equal(tr_alloc_solve(TR_ALLOC_GREEDY, p.Lr, p.Lc, 7, 2, 3, row, col, &err), TR_ERR_SHAPE);
    assert_non_null(strstr(err.msg, "7 words do not fit a 2 x 3 table"));
    assert_int_equal(tr_alloc_lower_bound(p.Lr, p.Lc, 7, 2, 3, &b, &err), TR_ERR_SHAPE);
    assert_int_equal(tr_alloc_solve(TR_ALLOC_EXACT, p.Lr, p.Lc, 0, 2, 3, row, col, &err), TR_ERR_ARG);
    p.Lc[4] = NAN;
    for (int m = 0; m < 3; m++) {
        assert_int_equal(tr_alloc_solve((tr_alloc_method)m, p.Lr, p.Lc, 6, 2, 3, row, col, &err), TR_ERR_ARG);
        assert_non_null(strstr(err.msg, "loss_col[1][1] is not finite"));
    }
    assert_int_equal(tr_alloc_lower_bound(p.Lr, p.Lc, 6, 2, 3, &b, &err), TR_ERR_ARG);
    drop(&p);

    /* exact refuses more than TR_ALLOC_EXACT_MAX words before any work */
    int V = TR_ALLOC_EXACT_MAX + 1, R = 1, C = V;
    double *Lr = calloc((size_t)V * R, sizeof(double)), *Lc = calloc((size_t)V * C, sizeof(double));
    int32_t *rr = malloc(sizeof(int32_t) * (size_t)V), *cc = malloc(sizeof(int32_t) * (size_t)V);
    assert_non_null(Lc);
    assert_int_equal(tr_alloc_solve(TR_ALLOC_EXACT, Lr, Lc, V, R, C, rr, cc, &err), TR_ERR_ARG);
    assert_non_null(strstr(err.msg, "exact"));
    free(Lr);
    free(Lc);
    free(rr);
    free(cc);
}

/* Every solver gives a valid placement, the same one twice. */
static void test_valid_and_deterministic(void **state)
{
    (void)state;
    static const int shapes[][3] = {{1, 1, 1},   {5, 3, 3},   {9, 3, 3},   {6, 2, 3},    {6, 3, 2},
                                    {10, 4, 5},  {20, 5, 4},  {37, 7, 6},  {49, 7, 7},   {97, 10, 10},
                                    {100, 10, 10}, {50, 3, 30}, {30, 30, 1}, {7, 1, 10},  {3, 10, 10},
                                    {150, 8, 20}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int kind = 0; kind < 3; kind++) {
            inst p = make(shapes[s][0], shapes[s][1], shapes[s][2], kind, 100 + s);
            int32_t *r1 = malloc(sizeof(int32_t) * (size_t)p.V), *c1 = malloc(sizeof(int32_t) * (size_t)p.V);
            int32_t *r2 = malloc(sizeof(int32_t) * (size_t)p.V), *c2 = malloc(sizeof(int32_t) * (size_t)p.V);
            for (int m = 0; m < 3; m++) {
                solve(&p, (tr_alloc_method)m, r1, c1);
                solve(&p, (tr_alloc_method)m, r2, c2);
                assert_memory_equal(r1, r2, sizeof(int32_t) * (size_t)p.V);
                assert_memory_equal(c1, c2, sizeof(int32_t) * (size_t)p.V);
            }
            free(r1);
            free(c1);
            free(r2);
            free(c2);
            drop(&p);
        }
}

/* All losses equal: every solver, every placement optimal, bound exact. */
static void test_all_equal(void **state)
{
    (void)state;
    static const int shapes[][3] = {{9, 3, 3}, {50, 8, 7}, {100, 10, 10}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int val = 0; val < 2; val++) {
            int V = shapes[s][0], R = shapes[s][1], C = shapes[s][2];
            inst p = make(V, R, C, UNIFORM, 1);
            for (int i = 0; i < V * R; i++)
                p.Lr[i] = val;
            for (int i = 0; i < V * C; i++)
                p.Lc[i] = 2 * val;
            for (int m = 0; m < 3; m++)
                assert_true(close_to(cost_of(&p, (tr_alloc_method)m), 3.0 * val * V));
            assert_true(close_to(bound_of(&p), 3.0 * val * V));
            drop(&p);
        }
}

/* exact == brute force over every placement on tables of at most 9 cells;
 * the other solvers and the bound on the right side of it; the bound ==
 * the brute-force optima of the two transportation parts. */
static void test_tiny_brute_force(void **state)
{
    (void)state;
    static const int tables[][2] = {{3, 3}, {2, 3}, {3, 2}, {1, 9}, {9, 1}, {2, 4}, {4, 2}, {1, 1}, {2, 2}};
    int checked = 0;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        int R = tables[t][0], C = tables[t][1];
        for (int V = 1; V <= R * C; V++)
            for (int seed = 0; seed < 12; seed++) {
                inst p = make(V, R, C, seed % 3, 1000 * t + 10 * V + seed);
                double opt = brute_placement(&p);
                double ex = cost_of(&p, TR_ALLOC_EXACT), al = cost_of(&p, TR_ALLOC_ALTERNATING);
                double gr = cost_of(&p, TR_ALLOC_GREEDY), b = bound_of(&p);
                if (!close_to(ex, opt))
                    fail_msg("R=%d C=%d V=%d seed %d: exact %.17g, brute force %.17g", R, C, V, seed, ex, opt);
                assert_true(al >= opt - 1e-9 && gr >= opt - 1e-9);
                assert_true(al <= gr + 1e-9);
                double tb = brute_transport(p.Lr, V, R, C) + brute_transport(p.Lc, V, C, R);
                if (!close_to(b, tb))
                    fail_msg("R=%d C=%d V=%d seed %d: bound %.17g, transportation optima %.17g", R, C, V, seed, b, tb);
                assert_true(b <= opt + 1e-9);
                drop(&p);
                checked++;
            }
    }
    assert_true(checked > 500);
}

/* Up to 200 words: exact == the Hungarian algorithm, exact <= alternating
 * <= greedy, bound <= exact, and the bound == both parts solved as
 * assignments with replicated bins. Shapes cover both paths of the exact
 * solver: square after padding (few empty cells) and rectangular (many). */
static void test_small_orderings(void **state)
{
    (void)state;
    static const int shapes[][3] = {{50, 8, 8},   {64, 8, 8},  {120, 11, 11}, {200, 15, 14}, {150, 10, 20},
                                    {30, 10, 10}, {40, 3, 20}, {25, 25, 2},   {11, 4, 3},    {81, 9, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int seed = 0; seed < 6; seed++) {
            int V = shapes[s][0], R = shapes[s][1], C = shapes[s][2];
            inst p = make(V, R, C, seed % 3, 5000 + 31 * s + seed);
            double ex = cost_of(&p, TR_ALLOC_EXACT), al = cost_of(&p, TR_ALLOC_ALTERNATING);
            double gr = cost_of(&p, TR_ALLOC_GREEDY), b = bound_of(&p);
            double hu = hungarian_placement(&p);
            if (!close_to(ex, hu))
                fail_msg("V=%d R=%d C=%d seed %d: exact %.17g, Hungarian %.17g", V, R, C, seed, ex, hu);
            if (!(ex <= al + 1e-9 && al <= gr + 1e-9 && b <= ex + 1e-9))
                fail_msg("V=%d R=%d C=%d seed %d: bound %.17g exact %.17g alternating %.17g greedy %.17g", V, R, C,
                         seed, b, ex, al, gr);
            double tb = hungarian_transport(p.Lr, V, R, C) + hungarian_transport(p.Lc, V, C, R);
            if (!close_to(b, tb))
                fail_msg("V=%d R=%d C=%d seed %d: bound %.17g, transportation optima %.17g", V, R, C, seed, b, tb);
            drop(&p);
        }
}

/* lap.c directly: square (cold and warm) and rectangular against Hungarian. */
static void test_lap_dense(void **state)
{
    (void)state;
    tr_rng g;
    tr_rng_seed(&g, 9, 1);
    tr_lap_work *w = tr_lap_work_new(60);
    double a[60 * 60], v[60];
    int32_t x[60], y[60];
    for (int trial = 0; trial < 60; trial++) {
        int m = 1 + (int)tr_rng_below(&g, 60), n = trial % 2 ? m : 1 + (int)tr_rng_below(&g, (uint32_t)m);
        int ties = trial % 3 == 0;
        for (int k = 0; k < n * m; k++)
            a[k] = ties ? (double)tr_rng_below(&g, 3) : 10.0 * tr_rng_uniform(&g) - 5.0;
        tr_lap_dense d = {a, m};
        double want = hungarian(a, n, m);
        for (int warm = 0; warm < 2; warm++) {
            if (warm)
                for (int j = 0; j < m; j++)
                    v[j] = tr_rng_uniform(&g) * 3.0;
            tr_lap_solve(w, n, m, tr_lap_dense_row, &d, warm, v, x, y);
            double got = 0.0;
            unsigned char seen[60] = {0};
            for (int i = 0; i < n; i++) {
                assert_true(x[i] >= 0 && x[i] < m && !seen[x[i]] && y[x[i]] == i);
                seen[x[i]] = 1;
                got += a[i * m + x[i]];
            }
            if (!close_to(got, want))
                fail_msg("lap %d x %d (warm %d): %.17g, Hungarian %.17g", n, m, warm, got, want);
        }
    }
    tr_lap_work_free(w);
}

/* The transportation solver directly, with the auction stopped early too
 * (so that the exact repair by shortest paths has work to do), against the
 * Hungarian algorithm on replicated bins; plus the degenerate cases: all
 * costs zero, more spare room than items, capacity that never binds. */
static void test_transport(void **state)
{
    (void)state;
    static const int shapes[][3] = {{60, 8, 8}, {100, 12, 9}, {47, 6, 8}, {30, 4, 8}, {10, 5, 9},
                                    {9, 3, 3},  {40, 2, 30},  {12, 7, 2}, {20, 3, 30}};
    const double eps[] = {TR_TRANSPORT_EPS, 1e-6, 1e-2, 0.2};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int kind = 0; kind < 3; kind++) {
            int V = shapes[s][0], K = shapes[s][1], cap = shapes[s][2];
            inst p = make(V, K, 1, kind, 900 + 7 * s + kind);
            double want = hungarian_transport(p.Lr, V, K, cap);
            for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
                double u[16];
                double got = tr_transport_bound(p.Lr, V, K, cap, eps[e], u);
                if (!close_to(got, want))
                    fail_msg("transport V=%d K=%d cap=%d kind %d eps %g: %.17g, Hungarian %.17g", V, K, cap, kind,
                             eps[e], got, want);
                for (int k = 0; k < K; k++)
                    assert_true(u[k] >= 0.0);
            }
            drop(&p);
        }
    double zero[40] = {0};
    assert_true(tr_transport_bound(zero, 20, 2, 10, TR_TRANSPORT_EPS, NULL) == 0.0);
    assert_true(tr_transport_bound(zero, 7, 5, 2, TR_TRANSPORT_EPS, NULL) == 0.0);
}

/* Alternating: never above greedy, on instances big enough for several
 * sweeps (the per-sweep decrease is asserted inside, always on). */
static void test_alternating_improves(void **state)
{
    (void)state;
    for (int seed = 0; seed < 4; seed++) {
        inst p = make(870 + 17 * seed, 31, 30, seed % 3, 40 + seed);
        double gr = cost_of(&p, TR_ALLOC_GREEDY), al = cost_of(&p, TR_ALLOC_ALTERNATING);
        double b = bound_of(&p);
        assert_true(al <= gr + 1e-9);
        assert_true(b <= al + 1e-9);
        drop(&p);
    }
}

/* The authors' heuristic, reproduced: with 3 rows of one cell, word 0
 * (losses 0, 1, 100: the rest of its row losses average 101) chooses before
 * word 1 (0, 5, 6: 11) and takes row 0, so word 1 pays 5 in row 1. The
 * optimum puts word 0 in row 1 and word 1 in row 0, cost 1. */
static void test_greedy_hand_made(void **state)
{
    (void)state;
    double Lr[6] = {0, 1, 100, 0, 5, 6}, Lc[2] = {0, 0};
    inst p = {2, 3, 1, Lr, Lc};
    int32_t row[2], col[2];
    assert_true(close_to(solve(&p, TR_ALLOC_GREEDY, row, col), 5.0));
    assert_int_equal(row[0], 0);
    assert_int_equal(row[1], 1);
    assert_true(close_to(solve(&p, TR_ALLOC_EXACT, row, col), 1.0));
    assert_int_equal(row[0], 1);
    assert_int_equal(row[1], 0);
    assert_true(close_to(solve(&p, TR_ALLOC_ALTERNATING, row, col), 1.0));
    double b = bound_of(&p);
    assert_true(close_to(b, 1.0));

    /* Columns, in a 1 x 3 table: the order comes from the priorities, not
     * the word indices. Word 0 (losses 0, 10, 10: priority 20) and word 1
     * (0, 50, 50: 100) both want column 0; word 1 chooses first and gets it,
     * word 2 (5, 5, 0: 10) takes column 2, word 0 falls to column 1: cost
     * 10, which is optimal here (by index order it would be 50). */
    double Lr2[3] = {0, 0, 0}, Lc2[9] = {0, 10, 10, 0, 50, 50, 5, 5, 0};
    inst q = {3, 1, 3, Lr2, Lc2};
    int32_t r3[3], c3[3];
    assert_true(close_to(solve(&q, TR_ALLOC_GREEDY, r3, c3), 10.0));
    assert_int_equal(c3[0], 1);
    assert_int_equal(c3[1], 0);
    assert_int_equal(c3[2], 2);
    assert_true(close_to(solve(&q, TR_ALLOC_EXACT, r3, c3), 10.0));
}

/* ---------------------------------------------------------------- CLI */

#define OUTSZ (1 << 15)
static char out[OUTSZ];

static void check_contains(const char *needle, const char *file, int line)
{
    if (!strstr(out, needle))
        fail_msg("%s:%d: expected the output to contain \"%s\"; it was:\n%s", file, line, needle, out);
}
#define assert_contains(n) check_contains((n), __FILE__, __LINE__)

/* A refused command: exit 1 or 2, a one-line message with every needle. */
static void check_refused(int rc, const char *n1, const char *n2, const char *file, int line)
{
    if (rc != 1 && rc != 2)
        fail_msg("%s:%d: expected exit 1 or 2, got %d:\n%s", file, line, rc, out);
    const char *nl = strchr(out, '\n');
    if (!out[0] || (nl && nl[1]))
        fail_msg("%s:%d: expected a one-line message, got:\n%s", file, line, out);
    check_contains(n1, file, line);
    if (n2)
        check_contains(n2, file, line);
}
#define assert_refused(rc, n1, n2) check_refused((rc), (n1), (n2), __FILE__, __LINE__)

static void write_losses(const char *path, int V, int R, int Vc, int C, int drop_col, uint64_t seed)
{
    float *a = malloc(sizeof(float) * (size_t)V * R), *b = malloc(sizeof(float) * (size_t)Vc * C);
    th_fill(a, (int64_t)V * R, 1.0f, seed);
    th_fill(b, (int64_t)Vc * C, 1.0f, seed + 1);
    for (int i = 0; i < V * R; i++)
        a[i] += 1.0f;
    for (int i = 0; i < Vc * C; i++)
        b[i] += 1.0f;
    int64_t sa[2] = {V, R}, sb[2] = {Vc, C};
    tr_tensor ta = tr_tensor_make(a, 2, sa), tb = tr_tensor_make(b, 2, sb);
    tr_st_entry e[2] = {{"loss_row", &ta}, {"loss_col", &tb}};
    tr_err err;
    if (tr_st_write(path, e, drop_col ? 1 : 2, NULL, 0, &err) != TR_OK)
        fail_msg("%s", err.msg);
    free(a);
    free(b);
}

static void test_cli_random(void **state)
{
    (void)state;
    char place[1024];
    th_tmp(place, sizeof place, "alloc_place.tsv");
    remove(place);
    int rc = th_triad(out, sizeof out, "lightrnn realloc --random 300 --seed 3 --output '%s'", place);
    if (rc != 0)
        fail_msg("exit %d:\n%s", rc, out);
    assert_contains("V = 300 words, R = 18 rows, C = 18 columns");
    assert_contains("gap %");
    assert_contains("greedy ");
    assert_contains("exact ");
    assert_contains("alternating ");
    /* the placement file: 300 lines word<TAB>row<TAB>col, a valid placement
     * whose cost is the exact one printed */
    char *txt = th_read(place, NULL);
    int32_t row[300], col[300];
    int n = 0;
    for (char *s = txt; *s; n++) {
        int w, r, c, used = 0;
        assert_int_equal(sscanf(s, "%d\t%d\t%d\n%n", &w, &r, &c, &used), 3);
        assert_int_equal(w, n);
        row[n] = r;
        col[n] = c;
        s += used;
    }
    free(txt);
    assert_int_equal(n, 300);
    tr_err err;
    assert_int_equal(tr_alloc_check(row, col, 300, 18, 18, &err), TR_OK);

    rc = th_triad(out, sizeof out, "lightrnn realloc --random 300 --seed 3 --solver greedy");
    assert_int_equal(rc, 0);
    assert_true(strstr(out, "exact ") == NULL);
    rc = th_triad(out, sizeof out, "lightrnn realloc --random 30000 --solver exact");
    assert_refused(rc, "exact", "20000");
    rc = th_triad(out, sizeof out, "lightrnn realloc --random 30 --solver fast");
    assert_refused(rc, "--solver must be greedy, exact, alternating or all, got 'fast'", NULL);
    rc = th_triad(out, sizeof out, "lightrnn realloc");
    assert_refused(rc, "--losses", "--random");
    rc = th_triad(out, sizeof out, "lightrnn realloc --random 30 --losses x.st");
    assert_refused(rc, "--losses", "--random");
    rc = th_triad(out, sizeof out, "lightrnn realloc --random 30 --rows 2 --cols 3");
    assert_refused(rc, "do not fit", NULL);
    rc = th_triad(out, sizeof out, "lightrnn frobnicate");
    assert_int_equal(rc, 2);
    assert_contains("unknown subcommand 'frobnicate'");
    rc = th_triad(out, sizeof out, "lightrnn --help");
    assert_int_equal(rc, 0);
    assert_contains("realloc");
    rc = th_triad(out, sizeof out, "--help");
    assert_contains("lightrnn");
}

static void test_cli_files(void **state)
{
    (void)state;
    char good[1024], path[1024];
    th_tmp(good, sizeof good, "alloc_good.safetensors");
    write_losses(good, 6, 2, 6, 3, 0, 5);
    int rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", good);
    if (rc != 0)
        fail_msg("exit %d:\n%s", rc, out);
    assert_contains("V = 6 words, R = 2 rows, C = 3 columns");
    assert_contains("alternating ");

    th_tmp(path, sizeof path, "alloc_missing.safetensors");
    remove(path);
    rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", path);
    assert_refused(rc, path, NULL);

    write_losses(path, 6, 2, 6, 3, 1, 5);
    rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", path);
    assert_refused(rc, path, "'loss_col'");

    write_losses(path, 6, 2, 5, 3, 0, 5);
    rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", path);
    assert_refused(rc, path, "loss_col has 5");

    write_losses(path, 7, 2, 7, 3, 0, 5);
    rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", path);
    assert_refused(rc, path, "7 words do not fit a 2 x 3 table");

    /* a 1-D loss_row */
    float a[12] = {0};
    int64_t s1[1] = {6}, s2[2] = {6, 3};
    float b[18] = {0};
    tr_tensor ta = tr_tensor_make(a, 1, s1), tb = tr_tensor_make(b, 2, s2);
    tr_st_entry e[2] = {{"loss_row", &ta}, {"loss_col", &tb}};
    tr_err err;
    assert_int_equal(tr_st_write(path, e, 2, NULL, 0, &err), TR_OK);
    rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", path);
    assert_refused(rc, path, "'loss_row' has shape (6)");

    /* not a safetensors file */
    th_write_str(path, "hello");
    rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", path);
    assert_refused(rc, path, NULL);

    /* a non-finite loss */
    b[4] = INFINITY;
    int64_t s3[2] = {6, 2};
    for (int i = 0; i < 12; i++)
        a[i] = 1.0f;
    ta = tr_tensor_make(a, 2, s3);
    assert_int_equal(tr_st_write(path, e, 2, NULL, 0, &err), TR_OK);
    rc = th_triad(out, sizeof out, "lightrnn realloc --losses '%s'", path);
    assert_refused(rc, path, "loss_col[1][1] is not finite");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_check_placements),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_valid_and_deterministic),
        cmocka_unit_test(test_all_equal),
        cmocka_unit_test(test_tiny_brute_force),
        cmocka_unit_test(test_small_orderings),
        cmocka_unit_test(test_lap_dense),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_alternating_improves),
        cmocka_unit_test(test_greedy_hand_made),
        cmocka_unit_test(test_cli_random),
        cmocka_unit_test(test_cli_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
