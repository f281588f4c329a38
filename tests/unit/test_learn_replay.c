/* Unit tests for learn_replay (`pgpulse learn --replay`): a table with a UTF-8 BOM, headers
 * with spaces and brackets, text columns and a binary target is learned (the text column is
 * what decides it); run-to-failure units keyed by --key learn their remaining life better than
 * without the key; --test-from learns only the rows before it and scores the rest; OUT
 * repeats every kept row with prediction and score; bad rows are reported by line and skipped
 * with the rows around them kept; bad options are refused with the column named.
 * Randomised: the seed is printed and PGPULSE_TEST_SEED replays it. */
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

#include "learn_replay.h"
#include "rng.h"
#include "seed.h"

static uint64_t seed;
static char dir[64];

static const char *tmp(const char *name)
{
    static char path[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    assert_non_null(v);
    return json_number_value(v);
}

/* Machines of type L, M or H; "Machine failure" is 1 for type H or above 303 K (5 % flipped). */
static void write_machines(const char *path, int n, int bom)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    rng r;
    rng_seed(&r, seed, 1);
    if (bom) fputs("\xEF\xBB\xBF", f);
    fputs("UDI,Product ID,Type,Air temperature [K],Torque [Nm],Machine failure\n", f);
    for (int i = 1; i <= n; i++) {
        static const char *types[] = {"L", "M", "H"};
        int t = (int)rng_below(&r, 3);
        double temp = 295 + 10 * rng_uniform(&r), torque = 40 + 10 * rng_normal(&r);
        int y = t == 2 || temp > 303;
        if (rng_uniform(&r) < 0.05) y = !y;
        fprintf(f, "%d,%c%05d,%s,%.1f,%.1f,%d\n", i, types[t][0], i, types[t], temp, torque, y);
    }
    fclose(f);
}

static void test_text_columns_and_header(void **state)
{
    (void)state;
    const char *in = tmp("machines.csv"), *out = tmp("machines.out.csv");
    write_machines(in, 4000, 1);
    char err[512];
    learn_replay_opts o = {.in = in, .out = out, .target = "Machine failure", .model = "linear",
                           .ignore = "UDI,Product ID", .test_from = 3001, .seed = 1};
    json_t *res = learn_replay_run(&o, err, sizeof err);
    assert_non_null(res);
    char *s = json_dumps(res, JSON_COMPACT);
    printf("%s\n", s);
    free(s);
    assert_string_equal(json_string_value(json_object_get(res, "task")), "classify");
    assert_string_equal(json_string_value(json_object_get(res, "positive")), "1");
    assert_int_equal((int)num(res, "rows"), 4000);
    assert_int_equal((int)num(res, "learned"), 3000);
    assert_int_equal((int)num(res, "test_rows"), 1000);
    assert_int_equal((int)num(res, "scored"), 1000);
    /* The rule needs the text column: without it the best is ~0.73; with it the Bayes rate is
     * 0.95 (5 % flipped), and the linear learner measured 0.897-0.95 over 61 seeds (ROC-AUC
     * 0.923 and up): the bounds keep a margin of several of its standard deviations. */
    assert_true(num(res, "accuracy") > 0.85);
    assert_true(num(res, "roc_auc") > 0.88);
    json_decref(res);

    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "UDI,Product ID,Type,Air temperature [K],Torque [Nm],Machine failure,prediction,score\n");
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        int commas = 0;
        for (char *p = line; *p; p++) commas += *p == ',';
        assert_int_equal(commas, 7);
    }
    fclose(f);
    assert_int_equal(lines, 4000);
}

/* 40 units report in turn; each row's target is the unit's previous s1 (plus a little noise),
 * so only the key's lag can predict it: the previous row of the file belongs to another unit. */
static void write_units(const char *path, int rows)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    rng r;
    rng_seed(&r, seed, 2);
    double prev[40] = {0};
    fputs("unit,s1,y\n", f);
    for (int i = 0; i < rows; i++) {
        int u = (int)rng_below(&r, 40);
        double s1 = rng_normal(&r);
        fprintf(f, "unit %d,%.4f,%.4f\n", u, s1, prev[u] + 0.05 * rng_normal(&r));
        prev[u] = s1;
    }
    fclose(f);
}

static void test_key_rolling_features(void **state)
{
    (void)state;
    const char *in = tmp("units.csv");
    write_units(in, 20000);
    char err[512];
    learn_replay_opts o = {.in = in, .target = "y", .test_from = 15001, .seed = 1};
    json_t *plain = learn_replay_run(&o, err, sizeof err);
    assert_non_null(plain);
    o.key = "unit";
    json_t *keyed = learn_replay_run(&o, err, sizeof err);
    assert_non_null(keyed);
    printf("MAE without key %.3f, with key %.3f (%d keys)\n", num(plain, "mae"), num(keyed, "mae"),
           (int)num(keyed, "keys"));
    assert_string_equal(json_string_value(json_object_get(keyed, "task")), "regress");
    assert_int_equal((int)num(keyed, "keys"), 40);
    assert_true(num(plain, "mae") > 0.7);  /* E|N(0, 1)| = 0.8: nothing to learn from */
    assert_true(num(keyed, "mae") < 0.2);
    json_decref(plain);
    json_decref(keyed);
}

static void test_bad_rows_are_skipped(void **state)
{
    (void)state;
    const char *in = tmp("bad.csv");
    FILE *f = fopen(in, "w");
    fputs("a,b,y\n1,2,3\n1,2\n4,5,six\n\"7\",8,9\n1,\"unterminated,3\n10,11,12\n", f);
    fclose(f);
    char err[512], msgs[2048] = "";
    FILE *m = fmemopen(msgs, sizeof msgs - 1, "w");
    learn_replay_opts o = {.in = in, .target = "y", .task = "regress", .msgs = m};
    json_t *res = learn_replay_run(&o, err, sizeof err);
    fclose(m);
    assert_non_null(res);
    printf("%s", msgs);
    assert_int_equal((int)num(res, "rows"), 3);
    assert_int_equal((int)num(res, "rejected"), 3);
    assert_non_null(strstr(msgs, "bad.csv:3: 2 fields where the header has 3"));
    assert_non_null(strstr(msgs, "bad.csv:4: target 'y' is not a number"));
    assert_non_null(strstr(msgs, "bad.csv:6: "));
    json_decref(res);
}

static void test_bad_options(void **state)
{
    (void)state;
    const char *in = tmp("opts.csv");
    FILE *f = fopen(in, "w");
    fputs("x,label,same\n1,up,1\n2,down,1\n3,up,1\n", f);
    fclose(f);
    char err[512];
    learn_replay_opts o = {.in = in, .target = "nope"};
    assert_null(learn_replay_run(&o, err, sizeof err));
    assert_non_null(strstr(err, "no column 'nope'"));
    o.target = "label";
    o.task = "regress";
    assert_null(learn_replay_run(&o, err, sizeof err));
    assert_non_null(strstr(err, "holds text"));
    o.task = NULL;
    o.target = "same";
    assert_null(learn_replay_run(&o, err, sizeof err));
    assert_non_null(strstr(err, "one value"));
    o.target = " LABEL "; /* case and spaces do not matter when nothing matches exactly */
    o.model = "rls";
    assert_null(learn_replay_run(&o, err, sizeof err));
    assert_non_null(strstr(err, "rls regresses"));
    o.model = "linear";
    o.positive = "sideways";
    assert_null(learn_replay_run(&o, err, sizeof err));
    assert_non_null(strstr(err, "--positive sideways"));
    o.positive = "down";
    json_t *res = learn_replay_run(&o, err, sizeof err);
    assert_non_null(res);
    assert_string_equal(json_string_value(json_object_get(res, "positive")), "down");
    json_decref(res);
    o.in = tmp("missing.csv");
    assert_null(learn_replay_run(&o, err, sizeof err));
    assert_non_null(strstr(err, "missing.csv"));
}

/* Elec2 as published (../shared, skipped without it): the default learner, no past labels,
 * one prequential pass: the bar is 0.89 (River's best, leveraging bagging, 0.893). */
static void test_elec2(void **state)
{
    (void)state;
    const char *shared = getenv("PGPULSE_SHARED");
    char path[512];
    snprintf(path, sizeof path, "%s/data/elec2/elec_full.csv", shared ? shared : "");
    if (!shared || !*shared || access(path, R_OK) != 0) {
        print_message("PGPULSE_SHARED is not set or has no elec2/elec_full.csv: skipped\n");
        skip();
    }
    char err[512];
    learn_replay_opts o = {.in = path, .target = "class", .seed = 1};
    json_t *res = learn_replay_run(&o, err, sizeof err);
    assert_non_null(res);
    print_message("Elec2: accuracy %.4f, ROC-AUC %.4f, %.0f rows/s\n", num(res, "accuracy"),
                  num(res, "roc_auc"), num(res, "rows_per_s"));
    assert_string_equal(json_string_value(json_object_get(res, "model")), "forest");
    assert_int_equal((int)num(res, "rows"), 45312);
    assert_true(num(res, "accuracy") >= 0.89);
    json_decref(res);
}

int main(void)
{
    seed = test_seed();
    snprintf(dir, sizeof dir, "/tmp/pgpulse-learn-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_columns_and_header),
        cmocka_unit_test(test_key_rolling_features),
        cmocka_unit_test(test_bad_rows_are_skipped),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_elec2),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    return rc;
}
