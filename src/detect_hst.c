/* detect_hst: Half-Space Trees over the quantile-mapped channels of running points, with a
 * calibrated z from a histogram of the masses (see detect_hst.h). */
#include "detect_hst.h"

#include <math.h>
#include <string.h>

#include "normal.h"
#include "rng.h"

#define HST_DEFAULT_SEED 0x4853545472656573ull
#define HST_BIN_LO (-2.0) /* log2 of the smallest mass, 1/4 */
#define HST_BIN_W 0.25
#define HST_DECAY_EVERY 256
#define HST_DECAY 0.98f

static const double hst_qp[DETECT_HST_NQ] = {0.05, 0.25, 0.5, 0.75, 0.95};
static const double hst_pow2[] = {1,       0.5,      0.25,      0.125,     0.0625,
                                  0.03125, 0.015625, 0.0078125, 0.00390625};

void detect_hst_cfg_seed(detect_hst_cfg *c, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0x687374);
    c->seed = seed;
    for (int t = 0; t < DETECT_HST_MAX_TREES; t++) {
        for (int n = 0; n < DETECT_HST_NODES; n++)
            c->dim[t][n] = (uint8_t)rng_below(&r, 256);
        for (int q = 0; q < DETECT_MAX_CH; q++) {
            float sh = (float)rng_uniform(&r), w = 2 * (sh > 0.5f ? sh : 1 - sh);
            c->shift[t][q] = sh;
            c->ws_lo[t][q] = sh - w;
            c->ws_hi[t][q] = sh + w;
        }
    }
}

void detect_hst_cfg_default(detect_hst_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->trees = 16;
    c->depth = 6;
    c->window = 250;
    c->size_limit = 0.1;
    c->alert_z = 2;
    c->error_z = 3.5;
    c->alert_points = 4;
    c->error_points = 2;
    c->warmup_hist = 1000;
    c->zero_apart = 1;
    detect_hst_cfg_seed(c, HST_DEFAULT_SEED);
}

void detect_hst_init(detect_hst_state *s, const detect_hst_cfg *c, int nch)
{
    (void)c;
    memset(s, 0, sizeof *s);
    s->nch = nch;
}

/* Maps x through channel q's quantiles to about [0, 1], then moves the quantiles towards x. */
static double hst_map(detect_hst_state *s, int ch, double x)
{
    double *k = s->q[ch];
    if (s->nq[ch] == 0) {
        for (int j = 0; j < DETECT_HST_NQ; j++)
            k[j] = x;
    }
    double u;
    double floor_w = 1e-9 + 1e-6 * fabs(k[2]);
    if (x <= k[0]) {
        double w = k[1] - k[0];
        u = hst_qp[0] - (k[0] - x) * (hst_qp[1] - hst_qp[0]) / (w > floor_w ? w : floor_w);
        if (u < -1) u = -1;
    } else if (x >= k[DETECT_HST_NQ - 1]) {
        double w = k[DETECT_HST_NQ - 1] - k[DETECT_HST_NQ - 2];
        u = hst_qp[DETECT_HST_NQ - 1] +
            (x - k[DETECT_HST_NQ - 1]) * (hst_qp[DETECT_HST_NQ - 1] - hst_qp[DETECT_HST_NQ - 2]) /
                (w > floor_w ? w : floor_w);
        if (u > 2) u = 2;
    } else {
        int j = 1;
        while (x > k[j])
            j++;
        double w = k[j] - k[j - 1];
        u = hst_qp[j - 1] + (w > 0 ? (x - k[j - 1]) / w : 0.5) * (hst_qp[j] - hst_qp[j - 1]);
    }

    /* The update: mean absolute deviation from the median (1/n at first, then 1 %), and one
     * stochastic-approximation step per quantile of 1/sqrt(n) of it, 0.5 % once warm (a
     * quantile then wanders by about 1 % of the channel's spread). */
    double n1 = (double)++s->nq[ch];
    double am = 1 / n1 > 0.01 ? 1 / n1 : 0.01;
    s->mad[ch] += am * (fabs(x - k[2]) - s->mad[ch]);
    double gain = n1 < 40000 ? 1 / sqrt(n1) : 0.005; /* 1/sqrt(40000) = 0.005 */
    double step = gain * (s->mad[ch] + floor_w);
    for (int j = 0; j < DETECT_HST_NQ; j++)
        k[j] += step * (hst_qp[j] - (x < k[j]));
    for (int j = 1; j < DETECT_HST_NQ; j++)
        if (k[j] < k[j - 1]) k[j] = k[j - 1];
    return u;
}

/* The sustained rule over consecutive running points. */
static int hst_hold(double z, double t, int k, int64_t *run)
{
    if (z >= t) return ++*run >= k;
    *run = 0;
    return 0;
}

void detect_hst_step(detect_hst_state *s, const detect_hst_cfg *c, const detect_ctx *ctx,
                     const double *x, detect_out *o)
{
    memset(o, 0, sizeof *o);
    if (ctx->idle) return;
    int nch = s->nch;
    /* Out-of-range settings are clamped: the masses are uint8 and the arrays fixed. */
    int trees = c->trees < 1                      ? 1
                : c->trees > DETECT_HST_MAX_TREES ? DETECT_HST_MAX_TREES
                                                  : c->trees;
    int depth = c->depth < 1                      ? 1
                : c->depth > DETECT_HST_MAX_DEPTH ? DETECT_HST_MAX_DEPTH
                                                  : c->depth;
    int window = c->window < 2 ? 2 : c->window > 255 ? 255 : c->window;

    /* An axis reading exactly 0 is at rest: a state of its own, placed apart from every
     * value of a moving axis (and kept out of its quantiles). */
    float u[DETECT_MAX_CH];
    for (int q = 0; q < nch; q++)
        u[q] = x[q] == 0 && c->zero_apart ? -0.5f : (float)hst_map(s, q, x[q]);

    /* The descents: the score on the reference masses, the update on the latest. Trees go
     * down four at a time, level by level, so that four independent chains of loads and
     * compares overlap (one tree's descent is a chain of dependent steps). */
    int limit = (int)ceil(c->size_limit * window);
    double msum = 0;
    for (int t0 = 0; t0 < trees; t0 += 4) {
        float lo[4][DETECT_MAX_CH], hi[4][DETECT_MAX_CH];
        int node[4] = {1, 1, 1, 1}, scored[4] = {0, 0, 0, 0};
        int nt = trees - t0 < 4 ? trees - t0 : 4;
        for (int g = 0; g < nt; g++) {
            memcpy(lo[g], c->ws_lo[t0 + g], sizeof lo[g][0] * (size_t)nch);
            memcpy(hi[g], c->ws_hi[t0 + g], sizeof hi[g][0] * (size_t)nch);
        }
        for (int lev = 0; lev < depth; lev++) {
            for (int g = 0; g < nt; g++) {
                int t = t0 + g, nd = node[g];
                s->lat[t][nd]++;
                if (!scored[g] && s->ref[t][nd] < limit) {
                    msum += (double)s->ref[t][nd] * hst_pow2[depth - lev];
                    scored[g] = 1;
                }
                int q = (c->dim[t][nd] * nch) >> 8;
                float mid = 0.5f * (lo[g][q] + hi[g][q]);
                /* Branch-free: the side is a coin toss, which a predictor cannot learn. */
                int right = u[q] >= mid;
                lo[g][q] = right ? mid : lo[g][q];
                hi[g][q] = right ? hi[g][q] : mid;
                node[g] = 2 * nd + right;
            }
        }
        for (int g = 0; g < nt; g++) {
            int t = t0 + g;
            s->lat[t][node[g]]++;
            if (!scored[g]) msum += (double)s->ref[t][node[g]];
        }
    }
    s->nrun++;
    if (++s->nwin >= window) {
        memcpy(s->ref, s->lat, sizeof s->ref);
        memset(s->lat, 0, sizeof s->lat);
        s->nwin = 0;
        s->have_ref++;
    }
    /* The first reference was built on a young quantile map: wait for the second. */
    if (s->have_ref < 2) return;

    double m = msum / trees;
    int bin = (int)floor((log2(m + 0.25) - HST_BIN_LO) / HST_BIN_W);
    if (bin < 0) bin = 0;
    if (bin >= DETECT_HST_NBINS) bin = DETECT_HST_NBINS - 1;

    if (s->hist_w >= c->warmup_hist) {
        double below = 0;
        for (int b = 0; b < bin; b++)
            below += s->hist[b];
        double p = (below + 0.5 * s->hist[bin]) / s->hist_w;
        double pmin = 0.1 / s->hist_w;
        if (p < pmin) p = pmin;
        double z = p < 0.5 ? -normal_quantile(p) : 0;
        o->multi_z = z;
        int al = hst_hold(z, c->alert_z, c->alert_points, &s->run_a);
        int er = hst_hold(z, c->error_z, c->error_points, &s->run_e);
        o->multi_level = (int8_t)(er ? DETECT_ERROR : al ? DETECT_ALERT : DETECT_NONE);
    }
    s->hist[bin] += 1;
    s->hist_w += 1;
    if (++s->since_decay >= HST_DECAY_EVERY) {
        for (int b = 0; b < DETECT_HST_NBINS; b++)
            s->hist[b] *= HST_DECAY;
        s->hist_w *= HST_DECAY;
        s->since_decay = 0;
    }
}
