/* Integration tests of the stream consumers (stream, stage_live, cmd_consume) against a real
 * PostgreSQL: exactly once across SIGKILL at random moments and across a server restart, two
 * shards against one worker, the polling source under four concurrent writers, and a dropped
 * slot recovered from (the lost-slot tests are in test_stream_recovery.c). Reference results come from an uninterrupted consumer over the same rows in a database
 * of its own. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "rng.h"
#include "util.h"

#define ROWS_PER_WRITER 100000

/* Fingerprints of the live tables, to compare two databases. */
static char *live_fingerprint(PGconn *conn)
{
    return harness_query_text(
        conn,
        "SELECT md5((SELECT coalesce(string_agg((robot_id, last_ts, axis1, axis2, axis3, axis4, "
        "axis5, axis6, axis7, axis8, state, day, rows_today, rows_total)::text, ';' ORDER BY "
        "robot_id), '') FROM live_robot) || (SELECT coalesce(string_agg((second, rows, "
        "active_robots)::text, ';' ORDER BY second), '') FROM live_fleet_second))");
}

/* Starts a writer: the simulator into db, robots first..first+9, a fixed start and seed so the
 * same rows can be written to another database. rate 0: as fast as possible. */
static int start_writer(const char *db, int first, int rows, int rate, const char *log)
{
    char f[16], n[16], r[16], seed[16];
    snprintf(f, sizeof f, "%d", first);
    snprintf(n, sizeof n, "%d", rows);
    snprintf(r, sizeof r, "%d", rate);
    snprintf(seed, sizeof seed, "%d", first);
    if (rate > 0)
        return harness_spawn(NULL, log, (const char *[]){"gen", "--db", db, "--robots", "10",
                                                         "--first-robot", f, "--rows", n, "--seed",
                                                         seed, "--faults", "none", "--start",
                                                         "2026-03-01T00:00:00Z", "--rate", r,
                                                         "--batch", "2000", NULL});
    return harness_spawn(NULL, log, (const char *[]){"gen", "--db", db, "--robots", "10",
                                                     "--first-robot", f, "--rows", n, "--seed", seed,
                                                     "--faults", "none", "--start",
                                                     "2026-03-01T00:00:00Z", "--batch", "2000", NULL});
}

static int start_consumer(const char *db, const char *name, const char *extra1, const char *extra2,
                          const char *log)
{
    const char *argv[16] = {"live", "--db", db, "--name", name, "--status-every", "0"};
    int n = 7;
    if (extra1) argv[n++] = extra1;
    if (extra2) argv[n++] = extra2;
    argv[n] = NULL;
    return harness_spawn(NULL, log, argv);
}

/* Waits until the consumer's checkpoint counts `rows` (fails after 90 s). */
static void wait_rows(PGconn *conn, const char *consumer, int64_t rows)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(sum(rows), 0) FROM stream_checkpoint WHERE consumer LIKE '%s'",
             consumer);
    int64_t got = 0;
    for (int i = 0; i < 900; i++) {
        got = harness_query_int(conn, sql);
        if (got >= rows) break;
        util_sleep_ms(100);
    }
    if (got != rows) fail_msg("consumer %s: %lld rows, expected %lld", consumer, (long long)got,
                              (long long)rows);
}

/* The slot a consumer registered (newly allocated). */
static char *slot_of(PGconn *conn, const char *consumer)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT slot_name FROM stream_consumer WHERE consumer = '%s'",
             consumer);
    char *slot = harness_query_text(conn, sql);
    if (!slot) fail_msg("consumer %s has no slot name", consumer);
    return slot;
}

/* The reference: the same two writers' rows (the same flags: the rate sets the simulated
 * sampling interval) loaded into a fresh database, one consumer that nobody interrupts.
 * Returns the fingerprint. */
static char *reference(const char *name, const char *consumer, int rate)
{
    const char *db = harness_db(name, 1);
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/%s.log", harness_tmpdir(), name);
    /* The consumer first: a new consumer reads only what commits after it starts. */
    int c = start_consumer(db, consumer, NULL, NULL, log);
    harness_wait_slot(conn, consumer);
    int w1 = start_writer(db, 1, ROWS_PER_WRITER, rate, NULL);
    int w2 = start_writer(db, 101, ROWS_PER_WRITER, rate, NULL);
    assert_int_equal(harness_wait(w1, NULL), 0);
    assert_int_equal(harness_wait(w2, NULL), 0);
    wait_rows(conn, consumer, 2 * ROWS_PER_WRITER);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    char *fp = live_fingerprint(conn);
    PQfinish(conn);
    free(log);
    return fp;
}

static void test_killed_at_random_moments(void **state)
{
    (void)state;
    char *ref = reference("stream_ref", "live_ref", 25000);
    const char *db = harness_db("stream_kill", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/kill.log", harness_tmpdir());
    int c = start_consumer(db, "live_kill", NULL, NULL, log);
    harness_wait_slot(conn, "live_kill");
    int w1 = start_writer(db, 1, ROWS_PER_WRITER, 25000, NULL);
    int w2 = start_writer(db, 101, ROWS_PER_WRITER, 25000, NULL);
    /* The moments come from the seed: a failure replays with PGPULSE_TEST_SEED. */
    rng moments;
    rng_seed(&moments, harness_seed(), 1);
    int kills = 0;
    char *since = NULL;
    for (; kills < 6; kills++) {
        util_sleep_ms(300 + (int)rng_below(&moments, 500));
        kill(c, SIGKILL);
        harness_wait(c, NULL);
        print_message("kill %d: %lld rows committed\n", kills + 1,
                      (long long)harness_query_int(conn, "SELECT rows FROM stream_checkpoint"));
        free(since);
        since = harness_now(conn);
        c = start_consumer(db, "live_kill", NULL, NULL, log);
    }
    assert_int_equal(harness_wait(w1, NULL), 0);
    assert_int_equal(harness_wait(w2, NULL), 0);
    wait_rows(conn, "live_kill", 2 * ROWS_PER_WRITER);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"),
                     2 * ROWS_PER_WRITER);
    char *fp = live_fingerprint(conn);
    assert_string_equal(fp, ref);
    /* The last one may have found nothing left to do: stopped once past its start-up. */
    harness_wait_reading_since(conn, "live_kill", since);
    free(since);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    free(fp);
    free(ref);
    free(log);
    PQfinish(conn);
}

static void test_server_restart(void **state)
{
    (void)state;
    char *ref = reference("stream_ref2", "live_ref2", 25000);
    const char *db = harness_db("stream_restart", 1);
    if (!db) skip();
    const char *home = getenv("PGPULSE_TEST_HOME");
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/restart.log", harness_tmpdir());
    int c = start_consumer(db, "live_restart", NULL, NULL, log);
    harness_wait_slot(conn, "live_restart");
    PQfinish(conn);
    int w1 = start_writer(db, 1, ROWS_PER_WRITER, 25000, NULL);
    int w2 = start_writer(db, 101, ROWS_PER_WRITER, 25000, NULL);
    util_sleep_ms(1200);
    char *cmd = xasprintf("PGPULSE_HOME='%s' '%s' db stop && sleep 1 && PGPULSE_HOME='%s' '%s' db "
                          "start >/dev/null 2>&1",
                          home, getenv("PGPULSE_BIN"), home, getenv("PGPULSE_BIN"));
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(harness_wait(w1, NULL), 0);
    assert_int_equal(harness_wait(w2, NULL), 0);
    conn = harness_connect(db);
    wait_rows(conn, "live_restart", 2 * ROWS_PER_WRITER);
    char *fp = live_fingerprint(conn);
    assert_string_equal(fp, ref);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    char *out = harness_read_file(log);
    assert_non_null(strstr(out, "reconnecting"));
    free(out);
    free(fp);
    free(ref);
    free(log);
    PQfinish(conn);
}

static void test_two_shards_equal_one_worker(void **state)
{
    (void)state;
    char *ref = reference("stream_ref3", "live_ref3", 0);
    const char *db = harness_db("stream_shards", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    int s0 = start_consumer(db, "live.s0of2", "--shard", "0/2", NULL);
    int s1 = start_consumer(db, "live.s1of2", "--shard", "1/2", NULL);
    harness_wait_slot(conn, "live.s0of2");
    harness_wait_slot(conn, "live.s1of2");
    int w1 = start_writer(db, 1, ROWS_PER_WRITER, 0, NULL);
    int w2 = start_writer(db, 101, ROWS_PER_WRITER, 0, NULL);
    assert_int_equal(harness_wait(w1, NULL), 0);
    assert_int_equal(harness_wait(w2, NULL), 0);
    wait_rows(conn, "live.s%", 2 * ROWS_PER_WRITER);
    /* Each shard saw only its robots. */
    assert_int_equal(harness_query_int(conn, "SELECT rows FROM stream_checkpoint WHERE consumer = "
                                             "'live.s0of2'"),
                     harness_query_int(conn, "SELECT count(*) FROM reading WHERE robot_id % 2 = 0"));
    char *fp = live_fingerprint(conn);
    assert_string_equal(fp, ref);
    kill(s0, SIGINT);
    kill(s1, SIGINT);
    assert_int_equal(harness_wait(s0, NULL), 0);
    assert_int_equal(harness_wait(s1, NULL), 0);
    free(fp);
    free(ref);
    PQfinish(conn);
}

/* Four writers commit concurrently, so transactions end in another order than they began; the
 * polling consumer must still see every row once. */
static void test_poll_misses_nothing_under_four_writers(void **state)
{
    (void)state;
    const char *db = harness_db("stream_poll", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/poll.log", harness_tmpdir());
    int c = start_consumer(db, "live_poll", "--source", "poll", log);
    util_sleep_ms(500);
    int w[4];
    for (int i = 0; i < 4; i++) w[i] = start_writer(db, 1 + 100 * i, 50000, 20000, NULL);
    /* Kill the poller once in the middle too. */
    util_sleep_ms(1000);
    kill(c, SIGKILL);
    harness_wait(c, NULL);
    c = start_consumer(db, "live_poll", "--source", "poll", log);
    for (int i = 0; i < 4; i++) assert_int_equal(harness_wait(w[i], NULL), 0);
    wait_rows(conn, "live_poll", 200000);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"), 200000);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows) FROM live_fleet_second"), 200000);
    /* Per robot, the stage's count is the table's. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM live_robot l WHERE rows_total <> "
                                             "(SELECT count(*) FROM reading r WHERE r.robot_id = "
                                             "l.robot_id)"),
                     0);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    free(log);
    PQfinish(conn);
}

/* Waits until path holds text (fails after 60 s). */
static void wait_log(const char *path, const char *text)
{
    for (int i = 0; i < 1200; i++) {
        char *t = access(path, R_OK) == 0 ? harness_read_file(path) : NULL; /* not yet made */
        int found = t && strstr(t, text) != NULL;
        free(t);
        if (found) return;
        util_sleep_ms(50);
    }
    fail_msg("no '%s' in %s", text, path);
}

/* One process at a time runs a consumer: a second poller of the same name (no slot stops it)
 * waits instead of applying the rows again, and takes over when the first one dies. */
static void test_one_process_per_consumer(void **state)
{
    (void)state;
    const char *db = harness_db("stream_twice", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log1 = xasprintf("%s/twice1.log", harness_tmpdir());
    char *log2 = xasprintf("%s/twice2.log", harness_tmpdir());
    int a = start_consumer(db, "twice", "--source", "poll", log1);
    wait_log(log1, "polling reading");
    int b = start_consumer(db, "twice", "--source", "poll", log2);
    wait_log(log2, "another process runs consumer 'twice'");
    assert_int_equal(harness_wait(start_writer(db, 1, 20000, 0, NULL), NULL), 0);
    wait_rows(conn, "twice", 20000);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"), 20000);
    /* The first dies; the second goes on from its checkpoint. */
    kill(a, SIGKILL);
    harness_wait(a, NULL);
    wait_log(log2, "polling reading");
    assert_int_equal(harness_wait(start_writer(db, 101, 5000, 0, NULL), NULL), 0);
    wait_rows(conn, "twice", 25000);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"), 25000);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows) FROM live_fleet_second"), 25000);
    kill(b, SIGINT);
    assert_int_equal(harness_wait(b, NULL), 0);
    free(log1);
    free(log2);
    PQfinish(conn);
}

/* A slot dropped under a stopped consumer: it reads what it missed from the table, says so, and
 * goes on from a new slot with nothing lost or counted twice. */
static void test_dropped_slot_is_recovered(void **state)
{
    (void)state;
    const char *db = harness_db("stream_drop", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/drop.log", harness_tmpdir());
    int c = start_consumer(db, "live_drop", NULL, NULL, log);
    harness_wait_slot(conn, "live_drop");
    int w = start_writer(db, 1, 2000, 0, NULL);
    assert_int_equal(harness_wait(w, NULL), 0);
    wait_rows(conn, "live_drop", 2000);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    /* The walsender of the stopped consumer may take a moment to let go of the slot. */
    char *slot = slot_of(conn, "live_drop");
    char *sql = xasprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s' AND "
                          "active",
                          slot);
    for (int i = 0; i < 100 && harness_query_int(conn, sql) > 0; i++)
        util_sleep_ms(50);
    free(sql);
    sql = xasprintf("SELECT pg_drop_replication_slot('%s')", slot);
    harness_exec(conn, sql);
    free(sql);
    w = start_writer(db, 101, 3000, 0, NULL);
    assert_int_equal(harness_wait(w, NULL), 0);
    c = start_consumer(db, "live_drop", NULL, NULL, log);
    harness_wait_slot(conn, "live_drop");
    w = start_writer(db, 201, 1000, 0, NULL);
    assert_int_equal(harness_wait(w, NULL), 0);
    wait_rows(conn, "live_drop", 6000);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM live_robot l WHERE rows_total <> "
                                             "(SELECT count(*) FROM reading r WHERE r.robot_id = "
                                             "l.robot_id)"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows_total) FROM live_robot"), 6000);
    assert_int_equal(harness_query_int(conn, "SELECT recoveries FROM stream_checkpoint"), 1);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    char *out = harness_read_file(log);
    char *want = xasprintf("the replication slot %s was dropped", slot);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "caught up: 3000 rows read from the table"));
    free(want);
    free(out);
    free(slot);
    free(log);
    PQfinish(conn);
}

static void test_status_and_slots(void **state)
{
    (void)state;
    const char *db = harness_db("stream_status", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    int c = start_consumer(db, "live_status", NULL, NULL, NULL);
    harness_wait_slot(conn, "live_status");
    harness_exec(conn, "LISTEN pgpulse_live");
    int w = start_writer(db, 1, 3000, 0, NULL);
    assert_int_equal(harness_wait(w, NULL), 0);
    wait_rows(conn, "live_status", 3000);
    /* Each commit of the stage was announced, with the rows it covered. */
    PQconsumeInput(conn);
    int64_t announced = 0;
    int notes = 0;
    PGnotify *n;
    while ((n = PQnotifies(conn))) {
        assert_string_equal(n->relname, "pgpulse_live");
        json_error_t je;
        json_t *msg = json_loads(n->extra, 0, &je);
        if (!msg) fail_msg("NOTIFY payload is not JSON: %s", n->extra);
        assert_string_equal(json_string_value(json_object_get(msg, "consumer")), "live_status");
        announced += json_integer_value(json_object_get(msg, "rows"));
        assert_true(json_is_string(json_object_get(msg, "newest")));
        json_decref(msg);
        PQfreemem(n);
        notes++;
    }
    assert_true(notes >= 1);
    assert_int_equal(announced, 3000);
    /* The simulated readings are from 2026-03-01: long before now, so every robot is stale;
     * the table keeps the state of each robot's last reading. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM live_robot_status WHERE state "
                                             "<> 'stale'"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM live_robot WHERE state NOT IN "
                                             "('running', 'idle')"),
                     0);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM live_robot"), 10);

    harness_out o = harness_pgpulse(NULL, (const char *[]){"status", "--json", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    json_error_t je;
    json_t *root = json_loads(o.out, 0, &je);
    if (!root) fail_msg("status --json is not JSON: %s\n%s", je.text, o.out);
    json_t *stage = json_array_get(json_object_get(root, "stages"), 0);
    assert_string_equal(json_string_value(json_object_get(stage, "name")), "live_status");
    assert_int_equal(json_integer_value(json_object_get(stage, "rows")), 3000);
    assert_true(json_is_true(json_object_get(stage, "active")));
    assert_true(json_is_integer(json_object_get(stage, "lag_bytes")));
    assert_true(json_is_number(json_object_get(stage, "lag_seconds")));
    assert_true(json_is_string(json_object_get(stage, "lsn")));
    json_decref(root);
    harness_out_free(&o);

    /* A running consumer's slot cannot be dropped. */
    o = harness_pgpulse(NULL, (const char *[]){"slots", "drop", "live_status", "--db", db, NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "is running"));
    harness_out_free(&o);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);

    char *slot = slot_of(conn, "live_status");
    assert_int_equal(strncmp(slot, "pgpulse_live_status_", 20), 0);
    o = harness_pgpulse(NULL, (const char *[]){"slots", "list", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, slot));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"slots", "drop", "live_status", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    char *sql = xasprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'", slot);
    assert_int_equal(harness_query_int(conn, sql), 0);
    free(sql);
    free(slot);
    /* The publication is shared by the consumers (reading_publication): it stays. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM pg_publication WHERE pubname = "
                                             "'pgpulse_reading'"),
                     1);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM stream_checkpoint"), 0);
    o = harness_pgpulse(NULL, (const char *[]){"slots", "drop", "nobody", "--db", db, NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "no consumer named 'nobody'"));
    harness_out_free(&o);
    PQfinish(conn);
}

/* Writes elsewhere in the database must not pile up behind an idle consumer's slot. */
static void test_idle_slot_keeps_moving(void **state)
{
    (void)state;
    const char *db = harness_db("stream_idle", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    int c = start_consumer(db, "live_idle", NULL, NULL, NULL);
    harness_wait_slot(conn, "live_idle");
    harness_exec(conn, "CREATE TABLE other (x int); INSERT INTO other SELECT generate_series(1, 50000)");
    char *lsn = harness_query_text(conn, "SELECT pg_current_wal_lsn()::text");
    char *slot = slot_of(conn, "live_idle");
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s' AND "
             "confirmed_flush_lsn >= '%s'",
             slot, lsn);
    free(slot);
    int moved = 0;
    for (int i = 0; i < 250 && !moved; i++) { /* status updates go out at least every 10 s */
        util_sleep_ms(100);
        moved = harness_query_int(conn, sql) == 1;
    }
    assert_true(moved);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    free(lsn);
    PQfinish(conn);
}

/* Slot names are cluster-wide: a consumer of the same name in a second database of the cluster
 * gets a slot of its own (the name carries a hash of the database's), and both stream. */
static void test_same_name_in_two_databases(void **state)
{
    (void)state;
    const char *names[2] = {"stream_twin_a", "stream_twin_b"};
    char *db[2];
    PGconn *conn[2];
    int c[2];
    for (int i = 0; i < 2; i++) {
        const char *d = harness_db(names[i], 1);
        if (!d) skip();
        db[i] = xstrdup(d);
        conn[i] = harness_connect(db[i]);
        c[i] = start_consumer(db[i], "twin", NULL, NULL, NULL);
        harness_wait_slot(conn[i], "twin");
    }
    char *slot[2] = {slot_of(conn[0], "twin"), slot_of(conn[1], "twin")};
    assert_string_not_equal(slot[0], slot[1]);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(strncmp(slot[i], "pgpulse_twin_", 13), 0);
        int w = start_writer(db[i], 1, 1000 * (i + 1), 0, NULL);
        assert_int_equal(harness_wait(w, NULL), 0);
    }
    for (int i = 0; i < 2; i++) {
        wait_rows(conn[i], "twin", 1000 * (i + 1));
        assert_int_equal(harness_query_int(conn[i], "SELECT sum(rows_total) FROM live_robot"),
                         1000 * (i + 1));
        char *sql = xasprintf("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s' "
                              "AND database = current_database() AND active",
                              slot[i]);
        assert_int_equal(harness_query_int(conn[i], sql), 1);
        free(sql);
        kill(c[i], SIGINT);
        assert_int_equal(harness_wait(c[i], NULL), 0);
        PQfinish(conn[i]);
        free(slot[i]);
        free(db[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_at_random_moments),
        cmocka_unit_test(test_server_restart),
        cmocka_unit_test(test_two_shards_equal_one_worker),
        cmocka_unit_test(test_poll_misses_nothing_under_four_writers),
        cmocka_unit_test(test_one_process_per_consumer),
        cmocka_unit_test(test_dropped_slot_is_recovered),
        cmocka_unit_test(test_status_and_slots),
        cmocka_unit_test(test_idle_slot_keeps_moving),
        cmocka_unit_test(test_same_name_in_two_databases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
