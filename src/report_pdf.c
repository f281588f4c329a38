/* report_pdf: the report as an A4 PDF through cairo (see report_out.h). A small page cursor
 * flows headings, paragraphs, tables and figure grids down the page and starts a new page when
 * the next piece does not fit; figures are drawn by plot_draw, scaled into their cell, so they
 * stay vectors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-pdf.h>

#include "plot.h"
#include "report_out.h"
#include "util.h"

#define PAGE_W 595.0 /* A4 in points */
#define PAGE_H 842.0
#define MARGIN 42.0
#define BODY_W (PAGE_W - 2 * MARGIN)
#define GAP 8.0

typedef struct page {
    cairo_t *cr;
    double y;      /* the next free line's top */
    int number;    /* pages begun */
} page;

static void ink(cairo_t *cr, double grey) { cairo_set_source_rgb(cr, grey, grey, grey + 0.02); }

static void show(cairo_t *cr, double x, double y, const char *s)
{
    cairo_move_to(cr, x, y);
    cairo_show_text(cr, s);
}

static void footer(page *pg)
{
    char buf[64];
    plot_font(pg->cr, 8, 0);
    ink(pg->cr, 0.45);
    snprintf(buf, sizeof buf, "pgpulse report \xe2\x80\x94 page %d", pg->number);
    show(pg->cr, PAGE_W - MARGIN - plot_text_width(pg->cr, buf), PAGE_H - MARGIN / 2, buf);
}

static void new_page(page *pg)
{
    if (pg->number > 0) {
        footer(pg);
        cairo_show_page(pg->cr);
    }
    pg->number++;
    pg->y = MARGIN;
}

/* Makes room for h points, on a new page if needed; returns 1 when it started one. */
static int room(page *pg, double h)
{
    if (pg->y + h <= PAGE_H - MARGIN) return 0;
    new_page(pg);
    return 1;
}

static void heading(page *pg, const char *text, double pt)
{
    room(pg, pt * 2.2);
    plot_font(pg->cr, pt, 1);
    ink(pg->cr, 0.08);
    show(pg->cr, MARGIN, pg->y + pt, text);
    pg->y += pt * 1.7;
}

static void paragraph(page *pg, const char *text, double pt, double grey)
{
    char *lines[40];
    plot_font(pg->cr, pt, 0);
    size_t n = plot_wrap(pg->cr, text, BODY_W, lines, 40);
    double lh = pt * 1.35;
    for (size_t i = 0; i < n; i++) {
        room(pg, lh);
        plot_font(pg->cr, pt, 0);
        ink(pg->cr, grey);
        show(pg->cr, MARGIN, pg->y + pt, lines[i]);
        pg->y += lh;
        free(lines[i]);
    }
    pg->y += pt * 0.6;
}

static void first_page(page *pg, const report_doc *doc)
{
    const report_data *d = doc->data;
    cairo_t *cr = pg->cr;
    new_page(pg);
    plot_font(cr, 26, 1);
    ink(cr, 0.05);
    show(cr, MARGIN, pg->y + 26, "pgpulse report");
    pg->y += 40;
    char line[200];
    snprintf(line, sizeof line, "%.19s to %.19s UTC  \xc2\xb7  made %s", d->from_text, d->to_text,
             doc->generated);
    plot_font(cr, 10, 0);
    ink(cr, 0.35);
    show(cr, MARGIN, pg->y + 10, line);
    pg->y += 30;

    /* Tiles, three to a row. */
    double tw = (BODY_W - 2 * 12) / 3, th = 86;
    for (size_t i = 0; i < doc->ntiles; i++) {
        const report_tile *t = &doc->tiles[i];
        double x = MARGIN + (double)(i % 3) * (tw + 12), y = pg->y + (double)(i / 3) * (th + 12);
        cairo_rectangle(cr, x, y, tw, th);
        cairo_set_source_rgb(cr, 0.96, 0.965, 0.975);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.82, 0.84, 0.87);
        cairo_set_line_width(cr, 0.6);
        cairo_stroke(cr);
        int alert = strstr(t->label, "ALERT") != NULL, error = strstr(t->label, "ERROR") != NULL;
        if (alert || error) {
            plot_rgb c = alert ? PLOT_ALERT : PLOT_ERROR;
            cairo_rectangle(cr, x, y, 4, th);
            cairo_set_source_rgb(cr, c.r, c.g, c.b);
            cairo_fill(cr);
        }
        double pt = 24;
        plot_font(cr, pt, 1);
        while (pt > 10 && plot_text_width(cr, t->value) > tw - 20) plot_font(cr, pt -= 1, 1);
        ink(cr, 0.05);
        show(cr, x + 12, y + 34, t->value);
        plot_font(cr, 10, 0);
        ink(cr, 0.15);
        show(cr, x + 12, y + 54, t->label);
        pt = 8;
        plot_font(cr, pt, 0);
        while (pt > 5 && plot_text_width(cr, t->detail) > tw - 20) plot_font(cr, pt -= 0.5, 0);
        ink(cr, 0.42);
        show(cr, x + 12, y + 70, t->detail);
    }
    pg->y += ceil((double)doc->ntiles / 3) * (th + 12) + 14;

    heading(pg, "In this report", 12);
    paragraph(pg,
              "The tables: real against simulated statistics per axis (the workshop's export, "
              "this period's real robots and its simulated ones), forecasts against the readings, detection quality against "
              "the injected faults, and the registered models' metrics. The figures: each axis's "
              "distribution with normal curves over it and the idle zeros as a bar of their own; "
              "the robots with the most anomaly episodes over the period, with ALERT spans orange "
              "and ERROR spans red; each axis's forecast against the reading it was for. Every "
              "figure is also written as PNG and SVG beside this file (fig_*.png, fig_*.svg), and "
              "report.html shows them all.",
              9.5, 0.2);
}

/* Column widths: each column's widest text plus padding, scaled down to the body's width. */
static void column_widths(cairo_t *cr, const report_table *t, double *w)
{
    double total = 0;
    for (int c = 0; c < t->ncols; c++) {
        plot_font(cr, 8.5, 1);
        w[c] = plot_text_width(cr, t->head[c]);
        plot_font(cr, 8.5, 0);
        for (size_t r = 0; r < t->nrows; r++) w[c] = fmax(w[c], plot_text_width(cr, report_cell(t, r, c)));
        w[c] += 14;
        total += w[c];
    }
    double scale = total > BODY_W ? BODY_W / total : 1;
    for (int c = 0; c < t->ncols; c++) w[c] *= scale;
}

static void table_row(page *pg, const report_table *t, const double *w, size_t r, int head)
{
    cairo_t *cr = pg->cr;
    double x = MARGIN, rh = 12.5;
    if (!head && r % 2 == 1) {
        cairo_rectangle(cr, MARGIN, pg->y, BODY_W, rh);
        cairo_set_source_rgb(cr, 0.955, 0.96, 0.97);
        cairo_fill(cr);
    }
    plot_font(cr, 8.5, head);
    ink(cr, head ? 0.05 : 0.12);
    for (int c = 0; c < t->ncols; c++) {
        const char *s = head ? t->head[c] : report_cell(t, r, c);
        double tx = t->right[c] ? x + w[c] - 7 - plot_text_width(cr, s) : x + 7;
        show(cr, tx, pg->y + 9, s);
        x += w[c];
    }
    pg->y += rh;
    if (head) {
        cairo_set_source_rgb(cr, 0.3, 0.32, 0.35);
        cairo_set_line_width(cr, 0.6);
        cairo_move_to(cr, MARGIN, pg->y);
        cairo_line_to(cr, MARGIN + BODY_W, pg->y);
        cairo_stroke(cr);
        pg->y += 1;
    }
}

static void table(page *pg, const report_table *t)
{
    double w[REPORT_TABLE_COLS];
    room(pg, 12 * 2.2 + 40 + 12.5 * 4); /* no title alone at a page's foot */
    heading(pg, t->title, 12);
    paragraph(pg, t->note, 8.5, 0.3);
    column_widths(pg->cr, t, w);
    table_row(pg, t, w, 0, 1);
    for (size_t r = 0; r < t->nrows; r++) {
        if (room(pg, 12.5)) table_row(pg, t, w, 0, 1);
        table_row(pg, t, w, r, 0);
    }
    pg->y += 16;
}

static void figure(page *pg, const report_fig *f, double x, double w)
{
    double scale = w / f->w;
    cairo_save(pg->cr);
    cairo_translate(pg->cr, x, pg->y);
    cairo_scale(pg->cr, scale, scale);
    plot_draw(f->p, pg->cr, f->w, f->h);
    cairo_restore(pg->cr);
}

/* The figures of one kind, two to a row when small, one when wide, under a heading. */
static void figures(page *pg, const report_doc *doc, report_fig_kind kind, const char *title,
                    const char *intro)
{
    size_t first = doc->nfigs;
    for (size_t i = 0; i < doc->nfigs; i++)
        if (doc->figs[i].kind == kind) {
            first = i;
            break;
        }
    if (first == doc->nfigs) return;
    new_page(pg);
    heading(pg, title, 13);
    paragraph(pg, intro, 8.5, 0.3);
    for (size_t i = first; i < doc->nfigs && doc->figs[i].kind == kind;) {
        const report_fig *f = &doc->figs[i];
        int two = f->w < 600;
        double cw = two ? (BODY_W - GAP) / 2 : BODY_W, ch = f->h * cw / f->w;
        if (room(pg, ch)) {
            char cont[128];
            snprintf(cont, sizeof cont, "%s (continued)", title);
            heading(pg, cont, 11);
        }
        figure(pg, f, MARGIN, cw);
        i++;
        if (two && i < doc->nfigs && doc->figs[i].kind == kind) {
            figure(pg, &doc->figs[i], MARGIN + cw + GAP, cw);
            i++;
        }
        pg->y += ch + GAP;
    }
}

int report_pdf_write(const report_doc *doc, const char *path, int *pages, char *err, size_t errlen)
{
    cairo_surface_t *sf = cairo_pdf_surface_create(path, PAGE_W, PAGE_H);
    if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) {
        int rc = util_err(err, errlen, "%s: %s", path, cairo_status_to_string(cairo_surface_status(sf)));
        cairo_surface_destroy(sf);
        return rc;
    }
    cairo_pdf_surface_set_metadata(sf, CAIRO_PDF_METADATA_TITLE, "pgpulse report");
    cairo_pdf_surface_set_metadata(sf, CAIRO_PDF_METADATA_CREATOR, "pgpulse report");
    page pg = {cairo_create(sf), 0, 0};

    first_page(&pg, doc);
    new_page(&pg);
    for (size_t i = 0; i < doc->ntables; i++) table(&pg, &doc->tables[i]);
    figures(&pg, doc, REPORT_FIG_DIST, "Distributions of the current, per axis",
            "Each axis's readings as a share of all readings per bin. The idle readings (the axis "
            "exactly 0 A) are the grey bar ending at 0, clipped when taller than the running readings' "
            "scale (its share is in the legend). The purple dashed normal curve has the mean and "
            "standard deviation of all readings, zeros included, as the workshop fitted it; the "
            "green one those of the running readings.");
    figures(&pg, doc, REPORT_FIG_STREAM, "Streaming charts: the robots with most anomaly episodes",
            "Each robot's axis with the most episodes, as the minimum and maximum per time bucket; "
            "ALERT episodes orange, ERROR episodes red (on that axis or the whole robot), under the "
            "line; the window of at most 6 hours with the most episodes. A short episode is widened "
            "so that it shows.");
    figures(&pg, doc, REPORT_FIG_FORECAST, "Forecasts against the readings, per axis",
            "The forecast for a target time against the reading nearest it. R\xc2\xb2 and MAE in "
            "each title and caption are over every robot's forecasts whose target ran; the chart "
            "shows one robot's last forecasts.");
    footer(&pg);
    cairo_show_page(pg.cr);
    cairo_status_t st = cairo_status(pg.cr);
    cairo_destroy(pg.cr);
    cairo_surface_finish(sf);
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(sf);
    cairo_surface_destroy(sf);
    if (st != CAIRO_STATUS_SUCCESS) return util_err(err, errlen, "%s: %s", path, cairo_status_to_string(st));
    *pages = pg.number;
    return 0;
}
