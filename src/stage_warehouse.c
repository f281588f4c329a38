/* stage_warehouse: the `warehouse` stage.
 *
 * Rows go into per-(robot, minute) aggregates (dw_agg). At commit, inside the consumer's
 * transaction, the minute cells are merged into hour cells and those into day cells (the
 * increments of this commit at each grain), then for each grain the rows already stored for
 * the touched keys are read, merged with the increments in C and written back in one upsert.
 * Merging is exact and order-free (dw_agg.h), so an hour or day row written this way equals the
 * one recomputed from its minutes (dw.rollup), without reading the minutes: a late reading costs
 * one minute, one hour and one day row. Running time (run_us) is the exception to "sum the
 * increments": a minute's is a function of its rows and active, so each rewritten minute's
 * change is added to its hour and day (wh_run_deltas). The rows the last commit wrote are kept
 * in memory and used instead of a read-back when the table still holds them (wh_from_last).
 * dw.dim_time gets the minutes written, then the feeds run (dw.sync_feeds). The stage saves no
 * blob: the consumer delivers again whatever a failed commit did not write. */
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

/* The column list "robot_id, minute, rows, active, n1, s1, q1, mn1, mx1, h1, ..., run_us" with
 * an optional prefix ("f.") on each name; without run_us if !run_us. */
static void wh_columns_list(buf *b, warehouse_level level, const char *prefix, int run_us)
{
    buf_printf(b, "%srobot_id, %s%s, %srows, %sactive", prefix, prefix, wh_columns[level], prefix,
               prefix);
    for (int a = 1; a <= READING_AXES; a++)
        buf_printf(b, ", %sn%d, %ss%d, %sq%d, %smn%d, %smx%d, %sh%d", prefix, a, prefix, a, prefix,
                   a, prefix, a, prefix, a, prefix, a);
    if (run_us) buf_printf(b, ", %srun_us", prefix);
}

/* The parameters a level's upsert takes: all but run_us for minutes, whose run_us the table
 * generates from rows and active (sql/016). */
static int wh_nparams(warehouse_level level)
{
    return level == WAREHOUSE_MINUTE ? DW_AGG_NPARAMS - 1 : DW_AGG_NPARAMS;
}

/* The statements of a level, built once. */
static const char *wh_upsert_sql(warehouse_level level)
{
    static char *sql[3];
    if (sql[level]) return sql[level];
    const char *ktype = level == WAREHOUSE_DAY ? "date" : "timestamptz";
    buf b = {0};
    int ru = level != WAREHOUSE_MINUTE;
    buf_printf(&b, "INSERT INTO %s (", wh_tables[level]);
    wh_columns_list(&b, level, "", ru);
    buf_puts(&b, ") SELECT u.r, u.k, u.rows, u.act");
    for (int a = 0; a < READING_AXES; a++) {
        int base = 4 + 7 * a; /* $base+1 .. $base+7: n s q mn mx h ho */
        buf_printf(&b, ", u.n%d, u.s%d, u.q%d, u.mn%d, u.mx%d, ($%d::int8[])[($%d::int4[])[u.i::int4] + 1 : "
                       "($%d::int4[])[u.i::int4 + 1]]",
                   a, a, a, a, a, base + 6, base + 7, base + 7);
    }
    if (ru) buf_puts(&b, ", u.ru");
    buf_printf(&b, " FROM unnest($1::int4[], $2::%s[], $3::int4[], $4::int4[]", ktype);
    for (int a = 0; a < READING_AXES; a++) {
        int base = 4 + 7 * a;
        buf_printf(&b, ", $%d::int4[], $%d::numeric[], $%d::numeric[], $%d::float8[], $%d::float8[]",
                   base + 1, base + 2, base + 3, base + 4, base + 5);
    }
    if (ru) buf_printf(&b, ", $%d::int8[]", DW_AGG_NPARAMS);
    buf_puts(&b, ") WITH ORDINALITY AS u(r, k, rows, act");
    for (int a = 0; a < READING_AXES; a++) buf_printf(&b, ", n%d, s%d, q%d, mn%d, mx%d", a, a, a, a, a);
    buf_printf(&b, "%s, i) ON CONFLICT (robot_id, %s) DO UPDATE SET rows = EXCLUDED.rows, active = "
                   "EXCLUDED.active",
               ru ? ", ru" : "", wh_columns[level]);
    for (int a = 1; a <= READING_AXES; a++)
        buf_printf(&b, ", n%d = EXCLUDED.n%d, s%d = EXCLUDED.s%d, q%d = EXCLUDED.q%d, mn%d = "
                       "EXCLUDED.mn%d, mx%d = EXCLUDED.mx%d, h%d = EXCLUDED.h%d",
                   a, a, a, a, a, a, a, a, a, a, a, a);
    if (ru) buf_puts(&b, ", run_us = EXCLUDED.run_us");
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
    wh_columns_list(&b, level, "f.", 1);
    buf_printf(&b, " FROM %s f JOIN unnest($1::int4[], $2::%s[]) AS k(r, t) ON f.robot_id = k.r "
                   "AND f.%s = k.t",
               wh_tables[level], level == WAREHOUSE_DAY ? "date" : "timestamptz", wh_columns[level]);
    buf_append(&b, "", 1);
    sql[level] = (char *)b.data;
    return sql[level];
}

/* The keys of the cells as two binary arrays (robot_id int4[], period timestamptz[] or
 * date[]), leaving out the slots whose skip[slot] is set (skip may be NULL); returns the keys
 * written. */
static size_t wh_keys(const dw_agg *cells, const uint8_t *skip, int as_date, buf *ids, buf *ts)
{
    size_t n = 0;
    for (size_t i = 0; i < cells->cap; i++) n += cells->cells[i].used && !(skip && skip[i]);
    pgarray_bin_header(ids, WH_OID_INT4, n);
    pgarray_bin_header(ts, as_date ? WH_OID_DATE : WH_OID_TIMESTAMPTZ, n);
    for (size_t i = 0; i < cells->cap; i++) {
        const dw_agg_cell *c = &cells->cells[i];
        if (!c->used || (skip && skip[i])) continue;
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
    return n;
}

/* Merges the stored rows of the cells' keys into the cells, but for the slots whose skip[slot]
 * is set (skip may be NULL). */
static int wh_read_back(PGconn *conn, warehouse_level level, dw_agg *cells, const uint8_t *skip,
                        char *err, size_t errlen)
{
    int as_date = level == WAREHOUSE_DAY;
    buf ids = {0}, ts = {0};
    if (!wh_keys(cells, skip, as_date, &ids, &ts)) {
        buf_free(&ids);
        buf_free(&ts);
        return 0;
    }
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

/* Upserts the cells, each replacing its row. */
static int wh_upsert(PGconn *conn, warehouse_level level, dw_agg *cells, dw_agg_params *p,
                     char *err, size_t errlen)
{
    dw_agg_params_reset(p, level == WAREHOUSE_DAY);
    for (size_t i = 0; i < cells->cap; i++)
        if (cells->cells[i].used) dw_agg_params_add(p, &cells->cells[i]);
    const char *values[DW_AGG_NPARAMS];
    int lens[DW_AGG_NPARAMS], fmts[DW_AGG_NPARAMS];
    dw_agg_params_end(p, values, lens);
    for (int i = 0; i < DW_AGG_NPARAMS; i++) fmts[i] = 1;
    PGresult *r = PQexecParams(conn, wh_upsert_sql(level), wh_nparams(level), NULL, values, lens,
                               fmts, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pgconn_result_error(r, conn, err, errlen);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int warehouse_write(PGconn *conn, warehouse_level level, dw_agg *cells, dw_agg_params *p, int add,
                    char *err, size_t errlen)
{
    if (!cells->n) return 0;
    if (add && wh_read_back(conn, level, cells, NULL, err, errlen)) return -1;
    return wh_upsert(conn, level, cells, p, err, errlen);
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

/* The stage remembers the rows it wrote in its last commit (the merged cells, per level) and
 * the transaction that wrote them. A commit touching one of those keys again (the current
 * minute, hour and day of every robot, on a live stream) takes the row from memory instead of
 * reading it back, once the table confirms the row is still that transaction's version (its
 * xmin): a row another transaction rewrote since (a refresh) or removed is read back as usual.
 * The memory is the last commit's only, and it dies with the stage: the consumer closes every
 * stage after a failed commit, so it never holds a write that was rolled back. */
typedef struct wh_stage {
    char *consumer;
    dw_agg inc[3];         /* this commit's increments by level (merged rows once written) */
    dw_agg last[3];        /* the rows the last commit wrote, by level */
    char last_xid[24];     /* that commit's transaction id (32 bits, as xmin shows it); "" none */
    uint8_t *hit;          /* scratch: per slot of inc[level], the row came from last[level] */
    size_t hitcap;
    dw_agg_params params;  /* scratch of the writes */
} wh_stage;

/* Merges into the cells of s->inc[level] the rows of s->last[level] that the table still holds
 * as the last commit wrote them, marking their slots in s->hit; returns the rows merged, or -1
 * with a message. */
static long wh_from_last(wh_stage *s, PGconn *conn, warehouse_level level, char *err,
                         size_t errlen)
{
    dw_agg *cells = &s->inc[level], *last = &s->last[level];
    if (s->hitcap < cells->cap) {
        s->hit = xrealloc(s->hit, cells->cap);
        s->hitcap = cells->cap;
    }
    memset(s->hit, 0, cells->cap);
    if (!s->last_xid[0] || !last->n) return 0;
    /* Candidates: keys of this commit that the last one wrote. skip marks the others. */
    uint8_t *skip = xmalloc(cells->cap);
    size_t *slot = xmalloc(cells->n * sizeof *slot);
    size_t ncand = 0;
    for (size_t i = 0; i < cells->cap; i++) {
        const dw_agg_cell *c = &cells->cells[i];
        skip[i] = !c->used || !dw_agg_find(last, c->robot, c->t);
        if (!skip[i]) slot[ncand++] = i;
    }
    long merged = 0;
    if (ncand) {
        int as_date = level == WAREHOUSE_DAY;
        buf ids = {0}, ts = {0};
        wh_keys(cells, skip, as_date, &ids, &ts);
        char sql[512];
        snprintf(sql, sizeof sql,
                 "SELECT k.i FROM unnest($1::int4[], $2::%s[]) WITH ORDINALITY AS k(r, t, i) "
                 "JOIN %s f ON f.robot_id = k.r AND f.%s = k.t WHERE f.xmin = $3::xid",
                 as_date ? "date" : "timestamptz", wh_tables[level], wh_columns[level]);
        const char *p[] = {(const char *)ids.data, (const char *)ts.data, s->last_xid};
        int lens[] = {(int)ids.len, (int)ts.len, 0};
        int fmts[] = {1, 1, 0};
        PGresult *r = PQexecParams(conn, sql, 3, NULL, p, lens, fmts, 0);
        buf_free(&ids);
        buf_free(&ts);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pgconn_result_error(r, conn, err, errlen);
            merged = -1;
        } else {
            for (int i = 0; i < PQntuples(r); i++) {
                long k = atol(PQgetvalue(r, i, 0)); /* 1-based, over the candidates */
                if (k < 1 || (size_t)k > ncand) continue;
                dw_agg_cell *c = &cells->cells[slot[k - 1]];
                dw_agg_cell_merge(cells, c, dw_agg_find(last, c->robot, c->t));
                s->hit[slot[k - 1]] = 1;
                merged++;
            }
        }
        PQclear(r);
    }
    free(skip);
    free(slot);
    return merged;
}

/* Once the minutes hold their stored rows: each minute's running time becomes its own
 * (dw_agg_run_us of its merged rows and active, what the table will generate), and its change
 * from the stored one (summed into the cell by the merge) goes to its hour's and day's
 * increments, so that their run_us stays the sum of their minutes'. */
static void wh_run_deltas(wh_stage *s)
{
    dw_agg *m = &s->inc[WAREHOUSE_MINUTE];
    for (size_t i = 0; i < m->cap; i++) {
        dw_agg_cell *c = &m->cells[i];
        if (!c->used) continue;
        int64_t now = dw_agg_run_us(c->rows, c->active), delta = now - c->run_us;
        c->run_us = now;
        dw_agg_find(&s->inc[WAREHOUSE_HOUR], c->robot, dw_agg_period(c->t, DW_AGG_HOUR_US))->run_us += delta;
        dw_agg_find(&s->inc[WAREHOUSE_DAY], c->robot, dw_agg_period(c->t, DW_AGG_DAY_US))->run_us += delta;
    }
}

/* Writes the increments of a level: each cell merged with its stored row (from the last
 * commit's memory, else read back), then upserted. */
static int wh_write_level(wh_stage *s, PGconn *conn, warehouse_level level, char *err,
                          size_t errlen)
{
    dw_agg *cells = &s->inc[level];
    if (!cells->n) return 0;
    long merged = wh_from_last(s, conn, level, err, errlen);
    if (merged < 0) return -1;
    if ((size_t)merged < cells->n && wh_read_back(conn, level, cells, s->hit, err, errlen)) return -1;
    if (level == WAREHOUSE_MINUTE) wh_run_deltas(s);
    return wh_upsert(conn, level, cells, &s->params, err, errlen);
}

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
    static const int64_t period[3] = {DW_AGG_MINUTE_US, DW_AGG_HOUR_US, DW_AGG_DAY_US};
    for (int l = 0; l < 3; l++) {
        dw_agg_init(&s->inc[l], period[l]);
        dw_agg_init(&s->last[l], period[l]);
    }
    return s;
}

static void wh_rows(void *stage, const reading *rows, size_t n)
{
    wh_stage *s = stage;
    dw_agg_add(&s->inc[WAREHOUSE_MINUTE], rows, n);
}

static int wh_commit(void *stage, PGconn *conn, buf *state, char *err, size_t errlen)
{
    (void)state;
    wh_stage *s = stage;
    int rc = 0, wrote = s->inc[WAREHOUSE_MINUTE].n > 0;
    /* Every statement here touches what one commit wrote: JIT compiling them (PostgreSQL's
     * default for plans it costs high, as the feeds' are) takes longer than running them. */
    rc = pgconn_exec(conn, "SET LOCAL jit = off", err, errlen);
    if (!rc && wrote) {
        /* The increments of the hours and days, before the minutes take in what is stored. */
        dw_agg_merge_into(&s->inc[WAREHOUSE_HOUR], &s->inc[WAREHOUSE_MINUTE]);
        dw_agg_merge_into(&s->inc[WAREHOUSE_DAY], &s->inc[WAREHOUSE_HOUR]);
        rc = warehouse_lock(conn, 0, err, errlen) ||
             wh_write_level(s, conn, WAREHOUSE_MINUTE, err, errlen) ||
             wh_write_level(s, conn, WAREHOUSE_HOUR, err, errlen) ||
             wh_write_level(s, conn, WAREHOUSE_DAY, err, errlen) ||
             warehouse_ensure_time(conn, &s->inc[WAREHOUSE_MINUTE], err, errlen);
    }
    if (!rc) {
        const char *p[] = {s->consumer};
        rc = pgconn_query(conn, "SELECT dw.sync_feeds($1)", 1, p, PGRES_TUPLES_OK, NULL, err, errlen);
    }
    if (!rc && wrote) {
        /* The rows written become the memory of the next commit (32 bits: what xmin holds). */
        PGresult *r = NULL;
        rc = pgconn_query(conn, "SELECT txid_current() % 4294967296", 0, NULL, PGRES_TUPLES_OK, &r,
                          err, errlen);
        if (!rc) {
            snprintf(s->last_xid, sizeof s->last_xid, "%s", PQgetvalue(r, 0, 0));
            PQclear(r);
            for (int l = 0; l < 3; l++) {
                dw_agg t = s->last[l];
                s->last[l] = s->inc[l];
                s->inc[l] = t;
            }
        }
    }
    /* Written, or to be delivered again (the consumer closes the stage after a failure). */
    for (int l = 0; l < 3; l++) dw_agg_reset(&s->inc[l]);
    return rc ? -1 : 0;
}

static void wh_free(void *stage)
{
    wh_stage *s = stage;
    if (!s) return;
    free(s->consumer);
    for (int l = 0; l < 3; l++) {
        dw_agg_free(&s->inc[l]);
        dw_agg_free(&s->last[l]);
    }
    free(s->hit);
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
