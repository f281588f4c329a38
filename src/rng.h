/* rng: a small, fast, seedable pseudo-random generator (xoshiro256**, seeded through
 * splitmix64) with the distributions the simulator needs. Same seed, same sequence, on every
 * machine: nothing here depends on the C library's rand() or on floating-point library
 * differences beyond IEEE arithmetic (normal variates use log/sqrt/cos, which glibc computes
 * correctly rounded or nearly so; the simulator rounds what it prints). */
#ifndef PGPULSE_RNG_H
#define PGPULSE_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

/* Seeds from a 64-bit seed and a stream number (independent streams for the same seed). */
void rng_seed(rng *r, uint64_t seed, uint64_t stream);

static inline uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* The next 64 random bits. */
static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1), 53 bits. */
static inline double rng_uniform(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n) (n > 0). */
static inline uint64_t rng_below(rng *r, uint64_t n)
{
    return (uint64_t)(rng_uniform(r) * (double)n);
}

/* Uniform in [lo, hi). */
static inline double rng_range(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

/* A cheap approximately standard normal variate: the sum of four 16-bit uniforms, centred and
 * scaled (Irwin-Hall); bounded at +-3.46. For per-sample measurement noise. */
static inline double rng_noise(rng *r)
{
    uint64_t x = rng_next(r);
    double s = (double)(x & 0xFFFF) + (double)((x >> 16) & 0xFFFF) + (double)((x >> 32) & 0xFFFF) +
               (double)(x >> 48);
    return (s / 65536.0 - 2.0) * 1.7320508075688772;
}

/* A standard normal variate (Box-Muller). */
double rng_normal(rng *r);

/* An exponential variate with the given mean. */
double rng_exponential(rng *r, double mean);

#endif
