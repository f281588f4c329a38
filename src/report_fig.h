/* report_fig: the report's figures, built from report_data (plot.h) — per axis the
 * distribution with normal curves and the idle zeros as a bar of their own, per worst robot the
 * streaming chart with ALERT and ERROR spans, per axis the forecast against the reading — and
 * written as DIR/fig_<name>.png (2x) and .svg. */
#ifndef PGPULSE_REPORT_FIG_H
#define PGPULSE_REPORT_FIG_H

#include <stddef.h>

#include "plot.h"
#include "report_data.h"

typedef enum report_fig_kind { REPORT_FIG_DIST, REPORT_FIG_STREAM, REPORT_FIG_FORECAST } report_fig_kind;

typedef struct report_fig {
    report_fig_kind kind;
    char name[64];     /* file stem: fig_dist_axis1, fig_stream_robot7, fig_forecast_axis1 */
    char caption[640]; /* what the figure shows, for the HTML page (also drawn under it) */
    plot *p;
    double w, h;       /* its size in user units (small multiples 400 wide, streams 800) */
} report_fig;

#define REPORT_MAX_FIGS (2 * REPORT_AXES + REPORT_MAX_ROBOTS)
#define REPORT_PNG_SCALE 2.0

/* Builds every figure d has data for into out (up to REPORT_MAX_FIGS): the eight
 * distributions, the streaming charts, and the eight forecasts when d has forecasts. Returns
 * how many. */
size_t report_fig_build(const report_data *d, report_fig *out);

/* Writes f as DIR/<name>.png and DIR/<name>.svg. Returns 0, or -1 with a message. */
int report_fig_write(const report_fig *f, const char *dir, char *err, size_t errlen);

/* Frees the plots of figs[0..n). */
void report_fig_free(report_fig *figs, size_t n);

#endif
