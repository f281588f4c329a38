/* report_data: the report's queries (see report_data.h). Each load_* step runs one or a few
 * statements over the period and fills its part of the struct; numbers come back as text and
 * are parsed here, so nothing else depends on libpq. */
#include "report_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "util.h"

/* The reading's columns by axis, for SQL built here (never from input). */
#define AXIS_CASE(var)                                                                           \
    "CASE " var " WHEN 1 THEN axis1 WHEN 2 THEN axis2 WHEN 3 THEN axis3 WHEN 4 THEN axis4 "        \
    "WHEN 5 THEN axis5 WHEN 6 THEN axis6 WHEN 7 THEN axis7 ELSE axis8 END"
#define RUNNING "(axis1 <> 0 OR axis2 <> 0 OR axis3 <> 0 OR axis4 <> 0 OR axis5 <> 0 OR " \
                "axis6 <> 0 OR axis7 <> 0 OR axis8 <> 0)"
#define AXES_UNPIVOT                                                                             \
    "CROSS JOIN LATERAL (VALUES (1, axis1), (2, axis2), (3, axis3), (4, axis4), (5, axis5), "    \
    "(6, axis6), (7, axis7), (8, axis8)) x(a, v)"
#define STR_(x) #x
#define STR(x) STR_(x)
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

/* The period and the reading totals. */
static int load_period(PGconn *conn, const char *from, const char *to, report_data *d, char *err,
                       size_t errlen)
{
    const char *p[] = {from, to};
    PGresult *r = query(conn,
                        "WITH b AS (SELECT coalesce($1::timestamptz, (SELECT min(ts) FROM reading)) f, "
                        "coalesce($2::timestamptz, (SELECT max(ts) FROM reading) + interval '1 ms') t) "
                        "SELECT extract(epoch FROM f), extract(epoch FROM t), "
                        "to_char(f AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
                        "to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM b",
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
    const char *q[] = {d->from_text, d->to_text};
    r = query(conn,
              "SELECT count(*), count(DISTINCT robot_id), count(*) FILTER (WHERE NOT " RUNNING ") "
              "FROM reading WHERE " PERIOD,
              2, q, err, errlen);
    if (!r) return -1;
    d->readings = count(r, 0, 0);
    d->robots = count(r, 0, 1);
    d->idle_rows = count(r, 0, 2);
    PQclear(r);
    if (d->readings == 0)
        return util_err(err, errlen, "no readings from %s to %s", d->from_text, d->to_text);
    return 0;
}

/* Parses "{a,b,c}" into up to n doubles; returns how many. */
static size_t parse_array(const char *s, double *out, size_t n)
{
    size_t k = 0;
    if (*s == '{') s++;
    while (*s && *s != '}' && k < n) {
        char *end;
        out[k++] = strtod(s, &end);
        if (end == s) break;
        s = end;
        if (*s == ',') s++;
    }
    return k;
}

static int load_axes(PGconn *conn, report_data *d, char *err, size_t errlen)
{
    const char *p[] = {d->from_text, d->to_text};
    PGresult *r = query(
        conn,
        "SELECT a, count(*), count(*) FILTER (WHERE v = 0), avg(v), stddev_pop(v), "
        "avg(v) FILTER (WHERE v <> 0), stddev_pop(v) FILTER (WHERE v <> 0), "
        "percentile_cont(ARRAY[0.5, 0.9, 0.99, 0.001, 0.995]) WITHIN GROUP (ORDER BY v) "
        "FILTER (WHERE v <> 0), min(v) FILTER (WHERE v <> 0), max(v) FILTER (WHERE v <> 0) "
        "FROM reading " AXES_UNPIVOT " WHERE " PERIOD " GROUP BY a ORDER BY a",
        2, p, err, errlen);
    if (!r) return -1;
    char lo[REPORT_AXES * 32 + 4] = "{", hi[REPORT_AXES * 32 + 4] = "{";
    for (int i = 0; i < PQntuples(r); i++) {
        int a = atoi(PQgetvalue(r, i, 0));
        if (a < 1 || a > REPORT_AXES) continue;
        report_axis *x = &d->axis[a - 1];
        x->n = count(r, i, 1);
        x->zeros = count(r, i, 2);
        x->mean = num(r, i, 3);
        x->std = num(r, i, 4);
        x->run_mean = num(r, i, 5);
        x->run_std = num(r, i, 6);
        double q[5] = {NAN, NAN, NAN, NAN, NAN};
        if (!PQgetisnull(r, i, 7)) parse_array(PQgetvalue(r, i, 7), q, 5);
        x->p50 = q[0];
        x->p90 = q[1];
        x->p99 = q[2];
        x->lo = num(r, i, 8);
        x->hi = num(r, i, 9);
        /* Bins from the 0.1 % to the 99.5 % quantile of the non-zero values (the tails are
         * counted apart: spikes would otherwise squeeze the body into a few bins). */
        double blo = isfinite(q[3]) ? q[3] : 0, bhi = isfinite(q[4]) ? q[4] : 1;
        if (!(bhi > blo)) bhi = blo + 1;
        x->bin_lo = blo;
        x->bin_w = (bhi - blo) / REPORT_HIST_BINS;
    }
    PQclear(r);
    for (int a = 0; a < REPORT_AXES; a++) {
        size_t n = strlen(lo);
        snprintf(lo + n, sizeof lo - n, "%s%.17g", a ? "," : "", d->axis[a].bin_lo);
        n = strlen(hi);
        snprintf(hi + n, sizeof hi - n, "%s%.17g", a ? "," : "",
                 d->axis[a].bin_lo + d->axis[a].bin_w * REPORT_HIST_BINS);
    }
    strcat(lo, "}");
    strcat(hi, "}");
    const char *ph[] = {d->from_text, d->to_text, lo, hi};
    r = query(conn,
              "SELECT a, width_bucket(v, ($3::float8[])[a], ($4::float8[])[a], " STR(REPORT_HIST_BINS)
              "), count(*) FROM reading " AXES_UNPIVOT " WHERE " PERIOD " AND v <> 0 GROUP BY 1, 2",
              4, ph, err, errlen);
    if (!r) return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int a = atoi(PQgetvalue(r, i, 0)), b = atoi(PQgetvalue(r, i, 1));
        if (a < 1 || a > REPORT_AXES) continue;
        if (b >= 1 && b <= REPORT_HIST_BINS) d->axis[a - 1].bins[b - 1] += count(r, i, 2);
        else d->axis[a - 1].outside += count(r, i, 2);
    }
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
    PGresult *r = query(
        conn,
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
        "(SELECT count(*) FROM anomaly a, (SELECT coalesce(max(ts_end - ts_start), '0') + "
        "interval '60 s' d FROM fault) m WHERE consumer = $3 AND a.ts_start >= $1::timestamptz AND "
        "a.ts_start < $2::timestamptz AND EXISTS (SELECT 1 FROM fault f WHERE f.robot_id = a.robot_id "
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

    r = query(conn,
              "SELECT f.kind, f.level = 'ERROR', count(*), count(*) FILTER (WHERE EXISTS ("
              "SELECT 1 FROM anomaly a WHERE a.consumer = $3 AND a.robot_id = f.robot_id "
              "AND (a.axis IS NULL OR f.axis IS NULL OR a.axis = f.axis) "
              "AND a.ts_start <= f.ts_end + interval '60 s' AND a.ts_start >= f.ts_start - m.d "
              "AND a.ts_end >= f.ts_start - interval '60 s')) "
              "FROM fault f, (SELECT coalesce(max(ts_end - ts_start), '0') + interval '60 s' d "
              "FROM anomaly WHERE consumer = $3) m "
              "WHERE f.ts_start >= $1::timestamptz AND f.ts_start < $2::timestamptz "
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
                        "UNION ALL SELECT robot_id, 0 FROM (SELECT DISTINCT robot_id FROM reading WHERE "
                        PERIOD ") x) y GROUP BY robot_id ORDER BY sum(n) DESC, robot_id LIMIT 4",
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

/* Forecasts at the shortest horizon, each against the reading nearest its target time. */
#define NEAREST                                                                                   \
    "CROSS JOIN LATERAL (SELECT * FROM ("                                                        \
    "(SELECT * FROM reading x WHERE x.robot_id = t.robot_id AND x.ts >= t.target_ts AND "         \
    "x.ts <= t.target_ts + interval '10 s' ORDER BY x.ts LIMIT 1) UNION ALL "                     \
    "(SELECT * FROM reading x WHERE x.robot_id = t.robot_id AND x.ts < t.target_ts AND "          \
    "x.ts >= t.target_ts - interval '10 s' ORDER BY x.ts DESC LIMIT 1)) n "                       \
    "ORDER BY abs(extract(epoch FROM n.ts - t.target_ts)) LIMIT 1) r "

static int load_forecasts(PGconn *conn, report_data *d, char *err, size_t errlen)
{
    if (!d->learn_consumer[0]) return 0;
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
    r = query(conn,
              "WITH t AS (SELECT DISTINCT robot_id, target_ts FROM prediction WHERE consumer = $3 "
              "AND kind = 'forecast' AND horizon = $4::int AND target_ts >= $1::timestamptz "
              "AND target_ts < $2::timestamptz), "
              "a AS MATERIALIZED (SELECT t.robot_id, t.target_ts, r.axis1, r.axis2, r.axis3, r.axis4, "
              "r.axis5, r.axis6, r.axis7, r.axis8 FROM t " NEAREST "), "
              "j AS (SELECT p.axis, p.value f, " AXIS_CASE("p.axis") " v, " RUNNING " running "
              "FROM prediction p JOIN a USING (robot_id, target_ts) WHERE p.consumer = $3 AND "
              "p.kind = 'forecast' AND p.horizon = $4::int) "
              "SELECT axis, count(*) FILTER (WHERE running), count(*) FILTER (WHERE NOT running), "
              "avg(abs(v - f)) FILTER (WHERE running), "
              "sum((v - f) ^ 2) FILTER (WHERE running), "
              "var_pop(v) FILTER (WHERE running) * count(*) FILTER (WHERE running) "
              "FROM j GROUP BY axis ORDER BY axis",
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
        r = query(conn,
                  "SELECT * FROM (SELECT extract(epoch FROM t.target_ts), t.value, " AXIS_CASE("t.axis")
                  " FROM (SELECT * FROM prediction WHERE consumer = $3 AND kind = 'forecast' AND "
                  "horizon = $4::int AND robot_id = $5::int AND axis = $6::int AND "
                  "target_ts >= $1::timestamptz AND target_ts < $2::timestamptz "
                  "ORDER BY target_ts DESC LIMIT $7::int) t " NEAREST ") c ORDER BY 1",
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
