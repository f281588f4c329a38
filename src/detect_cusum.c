/* detect_cusum: EWMA forecast, residual scale, and level and spread CUSUMs per channel (see
 * detect_cusum.h for the rule and why each setting is what it is). */
#include "detect_cusum.h"

#include <math.h>
#include <string.h>

void detect_cusum_cfg_default(detect_cusum_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->alpha = 0.05;
    c->scale_alpha = 0.01;
    c->k = 1.0;
    c->spread_k = 0.25;
    c->h = 16.0;
    c->clip = 2.0;
    c->spread_r = 1.5;
    c->spread_h = 5.0;
    c->winsor = 5.0;
    c->warmup = 100;
    c->rel_floor = 1e-3;
    c->abs_floor = 1e-9;
}

void detect_cusum_init(detect_cusum_state *s, const detect_cusum_cfg *c, int nch)
{
    (void)c;
    memset(s, 0, sizeof *s);
    s->nch = nch;
}

/* fmax and fmin without their NaN rules, so that they inline (values are finite). */
static inline double cmax(double a, double b)
{
    return a > b ? a : b;
}

static inline double cmin(double a, double b)
{
    return a < b ? a : b;
}

/* One channel: returns z and sets *level. */
static double cusum_channel(detect_cusum_ch *ch, const detect_cusum_cfg *c, double x, int update,
                            int *level)
{
    *level = DETECT_NONE;
    if (ch->n == 0) {
        if (update) {
            ch->m = x;
            ch->n = 1;
        }
        return 0;
    }
    double e = x - ch->m;
    double floor = cmax(c->abs_floor, c->rel_floor * fabs(ch->m));
    /* Before the second residual the scale is unknown: the first residual stands in. */
    double ms = ch->n >= 2 ? ch->ms : e * e;
    double sc = cmax(sqrt(ms), floor);
    double r = e / sc;
    double rc = cmax(-c->clip, cmin(c->clip, r));
    double sp = cmax(0, ch->sp + rc - c->k);
    double sn = cmax(0, ch->sn - rc - c->k);
    /* Spread: a Bernoulli CUSUM of exceedances |r| > spread_r over their own base rate, which
     * heavy tails and zero-inflated running values leave intact (a CUSUM of r^2 does not).
     * A level shift raises it too: it is a change of the residuals' spread around the
     * forecast, and calls a large shift a little sooner than the level CUSUM. */
    double exceed = fabs(r) > c->spread_r ? 1.0 : 0.0;
    double pex = ch->n >= 2 ? ch->pex : 0.1;
    double sv = cmax(0, ch->sv + exceed - pex - c->spread_k);
    double cu = cmax(cmax(sp, sn), sv * c->h / c->spread_h);
    double z = cmax(fabs(r), 3.0 * cu / c->h);
    int warm = ch->n > c->warmup;
    if (warm) {
        if (cu >= 2 * c->h)
            *level = DETECT_ERROR;
        else if (cu >= c->h)
            *level = DETECT_ALERT;
    }
    if (!update) return z;

    /* A falling weight 1/(n+1) during the warm-up makes m and ms plain running means of the
     * first points, so they settle at once instead of remembering the first value. */
    double a = cmax(c->alpha, 1.0 / (double)(ch->n + 1));
    double as = cmax(c->scale_alpha, 1.0 / (double)ch->n);
    if (!warm) sp = sn = sv = 0;
    /* The points since a CUSUM last stood at 0 are its estimate of the shifted segment. */
    ch->up_sum = sp > 0 ? ch->up_sum + x : 0;
    ch->up_n = sp > 0 ? ch->up_n + 1 : 0;
    ch->dn_sum = sn > 0 ? ch->dn_sum + x : 0;
    ch->dn_n = sn > 0 ? ch->dn_n + 1 : 0;
    if (*level == DETECT_ERROR) {
        /* Reset: the level becomes the mean of the shifted segment, the CUSUMs restart. */
        if (sp >= sn && ch->up_n > 0)
            ch->m = ch->up_sum / (double)ch->up_n;
        else if (ch->dn_n > 0)
            ch->m = ch->dn_sum / (double)ch->dn_n;
        ch->sp = ch->sn = ch->sv = 0;
        ch->up_sum = ch->dn_sum = 0;
        ch->up_n = ch->dn_n = 0;
    } else {
        /* While a level CUSUM is past half its interval the level and the scale wait: a shift
         * in progress is not learnt away before it is called. */
        if (cmax(sp, sn) < 0.5 * c->h) {
            double lim = c->winsor * sc;
            ch->m += a * e;
            ch->ms += as * (cmin(e * e, lim * lim) - ch->ms);
            ch->pex += as * (exceed - ch->pex);
        }
        ch->sp = sp;
        ch->sn = sn;
        ch->sv = sv;
    }
    ch->n++;
    return z;
}

void detect_cusum_step(detect_cusum_state *s, const detect_cusum_cfg *c, const detect_ctx *ctx,
                       const double *x, detect_out *o)
{
    memset(o, 0, sizeof *o);
    if (ctx->idle) return;
    int update = !(ctx->n > 0 && ctx->dt_s <= 0);
    for (int i = 0; i < ctx->nch; i++) {
        int level;
        o->z[i] = cusum_channel(&s->ch[i], c, x[i], update, &level);
        o->level[i] = (int8_t)level;
    }
}
