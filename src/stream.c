/* stream: a consumer — its run loop, its stages, and the transaction that commits stage outputs
 * with the checkpoint (see stream.h; the other parts are listed in stream_int.h). */
#include "stream.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copybin.h"
#include "pgarray.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "stream_int.h"
#include "tstamp.h"
#include "util.h"

#define STREAM_MAX_BACKOFF_MS 5000
#define STREAM_VISIBLE_TRIES 500 /* 10 ms each: a decoded transaction is visible long before */

/* ---------------------------------------------------------------------------------------- */
/* Names */

int stream_check_name(const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n == 0 || n > 48)
        return util_err(err, errlen, "name '%s' must have 1 to 48 characters", name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '.'))
            return util_err(err, errlen,
                            "name '%s': only lower-case letters, digits, '_', '+' and '.'", name);
    }
    return 0;
}

void stream_slot_name(const char *database, const char *consumer_name, char *out, size_t len)
{
    /* FNV-1a (32 bits) over "database\0consumer": the same on every machine and release. */
    uint32_t h = 2166136261u;
    for (const char *p = database;; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
        if (!*p) break;
    }
    for (const char *p = consumer_name; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    char name[STREAM_SLOT_NAME_MAX + 1];
    size_t o = (size_t)snprintf(name, sizeof name, "pgpulse_");
    for (const char *p = consumer_name; *p && o < 8 + STREAM_SLOT_CONSUMER_MAX; p++)
        name[o++] = (*p == '+' || *p == '.') ? '_' : *p;
    snprintf(name + o, sizeof name - o, "_%08x", (unsigned)h);
    snprintf(out, len, "%s", name);
}

const char *stream_mode_name(stream_mode m)
{
    static const char *const names[] = {"new", "stream", "recovering", "catchup"};
    return names[m];
}

void stream_log(const consumer *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "pgpulse %s: ", c->o->consumer);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

PGresult *stream_exec_interruptible(PGconn *conn, const char *sql, volatile sig_atomic_t *stop)
{
    if (!PQsendQuery(conn, sql)) return PQexec(conn, sql); /* reports the failure */
    int cancelled = 0;
    while (PQisBusy(conn)) {
        if (*stop && !cancelled) {
            PGcancel *cn = PQgetCancel(conn);
            char e[256];
            if (cn) PQcancel(cn, e, sizeof e);
            PQfreeCancel(cn);
            cancelled = 1;
        }
        struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
        if (poll(&p, 1, 200) < 0 && errno != EINTR) break;
        if (!PQconsumeInput(conn)) break;
    }
    /* As PQexec: the last result. A reply cut short after its rows (the connection lost
     * before ReadyForQuery) ends in an error, which must not be hidden behind the rows: the
     * snapshot a slot exports lives only as long as the connection that created it. */
    PGresult *r = PQgetResult(conn), *x;
    while ((x = PQgetResult(conn))) {
        PQclear(r);
        r = x;
    }
    return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Checkpoint */

void stream_ckpt_copy(stream_ckpt *dst, const stream_ckpt *src)
{
    if (dst == src) return;
    txnpart part = dst->part;
    xidset_snap covered = dst->covered, catchup = dst->catchup;
    *dst = *src;
    dst->part = part;
    dst->covered = covered;
    dst->catchup = catchup;
    txnpart_copy(&dst->part, &src->part);
    xidset_snap_copy(&dst->covered, &src->covered);
    xidset_snap_copy(&dst->catchup, &src->catchup);
}

void stream_ckpt_free(stream_ckpt *k)
{
    txnpart_free(&k->part);
    xidset_snap_free(&k->covered);
    xidset_snap_free(&k->catchup);
    memset(k, 0, sizeof *k);
}

static void stream_lsn_text(uint64_t lsn, char *out, size_t len)
{
    pgoutput_lsn_format(lsn, out, len);
}

int stream_ckpt_write(consumer *c, const stream_ckpt *k, int64_t add_rows, int want_snapshot,
                      stream_pending *pending, char *err, size_t errlen)
{
    char s_commit[32], s_end[32], s_partial[32], s_prows[24], s_n[24], s_poll[24], s_time[40];
    char s_pxid[24], s_clsn[32], s_cts[40], s_crobot[16];
    stream_lsn_text(k->commit_lsn, s_commit, sizeof s_commit);
    stream_lsn_text(k->end_lsn, s_end, sizeof s_end);
    stream_lsn_text(k->partial_lsn, s_partial, sizeof s_partial);
    stream_lsn_text(k->catchup_lsn, s_clsn, sizeof s_clsn);
    snprintf(s_prows, sizeof s_prows, "%lld", (long long)k->partial_rows);
    snprintf(s_n, sizeof s_n, "%lld", (long long)add_rows);
    snprintf(s_poll, sizeof s_poll, "%lld", (long long)k->poll_xid);
    snprintf(s_time, sizeof s_time, "%.6f", (double)k->last_commit / 1e6);
    snprintf(s_pxid, sizeof s_pxid, "%llu", (unsigned long long)k->partial_xid);
    tstamp_format(k->cursor_ts, s_cts, sizeof s_cts);
    snprintf(s_crobot, sizeof s_crobot, "%d", (int)k->cursor_robot);
    buf covered = {0}, catchup = {0};
    xidset_snap_format(&k->covered, &covered);
    buf_append(&covered, "", 1);
    xidset_snap_format(&k->catchup, &catchup);
    buf_append(&catchup, "", 1);
    pgarray probots = {0}, plast = {0}, srobots = {0}, sts = {0};
    char t[40];
    for (size_t i = 0; i < k->part.nrobots; i++) {
        pgarray_int(&probots, k->part.robots[i].robot);
        tstamp_format(k->part.robots[i].last, t, sizeof t);
        pgarray_str(&plast, t);
    }
    for (size_t i = 0; i < k->part.nskip; i++) {
        pgarray_int(&srobots, k->part.skip[i].robot);
        tstamp_format(k->part.skip[i].ts, t, sizeof t);
        pgarray_str(&sts, t);
    }
    int partial = k->partial_lsn != 0;
    int catching = k->mode == STREAM_MODE_CATCHUP;
    const char *p[] = {c->o->consumer,
                       STREAM_SOURCE_LOCAL,
                       stream_mode_name(k->mode),
                       k->commit_lsn ? s_commit : NULL,
                       k->end_lsn ? s_end : NULL,
                       partial ? s_partial : NULL,
                       s_prows,
                       s_n,
                       c->o->poll ? s_poll : NULL,
                       k->last_commit ? s_time : NULL,
                       k->has_covered ? (const char *)covered.data : NULL,
                       partial && k->partial_xid ? s_pxid : NULL,
                       partial ? pgarray_end(&probots) : NULL,
                       partial ? pgarray_end(&plast) : NULL,
                       partial ? pgarray_end(&srobots) : NULL,
                       partial ? pgarray_end(&sts) : NULL,
                       catching ? (const char *)catchup.data : NULL,
                       catching ? s_clsn : NULL,
                       catching && k->has_cursor ? s_cts : NULL,
                       catching && k->has_cursor ? s_crobot : NULL};
    PGresult *r = NULL;
    int rc = pgconn_query(
        c->db,
        want_snapshot
            ? "UPDATE stream_checkpoint SET mode = $3, commit_lsn = $4, end_lsn = $5, partial_lsn "
              "= $6, partial_rows = $7, rows = rows + $8, poll_xid = $9, last_commit = "
              "coalesce(to_timestamp($10::float8), last_commit), covered = $11, partial_xid = $12, "
              "partial_robots = $13, partial_last = $14, "
              "partial_skip_robots = $15, partial_skip_ts = $16, catchup_snapshot = $17, "
              "catchup_lsn = $18, catchup_ts = $19, catchup_robot = $20, updated_at = now() "
              "WHERE consumer = $1 AND source = $2 RETURNING pg_current_snapshot()::text, "
              "pg_current_wal_insert_lsn()::text"
            : "UPDATE stream_checkpoint SET mode = $3, commit_lsn = $4, end_lsn = $5, partial_lsn "
              "= $6, partial_rows = $7, rows = rows + $8, poll_xid = $9, last_commit = "
              "coalesce(to_timestamp($10::float8), last_commit), covered = $11, partial_xid = $12, "
              "partial_robots = $13, partial_last = $14, "
              "partial_skip_robots = $15, partial_skip_ts = $16, catchup_snapshot = $17, "
              "catchup_lsn = $18, catchup_ts = $19, catchup_robot = $20, updated_at = now() "
              "WHERE consumer = $1 AND source = $2",
        (int)UTIL_ARRAY_LEN(p), p, want_snapshot ? PGRES_TUPLES_OK : PGRES_COMMAND_OK, &r, err,
        errlen);
    if (rc == 0 && want_snapshot) {
        memset(pending, 0, sizeof *pending);
        char msg[256];
        if (PQntuples(r) != 1 ||
            xidset_snap_parse(PQgetvalue(r, 0, 0), &pending->snap, msg, sizeof msg) != 0 ||
            pgoutput_lsn_parse(PQgetvalue(r, 0, 1), &pending->lsn) != 0)
            rc = util_err(err, errlen, "checkpoint of '%s': unexpected snapshot", c->o->consumer);
    }
    PQclear(r);
    buf_free(&covered);
    buf_free(&catchup);
    pgarray_free(&probots);
    pgarray_free(&plast);
    pgarray_free(&srobots);
    pgarray_free(&sts);
    return rc;
}

/* µs since 1970 of a bigint column holding µs. */
static int64_t stream_get_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static uint64_t stream_get_lsn(const PGresult *r, int row, int col)
{
    uint64_t lsn = 0;
    if (!PQgetisnull(r, row, col)) pgoutput_lsn_parse(PQgetvalue(r, row, col), &lsn);
    return lsn;
}

int stream_ckpt_read(consumer *c, char *err, size_t errlen)
{
    const char *p[] = {c->o->consumer, STREAM_SOURCE_LOCAL};
    PGresult *r = NULL;
    int rc = pgconn_query(
        c->db,
        "SELECT mode, commit_lsn::text, end_lsn::text, partial_lsn::text, partial_rows, poll_xid, "
        "rows, (extract(epoch FROM last_commit) * 1000000)::bigint, covered::text, "
        "partial_xid, catchup_snapshot::text, catchup_lsn::text, "
        "(extract(epoch FROM catchup_ts) * 1000000)::bigint, catchup_robot "
        "FROM stream_checkpoint WHERE consumer = $1 AND source = $2",
        2, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    stream_ckpt *k = &c->ck;
    stream_ckpt_free(k);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return util_err(err, errlen, "consumer '%s' has no checkpoint", c->o->consumer);
    }
    const char *mode = PQgetvalue(r, 0, 0);
    k->mode = !strcmp(mode, "new")          ? STREAM_MODE_NEW
              : !strcmp(mode, "recovering") ? STREAM_MODE_RECOVERING
              : !strcmp(mode, "catchup")    ? STREAM_MODE_CATCHUP
                                            : STREAM_MODE_STREAM;
    k->commit_lsn = stream_get_lsn(r, 0, 1);
    k->end_lsn = stream_get_lsn(r, 0, 2);
    k->partial_lsn = stream_get_lsn(r, 0, 3);
    k->partial_rows = stream_get_int(r, 0, 4);
    k->poll_xid = stream_get_int(r, 0, 5);
    k->rows = stream_get_int(r, 0, 6);
    k->last_commit = stream_get_int(r, 0, 7);
    char msg[256];
    if (!PQgetisnull(r, 0, 8)) {
        if (xidset_snap_parse(PQgetvalue(r, 0, 8), &k->covered, msg, sizeof msg)) goto bad;
        k->has_covered = 1;
    }
    k->partial_xid = (uint64_t)stream_get_int(r, 0, 9);
    if (k->mode == STREAM_MODE_CATCHUP) {
        if (PQgetisnull(r, 0, 10) || PQgetisnull(r, 0, 11)) {
            snprintf(msg, sizeof msg, "catching up without a snapshot");
            goto bad;
        }
        if (xidset_snap_parse(PQgetvalue(r, 0, 10), &k->catchup, msg, sizeof msg)) goto bad;
        k->catchup_lsn = stream_get_lsn(r, 0, 11);
        k->has_cursor = !PQgetisnull(r, 0, 12);
        k->cursor_ts = stream_get_int(r, 0, 12);
        k->cursor_robot = (int32_t)stream_get_int(r, 0, 13);
    }
    PQclear(r);
    rc = pgconn_query(c->db,
                      "SELECT count(*) FROM stream_applied_xid WHERE consumer = $1 AND source = $2",
                      2, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    k->napplied = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (!k->partial_lsn) return 0;
    /* The applied part of the transaction of partial_lsn. */
    rc = pgconn_query(c->db,
                      "SELECT 0, r, (extract(epoch FROM t) * 1000000)::bigint FROM "
                      "stream_checkpoint, unnest(partial_robots, partial_last) AS u(r, t) WHERE "
                      "consumer = $1 AND source = $2 UNION ALL SELECT 1, r, (extract(epoch FROM "
                      "t) * 1000000)::bigint FROM stream_checkpoint, unnest(partial_skip_robots, "
                      "partial_skip_ts) AS u(r, t) WHERE consumer = $1 AND source = $2",
                      2, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        int32_t robot = (int32_t)stream_get_int(r, i, 1);
        int64_t ts = stream_get_int(r, i, 2);
        if (PQgetvalue(r, i, 0)[0] == '0')
            txnpart_put_robot(&k->part, robot, ts);
        else
            txnpart_put_skip(&k->part, robot, ts);
    }
    txnpart_sort(&k->part);
    PQclear(r);
    return 0;
bad:
    PQclear(r);
    return util_err(err, errlen,
                    "the checkpoint of consumer '%s' is corrupt: %s (pgpulse slots "
                    "drop %s starts it afresh)",
                    c->o->consumer, msg, c->o->consumer);
}

/* ---------------------------------------------------------------------------------------- */
/* Stages */

/* A stage's open or commit failed with msg: says so in err and returns PGCONN_LOST (reconnect
 * and reopen) when the connection went, else -1 (the consumer stops). On Citus a worker that
 * restarts or cannot be reached fails the statement of a stage that reads a distributed table,
 * on a coordinator connection that stays up: that is retried like a lost connection (reported,
 * with backoff) until stages have failed STREAM_STAGE_RETRY_S in a row, which is another
 * reason. */
/* STREAM_STAGE_RETRY_S, or $PGPULSE_TEST_STAGE_RETRY_S (1..60) for tests of the give-up. */
static int stream_stage_retry_s(void)
{
    const char *t = getenv("PGPULSE_TEST_STAGE_RETRY_S");
    int s = t ? atoi(t) : 0;
    return s >= 1 && s <= 60 ? s : STREAM_STAGE_RETRY_S;
}

static int stream_stage_failed(consumer *c, const char *stage, const char *msg, char *err,
                               size_t errlen)
{
    int64_t now = util_mono_us();
    int limit_s = stream_stage_retry_s();
    /* In a row: each within a reconnect's longest backoff (5 s) and set-up of the one before. */
    if (c->citus && (!c->stage_fail_us || now - c->stage_fail_last_us > 15 * INT64_C(1000000)))
        c->stage_fail_us = now;
    c->stage_fail_last_us = now;
    int retry = c->citus && now - c->stage_fail_us < limit_s * INT64_C(1000000);
    if (c->citus && !retry) {
        util_err(err, errlen, "stage %s has failed for %d s: %s", stage, limit_s, msg);
        return pgconn_is_lost(c->db) ? PGCONN_LOST : -1;
    }
    util_err(err, errlen, "stage %s: %s", stage, msg);
    return pgconn_is_lost(c->db) || retry ? PGCONN_LOST : -1;
}

/* Opens every stage from its saved state. */
static int stream_open_stages(consumer *c, char *err, size_t errlen)
{
    const stream_opts *o = c->o;
    c->stages = xcalloc((size_t)o->nstages, sizeof *c->stages);
    for (int i = 0; i < o->nstages; i++) {
        const char *p[] = {o->consumer, o->stages[i]->name};
        PGresult *r = PQexecParams(c->db,
                                   "SELECT state FROM stream_stage_state WHERE consumer = $1 AND "
                                   "stage = $2",
                                   2, NULL, p, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pgconn_result_error(r, c->db, err, errlen);
            int lost = pgconn_result_lost(c->db, r);
            PQclear(r);
            return lost ? PGCONN_LOST : -1;
        }
        const uint8_t *blob = NULL;
        size_t len = 0;
        if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
            blob = (const uint8_t *)PQgetvalue(r, 0, 0);
            len = (size_t)PQgetlength(r, 0, 0);
        }
        char msg[512];
        c->stages[i] = o->stages[i]->open(blob, len, &c->ctx, c->db, msg, sizeof msg);
        PQclear(r);
        if (!c->stages[i]) {
            /* A stage that could not read its tables because the connection went is opened
             * again after the reconnect; any other failure is the stage's to report. */
            return stream_stage_failed(c, o->stages[i]->name, msg, err, errlen);
        }
    }
    return 0;
}

static void stream_close(consumer *c)
{
    if (c->stages) {
        for (int i = 0; i < c->o->nstages; i++)
            if (c->stages[i]) c->o->stages[i]->free(c->stages[i]);
        free(c->stages);
        c->stages = NULL;
    }
    stream_citus_close(c);
    if (c->repl) PQfinish(c->repl);
    if (c->reader) PQfinish(c->reader);
    if (c->db) PQfinish(c->db);
    c->repl = c->reader = c->db = NULL;
    c->nrows = 0;
    c->fed_rows = 0;
    c->batch_start_us = 0;
    c->b_commit_lsn = c->b_end_lsn = 0;
    xidset_list_clear(&c->b_xids);
    c->in_txn = 0;
    c->map.relid = 0;
    for (int i = 0; i < c->npending; i++)
        xidset_snap_free(&c->pending[i].snap);
    c->npending = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Commit: stage outputs, stage states and the position in one transaction. */

void stream_add_row(consumer *c, const reading *r)
{
    if (c->nrows == c->rows_cap) {
        c->rows_cap = c->rows_cap ? c->rows_cap * 2 : 4096;
        c->rows = xrealloc(c->rows, sizeof *c->rows * c->rows_cap);
    }
    if (!c->nrows) c->batch_start_us = util_mono_us();
    c->rows[c->nrows++] = *r;
}

void stream_add_result_rows(consumer *c, const PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        reading rd;
        rd.robot_id = (int32_t)copybin_get32((const uint8_t *)PQgetvalue(r, i, 0));
        rd.ts_us =
            (int64_t)copybin_get64((const uint8_t *)PQgetvalue(r, i, 1)) + COPYBIN_PG_EPOCH_US;
        for (int a = 0; a < READING_AXES; a++) {
            uint64_t u = copybin_get64((const uint8_t *)PQgetvalue(r, i, 2 + a));
            memcpy(&rd.axis[a], &u, sizeof u);
        }
        stream_add_row(c, &rd);
    }
}

uint64_t stream_widen_xid(const consumer *c, uint32_t xid)
{
    uint64_t ref = c->ck.has_covered ? c->ck.covered.xmax
                   : c->npending     ? c->pending[0].snap.xmax
                                     : 0;
    return xidset_widen(xid, ref);
}

/* The part of the current transaction in this batch, looked up in the table and recorded in
 * part (see txnpart.h). Runs inside the commit's transaction. */
static int stream_record_part(consumer *c, txnpart *part, uint64_t xid, char *err, size_t errlen)
{
    const reading *rows = c->rows + c->txn_first;
    size_t n = c->nrows - c->txn_first;
    txnpart_range *ranges = NULL;
    size_t nr = txnpart_ranges(part, rows, n, &ranges);
    txnpart_key *found = NULL;
    size_t nfound = 0;
    int rc = 0;
    PGresult *r = NULL;
    if (nr) {
        char s_xid[24];
        snprintf(s_xid, sizeof s_xid, "%llu", (unsigned long long)xid);
        /* The transaction is committed (it is decoded only then), but its backend may not
         * have left the running set yet: wait until a snapshot shows it. */
        const char *pv[] = {s_xid};
        for (int i = 0;; i++) {
            rc = pgconn_query(c->db, "SELECT txid_visible_in_snapshot($1, txid_current_snapshot())",
                              1, pv, PGRES_TUPLES_OK, &r, err, errlen);
            if (rc) return rc;
            int seen = PQgetvalue(r, 0, 0)[0] == 't';
            PQclear(r);
            r = NULL;
            if (seen) break;
            if (i == STREAM_VISIBLE_TRIES) {
                free(ranges);
                return util_err(err, errlen, "transaction %s is decoded but not visible", s_xid);
            }
            util_sleep_ms(10);
        }
        pgarray robot = {0}, lo = {0}, hi = {0};
        char t[40];
        for (size_t i = 0; i < nr; i++) {
            pgarray_int(&robot, ranges[i].robot);
            if (ranges[i].has_lo) {
                tstamp_format(ranges[i].lo, t, sizeof t);
                pgarray_str(&lo, t);
            } else {
                pgarray_null(&lo);
            }
            tstamp_format(ranges[i].hi, t, sizeof t);
            pgarray_str(&hi, t);
        }
        const char *p[] = {pgarray_end(&robot), pgarray_end(&lo), pgarray_end(&hi), s_xid};
        r = PQexecParams(c->db,
                         "SELECT r.robot_id, r.ts FROM unnest($1::int[], $2::timestamptz[], "
                         "$3::timestamptz[]) AS q(robot, lo, hi) JOIN reading r ON r.robot_id = "
                         "q.robot AND r.ts <= q.hi AND (q.lo IS NULL OR r.ts > q.lo) WHERE "
                         "r.txid = $4::bigint",
                         4, NULL, p, NULL, NULL, 1);
        pgarray_free(&robot);
        pgarray_free(&lo);
        pgarray_free(&hi);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pgconn_result_error(r, c->db, err, errlen);
            rc = pgconn_result_lost(c->db, r) ? PGCONN_LOST : -1;
            goto done;
        }
        nfound = (size_t)PQntuples(r);
        found = xmalloc((nfound ? nfound : 1) * sizeof *found);
        for (size_t i = 0; i < nfound; i++) {
            found[i].robot = (int32_t)copybin_get32((const uint8_t *)PQgetvalue(r, (int)i, 0));
            found[i].ts = (int64_t)copybin_get64((const uint8_t *)PQgetvalue(r, (int)i, 1)) +
                          COPYBIN_PG_EPOCH_US;
        }
    }
    txnpart_advance(part, rows, n, found, nfound);
done:
    PQclear(r);
    free(found);
    free(ranges);
    return rc;
}

int stream_applied_update(consumer *c, const xidset_snap *covered, int clear, int64_t *napplied,
                          char *err, size_t errlen)
{
    int rc = 0;
    buf b = {0};
    PGresult *r = NULL;
    if (clear || covered) {
        if (covered)
            xidset_snap_format_xip(covered, &b);
        else
            buf_puts(&b, "{}");
        buf_append(&b, "", 1);
        char xmax[24];
        snprintf(xmax, sizeof xmax, "%llu", covered ? (unsigned long long)covered->xmax : 0ULL);
        const char *p[] = {c->o->consumer, STREAM_SOURCE_LOCAL, clear ? NULL : xmax,
                           (const char *)b.data};
        rc = pgconn_query(c->db,
                          "DELETE FROM stream_applied_xid WHERE consumer = $1 AND source = $2 AND "
                          "($3::bigint IS NULL OR (xid < $3::bigint AND xid <> ALL($4::bigint[])))",
                          4, p, PGRES_COMMAND_OK, &r, err, errlen);
        if (rc == 0) *napplied = clear ? 0 : *napplied - strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        r = NULL;
    }
    if (rc == 0 && !clear && c->b_xids.n) {
        xidset_list add = {0};
        xidset_list_copy(&add, &c->b_xids);
        if (covered) xidset_list_drop_ended(&add, covered);
        buf_reset(&b);
        xidset_list_format(&add, &b);
        buf_append(&b, "", 1);
        const char *p[] = {c->o->consumer, STREAM_SOURCE_LOCAL, (const char *)b.data};
        if (add.n)
            rc = pgconn_query(c->db,
                              "INSERT INTO stream_applied_xid (consumer, source, xid) SELECT $1, "
                              "$2, unnest($3::bigint[]) ON CONFLICT DO NOTHING",
                              3, p, PGRES_COMMAND_OK, &r, err, errlen);
        if (rc == 0 && add.n) *napplied += strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        xidset_list_free(&add);
    }
    buf_free(&b);
    return rc;
}

int stream_pending_due(const consumer *c)
{
    return c->npending && c->pending[0].lsn <= c->ck.end_lsn;
}

int stream_batch_due(const consumer *c, int64_t now_us)
{
    int64_t window = (int64_t)c->o->batch_ms * 1000;
    if (window < STREAM_COMMIT_SHARE * c->commit_us) window = STREAM_COMMIT_SHARE * c->commit_us;
    return c->batch_start_us && now_us - c->batch_start_us >= window;
}

int stream_commit_stages(consumer *c, char *err, size_t errlen)
{
    const stream_opts *o = c->o;
    for (int i = 0; i < o->nstages; i++)
        o->stages[i]->rows(c->stages[i], c->rows, c->nrows);
    int64_t batch_rows = (int64_t)c->nrows + c->fed_rows;
    buf state = {0};
    int rc = pgconn_exec(c->db, "BEGIN", err, errlen);
    for (int i = 0; i < o->nstages && rc == 0; i++) {
        buf_reset(&state);
        char msg[512];
        if (o->stages[i]->commit(c->stages[i], c->db, &state, msg, sizeof msg) != 0) {
            rc = stream_stage_failed(c, o->stages[i]->name, msg, err, errlen);
            break;
        }
        char n[24];
        snprintf(n, sizeof n, "%lld", (long long)batch_rows);
        const char *p[] = {o->consumer, o->stages[i]->name, (const char *)state.data, n};
        int lens[] = {0, 0, (int)state.len, 0};
        int fmts[] = {0, 0, 1, 0};
        PGresult *r =
            PQexecParams(c->db,
                         "INSERT INTO stream_stage_state (consumer, stage, state, rows) "
                         "VALUES ($1, $2, $3, $4) ON CONFLICT (consumer, stage) DO UPDATE "
                         "SET state = EXCLUDED.state, rows = stream_stage_state.rows + "
                         "EXCLUDED.rows, updated_at = now()",
                         4, NULL, p, lens, fmts, 0);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            pgconn_result_error(r, c->db, err, errlen);
            rc = pgconn_result_lost(c->db, r) ? PGCONN_LOST : -1;
        }
        PQclear(r);
    }
    buf_free(&state);
    return rc;
}

void stream_batch_done(consumer *c, int64_t t0)
{
    c->stage_fail_us = 0;
    c->fed_rows = 0;
    c->nrows = 0;
    c->txn_first = 0;
    c->batch_start_us = 0;
    c->commit_us = util_mono_us() - t0;
    c->b_commit_lsn = c->b_end_lsn = 0;
    xidset_list_clear(&c->b_xids);
}

int stream_commit(consumer *c, stream_step step, int64_t poll_hi, char *err, size_t errlen)
{
    int64_t t0 = util_mono_us();
    stream_ckpt next = {0};
    stream_pending snap = {0};
    int promote = -1;
    int64_t batch_rows = (int64_t)c->nrows + c->fed_rows;
    int rc = stream_commit_stages(c, err, errlen);
    if (rc) goto done;

    /* The checkpoint after this batch. */
    stream_ckpt_copy(&next, &c->ck);
    next.rows += batch_rows;
    if (c->b_commit_lsn) next.last_commit = c->b_commit_time;
    switch (step) {
    case STREAM_STEP_CDC:
    case STREAM_STEP_PARTIAL:
        if (c->b_commit_lsn) {
            next.commit_lsn = c->b_commit_lsn;
            next.end_lsn = c->b_end_lsn;
        }
        if (step == STREAM_STEP_PARTIAL) {
            uint64_t xid = stream_widen_xid(c, c->txn_xid);
            int more = c->ck.partial_lsn == c->txn_lsn && c->ck.partial_rows > 0;
            if (!more) txnpart_clear(&next.part);
            next.partial_lsn = c->txn_lsn;
            next.partial_rows = c->txn_rows;
            /* A part recorded by an older pgpulse has no per-robot record: the id stays unknown
             * (0), and a lost slot before the transaction completes is reported. */
            next.partial_xid = more && !c->ck.partial_xid ? 0 : xid;
            if (next.partial_xid && (rc = stream_record_part(c, &next.part, xid, err, errlen)))
                goto done;
        } else {
            next.partial_lsn = 0;
            next.partial_rows = 0;
            next.partial_xid = 0;
            txnpart_clear(&next.part);
        }
        /* The newest snapshot the stream has passed becomes the covered one. */
        for (int i = 0; i < c->npending; i++)
            if (c->pending[i].lsn <= next.end_lsn) promote = i;
        if (promote >= 0) {
            xidset_snap_copy(&next.covered, &c->pending[promote].snap);
            next.has_covered = 1;
        }
        if ((rc = stream_applied_update(c, promote >= 0 ? &next.covered : NULL, 0, &next.napplied,
                                        err, errlen)))
            goto done;
        break;
    case STREAM_STEP_POLL:
        next.poll_xid = poll_hi;
        break;
    case STREAM_STEP_CATCHUP:
        if (c->nrows) {
            next.has_cursor = 1;
            next.cursor_ts = c->rows[c->nrows - 1].ts_us;
            next.cursor_robot = c->rows[c->nrows - 1].robot_id;
        }
        break;
    case STREAM_STEP_CAUGHT_UP:
        /* Every transaction the new slot's snapshot shows as ended is now applied; the slot
         * delivers exactly the others. */
        next.mode = STREAM_MODE_STREAM;
        xidset_snap_copy(&next.covered, &next.catchup);
        next.has_covered = 1;
        if ((rc = stream_applied_update(c, NULL, 1, &next.napplied, err, errlen))) goto done;
        next.commit_lsn = 0;
        next.end_lsn = next.catchup_lsn;
        next.partial_lsn = 0;
        next.partial_rows = 0;
        next.partial_xid = 0;
        txnpart_clear(&next.part);
        next.has_cursor = 0;
        next.catchup_lsn = 0;
        xidset_snap_free(&next.catchup);
        break;
    }
    int want_snapshot = step == STREAM_STEP_CDC || step == STREAM_STEP_PARTIAL;
    rc = stream_ckpt_write(c, &next, batch_rows, want_snapshot, &snap, err, errlen);
    if (rc) goto done;
    rc = pgconn_exec(c->db, "COMMIT", err, errlen);
    if (rc) goto done;
    stream_ckpt_copy(&c->ck, &next);
    if (promote >= 0) {
        for (int i = 0; i <= promote; i++)
            xidset_snap_free(&c->pending[i].snap);
        memmove(c->pending, c->pending + promote + 1,
                (size_t)(c->npending - promote - 1) * sizeof *c->pending);
        c->npending -= promote + 1;
    }
    if (want_snapshot) {
        /* When full, the newest pair replaces the last one: older ones keep coming due. */
        if (c->npending == STREAM_PENDING_MAX) xidset_snap_free(&c->pending[--c->npending].snap);
        c->pending[c->npending++] = snap;
        memset(&snap, 0, sizeof snap);
    }
    stream_batch_done(c, t0);
done:
    stream_ckpt_free(&next);
    xidset_snap_free(&snap.snap);
    if (rc) PQclear(PQexec(c->db, "ROLLBACK"));
    return rc;
}

void stream_print_status(consumer *c)
{
    int64_t now = util_mono_us();
    if (!c->o->status_s || now - c->last_print_us < (int64_t)c->o->status_s * 1000000) return;
    char at[40];
    if (c->citus)
        snprintf(at, sizeof at, "per node in stream_checkpoint");
    else if (c->o->poll)
        snprintf(at, sizeof at, "transaction %lld", (long long)c->ck.poll_xid);
    else
        pgoutput_lsn_format(c->ck.end_lsn, at, sizeof at);
    double secs = c->last_print_us ? (double)(now - c->last_print_us) / 1e6 : 0;
    stream_log(c, "%lld rows (%.0f rows/s), position %s", (long long)c->ck.rows,
               secs > 0 ? (double)(c->ck.rows - c->printed_rows) / secs : 0, at);
    c->last_print_us = now;
    c->printed_rows = c->ck.rows;
}

/* ---------------------------------------------------------------------------------------- */

int stream_consumer_init(consumer *c, const stream_opts *o, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    if (stream_check_name(o->consumer, err, errlen)) return -1;
    if (o->shards < 1 || o->shard < 0 || o->shard >= o->shards)
        return util_err(err, errlen, "shard %d/%d: expected 0 <= shard < shards", o->shard,
                        o->shards);
    c->o = o;
    c->ctx = (stream_ctx){o->consumer, o->shard, o->shards};
    return 0;
}

void stream_consumer_free(consumer *c)
{
    if (c->o) stream_close(c);
    free(c->rows);
    stream_ckpt_free(&c->ck);
    xidset_list_free(&c->b_xids);
    memset(c, 0, sizeof *c);
}

int stream_run(const stream_opts *o, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    consumer c;
    if (stream_consumer_init(&c, o, err, errlen)) return -1;
    int delay_ms = 100;
    int rc = 0;
    while (!*stop) {
        int64_t attempt = util_mono_us();
        c.db = pgconn_connect(o->conninfo, o->consumer, err, errlen);
        rc = c.db ? stream_setup(&c, stop, err, errlen) : PGCONN_LOST;
        if (rc == 0 && !*stop) rc = stream_open_stages(&c, err, errlen);
        if (rc == 0 && !*stop && !c.citus && c.ck.mode == STREAM_MODE_CATCHUP)
            rc = stream_catchup(&c, stop, err, errlen);
        if (rc == 0 && !*stop)
            rc = c.citus  ? stream_citus_loop(&c, stop, err, errlen)
                 : o->poll ? stream_poll_loop(&c, stop, err, errlen)
                           : stream_cdc_loop(&c, stop, err, errlen);
        stream_close(&c);
        if (*stop) rc = 0;            /* a wait it cut short is no failure */
        if (rc != PGCONN_LOST) break; /* stopped, or an error retrying cannot fix */
        if (util_mono_us() - attempt > 10000000) delay_ms = 100; /* it had been working */
        stream_log(&c, "%s; reconnecting in %d ms", err, delay_ms);
        util_sleep_ms(delay_ms);
        delay_ms = delay_ms * 2 > STREAM_MAX_BACKOFF_MS ? STREAM_MAX_BACKOFF_MS : delay_ms * 2;
        rc = 0;
    }
    stream_consumer_free(&c);
    return rc ? -1 : 0;
}
