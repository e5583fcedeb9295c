/* Optimisers over parameter sets: configuration (defaults, range checks,
 * parsing), state allocation and the update step, with the update rules of
 * PyTorch 1.13's torch.optim.SGD (_single_tensor_sgd: dampening 0, no
 * Nesterov) and torch.optim.Adam (_single_tensor_adam: L2 decay added to the
 * gradient, no AMSGrad). Not here: clipping (clip.c), schedules
 * (schedule.c), the parameter server's update rules (src/ps). */
#include "triad/optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

tr_opt_config tr_opt_defaults(tr_opt_kind kind)
{
    tr_opt_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = kind == TR_OPT_ADAM ? 1e-3f : 1.0f; /* torch.optim.Adam: lr=1e-3 */
    c.momentum = 0.0f;
    c.weight_decay = 0.0f;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    return c;
}

tr_status tr_opt_config_check(const tr_opt_config *c, tr_err *err)
{
    /* Written as !(ok) so that NaN fails every check. */
    if (c->kind != TR_OPT_SGD && c->kind != TR_OPT_ADAM)
        return tr_err_set(err, TR_ERR_ARG, "--optim must be sgd or adam, got kind %d", (int)c->kind);
    if (!(c->lr > 0.0f && isfinite(c->lr)))
        return tr_err_set(err, TR_ERR_ARG, "--lr must be a positive number, got %g", (double)c->lr);
    if (!(c->weight_decay >= 0.0f && isfinite(c->weight_decay)))
        return tr_err_set(err, TR_ERR_ARG, "--weight-decay must be >= 0, got %g", (double)c->weight_decay);
    if (c->kind == TR_OPT_SGD) {
        if (!(c->momentum >= 0.0f && c->momentum < 1.0f))
            return tr_err_set(err, TR_ERR_ARG, "--momentum must be in [0, 1), got %g", (double)c->momentum);
    } else {
        if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f))
            return tr_err_set(err, TR_ERR_ARG, "--beta1 must be in [0, 1), got %g", (double)c->beta1);
        if (!(c->beta2 >= 0.0f && c->beta2 < 1.0f))
            return tr_err_set(err, TR_ERR_ARG, "--beta2 must be in [0, 1), got %g", (double)c->beta2);
        if (!(c->eps > 0.0f && isfinite(c->eps)))
            return tr_err_set(err, TR_ERR_ARG, "--eps must be a positive number, got %g", (double)c->eps);
    }
    return TR_OK;
}

tr_status tr_opt_kind_parse(const char *s, tr_opt_kind *kind, tr_err *err)
{
    if (s && strcmp(s, "sgd") == 0) {
        *kind = TR_OPT_SGD;
        return TR_OK;
    }
    if (s && strcmp(s, "adam") == 0) {
        *kind = TR_OPT_ADAM;
        return TR_OK;
    }
    return tr_err_set(err, TR_ERR_ARG, "--optim must be sgd or adam, got '%s'", s ? s : "(null)");
}

/* ---------------------------------------------------------------- state */

static const char *const sgd_state_names[] = {"momentum_buffer"};
static const char *const adam_state_names[] = {"exp_avg", "exp_avg_sq"};

/* State tensors per model parameter for this configuration (0, 1 or 2). */
static int state_per_param(const tr_opt_config *c)
{
    if (c->kind == TR_OPT_ADAM)
        return 2;
    return c->momentum != 0.0f ? 1 : 0;
}

static const char *const *state_names(const tr_opt_config *c)
{
    return c->kind == TR_OPT_ADAM ? adam_state_names : sgd_state_names;
}

/* Adds one state tensor shaped like `like`, without gradient storage: for a
 * large embedding under Adam a gradient per moment would double the
 * optimiser's memory. */
static void add_state(tr_params *ps, tr_arena *a, const char *name, const tr_tensor *like)
{
    tr_params_add(ps, a, name, like->ndim, like->shape, TR_PARAM_NOGRAD);
}

tr_status tr_optim_init(tr_optim *o, const tr_opt_config *cfg,
                        const tr_params *params, tr_err *err)
{
    memset(o, 0, sizeof *o);
    tr_status st = tr_opt_config_check(cfg, err);
    if (st != TR_OK)
        return st;
    const int per = state_per_param(cfg);
    const char *const *suffix = state_names(cfg);
    char name[sizeof params->p[0].name];
    for (int i = 0; i < params->n; i++)
        for (int k = 0; k < per; k++)
            if (snprintf(name, sizeof name, "%s.%s", params->p[i].name, suffix[k]) >= (int)sizeof name)
                return tr_err_set(err, TR_ERR_ARG,
                                  "optimiser state name '%s.%s' is longer than %d characters",
                                  params->p[i].name, suffix[k], (int)sizeof name - 1);

    /* Two passes over the same code: plan the bytes, then allocate them. The
     * arena zeroes its memory, which is the initial Adam state (torch:
     * zeros_like); momentum buffers are set from the first step instead. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) {
            tr_arena_plan(&o->arena);
        } else {
            st = tr_arena_init(&o->arena, o->arena.cap, err);
            if (st != TR_OK) {
                memset(o, 0, sizeof *o);
                return st;
            }
        }
        tr_params_init(&o->state, params->n * per > 0 ? params->n * per : 1);
        for (int i = 0; i < params->n; i++)
            for (int k = 0; k < per; k++) {
                int len = snprintf(name, sizeof name, "%s.%s", params->p[i].name, suffix[k]);
                TR_ASSERT(len > 0 && len < (int)sizeof name); /* checked above */
                add_state(&o->state, &o->arena, name, &params->p[i].value);
            }
        if (pass == 0)
            tr_params_free(&o->state);
    }
    o->cfg = *cfg;
    o->params = params;
    o->step = 0;
    return TR_OK;
}

void tr_optim_free(tr_optim *o)
{
    tr_params_free(&o->state);
    tr_arena_free(&o->arena);
    o->params = NULL;
    o->step = 0;
}

/* ---------------------------------------------------------------- kernels */

/* torch.optim.SGD, per element (float32 like torch):
 *   d = g + wd * w                      (grad.add(param, alpha=weight_decay))
 *   buf = d             on the first step (torch.clone(d_p))
 *   buf = mom * buf + d otherwise       (buf.mul_(momentum).add_(d_p, alpha=1))
 *   w = w + (-lr) * buf                 (param.add_(d_p, alpha=-lr))
 * buf is NULL when momentum is 0; then w = w + (-lr) * d. */
static void sgd_kernel(float *restrict w, const float *restrict g, float *restrict buf,
                       int64_t n, float lr, float wd, float mom, int first)
{
    const float neg_lr = -lr;
    if (!buf) {
        for (int64_t i = 0; i < n; i++) {
            float d = wd != 0.0f ? g[i] + wd * w[i] : g[i];
            w[i] = w[i] + neg_lr * d;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float d = wd != 0.0f ? g[i] + wd * w[i] : g[i];
        float b = first ? d : buf[i] * mom + d;
        buf[i] = b;
        w[i] = w[i] + neg_lr * b;
    }
}

/* torch.optim.Adam (_single_tensor_adam, amsgrad off), per element in float32
 * with scalar factors computed in double as torch does in Python:
 *   g = g + wd * w
 *   m = b1 * m + (1 - b1) * g                (exp_avg.mul_(b1).add_(g, alpha=1-b1))
 *   v = b2 * v + (1 - b2) * g * g            (exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2))
 *   denom = sqrt(v) / sqrt(1 - b2^t) + eps
 *   w = w + (-lr / (1 - b1^t)) * m / denom   (param.addcdiv_(m, denom, value=-step_size)) */
static void adam_kernel(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict v, int64_t n, float wd, float b1, float c1,
                        float b2, float c2, float bc2_sqrt, float eps, float neg_step)
{
    for (int64_t i = 0; i < n; i++) {
        float gi = wd != 0.0f ? g[i] + wd * w[i] : g[i];
        float mi = m[i] * b1 + c1 * gi;
        float vi = v[i] * b2 + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        w[i] = w[i] + neg_step * mi / denom;
    }
}

/* Plain SGD on a sparse parameter: the gradient is zero outside the touched
 * rows, so w - lr * 0 leaves those rows unchanged and only touched rows need
 * the update. Identical to the dense update, O(touched) instead of O(V). */
static void sgd_sparse_rows(tr_param *p, float lr)
{
    if (p->value.shape[0] == 0)
        return;
    const int64_t row = p->value.size / p->value.shape[0];
    for (int64_t k = 0; k < p->ntouched; k++) {
        const int64_t r = p->touched[k];
        sgd_kernel(p->value.data + r * row, p->grad.data + r * row, NULL, row, lr, 0.0f, 0.0f, 0);
    }
}

/* ---------------------------------------------------------------- step */

void tr_optim_step(tr_optim *o)
{
    const tr_opt_config *c = &o->cfg;
    const tr_params *ps = o->params;
    TR_ASSERT(ps != NULL);
    TR_ASSERT(o->state.n == ps->n * state_per_param(c));

    if (c->kind == TR_OPT_SGD) {
        /* Torch creates the momentum buffer lazily (it is None before the
         * first step). Our state is only tensors and o->step, so a checkpoint
         * cannot carry "buffer exists"; o->step == 0 stands for it instead:
         * the first step sets buf = d, every later step (also after a
         * restore with step > 0) does buf = mom * buf + d. */
        const int first = o->step == 0;
        const int momentum = c->momentum != 0.0f;
        for (int i = 0; i < ps->n; i++) {
            tr_param *p = &ps->p[i];
            if (p->sparse && !momentum && c->weight_decay == 0.0f) {
                sgd_sparse_rows(p, c->lr);
                continue;
            }
            /* Any other configuration: every row, as torch with a dense
             * gradient (untouched rows have zero gradient in memory, but
             * weight decay and momentum still move them). */
            float *buf = momentum ? o->state.p[i].value.data : NULL;
            sgd_kernel(p->value.data, p->grad.data, buf, p->value.size, c->lr,
                       c->weight_decay, c->momentum, first);
        }
    } else {
        /* Scalars in double as torch computes them in Python (step is 1-based). */
        const double t = (double)(o->step + 1);
        const double b1 = c->beta1, b2 = c->beta2;
        const double bias_c1 = 1.0 - pow(b1, t);
        const double bias_c2 = 1.0 - pow(b2, t);
        const double step_size = (double)c->lr / bias_c1;
        const float bc2_sqrt = (float)sqrt(bias_c2);
        const float c1 = (float)(1.0 - b1), c2 = (float)(1.0 - b2);
        for (int i = 0; i < ps->n; i++) {
            tr_param *p = &ps->p[i];
            adam_kernel(p->value.data, p->grad.data, o->state.p[2 * i].value.data,
                        o->state.p[2 * i + 1].value.data, p->value.size, c->weight_decay,
                        c->beta1, c1, c->beta2, c2, bc2_sqrt, c->eps, (float)-step_size);
        }
    }
    o->step++;
}
