/* report_data: what `pgpulse report` shows, read from the database into plain structs — the
 * one module of the report that knows SQL. The figures and pages (report_fig, report_pdf,
 * report_html) only see these structs.
 *
 * What reads what:
 *   - the period's totals (readings, robots, idle rows) and the per-axis statistics and
 *     distributions (report_axis) come from the warehouse's rollups (docs/warehouse.md), never
 *     from `reading`: dw.fact_reading_day for the whole UTC days of the period,
 *     dw.fact_reading_hour for the whole hours at its ragged ends, dw.fact_reading_minute for
 *     the minutes left over. A report over a month reads a few thousand rollup rows, and works
 *     after `pgpulse warehouse retention` dropped raw partitions. n, zeros, mean and std are
 *     exact (from the sums s and q of the values scaled to 1e-6 A); quantiles, lo/hi where a
 *     zero hides them, and the histogram's bins come from the 2 % log histograms
 *     (report_hist.h states the error);
 *   - what needs raw readings keeps reading `reading`, over small windows only: each streaming
 *     chart's window (at most REPORT_STREAM_WINDOW_S; drawn from the minute rollups' min and max
 *     instead when its raw readings are gone), and the readings nearest each forecast's target
 *     time (forecasts whose readings are gone are not scored);
 *   - episodes, faults, maintenance, predictions and model figures from their own tables
 *     (`anomaly`, `fault`, `maintenance_event`, `prediction`, `model_version`, `run_metric`).
 *
 * Times are Unix seconds (double); the period is half-open [from, to), widened to whole UTC
 * minutes (the rollups' grain). */
#ifndef PGPULSE_REPORT_DATA_H
#define PGPULSE_REPORT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#define REPORT_AXES 8
#define REPORT_HIST_BINS 60     /* bins over the non-zero values of an axis */
#define REPORT_MAX_ROBOTS 4     /* streaming charts: the robots with most anomaly episodes */
#define REPORT_STREAM_BUCKETS 1500 /* time buckets of a streaming chart (min and max each) */
#define REPORT_STREAM_WINDOW_S (6 * 3600) /* the longest stretch a streaming chart shows */
#define REPORT_FC_WINDOW 120    /* forecasts shown per axis in the forecast chart */

/* Per-axis statistics over every reading of the period (all robots pooled), from the rollups. */
typedef struct report_axis {
    int64_t n;            /* readings */
    int64_t zeros;        /* readings with this axis exactly 0 */
    double mean, std;     /* over all readings (population std), zeros included */
    double run_mean, run_std; /* over the non-zero readings */
    double p50, p90, p99; /* quantiles of the non-zero values (log histogram: within 1 %) */
    double lo, hi;        /* smallest and largest non-zero value (exact unless a zero is the
                             axis's min or max: then the log bin's value, within 1 %) */
    /* histogram of the non-zero values: REPORT_HIST_BINS bins of width bin_w from bin_lo (the
     * lower edge of the log bin of the 0.1 % quantile to the upper edge of the 99.5 %'s), each
     * log bin's count spread over the linear bins it overlaps (report_hist_linear) */
    double bin_lo, bin_w;
    double bins[REPORT_HIST_BINS];
    int64_t outside;      /* non-zero values beyond the bins (the tails), rounded */
} report_axis;

/* A set of robots' totals and per-axis statistics over the period, from the rollups. */
typedef struct report_group {
    int64_t robots, readings, idle_rows;       /* idle rows: every axis exactly 0 */
    report_axis axis[REPORT_AXES];
} report_group;

/* An anomaly episode drawn as a span. */
typedef struct report_span {
    double t0, t1;
    int error;            /* level ERROR (else ALERT) */
} report_span;

/* A streaming chart: one robot's axis over a window of the period (at most
 * REPORT_STREAM_WINDOW_S: the one with most episodes), min and max per time bucket, and the
 * episodes in the window. */
typedef struct report_stream {
    int robot, axis;
    double from, to;      /* the window */
    char from_text[40], to_text[40];
    double bucket_s;      /* bucket width (s) */
    int from_minutes;     /* the raw readings of the window are gone (retention): min and max
                             per minute from dw.fact_reading_minute */
    double *t, *lo, *hi;  /* n buckets: centre time, min, max (a missing bucket is absent) */
    size_t n;
    report_span *spans;   /* episodes on this axis or the whole robot */
    size_t nspans;
    int64_t alerts, errors; /* episodes in the window */
} report_stream;

/* Forecasts of one axis at the shortest horizon against the reading nearest their target time
 * (within 10 s), scored on targets where the robot ran (some axis non-zero). */
typedef struct report_forecast {
    int axis, horizon;
    int64_t n;            /* scored forecasts (running targets) */
    int64_t idle;         /* forecasts whose target was idle (not scored) */
    double mae, r2;
    int robot;            /* the chart's robot */
    double t[REPORT_FC_WINDOW], actual[REPORT_FC_WINDOW], pred[REPORT_FC_WINDOW];
    size_t nchart;        /* the last forecasts of that robot in the period */
} report_forecast;

/* Faults of one kind and level against the anomaly episodes (see docs/report.md). */
typedef struct report_detect {
    char kind[24];
    int error;
    int64_t faults, detected;
} report_detect;

/* A model figure: a registered model version's metric, or the forecaster's latest. */
typedef struct report_metric {
    char model[64];       /* e.g. "failure_risk v3 (champion)", "forecast" */
    char key[64];
    double value;
} report_metric;

typedef struct report_data {
    /* the period and what it holds */
    double from, to;
    char from_text[40], to_text[40]; /* ISO 8601 UTC */
    int64_t robots, readings, idle_rows;       /* idle rows: every axis exactly 0 */
    int64_t days;                              /* UTC days with readings in the period */
    char detect_consumer[64], learn_consumer[64]; /* "" when none wrote anything */
    int64_t alerts, errors;                    /* anomaly episodes by level */
    int64_t faults, fault_alerts, fault_errors;/* injected faults (ground truth) */
    int64_t failures, repairs;                 /* maintenance events */
    int64_t anomalies_matched;                 /* episodes overlapping some fault */
    report_axis axis[REPORT_AXES];             /* every robot */
    /* The same split: real robots (any not named sim-N, e.g. an ingested export) and simulated
     * ones (`pgpulse gen` names its robots sim-N; gen tells them apart the same way). */
    report_group real, sim;
    report_stream stream[REPORT_MAX_ROBOTS];
    size_t nstream;
    report_forecast forecast[REPORT_AXES];
    int has_forecast;
    report_detect *detect;
    size_t ndetect;
    report_metric *metrics;
    size_t nmetrics;
} report_data;

/* Reads everything for the period [from, to) — timestamps as PostgreSQL reads them (NULL:
 * the rollups' first minute / the end of their last; `reading`'s first and last reading when
 * the rollups are empty), widened to whole
 * UTC minutes — into *d (zeroed first). Returns 0, or -1 with a message in err (a bad
 * timestamp, a failed query, no readings in the period, or rollups empty for a period that has
 * readings: the message names `pgpulse warehouse refresh`). On error *d holds what was read so
 * far: report_data_free it either way. */
int report_data_load(PGconn *conn, const char *from, const char *to, report_data *d, char *err,
                     size_t errlen);

/* Frees what report_data_load allocated in d (not d itself). */
void report_data_free(report_data *d);

#endif
