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
#include <string.h>

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

/* ---------------------------------------------------------------- transportation */

/*
 * tr_transport_bound (lap.h). V items (words), K bins of capacity cap,
 * V <= K*cap; minimise sum_w L[w][bin(w)]. For prices u_k >= 0,
 *     g(u) = sum_w min_k (L[w][k] + u_k) - cap * sum_k u_k
 * is a lower bound (Lagrangian relaxation of the capacities), and max g is
 * the optimum (the constraint matrix is totally unimodular). Three steps:
 *
 *  1. Square the problem: D = K*cap - V dummy items of cost 0 fill the spare
 *     capacity, so that every bin ends exactly full and prices need no sign
 *     constraint: for any prices p, g(p - min p) is the square problem's dual
 *     value, and both problems have the same optimum.
 *  2. Approximate prices and a placement by the auction algorithm for the
 *     transportation problem with similar objects (Bertsekas & Castanon,
 *     "The auction algorithm for the transportation problem", Annals of
 *     Operations Research 20, 1989): each bin is cap slots with their own
 *     prices; an unplaced item bids for its cheapest bin, raising the price of
 *     that bin's cheapest slot by its margin over its second-cheapest bin plus
 *     epsilon, and evicts the slot's item. Epsilon-scaling, from S/4 down to
 *     eps_rel * S (S the largest |L|), dividing by 8, keeps price wars short.
 *     A bid costs O(K); when every item ranks the bins alike the first phase
 *     makes about V*K/2 bids, O(V*K^2) in all, and later phases few.
 *  3. Make it exact. The auction's placement fills every bin; prices under
 *     which it satisfies complementary slackness solve the difference
 *     constraints u_a - u_b <= M[a][b], M[a][b] = min over the items of a of
 *     L[w][b] - L[w][a] (0 for a dummy): Bellman-Ford over the K bins, which
 *     converges exactly when the placement is optimal, as it is after a fine
 *     enough auction. Otherwise (a negative cycle, from epsilon) each item
 *     that is then not in a cheapest bin moves to one, and successive
 *     shortest paths (Ahuja, Magnanti & Orlin, "Network Flows", 1993, ch. 9)
 *     repair the capacities: while a bin is over-full, Dijkstra from all
 *     over-full bins over reduced arc costs M[a][b] + u_b - u_a >= 0 to the
 *     nearest under-full bin; prices rise by (its distance - dist) on the
 *     settled bins, the path's arcs become tight, and one item moves along
 *     each. This repair can be slow when many items were out of place (each
 *     path O(K^2) plus O(|bin|) per entry of M to recompute), which is why
 *     the auction runs to a small epsilon.
 *
 * M and the item attaining each entry are kept up to date: an item entering
 * a bin updates that bin's row in O(K); an item leaving recomputes only the
 * entries it attained (O(|bin|) each), or the whole row when there are many.
 * Memory O(K^2 + K*cap). The value returned is g(u - min u) at the final
 * prices, computed from scratch, so it is a valid bound whatever rounding
 * did.
 *
 * When there are more dummies than items (D > V, odd table shapes) the
 * auction is skipped, as it would mostly move dummies: the repair starts from
 * u = 0 with every item in its cheapest bin. When cap >= V or K = 1 no
 * capacity binds and u = 0 is optimal. For K > TRANSPORT_MAX_BINS (K^2
 * memory) the prices stay 0 too and the bound, sum_w min_k L[w][k], is valid
 * but weaker; LightRNN tables are far smaller.
 */

#define TRANSPORT_MAX_BINS 8192

typedef struct {
    const double *L;
    int V, K, cap, D; /* bidders 0..V-1 are items, V..V+D-1 dummies */
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
 * item's bin in x (V) and the number of dummies in each bin in dummies (K). */
static void transport_auction(const tproblem *p, double eps_rel, double *u, int32_t *x, int32_t *dummies)
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
    double eps = S / 4.0, eps_min = S * eps_rel;
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
            if (!(s.price > u[k1])) /* eps lost to rounding: still bid up */
                s.price = nextafter(u[k1], INFINITY);
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
    int32_t *w; /* the items in the bin */
    int n, cap;
} bin_items;

static void bin_add(bin_items *b, int32_t *pos, int32_t w)
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

static void bin_remove(bin_items *b, int32_t *pos, int32_t w)
{
    int i = pos[w];
    b->w[i] = b->w[--b->n];
    pos[b->w[i]] = i;
}

typedef struct {
    const double *L;
    int V, K;
    double *M;        /* K x K: M[a*K + b], over the real items of a */
    int32_t *Mw;      /* the item attaining it, -1 if a has none */
    bin_items *bins;  /* real items */
    int32_t *dummies; /* dummy items per bin */
    int32_t *pos;     /* item -> index in its bin's list */
} transport;

/* M[a][b] over the items of a, for one b (j >= 0) or every b (j < 0);
 * ties go to the smaller item. */
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
    const bin_items *bw = &t->bins[a];
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

static void move_item(transport *t, int32_t w, int a, int b)
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

/* The cheapest way to move one item from a to b: a dummy (cost 0) when a
 * holds one and no real item is cheaper, else M's item. Returns the cost and
 * the item (-1 for a dummy). */
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
                   tr_xmalloc((size_t)K * K * sizeof(int32_t)), tr_xcalloc((size_t)K, sizeof(bin_items)),
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
     * u_a - u_b <= cost of moving an item of a to b, for all a, b, a system of
     * difference constraints solved by Bellman-Ford (u = -shortest distance
     * from a virtual source). It converges when the placement is optimal; if
     * not (a negative cycle, from the auction's epsilon), the items that are
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
    /* rounding in the potentials is not a reason to move an item */
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
            move_item(&t, w, at, best);
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
                move_item(&t, path[i], path[i + 1], path[i + 2]);
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

double tr_transport_bound(const double *L, int V, int K, int cap, double eps_rel, double *prices)
{
    TR_ASSERT(V >= 1 && K >= 1 && cap >= 1 && (int64_t)K * cap >= V && eps_rel > 0.0 && eps_rel < 1.0);
    double *u = tr_xcalloc((size_t)K, sizeof *u);
    /* with cap >= V no capacity binds: u = 0 is optimal */
    if (K > 1 && K <= TRANSPORT_MAX_BINS && cap < V) {
        tproblem p = {L, V, K, cap, (int)((int64_t)K * cap - V)};
        int32_t *x = tr_xmalloc((size_t)V * sizeof *x), *dummies = tr_xcalloc((size_t)K, sizeof *dummies);
        if (p.D <= V) {
            transport_auction(&p, eps_rel, u, x, dummies);
        } else {
            /* much spare room (odd table shapes): the auction would spend its
             * time on dummies; start from u = 0, every item in its cheapest
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
    if (prices)
        memcpy(prices, u, (size_t)K * sizeof *u);
    free(u);
    return g - (double)cap * su;
}

