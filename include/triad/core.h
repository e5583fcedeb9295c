/*
 * triad/core.h - the engine's foundation: status codes and error messages,
 * always-on assertions, float tensors with shapes, an arena allocator, a
 * seeded random number generator with independent streams, CBLAS wrappers
 * (each with a naive reference kernel beside it), and parameter sets.
 *
 * Not here: layers (nn.h), optimisers (optim.h), file formats (io.h).
 */
#ifndef TRIAD_CORE_H
#define TRIAD_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/* Status codes returned by every function that can fail on its input. */
typedef enum {
    TR_OK = 0,
    TR_ERR_ARG,     /* a nonsense argument or option value */
    TR_ERR_IO,      /* a file could not be opened, read or written */
    TR_ERR_FORMAT,  /* a file's content is not what was expected */
    TR_ERR_SHAPE,   /* tensors or models whose shapes do not agree */
    TR_ERR_NOMEM    /* an allocation failed */
} tr_status;

/* An error report: the status and a one-line message that names the file,
 * line, option or tensor involved. Callers own it (usually on the stack);
 * the library never keeps global error state. */
typedef struct {
    tr_status code;
    char msg[512];
} tr_err;

/* Sets err (if not NULL) to code and a printf-style message; returns code so
 * that callers can write `return tr_err_set(err, TR_ERR_IO, "...")`. */
tr_status tr_err_set(tr_err *err, tr_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears err to TR_OK with an empty message. */
void tr_err_clear(tr_err *err);

/* Name of a status code ("ok", "bad argument", ...). */
const char *tr_status_str(tr_status code);

/* Programmer errors only (never bad input): on in every build type. */
void tr_assert_fail(const char *expr, const char *file, int line);
#define TR_ASSERT(x) ((x) ? (void)0 : tr_assert_fail(#x, __FILE__, __LINE__))

/* malloc/calloc that assert on failure; for set-up code, never the training step. */
void *tr_xmalloc(size_t bytes);
void *tr_xcalloc(size_t n, size_t size);

/* ---------------------------------------------------------------- tensors */

#define TR_MAX_DIMS 4

/* A view of contiguous row-major float32 storage owned elsewhere (an arena). */
typedef struct {
    float *data;
    int ndim;
    int64_t shape[TR_MAX_DIMS];
    int64_t size; /* product of the shape */
} tr_tensor;

/* A tensor over data with the given shape (ndim 1..4). */
tr_tensor tr_tensor_make(float *data, int ndim, const int64_t *shape);
/* Shape as text, "(4, 650)", into buf; returns buf. */
char *tr_tensor_shape_str(const tr_tensor *t, char *buf, size_t n);
/* 1 if shapes are equal. */
int tr_tensor_same_shape(const tr_tensor *a, const tr_tensor *b);
void tr_tensor_zero(tr_tensor *t);

/* ---------------------------------------------------------------- arena */

/* A bump allocator over one block. Used in two passes: a planning arena
 * (tr_arena_plan) only counts bytes; a real arena (tr_arena_init with that
 * count) hands out memory. Everything a model needs is planned up front, so
 * the training step never calls malloc. Allocations are 64-byte aligned and
 * zeroed. */
typedef struct {
    unsigned char *base; /* NULL while planning */
    size_t cap;
    size_t used;
} tr_arena;

void tr_arena_plan(tr_arena *a);
/* Allocates cap bytes; returns TR_ERR_NOMEM (with message) on failure. */
tr_status tr_arena_init(tr_arena *a, size_t cap, tr_err *err);
void tr_arena_free(tr_arena *a);
/* n floats (NULL from a planning arena). Asserts when the plan was too small. */
float *tr_arena_floats(tr_arena *a, size_t n);
void *tr_arena_bytes(tr_arena *a, size_t n);
/* A tensor of the given shape from the arena. */
tr_tensor tr_arena_tensor(tr_arena *a, int ndim, const int64_t *shape);

/* ---------------------------------------------------------------- random */

/* PCG32 (O'Neill 2014): 64-bit state, and an odd increment that selects one of
 * 2^63 independent streams. Seed every stream from the run seed with a
 * distinct stream id so that runs are reproducible. */
typedef struct {
    uint64_t state;
    uint64_t inc;
} tr_rng;

void tr_rng_seed(tr_rng *r, uint64_t seed, uint64_t stream);
uint32_t tr_rng_u32(tr_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float tr_rng_uniform(tr_rng *r);
/* Uniform integer in [0, n), unbiased. */
uint32_t tr_rng_below(tr_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float tr_rng_normal(tr_rng *r);
/* Fills t with uniform values in [-a, a). */
void tr_rng_fill_uniform(tr_rng *r, tr_tensor *t, float a);

/* ---------------------------------------------------------------- BLAS */

/* C(M,N) = alpha * op(A) * op(B) + beta * C, row-major, op(X) = X or X^T.
 * tr_sgemm calls CBLAS (OpenBLAS); tr_sgemm_ref is the naive triple loop
 * (double accumulation) that tests compare it against. */
void tr_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);
void tr_sgemm_ref(int trans_a, int trans_b, int M, int N, int K, float alpha,
                  const float *A, int lda, const float *B, int ldb, float beta,
                  float *C, int ldc);
/* Seconds on a monotonic clock (for progress and timings, never for results). */
double tr_now_seconds(void);

/* Threads used by BLAS calls (OpenBLAS); n >= 1. */
void tr_set_threads(int n);
int tr_get_threads(void);

/* ---------------------------------------------------------------- parameters */

/* One named parameter: its value, its gradient of the same shape, and for
 * row-sparse parameters (embeddings) the rows whose gradient may be non-zero
 * since the last tr_params_zero_grad. Names follow PyTorch state_dict names
 * ("rnn.weight_ih_l0") so that checkpoints load into PyTorch. */
typedef struct {
    char name[64];
    tr_tensor value;
    tr_tensor grad;
    int sparse;        /* gradient touches only some rows (dim 0) */
    int32_t *touched;  /* (shape[0],) row ids, first ntouched valid */
    uint8_t *is_touched; /* (shape[0],) 1 when the row is in touched */
    int64_t ntouched;
} tr_param;

/* A parameter set: every model exposes all its parameters as one. Optimisers,
 * checkpoints and the parameter server work on parameter sets only. */
typedef struct {
    tr_param *p;
    int n, cap;
} tr_params;

void tr_params_init(tr_params *ps, int cap);
void tr_params_free(tr_params *ps);
/* Flags of tr_params_add. */
#define TR_PARAM_SPARSE 1 /* row-sparse gradient with a touched-row list */
#define TR_PARAM_NOGRAD 2 /* no gradient storage: grad is an empty (0,) tensor
                             (optimiser state, which is never differentiated) */

/* Adds a parameter whose value and grad come from arena a; returns it.
 * With a planning arena the tensors have NULL data. */
tr_param *tr_params_add(tr_params *ps, tr_arena *a, const char *name,
                        int ndim, const int64_t *shape, int flags);
/* The parameter with this name, or NULL. */
tr_param *tr_params_find(const tr_params *ps, const char *name);
/* Total number of scalars. */
int64_t tr_params_count(const tr_params *ps);
/* Copies every value, in parameter order, into dst (tr_params_count
 * floats), and back. */
void tr_params_get_values(const tr_params *ps, float *dst);
void tr_params_set_values(tr_params *ps, const float *src);
/* Zeroes gradients (only the touched rows of sparse ones). */
void tr_params_zero_grad(tr_params *ps);
/* Marks row r of a sparse parameter as touched. */
void tr_param_touch(tr_param *p, int64_t r);
/* sqrt(sum of squared gradients) in double. */
double tr_params_grad_norm(const tr_params *ps);

#ifdef __cplusplus
}
#endif
#endif
