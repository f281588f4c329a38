/* Integration tests of pgpulse report (cmd_report, report_*) against a real PostgreSQL: over a
 * simulated fleet (pgpulse gen, heavy faults) with anomaly episodes made from its plateau and
 * spike faults and forecasts made from its readings (so every expected figure is known), the
 * report writes a PDF whose page tree holds the pages it says, a PNG and an SVG per figure
 * that decode (cairo) at their size, and an HTML page showing the counts the database holds;
 * with readings only it still renders (no forecast figures), and a bad or empty period fails
 * with a message. */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>
#include <cmocka.h>

#include "harness.h"
#include "util.h"

static const char *db;

/* Three robots, 30,000 readings, heavy faults, from a fixed start. */
static void gen(const char *conninfo)
{
    harness_out o = harness_pgpulse_limit(
        300, NULL,
        (const char *[]){"gen", "--db", conninfo, "--robots", "3", "--first-robot", "501", "--rows",
                         "30000", "--seed", "5", "--faults", "heavy", "--start",
                         "2026-03-01T00:00:00Z", "--rate", "40000", "--speedup", "100000",
                         "--batch", "5000", NULL});
    if (o.status != 0) fail_msg("gen failed (%d): %s", o.status, o.err);
    harness_out_free(&o);
}

static size_t file_bytes(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = xmalloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *out = b;
    return (size_t)n;
}

/* Pages in a PDF: "/Type /Page" objects (not "/Pages"), checked against the page tree's
 * /Count. */
static int pdf_pages(const char *path)
{
    char *b;
    size_t n = file_bytes(path, &b);
    assert_true(n > 1000);
    assert_memory_equal(b, "%PDF-", 5);
    size_t end = n;
    while (end > 0 && (b[end - 1] == '\n' || b[end - 1] == '\r')) end--;
    assert_memory_equal(b + end - 5, "%%EOF", 5);
    int pages = 0;
    long count = -1;
    for (size_t i = 0; i + 12 < n; i++) {
        if (!memcmp(b + i, "/Type /Page", 11) && b[i + 11] != 's') pages++;
        if (count < 0 && !memcmp(b + i, "/Count", 6)) count = strtol(b + i + 6, NULL, 10);
    }
    assert_int_equal(count, pages);
    free(b);
    return pages;
}

/* Whether the table row starting with `start` holds `cell` (before its </tr>). */
static int row_has(const char *html, const char *start, const char *cell)
{
    const char *row = strstr(html, start);
    if (!row) fail_msg("no row %s", start);
    const char *end = strstr(row, "</tr>"), *at = strstr(row, cell);
    return at && end && at < end;
}

/* Runs the report into a new directory; returns the directory (newly allocated) and the page
 * count it printed. */
static char *report(const char *const *extra, int *pages)
{
    static int runs;
    char *dir = xasprintf("%s/report%d", harness_tmpdir(), ++runs);
    const char *argv[16] = {"report", "--db", db, "--out", dir};
    int k = 5;
    for (; extra && *extra; extra++) argv[k++] = *extra;
    argv[k] = NULL;
    harness_out o = harness_pgpulse_limit(300, NULL, argv);
    if (o.status != 0) fail_msg("report failed (%d): %s", o.status, o.err);
    const char *p = strstr(o.out, "report.pdf (");
    assert_non_null(p);
    *pages = atoi(p + strlen("report.pdf ("));
    harness_out_free(&o);
    return dir;
}

/* Every fig_*.png decodes at a figure's size (2x: 800 x 660 small, 1600 x 660 wide), every
 * fig_*.svg is a whole SVG document, and report.html shows each PNG. Returns the PNGs. */
static int check_figures(const char *dir, int *small, int *wide)
{
    char *html_path = xasprintf("%s/report.html", dir), *html;
    file_bytes(html_path, &html);
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    struct dirent *e;
    int pngs = 0, svgs = 0;
    *small = *wide = 0;
    while ((e = readdir(dh))) {
        size_t len = strlen(e->d_name);
        char *path = xasprintf("%s/%s", dir, e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".png")) {
            cairo_surface_t *img = cairo_image_surface_create_from_png(path);
            if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS)
                fail_msg("%s: %s", path, cairo_status_to_string(cairo_surface_status(img)));
            int w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
            assert_int_equal(h, 660);
            if (w == 800) (*small)++;
            else if (w == 1600) (*wide)++;
            else fail_msg("%s: %d x %d", path, w, h);
            cairo_surface_destroy(img);
            if (!strstr(html, e->d_name)) fail_msg("report.html does not show %s", e->d_name);
            pngs++;
        } else if (len > 4 && !strcmp(e->d_name + len - 4, ".svg")) {
            char *svg;
            file_bytes(path, &svg);
            assert_memory_equal(svg, "<?xml", 5);
            assert_non_null(strstr(svg, "</svg>"));
            free(svg);
            svgs++;
        }
        free(path);
    }
    closedir(dh);
    assert_int_equal(pngs, svgs);
    free(html);
    free(html_path);
    return pngs;
}

static void test_full_report(void **state)
{
    (void)state;
    db = harness_db("report", 1);
    if (!db) skip();
    gen(db);
    PGconn *conn = harness_connect(db);
    /* Episodes: one per plateau and spike fault, as a detector that finds exactly those. */
    harness_exec(conn,
                 "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, ts_end, "
                 "peak_score, peak_z, detector, readings, open) SELECT 'test', robot_id, axis, level, "
                 "ts_start, ts_start, ts_end, 0.9, 5, 'robust', 1, false FROM fault "
                 "WHERE kind IN ('plateau', 'spike')");
    /* Forecasts: one a minute per robot and axis, 0.9 x the reading it is for + 0.1 A. */
    harness_exec(conn,
                 "INSERT INTO prediction (consumer, robot_id, ts, kind, axis, horizon, target_ts, value) "
                 "SELECT 'fc', robot_id, ts - interval '1 s', 'forecast', a, 1, ts, 0.9 * v + 0.1 "
                 "FROM (SELECT DISTINCT ON (robot_id, date_trunc('minute', ts)) * FROM reading "
                 "ORDER BY robot_id, date_trunc('minute', ts), ts) r CROSS JOIN LATERAL (VALUES "
                 "(1, axis1), (2, axis2), (3, axis3), (4, axis4), (5, axis5), (6, axis6), (7, axis7), "
                 "(8, axis8)) x(a, v)");
    int64_t alerts = harness_query_int(conn, "SELECT count(*) FROM anomaly WHERE level = 'ALERT'");
    int64_t errors = harness_query_int(conn, "SELECT count(*) FROM anomaly WHERE level = 'ERROR'");
    int64_t readings = harness_query_int(conn, "SELECT count(*) FROM reading");
    assert_true(alerts > 0 && errors > 0);

    int pages;
    char *dir = report(NULL, &pages);
    char *pdf = xasprintf("%s/report.pdf", dir);
    assert_int_equal(pdf_pages(pdf), pages);
    /* First page, tables, 8 distributions (2 pages), 3 streaming charts (1 page), 8 forecasts
     * (2 pages). */
    assert_true(pages >= 7);
    int small, wide;
    assert_int_equal(check_figures(dir, &small, &wide), 8 + 3 + 8);
    assert_int_equal(small, 16);
    assert_int_equal(wide, 3);

    /* The HTML's numbers are the database's. */
    char *html_path = xasprintf("%s/report.html", dir), *html, want[128], n[32];
    file_bytes(html_path, &html);
    snprintf(want, sizeof want, "<div class=v>%s</div><div>ALERT episodes",
             util_fmt_count(n, sizeof n, (uint64_t)alerts));
    assert_non_null(strstr(html, want));
    snprintf(want, sizeof want, "<div class=v>%s</div><div>ERROR episodes",
             util_fmt_count(n, sizeof n, (uint64_t)errors));
    assert_non_null(strstr(html, want));
    snprintf(want, sizeof want, "%s readings", util_fmt_count(n, sizeof n, (uint64_t)readings));
    assert_non_null(strstr(html, want));
    /* Plateaus and spikes all detected, nothing else. */
    assert_true(row_has(html, "<td>plateau</td><td>ERROR</td>", "<td class=n>100.0 %</td>"));
    assert_true(row_has(html, "<td>plateau</td><td>ALERT</td>", "<td class=n>100.0 %</td>"));
    assert_true(row_has(html, "<td>spike</td><td>ERROR</td>", "<td class=n>100.0 %</td>"));
    assert_true(row_has(html, "<td>stuck</td><td>ALERT</td>", "<td class=n>0.0 %</td>"));
    /* A forecast of 0.9 x + 0.1 explains most of the variance: every axis's R² above 0.9. */
    const char *fc = strstr(html, "Forecasts against the readings</h2>");
    assert_non_null(fc);
    for (int a = 1; a <= 8; a++) {
        char cell[32];
        snprintf(cell, sizeof cell, "<tr><td>%d</td>", a);
        const char *r = strstr(fc, cell);
        assert_non_null(r);
        /* columns: axis, scored, idle targets, MAE, R² */
        const char *c = r;
        for (int k = 0; k < 5; k++) c = strstr(c + 1, "<td");
        c = strchr(c, '>') + 1;
        double r2 = strtod(c, NULL);
        if (!(r2 > 0.9)) fail_msg("axis %d: R² %g", a, r2);
    }
    free(html);
    free(html_path);

    /* A period of one day: still every kind of figure. */
    free(pdf);
    free(dir);
    dir = report((const char *[]){"--from", "2026-03-01T06:00:00Z", "--to", "2026-03-02T06:00:00Z", NULL}, &pages);
    pdf = xasprintf("%s/report.pdf", dir);
    assert_int_equal(pdf_pages(pdf), pages);
    int figs = check_figures(dir, &small, &wide);
    assert_int_equal(figs, 16 + wide);
    assert_true(wide >= 1);
    free(pdf);
    free(dir);
    PQfinish(conn);
}

/* Readings only (no detection, no learning ran): the distributions and a streaming chart. */
static void test_readings_only(void **state)
{
    (void)state;
    const char *conninfo = harness_db("report_bare", 1);
    if (!conninfo) skip();
    gen(conninfo);
    db = conninfo;
    int pages, small, wide;
    char *dir = report(NULL, &pages);
    char *pdf = xasprintf("%s/report.pdf", dir);
    assert_int_equal(pdf_pages(pdf), pages);
    int figs = check_figures(dir, &small, &wide);
    assert_int_equal(figs, 8 + wide);
    assert_int_equal(small, 8);
    assert_true(wide >= 1);
    free(pdf);
    free(dir);

    /* A bad or empty period, and no --out, fail with a message. */
    dir = xasprintf("%s/bad", harness_tmpdir());
    harness_out o = harness_pgpulse(NULL, (const char *[]){"report", "--db", conninfo, "--out", dir,
                                                           "--from", "yesterday-ish", NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "pgpulse report:"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"report", "--db", conninfo, "--out", dir, "--from",
                                               "2030-01-01T00:00:00Z", "--to", "2030-01-02T00:00:00Z", NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "no readings from"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"report", "--db", conninfo, NULL});
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "--out DIR is required"));
    harness_out_free(&o);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_report),
        cmocka_unit_test(test_readings_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
