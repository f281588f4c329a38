/* plot_tick: the tick arithmetic of plot.h — 1-2-5 steps, clock steps, and the labels. Pure:
 * no cairo. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plot.h"


double plot_nice_step(double span, double target)
{
    if (!(span > 0) || !(target >= 1)) return 1;
    double raw = span / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    double nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nice * mag;
}

double plot_time_step(double span, double target)
{
    static const double steps[] = {1,     2,     5,     10,    15,     30,     60,     120,
                                   300,   600,   900,   1800,  3600,   7200,   10800,  21600,
                                   43200, 86400, 172800, 604800, 1209600};
    if (!(span > 0) || !(target >= 1)) return 1;
    double raw = span / target;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (steps[i] >= raw) return steps[i];
    return ceil(raw / (30 * 86400.0)) * 30 * 86400.0;
}

void plot_format_tick(double v, double step, int time, double span, char *out, size_t outlen)
{
    if (time) {
        time_t t = (time_t)llround(v);
        struct tm tm;
        gmtime_r(&t, &tm);
        const char *fmt = step >= 86400 ? "%Y-%m-%d" : step < 60 ? "%H:%M:%S"
                                        : span > 86400 ? "%m-%d %H:%M" : "%H:%M";
        if (!strftime(out, outlen, fmt, &tm) && outlen) out[0] = '\0';
        return;
    }
    int dec = step > 0 && step < 1 ? (int)ceil(-log10(step) - 1e-9) : 0;
    if (dec > 12) dec = 12;
    if (fabs(v) < step * 1e-9) v = 0; /* never "-0" or "1e-17" */
    snprintf(out, outlen, "%.*f", dec, v);
    if (!strcmp(out, "-0")) snprintf(out, outlen, "0");
}
