/* detect_combine: turns the detectors' statistics into a calibrated anomaly_score in 0..1 (see
 * detect.h for the whole pipeline).
 *
 * What "calibrated" means here: the score is a fixed, monotone map of a tail probability p,
 * the chance that this key's own history shows evidence at least as strong as the current
 * point's:
 *     score = L / (L + score_L),   L = -log10 p      (p = 10^(-score_L score / (1 - score)))
 * With score_L = 3, 0.5 means "one point in a thousand of this key is as unusual", 0.667 one
 * in a million; the same score means the same rarity on every key and series, which is what
 * lets one threshold serve a whole fleet (or NAB's one threshold over its corpus). The log map
 * keeps ranks apart where 1 - p would round to 1 (the replay writes nine decimals).
 *
 * Evidence streams, each a number >= 0 per point:
 *   - per enabled detector: the largest z over its channels and its multi_z, counted only
 *     where the detector sets a level (a detector's z below its own level line is what it
 *     sees on every ordinary point: ungated, that noise adds to every point's evidence and
 *     buries the real events; on NAB 48 instead of 60). For quality, only findings about
 *     the values count (stuck, negative, out of range, idle break): late, duplicate, gap
 *     and clock-jump findings are about the stream's timing, not the machine, and reach
 *     the operator through quality's own levels (NAB's duplicate timestamps cost 1.3
 *     points as anomalies);
 *   - the combiner's own, from the values, max over channels: the standardized residual of a
 *     slow EWMA forecast (own_alpha 0.01, 100 points: a level the fast cusum detector has
 *     already followed is still a departure from this one), that residual's CUSUM (k 0.5,
 *     reset at 8), range novelty (how far the value lies beyond the channel's running minimum
 *     and maximum, in tenths of that range) and the standardized residual from a profile by
 *     hour of day (UTC; 24 EWMA means and scales with a memory of tod_days = 2 days whatever
 *     the sampling rate, and of at least 1 / tod_alpha = 10 visits: a daily pattern is
 *     learnt in a few days and a break of it shows; on robots sampled every 2 s it is the
 *     last two days' level of each hour);
 *   - the combiner's activity stream, for keys that rest (a point where every channel is
 *     exactly 0 is idle, detect.h): the running fraction over about 1 / duty_alpha = 10
 *     points divided by the running fraction over about 1 / alpha = 2,000. A robot that
 *     starts and stops far more often than it does, or a sparse counter that fires in a
 *     burst, changes no value (every running value may be ordinary: NAB's
 *     art_increase_spike_density is spikes of one height coming five times as often) but
 *     changes this ratio. It is the one stream that learns from idle points too (every
 *     in-order point), and it is counted only once the key has had an idle point, so a key
 *     that never rests scores exactly as without it. On NAB +0.9 (72.0 against 71.1: the
 *     spike-density window caught at its middle, some FPs on the other zero-inflated
 *     series); duty_alpha 0.05: 72.1, 0.2: 70.5 (tuned on this split: a gain just above
 *     the noise). Tried and left out: the current idle run's length beyond the longest
 *     completed one (a stopped line; NAB's ec2_disk_write_bytes_c0d644 last window), as
 *     range novelty (a record-breaking run is a ramp its own history learns from), as
 *     p = exp(-(run - max) / mean run) / (runs + 1) at every idle point (the same ramp: 51
 *     false alarms on c0d644, 67.1), and that p reported once, where the run first passes the
 *     longest by a margin: 73.3 at a margin of 25 %, but 72.0 at 10 % and 71.9 at 50 % (one
 *     window caught near its end at one setting only: tuned to that window, so left out).
 *   - the step stream (issue 13), max over channels: the recent mean |step| (|x - previous
 *     running value|, EWMA over about 1 / step_alpha = 20 points) against the long one (memory
 *     1 / alpha), as 10 (fast / slow - 1), tenths above the long mean; steps are clipped at
 *     step_clip = 3 long means so a single spike's two steps move it little (an oscillation or
 *     a noisier regime starting, every value inside the range: NAB's grok_asg_anomaly, the
 *     variance bursts of ec2_cpu_utilization_53ea38). Rises only. NAB held-out protocol
 *     (bench/detect/nab_loco.py), with the day-phase record below: without this stream
 *     whole 73.59, held-out mean 76.13; with it 76.37, 79.69. Neighbours: step_alpha 0.04 /
 *     0.07: 74.19 / 77.85 and 73.36 / 74.75; step_clip 2.5 / 3.5: 76.28 / 79.52 and 76.14 /
 *     78.09 (a rough landscape: read the averages, not the best point). Tried and dropped:
 *     the log of the ratio (6 of the histogram's bins; 74.44 / 78.93, averaged over 12
 *     neighbours 73.1 / 77.5 against 73.4 / 78.0 for the ratio), unclipped steps (72.2-74.4 /
 *     74.8-76.5 over step_alpha 0.05-0.3), both directions (falls: a series going quiet, the
 *     lulls of fe7f93 and c0d644: 72.8 / 75.7), falls over a longer window (lull_alpha
 *     0.01-0.05: 73.1-73.6 / 74.5-76.4).
 * Each stream keeps a decayed histogram of its own history (64 bins on a sqrt scale, memory
 * 1/alpha = 2,000 points). p of a value in the body is the histogram's mass at or above it;
 * above the stream's tail_q = 0.98 quantile it is the peaks-over-threshold estimate
 * (Pickands; Siffer et al., SPOT, KDD 2017, with the exponential excess distribution):
 *     p = P(above threshold) exp(-(r - threshold) / mean excess)
 * which keeps ranking evidence beyond anything seen so far instead of saturating at 1/N.
 * The streams' p are joined by Fisher's method: -2 sum ln p is chi-square with 2m degrees of
 * freedom for m independent uniform p, so the joint p stays a probability, several streams
 * agreeing weigh more than one alone, and one stream that is often loud only raises its own
 * bar. m counts the own streams and the detectors that set a level on the point: a detector
 * without one abstains rather than diluting the others (on NAB, counting every enabled
 * detector always cost 1.2 points).
 * Fisher has a blind spot: one stream alone with strong evidence is diluted by the quiet ones
 * (p = 1e-5 among four streams gives a joint 3.3e-3), and the combiner's own streams are
 * always counted. So the joint evidence is the larger of Fisher's and Bonferroni's,
 * m min p (valid under any dependence between the streams): agreement is weighed by Fisher,
 * a single loud stream by Bonferroni (p = 1e-5 among four: 4e-5). Taking the smaller of two
 * valid p-values at most doubles the false-alarm rate of a threshold, which the score's map
 * absorbs. On NAB: 68.3 with Fisher alone, 71.1 with both (at cusum's h = 16; 70.5 at h = 8);
 * the anomaly the hour-of-day profile alone sees (art_daily_jumpsdown) is no longer lost.
 * Tried and left out: the harmonic mean p (63.8), the Cauchy combination (68.9), Bonferroni
 * alone (66.0), a second calibration of the joint L against its own history (63.6), a
 * short-window average of L (Numenta's likelihood; 65.8-69.8), a longer or threshold-keyed
 * hold, a linearly interpolated hour-of-day profile (65.9-69.2).
 *
 * Repeats: one event should give one high score, not a run of them while the forecasts adapt
 * (NAB, like an operator, counts only the first). Two rules: L counts in full only when it
 * reaches the recent record of L (a running maximum that decays by record_decay = 3 % a point,
 * a memory of about 30 points); below it, it is multiplied by record_factor (0.5). And after
 * a point whose L passes alarm_L (2, p < 0.01), L is multiplied by hold_factor (0.5) for the
 * next hold points (100), counted over every in-order point, idle or running (counted over
 * running points only, a hold on a key that is mostly idle lasted thousands of points: on
 * NAB's sparse series it swallowed the next event; alone this change costs 0.5 on NAB, with
 * the activity stream it is what lets that stream's alarms through). The record decays per
 * in-order point too.
 *
 * The day-phase record (issue 13): a daily rhythm is not news. Per key and per UTC hour of
 * the day (phase_bins 24), the largest joint L of each of the last 3 days; the rhythm's level
 * at a point is the second largest of those days' maxima over its hour and the neighbouring
 * ones (phase_span 1): L reached on two earlier days around this time. The joint L below
 * phase_margin = 1.3 times that level is multiplied by phase_factor (0.5), before the hold and
 * the record (so a damped point starts no hold). It changes no history. This is where a
 * seasonal explanation belongs: it cannot be an evidence stream (Fisher and Bonferroni only
 * add evidence), and it judges the joint evidence, not one channel's values. On NAB at a fixed
 * threshold it removes 13 false alarms on daily spikes (ec2_cpu_utilization_53ea38, c6585a,
 * 24ae8d, network_in_5abac7); in the protocol, with the step stream: without it whole 75.18,
 * held-out 80.06; with it 76.37, 79.69 (+1.2 / -0.4); before the step stream, at 48 bins of
 * 30 min: 72.75 / 76.83 against 71.99 / 75.65. Neighbours: 16 / 12 bins 76.13 / 79.59 and
 * 75.86 / 79.35; margin 1 / 1.6: 74.34 / 79.52 and 76.02 / 79.32; span 0 / 2: 74.67 / 79.79
 * and 75.77 / 79.30; factor 0.3 / 0.7: 76.37 / 79.69 and 76.28 / 79.64; one earlier day
 * enough (phase_need 1): 75.27 / 77.64. Tried and dropped: the largest L of any earlier day
 * at the phase, decayed 0.7 a day (69.35 / 67.20: one loud day damps the next).
 * Tried and dropped in issue 13 (with figures whole / held-out mean, the base 71.99 / 75.65 or
 * the stack of the time): a short-window mean of the joint L as one more stream (the
 * anomaly-likelihood idea; lik_alpha 0.1: 72.44 / 74.80, 0.05: 71.38 / 73.22), a long record of
 * L (decay 0.0005-0.005, margin 1-1.2: 65.7-72.2), the mean excess winsorised at 2-10 mean
 * excesses (66.3-73.8: a wide tail is what keeps heavy-tailed noise quiet), the hour profile's
 * scale floored at 0.25-1 x the slow residual's (68.8-71.6), the hour profile counted only
 * where it explains the values better than the slow level (71.7-72.8 / 71.3-75.3), an AR(1)
 * residual stream (71.3-72.8), Brown's method for the own streams' dependence (64.8-70.6),
 * Fisher's sum divided by 0.8-2 (66.9-74.1). The false alarms that remain are mostly single
 * points where the slow residual, its CUSUM, the hour residual and the step stream agree
 * moderately (L 1.5-3 each), which is also how most weak true detections look.
 * ARTime (markNZed/ARTimeNAB.jl) was read: it scales by the file's min and max and sets its
 * probation from the file's length, which a stream cannot; its prototype memory was not built.
 *
 * State-awareness: a point where every channel is exactly 0 (a robot at rest) is scored but
 * does not enter the histories of the values (only the activity stream's, the hold and the
 * record), nor does a late or duplicate point (not even those); so the value histories are
 * those of the running robot. No score before min_points (100) points of history: with fewer, one
 * point is already a 1 % tail, and on NAB the early false alarms cost more than the windows
 * right after the probation gain (2 points better than with 30).
 *
 * Measured (2026-11-23, the other detectors as they stood): NAB development split, standard
 * profile, one configuration for all files: 71.1 with every detector (68.3 before the
 * Bonferroni term); one detector at a time: regress 70.0, robust 70.8, cusum 73.1, quality
 * 70.9 and hst 70.9 (hst is off for one channel and quality finds nothing about NAB's values:
 * both are the combiner's own streams alone) (bench/detect/nab.sh). With the activity stream
 * and the hold over every in-order point (later the same day): 72.0 with every detector;
 * regress 71.1, robust 71.9, cusum 74.1, hst 72.3, quality 72.3. The simulator's figures
 * (seeds 7 and 11) do not move: the combiner sets no level.
 * Neighbouring settings move it by +-1.5 (hold 70 or 150: 69.8, 68.4; hold_factor 0.4: 69.3;
 * alarm_L 2.5: 68.8; tod_days 4: 69.6; own_alpha 0.02: 71.4), and by the same amount with
 * Fisher alone (averaged over those neighbours at h = 8, the Bonferroni term is worth about
 * +1.5), so the defaults were chosen by the reasons above, not by the last decimal.
 * Calibration (before the Bonferroni term, which makes high scores somewhat more common) on
 * 10 simulated robots x 24 h without faults, running points: score >= 0.4 / 0.5 / 0.667
 * (p 1e-2 / 1e-3 / 1e-6) on 6.2e-3 / 1.3e-3 / 9e-5 of them: close to nominal down to 1e-3; further out the streams'
 * dependence (Fisher assumes independence) makes high scores about 100 times too common.
 * Speed: about 160 ns a point plus 25 ns a channel (6 M points/s on one channel, 21 M
 * channel-points/s on eight). The activity stream costs about 5 ns a point on a key that never
 * rests (bench/detect_cores, pipeline=none: series1 5.5 M points/s, was 5.7 M) and about 40 ns
 * on one that does (fleet8: 4.6 M, was 5.7 M: one more stream whose p is below 1 on most
 * points, so Fisher's sum needs its logarithm).
 * State: 10 streams x 568 bytes + 16 channels x 344 bytes + 32 bytes of activity, 11,240
 * bytes per key (600 more than without the activity stream). Issue 13 (2026-12-06): 11
 * streams, 16 channels x 368 bytes (the step stream's previous value and two means), 768
 * bytes of day-phase record: 12,960 bytes (+1,720). Speed: the combiner without detectors
 * (bench/detect_cores, pipeline=none, 1 M points, two runs each on a loaded machine) 277 ns a
 * point on one channel (was 214) and 312 on eight (was 245): about 65 ns a point, mostly the
 * day-phase record's nine bins and the extra stream's tail.
 * NAB at issue 13's defaults (bench/detect/nab.sh; nab_loco.py): whole split 76.37 (threshold
 * 0.480); held out artificial 93.52, AWS 66.93, AdExchange 80.50, Traffic 77.80, mean 79.69;
 * in-sample 93.73, 67.76, 87.43, 78.42; no false alarm on artificialNoAnomaly. */
#ifndef PGPULSE_DETECT_COMBINE_H
#define PGPULSE_DETECT_COMBINE_H

#include "detect_core.h"

#define DETECT_COMBINE_BINS 64
#define DETECT_COMBINE_BIN_W 0.171875 /* bin width in sqrt(r): 64 bins reach r = 121 */
#define DETECT_COMBINE_OWN 5 /* the combiner's own evidence streams from the values (the
                                step stream is the fifth) */
#define DETECT_COMBINE_ACT 1 /* and from the key's activity (idle / running) */
#define DETECT_COMBINE_STREAMS (DETECT_NKINDS + DETECT_COMBINE_OWN + DETECT_COMBINE_ACT)
#define DETECT_COMBINE_TOD 24 /* hour-of-day profile bins */
#define DETECT_COMBINE_PHASE 24 /* most day-phase bins of the record of L (an hour each) */
#define DETECT_COMBINE_PHASE_DAYS 4 /* days it remembers (today and three before) */

typedef struct detect_combine_cfg {
    double alpha;         /* history decay per point (0.0005: a memory of 2,000 points) */
    double tail_q;        /* quantile above which the tail is exponential (0.98) */
    int min_points;       /* points of history before a stream gives p < 1 (100) */
    double own_alpha;     /* EWMA weight of the combiner's slow forecast (0.01) */
    double scale_alpha;   /* EWMA weight of its residual scale (0.01) */
    double tod_alpha;     /* largest EWMA weight of the hour-of-day profile (0.1; 0: off) */
    double tod_days;      /* memory of the profile, in days (2) */
    double record_decay;  /* decay per point of the record of L (0.03) */
    double record_factor; /* L below the record is multiplied by this (0.5) */
    double alarm_L;       /* -log10 p that starts a hold (2) */
    int hold;             /* points of a hold (100) */
    double hold_factor;   /* L is multiplied by this during a hold (0.5) */
    double score_L;       /* L of score 0.5 (3) */
    double duty_alpha;    /* EWMA weight of the fast running fraction (0.1; 0: activity off) */
    double phase_factor;  /* L below the day-phase record is multiplied by this (0.5; 1: off) */
    double phase_need;    /* earlier days (of 3) that must have reached L at this phase (2) */
    double phase_span;    /* neighbouring bins looked at on each side (1) */
    double phase_margin;  /* L below margin x the rhythm's level is damped (1.3) */
    double phase_bins;    /* day-phase bins (24: an hour each; at most DETECT_COMBINE_PHASE) */
    double step_clip;     /* the step stream's steps are clipped at this x their long mean (3) */
    double step_alpha;    /* EWMA weight of the step stream's fast mean |step| (0.05; 0: off);
                             the slow one's is alpha */
} detect_combine_cfg;

/* The history of one evidence stream: a decayed histogram of sqrt(r). Counts are kept in
 * growing units (w) so that decay costs nothing per point. */
typedef struct detect_combine_tail {
    double bin[DETECT_COMBINE_BINS]; /* decayed counts, in units of w */
    double total;       /* sum of bin[] */
    double w;           /* weight of the next point (grows by 1 / (1 - alpha) per point) */
    double ex;          /* decayed sum of excesses over the threshold, units of w */
    double exn;         /* decayed count of excesses, units of w */
    double thr;         /* the tail_q quantile (lower edge of its bin), refreshed every 16 */
    double thr_mass;    /* mass at or above thr, as a fraction */
    int64_t n;          /* points taken */
} detect_combine_tail;

/* The combiner's own forecasts of one channel. */
typedef struct detect_combine_ch {
    double m;          /* slow EWMA level */
    double mad;        /* EWMA of |residual| (clipped) */
    double sp, sn;     /* CUSUM of the standardized residual, up and down */
    double lo, hi;     /* running minimum and maximum */
    int64_t n;         /* points taken */
    double x_prev;     /* the previous running value */
    double d_fast;     /* EWMA of |step| over about 1 / step_alpha points */
    double d_slow;     /* and over about 1 / alpha points */
    float tod_m[DETECT_COMBINE_TOD];   /* hour-of-day profile: EWMA level per hour (UTC) */
    float tod_mad[DETECT_COMBINE_TOD]; /* and EWMA of |residual| */
    int32_t tod_n[DETECT_COMBINE_TOD]; /* points taken per hour */
} detect_combine_ch;

/* Plain data, fixed size: no pointers. */
typedef struct detect_combine_state {
    int32_t nch;
    int32_t hold_left;  /* points left in the current hold */
    double record;      /* decayed running maximum of L */
    double last_L;      /* the last point's L, after the repeat rules (for tests) */
    double duty_fast;   /* EWMA of "running" (not idle) over about 1 / duty_alpha points */
    double duty_slow;   /* and over about 1 / alpha points */
    int64_t act_n;      /* in-order points taken by the activity streams */
    int32_t idle_seen;  /* the key has had an idle point */
    int32_t pad;        /* keeps the layout free of implicit padding */
    float phase_L[DETECT_COMBINE_PHASE][DETECT_COMBINE_PHASE_DAYS]; /* day-phase record: the
                         largest joint L per bin and day (ring by day) */
    int32_t phase_day[DETECT_COMBINE_PHASE][DETECT_COMBINE_PHASE_DAYS]; /* that day (since 1970)
                         + 1 (0: never) */
    detect_combine_tail tail[DETECT_COMBINE_STREAMS];
    detect_combine_ch ch[DETECT_MAX_CH];
} detect_combine_state;

/* The defaults above. */
void detect_combine_cfg_default(detect_combine_cfg *c);

/* Sets one setting from "NAME=NUMBER" (NAME a field of detect_combine_cfg). Returns 0, or -1
 * with a message naming the assignment. */
int detect_combine_cfg_set(detect_combine_cfg *c, const char *assign, char *err, size_t errlen);

/* Initialises s for nch channels (1..DETECT_MAX_CH). */
void detect_combine_init(detect_combine_state *s, const detect_combine_cfg *c, int nch);

/* The anomaly_score of the point x[0..ctx->nch-1] whose detector outputs are out[0..DETECT_NKINDS-1] (a
 * detector whose bit is not in enabled is to be ignored). Updates the histories of the values
 * (unless the point is idle, late or a duplicate) and the activity stream, the hold and the
 * record (unless it is late or a duplicate). No allocation. */
double detect_combine_step(detect_combine_state *s, const detect_combine_cfg *c,
                           const detect_ctx *ctx, const double *x, const detect_out *out,
                           unsigned enabled);

/* The tail probability of r >= 0 under history t (1 before min_points), without updating:
 * exposed for tests. */
double detect_combine_tail_p(const detect_combine_tail *t, const detect_combine_cfg *c, double r);

/* Adds r >= 0 to history t (t zeroed, then w = 1, is an empty history): exposed for tests. */
void detect_combine_tail_add(detect_combine_tail *t, const detect_combine_cfg *c, double r);

/* Fisher's method: the joint p of m independent p-values given as L_sum = sum of -log10 p_k,
 * returned as -log10 of it (>= 0). */
double detect_combine_fisher_L(double L_sum, int m);

/* The joint evidence of m streams (see above): the larger of Fisher's L for L_sum = sum of
 * -log10 p_k and Bonferroni's -log10(m p_min), p_min the smallest p_k (in (0, 1]); returned
 * as -log10 p (>= 0). m < 1 gives 0. */
double detect_combine_joint_L(double L_sum, double p_min, int m);

/* The score of a point with evidence L = -log10 p (the map above). */
double detect_combine_score_of_L(const detect_combine_cfg *c, double L);

#endif
