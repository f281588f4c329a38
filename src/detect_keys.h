/* detect_keys: the detectors' state of many keys (robots, or a replayed file's robot_id
 * values), found by key — an open-addressing map from an integer key to one block per key,
 * allocated once, when the key first appears; nothing is allocated per point. The live stage
 * and replay both keep their keys here and step them with detect_key_step. */
#ifndef PGPULSE_DETECT_KEYS_H
#define PGPULSE_DETECT_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "detect.h"
#include "detect_episode.h"

typedef struct detect_key {
    int64_t key;
    int64_t n;             /* points taken */
    int64_t batch_n;       /* n when the current batch first touched the key (dirty) */
    int dirty;             /* touched since the holder last cleared it */
    int64_t band_ts;       /* the newest point's time and the regress detector's band for it
                              (in memory only: written with the batch that ends on it) */
    detect_band band;
    detect_state st;
    detect_episodes ep;
} detect_key;

typedef struct detect_keys {
    detect_key **slots;    /* open addressing on key; NULL: empty */
    size_t cap, count;
    const detect_cfg *cfg; /* for the states of new keys */
    int nch;               /* channels of every key */
} detect_keys;

/* An empty map whose new keys get states for nch channels under cfg (which must outlive it). */
void detect_keys_init(detect_keys *m, const detect_cfg *cfg, int nch);

/* The key's block, created (fresh state, no episodes, n 0) if absent. */
detect_key *detect_keys_get(detect_keys *m, int64_t key);

/* The key's block, or NULL. */
detect_key *detect_keys_find(const detect_keys *m, int64_t key);

/* Releases every block; the map is empty and reusable afterwards. */
void detect_keys_free(detect_keys *m);

/* Takes the key's next point: marks it dirty (noting batch_n on the first touch), runs the
 * detectors into *r, keeps the band of the newest point (a late point leaves it), merges the point into the key's episodes (calling emit for each episode
 * it opens, extends or closes), and counts it. */
void detect_key_step(detect_key *k, const detect_cfg *cfg, int bridge, int64_t ts_us,
                     const double *x, detect_result *r, detect_episode_fn *emit, void *arg);

#endif
