/* detect_quality: data-quality checks on a key's stream of points, the findings a detector of
 * values cannot explain — a sensor that repeats itself, a stream that stopped, values that
 * cannot be, rows that arrive twice, late or with a clock that jumped, and a channel that
 * moves while the machine is at rest (see detect.h for the whole pipeline).
 *
 * Per channel (detect_out.level[i], z[i]):
 *   stuck       one non-zero value stuck_n points in a row (real currents carry noise, so
 *               equality is a sensor or pipeline fault), or more points on a channel whose
 *               values often repeat (quantised data): as many as make a natural run that
 *               long no likelier than stuck_p, the share of equal pairs taken at its
 *               upper 2-sigma bound (so a channel that has shown few pairs needs longer
 *               runs: 6 points on a fresh channel; the real export's axis 8, equal 45 % of
 *               the time, ran 5 and 8 equal values in its first 200 rows, flagged before the
 *               bound and no fault: its value simply sits on one step of the quantiser, and
 *               it changes again a row later); up to stuck_max points of the run, and
 *               not at a set point (a value the channel held that long before: the last
 *               DETECT_Q_SETPOINTS such values are remembered)                      ALERT
 *   negative    below 0 on a channel that was never negative in its first warmup non-zero
 *               values                                                              ERROR
 *   range       beyond the range seen so far by range_mult times its width, once the
 *               channel has warmup non-zero values                                  ALERT
 *   idle break  1..idle_break_max channels non-zero while every other is exactly 0, on a
 *               key that has shown rows at rest (all zero) and has at least 4 channels per
 *               allowed break, and mid-rest: a value fault while the machine idles. Such a
 *               row (a partial row) next to a running row (more channels non-zero) is the
 *               edge of a run, axes switching on before the others or off after them, and
 *               no fault: the real export has 220 partial rows, every one a single row
 *               between a rest and a run (112 after a run, 108 before one). So a chain of
 *               partial rows right after a running row is not flagged, and one right after
 *               a rest is held: its verdict waits for the next row in sequence — a running
 *               row drops it (a run's start), a row at rest releases it (flagged on that
 *               row: the episode opens one row after the break, its z and level those of the
 *               held row). A chain longer than idle_edge_rows is a break whatever its
 *               neighbours: flagged from its next row on, the held rows released with it
 *               (so a burst alarms at most idle_edge_rows rows late). Held rows stay out of
 *               the channel statistics. Late rows are not judged (no neighbours). ERROR from
 *               error_sigmas of the channel's overall standard deviation (zeros included:
 *               the workshop's sigma); z = max(4, |x| / that sigma)           ALERT/ERROR
 * For the whole point (multi_level, multi_z):
 *   duplicate   same time as the newest point (values equal or not)                 ALERT
 *   late        older than the newest point                                         ALERT
 *   clock jump  a run of points in order among themselves but behind the newest one: the
 *               clock went back (or came back after jumping ahead)                  ALERT
 *   gap         the interval before the point is above gap_mult median intervals: the
 *               DETECT_Q_GAP flag only; ALERT above the key's own pauses — the longer of
 *               gap_alert_mult median intervals (the floor) and gap_margin times the
 *               DETECT_Q_GAP_TOP-th longest gap the key has shown up to gap_alert_max_s —
 *               and up to gap_alert_max_s (a dropout)                               ALERT
 * The z of a finding is a pseudo-sigma: 4 at the rule's threshold (8 for a negative value, 6
 * for a duplicate with other values), growing with the evidence (repeats, excess over the
 * range, length of the gap over its threshold, lateness in tens of median intervals), capped at 50.
 *
 * Duplicates skip the per-channel checks (a resend is no new reading), and late points do not
 * advance the stuck count (their neighbours in arrival are not their neighbours in time). */
#ifndef PGPULSE_DETECT_QUALITY_H
#define PGPULSE_DETECT_QUALITY_H

#include "detect_core.h"

typedef struct detect_quality_cfg {
    int stuck_n;           /* equal non-zero values in a row that make a stuck sensor (5) */
    double stuck_p;        /* at least as many as make a natural run that rare (1e-6) */
    int stuck_max;         /* a run longer than this is a state (a set point, a flat line)
                              and no longer flagged (150; the simulator's stuck faults last
                              20-120 rows) */
    int warmup;            /* non-zero values of a channel before negative/range checks
                              (1000) */
    double range_mult;     /* range check: beyond [lo - k*w, hi + k*w], w = hi - lo (0.5) */
    int idle_break_max;    /* non-zero channels that still count as a break at rest (2) */
    int idle_min_rest;     /* all-zero rows the key must have shown first (10) */
    double error_sigmas;   /* idle break at ERROR from this many overall sigmas (4) */
    int idle_edge_rows;    /* partial rows in a row that may still be a run's edge (2; the
                              real export's edges are single rows) */
    double gap_mult;       /* DETECT_Q_GAP above this many median intervals (10) */
    double gap_alert_mult; /* ALERT above this many at least (220, 416 s at the real export's
                              median interval of 1.891 s: its longest pause in 22 h was 403 s,
                              and the simulator draws its pauses from that export, 33-403 s).
                              Dropouts of the simulator (60-900 s) shorter than that cannot be
                              told from a pause by time alone: see docs/detect.md, Limits */
    double gap_margin;     /* and above this times the key's DETECT_Q_GAP_TOP-th longest gap
                              (1.1): a key whose pauses are longer learns them */
    double gap_alert_max_s;/* no ALERT for a gap longer than this (3600 s): a stream that
                              stops for hours is a machine switched off or under repair, which
                              the live status shows as stale; DETECT_Q_GAP still says so */
} detect_quality_cfg;

#define DETECT_Q_SETPOINTS 4 /* values held for a stuck run, remembered per channel */
#define DETECT_Q_GAP_TOP 3   /* longest gaps remembered per key */

/* Rows by their non-zero channels, for the idle break (detect_quality_state.prev_row). */
#define DETECT_Q_ROW_NONE 0 /* no row yet */
#define DETECT_Q_ROW_REST 1 /* every channel 0 */
#define DETECT_Q_ROW_PART 2 /* 1..idle_break_max channels non-zero (a partial row) */
#define DETECT_Q_ROW_RUN  3 /* more: running */

/* Per-channel state of the checks. */
typedef struct detect_quality_chan {
    double last;      /* the previous in-order point's value */
    double lo, hi;    /* range of accepted values so far */
    double mean;      /* running mean of the accepted values, zeros included (Welford) */
    double m2;        /* and their sum of squared deviations from it */
    int64_t n_acc;    /* accepted values (not flagged by this detector) */
    int64_t n;        /* points seen (duplicates excepted) */
    int64_t nz;       /* non-zero values among them */
    int64_t pairs;    /* consecutive non-zero pairs, of finished runs only */
    int64_t reps;     /* how many of them were equal */
    int32_t repeats;  /* points in a row with the value `last` (non-zero); 1: no repeat */
    int32_t neg_seen; /* the channel was negative during its warm-up: negatives are normal */
    int32_t nsetpt;   /* set points remembered so far (the newest DETECT_Q_SETPOINTS kept) */
    double setpt[DETECT_Q_SETPOINTS]; /* values held for stuck_n points or more */
} detect_quality_chan;

/* Plain data, fixed size: no pointers. */
typedef struct detect_quality_state {
    int32_t nch;
    int32_t prev_behind;          /* the previous point was behind the newest one */
    int64_t n;                    /* points seen */
    int64_t rest_rows;            /* all-zero rows seen */
    int64_t prev_us;              /* the previous point's time (arrival order) */
    int64_t newest_us;            /* the newest time seen */
    double newest[DETECT_MAX_CH]; /* values of the newest point */
    int32_t prev_row;             /* DETECT_Q_ROW_* of the previous in-sequence row */
    int32_t chain;                /* partial rows in a row up to this one (0: none) */
    int32_t chain_from;           /* DETECT_Q_ROW_* of the row before the chain */
    int32_t held;                 /* rows of the chain whose verdict is held */
    int8_t held_level[DETECT_MAX_CH]; /* per channel, the highest level of the held rows */
    double held_z[DETECT_MAX_CH]; /* and its z */
    double gap_top[DETECT_Q_GAP_TOP]; /* the longest gaps so far (s), longest first */
    detect_quality_chan ch[DETECT_MAX_CH];
} detect_quality_state;

/* The defaults above. */
void detect_quality_cfg_default(detect_quality_cfg *c);

/* Initialises s for nch channels (1..DETECT_MAX_CH). */
void detect_quality_init(detect_quality_state *s, const detect_quality_cfg *c, int nch);

/* Takes the point x[0..ctx->nch-1] and writes o: per-channel z and level (stuck, negative,
 * range, idle break), multi_z and multi_level (duplicate, late, clock jump, gap) and the
 * DETECT_Q_* flags in o->quality. No allocation. */
void detect_quality_step(detect_quality_state *s, const detect_quality_cfg *c, const detect_ctx *ctx,
                         const double *x, detect_out *o);

#endif
