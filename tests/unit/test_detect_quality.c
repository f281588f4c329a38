/* Unit tests for detect_quality: each check on hand-made points — stuck sensor (the count
 * and the reset), duplicate, late and clock jump (and that they do not feed the per-channel
 * checks), gap (flag only, ALERT, too long to alert), negative and range after warm-up, the
 * idle break and its conditions — with the z each rule documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "detect_quality.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

/* A key as detect_step would present it: tracks the newest time and the point count. */
typedef struct feeder {
    detect_quality_state s;
    detect_quality_cfg c;
    int nch;
    int64_t newest_us;
    int64_t n;
    double median_dt_s;
} feeder;

static void feeder_init(feeder *f, int nch)
{
    memset(f, 0, sizeof *f);
    detect_quality_cfg_default(&f->c);
    f->nch = nch;
    f->median_dt_s = 2.0;
    detect_quality_init(&f->s, &f->c, nch);
}

static void feed(feeder *f, double t_s, const double *x, detect_out *o)
{
    int64_t ts = (int64_t)llround(t_s * 1e6);
    detect_ctx ctx = {.nch = f->nch, .ts_us = ts, .n = f->n, .median_dt_s = f->median_dt_s};
    int idle = 1;
    for (int i = 0; i < f->nch; i++) idle &= x[i] == 0;
    ctx.idle = idle;
    if (f->n > 0) {
        ctx.dt_s = (double)(ts - f->newest_us) / 1e6;
        ctx.late = ts < f->newest_us;
    }
    detect_quality_step(&f->s, &f->c, &ctx, x, o);
    if (f->n == 0 || ts > f->newest_us) f->newest_us = ts;
    f->n++;
}

/* A running row of 8 channels that never repeats: channel i is 1 + i + t / 1000. */
static void busy_row(double *x, double t)
{
    for (int i = 0; i < 8; i++) x[i] = 1 + i + t / 1000;
}

/* Feeds 100 rows of distinct non-zero values (channel i: 1 + i + k / 1000), 2 s apart from
 * *t, so that every channel has shown 99 pairs, none equal: enough for the stuck check to
 * need stuck_n points (a fresh channel needs 6, see test_stuck_needs_pairs_first). */
static void warm(feeder *f, double *t)
{
    double x[DETECT_MAX_CH];
    detect_out o;
    for (int k = 0; k < 100; k++, *t += 2) {
        for (int i = 0; i < f->nch; i++) x[i] = 1 + i + k / 1000.0;
        feed(f, *t, x, &o);
    }
}

static void test_stuck_counts_equal_nonzero_values(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 8);
    detect_out o;
    double x[8];
    int t = 0;
    for (; t < 100; t++) {
        busy_row(x, t);
        feed(&f, 2.0 * t, x, &o);
    }
    /* Channel 2 reads 7.5 five times: the 5th is the first flagged (stuck_n 5), z = 4. */
    for (int k = 1; k <= 6; k++, t++) {
        busy_row(x, t);
        x[2] = 7.5;
        feed(&f, 2.0 * t, x, &o);
        if (k < 5) {
            assert_int_equal(o.level[2], DETECT_NONE);
            assert_false(o.quality & DETECT_Q_STUCK);
        } else {
            assert_int_equal(o.level[2], DETECT_ALERT);
            assert_true(o.quality & DETECT_Q_STUCK);
            assert_near(o.z[2], 4.0 * k / 5, 1e-12);
        }
        assert_int_equal(o.level[3], DETECT_NONE);
        assert_int_equal(o.multi_level, DETECT_NONE);
    }
    /* A new value resets the count. */
    busy_row(x, t);
    x[2] = 7.6;
    feed(&f, 2.0 * t++, x, &o);
    assert_int_equal(o.level[2], DETECT_NONE);

    /* Zeros repeat at rest all the time: they are not a stuck sensor. */
    memset(x, 0, sizeof x);
    for (int k = 0; k < 10; k++, t++) {
        feed(&f, 2.0 * t, x, &o);
        assert_int_equal(o.quality, 0);
        assert_int_equal(o.level[2], DETECT_NONE);
    }
}

static void test_stuck_on_quantised_channel_needs_longer_runs(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 1);
    detect_out o;
    double v;
    int t = 0;
    /* Values in equal pairs: 1.000, 1.000, 1.001, 1.001, ... (100 pairs). A run counts once
     * it is over: 99 runs of 2 (99 equal pairs) and 99 changes between them. */
    for (int k = 0; k < 100; k++)
        for (int j = 0; j < 2; j++, t++) {
            v = 1 + k * 0.001;
            feed(&f, 2.0 * t, &v, &o);
            assert_int_equal(o.quality, 0);
        }
    assert_int_equal(f.s.ch[0].pairs, 198);
    assert_int_equal(f.s.ch[0].reps, 99);
    /* Then 7.7 in a row: the last run of 2 ends (200 pairs, 100 equal) and the new one does
     * not count while it lasts: with the prior, n = 200 + 100 and p = (100 + 1) / n =
     * 0.336667, at its upper bound (p + 2/n + 2 sqrt(p (1 - p) / n + 1/n^2)) / (1 + 4/n) =
     * 0.393066; the smallest n with that^(n-1) <= 1e-6 is 1 + ceil(13.8155 / 0.933690) =
     * 1 + 15 = 16. */
    v = 7.7;
    for (int k = 1; k <= 17; k++, t++) {
        feed(&f, 2.0 * t, &v, &o);
        if (k < 16) {
            assert_int_equal(o.level[0], DETECT_NONE);
        } else {
            assert_int_equal(o.level[0], DETECT_ALERT);
            assert_int_equal(o.quality, DETECT_Q_STUCK);
            assert_near(o.z[0], 4.0 * k / 16, 1e-12);
        }
    }
    assert_int_equal(f.s.ch[0].pairs, 200);
    assert_int_equal(f.s.ch[0].reps, 100);
    /* The run ends: its 16 equal pairs count now, and the change. */
    v = 2;
    feed(&f, 2.0 * t, &v, &o);
    assert_int_equal(f.s.ch[0].pairs, 217);
    assert_int_equal(f.s.ch[0].reps, 116);
}

static void test_stuck_run_beyond_max_is_a_state(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 1);
    f.c.stuck_max = 8;
    detect_out o;
    double t = 0;
    warm(&f, &t);
    /* 4.2 twelve times: flagged from the 5th to the 8th, then taken as a set point. */
    double v = 4.2;
    for (int k = 1; k <= 12; k++, t += 2) {
        feed(&f, t, &v, &o);
        assert_int_equal(o.level[0], k >= 5 && k <= 8 ? DETECT_ALERT : DETECT_NONE);
    }
    /* When it ends its pairs count: 11 equal pairs, plus the two changes (99 + 13). */
    v = 4.3;
    feed(&f, t, &v, &o);
    assert_int_equal(f.s.ch[0].pairs, 112);
    assert_int_equal(f.s.ch[0].reps, 11);
}

static void test_stuck_at_a_set_point_is_not_a_fault(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 1);
    detect_out o;
    double v;
    double t0 = 0;
    warm(&f, &t0);
    int t = (int)(t0 / 2);
    /* 20.0 six times (flagged at 5 and 6: a first flat line is news), then a ramp. */
    for (int round = 0; round < 2; round++) {
        for (int k = 1; k <= 6; k++, t++) {
            v = 20;
            feed(&f, 2.0 * t, &v, &o);
            assert_int_equal(o.level[0], round == 0 && k >= 5 ? DETECT_ALERT : DETECT_NONE);
        }
        /* The second time round, 20.0 is a set point: not flagged. */
        for (int k = 1; k <= 6; k++, t++) {
            v = 20 + k;
            feed(&f, 2.0 * t, &v, &o);
            assert_int_equal(o.level[0], DETECT_NONE);
        }
    }
    assert_int_equal(f.s.ch[0].nsetpt, 1);
    assert_near(f.s.ch[0].setpt[0], 20, 0);
    /* Another value held: flagged, once the run is long enough for what the channel has
     * shown: 99 + 25 = 124 pairs, 10 equal (the two runs of 20.0 count once over), p = 11 /
     * 224, at its upper bound 0.0867126, so 1 + ceil(13.8155 / 2.44519) = 7 points. */
    for (int k = 1; k <= 7; k++, t++) {
        v = 21.5;
        feed(&f, 2.0 * t, &v, &o);
        assert_int_equal(o.level[0], k == 7 ? DETECT_ALERT : DETECT_NONE);
    }
    assert_int_equal(f.s.ch[0].pairs, 124);
    assert_int_equal(f.s.ch[0].reps, 10);
}

static void test_duplicate_and_its_values(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 8);
    detect_out o;
    double x[8];
    double t0 = 0;
    warm(&f, &t0);
    busy_row(x, 0);
    feed(&f, t0, x, &o);
    assert_int_equal(o.multi_level, DETECT_NONE);
    busy_row(x, 1);
    x[0] = 3.25;
    feed(&f, t0 + 2, x, &o);
    /* The same point again: a duplicate (z 4); same time, other values: z 6. */
    feed(&f, t0 + 2, x, &o);
    assert_int_equal(o.multi_level, DETECT_ALERT);
    assert_int_equal(o.quality, DETECT_Q_DUPLICATE);
    assert_near(o.multi_z, 4, 1e-12);
    double y[8];
    memcpy(y, x, sizeof y);
    y[5] += 1;
    feed(&f, t0 + 2, y, &o);
    assert_near(o.multi_z, 6, 1e-12);
    assert_int_equal(o.quality, DETECT_Q_DUPLICATE);
    /* Duplicates are no repeats of the sensor: channel 0 has read 3.25 once in sequence. */
    for (int t = 2; t < 5; t++) {
        busy_row(x, t);
        x[0] = 3.25;
        feed(&f, t0 + 2.0 * t, x, &o);
        assert_int_equal(o.level[0], DETECT_NONE);
    }
    busy_row(x, 5);
    x[0] = 3.25;
    feed(&f, t0 + 10, x, &o); /* the 5th in sequence */
    assert_int_equal(o.level[0], DETECT_ALERT);
}

static void test_late_then_clock_jump(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 8);
    detect_out o;
    double x[8];
    for (int t = 0; t < 10; t++) {
        busy_row(x, t);
        feed(&f, 100 + 2.0 * t, x, &o);
        assert_int_equal(o.quality, 0);
    }
    /* Newest is 118 s. A point from 108 s: late, z = 4 + (10 s / 2 s) / 10 = 4.5. */
    busy_row(x, 20);
    feed(&f, 108, x, &o);
    assert_int_equal(o.quality, DETECT_Q_LATE);
    assert_int_equal(o.multi_level, DETECT_ALERT);
    assert_near(o.multi_z, 4.5, 1e-12);
    /* Back in order: nothing. */
    busy_row(x, 21);
    feed(&f, 120, x, &o);
    assert_int_equal(o.quality, 0);
    assert_int_equal(o.multi_level, DETECT_NONE);
    /* The clock goes back 60 s: the first point reads as late, the next ones, in order among
     * themselves but behind the newest (120 s), as a clock jump. */
    busy_row(x, 22);
    feed(&f, 62, x, &o);
    assert_int_equal(o.quality, DETECT_Q_LATE);
    for (int k = 1; k <= 3; k++) {
        busy_row(x, 22 + k);
        feed(&f, 62 + 2.0 * k, x, &o);
        assert_int_equal(o.quality, DETECT_Q_CLOCK_JUMP);
        assert_int_equal(o.multi_level, DETECT_ALERT);
        assert_near(o.multi_z, 4 + (120 - 62 - 2.0 * k) / 2 / 10, 1e-9);
    }
    /* Once past the newest, the stream is in order again. */
    busy_row(x, 40);
    feed(&f, 121, x, &o);
    assert_int_equal(o.quality, 0);
}

static void test_gap_two_tiers(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 8);
    detect_out o;
    double x[8];
    double t = 0;
    for (int k = 0; k < 40; k++, t += 2) {
        busy_row(x, k);
        feed(&f, t, x, &o);
        assert_int_equal(o.quality, 0);
    }
    t -= 2;
    int k = 100;
    /* 100 s = 50 median intervals: over gap_mult (10), under gap_alert_mult (220): the flag only. */
    t += 100;
    busy_row(x, k++); /* new values: no stuck channel */
    feed(&f, t, x, &o);
    assert_int_equal(o.quality, DETECT_Q_GAP);
    assert_int_equal(o.multi_level, DETECT_NONE);
    /* 1200 s = 600 intervals: ALERT (the key has shown one pause, 100 s: its third longest
     * is none, the floor holds: 220 intervals, 440 s), z = 4 * 1200 / 440. */
    t += 1200;
    busy_row(x, k++); /* new values: no stuck channel */
    feed(&f, t, x, &o);
    assert_int_equal(o.quality, DETECT_Q_GAP);
    assert_int_equal(o.multi_level, DETECT_ALERT);
    assert_near(o.multi_z, 4 * 1200.0 / 440, 1e-9);
    /* Two hours: a machine switched off; the flag only. */
    t += 7200;
    busy_row(x, k++); /* new values: no stuck channel */
    feed(&f, t, x, &o);
    assert_int_equal(o.quality, DETECT_Q_GAP);
    assert_int_equal(o.multi_level, DETECT_NONE);
    /* 10 intervals exactly is no gap. */
    t += 20;
    busy_row(x, k++); /* new values: no stuck channel */
    feed(&f, t, x, &o);
    assert_int_equal(o.quality, 0);
}

/* Feeds a running row 2 s after *t, then one after a gap of gap_s; returns the gap row's
 * output in *o. */
static void gap_of(feeder *f, double *t, int *k, double gap_s, detect_out *o)
{
    double x[8];
    busy_row(x, (*k)++);
    *t += 2;
    feed(f, *t, x, o);
    busy_row(x, (*k)++);
    *t += gap_s;
    feed(f, *t, x, o);
}

/* 40 busy rows every 2 s from t = 0: the key's median interval is 2 s; *t is the last row's. */
static void busy_start(feeder *f, double *t, int *k, double *x, detect_out *o)
{
    for (*k = 0, *t = 0; *k < 40; (*k)++, *t += 2) {
        busy_row(x, *k);
        feed(f, *t, x, o);
    }
    *t -= 2;
}

static void test_gap_learns_the_keys_pauses(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 8);
    detect_out o;
    double x[8], t;
    int k;
    busy_start(&f, &t, &k, x, &o);
    /* A key whose pauses last 600 s (300 median intervals, above the floor of 440 s): the
     * first three alarm, then the third longest is 600 s and the threshold 1.1 times it. */
    for (int p = 0; p < 3; p++) {
        gap_of(&f, &t, &k, 600, &o);
        assert_int_equal(o.multi_level, DETECT_ALERT);
        assert_near(o.multi_z, 4 * 600.0 / 440, 1e-9);
    }
    assert_near(f.s.gap_top[2], 600, 1e-9);
    gap_of(&f, &t, &k, 650, &o);
    assert_int_equal(o.quality, DETECT_Q_GAP);
    assert_int_equal(o.multi_level, DETECT_NONE);
    /* 700 s is beyond 660 s: a dropout, z = 4 * 700 / 660. */
    gap_of(&f, &t, &k, 700, &o);
    assert_int_equal(o.multi_level, DETECT_ALERT);
    assert_near(o.multi_z, 4 * 700.0 / 660, 1e-9);
    /* A long dropout does not raise the threshold alone: the three longest are now 3000, 700
     * and 650, so the threshold moves only to 1.1 * 650 = 715 s. */
    gap_of(&f, &t, &k, 3000, &o);
    assert_int_equal(o.multi_level, DETECT_ALERT);
    assert_near(f.s.gap_top[0], 3000, 1e-9);
    assert_near(f.s.gap_top[2], 650, 1e-9);
    gap_of(&f, &t, &k, 720, &o);
    assert_int_equal(o.multi_level, DETECT_ALERT);
    assert_near(o.multi_z, 4 * 720.0 / 715, 1e-9);
    /* Beyond gap_alert_max_s: not learnt (a machine switched off). */
    gap_of(&f, &t, &k, 7200, &o);
    assert_int_equal(o.multi_level, DETECT_NONE);
    assert_near(f.s.gap_top[0], 3000, 1e-9);

    /* A key whose pauses stay short keeps the floor: 300 s pauses never alarm, 500 s does. */
    feeder g;
    feeder_init(&g, 8);
    busy_start(&g, &t, &k, x, &o);
    for (int p = 0; p < 5; p++) {
        gap_of(&g, &t, &k, 300, &o);
        assert_int_equal(o.multi_level, DETECT_NONE);
    }
    gap_of(&g, &t, &k, 500, &o);
    assert_int_equal(o.multi_level, DETECT_ALERT);
}

static void test_negative_and_range_after_warmup(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 2);
    f.c.warmup = 3;
    detect_out o;
    /* Channel 0 warms up on 1, 2, 3 (range [1, 3], w = 2); channel 1 is negative in warm-up. */
    double w[3][2] = {{1, -1}, {2, 5}, {3, 4}};
    for (int k = 0; k < 3; k++) {
        feed(&f, 2.0 * k, w[k], &o);
        assert_int_equal(o.quality, 0);
    }
    /* Threshold hi + 0.5 w = 4: 4 is accepted. */
    double a[2] = {4, -2};
    feed(&f, 6, a, &o);
    assert_int_equal(o.quality, 0);
    /* Now [1, 4], w = 3, threshold 5.5: 7 is out of range, z = 4 (7 - 1) / (1.5 * 3) = 16/3. */
    double b[2] = {7, 1};
    feed(&f, 8, b, &o);
    assert_int_equal(o.level[0], DETECT_ALERT);
    assert_int_equal(o.quality, DETECT_Q_RANGE);
    assert_near(o.z[0], 16.0 / 3, 1e-12);
    assert_int_equal(o.level[1], DETECT_NONE);
    /* The flagged 7 moved hi by 5 % of the excess only: hi = 4.15. */
    assert_near(f.s.ch[0].hi, 4.15, 1e-12);
    /* Below: lo - 0.5 w = 1 - 1.575 = -0.575; -0.5 is in range but negative on a channel that
     * never was: ERROR, z 8. Channel 1 was negative in warm-up: nothing. */
    double c[2] = {-0.5, -3};
    feed(&f, 10, c, &o);
    assert_int_equal(o.level[0], DETECT_ERROR);
    assert_near(o.z[0], 8, 1e-12);
    assert_int_equal(o.quality, DETECT_Q_NEGATIVE);
    assert_int_equal(o.level[1], DETECT_NONE);
}

/* Feeds one row of 8 channels at *t (then 2 s later) and returns its output in *o: 'r' at
 * rest, 'F' running (every channel 1 + i), or a partial row with channel a (and b >= 0) at
 * value v. */
static void row_at(feeder *f, double *t, char kind, int a, int b, double v, detect_out *o)
{
    double x[8] = {0};
    if (kind == 'F')
        for (int i = 0; i < 8; i++) x[i] = 1 + i + *t / 1e4; /* never equal: no stuck */
    if (kind == 'P') {
        x[a] = v;
        if (b >= 0) x[b] = v;
    }
    feed(f, *t, x, o);
    *t += 2;
}

static void test_idle_break_mid_rest(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 8);
    detect_out o;
    double t = 0;
    /* One channel non-zero before the key has shown 10 rows at rest: not yet a break. */
    for (int k = 0; k < 9; k++) row_at(&f, &t, 'r', 0, 0, 0, &o);
    row_at(&f, &t, 'P', 4, -1, 2.5, &o);
    assert_int_equal(o.quality, 0);
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    assert_int_equal(o.quality, 0);
    /* Ten rows at rest: now it is, once the next row is at rest too. Channel 4 has accepted
     * nine 0, 2.5, 0: mean 2.5 / 11, sample sigma sqrt((6.25 - 6.25 / 11) / 10) = 0.75378.
     * 2.0 is 2.65 sigma: ALERT (z at least 4), held (nothing on its own row) and flagged on
     * the next row. */
    row_at(&f, &t, 'P', 4, -1, 2.0, &o);
    assert_int_equal(o.quality, 0);
    assert_int_equal(o.level[4], DETECT_NONE);
    assert_int_equal(f.s.held, 1);
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    assert_int_equal(o.quality, DETECT_Q_IDLE_BREAK);
    assert_int_equal(o.level[4], DETECT_ALERT);
    assert_near(o.z[4], 4, 1e-12);
    assert_int_equal(o.level[3], DETECT_NONE);
    assert_int_equal(f.s.held, 0);
    /* The held 2.0 stayed out of the statistics; the rest row went in: twelve values, 2.5
     * and eleven 0, sigma sqrt((6.25 - 6.25 / 12) / 11). 4.0 is 5.54 sigma: ERROR
     * (error_sigmas 4), z = 4.0 / sigma, again on the next row. */
    double sd = sqrt((6.25 - 6.25 / 12) / 11);
    row_at(&f, &t, 'P', 4, -1, 4.0, &o);
    assert_int_equal(o.quality, 0);
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    assert_int_equal(o.level[4], DETECT_ERROR);
    assert_near(o.z[4], 4.0 / sd, 1e-12);
    /* And once only. */
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    assert_int_equal(o.quality, 0);
    /* Two channels: still a break (idle_break_max 2 with 8 channels). Channel 6 has only
     * ever read 0 (sigma 0): any value is extreme, z 50. */
    row_at(&f, &t, 'P', 4, 6, 1.0, &o);
    assert_int_equal(o.quality, 0);
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    assert_int_equal(o.level[4], DETECT_ALERT);
    assert_int_equal(o.level[6], DETECT_ERROR);
    assert_near(o.z[6], 50, 1e-12);
    /* A burst longer than an edge (idle_edge_rows 2): flagged from its third row on, the
     * two held rows with it (channels 1 and 2 from them, 3 from the third row), whatever
     * comes next. */
    row_at(&f, &t, 'P', 1, -1, 1.0, &o);
    row_at(&f, &t, 'P', 2, -1, 1.0, &o);
    assert_int_equal(o.quality, 0);
    row_at(&f, &t, 'P', 3, -1, 1.0, &o);
    assert_int_equal(o.quality, DETECT_Q_IDLE_BREAK);
    assert_int_equal(o.level[1], DETECT_ERROR);
    assert_int_equal(o.level[2], DETECT_ERROR);
    assert_int_equal(o.level[3], DETECT_ERROR);
    row_at(&f, &t, 'P', 3, -1, 1.0, &o);
    assert_int_equal(o.level[3], DETECT_ERROR);
    row_at(&f, &t, 'F', 0, 0, 0, &o);
    assert_false(o.quality & DETECT_Q_IDLE_BREAK);
    /* Three channels: a machine at work. */
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    double x[8] = {1, 0, 0, 0, 2, 0, 1, 0};
    feed(&f, t, x, &o);
    t += 2;
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    assert_false(o.quality & DETECT_Q_IDLE_BREAK);
    assert_int_equal(o.level[0], DETECT_NONE);
}

static void test_idle_break_run_edges_are_no_fault(void **st)
{
    (void)st;
    feeder f;
    feeder_init(&f, 8);
    detect_out o;
    double t = 0;
    for (int k = 0; k < 20; k++) row_at(&f, &t, 'r', 0, 0, 0, &o);
    for (int cycle = 0; cycle < 3; cycle++) {
        /* A run's start: one axis on a row before the others (held, then dropped). */
        row_at(&f, &t, 'P', 1, -1, 3.0, &o);
        assert_int_equal(o.quality, 0);
        for (int k = 0; k < 5; k++) {
            row_at(&f, &t, 'F', 0, 0, 0, &o);
            assert_int_equal(o.quality, 0);
        }
        assert_int_equal(f.s.held, 0);
        /* Its end: two axes off after the others, then rest. */
        row_at(&f, &t, 'P', 0, 7, 2.0, &o);
        assert_int_equal(o.quality, 0);
        for (int k = 0; k < 5; k++) {
            row_at(&f, &t, 'r', 0, 0, 0, &o);
            assert_int_equal(o.quality, 0);
        }
    }
    /* Edges of two rows (idle_edge_rows): still edges, at either end. */
    row_at(&f, &t, 'P', 1, -1, 3.0, &o);
    row_at(&f, &t, 'P', 1, 2, 3.0, &o);
    row_at(&f, &t, 'F', 0, 0, 0, &o);
    assert_int_equal(o.quality, 0);
    row_at(&f, &t, 'P', 1, 2, 3.0, &o);
    row_at(&f, &t, 'P', 1, -1, 3.0, &o);
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    assert_int_equal(o.quality, 0);
    /* A tail longer than an edge after a run: flagged from its third row. */
    row_at(&f, &t, 'F', 0, 0, 0, &o);
    row_at(&f, &t, 'P', 5, -1, 3.0, &o);
    row_at(&f, &t, 'P', 5, -1, 3.0, &o);
    assert_int_equal(o.quality, 0);
    row_at(&f, &t, 'P', 5, -1, 3.1, &o);
    assert_int_equal(o.quality, DETECT_Q_IDLE_BREAK);
    assert_true(o.level[5] >= DETECT_ALERT);

    /* A late partial row is not judged (it has no neighbours in sequence), nor does it break
     * a held verdict: R P (late P) F is a run's start. */
    row_at(&f, &t, 'r', 0, 0, 0, &o);
    row_at(&f, &t, 'P', 3, -1, 3.0, &o);
    double x[8] = {0};
    x[3] = 3.0;
    feed(&f, t - 5, x, &o);
    assert_int_equal(o.quality, DETECT_Q_LATE);
    row_at(&f, &t, 'F', 0, 0, 0, &o);
    assert_int_equal(o.quality, 0);
}

static void test_idle_break_held_verdict_is_state(void **st)
{
    (void)st;
    /* The held verdict is in the state: a copy taken while a row is held (a checkpoint)
     * goes on exactly as the original, and is flagged on the next row. */
    feeder a, b;
    feeder_init(&a, 8);
    detect_out oa, ob;
    double t = 0;
    for (int k = 0; k < 12; k++) row_at(&a, &t, 'r', 0, 0, 0, &oa);
    row_at(&a, &t, 'P', 2, -1, 1.5, &oa);
    assert_int_equal(a.s.held, 1);
    memcpy(&b, &a, sizeof a);
    double t2 = t;
    row_at(&a, &t, 'r', 0, 0, 0, &oa);
    row_at(&b, &t2, 'r', 0, 0, 0, &ob);
    assert_int_equal(oa.quality, DETECT_Q_IDLE_BREAK);
    assert_memory_equal(&oa, &ob, sizeof oa);
    assert_memory_equal(&a.s, &b.s, sizeof a.s);
}

static void test_idle_break_needs_channels(void **st)
{
    (void)st;
    detect_out o;
    /* With 4 channels at most one may break (4 channels per allowed break): two non-zero
     * is running. */
    feeder g;
    feeder_init(&g, 4);
    double y[4] = {0};
    for (int k = 0; k < 10; k++) feed(&g, 2.0 * k, y, &o);
    y[1] = 1;
    y[2] = 1;
    feed(&g, 20, y, &o);
    assert_int_equal(o.quality, 0);
    y[1] = y[2] = 0;
    feed(&g, 22, y, &o);
    y[1] = 1;
    feed(&g, 24, y, &o);
    assert_int_equal(o.quality, 0);
    y[1] = 0;
    feed(&g, 26, y, &o);
    assert_int_equal(o.quality, DETECT_Q_IDLE_BREAK);
    assert_int_equal(o.level[1], DETECT_ALERT);

    /* One channel: never (a single channel at 0 then not is just a value). */
    feeder h;
    feeder_init(&h, 1);
    double v = 0;
    for (int k = 0; k < 20; k++) feed(&h, 2.0 * k, &v, &o);
    v = 3;
    feed(&h, 40, &v, &o);
    v = 0;
    feed(&h, 42, &v, &o);
    assert_int_equal(o.quality, 0);
}

static void test_state_is_plain_and_bounded(void **st)
{
    (void)st;
    /* Saved and restored as bytes with the detect_state: no pointers, 4 KB at most. */
    assert_true(sizeof(detect_quality_state) <= 4096);
    feeder a, b;
    feeder_init(&a, 8);
    detect_out oa, ob;
    double x[8];
    for (int k = 0; k < 50; k++) {
        busy_row(x, k % 7);
        feed(&a, 2.0 * k, x, &oa);
    }
    memcpy(&b, &a, sizeof a);
    busy_row(x, 3);
    x[1] = 99;
    feed(&a, 200, x, &oa);
    feed(&b, 200, x, &ob);
    assert_memory_equal(&oa, &ob, sizeof oa);
    assert_memory_equal(&a.s, &b.s, sizeof a.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stuck_counts_equal_nonzero_values),
        cmocka_unit_test(test_stuck_on_quantised_channel_needs_longer_runs),
        cmocka_unit_test(test_stuck_run_beyond_max_is_a_state),
        cmocka_unit_test(test_stuck_at_a_set_point_is_not_a_fault),
        cmocka_unit_test(test_duplicate_and_its_values),
        cmocka_unit_test(test_late_then_clock_jump),
        cmocka_unit_test(test_gap_two_tiers),
        cmocka_unit_test(test_gap_learns_the_keys_pauses),
        cmocka_unit_test(test_negative_and_range_after_warmup),
        cmocka_unit_test(test_idle_break_mid_rest),
        cmocka_unit_test(test_idle_break_run_edges_are_no_fault),
        cmocka_unit_test(test_idle_break_held_verdict_is_state),
        cmocka_unit_test(test_idle_break_needs_channels),
        cmocka_unit_test(test_state_is_plain_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
