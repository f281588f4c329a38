/* detect: the per-point pipeline over the detectors and the combiner (see detect.h). */
#include "detect.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DETECT_STATE_VERSION 2u /* 2: issue 13 (quality's edge and gap state) */

static const char *const detect_names[DETECT_NKINDS] = {
    [DETECT_REGRESS] = "regress", [DETECT_ROBUST] = "robust", [DETECT_CUSUM] = "cusum",
    [DETECT_HST] = "hst",         [DETECT_QUALITY] = "quality",
};

void detect_cfg_default(detect_cfg *c)
{
    memset(c, 0, sizeof *c);
    c->enabled = (1u << DETECT_NKINDS) - 1;
    detect_regress_cfg_default(&c->regress);
    detect_robust_cfg_default(&c->robust);
    detect_cusum_cfg_default(&c->cusum);
    detect_hst_cfg_default(&c->hst);
    detect_quality_cfg_default(&c->quality);
    detect_combine_cfg_default(&c->combine);
}

const char *detect_kind_name(detect_kind k)
{
    return (unsigned)k < DETECT_NKINDS ? detect_names[k] : "?";
}

const char *detect_level_name(int level)
{
    return level == DETECT_ERROR ? "ERROR" : level == DETECT_ALERT ? "ALERT" : "";
}

int detect_parse_enabled(const char *list, unsigned *mask, char *err, size_t errlen)
{
    unsigned m = 0;
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int k;
        if (len == 3 && !memcmp(p, "all", 3)) {
            m |= (1u << DETECT_NKINDS) - 1;
        } else {
            for (k = 0; k < DETECT_NKINDS; k++)
                if (strlen(detect_names[k]) == len && !memcmp(p, detect_names[k], len)) break;
            if (k == DETECT_NKINDS) {
                snprintf(err, errlen,
                         "unknown detector '%.*s' (known: all, regress, robust, cusum, hst, quality)",
                         (int)len, p);
                return -1;
            }
            m |= 1u << k;
        }
        if (!e) break;
        p = e + 1;
    }
    *mask = m;
    return 0;
}

void detect_state_init(detect_state *s, const detect_cfg *c, int nch)
{
    memset(s, 0, sizeof *s);
    s->magic = DETECT_STATE_MAGIC;
    s->nch = nch;
    s->newest_us = INT64_MIN;
    detect_regress_init(&s->regress, &c->regress, nch);
    detect_robust_init(&s->robust, &c->robust, nch);
    detect_cusum_init(&s->cusum, &c->cusum, nch);
    detect_hst_init(&s->hst, &c->hst, nch);
    detect_quality_init(&s->quality, &c->quality, nch);
    detect_combine_init(&s->combine, &c->combine, nch);
}

/* Keeps the last 32 positive intervals; the median is recomputed for each of the first 32 and
 * then once every 32 (an insertion sort of 32 values: a few ns a point), which is plenty for a
 * sampling rate that changes slowly. */
static void detect_note_interval(detect_state *s, double dt)
{
    enum { CAP = sizeof s->dt_hist / sizeof s->dt_hist[0] };
    s->dt_hist[s->dt_pos] = dt;
    s->dt_pos = (s->dt_pos + 1) % CAP;
    if (s->dt_n < CAP) s->dt_n++;
    if (s->dt_n < CAP || s->dt_pos == 0) {
        double tmp[CAP];
        int n = s->dt_n;
        for (int i = 0; i < n; i++) {
            double v = s->dt_hist[i];
            int j = i;
            for (; j > 0 && tmp[j - 1] > v; j--) tmp[j] = tmp[j - 1];
            tmp[j] = v;
        }
        s->median_dt_s = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
    }
}

/* Folds one detector's output into the point's levels. */
static void detect_merge(detect_result *r, int nch, detect_kind k)
{
    const detect_out *o = &r->out[k];
    for (int i = 0; i < nch; i++) {
        if (o->level[i] > r->ch_level[i] ||
            (o->level[i] && o->level[i] == r->ch_level[i] && o->z[i] > r->ch_z[i])) {
            r->ch_level[i] = o->level[i];
            r->ch_detector[i] = (uint8_t)k;
            r->ch_z[i] = o->z[i];
        }
        if (r->ch_level[i] > r->level) r->level = r->ch_level[i];
    }
    if (o->multi_level > r->multi_level ||
        (o->multi_level && o->multi_level == r->multi_level && o->multi_z > r->multi_z)) {
        r->multi_level = o->multi_level;
        r->multi_detector = (uint8_t)k;
        r->multi_z = o->multi_z;
    }
    if (r->multi_level > r->level) r->level = r->multi_level;
    r->quality |= o->quality;
}

void detect_context(detect_state *s, int64_t ts_us, const double *x, detect_ctx *ctx)
{
    int nch = s->nch;
    *ctx = (detect_ctx){.nch = nch, .ts_us = ts_us, .n = s->n};
    int idle = 1;
    for (int i = 0; i < nch; i++) idle &= x[i] == 0;
    ctx->idle = idle;
    if (s->n > 0) {
        ctx->dt_s = ((double)ts_us - (double)s->newest_us) / 1e6; /* no overflow */
        ctx->late = ts_us < s->newest_us;
    }
    if (ctx->dt_s > 0) detect_note_interval(s, ctx->dt_s);
    ctx->median_dt_s = s->median_dt_s;
    if (idle)
        s->run_start_us = 0;
    else if (!s->run_start_us && !ctx->late)
        s->run_start_us = ts_us;
    ctx->run_start_us = s->run_start_us;
    s->n++;
    if (ts_us > s->newest_us) s->newest_us = ts_us;
}

void detect_step(detect_state *s, const detect_cfg *c, int64_t ts_us, const double *x,
                 detect_result *r)
{
    detect_ctx ctx;
    detect_context(s, ts_us, x, &ctx);
    int nch = s->nch;
    memset(r, 0, sizeof *r);
    unsigned en = c->enabled;
    if (nch < 2) en &= ~(1u << DETECT_HST); /* a joint pattern needs two channels */
    if (en & (1u << DETECT_REGRESS))
        detect_regress_step_band(&s->regress, &c->regress, &ctx, x, &r->out[DETECT_REGRESS], &r->band);
    else
        for (int a = 0; a < nch; a++) r->band.pred[a] = r->band.sd[a] = NAN;
    if (en & (1u << DETECT_ROBUST)) detect_robust_step(&s->robust, &c->robust, &ctx, x, &r->out[DETECT_ROBUST]);
    if (en & (1u << DETECT_CUSUM)) detect_cusum_step(&s->cusum, &c->cusum, &ctx, x, &r->out[DETECT_CUSUM]);
    if (en & (1u << DETECT_HST)) detect_hst_step(&s->hst, &c->hst, &ctx, x, &r->out[DETECT_HST]);
    if (en & (1u << DETECT_QUALITY)) detect_quality_step(&s->quality, &c->quality, &ctx, x, &r->out[DETECT_QUALITY]);
    for (int k = 0; k < DETECT_NKINDS; k++)
        if (en & (1u << k)) detect_merge(r, nch, (detect_kind)k);
    r->score = detect_combine_step(&s->combine, &c->combine, &ctx, x, r->out, en);
}

typedef struct detect_state_header {
    uint32_t magic;
    uint32_t version;
    uint64_t size;
} detect_state_header;

void detect_state_save(const detect_state *s, buf *b)
{
    detect_state_header h = {DETECT_STATE_MAGIC, DETECT_STATE_VERSION, sizeof *s};
    buf_append(b, &h, sizeof h);
    buf_append(b, s, sizeof *s);
}

long detect_state_load(detect_state *s, const uint8_t *p, size_t len, char *err, size_t errlen)
{
    detect_state_header h;
    if (len < sizeof h) {
        snprintf(err, errlen, "detector state: %zu bytes, shorter than its header", len);
        return -1;
    }
    memcpy(&h, p, sizeof h);
    if (h.magic == DETECT_STATE_MAGIC && h.version < DETECT_STATE_VERSION) {
        snprintf(err, errlen, "detector state: saved by an earlier version of pgpulse (layout %u; "
                 "this build: %u)", h.version, DETECT_STATE_VERSION);
        return -2;
    }
    if (h.magic != DETECT_STATE_MAGIC || h.version != DETECT_STATE_VERSION || h.size != sizeof *s) {
        snprintf(err, errlen,
                 "detector state: saved by another build (version %u, %llu bytes; this build: "
                 "version %u, %zu bytes)",
                 h.version, (unsigned long long)h.size, DETECT_STATE_VERSION, sizeof *s);
        return -1;
    }
    if (len - sizeof h < sizeof *s) {
        snprintf(err, errlen, "detector state: truncated (%zu of %zu bytes)", len - sizeof h, sizeof *s);
        return -1;
    }
    memcpy(s, p + sizeof h, sizeof *s);
    /* The block is this build's own bytes (size and version checked); the indices used for
     * writing are checked too, so that damage cannot turn into a write out of bounds here. */
    int cap = (int)(sizeof s->dt_hist / sizeof s->dt_hist[0]);
    if (s->magic != DETECT_STATE_MAGIC || s->nch < 1 || s->nch > DETECT_MAX_CH ||
        s->dt_pos < 0 || s->dt_pos >= cap || s->dt_n < 0 || s->dt_n > cap) {
        snprintf(err, errlen, "detector state: corrupt (channels %d, interval ring %d/%d)",
                 (int)s->nch, (int)s->dt_pos, (int)s->dt_n);
        return -1;
    }
    return (long)(sizeof h + sizeof *s);
}
