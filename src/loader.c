/* loader: batched, exactly-once COPY BINARY into `reading` (see loader.h for the contract). */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "copybin.h"
#include "pgarray.h"
#include "pgconn.h"
#include "tstamp.h"
#include "utf8.h"
#include "util.h"

#define LOADER_SEND_CHUNK (256 * 1024) /* bytes handed to libpq at a time */
#define LOADER_ROBOT_REFRESH_US 1000000 /* re-read the robot table at most once a second */
#define LOADER_RECONNECTS 10 /* reconnects in a row for one step before the load gives up */

/* The columns a loader writes (reading's others, such as txid, take their defaults). */
#define LOADER_COLUMNS "robot_id, ts, axis1, axis2, axis3, axis4, axis5, axis6, axis7, axis8"
#define LOADER_COPY_FAST "COPY reading (" LOADER_COLUMNS ") FROM STDIN (FORMAT binary)"
#define LOADER_COPY_STAGE "COPY reading_stage (" LOADER_COLUMNS ") FROM STDIN (FORMAT binary)"

typedef enum loader_path {
    LOADER_FAST,  /* COPY straight into reading */
    LOADER_STAGE, /* COPY into reading_stage, then INSERT ... ON CONFLICT DO NOTHING */
} loader_path;

/* A rejected line waiting for its batch to commit; texts live in loader.rej_text. */
typedef struct loader_rej {
    uint64_t line_no;
    size_t raw_off, raw_len;
    size_t reason_off, reason_len;
} loader_rej;

struct loader {
    char *conninfo;
    PGconn *conn;
    loader_opts opts;
    char load_id[37];

    /* The pending batch. */
    int seq;                   /* this batch's number within the load, from 1 */
    buf copy;                  /* encoded COPY data: header and tuples (no trailer) */
    size_t sent;               /* bytes of copy handed to the current COPY */
    int in_copy;               /* a COPY IN is open on conn */
    int tx_open;               /* BEGIN was sent for this batch */
    loader_path path;          /* how this batch is being sent */
    uint32_t nrows;
    int64_t ts_min, ts_max;
    uint64_t first_line, last_line;
    loader_rej *rej;           /* rejects of this batch */
    size_t nrej, rej_cap;
    buf rej_text;
    int64_t pending_since_us;  /* monotonic time of the oldest pending item, 0 if none */

    /* Per connection. */
    int stage_ready;           /* reading_stage exists on conn */
    int lost;                  /* a failure showed conn is gone: reconnect before reuse */

    /* Caches. */
    int32_t *robots;           /* sorted ids of existing robots */
    size_t nrobots;
    int64_t robots_loaded_us;
    int64_t *days;             /* sorted days whose partition is known to exist */
    size_t ndays, days_cap;
    int64_t last_day;          /* the day of the previous row (fast check) */

    loader_stats stats;
};

static int loader_flush_batch(loader *l, char *err, size_t errlen);

static void loader_make_uuid(char out[37])
{
    uint8_t b[16];
    util_random_bytes(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 1 */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

/* Records a failed result: its message into err, and whether it means the connection is gone.
 * Returns -1. */
static int loader_fail(loader *l, const PGresult *r, char *err, size_t errlen)
{
    pgconn_result_error(r, l->conn, err, errlen);
    /* Citus reports most failures of a worker's connection as class 08, but one in the middle
     * of a distributed transaction without an error code (XX000): both are a worker restarting
     * or unreachable, and the batch is tried again like after a lost connection. */
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (pgconn_result_lost(l->conn, r) ||
        (pgconn_is_sqlstate(r, "XX000") && msg &&
         !strncmp(msg, "failure on connection marked as essential", 41)))
        l->lost = 1;
    return -1;
}

/* pgconn_exec, noting a lost connection. Returns 0 or -1. */
static int loader_exec(loader *l, const char *sql, char *err, size_t errlen)
{
    int rc = pgconn_exec(l->conn, sql, err, errlen);
    if (rc == PGCONN_LOST) l->lost = 1;
    return rc == 0 ? 0 : -1;
}

/* True when the connection must be re-established before it is used again. */
static int loader_lost(const loader *l)
{
    return l->lost || pgconn_is_lost(l->conn);
}

/* A step that needs the connection; arg is the step's own. Returns 0 or -1 with a message. */
typedef int loader_op(loader *l, const void *arg, char *err, size_t errlen);

static int loader_load_robots(loader *l, const void *arg, char *err, size_t errlen)
{
    (void)arg;
    PGresult *r = PQexec(l->conn, "SELECT robot_id FROM robot ORDER BY robot_id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        loader_fail(l, r, err, errlen);
        PQclear(r);
        return -1;
    }
    int n = PQntuples(r);
    l->robots = xrealloc(l->robots, sizeof *l->robots * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) l->robots[i] = (int32_t)strtol(PQgetvalue(r, i, 0), NULL, 10);
    l->nrobots = (size_t)n;
    l->robots_loaded_us = util_mono_us();
    PQclear(r);
    return 0;
}

static int loader_robot_known(const loader *l, int32_t id)
{
    size_t lo = 0, hi = l->nrobots;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->robots[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->nrobots && l->robots[lo] == id;
}

/* Position of day in the sorted cache, and whether it is there. */
static size_t loader_day_pos(const loader *l, int64_t day, int *found)
{
    size_t lo = 0, hi = l->ndays;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->days[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < l->ndays && l->days[lo] == day;
    return lo;
}

static void loader_day_insert(loader *l, int64_t day)
{
    int found;
    size_t pos = loader_day_pos(l, day, &found);
    if (found) return;
    if (l->ndays == l->days_cap) {
        l->days_cap = l->days_cap ? l->days_cap * 2 : 64;
        l->days = xrealloc(l->days, sizeof *l->days * l->days_cap);
    }
    memmove(l->days + pos + 1, l->days + pos, sizeof *l->days * (l->ndays - pos));
    l->days[pos] = day;
    l->ndays++;
}

/* Creates the partition of the day *arg (int64_t) if missing. Must run outside a transaction. */
static int loader_ensure_day(loader *l, const void *arg, char *err, size_t errlen)
{
    int64_t day = *(const int64_t *)arg;
    char date[32];
    tstamp_format(day * TSTAMP_US_PER_DAY, date, sizeof date);
    date[10] = '\0';
    const char *params[] = {date};
    PGresult *r = PQexecParams(l->conn, "SELECT reading_ensure_partition($1::date)", 1, NULL,
                               params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) loader_fail(l, r, err, errlen);
    PQclear(r);
    if (ok) loader_day_insert(l, day);
    return ok ? 0 : -1;
}

static int loader_connect(loader *l, char *err, size_t errlen)
{
    if (l->conn) PQfinish(l->conn);
    l->conn = pgconn_connect_retry(l->conninfo, "ingest", l->opts.retry_seconds, err, errlen);
    l->stage_ready = 0;
    l->lost = 0;
    l->in_copy = l->tx_open = 0;
    l->sent = 0;
    if (!l->conn) return -1;
    /* On Citus, one connection per worker for the session's COPYs: by default each batch's COPY
     * opens up to 16 connections per worker (one stays cached) and commits on each in two
     * phases; with one, ingest through the coordinator ran 3.5-4.5x faster at a fifth of the
     * servers' CPU (bench/citus, docs/benchmarks.md "Citus"). Nothing on plain PostgreSQL. A
     * failure here is only a slower load, or a lost connection the next statement meets. */
    PQclear(PQexec(l->conn, "SELECT set_config('citus.max_adaptive_executor_pool_size', '1', "
                            "false) FROM pg_extension WHERE extname = 'citus'"));
    return 0;
}

/* Runs op; while it fails because the connection was lost, reconnects (each reconnect waits up
 * to retry_seconds for the server) and runs it again, LOADER_RECONNECTS times at most: a
 * connection can be lost between any two statements, including right after a reconnect. */
static int loader_with_reconnect(loader *l, loader_op *op, const void *arg, char *err,
                                 size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        if (op(l, arg, err, errlen) == 0) return 0;
        if (!loader_lost(l) || attempt == LOADER_RECONNECTS) return -1;
        if (loader_connect(l, err, errlen) != 0) return -1;
        l->stats.reconnects++;
    }
}

loader *loader_new(const char *conninfo, const loader_opts *opts, char *err, size_t errlen)
{
    loader *l = xcalloc(1, sizeof *l);
    l->conninfo = xstrdup(conninfo);
    l->opts = *opts;
    l->opts.source = xstrdup(opts->source ? opts->source : "-");
    if (l->opts.batch_rows <= 0) l->opts.batch_rows = LOADER_DEFAULT_BATCH;
    if (l->opts.retry_seconds <= 0) l->opts.retry_seconds = LOADER_DEFAULT_RETRY_SECONDS;
    loader_make_uuid(l->load_id);
    l->seq = 1;
    l->path = LOADER_FAST;
    l->last_day = INT64_MIN;
    if (loader_connect(l, err, errlen) != 0 ||
        loader_with_reconnect(l, loader_load_robots, NULL, err, errlen) != 0) {
        loader_free(l);
        return NULL;
    }
    return l;
}

void loader_free(loader *l)
{
    if (!l) return;
    if (l->conn) PQfinish(l->conn); /* an open transaction is rolled back by the server */
    free(l->conninfo);
    free((char *)l->opts.source);
    buf_free(&l->copy);
    buf_free(&l->rej_text);
    free(l->rej);
    free(l->robots);
    free(l->days);
    free(l);
}

const loader_stats *loader_get_stats(const loader *l)
{
    return &l->stats;
}

const char *loader_load_id(const loader *l)
{
    return l->load_id;
}

int64_t loader_pending_age_ms(const loader *l)
{
    if (!l->pending_since_us) return -1;
    return (util_mono_us() - l->pending_since_us) / 1000;
}

static void loader_note_line(loader *l, uint64_t line_no)
{
    if (!l->pending_since_us) l->pending_since_us = util_mono_us();
    if (l->first_line == 0 || line_no < l->first_line) l->first_line = line_no;
    if (line_no > l->last_line) l->last_line = line_no;
}

/* Hands the unsent part of the batch to libpq. A failure is not reported here: the COPY is
 * marked broken and loader_flush_batch deals with it (reconnect and resend). */
static void loader_send(loader *l)
{
    if (!l->in_copy || l->sent == l->copy.len) return;
    if (PQputCopyData(l->conn, (const char *)l->copy.data + l->sent,
                      (int)(l->copy.len - l->sent)) != 1) {
        l->in_copy = 0;
        l->lost = 1;
        return;
    }
    l->sent = l->copy.len;
}

/* Opens the batch's transaction and COPY on the current connection, and sends what is
 * encoded so far. Returns 0 or -1 (the caller decides whether the connection was lost). */
static int loader_begin_copy(loader *l, char *err, size_t errlen)
{
    if (l->path == LOADER_STAGE && !l->stage_ready) {
        if (loader_exec(l,
                        "CREATE TEMP TABLE IF NOT EXISTS reading_stage ON COMMIT DELETE ROWS AS "
                        "SELECT " LOADER_COLUMNS " FROM reading WITH NO DATA",
                        err, errlen) != 0)
            return -1;
        l->stage_ready = 1;
    }
    if (loader_exec(l, "BEGIN", err, errlen) != 0) return -1;
    l->tx_open = 1;
    PGresult *r = PQexec(l->conn, l->path == LOADER_FAST ? LOADER_COPY_FAST : LOADER_COPY_STAGE);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    if (!ok) loader_fail(l, r, err, errlen);
    PQclear(r);
    if (!ok) return -1;
    l->in_copy = 1;
    l->sent = 0;
    loader_send(l);
    return 0;
}

int loader_add(loader *l, const reading *rd, uint64_t line_no, const char *raw, size_t rawlen,
               char *err, size_t errlen)
{
    if (!loader_robot_known(l, rd->robot_id)) {
        /* The robot may have been added since we looked: look again, at most once a second
         * (the query needs the connection, so pending rows are committed first). */
        if (util_mono_us() - l->robots_loaded_us > LOADER_ROBOT_REFRESH_US) {
            if (l->nrows > 0 && loader_flush(l, err, errlen) != 0) return -1;
            if (loader_with_reconnect(l, loader_load_robots, NULL, err, errlen) != 0) return -1;
        }
        if (!loader_robot_known(l, rd->robot_id)) {
            char reason[96];
            snprintf(reason, sizeof reason, "robot_id: robot %d does not exist",
                     (int)rd->robot_id);
            return loader_reject(l, line_no, raw, rawlen, reason, err, errlen);
        }
    }

    int64_t day = tstamp_day_of(rd->ts_us);
    if (day != l->last_day) {
        int found;
        loader_day_pos(l, day, &found);
        if (!found) {
            /* A COPY's partition routing is fixed when it starts: commit the rows pending,
             * then create the partition. New days are rare (once per day of data). Rows are
             * pending whether or not their COPY could be opened (a lost connection is dealt
             * with at flush), so where a batch ends never depends on the connection. */
            if (l->nrows > 0 && loader_flush(l, err, errlen) != 0) return -1;
            if (loader_with_reconnect(l, loader_ensure_day, &day, err, errlen) != 0) return -1;
        }
        l->last_day = day;
    }

    if (l->copy.len == 0) copybin_write_header(&l->copy);
    if (l->nrows == 0 && !l->tx_open && loader_begin_copy(l, err, errlen) != 0 && !loader_lost(l))
        return -1; /* a lost connection is dealt with at flush */

    uint8_t *p = buf_reserve(&l->copy, 2 + 8 + 12 + READING_AXES * 12);
    copybin_put16(p, 2 + READING_AXES);
    copybin_put32(p + 2, 4);
    copybin_put32(p + 6, (uint32_t)rd->robot_id);
    copybin_put32(p + 10, 8);
    copybin_put64(p + 14, (uint64_t)(rd->ts_us - COPYBIN_PG_EPOCH_US));
    uint8_t *q = p + 22;
    for (int a = 0; a < READING_AXES; a++, q += 12) {
        uint64_t u;
        memcpy(&u, &rd->axis[a], sizeof u);
        copybin_put32(q, 8);
        copybin_put64(q + 4, u);
    }
    buf_commit(&l->copy, (size_t)(q - p));

    if (l->nrows == 0 || rd->ts_us < l->ts_min) l->ts_min = rd->ts_us;
    if (l->nrows == 0 || rd->ts_us > l->ts_max) l->ts_max = rd->ts_us;
    l->nrows++;
    loader_note_line(l, line_no);
    if (l->copy.len - l->sent >= LOADER_SEND_CHUNK) loader_send(l);
    if (l->nrows + l->nrej >= (uint32_t)l->opts.batch_rows) return loader_flush(l, err, errlen);
    return 0;
}

int loader_reject(loader *l, uint64_t line_no, const char *raw, size_t rawlen,
                  const char *reason, char *err, size_t errlen)
{
    if (l->nrej == l->rej_cap) {
        l->rej_cap = l->rej_cap ? l->rej_cap * 2 : 64;
        l->rej = xrealloc(l->rej, sizeof *l->rej * l->rej_cap);
    }
    loader_rej *j = &l->rej[l->nrej++];
    j->line_no = line_no;
    j->raw_off = l->rej_text.len;
    utf8_append_clean(&l->rej_text, raw, rawlen < LOADER_RAW_MAX ? rawlen : LOADER_RAW_MAX);
    j->raw_len = l->rej_text.len - j->raw_off;
    j->reason_off = l->rej_text.len;
    utf8_append_clean(&l->rej_text, reason, strlen(reason));
    j->reason_len = l->rej_text.len - j->reason_off;
    loader_note_line(l, line_no);
    if (l->nrows + l->nrej >= (uint32_t)l->opts.batch_rows) return loader_flush(l, err, errlen);
    return 0;
}

/* Writes the batch's rejects and its ingest_batch row (inside the open transaction). Returns
 * 0; 1 when the batch's ingest_batch row exists already: an earlier attempt, whose COMMIT
 * seemed lost, did commit (after this attempt's lookup; its rows made this one wait); or -1
 * with a message. */
static int loader_write_bookkeeping(loader *l, uint32_t inserted, uint32_t present, char *err,
                                    size_t errlen)
{
    pgarray lines = {0}, raws = {0}, reasons = {0};
    for (size_t i = 0; i < l->nrej; i++) {
        const loader_rej *j = &l->rej[i];
        pgarray_int(&lines, (int64_t)j->line_no);
        pgarray_text(&raws, (const char *)l->rej_text.data + j->raw_off, j->raw_len);
        pgarray_text(&reasons, (const char *)l->rej_text.data + j->reason_off, j->reason_len);
    }

    char seq[16], first[24], last[24], nread[16], nins[16], npres[16], nrej[16];
    char tsmin[40], tsmax[40];
    snprintf(seq, sizeof seq, "%d", l->seq);
    snprintf(first, sizeof first, "%llu", (unsigned long long)l->first_line);
    snprintf(last, sizeof last, "%llu", (unsigned long long)l->last_line);
    snprintf(nread, sizeof nread, "%u", l->nrows + (uint32_t)l->nrej);
    snprintf(nins, sizeof nins, "%u", inserted);
    snprintf(npres, sizeof npres, "%u", present);
    snprintf(nrej, sizeof nrej, "%zu", l->nrej);
    tstamp_format(l->ts_min, tsmin, sizeof tsmin);
    tstamp_format(l->ts_max, tsmax, sizeof tsmax);
    const char *params[] = {l->load_id,
                            seq,
                            l->opts.source,
                            first,
                            last,
                            nread,
                            nins,
                            npres,
                            nrej,
                            l->nrows ? tsmin : NULL,
                            l->nrows ? tsmax : NULL,
                            pgarray_end(&lines),
                            pgarray_end(&raws),
                            pgarray_end(&reasons)};
    PGresult *r = PQexecParams(
        l->conn,
        "WITH rej AS ("
        "  INSERT INTO ingest_reject (source, line_no, raw, reason, load_id)"
        "  SELECT $3, x.line_no, x.raw, x.reason, $1::uuid"
        "    FROM unnest($12::bigint[], $13::text[], $14::text[]) AS x(line_no, raw, reason)"
        "  ON CONFLICT (source, line_no, md5(raw)) DO NOTHING) "
        "INSERT INTO ingest_batch (load_id, seq, source, first_line, last_line, rows_read,"
        " rows_inserted, rows_present, rows_rejected, ts_min, ts_max)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        (int)UTIL_ARRAY_LEN(params), NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    /* The rejects are inserted ON CONFLICT DO NOTHING: a unique violation is ingest_batch's. */
    int committed_before = pgconn_is_sqlstate(r, PGCONN_UNIQUE_VIOLATION);
    if (!ok) loader_fail(l, r, err, errlen);
    PQclear(r);
    pgarray_free(&lines);
    pgarray_free(&raws);
    pgarray_free(&reasons);
    return ok ? 0 : committed_before ? 1 : -1;
}

/* After a lost connection: did this batch commit before it was lost? Returns 1 (and fills the
 * counts from its ingest_batch row), 0 if not, -1 on error. */
static int loader_batch_committed(loader *l, uint32_t *inserted, uint32_t *present, char *err,
                                  size_t errlen)
{
    char seq[16];
    snprintf(seq, sizeof seq, "%d", l->seq);
    const char *params[] = {l->load_id, seq};
    PGresult *r = PQexecParams(l->conn,
                               "SELECT rows_inserted, rows_present FROM ingest_batch"
                               " WHERE load_id = $1 AND seq = $2",
                               2, NULL, params, NULL, NULL, 0);
    int rc;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        loader_fail(l, r, err, errlen);
        rc = -1;
    } else if (PQntuples(r) == 1) {
        *inserted = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
        *present = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
        rc = 1;
    } else {
        rc = 0;
    }
    PQclear(r);
    return rc;
}

static void loader_reset_batch(loader *l)
{
    buf_reset(&l->copy);
    buf_reset(&l->rej_text);
    l->sent = 0;
    l->nrows = 0;
    l->nrej = 0;
    l->first_line = l->last_line = 0;
    l->pending_since_us = 0;
    l->in_copy = l->tx_open = 0;
}

/* Outcome of one attempt at committing the batch. */
typedef enum loader_attempt {
    LOADER_DONE,      /* committed */
    LOADER_RETRY,     /* rolled back for a reason that a second attempt fixes */
    LOADER_LOST,      /* the connection is gone; outcome of COMMIT unknown */
    LOADER_COMMITTED, /* rolled back: an earlier attempt committed the batch after all */
    LOADER_FAILED,    /* a real error: err says what */
} loader_attempt;

static loader_attempt loader_try_commit(loader *l, uint32_t *inserted, uint32_t *present,
                                        char *err, size_t errlen)
{
    *inserted = *present = 0;
    if (l->nrows > 0) {
        if (!l->in_copy && (l->tx_open || loader_begin_copy(l, err, errlen) != 0))
            return loader_lost(l) ? LOADER_LOST : LOADER_FAILED;
        loader_send(l);
        if (!l->in_copy) return LOADER_LOST;
        int ok = PQputCopyData(l->conn, "\xFF\xFF", 2) == 1 && PQputCopyEnd(l->conn, NULL) == 1;
        l->in_copy = 0;
        if (!ok) return LOADER_LOST;
        PGresult *r = PQgetResult(l->conn);
        int copied = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (copied) *inserted = (uint32_t)strtoul(PQcmdTuples(r), NULL, 10);
        /* Citus's COPY into a distributed table reports a shard's unique violation as an
         * internal error (XX000) with the worker's message. */
        const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        int dup = pgconn_is_sqlstate(r, PGCONN_UNIQUE_VIOLATION) ||
                  (pgconn_is_sqlstate(r, "XX000") && msg &&
                   strncmp(msg, "duplicate key value violates unique constraint \"reading_",
                           strlen("duplicate key value violates unique constraint \"reading_")) == 0);
        int conflict = pgconn_is_sqlstate(r, "40P01") || pgconn_is_sqlstate(r, "40001");
        /* "no partition of relation found for row" is a check violation without a
         * constraint name (reading_finite has one, but the parser never lets NaN through). */
        int nopart = pgconn_is_sqlstate(r, PGCONN_CHECK_VIOLATION) &&
                     !PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
        if (!copied) loader_fail(l, r, err, errlen);
        PQclear(r);
        while ((r = PQgetResult(l->conn))) PQclear(r);
        if (!copied) {
            if (loader_lost(l)) return LOADER_LOST;
            PQclear(PQexec(l->conn, "ROLLBACK"));
            l->tx_open = 0;
            if (dup || conflict) {
                /* Already-stored rows, or a concurrent loader of the same rows. */
                l->path = LOADER_STAGE;
                return LOADER_RETRY;
            }
            if (nopart) {
                /* A partition vanished under us (dropped by retention?): recreate and retry. */
                l->ndays = 0;
                l->last_day = INT64_MIN;
                char lo[40], hi[40];
                tstamp_format(l->ts_min, lo, sizeof lo);
                tstamp_format(l->ts_max, hi, sizeof hi);
                lo[10] = hi[10] = '\0';
                PGresult *e = PQexecParams(l->conn,
                                           "SELECT reading_ensure_partitions($1::date, $2::date)",
                                           2, NULL, (const char *[]){lo, hi}, NULL, NULL, 0);
                int eok = PQresultStatus(e) == PGRES_TUPLES_OK;
                if (!eok) loader_fail(l, e, err, errlen);
                PQclear(e);
                return eok ? LOADER_RETRY : loader_lost(l) ? LOADER_LOST : LOADER_FAILED;
            }
            return LOADER_FAILED;
        }
        if (l->path == LOADER_STAGE) {
            /* Counted from RETURNING: Citus's INSERT ... SELECT into a distributed table
             * reports the rows it sent to the shards, conflicting ones included. */
            r = PQexec(l->conn, "WITH i AS (INSERT INTO reading (" LOADER_COLUMNS ") SELECT "
                                LOADER_COLUMNS " FROM reading_stage "
                                "ON CONFLICT (robot_id, ts) DO NOTHING RETURNING 1) "
                                "SELECT count(*) FROM i");
            copied = PQresultStatus(r) == PGRES_TUPLES_OK;
            if (copied) *inserted = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
            conflict = pgconn_is_sqlstate(r, "40P01") || pgconn_is_sqlstate(r, "40001");
            if (!copied) loader_fail(l, r, err, errlen);
            PQclear(r);
            if (!copied) {
                if (loader_lost(l)) return LOADER_LOST;
                PQclear(PQexec(l->conn, "ROLLBACK"));
                l->tx_open = 0;
                return conflict ? LOADER_RETRY : LOADER_FAILED;
            }
        }
        *present = l->nrows - *inserted;
    } else if (!l->tx_open) {
        if (loader_exec(l, "BEGIN", err, errlen) != 0)
            return loader_lost(l) ? LOADER_LOST : LOADER_FAILED;
        l->tx_open = 1;
    }
    int bk = loader_write_bookkeeping(l, *inserted, *present, err, errlen);
    if (bk != 0 || loader_exec(l, "COMMIT", err, errlen) != 0) {
        if (loader_lost(l)) return LOADER_LOST;
        PQclear(PQexec(l->conn, "ROLLBACK"));
        l->tx_open = 0;
        return bk == 1 ? LOADER_COMMITTED : LOADER_FAILED;
    }
    l->tx_open = 0;
    return LOADER_DONE;
}

static int loader_flush_batch(loader *l, char *err, size_t errlen)
{
    uint32_t inserted = 0, present = 0;
    int retries = 0;
    int backoff_ms = 0;
    for (;;) {
        loader_attempt a = loader_try_commit(l, &inserted, &present, err, errlen);
        if (a == LOADER_DONE) break;
        if (a == LOADER_FAILED)
            return util_err(err + strlen(err), errlen - strlen(err),
                            " (batch %d, lines %llu-%llu, not loaded)", l->seq,
                            (unsigned long long)l->first_line, (unsigned long long)l->last_line);
        if (a == LOADER_RETRY) {
            if (++retries > 5) return -1;
            continue;
        }
        if (a == LOADER_COMMITTED) {
            /* Its counts are those of the attempt that committed. */
            int c = loader_batch_committed(l, &inserted, &present, err, errlen);
            if (c == 1) break;
            if (c == 0)
                return util_err(err, errlen,
                                "batch %d: its ingest_batch row exists, then does not (deleted "
                                "during the load?)",
                                l->seq);
            if (!loader_lost(l)) return -1;
        }
        /* Lost: reconnect, then learn whether the COMMIT made it before resending. A server
         * that is restarting may drop us again at once: each reconnect waits up to
         * retry_seconds, and a handful of them in a row ends the load. */
        fprintf(stderr, "pgpulse ingest: lost the database connection at batch %d (%s); "
                        "reconnecting\n", l->seq, err);
        /* The server may answer at once and fail the batch again (on Citus the coordinator
         * stays up while a worker restarts): wait a little longer each time, up to 2 s. */
        if (backoff_ms) util_sleep_ms(backoff_ms);
        backoff_ms = backoff_ms ? (backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2) : 50;
        int c = -1;
        for (int attempt = 0; attempt < LOADER_RECONNECTS && c < 0; attempt++) {
            if (loader_connect(l, err, errlen) != 0) return -1;
            l->stats.reconnects++;
            c = loader_batch_committed(l, &inserted, &present, err, errlen);
            if (c < 0 && !loader_lost(l)) return -1;
        }
        if (c < 0) return -1;
        if (c == 1) break;
    }
    l->stats.inserted += inserted;
    l->stats.present += present;
    l->stats.rejected += l->nrej;
    l->stats.batches++;
    if (l->path == LOADER_STAGE) {
        l->stats.slow_batches++;
        if (present == 0) l->path = LOADER_FAST; /* the run of duplicates is over */
    }
    l->seq++;
    loader_reset_batch(l);
    return 0;
}

int loader_flush(loader *l, char *err, size_t errlen)
{
    if (l->nrows == 0 && l->nrej == 0) return 0;
    if (err && errlen) err[0] = '\0';
    return loader_flush_batch(l, err, errlen);
}
