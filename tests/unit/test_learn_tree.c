/* Unit tests for learn_tree: the tree learns an axis-aligned rule under label noise (close to the
 * Bayes rate, by splitting), a Gaussian concept from its leaves' naive Bayes before any split, a
 * full pool stops splitting but not learning, max_depth holds, non-finite features and bad
 * arguments are handled, the same seed gives the same tree, and a saved tree loads and continues
 * exactly while truncated, corrupted or forged blobs are refused. Randomised: the seed is printed
 * and PGPULSE_TEST_SEED replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "learn_tree.h"
#include "rng.h"
#include "seed.h"

static uint64_t seed;

/* Four uniform features in [0, 1); y = x0 > 0.3 && x1 < 0.6, flipped with probability noise. */
static int rule_record(rng *r, double *x, double noise)
{
    for (int i = 0; i < 4; i++) x[i] = rng_uniform(r);
    int y = x[0] > 0.3 && x[1] < 0.6;
    if (rng_uniform(r) < noise) y = !y;
    return y;
}

/* Prequential accuracy of t over the records [from, n) of a rule stream. */
static double rule_run(learn_tree *t, uint64_t stream, int n, int from, double noise)
{
    rng r;
    rng_seed(&r, seed, stream);
    int right = 0;
    for (int k = 0; k < n; k++) {
        double x[4], p[2];
        int y = rule_record(&r, x, noise);
        int c = learn_tree_proba(t, x, p);
        assert_true(fabs(p[0] + p[1] - 1) < 1e-12);
        if (k >= from) right += c == y;
        assert_int_equal(learn_tree_learn(t, x, y, 1), 0);
    }
    return (double)right / (n - from);
}

/* 5 % noise: the Bayes accuracy is 0.95; a tree that found both cuts gets close to it (0.934 to
 * 0.95 over 30 seeds). */
static void test_learns_a_rule(void **state)
{
    (void)state;
    char err[256];
    learn_tree *t = learn_tree_new(4, 2, NULL, seed, err, sizeof err);
    assert_non_null(t);
    double acc = rule_run(t, 1, 30000, 20000, 0.05);
    learn_tree_stats st;
    learn_tree_get_stats(t, &st);
    print_message("rule: accuracy %.4f over the last 10,000, %d nodes, depth %d\n", acc, st.nodes, st.depth);
    if (acc < 0.92) fail_msg("accuracy %.4f, seed %llu", acc, (unsigned long long)seed);
    assert_true(st.nodes >= 5); /* two cuts at least */
    assert_true(st.weight == 30000);
    learn_tree_free(t);
}

/* Two classes as Gaussians in 3 features, means 1 apart per feature: naive Bayes is the Bayes
 * rule here (Phi(sqrt(3)/2) = 0.807), and the leaves reach it before any split matters. */
static void test_naive_bayes_leaves(void **state)
{
    (void)state;
    learn_tree_opts o;
    learn_tree_opts_default(&o);
    o.max_nodes = 1; /* never splits: the root's naive Bayes alone */
    learn_tree *t = learn_tree_new(3, 2, &o, seed, NULL, 0);
    assert_non_null(t);
    rng r;
    rng_seed(&r, seed, 2);
    int right = 0;
    for (int k = 0; k < 6000; k++) {
        int y = (int)rng_below(&r, 2);
        double x[3];
        for (int i = 0; i < 3; i++) x[i] = y + rng_normal(&r) + 100; /* any offset */
        if (k >= 1000) right += learn_tree_predict(t, x) == y;
        learn_tree_learn(t, x, y, 1);
    }
    double acc = right / 5000.0;
    if (acc < 0.77) fail_msg("accuracy %.4f (Bayes 0.807), seed %llu", acc, (unsigned long long)seed);
    learn_tree_stats st;
    learn_tree_get_stats(t, &st);
    assert_int_equal(st.nodes, 1);
    learn_tree_free(t);
}

/* A pool of 7 nodes fills (3 splits) and then the tree keeps learning in its leaves. */
static void test_pool_full(void **state)
{
    (void)state;
    learn_tree_opts o;
    learn_tree_opts_default(&o);
    o.max_nodes = 7;
    learn_tree *t = learn_tree_new(4, 2, &o, seed, NULL, 0);
    double acc = rule_run(t, 3, 40000, 30000, 0.0);
    learn_tree_stats st;
    learn_tree_get_stats(t, &st);
    assert_int_equal(st.nodes, 7);
    assert_int_equal(st.leaves, 4);
    assert_int_equal(st.full, 1);
    assert_true(st.weight == 40000);
    /* Three cuts suffice for this rule, and the leaves' naive Bayes helps the rest. */
    if (acc < 0.9) fail_msg("accuracy %.4f with a full pool, seed %llu", acc, (unsigned long long)seed);
    size_t bytes = st.bytes;
    rule_run(t, 4, 5000, 0, 0.0);
    learn_tree_get_stats(t, &st);
    assert_int_equal(st.nodes, 7);
    assert_int_equal(st.bytes, bytes);
    learn_tree_free(t);
}

static void test_max_depth(void **state)
{
    (void)state;
    learn_tree_opts o;
    learn_tree_opts_default(&o);
    o.max_depth = 1;
    learn_tree *t = learn_tree_new(4, 2, &o, seed, NULL, 0);
    rule_run(t, 5, 20000, 0, 0.05);
    learn_tree_stats st;
    learn_tree_get_stats(t, &st);
    assert_int_equal(st.depth, 1);
    assert_int_equal(st.nodes, 3);
    learn_tree_free(t);
}

/* NaN goes left and is skipped by the estimators; infinities are not learned by them either;
 * probabilities stay finite. */
static void test_non_finite(void **state)
{
    (void)state;
    learn_tree *t = learn_tree_new(4, 2, NULL, seed, NULL, 0);
    rule_run(t, 6, 5000, 0, 0.0);
    const double nan_x[4] = {NAN, 0.1, NAN, 0.5}, inf_x[4] = {INFINITY, -INFINITY, 0.5, 0.5};
    double p[2];
    for (int k = 0; k < 1000; k++) {
        assert_int_equal(learn_tree_learn(t, nan_x, k & 1, 1), 0);
        assert_int_equal(learn_tree_learn(t, inf_x, 1, 2.5), 0);
    }
    learn_tree_proba(t, nan_x, p);
    assert_true(isfinite(p[0]) && isfinite(p[1]) && fabs(p[0] + p[1] - 1) < 1e-12);
    learn_tree_proba(t, inf_x, p);
    assert_true(isfinite(p[0]) && isfinite(p[1]) && fabs(p[0] + p[1] - 1) < 1e-12);
    /* The tree still predicts the rule on finite records. */
    double acc = rule_run(t, 7, 3000, 0, 0.0);
    if (acc < 0.9) fail_msg("accuracy %.4f after non-finite records, seed %llu", acc, (unsigned long long)seed);
    learn_tree_free(t);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char err[256] = "";
    learn_tree_opts o;
    learn_tree_opts_default(&o);
    assert_null(learn_tree_new(0, 2, &o, 1, err, sizeof err));
    assert_true(strstr(err, "features") != NULL);
    assert_null(learn_tree_new(4, 1, &o, 1, err, sizeof err));
    assert_null(learn_tree_new(4, LEARN_TREE_MAXC + 1, &o, 1, err, sizeof err));
    o.grace = 0;
    assert_null(learn_tree_new(4, 2, &o, 1, err, sizeof err));
    learn_tree_opts_default(&o);
    o.delta = 1;
    assert_null(learn_tree_new(4, 2, &o, 1, err, sizeof err));
    learn_tree_opts_default(&o);
    o.max_nodes = 0;
    assert_null(learn_tree_new(4, 2, &o, 1, err, sizeof err));
    learn_tree_opts_default(&o);
    o.subspace = 5;
    assert_null(learn_tree_new(4, 2, &o, 1, err, sizeof err));

    learn_tree *t = learn_tree_new(4, 3, NULL, 1, err, sizeof err);
    const double x[4] = {0.1, 0.2, 0.3, 0.4};
    double p[3];
    assert_int_equal(learn_tree_proba(t, x, p), 0); /* empty: uniform */
    assert_true(p[0] == 1.0 / 3 && p[1] == 1.0 / 3 && p[2] == 1.0 / 3);
    assert_int_equal(learn_tree_learn(t, x, 3, 1), -1);
    assert_int_equal(learn_tree_learn(t, x, -1, 1), -1);
    assert_int_equal(learn_tree_learn(t, x, 1, 0), -1);
    assert_int_equal(learn_tree_learn(t, x, 1, NAN), -1);
    assert_int_equal(learn_tree_learn(t, x, 1, INFINITY), -1);
    learn_tree_stats st;
    learn_tree_get_stats(t, &st);
    assert_true(st.weight == 0);
    assert_int_equal(learn_tree_learn(t, x, 2, 1), 0);
    assert_int_equal(learn_tree_predict(t, x), 2);
    learn_tree_free(t);
    learn_tree_free(NULL);
}

/* A tree trained on a noisy rule with a random subspace of 2 of 4 features per attempt. */
static learn_tree *trained(uint64_t stream, int n)
{
    learn_tree_opts o;
    learn_tree_opts_default(&o);
    o.subspace = 2;
    o.grace = 50;
    learn_tree *t = learn_tree_new(4, 2, &o, seed, NULL, 0);
    rule_run(t, stream, n, 0, 0.1);
    return t;
}

static void test_deterministic(void **state)
{
    (void)state;
    learn_tree *a = trained(8, 8000), *b = trained(8, 8000);
    buf ba = {0}, bb = {0};
    learn_tree_save(a, &ba);
    learn_tree_save(b, &bb);
    assert_int_equal(ba.len, bb.len);
    assert_memory_equal(ba.data, bb.data, ba.len);
    buf_free(&ba);
    buf_free(&bb);
    learn_tree_free(a);
    learn_tree_free(b);
}

static void test_save_load_continues(void **state)
{
    (void)state;
    learn_tree *a = trained(9, 6000);
    buf blob = {0};
    size_t len = learn_tree_save(a, &blob), used = 0;
    assert_int_equal(len, blob.len);
    char err[256];
    learn_tree *b = learn_tree_load(blob.data, blob.len, &used, err, sizeof err);
    if (!b) fail_msg("%s", err);
    assert_int_equal(used, blob.len);
    rng r;
    rng_seed(&r, seed, 10);
    for (int k = 0; k < 6000; k++) {
        double x[4], pa[2], pb[2];
        int y = rule_record(&r, x, 0.1);
        assert_int_equal(learn_tree_proba(a, x, pa), learn_tree_proba(b, x, pb));
        if (memcmp(pa, pb, sizeof pa)) fail_msg("the loaded tree diverged at %d", k);
        learn_tree_learn(a, x, y, 1 + (k % 3));
        learn_tree_learn(b, x, y, 1 + (k % 3));
    }
    buf ba = {0}, bb = {0};
    learn_tree_save(a, &ba);
    learn_tree_save(b, &bb);
    assert_int_equal(ba.len, bb.len);
    assert_memory_equal(ba.data, bb.data, ba.len);
    buf_free(&ba);
    buf_free(&bb);
    buf_free(&blob);
    learn_tree_free(a);
    learn_tree_free(b);
}

/* Recomputes the checksum of a tree blob after a deliberate change. */
static void reseal(buf *b)
{
    uint64_t h = learn_tree_fnv(b->data, b->len - 8);
    for (int i = 0; i < 8; i++) b->data[b->len - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
}

static void test_corrupt_blobs(void **state)
{
    (void)state;
    learn_tree *a = trained(11, 3000);
    learn_tree_stats st;
    learn_tree_get_stats(a, &st);
    assert_true(st.nodes >= 3);
    buf blob = {0};
    learn_tree_save(a, &blob);
    char err[256];
    size_t used;
    /* Every truncation, read from a heap copy of exactly that size (ASan sees any overread). */
    for (size_t n = 0; n < blob.len; n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, blob.data, n);
        learn_tree *t = learn_tree_load(p, n, &used, err, sizeof err);
        if (t) fail_msg("a blob truncated to %zu of %zu bytes loaded", n, blob.len);
        free(p);
    }
    /* Every single flipped byte: the checksum (or the header checks) refuse it. */
    for (size_t i = 0; i < blob.len; i++) {
        blob.data[i] ^= 0x5a;
        learn_tree *t = learn_tree_load(blob.data, blob.len, &used, err, sizeof err);
        if (t) fail_msg("a blob with byte %zu flipped loaded", i);
        blob.data[i] ^= 0x5a;
    }
    /* Forged blobs with a valid checksum: a child pointing back at the root, a feature out of
     * range, a leaf slot out of range, a node count that does not fit the leaves. Node 0 starts
     * after the 100-byte header; n_nodes is at 52. */
    const size_t node0 = 4 * 4 + 2 * 4 + 2 * 8 + 5 * 4 + 8 + 32;
    assert_true(blob.data[node0] < 4); /* the root splits on a feature */
    const struct { size_t off; uint8_t v; } forge[] = {
        {node0 + 4, 0},            /* root's left child = the root */
        {node0, 9},                /* root's feature 9 of 4 */
        {node0 + 16 + 4, 0x7f},    /* node 1: a slot far out of range */
        {52, 200},                 /* n_nodes 200 */
    };
    for (size_t j = 0; j < sizeof forge / sizeof forge[0]; j++) {
        buf c = {0};
        buf_append(&c, blob.data, blob.len);
        c.data[forge[j].off] = forge[j].v;
        reseal(&c);
        learn_tree *t = learn_tree_load(c.data, c.len, &used, err, sizeof err);
        if (t) fail_msg("forged blob %zu loaded", j);
        print_message("forged blob %zu: %s\n", j, err);
        buf_free(&c);
    }
    /* The intact blob still loads; with trailing bytes it reports how much it used. */
    buf_append(&blob, "xyz", 3);
    learn_tree *t = learn_tree_load(blob.data, blob.len, &used, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(used, blob.len - 3);
    learn_tree_free(t);
    buf_free(&blob);
    learn_tree_free(a);
}

int main(void)
{
    seed = test_seed();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_a_rule),
        cmocka_unit_test(test_naive_bayes_leaves),
        cmocka_unit_test(test_pool_full),
        cmocka_unit_test(test_max_depth),
        cmocka_unit_test(test_non_finite),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_save_load_continues),
        cmocka_unit_test(test_corrupt_blobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
