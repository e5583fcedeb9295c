/*
 * triad/dual.h - dual learning on two sequence-to-sequence models of inverse
 * tasks, A->B and B->A (G2P and P2G, en->fr and fr->en), and a language
 * model of each side:
 *   - He, Xia, Qin, Wang, Yu, Liu, Ma, "Dual Learning for Machine
 *     Translation", NIPS 2016 (the closed loop on monolingual data);
 *   - Xia, Qin, Chen, Bian, Yu, Liu, "Dual Supervised Learning", ICML 2017
 *     (the duality regulariser on paired data);
 *   - Xia, Bian, Qin, Yu, Liu, "Dual Inference for Machine Learning",
 *     IJCAI 2017 (re-ranking with the inverse model).
 *
 * Every training signal here is a per-sequence weight on the one loss that
 * seq2seq.h trains, L = sum_b w_b NLL_b: maximum likelihood is w = 1, the
 * policy gradient of the closed loop is w = (r - baseline) c (minimising
 * -sum w log P climbs E[r]), the
 * reconstruction term is w = (1 - alpha) c, and the regulariser adds
 * -2 lambda gap (A->B) and +2 lambda gap (B->A) to the weight 1 of MLE.
 *
 * Sides. A side is the text of one end of a task: spellings (one word per
 * line; each character is a symbol), pronunciations (phonemes separated by
 * spaces) or sentences (split into subword units by the task's BPE). Its
 * ids are those of the side's vocabulary in the seq2seq checkpoints, so that
 * the language models, both translation models and the data share them.
 *
 * Marginal language models. log P(x) of a side's sequence is given by an
 * LSTM language model (lm.h, tr_lm) over the side's vocabulary, scoring
 * each sequence on its own: from a zero state and the input <eos>,
 *   log P(x) = sum_{t=1..n+1} log P(x_t | <eos>, x_1 .. x_{t-1}),  x_{n+1} = <eos>,
 * and trained the same way, a batch of whole sequences at a time.
 */
#ifndef TRIAD_DUAL_H
#define TRIAD_DUAL_H

#include "triad/bpe.h"
#include "triad/lm.h"
#include "triad/seq2seq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- sides */

typedef enum { TR_SIDE_SPELLING = 0, TR_SIDE_PHONEMES = 1, TR_SIDE_SUBWORDS = 2 } tr_side_kind;

typedef struct {
    tr_side_kind kind;
    const tr_vocab *v;      /* the side's vocabulary */
    const tr_bpe *bpe;      /* TR_SIDE_SUBWORDS only */
} tr_side;

/* Longest sequence of the side (TR_PRON_MAX_LEN or TR_MT_MAX_LEN). */
int tr_side_max_len(const tr_side *s);
/* The ids of one line of the side's text into ids (room for
 * tr_side_max_len). Returns the count, or -1 with a message naming
 * where:line (an empty line, an unknown character or phoneme, a spelling
 * or pronunciation over the limit). A sentence of subword units may count
 * more than tr_side_max_len: only that many ids are written. Subword
 * units never seen are <unk>. */
int tr_side_ids(const tr_side *s, const char *line, int32_t *ids,
                const char *where, int64_t line_no, tr_err *err);
/* The text of n ids (malloc'ed): letters together, phonemes separated by
 * spaces, subword units detokenised. */
char *tr_side_text(const tr_side *s, const int32_t *ids, int n);
/* Every line of the file of at most max_len (1..tr_side_max_len) symbols
 * as a sequence (the source side of out; targets empty); longer lines are
 * left out and counted in *left_out. Errors as tr_side_ids, naming the
 * file. */
tr_status tr_side_read(const tr_side *s, const char *path, int max_len,
                       tr_s2s_data *out, int64_t *left_out, tr_err *err);

/* ---------------------------------------------------------------- marginal language models */

/* Scores (and trains on) batches of up to B whole sequences of up to
 * max_len ids with one tr_lm. */
typedef struct {
    int B, T;              /* lanes, steps (max_len + 1) */
    tr_lm_state st;
    int32_t *x, *y;        /* (T, B) inputs (<eos> first) and targets (-1 past the end) */
    int b;                 /* sequences in the last batch */
    double *logp;          /* (B) log P(x_b) of the last batch */
} tr_lm_scorer;

tr_status tr_lm_scorer_init(tr_lm_scorer *s, const tr_lm *m, int B,
                            int max_len, uint64_t seed, tr_err *err);
void tr_lm_scorer_free(tr_lm_scorer *s);
/* log P(seq_i) of b <= B sequences (1 <= len_i <= max_len) into s->logp;
 * returns the summed NLL (-sum logp). train != 0 applies dropout (for
 * training through tr_lm_scorer_backward). */
double tr_lm_scorer_forward(tr_lm_scorer *s, const tr_lm *m,
                            const int32_t *const *seq, const int *len, int b,
                            int train);
/* Adds scale * the gradient of the last forward's summed NLL into m. */
void tr_lm_scorer_backward(tr_lm_scorer *s, tr_lm *m, float scale);
/* Summed NLL of every sequence of d (its source side) and, in *tokens, the
 * predicted tokens (each sequence's length + 1). */
double tr_lm_scorer_nll(tr_lm_scorer *s, const tr_lm *m, const tr_s2s_data *d,
                        int64_t *tokens);

/* Training of a marginal language model on whole sequences: each epoch
 * shuffles train (seeded by seed and the epoch), takes an optimiser step
 * per batch on the mean NLL per token (clipped to clip), then measures the
 * dev NLL per token; an improvement keeps the weights, otherwise the
 * learning rate is divided by decay and the weights go back to the best;
 * after patience such epochs training stops. m ends with the best weights. */
typedef struct {
    int batch, epochs, patience;
    float clip, decay;
    tr_opt_config opt;
    uint64_t seed;
} tr_marginal_opts;

typedef void (*tr_marginal_progress_fn)(void *ctx, int epoch, double train_nll,
                                        double dev_nll, int improved);

tr_status tr_marginal_train(tr_lm *m, const tr_s2s_data *train,
                            const tr_s2s_data *dev, const tr_marginal_opts *o,
                            tr_marginal_progress_fn fn, void *ctx,
                            volatile sig_atomic_t *stop, tr_err *err);

/* ---------------------------------------------------------------- the closed loop (NIPS 2016) */

typedef enum {
    TR_BASELINE_NONE = 0,   /* r_k as it is */
    TR_BASELINE_MEAN = 1,   /* r_k minus the c-weighted mean reward of the same input's candidates */
} tr_baseline;

/* The rewards and sequence weights of one game started from b sentences s_i
 * of side A, each with K candidates mid_{i,k} from the A->B model (index
 * i*K + k), given
 *   lm_mid[i*K+k]  = log P_B(mid_{i,k}) (the side B language model; divide it
 *                    by the candidate's length beforehand for the
 *                    length-normalised variant),
 *   rec[i*K+k]     = log P(s_i | mid_{i,k}; B->A),
 *   c[i*K+k]       = the candidate's share of the expectation: 1/K for K
 *                    candidates of a beam or of sampling, P(mid | s) for an
 *                    exact expectation over an enumerated set,
 * writes
 *   reward[j]  = alpha * lm_mid[j] + (1 - alpha) * rec[j],
 *   w_ab[j]    = (reward[j] - baseline_i) * c[j]   the A->B NLL weight of (s_i -> mid_j):
 *                the loss's gradient is -sum_j c_j (r_j - b_i) grad log P(mid_j | s_i),
 *                minus the policy gradient of E[r] (a descent step climbs E[r]),
 *   w_ba[j]    = (1 - alpha) * c[j]                 the B->A NLL weight of (mid_j -> s_i):
 *                the gradient of -(1 - alpha) E[log P(s | mid)].
 * Returns the expected reward sum_k c_k r_k, averaged over the b inputs. */
double tr_dual_loop_weights(const double *lm_mid, const double *rec,
                            const double *c, int b, int K, double alpha,
                            tr_baseline baseline, double *reward, float *w_ab,
                            float *w_ba);

/* ---------------------------------------------------------------- the duality regulariser (ICML 2017) */

/* For b pairs (x_i, y_i) with lm_x = log P(x), lm_y = log P(y) from the
 * fixed marginal models and nll_xy = -log P(y|x), nll_yx = -log P(x|y):
 *   gap_i = lm_x + log P(y|x) - lm_y - log P(x|y)
 * and the NLL weights of L_xy = NLL_xy + lambda gap^2 and
 * L_yx = NLL_yx + lambda gap^2 (gap held constant in the backward pass):
 *   w_xy = 1 - 2 lambda gap,  w_yx = 1 + 2 lambda gap.
 * Returns sum gap^2. */
double tr_dsl_weights(const double *lm_x, const double *lm_y,
                      const double *nll_xy, const double *nll_yx, int b,
                      double lambda, double *gap, float *w_xy, float *w_yx);

/* ---------------------------------------------------------------- training both models */

/* One of the two models of a dual run, and how its checkpoint is written. */
typedef struct {
    tr_s2s *m;
    const char *output;          /* the best weights (tr_s2s_save) */
    const char *task;            /* triad.task of the checkpoint */
    const tr_vocab *src_vocab, *tgt_vocab;
    const tr_meta *extra;        /* more checkpoint metadata (n_extra entries) */
    int n_extra;
    tr_s2s_validate_fn validate; /* dev score, lower is better */
    void *vctx;
} tr_dual_model;

typedef struct {
    const char *state;           /* the run's state file */
    int batch;                   /* pairs per supervised step */
    int games;                   /* monolingual sentences per dual step */
    int K;                       /* candidates per sentence (beam width) */
    int max_len;                 /* longest candidate */
    int len_a, len_b;            /* and at most len_a * n + len_b for a sentence of n when len_a > 0 */
    double alpha;                /* reward = alpha LM + (1 - alpha) reconstruction */
    int lm_norm;                 /* the LM reward per token (divided by length + 1) */
    tr_baseline baseline;
    double dual_share;           /* share of the steps that are games (0..1), after the ramp */
    double share_start;          /* the share at step 0, moving linearly to dual_share over */
    int64_t ramp;                /* ... this many steps (0: dual_share from the start) */
    double lambda;               /* duality regulariser on supervised steps (0 = off) */
    int64_t dsl_warmup;          /* supervised steps before the regulariser starts */
    int64_t steps;               /* updates of the whole run */
    int64_t eval_every;          /* validate both models (and save) every N updates */
    tr_opt_config opt;           /* one optimiser per model, both with this config */
    float clip;                  /* global gradient norm of each model (0 = off) */
    uint64_t seed;
    int64_t max_steps;           /* this piece stops (and saves) after N updates; 0 = none */
    double max_seconds;          /* ... or after this much time; 0 = none */
} tr_dual_opts;

typedef enum { TR_DUAL_SUPERVISED = 0, TR_DUAL_GAME_A = 1, TR_DUAL_GAME_B = 2, TR_DUAL_VALIDATED = 3 } tr_dual_step_kind;

typedef struct {
    int64_t step, steps;
    tr_dual_step_kind kind;      /* what the step just done was */
    /* means since the last validation (at TR_DUAL_VALIDATED: over the interval it closes);
     * NAN when the interval had none (no supervised steps, games or regularised steps) */
    double loss_ab, loss_ba;     /* NLL per token of supervised steps */
    double reward_a, reward_b;   /* expected reward of games from A / from B */
    double gap2;                 /* squared duality gap (regularised steps) */
    double elapsed, steps_per_s; /* this piece */
    double total;                /* training seconds of every piece so far */
    /* TR_DUAL_VALIDATED: */
    double score_ab, score_ba;
    int improved_ab, improved_ba;
    const char *note_ab, *note_ba;
} tr_dual_progress;

typedef void (*tr_dual_progress_fn)(void *ctx, const tr_dual_progress *p);

/* Trains A->B and B->A together for o->steps updates from their current
 * (warm-started) weights. With G(i) the integral of the share schedule
 * over steps [0, i) (share_start moving linearly to dual_share over ramp
 * steps), step i is a game when floor(G(i+1)) > floor(G(i)), games
 * alternating between a batch of monolingual A (a
 * closed loop A->B->A: candidates by beam search with A->B, rewards from
 * LM_B and B->A, tr_dual_loop_weights) and of monolingual B; otherwise a
 * supervised step on a batch of pairs (src A, tgt B) for both models, with
 * the duality regulariser after dsl_warmup steps when lambda > 0. Each
 * model takes one optimiser step per update on its loss per target token
 * (the weighted expectation's tokens for games). A candidate without
 * tokens takes no part in its game (the others share its weight).
 * A new run validates both models before the first update (step 0: the
 * warm start, which stays the output if no later weights beat it); every
 * eval_every updates and at the end both models are validated again; each
 * model's output holds its best weights so far, and o->state the current
 * weights, the best copies, both optimisers, the data positions, the
 * dropout streams and the counters, so that resume != 0 continues exactly
 * (the current weights then come from the state file). lm_a and lm_b may be
 * NULL when alpha and lambda are 0. On resume the saved options replace o
 * except steps (when > 0), max_steps and max_seconds. */
tr_status tr_dual_train(tr_dual_model *ab, tr_dual_model *ba, const tr_lm *lm_a,
                        const tr_lm *lm_b, const tr_s2s_data *paired,
                        const tr_s2s_data *mono_a, const tr_s2s_data *mono_b,
                        tr_dual_opts *o, int resume,
                        volatile sig_atomic_t *stop, tr_dual_progress_fn fn,
                        void *ctx, int *stopped, tr_err *err);

/* ---------------------------------------------------------------- dual inference (IJCAI 2017) */

/* The index of the best of k candidates y_j of one input x by
 *   alpha * (-log P(y_j|x)) + (1 - alpha) * (-log P(x|y_j) - log P(y_j) + log P(x))
 * (lowest first; ties go to the lower index, i.e. the primal ranking);
 * fwd[j] = log P(y_j|x), bwd[j] = log P(x|y_j), lm_y[j] = log P(y_j). With
 * alpha = 1 the primal best (index 0 of a sorted k-best list) wins. */
int tr_dual_rerank(const double *fwd, const double *bwd, const double *lm_y,
                   double lm_x, int k, double alpha);

#ifdef __cplusplus
}
#endif
#endif
