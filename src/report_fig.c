/* report_fig: turns report_data into plots (see report_fig.h). Every figure says its unit on
 * both axes; every caption says what was left out or drawn larger than it is. */
#include "report_fig.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SMALL_W 400.0
#define SMALL_H 330.0
#define WIDE_W 800.0
#define WIDE_H 330.0
#define CURVE_POINTS 200
#define STREAM_GAP_S 10.0 /* the shortest silence that breaks a streaming chart's line */

static const plot_rgb INK = {0.1, 0.1, 0.12};

static double normal_pdf(double x, double mu, double sigma)
{
    double z = (x - mu) / sigma;
    return exp(-0.5 * z * z) / (sigma * sqrt(2 * M_PI));
}

/* A normal density over [lo, hi], scaled to percent of all readings per bin of width bw, times
 * share (the part of the readings it describes). */
static void add_normal(plot *p, const char *name, plot_rgb c, double mu, double sigma, double lo,
                       double hi, double bw, double share)
{
    if (!(sigma > 0) || !isfinite(mu)) return;
    double x[CURVE_POINTS], y[CURVE_POINTS];
    for (int i = 0; i < CURVE_POINTS; i++) {
        x[i] = lo + (hi - lo) * i / (CURVE_POINTS - 1);
        y[i] = 100 * share * bw * normal_pdf(x[i], mu, sigma);
    }
    plot_add_curve(p, name, c, x, y, CURVE_POINTS);
}

static void fig_dist(const report_data *d, int a, report_fig *f)
{
    const report_axis *x = &d->axis[a];
    f->kind = REPORT_FIG_DIST;
    snprintf(f->name, sizeof f->name, "fig_dist_axis%d", a + 1);
    char title[96];
    snprintf(title, sizeof title, "Axis %d: distribution of the current", a + 1);
    f->p = plot_new(title);
    f->w = SMALL_W;
    f->h = SMALL_H;
    plot *p = f->p;
    plot_set_x(p, "current", "A", 0);
    plot_set_y(p, "share of readings", "% per bin");
    double n = x->n > 0 ? (double)x->n : 1, bw = x->bin_w > 0 ? x->bin_w : 1;
    double edges[REPORT_HIST_BINS + 1], h[REPORT_HIST_BINS], top = 0;
    for (int i = 0; i <= REPORT_HIST_BINS; i++) edges[i] = x->bin_lo + i * bw;
    for (int i = 0; i < REPORT_HIST_BINS; i++) {
        h[i] = 100.0 * (double)x->bins[i] / n;
        top = fmax(top, h[i]);
    }
    double idle = 100.0 * (double)x->zeros / n;
    double lo = fmin(fmin(edges[0], -bw), x->mean - 3 * x->std);
    double hi = fmax(edges[REPORT_HIST_BINS], x->mean + 3 * x->std);
    if (!isfinite(lo) || !isfinite(hi) || !(hi > lo)) {
        lo = edges[0];
        hi = edges[REPORT_HIST_BINS];
    }
    plot_set_xrange(p, lo, hi);
    /* The running readings' bars set the scale, raised to show the normal curves' peaks whole
     * up to 3x the tallest bar; the idle bar is clipped when it is taller. */
    double peak = 0, sq = sqrt(2 * M_PI);
    if (x->std > 0) peak = fmax(peak, 100 * bw / (x->std * sq));
    if (x->run_std > 0) peak = fmax(peak, 100 * bw * (double)(x->n - x->zeros) / n / (x->run_std * sq));
    double ytop = fmax(fmax(top * 1.3, fmin(peak * 1.08, top * 3)), 1e-9);
    int clipped = idle > ytop;
    if (top > 0) plot_set_yrange(p, 0, ytop);
    plot_add_bars(p, "running", PLOT_PALETTE[0], edges, h, REPORT_HIST_BINS);
    /* The zeros' bar ends at 0, where the running readings' first bin may begin. */
    double ze[2] = {-bw, 0};
    char idle_name[64];
    snprintf(idle_name, sizeof idle_name, "idle, exactly 0 A: %.1f %%%s", idle, clipped ? " (clipped)" : "");
    plot_add_bars(p, idle_name, PLOT_GREY, ze, &idle, 1);
    add_normal(p, "normal, all readings", PLOT_PALETTE[2], x->mean, x->std, lo, hi, bw, 1);
    add_normal(p, "normal, running", PLOT_PALETTE[1], x->run_mean, x->run_std, lo, hi, bw,
               (double)(x->n - x->zeros) / n);
    char total[32], outside[32], short_caption[256];
    util_fmt_count(total, sizeof total, (uint64_t)x->n);
    util_fmt_count(outside, sizeof outside, (uint64_t)x->outside);
    snprintf(f->caption, sizeof f->caption,
             "Idle readings (axis %d exactly 0 A): %.1f %% of %s, the grey bar ending at 0%s. Running "
             "readings in bins of %.3g A from their 0.1 %% to their 99.5 %% quantile (%s beyond). "
             "Normal curves: all readings (mean %.2f A, std %.2f A: the workshop's fit, zeros "
             "included) and the running ones (mean %.2f A, std %.2f A), scaled to the bins.",
             a + 1, idle, total, clipped ? ", clipped at the top of the axis" : "", bw, outside,
             x->mean, x->std, x->run_mean, x->run_std);
    snprintf(short_caption, sizeof short_caption,
             "%s readings; bins of %.3g A; %s non-zero readings beyond the bins not shown.", total,
             bw, outside);
    plot_set_caption(p, short_caption);
}

static void fig_stream(const report_stream *s, int detected, report_fig *f)
{
    f->kind = REPORT_FIG_STREAM;
    snprintf(f->name, sizeof f->name, "fig_stream_robot%d", s->robot);
    char title[128];
    snprintf(title, sizeof title, "Robot %d, axis %d: current%s", s->robot, s->axis,
             detected ? " and anomaly episodes" : "");
    f->p = plot_new(title);
    f->w = WIDE_W;
    f->h = WIDE_H;
    plot *p = f->p;
    plot_set_x(p, "time", "UTC", 1);
    plot_set_y(p, "current", "A");
    for (size_t i = 0; i < s->nspans; i++)
        plot_add_span(p, s->spans[i].error ? "ERROR episode" : "ALERT episode",
                      s->spans[i].error ? PLOT_ERROR : PLOT_ALERT, s->spans[i].t0, s->spans[i].t1);
    /* min and max per bucket as one zigzag line; a silence longer than STREAM_GAP_S (and than
     * 1.5 buckets) breaks it. Shorter ones are the sampling's jitter: a robot sampled about
     * once a second leaves one-second buckets empty now and then. */
    size_t m = 0;
    double gap = fmax(1.5 * s->bucket_s, STREAM_GAP_S);
    double *x = xmalloc((3 * s->n + 1) * sizeof *x), *y = xmalloc((3 * s->n + 1) * sizeof *y);
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0 && s->t[i] - s->t[i - 1] > gap) {
            x[m] = s->t[i];
            y[m++] = NAN;
        }
        x[m] = s->t[i];
        y[m++] = s->lo[i];
        x[m] = s->t[i];
        y[m++] = s->hi[i];
    }
    char name[96], bucket[32];
    if (s->bucket_s >= 120) snprintf(bucket, sizeof bucket, "%.0f min", s->bucket_s / 60);
    else snprintf(bucket, sizeof bucket, "%.0f s", s->bucket_s);
    snprintf(name, sizeof name, "axis %d, min to max per %s", s->axis, bucket);
    plot_add_line(p, name, PLOT_PALETTE[0], x, y, m);
    free(x);
    free(y);
    snprintf(f->caption, sizeof f->caption,
             "%.16s to %.16s UTC (of the period, the %s with the most episodes): %lld ALERT "
             "(orange) and %lld ERROR (red) episodes of robot %d on axis %d or the whole robot. "
             "Each span covers an episode's first to last flagged reading and is drawn at least "
             "%.0f units of 800 wide so that a short one shows; a gap in the line is a time the robot "
             "sent nothing (%.0f s or more).",
             s->from_text, s->to_text, s->to - s->from < REPORT_STREAM_WINDOW_S - 1 ? "whole period" : "6 hours",
             (long long)s->alerts, (long long)s->errors, s->robot, s->axis, PLOT_SPAN_MIN_W, gap);
    char short_caption[256];
    if (detected) {
        snprintf(short_caption, sizeof short_caption,
                 "%lld ALERT and %lld ERROR episodes on axis %d or the whole robot, %.10s %.5s to "
                 "%.10s %.5s UTC; short episodes widened to stay visible.",
                 (long long)s->alerts, (long long)s->errors, s->axis, s->from_text,
                 s->from_text + 11, s->to_text, s->to_text + 11);
    } else {
        snprintf(f->caption, sizeof f->caption,
                 "%.16s to %.16s UTC: no anomaly detection has run over this period (no episodes "
                 "in table anomaly); a gap in the line is a time the robot sent nothing (%.0f s or more).",
                 s->from_text, s->to_text, gap);
        snprintf(short_caption, sizeof short_caption,
                 "%.10s %.5s to %.10s %.5s UTC; no anomaly detection has run over this period.",
                 s->from_text, s->from_text + 11, s->to_text, s->to_text + 11);
    }
    if (s->from_minutes) {
        /* The raw readings of the window were dropped (retention): say what is drawn. */
        size_t n = strlen(f->caption);
        snprintf(f->caption + n, sizeof f->caption - n,
                 " The raw readings of this window are gone (warehouse retention): the line is each "
                 "minute's min and max from the warehouse's minute rollups.");
        n = strlen(short_caption);
        snprintf(short_caption + n, sizeof short_caption - n, " Min and max per minute (raw readings dropped).");
    }
    plot_set_caption(p, short_caption);
}

static void fig_forecast(const report_forecast *fc, report_fig *f)
{
    f->kind = REPORT_FIG_FORECAST;
    snprintf(f->name, sizeof f->name, "fig_forecast_axis%d", fc->axis);
    char title[128];
    snprintf(title, sizeof title, "Axis %d: forecast against reading, R\xc2\xb2 %.2f", fc->axis, fc->r2);
    f->p = plot_new(title);
    f->w = SMALL_W;
    f->h = SMALL_H;
    plot *p = f->p;
    plot_set_x(p, "target time", "UTC", 1);
    plot_set_y(p, "current", "A");
    plot_add_line(p, "reading", INK, fc->t, fc->actual, fc->nchart);
    char name[64];
    snprintf(name, sizeof name, "forecast, %d reading%s ahead", fc->horizon, fc->horizon == 1 ? "" : "s");
    plot_add_line(p, name, PLOT_PALETTE[0], fc->t, fc->pred, fc->nchart);
    snprintf(f->caption, sizeof f->caption,
             "All robots: R\xc2\xb2 %.3f, MAE %.3f A over %lld forecasts %d reading%s ahead whose "
             "target reading ran; %lld with an idle target not scored. Drawn: the last %zu "
             "forecasts of robot %d (one a minute) and the readings nearest their target times.",
             fc->r2, fc->mae, (long long)fc->n, fc->horizon, fc->horizon == 1 ? "" : "s",
             (long long)fc->idle, fc->nchart, fc->robot);
    char short_caption[256], scored[32];
    util_fmt_count(scored, sizeof scored, (uint64_t)fc->n);
    snprintf(short_caption, sizeof short_caption,
             "All robots: MAE %.2f A over %s running targets. Drawn: robot %d's last %zu forecasts.",
             fc->mae, scored, fc->robot, fc->nchart);
    plot_set_caption(p, short_caption);
}

size_t report_fig_build(const report_data *d, report_fig *out)
{
    size_t n = 0;
    memset(out, 0, REPORT_MAX_FIGS * sizeof *out);
    for (int a = 0; a < REPORT_AXES; a++) fig_dist(d, a, &out[n++]);
    for (size_t i = 0; i < d->nstream; i++)
        fig_stream(&d->stream[i], d->detect_consumer[0] != '\0', &out[n++]);
    if (d->has_forecast)
        for (int a = 0; a < REPORT_AXES; a++) fig_forecast(&d->forecast[a], &out[n++]);
    return n;
}

int report_fig_write(const report_fig *f, const char *dir, char *err, size_t errlen)
{
    char *png = xasprintf("%s/%s.png", dir, f->name), *svg = xasprintf("%s/%s.svg", dir, f->name);
    int rc = plot_write_png(f->p, png, f->w, f->h, REPORT_PNG_SCALE, err, errlen);
    if (rc == 0) rc = plot_write_svg(f->p, svg, f->w, f->h, err, errlen);
    free(png);
    free(svg);
    return rc;
}

void report_fig_free(report_fig *figs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        plot_free(figs[i].p);
        figs[i].p = NULL;
    }
}
