/* stream_citus: a consumer on Citus — every node's change stream read exactly once, and each
 * robot handed to the stages in time order (docs/scaling.md, "Change capture on Citus").
 *
 * Sources. Every active primary node of pg_dist_node (the coordinator included: it holds shards
 * where it is allowed to) is a source: a slot of the consumer's name on it, a replication
 * connection, its own relation map (OIDs differ per node) and a row of stream_checkpoint named
 * after it ('host:port'). The 'local' row keeps the consumer's totals (rows, last commit) for
 * `pgpulse status`. Streams are independent: the loop reads whichever node has data, and every
 * commit writes the stages' outputs and every node's position in one transaction — a node in the
 * middle of a transaction records it as applied in part (its commit LSN and how many of its
 * rows), exactly as a single stream's huge transaction is, so a consumer killed at any point
 * resumes each node where the outputs stand.
 *
 * Order. A robot's rows live on one shard, so they come from one node in commit order — except
 * around a shard move (citus_move_shard_placement, the rebalancer), after which its new rows
 * come from the target node while the source node's stream may still hold older ones unread.
 * The hand-over: the node that last delivered each robot is remembered (stream_robot_source,
 * written with the positions); a row of robot r from node X when r's last node is O != X means
 * r's writes now go to X, so every row of r that O will ever send committed before this moment:
 * O's WAL flush position L is read now, and X's stream is held at that row (nothing more of X is
 * read or applied) until O's stream has passed L (a commit or keepalive at or past L; O is asked
 * for its position every STREAM_CITUS_ASK_MS while X waits). Then r belongs to X. Since X is
 * held rather than buffered, its checkpoint never passes a row the stages have not seen. Two
 * moves in opposite directions between the same two nodes at once could hold each other; the
 * rebalancer runs one move per node at a time (citus.max_background_task_executors_per_node = 1),
 * and a hold longer than STREAM_CITUS_HOLD_SAY_US is reported.
 *
 * Nodes. A node that joins the cluster gets the consumer's slot before any shard is placed on
 * it: the loop looks at pg_dist_node every STREAM_CITUS_NODES_MS and sets up again when it
 * changed (a new node without shards gets its slot; one that already holds shards is refused,
 * since what was written there before the slot existed cannot be read). A node restarted or cut
 * off is a lost connection: the consumer reconnects to every node and resumes from the
 * checkpoints, as after a server restart on one node. Not on Citus: polling (transaction ids are
 * per node), a stop position, and recovery of a lost slot from the table (a lost slot is
 * reported; `pgpulse slots drop` starts the consumer afresh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "citus.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "stream_citus_int.h"
#include "util.h"

/* ---------------------------------------------------------------------------------------- */
/* Nodes and connections */

static PGconn *stream_node_connect_like(PGconn *like, const char *appname, const stream_node *n,
                                        int replication)
{
    /* The consumer's own connection settings (login, password file, TLS) with the node's host
     * and port: the same login on every node. */
    PQconninfoOption *opts = PQconninfo(like);
    const char *kw[64], *val[64];
    int k = 0;
    char port[16];
    snprintf(port, sizeof port, "%d", n->port);
    for (PQconninfoOption *o = opts; o && o->keyword && k < 56; o++) {
        if (!o->val || !*o->val) continue;
        if (!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr") ||
            !strcmp(o->keyword, "port") || !strcmp(o->keyword, "replication") ||
            !strcmp(o->keyword, "application_name"))
            continue;
        kw[k] = o->keyword;
        val[k++] = o->val;
    }
    kw[k] = "host", val[k++] = n->host;
    kw[k] = "port", val[k++] = port;
    kw[k] = "application_name", val[k++] = appname;
    if (replication) kw[k] = "replication", val[k++] = "database";
    kw[k] = NULL, val[k] = NULL;
    PGconn *conn = PQconnectdbParams(kw, val, 0);
    PQconninfoFree(opts);
    return conn;
}

PGconn *stream_node_connect(const consumer *c, const stream_node *n, int replication)
{
    return stream_node_connect_like(c->db, c->o->consumer, n, replication);
}

int stream_node_lost(const stream_node *n, PGconn *conn, const char *what, char *err, size_t errlen)
{
    util_err(err, errlen, "node %s: %s: %s", n->source, what, PQerrorMessage(conn));
    return PGCONN_LOST;
}

/* The active primary nodes, ordered by node id, as "host:port,..." into sig and into cs. */
int stream_citus_list(consumer *c, stream_citus *cs, char *sig, size_t siglen, char *err,
                      size_t errlen)
{
    PGresult *r = NULL;
    int rc = pgconn_query(c->db,
                          "SELECT n.nodename, n.nodeport, EXISTS (SELECT 1 FROM pg_dist_placement "
                          "p WHERE p.groupid = n.groupid) FROM pg_dist_node n WHERE n.isactive AND "
                          "n.noderole = 'primary' ORDER BY n.nodeid",
                          0, NULL, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    int n = PQntuples(r);
    if (n > STREAM_CITUS_MAX_NODES) {
        PQclear(r);
        return util_err(err, errlen, "the cluster has %d nodes; a consumer reads at most %d", n,
                        STREAM_CITUS_MAX_NODES);
    }
    size_t o = 0;
    sig[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *host = PQgetvalue(r, i, 0);
        int port = atoi(PQgetvalue(r, i, 1));
        if (strlen(host) >= sizeof cs->node[0].host) {
            PQclear(r);
            return util_err(err, errlen, "node name '%s' is too long", host);
        }
        if (cs) {
            stream_node *nd = &cs->node[i];
            memset(nd, 0, sizeof *nd);
            snprintf(nd->host, sizeof nd->host, "%s", host);
            nd->port = port;
            snprintf(nd->source, sizeof nd->source, "%s:%d", host, port);
            nd->has_shards = PQgetvalue(r, i, 2)[0] == 't';
            nd->wait_node = -1;
        }
        if (o < siglen)
            o += (size_t)snprintf(sig + o, siglen - o, "%s%s:%d", i ? "," : "", host, port);
    }
    if (cs) cs->nnodes = n;
    PQclear(r);
    return 0;
}

int stream_citus_detect(consumer *c, int *citus, char *err, size_t errlen)
{
    int rc = citus_reading_distributed(c->db, citus, err, errlen);
    if (rc || !*citus) return rc;
    if (c->o->poll)
        return util_err(err, errlen,
                        "consumer '%s': reading is distributed (Citus), and polling reads by "
                        "transaction id, which is per node there: read by change capture",
                        c->o->consumer);
    if (c->o->stop_lsn)
        return util_err(err, errlen,
                        "consumer '%s': a stop position is one node's WAL position; "
                        "on Citus there is one per node",
                        c->o->consumer);
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Robots: the node that last delivered each */

stream_robot_src *stream_robot_find(stream_citus *cs, int32_t robot, size_t *at)
{
    size_t lo = 0, hi = cs->nrobots;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cs->robots[mid].robot < robot)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at) *at = lo;
    return lo < cs->nrobots && cs->robots[lo].robot == robot ? &cs->robots[lo] : NULL;
}

void stream_robot_set(stream_citus *cs, int32_t robot, int node, int dirty)
{
    size_t at;
    stream_robot_src *s = stream_robot_find(cs, robot, &at);
    if (!s) {
        if (cs->nrobots == cs->robots_cap) {
            cs->robots_cap = cs->robots_cap ? cs->robots_cap * 2 : 256;
            cs->robots = xrealloc(cs->robots, cs->robots_cap * sizeof *cs->robots);
        }
        memmove(cs->robots + at + 1, cs->robots + at, (cs->nrobots - at) * sizeof *cs->robots);
        cs->nrobots++;
        s = &cs->robots[at];
        s->robot = robot;
        s->dirty = 0;
    }
    s->node = (int16_t)node;
    if (dirty && !s->dirty) {
        s->dirty = 1;
        cs->ndirty++;
    }
}

static int stream_node_index(const stream_citus *cs, const char *source)
{
    for (int i = 0; i < cs->nnodes; i++)
        if (!strcmp(cs->node[i].source, source)) return i;
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Setup */

static int stream_node_slot_create(consumer *c, stream_node *n, volatile sig_atomic_t *stop,
                                   char *err, size_t errlen)
{
    PGconn *repl = stream_node_connect(c, n, 1);
    if (PQstatus(repl) != CONNECTION_OK) {
        int rc = stream_node_lost(n, repl, "connecting", err, errlen);
        PQfinish(repl);
        return rc;
    }
    /* A leftover of a setup that was cut short goes first. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "DROP_REPLICATION_SLOT \"%s\"", c->slot);
    PQclear(PQexec(repl, cmd)); /* absent: nothing to drop */
    stream_log(c, "creating replication slot %s on node %s", c->slot, n->source);
    snprintf(cmd, sizeof cmd, "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput NOEXPORT_SNAPSHOT",
             c->slot);
    PGresult *r = stream_exec_interruptible(repl, cmd, stop);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < 2) {
        pgconn_result_error(r, repl, err, errlen);
        rc = pgconn_result_lost(repl, r) ? PGCONN_LOST : -1;
    } else if (pgoutput_lsn_parse(PQgetvalue(r, 0, 1), &n->ck_end) != 0) {
        rc = util_err(err, errlen, "slot %s on %s: bad consistent point", c->slot, n->source);
    }
    PQclear(r);
    PQfinish(repl);
    n->ck_commit = n->ck_partial = 0;
    n->ck_partial_rows = 0;
    return rc;
}

/* Writes a new node's checkpoint row (mode stream, at its slot's consistent point). */
static int stream_node_register(consumer *c, const stream_node *n, char *err, size_t errlen)
{
    char end[32];
    pgoutput_lsn_format(n->ck_end, end, sizeof end);
    const char *p[] = {c->o->consumer, n->source, end};
    return pgconn_query(c->db,
                        "INSERT INTO stream_checkpoint (consumer, source, mode, end_lsn) VALUES "
                        "($1, $2, 'stream', $3) ON CONFLICT (consumer, source) DO UPDATE SET "
                        "mode = 'stream', commit_lsn = NULL, end_lsn = $3, partial_lsn = NULL, "
                        "partial_rows = 0, updated_at = now()",
                        3, p, PGRES_COMMAND_OK, NULL, err, errlen);
}

/* Reads the nodes' checkpoint rows; returns in *missing how many nodes have none. */
static int stream_citus_read_ckpts(consumer *c, stream_citus *cs, int *missing, char *err,
                                   size_t errlen)
{
    const char *p[] = {c->o->consumer, STREAM_SOURCE_LOCAL};
    PGresult *r = NULL;
    int rc =
        pgconn_query(c->db,
                     "SELECT source, commit_lsn::text, end_lsn::text, partial_lsn::text, "
                     "partial_rows FROM stream_checkpoint WHERE consumer = $1 AND source <> $2",
                     2, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    int seen[STREAM_CITUS_MAX_NODES] = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        int k = stream_node_index(cs, PQgetvalue(r, i, 0));
        if (k < 0) {
            stream_log(c, "note: node %s, which this consumer read, is no longer in the cluster",
                       PQgetvalue(r, i, 0));
            continue;
        }
        stream_node *n = &cs->node[k];
        uint64_t lsn = 0;
        n->ck_commit =
            !PQgetisnull(r, i, 1) && !pgoutput_lsn_parse(PQgetvalue(r, i, 1), &lsn) ? lsn : 0;
        lsn = 0;
        n->ck_end =
            !PQgetisnull(r, i, 2) && !pgoutput_lsn_parse(PQgetvalue(r, i, 2), &lsn) ? lsn : 0;
        lsn = 0;
        n->ck_partial =
            !PQgetisnull(r, i, 3) && !pgoutput_lsn_parse(PQgetvalue(r, i, 3), &lsn) ? lsn : 0;
        n->ck_partial_rows = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        seen[k] = 1;
    }
    PQclear(r);
    *missing = 0;
    for (int k = 0; k < cs->nnodes; k++)
        if (!seen[k]) (*missing)++;
    for (int k = 0; k < cs->nnodes; k++)
        cs->node[k].has_row = seen[k];
    return 0;
}

static int stream_citus_read_robots(consumer *c, stream_citus *cs, char *err, size_t errlen)
{
    const char *p[] = {c->o->consumer};
    PGresult *r = NULL;
    int rc =
        pgconn_query(c->db, "SELECT robot_id, source FROM stream_robot_source WHERE consumer = $1",
                     1, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    cs->nrobots = 0;
    cs->ndirty = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int k = stream_node_index(cs, PQgetvalue(r, i, 1));
        /* A robot last seen on a node that left: its rows now come from another. */
        if (k >= 0) stream_robot_set(cs, (int32_t)atoi(PQgetvalue(r, i, 0)), k, 0);
    }
    PQclear(r);
    return 0;
}

int stream_citus_setup(consumer *c, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    stream_citus *cs = c->citus;
    int rc = stream_citus_list(c, cs, cs->nodes_sig, sizeof cs->nodes_sig, err, errlen);
    if (rc) return rc;
    if (cs->nnodes == 0) return util_err(err, errlen, "pg_dist_node lists no active node");
    int missing = 0;
    if ((rc = stream_citus_read_ckpts(c, cs, &missing, err, errlen))) return rc;
    int fresh = c->ck.mode == STREAM_MODE_NEW;
    if (missing && !fresh) {
        /* A node that joined: it may get a slot only while it holds nothing. */
        for (int k = 0; k < cs->nnodes; k++) {
            stream_node *n = &cs->node[k];
            if (!n->has_row && n->has_shards)
                return util_err(err, errlen,
                                "node %s holds shards but consumer '%s' has no slot on it: rows "
                                "written there before a slot existed cannot be read. Add nodes "
                                "before placing shards on them, with every consumer running or "
                                "prepared (docs/scaling.md); `pgpulse slots drop %s` starts the "
                                "consumer afresh",
                                n->source, c->o->consumer, c->o->consumer);
        }
    }
    if (missing) {
        for (int k = 0; k < cs->nnodes && rc == 0; k++) {
            stream_node *n = &cs->node[k];
            if (n->has_row && !fresh) continue;
            rc = stream_node_slot_create(c, n, stop, err, errlen);
            if (rc == 0) rc = stream_node_register(c, n, err, errlen);
        }
        if (rc) return rc;
    }
    if (fresh) {
        /* Every node has its slot and row: the consumer has begun. */
        const char *p[] = {c->o->consumer, STREAM_SOURCE_LOCAL};
        rc = pgconn_query(c->db,
                          "UPDATE stream_checkpoint SET mode = 'stream', updated_at = now() WHERE "
                          "consumer = $1 AND source = $2",
                          2, p, PGRES_COMMAND_OK, NULL, err, errlen);
        if (rc) return rc;
        c->ck.mode = STREAM_MODE_STREAM;
    }
    for (int k = 0; k < cs->nnodes; k++) {
        stream_node *n = &cs->node[k];
        n->commit_lsn = n->ck_commit;
        n->end_lsn = n->ck_end;
    }
    cs->last_nodes_us = util_mono_us();
    return stream_citus_read_robots(c, cs, err, errlen);
}

/* ---------------------------------------------------------------------------------------- */

void stream_citus_close(consumer *c)
{
    stream_citus *cs = c->citus;
    if (!cs) return;
    for (int k = 0; k < cs->nnodes; k++) {
        stream_node *n = &cs->node[k];
        if (n->repl) PQfinish(n->repl);
        if (n->sql) PQfinish(n->sql);
        free(n->held);
    }
    free(cs->robots);
    free(cs);
    c->citus = NULL;
}

void stream_citus_open(consumer *c)
{
    if (!c->citus) c->citus = xcalloc(1, sizeof *c->citus);
}

int stream_citus_drop_slots(PGconn *conn, const char *consumer_name, char *err, size_t errlen)
{
    /* Every node this consumer has a checkpoint row of: its slot there goes. */
    const char *p[] = {consumer_name, STREAM_SOURCE_LOCAL};
    PGresult *r = NULL;
    int rc = pgconn_query(conn,
                          "SELECT k.source, c.slot_name FROM stream_checkpoint k JOIN "
                          "stream_consumer c USING (consumer) WHERE k.consumer = $1 AND k.source "
                          "<> $2 AND c.slot_name IS NOT NULL",
                          2, p, PGRES_TUPLES_OK, &r, err, errlen);
    if (rc) return rc;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        stream_node n = {0};
        const char *src = PQgetvalue(r, i, 0);
        const char *colon = strrchr(src, ':');
        if (!colon || (size_t)(colon - src) >= sizeof n.host) continue;
        memcpy(n.host, src, (size_t)(colon - src));
        n.port = atoi(colon + 1);
        PGconn *sql = stream_node_connect_like(conn, consumer_name, &n, 0);
        if (PQstatus(sql) != CONNECTION_OK) {
            rc = util_err(err, errlen, "node %s: %s", src, PQerrorMessage(sql));
        } else {
            const char *ps[] = {PQgetvalue(r, i, 1)};
            PGresult *d = PQexecParams(sql,
                                       "SELECT pg_drop_replication_slot(slot_name) FROM "
                                       "pg_replication_slots WHERE slot_name = $1",
                                       1, NULL, ps, NULL, NULL, 0);
            if (PQresultStatus(d) != PGRES_TUPLES_OK)
                rc = util_err(err, errlen, "node %s: %s", src, PQerrorMessage(sql));
            PQclear(d);
        }
        PQfinish(sql);
    }
    PQclear(r);
    return rc;
}
