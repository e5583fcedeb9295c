/* PCG32 random numbers with independent streams (O'Neill 2014, pcg32_random_r). */
#include "triad/core.h"

#include <math.h>

void tr_rng_seed(tr_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = 0u;
    r->inc = (stream << 1u) | 1u;
    (void)tr_rng_u32(r);
    r->state += seed;
    (void)tr_rng_u32(r);
}

uint32_t tr_rng_u32(tr_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

float tr_rng_uniform(tr_rng *r)
{
    return (float)(tr_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

uint32_t tr_rng_below(tr_rng *r, uint32_t n)
{
    TR_ASSERT(n > 0);
    uint32_t threshold = (0u - n) % n; /* reject the biased low range */
    for (;;) {
        uint32_t x = tr_rng_u32(r);
        if (x >= threshold)
            return x % n;
    }
}

float tr_rng_normal(tr_rng *r)
{
    double u1 = ((double)tr_rng_u32(r) + 1.0) / 4294967297.0; /* (0, 1] */
    double u2 = (double)tr_rng_u32(r) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2));
}

void tr_rng_fill_uniform(tr_rng *r, tr_tensor *t, float a)
{
    for (int64_t i = 0; i < t->size; i++)
        t->data[i] = (2.0f * tr_rng_uniform(r) - 1.0f) * a;
}
