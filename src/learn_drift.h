/* learn_drift: detectors of a change in a stream of numbers (a model's errors), so that a learner
 * whose error drifts is reset or replaced (issue 11). Both are plain data of a fixed size, O(1)
 * amortised per value (ADWIN: O(log W) at its checks), no allocation.
 *
 * ADWIN (Bifet & Gavalda, "Learning from time-changing data with adaptive windowing", 2007):
 *   keeps a window of the recent values as an exponential histogram (at most LEARN_ADWIN_M
 *   buckets of 2^i values per level i) and drops its older part whenever some split of the
 *   window into an older and a newer part has means further apart than the bound for confidence
 *   delta (the variance form of the bound, as River computes it). The window is then what has
 *   not changed; a drop is a detection.
 * Page-Hinkley: the cumulative deviation of the values from their running mean, less a
 *   tolerance; a change when it rises (or falls) more than lambda from its running minimum (or
 *   maximum). */
#ifndef PGPULSE_LEARN_DRIFT_H
#define PGPULSE_LEARN_DRIFT_H

#include <stdint.h>

#define LEARN_ADWIN_M 5       /* buckets per level before two merge */
#define LEARN_ADWIN_LEVELS 48 /* 2^48 values: more than any stream here */

typedef struct learn_adwin {
    double delta;     /* confidence (0.002) */
    int32_t min_len;  /* values on each side of a split, at least (5) */
    int32_t clock;    /* check every clock values (32) */
    int64_t width;    /* values in the window */
    double total;     /* their sum */
    double variance;  /* their sum of squared deviations from the mean */
    int64_t ticks;    /* values seen */
    int64_t detections;
    int32_t levels;   /* levels in use */
    int32_t nb[LEARN_ADWIN_LEVELS];                     /* buckets at each level */
    double sum[LEARN_ADWIN_LEVELS][LEARN_ADWIN_M + 1];  /* per bucket, oldest first */
    double var[LEARN_ADWIN_LEVELS][LEARN_ADWIN_M + 1];
} learn_adwin;

/* An empty window; delta in (0, 1). Returns 0 or -1 (bad delta). */
int learn_adwin_init(learn_adwin *a, double delta);

/* Adds x (a non-finite x is ignored). Returns 1 when the window shrank (a change), else 0. */
int learn_adwin_add(learn_adwin *a, double x);

/* The mean of the window (0 when empty). */
double learn_adwin_mean(const learn_adwin *a);

typedef struct learn_ph {
    double delta;    /* tolerance per value (0.005) */
    double lambda;   /* threshold (50) */
    double alpha;    /* forgetting of the cumulative sums (1 - 1e-4) */
    int64_t min_n;   /* values before any detection (30) */
    int64_t n;
    double mean;
    double up, up_min;     /* cumulative sum of x - mean - delta, and its minimum */
    double down, down_max; /* of x - mean + delta, and its maximum */
    int64_t detections;
} learn_ph;

/* Page-Hinkley with the defaults above. */
void learn_ph_init(learn_ph *p);

/* Adds x (non-finite ignored). Returns +1 for a rise, -1 for a fall (and restarts), else 0. */
int learn_ph_add(learn_ph *p, double x);

#endif
