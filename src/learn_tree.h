/* learn_tree: an online decision tree classifier — the Hoeffding tree (VFDT: Domingos and
 * Hulten, "Mining high-speed data streams", 2000) as River's HoeffdingTreeClassifier builds it,
 * the base learner of learn_forest (issue 11).
 *
 * Features are numbers (the caller one-hot encodes or hashes categories); classes are
 * 0..nclasses-1, nclasses <= LEARN_TREE_MAXC. Every leaf keeps, per class, the weight it saw
 * and, per feature, a Gaussian of the values (weighted Welford: weight, mean, M2) with their
 * minimum and maximum. Each time a leaf has taken `grace` more weight it tries to split: for
 * every feature, n_splits thresholds evenly spaced between the smallest and largest value seen
 * there, the class weights on either side estimated from the Gaussians' CDFs, scored by
 * information gain (a side under 1 % of the weight disqualifies a threshold). The leaf splits on
 * the best feature when its gain beats the second best's (or not splitting, gain 0) by more than
 * the Hoeffding bound sqrt(R^2 ln(1/delta) / 2n), R = log2(classes seen), n = the leaf's
 * weight — or when that bound has shrunk below tau (a tie). The two new leaves start from the
 * class weights the split estimated for them, with empty Gaussians.
 *
 * Leaves predict "naive Bayes adaptive": each leaf counts the weight that its majority class
 * and its naive Bayes (the Gaussians) would have predicted right, before learning each record,
 * and predicts with the better one (naive Bayes on a tie).
 *
 * Bounded memory: the nodes come from a pool of max_nodes allocated by learn_tree_new, and
 * nothing is allocated afterwards. When the pool cannot hold two more nodes, or a leaf is at
 * max_depth, leaves stop splitting but keep learning.
 *
 * Non-finite values: a NaN feature goes down the left branch (x <= threshold is false for NaN,
 * so the rule is written "left unless x > threshold") and is skipped by the Gaussians and by
 * naive Bayes; +-inf compare as usual but are skipped by the Gaussians.
 *
 * Deterministic: the same seed and the same records give the same tree, bit for bit. A tree is
 * not thread-safe; distinct trees are independent. */
#ifndef PGPULSE_LEARN_TREE_H
#define PGPULSE_LEARN_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define LEARN_TREE_MAXC 16           /* classes, at most */
#define LEARN_TREE_MAXD 4096         /* features, at most */
#define LEARN_TREE_MAXNODES (1 << 24) /* max_nodes, at most */

typedef struct learn_tree_opts {
    int32_t grace;     /* weight a leaf takes between split attempts (200) */
    int32_t n_splits;  /* candidate thresholds per feature (10) */
    double delta;      /* a split is right with probability 1 - delta (1e-7) */
    double tau;        /* tie threshold: split when the Hoeffding bound is below it (0.05) */
    int32_t max_nodes; /* node pool, internal nodes and leaves (1023; 1..LEARN_TREE_MAXNODES) */
    int32_t max_depth; /* leaves at this depth do not split (0: no limit; the root is depth 0) */
    int32_t subspace;  /* features a split attempt considers, drawn afresh per attempt
                          (random subspaces as in adaptive random forests; 0: all) */
} learn_tree_opts;

typedef struct learn_tree learn_tree;

/* Fills o with the defaults above. */
void learn_tree_opts_default(learn_tree_opts *o);

/* A tree of one empty leaf for d features (1..LEARN_TREE_MAXD) and nclasses classes
 * (2..LEARN_TREE_MAXC), with options o (NULL: the defaults) and a seed for the random
 * subspaces. Allocates everything the tree will ever use. Returns NULL with a message in err for
 * a bad argument. Free with learn_tree_free. */
learn_tree *learn_tree_new(int d, int nclasses, const learn_tree_opts *o, uint64_t seed,
                           char *err, size_t errlen);

/* Releases t (NULL-safe). */
void learn_tree_free(learn_tree *t);

/* Forgets everything learned (back to one empty leaf), keeping the options and the pool; the
 * random subspaces continue from seed's stream number `stream` (a reset tree draws afresh). */
void learn_tree_reset(learn_tree *t, uint64_t seed, uint64_t stream);

/* Writes the class probabilities for x into proba[nclasses] (they sum to 1; uniform before any
 * record) and returns the most probable class (the lowest on a tie). */
int learn_tree_proba(const learn_tree *t, const double *x, double *proba);

/* The predicted class for x (learn_tree_proba's return, without the probabilities). */
int learn_tree_predict(const learn_tree *t, const double *x);

/* Learns x with class y and weight w (1 for plain learning; a bagging count or any positive
 * real). Returns 0, or -1 (nothing learned) when y is not a class or w is not finite and > 0. */
int learn_tree_learn(learn_tree *t, const double *x, int y, double w);

/* What a prediction found for x: the leaf, and its two predictors' classes. Learning the same x
 * right after predicting it (the prequential loop) can pass it on and skip the walk and the
 * leaf's predictions. */
typedef struct learn_tree_hint {
    int32_t node, slot; /* the leaf x fell in */
    int32_t mc, nb;     /* the majority class and naive Bayes's, -1 for a leaf of no weight */
    int32_t pred;       /* learn_tree_proba's return */
} learn_tree_hint;

/* learn_tree_proba, also filling *hint. */
int learn_tree_proba_hint(const learn_tree *t, const double *x, double *proba, learn_tree_hint *hint);

/* learn_tree_learn with the hint a learn_tree_proba_hint of the same x filled, the tree
 * unchanged since (hint NULL: none). A stale hint is a caller's bug (wrong statistics, never a
 * bad memory access as long as the hint came from this tree's current pool). */
int learn_tree_learn_hint(learn_tree *t, const double *x, int y, double w, const learn_tree_hint *hint);

typedef struct learn_tree_stats {
    int32_t features, classes;
    learn_tree_opts opts;
    int32_t nodes;      /* nodes in use (internal and leaves) */
    int32_t leaves;
    int32_t depth;      /* of the deepest leaf */
    int32_t full;       /* 1 when the pool has no room for another split */
    double weight;      /* weight learned */
    size_t bytes;       /* memory allocated by learn_tree_new, fixed for the tree's life */
} learn_tree_stats;

void learn_tree_get_stats(const learn_tree *t, learn_tree_stats *s);

/* Appends t to out (a versioned, checksummed blob of the nodes in use); returns the bytes
 * appended. */
size_t learn_tree_save(const learn_tree *t, buf *out);

/* A tree from a blob written by learn_tree_save, at p with n bytes available; sets *used to the
 * bytes it took. It continues exactly as the saved tree would have. Returns NULL with a message
 * in err for a truncated, corrupt or foreign blob (never reads past n). */
learn_tree *learn_tree_load(const uint8_t *p, size_t n, size_t *used, char *err, size_t errlen);

/* Byte codec shared with learn_forest: little-endian fixed-width values and an FNV-1a checksum.
 * A learn_tree_rd never reads past its end; after a short read its ok is 0 and values read as
 * zero. */
typedef struct learn_tree_rd {
    const uint8_t *p;
    size_t n, off;
    int ok;
} learn_tree_rd;

void learn_tree_put_u32(buf *b, uint32_t v);
void learn_tree_put_u64(buf *b, uint64_t v);
void learn_tree_put_f64(buf *b, double v);
uint32_t learn_tree_get_u32(learn_tree_rd *r);
uint64_t learn_tree_get_u64(learn_tree_rd *r);
double learn_tree_get_f64(learn_tree_rd *r);
uint64_t learn_tree_fnv(const uint8_t *p, size_t n);

#endif
