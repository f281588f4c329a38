/* genprof: the statistical profile the fleet simulator (gen.h) draws from, fitted from a real
 * robot export, stored as JSON.
 *
 * What a profile holds, all fitted from one robot's readings in time order:
 *   - sampling: quantiles of the interval between samples, and the probability and lengths
 *     of gaps (intervals over GENPROF_GAP_S);
 *   - duty cycle: the robot alternates between running its motion program (program_s
 *     seconds: the mean count of running rows between a run's edges times the mean interval,
 *     so that a simulated run has as many rows as a real one) and idling (every axis exactly 0,
 *     for a duration drawn from idle quantiles);
 *   - rest edges: the axes do not switch on or off all at once, so the first and last rows of a
 *     running stretch often have only some axes non-zero (the workshop's robot switches axis 8
 *     on first and axis 1 last, and off in the same order: {8}, {7,8}, ... at a start, {1},
 *     {1,2}, ... at an end). Per edge (start, end): the distribution of the number of edge rows
 *     (0..GENPROF_EDGE_ROWS; leading or trailing rows with fewer than 8 non-zero axes, less the
 *     expected number of the run's own rows with an axis at 0, see below) and of the set of
 *     non-zero axes in the edge row nearest the rest and in the others (further in, most axes
 *     are on); per axis, the quantiles of its non-zero edge values (holding currents, small
 *     and steady: axis 3 about 6.7 A). Fitted on running stretches with idle rows on both
 *     sides. The workshop's robot: 39 % of runs start with edge rows (36 % one, 3 % two or
 *     three), 41 % end with them. A profile without the "edges" key (written before edges
 *     were fitted) reads as having none: every run starts and ends with a full row, as then;
 *   - currents while running: per axis, the quantiles of the values (zeros included; edge rows
 *     excluded) and the exact share of zeros (a current crossing 0; the workshop's axes' shares
 *     add up to 5.2 %; absent in older profiles, then the table decides), the
 *     correlation between axes (of normal scores), the correlation between consecutive samples
 *     (persist, tuned by simulation in gen_calibrate), and a relative measurement noise;
 *   - target: the calibration statistics of the source (calstats.h), for reporting.
 * The built-in default (genprof_default) is fitted from the workshop's export
 * RMBR4-2_export_test.csv; its JSON is compiled into the binary. */
#ifndef PGPULSE_GENPROF_H
#define PGPULSE_GENPROF_H

#include <stddef.h>

#include "buf.h"
#include "calstats.h"
#include "readingcsv.h"

#define GENPROF_QN 1001  /* quantile levels 0, 0.001, ..., 1 */
#define GENPROF_SN 101   /* coarser tables: levels 0, 0.01, ..., 1 */
#define GENPROF_GAP_S 10.0 /* an interval longer than this is a gap (the robot went silent) */
#define GENPROF_VERSION 1
#define GENPROF_EDGE_ROWS 3 /* at most this many edge rows at a run's start or end */
#define GENPROF_MASKS 256   /* sets of non-zero axes (bit a: axis a + 1) */

enum { GENPROF_EDGE_START = 0, GENPROF_EDGE_END = 1 };

/* One kind of rest edge (a run's start or its end). */
typedef struct genprof_edge {
    double rows_p[GENPROF_EDGE_ROWS + 1]; /* probability of 0..GENPROF_EDGE_ROWS edge rows */
    double mask_p[2][GENPROF_MASKS];      /* probability of each set of non-zero axes, [0] in the
                                             edge row nearest the rest, [1] in the others (each
                                             sums to 1 where such rows occur; 0 for the empty and
                                             the full set) */
} genprof_edge;

typedef struct genprof {
    char source[256];                      /* what it was fitted from */
    double interval_q[GENPROF_QN];         /* sampling interval (s), gaps excluded */
    double gap_prob;                       /* probability that an interval is a gap */
    double gap_q[GENPROF_SN];              /* gap lengths (s) */
    double program_s;                      /* motion program (running stretch) duration (s) */
    double idle_q[GENPROF_QN];             /* idle stretch durations (s) */
    double axis_q[READING_AXES][GENPROF_QN]; /* running values per axis, zeros included */
    double corr[READING_AXES][READING_AXES]; /* correlation of normal scores, running rows */
    double persist[READING_AXES];          /* 0..1: how much a sample resembles the previous
                                              one (the move-level share of the latent signal;
                                              tuned by simulation in gen_calibrate) */
    double noise[READING_AXES];            /* measurement noise, relative (0.05: 5 %) */
    double sigma[READING_AXES];            /* overall std of each axis: the unit of fault sizes */
    double zero[READING_AXES];             /* share of running rows (edges excluded) where the
                                              axis reads exactly 0 (a quantile table resolves it
                                              only to a level, 0.1 %); < 0: not known (a profile
                                              from before it), the table decides */
    int has_edges;                         /* 0: no edge rows (a profile from before them) */
    genprof_edge edge[2];                  /* GENPROF_EDGE_START, GENPROF_EDGE_END */
    double edge_q[READING_AXES][GENPROF_SN]; /* non-zero values of each axis in edge rows */
    calstats target;                       /* statistics of the source */
} genprof;

/* Fills p with the built-in profile (fitted from the workshop's export). Never fails. */
void genprof_default(genprof *p);

/* Fits p from one robot's readings rows[0..n), in time order (n >= 1000, with idle and
 * running stretches). persist is 0; gen_calibrate tunes it and the idle durations. Returns 0, or -1
 * with a message (too few rows, no idle or no running stretches). */
int genprof_fit(genprof *p, const reading *rows, size_t n, const char *source, char *err,
                size_t errlen);

/* JSON round trip. genprof_write_json appends the profile to b. genprof_read_json parses
 * text[0..len) into p; returns 0, or -1 with a message naming the line and what is wrong
 * (a missing key, a table of the wrong length, a non-monotonic quantile table ...). */
void genprof_write_json(const genprof *p, buf *b);
int genprof_read_json(genprof *p, const char *text, size_t len, char *err, size_t errlen);

/* File helpers around the JSON functions. Return 0, or -1 with a message naming the file. */
int genprof_load(genprof *p, const char *path, char *err, size_t errlen);
int genprof_save(const genprof *p, const char *path, char *err, size_t errlen);

/* Evaluates a quantile table of n levels (0..1 evenly spaced) at u in [0, 1]. */
double genprof_table(const double *q, size_t n, double u);

#endif
