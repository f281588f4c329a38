/* Integration tests of the warehouse stage and `pgpulse warehouse` against a real PostgreSQL:
 * readings arrive on time, late (into minutes, hours and days already written) and twice,
 * across minute, hour and day boundaries, while the stage is SIGKILLed at random moments and
 * restarted; then the facts equal a recomputation from scratch — the exact columns against SQL
 * over `reading`, and whole tables (histograms included) against `pgpulse warehouse refresh`
 * over the full range (md5 of the tables before and after equal). Also refresh over a range and
 * a robot, stats, and retention keeping the facts of a dropped day; and the stage's memory of
 * its last commit's rows giving way to rows another transaction rewrote or removed since. */
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

#include "buf.h"
#include "harness.h"
#include "rng.h"
#include "util.h"

#define ROBOTS 6
#define FIRST_ROBOT 7001

/* md5 of each reading fact table, in key order. */
static char *fingerprint(PGconn *conn)
{
    return harness_query_text(
        conn,
        "SELECT concat_ws(' ', "
        "(SELECT md5(coalesce(string_agg(f::text, ';' ORDER BY robot_id, minute), '')) FROM dw.fact_reading_minute f), "
        "(SELECT md5(coalesce(string_agg(f::text, ';' ORDER BY robot_id, hour), '')) FROM dw.fact_reading_hour f), "
        "(SELECT md5(coalesce(string_agg(f::text, ';' ORDER BY robot_id, day), '')) FROM dw.fact_reading_day f), "
        "(SELECT count(*) FROM dw.fact_reading_minute), (SELECT count(*) FROM dw.fact_reading_hour), "
        "(SELECT count(*) FROM dw.fact_reading_day))");
}

/* Minute facts that differ from SQL over reading in any exact column (both ways). */
static int64_t exact_mismatches(PGconn *conn)
{
    buf b = {0};
    buf_puts(&b, "WITH x AS (SELECT robot_id, date_trunc('minute', ts) AS minute, count(*)::int AS rows, "
                 "count(*) FILTER (WHERE axis1 <> 0 OR axis2 <> 0 OR axis3 <> 0 OR axis4 <> 0 OR axis5 <> 0 "
                 "OR axis6 <> 0 OR axis7 <> 0 OR axis8 <> 0)::int AS active");
    for (int a = 1; a <= 8; a++)
        buf_printf(&b, ", count(*) FILTER (WHERE axis%d <> 0)::int AS n%d, sum(round(axis%d * 1e6)::int8)::numeric AS s%d, "
                       "sum((round(axis%d * 1e6)::int8)::numeric * round(axis%d * 1e6)::int8) AS q%d, "
                       "min(axis%d) AS mn%d, max(axis%d) AS mx%d",
                   a, a, a, a, a, a, a, a, a, a, a);
    buf_puts(&b, " FROM reading GROUP BY 1, 2) SELECT count(*) FROM x FULL JOIN dw.fact_reading_minute f "
                 "USING (robot_id, minute) WHERE x.rows IS DISTINCT FROM f.rows OR x.active IS DISTINCT FROM f.active");
    for (int a = 1; a <= 8; a++)
        buf_printf(&b, " OR x.n%d IS DISTINCT FROM f.n%d OR x.s%d IS DISTINCT FROM f.s%d OR x.q%d IS DISTINCT FROM f.q%d "
                       "OR x.mn%d IS DISTINCT FROM f.mn%d OR x.mx%d IS DISTINCT FROM f.mx%d",
                   a, a, a, a, a, a, a, a, a, a);
    buf_append(&b, "", 1);
    int64_t n = harness_query_int(conn, (const char *)b.data);
    buf_free(&b);
    return n;
}

/* Hours and days that are not the sums of their minutes (rows, s1, n8, run_us, the histogram
 * total). */
static int64_t rollup_mismatches(PGconn *conn)
{
    return harness_query_int(
        conn,
        "SELECT (SELECT count(*) FROM dw.fact_reading_hour h FULL JOIN (SELECT robot_id, date_trunc('hour', minute) "
        "AS hour, sum(rows) AS rows, sum(s1) AS s1, sum(n8) AS n8, min(mn3) AS mn3, sum(run_us) AS run_us FROM dw.fact_reading_minute GROUP BY 1, 2) m "
        "USING (robot_id, hour) WHERE h.rows IS DISTINCT FROM m.rows::int OR h.s1 IS DISTINCT FROM m.s1 OR h.run_us IS DISTINCT FROM m.run_us OR "
        "h.n8 IS DISTINCT FROM m.n8::int OR h.mn3 IS DISTINCT FROM m.mn3) + (SELECT count(*) FROM "
        "dw.fact_reading_day d FULL JOIN (SELECT robot_id, (hour AT TIME ZONE 'UTC')::date AS day, sum(rows) AS rows, "
        "sum(q2) AS q2, sum(run_us) AS run_us FROM dw.fact_reading_hour GROUP BY 1, 2) h USING (robot_id, day) WHERE d.rows IS DISTINCT "
        "FROM h.rows::int OR d.q2 IS DISTINCT FROM h.q2 OR d.run_us IS DISTINCT FROM h.run_us) + (SELECT count(*) FROM dw.fact_reading_day WHERE "
        "rows <> (SELECT sum(e & 4294967295) FROM unnest(h1) AS u(e)))");
}

static int start_stage(const char *db, const char *log)
{
    return harness_spawn(NULL, log, (const char *[]){"warehouse", "--db", db, "--name", "wh",
                                                     "--status-every", "0", "--batch-rows", "3000", NULL});
}

/* Drops the stopped consumer "wh" (its slot: the test cluster's slots are shared by the suite). */
static void drop_consumer(const char *db)
{
    harness_out o = harness_pgpulse(NULL, (const char *[]){"slots", "drop", "wh", "--db", db, NULL});
    if (o.status != 0) fail_msg("slots drop wh failed (%d): %s", o.status, o.err);
    harness_out_free(&o);
}

static int64_t consumed(PGconn *conn)
{
    return harness_query_int(conn, "SELECT coalesce(sum(rows), 0) FROM stream_checkpoint WHERE consumer = 'wh'");
}

/* Inserts n readings of random robots at random times around a base, as one transaction:
 * values with exact zeros, tiny, ordinary and huge magnitudes; times on and next to minute, hour
 * and day boundaries; ON CONFLICT DO NOTHING drops the duplicates, as `reading`'s key does for
 * the loader. */
static void insert_batch(PGconn *conn, rng *g, int64_t base_s, int64_t span_s, int n)
{
    buf b = {0};
    buf_puts(&b, "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8) VALUES ");
    for (int i = 0; i < n; i++) {
        int robot = FIRST_ROBOT + (int)rng_below(g, ROBOTS);
        int64_t s = base_s + (int64_t)rng_below(g, (uint64_t)span_s);
        uint64_t k = rng_below(g, 8);
        if (k == 0) s -= s % 3600;           /* on an hour (and sometimes a day) boundary */
        else if (k == 1) s -= s % 60;        /* on a minute */
        else if (k == 2) s = s - s % 86400 - 1; /* the last second of the day before */
        int64_t us = s * 1000000 + (rng_below(g, 2) ? 0 : (int64_t)rng_below(g, 1000000));
        buf_printf(&b, "%s(%d, to_timestamp(%lld / 1e6)", i ? ", " : "", robot, (long long)us);
        for (int a = 0; a < 8; a++) {
            uint64_t c = rng_below(g, 12);
            double v = c < 4 ? 0 : c < 9 ? rng_range(g, -30, 30) : c < 10 ? rng_range(g, -2e-3, 2e-3)
                       : c < 11 ? rng_range(g, -5e6, 5e6) : (double)(int64_t)rng_range(g, -50, 50) + 0.5e-6;
            buf_printf(&b, ", %.17g", v);
        }
        buf_puts(&b, ")");
    }
    buf_puts(&b, " ON CONFLICT DO NOTHING");
    buf_append(&b, "", 1);
    harness_exec(conn, (const char *)b.data);
    buf_free(&b);
}

static void wait_consumed(PGconn *conn, const char *log)
{
    int64_t want = harness_query_int(conn, "SELECT count(*) FROM reading"), got = 0;
    for (int i = 0; i < 1200 && (got = consumed(conn)) < want; i++) util_sleep_ms(50);
    if (got != want) {
        char *text = harness_read_file(log);
        fail_msg("warehouse consumed %lld rows, expected %lld; its log:\n%s", (long long)got, (long long)want, text);
    }
}

static void test_kills_and_refresh(void **state)
{
    (void)state;
    const char *db = harness_db("warehouse", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/warehouse.log", harness_tmpdir());
    harness_exec(conn, "INSERT INTO robot (robot_id) SELECT g FROM generate_series(7001, 7006) g ON CONFLICT DO NOTHING");
    harness_exec(conn, "SELECT reading_ensure_partitions('2026-02-27', '2026-03-03')");
    rng g;
    rng_seed(&g, harness_seed(), 1);
    int c = start_stage(db, log);
    harness_wait_slot(conn, "wh");
    /* 2026-02-28 00:00 UTC, and 2.5 days from there: on-time rows move forward, late ones fall
     * anywhere before them. */
    int64_t base = INT64_C(1772236800);
    int batches = 60, kills = 0;
    char *since = harness_now(conn);
    for (int k = 0; k < batches; k++) {
        int64_t now = base + (int64_t)k * 3600;
        if (rng_below(&g, 3) == 0) insert_batch(conn, &g, base, now - base + 3600, 1 + (int)rng_below(&g, 400)); /* late */
        insert_batch(conn, &g, now, 3600, 1 + (int)rng_below(&g, 1500));
        if (rng_below(&g, 10) == 0) {
            /* Killed at a moment drawn from the seed: before, during or after it consumes. */
            util_sleep_ms((int)rng_below(&g, 80));
            kill(c, SIGKILL);
            harness_wait(c, NULL);
            kills++;
            free(since);
            since = harness_now(conn);
            c = start_stage(db, log);
        }
    }
    wait_consumed(conn, log);
    /* The last one may have found nothing left to do: stopped once past its start-up. */
    harness_wait_reading_since(conn, "wh", since);
    free(since);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    int64_t readings = harness_query_int(conn, "SELECT count(*) FROM reading");
    int64_t minutes = harness_query_int(conn, "SELECT count(*) FROM dw.fact_reading_minute");
    print_message("%lld readings, %lld minute facts, killed %d times\n", (long long)readings,
                  (long long)minutes, kills);
    assert_true(minutes > 1000);
    assert_int_equal(harness_query_int(conn, "SELECT sum(rows) FROM dw.fact_reading_day"), readings);
    assert_int_equal(exact_mismatches(conn), 0);
    assert_int_equal(rollup_mismatches(conn), 0);
    /* Every minute is in dim_time. */
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dw.fact_reading_minute f WHERE NOT EXISTS "
                                             "(SELECT 1 FROM dw.dim_time t WHERE t.minute = f.minute)"), 0);

    /* The whole tables, histograms included, against a rebuild by the same code. */
    char *before = fingerprint(conn);
    harness_out o = harness_pgpulse(NULL, (const char *[]){"warehouse", "refresh", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "refreshed"));
    harness_out_free(&o);
    char *after = fingerprint(conn);
    assert_string_equal(before, after);
    free(after);

    /* From scratch: empty facts, refresh, the same tables; a range and a robot too. */
    harness_exec(conn, "TRUNCATE dw.fact_reading_minute, dw.fact_reading_hour, dw.fact_reading_day");
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "refresh", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    after = fingerprint(conn);
    assert_string_equal(before, after);
    free(after);
    harness_exec(conn, "DELETE FROM dw.fact_reading_minute WHERE robot_id = 7003 AND minute >= '2026-03-01T05:00Z'");
    harness_exec(conn, "UPDATE dw.fact_reading_minute SET rows = rows + 1 WHERE minute >= '2026-02-28T10:00Z' AND minute < '2026-02-28T11:00Z'");
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "refresh", "--robot", "7003", "--from",
                                               "2026-03-01T04:59:30Z", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "refresh", "--from", "2026-02-28T10:00:00Z",
                                               "--to", "2026-02-28T10:59:00.5Z", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    after = fingerprint(conn);
    assert_string_equal(before, after);
    free(after);

    /* stats: a line per day. */
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "stats", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    assert_non_null(strstr(o.out, "2026-02-28"));
    assert_non_null(strstr(o.out, "2026-03-01"));
    harness_out_free(&o);

    /* retention: partitions of days before 2026-03-01 are old by now; the one whose readings the
     * warehouse does not all hold is kept unless forced; the facts of dropped days stay, and a
     * refresh leaves them alone. */
    harness_exec(conn, "DELETE FROM dw.fact_reading_minute WHERE minute < '2026-02-27T01:00Z'");
    int64_t feb28 = harness_query_int(conn, "SELECT count(*) FROM dw.fact_reading_minute WHERE minute >= '2026-02-28' AND minute < '2026-03-01'");
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "retention", "--keep-days", "0", "--dry-run", "--db", db, NULL});
    assert_non_null(strstr(o.out, "would drop reading_p20260228"));
    harness_out_free(&o);
    harness_exec(conn, "UPDATE dw.fact_reading_day SET rows = rows + 1 WHERE day = '2026-02-27'");
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "retention", "--keep-days", "0", "--db", db, NULL});
    print_message("retention: %s", o.out);
    assert_non_null(strstr(o.out, "dropped reading_p20260228"));
    assert_non_null(strstr(o.out, "kept reading_p20260227"));
    assert_int_not_equal(o.status, 0);
    harness_out_free(&o);
    assert_null(harness_query_text(conn, "SELECT to_regclass('reading_p20260228')::text"));
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "refresh", "--db", db, NULL});
    assert_int_equal(o.status, 0);
    harness_out_free(&o);
    assert_int_equal(harness_query_int(conn, "SELECT count(*) FROM dw.fact_reading_minute WHERE minute >= '2026-02-28' AND minute < '2026-03-01'"), feb28);
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "stats", "--db", db, NULL});
    assert_non_null(strstr(o.out, "dropped"));
    harness_out_free(&o);
    free(before);
    drop_consumer(db);
    free(log);
    PQfinish(conn);
}

/* One reading of robot 7001 at 2026-02-28 12:00:30 + k ms, then waits until the stage has it. */
static void insert_one(PGconn *conn, const char *log, int k)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO reading (robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8) "
             "VALUES (7001, '2026-02-28T12:00:30Z'::timestamptz + %d * interval '1 ms', 1, 2, 3, 4, 5, 6, 7, 8)",
             k);
    harness_exec(conn, sql);
    wait_consumed(conn, log);
}

static int64_t rows_at(PGconn *conn, const char *level, const char *key)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT coalesce(sum(rows), -1) FROM dw.fact_reading_%s WHERE robot_id = 7001 AND %s = '%s'",
             level, level, key);
    return harness_query_int(conn, sql);
}

/* The stage takes the rows its last commit wrote from memory only while the table still holds
 * them as written: here another transaction adds 1000 to the minute, hour and day rows between
 * two of its commits, then removes the hour row; each next reading must land on what the table
 * holds (a stage trusting its memory would lose the 1000, then bring the removed hour back). */
static void test_rows_rewritten_between_commits(void **state)
{
    (void)state;
    const char *db = harness_db("warehouse_mem", 1);
    if (!db) skip();
    PGconn *conn = harness_connect(db);
    char *log = xasprintf("%s/warehouse_mem.log", harness_tmpdir());
    harness_exec(conn, "INSERT INTO robot (robot_id) VALUES (7001) ON CONFLICT DO NOTHING");
    harness_exec(conn, "SELECT reading_ensure_partitions('2026-02-28', '2026-02-28')");
    int c = start_stage(db, log);
    harness_wait_slot(conn, "wh");
    const char *m = "2026-02-28T12:00:00Z", *h = "2026-02-28T12:00:00Z", *d = "2026-02-28";
    insert_one(conn, log, 0);
    insert_one(conn, log, 1); /* from memory: the row is as the last commit wrote it */
    assert_int_equal(rows_at(conn, "minute", m), 2);
    assert_int_equal(rows_at(conn, "hour", h), 2);
    assert_int_equal(rows_at(conn, "day", d), 2);
    harness_exec(conn, "UPDATE dw.fact_reading_minute SET rows = rows + 1000 WHERE robot_id = 7001");
    harness_exec(conn, "UPDATE dw.fact_reading_hour SET rows = rows + 1000 WHERE robot_id = 7001");
    harness_exec(conn, "UPDATE dw.fact_reading_day SET rows = rows + 1000 WHERE robot_id = 7001");
    insert_one(conn, log, 2);
    assert_int_equal(rows_at(conn, "minute", m), 1003);
    assert_int_equal(rows_at(conn, "hour", h), 1003);
    assert_int_equal(rows_at(conn, "day", d), 1003);
    harness_exec(conn, "DELETE FROM dw.fact_reading_hour WHERE robot_id = 7001");
    insert_one(conn, log, 3);
    assert_int_equal(rows_at(conn, "minute", m), 1004);
    assert_int_equal(rows_at(conn, "hour", h), 1);
    assert_int_equal(rows_at(conn, "day", d), 1004);
    insert_one(conn, log, 4);
    assert_int_equal(rows_at(conn, "hour", h), 2);
    kill(c, SIGINT);
    assert_int_equal(harness_wait(c, NULL), 0);
    drop_consumer(db);
    free(log);
    PQfinish(conn);
}

static void test_usage(void **state)
{
    (void)state;
    harness_out o = harness_pgpulse(NULL, (const char *[]){"warehouse", "retention", NULL});
    assert_int_equal(o.status, 2);
    assert_non_null(strstr(o.err, "--keep-days"));
    harness_out_free(&o);
    o = harness_pgpulse(NULL, (const char *[]){"warehouse", "refresh", "--from", "yesterday", NULL});
    assert_int_equal(o.status, 2);
    harness_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_kills_and_refresh),
        cmocka_unit_test(test_rows_rewritten_between_commits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
