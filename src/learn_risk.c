/* learn_risk: failure risk with delayed labels (see learn_risk.h). */
#include "learn_risk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RISK_HOUR_US (3600LL * 1000000)
#define RISK_FAST_ALPHA (1.0 / 600)        /* ~an hour of running readings */
#define RISK_MIN_HOURS 24
#define RISK_HOUR_MIN_ROWS 60              /* an hour with fewer running readings is not kept */
#define RISK_GAP_US (1800LL * 1000000)     /* a gap this long (a repair) restarts the levels */
#define RISK_MIN_BASE 0.05                 /* amperes: a quieter axis is judged against this */
#define RISK_ARMED_SAMPLES 2000           /* labels learned before alarms are raised */
#define RISK_ALARM_QUIET_US (6 * RISK_HOUR_US) /* an alarm ends after this long below half the threshold */

const double learn_risk_thresholds[LEARN_RISK_NT] = {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};

void learn_risk_fleet_init(learn_risk_fleet *f)
{
    memset(f, 0, sizeof *f);
    f->horizon_us = 24 * RISK_HOUR_US;
    f->delay_us = 12 * RISK_HOUR_US;
    f->primary = 5; /* 0.8 */
    learn_sgd_init(&f->model[0], LEARN_RISK_D, 1, 0.05, 1e-6);
    learn_sgd_init(&f->model[1], LEARN_RISK_D, 1, 0.2, 1e-4);
    for (int m = 0; m < LEARN_RISK_MODELS; m++) f->score[m].last_win_logloss = NAN;
}

void learn_risk_robot_init(learn_risk_robot *r)
{
    memset(r, 0, sizeof *r);
}

void learn_risk_add_failure(learn_risk_robot *r, int64_t ts)
{
    for (int i = 0; i < r->nfails; i++)
        if (r->fail[i] == ts) return;
    if (r->nfails == LEARN_RISK_FAILS) {
        memmove(r->fail, r->fail + 1, (LEARN_RISK_FAILS - 1) * sizeof *r->fail);
        memmove(r->fail_scored, r->fail_scored + 1, (LEARN_RISK_FAILS - 1) * sizeof *r->fail_scored);
        r->nfails--;
    }
    /* Kept in time order. */
    int i = r->nfails;
    while (i > 0 && r->fail[i - 1] > ts) {
        r->fail[i] = r->fail[i - 1];
        r->fail_scored[i] = r->fail_scored[i - 1];
        i--;
    }
    r->fail[i] = ts;
    r->fail_scored[i] = 0;
    r->nfails++;
}

static int risk_fails_within(const learn_risk_robot *r, int64_t from, int64_t to)
{
    for (int i = 0; i < r->nfails; i++)
        if (r->fail[i] > from && r->fail[i] <= to) return 1;
    return 0;
}

static void risk_score_add(learn_risk_score *s, double p, int label)
{
    int bin = (int)(p * LEARN_RISK_BINS);
    if (bin < 0) bin = 0;
    if (bin >= LEARN_RISK_BINS) bin = LEARN_RISK_BINS - 1;
    s->hist[label][bin]++;
    double q = label ? p : 1 - p;
    double ll = -log(q > 1e-15 ? q : 1e-15);
    s->n++;
    s->positives += label;
    s->logloss += ll;
    s->win_n++;
    s->win_pos += label;
    s->win_logloss += ll;
    if (s->win_n == LEARN_RISK_WINDOW) {
        s->last_win_logloss = s->win_logloss / (double)s->win_n;
        s->last_win_pos = s->win_pos;
        s->win_n = s->win_pos = 0;
        s->win_logloss = 0;
    }
}

/* What the robot's time has passed: failures to score, samples to label and learn, alarms to
 * judge. */
static void risk_resolve(learn_risk_fleet *f, learn_risk_robot *r, int64_t ts)
{
    for (int i = 0; i < r->nfails; i++) {
        int64_t e = r->fail[i];
        if (r->fail_scored[i] || e + f->delay_us > ts) continue;
        r->fail_scored[i] = 1;
        f->failures++;
        for (int t = 0; t < LEARN_RISK_NT; t++)
            for (int k = 0; k < r->npend; k++) {
                const learn_risk_pending *p = &r->pend[(r->pend_head + k) % LEARN_RISK_PENDING];
                if (p->ts < e - f->horizon_us || p->ts >= e || !(p->alarm & (1 << t))) continue;
                f->at[t].detected++;
                int bin = (int)((e - p->ts) / LEARN_RISK_STEP_US);
                f->at[t].lead[bin < LEARN_RISK_LEAD_BINS ? bin : LEARN_RISK_LEAD_BINS - 1]++;
                break;
            }
    }
    while (r->npend) {
        learn_risk_pending *p = &r->pend[r->pend_head];
        if (p->ts + f->horizon_us + f->delay_us > ts) break;
        int label = risk_fails_within(r, p->ts, p->ts + f->horizon_us);
        double x[LEARN_RISK_D];
        for (int j = 0; j < LEARN_RISK_D; j++) x[j] = p->x[j];
        for (int m = 0; m < LEARN_RISK_MODELS; m++) {
            risk_score_add(&f->score[m], p->p[m], label);
            learn_sgd_update(&f->model[m], x, label);
        }
        f->resolved++;
        r->pend_head = (r->pend_head + 1) % LEARN_RISK_PENDING;
        r->npend--;
    }
    for (int t = 0; t < LEARN_RISK_NT; t++) {
        learn_risk_alarm_state *al = &r->alarm[t];
        int kept = 0;
        for (int i = 0; i < al->nalarm; i++) {
            int64_t a = al->start[i];
            if (a + f->horizon_us + f->delay_us > ts) {
                al->start[kept++] = a;
                continue;
            }
            f->at[t].alarms++;
            f->at[t].true_alarms += risk_fails_within(r, a, a + f->horizon_us);
        }
        al->nalarm = kept;
    }
}

static void risk_close_hour(learn_risk_robot *r)
{
    if (r->hcnt >= RISK_HOUR_MIN_ROWS) {
        for (int a = 0; a < LEARN_RISK_AXES; a++) {
            r->hmean[r->hhead][a] = (float)(r->hsum[a] / (double)r->hcnt);
            r->hdevm[r->hhead][a] = (float)(r->hdev[a] / (double)r->hcnt);
        }
        r->hhead = (r->hhead + 1) % LEARN_RISK_HOURS;
        if (r->nhours < LEARN_RISK_HOURS) r->nhours++;
        r->fresh_hours++;
    }
    memset(r->hsum, 0, sizeof r->hsum);
    memset(r->hdev, 0, sizeof r->hdev);
    r->hcnt = 0;
}

/* The hourly mean of axis a, k hours back (0: the newest kept). */
static double risk_hour(const learn_risk_robot *r, int k, int a)
{
    return r->hmean[(r->hhead - 1 - k + 2 * LEARN_RISK_HOURS) % LEARN_RISK_HOURS][a];
}

static int risk_cmp(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile of n sorted values (linear interpolation). */
static double risk_q(const float *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* The healthy level of a series of hourly values and its spread, from their lower part (wear
 * only raises a current, and lasts at most two thirds of the window): the centre and the
 * standard deviation a normal distribution with these 5 % and 25 % quantiles has. */
static void risk_baseline(const float *col, int n, double *centre, double *sd)
{
    float v[LEARN_RISK_HOURS];
    memcpy(v, col, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, risk_cmp);
    double q05 = risk_q(v, n, 0.05), q25 = risk_q(v, n, 0.25);
    double s = (q25 - q05) / 0.971;
    double floor_sd = 0.02 * (q25 > RISK_MIN_BASE ? q25 : RISK_MIN_BASE);
    *sd = s > floor_sd ? s : floor_sd;
    *centre = q25 + 0.674 * *sd;
}

static void risk_features(const learn_risk_robot *r, double *x)
{
    double z[LEARN_RISK_AXES], zs[LEARN_RISK_AXES], e[LEARN_RISK_AXES], es[LEARN_RISK_AXES];
    double zd[LEARN_RISK_AXES], z3[LEARN_RISK_AXES], e3[LEARN_RISK_AXES];
    float col[LEARN_RISK_HOURS], dcol[LEARN_RISK_HOURS];
    for (int a = 0; a < LEARN_RISK_AXES; a++) {
        for (int k = 0; k < r->nhours; k++) {
            col[k] = r->hmean[k][a];
            dcol[k] = r->hdevm[k][a];
        }
        double c, sd, dc, dsd;
        risk_baseline(col, r->nhours, &c, &sd);
        risk_baseline(dcol, r->nhours, &dc, &dsd);
        double base = c > RISK_MIN_BASE ? c : RISK_MIN_BASE;
        /* The trend: least squares over the last 12 hours (hour k back at x = -k). */
        int nk = r->nhours < 12 ? r->nhours : 12;
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int k = 0; k < nk; k++) {
            double hx = -k, hy = risk_hour(r, k, a);
            sx += hx, sy += hy, sxx += hx * hx, sxy += hx * hy;
        }
        double per_h = (nk * sxy - sx * sy) / (nk * sxx - sx * sx);
        /* A wear lasts hours; a fault of minutes lifts one hour's mean at most: the lowest of
         * the last three hours is the level that persists. */
        double low3 = fmin(risk_hour(r, 0, a), fmin(risk_hour(r, 1, a), risk_hour(r, 2, a)));
        z3[a] = (low3 - c) / sd;
        e3[a] = (low3 - c) / base;
        z[a] = (r->fast[a] - c) / sd;
        zs[a] = per_h / sd;
        e[a] = (r->fast[a] - c) / base;
        es[a] = per_h / base;
        zd[a] = (r->fdev[a] - dc) / dsd;
    }
    int top = 0, second = -1;
    for (int a = 1; a < LEARN_RISK_AXES; a++)
        if (z3[a] > z3[top]) top = a;
    for (int a = 0; a < LEARN_RISK_AXES; a++)
        if (a != top && (second < 0 || z3[a] > z3[second])) second = a;
    /* z-scores saturate: beyond 50 sigmas nothing is learned that 50 does not say. */
    x[0] = fmin(z3[top], 50);
    x[1] = fmax(fmin(zs[top], 20), -20);
    x[2] = e3[top];
    x[3] = es[top];
    x[4] = e3[top] + 24 * es[top];
    x[5] = fmax(fmin(z[top], 50), -50);
    x[6] = fmax(fmin(zd[top], 50), -50);
    x[7] = fmin(z3[second], 50);
    (void)e;
}

int learn_risk_step(learn_risk_fleet *f, learn_risk_robot *r, int64_t ts, const double *v,
                    learn_risk_sample *out)
{
    if (r->last_ts && ts <= r->last_ts) return 0;
    risk_resolve(f, r, ts);
    if (r->last_ts && ts - r->last_ts > RISK_GAP_US) {
        r->nrun = 0;      /* a repair, or the robot was off: levels start again */
        r->fresh_hours = 0;
        for (int t = 0; t < LEARN_RISK_NT; t++) r->alarm[t].in_alarm = 0; /* and alarms end */
    }
    r->last_ts = ts;

    int64_t hour = ts - ts % RISK_HOUR_US;
    if (hour != r->hour_start) {
        if (r->hour_start) risk_close_hour(r);
        r->hour_start = hour;
    }
    int running = 0;
    for (int a = 0; a < LEARN_RISK_AXES; a++) running |= v[a] != 0;
    if (running) {
        for (int a = 0; a < LEARN_RISK_AXES; a++) {
            /* A plain mean until the EWMA's span is reached, so a restart is not one reading. */
            double al = r->nrun < 600 ? 1.0 / (double)(r->nrun + 1) : RISK_FAST_ALPHA;
            if (r->nrun == 0) r->fdev[a] = 0;
            else r->fdev[a] += al * (fabs(v[a] - r->fast[a]) - r->fdev[a]);
            r->fast[a] += al * (v[a] - r->fast[a]);
            r->hsum[a] += v[a];
            r->hdev[a] += fabs(v[a] - r->fast[a]);
        }
        r->hcnt++;
        r->nrun++;
    }
    if (ts < r->next_sample) return 0;
    r->next_sample = ts - ts % LEARN_RISK_STEP_US + LEARN_RISK_STEP_US;
    if (r->nhours < RISK_MIN_HOURS || r->fresh_hours < 3 || r->nrun < 300) return 0;

    learn_risk_pending *p;
    if (r->npend == LEARN_RISK_PENDING) { /* cannot happen with H + L under 42 h: drop the oldest */
        r->pend_head = (r->pend_head + 1) % LEARN_RISK_PENDING;
        r->npend--;
    }
    p = &r->pend[(r->pend_head + r->npend) % LEARN_RISK_PENDING];
    r->npend++;
    double x[LEARN_RISK_D];
    risk_features(r, x);
    p->ts = ts;
    for (int j = 0; j < LEARN_RISK_D; j++) p->x[j] = (float)x[j];
    /* The models see the features as stored, so a resolved sample learns what was predicted. */
    for (int j = 0; j < LEARN_RISK_D; j++) x[j] = p->x[j];
    for (int m = 0; m < LEARN_RISK_MODELS; m++) p->p[m] = (float)learn_sgd_predict(&f->model[m], x);
    double pc = p->p[f->champion];
    /* A model that has not learned enough labels yet raises no alarm (its first answer is
     * 0.5 for everything). */
    int armed = f->score[f->champion].n >= RISK_ARMED_SAMPLES && f->score[f->champion].positives >= 20;
    p->alarm = 0;
    for (int t = 0; t < LEARN_RISK_NT; t++) {
        learn_risk_alarm_state *al = &r->alarm[t];
        double th = learn_risk_thresholds[t];
        if (armed && !al->in_alarm && pc >= th) {
            al->in_alarm = 1;
            if (al->nalarm < LEARN_RISK_ALARMS) al->start[al->nalarm++] = ts;
        }
        if (pc >= 0.5 * th) al->quiet_since = 0;
        else if (!al->quiet_since) al->quiet_since = ts;
        if (al->in_alarm && al->quiet_since && ts - al->quiet_since >= RISK_ALARM_QUIET_US) al->in_alarm = 0;
        p->alarm |= al->in_alarm << t;
    }
    f->samples++;
    out->ts = ts;
    out->p = pc;
    out->alarm = r->alarm[f->primary].in_alarm;
    return 1;
}

int learn_risk_features(const learn_risk_robot *r, double *x)
{
    if (r->nhours < RISK_MIN_HOURS || r->fresh_hours < 3 || r->nrun < 300) return 0;
    risk_features(r, x);
    /* As a sample stores them (single precision), so the API answers as the stage did. */
    for (int j = 0; j < LEARN_RISK_D; j++) x[j] = (float)x[j];
    return 1;
}

double learn_risk_predict(const learn_risk_fleet *f, const double *x)
{
    return learn_sgd_predict(&f->model[f->champion], x);
}

double learn_risk_roc_auc(const learn_risk_score *s)
{
    double pos = 0, neg = 0, area = 0;
    for (int b = LEARN_RISK_BINS - 1; b >= 0; b--) {
        double gp = (double)s->hist[1][b], gn = (double)s->hist[0][b];
        area += gn * (pos + gp / 2);
        pos += gp;
        neg += gn;
    }
    return pos && neg ? area / (pos * neg) : NAN;
}

double learn_risk_pr_auc(const learn_risk_score *s)
{
    double total = 0, n = 0;
    for (int b = 0; b < LEARN_RISK_BINS; b++) total += (double)s->hist[1][b], n += (double)(s->hist[0][b] + s->hist[1][b]);
    if (total == 0 || total == n) return NAN;
    double tp = 0, seen = 0, ap = 0, prev = 0;
    for (int b = LEARN_RISK_BINS - 1; b >= 0; b--) {
        double gp = (double)s->hist[1][b], gn = (double)s->hist[0][b];
        if (gp + gn == 0) continue;
        tp += gp;
        seen += gp + gn;
        double recall = tp / total;
        ap += (recall - prev) * (tp / seen);
        prev = recall;
    }
    return ap;
}

double learn_risk_logloss(const learn_risk_score *s)
{
    return s->n ? s->logloss / (double)s->n : NAN;
}

double learn_risk_recall(const learn_risk_fleet *f, int k)
{
    return f->failures ? (double)f->at[k].detected / (double)f->failures : NAN;
}

double learn_risk_precision(const learn_risk_fleet *f, int k)
{
    return f->at[k].alarms ? (double)f->at[k].true_alarms / (double)f->at[k].alarms : NAN;
}

double learn_risk_lead_hours(const learn_risk_fleet *f, int k)
{
    int64_t half = (f->at[k].detected + 1) / 2, seen = 0;
    if (!f->at[k].detected) return NAN;
    for (int b = 0; b < LEARN_RISK_LEAD_BINS; b++) {
        seen += f->at[k].lead[b];
        if (seen >= half) return (b + 0.5) * (double)LEARN_RISK_STEP_US / (double)RISK_HOUR_US;
    }
    return NAN;
}

int learn_risk_promote(learn_risk_fleet *f)
{
    int c = f->champion, k = 1 - c;
    const learn_risk_score *sc = &f->score[c], *sk = &f->score[k];
    if (!isfinite(sc->last_win_logloss) || !isfinite(sk->last_win_logloss)) return 0;
    if (sk->last_win_pos < 20 || sk->last_win_logloss > 0.95 * sc->last_win_logloss) return 0;
    f->champion = k;
    f->promotions++;
    return 1;
}
