/*
 * triad/seq2seq.h - sequence-to-sequence models with attention (Luong,
 * Pham and Manning 2015, "Effective Approaches to Attention-based Neural
 * Machine Translation"), their decoding, training loop and checkpoints, and
 * the pronunciation tasks built on them (grapheme-to-phoneme and back on
 * CMUdict).
 *
 * The model:
 *   source ids (S, B) -> embedding (E) -> dropout
 *     -> bidirectional LSTM encoder, Le layers, He units per direction,
 *        dropout between layers; variable lengths: each lane's backward
 *        direction runs over its own reversed sequence, padding is masked
 *     -> memory M (S, B, C = 2He)
 *   decoder initial state, every layer l: h0_l = tanh(W_b,l [h_fwd(last); h_bwd(first)] + b_b,l),
 *     c0_l = 0
 *   target step t: x_t = [emb(y_{t-1}) (after dropout); ht_{t-1} (input feeding, optional)]
 *     -> LSTM decoder, Ld layers, Hd units (dropout between layers) -> h_t
 *     -> attention: score_s = h_t . K_s with K = M W_a^T ("general") or
 *        K = M ("dot", needs Hd = C), alpha = softmax over the lane's
 *        source positions, ctx_t = sum_s alpha_s M_s
 *     -> ht_t = tanh(W_c [ctx_t; h_t]) -> dropout
 *     -> logits = W_g ht_t + b_g -> softmax over the target vocabulary.
 *   y_0 is <eos> (id 1): it serves as the start symbol; the target ends
 *   with <eos>.
 *
 * Loss (the one path that maximum likelihood, policy gradient and the
 * duality regulariser all train through):
 *   L = sum_b w_b * NLL_b,  NLL_b = -sum_{t <= n_b} log P(y_{b,t} | y_{b,<t}, x_b)
 * with per-sequence weights w_b (default 1, any sign).
 *
 * Vocabularies are tr_vocab (data.h): id 0 <unk>, id 1 <eos>. Parameter
 * names follow PyTorch state_dict conventions (nn.LSTM's
 * weight_ih_l{k}[_reverse], nn.Linear's weight/bias).
 *
 * Memory: a model's weights live in one arena; one worker's activations
 * (tr_s2s_state) are planned for a maximum batch and maximum lengths, so
 * nothing is allocated in the training step or while decoding.
 */
#ifndef TRIAD_SEQ2SEQ_H
#define TRIAD_SEQ2SEQ_H

#include "triad/bpe.h"
#include "triad/core.h"
#include "triad/data.h"
#include "triad/io.h"
#include "triad/metrics.h"
#include "triad/optim.h"

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TR_S2S_MAX_LAYERS 4

/* ---------------------------------------------------------------- attention layer */

/* Dot-product attention of B queries over the first len[b] of S memory
 * positions (Luong's "dot"/"general" score; "general" passes keys = M W_a^T).
 *   alpha (B, S)     out: weights, exactly 0 at positions s >= len[b]
 *   ctx   (B, C)     out: ctx[b] = sum_s alpha[b][s] mem[s][b]
 *   q     (B, D)     queries
 *   keys  (S, B, D)  score[b][s] = q[b] . keys[s][b]
 *   mem   (S, B, C)  values
 *   len   (B)        1 <= len[b] <= S */
void tr_attention_forward(float *alpha, float *ctx, const float *q,
                          const float *keys, const float *mem, const int *len,
                          int S, int B, int D, int C);
/* Backward of the call above given dctx (B, C): writes dq (B, D); ADDS into
 * dkeys (S, B, D) and dmem (S, B, C) (a decoder attends to the same memory at
 * every step). dscore (B, S) is scratch. */
void tr_attention_backward(float *dq, float *dkeys, float *dmem, float *dscore,
                           const float *dctx, const float *alpha,
                           const float *q, const float *keys, const float *mem,
                           const int *len, int S, int B, int D, int C);

/* ---------------------------------------------------------------- model */

typedef enum { TR_S2S_ATT_GENERAL = 0, TR_S2S_ATT_DOT = 1 } tr_s2s_attention;

typedef struct {
    int src_vocab, tgt_vocab; /* counting <unk> and <eos> */
    int emb;                  /* E, both sides */
    int hidden;               /* He, encoder units per direction */
    int dec_hidden;           /* Hd */
    int enc_layers, dec_layers;
    int attention;            /* tr_s2s_attention */
    int input_feed;           /* feed ht_{t-1} into the decoder's input */
    float dropout;            /* in [0, 1) */
} tr_s2s_config;

/* Range checks; the message names the CLI option (--hidden, --attention, ...). */
tr_status tr_s2s_config_check(const tr_s2s_config *c, tr_err *err);
/* JSON object (malloc'ed) and back; from_json names `where` in messages. */
char *tr_s2s_config_to_json(const tr_s2s_config *c);
tr_status tr_s2s_config_from_json(tr_s2s_config *c, const char *json,
                                  const char *where, tr_err *err);
/* "general"/"dot" <-> tr_s2s_attention. */
tr_status tr_s2s_attention_parse(const char *s, int *att, tr_err *err);
const char *tr_s2s_attention_name(int att);

/* The weights and gradients, one parameter set:
 *   encoder.embedding.weight (Vs, E), row-sparse
 *   encoder.rnn.{weight_ih,weight_hh,bias_ih,bias_hh}_l{k}[_reverse]
 *                                       nn.LSTM(E, He, Le, bidirectional=True)
 *   bridge.weight (Ld*Hd, 2He), bridge.bias (Ld*Hd)
 *   decoder.embedding.weight (Vt, E), row-sparse
 *   decoder.rnn.*_l{k}                  nn.LSTM(E (+ Hd with input feeding), Hd, Ld)
 *   attention.linear_in.weight (Hd, 2He)   "general" only
 *   attention.linear_out.weight (Hd, 2He + Hd), no bias
 *   generator.weight (Vt, Hd), generator.bias (Vt) */
typedef struct {
    tr_s2s_config cfg;
    tr_arena arena;
    tr_params params;
    tr_param *src_emb, *tgt_emb;
    tr_param *enc_w_ih[TR_S2S_MAX_LAYERS][2], *enc_w_hh[TR_S2S_MAX_LAYERS][2];
    tr_param *enc_b_ih[TR_S2S_MAX_LAYERS][2], *enc_b_hh[TR_S2S_MAX_LAYERS][2];
    tr_param *bridge_w, *bridge_b;
    tr_param *dec_w_ih[TR_S2S_MAX_LAYERS], *dec_w_hh[TR_S2S_MAX_LAYERS];
    tr_param *dec_b_ih[TR_S2S_MAX_LAYERS], *dec_b_hh[TR_S2S_MAX_LAYERS];
    tr_param *att_in;    /* NULL with dot attention */
    tr_param *att_out;
    tr_param *gen_w, *gen_b;
} tr_s2s;

/* Checks cfg, plans and allocates the parameters (zero). */
tr_status tr_s2s_init(tr_s2s *m, const tr_s2s_config *cfg, tr_err *err);
void tr_s2s_free(tr_s2s *m);
/* Every weight and bias U(-0.1, 0.1) (OpenNMT's default) from seed. */
void tr_s2s_init_weights(tr_s2s *m, uint64_t seed);

/* ---------------------------------------------------------------- worker state */

/* One worker's activations for batches of up to B sequence pairs, sources of
 * up to S tokens and targets of up to T - 1 tokens (T steps with <eos>).
 * Filled by tr_s2s_set_batch, used by forward/backward (and the encoder by
 * the decoder). Shapes below are capacities; a batch of b lanes, s source
 * and t target steps uses the first (s, b, .) / (t, b, .) entries, with b as
 * the lane stride. */
typedef struct {
    int B, S, T;           /* capacity */
    int b, s, t;           /* the current batch: lanes, source and target steps */
    int dropped;           /* dropout was applied in the last forward */
    tr_rng rng;            /* dropout stream */
    tr_arena arena;
    /* the batch */
    int32_t *src;          /* (S, B) source ids, 0 at padding */
    int *src_len;          /* (B) */
    int32_t *tgt_in;       /* (T, B) decoder inputs: <eos>, y_1 .. y_n, padding */
    int32_t *tgt_out;      /* (T, B) targets: y_1 .. y_n, <eos>, -1 at padding */
    int *tgt_len;          /* (B) n_b + 1 */
    float *weight;         /* (B) w_b */
    float *row_w;          /* (T, B) w_b on each target row */
    double *nll;           /* (B) NLL_b of the last forward (unweighted) */
    /* encoder, layer l, direction d (0 forward, 1 backward) */
    float *enc_in[TR_S2S_MAX_LAYERS];     /* (S, B, I_l) layer input after dropout */
    float *enc_mask[TR_S2S_MAX_LAYERS];   /* (S, B, I_l) its dropout mask */
    float *enc_rev[TR_S2S_MAX_LAYERS];    /* (S, B, I_l) input, each lane reversed */
    float *enc_h[TR_S2S_MAX_LAYERS][2];   /* (S, B, He) */
    float *enc_c[TR_S2S_MAX_LAYERS][2];   /* (S, B, He) */
    float *enc_g[TR_S2S_MAX_LAYERS][2];   /* (S, B, 4He) */
    float *enc_out[TR_S2S_MAX_LAYERS];    /* (S, B, 2He) [fwd; bwd] in source order, 0 at padding */
    float *keys;           /* (S, B, Hd) attention keys (general; dot uses the memory) */
    float *final;          /* (B, 2He) [h_fwd at len-1; h_bwd at 0] of the top layer */
    float *dec_h0[TR_S2S_MAX_LAYERS];     /* (B, Hd) tanh(bridge) */
    float *zero;           /* (B, max(He, Hd)) zeros: initial states */
    /* decoder */
    float *dec_emb;        /* (T, B, E) target embeddings after dropout */
    float *dec_emb_mask;   /* (T, B, E) */
    float *dec_x;          /* (T, B, E + Hd) [emb; ht_{t-1}] with input feeding */
    float *dec_h[TR_S2S_MAX_LAYERS];      /* (T, B, Hd) */
    float *dec_c[TR_S2S_MAX_LAYERS];      /* (T, B, Hd) */
    float *dec_g[TR_S2S_MAX_LAYERS];      /* (T, B, 4Hd) */
    float *dec_drop[TR_S2S_MAX_LAYERS];   /* (T, B, Hd) layer output after dropout (l < Ld-1) */
    float *dec_mask[TR_S2S_MAX_LAYERS];   /* (T, B, Hd) */
    float *alpha;          /* (T, B, S) attention weights */
    float *ctx;            /* (T, B, 2He) context vectors */
    float *att_h;          /* (T, B, Hd) ht = tanh(W_c [ctx; h]) */
    float *att_d;          /* (T, B, Hd) ht after dropout */
    float *att_mask;       /* (T, B, Hd) */
    float *probs;          /* (T*B, Vt) softmax; dlogits in backward */
    float *row_nll;        /* (T*B) */
    /* backward scratch */
    float *d_att;          /* (T, B, Hd) gradient of att_d from the generator */
    float *d_pre;          /* (T, B, Hd) gradient of W_c [ctx; h] */
    float *d_feed;         /* (B, Hd) gradient of ht_{t-1} through input feeding */
    float *d_ctx;          /* (B, 2He) */
    float *d_q;            /* (B, Hd) */
    float *d_qa;           /* (B, Hd) */
    float *d_score;        /* (B, S) */
    float *d_x[2];         /* (B, E + Hd) input gradients of decoder layers, ping-pong */
    float *d_emb;          /* (T, B, E) */
    float *d_hc[TR_S2S_MAX_LAYERS];       /* (B, Hd) gradient carried to h_{t-1} */
    float *d_cc[TR_S2S_MAX_LAYERS];       /* (B, Hd) gradient carried to c_{t-1} */
    float *d_gates;        /* (max(S * B * 4He, B * 4Hd)) LSTM backward scratch */
    float *d_state;        /* (2, B, max(He, Hd)) */
    float *d_keys;         /* (S, B, Hd) */
    float *d_mem[2];       /* (S, B, 2He) gradient of enc_out of the layer at hand, ping-pong */
    float *d_final;        /* (B, 2He) */
    float *d_z;            /* (B, Hd) */
    float *d_dir[2];       /* (S, B, He) per-direction output gradients (backward reversed) */
    float *d_in[2];        /* (S, B, max(E, 2He)) per-direction input gradients */
} tr_s2s_state;

/* Plans and allocates a state for (B, S, T) as above; the dropout stream is
 * seeded from (seed, stream). TR_ERR_ARG for capacities < 1. */
tr_status tr_s2s_state_init(tr_s2s_state *s, const tr_s2s *m, int B, int S,
                            int T, uint64_t seed, uint64_t stream, tr_err *err);
void tr_s2s_state_free(tr_s2s_state *s);

/* Loads a batch of b sequence pairs: source b has src_len[b] ids (1..S),
 * target b has tgt_len[b] ids (0..T-1, without <eos>; tgt may be NULL for
 * encoding only, then tgt_len is ignored); weight (b) or NULL = all 1. Asserts
 * the capacities and the ids' ranges. */
void tr_s2s_set_batch(tr_s2s_state *s, const tr_s2s *m,
                      const int32_t *const *src, const int *src_len,
                      const int32_t *const *tgt, const int *tgt_len,
                      const float *weight, int b);

/* Replaces the per-sequence weights of the loaded batch (b entries): a
 * weight that depends on the forward's own result (a reward, the duality
 * gap) is set between tr_s2s_forward and tr_s2s_backward. */
void tr_s2s_set_weights(tr_s2s_state *s, const float *weight);

/* Runs the encoder on the loaded batch (train != 0: dropout), filling the
 * memory, the attention keys and the decoder's initial states. */
void tr_s2s_encode(tr_s2s_state *s, const tr_s2s *m, int train);

/* Back-propagates dmem (S, b, 2He), a gradient of the top encoder layer's
 * output s->enc_out[Le-1] (rows at padding are ignored), through the encoder
 * of the last tr_s2s_encode: ADDS into the encoder's LSTM and source
 * embedding gradients. dmem may be s->d_mem[0] (it is not written). */
void tr_s2s_encoder_backward(tr_s2s_state *s, tr_s2s *m, const float *dmem);

/* Encoder and teacher-forced decoder on the loaded batch. Returns
 * sum_b w_b NLL_b (double) and leaves NLL_b in s->nll. */
double tr_s2s_forward(tr_s2s_state *s, const tr_s2s *m, int train);
/* Teacher-forced NLL of every pair of d (sum over pairs of NLL_b, in
 * double), in batches of s->B without dropout; *tokens (may be NULL) gets
 * the target tokens counted with each <eos>. d must fit s's capacity. */
struct tr_s2s_data;
double tr_s2s_nll(tr_s2s_state *s, const tr_s2s *m, const struct tr_s2s_data *d,
                  int64_t *tokens);
/* Adds scale * dL/dtheta (L = sum_b w_b NLL_b of the last forward) into the
 * gradients of m. Once per forward: it turns the forward's softmax into
 * its gradient in place. */
void tr_s2s_backward(tr_s2s_state *s, tr_s2s *m, float scale);

/* ---------------------------------------------------------------- decoding */

/* k-best lists of up to B inputs: input b has n[b] hypotheses, best first;
 * hypothesis j of input b is ids[(b*k + j) * max_len ..] of len[b*k + j]
 * tokens (without the final <eos>), with logp = log P(y, <eos> | x) and the
 * score it was ranked by. */
typedef struct {
    int B, k, max_len;
    int *n;          /* (B) */
    int *len;        /* (B*k) */
    int32_t *ids;    /* (B*k, max_len) */
    double *logp;    /* (B*k) */
    double *score;   /* (B*k) */
} tr_s2s_nbest;

/* A decoder for batches of up to B inputs of up to S tokens, beams of up to
 * k and outputs of up to max_len tokens (a hypothesis that reaches its
 * input's limit, max_len or len_a * n + len_b, is ended with <eos>). Allocates everything once. Inputs whose
 * search has ended are compacted out of the lanes, so a step costs only
 * what is still being decoded. */
typedef struct {
    int B, S, k, max_len;
    int len_a, len_b;    /* when len_a > 0, an input of n tokens gets at most
                            min(max_len, len_a * n + len_b) output tokens
                            (0 after tr_s2s_decoder_init: max_len only) */
    int *limit;          /* (B) each input's limit in the current call */
    tr_s2s_state enc;    /* the encoder's activations (B, S) */
    tr_arena arena;
    tr_s2s_nbest out;
    /* N = B * k lanes */
    float *mem, *keys;   /* (S, N, 2He), (S, N, Hd) the memory repeated per beam */
    int *len;            /* (N) */
    float *h[2][TR_S2S_MAX_LAYERS], *c[2][TR_S2S_MAX_LAYERS]; /* (N, Hd) ping-pong */
    float *feed[2];      /* (N, Hd) ht of the previous step */
    float *x;            /* (N, E + Hd) decoder input */
    float *gates;        /* (N, 4Hd) */
    float *alpha;        /* (N, S) */
    float *ctx;          /* (N, 2He) */
    float *logits;       /* (N, Vt) */
    float *row_max;      /* (N) log P(v) = (logit_v - row_max) - row_lsum */
    double *row_lsum;    /* (N) */
    int32_t *tok;        /* (N) input tokens */
    double *beam_logp, *new_logp; /* (N) */
    int *parent;         /* (N) */
    int32_t *prefix[2];  /* (N, max_len) ping-pong */
    int *alive;          /* (B) alive prefixes of the input at each position */
    int *act;            /* (B) the input at each position (finished inputs are compacted out) */
    int *keep;           /* (N) lanes kept by a compaction */
    double *cand_s;      /* (k) top candidates of one input: score, */
    int *cand_i;         /* (k) lane * Vt + token */
} tr_s2s_decoder;

tr_status tr_s2s_decoder_init(tr_s2s_decoder *d, const tr_s2s *m, int B,
                              int S, int k, int max_len, tr_err *err);
void tr_s2s_decoder_free(tr_s2s_decoder *d);

/* Greedy decoding of b <= d->B sources (lengths 1..d->S): out->n[b] = 1. */
const tr_s2s_nbest *tr_s2s_greedy(tr_s2s_decoder *d, const tr_s2s *m,
                                  const int32_t *const *src,
                                  const int *src_len, int b);
/* Beam search of width beam (1..d->k) for b sources, batched. The beam
 * keeps the `beam` best prefixes (by log-probability; all have the same
 * length); an extension by <eos> that ranks among them leaves the beam as a
 * finished hypothesis and its slot is not refilled, so each input ends with
 * exactly min(beam, reachable) hypotheses. They are ranked by
 * logp / (len + 1)^len_norm (len_norm = 0: plain log-probability). With
 * beam 1 the result equals tr_s2s_greedy. */
const tr_s2s_nbest *tr_s2s_beam(tr_s2s_decoder *d, const tr_s2s *m,
                                const int32_t *const *src, const int *src_len,
                                int b, int beam, float len_norm);

/* What a batch decoder reports for input i: its best hypothesis. */
typedef void (*tr_s2s_hyp_fn)(void *ctx, int64_t i, const int32_t *hyp,
                              int len, double logp);

/* Decodes n sources (src[i] of len[i] tokens, 1..d->S) in batches of d->B
 * sources of similar length (beam 1 = greedy); fn (may be NULL) sees each
 * source's best hypothesis with its index, in no particular order. */
void tr_s2s_decode_all(tr_s2s_decoder *d, const tr_s2s *m,
                       const int32_t *const *src, const int *len, int64_t n,
                       int beam, float len_norm, tr_s2s_hyp_fn fn, void *ctx);

/* ---------------------------------------------------------------- data */

/* Sequence pairs held in memory: pair i is src[src_off[i] .. src_off[i+1])
 * and tgt[tgt_off[i] .. tgt_off[i+1]). */
typedef struct tr_s2s_data {
    int64_t n;
    int32_t *src, *tgt;
    int64_t *src_off, *tgt_off;   /* (n + 1) */
    int max_src, max_tgt;         /* longest source and target */
    int64_t cap, src_cap, tgt_cap;
} tr_s2s_data;

void tr_s2s_data_init(tr_s2s_data *d);
void tr_s2s_data_free(tr_s2s_data *d);
/* Appends a pair (copies the ids). */
void tr_s2s_data_add(tr_s2s_data *d, const int32_t *src, int ns,
                     const int32_t *tgt, int nt);

/* ---------------------------------------------------------------- checkpoints */

/* Most extra metadata entries a checkpoint carries. */
#define TR_S2S_MAX_EXTRA 4

/* Writes the weights with metadata triad.model = "seq2seq", triad.task
 * (e.g. "g2p"), triad.config, triad.src_vocab, triad.tgt_vocab, triad.step,
 * and the task's own n_extra <= TR_S2S_MAX_EXTRA entries (e.g. the subword
 * model of a translation task; read back with tr_st_meta), atomically. */
tr_status tr_s2s_save(const tr_s2s *m, const char *task, const tr_vocab *src,
                      const tr_vocab *tgt, int64_t step, const tr_meta *extra,
                      int n_extra, const char *path, tr_err *err);
/* Reads a checkpoint into an uninitialised m and two new vocabularies;
 * refuses another kind of file, a model of another task (task != NULL: the
 * message names both), a config that disagrees with the vocabularies or the
 * tensors. step may be NULL. */
tr_status tr_s2s_load(tr_s2s *m, tr_vocab **src, tr_vocab **tgt,
                      int64_t *step, const char *task, const char *path,
                      tr_err *err);

/* ---------------------------------------------------------------- training */

typedef struct {
    const char *output;      /* the model; output + ".state" the training state */
    const char *task;        /* triad.task of the checkpoints */
    const tr_vocab *src_vocab, *tgt_vocab;
    const tr_meta *extra;    /* more metadata for every checkpoint (n_extra entries, may be 0) */
    int n_extra;
    int batch, epochs;
    tr_opt_config opt;
    float clip;              /* global gradient norm limit, 0 = none */
    float decay;             /* on a dev score that does not improve: lr /= decay
                                and the weights go back to the best (1 = never) */
    int patience;            /* stop after this many epochs without improvement (0 = never) */
    uint64_t seed;
    int64_t max_steps;       /* stop (and save) after this many updates; 0 = no limit */
    double max_seconds;      /* stop (and save) after this much training time; 0 = none */
    int64_t save_every;      /* also save every N updates; 0 = at epoch ends only */
} tr_s2s_train_opts;

/* The dev score after each epoch (lower is better, e.g. WER); note receives
 * a one-line report. Required by tr_s2s_train. */
typedef tr_status (*tr_s2s_validate_fn)(void *ctx, const tr_s2s *m,
                                        double *score, char *note, size_t n,
                                        tr_err *err);

typedef struct {
    int epoch, epochs;
    int64_t step;
    int64_t epoch_pairs, epoch_total;  /* pairs done this epoch, and in all */
    double loss;             /* mean NLL per target token since the epoch (or resume) began */
    double tokens_per_s;     /* target tokens per second in this run */
    double pairs_per_s;      /* sequence pairs per second in this run */
    double elapsed;          /* seconds in this run */
    double total;            /* training seconds of every piece of the run so far */
    double lr, grad_norm;
    int validated;           /* an end-of-epoch report: */
    double score, best;      /* dev score, best so far */
    int improved, decayed;
    const char *note;        /* the validation's report */
} tr_s2s_progress;

typedef void (*tr_s2s_progress_fn)(void *ctx, const tr_s2s_progress *p);

/* Trains m on pairs: each epoch shuffles the pairs (seeded by seed and the
 * epoch), groups them into batches of similar length, and takes one
 * optimiser step per batch on the mean NLL per target token (clipped).
 * After each epoch validate gives the dev score: an improvement keeps a copy
 * of the weights as the best; otherwise lr is divided by decay and the
 * weights go back to the best copy, and after `patience` such epochs
 * training stops. opts->output always holds the best weights validated so far
 * (before the first validation: the current weights); output.state holds
 * the current weights, the best copy, the optimiser and the schedule, so
 * that resume_step >= 0 (the step of the output file, from tr_s2s_load)
 * continues exactly: with one thread the loss curve and the weights are
 * bit-identical to an uninterrupted run. On resume the saved options replace
 * opts except epochs (when > 0), save_every (when > 0), max_steps and
 * max_seconds. Saves after each epoch, every save_every updates and when
 * stopped by max_steps, max_seconds or *stop. Non-finite loss is an error
 * and nothing is saved. *stopped: ended early by a budget or *stop. */
tr_status tr_s2s_train(tr_s2s *m, const tr_s2s_data *pairs,
                       tr_s2s_train_opts *opts, int64_t resume_step,
                       tr_s2s_validate_fn validate, void *vctx,
                       volatile sig_atomic_t *stop, tr_s2s_progress_fn fn,
                       void *ctx, int *stopped, tr_err *err);

/* ---------------------------------------------------------------- pronunciations */

/* Longest spelling or pronunciation accepted (characters / phonemes). */
#define TR_PRON_MAX_LEN 48

/* A pronunciation lexicon in CMUdict format: `WORD  PH1 PH2 ...` (two spaces;
 * one or more spaces or tabs are accepted), several lines for a word with
 * several pronunciations. Read as: lines starting with ";;;" are comments;
 * a "(N)" suffix of the word (CMUdict's variant marker) is dropped; stress
 * digits at the end of phonemes are dropped; the word is upper-cased. Empty
 * lines, a word without a pronunciation, characters outside printable ASCII,
 * and spellings or pronunciations longer than TR_PRON_MAX_LEN are errors
 * naming file:line. */
typedef struct {
    int64_t n;             /* entries, in file order */
    char **word;           /* (n) upper-case spelling */
    char **pron;           /* (n) phonemes separated by single spaces */
    int64_t *line;         /* (n) line number in the file */
    char *path;            /* the file, for messages */
} tr_lexicon;

tr_status tr_lexicon_read(tr_lexicon *lx, const char *path, tr_err *err);
void tr_lexicon_free(tr_lexicon *lx);

/* The two directions on one lexicon. */
typedef enum { TR_PRON_G2P = 0, TR_PRON_P2G = 1 } tr_pron_task;
const char *tr_pron_task_name(tr_pron_task t); /* "g2p" / "p2g" */

/* The grapheme (character) and phoneme vocabularies of a training lexicon,
 * each sorted (byte order) after <unk> and <eos>. */
void tr_pron_vocabs(const tr_lexicon *lx, tr_vocab **graphemes,
                    tr_vocab **phonemes);

/* Tokens of a spelling (its characters, upper-cased) or a pronunciation
 * (phonemes separated by spaces, stress digits dropped) as ids of v into
 * ids (room for TR_PRON_MAX_LEN). Returns the count, or -1 with a message
 * naming where:line for an unknown symbol, an empty input or one longer
 * than TR_PRON_MAX_LEN. */
int tr_pron_spelling_ids(const tr_vocab *v, const char *s, int32_t *ids,
                         const char *where, int64_t line, tr_err *err);
int tr_pron_phoneme_ids(const tr_vocab *v, const char *s, int32_t *ids,
                        const char *where, int64_t line, tr_err *err);

/* Training pairs of the task from every lexicon entry (source and target ids
 * with the task's direction). TR_ERR_FORMAT naming file:line for symbols
 * outside the vocabularies. */
tr_status tr_pron_pairs(const tr_lexicon *lx, tr_pron_task task,
                        const tr_vocab *graphemes, const tr_vocab *phonemes,
                        tr_s2s_data *out, tr_err *err);

/* Evaluation items: the distinct sources of the lexicon (first-appearance
 * order), each with every target it has in the lexicon as references (g2p:
 * the word's pronunciations; p2g: the spellings of that pronunciation). */
typedef struct {
    int64_t n;             /* items */
    tr_s2s_data refs;      /* pair j: source of its item, one reference */
    int64_t *first;        /* (n + 1) item i is pairs first[i] .. first[i+1]-1 */
} tr_pron_items;

tr_status tr_pron_items_build(tr_pron_items *it, const tr_lexicon *lx,
                              tr_pron_task task, const tr_vocab *graphemes,
                              const tr_vocab *phonemes, tr_err *err);
void tr_pron_items_free(tr_pron_items *it);

/* Decodes every item (beam 1 = greedy) in batches of d->B items of similar
 * source length; on_item (may be NULL) sees each item's best hypothesis
 * with the item's index, in no particular order. */
void tr_pron_decode_items(tr_s2s_decoder *d, const tr_s2s *m,
                          const tr_pron_items *it, int beam, float len_norm,
                          tr_s2s_hyp_fn on_item, void *ctx);

/* tr_pron_decode_items, scoring each item's best hypothesis against its
 * references into *score (zeroed first): WER and PER by tr_pron_wer/per. */
void tr_pron_eval(tr_s2s_decoder *d, const tr_s2s *m, const tr_pron_items *it,
                  int beam, float len_norm, tr_pron_score *score,
                  tr_s2s_hyp_fn on_item, void *ctx);

/* ---------------------------------------------------------------- translation */

/* Longest sentence accepted, in subword units, on either side. */
#define TR_MT_MAX_LEN 256

/* Two line-aligned text files, UTF-8, one sentence per line: line i of src
 * translates to line i of tgt. */
typedef struct {
    int64_t n;
    char **src, **tgt;       /* (n) lines without the line break */
    char *src_path, *tgt_path;
} tr_mt_corpus;

/* Reads both files. Errors: a file that cannot be read (TR_ERR_IO); an
 * empty line, a NUL byte (naming file:line), an empty file, or files with
 * different line counts (naming both files and counts) (TR_ERR_FORMAT). */
tr_status tr_mt_corpus_read(tr_mt_corpus *c, const char *src_path,
                            const char *tgt_path, tr_err *err);
void tr_mt_corpus_free(tr_mt_corpus *c);

/* Joint subword units of both sides: at most merges merges, each pair seen
 * at least twice. Errors: invalid text (file:line). */
tr_status tr_mt_learn_bpe(tr_bpe **out, const tr_mt_corpus *c,
                          int merges, tr_err *err);
/* The vocabulary of every unit of n lines (first-seen order after <unk>
 * and <eos>); where names the text in messages. */
tr_status tr_mt_vocab(tr_vocab **out, const tr_bpe *b,
                      char *const *lines, int64_t n, const char *where,
                      tr_err *err);
/* The units of the sentence s as ids of v (unseen units are <unk>) into
 * ids (room for max). Returns the count, or -1 with a message naming
 * where:line for invalid text, an empty sentence or more than max units. */
int tr_mt_ids(const tr_bpe *b, const tr_vocab *v, const char *s,
              int32_t *ids, int max, const char *where, int64_t line,
              tr_err *err);
/* As tr_mt_ids, but more than max units is not an error: the first max
 * ids are written and the full count returned. */
int tr_mt_ids_upto(const tr_bpe *b, const tr_vocab *v, const char *s,
                   int32_t *ids, int max, const char *where, int64_t line,
                   tr_err *err);
/* Training pairs of the corpus; pairs with a side of more than max_len
 * (1..TR_MT_MAX_LEN) units are left out and counted in *skipped. */
tr_status tr_mt_pairs(const tr_mt_corpus *c, const tr_bpe *b,
                      const tr_vocab *sv, const tr_vocab *tv, int max_len,
                      tr_s2s_data *out, int64_t *skipped, tr_err *err);
/* The corpus' sources as ids (targets empty); a source of more than
 * TR_MT_MAX_LEN units is an error naming file:line. */
tr_status tr_mt_sources(const tr_mt_corpus *c, const tr_bpe *b,
                        const tr_vocab *sv, tr_s2s_data *out, tr_err *err);
/* The text of n ids of v: units joined and detokenised (malloc'ed). */
char *tr_mt_detok(const tr_vocab *v, const int32_t *ids, int n);
/* Translates every source of src (beam 1 = greedy) into hyps[i]
 * (malloc'ed detokenised text, in the order of src). */
void tr_mt_translate_all(tr_s2s_decoder *d, const tr_s2s *m,
                         const tr_s2s_data *src, const tr_vocab *tv, int beam,
                         float len_norm, char **hyps);

#ifdef __cplusplus
}
#endif
#endif
