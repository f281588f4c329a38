/* learn_forecast: cycle-aware forecasts of a robot's currents (see learn_forecast.h). */
#include "learn_forecast.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

const int learn_fc_horizon[LEARN_FC_HORIZONS] = {1, 10};

#define FC_MEAN_ALPHA 0.002      /* running mean: ~500 running readings */
#define FC_PERR_ALPHA 0.05       /* cycle errors: ~20 runs */
#define FC_CYCLES 4              /* earlier cycles averaged */
#define FC_WARM 200              /* blend updates before the blend is trusted */
#define FC_RUN_AXES 6 /* a run (the program) starts at a reading with this many axes on: a
                         real robot's axes switch on one after another, its readings at a
                         run's edges have 1-5 on (docs/simulator.md), the program's 6-8 */
#define FC_PERIOD_SHARE 0.25      /* a cycle length qualifies within this share of the way from
                                      the best length's error to the median length's */
#define FC_GAP_US 120000000      /* a gap this long ends a run (dropout, repair) */
#define FC_SHIFT_STEP 0.002
#define FC_SELECT_ALPHA 0.0005    /* the blend against the median: ~2,000 running readings */

/* log(1 + A) of every stored current (centiamperes), computed once: the forecaster looks up
 * thousands of stored samples a second. */
static float fc_u_table[65536];
static pthread_once_t fc_u_once = PTHREAD_ONCE_INIT;

static void fc_u_fill(void)
{
    for (int c = 0; c < 65536; c++) fc_u_table[c] = (float)log1p(c / 100.0);
}

void learn_fc_init(learn_fc *f)
{
    pthread_once(&fc_u_once, fc_u_fill);
    memset(f, 0, sizeof *f);
    f->period = 1;
    f->last_slot = -1;
    for (int h = 0; h < LEARN_FC_HORIZONS; h++)
        for (int a = 0; a < LEARN_FC_AXES; a++) learn_rls_init(&f->blend[h][a], LEARN_FC_D, 0.9995, 100);
}

double learn_fc_interval(const learn_fc *f)
{
    return f->iv_us;
}

static const learn_fc_run *fc_run(const learn_fc *f, int32_t k)
{
    if (k < 0 || k >= f->runs || k <= f->runs - 1 - LEARN_FC_RUNS) return NULL;
    const learn_fc_run *r = &f->ring[k % LEARN_FC_RUNS];
    return r->index == k && r->n ? r : NULL;
}

/* The sample of run r nearest phase (µs), within LEARN_FC_PHASE_US; -1 if none. */
static int fc_nearest(const learn_fc_run *r, int64_t phase)
{
    int best = -1;
    int64_t bd = LEARN_FC_PHASE_US + 1;
    for (int i = 0; i < r->n; i++) {
        int64_t d = (int64_t)r->phase_cs[i] * 10000 - phase;
        if (d < 0) d = -d;
        if (d < bd) bd = d, best = i;
    }
    return best;
}

static double fc_u(double amps)
{
    return log1p(amps > 0 ? amps : 0);
}

/* ---- Waveform memory. ---- */

#define FC_Q_SCALE 50.0          /* quantised log current: 1 + 50 log(1 + A) */
#define FC_TPL_RATE 0.3          /* a cell's update weight once filled */
#define FC_CORR_ALPHA 0.01       /* the readings' drift from the memory: ~100 hits */
#define FC_SETTLED 30            /* runs the cycle length is judged on before slots are begun */
#define FC_MATCH 0.15            /* a sample matches a cell this close (summed squared log) */
#define FC_MATCH_Q ((int)(FC_MATCH * FC_Q_SCALE * FC_Q_SCALE)) /* the same, quantised */
#define FC_NEAR 1                /* a sample meets the nearest filled cell this many away */

static uint8_t fc_q(double u)
{
    double q = 1 + u * FC_Q_SCALE + 0.5;
    return (uint8_t)(q < 1 ? 1 : q > 255 ? 255 : q);
}

static double fc_uq(uint8_t q)
{
    return (q - 1) / FC_Q_SCALE;
}

/* The cell of time t in a run that started at start (-1 outside the memory). */
static int fc_cell(int64_t t, int64_t start)
{
    int64_t c = (t - start + LEARN_FC_PRE_US) / LEARN_FC_CELL_US;
    return t - start + LEARN_FC_PRE_US < 0 || c >= LEARN_FC_CELLS ? -1 : (int)c;
}

/* The memory's log currents at time t of a run of slot that started at start: 1 if a cell at
 * or next to t's holds them. */
/* The filled cell of a slot's memory at cell, or the nearest within FC_NEAR cells (earlier
 * first); -1 if none. */
static int fc_tpl_near(const uint8_t (*tpl)[LEARN_FC_AXES], int cell)
{
    if (cell < 0) return -1;
    if (tpl[cell][0]) return cell;
    for (int k = 1; k <= FC_NEAR; k++) {
        if (cell - k >= 0 && tpl[cell - k][0]) return cell - k;
        if (cell + k < LEARN_FC_CELLS && tpl[cell + k][0]) return cell + k;
    }
    return -1;
}

static int fc_tpl_at(const learn_fc *f, int slot, int64_t start, int64_t t, double *u)
{
    int c = slot < 0 ? -1 : fc_tpl_near(f->tpl[slot], fc_cell(t, start));
    if (c < 0) return 0;
    for (int a = 0; a < LEARN_FC_AXES; a++) u[a] = fc_uq(f->tpl[slot][c][a]);
    return 1;
}

static double fc_max0(double u)
{
    return u > 0 ? u : 0;
}

/* A new run: its alignment candidates span the idle gap before it, and a margin each side
 * (a slot's first run was placed at the middle of its own gap). */
static void fc_align_begin(learn_fc *f, int64_t ts, int64_t mid, int64_t lo)
{
    learn_fc_align *al = &f->al;
    int64_t margin = f->iv_us > 0 ? (int64_t)(f->iv_us * 0.6) : 1000000;
    memset(al, 0, sizeof *al);
    al->t0 = ts;
    al->mid = mid;
    al->lo = lo;
    al->base = ts + margin;
    int64_t span = al->base - (lo - margin);
    al->ncand = (int32_t)(span / LEARN_FC_STEP_US + 1);
    if (al->ncand > LEARN_FC_CAND) al->ncand = LEARN_FC_CAND;
    al->expect = (f->last_slot + 1) % f->period;
    al->slot = al->best = -1;
}

/* A candidate's score: its matches, less a quarter of its misses. */
static int fc_cand_score(const learn_fc_align *al, int s, int c)
{
    return 4 * al->match[s][c] - (al->hits[s][c] - al->match[s][c]);
}

/* Scores every candidate start of one slot against the sample (quantised log currents q at
 * ts); returns the slot's best candidate (-1: none with a match), its score in *score. */
static int fc_align_slot(learn_fc *f, int s, int64_t ts, const uint8_t *q, int *score)
{
    learn_fc_align *al = &f->al;
    const uint8_t (*tpl)[LEARN_FC_AXES] = f->tpl[s];
    /* Candidate c puts the sample at pos = ts - start + PRE, start = base - c * STEP: pos
     * grows by STEP from one candidate to the next, and its cell with it. */
    int64_t pos = ts - al->base + LEARN_FC_PRE_US;
    int prev = -2, hit = 0, match = 0, best = -1, bs = 0;
    for (int c = 0; c < al->ncand; c++, pos += LEARN_FC_STEP_US) {
        int cell = pos < 0 || pos / LEARN_FC_CELL_US >= LEARN_FC_CELLS ? -1 : (int)(pos / LEARN_FC_CELL_US);
        if (cell != prev) {
            prev = cell;
            int at = fc_tpl_near(tpl, cell);
            hit = at >= 0;
            if (hit) {
                int dd = 0;
                for (int a = 0; a < LEARN_FC_AXES && dd < FC_MATCH_Q; a++) {
                    int e = (int)q[a] - (int)tpl[at][a];
                    dd += e * e;
                }
                match = dd < FC_MATCH_Q;
            }
        }
        if (!hit) continue;
        if (al->hits[s][c] < 255) {
            al->hits[s][c]++;
            al->match[s][c] += (uint8_t)match;
        }
        if (al->match[s][c]) {
            int sc = fc_cand_score(al, s, c);
            if (sc > bs) bs = sc, best = c;
        }
    }
    /* Candidates the sample did not reach keep their scores: look at them too. */
    for (int c = 0; c < al->ncand; c++)
        if (al->match[s][c] && fc_cand_score(al, s, c) > bs) bs = fc_cand_score(al, s, c), best = c;
    *score = bs;
    return best;
}

/* A running sample: scores the candidate starts of every slot with a memory (of the aligned
 * one only, once it is certain). */
static void fc_align_sample(learn_fc *f, int64_t ts, const double *v)
{
    learn_fc_align *al = &f->al;
    uint8_t q[LEARN_FC_AXES];
    for (int a = 0; a < LEARN_FC_AXES; a++) q[a] = fc_q(fc_u(v[a]));
    if (al->n < LEARN_FC_CUR && ts - al->t0 < 4000000000LL) {
        al->dt_ms[al->n] = (uint32_t)((ts - al->t0) / 1000);
        memcpy(al->q[al->n], q, LEARN_FC_AXES);
        al->n++;
    }
    /* The best candidate over the slots scored; ties to the earliest slot and candidate. */
    /* Once some slot has matched, only the slots that have (and the one the count expects)
     * are scored on: the others cannot catch up on the few readings a run has. */
    int bs = 0, locked = al->lock ? al->slot : -1;
    uint32_t scan = locked >= 0 ? 1u << locked : al->matched ? al->matched | 1u << al->expect : ~0u;
    al->slot = al->best = -1;
    for (int s = 0; s < LEARN_FC_MAXP; s++) {
        if (!f->tpl_runs[s] || !((scan >> s) & 1)) continue;
        int sc, c = fc_align_slot(f, s, ts, q, &sc);
        if (c < 0) continue;
        al->matched |= 1u << s;
        if (sc > bs) bs = sc, al->slot = s, al->best = c;
    }
    int m = al->best >= 0 ? al->match[al->slot][al->best] : 0;
    int miss = al->best >= 0 ? al->hits[al->slot][al->best] - m : 0;
    al->conf = (m >= 1 && miss <= 1) || (m >= 2 && 3 * m >= miss);
    al->sure = m >= 3 && 2 * m >= miss;
    al->lock = (m >= 4 && m >= miss) || (m >= 2 && miss == 0);
}

static void fc_tpl_clear(learn_fc *f, int s)
{
    memset(f->tpl[s], 0, sizeof f->tpl[s]);
    f->tpl_runs[s] = 0;
    f->tpl_dirty |= 1u << s;
}

uint32_t learn_fc_tpl_clean(learn_fc *f)
{
    uint32_t d = f->tpl_dirty;
    f->tpl_dirty = 0;
    return d;
}

/* The run ended: its samples go into the memory of the slot it aligned to, at its aligned
 * start. A run that did not align goes, at its estimated start, into the slot the cycle count
 * expects if that slot is still empty; otherwise it is left out. */
static void fc_align_end(learn_fc *f)
{
    learn_fc_align *al = &f->al;
    int64_t start;
    int s;
    if (al->sure) {
        s = al->slot;
        int best = al->best;
        /* Another slot that aligns this run as well holds the same program (begun from a
         * run the count misplaced): the one with fewer runs is emptied for another. */
        for (int k = 0; k < LEARN_FC_MAXP; k++) {
            if (k == s || !f->tpl_runs[k]) continue;
            int kb = -1, km = 0;
            for (int c = 0; c < al->ncand; c++)
                if (al->match[k][c] > km) km = al->match[k][c], kb = c;
            if (km < 3 || 2 * km < al->hits[k][kb]) continue;
            if (f->tpl_runs[k] > f->tpl_runs[s]) {
                fc_tpl_clear(f, s);
                s = k;
                best = kb;
            } else {
                fc_tpl_clear(f, k);
            }
        }
        start = al->base - (int64_t)best * LEARN_FC_STEP_US;
    } else {
        s = al->expect;
        start = al->mid;
        f->last_slot = s;
        /* A slot's first run is placed by the cycle count (or in another empty slot), once
         * the cycle is known, and not after a long silence (its start is too loose). */
        if (f->perr_n[f->period] < FC_SETTLED || (double)(al->t0 - al->lo) > 1.5 * f->iv_us) return;
        for (int k = 0; f->tpl_runs[s] && k < f->period; k++)
            if (!f->tpl_runs[k]) s = k;
        if (f->tpl_runs[s]) return;
    }
    f->last_slot = s;
    uint8_t (*tpl)[LEARN_FC_AXES] = f->tpl[s];
    for (int i = 0; i < al->n; i++) {
        int cell = fc_cell(al->t0 + (int64_t)al->dt_ms[i] * 1000, start);
        if (cell < 0) continue;
        int empty = !tpl[cell][0];
        for (int a = 0; a < LEARN_FC_AXES; a++) {
            if (empty) tpl[cell][a] = al->q[i][a];
            else {
                double o = tpl[cell][a], n = al->q[i][a];
                tpl[cell][a] = (uint8_t)(o + FC_TPL_RATE * (n - o) + 0.5);
            }
        }
    }
    f->tpl_runs[s]++;
    f->tpl_dirty |= 1u << s;
}

/* What run k read at phase (or, phase < 0, its mean), in amperes and as log(1 + A); 0 if it
 * has nothing there. */
static int fc_at(const learn_fc *f, int32_t k, int64_t phase, double *amps, double *u)
{
    const learn_fc_run *r = fc_run(f, k);
    if (!r) return 0;
    if (phase >= 0) {
        int i = fc_nearest(r, phase);
        if (i < 0) return 0;
        for (int a = 0; a < LEARN_FC_AXES; a++) {
            amps[a] = r->v[i][a] / 100.0;
            u[a] = fc_u_table[r->v[i][a]];
        }
        return 1;
    }
    for (int a = 0; a < LEARN_FC_AXES; a++) {
        amps[a] = r->amean[a];
        u[a] = r->umean[a];
    }
    return 1;
}

/* The blend's features (log space) for a forecast made with context c for time t, the
 * unblended cycle profile (log space) and the naive baselines (amperes). */
static void fc_features(const learn_fc *f, const learn_fc_ctx *c, int64_t t,
                        double x[LEARN_FC_AXES][LEARN_FC_D], double *prof_u,
                        double base[LEARN_FC_METHODS][LEARN_FC_AXES])
{
    int in_run = c->run_start && (double)(t - c->run_start) < f->run_us;
    int32_t target = in_run ? c->run : c->run + 1;
    int64_t phase = in_run ? t - c->run_start : -1;
    /* Runs that had ended when c was taken: below c->run (c->run itself if idle then). */
    int32_t done = c->run_start ? c->run : c->run + 1;
    double prof[LEARN_FC_AXES] = {0}, tmp[LEARN_FC_AXES], tmpu[LEARN_FC_AXES];
    int got = 0;
    for (int m = 1; m <= FC_CYCLES; m++) {
        int32_t k = target - m * c->period;
        if (k >= done || !fc_at(f, k, phase, tmp, tmpu)) continue;
        for (int a = 0; a < LEARN_FC_AXES; a++) prof[a] += tmpu[a];
        got++;
    }
    double cyc[LEARN_FC_AXES], cycu[LEARN_FC_AXES], run[LEARN_FC_AXES], runu[LEARN_FC_AXES];
    int has_cyc = target - c->period < done && fc_at(f, target - c->period, phase, cyc, cycu);
    int has_run = target - 1 < done && fc_at(f, target - 1, phase, run, runu);
    for (int a = 0; a < LEARN_FC_AXES; a++) {
        double p = got ? prof[a] / got : c->umean[a];
        prof_u[a] = p;
        x[a][0] = 1;
        x[a][1] = in_run;
        x[a][2] = in_run ? p : 0;
        x[a][3] = in_run ? 0 : p;
        x[a][4] = in_run ? fc_u(c->last[a]) : 0;
        x[a][5] = c->umean[a];
        x[a][6] = has_cyc ? cycu[a] : c->umean[a];
        base[LEARN_FC_MODEL][a] = NAN;
        base[LEARN_FC_LAST][a] = c->last[a];
        base[LEARN_FC_PREV_RUN][a] = has_run ? run[a] : c->mean[a];
        base[LEARN_FC_PREV_CYCLE][a] = has_cyc ? cyc[a] : c->mean[a];
        base[LEARN_FC_MEAN][a] = c->mean[a];
        base[LEARN_FC_MEDIAN][a] = c->median[a];
    }
}

/* The blend's forecast in log space (the profile until the blend is warm), with the median
 * shift. */
static double fc_blend_u(const learn_fc *f, int h, int a, const double *x, double prof_u)
{
    const learn_rls *m = &f->blend[h][a];
    double u = m->n < FC_WARM ? prof_u : learn_rls_predict(m, x) + f->shift[h][a];
    return u > 0 ? u : 0;
}

static void fc_context(const learn_fc *f, learn_fc_ctx *c)
{
    c->ts = f->last_ts;
    c->run_start = f->running ? f->ring[(f->runs - 1) % LEARN_FC_RUNS].start_us : 0;
    c->run = f->runs - 1;
    c->period = f->period;
    c->tpl_start = f->running && f->al.conf ? f->al.base - (int64_t)f->al.best * LEARN_FC_STEP_US : 0;
    c->tpl_slot = f->al.slot;
    for (int a = 0; a < LEARN_FC_AXES; a++) {
        c->last[a] = f->last[a];
        c->mean[a] = (float)f->mean[a];
        c->umean[a] = (float)f->umean[a];
        c->median[a] = (float)f->median[a];
    }
}

/* Where the blend has not beaten the running median lately, the median is the forecast. */
static int fc_use_median(const learn_fc *f, int h, int a)
{
    return f->err_median[h][a] < f->err_blend[h][a];
}

void learn_fc_forecast(const learn_fc *f, int64_t t_us, int h, double *out)
{
    pthread_once(&fc_u_once, fc_u_fill); /* a state read back was never initialised here */
    if (f->runs == 0) {
        for (int a = 0; a < LEARN_FC_AXES; a++) out[a] = NAN;
        return;
    }
    learn_fc_ctx c;
    fc_context(f, &c);
    double x[LEARN_FC_AXES][LEARN_FC_D], prof[LEARN_FC_AXES], base[LEARN_FC_METHODS][LEARN_FC_AXES];
    fc_features(f, &c, t_us, x, prof, base);
    double tu[LEARN_FC_AXES];
    int hit = c.tpl_start && fc_tpl_at(f, c.tpl_slot, c.tpl_start, t_us, tu);
    for (int a = 0; a < LEARN_FC_AXES; a++)
        out[a] = hit ? expm1(fc_max0(tu[a] + f->tcorr[a]))
                     : fc_use_median(f, h, a) ? c.median[a] : expm1(fc_blend_u(f, h, a, x[a], prof[a]));
}


/* Scores the forecasts made 1 and 10 readings ago for this reading, and learns the blend. */
static void fc_score(learn_fc *f, int64_t ts, const double *v, int running)
{
    for (int h = 0; h < LEARN_FC_HORIZONS; h++) {
        int64_t back = learn_fc_horizon[h];
        if (f->n < back) continue;
        const learn_fc_ctx *c = &f->ctx[(f->n - back) % LEARN_FC_CTX];
        if (c->run < 0) continue; /* nothing had run yet */
        double x[LEARN_FC_AXES][LEARN_FC_D], prof[LEARN_FC_AXES], base[LEARN_FC_METHODS][LEARN_FC_AXES];
        fc_features(f, c, ts, x, prof, base);
        double tu[LEARN_FC_AXES];
        int hit = running && c->tpl_start && fc_tpl_at(f, c->tpl_slot, c->tpl_start, ts, tu);
        for (int a = 0; a < LEARN_FC_AXES; a++) {
            learn_fc_score *s = &f->score[h][a];
            if (!running) {
                s->idle++;
                continue;
            }
            if (hit) {
                double uv = fc_u(v[a]);
                base[LEARN_FC_MODEL][a] = expm1(fc_max0(tu[a] + f->tcorr[a]));
                if (h == 0) f->tcorr[a] += FC_CORR_ALPHA * (uv - tu[a] - f->tcorr[a]);
                s->n++;
                for (int k = 0; k < LEARN_FC_METHODS; k++) {
                    double e = base[k][a] - v[a];
                    s->abs[k] += fabs(e);
                    s->sq[k] += e * e;
                }
                continue;
            }
            double u = fc_blend_u(f, h, a, x[a], prof[a]), blend = expm1(u);
            base[LEARN_FC_MODEL][a] = fc_use_median(f, h, a) ? base[LEARN_FC_MEDIAN][a] : blend;
            f->err_blend[h][a] += FC_SELECT_ALPHA * (fabs(blend - v[a]) - f->err_blend[h][a]);
            f->err_median[h][a] += FC_SELECT_ALPHA * (fabs(base[LEARN_FC_MEDIAN][a] - v[a]) - f->err_median[h][a]);
            s->n++;
            for (int k = 0; k < LEARN_FC_METHODS; k++) {
                double e = base[k][a] - v[a];
                s->abs[k] += fabs(e);
                s->sq[k] += e * e;
            }
            double uv = fc_u(v[a]);
            if (f->blend[h][a].n >= FC_WARM) f->shift[h][a] += FC_SHIFT_STEP * (uv > u ? 1 : uv < u ? -1 : 0);
            learn_rls_update(&f->blend[h][a], x[a], uv);
        }
    }
}

/* A run ended: how well each cycle length would have predicted it. */
static void fc_run_ended(learn_fc *f, int64_t end_ts)
{
    learn_fc_run *r = &f->ring[(f->runs - 1) % LEARN_FC_RUNS];
    for (int a = 0; a < LEARN_FC_AXES; a++) {
        double sa = 0, su = 0;
        for (int i = 0; i < r->n; i++) {
            sa += r->v[i][a] / 100.0;
            su += fc_u_table[r->v[i][a]];
        }
        r->amean[a] = (float)(r->n ? sa / r->n : 0);
        r->umean[a] = (float)(r->n ? su / r->n : 0);
    }
    double dur = (double)(end_ts - r->start_us);
    f->run_us = f->run_us > 0 ? f->run_us + 0.1 * (dur - f->run_us) : dur;
    double best = INFINITY;
    int bestp = f->period;
    for (int p = 1; p <= LEARN_FC_MAXP; p++) {
        const learn_fc_run *o = fc_run(f, r->index - p);
        if (!o) continue;
        double err = 0;
        int n = 0;
        for (int i = 0; i < r->n; i++) {
            int j = fc_nearest(o, (int64_t)r->phase_cs[i] * 10000);
            if (j < 0) continue;
            for (int a = 0; a < LEARN_FC_AXES; a++) err += fabs((double)r->v[i][a] - o->v[j][a]) / 100.0;
            n++;
        }
        if (!n) continue;
        err /= n;
        f->perr[p] = f->perr_n[p] ? f->perr[p] + FC_PERR_ALPHA * (err - f->perr[p]) : err;
        f->perr_n[p]++;
    }
    /* The shortest length whose error lies within a quarter of the way from the best to the
     * median length's, once judged on 10 runs (see learn_forecast.h). */
    double judged[LEARN_FC_MAXP];
    int nj = 0;
    for (int p = 1; p <= LEARN_FC_MAXP; p++)
        if (f->perr_n[p] >= 10) {
            judged[nj++] = f->perr[p];
            if (f->perr[p] < best) best = f->perr[p];
        }
    if (nj) {
        for (int i = 1; i < nj; i++) /* insertion sort: at most LEARN_FC_MAXP */
            for (int j = i; j > 0 && judged[j - 1] > judged[j]; j--) {
                double t = judged[j];
                judged[j] = judged[j - 1];
                judged[j - 1] = t;
            }
        double med = nj % 2 ? judged[nj / 2] : 0.5 * (judged[nj / 2 - 1] + judged[nj / 2]);
        double lim = best + FC_PERIOD_SHARE * (med - best);
        for (int p = LEARN_FC_MAXP; p >= 1; p--)
            if (f->perr_n[p] >= 10 && f->perr[p] <= lim) bestp = p;
    }
    f->period = bestp;
}

int learn_fc_step(learn_fc *f, int64_t ts, const double *v)
{
    pthread_once(&fc_u_once, fc_u_fill);
    if (f->n && ts <= f->last_ts) return 0;
    int nz = 0;
    for (int a = 0; a < LEARN_FC_AXES; a++) nz += v[a] != 0;
    /* A run starts with the program (the edge readings before it are its ramp, at no phase
     * of the program) and lasts until every axis is at rest; only program readings enter its
     * record (the memories and the cycle's evidence). */
    int running = f->running ? nz > 0 : nz >= FC_RUN_AXES;
    fc_score(f, ts, v, running);

    if (f->n) {
        double iv = (double)(ts - f->last_ts);
        if (iv < FC_GAP_US) f->iv_us = f->iv_us > 0 ? f->iv_us + 0.01 * (iv - f->iv_us) : iv;
    }
    int gap = f->n && ts - f->last_ts > FC_GAP_US;
    if (f->running && (!running || gap)) {
        fc_run_ended(f, f->last_ts);
        fc_align_end(f);
    }
    if (running && (!f->running || gap)) {
        learn_fc_run *r = &f->ring[f->runs % LEARN_FC_RUNS];
        memset(r, 0, sizeof *r);
        r->index = f->runs++;
        /* The run began between the last idle reading and this one: take the middle. */
        int after_idle = f->last_idle_ts && !gap && ts - f->last_idle_ts < FC_GAP_US;
        r->start_us = after_idle ? f->last_idle_ts + (ts - f->last_idle_ts) / 2 : ts;
        fc_align_begin(f, ts, r->start_us, after_idle ? f->last_idle_ts : ts - (int64_t)f->iv_us);
    }
    if (running && nz >= FC_RUN_AXES) {
        fc_align_sample(f, ts, v);
        learn_fc_run *r = &f->ring[(f->runs - 1) % LEARN_FC_RUNS];
        int64_t phase_cs = (ts - r->start_us) / 10000;
        if (r->n < LEARN_FC_SAMPLES && phase_cs < 65535) {
            r->phase_cs[r->n] = (uint16_t)phase_cs;
            for (int a = 0; a < LEARN_FC_AXES; a++) {
                double c = v[a] * 100 + 0.5;
                r->v[r->n][a] = (uint16_t)(c < 0 ? 0 : c > 65535 ? 65535 : c);
            }
            r->n++;
        }
        int first = f->runs == 1 && f->ring[0].n == 1;
        for (int a = 0; a < LEARN_FC_AXES; a++) {
            f->mean[a] = first ? v[a] : f->mean[a] + FC_MEAN_ALPHA * (v[a] - f->mean[a]);
            f->umean[a] = first ? fc_u(v[a]) : f->umean[a] + FC_MEAN_ALPHA * (fc_u(v[a]) - f->umean[a]);
            if (first) {
                f->median[a] = v[a];
                f->spread[a] = 0;
            } else {
                double d = v[a] - f->median[a];
                f->spread[a] += FC_MEAN_ALPHA * (fabs(d) - f->spread[a]);
                f->median[a] += 0.01 * (f->spread[a] > 0 ? f->spread[a] : fabs(d)) * (d > 0 ? 1 : d < 0 ? -1 : 0);
            }
        }
    } else if (!running) {
        f->last_idle_ts = ts;
    }
    f->running = running;
    f->last_ts = ts;
    for (int a = 0; a < LEARN_FC_AXES; a++) f->last[a] = (float)v[a];
    fc_context(f, &f->ctx[f->n % LEARN_FC_CTX]);
    f->n++;
    return 1;
}
