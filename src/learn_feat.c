/* learn_feat: a table row's features — numbers, hashed text, a key's rolling statistics. */
#include "learn_feat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define LF_FAST (2.0 / (4 + 1))   /* EWMA weights for spans 4 and 32 */
#define LF_SLOW (2.0 / (32 + 1))

/* One input column's rolling state for one key. */
typedef struct lf_col {
    double last;          /* previous value (NaN: none yet) */
    double m_fast, m_slow, d_fast, d_slow, active;
    int64_t n;            /* values seen */
} lf_col;

typedef struct lf_key {
    uint64_t hash;
    char *text;           /* the key as read */
    size_t len;
    int64_t rows;
    lf_col col[];         /* m of them */
} lf_key;

struct learn_feat {
    int m, keyed, hash, dim;
    lf_key **slots;       /* open addressing on hash; NULL: empty */
    size_t cap, count;
};

static uint64_t lf_hash(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {   /* FNV-1a */
        h ^= (uint8_t)p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

learn_feat *learn_feat_new(int m, int keyed, int hash)
{
    learn_feat *f = xcalloc(1, sizeof *f);
    f->m = m < 0 ? 0 : m;
    f->keyed = keyed != 0;
    f->hash = hash < 0 ? 0 : hash;
    f->dim = f->m + f->hash + (f->keyed ? f->m * LEARN_FEAT_PER_COL + LEARN_FEAT_PER_KEY : 0);
    return f;
}

int learn_feat_dim(const learn_feat *f)
{
    return f->dim;
}

size_t learn_feat_keys(const learn_feat *f)
{
    return f->count;
}

void learn_feat_name(const learn_feat *f, int i, const char *const *colnames, char *out, size_t len)
{
    static const char *const per[LEARN_FEAT_PER_COL] = {"lag1", "diff", "ewm4", "ewm32",
                                                        "dev4", "dev32", "z32", "active32"};
    if (i < f->m) {
        snprintf(out, len, "%s", colnames[i]);
    } else if (i < f->m + f->hash) {
        snprintf(out, len, "text#%d", i - f->m);
    } else if (i < f->m + f->hash + f->m * LEARN_FEAT_PER_COL) {
        int k = i - f->m - f->hash;
        snprintf(out, len, "%s.%s", colnames[k / LEARN_FEAT_PER_COL], per[k % LEARN_FEAT_PER_COL]);
    } else {
        snprintf(out, len, "%s", i == f->dim - 2 ? "key.rows" : "key.log_rows");
    }
}

static void lf_grow(learn_feat *f)
{
    size_t ncap = f->cap ? f->cap * 2 : 64;
    lf_key **ns = xcalloc(ncap, sizeof *ns);
    for (size_t i = 0; i < f->cap; i++) {
        lf_key *k = f->slots[i];
        if (!k) continue;
        size_t j = util_hash64(k->hash) & (ncap - 1);
        while (ns[j]) j = (j + 1) & (ncap - 1);
        ns[j] = k;
    }
    free(f->slots);
    f->slots = ns;
    f->cap = ncap;
}

static lf_key *lf_key_get(learn_feat *f, const char *key, size_t klen)
{
    if ((f->count + 1) * 2 > f->cap) lf_grow(f);
    uint64_t h = lf_hash(UINT64_C(0xcbf29ce484222325), key, klen);
    size_t j = (size_t)util_hash64(h) & (f->cap - 1);
    for (; f->slots[j]; j = (j + 1) & (f->cap - 1)) {
        lf_key *k = f->slots[j];
        if (k->hash == h && k->len == klen && memcmp(k->text, key, klen) == 0) return k;
    }
    lf_key *k = xcalloc(1, sizeof *k + (size_t)f->m * sizeof(lf_col));
    k->hash = h;
    k->text = xstrndup(key, klen);
    k->len = klen;
    for (int c = 0; c < f->m; c++) k->col[c].last = NAN;
    f->slots[j] = k;
    f->count++;
    return k;
}

void learn_feat_row(learn_feat *f, const double *val, const char *const *text, const size_t *tlen,
                    const char *key, size_t klen, double *x)
{
    int m = f->m;
    for (int c = 0; c < m; c++) x[c] = val[c];
    double *hx = x + m;
    memset(hx, 0, (size_t)f->hash * sizeof *hx);
    for (int c = 0; c < m && f->hash; c++) {
        if (!text[c] || !tlen[c]) continue;
        uint64_t h = lf_hash(UINT64_C(0xcbf29ce484222325) ^ ((uint64_t)c * UINT64_C(0x9e3779b97f4a7c15)),
                             text[c], tlen[c]);
        hx[util_hash64(h) % (size_t)f->hash] += 1;
    }
    if (!f->keyed) return;
    lf_key *k = lf_key_get(f, key ? key : "", key ? klen : 0);
    k->rows++;
    double *kx = hx + f->hash;
    for (int c = 0; c < m; c++, kx += LEARN_FEAT_PER_COL) {
        lf_col *s = &k->col[c];
        double v = val[c];
        if (isfinite(v)) {
            if (s->n == 0) {
                s->m_fast = s->m_slow = v;
                s->active = v != 0;
            } else {
                s->d_fast += LF_FAST * (fabs(v - s->m_fast) - s->d_fast);
                s->d_slow += LF_SLOW * (fabs(v - s->m_slow) - s->d_slow);
                s->m_fast += LF_FAST * (v - s->m_fast);
                s->m_slow += LF_SLOW * (v - s->m_slow);
                s->active += LF_SLOW * ((v != 0) - s->active);
            }
            s->n++;
        }
        kx[0] = s->last;
        kx[1] = isfinite(v) && isfinite(s->last) ? v - s->last : NAN;
        kx[2] = s->n ? s->m_fast : NAN;
        kx[3] = s->n ? s->m_slow : NAN;
        kx[4] = s->n > 1 ? s->d_fast : NAN;
        kx[5] = s->n > 1 ? s->d_slow : NAN;
        kx[6] = s->n > 1 && isfinite(v) ? (v - s->m_slow) / (s->d_slow + 1e-9) : NAN;
        kx[7] = s->n ? s->active : NAN;
        if (isfinite(v)) s->last = v;
    }
    kx[0] = (double)k->rows;
    kx[1] = log((double)k->rows);
}

void learn_feat_free(learn_feat *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->cap; i++) {
        if (!f->slots[i]) continue;
        free(f->slots[i]->text);
        free(f->slots[i]);
    }
    free(f->slots);
    free(f);
}
