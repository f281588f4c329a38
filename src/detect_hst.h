/* detect_hst: Half-Space Trees (Tan, Ting & Liu, "Fast anomaly detection for streaming data",
 * IJCAI 2011) across the channels, for a joint pattern break that no single channel shows —
 * one axis moving while the others rest, or a combination of levels the robot never produces.
 *
 * Inputs. Idle points (every channel exactly 0) are left out: they are one exact point, a
 *   third to two thirds of a robot's rows, and would make the corner next to them look normal.
 *   Each channel of a running point is mapped to about [0, 1] through its own running
 *   quantiles (5, 25, 50, 75 and 95 %, tracked by stochastic approximation with steps scaled
 *   by the channel's mean absolute deviation; piecewise linear between them, extended beyond
 *   with the outer segments' slopes and clamped to [-1, 2]). Robot currents are zero-inflated
 *   and skewed (an axis's 99th percentile can be 25 times its median), so a min/max or mean/sd
 *   scaling would crowd nearly every point into a corner of the unit cube; the quantile map
 *   gives each channel roughly uniform marginals, so the trees' mid-range splits cut where the
 *   data is, and only the joint structure is left to be unusual. A channel reading exactly 0
 *   while others move (`zero_apart`) is an axis at rest, a state rather than the bottom of its
 *   range: it maps to -0.5, apart from every moving value and kept out of the quantiles. That
 *   is what makes one axis moving while the others rest (a fault that carries on through an
 *   idle stretch) land where no running point ever went; without it the trees find 9 % of the
 *   simulator's plateaus, with it 89 %.
 * Trees. `trees` trees of `depth` levels. Each tree's workspace in channel q is
 *   [s - 2 max(s, 1 - s), s + 2 max(s, 1 - s)] with s uniform in [0, 1], and each node splits
 *   its range in one channel at the middle (the paper's construction). Split channels and
 *   workspaces come from `seed` (detect_hst_cfg_seed), are shared by every key and held in the
 *   cfg, so a key's state is only the trees' masses.
 * Masses. Every running point adds one to each node on its path in the latest window's masses;
 *   after `window` running points the latest masses become the reference and the latest start
 *   again (the paper's two windows). A point is scored against the reference: per tree, the
 *   mass of the deepest node on its path that still holds `size_limit` x window points (or of
 *   its leaf), scaled to leaf level (mass x 2^(node depth - depth)); m = the mean over trees.
 *   Low m: the point falls where the recent past put few points.
 * z. How unusual m is: the point's L = log2(m + 1/4) goes into an exponentially weighted
 *   histogram of the L of earlier points (0.25 wide bins; weights decay by 2 % every 256
 *   points, so about 12,800 points of memory). With P the share of earlier points whose mass
 *   was as low (half of its own bin counted), z = Phi^-1(1 - P), 0 when P >= 1/2, and P is
 *   floored at 0.1 / (the histogram's weight): a mass lower than any in the memory scores about
 *   4.3. So z is in sigma units by construction: z >= 3 happens to 1.3 points in 1,000 of a
 *   robot that behaves as it did.
 * Levels (multi_level only; the per-channel outputs stay 0): ALERT when z >= alert_z (2)
 *   holds for alert_points (4) running points in a row, ERROR when z >= error_z (3.5) holds
 *   for error_points (2); nothing during warm-up (two windows and 1,000 points of
 *   histogram). On the simulator (20 robots, 48 h) these make no episode without faults (1 on
 *   a second seed), and with the default faults 292 episodes, all on faults, which find 89 %
 *   of the plateaus, 91 % of the stuck sensors and 88 % of the noise bursts (simscore.py).
 * Defaults and why: 16 trees of depth 6 and a window of 250 points. The paper's window is 250;
 *   uint8 masses need window <= 255. Depth 6 gives 64 leaves, several points per leaf at 250
 *   points, and the size limit stops the descent where a node is too sparse to say anything;
 *   16 trees average out the random splits (8 trees: 2 to 4 points less recall, one false
 *   episode). The limit of depth 6: a tree cuts each of 8 channels about once, so a break
 *   between moving channels (three that always move together, one now high and one low)
 *   scores z 2 to 2.6, an ALERT if it lasts, not an empty box; deeper trees would see more
 *   but cost 2^(depth+1) masses per tree and key.
 *
 * State per key (plain data): masses 2 x 16 trees x 128 nodes (uint8) = 4 KB, channel
 * quantiles 16 x 5 doubles, mean absolute deviations and counts, the 40-bin histogram and
 * counters: 5.1 KB. */
#ifndef PGPULSE_DETECT_HST_H
#define PGPULSE_DETECT_HST_H

#include "detect_core.h"

#define DETECT_HST_MAX_TREES 16
#define DETECT_HST_MAX_DEPTH 6
#define DETECT_HST_NODES (1 << (DETECT_HST_MAX_DEPTH + 1)) /* heap indices 1..2^(d+1)-1 */
#define DETECT_HST_NQ 5                                    /* quantiles per channel */
#define DETECT_HST_NBINS 40                                /* histogram of log2 mass */

typedef struct detect_hst_cfg {
    int trees;         /* 1..DETECT_HST_MAX_TREES (16) */
    int depth;         /* 1..DETECT_HST_MAX_DEPTH (6) */
    int window;        /* running points per window, 2..255 (250) */
    double size_limit; /* fraction of the window a node needs to be scored on (0.1) */
    double alert_z;    /* multi ALERT threshold (2) */
    double error_z;    /* multi ERROR threshold (3.5) */
    int alert_points;  /* running points in a row beyond alert_z for ALERT (4) */
    int error_points;  /* and beyond error_z for ERROR (2) */
    int warmup_hist;   /* histogram weight needed before any z (1000) */
    int zero_apart;    /* a channel at exactly 0 (at rest) maps to -0.5 (1) */
    uint64_t seed;     /* the trees' seed (set with detect_hst_cfg_seed) */
    uint8_t dim[DETECT_HST_MAX_TREES][DETECT_HST_NODES]; /* split channel of each node, as a
                                                            fraction of 256 of the channels */
    float shift[DETECT_HST_MAX_TREES][DETECT_MAX_CH];    /* workspace centre s per channel */
    float ws_lo[DETECT_HST_MAX_TREES][DETECT_MAX_CH];    /* and its ends: s - 2 max(s, 1 - s) */
    float ws_hi[DETECT_HST_MAX_TREES][DETECT_MAX_CH];    /* s + 2 max(s, 1 - s) */
} detect_hst_cfg;

/* Plain data, fixed size: no pointers. */
typedef struct detect_hst_state {
    int32_t nch;
    int32_t nwin;                                        /* points in the latest window */
    int32_t have_ref;                                    /* a reference window exists */
    int32_t since_decay;                                 /* points since the decay */
    int64_t nrun;                                        /* running points seen */
    int64_t run_a;                                       /* points in a row >= alert_z */
    int64_t run_e;                                       /* and >= error_z */
    double q[DETECT_MAX_CH][DETECT_HST_NQ];              /* running quantiles */
    double mad[DETECT_MAX_CH];                           /* mean absolute deviation */
    int64_t nq[DETECT_MAX_CH];                           /* values in the quantiles */
    float hist[DETECT_HST_NBINS];                        /* EW histogram of log2 mass */
    float hist_w;                                        /* its total weight */
    uint8_t ref[DETECT_HST_MAX_TREES][DETECT_HST_NODES]; /* reference masses */
    uint8_t lat[DETECT_HST_MAX_TREES][DETECT_HST_NODES]; /* latest masses */
} detect_hst_state;

/* The defaults listed beside the fields above, trees from seed 0x4853545472656573. */
void detect_hst_cfg_default(detect_hst_cfg *c);

/* Derives the trees (split channels, workspaces) from seed. Same seed, same trees. */
void detect_hst_cfg_seed(detect_hst_cfg *c, uint64_t seed);

/* Initialises s for nch channels (1..DETECT_MAX_CH). */
void detect_hst_init(detect_hst_state *s, const detect_hst_cfg *c, int nch);

/* Takes the point x[0..ctx->nch-1] and writes o: multi_z and multi_level as above; the
 * per-channel z and levels are 0. No allocation. */
void detect_hst_step(detect_hst_state *s, const detect_hst_cfg *c, const detect_ctx *ctx,
                     const double *x, detect_out *o);

#endif
