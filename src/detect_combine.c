/* detect_combine: per-stream tail probabilities of the evidence against the key's own history,
 * joined by Fisher's method, damped after an alarm and mapped to 0..1 (see detect_combine.h). */
#include "detect_combine.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMBINE_MAD_TO_SIGMA 1.2533141373155003
#define COMBINE_CLIP 5.0    /* residuals clipped at this many scales for the scale and CUSUM */
#define COMBINE_CUSUM_K 0.5
#define COMBINE_CUSUM_H 8.0
#define COMBINE_REFRESH 16  /* points between refreshes of a stream's threshold */
#define COMBINE_R_MAX 1e6   /* evidence is clamped here (a detector may report inf) */
#define COMBINE_LN10 2.302585092994046
/* Quality findings about the values, which the score counts; the stream's timing (late,
 * duplicate, gap, clock jump) is reported by quality's own levels only. */
#define COMBINE_Q_VALUES (DETECT_Q_STUCK | DETECT_Q_NEGATIVE | DETECT_Q_RANGE | DETECT_Q_IDLE_BREAK)

void detect_combine_cfg_default(detect_combine_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->alpha = 0.0005;
    c->tail_q = 0.98;
    c->min_points = 100;
    c->own_alpha = 0.01;
    c->scale_alpha = 0.01;
    c->tod_alpha = 0.1;
    c->tod_days = 2.0;
    c->record_decay = 0.03;
    c->record_factor = 0.5;
    c->alarm_L = 2.0;
    c->hold = 100;
    c->hold_factor = 0.5;
    c->score_L = 3.0;
    c->duty_alpha = 0.1;
    c->phase_factor = 0.5;
    c->phase_need = 2;
    c->phase_span = 1;
    c->phase_margin = 1.3;
    c->phase_bins = 24;
    c->step_alpha = 0.05;
    c->step_clip = 3;
}

/* The settings detect_combine_cfg_set knows, by name. */
static const struct {
    const char *name;
    size_t off;
    int is_int;
} combine_knobs[] = {
#define COMBINE_KNOB(f, i) {#f, offsetof(detect_combine_cfg, f), i}
    COMBINE_KNOB(alpha, 0),        COMBINE_KNOB(tail_q, 0),       COMBINE_KNOB(min_points, 1),
    COMBINE_KNOB(own_alpha, 0),    COMBINE_KNOB(scale_alpha, 0),  COMBINE_KNOB(tod_alpha, 0),
    COMBINE_KNOB(tod_days, 0),     COMBINE_KNOB(record_decay, 0), COMBINE_KNOB(record_factor, 0),
    COMBINE_KNOB(alarm_L, 0),      COMBINE_KNOB(hold, 1),         COMBINE_KNOB(hold_factor, 0),
    COMBINE_KNOB(score_L, 0),      COMBINE_KNOB(duty_alpha, 0),
    COMBINE_KNOB(phase_factor, 0), COMBINE_KNOB(phase_need, 0),    COMBINE_KNOB(phase_span, 0),
    COMBINE_KNOB(phase_margin, 0), COMBINE_KNOB(phase_bins, 0),    COMBINE_KNOB(step_alpha, 0),
    COMBINE_KNOB(step_clip, 0),
#undef COMBINE_KNOB
};

int detect_combine_cfg_set(detect_combine_cfg *c, const char *assign, char *err, size_t errlen)
{
    const char *eq = strchr(assign, '=');
    char *end = NULL;
    double v = eq ? strtod(eq + 1, &end) : 0;
    if (!eq || end == eq + 1 || *end || !isfinite(v)) {
        snprintf(err, errlen, "'%s': expected NAME=NUMBER", assign);
        return -1;
    }
    for (size_t i = 0; i < sizeof combine_knobs / sizeof combine_knobs[0]; i++) {
        if (strlen(combine_knobs[i].name) != (size_t)(eq - assign) ||
            strncmp(combine_knobs[i].name, assign, (size_t)(eq - assign)))
            continue;
        char *f = (char *)c + combine_knobs[i].off;
        if (combine_knobs[i].is_int) {
            if (v != floor(v) || v < 0 || v > 1e9) {
                snprintf(err, errlen, "'%s': %s takes a whole number", assign,
                         combine_knobs[i].name);
                return -1;
            }
            *(int *)(void *)f = (int)v;
        } else {
            *(double *)(void *)f = v;
        }
        return 0;
    }
    snprintf(err, errlen, "'%.*s': no such combiner setting", (int)(eq - assign), assign);
    return -1;
}

void detect_combine_init(detect_combine_state *s, const detect_combine_cfg *c, int nch)
{
    (void)c;
    memset(s, 0, sizeof *s);
    s->nch = nch;
    for (int k = 0; k < DETECT_COMBINE_STREAMS; k++) s->tail[k].w = 1;
}

/* fmax and fmin without their NaN rules, so that they inline (no NaN reaches them). */
static inline double cmax(double a, double b)
{
    return a > b ? a : b;
}

static inline double cmin(double a, double b)
{
    return a < b ? a : b;
}

static int combine_bin(double r)
{
    double b = sqrt(r) / DETECT_COMBINE_BIN_W;
    return b >= DETECT_COMBINE_BINS - 1 ? DETECT_COMBINE_BINS - 1 : (int)b;
}

static double combine_clamp(double r)
{
    if (!(r > 0)) return 0; /* also NaN */
    return r < COMBINE_R_MAX ? r : COMBINE_R_MAX;
}

/* Recomputes thr and thr_mass: the lowest bin edge with at most 1 - tail_q of the mass at or
 * above it. */
static void combine_refresh(detect_combine_tail *t, const detect_combine_cfg *c)
{
    double lim = (1 - c->tail_q) * t->total, acc = 0;
    int b = DETECT_COMBINE_BINS;
    while (b > 0 && acc + t->bin[b - 1] <= lim) acc += t->bin[--b];
    t->thr = (b * DETECT_COMBINE_BIN_W) * (b * DETECT_COMBINE_BIN_W);
    t->thr_mass = t->total > 0 ? acc / t->total : 0;
}

/* tail_p with r clamped and its bin b already computed. */
static double combine_tail_p_bin(const detect_combine_tail *t, const detect_combine_cfg *c,
                                 double r, int b0)
{
    if (t->n < c->min_points || !(t->total > 0)) return 1;
    if (b0 == 0 && r <= t->thr) return 1; /* all the mass is at or above bin 0: the common case */
    double q = 1 - c->tail_q;
    if (r > t->thr) {
        /* Mean excess; with no excess seen yet, a tail as wide as the body. */
        double beta = t->exn > 0 ? cmax(t->ex / t->exn, 1e-3) : cmax(t->thr, 0.1);
        double mass = t->thr_mass > 0 ? t->thr_mass : q;
        return cmin(q, mass * exp(-(r - t->thr) / beta));
    }
    /* The mass at or above r's bin, summed from the nearer end. */
    double acc = 0;
    if (b0 >= DETECT_COMBINE_BINS / 2) {
        for (int b = b0; b < DETECT_COMBINE_BINS; b++) acc += t->bin[b];
    } else {
        for (int b = 0; b < b0; b++) acc += t->bin[b];
        acc = t->total - acc;
    }
    return cmax(0, cmin(1, acc / t->total));
}

/* tail_add with r clamped, its bin b0 computed, and growth = 1 / (1 - alpha). */
static void combine_tail_add_bin(detect_combine_tail *t, const detect_combine_cfg *c, double r,
                                 int b0, double growth)
{
    if (t->n % COMBINE_REFRESH == 0 || t->n < c->min_points) combine_refresh(t, c);
    t->bin[b0] += t->w;
    t->total += t->w;
    if (t->n >= c->min_points && r > t->thr) {
        t->ex += t->w * (r - t->thr);
        t->exn += t->w;
    }
    t->n++;
    t->w *= growth;
    if (t->w > 1e100) { /* rescale before the units overflow */
        double k = 1 / t->w;
        for (int b = 0; b < DETECT_COMBINE_BINS; b++) t->bin[b] *= k;
        t->total *= k;
        t->ex *= k;
        t->exn *= k;
        t->w = 1;
    }
}

double detect_combine_tail_p(const detect_combine_tail *t, const detect_combine_cfg *c, double r)
{
    r = combine_clamp(r);
    return combine_tail_p_bin(t, c, r, combine_bin(r));
}

void detect_combine_tail_add(detect_combine_tail *t, const detect_combine_cfg *c, double r)
{
    r = combine_clamp(r);
    combine_tail_add_bin(t, c, r, combine_bin(r), 1 / (1 - c->alpha));
}

double detect_combine_fisher_L(double L_sum, int m)
{
    if (m < 1 || !(L_sum > 0)) return 0;
    if (L_sum > 1e6) L_sum = 1e6; /* beyond any evidence; keeps the series below finite */
    /* P(chi2(2m) >= X) = e^(-X/2) sum_{i<m} (X/2)^i / i!, with X/2 = L_sum ln 10. */
    double h = L_sum * COMBINE_LN10, term = 1, sum = 1;
    for (int i = 1; i < m; i++) {
        term *= h / i;
        sum += term;
    }
    double L = (h - log(sum)) / COMBINE_LN10;
    return L > 0 ? L : 0;
}

double detect_combine_joint_L(double L_sum, double p_min, int m)
{
    double L = detect_combine_fisher_L(L_sum, m);
    /* Bonferroni: the smallest of m p-values, times m (valid under any dependence); nothing
     * to add when that is 1 or more (most points: no logarithm). */
    if (m < 1 || !(p_min > 0) || p_min * m >= 1) return L;
    double Lb = -log10(p_min * m);
    return Lb > L ? Lb : L;
}

double detect_combine_score_of_L(const detect_combine_cfg *c, double L)
{
    if (!(L > 0)) return 0;
    return L / (L + c->score_L);
}

/* The combiner's own evidence for one channel (ev[0..DETECT_COMBINE_OWN-1], zeroed by the
 * caller): slow residual |r|, its CUSUM, range novelty, hour-of-day residual. */
static void combine_own(detect_combine_ch *ch, const detect_combine_cfg *c, int64_t ts_us,
                        double median_dt_s, double x, int update, double ev[DETECT_COMBINE_OWN])
{
    if (ch->n == 0) {
        if (update) {
            ch->m = ch->lo = ch->hi = x;
            ch->n = 1;
        }
    } else {
        double e = x - ch->m;
        double range = ch->hi - ch->lo;
        double floor = cmax(1e-9, cmax(1e-3 * range, 1e-6 * fabs(ch->m)));
        double mad = ch->n >= 2 ? ch->mad : fabs(e);
        double sc = cmax(mad * COMBINE_MAD_TO_SIGMA, floor);
        double r = e / sc;
        double rc = cmax(-COMBINE_CLIP, cmin(COMBINE_CLIP, r));
        double sp = cmax(0, ch->sp + rc - COMBINE_CUSUM_K);
        double sn = cmax(0, ch->sn - rc - COMBINE_CUSUM_K);
        double cu = cmax(sp, sn);
        double beyond = cmax(0, cmax(x - ch->hi, ch->lo - x));
        ev[0] = fabs(r);
        ev[1] = cu / 2;
        ev[2] = range > 0 ? 10 * beyond / range : 0;
        if (update) {
            double a = cmax(c->own_alpha, 1.0 / (double)(ch->n + 1));
            double as = cmax(c->scale_alpha, 1.0 / (double)ch->n);
            ch->mad += as * (cmin(fabs(e), COMBINE_CLIP * sc) - ch->mad);
            ch->m += a * e;
            if (cu >= COMBINE_CUSUM_H) sp = sn = 0;
            ch->sp = sp;
            ch->sn = sn;
            if (x < ch->lo) ch->lo = x;
            if (x > ch->hi) ch->hi = x;
            ch->n++;
        }
        if (c->step_alpha > 0) {
            /* The step stream: the recent mean |step| against the long one (an oscillation or
             * a noisier regime starting; the ratio's falls, a series going quiet, were tried:
             * see detect_combine.h). */
            double d = fabs(x - ch->x_prev);
            if (c->step_clip > 0 && ch->n > 2) d = cmin(d, c->step_clip * ch->d_slow);
            double fast = ch->d_fast + c->step_alpha * (d - ch->d_fast);
            /* cmax(alpha, 1 / n) without a division once n is past 1 / alpha */
            double w = (double)ch->n * c->alpha >= 1 ? c->alpha : cmax(c->alpha, 1.0 / (double)ch->n);
            double slow = ch->d_slow + w * (d - ch->d_slow);
            /* 10 (fast / slow - 1), divided only where it could be this point's largest */
            if (ch->n > 2 && slow > 0 && fast > slow * (1 + 0.1 * ev[4])) ev[4] = 10 * (fast / slow - 1);
            if (update) {
                ch->d_fast = ch->n > 2 ? fast : d;
                ch->d_slow = slow;
            }
        }
    }
    if (update) ch->x_prev = x;

    if (!(c->tod_alpha > 0)) return;
    /* A memory of tod_days whatever the sampling rate (3600 / median_dt points a day fall in
     * an hour's bin), but never fewer than 1 / tod_alpha visits. */
    double ta = c->tod_alpha;
    if (median_dt_s > 0 && median_dt_s / (3600.0 * c->tod_days) < ta)
        ta = median_dt_s / (3600.0 * c->tod_days);
    int64_t hour = ts_us / 3600000000LL;
    int hb = (int)(((hour % DETECT_COMBINE_TOD) + DETECT_COMBINE_TOD) % DETECT_COMBINE_TOD);
    int32_t nb = ch->tod_n[hb];
    double e = x - ch->tod_m[hb];
    if (nb >= 3) {
        double floor = cmax(1e-9, 1e-3 * (ch->hi - ch->lo));
        double sc = cmax(ch->tod_mad[hb] * COMBINE_MAD_TO_SIGMA, floor);
        ev[3] = fabs(e) / sc;
        if (update) {
            ch->tod_mad[hb] += (float)(ta * (cmin(fabs(e), COMBINE_CLIP * sc) - ch->tod_mad[hb]));
            ch->tod_m[hb] += (float)(ta * e);
            ch->tod_n[hb]++;
        }
    } else if (update) {
        /* The first visits of an hour: plain running means. */
        if (nb == 0) {
            ch->tod_m[hb] = (float)x;
        } else {
            ch->tod_mad[hb] += (float)((fabs(e) - ch->tod_mad[hb]) / nb);
            ch->tod_m[hb] += (float)(e / (nb + 1));
        }
        ch->tod_n[hb]++;
    }
}

/* The activity stream: the fast running fraction relative to the slow one (0 until the key
 * has been idle once). Updates the fractions when update is set. */
static double combine_activity(detect_combine_state *s, const detect_combine_cfg *c, int idle,
                               int update)
{
    double run = idle ? 0.0 : 1.0;
    double fast = s->duty_fast, slow = s->duty_slow;
    if (s->act_n > 0) {
        fast += c->duty_alpha * (run - fast);
        slow += cmax(c->alpha, 1.0 / (double)(s->act_n + 1)) * (run - slow);
    } else {
        fast = slow = run;
    }
    if (update) {
        s->duty_fast = fast;
        s->duty_slow = slow;
        s->act_n++;
        if (idle) s->idle_seen = 1;
    }
    return s->idle_seen || idle ? (slow > 0 ? fast / slow : 0) : 0;
}

/* The day-phase record: L is multiplied by phase_factor when it is below the largest L of its
 * bin or a neighbour's (decayed by phase_decay per day since), which it then updates. */
static double combine_phase(detect_combine_state *s, const detect_combine_cfg *c, int64_t ts_us,
                            double L)
{
    int nb = (int)c->phase_bins;
    if (nb < 1) return L;
    if (nb > DETECT_COMBINE_PHASE) nb = DETECT_COMBINE_PHASE;
    const int nd = DETECT_COMBINE_PHASE_DAYS;
    int64_t day_us = 86400000000LL;
    int64_t day = ts_us >= 0 ? ts_us / day_us : -((-ts_us + day_us - 1) / day_us);
    int64_t in_day = ts_us - day * day_us;
    int b = (int)(in_day * nb / day_us);
    int slot_today = (int)(((day % nd) + nd) % nd);
    /* Per earlier day, the largest L around this phase; the rhythm is the second largest of
     * those days (reached on two days at least). */
    double top1 = 0, top2 = 0;
    for (int back = 1; back < nd; back++) {
        int64_t d = day - back;
        int slot = slot_today - back < 0 ? slot_today - back + nd : slot_today - back;
        double v = 0;
        for (int j = -(int)c->phase_span; j <= (int)c->phase_span; j++) {
            int k = b + j;
            while (k < 0) k += nb;
            while (k >= nb) k -= nb;
            if (s->phase_day[k][slot] == (int32_t)(d + 1) && s->phase_L[k][slot] > v)
                v = s->phase_L[k][slot];
        }
        if (v > top1) {
            top2 = top1;
            top1 = v;
        } else if (v > top2) {
            top2 = v;
        }
    }
    int slot = slot_today;
    if (s->phase_day[b][slot] != (int32_t)(day + 1)) {
        s->phase_day[b][slot] = (int32_t)(day + 1);
        s->phase_L[b][slot] = 0;
    }
    if (L > s->phase_L[b][slot]) s->phase_L[b][slot] = (float)L;
    double rec = c->phase_need >= 2 ? top2 : top1;
    return L < rec * c->phase_margin ? L * c->phase_factor : L;
}

double detect_combine_step(detect_combine_state *s, const detect_combine_cfg *c,
                           const detect_ctx *ctx, const double *x, const detect_out *out,
                           unsigned enabled)
{
    int update = !ctx->idle && !(ctx->n > 0 && ctx->dt_s <= 0);
    double ev[DETECT_COMBINE_STREAMS] = {0};
    int used[DETECT_COMBINE_STREAMS];
    for (int k = 0; k < DETECT_NKINDS; k++) {
        used[k] = (enabled >> k) & 1u;
        if (!used[k]) continue;
        /* Only where the detector sets a level, and for quality only on findings about the
         * values (see detect_combine.h). */
        if (k == DETECT_QUALITY && !(out[k].quality & COMBINE_Q_VALUES)) continue;
        double z = out[k].multi_level ? out[k].multi_z : 0;
        for (int i = 0; i < ctx->nch; i++)
            if (out[k].level[i] && out[k].z[i] > z) z = out[k].z[i];
        ev[k] = z;
    }
    for (int j = 0; j < DETECT_COMBINE_OWN; j++)
        used[DETECT_NKINDS + j] = j < 3 || (j == 3 ? c->tod_alpha > 0 : c->step_alpha > 0);
    int in_order = !(ctx->n > 0 && ctx->dt_s <= 0);
    /* The activity stream counts once the key has been idle: a key that never rests has
     * nothing to say there. */
    int act = DETECT_NKINDS + DETECT_COMBINE_OWN;
    used[act] = c->duty_alpha > 0 && (s->idle_seen || ctx->idle);
    if (c->duty_alpha > 0) ev[act] = combine_activity(s, c, ctx->idle, in_order);
    if (!ctx->idle) {
        for (int i = 0; i < ctx->nch; i++) {
            double own[DETECT_COMBINE_OWN] = {0};
            combine_own(&s->ch[i], c, ctx->ts_us, ctx->median_dt_s, x[i], update, own);
            for (int j = 0; j < DETECT_COMBINE_OWN; j++)
                if (own[j] > ev[DETECT_NKINDS + j]) ev[DETECT_NKINDS + j] = own[j];
        }
    }

    /* sum of -log10 p as one product (a logarithm per point instead of one per stream),
     * folded into the sum before it could underflow. */
    double L_sum = 0, prod = 1, growth = 1 / (1 - c->alpha), p_min = 1;
    int m = 0;
    for (int k = 0; k < DETECT_COMBINE_STREAMS; k++) {
        if (!used[k]) continue;
        /* A detector that sets no level on the point abstains: it adds no degrees of
         * freedom (its history still learns the zero). */
        int counted = k >= DETECT_NKINDS || ev[k] > 0;
        m += counted;
        double r = combine_clamp(ev[k]);
        int b = combine_bin(r);
        double p = cmax(combine_tail_p_bin(&s->tail[k], c, r, b), 1e-300);
        if (counted && p < p_min) p_min = p;
        if (p < 1e-100) {
            L_sum -= log10(p); /* a product of two such would underflow to 0 */
        } else {
            prod *= p;
            if (prod < 1e-200) {
                L_sum -= log10(prod);
                prod = 1;
            }
        }
        if (k >= act ? in_order : update)
            combine_tail_add_bin(&s->tail[k], c, r, b, growth);
    }
    if (prod < 1) L_sum -= log10(prod);
    double L = detect_combine_joint_L(L_sum, p_min, m);

    /* The day-phase record (see detect_combine.h): evidence this key has shown at this time of
     * day before is a rhythm, not news. */
    if (c->phase_factor < 1 && in_order) L = combine_phase(s, c, ctx->ts_us, L);

    /* Repeats (see detect_combine.h): the hold, then the record. */
    if (s->hold_left > 0) {
        L *= c->hold_factor;
        if (in_order) s->hold_left--;
    } else if (L >= c->alarm_L) {
        s->hold_left = c->hold;
    }
    double rec = s->record;
    if (in_order) s->record = cmax(rec * (1 - c->record_decay), L);
    if (L < rec) L *= c->record_factor;
    s->last_L = L;
    return detect_combine_score_of_L(c, L);
}
