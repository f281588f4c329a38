/* Unit tests for detect_regress: one channel reduces to an exponentially weighted mean with a
 * winsorised residual sigma (hand-computed z), the sustained rule (no level before the tenth
 * row in a row, ERROR after it, the burst guard, the reset at idle, nothing in warm-up), the
 * regression on the other channels (a break of a fixed relation between two channels scores
 * on the channel that broke it and not on its neighbour), the learnt run length, the scales
 * of the asinh transform, and the state as plain data (a byte copy continues identically). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "detect_regress.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

/* E[min(z^2, 2.5^2)] for a standard normal z (the default clip), to 4 digits. */
#define CLIP_FACTOR_25 0.97756

/* A stream of one key: times 1 s apart, one run that never ends unless told. */
typedef struct feed {
    detect_regress_state s;
    detect_regress_cfg c;
    int nch;
    int64_t ts; /* µs */
    int64_t run_start;
    int64_t n;
} feed;

static void feed_init(feed *f, int nch, int plain)
{
    memset(f, 0, sizeof *f);
    detect_regress_cfg_default(&f->c);
    if (plain) {
        /* The regression reduced to an EW mean: no transform, no phase, no time. */
        f->c.transform = 0;
        f->c.use_phase = 0;
        f->c.use_time = 0;
    }
    f->nch = nch;
    f->ts = 1000000000000LL;
    detect_regress_init(&f->s, &f->c, nch);
}

static void feed_step(feed *f, const double *x, double dt_s, detect_out *o)
{
    f->ts += (int64_t)(dt_s * 1e6);
    int idle = 1;
    for (int i = 0; i < f->nch; i++)
        idle &= x[i] == 0;
    if (idle)
        f->run_start = 0;
    else if (!f->run_start)
        f->run_start = f->ts;
    detect_ctx ctx = {.nch = f->nch,
                      .ts_us = f->ts,
                      .n = f->n,
                      .dt_s = dt_s,
                      .median_dt_s = 1,
                      .idle = idle,
                      .run_start_us = f->run_start};
    detect_regress_step(&f->s, &f->c, &ctx, x, o);
    f->n++;
}

/* 1, 3, 1, 3, ...: mean 2, residuals +-1, so sigma^2 = 1 / CLIP_FACTOR_25 once warm. */
static void feed_alternating(feed *f, int n)
{
    detect_out o;
    for (int i = 0; i < n; i++) {
        double x = i % 2 ? 3 : 1;
        feed_step(f, &x, 1, &o);
    }
}

static void test_defaults(void **state)
{
    (void)state;
    detect_regress_cfg c;
    detect_regress_cfg_default(&c);
    assert_near(c.alert_z, 2, 0);
    assert_near(c.error_z, 4, 0);
    assert_int_equal(c.alert_intervals, 10);
    assert_int_equal(c.error_intervals, 10);
    assert_true(c.use_channels && c.use_phase && c.use_time && c.transform);
}

static void test_one_channel_is_a_mean_and_sigma(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 1, 1);
    feed_alternating(&f, 4000);
    /* The mean sits between 1 and 3 (the last value pulls it by alpha), sigma as above. */
    assert_near(f.s.mean[0], 2, 0.01);
    assert_near(f.s.ch[0].var, 1 / CLIP_FACTOR_25, 0.01);
    /* 7 is 5 from the mean: z = 5 / sqrt(1 / 0.97756) = 4.944. */
    detect_out o;
    double x = 7;
    feed_step(&f, &x, 1, &o);
    assert_near(o.z[0], 5 * sqrt(CLIP_FACTOR_25), 0.03);
    assert_int_equal(o.level[0], DETECT_NONE);
    assert_near(o.multi_z, 0, 0);
    /* The update saw 7 winsorised to 2 + 2.5 sigma: the mean moved by alpha x 2.5 sigma. */
    double alpha = 1 - exp2(-1 / f.c.half_life);
    assert_near(f.s.mean[0], 2 + alpha * 2.5 / sqrt(CLIP_FACTOR_25), 0.01);
}

static void test_sustained_levels(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 1, 1);
    feed_alternating(&f, 4000);
    detect_out o;
    /* 4.5 sigma out: no level for nine rows, ERROR at the tenth and after. */
    for (int i = 1; i <= 12; i++) {
        double x = 2 + 4.5 * sqrt(f.s.ch[0].var);
        feed_step(&f, &x, 1, &o);
        assert_true(o.z[0] > 4);
        if (i < 10)
            assert_int_equal(o.level[0], DETECT_NONE);
        else
            assert_int_equal(o.level[0], DETECT_ERROR);
    }
    /* One row back in line ends the excess: the count starts again. */
    double x = 2;
    feed_step(&f, &x, 1, &o);
    assert_int_equal(o.level[0], DETECT_NONE);
    /* 3 sigma: ALERT after ten rows, never ERROR. */
    for (int i = 1; i <= 11; i++) {
        x = 2 + 3 * sqrt(f.s.ch[0].var);
        feed_step(&f, &x, 1, &o);
        assert_int_equal(o.level[0], i < 10 ? DETECT_NONE : DETECT_ALERT);
    }
}

static void test_burst_guard_and_idle_reset(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 1, 1);
    feed_alternating(&f, 4000);
    detect_out o;
    double x;
    /* Fourteen rows 0.1 s apart (a tenth of the median interval): not time enough. */
    for (int i = 0; i < 14; i++) {
        x = 8;
        feed_step(&f, &x, 0.1, &o);
        assert_true(o.z[0] > 4);
        assert_int_equal(o.level[0], DETECT_NONE);
    }
    x = 2;
    feed_step(&f, &x, 1, &o);
    /* Nine rows out, an idle row, nine more: the idle row ends the excess. */
    for (int i = 0; i < 19; i++) {
        x = i == 9 ? 0 : 8;
        feed_step(&f, &x, 1, &o);
        assert_int_equal(o.level[0], DETECT_NONE);
        if (i == 9) assert_near(o.z[0], 0, 0);
    }
    x = 8;
    feed_step(&f, &x, 1, &o);
    assert_int_equal(o.level[0], DETECT_ERROR);
}

static void test_warmup(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 1, 1);
    feed_alternating(&f, 100);
    detect_out o;
    for (int i = 0; i < 20; i++) {
        double x = 100;
        feed_step(&f, &x, 1, &o);
        if (i == 0) assert_true(o.z[0] > 4);
        assert_int_equal(o.level[0], DETECT_NONE); /* 120 running points < warmup 300 */
    }
}

/* Channel 1 = 2 x channel 0 + 1 and channel 2 = 10 - channel 0, each +-0.05; channel 0
 * wanders over 0..10 (+-0.01). */
static void related(int i, double *x)
{
    double a = 5 + 5 * sin(i * 0.37);
    double e = i % 2 ? 1 : -1, e2 = i % 3 ? 1 : -1;
    x[0] = a + 0.01 * e;
    x[1] = 2 * a + 1 + 0.05 * e2;
    x[2] = 10 - a + 0.05 * e * e2;
}

static void feed_related(feed *f, int n)
{
    detect_out o;
    for (int i = 0; i < n; i++) {
        double x[3];
        related(i, x);
        feed_step(f, x, 1, &o);
    }
}

static void test_regression_on_the_other_channels(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3, 1);
    feed_related(&f, 3000);
    detect_out o;
    /* Channel 1 off by 1 (14 residual sigmas: the ridge adds a little to the 0.05) while channels 0
     * and 2 agree with each other. Channel 0's own regression leans on channel 1 and would be 18
     * sigmas out; measured against channel 1's prediction instead, it is in line. */
    double x[3] = {4, 2 * 4 + 1 + 1, 6};
    feed_step(&f, x, 1, &o);
    assert_true(o.z[1] > 10);
    assert_true(o.z[0] < 2);
    assert_true(o.z[2] < 2);
    /* Each channel alone, its own spread (3.5, 7, 3.5) dwarfs the break. */
    feed g;
    feed_init(&g, 3, 1);
    g.c.use_channels = 0;
    feed_related(&g, 3000);
    feed_step(&g, x, 1, &o);
    assert_true(o.z[1] < 1);
}

static void test_run_length(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 1, 0);
    detect_out o;
    /* A run of 16 rows 2 s apart (30 s from the first to the last), then idle. */
    for (int i = 0; i < 17; i++) {
        double x = i < 16 ? 5 : 0;
        feed_step(&f, &x, 2, &o);
    }
    /* 30 s plus one median interval (1 s): the first row comes after the start. */
    assert_near(f.s.run_len_s, 31, 1e-9);
    for (int i = 0; i < 17; i++) {
        double x = i < 11 ? 5 : 0; /* 20 s */
        feed_step(&f, &x, 2, &o);
    }
    assert_near(f.s.run_len_s, 0.9 * 31 + 0.1 * 21, 1e-9);
}

static void test_transform_scales(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 2, 0);
    detect_out o;
    for (int i = 0; i < f.c.scale_points; i++) {
        double x[2] = {i % 2 ? 2 : 6, 0}; /* mean |x| 4; channel 1 never moves */
        feed_step(&f, x, 1, &o);
        assert_near(o.z[0], 0, 0);
    }
    assert_near(f.s.scale[0], 4, 1e-12);
    /* A silent channel gets a thousandth of the mean scale, so asinh stays finite. */
    assert_near(f.s.scale[1], 1e-3 * 2, 1e-12);
    assert_int_equal(f.s.nrun, 0);
}

static void test_state_is_plain_data(void **state)
{
    (void)state;
    feed f;
    feed_init(&f, 3, 0);
    feed_related(&f, 700);
    feed g = f; /* a byte copy, as a checkpoint restores it */
    for (int i = 0; i < 200; i++) {
        double x[3] = {3 + (i % 7), 7 + (i % 5) * 1.5, i % 11};
        detect_out a, b;
        feed_step(&f, x, 1, &a);
        feed_step(&g, x, 1, &b);
        assert_memory_equal(&a, &b, sizeof a);
    }
    assert_memory_equal(&f.s, &g.s, sizeof f.s);
    assert_true(sizeof(detect_regress_state) < 6 * 1024);
}

/* The expected band: NaN until warm and on idle points; once warm, on a channel that is a
 * constant plus noise of sigma 0.1 (in current units), the prediction is near the constant
 * and the band's sigma near 0.1 — also through the asinh transform (the linearisation). */
static void test_band(void **state)
{
    (void)state;
    for (int plain = 0; plain <= 1; plain++) {
        feed f;
        feed_init(&f, 1, plain);
        detect_out o;
        detect_band b;
        uint64_t r = 12345;
        double pred_err = 0, sd_sum = 0;
        int n = 0;
        for (int i = 0; i < 3000; i++) {
            /* A uniform noise of sigma 0.1 from a small LCG (deterministic). */
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(r >> 11) / 9007199254740992.0 - 0.5;
            double x = 10 + u * 0.1 * sqrt(12.0);
            f.ts += 1000000;
            if (!f.run_start) f.run_start = f.ts;
            detect_ctx ctx = {.nch = 1, .ts_us = f.ts, .n = f.n, .dt_s = 1, .median_dt_s = 1,
                              .run_start_us = f.run_start};
            detect_regress_step_band(&f.s, &f.c, &ctx, &x, &o, &b);
            f.n++;
            if (i < 100) {
                assert_true(isnan(b.pred[0]) && isnan(b.sd[0])); /* not warm yet */
            } else if (i >= 2000) {
                double pr, sg;
                detect_regress_band_units(&f.s, &f.c, &b, 0, &pr, &sg);
                pred_err += fabs(pr - 10);
                sd_sum += sg;
                n++;
            }
        }
        assert_near(pred_err / n, 0, 0.05);
        assert_near(sd_sum / n, 0.1, 0.02);
        /* An idle point: nothing expected. */
        double zero = 0;
        f.ts += 1000000;
        detect_ctx idle = {.nch = 1, .ts_us = f.ts, .n = f.n, .dt_s = 1, .median_dt_s = 1, .idle = 1};
        detect_regress_step_band(&f.s, &f.c, &idle, &zero, &o, &b);
        assert_true(isnan(b.pred[0]) && isnan(b.sd[0]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_one_channel_is_a_mean_and_sigma),
        cmocka_unit_test(test_sustained_levels),
        cmocka_unit_test(test_burst_guard_and_idle_reset),
        cmocka_unit_test(test_warmup),
        cmocka_unit_test(test_regression_on_the_other_channels),
        cmocka_unit_test(test_run_length),
        cmocka_unit_test(test_transform_scales),
        cmocka_unit_test(test_state_is_plain_data),
        cmocka_unit_test(test_band),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
