/* detect_keys: per-key detector state by key (see detect_keys.h). */
#include "detect_keys.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void detect_keys_init(detect_keys *m, const detect_cfg *cfg, int nch)
{
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    m->nch = nch;
}

static void detect_keys_grow(detect_keys *m)
{
    detect_key **old = m->slots;
    size_t oldcap = m->cap;
    m->cap = oldcap ? oldcap * 2 : 64;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i]) continue;
        size_t j = util_hash64((uint64_t)old[i]->key) & (m->cap - 1);
        while (m->slots[j]) j = (j + 1) & (m->cap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

detect_key *detect_keys_find(const detect_keys *m, int64_t key)
{
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1;
    for (size_t j = util_hash64((uint64_t)key) & mask;; j = (j + 1) & mask) {
        if (!m->slots[j]) return NULL;
        if (m->slots[j]->key == key) return m->slots[j];
    }
}

detect_key *detect_keys_get(detect_keys *m, int64_t key)
{
    detect_key *k = detect_keys_find(m, key);
    if (k) return k;
    if ((m->count + 1) * 2 > m->cap) detect_keys_grow(m);
    size_t j = util_hash64((uint64_t)key) & (m->cap - 1);
    while (m->slots[j]) j = (j + 1) & (m->cap - 1);
    k = xcalloc(1, sizeof *k);
    k->key = key;
    k->band_ts = INT64_MIN; /* no point yet */
    for (int a = 0; a < DETECT_MAX_CH; a++) k->band.pred[a] = k->band.sd[a] = NAN;
    detect_state_init(&k->st, m->cfg, m->nch);
    detect_episodes_init(&k->ep);
    m->slots[j] = k;
    m->count++;
    return k;
}

void detect_keys_free(detect_keys *m)
{
    for (size_t i = 0; i < m->cap; i++) free(m->slots[i]);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

void detect_key_step(detect_key *k, const detect_cfg *cfg, int bridge, int64_t ts_us,
                     const double *x, detect_result *r, detect_episode_fn *emit, void *arg)
{
    if (!k->dirty) {
        k->dirty = 1;
        k->batch_n = k->n;
    }
    detect_step(&k->st, cfg, ts_us, x, r);
    if (ts_us >= k->band_ts) {
        k->band_ts = ts_us;
        k->band = r->band;
    }
    detect_episodes_step(&k->ep, k->st.nch, bridge, k->n, ts_us, r, emit, arg);
    k->n++;
}
