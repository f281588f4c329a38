/* Unit tests of report_hist: bin values and edges agree with dw_agg_bin (every value falls
 * within its bin's edges and within 1 % of its value), quantiles as dw.hist_quantiles reads
 * them, and the linear bins: a log bin's count spread in proportion to the overlap, nothing
 * lost (inside + outside = total), and a log bin wider than a linear bin leaves no empty
 * linear bins between its neighbours. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dw_agg.h"
#include "report_hist.h"

static void test_values_and_edges(void **state)
{
    (void)state;
    assert_true(report_hist_value(0) == 0);
    assert_true(fabs(report_hist_value(1) - 1e-3 * sqrt(1.02)) < 1e-15);
    assert_true(report_hist_value(-5) == -report_hist_value(5));
    double lo, hi;
    report_hist_edges(1, &lo, &hi);
    assert_true(lo == 0 && fabs(hi - 1.02e-3) < 1e-15);
    /* Every value lies within its bin's edges and within 1 % of the bin's value. */
    for (double v = 2e-3; v < 2000; v *= 1.0137) {
        for (int sign = -1; sign <= 1; sign += 2) {
            double x = sign * v;
            int b = dw_agg_bin(x);
            report_hist_edges(b, &lo, &hi);
            /* (to rounding: dw_agg_bin takes a logarithm, the edges a power) */
            if (!(x >= lo - 1e-12 * fabs(lo) && x <= hi + 1e-12 * fabs(hi)))
                fail_msg("%g outside bin %d [%g, %g)", x, b, lo, hi);
            assert_true(fabs(report_hist_value(b) / x - 1) <= 0.0101);
        }
    }
}

static void test_quantile(void **state)
{
    (void)state;
    report_hist_bin h[] = {{-3, 1}, {10, 4}, {20, 4}, {30, 1}};
    assert_true(report_hist_quantile(h, 4, 0.1) == report_hist_value(-3));
    assert_true(report_hist_quantile(h, 4, 0.11) == report_hist_value(10));
    assert_true(report_hist_quantile(h, 4, 0.5) == report_hist_value(10));
    assert_true(report_hist_quantile(h, 4, 0.51) == report_hist_value(20));
    assert_true(report_hist_quantile(h, 4, 0.9) == report_hist_value(20));
    assert_true(report_hist_quantile(h, 4, 0.99) == report_hist_value(30));
    assert_true(isnan(report_hist_quantile(h, 0, 0.5)));
}

static void test_linear(void **state)
{
    (void)state;
    /* One log bin [lo, hi) over linear bins of a third of its width, starting at its lo: each
     * gets a third. */
    double lo, hi, out[6] = {0}, outside = 0;
    report_hist_edges(400, &lo, &hi);
    report_hist_bin b = {400, 300};
    report_hist_linear(&b, 1, lo, (hi - lo) / 3, out, 6, &outside);
    for (int k = 0; k < 3; k++) assert_true(fabs(out[k] - 100) < 1e-9);
    for (int k = 3; k < 6; k++) assert_true(out[k] == 0);
    assert_true(fabs(outside) < 1e-9);
    /* Half of it below the range: half outside. */
    double out2[4] = {0};
    outside = 0;
    report_hist_linear(&b, 1, (lo + hi) / 2, (hi - lo) / 2, out2, 4, &outside);
    assert_true(fabs(out2[0] - 150) < 1e-9 && fabs(outside - 150) < 1e-9);
    /* Entirely beyond it: all outside. */
    outside = 0;
    double out3[2] = {0};
    report_hist_linear(&b, 1, hi * 2, 1, out3, 2, &outside);
    assert_true(out3[0] == 0 && out3[1] == 0 && outside == 300);
    /* A run of consecutive log bins of 100 each over 60 linear bins: nothing lost, and no empty
     * linear bin inside the covered range (each log bin wider than a linear bin). */
    report_hist_bin run[20];
    for (int i = 0; i < 20; i++) run[i] = (report_hist_bin){500 + i, 100};
    double a0, a1, z0, z1, lin[60] = {0};
    report_hist_edges(500, &a0, &a1);
    report_hist_edges(519, &z0, &z1);
    outside = 0;
    report_hist_linear(run, 20, a0, (z1 - a0) / 60, lin, 60, &outside);
    double total = outside;
    for (int k = 0; k < 60; k++) {
        assert_true(lin[k] > 0);
        total += lin[k];
    }
    assert_true(fabs(total - 2000) < 1e-6);
    assert_true(fabs(outside) < 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_edges),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
