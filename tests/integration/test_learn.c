/* Integration tests of the learn stage (stage_learn, learn_*, cmd_learn) against a real
 * PostgreSQL: over two simulated robots for six days it writes forecasts for every axis and
 * both horizons, risk predictions once the robots have a day of history, metrics, runs and
 * daily model versions with the champion and challenger aliases; and SIGKILLed six times at
 * random moments while the rows arrive, it writes exactly what an uninterrupted consumer
 * writes (md5 over every column but wall-clock times). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "learn_forecast.h"
#include "rng.h"
#include "util.h"

#define ROWS 200000
#define RATE 40000

/* Everything the stage decides, nothing that depends on when it ran. */
static char *fingerprint(PGconn *conn)
{
    return harness_query_text(
        conn,
        "SELECT concat_ws(' ', "
        "(SELECT md5(coalesce(string_agg((consumer, robot_id, ts, kind, axis, horizon, target_ts, value, "
        "model_version)::text, ';' ORDER BY robot_id, kind, axis, horizon, ts), '')) FROM prediction), "
        "(SELECT md5(coalesce(string_agg((run_id, key, step, ts, value)::text, ';' ORDER BY run_id, key, step), '')) "
        "FROM run_metric), "
        "(SELECT md5(coalesce(string_agg((consumer, name, version, run_id, model, state, metrics, alias, stream_ts)::text, "
        "';' ORDER BY consumer, name, version), '')) FROM model_version), "
        "(SELECT md5(coalesce(string_agg((run_id, name, model, params, status, records, stream_start, stream_end)::text, "
        "';' ORDER BY run_id), '')) FROM run), "
        "(SELECT md5(coalesce(string_agg((robot_id, state)::text, ';' ORDER BY robot_id), '')) FROM learn_robot_state), "
        "(SELECT md5(coalesce(string_agg((robot_id, slot, cells)::text, ';' ORDER BY robot_id, slot), '')) "
        "FROM learn_robot_waveform))");
}

static int start_learn(const char *db, const char *log)
{
    return harness_spawn(NULL, log, (const char *[]){"learn", "--db", db, "--name", "learn",
                                                     "--status-every", "0", NULL});
}

/* Two robots for six days of stream time (one reading every 5 s each), heavy faults (wear
 * ends in 4 failures), a fixed start; written whole before the consumer reads it. The stage
 * learns a failure exactly as an uninterrupted run does when it is recorded within 12 h of
 * stream time (docs/learn.md); a simulator writing days of stream time a second records its
 * failures a second late — days — so the test writes everything first, like a replay. */
static void write_rows(const char *db)
{
    char n[16], r[16];
    snprintf(n, sizeof n, "%d", ROWS);
    snprintf(r, sizeof r, "%d", RATE);
    int w = harness_spawn(NULL, NULL, (const char *[]){"gen", "--db", db, "--robots", "2",
                                                       "--first-robot", "3001", "--rows", n,
                                                       "--seed", "12", "--faults", "heavy", "--start",
                                                       "2026-03-01T00:00:00Z", "--rate", r,
                                                       "--speedup", "100000", "--batch", "2000", NULL});
    assert_int_equal(harness_wait(w, NULL), 0);
}

/* The consumer registers and makes its slot, then stops: what is written next is read whole
 * when it starts again. */
static void prepare_consumer(PGconn *conn, const char *db, const char *log)
{
    int c = start_learn(db, log);
    harness_wait_slot(conn, "learn");
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
}

static void wait_rows(PGconn *conn, int64_t rows, const char *log)
{
    int64_t got = 0;
    for (int i = 0; i < 1200 && got < rows; i++) {
        got = harness_query_int(conn, "SELECT coalesce(sum(rows), 0) FROM stream_checkpoint WHERE consumer = 'learn'");
        if (got < rows) util_sleep_ms(100);
    }
    if (got != rows) {
        char *text = log ? harness_read_file(log) : NULL;
        fail_msg("learn: %lld rows, expected %lld; its log:\n%s", (long long)got, (long long)rows,
                 text ? text : "(none)");
    }
}

/* pgpulse models over what the stage wrote: list, show, promote, export (MLflow's layout). */
static void check_models_cli(PGconn *conn, const char *db)
{
    harness_out o = harness_pgpulse(NULL, (const char *[]){"models", "list", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "learn\tfailure_risk\t"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"models", "show", "failure_risk", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "champion"));
    assert_non_null(strstr(o.out, "roc_auc"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"models", "promote", "failure_risk", "999", "--db", db, NULL});
    assert_int_not_equal(o.status, 0);
    assert_non_null(strstr(o.err, "no version 999"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"models", "promote", "failure_risk", "1", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT version FROM model_version WHERE alias = 'champion'"), 1);
    char *dir = xasprintf("%s/mlruns", harness_tmpdir());
    o = harness_pgpulse(NULL, (const char *[]){"models", "export", dir, "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    char *exp = harness_query_text(conn, "SELECT experiment_id FROM experiment WHERE name = 'failure_risk'");
    char *run = harness_query_text(conn, "SELECT run_id FROM run WHERE name = 'failure_risk/a'");
    char *path = xasprintf("%s/%s/meta.yaml", dir, exp);
    char *text = harness_read_file(path);
    assert_non_null(strstr(text, "name: failure_risk"));
    free(text);
    free(path);
    path = xasprintf("%s/%s/%s/metrics/labels", dir, exp, run);
    text = harness_read_file(path);
    assert_non_null(text); /* lines of "timestamp value step" */
    long long ts, step;
    double v;
    assert_int_equal(sscanf(text, "%lld %lf %lld", &ts, &v, &step), 3);
    free(text);
    free(path);
    path = xasprintf("%s/models/failure_risk/aliases/champion", dir);
    text = harness_read_file(path);
    assert_string_equal(text, "1");
    free(text);
    free(path);
    path = xasprintf("%s/%s/%s/artifacts/model/version-1.bin", dir, exp, run);
    text = harness_read_file(path);
    assert_non_null(text);
    free(text);
    free(path);
    free(exp);
    free(run);
    free(dir);
}

/* A version of the challenger's learner promoted by hand becomes the champion at the stage's
 * next daily snapshot (versions alternate: even ones are learner b's), and the risk it writes
 * from then on names that version; at later snapshots the rule judges again. */
static void check_manual_promotion(PGconn *conn, const char *db, const char *log)
{
    int64_t champ = harness_query_int(conn, "SELECT max(version) FROM model_version WHERE version % 2 = 0");
    char v[16];
    snprintf(v, sizeof v, "%lld", (long long)champ);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"models", "promote", "failure_risk", v, "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    int w = harness_spawn(NULL, NULL, (const char *[]){"gen", "--db", db, "--robots", "2", "--first-robot", "3001",
                                                       "--rows", "40000", "--seed", "13", "--faults", "none",
                                                       "--start", "2026-03-08T00:00:00Z", "--rate", "40000",
                                                       "--speedup", "100000", NULL});
    assert_int_equal(harness_wait(w, NULL), 0);
    int c = start_learn(db, log);
    wait_rows(conn, harness_query_int(conn, "SELECT count(*) FROM reading"), log);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM prediction WHERE kind = 'risk' AND model_version = %lld",
             (long long)(champ + 2));
    int64_t by_b = harness_query_int(conn, sql);
    print_message("promoted version %lld by hand; the next snapshot's champion, version %lld, made %lld "
                  "risk predictions\n", (long long)champ, (long long)(champ + 2), (long long)by_b);
    assert_true(by_b > 0);
}

static void test_outputs_and_kills(void **state)
{
    (void)state;
    const char *db = harness_db("learn_ref", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/learn-ref.log", harness_tmpdir());
    prepare_consumer(conn, db, log);
    write_rows(db);
    harness_exec(conn, "LISTEN pgpulse_learn");
    int c = start_learn(db, log);
    int64_t stored = harness_query_int(conn, "SELECT count(*) FROM reading");
    wait_rows(conn, stored, log);
    /* The dashboard's signal: a NOTIFY naming the robots whose risk is new. */
    assert_int_equal(PQconsumeInput(conn), 1);
    int notes = 0, named = 0;
    for (PGnotify *nt; (nt = PQnotifies(conn)); PQfreemem(nt)) {
        notes++;
        named += strstr(nt->extra, "\"consumer\":\"learn\"") && strstr(nt->extra, "3001");
    }
    print_message("%d notifications on pgpulse_learn, %d naming robot 3001\n", notes, named);
    assert_true(named > 0);
    harness_exec(conn, "UNLISTEN pgpulse_learn");
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    char *ref = fingerprint(conn);

    /* What it wrote. */
    int64_t fc = harness_query_int(conn, "SELECT count(*) FROM prediction WHERE kind = 'forecast'");
    int64_t combos = harness_query_int(conn, "SELECT count(DISTINCT (robot_id, axis, horizon)) FROM "
                                             "prediction WHERE kind = 'forecast'");
    int64_t risk = harness_query_int(conn, "SELECT count(*) FROM prediction WHERE kind = 'risk' AND "
                                           "value BETWEEN 0 AND 1 AND axis = 0 AND horizon = 86400");
    int64_t versions = harness_query_int(conn, "SELECT count(*) FROM model_version");
    int64_t aliases = harness_query_int(conn, "SELECT count(*) FROM model_version WHERE alias IS NOT NULL");
    int64_t metrics = harness_query_int(conn, "SELECT count(DISTINCT key) FROM run_metric");
    int64_t failures = harness_query_int(conn, "SELECT count(*) FROM maintenance_event WHERE kind = 'failure'");
    assert_true(failures >= 2);
    int64_t runs = harness_query_int(conn, "SELECT count(*) FROM run WHERE records = " "(SELECT sum(rows) FROM stream_checkpoint WHERE consumer = 'learn')");
    print_message("%lld rows: %lld forecasts (%lld robot/axis/horizon), %lld risk predictions, "
                  "%lld model versions, %lld metric keys, %lld failures\n",
                  (long long)stored, (long long)fc, (long long)combos, (long long)risk,
                  (long long)versions, (long long)metrics, (long long)failures);
    assert_int_equal(combos, 2 * 8 * 2);
    assert_true(fc > 1000);
    assert_true(risk > 10);
    assert_true(versions >= 2);
    assert_int_equal(aliases, 2);
    assert_true(metrics >= 80);
    assert_int_equal(runs, 3);
    /* Each robot's waveform memory reached the table (a slot a row, written when it changed). */
    char wsql[256];
    snprintf(wsql, sizeof wsql, "SELECT count(DISTINCT robot_id) FROM learn_robot_waveform WHERE length(cells) = %zu "
             "AND cells <> decode(repeat('00', %zu), 'hex')", (size_t)LEARN_FC_SLOT_BYTES, (size_t)LEARN_FC_SLOT_BYTES);
    assert_int_equal(harness_query_int(conn, wsql), 2);
    /* Forecasts are written at most once a minute of a robot's time, for a time ahead of it. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM (SELECT robot_id, axis, horizon, "
                                             "date_trunc('minute', ts) FROM prediction WHERE kind = 'forecast' "
                                             "GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) x"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM prediction WHERE target_ts <= ts"), 0);
    check_models_cli(conn, db);
    check_manual_promotion(conn, db, log);
    PQfinish(conn);

    /* Killed six times while it works through the rows: the same outputs. */
    db = harness_db("learn_kill", 1);
    conn = harness_connect(db);
    char *klog = xasprintf("%s/learn-kill.log", harness_tmpdir());
    prepare_consumer(conn, db, klog);
    write_rows(db);
    c = start_learn(db, klog);
    rng moments;
    rng_seed(&moments, harness_seed(), 1);
    int64_t at_kill[6];
    char *started = NULL;
    for (int k = 0; k < 6; k++) {
        /* Spread over the whole replay: once the committed rows pass a point drawn from the
         * seed, at a moment a few milliseconds later, mid-batch. */
        int64_t target = (k + 1) * stored / 7 + (int64_t)rng_below(&moments, (uint64_t)(stored / 14));
        for (int i = 0; i < 3000; i++) {
            if (harness_query_int(conn, "SELECT coalesce(sum(rows), 0) FROM stream_checkpoint "
                                        "WHERE consumer = 'learn'") >= target)
                break;
            util_sleep_ms(20);
        }
        util_sleep_ms((int)rng_below(&moments, 60));
        kill(c, SIGKILL);
        harness_wait(c, NULL);
        at_kill[k] = harness_query_int(conn, "SELECT coalesce(sum(rows), 0) FROM stream_checkpoint WHERE consumer = 'learn'");
        free(started);
        started = harness_now(conn);
        c = start_learn(db, klog);
    }
    print_message("killed at %lld, %lld, %lld, %lld, %lld, %lld rows committed\n", (long long)at_kill[0],
                  (long long)at_kill[1], (long long)at_kill[2], (long long)at_kill[3], (long long)at_kill[4],
                  (long long)at_kill[5]);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), stored);
    wait_rows(conn, stored, klog);
    /* The last restart may find nothing left to do: stop it once past its start-up. */
    harness_wait_reading_since(conn, "learn", started);
    free(started);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    char *fp = fingerprint(conn);
    assert_string_equal(fp, ref);
    free(fp);
    free(ref);
    free(log);
    free(klog);
    PQfinish(conn);
}

/* Bad invocations say what is wrong. */
static void test_replay_errors(void **state)
{
    (void)state;
    harness_out o = harness_pgpulse(NULL, (const char *[]){"learn", "--replay", "/nonexistent.csv",
                                                           "--target", "y", NULL});
    assert_int_not_equal(o.status, 0);
    assert_non_null(strstr(o.err, "/nonexistent.csv"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"learn", "--replay", "x.csv", NULL});
    assert_int_not_equal(o.status, 0);
    assert_non_null(strstr(o.err, "--target"));
    harness_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_errors),
        cmocka_unit_test(test_outputs_and_kills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
