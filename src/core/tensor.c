/* Tensors (shaped views of float storage) and the arena they live in. */
#include "triad/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tr_tensor tr_tensor_make(float *data, int ndim, const int64_t *shape)
{
    TR_ASSERT(ndim >= 1 && ndim <= TR_MAX_DIMS);
    tr_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.ndim = ndim;
    t.size = 1;
    for (int i = 0; i < ndim; i++) {
        TR_ASSERT(shape[i] >= 0);
        t.shape[i] = shape[i];
        t.size *= shape[i];
    }
    return t;
}

char *tr_tensor_shape_str(const tr_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, ")");
    return buf;
}

int tr_tensor_same_shape(const tr_tensor *a, const tr_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

void tr_tensor_zero(tr_tensor *t)
{
    if (t->data && t->size)
        memset(t->data, 0, (size_t)t->size * sizeof(float));
}

/* ---------------------------------------------------------------- arena */

#define TR_ARENA_ALIGN 64

void tr_arena_plan(tr_arena *a)
{
    a->base = NULL;
    a->cap = 0;
    a->used = 0;
}

tr_status tr_arena_init(tr_arena *a, size_t cap, tr_err *err)
{
    a->used = 0;
    a->cap = cap;
    a->base = NULL;
    if (cap == 0)
        return TR_OK;
    a->base = aligned_alloc(TR_ARENA_ALIGN, (cap + TR_ARENA_ALIGN - 1) / TR_ARENA_ALIGN * TR_ARENA_ALIGN);
    if (!a->base)
        return tr_err_set(err, TR_ERR_NOMEM, "cannot allocate %.1f MiB", (double)cap / (1 << 20));
    memset(a->base, 0, cap);
    return TR_OK;
}

void tr_arena_free(tr_arena *a)
{
    free(a->base);
    a->base = NULL;
    a->cap = a->used = 0;
}

void *tr_arena_bytes(tr_arena *a, size_t n)
{
    size_t start = (a->used + TR_ARENA_ALIGN - 1) / TR_ARENA_ALIGN * TR_ARENA_ALIGN;
    a->used = start + n;
    if (!a->base) {
        if (a->used > a->cap)
            a->cap = a->used; /* planning: remember the high-water mark */
        return NULL;
    }
    TR_ASSERT(a->used <= a->cap);
    return a->base + start;
}

float *tr_arena_floats(tr_arena *a, size_t n)
{
    return (float *)tr_arena_bytes(a, n * sizeof(float));
}

tr_tensor tr_arena_tensor(tr_arena *a, int ndim, const int64_t *shape)
{
    tr_tensor t = tr_tensor_make(NULL, ndim, shape);
    t.data = tr_arena_floats(a, (size_t)t.size);
    return t;
}
