/* Integration tests of the warehouse's feeds (sql/013_dw_feeds.sql): dw.dim_robot, type 2, and
 * the facts read by revision watermark from tables other writers update (dw.fact_anomaly,
 * dw.fact_prediction_hour). Every sync runs as pgpulse_stage (SET ROLE), in a transaction of
 * its own, through dw.sync_feeds as the warehouse stage calls it, so the grants are proved
 * with the feeds. A row of a transaction that commits after a sync that began after it (out of
 * id order) is read by the next sync, exactly once; a sync that finds nothing new rewrites no
 * row; a change of a robot's attributes closes its version and opens one; deletions remove
 * their facts; and after random writes, syncs and transactions held open across syncs, the
 * facts equal those rebuilt from scratch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "rng.h"
#include "util.h"

/* An md5 of the facts (ntables 2) or of the facts and the dimensions (4), over each row's
 * `row` expression (of alias x): its values (VALUES), or where and by whom it is stored
 * (STORED: a row rewritten, even with the same values, changes it). Newly allocated. */
#define VALUES "x::text"
#define STORED "x.ctid::text || ':' || x.xmin::text"
static char *fingerprint(PGconn *conn, const char *row, int ntables)
{
    static const char *const tables[] = {"dw.fact_anomaly", "dw.fact_prediction_hour",
                                         "dw.dim_robot", "dw.dim_time"};
    char sql[2048];
    int n = snprintf(sql, sizeof sql, "SELECT md5(concat_ws('|'");
    for (int i = 0; i < ntables; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n,
                      ", coalesce((SELECT string_agg(%s, ';' ORDER BY %s) FROM %s x), '')", row,
                      row, tables[i]);
    snprintf(sql + n, sizeof sql - (size_t)n, "))");
    return harness_query_text(conn, sql);
}

/* A database with two plants' worth of assets (robots 1..3) and the warehouse consumer 'c'. */
static const char *setup(const char *name)
{
    const char *db = harness_db(name, 1);
    if (!db) return NULL;
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO plant (plant_id, name) VALUES (1, 'north'), (2, 'south');"
                       "INSERT INTO shop (shop_id, plant_id, name) VALUES (1, 1, 'body'), "
                       "(2, 1, 'paint'), (3, 2, 'press');"
                       "INSERT INTO asset_detail (detail_id, model_number, serial_number) VALUES "
                       "(1, 'KR16', 'S-001'), (2, 'KR210', 'S-002');"
                       "INSERT INTO robot (robot_id, name, shop_id, detail_id) VALUES "
                       "(1, 'r1', 1, 1), (2, 'r2', 1, 2), (3, 'r3', 3, NULL);"
                       "INSERT INTO stream_consumer (consumer, stages, source_kind) VALUES "
                       "('c', '{warehouse}', 'poll')");
    PQfinish(conn);
    return db;
}

/* A connection that runs the feeds as the stages do: as pgpulse_stage. */
static PGconn *stage_connect(const char *db)
{
    PGconn *s = harness_connect(db);
    harness_exec(s, "SET ROLE pgpulse_stage");
    return s;
}

/* One sync, in a transaction of its own, as the warehouse stage runs it in its commit. */
static void sync(PGconn *s)
{
    harness_exec(s, "BEGIN");
    harness_exec(s, "SELECT dw.sync_feeds('c')");
    harness_exec(s, "COMMIT");
}

static void add_anomaly(PGconn *conn, const char *consumer, int robot, int second)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, ts_end, "
             "peak_score, peak_z, detector, readings, open) VALUES ('%s', %d, 1 + %d %% 8, "
             "'ALERT', '2024-03-01 08:00Z'::timestamptz + %d * interval '1 s', "
             "'2024-03-01 08:00Z'::timestamptz + %d * interval '1 s', "
             "'2024-03-01 08:00Z'::timestamptz + %d * interval '1 s', 0.5, 3.5, 'regress', 1, "
             "true)",
             consumer, robot, second, second, second, second + 2);
    harness_exec(conn, sql);
}

static void add_prediction(PGconn *conn, int robot, int second, double value)
{
    char sql[768];
    snprintf(sql, sizeof sql,
             "INSERT INTO prediction (consumer, robot_id, ts, kind, axis, horizon, target_ts, "
             "value) VALUES ('l', %d, '2024-03-01 08:00Z'::timestamptz + %d * interval '1 s', "
             "'risk', 0, 600, '2024-03-01 08:10Z'::timestamptz + %d * interval '1 s', %.17g) "
             "ON CONFLICT DO NOTHING",
             robot, second, second, value);
    harness_exec(conn, sql);
}

/* A transaction that began first but commits last: its rows, invisible to the sync between,
 * are read by the sync after its commit, once. */
static void test_out_of_order_commits(void **state)
{
    (void)state;
    const char *db = setup("dw_feeds_order");
    if (!db) skip();
    PGconn *a = harness_connect(db), *b = harness_connect(db), *s = stage_connect(db);

    harness_exec(a, "BEGIN");
    add_anomaly(a, "d", 1, 10);
    add_prediction(a, 1, 10, 0.25);
    int64_t xid_a = harness_query_int(a, "SELECT pg_current_xact_id()::text::bigint");
    add_anomaly(b, "d", 2, 20); /* autocommit: a later id, committed first */
    add_prediction(b, 1, 20, 0.75);
    assert_true(harness_query_int(b, "SELECT max(rev::text::bigint) FROM anomaly") > xid_a);

    sync(s);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly"), 1);
    assert_int_equal(
        harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly WHERE robot_id = 2"), 1);
    char *v = harness_query_text(s, "SELECT n || ' ' || max FROM dw.fact_prediction_hour");
    assert_string_equal(v, "1 0.75");
    free(v);
    int64_t mark = harness_query_int(s, "SELECT rev::text::bigint FROM dw.feed_watermark WHERE "
                                        "consumer = 'c' AND feed = 'anomaly'");

    harness_exec(a, "COMMIT");
    sync(s);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly"), 2);
    assert_int_equal(harness_query_int(s, "SELECT count(DISTINCT anomaly_id) FROM dw.fact_anomaly "
                                          "f JOIN anomaly a ON a.id = f.anomaly_id"),
                     2);
    v = harness_query_text(s, "SELECT n || ' ' || sum || ' ' || mean || ' ' || min || ' ' || max "
                              "FROM dw.fact_prediction_hour");
    assert_string_equal(v, "2 1.00 0.5 0.25 0.75");
    free(v);
    /* Why: the watermark stayed at or below A's id although a later id had been read (an id
     * watermark, the largest id seen, would have skipped A's rows). */
    assert_true(mark <= xid_a);

    /* An episode growing in a transaction held open across a sync: its update is read after. */
    harness_exec(a, "BEGIN");
    harness_exec(a, "UPDATE anomaly SET ts_end = ts_end + interval '1 min', level = 'ERROR', "
                    "readings = 9, open = false WHERE robot_id = 1");
    add_anomaly(b, "d", 3, 30);
    sync(s);
    assert_int_equal(
        harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly WHERE level = 'ERROR'"), 0);
    harness_exec(a, "COMMIT");
    sync(s);
    v = harness_query_text(s, "SELECT level || ' ' || readings || ' ' || duration_s || ' ' || open "
                              "FROM dw.fact_anomaly WHERE robot_id = 1");
    assert_string_equal(v, "ERROR 9 62 false");
    free(v);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly"), 3);

    /* Rows the sync's own transaction writes after it (a stage after the warehouse in the same
     * commit) are read by the next sync, even when its id is older than that of a transaction
     * (B's) that committed before the sync: the snapshot's xmin counts its own transaction. */
    harness_exec(s, "BEGIN");
    add_anomaly(s, "d", 2, 40);
    add_anomaly(b, "d", 3, 50);
    harness_exec(s, "SELECT dw.sync_feeds('c')");
    add_anomaly(s, "d", 2, 60);
    add_prediction(s, 2, 60, 0.5);
    harness_exec(s, "COMMIT");
    sync(s);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly"), 6);
    assert_int_equal(
        harness_query_int(s, "SELECT count(*) FROM dw.fact_prediction_hour WHERE robot_id = 2"), 1);
    PQfinish(a);
    PQfinish(b);
    PQfinish(s);
}

/* A sync that finds nothing new changes nothing, not even the rows' storage; the facts equal a
 * rebuild from scratch; deletions remove their facts. */
static void test_idempotent_and_deletions(void **state)
{
    (void)state;
    const char *db = setup("dw_feeds_again");
    if (!db) skip();
    PGconn *o = harness_connect(db), *s = stage_connect(db), *h = harness_connect(db);
    /* A transaction held open from before the writes keeps the watermark below them: every
     * sync reads all of them again. */
    harness_exec(h, "BEGIN");
    int64_t xid_h = harness_query_int(h, "SELECT pg_current_xact_id()::text::bigint");
    for (int i = 0; i < 6; i++) {
        add_anomaly(o, "d", 1 + i % 3, 100 * i);
        add_prediction(o, 1 + i % 3, 1000 * i, 0.125 * i);
    }
    sync(s);
    char *all = fingerprint(s, VALUES, 4), *stored = fingerprint(s, STORED, 4);
    sync(s);
    sync(s);
    assert_true(harness_query_int(s, "SELECT max(rev::text::bigint) FROM dw.feed_watermark") <=
                xid_h);
    char *all2 = fingerprint(s, VALUES, 4), *stored2 = fingerprint(s, STORED, 4);
    assert_string_equal(all, all2);
    assert_string_equal(stored, stored2);
    harness_exec(h, "COMMIT");
    PQfinish(h);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.dim_robot"), 3);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly"), 6);
    /* 6 predictions, 1000 s apart from 08:00 (robot 1 + i % 3): 5 (robot, hour) groups. */
    assert_int_equal(harness_query_int(s, "SELECT sum(n) FROM dw.fact_prediction_hour"), 6);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_prediction_hour"), 5);

    /* Rebuilt from scratch (watermarks forgotten): the same facts. */
    char *facts = fingerprint(s, VALUES, 2);
    harness_exec(s, "DELETE FROM dw.fact_anomaly; DELETE FROM dw.fact_prediction_hour; "
                    "DELETE FROM dw.feed_watermark");
    sync(s);
    char *facts2 = fingerprint(s, VALUES, 2);
    assert_string_equal(facts, facts2);

    /* Deleted by an operator (the owner) and by the stage role: their facts go; a prediction
     * moved to another hour leaves its old hour. */
    harness_exec(o, "DELETE FROM anomaly WHERE robot_id = 1");
    harness_exec(s, "DELETE FROM anomaly WHERE robot_id = 2");
    harness_exec(o, "DELETE FROM prediction WHERE robot_id = 1");
    harness_exec(o, "UPDATE prediction SET ts = ts + interval '3 h' WHERE robot_id = 2");
    sync(s);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly"), 2);
    assert_int_equal(
        harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly WHERE robot_id = 3"), 2);
    assert_int_equal(
        harness_query_int(s, "SELECT count(*) FROM dw.fact_prediction_hour WHERE robot_id = 1"), 0);
    char *after = fingerprint(s, VALUES, 2);
    harness_exec(s, "DELETE FROM dw.fact_anomaly; DELETE FROM dw.fact_prediction_hour; "
                    "DELETE FROM dw.feed_watermark");
    sync(s);
    char *rebuilt = fingerprint(s, VALUES, 2);
    assert_string_equal(after, rebuilt);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_prediction_hour f WHERE "
                                          "f.hour < '2024-03-01 11:00Z' AND f.robot_id = 2"),
                     0);
    free(all), free(all2), free(stored), free(stored2), free(facts), free(facts2), free(after);
    free(rebuilt);
    PQfinish(o);
    PQfinish(s);
}

/* A change of a robot's attributes (its own, its shop's, its model's) closes its current version
 * and opens one, once; facts refer to the version valid at their time. */
static void test_type2_versions(void **state)
{
    (void)state;
    const char *db = setup("dw_feeds_type2");
    if (!db) skip();
    PGconn *o = harness_connect(db), *s = stage_connect(db);
    sync(s);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.dim_robot WHERE is_current"), 3);
    char *v = harness_query_text(s, "SELECT string_agg(concat_ws(' ', robot_id, name, shop_name, "
                                    "plant_name, model, serial), ', ' ORDER BY robot_id) FROM "
                                    "dw.dim_robot");
    assert_string_equal(
        v, "1 r1 body north KR16 S-001, 2 r2 body north KR210 S-002, 3 r3 press south");
    free(v);

    harness_exec(o, "UPDATE robot SET shop_id = 3, name = 'r1-moved' WHERE robot_id = 1");
    sync(s);
    sync(s);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.dim_robot"), 4);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.dim_robot WHERE robot_id = 1"),
                     2);
    v = harness_query_text(s,
                           "SELECT concat_ws(' ', name, shop_name, plant_name, is_current) "
                           "FROM dw.dim_robot WHERE robot_id = 1 ORDER BY valid_from DESC LIMIT 1");
    assert_string_equal(v, "r1-moved press south t");
    free(v);
    /* The old version is closed when the new one opens, and robots 2 and 3 kept theirs. */
    assert_int_equal(
        harness_query_int(s, "SELECT count(*) FROM dw.dim_robot o JOIN dw.dim_robot n "
                             "ON n.robot_id = o.robot_id AND n.valid_from = o.valid_to "
                             "WHERE o.robot_id = 1 AND o.name = 'r1' AND NOT o.is_current "
                             "AND n.is_current"),
        1);
    assert_int_equal(harness_query_int(s,
                                       "SELECT count(*) FROM dw.dim_robot WHERE robot_id IN (2, 3) "
                                       "AND is_current AND robot_key <= 3"),
                     2);

    /* A renamed shop and a changed model: a version for each robot they concern. */
    harness_exec(o, "UPDATE shop SET name = 'body-2' WHERE shop_id = 1");
    harness_exec(o, "UPDATE asset_detail SET model_number = 'KR16-2' WHERE detail_id = 1");
    harness_exec(o, "INSERT INTO robot (robot_id, name, shop_id) VALUES (4, 'r4', 2)");
    sync(s);
    v = harness_query_text(
        s, "SELECT string_agg(robot_id || ':' || n, ' ' ORDER BY robot_id) FROM "
           "(SELECT robot_id, count(*) AS n FROM dw.dim_robot GROUP BY robot_id) x");
    assert_string_equal(v, "1:3 2:2 3:1 4:1");
    free(v);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.dim_robot WHERE is_current"), 4);

    /* A robot deleted (it has no readings) has no current version. */
    harness_exec(o, "DELETE FROM robot WHERE robot_id = 4");
    sync(s);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.dim_robot WHERE robot_id = 4 "
                                          "AND valid_to IS NOT NULL"),
                     1);

    /* Facts: an episode of stream time before the dimension's history gets the robot's first
     * version; one after its latest change gets the current one. */
    add_anomaly(o, "d", 1, 5);
    harness_exec(o, "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, "
                    "ts_end, peak_score, peak_z, detector, readings, open) VALUES ('d', 1, NULL, "
                    "'ERROR', now() + interval '1 h', now() + interval '1 h', now() + interval "
                    "'1 h', 1, 9, 'quality', 1, false)");
    sync(s);
    v = harness_query_text(s,
                           "SELECT string_agg(d.name || '/' || d.shop_name || '/' || d.is_current, "
                           "' ' ORDER BY f.ts_start) FROM dw.fact_anomaly f JOIN dw.dim_robot d "
                           "USING (robot_key)");
    assert_string_equal(v, "r1/body/false r1-moved/press/true");
    free(v);
    PQfinish(o);
    PQfinish(s);
}

/* Random writes, deletions, robot changes and syncs, with a second writer holding transactions
 * open across syncs: after the last sync the facts equal a rebuild from scratch, and every
 * minute they refer to is in dim_time. */
static void test_random_against_rebuild(void **state)
{
    (void)state;
    const char *db = setup("dw_feeds_random");
    if (!db) skip();
    rng r;
    rng_seed(&r, harness_seed(), 12);
    PGconn *o = harness_connect(db), *a = harness_connect(db), *s = stage_connect(db);
    int a_open = 0, second = 0;
    char sql[512];
    for (int round = 0; round < 60; round++) {
        int ops = 1 + (int)rng_below(&r, 6);
        for (int i = 0; i < ops; i++) {
            int robot = 1 + (int)rng_below(&r, 3);
            switch (rng_below(&r, 8)) {
            case 0:
            case 1:
                add_anomaly(o, "d", robot, 2 * second++);
                break;
            case 2:
            case 3:
                add_prediction(o, robot, 2 * (int)rng_below(&r, 20000), rng_uniform(&r));
                break;
            case 4:
                snprintf(sql, sizeof sql,
                         "UPDATE anomaly SET ts_end = ts_end + interval '7 s', readings = "
                         "readings + 1, peak_score = %.17g, ts_start = ts_start - interval '61 s' "
                         "WHERE consumer = 'd' AND id %% 5 = %d",
                         rng_uniform(&r), (int)rng_below(&r, 5));
                harness_exec(o, sql);
                break;
            case 5:
                if (rng_below(&r, 2))
                    snprintf(sql, sizeof sql,
                             "DELETE FROM anomaly WHERE consumer = 'd' AND robot_id = %d AND "
                             "extract(epoch FROM ts_first)::bigint %% 11 = %d",
                             robot, (int)rng_below(&r, 11));
                else
                    snprintf(sql, sizeof sql,
                             "DELETE FROM prediction WHERE robot_id = %d AND "
                             "extract(epoch FROM ts)::bigint %% 11 = %d",
                             robot, 2 * (int)rng_below(&r, 6));
                harness_exec(o, sql);
                break;
            case 6:
                /* Moves predictions at even seconds to another hour: a move onto a row that is
                 * there already fails (unique_violation), and moves nothing. */
                snprintf(sql, sizeof sql,
                         "UPDATE prediction SET ts = ts + interval '2 h' WHERE robot_id = %d AND "
                         "extract(epoch FROM ts)::bigint %% 26 = %d",
                         robot, 2 * (int)rng_below(&r, 13));
                PGresult *res = PQexec(o, sql);
                const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                if (PQresultStatus(res) != PGRES_COMMAND_OK && (!st || strcmp(st, "23505") != 0))
                    fail_msg("%s: %s", sql, PQresultErrorMessage(res));
                PQclear(res);
                break;
            case 7:
                snprintf(sql, sizeof sql, "UPDATE robot SET shop_id = %d WHERE robot_id = %d",
                         1 + (int)rng_below(&r, 3), robot);
                harness_exec(o, sql);
                break;
            }
        }
        /* The second writer: only inserts, of its own anomalies and of predictions at odd
         * seconds, and updates of its own rows, so that it never waits for the first. */
        if (!a_open && rng_below(&r, 3) == 0) {
            harness_exec(a, "BEGIN");
            a_open = 1;
        }
        if (a_open) {
            add_anomaly(a, "da", 1 + (int)rng_below(&r, 3), 2 * second++);
            add_prediction(a, 1 + (int)rng_below(&r, 3), 2 * (int)rng_below(&r, 20000) + 1,
                           rng_uniform(&r));
            harness_exec(a, "UPDATE anomaly SET readings = readings + 1 WHERE consumer = 'da'");
            if (rng_below(&r, 3) == 0) {
                harness_exec(a, "COMMIT");
                a_open = 0;
            }
        }
        if (rng_below(&r, 2)) sync(s);
    }
    if (a_open) harness_exec(a, "COMMIT");
    sync(s);
    char *facts = fingerprint(s, VALUES, 2);
    assert_true(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly") > 20);
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM dw.fact_anomaly"),
                     harness_query_int(s, "SELECT count(*) FROM anomaly"));
    assert_int_equal(
        harness_query_int(s, "SELECT coalesce(sum(n), 0) FROM dw.fact_prediction_hour"),
        harness_query_int(s, "SELECT count(*) FROM prediction"));
    assert_int_equal(harness_query_int(s, "SELECT count(*) FROM (SELECT start_minute AS m FROM "
                                          "dw.fact_anomaly UNION SELECT hour FROM "
                                          "dw.fact_prediction_hour) f WHERE NOT EXISTS (SELECT 1 "
                                          "FROM dw.dim_time t WHERE t.minute = f.m)"),
                     0);
    harness_exec(s, "DELETE FROM dw.fact_anomaly; DELETE FROM dw.fact_prediction_hour; "
                    "DELETE FROM dw.feed_watermark");
    sync(s);
    char *rebuilt = fingerprint(s, VALUES, 2);
    assert_string_equal(facts, rebuilt);
    free(facts);
    free(rebuilt);
    PQfinish(o);
    PQfinish(a);
    PQfinish(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_order_commits),
        cmocka_unit_test(test_idempotent_and_deletions),
        cmocka_unit_test(test_type2_versions),
        cmocka_unit_test(test_random_against_rebuild),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
