/* Unit tests for learn_rls: exact recovery of a noise-free linear relation, least-squares
 * accuracy under noise (the weights within a few standard errors), the prior error is the error
 * of the prediction before learning, forgetting follows a relation that changes (and without
 * forgetting the model averages the two), wind-up stays bounded under constant inputs and the
 * next step stays sane, bad input is refused, and the state is plain data (a byte copy continues
 * identically). Randomised: the seed is printed and PGPULSE_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "learn_rls.h"
#include "rng.h"
#include "seed.h"

static uint64_t seed;

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g), seed %llu", line, what, got, want,
                 tol, (unsigned long long)seed);
}
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

/* x: an intercept and d - 1 standard normal features. */
static void draw_x(rng *r, int d, double *x)
{
    x[0] = 1;
    for (int i = 1; i < d; i++) x[i] = rng_normal(r);
}

static void test_recovers_a_noise_free_relation(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 1);
    const int d = 8;
    double w[8], x[8];
    for (int i = 0; i < d; i++) w[i] = rng_range(&r, -3, 3);
    learn_rls m;
    assert_int_equal(learn_rls_init(&m, d, 1.0, 1e6), 0);
    for (int n = 0; n < 50; n++) {
        draw_x(&r, d, x);
        double y = 0;
        for (int i = 0; i < d; i++) y += w[i] * x[i];
        learn_rls_update(&m, x, y);
    }
    for (int i = 0; i < d; i++) assert_near(m.w[i], w[i], 1e-6);
    assert_int_equal(m.n, 50);
    /* The prior error is that of the prediction before learning. */
    draw_x(&r, d, x);
    double y = 7, before = learn_rls_predict(&m, x);
    assert_near(learn_rls_update(&m, x, y), y - before, 1e-12);
}

/* With noise of sigma 0.5 and 20,000 records, least squares puts each weight within about
 * 0.5 / sqrt(20,000) = 0.0035 of the truth: 0.02 is over five standard errors. */
static void test_least_squares_under_noise(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 2);
    const int d = 5;
    const double w[5] = {1.5, -2, 0.25, 4, 0};
    double x[5];
    learn_rls m;
    assert_int_equal(learn_rls_init(&m, d, 1.0, 1e3), 0);
    double sse = 0;
    for (int n = 0; n < 20000; n++) {
        draw_x(&r, d, x);
        double y = 0.5 * rng_normal(&r);
        for (int i = 0; i < d; i++) y += w[i] * x[i];
        double e = learn_rls_update(&m, x, y);
        if (n >= 10000) sse += e * e;
    }
    for (int i = 0; i < d; i++) assert_near(m.w[i], w[i], 0.02);
    assert_near(sqrt(sse / 10000), 0.5, 0.03); /* prequential RMSE: the noise */
}

/* The relation flips halfway: lambda 0.99 (half-life ~69 records) has the new weights within a
 * few hundred records; lambda 1 still averages the two. */
static void test_forgetting_follows_a_change(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 3);
    const int d = 3;
    double x[3];
    learn_rls fast, never;
    assert_int_equal(learn_rls_init(&fast, d, 0.99, 1e3), 0);
    assert_int_equal(learn_rls_init(&never, d, 1.0, 1e3), 0);
    for (int n = 0; n < 4000; n++) {
        double sgn = n < 2000 ? 1 : -1;
        draw_x(&r, d, x);
        double y = sgn * (2 * x[1] - x[2]) + 0.1 * rng_normal(&r);
        learn_rls_update(&fast, x, y);
        learn_rls_update(&never, x, y);
    }
    assert_near(fast.w[1], -2, 0.1);
    assert_near(fast.w[2], 1, 0.1);
    assert_near(never.w[1], 0, 0.2); /* half of each */
}

/* Constant inputs excite one direction only: with forgetting, P grows along the others every
 * record; its diagonal stays at most p_max and the first varied record after 100,000 constant
 * ones moves the weights by a bounded step. */
static void test_wind_up_is_bounded(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 4);
    const int d = 4;
    double x[4];
    learn_rls m;
    assert_int_equal(learn_rls_init(&m, d, 0.98, 10), 0);
    for (int n = 0; n < 500; n++) {
        draw_x(&r, d, x);
        learn_rls_update(&m, x, x[1] + 1);
    }
    const double c[4] = {1, 0, 0, 0};
    for (int n = 0; n < 100000; n++) learn_rls_update(&m, c, 1);
    for (int i = 0; i < d; i++) {
        assert_true(m.P[i][i] <= m.p_max * (1 + 1e-12));
        assert_true(isfinite(m.w[i]));
    }
    draw_x(&r, d, x);
    learn_rls_update(&m, x, x[1] + 1);
    for (int i = 0; i < d; i++) assert_true(fabs(m.w[i]) < 10);
}

static void test_bad_input(void **state)
{
    (void)state;
    learn_rls m;
    assert_int_equal(learn_rls_init(&m, 0, 1, 1), -1);
    assert_int_equal(learn_rls_init(&m, LEARN_RLS_MAXD + 1, 1, 1), -1);
    assert_int_equal(learn_rls_init(&m, 2, 0, 1), -1);
    assert_int_equal(learn_rls_init(&m, 2, 1.01, 1), -1);
    assert_int_equal(learn_rls_init(&m, 2, 1, 0), -1);
    assert_int_equal(learn_rls_init(&m, 2, 1, INFINITY), -1);
    assert_int_equal(learn_rls_init(&m, 2, 1, 100), 0);
    const double nan_x[2] = {1, NAN}, x[2] = {1, 2};
    assert_true(isnan(learn_rls_update(&m, nan_x, 1)));
    assert_true(isnan(learn_rls_update(&m, x, INFINITY)));
    assert_int_equal(m.n, 0); /* not learned */
    assert_near(m.w[0], 0, 0);
}

/* A byte copy of the state continues exactly as the original. */
static void test_state_is_plain_data(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, seed, 5);
    const int d = 6;
    double x[6];
    learn_rls a;
    assert_int_equal(learn_rls_init(&a, d, 0.995, 1e3), 0);
    for (int n = 0; n < 300; n++) {
        draw_x(&r, d, x);
        learn_rls_update(&a, x, x[2] * 3 + rng_normal(&r));
    }
    unsigned char bytes[sizeof a];
    memcpy(bytes, &a, sizeof a);
    learn_rls b;
    memcpy(&b, bytes, sizeof b);
    for (int n = 0; n < 300; n++) {
        draw_x(&r, d, x);
        double y = x[2] * 3 + rng_normal(&r);
        double ea = learn_rls_update(&a, x, y), eb = learn_rls_update(&b, x, y);
        if (memcmp(&ea, &eb, sizeof ea)) fail_msg("the copy diverged at record %d", n);
    }
    assert_memory_equal(&a, &b, sizeof a);
}

int main(void)
{
    seed = test_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recovers_a_noise_free_relation),
        cmocka_unit_test(test_least_squares_under_noise),
        cmocka_unit_test(test_forgetting_follows_a_change),
        cmocka_unit_test(test_wind_up_is_bounded),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_state_is_plain_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
