/* pgpulse report [--from TS] [--to TS] --out DIR: reads the period from the database
 * (report_data), builds the figures (report_fig) and the headline and tables (report_text), and
 * writes DIR/fig_*.png and .svg, DIR/report.pdf and DIR/report.html (report_out). See
 * docs/report.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "plot.h"
#include "report_data.h"
#include "report_fig.h"
#include "report_out.h"
#include "report_text.h"
#include "util.h"

static void cmd_report_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse report [--from TS] [--to TS] --out DIR [--db URL]\n"
            "Writes a report of the readings, anomalies, forecasts and models into DIR (created if\n"
            "missing): report.pdf (A4: a first page of headline numbers, the tables, the figures),\n"
            "report.html (the same, with the figures as PNG), and every figure as fig_*.png and\n"
            "fig_*.svg. See docs/report.md.\n\n"
            "  --from TS   the period's start (ISO 8601; default: the first reading)\n"
            "  --to TS     its end, exclusive (default: just after the last reading)\n"
            "  --out DIR   where to write\n"
            "  --db URL    database (default: $PGPULSE_DB, PG* variables, private cluster)\n");
}

static int report_write(const report_data *d, const char *dir)
{
    char err[1024];
    report_fig figs[REPORT_MAX_FIGS];
    report_tile tiles[REPORT_MAX_TILES];
    report_table tables[REPORT_MAX_TABLES];
    size_t nfigs = report_fig_build(d, figs);
    size_t ntiles = report_text_tiles(d, tiles);
    size_t ntables = report_text_tables(d, tables);
    report_doc doc = {d, tiles, ntiles, tables, ntables, figs, nfigs, ""};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(doc.generated, sizeof doc.generated, "%Y-%m-%d %H:%M UTC", &tm);

    int rc = CLI_OK, pages = 0;
    for (size_t i = 0; i < nfigs && rc == CLI_OK; i++)
        if (report_fig_write(&figs[i], dir, err, sizeof err)) rc = CLI_FAIL;
    char *pdf = xasprintf("%s/report.pdf", dir), *html = xasprintf("%s/report.html", dir);
    if (rc == CLI_OK && report_pdf_write(&doc, pdf, &pages, err, sizeof err)) rc = CLI_FAIL;
    if (rc == CLI_OK && report_html_write(&doc, html, err, sizeof err)) rc = CLI_FAIL;
    if (rc == CLI_OK)
        printf("wrote %s (%d pages), %s and %zu figures (PNG and SVG) for %.19s to %.19s UTC\n", pdf,
               pages, html, nfigs, d->from_text, d->to_text);
    else
        cli_error("report", "%s", err);
    free(pdf);
    free(html);
    report_fig_free(figs, nfigs);
    report_text_free(tables, ntables);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *from = NULL, *to = NULL, *dir = NULL, *db = NULL;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'o': dir = optarg; break;
        case 'd': db = optarg; break;
        case 'h': cmd_report_usage(stdout); return CLI_OK;
        default: cmd_report_usage(stderr); return CLI_USAGE;
        }
    }
    if (!dir || optind < argc) {
        cli_error("report", "%s", !dir ? "--out DIR is required" : "unexpected argument");
        cmd_report_usage(stderr);
        return CLI_USAGE;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        cli_error("report", "%s: cannot create: %s", dir, strerror(errno));
        return CLI_FAIL;
    }
    PGconn *conn = cli_connect("report", db, 1, NULL);
    if (!conn) return CLI_FAIL;
    char err[1024];
    report_data d;
    int rc = CLI_OK;
    if (report_data_load(conn, from, to, &d, err, sizeof err)) {
        cli_error("report", "%s", err);
        rc = CLI_FAIL;
    }
    PQfinish(conn);
    if (rc == CLI_OK) rc = report_write(&d, dir);
    report_data_free(&d);
    plot_release();
    return rc;
}
