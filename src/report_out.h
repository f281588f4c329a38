/* report_out: the report's two documents from its figures and text — DIR/report.pdf (A4,
 * several pages: the headline page, the tables, then the figures in grids, drawn as vectors)
 * and DIR/report.html (the same content; figures as the PNGs written beside it, each linking its
 * SVG). report_pdf.c and report_html.c implement them. */
#ifndef PGPULSE_REPORT_OUT_H
#define PGPULSE_REPORT_OUT_H

#include <stddef.h>

#include "report_data.h"
#include "report_fig.h"
#include "report_text.h"

/* Everything the documents show. */
typedef struct report_doc {
    const report_data *data;
    const report_tile *tiles;
    size_t ntiles;
    const report_table *tables;
    size_t ntables;
    const report_fig *figs;
    size_t nfigs;
    char generated[40]; /* when the report was made (UTC) */
} report_doc;

/* Writes the PDF to path; *pages receives its page count. Returns 0, or -1 with a message. */
int report_pdf_write(const report_doc *doc, const char *path, int *pages, char *err, size_t errlen);

/* Writes the HTML page to path (figures referenced by their file names, beside it). Returns 0,
 * or -1 with a message. */
int report_html_write(const report_doc *doc, const char *path, char *err, size_t errlen);

#endif
