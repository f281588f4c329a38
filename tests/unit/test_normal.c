/* Unit tests for normal: normal_quantile against tabulated quantiles of the standard normal,
 * its symmetry, monotony and continuity where Acklam's formulas meet, and its ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>

#include <cmocka.h>

#include "normal.h"

#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

static void test_tabulated_quantiles(void **state)
{
    (void)state;
    assert_near(normal_quantile(0.5), 0, 1e-9);
    assert_near(normal_quantile(0.975), 1.959963984540054, 1e-8);
    assert_near(normal_quantile(0.025), -1.959963984540054, 1e-8);
    assert_near(normal_quantile(0.001), -3.090232306167813, 1e-8);
    assert_near(normal_quantile(1e-5), -4.264890793922825, 1e-7);
    assert_near(normal_quantile(0.8413447460685429), 1, 1e-8);
}

static void test_values_symmetry_and_joins(void **state)
{
    (void)state;
    assert_near(normal_quantile(0.5), 0, 1e-12);
    assert_near(normal_quantile(0.975), 1.959964, 1e-6);
    assert_near(normal_quantile(0.001), -3.090232, 1e-6);
    assert_near(normal_quantile(0.01), -2.326348, 1e-6); /* the lower tail formula */
    assert_near(normal_quantile(0.84134474606854293), 1, 1e-8);
    assert_near(normal_quantile(1e-9), -5.997807, 1e-5);
    for (double p = 0.0005; p < 0.5; p += 0.0123) {
        assert_near(normal_quantile(1 - p), -normal_quantile(p), 1e-8);
        assert_true(normal_quantile(p) < normal_quantile(p + 0.001)); /* increasing */
    }
    /* Continuous where the formulas meet (0.02425 and 1 - 0.02425). */
    assert_near(normal_quantile(0.02425 - 1e-12), normal_quantile(0.02425 + 1e-12), 1e-8);
    assert_near(normal_quantile(0.97575 - 1e-12), normal_quantile(0.97575 + 1e-12), 1e-8);
}

static void test_ends(void **state)
{
    (void)state;
    assert_true(normal_quantile(0) == -INFINITY);
    assert_true(normal_quantile(-1) == -INFINITY);
    assert_true(normal_quantile(1) == INFINITY);
    assert_true(normal_quantile(NAN) == -INFINITY);
    assert_near(normal_quantile(1 - 1e-12), 7.034484, 1e-5); /* log1p keeps the upper tail exact */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tabulated_quantiles),
        cmocka_unit_test(test_values_symmetry_and_joins),
        cmocka_unit_test(test_ends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
