/* Integration tests of a consumer on Citus (stream_citus.c) against a real 3-node cluster (one
 * coordinator, two workers; tests/run.sh starts it where Citus is installed, and every test
 * skips with a message elsewhere): every stage (live, detect, learn, warehouse) in one consumer
 * across 6 SIGKILLs under two writers, across a worker restarted mid-stream, and across a shard
 * moved between the workers mid-stream (citus_move_shard_placement). Each run's per-robot
 * outputs must equal, by md5, those of one uninterrupted consumer on a single PostgreSQL over
 * the same rows; fleet-wide outputs (whose order across robots differs between a single stream
 * and independent node streams) must equal as sums. */
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
#include <jansson.h>

#include "harness.h"
#include "rng.h"
#include "util.h"

#define ROWS_PER_WRITER 20000
/* Rows/s per writer: the writers write for 10 s, long enough for six kills to land while they
 * do (at 8,000 half the kills came after every row was consumed). */
#define RATE 2000
#define STAGES "live,detect,learn,warehouse"
#define CONSUMER "all"

/* What every stage decides per robot, and the fleet-wide figures as sums: one line each, so a
 * difference names its table. Nothing that depends on when or in which order across robots it
 * ran (ids, wall-clock times, the fleet's risk model fed in arrival order). */
static const char *const outputs[][2] = {
    {"live_robot",
     "SELECT md5(coalesce(string_agg((robot_id, last_ts, axis1, axis2, axis3, axis4, axis5, "
     "axis6, axis7, axis8, state, day, rows_today, rows_total)::text, ';' ORDER BY robot_id), '')) "
     "FROM live_robot"},
    {"anomaly",
     "SELECT md5(coalesce(string_agg((robot_id, axis, level, ts_first, ts_start, ts_end, "
     "peak_score, peak_z, detector, reason, readings, open)::text, ';' ORDER BY robot_id, "
     "axis_key, ts_first), '')) FROM anomaly"},
    {"detect_robot_state",
     "SELECT md5(coalesce(string_agg((robot_id, state)::text, ';' ORDER BY robot_id), '')) FROM "
     "detect_robot_state"},
    {"forecasts",
     "SELECT md5(coalesce(string_agg((robot_id, ts, kind, axis, horizon, target_ts, value)::text, "
     "';' ORDER BY robot_id, kind, axis, horizon, ts), '')) FROM prediction WHERE kind = "
     "'forecast'"},
    {"learn_robot_state",
     "SELECT md5(coalesce(string_agg((robot_id, state)::text, ';' ORDER BY robot_id), '')) FROM "
     "learn_robot_state"},
    {"learn_robot_waveform",
     "SELECT md5(coalesce(string_agg((robot_id, slot, cells)::text, ';' ORDER BY robot_id, "
     "slot), '')) FROM learn_robot_waveform"},
    {"fact_reading_minute",
     "SELECT md5(coalesce(string_agg(f::text, ';' ORDER BY robot_id, minute), '')) FROM "
     "dw.fact_reading_minute f"},
    {"fact_reading_hour",
     "SELECT md5(coalesce(string_agg(f::text, ';' ORDER BY robot_id, hour), '')) FROM "
     "dw.fact_reading_hour f"},
    {"fact_reading_day",
     "SELECT md5(coalesce(string_agg(f::text, ';' ORDER BY robot_id, day), '')) FROM "
     "dw.fact_reading_day f"},
    {"live_fleet_second (sums)",
     "SELECT md5(coalesce(string_agg((second, rows, active_robots)::text, ';' ORDER BY second), "
     "'')) FROM live_fleet_second"},
    {"predictions per kind (counts)",
     "SELECT string_agg(kind || '=' || n, ' ' ORDER BY kind) FROM (SELECT kind, count(*) n FROM "
     "prediction GROUP BY kind) k"},
    {"stage rows (sums)",
     "SELECT string_agg(stage || '=' || rows, ' ' ORDER BY stage) FROM stream_stage_state"},
};
#define NOUTPUTS (sizeof outputs / sizeof outputs[0])

typedef struct fingerprint {
    char *v[NOUTPUTS];
} fingerprint;

static fingerprint fingerprint_of(PGconn *conn)
{
    fingerprint f;
    for (size_t i = 0; i < NOUTPUTS; i++)
        f.v[i] = harness_query_text(conn, outputs[i][1]);
    return f;
}

static void fingerprint_assert_equal(const fingerprint *got, const fingerprint *want)
{
    int bad = 0;
    for (size_t i = 0; i < NOUTPUTS; i++)
        if (strcmp(got->v[i] ? got->v[i] : "", want->v[i] ? want->v[i] : "")) {
            print_error("%s differs: %s, single node %s\n", outputs[i][0], got->v[i], want->v[i]);
            bad = 1;
        }
    if (bad) fail_msg("outputs differ from the single-node run");
}

static void fingerprint_free(fingerprint *f)
{
    for (size_t i = 0; i < NOUTPUTS; i++)
        free(f->v[i]);
}

/* A writer: the simulator through db, robots first..first+9, a fixed start and seed; its output
 * goes to log (NULL: nowhere). */
static int start_writer_log(const char *db, int first, const char *log);
static int start_writer(const char *db, int first)
{
    return start_writer_log(db, first, NULL);
}

static int start_writer_log(const char *db, int first, const char *log)
{
    char f[16], n[16], r[16];
    snprintf(f, sizeof f, "%d", first);
    snprintf(n, sizeof n, "%d", ROWS_PER_WRITER);
    snprintf(r, sizeof r, "%d", RATE);
    return harness_spawn(NULL, log, (const char *[]){"gen",      "--db",    db,
                                                     "--robots", "10",      "--first-robot",
                                                     f,          "--rows",  n,
                                                     "--seed",   f,         "--faults",
                                                     "heavy",    "--start", "2026-03-01T00:00:00Z",
                                                     "--rate",   r,         "--batch",
                                                     "1000",     NULL});
}

static char *consumer_since; /* harness_now before the newest start_consumer */

static int start_consumer(const char *db, const char *log)
{
    PGconn *conn = harness_connect(db);
    free(consumer_since);
    consumer_since = harness_now(conn);
    PQfinish(conn);
    return harness_spawn(NULL, log,
                         (const char *[]){"consume", "--stages", STAGES, "--db", db, "--name",
                                          CONSUMER, "--status-every", "0", NULL});
}

static int64_t consumed(PGconn *conn)
{
    return harness_query_int(conn, "SELECT rows FROM stream_checkpoint WHERE consumer = '" CONSUMER
                                   "' AND source = 'local'");
}

/* Waits until the consumer's totals count every row (fails after 120 s, showing log). */
static void wait_rows(PGconn *conn, int64_t rows, const char *log)
{
    int64_t got = 0;
    for (int i = 0; i < 1200; i++) {
        got =
            harness_query_int(conn, "SELECT rows FROM stream_checkpoint WHERE consumer = '" CONSUMER
                                    "' AND source = 'local'");
        if (got >= rows) break;
        util_sleep_ms(100);
    }
    if (got != rows) {
        char *out = log ? harness_read_file(log) : NULL;
        fail_msg("%lld rows consumed, expected %lld; the consumer said:\n%s", (long long)got,
                 (long long)rows, out ? out : "");
    }
}

/* The reference: the same rows on a single PostgreSQL, one consumer nobody interrupts. */
static fingerprint *reference(void)
{
    static fingerprint ref;
    static int have;
    if (have) return &ref;
    const char *db = harness_db("citus_ref", 1);
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/ref.log", harness_tmpdir());
    int c = start_consumer(db, log);
    harness_wait_slot(conn, CONSUMER);
    int w1 = start_writer(db, 1), w2 = start_writer(db, 101);
    assert_int_equal(harness_wait(w1, NULL), 0);
    assert_int_equal(harness_wait(w2, NULL), 0);
    wait_rows(conn, 2 * ROWS_PER_WRITER, log);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    ref = fingerprint_of(conn);
    have = 1;
    PQfinish(conn);
    free(log);
    return &ref;
}

/* A Citus database with the consumer streaming (its slot on every node) and the writers
 * started; the test skipped where Citus is not installed. */
static char *citus_start(const char *name, PGconn **conn, int *consumer, int *w1, int *w2,
                         char **log)
{
    /* Kept for restarts: the harness's storage is overwritten. */
    char *db = xstrdup(harness_citus_db_or_skip(name, 1));
    *conn = harness_connect(db);
    *log = xasprintf("%s/%s.log", harness_tmpdir(), name);
    *consumer = start_consumer(db, *log);
    harness_wait_slot(*conn, CONSUMER);
    assert_int_equal(harness_query_int(*conn, "SELECT count(*) FROM stream_checkpoint WHERE "
                                              "consumer = '" CONSUMER "' AND source <> 'local'"),
                     3);
    char *wlog = xasprintf("%s/%s.writers.log", harness_tmpdir(), name);
    *w1 = start_writer_log(db, 1, wlog);
    *w2 = start_writer_log(db, 101, wlog);
    free(wlog);
    return db;
}

static void citus_finish(const char *name, PGconn *conn, int consumer, int w1, int w2,
                         const char *log)
{
    int s1 = w1 ? harness_wait(w1, NULL) : 0, s2 = w2 ? harness_wait(w2, NULL) : 0;
    if (s1 || s2) {
        char *path = xasprintf("%s/%s.writers.log", harness_tmpdir(), name);
        char *out = harness_read_file(path);
        fail_msg("a writer failed (%d, %d):\n%s", s1, s2, out);
    }
    wait_rows(conn, 2 * ROWS_PER_WRITER, log);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"),
                     2 * ROWS_PER_WRITER);
    /* Each worker's stream delivered its robots' rows. */
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows) FROM stream_checkpoint WHERE "
                                             "consumer = '" CONSUMER "' AND source <> 'local'"),
                     2 * ROWS_PER_WRITER);
    /* A consumer started just before (the last kill's) may have found nothing left to do:
     * stopped once past its start-up. */
    harness_wait_reading_since(conn, CONSUMER, consumer_since);
    kill(consumer, SIGINT);
    assert_int_equal(harness_wait(consumer, NULL), 0);
    fingerprint got = fingerprint_of(conn);
    fingerprint_assert_equal(&got, reference());
    fingerprint_free(&got);
}

static void test_killed_six_times(void **state)
{
    (void)state;
    PGconn *conn;
    int c, w1, w2;
    char *log;
    const char *name = "citus_kill";
    char *db = citus_start(name, &conn, &c, &w1, &w2, &log);
    rng moments;
    rng_seed(&moments, harness_seed(), 1);
    for (int kills = 0; kills < 6; kills++) {
        /* Each kill hits a consumer at work: after its first commit since it started (or 10 s),
         * at a moment drawn from the seed. */
        int64_t before = consumed(conn);
        for (int i = 0; i < 200 && consumed(conn) == before; i++)
            util_sleep_ms(50);
        util_sleep_ms((int)rng_below(&moments, 1000));
        kill(c, SIGKILL);
        harness_wait(c, NULL);
        print_message("kill %d: %lld rows committed\n", kills + 1, (long long)consumed(conn));
        c = start_consumer(db, log);
    }
    citus_finish(name, conn, c, w1, w2, log);
    free(db);
    PQfinish(conn);
    free(log);
}

/* A worker restarted while the consumer works through what the writers wrote: its stream ends,
 * the consumer reconnects to every node and resumes each where its outputs stand. The consumer
 * is paused (SIGSTOP) once it has committed some rows and resumed as the restart begins, so the
 * restart finds most rows unread whatever the machine's speed. (Writers
 * through a worker restart are the loader's: a batch whose worker part was prepared when the
 * worker went down is committed there only when Citus recovers it, and then reaches the stream
 * late — docs/scaling.md.) */
static void test_worker_restart(void **state)
{
    (void)state;
    PGconn *conn;
    int c, w1, w2;
    char *log;
    const char *name = "citus_restart";
    char *db = citus_start(name, &conn, &c, &w1, &w2, &log);
    free(db);
    for (int i = 0; i < 400 && consumed(conn) == 0; i++)
        util_sleep_ms(50);
    kill(c, SIGSTOP);
    assert_int_equal(harness_wait(w1, NULL), 0);
    assert_int_equal(harness_wait(w2, NULL), 0);
    /* Resumed just before: a stopped consumer would hold the worker's shutdown, whose walsender
     * waits for its reader to confirm the last WAL (up to wal_sender_timeout). */
    int64_t at = consumed(conn);
    kill(c, SIGCONT);
    harness_citus_node_do("restart", 1);
    assert_true(at > 0 && at < 2 * ROWS_PER_WRITER);
    print_message("worker 1 restarted with %lld of %d rows consumed\n", (long long)at,
                  2 * ROWS_PER_WRITER);
    citus_finish(name, conn, c, 0, 0, log);
    char *out = harness_read_file(log);
    harness_assert_contains(out, "reconnecting");
    free(out);
    PQfinish(conn);
    free(log);
}

static void test_shard_move(void **state)
{
    (void)state;
    PGconn *conn;
    int c, w1, w2;
    char *log;
    const char *name = "citus_move";
    char *db = citus_start(name, &conn, &c, &w1, &w2, &log);
    util_sleep_ms(200);
    /* The shard of robot 1 (and its colocated shards) to the other worker, while both writers
     * write: its next rows come from the target node's stream. */
    char *from = harness_query_text(
        conn, "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) "
              "WHERE p.shardid = get_shard_id_for_distribution_column('reading', 1)");
    char *to = harness_query_text(
        conn, "SELECT nodeport FROM pg_dist_node WHERE groupid > 0 AND nodeport <> (SELECT "
              "n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) WHERE "
              "p.shardid = get_shard_id_for_distribution_column('reading', 1)) LIMIT 1");
    char *sql = xasprintf("SELECT citus_move_shard_placement(get_shard_id_for_distribution_column("
                          "'reading', 1), '127.0.0.1', %s, '127.0.0.1', %s, shard_transfer_mode "
                          "=> 'force_logical')",
                          from, to);
    /* The move does not wait for locks: a writer making its day's partition holds one. */
    for (int tries = 0;; tries++) {
        PGresult *r = PQexec(conn, sql);
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok && (tries == 50 || !strstr(PQresultErrorMessage(r), "could not acquire the lock")))
            fail_msg("%s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
        if (ok) break;
        util_sleep_ms(100);
    }
    char *now = harness_query_text(
        conn, "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) "
              "WHERE p.shardid = get_shard_id_for_distribution_column('reading', 1)");
    assert_string_equal(now, to);
    int64_t at_move = harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id = 1");
    citus_finish(name, conn, c, w1, w2, log);
    /* Robot 1's rows came from both workers, the later ones from the target: unless the writers
     * were through before the move was (a machine that slow says so). */
    char *want = xasprintf("127.0.0.1:%s", to);
    char *got =
        harness_query_text(conn, "SELECT source FROM stream_robot_source WHERE robot_id = 1");
    if (harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id = 1") > at_move)
        assert_string_equal(got, want);
    else
        print_message("note: the writers were done before the move: robot 1 has no rows after "
                      "it\n");
    /* Dropping the consumer drops its slot on every node. */
    char *slot = harness_query_text(
        conn, "SELECT slot_name FROM stream_consumer WHERE consumer = '" CONSUMER "'");
    harness_out o =
        harness_pgpulse(NULL, (const char *[]){"slots", "drop", CONSUMER, "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    for (int node = 0; node <= harness_citus_workers(); node++) {
        PGconn *n = harness_connect(harness_citus_node_db(name, node));
        char *q =
            xasprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", slot);
        assert_int_equal(harness_query_int(n, q), 0);
        free(q);
        PQfinish(n);
    }
    free(slot);
    free(db);
    free(want);
    free(got);
    free(sql);
    free(from);
    free(to);
    free(now);
    PQfinish(conn);
    free(log);
}

/* A batch of 5,000 readings of robots first..first+n-1 starting at `start`: the simulator as fast
 * as it goes. */
static void write_batch(const char *db, const char *first, const char *n, const char *start)
{
    harness_out o = harness_pgpulse(
        NULL, (const char *[]){"gen", "--db", db, "--robots", n, "--first-robot", first, "--rows",
                               "5000", "--seed", "7", "--faults", "default", "--start", start,
                               "--batch", "1000", NULL});
    if (o.status != 0) fail_msg("gen: %s", o.err);
    harness_out_free(&o);
}

/* The rows stored (the simulator's faults include duplicates, which the loader drops). */
static int64_t stored(PGconn *conn)
{
    return harness_query_int(conn, "SELECT count(*) FROM reading");
}

/* A consumer runs until it has consumed `rows`, then stops. */
static void consume_until(const char *db, PGconn *conn, int64_t rows, const char *log)
{
    int c = start_consumer(db, log);
    wait_rows(conn, rows, log);
    harness_wait_reading_since(conn, CONSUMER, consumer_since);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
}

static const char *const batches[] = {"2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z",
                                      "2026-03-01T02:00:00Z"};

/* The hand-over, made to happen: a robot's rows B wait unread on the node its shard leaves while
 * its rows C, written after the move, wait on the node it moves to, which the consumer reads
 * first (nodes are read in node id order, and the move goes to the lower one; B and C are that
 * robot's alone, so the target's stream starts with C). The consumer must hold C until it has
 * read B: every stage's outputs then equal a single server's over A, B, C. */
static void test_shard_move_hand_over(void **state)
{
    (void)state;
    char *db = xstrdup(harness_citus_db_or_skip("citus_handover", 1));
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/handover.log", harness_tmpdir());
    /* A robot on the worker with the higher node id. */
    char *robot = harness_query_text(
        conn, "SELECT min(r) FROM generate_series(1, 10) r JOIN pg_dist_placement p ON p.shardid = "
              "get_shard_id_for_distribution_column('reading', r) JOIN pg_dist_node n USING "
              "(groupid) WHERE n.nodeid = (SELECT max(nodeid) FROM pg_dist_node)");
    assert_non_null(robot);

    /* The reference: A, B, C in order on a single server. */
    const char *ref_db = harness_db("citus_handover_ref", 1);
    PGconn *ref_conn = harness_connect(ref_db);
    char *ref_log = xasprintf("%s/handover_ref.log", harness_tmpdir());
    int rc = start_consumer(ref_db, ref_log);
    harness_wait_slot(ref_conn, CONSUMER);
    write_batch(ref_db, "1", "10", batches[0]);
    write_batch(ref_db, robot, "1", batches[1]);
    write_batch(ref_db, robot, "1", batches[2]);
    wait_rows(ref_conn, stored(ref_conn), ref_log);
    kill(rc, SIGINT);
    assert_int_equal(harness_wait(rc, NULL), 0);
    fingerprint ref = fingerprint_of(ref_conn);

    int c = start_consumer(db, log);
    harness_wait_slot(conn, CONSUMER);
    write_batch(db, "1", "10", batches[0]);
    wait_rows(conn, stored(conn), log);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    write_batch(db, robot, "1", batches[1]);
    char *move = xasprintf(
        "SELECT citus_move_shard_placement(get_shard_id_for_distribution_column('reading', %s), "
        "(SELECT nodename FROM pg_dist_node ORDER BY nodeid DESC LIMIT 1), (SELECT nodeport FROM "
        "pg_dist_node ORDER BY nodeid DESC LIMIT 1), (SELECT nodename FROM pg_dist_node WHERE "
        "groupid > 0 ORDER BY nodeid LIMIT 1), (SELECT nodeport FROM pg_dist_node WHERE groupid > "
        "0 "
        "ORDER BY nodeid LIMIT 1), shard_transfer_mode => 'force_logical')",
        robot);
    harness_exec(conn, move);
    write_batch(db, robot, "1", batches[2]);
    consume_until(db, conn, stored(conn), log);
    char *out = harness_read_file(log);
    char *held = xasprintf("robot %s moved from node", robot);
    harness_assert_contains(out, held);
    fingerprint got = fingerprint_of(conn);
    fingerprint_assert_equal(&got, &ref);
    fingerprint_free(&got);
    fingerprint_free(&ref);
    free(held);
    free(out);
    free(move);
    free(robot);
    free(ref_log);
    free(log);
    free(db);
    PQfinish(ref_conn);
    PQfinish(conn);
}

/* A node that joins: a running consumer gives it a slot before any shard is placed on it and
 * then reads what moves there; a consumer that was stopped while the node joined and got shards
 * is refused, with a message naming the node. */
static void test_node_joins(void **state)
{
    (void)state;
    char *db = xstrdup(harness_citus_db_or_skip("citus_join", 0));
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/join.log", harness_tmpdir());
    /* The schema on the coordinator and worker 1 only. */
    char *port2 = harness_query_text(conn, "SELECT nodeport FROM pg_dist_node WHERE groupid > 0 "
                                           "ORDER BY nodeid DESC LIMIT 1");
    char *sql = xasprintf("SELECT citus_remove_node('127.0.0.1', %s)", port2);
    harness_exec(conn, sql);
    free(sql);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"init", "--db", db, NULL});
    if (o.status != 0) fail_msg("init: %s", o.err);
    harness_out_free(&o);
    /* "late" is registered with a slot on the two nodes there are, then stopped. */
    int late = harness_spawn(
        NULL, NULL,
        (const char *[]){"consume", "--stages", "live", "--db", db, "--name", "late", NULL});
    harness_wait_slot(conn, "late");
    kill(late, SIGINT);
    assert_int_equal(harness_wait(late, NULL), 0);
    int c = start_consumer(db, log);
    harness_wait_slot(conn, CONSUMER);
    write_batch(db, "1", "10", batches[0]);
    wait_rows(conn, stored(conn), log);
    /* Worker 2 joins; the running consumer sets it up within its 5 s look at the nodes. */
    sql = xasprintf("SELECT citus_add_node('127.0.0.1', %s)", port2);
    harness_exec(conn, sql);
    free(sql);
    int64_t nodes = 0;
    for (int i = 0; i < 300 && nodes < 3; i++, util_sleep_ms(100))
        nodes = harness_query_int(
            conn, "SELECT count(*) FROM stream_checkpoint WHERE consumer = '" CONSUMER
                  "' AND source <> 'local'");
    assert_int_equal(nodes, 3);
    harness_exec(conn, "SELECT replicate_reference_tables()");
    sql = xasprintf("SELECT citus_move_shard_placement(get_shard_id_for_distribution_column("
                    "'reading', 1), '127.0.0.1', (SELECT nodeport FROM pg_dist_node WHERE groupid "
                    "> 0 ORDER BY nodeid LIMIT 1), '127.0.0.1', %s, shard_transfer_mode => "
                    "'force_logical')",
                    port2);
    harness_exec(conn, sql);
    free(sql);
    write_batch(db, "1", "10", batches[1]);
    wait_rows(conn, stored(conn), log);
    char *q = xasprintf("SELECT rows FROM stream_checkpoint WHERE consumer = '" CONSUMER
                        "' AND source = '127.0.0.1:%s'",
                        port2);
    assert_true(harness_query_int(conn, q) > 0);
    free(q);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"),
                     stored(conn));
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    /* "late" never saw worker 2, which now holds shards. */
    o = harness_pgpulse_limit(
        60, NULL,
        (const char *[]){"consume", "--stages", "live", "--db", db, "--name", "late", NULL});
    assert_int_not_equal(o.status, 0);
    char *want =
        xasprintf("node 127.0.0.1:%s holds shards but consumer 'late' has no slot on it", port2);
    harness_assert_contains(o.err, want);
    free(want);
    harness_out_free(&o);
    free(port2);
    free(log);
    free(db);
    PQfinish(conn);
}

/* db's conninfo as another login (the same password file serves every login on every node). */
static char *as_login(const char *db, const char *login)
{
    const char *at = strstr(db, "user=pgpulse ");
    if (!at) fail_msg("no user=pgpulse in %s", db);
    return xasprintf("%.*suser=%s %s", (int)(at - db), db, login, at + strlen("user=pgpulse "));
}

/* --shard on Citus, as a user runs it: each of two consumers (the stage login) reads every node
 * through its shard's row filter, the writer login writes, and together the consumers see every
 * row once, each robot in one of them. */
static void test_shards_on_citus(void **state)
{
    (void)state;
    char *db = xstrdup(harness_citus_db_or_skip("citus_shards", 1));
    PGconn *conn = harness_connect(db);
    const char *names[2] = {"live.s0of2", "live.s1of2"};
    const char *shards[2] = {"0/2", "1/2"};
    int c[2];
    char *stage = as_login(db, "pgpulse_stages"), *writer = as_login(db, "pgpulse_ingest");
    for (int i = 0; i < 2; i++) {
        c[i] = harness_spawn(NULL, NULL,
                             (const char *[]){"live", "--db", stage, "--shard", shards[i],
                                              "--status-every", "0", NULL});
        harness_wait_slot(conn, names[i]);
    }
    write_batch(writer, "1", "10", batches[0]);
    int64_t want = stored(conn), got = 0;
    for (int i = 0; i < 600 && got < want; i++, util_sleep_ms(100))
        got = harness_query_int(conn, "SELECT coalesce(sum(rows), 0) FROM stream_checkpoint WHERE "
                                      "consumer LIKE 'live.s%' AND source = 'local'");
    assert_int_equal(got, want);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"), want);
    /* Each shard's robots only: robot_id % 2 picks the consumer. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id % 2 = 0"),
                     harness_query_int(conn, "SELECT rows FROM stream_checkpoint WHERE consumer = "
                                             "'live.s0of2' AND source = 'local'"));
    for (int i = 0; i < 2; i++) {
        harness_wait_slot(conn, names[i]);
        kill(c[i], SIGINT);
        assert_int_equal(harness_wait(c[i], NULL), 0);
    }
    free(stage);
    free(writer);
    free(db);
    PQfinish(conn);
}

/* A slot in good health: within max_wal_size (reserved) or past it but within
 * max_slot_wal_keep_size (extended: the suite's stopped consumers keep WAL). */
static void assert_slot_well(json_t *o)
{
    const char *st = json_string_value(json_object_get(o, "slot_status"));
    if (!st || (strcmp(st, "reserved") && strcmp(st, "extended")))
        fail_msg("slot status %s", st ? st : "(null)");
}

/* `pgpulse status --json`'s entry for consumer name (a new reference). */
static json_t *status_of(const char *db, const char *name)
{
    harness_out o = harness_pgpulse(NULL, (const char *[]){"status", "--db", db, "--json", NULL});
    if (o.status != 0) fail_msg("status: %s", o.err);
    json_t *root = json_loads(o.out, 0, NULL);
    assert_non_null(root);
    harness_out_free(&o);
    size_t i;
    json_t *st;
    json_array_foreach(json_object_get(root, "stages"), i, st)
        if (!strcmp(json_string_value(json_object_get(st, "name")), name)) {
            json_incref(st);
            json_decref(root);
            return st;
        }
    fail_msg("status lists no consumer %s", name);
    return NULL;
}

/* Worker k's name as the consumer's checkpoints name it ('host:port' of pg_dist_node). */
static char *node_source(PGconn *conn, int k)
{
    PGconn *w = harness_connect(harness_citus_node_db("citus_refusals", k));
    char *port = harness_query_text(w, "SELECT inet_server_port()::text");
    PQfinish(w);
    char *sql = xasprintf("SELECT nodename || ':' || nodeport FROM pg_dist_node WHERE nodeport = %s", port);
    char *name = harness_query_text(conn, sql);
    free(sql);
    free(port);
    return name;
}

/* What a consumer on Citus refuses or gives up, each with its message: polling (transaction ids
 * are per node), a node whose slot is gone (what it held cannot be read again: `pgpulse status`
 * names the node, as it says a node that is down), and a stage that keeps failing (retried as a
 * worker restart would be, for STREAM_STAGE_RETRY_S = 20 s; 5 s here). */
static void test_refusals(void **state)
{
    (void)state;
    char *db = xstrdup(harness_citus_db_or_skip("citus_refusals", 1));
    PGconn *conn = harness_connect(db);
    harness_out o =
        harness_pgpulse_limit(60, NULL,
                              (const char *[]){"consume", "--stages", "live", "--source", "poll",
                                               "--db", db, "--name", "poller", NULL});
    assert_int_not_equal(o.status, 0);
    harness_assert_contains(o.err, "polling reads by transaction id, which is per node there");
    harness_out_free(&o);

    /* `pgpulse status` shows each node's part: its position, lag and slot. */
    char *log = xasprintf("%s/refusals.log", harness_tmpdir());
    int c = start_consumer(db, log);
    harness_wait_slot(conn, CONSUMER);
    write_batch(db, "1", "10", batches[1]); /* batches[0] is the broken stage's, below */
    wait_rows(conn, stored(conn), log);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    json_t *st = status_of(db, CONSUMER);
    json_t *nodes = json_object_get(st, "nodes");
    assert_int_equal(json_array_size(nodes), 3);
    assert_true(json_is_null(json_object_get(st, "lsn")));
    assert_slot_well(st);
    json_int_t lag = 0;
    size_t k;
    json_t *node;
    json_array_foreach(nodes, k, node)
    {
        char *sql = xasprintf("SELECT end_lsn::text FROM stream_checkpoint WHERE consumer = '"
                              CONSUMER "' AND source = '%s'",
                              json_string_value(json_object_get(node, "node")));
        char *lsn = harness_query_text(conn, sql);
        assert_string_equal(json_string_value(json_object_get(node, "lsn")), lsn);
        assert_slot_well(node);
        assert_true(json_is_integer(json_object_get(node, "lag_bytes")));
        lag += json_integer_value(json_object_get(node, "lag_bytes"));
        free(lsn);
        free(sql);
    }
    assert_int_equal(json_integer_value(json_object_get(st, "lag_bytes")), lag);
    json_decref(st);
    char *w1_node = node_source(conn, 1), *w2_node = node_source(conn, 2);

    /* A slot dropped on worker 1 behind the consumer's back: status names the node. */
    char *slot = harness_query_text(
        conn, "SELECT slot_name FROM stream_consumer WHERE consumer = '" CONSUMER "'");
    PGconn *w1 = harness_connect(harness_citus_node_db("citus_refusals", 1));
    char *sql = xasprintf("SELECT pg_drop_replication_slot('%s')", slot);
    harness_exec(w1, sql);
    free(sql);
    PQfinish(w1);
    st = status_of(db, CONSUMER);
    assert_string_equal(json_string_value(json_object_get(st, "slot_status")), "missing");
    const char *warn = json_string_value(json_object_get(st, "warning"));
    assert_non_null(warn);
    harness_assert_contains(warn, w1_node);
    harness_assert_contains(warn, "pgpulse slots drop " CONSUMER);
    json_array_foreach(json_object_get(st, "nodes"), k, node)
        if (strcmp(json_string_value(json_object_get(node, "node")), w1_node))
            assert_slot_well(node);
        else
            assert_string_equal(json_string_value(json_object_get(node, "slot_status")), "missing");
    json_decref(st);
    o = harness_pgpulse(NULL, (const char *[]){"status", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    char *line = xasprintf("  %s ", w1_node);
    harness_assert_contains(o.out, line);
    free(line);
    harness_assert_contains(o.out, "warning: " CONSUMER ": node ");
    harness_out_free(&o);

    /* Worker 2 down: status still answers, that node unknown. */
    harness_citus_node_do("stop", 2);
    st = status_of(db, CONSUMER);
    json_array_foreach(json_object_get(st, "nodes"), k, node)
        if (!strcmp(json_string_value(json_object_get(node, "node")), w2_node)) {
            assert_string_equal(json_string_value(json_object_get(node, "slot_status")), "unreachable");
            assert_true(json_is_null(json_object_get(node, "lag_bytes")));
        }
    assert_true(json_is_null(json_object_get(st, "lag_bytes")));
    json_decref(st);
    harness_citus_node_do("start", -1);
    free(w1_node);
    free(w2_node);
    o = harness_pgpulse_limit(
        60, NULL,
        (const char *[]){"consume", "--stages", STAGES, "--db", db, "--name", CONSUMER, NULL});
    assert_int_not_equal(o.status, 0);
    harness_assert_contains(o.err, "is gone or was invalidated");
    harness_assert_contains(o.err, "pgpulse slots drop " CONSUMER);
    harness_out_free(&o);

    /* A stage whose table is gone fails every commit: given up after the retry window (20 s;
     * 5 here, PGPULSE_TEST_STAGE_RETRY_S: a suite measured the 20 at 21.8-22.1 s), saying so. */
    setenv("PGPULSE_TEST_STAGE_RETRY_S", "5", 1);
    c = harness_spawn(
        NULL, log,
        (const char *[]){"live", "--db", db, "--name", "broken", "--status-every", "0", NULL});
    harness_wait_slot(conn, "broken");
    harness_exec(conn, "ALTER TABLE live_robot RENAME TO live_robot_gone");
    /* No stage can fail before the first row is written: given up 5 s or more after that. */
    int64_t t0 = util_mono_us();
    write_batch(db, "1", "10", batches[0]);
    assert_int_not_equal(harness_wait(c, NULL), 0);
    int64_t took = util_mono_us() - t0;
    print_message("the failing stage was given up after %.1f s\n", (double)took / 1e6);
    unsetenv("PGPULSE_TEST_STAGE_RETRY_S");
    assert_true(took >= 5000000);
    char *out = harness_read_file(log);
    harness_assert_contains(out, "stage live has failed for 5 s");
    free(out);
    free(slot);
    free(log);
    free(db);
    PQfinish(conn);
}

/* TEST_FILTER="test_shard*" runs some of them. */
int main(void)
{
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_six_times), cmocka_unit_test(test_worker_restart),
        cmocka_unit_test(test_shard_move),       cmocka_unit_test(test_shard_move_hand_over),
        cmocka_unit_test(test_node_joins),       cmocka_unit_test(test_shards_on_citus),
        cmocka_unit_test(test_refusals),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(consumer_since);
    return failed;
}
