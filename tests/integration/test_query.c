/* Integration tests for `pgpulse query` (src/query.c, sql/queries/): every canned analysis on
 * fixed data whose answers were worked out by hand (below, beside each check), run as a user
 * runs it (the CLI, --format json and csv and table), plus the list and the bad-input answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "httpc.h"
#include "serve.h"
#include "util.h"

static const char *db;

/* Histogram bins as src/dw_agg.h defines them (docs/warehouse.md). */
static int bin(double v)
{
    return v == 0 ? 0 : 1 + (int)floor(log(fabs(v) / 1e-3) / log(1.02));
}

/* A histogram entry: (bin << 32) | count. */
static long long entry(int b, int count)
{
    return (long long)b * 4294967296LL + count;
}

/* The fixed data (all of it written here, by hand):
 *   plant 1 North; shops 10 Weld and 20 Paint in it; robots 1 (Weld), 2 (Paint), 3 (no shop).
 *   dw.fact_reading_minute (each hour's readings in its first minute; dw.rollup makes the hours
 *   and the days):
 *     robot 1, 2026-01-01 00:00: 100 readings, 40 active; axis 1: 40 readings of 2.0 A, the
 *       rest 0;
 *     robot 1, 01:00: 100 readings, 90 active; axis 1: 80 of 1.0 A, 10 of 10.0 A, 10 zeros;
 *     robot 2, 00:00: 50 readings, all idle;
 *     robot 3, 00:00: 10 readings, all active; axis 1: 10 of 5.0 A.
 *   Axes 2-8 read 0 throughout. */
static void fixture_hours(PGconn *c)
{
    harness_exec(c, "INSERT INTO plant (plant_id, name) VALUES (1, 'North');"
                    "INSERT INTO shop (shop_id, plant_id, name) VALUES (10, 1, 'Weld'), (20, 1, 'Paint');"
                    "INSERT INTO robot (robot_id, name, shop_id) VALUES (1, 'r1', 10), (2, 'r2', 20), (3, 'r3', NULL)");
    struct {
        int robot;
        const char *hour;
        int rows, active, n;
        double v1, v2;   /* axis 1's running values */
        int c1, c2;      /* and their counts */
    } h[] = {
        {1, "2026-01-01 00:00Z", 100, 40, 40, 2.0, 0, 40, 0},
        {1, "2026-01-01 01:00Z", 100, 90, 90, 1.0, 10.0, 80, 10},
        {2, "2026-01-01 00:00Z", 50, 0, 0, 0, 0, 0, 0},
        {3, "2026-01-01 00:00Z", 10, 10, 10, 5.0, 0, 10, 0},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
        char cols[2048] = "", vals[4096] = "";
        size_t cl = 0, vl = 0;
        for (int a = 1; a <= 8; a++) {
            cl += (size_t)snprintf(cols + cl, sizeof cols - cl, ", n%d, s%d, q%d, mn%d, mx%d, h%d", a, a, a, a, a, a);
            if (a == 1) {
                double s = h[i].c1 * h[i].v1 + h[i].c2 * h[i].v2;
                double q = h[i].c1 * (h[i].v1 * 1e6) * (h[i].v1 * 1e6) + h[i].c2 * (h[i].v2 * 1e6) * (h[i].v2 * 1e6);
                double mx = h[i].v2 > h[i].v1 ? h[i].v2 : h[i].v1;
                int zeros = h[i].rows - h[i].n;
                char hist[128];
                int hl = snprintf(hist, sizeof hist, "{");
                if (zeros) hl += snprintf(hist + hl, sizeof hist - (size_t)hl, "%lld,", entry(0, zeros));
                if (h[i].c1) hl += snprintf(hist + hl, sizeof hist - (size_t)hl, "%lld,", entry(bin(h[i].v1), h[i].c1));
                if (h[i].c2) hl += snprintf(hist + hl, sizeof hist - (size_t)hl, "%lld,", entry(bin(h[i].v2), h[i].c2));
                snprintf(hist + hl - 1, sizeof hist - (size_t)hl + 1, "}");
                vl += (size_t)snprintf(vals + vl, sizeof vals - vl, ", %d, %.0f, %.0f, %g, %g, '%s'", h[i].n,
                                       s * 1e6, q, zeros ? 0.0 : h[i].v1, mx, hist);
            } else {
                vl += (size_t)snprintf(vals + vl, sizeof vals - vl, ", 0, 0, 0, 0, 0, '{%lld}'", entry(0, h[i].rows));
            }
        }
        char sql[8192];
        snprintf(sql, sizeof sql, "INSERT INTO dw.fact_reading_minute (robot_id, minute, rows, active%s) VALUES (%d, '%s', %d, %d%s)",
                 cols, h[i].robot, h[i].hour, h[i].rows, h[i].active, vals);
        harness_exec(c, sql);
    }
    /* The hours and days above them, as the warehouse makes them. */
    harness_exec(c, "SELECT dw.rollup(array_agg(robot_id), array_agg(minute)) FROM dw.fact_reading_minute");
}

static json_t *run_json(const char *name, const char *const extra[])
{
    const char *argv[16] = {"query", name, "--format", "json", "--db", db};
    int n = 6;
    for (int i = 0; extra && extra[i]; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    harness_out o = harness_pgpulse(NULL, argv);
    if (o.status != 0) fail_msg("query %s: status %d: %s", name, o.status, o.err);
    json_error_t e;
    json_t *j = json_loads(o.out, 0, &e);
    if (!j) fail_msg("query %s: not JSON (%s): %s", name, e.text, o.out);
    harness_out_free(&o);
    assert_true(json_is_array(j));
    return j;
}

static const char *str(json_t *row, const char *k)
{
    return json_string_value(json_object_get(row, k));
}

static double num(json_t *row, const char *k)
{
    json_t *v = json_object_get(row, k);
    if (!json_is_number(v)) fail_msg("%s is not a number", k);
    return json_number_value(v);
}

static int group_setup(void **state)
{
    (void)state;
    db = harness_db("query", 1);
    if (!db) return 0;
    PGconn *c = harness_connect(db);
    fixture_hours(c);
    PQfinish(c);
    return 0;
}

static void test_list_and_bad_input(void **state)
{
    (void)state;
    if (!db) skip();
    harness_out o = harness_pgpulse(NULL, (const char *[]){"query", "--list", NULL});
    assert_int_equal(o.status, 0);
    static const char *const names[] = {"utilisation", "percentiles", "ingest_health", "model_accuracy",
                                        "detection_quality", "alert_rate", "top_risk", "mtbf_mttr"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_non_null(strstr(o.out, names[i]));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"query", "nosuch", "--db", db, NULL});
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "no analysis named 'nosuch'"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"query", "utilisation", "--format", "xml", "--db", db, NULL});
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "--format: 'xml'"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"query", "utilisation", "--robot", "x", "--db", db, NULL});
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "--robot"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"query", "utilisation", "--from", "yesterday-ish", "--db", db, NULL});
    assert_int_equal(o.status, 1);
    assert_non_null(strstr(o.err, "query utilisation"));
    harness_out_free(&o);
}

/* utilisation: per plant, shop and hour. (none)/(none) 00:00: robot 3, 10 of 10 active;
 * North/Paint 00:00: robot 2, 0 of 50; North/Weld 00:00: 40 of 100, 01:00: 90 of 100. */
static void test_utilisation(void **state)
{
    (void)state;
    if (!db) skip();
    json_t *j = run_json("utilisation", NULL);
    assert_int_equal(json_array_size(j), 4);
    struct { const char *plant, *shop; double active, idle; int readings; } want[] = {
        {"(none)", "(none)", 1.0, 0.0, 10}, {"North", "Paint", 0.0, 1.0, 50},
        {"North", "Weld", 0.4, 0.6, 100}, {"North", "Weld", 0.9, 0.1, 100}};
    for (size_t i = 0; i < 4; i++) {
        json_t *r = json_array_get(j, i);
        assert_string_equal(str(r, "plant"), want[i].plant);
        assert_string_equal(str(r, "shop"), want[i].shop);
        assert_float_equal(num(r, "active_share"), want[i].active, 1e-9);
        assert_float_equal(num(r, "idle_share"), want[i].idle, 1e-9);
        assert_float_equal(num(r, "readings"), want[i].readings, 0);
    }
    json_decref(j);
    /* The range and the robot filter: robot 1 from 01:00 on is the one Weld hour. */
    j = run_json("utilisation", (const char *[]){"--from", "2026-01-01T01:00:00Z", "--robot", "1", NULL});
    assert_int_equal(json_array_size(j), 1);
    assert_float_equal(num(json_array_get(j, 0), "active_share"), 0.9, 1e-9);
    json_decref(j);
    /* The other formats carry the same rows. */
    harness_out o = harness_pgpulse(NULL, (const char *[]){"query", "utilisation", "--format", "csv", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "plant,shop,hour,robots,readings,active_share,idle_share\n"));
    assert_non_null(strstr(o.out, "North,Weld,2026-01-01 01:00:00+00,1,100,0.9000,0.1000\n"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"query", "utilisation", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "(4 rows)"));
    harness_out_free(&o);
}

/* percentiles: robot 1 axis 1 over both hours: 200 readings, 130 running (40 x 2.0, 80 x 1.0,
 * 10 x 10.0): idle share 0.35, mean 260 / 130 = 2.0; sorted, the 65th running value is 1.0
 * (p50), the 117th is 2.0 (p90), the 129th is 10.0 (p99); max 10. Histogram percentiles are
 * within 1 %. Robot 2 axis 1 never ran: no mean, no percentiles. */
static void test_percentiles(void **state)
{
    (void)state;
    if (!db) skip();
    json_t *j = run_json("percentiles", NULL);
    assert_int_equal(json_array_size(j), 3 * 8);
    json_t *r = json_array_get(j, 0);
    assert_float_equal(num(r, "robot_id"), 1, 0);
    assert_float_equal(num(r, "axis"), 1, 0);
    assert_float_equal(num(r, "readings"), 200, 0);
    assert_float_equal(num(r, "running"), 130, 0);
    assert_float_equal(num(r, "idle_share"), 0.35, 1e-9);
    assert_float_equal(num(r, "mean"), 2.0, 1e-9);
    assert_float_equal(num(r, "p50"), 1.0, 0.01);
    assert_float_equal(num(r, "p90"), 2.0, 0.02);
    assert_float_equal(num(r, "p99"), 10.0, 0.1);
    assert_float_equal(num(r, "max"), 10.0, 0);
    r = json_array_get(j, 8); /* robot 2, axis 1 */
    assert_float_equal(num(r, "robot_id"), 2, 0);
    assert_true(json_is_null(json_object_get(r, "mean")));
    assert_true(json_is_null(json_object_get(r, "p50")));
    assert_float_equal(num(r, "idle_share"), 1.0, 1e-9);
    r = json_array_get(j, 16); /* robot 3, axis 1: ten readings of 5.0 */
    assert_float_equal(num(r, "p50"), 5.0, 0.05);
    assert_float_equal(num(r, "mean"), 5.0, 1e-9);
    json_decref(j);
    /* A range that is not whole days reads the hours: robot 1 from 01:00 is 80 x 1.0 and
     * 10 x 10.0 running, 10 idle: mean 180 / 90 = 2.0, p50 1.0, p90 (the 81st) 10.0. */
    j = run_json("percentiles", (const char *[]){"--from", "2026-01-01T01:00:00Z", "--to", "2026-01-01T02:00:00Z",
                                                 "--robot", "1", NULL});
    assert_int_equal(json_array_size(j), 8);
    r = json_array_get(j, 0);
    assert_float_equal(num(r, "running"), 90, 0);
    assert_float_equal(num(r, "mean"), 2.0, 1e-9);
    assert_float_equal(num(r, "p50"), 1.0, 0.01);
    assert_float_equal(num(r, "p90"), 10.0, 0.1);
    json_decref(j);
}

/* "INSERT INTO dw.fact_reading_minute (robot_id, minute, rows, active, n1, s1, ..., h8" into sql;
 * returns its length (the caller adds the rest). */
static int minute_insert_head(char *sql, size_t cap)
{
    int n = snprintf(sql, cap, "INSERT INTO dw.fact_reading_minute (robot_id, minute, rows, active");
    for (int a = 1; a <= 8; a++) n += snprintf(sql + n, cap - (size_t)n, ", n%d, s%d, q%d, mn%d, mx%d, h%d", a, a, a, a, a, a);
    return n;
}

/* A percentiles row: readings, running, mean (to 1e-4), p50/p90/p99 (within the histograms'
 * 1 %) and max (exact; skipped when max < 0). */
static void assert_pct_row(json_t *r, double readings, double running, double mean, double p50,
                           double p90, double p99, double max)
{
    assert_float_equal(num(r, "readings"), readings, 0);
    assert_float_equal(num(r, "running"), running, 0);
    assert_float_equal(num(r, "mean"), mean, 1e-4);
    assert_float_equal(num(r, "p50"), p50, p50 * 0.01);
    assert_float_equal(num(r, "p90"), p90, p90 * 0.01);
    assert_float_equal(num(r, "p99"), p99, p99 * 0.01);
    if (max >= 0) assert_float_equal(num(r, "max"), max, 0);
}

/* percentiles by default (no --from, no --to) reads the latest whole UTC day: the last day
 * holding data before the newest one; and several histograms of one robot and axis are merged
 * bin by bin. Added for this test, and removed after it: robot 1, 2026-01-02 00:00, 20 readings,
 * all running; axis 1: 10 x 4.0 and 10 x 8.0.
 *   Default: the newest day is 2026-01-02 (robot 1's minute just past midnight), so the day read
 *     is 2026-01-01, every robot's: 24 rows; robot 1, axis 1: 200 readings, 130 running: 80 x
 *     1.0, 40 x 2.0, 10 x 10.0: mean 260 / 130 = 2.0, p50 (the 65th) 1.0, p90 (the 117th) 2.0,
 *     p99 (the 129th) 10.0, max 10.0.
 *   --from 2026-01-02 alone: [from, infinity), the new day: 8 rows; axis 1: 20 readings, mean
 *     6.0, p50 4.0 (the 10th of 20), p90 and p99 8.0, max 8.0.
 *   Default with --robot 2: robot 2's only day, 2026-01-01: 50 readings, all idle.
 *   --from 2026-01-01 --to 2026-01-03 --robot 1 (two day rows, merged): 220 readings, 150
 *     running: 80 x 1.0, 40 x 2.0, 10 x 4.0, 10 x 8.0, 10 x 10.0 (cumulative 80, 120, 130, 140,
 *     150): p50 (the 75th) 1.0, p90 (the 135th) 8.0, p99 (the 149th) 10.0; mean 380 / 150.
 *   --from 2026-01-01T01:00 --to 2026-01-03 --robot 1 (the hour 01:00 and the day 2026-01-02):
 *     120 readings, 110 running: 80 x 1.0, 10 x 4.0, 10 x 8.0, 10 x 10.0: p50 1.0, p90 (the
 *     99th) 8.0, p99 10.0; mean 300 / 110. */
static void test_percentiles_default(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *c = harness_connect(db);
    char sql[8192];
    int n = minute_insert_head(sql, sizeof sql);
    n += snprintf(sql + n, sizeof sql - (size_t)n, ") VALUES (1, '2026-01-02 00:00Z', 20, 20, 20, 120000000, 800000000000000, 4, 8, '{%lld,%lld}'",
                  entry(bin(4.0), 10), entry(bin(8.0), 10));
    for (int a = 2; a <= 8; a++) n += snprintf(sql + n, sizeof sql - (size_t)n, ", 0, 0, 0, 0, 0, '{%lld}'", entry(0, 20));
    snprintf(sql + n, sizeof sql - (size_t)n, ")");
    harness_exec(c, sql);
    harness_exec(c, "SELECT dw.rollup(ARRAY[1], ARRAY['2026-01-02 00:00Z'::timestamptz])");

    json_t *j = run_json("percentiles", NULL);
    assert_int_equal(json_array_size(j), 24);
    json_t *r = json_array_get(j, 0);
    assert_float_equal(num(r, "robot_id"), 1, 0);
    assert_pct_row(r, 200, 130, 2.0, 1.0, 2.0, 10.0, 10.0);
    json_decref(j);
    /* --from alone is [from, infinity): the new day. */
    j = run_json("percentiles", (const char *[]){"--from", "2026-01-02T00:00:00Z", NULL});
    assert_int_equal(json_array_size(j), 8);
    r = json_array_get(j, 0);
    assert_float_equal(num(r, "robot_id"), 1, 0);
    assert_float_equal(num(r, "idle_share"), 0, 1e-9);
    assert_pct_row(r, 20, 20, 6.0, 4.0, 8.0, 8.0, 8.0);
    json_decref(j);

    j = run_json("percentiles", (const char *[]){"--robot", "2", NULL});
    assert_int_equal(json_array_size(j), 8);
    r = json_array_get(j, 0);
    assert_float_equal(num(r, "robot_id"), 2, 0);
    assert_float_equal(num(r, "readings"), 50, 0);
    assert_float_equal(num(r, "idle_share"), 1.0, 1e-9);
    json_decref(j);

    j = run_json("percentiles", (const char *[]){"--from", "2026-01-01T00:00:00Z", "--to", "2026-01-03T00:00:00Z",
                                                 "--robot", "1", NULL});
    assert_int_equal(json_array_size(j), 8);
    r = json_array_get(j, 0);
    assert_pct_row(r, 220, 150, 380.0 / 150, 1.0, 8.0, 10.0, 10.0);
    r = json_array_get(j, 1); /* axis 2: idle throughout */
    assert_float_equal(num(r, "idle_share"), 1.0, 1e-9);
    assert_true(json_is_null(json_object_get(r, "p50")));
    json_decref(j);

    j = run_json("percentiles", (const char *[]){"--from", "2026-01-01T01:00:00Z", "--to", "2026-01-03T00:00:00Z",
                                                 "--robot", "1", NULL});
    r = json_array_get(j, 0);
    assert_pct_row(r, 120, 110, 300.0 / 110, 1.0, 8.0, 10.0, -1);
    json_decref(j);

    harness_exec(c, "DELETE FROM dw.fact_reading_minute WHERE minute >= '2026-01-02' AND minute < '2026-01-03';"
                    "DELETE FROM dw.fact_reading_hour WHERE hour >= '2026-01-02' AND hour < '2026-01-03';"
                    "DELETE FROM dw.fact_reading_day WHERE day = '2026-01-02'");
    PQfinish(c);
}

/* ingest_health: on 2026-02-01, a.csv: two batches (100 read, 90 in, 5 present, 5 refused; 50
 * read, 50 in); refused lines: 3 "axis3: not a number", 2 "ts: more than a day in the future". */
static void test_ingest_health(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *c = harness_connect(db);
    harness_exec(c, "INSERT INTO ingest_batch (load_id, seq, source, rows_read, rows_inserted, rows_present, "
                    "rows_rejected, committed_at) VALUES "
                    "('00000000-0000-0000-0000-000000000001', 1, 'a.csv', 100, 90, 5, 5, '2026-02-01 10:00Z'), "
                    "('00000000-0000-0000-0000-000000000001', 2, 'a.csv', 50, 50, 0, 0, '2026-02-01 10:01Z');"
                    "INSERT INTO ingest_reject (source, line_no, raw, reason, at) VALUES "
                    "('a.csv', 3, 'x', 'axis3: not a number: ''abc''', '2026-02-01 10:00Z'), "
                    "('a.csv', 4, 'y', 'axis3: not a number: ''d''', '2026-02-01 10:00Z'), "
                    "('a.csv', 9, 'z', 'axis3: not a number: ''e''', '2026-02-01 10:00Z'), "
                    "('a.csv', 7, 'w', 'ts: more than a day in the future: ''2099-01-01''', '2026-02-01 10:00Z'), "
                    "('a.csv', 8, 'v', 'ts: more than a day in the future: ''2098-01-01''', '2026-02-01 10:00Z')");
    PQfinish(c);
    json_t *j = run_json("ingest_health", (const char *[]){"--from", "2026-02-01T00:00:00Z", "--to", "2026-02-02T00:00:00Z", NULL});
    assert_int_equal(json_array_size(j), 2);
    json_t *r = json_array_get(j, 0);
    assert_string_equal(str(r, "day"), "2026-02-01");
    assert_string_equal(str(r, "source"), "a.csv");
    assert_float_equal(num(r, "batches"), 2, 0);
    assert_float_equal(num(r, "rows_read"), 150, 0);
    assert_float_equal(num(r, "inserted"), 140, 0);
    assert_float_equal(num(r, "already_stored"), 5, 0);
    assert_float_equal(num(r, "rejected"), 5, 0);
    assert_string_equal(str(r, "reject_reason"), "axis3: not a number");
    assert_float_equal(num(r, "reason_lines"), 3, 0);
    r = json_array_get(j, 1);
    assert_string_equal(str(r, "reject_reason"), "ts: more than a day in the future");
    assert_float_equal(num(r, "reason_lines"), 2, 0);
    json_decref(j);
}

/* model_accuracy: consumer c, run forecast; on 2026-01-02 two steps were logged; the day's last
 * (step 200000): mae.h1.axis1 0.9 against the naive baselines last 2.0, mean 1.5, median 1.2:
 * baseline 1.2, ratio 0.75. The risk run's roc_auc 0.8 that day. */
static void test_model_accuracy(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *c = harness_connect(db);
    harness_exec(c, "INSERT INTO experiment (name) VALUES ('forecast'), ('failure_risk');"
                    "INSERT INTO run (run_id, experiment_id, consumer, name, model, params, status) VALUES "
                    "(md5('c/forecast'), (SELECT experiment_id FROM experiment WHERE name = 'forecast'), 'c', "
                    "'forecast', 'learn_forecast', '{}', 'RUNNING'), "
                    "(md5('c/failure_risk/a'), (SELECT experiment_id FROM experiment WHERE name = 'failure_risk'), 'c', "
                    "'failure_risk/a', 'logistic', '{}', 'RUNNING');"
                    "INSERT INTO run_metric (run_id, key, step, ts, value) VALUES "
                    "(md5('c/forecast'), 'mae.h1.axis1', 100000, '2026-01-02 01:00Z', 1.0), "
                    "(md5('c/forecast'), 'mae_median.h1.axis1', 100000, '2026-01-02 01:00Z', 1.25), "
                    "(md5('c/forecast'), 'mae.h1.axis1', 200000, '2026-01-02 05:00Z', 0.9), "
                    "(md5('c/forecast'), 'mae_last.h1.axis1', 200000, '2026-01-02 05:00Z', 2.0), "
                    "(md5('c/forecast'), 'mae_mean.h1.axis1', 200000, '2026-01-02 05:00Z', 1.5), "
                    "(md5('c/forecast'), 'mae_median.h1.axis1', 200000, '2026-01-02 05:00Z', 1.2), "
                    "(md5('c/failure_risk/a'), 'roc_auc', 100000, '2026-01-02 03:00Z', 0.8)");
    PQfinish(c);
    json_t *j = run_json("model_accuracy", NULL);
    assert_int_equal(json_array_size(j), 2);
    json_t *r = json_array_get(j, 0);
    assert_string_equal(str(r, "run"), "failure_risk/a");
    assert_string_equal(str(r, "metric"), "roc_auc");
    assert_float_equal(num(r, "value"), 0.8, 1e-9);
    assert_true(json_is_null(json_object_get(r, "ratio")));
    r = json_array_get(j, 1);
    assert_string_equal(str(r, "run"), "forecast");
    assert_string_equal(str(r, "day"), "2026-01-02");
    assert_string_equal(str(r, "metric"), "mae.h1.axis1");
    assert_float_equal(num(r, "value"), 0.9, 1e-9);
    assert_float_equal(num(r, "baseline"), 1.2, 1e-9);
    assert_float_equal(num(r, "ratio"), 0.75, 1e-9);
    json_decref(j);
}

/* detection_quality: faults — robot 1 axis 2 plateau ALERT 00:10-00:11, robot 1 axis 3 spike
 * ERROR at 00:20, robot 2 axis 1 plateau ALERT 00:30-00:31; episodes — robot 1 axis 2 ALERT
 * 00:10:30-00:10:50 (explains the first), robot 1 axis 3 ERROR 00:20:20 (within 60 s of the
 * spike), robot 1 axis 5 ALERT at 05:00 (explains nothing). So: plateau ALERT 2 faults, 1
 * caught; spike ERROR 1 of 1; ALERT episodes 2, 1 explained; ERROR 1 of 1. */
static void test_detection_quality(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *c = harness_connect(db);
    harness_exec(c, "INSERT INTO fault (robot_id, axis, kind, level, ts_start, ts_end) VALUES "
                    "(1, 2, 'plateau', 'ALERT', '2026-01-03 00:10Z', '2026-01-03 00:11Z'), "
                    "(1, 3, 'spike', 'ERROR', '2026-01-03 00:20Z', '2026-01-03 00:20Z'), "
                    "(2, 1, 'plateau', 'ALERT', '2026-01-03 00:30Z', '2026-01-03 00:31Z');"
                    "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, ts_end, peak_score, "
                    "peak_z, detector, readings, open) VALUES "
                    "('c', 1, 2, 'ALERT', '2026-01-03 00:10:30Z', '2026-01-03 00:10:30Z', '2026-01-03 00:10:50Z', 0.9, 5, 'robust', 10, false), "
                    "('c', 1, 3, 'ERROR', '2026-01-03 00:20:20Z', '2026-01-03 00:20:20Z', '2026-01-03 00:20:21Z', 1, 9, 'robust', 1, false), "
                    "('c', 1, 5, 'ALERT', '2026-01-03 05:00Z', '2026-01-03 05:00Z', '2026-01-03 05:01Z', 0.8, 4, 'cusum', 30, false)");
    PQfinish(c);
    json_t *j = run_json("detection_quality", (const char *[]){"--from", "2026-01-03T00:00:00Z", NULL});
    assert_int_equal(json_array_size(j), 4);
    json_t *r = json_array_get(j, 0);
    assert_string_equal(str(r, "kind"), "plateau");
    assert_float_equal(num(r, "faults"), 2, 0);
    assert_float_equal(num(r, "caught"), 1, 0);
    assert_float_equal(num(r, "recall"), 0.5, 1e-9);
    r = json_array_get(j, 1);
    assert_string_equal(str(r, "kind"), "spike");
    assert_float_equal(num(r, "recall"), 1.0, 1e-9);
    r = json_array_get(j, 2);
    assert_string_equal(str(r, "kind"), "(all)");
    assert_string_equal(str(r, "level"), "ALERT");
    assert_float_equal(num(r, "episodes"), 2, 0);
    assert_float_equal(num(r, "explained"), 1, 0);
    assert_float_equal(num(r, "precision"), 0.5, 1e-9);
    r = json_array_get(j, 3);
    assert_string_equal(str(r, "level"), "ERROR");
    assert_float_equal(num(r, "precision"), 1.0, 1e-9);
    assert_float_equal(num(r, "recall"), 1.0, 1e-9);
    json_decref(j);

    /* Overlaps found through every hour a fault spans, and an episode that began an hour before
     * a fault's widened start. On 2026-01-06, robot 3: faults — wear ALERT of the whole robot
     * 00:00-05:00, noise ALERT axis 2 10:00:30-10:01, spike ERROR axis 1 at 12:00; episodes —
     * axis 4 ALERT 03:00-03:01 (in the wear's fourth hour: explains it), axis 2 ALERT 08:55-10:00
     * (65 min, ends within 60 s of the noise: explains it), axis 4 ALERT 07:00 (nothing), axis 1
     * ERROR 12:00:50 (explains the spike) and 12:01:30 (90 s after: nothing). So every fault
     * caught; ALERT episodes 3, 2 explained; ERROR episodes 2, 1 explained. */
    c = harness_connect(db);
    harness_exec(c, "INSERT INTO fault (robot_id, axis, kind, level, ts_start, ts_end) VALUES "
                    "(3, NULL, 'wear', 'ALERT', '2026-01-06 00:00Z', '2026-01-06 05:00Z'), "
                    "(3, 2, 'noise', 'ALERT', '2026-01-06 10:00:30Z', '2026-01-06 10:01Z'), "
                    "(3, 1, 'spike', 'ERROR', '2026-01-06 12:00Z', '2026-01-06 12:00Z');"
                    "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, ts_end, peak_score, "
                    "peak_z, detector, readings, open) SELECT 'c', 3, ax, lv, s::timestamptz, s::timestamptz, "
                    "e::timestamptz, 0.9, 5, 'robust', 10, false FROM (VALUES "
                    "(4, 'ALERT', '2026-01-06 03:00Z', '2026-01-06 03:01Z'), "
                    "(2, 'ALERT', '2026-01-06 08:55Z', '2026-01-06 10:00Z'), "
                    "(4, 'ALERT', '2026-01-06 07:00Z', '2026-01-06 07:00:10Z'), "
                    "(1, 'ERROR', '2026-01-06 12:00:50Z', '2026-01-06 12:00:51Z'), "
                    "(1, 'ERROR', '2026-01-06 12:01:30Z', '2026-01-06 12:01:31Z')) v(ax, lv, s, e)");
    PQfinish(c);
    j = run_json("detection_quality", (const char *[]){"--from", "2026-01-06T00:00:00Z", "--to", "2026-01-07T00:00:00Z", NULL});
    assert_int_equal(json_array_size(j), 5);
    static const char *const kinds[] = {"noise", "spike", "wear"};
    for (int i = 0; i < 3; i++) {
        r = json_array_get(j, (size_t)i);
        assert_string_equal(str(r, "kind"), kinds[i]);
        assert_float_equal(num(r, "faults"), 1, 0);
        assert_float_equal(num(r, "caught"), 1, 0);
    }
    r = json_array_get(j, 3);
    assert_string_equal(str(r, "level"), "ALERT");
    assert_float_equal(num(r, "faults"), 2, 0);
    assert_float_equal(num(r, "episodes"), 3, 0);
    assert_float_equal(num(r, "explained"), 2, 0);
    r = json_array_get(j, 4);
    assert_string_equal(str(r, "level"), "ERROR");
    assert_float_equal(num(r, "episodes"), 2, 0);
    assert_float_equal(num(r, "explained"), 1, 0);
    assert_float_equal(num(r, "precision"), 0.5, 1e-9);
    json_decref(j);
}

/* alert_rate: robot 2 sent readings in the 12 hours from 2026-01-04 00:00; in them, three ALERT
 * episodes on axis 1 and one ERROR of the whole robot (axis 0): 6 alerts and 2 errors per day
 * of data; the errors first. */
static void test_alert_rate(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *c = harness_connect(db);
    char sql[8192];
    int n = minute_insert_head(sql, sizeof sql);
    n += snprintf(sql + n, sizeof sql - (size_t)n, ") SELECT 2, '2026-01-04 00:00Z'::timestamptz + g * interval '1 hour', 10, 0");
    for (int a = 1; a <= 8; a++) n += snprintf(sql + n, sizeof sql - (size_t)n, ", 0, 0, 0, 0, 0, '{%lld}'", entry(0, 10));
    snprintf(sql + n, sizeof sql - (size_t)n, " FROM generate_series(0, 11) g");
    harness_exec(c, sql);
    harness_exec(c, "SELECT dw.rollup(array_agg(robot_id), array_agg(minute)) FROM dw.fact_reading_minute "
                    "WHERE minute >= '2026-01-04'");
    harness_exec(c, "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, ts_end, peak_score, "
                    "peak_z, detector, readings, open) SELECT 'c', 2, 1, 'ALERT', t, t, t + interval '10 s', 0.8, 4, "
                    "'robust', 3, false FROM (VALUES ('2026-01-04 01:00Z'::timestamptz), ('2026-01-04 02:00Z'), "
                    "('2026-01-04 03:00Z')) v(t);"
                    "INSERT INTO anomaly (consumer, robot_id, axis, level, ts_first, ts_start, ts_end, peak_score, "
                    "peak_z, detector, reason, readings, open) VALUES ('c', 2, NULL, 'ERROR', '2026-01-04 05:00Z', "
                    "'2026-01-04 05:00Z', '2026-01-04 05:01Z', 1, 9, 'quality', 'gap', 1, false)");
    PQfinish(c);
    json_t *j = run_json("alert_rate", (const char *[]){"--from", "2026-01-04T00:00:00Z", "--to", "2026-01-05T00:00:00Z", NULL});
    assert_int_equal(json_array_size(j), 2);
    json_t *r = json_array_get(j, 0);
    assert_float_equal(num(r, "axis"), 0, 0);
    assert_float_equal(num(r, "errors"), 1, 0);
    assert_float_equal(num(r, "hours"), 12, 0);
    assert_float_equal(num(r, "errors_per_day"), 2.0, 1e-9);
    r = json_array_get(j, 1);
    assert_float_equal(num(r, "axis"), 1, 0);
    assert_float_equal(num(r, "alerts"), 3, 0);
    assert_float_equal(num(r, "alerts_per_day"), 6.0, 1e-9);
    assert_float_equal(num(r, "errors_per_day"), 0, 1e-9);
    json_decref(j);
}

/* top_risk: consumer c's risks on 2026-01-05 — robot 1: 0.3 at 00:00 then 0.7 at 00:10 (the
 * newest counts), robot 2: 0.5 at 00:05, with a failure at 2026-01-04 12:00; robot 3 none. So
 * robot 1 (0.7) then robot 2 (0.5, its failure), horizon 24 h. */
static void test_top_risk(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *c = harness_connect(db);
    harness_exec(c, "INSERT INTO prediction (consumer, robot_id, ts, kind, axis, horizon, target_ts, value, model_version) "
                    "SELECT 'c', r, t, 'risk', 0, 86400, t + interval '1 day', v, 4 FROM (VALUES "
                    "(1, '2026-01-05 00:00Z'::timestamptz, 0.3), (1, '2026-01-05 00:10Z', 0.7), "
                    "(2, '2026-01-05 00:05Z', 0.5)) x(r, t, v);"
                    "INSERT INTO maintenance_event (robot_id, kind, ts, source) VALUES (2, 'failure', '2026-01-04 12:00Z', 'test');"
                    /* the risk horizons in use come from the warehouse's prediction feed */
                    "INSERT INTO stream_consumer (consumer, stages, source_kind) VALUES ('c', '{warehouse}', 'poll') "
                    "ON CONFLICT DO NOTHING; SELECT dw.sync_feeds('c')");
    PQfinish(c);
    json_t *j = run_json("top_risk", NULL);
    assert_int_equal(json_array_size(j), 2);
    json_t *r = json_array_get(j, 0);
    assert_float_equal(num(r, "robot_id"), 1, 0);
    assert_string_equal(str(r, "name"), "r1");
    assert_float_equal(num(r, "risk"), 0.7, 1e-9);
    assert_float_equal(num(r, "horizon_h"), 24, 1e-9);
    assert_true(json_is_null(json_object_get(r, "last_failure")));
    r = json_array_get(j, 1);
    assert_float_equal(num(r, "robot_id"), 2, 0);
    assert_float_equal(num(r, "risk"), 0.5, 1e-9);
    assert_non_null(strstr(str(r, "last_failure"), "2026-01-04 12:00:00"));
    json_decref(j);
    /* One robot, and a range that leaves robot 1's newer risk out: its 0.3 of 00:00. */
    j = run_json("top_risk", (const char *[]){"--robot", "2", NULL});
    assert_int_equal(json_array_size(j), 1);
    assert_float_equal(num(json_array_get(j, 0), "robot_id"), 2, 0);
    json_decref(j);
    j = run_json("top_risk", (const char *[]){"--to", "2026-01-05T00:05:00Z", NULL});
    assert_int_equal(json_array_size(j), 1);
    assert_float_equal(num(json_array_get(j, 0), "risk"), 0.3, 1e-9);
    json_decref(j);
}

/* mtbf_mttr: robot 3 ran 10 of 10 readings in its one minute (00:00 on 2026-01-01: 60 s of
 * running), failed at 00:30 and was repaired at 01:30: 1 failure, repaired, MTBF 60 s, MTTR 1 h.
 * Robots 1 and 2 have readings and no failure in that day. */
static void test_mtbf_mttr(void **state)
{
    (void)state;
    if (!db) skip();
    PGconn *c = harness_connect(db);
    harness_exec(c, "INSERT INTO maintenance_event (robot_id, kind, ts, source) VALUES "
                    "(3, 'failure', '2026-01-01 00:30Z', 'test'), (3, 'repair', '2026-01-01 01:30Z', 'test');"
                    "INSERT INTO stream_consumer (consumer, stages, source_kind) VALUES ('dwq', '{warehouse}', 'poll');"
                    "SELECT dw.sync_feeds('dwq')");
    PQfinish(c);
    json_t *j = run_json("mtbf_mttr", (const char *[]){"--from", "2026-01-01T00:00:00Z", "--to", "2026-01-02T00:00:00Z", NULL});
    json_t *r = json_array_get(j, 0);
    assert_float_equal(num(r, "robot_id"), 3, 0);
    assert_float_equal(num(r, "failures"), 1, 0);
    assert_float_equal(num(r, "repaired"), 1, 0);
    assert_float_equal(num(r, "running_h"), 60.0 / 3600, 1e-3);
    assert_float_equal(num(r, "mtbf_h"), 60.0 / 3600, 1e-3);
    assert_float_equal(num(r, "mttr_h"), 1.0, 1e-9);
    r = json_array_get(j, 1);
    assert_float_equal(num(r, "failures"), 0, 0);
    assert_true(json_is_null(json_object_get(r, "mtbf_h")));
    json_decref(j);
}

/* GET /api/query lists the analyses; /api/query/{name} answers as the CLI does (JSON, or CSV
 * with format=csv), through the dashboard's login (pgpulse_web: the reader's rights on dw);
 * bad parameters are 400s naming them, an unknown name a 404. */
static void test_api(void **state)
{
    (void)state;
    if (!db) skip();
    const char *home = getenv("PGPULSE_TEST_HOME");
    char *portfile = xasprintf("%s/port", home);
    char *port = harness_read_file(portfile);
    char *web = xasprintf("host=127.0.0.1 port=%d user=pgpulse_web dbname=test_query passfile=%s/pgpass", atoi(port),
                          home);
    free(port);
    free(portfile);
    char err[512];
    serve_opts o = {.conninfo = web, .consumer = "pipeline", .listen = "127.0.0.1:0", .threads = 1, .quiet = 1};
    serve *s = serve_start(&o, err, sizeof err);
    if (!s) fail_msg("serve_start: %s", err);
    httpc_reply r = httpc_request(s, "GET", "/api/query", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(json_array_size(r.json) >= 5);
    json_t *first = json_array_get(r.json, 0);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "alert_rate");
    assert_non_null(strstr(json_string_value(json_object_get(first, "doc")), "Reads anomaly"));
    httpc_free(&r);
    r = httpc_request(s, "GET", "/api/query/utilisation?robot=1&from=2026-01-01T01:00:00Z", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(r.json), 1);
    assert_float_equal(json_number_value(json_object_get(json_array_get(r.json, 0), "active_share")), 0.9, 1e-9);
    httpc_free(&r);
    r = httpc_request(s, "GET", "/api/query/utilisation?format=csv", NULL, NULL);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_int_equal(httpc_header(&r, "Content-Type", ct, sizeof ct), 0);
    assert_non_null(strstr(ct, "text/csv"));
    assert_non_null(strstr((const char *)r.body.data, "North,Weld,2026-01-01 00:00:00+00,1,100,0.4000,0.6000\n"));
    httpc_free(&r);
    r = httpc_request(s, "GET", "/api/query/percentiles?robot=0", NULL, NULL);
    httpc_expect_error(&r, 400, "robot");
    r = httpc_request(s, "GET", "/api/query/percentiles?from=soon", NULL, NULL);
    httpc_expect_error(&r, 400, "from");
    r = httpc_request(s, "GET", "/api/query/percentiles?format=xml", NULL, NULL);
    httpc_expect_error(&r, 400, "format");
    r = httpc_request(s, "GET", "/api/query/percentiles?limit=3", NULL, NULL);
    httpc_expect_error(&r, 400, "limit");
    r = httpc_request(s, "GET", "/api/query/nosuch", NULL, NULL);
    httpc_expect_error(&r, 404, "nosuch");
    r = httpc_request(s, "POST", "/api/query/utilisation", NULL, "{}");
    httpc_expect_error(&r, 405, NULL);
    serve_stop(s);
    free(web);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_and_bad_input), cmocka_unit_test(test_utilisation),
        cmocka_unit_test(test_percentiles),        cmocka_unit_test(test_percentiles_default),
        cmocka_unit_test(test_ingest_health),
        cmocka_unit_test(test_model_accuracy),     cmocka_unit_test(test_detection_quality),
        cmocka_unit_test(test_alert_rate),         cmocka_unit_test(test_top_risk),
        cmocka_unit_test(test_mtbf_mttr),
        cmocka_unit_test(test_api),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
