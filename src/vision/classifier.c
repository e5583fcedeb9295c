/* The image classifiers: a multilayer perceptron and a small convolutional
 * network, their parameters, per-batch state, and forward/backward passes
 * ending in softmax cross-entropy.
 *
 *   mlp: x (n, hw) -> [fc_l, relu] x layers -> out (classes)
 *   cnn: x (n, 1, h, w) -> conv1 5x5 pad 2 (C) -> relu -> maxpool2
 *        -> conv2 5x5 pad 2 (2C) -> relu -> maxpool2 -> flatten -> out (classes)
 */
#include "triad/nn.h"
#include "triad/vision.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CNN_K 5
#define CNN_PAD 2

tr_cls_config tr_cls_defaults(tr_cls_kind kind)
{
    tr_cls_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.h = c.w = 28;
    c.classes = 10;
    c.hidden = 256;
    c.layers = 2;
    c.channels = 16;
    return c;
}

tr_status tr_cls_kind_parse(const char *s, tr_cls_kind *kind, tr_err *err)
{
    if (strcmp(s, "mlp") == 0)
        *kind = TR_CLS_MLP;
    else if (strcmp(s, "cnn") == 0)
        *kind = TR_CLS_CNN;
    else
        return tr_err_set(err, TR_ERR_ARG, "unknown classifier '%s' (expected mlp or cnn)", s);
    return TR_OK;
}

static tr_status config_check(const tr_cls_config *c, tr_err *err)
{
    if (c->kind != TR_CLS_MLP && c->kind != TR_CLS_CNN)
        return tr_err_set(err, TR_ERR_ARG, "classifier kind must be mlp or cnn, got %d", (int)c->kind);
    if (c->h < 1 || c->h > 4096 || c->w < 1 || c->w > 4096)
        return tr_err_set(err, TR_ERR_ARG, "image size must be in [1, 4096] on each side, got %d x %d", c->h, c->w);
    if (c->classes < 2 || c->classes > 256)
        return tr_err_set(err, TR_ERR_ARG, "classes must be in [2, 256], got %d", c->classes);
    if (c->kind == TR_CLS_MLP) {
        if (c->hidden < 1 || c->hidden > 65536)
            return tr_err_set(err, TR_ERR_ARG, "hidden must be in [1, 65536], got %d", c->hidden);
        if (c->layers < 0 || c->layers > TR_CLS_MAX_LAYERS)
            return tr_err_set(err, TR_ERR_ARG, "layers must be in [0, %d], got %d", TR_CLS_MAX_LAYERS, c->layers);
    } else {
        if (c->h % 4 || c->w % 4)
            return tr_err_set(err, TR_ERR_ARG, "the cnn needs image sides that are multiples of 4, got %d x %d", c->h, c->w);
        if (c->channels < 1 || c->channels > 1024)
            return tr_err_set(err, TR_ERR_ARG, "channels must be in [1, 1024], got %d", c->channels);
    }
    return TR_OK;
}

/* ---------------------------------------------------------------- parameters */

/* The parameters, in this order (the order every function below relies on):
 *   mlp: fc0.weight (hidden, hw), fc0.bias (hidden), fc_l (hidden, hidden) ...,
 *        out.weight (classes, hidden or hw), out.bias (classes)
 *   cnn: conv1.weight (C, 1, 5, 5), conv1.bias (C), conv2.weight (2C, C, 5, 5),
 *        conv2.bias (2C), out.weight (classes, 2C hw/16), out.bias (classes) */
static void cls_declare(tr_cls *m, tr_arena *a)
{
    const tr_cls_config *c = &m->cfg;
    const int64_t hw = (int64_t)c->h * c->w, K = CNN_K;
    char name[32];
    if (c->kind == TR_CLS_MLP) {
        tr_params_init(&m->params, 2 * c->layers + 2);
        int64_t in = hw;
        for (int l = 0; l < c->layers; l++) {
            snprintf(name, sizeof name, "fc%d.weight", l);
            tr_params_add(&m->params, a, name, 2, (int64_t[]){c->hidden, in}, 0);
            snprintf(name, sizeof name, "fc%d.bias", l);
            tr_params_add(&m->params, a, name, 1, (int64_t[]){c->hidden}, 0);
            in = c->hidden;
        }
        tr_params_add(&m->params, a, "out.weight", 2, (int64_t[]){c->classes, in}, 0);
        tr_params_add(&m->params, a, "out.bias", 1, (int64_t[]){c->classes}, 0);
    } else {
        const int64_t C = c->channels;
        tr_params_init(&m->params, 6);
        tr_params_add(&m->params, a, "conv1.weight", 4, (int64_t[]){C, 1, K, K}, 0);
        tr_params_add(&m->params, a, "conv1.bias", 1, (int64_t[]){C}, 0);
        tr_params_add(&m->params, a, "conv2.weight", 4, (int64_t[]){2 * C, C, K, K}, 0);
        tr_params_add(&m->params, a, "conv2.bias", 1, (int64_t[]){2 * C}, 0);
        tr_params_add(&m->params, a, "out.weight", 2, (int64_t[]){c->classes, 2 * C * (hw / 16)}, 0);
        tr_params_add(&m->params, a, "out.bias", 1, (int64_t[]){c->classes}, 0);
    }
}

tr_status tr_cls_init(tr_cls *m, const tr_cls_config *cfg, tr_err *err)
{
    memset(m, 0, sizeof *m);
    if (config_check(cfg, err))
        return TR_ERR_ARG;
    m->cfg = *cfg;
    tr_arena plan;
    tr_arena_plan(&plan);
    cls_declare(m, &plan);
    tr_params_free(&m->params);
    if (tr_arena_init(&m->arena, plan.cap, err))
        return TR_ERR_NOMEM;
    cls_declare(m, &m->arena);
    return TR_OK;
}

void tr_cls_free(tr_cls *m)
{
    tr_params_free(&m->params);
    tr_arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}

void tr_cls_init_weights(tr_cls *m, uint64_t seed)
{
    /* kaiming_uniform_(a=sqrt(5)) on a weight of fan-in F is U(-1/sqrt(F),
     * 1/sqrt(F)); nn.Linear and nn.Conv2d draw their biases from the same
     * range. A weight's fan-in is its size over its first dimension. */
    tr_rng r;
    tr_rng_seed(&r, seed, 0x7615);
    for (int i = 0; i + 1 < m->params.n; i += 2) {
        tr_param *w = &m->params.p[i], *b = &m->params.p[i + 1];
        int64_t fan_in = w->value.size / w->value.shape[0];
        float bound = (float)(1.0 / sqrt((double)fan_in));
        tr_rng_fill_uniform(&r, &w->value, bound);
        tr_rng_fill_uniform(&r, &b->value, bound);
    }
}

/* ---------------------------------------------------------------- state */

static void state_declare(tr_cls_state *s, const tr_cls *m, tr_arena *a)
{
    const tr_cls_config *c = &m->cfg;
    const size_t B = (size_t)s->B, hw = (size_t)c->h * c->w, C = (size_t)c->channels;
    const size_t KK = CNN_K * CNN_K;
    s->x = tr_arena_floats(a, B * hw);
    s->y = tr_arena_bytes(a, B * sizeof(int32_t));
    size_t ga = 0, gb = 0;
    if (c->kind == TR_CLS_MLP) {
        for (int l = 0; l < c->layers; l++)
            s->act[l] = tr_arena_floats(a, B * c->hidden);
        ga = gb = B * c->hidden;
    } else {
        s->c1 = tr_arena_floats(a, B * C * hw);
        s->p1 = tr_arena_floats(a, B * C * hw / 4);
        s->arg1 = tr_arena_bytes(a, B * C * hw / 4);
        s->c2 = tr_arena_floats(a, B * 2 * C * hw / 4);
        s->p2 = tr_arena_floats(a, B * 2 * C * hw / 16);
        s->arg2 = tr_arena_bytes(a, B * 2 * C * hw / 16);
        size_t col1 = KK * hw, col2 = C * KK * hw / 4;
        s->col = tr_arena_floats(a, col1 > col2 ? col1 : col2);
        ga = B * C * hw / 4; /* d p2, then d p1 */
        gb = B * C * hw;     /* d c2, then d c1 */
    }
    s->probs = tr_arena_floats(a, B * c->classes);
    s->nll = tr_arena_floats(a, B);
    s->dlogits = tr_arena_floats(a, B * c->classes);
    s->ga = ga ? tr_arena_floats(a, ga) : NULL;
    s->gb = gb ? tr_arena_floats(a, gb) : NULL;
}

tr_status tr_cls_state_init(tr_cls_state *s, const tr_cls *m, int B, tr_err *err)
{
    memset(s, 0, sizeof *s);
    if (B < 1)
        return tr_err_set(err, TR_ERR_ARG, "batch size must be at least 1, got %d", B);
    s->B = B;
    tr_arena plan;
    tr_arena_plan(&plan);
    state_declare(s, m, &plan);
    if (tr_arena_init(&s->arena, plan.cap, err))
        return TR_ERR_NOMEM;
    state_declare(s, m, &s->arena);
    return TR_OK;
}

void tr_cls_state_free(tr_cls_state *s)
{
    tr_arena_free(&s->arena);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- forward / backward */

static const float *value(const tr_cls *m, int i)
{
    return m->params.p[i].value.data;
}

static float *grad(tr_cls *m, int i)
{
    return m->params.p[i].grad.data;
}

double tr_cls_forward(tr_cls_state *s, const tr_cls *m, const float *x,
                      const uint8_t *y, int n, int64_t *correct)
{
    const tr_cls_config *c = &m->cfg;
    const int hw = c->h * c->w, K = c->classes;
    TR_ASSERT(n >= 1 && n <= s->B);
    s->n = n;
    if (s->x != x)
        memcpy(s->x, x, (size_t)n * hw * sizeof(float));
    for (int i = 0; i < n; i++) {
        TR_ASSERT(y[i] < K);
        s->y[i] = y[i];
    }
    float *logits = s->probs; /* (n, K), softmax in place */
    if (c->kind == TR_CLS_MLP) {
        const float *in = s->x;
        int I = hw;
        for (int l = 0; l < c->layers; l++) {
            tr_linear_forward(s->act[l], in, value(m, 2 * l), value(m, 2 * l + 1), n, I, c->hidden);
            tr_relu_forward(s->act[l], s->act[l], (int64_t)n * c->hidden);
            in = s->act[l];
            I = c->hidden;
        }
        tr_linear_forward(logits, in, value(m, 2 * c->layers), value(m, 2 * c->layers + 1), n, I, K);
    } else {
        const int C = c->channels, H = c->h, W = c->w;
        tr_conv2d_forward(s->c1, s->col, s->x, value(m, 0), value(m, 1), n, 1, H, W, C, CNN_K, CNN_PAD);
        tr_relu_forward(s->c1, s->c1, (int64_t)n * C * hw);
        tr_maxpool2_forward(s->p1, s->arg1, s->c1, n, C, H, W);
        tr_conv2d_forward(s->c2, s->col, s->p1, value(m, 2), value(m, 3), n, C, H / 2, W / 2, 2 * C, CNN_K, CNN_PAD);
        tr_relu_forward(s->c2, s->c2, (int64_t)n * 2 * C * hw / 4);
        tr_maxpool2_forward(s->p2, s->arg2, s->c2, n, 2 * C, H / 2, W / 2);
        tr_linear_forward(logits, s->p2, value(m, 4), value(m, 5), n, 2 * C * hw / 16, K);
    }
    double loss = tr_xent_forward(s->probs, s->nll, logits, s->y, n, K);
    if (correct)
        for (int i = 0; i < n; i++) {
            const float *p = s->probs + (size_t)i * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (p[k] > p[best])
                    best = k;
            *correct += best == s->y[i];
        }
    return loss;
}

void tr_cls_backward(tr_cls_state *s, tr_cls *m, float scale)
{
    const tr_cls_config *c = &m->cfg;
    const int n = s->n, hw = c->h * c->w, K = c->classes;
    TR_ASSERT(n >= 1);
    tr_xent_backward(s->dlogits, s->probs, s->y, NULL, scale, n, K);
    if (c->kind == TR_CLS_MLP) {
        const int L = c->layers, Hd = c->hidden;
        /* d of the current layer's output, ping-ponging between ga and gb */
        float *dout = s->ga, *dnext = s->gb;
        const float *in = L ? s->act[L - 1] : s->x;
        tr_linear_backward(L ? dout : NULL, grad(m, 2 * L), grad(m, 2 * L + 1), s->dlogits, in,
                           value(m, 2 * L), n, L ? Hd : hw, K);
        for (int l = L - 1; l >= 0; l--) {
            tr_relu_backward(dout, dout, s->act[l], (int64_t)n * Hd);
            in = l ? s->act[l - 1] : s->x;
            tr_linear_backward(l ? dnext : NULL, grad(m, 2 * l), grad(m, 2 * l + 1), dout, in,
                               value(m, 2 * l), n, l ? Hd : hw, Hd);
            float *t = dout;
            dout = dnext;
            dnext = t;
        }
    } else {
        const int C = c->channels, H = c->h, W = c->w;
        float *dp = s->ga, *dc = s->gb;
        tr_linear_backward(dp, grad(m, 4), grad(m, 5), s->dlogits, s->p2, value(m, 4), n, 2 * C * hw / 16, K);
        tr_maxpool2_backward(dc, dp, s->arg2, n, 2 * C, H / 2, W / 2);
        tr_relu_backward(dc, dc, s->c2, (int64_t)n * 2 * C * hw / 4);
        tr_conv2d_backward(dp, grad(m, 2), grad(m, 3), s->col, dc, s->p1, value(m, 2), n, C, H / 2,
                           W / 2, 2 * C, CNN_K, CNN_PAD);
        tr_maxpool2_backward(dc, dp, s->arg1, n, C, H, W);
        tr_relu_backward(dc, dc, s->c1, (int64_t)n * C * hw);
        tr_conv2d_backward(NULL, grad(m, 0), grad(m, 1), s->col, dc, s->x, value(m, 0), n, 1, H, W, C,
                           CNN_K, CNN_PAD);
    }
}

void tr_cls_evaluate(tr_cls_state *s, const tr_cls *m, const tr_images *d,
                     double *loss, double *accuracy)
{
    const int64_t hw = (int64_t)m->cfg.h * m->cfg.w;
    TR_ASSERT(d->n >= 1 && d->h == m->cfg.h && d->w == m->cfg.w);
    double total = 0.0;
    int64_t correct = 0;
    for (int64_t i = 0; i < d->n; i += s->B) {
        int n = d->n - i < s->B ? (int)(d->n - i) : s->B;
        total += tr_cls_forward(s, m, d->x + i * hw, d->y + i, n, &correct);
    }
    *loss = total / (double)d->n;
    *accuracy = (double)correct / (double)d->n;
}
