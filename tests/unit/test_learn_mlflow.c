/* Unit tests for learn_mlflow: an experiment with two runs (one FINISHED, one RUNNING; params,
 * tags, metric histories with steps) and a registered model with two versions and the aliases
 * champion and challenger are written into a temporary directory and compared, file by file
 * and byte for byte, with tests/fixtures/mlflow/mlruns — written by hand after MLflow's
 * FileStore and checked by tests/fixtures/mlflow/check_fixture.py against PyYAML. Then: bad
 * keys, ids and names are refused (naming them, writing nothing), Python's float repr, and an
 * unwritable directory is reported with its path.
 *
 * The fixture is found relative to the current directory (tests run from the repository root,
 * see tests/run.sh) or at $PGPULSE_MLFLOW_FIXTURE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "learn_mlflow.h"

#define ART "file:///var/lib/pgpulse/mlruns"
#define RA "3f2a9c0e6b5d4e8f9a1b2c3d4e5f6071"
#define RB "a0b1c2d3e4f5061728394a5b6c7d8e9f"
#define MODEL "sensor-a anomaly"

/* ---- helpers ---- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    size_t r;
    while ((r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) p = realloc(p, cap *= 2);
    }
    fclose(f);
    *len = n;
    return p;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Lists the regular files under dir/rel (relative names, '/'-joined) into names[]. */
static void list_files(const char *dir, const char *rel, char **names, int *n, int max)
{
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", dir, sub);
        if (is_dir(full)) {
            list_files(dir, sub, names, n, max);
        } else {
            assert_true(*n < max);
            names[(*n)++] = strdup(sub);
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static const char *fixture_dir(void)
{
    const char *env = getenv("PGPULSE_MLFLOW_FIXTURE");
    return env ? env : "tests/fixtures/mlflow/mlruns";
}

/* ---- the test data (the same as check_fixture.py's) ---- */

static const learn_mlflow_kv exp_tags[] = {
    {"mlflow.note.content", "Online learners trained by `pgpulse learn` on live readings."},
    {"pgpulse.source", "readings"},
};
static const learn_mlflow_experiment experiment = {
    .id = "1",
    .name = "pgpulse: sensor-a",
    .creation_ms = 1764940800000,
    .last_update_ms = 1764944400000,
    .tags = exp_tags,
    .ntags = 2,
};

static const learn_mlflow_kv a_params[] = {
    {"lr", "0.1"}, {"l2", "1e-06"}, {"features", "8"}, {"feature names", "temperature humidity"}};
static const learn_mlflow_kv a_tags[] = {{"mlflow.runName", "sgd-logistic"},
                                         {"mlflow.user", "pgpulse"},
                                         {"mlflow.source.type", "LOCAL"},
                                         {"pgpulse/kind", "logistic"}};
static const learn_mlflow_point a_loss[] = {{1764940860000, 0.6931471805599453, 1000},
                                            {1764942600000, 0.5, 2000},
                                            {1764944400000, 0.41, 3000}};
static const learn_mlflow_point a_acc[] = {
    {1764940860000, 0.5, 1000}, {1764942600000, 0.75, 2000}, {1764944400000, 1.0, 3000}};
static const learn_mlflow_point a_drift[] = {
    {1764940860000, 0.0, 1000}, {1764942600000, 1e-05, 2000}, {1764944400000, NAN, 3000}};
static const learn_mlflow_metric a_metrics[] = {
    {"loss", a_loss, 3}, {"accuracy", a_acc, 3}, {"drift/adwin", a_drift, 3}};
static const learn_mlflow_run run_a = {
    .run_id = RA,
    .experiment_id = "1",
    .name = "sgd-logistic",
    .user_id = "pgpulse",
    .status = LEARN_MLFLOW_FINISHED,
    .start_ms = 1764940800000,
    .end_ms = 1764944400000,
    .params = a_params,
    .nparams = 4,
    .tags = a_tags,
    .ntags = 4,
    .metrics = a_metrics,
    .nmetrics = 3,
};

static const learn_mlflow_kv b_params[] = {{"forgetting", "0.999"}};
static const learn_mlflow_kv b_tags[] = {{"mlflow.user", "pgpulse"}}; /* runName added */
static const learn_mlflow_point b_mae[] = {
    {1764944460000, 12.5, 100}, {1764944520000, 3.0, 200}, {1764944580000, -2.5e16, 300}};
static const learn_mlflow_point b_rows[] = {{1764944460000, 100.0, 100},
                                            {1764944520000, 200.0, 200}};
static const learn_mlflow_metric b_metrics[] = {{"mae", b_mae, 3}, {"rows seen", b_rows, 2}};
static const learn_mlflow_run run_b = {
    .run_id = RB,
    .experiment_id = "1",
    .name = "rls-regression",
    .user_id = "pgpulse",
    .status = LEARN_MLFLOW_RUNNING,
    .start_ms = 1764944400000,
    .end_ms = LEARN_MLFLOW_NO_TIME,
    .params = b_params,
    .nparams = 1,
    .tags = b_tags,
    .ntags = 1,
    .metrics = b_metrics,
    .nmetrics = 2,
};

static const learn_mlflow_kv model_tags[] = {{"pgpulse.learner", "sgd"}};
static const learn_mlflow_alias model_aliases[] = {{"champion", 1}, {"challenger", 2}};
static const learn_mlflow_registered_model model = {
    .name = MODEL,
    .creation_ms = 1764944400000,
    .last_updated_ms = 1764948000000,
    .description = "Logistic SGD on 8 features: flags readings that look like yesterday's faults, "
                   "scored every minute from the readings table of the sensor-a site.",
    .tags = model_tags,
    .ntags = 1,
    .aliases = model_aliases,
    .naliases = 2,
};

static const char *const v1_aliases[] = {"champion"};
static const learn_mlflow_model_version version1 = {
    .name = MODEL,
    .version = 1,
    .creation_ms = 1764944400000,
    .last_updated_ms = 1764944400000,
    .source = ART "/1/" RA "/artifacts/model",
    .run_id = RA,
    .aliases = v1_aliases,
    .naliases = 1,
};

static const char *const v2_aliases[] = {"challenger"};
static const learn_mlflow_kv v2_tags[] = {{"validation_status", "pending"}};
static const learn_mlflow_model_version version2 = {
    .name = MODEL,
    .version = 2,
    .creation_ms = 1764948000000,
    .last_updated_ms = 1764948000000,
    .description = "Challenger: recursive least squares, forgetting 0.999",
    .current_stage = "None",
    .source = ART "/1/" RB "/artifacts/model",
    .run_id = RB,
    .status = "READY",
    .aliases = v2_aliases,
    .naliases = 1,
    .tags = v2_tags,
    .ntags = 1,
};

static void write_all(const char *root)
{
    learn_mlflow_store st;
    char err[512] = "";
    assert_int_equal(learn_mlflow_store_open(&st, root, ART, err, sizeof err), 0);
    if (learn_mlflow_write_experiment(&st, &experiment, err, sizeof err) < 0 ||
        learn_mlflow_write_run(&st, &run_a, err, sizeof err) < 0 ||
        learn_mlflow_write_run(&st, &run_b, err, sizeof err) < 0 ||
        learn_mlflow_write_registered_model(&st, &model, err, sizeof err) < 0 ||
        learn_mlflow_write_model_version(&st, &version1, err, sizeof err) < 0 ||
        learn_mlflow_write_model_version(&st, &version2, err, sizeof err) < 0)
        fail_msg("write failed: %s", err);
    learn_mlflow_store_close(&st);
}

/* Every file of the fixture is in out with the same bytes, and out has no other file. */
static void compare_with_fixture(const char *out)
{
    enum { MAXF = 128 };
    char *want[MAXF], *got[MAXF];
    int nwant = 0, ngot = 0;
    assert_true(is_dir(fixture_dir()));
    list_files(fixture_dir(), "", want, &nwant, MAXF);
    list_files(out, "", got, &ngot, MAXF);
    qsort(want, (size_t)nwant, sizeof *want, cmp_str);
    qsort(got, (size_t)ngot, sizeof *got, cmp_str);
    assert_int_equal(nwant, 28);
    for (int i = 0; i < nwant && i < ngot; i++)
        if (strcmp(want[i], got[i]) != 0)
            fail_msg("file lists differ at %d: fixture %s, written %s", i, want[i], got[i]);
    assert_int_equal(ngot, nwant);
    for (int i = 0; i < nwant; i++) {
        char a[4096], b[4096];
        size_t la, lb;
        snprintf(a, sizeof a, "%s/%s", fixture_dir(), want[i]);
        snprintf(b, sizeof b, "%s/%s", out, got[i]);
        char *x = read_all(a, &la), *y = read_all(b, &lb);
        assert_non_null(x);
        assert_non_null(y);
        if (la != lb || memcmp(x, y, la) != 0)
            fail_msg("%s differs from the fixture:\n--- fixture\n%.*s\n--- written\n%.*s", want[i],
                     (int)la, x, (int)lb, y);
        free(x);
        free(y);
    }
    for (int i = 0; i < nwant; i++)
        free(want[i]);
    for (int i = 0; i < ngot; i++)
        free(got[i]);
}

static char *make_tmp(void)
{
    char *t = strdup("/tmp/test_learn_mlflow.XXXXXX");
    assert_non_null(mkdtemp(t));
    return t;
}

/* ---- tests ---- */

static void test_fixture(void **state)
{
    (void)state;
    char *tmp = make_tmp(), root[4096], path[4200];
    snprintf(root, sizeof root, "%s/mlruns", tmp);
    write_all(root);
    compare_with_fixture(root);

    /* The directories MLflow creates empty (git keeps none, so they are checked here). */
    const char *dirs[] = {
        ".trash",          "models",          "1/" RA "/artifacts", "1/" RB "/artifacts",
        "1/" RB "/params", "1/" RA "/metrics"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
        if (!is_dir(path)) fail_msg("%s is not a directory", path);
    }

    /* Writing again replaces every file with the same bytes and leaves no temporary file. */
    write_all(root);
    compare_with_fixture(root);
    rm_rf(tmp);
    free(tmp);
}

/* Without an artifact root, it is the file:// URI of the root's absolute path. */
static void test_default_artifact_root(void **state)
{
    (void)state;
    char *tmp = make_tmp(), root[4096], err[512], expect[4200];
    snprintf(root, sizeof root, "%s/a b/../ml+runs", tmp);
    learn_mlflow_store st;
    assert_int_equal(learn_mlflow_store_open(&st, root, NULL, err, sizeof err), 0);
    snprintf(expect, sizeof expect, "file://%s/ml%%2Bruns", tmp);
    assert_string_equal(st.artifact_root, expect);
    assert_int_equal(learn_mlflow_write_experiment(&st, &experiment, err, sizeof err), 0);
    char meta[4200];
    size_t len;
    snprintf(meta, sizeof meta, "%s/1/meta.yaml", root);
    char *text = read_all(meta, &len);
    assert_non_null(text);
    char line[4300];
    snprintf(line, sizeof line, "artifact_location: %s/1\n", expect);
    assert_non_null(strstr(text, line));
    free(text);
    learn_mlflow_store_close(&st);
    learn_mlflow_store_close(NULL);
    rm_rf(tmp);
    free(tmp);
}

/* A run's artifact: written under its artifacts/ (directories made), bytes as given; a name that
 * would leave the run is refused and nothing is written. */
static void test_artifact(void **state)
{
    (void)state;
    char *tmp = make_tmp(), root[4096], err[512], path[4300];
    snprintf(root, sizeof root, "%s/mlruns", tmp);
    learn_mlflow_store st;
    assert_int_equal(learn_mlflow_store_open(&st, root, NULL, err, sizeof err), 0);
    static const unsigned char blob[] = {0, 1, 2, 255, 0, 7};
    assert_int_equal(learn_mlflow_write_artifact(&st, "1", RA, "model/version-3.bin", blob, sizeof blob, err,
                                                 sizeof err), 0);
    snprintf(path, sizeof path, "%s/1/%s/artifacts/model/version-3.bin", root, RA);
    size_t len;
    char *got = read_all(path, &len);
    assert_non_null(got);
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(got, blob, sizeof blob);
    free(got);
    assert_int_equal(learn_mlflow_write_artifact(&st, "1", RA, "../../escape.bin", blob, sizeof blob, err,
                                                 sizeof err), -1);
    assert_non_null(strstr(err, "escape"));
    snprintf(path, sizeof path, "%s/escape.bin", root);
    assert_false(access(path, F_OK) == 0);
    learn_mlflow_store_close(&st);
    rm_rf(tmp);
    free(tmp);
}

static void test_keys(void **state)
{
    (void)state;
    char err[512];
    const char *good[] = {"loss", "a b/c.d-e_f",    "drift/adwin", "x.",
                          "a..b", "mlflow.runName", "A1"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (learn_mlflow_check_key("metric", good[i], err, sizeof err) != 0)
            fail_msg("'%s' refused: %s", good[i], err);
    char long_key[300];
    memset(long_key, 'k', 251);
    long_key[251] = '\0';
    const char *bad[] = {"../x", "/abs", "a//b", "a/",          ".",   "..",   "a/../b", "a/./b",
                         "..x",  "",     "x\ny", "caf\xc3\xa9", "a;b", "a\\b", "a:b",    long_key};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        if (learn_mlflow_check_key("metric", bad[i], err, sizeof err) != -1)
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(err, "metric"));
        if (strlen(bad[i]) < 40) assert_non_null(strstr(err, bad[i]));
    }
}

/* A refused key, id or name: -1, a message naming it, and nothing written. */
static void test_refused_writes_nothing(void **state)
{
    (void)state;
    char *tmp = make_tmp(), root[4096], err[512], path[4200];
    snprintf(root, sizeof root, "%s/mlruns", tmp);
    learn_mlflow_store st;
    assert_int_equal(learn_mlflow_store_open(&st, root, ART, err, sizeof err), 0);

    learn_mlflow_kv evil[] = {{"ok", "1"}, {"../../escape", "x"}};
    learn_mlflow_run r = run_a;
    r.params = evil;
    r.nparams = 2;
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "../../escape"));
    snprintf(path, sizeof path, "%s/1", root);
    assert_false(is_dir(path));

    learn_mlflow_metric m[] = {{"/etc/passwd", a_loss, 3}};
    r = run_a;
    r.metrics = m;
    r.nmetrics = 1;
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "/etc/passwd"));

    learn_mlflow_kv dup[] = {{"lr", "1"}, {"lr", "2"}};
    r = run_a;
    r.params = dup;
    r.nparams = 2;
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "lr"));

    r = run_a;
    r.run_id = "../" RA;
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "run id"));
    r.run_id = "tags";
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    r = run_a;
    r.experiment_id = "1/..";
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    r = run_a;
    r.status = (learn_mlflow_status)9;
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    r = run_a;
    r.name = "bad \xff utf-8";
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "UTF-8"));
    learn_mlflow_point neg[] = {{-1, 0.5, 0}};
    learn_mlflow_metric mneg[] = {{"loss", neg, 1}};
    r = run_a;
    r.metrics = mneg;
    r.nmetrics = 1;
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);
    mneg[0].npoints = 0;
    assert_int_equal(learn_mlflow_write_run(&st, &r, err, sizeof err), -1);

    learn_mlflow_experiment e = experiment;
    e.id = "models";
    assert_int_equal(learn_mlflow_write_experiment(&st, &e, err, sizeof err), -1);
    e.id = "..";
    assert_int_equal(learn_mlflow_write_experiment(&st, &e, err, sizeof err), -1);
    e = experiment;
    e.name = "";
    assert_int_equal(learn_mlflow_write_experiment(&st, &e, err, sizeof err), -1);
    assert_false(is_dir(path));

    learn_mlflow_registered_model rm = model;
    const char *bad_names[] = {"a/b", "..", ".", "50%", ""};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        rm.name = bad_names[i];
        assert_int_equal(learn_mlflow_write_registered_model(&st, &rm, err, sizeof err), -1);
    }
    rm = model;
    learn_mlflow_alias bad_alias[][1] = {{{"latest", 1}}, {{"v2", 1}}, {{"a.b", 1}}, {{"x", 0}}};
    for (size_t i = 0; i < sizeof bad_alias / sizeof *bad_alias; i++) {
        rm.aliases = bad_alias[i];
        rm.naliases = 1;
        assert_int_equal(learn_mlflow_write_registered_model(&st, &rm, err, sizeof err), -1);
        assert_non_null(strstr(err, bad_alias[i][0].alias));
    }
    learn_mlflow_model_version v = version1;
    v.version = 0;
    assert_int_equal(learn_mlflow_write_model_version(&st, &v, err, sizeof err), -1);
    v = version1;
    v.name = "../x";
    assert_int_equal(learn_mlflow_write_model_version(&st, &v, err, sizeof err), -1);

    /* Nothing but the store's own directories was made. */
    char *names[8];
    int n = 0;
    list_files(root, "", names, &n, 8);
    assert_int_equal(n, 0);
    snprintf(path, sizeof path, "%s/models", root);
    DIR *d = opendir(path);
    assert_non_null(d);
    int entries = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        entries += ent->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);

    learn_mlflow_store_close(&st);
    rm_rf(tmp);
    free(tmp);
}

static void check_repr(double d, const char *want)
{
    char out[LEARN_MLFLOW_REPR_MAX];
    learn_mlflow_float_repr(d, out);
    if (strcmp(out, want) != 0) fail_msg("repr(%.17g): want %s, got %s", d, want, out);
}

/* Expected strings are Python 3's repr() of the same doubles. */
static void test_float_repr(void **state)
{
    (void)state;
    check_repr(0.1, "0.1");
    check_repr(1.0, "1.0");
    check_repr(1e-05, "1e-05");
    check_repr(0.0001, "0.0001");
    check_repr(1e16, "1e+16");
    check_repr(1e15, "1000000000000000.0");
    check_repr(9999999999999998.0, "9999999999999998.0");
    check_repr(123456789012345678.0, "1.2345678901234568e+17");
    check_repr(0.0, "0.0");
    check_repr(-0.0, "-0.0");
    check_repr(NAN, "nan");
    check_repr(INFINITY, "inf");
    check_repr(-INFINITY, "-inf");
    check_repr(5e-324, "5e-324");
    check_repr(1.7976931348623157e308, "1.7976931348623157e+308");
    check_repr(2.2250738585072014e-308, "2.2250738585072014e-308");
    check_repr(0.1 + 0.2, "0.30000000000000004");
    check_repr(1.0 / 3.0, "0.3333333333333333");
    check_repr(2.5, "2.5");
    check_repr(100.0, "100.0");
    check_repr(-2.5e16, "-2.5e+16");
    check_repr(1e22, "1e+22");
    check_repr(9.999e-05, "9.999e-05");
    check_repr(123456.789, "123456.789");
    check_repr(0.6931471805599453, "0.6931471805599453");
    check_repr(-1.5e-10, "-1.5e-10");
    /* Powers of two whose correctly rounded 16 digits do not read back, while the 16 digits
     * one unit above do (the interval below a power of two is half as wide). */
    check_repr(ldexp(1.0, -1017), "7.120236347223045e-307");
    check_repr(ldexp(1.0, -1007), "7.291122019556398e-304");
    check_repr(-ldexp(1.0, -921), "-5.641232424577593e-278");
}

/* A directory that cannot be made is reported with its path and errno's text. */
static void test_unwritable(void **state)
{
    (void)state;
    char *tmp = make_tmp(), file[256], root[512], err[512], sub[1000];
    snprintf(file, sizeof file, "%s/plain-file", tmp);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);

    learn_mlflow_store st;
    snprintf(root, sizeof root, "%s/mlruns", file);
    assert_int_equal(learn_mlflow_store_open(&st, root, ART, err, sizeof err), -1);
    assert_non_null(strstr(err, file));
    assert_non_null(strstr(err, strerror(ENOTDIR)));
    assert_null(st.root);

    /* An experiment directory taken by a file. */
    snprintf(root, sizeof root, "%s/mlruns", tmp);
    assert_int_equal(learn_mlflow_store_open(&st, root, ART, err, sizeof err), 0);
    char exp[600];
    snprintf(exp, sizeof exp, "%s/1", root);
    f = fopen(exp, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(learn_mlflow_write_experiment(&st, &experiment, err, sizeof err), -1);
    assert_non_null(strstr(err, exp));
    assert_int_equal(learn_mlflow_write_run(&st, &run_a, err, sizeof err), -1);
    assert_non_null(strstr(err, exp));

    /* A tag whose file name is taken by a directory: the rename fails, no temporary is left. */
    unlink(exp);
    char tagdir[800];
    snprintf(tagdir, sizeof tagdir, "%s/tags/pgpulse.source", exp);
    assert_int_equal(mkdir(exp, 0777), 0);
    snprintf(sub, sizeof sub, "%s/tags", exp);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(mkdir(tagdir, 0777), 0);
    snprintf(sub, sizeof sub, "%s/x", tagdir);
    f = fopen(sub, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(learn_mlflow_write_experiment(&st, &experiment, err, sizeof err), -1);
    assert_non_null(strstr(err, tagdir));
    char *names[16];
    int n = 0;
    list_files(exp, "", names, &n, 16);
    for (int i = 0; i < n; i++) {
        assert_null(strstr(names[i], ".tmp"));
        free(names[i]);
    }
    learn_mlflow_store_close(&st);
    rm_rf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture),    cmocka_unit_test(test_default_artifact_root),
        cmocka_unit_test(test_keys),       cmocka_unit_test(test_refused_writes_nothing),
        cmocka_unit_test(test_float_repr), cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_artifact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
