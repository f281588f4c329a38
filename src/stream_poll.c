/* stream_poll: reading by polling, for servers where the role has no replication rights. A poll
 * runs in one REPEATABLE READ snapshot and reads the rows of every transaction below its xmin
 * that the last poll did not (reading.txid; docs/streaming.md). */
#include <stdio.h>
#include <stdlib.h>

#include "pgconn.h"
#include "stream_int.h"
#include "util.h"

static int stream_poll_once(consumer *c, char *err, size_t errlen)
{
    int rc = pgconn_exec(c->db, "BEGIN ISOLATION LEVEL REPEATABLE READ", err, errlen);
    if (rc) return rc;
    PGresult *r = NULL;
    rc = pgconn_query(c->db, "SELECT txid_snapshot_xmin(txid_current_snapshot())", 0, NULL,
                      PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) goto fail;
    int64_t hi = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (hi <= c->ck.poll_xid) {
        PQclear(PQexec(c->db, "ROLLBACK"));
        return 0;
    }
    /* Every transaction below hi has ended: its rows, if it committed, are all visible in this
     * snapshot, and none can appear later. Rows of transactions from hi on wait for a later
     * poll, whatever order they commit in. */
    char lo[24], hs[24], shard[16], shards[16];
    snprintf(lo, sizeof lo, "%lld", (long long)c->ck.poll_xid);
    snprintf(hs, sizeof hs, "%lld", (long long)hi);
    snprintf(shard, sizeof shard, "%d", c->o->shard);
    snprintf(shards, sizeof shards, "%d", c->o->shards);
    const char *p[] = {lo, hs, shards, shard};
    rc =
        pgconn_query(c->db,
                     "DECLARE pgpulse_poll NO SCROLL CURSOR FOR SELECT robot_id, ts, axis1, axis2, "
                     "axis3, axis4, axis5, axis6, axis7, axis8 FROM reading WHERE txid >= $1 AND "
                     "txid < $2 AND robot_id % $3::int = $4::int",
                     4, p, PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc) goto fail;
    for (;;) {
        char fetch[64];
        snprintf(fetch, sizeof fetch, "FETCH %d FROM pgpulse_poll", c->o->batch_rows);
        r = PQexecParams(c->db, fetch, 0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pgconn_result_error(r, c->db, err, errlen);
            rc = pgconn_result_lost(c->db, r) ? PGCONN_LOST : -1;
            PQclear(r);
            goto fail;
        }
        int n = PQntuples(r);
        stream_add_result_rows(c, r);
        PQclear(r);
        /* Hand each chunk to the stages as it comes (memory stays bounded however far behind
         * the poll is); they are all committed together below. */
        if (n > 0) {
            for (int s = 0; s < c->o->nstages; s++)
                c->o->stages[s]->rows(c->stages[s], c->rows, c->nrows);
            c->fed_rows += (int64_t)c->nrows;
            c->nrows = 0;
        }
        if (n < c->o->batch_rows) break;
    }
    /* The snapshot has served its purpose: end the read, then commit the stages' outputs with
     * the new position in a transaction of its own (READ COMMITTED, like every commit). */
    if ((rc = pgconn_exec(c->db, "COMMIT", err, errlen))) goto fail;
    return stream_commit(c, STREAM_STEP_POLL, hi, err, errlen);
fail:
    PQclear(PQexec(c->db, "ROLLBACK"));
    return rc;
}

int stream_poll_loop(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    stream_log(c, "polling reading every %d ms", c->o->poll_ms);
    while (!*stop) {
        int rc = stream_poll_once(c, err, errlen);
        if (rc) return rc;
        stream_print_status(c);
        util_sleep_ms(c->o->poll_ms);
    }
    return 0;
}
