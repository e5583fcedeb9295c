/*
 * triad/optim.h - optimisers over parameter sets, with the exact update rules
 * of PyTorch's torch.optim.SGD (momentum, dampening 0, weight decay, no
 * Nesterov) and torch.optim.Adam (L2 weight decay added to the gradient),
 * global-norm gradient clipping (torch.nn.utils.clip_grad_norm_), and a
 * learning-rate schedule that divides the rate when validation perplexity
 * stops improving.
 *
 * Optimiser state (momentum buffers, Adam moments, step count) lives in a
 * parameter set of its own, named "<param>.momentum_buffer",
 * "<param>.exp_avg", "<param>.exp_avg_sq", so it is saved and restored with
 * the same checkpoint code as the model.
 */
#ifndef TRIAD_OPTIM_H
#define TRIAD_OPTIM_H

#include "triad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TR_OPT_SGD = 0, TR_OPT_ADAM } tr_opt_kind;

typedef struct {
    tr_opt_kind kind;
    float lr;
    float momentum;      /* SGD */
    float weight_decay;  /* both */
    float beta1, beta2, eps; /* Adam: 0.9, 0.999, 1e-8 */
} tr_opt_config;

/* Defaults: SGD, lr 1, no momentum or decay; Adam betas/eps as PyTorch. */
tr_opt_config tr_opt_defaults(tr_opt_kind kind);
/* Checks ranges (lr > 0, 0 <= momentum < 1, ...); message names the option. */
tr_status tr_opt_config_check(const tr_opt_config *c, tr_err *err);
/* "sgd" / "adam" -> kind; TR_ERR_ARG otherwise. */
tr_status tr_opt_kind_parse(const char *s, tr_opt_kind *kind, tr_err *err);

typedef struct {
    tr_opt_config cfg;
    const tr_params *params; /* the model's, not owned */
    tr_params state;         /* buffers, from the optimiser's own arena */
    tr_arena arena;
    int64_t step;            /* updates done (Adam bias correction) */
} tr_optim;

/* Plans and allocates state for params. */
tr_status tr_optim_init(tr_optim *o, const tr_opt_config *cfg,
                        const tr_params *params, tr_err *err);
void tr_optim_free(tr_optim *o);

/* One update from the gradients in params. Plain SGD (no momentum, no decay)
 * updates only the touched rows of sparse parameters; otherwise every row is
 * updated exactly as PyTorch does for dense gradients. */
void tr_optim_step(tr_optim *o);

/* Scales all gradients so their global L2 norm is at most max_norm (PyTorch:
 * coefficient max_norm / (norm + 1e-6) when below 1). Returns the norm before
 * clipping. max_norm <= 0 disables clipping (norm still returned). */
double tr_clip_grad_norm(tr_params *ps, double max_norm);

/* Learning-rate decay on plateau: after each evaluation, if the validation
 * perplexity is not below best * (1 - threshold), lr is divided by factor. */
typedef struct {
    float factor;     /* e.g. 4 */
    float threshold;  /* relative improvement that counts, e.g. 0.0 */
    double best;      /* best validation perplexity so far (inf at start) */
} tr_plateau;

void tr_plateau_init(tr_plateau *p, float factor, float threshold);
/* Returns 1 and lowers o->cfg.lr when it decays. */
int tr_plateau_update(tr_plateau *p, tr_optim *o, double valid_ppl);

#ifdef __cplusplus
}
#endif
#endif
