/* detect_episode: merges the flagged points of one key into episodes — one per channel (or
 * for the whole point: `multi`) and stretch of trouble — so that a fault of 40 rows is one
 * anomaly, not 40. The live stage writes them to the `anomaly` table, replay to --episodes.
 *
 * Rules: a point whose level on a channel is ALERT or ERROR opens an episode on it, or extends
 * the open one; the episode closes once `bridge` points of the key have passed without a flag
 * on that channel, so brief lulls inside one fault do not split it and a fault's repeats are
 * suppressed. An episode's level is the highest of its points, its detector the one that gave
 * that level first, its peak the highest anomaly_score of its flagged points, its range the
 * earliest to the latest time of them. State is plain data per key (saved with the detectors'). */
#ifndef PGPULSE_DETECT_EPISODE_H
#define PGPULSE_DETECT_EPISODE_H

#include <stdint.h>

#include "detect.h"

#define DETECT_EPISODE_MULTI (-1)         /* channel of a whole-point episode */
#define DETECT_EPISODE_DEFAULT_BRIDGE 10  /* unflagged points that close an episode */

typedef struct detect_episode {
    int32_t channel;      /* 0..nch-1, or DETECT_EPISODE_MULTI */
    int32_t level;        /* DETECT_ALERT or DETECT_ERROR; 0: no open episode */
    int64_t ts_first;     /* time of the first flagged point (µs): with the channel, the
                             episode's identity */
    int64_t ts_start;     /* earliest time of a flagged point */
    int64_t ts_end;       /* latest */
    int64_t first_n;      /* index of the key's first flagged point (0-based) */
    int64_t last_n;       /* and of its last */
    int64_t points;       /* flagged points */
    double peak_score;    /* highest anomaly_score of them */
    double peak_z;        /* the deciding detector's highest statistic */
    uint32_t detector;    /* detect_kind that gave the level */
    uint32_t reason;      /* DETECT_Q_* flags seen (quality episodes) */
    int64_t rose_n;       /* index of the point at which the level rose to ERROR after opening
                             at ALERT, -1 if it has not */
} detect_episode;

/* Per key: an open episode per channel and one for the whole point. */
typedef struct detect_episodes {
    detect_episode ep[DETECT_MAX_CH + 1]; /* per channel; [DETECT_MAX_CH]: multi */
    int64_t quiet[DETECT_MAX_CH + 1];     /* points since the episode's last flag */
} detect_episodes;

/* What happened to an episode at a point. */
typedef enum detect_episode_event {
    DETECT_EPISODE_OPEN,     /* first flagged point */
    DETECT_EPISODE_EXTEND,   /* another flagged point (level, end, peak may have changed) */
    DETECT_EPISODE_CLOSE,    /* bridge points without a flag: final */
} detect_episode_event;

typedef void detect_episode_fn(void *arg, const detect_episode *e, detect_episode_event ev);

/* Clears the open episodes. */
void detect_episodes_init(detect_episodes *e);

/* Takes the result r of point number n (0-based, per key) at ts_us, and calls emit for every
 * episode it opens, extends or closes. bridge >= 1. */
void detect_episodes_step(detect_episodes *e, int nch, int bridge, int64_t n, int64_t ts_us,
                          const detect_result *r, detect_episode_fn *emit, void *arg);

/* Closes every open episode (end of input), calling emit with DETECT_EPISODE_CLOSE. */
void detect_episodes_flush(detect_episodes *e, int nch, detect_episode_fn *emit, void *arg);

/* Names the reason flags: "stuck,gap" into out (at least 96 bytes); "" for none. */
void detect_reason_format(uint32_t reason, char *out, size_t len);

#endif
