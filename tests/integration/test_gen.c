/* Integration tests of `pgpulse gen` (cmd_gen, gen, loader) against a real PostgreSQL: rows and
 * ground truth in the database, the same rows as the CSV path, idempotent reruns, pacing, bad
 * options, and `pgpulse run` streaming the default fleet, every row it writes counted by each
 * stage. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include "util.h"

static const char *db;

static int setup(void **state)
{
    (void)state;
    const char *d = harness_db("gen", 1);
    db = d ? xstrdup(d) : NULL; /* harness_db's storage is reused by the next call */
    return 0;
}

/* Lines of a file, the header excluded, and how many of them contain `needle` (NULL: all). */
static int count_lines(const char *path, const char *needle)
{
    char *text = harness_read_file(path);
    int n = 0;
    char *save = NULL;
    int first = 1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (first) {
            first = 0;
            continue;
        }
        if (!needle || strstr(line, needle)) n++;
    }
    free(text);
    return n;
}

static void test_database_rows_and_truth(void **state)
{
    (void)state;
    if (!db) skip();
    char *truth = xasprintf("%s/truth.csv", harness_tmpdir());
    const char *argv[] = {"gen", "--db", db, "--robots", "5", "--rows", "30000", "--seed", "7",
                          "--faults", "heavy", "--truth", truth, NULL};
    harness_out o = harness_pgpulse(NULL, argv);
    if (o.status != 0) fail_msg("gen failed: %s", o.err);
    assert_non_null(strstr(o.err, "5 robots, 30,000 rows"));
    harness_out_free(&o);

    PGconn *conn = harness_connect(db);
    /* Robots were created for the fleet. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM robot WHERE name LIKE 'sim-%'"), 5);
    /* Every fault of the truth file is in the fault table, and nothing else. */
    int faults = count_lines(truth, NULL);
    assert_true(faults > 20);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM fault"), faults);
    int dups = count_lines(truth, ",duplicate,");
    assert_true(dups > 0);
    /* Duplicates are stored once: 30,000 rows emitted, plus late rows released at the end. */
    int64_t stored = harness_query_int(conn, "SELECT count(*) FROM reading");
    int64_t present = harness_query_int(conn, "SELECT sum(rows_present) FROM ingest_batch");
    int64_t read = harness_query_int(conn, "SELECT sum(rows_read) FROM ingest_batch");
    assert_int_equal(stored + present, read);
    assert_true(present >= dups);
    assert_true(read >= 30000 && read <= 30000 + count_lines(truth, ",late,"));
    /* Failures and repairs of wear come in pairs, a repair after each failure. */
    int64_t failures = harness_query_int(conn, "SELECT count(*) FROM maintenance_event WHERE kind = 'failure'");
    int64_t wear_done = harness_query_int(conn, "SELECT count(*) FROM fault f WHERE kind = 'wear' AND "
                                                "EXISTS (SELECT 1 FROM maintenance_event m WHERE "
                                                "m.robot_id = f.robot_id AND m.kind = 'failure' AND "
                                                "m.ts = f.ts_end)");
    assert_int_equal(failures, wear_done);
    /* A plateau's rows are offset upward: the readings in its range sit above the axis's
     * typical running level. */
    assert_true(harness_query_int(conn, "SELECT count(*) FROM fault WHERE kind = 'plateau'") > 0);
    assert_int_equal(harness_query_int(
                         conn, "SELECT count(*) FROM fault f WHERE kind = 'plateau' AND NOT EXISTS ("
                               "SELECT 1 FROM reading r WHERE r.robot_id = f.robot_id AND r.ts "
                               "BETWEEN f.ts_start AND f.ts_end)"),
                     0);

    /* Running it again changes nothing. */
    o = harness_pgpulse(NULL, argv);
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading"), stored);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM fault"), faults);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM maintenance_event"),
                     2 * failures);
    PQfinish(conn);
    free(truth);
}

/* The CSV path and the database path carry the same rows: gen --out - loaded with ingest gives
 * the same table as gen --db. */
static void test_csv_and_database_paths_agree(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "TRUNCATE reading, ingest_batch, ingest_reject, fault, maintenance_event");
    const char *args[] = {"--robots", "3", "--rows", "8000", "--seed", "11", "--first-robot", "101"};
    const char *to_db[16] = {"gen", "--db", db};
    memcpy(to_db + 3, args, sizeof args);
    harness_out o = harness_pgpulse(NULL, to_db);
    if (o.status != 0) fail_msg("gen --db failed: %s", o.err);
    harness_out_free(&o);
    char *a = harness_query_text(conn, "SELECT md5(string_agg((robot_id, ts, axis1, axis2, axis3, axis4, "
                                       "axis5, axis6, axis7, axis8)::text, ';' ORDER BY robot_id, "
                                       "ts)) FROM reading r");
    harness_exec(conn, "TRUNCATE reading, ingest_batch, ingest_reject");

    char *csv = xasprintf("%s/fleet.csv", harness_tmpdir());
    char *cmd = xasprintf("'%s' gen --out - --robots 3 --rows 8000 --seed 11 --first-robot 101 "
                          "> '%s' 2>/dev/null",
                          getenv("PGPULSE_BIN"), csv);
    assert_int_equal(system(cmd), 0);
    o = harness_pgpulse(NULL, (const char *[]){"ingest", "--db", db, csv, NULL});
    if (o.status != 0) fail_msg("ingest failed: %s", o.err);
    harness_out_free(&o);
    char *b = harness_query_text(conn, "SELECT md5(string_agg((robot_id, ts, axis1, axis2, axis3, axis4, "
                                       "axis5, axis6, axis7, axis8)::text, ';' ORDER BY robot_id, "
                                       "ts)) FROM reading r");
    assert_string_equal(a, b);
    /* And the same seed writes the same bytes twice. */
    char *csv2 = xasprintf("%s/fleet2.csv", harness_tmpdir());
    char *cmd2 = xasprintf("'%s' gen --out - --robots 3 --rows 8000 --seed 11 --first-robot 101 "
                           "> '%s' 2>/dev/null && cmp -s '%s' '%s'",
                           getenv("PGPULSE_BIN"), csv2, csv, csv2);
    assert_int_equal(system(cmd2), 0);
    free(a);
    free(b);
    free(cmd);
    free(cmd2);
    free(csv);
    free(csv2);
    PQfinish(conn);
}

static void test_pacing_into_the_database(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "TRUNCATE reading, ingest_batch, ingest_reject, fault, maintenance_event");
    int64_t t0 = util_mono_us();
    harness_out o = harness_pgpulse(NULL, (const char *[]){"gen", "--db", db, "--robots", "10",
                                                           "--rate", "200", "--duration", "3",
                                                           "--first-robot", "201", NULL});
    double secs = (double)(util_mono_us() - t0) / 1e6;
    if (o.status != 0) fail_msg("gen failed: %s", o.err);
    harness_out_free(&o);
    int64_t rows = harness_query_int(conn, "SELECT sum(rows_read) FROM ingest_batch");
    print_message("--rate 200 --duration 3: %lld rows in %.2f s\n", (long long)rows, secs);
    /* Loose bounds: the machine is shared; bench/gen measures precisely. */
    assert_true(secs > 2.5 && secs < 6);
    assert_true(rows > 480 && rows < 700);
    /* The timestamps follow the wall clock (speedup 1): within seconds of now. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading WHERE ts < now() - "
                                             "interval '1 minute' OR ts > now() + interval '1 minute'"),
                     0);
    PQfinish(conn);
}

static void test_bad_options(void **state)
{
    (void)state;
    struct {
        const char *argv[8];
        int status;
        const char *message;
    } cases[] = {
        {{"gen", "--rate", "0", NULL}, 2, "--rate: expected a number"},
        {{"gen", "--faults", "some", NULL}, 2, "--faults: expected none, default or heavy"},
        {{"gen", "--out", "file.csv", NULL}, 2, "--out: only '-'"},
        {{"gen", "--out", "-", "--rows", "5", "--start", "yesterday", NULL}, 2, "--start"},
        {{"gen", "--out", "-", "--profile", "/nonexistent.json", NULL}, 1,
         "/nonexistent.json: No such file or directory"},
        {{"gen", "--calibrate", "/nonexistent.csv", NULL}, 2, "--calibrate needs --profile-out"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness_out o = harness_pgpulse(NULL, cases[i].argv);
        if (o.status != cases[i].status || !strstr(o.err, cases[i].message))
            fail_msg("case %zu: status %d, stderr: %s", i, o.status, o.err);
        harness_out_free(&o);
    }
    /* A profile that is not valid JSON is refused with its line. */
    char *bad = xasprintf("%s/bad.json", harness_tmpdir());
    harness_write_file(bad, "{\n \"version\": 1,\n oops\n}\n");
    harness_out o = harness_pgpulse(NULL, (const char *[]){"gen", "--out", "-", "--profile", bad, NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "line 3"));
    harness_out_free(&o);
    free(bad);
}

/* `pgpulse run` streams the default fleet (robots from 1001) and runs the live and detect stages, as
 * supervised children (one consumer, "pipeline", with both stages), until interrupted. */
static void test_run_streams_the_default_fleet(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/run.log", harness_tmpdir());
    /* A robot export loaded first (--data): its rows reach the stages too, the consumers being
     * made before anything is written. */
    char *export = xasprintf("%s/run_export.csv", harness_tmpdir());
    FILE *f = fopen(export, "w");
    assert_non_null(f);
    fputs("\"Time\",\"Trait\",\"Axis #1\",\"Axis #2\",\"Axis #3\",\"Axis #4\",\"Axis #5\","
          "\"Axis #6\",\"Axis #7\",\"Axis #8\"\n", f);
    for (int i = 0; i < 50; i++)
        fprintf(f, "\"2023-01-02T03:04:%02dZ\",\"current\",%d.5,1,2,3,4,5,6,7\n", i, i);
    fclose(f);
    int pid = harness_spawn(NULL, log, (const char *[]){"run", "--listen", "127.0.0.1:0", "--db", db, "--data", export,
                                                        "--robot", "7", NULL});
    int64_t seen = 0, live = 0, detected = 0, exported = 0;
    for (int i = 0; i < 600 && (seen < 40 || live < 20 || detected < 20 || exported < 50); i++) {
        util_sleep_ms(100);
        seen = harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id > 1000");
        live = harness_query_int(conn, "SELECT count(*) FROM live_robot WHERE robot_id > 1000");
        detected = harness_query_int(conn, "SELECT count(*) FROM detect_robot_state WHERE "
                                           "consumer = 'pipeline' AND robot_id > 1000");
        exported = harness_query_int(conn, "SELECT coalesce(max(rows_total), 0) FROM live_robot "
                                           "WHERE robot_id = 7");
    }
    kill(pid, SIGINT);
    int st = harness_wait(pid, NULL);
    char *out = harness_read_file(log);
    if (st != 0) fail_msg("run exited with %d: %s", st, out);
    assert_non_null(strstr(out, "running: the live, detect and learn stages (consumer pipeline), 20 "
                               "simulated robots"));
    /* The dashboard: its URL is the first line, and the server ran beside the stages. */
    assert_int_equal(strncmp(out, "dashboard: http://127.0.0.1:", 28), 0);
    assert_non_null(strstr(out, "[serve] serving http://127.0.0.1:"));
    assert_non_null(strstr(out, "[gen] pgpulse gen: 20 robots"));   /* prefixed, stopped cleanly */
    assert_non_null(strstr(out, "[run] stopped"));
    assert_true(seen >= 40);
    assert_int_equal(harness_query_int(conn, "SELECT count(DISTINCT robot_id) FROM reading "
                                             "WHERE robot_id BETWEEN 1001 AND 1020"),
                     20);
    /* The live and detect stages followed: their robots are the fleet's. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM live_robot WHERE robot_id "
                                             "BETWEEN 1001 AND 1020"),
                     20);
    assert_int_equal(detected, 20);
    assert_non_null(strstr(out, "[pipeline] pgpulse pipeline: streaming from slot"));
    assert_null(strstr(out, "[detect]")); /* one consumer: the WAL is decoded once */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_consumer WHERE consumer "
                                             "IN ('live', 'detect')"),
                     0);
    assert_int_equal(exported, 50);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM detect_robot_state WHERE "
                                             "consumer = 'pipeline' AND robot_id = 7"),
                     1);
    free(out);
    free(log);
    free(export);
    PQfinish(conn);
}

/* Waits (up to 30 s) until sql, one integer, is at least want; returns its last value. */
static int64_t wait_at_least(PGconn *conn, const char *sql, int64_t want)
{
    int64_t v = 0;
    for (int i = 0; i < 300 && (v = harness_query_int(conn, sql)) < want; i++)
        util_sleep_ms(100);
    return v;
}

/* What test_run_counts_every_row_from_the_start started, and its open transaction: ended by
 * its teardown if it fails half-way (run stops its children on SIGINT). */
static int run_pids[3];
static PGconn *run_open;

static int run_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        if (run_pids[i]) {
            kill(run_pids[i], SIGINT);
            harness_wait(run_pids[i], NULL);
            run_pids[i] = 0;
        }
    if (run_open) PQfinish(run_open);
    run_open = NULL;
    return 0;
}

/* Waits (up to 30 s) until the consumer logging to log says it streams from its slot (so it
 * is past setting its signal handlers); fails the test otherwise. */
static void wait_streaming(const char *log)
{
    int streaming = 0;
    for (int k = 0; k < 300 && !streaming; k++) {
        char *text = access(log, R_OK) == 0 ? harness_read_file(log) : xstrdup("");
        streaming = strstr(text, "streaming from slot") != NULL;
        free(text);
        if (!streaming) util_sleep_ms(100);
    }
    if (!streaming) fail_msg("%s did not start streaming", log);
}

/* `pgpulse run` on a fresh database: its consumers have their slots before the simulator writes
 * a row, so each counts every row. A transaction left open elsewhere in the cluster holds up
 * slot creation (a PostgreSQL rule) for 1.5 s; run waits for it before it starts the simulator,
 * where it used to start the simulator with the stages and lose what it wrote meanwhile. */
static void test_run_counts_every_row_from_the_start(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *other = run_open = harness_connect(db);
    harness_exec(other, "BEGIN");
    harness_exec(other, "SELECT txid_current()");
    char *fresh = xstrdup(harness_db("gen_run", 0));
    char *log = xasprintf("%s/run_fresh.log", harness_tmpdir());
    int pid = run_pids[0] = harness_spawn(
        NULL, log, (const char *[]){"run", "--listen", "127.0.0.1:0", "--db", fresh, "--robots", "5", "--rate", "50", NULL});
    char *out = NULL;
    for (int i = 0; i < 300; i++) {
        free(out);
        out = access(log, R_OK) == 0 ? harness_read_file(log) : xstrdup("");
        if (strstr(out, "creating replication slot")) break;
        util_sleep_ms(100);
    }
    if (!strstr(out, "creating replication slot")) fail_msg("run made no slot: %s", out);
    util_sleep_ms(1500);
    PGconn *conn = harness_connect(fresh);
    int64_t early = harness_query_int(conn, "SELECT count(*) FROM reading");
    harness_exec(other, "COMMIT");
    PQfinish(other);
    run_open = NULL;
    wait_at_least(conn, "SELECT count(*) FROM reading", 100);
    kill(pid, SIGINT);
    int st = harness_wait(pid, NULL);
    run_pids[0] = 0;
    free(out);
    out = harness_read_file(log);
    if (st != 0) fail_msg("run exited with %d: %s", st, out);
    assert_non_null(strstr(out, "[run] stopped"));
    /* What the simulator wrote last may not be read yet: the stages again, until they have. */
    int64_t total = harness_query_int(conn, "SELECT count(*) FROM reading");
    char *plog = xasprintf("%s/run_pipeline.log", harness_tmpdir());
    int pipe = run_pids[1] = harness_spawn(
        NULL, plog, (const char *[]){"consume", "--stages", "live,detect", "--name", "pipeline",
                                     "--db", fresh, "--status-every", "0", NULL});
    /* Streaming (so past setting its signal handlers) before it is stopped. */
    wait_streaming(plog);
    free(plog);
    int64_t got = wait_at_least(conn,
                                "SELECT coalesce(sum(rows), 0) FROM stream_checkpoint WHERE "
                                "consumer = 'pipeline'",
                                total);
    kill(pipe, SIGINT);
    int st_pipe = harness_wait(pipe, NULL);
    run_pids[1] = 0;
    assert_int_equal(st_pipe, 0);
    print_message("run: %lld rows written while the slot was made, %lld in all; pipeline counted "
                  "%lld\n",
                  (long long)early, (long long)total, (long long)got);
    assert_int_equal(early, 0);
    assert_true(total >= 100);
    assert_int_equal(got, total);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                             "database = current_database()"),
                     1);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"), total);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM detect_robot_state WHERE "
                                             "consumer = 'pipeline'"),
                     5);
    PQfinish(conn);
    free(out);
    free(log);
    free(fresh);
}

/* A home of an earlier run (consumers live and detect) is migrated to pipeline: see
 * test_run_migrate.c. */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_rows_and_truth),
        cmocka_unit_test(test_csv_and_database_paths_agree),
        cmocka_unit_test(test_pacing_into_the_database),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_run_streams_the_default_fleet),
        cmocka_unit_test_teardown(test_run_counts_every_row_from_the_start, run_teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
