/*
 * triad/lightrnn.h - LightRNN (Li, Qin, Yang, Hu, Liu, NIPS 2016): every word
 * is a cell (row, column) of an R x C table, words share row and column
 * embeddings, and the softmax factorises into P(row) * P(column | row).
 *
 * This part: the word allocation. After a round of training, L_r[w][i] is
 * the summed -log P_row(i) over the occurrences of w and L_c[w][j] likewise
 * for columns; a new placement (one word per cell) minimises
 *     sum_w L_r[w][row(w)] + L_c[w][col(w)].
 * Solvers:
 *   greedy       the authors' heuristic (reference)
 *   exact        exact linear assignment of words to cells (V up to about 20k)
 *   alternating  from the greedy start, alternately fix rows and solve one
 *                C x C assignment of columns per row, then fix columns and
 *                solve one R x R assignment of rows per column; the cost
 *                never increases; stops when a sweep does not improve it
 * and a lower bound on the optimum: the row part (each row holds at most C
 * words) and the column part (each column at most R words) solved
 * separately, so that every run reports its gap.
 */
#ifndef TRIAD_LIGHTRNN_H
#define TRIAD_LIGHTRNN_H

#include "triad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- allocation */

typedef enum {
    TR_ALLOC_GREEDY = 0,
    TR_ALLOC_EXACT,
    TR_ALLOC_ALTERNATING
} tr_alloc_method;

/* Largest V that `exact` accepts (its time grows as V^3 in the worst case). */
#define TR_ALLOC_EXACT_MAX 20000

/* "greedy" / "exact" / "alternating" -> method; the message names --solver. */
tr_status tr_alloc_method_parse(const char *s, tr_alloc_method *m, tr_err *err);
const char *tr_alloc_method_name(tr_alloc_method m);

/* A placement: row[w] in [0, R), col[w] in [0, C), no two words in one cell.
 * Returns TR_ERR_ARG naming the first offending word otherwise. */
tr_status tr_alloc_check(const int32_t *row, const int32_t *col, int V, int R,
                         int C, tr_err *err);

/* sum_w Lr[w][row[w]] + Lc[w][col[w]], in double. Lr (V, R), Lc (V, C). */
double tr_alloc_cost(const double *Lr, const double *Lc, int V, int R, int C,
                     const int32_t *row, const int32_t *col);

/* Computes a placement with the given method into row, col (V). Requires
 * 1 <= V <= R*C. Deterministic. `exact` refuses V > TR_ALLOC_EXACT_MAX with
 * TR_ERR_ARG. Allocates its own scratch memory (this is not a training step). */
tr_status tr_alloc_solve(tr_alloc_method m, const double *Lr, const double *Lc,
                         int V, int R, int C, int32_t *row, int32_t *col,
                         tr_err *err);

/* A lower bound on the cost of every placement: min over row assignments
 * with at most C words per row of sum_w Lr[w][row(w)], plus the same for
 * columns with at most R words per column. */
tr_status tr_alloc_lower_bound(const double *Lr, const double *Lc, int V,
                               int R, int C, double *bound, tr_err *err);

#ifdef __cplusplus
}
#endif
#endif
