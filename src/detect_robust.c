/* detect_robust: state-aware robust z scores, median/MAD and tail quantiles from streaming
 * quantile estimates (the method and its defaults are in detect_robust.h). */
#include "detect_robust.h"

#include <math.h>
#include <string.h>

#include "normal.h"

void detect_robust_cfg_default(detect_robust_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->alert_z = 3.5;
    c->persist = 3;
    c->error_z = 4.5;
    c->warmup = 400;
    c->lr = 0.01;
    c->tail_q = 0.001;
    c->abs_floor = 1e-6;
    c->rel_floor = 0.01;
    c->relearn_after = 30;
}

void detect_robust_init(detect_robust_state *s, const detect_robust_cfg *c, int nch)
{
    (void)c;
    memset(s, 0, sizeof *s);
    s->nch = nch;
}

static double detect_robust_tail_units(const detect_robust_cfg *c)
{
    double t = c->tail_q > 0 && c->tail_q < 0.5 ? c->tail_q : 0.001;
    if (t == 0.001) return 3.0902323047094038; /* normal_quantile(0.999), bit for bit: the default */
    return normal_quantile(1 - t);
}

static double detect_robust_floor(const detect_robust_est *e, const detect_robust_cfg *c)
{
    double f = c->rel_floor * fabs(e->med);
    return f > c->abs_floor ? f : c->abs_floor;
}

static double detect_robust_scale_u(const detect_robust_est *e, const detect_robust_cfg *c, int up,
                                    double units)
{
    double s = 1.4826 * e->mad;
    double t = (up ? e->hi - e->med : e->med - e->lo) / units;
    double f = detect_robust_floor(e, c);
    if (t > s) s = t;
    return s > f ? s : f;
}

double detect_robust_scale(const detect_robust_est *e, const detect_robust_cfg *c, int up)
{
    return detect_robust_scale_u(e, c, up, detect_robust_tail_units(c));
}

/* One point into an estimate: each quantile steps toward v by the learning rate times a scale,
 * weighted so that it settles where the share of points below it is its tau. */
static void detect_robust_update(detect_robust_est *e, const detect_robust_cfg *c, double v,
                                 double units, double lr_min)
{
    double tq = c->tail_q > 0 && c->tail_q < 0.5 ? c->tail_q : 0.001;
    if (e->n == 0) {
        e->med = e->lo = e->hi = e->lo2 = e->hi2 = v;
        e->mad = 0;
        e->n = 1;
        return;
    }
    double warm = 1.0 / tq; /* points over which the tails are the extremes */
    double lr = 2.0 / ((double)e->n + 2);
    if (lr < lr_min) lr = lr_min;
    double s = 1.4826 * e->mad;
    double f = detect_robust_floor(e, c);
    if (s < f) s = f;
    if ((double)e->n < warm && (e->hi - e->lo) / 4 > s) s = (e->hi - e->lo) / 4;
    double g = lr * s;
    double dev = fabs(v - e->med);
    e->med += v > e->med ? g / 2 : v < e->med ? -g / 2 : 0;
    e->mad += dev > e->mad ? g / 2 : dev < e->mad ? -g / 2 : 0;
    if (e->mad < 0) e->mad = 0;
    if ((double)e->n < warm) {
        if (v > e->hi) {
            e->hi2 = e->hi;
            e->hi = v;
        } else if (v > e->hi2) {
            e->hi2 = v;
        }
        if (v < e->lo) {
            e->lo2 = e->lo;
            e->lo = v;
        } else if (v < e->lo2) {
            e->lo2 = v;
        }
        if ((double)e->n + 1 >= warm) { /* quantile steps from here: from the second extremes */
            e->hi = e->hi2 > e->med ? e->hi2 : e->med;
            e->lo = e->lo2 < e->med ? e->lo2 : e->med;
        }
    } else {
        double gu = lr * detect_robust_scale_u(e, c, 1, units);
        double gd = lr * detect_robust_scale_u(e, c, 0, units);
        e->hi += v > e->hi ? gu * (1 - tq) : -gu * tq;
        e->lo += v < e->lo ? -gd * (1 - tq) : gd * tq;
        if (e->hi < e->med) e->hi = e->med;
        if (e->lo > e->med) e->lo = e->med;
    }
    e->n++;
}

void detect_robust_step(detect_robust_state *s, const detect_robust_cfg *c, const detect_ctx *ctx,
                        const double *x, detect_out *o)
{
    int nch = ctx->nch;
    double units = detect_robust_tail_units(c);
    int nz = 0;
    for (int i = 0; i < nch; i++) nz += x[i] != 0;
    memset(o, 0, sizeof *o);
    for (int i = 0; i < nch; i++) {
        double v = x[i];
        /* At rest when every other channel is exactly 0 (a key of one channel always runs). */
        int st = nch > 1 && nz - (v != 0) == 0 ? DETECT_ROBUST_REST : DETECT_ROBUST_RUNNING;
        detect_robust_est *e = &s->est[st][i];
        const detect_robust_est *run = &s->est[DETECT_ROBUST_RUNNING][i];
        int up = v >= e->med;
        double sc = detect_robust_scale_u(e, c, up, units);
        int warm = e->n >= c->warmup;
        if (st == DETECT_ROBUST_REST) {
            double rs = detect_robust_scale_u(run, c, up, units);
            if (rs > sc) sc = rs;
            warm = warm && run->n >= c->warmup;
        }
        double z = e->n ? fabs(v - e->med) / sc : 0;
        int level = DETECT_NONE;
        if (warm && z >= c->alert_z) {
            s->over[i]++;
            if (z >= c->error_z)
                level = DETECT_ERROR;
            else if (s->over[i] >= c->persist)
                level = DETECT_ALERT;
        } else {
            s->over[i] = 0;
        }
        o->z[i] = z;
        o->level[i] = (int8_t)level;
        /* A channel far out for relearn_after points in a row has moved to a new level:
         * learn it ten times as fast rather than flag it for thousands of points. */
        int relearn = c->relearn_after > 0 && s->over[i] >= c->relearn_after;
        detect_robust_update(e, c, v, units, relearn ? 10 * c->lr : c->lr);
    }
}
