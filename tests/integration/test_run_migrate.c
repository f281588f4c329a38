/* Integration tests of run_migrate (and stream_opts.stop_lsn under it) against a real PostgreSQL:
 * a home of an earlier `pgpulse run` — consumers live and detect, one stage and one slot each,
 * left at different positions with rows neither has read — is moved to the one consumer
 * pipeline while a writer keeps writing; pipeline then reads to the end, and its tables must
 * equal, by md5, those of a consumer "ref" (stages live,detect) that read the same rows
 * uninterrupted in a database of its own, with no old slot left and every reading counted once.
 * The same with the migration killed at every step (PGPULSE_TEST_FAULT=migrate-STEP:1) and run
 * again, one old consumer run past the prepared pipeline in between; and `pgpulse run` on such a
 * home, after refusing while an old consumer runs. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "harness.h"
#include "run_migrate.h"
#include "util.h"

#define MIG_WAIT_S 120 /* a condition the test waits for fails after this long */

/* Processes a test started and has not waited for yet: ended by the teardown when a test fails
 * half-way. */
#define MIG_MAX_PIDS 8
static int mig_pids[MIG_MAX_PIDS];

static int mig_track(int pid)
{
    for (int i = 0; i < MIG_MAX_PIDS; i++)
        if (!mig_pids[i]) {
            mig_pids[i] = pid;
            return pid;
        }
    fail_msg("more than %d processes", MIG_MAX_PIDS);
    return pid;
}

/* Waits for pid (failing after MIG_WAIT_S); returns its exit status, or 128+signal. */
static int mig_wait_pid(int pid)
{
    for (int i = 0; i < MIG_WAIT_S * 10; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            for (int k = 0; k < MIG_MAX_PIDS; k++)
                if (mig_pids[k] == pid) mig_pids[k] = 0;
            return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
        }
        util_sleep_ms(100);
    }
    fail_msg("process %d did not end in %d s", pid, MIG_WAIT_S);
    return -1;
}

static int mig_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < MIG_MAX_PIDS; i++)
        if (mig_pids[i]) {
            kill(mig_pids[i], SIGKILL);
            harness_wait(mig_pids[i], NULL);
            mig_pids[i] = 0;
        }
    return 0;
}

/* Waits until a scalar query is non-zero; fails after MIG_WAIT_S. */
static void mig_wait_true(PGconn *conn, const char *sql)
{
    char *q = xasprintf("SELECT ((%s))::int", sql);
    for (int i = 0; i < MIG_WAIT_S * 10; i++) {
        if (harness_query_int(conn, q)) {
            free(q);
            return;
        }
        util_sleep_ms(100);
    }
    fail_msg("waited %d s for: %s", MIG_WAIT_S, sql);
}

/* A consumer of the given stages, logging to log. */
static int mig_consumer(const char *db, const char *stages, const char *name, const char *log)
{
    const char *argv[] = {"consume", "--stages", stages,         "--db", db, "--name",
                          name,      "--status-every", "0", NULL};
    return mig_track(harness_spawn(NULL, log, argv));
}

/* Stops a consumer with SIGINT (it commits what it has): it must exit 0. */
static void mig_stop(int pid)
{
    kill(pid, SIGINT);
    assert_int_equal(mig_wait_pid(pid), 0);
}

/* Waits until the consumer's checkpoint counts every row of reading. */
static void mig_wait_all_read(PGconn *conn, const char *consumer)
{
    char *sql = xasprintf("SELECT rows = (SELECT count(*) FROM reading) FROM stream_checkpoint "
                          "WHERE consumer = '%s'",
                          consumer);
    mig_wait_true(conn, sql);
    free(sql);
}

/* The writers, the same in every database: 10 robots each from `first`, the simulator's faults
 * (late and duplicate rows among them), 100-row transactions; rate 0: unpaced. */
typedef struct mig_writer {
    int first, rows, seed, rate;
    const char *start;
} mig_writer;

static const mig_writer mig_w1 = {1, 3000, 1, 0, "2026-03-01T00:00:00Z"};  /* both read it */
static const mig_writer mig_w2 = {11, 2000, 2, 0, "2026-03-01T00:00:00Z"}; /* live only */
static const mig_writer mig_w3 = {21, 1000, 3, 0, "2026-03-01T00:00:00Z"}; /* neither */
/* During the migration: robots 1..10 again, six hours later (within the live stage's 24 h of
 * fleet seconds), paced over about 12 s. */
static const mig_writer mig_w4 = {1, 6000, 4, 500, "2026-03-01T06:00:00Z"};

static int mig_write(const char *db, const mig_writer *w, int wait)
{
    char f[16], n[16], r[16], seed[16];
    snprintf(f, sizeof f, "%d", w->first);
    snprintf(n, sizeof n, "%d", w->rows);
    snprintf(r, sizeof r, "%d", w->rate);
    snprintf(seed, sizeof seed, "%d", w->seed);
    const char *argv[24] = {"gen",    "--db",     db,  "--robots", "10",     "--first-robot",
                            f,        "--rows",   n,   "--seed",   seed,     "--start",
                            w->start, "--batch", "100"};
    int k = 15;
    if (w->rate) {
        argv[k++] = "--rate";
        argv[k++] = r;
    }
    argv[k] = NULL;
    int pid = mig_track(harness_spawn(NULL, NULL, argv));
    if (!wait) return pid;
    assert_int_equal(mig_wait_pid(pid), 0);
    return 0;
}

/* What the live and detect stages wrote, without surrogate ids, wall-clock columns and the
 * consumer's name. */
static const char *const mig_tables[] = {
    "SELECT coalesce(string_agg((robot_id, last_ts, axis1, axis2, axis3, axis4, axis5, axis6, "
    "axis7, axis8, state, day, rows_today, rows_total)::text, ';' ORDER BY robot_id), '') FROM "
    "live_robot",
    "SELECT coalesce(string_agg((second, rows, active_robots)::text, ';' ORDER BY second), '') "
    "FROM live_fleet_second",
    "SELECT coalesce(string_agg((robot_id, axis_key, level, ts_first, ts_start, ts_end, "
    "peak_score, peak_z, detector, reason, readings, open)::text, ';' ORDER BY robot_id, "
    "axis_key, ts_first), '') FROM anomaly",
    "SELECT coalesce(string_agg((robot_id, md5(state))::text, ';' ORDER BY robot_id), '') FROM "
    "detect_robot_state",
    "SELECT coalesce(string_agg((robot_id, ts, pred, sigma)::text, ';' ORDER BY robot_id), '') "
    "FROM detect_band",
    "SELECT coalesce(string_agg((robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, "
    "axis8)::text, ';' ORDER BY robot_id, ts), '') FROM reading",
};

/* md5 of each table's content, joined with '/' (newly allocated). */
static char *mig_fingerprint(PGconn *conn)
{
    buf b = {0};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(mig_tables); i++) {
        char *sql = xasprintf("SELECT md5((%s))", mig_tables[i]);
        char *v = harness_query_text(conn, sql);
        buf_printf(&b, "%s%s", i ? "/" : "", v);
        free(v);
        free(sql);
    }
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* The reference: the same writers, one after the other, into a database of its own, read by
 * one consumer "ref" that nobody interrupts (computed once). */
static char *mig_ref;

static const char *mig_reference(void)
{
    if (mig_ref) return mig_ref;
    char *db = xstrdup(harness_db("mig_ref", 1));
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/ref.log", harness_tmpdir());
    int c = mig_consumer(db, "live,detect", "ref", log);
    harness_wait_slot(conn, "ref");
    const mig_writer *ws[] = {&mig_w1, &mig_w2, &mig_w3, &mig_w4};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ws); i++)
        mig_write(db, ws[i], 1);
    mig_wait_all_read(conn, "ref");
    mig_stop(c);
    assert_true(harness_query_int(conn, "SELECT count(*) FROM anomaly") > 0);
    mig_ref = mig_fingerprint(conn);
    PQfinish(conn);
    free(log);
    free(db);
    return mig_ref;
}

/* An old home: consumers live and detect read the first writer's rows; detect stops; live reads
 * the second's and stops; the third's nobody reads. Returns its conninfo (newly allocated). */
static char *mig_old_home(const char *name)
{
    char *db = xstrdup(harness_db(name, 1));
    PGconn *conn = harness_connect(db);
    char *llog = xasprintf("%s/%s_live.log", harness_tmpdir(), name);
    char *dlog = xasprintf("%s/%s_detect.log", harness_tmpdir(), name);
    int live = mig_consumer(db, "live", "live", llog);
    int detect = mig_consumer(db, "detect", "detect", dlog);
    harness_wait_slot(conn, "live");
    harness_wait_slot(conn, "detect");
    mig_write(db, &mig_w1, 1);
    mig_wait_all_read(conn, "live");
    mig_wait_all_read(conn, "detect");
    mig_stop(detect);
    mig_write(db, &mig_w2, 1);
    mig_wait_all_read(conn, "live");
    mig_stop(live);
    mig_write(db, &mig_w3, 1);
    /* Two slots, at different positions, both behind. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                             "database = current_database()"),
                     2);
    assert_int_equal(harness_query_int(conn, "SELECT count(DISTINCT end_lsn) FROM "
                                             "stream_checkpoint"),
                     2);
    PQfinish(conn);
    free(llog);
    free(dlog);
    return db;
}

/* After the migration, with the fourth writer done: pipeline reads to the end; no old consumer
 * or slot is left, every reading is counted once, and the tables equal the reference's. */
static void mig_check_outcome(const char *db)
{
    PGconn *conn = harness_connect(db);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_consumer WHERE consumer "
                                             "<> 'pipeline'"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                             "database = current_database()"),
                     1);
    char *log = xasprintf("%s/%s_pipeline.log", harness_tmpdir(), PQdb(conn));
    int p = mig_consumer(db, "live,detect", "pipeline", log);
    mig_wait_all_read(conn, "pipeline");
    mig_stop(p);
    free(log);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                             "database = current_database() AND slot_name <> "
                                             "(SELECT slot_name FROM stream_consumer WHERE "
                                             "consumer = 'pipeline')"),
                     0);
    /* Every reading once: per robot, the live stage's count is the table's. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM (SELECT robot_id, count(*) AS n "
                                             "FROM reading GROUP BY 1) r FULL JOIN live_robot l "
                                             "USING (robot_id) WHERE l.rows_total IS DISTINCT "
                                             "FROM r.n"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT (SELECT count(*) FROM detect_robot_state "
                                             "WHERE consumer <> 'pipeline') + (SELECT count(*) "
                                             "FROM anomaly WHERE consumer <> 'pipeline') + "
                                             "(SELECT count(*) FROM stream_stage_state WHERE "
                                             "consumer <> 'pipeline')"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM detect_robot_state"), 30);
    char *fp = mig_fingerprint(conn);
    print_message("%s: %lld readings, %lld anomaly episodes; tables %s\n", PQdb(conn),
                  (long long)harness_query_int(conn, "SELECT count(*) FROM reading"),
                  (long long)harness_query_int(conn, "SELECT count(*) FROM anomaly"), fp);
    assert_string_equal(fp, mig_reference());
    free(fp);
    PQfinish(conn);
}

/* Waits until the fourth writer has written some rows (so the migration runs while it writes). */
static void mig_wait_w4_started(PGconn *conn)
{
    mig_wait_true(conn, "SELECT count(*) >= 500 FROM reading WHERE ts >= '2026-03-01 06:00+00'");
}

static void test_migrates_while_writing(void **state)
{
    (void)state;
    if (!getenv("PGPULSE_TEST_HOME")) skip();
    const char *ref = mig_reference();
    assert_non_null(ref);
    char *db = mig_old_home("mig_basic");
    PGconn *conn = harness_connect(db);
    int w4 = mig_write(db, &mig_w4, 0);
    mig_wait_w4_started(conn);
    run_migrate_result res;
    char err[1024];
    int64_t t0 = util_mono_us();
    int rc = run_migrate(db, db, &res, err, sizeof err);
    if (rc) fail_msg("run_migrate: %s", err);
    print_message("migrated %s to pipeline at %s in %.2f s, dropped %s\n", res.from, res.lsn,
                  (double)(util_mono_us() - t0) / 1e6, res.slots);
    assert_int_equal(res.migrated, 1);
    assert_string_equal(res.from, "live and detect");
    assert_non_null(strstr(res.slots, "pgpulse_live_"));
    assert_non_null(strstr(res.slots, "pgpulse_detect_"));
    /* The writer was still writing: rows committed after the migration are the pipeline's. */
    assert_true(waitpid(w4, NULL, WNOHANG) == 0);
    int64_t at = harness_query_int(conn, "SELECT rows FROM stream_checkpoint WHERE consumer = "
                                         "'pipeline'");
    /* Nothing left to do: a second call changes nothing. */
    rc = run_migrate(db, db, &res, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(res.migrated, 0);
    assert_int_equal(mig_wait_pid(w4), 0);
    int64_t total = harness_query_int(conn, "SELECT count(*) FROM reading");
    print_message("%lld rows read by live and detect before the pipeline's slot, %lld after\n",
                  (long long)at, (long long)(total - at));
    assert_true(at > 0 && total - at > 0);
    PQfinish(conn);
    mig_check_outcome(db);
    free(db);
}

/* run_migrate in a child process killed at `fault` (NULL: none); returns its exit status
 * (128+9 when killed there). */
static int mig_run_child(const char *db, const char *fault)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (fault) setenv("PGPULSE_TEST_FAULT", fault, 1);
        run_migrate_result res;
        char err[1024];
        int rc = run_migrate(db, db, &res, err, sizeof err);
        if (rc) fprintf(stderr, "run_migrate: %s\n", err);
        fflush(NULL);
        _exit(rc ? 1 : res.migrated ? 0 : 3);
    }
    assert_true(pid > 0);
    return mig_wait_pid(mig_track(pid));
}

static void test_killed_at_every_step(void **state)
{
    (void)state;
    if (!getenv("PGPULSE_TEST_HOME")) skip();
    mig_reference();
    char *db = mig_old_home("mig_kill");
    PGconn *conn = harness_connect(db);
    int w4 = mig_write(db, &mig_w4, 0);
    mig_wait_w4_started(conn);
    const char *slots_sql = "SELECT count(*) FROM pg_replication_slots WHERE database = "
                            "current_database()";
    const char *old_sql = "SELECT count(*) FROM stream_consumer WHERE consumer IN ('live', "
                          "'detect')";

    assert_int_equal(mig_run_child(db, "migrate-settled:1"), 128 + SIGKILL);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_consumer WHERE "
                                             "consumer = 'pipeline'"),
                     0);
    assert_int_equal(mig_run_child(db, "migrate-prepared:1"), 128 + SIGKILL);
    assert_int_equal(harness_query_int(conn, slots_sql), 3);
    /* Meanwhile an old consumer runs on, past where the pipeline's slot begins: the next run
     * makes the pipeline again (it has applied nothing). */
    char *first = harness_query_text(conn, "SELECT created_at::text FROM stream_consumer WHERE "
                                           "consumer = 'pipeline'");
    char *llog = xasprintf("%s/mig_kill_live2.log", harness_tmpdir());
    int live = mig_consumer(db, "live", "live", llog);
    mig_wait_true(conn, "SELECT (SELECT commit_lsn FROM stream_checkpoint WHERE consumer = "
                        "'live') >= (SELECT end_lsn FROM stream_checkpoint WHERE consumer = "
                        "'pipeline')");
    mig_stop(live);
    free(llog);
    assert_true(waitpid(w4, NULL, WNOHANG) == 0); /* still writing */
    assert_int_equal(mig_run_child(db, "migrate-drained-live:1"), 128 + SIGKILL);
    char *sql = xasprintf("SELECT count(*) FROM stream_consumer WHERE consumer = 'pipeline' AND "
                          "created_at > '%s'",
                          first);
    if (harness_query_int(conn, sql) != 1)
        fail_msg("pipeline not made again: %s, now %s", first,
                 harness_query_text(conn, "SELECT created_at::text FROM stream_consumer WHERE "
                                          "consumer = 'pipeline'"));
    free(sql);
    assert_int_equal(harness_query_int(conn, "SELECT ((SELECT commit_lsn FROM stream_checkpoint "
                                             "WHERE consumer = 'live') < (SELECT end_lsn FROM "
                                             "stream_checkpoint WHERE consumer = 'pipeline'))::int"),
                     1);
    free(first);
    assert_int_equal(mig_run_child(db, "migrate-drained-detect:1"), 128 + SIGKILL);
    /* Both stand where the pipeline's slot begins. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_checkpoint o, "
                                             "stream_checkpoint p WHERE p.consumer = 'pipeline' "
                                             "AND o.consumer IN ('live', 'detect') AND "
                                             "o.end_lsn >= p.end_lsn AND coalesce(o.commit_lsn, '0/0') < "
                                             "p.end_lsn AND o.partial_lsn IS NULL"),
                     2);
    /* Killed inside the move's transaction: nothing of it stays. */
    assert_int_equal(mig_run_child(db, "migrate-moved:1"), 128 + SIGKILL);
    assert_int_equal(harness_query_int(conn, old_sql), 2);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM detect_robot_state WHERE "
                                             "consumer = 'pipeline'"),
                     0);
    assert_int_equal(harness_query_int(conn, slots_sql), 3);
    /* Killed after the old slots were dropped (that is not transactional), before the commit:
     * the consumers stay, at the pipeline's start, without their slots. */
    assert_int_equal(mig_run_child(db, "migrate-dropped:1"), 128 + SIGKILL);
    mig_wait_true(conn, "SELECT count(*) = 1 FROM pg_replication_slots WHERE database = "
                        "current_database()");
    assert_int_equal(harness_query_int(conn, old_sql), 2);
    /* And then it finishes. */
    assert_int_equal(mig_run_child(db, NULL), 0);
    assert_int_equal(harness_query_int(conn, old_sql), 0);
    assert_int_equal(mig_run_child(db, NULL), 3); /* nothing left to do */
    assert_int_equal(mig_wait_pid(w4), 0);
    PQfinish(conn);
    mig_check_outcome(db);
    free(db);
}

/* `pgpulse run` on an old home: refused while an old consumer runs, then migrated, and run
 * goes on with the one consumer pipeline. */
static void test_run_migrates_an_old_home(void **state)
{
    (void)state;
    if (!getenv("PGPULSE_TEST_HOME")) skip();
    char *db = xstrdup(harness_db("mig_run", 1));
    PGconn *conn = harness_connect(db);
    char *llog = xasprintf("%s/mig_run_live.log", harness_tmpdir());
    char *dlog = xasprintf("%s/mig_run_detect.log", harness_tmpdir());
    int live = mig_track(harness_spawn(NULL, llog, (const char *[]){"live", "--db", db,
                                                                    "--status-every", "0", NULL}));
    int detect = mig_track(harness_spawn(
        NULL, dlog, (const char *[]){"detect", "--db", db, "--status-every", "0", NULL}));
    harness_wait_slot(conn, "live");
    harness_wait_slot(conn, "detect");
    mig_write(db, &mig_w1, 1);
    mig_wait_all_read(conn, "detect");
    mig_wait_all_read(conn, "live");
    /* An old consumer still runs: refused, nothing changed. */
    run_migrate_result res;
    char err[1024];
    assert_int_equal(run_migrate(db, db, &res, err, sizeof err), -1);
    assert_non_null(strstr(err, "is running"));
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_consumer"), 2);
    mig_stop(live);
    mig_stop(detect);
    int64_t before = harness_query_int(conn, "SELECT count(*) FROM detect_robot_state");
    assert_int_equal(before, 10);

    char *log = xasprintf("%s/mig_run.log", harness_tmpdir());
    int pid = mig_track(harness_spawn(NULL, log,
                                      (const char *[]){"run", "--db", db, "--robots", "2", "--rate",
                                                       "20", "--listen", "127.0.0.1:0", NULL}));
    mig_wait_true(conn, "SELECT count(*) >= 12 FROM detect_robot_state WHERE consumer = "
                        "'pipeline'");
    kill(pid, SIGINT);
    int st = mig_wait_pid(pid);
    char *out = harness_read_file(log);
    if (st != 0) fail_msg("run exited with %d: %s", st, out);
    assert_non_null(strstr(out, "migrated consumers live and detect to pipeline at LSN "));
    assert_non_null(strstr(out, ", dropped slots pgpulse_live_"));
    assert_non_null(strstr(out, "running: the live, detect and learn stages (consumer pipeline)"));
    assert_null(strstr(out, "[detect]"));
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_consumer"), 1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                             "database = current_database()"),
                     1);
    /* The old robots' detector state went with it: the pipeline's, not started over. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM detect_robot_state WHERE "
                                             "consumer = 'pipeline' AND robot_id <= 10"),
                     10);
    /* live and detect moved over; learn and warehouse, new in run's pipeline, started there. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_stage_state WHERE "
                                             "consumer = 'pipeline'"),
                     4);
    PQfinish(conn);
    free(out);
    free(log);
    free(llog);
    free(dlog);
    free(db);
}

static int mig_group_teardown(void **state)
{
    (void)state;
    free(mig_ref);
    mig_ref = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_migrates_while_writing, mig_teardown),
        cmocka_unit_test_teardown(test_killed_at_every_step, mig_teardown),
        cmocka_unit_test_teardown(test_run_migrates_an_old_home, mig_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, mig_group_teardown);
}
