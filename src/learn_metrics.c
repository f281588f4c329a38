/* learn_metrics: prequential accuracy, log loss, ROC-AUC, PR-AUC, MAE, RMSE and R². */
#include "learn_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void learn_metrics_init(learn_metrics *m, int classify)
{
    memset(m, 0, sizeof *m);
    m->classify = classify;
}

void learn_metrics_add_class(learn_metrics *m, int predicted, int truth, double p_truth,
                             int binary, double score, int positive)
{
    m->n++;
    m->right += predicted == truth;
    double p = isfinite(p_truth) ? p_truth : 0;
    if (p < 1e-15) p = 1e-15;
    if (p > 1) p = 1;
    m->logloss -= log(p);
    if (!binary) return;
    if (m->npairs == m->pairs_cap) {
        m->pairs_cap = m->pairs_cap ? m->pairs_cap * 2 : 1024;
        m->pairs = xrealloc(m->pairs, m->pairs_cap * sizeof *m->pairs);
    }
    m->pairs[m->npairs++] = (learn_pair){isfinite(score) ? score : 0.5, (uint8_t)(positive != 0)};
    m->positives += positive != 0;
}

void learn_metrics_add_value(learn_metrics *m, double predicted, double y)
{
    if (!isfinite(predicted) || !isfinite(y)) return;
    m->n++;
    double e = predicted - y;
    m->abs_sum += fabs(e);
    m->sq_sum += e * e;
    double d = y - m->y_sum;
    m->y_sum += d / (double)m->n; /* running mean */
    m->y_sq += d * (y - m->y_sum);
}

double learn_metrics_accuracy(const learn_metrics *m)
{
    return m->n ? (double)m->right / (double)m->n : NAN;
}

double learn_metrics_logloss(const learn_metrics *m)
{
    return m->n ? m->logloss / (double)m->n : NAN;
}

static int learn_pair_cmp(const void *a, const void *b)
{
    double x = ((const learn_pair *)a)->score, y = ((const learn_pair *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

double learn_metrics_pairs_roc_auc(learn_pair *p, size_t n)
{
    qsort(p, n, sizeof *p, learn_pair_cmp);
    double pos = 0, neg = 0, area = 0;
    /* Walk down the thresholds; a group of tied scores adds a trapezoid. */
    for (size_t i = 0; i < n;) {
        double gp = 0, gn = 0;
        size_t j = i;
        for (; j < n && p[j].score == p[i].score; j++) {
            if (p[j].label) gp++;
            else gn++;
        }
        area += gn * (pos + gp / 2);
        pos += gp;
        neg += gn;
        i = j;
    }
    if (pos == 0 || neg == 0) return NAN;
    return area / (pos * neg);
}

double learn_metrics_pairs_pr_auc(learn_pair *p, size_t n)
{
    qsort(p, n, sizeof *p, learn_pair_cmp);
    double total = 0;
    for (size_t i = 0; i < n; i++) total += p[i].label;
    if (total == 0 || total == (double)n) return NAN;
    double tp = 0, seen = 0, ap = 0, prev_recall = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        for (; j < n && p[j].score == p[i].score; j++) {
            tp += p[j].label;
            seen++;
        }
        double recall = tp / total;
        ap += (recall - prev_recall) * (tp / seen);
        prev_recall = recall;
        i = j;
    }
    return ap;
}

double learn_metrics_roc_auc(learn_metrics *m)
{
    return learn_metrics_pairs_roc_auc(m->pairs, m->npairs);
}

double learn_metrics_pr_auc(learn_metrics *m)
{
    return learn_metrics_pairs_pr_auc(m->pairs, m->npairs);
}

double learn_metrics_mae(const learn_metrics *m)
{
    return m->n ? m->abs_sum / (double)m->n : NAN;
}

double learn_metrics_rmse(const learn_metrics *m)
{
    return m->n ? sqrt(m->sq_sum / (double)m->n) : NAN;
}

double learn_metrics_r2(const learn_metrics *m)
{
    if (m->n < 2 || m->y_sq <= 0) return NAN;
    return 1 - m->sq_sum / m->y_sq;
}

void learn_metrics_free(learn_metrics *m)
{
    free(m->pairs);
    m->pairs = NULL;
    m->npairs = m->pairs_cap = 0;
}
