/* plot: figures over cairo (see plot.h). A figure is a list of series and axis settings;
 * drawing lays it out from measured text first (plot_layout), then paints in a fixed order:
 * background, title, legend, grid, spans, bars, lines, curves, axes, ticks, labels, caption.
 * The tick arithmetic is in plot_tick.c, the files in plot_file.c. */
#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

const plot_rgb PLOT_ALERT = {0xf5 / 255.0, 0xa6 / 255.0, 0x23 / 255.0};
const plot_rgb PLOT_ERROR = {0xe5 / 255.0, 0x48 / 255.0, 0x4d / 255.0};
const plot_rgb PLOT_GREY = {0.55, 0.57, 0.60};
const plot_rgb PLOT_PALETTE[6] = {
    {0.12, 0.35, 0.68}, /* blue */
    {0.10, 0.55, 0.35}, /* green */
    {0.45, 0.25, 0.62}, /* purple */
    {0.10, 0.10, 0.12}, /* near black */
    {0.00, 0.60, 0.65}, /* teal */
    {0.55, 0.35, 0.15}, /* brown */
};

#define TITLE_PT 15.0
#define LABEL_PT 12.0
#define TICK_PT 10.5
#define LEGEND_PT 11.0
#define CAPTION_PT 10.5
#define PAD 10.0
#define TICK_LEN 4.0
#define SPAN_ALPHA 0.55

typedef enum plot_kind { KIND_LINE, KIND_CURVE, KIND_BARS, KIND_SPAN } plot_kind;

typedef struct plot_series {
    plot_kind kind;
    char *name;   /* legend text, NULL for none */
    plot_rgb c;
    double *x;    /* lines, curves: n points; bars: n + 1 edges; spans: x[0], x[1] */
    double *y;    /* lines, curves, bars: n values; spans: NULL */
    size_t n;
} plot_series;

struct plot {
    char *title;
    char *xlabel, *xunit, *ylabel, *yunit;
    char *caption;
    int xtime;                 /* x values are Unix seconds */
    double xlo, xhi, ylo, yhi; /* fixed ranges; NAN: from the data */
    plot_series *s;
    size_t ns, cap;
};

/* ---------------------------------------------------------------------------------------
 * Building
 * --------------------------------------------------------------------------------------- */

plot *plot_new(const char *title)
{
    plot *p = xcalloc(1, sizeof *p);
    p->title = xstrdup(title ? title : "");
    p->xlo = p->xhi = p->ylo = p->yhi = NAN;
    return p;
}

void plot_free(plot *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->ns; i++) {
        free(p->s[i].name);
        free(p->s[i].x);
        free(p->s[i].y);
    }
    free(p->s);
    free(p->title);
    free(p->xlabel);
    free(p->xunit);
    free(p->ylabel);
    free(p->yunit);
    free(p->caption);
    free(p);
}

static void set_str(char **dst, const char *src)
{
    free(*dst);
    *dst = src && *src ? xstrdup(src) : NULL;
}

void plot_set_x(plot *p, const char *label, const char *unit, int time)
{
    set_str(&p->xlabel, label);
    set_str(&p->xunit, unit);
    p->xtime = time;
}

void plot_set_y(plot *p, const char *label, const char *unit)
{
    set_str(&p->ylabel, label);
    set_str(&p->yunit, unit);
}

void plot_set_xrange(plot *p, double lo, double hi)
{
    p->xlo = lo;
    p->xhi = hi;
}

void plot_set_yrange(plot *p, double lo, double hi)
{
    p->ylo = lo;
    p->yhi = hi;
}

void plot_set_caption(plot *p, const char *text) { set_str(&p->caption, text); }

static plot_series *add(plot *p, plot_kind kind, const char *name, plot_rgb c)
{
    if (p->ns == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->s = xrealloc(p->s, p->cap * sizeof *p->s);
    }
    plot_series *s = &p->s[p->ns++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->name = name && *name ? xstrdup(name) : NULL;
    s->c = c;
    return s;
}

static double *copy(const double *v, size_t n)
{
    double *out = xmalloc((n ? n : 1) * sizeof *out);
    if (n) memcpy(out, v, n * sizeof *out);
    return out;
}

static void add_xy(plot *p, plot_kind kind, const char *name, plot_rgb c, const double *x,
                   const double *y, size_t n)
{
    plot_series *s = add(p, kind, name, c);
    s->x = copy(x, n);
    s->y = copy(y, n);
    s->n = n;
}

void plot_add_line(plot *p, const char *name, plot_rgb c, const double *x, const double *y,
                   size_t n)
{
    add_xy(p, KIND_LINE, name, c, x, y, n);
}

void plot_add_curve(plot *p, const char *name, plot_rgb c, const double *x, const double *y,
                    size_t n)
{
    add_xy(p, KIND_CURVE, name, c, x, y, n);
}

void plot_add_bars(plot *p, const char *name, plot_rgb c, const double *edges, const double *h,
                   size_t nbins)
{
    plot_series *s = add(p, KIND_BARS, name, c);
    s->x = copy(edges, nbins + 1);
    s->y = copy(h, nbins);
    s->n = nbins;
}

void plot_add_span(plot *p, const char *name, plot_rgb c, double x0, double x1)
{
    plot_series *s = add(p, KIND_SPAN, name, c);
    double x[2] = {fmin(x0, x1), fmax(x0, x1)};
    s->x = copy(x, 2);
    s->n = 1;
}

/* ---------------------------------------------------------------------------------------
 * Layout
 * --------------------------------------------------------------------------------------- */

#define MAX_LINES 8  /* caption lines kept */
#define MAX_LEGEND 24

typedef struct legend_item {
    const plot_series *s;
    double x, y; /* swatch's left and text baseline */
} legend_item;

typedef struct layout {
    double w, h;
    double ax, ay, aw, ah;        /* the plot area */
    double xlo, xhi, ylo, yhi;    /* its data range */
    double xstep, ystep;
    int has_data;
    double title_pt, title_y;     /* title size (shrunk to fit) and baseline */
    legend_item legend[MAX_LEGEND];
    size_t nlegend;
    char *caption[MAX_LINES];     /* wrapped caption lines */
    size_t ncaption;
    double caption_y;             /* first caption line's baseline */
    double tick_h;                /* tick label line height */
    char xtitle[256], ytitle[256];
} layout;

void plot_font(cairo_t *cr, double pt, int bold)
{
    cairo_select_font_face(cr, PLOT_FONT, CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, pt);
}

double plot_text_width(cairo_t *cr, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

static double line_h(cairo_t *cr)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent + fe.descent;
}

static double ascent(cairo_t *cr)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent;
}

static void axis_title(char *out, size_t len, const char *label, const char *unit)
{
    if (label && unit) snprintf(out, len, "%s (%s)", label, unit);
    else snprintf(out, len, "%s", label ? label : unit ? unit : "");
}

size_t plot_wrap(cairo_t *cr, const char *text, double maxw, char **lines, size_t max)
{
    size_t n = 0;
    const char *p = text;
    while (*p && n < max) {
        while (*p == ' ') p++;
        const char *end = p, *best = NULL;
        while (*end) {
            const char *next = end;
            while (*next == ' ') next++;
            while (*next && *next != ' ' && *next != '\n') next++;
            char *cand = xstrndup(p, (size_t)(next - p));
            double tw = plot_text_width(cr, cand);
            free(cand);
            if (tw > maxw && best) break;
            best = next;
            end = next;
            if (*end == '\n' || tw > maxw) break;
        }
        if (!best) best = end;
        if (best == p) break;
        lines[n++] = xstrndup(p, (size_t)(best - p));
        p = best;
        if (*p == '\n') p++;
    }
    return n;
}

static void data_range(const plot *p, double *xlo, double *xhi, double *ylo, double *yhi,
                       int *bars)
{
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    *bars = 0;
    for (size_t i = 0; i < p->ns; i++) {
        const plot_series *s = &p->s[i];
        if (s->kind == KIND_SPAN) {
            *xlo = fmin(*xlo, s->x[0]);
            *xhi = fmax(*xhi, s->x[1]);
            continue;
        }
        size_t nx = s->kind == KIND_BARS ? s->n + 1 : s->n;
        for (size_t k = 0; k < nx; k++)
            if (isfinite(s->x[k])) {
                *xlo = fmin(*xlo, s->x[k]);
                *xhi = fmax(*xhi, s->x[k]);
            }
        for (size_t k = 0; k < s->n; k++)
            if (isfinite(s->y[k])) {
                *ylo = fmin(*ylo, s->y[k]);
                *yhi = fmax(*yhi, s->y[k]);
            }
        if (s->kind == KIND_BARS) *bars = 1;
    }
}

static void layout_free(layout *L)
{
    for (size_t i = 0; i < L->ncaption; i++) free(L->caption[i]);
    L->ncaption = 0;
}

/* The widest y tick label over the range at step. */
static double ytick_width(cairo_t *cr, const layout *L)
{
    double widest = 0;
    char buf[64];
    for (double v = ceil(L->ylo / L->ystep - 1e-9) * L->ystep; v <= L->yhi + L->ystep * 1e-9;
         v += L->ystep) {
        plot_format_tick(v, L->ystep, 0, L->yhi - L->ylo, buf, sizeof buf);
        widest = fmax(widest, plot_text_width(cr, buf));
    }
    return widest;
}

static void plot_layout(const plot *p, cairo_t *cr, double w, double h, layout *L)
{
    memset(L, 0, sizeof *L);
    L->w = w;
    L->h = h;
    double top = PAD;

    /* Title: shrunk until it fits the width. */
    L->title_pt = TITLE_PT;
    plot_font(cr, L->title_pt, 1);
    while (L->title_pt > 8 && plot_text_width(cr, p->title) > w - 2 * PAD) {
        L->title_pt -= 0.5;
        plot_font(cr, L->title_pt, 1);
    }
    L->title_y = top + ascent(cr);
    top += line_h(cr) + 6;

    /* Legend: one entry per distinct name, in rows under the title. */
    plot_font(cr, LEGEND_PT, 0);
    double lh = line_h(cr) + 4, lx = PAD, rows = 0;
    for (size_t i = 0; i < p->ns && L->nlegend < MAX_LEGEND; i++) {
        const plot_series *s = &p->s[i];
        if (!s->name) continue;
        int seen = 0;
        for (size_t k = 0; k < L->nlegend; k++)
            if (!strcmp(L->legend[k].s->name, s->name)) seen = 1;
        if (seen) continue;
        double ew = 24 + 5 + plot_text_width(cr, s->name);
        if (rows == 0) rows = 1;
        else if (lx + ew > w - PAD) {
            rows++;
            lx = PAD;
        }
        L->legend[L->nlegend++] = (legend_item){s, lx, top + (rows - 1) * lh + ascent(cr)};
        lx += ew + 16;
    }
    top += rows * lh + (rows ? 6 : 0);

    /* Bottom: tick labels, the x title, the caption. */
    plot_font(cr, TICK_PT, 0);
    L->tick_h = line_h(cr);
    double bottom = PAD;
    if (p->caption) {
        plot_font(cr, CAPTION_PT, 0);
        L->ncaption = plot_wrap(cr, p->caption, w - 2 * PAD, L->caption, MAX_LINES);
        bottom += L->ncaption * (line_h(cr) + 1) + 4;
    }
    plot_font(cr, LABEL_PT, 0);
    double label_h = line_h(cr);
    bottom += label_h + 4 + L->tick_h + TICK_LEN + 4;

    /* Ranges. */
    double dxlo, dxhi, dylo, dyhi;
    int bars;
    data_range(p, &dxlo, &dxhi, &dylo, &dyhi, &bars);
    L->has_data = isfinite(dxlo) && isfinite(dxhi);
    L->xlo = isfinite(p->xlo) ? p->xlo : isfinite(dxlo) ? dxlo : 0;
    L->xhi = isfinite(p->xhi) ? p->xhi : isfinite(dxhi) ? dxhi : 1;
    if (!(L->xhi > L->xlo)) {
        double half = p->xtime ? 30 : 0.5;
        L->xlo -= half;
        L->xhi = L->xlo + 2 * half;
    }
    L->ylo = isfinite(p->ylo) ? p->ylo : isfinite(dylo) ? dylo : 0;
    L->yhi = isfinite(p->yhi) ? p->yhi : isfinite(dyhi) ? dyhi : 1;
    if (bars && !isfinite(p->ylo)) L->ylo = fmin(L->ylo, 0);
    if (!(L->yhi > L->ylo)) {
        L->ylo -= 0.5;
        L->yhi += 0.5;
    }
    L->ay = top;
    L->ah = h - top - bottom;
    if (L->ah < 20) L->ah = 20;
    L->ystep = plot_nice_step(L->yhi - L->ylo, fmax(2, L->ah / 45));
    if (!isfinite(p->yhi)) {
        double head = L->yhi + 0.05 * (L->yhi - L->ylo);
        L->yhi = ceil(head / L->ystep - 1e-9) * L->ystep;
    }
    if (!isfinite(p->ylo) && L->ylo >= 0 && L->ylo <= 0.1 * (L->yhi - L->ylo)) {
        L->ylo = 0; /* a quantity that starts at or near 0 (a current, a count) starts at 0 */
    } else if (!isfinite(p->ylo)) {
        double foot = L->ylo - 0.05 * (L->yhi - L->ylo);
        L->ylo = floor(foot / L->ystep + 1e-9) * L->ystep;
    }

    /* Left: the y title (rotated) and the widest y tick label. */
    plot_font(cr, TICK_PT, 0);
    double left = PAD + label_h + 6 + ytick_width(cr, L) + TICK_LEN + 4;
    L->ax = left;
    L->aw = w - left - PAD - 14;
    if (L->aw < 20) L->aw = 20;
    double span = L->xhi - L->xlo;
    L->xstep = p->xtime ? plot_time_step(span, fmax(2, L->aw / 70))
                        : plot_nice_step(span, fmax(2, L->aw / 80));
    L->caption_y = L->ay + L->ah + TICK_LEN + 4 + L->tick_h + 4 + label_h + 4;
    axis_title(L->ytitle, sizeof L->ytitle, p->ylabel, p->yunit);
    if (p->xtime) {
        char unit[160], day[32];
        time_t t = (time_t)llround(L->xlo);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        if (span <= 86400 && L->xstep < 86400)
            snprintf(unit, sizeof unit, "%s, %s", p->xunit ? p->xunit : "UTC", day);
        else
            snprintf(unit, sizeof unit, "%s", p->xunit ? p->xunit : "UTC");
        axis_title(L->xtitle, sizeof L->xtitle, p->xlabel ? p->xlabel : "time", unit);
    } else {
        axis_title(L->xtitle, sizeof L->xtitle, p->xlabel, p->xunit);
    }
}

/* ---------------------------------------------------------------------------------------
 * Drawing
 * --------------------------------------------------------------------------------------- */

static double map_x(const layout *L, double x)
{
    return L->ax + (x - L->xlo) / (L->xhi - L->xlo) * L->aw;
}

static double map_y(const layout *L, double y)
{
    return L->ay + L->ah - (y - L->ylo) / (L->yhi - L->ylo) * L->ah;
}

static void rgb(cairo_t *cr, plot_rgb c, double alpha)
{
    cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

static int same_rgb(plot_rgb a, plot_rgb b)
{
    return fabs(a.r - b.r) < 1e-9 && fabs(a.g - b.g) < 1e-9 && fabs(a.b - b.b) < 1e-9;
}

static void style(cairo_t *cr, const plot_series *s)
{
    static const double dash[] = {7, 4};
    rgb(cr, s->c, 1);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    if (s->kind == KIND_CURVE) {
        cairo_set_line_width(cr, 2.2);
        cairo_set_dash(cr, dash, 2, 0);
    } else {
        cairo_set_line_width(cr, 1.3);
        cairo_set_dash(cr, NULL, 0, 0);
    }
}

/* A column's points, for drawing a line denser than the plot is wide. */
typedef struct column {
    long col;
    double first, lo, hi, last;
    int used;
} column;

static void flush_column(cairo_t *cr, column *c, int *pen)
{
    if (!c->used) return;
    double x = (double)c->col + 0.5;
    if (*pen) cairo_line_to(cr, x, c->first);
    else cairo_move_to(cr, x, c->first);
    cairo_line_to(cr, x, c->lo);
    cairo_line_to(cr, x, c->hi);
    cairo_line_to(cr, x, c->last);
    *pen = 1;
    c->used = 0;
}

static void draw_xy(cairo_t *cr, const layout *L, const plot_series *s)
{
    style(cr, s);
    cairo_new_path(cr);
    int pen = 0;
    if ((double)s->n > 2 * L->aw) {
        column c = {0};
        for (size_t i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
                flush_column(cr, &c, &pen);
                pen = 0;
                continue;
            }
            double ux = map_x(L, s->x[i]), uy = map_y(L, s->y[i]);
            long col = (long)floor(ux);
            if (c.used && col != c.col) flush_column(cr, &c, &pen);
            if (!c.used) c = (column){col, uy, uy, uy, uy, 1};
            c.lo = fmin(c.lo, uy);
            c.hi = fmax(c.hi, uy);
            c.last = uy;
        }
        flush_column(cr, &c, &pen);
    } else {
        for (size_t i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
                pen = 0;
                continue;
            }
            double ux = map_x(L, s->x[i]), uy = map_y(L, s->y[i]);
            if (pen) cairo_line_to(cr, ux, uy);
            else cairo_move_to(cr, ux, uy);
            pen = 1;
        }
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

static void draw_bars(cairo_t *cr, const layout *L, const plot_series *s)
{
    double base = map_y(L, fmax(L->ylo, fmin(0, L->yhi)));
    for (size_t i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i]) || !isfinite(s->x[i]) || !isfinite(s->x[i + 1])) continue;
        double x0 = map_x(L, s->x[i]), x1 = map_x(L, s->x[i + 1]), top = map_y(L, s->y[i]);
        cairo_rectangle(cr, x0, fmin(top, base), x1 - x0, fabs(base - top));
        rgb(cr, s->c, 0.75);
        if (x1 - x0 >= 2) {
            cairo_fill_preserve(cr);
            cairo_set_line_width(cr, 0.6);
            rgb(cr, (plot_rgb){s->c.r * 0.6, s->c.g * 0.6, s->c.b * 0.6}, 1);
            cairo_stroke(cr);
        } else {
            cairo_fill(cr);
        }
    }
}

static void span_box(const layout *L, const plot_series *s, double *x0, double *x1)
{
    *x0 = map_x(L, s->x[0]);
    *x1 = map_x(L, s->x[1]);
    if (*x1 - *x0 < PLOT_SPAN_MIN_W) {
        double mid = (*x0 + *x1) / 2;
        *x0 = mid - PLOT_SPAN_MIN_W / 2;
        *x1 = mid + PLOT_SPAN_MIN_W / 2;
    }
}

static void draw_spans(cairo_t *cr, const layout *L, const plot *p)
{
    /* ERROR-red spans last, so an ERROR inside an ALERT stays red. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < p->ns; i++) {
            const plot_series *s = &p->s[i];
            if (s->kind != KIND_SPAN || same_rgb(s->c, PLOT_ERROR) != pass) continue;
            double x0, x1;
            span_box(L, s, &x0, &x1);
            cairo_rectangle(cr, x0, L->ay, x1 - x0, L->ah);
            rgb(cr, s->c, SPAN_ALPHA);
            cairo_fill(cr);
        }
}

static void draw_legend(cairo_t *cr, const layout *L)
{
    plot_font(cr, LEGEND_PT, 0);
    double a = ascent(cr);
    for (size_t i = 0; i < L->nlegend; i++) {
        const legend_item *it = &L->legend[i];
        const plot_series *s = it->s;
        double mid = it->y - a * 0.35;
        if (s->kind == KIND_LINE || s->kind == KIND_CURVE) {
            style(cr, s);
            cairo_move_to(cr, it->x + 1, mid);
            cairo_line_to(cr, it->x + 23, mid);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        } else {
            cairo_rectangle(cr, it->x, mid - 5, 24, 10);
            rgb(cr, s->c, s->kind == KIND_SPAN ? SPAN_ALPHA : 0.75);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.12);
        cairo_move_to(cr, it->x + 29, it->y);
        cairo_show_text(cr, s->name);
    }
}

#define MAX_TICKS 64

typedef struct tick {
    double pos;   /* user units along the axis */
    char text[48];
} tick;

/* The x ticks whose labels fit side by side (at least 8 units apart) inside the figure. */
static size_t x_ticks(cairo_t *cr, const plot *p, const layout *L, tick *out)
{
    plot_font(cr, TICK_PT, 0);
    size_t n = 0;
    double right = -INFINITY;
    double first = ceil(L->xlo / L->xstep - 1e-9) * L->xstep;
    for (int k = 0; k < 400 && n < MAX_TICKS; k++) {
        double v = first + k * L->xstep;
        if (v > L->xhi + L->xstep * 1e-9) break;
        tick t;
        t.pos = map_x(L, v);
        plot_format_tick(v, L->xstep, p->xtime, L->xhi - L->xlo, t.text, sizeof t.text);
        double tw = plot_text_width(cr, t.text), left = t.pos - tw / 2;
        if (left < 2 || left + tw > L->w - 2 || left < right + 8) continue;
        right = left + tw;
        out[n++] = t;
    }
    return n;
}

/* The y ticks whose labels do not touch vertically. */
static size_t y_ticks(cairo_t *cr, const layout *L, tick *out)
{
    plot_font(cr, TICK_PT, 0);
    size_t n = 0;
    double above = INFINITY, hgt = line_h(cr);
    double first = ceil(L->ylo / L->ystep - 1e-9) * L->ystep;
    for (int k = 0; k < 400 && n < MAX_TICKS; k++) {
        double v = first + k * L->ystep;
        if (v > L->yhi + L->ystep * 1e-9) break;
        tick t;
        t.pos = map_y(L, v);
        if (t.pos + hgt / 2 > above - 2) continue;
        plot_format_tick(v, L->ystep, 0, L->yhi - L->ylo, t.text, sizeof t.text);
        above = t.pos - hgt / 2;
        out[n++] = t;
    }
    return n;
}

static void show_fitted(cairo_t *cr, const char *text, double pt, int bold, double maxw,
                        double *width)
{
    plot_font(cr, pt, bold);
    while (pt > 7 && plot_text_width(cr, text) > maxw) {
        pt -= 0.5;
        plot_font(cr, pt, bold);
    }
    *width = plot_text_width(cr, text);
}

void plot_draw(const plot *p, cairo_t *cr, double w, double h)
{
    cairo_save(cr);
    layout L;
    plot_layout(p, cr, w, h, &L);
    cairo_rectangle(cr, 0, 0, w, h);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_fill(cr);

    const plot_rgb ink = {0.1, 0.1, 0.12};
    plot_font(cr, L.title_pt, 1);
    rgb(cr, ink, 1);
    cairo_move_to(cr, (w - plot_text_width(cr, p->title)) / 2, L.title_y);
    cairo_show_text(cr, p->title);
    draw_legend(cr, &L);

    tick xt[MAX_TICKS], yt[MAX_TICKS];
    size_t nx = x_ticks(cr, p, &L, xt), ny = y_ticks(cr, &L, yt);

    /* The plot area: grid, then the data, clipped to it. */
    cairo_save(cr);
    cairo_rectangle(cr, L.ax, L.ay, L.aw, L.ah);
    cairo_clip(cr);
    cairo_set_line_width(cr, 0.5);
    cairo_set_source_rgb(cr, 0.88, 0.89, 0.91);
    for (size_t i = 0; i < nx; i++) {
        cairo_move_to(cr, xt[i].pos, L.ay);
        cairo_line_to(cr, xt[i].pos, L.ay + L.ah);
    }
    for (size_t i = 0; i < ny; i++) {
        cairo_move_to(cr, L.ax, yt[i].pos);
        cairo_line_to(cr, L.ax + L.aw, yt[i].pos);
    }
    cairo_stroke(cr);
    draw_spans(cr, &L, p);
    for (size_t i = 0; i < p->ns; i++)
        if (p->s[i].kind == KIND_BARS) draw_bars(cr, &L, &p->s[i]);
    for (size_t i = 0; i < p->ns; i++)
        if (p->s[i].kind == KIND_LINE) draw_xy(cr, &L, &p->s[i]);
    for (size_t i = 0; i < p->ns; i++)
        if (p->s[i].kind == KIND_CURVE) draw_xy(cr, &L, &p->s[i]);
    cairo_restore(cr);

    /* Frame, ticks and their labels. */
    rgb(cr, ink, 1);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, L.ax, L.ay, L.aw, L.ah);
    cairo_stroke(cr);
    plot_font(cr, TICK_PT, 0);
    double ta = ascent(cr);
    for (size_t i = 0; i < nx; i++) {
        cairo_move_to(cr, xt[i].pos, L.ay + L.ah);
        cairo_line_to(cr, xt[i].pos, L.ay + L.ah + TICK_LEN);
        cairo_stroke(cr);
        cairo_move_to(cr, xt[i].pos - plot_text_width(cr, xt[i].text) / 2, L.ay + L.ah + TICK_LEN + 3 + ta);
        cairo_show_text(cr, xt[i].text);
    }
    for (size_t i = 0; i < ny; i++) {
        cairo_move_to(cr, L.ax - TICK_LEN, yt[i].pos);
        cairo_line_to(cr, L.ax, yt[i].pos);
        cairo_stroke(cr);
        cairo_move_to(cr, L.ax - TICK_LEN - 3 - plot_text_width(cr, yt[i].text), yt[i].pos + ta * 0.4);
        cairo_show_text(cr, yt[i].text);
    }

    /* Axis titles. */
    double tw;
    show_fitted(cr, L.xtitle, LABEL_PT, 0, L.aw, &tw);
    cairo_move_to(cr, L.ax + (L.aw - tw) / 2, L.ay + L.ah + TICK_LEN + 4 + L.tick_h + 4 + ascent(cr));
    cairo_show_text(cr, L.xtitle);
    show_fitted(cr, L.ytitle, LABEL_PT, 0, L.ah, &tw);
    cairo_save(cr);
    cairo_move_to(cr, PAD + ascent(cr), L.ay + (L.ah + tw) / 2);
    cairo_rotate(cr, -M_PI / 2);
    cairo_show_text(cr, L.ytitle);
    cairo_restore(cr);

    if (L.ncaption) {
        plot_font(cr, CAPTION_PT, 0);
        cairo_set_source_rgb(cr, 0.25, 0.27, 0.3);
        double lh = line_h(cr) + 1, a = ascent(cr);
        for (size_t i = 0; i < L.ncaption; i++) {
            cairo_move_to(cr, PAD, L.caption_y + i * lh + a);
            cairo_show_text(cr, L.caption[i]);
        }
    }
    if (!L.has_data) {
        plot_font(cr, LABEL_PT, 0);
        cairo_set_source_rgb(cr, 0.45, 0.47, 0.5);
        const char *msg = "no data";
        cairo_move_to(cr, L.ax + (L.aw - plot_text_width(cr, msg)) / 2, L.ay + L.ah / 2);
        cairo_show_text(cr, msg);
    }
    layout_free(&L);
    cairo_restore(cr);
}

void plot_locate(const plot *p, double w, double h, double x, double y, double *ux, double *uy)
{
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1);
    cairo_t *cr = cairo_create(sf);
    layout L;
    plot_layout(p, cr, w, h, &L);
    *ux = map_x(&L, x);
    *uy = map_y(&L, y);
    layout_free(&L);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
}
