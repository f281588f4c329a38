/* learn_drift: ADWIN and Page-Hinkley (see learn_drift.h). */
#include "learn_drift.h"

#include <math.h>
#include <string.h>

int learn_adwin_init(learn_adwin *a, double delta)
{
    if (!(delta > 0 && delta < 1)) return -1;
    memset(a, 0, sizeof *a);
    a->delta = delta;
    a->min_len = 5;
    a->clock = 32;
    return 0;
}

double learn_adwin_mean(const learn_adwin *a)
{
    return a->width ? a->total / (double)a->width : 0;
}

/* Merges the two oldest buckets of every level that holds more than LEARN_ADWIN_M into one of
 * the next level (newer than every bucket already there). */
static void adwin_compress(learn_adwin *a)
{
    for (int i = 0; i < LEARN_ADWIN_LEVELS - 1 && a->nb[i] > LEARN_ADWIN_M; i++) {
        double n = (double)(INT64_C(1) << i);
        double s1 = a->sum[i][0], s2 = a->sum[i][1];
        double d = s1 / n - s2 / n;
        double v = a->var[i][0] + a->var[i][1] + n * n / (2 * n) * d * d;
        memmove(a->sum[i], a->sum[i] + 2, (size_t)(a->nb[i] - 2) * sizeof a->sum[i][0]);
        memmove(a->var[i], a->var[i] + 2, (size_t)(a->nb[i] - 2) * sizeof a->var[i][0]);
        a->nb[i] -= 2;
        int j = i + 1;
        a->sum[j][a->nb[j]] = s1 + s2;
        a->var[j][a->nb[j]] = v;
        a->nb[j]++;
        if (j + 1 > a->levels) a->levels = j + 1;
    }
}

/* Drops the oldest bucket (the first of the highest level in use). */
static void adwin_drop_oldest(learn_adwin *a)
{
    int i = a->levels - 1;
    while (i > 0 && a->nb[i] == 0) i--;
    if (a->nb[i] == 0) return;
    double n = (double)(INT64_C(1) << i), s = a->sum[i][0], v = a->var[i][0];
    double w = (double)a->width, rest = w - n;
    if (rest > 0) {
        double mu_b = s / n, mu_r = (a->total - s) / rest;
        a->variance -= v + n * rest / w * (mu_b - mu_r) * (mu_b - mu_r);
        if (a->variance < 0) a->variance = 0;
    } else {
        a->variance = 0;
    }
    a->width -= (int64_t)n;
    a->total -= s;
    memmove(a->sum[i], a->sum[i] + 1, (size_t)(a->nb[i] - 1) * sizeof a->sum[i][0]);
    memmove(a->var[i], a->var[i] + 1, (size_t)(a->nb[i] - 1) * sizeof a->var[i][0]);
    a->nb[i]--;
    while (a->levels > 0 && a->nb[a->levels - 1] == 0) a->levels--;
}

/* A split of the window, oldest buckets first, whose two parts' means differ beyond the bound:
 * 1 (and the caller drops the oldest bucket), else 0. */
static int adwin_cut(const learn_adwin *a)
{
    double w = (double)a->width;
    if (w < 2 * a->min_len) return 0;
    double v = a->variance / w, dd = log(2 * log(w) / a->delta);
    double n0 = 0, s0 = 0;
    for (int i = a->levels - 1; i >= 0; i--) {
        double n = (double)(INT64_C(1) << i);
        for (int k = 0; k < a->nb[i]; k++) {
            n0 += n;
            s0 += a->sum[i][k];
            double n1 = w - n0;
            if (n0 < a->min_len) continue;
            if (n1 < a->min_len) return 0;
            double m = 1 / (n0 - a->min_len + 1) + 1 / (n1 - a->min_len + 1);
            double eps = sqrt(2 * m * v * dd) + 2.0 / 3.0 * dd * m;
            if (fabs(s0 / n0 - (a->total - s0) / n1) > eps) return 1;
        }
    }
    return 0;
}

int learn_adwin_add(learn_adwin *a, double x)
{
    if (!isfinite(x)) return 0;
    /* The new value as a bucket of one at level 0, the newest. */
    double w = (double)a->width;
    if (a->width > 0) {
        double mu = a->total / w;
        a->variance += w * (x - mu) * (x - mu) / (w + 1);
    }
    a->width++;
    a->total += x;
    a->sum[0][a->nb[0]] = x;
    a->var[0][a->nb[0]] = 0;
    a->nb[0]++;
    if (a->levels < 1) a->levels = 1;
    adwin_compress(a);
    a->ticks++;
    if (a->ticks % a->clock) return 0;
    int changed = 0;
    while (adwin_cut(a)) {
        adwin_drop_oldest(a);
        changed = 1;
    }
    a->detections += changed;
    return changed;
}

void learn_ph_init(learn_ph *p)
{
    memset(p, 0, sizeof *p);
    p->delta = 0.005;
    p->lambda = 50;
    p->alpha = 1 - 1e-4;
    p->min_n = 30;
}

int learn_ph_add(learn_ph *p, double x)
{
    if (!isfinite(x)) return 0;
    p->n++;
    p->mean += (x - p->mean) / (double)p->n;
    p->up = p->alpha * p->up + (x - p->mean - p->delta);
    p->down = p->alpha * p->down + (x - p->mean + p->delta);
    if (p->up < p->up_min) p->up_min = p->up;
    if (p->down > p->down_max) p->down_max = p->down;
    if (p->n < p->min_n) return 0;
    int r = p->up - p->up_min > p->lambda ? 1 : p->down_max - p->down > p->lambda ? -1 : 0;
    if (r) {
        int64_t det = p->detections + 1;
        double delta = p->delta, lambda = p->lambda, alpha = p->alpha;
        int64_t min_n = p->min_n;
        learn_ph_init(p);
        p->delta = delta;
        p->lambda = lambda;
        p->alpha = alpha;
        p->min_n = min_n;
        p->detections = det;
    }
    return r;
}
