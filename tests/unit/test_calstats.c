/* Unit tests for calstats: quantiles and sorting, and the statistics of small series computed
 * by hand (population std, idle share, non-zero quantiles interpolated as numpy does, lag-1
 * autocorrelation as the Pearson correlation of x[:-1] with x[1:], as pandas' autocorr). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "calstats.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

#define EPS 1e-12

static void test_quantile(void **state)
{
    (void)state;
    const double v[] = {1, 2, 3, 4};
    assert_near(calstats_quantile(v, 4, 0), 1, EPS);
    assert_near(calstats_quantile(v, 4, 1), 4, EPS);
    assert_near(calstats_quantile(v, 4, 0.5), 2.5, EPS);   /* pos 1.5 */
    assert_near(calstats_quantile(v, 4, 0.9), 3.7, EPS);   /* pos 2.7 */
    assert_near(calstats_quantile(v, 4, 0.25), 1.75, EPS); /* pos 0.75 */
    const double w[] = {0.5, 0.5, 10};
    assert_near(calstats_quantile(w, 3, 0.5), 0.5, EPS);
    assert_near(calstats_quantile(w, 3, 0.99), 0.5 + 0.98 * 9.5, EPS); /* pos 1.98 */
    const double one = 7;
    assert_near(calstats_quantile(&one, 1, 0.5), 7, EPS);
    assert_near(calstats_quantile(&one, 1, 1), 7, EPS);
    assert_near(calstats_quantile(NULL, 0, 0.5), 0, EPS);
}

static void test_sort(void **state)
{
    (void)state;
    double v[] = {3, -1, 2.5, 0, 3, -7.25, 1e9, 0};
    const double want[] = {-7.25, -1, 0, 0, 2.5, 3, 3, 1e9};
    calstats_sort(v, 8);
    for (int i = 0; i < 8; i++)
        assert_near(v[i], want[i], 0);
    calstats_sort(v, 0); /* nothing to do, no crash */
}

static reading row(double a1, double a2)
{
    reading r;
    memset(&r, 0, sizeof r);
    r.robot_id = 1;
    r.axis[0] = a1;
    r.axis[1] = a2;
    return r;
}

static void test_small_series(void **state)
{
    (void)state;
    /* axis1 0 2 0 4 6, axis2 0 1 0 0 3, the others 0: rows 0 and 2 are idle. */
    reading rows[5] = {row(0, 0), row(2, 1), row(0, 0), row(4, 0), row(6, 3)};
    for (int i = 0; i < 5; i++)
        rows[i].ts_us = i * 2000000;
    calstats s;
    calstats_compute(rows, 5, &s);
    assert_int_equal(s.rows, 5);
    assert_near(s.idle_fraction, 0.4, EPS);

    /* axis1: mean 12/5; population variance 56/5 - 2.4^2 = 5.44; non-zero {2, 4, 6}. */
    assert_near(s.mean[0], 2.4, EPS);
    assert_near(s.std[0], sqrt(5.44), EPS);
    assert_near(s.nz_p50[0], 4, EPS);
    assert_near(s.nz_p90[0], 5.6, EPS);  /* pos 1.8 */
    assert_near(s.nz_p99[0], 5.96, EPS); /* pos 1.98 */
    /* x[:-1] = 0 2 0 4 (mean 1.5), x[1:] = 2 0 4 6 (mean 3): sxy 6, sxx 11, syy 20. */
    assert_near(s.lag1[0], 6 / sqrt(11.0 * 20.0), EPS);
    assert_near(s.lag1[0], 0.40451991747794525, 1e-12);

    /* axis2: mean 0.8; variance 2 - 0.64 = 1.36; non-zero {1, 3}; sxy -1, sxx 0.75, syy 6. */
    assert_near(s.mean[1], 0.8, EPS);
    assert_near(s.std[1], sqrt(1.36), EPS);
    assert_near(s.nz_p50[1], 2, EPS);
    assert_near(s.nz_p90[1], 2.8, EPS);
    assert_near(s.nz_p99[1], 2.98, EPS);
    assert_near(s.lag1[1], -0.47140452079103173, 1e-12);

    /* An axis that is always 0: everything 0 (the autocorrelation of a constant is taken as 0). */
    for (int a = 2; a < READING_AXES; a++) {
        assert_near(s.mean[a], 0, 0);
        assert_near(s.std[a], 0, 0);
        assert_near(s.nz_p50[a], 0, 0);
        assert_near(s.nz_p99[a], 0, 0);
        assert_near(s.lag1[a], 0, 0);
    }
}

/* Rows by how many axes are non-zero, and where the rows with one or two sit. */
static reading row_k(int k)
{
    reading r;
    memset(&r, 0, sizeof r);
    r.robot_id = 1;
    for (int a = READING_AXES - k; a < READING_AXES; a++) r.axis[a] = 0.5; /* the last k axes */
    return r;
}

static void test_nonzero_classes(void **state)
{
    (void)state;
    /* 0 1 8 8 2 0 | 0 2 0 | 3 1 | 1 0: the 1 at index 1 precedes an 8, the 2 at 4 follows an 8,
     * the 2 at 7 and the 1 at 12 have no running neighbour, the 1 at 11 follows a 3 (running). */
    const int k[] = {0, 1, 8, 8, 2, 0, 0, 2, 0, 3, 1, 1, 0};
    enum { N = sizeof k / sizeof k[0] };
    reading rows[N];
    for (int i = 0; i < N; i++) {
        rows[i] = row_k(k[i]);
        rows[i].ts_us = i * 1000000;
    }
    calstats s;
    calstats_compute(rows, N, &s);
    assert_near(s.nz_share[0], 5.0 / N, EPS);
    assert_near(s.nz_share[1], 3.0 / N, EPS);
    assert_near(s.nz_share[2], 2.0 / N, EPS);
    assert_near(s.nz_share[3], 1.0 / N, EPS);
    assert_near(s.nz_share[8], 2.0 / N, EPS);
    for (int c = 4; c < 8; c++) assert_near(s.nz_share[c], 0, 0);
    assert_near(s.idle_fraction, s.nz_share[0], 0);
    assert_int_equal(s.few_rows, 5);
    assert_int_equal(s.few_by_run, 3);
    /* Ends of the series: a 1 first and a 2 last, each beside a running row. */
    const int e[] = {1, 5, 0, 7, 2};
    for (int i = 0; i < 5; i++) rows[i] = row_k(e[i]);
    calstats_compute(rows, 5, &s);
    assert_int_equal(s.few_rows, 2);
    assert_int_equal(s.few_by_run, 2);
}

static void test_autocorrelation_extremes(void **state)
{
    (void)state;
    enum { N = 100 };
    reading rows[N];
    /* A ramp: x[1:] is x[:-1] plus 1, correlation exactly 1. Alternating 1, 3: -1. */
    for (int i = 0; i < N; i++)
        rows[i] = row(i + 1, i % 2 ? 3 : 1);
    calstats s;
    calstats_compute(rows, N, &s);
    assert_near(s.lag1[0], 1, 1e-12);
    assert_near(s.lag1[1], -1, 1e-12);
    assert_near(s.idle_fraction, 0, 0);
    assert_near(s.mean[0], 50.5, EPS);
    assert_near(s.std[0], sqrt((N * N - 1) / 12.0), 1e-9); /* of 1..N */
    assert_near(s.mean[1], 2, EPS);
    assert_near(s.std[1], 1, EPS);
    assert_near(s.nz_p50[0], 50.5, EPS);
    assert_near(s.nz_p90[0], 90.1, 1e-9); /* pos 89.1 */
    assert_near(s.nz_p50[1], 2, EPS);     /* 50 ones, 50 threes */

    /* All idle: idle share 1, no non-zero values. */
    for (int i = 0; i < N; i++)
        rows[i] = row(0, 0);
    calstats_compute(rows, N, &s);
    assert_near(s.idle_fraction, 1, 0);
    assert_near(s.nz_p90[0], 0, 0);
    assert_near(s.lag1[0], 0, 0);

    /* Fewer than two rows: only the count. */
    rows[0] = row(5, 5);
    calstats_compute(rows, 1, &s);
    assert_int_equal(s.rows, 1);
    assert_near(s.mean[0], 0, 0);
    assert_near(s.idle_fraction, 0, 0);
}

/* Negative values count as non-zero and the mean and std see them. */
static void test_negative_values(void **state)
{
    (void)state;
    reading rows[4] = {row(-2, 0), row(2, 0), row(-2, 0), row(2, 0)};
    calstats s;
    calstats_compute(rows, 4, &s);
    assert_near(s.mean[0], 0, EPS);
    assert_near(s.std[0], 2, EPS);
    assert_near(s.nz_p50[0], 0, EPS); /* between -2 and 2 */
    assert_near(s.nz_p90[0], 2, EPS);
    assert_near(s.lag1[0], -1, 1e-12);
    assert_near(s.idle_fraction, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantile),        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_small_series),    cmocka_unit_test(test_autocorrelation_extremes),
        cmocka_unit_test(test_negative_values), cmocka_unit_test(test_nonzero_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
