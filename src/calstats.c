/* calstats: calibration statistics of a reading series. */
#include "calstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static int calstats_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void calstats_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, calstats_cmp);
}

double calstats_quantile(const double *sorted, size_t n, double q)
{
    if (n == 0) return 0;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n) return sorted[n - 1];
    double f = pos - (double)i;
    return sorted[i] + f * (sorted[i + 1] - sorted[i]);
}

/* How many axes of r are non-zero. */
static int calstats_nonzero(const reading *r)
{
    int k = 0;
    for (int a = 0; a < READING_AXES; a++) k += r->axis[a] != 0;
    return k;
}

void calstats_compute(const reading *rows, size_t n, calstats *out)
{
    memset(out, 0, sizeof *out);
    out->rows = n;
    if (n < 2) return;
    size_t cls[READING_AXES + 1] = {0};
    int prev = -1, cur = calstats_nonzero(&rows[0]);
    for (size_t i = 0; i < n; i++) {
        int next = i + 1 < n ? calstats_nonzero(&rows[i + 1]) : -1;
        cls[cur]++;
        if (cur >= 1 && cur <= 2) {
            out->few_rows++;
            out->few_by_run += prev >= 3 || next >= 3;
        }
        prev = cur;
        cur = next;
    }
    for (int k = 0; k <= READING_AXES; k++) out->nz_share[k] = (double)cls[k] / (double)n;
    out->idle_fraction = out->nz_share[0];

    double *nz = xmalloc(sizeof *nz * n);
    for (int a = 0; a < READING_AXES; a++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += rows[i].axis[a];
        double mean = sum / (double)n;
        double ss = 0;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            double d = rows[i].axis[a] - mean;
            ss += d * d;
            if (rows[i].axis[a] != 0) nz[k++] = rows[i].axis[a];
        }
        /* Lag-1: Pearson correlation of x[0..n-1) with x[1..n) (as pandas' autocorr). */
        double mx = (sum - rows[n - 1].axis[a]) / (double)(n - 1);
        double my = (sum - rows[0].axis[a]) / (double)(n - 1);
        double sxy = 0, sxx = 0, syy = 0;
        for (size_t i = 1; i < n; i++) {
            double dx = rows[i - 1].axis[a] - mx, dy = rows[i].axis[a] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        out->mean[a] = mean;
        out->std[a] = sqrt(ss / (double)n);
        out->lag1[a] = sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0;
        calstats_sort(nz, k);
        out->nz_p50[a] = calstats_quantile(nz, k, 0.50);
        out->nz_p90[a] = calstats_quantile(nz, k, 0.90);
        out->nz_p99[a] = calstats_quantile(nz, k, 0.99);
    }
    free(nz);
}
