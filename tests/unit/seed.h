/* seed: the seed of a randomised unit test — $PGPULSE_TEST_SEED if set, else the clock — printed
 * with the test's output so that a failure can be replayed with the same seed. */
#ifndef PGPULSE_TEST_SEED_H
#define PGPULSE_TEST_SEED_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

static inline uint64_t test_seed(void)
{
    const char *env = getenv("PGPULSE_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)util_now_us();
    printf("seed %llu (PGPULSE_TEST_SEED replays it)\n", (unsigned long long)seed);
    return seed;
}

#endif
