/*
 * triad/lm.h - the word-level LSTM language model (full softmax): PyTorch's
 * word_language_model RNNModel with an LSTM and no weight tying, parameter
 * for parameter:
 *   encoder.weight (V, E)                         embedding
 *   rnn.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k} nn.LSTM(E, H, L)
 *   decoder.weight (V, H), decoder.bias (V)       nn.Linear(H, V)
 * with dropout on the embeddings, between LSTM layers and on the last LSTM
 * output. The weights (tr_lm) are separate from the activations of one
 * worker (tr_lm_state), so one model can be trained by several workers.
 *
 * Also here: checkpoints (safetensors with the config and the vocabulary in
 * the metadata), the training loop with exact resume, evaluation and sampling.
 */
#ifndef TRIAD_LM_H
#define TRIAD_LM_H

#include "triad/core.h"
#include "triad/data.h"
#include "triad/io.h"
#include "triad/nn.h"
#include "triad/optim.h"

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TR_LM_MAX_LAYERS TR_LSTM_MAX_LAYERS

typedef struct {
    int vocab_size; /* V, including <unk> and <eos> */
    int emb;        /* E */
    int hidden;     /* H */
    int layers;     /* L */
    float dropout;  /* p in [0, 1) */
    int lower;      /* the tokenizer lower-cases */
} tr_lm_config;

/* Range checks; the message names the CLI option (--hidden, --layers, ...). */
tr_status tr_lm_config_check(const tr_lm_config *c, tr_err *err);
/* {"vocab_size":..,"emb":..,"hidden":..,"layers":..,"dropout":..,"lower":..}
 * (malloc'ed) and back; from_json names `where` (a file) in its messages. */
char *tr_lm_config_to_json(const tr_lm_config *c);
tr_status tr_lm_config_from_json(tr_lm_config *c, const char *json,
                                 const char *where, tr_err *err);

/* The model's weights and their gradients: one parameter set. */
typedef struct {
    tr_lm_config cfg;
    tr_arena arena;
    tr_params params;
    tr_param *encoder;   /* (V, E), row-sparse gradient */
    tr_lstm_stack rnn;   /* "rnn.*": L layers, E -> H */
    tr_param *dec_w;     /* (V, H) */
    tr_param *dec_b;     /* (V) */
} tr_lm;

tr_status tr_lm_init(tr_lm *m, const tr_lm_config *cfg, tr_err *err);
void tr_lm_free(tr_lm *m);
/* PyTorch's initialisation: encoder and decoder weights U(-0.1, 0.1),
 * decoder bias 0, LSTM weights and biases U(-1/sqrt(H), 1/sqrt(H)). */
void tr_lm_init_weights(tr_lm *m, uint64_t seed);

/* ---------------------------------------------------------------- any language model */

/* What the worker state of every language model begins with: the current
 * window, the dropout stream, and the LSTM stack's activations with the
 * hidden state carried between windows. */
typedef struct {
    int T, B, steps;         /* capacity, and the length of the last window */
    tr_rng rng;
    int32_t *x, *y;          /* (T, B) the current window */
    tr_lstm_stack_state rnn;
} tr_seq_state;

/* A language model as the training loop, evaluation and checkpoints see it:
 * the word LSTM LM (tr_lm_seq) and LightRNN (tr_lightrnn_seq) both are one. */
typedef struct {
    const char *kind;            /* checkpoint metadata triad.model */
    void *model;
    tr_params *params;
    const tr_lstm_stack *rnn;
    const tr_lm_config *cfg;
    /* a new worker state (set-up time: allocates) whose first member is the
     * tr_seq_state returned; NULL and err set on failure */
    tr_seq_state *(*state_new)(const void *model, int T, int B, uint64_t seed,
                               uint64_t stream, tr_err *err);
    void (*state_delete)(tr_seq_state *s);
    /* summed -log P(y) over the window; train != 0 applies dropout */
    double (*forward)(tr_seq_state *s, const void *model, const int32_t *x,
                      const int32_t *y, int steps, int train);
    /* adds scale * the gradient of the last forward's loss */
    void (*backward)(tr_seq_state *s, void *model, float scale);
    /* feeds prime (n >= 1 ids) and samples `length` ids at the temperature
     * (> 0) into out; s is reset first (any T, B; lane 0 is used) */
    void (*sample)(tr_seq_state *s, const void *model, const int32_t *prime,
                   int n, int length, float temperature, tr_rng *rng,
                   int32_t *out);
    tr_status (*save)(const void *model, const tr_vocab *v, int64_t step,
                      const char *path, tr_err *err);
    /* optional (NULL = nothing): called by the training loop at the end of
     * every epoch but the last, before validation, with the training text;
     * may change the model (LightRNN re-allocates its word table) and writes
     * a one-line report into note */
    tr_status (*epoch_end)(void *model, const tr_vocab *v, const char *train,
                           int B, int T, char *note, size_t n, tr_err *err);
} tr_seq_model;

/* Zeroes the carried hidden state; moves the last window's final state to the
 * start of the next (truncated BPTT). */
void tr_seq_reset(tr_seq_state *s, const tr_seq_model *sm);
void tr_seq_carry(tr_seq_state *s, const tr_seq_model *sm);

/* ---------------------------------------------------------------- the word LSTM LM's worker */

/* One worker's activations for windows of up to T steps and B lanes. */
typedef struct {
    tr_seq_state seq;        /* first member: x, y, rng, rnn */
    tr_arena arena;
    float *emb;              /* (T, B, E) */
    float *probs;            /* (T*B, V) softmax, then dlogits */
    float *nll;              /* (T*B) per-target loss */
} tr_lm_state;

/* Plans and allocates the buffers; hidden state zero; dropout stream seeded
 * from (seed, stream). */
tr_status tr_lm_state_init(tr_lm_state *s, const tr_lm *m, int T, int B,
                           uint64_t seed, uint64_t stream, tr_err *err);
void tr_lm_state_free(tr_lm_state *s);
/* Zeroes the carried hidden state (start of an epoch). */
void tr_lm_state_reset(tr_lm_state *s, const tr_lm *m);

/* Forward over x, y (steps, B) time-major; targets y < 0 are skipped.
 * train != 0 applies dropout. Returns the summed negative log-likelihood in
 * nats (double). Does not move the hidden state: see tr_lm_carry. */
double tr_lm_forward(tr_lm_state *s, const tr_lm *m, const int32_t *x,
                     const int32_t *y, int steps, int train);
/* Adds scale * d(sum NLL)/d(theta) into m's gradients (use 1/(steps*B) for
 * the mean). Uses the activations of the last tr_lm_forward. */
void tr_lm_backward(tr_lm_state *s, tr_lm *m, float scale);
/* The final state of the last window becomes the next window's start
 * (truncated BPTT: no gradient flows across windows). */
void tr_lm_carry(tr_lm_state *s, const tr_lm *m);

/* The model behind the tr_seq_model interface. */
tr_seq_model tr_lm_seq(tr_lm *m);

/* ---------------------------------------------------------------- checkpoints */

/* Writes weights (PyTorch names) and metadata triad.model = "lm",
 * triad.config, triad.vocab, triad.step, atomically. */
tr_status tr_lm_save(const tr_lm *m, const tr_vocab *v, int64_t step,
                     const char *path, tr_err *err);
/* The parts every language-model checkpoint shares: writes ps with metadata
 * triad.model = kind, triad.config, triad.vocab, triad.step and up to 4
 * extra entries; reads and checks them back (kind, config, a vocabulary of
 * the config's size). */
tr_status tr_lm_save_params(const tr_params *ps, const char *kind,
                            const tr_lm_config *c, const tr_vocab *v,
                            int64_t step, const tr_meta *extra, int nextra,
                            const char *path, tr_err *err);
tr_status tr_lm_read_meta(const tr_st_file *f, const char *path,
                          const char *kind, tr_lm_config *c, tr_vocab **v,
                          int64_t *step, tr_err *err);

/* Reads a checkpoint into an uninitialised m and a new vocabulary; refuses a
 * file of another model, a config that disagrees with the vocabulary or the
 * tensors, missing or extra tensors. step may be NULL. */
tr_status tr_lm_load(tr_lm *m, tr_vocab **v, int64_t *step, const char *path,
                     tr_err *err);

/* ---------------------------------------------------------------- evaluation */

/* Perplexity of a text file read as B lanes in windows of T steps (B = 1
 * scores every token but the first). ntokens (may be NULL) receives the
 * number of predicted tokens. s must have at least (T, B) room; its hidden
 * state is reset first. */
tr_status tr_seq_eval(const tr_seq_model *sm, tr_seq_state *s,
                      const tr_vocab *v, const char *path, int B, int T,
                      double *ppl, int64_t *ntokens, tr_err *err);
/* The same with a worker state of its own (allocated for the call). */
tr_status tr_seq_eval_file(const tr_seq_model *sm, const tr_vocab *v,
                           const char *path, int B, int T, double *ppl,
                           int64_t *ntokens, tr_err *err);

/* ---------------------------------------------------------------- sampling */

/* Feeds prime (n ids, at least one) and then samples `length` ids at the
 * given temperature (> 0) from s (T, B >= 1; lane 0 used), writing them to
 * out. */
void tr_lm_sample(const tr_lm *m, tr_lm_state *s, const int32_t *prime, int n,
                  int length, float temperature, tr_rng *rng, int32_t *out);

/* ---------------------------------------------------------------- training */

/* One update on the window already in s->x, s->y (steps, B): zero the
 * gradients, forward, backward of the mean loss, clip the global norm to
 * clip (0 = off; the norm before clipping goes to *norm), optimiser step,
 * carry the hidden state. Returns the summed NLL. Allocates nothing. */
double tr_seq_train_step(const tr_seq_model *sm, tr_seq_state *s,
                         tr_optim *o, int steps, float clip, double *norm);

typedef struct {
    const char *train_path, *valid_path, *output;
    int batch, bptt, epochs;
    int eval_batch;          /* lanes for validation (1 = every token) */
    tr_opt_config opt;
    float clip;              /* global gradient norm limit, 0 = none */
    float decay;             /* divide lr by this when valid ppl stalls; 1 = never */
    uint64_t seed;
    int64_t max_steps;       /* stop (and save) after this many updates; 0 = no limit */
    double max_seconds;      /* stop (and save) after this much training time; 0 = none */
    int64_t save_every;      /* also save every N updates; 0 = at epoch ends only */
} tr_lm_train_opts;

/* What the training loop reports after every update and every evaluation. */
typedef struct {
    int epoch, epochs;
    int64_t step;            /* updates so far */
    int64_t epoch_tokens, epoch_total; /* targets this epoch, and in all */
    double loss;             /* mean NLL of the last window */
    double avg_loss;         /* mean NLL since the epoch (or resume) began */
    double tokens_per_s;     /* since this run began */
    double elapsed;          /* seconds this run */
    double lr;
    double grad_norm;
    double valid_ppl;        /* set (> 0) only on evaluation reports */
    int decayed;             /* lr was divided at this evaluation */
    const char *note;        /* on evaluation reports: what epoch_end did, or NULL */
} tr_lm_progress;

typedef void (*tr_lm_progress_fn)(void *ctx, const tr_lm_progress *p);

/* Trains the model on opts->train_path with truncated BPTT, evaluating on
 * opts->valid_path after each epoch. Saves opts->output (the model) and
 * opts->output + ".state" (optimiser, data position, hidden and random
 * state) after each epoch, every save_every updates and when stopped by
 * max_steps, max_seconds or *stop becoming non-zero (e.g. from a signal
 * handler). To resume, load the model and v from opts->output and
 * pass the step it returned as resume_step (-1 = a fresh start): the options
 * saved in the state file replace opts, except epochs, save_every (when > 0),
 * the data paths (when not NULL), max_steps and max_seconds, and training
 * continues exactly where it stopped: the same loss curve as an
 * uninterrupted run with the same seed and one thread.
 * *stopped is set when training ended early (budget or stop flag).
 * Non-finite loss is an error and nothing is saved. */
tr_status tr_seq_train(const tr_seq_model *sm, const tr_vocab *v,
                       tr_lm_train_opts *opts, int64_t resume_step,
                       volatile sig_atomic_t *stop, tr_lm_progress_fn fn,
                       void *ctx, int *stopped, tr_err *err);

#ifdef __cplusplus
}
#endif
#endif
