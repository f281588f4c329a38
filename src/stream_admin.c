/* stream_admin: what an operator asks of consumers — their status (position, lag, and how close
 * each slot is to max_slot_wal_keep_size) and dropping one. See stream.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "citus.h"
#include "pgconn.h"
#include "stream.h"
#include "stream_int.h"
#include "util.h"

#define STREAM_DROP_TRIES 30 /* 100 ms each: a consumer that has just stopped lets go of its slot  \
                              */

/* Each node's part of a consumer on Citus (docs/scaling.md): one row per node checkpoint with
 * that node's position, the WAL its slot there still holds, the slot's wal_status ('missing'
 * when the node has no such slot, 'unreachable' when the node did not answer, 'not in the
 * cluster' when pg_dist_node no longer lists it) and its safe_wal_size. Every node is asked in
 * one statement from the coordinator (run_command_on_all_nodes, as the caller's login); a node
 * that is down is a warning there, not a failure. */
#define STREAM_STATUS_NODES                                                                        \
    "per AS (SELECT d.nodename || ':' || d.nodeport AS source, r.success, r.result FROM "         \
    "run_command_on_all_nodes($c$SELECT coalesce(json_agg(json_build_array(slot_name, "           \
    "greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint, "           \
    "wal_status, safe_wal_size)), '[]') FROM pg_replication_slots WHERE slot_name LIKE "          \
    "'pgpulse%'$c$, true, true) r JOIN pg_dist_node d ON d.nodeid = r.nodeid), "                  \
    "sl AS (SELECT p.source, e->>0 AS slot_name, (e->>1)::bigint AS lag, e->>2 AS wal_status, "  \
    "(e->>3)::bigint AS safe FROM per p, json_array_elements(CASE WHEN p.success THEN "           \
    "p.result::json ELSE '[]'::json END) e), "                                                   \
    "n AS (SELECT k.consumer, k.source, k.end_lsn, sl.lag, CASE WHEN sl.slot_name IS NOT NULL "   \
    "THEN sl.wal_status WHEN p.source IS NULL THEN 'not in the cluster' WHEN p.success THEN "     \
    "'missing' ELSE 'unreachable' END AS wal_status, sl.safe FROM stream_checkpoint k JOIN "      \
    "stream_consumer c ON c.consumer = k.consumer LEFT JOIN per p ON p.source = k.source LEFT "   \
    "JOIN sl ON sl.source = k.source AND sl.slot_name = c.slot_name WHERE k.source <> 'local'), "

/* The same shape with no rows: plain PostgreSQL has no node checkpoints. */
#define STREAM_STATUS_NO_NODES                                                                     \
    "n AS (SELECT NULL::text AS consumer, NULL::text AS source, NULL::pg_lsn AS end_lsn, "        \
    "NULL::bigint AS lag, NULL::text AS wal_status, NULL::bigint AS safe WHERE false), "

/* Per consumer on Citus: the nodes' lag summed (unknown if a node's is), the worst of their slots (a slot that is gone,
 * or a node that cannot say, is worse than one past its bound), the least WAL left, and the
 * nodes themselves as JSON. */
#define STREAM_STATUS_NODES_BY_CONSUMER                                                            \
    "g AS (SELECT consumer, CASE WHEN count(lag) = count(*) THEN sum(lag)::bigint END AS lag, (array_agg(wal_status ORDER BY "             \
    "array_position(ARRAY['reserved', 'extended', 'unreserved', 'unreachable', 'not in the "     \
    "cluster', 'missing', 'lost'], wal_status) DESC NULLS FIRST))[1] AS wal_status, min(safe) "   \
    "AS safe, json_agg(json_build_object('node', source, 'lsn', coalesce(end_lsn, '0/0')::text, " \
    "'lag_bytes', lag, 'slot_status', wal_status, 'slot_safe_wal_bytes', safe) ORDER BY source) " \
    "AS nodes FROM n GROUP BY consumer) "

PGresult *stream_status(PGconn *conn, char *err, size_t errlen)
{
    int citus = 0;
    if (citus_reading_distributed(conn, &citus, err, errlen) != 0) return NULL;
    char *sql = xasprintf(
        "WITH %s" STREAM_STATUS_NODES_BY_CONSUMER
        "SELECT c.consumer, c.source_kind, c.shard, c.shards, coalesce(k.rows, 0), "
        "CASE WHEN g.consumer IS NOT NULL THEN NULL WHEN c.source_kind = 'cdc' THEN "
        "coalesce(k.end_lsn, '0/0')::text ELSE k.poll_xid::text END, "
        "CASE WHEN g.consumer IS NOT NULL THEN g.lag WHEN c.source_kind = 'cdc' AND "
        "s.confirmed_flush_lsn IS NOT NULL THEN "
        "greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint END, "
        "CASE WHEN CASE WHEN g.consumer IS NOT NULL THEN coalesce(g.lag, 1) <= 0 "
        "WHEN c.source_kind = 'cdc' THEN s.confirmed_flush_lsn IS NULL OR "
        "pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn) <= 0 "
        "ELSE k.poll_xid >= txid_snapshot_xmin(txid_current_snapshot()) END "
        "THEN 0 ELSE round(extract(epoch FROM now() - coalesce(k.last_commit, "
        "k.updated_at))::numeric, 3) END, round(extract(epoch FROM now() - k.updated_at)::numeric, 3), "
        "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = 'pgpulse-' || "
        "c.consumer), c.slot_name, CASE WHEN g.consumer IS NOT NULL THEN g.wal_status WHEN "
        "c.source_kind = 'cdc' THEN coalesce(s.wal_status, 'missing') END, "
        "array_to_string(c.stages, ','), CASE WHEN c.source_kind = 'cdc' THEN k.mode END, "
        "CASE WHEN g.consumer IS NOT NULL THEN g.safe ELSE s.safe_wal_size END, "
        "(SELECT setting::bigint * 1024 * 1024 FROM pg_settings WHERE name = "
        "'max_slot_wal_keep_size' AND setting <> '-1'), coalesce(k.recoveries, 0), "
        "(SELECT count(*) FROM stream_applied_xid a WHERE a.consumer = c.consumer), g.nodes "
        "FROM stream_consumer c LEFT JOIN stream_checkpoint k ON k.consumer = c.consumer AND "
        "k.source = 'local' LEFT JOIN pg_replication_slots s ON s.slot_name = c.slot_name "
        "LEFT JOIN g ON g.consumer = c.consumer ORDER BY c.consumer",
        citus ? STREAM_STATUS_NODES : STREAM_STATUS_NO_NODES);
    PGresult *r = PQexec(conn, sql);
    free(sql);
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
