/*
 * lightrnn/lap.c - the linear assignment solver of lap.h: Jonker & Volgenant
 * (1987) for square problems, with costs fetched one row at a time, and its
 * shortest-augmenting-path phase alone for rectangular ones.
 *
 * The structure follows the paper's four phases (and the published LAPJV
 * Pascal/C code's variable names where it helps: collist, low, up, last,
 * endofpath): column reduction, reduction transfer, augmenting row reduction
 * (a Bertsekas-style auction step), and Dijkstra shortest augmenting paths
 * over reduced costs c[i][j] - v[j]. The row duals are never stored: the
 * invariant is that every assigned row sits at a column minimising its
 * reduced cost, so u[i] = c[i][x[i]] - v[x[i]] whenever it is needed.
 *
 * Differences from the textbook code, and why:
 *   - rows come from a callback (lap.h), so column reduction takes its
 *     column minima in one pass over the rows instead of column by column;
 *   - augmenting row reduction can cycle for a very long time in floating
 *     point (each round lowers a dual by a tiny amount); a budget of
 *     re-processings per round sends the rest to the augmentation phase,
 *     which is exact on its own;
 *   - rectangular problems skip the reduction phases (see lap.h).
 *
 * Not here: problem-specific cost structure (alloc.c), sparse problems.
 */
#include "lightrnn/lap.h"

#include <math.h>
#include <stdlib.h>

struct tr_lap_work {
    int cap;
    double *d;        /* shortest path lengths to columns */
    double *scratch;  /* a row of costs, for callbacks that compute them */
    double *colmin;   /* column reduction: minimum of each column */
    int32_t *colarg;  /* and the first row attaining it */
    int32_t *pred;    /* predecessor row of each column on the path tree */
    int32_t *collist; /* columns, partitioned into scanned / todo / rest */
    int32_t *freerows;
    int32_t *matches; /* column reduction: columns whose minimum is in row i */
};

tr_lap_work *tr_lap_work_new(int max_cols)
{
    TR_ASSERT(max_cols >= 1);
    tr_lap_work *w = tr_xcalloc(1, sizeof *w);
    size_t n = (size_t)max_cols;
    w->cap = max_cols;
    w->d = tr_xmalloc(n * sizeof(double));
    w->scratch = tr_xmalloc(n * sizeof(double));
    w->colmin = tr_xmalloc(n * sizeof(double));
    w->colarg = tr_xmalloc(n * sizeof(int32_t));
    w->pred = tr_xmalloc(n * sizeof(int32_t));
    w->collist = tr_xmalloc(n * sizeof(int32_t));
    w->freerows = tr_xmalloc(n * sizeof(int32_t));
    w->matches = tr_xmalloc(n * sizeof(int32_t));
    return w;
}

void tr_lap_work_free(tr_lap_work *w)
{
    if (!w)
        return;
    free(w->d);
    free(w->scratch);
    free(w->colmin);
    free(w->colarg);
    free(w->pred);
    free(w->collist);
    free(w->freerows);
    free(w->matches);
    free(w);
}

const double *tr_lap_dense_row(void *ctx, int i, double *scratch)
{
    (void)scratch;
    const tr_lap_dense *m = ctx;
    return m->c + (size_t)i * (size_t)m->ld;
}

/* Column reduction (JV phase 1): v[j] = min_i c[i][j]; each column is offered
 * to its minimising row, and a row offered several columns keeps the one with
 * the smallest v (columns are visited from the last, as in the paper).
 * Afterwards every reduced cost is >= 0 and assigned pairs have 0. */
static void column_reduction(tr_lap_work *w, int n, tr_lap_row_fn row, void *ctx,
                             double *v, int32_t *x, int32_t *y)
{
    const double *c = row(ctx, 0, w->scratch);
    for (int j = 0; j < n; j++) {
        w->colmin[j] = c[j];
        w->colarg[j] = 0;
    }
    for (int i = 1; i < n; i++) {
        c = row(ctx, i, w->scratch);
        for (int j = 0; j < n; j++)
            if (c[j] < w->colmin[j]) {
                w->colmin[j] = c[j];
                w->colarg[j] = i;
            }
    }
    for (int i = 0; i < n; i++) {
        w->matches[i] = 0;
        x[i] = -1;
    }
    for (int j = n - 1; j >= 0; j--) {
        int i = w->colarg[j];
        v[j] = w->colmin[j];
        if (++w->matches[i] == 1) {
            x[i] = j;
            y[j] = i;
        } else if (v[j] < v[x[i]]) {
            y[x[i]] = -1;
            x[i] = j;
            y[j] = i;
        } else {
            y[j] = -1;
        }
    }
}

/* Reduction transfer (JV phase 2): a row that got exactly one column passes
 * its slack to that column's dual, v[j1] -= min_{j != j1} (c[i][j] - v[j]),
 * so the column becomes less attractive to the free rows while row i stays at
 * a minimum. Returns the number of free rows, listed in w->freerows. */
static int reduction_transfer(tr_lap_work *w, int n, tr_lap_row_fn row, void *ctx,
                              double *v, const int32_t *x)
{
    int nfree = 0;
    for (int i = 0; i < n; i++) {
        if (w->matches[i] == 0) {
            w->freerows[nfree++] = i;
        } else if (w->matches[i] == 1) {
            const double *c = row(ctx, i, w->scratch);
            int j1 = x[i];
            double m = INFINITY;
            for (int j = 0; j < n; j++)
                if (j != j1 && c[j] - v[j] < m)
                    m = c[j] - v[j];
            v[j1] -= m;
        }
    }
    return nfree;
}

/* Augmenting row reduction (JV phase 3), two rounds over the free rows. A
 * free row i takes its cheapest column j1 (reduced cost umin) and lowers
 * v[j1] until j1 ties with its second cheapest (usubmin); the row it evicts
 * is processed next, at once when v moved (an auction step), else in the
 * next round. When umin == usubmin the second column is taken instead if the
 * first is occupied. Returns the number of rows still free. */
static int augmenting_row_reduction(tr_lap_work *w, int n, tr_lap_row_fn row, void *ctx,
                                    int nfree, double *v, int32_t *x, int32_t *y)
{
    for (int round = 0; round < 2; round++) {
        int k = 0, prev = nfree;
        /* floating point can make the auction crawl: bound its re-processings */
        long budget = 16L * n + 1000;
        nfree = 0;
        while (k < prev) {
            int i = w->freerows[k++];
            const double *c = row(ctx, i, w->scratch);
            double umin = c[0] - v[0], usub = INFINITY;
            int j1 = 0, j2 = 1;
            for (int j = 1; j < n; j++) {
                double h = c[j] - v[j];
                if (h < usub) {
                    if (h >= umin) {
                        usub = h;
                        j2 = j;
                    } else {
                        usub = umin;
                        umin = h;
                        j2 = j1;
                        j1 = j;
                    }
                }
            }
            int i0 = y[j1];
            int raised = umin < usub;
            if (raised)
                v[j1] -= usub - umin;
            else if (i0 >= 0) {
                j1 = j2;
                i0 = y[j2];
            }
            x[i] = j1;
            y[j1] = i;
            if (i0 >= 0) {
                x[i0] = -1;
                if (raised && budget-- > 0)
                    w->freerows[--k] = i0;
                else
                    w->freerows[nfree++] = i0;
            }
        }
    }
    return nfree;
}

/* Shortest augmenting path (JV phase 4) from one free row: Dijkstra over the
 * columns with lengths d[j] = reduced cost of reaching j, scanning a whole
 * level of equal-d columns at a time (collist[low..up)), stopping at the first
 * free column; then the duals of the scanned columns are lowered by
 * min - d[j] so that reduced costs stay >= 0 and the new path is tight, and
 * the assignment is flipped along the path. */
static void augment(tr_lap_work *w, int n_cols, tr_lap_row_fn row, void *ctx, int freerow,
                    double *v, int32_t *x, int32_t *y)
{
    double *d = w->d;
    int32_t *pred = w->pred, *collist = w->collist;
    const double *c = row(ctx, freerow, w->scratch);
    for (int j = 0; j < n_cols; j++) {
        d[j] = c[j] - v[j];
        pred[j] = freerow;
        collist[j] = j;
    }
    int low = 0, up = 0, last = -1, endofpath = -1;
    double min = 0.0;
    for (;;) {
        if (up == low) {
            /* next level: every todo column at the new minimum distance */
            last = low - 1;
            min = d[collist[up++]];
            for (int k = up; k < n_cols; k++) {
                int j = collist[k];
                double h = d[j];
                if (h <= min) {
                    if (h < min) {
                        up = low;
                        min = h;
                    }
                    collist[k] = collist[up];
                    collist[up++] = j;
                }
            }
            for (int k = low; k < up; k++)
                if (y[collist[k]] < 0) {
                    endofpath = collist[k];
                    break;
                }
            if (endofpath >= 0)
                break;
        }
        /* scan one column of the level: relax through the row assigned to it */
        int j1 = collist[low++];
        int i = y[j1];
        c = row(ctx, i, w->scratch);
        double h = c[j1] - v[j1] - min;
        for (int k = up; k < n_cols; k++) {
            int j = collist[k];
            double v2 = c[j] - v[j] - h;
            if (v2 < d[j]) {
                pred[j] = i;
                if (v2 == min) {
                    if (y[j] < 0) {
                        endofpath = j;
                        break;
                    }
                    collist[k] = collist[up];
                    collist[up++] = j;
                }
                d[j] = v2;
            }
        }
        if (endofpath >= 0)
            break;
    }
    for (int k = 0; k <= last; k++) {
        int j = collist[k];
        v[j] += d[j] - min;
    }
    for (;;) {
        int i = pred[endofpath];
        y[endofpath] = i;
        int j = endofpath;
        endofpath = x[i];
        x[i] = j;
        if (i == freerow)
            break;
    }
}

void tr_lap_solve(tr_lap_work *w, int n_rows, int n_cols, tr_lap_row_fn row, void *ctx, int warm,
                  double *v, int32_t *x, int32_t *y)
{
    TR_ASSERT(w && n_rows >= 0 && n_rows <= n_cols && n_cols <= w->cap);
    if (n_rows == 0) {
        for (int j = 0; j < n_cols; j++) {
            y[j] = -1;
            v[j] = 0.0;
        }
        return;
    }
    int nfree;
    if (n_rows == n_cols && n_cols >= 2) {
        if (!warm) {
            column_reduction(w, n_cols, row, ctx, v, x, y);
            nfree = reduction_transfer(w, n_cols, row, ctx, v, x);
        } else {
            for (int j = 0; j < n_cols; j++)
                y[j] = -1;
            for (int i = 0; i < n_rows; i++) {
                x[i] = -1;
                w->freerows[i] = i;
            }
            nfree = n_rows;
        }
        nfree = augmenting_row_reduction(w, n_cols, row, ctx, nfree, v, x, y);
    } else {
        /* v = 0 and each row at its cheapest column while that is free: tight */
        for (int j = 0; j < n_cols; j++) {
            v[j] = 0.0;
            y[j] = -1;
        }
        nfree = 0;
        for (int i = 0; i < n_rows; i++) {
            const double *c = row(ctx, i, w->scratch);
            int best = 0;
            for (int j = 1; j < n_cols; j++)
                if (c[j] < c[best])
                    best = j;
            if (y[best] < 0) {
                x[i] = best;
                y[best] = i;
            } else {
                x[i] = -1;
                w->freerows[nfree++] = i;
            }
        }
    }
    for (int f = 0; f < nfree; f++)
        augment(w, n_cols, row, ctx, w->freerows[f], v, x, y);
}
