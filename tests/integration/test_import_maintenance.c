/* Integration tests of `pgpulse import-maintenance` (cmd_import_maintenance, maintlog) and the
 * maintenance part of the warehouse (sql/014_maintenance.sql) against a real PostgreSQL: good
 * and bad lines (rejects in ingest_reject with their reasons, the load going on), the same file
 * twice (stored once), a changed export (updated), JSON lines, the feed making
 * dw.fact_maintenance exactly once, and MTBF and MTTR on fixed data from the simulator's events
 * and imported orders together, checked by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "harness.h"
#include "util.h"

static harness_out import(const char *db, const char *path, const char *source)
{
    if (source)
        return harness_pgpulse(NULL, (const char *[]){"import-maintenance", "--db", db,
                                                      "--source", source, path, NULL});
    return harness_pgpulse(NULL, (const char *[]){"import-maintenance", "--db", db, path, NULL});
}

static char *file_with(const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", harness_tmpdir(), name);
    harness_write_file(p, text);
    return p;
}

static const char orders_csv[] =
    "\xEF\xBB\xBFWork Order ID,Robot,Start,End,Kind,Description,Technician\r\n"
    "WO-1,1,2024-01-03T00:00:00Z,,Failure,gearbox noise,kim\r\n"
    "WO-2,1,2024-01-03T01:00:00Z,2024-01-03T02:00:00Z,repair,\"new gearbox, axis 3\",kim\r\n"
    "WO-3,99,2024-01-03T01:00:00Z,,inspection,,kim\r\n"
    "WO-4,1,2024-01-03T01:00:00Z,soon,inspection,,kim\r\n"
    "\r\n"
    "WO-1,1,2024-01-04T01:00:00Z,,inspection,,kim\r\n"
    "WO-5,2,2024-01-03T05:00:00Z,2024-01-03T04:00:00Z,repair,,kim\r\n"
    "WO-6,2,2024-01-03 05:00,,repair,,kim\r\n"
    "WO-7,2,2024-01-03T06:00:00+01:00,,inspection,all fine,kim\r\n"
    "WO-8,2,2024-01-03T07:00:00Z,,upgrade,,kim\r\n"
    "WO-9,1,2024-01-01T10:00:00Z,,failure,the simulator's,kim\r\n"
    "WO-10,2\r\n";

/* Good and bad lines; the same file again; an export with a changed order. */
static void test_good_bad_and_twice(void **state)
{
    (void)state;
    const char *db = harness_db("import_maint", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (1), (2)");
    /* A simulator's failure: an order with the same robot, kind and start is refused. */
    harness_exec(conn, "INSERT INTO maintenance_event (robot_id, axis, kind, ts, detail, source) "
                       "VALUES (1, 3, 'failure', '2024-01-01T10:00:00Z', 'wear of axis 3', "
                       "'gen seed=1')");
    char *path = file_with("orders.csv", orders_csv);

    harness_out o = import(db, path, "cmms");
    if (o.status != 0) fail_msg("import failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "3 work orders loaded (3 new, 0 updated, 0 unchanged), 8 rejected "
                           "(8 newly recorded in ingest_reject); source 'cmms'");
    harness_assert_contains(o.err, "orders.csv:4: rejected: robot: robot 99 does not exist");
    harness_assert_query(conn,
                 "SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', work_order, robot_id, kind, "
                 "ts AT TIME ZONE 'UTC', ts_end AT TIME ZONE 'UTC', detail, source), ';' ORDER BY "
                 "work_order) FROM maintenance_event WHERE work_order IS NOT NULL",
                 "WO-1|1|failure|2024-01-03 00:00:00||gearbox noise|cmms;"
                 "WO-2|1|repair|2024-01-03 01:00:00|2024-01-03 02:00:00|new gearbox, axis 3|cmms;"
                 "WO-7|2|inspection|2024-01-03 05:00:00||all fine|cmms");
    const char *reasons =
        "4|robot: robot 99 does not exist (load the asset tables: pgpulse import-assets);"
        "5|End: not an ISO 8601 timestamp or epoch seconds: 'soon';"
        "7|work_order: 'WO-1' is given again (first on line 2);"
        "8|End: 2024-01-03T04:00:00Z is before the start, 2024-01-03T05:00:00Z;"
        "9|Start: no time zone (add Z or +HH:MM): '2024-01-03 05:00';"
        "11|Kind: not failure, repair, inspection or replacement: 'upgrade';"
        "12|same robot, kind and start as event 1 already stored (source 'gen seed=1');"
        "13|2 fields, the header has 7";
    const char *sql = "SELECT string_agg(line_no || '|' || reason, ';' ORDER BY line_no) FROM "
                      "ingest_reject WHERE source = 'cmms'";
    harness_assert_query(conn, sql, reasons);
    harness_assert_query(conn, "SELECT raw FROM ingest_reject WHERE line_no = 8",
                 "WO-5,2,2024-01-03T05:00:00Z,2024-01-03T04:00:00Z,repair,,kim");
    harness_out_free(&o);

    /* Twice: nothing new. */
    char *before = harness_query_text(conn, "SELECT string_agg(event_id || ':' || xmin || ':' || "
                                            "rev, ',' ORDER BY event_id) FROM maintenance_event");
    o = import(db, path, "cmms");
    if (o.status != 0) fail_msg("second import failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "3 work orders loaded (0 new, 0 updated, 3 unchanged), 8 rejected "
                           "(0 newly recorded in ingest_reject)");
    char *after = harness_query_text(conn, "SELECT string_agg(event_id || ':' || xmin || ':' || "
                                           "rev, ',' ORDER BY event_id) FROM maintenance_event");
    assert_string_equal(before, after);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM ingest_reject"), 8);
    harness_out_free(&o);

    /* The export again, WO-1 now closed and WO-11 new: one update, one insert, a new rev. */
    char *path2 = file_with("orders2.csv",
                            "work_order,robot,start,end,kind,text\n"
                            "WO-1,1,2024-01-03T00:00:00Z,2024-01-03T00:30:00Z,failure,gearbox noise\n"
                            "WO-2,1,2024-01-03T01:00:00Z,2024-01-03T02:00:00Z,repair,"
                            "\"new gearbox, axis 3\"\n"
                            "WO-11,2,2024-01-05T00:00:00Z,,inspection,\n");
    o = import(db, path2, "cmms");
    if (o.status != 0) fail_msg("third import failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "3 work orders loaded (1 new, 1 updated, 1 unchanged), 0 rejected");
    harness_assert_query(conn, "SELECT ts_end AT TIME ZONE 'UTC' FROM maintenance_event WHERE work_order = 'WO-1'",
                 "2024-01-03 00:30:00");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM maintenance_event"), 5);
    assert_int_equal(harness_query_int(conn, "SELECT (rev = xmin::text::xid8)::int FROM "
                                             "maintenance_event WHERE work_order = 'WO-1'"),
                     1);
    harness_out_free(&o);

    /* The same ids from another source are other orders. */
    o = import(db, path2, NULL);
    if (o.status != 0) fail_msg("import from orders2.csv failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "0 work orders loaded (0 new, 0 updated, 0 unchanged), 3 rejected");
    harness_assert_contains(o.err, "same robot, kind and start as event");
    harness_assert_contains(o.out, "source 'orders2.csv'");
    harness_out_free(&o);

    /* A file that cannot be read: nothing imported, a failure. */
    char *bad = file_with("bad.csv", "robot,start,text\n1,2024-01-01T00:00Z,x\n");
    o = import(db, bad, NULL);
    assert_int_equal(o.status, 1);
    harness_assert_contains(o.err, "bad.csv:1: header: missing column(s) kind, work_order");
    harness_assert_contains(o.err, "nothing was imported");
    harness_out_free(&o);

    free(before);
    free(after);
    free(path);
    free(path2);
    free(bad);
    PQfinish(conn);
}

static void test_json_lines(void **state)
{
    (void)state;
    const char *db = harness_db("import_maint_json", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (4)");
    char *path = file_with(
        "orders.jsonl",
        "{\"robot\": 4, \"start\": \"2024-02-01T08:00:00Z\", \"kind\": \"failure\", "
        "\"work_order\": 1001, \"axis\": 2, \"text\": \"axis 2 overcurrent\"}\n"
        "{\"robot\": \"4\", \"start\": 1706778000, \"end\": \"2024-02-01T10:00:00Z\", "
        "\"kind\": \"Repair\", \"wo\": \"1002\", \"extra\": {\"cost\": 12}}\n"
        "{\"robot\": 4, \"start\": \"2024-02-01T11:00:00Z\", \"kind\": \"repair\"}\n"
        "not json\n"
        "{\"robot\": 5, \"start\": \"2024-02-01T11:00:00Z\", \"kind\": \"repair\", \"wo\": 7}\n");
    harness_out o = import(db, path, "cmms");
    if (o.status != 0) fail_msg("import failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "2 work orders loaded (2 new, 0 updated, 0 unchanged), 3 rejected");
    harness_assert_query(conn,
                 "SELECT string_agg(format('%s|%s|%s|%s|%s|%s', work_order, axis, kind, "
                 "ts AT TIME ZONE 'UTC', ts_end AT TIME ZONE 'UTC', detail), ';' ORDER BY "
                 "work_order) FROM maintenance_event",
                 "1001|2|failure|2024-02-01 08:00:00||axis 2 overcurrent;"
                 "1002||repair|2024-02-01 09:00:00|2024-02-01 10:00:00|");
    harness_assert_query(conn,
                 "SELECT string_agg(line_no || '|' || reason, ';' ORDER BY line_no) FROM "
                 "ingest_reject",
                 "3|work_order: missing;"
                 "4|not JSON: '[' or '{' expected near 'not' (column 3);"
                 "5|robot: robot 5 does not exist (load the asset tables: pgpulse import-assets)");
    harness_out_free(&o);
    free(path);
    PQfinish(conn);
}

/* Minutes of dw.fact_reading_minute for robot r from `from` on: n minutes with `rows` readings
 * of which `active` ran (axis columns are zero: reliability reads the running time, run_us, that
 * the table computes from rows and active), and their hours and days (dw.rollup). */
static void add_minutes(PGconn *conn, int r, const char *from, int n, int rows, int active)
{
    buf b = {0};
    buf_printf(&b, "INSERT INTO dw.fact_reading_minute SELECT %d, '%s'::timestamptz + i * "
                   "interval '1 minute', %d, %d",
               r, from, rows, active);
    for (int a = 1; a <= 8; a++) buf_puts(&b, ", 0, 0, 0, 0, 0, '{}'");
    buf_printf(&b, " FROM generate_series(0, %d) AS i; SELECT dw.rollup(array_agg(robot_id), "
                   "array_agg(minute)) FROM dw.fact_reading_minute WHERE robot_id = %d",
               n - 1, r);
    buf_append(&b, "", 1);
    harness_exec(conn, (const char *)b.data);
    buf_free(&b);
}

/* The simulator's events and imported orders together: the feed makes each fact once, and
 * dw.reliability gives MTBF and MTTR computed by hand. */
static void test_feed_and_reliability(void **state)
{
    (void)state;
    const char *db = harness_db("import_maint_dw", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (1), (2)");
    harness_exec(conn, "INSERT INTO stream_consumer (consumer, stages, source_kind) VALUES "
                       "('c', '{warehouse}', 'poll')");
    /* As `pgpulse gen` writes them (cmd_gen.c): a wear failure of axis 3 at 10:00 and the
     * repair of the whole robot completed at 12:00. */
    harness_exec(conn,
                 "INSERT INTO maintenance_event (robot_id, axis, kind, ts, detail, source) "
                 "SELECT r, a, k, t, CASE k WHEN 'failure' THEN 'wear of axis ' || a END, "
                 "'gen seed=1' FROM unnest('{1,1}'::int[], '{3,NULL}'::smallint[], "
                 "'{failure,repair}'::text[], '{2024-01-01T10:00:00Z,2024-01-01T12:00:00Z}'::"
                 "timestamptz[]) AS x(r, a, k, t) ON CONFLICT (robot_id, kind, ts) DO NOTHING");
    char *path = file_with(
        "cmms.csv",
        "work_order,robot,axis,start,end,kind,text\n"
        /* Robot 1: failure at 14:00, repaired 14:30-15:30: 1.5 h to repair. */
        "A,1,,2024-01-01T14:00:00Z,,failure,stopped\n"
        "B,1,,2024-01-01T14:30:00Z,2024-01-01T15:30:00Z,repair,\n"
        /* Robot 2: a failure with its own end (1 h), then an axis 4 failure that a repair of
         * axis 5 does not restore, and an inspection (not counted). */
        "C,2,,2024-01-01T05:00:00Z,2024-01-01T06:00:00Z,failure,\n"
        "D,2,4,2024-01-01T20:00:00Z,,failure,\n"
        "E,2,5,2024-01-01T21:00:00Z,2024-01-01T21:30:00Z,repair,\n"
        "F,2,,2024-01-01T22:00:00Z,,inspection,\n"
        /* Outside the range. */
        "G,1,,2024-01-02T03:00:00Z,,failure,\n");
    harness_out o = import(db, path, "cmms");
    if (o.status != 0) fail_msg("import failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "7 work orders loaded (7 new");
    harness_out_free(&o);

    /* Robot 1 ran 00:00-09:59 half of the time (12 readings a minute, 6 active: 30 s) and
     * 12:00-13:59 all the time (60 s): 600 * 30 + 120 * 60 = 25,200 s. Robot 2 has no minute
     * facts: its running time is unknown. */
    add_minutes(conn, 1, "2024-01-01T00:00:00Z", 600, 12, 6);
    add_minutes(conn, 1, "2024-01-01T12:00:00Z", 120, 10, 10);

    harness_exec(conn, "SELECT dw.sync_feeds('c')");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dw.fact_maintenance"), 9);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM maintenance_event e JOIN "
                                             "dw.fact_maintenance f USING (event_id) WHERE "
                                             "(f.robot_id, f.axis, f.kind, f.ts_start, f.ts_end, "
                                             "f.source, f.work_order) IS NOT DISTINCT FROM "
                                             "(e.robot_id, e.axis, e.kind, e.ts, e.ts_end, "
                                             "e.source, e.work_order)"),
                     9);
    harness_assert_query(conn, "SELECT duration_s FROM dw.fact_maintenance WHERE work_order = 'B'", "3600");
    harness_assert_query(conn, "SELECT duration_s FROM dw.fact_maintenance WHERE work_order = 'A'", "0");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dw.dim_time WHERE minute IN "
                                             "('2024-01-01T14:30Z', '2024-01-01T15:30Z')"),
                     2);

    /* Exactly once: a second sync rewrites nothing. */
    const char *digest = "SELECT string_agg(event_id || ':' || xmin, ',' ORDER BY event_id) FROM "
                         "dw.fact_maintenance";
    char *before = harness_query_text(conn, digest);
    harness_exec(conn, "SELECT dw.sync_feeds('c')");
    char *after = harness_query_text(conn, digest);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* Each failure and its restoration. */
    harness_assert_query(conn,
                 "SELECT string_agg(format('%s|%s|%s', coalesce(e.work_order, e.source), "
                 "fr.ttr_s, coalesce(r.work_order, r.source)), ';' ORDER BY fr.failed_at) FROM "
                 "dw.failure_repair fr JOIN maintenance_event e ON e.event_id = fr.event_id "
                 "LEFT JOIN maintenance_event r ON r.event_id = fr.repair_event_id",
                 "C|3600|;gen seed=1|7200|gen seed=1;A|5400|B;D||;G||");

    /* By hand: robot 1 — 2 failures (10:00, 14:00), both repaired (2 h, 1.5 h): MTTR 6,300 s,
     * MTBF 25,200 / 2 = 12,600 s. Robot 2 — 2 failures, one restored (1 h): MTTR 3,600 s;
     * running time and MTBF unknown. */
    harness_assert_query(conn,
                 "SELECT string_agg(format('%s|%s|%s|%s|%s|%s', robot_id, failures, repaired, "
                 "running_s, mtbf_s, mttr_s), ';' ORDER BY robot_id) FROM "
                 "dw.reliability('2024-01-01T00:00Z', '2024-01-02T00:00Z')",
                 "1|2|2|25200|12600|6300;2|2|1|||3600");

    /* The running time over ranges that end inside hours and days: whole days from day rows,
     * whole hours from hour rows, the minutes left from minute rows, each minute once. */
    const char *running = "SELECT coalesce(string_agg(format('%s|%s', robot_id, run_us / 1000000), ';' "
                          "ORDER BY robot_id), '') FROM dw.running_us($1, $2)";
    static const char *const ranges[][3] = {
        {"-infinity", "infinity", "1|25200"},
        {"2023-12-31T23:00Z", "2024-01-02T00:00Z", "1|25200"},       /* an hour and a day */
        {"2024-01-01T09:30Z", "2024-01-01T12:30Z", "1|2700"},        /* 30 min x 30 s + 30 x 60 s */
        {"2024-01-01T08:00Z", "2024-01-01T13:15Z", "1|8100"},        /* 2 h x 1800 + 3600 + 15 x 60 */
        {"2024-01-01T09:59:30Z", "2024-01-01T12:00:30Z", "1|60"},    /* 12:00 starts in range, 09:59 not */
        {"2024-01-01T10:10Z", "2024-01-01T10:50Z", ""},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++) {
        PGresult *r = PQexecParams(conn, running, 2, NULL, (const char *[]){ranges[i][0], ranges[i][1]},
                                   NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        if (strcmp(PQgetvalue(r, 0, 0), ranges[i][2]))
            fail_msg("running_us(%s, %s) = '%s', expected '%s'", ranges[i][0], ranges[i][1],
                     PQgetvalue(r, 0, 0), ranges[i][2]);
        PQclear(r);
    }

    /* An order closed later: its fact follows at the next sync (the rev watermark). */
    char *closed = file_with("cmms2.csv", "work_order,robot,axis,start,end,kind,text\n"
                                          "D,2,4,2024-01-01T20:00:00Z,2024-01-01T23:00:00Z,"
                                          "failure,\n");
    o = import(db, closed, "cmms");
    if (o.status != 0) fail_msg("import of the closed order failed (%d): %s", o.status, o.err);
    harness_assert_contains(o.out, "1 work order loaded (0 new, 1 updated, 0 unchanged)");
    harness_out_free(&o);
    harness_assert_query(conn, "SELECT mttr_s FROM dw.reliability('2024-01-01T00:00Z', "
                       "'2024-01-02T00:00Z') WHERE robot_id = 2",
                 "3600");
    harness_exec(conn, "SELECT dw.sync_feeds('c')");
    harness_assert_query(conn, "SELECT duration_s FROM dw.fact_maintenance WHERE work_order = 'D'",
                 "10800");
    /* (3,600 + 10,800) / 2 */
    harness_assert_query(conn,
                 "SELECT format('%s|%s', repaired, mttr_s) FROM dw.reliability("
                 "'2024-01-01T00:00Z', '2024-01-02T00:00Z') WHERE robot_id = 2",
                 "2|7200");
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dw.fact_maintenance"), 9);

    /* The watermark: the snapshot's xmin at the last sync, at most the next transaction's id. */
    assert_int_equal(harness_query_int(conn, "SELECT (rev <= pg_current_xact_id())::int FROM "
                                             "dw.feed_watermark WHERE consumer = 'c' AND feed = "
                                             "'maintenance'"),
                     1);
    free(path);
    free(closed);
    PQfinish(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_bad_and_twice),
        cmocka_unit_test(test_json_lines),
        cmocka_unit_test(test_feed_and_reliability),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
