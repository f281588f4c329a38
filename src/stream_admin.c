/* stream_admin: what an operator asks of consumers — their status (position, lag, and how close
 * each slot is to max_slot_wal_keep_size) and dropping one. See stream.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgconn.h"
#include "stream.h"
#include "stream_int.h"
#include "util.h"

#define STREAM_DROP_TRIES 30 /* 100 ms each: a consumer that has just stopped lets go of its slot  \
                              */

PGresult *stream_status(PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = PQexec(
        conn,
        "SELECT c.consumer, c.source_kind, c.shard, c.shards, coalesce(k.rows, 0), "
        "CASE WHEN c.source_kind = 'cdc' THEN coalesce(k.end_lsn, '0/0')::text ELSE "
        "k.poll_xid::text END, "
        "CASE WHEN c.source_kind = 'cdc' AND s.confirmed_flush_lsn IS NOT NULL THEN "
        "greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint END, "
        "CASE WHEN c.source_kind = 'cdc' AND (s.confirmed_flush_lsn IS NULL OR "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn) <= 0) THEN 0 "
        "WHEN c.source_kind = 'poll' AND k.poll_xid >= txid_snapshot_xmin(txid_current_snapshot()) "
        "THEN 0 ELSE round(extract(epoch FROM now() - coalesce(k.last_commit, "
        "k.updated_at))::numeric, 3) "
        "END, round(extract(epoch FROM now() - k.updated_at)::numeric, 3), "
        "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = 'pgpulse-' || "
        "c.consumer), c.slot_name, CASE WHEN c.source_kind = 'cdc' THEN coalesce(s.wal_status, "
        "'missing') END, array_to_string(c.stages, ','), "
        "CASE WHEN c.source_kind = 'cdc' THEN k.mode END, s.safe_wal_size, "
        "(SELECT setting::bigint * 1024 * 1024 FROM pg_settings WHERE name = "
        "'max_slot_wal_keep_size' AND setting <> '-1'), coalesce(k.recoveries, 0), "
        "(SELECT count(*) FROM stream_applied_xid a WHERE a.consumer = c.consumer) "
        "FROM stream_consumer c LEFT JOIN stream_checkpoint k ON k.consumer = c.consumer AND "
        "k.source = 'local' LEFT JOIN pg_replication_slots s ON s.slot_name = c.slot_name "
        "ORDER BY c.consumer");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        pgconn_result_error(r, conn, err, errlen);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* True for the publications consumers share (reading_publication): never dropped with one. */
static int stream_shared_publication(const char *pub)
{
    static const char prefix[] = "pgpulse_reading";
    size_t n = sizeof prefix - 1;
    if (strncmp(pub, prefix, n) != 0) return 0;
    if (!pub[n]) return 1;
    const char *s = pub + n;
    if (*s++ != '_') return 0;
    size_t d = strspn(s, "0123456789");
    if (!d || strncmp(s + d, "of", 2) != 0) return 0;
    s += d + 2;
    d = strspn(s, "0123456789");
    return d && !s[d];
}

int stream_drop(PGconn *conn, const char *consumer_name, char *err, size_t errlen)
{
    const char *p[] = {consumer_name};
    PGresult *r = NULL;
    int rc;
    for (int tries = 0;; tries++) {
        rc = pgconn_query(conn,
                          "SELECT c.slot_name, c.publication, s.active_pid FROM stream_consumer c "
                          "LEFT JOIN pg_replication_slots s ON s.slot_name = c.slot_name WHERE "
                          "c.consumer = $1",
                          1, p, PGRES_TUPLES_OK, &r, err, errlen);
        if (rc) return -1;
        if (tries == STREAM_DROP_TRIES || PQntuples(r) == 0 || PQgetisnull(r, 0, 2)) break;
        PQclear(r);
        util_sleep_ms(100);
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return util_err(err, errlen, "no consumer named '%s' (pgpulse status lists them)",
                        consumer_name);
    }
    if (!PQgetisnull(r, 0, 2)) {
        util_err(err, errlen,
                 "consumer '%s' is running (its slot is in use by process %s): stop "
                 "it first",
                 consumer_name, PQgetvalue(r, 0, 2));
        PQclear(r);
        return -1;
    }
    char *slot = PQgetisnull(r, 0, 0) ? NULL : xstrdup(PQgetvalue(r, 0, 0));
    char *pub = PQgetisnull(r, 0, 1) ? NULL : xstrdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    /* On Citus, its slot on every node (the coordinator's goes below). */
    rc = slot ? stream_citus_drop_slots(conn, consumer_name, err, errlen) : 0;
    if (!rc && slot) {
        const char *ps[] = {slot};
        rc = pgconn_query(conn,
                          "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                          "WHERE slot_name = $1",
                          1, ps, PGRES_TUPLES_OK, NULL, err, errlen);
    }
    /* A publication of its own (an older pgpulse made one per consumer) goes with it. */
    if (!rc && pub && !stream_shared_publication(pub)) {
        const char *pp[] = {pub};
        rc = pgconn_query(conn, "SELECT format('DROP PUBLICATION IF EXISTS %I', $1::text)", 1, pp,
                          PGRES_TUPLES_OK, &r, err, errlen);
        if (!rc) {
            rc = pgconn_exec(conn, PQgetvalue(r, 0, 0), err, errlen);
            PQclear(r);
        }
    }
    if (!rc)
        rc = pgconn_query(conn, "DELETE FROM stream_consumer WHERE consumer = $1", 1, p,
                          PGRES_COMMAND_OK, NULL, err, errlen);
    free(slot);
    free(pub);
    return rc ? -1 : 0;
}
