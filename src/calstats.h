/* calstats: the statistics a simulator is calibrated against, computed from one robot's
 * readings in time order — per-axis mean and standard deviation (population), the fraction
 * of all-idle rows (every axis exactly 0), per-axis quantiles (p50, p90, p99) of the non-zero
 * values, and per-axis lag-1 autocorrelation over all rows. The figures of
 * ../shared/data/workshop/README.md are these, for the workshop's export. */
#ifndef PGPULSE_CALSTATS_H
#define PGPULSE_CALSTATS_H

#include <stddef.h>

#include "readingcsv.h"

typedef struct calstats {
    size_t rows;
    double mean[READING_AXES];
    double std[READING_AXES];
    double idle_fraction;
    double nz_p50[READING_AXES];
    double nz_p90[READING_AXES];
    double nz_p99[READING_AXES];
    double lag1[READING_AXES];
} calstats;

/* Computes the statistics of rows[0..n) (n >= 2). Quantiles interpolate linearly between
 * order statistics (as numpy's default). Allocates temporary memory proportional to n. */
void calstats_compute(const reading *rows, size_t n, calstats *out);

/* The q-quantile (0..1) of sorted[0..n), linear interpolation; 0 when n is 0. */
double calstats_quantile(const double *sorted, size_t n, double q);

/* Sorts v[0..n) ascending. */
void calstats_sort(double *v, size_t n);

#endif
