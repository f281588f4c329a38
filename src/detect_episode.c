/* detect_episode: flagged points into episodes (see detect_episode.h). */
#include "detect_episode.h"

#include <stdio.h>
#include <string.h>

void detect_episodes_init(detect_episodes *e)
{
    memset(e, 0, sizeof *e);
}

/* One slot's step: flagged at this point with level, detector, z, reason. */
static void detect_episode_slot(detect_episodes *e, int slot, int channel, int bridge, int64_t n,
                                int64_t ts_us, double score, int level, unsigned detector,
                                double z, uint32_t reason, detect_episode_fn *emit, void *arg)
{
    detect_episode *ep = &e->ep[slot];
    if (!level) {
        if (ep->level && ++e->quiet[slot] >= bridge) {
            emit(arg, ep, DETECT_EPISODE_CLOSE);
            memset(ep, 0, sizeof *ep);
            e->quiet[slot] = 0;
        }
        return;
    }
    e->quiet[slot] = 0;
    if (!ep->level) {
        *ep = (detect_episode){.channel = channel, .level = level, .ts_first = ts_us, .ts_start = ts_us,
                               .ts_end = ts_us, .first_n = n, .last_n = n, .points = 1,
                               .peak_score = score, .peak_z = z, .detector = detector,
                               .reason = reason, .rose_n = -1};
        emit(arg, ep, DETECT_EPISODE_OPEN);
        return;
    }
    if (level > ep->level) {
        ep->rose_n = n;
        ep->level = level;
        ep->detector = detector;
        ep->peak_z = z;
    } else if (level == ep->level && detector == ep->detector && z > ep->peak_z) {
        ep->peak_z = z;
    }
    if (ts_us < ep->ts_start) ep->ts_start = ts_us;
    if (ts_us > ep->ts_end) ep->ts_end = ts_us;
    ep->last_n = n;
    ep->points++;
    if (score > ep->peak_score) ep->peak_score = score;
    ep->reason |= reason;
    emit(arg, ep, DETECT_EPISODE_EXTEND);
}

void detect_episodes_step(detect_episodes *e, int nch, int bridge, int64_t n, int64_t ts_us,
                          const detect_result *r, detect_episode_fn *emit, void *arg)
{
    const detect_out *q = &r->out[DETECT_QUALITY];
    for (int i = 0; i < nch; i++) {
        unsigned det = r->ch_detector[i];
        uint32_t reason = det == DETECT_QUALITY ? q->quality : 0;
        detect_episode_slot(e, i, i, bridge, n, ts_us, r->score, r->ch_level[i], det, r->ch_z[i],
                            reason, emit, arg);
    }
    unsigned det = r->multi_detector;
    uint32_t reason = det == DETECT_QUALITY ? q->quality : 0;
    detect_episode_slot(e, DETECT_MAX_CH, DETECT_EPISODE_MULTI, bridge, n, ts_us, r->score,
                        r->multi_level, det, r->multi_z, reason, emit, arg);
}

void detect_episodes_flush(detect_episodes *e, int nch, detect_episode_fn *emit, void *arg)
{
    for (int i = 0; i <= DETECT_MAX_CH; i++) {
        if (i >= nch && i < DETECT_MAX_CH) continue;
        if (e->ep[i].level) emit(arg, &e->ep[i], DETECT_EPISODE_CLOSE);
        memset(&e->ep[i], 0, sizeof e->ep[i]);
        e->quiet[i] = 0;
    }
}

void detect_reason_format(uint32_t reason, char *out, size_t len)
{
    static const char *const names[] = {"stuck", "gap",       "negative",  "range",
                                        "late",  "duplicate", "clock_jump", "idle_break"};
    size_t used = 0;
    out[0] = 0;
    for (unsigned b = 0; b < sizeof names / sizeof names[0]; b++) {
        if (!(reason & (1u << b))) continue;
        int w = snprintf(out + used, len - used, "%s%s", used ? "," : "", names[b]);
        if (w < 0 || (size_t)w >= len - used) {
            out[used] = 0; /* drop the name that did not fit whole */
            break;
        }
        used += (size_t)w;
    }
}
