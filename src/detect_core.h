/* detect_core: the types every detector shares (see detect.h for the whole). */
#ifndef PGPULSE_DETECT_CORE_H
#define PGPULSE_DETECT_CORE_H

#include <stddef.h>
#include <stdint.h>

#define DETECT_MAX_CH 16

#define DETECT_NONE 0
#define DETECT_ALERT 1
#define DETECT_ERROR 2

typedef enum detect_kind {
    DETECT_REGRESS,
    DETECT_ROBUST,
    DETECT_CUSUM,
    DETECT_HST,
    DETECT_QUALITY,
    DETECT_NKINDS
} detect_kind;

/* What every detector is told about the point besides its values; computed once per point by
 * detect_step. */
typedef struct detect_ctx {
    int nch;              /* channels, 1..DETECT_MAX_CH */
    int64_t ts_us;        /* the point's time (µs since 1970) */
    int64_t n;            /* points of this key before this one */
    double dt_s;          /* seconds since the newest earlier point (<= 0: duplicate or late;
                             0 for the first point) */
    double median_dt_s;   /* running median of the positive sampling intervals (0: unknown) */
    int idle;             /* every channel is exactly 0 (a robot at rest) */
    int late;             /* ts earlier than the newest earlier point's */
    int64_t run_start_us; /* start of the current run of non-idle points (0: idle) */
} detect_ctx;

/* Data-quality findings of a point (detect_result.quality). */
#define DETECT_Q_STUCK      0x01u /* a channel repeats one non-zero value (stuck sensor) */
#define DETECT_Q_GAP        0x02u /* the interval before the point is far above the median:
                                     a dropout */
#define DETECT_Q_NEGATIVE   0x04u /* a channel is below 0 */
#define DETECT_Q_RANGE      0x08u /* a channel is far beyond anything seen (out of range) */
#define DETECT_Q_LATE       0x10u /* older than the newest point: out of order / late */
#define DETECT_Q_DUPLICATE  0x20u /* same time as the newest point, same values */
#define DETECT_Q_CLOCK_JUMP 0x40u /* the time jumped (ahead, or back by far more than lateness) */
#define DETECT_Q_IDLE_BREAK 0x80u /* one channel non-zero while every other is exactly 0 */


/* Per-detector output for one point: every detector writes z and level for channels
 * 0..nch-1 and for the whole point (multi; detectors without one leave it 0). */
typedef struct detect_out {
    double z[DETECT_MAX_CH];
    int8_t level[DETECT_MAX_CH];
    double multi_z;
    int8_t multi_level;
    uint32_t quality;           /* quality only: DETECT_Q_* flags */
} detect_out;

#endif
