/* stream_catchup: after a lost slot, reads from `reading` what the consumer missed — the rows of
 * the transactions that the new slot's snapshot S shows as committed and that the checkpoint
 * does not account for (covered snapshot, applied ids, and the applied part of a transaction
 * applied in part) — and hands them to the stages in (ts, robot_id) order, in chunks of
 * --batch-rows, each committed with the stages' outputs and the last row delivered. Then the
 * covered snapshot becomes S and streaming resumes from the new slot's consistent point, which
 * delivers exactly the transactions S does not show as committed.
 *
 * The set read depends on S's (xmin, xmax, xip) and on reading.txid only — reading is
 * append-only — so a catch-up killed between chunks resumes in a snapshot of its own, after its
 * cursor, and reads the same rows. See docs/streaming.md, "A lost slot". */
#include <stdio.h>
#include <string.h>

#include "pgarray.h"
#include "pgconn.h"
#include "stream_int.h"
#include "tstamp.h"
#include "util.h"

/* The read's parameters, as text. */
typedef struct stream_catchup_params {
    char shards[16], shard[16];
    char c_xmin[24], c_xmax[24], s_xmax[24], pxid[24], cur_ts[40], cur_robot[16];
    buf c_xip, s_xip;
    pgarray probots, plast, srobots, sts;
} stream_catchup_params;

static void stream_catchup_params_free(stream_catchup_params *q)
{
    buf_free(&q->c_xip);
    buf_free(&q->s_xip);
    pgarray_free(&q->probots);
    pgarray_free(&q->plast);
    pgarray_free(&q->srobots);
    pgarray_free(&q->sts);
}

/* Opens the cursor over the rows to catch up on c->reader (in its open transaction). */
static int stream_catchup_declare(consumer *c, char *err, size_t errlen)
{
    const stream_ckpt *k = &c->ck;
    stream_catchup_params q;
    memset(&q, 0, sizeof q);
    snprintf(q.shards, sizeof q.shards, "%d", c->o->shards);
    snprintf(q.shard, sizeof q.shard, "%d", c->o->shard);
    snprintf(q.c_xmin, sizeof q.c_xmin, "%llu", (unsigned long long)k->covered.xmin);
    snprintf(q.c_xmax, sizeof q.c_xmax, "%llu", (unsigned long long)k->covered.xmax);
    snprintf(q.s_xmax, sizeof q.s_xmax, "%llu", (unsigned long long)k->catchup.xmax);
    snprintf(q.pxid, sizeof q.pxid, "%llu", (unsigned long long)k->partial_xid);
    tstamp_format(k->cursor_ts, q.cur_ts, sizeof q.cur_ts);
    snprintf(q.cur_robot, sizeof q.cur_robot, "%d", (int)k->cursor_robot);
    xidset_snap_format_xip(&k->covered, &q.c_xip);
    buf_append(&q.c_xip, "", 1);
    xidset_snap_format_xip(&k->catchup, &q.s_xip);
    buf_append(&q.s_xip, "", 1);
    char t[40];
    for (size_t i = 0; i < k->part.nrobots; i++) {
        pgarray_int(&q.probots, k->part.robots[i].robot);
        tstamp_format(k->part.robots[i].last, t, sizeof t);
        pgarray_str(&q.plast, t);
    }
    for (size_t i = 0; i < k->part.nskip; i++) {
        pgarray_int(&q.srobots, k->part.skip[i].robot);
        tstamp_format(k->part.skip[i].ts, t, sizeof t);
        pgarray_str(&q.sts, t);
    }
    int partial = k->partial_lsn != 0;
    const char *p[] = {q.shards,
                       q.shard,
                       q.c_xmin,
                       q.c_xmax,
                       (const char *)q.c_xip.data,
                       c->o->consumer,
                       q.s_xmax,
                       (const char *)q.s_xip.data,
                       partial ? q.pxid : NULL,
                       pgarray_end(&q.probots),
                       pgarray_end(&q.plast),
                       pgarray_end(&q.srobots),
                       pgarray_end(&q.sts),
                       k->has_cursor ? q.cur_ts : NULL,
                       q.cur_robot};
    /* Committed in S: below its xmax and not in its xip. Accounted: below the covered xmin
     * (the BRIN range starts there), or ended in covered, or applied, or in the applied part of
     * the transaction applied in part. */
    int rc = pgconn_query(
        c->reader,
        "DECLARE pgpulse_catchup NO SCROLL CURSOR FOR SELECT robot_id, ts, axis1, axis2, axis3, "
        "axis4, axis5, axis6, axis7, axis8 FROM reading WHERE robot_id % $1::int = $2::int "
        "AND txid >= $3::bigint AND txid < $7::bigint AND txid <> ALL($8::bigint[]) "
        "AND NOT (txid < $4::bigint AND txid <> ALL($5::bigint[])) "
        "AND NOT EXISTS (SELECT 1 FROM stream_applied_xid a WHERE a.consumer = $6 AND a.source = "
        "'local' AND a.xid = reading.txid) "
        "AND NOT (txid IS NOT DISTINCT FROM $9::bigint "
        "AND EXISTS (SELECT 1 FROM unnest($10::int[], $11::timestamptz[]) AS p(r, l) WHERE p.r = "
        "robot_id AND ts <= p.l) "
        "AND NOT EXISTS (SELECT 1 FROM unnest($12::int[], $13::timestamptz[]) AS s(r, t) WHERE "
        "s.r = robot_id AND s.t = ts)) "
        "AND ($14::timestamptz IS NULL OR (ts, robot_id) > ($14::timestamptz, $15::int)) "
        "ORDER BY ts, robot_id",
        (int)UTIL_ARRAY_LEN(p), p, PGRES_COMMAND_OK, NULL, err, errlen);
    stream_catchup_params_free(&q);
    return rc;
}

int stream_catchup(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    int rc;
    int64_t start_us = util_mono_us(), rows = 0;
    if (!c->reader) {
        /* Resuming: the exported snapshot is gone, and not needed (see the top of the file). */
        c->reader = pgconn_connect(c->o->conninfo, c->o->consumer, err, errlen);
        if (!c->reader) return PGCONN_LOST;
        if ((rc = pgconn_exec(c->reader, "BEGIN ISOLATION LEVEL REPEATABLE READ", err, errlen)))
            return rc;
        stream_log(c, "resuming the catch-up from the table");
    }
    if ((rc = stream_catchup_declare(c, err, errlen))) return rc;
    char fetch[64];
    snprintf(fetch, sizeof fetch, "FETCH %d FROM pgpulse_catchup", c->o->batch_rows);
    for (;;) {
        PGresult *r = PQexecParams(c->reader, fetch, 0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pgconn_result_error(r, c->reader, err, errlen);
            rc = pgconn_result_lost(c->reader, r) ? PGCONN_LOST : -1;
            PQclear(r);
            return rc;
        }
        int n = PQntuples(r);
        stream_add_result_rows(c, r);
        PQclear(r);
        rows += n;
        int last = n < c->o->batch_rows;
        rc = stream_commit(c, last ? STREAM_STEP_CAUGHT_UP : STREAM_STEP_CATCHUP, 0, err, errlen);
        if (rc) return rc;
        if (last) break;
        stream_fault("catchup-commit");
        stream_print_status(c);
        if (*stop) return 0; /* every chunk so far is committed; the next run resumes */
    }
    PQclear(PQexec(c->reader, "ROLLBACK"));
    PQfinish(c->reader);
    c->reader = NULL;
    stream_log(c, "caught up: %lld rows read from the table in %.1f s; streaming from the new slot",
               (long long)rows, (double)(util_mono_us() - start_us) / 1e6);
    return 0;
}
