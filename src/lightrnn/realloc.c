/* Re-allocation of the LightRNN word table between rounds of training: sum
 * every word's row and column losses over a pass of the text, then solve the
 * placement problem (see alloc.c) and install the result. */
#include "triad/lightrnn.h"

#include <stdlib.h>
#include <string.h>

tr_status tr_lightrnn_losses(const tr_lightrnn *m, const tr_vocab *v,
                            const char *path, int B, int T, double *Lr,
                            double *Lc, int64_t *tokens, tr_err *err)
{
    tr_batcher *bt = NULL;
    tr_lightrnn_state s;
    tr_status st = tr_batcher_open(&bt, path, v, m->cfg.lower, B, T, err);
    if (st)
        return st;
    if ((st = tr_lightrnn_state_init(&s, m, T, B, 0, 0, err))) {
        tr_batcher_close(bt);
        return st;
    }
    memset(Lr, 0, (size_t)m->cfg.vocab_size * m->R * sizeof(double));
    memset(Lc, 0, (size_t)m->cfg.vocab_size * m->C * sizeof(double));
    *tokens = 0;
    int steps = 0;
    while (!(st = tr_batcher_next(bt, s.seq.x, s.seq.y, &steps, err)) && steps > 0) {
        tr_lightrnn_forward(&s, m, s.seq.x, s.seq.y, steps, 0);
        tr_lightrnn_accumulate(&s, m, Lr, Lc);
        tr_lightrnn_carry(&s, m);
        *tokens += (int64_t)steps * B;
    }
    tr_lightrnn_state_free(&s);
    tr_batcher_close(bt);
    return st;
}

tr_status tr_lightrnn_reallocate(tr_lightrnn *m, const tr_vocab *v,
                                 const char *path, int B, int T,
                                 tr_alloc_method method,
                                 tr_realloc_report *rep, tr_err *err)
{
    const int V = m->cfg.vocab_size, R = m->R, C = m->C;
    memset(rep, 0, sizeof *rep);
    tr_status st = TR_OK;
    double *Lr = malloc((size_t)V * R * sizeof(double));
    double *Lc = malloc((size_t)V * C * sizeof(double));
    int32_t *row = malloc(sizeof(int32_t) * (size_t)V), *col = malloc(sizeof(int32_t) * (size_t)V);
    if (!Lr || !Lc || !row || !col) {
        st = tr_err_set(err, TR_ERR_NOMEM, "cannot allocate the re-allocation loss matrices (%d x %d)", V, R);
        goto done;
    }
    if ((st = tr_lightrnn_losses(m, v, path, B, T, Lr, Lc, &rep->tokens, err)))
        goto done;
    double t0 = tr_now_seconds();
    rep->cost_before = tr_alloc_cost(Lr, Lc, V, R, C, m->table.row, m->table.col);
    if ((st = tr_alloc_solve(method, Lr, Lc, V, R, C, row, col, err)) ||
        (st = tr_alloc_lower_bound(Lr, Lc, V, R, C, &rep->bound, err)))
        goto done;
    rep->seconds = tr_now_seconds() - t0;
    rep->cost_after = tr_alloc_cost(Lr, Lc, V, R, C, row, col);
    for (int w = 0; w < V; w++)
        rep->moved += row[w] != m->table.row[w] || col[w] != m->table.col[w];
    if ((st = tr_word_table_set(&m->table, row, col, err)))
        goto done;
    tr_lightrnn_table_changed(m);
done:
    free(Lr);
    free(Lc);
    free(row);
    free(col);
    return st;
}
