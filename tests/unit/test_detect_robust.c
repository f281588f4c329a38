/* Unit tests for detect_robust: the tail-aware scale on a hand-set estimate, the streaming
 * quantiles converging on a known distribution, the bounded step of an outlier, the warm-up,
 * the level rules (ERROR on one point, ALERT only when sustained, the reset), the faster
 * learning of a lasting new level, and the duty states: a value at rest measured in the
 * channel's running scale, a key of one channel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "detect_robust.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

#define PROBIT_999 3.090232306167813 /* Phi^-1(0.999), the default tail_q 0.001 */

static void step(detect_robust_state *s, const detect_robust_cfg *c, int nch, const double *x,
                 detect_out *o)
{
    detect_ctx ctx = {.nch = nch};
    detect_robust_step(s, c, &ctx, x, o);
}

/* A warm estimate: median 10, MAD 1, q999 at 10 + 2 PROBIT_999 (so s_up = 2), q001 at 9. */
static void set_est(detect_robust_est *e, int64_t n)
{
    e->med = 10;
    e->mad = 1;
    e->hi = 10 + 2 * PROBIT_999;
    e->lo = 9;
    e->n = n;
}

static void test_scale_covers_the_tail(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_est e;
    set_est(&e, 5000);
    /* Above: max(1.4826 * 1, (hi - med) / probit) = 2. Below: max(1.4826, 1 / probit) = 1.4826. */
    assert_near(detect_robust_scale(&e, &c, 1), 2.0, 1e-8);
    assert_near(detect_robust_scale(&e, &c, 0), 1.4826, 1e-12);
    /* Another tail: tail_q 0.01, Phi^-1(0.99) = 2.3263478740408408. */
    c.tail_q = 0.01;
    assert_near(detect_robust_scale(&e, &c, 1), 2 * PROBIT_999 / 2.3263478740408408, 1e-8);
    /* All zeros (a channel at rest): the floor, 1e-6. */
    detect_robust_est z = {0};
    z.n = 100;
    assert_near(detect_robust_scale(&z, &c, 1), 1e-6, 1e-18);
    /* rel_floor: 1 % of |median| when that is larger. */
    z.med = -50;
    z.hi = z.lo = -50;
    assert_near(detect_robust_scale(&z, &c, 0), 0.5, 1e-12);
}

static void test_quantiles_converge(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_state s;
    detect_robust_init(&s, &c, 1);
    detect_out o;
    /* Uniform on [0, 100): 0, 0.1, ..., 99.9 in a scrambled but fixed order (stride 617 is
     * prime to 1000), 50 rounds. Median 50, MAD 25, q999 99.9, q001 0.1. */
    for (int r = 0; r < 50; r++)
        for (int k = 0; k < 1000; k++) {
            double v = (double)((k * 617 + r * 31) % 1000) / 10;
            step(&s, &c, 1, &v, &o);
        }
    const detect_robust_est *e = &s.est[DETECT_ROBUST_RUNNING][0];
    assert_int_equal(e->n, 50000);
    assert_near(e->med, 50, 1.5);
    assert_near(e->mad, 25, 1.5);
    assert_near(e->hi, 99.9, 1.0);
    assert_near(e->lo, 0.1, 1.0);
    /* The rest state never saw a point (one channel always runs). */
    assert_int_equal(s.est[DETECT_ROBUST_REST][0].n, 0);
}

static void test_outlier_moves_estimates_one_step(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_state s;
    detect_robust_init(&s, &c, 1);
    detect_robust_est *e = &s.est[DETECT_ROBUST_RUNNING][0];
    set_est(e, 5000);
    detect_out o;
    double v = 1e12;
    step(&s, &c, 1, &v, &o);
    /* Step = lr * 1.4826 MAD = 0.014826: the median moves up half of it, the MAD too; then
     * the tails, with the scales of the moved median and MAD: q999 up by (1 - tail_q) lr s_up,
     * s_up = (hi - med) / probit = 2 - 0.007413 / probit; q001 up by tail_q lr s_down,
     * s_down = 1.4826 * 1.007413. */
    assert_near(e->med, 10 + 0.007413, 1e-12);
    assert_near(e->mad, 1 + 0.007413, 1e-12);
    assert_near(e->hi, 10 + 2 * PROBIT_999 + 0.999 * 0.01 * (2 - 0.007413 / PROBIT_999), 1e-9);
    assert_near(e->lo, 9 + 0.001 * 0.01 * 1.4826 * 1.007413, 1e-12);
    assert_int_equal(o.level[0], DETECT_ERROR);
    assert_near(o.z[0] / ((1e12 - 10) / 2), 1, 1e-9);
}

static void test_levels(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_state s;
    detect_robust_init(&s, &c, 1);
    detect_robust_est *e = &s.est[DETECT_ROBUST_RUNNING][0];
    detect_out o;

    /* Not warm (399 < 400 points): nothing, however far. */
    set_est(e, 399);
    double v = 1000;
    step(&s, &c, 1, &v, &o);
    assert_int_equal(o.level[0], DETECT_NONE);
    assert_near(o.z[0], (1000 - 10) / 2.0, 1e-6);

    /* z 4.75 (>= error_z 4.5): ERROR on one point. */
    set_est(e, 5000);
    v = 19.5;
    step(&s, &c, 1, &v, &o);
    assert_int_equal(o.level[0], DETECT_ERROR);
    assert_near(o.z[0], 4.75, 1e-8);

    /* z about 4 (alert_z 3.5 .. error_z 4.5): ALERT from the 3rd point in a row on (the ERROR
     * before already counted as one: start afresh with a normal point). */
    v = 12;
    step(&s, &c, 1, &v, &o);
    assert_int_equal(o.level[0], DETECT_NONE);
    for (int k = 1; k <= 4; k++) {
        set_est(e, 5000);
        v = 18;
        step(&s, &c, 1, &v, &o);
        assert_near(o.z[0], 4, 1e-8);
        assert_int_equal(o.level[0], k < 3 ? DETECT_NONE : DETECT_ALERT);
    }
    /* Below the median: its own scale, 1.4826: 10 - 4.8 * 1.4826 is z 4.8: ERROR. */
    set_est(e, 5000);
    v = 10 - 4.8 * 1.4826;
    step(&s, &c, 1, &v, &o);
    assert_int_equal(o.level[0], DETECT_ERROR);
    assert_near(o.z[0], 4.8, 1e-8);
    /* A normal point ends the run: two high points then are not enough. */
    v = 10.5;
    step(&s, &c, 1, &v, &o);
    for (int k = 1; k <= 2; k++) {
        set_est(e, 5000);
        v = 18;
        step(&s, &c, 1, &v, &o);
        assert_int_equal(o.level[0], DETECT_NONE);
    }
}

static void test_new_level_is_learnt_faster(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_state s;
    detect_robust_init(&s, &c, 1);
    detect_robust_est *e = &s.est[DETECT_ROBUST_RUNNING][0];
    detect_out o;
    /* z 4 point after point (the estimate reset each time, so only the step is seen): the
     * median steps lr * 1.4826 / 2 = 0.007413 up to the 29th, ten times that from the 30th
     * (relearn_after 30). */
    for (int k = 1; k <= 31; k++) {
        set_est(e, 5000);
        double v = 18;
        step(&s, &c, 1, &v, &o);
        assert_int_equal(o.level[0], k >= 3 ? DETECT_ALERT : DETECT_NONE);
        assert_near(e->med, k < 30 ? 10.007413 : 10.07413, 1e-12);
    }
    /* Off: never faster. */
    c.relearn_after = 0;
    set_est(e, 5000);
    double v = 18;
    step(&s, &c, 1, &v, &o);
    assert_near(e->med, 10.007413, 1e-12);
}

static void test_rest_state_uses_running_scale(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_state s;
    detect_robust_init(&s, &c, 3);
    detect_out o;
    /* Channel 0 running: s_up 2. Its rest state: 1000 exact zeros. */
    set_est(&s.est[DETECT_ROBUST_RUNNING][0], 5000);
    double zero[3] = {0, 0, 0};
    for (int k = 0; k < 1000; k++) step(&s, &c, 3, zero, &o);
    assert_int_equal(s.est[DETECT_ROBUST_REST][0].n, 1000);
    assert_near(s.est[DETECT_ROBUST_REST][0].med, 0, 0);
    assert_int_equal(o.level[0], DETECT_NONE);
    /* 9.5 on channel 0 while 1 and 2 are 0: z = 9.5 / 2 = 4.75 in the running scale: ERROR. */
    double x[3] = {9.5, 0, 0};
    step(&s, &c, 3, x, &o);
    assert_int_equal(o.level[0], DETECT_ERROR);
    assert_near(o.z[0], 4.75, 1e-8);
    /* For channels 1 and 2 (0 beside a non-zero channel 0) it is a running point, and their
     * running states are cold: no level. */
    assert_int_equal(o.level[1], DETECT_NONE);
    /* The same value with another channel running is a running point for channel 0: its
     * running estimate moves, the rest one does not. */
    int64_t rest_n = s.est[DETECT_ROBUST_REST][0].n;
    int64_t run_n = s.est[DETECT_ROBUST_RUNNING][0].n;
    double y[3] = {9.5, 1, 0};
    step(&s, &c, 3, y, &o);
    assert_int_equal(s.est[DETECT_ROBUST_REST][0].n, rest_n);
    assert_int_equal(s.est[DETECT_ROBUST_RUNNING][0].n, run_n + 1);
    assert_near(o.z[0], (9.5 - 10) / -1.4826, 1e-3);
    assert_int_equal(o.level[0], DETECT_NONE);
    /* Channel 1 alone non-zero: its rest state is warm (1000 zeros) but its running state has
     * two points: no level, although z is far above error_z. */
    double w[3] = {0, 9.5, 0};
    step(&s, &c, 3, w, &o);
    assert_true(o.z[1] > 10);
    assert_int_equal(o.level[1], DETECT_NONE);
}

static void test_cold_rest_state(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_state s;
    detect_robust_init(&s, &c, 2);
    detect_out o;
    /* Running warm, rest cold (10 points): a value at rest sets no level. */
    set_est(&s.est[DETECT_ROBUST_RUNNING][0], 5000);
    double zero[2] = {0, 0};
    for (int k = 0; k < 10; k++) step(&s, &c, 2, zero, &o);
    double x[2] = {50, 0};
    step(&s, &c, 2, x, &o);
    assert_int_equal(o.level[0], DETECT_NONE);
    assert_true(o.z[0] > 20);
}

static void test_state_is_plain_and_bounded(void **st)
{
    (void)st;
    assert_true(sizeof(detect_robust_state) <= 2048);
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    detect_robust_state a, b;
    detect_robust_init(&a, &c, 8);
    detect_out oa, ob;
    double x[8];
    for (int k = 0; k < 3000; k++) {
        for (int i = 0; i < 8; i++) x[i] = k % 3 ? (double)((k * 37 + i * 11) % 101) / 7 : 0;
        step(&a, &c, 8, x, &oa);
    }
    memcpy(&b, &a, sizeof a);
    x[3] = 1e3;
    step(&a, &c, 8, x, &oa);
    step(&b, &c, 8, x, &ob);
    assert_memory_equal(&oa, &ob, sizeof oa);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(oa.level[3], DETECT_ERROR);
    assert_int_equal(oa.multi_level, DETECT_NONE);
}

/* One spike among a state's first points (where the tails are the extremes so far) must not
 * become its tail: a like spike later is still an ERROR. Spikes at point 100 (before the
 * warm-up: not judged) and at point 600 (judged: an ERROR); then a body of values 5..15 and,
 * at point 3000, a spike of the same size. */
static void test_early_spike_is_not_the_tail(void **st)
{
    (void)st;
    detect_robust_cfg c;
    detect_robust_cfg_default(&c);
    for (int at = 100; at <= 600; at += 500) {
        detect_robust_state s;
        detect_robust_init(&s, &c, 1);
        detect_out o;
        for (int i = 0; i < 3000; i++) {
            double v = i == at ? 150 : 5 + (double)((i * 37) % 101) / 10.0;
            step(&s, &c, 1, &v, &o);
            if (i == at && at >= c.warmup) assert_int_equal(o.level[0], DETECT_ERROR);
        }
        const detect_robust_est *e = &s.est[DETECT_ROBUST_RUNNING][0];
        if (!(e->hi < 20)) fail_msg("spike at %d: the high tail is %g", at, e->hi);
        double v = 150;
        step(&s, &c, 1, &v, &o);
        if (o.level[0] != DETECT_ERROR) fail_msg("spike at %d: a like one later has z %g", at, o.z[0]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_covers_the_tail),
        cmocka_unit_test(test_quantiles_converge),
        cmocka_unit_test(test_outlier_moves_estimates_one_step),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_new_level_is_learnt_faster),
        cmocka_unit_test(test_rest_state_uses_running_scale),
        cmocka_unit_test(test_cold_rest_state),
        cmocka_unit_test(test_state_is_plain_and_bounded),
        cmocka_unit_test(test_early_spike_is_not_the_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
