/* report_data: the report's queries (see report_data.h). Each load_* step runs one or a few
 * statements over the period and fills its part of the struct; numbers come back as text and
 * are parsed here, so nothing else depends on libpq. */
#include "report_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "citus.h"
#include "pgconn.h"
#include "report_hist.h"
#include "util.h"

/* The reading's columns by axis, for SQL built here (never from input). */
#define AXIS_CASE(var)                                                                           \
    "CASE " var " WHEN 1 THEN axis1 WHEN 2 THEN axis2 WHEN 3 THEN axis3 WHEN 4 THEN axis4 "        \
    "WHEN 5 THEN axis5 WHEN 6 THEN axis6 WHEN 7 THEN axis7 ELSE axis8 END"
#define RUNNING "(axis1 <> 0 OR axis2 <> 0 OR axis3 <> 0 OR axis4 <> 0 OR axis5 <> 0 OR " \
                "axis6 <> 0 OR axis7 <> 0 OR axis8 <> 0)"
#define PERIOD "ts >= $1::timestamptz AND ts < $2::timestamptz"

static double num(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) return NAN;
    return strtod(PQgetvalue(r, row, col), NULL);
}

static int64_t count(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void text(char *dst, size_t len, const PGresult *r, int row, int col)
{
    snprintf(dst, len, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

/* Runs sql with params; NULL (and the message in err) on failure. */
static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params, char *err,
                       size_t errlen)
{
    PGresult *r = NULL;
    if (pgconn_query(conn, sql, n, params, PGRES_TUPLES_OK, &r, err, errlen)) return NULL;
    return r;
}

/* The period, widened to whole UTC minutes. */
static int load_period(PGconn *conn, const char *from, const char *to, report_data *d, char *err,
                       size_t errlen)
{
    const char *p[] = {from, to};
    PGresult *r = query(
        conn,
        /* The rollups' first and last minute (an index each); `reading` only when they are
         * empty (min(ts) over its partitions reads them all: no index leads with ts). */
        "WITH b AS (SELECT coalesce($1::timestamptz, (SELECT min(minute) FROM dw.fact_reading_minute), "
        "(SELECT min(ts) FROM reading)) f, coalesce($2::timestamptz, (SELECT max(minute) + "
        "interval '1 minute' FROM dw.fact_reading_minute), (SELECT max(ts) FROM reading) + interval '1 ms') t), "
        "w AS (SELECT date_trunc('minute', f, 'UTC') f, date_trunc('minute', t, 'UTC') + CASE WHEN "
        "date_trunc('minute', t, 'UTC') < t THEN interval '1 minute' ELSE interval '0' END t FROM b) "
        "SELECT extract(epoch FROM f), extract(epoch FROM t), "
        "to_char(f AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM w",
        2, p, err, errlen);
    if (!r) return -1;
    if (PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1)) {
        PQclear(r);
        return util_err(err, errlen, "no readings in the database");
    }
    d->from = num(r, 0, 0);
    d->to = num(r, 0, 1);
    text(d->from_text, sizeof d->from_text, r, 0, 2);
    text(d->to_text, sizeof d->to_text, r, 0, 3);
    PQclear(r);
    if (!(d->to > d->from)) return util_err(err, errlen, "the period is empty (--to is not after --from)");
    return 0;
}

/* The rollup rows that cover [$1, $2) (whole minutes) exactly once: the day facts of the whole
 * UTC days, the hour facts of the whole hours outside them, the minute facts of the rest. $3..$6
 * are the first and last whole hour and day boundaries (dw_bounds): constants, so that each
 * range is an index scan. $7 the robots: 'all', 'sim' (named sim-N: pgpulse gen's, as gen
 * itself tells them apart) or 'real' (the others). Columns: robot_id, rows, active and per
 * axis n, s, q, mn, mx, h. */
#define FACT_COLS                                                                                 \
    "robot_id, rows, active, n1, s1, q1, mn1, mx1, h1, n2, s2, q2, mn2, mx2, h2, n3, s3, q3, mn3, "  \
    "mx3, h3, n4, s4, q4, mn4, mx4, h4, n5, s5, q5, mn5, mx5, h5, n6, s6, q6, mn6, mx6, h6, n7, s7, " \
    "q7, mn7, mx7, h7, n8, s8, q8, mn8, mx8, h8"
#define DW_SRC                                                                                    \
    "src0 AS (SELECT " FACT_COLS " FROM dw.fact_reading_day WHERE day >= ($5::timestamptz AT TIME "   \
    "ZONE 'UTC')::date AND day < ($6::timestamptz AT TIME ZONE 'UTC')::date "                      \
    "UNION ALL SELECT " FACT_COLS " FROM dw.fact_reading_hour WHERE (hour >= $3::timestamptz AND "  \
    "hour < least($5::timestamptz, $4::timestamptz)) OR (hour >= greatest($6::timestamptz, "       \
    "$5::timestamptz, $3::timestamptz) AND hour < $4::timestamptz) "                               \
    "UNION ALL SELECT " FACT_COLS " FROM dw.fact_reading_minute WHERE (minute >= $1::timestamptz " \
    "AND minute < least($3::timestamptz, $2::timestamptz)) OR (minute >= greatest($4::timestamptz, " \
    "$3::timestamptz) AND minute < $2::timestamptz)), "                                           \
    "src AS (SELECT * FROM src0 WHERE $7::text = 'all' OR (($7::text = 'sim') = EXISTS (SELECT 1 "   \
    "FROM robot WHERE robot.robot_id = src0.robot_id AND robot.name LIKE 'sim-%')))"

/* The period's hour and day boundaries for DW_SRC: the first whole hour's start, the last
 * whole hour's end, the same for days (UTC), as text in b[0..3]. */
static int dw_bounds(PGconn *conn, const report_data *d, char b[4][40], char *err, size_t errlen)
{
    const char *p[] = {d->from_text, d->to_text};
    PGresult *r = query(
        conn,
        "SELECT date_trunc('hour', f, 'UTC') + CASE WHEN date_trunc('hour', f, 'UTC') < f THEN "
        "interval '1 hour' ELSE interval '0' END, date_trunc('hour', t, 'UTC'), "
        "date_trunc('day', f, 'UTC') + CASE WHEN date_trunc('day', f, 'UTC') < f THEN "
        "interval '24 hours' ELSE interval '0' END, date_trunc('day', t, 'UTC') "
        "FROM (SELECT $1::timestamptz f, $2::timestamptz t) x",
        2, p, err, errlen);
    if (!r) return -1;
    for (int i = 0; i < 4; i++) text(b[i], sizeof b[i], r, 0, i);
    PQclear(r);
    return 0;
}

/* The totals of a robot set from the rollups into g (p: DW_SRC's parameters). */
static int load_totals(PGconn *conn, report_group *g, const char *const *p, char *err, size_t errlen)
{
    PGresult *r = query(conn,
                        "WITH " DW_SRC " SELECT sum(rows), count(DISTINCT robot_id), sum(rows - active) "
                        "FROM src",
                        7, p, err, errlen);
    if (!r) return -1;
    g->readings = count(r, 0, 0);
    g->robots = count(r, 0, 1);
    g->idle_rows = count(r, 0, 2);
    PQclear(r);
    return 0;
}

/* Rollups empty for a period with readings: an error that names the refresh. */
static int empty_rollups(PGconn *conn, const report_data *d, char *err, size_t errlen)
{
    const char *p[] = {d->from_text, d->to_text};
    PGresult *r = query(conn, "SELECT EXISTS (SELECT 1 FROM reading WHERE " PERIOD ")", 2, p, err, errlen);
    if (!r) return -1;
    int raw = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (raw)
        return util_err(err, errlen,
                        "the warehouse holds nothing from %s to %s, but `reading` does: the report "
                        "reads the warehouse's rollups; run `pgpulse warehouse refresh --from %s --to "
                        "%s` (or the warehouse stage) first",
                        d->from_text, d->to_text, d->from_text, d->to_text);
    return util_err(err, errlen, "no readings from %s to %s", d->from_text, d->to_text);
}

/* A log histogram's bins, per axis, from rows (axis, bin, count) sorted by axis and bin. */
typedef struct axis_hist {
    report_hist_bin *bins;
    size_t n;
} axis_hist;

/* Fills x's quantiles, range and linear bins from its merged log histogram h. */
static void axis_from_hist(report_axis *x, const axis_hist *h, double mn, double mx)
{
    x->p50 = report_hist_quantile(h->bins, h->n, 0.5);
    x->p90 = report_hist_quantile(h->bins, h->n, 0.9);
    x->p99 = report_hist_quantile(h->bins, h->n, 0.99);
    /* Smallest and largest non-zero: the min and max, unless a zero is one of them. */
    x->lo = mn != 0 ? mn : h->n ? report_hist_value(h->bins[0].bin) : NAN;
    x->hi = mx != 0 ? mx : h->n ? report_hist_value(h->bins[h->n - 1].bin) : NAN;
    /* Bins from the 0.1 % to the 99.5 % quantile's log bins (the tails are counted apart:
     * spikes would otherwise squeeze the body into a few bins). */
    double blo = 0, bhi = 1, dummy;
    if (h->n) {
        int64_t total = 0, cum = 0;
        for (size_t i = 0; i < h->n; i++) total += h->bins[i].count;
        size_t i0 = 0, i1 = h->n - 1;
        for (size_t i = 0; i < h->n; i++) {
            cum += h->bins[i].count;
            if ((double)cum >= 0.001 * (double)total) {
                i0 = i;
                break;
            }
        }
        cum = 0;
        for (size_t i = 0; i < h->n; i++) {
            cum += h->bins[i].count;
            if ((double)cum >= 0.995 * (double)total) {
                i1 = i;
                break;
            }
        }
        report_hist_edges(h->bins[i0].bin, &blo, &dummy);
        report_hist_edges(h->bins[i1].bin, &dummy, &bhi);
    }
    if (!(bhi > blo)) bhi = blo + 1;
    x->bin_lo = blo;
    x->bin_w = (bhi - blo) / REPORT_HIST_BINS;
    double outside = 0;
    report_hist_linear(h->bins, h->n, x->bin_lo, x->bin_w, x->bins, REPORT_HIST_BINS, &outside);
    x->outside = llround(outside);
}

/* A robot set's totals and per-axis statistics: exact sums from the rollups, quantiles and bins
 * from their merged log histograms (p: DW_SRC's parameters). */
static int load_group(PGconn *conn, report_group *g, const char *const *p, char *err, size_t errlen)
{
    if (load_totals(conn, g, p, err, errlen)) return -1;
    if (g->readings == 0) return 0;
    report_axis *axis = g->axis;
    /* Means and variances in numeric, exactly: mean = S / R / 1e6, variance = (Q R - S²) / R² /
     * 1e12, over all readings (R = rows) and over the running ones (R = n). */
    PGresult *r = query(
        conn,
        "WITH " DW_SRC ", x AS (SELECT v.a, src.rows, v.n, v.s, v.q, v.mn, v.mx FROM src CROSS JOIN "
        "LATERAL (VALUES (1, n1, s1, q1, mn1, mx1), (2, n2, s2, q2, mn2, mx2), (3, n3, s3, q3, mn3, mx3), "
        "(4, n4, s4, q4, mn4, mx4), (5, n5, s5, q5, mn5, mx5), (6, n6, s6, q6, mn6, mx6), "
        "(7, n7, s7, q7, mn7, mx7), (8, n8, s8, q8, mn8, mx8)) v(a, n, s, q, mn, mx)), "
        "g AS (SELECT a, sum(rows)::numeric r, sum(n)::numeric n, sum(s) s, sum(q) q, min(mn) mn, "
        "max(mx) mx FROM x GROUP BY a) "
        "SELECT a, r, r - n, (s / r / 1e6)::float8, (sqrt(greatest(q * r - s * s, 0)) / r / 1e6)::float8, "
        "(s / nullif(n, 0) / 1e6)::float8, (sqrt(greatest(q * n - s * s, 0)) / nullif(n, 0) / 1e6)::float8, "
        "mn, mx FROM g WHERE r > 0 ORDER BY a",
        7, p, err, errlen);
    if (!r) return -1;
    double mn[REPORT_AXES] = {0}, mx[REPORT_AXES] = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        int a = atoi(PQgetvalue(r, i, 0));
        if (a < 1 || a > REPORT_AXES) continue;
        report_axis *x = &axis[a - 1];
        x->n = count(r, i, 1);
        x->zeros = count(r, i, 2);
        x->mean = num(r, i, 3);
        x->std = num(r, i, 4);
        x->run_mean = num(r, i, 5);
        x->run_std = num(r, i, 6);
        mn[a - 1] = num(r, i, 7);
        mx[a - 1] = num(r, i, 8);
    }
    PQclear(r);
    r = query(conn,
              "WITH " DW_SRC " SELECT v.a, e >> 32, sum(e & 4294967295) FROM src CROSS JOIN LATERAL "
              "(VALUES (1, h1), (2, h2), (3, h3), (4, h4), (5, h5), (6, h6), (7, h7), (8, h8)) v(a, h) "
              "CROSS JOIN LATERAL unnest(v.h) u(e) WHERE e >> 32 <> 0 GROUP BY 1, 2 ORDER BY 1, 2",
              7, p, err, errlen);
    if (!r) return -1;
    size_t rows = (size_t)PQntuples(r);
    report_hist_bin *all = xcalloc(rows ? rows : 1, sizeof *all);
    axis_hist h[REPORT_AXES] = {{0}};
    for (size_t i = 0; i < rows; i++) {
        int a = atoi(PQgetvalue(r, (int)i, 0));
        all[i].bin = (int32_t)atol(PQgetvalue(r, (int)i, 1));
        all[i].count = count(r, (int)i, 2);
        if (a < 1 || a > REPORT_AXES) continue;
        if (!h[a - 1].bins) h[a - 1].bins = &all[i];
        h[a - 1].n++;
    }
    PQclear(r);
    for (int a = 0; a < REPORT_AXES; a++)
        if (axis[a].n) axis_from_hist(&axis[a], &h[a], mn[a], mx[a]);
    free(all);
    return 0;
}

/* The period's totals and statistics, of every robot, of the real ones and of the simulated
 * ones; the UTC days with readings. */
static int load_axes(PGconn *conn, report_data *d, char *err, size_t errlen)
{
    char b[4][40];
    if (dw_bounds(conn, d, b, err, errlen)) return -1;
    report_group all = {0};
    const char *p[] = {d->from_text, d->to_text, b[0], b[1], b[2], b[3], "all"};
    if (load_group(conn, &all, p, err, errlen)) return -1;
    if (all.readings == 0) return empty_rollups(conn, d, err, errlen);
    d->readings = all.readings;
    d->robots = all.robots;
    d->idle_rows = all.idle_rows;
    memcpy(d->axis, all.axis, sizeof d->axis);
    p[6] = "real";
    if (load_group(conn, &d->real, p, err, errlen)) return -1;
    p[6] = "sim";
    if (load_group(conn, &d->sim, p, err, errlen)) return -1;
    const char *pd[] = {d->from_text, d->to_text};
    PGresult *r = query(conn,
                        "SELECT count(DISTINCT date_trunc('day', hour, 'UTC')) FROM dw.fact_reading_hour "
                        "WHERE hour >= date_trunc('hour', $1::timestamptz, 'UTC') AND hour < $2::timestamptz",
                        2, pd, err, errlen);
    if (!r) return -1;
    d->days = count(r, 0, 0);
    PQclear(r);
    return 0;
}

/* The consumer that wrote the most rows of table in the period ("" if none). */
static int busiest(PGconn *conn, const report_data *d, const char *sql, char *out, size_t len,
                   char *err, size_t errlen)
{
    const char *p[] = {d->from_text, d->to_text};
    PGresult *r = query(conn, sql, 2, p, err, errlen);
    if (!r) return -1;
    out[0] = '\0';
    if (PQntuples(r)) text(out, len, r, 0, 0);
    PQclear(r);
    return 0;
}

/* Anomalies, faults, maintenance and detection quality. */
static int load_events(PGconn *conn, report_data *d, char *err, size_t errlen)
{
    if (busiest(conn, d,
                "SELECT consumer FROM anomaly WHERE ts_start >= $1::timestamptz AND "
                "ts_start < $2::timestamptz GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
                d->detect_consumer, sizeof d->detect_consumer, err, errlen) ||
        busiest(conn, d,
                "SELECT consumer FROM prediction WHERE " PERIOD
                " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
                d->learn_consumer, sizeof d->learn_consumer, err, errlen))
        return -1;
    const char *p[] = {d->from_text, d->to_text, d->detect_consumer};
    /* `fault` is distributed on Citus and `anomaly` local to the coordinator, and Citus refuses
     * a subquery correlating one with the other ("direct joins between distributed and local
     * tables are not supported"): the faults the matching can reach are materialised first (a
     * distributed query of their own on Citus; the rest runs on the coordinator), from the
     * period's start less the longest fault to its end plus the longest episode. On a single
     * PostgreSQL it costs what the correlated form did (a hash semi-join by robot over the
     * period's faults in place of an index probe per episode; on test_report's data, as
     * `pgpulse report` runs it, 2.3 ms against 2.1-2.5, and the next statement 4.9 against
     * 4.8-5.2). */
    PGresult *r = query(
        conn,
        "WITH m AS (SELECT coalesce(max(ts_end - ts_start), '0') + interval '60 s' d FROM fault), "
        "f AS MATERIALIZED (SELECT f.robot_id, f.axis, f.ts_start, f.ts_end FROM fault f, m "
        "WHERE f.ts_start >= $1::timestamptz - m.d AND f.ts_start <= $2::timestamptz + (SELECT "
        "coalesce(max(ts_end - ts_start), '0') FROM anomaly WHERE consumer = $3) + interval '60 s') "
        "SELECT (SELECT count(*) FROM anomaly WHERE consumer = $3 AND level = 'ALERT' AND "
        "ts_start >= $1::timestamptz AND ts_start < $2::timestamptz), "
        "(SELECT count(*) FROM anomaly WHERE consumer = $3 AND level = 'ERROR' AND "
        "ts_start >= $1::timestamptz AND ts_start < $2::timestamptz), "
        "(SELECT count(*) FROM fault WHERE ts_start >= $1::timestamptz AND ts_start < $2::timestamptz), "
        "(SELECT count(*) FROM fault WHERE level = 'ALERT' AND ts_start >= $1::timestamptz AND "
        "ts_start < $2::timestamptz), "
        "(SELECT count(*) FROM fault WHERE level = 'ERROR' AND ts_start >= $1::timestamptz AND "
        "ts_start < $2::timestamptz), "
        "(SELECT count(*) FROM maintenance_event WHERE kind = 'failure' AND " PERIOD "), "
        "(SELECT count(*) FROM maintenance_event WHERE kind = 'repair' AND " PERIOD "), "
        "(SELECT count(*) FROM anomaly a, m WHERE consumer = $3 AND a.ts_start >= $1::timestamptz AND "
        "a.ts_start < $2::timestamptz AND EXISTS (SELECT 1 FROM f WHERE f.robot_id = a.robot_id "
        "AND (a.axis IS NULL OR f.axis IS NULL OR a.axis = f.axis) "
        "AND f.ts_start <= a.ts_end + interval '60 s' AND f.ts_start >= a.ts_start - m.d "
        "AND f.ts_end >= a.ts_start - interval '60 s'))",
        3, p, err, errlen);
    if (!r) return -1;
    d->alerts = count(r, 0, 0);
    d->errors = count(r, 0, 1);
    d->faults = count(r, 0, 2);
    d->fault_alerts = count(r, 0, 3);
    d->fault_errors = count(r, 0, 4);
    d->failures = count(r, 0, 5);
    d->repairs = count(r, 0, 6);
    d->anomalies_matched = count(r, 0, 7);
    PQclear(r);

    /* The period's faults materialised first, for the same reason. */
    r = query(conn,
              "WITH f AS MATERIALIZED (SELECT kind, level, robot_id, axis, ts_start, ts_end FROM "
              "fault WHERE ts_start >= $1::timestamptz AND ts_start < $2::timestamptz) "
              "SELECT f.kind, f.level = 'ERROR', count(*), count(*) FILTER (WHERE EXISTS ("
              "SELECT 1 FROM anomaly a WHERE a.consumer = $3 AND a.robot_id = f.robot_id "
              "AND (a.axis IS NULL OR f.axis IS NULL OR a.axis = f.axis) "
              "AND a.ts_start <= f.ts_end + interval '60 s' AND a.ts_start >= f.ts_start - m.d "
              "AND a.ts_end >= f.ts_start - interval '60 s')) "
              "FROM f, (SELECT coalesce(max(ts_end - ts_start), '0') + interval '60 s' d "
              "FROM anomaly WHERE consumer = $3) m "
              "GROUP BY 1, 2 ORDER BY 2 DESC, 1",
              3, p, err, errlen);
    if (!r) return -1;
    d->ndetect = (size_t)PQntuples(r);
    d->detect = xcalloc(d->ndetect ? d->ndetect : 1, sizeof *d->detect);
    for (size_t i = 0; i < d->ndetect; i++) {
        report_detect *x = &d->detect[i];
        text(x->kind, sizeof x->kind, r, (int)i, 0);
        x->error = PQgetvalue(r, (int)i, 1)[0] == 't';
        x->faults = count(r, (int)i, 2);
        x->detected = count(r, (int)i, 3);
    }
    PQclear(r);
    return 0;
}

static int load_stream(PGconn *conn, report_data *d, report_stream *s, char *err, size_t errlen)
{
    char robot[16], axis[16], bucket[32];
    snprintf(robot, sizeof robot, "%d", s->robot);
    const char *pa[] = {d->from_text, d->to_text, d->detect_consumer, robot};
    PGresult *r = query(conn,
                        "SELECT axis FROM anomaly WHERE consumer = $3 AND robot_id = $4::int AND "
                        "axis IS NOT NULL AND ts_start >= $1::timestamptz AND ts_start < $2::timestamptz "
                        "GROUP BY axis ORDER BY count(*) DESC, axis LIMIT 1",
                        4, pa, err, errlen);
    if (!r) return -1;
    s->axis = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : 1;
    PQclear(r);
    snprintf(axis, sizeof axis, "%d", s->axis);
    /* The window: the whole period up to REPORT_STREAM_WINDOW_S, else the block of that length
     * (from the period's start) with the most episodes, an ERROR counting as five. */
    char win[32];
    snprintf(win, sizeof win, "%d", REPORT_STREAM_WINDOW_S);
    const char *pw[] = {d->from_text, d->to_text, d->detect_consumer, robot, axis, win};
    r = query(conn,
              "WITH b AS (SELECT floor(extract(epoch FROM ts_start - $1::timestamptz) / $6::int) k, "
              "sum(CASE level WHEN 'ERROR' THEN 5 ELSE 1 END) w FROM anomaly WHERE consumer = $3 AND "
              "robot_id = $4::int AND (axis = $5::int OR axis IS NULL) AND ts_start >= $1::timestamptz "
              "AND ts_start < $2::timestamptz GROUP BY 1) "
              "SELECT to_char(lo AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
              "to_char(least(lo + $6::int * interval '1 s', $2::timestamptz) AT TIME ZONE 'UTC', "
              "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), extract(epoch FROM lo), "
              "extract(epoch FROM least(lo + $6::int * interval '1 s', $2::timestamptz)) "
              "FROM (SELECT $1::timestamptz + coalesce((SELECT k FROM b ORDER BY w DESC, k LIMIT 1), 0) "
              "* $6::int * interval '1 s' lo) x",
              6, pw, err, errlen);
    if (!r) return -1;
    text(s->from_text, sizeof s->from_text, r, 0, 0);
    text(s->to_text, sizeof s->to_text, r, 0, 1);
    s->from = num(r, 0, 2);
    s->to = num(r, 0, 3);
    PQclear(r);
    s->bucket_s = fmax(1, ceil((s->to - s->from) / REPORT_STREAM_BUCKETS));
    snprintf(bucket, sizeof bucket, "%.0f", s->bucket_s);
    const char *pb[] = {s->from_text, s->to_text, robot, axis, bucket};
    r = query(conn,
              "SELECT (floor(extract(epoch FROM ts) / $5::float8) + 0.5) * $5::float8, min(v), max(v) "
              "FROM (SELECT ts, " AXIS_CASE("$4::int") " v FROM reading WHERE robot_id = $3::int AND " PERIOD
              ") s GROUP BY 1 ORDER BY 1",
              5, pb, err, errlen);
    if (!r) return -1;
    if (PQntuples(r) == 0) {
        /* The window's raw readings are gone (retention): the minute rollups' min and max. */
        PQclear(r);
        s->from_minutes = 1;
        s->bucket_s = 60;
        r = query(conn,
                  "SELECT extract(epoch FROM minute) + 30, CASE $4::int WHEN 1 THEN mn1 WHEN 2 THEN mn2 "
                  "WHEN 3 THEN mn3 WHEN 4 THEN mn4 WHEN 5 THEN mn5 WHEN 6 THEN mn6 WHEN 7 THEN mn7 ELSE mn8 END, "
                  "CASE $4::int WHEN 1 THEN mx1 WHEN 2 THEN mx2 WHEN 3 THEN mx3 WHEN 4 THEN mx4 WHEN 5 THEN mx5 "
                  "WHEN 6 THEN mx6 WHEN 7 THEN mx7 ELSE mx8 END FROM dw.fact_reading_minute WHERE "
                  "robot_id = $3::int AND minute >= $1::timestamptz AND minute < $2::timestamptz "
                  "AND $5::text IS NOT NULL ORDER BY minute",
                  5, pb, err, errlen);
        if (!r) return -1;
    }
    s->n = (size_t)PQntuples(r);
    s->t = xmalloc((s->n ? s->n : 1) * sizeof *s->t);
    s->lo = xmalloc((s->n ? s->n : 1) * sizeof *s->lo);
    s->hi = xmalloc((s->n ? s->n : 1) * sizeof *s->hi);
    for (size_t i = 0; i < s->n; i++) {
        s->t[i] = num(r, (int)i, 0);
        s->lo[i] = num(r, (int)i, 1);
        s->hi[i] = num(r, (int)i, 2);
    }
    PQclear(r);
    const char *ps[] = {s->from_text, s->to_text, d->detect_consumer, robot, axis};
    r = query(conn,
              "SELECT extract(epoch FROM ts_start), extract(epoch FROM ts_end), level = 'ERROR' "
              "FROM anomaly WHERE consumer = $3 AND robot_id = $4::int AND (axis = $5::int OR axis IS NULL) "
              "AND ts_end >= $1::timestamptz AND ts_start < $2::timestamptz ORDER BY ts_start",
              5, ps, err, errlen);
    if (!r) return -1;
    s->nspans = (size_t)PQntuples(r);
    s->spans = xcalloc(s->nspans ? s->nspans : 1, sizeof *s->spans);
    for (size_t i = 0; i < s->nspans; i++) {
        s->spans[i].t0 = num(r, (int)i, 0);
        s->spans[i].t1 = num(r, (int)i, 1);
        s->spans[i].error = PQgetvalue(r, (int)i, 2)[0] == 't';
        if (s->spans[i].error) s->errors++;
        else s->alerts++;
    }
    PQclear(r);
    return 0;
}

/* The robots with the most anomaly episodes (or, without any, the first robots). */
static int load_streams(PGconn *conn, report_data *d, char *err, size_t errlen)
{
    const char *p[] = {d->from_text, d->to_text, d->detect_consumer};
    PGresult *r = query(conn,
                        "SELECT robot_id FROM (SELECT robot_id, count(*) n FROM anomaly WHERE consumer = $3 "
                        "AND ts_start >= $1::timestamptz AND ts_start < $2::timestamptz GROUP BY 1 "
                        "UNION ALL SELECT DISTINCT robot_id, 0 FROM dw.fact_reading_hour WHERE hour >= "
                        "date_trunc('hour', $1::timestamptz, 'UTC') AND hour < $2::timestamptz) y "
                        "GROUP BY robot_id ORDER BY sum(n) DESC, robot_id LIMIT 4",
                        3, p, err, errlen);
    if (!r) return -1;
    d->nstream = (size_t)PQntuples(r);
    for (size_t i = 0; i < d->nstream; i++) d->stream[i].robot = atoi(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    /* Robots without episodes only fill in when there are none with. */
    for (size_t i = 0; i < d->nstream; i++) {
        if (load_stream(conn, d, &d->stream[i], err, errlen)) return -1;
        if (i > 0 && d->stream[i].nspans == 0 && d->stream[0].nspans > 0) {
            d->nstream = i;
            break;
        }
    }
    return 0;
}

/* Forecasts at the shortest horizon, each against the reading nearest its target time (within
 * 10 s; a tie goes to the later reading).
 *
 * Two forms, by whether `reading` is distributed. On a single PostgreSQL, NEAREST: a LATERAL
 * of two index probes per target (63 ms for test_report's 3,654 targets). Citus refuses it
 * (a LATERAL from the coordinator-local `prediction` into the distributed `reading`: "complex
 * joins are only supported when all distributed tables are co-located and joined on their
 * distribution columns"), and a plain range join is not an answer for both: on a single
 * PostgreSQL its plan is a merge join by robot alone (2.6 s there, 40x). On Citus, NEAREST_JOIN:
 * each target (computed on the coordinator, then sent to every shard's query) joined with its
 * robot's readings of the two 20-s buckets its window touches (an equality Citus pushes down
 * with the robot and the worker hashes; Citus takes only immutable expressions in VALUES, hence
 * the offsets joined rather than each target's buckets listed), and the nearest kept by
 * DISTINCT ON. The same figures (equal by md5 on test_report's data; test_citus_apps: the same
 * report.html as a single server's), but 1.7x NEAREST's time on a single PostgreSQL (107
 * against 62 ms: it reads every reading of the period), hence NEAREST kept there. */
#define NEAREST_BUCKETS "CROSS JOIN (VALUES (-0.5), (0.5)) k(o)"
#define NEAREST_JOIN(t)                                                                            \
    "JOIN reading r ON r.robot_id = " t ".robot_id AND floor(extract(epoch FROM r.ts) / 20) = "  \
    "floor(extract(epoch FROM " t ".target_ts) / 20 + k.o) "                                      \
    "AND r.ts >= " t ".target_ts - interval '10 s' AND r.ts <= " t ".target_ts + interval '10 s' " \
    "AND r.ts >= $1::timestamptz - interval '10 s' AND r.ts < $2::timestamptz + interval '10 s' "
#define NEAREST_ORDER(t) "abs(extract(epoch FROM r.ts - " t ".target_ts)), r.ts DESC"
#define NEAREST                                                                                   \
    "CROSS JOIN LATERAL (SELECT * FROM ("                                                        \
    "(SELECT * FROM reading x WHERE x.robot_id = t.robot_id AND x.ts >= t.target_ts AND "         \
    "x.ts <= t.target_ts + interval '10 s' ORDER BY x.ts LIMIT 1) UNION ALL "                     \
    "(SELECT * FROM reading x WHERE x.robot_id = t.robot_id AND x.ts < t.target_ts AND "          \
    "x.ts >= t.target_ts - interval '10 s' ORDER BY x.ts DESC LIMIT 1)) n "                       \
    "ORDER BY abs(extract(epoch FROM n.ts - t.target_ts)), n.ts DESC LIMIT 1) r "

static int load_forecasts(PGconn *conn, report_data *d, char *err, size_t errlen)
{
    if (!d->learn_consumer[0]) return 0;
    int citus;
    if (citus_reading_distributed(conn, &citus, err, errlen)) return -1;
    const char *p[] = {d->from_text, d->to_text, d->learn_consumer};
    PGresult *r = query(conn,
                        "SELECT min(horizon) FROM prediction WHERE consumer = $3 AND kind = 'forecast' "
                        "AND target_ts >= $1::timestamptz AND target_ts < $2::timestamptz",
                        3, p, err, errlen);
    if (!r) return -1;
    int horizon = PQgetisnull(r, 0, 0) ? 0 : atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (horizon <= 0) return 0;
    char h[16];
    snprintf(h, sizeof h, "%d", horizon);
    const char *ph[] = {d->from_text, d->to_text, d->learn_consumer, h};
    /* One row per target (its axes' forecasts as arrays), one nearest reading each, then the
     * axes unnested: no join back to prediction, whose plan went wrong (a nested loop over
     * every forecast) on tables not yet analysed. */
#define FC_TARGETS                                                                                \
    "WITH t AS (SELECT robot_id, target_ts, array_agg(axis) ax, array_agg(value) val "             \
    "FROM prediction WHERE consumer = $3 AND kind = 'forecast' AND horizon = $4::int "             \
    "AND target_ts >= $1::timestamptz AND target_ts < $2::timestamptz GROUP BY 1, 2), "
#define FC_READINGS "r.axis1, r.axis2, r.axis3, r.axis4, r.axis5, r.axis6, r.axis7, r.axis8"
#define FC_FIGURES                                                                                \
    "j AS (SELECT u.axis, u.f, " AXIS_CASE("u.axis") " v, " RUNNING " running "                   \
    "FROM a CROSS JOIN LATERAL unnest(a.ax, a.val) u(axis, f)) "                                  \
    "SELECT axis, count(*) FILTER (WHERE running), count(*) FILTER (WHERE NOT running), "         \
    "avg(abs(v - f)) FILTER (WHERE running), "                                                    \
    "sum((v - f) ^ 2) FILTER (WHERE running), "                                                   \
    "var_pop(v) FILTER (WHERE running) * count(*) FILTER (WHERE running) "                        \
    "FROM j GROUP BY axis ORDER BY axis"
    r = query(conn,
              citus ? FC_TARGETS "a AS (SELECT DISTINCT ON (t.robot_id, t.target_ts) t.ax, t.val, "
                                 FC_READINGS " FROM t " NEAREST_BUCKETS " " NEAREST_JOIN("t")
                                 "ORDER BY t.robot_id, t.target_ts, " NEAREST_ORDER("t") "), " FC_FIGURES
                    : FC_TARGETS "a AS (SELECT t.ax, t.val, " FC_READINGS " FROM t " NEAREST "), " FC_FIGURES,
              4, ph, err, errlen);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int a = atoi(PQgetvalue(r, i, 0));
        if (a < 1 || a > REPORT_AXES) continue;
        report_forecast *f = &d->forecast[a - 1];
        f->axis = a;
        f->horizon = horizon;
        f->n = count(r, i, 1);
        f->idle = count(r, i, 2);
        f->mae = num(r, i, 3);
        double sse = num(r, i, 4), sst = num(r, i, 5);
        f->r2 = sst > 0 ? 1 - sse / sst : NAN;
        d->has_forecast = 1;
    }
    PQclear(r);

    /* The chart: the last forecasts of one robot (the streaming charts' first). */
    char robot[16];
    snprintf(robot, sizeof robot, "%d", d->nstream ? d->stream[0].robot : 0);
    for (int a = 1; a <= REPORT_AXES; a++) {
        report_forecast *f = &d->forecast[a - 1];
        f->axis = a;
        f->robot = d->nstream ? d->stream[0].robot : 0;
        char axis[16], lim[16];
        snprintf(axis, sizeof axis, "%d", a);
        snprintf(lim, sizeof lim, "%d", REPORT_FC_WINDOW);
        const char *pc[] = {d->from_text, d->to_text, d->learn_consumer, h, robot, axis, lim};
#define FC_LAST                                                                                   \
    "(SELECT * FROM prediction WHERE consumer = $3 AND kind = 'forecast' AND horizon = $4::int "   \
    "AND robot_id = $5::int AND axis = $6::int AND target_ts >= $1::timestamptz AND "              \
    "target_ts < $2::timestamptz ORDER BY target_ts DESC LIMIT $7::int)"
        r = query(conn,
                  citus ? "WITH t AS MATERIALIZED " FC_LAST " SELECT * FROM (SELECT DISTINCT ON "
                          "(t.target_ts) extract(epoch FROM t.target_ts), t.value, " AXIS_CASE("t.axis")
                          " FROM t " NEAREST_BUCKETS " " NEAREST_JOIN("t") "ORDER BY "
                          "t.target_ts, " NEAREST_ORDER("t") ") c ORDER BY 1"
                        : "SELECT * FROM (SELECT extract(epoch FROM t.target_ts), t.value, "
                          AXIS_CASE("t.axis") " FROM " FC_LAST " t " NEAREST ") c ORDER BY 1",
                  7, pc, err, errlen);
        if (!r) return -1;
        f->nchart = (size_t)PQntuples(r);
        for (size_t i = 0; i < f->nchart; i++) {
            f->t[i] = num(r, (int)i, 0);
            f->pred[i] = num(r, (int)i, 1);
            f->actual[i] = num(r, (int)i, 2);
        }
        PQclear(r);
    }
    return 0;
}

/* The registered models' figures (champion and challenger) and the forecaster's latest. */
static int load_metrics(PGconn *conn, report_data *d, char *err, size_t errlen)
{
    if (!d->learn_consumer[0]) return 0;
    const char *p[] = {d->learn_consumer};
    PGresult *r = query(
        conn,
        "SELECT mv.name || ' v' || mv.version || ' (' || mv.alias || ')', e.key, e.value::text "
        "FROM model_version mv CROSS JOIN LATERAL jsonb_each(mv.metrics) e "
        "WHERE mv.consumer = $1 AND mv.alias IS NOT NULL AND jsonb_typeof(e.value) = 'number' "
        "UNION ALL SELECT * FROM (SELECT DISTINCT ON (r.name, m.key) r.name || coalesce(' (' || "
        "(SELECT mv.alias FROM model_version mv WHERE mv.run_id = r.run_id AND mv.alias IS NOT NULL "
        "LIMIT 1) || ')', ''), m.key, m.value::text "
        "FROM run r JOIN run_metric m USING (run_id) WHERE r.consumer = $1 "
        "ORDER BY r.name, m.key, m.step DESC) f ORDER BY 1, 2",
        1, p, err, errlen);
    if (!r) return -1;
    d->nmetrics = (size_t)PQntuples(r);
    d->metrics = xcalloc(d->nmetrics ? d->nmetrics : 1, sizeof *d->metrics);
    for (size_t i = 0; i < d->nmetrics; i++) {
        report_metric *m = &d->metrics[i];
        text(m->model, sizeof m->model, r, (int)i, 0);
        text(m->key, sizeof m->key, r, (int)i, 1);
        m->value = num(r, (int)i, 2);
    }
    PQclear(r);
    return 0;
}

int report_data_load(PGconn *conn, const char *from, const char *to, report_data *d, char *err,
                     size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (load_period(conn, from, to, d, err, errlen) || load_axes(conn, d, err, errlen) ||
        load_events(conn, d, err, errlen) || load_streams(conn, d, err, errlen) ||
        load_forecasts(conn, d, err, errlen) || load_metrics(conn, d, err, errlen))
        return -1;
    return 0;
}

void report_data_free(report_data *d)
{
    for (size_t i = 0; i < REPORT_MAX_ROBOTS; i++) {
        free(d->stream[i].t);
        free(d->stream[i].lo);
        free(d->stream[i].hi);
        free(d->stream[i].spans);
    }
    free(d->detect);
    free(d->metrics);
    memset(d, 0, sizeof *d);
}
