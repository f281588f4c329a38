/* detect_quality: data-quality checks (stuck, negative, range, idle break per channel; late,
 * duplicate, clock jump, gap for the point). The rules and their defaults are in
 * detect_quality.h. */
#include "detect_quality.h"

#include <math.h>
#include <string.h>

#define DETECT_Q_ZMAX 50.0

void detect_quality_cfg_default(detect_quality_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->stuck_n = 5;
    c->stuck_p = 1e-6;
    c->stuck_max = 150;
    c->warmup = 1000;
    c->range_mult = 0.5;
    c->idle_break_max = 2;
    c->idle_min_rest = 10;
    c->error_sigmas = 4;
    c->gap_mult = 10;
    c->gap_alert_mult = 220;
    c->gap_margin = 1.1;
    c->gap_alert_max_s = 3600;
    c->idle_edge_rows = 2;
}

void detect_quality_init(detect_quality_state *s, const detect_quality_cfg *c, int nch)
{
    (void)c;
    memset(s, 0, sizeof *s);
    s->nch = nch;
}

static double detect_quality_cap(double z)
{
    return z < DETECT_Q_ZMAX ? z : DETECT_Q_ZMAX;
}

/* Raises channel i's finding to (level, z) if that is higher. */
static void detect_quality_flag(detect_out *o, int i, int level, double z, uint32_t flag)
{
    z = detect_quality_cap(z);
    if (level > o->level[i] || (level == o->level[i] && z > o->z[i])) {
        o->level[i] = (int8_t)level;
        o->z[i] = z;
    }
    o->quality |= flag;
}

static void detect_quality_flag_multi(detect_out *o, int level, double z, uint32_t flag)
{
    z = detect_quality_cap(z);
    if (level > o->multi_level || (level == o->multi_level && z > o->multi_z)) {
        o->multi_level = (int8_t)level;
        o->multi_z = z;
    }
    o->quality |= flag;
}

/* Equal values in a row that make a stuck channel: stuck_n, or more on a channel whose
 * consecutive values are often equal (quantised data), so that a natural run that long has
 * probability stuck_p at most: with p the share of equal consecutive non-zero pairs (a prior
 * of 1 in 100 with the weight of 100 pairs) taken at its upper 2-sigma bound (Wilson's), the
 * smallest n with p^(n-1) <= stuck_p. The bound keeps a channel that has shown few pairs from
 * being judged by an optimistic share: the real export's axis 8 (equal pairs 45 % of the
 * time) ran 5 and 8 equal values in its first 200 rows, both flagged with the share alone. */
static int detect_quality_stuck_need(const detect_quality_chan *q, const detect_quality_cfg *c)
{
    double n = (double)q->pairs + 100;
    double ph = ((double)q->reps + 1) / n;
    double p = (ph + 2 / n + 2 * sqrt(ph * (1 - ph) / n + 1 / (n * n))) / (1 + 4 / n);
    if (!(c->stuck_p > 0 && c->stuck_p < 1)) return c->stuck_n;
    if (p >= 1) return 1000000;
    double k = ceil(log(c->stuck_p) / log(p) - 1e-9);
    int need = k < 1e6 ? 1 + (int)k : 1000000;
    return need > c->stuck_n ? need : c->stuck_n;
}

/* v is one of the values the channel has held for stuck_n points or more before. */
static int detect_quality_is_setpoint(const detect_quality_chan *q, double v)
{
    int n = q->nsetpt < DETECT_Q_SETPOINTS ? q->nsetpt : DETECT_Q_SETPOINTS;
    for (int k = 0; k < n; k++)
        if (q->setpt[k] == v) return 1;
    return 0;
}

/* Seconds of silence from which a gap is a dropout: gap_alert_mult median intervals, or
 * gap_margin times the key's DETECT_Q_GAP_TOP-th longest gap so far if that is longer. */
static double detect_quality_gap_alert_s(const detect_quality_state *s, const detect_quality_cfg *c,
                                         double median_dt_s)
{
    double floor_s = c->gap_alert_mult * median_dt_s;
    double learnt = c->gap_margin * s->gap_top[DETECT_Q_GAP_TOP - 1];
    return learnt > floor_s ? learnt : floor_s;
}

/* Keeps the DETECT_Q_GAP_TOP longest gaps, longest first. */
static void detect_quality_note_gap(detect_quality_state *s, double dt_s)
{
    int k = DETECT_Q_GAP_TOP - 1;
    if (!(dt_s > s->gap_top[k])) return;
    for (; k > 0 && s->gap_top[k - 1] < dt_s; k--) s->gap_top[k] = s->gap_top[k - 1];
    s->gap_top[k] = dt_s;
}

/* The point as a whole: duplicate, late, clock jump, gap. Returns 1 when the point is in
 * order (the per-channel checks may take it as the successor of the previous one). */
static int detect_quality_time(detect_quality_state *s, const detect_quality_cfg *c,
                               const detect_ctx *ctx, const double *x, detect_out *o, int *dup)
{
    int nch = ctx->nch;
    *dup = 0;
    if (s->n == 0) return 1;
    int behind = ctx->ts_us < s->newest_us;
    int in_order = ctx->ts_us > s->prev_us;
    int jump = behind && s->prev_behind && in_order;
    if (ctx->ts_us == s->newest_us) {
        /* The same time twice: a resend (same values) or a conflicting reading. */
        *dup = 1;
        int same = !memcmp(x, s->newest, sizeof x[0] * (size_t)nch);
        detect_quality_flag_multi(o, DETECT_ALERT, same ? 4 : 6, DETECT_Q_DUPLICATE);
    } else if (behind) {
        double md = ctx->median_dt_s > 0 ? ctx->median_dt_s : 1;
        double z = 4 + (double)(s->newest_us - ctx->ts_us) / 1e6 / md / 10;
        if (jump)
            detect_quality_flag_multi(o, DETECT_ALERT, z, DETECT_Q_CLOCK_JUMP);
        else
            detect_quality_flag_multi(o, DETECT_ALERT, z, DETECT_Q_LATE);
    } else if (ctx->median_dt_s > 0 && s->n >= 32 && ctx->dt_s > c->gap_mult * ctx->median_dt_s) {
        double thr = detect_quality_gap_alert_s(s, c, ctx->median_dt_s);
        if (ctx->dt_s > thr && ctx->dt_s <= c->gap_alert_max_s)
            detect_quality_flag_multi(o, DETECT_ALERT, 4 * ctx->dt_s / thr, DETECT_Q_GAP);
        else
            o->quality |= DETECT_Q_GAP;
        /* Every gap up to gap_alert_max_s is one of the key's pauses, alarmed or not: a key
         * whose pauses are longer than the floor stops alarming once it has shown
         * DETECT_Q_GAP_TOP of them, and one dropout alone cannot raise the threshold. */
        if (ctx->dt_s <= c->gap_alert_max_s) detect_quality_note_gap(s, ctx->dt_s);
    }
    s->prev_behind = behind;
    /* A late point is out of sequence, but a run of points behind a clock jump is a sequence. */
    return !*dup && (!behind || jump);
}

void detect_quality_step(detect_quality_state *s, const detect_quality_cfg *c, const detect_ctx *ctx,
                         const double *x, detect_out *o)
{
    int nch = ctx->nch;
    memset(o, 0, sizeof *o);
    int dup;
    int seq = detect_quality_time(s, c, ctx, x, o, &dup);

    if (!dup) {
        int nz = 0;
        for (int i = 0; i < nch; i++) nz += x[i] != 0;
        int ib_max = c->idle_break_max < nch / 4 ? c->idle_break_max : nch / 4;
        int row = nz == 0 ? DETECT_Q_ROW_REST : nz <= ib_max ? DETECT_Q_ROW_PART : DETECT_Q_ROW_RUN;
        /* The idle break, judged with the row's neighbours in sequence (late rows have none):
         * judge flags this row now, hold keeps its verdict for the next row, release flags
         * the held rows' channels on this row (they were mid-rest). */
        int judge = 0, hold = 0, release = 0;
        if (seq) {
            if (row == DETECT_Q_ROW_PART && s->rest_rows >= c->idle_min_rest) {
                if (s->prev_row == DETECT_Q_ROW_PART && s->chain > 0) {
                    s->chain++;
                } else {
                    s->chain = 1;
                    s->chain_from = s->prev_row;
                }
                if (s->chain > c->idle_edge_rows) {
                    judge = 1; /* longer than an edge: a break, whatever comes next */
                    release = s->held > 0;
                } else if (s->chain_from != DETECT_Q_ROW_RUN) {
                    hold = 1; /* after a rest: a break unless a running row follows */
                } /* else right after a running row: its end */
            } else {
                s->chain = 0;
                release = row == DETECT_Q_ROW_REST && s->held > 0;
            }
            s->prev_row = row;
        }

        for (int i = 0; i < nch; i++) {
            detect_quality_chan *q = &s->ch[i];
            double v = x[i];
            double w = q->hi - q->lo;
            int flagged = 0;
            if (q->nz < c->warmup) {
                if (v < 0) q->neg_seen = 1;
            } else {
                if (v < 0 && !q->neg_seen) {
                    detect_quality_flag(o, i, DETECT_ERROR, 8, DETECT_Q_NEGATIVE);
                    flagged = 1;
                }
                if (w > 0 && (v > q->hi + c->range_mult * w || v < q->lo - c->range_mult * w)) {
                    double ex = v > q->hi ? v - q->lo : q->hi - v;
                    detect_quality_flag(o, i, DETECT_ALERT, 4 * ex / ((1 + c->range_mult) * w),
                                        DETECT_Q_RANGE);
                    flagged = 1;
                }
            }
            if ((judge || hold) && v != 0) {
                double sd = q->n_acc > 1 ? sqrt(q->m2 / (double)(q->n_acc - 1)) : 0;
                double z = sd > 0 ? fabs(v) / sd : DETECT_Q_ZMAX;
                int level = z >= c->error_sigmas ? DETECT_ERROR : DETECT_ALERT;
                z = detect_quality_cap(z > 4 ? z : 4);
                if (judge) {
                    detect_quality_flag(o, i, level, z, DETECT_Q_IDLE_BREAK);
                } else if (level > s->held_level[i] || (level == s->held_level[i] && z > s->held_z[i])) {
                    s->held_level[i] = (int8_t)level;
                    s->held_z[i] = z;
                }
                /* Held or flagged, the value stays out of the channel's statistics. */
                flagged = 1;
            }
            if (release && s->held_level[i])
                detect_quality_flag(o, i, s->held_level[i], s->held_z[i], DETECT_Q_IDLE_BREAK);
            if (seq) {
                int pair = v != 0 && q->last != 0 && q->n > 0;
                if (pair && v == q->last) {
                    q->repeats++;
                } else {
                    /* The run of `last` ended: its equal pairs count once it is over (so that
                     * a run does not raise its own threshold), flagged or not: on stepwise
                     * data runs are the norm and the check must learn that; a real stuck
                     * fault is too rare among a channel's pairs to move p much. */
                    if (q->repeats > 1) {
                        q->pairs += q->repeats - 1;
                        q->reps += q->repeats - 1;
                    }
                    /* A value held that long is remembered as a set point of the channel. */
                    if (q->repeats >= c->stuck_n && !detect_quality_is_setpoint(q, q->last)) {
                        q->setpt[q->nsetpt % DETECT_Q_SETPOINTS] = q->last;
                        q->nsetpt++;
                    }
                    q->pairs += pair;
                    q->repeats = v != 0;
                }
                if (q->repeats >= c->stuck_n && q->repeats <= c->stuck_max &&
                    !detect_quality_is_setpoint(q, v)) {
                    int need = detect_quality_stuck_need(q, c);
                    if (q->repeats >= need)
                        detect_quality_flag(o, i, DETECT_ALERT, 4.0 * q->repeats / need,
                                            DETECT_Q_STUCK);
                }
                q->last = v;
            }
            /* The range follows accepted values; a flagged one pulls it a little, so that a
             * lasting new level stops being flagged after a while. */
            if (!flagged) {
                q->n_acc++;
                double d = v - q->mean;
                q->mean += d / (double)q->n_acc;
                q->m2 += d * (v - q->mean);
            }
            if (q->n == 0) {
                q->lo = q->hi = v;
            } else if (!flagged) {
                if (v < q->lo) q->lo = v;
                if (v > q->hi) q->hi = v;
            } else if (v > q->hi) {
                q->hi += 0.05 * (v - q->hi);
            } else if (v < q->lo) {
                q->lo += 0.05 * (v - q->lo);
            }
            q->n++;
            q->nz += v != 0;
        }
        if (ctx->idle) s->rest_rows++;
        /* Released, or dropped: a running row followed (the start of a run). */
        if (s->held && (release || (seq && row == DETECT_Q_ROW_RUN))) {
            memset(s->held_level, 0, sizeof s->held_level);
            memset(s->held_z, 0, sizeof s->held_z);
            s->held = 0;
        }
        if (hold) s->held++;
    }

    if (s->n == 0 || ctx->ts_us > s->newest_us) {
        s->newest_us = ctx->ts_us;
        memcpy(s->newest, x, sizeof x[0] * (size_t)nch);
    }
    s->prev_us = ctx->ts_us;
    s->n++;
}
