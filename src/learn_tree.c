/* learn_tree: a Hoeffding tree with Gaussian split estimation and naive Bayes adaptive leaves
 * (see learn_tree.h).
 *
 * Layout, all allocated once by learn_tree_new: a flat array of nodes (an internal node holds a
 * feature, a threshold and the index of its left child, the right one following it; a leaf
 * holds the index of its slot), and per leaf slot a header of doubles and k x d Gaussians. A
 * split turns a leaf into an internal node, gives the left child the leaf's slot and the right
 * child the next free one; nodes and slots are only ever taken from the end, so a child's index
 * is always greater than its parent's (the loader relies on it: a walk always ends).
 *
 * Hot path per record: a walk down, then at the leaf naive Bayes over k x d cached values, and
 * d Welford updates for the record's class. The logarithms naive Bayes needs (of the class
 * weights and of the variances' product) are cached per leaf and class and recomputed only for
 * the class learned, so predicting takes no log; split attempts (every `grace` weight per leaf)
 * pay the erf and log2 of the information gain. */
#include "learn_tree.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

#define TREE_MAGIC 0x4552544cu /* "LTRE" */
#define TREE_VERSION 1u

/* The header of a leaf slot: doubles at these offsets, then k class weights and k naive Bayes
 * constants: log(weight) - 1/2 sum log(2 pi var) over the features of some variance. */
enum { H_TOTAL, H_LAST, H_MC, H_NB, H_DEPTH, H_COUNTS };

typedef struct tree_node {
    double thr;   /* internal: x <= thr (or NaN) goes left */
    int32_t feat; /* internal: the feature; -1: a leaf */
    int32_t ref;  /* internal: the left child (the right is ref + 1); leaf: its slot */
} tree_node;

typedef struct tree_gauss {
    double w, mean, m2; /* weighted Welford */
    double ivar;        /* 1 / variance, 0 while the variance is 0 */
    double lo, hi;      /* smallest and largest value */
} tree_gauss;

struct learn_tree {
    int32_t d, k;
    learn_tree_opts o;
    int32_t max_leaves;  /* (max_nodes + 1) / 2 */
    int32_t hstride;     /* doubles per leaf header: H_COUNTS + 2k */
    int32_t n_nodes;     /* nodes in use */
    int32_t n_leaves;    /* slots in use */
    double weight;       /* weight learned */
    rng r;               /* random subspaces */
    tree_node *node;     /* [max_nodes] */
    double *head;        /* [max_leaves * hstride] */
    tree_gauss *gauss;   /* [max_leaves * k * d], by slot, class, feature */
    int32_t *scratch;    /* [d] feature indices for a subspace */
    size_t bytes;        /* allocated */
};

static const double LOG_2PI = 1.8378770664093453;

void learn_tree_opts_default(learn_tree_opts *o)
{
    o->grace = 200;
    o->n_splits = 10;
    o->delta = 1e-7;
    o->tau = 0.05;
    o->max_nodes = 1023;
    o->max_depth = 0;
    o->subspace = 0;
}

static int tree_check_opts(int d, int k, const learn_tree_opts *o, char *err, size_t errlen)
{
    if (d < 1 || d > LEARN_TREE_MAXD)
        return util_err(err, errlen, "learn_tree: %d features (1..%d)", d, LEARN_TREE_MAXD);
    if (k < 2 || k > LEARN_TREE_MAXC)
        return util_err(err, errlen, "learn_tree: %d classes (2..%d)", k, LEARN_TREE_MAXC);
    if (o->grace < 1) return util_err(err, errlen, "learn_tree: grace %d (>= 1)", o->grace);
    if (o->n_splits < 1 || o->n_splits > 1000)
        return util_err(err, errlen, "learn_tree: n_splits %d (1..1000)", o->n_splits);
    if (!(o->delta > 0 && o->delta < 1))
        return util_err(err, errlen, "learn_tree: delta %g (0..1)", o->delta);
    if (!(o->tau >= 0 && o->tau <= 1)) return util_err(err, errlen, "learn_tree: tau %g (0..1)", o->tau);
    if (o->max_nodes < 1 || o->max_nodes > LEARN_TREE_MAXNODES)
        return util_err(err, errlen, "learn_tree: max_nodes %d (1..%d)", o->max_nodes, LEARN_TREE_MAXNODES);
    if (o->max_depth < 0) return util_err(err, errlen, "learn_tree: max_depth %d (>= 0)", o->max_depth);
    if (o->subspace < 0 || o->subspace > d)
        return util_err(err, errlen, "learn_tree: subspace %d (0..%d)", o->subspace, d);
    return 0;
}

static double *leaf_head(const learn_tree *t, int32_t s)
{
    return t->head + (size_t)s * (size_t)t->hstride;
}

static tree_gauss *leaf_gauss(const learn_tree *t, int32_t s, int c)
{
    return t->gauss + ((size_t)s * (size_t)t->k + (size_t)c) * (size_t)t->d;
}

/* Slot s as a fresh leaf at depth depth with class weights counts (NULL: none). */
static void leaf_init(learn_tree *t, int32_t s, int32_t depth, const double *counts)
{
    double *h = leaf_head(t, s);
    memset(h, 0, (size_t)t->hstride * sizeof *h);
    memset(leaf_gauss(t, s, 0), 0, (size_t)t->k * (size_t)t->d * sizeof(tree_gauss));
    double total = 0;
    for (int c = 0; c < t->k; c++) {
        double n = counts ? counts[c] : 0;
        h[H_COUNTS + c] = n;
        h[H_COUNTS + t->k + c] = n > 0 ? log(n) : -INFINITY; /* no Gaussians yet */
        total += n;
    }
    h[H_TOTAL] = total;
    h[H_LAST] = total;
    h[H_DEPTH] = depth;
}

void learn_tree_reset(learn_tree *t, uint64_t seed, uint64_t stream)
{
    t->n_nodes = 1;
    t->n_leaves = 1;
    t->weight = 0;
    t->node[0] = (tree_node){.thr = 0, .feat = -1, .ref = 0};
    leaf_init(t, 0, 0, NULL);
    rng_seed(&t->r, seed, stream);
}

static learn_tree *tree_alloc(int d, int k, const learn_tree_opts *o)
{
    learn_tree *t = xcalloc(1, sizeof *t);
    t->d = d;
    t->k = k;
    t->o = *o;
    t->max_leaves = (o->max_nodes + 1) / 2;
    t->hstride = H_COUNTS + 2 * k;
    size_t nn = (size_t)o->max_nodes, nl = (size_t)t->max_leaves;
    t->node = xcalloc(nn, sizeof *t->node);
    t->head = xcalloc(nl * (size_t)t->hstride, sizeof *t->head);
    t->gauss = xcalloc(nl * (size_t)k * (size_t)d, sizeof *t->gauss);
    t->scratch = xcalloc((size_t)d, sizeof *t->scratch);
    t->bytes = sizeof *t + nn * sizeof *t->node + nl * (size_t)t->hstride * sizeof *t->head +
               nl * (size_t)k * (size_t)d * sizeof *t->gauss + (size_t)d * sizeof *t->scratch;
    return t;
}

learn_tree *learn_tree_new(int d, int nclasses, const learn_tree_opts *o, uint64_t seed,
                           char *err, size_t errlen)
{
    learn_tree_opts def;
    if (!o) {
        learn_tree_opts_default(&def);
        o = &def;
    }
    if (tree_check_opts(d, nclasses, o, err, errlen)) return NULL;
    learn_tree *t = tree_alloc(d, nclasses, o);
    learn_tree_reset(t, seed, 0);
    return t;
}

void learn_tree_free(learn_tree *t)
{
    if (!t) return;
    free(t->node);
    free(t->head);
    free(t->gauss);
    free(t->scratch);
    free(t);
}

/* The slot of the leaf x falls in. */
static int32_t tree_find(const learn_tree *t, const double *x, int32_t *node)
{
    const tree_node *nd = t->node;
    int32_t i = 0;
    while (nd[i].feat >= 0) i = nd[i].ref + (x[nd[i].feat] > nd[i].thr);
    if (node) *node = i;
    return nd[i].ref;
}

static int all_finite(const double *x, int d)
{
    int ok = 1;
    for (int f = 0; f < d; f++) ok &= isfinite(x[f]) != 0;
    return ok;
}

/* Naive Bayes log-scores of the classes at slot s (-inf for a class of no weight); returns the
 * best class, or -1 when the leaf has no weight. fin: x is all finite (the fast path, on cached
 * constants); else non-finite features are left out. */
static int leaf_nb(const learn_tree *t, int32_t s, const double *x, int fin, double *score)
{
    const double *h = leaf_head(t, s);
    const double *nbk = h + H_COUNTS + t->k;
    int best = -1;
    for (int c = 0; c < t->k; c++) {
        if (!(h[H_COUNTS + c] > 0)) {
            score[c] = -INFINITY;
            continue;
        }
        const tree_gauss *g = leaf_gauss(t, s, c);
        double acc = 0, sc;
        if (fin) {
            for (int f = 0; f < t->d; f++) {
                double dx = x[f] - g[f].mean;
                acc += dx * dx * g[f].ivar;
            }
            sc = nbk[c] - 0.5 * acc;
        } else {
            double lc = 0;
            for (int f = 0; f < t->d; f++) {
                if (!isfinite(x[f]) || !(g[f].ivar > 0)) continue;
                double dx = x[f] - g[f].mean;
                acc += dx * dx * g[f].ivar;
                lc += LOG_2PI - log(g[f].ivar);
            }
            sc = log(h[H_COUNTS + c]) - 0.5 * (lc + acc);
        }
        score[c] = sc;
        if (best < 0 || sc > score[best]) best = c;
    }
    return best;
}

/* The majority class at slot s, or -1 when the leaf has no weight. */
static int leaf_mc(const learn_tree *t, int32_t s)
{
    const double *n = leaf_head(t, s) + H_COUNTS;
    int best = -1;
    for (int c = 0; c < t->k; c++)
        if (n[c] > 0 && (best < 0 || n[c] > n[best])) best = c;
    return best;
}

int learn_tree_proba_hint(const learn_tree *t, const double *x, double *proba, learn_tree_hint *hint)
{
    int32_t i, s = tree_find(t, x, &i);
    const double *h = leaf_head(t, s);
    int k = t->k, mc = leaf_mc(t, s), nb = -1, best = 0;
    if (mc < 0) {
        for (int c = 0; c < k; c++) proba[c] = 1.0 / k;
    } else {
        nb = leaf_nb(t, s, x, all_finite(x, t->d), proba);
        if (h[H_NB] >= h[H_MC]) {
            best = nb;
            double top = proba[nb], sum = 0;
            for (int c = 0; c < k; c++) sum += proba[c] = exp(proba[c] - top);
            for (int c = 0; c < k; c++) proba[c] /= sum;
        } else {
            best = mc;
            const double *n = h + H_COUNTS;
            for (int c = 0; c < k; c++) proba[c] = n[c] > 0 ? n[c] / h[H_TOTAL] : 0;
        }
    }
    if (hint) *hint = (learn_tree_hint){.node = i, .slot = s, .mc = mc, .nb = nb, .pred = best};
    return best;
}

int learn_tree_proba(const learn_tree *t, const double *x, double *proba)
{
    return learn_tree_proba_hint(t, x, proba, NULL);
}

int learn_tree_predict(const learn_tree *t, const double *x)
{
    int32_t s = tree_find(t, x, NULL);
    const double *h = leaf_head(t, s);
    int mc = leaf_mc(t, s);
    if (mc < 0) return 0;
    if (h[H_NB] >= h[H_MC]) {
        double score[LEARN_TREE_MAXC];
        return leaf_nb(t, s, x, all_finite(x, t->d), score);
    }
    return mc;
}

/* The weight of a class's values below v, by its Gaussian's CDF (weight w, range lo..hi, mean,
 * is = 1 / (sigma sqrt 2), 0 for no spread). Single precision, as the gains (see xlogx); past
 * |z| = 6 erf is +-1: no call. */
static double weight_below(double w, double lo, double hi, double mean, double is, double v)
{
    if (!(w > 0) || v < lo) return 0;
    if (v >= hi) return w;
    if (!(is > 0)) return v >= mean ? w : 0;
    double z = (v - mean) * is;
    if (z >= 6) return w;
    if (z <= -6) return 0;
    return 0.5 * (1 + erf(z)) * w;
}

/* sum n log2 n over the k values of dist, and their total. The logarithms are single
 * precision (log2f, a third the cost of log2: split attempts take six per candidate threshold):
 * a gain is then good to about 1e-7, far below any difference the Hoeffding bound can tell. */
static double xlogx(const double *dist, int k, double *total)
{
    double s = 0, w = 0;
    for (int c = 0; c < k; c++)
        if (dist[c] > 0) {
            s += dist[c] * log2f((float)dist[c]);
            w += dist[c];
        }
    *total = w;
    return s;
}

/* Information gain of splitting a leaf of entropy hpre into left and right (River's
 * InfoGainSplitCriterion with min_branch_fraction 0.01): -inf when either side holds no more
 * than 1 % of the weight. */
static double info_gain(double hpre, const double *left, const double *right, int k)
{
    double wl, wr;
    double sl = xlogx(left, k, &wl), sr = xlogx(right, k, &wr);
    double w = wl + wr;
    if (!(w > 0) || !(wl / w > 0.01) || !(wr / w > 0.01)) return -INFINITY;
    double post = (wl * log2f((float)wl) - sl + wr * log2f((float)wr) - sr) / w;
    return hpre - post;
}

/* A split attempt at the leaf of node i, slot s (its weight reached the grace period). */
static void leaf_attempt(learn_tree *t, int32_t i, int32_t s)
{
    double *h = leaf_head(t, s);
    int k = t->k, d = t->d;
    h[H_LAST] = h[H_TOTAL];
    if (t->n_nodes + 2 > t->o.max_nodes) return;
    if (t->o.max_depth > 0 && h[H_DEPTH] >= t->o.max_depth) return;
    const double *pre = h + H_COUNTS;
    int seen = 0;
    for (int c = 0; c < k; c++) seen += pre[c] > 0;
    if (seen < 2) return;
    double wpre, hpre = 0;
    double spre = xlogx(pre, k, &wpre);
    hpre = log2(wpre) - spre / wpre;

    /* The features to try: all, or a random subspace (a partial Fisher-Yates shuffle). */
    int m = d;
    for (int f = 0; f < d; f++) t->scratch[f] = f;
    if (t->o.subspace > 0 && t->o.subspace < d) {
        m = t->o.subspace;
        for (int j = 0; j < m; j++) {
            int r = j + (int)rng_below(&t->r, (uint64_t)(d - j));
            int32_t tmp = t->scratch[j];
            t->scratch[j] = t->scratch[r];
            t->scratch[r] = tmp;
        }
    }
    double best = -INFINITY, second = 0; /* 0: the merit of not splitting */
    int32_t bf = -1;
    double bthr = 0, bl[LEARN_TREE_MAXC], br[LEARN_TREE_MAXC];
    for (int j = 0; j < m; j++) {
        int f = t->scratch[j];
        double lo = INFINITY, hi = -INFINITY;
        for (int c = 0; c < k; c++) {
            const tree_gauss *g = leaf_gauss(t, s, c) + f;
            if (!(g->w > 0)) continue;
            if (g->lo < lo) lo = g->lo;
            if (g->hi > hi) hi = g->hi;
        }
        if (!(lo < hi)) continue;
        /* Per class: its weight, range, mean and 1 / (sigma sqrt 2) (0: no spread). */
        double cw[LEARN_TREE_MAXC], clo[LEARN_TREE_MAXC], chi[LEARN_TREE_MAXC];
        double cmean[LEARN_TREE_MAXC], cis[LEARN_TREE_MAXC];
        for (int c = 0; c < k; c++) {
            const tree_gauss *g = leaf_gauss(t, s, c) + f;
            cw[c] = g->w > 0 ? g->w : 0;
            clo[c] = g->lo;
            chi[c] = g->hi;
            cmean[c] = g->mean;
            double var = g->w > 1 ? g->m2 / (g->w - 1) : 0;
            cis[c] = var > 0 ? 1 / sqrt(2 * var) : 0;
        }
        double fbest = -INFINITY, fthr = 0, fl[LEARN_TREE_MAXC], fr[LEARN_TREE_MAXC];
        double step = (hi - lo) / (t->o.n_splits + 1);
        for (int q = 1; q <= t->o.n_splits; q++) {
            double v = lo + q * step, left[LEARN_TREE_MAXC], right[LEARN_TREE_MAXC];
            for (int c = 0; c < k; c++) {
                left[c] = weight_below(cw[c], clo[c], chi[c], cmean[c], cis[c], v);
                right[c] = cw[c] - left[c];
            }
            double merit = info_gain(hpre, left, right, k);
            if (merit > fbest) {
                fbest = merit;
                fthr = v;
                memcpy(fl, left, (size_t)k * sizeof *fl);
                memcpy(fr, right, (size_t)k * sizeof *fr);
            }
        }
        if (fbest > best) {
            if (best > second) second = best;
            best = fbest;
            bf = f;
            bthr = fthr;
            memcpy(bl, fl, (size_t)k * sizeof *bl);
            memcpy(br, fr, (size_t)k * sizeof *br);
        } else if (fbest > second) {
            second = fbest;
        }
    }
    if (bf < 0 || !(best > 0)) return;
    double range = log2(seen > 2 ? seen : 2);
    double bound = sqrt(range * range * log(1 / t->o.delta) / (2 * wpre));
    if (!(best - second > bound || bound < t->o.tau)) return;

    int32_t child = t->n_nodes, depth = (int32_t)h[H_DEPTH] + 1, rs = t->n_leaves;
    t->n_nodes += 2;
    t->n_leaves++;
    t->node[i] = (tree_node){.thr = bthr, .feat = bf, .ref = child};
    t->node[child] = (tree_node){.thr = 0, .feat = -1, .ref = s};
    t->node[child + 1] = (tree_node){.thr = 0, .feat = -1, .ref = rs};
    leaf_init(t, s, depth, bl); /* h is overwritten here: bl and br are copies */
    leaf_init(t, rs, depth, br);
}

/* Welford's update of g with x of weight w. */
static void gauss_add(tree_gauss *g, double x, double w)
{
    if (!(g->w > 0)) {
        g->lo = g->hi = x;
    } else {
        if (x < g->lo) g->lo = x;
        if (x > g->hi) g->hi = x;
    }
    g->w += w;
    double dx = x - g->mean;
    g->mean += w * dx / g->w;
    g->m2 += w * dx * (x - g->mean);
    if (g->m2 < 0) g->m2 = 0;
    /* 1 / variance, River's (ddof 1); 0 for none, or one so small its inverse would overflow */
    g->ivar = g->w > 1 && g->m2 > 1e-300 * (g->w - 1) ? (g->w - 1) / g->m2 : 0;
}

int learn_tree_learn(learn_tree *t, const double *x, int y, double w)
{
    return learn_tree_learn_hint(t, x, y, w, NULL);
}

int learn_tree_learn_hint(learn_tree *t, const double *x, int y, double w, const learn_tree_hint *hint)
{
    if (y < 0 || y >= t->k || !(w > 0) || !isfinite(w)) return -1;
    int k = t->k, d = t->d, fin = all_finite(x, d);
    int32_t i, s;
    int mc, nb;
    if (hint) {
        i = hint->node;
        s = hint->slot;
        mc = hint->mc;
        nb = hint->nb;
    } else {
        double score[LEARN_TREE_MAXC];
        s = tree_find(t, x, &i);
        mc = leaf_mc(t, s);
        nb = mc >= 0 ? leaf_nb(t, s, x, fin, score) : -1;
    }
    double *h = leaf_head(t, s);

    /* Naive Bayes adaptive: which of the two would have been right, before learning x. */
    if (mc < 0 || mc == y) h[H_MC] += w;
    if (nb == y) h[H_NB] += w;

    h[H_COUNTS + y] += w;
    h[H_TOTAL] += w;
    t->weight += w;

    /* The Gaussians of class y, and its naive Bayes constant, log(n) + 1/2 sum log(1 / var) -
     * nvar/2 log(2 pi) = 1/2 log(n^2 prod(1 / var)) - ..., by one log of a running product
     * (renormalised when far from 1). */
    tree_gauss *g = leaf_gauss(t, s, y);
    double n = h[H_COUNTS + y], prod = n < 1e50 ? n * n : 1, logs = n < 1e50 ? 0 : 2 * log(n);
    int nvar = 0;
    for (int f = 0; f < d; f++) {
        if (fin || isfinite(x[f])) gauss_add(g + f, x[f], w);
        double iv = g[f].ivar;
        if (!(iv > 0)) continue;
        nvar++;
        if (iv > 1e100 || iv < 1e-100) {
            logs += log(iv);
        } else {
            prod *= iv; /* stays within 1e+-200 */
            if (prod > 1e100 || prod < 1e-100) {
                logs += log(prod);
                prod = 1;
            }
        }
    }
    h[H_COUNTS + k + y] = 0.5 * (logs + log(prod) - nvar * LOG_2PI);

    if (h[H_TOTAL] - h[H_LAST] >= t->o.grace) leaf_attempt(t, i, s);
    return 0;
}

void learn_tree_get_stats(const learn_tree *t, learn_tree_stats *st)
{
    memset(st, 0, sizeof *st);
    st->features = t->d;
    st->classes = t->k;
    st->opts = t->o;
    st->nodes = t->n_nodes;
    st->leaves = t->n_leaves;
    st->full = t->n_nodes + 2 > t->o.max_nodes;
    st->weight = t->weight;
    st->bytes = t->bytes;
    for (int32_t i = 0; i < t->n_nodes; i++)
        if (t->node[i].feat < 0) {
            int32_t dep = (int32_t)leaf_head(t, t->node[i].ref)[H_DEPTH];
            if (dep > st->depth) st->depth = dep;
        }
}

/* ---- the byte codec ---- */

void learn_tree_put_u32(buf *b, uint32_t v)
{
    uint8_t *p = buf_reserve(b, 4);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    buf_commit(b, 4);
}

void learn_tree_put_u64(buf *b, uint64_t v)
{
    uint8_t *p = buf_reserve(b, 8);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
    buf_commit(b, 8);
}

void learn_tree_put_f64(buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    learn_tree_put_u64(b, u);
}

uint32_t learn_tree_get_u32(learn_tree_rd *r)
{
    if (!r->ok || r->n - r->off < 4) {
        r->ok = 0;
        return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += 4;
    return v;
}

uint64_t learn_tree_get_u64(learn_tree_rd *r)
{
    if (!r->ok || r->n - r->off < 8) {
        r->ok = 0;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)r->p[r->off + (size_t)i] << (8 * i);
    r->off += 8;
    return v;
}

double learn_tree_get_f64(learn_tree_rd *r)
{
    uint64_t u = learn_tree_get_u64(r);
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

uint64_t learn_tree_fnv(const uint8_t *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* ---- save and load ----
 * Blob: magic, version, d, k, the options, n_nodes, n_leaves, weight, the rng state, the nodes
 * (feature, ref, threshold), the leaf slots (header, then k x d Gaussians), and an FNV-1a
 * checksum of all that precedes it. */

size_t learn_tree_save(const learn_tree *t, buf *out)
{
    size_t start = out->len;
    learn_tree_put_u32(out, TREE_MAGIC);
    learn_tree_put_u32(out, TREE_VERSION);
    learn_tree_put_u32(out, (uint32_t)t->d);
    learn_tree_put_u32(out, (uint32_t)t->k);
    learn_tree_put_u32(out, (uint32_t)t->o.grace);
    learn_tree_put_u32(out, (uint32_t)t->o.n_splits);
    learn_tree_put_f64(out, t->o.delta);
    learn_tree_put_f64(out, t->o.tau);
    learn_tree_put_u32(out, (uint32_t)t->o.max_nodes);
    learn_tree_put_u32(out, (uint32_t)t->o.max_depth);
    learn_tree_put_u32(out, (uint32_t)t->o.subspace);
    learn_tree_put_u32(out, (uint32_t)t->n_nodes);
    learn_tree_put_u32(out, (uint32_t)t->n_leaves);
    learn_tree_put_f64(out, t->weight);
    for (int i = 0; i < 4; i++) learn_tree_put_u64(out, t->r.s[i]);
    for (int32_t i = 0; i < t->n_nodes; i++) {
        learn_tree_put_u32(out, (uint32_t)t->node[i].feat);
        learn_tree_put_u32(out, (uint32_t)t->node[i].ref);
        learn_tree_put_f64(out, t->node[i].thr);
    }
    for (int32_t s = 0; s < t->n_leaves; s++) {
        const double *h = leaf_head(t, s);
        for (int j = 0; j < t->hstride; j++) learn_tree_put_f64(out, h[j]);
        const tree_gauss *g = leaf_gauss(t, s, 0);
        for (size_t j = 0; j < (size_t)t->k * (size_t)t->d; j++) {
            learn_tree_put_f64(out, g[j].w);
            learn_tree_put_f64(out, g[j].mean);
            learn_tree_put_f64(out, g[j].m2);
            learn_tree_put_f64(out, g[j].ivar);
            learn_tree_put_f64(out, g[j].lo);
            learn_tree_put_f64(out, g[j].hi);
        }
    }
    learn_tree_put_u64(out, learn_tree_fnv(out->data + start, out->len - start));
    return out->len - start;
}

/* The tree structure is sound: a full binary tree whose children follow their parent, every
 * node but the root the child of exactly one node, every slot the leaf of exactly one node. */
static int tree_check_nodes(const learn_tree *t, char *err, size_t errlen)
{
    int rc = 0;
    uint8_t *parented = xcalloc((size_t)t->n_nodes, 1), *slotted = xcalloc((size_t)t->n_leaves, 1);
    for (int32_t i = 0; i < t->n_nodes && !rc; i++) {
        const tree_node *nd = &t->node[i];
        if (nd->feat >= 0) {
            if (nd->feat >= t->d || nd->ref <= i || nd->ref > t->n_nodes - 2 ||
                parented[nd->ref] || parented[nd->ref + 1])
                rc = util_err(err, errlen, "learn_tree: corrupt node %d", (int)i);
            else
                parented[nd->ref] = parented[nd->ref + 1] = 1;
        } else if (nd->feat != -1 || nd->ref < 0 || nd->ref >= t->n_leaves || slotted[nd->ref]) {
            rc = util_err(err, errlen, "learn_tree: corrupt leaf %d", (int)i);
        } else {
            slotted[nd->ref] = 1;
        }
    }
    for (int32_t i = 1; i < t->n_nodes && !rc; i++)
        if (!parented[i]) rc = util_err(err, errlen, "learn_tree: orphan node %d", (int)i);
    free(parented);
    free(slotted);
    return rc;
}

learn_tree *learn_tree_load(const uint8_t *p, size_t n, size_t *used, char *err, size_t errlen)
{
    learn_tree_rd r = {.p = p, .n = n, .off = 0, .ok = 1};
    if (learn_tree_get_u32(&r) != TREE_MAGIC || !r.ok) {
        util_err(err, errlen, "learn_tree: not a tree blob");
        return NULL;
    }
    uint32_t version = learn_tree_get_u32(&r);
    if (r.ok && version != TREE_VERSION) {
        util_err(err, errlen, "learn_tree: blob version %u (this build reads %u)", version, TREE_VERSION);
        return NULL;
    }
    int d = (int)learn_tree_get_u32(&r), k = (int)learn_tree_get_u32(&r);
    learn_tree_opts o;
    o.grace = (int32_t)learn_tree_get_u32(&r);
    o.n_splits = (int32_t)learn_tree_get_u32(&r);
    o.delta = learn_tree_get_f64(&r);
    o.tau = learn_tree_get_f64(&r);
    o.max_nodes = (int32_t)learn_tree_get_u32(&r);
    o.max_depth = (int32_t)learn_tree_get_u32(&r);
    o.subspace = (int32_t)learn_tree_get_u32(&r);
    int32_t nn = (int32_t)learn_tree_get_u32(&r), nl = (int32_t)learn_tree_get_u32(&r);
    if (!r.ok) {
        util_err(err, errlen, "learn_tree: truncated blob");
        return NULL;
    }
    if (tree_check_opts(d, k, &o, err, errlen)) return NULL;
    if (nn < 1 || nn > o.max_nodes || nl < 1 || (int64_t)nn != 2 * (int64_t)nl - 1) {
        util_err(err, errlen, "learn_tree: corrupt blob (%d nodes, %d leaves)", (int)nn, (int)nl);
        return NULL;
    }
    /* The size the rest must have, checked before allocating anything it dictates. */
    size_t hstride = (size_t)(H_COUNTS + 2 * k);
    size_t need = 8 + 32 + (size_t)nn * 16 + (size_t)nl * (hstride * 8 + (size_t)k * (size_t)d * 48) + 8;
    if (n - r.off < need) {
        util_err(err, errlen, "learn_tree: truncated blob");
        return NULL;
    }
    size_t end = r.off + need - 8;
    uint64_t sum = learn_tree_fnv(p, end);
    learn_tree *t = tree_alloc(d, k, &o);
    t->n_nodes = nn;
    t->n_leaves = nl;
    t->weight = learn_tree_get_f64(&r);
    for (int i = 0; i < 4; i++) t->r.s[i] = learn_tree_get_u64(&r);
    for (int32_t i = 0; i < nn; i++) {
        t->node[i].feat = (int32_t)learn_tree_get_u32(&r);
        t->node[i].ref = (int32_t)learn_tree_get_u32(&r);
        t->node[i].thr = learn_tree_get_f64(&r);
    }
    for (int32_t s = 0; s < nl; s++) {
        double *h = leaf_head(t, s);
        for (size_t j = 0; j < hstride; j++) h[j] = learn_tree_get_f64(&r);
        tree_gauss *g = leaf_gauss(t, s, 0);
        for (size_t j = 0; j < (size_t)k * (size_t)d; j++) {
            g[j].w = learn_tree_get_f64(&r);
            g[j].mean = learn_tree_get_f64(&r);
            g[j].m2 = learn_tree_get_f64(&r);
            g[j].ivar = learn_tree_get_f64(&r);
            g[j].lo = learn_tree_get_f64(&r);
            g[j].hi = learn_tree_get_f64(&r);
        }
    }
    uint64_t stored = learn_tree_get_u64(&r);
    if (!r.ok || r.off != end + 8 || stored != sum) {
        util_err(err, errlen, "learn_tree: corrupt blob (checksum)");
        learn_tree_free(t);
        return NULL;
    }
    if (tree_check_nodes(t, err, errlen)) {
        learn_tree_free(t);
        return NULL;
    }
    if (used) *used = r.off;
    return t;
}
