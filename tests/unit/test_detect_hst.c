/* Unit tests for detect_hst: the trees derived
 * from the seed (same seed, same trees), the channel quantiles converging on a known
 * distribution, idle points left out, the window swap (every level of the reference holds the
 * window's points), a joint break of three correlated channels that no channel shows alone, an
 * axis moving while the others rest (the z ceiling), the sustained levels, and the state as
 * plain data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "detect_hst.h"
#include "normal.h"
#include "rng.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

typedef struct feed {
    detect_hst_state s;
    detect_hst_cfg c;
    int nch;
    int64_t n;
    rng r;
} feed;

static void feed_init(feed *f, int nch)
{
    memset(f, 0, sizeof *f);
    detect_hst_cfg_default(&f->c);
    f->nch = nch;
    detect_hst_init(&f->s, &f->c, nch);
    rng_seed(&f->r, 99, 1);
}

static void feed_step(feed *f, const double *x, detect_out *o)
{
    int idle = 1;
    for (int i = 0; i < f->nch; i++)
        idle &= x[i] == 0;
    detect_ctx ctx = {.nch = f->nch,
                      .ts_us = f->n * 2000000,
                      .n = f->n,
                      .dt_s = 2,
                      .median_dt_s = 2,
                      .idle = idle,
                      .run_start_us = idle ? 0 : 1};
    detect_hst_step(&f->s, &f->c, &ctx, x, o);
    f->n++;
}

/* Three channels that move together: a common level in 1..11 plus 2 % noise each. */
static void normal_point(feed *f, double *x)
{
    double a = 1 + 10 * rng_uniform(&f->r);
    for (int i = 0; i < 3; i++)
        x[i] = a * (1 + 0.02 * rng_normal(&f->r));
}

static void test_trees_from_seed(void **state)
{
    (void)state;
    detect_hst_cfg a, b;
    detect_hst_cfg_default(&a);
    detect_hst_cfg_default(&b);
    assert_memory_equal(&a, &b, sizeof a);
    detect_hst_cfg_seed(&b, 12345);
    assert_true(memcmp(a.dim, b.dim, sizeof a.dim) != 0);
    detect_hst_cfg_seed(&b, a.seed);
    assert_memory_equal(&a, &b, sizeof a);
    /* Workspace centres are in [0, 1]. */
    for (int t = 0; t < DETECT_HST_MAX_TREES; t++)
        for (int q = 0; q < DETECT_MAX_CH; q++)
            assert_true(a.shift[t][q] >= 0 && a.shift[t][q] <= 1);
}

static void test_quantiles_converge(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 1);
    detect_out o;
    /* Uniform on 10..110; the knots wander by about 1 % of the spread, so average them over
     * the last 10,000 points. */
    double avg[DETECT_HST_NQ] = {0}, mad = 0;
    for (int i = 0; i < 50000; i++) {
        double x = 10 + 100 * rng_uniform(&f.r);
        feed_step(&f, &x, &o);
        if (i >= 40000) {
            for (int j = 0; j < DETECT_HST_NQ; j++)
                avg[j] += f.s.q[0][j] / 10000;
            mad += f.s.mad[0] / 10000;
        }
    }
    static const double want[] = {15, 35, 60, 85, 105};
    for (int j = 0; j < DETECT_HST_NQ; j++)
        assert_near(avg[j], want[j], 1.5);
    /* Mean absolute deviation of a uniform of width 100 from its median: 25. */
    assert_near(mad, 25, 1);
}

static void test_idle_is_left_out(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3);
    detect_out o;
    double zero[3] = {0, 0, 0};
    for (int i = 0; i < 100; i++) {
        feed_step(&f, zero, &o);
        assert_near(o.multi_z, 0, 0);
        assert_int_equal(o.multi_level, DETECT_NONE);
    }
    assert_int_equal(f.s.nrun, 0);
    assert_int_equal(f.s.lat[0][1], 0);
}

static void test_window_swap(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3);
    detect_out o;
    double x[3];
    for (int i = 0; i < f.c.window + 10; i++) {
        normal_point(&f, x);
        feed_step(&f, x, &o);
    }
    assert_int_equal(f.s.have_ref, 1);
    assert_int_equal(f.s.nwin, 10);
    for (int t = 0; t < f.c.trees; t++) {
        assert_int_equal(f.s.lat[t][1], 10);
        /* Every level of the reference splits the window's 250 points among its nodes. */
        for (int d = 0; d <= f.c.depth; d++) {
            int sum = 0;
            for (int k = 1 << d; k < 2 << d; k++)
                sum += f.s.ref[t][k];
            assert_int_equal(sum, f.c.window);
        }
    }
}

/* Warms f up on normal points; returns the share of the last 2,000 with z >= 2. */
static double warm(feed *f, int n)
{
    detect_out o;
    double x[3];
    int high = 0;
    for (int i = 0; i < n; i++) {
        normal_point(f, x);
        feed_step(f, x, &o);
        if (i >= n - 2000 && o.multi_z >= 2) high++;
    }
    return high / 2000.0;
}

static void test_joint_break(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3);
    double high = warm(&f, 6000);
    assert_true(high < 0.05); /* calibrated: 2.3 % one-sided at 2 sigma, fewer with ties */
    /* Each value is ordinary for its channel (all three span 1..11), the combination is not.
     * At depth 6 the trees cut each channel only once or twice, so a break of the diagonal
     * shows as an uncommon mass (beyond 2 sigma), not as an empty box. */
    detect_out o;
    double x[3] = {10, 1.5, 10};
    feed_step(&f, x, &o);
    assert_true(o.multi_z >= 2);
    assert_int_equal(o.level[0], DETECT_NONE);
    assert_near(o.z[0], 0, 0);
}

static void test_axis_moving_alone(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3);
    warm(&f, 6000);
    detect_out o;
    double x[3] = {0, 6, 0}; /* not idle: one axis moves while two rest */
    feed_step(&f, x, &o);
    /* No earlier point had a mass that low: z is the ceiling. */
    assert_near(o.multi_z, -normal_quantile(0.1 / f.s.hist_w), 1e-3);
    assert_true(o.multi_z > 4);
}

static void test_levels(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3);
    warm(&f, 20000); /* the histogram's memory is full: weight about 12,800 */
    /* Stay clear of a window swap, which would move the reference under the test. */
    while (f.s.nwin > f.c.window - 10 || f.s.nwin < 2)
        warm(&f, 1);
    detect_out o;
    /* An axis moving alone: beyond 3.5, ERROR from the second point in a row. */
    double x[3] = {0, 6, 0};
    for (int i = 1; i <= 4; i++) {
        feed_step(&f, x, &o);
        assert_true(o.multi_z >= 3.5);
        assert_int_equal(o.multi_level, i < 2 ? DETECT_NONE : DETECT_ERROR);
    }
    double y[3];
    normal_point(&f, y);
    feed_step(&f, y, &o);
    assert_int_equal(o.multi_level, DETECT_NONE);
    /* The diagonal broken: beyond 2 but not 3.5, ALERT from the fourth point in a row. */
    double b[3] = {10, 1.5, 10};
    for (int i = 1; i <= 5; i++) {
        feed_step(&f, b, &o);
        assert_true(o.multi_z >= 2 && o.multi_z < 3.5);
        assert_int_equal(o.multi_level, i < 4 ? DETECT_NONE : DETECT_ALERT);
    }
}

static void test_state_is_plain_data(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3);
    warm(&f, 3000);
    feed g = f;
    for (int i = 0; i < 600; i++) {
        double x[3];
        normal_point(&f, x);
        detect_out a, b;
        feed_step(&f, x, &a);
        feed_step(&g, x, &b);
        assert_memory_equal(&a, &b, sizeof a);
    }
    assert_memory_equal(&f.s, &g.s, sizeof f.s);
    assert_true(sizeof(detect_hst_state) < 5.5 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trees_from_seed),
        cmocka_unit_test(test_quantiles_converge),
        cmocka_unit_test(test_idle_is_left_out),
        cmocka_unit_test(test_window_swap),
        cmocka_unit_test(test_joint_break),
        cmocka_unit_test(test_axis_moving_alone),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_state_is_plain_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
