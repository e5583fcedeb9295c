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
 *                problems, solved exactly by successive shortest paths over
 *                the R (resp. C) bins, reported as the value of the
 *                Lagrangian dual at the optimal bin prices.
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
    int bad = -1, first = -1;
    for (int i = 1; i < V; i++)
        if ((k[i] >> 32) == (k[i - 1] >> 32)) {
            int w = (int)(k[i] & 0xffffffff);
            int64_t j = i - 1;
            while (j > 0 && (k[j - 1] >> 32) == (k[i] >> 32))
                j--;
            if (bad < 0 || w < bad) {
                bad = w;
                first = (int)(k[j] & 0xffffffff);
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
 * Time O(V^2 * R*C) in the worst case (V^3 for a square table).
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

/*
 * One part of the bound: V words, K bins of capacity cap (V <= K*cap),
 * minimise sum_w L[w][bin(w)]. For prices u_k >= 0 on the capacities,
 *     g(u) = sum_w min_k (L[w][k] + u_k) - cap * sum_k u_k
 * is a lower bound (Lagrangian relaxation), and max g = the optimum (the
 * constraint matrix is totally unimodular, so there is no duality gap).
 * The maximiser is found in three steps:
 *
 *  1. Square the problem: D = K*cap - V dummy words of cost 0 fill the spare
 *     capacity, so that every bin ends exactly full and prices need no sign
 *     constraint (for any prices p, g(p - min p) equals the square problem's
 *     dual value, and the two problems have the same optimum).
 *  2. Approximate prices by the auction algorithm for the transportation
 *     problem with similar objects (Bertsekas & Castanon, "The auction
 *     algorithm for the transportation problem", Annals of Operations
 *     Research 20, 1989): each bin is cap slots with their own prices; an
 *     unassigned word bids for its cheapest bin, raising the price of that
 *     bin's cheapest slot by its margin over the second-cheapest bin plus
 *     epsilon, and evicts that slot's word. Epsilon-scaling (from S/4 down to
 *     about 1e-12 S, S the largest |loss|, dividing by 8) keeps price wars
 *     short. Each bid costs O(K); when every word ranks the bins alike the
 *     first phase makes up to about V*K bids, O(V*K^2), and later phases few.
 *  3. Finish exactly by successive shortest paths (Ahuja, Magnanti & Orlin,
 *     Network Flows, 1993, ch. 9) on the graph of the K bins: every word is
 *     put in a cheapest bin under the auction's prices (which makes every
 *     reduced cost >= 0), and then, while a bin is over-full, Dijkstra from
 *     all over-full bins to the nearest under-full one over arcs a -> b of
 *     cost M[a][b] = min over the words of a of L[w][b] - L[w][a] (0 for a
 *     dummy) plus u_b - u_a; prices rise by D - dist on the settled bins,
 *     the path's arcs become tight, and one word moves along each. After the
 *     auction only the few words within epsilon of a tie are out of place,
 *     so this phase is short; it is what makes the result exact (up to
 *     rounding) rather than epsilon-optimal.
 *
 * M and the word attaining each entry are kept up to date: a word entering
 * a bin updates that bin's row in O(K); a word leaving recomputes only the
 * entries it attained (O(|bin|) each), or the whole row when there are many.
 * Memory O(K^2 + V + D). The value returned is g(u - min u) at the final
 * prices, computed from scratch, so it is a valid bound whatever rounding did.
 *
 * When the table has more spare cells than words (D > V, odd shapes only)
 * the auction is skipped: it would mostly move dummies; the shortest paths
 * then start from u = 0 with every word in its cheapest bin. When cap >= V
 * or K = 1 no capacity binds and u = 0 is optimal. For K >
 * TRANSPORT_MAX_BINS (K^2 memory) the prices stay 0 too, and the bound,
 * sum_w min_k L[w][k], is valid but weaker; LightRNN tables are far smaller.
 */

#define TRANSPORT_MAX_BINS 8192

typedef struct {
    const double *L;
    int V, K, cap, D; /* bidders 0..V-1 are words, V..V+D-1 dummies */
} tproblem;

/* ---- step 2: the auction */

typedef struct {
    double price;
    int32_t who;
} slot;

static int slot_less(const slot *a, const slot *b)
{
    return a->price < b->price || (a->price == b->price && a->who < b->who);
}

/* min-heap of a bin's occupied slots */
static void slot_sift_down(slot *h, int n, int i)
{
    slot x = h[i];
    for (;;) {
        int l = 2 * i + 1, b = i;
        const slot *best = &x;
        if (l < n && slot_less(&h[l], best)) {
            b = l;
            best = &h[l];
        }
        if (l + 1 < n && slot_less(&h[l + 1], best))
            b = l + 1;
        if (b == i)
            break;
        h[i] = h[b];
        i = b;
    }
    h[i] = x;
}

static void slot_push(slot *h, int *n, slot x)
{
    int i = (*n)++;
    while (i > 0 && slot_less(&x, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

/* Leaves the final prices of the epsilon-scaled auction in u (K), each
 * word's bin in x (V) and the number of dummies in each bin in dummies (K). */
static void transport_auction(const tproblem *p, double *u, int32_t *x, int32_t *dummies)
{
    const int V = p->V, K = p->K, cap = p->cap, B = p->V + p->D;
    double S = 0.0;
    for (size_t i = 0; i < (size_t)V * K; i++)
        S = fabs(p->L[i]) > S ? fabs(p->L[i]) : S;
    for (int k = 0; k < K; k++)
        u[k] = 0.0;
    if (S == 0.0) {
        /* all losses 0: any placement is optimal */
        for (int i = 0; i < B; i++) {
            if (i < V)
                x[i] = i / cap;
            else
                dummies[i / cap]++;
        }
        return;
    }
    slot *heap = tr_xmalloc((size_t)K * cap * sizeof *heap);
    int32_t *size = tr_xmalloc((size_t)K * sizeof *size);
    double *floor_price = tr_xmalloc((size_t)K * sizeof *floor_price);
    int32_t *queue = tr_xmalloc((size_t)B * sizeof *queue);
    double eps = S / 4.0, eps_min = S * 0x1p-40;
    for (;;) {
        for (int k = 0; k < K; k++) {
            size[k] = 0;
            floor_price[k] = u[k]; /* u[k]: the price a newcomer pays in bin k */
        }
        for (int i = 0; i < B; i++)
            queue[i] = i;
        int head = 0, count = B;
        while (count > 0) {
            int i = queue[head];
            head = head + 1 == B ? 0 : head + 1;
            count--;
            const double *l = i < V ? p->L + (size_t)i * K : NULL;
            double v1 = INFINITY, v2 = INFINITY;
            int k1 = 0;
            for (int k = 0; k < K; k++) {
                double v = (l ? l[k] : 0.0) + u[k];
                if (v < v1) {
                    v2 = v1;
                    v1 = v;
                    k1 = k;
                } else if (v < v2) {
                    v2 = v;
                }
            }
            slot s = {u[k1] + (v2 - v1) + eps, i};
            slot *h = heap + (size_t)k1 * cap;
            if (size[k1] < cap) {
                slot_push(h, &size[k1], s);
                if (size[k1] == cap)
                    u[k1] = h[0].price;
            } else {
                int out = h[0].who;
                h[0] = s;
                slot_sift_down(h, cap, 0);
                u[k1] = h[0].price;
                queue[(head + count) % B] = out;
                count++;
            }
        }
        if (eps <= eps_min)
            break;
        eps /= 8.0;
    }
    for (int k = 0; k < K; k++)
        for (int j = 0; j < size[k]; j++) {
            int who = heap[(size_t)k * cap + j].who;
            if (who < V)
                x[who] = k;
            else
                dummies[k]++;
        }
    free(heap);
    free(size);
    free(floor_price);
    free(queue);
}

/* ---- step 3: shortest paths */

typedef struct {
    int32_t *w; /* the words in the bin */
    int n, cap;
} bin_words;

static void bin_add(bin_words *b, int32_t *pos, int32_t w)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 16;
        int32_t *q = realloc(b->w, (size_t)b->cap * sizeof *q);
        TR_ASSERT(q != NULL);
        b->w = q;
    }
    pos[w] = b->n;
    b->w[b->n++] = w;
}

static void bin_remove(bin_words *b, int32_t *pos, int32_t w)
{
    int i = pos[w];
    b->w[i] = b->w[--b->n];
    pos[b->w[i]] = i;
}

typedef struct {
    const double *L;
    int V, K;
    double *M;        /* K x K: M[a*K + b], over the real words of a */
    int32_t *Mw;      /* the word attaining it, -1 if a has none */
    bin_words *bins;  /* real words */
    int32_t *dummies; /* dummy words per bin */
    int32_t *pos;     /* word -> index in its bin's list */
} transport;

/* M[a][b] over the words of a, for one b (j >= 0) or every b (j < 0);
 * ties go to the smaller word. */
static void m_recompute(transport *t, int a, int j)
{
    int K = t->K;
    double *m = t->M + (size_t)a * K;
    int32_t *mw = t->Mw + (size_t)a * K;
    int lo = j < 0 ? 0 : j, hi = j < 0 ? K : j + 1;
    for (int b = lo; b < hi; b++) {
        m[b] = INFINITY;
        mw[b] = -1;
    }
    const bin_words *bw = &t->bins[a];
    for (int i = 0; i < bw->n; i++) {
        int32_t w = bw->w[i];
        const double *l = t->L + (size_t)w * K;
        for (int b = lo; b < hi; b++) {
            double d = l[b] - l[a];
            if (d < m[b] || (d == m[b] && w < mw[b])) {
                m[b] = d;
                mw[b] = w;
            }
        }
    }
}

static void move_word(transport *t, int32_t w, int a, int b)
{
    int K = t->K;
    bin_remove(&t->bins[a], t->pos, w);
    bin_add(&t->bins[b], t->pos, w);
    const double *l = t->L + (size_t)w * K;
    double *mb = t->M + (size_t)b * K;
    int32_t *mwb = t->Mw + (size_t)b * K;
    for (int k = 0; k < K; k++) {
        double d = l[k] - l[b];
        if (d < mb[k] || (d == mb[k] && w < mwb[k])) {
            mb[k] = d;
            mwb[k] = w;
        }
    }
    int32_t *mwa = t->Mw + (size_t)a * K;
    int n = 0;
    for (int k = 0; k < K; k++)
        n += mwa[k] == w;
    if (n > 8)
        m_recompute(t, a, -1);
    else
        for (int k = 0; k < K && n > 0; k++)
            if (mwa[k] == w) {
                m_recompute(t, a, k);
                n--;
            }
}

/* The cheapest way to move one word from a to b: a dummy (cost 0) when a
 * holds one and no real word is cheaper, else M's word. Returns the cost and
 * the word (-1 for a dummy). */
static double arc_cost(const transport *t, int a, int b, int32_t *who)
{
    double m = t->M[(size_t)a * t->K + b];
    if (t->dummies[a] > 0 && !(m < 0.0)) {
        *who = -1;
        return 0.0;
    }
    *who = t->Mw[(size_t)a * t->K + b];
    return m;
}

/* Exact optimum of the square problem, from the auction's placement x and
 * dummies (all bins full); the prices are left in u. */
static void transport_paths(const tproblem *p, double *u, const int32_t *x, const int32_t *dummies)
{
    const int V = p->V, K = p->K, cap = p->cap;
    transport t = {p->L, V, K, tr_xmalloc((size_t)K * K * sizeof(double)),
                   tr_xmalloc((size_t)K * K * sizeof(int32_t)), tr_xcalloc((size_t)K, sizeof(bin_words)),
                   tr_xcalloc((size_t)K, sizeof(int32_t)), tr_xmalloc((size_t)(V > 0 ? V : 1) * sizeof(int32_t))};
    int32_t *pred = tr_xmalloc((size_t)K * sizeof *pred), *path = tr_xmalloc((size_t)K * 3 * sizeof *path);
    double *dist = tr_xmalloc((size_t)K * sizeof *dist);
    unsigned char *done = tr_xmalloc((size_t)K);
    for (int w = 0; w < V; w++)
        bin_add(&t.bins[x[w]], t.pos, w);
    memcpy(t.dummies, dummies, (size_t)K * sizeof *dummies);
    for (int a = 0; a < K; a++)
        m_recompute(&t, a, -1);

    /* Prices under which the placement satisfies complementary slackness:
     * u_a - u_b <= cost of moving a word of a to b, for all a, b, a system of
     * difference constraints solved by Bellman-Ford (u = -shortest distance
     * from a virtual source). It converges when the placement is optimal; if
     * not (a negative cycle, from the auction's epsilon), the words that are
     * then not in a cheapest bin are moved to one and the shortest paths
     * below repair the capacities. */
    for (int k = 0; k < K; k++)
        dist[k] = 0.0;
    for (int pass = 0; pass < K; pass++) {
        int changed = 0;
        for (int a = 0; a < K; a++)
            for (int b = 0; b < K; b++) {
                int32_t who;
                double c = a == b ? INFINITY : arc_cost(&t, a, b, &who);
                if (dist[a] + c < dist[b]) {
                    dist[b] = dist[a] + c;
                    changed = 1;
                }
            }
        if (!changed)
            break;
    }
    double S = 0.0;
    for (int k = 0; k < K; k++) {
        u[k] = -dist[k];
        S = fabs(u[k]) > S ? fabs(u[k]) : S;
    }
    for (size_t i = 0; i < (size_t)V * K; i++)
        S = fabs(p->L[i]) > S ? fabs(p->L[i]) : S;
    /* rounding in the potentials is not a reason to move a word */
    double tol = 1e-13 * S;
    int cheapest = 0;
    for (int k = 1; k < K; k++)
        if (u[k] < u[cheapest])
            cheapest = k;
    for (int k = 0; k < K; k++)
        if (t.dummies[k] > 0 && u[k] > u[cheapest] + tol) {
            t.dummies[cheapest] += t.dummies[k];
            t.dummies[k] = 0;
        }
    for (int w = 0; w < V; w++) {
        const double *l = p->L + (size_t)w * K;
        int best = 0, at = x[w];
        for (int k = 1; k < K; k++)
            if (l[k] + u[k] < l[best] + u[best])
                best = k;
        if (l[at] + u[at] > l[best] + u[best] + tol)
            move_word(&t, w, at, best);
    }

    for (;;) {
        int nsrc = 0;
        for (int k = 0; k < K; k++) {
            done[k] = 0;
            pred[k] = -1;
            dist[k] = INFINITY;
            if (t.bins[k].n + t.dummies[k] > cap) {
                dist[k] = 0.0;
                nsrc++;
            }
        }
        if (nsrc == 0)
            break;
        /* dense Dijkstra to the nearest bin with room; every bin is one arc
         * away from an over-full (so non-empty) one */
        int target = -1;
        for (;;) {
            int a = -1;
            for (int k = 0; k < K; k++)
                if (!done[k] && (a < 0 || dist[k] < dist[a]))
                    a = k;
            TR_ASSERT(a >= 0 && isfinite(dist[a]));
            done[a] = 1;
            if (t.bins[a].n + t.dummies[a] < cap) {
                target = a;
                break;
            }
            for (int b = 0; b < K; b++) {
                if (done[b])
                    continue;
                int32_t who;
                double red = arc_cost(&t, a, b, &who) + u[b] - u[a];
                double nd = dist[a] + (red > 0.0 ? red : 0.0); /* >= 0 but for rounding */
                if (nd < dist[b]) {
                    dist[b] = nd;
                    pred[b] = a;
                }
            }
        }
        double Dt = dist[target];
        for (int k = 0; k < K; k++)
            if (done[k])
                u[k] += Dt - dist[k];
        /* collect the moves first (each changes M), then make them */
        int np = 0;
        for (int b = target; pred[b] >= 0; b = pred[b]) {
            int a = pred[b];
            int32_t who;
            (void)arc_cost(&t, a, b, &who);
            TR_ASSERT(np + 3 <= 3 * K && (who >= 0 || t.dummies[a] > 0));
            path[np++] = who;
            path[np++] = a;
            path[np++] = b;
        }
        for (int i = 0; i < np; i += 3) {
            if (path[i] < 0) {
                t.dummies[path[i + 1]]--;
                t.dummies[path[i + 2]]++;
            } else {
                move_word(&t, path[i], path[i + 1], path[i + 2]);
            }
        }
    }
    for (int k = 0; k < K; k++)
        free(t.bins[k].w);
    free(t.bins);
    free(t.dummies);
    free(t.pos);
    free(t.M);
    free(t.Mw);
    free(pred);
    free(path);
    free(dist);
    free(done);
}

static double transport_bound(const double *L, int V, int K, int cap)
{
    double *u = tr_xcalloc((size_t)K, sizeof *u);
    /* with cap >= V no capacity binds: u = 0 is optimal */
    if (K > 1 && K <= TRANSPORT_MAX_BINS && cap < V) {
        tproblem p = {L, V, K, cap, (int)((int64_t)K * cap - V)};
        int32_t *x = tr_xmalloc((size_t)V * sizeof *x), *dummies = tr_xcalloc((size_t)K, sizeof *dummies);
        if (p.D <= V) {
            transport_auction(&p, u, x, dummies);
        } else {
            /* much spare room (odd table shapes): the auction would spend its
             * time on dummies; start from u = 0, every word in its cheapest
             * bin and the dummies in the holes, and let the paths repair */
            int32_t *load = tr_xcalloc((size_t)K, sizeof *load);
            for (int w = 0; w < V; w++) {
                const double *l = L + (size_t)w * K;
                int best = 0;
                for (int k = 1; k < K; k++)
                    if (l[k] < l[best])
                        best = k;
                x[w] = best;
                load[best]++;
            }
            int left = p.D;
            for (int k = 0; k < K && left > 0; k++) {
                int d = load[k] < cap ? cap - load[k] : 0;
                dummies[k] = d < left ? d : left;
                left -= dummies[k];
            }
            free(load);
        }
        transport_paths(&p, u, x, dummies);
        free(x);
        free(dummies);
        double m = u[0];
        for (int k = 1; k < K; k++)
            m = u[k] < m ? u[k] : m;
        for (int k = 0; k < K; k++)
            u[k] -= m;
    }
    double g = 0.0, su = 0.0;
    for (int w = 0; w < V; w++) {
        const double *l = L + (size_t)w * K;
        double best = l[0] + u[0];
        for (int k = 1; k < K; k++)
            best = l[k] + u[k] < best ? l[k] + u[k] : best;
        g += best;
    }
    for (int k = 0; k < K; k++)
        su += u[k];
    free(u);
    return g - (double)cap * su;
}

tr_status tr_alloc_lower_bound(const double *Lr, const double *Lc, int V, int R, int C, double *bound, tr_err *err)
{
    tr_status st = check_problem(Lr, Lc, V, R, C, err);
    if (st)
        return st;
    if (!bound)
        return tr_err_set(err, TR_ERR_ARG, "allocation: missing output for the bound");
    *bound = transport_bound(Lr, V, R, C) + transport_bound(Lc, V, C, R);
    return TR_OK;
}
