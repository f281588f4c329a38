/* detect_regress: online regression of each channel on the others, time and run phase, with a
 * robust residual sigma and the sustained 2/4-sigma rule (see detect_regress.h). */
#include "detect_regress.h"

#include <math.h>
#include <string.h>

#define REGRESS_D DETECT_REGRESS_MAXD
#define REGRESS_TWO_PI 6.283185307179586

void detect_regress_cfg_default(detect_regress_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->alert_z = 2;
    c->error_z = 4;
    c->alert_intervals = 10;
    c->error_intervals = 10;
    c->half_life = 1000;
    c->sigma_half_life = 500;
    c->clip = 2.5;
    c->ridge = 1e-3;
    c->refresh = 64;
    c->warmup = 300;
    c->use_channels = 1;
    c->use_phase = 1;
    c->use_time = 1;
    c->transform = 1;
    c->scale_points = 50;
}

/* E[min(z^2, c^2)] for a standard normal z: what the winsorised mean of squares gives for a
 * residual whose variance is 1. */
static double regress_clip_factor(double c)
{
    double phi = exp(-c * c / 2) / sqrt(REGRESS_TWO_PI);
    double tail = erfc(c / sqrt(2.0)); /* P(|z| > c) */
    return (1 - tail) - 2 * c * phi + c * c * tail;
}

void detect_regress_init(detect_regress_state *s, const detect_regress_cfg *c, int nch)
{
    memset(s, 0, sizeof *s);
    s->nch = nch;
    s->d = nch + DETECT_REGRESS_NEXTRA;
    s->alpha_m = 1 - exp2(-1 / c->half_life);
    s->alpha_s = 1 - exp2(-1 / c->sigma_half_life);
    s->clip_factor = regress_clip_factor(c->clip);
}

/* Index of (i, j), i <= j, in the packed upper triangle of a d x d matrix. */
static inline int regress_pk(int d, int i, int j)
{
    return i * d - i * (i - 1) / 2 + (j - i);
}

/* Inverts the symmetric positive definite n x n matrix a (rows of stride REGRESS_D) into inv
 * by Cholesky. Returns 0, or -1 when a is not positive definite. */
static int regress_invert(double a[][REGRESS_D], int n, double inv[][REGRESS_D])
{
    double l[REGRESS_D][REGRESS_D];
    for (int j = 0; j < n; j++) {
        double s = a[j][j];
        for (int k = 0; k < j; k++)
            s -= l[j][k] * l[j][k];
        if (!(s > 0)) return -1;
        l[j][j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = a[i][j];
            for (int k = 0; k < j; k++)
                t -= l[i][k] * l[j][k];
            l[i][j] = t / l[j][j];
        }
    }
    /* m = L^-1 (lower), then inv = m^T m. */
    double m[REGRESS_D][REGRESS_D];
    for (int j = 0; j < n; j++) {
        m[j][j] = 1 / l[j][j];
        for (int i = j + 1; i < n; i++) {
            double t = 0;
            for (int k = j; k < i; k++)
                t -= l[i][k] * m[k][j];
            m[i][j] = t / l[i][i];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) {
            double t = 0;
            for (int k = j; k < n; k++)
                t += m[k][i] * m[k][j];
            inv[i][j] = inv[j][i] = t;
        }
    return 0;
}

/* Recomputes the channels' precision rows from the covariance. With use_channels the rows of
 * the whole inverse; without, channel a's row of the inverse over {a} and the extra features
 * only. On a numerical failure the previous rows stay. */
static void regress_refresh(detect_regress_state *s, const detect_regress_cfg *c)
{
    int d = s->d, nch = s->nch;
    double a[REGRESS_D][REGRESS_D], inv[REGRESS_D][REGRESS_D] = {{0}}; /* whole rows are copied */
    double tr = 0;
    for (int i = 0; i < d; i++)
        tr += s->cov[regress_pk(d, i, i)];
    double tiny = 1e-12 * (tr / d) + 1e-300;
    for (int i = 0; i < d; i++)
        for (int j = i; j < d; j++)
            a[i][j] = a[j][i] = s->cov[regress_pk(d, i, j)];
    for (int i = 0; i < d; i++)
        a[i][i] += c->ridge * a[i][i] + tiny;
    if (c->use_channels) {
        if (regress_invert(a, d, inv) < 0) return;
        for (int ch = 0; ch < nch; ch++)
            memcpy(s->prec[ch], inv[ch], sizeof s->prec[ch]);
    } else {
        int ne = DETECT_REGRESS_NEXTRA;
        double sub[REGRESS_D][REGRESS_D];
        for (int ch = 0; ch < nch; ch++) {
            int idx[REGRESS_D];
            idx[0] = ch;
            for (int k = 0; k < ne; k++)
                idx[1 + k] = nch + k;
            for (int i = 0; i <= ne; i++)
                for (int j = 0; j <= ne; j++)
                    sub[i][j] = a[idx[i]][idx[j]];
            if (regress_invert(sub, ne + 1, inv) < 0) return;
            memset(s->prec[ch], 0, sizeof s->prec[ch]);
            for (int i = 0; i <= ne; i++)
                s->prec[ch][idx[i]] = inv[0][i];
        }
    }
    s->have_prec = 1;
}

/* Counts one row into an excess over threshold t; returns whether the excess is sustained:
 * at least k rows in a row, not packed closer than half a median interval md on average. */
static int regress_excess(double z, double t, int k, double md, int64_t ts, int64_t *n,
                          int64_t *first)
{
    if (!(z >= t)) {
        *n = 0;
        return 0;
    }
    if (*n == 0) *first = ts;
    ++*n;
    if (*n < k) return 0;
    return !(md > 0) || (double)(ts - *first) / 1e6 >= 0.5 * md * (double)(*n - 1);
}

void detect_regress_band_units(const detect_regress_state *s, const detect_regress_cfg *c,
                               const detect_band *b, int a, double *pred, double *sd)
{
    double p = b->pred[a], q = b->sd[a];
    *pred = c->transform ? s->scale[a] * sinh(p) : p;
    *sd = c->transform ? s->scale[a] * cosh(p) * q : q;
}

void detect_regress_step(detect_regress_state *s, const detect_regress_cfg *c,
                         const detect_ctx *ctx, const double *x, detect_out *o)
{
    detect_regress_step_band(s, c, ctx, x, o, NULL);
}

void detect_regress_step_band(detect_regress_state *s, const detect_regress_cfg *c,
                              const detect_ctx *ctx, const double *x, detect_out *o,
                              detect_band *band)
{
    int nch = s->nch, d = s->d;
    memset(o, 0, sizeof *o);
    if (band)
        for (int a = 0; a < nch; a++) band->pred[a] = band->sd[a] = NAN;

    if (ctx->idle) {
        /* A run ended: learn the program's length from it (the first row of a run comes up to
         * one interval after the start, hence the added median interval). */
        if (s->cur_run_start && s->cur_run_last > s->cur_run_start) {
            double len = (double)(s->cur_run_last - s->cur_run_start) / 1e6 + ctx->median_dt_s;
            if (len > 0 && len < 3600)
                s->run_len_s = s->run_len_s > 0 ? 0.9 * s->run_len_s + 0.1 * len : len;
        }
        s->cur_run_start = 0;
        for (int i = 0; i < nch; i++)
            s->ch[i].run_n_a = s->ch[i].run_n_e = 0;
        return;
    }
    if (ctx->run_start_us != s->cur_run_start) {
        s->cur_run_start = ctx->run_start_us;
        s->cur_run_last = ctx->run_start_us;
    }
    if (ctx->ts_us > s->cur_run_last) s->cur_run_last = ctx->ts_us;

    /* The channels' scales come from the first running points; until they are known the
     * point only counts towards them. */
    if (c->transform && s->nscale < c->scale_points) {
        for (int a = 0; a < nch; a++)
            s->scale[a] += fabs(x[a]);
        if (++s->nscale == c->scale_points) {
            double all = 0;
            for (int a = 0; a < nch; a++)
                all += s->scale[a];
            for (int a = 0; a < nch; a++) {
                s->scale[a] /= c->scale_points;
                if (!(s->scale[a] > 1e-3 * all / (c->scale_points * nch)))
                    s->scale[a] = 1e-3 * all / (c->scale_points * nch);
                if (!(s->scale[a] > 0)) s->scale[a] = 1;
            }
        }
        return;
    }

    /* The feature vector. */
    double v[REGRESS_D];
    if (c->transform)
        for (int a = 0; a < nch; a++)
            v[a] = asinh(x[a] / s->scale[a]);
    else
        memcpy(v, x, sizeof x[0] * (size_t)nch);
    double *e = v + nch;
    e[0] = e[1] = e[2] = e[3] = e[4] = 0;
    if (c->use_phase && s->run_len_s > 0 && ctx->run_start_us) {
        double ph = (double)(ctx->ts_us - ctx->run_start_us) / 1e6;
        if (ph >= 0 && ph <= 1.5 * s->run_len_s) {
            double ang = REGRESS_TWO_PI * ph / s->run_len_s;
            double cs = cos(ang), sn = sin(ang);
            e[0] = cs;
            e[1] = sn;
            e[2] = 2 * cs * cs - 1;
            e[3] = 2 * sn * cs;
        }
    }
    if (s->nrun == 0) s->t0_us = ctx->ts_us;
    if (c->use_time) e[4] = (double)(ctx->ts_us - s->t0_us) / 3.6e9;

    if (s->nrun == 0) {
        memcpy(s->mean, v, sizeof v[0] * (size_t)d);
        s->nrun = 1;
        return;
    }

    if (!s->have_prec || s->since_refresh >= c->refresh || s->nrun < c->warmup) {
        regress_refresh(s, c);
        s->since_refresh = 0;
    }

    double dl[REGRESS_D], r[DETECT_MAX_CH], sd[DETECT_MAX_CH];
    for (int j = 0; j < d; j++)
        dl[j] = v[j] - s->mean[j];
    for (int a = 0; a < nch; a++) {
        const double *p = s->prec[a];
        double t = 0;
        for (int j = 0; j < d; j++)
            t += p[j] * dl[j];
        r[a] = s->have_prec && p[a] > 0 ? t / p[a] : dl[a];
        sd[a] = sqrt(s->ch[a].var) + 1e-9 * (1 + fabs(s->mean[a]));
        o->z[a] = fabs(r[a]) / sd[a];
    }

    /* The channel furthest beyond ERROR is taken for the culprit (for one faulty channel the
     * largest standardised residual points at it) and replaced by its prediction in the
     * others' regressions, so that its fault does not spill onto its neighbours. */
    if (c->use_channels && nch > 2 && s->have_prec) {
        int bad = -1;
        for (int a = 0; a < nch; a++)
            if (o->z[a] > c->error_z && (bad < 0 || o->z[a] > o->z[bad])) bad = a;
        if (bad >= 0) {
            double fix = -r[bad];
            for (int a = 0; a < nch; a++) {
                if (a == bad || !(s->prec[a][a] > 0)) continue;
                r[a] += s->prec[a][bad] * fix / s->prec[a][a];
                o->z[a] = fabs(r[a]) / sd[a];
            }
        }
    }

    /* Levels. */
    int warm = s->nrun >= c->warmup;
    if (band && warm)
        for (int a = 0; a < nch; a++) {
            band->pred[a] = v[a] - r[a]; /* the prediction, in the regressed units */
            band->sd[a] = sd[a];
        }
    double md = ctx->median_dt_s;
    for (int a = 0; a < nch; a++) {
        detect_regress_ch *h = &s->ch[a];
        int al = regress_excess(o->z[a], c->alert_z, c->alert_intervals, md, ctx->ts_us,
                                &h->run_n_a, &h->run_first_a);
        int er = regress_excess(o->z[a], c->error_z, c->error_intervals, md, ctx->ts_us,
                                &h->run_n_e, &h->run_first_e);
        if (warm) o->level[a] = (int8_t)(er ? DETECT_ERROR : al ? DETECT_ALERT : DETECT_NONE);
    }

    /* Update: residual variances with winsorised squares, moments with winsorised values. */
    double n1 = (double)s->nrun + 1;
    double am = s->alpha_m, as = s->alpha_s, kf = s->clip_factor;
    if (am < 1 / n1) am = 1 / n1;
    if (as < 1 / n1) as = 1 / n1;
    for (int a = 0; a < nch; a++) {
        detect_regress_ch *h = &s->ch[a];
        double lim = c->clip * sqrt(h->var);
        double ra = r[a];
        /* Not during the warm-up: a young fit's residuals are too small, and clipping to
         * them would keep the moments from ever learning the channel. */
        if (h->var > 0 && s->nrun >= c->warmup) {
            if (ra > lim) ra = lim;
            if (ra < -lim) ra = -lim;
            v[a] -= r[a] - ra;
            h->var += as * (ra * ra / kf - h->var);
        } else {
            h->var += as * (ra * ra - h->var);
        }
    }
    for (int j = 0; j < d; j++)
        dl[j] = v[j] - s->mean[j];
    for (int j = 0; j < d; j++)
        s->mean[j] += am * dl[j];
    double b = 1 - am;
    for (int i = 0, k = 0; i < d; i++) {
        double ai = am * dl[i];
        for (int j = i; j < d; j++, k++)
            s->cov[k] = b * (s->cov[k] + ai * dl[j]);
    }
    s->nrun++;
    s->since_refresh++;
}
