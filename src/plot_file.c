/* plot_file: plot.h's figures into files — PNG through an image surface, SVG and PDF through
 * cairo's vector surfaces — and the release of cairo's and fontconfig's caches. */
#include <math.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <fontconfig/fontconfig.h>

#include "plot.h"
#include "util.h"

void plot_release(void)
{
    cairo_debug_reset_static_data();
    FcFini();
}

static int surface_error(cairo_surface_t *sf, cairo_t *cr, const char *what, const char *path,
                         char *err, size_t errlen)
{
    cairo_status_t st = cr ? cairo_status(cr) : CAIRO_STATUS_SUCCESS;
    if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(sf);
    if (st == CAIRO_STATUS_SUCCESS) return 0;
    return util_err(err, errlen, "%s: %s: %s", path, what, cairo_status_to_string(st));
}

int plot_write_png(const plot *p, const char *path, double w, double h, double scale, char *err,
                   size_t errlen)
{
    int pw = (int)ceil(w * scale), ph = (int)ceil(h * scale);
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, pw, ph);
    cairo_t *cr = cairo_create(sf);
    cairo_scale(cr, scale, scale);
    plot_draw(p, cr, w, h);
    int rc = surface_error(sf, cr, "drawing", path, err, errlen);
    cairo_destroy(cr);
    if (rc == 0) {
        cairo_status_t st = cairo_surface_write_to_png(sf, path);
        if (st != CAIRO_STATUS_SUCCESS)
            rc = util_err(err, errlen, "%s: %s", path, cairo_status_to_string(st));
    }
    cairo_surface_destroy(sf);
    return rc;
}

static int write_vector(const plot *p, const char *path, cairo_surface_t *sf, double w, double h,
                        char *err, size_t errlen)
{
    int rc = surface_error(sf, NULL, "opening", path, err, errlen);
    if (rc == 0) {
        cairo_t *cr = cairo_create(sf);
        plot_draw(p, cr, w, h);
        cairo_show_page(cr);
        rc = surface_error(sf, cr, "drawing", path, err, errlen);
        cairo_destroy(cr);
    }
    cairo_surface_finish(sf);
    if (rc == 0) rc = surface_error(sf, NULL, "writing", path, err, errlen);
    cairo_surface_destroy(sf);
    return rc;
}

int plot_write_svg(const plot *p, const char *path, double w, double h, char *err, size_t errlen)
{
    return write_vector(p, path, cairo_svg_surface_create(path, w, h), w, h, err, errlen);
}

int plot_write_pdf(const plot *p, const char *path, double w, double h, char *err, size_t errlen)
{
    return write_vector(p, path, cairo_pdf_surface_create(path, w, h), w, h, err, errlen);
}
