/* report_html: the report as one HTML page (see report_out.h) — the headline tiles, the
 * tables, and the figures as the PNGs beside it, each linking its SVG, with its caption. Plain
 * HTML and a little CSS, light for printing; no script. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "report_out.h"
#include "util.h"

static void esc(buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        default: buf_append(b, s, 1);
        }
    }
}

static void table(buf *b, const report_table *t)
{
    buf_puts(b, "<section><h2>");
    esc(b, t->title);
    buf_puts(b, "</h2>\n<p class=note>");
    esc(b, t->note);
    buf_puts(b, "</p>\n<table><thead><tr>");
    for (int c = 0; c < t->ncols; c++) {
        buf_puts(b, t->right[c] ? "<th class=n>" : "<th>");
        esc(b, t->head[c]);
        buf_puts(b, "</th>");
    }
    buf_puts(b, "</tr></thead><tbody>\n");
    for (size_t r = 0; r < t->nrows; r++) {
        buf_puts(b, "<tr>");
        for (int c = 0; c < t->ncols; c++) {
            buf_puts(b, t->right[c] ? "<td class=n>" : "<td>");
            esc(b, report_cell(t, r, c));
            buf_puts(b, "</td>");
        }
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</tbody></table></section>\n");
}

static void figures(buf *b, const report_doc *doc, report_fig_kind kind, const char *title)
{
    int open = 0;
    for (size_t i = 0; i < doc->nfigs; i++) {
        const report_fig *f = &doc->figs[i];
        if (f->kind != kind) continue;
        if (!open) {
            buf_printf(b, "<section><h2>%s</h2>\n<div class=grid>\n", title);
            open = 1;
        }
        buf_printf(b,
                   "<figure class=\"%s\"><a href=\"%s.svg\"><img src=\"%s.png\" width=\"%.0f\" "
                   "height=\"%.0f\" alt=\"",
                   f->w > 600 ? "wide" : "small", f->name, f->name, f->w, f->h);
        esc(b, f->name);
        buf_puts(b, "\"></a><figcaption>");
        esc(b, f->caption);
        buf_printf(b, " <a href=\"%s.svg\">SVG</a></figcaption></figure>\n", f->name);
    }
    if (open) buf_puts(b, "</div></section>\n");
}

int report_html_write(const report_doc *doc, const char *path, char *err, size_t errlen)
{
    const report_data *d = doc->data;
    buf b = {0};
    buf_puts(&b,
             "<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n"
             "<meta name=viewport content=\"width=device-width, initial-scale=1\">\n"
             "<title>pgpulse report</title>\n<style>\n"
             ":root{--alert:#f5a623;--error:#e5484d;--dim:#5b6472;--line:#d5d9e0}\n"
             "body{font-family:'DejaVu Sans',system-ui,sans-serif;color:#1a1c20;margin:2rem auto;"
             "max-width:1700px;padding:0 1rem}\n"
             "h1{margin:0}.sub{color:var(--dim);margin:.3rem 0 1.5rem}\n"
             ".tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:.8rem}\n"
             ".tile{border:1px solid var(--line);border-radius:6px;padding:.7rem 1rem;background:#f6f7f9}\n"
             ".tile.ALERT{border-left:.35rem solid var(--alert)}.tile.ERROR{border-left:.35rem solid var(--error)}\n"
             ".tile .v{font-size:1.9rem;font-weight:700}.tile .d{color:var(--dim);font-size:.8rem}\n"
             "table{border-collapse:collapse;font-size:.85rem}th,td{padding:.2rem .7rem;"
             "border-bottom:1px solid var(--line);text-align:left}.n{text-align:right}\n"
             "tbody tr:nth-child(even){background:#f4f5f7}.note{color:var(--dim);max-width:60rem}\n"
             ".grid{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figure.small{width:600px}"
             "figure.wide{width:1200px}figure img{width:100%;height:auto;border:1px solid var(--line)}\n"
             "figcaption{font-size:.8rem;color:var(--dim)}\n"
             "</style></head><body>\n<h1>pgpulse report</h1>\n<p class=sub>");
    buf_printf(&b, "%.19s to %.19s UTC &middot; made %s &middot; <a href=\"report.pdf\">PDF</a></p>\n",
               d->from_text, d->to_text, doc->generated);
    buf_puts(&b, "<div class=tiles>\n");
    for (size_t i = 0; i < doc->ntiles; i++) {
        const report_tile *t = &doc->tiles[i];
        const char *cls = strstr(t->label, "ALERT") ? " ALERT" : strstr(t->label, "ERROR") ? " ERROR" : "";
        buf_printf(&b, "<div class=\"tile%s\"><div class=v>", cls);
        esc(&b, t->value);
        buf_puts(&b, "</div><div>");
        esc(&b, t->label);
        buf_puts(&b, "</div><div class=d>");
        esc(&b, t->detail);
        buf_puts(&b, "</div></div>\n");
    }
    buf_puts(&b, "</div>\n");
    for (size_t i = 0; i < doc->ntables; i++) table(&b, &doc->tables[i]);
    figures(&b, doc, REPORT_FIG_DIST, "Distributions of the current, per axis");
    figures(&b, doc, REPORT_FIG_STREAM, "Streaming charts: the robots with most anomaly episodes");
    figures(&b, doc, REPORT_FIG_FORECAST, "Forecasts against the readings, per axis");
    buf_puts(&b, "</body></html>\n");

    int rc = 0;
    FILE *f = fopen(path, "w");
    if (!f) rc = util_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    else {
        if (fwrite(b.data, 1, b.len, f) != b.len) rc = util_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
        if (fclose(f) != 0 && rc == 0) rc = util_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
    }
    buf_free(&b);
    return rc;
}
