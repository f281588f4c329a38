/* Integration tests of pgpulse report (cmd_report, report_*) against a real PostgreSQL: over a
 * simulated fleet (pgpulse gen, heavy faults; its rollups filled by `pgpulse warehouse refresh`)
 * with anomaly episodes made from its plateau and spike faults and forecasts made from its
 * readings (so every expected figure is known), the report writes a PDF whose page tree holds
 * the pages it says, a PNG and an SVG per figure that decode (cairo) at their size, and an HTML
 * page showing the counts the database holds. The statistics read from the rollups
 * (report_data_load) equal those computed from the raw readings: n, zeros, means and standard
 * deviations exactly (to rounding), quantiles within the log histogram's 1 %, the linear bins
 * as the raw values' log bins spread over them and within the bounds that allows — over the
 * whole period, a ragged one (minutes, hours) and one of whole days. With readings only it
 * still renders (no forecast figures); after `pgpulse warehouse retention` dropped a day's
 * partition it renders the same statistics; rollups emptied fail with a message naming the
 * refresh, and a bad or empty period fails with a message. */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include <cairo.h>
#include <cmocka.h>

#include "dw_agg.h"
#include "harness.h"
#include "report_data.h"
#include "report_hist.h"
#include "util.h"

static const char *db;

/* Three robots, 30,000 readings (some 21 hours), heavy faults, from start; then the rollups
 * (the report reads them) by `pgpulse warehouse refresh`. */
static void gen(const char *conninfo, const char *start)
{
    harness_out o = harness_pgpulse_limit(
        300, NULL,
        (const char *[]){"gen", "--db", conninfo, "--robots", "3", "--first-robot", "501", "--rows",
                         "30000", "--seed", "5", "--faults", "heavy", "--start", start, "--rate",
                         "40000", "--speedup", "100000", "--batch", "5000", NULL});
    if (o.status != 0) fail_msg("gen failed (%d): %s", o.status, o.err);
    harness_out_free(&o);
    o = harness_pgpulse_limit(300, NULL, (const char *[]){"warehouse", "refresh", "--db", conninfo, NULL});
    if (o.status != 0) fail_msg("warehouse refresh failed (%d): %s", o.status, o.err);
    harness_out_free(&o);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void assert_close(const char *what, int axis, double got, double want, double rel)
{
    if (!(fabs(got - want) <= rel * fmax(1, fabs(want))))
        fail_msg("axis %d %s: %.17g from the rollups, %.17g from the raw readings", axis, what, got,
                 want);
}

/* The level-p quantile of the sorted values v[0..n) as the histogram reads it
 * (percentile_disc: the first value whose running count reaches p n). */
static double quantile_disc(const double *v, size_t n, double p)
{
    for (size_t i = 0; i < n; i++)
        if ((double)(i + 1) >= p * (double)n) return v[i];
    return v[n - 1];
}

/* Loads [from, to) with report_data_load (from the rollups) into *d and checks it against the
 * raw readings of the same (widened) period. */
static void check_stats(PGconn *conn, const char *from, const char *to, report_data *d)
{
    char err[1024];
    if (report_data_load(conn, from, to, d, err, sizeof err)) fail_msg("report_data_load: %s", err);
    const char *p[] = {d->from_text, d->to_text};
    PGresult *r = PQexecParams(conn,
                               "SELECT axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8, "
                               "(axis1 = 0 AND axis2 = 0 AND axis3 = 0 AND axis4 = 0 AND axis5 = 0 "
                               "AND axis6 = 0 AND axis7 = 0 AND axis8 = 0) FROM reading WHERE ts >= "
                               "$1::timestamptz AND ts < $2::timestamptz",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) fail_msg("%s", PQerrorMessage(conn));
    size_t rows = (size_t)PQntuples(r);
    int64_t idle = 0;
    for (size_t i = 0; i < rows; i++) idle += PQgetvalue(r, (int)i, 8)[0] == 't';
    assert_int_equal(d->readings, (int64_t)rows);
    assert_int_equal(d->idle_rows, idle);
    double *v = xmalloc((rows ? rows : 1) * sizeof *v), *edge0 = xmalloc((rows ? rows : 1) * sizeof *v),
           *edge1 = xmalloc((rows ? rows : 1) * sizeof *v);
    for (int a = 0; a < REPORT_AXES; a++) {
        const report_axis *x = &d->axis[a];
        size_t nz = 0;
        long double s = 0, q = 0;
        for (size_t i = 0; i < rows; i++) {
            double y = strtod(PQgetvalue(r, (int)i, a), NULL);
            s += y;
            q += (long double)y * y;
            if (y != 0) v[nz++] = y;
        }
        assert_int_equal(x->n, (int64_t)rows);
        assert_int_equal(x->zeros, (int64_t)(rows - nz));
        if (!rows) continue;
        /* Readings have at most 6 decimals: the scaled sums are exact. */
        long double m = s / rows, mr = nz ? s / nz : 0;
        assert_close("mean", a + 1, x->mean, (double)m, 1e-9);
        assert_close("std", a + 1, x->std, sqrt((double)(q / rows - m * m)), 1e-9);
        if (!nz) continue;
        assert_close("running mean", a + 1, x->run_mean, (double)mr, 1e-9);
        assert_close("running std", a + 1, x->run_std, sqrt((double)(q / nz - mr * mr)), 1e-9);
        qsort(v, nz, sizeof *v, cmp_double);
        /* A quantile is its log bin's geometric middle: within 1 % of the exact one. */
        assert_close("p50", a + 1, x->p50, quantile_disc(v, nz, 0.5), 0.0101);
        assert_close("p90", a + 1, x->p90, quantile_disc(v, nz, 0.9), 0.0101);
        assert_close("p99", a + 1, x->p99, quantile_disc(v, nz, 0.99), 0.0101);
        assert_close("lo", a + 1, x->lo, v[0], 0.0101);
        assert_close("hi", a + 1, x->hi, v[nz - 1], 0.0101);
        /* The linear bins: exactly the raw values' log bins spread over them, and between the
         * values whose log bin lies inside a linear bin and those whose log bin touches it. */
        double want[REPORT_HIST_BINS] = {0}, outside = 0, total = 0;
        for (size_t i = 0; i < nz; i++) {
            report_hist_bin b = {dw_agg_bin(v[i]), 1};
            report_hist_linear(&b, 1, x->bin_lo, x->bin_w, want, REPORT_HIST_BINS, &outside);
            report_hist_edges(b.bin, &edge0[i], &edge1[i]);
        }
        for (int k = 0; k < REPORT_HIST_BINS; k++) {
            assert_close("bin", a + 1, x->bins[k], want[k], 1e-9);
            double e0 = x->bin_lo + k * x->bin_w, e1 = e0 + x->bin_w;
            int64_t inner = 0, touch = 0;
            for (size_t i = 0; i < nz; i++) {
                inner += edge0[i] >= e0 && edge1[i] <= e1;
                touch += edge1[i] > e0 && edge0[i] < e1;
            }
            if (!(x->bins[k] >= inner - 1e-6 && x->bins[k] <= touch + 1e-6))
                fail_msg("axis %d bin %d: %g not in [%lld, %lld]", a + 1, k, x->bins[k],
                         (long long)inner, (long long)touch);
            total += x->bins[k];
        }
        assert_int_equal(x->outside, llround(outside));
        assert_close("bins + outside", a + 1, total + (double)x->outside, (double)nz, 1e-6);
    }
    free(v);
    free(edge0);
    free(edge1);
    PQclear(r);
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
    gen(db, "2026-03-01T00:00:00Z");
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
    /* Plateaus and spikes all detected; a stuck sensor only where a plateau's or spike's
     * episode reaches it on its robot and axis within the report's 60 s (the fault table's
     * ranges are the episodes' here; on this data one of 15, begun 55 s after a plateau). */
    assert_true(row_has(html, "<td>plateau</td><td>ERROR</td>", "<td class=n>100.0 %</td>"));
    assert_true(row_has(html, "<td>plateau</td><td>ALERT</td>", "<td class=n>100.0 %</td>"));
    assert_true(row_has(html, "<td>spike</td><td>ERROR</td>", "<td class=n>100.0 %</td>"));
    int64_t stuck = harness_query_int(conn, "SELECT count(*) FROM fault WHERE kind = 'stuck'");
    int64_t reached = harness_query_int(
        conn, "SELECT count(*) FROM fault f WHERE kind = 'stuck' AND EXISTS (SELECT 1 FROM fault g "
              "WHERE g.kind IN ('plateau', 'spike') AND g.robot_id = f.robot_id AND g.axis = f.axis "
              "AND g.ts_start <= f.ts_end + interval '60 s' AND g.ts_end >= f.ts_start - interval '60 s')");
    assert_true(stuck > 0 && reached < stuck);
    snprintf(want, sizeof want, "<td class=n>%.1f %%</td>", 100.0 * (double)reached / (double)stuck);
    assert_true(row_has(html, "<td>stuck</td><td>ALERT</td>", want));
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

    /* The rollups' statistics are the raw readings': the whole period (hours and the last
     * hour's minutes), a ragged one (minutes at both ends, hours between) and whole days (a
     * day fact and an empty day). */
    report_data d;
    check_stats(conn, NULL, NULL, &d);
    report_data_free(&d);
    check_stats(conn, "2026-03-01T06:17:31Z", "2026-03-01T19:42:10Z", &d);
    assert_string_equal(d.from_text, "2026-03-01T06:17:00.000000Z");
    assert_string_equal(d.to_text, "2026-03-01T19:43:00.000000Z");
    report_data_free(&d);
    check_stats(conn, "2026-03-01T00:00:00Z", "2026-03-03T00:00:00Z", &d);
    report_data_free(&d);

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

/* Readings only (no detection, no learning ran): the distributions and a streaming chart. From
 * noon yesterday (UTC) to this morning, so that retention (--keep-days 0: days before today)
 * drops yesterday's partition alone; the report renders the same statistics after it, its
 * streaming chart from the minute rollups. Then failures. */
static void test_readings_only_and_retention(void **state)
{
    (void)state;
    const char *conninfo = harness_db("report_bare", 1);
    if (!conninfo) skip();
    time_t y = time(NULL) - 86400;
    struct tm tm;
    gmtime_r(&y, &tm);
    char start[32], part[32];
    strftime(start, sizeof start, "%Y-%m-%dT12:00:00Z", &tm);
    strftime(part, sizeof part, "reading_p%Y%m%d", &tm);
    gen(conninfo, start);
    db = conninfo;
    PGconn *conn = harness_connect(conninfo);
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
    report_data before, after;
    check_stats(conn, NULL, NULL, &before);
    assert_true(before.nstream >= 1);
    assert_int_equal(before.stream[0].from_minutes, 0);

    /* Retention drops yesterday's partition; the report reads the same statistics. */
    harness_out o = harness_pgpulse(NULL, (const char *[]){"warehouse", "retention", "--keep-days", "0",
                                                           "--db", conninfo, NULL});
    if (o.status != 0) fail_msg("retention failed (%d): %s %s", o.status, o.out, o.err);
    harness_out_free(&o);
    char *sql = xasprintf("SELECT to_regclass('%s')::text", part);
    assert_null(harness_query_text(conn, sql));
    free(sql);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM reading") < before.readings);
    dir = report(NULL, &pages);
    pdf = xasprintf("%s/report.pdf", dir);
    assert_int_equal(pdf_pages(pdf), pages);
    assert_int_equal(check_figures(dir, &small, &wide), figs);
    free(pdf);
    free(dir);
    char err[1024];
    if (report_data_load(conn, NULL, NULL, &after, err, sizeof err)) fail_msg("%s", err);
    assert_string_equal(after.from_text, before.from_text);
    assert_string_equal(after.to_text, before.to_text);
    assert_int_equal(after.readings, before.readings);
    assert_int_equal(after.idle_rows, before.idle_rows);
    for (int a = 0; a < REPORT_AXES; a++) {
        assert_int_equal(after.axis[a].n, before.axis[a].n);
        assert_int_equal(after.axis[a].zeros, before.axis[a].zeros);
        assert_true(after.axis[a].mean == before.axis[a].mean);
        assert_true(after.axis[a].std == before.axis[a].std);
        assert_true(after.axis[a].p99 == before.axis[a].p99);
        assert_memory_equal(after.axis[a].bins, before.axis[a].bins, sizeof before.axis[a].bins);
    }
    /* The chart's window (from yesterday noon) lost its raw readings: drawn per minute. */
    assert_int_equal(after.stream[0].from_minutes, 1);
    assert_true(after.stream[0].n > 0);
    report_data_free(&before);
    report_data_free(&after);

    /* Rollups empty while readings exist: the message names the refresh. */
    dir = xasprintf("%s/bad", harness_tmpdir());
    harness_exec(conn, "TRUNCATE dw.fact_reading_minute, dw.fact_reading_hour, dw.fact_reading_day");
    o = harness_pgpulse(NULL, (const char *[]){"report", "--db", conninfo, "--out", dir, NULL});
    assert_int_equal(o.status, 1);
    harness_assert_contains(o.err, "pgpulse warehouse refresh");
    harness_out_free(&o);

    /* A bad or empty period, and no --out, fail with a message. */
    o = harness_pgpulse(NULL, (const char *[]){"report", "--db", conninfo, "--out", dir, "--from",
                                               "yesterday-ish", NULL});
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
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_report),
        cmocka_unit_test(test_readings_only_and_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
