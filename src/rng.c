/* rng: xoshiro256** (Blackman and Vigna's public-domain design), seeded through splitmix64. */
#include "rng.h"

#include <math.h>

static uint64_t rng_splitmix(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * UINT64_C(0xD1342543DE82EF95));
    for (int i = 0; i < 4; i++) r->s[i] = rng_splitmix(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

double rng_normal(rng *r)
{
    double u = rng_uniform(r);
    double v = rng_uniform(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

double rng_exponential(rng *r, double mean)
{
    double u = rng_uniform(r);
    return -mean * log1p(-u);
}
