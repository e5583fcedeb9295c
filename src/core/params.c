/* Parameter sets: the named tensors (value, gradient, touched rows) that every
 * model exposes, and that optimisers and checkpoints work on. */
#include "triad/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tr_params_init(tr_params *ps, int cap)
{
    TR_ASSERT(cap > 0);
    ps->p = tr_xcalloc((size_t)cap, sizeof(tr_param));
    ps->n = 0;
    ps->cap = cap;
}

void tr_params_free(tr_params *ps)
{
    free(ps->p);
    ps->p = NULL;
    ps->n = ps->cap = 0;
}

tr_param *tr_params_add(tr_params *ps, tr_arena *a, const char *name,
                        int ndim, const int64_t *shape, int flags)
{
    TR_ASSERT(ps->n < ps->cap);
    TR_ASSERT(strlen(name) < sizeof ps->p[0].name);
    TR_ASSERT(tr_params_find(ps, name) == NULL);
    tr_param *p = &ps->p[ps->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    TR_ASSERT(!((flags & TR_PARAM_SPARSE) && (flags & TR_PARAM_NOGRAD)));
    p->value = tr_arena_tensor(a, ndim, shape);
    if (flags & TR_PARAM_NOGRAD)
        p->grad = tr_tensor_make(NULL, 1, (int64_t[]){0});
    else
        p->grad = tr_arena_tensor(a, ndim, shape);
    p->sparse = (flags & TR_PARAM_SPARSE) != 0;
    if (p->sparse) {
        p->touched = tr_arena_bytes(a, (size_t)shape[0] * sizeof(int32_t));
        p->is_touched = tr_arena_bytes(a, (size_t)shape[0]);
    }
    return p;
}

tr_param *tr_params_find(const tr_params *ps, const char *name)
{
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0)
            return &ps->p[i];
    return NULL;
}

int64_t tr_params_count(const tr_params *ps)
{
    int64_t n = 0;
    for (int i = 0; i < ps->n; i++)
        n += ps->p[i].value.size;
    return n;
}

void tr_params_get_values(const tr_params *ps, float *dst)
{
    for (int i = 0; i < ps->n; i++) {
        memcpy(dst, ps->p[i].value.data, (size_t)ps->p[i].value.size * sizeof(float));
        dst += ps->p[i].value.size;
    }
}

void tr_params_set_values(tr_params *ps, const float *src)
{
    for (int i = 0; i < ps->n; i++) {
        memcpy(ps->p[i].value.data, src, (size_t)ps->p[i].value.size * sizeof(float));
        src += ps->p[i].value.size;
    }
}

void tr_param_touch(tr_param *p, int64_t r)
{
    TR_ASSERT(p->sparse && r >= 0 && r < p->value.shape[0]);
    if (!p->is_touched[r]) {
        p->is_touched[r] = 1;
        p->touched[p->ntouched++] = (int32_t)r;
    }
}

void tr_params_zero_grad(tr_params *ps)
{
    for (int i = 0; i < ps->n; i++) {
        tr_param *p = &ps->p[i];
        if (!p->sparse) {
            tr_tensor_zero(&p->grad);
            continue;
        }
        int64_t row = p->grad.size / p->grad.shape[0];
        for (int64_t k = 0; k < p->ntouched; k++) {
            int32_t r = p->touched[k];
            memset(p->grad.data + r * row, 0, (size_t)row * sizeof(float));
            p->is_touched[r] = 0;
        }
        p->ntouched = 0;
    }
}

double tr_params_grad_norm(const tr_params *ps)
{
    double s = 0.0;
    for (int i = 0; i < ps->n; i++) {
        const tr_param *p = &ps->p[i];
        if (p->sparse) {
            int64_t row = p->grad.size / p->grad.shape[0];
            for (int64_t k = 0; k < p->ntouched; k++) {
                const float *g = p->grad.data + p->touched[k] * row;
                for (int64_t j = 0; j < row; j++)
                    s += (double)g[j] * g[j];
            }
        } else {
            for (int64_t j = 0; j < p->grad.size; j++)
                s += (double)p->grad.data[j] * p->grad.data[j];
        }
    }
    return sqrt(s);
}
