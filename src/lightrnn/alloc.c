/*
 * lightrnn/alloc.c - the LightRNN word-allocation solvers of triad/lightrnn.h:
 * place V words in the cells of an R x C table, one word per cell, so that
 * sum_w Lr[w][row(w)] + Lc[w][col(w)] is small, and bound the optimum from
 * below.
 *
 *   greedy       the authors' heuristic, as published with the paper
 *                (microsoft/CNTK, Examples/Text/LightRNN/LightRNN/pyreallocate.cpp);
 *   exact        one linear assignment of the V words to the R*C cells
 *                (Jonker & Volgenant 1987, lap.c), costs computed on the fly;
 *   alternating  from the greedy start, exact per-row then per-column
 *                assignments, each a small dense LAP (block coordinate
 *                descent: the cost never increases);
 *   lower bound  the row part and the column part as separate transportation
 *                problems (tr_transport_bound in lap.c: an auction, then
 *                exact shortest paths over the R resp. C bins), reported as
 *                the value of the Lagrangian dual at the optimal prices.
 *
 * Not here: where the losses come from (training), the table's use in the
 * model, file formats and printing (cli/lightrnn.c).
 */
#include "triad/lightrnn.h"
#include "lightrnn/lap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

tr_status tr_alloc_method_parse(const char *s, tr_alloc_method *m, tr_err *err)
{
    static const tr_alloc_method all[] = {TR_ALLOC_GREEDY, TR_ALLOC_EXACT, TR_ALLOC_ALTERNATING};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, tr_alloc_method_name(all[i]))) {
            *m = all[i];
            return TR_OK;
        }
    return tr_err_set(err, TR_ERR_ARG, "--solver must be greedy, exact or alternating, got '%s'",
                      s ? s : "(null)");
}

const char *tr_alloc_method_name(tr_alloc_method m)
{
    switch (m) {
    case TR_ALLOC_GREEDY: return "greedy";
    case TR_ALLOC_EXACT: return "exact";
    case TR_ALLOC_ALTERNATING: return "alternating";
    }
    return "unknown";
}

/* ---------------------------------------------------------------- checks */

/* Arguments every solver needs: sizes, a table that holds the words and is
 * indexable with int, and finite losses (a NaN would make every comparison in
 * the solvers false and their loops meaningless). */
static tr_status check_problem(const double *Lr, const double *Lc, int V, int R, int C, tr_err *err)
{
    if (V < 1 || R < 1 || C < 1)
        return tr_err_set(err, TR_ERR_ARG, "allocation: need V, R, C >= 1, got V=%d R=%d C=%d", V, R, C);
    if ((int64_t)R * C > INT32_MAX)
        return tr_err_set(err, TR_ERR_ARG, "allocation: a %d x %d table has too many cells", R, C);
    if ((int64_t)R * C < V)
        return tr_err_set(err, TR_ERR_SHAPE, "allocation: %d words do not fit a %d x %d table", V, R, C);
    if (!Lr || !Lc)
        return tr_err_set(err, TR_ERR_ARG, "allocation: missing loss matrix");
    for (size_t k = 0; k < (size_t)V * (size_t)R; k++)
        if (!isfinite(Lr[k]))
            return tr_err_set(err, TR_ERR_ARG, "allocation: loss_row[%zu][%zu] is not finite (%g)",
                              k / (size_t)R, k % (size_t)R, Lr[k]);
    for (size_t k = 0; k < (size_t)V * (size_t)C; k++)
        if (!isfinite(Lc[k]))
            return tr_err_set(err, TR_ERR_ARG, "allocation: loss_col[%zu][%zu] is not finite (%g)",
                              k / (size_t)C, k % (size_t)C, Lc[k]);
    return TR_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

tr_status tr_alloc_check(const int32_t *row, const int32_t *col, int V, int R, int C, tr_err *err)
{
    if (V < 1 || R < 1 || C < 1 || !row || !col)
        return tr_err_set(err, TR_ERR_ARG, "placement: need V, R, C >= 1 and row, col arrays");
    for (int w = 0; w < V; w++) {
        if (row[w] < 0 || row[w] >= R)
            return tr_err_set(err, TR_ERR_ARG, "placement: word %d has row %d, outside [0, %d)", w, (int)row[w], R);
        if (col[w] < 0 || col[w] >= C)
            return tr_err_set(err, TR_ERR_ARG, "placement: word %d has column %d, outside [0, %d)", w, (int)col[w],
                              C);
    }
    /* duplicates by sorting (cell << 32 | word): O(V log V) time, O(V) memory
     * whatever the table size; the first offending word is the smallest word
     * that shares its cell with a smaller one */
    int64_t *k = tr_xmalloc((size_t)V * sizeof *k);
    for (int w = 0; w < V; w++)
        k[w] = (((int64_t)row[w] * C + col[w]) << 32) | (int64_t)w;
    qsort(k, (size_t)V, sizeof *k, cmp_i64);
    int bad = -1, first = -1, group = 0; /* group: where the run of k[i]'s cell starts */
    for (int i = 1; i < V; i++) {
        if ((k[i] >> 32) != (k[i - 1] >> 32)) {
            group = i;
            continue;
        }
        int w = (int)(k[i] & 0xffffffff);
        if (bad < 0 || w < bad) {
            bad = w;
            first = (int)(k[group] & 0xffffffff);
        }
    }
    free(k);
    if (bad >= 0)
        return tr_err_set(err, TR_ERR_ARG, "placement: word %d is in cell (%d, %d), which already holds word %d",
                          bad, (int)row[bad], (int)col[bad], first);
    return TR_OK;
}

double tr_alloc_cost(const double *Lr, const double *Lc, int V, int R, int C, const int32_t *row,
                     const int32_t *col)
{
    double s = 0.0;
    for (int w = 0; w < V; w++)
        s += Lr[(size_t)w * R + row[w]] + Lc[(size_t)w * C + col[w]];
    return s;
}

/* ---------------------------------------------------------------- greedy */

/*
 * The authors' heuristic (pyreallocate.cpp, function allocate). Facts taken
 * from it:
 *   - every word ranks the rows by its loss, ascending;
 *   - a max-priority queue holds one proposal per word: its next row in that
 *     order, with the priority "mean loss of the rows it has not proposed
 *     yet": after proposing its k-th row (k from 0) of K, the sum of the
 *     remaining losses divided by K - k - 2, and 0 when that divisor is 0
 *     (their next_row/next_col; the divisor is one less than the number of
 *     remaining rows, kept as published, and for the last row it is 0 too);
 *   - the top proposal is accepted if its row has room (C words), otherwise
 *     the word proposes its next row;
 *   - then, row by row, the words of the row propose columns the same way
 *     (K = C, every cell holding one word).
 * So the words that would lose most if pushed away from their best choices
 * choose first. Changes: ties in the queue go to the smaller word index
 * (std::priority_queue leaves them unspecified), equal losses are ranked by
 * index, the running sum starts at 0 (it is uninitialised there), and R may
 * differ from C. Sorting every word's losses up front, as the original does,
 * costs V*R*log R time and V*(R+C) memory; here a word finds its next choice
 * by a linear scan and sorts its losses only once it has been refused
 * GREEDY_SCAN times, which most words never are.
 *
 * Time O(V*(R+C) + P*log V + S*K*log K) for P proposals and S sorted words;
 * memory O(V + S*K).
 */

#define GREEDY_SCAN 4

typedef struct {
    double rest;      /* sum of the losses not proposed yet */
    double last_loss; /* loss of the last proposal */
    int32_t last;     /* index of the last proposal, -1 before the first */
    int32_t rank;     /* its rank in the word's order */
    int32_t *sorted;  /* the whole order, once built */
} greedy_cand;

typedef struct {
    double value;
    int32_t word, choice;
} greedy_node;

/* max-heap on value, smaller word first on ties */
static int node_before(const greedy_node *a, const greedy_node *b)
{
    return a->value > b->value || (a->value == b->value && a->word < b->word);
}

static void heap_push(greedy_node *h, int *n, greedy_node x)
{
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!node_before(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static greedy_node heap_pop(greedy_node *h, int *n)
{
    greedy_node top = h[0], x = h[--*n];
    int i = 0;
    for (;;) {
        int l = 2 * i + 1, b = i;
        const greedy_node *best = &x;
        if (l < *n && node_before(&h[l], best)) {
            b = l;
            best = &h[l];
        }
        if (l + 1 < *n && node_before(&h[l + 1], best))
            b = l + 1;
        if (b == i)
            break;
        h[i] = h[b];
        i = b;
    }
    if (*n > 0)
        h[i] = x;
    return top;
}

static int loss_less(const double *L, int32_t a, int32_t b)
{
    return L[a] < L[b] || (L[a] == L[b] && a < b);
}

/* indices 0..K-1 sorted by (L, index): bottom-up merge sort through tmp */
static void sort_by_loss(const double *L, int K, int32_t *out, int32_t *tmp)
{
    for (int i = 0; i < K; i++)
        out[i] = i;
    int32_t *a = out, *b = tmp;
    for (int width = 1; width < K; width *= 2) {
        for (int lo = 0; lo < K; lo += 2 * width) {
            int mid = lo + width < K ? lo + width : K, hi = lo + 2 * width < K ? lo + 2 * width : K;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                b[o++] = loss_less(L, a[j], a[i]) ? a[j++] : a[i++];
            while (i < mid)
                b[o++] = a[i++];
            while (j < hi)
                b[o++] = a[j++];
        }
        int32_t *t = a;
        a = b;
        b = t;
    }
    if (a != out)
        memcpy(out, a, (size_t)K * sizeof *out);
}

static void cand_start(greedy_cand *g, const double *L, int K)
{
    free(g->sorted);
    g->sorted = NULL;
    g->rest = 0.0;
    for (int j = 0; j < K; j++)
        g->rest += L[j];
    g->last = -1;
    g->rank = -1;
    g->last_loss = 0.0;
}

/* The word's next choice as a queue node (the authors' next_row/next_col). */
static greedy_node cand_next(greedy_cand *g, int32_t word, const double *L, int K, int32_t *tmp)
{
    int rank = g->rank + 1;
    TR_ASSERT(rank < K);
    int32_t j;
    if (!g->sorted && rank >= GREEDY_SCAN) {
        g->sorted = tr_xmalloc((size_t)K * sizeof(int32_t));
        sort_by_loss(L, K, g->sorted, tmp);
    }
    if (g->sorted) {
        j = g->sorted[rank];
    } else {
        /* the smallest (loss, index) after the last proposal */
        j = -1;
        for (int32_t k = 0; k < K; k++) {
            if (g->last >= 0 && !(L[k] > g->last_loss || (L[k] == g->last_loss && k > g->last)))
                continue;
            if (j < 0 || loss_less(L, k, j))
                j = k;
        }
    }
    g->rank = rank;
    g->last = j;
    g->last_loss = L[j];
    g->rest -= L[j];
    int div = K - rank - 2;
    greedy_node n = {div > 0 ? g->rest / div : 0.0, word, j};
    return n;
}

static void solve_greedy(const double *Lr, const double *Lc, int V, int R, int C, int32_t *row, int32_t *col)
{
    int K = R > C ? R : C;
    greedy_cand *g = tr_xcalloc((size_t)V, sizeof *g);
    greedy_node *heap = tr_xmalloc((size_t)V * sizeof *heap);
    int32_t *tmp = tr_xmalloc((size_t)K * sizeof *tmp);
    int32_t *load = tr_xcalloc((size_t)R, sizeof *load);
    int n = 0;

    /* rows: capacity C each */
    for (int w = 0; w < V; w++) {
        const double *L = Lr + (size_t)w * R;
        cand_start(&g[w], L, R);
        heap_push(heap, &n, cand_next(&g[w], w, L, R, tmp));
    }
    while (n > 0) {
        greedy_node t = heap_pop(heap, &n);
        if (load[t.choice] == C)
            heap_push(heap, &n, cand_next(&g[t.word], t.word, Lr + (size_t)t.word * R, R, tmp));
        else {
            row[t.word] = t.choice;
            load[t.choice]++;
        }
    }

    /* columns, row by row: the words of row r in index order (counting sort) */
    int32_t *start = tr_xcalloc((size_t)R + 1, sizeof *start);
    int32_t *words = tr_xmalloc((size_t)V * sizeof *words);
    for (int r = 0; r < R; r++)
        start[r + 1] = start[r] + load[r];
    for (int r = 0; r < R; r++)
        load[r] = start[r];
    for (int w = 0; w < V; w++)
        words[load[row[w]]++] = w;
    unsigned char *taken = tr_xmalloc((size_t)C);
    for (int r = 0; r < R; r++) {
        memset(taken, 0, (size_t)C);
        for (int k = start[r]; k < start[r + 1]; k++) {
            int w = words[k];
            const double *L = Lc + (size_t)w * C;
            cand_start(&g[w], L, C);
            heap_push(heap, &n, cand_next(&g[w], w, L, C, tmp));
        }
        while (n > 0) {
            greedy_node t = heap_pop(heap, &n);
            if (taken[t.choice])
                heap_push(heap, &n, cand_next(&g[t.word], t.word, Lc + (size_t)t.word * C, C, tmp));
            else {
                col[t.word] = t.choice;
                taken[t.choice] = 1;
            }
        }
    }
    for (int w = 0; w < V; w++)
        free(g[w].sorted);
    free(taken);
    free(words);
    free(start);
    free(load);
    free(tmp);
    free(heap);
    free(g);
}

/* ---------------------------------------------------------------- exact */

/*
 * Words are the LAP's rows, cells r*C + c its columns, and a word's row of
 * costs Lr[w][r] + Lc[w][c] is computed when the solver asks for it: memory
 * O(R*C), never the V x R*C matrix. When the table has only a few spare cells
 * (R*C - V <= V, always true for R = C = ceil(sqrt V)), dummy words whose
 * cost is the same constant in every cell make the problem square, so that
 * the full Jonker-Volgenant method with its reduction phases runs; a
 * constant row adds the same amount to every placement, and taking the
 * largest loss keeps the dummies from stealing column minima in the column
 * reduction. Otherwise the rectangular path of lap.c runs.
 *
 * Time O(V^2 * R*C) in the worst case (V^3 for a square table). Measured
 * (one core): random losses of cli/lightrnn.c, V = 2,500 / 5,000 / 10,000 /
 * 12,500 in about 0.15 / 0.8 / 4.5 / 7 s; losses close to rank one (every
 * word ranking the cells alike, as from a model that has learnt only the
 * marginals) are far harder, V = 2,500 / 5,000 in about 5 / 25-45 s. Starting
 * from the lower bound's prices (v = -(u_row + u_col)) instead of the column
 * reduction was tried: 2-4x slower on random losses, little faster on those.
 */

typedef struct {
    const double *Lr, *Lc;
    int V, R, C;
    const double *dummy; /* R*C copies of the dummy cost */
} cell_costs;

static const double *cell_row(void *ctx, int i, double *scratch)
{
    const cell_costs *p = ctx;
    if (i >= p->V)
        return p->dummy;
    const double *lr = p->Lr + (size_t)i * p->R, *lc = p->Lc + (size_t)i * p->C;
    for (int r = 0; r < p->R; r++) {
        double a = lr[r];
        double *s = scratch + (size_t)r * p->C;
        for (int c = 0; c < p->C; c++)
            s[c] = a + lc[c];
    }
    return scratch;
}

static void solve_exact(const double *Lr, const double *Lc, int V, int R, int C, int32_t *row, int32_t *col)
{
    int N = R * C;
    int square = N - V <= V;
    int n_rows = square ? N : V;
    double *dummy = NULL;
    if (square && N > V) {
        double big = -INFINITY;
        for (size_t k = 0; k < (size_t)V * R; k++)
            big = Lr[k] > big ? Lr[k] : big;
        double bc = -INFINITY;
        for (size_t k = 0; k < (size_t)V * C; k++)
            bc = Lc[k] > bc ? Lc[k] : bc;
        dummy = tr_xmalloc((size_t)N * sizeof *dummy);
        for (int j = 0; j < N; j++)
            dummy[j] = big + bc;
    }
    cell_costs p = {Lr, Lc, V, R, C, dummy};
    tr_lap_work *w = tr_lap_work_new(N);
    double *v = tr_xmalloc((size_t)N * sizeof *v);
    int32_t *x = tr_xmalloc((size_t)n_rows * sizeof *x), *y = tr_xmalloc((size_t)N * sizeof *y);
    tr_lap_solve(w, n_rows, N, cell_row, &p, 0, v, x, y);
    for (int i = 0; i < V; i++) {
        row[i] = x[i] / C;
        col[i] = x[i] % C;
    }
    free(x);
    free(y);
    free(v);
    free(dummy);
    tr_lap_work_free(w);
}

/* ---------------------------------------------------------------- alternating */

/*
 * Block coordinate descent over the placement, from the greedy one:
 *   (a) rows fixed: the words of row r take the columns of an optimal
 *       assignment with costs Lc[w][c] (at most C words x C columns);
 *   (b) columns fixed: the words of column c take the rows of an optimal
 *       assignment with costs Lr[w][r].
 * The current placement is feasible for each subproblem, so each optimum is
 * no worse; a subproblem's answer replaces the current one only when its cost
 * is strictly lower, which makes the total non-increasing even under
 * rounding and stops the sweeps once nothing moves. A row (column) whose set
 * of words has not changed since it was last solved is still optimal and is
 * skipped. Each subproblem is made square with constant dummy words (the
 * largest loss in it) and solved by lap.c, starting from the column duals of
 * that row's previous solve.
 *
 * Stops when a sweep (a)+(b) improves the cost by at most 1e-12 relative, or
 * after ALT_MAX_SWEEPS. Time per sweep O(R * C^3 + C * R^3) in the worst
 * case, in practice about R*C^2 + C*R^2 per sweep.
 */

#define ALT_MAX_SWEEPS 100

typedef struct {
    tr_lap_work *lap;
    double *mat;    /* K x K */
    int32_t *words; /* the words of the row or column being solved */
    int32_t *x, *y;
} alt_scratch;

/* One subproblem: the n words take distinct positions among K (columns of a
 * row, or rows of a column) with costs L[w][k], L of leading dimension K.
 * pos[w] is the word's current position; improved ones are written back and
 * their old and new positions are marked in touched. Returns 1 if changed. */
static int alt_part(alt_scratch *s, const double *L, int K, int n, double *v, int warm, int32_t *pos,
                    unsigned char *touched)
{
    double big = -INFINITY, old = 0.0, now = 0.0;
    for (int i = 0; i < n; i++) {
        const double *l = L + (size_t)s->words[i] * K;
        memcpy(s->mat + (size_t)i * K, l, (size_t)K * sizeof(double));
        for (int k = 0; k < K; k++)
            big = l[k] > big ? l[k] : big;
        old += l[pos[s->words[i]]];
    }
    for (size_t k = (size_t)n * K; k < (size_t)K * K; k++)
        s->mat[k] = big;
    tr_lap_dense m = {s->mat, K};
    tr_lap_solve(s->lap, K, K, tr_lap_dense_row, &m, warm, v, s->x, s->y);
    for (int i = 0; i < n; i++)
        now += s->mat[(size_t)i * K + s->x[i]];
    /* the LAP is exact: it can only lose to the current placement by rounding */
    TR_ASSERT(now <= old + 1e-9 * (1.0 + fabs(old)));
    if (!(now < old))
        return 0;
    for (int i = 0; i < n; i++) {
        int32_t w = s->words[i];
        if (pos[w] != s->x[i]) {
            touched[pos[w]] = 1;
            touched[s->x[i]] = 1;
            pos[w] = s->x[i];
        }
    }
    return 1;
}

static void solve_alternating(const double *Lr, const double *Lc, int V, int R, int C, int32_t *row,
                              int32_t *col)
{
    solve_greedy(Lr, Lc, V, R, C, row, col);
    int K = R > C ? R : C;
    size_t N = (size_t)R * C;
    int32_t *occ = tr_xmalloc(N * sizeof *occ); /* occ[r*C + c]: word or -1 */
    double *vrow = tr_xcalloc(N, sizeof *vrow); /* duals of row r's last solve: vrow[r*C + c] */
    double *vcol = tr_xcalloc(N, sizeof *vcol); /* of column c's: vcol[c*R + r] */
    unsigned char *dirty_row = tr_xmalloc((size_t)R), *dirty_col = tr_xmalloc((size_t)C);
    unsigned char *seen_row = tr_xcalloc((size_t)R, 1), *seen_col = tr_xcalloc((size_t)C, 1);
    alt_scratch s = {tr_lap_work_new(K), tr_xmalloc((size_t)K * K * sizeof(double)),
                     tr_xmalloc((size_t)K * sizeof(int32_t)), tr_xmalloc((size_t)K * sizeof(int32_t)),
                     tr_xmalloc((size_t)K * sizeof(int32_t))};
    memset(dirty_row, 1, (size_t)R);
    memset(dirty_col, 1, (size_t)C);

    for (size_t k = 0; k < N; k++)
        occ[k] = -1;
    for (int w = 0; w < V; w++)
        occ[(size_t)row[w] * C + col[w]] = w;

    double cost = tr_alloc_cost(Lr, Lc, V, R, C, row, col);
    for (int sweep = 0; sweep < ALT_MAX_SWEEPS; sweep++) {
        double before = cost;
        /* (a) rows fixed: columns within each row */
        for (int r = 0; r < R; r++) {
            if (!dirty_row[r])
                continue;
            dirty_row[r] = 0;
            int32_t *o = occ + (size_t)r * C;
            int n = 0;
            for (int c = 0; c < C; c++)
                if (o[c] >= 0)
                    s.words[n++] = o[c];
            if (n == 0)
                continue;
            int changed = alt_part(&s, Lc, C, n, vrow + (size_t)r * C, seen_row[r], col, dirty_col);
            seen_row[r] = 1;
            if (!changed)
                continue;
            for (int c = 0; c < C; c++)
                o[c] = -1;
            for (int i = 0; i < n; i++)
                o[col[s.words[i]]] = s.words[i];
        }
        /* (b) columns fixed: rows within each column */
        for (int c = 0; c < C; c++) {
            if (!dirty_col[c])
                continue;
            dirty_col[c] = 0;
            int n = 0;
            for (int r = 0; r < R; r++)
                if (occ[(size_t)r * C + c] >= 0)
                    s.words[n++] = occ[(size_t)r * C + c];
            if (n == 0)
                continue;
            int changed = alt_part(&s, Lr, R, n, vcol + (size_t)c * R, seen_col[c], row, dirty_row);
            seen_col[c] = 1;
            if (!changed)
                continue;
            for (int r = 0; r < R; r++)
                occ[(size_t)r * C + c] = -1;
            for (int i = 0; i < n; i++)
                occ[(size_t)row[s.words[i]] * C + c] = s.words[i];
        }
        cost = tr_alloc_cost(Lr, Lc, V, R, C, row, col);
        /* block coordinate descent never goes up (beyond summation rounding) */
        TR_ASSERT(cost <= before + 1e-9 * (1.0 + fabs(before)));
        if (before - cost <= 1e-12 * fabs(before))
            break;
    }
    free(s.x);
    free(s.y);
    free(s.words);
    free(s.mat);
    tr_lap_work_free(s.lap);
    free(seen_row);
    free(seen_col);
    free(dirty_row);
    free(dirty_col);
    free(vcol);
    free(vrow);
    free(occ);
}

/* ---------------------------------------------------------------- solve */

tr_status tr_alloc_solve(tr_alloc_method m, const double *Lr, const double *Lc, int V, int R, int C, int32_t *row,
                         int32_t *col, tr_err *err)
{
    tr_status st = check_problem(Lr, Lc, V, R, C, err);
    if (st)
        return st;
    if (!row || !col)
        return tr_err_set(err, TR_ERR_ARG, "allocation: missing output arrays");
    switch (m) {
    case TR_ALLOC_GREEDY:
        solve_greedy(Lr, Lc, V, R, C, row, col);
        break;
    case TR_ALLOC_EXACT:
        if (V > TR_ALLOC_EXACT_MAX)
            return tr_err_set(err, TR_ERR_ARG,
                              "allocation: the exact solver takes at most %d words (time grows as V^3), got %d",
                              TR_ALLOC_EXACT_MAX, V);
        if ((int64_t)R * C > 64 * (int64_t)TR_ALLOC_EXACT_MAX)
            return tr_err_set(err, TR_ERR_ARG, "allocation: the exact solver takes at most %d cells, got %d x %d",
                              64 * TR_ALLOC_EXACT_MAX, R, C);
        solve_exact(Lr, Lc, V, R, C, row, col);
        break;
    case TR_ALLOC_ALTERNATING:
        solve_alternating(Lr, Lc, V, R, C, row, col);
        break;
    default:
        return tr_err_set(err, TR_ERR_ARG, "allocation: unknown method %d", (int)m);
    }
    /* every solver's output is a placement; anything else is a bug here */
    TR_ASSERT(tr_alloc_check(row, col, V, R, C, NULL) == TR_OK);
    return TR_OK;
}

/* ---------------------------------------------------------------- lower bound */

/* The row part: V words, R rows of capacity C, costs Lr; the column part: C
 * columns of capacity R, costs Lc. Each is a transportation problem, solved
 * by tr_transport_bound (lap.c: auction, then exact shortest paths), which
 * returns the Lagrangian dual value at optimal prices: a valid bound that
 * equals the part's optimum up to rounding. */
tr_status tr_alloc_lower_bound(const double *Lr, const double *Lc, int V, int R, int C, double *bound, tr_err *err)
{
    tr_status st = check_problem(Lr, Lc, V, R, C, err);
    if (st)
        return st;
    if (!bound)
        return tr_err_set(err, TR_ERR_ARG, "allocation: missing output for the bound");
    *bound = tr_transport_bound(Lr, V, R, C, TR_TRANSPORT_EPS, NULL) +
             tr_transport_bound(Lc, V, C, R, TR_TRANSPORT_EPS, NULL);
    return TR_OK;
}
