/* detect_cusum: EWMA forecast and CUSUMs per channel, for shifts in level and in spread (see
 * detect.h for the whole pipeline).
 *
 * Per channel: an EWMA level m (the one-step forecast), a running scale s of the forecast's
 * residuals (the root of an EWMA of squared residuals, each capped at winsor = 5 scales so one
 * outlier cannot inflate it; an RMS rather than a MAD because running robot currents are
 * heavy-tailed, and a MAD-based scale made every ordinary peak a 10-sigma event: 330 false
 * episodes in 10 robot-days instead of 13), and three CUSUMs of the standardized residual
 * r = (x - m) / s:
 *   level   S+ = max(0, S+ + min(r, clip) - k),  S- = max(0, S- - max(r, -clip) - k)
 *           k = 1: tuned to a shift of 2 scales (2k), the simulator's plateaus (2-6 sigma of
 *           the axis); clip = 2 (a Huber CUSUM): one point adds at most clip - k = 1, so no
 *           single heavy-tailed peak moves it far, and h = 16 needs 16 points of a
 *           sustained shift. For independent Gaussian residuals h = 8 would already give an
 *           in-control run length above 10^7 points per side (Siegmund's approximation), but
 *           the robots' residuals are neither: the motion program's moves (about 4 s, two
 *           samples) make them autocorrelated (lag-1 0.2-0.5) and heavy-tailed. With h = 8,
 *           cusum made 120 of the 122 false-alarm episodes on 20 robots x 48 h (seed 7, the
 *           default faults) and found no fault that the other detectors missed (without
 *           cusum every F1 was >= 0.999); h = 16 halves them (66 on seed 7, 49 on seed 11)
 *           and leaves NAB as it was (70.5-71.1 for h from 10 to 24). Scaling h by the
 *           channel's own estimated lag-1 autocorrelation ((1 + rho) / (1 - rho)) was tried:
 *           20 false alarms, but NAB fell to 68.2, its series being strongly autocorrelated
 *           and their labelled shifts exactly what the scaling hides.
 *   spread  Sv = max(0, Sv + [|r| > spread_r] - pex - spread_k): a Bernoulli CUSUM of
 *           exceedances over their own running base rate pex (an EWMA), spread_r = 1.5,
 *           spread_k = 0.25, decision interval spread_h = 5 (most of the remaining false
 *           alarms are this CUSUM's: spread_h = 8 leaves 19 on seed 7, but NAB falls to
 *           69.9, so it stays): noise three times as wide lifts
 *           the exceedance rate from about 0.13 to 0.62 and calls it in about 20 points
 *           (twice as wide: 0.45, about 70 points; the simulator's noise faults add 1.5-3
 *           sigma of the axis). A CUSUM
 *           of r^2 was tried first: heavy tails made it fire all the time (2,400 false alarms
 *           in 10 robot-days). A level shift raises it too, which is right: it is a change of
 *           the residuals' spread around the forecast.
 * cu = max(S+, S-, Sv h / spread_h) (the spread CUSUM in units of h).
 *
 * Levels: ALERT while cu >= h, ERROR when cu >= 2h (a shift twice as large or lasting twice as
 * long). Then the channel resets: the CUSUMs restart and the level becomes the mean of the
 * points since the alarming CUSUM last stood at 0 (its estimate of the shifted segment), so
 * a lasting new level is learnt at once and only a new change alarms again. While a level
 * CUSUM is past h / 2, the level, the scale and pex wait: a shift in progress is not learnt
 * away before it is called. (Resetting at ALERT to the point's value was tried: on the
 * robots a long move ends in a second, opposite alarm.)
 * The statistic z = max(|r|, 3 cu / h): sigma-like, 3 at the ALERT line and 6 at the ERROR
 * line, and never below the point's own standardized residual.
 *
 * State-awareness (zero-inflated robots): a point where every channel is exactly 0 (ctx->idle:
 * the robot rests) neither moves the estimates nor the CUSUMs and gets z = 0, so the forecast
 * and scale describe the running robot and an idle/running switch is no shift. A point that
 * is late or a duplicate (ctx->dt_s <= 0 after the first) is scored but does not update. No
 * level before a channel has `warmup` = 100 running points (about 3 minutes of a running
 * robot): a heavy-tailed scale needs them (with 30, a third of the false alarms came in the
 * first ten minutes).
 *
 * alpha = 0.05 (a 20-point memory: the level follows a slowly moving series while a shift
 * of a few points stands out), scale_alpha = 0.01 (100 points: a steadier scale than level).
 * Measured (10 simulated robots x 24 h, --detector cusum, at h = 8): 13 episodes on clean
 * data; with the default faults half the plateaus found, precision 0.52. At h = 16, the full
 * pipeline on 20 robots x 48 h with the default faults: 75 cusum episodes, 66 of them false
 * alarms (seed 7; seed 11: 58 and 49), against 166 and 120 at h = 8; NAB development split
 * with cusum alone 73.1. Spikes are left to robust and regress; cusum is the shift detector.
 * State: 10 doubles and 3 counters per channel, 1,288 bytes at 16 channels. */
#ifndef PGPULSE_DETECT_CUSUM_H
#define PGPULSE_DETECT_CUSUM_H

#include "detect_core.h"

typedef struct detect_cusum_cfg {
    double alpha;       /* EWMA weight of the level forecast (0.05) */
    double scale_alpha; /* EWMA weight of the residual scale (0.01) */
    double k;           /* level CUSUM allowance, in scales (1) */
    double spread_k;    /* spread CUSUM allowance over the exceedance base rate (0.25) */
    double h;           /* CUSUM decision interval: ALERT at h, ERROR at 2h (16) */
    double clip;        /* residuals are clipped at this many scales in the level CUSUM (2) */
    double spread_r;    /* |r| beyond this is an exceedance for the spread CUSUM (1.5) */
    double spread_h;    /* spread CUSUM decision interval: ALERT at it, ERROR at twice (5) */
    double winsor;      /* squared residuals are capped at this many scales in the scale (5) */
    int warmup;         /* running points of a channel before it sets levels (100) */
    double rel_floor;   /* smallest scale relative to |m| (1e-3) */
    double abs_floor;   /* smallest scale (1e-9) */
} detect_cusum_cfg;

/* One channel. */
typedef struct detect_cusum_ch {
    double m;          /* EWMA level: the forecast of the next point */
    double ms;         /* EWMA of the squared residual (winsorized): the scale squared */
    double sp;         /* upper level CUSUM, in scales */
    double sn;         /* lower level CUSUM, in scales */
    double sv;         /* spread CUSUM (exceedances) */
    double pex;        /* EWMA of exceedances: their base rate */
    double up_sum;     /* sum of the points since sp was last 0 */
    double dn_sum;     /* and since sn was */
    int32_t up_n;      /* their counts */
    int32_t dn_n;
    int64_t n;         /* running points taken */
} detect_cusum_ch;

/* Plain data, fixed size: no pointers. */
typedef struct detect_cusum_state {
    int32_t nch;
    int32_t pad;
    detect_cusum_ch ch[DETECT_MAX_CH];
} detect_cusum_state;

/* The defaults above. */
void detect_cusum_cfg_default(detect_cusum_cfg *c);

/* Initialises s for nch channels (1..DETECT_MAX_CH). */
void detect_cusum_init(detect_cusum_state *s, const detect_cusum_cfg *c, int nch);

/* Takes the point x[0..ctx->nch-1] and writes o: z and level per channel (multi stays 0), then
 * updates each channel's forecast, scale and CUSUM (unless the point is idle, late or a
 * duplicate). No allocation. */
void detect_cusum_step(detect_cusum_state *s, const detect_cusum_cfg *c, const detect_ctx *ctx,
                       const double *x, detect_out *o);

#endif
