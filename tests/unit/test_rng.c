/* Unit tests for rng: the generator against the reference xoshiro256** and splitmix64 outputs
 * (so a sequence is the same on every machine), seeds and streams, and the moments and
 * bounds of each distribution over a million draws. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "rng.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

#define DRAWS 1000000

/* Mean and population standard deviation of DRAWS values of f. */
typedef double rng_draw_fn(rng *r, double arg);

static void moments(rng_draw_fn *f, double arg, double *mean, double *std, double *lo, double *hi)
{
    rng r;
    rng_seed(&r, 12345, 1);
    double s = 0, ss = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < DRAWS; i++) {
        double x = f(&r, arg);
        s += x;
        ss += x * x;
        if (x < *lo) *lo = x;
        if (x > *hi) *hi = x;
    }
    *mean = s / DRAWS;
    *std = sqrt(ss / DRAWS - *mean * *mean);
}

static double draw_uniform(rng *r, double arg)
{
    (void)arg;
    return rng_uniform(r);
}

static double draw_noise(rng *r, double arg)
{
    (void)arg;
    return rng_noise(r);
}

static double draw_normal(rng *r, double arg)
{
    (void)arg;
    return rng_normal(r);
}

static double draw_exponential(rng *r, double mean)
{
    return rng_exponential(r, mean);
}

static void test_reference_sequence(void **state)
{
    (void)state;
    /* xoshiro256** from the state {1, 2, 3, 4}: the reference implementation's outputs. */
    rng r = {{1, 2, 3, 4}};
    static const uint64_t want[] = {UINT64_C(11520),
                                    UINT64_C(0),
                                    UINT64_C(1509978240),
                                    UINT64_C(1215971899390074240),
                                    UINT64_C(1216172134540287360),
                                    UINT64_C(607988272756665600),
                                    UINT64_C(16172922978634559625),
                                    UINT64_C(8476171486693032832),
                                    UINT64_C(10595114339597558777),
                                    UINT64_C(2904607092377533576)};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_true(rng_next(&r) == want[i]);

    /* Seed 0, stream 0: the state is splitmix64's first four outputs from 0. */
    rng_seed(&r, 0, 0);
    assert_true(r.s[0] == UINT64_C(0xE220A8397B1DCDAF));
    assert_true(r.s[1] == UINT64_C(0x6E789E6AA1B965F4));
    assert_true(r.s[2] == UINT64_C(0x06C45D188009454F));
    assert_true(r.s[3] == UINT64_C(0xF88BB8A8724C81EC));

    /* Seed 42, stream 7 (the stream number is mixed into the seed). */
    rng_seed(&r, 42, 7);
    assert_true(rng_next(&r) == UINT64_C(0x36566FDE73B53910));
    assert_true(rng_next(&r) == UINT64_C(0x17390AE20168C451));
    assert_true(rng_next(&r) == UINT64_C(0x235A55AAAE6C8BC6));
}

static void test_seeds_and_streams(void **state)
{
    (void)state;
    rng a, b, c, d;
    rng_seed(&a, 7, 3);
    rng_seed(&b, 7, 3);
    rng_seed(&c, 7, 4);
    rng_seed(&d, 8, 3);
    int same_c = 0, same_d = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t x = rng_next(&a), y = rng_next(&b), z = rng_next(&c), w = rng_next(&d);
        assert_true(x == y);
        same_c += x == z;
        same_d += x == w;
    }
    assert_int_equal(same_c, 0);
    assert_int_equal(same_d, 0);
    /* Neighbouring streams are not shifted copies of each other either. */
    rng_seed(&a, 7, 3);
    rng_seed(&c, 7, 4);
    uint64_t first_c = rng_next(&c);
    for (int i = 0; i < 10000; i++)
        assert_true(rng_next(&a) != first_c);
}

static void test_uniform(void **state)
{
    (void)state;
    double mean, std, lo, hi;
    moments(draw_uniform, 0, &mean, &std, &lo, &hi);
    assert_true(lo >= 0 && hi < 1);
    assert_true(lo < 1e-5 && hi > 1 - 1e-5);
    assert_near(mean, 0.5, 0.002);
    assert_near(std, sqrt(1.0 / 12), 0.001);

    /* rng_below: every value of [0, n) about equally often; rng_range inside [lo, hi). */
    rng r;
    rng_seed(&r, 99, 0);
    int count[10] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t k = rng_below(&r, 10);
        assert_true(k < 10);
        count[k]++;
    }
    for (int k = 0; k < 10; k++)
        assert_in_range(count[k], 99000, 101000);
    double rlo = INFINITY, rhi = -INFINITY;
    for (int i = 0; i < DRAWS; i++) {
        double x = rng_range(&r, -2.5, 4);
        if (x < rlo) rlo = x;
        if (x > rhi) rhi = x;
    }
    assert_true(rlo >= -2.5 && rlo < -2.49);
    assert_true(rhi < 4 && rhi > 3.99);
}

static void test_noise(void **state)
{
    (void)state;
    double mean, std, lo, hi;
    moments(draw_noise, 0, &mean, &std, &lo, &hi);
    assert_true(lo >= -3.47 && hi <= 3.47);
    assert_true(lo < -2.5 && hi > 2.5); /* it does reach into the tails */
    assert_near(mean, 0, 0.005);
    assert_near(std, 1, 0.01);
}

static void test_normal(void **state)
{
    (void)state;
    double mean, std, lo, hi;
    moments(draw_normal, 0, &mean, &std, &lo, &hi);
    assert_near(mean, 0, 0.005);
    assert_near(std, 1, 0.01);
    assert_true(lo < -4 && hi > 4); /* unbounded, unlike rng_noise */
    /* The tails: P(|x| > 1.96) = 0.05. */
    rng r;
    rng_seed(&r, 5, 5);
    int out = 0;
    for (int i = 0; i < DRAWS; i++)
        out += fabs(rng_normal(&r)) > 1.959964;
    assert_in_range(out, 48500, 51500);
}

static void test_exponential(void **state)
{
    (void)state;
    double mean, std, lo, hi;
    moments(draw_exponential, 3.0, &mean, &std, &lo, &hi);
    assert_true(lo >= 0);
    assert_near(mean, 3.0, 0.03);
    assert_near(std, 3.0, 0.05); /* an exponential's std is its mean */
    moments(draw_exponential, 0.25, &mean, &std, &lo, &hi);
    assert_near(mean, 0.25, 0.0025);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_sequence),
        cmocka_unit_test(test_seeds_and_streams),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_noise),
        cmocka_unit_test(test_normal),
        cmocka_unit_test(test_exponential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
