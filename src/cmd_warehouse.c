/* pgpulse warehouse: the warehouse (schema dw, docs/warehouse.md) — without a subcommand the
 * `warehouse` stage in a consumer of its own (like `pgpulse learn`); `refresh` rebuilds the
 * reading facts of a range from `reading` with the stage's code; `stats` shows rows and bytes per
 * day, raw and rolled up; `retention` drops old `reading` partitions whose readings the
 * warehouse holds. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "copybin.h"
#include "dw_agg.h"
#include "citus.h"
#include "pgconn.h"
#include "stage_warehouse.h"
#include "tstamp.h"
#include "util.h"

#define WH_FETCH_ROWS 50000
#define WH_FLUSH_CELLS 20000 /* minute cells held before they are added to the table */

static void cmd_warehouse_usage(FILE *out)
{
    fprintf(out,
            "usage: pgpulse warehouse [consumer options]      the stage (see pgpulse live --help)\n"
            "       pgpulse warehouse refresh [--from TS] [--to TS] [--robot N] [--db URL]\n"
            "       pgpulse warehouse stats [--db URL]\n"
            "       pgpulse warehouse retention --keep-days N [--force] [--dry-run] [--db URL]\n"
            "The warehouse: schema dw, its reading facts per robot and minute, hour and day (UTC).\n"
            "  refresh    rebuilds the minute facts of [--from, --to) (default: everything) from\n"
            "             reading, and the hours and days above them, one transaction per day;\n"
            "             days whose reading partition was dropped are left as they are. Run it\n"
            "             with the warehouse stage stopped or caught up: a reading the stage has\n"
            "             not consumed yet would be counted twice\n"
            "  stats      per day: readings, bytes of the reading partition, rows and bytes of\n"
            "             the minute, hour and day facts\n"
            "  retention  drops the reading partitions of days before today (UTC) - N, when the\n"
            "             warehouse holds every reading of the day (--force: drop anyway;\n"
            "             --dry-run: only say what would go). The facts stay.\n");
}

/* ---- refresh ---- */

typedef struct wh_refresh {
    PGconn *conn;
    int64_t from, to;     /* [from, to): whole minutes */
    int32_t robot;        /* 0: every robot */
    dw_agg minutes, hours, days;
    dw_agg_params params;
    int64_t readings;     /* read in all */
} wh_refresh;

/* Runs a statement with text parameters and no result; prints nothing. */
static int wh_exec(PGconn *conn, const char *sql, int n, const char *const *p, char *err,
                   size_t errlen)
{
    return pgconn_query(conn, sql, n, p, PGRES_COMMAND_OK, NULL, err, errlen);
}

/* Fetches the cursor wh_refresh_cur in binary until it is exhausted, handing each batch to fn. */
typedef int wh_batch_fn(wh_refresh *w, const PGresult *r, char *err, size_t errlen);

static int wh_drain(wh_refresh *w, wh_batch_fn *fn, char *err, size_t errlen)
{
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM wh_refresh_cur", WH_FETCH_ROWS);
    for (;;) {
        PGresult *r = PQexecParams(w->conn, fetch, 0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pgconn_result_error(r, w->conn, err, errlen);
            PQclear(r);
            return -1;
        }
        int n = PQntuples(r);
        int rc = n ? fn(w, r, err, errlen) : 0;
        PQclear(r);
        if (rc) return -1;
        if (n < WH_FETCH_ROWS) break;
    }
    return wh_exec(w->conn, "CLOSE wh_refresh_cur", 0, NULL, err, errlen);
}

/* Readings (robot_id, ts, axis1..8 in binary) into the minute cells, which are added to the
 * table whenever they grow past WH_FLUSH_CELLS. */
static int wh_readings(wh_refresh *w, const PGresult *r, char *err, size_t errlen)
{
    int n = PQntuples(r);
    reading *rows = xmalloc((size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++) {
        for (int f = 0; f < 2 + READING_AXES; f++)
            if (PQgetlength(r, i, f) != (f == 0 ? 4 : 8)) {
                free(rows);
                return util_err(err, errlen, "reading: unexpected value of %d bytes",
                                PQgetlength(r, i, f));
            }
        rows[i].robot_id = (int32_t)copybin_get32((const uint8_t *)PQgetvalue(r, i, 0));
        rows[i].ts_us = (int64_t)copybin_get64((const uint8_t *)PQgetvalue(r, i, 1)) + COPYBIN_PG_EPOCH_US;
        for (int a = 0; a < READING_AXES; a++) {
            uint64_t u = copybin_get64((const uint8_t *)PQgetvalue(r, i, 2 + a));
            memcpy(&rows[i].axis[a], &u, 8);
        }
    }
    dw_agg_add(&w->minutes, rows, (size_t)n);
    free(rows);
    w->readings += n;
    if (w->minutes.n < WH_FLUSH_CELLS) return 0;
    int rc = warehouse_write(w->conn, WAREHOUSE_MINUTE, &w->minutes, &w->params, 1, err, errlen) ||
             warehouse_ensure_time(w->conn, &w->minutes, err, errlen);
    dw_agg_reset(&w->minutes);
    return rc ? -1 : 0;
}

/* Minute fact rows (binary) into the hour cells. */
static int wh_minute_rows(wh_refresh *w, const PGresult *r, char *err, size_t errlen)
{
    const char *vals[DW_AGG_NFIELDS];
    int lens[DW_AGG_NFIELDS];
    if (PQnfields(r) != DW_AGG_NFIELDS) return util_err(err, errlen, "minute facts: bad columns");
    for (int i = 0; i < PQntuples(r); i++) {
        for (int f = 0; f < DW_AGG_NFIELDS; f++) {
            vals[f] = PQgetvalue(r, i, f);
            lens[f] = PQgetisnull(r, i, f) ? -1 : PQgetlength(r, i, f);
        }
        if (dw_agg_read_row(&w->hours, 0, vals, lens))
            return util_err(err, errlen, "dw.fact_reading_minute: a row has a value out of range");
    }
    return 0;
}

/* Rebuilds one day's range [lo, hi) (within day `day`, µs) in one transaction: the minutes from
 * reading, then every hour of the day and the day from the minutes. */
static int wh_refresh_day(wh_refresh *w, int64_t day, int64_t lo, int64_t hi, char *err,
                          size_t errlen)
{
    char slo[40], shi[40], sday0[40], sday1[40], robot[16];
    tstamp_format(lo, slo, sizeof slo);
    tstamp_format(hi, shi, sizeof shi);
    tstamp_format(day, sday0, sizeof sday0);
    tstamp_format(day + DW_AGG_DAY_US, sday1, sizeof sday1);
    snprintf(robot, sizeof robot, "%d", (int)w->robot);
    const char *pr[] = {slo, shi, robot};
    const char *pd[] = {sday0, sday1, robot};
    const char *rf = w->robot ? " AND robot_id = $3::int" : " AND $3::int IS NOT NULL";
    char sql[512];
    dw_agg_reset(&w->minutes);
    dw_agg_reset(&w->hours);
    dw_agg_reset(&w->days);
    if (pgconn_exec(w->conn, "BEGIN", err, errlen) || warehouse_lock(w->conn, 1, err, errlen))
        goto fail;
    snprintf(sql, sizeof sql, "DELETE FROM dw.fact_reading_minute WHERE minute >= $1 AND minute < $2%s", rf);
    if (wh_exec(w->conn, sql, 3, pr, err, errlen)) goto fail;
    snprintf(sql, sizeof sql,
             "DECLARE wh_refresh_cur NO SCROLL CURSOR FOR SELECT robot_id, ts, axis1, axis2, axis3, "
             "axis4, axis5, axis6, axis7, axis8 FROM reading WHERE ts >= $1 AND ts < $2%s", rf);
    if (wh_exec(w->conn, sql, 3, pr, err, errlen) || wh_drain(w, wh_readings, err, errlen)) goto fail;
    if (warehouse_write(w->conn, WAREHOUSE_MINUTE, &w->minutes, &w->params, 1, err, errlen) ||
        warehouse_ensure_time(w->conn, &w->minutes, err, errlen))
        goto fail;
    /* The day's hours and the day, from all its minutes (those outside [lo, hi) included). */
    snprintf(sql, sizeof sql, "DELETE FROM dw.fact_reading_hour WHERE hour >= $1 AND hour < $2%s", rf);
    if (wh_exec(w->conn, sql, 3, pd, err, errlen)) goto fail;
    snprintf(sql, sizeof sql, "DELETE FROM dw.fact_reading_day WHERE day = ($1::timestamptz AT TIME ZONE 'UTC')::date AND $2::text IS NOT NULL%s", rf);
    if (wh_exec(w->conn, sql, 3, pd, err, errlen)) goto fail;
    snprintf(sql, sizeof sql,
             "DECLARE wh_refresh_cur NO SCROLL CURSOR FOR SELECT robot_id, minute, rows, active, "
             "n1, s1, q1, mn1, mx1, h1, n2, s2, q2, mn2, mx2, h2, n3, s3, q3, mn3, mx3, h3, n4, s4, "
             "q4, mn4, mx4, h4, n5, s5, q5, mn5, mx5, h5, n6, s6, q6, mn6, mx6, h6, n7, s7, q7, mn7, "
             "mx7, h7, n8, s8, q8, mn8, mx8, h8, run_us FROM dw.fact_reading_minute WHERE minute >= $1 AND "
             "minute < $2%s", rf);
    if (wh_exec(w->conn, sql, 3, pd, err, errlen) || wh_drain(w, wh_minute_rows, err, errlen))
        goto fail;
    dw_agg_merge_into(&w->days, &w->hours);
    if (warehouse_write(w->conn, WAREHOUSE_HOUR, &w->hours, &w->params, 0, err, errlen) ||
        warehouse_write(w->conn, WAREHOUSE_DAY, &w->days, &w->params, 0, err, errlen) ||
        pgconn_exec(w->conn, "COMMIT", err, errlen))
        goto fail;
    return 0;
fail:
    PQclear(PQexec(w->conn, "ROLLBACK"));
    return -1;
}

/* The days (µs at 00:00 UTC) that have a reading partition, ascending; *n of them. */
static int64_t *wh_partition_days(PGconn *conn, size_t *n, char *err, size_t errlen)
{
    PGresult *r = NULL;
    if (pgconn_query(conn,
                     "SELECT (to_date(substr(c.relname, 10), 'YYYYMMDD') - date '1970-01-01')::int8 "
                     "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = "
                     "'reading'::regclass AND c.relname ~ '^reading_p[0-9]{8}$' ORDER BY 1",
                     0, NULL, PGRES_TUPLES_OK, &r, err, errlen))
        return NULL;
    *n = (size_t)PQntuples(r);
    int64_t *days = xmalloc((*n + 1) * sizeof *days);
    for (size_t i = 0; i < *n; i++)
        days[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10) * DW_AGG_DAY_US;
    PQclear(r);
    return days;
}

static int wh_parse_ts(const char *flag, const char *v, int64_t *out)
{
    int rc = tstamp_parse(v, strlen(v), TSTAMP_EPOCH_OK, out);
    if (rc != TSTAMP_OK) {
        cli_error("warehouse", "%s: %s: '%s'", flag, tstamp_strerror(rc), v);
        return -1;
    }
    return 0;
}

static int cmd_warehouse_refresh(int argc, char **argv)
{
    static const struct option opts[] = {{"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {"robot", required_argument, NULL, 'r'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL;
    wh_refresh w;
    memset(&w, 0, sizeof w);
    w.from = INT64_MIN;
    w.to = INT64_MAX;
    long v;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'f': if (wh_parse_ts("--from", optarg, &w.from)) return CLI_USAGE; break;
        case 't': if (wh_parse_ts("--to", optarg, &w.to)) return CLI_USAGE; break;
        case 'r':
            if (cli_parse_long("warehouse", "--robot", optarg, 1, 0x7fffffffL, &v)) return CLI_USAGE;
            w.robot = (int32_t)v;
            break;
        case 'd': db = optarg; break;
        case 'h': cmd_warehouse_usage(stdout); return CLI_OK;
        default: cmd_warehouse_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc) {
        cmd_warehouse_usage(stderr);
        return CLI_USAGE;
    }
    /* Whole minutes: a minute cut by the range is rebuilt whole. */
    if (w.from != INT64_MIN) w.from = dw_agg_period(w.from, DW_AGG_MINUTE_US);
    if (w.to != INT64_MAX) w.to = dw_agg_period(w.to + DW_AGG_MINUTE_US - 1, DW_AGG_MINUTE_US);
    w.conn = cli_connect("warehouse", db, 1, NULL);
    if (!w.conn) return CLI_FAIL;
    dw_agg_init(&w.minutes, DW_AGG_MINUTE_US);
    dw_agg_init(&w.hours, DW_AGG_HOUR_US);
    dw_agg_init(&w.days, DW_AGG_DAY_US);
    char err[1024];
    size_t ndays = 0;
    int rc = CLI_OK, done = 0;
    int64_t t0 = util_mono_us();
    int64_t *days = wh_partition_days(w.conn, &ndays, err, sizeof err);
    if (!days) {
        cli_error("warehouse", "%s", err);
        rc = CLI_FAIL;
    }
    for (size_t i = 0; days && i < ndays; i++) {
        int64_t lo = days[i] > w.from ? days[i] : w.from;
        int64_t hi = days[i] + DW_AGG_DAY_US < w.to ? days[i] + DW_AGG_DAY_US : w.to;
        if (lo >= hi) continue;
        int64_t before = w.readings;
        if (wh_refresh_day(&w, days[i], lo, hi, err, sizeof err)) {
            char d[40];
            tstamp_format(days[i], d, sizeof d);
            d[10] = '\0';
            cli_error("warehouse", "refresh of %s: %s", d, err);
            rc = CLI_FAIL;
            break;
        }
        if (w.readings > before) done++;
    }
    if (rc == CLI_OK) {
        char cnt[32];
        printf("refreshed %d day%s with readings: %s readings in %.2f s\n", done, done == 1 ? "" : "s",
               util_fmt_count(cnt, sizeof cnt, (uint64_t)w.readings),
               (double)(util_mono_us() - t0) / 1e6);
    }
    free(days);
    dw_agg_free(&w.minutes);
    dw_agg_free(&w.hours);
    dw_agg_free(&w.days);
    dw_agg_params_free(&w.params);
    PQfinish(w.conn);
    return rc;
}

/* ---- stats ---- */

static const char *wh_bytes(const char *v, char *out, size_t len)
{
    if (!*v) return "-";
    double b = strtod(v, NULL);
    if (b < 1024) snprintf(out, len, "%.0f B", b);
    else if (b < 1024 * 1024) snprintf(out, len, "%.1f kB", b / 1024);
    else if (b < 1024.0 * 1024 * 1024) snprintf(out, len, "%.1f MB", b / 1024 / 1024);
    else snprintf(out, len, "%.2f GB", b / 1024 / 1024 / 1024);
    return out;
}

static int cmd_warehouse_stats(PGconn *conn)
{
    PGresult *r = NULL;
    char err[1024];
    int distributed;
    /* On Citus a day partition's bytes are on the workers; the coordinator's own size of it is
     * that of an empty shell. */
    if (citus_reading_distributed(conn, &distributed, err, sizeof err)) {
        cli_error("warehouse", "%s", err);
        return CLI_FAIL;
    }
    /* On Citus every day's partition is a distributed table of its own: its size is the sum
     * over its shards on the workers (one query per worker per partition). */
    const char *total = distributed ? "citus_total_relation_size" : "pg_total_relation_size";
    const char *heap = distributed ? "citus_relation_size" : "pg_relation_size";
    char *sql = xasprintf(
            "WITH p AS (SELECT to_date(substr(c.relname, 10), 'YYYYMMDD') AS day, "
            "%s(c.oid) AS bytes, %s(c.oid) AS heap FROM "
            "pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = "
            "'reading'::regclass AND c.relname ~ '^reading_p[0-9]{8}$'), "
            "m AS (SELECT (minute AT TIME ZONE 'UTC')::date AS day, count(*) AS n, "
            "sum(pg_column_size(f.*)) AS b FROM dw.fact_reading_minute f GROUP BY 1), "
            "h AS (SELECT (hour AT TIME ZONE 'UTC')::date AS day, count(*) AS n, "
            "sum(pg_column_size(f.*)) AS b FROM dw.fact_reading_hour f GROUP BY 1), "
            "d AS (SELECT day, count(*) AS n, sum(pg_column_size(f.*)) AS b, sum(rows) AS readings "
            "FROM dw.fact_reading_day f GROUP BY 1), "
            "days AS (SELECT day FROM p WHERE heap > 0 UNION SELECT day FROM m UNION SELECT day FROM d) "
            "SELECT days.day, coalesce(d.readings, 0), p.bytes, coalesce(m.n, 0), coalesce(m.b, 0), "
            "coalesce(h.n, 0), coalesce(h.b, 0), coalesce(d.n, 0), coalesce(d.b, 0) FROM days "
            "LEFT JOIN p USING (day) LEFT JOIN m USING (day) LEFT JOIN h USING (day) LEFT JOIN d "
            "USING (day) ORDER BY 1",
            total, heap);
    int rc = pgconn_query(conn, sql, 0, NULL, PGRES_TUPLES_OK, &r, err, sizeof err);
    free(sql);
    if (rc) {
        cli_error("warehouse", "%s", err);
        return CLI_FAIL;
    }
    printf("%-10s %12s %10s %9s %10s %7s %10s %6s %10s\n", "day", "readings", "raw", "minutes",
           "bytes", "hours", "bytes", "days", "bytes");
    for (int i = 0; i < PQntuples(r); i++) {
        char b[5][32];
        printf("%-10s %12s %10s %9s %10s %7s %10s %6s %10s\n", PQgetvalue(r, i, 0),
               PQgetvalue(r, i, 1),
               PQgetisnull(r, i, 2) ? "dropped" : wh_bytes(PQgetvalue(r, i, 2), b[0], 32),
               PQgetvalue(r, i, 3), wh_bytes(PQgetvalue(r, i, 4), b[1], 32), PQgetvalue(r, i, 5),
               wh_bytes(PQgetvalue(r, i, 6), b[2], 32), PQgetvalue(r, i, 7),
               wh_bytes(PQgetvalue(r, i, 8), b[3], 32));
    }
    if (PQntuples(r) == 0) printf("(no readings and no facts yet)\n");
    PQclear(r);
    return CLI_OK;
}

/* ---- retention ---- */

static int cmd_warehouse_retention(PGconn *conn, long keep, int force, int dry)
{
    PGresult *r = NULL;
    char err[1024], k[24];
    snprintf(k, sizeof k, "%ld", keep);
    const char *p[] = {k};
    if (pgconn_query(conn,
                     "SELECT n.nspname, c.relname, to_date(substr(c.relname, 10), 'YYYYMMDD')::text "
                     "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON "
                     "n.oid = c.relnamespace WHERE i.inhparent = 'reading'::regclass AND c.relname ~ "
                     "'^reading_p[0-9]{8}$' AND to_date(substr(c.relname, 10), 'YYYYMMDD') < "
                     "(now() AT TIME ZONE 'UTC')::date - $1::int ORDER BY c.relname",
                     1, p, PGRES_TUPLES_OK, &r, err, sizeof err)) {
        cli_error("warehouse", "%s", err);
        return CLI_FAIL;
    }
    int rc = CLI_OK, dropped = 0, kept = 0;
    for (int i = 0; i < PQntuples(r) && rc == CLI_OK; i++) {
        const char *schema = PQgetvalue(r, i, 0), *rel = PQgetvalue(r, i, 1), *day = PQgetvalue(r, i, 2);
        char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
        char *qr = PQescapeIdentifier(conn, rel, strlen(rel));
        char *count = xasprintf("SELECT (SELECT count(*) FROM %s.%s), (SELECT coalesce(sum(rows), 0) "
                                "FROM dw.fact_reading_day WHERE day = $1::date)", qs, qr);
        char *drop = xasprintf("DROP TABLE %s.%s", qs, qr);
        PQfreemem(qs);
        PQfreemem(qr);
        PGresult *c = NULL;
        const char *pd[] = {day};
        if (pgconn_query(conn, count, 1, pd, PGRES_TUPLES_OK, &c, err, sizeof err)) {
            cli_error("warehouse", "%s", err);
            rc = CLI_FAIL;
        } else {
            long long raw = strtoll(PQgetvalue(c, 0, 0), NULL, 10);
            long long held = strtoll(PQgetvalue(c, 0, 1), NULL, 10);
            PQclear(c);
            if (raw != held && !force) {
                printf("kept %s (%s): the warehouse holds %lld of its %lld readings (pgpulse "
                       "warehouse refresh --from %s rebuilds them; --force drops it anyway)\n",
                       rel, day, held, raw, day);
                kept++;
            } else if (dry) {
                printf("would drop %s (%s, %lld readings)\n", rel, day, raw);
            } else if (pgconn_exec(conn, drop, err, sizeof err)) {
                cli_error("warehouse", "%s", err);
                rc = CLI_FAIL;
            } else {
                printf("dropped %s (%s, %lld readings; its facts stay)\n", rel, day, raw);
                dropped++;
            }
        }
        free(count);
        free(drop);
    }
    PQclear(r);
    if (rc == CLI_OK && !dry)
        printf("%d partition%s dropped, %d kept\n", dropped, dropped == 1 ? "" : "s", kept);
    return kept && rc == CLI_OK ? CLI_FAIL : rc;
}

/* stats and retention: their options, a connection, the work. */
static int cmd_warehouse_admin(int argc, char **argv, int retention)
{
    static const struct option opts[] = {{"keep-days", required_argument, NULL, 'k'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *db = NULL;
    long keep = -1;
    int force = 0, dry = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'k':
            if (cli_parse_long("warehouse", "--keep-days", optarg, 0, 100000, &keep)) return CLI_USAGE;
            break;
        case 'f': force = 1; break;
        case 'n': dry = 1; break;
        case 'd': db = optarg; break;
        case 'h': cmd_warehouse_usage(stdout); return CLI_OK;
        default: cmd_warehouse_usage(stderr); return CLI_USAGE;
        }
    }
    if (optind != argc || (retention && keep < 0) || (!retention && (keep >= 0 || force || dry))) {
        if (retention && keep < 0) cli_error("warehouse", "retention needs --keep-days N");
        cmd_warehouse_usage(stderr);
        return CLI_USAGE;
    }
    PGconn *conn = cli_connect("warehouse", db, 1, NULL);
    if (!conn) return CLI_FAIL;
    int rc = retention ? cmd_warehouse_retention(conn, keep, force, dry) : cmd_warehouse_stats(conn);
    PQfinish(conn);
    return rc;
}

int cmd_warehouse(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "refresh")) return cmd_warehouse_refresh(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "stats")) return cmd_warehouse_admin(argc - 1, argv + 1, 0);
    if (argc >= 2 && !strcmp(argv[1], "retention")) return cmd_warehouse_admin(argc - 1, argv + 1, 1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cmd_warehouse_usage(stdout);
            return CLI_OK;
        }
    }
    return cmd_consume_stage(argc, argv, "warehouse", "warehouse");
}
