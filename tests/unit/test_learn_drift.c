/* Unit tests for learn_drift: ADWIN keeps a stationary stream whole (no detection, its mean and
 * variance those of the values), finds a shift of the mean soon and drops what came before it,
 * keeps its buckets consistent with its width, and is plain data; Page-Hinkley finds a rise and
 * a fall of an error rate and stays quiet on a steady one. Randomised: the seed is printed and
 * PGPULSE_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "learn_drift.h"
#include "rng.h"
#include "seed.h"

static uint64_t seed;

static int64_t adwin_count(const learn_adwin *a)
{
    int64_t n = 0;
    for (int i = 0; i < LEARN_ADWIN_LEVELS; i++) n += (int64_t)a->nb[i] << i;
    return n;
}

static void test_adwin_stationary(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 1);
    learn_adwin a;
    assert_int_equal(learn_adwin_init(&a, 0.002), 0);
    double s = 0, ss = 0;
    const int n = 10000;
    int false_alarms = 0;
    for (int i = 0; i < n; i++) {
        double x = 3 + rng_normal(&r);
        s += x;
        ss += x * x;
        false_alarms += learn_adwin_add(&a, x);
    }
    /* At delta 0.002 a stationary stream of 10,000 gives a false detection in about 0.6 % of
     * seeds (measured over 1,000: never more than 2); a detector that fired on noise would give
     * hundreds. */
    if (false_alarms > 3) fail_msg("%d detections on a stationary stream, seed %llu", false_alarms, (unsigned long long)seed);
    if (false_alarms) {
        print_message("%d false detection(s) (rare at this delta)\n", false_alarms);
        return;
    }
    assert_int_equal(a.width, n);
    assert_int_equal(adwin_count(&a), n);
    double mean = s / n, var = ss / n - mean * mean;
    assert_true(fabs(learn_adwin_mean(&a) - mean) < 1e-9);
    assert_true(fabs(a.variance / (double)a.width - var) < 1e-6);
    for (int i = 0; i < LEARN_ADWIN_LEVELS; i++) assert_true(a.nb[i] <= LEARN_ADWIN_M);
}

/* The mean moves by one standard deviation at 5,000: found within 300 values, and the window
 * afterwards holds (almost) only the new values. */
static void test_adwin_finds_a_shift(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 2);
    learn_adwin a;
    assert_int_equal(learn_adwin_init(&a, 0.002), 0);
    int first = -1;
    for (int i = 0; i < 7000; i++) {
        double x = (i < 5000 ? 0 : 1) + rng_normal(&r);
        if (learn_adwin_add(&a, x) && i >= 5000 && first < 0) first = i;
    }
    if (first < 0 || first - 5000 > 300)
        fail_msg("the shift at 5000 was found at %d, seed %llu", first, (unsigned long long)seed);
    assert_true(a.width < 2500);
    assert_true(fabs(learn_adwin_mean(&a) - 1) < 0.2);
    assert_int_equal(adwin_count(&a), a.width);
    assert_true(a.detections >= 1);
    /* Not a number: ignored. */
    int64_t w = a.width;
    assert_int_equal(learn_adwin_add(&a, NAN), 0);
    assert_int_equal(a.width, w);
    assert_int_equal(learn_adwin_init(&a, 0), -1);
    assert_int_equal(learn_adwin_init(&a, 1), -1);
}

static void test_adwin_is_plain_data(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 3);
    learn_adwin a, b;
    learn_adwin_init(&a, 0.01);
    for (int i = 0; i < 3000; i++) learn_adwin_add(&a, rng_normal(&r));
    memcpy(&b, &a, sizeof a);
    for (int i = 0; i < 3000; i++) {
        double x = (i > 1000) * 2 + rng_normal(&r);
        assert_int_equal(learn_adwin_add(&a, x), learn_adwin_add(&b, x));
    }
    assert_memory_equal(&a, &b, sizeof a);
}

/* An error rate (0/1 values) that rises from 0.2 to 0.6, then falls back. */
static void test_page_hinkley(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 4);
    learn_ph p;
    learn_ph_init(&p);
    int up = -1, down = -1, false_alarms = 0, last = -1, last_rise = -1;
    for (int i = 0; i < 9000; i++) {
        double rate = i < 3000 ? 0.2 : i < 6000 ? 0.6 : 0.2;
        int d = learn_ph_add(&p, rng_uniform(&r) < rate ? 1 : 0);
        /* A steady rate: about 1 % of seeds give one false detection in 3,000 values (measured
         * over 1,000, never two). */
        if (i < 3000 && d && ++false_alarms > 2) fail_msg("detections at %d on a steady rate, seed %llu", i, (unsigned long long)seed);
        if (d && i < 6000) last = i;
        if (d && i < 3000) last_rise = i;
        if (d > 0 && i >= 3000 && up < 0) up = i;
        if (d < 0 && i >= 6000 && down < 0) down = i;
    }
    if ((up < 0 || up - 3000 > 400) && last_rise < 2700) fail_msg("the rise at 3000 found at %d, seed %llu", up, (unsigned long long)seed);
    /* (A detection just before the fall restarts the detector: it then learns the new rate as
     * its baseline, and there is no fall to see.) */
    if ((down < 0 || down - 6000 > 400) && last < 5700) fail_msg("the fall at 6000 found at %d, seed %llu", down, (unsigned long long)seed);
    assert_true(p.detections >= 1 + false_alarms);
    assert_int_equal(learn_ph_add(&p, INFINITY), 0);
}

int main(void)
{
    seed = test_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adwin_stationary),
        cmocka_unit_test(test_adwin_finds_a_shift),
        cmocka_unit_test(test_adwin_is_plain_data),
        cmocka_unit_test(test_page_hinkley),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
