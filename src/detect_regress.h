/* detect_regress: the workshop's rule done right. The workshop fitted one least-squares line
 * of each axis against time over a whole file (R^2 about 0: a robot's current is not a function
 * of the clock), took 2 and 4 sigma of its residuals as ALERT and ERROR, and flagged points one
 * at a time. This detector keeps the rule — a regression, residual sigma, 2 and 4 sigma — and
 * fixes what broke it:
 *
 * Duty state. An idle point (every channel exactly 0, ctx->idle) is predicted exactly (0): it
 *   gets z 0, no level, and does not touch the model; the regression and its sigma are of the
 *   running points only, so the idle zeros (two thirds of a robot's rows) no longer inflate
 *   sigma and bend the fit.
 * What explains current. Each channel is regressed, online, on the other channels at the same
 *   instant (a robot's axes move together: the motion program correlates them), on time (a
 *   local linear trend) and on the phase of the current run (ctx->run_start_us: two Fourier
 *   harmonics of time-since-start over the program's length, which is learnt as the mean
 *   length of the runs seen). All channels share one exponentially weighted mean vector and
 *   covariance matrix of v = (x_1..x_nch, cos, sin, cos2, sin2, t): its inverse, the precision
 *   Theta, holds every channel's regression at once — the residual of channel a on all the rest
 *   is (Theta (v - mean))_a / Theta_aa. Theta is refreshed (Cholesky, with a small ridge) every
 *   `refresh` running points, so a point costs O(d^2) for the moment update and O(nch d) for
 *   the residuals (d = nch + 5). On the simulator the other axes explain most of what can be
 *   explained: with them the rule below finds 68 % of the injected plateaus, each axis on its
 *   own 41 %, at the same false-alarm rate. The phase explains little there (a robot cycles
 *   through 12 program variants, so a phase's level changes from run to run: the same 68 %
 *   without the phase terms), but it is what explains a robot with one program.
 * Robust fitting. The residual sigma is an exponentially weighted mean of squared residuals
 *   winsorised at `clip` sigma (divided by the Gaussian expectation of that, so it is unbiased
 *   when nothing is wrong), and the moments are updated with the channel values winsorised to
 *   the prediction +- clip sigma: a 45-row plateau moves sigma by under 10 % and the fit by
 *   under 0.1 sigma. When channels are beyond the ERROR threshold, the furthest (for a single
 *   faulty channel, the largest standardised residual points at it) is replaced by its
 *   prediction in the others' regressions, so one faulty axis does not drag its neighbours
 *   over the line. (With two channels a broken relation cannot say which side broke.)
 * Scale. Currents are skewed and multiplicative (5 % relative noise; an axis's 99th percentile
 *   can be 25 times its median), so each channel is regressed as asinh(x / scale), scale its
 *   mean |x| over the first `scale_points` running points: logarithmic for large values,
 *   linear near 0, finite for 0 and negatives. On raw currents 1.7 % of clean residuals lie
 *   beyond 4 sigma and 0.28 % beyond 8; after the transform 0.55 % and 0.03 %, and 5.1 %
 *   beyond 2 sigma (Gaussian: 4.6 %).
 * Sustained. A point's z = |residual| / sigma. A level needs its threshold (2 sigma ALERT,
 *   4 sigma ERROR) exceeded for a minimum duration counted in median sampling intervals
 *   (ctx->median_dt_s), so that it means the same time at any sampling rate: the excess must
 *   hold for `alert_intervals` (10) rows in a row for ALERT, `error_intervals` (10) for ERROR,
 *   spaced on average at least half a median interval apart (so that a burst of rows packed
 *   closer than the usual rate, duplicates or a catch-up after a stall, does not pass for
 *   time), and an idle row ends it (a robot at rest is not a fault). Why 10 (about 19 s at the
 *   workshop robot's 1.9 s): residuals within one run of the program are correlated (the
 *   robot cycles through program variants, and a variant unlike the last shifts a whole run),
 *   so 2-sigma excesses come in runs; measured on the simulator without faults (20 robots,
 *   48 h, 590,000 running rows), false episodes fall from 4,400 at 3 rows to 1,100 at 4, 130 at
 *   6, 21 at 8 and 1 at 10, while the share of injected plateaus found (15-45 rows each) goes
 *   from 0.82 to 0.80, 0.79, 0.73 and 0.68. At 10 false episodes are rare (1 and 0 on two
 *   seeds, 960 robot-hours each) and the plateaus' F1 is the highest (0.81 against 0.78 at
 *   8, whose 21 false episodes cost more precision than its plateaus add). A spike (one
 *   row) is never sustained: the robust detector's job.
 * Warm-up. No level before `warmup` running points (z is reported from the start).
 *
 * State per key (plain data, fixed size): at DETECT_MAX_CH = 16, d = 21 — the packed
 * covariance (231 doubles), the mean (21), the precision's channel rows (16 x 21), per channel
 * scale, sigma and run counters: 5.4 KB. */
#ifndef PGPULSE_DETECT_REGRESS_H
#define PGPULSE_DETECT_REGRESS_H

#include "detect_core.h"

#define DETECT_REGRESS_NEXTRA 5 /* cos, sin, cos2, sin2, t */
#define DETECT_REGRESS_MAXD (DETECT_MAX_CH + DETECT_REGRESS_NEXTRA)
#define DETECT_REGRESS_PACKED (DETECT_REGRESS_MAXD * (DETECT_REGRESS_MAXD + 1) / 2)

typedef struct detect_regress_cfg {
    double alert_z;         /* ALERT threshold, sigma (2) */
    double error_z;         /* ERROR threshold, sigma (4) */
    int alert_intervals;    /* rows (median intervals) an ALERT excess must last (10) */
    int error_intervals;    /* and an ERROR excess (10) */
    double half_life;       /* running points for the moments' weight to halve (1000) */
    double sigma_half_life; /* the same for the residual sigma (500) */
    double clip;            /* winsorising of updates, sigma (2.5) */
    double ridge;           /* added to the covariance's diagonal, relative (1e-3) */
    int refresh;            /* running points between two refreshes of the precision (64) */
    int warmup;             /* running points before any level (300) */
    int use_channels;       /* regress each channel on the others (1) */
    int use_phase;          /* on the run phase (1) */
    int use_time;           /* on time (1) */
    int transform;          /* regress asinh(x / scale) rather than x (1) */
    int scale_points;       /* running points that set the scales (50) */
} detect_regress_cfg;

/* Per channel. */
typedef struct detect_regress_ch {
    double var;          /* residual variance (winsorised EW mean of squares) */
    int64_t run_n_a;     /* rows of the current 2-sigma excess */
    int64_t run_n_e;     /* and of the 4-sigma one */
    int64_t run_first_a; /* time of the first row of the 2-sigma excess (µs) */
    int64_t run_first_e; /* and of the 4-sigma one */
} detect_regress_ch;

/* Plain data, fixed size: no pointers. */
typedef struct detect_regress_state {
    int32_t nch;
    int32_t d;                                       /* nch + DETECT_REGRESS_NEXTRA */
    int64_t nrun;                                    /* running points seen */
    int64_t since_refresh;                           /* running points since the refresh */
    int64_t t0_us;                                   /* time origin of the t feature */
    int64_t cur_run_start;                           /* run_start_us of the run under way */
    int64_t cur_run_last;                            /* newest time of that run */
    double run_len_s;                                /* mean length of a run (0: none yet) */
    double alpha_m;                                  /* the moments' weight (from cfg) */
    double alpha_s;                                  /* the sigmas' weight (from cfg) */
    double clip_factor;                              /* E[min(z^2, clip^2)], z normal */
    int64_t nscale;                                  /* running points in the scales */
    double scale[DETECT_MAX_CH];                     /* per channel: mean |x| of those */
    double mean[DETECT_REGRESS_MAXD];                /* EW mean of v */
    double cov[DETECT_REGRESS_PACKED];               /* EW covariance of v, packed upper */
    double prec[DETECT_MAX_CH][DETECT_REGRESS_MAXD]; /* precision rows of the channels */
    int32_t have_prec;                               /* prec is valid */
    int32_t pad;                                     /* (alignment) */
    detect_regress_ch ch[DETECT_MAX_CH];
} detect_regress_state;

/* What the detector expects of a point, per channel: its prediction and residual sigma in the
 * units it regresses in (asinh(x / scale) with the transform) — kept as is at every point, and
 * turned into the channel's own units by detect_regress_band_units only where it is shown.
 * NaN where it expects nothing: an idle point (predicted exactly), before the scales are known,
 * before the warm-up. */
typedef struct detect_band {
    double pred[DETECT_MAX_CH];
    double sd[DETECT_MAX_CH];
} detect_band;

/* Channel a of band b (made by s under c) in the channel's own units: the prediction and the
 * sigma of the dashboard's band, pred ± 2 and ± 4 sigma (detect_band in the database). With the
 * transform the sigma is the linearisation at the prediction (scale * cosh(pred_t) * sigma_t):
 * exact for small sigmas, a skewed band (wider above than below) drawn symmetric. NaN when b
 * has nothing for a. */
void detect_regress_band_units(const detect_regress_state *s, const detect_regress_cfg *c,
                               const detect_band *b, int a, double *pred, double *sd);

/* The defaults listed beside the fields above. */
void detect_regress_cfg_default(detect_regress_cfg *c);

/* Initialises s for nch channels (1..DETECT_MAX_CH). */
void detect_regress_init(detect_regress_state *s, const detect_regress_cfg *c, int nch);

/* Takes the point x[0..ctx->nch-1] and writes o: per channel z = |residual| / sigma and the
 * level by the sustained rule above; multi is left 0. No allocation. */
void detect_regress_step(detect_regress_state *s, const detect_regress_cfg *c,
                         const detect_ctx *ctx, const double *x, detect_out *o);

/* detect_regress_step, also writing the point's expected band into *band. */
void detect_regress_step_band(detect_regress_state *s, const detect_regress_cfg *c,
                              const detect_ctx *ctx, const double *x, detect_out *o,
                              detect_band *band);

#endif
