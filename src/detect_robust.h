/* detect_robust: state-aware robust z scores from streaming quantiles (see detect.h for the
 * whole pipeline).
 *
 * Per channel and duty state — `running` (some other channel is non-zero, or the key has one
 * channel) and `rest` (every other channel is exactly 0: the machine idles) — four streaming
 * quantile estimates: the median, the MAD (median of |x - median|), and a low and a high tail
 * quantile (tail_q and 1 - tail_q). Each is a stochastic-approximation quantile (Robbins-Monro:
 * a step toward the point of lr times the current scale, weighted tau / 1 - tau), so memory is
 * fixed, each point costs O(1), the result is deterministic, and an outlier moves an estimate
 * by one bounded step however far out it lies. Steps start at 2 / (n + 2) scales and fall to
 * lr; the first 1 / tail_q points of a state set the tails to their minimum and maximum
 * (which is where those quantiles lie for that many points), so the estimates settle within
 * the warm-up. When the tails turn to quantile steps they start from the second lowest and
 * second highest values: one outlier among the first 1 / tail_q points (a spike before or
 * after the warm-up ended) would otherwise stay the tail for days, as a step down from it is
 * lr tail_q of a scale — on the simulator (seed 11) a robot's axis whose first hours held a
 * spike 3 times its largest current missed its next five spikes of that size (seed 23 heavy,
 * the unit test: 148 of 172 spikes found before, 171 after). Also keeping the points flagged
 * at ERROR out of the extremes found no more spikes there and cost 0.9 on NAB (75.5 against
 * 76.2), so it was left out.
 *
 * The statistic: z = (x - median) / s_up above the median, (median - x) / s_down below, where
 *   s_up   = max(1.4826 MAD, (q_high - median) / Phi^-1(1 - tail_q), floor)
 *   s_down = max(1.4826 MAD, (median - q_low) / Phi^-1(1 - tail_q), floor)
 * i.e. a robust z whose scale also covers the tail on that side: currents are zero-inflated
 * and skewed (a long upper tail, a hard floor at 0), and the MAD of the body alone would put
 * ordinary peaks at z 30 and more. floor = max(abs_floor, rel_floor |median|) and, in the rest
 * state (whose values are all exactly 0 on clean data), the running state's scale of the
 * channel: a value at rest is measured in the channel's working units.
 *
 * Levels: ERROR when z >= error_z on one point; ALERT when z >= alert_z on `persist` points of
 * the channel in a row. No level before the state has `warmup` points (the rest state also
 * needs a warm running state). Every point updates the estimates: a step is bounded, so
 * an outlier barely moves them, and a lasting new level is learnt — ten times as fast once
 * the channel has been at alert_z or beyond for relearn_after points in a row.
 *
 * Defaults, from the simulator (bench/detect/simscore.py; clean and faulty fleets, seeds 7
 * and 11): with the q99.9 tail the largest ordinary z over 2 days of 20 robots is about 4.3,
 * so ERROR at 4.5 costs about one false episode per 40 robot-days; ALERT at 3.5 sustained over
 * 3 points finds offsets that one point would not show, with no false episode seen. The
 * warm-up of 400 points ends before the tails are set by quantile steps alone (1 / tail_q
 * points): until then they are the state's extremes so far, a little inside q0.1 and q99.9,
 * so z runs a little high; no false episode came of it on those seeds. */
#ifndef PGPULSE_DETECT_ROBUST_H
#define PGPULSE_DETECT_ROBUST_H

#include "detect_core.h"

#define DETECT_ROBUST_RUNNING 0
#define DETECT_ROBUST_REST 1
#define DETECT_ROBUST_NSTATES 2

typedef struct detect_robust_cfg {
    double alert_z;   /* ALERT threshold, sustained (3.5) */
    int persist;      /* points in a row at or above alert_z for ALERT (3) */
    double error_z;   /* ERROR threshold, one point (4.5) */
    int warmup;       /* points of a state before it sets levels (400; seeds 7 and 11:
                         with 1000, 17 of 310 spikes were missed, 9 of them in the warm-up;
                         with 400, 11, and no false episode more; 200 adds 7, 150 13) */
    double lr;        /* step of the quantile estimates, in scales (0.01) */
    double tail_q;    /* tail quantile of the scale (0.001: q0.1 and q99.9, Phi^-1 3.09) */
    double abs_floor; /* smallest scale (1e-6) */
    double rel_floor; /* smallest scale relative to |median| (0.01) */
    int relearn_after;/* points in a row at or above alert_z after which the channel's
                         estimates learn at 10 lr: a new level, not an outlier (30; 0: never) */
} detect_robust_cfg;

/* One channel in one duty state. */
typedef struct detect_robust_est {
    double med;   /* median estimate */
    double mad;   /* median absolute deviation estimate */
    double lo;    /* tail_q quantile estimate */
    double hi;    /* 1 - tail_q quantile estimate */
    double lo2;   /* while the tails are the extremes: the second lowest value so far */
    double hi2;   /* and the second highest */
    int64_t n;    /* points taken */
} detect_robust_est;

/* Plain data, fixed size: no pointers. 2 states x 16 channels x 56 bytes + counters. */
typedef struct detect_robust_state {
    int32_t nch;
    int32_t over[DETECT_MAX_CH];  /* points in a row at or above alert_z, per channel */
    detect_robust_est est[DETECT_ROBUST_NSTATES][DETECT_MAX_CH];
} detect_robust_state;

/* The defaults above. */
void detect_robust_cfg_default(detect_robust_cfg *c);

/* Initialises s for nch channels (1..DETECT_MAX_CH). */
void detect_robust_init(detect_robust_state *s, const detect_robust_cfg *c, int nch);

/* Takes the point x[0..ctx->nch-1] and writes o: z and level per channel (multi stays 0), then
 * updates the estimates of each channel's state. No allocation. */
void detect_robust_step(detect_robust_state *s, const detect_robust_cfg *c, const detect_ctx *ctx,
                        const double *x, detect_out *o);

/* The scale above (up != 0) or below the median of estimate e, before the rest state's floor:
 * exposed for tests and for other detectors. */
double detect_robust_scale(const detect_robust_est *e, const detect_robust_cfg *c, int up);

#endif
