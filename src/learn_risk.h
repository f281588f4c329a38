/* learn_risk: the probability that a robot fails within the next H of stream time (default
 * 24 h), learned online from labels that arrive late (issue 11).
 *
 * Features, per robot, every LEARN_RISK_STEP of its readings' time (a "sample"), from its
 * running readings only: per axis the level of the last ~30 minutes (EWMA) against the
 * robot's own healthy level, read from the lower quantiles of its hourly means over the last
 * 72 hours (wear only raises a current, and lasts at most two thirds of that), in that level's
 * spread (a z-score) and as a fraction of it; the trend of the hourly means over the last 12
 * hours (least squares, per hour); the deviation's level against its own baseline; of the axis that stands highest: level, trend, the level projected 6 and 24 hours
 * ahead, deviation; and the second highest axis's level. No sample before 24 hours of history.
 *
 * Labels: a sample taken at t is positive when the robot fails in (t, t + H]. Failures come
 * from maintenance events (learn_risk_add_failure), which are written when they happen, not
 * with the readings. To make every output a function of the readings' order alone, a sample
 * is resolved — labelled, learned by the models, scored — when the robot's readings pass
 * t + H + L, and a failure is scored (recall, lead) when they pass its time + L; L (default
 * 12 h) is how late a failure may be recorded and still be learned exactly as an
 * uninterrupted run learns it (a later one is learned when it is read).
 *
 * Two fleet-wide models learn every resolved sample side by side: the champion (its
 * probability is the prediction) and a challenger. Both are scored prequentially (ROC-AUC,
 * PR-AUC and log loss, over histograms of 200 probability bins, so the state stays bounded)
 * and, for the champion, at each of seven alarm thresholds (once it has learned 2,000 labels, 20 of them
 * positive): an alarm starts when the probability reaches
 * it and ends when it has stayed below half of it for 6 hours, or when the robot's readings
 * stop for 30 minutes (a repair); recall is the share of
 * failures with an alarm sample within H before them, precision the share of alarms followed
 * by a failure within H of their start, lead the time from the first alarm sample within H to
 * the failure (median, in 10-minute bins). Promotion (learn_risk_promote): the challenger
 * replaces the champion when over the models' last window of LEARN_RISK_WINDOW resolved
 * samples (with at least 20 positives) its log loss is at least 5 % lower.
 *
 * Plain data of fixed sizes: the fleet part (models, scores) and one block per robot. */
#ifndef PGPULSE_LEARN_RISK_H
#define PGPULSE_LEARN_RISK_H

#include <stdint.h>

#include "learn_sgd.h"

#define LEARN_RISK_AXES 8
#define LEARN_RISK_D 8
#define LEARN_RISK_STEP_US (600LL * 1000000)      /* a sample every 10 min of robot time */
#define LEARN_RISK_HOURS 72
#define LEARN_RISK_PENDING 256                     /* (H + L) / step, at most */
#define LEARN_RISK_FAILS 8                         /* failures remembered per robot */
#define LEARN_RISK_ALARMS 16                       /* alarms awaiting their verdict */
#define LEARN_RISK_BINS 200
#define LEARN_RISK_LEAD_BINS 145                   /* 10-minute bins, 0..24 h */
#define LEARN_RISK_WINDOW 5000
#define LEARN_RISK_MODELS 2                        /* champion, challenger */
#define LEARN_RISK_NT 7                            /* alarm thresholds tracked */

extern const double learn_risk_thresholds[LEARN_RISK_NT]; /* 0.3, 0.4, ..., 0.9 */

typedef struct learn_risk_score {
    int64_t n, positives;
    double logloss;
    int64_t hist[2][LEARN_RISK_BINS];  /* resolved samples per label and probability bin */
    double win_logloss;                /* over the current window */
    int64_t win_n, win_pos;
    double last_win_logloss;           /* over the last complete window (NaN: none yet) */
    int64_t last_win_pos;
} learn_risk_score;

/* Alarm figures at one threshold. */
typedef struct learn_risk_alarms {
    int64_t detected, alarms, true_alarms;
    int64_t lead[LEARN_RISK_LEAD_BINS];
} learn_risk_alarms;

/* A robot's alarm at one threshold. */
typedef struct learn_risk_alarm_state {
    int32_t in_alarm, nalarm;
    int64_t quiet_since;               /* since when the probability is below half the threshold */
    int64_t start[LEARN_RISK_ALARMS];  /* alarms awaiting their verdict */
} learn_risk_alarm_state;

typedef struct learn_risk_fleet {
    int64_t horizon_us, delay_us;      /* H, L */
    int32_t primary;                   /* the alarm threshold in use: learn_risk_thresholds[primary] */
    int32_t pad0;
    int32_t champion;                  /* index of the champion model (0 or 1) */
    int32_t promotions;
    learn_sgd model[LEARN_RISK_MODELS];
    learn_risk_score score[LEARN_RISK_MODELS];
    /* The champion's alarms at each threshold. */
    int64_t failures;
    learn_risk_alarms at[LEARN_RISK_NT];
    int64_t samples, resolved;
} learn_risk_fleet;

typedef struct learn_risk_pending {
    int64_t ts;
    float x[LEARN_RISK_D];
    float p[LEARN_RISK_MODELS];        /* each model's probability, in model-slot order */
    int32_t alarm;                     /* bit k: in alarm at threshold k */
    int32_t pad;
} learn_risk_pending;

typedef struct learn_risk_robot {
    int64_t last_ts;
    int64_t hour_start;                /* the hour being summed */
    double hsum[LEARN_RISK_AXES], hdev[LEARN_RISK_AXES];
    int64_t hcnt;
    int32_t nhours, hhead;             /* completed hours kept, and where the next goes */
    float hmean[LEARN_RISK_HOURS][LEARN_RISK_AXES];
    float hdevm[LEARN_RISK_HOURS][LEARN_RISK_AXES];
    double fast[LEARN_RISK_AXES], fdev[LEARN_RISK_AXES];
    int64_t nrun;                      /* running readings since the last long gap */
    int64_t next_sample;
    int32_t npend, pend_head, nfails;
    int32_t pad;
    int64_t fresh_hours;               /* hours kept since the last long gap */
    learn_risk_alarm_state alarm[LEARN_RISK_NT];
    learn_risk_pending pend[LEARN_RISK_PENDING];
    int64_t fail[LEARN_RISK_FAILS];    /* failure times, oldest first */
    int32_t fail_scored[LEARN_RISK_FAILS];
} learn_risk_robot;

/* A sample just taken. */
typedef struct learn_risk_sample {
    int64_t ts;
    double p;                          /* the champion's probability */
    int alarm;                         /* the robot is in alarm (at the threshold in use) */
} learn_risk_sample;

/* Fleet defaults: H 24 h, L 12 h, threshold 0.8 in use (each of learn_risk_thresholds is
 * scored); champion: logistic regression (AdaGrad, step
 * 0.05), challenger: the same with step 0.2 and a stronger L2 penalty. */
void learn_risk_fleet_init(learn_risk_fleet *f);
void learn_risk_robot_init(learn_risk_robot *r);

/* Takes the robot's next reading (ts in µs, currents); resolves what its time has passed;
 * returns 1 and fills *out when a sample is due (0 otherwise). Readings older than the latest
 * are skipped. */
int learn_risk_step(learn_risk_fleet *f, learn_risk_robot *r, int64_t ts, const double *axis,
                    learn_risk_sample *out);

/* Records a failure of the robot at ts (µs). Idempotent: a failure already known is ignored. */
void learn_risk_add_failure(learn_risk_robot *r, int64_t ts);

/* The champion's figures: ROC-AUC, PR-AUC, log loss (NaN before both labels were seen), and
 * at threshold k: recall, precision (NaN before any failure or alarm was scored), median
 * lead (hours). */
double learn_risk_roc_auc(const learn_risk_score *s);
double learn_risk_pr_auc(const learn_risk_score *s);
double learn_risk_logloss(const learn_risk_score *s);
double learn_risk_recall(const learn_risk_fleet *f, int k);
double learn_risk_precision(const learn_risk_fleet *f, int k);
double learn_risk_lead_hours(const learn_risk_fleet *f, int k);

/* Applies the promotion rule (above); returns 1 when the challenger became the champion. */
int learn_risk_promote(learn_risk_fleet *f);

/* The robot's features as of its latest reading into x (LEARN_RISK_D values): 1, or 0 while it
 * lacks the history a sample needs (x untouched). For the API's POST /api/predict. */
int learn_risk_features(const learn_risk_robot *r, double *x);

/* The champion's probability for a feature vector. */
double learn_risk_predict(const learn_risk_fleet *f, const double *x);

#endif
