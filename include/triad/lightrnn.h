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
#include "triad/data.h"
#include "triad/lm.h"
#include "triad/nn.h"

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

/* ---------------------------------------------------------------- word table */

/* Words in an R x C table, R = C = ceil(sqrt(V)). */
typedef struct {
    int V, R, C;
    int32_t *row, *col; /* (V) the cell of each word */
    int32_t *word;      /* (R*C) the word of each cell, -1 when empty */
} tr_word_table;

/* The initial table: word w at (w / C, w % C), so with a vocabulary sorted by
 * frequency the frequent words share the first rows. */
tr_status tr_word_table_init(tr_word_table *t, int V, tr_err *err);
void tr_word_table_free(tr_word_table *t);
/* Replaces the placement (checked with tr_alloc_check). */
tr_status tr_word_table_set(tr_word_table *t, const int32_t *row,
                            const int32_t *col, tr_err *err);
/* "row col\n" per word in id order (malloc'ed), and back (the table must be
 * initialised with the right V); these travel in checkpoint metadata. */
char *tr_word_table_to_string(const tr_word_table *t);
tr_status tr_word_table_from_string(tr_word_table *t, const char *s,
                                    const char *where, tr_err *err);

/* ---------------------------------------------------------------- model */

/* The LightRNN language model. Word w_t is read as two inputs: the column
 * embedding of w_{t-1}, then the row embedding of w_t; one LSTM stack
 * consumes the 2T inputs of a window in that order. The row of w_t is
 * predicted from the output after x^c_{t-1}, its column from the output after
 * x^r_t, and P(w_t) = P_row(row(w_t)) * P_col(col(w_t) | row(w_t)).
 * Empty cells are masked: rows without words get probability 0, and the
 * column softmax of row i runs over the columns that hold a word in row i,
 * so that the probabilities of the V real words sum to exactly 1.
 * Parameters (PyTorch-style names):
 *   row_embedding.weight (R, E), col_embedding.weight (C, E), rnn.* (LSTM),
 *   row_decoder.weight (R, H), row_decoder.bias (R),
 *   col_decoder.weight (C, H), col_decoder.bias (C). */
typedef struct {
    tr_lm_config cfg;     /* the same fields as the word LSTM LM */
    int R, C;
    tr_arena arena;
    tr_params params;
    tr_param *row_emb, *col_emb;
    tr_lstm_stack rnn;
    tr_param *row_w, *row_b, *col_w, *col_b;
    tr_word_table table;
    tr_alloc_method realloc; /* used by the training loop after each epoch */
    int realloc_enabled;
    float *row_mask;      /* (R) 0, or -inf for a row without words */
    float *cell_mask;     /* (R*C) 0, or -inf for an empty cell */
} tr_lightrnn;

tr_status tr_lightrnn_init(tr_lightrnn *m, const tr_lm_config *cfg, tr_err *err);
void tr_lightrnn_free(tr_lightrnn *m);
/* Embeddings and decoders U(-0.1, 0.1), biases 0, LSTM as nn.LSTM. */
void tr_lightrnn_init_weights(tr_lightrnn *m, uint64_t seed);
/* Recomputes the masks after the table changed. */
void tr_lightrnn_table_changed(tr_lightrnn *m);

typedef struct {
    tr_seq_state seq;        /* first member: x, y (T, B), rng, rnn over 2T steps */
    tr_arena arena;
    int32_t *xc, *yr, *yc;   /* (T*B) column of x; row and column of y */
    float *in;               /* (2T, B, E) x^c(x_t) and x^r(y_t), interleaved */
    float *hr, *hc;          /* (T*B, H) outputs after x^c (rows) and after x^r (columns) */
    float *zr, *zc;          /* (T*B, R), (T*B, C) logits before masking */
    float *pr, *pc;          /* the masked softmax, then the logits' gradients */
    float *nll;              /* (T*B) -log P(y) */
    float *nll_col;          /* (T*B) its column part */
} tr_lightrnn_state;

tr_status tr_lightrnn_state_init(tr_lightrnn_state *s, const tr_lightrnn *m,
                                 int T, int B, uint64_t seed, uint64_t stream,
                                 tr_err *err);
void tr_lightrnn_state_free(tr_lightrnn_state *s);
void tr_lightrnn_state_reset(tr_lightrnn_state *s, const tr_lightrnn *m);
/* Forward over x, y (steps, B) with 0 <= y < V; returns the summed -log P(y)
 * in nats. train != 0 applies dropout. */
double tr_lightrnn_forward(tr_lightrnn_state *s, const tr_lightrnn *m,
                           const int32_t *x, const int32_t *y, int steps,
                           int train);
/* Adds scale * d(sum -log P)/d(theta) into m's gradients. */
void tr_lightrnn_backward(tr_lightrnn_state *s, tr_lightrnn *m, float scale);
void tr_lightrnn_carry(tr_lightrnn_state *s, const tr_lightrnn *m);
/* Feeds prime (n >= 1 ids) and samples `length` ids into out at the
 * temperature (> 0): the row of each word from the masked row softmax, then
 * its column among the words of that row. s is reset first; lane 0 is used. */
void tr_lightrnn_sample(const tr_lightrnn *m, tr_lightrnn_state *s,
                        const int32_t *prime, int n, int length,
                        float temperature, tr_rng *rng, int32_t *out);
/* The model behind the tr_seq_model interface (kind "lightrnn"). */
tr_seq_model tr_lightrnn_seq(tr_lightrnn *m);

/* What one re-allocation did. */
typedef struct {
    double cost_before;  /* the loss-matrix cost of the placement it replaced */
    double cost_after;   /* of the new placement */
    double bound;        /* lower bound on every placement's cost */
    double seconds;      /* solver time (without the pass over the text) */
    int64_t tokens;      /* occurrences the loss matrices were summed over */
    int moved;           /* words whose cell changed */
} tr_realloc_report;

/* The loss matrices of re-allocation: one forward pass (no dropout) over the
 * text at path, B lanes, windows of T, summing for every occurrence of w
 * -log P_row(i) into Lr[w][i] (V, R) and -log P_col(j) into Lc[w][j] (V, C)
 * (both zeroed first); *tokens receives the number of occurrences. */
tr_status tr_lightrnn_losses(const tr_lightrnn *m, const tr_vocab *v,
                            const char *path, int B, int T, double *Lr,
                            double *Lc, int64_t *tokens, tr_err *err);

/* Re-allocates the word table (Li et al. 2016, section 3.3): one forward pass
 * over the text at path (B lanes, windows of T) sums the loss matrices
 * L_r, L_c of every word, then `method` places the words, the lower bound is
 * computed for the report, and the table and masks are replaced. Allocates
 * the (V, R) and (V, C) matrices in double for the call. */
tr_status tr_lightrnn_reallocate(tr_lightrnn *m, const tr_vocab *v,
                                 const char *path, int B, int T,
                                 tr_alloc_method method,
                                 tr_realloc_report *rep, tr_err *err);

/* Checkpoints: the parameters, and metadata triad.model = "lightrnn",
 * triad.config, triad.vocab, triad.table (the placement), triad.step. */
tr_status tr_lightrnn_save(const tr_lightrnn *m, const tr_vocab *v,
                           int64_t step, const char *path, tr_err *err);
tr_status tr_lightrnn_load(tr_lightrnn *m, tr_vocab **v, int64_t *step,
                           const char *path, tr_err *err);
/* After a forward: for every target w = y[n], adds -log of the unmasked row
 * softmax to Lr[w][0..R) and of the unmasked column softmax to
 * Lc[w][0..C) (the loss matrices of re-allocation). */
void tr_lightrnn_accumulate(const tr_lightrnn_state *s, const tr_lightrnn *m,
                            double *Lr, double *Lc);

#ifdef __cplusplus
}
#endif
#endif
