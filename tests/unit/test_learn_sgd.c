/* Unit tests for learn_sgd: logistic regression learns a linear boundary (prequential accuracy
 * near the Bayes rate of the data), regression learns a linear relation, features of wildly
 * different scales and offsets learn as well as standardised ones, the returned value is the
 * prediction before learning, bad input is refused, and the state is plain data. Randomised:
 * the seed is printed and PGPULSE_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "learn_sgd.h"
#include "rng.h"
#include "seed.h"

static uint64_t seed;

/* y = 1 when w . x + noise > 0, for 10 standard normal features scaled by scale[i] and shifted
 * by shift[i]; returns the prequential accuracy over the last half of n records. */
static double classify_run(learn_sgd *m, int n, const double *scale, const double *shift,
                           uint64_t stream)
{
    rng r;
    rng_seed(&r, seed, stream);
    static const double w[10] = {1, -2, 0.5, 0, 3, -1, 0, 0.25, -0.5, 2};
    int right = 0;
    for (int k = 0; k < n; k++) {
        double x[10], s = 0.5 * rng_normal(&r);
        for (int i = 0; i < 10; i++) {
            double v = rng_normal(&r);
            s += w[i] * v;
            x[i] = v * scale[i] + shift[i];
        }
        double y = s > 0;
        double p = learn_sgd_update(m, x, y);
        if (k >= n / 2) right += (p > 0.5) == (y == 1);
    }
    return (double)right / (n - n / 2);
}

/* The noise (sigma 0.5 against a signal of norm ~4.3) puts the Bayes accuracy near 0.96. */
static void test_logistic_learns_a_boundary(void **state)
{
    (void)state;
    learn_sgd m;
    assert_int_equal(learn_sgd_init(&m, 10, 1, 0.1, 1e-6), 0);
    const double one[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, zero[10] = {0};
    double acc = classify_run(&m, 20000, one, zero, 1);
    if (acc < 0.93) fail_msg("accuracy %.4f, seed %llu", acc, (unsigned long long)seed);
}

/* The same data with features from 1e-4 to 1e4 in scale and offsets up to 1e6: standardised,
 * they learn as well. */
static void test_scales_do_not_matter(void **state)
{
    (void)state;
    learn_sgd m;
    assert_int_equal(learn_sgd_init(&m, 10, 1, 0.1, 1e-6), 0);
    const double scale[10] = {1e-4, 1e4, 1, 30, 1e-2, 5e3, 2, 1e-3, 7, 1e2};
    const double shift[10] = {1e6, -3e5, 17, 0, 1e-3, 4e4, -9, 1e5, 0.5, 3};
    double acc = classify_run(&m, 20000, scale, shift, 2);
    if (acc < 0.93) fail_msg("accuracy %.4f, seed %llu", acc, (unsigned long long)seed);
}

static void test_regression(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 3);
    learn_sgd m;
    assert_int_equal(learn_sgd_init(&m, 4, 0, 0.5, 0), 0);
    double sse = 0;
    int counted = 0;
    for (int k = 0; k < 30000; k++) {
        double x[4];
        for (int i = 0; i < 4; i++) x[i] = rng_normal(&r);
        double y = 5 + 2 * x[0] - 3 * x[1] + 0.5 * x[3] + 0.1 * rng_normal(&r);
        double before = learn_sgd_predict(&m, x);
        double p = learn_sgd_update(&m, x, y);
        assert_true(p == before); /* the prediction before learning */
        if (k >= 20000) {
            sse += (p - y) * (p - y);
            counted++;
        }
    }
    double rmse = sqrt(sse / counted);
    if (rmse > 0.3) fail_msg("prequential RMSE %.4f (noise 0.1, signal 3.6), seed %llu", rmse, (unsigned long long)seed);
}

static void test_bad_input(void **state)
{
    (void)state;
    learn_sgd m;
    assert_int_equal(learn_sgd_init(&m, 0, 0, 0.1, 0), -1);
    assert_int_equal(learn_sgd_init(&m, LEARN_SGD_MAXD + 1, 0, 0.1, 0), -1);
    assert_int_equal(learn_sgd_init(&m, 2, 0, 0, 0), -1);
    assert_int_equal(learn_sgd_init(&m, 2, 0, 0.1, -1), -1);
    assert_int_equal(learn_sgd_init(&m, 2, 1, 0.1, 0), 0);
    const double x[2] = {1, 2}, bad[2] = {NAN, 1};
    assert_true(isnan(learn_sgd_update(&m, x, 0.5))); /* not a class */
    assert_true(isnan(learn_sgd_update(&m, bad, 1)));
    assert_true(isnan(learn_sgd_update(&m, x, INFINITY)));
    assert_int_equal(m.n, 0);
    assert_true(learn_sgd_predict(&m, x) == 0.5);
}

static void test_state_is_plain_data(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 5);
    learn_sgd a, b;
    learn_sgd_init(&a, 3, 1, 0.1, 1e-4);
    for (int k = 0; k < 500; k++) {
        double x[3] = {rng_normal(&r), rng_normal(&r), rng_normal(&r)};
        learn_sgd_update(&a, x, x[0] + x[1] > 0);
    }
    memcpy(&b, &a, sizeof a);
    for (int k = 0; k < 500; k++) {
        double x[3] = {rng_normal(&r), rng_normal(&r), rng_normal(&r)};
        double pa = learn_sgd_update(&a, x, x[0] - x[2] > 0), pb = learn_sgd_update(&b, x, x[0] - x[2] > 0);
        if (memcmp(&pa, &pb, sizeof pa)) fail_msg("the copy diverged at %d", k);
    }
    assert_memory_equal(&a, &b, sizeof a);
}

int main(void)
{
    seed = test_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logistic_learns_a_boundary),
        cmocka_unit_test(test_scales_do_not_matter),
        cmocka_unit_test(test_regression),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_state_is_plain_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
