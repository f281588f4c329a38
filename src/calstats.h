/* calstats: the statistics a simulator is calibrated against, computed from one robot's
 * readings in time order — per-axis mean and standard deviation (population), the fraction
 * of all-idle rows (every axis exactly 0), per-axis quantiles (p50, p90, p99) of the non-zero
 * values, and per-axis lag-1 autocorrelation over all rows. The figures of
 * ../shared/data/workshop/README.md are these, for the workshop's export.
 * Also the share of rows by how many axes are non-zero (0..8) and where the rows with one or
 * two non-zero axes sit: next to a running row (three or more non-zero axes) or not. In the
 * workshop's export: 0: 64.24 %, 1: 0.30 %, 2: 0.25 %, 3: 0.20 %, 4: 0.24 %, 5: 0.27 %,
 * 6: 0.25 %, 7: 2.15 %, 8: 32.09 %; of its 220 rows with one or two, 112 follow a running row
 * and 108 precede one (the rests' edges), none has idle rows on both sides. */
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
    double nz_share[READING_AXES + 1]; /* share of rows with k non-zero axes, k = 0..8 */
    size_t few_rows;                   /* rows with one or two non-zero axes */
    size_t few_by_run;                 /* of those, rows with a running neighbour (the row
                                          before or after has three or more non-zero axes) */
} calstats;

/* Computes the statistics of rows[0..n) (n >= 2). Quantiles interpolate linearly between
 * order statistics (as numpy's default). Allocates temporary memory proportional to n. */
void calstats_compute(const reading *rows, size_t n, calstats *out);

/* The q-quantile (0..1) of sorted[0..n), linear interpolation; 0 when n is 0. */
double calstats_quantile(const double *sorted, size_t n, double q);

/* Sorts v[0..n) ascending. */
void calstats_sort(double *v, size_t n);

#endif
