/* learn_forest: leveraging bagging of Hoeffding trees with ADWIN resets (see learn_forest.h).
 *
 * The Poisson weights come by inversion of a cumulative table built once for lambda (one
 * uniform and a short scan per draw). The trees' predictions that learn_forest_proba made are
 * kept with a copy of x, so the usual predict-then-learn loop walks each tree once for the
 * prediction and once for learning. */
#include "learn_forest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "learn_drift.h"
#include "rng.h"
#include "util.h"

#define FOREST_MAGIC 0x524f464cu /* "LFOR" */
#define FOREST_VERSION 1u
#define FOREST_MAXPOISSON 1024

struct learn_forest {
    int32_t d, k;
    learn_forest_opts o;
    rng r;               /* the Poisson weights */
    int64_t records;     /* learned */
    int64_t resets;      /* trees replaced; also numbers the replacements' random streams */
    learn_tree **tree;   /* [models] */
    learn_adwin *adwin;  /* [models], over each tree's 0/1 errors */
    double *pcdf;        /* P(weight <= j), j < npcdf */
    int32_t npcdf;
    double *tp;          /* [k] scratch */
    double *cx;          /* [d] the x of the last learn_forest_proba */
    learn_tree_hint *hint; /* [models] the trees' predictions for cx */
    int cvalid;          /* cx and hint hold a prediction */
};

void learn_forest_opts_default(learn_forest_opts *o)
{
    o->models = 10;
    o->lambda = 6;
    o->adwin_delta = 0.002;
    o->seed = 0;
    learn_tree_opts_default(&o->tree);
    o->tree.max_nodes = 255;
}

/* The stream number of tree i's random subspaces after `reset` replacements. */
static uint64_t forest_stream(int i, int64_t reset)
{
    return 1 + (uint64_t)i + (uint64_t)reset * LEARN_FOREST_MAXMODELS;
}

static int forest_check_opts(const learn_forest_opts *o, char *err, size_t errlen)
{
    if (o->models < 1 || o->models > LEARN_FOREST_MAXMODELS)
        return util_err(err, errlen, "learn_forest: %d models (1..%d)", o->models, LEARN_FOREST_MAXMODELS);
    if (!(o->lambda > 0 && o->lambda <= 100))
        return util_err(err, errlen, "learn_forest: lambda %g (0..100)", o->lambda);
    if (!(o->adwin_delta > 0 && o->adwin_delta < 1))
        return util_err(err, errlen, "learn_forest: adwin_delta %g (0..1)", o->adwin_delta);
    return 0;
}

/* Everything but the trees and the ADWINs' contents. */
static learn_forest *forest_alloc(int d, int k, const learn_forest_opts *o)
{
    learn_forest *f = xcalloc(1, sizeof *f);
    f->d = d;
    f->k = k;
    f->o = *o;
    f->tree = xcalloc((size_t)o->models, sizeof *f->tree);
    f->adwin = xcalloc((size_t)o->models, sizeof *f->adwin);
    f->pcdf = xcalloc(FOREST_MAXPOISSON, sizeof *f->pcdf);
    double p = exp(-o->lambda), c = 0;
    int32_t j = 0;
    for (; j < FOREST_MAXPOISSON; j++) {
        if (j > 0) p *= o->lambda / j;
        c += p;
        f->pcdf[j] = c;
        if (j > o->lambda && p < 1e-17) break;
    }
    f->npcdf = j < FOREST_MAXPOISSON ? j + 1 : FOREST_MAXPOISSON;
    f->tp = xcalloc((size_t)k, sizeof *f->tp);
    f->cx = xcalloc((size_t)d, sizeof *f->cx);
    f->hint = xcalloc((size_t)o->models, sizeof *f->hint);
    return f;
}

learn_forest *learn_forest_new(int d, int nclasses, const learn_forest_opts *o, char *err,
                               size_t errlen)
{
    learn_forest_opts def;
    if (!o) {
        learn_forest_opts_default(&def);
        o = &def;
    }
    if (forest_check_opts(o, err, errlen)) return NULL;
    learn_forest_opts oo = *o;
    if (oo.tree.subspace == 0 && d >= 1 && d <= LEARN_TREE_MAXD) {
        oo.tree.subspace = (int32_t)lround(0.6 * d);
        if (oo.tree.subspace < 1) oo.tree.subspace = 1;
    }
    o = &oo;
    /* The trees check d, nclasses and their options. */
    learn_tree *probe = learn_tree_new(d, nclasses, &o->tree, o->seed, err, errlen);
    if (!probe) return NULL;
    learn_forest *f = forest_alloc(d, nclasses, o);
    rng_seed(&f->r, o->seed, 0);
    for (int i = 0; i < o->models; i++) {
        if (i == 0) {
            f->tree[0] = probe;
            learn_tree_reset(probe, o->seed, forest_stream(0, 0));
        } else {
            f->tree[i] = learn_tree_new(d, nclasses, &o->tree, o->seed, NULL, 0);
            learn_tree_reset(f->tree[i], o->seed, forest_stream(i, 0));
        }
        learn_adwin_init(&f->adwin[i], o->adwin_delta);
    }
    return f;
}

void learn_forest_free(learn_forest *f)
{
    if (!f) return;
    if (f->tree)
        for (int i = 0; i < f->o.models; i++) learn_tree_free(f->tree[i]);
    free(f->tree);
    free(f->adwin);
    free(f->pcdf);
    free(f->tp);
    free(f->cx);
    free(f->hint);
    free(f);
}

int learn_forest_proba(learn_forest *f, const double *x, double *proba)
{
    int k = f->k, m = f->o.models;
    for (int c = 0; c < k; c++) proba[c] = 0;
    for (int i = 0; i < m; i++) {
        learn_tree_proba_hint(f->tree[i], x, f->tp, &f->hint[i]);
        for (int c = 0; c < k; c++) proba[c] += f->tp[c];
    }
    int best = 0;
    for (int c = 0; c < k; c++) {
        proba[c] /= m;
        if (proba[c] > proba[best]) best = c;
    }
    memcpy(f->cx, x, (size_t)f->d * sizeof *x);
    f->cvalid = 1;
    return best;
}

/* A Poisson(lambda) draw, by inversion. */
static int forest_poisson(learn_forest *f)
{
    double u = rng_uniform(&f->r);
    int j = 0;
    while (j < f->npcdf - 1 && u >= f->pcdf[j]) j++;
    return j;
}

int learn_forest_learn(learn_forest *f, const double *x, int y)
{
    if (y < 0 || y >= f->k) return -1;
    int m = f->o.models;
    if (!f->cvalid || memcmp(f->cx, x, (size_t)f->d * sizeof *x))
        for (int i = 0; i < m; i++) learn_tree_proba_hint(f->tree[i], x, f->tp, &f->hint[i]);
    f->cvalid = 0;
    int change = 0;
    for (int i = 0; i < m; i++) {
        int w = forest_poisson(f);
        if (w > 0) learn_tree_learn_hint(f->tree[i], x, y, w, &f->hint[i]);
        double before = learn_adwin_mean(&f->adwin[i]);
        if (learn_adwin_add(&f->adwin[i], f->hint[i].pred != y) && learn_adwin_mean(&f->adwin[i]) > before)
            change = 1;
    }
    if (change) {
        int worst = 0;
        for (int i = 1; i < m; i++)
            if (learn_adwin_mean(&f->adwin[i]) > learn_adwin_mean(&f->adwin[worst])) worst = i;
        f->resets++;
        learn_tree_reset(f->tree[worst], f->o.seed, forest_stream(worst, f->resets));
        learn_adwin_init(&f->adwin[worst], f->o.adwin_delta);
    }
    f->records++;
    return 0;
}

void learn_forest_get_stats(const learn_forest *f, learn_forest_stats *s)
{
    memset(s, 0, sizeof *s);
    s->records = f->records;
    s->resets = f->resets;
    s->bytes = sizeof *f + (size_t)f->o.models * (sizeof *f->tree + sizeof *f->adwin + sizeof *f->hint) +
               FOREST_MAXPOISSON * sizeof *f->pcdf + (size_t)f->k * sizeof *f->tp + (size_t)f->d * sizeof *f->cx;
    for (int i = 0; i < f->o.models; i++) {
        learn_tree_stats ts;
        learn_tree_get_stats(f->tree[i], &ts);
        s->nodes += ts.nodes;
        if (ts.depth > s->max_depth) s->max_depth = ts.depth;
        s->full += ts.full;
        s->bytes += ts.bytes;
    }
}

/* ---- save and load ----
 * Blob: magic, version, d, k, models, lambda, adwin_delta, seed, the rng state, records,
 * resets, then per tree its ADWIN (scalars, then the buckets of the levels in use) and its
 * learn_tree blob, and an FNV-1a checksum of all that precedes it. The trees' options travel in
 * their blobs (all equal). */

static void adwin_save(const learn_adwin *a, buf *out)
{
    learn_tree_put_f64(out, a->delta);
    learn_tree_put_u32(out, (uint32_t)a->min_len);
    learn_tree_put_u32(out, (uint32_t)a->clock);
    learn_tree_put_u64(out, (uint64_t)a->width);
    learn_tree_put_f64(out, a->total);
    learn_tree_put_f64(out, a->variance);
    learn_tree_put_u64(out, (uint64_t)a->ticks);
    learn_tree_put_u64(out, (uint64_t)a->detections);
    learn_tree_put_u32(out, (uint32_t)a->levels);
    for (int i = 0; i < a->levels; i++) {
        learn_tree_put_u32(out, (uint32_t)a->nb[i]);
        for (int j = 0; j < a->nb[i]; j++) {
            learn_tree_put_f64(out, a->sum[i][j]);
            learn_tree_put_f64(out, a->var[i][j]);
        }
    }
}

/* Reads an ADWIN, refusing values that would break its invariants (0 or -1). */
static int adwin_load(learn_adwin *a, learn_tree_rd *r)
{
    memset(a, 0, sizeof *a);
    a->delta = learn_tree_get_f64(r);
    a->min_len = (int32_t)learn_tree_get_u32(r);
    a->clock = (int32_t)learn_tree_get_u32(r);
    a->width = (int64_t)learn_tree_get_u64(r);
    a->total = learn_tree_get_f64(r);
    a->variance = learn_tree_get_f64(r);
    a->ticks = (int64_t)learn_tree_get_u64(r);
    a->detections = (int64_t)learn_tree_get_u64(r);
    a->levels = (int32_t)learn_tree_get_u32(r);
    if (!r->ok || !(a->delta > 0 && a->delta < 1) || a->min_len < 1 || a->clock < 1 || a->width < 0 ||
        a->ticks < 0 || a->levels < 0 || a->levels > LEARN_ADWIN_LEVELS)
        return -1;
    for (int i = 0; i < a->levels; i++) {
        a->nb[i] = (int32_t)learn_tree_get_u32(r);
        if (!r->ok || a->nb[i] < 0 || a->nb[i] > LEARN_ADWIN_M) return -1;
        for (int j = 0; j < a->nb[i]; j++) {
            a->sum[i][j] = learn_tree_get_f64(r);
            a->var[i][j] = learn_tree_get_f64(r);
        }
    }
    return r->ok ? 0 : -1;
}

size_t learn_forest_save(const learn_forest *f, buf *out)
{
    size_t start = out->len;
    learn_tree_put_u32(out, FOREST_MAGIC);
    learn_tree_put_u32(out, FOREST_VERSION);
    learn_tree_put_u32(out, (uint32_t)f->d);
    learn_tree_put_u32(out, (uint32_t)f->k);
    learn_tree_put_u32(out, (uint32_t)f->o.models);
    learn_tree_put_f64(out, f->o.lambda);
    learn_tree_put_f64(out, f->o.adwin_delta);
    learn_tree_put_u64(out, f->o.seed);
    for (int i = 0; i < 4; i++) learn_tree_put_u64(out, f->r.s[i]);
    learn_tree_put_u64(out, (uint64_t)f->records);
    learn_tree_put_u64(out, (uint64_t)f->resets);
    for (int i = 0; i < f->o.models; i++) {
        adwin_save(&f->adwin[i], out);
        learn_tree_save(f->tree[i], out);
    }
    learn_tree_put_u64(out, learn_tree_fnv(out->data + start, out->len - start));
    return out->len - start;
}

static int same_tree_opts(const learn_tree_opts *a, const learn_tree_opts *b)
{
    return a->grace == b->grace && a->n_splits == b->n_splits && a->delta == b->delta &&
           a->tau == b->tau && a->max_nodes == b->max_nodes && a->max_depth == b->max_depth &&
           a->subspace == b->subspace;
}

learn_forest *learn_forest_load(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    learn_tree_rd tail = {.p = p, .n = n, .off = n >= 8 ? n - 8 : 0, .ok = n >= 8};
    uint64_t stored = learn_tree_get_u64(&tail);
    learn_tree_rd r = {.p = p, .n = n >= 8 ? n - 8 : 0, .off = 0, .ok = 1};
    if (learn_tree_get_u32(&r) != FOREST_MAGIC || !r.ok) {
        util_err(err, errlen, "learn_forest: not a forest blob");
        return NULL;
    }
    uint32_t version = learn_tree_get_u32(&r);
    if (r.ok && version != FOREST_VERSION) {
        util_err(err, errlen, "learn_forest: blob version %u (this build reads %u)", version, FOREST_VERSION);
        return NULL;
    }
    if (!tail.ok || learn_tree_fnv(p, n - 8) != stored) {
        util_err(err, errlen, "learn_forest: truncated or corrupt blob (checksum)");
        return NULL;
    }
    int d = (int)learn_tree_get_u32(&r), k = (int)learn_tree_get_u32(&r);
    learn_forest_opts o;
    learn_forest_opts_default(&o);
    o.models = (int32_t)learn_tree_get_u32(&r);
    o.lambda = learn_tree_get_f64(&r);
    o.adwin_delta = learn_tree_get_f64(&r);
    o.seed = learn_tree_get_u64(&r);
    if (!r.ok) {
        util_err(err, errlen, "learn_forest: truncated blob");
        return NULL;
    }
    if (forest_check_opts(&o, err, errlen)) return NULL;
    if (d < 1 || d > LEARN_TREE_MAXD || k < 2 || k > LEARN_TREE_MAXC) {
        util_err(err, errlen, "learn_forest: corrupt blob (%d features, %d classes)", d, k);
        return NULL;
    }
    learn_forest *f = forest_alloc(d, k, &o);
    for (int i = 0; i < 4; i++) f->r.s[i] = learn_tree_get_u64(&r);
    f->records = (int64_t)learn_tree_get_u64(&r);
    f->resets = (int64_t)learn_tree_get_u64(&r);
    for (int i = 0; i < o.models; i++) {
        if (!r.ok || adwin_load(&f->adwin[i], &r)) {
            util_err(err, errlen, "learn_forest: corrupt or truncated detector %d", i);
            goto fail;
        }
        size_t used = 0;
        f->tree[i] = learn_tree_load(p + r.off, r.n - r.off, &used, err, errlen);
        if (!f->tree[i]) goto fail;
        r.off += used;
        learn_tree_stats ts;
        learn_tree_get_stats(f->tree[i], &ts);
        if (i == 0) f->o.tree = ts.opts;
        if (ts.features != d || ts.classes != k || !same_tree_opts(&ts.opts, &f->o.tree)) {
            util_err(err, errlen, "learn_forest: corrupt blob (tree %d differs)", i);
            goto fail;
        }
    }
    if (!r.ok || r.off != r.n) {
        util_err(err, errlen, "learn_forest: corrupt blob (%zu bytes of %zu read)", r.off, r.n);
        goto fail;
    }
    return f;
fail:
    learn_forest_free(f);
    return NULL;
}
