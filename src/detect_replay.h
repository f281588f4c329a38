/* detect_replay: runs the detectors over a CSV file, the offline twin of the live stage
 * (`pgpulse detect --replay IN.csv --out OUT.csv`).
 *
 * Input: a header line; the time column is the first column named timestamp, ts or time
 * (without case; ISO 8601 — without a zone taken as UTC — or epoch seconds); a robot_id column,
 * if present, keys the detectors' state (an integer); every other column whose value on the
 * first good data line is a number is a channel (at most DETECT_MAX_CH; --channels names them
 * instead). Other columns are carried along.
 *
 * Output: every input line's fields, then anomaly_score (0..1, nine decimals) and label (1 when
 * the point's level is ALERT or ERROR); with explain also level, channel (the name of the
 * channel that decided the level, or multi) and detector. A bad line (wrong number of fields,
 * bad time, key or value) is reported as NAME:LINE: skipped: reason and written with score 0 and
 * label 0, so output lines stay aligned with input lines; so is an empty line, and a line of
 * a robot_id beyond max_keys distinct ones (each key holds ~29 KB of state). Episodes (detect_episode.h) go to
 * an optional CSV: key,channel,level,ts_start,ts_end,peak_score,detector,reason,points. */
#ifndef PGPULSE_DETECT_REPLAY_H
#define PGPULSE_DETECT_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "detect.h"

#define DETECT_REPLAY_MAX_REPORTS 100 /* bad lines reported one by one; the rest counted */

typedef struct detect_replay_opts {
    const detect_cfg *cfg;
    const char *in_name;    /* the input's name in messages */
    const char *channels;   /* comma-separated channel columns, or NULL: every numeric one */
    int explain;            /* add level, channel, detector columns */
    int bridge;             /* episode bridge (points); 0: the default */
    FILE *episodes;         /* episodes CSV, or NULL */
    FILE *msgs;             /* where bad lines are reported (stderr) */
    int64_t max_keys;       /* robot_id values given a state, at most (0: the default); a line
                               of a further key is a bad line */
} detect_replay_opts;

#define DETECT_REPLAY_MAX_KEYS 10000 /* the default: ~275 MB of detector state */

typedef struct detect_replay_stats {
    int64_t lines;          /* data lines */
    int64_t bad;            /* of them skipped */
    int64_t flagged;        /* points with label 1 */
    int64_t episodes;
    int64_t keys;
    int channels;
} detect_replay_stats;

/* Reads CSV from in_fd to its end and writes the scored CSV to out. Returns 0, or -1 with a
 * message for what stops the whole file (no header, no time column, no channel, too many
 * channels, a read or write error); bad data lines do not stop it. */
int detect_replay_run(int in_fd, FILE *out, const detect_replay_opts *o, detect_replay_stats *st,
                      char *err, size_t errlen);

#endif
