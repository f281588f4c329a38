/* learn_forecast: a robot's axis currents forecast from its own readings (issue 11) — the
 * forecaster of the learn stage, and a library the detect stage can call in-process.
 *
 * A robot runs programs (runs: stretches of readings with some axis non-zero) separated by
 * idle stretches (every axis exactly 0). Its axes switch on one after another (and off): the
 * readings at a run's edges have one to five axes on (docs/simulator.md), so a run starts at
 * the first reading with six or more on — the program's — and only such readings enter its
 * record (the memory, the cycle's evidence, the naive mean and median); the edge readings are
 * still forecast and scored. Runs come in a cycle (a cell working a sequence of
 * parts), and a program draws the same currents every time it runs, to within a few per cent:
 * what the current will be at a time T is known exactly if the program and T's phase in it
 * are. A reading every ~2 s knows neither — the run's start is known only to within the
 * interval between readings, and the currents change faster than that — so consecutive
 * readings look nearly independent. The forecaster finds both:
 *
 *   - Waveform memory: per cycle slot (up to LEARN_FC_MAXP programs), the log currents of
 *     every LEARN_FC_CELL_US of a run, filled from the runs aligned to it.
 *   - Alignment: a new run's start is searched over every LEARN_FC_STEP_US between the last
 *     idle reading and its first running one (and a margin each side), in every slot; each
 *     reading scores the candidates whose cell for it holds the same eight currents (an
 *     eight-current match to 15 % is a fingerprint: unrelated phases almost never match). The
 *     candidate with most matches (and few misses) is the run's program and start; after one
 *     or two readings of a run it is usually certain. A run that aligned well is written into
 *     its slot at its start (cells averaged); a slot is begun from a run the cycle count
 *     places there, once the cycle's length is known; two slots that align the same run hold
 *     one program, and the smaller is emptied for another.
 *   - Forecast for T: if the robot is running, its run aligned and T's cell (or the next one)
 *     in the slot is filled, the memory's current there, corrected by the recent mean
 *     difference between readings and memory (wear and drift move currents slowly).
 *     Otherwise: if T falls within a typical run from the run's start, the current at that
 *     phase averaged over the same run of the last four cycles (nearest sample within
 *     LEARN_FC_PHASE_US); if T is in a run that has not started, the mean of the next run's
 *     program as read in the earlier cycles — blended per axis and horizon by recursive least
 *     squares (learn_rls.h) with the last value, the running mean and the naive "same phase of
 *     the previous cycle", on log(1 + A), shifted by the running median of its residuals (a
 *     conditional median, which mean absolute error rewards). Where that blend has not beaten
 *     the running median over the last ~2,000 running readings, the median is the fallback.
 * The cycle's length P (1..LEARN_FC_MAXP runs) is learned from how well "same phase, P runs
 * ago" predicts the latest runs (an EWMA of its error over ~20 runs, from the samples of the
 * last LEARN_FC_RUNS runs): the shortest P whose error lies within a quarter of the way from
 * the best P's to the median P's — the true cycle and its multiples stand apart from the
 * rest, by a margin the sampling jitter keeps small (5-8 % on the simulator, where "within
 * 5 % of the best", the rule before, lost the 12-run cycle once edge readings came in).
 *
 * Forecasts are of the current an axis draws when the robot runs: idle readings read 0
 * whatever is forecast, so a forecast is scored on the running readings it is for (idle ones
 * are counted apart). Each reading is scored for 1 and 10 readings ahead against the forecast
 * made at the reading 1 or 10 before it, for the target's own time, beside the naive baselines
 * (last value, same phase of the previous run, same phase of the previous cycle, running mean,
 * running median), which are given the same information. A target 10 readings on is in the
 * next run more often than not, where the phase is unknown until the run starts.
 *
 * Plain data of a fixed size (~430 KB, of which the waveform memory, last, is 320 KB;
 * serialisable as bytes: the core, LEARN_FC_CORE bytes, and the memory's slots apart, which
 * change one at a time); no allocation. Readings older than the latest one (late rows) are
 * skipped. */
#ifndef PGPULSE_LEARN_FORECAST_H
#define PGPULSE_LEARN_FORECAST_H

#include <stddef.h>
#include <stdint.h>

#include "learn_rls.h"

#define LEARN_FC_AXES 8
#define LEARN_FC_RUNS 64         /* runs kept: four cycles of up to 16 runs */
#define LEARN_FC_SAMPLES 24      /* samples kept per run (the rest of a long run is not) */
#define LEARN_FC_MAXP 16         /* longest cycle considered (runs) */
#define LEARN_FC_PHASE_US 800000 /* a sample of another run "at the same phase": this close */
#define LEARN_FC_HORIZONS 2      /* 1 and 10 readings ahead */
#define LEARN_FC_CTX 11          /* contexts kept: forecasts made at the last 11 readings */
#define LEARN_FC_D 7             /* blending features */
#define LEARN_FC_CELL_US 20000   /* waveform memory: one cell per 20 ms of a run */
#define LEARN_FC_CELLS 2560      /* cells per cycle slot: 51.2 s, the first LEARN_FC_PRE_US
                                    before the run's estimated start */
#define LEARN_FC_PRE_US 2000000
#define LEARN_FC_CAND 512        /* alignment: candidate starts, LEARN_FC_STEP_US apart */
#define LEARN_FC_STEP_US 10000
#define LEARN_FC_CUR 64          /* samples of the current run kept for the waveform memory */

/* The method a figure is for. */
enum { LEARN_FC_MODEL, LEARN_FC_LAST, LEARN_FC_PREV_RUN, LEARN_FC_PREV_CYCLE, LEARN_FC_MEAN,
       LEARN_FC_MEDIAN, LEARN_FC_METHODS };

typedef struct learn_fc_run {
    int64_t start_us;                       /* estimated start */
    int32_t index;                          /* run number, from 0 */
    uint16_t n;                             /* samples kept */
    uint16_t pad;
    float amean[LEARN_FC_AXES];             /* once ended: the mean current, A */
    float umean[LEARN_FC_AXES];             /* and the mean of log(1 + A) */
    uint16_t phase_cs[LEARN_FC_SAMPLES];    /* phase, centiseconds */
    uint16_t v[LEARN_FC_SAMPLES][LEARN_FC_AXES]; /* currents, centiamperes (capped) */
} learn_fc_run;

/* What the forecaster knew at one reading (forecasts made there are scored later). */
typedef struct learn_fc_ctx {
    int64_t ts;
    int64_t run_start;                      /* the current run's start; 0 when idle */
    int32_t run;                            /* the current (or last) run's number */
    int32_t period;
    int64_t tpl_start;                      /* the run's aligned start; 0: not aligned */
    int32_t tpl_slot;
    int32_t pad;
    float last[LEARN_FC_AXES], mean[LEARN_FC_AXES], umean[LEARN_FC_AXES], median[LEARN_FC_AXES];
} learn_fc_ctx;

/* Prequential figures of one axis and horizon, over running targets. */
typedef struct learn_fc_score {
    int64_t n;                              /* running targets scored */
    int64_t idle;                           /* idle targets (not scored) */
    double abs[LEARN_FC_METHODS];           /* sum of absolute errors per method */
    double sq[LEARN_FC_METHODS];            /* of squared errors */
} learn_fc_score;

/* The current run's alignment to the waveform memory of its cycle slot. */
typedef struct learn_fc_align {
    int64_t t0;                             /* the run's first sample */
    int64_t base;                           /* candidate c starts at base - c * STEP */
    int64_t mid;                            /* the estimated start (middle of the idle gap) */
    int64_t lo;                             /* the last idle reading before the run */
    int32_t ncand;
    int32_t expect;                         /* the slot the cycle count expects */
    int32_t slot, best;                     /* the best slot and candidate so far (-1: none) */
    int32_t conf;                           /* 1: aligned well enough to forecast from */
    int32_t sure;                           /* 1: well enough to learn from */
    int32_t lock;                           /* 1: so well that only that slot is scored */
    int32_t n;
    uint32_t matched;                       /* slots with a match so far (bit s: slot s) */
    uint32_t pad;
    uint8_t hits[LEARN_FC_MAXP][LEARN_FC_CAND]; /* per slot and candidate: samples that met
                                                   a filled cell */
    uint8_t match[LEARN_FC_MAXP][LEARN_FC_CAND]; /* and that matched it */
    uint32_t dt_ms[LEARN_FC_CUR];           /* the run's samples: ms after t0 */
    uint8_t q[LEARN_FC_CUR][LEARN_FC_AXES]; /* and their currents (quantised log) */
} learn_fc_align;

typedef struct learn_fc {
    int64_t n;                              /* readings taken */
    int64_t last_ts, last_idle_ts;
    int32_t running;                        /* the latest reading was running */
    int32_t runs;                           /* runs started */
    int32_t period;                         /* the cycle length in use (runs) */
    int32_t pad;
    double run_us;                          /* typical run duration (EWMA) */
    double iv_us;                           /* typical interval between readings (EWMA) */
    double perr[LEARN_FC_MAXP + 1];         /* per cycle length: EWMA of the same-phase error */
    int32_t perr_n[LEARN_FC_MAXP + 1];
    double mean[LEARN_FC_AXES];             /* running mean of running readings (EWMA) */
    double umean[LEARN_FC_AXES];            /* the same of log(1 + A) */
    double median[LEARN_FC_AXES];           /* running median of running readings (stochastic
                                               approximation, steps of 1 % of the spread) */
    double spread[LEARN_FC_AXES];           /* EWMA of |reading - median| */
    double err_blend[LEARN_FC_HORIZONS][LEARN_FC_AXES];  /* recent absolute errors (EWMA) of */
    double err_median[LEARN_FC_HORIZONS][LEARN_FC_AXES]; /* the blend and of the median */
    double shift[LEARN_FC_HORIZONS][LEARN_FC_AXES]; /* running median of the blend's residuals */
    float last[LEARN_FC_AXES];
    int32_t last_slot;                      /* the slot of the latest run */
    int32_t tpl_runs[LEARN_FC_MAXP];        /* runs written into each slot */
    uint32_t tpl_dirty;                     /* slots changed since learn_fc_tpl_clean */
    double tcorr[LEARN_FC_AXES];            /* recent (reading - memory), log, on hits */
    learn_fc_align al;
    learn_fc_run ring[LEARN_FC_RUNS];       /* run k at k % LEARN_FC_RUNS */
    learn_fc_ctx ctx[LEARN_FC_CTX];         /* reading k's context at k % LEARN_FC_CTX */
    learn_rls blend[LEARN_FC_HORIZONS][LEARN_FC_AXES];
    learn_fc_score score[LEARN_FC_HORIZONS][LEARN_FC_AXES];
    /* The waveform memory, last (LEARN_FC_CORE bytes come before it): per slot and cell, the
     * currents as 1 + 50 log(1 + A) (0: empty). */
    uint8_t tpl[LEARN_FC_MAXP][LEARN_FC_CELLS][LEARN_FC_AXES];
} learn_fc;

/* The forecaster without its waveform memory (what a caller that saves the memory's slots
 * apart saves whole), and one slot of the memory. */
#define LEARN_FC_CORE offsetof(learn_fc, tpl)
#define LEARN_FC_SLOT_BYTES (sizeof(((learn_fc *)0)->tpl[0]))

extern const int learn_fc_horizon[LEARN_FC_HORIZONS]; /* {1, 10} */

/* A forecaster that has seen nothing. */
void learn_fc_init(learn_fc *f);

/* Takes the robot's next reading: scores the forecasts made 1 and 10 readings before for it,
 * learns from it, and moves on. A reading older than the latest is skipped (returns 0; 1
 * otherwise). */
int learn_fc_step(learn_fc *f, int64_t ts_us, const double *axis);

/* Forecasts every axis for time t_us (at or after the latest reading), horizon index h (the
 * blend learned for 1 or 10 readings ahead), into out[LEARN_FC_AXES]. NaN before the robot has
 * been seen running. */
void learn_fc_forecast(const learn_fc *f, int64_t t_us, int h, double *out);

/* The mean interval between the robot's readings (µs; 0 before two). */
double learn_fc_interval(const learn_fc *f);

/* The waveform memory's slots changed since the last call, as a bit mask (bit s: slot s), and
 * forgets them: the caller saves those slots (tpl[s], LEARN_FC_SLOT_BYTES each) beside the
 * core. Call it before saving the core, so that the core saved says nothing is pending. */
uint32_t learn_fc_tpl_clean(learn_fc *f);

#endif
