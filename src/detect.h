/* detect: online outlier detection over a stream of points of one key (a robot, or a replayed
 * series), each point a timestamp and up to DETECT_MAX_CH channel values (a robot's 8 joint
 * currents). The live stage (stage_detect.c) and replay (cmd_detect.c) run this same code.
 *
 * Every point goes through the enabled detectors, then the combiner:
 *   regress  the workshop's rule done right: an online regression per channel on time and on
 *            the duty state (idle/running) and the run phase, an online residual sigma, ALERT
 *            beyond 2 sigma and ERROR beyond 4 sigma sustained for a minimum duration derived
 *            from the median sampling interval          (detect_regress.h)
 *   robust   state-aware robust z scores: median/MAD from streaming quantiles, per channel and
 *            duty state                                  (detect_robust.h)
 *   cusum    EWMA/CUSUM for shifts in level and spread    (detect_cusum.h)
 *   hst      Half-Space Trees across the channels, for a joint pattern break no single channel
 *            shows; off for a one-channel key            (detect_hst.h)
 *   quality  data-quality checks: stuck sensor, dropout and gap, negative or out-of-range
 *            values, late, out-of-order and duplicate points, clock jumps (detect_quality.h)
 *   combine  turns the detectors' statistics into a calibrated anomaly_score in 0..1
 *                                                        (detect_combine.h)
 * Each detector reports, per channel (and, for hst and quality, for the whole point), a
 * statistic in sigma units (z >= 0: how unusual) and a level by its own rule (DETECT_NONE,
 * DETECT_ALERT, DETECT_ERROR). The point's level is the highest of them.
 *
 * State: a detect_state is one fixed-size block per key with no pointers, so it is bounded,
 * needs no allocation per point, and is saved and restored byte for byte (detect_state_save,
 * detect_state_load) for the stream's checkpoints. */
#ifndef PGPULSE_DETECT_H
#define PGPULSE_DETECT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "detect_core.h"
#include "detect_combine.h"
#include "detect_cusum.h"
#include "detect_hst.h"
#include "detect_quality.h"
#include "detect_regress.h"
#include "detect_robust.h"

/* Settings. detect_cfg_default gives the documented defaults. */
typedef struct detect_cfg {
    unsigned enabled;           /* bit (1u << detect_kind) per detector that may set a level
                                   and feeds the score */
    detect_regress_cfg regress;
    detect_robust_cfg robust;
    detect_cusum_cfg cusum;
    detect_hst_cfg hst;
    detect_quality_cfg quality;
    detect_combine_cfg combine;
} detect_cfg;


/* The result of one point. */
typedef struct detect_result {
    double score;                       /* anomaly_score, 0..1 (combiner) */
    int level;                          /* highest level of the point */
    int8_t ch_level[DETECT_MAX_CH];     /* per channel: highest level of a per-channel rule */
    uint8_t ch_detector[DETECT_MAX_CH]; /* the detector that gave it (detect_kind) */
    double ch_z[DETECT_MAX_CH];         /* that detector's statistic */
    int8_t multi_level;                 /* whole point: highest level of hst or quality */
    uint8_t multi_detector;             /* which of them */
    double multi_z;
    uint32_t quality;                   /* DETECT_Q_* flags */
    detect_out out[DETECT_NKINDS];      /* every detector's own output (disabled: zeros) */
    detect_band band;                   /* regress's expected band (NaN: none; disabled: NaN) */
} detect_result;

/* One key's state. Plain data: copied, saved and restored as bytes. */
typedef struct detect_state {
    uint32_t magic;               /* DETECT_STATE_MAGIC: set by detect_state_init */
    int32_t nch;
    int64_t n;                    /* points seen */
    int64_t newest_us;            /* newest time seen */
    int64_t run_start_us;         /* start of the current non-idle run, 0 while idle */
    double dt_hist[32];           /* recent positive intervals, for the running median */
    int32_t dt_n, dt_pos;
    double median_dt_s;
    detect_regress_state regress;
    detect_robust_state robust;
    detect_cusum_state cusum;
    detect_hst_state hst;
    detect_quality_state quality;
    detect_combine_state combine;
} detect_state;

#define DETECT_STATE_MAGIC 0x70704454u

/* The defaults: every detector enabled. */
void detect_cfg_default(detect_cfg *c);

/* Detector names: "regress", "robust", "cusum", "hst", "quality". */
const char *detect_kind_name(detect_kind k);

/* Parses a detector list: "all", or names separated by commas, into an enabled mask. Returns
 * 0, or -1 with a message naming the unknown detector. */
int detect_parse_enabled(const char *list, unsigned *mask, char *err, size_t errlen);

/* "ALERT", "ERROR" ("" for DETECT_NONE). */
const char *detect_level_name(int level);

/* Initialises a fresh state for nch channels (1..DETECT_MAX_CH). */
void detect_state_init(detect_state *s, const detect_cfg *c, int nch);

/* The point's context (interval since the newest point, its running median, idle state, run
 * start), advancing the key's shared state past it. detect_step calls it first; exposed for
 * the benchmark of the detectors alone. */
void detect_context(detect_state *s, int64_t ts_us, const double *x, detect_ctx *ctx);

/* Takes the next point of the key (values x[0..nch-1], finite; ts_us an instant tstamp.h
 * accepts, years 1..9999) and fills *r. No allocation, no I/O. */
void detect_step(detect_state *s, const detect_cfg *c, int64_t ts_us, const double *x,
                 detect_result *r);

/* Appends s to b as bytes (a header with the layout's size and version, then the block). */
void detect_state_save(const detect_state *s, buf *b);

/* Restores a state saved by detect_state_save from (p, len). Returns the bytes consumed; -2
 * with a message when the state is of an earlier layout (an older pgpulse: the caller may start
 * the key afresh, as its detectors cannot read it); -1 with a message when the bytes are not a
 * state of this build's layout (a newer build's, truncated or corrupt). */
long detect_state_load(detect_state *s, const uint8_t *p, size_t len, char *err, size_t errlen);

#endif
