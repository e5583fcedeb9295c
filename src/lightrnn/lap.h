/*
 * lightrnn/lap.h - private to src/lightrnn: the linear assignment problem
 * (LAP) solver behind the word-allocation solvers of triad/lightrnn.h.
 *
 *   minimise sum_i c[i][x[i]]  over injective x: [0, n_rows) -> [0, n_cols),
 *   n_rows <= n_cols,
 *
 * by Jonker & Volgenant's shortest augmenting path algorithm ("A shortest
 * augmenting path algorithm for dense and sparse linear assignment
 * problems", Computing 38, 1987). The cost matrix is never required in
 * memory: the solver asks for one row at a time through a callback, so that
 * a V x (R*C) word-to-cell problem whose costs are Lr[w][r] + Lc[w][c] is
 * solved in O(R*C) memory.
 *
 * Also here: the transportation problem (items into bins of equal
 * capacity) whose optimum is each half of the allocation's lower bound.
 *
 * Not here: anything about the rows and columns of the LightRNN table
 * (alloc.c), sparse costs, or parallelism.
 */
#ifndef TRIAD_LIGHTRNN_LAP_H
#define TRIAD_LIGHTRNN_LAP_H

#include "triad/core.h"

/* Returns the n_cols costs of row i. It may fill and return scratch (n_cols
 * doubles, owned by the solver) or return a pointer to its own storage that
 * stays valid until the next call. Costs must be finite. */
typedef const double *(*tr_lap_row_fn)(void *ctx, int i, double *scratch);

/* Scratch memory for problems with up to max_cols columns, reusable across
 * calls (the alternating solver runs hundreds of small problems). */
typedef struct tr_lap_work tr_lap_work;

tr_lap_work *tr_lap_work_new(int max_cols);
void tr_lap_work_free(tr_lap_work *w);

/* Solves the problem into x (n_rows: the column of each row) and y (n_cols:
 * the row of each column, -1 when free) and leaves the column duals in v
 * (n_cols): at the end c[i][j] - v[j] >= c[i][x[i]] - v[x[i]] for all i, j.
 *
 * Square problems (n_rows == n_cols) run the full Jonker-Volgenant method:
 * column reduction, reduction transfer, two rounds of augmenting row
 * reduction, then shortest augmenting paths. With warm != 0 the column
 * reduction and reduction transfer are skipped and v is taken as the start
 * (any finite v is a valid start for a square problem).
 *
 * Rectangular problems (n_rows < n_cols) start from v = 0 (warm is ignored),
 * assign each row to its cheapest column while that column is free, and
 * augment the rest. Column duals of never-used columns stay 0, which is what
 * makes the result optimal when some columns stay free (this is why the
 * reduction phases, which lower the duals of arbitrary columns, are skipped).
 *
 * Exact up to floating-point rounding; deterministic (ties go to the lowest
 * index the scan meets first). Time O(n_rows^2 * n_cols) in the worst case,
 * much less in practice; memory O(n_cols) besides w. */
void tr_lap_solve(tr_lap_work *w, int n_rows, int n_cols, tr_lap_row_fn row,
                  void *ctx, int warm, double *v, int32_t *x, int32_t *y);

/* A row callback over a dense row-major matrix: ctx is a tr_lap_dense. */
typedef struct {
    const double *c;
    int ld; /* distance between rows, in doubles */
} tr_lap_dense;

const double *tr_lap_dense_row(void *ctx, int i, double *scratch);

/* The transportation problem with unit supplies: V items (words), K bins of
 * capacity cap (1 <= V <= K*cap), cost L[w][k] (V x K, row-major, finite):
 *     minimise sum_w L[w][bin(w)], at most cap items per bin.
 * Returns max over prices u >= 0 of the Lagrangian dual
 *     g(u) = sum_w min_k (L[w][k] + u_k) - cap * sum_k u_k,
 * which equals that minimum (the LP is integral), evaluated at the prices
 * found: always a valid lower bound, exact up to rounding. An auction with
 * epsilon-scaling (Bertsekas & Castanon 1989) down to eps_rel times the
 * largest |L| finds the prices and a placement, and Bellman-Ford plus
 * successive shortest paths make them exact (lap.c says more). The prices
 * go to prices (K) unless it is NULL. Time O(V*K^2) in the worst case seen
 * (every item ranking the bins alike), O(V*K) typically; memory O(K^2 +
 * K*cap). */
double tr_transport_bound(const double *L, int V, int K, int cap, double eps_rel, double *prices);

/* The auction's final epsilon relative to max |L| used by triad. */
#define TR_TRANSPORT_EPS 0x1p-40

#endif
