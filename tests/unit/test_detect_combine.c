/* Unit tests for detect_combine: the tail probability of a stream's history (empty, the body,
 * the exponential tail above the threshold, decay), Fisher's method, the joint evidence (the
 * larger of Fisher's and Bonferroni's) and the score map against hand-computed values, and the
 * whole step: quiet on a steady series, a spike scored high, the hold after it, idle points
 * left out of the value histories, the activity stream (its running fractions by hand, silent
 * on a key that never rests, a burst of activity scored high, the hold counted over idle
 * points), a detector's z counted only with a level, and one loud stream not diluted by quiet
 * ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "detect_combine.h"
#include "rng.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

static void tail_init(detect_combine_tail *t)
{
    memset(t, 0, sizeof *t);
    t->w = 1;
}

static void test_tail_empty(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    detect_combine_tail t;
    tail_init(&t);
    assert_near(detect_combine_tail_p(&t, &c, 5.0), 1, 0);
    for (int i = 0; i < c.min_points - 1; i++) detect_combine_tail_add(&t, &c, 0);
    assert_near(detect_combine_tail_p(&t, &c, 5.0), 1, 0); /* one short of min_points */
}

/* No decay (alpha 0), 50 zeros and 50 ones (100 points: min_points). Bins are W = 0.171875 wide in sqrt(r): r = 1 is in
 * bin 5 (1 / W = 5.82). From the top, bin 5 alone holds more than 2 % of 100, so the threshold
 * is the lower edge of bin 6, (6 W)^2 = 1.0634766, with no mass above it and no excess seen.
 *   p(0) = 1, p(0.5) = mass of bins >= 4 (sqrt 0.5 / W = 4.11) = 0.5, p(1) = 0.5;
 *   p(3) is in the tail: 0.02 exp(-(3 - 1.0634766) / 1.0634766) (no excess yet: the tail is
 *   as wide as the body, beta = thr) = 0.02 exp(-1.820937) = 0.0032375. */
static void test_tail_body_and_tail(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    c.alpha = 0;
    detect_combine_tail t;
    tail_init(&t);
    for (int i = 0; i < 50; i++) {
        detect_combine_tail_add(&t, &c, 0);
        detect_combine_tail_add(&t, &c, 1);
    }
    /* The threshold is refreshed every 16 points: at the 96th point it had seen 48 of each. */
    double thr = 1.0634765625;
    assert_near(t.thr, thr, 1e-12);
    assert_near(t.total, 100, 0);
    assert_near(detect_combine_tail_p(&t, &c, 0), 1, 1e-12);
    assert_near(detect_combine_tail_p(&t, &c, 0.5), 0.5, 1e-12);
    assert_near(detect_combine_tail_p(&t, &c, 1), 0.5, 1e-12);
    assert_near(detect_combine_tail_p(&t, &c, 3), 0.02 * exp(-(3 - thr) / thr), 1e-12);
    assert_near(detect_combine_tail_p(&t, &c, 3), 0.0032375, 1e-6);
    /* Further out, smaller: no saturation. */
    assert_true(detect_combine_tail_p(&t, &c, 10) < detect_combine_tail_p(&t, &c, 5));
}

/* With excesses seen, the tail's scale is their mean: 90 zeros (threshold: the upper edge of
 * bin 0, W^2 = 0.0295410), then 10 points of 2. The first six are excesses of 1.9704590; at
 * the 96th point the threshold is refreshed to the edge of bin 9 (bin 8, sqrt 2 / W = 8.23,
 * holds 6 > 2 % of 96), (9 W)^2 = 2.3928223, which the last four do not pass. */
static void test_tail_mean_excess(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    c.alpha = 0;
    c.min_points = 30; /* excesses count from the 30th point on */
    detect_combine_tail t;
    tail_init(&t);
    for (int i = 0; i < 90; i++) detect_combine_tail_add(&t, &c, 0);
    const double w = DETECT_COMBINE_BIN_W;
    assert_near(t.thr, w * w, 1e-15);
    for (int i = 0; i < 10; i++) detect_combine_tail_add(&t, &c, 2);
    assert_near(t.exn, 6, 0);
    assert_near(t.ex / t.exn, 2 - w * w, 1e-12);
    double thr = 81 * w * w;
    assert_near(t.thr, thr, 1e-12);
    double beta = 2 - w * w;
    assert_near(detect_combine_tail_p(&t, &c, 6), 0.02 * exp(-(6 - thr) / beta), 1e-12);
}

/* Decay: with alpha 0.5 each point weighs twice the one before, so after 40 zeros and one 5
 * the 5 holds half the mass of the recent history. */
static void test_tail_decay(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    c.alpha = 0.5;
    detect_combine_tail t;
    tail_init(&t);
    for (int i = 0; i < 40; i++) detect_combine_tail_add(&t, &c, 0);
    detect_combine_tail_add(&t, &c, 5);
    /* mass of the 5: 2^40 / (2^41 - 1 + 2^40) ... computed directly: */
    double w5 = ldexp(1, 40), tot = ldexp(1, 41) - 1;
    assert_near(t.total, tot, 1);
    assert_near(t.bin[(int)(sqrt(5) / DETECT_COMBINE_BIN_W)] / t.total, w5 / tot, 1e-12);
}

/* Fisher: m = 1 gives the p itself; two p of 0.1: X/2 = 2 ln 10 = 4.60517, p = e^-4.60517
 * (1 + 4.60517) = 0.0560517, L = 1.251411. Three p of 0.01: X/2 = 6 ln 10 = 13.81551,
 * p = 1e-6 (1 + 13.81551 + 95.43418) = 1.1024969e-4, L = 3.957623. */
static void test_fisher(void **state)
{
    (void)state;
    assert_near(detect_combine_fisher_L(2.5, 1), 2.5, 1e-12);
    assert_near(detect_combine_fisher_L(2, 2), -log10(0.01 * (1 + 2 * log(10))), 1e-12);
    assert_near(detect_combine_fisher_L(2, 2), 1.251411, 1e-6);
    assert_near(detect_combine_fisher_L(6, 3), 3.957623, 1e-6);
    assert_near(detect_combine_fisher_L(0, 4), 0, 0);
    /* Huge evidence stays finite and ordered. */
    double a = detect_combine_fisher_L(300, 9), b = detect_combine_fisher_L(310, 9);
    assert_true(isfinite(a) && b > a && a > 280);
}

/* The joint evidence: the larger of Fisher's and Bonferroni's. One p of 1e-5 among four
 * (L_sum = 5): Fisher, X/2 = 5 ln 10 = 11.512925, p = 1e-5 (1 + X/2 + (X/2)^2 / 2 +
 * (X/2)^3 / 6) = 1e-5 x 333.121476, L = 2.477397; Bonferroni, 4 x 1e-5, L = 5 - log10 4 =
 * 4.397940: one loud stream is not diluted by three quiet ones. Four p of 0.01 (L_sum = 8):
 * Fisher, X/2 = 18.420681, p = 1e-8 x 1230.836860, L = 4.909800; Bonferroni, L = 2 - log10 4
 * = 1.397940: agreement weighs more than any one stream. */
static void test_joint(void **state)
{
    (void)state;
    assert_near(detect_combine_fisher_L(5, 4), 2.477397, 1e-6);
    assert_near(detect_combine_joint_L(5, 1e-5, 4), 4.397940, 1e-6);
    assert_near(detect_combine_fisher_L(8, 4), 4.909800, 1e-6);
    assert_near(detect_combine_joint_L(8, 0.01, 4), 4.909800, 1e-6);
    assert_near(detect_combine_joint_L(2.5, pow(10, -2.5), 1), 2.5, 1e-12); /* m = 1: p itself */
    assert_near(detect_combine_joint_L(0, 1, 4), 0, 0);                    /* no evidence */
    assert_near(detect_combine_joint_L(3, 1e-3, 0), 0, 0);                 /* no stream */
}

static void test_score_map(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    assert_near(detect_combine_score_of_L(&c, 0), 0, 0);
    assert_near(detect_combine_score_of_L(&c, 3), 0.5, 1e-15);
    assert_near(detect_combine_score_of_L(&c, 6), 2.0 / 3, 1e-15);
    assert_true(detect_combine_score_of_L(&c, 1e6) < 1);
}

/* One point of one channel at step i, no detector enabled (the combiner's own streams). */
static double step1(detect_combine_state *s, const detect_combine_cfg *c, int64_t i, double x,
                    const detect_out *out, unsigned enabled)
{
    static const detect_out zero[DETECT_NKINDS];
    detect_ctx ctx = {.nch = 1, .ts_us = i * 60000000, .n = i, .dt_s = i ? 60.0 : 0.0};
    ctx.idle = x == 0;
    return detect_combine_step(s, c, &ctx, &x, out ? out : zero, enabled);
}

/* Noise around 100, then a spike: the spike's score is far above every score of the noise
 * after the warm-up; a second spike 10 points later, inside the hold, scores lower. */
static void test_spike_and_hold(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    static detect_combine_state s;
    detect_combine_init(&s, &c, 1);
    rng r;
    rng_seed(&r, 3, 1);
    double before = 0;
    int64_t i = 0;
    for (; i < 3000; i++) {
        double sc = step1(&s, &c, i, 100 + rng_normal(&r), NULL, 0);
        assert_true(sc >= 0 && sc < 1);
        if (i < c.min_points) assert_near(sc, 0, 0);
        if (i >= 1000 && sc > before) before = sc;
    }
    double spike = step1(&s, &c, i++, 130, NULL, 0);
    assert_true(spike > before + 0.1);
    assert_true(spike > 0.6);  /* p < 1e-4.5 */
    assert_true(s.hold_left > 0);
    for (int j = 0; j < 9; j++) step1(&s, &c, i++, 100 + rng_normal(&r), NULL, 0);
    double again = step1(&s, &c, i++, 130, NULL, 0);
    assert_true(again < spike);
}

/* An idle point is scored but leaves the value histories alone (the channels' forecasts and
 * every stream's history but the activity stream's). */
static void test_idle_not_learnt(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    static detect_combine_state s, before;
    detect_combine_init(&s, &c, 1);
    for (int64_t i = 0; i < 200; i++) step1(&s, &c, i, 5 + (double)(i % 7), NULL, 0);
    memcpy(&before, &s, sizeof s);
    double sc = step1(&s, &c, 200, 0, NULL, 0);
    assert_true(sc >= 0);
    assert_memory_equal(&s.ch, &before.ch, sizeof s.ch);
    assert_memory_equal(&s.tail, &before.tail,
                        sizeof s.tail[0] * (DETECT_NKINDS + DETECT_COMBINE_OWN));
    assert_true(s.idle_seen && !before.idle_seen);
}

/* The activity stream's running fractions, by hand: running, idle, idle. fast (duty_alpha
 * 0.1): 1, 0.9, 0.81; slow (weights 1/(n+1) while above alpha: 1/2, 1/3): 1, 0.5, 1/3. */
static void test_activity_fractions(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    static detect_combine_state s;
    detect_combine_init(&s, &c, 1);
    step1(&s, &c, 0, 5, NULL, 0);
    assert_near(s.duty_fast, 1, 0);
    assert_near(s.duty_slow, 1, 0);
    assert_int_equal(s.idle_seen, 0);
    step1(&s, &c, 1, 0, NULL, 0);
    assert_near(s.duty_fast, 0.9, 1e-15);
    assert_near(s.duty_slow, 0.5, 1e-15);
    step1(&s, &c, 2, 0, NULL, 0);
    assert_near(s.duty_fast, 0.81, 1e-15);
    assert_near(s.duty_slow, 1.0 / 3, 1e-15);
    assert_int_equal(s.idle_seen, 1);
    assert_int_equal(s.act_n, 3);
}

/* A key that never rests scores exactly as with the activity stream off. */
static void test_activity_abstains_without_idle(void **state)
{
    (void)state;
    detect_combine_cfg c, off;
    detect_combine_cfg_default(&c);
    off = c;
    off.duty_alpha = 0;
    static detect_combine_state a, b;
    detect_combine_init(&a, &c, 1);
    detect_combine_init(&b, &off, 1);
    rng r;
    rng_seed(&r, 5, 1);
    for (int64_t i = 0; i < 1500; i++) {
        double x = 50 + rng_normal(&r) + (i == 1200 ? 20 : 0);
        double sa = step1(&a, &c, i, x, NULL, 0), sb = step1(&b, &off, i, x, NULL, 0);
        if (sa != sb)
            fail_msg("point %lld: %.17g with the stream, %.17g without", (long long)i, sa, sb);
    }
    assert_true(a.last_L > 0);
}

/* A sparse key (one running point of 20 every 50, else 0) whose running points come five
 * times as often for a while: no value is unusual, only the activity is. With the activity
 * stream the burst scores high; without it, not. The hold counts down over idle points. */
static void test_activity_burst(void **state)
{
    (void)state;
    detect_combine_cfg c, off;
    detect_combine_cfg_default(&c);
    off = c;
    off.duty_alpha = 0;
    static detect_combine_state a, b;
    detect_combine_init(&a, &c, 1);
    detect_combine_init(&b, &off, 1);
    double quiet = 0, burst_a = 0, burst_b = 0;
    int64_t i = 0;
    for (; i < 4000; i++) {
        double x = i % 50 == 0 ? 20 : 0;
        double sa = step1(&a, &c, i, x, NULL, 0);
        step1(&b, &off, i, x, NULL, 0);
        if (i >= 2500 && sa > quiet) quiet = sa;
    }
    for (int j = 0; j < 40; j++, i++) {
        double x = j % 10 == 0 ? 20 : 0;
        double sa = step1(&a, &c, i, x, NULL, 0), sb = step1(&b, &off, i, x, NULL, 0);
        if (sa > burst_a) burst_a = sa;
        if (sb > burst_b) burst_b = sb;
    }
    assert_true(quiet < 0.3);
    assert_true(burst_a > 0.5);
    assert_true(burst_b < 0.1);
    a.hold_left = 5;
    step1(&a, &c, i, 0, NULL, 0);
    assert_int_equal(a.hold_left, 4);
}

/* A detector's z counts only where the detector sets a level; a disabled detector not at all. */
static void test_detector_gating(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    c.hold = 0;
    c.record_factor = 1;
    static detect_combine_state a, b;
    static detect_out out[DETECT_NKINDS];
    unsigned en = 1u << DETECT_ROBUST;
    detect_combine_init(&a, &c, 1);
    for (int64_t i = 0; i < 500; i++) {
        out[DETECT_ROBUST].z[0] = (double)(i % 5) * 0.5; /* ordinary z, no level */
        step1(&a, &c, i, 10 + (double)(i % 3), out, en);
    }
    memcpy(&b, &a, sizeof a);
    out[DETECT_ROBUST].z[0] = 40;
    double quiet = step1(&a, &c, 500, 11, out, en);      /* a large z without a level */
    out[DETECT_ROBUST].level[0] = DETECT_ERROR;
    double loud = step1(&b, &c, 500, 11, out, en);       /* the same z with one */
    double off = step1(&a, &c, 501, 11, out, 0);          /* disabled: ignored */
    assert_true(quiet < 0.3);
    assert_true(loud > 0.6);
    assert_true(off < 0.3);
}

/* In the step, a single loud stream counts at least as Bonferroni says: robust's z of 40 with
 * an ERROR on a point the combiner's five own streams find ordinary gives L >= -log10(6 p),
 * p = robust's tail probability of 40 (m = 6 streams). */
static void test_single_stream_not_diluted(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    c.hold = 0;
    c.record_factor = 1;
    static detect_combine_state a;
    static detect_out out[DETECT_NKINDS];
    unsigned en = 1u << DETECT_ROBUST;
    detect_combine_init(&a, &c, 1);
    for (int64_t i = 0; i < 500; i++) {
        out[DETECT_ROBUST].z[0] = (double)(i % 5);
        out[DETECT_ROBUST].level[0] = i % 50 == 0 ? DETECT_ALERT : DETECT_NONE;
        step1(&a, &c, i, 10 + (double)(i % 3), out, en);
    }
    double p = detect_combine_tail_p(&a.tail[DETECT_ROBUST], &c, 40);
    assert_true(p > 0 && p < 1e-3);
    out[DETECT_ROBUST].z[0] = 40;
    out[DETECT_ROBUST].level[0] = DETECT_ERROR;
    step1(&a, &c, 500, 11, out, en);
    assert_true(a.last_L >= -log10(6 * p) - 1e-9);
}

/* The step stream: an oscillation (+-2 around the level, every value inside the noise's range:
 * the onset of grok_asg_anomaly's first NAB window) scores higher with the stream than without
 * it (by 0.12 here: its tail learns the new steps within some ten points, so it marks an onset;
 * hold and record of L off, to compare the evidence); one spike of 30 sigma moves its fast mean
 * by at most step_alpha x step_clip = 0.15 of the long one (steps clipped at 3 long means). */
static void test_step_stream(void **state)
{
    (void)state;
    double during_max[2];
    for (int on = 0; on < 2; on++) {
        detect_combine_cfg c;
        detect_combine_cfg_default(&c);
        c.hold = 0;
        c.record_factor = 1;
        c.phase_factor = 1;
        if (!on) c.step_alpha = 0;
        static detect_combine_state s;
        detect_combine_init(&s, &c, 1);
        rng r;
        rng_seed(&r, 5, 1);
        double during = 0;
        int64_t i = 0;
        for (; i < 3000; i++) step1(&s, &c, i, 100 + rng_normal(&r), NULL, 0);
        for (int j = 0; j < 60; j++, i++) {
            double sc = step1(&s, &c, i, 100 + (j % 2 ? 2 : -2) + 0.3 * rng_normal(&r), NULL, 0);
            if (sc > during) during = sc;
        }
        during_max[on] = during;
        if (on) assert_true(s.ch[0].d_fast > 1.8 * s.ch[0].d_slow);
    }
    assert_true(during_max[1] > during_max[0] + 0.1);

    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    static detect_combine_state s;
    detect_combine_init(&s, &c, 1);
    rng r;
    rng_seed(&r, 6, 1);
    int64_t i = 0;
    for (; i < 3000; i++) step1(&s, &c, i, 100 + rng_normal(&r), NULL, 0);
    double f0 = s.ch[0].d_fast, s0 = s.ch[0].d_slow;
    step1(&s, &c, i, 130, NULL, 0);
    /* fast' - fast = step_alpha (min(d, step_clip slow) - fast) <= step_alpha step_clip slow
     * (unclipped: 0.05 x 29 = 1.45 against 0.17) */
    assert_true(s.ch[0].d_fast - f0 <= c.step_alpha * c.step_clip * s0 + 1e-12);
    assert_true(s.ch[0].d_fast - f0 > 0);
}

/* The day-phase record: a spike at 10:00 every day is damped (L times phase_factor) from the
 * third day on, when two earlier days reached that L around that hour; a spike of the same
 * size at 16:00, an hour that never had one, is not. Compared with the record off on the same
 * series (the record changes no history, only the point's L; hold and record of L off). */
static void test_phase_record(void **state)
{
    (void)state;
    detect_combine_cfg c[2];
    static detect_combine_state s[2];
    for (int k = 0; k < 2; k++) {
        detect_combine_cfg_default(&c[k]);
        c[k].hold = 0;
        c[k].record_factor = 1;
        detect_combine_init(&s[k], &c[k], 1);
    }
    c[1].phase_factor = 1; /* off */
    rng r;
    rng_seed(&r, 7, 1);
    double L10[2] = {0}, L16[2] = {0};
    for (int64_t i = 0; i < 4 * 1440; i++) {
        int64_t day = i / 1440, minute = i % 1440;
        double x = 100 + rng_normal(&r);
        if (minute == 600) x = 120;                /* 10:00 every day */
        if (day == 3 && minute == 960) x = 120;    /* 16:00 on the fourth day only */
        for (int k = 0; k < 2; k++) {
            step1(&s[k], &c[k], i, x, NULL, 0);
            if (day == 3 && minute == 600) L10[k] = s[k].last_L;
            if (day == 3 && minute == 960) L16[k] = s[k].last_L;
        }
    }
    assert_true(L10[1] > 2); /* a spike the score sees */
    assert_true(c[0].phase_factor < 1);
    assert_near(L10[0], c[0].phase_factor * L10[1], 1e-9);
    assert_true(L16[1] > 2);
    assert_near(L16[0], L16[1], 1e-12);
}

/* --set NAME=NUMBER: known settings take their value, whole-number ones refuse fractions, and
 * an unknown name or a missing number is an error that names the assignment. */
static void test_cfg_set(void **state)
{
    (void)state;
    detect_combine_cfg c;
    detect_combine_cfg_default(&c);
    char err[128];
    assert_int_equal(detect_combine_cfg_set(&c, "hold=250", err, sizeof err), 0);
    assert_int_equal(c.hold, 250);
    assert_int_equal(detect_combine_cfg_set(&c, "alarm_L=2.5", err, sizeof err), 0);
    assert_true(c.alarm_L == 2.5);
    assert_int_equal(detect_combine_cfg_set(&c, "hold=1.5", err, sizeof err), -1);
    assert_non_null(strstr(err, "hold=1.5"));
    assert_int_equal(c.hold, 250);
    assert_int_equal(detect_combine_cfg_set(&c, "holdx=1", err, sizeof err), -1);
    assert_non_null(strstr(err, "no such combiner setting"));
    assert_int_equal(detect_combine_cfg_set(&c, "hol=1", err, sizeof err), -1);
    assert_int_equal(detect_combine_cfg_set(&c, "alpha=", err, sizeof err), -1);
    assert_int_equal(detect_combine_cfg_set(&c, "alpha=0.1x", err, sizeof err), -1);
    assert_int_equal(detect_combine_cfg_set(&c, "alpha", err, sizeof err), -1);
    assert_non_null(strstr(err, "NAME=NUMBER"));
    assert_int_equal(detect_combine_cfg_set(&c, "alpha=nan", err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_empty),
        cmocka_unit_test(test_tail_body_and_tail),
        cmocka_unit_test(test_tail_mean_excess),
        cmocka_unit_test(test_tail_decay),
        cmocka_unit_test(test_fisher),
        cmocka_unit_test(test_joint),
        cmocka_unit_test(test_score_map),
        cmocka_unit_test(test_spike_and_hold),
        cmocka_unit_test(test_idle_not_learnt),
        cmocka_unit_test(test_activity_fractions),
        cmocka_unit_test(test_activity_abstains_without_idle),
        cmocka_unit_test(test_activity_burst),
        cmocka_unit_test(test_detector_gating),
        cmocka_unit_test(test_single_stream_not_diluted),
        cmocka_unit_test(test_step_stream),
        cmocka_unit_test(test_phase_record),
        cmocka_unit_test(test_cfg_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
