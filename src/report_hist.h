/* report_hist: the report's reading of the warehouse's log histograms (docs/warehouse.md:
 * bins 2 % wide, dw_agg_bin) — quantiles, and the report's linear bins filled from them. Pure:
 * no I/O.
 *
 * A log bin b > 0 holds the values in [1e-3 · 1.02^(b-1), 1e-3 · 1.02^b) (bin 1 from 0: values
 * below 1e-3 are bin 1), b < 0 the same negated; bin 0 (exactly 0) is never passed here. Its
 * value is dw.hist_value(b), the bin's geometric middle: within 1 % of any value in it. */
#ifndef PGPULSE_REPORT_HIST_H
#define PGPULSE_REPORT_HIST_H

#include <stddef.h>
#include <stdint.h>

/* One merged log bin: its number and how many values it holds. */
typedef struct report_hist_bin {
    int32_t bin;
    int64_t count;
} report_hist_bin;

/* The value of log bin b (dw.hist_value): sign(b) · 1e-3 · 1.02^(|b| - 0.5); 0 for b = 0. */
double report_hist_value(int32_t b);

/* The edges of log bin b: *lo < *hi (for b < 0 both negative). */
void report_hist_edges(int32_t b, double *lo, double *hi);

/* The level-p quantile (0 <= p <= 1) of the n bins h, sorted by bin, as dw.hist_quantiles reads
 * it: the value of the first bin where the running count reaches p × total. NAN without counts. */
double report_hist_quantile(const report_hist_bin *h, size_t n, double p);

/* Spreads the n log bins h over nbins linear bins of width w from lo, each log bin's count
 * shared between the linear bins its range overlaps in proportion to the overlap (values
 * taken as uniform within a 2 % bin); the share outside [lo, lo + nbins·w) is added to
 * *outside. out[] and *outside are added to, not cleared. */
void report_hist_linear(const report_hist_bin *h, size_t n, double lo, double w, double *out,
                        size_t nbins, double *outside);

#endif
