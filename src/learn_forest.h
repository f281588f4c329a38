/* learn_forest: an online ensemble of Hoeffding trees (learn_tree) — leveraging bagging (Bifet,
 * Holmes and Pfahringer, "Leveraging bagging for evolving data streams", 2010), as River's
 * LeveragingBaggingClassifier — the non-linear classifier of `pgpulse learn` (issue 11).
 *
 * Each of `models` trees learns each record with a weight drawn from Poisson(lambda) (0: the
 * tree skips it); lambda 6 resamples far more than plain online bagging's 1, which diversifies
 * the trees and makes them grow faster. Every tree has an ADWIN over its 0/1 errors on the
 * records (its prediction before learning each record); when some ADWIN detects a rise of its
 * error, the tree with the largest ADWIN error mean is replaced by an empty one. The forest
 * predicts the average of the trees' class probabilities.
 *
 * One departure from plain leveraging bagging, as adaptive random forests do: each split
 * attempt of a tree considers a random subset of the features (60 % by default). On Elec2 it
 * lifts prequential accuracy from 0.887-0.889 to 0.893-0.896 (8 seeds) and saves time.
 *
 * Fixed memory after learn_forest_new (the trees' node pools); nothing is allocated per
 * record. Non-finite features: see learn_tree.h (NaN goes left, skipped by the estimators).
 * Deterministic: the same seed and records give the same predictions, bit for bit, and a saved
 * and loaded forest continues exactly as the original would have. Not thread-safe. */
#ifndef PGPULSE_LEARN_FOREST_H
#define PGPULSE_LEARN_FOREST_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "learn_tree.h"

#define LEARN_FOREST_MAXMODELS 256

typedef struct learn_forest_opts {
    int32_t models;      /* trees (10; 1..LEARN_FOREST_MAXMODELS) */
    double lambda;       /* mean of the Poisson weights (6; 0 < lambda <= 100) */
    double adwin_delta;  /* confidence of the trees' error detectors (0.002) */
    uint64_t seed;       /* of the weights and of the trees' subspaces (0) */
    learn_tree_opts tree; /* the trees' options: learn_tree_opts_default, but for max_nodes
                             255 and subspace 0, which here means round(0.6 d) (at least 1) */
} learn_forest_opts;

typedef struct learn_forest learn_forest;

/* Fills o with the defaults above. */
void learn_forest_opts_default(learn_forest_opts *o);

/* A forest of empty trees for d features and nclasses classes (the limits of learn_tree.h),
 * options o (NULL: the defaults). Returns NULL with a message in err for a bad argument. Free
 * with learn_forest_free. */
learn_forest *learn_forest_new(int d, int nclasses, const learn_forest_opts *o, char *err,
                               size_t errlen);

/* Releases f (NULL-safe). */
void learn_forest_free(learn_forest *f);

/* Writes the class probabilities for x into proba[nclasses] (summing to 1) and returns the
 * most probable class (the lowest on a tie). Keeps each tree's prediction for x, which a
 * following learn_forest_learn of the same x uses instead of asking the trees again. */
int learn_forest_proba(learn_forest *f, const double *x, double *proba);

/* Learns x with class y. Returns 0, or -1 (nothing learned) when y is not a class. */
int learn_forest_learn(learn_forest *f, const double *x, int y);

typedef struct learn_forest_stats {
    int64_t records;  /* records learned */
    int64_t resets;   /* trees replaced after a detected change */
    int32_t nodes;    /* nodes in use, all trees */
    int32_t max_depth;
    int32_t full;     /* trees whose pool is full */
    size_t bytes;     /* memory allocated, fixed for the forest's life */
} learn_forest_stats;

void learn_forest_get_stats(const learn_forest *f, learn_forest_stats *s);

/* Appends f to out as a versioned, checksummed blob; returns the bytes appended. */
size_t learn_forest_save(const learn_forest *f, buf *out);

/* A forest from the n bytes at p written by learn_forest_save; it continues exactly as the
 * saved one would have (same predictions afterwards, bit for bit). Returns NULL with a message
 * in err for a truncated, corrupt or foreign blob, or trailing bytes (never reads past n). */
learn_forest *learn_forest_load(const uint8_t *p, size_t n, char *err, size_t errlen);

#endif
