/* Integration tests of the learn stage's API (src/api_models.c, and the risk that
 * GET /api/robots adds) through real HTTP on a real database: the server runs in-process
 * (serve_start on a free port, as the dashboard's login pgpulse_web); experiments, runs, metrics,
 * model versions and predictions are inserted by SQL as the learn stage writes them (its
 * consumer's and another consumer's). Covered: /api/models (aliases, runs, metric keys, counts),
 * /api/models/{name}/versions (newest first, the state's size not its bytes, consumer and limit),
 * /api/models/{name}/metrics (each run's series downsampled to at most `points`, its points the
 * logged values themselves, the last one kept; ranges, one run), /api/robots/{id}/predictions
 * (forecast and risk, filters, buckets against SQL's own aggregates), the fleet's risk per robot
 * (the newest, the consumer's own, null without one; the other fields unchanged), and the 4xx
 * that name the parameter or the path segment at fault. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "harness.h"
#include "httpc.h"
#include "gen.h"
#include "learn_forecast.h"
#include "learn_risk.h"
#include "learn_sgd.h"
#include "serve.h"
#include "stage_learn.h"
#include "tstamp.h"
#include "util.h"

#define CONSUMER "pipeline"
#define WEB "pgpulse_web"
#define RUN_CHAMP "a9f7e97965d6cf799a529102a973b8b9"   /* md5('c1') */
#define RUN_CHALL "9ab62b5ef34a985438bfdf7ee0102229"   /* md5('c2') */
#define RUN_FCAST "8fa14cdd754f91cc6554c9e71929cce7"   /* md5('f') */
#define RUN_OTHER "1679091c5a880faf6fb5e6087eb1b2dc"   /* md5('6') */

static struct {
    char db[1024];    /* the owner's conninfo ("" without a test cluster) */
    char web[1024];   /* the web login's */
    PGconn *conn;     /* the owner's connection */
    serve *srv;
} fx;

static httpc_reply get(const char *path)
{
    return httpc_request(fx.srv, "GET", path, NULL, NULL);
}


/* The number of elements of JSON array a (fails the test when it is not one). */
static size_t arr_len(json_t *a)
{
    assert_true(json_is_array(a));
    return json_array_size(a);
}

/* The element of array a (of objects) whose member key is the string want; NULL if none. */
static json_t *find_by(json_t *a, const char *key, const char *want)
{
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        const char *v = json_string_value(json_object_get(x, key));
        if (v && !strcmp(v, want)) return x;
    }
    return NULL;
}

static int group_setup(void **state)
{
    (void)state;
    const char *db = harness_db("api_models", 1);
    if (!db) return 0;
    snprintf(fx.db, sizeof fx.db, "%s", db);
    const char *home = getenv("PGPULSE_TEST_HOME");
    char *portfile = xasprintf("%s/port", home);
    char *port = harness_read_file(portfile);
    snprintf(fx.web, sizeof fx.web,
             "host=127.0.0.1 port=%d user=" WEB " dbname=test_api_models passfile=%s/pgpass",
             atoi(port), home);
    free(port);
    free(portfile);
    fx.conn = harness_connect(fx.db);
    harness_exec(fx.conn, "INSERT INTO robot (robot_id, name) VALUES (1, 'one'), (2, 'two'), "
                          "(3, 'three'), (4, 'four')");
    /* As the learn stage writes them: a risk experiment with its champion and challenger runs, a
     * forecast experiment, and the risk experiment of another consumer. */
    harness_exec(fx.conn, "INSERT INTO experiment (name) VALUES ('failure_risk'), ('forecast')");
    harness_exec(fx.conn,
                 "INSERT INTO run (run_id, experiment_id, consumer, name, model, params, status, "
                 "records, stream_start, stream_end) VALUES "
                 "(md5('c1'), 1, '" CONSUMER "', 'failure_risk/champion', 'logistic', '{}', "
                 "'RUNNING', 20000, '2026-12-01', '2026-12-02 09:20'), "
                 "(md5('c2'), 1, '" CONSUMER "', 'failure_risk/challenger', 'forest', '{}', "
                 "'RUNNING', 20000, '2026-12-01', '2026-12-02 09:20'), "
                 "(md5('f'), 2, '" CONSUMER "', 'forecast', 'phase', '{}', 'FINISHED', 5000, "
                 "'2026-12-01', '2026-12-01 01:00'), "
                 "(md5('6'), 1, 'other', 'failure_risk/champion', 'logistic', '{}', 'KILLED', 3, "
                 "NULL, NULL)");
    /* roc_auc every 10 records: 2,000 values of the champion, 1,000 of the challenger (one a
     * minute of stream time). */
    harness_exec(fx.conn, "INSERT INTO run_metric SELECT md5('c1'), 'roc_auc', g * 10, "
                          "'2026-12-01'::timestamptz + g * interval '1 minute', 0.5 + g / 10000.0 "
                          "FROM generate_series(1, 2000) g");
    harness_exec(fx.conn, "INSERT INTO run_metric SELECT md5('c2'), 'roc_auc', g * 20, "
                          "'2026-12-01'::timestamptz + g * interval '2 minutes', 0.6 + g / 10000.0 "
                          "FROM generate_series(1, 1000) g");
    harness_exec(fx.conn, "INSERT INTO run_metric SELECT md5('c1'), k, g * 1000, "
                          "'2026-12-01'::timestamptz + g * interval '100 minutes', g / 10.0 "
                          "FROM generate_series(1, 10) g, (VALUES ('recall'), ('lead_h_median')) v(k)");
    harness_exec(fx.conn, "INSERT INTO run_metric SELECT md5('c2'), 'pr_auc', (2::bigint) ^ g, "
                          "'2026-12-01'::timestamptz + g * interval '1 minute', g / 100.0 "
                          "FROM generate_series(1, 40) g");
    harness_exec(fx.conn, "INSERT INTO run_metric SELECT md5('f'), 'mae.h1.axis3', g * 100, "
                          "'2026-12-01'::timestamptz + g * interval '1 minute', 1.0 / g "
                          "FROM generate_series(1, 30) g");
    harness_exec(fx.conn, "INSERT INTO run_metric SELECT md5('6'), 'roc_auc', g, "
                          "'2026-12-01'::timestamptz + g * interval '1 minute', 0.9 "
                          "FROM generate_series(1, 3) g");
    harness_exec(fx.conn,
                 "INSERT INTO model_version (consumer, name, version, run_id, model, state, "
                 "metrics, alias, stream_ts) VALUES "
                 "('" CONSUMER "', 'failure_risk', 1, md5('c1'), 'logistic', "
                 "decode(repeat('ab', 1000), 'hex'), '{\"roc_auc\": 0.61}', NULL, '2026-12-01 10:00'), "
                 "('" CONSUMER "', 'failure_risk', 2, md5('c1'), 'logistic', "
                 "decode(repeat('cd', 5000), 'hex'), '{\"roc_auc\": 0.7, \"recall\": 0.8}', "
                 "'champion', '2026-12-02 00:00'), "
                 "('" CONSUMER "', 'failure_risk', 3, md5('c2'), 'forest', "
                 "decode(repeat('ef', 300), 'hex'), '{\"roc_auc\": 0.72}', 'challenger', "
                 "'2026-12-02 01:00'), "
                 "('other', 'failure_risk', 1, md5('6'), 'logistic', '\\x00', '{}', 'champion', "
                 "'2026-12-01 00:03')");
    /* Risk every 10 minutes: robot 2 rises to 0.9, robot 3 falls to 0.2, robot 4 stays at
     * 0.05, robot 1 has none (another consumer's risk for it must not show). */
    harness_exec(fx.conn,
                 "INSERT INTO prediction SELECT '" CONSUMER "', r, '2026-12-02'::timestamptz + "
                 "g * interval '10 minutes', 'risk', 0, 86400, '2026-12-03'::timestamptz + "
                 "g * interval '10 minutes', CASE r WHEN 2 THEN 0.3 * g WHEN 3 THEN 0.8 - 0.2 * g "
                 "ELSE 0.05 END, 2 FROM generate_series(1, 3) g, (VALUES (2), (3), (4)) v(r)");
    harness_exec(fx.conn, "INSERT INTO prediction VALUES ('other', 1, '2026-12-02 00:30', 'risk', "
                          "0, 86400, '2026-12-03 00:30', 0.99, 1)");
    /* Robot 2's forecasts: every 10 s for 1,000 s, per axis, 1 and 10 readings ahead. */
    harness_exec(fx.conn,
                 "INSERT INTO prediction SELECT '" CONSUMER "', 2, '2026-12-01'::timestamptz + "
                 "g * interval '10 seconds', 'forecast', a, h, '2026-12-01'::timestamptz + "
                 "(g * 10 + h) * interval '1 second', a * 10 + g % 7, NULL "
                 "FROM generate_series(0, 99) g, generate_series(1, 8) a, (VALUES (1), (10)) v(h)");
    harness_exec(fx.conn, "INSERT INTO prediction SELECT 'other', 2, '2026-12-01'::timestamptz + "
                          "g * interval '10 seconds', 'forecast', 1, 1, '2026-12-01', -1, NULL "
                          "FROM generate_series(0, 99) g");
    char err[512];
    serve_opts o = {.conninfo = fx.web, .consumer = CONSUMER, .listen = "127.0.0.1:0",
                    .threads = 2, .quiet = 1};
    fx.srv = serve_start(&o, err, sizeof err);
    if (!fx.srv) fail_msg("serve_start: %s", err);
    return 0;
}

/* The learn stage's state for robot 1 of consumer "pred" after two simulated days, and a
 * failure_risk champion (version 7) with known weights, so POST /api/predict has real input. */
static learn_fc pred_fc;
static learn_risk_robot pred_risk;
static learn_sgd pred_model;
/* The robot's readings after the state's. */
enum { PRED_NEXT_MAX = 400 };
static reading pred_next[PRED_NEXT_MAX];
static int pred_nnext;

static void predict_setup(void)
{
    genprof p;
    genprof_default(&p);
    gen_opts o = {.robots = 1, .first_robot = 1, .seed = 3, .start_us = 1767225600000000LL,
                  .interval_scale = 1, .faults = GEN_FAULTS_NONE};
    gen *g = gen_new(&p, &o);
    learn_fc_init(&pred_fc);
    learn_risk_robot_init(&pred_risk);
    learn_risk_fleet *f = xmalloc(sizeof *f);
    learn_risk_fleet_init(f);
    reading r;
    for (;;) {
        gen_next(g, &r);
        if (r.ts_us >= o.start_us + 2 * 86400000000LL) break;
        learn_risk_sample smp;
        learn_fc_step(&pred_fc, r.ts_us, r.axis);
        learn_risk_step(f, &pred_risk, r.ts_us, r.axis, &smp);
    }
    for (pred_nnext = 0; pred_nnext < PRED_NEXT_MAX; gen_next(g, &r)) pred_next[pred_nnext++] = r;
    gen_free(g);
    free(f);
    learn_sgd_init(&pred_model, LEARN_RISK_D, 1, 0.05, 1e-6);
    pred_model.b = -1;
    pred_model.w[0] = 0.5;
    buf st = {0};
    stage_learn_robot_encode(&pred_fc, &pred_risk, &st);
    const char *pv[] = {(const char *)st.data, (const char *)&pred_model};
    int lens[] = {(int)st.len, (int)sizeof pred_model};
    int fmts[] = {1, 1};
    harness_exec(fx.conn, "INSERT INTO stream_consumer (consumer, stages, source_kind) VALUES ('pred', '{learn}', 'poll')");
    PGresult *res = PQexecParams(fx.conn,
                                 "WITH s AS (INSERT INTO learn_robot_state VALUES ('pred', 1, $1)) "
                                 "INSERT INTO model_version (consumer, name, version, run_id, model, state, "
                                 "metrics, alias, stream_ts) VALUES ('pred', 'failure_risk', 7, md5('c1'), "
                                 "'logistic', $2, '{}', 'champion', '2026-01-03')",
                                 2, NULL, pv, lens, fmts, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) fail_msg("predict setup: %s", PQerrorMessage(fx.conn));
    PQclear(res);
    buf_free(&st);
    /* The waveform memory's slots, as the stage writes them. */
    for (int k = 0; k < LEARN_FC_MAXP; k++) {
        if (!pred_fc.tpl_runs[k]) continue;
        char ks[8];
        snprintf(ks, sizeof ks, "%d", k);
        const char *wv[] = {ks, (const char *)pred_fc.tpl[k]};
        int wl[] = {0, (int)LEARN_FC_SLOT_BYTES}, wf[] = {0, 1};
        res = PQexecParams(fx.conn, "INSERT INTO learn_robot_waveform VALUES ('pred', 1, $1::int, $2)", 2, NULL, wv,
                           wl, wf, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) fail_msg("predict setup: %s", PQerrorMessage(fx.conn));
        PQclear(res);
    }
}

static int group_teardown(void **state)
{
    (void)state;
    if (!*fx.db) return 0;
    serve_stop(fx.srv);
    PQfinish(fx.conn);
    return 0;
}

static void test_models_list(void **state)
{
    (void)state;
    if (!*fx.db) skip();
    httpc_reply r = get("/api/models");
    assert_int_equal(r.status, 200);
    json_t *ms = json_object_get(r.json, "models");
    assert_int_equal(arr_len(ms), 3);
    /* By name, then consumer: failure_risk of 'other', of the pipeline, then forecast. */
    json_t *o = json_array_get(ms, 0), *m = json_array_get(ms, 1), *f = json_array_get(ms, 2);
    assert_string_equal(json_string_value(json_object_get(o, "consumer")), "other");
    assert_string_equal(json_string_value(json_object_get(m, "consumer")), CONSUMER);
    assert_string_equal(json_string_value(json_object_get(m, "name")), "failure_risk");
    assert_string_equal(json_string_value(json_object_get(f, "name")), "forecast");
    assert_int_equal(json_integer_value(json_object_get(m, "versions")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "versions")), 1);
    assert_int_equal(json_integer_value(json_object_get(f, "versions")), 0);
    json_t *ch = json_object_get(m, "champion"), *cl = json_object_get(m, "challenger");
    assert_int_equal(json_integer_value(json_object_get(ch, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(ch, "model")), "logistic");
    assert_string_equal(json_string_value(json_object_get(ch, "run_id")), RUN_CHAMP);
    assert_string_equal(json_string_value(json_object_get(ch, "stream_ts")),
                        "2026-12-02T00:00:00.000000Z");
    assert_true(fabs(json_real_value(json_object_get(json_object_get(ch, "metrics"), "recall")) -
                     0.8) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(cl, "version")), 3);
    assert_string_equal(json_string_value(json_object_get(cl, "model")), "forest");
    assert_true(json_is_null(json_object_get(o, "challenger")));
    assert_true(json_is_null(json_object_get(f, "champion")));
    /* Runs: the consumer's own, with the alias their versions hold. */
    json_t *runs = json_object_get(m, "runs");
    assert_int_equal(arr_len(runs), 2);
    json_t *rc = find_by(runs, "run_id", RUN_CHAMP), *rl = find_by(runs, "run_id", RUN_CHALL);
    assert_non_null(rc);
    assert_non_null(rl);
    assert_string_equal(json_string_value(json_object_get(rc, "alias")), "champion");
    assert_string_equal(json_string_value(json_object_get(rl, "alias")), "challenger");
    assert_string_equal(json_string_value(json_object_get(rc, "name")), "failure_risk/champion");
    assert_string_equal(json_string_value(json_object_get(rc, "status")), "RUNNING");
    assert_int_equal(json_integer_value(json_object_get(rc, "records")), 20000);
    assert_string_equal(json_string_value(json_object_get(rc, "stream_end")),
                        "2026-12-02T09:20:00.000000Z");
    json_t *fr = json_array_get(json_object_get(f, "runs"), 0);
    assert_string_equal(json_string_value(json_object_get(fr, "run_id")), RUN_FCAST);
    assert_true(json_is_null(json_object_get(fr, "alias")));
    assert_int_equal(arr_len(json_object_get(o, "runs")), 1);
    assert_true(json_is_null(json_object_get(json_array_get(json_object_get(o, "runs"), 0),
                                             "stream_start")));
    /* The metric keys present, sorted, once each. */
    json_t *keys = json_object_get(m, "keys");
    assert_int_equal(arr_len(keys), 4);
    assert_string_equal(json_string_value(json_array_get(keys, 0)), "lead_h_median");
    assert_string_equal(json_string_value(json_array_get(keys, 1)), "pr_auc");
    assert_string_equal(json_string_value(json_array_get(keys, 2)), "recall");
    assert_string_equal(json_string_value(json_array_get(keys, 3)), "roc_auc");
    assert_string_equal(json_string_value(json_array_get(json_object_get(f, "keys"), 0)),
                        "mae.h1.axis3");
    httpc_free(&r);
    r = get("/api/models?x=1");
    httpc_expect_error(&r, 400, "'x'");
    r = httpc_request(fx.srv, "POST", "/api/models", NULL, "{}");
    httpc_expect_error(&r, 405, "GET");
    r = get("/api/models/failure_risk/nothing");
    httpc_expect_error(&r, 404, "no such endpoint");
    r = get("/api/modelsx");
    httpc_expect_error(&r, 404, "no such endpoint");
}

static void test_versions(void **state)
{
    (void)state;
    if (!*fx.db) skip();
    httpc_reply r = get("/api/models/failure_risk/versions");
    assert_int_equal(r.status, 200);
    json_t *vs = json_object_get(r.json, "versions");
    /* Newest first, every consumer's; the state's size, never its bytes. */
    assert_int_equal(arr_len(vs), 4);
    static const int want_v[] = {3, 2, 1, 1};
    static const int want_bytes[] = {300, 5000, 1, 1000}; /* then by consumer: other first */
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(vs, i);
        assert_int_equal(json_integer_value(json_object_get(v, "version")), want_v[i]);
        assert_int_equal(json_integer_value(json_object_get(v, "state_bytes")), want_bytes[i]);
        assert_null(json_object_get(v, "state"));
    }
    json_t *v3 = json_array_get(vs, 0);
    assert_string_equal(json_string_value(json_object_get(v3, "alias")), "challenger");
    assert_string_equal(json_string_value(json_object_get(v3, "run_id")), RUN_CHALL);
    assert_string_equal(json_string_value(json_object_get(v3, "consumer")), CONSUMER);
    assert_true(json_is_null(json_object_get(json_array_get(vs, 3), "alias")));
    assert_true(fabs(json_real_value(json_object_get(json_object_get(v3, "metrics"), "roc_auc")) -
                     0.72) < 1e-12);
    httpc_free(&r);
    r = get("/api/models/failure_risk/versions?consumer=other");
    assert_int_equal(r.status, 200);
    vs = json_object_get(r.json, "versions");
    assert_int_equal(arr_len(vs), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(vs, 0), "consumer")),
                        "other");
    httpc_free(&r);
    r = get("/api/models/failure_risk/versions?consumer=" CONSUMER "&limit=2");
    assert_int_equal(arr_len(json_object_get(r.json, "versions")), 2);
    httpc_free(&r);
    /* A model with runs but no versions: an empty list, not a 404. */
    r = get("/api/models/forecast/versions");
    assert_int_equal(r.status, 200);
    assert_int_equal(arr_len(json_object_get(r.json, "versions")), 0);
    httpc_free(&r);
    r = httpc_request(fx.srv, "HEAD", "/api/models/failure_risk/versions", NULL, NULL);
    assert_int_equal(r.status, 200);
    httpc_free(&r);
    r = get("/api/models/nothing/versions");
    httpc_expect_error(&r, 404, "model 'nothing'");
    r = get("/api/models/forecast/versions?consumer=other");
    httpc_expect_error(&r, 404, "consumer 'other'");
    r = get("/api/models/a%20b/versions");
    httpc_expect_error(&r, 404, "'a b' is not a model name");
    r = get("/api/models/failure_risk/versions?limit=0");
    httpc_expect_error(&r, 400, "'limit'");
    r = get("/api/models/failure_risk/versions?limit=1001");
    httpc_expect_error(&r, 400, "'limit'");
    r = get("/api/models/failure_risk/versions?consumer=");
    httpc_expect_error(&r, 400, "'consumer'");
    r = get("/api/models/failure_risk/versions?version=1");
    httpc_expect_error(&r, 400, "'version'");
    r = httpc_request(fx.srv, "DELETE", "/api/models/failure_risk/versions", NULL, NULL);
    httpc_expect_error(&r, 405, "GET");
}

/* Checks one run's downsampled series against SQL: all n values when n <= points, else at
 * most points (exactly points when the logged steps are evenly spaced, as here: every bucket
 * of equal step width holds one), each a logged (step, value) of the run in range, steps
 * increasing, the last one the newest in range; rows = n. */
static void check_series(json_t *run, const char *key, int points, const char *range_sql,
                         int even)
{
    const char *id = json_string_value(json_object_get(run, "run_id"));
    char *sql = xasprintf("SELECT count(*) FROM run_metric WHERE run_id = '%s' AND key = '%s' %s",
                          id, key, range_sql);
    int64_t n = harness_query_int(fx.conn, sql);
    free(sql);
    json_t *step = json_object_get(run, "step"), *t = json_object_get(run, "t"),
           *value = json_object_get(run, "value");
    size_t want = (size_t)(n < points ? n : points);
    assert_int_equal(json_integer_value(json_object_get(run, "rows")), n);
    if (n > points && !even) { /* uneven steps: empty buckets give nothing */
        assert_true(arr_len(step) >= 1 && arr_len(step) <= want);
        want = arr_len(step);
    }
    assert_int_equal(arr_len(step), want);
    assert_int_equal(arr_len(t), want);
    assert_int_equal(arr_len(value), want);
    if (!want) return;
    json_int_t prev = -1;
    for (size_t i = 0; i < want; i++) {
        json_int_t s = json_integer_value(json_array_get(step, i));
        assert_true(s > prev);
        prev = s;
        if (i % 97 == 0 || i == want - 1) { /* a sample of them, each a logged value */
            sql = xasprintf("SELECT count(*) FROM run_metric WHERE run_id = '%s' AND key = '%s' "
                            "AND step = %lld AND abs(value - %.17g) < 1e-12 AND "
                            "abs(extract(epoch FROM ts) - %.6f) < 1e-3",
                            id, key, (long long)s, json_number_value(json_array_get(value, i)),
                            json_number_value(json_array_get(t, i)));
            assert_int_equal(harness_query_int(fx.conn, sql), 1);
            free(sql);
        }
    }
    sql = xasprintf("SELECT max(step) FROM run_metric WHERE run_id = '%s' AND key = '%s' %s", id,
                    key, range_sql);
    assert_int_equal(prev, harness_query_int(fx.conn, sql));
    free(sql);
}

static void test_metrics_downsampled(void **state)
{
    (void)state;
    if (!*fx.db) skip();
    /* The default (500) and bounds around each run's count (2,000 and 1,000 values). */
    static const int pts[] = {0, 1, 2, 7, 999, 1000, 1001, 1999, 2000, 2001, 5000};
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        char path[128];
        if (pts[i])
            snprintf(path, sizeof path, "/api/models/failure_risk/metrics?key=roc_auc&points=%d",
                     pts[i]);
        else
            snprintf(path, sizeof path, "/api/models/failure_risk/metrics?key=roc_auc");
        httpc_reply r = get(path);
        assert_int_equal(r.status, 200);
        int p = pts[i] ? pts[i] : 500;
        assert_int_equal(json_integer_value(json_object_get(r.json, "points")), p);
        assert_string_equal(json_string_value(json_object_get(r.json, "key")), "roc_auc");
        json_t *runs = json_object_get(r.json, "runs");
        /* Only the consumer's runs of the model... unless no consumer is named: then every
         * consumer's (the other consumer's run too). */
        assert_int_equal(arr_len(runs), 3);
        for (size_t k = 0; k < 3; k++) check_series(json_array_get(runs, k), "roc_auc", p, "", 1);
        json_t *champ = find_by(runs, "run_id", RUN_CHAMP);
        assert_string_equal(json_string_value(json_object_get(champ, "alias")), "champion");
        if (p == 1) /* one point: the newest value */
            assert_true(fabs(json_number_value(json_array_get(json_object_get(champ, "value"), 0)) -
                             0.7) < 1e-12);
        httpc_free(&r);
    }
    /* One run, one consumer, a range of stream time. */
    httpc_reply r = get("/api/models/failure_risk/metrics?key=roc_auc&run=" RUN_CHALL "&consumer="
                  CONSUMER "&from=2026-12-01T10:00:00Z&to=2026-12-01T20:00:00Z&points=50");
    assert_int_equal(r.status, 200);
    json_t *runs = json_object_get(r.json, "runs");
    assert_int_equal(arr_len(runs), 1);
    check_series(json_array_get(runs, 0), "roc_auc", 50,
                 "AND ts >= '2026-12-01T10:00:00Z' AND ts < '2026-12-01T20:00:00Z'", 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "rows")), 300);
    httpc_free(&r);
    r = get("/api/models/failure_risk/metrics?key=roc_auc&consumer=other");
    assert_int_equal(arr_len(json_object_get(r.json, "runs")), 1);
    httpc_free(&r);
    /* A key no run logged: each run with no values. */
    r = get("/api/models/failure_risk/metrics?key=nothing&consumer=" CONSUMER);
    assert_int_equal(r.status, 200);
    runs = json_object_get(r.json, "runs");
    assert_int_equal(arr_len(runs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "rows")), 0);
    assert_int_equal(arr_len(json_object_get(json_array_get(runs, 0), "value")), 0);
    httpc_free(&r);
    r = get("/api/models/forecast/metrics?key=mae.h1.axis3");
    runs = json_object_get(r.json, "runs");
    assert_int_equal(arr_len(runs), 1);
    check_series(json_array_get(runs, 0), "mae.h1.axis3", 500, "", 1);
    httpc_free(&r);
    /* Steps far from even (2^g): at most points values, the newest kept. */
    static const int few[] = {1, 3, 10, 39, 40};
    for (size_t i = 0; i < sizeof few / sizeof few[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/models/failure_risk/metrics?key=pr_auc&points=%d", few[i]);
        r = get(path);
        runs = json_object_get(r.json, "runs");
        check_series(find_by(runs, "run_id", RUN_CHALL), "pr_auc", few[i], "", 0);
        httpc_free(&r);
    }
    /* Errors, each naming what was wrong. */
    r = get("/api/models/failure_risk/metrics");
    httpc_expect_error(&r, 400, "'key'");
    r = get("/api/models/failure_risk/metrics?key=");
    httpc_expect_error(&r, 400, "'key'");
    r = get("/api/models/failure_risk/metrics?key=roc_auc&points=0");
    httpc_expect_error(&r, 400, "'points'");
    r = get("/api/models/failure_risk/metrics?key=roc_auc&points=5001");
    httpc_expect_error(&r, 400, "'points'");
    r = get("/api/models/failure_risk/metrics?key=roc_auc&points=many");
    httpc_expect_error(&r, 400, "'points'");
    r = get("/api/models/failure_risk/metrics?key=roc_auc&run=xyz");
    httpc_expect_error(&r, 400, "'run'");
    r = get("/api/models/failure_risk/metrics?key=roc_auc&run=" RUN_FCAST);
    httpc_expect_error(&r, 404, RUN_FCAST);
    r = get("/api/models/failure_risk/metrics?key=roc_auc&run=" RUN_OTHER "&consumer=" CONSUMER);
    httpc_expect_error(&r, 404, RUN_OTHER);
    r = get("/api/models/failure_risk/metrics?key=roc_auc&from=yesterday");
    httpc_expect_error(&r, 400, "'from'");
    r = get("/api/models/failure_risk/metrics?key=roc_auc&from=2026-12-02&to=2026-12-01");
    httpc_expect_error(&r, 400, "from, to");
    r = get("/api/models/failure_risk/metrics?key=roc_auc&step=1");
    httpc_expect_error(&r, 400, "'step'");
    r = get("/api/models/nothing/metrics?key=roc_auc");
    httpc_expect_error(&r, 404, "model 'nothing'");
}

static void test_predictions(void **state)
{
    (void)state;
    if (!*fx.db) skip();
    /* Risk: the default range (7 days up to the newest prediction, robot 3 having no
     * readings), one series, each value the prediction itself. */
    httpc_reply r = get("/api/robots/3/predictions?kind=risk");
    assert_int_equal(r.status, 200);
    assert_string_equal(json_string_value(json_object_get(r.json, "kind")), "risk");
    assert_string_equal(json_string_value(json_object_get(r.json, "to")),
                        "2026-12-02T00:30:00.000001Z");
    json_t *ss = json_object_get(r.json, "series");
    assert_int_equal(arr_len(ss), 1);
    json_t *s = json_array_get(ss, 0);
    assert_int_equal(json_integer_value(json_object_get(s, "axis")), 0);
    assert_int_equal(json_integer_value(json_object_get(s, "horizon")), 86400);
    assert_int_equal(json_integer_value(json_object_get(s, "rows")), 3);
    assert_int_equal(arr_len(json_object_get(s, "value")), 3);
    assert_true(fabs(json_number_value(json_array_get(json_object_get(s, "value"), 2)) - 0.2) < 1e-9);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(s, "version"), 0)), 2);
    assert_true(fabs(json_number_value(json_array_get(json_object_get(s, "target"), 0)) -
                     json_number_value(json_array_get(json_object_get(s, "t"), 0)) - 86400) < 1e-6);
    httpc_free(&r);
    /* Another consumer's predictions never show. */
    r = get("/api/robots/1/predictions?kind=risk&from=2026-12-01&to=2026-12-03");
    assert_int_equal(r.status, 200);
    assert_int_equal(arr_len(json_object_get(r.json, "series")), 0);
    httpc_free(&r);
    /* Forecasts: 16 series (8 axes, 2 horizons) of 100; at 1,000 points each is raw; at 7
     * points, 7 buckets each the mean of SQL's own bucket. */
    r = get("/api/robots/2/predictions?kind=forecast&from=2026-12-01T00:00:00Z"
            "&to=2026-12-01T00:20:00Z");
    ss = json_object_get(r.json, "series");
    assert_int_equal(arr_len(ss), 16);
    for (size_t i = 0; i < 16; i++) {
        s = json_array_get(ss, i);
        assert_int_equal(json_integer_value(json_object_get(s, "axis")), (json_int_t)(i / 2 + 1));
        assert_int_equal(json_integer_value(json_object_get(s, "horizon")), i % 2 ? 10 : 1);
        assert_int_equal(json_integer_value(json_object_get(s, "rows")), 100);
        assert_int_equal(arr_len(json_object_get(s, "value")), 100);
    }
    s = json_array_get(ss, 4); /* axis 3, 1 ahead: value 30 + g % 7 at ts g * 10 s */
    for (int g = 0; g < 100; g += 13) {
        assert_true(fabs(json_number_value(json_array_get(json_object_get(s, "value"), g)) -
                         (30 + g % 7)) < 1e-9);
        assert_true(fabs(json_number_value(json_array_get(json_object_get(s, "target"), g)) -
                         json_number_value(json_array_get(json_object_get(s, "t"), g)) - 1) < 1e-6);
    }
    httpc_free(&r);
    r = get("/api/robots/2/predictions?kind=forecast&axis=3&horizon=1&points=7"
            "&from=2026-12-01T00:00:00Z&to=2026-12-01T00:20:00Z");
    assert_int_equal(r.status, 200);
    ss = json_object_get(r.json, "series");
    assert_int_equal(arr_len(ss), 1);
    s = json_array_get(ss, 0);
    json_t *v = json_object_get(s, "value");
    assert_true(arr_len(v) <= 7);
    char *got = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(10));
    char *want = harness_query_text(
        fx.conn, "SELECT json_agg(round(v::numeric, 6) ORDER BY k)::text FROM (SELECT floor(extract("
                 "epoch FROM ts - '2026-12-01T00:00:00Z') / (1200 / 7.0)) AS k, avg(value) AS v "
                 "FROM prediction WHERE consumer = '" CONSUMER "' AND robot_id = 2 AND kind = "
                 "'forecast' AND axis = 3 AND horizon = 1 AND ts >= '2026-12-01T00:00:00Z' AND "
                 "ts < '2026-12-01T00:20:00Z' GROUP BY 1) b");
    json_t *wj = json_loads(want, 0, NULL);
    assert_int_equal(arr_len(wj), arr_len(v));
    for (size_t i = 0; i < arr_len(v); i++)
        if (fabs(json_number_value(json_array_get(v, i)) - json_number_value(json_array_get(wj, i))) >
            1e-6)
            fail_msg("bucket %zu: %s, SQL says %s", i, got, want);
    json_decref(wj);
    free(got);
    free(want);
    httpc_free(&r);
    /* Errors. */
    r = get("/api/robots/2/predictions");
    httpc_expect_error(&r, 400, "'kind'");
    r = get("/api/robots/2/predictions?kind=weather");
    httpc_expect_error(&r, 400, "'kind'");
    r = get("/api/robots/2/predictions?kind=forecast&axis=9");
    httpc_expect_error(&r, 400, "'axis'");
    r = get("/api/robots/2/predictions?kind=forecast&horizon=-1");
    httpc_expect_error(&r, 400, "'horizon'");
    r = get("/api/robots/2/predictions?kind=forecast&points=10001");
    httpc_expect_error(&r, 400, "'points'");
    r = get("/api/robots/2/predictions?kind=forecast&from=2026-12-02&to=2026-12-01");
    httpc_expect_error(&r, 400, "from, to");
    r = get("/api/robots/2/predictions?kind=forecast&from=2024-12-02&to=2026-12-01");
    httpc_expect_error(&r, 400, "366 days");
    r = get("/api/robots/2/predictions?kind=risk&model=1");
    httpc_expect_error(&r, 400, "'model'");
    r = get("/api/robots/99/predictions?kind=risk");
    httpc_expect_error(&r, 404, "robot 99");
    r = get("/api/robots/x1/predictions?kind=risk");
    httpc_expect_error(&r, 404, "'x1' is not a robot id");
    r = httpc_request(fx.srv, "POST", "/api/robots/2/predictions?kind=risk", NULL, "{}");
    httpc_expect_error(&r, 405, "GET");
}

static void test_fleet_risk(void **state)
{
    (void)state;
    if (!*fx.db) skip();
    httpc_reply r = get("/api/robots");
    assert_int_equal(r.status, 200);
    json_t *rs = json_object_get(r.json, "robots");
    assert_int_equal(arr_len(rs), 4);
    /* The newest risk of the consumer's own: robot 2 rose to 0.9, robot 3 fell to 0.2; robot 1
     * has only another consumer's. Ranked by risk: 2, 3, 4, then 1 (none). */
    static const double want[] = {NAN, 0.9, 0.2, 0.05};
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_array_get(rs, i), *risk = json_object_get(x, "risk");
        assert_int_equal(json_integer_value(json_object_get(x, "id")), (json_int_t)i + 1);
        /* The fields the Fleet page read before are all still there. */
        static const char *const fields[] = {"id", "name", "shop", "state", "last_ts",
                                             "seconds_since", "axes", "rows_today",
                                             "rows_total", "open", "band", "risk_ts"};
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            if (!json_object_get(x, fields[f])) fail_msg("robot %zu: no field '%s'", i + 1, fields[f]);
        if (isnan(want[i])) {
            assert_true(json_is_null(risk));
            assert_true(json_is_null(json_object_get(x, "risk_ts")));
        } else {
            assert_true(json_is_number(risk));
            assert_true(fabs(json_number_value(risk) - want[i]) < 1e-9);
            assert_string_equal(json_string_value(json_object_get(x, "risk_ts")),
                                "2026-12-02T00:30:00.000000Z");
        }
    }
    httpc_free(&r);
}

/* POST /api/predict: features -> the champion's probability; a robot and new readings -> its
 * forecasts and risk from the stage's state taken through them (the stored state unchanged);
 * bad bodies name the field. */
static void test_predict(void **state)
{
    (void)state;
    if (!*fx.db) skip();
    predict_setup(); /* the last test: the other tests' lists do not show consumer "pred" */
    /* Features: the champion's own answer for them, its version, a latency. */
    httpc_reply r = httpc_request(fx.srv, "POST", "/api/predict", NULL,
                   "{\"consumer\": \"pred\", \"features\": [1, 0, 0, 0, 0, 0, 0, 0]}");
    assert_int_equal(r.status, 200);
    double x[LEARN_RISK_D] = {1, 0, 0, 0, 0, 0, 0, 0};
    json_t *risk = json_object_get(r.json, "risk");
    assert_float_equal(json_real_value(json_object_get(risk, "probability")), learn_sgd_predict(&pred_model, x), 1e-5);
    assert_int_equal(json_integer_value(json_object_get(risk, "version")), 7);
    assert_true(json_real_value(json_object_get(r.json, "latency_ms")) >= 0);
    httpc_free(&r);

    /* A robot and three new readings a few seconds after its last one: 3 used, forecasts for
     * after the last of them, and the risk of its features (two days of history). */
    char t1[40], t2[40], t3[40], old[40];
    tstamp_format(pred_fc.last_ts + 2000000, t1, sizeof t1);
    tstamp_format(pred_fc.last_ts + 4000000, t2, sizeof t2);
    tstamp_format(pred_fc.last_ts + 6000000, t3, sizeof t3);
    tstamp_format(pred_fc.last_ts - 6000000, old, sizeof old);
    char *body = xasprintf("{\"consumer\": \"pred\", \"robot_id\": 1, \"readings\": ["
                           "{\"ts\": \"%s\", \"axis\": [1, 9, 6, 1, 1, 1, 1, 0.1]},"
                           "{\"ts\": \"%s\", \"axis\": [1, 9, 6, 1, 1, 1, 1, 0.1]},"
                           "{\"ts\": \"%s\", \"axis\": [1, 9, 6, 1, 1, 1, 1, 0.1]},"
                           "{\"ts\": \"%s\", \"axis\": [0, 0, 0, 0, 0, 0, 0, 0]}]}",
                           t1, t2, t3, old);
    r = httpc_request(fx.srv, "POST", "/api/predict", NULL, body);
    free(body);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "readings_used")), 3);
    json_t *h1 = json_object_get(json_object_get(r.json, "forecast"), "h1");
    assert_int_equal(json_array_size(json_object_get(h1, "axis")), 8);
    assert_true(json_number_value(json_array_get(json_object_get(h1, "axis"), 1)) > 0);
    int64_t target;
    const char *ts = json_string_value(json_object_get(h1, "target_ts"));
    assert_int_equal(tstamp_parse(ts, strlen(ts), 0, &target), TSTAMP_OK);
    assert_true(target > pred_fc.last_ts + 6000000);
    assert_non_null(json_object_get(r.json, "features"));
    risk = json_object_get(r.json, "risk");
    double p = json_real_value(json_object_get(risk, "probability"));
    assert_true(p > 0 && p < 1);
    httpc_free(&r);
    /* The stored state is unchanged. */
    assert_int_equal(harness_query_int(fx.conn, "SELECT length(state) FROM learn_robot_state WHERE consumer = 'pred'"),
                     (int64_t)(8 + sizeof(int64_t) + LEARN_FC_CORE + sizeof pred_risk));

    /* The robot's own next readings: the forecast is the stage's forecaster's, waveform memory
     * included (the run aligns to it), not what the state without its memory would say. */
    static learn_fc with, without;
    with = pred_fc;
    without = pred_fc;
    memset(without.tpl, 0, sizeof without.tpl);
    buf rb = {0};
    buf_printf(&rb, "{\"consumer\": \"pred\", \"robot_id\": 1, \"readings\": [");
    double fw[LEARN_FC_AXES], fo[LEARN_FC_AXES];
    int differs = 0;
    for (int i = 0; i < pred_nnext && !differs; i++) {
        char ts1[40];
        tstamp_format(pred_next[i].ts_us, ts1, sizeof ts1);
        buf_printf(&rb, "%s{\"ts\": \"%s\", \"axis\": [", i ? "," : "", ts1);
        for (int a = 0; a < READING_AXES; a++) buf_printf(&rb, "%s%.3f", a ? "," : "", pred_next[i].axis[a]);
        buf_printf(&rb, "]}");
        learn_fc_step(&with, pred_next[i].ts_us, pred_next[i].axis);
        learn_fc_step(&without, pred_next[i].ts_us, pred_next[i].axis);
        /* Up to the first reading after which the memory changes the forecast. */
        int64_t t_h1 = with.last_ts + (int64_t)learn_fc_interval(&with);
        learn_fc_forecast(&with, t_h1, 0, fw);
        learn_fc_forecast(&without, t_h1, 0, fo);
        for (int a = 0; a < LEARN_FC_AXES; a++) differs |= fabs(fw[a] - fo[a]) > 1e-3 + 1e-4 * fw[a];
    }
    buf_printf(&rb, "]}");
    assert_true(differs);
    r = httpc_request(fx.srv, "POST", "/api/predict", NULL, (const char *)rb.data);
    buf_free(&rb);
    assert_int_equal(r.status, 200);
    json_t *ax = json_object_get(json_object_get(json_object_get(r.json, "forecast"), "h1"), "axis");
    for (int a = 0; a < LEARN_FC_AXES; a++)
        assert_float_equal(json_number_value(json_array_get(ax, (size_t)a)), fw[a], 1e-3 + 1e-4 * fw[a]);
    httpc_free(&r);

    /* Bad requests name what is wrong. */
    static const struct { const char *body; int status; const char *names; } bad[] = {
        {"", 400, "body"},
        {"[1, 2]", 400, "body"},
        {"{\"features\": [1, 2]}", 400, "features"},
        {"{\"features\": [1, 2, 3, 4, 5, 6, 7, \"x\"]}", 400, "features[7]"},
        {"{\"robot_id\": 0}", 400, "robot_id"},
        {"{\"robot_id\": 1, \"readings\": [{\"ts\": \"yesterday\", \"axis\": [1,1,1,1,1,1,1,1]}], \"consumer\": \"pred\"}", 400, "readings[0].ts"},
        {"{\"robot_id\": 1, \"readings\": [{\"ts\": \"2026-01-05T00:00:00Z\", \"axis\": [1]}], \"consumer\": \"pred\"}", 400, "readings[0].axis"},
        {"{\"features\": [1,1,1,1,1,1,1,1], \"robot_id\": 1}", 400, "either"},
        {"{\"feature\": [1]}", 400, "feature"},
        {"{\"robot_id\": 99, \"consumer\": \"pred\"}", 404, "robot 99"},
        {"{\"features\": [1,1,1,1,1,1,1,1], \"consumer\": \"nobody\"}", 404, "nobody"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = httpc_request(fx.srv, "POST", "/api/predict", NULL, bad[i].body);
        httpc_expect_error(&r, bad[i].status, bad[i].names);
    }
    r = get("/api/predict");
    assert_int_equal(r.status, 405);
    httpc_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_list),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_metrics_downsampled),
        cmocka_unit_test(test_predictions),
        cmocka_unit_test(test_fleet_risk),
        cmocka_unit_test(test_predict),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
