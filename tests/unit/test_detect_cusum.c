/* Unit tests for detect_cusum: the first point and the warm-up, a hand-computed level shift
 * (ALERT on the 7th shifted point, ERROR on the 15th, then the level re-learnt from the
 * shifted segment), the same downwards, the spread CUSUM, idle, late and duplicate points
 * leaving the state alone, and the false-alarm rate on Gaussian noise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "detect_cusum.h"
#include "rng.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

/* One point of one channel at time step i (1 s apart). */
static void step1(detect_cusum_state *s, const detect_cusum_cfg *c, int64_t i, double x,
                  detect_out *o)
{
    detect_ctx ctx = {.nch = 1, .ts_us = i * 1000000, .n = i, .dt_s = i ? 1.0 : 0.0,
                      .median_dt_s = 1.0};
    ctx.idle = x == 0;
    detect_cusum_step(s, c, &ctx, &x, o);
}

static void test_first_point(void **state)
{
    (void)state;
    detect_cusum_cfg c;
    detect_cusum_cfg_default(&c);
    detect_cusum_state s;
    detect_cusum_init(&s, &c, 1);
    detect_out o;
    step1(&s, &c, 0, 42.0, &o);
    assert_near(o.z[0], 0, 0);
    assert_int_equal(o.level[0], DETECT_NONE);
    assert_near(s.ch[0].m, 42.0, 0);
    assert_int_equal(s.ch[0].n, 1);
}

/* A jump far beyond the scale during the warm-up sets no level. */
static void test_warmup_is_quiet(void **state)
{
    (void)state;
    detect_cusum_cfg c;
    detect_cusum_cfg_default(&c);
    detect_cusum_state s;
    detect_cusum_init(&s, &c, 1);
    detect_out o;
    int64_t i = 0;
    for (; i < 20; i++) step1(&s, &c, i, 10.0, &o);
    for (; i < c.warmup; i++) {
        step1(&s, &c, i, 50.0, &o);
        assert_int_equal(o.level[0], DETECT_NONE);
    }
}

/* A constant 10 has a zero residual, so the scale is the floor rel_floor * m (0.01) and no
 * point exceeds: the exceedance rate pex is 0. A step to 10 + d (|d| >= 0.1: |r| above the
 * clip 2 however the level and scale move) adds clip - k = 1 a point to the level CUSUM (j on
 * the j-th shifted point) and 1 - pex - spread_k to the spread CUSUM; pex rises by
 * 0.01 (1 - pex) a point while the level CUSUM is below h / 2 = 8 (the first seven points)
 * and then waits with the level:
 *   sv = 0.75, 1.49, 2.2201, 2.940399, 3.65099501, 4.3519850599, 5.043465209301 on the 7th,
 *   then + 0.68206534790699 a point: 9.81792264465 on the 14th, 10.499987992557 on the 15th;
 * in units of h (times h / spread_h = 3.2) the spread CUSUM passes h = 16 (sv >= 5) on the 7th
 * shifted point and 2h (sv >= 10) on the 15th, long before the level CUSUM (16th and 32nd).
 * So ALERT from the 7th shifted point and ERROR on the 15th. The level moves by alpha e on
 * the first seven points only. After the ERROR the level is the mean of the shifted segment,
 * 10 + d, and the next shifted point is quiet. */
static void check_shift(double d)
{
    static const double sv_want[8] = {0, 0.75, 1.49, 2.2201, 2.940399, 3.65099501,
                                      4.3519850599, 5.043465209301};
    detect_cusum_cfg c;
    detect_cusum_cfg_default(&c);
    detect_cusum_state s;
    detect_cusum_init(&s, &c, 1);
    detect_out o;
    int64_t i = 0;
    for (; i < 200; i++) {
        step1(&s, &c, i, 10.0, &o);
        assert_int_equal(o.level[0], DETECT_NONE);
    }
    assert_near(s.ch[0].m, 10.0, 1e-12);
    double m = 10.0;
    for (int j = 1; j <= 15; j++, i++) {
        /* z = max(|r|, 3 cu / h): |r| against the level and scale before the point (the
         * scale: the floor, or the root of the squared residuals taken so far once above
         * it), cu the spread CUSUM in units of h (the level CUSUM, j, stays below it). */
        double sc = fmax(sqrt(s.ch[0].ms), c.rel_floor * s.ch[0].m);
        double r = fabs(10.0 + d - s.ch[0].m) / sc;
        double sv = j <= 7 ? sv_want[j] : sv_want[7] + (j - 7) * 0.68206534790699;
        double z = fmax(r, 3 * fmax(j, sv * c.h / c.spread_h) / c.h);
        step1(&s, &c, i, 10.0 + d, &o);
        int want = j >= 15 ? DETECT_ERROR : j >= 7 ? DETECT_ALERT : DETECT_NONE;
        if (o.level[0] != want) fail_msg("d %g, shifted point %d: level %d, want %d", d, j, o.level[0], want);
        assert_true(r > c.clip);
        assert_near(o.z[0], z, 1e-9 * z);
        if (j <= 7) assert_near(s.ch[0].sv, sv_want[j], 1e-9);
        if (j == 14) assert_near(s.ch[0].sv, 9.81792264465, 1e-9);
        if (j <= 7) m += c.alpha * (10.0 + d - m);
        if (j < 15) assert_near(s.ch[0].m, m, 1e-12);
    }
    assert_near(s.ch[0].m, 10.0 + d, 1e-12);
    assert_near(s.ch[0].sp + s.ch[0].sn + s.ch[0].sv, 0, 0);
    step1(&s, &c, i, 10.0 + d, &o);
    assert_int_equal(o.level[0], DETECT_NONE);
    assert_near(o.z[0], 0, 1e-9);
}

static void test_shift_up(void **state)
{
    (void)state;
    check_shift(0.1);
}

static void test_shift_down(void **state)
{
    (void)state;
    check_shift(-0.1);
}

/* Idle points (every channel 0), late and duplicate points leave the state as it was. */
static void test_idle_and_late_do_not_update(void **state)
{
    (void)state;
    detect_cusum_cfg c;
    detect_cusum_cfg_default(&c);
    detect_cusum_state s, before;
    detect_cusum_init(&s, &c, 2);
    detect_out o;
    double x[2];
    int64_t i = 0;
    for (; i < 150; i++) {
        x[0] = 5 + (i % 3);
        x[1] = 1 + (i % 2);
        detect_ctx ctx = {.nch = 2, .ts_us = i * 1000000, .n = i, .dt_s = i ? 1.0 : 0.0};
        detect_cusum_step(&s, &c, &ctx, x, &o);
    }
    memcpy(&before, &s, sizeof s);
    x[0] = x[1] = 0;
    detect_ctx idle = {.nch = 2, .ts_us = i * 1000000, .n = i, .dt_s = 1.0, .idle = 1};
    detect_cusum_step(&s, &c, &idle, x, &o);
    assert_memory_equal(&s, &before, sizeof s);
    assert_near(o.z[0] + o.z[1], 0, 0);
    assert_int_equal(o.level[0] + o.level[1], 0);

    x[0] = 500;
    x[1] = 1;
    detect_ctx late = {.nch = 2, .ts_us = (i - 5) * 1000000, .n = i, .dt_s = -5.0, .late = 1};
    detect_cusum_step(&s, &c, &late, x, &o);
    assert_memory_equal(&s, &before, sizeof s);
    assert_true(o.z[0] > 10); /* scored all the same */
    detect_ctx dup = {.nch = 2, .ts_us = (i - 1) * 1000000, .n = i, .dt_s = 0.0};
    detect_cusum_step(&s, &c, &dup, x, &o);
    assert_memory_equal(&s, &before, sizeof s);
}

/* The spread CUSUM: Gaussian noise of sigma 1, then of sigma 4 at the same level: the level
 * CUSUMs see residuals of both signs, the exceedances (|r| > 1.5: about 13 % of points
 * before, about 70 % after) build the spread CUSUM by about 0.3 a point, so an ALERT comes
 * within 40 points. */
static void test_spread(void **state)
{
    (void)state;
    detect_cusum_cfg c;
    detect_cusum_cfg_default(&c);
    detect_cusum_state s;
    detect_cusum_init(&s, &c, 1);
    detect_out o;
    rng r;
    rng_seed(&r, 7, 3);
    int64_t i = 0;
    for (; i < 1000; i++) step1(&s, &c, i, 100 + rng_normal(&r), &o);
    int first = -1;
    for (int j = 0; j < 40; j++, i++) {
        step1(&s, &c, i, 100 + 4 * rng_normal(&r), &o);
        if (o.level[0] && first < 0) first = j;
    }
    if (first < 0) fail_msg("no level within 40 points of noise 4 times wider");
}

/* Gaussian noise: a two-sided CUSUM with k = 1, h = 16 on clipped residuals has an
 * in-control run length far beyond millions, so 200,000 points give next to no level. */
static void test_quiet_on_noise(void **state)
{
    (void)state;
    detect_cusum_cfg c;
    detect_cusum_cfg_default(&c);
    detect_cusum_state s;
    detect_cusum_init(&s, &c, 1);
    detect_out o;
    rng r;
    rng_seed(&r, 11, 5);
    int onsets = 0, prev = 0;
    for (int64_t i = 0; i < 200000; i++) {
        step1(&s, &c, i, 50 + 2 * rng_normal(&r), &o);
        if (o.level[0] && !prev) onsets++;
        prev = o.level[0];
    }
    if (onsets > 3) fail_msg("%d alarms on 200,000 points of noise", onsets);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_point),
        cmocka_unit_test(test_warmup_is_quiet),
        cmocka_unit_test(test_shift_up),
        cmocka_unit_test(test_shift_down),
        cmocka_unit_test(test_idle_and_late_do_not_update),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_quiet_on_noise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
