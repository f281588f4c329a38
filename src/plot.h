/* plot: a small plotting library over cairo — one figure with a title, an x and a y axis
 * (labels with units, ticks at 1-2-5 steps or, on a time axis, at readable clock steps), a
 * legend, and series: lines, curves, histogram bars and shaded vertical spans (drawn under
 * everything else, ALERT before ERROR so red is never hidden).
 *
 * A figure is laid out in user units (text at fixed sizes: the title 15, labels 12, ticks 10.5)
 * and can be drawn into any w x h region of a cairo context — a PNG, an SVG, a PDF file, or a
 * page of a multi-page PDF. Text is measured (cairo_text_extents), so a tick label that would
 * touch its neighbour is dropped, the legend wraps, and the caption wraps to the width.
 * Fonts: DejaVu Sans (Debian's fonts-dejavu-core) through cairo's toy text API.
 *
 * Implemented in plot.c (figures, layout, drawing), plot_tick.c (tick steps and labels) and
 * plot_file.c (files). A plot owns copies of everything added to it; nothing is kept from the caller. Adding never
 * fails (out of memory aborts, util.h). */
#ifndef PGPULSE_PLOT_H
#define PGPULSE_PLOT_H

#include <stddef.h>

#include <cairo.h>

typedef struct plot_rgb {
    double r, g, b; /* 0..1 */
} plot_rgb;

extern const plot_rgb PLOT_ALERT;      /* #f5a623, the dashboard's ALERT orange */
extern const plot_rgb PLOT_ERROR;      /* #e5484d, its ERROR red */
extern const plot_rgb PLOT_GREY;       /* idle, context */
extern const plot_rgb PLOT_PALETTE[6]; /* series colours, distinct from the two above */

#define PLOT_FONT "DejaVu Sans"
#define PLOT_SPAN_MIN_W 4.0 /* a span narrower than this (user units) is widened to it */

typedef struct plot plot;

/* A new empty figure titled title (copied). */
plot *plot_new(const char *title);

/* Frees p and everything it holds; NULL is a no-op. */
void plot_free(plot *p);

/* The x axis: its label and unit (shown as "label (unit)"; unit NULL or "" for none). With
 * time set, x values are Unix seconds and ticks are clock times in UTC. */
void plot_set_x(plot *p, const char *label, const char *unit, int time);

/* The y axis: its label and unit. */
void plot_set_y(plot *p, const char *label, const char *unit);

/* Fixes an axis's range (lo < hi); otherwise it covers the data (y: with 5 % headroom, and 0
 * when there are bars). Data outside the range is clipped. */
void plot_set_xrange(plot *p, double lo, double hi);
void plot_set_yrange(plot *p, double lo, double hi);

/* A caption under the axes, wrapped to the figure's width (copied; replaces any earlier). */
void plot_set_caption(plot *p, const char *text);

/* A line through (x[i], y[i]), i < n, in x order. With more points than the plot is wide,
 * each column is drawn as its minimum-to-maximum stroke, so a spike is never lost. name NULL:
 * not in the legend. */
void plot_add_line(plot *p, const char *name, plot_rgb c, const double *x, const double *y,
                   size_t n);

/* A smooth curve (a model over the data, e.g. a normal density): like a line, drawn thicker
 * and dashed. */
void plot_add_curve(plot *p, const char *name, plot_rgb c, const double *x, const double *y,
                    size_t n);

/* Histogram bars: bar i spans edges[i]..edges[i+1] with height h[i] (nbins bars, nbins + 1
 * edges), filled and outlined. */
void plot_add_bars(plot *p, const char *name, plot_rgb c, const double *edges, const double *h,
                   size_t nbins);

/* A shaded vertical span over x0..x1, the full height of the plot area, at least
 * PLOT_SPAN_MIN_W wide. Spans of one name share one legend entry. */
void plot_add_span(plot *p, const char *name, plot_rgb c, double x0, double x1);

/* Draws p into the region (0, 0)-(w, h) of cr's user space (cr's state is saved and restored).
 * A figure without data draws its frame, title and "no data". */
void plot_draw(const plot *p, cairo_t *cr, double w, double h);

/* Where the data point (x, y) lands when p is drawn into w x h: *ux, *uy in user units. For
 * tests and annotations. */
void plot_locate(const plot *p, double w, double h, double x, double y, double *ux, double *uy);

/* Render p into a file, the figure laid out at w x h user units. PNG: w*scale x h*scale pixels
 * on white. SVG and PDF: w x h points. Each returns 0, or -1 with a message naming the file in
 * err. */
int plot_write_png(const plot *p, const char *path, double w, double h, double scale, char *err,
                   size_t errlen);
int plot_write_svg(const plot *p, const char *path, double w, double h, char *err, size_t errlen);
int plot_write_pdf(const plot *p, const char *path, double w, double h, char *err, size_t errlen);

/* Splits text into at most max lines no wider than maxw in cr's current font (a word wider than
 * maxw gets a line of its own; '\n' breaks a line). Returns the number of lines; the caller
 * frees each lines[i]. */
size_t plot_wrap(cairo_t *cr, const char *text, double maxw, char **lines, size_t max);

/* Releases cairo's static caches (its font faces) and fontconfig's, so that a process can end
 * with nothing allocated (LeakSanitizer, valgrind). Call once, after the last plot is drawn. */
void plot_release(void);

/* Selects the plots' font (PLOT_FONT) at pt points, bold or not, on cr — for text drawn beside
 * plots (the report's pages) to match them. */
void plot_font(cairo_t *cr, double pt, int bold);

/* The advance width of s in cr's current font. */
double plot_text_width(cairo_t *cr, const char *s);

/* The 1-2-5 tick step for covering span with about target intervals (span > 0, target >= 1). */
double plot_nice_step(double span, double target);

/* The clock step (seconds: 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10, 15, 30 min, 1, 2, 3, 6, 12 h,
 * 1, 2, 7, 14 days, then multiples of 30 days) for covering span seconds with about target
 * intervals. */
double plot_time_step(double span, double target);

/* Formats the tick at value v for step into out: on a linear axis with the decimals step needs
 * ("0.25", "1500", never "-0"); on a time axis (UTC) "HH:MM:SS" below a minute's step, "HH:MM"
 * within one day, "MM-DD HH:MM" across days, "YYYY-MM-DD" for steps of a day or more. */
void plot_format_tick(double v, double step, int time, double span, char *out, size_t outlen);

#endif
