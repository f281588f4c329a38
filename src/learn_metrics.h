/* learn_metrics: prequential evaluation of an online learner (issue 11) — every prediction is
 * scored before its record is learned.
 *
 * Classification: accuracy and log loss over every scored record; for two classes also ROC-AUC
 * and PR-AUC (average precision, as scikit-learn's average_precision_score computes it), which
 * need every (score, label) pair: they are kept, 9 bytes a record, and ranked at the end (ties
 * count half in ROC-AUC and are one threshold in PR-AUC). Regression: MAE, RMSE and R² (against
 * the mean of the scored targets). Nothing here allocates per record except the growth of the
 * pair array (amortised doubling). */
#ifndef PGPULSE_LEARN_METRICS_H
#define PGPULSE_LEARN_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct learn_pair {
    double score;    /* the positive class's probability */
    uint8_t label;   /* 1: positive */
} learn_pair;

typedef struct learn_metrics {
    int classify;              /* 1: classification, 0: regression */
    int64_t n;                 /* records scored */
    /* classification */
    int64_t right;             /* predicted class = true class */
    double logloss;            /* sum of -ln p(true class), p clipped to [1e-15, 1] */
    learn_pair *pairs;         /* binary: every (score, label) */
    size_t npairs, pairs_cap;
    int64_t positives;
    /* regression */
    double abs_sum, sq_sum;    /* of the errors */
    double y_sum, y_sq;        /* of the targets (Welford's mean and M2) */
} learn_metrics;

/* An empty evaluation (classify: 1 or 0). */
void learn_metrics_init(learn_metrics *m, int classify);

/* Scores a classification: the predicted class, the probability given to the true class, and
 * for two classes (binary set) the positive class's probability and whether the record is
 * positive. */
void learn_metrics_add_class(learn_metrics *m, int predicted, int truth, double p_truth,
                             int binary, double score, int positive);

/* Scores a regression: the prediction and the target (both finite; others are not counted). */
void learn_metrics_add_value(learn_metrics *m, double predicted, double y);

/* The figures: accuracy, log loss (per record); ROC-AUC and PR-AUC (NaN unless two classes were
 * scored with both present); MAE, RMSE, R² (NaN when fewer than two records). The pair array
 * is sorted in place by the AUCs. */
double learn_metrics_accuracy(const learn_metrics *m);
double learn_metrics_logloss(const learn_metrics *m);
double learn_metrics_roc_auc(learn_metrics *m);
double learn_metrics_pr_auc(learn_metrics *m);
double learn_metrics_mae(const learn_metrics *m);
double learn_metrics_rmse(const learn_metrics *m);
double learn_metrics_r2(const learn_metrics *m);

/* ROC-AUC and average precision of n pairs (sorted in place by descending score); NaN when
 * either class is absent. The building blocks of the above, for callers with their own pairs. */
double learn_metrics_pairs_roc_auc(learn_pair *p, size_t n);
double learn_metrics_pairs_pr_auc(learn_pair *p, size_t n);

/* Releases the pair array (m can be initialised again). */
void learn_metrics_free(learn_metrics *m);

#endif
