/* stage_warehouse: the `warehouse` stage.
 *
 * Rows go into per-(robot, minute) aggregates (dw_agg). At commit, inside the consumer's
 * transaction, the minute cells are merged into hour cells and those into day cells (the
 * increments of this commit at each grain), then for each grain the rows already stored for
 * the touched keys are read, merged with the increments in C and written back in one upsert.
 * Merging is exact and order-free (dw_agg.h), so an hour or day row written this way equals the
 * one recomputed from its minutes (dw.rollup), without reading the minutes: a late reading costs
 * one minute, one hour and one day row. dw.dim_time gets the minutes written, then the feeds
 * run (dw.sync_feeds). The stage saves no blob: the consumer delivers again whatever a failed
 * commit did not write. */
#include "stage_warehouse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copybin.h"
#include "pgarray.h"
#include "pgconn.h"
#include "tstamp.h"
#include "util.h"

#define WH_OID_INT4 23
#define WH_OID_TIMESTAMPTZ 1184
#define WH_OID_DATE 1082
#define WH_PG_EPOCH_DAYS 10957

static const char *const wh_tables[3] = {"dw.fact_reading_minute", "dw.fact_reading_hour",
                                         "dw.fact_reading_day"};
static const char *const wh_columns[3] = {"minute", "hour", "day"};

const char *warehouse_table(warehouse_level level)
{
    return wh_tables[level];
}

const char *warehouse_column(warehouse_level level)
{
    return wh_columns[level];
}

/* The column list "robot_id, minute, rows, active, n1, s1, q1, mn1, mx1, h1, ..." with an
 * optional prefix ("f.") on each name. */
static void wh_columns_list(buf *b, warehouse_level level, const char *prefix)
{
    buf_printf(b, "%srobot_id, %s%s, %srows, %sactive", prefix, prefix, wh_columns[level], prefix,
               prefix);
    for (int a = 1; a <= READING_AXES; a++)
        buf_printf(b, ", %sn%d, %ss%d, %sq%d, %smn%d, %smx%d, %sh%d", prefix, a, prefix, a, prefix,
                   a, prefix, a, prefix, a, prefix, a);
}

/* The statements of a level, built once. */
static const char *wh_upsert_sql(warehouse_level level)
{
    static char *sql[3];
    if (sql[level]) return sql[level];
    const char *ktype = level == WAREHOUSE_DAY ? "date" : "timestamptz";
    buf b = {0};
    buf_printf(&b, "INSERT INTO %s (", wh_tables[level]);
    wh_columns_list(&b, level, "");
    buf_puts(&b, ") SELECT u.r, u.k, u.rows, u.act");
    for (int a = 0; a < READING_AXES; a++) {
        int base = 4 + 7 * a; /* $base+1 .. $base+7: n s q mn mx h ho */
        buf_printf(&b, ", u.n%d, u.s%d, u.q%d, u.mn%d, u.mx%d, ($%d::int8[])[($%d::int4[])[u.i::int4] + 1 : "
                       "($%d::int4[])[u.i::int4 + 1]]",
                   a, a, a, a, a, base + 6, base + 7, base + 7);
    }
    buf_printf(&b, " FROM unnest($1::int4[], $2::%s[], $3::int4[], $4::int4[]", ktype);
    for (int a = 0; a < READING_AXES; a++) {
        int base = 4 + 7 * a;
        buf_printf(&b, ", $%d::int4[], $%d::numeric[], $%d::numeric[], $%d::float8[], $%d::float8[]",
                   base + 1, base + 2, base + 3, base + 4, base + 5);
    }
    buf_puts(&b, ") WITH ORDINALITY AS u(r, k, rows, act");
    for (int a = 0; a < READING_AXES; a++) buf_printf(&b, ", n%d, s%d, q%d, mn%d, mx%d", a, a, a, a, a);
    buf_printf(&b, ", i) ON CONFLICT (robot_id, %s) DO UPDATE SET rows = EXCLUDED.rows, active = "
                   "EXCLUDED.active",
               wh_columns[level]);
    for (int a = 1; a <= READING_AXES; a++)
        buf_printf(&b, ", n%d = EXCLUDED.n%d, s%d = EXCLUDED.s%d, q%d = EXCLUDED.q%d, mn%d = "
                       "EXCLUDED.mn%d, mx%d = EXCLUDED.mx%d, h%d = EXCLUDED.h%d",
                   a, a, a, a, a, a, a, a, a, a, a, a);
    buf_append(&b, "", 1);
    sql[level] = (char *)b.data;
    return sql[level];
}

static const char *wh_select_sql(warehouse_level level)
{
    static char *sql[3];
    if (sql[level]) return sql[level];
    buf b = {0};
    buf_puts(&b, "SELECT ");
    wh_columns_list(&b, level, "f.");
    buf_printf(&b, " FROM %s f JOIN unnest($1::int4[], $2::%s[]) AS k(r, t) ON f.robot_id = k.r "
                   "AND f.%s = k.t",
               wh_tables[level], level == WAREHOUSE_DAY ? "date" : "timestamptz", wh_columns[level]);
    buf_append(&b, "", 1);
    sql[level] = (char *)b.data;
    return sql[level];
}

/* The keys of the cells as two binary arrays (robot_id int4[], period timestamptz[] or
 * date[]). */
static void wh_keys(const dw_agg *cells, int as_date, buf *ids, buf *ts)
{
    pgarray_bin_header(ids, WH_OID_INT4, cells->n);
    pgarray_bin_header(ts, as_date ? WH_OID_DATE : WH_OID_TIMESTAMPTZ, cells->n);
    for (size_t i = 0; i < cells->cap; i++) {
        const dw_agg_cell *c = &cells->cells[i];
        if (!c->used) continue;
        uint8_t v[8];
        copybin_put32(v, (uint32_t)c->robot);
        pgarray_bin_elem(ids, v, 4);
        if (as_date) {
            copybin_put32(v, (uint32_t)(int32_t)(c->t / DW_AGG_DAY_US - WH_PG_EPOCH_DAYS));
            pgarray_bin_elem(ts, v, 4);
        } else {
            copybin_put64(v, (uint64_t)(c->t - COPYBIN_PG_EPOCH_US));
            pgarray_bin_elem(ts, v, 8);
        }
    }
}

/* Merges the stored rows of the cells' keys into the cells. */
static int wh_read_back(PGconn *conn, warehouse_level level, dw_agg *cells, char *err,
                        size_t errlen)
{
    int as_date = level == WAREHOUSE_DAY;
    buf ids = {0}, ts = {0};
    wh_keys(cells, as_date, &ids, &ts);
    const char *p[] = {(const char *)ids.data, (const char *)ts.data};
    int lens[] = {(int)ids.len, (int)ts.len};
    int fmts[] = {1, 1};
    PGresult *r = PQexecParams(conn, wh_select_sql(level), 2, NULL, p, lens, fmts, 1);
    buf_free(&ids);
    buf_free(&ts);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = -1;
    } else if (PQnfields(r) != DW_AGG_NFIELDS) {
        rc = util_err(err, errlen, "%s: %d columns read, expected %d", wh_tables[level],
                      PQnfields(r), DW_AGG_NFIELDS);
    } else {
        const char *vals[DW_AGG_NFIELDS];
        int vl[DW_AGG_NFIELDS];
        for (int i = 0; i < PQntuples(r) && !rc; i++) {
            for (int f = 0; f < DW_AGG_NFIELDS; f++) {
                vals[f] = PQgetvalue(r, i, f);
                vl[f] = PQgetisnull(r, i, f) ? -1 : PQgetlength(r, i, f);
            }
            if (dw_agg_read_row(cells, as_date, vals, vl))
                rc = util_err(err, errlen, "%s: row %d has a value out of range", wh_tables[level], i);
        }
    }
    PQclear(r);
    return rc;
}

int warehouse_write(PGconn *conn, warehouse_level level, dw_agg *cells, dw_agg_params *p, int add,
                    char *err, size_t errlen)
{
    if (!cells->n) return 0;
    if (add && wh_read_back(conn, level, cells, err, errlen)) return -1;
    dw_agg_params_reset(p, level == WAREHOUSE_DAY);
    for (size_t i = 0; i < cells->cap; i++)
        if (cells->cells[i].used) dw_agg_params_add(p, &cells->cells[i]);
    const char *values[DW_AGG_NPARAMS];
    int lens[DW_AGG_NPARAMS], fmts[DW_AGG_NPARAMS];
    dw_agg_params_end(p, values, lens);
    for (int i = 0; i < DW_AGG_NPARAMS; i++) fmts[i] = 1;
    PGresult *r = PQexecParams(conn, wh_upsert_sql(level), DW_AGG_NPARAMS, NULL, values, lens,
                               fmts, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

static int wh_cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

int warehouse_ensure_time(PGconn *conn, const dw_agg *minutes, char *err, size_t errlen)
{
    if (!minutes->n) return 0;
    int64_t *t = xmalloc(minutes->n * sizeof *t);
    size_t n = 0;
    for (size_t i = 0; i < minutes->cap; i++)
        if (minutes->cells[i].used) t[n++] = minutes->cells[i].t;
    qsort(t, n, sizeof *t, wh_cmp_i64);
    pgarray lo = {0}, hi = {0};
    char s[40];
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && t[j + 1] - t[j] <= DW_AGG_MINUTE_US) j++;
        tstamp_format(t[i], s, sizeof s);
        pgarray_str(&lo, s);
        tstamp_format(t[j] + DW_AGG_MINUTE_US, s, sizeof s);
        pgarray_str(&hi, s);
        i = j + 1;
    }
    free(t);
    const char *p[] = {pgarray_end(&lo), pgarray_end(&hi)};
    int rc = pgconn_query(conn,
                          "SELECT count(dw.ensure_time(l, h)) FROM unnest($1::timestamptz[], "
                          "$2::timestamptz[]) AS x(l, h)",
                          2, p, PGRES_TUPLES_OK, NULL, err, errlen);
    pgarray_free(&lo);
    pgarray_free(&hi);
    return rc;
}

int warehouse_lock(PGconn *conn, int exclusive, char *err, size_t errlen)
{
    return pgconn_exec(conn,
                       exclusive ? "LOCK TABLE dw.fact_reading_minute IN SHARE ROW EXCLUSIVE MODE"
                                 : "LOCK TABLE dw.fact_reading_minute IN ROW EXCLUSIVE MODE",
                       err, errlen);
}

/* ---- The stage ---- */

typedef struct wh_stage {
    char *consumer;
    dw_agg minutes, hours, days; /* this commit's increments */
    dw_agg_params params;        /* scratch of the writes */
} wh_stage;

static void *wh_open(const uint8_t *state, size_t len, const stream_ctx *ctx, PGconn *conn,
                     char *err, size_t errlen)
{
    (void)state;
    (void)len;
    /* The schema is there (a consumer of an older schema fails here rather than at commit). */
    PGresult *r = NULL;
    if (pgconn_query(conn, "SELECT to_regclass('dw.fact_reading_minute') IS NOT NULL", 0, NULL,
                     PGRES_TUPLES_OK, &r, err, errlen))
        return NULL;
    int ok = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!ok) {
        util_err(err, errlen, "the warehouse schema (dw) is missing: run pgpulse init");
        return NULL;
    }
    wh_stage *s = xcalloc(1, sizeof *s);
    s->consumer = xstrdup(ctx->consumer);
    dw_agg_init(&s->minutes, DW_AGG_MINUTE_US);
    dw_agg_init(&s->hours, DW_AGG_HOUR_US);
    dw_agg_init(&s->days, DW_AGG_DAY_US);
    return s;
}

static void wh_rows(void *stage, const reading *rows, size_t n)
{
    wh_stage *s = stage;
    dw_agg_add(&s->minutes, rows, n);
}

static int wh_commit(void *stage, PGconn *conn, buf *state, char *err, size_t errlen)
{
    (void)state;
    wh_stage *s = stage;
    int rc = 0;
    if (s->minutes.n) {
        /* The increments of the hours and days, before the minutes take in what is stored. */
        dw_agg_merge_into(&s->hours, &s->minutes);
        dw_agg_merge_into(&s->days, &s->hours);
        rc = warehouse_lock(conn, 0, err, errlen) ||
             warehouse_write(conn, WAREHOUSE_MINUTE, &s->minutes, &s->params, 1, err, errlen) ||
             warehouse_write(conn, WAREHOUSE_HOUR, &s->hours, &s->params, 1, err, errlen) ||
             warehouse_write(conn, WAREHOUSE_DAY, &s->days, &s->params, 1, err, errlen) ||
             warehouse_ensure_time(conn, &s->minutes, err, errlen);
    }
    if (!rc) {
        const char *p[] = {s->consumer};
        rc = pgconn_query(conn, "SELECT dw.sync_feeds($1)", 1, p, PGRES_TUPLES_OK, NULL, err, errlen);
    }
    /* Written, or to be delivered again (the consumer reopens the stage after a failure). */
    dw_agg_reset(&s->minutes);
    dw_agg_reset(&s->hours);
    dw_agg_reset(&s->days);
    return rc ? -1 : 0;
}

static void wh_free(void *stage)
{
    wh_stage *s = stage;
    if (!s) return;
    free(s->consumer);
    dw_agg_free(&s->minutes);
    dw_agg_free(&s->hours);
    dw_agg_free(&s->days);
    dw_agg_params_free(&s->params);
    free(s);
}

const stream_stage_ops stage_warehouse_ops = {
    .name = "warehouse",
    .open = wh_open,
    .rows = wh_rows,
    .commit = wh_commit,
    .free = wh_free,
};
