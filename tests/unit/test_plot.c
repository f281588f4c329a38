/* Unit tests for plot: tick steps and labels; each series kind rendered to PNG and read back
 * with cairo, its colours found in the pixels where the data puts them (spans orange and red
 * under a blue line, a span narrower than a pixel still visible, bars and a curve); SVG and PDF
 * files well-formed; a three-page PDF with three pages. The files go to a temporary directory,
 * removed at the end, or to $PGPULSE_PLOT_DIR (kept, to look at). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cairo-pdf.h>

#include "plot.h"
#include "util.h"

#define W 640
#define H 380

static char dir[256];
static int keep;

static char *path_of(const char *name) { return xasprintf("%s/%s", dir, name); }

static int setup(void **state)
{
    (void)state;
    const char *env = getenv("PGPULSE_PLOT_DIR");
    if (env) {
        snprintf(dir, sizeof dir, "%s", env);
        keep = 1;
        return 0;
    }
    snprintf(dir, sizeof dir, "/tmp/test_plot.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    plot_release(); /* fontconfig's caches, held by cairo's: not leaks, but LeakSanitizer's */
    if (keep) return 0;
    const char *names[] = {"line.png", "hist.png", "fig.svg", "fig.pdf", "pages.pdf",
                           "empty.png", "time.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = path_of(names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    return 0;
}

/* A decoded PNG's pixel as 0..1 components. */
typedef struct px {
    double r, g, b;
} px;

static px pixel(cairo_surface_t *img, double ux, double uy)
{
    int x = (int)floor(ux), y = (int)floor(uy);
    int w = cairo_image_surface_get_width(img), h = cairo_image_surface_get_height(img);
    assert_true(x >= 0 && x < w && y >= 0 && y < h);
    const unsigned char *d = cairo_image_surface_get_data(img);
    uint32_t v;
    memcpy(&v, d + (size_t)y * (size_t)cairo_image_surface_get_stride(img) + (size_t)x * 4, 4);
    return (px){((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0};
}

static int near_rgb(px p, plot_rgb c, double tol)
{
    return fabs(p.r - c.r) <= tol && fabs(p.g - c.g) <= tol && fabs(p.b - c.b) <= tol;
}

/* The colour c at alpha a over white, as the spans are painted. */
static plot_rgb over_white(plot_rgb c, double a)
{
    return (plot_rgb){1 - a + c.r * a, 1 - a + c.g * a, 1 - a + c.b * a};
}

static int is_white(px p) { return p.r > 0.97 && p.g > 0.97 && p.b > 0.97; }

/* Whether colour c appears anywhere in column ux between uy0 and uy1. */
static int column_has(cairo_surface_t *img, double ux, double uy0, double uy1, plot_rgb c,
                      double tol)
{
    for (double y = fmin(uy0, uy1); y <= fmax(uy0, uy1); y += 1)
        if (near_rgb(pixel(img, ux, y), c, tol)) return 1;
    return 0;
}

static cairo_surface_t *decode(const char *path, int w, int h)
{
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(img), w);
    assert_int_equal(cairo_image_surface_get_height(img), h);
    cairo_surface_flush(img);
    return img;
}

static void test_ticks(void **state)
{
    (void)state;
    assert_true(plot_nice_step(10, 5) == 2);
    assert_true(fabs(plot_nice_step(1, 5) - 0.2) < 1e-12);
    assert_true(plot_nice_step(73, 6) == 20);
    assert_true(fabs(plot_nice_step(0.003, 4) - 0.001) < 1e-15);
    assert_true(plot_nice_step(7000, 7) == 1000);
    assert_true(plot_time_step(3600, 6) == 600);
    assert_true(plot_time_step(3 * 86400, 6) == 43200);
    assert_true(plot_time_step(40, 4) == 10);
    assert_true(plot_time_step(400 * 86400.0, 5) == 90 * 86400.0);

    char b[64];
    plot_format_tick(0.25, 0.05, 0, 1, b, sizeof b);
    assert_string_equal(b, "0.25");
    plot_format_tick(1500, 500, 0, 3000, b, sizeof b);
    assert_string_equal(b, "1500");
    plot_format_tick(-1e-17, 1, 0, 10, b, sizeof b);
    assert_string_equal(b, "0");
    plot_format_tick(-1e-17, 0.5, 0, 10, b, sizeof b);
    assert_string_equal(b, "0.0");
    /* 2026-03-01T13:45:00Z */
    double t = 1772372700;
    plot_format_tick(t, 600, 1, 7200, b, sizeof b);
    assert_string_equal(b, "13:45");
    plot_format_tick(t, 3600, 1, 3 * 86400, b, sizeof b);
    assert_string_equal(b, "03-01 13:45");
    plot_format_tick(t + 30, 30, 1, 300, b, sizeof b);
    assert_string_equal(b, "13:45:30");
    plot_format_tick(1772323200, 86400, 1, 9 * 86400, b, sizeof b);
    assert_string_equal(b, "2026-03-01");
}

/* A blue line over x 0..10 with an ALERT span over 2..3, an ERROR span over 6..7 and an ERROR
 * span far narrower than a pixel at 8.5. */
static void test_line_and_spans(void **state)
{
    (void)state;
    double x[201], y[201];
    for (int i = 0; i <= 200; i++) {
        x[i] = i * 0.05;
        y[i] = 5 + 4 * sin(x[i]);
    }
    plot *p = plot_new("A line with anomaly spans");
    plot_set_x(p, "position", "m", 0);
    plot_set_y(p, "current", "A");
    plot_add_span(p, "ALERT", PLOT_ALERT, 2, 3);
    plot_add_span(p, "ERROR", PLOT_ERROR, 6, 7);
    plot_add_span(p, "ERROR", PLOT_ERROR, 8.5, 8.5001);
    plot_add_line(p, "axis 1", PLOT_PALETTE[0], x, y, 201);
    char *path = path_of("line.png"), err[256];
    assert_int_equal(plot_write_png(p, path, W, H, 1, err, sizeof err), 0);
    cairo_surface_t *img = decode(path, W, H);

    /* Where the line is not (near the area's bottom, y = 0.3: the line stays above 1). */
    double ux, uy, top, bot;
    plot_locate(p, W, H, 0, 9.5, &ux, &top);
    plot_locate(p, W, H, 0, 0.3, &ux, &bot);
    plot_rgb alert = over_white(PLOT_ALERT, 0.55), error = over_white(PLOT_ERROR, 0.55);
    plot_locate(p, W, H, 2.5, 0.3, &ux, &uy);
    assert_true(near_rgb(pixel(img, ux, uy), alert, 0.03));
    plot_locate(p, W, H, 6.5, 0.3, &ux, &uy);
    assert_true(near_rgb(pixel(img, ux, uy), error, 0.03));
    plot_locate(p, W, H, 8.5, 0.3, &ux, &uy);
    assert_true(near_rgb(pixel(img, ux, uy), error, 0.03)); /* widened to PLOT_SPAN_MIN_W */
    plot_locate(p, W, H, 4.5, 0.3, &ux, &uy);
    assert_true(is_white(pixel(img, ux, uy)));
    plot_locate(p, W, H, 8.2, 0.3, &ux, &uy);
    assert_true(is_white(pixel(img, ux, uy)));

    /* The line: blue where it passes, over the spans too; not in an empty column's bottom. */
    for (double xv = 0.5; xv < 10; xv += 1) {
        plot_locate(p, W, H, xv, 5 + 4 * sin(xv), &ux, &uy);
        assert_true(column_has(img, ux, uy - 3, uy + 3, PLOT_PALETTE[0], 0.12));
    }
    plot_locate(p, W, H, 4.5, 0, &ux, &uy);
    assert_false(column_has(img, ux, bot - 15, bot, PLOT_PALETTE[0], 0.12));
    (void)top;
    cairo_surface_destroy(img);
    free(path);
    plot_free(p);
}

/* Bars from 0 (an "idle" bar apart) and a normal curve over them; a dense line is decimated
 * without losing its spike. */
static void test_bars_curve_dense(void **state)
{
    (void)state;
    double edges[21], h[20], cx[101], cy[101];
    for (int i = 0; i <= 20; i++) edges[i] = 1 + i * 0.5;
    for (int i = 0; i < 20; i++) {
        double mid = 1.25 + i * 0.5;
        h[i] = 100 * exp(-0.5 * (mid - 6) * (mid - 6) / 4);
    }
    for (int i = 0; i <= 100; i++) {
        cx[i] = i * 0.11;
        cy[i] = 100 * exp(-0.5 * (cx[i] - 6) * (cx[i] - 6) / 4);
    }
    double ze[2] = {-0.25, 0.25}, zh[1] = {60};
    plot *p = plot_new("Bars, a curve");
    plot_set_x(p, "current", "A", 0);
    plot_set_y(p, "readings", "%");
    plot_add_bars(p, "idle (0 A)", PLOT_GREY, ze, zh, 1);
    plot_add_bars(p, "running", PLOT_PALETTE[0], edges, h, 20);
    plot_add_curve(p, "normal", PLOT_PALETTE[2], cx, cy, 101);
    plot_set_caption(p, "A caption long enough to wrap: the idle readings (every axis exactly 0) "
                        "are drawn as their own bar at 0 A, and the normal curve has the mean and "
                        "standard deviation of all readings, as the workshop fitted it.");
    char *path = path_of("hist.png"), err[256];
    assert_int_equal(plot_write_png(p, path, W, H, 1, err, sizeof err), 0);
    cairo_surface_t *img = decode(path, W, H);
    plot_rgb bar = {0.25 + 0.12 * 0.75, 0.25 + 0.35 * 0.75, 0.25 + 0.68 * 0.75};
    double ux, uy;
    plot_locate(p, W, H, 5.85, 10, &ux, &uy); /* inside the tallest bars, low */
    assert_true(near_rgb(pixel(img, ux, uy), bar, 0.04));
    plot_locate(p, W, H, 0.1, 30, &ux, &uy); /* the idle bar */
    assert_true(near_rgb(pixel(img, ux, uy), over_white(PLOT_GREY, 0.75), 0.04));
    plot_locate(p, W, H, 0.1, 70, &ux, &uy); /* above it: nothing */
    assert_true(is_white(pixel(img, ux, uy)));
    /* The curve, dashed: within a few units of its value at several x. */
    int hits = 0;
    for (double xv = 2; xv < 10; xv += 0.5) {
        plot_locate(p, W, H, xv, 100 * exp(-0.5 * (xv - 6) * (xv - 6) / 4), &ux, &uy);
        hits += column_has(img, ux, uy - 3, uy + 3, PLOT_PALETTE[2], 0.1);
    }
    assert_true(hits >= 12); /* the dash gaps may hide a few */
    cairo_surface_destroy(img);
    free(path);
    plot_free(p);

    /* 100,000 points with one spike: the decimated line still reaches it. */
    size_t n = 100000;
    double *x = xmalloc(n * sizeof *x), *y = xmalloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = 1772323200 + (double)i * 2;
        y[i] = (i / 50) % 2 ? 3 : 0;
    }
    y[n / 3] = 30;
    p = plot_new("A dense stream over days");
    plot_set_x(p, "time", NULL, 1);
    plot_set_y(p, "current", "A");
    plot_add_line(p, "axis 2", PLOT_PALETTE[0], x, y, n);
    plot_add_span(p, "ALERT", PLOT_ALERT, x[n / 2], x[n / 2] + 60);
    path = path_of("time.png");
    assert_int_equal(plot_write_png(p, path, W, H, 1, err, sizeof err), 0);
    img = decode(path, W, H);
    plot_locate(p, W, H, x[n / 3], 30, &ux, &uy);
    int found = 0;
    for (int dx = -1; dx <= 1; dx++) found |= column_has(img, ux + dx, uy - 2, uy + 2, PLOT_PALETTE[0], 0.15);
    assert_true(found);
    cairo_surface_destroy(img);
    free(x);
    free(y);
    free(path);
    plot_free(p);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = xmalloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* %PDF- at the start, %%EOF at the end (before a final newline). */
static void assert_pdf(const char *b, size_t n)
{
    assert_true(n > 100);
    assert_memory_equal(b, "%PDF-", 5);
    size_t end = n;
    while (end > 0 && (b[end - 1] == '\n' || b[end - 1] == '\r')) end--;
    assert_true(end >= 5);
    assert_memory_equal(b + end - 5, "%%EOF", 5);
}

static size_t count_pages(const char *b, size_t n)
{
    size_t pages = 0;
    const char *needle = "/Type /Page";
    size_t k = strlen(needle);
    for (size_t i = 0; i + k < n; i++)
        if (!memcmp(b + i, needle, k) && b[i + k] != 's') pages++;
    return pages;
}

static void test_svg_pdf(void **state)
{
    (void)state;
    double x[3] = {0, 1, 2}, y[3] = {1, 3, 2};
    plot *p = plot_new("Vector output");
    plot_set_x(p, "x", "s", 0);
    plot_set_y(p, "y", "A");
    plot_add_line(p, NULL, PLOT_PALETTE[0], x, y, 3);
    char *svg = path_of("fig.svg"), *pdf = path_of("fig.pdf"), err[256];
    assert_int_equal(plot_write_svg(p, svg, W, H, err, sizeof err), 0);
    assert_int_equal(plot_write_pdf(p, pdf, W, H, err, sizeof err), 0);
    size_t n;
    char *b = slurp(svg, &n);
    assert_true(n > 100);
    assert_memory_equal(b, "<?xml", 5);
    assert_non_null(strstr(b, "<svg"));
    assert_non_null(strstr(b, "</svg>"));
    free(b);
    b = slurp(pdf, &n);
    assert_pdf(b, n);
    assert_int_equal(count_pages(b, n), 1);
    free(b);

    /* Three figures on three pages of one PDF, through plot_draw. */
    char *pages = path_of("pages.pdf");
    cairo_surface_t *sf = cairo_pdf_surface_create(pages, 595, 842);
    cairo_t *cr = cairo_create(sf);
    for (int i = 0; i < 3; i++) {
        cairo_save(cr);
        cairo_translate(cr, 40, 60);
        cairo_scale(cr, 515.0 / W, 515.0 / W);
        plot_draw(p, cr, W, H);
        cairo_restore(cr);
        cairo_show_page(cr);
    }
    cairo_destroy(cr);
    cairo_surface_finish(sf);
    assert_int_equal(cairo_surface_status(sf), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(sf);
    b = slurp(pages, &n);
    assert_pdf(b, n);
    assert_int_equal(count_pages(b, n), 3);
    /* The page tree's /Count (the file holds binary streams: no strstr). */
    const char *count = NULL;
    for (size_t i = 0; i + 6 < n && !count; i++)
        if (!memcmp(b + i, "/Count", 6)) count = b + i + 6;
    assert_non_null(count);
    assert_int_equal(strtol(count, NULL, 10), 3);
    free(b);

    /* An unwritable path fails with a message naming it. */
    assert_int_equal(plot_write_png(p, "/nonexistent/dir/x.png", W, H, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/x.png"));
    assert_int_equal(plot_write_pdf(p, "/nonexistent/dir/x.pdf", W, H, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/x.pdf"));
    free(svg);
    free(pdf);
    free(pages);
    plot_free(p);
}

/* A figure without data still draws (frame, title, "no data"), and a single point too. */
static void test_empty(void **state)
{
    (void)state;
    plot *p = plot_new("Nothing to show");
    plot_set_x(p, "time", NULL, 1);
    plot_set_y(p, "current", "A");
    char *path = path_of("empty.png"), err[256];
    assert_int_equal(plot_write_png(p, path, 300, 200, 2, err, sizeof err), 0);
    cairo_surface_t *img = decode(path, 600, 400);
    cairo_surface_destroy(img);
    double x = 1772323200, y = 1;
    plot_add_line(p, "one", PLOT_PALETTE[0], &x, &y, 1);
    assert_int_equal(plot_write_png(p, path, 300, 200, 1, err, sizeof err), 0);
    free(path);
    plot_free(p);
    plot_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks),
        cmocka_unit_test(test_line_and_spans),
        cmocka_unit_test(test_bars_curve_dense),
        cmocka_unit_test(test_svg_pdf),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
