/* Unit tests for genprof: the built-in profile, the JSON round trip (in memory and through a
 * file), the messages for broken profiles, fitting (a synthetic duty cycle, and the inputs it
 * refuses), and the helper genprof_table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "genprof.h"

/* cmocka compares only floats; this compares doubles and says what differed. */
#define assert_near(got, want, tol) assert_near_at((got), (want), (tol), #got, __LINE__)

static void assert_near_at(double got, double want, double tol, const char *what, int line)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("line %d: %s = %.17g, want %.17g (+- %g)", line, what, got, want, tol);
}

#define assert_contains(text, part)                                                                \
    do {                                                                                           \
        if (!strstr((text), (part))) fail_msg("'%s' does not contain '%s'", (text), (part));       \
    } while (0)

static void assert_nondecreasing(const double *q, size_t n, const char *name)
{
    for (size_t i = 1; i < n; i++)
        if (q[i] < q[i - 1]) fail_msg("%s decreases at %zu: %g < %g", name, i, q[i], q[i - 1]);
}

/* ---- the built-in profile ---- */

static void test_default_profile(void **state)
{
    (void)state;
    genprof p;
    genprof_default(&p);
    assert_contains(p.source, "RMBR4-2_export_test.csv");
    assert_nondecreasing(p.interval_q, GENPROF_QN, "interval_q");
    assert_nondecreasing(p.gap_q, GENPROF_SN, "gap_q");
    assert_nondecreasing(p.idle_q, GENPROF_QN, "idle_q");
    /* The workshop's sampling: median 1.891 s, min 1.714 s, no interval counted as a gap. */
    assert_near(p.interval_q[GENPROF_QN / 2], 1.891, 0.001);
    assert_near(p.interval_q[0], 1.714, 0.001);
    assert_true(p.interval_q[GENPROF_QN - 1] <= GENPROF_GAP_S);
    assert_true(p.gap_prob > 0 && p.gap_prob < 0.01);
    assert_true(p.gap_q[0] > GENPROF_GAP_S);
    /* Gaps of about 33 s, 333 s and 403 s. */
    assert_near(p.gap_q[0], 33, 1);
    assert_near(p.gap_q[GENPROF_SN - 1], 403, 1);
    assert_true(p.program_s >= 30 && p.program_s <= 35);
    assert_true(p.idle_q[0] > 0);
    /* The file's figures (README): idle share, per-axis std (population: 1e-5 below the
     * README's sample std) and mean. */
    static const double std[READING_AXES] = {2.162120, 6.879962, 5.111901, 1.574897,
                                             2.100186, 1.815498, 2.166811, 0.423075};
    static const double mean[READING_AXES] = {0.725743, 3.613374, 2.710336, 0.620222,
                                              0.954521, 0.599427, 0.870145, 0.102214};
    assert_near(p.target.idle_fraction, 0.6424, 0.00005);
    assert_int_equal(p.target.rows, 39672);
    for (int a = 0; a < READING_AXES; a++) {
        assert_true(p.persist[a] >= 0 && p.persist[a] <= 1);
        assert_true(p.noise[a] > 0 && p.noise[a] <= 0.25);
        assert_near(p.sigma[a], std[a], std[a] * 1e-4);
        assert_near(p.target.mean[a], mean[a], 1e-6);
        assert_near(p.target.std[a], p.sigma[a], 1e-9);
        assert_nondecreasing(p.axis_q[a], GENPROF_QN, "axis_q");
        assert_near(p.axis_q[a][0], 0, 0); /* running rows include zeros on some axes */
        assert_true(p.axis_q[a][GENPROF_QN - 1] > 0);
        assert_near(p.corr[a][a], 1, 1e-9);
        for (int b = 0; b < READING_AXES; b++) {
            assert_near(p.corr[a][b], p.corr[b][a], 1e-9);
            assert_true(fabs(p.corr[a][b]) <= 1 + 1e-9);
        }
    }
    /* Rest edges: about 4 runs in 10 start with an edge row, and as many end with one; the
     * first row has axis 8 alone most often (axes switch on from 8 down), the last axes 1 and 2
     * (they switch off from 8 down, axis 1 last). Axis 3 holds about 6.7 A at an edge. */
    assert_true(p.has_edges);
    for (int e = 0; e < 2; e++) {
        assert_true(p.edge[e].rows_p[0] > 0.5 && p.edge[e].rows_p[0] < 0.65);
        assert_true(p.edge[e].rows_p[1] > 0.35 && p.edge[e].rows_p[1] < 0.45);
        for (int in = 0; in < 2; in++) {
            double sum = 0;
            for (int m = 0; m < GENPROF_MASKS; m++) sum += p.edge[e].mask_p[in][m];
            assert_near(sum, 1, 1e-9);
            assert_near(p.edge[e].mask_p[in][0], 0, 0);
            assert_near(p.edge[e].mask_p[in][GENPROF_MASKS - 1], 0, 0);
        }
    }
    int top[2] = {0, 0};
    for (int e = 0; e < 2; e++)
        for (int m = 0; m < GENPROF_MASKS; m++)
            if (p.edge[e].mask_p[0][m] > p.edge[e].mask_p[0][top[e]]) top[e] = m;
    assert_int_equal(top[GENPROF_EDGE_START], 0x80); /* {8} */
    assert_int_equal(top[GENPROF_EDGE_END], 0x03);   /* {1, 2} */
    assert_near(p.edge_q[2][GENPROF_SN / 2], 6.7, 0.1);
    for (int a = 0; a < READING_AXES; a++) assert_nondecreasing(p.edge_q[a], GENPROF_SN, "edge_q");
    /* The file by number of non-zero axes (calstats.h). */
    assert_near(p.target.nz_share[0], p.target.idle_fraction, 0);
    assert_near(p.target.nz_share[1] * 39672, 120, 1e-6);
    assert_int_equal(p.target.few_rows, 220);
    assert_int_equal(p.target.few_by_run, 220);

    /* The README's maxima are the top of the running-value tables. */
    assert_near(p.axis_q[1][GENPROF_QN - 1], 51.713, 0.001);
    assert_near(p.axis_q[7][GENPROF_QN - 1], 5.906, 0.001);
}

/* ---- JSON ---- */

static void assert_profiles_equal(const genprof *a, const genprof *b, double rel)
{
#define SAME(x, y)                                                                                 \
    do {                                                                                           \
        double x_ = (x), y_ = (y);                                                                 \
        if (!(fabs(x_ - y_) <= rel * fabs(x_))) fail_msg("%s: %.17g != %.17g", #x, x_, y_);        \
    } while (0)
    assert_string_equal(a->source, b->source);
    for (int i = 0; i < GENPROF_QN; i++) {
        SAME(a->interval_q[i], b->interval_q[i]);
        SAME(a->idle_q[i], b->idle_q[i]);
        for (int k = 0; k < READING_AXES; k++)
            SAME(a->axis_q[k][i], b->axis_q[k][i]);
    }
    for (int i = 0; i < GENPROF_SN; i++)
        SAME(a->gap_q[i], b->gap_q[i]);
    SAME(a->gap_prob, b->gap_prob);
    SAME(a->program_s, b->program_s);
    for (int k = 0; k < READING_AXES; k++) {
        SAME(a->persist[k], b->persist[k]);
        SAME(a->noise[k], b->noise[k]);
        SAME(a->sigma[k], b->sigma[k]);
        SAME(a->zero[k], b->zero[k]);
        for (int j = 0; j < READING_AXES; j++)
            SAME(a->corr[k][j], b->corr[k][j]);
        SAME(a->target.mean[k], b->target.mean[k]);
        SAME(a->target.std[k], b->target.std[k]);
        SAME(a->target.nz_p50[k], b->target.nz_p50[k]);
        SAME(a->target.nz_p90[k], b->target.nz_p90[k]);
        SAME(a->target.nz_p99[k], b->target.nz_p99[k]);
        SAME(a->target.lag1[k], b->target.lag1[k]);
    }
    SAME(a->target.idle_fraction, b->target.idle_fraction);
    assert_int_equal(a->target.rows, b->target.rows);
    for (int k = 0; k <= READING_AXES; k++) SAME(a->target.nz_share[k], b->target.nz_share[k]);
    assert_int_equal(a->target.few_rows, b->target.few_rows);
    assert_int_equal(a->target.few_by_run, b->target.few_by_run);
    assert_int_equal(a->has_edges, b->has_edges);
    for (int e = 0; e < 2; e++) {
        for (int k = 0; k <= GENPROF_EDGE_ROWS; k++) SAME(a->edge[e].rows_p[k], b->edge[e].rows_p[k]);
        for (int m = 0; m < GENPROF_MASKS; m++) {
            SAME(a->edge[e].mask_p[0][m], b->edge[e].mask_p[0][m]);
            SAME(a->edge[e].mask_p[1][m], b->edge[e].mask_p[1][m]);
        }
    }
    for (int k = 0; k < READING_AXES; k++)
        for (int i = 0; i < GENPROF_SN; i++) SAME(a->edge_q[k][i], b->edge_q[k][i]);
#undef SAME
}

static void test_json_round_trip(void **state)
{
    (void)state;
    genprof p, q;
    genprof_default(&p);
    /* Values that need all their digits, and a source with characters JSON escapes. */
    p.persist[2] = 0.123456789012345;
    p.corr[0][1] = p.corr[1][0] = -0.3333333333333333;
    p.program_s = 31.000000001;
    snprintf(p.source, sizeof p.source, "robot \"A\"\\export\n%s", "x.csv");
    buf b = {0};
    genprof_write_json(&p, &b);
    char err[512] = "";
    assert_int_equal(genprof_read_json(&q, (const char *)b.data, b.len, err, sizeof err), 0);
    assert_profiles_equal(&p, &q, 1e-9);
    /* Written again, the text is the same: the format is stable. */
    buf b2 = {0};
    genprof_write_json(&q, &b2);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    buf_free(&b);
    buf_free(&b2);
}

static void test_save_load(void **state)
{
    (void)state;
    char path[] = "/tmp/pgpulse-test-genprof-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    genprof p, q;
    genprof_default(&p);
    char err[512] = "";
    assert_int_equal(genprof_save(&p, path, err, sizeof err), 0);
    assert_int_equal(genprof_load(&q, path, err, sizeof err), 0);
    assert_profiles_equal(&p, &q, 1e-9);

    /* A file that is not a profile: the message names the file and the line. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\n  \"version\": 1,\n  oops\n}\n", f);
    fclose(f);
    assert_int_equal(genprof_load(&q, path, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, "line 3");
    unlink(path);

    assert_int_equal(genprof_load(&q, path, err, sizeof err), -1);
    assert_contains(err, path);
    assert_contains(err, "No such file");

    assert_int_equal(genprof_save(&p, "/nonexistent-dir/p.json", err, sizeof err), -1);
    assert_contains(err, "/nonexistent-dir/p.json");
}

/* The default profile as a JSON tree, for breaking it in one place. */
static json_t *default_tree(void)
{
    genprof p;
    genprof_default(&p);
    buf b = {0};
    genprof_write_json(&p, &b);
    json_error_t je;
    json_t *root = json_loadb((const char *)b.data, b.len, 0, &je);
    buf_free(&b);
    assert_non_null(root);
    return root;
}

/* Reads tree (consumed) as a profile; expects failure with every part in the message. */
static void expect_bad(json_t *tree, const char *part1, const char *part2)
{
    char *text = json_dumps(tree, JSON_INDENT(1));
    json_decref(tree);
    assert_non_null(text);
    genprof p;
    char err[512] = "";
    int rc = genprof_read_json(&p, text, strlen(text), err, sizeof err);
    free(text);
    if (rc != -1) fail_msg("a broken profile was accepted (want '%s')", part1);
    assert_contains(err, part1);
    if (part2) assert_contains(err, part2);
}

static void test_json_errors(void **state)
{
    (void)state;
    genprof p;
    char err[512];

    /* Not JSON: line and column. */
    const char *broken = "{\n \"version\": 1,\n \"gap_prob\": 0.1,\n \"x\": [1, 2,\n}\n";
    assert_int_equal(genprof_read_json(&p, broken, strlen(broken), err, sizeof err), -1);
    assert_contains(err, "line 5");
    assert_int_equal(genprof_read_json(&p, "", 0, err, sizeof err), -1);
    assert_contains(err, "line 1");
    assert_int_equal(genprof_read_json(&p, "[1, 2]", 6, err, sizeof err), -1);
    assert_string_equal(err, "the profile must be a JSON object");

    json_t *t = default_tree();
    json_object_set_new(t, "version", json_integer(2));
    expect_bad(t, "\"version\" 2 is not supported", "reads version 1");
    t = default_tree();
    json_object_del(t, "version");
    expect_bad(t, "\"version\"", NULL);

    t = default_tree();
    json_object_del(t, "program_s");
    expect_bad(t, "\"program_s\"", "must be a number");
    t = default_tree();
    json_object_set_new(t, "gap_prob", json_real(0.9));
    expect_bad(t, "\"gap_prob\"", "[0, 0.5]");
    t = default_tree();
    json_object_set_new(t, "gap_q", json_string("none"));
    expect_bad(t, "\"gap_q\" must be an array of 101 numbers", NULL);

    /* Wrong array lengths. */
    t = default_tree();
    json_array_remove(json_object_get(t, "interval_q"), 7);
    expect_bad(t, "\"interval_q\" must be an array of 1001 numbers", NULL);
    t = default_tree();
    json_array_append_new(json_object_get(json_array_get(json_object_get(t, "axes"), 3), "corr"),
                          json_real(0));
    expect_bad(t, "axes[3]", "\"corr\" must be an array of 8 numbers");
    t = default_tree();
    json_array_remove(json_object_get(t, "axes"), 0);
    expect_bad(t, "\"axes\" must be an array of 8 objects", NULL);
    t = default_tree();
    json_array_remove(json_object_get(json_object_get(t, "target"), "lag1"), 0);
    expect_bad(t, "profile: target", "\"lag1\" must be an array of 8 numbers");

    /* A quantile table that decreases, a negative one, a value that is not a number. */
    t = default_tree();
    json_array_set_new(json_object_get(t, "idle_q"), 5, json_real(1.0));
    expect_bad(t, "\"idle_q\" is a quantile table and must not decrease", "element 5");
    t = default_tree();
    json_array_set_new(json_object_get(json_array_get(json_object_get(t, "axes"), 6), "q"), 0,
                       json_real(-1.0));
    expect_bad(t, "axes[6]", "\"q\"[0] must be a finite value >= 0");
    t = default_tree();
    json_array_set_new(json_object_get(t, "interval_q"), 10, json_string("1.9"));
    expect_bad(t, "\"interval_q\"[10] is not a number", NULL);

    /* Missing keys inside an axis, values out of range. */
    t = default_tree();
    json_object_del(json_array_get(json_object_get(t, "axes"), 2), "sigma");
    expect_bad(t, "axes[2]", "\"sigma\"");
    t = default_tree();
    json_object_set_new(json_array_get(json_object_get(t, "axes"), 4), "persist", json_real(1.5));
    expect_bad(t, "axes[4]", "\"persist\" must be a number in [0, 1]");
    t = default_tree();
    json_array_set_new(json_object_get(t, "axes"), 1, json_integer(1));
    expect_bad(t, "axes[1] must be an object", NULL);

    /* A median interval of 0 would never advance the clock. */
    t = default_tree();
    json_t *iq = json_object_get(t, "interval_q");
    for (size_t i = 0; i <= GENPROF_QN / 2; i++)
        json_array_set_new(iq, i, json_real(0));
    expect_bad(t, "the median sampling interval must be > 0", NULL);

    /* Rest edges: checked when present. */
    t = default_tree();
    json_object_set_new(t, "edges", json_array());
    expect_bad(t, "\"edges\" must be an object", NULL);
    t = default_tree();
    json_object_del(json_object_get(t, "edges"), "end");
    expect_bad(t, "edges.end must be an object", NULL);
    t = default_tree();
    json_array_set_new(json_object_get(json_object_get(json_object_get(t, "edges"), "start"), "rows"),
                       0, json_real(0.9));
    expect_bad(t, "edges.start.rows", "must sum to 1");
    t = default_tree();
    json_array_remove(json_object_get(json_object_get(json_object_get(t, "edges"), "start"), "rows"), 3);
    expect_bad(t, "edges.start", "\"rows\" must be an array of 4 numbers");
    json_t *m0;
#define FIRST_MASK(tree, edge, key)                                                                \
    json_array_get(json_object_get(json_object_get(json_object_get(tree, "edges"), edge), key), 0)
    t = default_tree();
    m0 = FIRST_MASK(t, "end", "masks");
    json_array_append_new(json_object_get(m0, "axes"), json_integer(9));
    expect_bad(t, "edges.end.masks[0]", "distinct axis numbers 1..8");
    t = default_tree();
    m0 = FIRST_MASK(t, "start", "inner_masks");
    json_object_set_new(m0, "axes", json_pack("[iiiiiiii]", 1, 2, 3, 4, 5, 6, 7, 8));
    expect_bad(t, "edges.start.inner_masks[0]", "must list 1 to 7 axes");
    t = default_tree();
    m0 = FIRST_MASK(t, "start", "masks");
    json_array_append(json_object_get(json_object_get(json_object_get(t, "edges"), "start"), "masks"),
                      m0);
    expect_bad(t, "edges.start.masks[", "the same axes twice");
    t = default_tree();
    m0 = FIRST_MASK(t, "start", "masks");
    json_object_set_new(m0, "p", json_real(0.01));
    expect_bad(t, "edges.start.masks", "must sum to 1");
    t = default_tree();
    json_array_remove(json_object_get(json_object_get(t, "edges"), "q"), 0);
    expect_bad(t, "edges.q must be an array of 8 quantile tables", NULL);
    t = default_tree();
    json_array_set_new(json_array_get(json_object_get(json_object_get(t, "edges"), "q"), 2), 50,
                       json_real(0));
    expect_bad(t, "edges.q[2]", "must not decrease");
#undef FIRST_MASK

    /* An axis's share of zeros: optional, in [0, 1]; absent, it is unknown (-1). */
    t = default_tree();
    json_object_set_new(json_array_get(json_object_get(t, "axes"), 5), "zero", json_real(1.5));
    expect_bad(t, "axes[5]", "\"zero\" must be a number in [0, 1]");
    t = default_tree();
    json_object_del(json_array_get(json_object_get(t, "axes"), 5), "zero");
    char *nz = json_dumps(t, 0);
    json_decref(t);
    assert_int_equal(genprof_read_json(&p, nz, strlen(nz), err, sizeof err), 0);
    free(nz);
    assert_near(p.zero[5], -1, 0);
    assert_true(p.zero[4] > 0 && p.zero[4] < 0.01);

    /* A profile from before edges (no "edges" key) reads, with none: every run starts and
     * ends with a full row, as then. */
    t = default_tree();
    json_object_del(t, "edges");
    char *old = json_dumps(t, 0);
    json_decref(t);
    assert_int_equal(genprof_read_json(&p, old, strlen(old), err, sizeof err), 0);
    free(old);
    assert_int_equal(p.has_edges, 0);
    buf ob = {0};
    genprof_write_json(&p, &ob);
    buf_append(&ob, "", 1); /* a C string for strstr */
    assert_null(strstr((const char *)ob.data, "\"edges\""));
    buf_free(&ob);

    /* The target is optional, but checked when present; unchanged, the tree reads back. */
    t = default_tree();
    json_object_del(t, "target");
    char *text = json_dumps(t, 0);
    json_decref(t);
    assert_int_equal(genprof_read_json(&p, text, strlen(text), err, sizeof err), 0);
    free(text);
    assert_int_equal(p.target.rows, 0);
    assert_true(p.program_s > 30);
}

/* ---- fitting ---- */

/* A synthetic robot: runs of 15 rows with every axis non-zero, then 10 idle rows, one row
 * every 2 s, n rows. */
static reading *synthetic(size_t n)
{
    reading *rows = calloc(n, sizeof *rows);
    assert_non_null(rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].robot_id = 1;
        rows[i].ts_us = INT64_C(1700000000000000) + (int64_t)i * 2000000;
        if (i % 25 < 15)
            for (int a = 0; a < READING_AXES; a++)
                rows[i].axis[a] = 1 + a + (double)(i % 25) / 10;
    }
    return rows;
}

static void test_fit(void **state)
{
    (void)state;
    size_t n = 5000;
    reading *rows = synthetic(n);
    genprof p;
    char err[512] = "";
    assert_int_equal(genprof_fit(&p, rows, n, "synthetic.csv", err, sizeof err), 0);
    assert_string_equal(p.source, "synthetic.csv");
    assert_int_equal(p.target.rows, n);
    assert_near(p.target.idle_fraction, 0.4, 1e-12);
    for (int i = 0; i < GENPROF_QN; i++)
        assert_near(p.interval_q[i], 2, 0);
    assert_near(p.gap_prob, 0, 0);
    /* A run has 15 rows at 2 s (the mean interval); an idle stretch spans 11 intervals minus
     * the one a running row is sampled in. */
    assert_near(p.program_s, 30, 1e-9);
    assert_near(p.idle_q[0], 20, 1e-9);
    assert_near(p.idle_q[GENPROF_QN - 1], 20, 1e-9);
    for (int a = 0; a < READING_AXES; a++) {
        assert_near(p.axis_q[a][0], 1 + a, 1e-12);
        assert_near(p.axis_q[a][GENPROF_QN - 1], 2.4 + a, 1e-12);
        assert_near(p.persist[a], 0, 0);
        assert_near(p.sigma[a], p.target.std[a], 0);
        /* Every axis moves in step: their normal scores correlate perfectly. */
        for (int b = 0; b < READING_AXES; b++)
            assert_near(p.corr[a][b], 1, 1e-9);
    }

    /* A gap of a minute is a gap, not an interval. */
    for (size_t i = 2500; i < n; i++)
        rows[i].ts_us += 60000000;
    assert_int_equal(genprof_fit(&p, rows, n, NULL, err, sizeof err), 0);
    assert_string_equal(p.source, "");
    assert_near(p.gap_prob, 1.0 / (double)(n - 1), 1e-12);
    assert_near(p.gap_q[0], 62, 1e-9);
    assert_near(p.interval_q[GENPROF_QN - 1], 2, 0);
    free(rows);
}

/* The synthetic robot with rest edges: every run's first row has only axis 8 on (0.5 A), odd
 * runs also a second edge row with axes 2-8 on (0.7 A), and every run's last row only axes 1
 * and 2 (0.3 A). */
static void test_fit_edges(void **state)
{
    (void)state;
    size_t n = 5000;
    reading *rows = synthetic(n);
    for (size_t i = 0; i < n; i++) {
        size_t k = i % 25, run = i / 25;
        if (k == 0 || (k == 1 && run % 2 == 1)) {
            for (int a = 0; a < READING_AXES; a++)
                rows[i].axis[a] = k == 0 ? (a == 7 ? 0.5 : 0) : (a >= 1 ? 0.7 : 0);
        } else if (k == 14) {
            for (int a = 0; a < READING_AXES; a++) rows[i].axis[a] = a <= 1 ? 0.3 : 0;
        }
    }
    genprof p;
    char err[512] = "";
    assert_int_equal(genprof_fit(&p, rows, n, "edges.csv", err, sizeof err), 0);
    assert_true(p.has_edges);
    /* 199 complete runs (the first has no idle row before it): 100 odd, 99 even. */
    const genprof_edge *st = &p.edge[GENPROF_EDGE_START], *en = &p.edge[GENPROF_EDGE_END];
    assert_near(st->rows_p[0], 0, 0);
    assert_near(st->rows_p[1], 99.0 / 199, 1e-12);
    assert_near(st->rows_p[2], 100.0 / 199, 1e-12);
    assert_near(st->rows_p[3], 0, 0);
    assert_near(st->mask_p[0][0x80], 1, 1e-12);
    assert_near(st->mask_p[1][0xFE], 1, 1e-12);
    assert_near(en->rows_p[1], 1, 1e-12);
    assert_near(en->mask_p[0][0x03], 1, 1e-12);
    for (int m = 0; m < GENPROF_MASKS; m++) assert_near(en->mask_p[1][m], 0, 0);
    /* The running rows between the edges: every axis on, but in the first run (not complete:
     * its edge rows count as running rows) axes 1-7 read 0 in its first row, 3-8 in its last;
     * of 2,400 rows (199 runs of 12 or 13, and the first run's 15). */
    double nbody = 100 * 12 + 99 * 13 + 15;
    assert_near(p.zero[0], 1 / nbody, 1e-12);
    assert_near(p.zero[2], 2 / nbody, 1e-12);
    assert_near(p.zero[7], 1 / nbody, 1e-12);
    /* Edge values: axis 8 0.5 (199 rows) and 0.7 (100); axis 1 0.3 only. */
    assert_near(p.edge_q[7][0], 0.5, 1e-12);
    assert_near(p.edge_q[7][GENPROF_SN - 1], 0.7, 1e-12);
    assert_near(p.edge_q[7][60], 0.5, 1e-12);
    assert_near(p.edge_q[7][70], 0.7, 1e-12);
    assert_near(p.edge_q[0][0], 0.3, 1e-12);
    assert_near(p.edge_q[0][GENPROF_SN - 1], 0.3, 1e-12);
    /* The program lasts the mean count of rows between the edges (12 in the 100 odd runs, 13
     * in the 99 even ones) times the mean interval (2 s). */
    assert_near(p.program_s, 2 * (100 * 12 + 99 * 13) / 199.0, 1e-9);
    /* The running values leave the edge rows out: only the first run's (not a complete run)
     * zeros remain, 2 rows in some 2,400. */
    for (int a = 0; a < READING_AXES; a++) assert_true(p.axis_q[a][2] > 0);
    /* Round trip through JSON. */
    buf b = {0};
    genprof_write_json(&p, &b);
    genprof q;
    assert_int_equal(genprof_read_json(&q, (const char *)b.data, b.len, err, sizeof err), 0);
    buf_free(&b);
    assert_profiles_equal(&p, &q, 1e-11);
    free(rows);
}

static void test_fit_refuses(void **state)
{
    (void)state;
    size_t n = 5000;
    reading *rows = synthetic(n);
    genprof p;
    char err[512];

    assert_int_equal(genprof_fit(&p, rows, 999, "x", err, sizeof err), -1);
    assert_string_equal(err, "need at least 1,000 rows to fit a profile, got 999");
    assert_int_equal(genprof_fit(&p, rows, 1000, "x", err, sizeof err), 0);

    /* Never idle: no duty cycle to fit. */
    for (size_t i = 0; i < n; i++)
        rows[i].axis[3] = 1;
    assert_int_equal(genprof_fit(&p, rows, n, "x", err, sizeof err), -1);
    assert_string_equal(err, "found 0 running and 0 idle stretches (rows with every axis 0); need "
                             "at least 10 of each to fit the duty cycle");

    /* Always idle. */
    memset(rows, 0, sizeof *rows * n);
    for (size_t i = 0; i < n; i++)
        rows[i].ts_us = (int64_t)i * 2000000;
    assert_int_equal(genprof_fit(&p, rows, n, "x", err, sizeof err), -1);
    assert_contains(err, "found 0 running and 0 idle stretches");

    /* Only a few idle stretches. */
    free(rows);
    rows = synthetic(n);
    for (size_t i = 25 * 5; i < n; i++)
        rows[i].axis[0] = 1;
    assert_int_equal(genprof_fit(&p, rows, n, "x", err, sizeof err), -1);
    assert_contains(err, "found 4 running and 5 idle stretches");

    /* Out of time order. */
    free(rows);
    rows = synthetic(n);
    for (size_t i = 0; i < n; i++)
        rows[i].ts_us = -(int64_t)i * 2000000;
    assert_int_equal(genprof_fit(&p, rows, n, "x", err, sizeof err), -1);
    assert_string_equal(err, "timestamps are not increasing: sort the rows by time");
    free(rows);
}

/* ---- helpers ---- */

static void test_table(void **state)
{
    (void)state;
    const double q[] = {0, 10, 20, 40};
    assert_near(genprof_table(q, 4, 0), 0, 0);
    assert_near(genprof_table(q, 4, 1), 40, 0);
    assert_near(genprof_table(q, 4, -0.5), 0, 0);
    assert_near(genprof_table(q, 4, 1.5), 40, 0);
    assert_near(genprof_table(q, 4, 0.5), 15, 1e-12);     /* position 1.5 */
    assert_near(genprof_table(q, 4, 0.9), 34, 1e-12);     /* position 2.7 */
    assert_near(genprof_table(q, 4, 1.0 / 6), 5, 1e-12);  /* position 0.5 */
    assert_near(genprof_table(q, 4, 2.0 / 3), 20, 1e-12); /* a level itself */
    assert_near(genprof_table(q, 4, 0.999999), 40 - 20 * 3e-6, 1e-9);
    /* The default profile's median interval is its middle level. */
    genprof p;
    genprof_default(&p);
    assert_near(genprof_table(p.interval_q, GENPROF_QN, 0.5), p.interval_q[500], 1e-12);
    assert_near(genprof_table(p.interval_q, GENPROF_QN, 0.0005),
                (p.interval_q[0] + p.interval_q[1]) / 2, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_profile),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_fit),
        cmocka_unit_test(test_fit_edges),
        cmocka_unit_test(test_fit_refuses),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
