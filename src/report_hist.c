/* report_hist: quantiles and linear bins from the warehouse's log histograms (see
 * report_hist.h). */
#include "report_hist.h"

#include <math.h>

#define BIN_BASE 1e-3
#define BIN_RATIO 1.02

double report_hist_value(int32_t b)
{
    if (b == 0) return 0;
    double v = BIN_BASE * pow(BIN_RATIO, fabs((double)b) - 0.5);
    return b > 0 ? v : -v;
}

void report_hist_edges(int32_t b, double *lo, double *hi)
{
    double m = fabs((double)b);
    double inner = m <= 1 ? 0 : BIN_BASE * pow(BIN_RATIO, m - 1), outer = BIN_BASE * pow(BIN_RATIO, m);
    if (b >= 0) {
        *lo = inner;
        *hi = outer;
    } else {
        *lo = -outer;
        *hi = -inner;
    }
}

double report_hist_quantile(const report_hist_bin *h, size_t n, double p)
{
    int64_t total = 0, cum = 0;
    for (size_t i = 0; i < n; i++) total += h[i].count;
    if (total <= 0) return NAN;
    for (size_t i = 0; i < n; i++) {
        cum += h[i].count;
        if ((double)cum >= p * (double)total) return report_hist_value(h[i].bin);
    }
    return report_hist_value(h[n - 1].bin);
}

void report_hist_linear(const report_hist_bin *h, size_t n, double lo, double w, double *out,
                        size_t nbins, double *outside)
{
    double top = lo + (double)nbins * w;
    for (size_t i = 0; i < n; i++) {
        double a, b, c = (double)h[i].count;
        report_hist_edges(h[i].bin, &a, &b);
        double width = b - a, inside = 0;
        if (!(w > 0) || !(width > 0) || b <= lo || a >= top) {
            *outside += c;
            continue;
        }
        size_t k0 = a <= lo ? 0 : (size_t)floor((a - lo) / w);
        for (size_t k = k0; k < nbins; k++) {
            double e0 = lo + (double)k * w, e1 = e0 + w;
            if (e0 >= b) break;
            double ov = fmin(b, e1) - fmax(a, e0);
            if (ov <= 0) continue;
            out[k] += c * ov / width;
            inside += c * ov / width;
        }
        *outside += c - inside;
    }
}
